//! Fast forms: the commonest 32-bit instruction forms, run by a decoded run
//! ([`super::decoded`]) without the interpreter's general dispatch.
//!
//! [`exec`] finds an instruction's handler by its mnemonic, and the handler finds
//! its operands by their kinds ([`Cpu::get`], [`Cpu::set`]): a few matches, calls and results
//! passed through memory for every instruction, about 30 ns an instruction on the host that
//! measured it. A decoded run is made once and run hundreds of times, so it can classify each
//! instruction once, as it is made: [`Fast::of`] names the form (a register-to-register MOV, an
//! ALU operation on a register or on memory, a load, a push, a conditional jump, a shift by an
//! immediate, MOVZX, CMOVcc, SETcc...) with its registers and immediate, and
//! [`Cpu::exec_fast`] runs that form directly.
//!
//! Kernel code warming up is mostly such forms: on the Linux bench boot's initialisation, loads,
//! stores and register moves were a third of the instructions its decoded runs ran, conditional
//! jumps 9%, pushes and pops 11%, ALU operations on registers most of the rest; shifts and
//! rotates by an immediate 3%, and byte tests and compares, MOVZX, CMOVcc and compares with
//! memory under 1% each.
//!
//! **Invariant:** a fast form does exactly what [`exec`] does with the
//! instruction, in the same order (a fault leaves what the general path leaves): each arm here
//! is the general handler's code for that operand form, with the operand kinds and size known.
//! Only 32-bit code without an operand-size prefix has fast forms (so EIP needs no 16-bit wrap;
//! the 16-bit operand forms stay on the general path, but for MOVZX and MOVSX from a word); the
//! tests run every listed form, and every shape the decoder makes from a sweep of opcodes, both
//! ways and compare (`fast_tests`).

use super::exec;
use crate::cpu::Cpu;
use crate::decode::{Arg, Insn, Mnemonic as M};
use crate::fault::Res;
use crate::flags::{cond, CcOp, Size};

/// A fast form's source operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Src {
    Reg(u8),
    Imm(u32),
    /// The memory operand: 32 bits, but bytes in [`Fast::AluByte`] and the source's size in
    /// [`Fast::Extend`].
    Mem,
}

/// An instruction's fast form (see the module comment); registers are numbers 0-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fast {
    /// None: the general path.
    #[default]
    General,
    /// MOV r32, r32 / imm32 / m32.
    Mov(u8, Src),
    /// MOV m32, r32.
    Store(u8),
    /// MOV m32, imm32.
    StoreImm(u32),
    /// ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST with a 32-bit register destination.
    Alu(M, u8, Src),
    /// The same with a byte register destination (byte registers and memory; registers 4-7 are
    /// AH..BH).
    AluByte(M, u8, Src),
    /// The same with a 32-bit memory destination (the source a register or an immediate).
    AluMem(M, Src),
    /// MOVZX / MOVSX r32 from an 8- or 16-bit register or memory operand (`true`: sign-extend).
    Extend(bool, Size, u8, Src),
    /// ROL, ROR, RCL, RCR, SHL/SAL, SHR, SAR of a 32-bit register by an immediate count.
    Shift(M, u8, u32),
    /// CMOVcc r32, r32 / m32 (condition code).
    Cmov(u8, u8, Src),
    /// SETcc r8 (condition code, byte register).
    Set(u8, u8),
    /// INC r32, DEC r32.
    Inc(u8),
    Dec(u8),
    /// LEA r32, m.
    Lea(u8),
    /// PUSH r32, POP r32; PUSH imm32 / m32.
    Push(u8),
    Pop(u8),
    PushSrc(Src),
    /// Jcc rel8/rel32 (condition code, displacement).
    Jcc(u8, u32),
    /// JMP rel, CALL rel (displacement).
    Jmp(u32),
    Call(u32),
    /// RET (near, no immediate).
    Ret,
}

