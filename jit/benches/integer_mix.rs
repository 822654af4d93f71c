//! `cargo bench -p emu-jit`: guest MIPS of the interpreter and the JIT on the same guest
//! program, in one run, and their ratio. Not a timed test: it reports, it does not assert
//! anything about speed (it does check that both tiers end in the same state).
//!
//! The guests are `emu_test_roms::bench`'s (the same programs `emu bench` boots as ROMs under
//! emu and QEMU), loaded here straight into a CPU in flat 32-bit protected mode and run to
//! their final HLT, with no process or machine start-up in the figures:
//! - integer mix: ALU operations, loads and stores to an array, a call and return, a branch;
//! - paging: 2,048 pages walked with an INVLPG every iteration;
//! - SMC and faults: a loop that patches its own code and takes a #UD every iteration (after a
//!   few retranslations the page turns hot and the interpreter runs it for a while,
//!   `emu_jit::throttle`).
//!
//! `EMU_BENCH_ITERATIONS` sets the loop count (default 2,000,000; the SMC guest runs 1/20 of it).

use emu_core::{ClockMode, System};
use emu_cpu_x86::state::{cr0, Segment, TableReg};
use emu_cpu_x86::{Cpu, Stop};
use emu_jit::{Jit, Options};
use emu_test_roms::bench::{End, Guest, CODE, GDT, STACK};
use std::time::Instant;

fn machine(code: &[u8]) -> Cpu {
    let mut c = Cpu::new(System::new(16 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap());
    c.s.cr0 |= cr0::PE;
    c.s.segs = [Segment::flat32(0x10, false); 6];
    c.s.segs[1] = Segment::flat32(0x08, true);
    c.s.eip = CODE;
    c.s.regs[4] = STACK;
    // The GDT the guests expect (the SMC guest's #UD gate loads CS 0x08 from it).
    const GDT_AT: usize = 0x600;
    for (i, d) in GDT.iter().enumerate() {
        c.sys.ram_mut().as_mut_slice()[GDT_AT + 8 * i..GDT_AT + 8 * i + 8].copy_from_slice(&d.to_le_bytes());
    }
    c.s.gdtr = TableReg { base: GDT_AT as u32, limit: 8 * GDT.len() as u32 - 1 };
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

/// Runs `code` in both tiers, checks they agree, prints MIPS and the ratio.
fn bench(name: &str, code: &[u8]) {
    let (n_i, t_i, ci) = measure(code, |c| c.run(1_000_000));
    let mut jit = Jit::new(Options::default()).unwrap();
    let (n_j, t_j, cj) = measure(code, |c| jit.run(c, 1_000_000));
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
    let iterations: u32 =
        std::env::var("EMU_BENCH_ITERATIONS").ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(2_000_000);
    for g in Guest::ALL {
        // Without the throttle each SMC iteration would retranslate a block: kept short.
        let n = if g == Guest::SmcFaults { (iterations / 20).max(1) } else { iterations };
        bench(g.name(), &g.program(n, End::Halt).expect("the bench guests assemble"));
    }
}
