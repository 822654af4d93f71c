//! Warm-up (`emu_jit::warmup`): blocks run in the interpreter their first times, then
//! translated; the run is the same as the interpreter's, instruction for instruction, whatever
//! the budget.

mod common;

use common::*;
use emu_cpu_x86::Stop;
use emu_jit::{Jit, Options};
use iced_x86::code_asm::*;

fn loop_program(iterations: u32) -> Vec<u8> {
    asm(32, |a| {
        let mut top = a.create_label();
        a.mov(ecx, iterations)?;
        a.xor(eax, eax)?;
        a.set_label(&mut top)?;
        a.add(eax, ecx)?;
        a.rol(eax, 3)?;
        a.mov(dword_ptr(0x2000), eax)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    })
}

fn jit(warmup: u32) -> Jit {
    Jit::new(Options { code_size: 1 << 20, warmup, ..Options::default() }).unwrap()
}

/// Runs to HLT in slices of `slice` instructions.
fn run_sliced(j: &mut Jit, c: &mut emu_cpu_x86::Cpu, slice: u64) {
    for _ in 0..100_000 {
        match j.run(c, slice) {
            Stop::Budget => continue,
            Stop::Halted => return,
            other => panic!("stopped with {other:?}"),
        }
    }
    panic!("did not halt");
}

#[test]
fn a_warming_loop_runs_as_in_the_interpreter_then_translated() {
    let code = loop_program(50);
    let mut reference = flat32(&code);
    assert_eq!(reference.run(1_000_000), Stop::Halted);
    // Slices of 1, 3 and 7 instructions cut the interpreted blocks everywhere.
    for slice in [1, 3, 7, 1_000_000] {
        let mut c = flat32(&code);
        let mut j = jit(3);
        run_sliced(&mut j, &mut c, slice);
        assert_same(&reference, &c, &format!("warm-up 3, slices of {slice}"));
        assert!(j.stats.warmup_insns >= 3 * 5, "the loop body ran interpreted first: {:?}", j.stats);
        if slice > 5 {
            assert!(j.stats.decoded_insns >= 3 * 5, "from its decoded run: {:?}", j.stats);
        }
        if slice > 5 {
            // (Slices shorter than the 5-instruction loop body never fit a block.)
            assert!(j.stats.jit_insns > 100, "then translated: {:?}", j.stats);
        }
    }
}

#[test]
fn code_that_runs_once_is_not_translated() {
    let code = loop_program(1);
    let mut c = flat32(&code);
    let mut j = jit(2);
    run_sliced(&mut j, &mut c, 1_000_000);
    assert_eq!(j.stats.blocks_compiled, 0, "{:?}", j.stats);
    assert_eq!(c.s.regs[0], 1u32.rotate_left(3));
    // Without warm-up the same code is translated at once.
    let mut c = flat32(&code);
    let mut j = jit(0);
    run_sliced(&mut j, &mut c, 1_000_000);
    assert!(j.stats.blocks_compiled > 0 && j.stats.warmup_insns == 0, "{:?}", j.stats);
}

/// A loop whose body rewrites the immediate of its own first instruction every time round,
/// warming up (its decoded run no longer matches the bytes at its start, runs nothing, and is
/// decoded again) and then translated: the same as the interpreter.
#[test]
fn a_warming_block_that_rewrites_itself_runs_as_in_the_interpreter() {
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(ecx, 40u32)?; // CODE + 0: 5 bytes
        a.xor(eax, eax)?; // CODE + 5: 2 bytes
        a.set_label(&mut top)?;
        a.add(eax, 0x1111_1111u32)?; // CODE + 7: 05 id, its immediate at CODE + 8
        a.mov(dword_ptr(CODE + 8), ecx)?;
        a.rol(eax, 1)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    assert_eq!(code[7], 0x05, "add eax, imm32 in its short form");
    let mut reference = flat32(&code);
    assert_eq!(reference.run(1_000_000), Stop::Halted);
    for warmup in [0, 5, 100] {
        let mut c = flat32(&code);
        let mut j = jit(warmup);
        run_sliced(&mut j, &mut c, 1_000_000);
        assert_same(&reference, &c, &format!("warm-up {warmup}"));
        if warmup == 100 {
            assert!(j.stats.decoded_insns > 0, "{:?}", j.stats);
        }
    }
}

