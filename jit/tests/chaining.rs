//! Block chaining: blocks go on to their linked successors without a lookup, links die with the
//! blocks they lead to, and chained runs stop exactly where the interpreter's would.

mod common;
use common::*;
use emu_cpu_x86::{Cpu, Stop};
use emu_jit::{Jit, Options};
use iced_x86::code_asm::*;
use iced_x86::IcedError;

/// A loop of two or three blocks on one page: a conditional branch, an XOR it may skip, and a
/// call, the function and its return (one block: the RET's target is predicted).
fn calls_in_a_loop(iterations: u32) -> Vec<u8> {
    asm(32, |a| {
        let mut top = a.create_label();
        let mut skip = a.create_label();
        let mut func = a.create_label();
        a.mov(ecx, iterations)?;
        a.xor(eax, eax)?;
        a.set_label(&mut top)?;
        a.add(eax, ecx)?;
        a.test(eax, 4u32)?;
        a.jz(skip)?;
        a.xor(eax, 0x55u32)?;
        a.set_label(&mut skip)?;
        a.call(func)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()?;
        a.set_label(&mut func)?;
        a.rol(eax, 3)?;
        a.ret()
    })
}

/// Where the tests put the function their loop calls.
const OTHER: u32 = 0x4000;

/// A machine running `code` with ECX = 100, and at [`OTHER`] the function `add edx, 1; ret`
/// (83 C2 01: its immediate at `OTHER + 2`, which [`patch_midway`] rewrites).
fn calling_add_one(code: &[u8]) -> Cpu {
    let other = asm_at(32, OTHER, |a| {
        a.add(edx, 1u32)?;
        a.ret()
    });
    assert_eq!(other[..3], [0x83, 0xc2, 0x01]);
    let mut c = flat32(code);
    load(&mut c, OTHER, &other);
    c.s.regs[1] = 100;
    c
}

/// Runs a machine from `make` for 90 instructions in both tiers (checking with `chained` that
/// the JIT chained), turns the `add edx, 1` at `at` into `add edx, 16` in both, runs both to
/// their HLT and checks they agree; returns the interpreter's machine and the JIT.
fn patch_midway(make: impl Fn() -> Cpu, at: u32, chained: impl Fn(&emu_jit::Stats) -> u64) -> (Cpu, Jit) {
    let (mut a, mut b) = (make(), make());
    let mut j = jit();
    assert_eq!(a.run(90), Stop::Budget);
    assert_eq!(j.run(&mut b, 90), Stop::Budget);
    assert!(chained(&j.stats) > 20, "{:?}", j.stats);
    for c in [&mut a, &mut b] {
        c.sys.write_bytes(at as u64 + 2, &[0x10]); // add edx, 16
    }
    assert_eq!(a.run(1000), Stop::Halted);
    assert_eq!(j.run(&mut b, 1000), Stop::Halted);
    assert_same(&a, &b, "after the rewrite");
    (a, j)
}

fn chained_blocks_run_without_lookups_and_agree_with_the_interpreter() {
    let code = calls_in_a_loop(1000);
    let (_, stop, j) = same_in_both(|| flat32(&code), 100_000, "calls in a loop");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.chained > 1900, "{:?}", j.stats);
    assert!(j.stats.lookups < j.stats.block_runs / 10, "{:?}", j.stats);
}

/// Chaining never runs past the budget: every budget ends both tiers on the same instruction.
fn chained_runs_stop_at_the_budget() {
    let code = calls_in_a_loop(50);
    for budget in (1..400).step_by(7) {
        let (cpu, _, _) = same_in_both(|| flat32(&code), budget, &format!("budget {budget}"));
        assert_eq!(cpu.s.icount, budget);
    }
}

/// Runs [`calls_in_a_loop`] of `iterations` to its HLT in a JIT with `opts` and in the
/// interpreter, checks that they agree, and returns the JIT.
fn loop_with(opts: Options, iterations: u32, what: &str) -> Jit {
    let code = calls_in_a_loop(iterations);
    let mut c = flat32(&code);
    let mut j = Jit::new(opts).unwrap();
    assert_eq!(j.run(&mut c, 100_000), Stop::Halted, "{what}");
    let mut d = flat32(&code);
    assert_eq!(d.run(100_000), Stop::Halted, "{what}");
    assert_same(&d, &c, what);
    j
}

