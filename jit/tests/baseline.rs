//! The baseline tier's place between the interpreter and Cranelift (`Options::baseline`,
//! `Options::tier_up`); its blocks' behaviour is tested by the other suites, run again with it
//! (`with_baseline`).

mod common;

use common::*;
use emu_cpu_x86::Stop;
use emu_jit::{Jit, Options};
use iced_x86::code_asm::*;

/// A loop of three blocks run `count` times: the first every time, the second on odd counts,
/// the third on even ones (the second goes on into its code).
fn loop_of_three_blocks(count: u32) -> Vec<u8> {
    asm(32, |a| {
        let mut top = a.create_label();
        let mut skip = a.create_label();
        a.mov(ecx, count)?;
        a.mov(esi, 0x20000u32)?;
        a.set_label(&mut top)?;
        a.mov(eax, dword_ptr(esi + 4))?;
        a.add(eax, ecx)?;
        a.test(ecx, 1u32)?;
        a.jz(skip)?;
        a.mov(dword_ptr(esi + 4), eax)?;
        a.set_label(&mut skip)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    })
}

/// Runs `code` in the interpreter and with baseline blocks that tier up after `tier_up` runs
/// (on the compile thread if `background`): the same state; returns the blocks compiled.
fn blocks_compiled(code: &[u8], tier_up: u32, background: bool) -> u64 {
    let (mut a, mut b) = (paged32(code), paged32(code));
    let sa = a.run(10_000_000);
    let opts = Options { code_size: 1 << 20, baseline: true, tier_up, background, ..Options::default() };
    let mut j = Jit::new(opts).unwrap();
    let sb = j.run(&mut b, 10_000_000);
    assert_eq!((sa, sb), (Stop::Halted, Stop::Halted));
    assert_same(&a, &b, &format!("tier-up after {tier_up} runs, background {background}"));
    j.stats.blocks_compiled
}

/// With `tier_up` at 50, Cranelift compiles each of the loop's blocks again and its block
/// replaces the baseline one, in the middle of the run; the result is the interpreter's either
/// way, and so is every count. The blocks chain into each other, so it is their code that
/// counts their runs.
#[test]
fn baseline_blocks_are_compiled_again_by_cranelift_after_tier_up_runs() {
    let code = loop_of_three_blocks(200);
    let (never, after_50) = (blocks_compiled(&code, 0, false), blocks_compiled(&code, 50, false));
    if cfg!(all(target_arch = "x86_64", not(windows))) {
        assert_eq!(after_50, never + 3, "the loop's blocks compiled again");
        // Not before the count: blocks that run 200 times at most.
        assert_eq!(blocks_compiled(&code, 1000, false), never);
    }
}

/// The same with the compile thread: a baseline block at its `tier_up`-th run is queued, and
/// Cranelift's block replaces it when installed (in deterministic runs, a fixed count of
/// instructions after it was queued), while the baseline block goes on running.
#[test]
fn baseline_blocks_are_replaced_by_the_compile_threads_blocks() {
    let code = loop_of_three_blocks(200_000);
    let (never, after_50) = (blocks_compiled(&code, 0, true), blocks_compiled(&code, 50, true));
    if cfg!(all(target_arch = "x86_64", not(windows))) {
        assert_eq!(after_50, never + 3, "the loop's blocks compiled again, on the compile thread");
    }
}

/// In lockstep (`--cpu check`), the dispatcher runs blocks through the checker, which counts a
/// baseline block's runs as its code would (`Jit::tier_up_due`): Cranelift compiles the
/// loop's blocks again after 50 runs, and every block, of either tier, agrees with the
/// interpreter.
#[test]
fn the_checker_counts_baseline_runs_and_checks_both_tiers() {
    let code = loop_of_three_blocks(200);
    let run = |tier_up| {
        let mut a = paged32(&code);
        let sa = a.run(10_000_000);
        let opts = Options { code_size: 1 << 20, baseline: true, tier_up, check: true, ..Options::default() };
        let mut j = Jit::new(opts).unwrap();
        let mut b = paged32(&code);
        let sb = j.run(&mut b, 10_000_000);
        assert_eq!((sa, sb), (Stop::Halted, Stop::Halted));
        assert_eq!(j.check_failure(), None);
        assert_same(&a, &b, &format!("checked, tier-up after {tier_up} runs"));
        assert!(j.stats.checked_blocks > 300, "{:?}", j.stats);
        j.stats.blocks_compiled
    };
    let (never, after_50) = (run(0), run(50));
    if cfg!(all(target_arch = "x86_64", not(windows))) {
        assert_eq!(after_50, never + 3, "the loop's blocks compiled again");
    }
}
