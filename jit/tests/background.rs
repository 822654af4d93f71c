//! Background compilation (`emu_jit::worker`): blocks compiled on the second thread run as the
//! interpreter would; a block whose page is written (by the guest, by DMA) while it is being
//! compiled is never installed; a flush with blocks queued loses no write; with deterministic
//! time a run is the same run however fast the thread is.
//!
//! `Jit::wait_for_compiles` plays a compile thread that is done at that moment, so each test
//! decides whether the thread finished before or after the write it makes.

mod common;

use common::*;
use emu_core::{Clock, ClockMode};
use emu_cpu_x86::{Cpu, Stop};
use emu_jit::worker::DETERMINISTIC_LAG;
use emu_jit::{Jit, Options, Stats};
use iced_x86::code_asm::*;

const DETERMINISTIC: ClockMode = ClockMode::Deterministic { ns_per_insn: 1 };
const CLOCKS: [ClockMode; 2] = [DETERMINISTIC, ClockMode::RealTime];
/// The immediate the tests patch (`ADD EAX, imm32`).
const OLD: u32 = 0x1111_1111;
const NEW: u32 = 0x2222_2222;

fn background(code_size: usize) -> Jit {
    Jit::new(Options { code_size, warmup: 3, background: true, ..Options::default() }).unwrap()
}

/// [`flat32`] with `clock`.
fn machine(code: &[u8], clock: ClockMode) -> Cpu {
    let mut c = flat32(code);
    c.sys.clock = Clock::new(clock);
    c
}

/// `iterations` of: EAX += [`OLD`], EAX rol 3; then HLT.
fn add_loop(iterations: u32) -> Vec<u8> {
    asm(32, |a| {
        let mut top = a.create_label();
        a.mov(ecx, iterations)?;
        a.xor(eax, eax)?;
        a.set_label(&mut top)?;
        a.add(eax, OLD as i32)?;
        a.rol(eax, 3)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    })
}

/// The physical address of the `n`-th (from 0) `ADD EAX, OLD` immediate in `code`.
fn imm_at(code: &[u8], n: usize) -> u64 {
    let at = code.windows(4).enumerate().filter(|(_, w)| *w == OLD.to_le_bytes()).nth(n).expect("the immediate").0;
    (CODE as usize + at) as u64
}

/// Runs the JIT in slices of `slice` instructions until `until` says so (called after each
/// slice) or the CPU halts; returns whether it halted. (With slices of one instruction, a block
/// queued in a slice cannot be installed before `until` sees it: that happens at a lookup.)
fn run_until(j: &mut Jit, c: &mut Cpu, slice: u64, mut until: impl FnMut(&mut Jit, &Cpu) -> bool) -> bool {
    for _ in 0..1_000_000 {
        match j.run(c, slice) {
            Stop::Budget if until(j, c) => return false,
            Stop::Budget => {}
            Stop::Halted => return true,
            other => panic!("stopped with {other:?}"),
        }
    }
    panic!("did not halt");
}

/// The reference: the interpreter, with `write` made after exactly `at` instructions.
fn reference(code: &[u8], at: u64, write: impl FnOnce(&mut Cpu)) -> Cpu {
    let mut r = flat32(code);
    assert_eq!(r.run(at), Stop::Budget);
    write(&mut r);
    assert_eq!(r.run(100_000_000), Stop::Halted);
    r
}

/// The counters two runs of the same guest compare: `s` without what depends on the compile
/// thread's speed (host times, and whether it had the time to optimise a block, so the code's
/// size).
fn counts(s: &Stats) -> Stats {
    let zero = Default::default();
    Stats {
        compile_time: zero,
        compile_wait: zero,
        compile_thread_time: zero,
        blocks_optimized: 0,
        host_bytes: 0,
        ..s.clone()
    }
}

