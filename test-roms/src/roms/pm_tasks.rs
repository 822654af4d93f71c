//! Hardware task switching: JMP to a TSS and back (busy bits moved, registers saved and
//! restored), CALL to a TSS (back link, NT, the caller stays busy) and IRET with NT back, and
//! #GP for a CALL to a busy task.

use super::pm::{addr_of, desc, Pm, CODE32, DATA32, GDT, TSS0, TSS0_SEL, TSS1};
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

const TSS1_SEL: u16 = 0x40;
const SEEN: u32 = 0x5c0;

/// Fills TSS1 for a task starting at the address in EAX.
fn task1(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(dword_ptr(TSS1 + 0x20), eax)?; // EIP
    a.mov(dword_ptr(TSS1 + 0x24), 2u32)?; // EFLAGS
    a.mov(dword_ptr(TSS1 + 0x38), 0x5000u32)?; // ESP
    a.mov(dword_ptr(TSS1 + 0x28), 0u32)?; // EAX
    for off in [0x48, 0x50, 0x54, 0x58, 0x5c] {
        a.mov(dword_ptr(TSS1 + off), DATA32 as u32)?; // ES SS DS FS GS
    }
    a.mov(dword_ptr(TSS1 + 0x4c), CODE32 as u32)?;
    a.mov(dword_ptr(TSS1 + 0x60), 0u32)?; // LDT
    a.mov(eax, cr3)?;
    a.mov(dword_ptr(TSS1 + 0x1c), eax)
}

pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("pm_tasks: task switches by JMP, CALL and IRET with NT\n")?;
    let mut pm = Pm::new(&mut rom)?;
    pm.gdt(TSS1_SEL, desc(TSS1, 0x67, 0x89, 0));
    let busy = |sel: u16| GDT + sel as u32 + 5;
    let (mut t1, mut t1b, mut done) = (pm.a.create_label(), pm.a.create_label(), pm.a.create_label());

    // JMP to task 1, which records and JMPs back.
    addr_of(&mut pm.a, eax, t1)?;
    task1(&mut pm.a)?;
    pm.a.mov(ebx, 0x1234_5678u32)?;
    pm.a.jmp_far(TSS1_SEL, 0)?;
    pm.eq32("JMP back restores the old task's registers", ebx, 0x1234_5678)?;
    pm.a.str(ax)?;
    pm.a.movzx(eax, ax)?;
    pm.eq32("TR is the first task again", eax, TSS0_SEL as u32)?;
    pm.mem32("task 1 ran with TR = its TSS", SEEN, TSS1_SEL as u32)?;
    pm.mem32("task 1: EAX from its TSS", SEEN + 4, 0)?;
    pm.a.movzx(eax, byte_ptr(SEEN + 8))?;
    pm.eq32("JMP marks the new TSS busy", eax, 0x8b)?;
    pm.a.movzx(eax, byte_ptr(SEEN + 9))?;
    pm.eq32("JMP clears the old TSS's busy bit", eax, 0x89)?;
    pm.a.movzx(eax, byte_ptr(busy(TSS1_SEL)))?;
    pm.eq32("JMP away from task 1 clears its busy bit", eax, 0x89)?;
    pm.mem32("task 1's EBX saved in its TSS", TSS1 + 0x34, 0xdead_beef)?;

    // CALL task 1 (restarted at t1b), which IRETs back.
    addr_of(&mut pm.a, eax, t1b)?;
    task1(&mut pm.a)?;
    pm.a.call_far(TSS1_SEL, 0)?;
    pm.a.pushfd()?;
    pm.a.pop(eax)?;
    pm.a.and(eax, 0x4000u32)?;
    pm.eq32("the caller's NT stays clear", eax, 0)?;
    pm.mem32("CALL sets NT in the new task", SEEN + 16, 0x4000)?;
    pm.mem32("CALL writes the back link", SEEN + 20, TSS0_SEL as u32)?;
    pm.a.movzx(eax, byte_ptr(SEEN + 24))?;
    pm.eq32("CALL keeps the caller busy", eax, 0x8b)?;
    pm.a.movzx(eax, byte_ptr(busy(TSS1_SEL)))?;
    pm.eq32("IRET clears the returning task's busy bit", eax, 0x89)?;
    pm.a.movzx(eax, byte_ptr(busy(TSS0_SEL)))?;
    pm.eq32("the caller is still busy after IRET", eax, 0x8b)?;
    pm.expect_fault("CALL to a busy task", 13, Some(TSS0_SEL as u32), |a| a.call_far(TSS0_SEL, 0))?;
    pm.a.jmp(done)?;

    // Task 1, first entry.
    pm.a.set_label(&mut t1)?;
    pm.a.str(bx)?;
    pm.a.movzx(ebx, bx)?;
    pm.a.mov(dword_ptr(SEEN), ebx)?;
    pm.a.mov(dword_ptr(SEEN + 4), eax)?;
    pm.a.mov(al, byte_ptr(busy(TSS1_SEL)))?;
    pm.a.mov(byte_ptr(SEEN + 8), al)?;
    pm.a.mov(al, byte_ptr(busy(TSS0_SEL)))?;
    pm.a.mov(byte_ptr(SEEN + 9), al)?;
    pm.a.mov(ebx, 0xdead_beefu32)?;
    pm.a.jmp_far(TSS0_SEL, 0)?;

    // Task 1, second entry (by CALL).
    pm.a.set_label(&mut t1b)?;
    pm.a.pushfd()?;
    pm.a.pop(eax)?;
    pm.a.and(eax, 0x4000u32)?;
    pm.a.mov(dword_ptr(SEEN + 16), eax)?;
    pm.a.movzx(eax, word_ptr(TSS1))?;
    pm.a.mov(dword_ptr(SEEN + 20), eax)?;
    pm.a.mov(al, byte_ptr(busy(TSS0_SEL)))?;
    pm.a.mov(byte_ptr(SEEN + 24), al)?;
    pm.a.iretd()?;

    pm.a.set_label(&mut done)?;
    pm.mem32("the first task's TSS holds a back link only when called", TSS0, 0)?;
    pm.finish(rom)
}