/// Without the counters in generated code (`emu` without `--stats=full`), blocks chain the
/// same: the dispatcher learns which block a chain ended in from the exit's cells, not from the
/// count, and links the next one to it, so the loop runs with few lookups.
fn chaining_does_not_depend_on_the_counters() {
    let j = loop_with(Options { counters: false, ..options() }, 1000, "counters off");
    assert_eq!((j.stats.chained_in_code, j.stats.inline_accesses), (0, 0), "not counted: {:?}", j.stats);
    assert!(j.stats.lookups < j.stats.jit_insns / 100, "{:?}", j.stats);
}

/// With chaining off (the measuring switch), the same run does lookups instead.
fn chaining_can_be_switched_off() {
    let j = loop_with(Options { chain: false, ..options() }, 100, "chaining off");
    assert_eq!(j.stats.chained, 0);
}

/// A loop body rewritten behind the CPU's back (DMA) between two runs: the links into the
/// dropped blocks no longer resolve, and the new code runs.
fn links_die_with_invalidated_blocks() {
    // top: add edx, 1 (83 C2 01); dec ecx; jnz top; hlt
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.add(edx, 1u32)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    assert_eq!(code[..3], [0x83, 0xc2, 0x01]);
    let make = || {
        let mut c = flat32(&code);
        c.s.regs[1] = 100;
        c
    };
    let (a, j) = patch_midway(make, CODE, |s| s.chained);
    assert!(j.stats.invalidated_blocks > 0, "{:?}", j.stats);
    // 30 iterations of +1, then the rest of +16.
    assert_eq!(a.s.regs[2], 30 + 70 * 16);
}

/// A store from a block on another page rewrites the target of a chained branch: the writing
/// block leaves through the SMC exit (never chained), and the rewritten block is translated anew.
fn a_store_into_a_linked_block_is_seen() {
    // CODE: top: add edx, 1 (83 C2 01); call OTHER; dec ecx; jnz top; hlt
    // OTHER: mov byte [CODE + 2], cl; ret  (the ADD's immediate becomes the count)
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.add(edx, 1u32)?;
        a.call(OTHER as u64)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let other = asm_at(32, OTHER, |a| {
        a.mov(byte_ptr(CODE + 2), cl)?;
        a.ret()
    });
    let make = || {
        let mut c = flat32(&code);
        load(&mut c, OTHER, &other);
        c.s.regs[1] = 20;
        c
    };
    let (cpu, stop, _) = same_in_both(make, 10_000, "store into a linked block");
    assert_eq!(stop, Stop::Halted);
    // 1 + 20 + 19 + ... + 2
    assert_eq!(cpu.s.regs[2], 1 + (2..=20).sum::<u32>());
}

/// Generated code follows the links by itself: nearly every chained block is entered with a
/// tail call from the block before it, not from the dispatcher (which still sees the run
/// between two clock deadlines start, and the blocks whose link was not made yet).
fn generated_code_chains_by_itself() {
    let code = calls_in_a_loop(1000);
    let (_, stop, j) = same_in_both(|| flat32(&code), 100_000, "calls in a loop");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.chained_in_code > j.stats.chained * 3 / 4, "{:?}", j.stats);
}

/// A block on another page that a linked exit leads to is rewritten (by DMA, so the calling
/// block stays): its link cell must be emptied, or the caller's code would jump into the
/// dropped block's stale code.
fn a_link_cell_into_a_dropped_block_is_emptied() {
    // CODE: top: call OTHER; dec ecx; jnz top; hlt    OTHER: add edx, 1 (83 C2 01); ret
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.call(OTHER as u64)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let make = || calling_add_one(&code);
    let (a, _) = patch_midway(make, OTHER, |s| s.chained_in_code);
    // 18 calls of +1 (5 instructions each), then 82 of +16.
    assert_eq!(a.s.regs[2], 18 + 82 * 16);
}

