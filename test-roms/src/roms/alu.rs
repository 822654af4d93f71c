//! ADD ADC SUB SBB CMP AND OR XOR TEST INC DEC NEG NOT at 8, 16 and 32 bits, in register,
//! memory and immediate forms; results and the status flags (SDM Vol. 2 and Appendix B).
//!
//! Each case starts from one of two flag states: all status flags clear (`cf` false) or all set
//! (`cf` true), so that a flag an instruction leaves alone, or forgets to clear, shows. AF is
//! undefined after the logical operations and is masked out for them.

use super::flag::*;
use super::{set_flags, SCRATCH};
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;
use Op::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    Add,
    Adc,
    Sub,
    Sbb,
    Cmp,
    And,
    Or,
    Xor,
    Test,
    Inc,
    Dec,
    Neg,
    Not,
}

/// The flags a case starts from.
fn flags_in(all_set: bool) -> u16 {
    if all_set {
        STATUS | FIXED
    } else {
        FIXED
    }
}

/// Which operands the instruction gets: `r, r`; `[m], r`; `r, [m]`; `r, imm`; or the single
/// operand in a register or in memory.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    RegReg,
    MemReg,
    RegMem,
    RegImm,
}

/// (op, width, a, b, flags all set before, result (whole EAX), status flags after)
/// For one-operand instructions b is unused. The flags are those the SDM defines.
#[rustfmt::skip]
const CASES: &[(Op, u32, u32, u32, bool, u32, u16)] = &[
    (Add, 8, 0x7f, 0x1, false, 0x80, 0x890),
    (Add, 8, 0xff, 0x1, false, 0x0, 0x055),
    (Add, 8, 0x80, 0x80, true, 0x0, 0x845),
    (Add, 8, 0xf, 0x1, false, 0x10, 0x010),
    (Add, 8, 0x12, 0x34, true, 0x46, 0x000),
    (Add, 16, 0x7fff, 0x1, false, 0x8000, 0x894),
    (Add, 16, 0xffff, 0x1, true, 0x0, 0x055),
    (Add, 16, 0x1234, 0x4321, false, 0x5555, 0x004),
    (Add, 32, 0x7fffffff, 0x1, false, 0x80000000, 0x894),
    (Add, 32, 0xffffffff, 0x1, false, 0x0, 0x055),
    (Add, 32, 0x80000000, 0x80000000, true, 0x0, 0x845),
    (Add, 32, 0x12345678, 0xf0f0f0f, false, 0x21436587, 0x014),
    (Adc, 8, 0xff, 0x0, true, 0x0, 0x055),
    (Adc, 8, 0x7f, 0x0, true, 0x80, 0x890),
    (Adc, 8, 0x7f, 0x0, false, 0x7f, 0x000),
    (Adc, 16, 0xffff, 0xffff, true, 0xffff, 0x095),
    (Adc, 16, 0x7ffe, 0x1, true, 0x8000, 0x894),
    (Adc, 32, 0x7fffffff, 0x0, true, 0x80000000, 0x894),
    (Adc, 32, 0xffffffff, 0xffffffff, true, 0xffffffff, 0x095),
    (Sub, 8, 0x0, 0x1, false, 0xff, 0x095),
    (Sub, 8, 0x80, 0x1, true, 0x7f, 0x810),
    (Sub, 8, 0x10, 0x1, false, 0xf, 0x014),
    (Sub, 8, 0x5, 0x5, true, 0x0, 0x044),
    (Sub, 16, 0x8000, 0x1, false, 0x7fff, 0x814),
    (Sub, 16, 0x0, 0x1, false, 0xffff, 0x095),
    (Sub, 32, 0x80000000, 0x1, false, 0x7fffffff, 0x814),
    (Sub, 32, 0x0, 0x1, true, 0xffffffff, 0x095),
    (Sub, 32, 0x7fffffff, 0xffffffff, false, 0x80000000, 0x885),
    (Sbb, 8, 0x0, 0x0, true, 0xff, 0x095),
    (Sbb, 8, 0x80, 0x0, true, 0x7f, 0x810),
    (Sbb, 8, 0x10, 0xf, true, 0x0, 0x054),
    (Sbb, 16, 0x0, 0xffff, true, 0x0, 0x055),
    (Sbb, 16, 0x1, 0x0, true, 0x0, 0x044),
    (Sbb, 32, 0x80000000, 0x7fffffff, true, 0x0, 0x854),
    (Sbb, 32, 0x0, 0x0, true, 0xffffffff, 0x095),
    (Cmp, 8, 0x80, 0x7f, false, 0x80, 0x810),
    (Cmp, 8, 0x7f, 0x80, false, 0x7f, 0x885),
    (Cmp, 16, 0x1234, 0x1234, false, 0x1234, 0x044),
    (Cmp, 16, 0x1, 0x2, true, 0x1, 0x095),
    (Cmp, 32, 0x1, 0x2, false, 0x1, 0x095),
    (Cmp, 32, 0x80000000, 0x1, false, 0x80000000, 0x814),
    (And, 8, 0xf0, 0xf, true, 0x0, 0x044),
    (And, 8, 0xff, 0x81, false, 0x81, 0x084),
    (And, 16, 0xff00, 0x8f0f, true, 0x8f00, 0x084),
    (And, 32, 0xffffffff, 0x80000001, true, 0x80000001, 0x080),
    (Or, 8, 0x0, 0x0, true, 0x0, 0x044),
    (Or, 8, 0x40, 0x3, false, 0x43, 0x000),
    (Or, 16, 0x8000, 0x1, true, 0x8001, 0x080),
    (Or, 32, 0x0, 0x80000000, false, 0x80000000, 0x084),
    (Xor, 8, 0xff, 0xff, true, 0x0, 0x044),
    (Xor, 8, 0x55, 0xaa, false, 0xff, 0x084),
    (Xor, 16, 0x1234, 0x1234, false, 0x0, 0x044),
    (Xor, 32, 0x80000000, 0x3, true, 0x80000003, 0x084),
    (Test, 8, 0x80, 0x80, true, 0x80, 0x080),
    (Test, 8, 0xf, 0xf0, true, 0xf, 0x044),
    (Test, 16, 0x8001, 0x1, false, 0x8001, 0x000),
    (Test, 32, 0xffffffff, 0x80000000, false, 0xffffffff, 0x084),
    (Inc, 8, 0x7f, 0x0, true, 0x80, 0x891),
    (Inc, 8, 0xff, 0x0, false, 0x0, 0x054),
    (Inc, 8, 0xf, 0x0, false, 0x10, 0x010),
    (Inc, 16, 0xffff, 0x0, true, 0x0, 0x055),
    (Inc, 16, 0x7fff, 0x0, false, 0x8000, 0x894),
    (Inc, 32, 0x7fffffff, 0x0, false, 0x80000000, 0x894),
    (Inc, 32, 0xffffffff, 0x0, true, 0x0, 0x055),
    (Dec, 8, 0x80, 0x0, false, 0x7f, 0x810),
    (Dec, 8, 0x0, 0x0, true, 0xff, 0x095),
    (Dec, 8, 0x10, 0x0, false, 0xf, 0x014),
    (Dec, 16, 0x1, 0x0, true, 0x0, 0x045),
    (Dec, 32, 0x80000000, 0x0, true, 0x7fffffff, 0x815),
    (Dec, 32, 0x0, 0x0, false, 0xffffffff, 0x094),
    (Neg, 8, 0x0, 0x0, true, 0x0, 0x044),
    (Neg, 8, 0x80, 0x0, false, 0x80, 0x881),
    (Neg, 8, 0x1, 0x0, false, 0xff, 0x095),
    (Neg, 16, 0x8000, 0x0, false, 0x8000, 0x885),
    (Neg, 16, 0x10, 0x0, true, 0xfff0, 0x085),
    (Neg, 32, 0x1, 0x0, false, 0xffffffff, 0x095),
    (Neg, 32, 0x80000000, 0x0, true, 0x80000000, 0x885),
    (Not, 8, 0x5a, 0x0, false, 0xa5, 0x000),
    (Not, 8, 0x0, 0x0, true, 0xff, 0x8d5),
    (Not, 16, 0xff00, 0x0, false, 0xff, 0x000),
    (Not, 32, 0x12345678, 0x0, true, 0xedcba987, 0x8d5),
];

