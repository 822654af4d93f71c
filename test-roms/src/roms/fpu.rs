//! The x87 FPU in protected mode: FINIT state, arithmetic with exact results, FSTSW, a masked
//! exception (zero divide gives infinity and sets ZE), an unmasked one delivered as #MF with
//! CR0.NE = 1 at the next waiting instruction, and #NM with CR0.EM.

use super::pm::{exc, Pm};
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

const M: u32 = 0x5c0; // scratch

pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("fpu: FINIT, arithmetic, FSTSW, masked and unmasked exceptions (#MF), #NM\n")?;
    let mut pm = Pm::new(&mut rom)?;
    pm.a.mov(eax, cr0)?;
    pm.a.and(eax, !0xcu32)?; // EM, TS off
    pm.a.or(eax, 0x22u32)?; // NE, MP
    pm.a.mov(cr0, eax)?;
    pm.a.fninit()?;
    pm.a.mov(eax, 0xffffu32)?;
    pm.a.fnstsw(ax)?;
    pm.eq32("FINIT clears the status word", eax, 0)?;
    pm.a.fnstcw(word_ptr(M))?;
    pm.a.movzx(eax, word_ptr(M))?;
    pm.eq32("FINIT sets the control word to 037F", eax, 0x37f)?;
    pm.a.fld1()?;
    pm.a.fld1()?;
    pm.a.faddp(st1, st0)?;
    pm.a.mov(dword_ptr(M), 5u32)?;
    pm.a.fimul(dword_ptr(M))?; // 10
    pm.a.mov(dword_ptr(M), 4u32)?;
    pm.a.fidiv(dword_ptr(M))?; // 2.5
    pm.a.fst(dword_ptr(M))?;
    pm.mem32("(1+1)*5/4 = 2.5", M, 0x4020_0000)?;
    pm.a.fistp(dword_ptr(M))?; // round to even: 2
    pm.mem32("FISTP rounds 2.5 to even", M, 2)?;
    pm.a.fldpi()?;
    pm.a.fstp(qword_ptr(M))?;
    pm.mem32("FLDPI low dword", M, 0x5444_2d18)?;
    pm.mem32("FLDPI high dword", M + 4, 0x4009_21fb)?;
    pm.a.fld1()?;
    pm.a.fsqrt()?;
    pm.a.fstp(dword_ptr(M))?;
    pm.mem32("FSQRT of 1", M, 0x3f80_0000)?;
    pm.a.fnstsw(ax)?;
    pm.a.and(eax, 0x3800u32)?;
    pm.eq32("the stack is empty again (TOP 0)", eax, 0)?;
    // Masked zero divide.
    pm.a.fld1()?;
    pm.a.fldz()?;
    pm.a.fdivp(st1, st0)?;
    pm.a.fnstsw(ax)?;
    pm.a.and(eax, 0x4u32)?;
    pm.eq32("a masked zero divide sets ZE", eax, 4)?;
    pm.a.fstp(dword_ptr(M))?;
    pm.mem32("a masked zero divide gives infinity", M, 0x7f80_0000)?;
    pm.mem32("a masked exception faults nothing", exc::COUNT, 0)?;
    // Unmasked: #MF at the next waiting instruction.
    pm.a.fnclex()?;
    pm.a.mov(word_ptr(M), 0x37bu32)?; // ZM clear
    pm.a.fldcw(word_ptr(M))?;
    pm.a.fld1()?;
    pm.a.fldz()?;
    pm.a.fdivp(st1, st0)?;
    pm.a.fnstsw(ax)?;
    pm.a.and(eax, 0x84u32)?;
    pm.eq32("an unmasked zero divide sets ZE and ES", eax, 0x84)?;
    pm.expect_fault("the next FWAIT with CR0.NE", 16, None, |a| a.wait())?;
    pm.a.fnclex()?;
    pm.a.fninit()?;
    // CR0.EM: #NM.
    pm.a.mov(eax, cr0)?;
    pm.a.or(eax, 4u32)?;
    pm.a.mov(cr0, eax)?;
    pm.expect_fault("FLD1 with CR0.EM", 7, None, |a| a.fld1())?;
    pm.a.mov(eax, cr0)?;
    pm.a.and(eax, !4u32)?;
    pm.a.mov(cr0, eax)?;
    pm.finish(rom)
}