/// A RET's link cell follows its callers: two call sites alternate, so the cell of the
/// function's return is re-linked again and again, and must only ever be followed to the
/// block at the return address actually popped.
fn a_return_goes_where_its_address_says() {
    let code = asm(32, |a| {
        let (mut top, mut func, mut second) = (a.create_label(), a.create_label(), a.create_label());
        a.mov(ecx, 300u32)?;
        a.set_label(&mut top)?;
        a.call(func)?;
        a.add(edx, 3u32)?;
        a.call(func)?;
        a.jmp(second)?;
        a.set_label(&mut second)?;
        a.imul_3(edx, edx, 5)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()?;
        // On the next page, so the calls end their blocks and the RET is not predicted.
        a.db(&[0x90; 0x1000])?;
        a.set_label(&mut func)?;
        a.add(edx, ecx)?;
        a.ret()
    });
    let (_, stop, j) = same_in_both(|| flat32(&code), 100_000, "two call sites");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.chained_in_code > 300, "{:?}", j.stats);
}

/// A chain that ends in a block cut at its length cap, whose last instruction the interpreter
/// runs (so the fall-through status is decided at run time): the dispatcher must link that
/// block's exit, not the exit of the block the chain started in (here a conditional branch
/// whose fall-through leads to the long block, which would then be skipped).
fn a_chain_ending_in_a_block_cut_at_its_cap_links_the_right_exit() {
    let code = asm(32, |a| {
        let (mut top, mut out) = (a.create_label(), a.create_label());
        a.mov(ecx, 50u32)?;
        a.set_label(&mut top)?;
        a.dec(ecx)?;
        a.jz(out)?;
        // 63 specialised instructions and one the interpreter runs: a full block.
        for _ in 0..63 {
            a.add(edx, 1u32)?;
        }
        a.bswap(edx)?;
        a.bswap(edx)?;
        a.jmp(top)?;
        a.set_label(&mut out)?;
        a.hlt()
    });
    let (cpu, stop, j) = same_in_both(|| flat32(&code), 100_000, "a block cut at its cap");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[2], 49 * 63);
    assert!(j.stats.interp_in_blocks > 0 && j.stats.chained_in_code > 50, "{:?}", j.stats);
}