impl Fast {
    /// The fast form of `i`, decoded in 32-bit code if `code32`.
    pub fn of(i: &Insn, code32: bool) -> Fast {
        use Arg::{Imm, Mem, Reg, Rel};
        use Size::D;
        if !code32 || i.osize != D {
            return Fast::General;
        }
        let src = |a: Arg| match a {
            Reg(s, D) => Some(Src::Reg(s)),
            Imm(v) => Some(Src::Imm(v)),
            Mem(D) => Some(Src::Mem),
            _ => None,
        };
        // A source of `size` (8 or 16 bits; a register or memory operand of that size).
        let narrow = |a: Arg, size: Size| match a {
            Reg(s, z) if z == size => Some(Src::Reg(s)),
            Imm(v) => Some(Src::Imm(v)),
            Mem(z) if z == size => Some(Src::Mem),
            _ => None,
        };
        const ALU: [M; 9] = [M::Add, M::Or, M::Adc, M::Sbb, M::And, M::Sub, M::Xor, M::Cmp, M::Test];
        match (i.mnemonic, i.args[0], i.args[1]) {
            (M::Mov, Reg(d, D), a) => src(a).map_or(Fast::General, |s| Fast::Mov(d, s)),
            (M::Mov, Mem(D), Reg(s, D)) => Fast::Store(s),
            (M::Mov, Mem(D), Imm(v)) => Fast::StoreImm(v),
            (op, Reg(d, D), a) if ALU.contains(&op) => src(a).map_or(Fast::General, |s| Fast::Alu(op, d, s)),
            (op, Reg(d, Size::B), a) if ALU.contains(&op) => {
                narrow(a, Size::B).map_or(Fast::General, |s| Fast::AluByte(op, d, s))
            }
            (op, Mem(D), Reg(s, D)) if ALU.contains(&op) => Fast::AluMem(op, Src::Reg(s)),
            (op, Mem(D), Imm(v)) if ALU.contains(&op) => Fast::AluMem(op, Src::Imm(v)),
            (M::Movzx | M::Movsx, Reg(d, D), a @ (Reg(_, z) | Mem(z))) if z != D => {
                narrow(a, z).map_or(Fast::General, |s| Fast::Extend(i.mnemonic == M::Movsx, z, d, s))
            }
            (M::Rol | M::Ror | M::Rcl | M::Rcr | M::Shl | M::Sal | M::Shr | M::Sar, Reg(r, D), Imm(n)) => {
                Fast::Shift(i.mnemonic, r, n)
            }
            (M::Cmovcc, Reg(d, D), a @ (Reg(_, D) | Mem(D))) => {
                src(a).map_or(Fast::General, |s| Fast::Cmov(i.cc(), d, s))
            }
            (M::Setcc, Reg(r, Size::B), _) => Fast::Set(i.cc(), r),
            (M::Inc, Reg(r, D), _) => Fast::Inc(r),
            (M::Dec, Reg(r, D), _) => Fast::Dec(r),
            (M::Lea, Reg(d, D), Mem(_)) => Fast::Lea(d),
            (M::Push, Reg(r, D), _) => Fast::Push(r),
            (M::Pop, Reg(r, D), _) => Fast::Pop(r),
            (M::Push, a @ (Imm(_) | Mem(D)), _) => src(a).map_or(Fast::General, Fast::PushSrc),
            (M::Jcc, Rel(rel), _) => Fast::Jcc(i.cc(), rel),
            (M::Jmp, Rel(rel), _) => Fast::Jmp(rel),
            (M::Call, Rel(rel), _) => Fast::Call(rel),
            (M::Ret, Arg::Nil, _) => Fast::Ret,
            _ => Fast::General,
        }
    }
}

