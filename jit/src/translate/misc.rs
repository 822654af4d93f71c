//! Smaller instructions as IR, each mirroring its interpreter code (named in its comment):
//! LEAVE, BSWAP, XADD, CMPXCHG, BT/BTS/BTR/BTC (register operand, or memory with an immediate
//! bit offset), BSF/BSR. Every access that can fault comes before any register or flag changes.
//!
//! The flags are the interpreter's to the bit: XADD and CMPXCHG record lazy ADD and SUB (as
//! `alu::evaluate` does); the bit instructions change only CF (BT*) or ZF (BSF/BSR) of the
//! flags word before, which they read as a word ([`Emitter::arith_word`]), keeping the flags
//! the translator knew separately.

use super::insn::Loc;
use super::{Emitter, KnownFlags, Part};
use cranelift_codegen::ir::{condcodes::IntCC, types, InstBuilder, Value};
use emu_cpu_x86::decode::{Arg, Insn, Mnemonic as M};
use emu_cpu_x86::flags::{CcOp, Size};
use emu_cpu_x86::state::{eflags, reg, SegReg};
use emu_cpu_x86::Cpu;

/// Emits one of this file's instructions if its form is handled; `false` (nothing emitted)
/// otherwise.
pub(super) fn emit(e: &mut Emitter, i: &Insn) -> bool {
    let [a0, a1, _] = i.args;
    match (i.mnemonic, a0, a1) {
        (M::Leave, ..) => {
            leave(e, i);
            true
        }
        (M::Bswap, Arg::Reg(r, size), _) => {
            // data: D: the bytes reversed; W (undefined): the low word cleared, as on P6.
            let v = if size == Size::D {
                let x = e.reg32(r);
                e.b.ins().bswap(x)
            } else {
                e.c32(0)
            };
            e.set_reg(r, size, v);
            true
        }
        (M::Xadd, Arg::Reg(..) | Arg::Mem(_), Arg::Reg(r1, _)) => {
            // data: dst = get(0); src = get(1); sum; set(0, sum); set(1, dst); a register
            // destination gets the sum again (XADD r, r with one register: the sum wins).
            let size = Cpu::size_of(i, 0);
            let d = e.loc(i, 0);
            let dst = e.read(d);
            let src = e.reg(r1, size);
            let sum = e.b.ins().iadd(dst, src);
            let sum = e.mask(sum, size);
            e.write(d, sum);
            e.set_reg(r1, size, dst);
            if let Loc::Reg(r0, _) = d {
                e.set_reg(r0, size, sum);
            }
            let z = e.c32(0);
            e.set_cc(CcOp::ADD, size, sum, src, z);
            true
        }
        (M::Cmpxchg, Arg::Reg(..) | Arg::Mem(_), Arg::Reg(r1, _)) => {
            // data: dst = get(0); acc; CMP acc, dst; equal: set(0, src); else set(0, dst) (the
            // memory is written either way) and acc = dst.
            let size = Cpu::size_of(i, 0);
            let d = e.loc(i, 0);
            let dst = e.read(d);
            let acc = e.reg(0, size);
            let res = e.b.ins().isub(acc, dst);
            let res = e.mask(res, size);
            let eq = e.b.ins().icmp(IntCC::Equal, acc, dst);
            let src = e.reg(r1, size);
            let v = e.b.ins().select(eq, src, dst);
            e.write(d, v);
            let now = e.reg(0, size);
            let a = e.b.ins().select(eq, now, dst);
            e.set_reg(0, size, a);
            let z = e.c32(0);
            e.set_cc(CcOp::SUB, size, res, dst, z);
            true
        }
        (M::Bt | M::Bts | M::Btr | M::Btc, Arg::Reg(..), Arg::Reg(..) | Arg::Imm(_))
        | (M::Bt | M::Bts | M::Btr | M::Btc, Arg::Mem(_), Arg::Imm(_)) => {
            bit_test(e, i);
            true
        }
        (M::Bsf | M::Bsr, Arg::Reg(r, size), Arg::Reg(..) | Arg::Mem(_)) => {
            // bits::scan: src = get(1); zero: ZF = 1, nothing written; else dst = the index of
            // the lowest (BSF) or highest (BSR) set bit, ZF = 0. Other flags unchanged.
            let s = e.loc(i, 1);
            let src = e.read(s);
            let zero = e.b.ins().icmp_imm_u(IntCC::Equal, src, 0);
            let index = if i.mnemonic == M::Bsf {
                e.b.ins().ctz(src)
            } else {
                let lz = e.b.ins().clz(src);
                let k = e.c32(31);
                e.b.ins().isub(k, lz)
            };
            let old = e.reg(r, size);
            let v = e.b.ins().select(zero, old, index);
            let word = e.arith_word();
            let mut known = e.known_flags();
            e.set_reg(r, size, v);
            let keep = e.b.ins().band_imm_u(word, !(eflags::ZF as i64) & 0xffff_ffff);
            let z = e.b.ins().uextend(types::I32, zero);
            let z = e.b.ins().ishl_imm_u(z, eflags::ZF.trailing_zeros() as i64);
            let word = e.b.ins().bor(keep, z);
            known.0[KnownFlags::index(eflags::ZF)] = Some(Part::Val(zero));
            e.set_arith_known(word, known);
            true
        }
        _ => false,
    }
}

/// LEAVE (stack): v = read(SS:(E)BP at the stack size); (E)SP = (E)BP; (E)SP += size; (E)BP = v.
fn leave(e: &mut Emitter, i: &Insn) {
    let size = i.osize;
    let bp = e.reg32(reg::EBP as u8);
    let stack32 = e.mode.stack32();
    let off = if stack32 { bp } else { e.mask(bp, Size::W) };
    let v = e.load(SegReg::Ss, off, size, !stack32);
    e.set_sp(bp);
    let up = e.sp_plus(size.bytes());
    e.set_sp(up);
    e.set_reg(reg::EBP as u8, size, v);
}

/// BT, BTS, BTR, BTC with a register operand, or a memory operand and an immediate offset
/// (bits::test): the bit offset modulo the operand size; CF = the bit before the change.
fn bit_test(e: &mut Emitter, i: &Insn) {
    let size = Cpu::size_of(i, 0);
    let o = e.loc(i, 1);
    let offset = e.read(o);
    let bit = e.b.ins().band_imm_u(offset, size.bits() as i64 - 1);
    let d = e.loc(i, 0);
    let value = e.read(d);
    let one = e.c32(1);
    let mask = e.b.ins().ishl(one, bit);
    let new: Option<Value> = match i.mnemonic {
        M::Bts => Some(e.b.ins().bor(value, mask)),
        M::Btr => {
            let m = e.b.ins().bnot(mask);
            Some(e.b.ins().band(value, m))
        }
        M::Btc => Some(e.b.ins().bxor(value, mask)),
        _ => None,
    };
    let word = e.arith_word();
    let mut known = e.known_flags();
    if let Some(v) = new {
        let v = e.mask(v, size);
        e.write(d, v);
    }
    let sel = e.b.ins().band(value, mask);
    let cf = e.b.ins().icmp_imm_u(IntCC::NotEqual, sel, 0);
    let keep = e.b.ins().band_imm_u(word, !(eflags::CF as i64) & 0xffff_ffff);
    let c = e.b.ins().uextend(types::I32, cf);
    let word = e.b.ins().bor(keep, c);
    known.0[KnownFlags::index(eflags::CF)] = Some(Part::Val(cf));
    e.set_arith_known(word, known);
}