/// Calls through a register to four functions in turn, each returning to one of two call
/// sites: the computed targets (CALL r/m, RET) change on every run of their block, so a link
/// cell would miss nearly always; the jump cache finds them, and generated code goes on by
/// itself instead of returning to the dispatcher.
fn computed_branches_chain_through_the_jump_cache() {
    const TABLE: u32 = 0x6000;
    const FUNCS: u32 = 0x5000;
    let code = asm(32, |a| {
        let (mut top, mut second) = (a.create_label(), a.create_label());
        for n in 0..4 {
            a.mov(dword_ptr(TABLE + 4 * n), FUNCS + 0x10 * n)?;
        }
        a.mov(ebx, TABLE)?;
        a.mov(ecx, 2000u32)?;
        a.set_label(&mut top)?;
        a.mov(eax, ecx)?;
        a.and(eax, 3u32)?;
        a.call(dword_ptr(ebx + eax * 4))?;
        a.add(edx, 3u32)?;
        a.lea(eax, dword_ptr(edx + 1))?;
        a.and(eax, 3u32)?;
        a.mov(eax, dword_ptr(ebx + eax * 4))?;
        a.call(eax)?;
        a.jmp(second)?;
        a.set_label(&mut second)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let funcs: Vec<Vec<u8>> = (0..4u32)
        .map(|n| {
            let mut a = CodeAssembler::new(32).unwrap();
            a.imul_3(edx, edx, 3 + 2 * n as i32).unwrap();
            a.ret().unwrap();
            a.assemble((FUNCS + 0x10 * n) as u64).unwrap()
        })
        .collect();
    let make = || {
        let mut c = flat32(&code);
        for (n, f) in funcs.iter().enumerate() {
            load(&mut c, FUNCS + 0x10 * n as u32, f);
        }
        c
    };
    let (_, stop, j) = same_in_both(make, 1_000_000, "calls through a table");
    assert_eq!(stop, Stop::Halted);
    // 5 blocks an iteration, 2,000 iterations; the dispatcher sees only the first runs of each
    // target and the clock deadlines. (The baseline tier has no template for CALL through
    // memory: the interpreter runs it, and the dispatcher finds its target, once an iteration.)
    let (chained, lookups) = if baseline_on() { (7_500, 2_500) } else { (9_000, 500) };
    assert!(j.stats.chained_in_code > chained, "{:?}", j.stats);
    assert!(j.stats.lookups < lookups, "{:?}", j.stats);
}

/// A function reached only through `call eax` is rewritten (by DMA, so the caller stays): its
/// jump cache entry is emptied with it, and the caller's code runs the new function.
fn a_jump_cache_entry_into_a_dropped_block_is_emptied() {
    // CODE: top: mov eax, OTHER; call eax; dec ecx; jnz top; hlt    OTHER: add edx, 1; ret
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.mov(eax, OTHER)?;
        a.call(eax)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let make = || calling_add_one(&code);
    // Before the rewrite, the entry for OTHER leads to its block; dropping the page empties it.
    let mut c = make();
    let mut j = jit();
    assert_eq!(j.run(&mut c, 90), Stop::Budget);
    assert_ne!(j.jump_cache_entry(OTHER).cell.entry, 0);
    j.invalidate_page(&mut c, OTHER >> 12);
    assert_eq!(j.jump_cache_entry(OTHER), emu_jit::cache::JumpEntry::EMPTY);
    // The whole run, rewritten midway, agrees with the interpreter.
    let (a, _) = patch_midway(make, OTHER, |s| s.chained_in_code);
    // 15 calls of +1 (6 instructions each), then 85 of +16.
    assert_eq!(a.s.regs[2], 15 + 85 * 16);
}

/// A store from a block on another page rewrites the target of a computed call: the writing
/// block leaves through the SMC exit, and the next `call eax` runs the rewritten code, not the
/// jump cache's stale block.
fn a_store_into_a_jump_cache_target_is_seen() {
    // CODE: top: mov eax, CODE2; call eax; call OTHER; dec ecx; jnz top; hlt
    // CODE2 (page 3): add edx, 1 (83 C2 01); ret     OTHER: mov byte [CODE2 + 2], cl; ret
    const CODE2: u32 = 0x3000;
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.mov(eax, CODE2)?;
        a.call(eax)?;
        a.call(OTHER as u64)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let code2 = asm_at(32, CODE2, |a| {
        a.add(edx, 1u32)?;
        a.ret()
    });
    let other = asm_at(32, OTHER, |a| {
        a.mov(byte_ptr(CODE2 + 2), cl)?;
        a.ret()
    });
    let make = || {
        let mut c = flat32(&code);
        load(&mut c, CODE2, &code2);
        load(&mut c, OTHER, &other);
        c.s.regs[1] = 20;
        c
    };
    let (cpu, stop, _) = same_in_both(make, 10_000, "store into a jump cache target");
    assert_eq!(stop, Stop::Halted);
    // 1 + 20 + 19 + ... + 2
    assert_eq!(cpu.s.regs[2], 1 + (2..=20).sum::<u32>());
}

/// A loop on linear page 0x5000, whose branches are links within the page (chained without a
/// TLB check, see `translate`'s *Same-page links*), remaps that page to a copy of the loop with
/// another ADD immediate, with `remap` (INVLPG after the PTE write, or a CR3 load): the
/// instruction that changes the translation ends its block, and the next iteration runs the
/// copy.
fn same_page_loop_remapped(remap: impl Fn(&mut CodeAssembler) -> Result<(), IcedError>) -> Cpu {
    const PD: u32 = 0x20000;
    const PT: u32 = 0x21000;
    const PD2: u32 = 0x22000;
    const PT2: u32 = 0x23000;
    const L: u32 = 0x5000;
    let code = {
        let mut a = CodeAssembler::new(32).unwrap();
        let (mut top, mut skip) = (a.create_label(), a.create_label());
        a.set_label(&mut top).unwrap();
        a.add(edx, 1u32).unwrap();
        a.dec(ecx).unwrap();
        a.cmp(ecx, 30u32).unwrap();
        a.jne(skip).unwrap();
        remap(&mut a).unwrap();
        a.set_label(&mut skip).unwrap();
        a.test(ecx, ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
        a.assemble(L as u64).unwrap()
    };
    assert_eq!(code[..3], [0x83, 0xc2, 0x01]);
    let mut copy = code.clone();
    copy[2] = 16;
    let make = || {
        let mut c = flat32(&[]);
        load(&mut c, L, &code);
        load(&mut c, 0x6000, &copy);
        for (pd, pt, l_to) in [(PD, PT, L), (PD2, PT2, 0x6000)] {
            load(&mut c, pd, &(pt | 3).to_le_bytes());
            for p in 0..256u32 {
                let pte = if p == L >> 12 { l_to | 3 } else { (p << 12) | 3 };
                load(&mut c, pt + 4 * p, &pte.to_le_bytes());
            }
        }
        c.s.cr3 = PD;
        c.s.cr0 |= emu_cpu_x86::state::cr0::PG;
        c.s.eip = L;
        c.s.regs[1] = 100;
        c
    };
    let (cpu, stop, j) = same_in_both(make, 100_000, "remapped loop");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.chained_in_code > 100, "{:?}", j.stats);
    // 70 iterations of +1 from the page at 0x5000, 30 of +16 from its copy.
    assert_eq!(cpu.s.regs[2], 70 + 30 * 16);
    cpu
}

fn a_same_page_link_ends_at_invlpg() {
    same_page_loop_remapped(|a| {
        a.mov(dword_ptr(0x21000 + 4 * 5), 0x6003u32)?;
        a.invlpg(dword_ptr(0x5000))
    });
}

fn a_same_page_link_ends_at_a_cr3_load() {
    same_page_loop_remapped(|a| {
        a.mov(eax, 0x22000u32)?;
        a.mov(cr3, eax)
    });
}

/// A loop that is one block jumps back to its own start inside its function (no tail call, no
/// lookup but one per clock deadline), counted as chained runs, and still stops exactly at every
/// budget.
fn a_one_block_loop_chains_to_itself_and_stops_at_every_budget() {
    // top: add edx, ecx; dec ecx; jnz top; hlt
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(ecx, 1000u32)?;
        a.set_label(&mut top)?;
        a.add(edx, ecx)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let (cpu, stop, j) = same_in_both(|| flat32(&code), 100_000, "one-block loop");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[2], (1..=1000).sum::<u32>());
    assert!(j.stats.chained_in_code > 900, "{:?}", j.stats);
    assert!(j.stats.lookups < 3000 / 256 + 5, "{:?}", j.stats);
    for budget in (1..200).step_by(3) {
        let (cpu, _, _) = same_in_both(|| flat32(&code), budget, &format!("budget {budget}"));
        assert_eq!(cpu.s.icount, budget);
    }
}

/// A one-block loop that rewrites its own code: the store takes the slow path, chaining stops,
/// and the next iteration runs the new code.
fn a_one_block_loop_that_rewrites_itself_runs_the_new_code() {
    // top: add edx, 1 (83 C2 01); mov byte [top + 2], cl; dec ecx; jnz top; hlt
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.add(edx, 1u32)?;
        a.mov(byte_ptr(CODE + 2), cl)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    assert_eq!(code[..3], [0x83, 0xc2, 0x01]);
    let make = || {
        let mut c = flat32(&code);
        c.s.regs[1] = 20;
        c
    };
    let (cpu, stop, _) = same_in_both(make, 10_000, "self-rewriting loop");
    assert_eq!(stop, Stop::Halted);
    // 1 + 20 + 19 + ... + 2
    assert_eq!(cpu.s.regs[2], 1 + (2..=20).sum::<u32>());
}

/// A PUSH of an immediate and a CALL, each the only memory access of its instruction, write
/// the code that comes next in their own block: the block leaves through the instruction's
/// fault exit, the dispatcher runs the instruction in the interpreter
/// (`helpers::REDO_ON_CODE`), and the new code runs, with the count of retired instructions the
/// interpreter has.
fn a_push_or_call_onto_its_own_block_is_done_once_and_the_new_code_runs() {
    // mov esp, CODE + 14; push 0x2b8; mov eax, 1 (at CODE + 10, B8 01 00 00 00: the push
    // makes it `mov eax, 2`); mov esp, CODE + 31; call target; hlt
    // target: mov ebx, 7 (BB 07 00 00 00: the call's return address lands on its immediate)
    let code = asm(32, |a| {
        let mut target = a.create_label();
        a.mov(esp, CODE + 14)?;
        a.push(0x2b8u32)?;
        a.mov(eax, 1u32)?;
        a.mov(esp, CODE + 31)?;
        a.call(target)?;
        a.hlt()?;
        a.set_label(&mut target)?;
        a.mov(ebx, 7u32)?;
        a.hlt()
    });
    // The layout the addresses above assume.
    assert_eq!(code[10..15], [0xb8, 1, 0, 0, 0], "mov eax, 1 at CODE + 10");
    assert_eq!(code[26..31], [0xbb, 7, 0, 0, 0], "mov ebx, 7 at CODE + 26");
    let (cpu, stop, j) = same_in_both(|| flat32(&code), 1_000, "push and call onto their own block");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[0], 2, "the pushed immediate became MOV EAX's");
    // The return address (CODE + 25, after the 5-byte CALL at CODE + 20) became MOV EBX's.
    assert_eq!(cpu.s.regs[3], CODE + 25);
    assert_eq!(cpu.s.regs[4], CODE + 27, "ESP as the call left it");
    assert_eq!(j.stats.redone, 2, "both stores were left to the interpreter");
}

