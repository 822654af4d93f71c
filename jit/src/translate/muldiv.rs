//! MUL, IMUL (all three forms), DIV and IDIV as IR, mirroring `interp::muldiv`: the operand is
//! read first (the only access that can fault, besides #DE), the arithmetic is done in 64 bits
//! for every size, and the results and flags are written only after every check passed.
//!
//! Flags are the interpreter's to the bit: after a multiply CF = OF = "the upper half is
//! significant", SF, ZF and PF from the lower half (the truncated product for the two- and
//! three-operand forms), AF = 0, recorded as a materialised EFLAGS word (`set_arith`) whose
//! parts stay known to the translator (a following ADC or JB reads CF without the word); after a
//! divide the flags are untouched.
//!
//! A divide raises #DE as a fault exit (EIP on the instruction, nothing written) for a zero
//! divisor and for a quotient that does not fit, `-2^(2n-1) / -1` included. The division itself
//! is done with a divisor made safe first (1 in place of 0 and of -1), so the host never traps:
//! the quotient for -1 is the negated dividend, computed apart.

use super::insn::Loc;
use super::{Emitter, Part};
use cranelift_codegen::ir::{condcodes::IntCC, types, InstBuilder, Value};
use emu_cpu_x86::decode::{Arg, Insn, Mnemonic as M};
use emu_cpu_x86::fault::vector;
use emu_cpu_x86::flags::Size;
use emu_cpu_x86::state::reg;
use emu_cpu_x86::Cpu;

const EAX: u8 = reg::EAX as u8;
const EDX: u8 = reg::EDX as u8;

/// `v` (the low `size` bits matter) widened to i64, sign- or zero-extended.
fn widen(e: &mut Emitter, v: Value, size: Size, signed: bool) -> Value {
    if signed {
        let v = e.sext(v, size);
        e.b.ins().sextend(types::I64, v)
    } else {
        let v = e.mask(v, size);
        e.b.ins().uextend(types::I64, v)
    }
}

/// `a * b` at `size` (`multiply` in `interp::muldiv`): (lower half, upper half, i8 "the upper
/// half is significant"), the halves zero-extended i32s.
fn multiply(e: &mut Emitter, signed: bool, size: Size, a: Value, b: Value) -> (Value, Value, Value) {
    let n = size.bits() as i64;
    let (wa, wb) = (widen(e, a, size, signed), widen(e, b, size, signed));
    let p = e.b.ins().imul(wa, wb);
    let lo = e.b.ins().ireduce(types::I32, p);
    let lo = e.mask(lo, size);
    let hi = e.b.ins().ushr_imm_u(p, n);
    let hi = e.b.ins().ireduce(types::I32, hi);
    let hi = e.mask(hi, size);
    let significant = if signed {
        // The product differs from its lower half sign-extended.
        let back = widen(e, lo, size, true);
        e.b.ins().icmp(IntCC::NotEqual, p, back)
    } else {
        e.b.ins().icmp_imm_u(IntCC::NotEqual, hi, 0)
    };
    (lo, hi, significant)
}

/// Whether the signed product of `a` and `b` (the low `size` bits of each) does not fit in
/// `size` bits: a truncating IMUL's CF and OF, as an i8.
pub(super) fn signed_overflow(e: &mut Emitter, a: Value, b: Value, size: Size) -> Value {
    multiply(e, true, size, a, b).2
}

/// The flags of a multiply (`multiply_flags`): CF = OF = `significant`, ZF, SF, PF from `lo`,
/// AF = 0.
fn multiply_flags(e: &mut Emitter, size: Size, lo: Value, significant: Value) {
    let no = e.bool_const(false);
    let (s, z) = (Part::Val(significant), Part::Zero(lo));
    e.set_arith_parts([s, Part::Parity(lo), Part::Val(no), z, Part::Bit(lo, size.sign()), s]);
}

