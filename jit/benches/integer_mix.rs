//! `cargo bench -p emu-jit`: guest MIPS of the interpreter and the JIT on the same guest
//! program, in one run, and their ratio. Not a timed test: it reports, it does not assert.
//!
//! The guests, in 32-bit flat protected mode:
//! - integer mix: a loop of ALU operations on registers, loads and stores to an array, a call and
//!   return, and a conditional branch;
//! - paging: paging on (4 KiB pages, 16 MiB identity-mapped), a loop of loads and stores that
//!   walks 2048 pages (more than the TLB holds) with an INVLPG every iteration;
//! - SMC: a loop that patches an immediate of its own next instruction every iteration, so the
//!   JIT invalidates its block each time; after a few retranslations the page is hot and the
//!   interpreter runs it for a while (`emu_jit::throttle`).

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

fn paging_program(iterations: u32) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).unwrap();
    let mut top = a.create_label();
    (|| -> Result<(), IcedError> {
        a.mov(ecx, iterations)?;
        a.xor(eax, eax)?;
        a.set_label(&mut top)?;
        // Page (ecx * 7) mod 2048 above 4 MiB, offset (ecx * 4) mod 4096.
        a.imul_3(edi, ecx, 7)?;
        a.and(edi, 0x7ffu32)?;
        a.shl(edi, 12)?;
        a.mov(edx, ecx)?;
        a.shl(edx, 2)?;
        a.and(edx, 0xffcu32)?;
        a.lea(edi, dword_ptr(edi + edx + 0x40_0000))?;
        a.add(eax, dword_ptr(edi))?;
        a.mov(dword_ptr(edi), eax)?;
        a.add(eax, dword_ptr(edi + 0x1000 * 513))?;
        a.invlpg(dword_ptr(edi))?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()?;
        Ok(())
    })()
    .unwrap();
    a.assemble(CODE as u64).unwrap()
}

fn smc_program(iterations: u32) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).unwrap();
    let mut top = a.create_label();
    let mut patch = a.create_label();
    (|| -> Result<(), IcedError> {
        a.mov(ecx, iterations)?;
        a.xor(edx, edx)?;
        a.set_label(&mut top)?;
        a.mov(eax, ecx)?;
        a.and(eax, 0x7fu32)?;
        // Patches the imm32 of `add edx, imm32` below (opcode 81 C2: imm at +2).
        a.mov(dword_ptr(0u32), eax)?; // fixed up to patch+2 after assembly
        a.set_label(&mut patch)?;
        a.add(edx, 0x1234_5678u32)?;
        a.xor(edx, ecx)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()?;
        Ok(())
    })()
    .unwrap();
    let mut code = a.assemble(CODE as u64).unwrap();
    // `mov [disp32], eax` is A3 disp32; point it at the ADD's immediate.
    let at = code.iter().position(|&b| b == 0xa3).expect("the patching store");
    let add = code.windows(2).position(|w| w == [0x81, 0xc2]).expect("the patched ADD");
    code[at + 1..at + 5].copy_from_slice(&(CODE + add as u32 + 2).to_le_bytes());
    code
}

/// Turns paging on with 4 KiB pages identity-mapping the first 16 MiB (tables at 1 MiB).
fn enable_paging(c: &mut Cpu) {
    const PD: usize = 0x10_0000;
    let ram = c.sys.ram_mut().as_mut_slice();
    for t in 0..4usize {
        let pt = PD + 0x1000 * (t + 1);
        ram[PD + 4 * t..PD + 4 * t + 4].copy_from_slice(&(pt as u32 | 3).to_le_bytes());
        for i in 0..1024usize {
            let pte = ((t * 1024 + i) << 12) as u32 | 3;
            ram[pt + 4 * i..pt + 4 * i + 4].copy_from_slice(&pte.to_le_bytes());
        }
    }
    c.s.cr3 = PD as u32;
    c.s.cr0 |= cr0::PG;
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
fn measure(code: &[u8], setup: fn(&mut Cpu), mut run: impl FnMut(&mut Cpu) -> Stop) -> (u64, f64, Cpu) {
    let mut c = machine(code);
    setup(&mut c);
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

/// Runs `code` in both tiers (after `setup`), checks they agree, prints MIPS and the ratio.
fn bench(name: &str, code: &[u8], setup: fn(&mut Cpu)) {
    let (n_i, t_i, ci) = measure(code, setup, |c| c.run(1_000_000));
    let mut jit = Jit::new(Options::default()).unwrap();
    let (n_j, t_j, cj) = measure(code, setup, |c| jit.run(c, 1_000_000));
    assert_eq!(n_i, n_j, "{name}: both tiers retire the same instructions");
    assert_eq!(ci.s, cj.s, "{name}: both tiers end in the same state");
    let (mi, mj) = (n_i as f64 / t_i / 1e6, n_j as f64 / t_j / 1e6);
    println!("{name}: {n_i} guest instructions");
    println!("  interpreter  {t_i:8.3} s  {mi:8.1} MIPS  ({} TLB fills)", ci.tlb.fills);
    println!(
        "  jit          {t_j:8.3} s  {mj:8.1} MIPS  ({} blocks compiled in {:.1} ms, {} invalidated; {} TLB fills)",
        jit.stats.blocks_compiled,
        jit.stats.compile_time.as_secs_f64() * 1e3,
        jit.stats.invalidated_blocks,
        cj.tlb.fills
    );
    println!("  jit / interpreter: {:.1}x", mj / mi);
}

fn main() {
    let iterations = std::env::var("EMU_BENCH_ITERATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(2_000_000);
    bench("integer mix", &program(iterations), |_| {});
    bench("paging", &paging_program(iterations), enable_paging);
    // Without the throttle each iteration would retranslate a block (about 0.6 ms): kept short.
    bench("smc", &smc_program(iterations / 20), |_| {});
}