/// A MOV that overwrites its own first byte, and a CALL whose return address overwrites its
/// own displacement: each runs as the instruction it was when it started (the interpreter
/// runs it from the bytes the block was translated from, not from bytes the block wrote).
fn a_store_onto_its_own_instruction_runs_as_it_was() {
    // CODE: mov byte [CODE], 0xc3 (a RET, if it ran again from the new bytes); mov eax, 5;
    // mov esp, CODE + 22 (the end of the CALL); call target (at CODE + 17); hlt
    // target: mov ebx, 7; hlt
    let code = asm(32, |a| {
        let mut target = a.create_label();
        a.mov(byte_ptr(CODE), 0xc3u32)?;
        a.mov(eax, 5u32)?;
        a.mov(esp, CODE + 22)?;
        a.call(target)?;
        a.hlt()?;
        a.set_label(&mut target)?;
        a.mov(ebx, 7u32)?;
        a.hlt()
    });
    assert_eq!(code[17], 0xe8, "the CALL at CODE + 17");
    assert_eq!(code.len(), 29, "the CALL's return address is CODE + 22");
    let (cpu, stop, j) = same_in_both(|| flat32(&code), 1_000, "stores onto their own instruction");
    assert_eq!(stop, Stop::Halted);
    assert_eq!((cpu.s.regs[0], cpu.s.regs[3]), (5, 7));
    assert_eq!(cpu.s.eip, CODE + 29, "halted after MOV EBX");
    // (The baseline tier has no template for the byte store: the interpreter runs it in the
    // block, and leaves with SMC after it.)
    let redone = if baseline_on() { 1 } else { 2 };
    assert_eq!(j.stats.redone, redone, "the stores were left to the interpreter");
}

