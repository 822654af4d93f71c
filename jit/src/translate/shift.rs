//! Shifts and rotates as IR, mirroring `interp::shift` (its module comment has the choices made
//! for what the SDM leaves undefined; the formulas here are the same, so the tiers agree to the
//! bit): SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR, SHLD, SHRD.
//!
//! Two forms are specialised:
//! - **by an immediate** (register or memory operand): the masked count is known, so a count of
//!   0 (and an RCL/RCR count that is a whole turn) is left to the interpreter, and every other
//!   count is a straight computation;
//! - **by CL with a register operand**: the count is known only at run time; the result and the
//!   flags are computed for it and then chosen, with selects, against the old register and the
//!   old lazy-flags fields when the instruction changes nothing (masked count 0; RCL/RCR by a
//!   whole turn). The lazy flags are then unknown to the translator. CL with a memory operand is
//!   the interpreter's (a count of 0 must not write memory).
//!
//! Shifts set SF, ZF, PF from the result and AF = 0; rotates replace only CF and OF, keeping the
//! other four from the flags before (read as a word, see [`Emitter::arith_word`]). CF, OF (and
//! for shifts ZF, SF, PF) stay known as separate values for the next reader.

use super::insn::Loc;
use super::{Emitter, KnownFlags, Part};
use cranelift_codegen::ir::{condcodes::IntCC, types, InstBuilder, Value};
use emu_cpu_x86::decode::{Arg, Insn, Mnemonic as M};
use emu_cpu_x86::flags::{CcOp, Size};
use emu_cpu_x86::state::{eflags, reg};
use emu_cpu_x86::Cpu;

/// The flags a shift or rotate leaves: a rotate's word (four flags kept from before) with the
/// flags known separately; a shift's six flags (CF, PF, AF, ZF, SF, OF), each built only where
/// it is read (see [`Part`]).
enum Flags {
    Word(Value, KnownFlags),
    Parts([Part; 6]),
}

/// The count: a constant (masked to 5 bits, nonzero) or CL (as read, unmasked).
#[derive(Clone, Copy)]
enum Count {
    Const(u32),
    Cl(Value),
}

/// Emits a shift or rotate if its form is specialised (see the module comment).
pub(super) fn emit(e: &mut Emitter, i: &Insn) -> bool {
    let size = Cpu::size_of(i, 0);
    let n = size.bits();
    // SHLD/SHRD: the count is the third operand, the second a register shifted in.
    let double = matches!(i.mnemonic, M::Shld | M::Shrd);
    let count_arg = if double { i.args[2] } else { i.args[1] };
    if double && !matches!(i.args[1], Arg::Reg(..)) {
        return false;
    }
    let (dst, count) = match (i.args[0], count_arg) {
        (Arg::Reg(..) | Arg::Mem(_), Arg::Imm(c)) => {
            let c = c & 0x1f;
            let whole_turn = matches!(i.mnemonic, M::Rcl | M::Rcr) && c % (n + 1) == 0;
            if c == 0 || whole_turn {
                return false;
            }
            (e.loc(i, 0), None)
        }
        (Arg::Reg(..), Arg::Reg(r, Size::B)) if r == reg::ECX as u8 => (e.loc(i, 0), Some(())),
        _ => return false,
    };
    // shift::exec: dst = get(0), (src = get(1)), count, then compute, set(0), set_arith.
    let v = e.read(dst);
    let src = match i.args[1] {
        Arg::Reg(r, s) if double => Some(e.reg(r, s)),
        _ => None,
    };
    let count = match (count, count_arg) {
        (None, Arg::Imm(c)) => Count::Const(c & 0x1f),
        _ => Count::Cl(e.reg(reg::ECX as u8, Size::B)),
    };
    let rotate = matches!(i.mnemonic, M::Rol | M::Ror | M::Rcl | M::Rcr);
    // Rotates keep four flags from before; RCL/RCR also rotate CF in.
    let old = rotate.then(|| e.arith_word());
    let old_known = e.known_flags();
    let (r, cf, of, nochange) = compute(e, i.mnemonic, size, v, src, count, old);
    let flags = if rotate {
        let (cf, of) = (e.part(cf), e.part(of));
        let keep = e.b.ins().band_imm_u(old.unwrap(), (eflags::ARITH & !(eflags::CF | eflags::OF)) as i64);
        let c = e.b.ins().uextend(types::I32, cf);
        let o = e.b.ins().uextend(types::I32, of);
        let o = e.b.ins().ishl_imm_u(o, eflags::OF.trailing_zeros() as i64);
        let w = e.b.ins().bor(keep, c);
        let mut k = old_known;
        k.0[KnownFlags::index(eflags::CF)] = Some(Part::Val(cf));
        k.0[KnownFlags::index(eflags::OF)] = Some(Part::Val(of));
        Flags::Word(e.b.ins().bor(w, o), k)
    } else {
        let af = Part::Val(e.bool_const(false));
        Flags::Parts([cf, Part::Parity(r), af, Part::Zero(r), Part::Bit(r, size.sign()), of])
    };
    match nochange {
        None => {
            e.write(dst, r);
            match flags {
                Flags::Word(w, known) => e.set_arith_known(w, known),
                Flags::Parts(parts) => e.set_arith_parts(parts),
            }
        }
        Some(same) => {
            let word = match flags {
                Flags::Word(w, _) => w,
                Flags::Parts(parts) => e.arith_from(parts),
            };
            // Count 0 (or a whole RCL/RCR turn): the register and the lazy flags as they were.
            let Loc::Reg(..) = dst else { unreachable!("CL shifts are register-only") };
            let r = e.b.ins().select(same, v, r);
            let op = e.slot(super::CC_OP);
            let src = e.slot(super::CC_SRC);
            let eflags_op = e.c32(CcOp::EFLAGS);
            let op = e.b.ins().select(same, op, eflags_op);
            let src = e.b.ins().select(same, src, word);
            e.write(dst, r);
            e.set_slot(super::CC_OP, op);
            e.set_slot(super::CC_SRC, src);
            e.flags = super::FlagSrc::Unknown;
        }
    }
    true
}

