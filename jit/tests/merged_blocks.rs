//! Blocks that go on across a direct JMP or CALL into their own page, and across a RET whose
//! return address a CALL of the same block pushed (`translate::scan`): precise faults, the
//! prediction failing, self-modifying code in the merged part, budgets ending inside.

mod common;
use common::*;
use emu_cpu_x86::{Cpu, Stop};
use emu_jit::translate::{scan, MAX_BLOCK_INSNS};
use iced_x86::code_asm::*;

/// The EIPs of the block `scan` decodes at the machine's CS:EIP.
fn block_eips(mut c: Cpu) -> Vec<u32> {
    scan(&mut c, MAX_BLOCK_INSNS).eips
}

/// One block: a JMP over junk, a CALL of a leaf and its RET, then a load that page-faults.
/// The fault leaves every register as at the faulting load, ESP as after the RET.
#[test]
fn a_fault_after_a_merged_jump_call_and_return_is_precise() {
    let code = asm(32, |a| {
        let (mut over, mut func) = (a.create_label(), a.create_label());
        a.mov(ebx, 5u32)?; // 1000
        a.jmp(over)?; // 1005
        a.int3()?; // junk
        a.int3()?;
        a.set_label(&mut func)?;
        a.inc(edi)?; // 1009
        a.ret()?; // 100a
        a.set_label(&mut over)?;
        a.call(func)?; // 100b
        a.add(esi, 1u32)?; // 1010
        a.mov(ecx, dword_ptr(0x50004))?; // 1013: page 0x50 is not present
        a.mov(edx, 9u32)?;
        a.hlt()
    });
    let eips = block_eips(paged32(&code));
    assert_eq!(eips[..8], [0x1000, 0x1005, 0x100b, 0x1009, 0x100a, 0x1010, 0x1013, 0x1019], "{eips:x?}");
    let (cpu, _, j) = same_in_both(|| paged32(&code), 1000, "#PF after a merged JMP");
    assert_eq!(cpu.s.cr2, 0x50004);
    assert_eq!(cpu.s.eip, 0x1013, "EIP of the faulting load");
    assert_eq!(cpu.s.icount, 7, "the faulting instruction counts, as in Cpu::step");
    assert_eq!((cpu.s.regs[3], cpu.s.regs[7], cpu.s.regs[6]), (5, 1, 1));
    assert_eq!(cpu.s.regs[4], 0x80000, "the RET popped what the CALL pushed");
    assert_eq!((cpu.s.regs[1], cpu.s.regs[2]), (0, 0), "nothing after the fault ran");
    assert_eq!(j.stats.block_runs, 1, "{:?}", j.stats);
}

/// A CALL whose target is on the next page ends its block (the block's key covers one page).
#[test]
fn a_call_to_the_next_page_is_not_merged() {
    let code = asm(32, |a| {
        let mut func = a.create_label();
        a.mov(eax, 1u32)?;
        a.call(func)?;
        a.add(eax, 2u32)?;
        a.hlt()?;
        a.db(&[0x90; 0x1000])?;
        a.set_label(&mut func)?; // on page 0x2000
        a.shl(eax, 4)?;
        a.ret()
    });
    assert_eq!(block_eips(flat32(&code)), [0x1000, 0x1005]);
    let (cpu, stop, _) = same_in_both(|| flat32(&code), 1000, "call to the next page");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[0], 0x12);
}