/// A loop calls a function on another linear page, X, through `call` (a direct CALL: a link
/// cell; or a CALL through ESI: the jump cache). Halfway, it remaps X to another physical page
/// (INVLPG after the PTE write) and calls, from another block, the page at `refill`: another
/// function in X, after which X's TLB entry maps it to the new page (so the link into the old
/// block has the right tag and the wrong physical address), or an alias of the old page, Y, whose translation takes
/// X's entry (the TLB is direct-mapped: the physical address is the old block's, the tag Y's).
/// Either way the loop's next call must not follow its link into the old block.
fn a_link_to_another_page_follows_its_remapping(
    call: impl Fn(&mut CodeAssembler, u32) -> Result<(), IcedError>,
    refill: Refill,
) {
    const PD: u32 = 0x10000;
    const PT: u32 = 0x11000;
    const PT2: u32 = 0x12000;
    const X: u32 = 0x40000;
    const OLD: u32 = X;
    const NEW: u32 = 0x42000;
    // X's TLB entry, four MiB on (`emu_cpu_x86::tlb::TLB_SIZE` pages).
    const Y: u32 = X + (emu_cpu_x86::tlb::TLB_SIZE as u32) * 0x1000;
    let code = asm(32, |a| {
        let (mut top, mut skip) = (a.create_label(), a.create_label());
        a.mov(ecx, 30u32)?;
        a.mov(esi, X)?;
        a.set_label(&mut top)?;
        call(a, X)?;
        a.add(edx, eax)?;
        a.cmp(ecx, 15u32)?;
        a.jne(skip)?;
        a.mov(dword_ptr(PT + 4 * (X >> 12)), NEW | 3)?;
        a.invlpg(byte_ptr(X))?;
        match refill {
            Refill::Again => a.call((X + 0x10) as u64)?,
            Refill::Alias => a.call(Y as u64)?,
        }
        a.add(edi, eax)?;
        a.set_label(&mut skip)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let func = |v: u32| {
        asm_at(32, X, |a| {
            a.mov(eax, v)?;
            a.ret()
        })
    };
    let make = || {
        let mut c = flat32(&code);
        for (page, v) in [(OLD, 1), (NEW, 100)] {
            load(&mut c, page, &func(v));
            load(&mut c, page + 0x10, &func(v));
        }
        load(&mut c, PD, &(PT | 3).to_le_bytes());
        load(&mut c, PD + 4 * (Y >> 22), &(PT2 | 3).to_le_bytes());
        for p in 0..256u32 {
            load(&mut c, PT + 4 * p, &((p << 12) | 3).to_le_bytes());
        }
        load(&mut c, PT2 + 4 * ((Y >> 12) & 0x3ff), &(OLD | 3).to_le_bytes());
        c.s.cr3 = PD;
        c.s.cr0 |= emu_cpu_x86::state::cr0::PG;
        c
    };
    let (cpu, stop, j) = same_in_both(make, 100_000, &format!("a call into a remapped page, {refill:?}"));
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.chained_in_code > 50, "{:?}", j.stats);
    // 16 calls of the old function from the loop, 14 of the new; one from the remapping block.
    assert_eq!(cpu.s.regs[2], 16 + 14 * 100);
    assert_eq!(cpu.s.regs[7], if refill == Refill::Again { 100 } else { 1 });
}

/// How [`a_link_to_another_page_follows_its_remapping`] has X's TLB entry filled again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refill {
    Again,
    Alias,
}