/// MUL, IMUL and DIV, IDIV with plain operands; `false` (nothing emitted) for other forms.
pub(super) fn emit(e: &mut Emitter, i: &Insn) -> bool {
    let plain = |a: Arg| matches!(a, Arg::Reg(..) | Arg::Mem(_) | Arg::Imm(_));
    if !i.args.iter().all(|&a| a == Arg::Nil || plain(a)) || !plain(i.args[0]) {
        return false;
    }
    let size = Cpu::size_of(i, 0);
    match i.mnemonic {
        M::Mul | M::Imul if i.args[1] == Arg::Nil => {
            // widening_multiply: src = get(0); acc; (lo, hi); AX or (E)DX:(E)AX; flags.
            let l = e.loc(i, 0);
            let src = e.read(l);
            let acc = e.reg(EAX, size);
            let (lo, hi, sig) = multiply(e, i.mnemonic == M::Imul, size, acc, src);
            set_pair(e, size, lo, hi);
            multiply_flags(e, size, lo, sig);
            true
        }
        M::Imul => {
            // truncating_multiply: (a, b) = (get(0), get(1)) or (get(1), get(2)); set(0, lo).
            let (x, y) = if i.args[2] == Arg::Nil { (0, 1) } else { (1, 2) };
            let (lx, ly) = (e.loc(i, x), e.loc(i, y));
            let a = e.read(lx);
            let b = e.read(ly);
            // The low half needs no double-width product (the flags' recipe has one).
            let p = e.b.ins().imul(a, b);
            let lo = e.mask(p, size);
            let d: Loc = e.loc(i, 0);
            e.write(d, lo);
            let (no, s) = (e.bool_const(false), Part::MulOverflow(a, b, size));
            e.set_arith_parts([s, Part::Parity(lo), Part::Val(no), Part::Zero(lo), Part::Bit(lo, size.sign()), s]);
            true
        }
        M::Div | M::Idiv => {
            divide(e, i, size);
            true
        }
        _ => false,
    }
}

/// DIV and IDIV (`divide`, `divmod`): the double-width dividend (AX, DX:AX or EDX:EAX) by the
/// operand; #DE for a zero divisor or a quotient outside the operand size; flags unchanged.
fn divide(e: &mut Emitter, i: &Insn, size: Size) {
    let signed = i.mnemonic == M::Idiv;
    let n = size.bits() as i64;
    let l = e.loc(i, 0);
    let divisor = e.read(l);
    // The dividend as an i64: sign-extended from 2n bits for IDIV.
    let (hi, lo) = if size == Size::B {
        let ax = e.reg(EAX, Size::W);
        let h = e.b.ins().ushr_imm_u(ax, 8);
        let l = e.mask(ax, Size::B);
        (h, l)
    } else {
        (e.reg(EDX, size), e.reg(EAX, size))
    };
    let h64 = e.b.ins().uextend(types::I64, hi);
    let l64 = e.b.ins().uextend(types::I64, lo);
    let h64 = e.b.ins().ishl_imm_u(h64, n);
    let mut a = e.b.ins().bor(h64, l64);
    if signed && n < 32 {
        a = e.b.ins().ishl_imm_u(a, 64 - 2 * n);
        a = e.b.ins().sshr_imm_u(a, 64 - 2 * n);
    }
    let b = widen(e, divisor, size, signed);
    let zero = e.b.ins().icmp_imm_u(IntCC::Equal, b, 0);
    let (q, r) = if signed {
        // b = -1 would trap on the host for i64::MIN; its quotient is -a, its remainder 0.
        let minus_one = e.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
        let unsafe_ = e.b.ins().bor(zero, minus_one);
        let one = e.b.ins().iconst(types::I64, 1);
        let safe = e.b.ins().select(unsafe_, one, b);
        let q = e.b.ins().sdiv(a, safe);
        let r = e.b.ins().srem(a, safe);
        let neg = e.b.ins().ineg(a);
        (e.b.ins().select(minus_one, neg, q), r)
    } else {
        let one = e.b.ins().iconst(types::I64, 1);
        let safe = e.b.ins().select(zero, one, b);
        (e.b.ins().udiv(a, safe), e.b.ins().urem(a, safe))
    };
    // The quotient fits: q + 2^(n-1) < 2^n (signed, as unsigned), or q < 2^n.
    let out = if signed {
        let biased = e.b.ins().iadd_imm_s(q, 1i64 << (n - 1));
        e.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, biased, 1i64 << n)
    } else {
        e.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, q, 1i64 << n)
    };
    let de = e.b.ins().bor(zero, out);
    e.raise_if(de, vector::DE, None);
    let q = e.b.ins().ireduce(types::I32, q);
    let r = e.b.ins().ireduce(types::I32, r);
    let (q, r) = if size == Size::B { (e.mask(q, Size::B), e.mask(r, Size::B)) } else { (q, r) };
    set_pair(e, size, q, r);
}

/// Writes a result pair where the one-operand forms keep it: AH:AL for bytes (`low` and `high`
/// already 8 bits wide), else (E)DX:(E)AX.
fn set_pair(e: &mut Emitter, size: Size, low: Value, high: Value) {
    if size == Size::B {
        let h = e.b.ins().ishl_imm_u(high, 8);
        let ax = e.b.ins().bor(h, low);
        e.set_reg(EAX, Size::W, ax);
    } else {
        e.set_reg(EAX, size, low);
        e.set_reg(EDX, size, high);
    }
}
