//! Virtual-8086 mode: entered by IRETD with EFLAGS.VM from ring 0, where real-mode addressing
//! applies (segment << 4), and left through the #GP handler when the V86 task executes INT n with
//! IOPL < 3 (the handler sees the V86 CS and EFLAGS.VM in its frame, and DS to GS zeroed).

use super::pm::{exc, Pm};
use crate::rom::{RomBuilder, RomError, ROM_SEGMENT};
use iced_x86::code_asm::*;

const MARK: u32 = 0x5c0;

pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("v86: into virtual-8086 mode by IRETD, out through #GP\n")?;
    // The V86 code: 16-bit, in the ROM segment.
    let v86 = rom.routine(|a| {
        a.mov(ax, cs)?;
        a.mov(word_ptr(0x1c2), ax)?; // DS = 0x40: linear 0x5c2
        a.mov(word_ptr(0x1c0), 0x8086u32)?; // linear 0x5c0
        a.pushf()?;
        a.pop(ax)?;
        a.mov(word_ptr(0x1c4), ax)?;
        a.int(0x30)?; // IOPL 0: #GP(0)
        a.mov(word_ptr(0x1c0), 0xbad0u32)?;
        let mut l = a.create_label();
        a.set_label(&mut l)?;
        a.jmp(l)
    })?;
    let mut pm = Pm::new(&mut rom)?;
    let mut back = pm.a.create_label();
    pm.a.mov(dword_ptr(MARK), 0u32)?;
    pm.a.mov(dword_ptr(MARK + 4), 0u32)?;
    pm.a.mov(dword_ptr(exc::SAVED_ESP), esp)?;
    pm.arm(back)?;
    pm.a.mov(dword_ptr(exc::ABANDON), 1u32)?;
    for v in [0u32, 0, 0x40, 0] {
        pm.a.push(v)?; // GS FS DS ES
    }
    pm.a.push(0u32)?; // SS
    pm.a.push(0x6000u32)?; // ESP
    pm.a.push(0x2_0002u32)?; // EFLAGS: VM, IOPL 0
    pm.a.push(ROM_SEGMENT as u32)?;
    pm.a.push(v86)?;
    pm.a.iretd()?;
    pm.a.set_label(&mut back)?;
    pm.a.movzx(eax, word_ptr(MARK))?;
    pm.eq32("the V86 task wrote through DS = 0x40 (linear 0x5c0)", eax, 0x8086)?;
    pm.a.movzx(eax, word_ptr(MARK + 2))?;
    pm.eq32("CS in V86 mode is the real-mode segment", eax, ROM_SEGMENT as u32)?;
    pm.a.movzx(eax, word_ptr(MARK + 4))?;
    pm.a.and(eax, 0x3000u32)?;
    pm.eq32("PUSHF in V86 mode shows IOPL 0", eax, 0)?;
    pm.mem32("INT n with IOPL < 3 raises #GP", exc::VECTOR, 13)?;
    pm.mem32("#GP from V86 has error code 0", exc::ERROR, 0)?;
    pm.mem32("the frame holds the V86 CS", exc::CS, ROM_SEGMENT as u32)?;
    pm.a.mov(eax, dword_ptr(exc::EFLAGS))?;
    pm.a.and(eax, 0x2_0000u32)?;
    pm.eq32("the frame's EFLAGS has VM", eax, 0x2_0000)?;
    pm.a.mov(eax, dword_ptr(exc::EIP))?;
    pm.a.cmp(eax, v86)?;
    pm.check("the frame's EIP points into the V86 code", |a, l| a.ja(l))?;
    pm.mem32("one exception", exc::COUNT, 1)?;
    pm.finish(rom)
}