fn a_direct_call_into_a_remapped_page_runs_the_new_code() {
    for refill in [Refill::Again, Refill::Alias] {
        a_link_to_another_page_follows_its_remapping(|a, x| a.call(x as u64), refill);
    }
}

fn an_indirect_call_into_a_remapped_page_runs_the_new_code() {
    for refill in [Refill::Again, Refill::Alias] {
        a_link_to_another_page_follows_its_remapping(|a, _| a.call(esi), refill);
    }
}

/// The loop's code runs, in turn, from its page and from an alias of it 16 MiB up, whose
/// return addresses share jump cache entries and TLB entries with the page's (`cache::jump_index`,
/// `TLB_SIZE`) and whose blocks have the same physical addresses: a return to the alias finds
/// the page's block in the jump cache, which only its EIP tells apart. (The block there calls a
/// function that adds the return address it pushed to EDX.)
fn a_return_into_an_alias_of_its_page_runs_the_aliass_block() {
    const ALIAS: u32 = 16 << 20;
    const F: u32 = 0x5000;
    const G: u32 = 0x6000;
    let code = asm(32, |a| {
        let (mut top, mut done) = (a.create_label(), a.create_label());
        a.mov(ecx, 40u32)?;
        a.xor(ebx, ebx)?;
        a.set_label(&mut top)?;
        a.call(F as u64)?;
        // The return address: a block of one CALL.
        a.call(G as u64)?;
        a.dec(ecx)?;
        a.jz(done)?;
        a.xor(ebx, ALIAS)?;
        a.lea(eax, dword_ptr(ebx + CODE + 7))?;
        a.jmp(eax)?;
        a.set_label(&mut done)?;
        a.hlt()
    });
    assert_eq!((code[7], code[12]), (0xe8, 0xe8), "the loop's top at CODE + 7, its return address");
    let g = asm_at(32, G, |a| {
        a.pop(eax)?;
        a.add(edx, eax)?;
        a.jmp(eax)
    });
    assert_eq!(emu_jit::cache::jump_index(CODE + 12), emu_jit::cache::jump_index(ALIAS + CODE + 12));
    let make = || {
        let mut c = paged32(&code);
        load(&mut c, F, &[0xc3]); // ret
        load(&mut c, G, &g);
        // The first page table again, 16 MiB up.
        load(&mut c, 0x10000 + 4 * (ALIAS >> 22), &(0x11000u32 | 3).to_le_bytes());
        c
    };
    let (cpu, stop, j) = same_in_both(make, 100_000, "returns into an alias");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.chained_in_code > 50, "{:?}", j.stats);
    // 20 return addresses from each.
    let ret = CODE + 17;
    assert_eq!(cpu.s.regs[2], (20 * ret).wrapping_add(20 * (ALIAS + ret)));
}

