//! Block chaining: blocks go on to their linked successors without a lookup, links die with the
//! blocks they lead to, and chained runs stop exactly where the interpreter's would.

mod common;
use common::*;
use emu_cpu_x86::Stop;
use emu_jit::{Jit, Options};
use iced_x86::code_asm::*;

/// A loop of three blocks (a conditional branch, a call, a return) on one page.
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

#[test]
fn chained_blocks_run_without_lookups_and_agree_with_the_interpreter() {
    let code = calls_in_a_loop(1000);
    let (_, stop, j) = same_in_both(|| flat32(&code), 100_000, "calls in a loop");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.chained > 3000, "{:?}", j.stats);
    assert!(j.stats.lookups < j.stats.block_runs / 10, "{:?}", j.stats);
}

/// Chaining never runs past the budget: every budget ends both tiers on the same instruction.
#[test]
fn chained_runs_stop_at_the_budget() {
    let code = calls_in_a_loop(50);
    for budget in (1..400).step_by(7) {
        let (cpu, _, _) = same_in_both(|| flat32(&code), budget, &format!("budget {budget}"));
        assert_eq!(cpu.s.icount, budget);
    }
}

/// With chaining off (the measuring switch), the same run does lookups instead.
#[test]
fn chaining_can_be_switched_off() {
    let code = calls_in_a_loop(100);
    let mut c = flat32(&code);
    let mut j = Jit::new(Options { code_size: 1 << 20, chain: false, ..Options::default() }).unwrap();
    assert_eq!(j.run(&mut c, 100_000), Stop::Halted);
    assert_eq!(j.stats.chained, 0);
    let mut d = flat32(&code);
    assert_eq!(d.run(100_000), Stop::Halted);
    assert_same(&d, &c, "chaining off");
}

/// A loop body rewritten behind the CPU's back (DMA) between two runs: the links into the
/// dropped blocks no longer resolve, and the new code runs.
#[test]
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
    let (mut a, mut b) = (make(), make());
    let mut j = jit();
    assert_eq!(a.run(90), Stop::Budget);
    assert_eq!(j.run(&mut b, 90), Stop::Budget);
    assert!(j.stats.chained > 20, "{:?}", j.stats);
    for c in [&mut a, &mut b] {
        c.sys.write_bytes(CODE as u64 + 2, &[0x10]); // add edx, 16
    }
    assert_eq!(a.run(1000), Stop::Halted);
    assert_eq!(j.run(&mut b, 1000), Stop::Halted);
    assert_same(&a, &b, "after the rewrite");
    assert!(j.stats.invalidated_blocks > 0, "{:?}", j.stats);
    // 30 iterations of +1, then the rest of +16.
    assert_eq!(a.s.regs[2], 30 + 70 * 16);
}

/// A store from a block on another page rewrites the target of a chained branch: the writing
/// block leaves through the SMC exit (never chained), and the rewritten block is translated anew.
#[test]
fn a_store_into_a_linked_block_is_seen() {
    const OTHER: u32 = 0x4000;
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
    let other = {
        let mut a = CodeAssembler::new(32).unwrap();
        a.mov(byte_ptr(CODE + 2), cl).unwrap();
        a.ret().unwrap();
        a.assemble(OTHER as u64).unwrap()
    };
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