/// `v op count` at `size` (`shift::compute`; `src`: SHLD/SHRD's second operand): (result
/// zero-extended, CF, OF, and for a count in CL an i8 "the instruction changes nothing").
/// `old`: the arithmetic flags word before (rotates only).
fn compute(
    e: &mut Emitter,
    op: M,
    size: Size,
    v: Value,
    src: Option<Value>,
    count: Count,
    old: Option<Value>,
) -> (Value, Part, Part, Option<Value>) {
    let n = size.bits() as i64;
    // c: the masked count as an i32 (a constant when known).
    let (c, dynamic) = match count {
        Count::Const(c) => (e.c32(c), None),
        Count::Cl(cl) => {
            let c = e.b.ins().band_imm_u(cl, 0x1f);
            let zero = e.b.ins().icmp_imm_u(IntCC::Equal, c, 0);
            (c, Some(zero))
        }
    };
    // CF: the last bit shifted out, bit 0 of `out`. The count-1 OF formulas on the final
    // result: CF xor the result's top bit for the left shifts and rotates, the top two bits of
    // the result for the right ones.
    let sign = size.sign();
    let of_left = |out: Value, r: Value| Part::Xor(out, 1, r, sign);
    let of_right = |r: Value| Part::Xor(r, sign, r, sign >> 1);
    match op {
        M::Shl | M::Sal => {
            let wide = e.b.ins().uextend(types::I64, v);
            let c64 = wide_count(e, c);
            let wide = e.b.ins().ishl(wide, c64);
            let r = e.b.ins().ireduce(types::I32, wide);
            let r = e.mask(r, size);
            let out = e.b.ins().ushr_imm_u(wide, n);
            let out = e.b.ins().ireduce(types::I32, out);
            (r, Part::Bit(out, 1), of_left(out, r), dynamic)
        }
        M::Shr => {
            let r = e.b.ins().ushr(v, c);
            (r, last_out(e, v, c, false), of_right(r), dynamic)
        }
        M::Sar => {
            let sv = e.sext(v, size);
            let r = e.b.ins().sshr(sv, c);
            let r = e.mask(r, size);
            (r, last_out(e, sv, c, true), of_right(r), dynamic)
        }
        M::Shld | M::Shrd => {
            // As in `shift::compute`: SHLD shifts dst:src (32-bit) or dst:src:dst (16-bit, the
            // P6 behaviour for counts over 16) left and keeps bits 32..32+n; SHRD shifts
            // src:dst (or dst:src:dst) right and keeps the low n bits.
            let v64 = e.b.ins().uextend(types::I64, v);
            let s64 = e.b.ins().uextend(types::I64, src.unwrap());
            let c64 = wide_count(e, c);
            let (r, out) = if op == M::Shld {
                let hi = e.b.ins().ishl_imm_u(v64, 32);
                let mid = e.b.ins().ishl_imm_u(s64, 32 - n);
                let mut wide = e.b.ins().bor(hi, mid);
                if n == 16 {
                    wide = e.b.ins().bor(wide, v64);
                }
                let sh = e.b.ins().ishl(wide, c64);
                let r = e.b.ins().ushr_imm_u(sh, 32);
                // CF: bit 32 + n - c of wide.
                let k = e.b.ins().iconst(types::I64, 32 + n);
                let k = e.b.ins().isub(k, c64);
                (r, e.b.ins().ushr(wide, k))
            } else {
                let hi = e.b.ins().ishl_imm_u(s64, n);
                let mut wide = e.b.ins().bor(hi, v64);
                if n == 16 {
                    let top = e.b.ins().ishl_imm_u(v64, 32);
                    wide = e.b.ins().bor(wide, top);
                }
                let r = e.b.ins().ushr(wide, c64);
                let c1 = e.b.ins().iadd_imm_s(c64, -1);
                (r, e.b.ins().ushr(wide, c1))
            };
            let r = e.b.ins().ireduce(types::I32, r);
            let r = e.mask(r, size);
            let out = e.b.ins().ireduce(types::I32, out);
            let of = if op == M::Shld { of_left(out, r) } else { of_right(r) };
            (r, Part::Bit(out, 1), of, dynamic)
        }
        M::Rol | M::Ror => {
            // e = c mod n (n a power of two); a rotate by 0 leaves v (the flags still change).
            let r = if size == Size::D {
                if op == M::Rol {
                    e.b.ins().rotl(v, c)
                } else {
                    e.b.ins().rotr(v, c)
                }
            } else {
                let k = e.b.ins().band_imm_u(c, n - 1);
                let nn = e.c32(n as u32);
                let nk = e.b.ins().isub(nn, k);
                let (l, rr) = if op == M::Rol { (k, nk) } else { (nk, k) };
                let x = e.b.ins().ishl(v, l);
                let y = e.b.ins().ushr(v, rr);
                let r = e.b.ins().bor(x, y);
                e.mask(r, size)
            };
            if op == M::Rol {
                (r, Part::Bit(r, 1), of_left(r, r), dynamic)
            } else {
                (r, Part::Bit(r, sign), of_right(r), dynamic)
            }
        }
        _ => {
            // RCL/RCR: rotate the (n+1)-bit CF:v by k = c mod (n+1) (no change for k = 0).
            let w = n + 1;
            let k = match count {
                Count::Const(c) => e.c32(c % w as u32),
                Count::Cl(_) if size == Size::D => c,
                Count::Cl(_) => e.b.ins().urem_imm_u(c, w),
            };
            let nochange = match count {
                Count::Const(_) => None,
                Count::Cl(_) => Some(e.b.ins().icmp_imm_u(IntCC::Equal, k, 0)),
            };
            let cin = e.b.ins().band_imm_u(old.unwrap(), eflags::CF as i64);
            let cin = e.b.ins().uextend(types::I64, cin);
            let cin = e.b.ins().ishl_imm_u(cin, n);
            let x = e.b.ins().uextend(types::I64, v);
            let x = e.b.ins().bor(cin, x);
            let k64 = wide_count(e, k);
            let ww = e.b.ins().iconst(types::I64, w);
            let wk = e.b.ins().isub(ww, k64);
            let (l, rr) = if op == M::Rcl { (k64, wk) } else { (wk, k64) };
            let a = e.b.ins().ishl(x, l);
            let b = e.b.ins().ushr(x, rr);
            let rx = e.b.ins().bor(a, b);
            let r = e.b.ins().ireduce(types::I32, rx);
            let r = e.mask(r, size);
            let out = e.b.ins().ushr_imm_u(rx, n);
            let out = e.b.ins().ireduce(types::I32, out);
            let of = if op == M::Rcl { of_left(out, r) } else { of_right(r) };
            (r, Part::Bit(out, 1), of, nochange)
        }
    }
}

/// CF of a right shift of `v` (SAR: `v` sign-extended) by the masked count `c` (not 0): bit
/// `c - 1` of `v`, tested in place for a constant count.
fn last_out(e: &mut Emitter, v: Value, c: Value, arith: bool) -> Part {
    let Some(k) = e.const_of(c) else {
        let c1 = e.b.ins().iadd_imm_s(c, -1);
        let out = if arith { e.b.ins().sshr(v, c1) } else { e.b.ins().ushr(v, c1) };
        return Part::Bit(out, 1);
    };
    Part::Bit(v, 1 << (k - 1))
}

/// Count `c` (an i32) as an i64: a constant when `c` is one, so the host shifts by an immediate
/// (the widened constant would be materialised and shifted by a register).
fn wide_count(e: &mut Emitter, c: Value) -> Value {
    match e.const_of(c) {
        Some(k) => e.b.ins().iconst(types::I64, k as i64),
        None => e.b.ins().uextend(types::I64, c),
    }
}
