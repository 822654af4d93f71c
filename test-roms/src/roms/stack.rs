//! PUSH and POP in all forms (registers, 32-bit registers, immediates, memory, segment
//! registers), PUSH SP (the value before the push, 286 and later), POP SP, PUSHA POPA PUSHAD
//! POPAD, PUSHF POPF PUSHFD POPFD (fixed bits, the ID bit), ENTER with nesting levels 0, 1 and 2,
//! LEAVE.
//!
//! Each group works on a stack at 0000:6000 and checks the memory afterwards through ES, with the
//! ROM's own stack (0000:7000) back in place.

use super::flag::*;
use super::set_flags;
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

const TOP: u32 = 0x6000;
const HOME: u32 = 0x7000;

/// Builds the stack ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("stack: PUSH POP PUSHA POPA PUSHF POPF ENTER LEAVE\n")?;

    // PUSH r16, r32, imm8 (sign-extended), imm16, m16, Sreg; then POP them back.
    let a = &mut rom.a;
    a.mov(sp, TOP)?;
    a.mov(ax, 0x1234u32)?;
    a.mov(ebx, 0x89ab_cdefu32)?;
    a.mov(word_ptr(0x5000u32).es(), 0x5a5au32)?;
    a.push(ax)?; // 5FFE
    a.push(ebx)?; // 5FFA
    a.push(0xfffeu32)?; // 6A FE: 5FF8
    a.push(0x1357u32)?; // 68: 5FF6
    a.push(word_ptr(0x5000u32).es())?; // 5FF4
    a.push(cs)?; // 5FF2
    a.push(es)?; // 5FF0
    a.mov(cx, sp)?;
    a.pop(word_ptr(0x5002u32).es())?; // ES (0)
    a.pop(dx)?; // CS
    a.pop(si)?; // 5a5a
    a.pop(edi)?; // FFFE:1357 as a dword: 0xfffe1357
    a.pop(ebp)?; // ebx
    a.pop(ax)?;
    a.mov(bx, sp)?;
    a.mov(sp, HOME)?;
    rom.check_reg16("sp after 7 pushes", cx, 0x5ff0)?;
    rom.check_reg16("sp after pops", bx, TOP as u16)?;
    rom.check_mem16("push r16", 0x5ffe, 0x1234)?;
    rom.check_mem32("push r32", 0x5ffa, 0x89ab_cdef)?;
    rom.check_mem16("push imm8 sign-extends", 0x5ff8, 0xfffe)?;
    rom.check_mem16("push imm16", 0x5ff6, 0x1357)?;
    rom.check_mem16("push m16", 0x5ff4, 0x5a5a)?;
    rom.check_mem16("push cs", 0x5ff2, 0xf000)?;
    rom.check_mem16("pop m16 (es)", 0x5002, 0)?;
    rom.check_reg16("pop r16 (cs)", dx, 0xf000)?;
    rom.check_reg16("pop r16 (m16)", si, 0x5a5a)?;
    rom.check_reg32("pop r32 across two pushes", edi, 0xfffe_1357)?;
    rom.check_reg32("pop r32", ebp, 0x89ab_cdef)?;
    rom.check_reg16("pop r16", ax, 0x1234)?;

    // POP Sreg: push a value, pop it into DS, ES, FS, GS.
    let a = &mut rom.a;
    a.push(0x2345u32)?;
    a.pop(fs)?;
    a.push(0x3456u32)?;
    a.pop(gs)?;
    a.push(0x4567u32)?;
    a.pop(ds)?;
    a.mov(ax, ds)?;
    a.push(cs)?;
    a.pop(ds)?;
    rom.check_reg16("pop ds", ax, 0x4567)?;
    rom.a.mov(ax, fs)?;
    rom.check_reg16("pop fs", ax, 0x2345)?;
    rom.a.mov(ax, gs)?;
    rom.check_reg16("pop gs", ax, 0x3456)?;

    // PUSH SP pushes the value SP had before the push; POP SP loads SP from the stack.
    let a = &mut rom.a;
    a.mov(sp, TOP)?;
    a.push(sp)?;
    a.mov(cx, word_ptr(0x5ffeu32).es())?;
    a.mov(word_ptr(0x5ffcu32).es(), 0x5800u32)?;
    a.sub(sp, 2u32)?;
    a.pop(sp)?;
    a.mov(bx, sp)?;
    a.mov(sp, TOP)?;
    a.push(esp)?;
    a.mov(sp, HOME)?;
    rom.check_reg16("push sp pushes the old sp", cx, TOP as u16)?;
    rom.check_reg16("pop sp", bx, 0x5800)?;
    rom.check_mem32("push esp pushes the old esp", 0x5ffc, TOP)?;

    // PUSHA: AX CX DX BX SP(original) BP SI DI; POPA skips SP.
    let a = &mut rom.a;
    a.mov(sp, TOP)?;
    for (i, r) in [ax, cx, dx, bx, bp, si, di].into_iter().enumerate() {
        a.mov(r, 0x1111 * (i as u32 + 1))?;
    }
    a.pusha()?;
    a.mov(word_ptr(0x5ff6u32).es(), 0x0badu32)?; // the saved SP: ignored by POPA
    a.mov(word_ptr(0x5ffeu32).es(), 0xaaaau32)?; // the saved AX
    for r in [ax, cx, dx, bx, bp, si, di] {
        a.xor(r, r)?;
    }
    a.popa()?;
    a.mov(word_ptr(0x5000u32).es(), sp)?;
    a.mov(sp, HOME)?;
    rom.check_mem16("pusha: sp slot", 0x5ff6, 0x0bad)?;
    rom.check_mem16("pusha: di last", 0x5ff0, 0x7777)?;
    rom.check_mem16("pusha: bx", 0x5ff8, 0x4444)?;
    rom.check_mem16("popa: sp", 0x5000, TOP as u16)?;
    rom.check_reg16("popa: ax", ax, 0xaaaa)?;
    rom.check_reg16("popa: cx", cx, 0x2222)?;
    rom.check_reg16("popa: bp", bp, 0x5555)?;
    rom.check_reg16("popa: di", di, 0x7777)?;
    // PUSHAD / POPAD: 32-bit registers, ESP as it was.
    let a = &mut rom.a;
    a.mov(esp, TOP)?;
    a.mov(eax, 0xa000_0001u32)?;
    a.mov(esi, 0xa000_0007u32)?;
    a.pushad()?;
    a.mov(word_ptr(0x5000u32).es(), sp)?;
    a.xor(eax, eax)?;
    a.xor(esi, esi)?;
    a.popad()?;
    a.mov(bx, sp)?;
    a.mov(sp, HOME)?;
    rom.check_mem16("pushad sp", 0x5000, TOP as u16 - 32)?;
    rom.check_mem32("pushad eax first", 0x5ffc, 0xa000_0001)?;
    rom.check_mem32("pushad esp", 0x5fec, TOP)?;
    rom.check_reg32("popad eax", eax, 0xa000_0001)?;
    rom.check_reg32("popad esi", esi, 0xa000_0007)?;
    rom.check_reg16("popad sp", bx, TOP as u16)?;

    // PUSHF / POPF: bits 1 (one), 3, 5 and 15 (zero) are fixed; DF, IOPL, NT and the status
    // flags load in real mode (IF and TF stay clear here: no interrupts, no single-step).
    let a = &mut rom.a;
    a.push(0xffffu32 & !(IF as u32 | 0x100))?;
    a.popf()?;
    a.pushf()?;
    a.pop(ax)?;
    a.cld()?;
    rom.check_reg16("popf fcff: fixed bits", ax, 0x7cd7)?;
    rom.a.push(0x802au32)?;
    rom.a.popf()?;
    rom.a.pushf()?;
    rom.a.pop(ax)?;
    rom.check_reg16("popf 802a: fixed bits", ax, 0x0002)?;
    // POPFD / PUSHFD: the ID bit (21) can be toggled on a CPU with CPUID; RF pushes as 0.
    let a = &mut rom.a;
    a.mov(eax, 0x0021_0002u32)?;
    a.push(eax)?;
    a.db(&[0x66, 0x9d])?; // popfd
    a.db(&[0x66, 0x9c])?; // pushfd
    a.pop(eax)?;
    rom.check_reg32("popfd/pushfd: ID kept, RF clear", eax, 0x0020_0002)?;
    set_flags(&mut rom.a, FIXED)?;
    rom.a.db(&[0x66, 0x9c])?; // pushfd
    rom.a.pop(eax)?;
    rom.check_reg32("16-bit popf keeps ID", eax, 0x0020_0002)?;
    rom.a.mov(eax, 0x0000_0002u32)?;
    rom.a.push(eax)?;
    rom.a.db(&[0x66, 0x9d])?; // popfd
    rom.a.db(&[0x66, 0x9c])?; // pushfd
    rom.a.pop(eax)?;
    rom.check_reg32("popfd clears ID", eax, 0x0000_0002)?;

    // ENTER 8,0: push bp; bp = sp; sp -= 8. LEAVE: sp = bp; pop bp.
    let a = &mut rom.a;
    a.mov(sp, TOP)?;
    a.mov(bp, 0x1234u32)?;
    a.enter(8u32, 0u32)?;
    a.mov(bx, sp)?;
    a.mov(cx, bp)?;
    a.leave()?;
    a.mov(dx, sp)?;
    a.mov(sp, HOME)?;
    rom.check_reg16("enter 8,0: sp", bx, 0x5ff6)?;
    rom.check_reg16("enter 8,0: bp", cx, 0x5ffe)?;
    rom.check_mem16("enter 8,0: saved bp", 0x5ffe, 0x1234)?;
    rom.check_reg16("leave: sp", dx, TOP as u16)?;
    rom.check_reg16("leave: bp", bp, 0x1234)?;
    // ENTER 0,1: push bp; push the new frame pointer.
    let a = &mut rom.a;
    a.mov(sp, TOP)?;
    a.mov(bp, 0x4444u32)?;
    a.enter(0u32, 1u32)?;
    a.mov(bx, sp)?;
    a.mov(cx, bp)?;
    a.mov(sp, HOME)?;
    rom.check_reg16("enter 0,1: sp", bx, 0x5ffc)?;
    rom.check_reg16("enter 0,1: bp", cx, 0x5ffe)?;
    rom.check_mem16("enter 0,1: frame pointer", 0x5ffc, 0x5ffe)?;
    // ENTER 4,2: push bp; copy one frame pointer from the outer frame ([bp-2]); push the new one.
    let a = &mut rom.a;
    a.mov(word_ptr(0x57feu32).es(), 0xaaaau32)?;
    a.mov(sp, TOP)?;
    a.mov(bp, 0x5800u32)?;
    a.enter(4u32, 2u32)?;
    a.mov(bx, sp)?;
    a.mov(cx, bp)?;
    a.mov(sp, HOME)?;
    rom.check_reg16("enter 4,2: sp", bx, 0x5ff6)?;
    rom.check_reg16("enter 4,2: bp", cx, 0x5ffe)?;
    rom.check_mem16("enter 4,2: saved bp", 0x5ffe, 0x5800)?;
    rom.check_mem16("enter 4,2: outer frame pointer", 0x5ffc, 0xaaaa)?;
    rom.check_mem16("enter 4,2: frame pointer", 0x5ffa, 0x5ffe)?;
    rom.finish()
}
