//! Binary arithmetic and logic (SDM Vol. 1, 7.3.2 and 7.3.5): ADD, ADC, SUB, SBB, CMP, AND, OR,
//! XOR, TEST, INC, DEC, NEG, NOT. Flags are recorded lazily (see [`crate::flags`]).

use crate::cpu::Cpu;
use crate::decode::{Insn, Mnemonic as M};
use crate::fault::Res;
use crate::flags::{CcOp, Size};
use crate::state::CpuState;

/// Computes `a op b` at `size`, records the flags, and returns the result (CMP and TEST
/// compute like SUB and AND; the caller does not write their result back).
#[inline]
pub fn compute(s: &mut CpuState, op: M, size: Size, a: u32, b: u32) -> u32 {
    let (res, kind, b, cin) = evaluate(s, op, size, a, b);
    s.set_cc(kind, size, res, b, cin);
    res
}

/// `a op b` at `size` without touching the state: (result, cc kind, cc_src, cc_src2).
#[inline]
pub fn evaluate(s: &CpuState, op: M, size: Size, a: u32, b: u32) -> (u32, u32, u32, u32) {
    let m = size.mask();
    let (a, b) = (a & m, b & m);
    let (kind, res, cin) = match op {
        M::Add => (CcOp::ADD, a.wrapping_add(b), 0),
        M::Adc => {
            let c = s.carry();
            (CcOp::ADC, a.wrapping_add(b).wrapping_add(c), c)
        }
        M::Sub | M::Cmp => (CcOp::SUB, a.wrapping_sub(b), 0),
        M::Sbb => {
            let c = s.carry();
            (CcOp::SBB, a.wrapping_sub(b).wrapping_sub(c), c)
        }
        M::And | M::Test => (CcOp::LOGIC, a & b, 0),
        M::Or => (CcOp::LOGIC, a | b, 0),
        M::Xor => (CcOp::LOGIC, a ^ b, 0),
        _ => unreachable!("{op:?} is not a binary ALU operation"),
    };
    (res & m, kind, b, cin)
}

/// ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST: `dst = dst op src`.
pub fn binary(cpu: &mut Cpu, i: &Insn) -> Res {
    let size = Cpu::size_of(i, 0);
    let a = cpu.get(i, 0)?;
    let b = cpu.get(i, 1)?;
    let (res, kind, src, cin) = evaluate(&cpu.s, i.mnemonic, size, a, b);
    if !matches!(i.mnemonic, M::Cmp | M::Test) {
        cpu.set(i, 0, res)?; // a fault here leaves the flags as they were
    }
    cpu.s.set_cc(kind, size, res, src, cin);
    Ok(())
}

/// INC, DEC, NEG, NOT.
pub fn unary(cpu: &mut Cpu, i: &Insn) -> Res {
    let size = Cpu::size_of(i, 0);
    let a = cpu.get(i, 0)?;
    let m = size.mask();
    let res = match i.mnemonic {
        M::Not => !a & m,
        M::Inc => a.wrapping_add(1) & m,
        M::Dec => a.wrapping_sub(1) & m,
        // NEG is 0 - a, with CF = (a != 0).
        _ => 0u32.wrapping_sub(a) & m,
    };
    // Write first: a fault leaves the flags as they were.
    cpu.set(i, 0, res)?;
    match i.mnemonic {
        M::Inc => {
            let c = cpu.s.carry();
            cpu.s.set_cc(CcOp::INC, size, res, 0, c)
        }
        M::Dec => {
            let c = cpu.s.carry();
            cpu.s.set_cc(CcOp::DEC, size, res, 0, c)
        }
        M::Neg => cpu.s.set_cc(CcOp::SUB, size, res, a & m, 0),
        _ => {} // NOT changes no flags
    }
    Ok(())
}