/// Two nested loops: A (the outer body's start) falls through a branch never taken into B (the
/// inner loop, two rounds), then C closes the outer loop. A decoded run goes on past a
/// conditional branch not taken (`runs`): S's and A's runs go on into B, B's into C. With
/// `b_first`, S jumps to B first (through a register, so that no block merges the jump), for
/// ten rounds of it.
fn nested_loops(outer: u32, b_first: bool) -> Vec<u8> {
    let mut code = asm(32, |a| {
        let (mut top, mut inner, mut never) = (a.create_label(), a.create_label(), a.create_label());
        a.mov(ecx, outer)?; // S (with A's instructions the first time, unless `b_first`)
        if b_first {
            a.mov(edx, 10u32)?;
            a.mov(edi, 0u32)?; // B's address, patched below
            a.jmp(edi)?;
        }
        a.set_label(&mut top)?;
        a.mov(edx, 2u32)?; // A
        a.cmp(ecx, 100u32)?;
        a.ja(never)?;
        a.set_label(&mut inner)?;
        a.add(eax, 7u32)?; // B
        a.dec(edx)?;
        a.jnz(inner)?;
        a.dec(ecx)?; // C
        a.jnz(top)?;
        a.hlt()?;
        a.set_label(&mut never)?;
        a.int3()
    });
    if b_first {
        // ADD EAX, 7 (05 07 00 00 00) is B's first instruction; the MOV EDI (BF) is S's third.
        let b = code.windows(5).position(|w| w == [5, 7, 0, 0, 0]).expect("B") as u32 + CODE;
        assert_eq!(code[10], 0xbf, "mov edi, imm32");
        code[11..15].copy_from_slice(&b.to_le_bytes());
    }
    code
}

/// The run of a block goes on past conditional branches, and where each later block starts.
#[test]
fn a_run_goes_on_past_branches_not_taken() {
    let mut c = flat32(&nested_loops(10, false));
    let (g, starts) = emu_jit::translate::scan_run(&mut c, emu_jit::translate::MAX_BLOCK_INSNS);
    assert_eq!(g.insns.len(), 10, "S, A, B, C and the HLT");
    assert_eq!(starts, [4, 7, 9], "B, C and the HLT");
    assert_eq!(emu_jit::translate::scan(&mut c, emu_jit::translate::MAX_BLOCK_INSNS).insns.len(), 4, "S and A");
}

/// Blocks run from the run of the block before them warm up as if the dispatcher had run them
/// (and are translated as soon), the run stops before one once it is warm, and the program
/// runs as in the interpreter however the budget cuts it.
#[test]
fn blocks_after_a_branch_not_taken_run_from_the_run_before_and_still_warm_up() {
    let code = nested_loops(10, false);
    let mut reference = flat32(&code);
    assert_eq!(reference.run(1_000_000), Stop::Halted);
    for slice in [1, 2, 3, 5, 7, 1_000_000] {
        let mut c = flat32(&code);
        let mut j = jit(4);
        run_sliced(&mut j, &mut c, slice);
        assert_same(&reference, &c, &format!("slices of {slice}"));
    }
    let mut c = flat32(&code);
    let mut j = jit(4);
    run_sliced(&mut j, &mut c, 1_000_000);
    // B's runs: 1 from S's run, 2 by the dispatcher (its loop's back edge), 3 from A's, 4 by
    // the dispatcher; then A's second run finds it warm and stops before it, and the
    // dispatcher translates it. C's: 1 and 2 from B's runs, 3 and 4 by the dispatcher, then
    // translated. So four blocks ran from runs (B twice, C twice).
    assert_eq!(j.stats.run_blocks, 4, "{:?}", j.stats);
    assert_eq!(j.stats.blocks_compiled, 3, "A, B and C: {:?}", j.stats);
}

/// A budget that ends where a later block of a run starts ends the run there, and that block
/// is not counted: it did not run (the dispatcher counts it when it looks it up).
#[test]
fn a_budget_that_ends_between_two_blocks_of_a_run_ends_it() {
    let mut c = flat32(&nested_loops(10, false));
    let mut j = jit(4);
    // S's run: S and A (4 instructions), then B.
    assert_eq!(j.run(&mut c, 4), Stop::Budget);
    assert_eq!((c.s.icount, j.stats.run_blocks), (4, 0), "{:?}", j.stats);
    assert_eq!(j.run(&mut c, 3), Stop::Budget);
    assert_eq!(c.s.icount, 7, "B, from its own run");
}

/// A run does not go on into a block that is translated: B, a loop, is translated by its own
/// runs before A, which falls through into it, first runs.
#[test]
fn a_run_stops_before_a_translated_block() {
    let code = nested_loops(4, true);
    let mut reference = flat32(&code);
    assert_eq!(reference.run(1_000_000), Stop::Halted);
    assert_eq!(reference.s.regs[0], 10 * 7 + 3 * 2 * 7, "B ten times from S, then twice a round");
    let mut c = flat32(&code);
    let mut j = jit(4);
    run_sliced(&mut j, &mut c, 1_000_000);
    assert_same(&reference, &c, "B translated first");
    // A's runs stop before B, translated; only C's last run goes on, into the HLT.
    assert_eq!(j.stats.run_blocks, 1, "{:?}", j.stats);
}