/// Emits `op` on the operands of `form` at `width`: the first operand is AL/AX/EAX or the
/// scratch memory, the second BL/BX/EBX, the scratch memory or the immediate `imm`.
fn emit(a: &mut CodeAssembler, op: Op, width: u32, form: Form, imm: u32) -> Result<(), IcedError> {
    let m = SCRATCH;
    macro_rules! two {
        ($f:ident) => {
            match (form, width) {
                (Form::RegReg, 8) => a.$f(al, bl),
                (Form::RegReg, 16) => a.$f(ax, bx),
                (Form::RegReg, _) => a.$f(eax, ebx),
                (Form::MemReg, 8) => a.$f(byte_ptr(m).es(), bl),
                (Form::MemReg, 16) => a.$f(word_ptr(m).es(), bx),
                (Form::MemReg, _) => a.$f(dword_ptr(m).es(), ebx),
                (Form::RegMem, 8) => a.$f(al, byte_ptr(m).es()),
                (Form::RegMem, 16) => a.$f(ax, word_ptr(m).es()),
                (Form::RegMem, _) => a.$f(eax, dword_ptr(m).es()),
                (Form::RegImm, 8) => a.$f(al, imm),
                (Form::RegImm, 16) => a.$f(ax, imm),
                (Form::RegImm, _) => a.$f(eax, imm),
            }
        };
    }
    macro_rules! one {
        ($f:ident) => {
            match (form, width) {
                (Form::MemReg, 8) => a.$f(byte_ptr(m).es()),
                (Form::MemReg, 16) => a.$f(word_ptr(m).es()),
                (Form::MemReg, _) => a.$f(dword_ptr(m).es()),
                (_, 8) => a.$f(al),
                (_, 16) => a.$f(ax),
                (_, _) => a.$f(eax),
            }
        };
    }
    match op {
        Add => two!(add),
        Adc => two!(adc),
        Sub => two!(sub),
        Sbb => two!(sbb),
        Cmp => two!(cmp),
        And => two!(and),
        Or => two!(or),
        Xor => two!(xor),
        // TEST r, r/m is TEST r/m, r (84, 85): the memory form always has the memory first.
        Test => match (form, width) {
            (Form::RegMem | Form::MemReg, 8) => a.test(byte_ptr(m).es(), bl),
            (Form::RegMem | Form::MemReg, 16) => a.test(word_ptr(m).es(), bx),
            (Form::RegMem | Form::MemReg, _) => a.test(dword_ptr(m).es(), ebx),
            (Form::RegReg, 8) => a.test(al, bl),
            (Form::RegReg, 16) => a.test(ax, bx),
            (Form::RegReg, _) => a.test(eax, ebx),
            (Form::RegImm, 8) => a.test(al, imm),
            (Form::RegImm, 16) => a.test(ax, imm),
            (Form::RegImm, _) => a.test(eax, imm),
        },
        Inc => one!(inc),
        Dec => one!(dec),
        Neg => one!(neg),
        Not => one!(not),
    }
}