/// A RET whose return address the callee replaced every other time: the block at the CALL
/// holds the RET and its predicted continuation; when the prediction fails it leaves for the
/// address popped.
#[test]
fn a_return_to_another_address_leaves_the_block() {
    let code = asm(32, |a| {
        let (mut func, mut again, mut other) = (a.create_label(), a.create_label(), a.create_label());
        a.mov(ecx, 21u32)?; // 1000
        a.set_label(&mut again)?;
        a.call(func)?; // 1005
        a.dec(ecx)?; // 100a: the predicted return address
        a.jnz(again)?;
        a.hlt()?;
        a.set_label(&mut other)?;
        a.sub(edx, 1000u32)?;
        a.dec(ecx)?;
        a.jnz(again)?;
        a.hlt()?;
        a.set_label(&mut func)?;
        a.add(edx, ecx)?;
        a.mov(ebx, 0x100eu32)?; // `other`
        a.mov(eax, dword_ptr(esp))?;
        a.test(cl, 1u32)?;
        a.cmovnz(eax, ebx)?; // odd ECX: return to `other`
        a.mov(dword_ptr(esp), eax)?;
        a.ret()
    });
    assert_eq!(code[0xe..0x10], [0x81, 0xea], "SUB EDX, imm32 at 100e");
    let mut c = flat32(&code);
    c.s.eip = 0x1005;
    let eips = block_eips(c);
    assert_eq!(eips[eips.len() - 2..], [0x100a, 0x100b], "the RET is merged: {eips:x?}");
    let (cpu, stop, _) = same_in_both(|| flat32(&code), 10_000, "replaced return address");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[2], (1..=21).sum::<u32>().wrapping_sub(11 * 1000), "11 odd values");
    assert_eq!(cpu.s.regs[4], 0x80000);
}

/// Stores into the merged part of the running block: before the JMP that leads there (seen
/// at once), and by a CALL's push onto the code page (the block leaves at the CALL's target).
#[test]
fn stores_into_the_merged_part_are_seen() {
    let code = asm(32, |a| {
        let (mut top, mut target) = (a.create_label(), a.create_label());
        a.mov(ecx, 3u32)?; // 1000
        a.set_label(&mut top)?;
        a.mov(byte_ptr(0x1011), cl)?; // 1005: the MOV EBX's immediate
        a.jmp(target)?; // 100b
        a.int3()?;
        a.int3()?;
        a.int3()?;
        a.set_label(&mut target)?;
        a.mov(ebx, 0u32)?; // 1010
        a.add(eax, ebx)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    assert_eq!(code[0x10..0x12], [0xbb, 0x00], "MOV EBX, imm32 at 1010");
    let (cpu, stop, j) = same_in_both(|| flat32(&code), 1000, "store before the JMP");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[0], 6, "3 + 2 + 1");
    assert!(j.stats.invalidated_blocks > 0, "{:?}", j.stats);

    let code = asm(32, |a| {
        let mut func = a.create_label();
        a.mov(esp, 0x1800u32)?; // the stack is on the code page
        a.call(func)?;
        a.add(eax, 2u32)?;
        a.hlt()?;
        a.set_label(&mut func)?;
        a.mov(eax, 5u32)?;
        a.ret()
    });
    let (cpu, stop, j) = same_in_both(|| flat32(&code), 1000, "CALL pushing onto the code page");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[0], 7);
    assert!(j.stats.invalidated_blocks > 0, "{:?}", j.stats);
}

/// Every budget ends the run where the interpreter's ends, also inside a merged block; a block
/// of many calls stops at the length cap, counting every instruction.
#[test]
fn budgets_end_inside_merged_blocks() {
    let code = asm(32, |a| {
        let (mut func, mut top) = (a.create_label(), a.create_label());
        a.mov(ecx, 3u32)?;
        a.set_label(&mut top)?;
        for _ in 0..30 {
            a.call(func)?;
            a.add(edx, 1u32)?;
        }
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()?;
        a.set_label(&mut func)?;
        a.add(eax, ecx)?;
        a.ret()
    });
    let eips = block_eips(flat32(&code));
    assert_eq!(eips.len(), MAX_BLOCK_INSNS, "merged up to the cap");
    for budget in 1..200 {
        let (cpu, _, _) = same_in_both(|| flat32(&code), budget, &format!("budget {budget}"));
        assert_eq!(cpu.s.icount, budget);
    }
    let (cpu, stop, j) = same_in_both(|| flat32(&code), 100_000, "to the end");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[0], 30 * (3 + 2 + 1));
    assert!(j.stats.jit_insns > 300, "{:?}", j.stats);
}

/// The tests above again, with every block built by the baseline tier.
#[test]
fn merged_blocks_with_the_baseline_tier() {
    with_baseline(|| {
        a_fault_after_a_merged_jump_call_and_return_is_precise();
        a_call_to_the_next_page_is_not_merged();
        a_return_to_another_address_leaves_the_block();
        stores_into_the_merged_part_are_seen();
        budgets_end_inside_merged_blocks();
    });
}