/// A return into a block whose mode changed since its jump cache entry was made: the test moves
/// the CPU to CPL 3 between two runs, where the loop's read of a supervisor page faults. The
/// entry's block, made at CPL 0 (whose TLB set lets the read through), must not run.
fn a_return_into_a_block_of_another_mode_finds_the_right_one() {
    const F: u32 = 0x5000;
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(ebx, 0x3000u32)?;
        a.mov(ecx, 40u32)?;
        a.set_label(&mut top)?;
        a.call(F as u64)?;
        a.add(edx, dword_ptr(ebx))?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let make = || {
        let mut c = paged32(&code);
        load(&mut c, F, &[0xc3]); // ret
        load(&mut c, 0x3000, &1u32.to_le_bytes());
        // User pages, but the data at 0x3000.
        load(&mut c, 0x10000, &(0x11000u32 | 7).to_le_bytes());
        for p in 0..256u32 {
            let u = if p == 3 { 0 } else { 4 };
            load(&mut c, 0x11000 + 4 * p, &((p << 12) | 3 | u).to_le_bytes());
        }
        c
    };
    let (mut a, mut b) = (make(), make());
    let mut j = jit();
    assert_eq!(a.run(100), Stop::Budget);
    assert_eq!(j.run(&mut b, 100), Stop::Budget);
    assert!(j.stats.chained_in_code > 20, "{:?}", j.stats);
    for c in [&mut a, &mut b] {
        c.s.cpl = 3;
    }
    let (sa, sb) = (a.run(1000), j.run(&mut b, 1000));
    assert_eq!((sa, sb), (Stop::Shutdown, Stop::Shutdown), "the read at CPL 3 faults");
    assert_same(&a, &b, "at CPL 3");
    assert_eq!(a.s.eip, CODE + 15, "on the read");
}

/// Every test above (the `#[test]` functions that follow run them).
fn every_test_above() {
    chained_blocks_run_without_lookups_and_agree_with_the_interpreter();
    chained_runs_stop_at_the_budget();
    chaining_does_not_depend_on_the_counters();
    chaining_can_be_switched_off();
    links_die_with_invalidated_blocks();
    a_store_into_a_linked_block_is_seen();
    generated_code_chains_by_itself();
    a_link_cell_into_a_dropped_block_is_emptied();
    a_return_goes_where_its_address_says();
    a_chain_ending_in_a_block_cut_at_its_cap_links_the_right_exit();
    computed_branches_chain_through_the_jump_cache();
    a_jump_cache_entry_into_a_dropped_block_is_emptied();
    a_store_into_a_jump_cache_target_is_seen();
    a_same_page_link_ends_at_invlpg();
    a_same_page_link_ends_at_a_cr3_load();
    a_direct_call_into_a_remapped_page_runs_the_new_code();
    an_indirect_call_into_a_remapped_page_runs_the_new_code();
    a_return_into_an_alias_of_its_page_runs_the_aliass_block();
    a_return_into_a_block_of_another_mode_finds_the_right_one();
    a_one_block_loop_chains_to_itself_and_stops_at_every_budget();
    a_one_block_loop_that_rewrites_itself_runs_the_new_code();
    a_push_or_call_onto_its_own_block_is_done_once_and_the_new_code_runs();
    a_store_onto_its_own_instruction_runs_as_it_was();
}

#[test]
fn chaining_with_cranelift() {
    every_test_above();
}

/// The tests above again, with every block built by the baseline tier, whose code chains as
/// Cranelift's does.
#[test]
fn chaining_with_the_baseline_tier() {
    with_baseline(every_test_above);
}