/// Builds the ALU ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("alu: ADD ADC SUB SBB CMP AND OR XOR TEST INC DEC NEG NOT\n")?;
    let forms = [Form::RegReg, Form::MemReg, Form::RegMem, Form::RegImm];
    for (i, &(op, width, x, y, all_set, want, flags)) in CASES.iter().enumerate() {
        let one_operand = matches!(op, Inc | Dec | Neg | Not);
        let mut form = forms[i % forms.len()];
        // TEST has no `r, r/m` encoding distinct from `r/m, r`; one-operand forms are r or m.
        if (matches!(op, Test) && form == Form::RegMem) || (one_operand && form != Form::MemReg) {
            form = Form::RegReg;
        }
        let mask = match op {
            And | Or | Xor | Test => STATUS & !AF,
            _ => STATUS,
        };
        let tag = match form {
            Form::RegReg => "r,r",
            Form::MemReg => "m,r",
            Form::RegMem => "r,m",
            Form::RegImm => "r,i",
        };
        let name = format!("{op:?}{width} {tag} {x:#x},{y:#x} flags{}", if all_set { "=all" } else { "=0" });
        let a = &mut rom.a;
        a.mov(eax, x)?;
        a.mov(ebx, y)?;
        match (form, width) {
            (Form::MemReg, 8) => a.mov(byte_ptr(SCRATCH).es(), al)?,
            (Form::MemReg, 16) => a.mov(word_ptr(SCRATCH).es(), ax)?,
            (Form::MemReg, _) => a.mov(dword_ptr(SCRATCH).es(), eax)?,
            (Form::RegMem, _) => a.mov(dword_ptr(SCRATCH).es(), ebx)?,
            _ => {}
        }
        set_flags(a, flags_in(all_set))?;
        emit(a, op, width, form, y)?;
        match (form, width) {
            (Form::MemReg, 8) => a.mov(al, byte_ptr(SCRATCH).es())?,
            (Form::MemReg, 16) => a.mov(ax, word_ptr(SCRATCH).es())?,
            (Form::MemReg, _) => a.mov(eax, dword_ptr(SCRATCH).es())?,
            _ => {}
        }
        rom.check_flags(&format!("{name} flags"), mask, flags)?;
        rom.check_reg32(&name, eax, want)?;
    }

    // The high byte registers share AX: ADD AH, BH leaves AL alone.
    let a = &mut rom.a;
    a.mov(eax, 0x1234_80ffu32)?;
    a.mov(ebx, 0x0000_8001u32)?;
    set_flags(a, FIXED)?;
    a.add(ah, bh)?;
    rom.check_flags("add ah,bh flags", STATUS, OF | ZF | CF | PF)?;
    rom.check_reg32("add ah,bh", eax, 0x1234_00ff)?;
    // Sign-extended imm8 (83 /0): ADD AX, -1.
    rom.a.mov(eax, 0xaaaa_0005u32)?;
    rom.a.add(ax, 0xffffu32)?;
    rom.check_flags("add ax,-1 (83 /0) flags", STATUS, CF | AF)?;
    rom.check_reg32("add ax,-1 (83 /0)", eax, 0xaaaa_0004)?;
    // SUB EAX, imm8 sign-extended to 32 bits.
    rom.a.mov(eax, 0u32)?;
    rom.a.sub(eax, 0xffff_ff80u32)?;
    rom.check_flags("sub eax,-128 flags", STATUS, CF)?;
    rom.check_reg32("sub eax,-128", eax, 0x80)?;
    rom.finish()
}