#[test]
fn a_block_compiled_in_the_background_runs_as_in_the_interpreter() {
    let code = add_loop(200_000);
    let r = reference(&code, 0, |_| {});
    for clock in CLOCKS {
        let mut c = machine(&code, clock);
        let mut j = background(1 << 20);
        // Slices of one instruction until the loop is queued, so the test sees it queued
        // whatever the thread's speed (a slice of 1000 let a fast thread on a busy host finish
        // it, and the dispatcher install it, before the test looked). Then the thread finishes
        // it: real-time mode installs it at the next lookup, deterministic mode when it is due.
        assert!(!run_until(&mut j, &mut c, 1, |j, _| j.compiles_queued() > 0), "{clock:?}: halted before a compile");
        j.wait_for_compiles();
        assert!(run_until(&mut j, &mut c, 1000, |_, _| false), "{clock:?}: {:?}", j.stats);
        assert_same(&r, &c, &format!("{clock:?}"));
        let st = &j.stats;
        assert!(st.blocks_compiled >= 1 && st.jit_insns > 400_000, "{clock:?}: ran translated: {st:?}");
        assert!(st.compiling_insns > 0 && st.compiling_insns <= st.warmup_insns, "{clock:?}: {st:?}");
        assert_eq!(st.compiles_dropped, 0, "{clock:?}: {st:?}");
        // Nothing else waited for the thread: it compiled the loop with the optimiser, and the
        // optimised code ran as the interpreter does (above).
        assert!(st.blocks_optimized >= 1, "{clock:?}: {st:?}");
        if clock == DETERMINISTIC {
            // Queued on its fourth run, installed DETERMINISTIC_LAG instructions later.
            assert!(st.compiling_insns + 100 >= DETERMINISTIC_LAG, "{st:?}");
            assert!(st.compiling_insns <= DETERMINISTIC_LAG + 100, "{st:?}");
        }
    }
}

