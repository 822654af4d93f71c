//! `cargo bench -p emu-jit`: guest MIPS of the interpreter and the JIT on the same guest
//! program, in one run, and their ratio. Not a timed test: it reports, it does not assert.
//!
//! The guest is an integer mix in 32-bit flat protected mode: a loop of ALU operations on
//! registers, loads and stores to an array, a call and return, and a conditional branch.

use emu_core::{ClockMode, System};
use emu_cpu_x86::state::{attr, cr0, Segment};
use emu_cpu_x86::{Cpu, Stop};
use emu_jit::{Jit, Options};
use iced_x86::code_asm::*;
use std::time::Instant;

const CODE: u32 = 0x1000;

fn program(iterations: u32) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).unwrap();
    let mut top = a.create_label();
    let mut func = a.create_label();
    let mut skip = a.create_label();
    (|| -> Result<(), IcedError> {
        a.mov(ecx, iterations)?;
        a.mov(esi, 0x10000u32)?;
        a.xor(eax, eax)?;
        a.mov(ebx, 0x9e37_79b9u32)?;
        a.xor(edx, edx)?;
        a.set_label(&mut top)?;
        a.mov(edi, ecx)?;
        a.and(edi, 0x3ffu32)?;
        a.add(eax, dword_ptr(esi + edi * 4))?;
        a.xor(eax, ebx)?;
        a.shl(ebx, 1)?;
        a.adc(ebx, 0u32)?;
        a.lea(edx, dword_ptr(edx + eax * 2 + 1))?;
        a.mov(dword_ptr(esi + edi * 4), edx)?;
        a.sub(edx, ecx)?;
        a.cmp(edx, eax)?;
        a.jae(skip)?;
        a.inc(edx)?;
        a.set_label(&mut skip)?;
        a.call(func)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()?;
        a.set_label(&mut func)?;
        a.push(ebx)?;
        a.mov(ebx, eax)?;
        a.shr(ebx, 3)?;
        a.or(eax, ebx)?;
        a.pop(ebx)?;
        a.ret()?;
        Ok(())
    })()
    .unwrap();
    a.assemble(CODE as u64).unwrap()
}

fn machine(code: &[u8]) -> Cpu {
    let mut c = Cpu::new(System::new(16 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap());
    c.s.cr0 |= cr0::PE;
    let data = Segment {
        base: 0,
        limit: u32::MAX,
        selector: 0x10,
        attr: attr::P | attr::S | attr::RW | attr::ACCESSED | attr::DB | attr::G,
    };
    c.s.segs = [data; 6];
    c.s.segs[1] = Segment { selector: 0x08, attr: data.attr | attr::CODE, ..data };
    c.s.eip = CODE;
    c.s.regs[4] = 0x80000;
    c.sys.ram_mut().as_mut_slice()[CODE as usize..CODE as usize + code.len()].copy_from_slice(code);
    c
}

/// Runs to the final HLT; returns (instructions, seconds, final state).
fn measure(code: &[u8], mut run: impl FnMut(&mut Cpu) -> Stop) -> (u64, f64, Cpu) {
    let mut c = machine(code);
    let t = Instant::now();
    loop {
        match run(&mut c) {
            Stop::Budget => continue,
            Stop::Halted => break,
            other => panic!("the benchmark stopped with {other:?}"),
        }
    }
    (c.s.icount, t.elapsed().as_secs_f64(), c)
}

fn main() {
    let iterations = std::env::var("EMU_BENCH_ITERATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(2_000_000);
    let code = program(iterations);
    let (n_i, t_i, ci) = measure(&code, |c| c.run(1_000_000));
    let mut jit = Jit::new(Options::default()).unwrap();
    let (n_j, t_j, cj) = measure(&code, |c| jit.run(c, 1_000_000));
    assert_eq!(n_i, n_j, "both tiers retire the same instructions");
    assert_eq!(ci.s, cj.s, "both tiers end in the same state");
    let (mi, mj) = (n_i as f64 / t_i / 1e6, n_j as f64 / t_j / 1e6);
    println!("integer mix: {n_i} guest instructions");
    println!("  interpreter  {t_i:8.3} s  {mi:8.1} MIPS");
    println!(
        "  jit          {t_j:8.3} s  {mj:8.1} MIPS  ({} blocks compiled in {:.1} ms)",
        jit.stats.blocks_compiled,
        jit.stats.compile_time.as_secs_f64() * 1e3
    );
    println!("  jit / interpreter: {:.1}x", mj / mi);
}