impl Cpu {
    /// Runs `i`, whose fast form is `f` ([`Fast::of`] in 32-bit code), as
    /// [`exec`] would: EIP is already the next instruction's.
    #[inline(always)]
    pub fn exec_fast(&mut self, f: Fast, i: &Insn) -> Res {
        const D: Size = Size::D;
        match f {
            Fast::General => exec(self, i),
            Fast::Mov(d, s) => {
                let v = self.fast_src(s, i)?;
                self.s.regs[d as usize] = v;
                Ok(())
            }
            Fast::Store(s) => self.write(i.seg, self.ea(i), D, self.s.regs[s as usize]),
            Fast::StoreImm(v) => self.write(i.seg, self.ea(i), D, v),
            Fast::Alu(op, d, s) => {
                let a = self.s.regs[d as usize];
                let b = self.fast_src(s, i)?;
                let (res, kind, src, cin) = super::alu::evaluate(&self.s, op, D, a, b);
                if !matches!(op, M::Cmp | M::Test) {
                    self.s.regs[d as usize] = res;
                }
                self.s.set_cc(kind, D, res, src, cin);
                Ok(())
            }
            Fast::AluByte(op, d, s) => {
                let size = Size::B;
                let a = self.reg(d, size);
                let b = match s {
                    Src::Reg(r) => self.reg(r, size),
                    Src::Imm(v) => v,
                    Src::Mem => self.read(i.seg, self.ea(i), size)?,
                };
                let (res, kind, src, cin) = super::alu::evaluate(&self.s, op, size, a, b);
                if !matches!(op, M::Cmp | M::Test) {
                    self.set_reg(d, size, res);
                }
                self.s.set_cc(kind, size, res, src, cin);
                Ok(())
            }
            Fast::AluMem(op, s) => {
                let ea = self.ea(i);
                let a = self.read(i.seg, ea, D)?;
                let b = self.fast_src(s, i)?;
                let (res, kind, src, cin) = super::alu::evaluate(&self.s, op, D, a, b);
                if !matches!(op, M::Cmp | M::Test) {
                    self.write(i.seg, ea, D, res)?; // a fault here leaves the flags as they were
                }
                self.s.set_cc(kind, D, res, src, cin);
                Ok(())
            }
            Fast::Extend(signed, size, d, s) => {
                let v = match s {
                    Src::Reg(r) => self.reg(r, size),
                    Src::Mem => self.read(i.seg, self.ea(i), size)?,
                    Src::Imm(v) => v, // (`Fast::of` makes none: there is no such instruction)
                };
                self.s.regs[d as usize] = if signed { size.sext(v) } else { v };
                Ok(())
            }
            Fast::Shift(op, r, n) => {
                let dst = self.s.regs[r as usize];
                if let Some((res, flags)) = super::shift::compute(op, D, dst, 0, n, self.s.eflags()) {
                    self.s.regs[r as usize] = res;
                    self.s.set_arith(flags);
                }
                Ok(())
            }
            Fast::Cmov(cc, d, s) => {
                // The source is read (and may fault) whether or not the condition holds.
                let v = self.fast_src(s, i)?;
                if cond(&self.s, cc) {
                    self.s.regs[d as usize] = v;
                }
                Ok(())
            }
            Fast::Set(cc, r) => {
                let v = cond(&self.s, cc) as u32;
                self.set_reg(r, Size::B, v);
                Ok(())
            }
            Fast::PushSrc(s) => {
                let v = self.fast_src(s, i)?;
                self.push(D, v)
            }
            Fast::Inc(r) | Fast::Dec(r) => {
                let old = self.s.regs[r as usize];
                let (res, kind) = match f {
                    Fast::Inc(_) => (old.wrapping_add(1), CcOp::INC),
                    _ => (old.wrapping_sub(1), CcOp::DEC),
                };
                self.s.regs[r as usize] = res;
                // INC and DEC leave CF as it was.
                let c = self.s.carry();
                self.s.set_cc(kind, D, res, 0, c);
                Ok(())
            }
            Fast::Lea(d) => {
                self.s.regs[d as usize] = self.ea(i);
                Ok(())
            }
            Fast::Push(r) => self.push(D, self.s.regs[r as usize]),
            Fast::Pop(r) => {
                let v = self.pop(D)?;
                self.s.regs[r as usize] = v;
                Ok(())
            }
            Fast::Jcc(cc, rel) => {
                if cond(&self.s, cc) {
                    self.jump_near(self.s.eip.wrapping_add(rel), D)?;
                }
                Ok(())
            }
            Fast::Jmp(rel) => self.jump_near(self.s.eip.wrapping_add(rel), D),
            Fast::Call(rel) => self.call_near(self.s.eip.wrapping_add(rel), D),
            Fast::Ret => self.ret_near(D, 0),
        }
    }

    /// The value of a fast form's source operand.
    #[inline(always)]
    fn fast_src(&mut self, s: Src, i: &Insn) -> Res<u32> {
        match s {
            Src::Reg(r) => Ok(self.s.regs[r as usize]),
            Src::Imm(v) => Ok(v),
            Src::Mem => self.read(i.seg, self.ea(i), Size::D),
        }
    }
}