/// The same run with the thread always done at once and with the thread as it comes: with
/// deterministic time every counter is the same (blocks are installed at the same instruction).
#[test]
fn deterministic_runs_do_not_depend_on_the_threads_speed() {
    // Two loops on two paths, so several blocks are queued at a time.
    let code = asm(32, |a| {
        let mut top = a.create_label();
        let mut odd = a.create_label();
        let mut next = a.create_label();
        a.mov(ecx, 150_000u32)?;
        a.xor(eax, eax)?;
        a.set_label(&mut top)?;
        a.test(ecx, 1u32)?;
        a.jnz(odd)?;
        a.add(eax, 3u32)?;
        a.jmp(next)?;
        a.set_label(&mut odd)?;
        a.imul_3(eax, eax, 5u32)?;
        a.set_label(&mut next)?;
        a.mov(dword_ptr(0x3000), eax)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let r = reference(&code, 0, |_| {});
    let mut runs = Vec::new();
    for eager in [true, false] {
        let mut c = machine(&code, DETERMINISTIC);
        let mut j = background(1 << 20);
        run_until(&mut j, &mut c, 777, |j, _| {
            if eager {
                j.wait_for_compiles();
            }
            false
        });
        assert_same(&r, &c, &format!("eager {eager}"));
        assert!(j.stats.blocks_compiled >= 3 && j.stats.jit_insns > 100_000, "{:?}", j.stats);
        runs.push(counts(&j.stats));
    }
    assert_eq!(format!("{:?}", runs[0]), format!("{:?}", runs[1]));
}

/// DMA rewrites the loop's code after the thread compiled it and before it is installed: the
/// compiled block is dropped and the new code runs.
#[test]
fn a_page_written_by_dma_while_its_block_compiles_is_not_installed_stale() {
    let code = add_loop(150_000);
    let imm = imm_at(&code, 0);
    for clock in CLOCKS {
        let mut c = machine(&code, clock);
        let mut j = background(1 << 20);
        run_until(&mut j, &mut c, 1, |j, _| j.compiles_queued() > 0);
        j.wait_for_compiles();
        let at = c.s.icount;
        c.sys.write_bytes(imm, &NEW.to_le_bytes());
        // The thread is done with each block as soon as it is queued.
        assert!(run_until(&mut j, &mut c, 1000, |j, _| {
            j.wait_for_compiles();
            false
        }));
        let r = reference(&code, at, |r| r.sys.write_bytes(imm, &NEW.to_le_bytes()));
        assert_same(&r, &c, &format!("{clock:?}"));
        assert!(j.stats.compiles_dropped >= 1, "{clock:?}: {:?}", j.stats);
        assert!(j.stats.jit_insns > 100_000, "{clock:?}: compiled again: {:?}", j.stats);
    }
}

/// The guest rewrites its loop's code while the block is compiled (deterministic time: the block
/// is not due yet): dropped, and the rewritten loop runs.
#[test]
fn a_page_the_guest_writes_while_its_block_compiles_is_not_installed_stale() {
    const N: u32 = 150_000;
    // At ECX = N - 1000 the loop stores NEW over its own ADD's immediate.
    let build = |imm: u32| {
        asm(32, |a| {
            let mut top = a.create_label();
            let mut skip = a.create_label();
            a.mov(ecx, N)?;
            a.xor(eax, eax)?;
            a.set_label(&mut top)?;
            a.add(eax, OLD as i32)?;
            a.cmp(ecx, N - 1000)?;
            a.jne(skip)?;
            a.mov(dword_ptr(imm), NEW)?;
            a.set_label(&mut skip)?;
            a.rol(eax, 3)?;
            a.dec(ecx)?;
            a.jnz(top)?;
            a.hlt()
        })
    };
    let imm = imm_at(&build(0), 0) as u32;
    let code = build(imm);
    assert_eq!(imm_at(&code, 0) as u32, imm);
    let mut c = machine(&code, DETERMINISTIC);
    let mut j = background(1 << 20);
    run_until(&mut j, &mut c, 1, |j, _| j.compiles_queued() > 0);
    j.wait_for_compiles();
    let queued_at = c.s.icount;
    assert!(run_until(&mut j, &mut c, 1000, |_, _| false));
    // The store came before the loop's block was due.
    assert!(1000 * 6 < DETERMINISTIC_LAG && queued_at < 100);
    let r = reference(&code, 0, |_| {});
    assert_same(&r, &c, "guest store");
    assert_eq!(c.sys.ram().as_slice()[imm as usize..imm as usize + 4], NEW.to_le_bytes());
    assert!(j.stats.compiles_dropped >= 1, "{:?}", j.stats);
    assert!(j.stats.jit_insns > 300_000, "compiled again: {:?}", j.stats);
}

/// A flush while a block is queued keeps its page marked: a later write to the page (which held
/// translated blocks, so the flush unmarked it) still drops the queued block.
#[test]
fn a_flush_while_a_block_compiles_keeps_watching_its_page() {
    // A first loop (counting EBX down), translated and installed; then a second one (ECX) on
    // the same page.
    let code = asm(32, |a| {
        let mut first = a.create_label();
        let mut second = a.create_label();
        a.mov(ebx, 150_000u32)?;
        a.xor(eax, eax)?;
        a.set_label(&mut first)?;
        a.add(eax, 7u32)?;
        a.dec(ebx)?;
        a.jnz(first)?;
        a.mov(ecx, 50_000u32)?;
        a.set_label(&mut second)?;
        a.add(eax, OLD as i32)?;
        a.rol(eax, 3)?;
        a.dec(ecx)?;
        a.jnz(second)?;
        a.hlt()
    });
    let imm = imm_at(&code, 0);
    for clock in CLOCKS {
        let mut c = machine(&code, clock);
        let mut j = background(1 << 20);
        // The first loop's block is installed (the thread done at once while it runs); then the
        // second loop's is queued.
        run_until(&mut j, &mut c, 1, |j, c| {
            if c.s.regs[3] > 0 {
                j.wait_for_compiles();
            }
            c.s.regs[3] == 0 && c.s.regs[1] > 40_000 && j.compiles_queued() > 0
        });
        assert!(j.blocks() > 0, "{clock:?}: {:?}", j.stats);
        j.wait_for_compiles();
        j.flush(&mut c);
        let at = c.s.icount;
        c.sys.write_bytes(imm, &NEW.to_le_bytes());
        assert!(run_until(&mut j, &mut c, 1000, |_, _| false));
        let r = reference(&code, at, |r| r.sys.write_bytes(imm, &NEW.to_le_bytes()));
        assert_same(&r, &c, &format!("{clock:?}"));
        assert!(j.stats.flushes >= 1 && j.stats.compiles_dropped >= 1, "{clock:?}: {:?}", j.stats);
    }
}

/// A flush with blocks queued and not written installs them afterwards, correct.
#[test]
fn blocks_queued_across_flushes_are_installed() {
    // Many small loops; code memory for a few blocks, so installing flushes again and again
    // while others are queued.
    let code = asm(32, |a| {
        a.xor(eax, eax)?;
        for k in 0..40u32 {
            let mut top = a.create_label();
            a.mov(ecx, 2000u32)?;
            a.set_label(&mut top)?;
            a.add(eax, k * 17 + 1)?;
            a.rol(eax, k % 7 + 1)?;
            a.dec(ecx)?;
            a.jnz(top)?;
        }
        a.hlt()
    });
    let r = reference(&code, 0, |_| {});
    for clock in CLOCKS {
        for eager in [true, false] {
            let mut c = machine(&code, clock);
            let mut j = background(4096);
            run_until(&mut j, &mut c, 100, |j, _| {
                if eager {
                    j.wait_for_compiles();
                }
                false
            });
            assert_same(&r, &c, &format!("{clock:?}, eager {eager}"));
            if eager && clock != DETERMINISTIC {
                assert!(j.stats.flushes > 0 && j.stats.blocks_compiled > 10, "{clock:?}: {:?}", j.stats);
            }
        }
    }
}

/// A loop that patches its own code every iteration: its queued blocks are dropped again and
/// again, which counts for the throttle as invalidated blocks do, so the page turns hot and is
/// left to the interpreter.
#[test]
fn a_page_whose_queued_blocks_keep_being_dropped_turns_hot() {
    const ITERATIONS: u32 = 2000;
    let (mut code, at) = self_patching_loop(ITERATIONS, OLD);
    let imm = imm_at(&code, 0) as u32;
    code[at..at + 4].copy_from_slice(&imm.to_le_bytes());
    let r = reference(&code, 0, |_| {});
    for clock in CLOCKS {
        let mut c = machine(&code, clock);
        let mut j = background(1 << 20);
        assert!(run_until(&mut j, &mut c, 1000, |_, _| false));
        assert_same(&r, &c, &format!("{clock:?}"));
        let st = &j.stats;
        assert!(st.compiles_dropped >= 8 && st.hot_pages >= 1, "{clock:?}: {st:?}");
        assert!(st.hot_insns > 5 * ITERATIONS as u64, "{clock:?}: {st:?}");
    }
}

/// Lockstep mode checks every block from its first run, so it compiles in-line whatever
/// `background` says; in-line is the default.
#[test]
fn lockstep_mode_and_the_default_compile_in_line() {
    let check = Jit::new(Options { code_size: 1 << 20, check: true, background: true, ..Options::default() }).unwrap();
    assert!(!check.compiles_in_background());
    assert!(!jit().compiles_in_background());
    assert!(background(1 << 20).compiles_in_background());
}

/// While the compile thread has nothing queued, a real-time run queues a block after half the
/// warm-up threshold's runs (`warmup::EAGER_DIVISOR`); a deterministic run keeps the whole
/// threshold. A loop of 6 iterations under a threshold of 8 is queued only in the first.
#[test]
fn an_idle_compile_thread_takes_blocks_sooner_in_real_time_runs() {
    let code = add_loop(6);
    for clock in CLOCKS {
        let mut c = machine(&code, clock);
        let mut j =
            Jit::new(Options { code_size: 1 << 20, warmup: 8, background: true, ..Options::default() }).unwrap();
        assert_eq!(j.run(&mut c, 1000), Stop::Halted);
        let queued = j.compiles_queued() + j.stats.blocks_compiled as usize + j.stats.compiles_dropped as usize;
        assert_eq!(queued > 0, clock == ClockMode::RealTime, "{clock:?}: {:?}", j.stats);
    }
}
