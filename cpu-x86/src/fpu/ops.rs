//! The x87 instructions, by opcode (SDM Vol. 2 instruction pages; the D8-DF maps of Vol. 2,
//! Appendix A.2.7, Tables, including the undocumented aliases every P6 executes:
//! FCOM2/FCOMP3/FCOMP5, FXCH4/FXCH7, FSTP1/FSTP8/FSTP9, FFREEP).
//!
//! Each handler reads its memory operand first (so a fault changes nothing), computes into a
//! [`Ctx`], performs its memory write, and only then updates the register stack and the status
//! word: exceptions stay precise.

use super::float80::{self as fl, Ctx, Fmt, DBL, F80, IE, OE, SGL, UE};
use super::transcendental as tr;
use super::{env, overflow, sw, underflow, Fpu};
use crate::cpu::Cpu;
use crate::decode::Insn;
use crate::fault::Res;
use crate::flags::Size;
use crate::state::eflags;

/// Executes x87 opcode `0xD8 + op` with the ModRM in `i`.
pub fn exec(cpu: &mut Cpu, i: &Insn, op: u8) -> Res {
    let modrm = i.modrm;
    let reg = (modrm >> 3) & 7;
    let rm = (modrm & 7) as usize;
    if modrm < 0xc0 {
        return mem_op(cpu, i, op, reg);
    }
    match op {
        0 => arith_reg(cpu, reg, rm, false, false),
        1 => d9_reg(cpu, modrm, rm),
        2 if modrm == 0xe9 => compare_regs(cpu, 1, true, 2, false),
        2 => fcmov(cpu, reg, rm, false),
        3 => db_reg(cpu, modrm, reg, rm),
        4 => arith_reg(cpu, reg, rm, true, false),
        5 => dd_reg(cpu, reg, rm),
        6 => arith_reg(cpu, reg, rm, true, true),
        _ => df_reg(cpu, reg, rm),
    }
}

// ---- memory operands --------------------------------------------------------------------------

fn read_u16(cpu: &mut Cpu, i: &Insn) -> Res<u16> {
    Ok(cpu.read(i.seg, cpu.ea(i), Size::W)? as u16)
}
fn read_u32(cpu: &mut Cpu, i: &Insn) -> Res<u32> {
    cpu.read(i.seg, cpu.ea(i), Size::D)
}
fn read_u64(cpu: &mut Cpu, i: &Insn) -> Res<u64> {
    let mut b = [0u8; 8];
    env::read_mem(cpu, i.seg, cpu.ea(i), &mut b)?;
    Ok(u64::from_le_bytes(b))
}
fn read_80(cpu: &mut Cpu, i: &Insn) -> Res<[u8; 10]> {
    let mut b = [0u8; 10];
    env::read_mem(cpu, i.seg, cpu.ea(i), &mut b)?;
    Ok(b)
}
fn write_bytes(cpu: &mut Cpu, i: &Insn, data: &[u8]) -> Res {
    env::write_mem(cpu, i.seg, cpu.ea(i), data)
}

pub fn f80_bytes(v: F80) -> [u8; 10] {
    let mut b = [0u8; 10];
    b[..8].copy_from_slice(&v.signif.to_le_bytes());
    b[8..].copy_from_slice(&v.se.to_le_bytes());
    b
}
pub fn f80_from_bytes(b: &[u8]) -> F80 {
    F80::new(u16::from_le_bytes([b[8], b[9]]), u64::from_le_bytes(b[..8].try_into().unwrap()))
}

/// A memory source operand of the arithmetic groups, before conversion.
#[derive(Clone, Copy)]
enum Src {
    Real(u64, Fmt),
    Int(i64),
}

impl Src {
    fn value(self, ctx: &mut Ctx) -> F80 {
        match self {
            Src::Real(bits, fmt) => fl::from_bits(ctx, bits, fmt),
            Src::Int(v) => F80::from_i64(v),
        }
    }
}

fn mem_op(cpu: &mut Cpu, i: &Insn, op: u8, reg: u8) -> Res {
    match (op, reg) {
        (0 | 2 | 4 | 6, _) => {
            let src = match op {
                0 => Src::Real(read_u32(cpu, i)? as u64, SGL),
                4 => Src::Real(read_u64(cpu, i)?, DBL),
                2 => Src::Int(read_u32(cpu, i)? as i32 as i64),
                _ => Src::Int(read_u16(cpu, i)? as i16 as i64),
            };
            arith_mem(&mut cpu.s.fpu, reg, src);
            Ok(())
        }
        // Loads.
        (1, 0) => {
            let bits = read_u32(cpu, i)? as u64;
            load_real(&mut cpu.s.fpu, bits, SGL);
            Ok(())
        }
        (5, 0) => {
            let bits = read_u64(cpu, i)?;
            load_real(&mut cpu.s.fpu, bits, DBL);
            Ok(())
        }
        (3, 5) => {
            let b = read_80(cpu, i)?;
            push_value(&mut cpu.s.fpu, |_| f80_from_bytes(&b));
            Ok(())
        }
        (7, 0) => {
            let v = read_u16(cpu, i)? as i16 as i64;
            push_value(&mut cpu.s.fpu, |_| F80::from_i64(v));
            Ok(())
        }
        (3, 0) => {
            let v = read_u32(cpu, i)? as i32 as i64;
            push_value(&mut cpu.s.fpu, |_| F80::from_i64(v));
            Ok(())
        }
        (7, 5) => {
            let v = read_u64(cpu, i)? as i64;
            push_value(&mut cpu.s.fpu, |_| F80::from_i64(v));
            Ok(())
        }
        (7, 4) => {
            let b = read_80(cpu, i)?;
            push_value(&mut cpu.s.fpu, |_| fl::from_bcd(&b));
            Ok(())
        }
        // Stores.
        (1, 2 | 3) => store_real(cpu, i, SGL, reg == 3),
        (5, 2 | 3) => store_real(cpu, i, DBL, reg == 3),
        (3, 7) => {
            let f = &cpu.s.fpu;
            let mut ctx = f.ctx();
            let v = if f.empty(0) {
                underflow(&mut ctx);
                if !ctx.masked(IE) {
                    cpu.s.fpu.commit(&ctx);
                    return Ok(());
                }
                F80::INDEFINITE
            } else {
                f.st(0)
            };
            write_bytes(cpu, i, &f80_bytes(v))?;
            cpu.s.fpu.commit(&ctx);
            cpu.s.fpu.pop();
            Ok(())
        }
        (7, 2 | 3) => store_int(cpu, i, 16, reg == 3),
        (3, 2 | 3) => store_int(cpu, i, 32, reg == 3),
        (7, 7) => store_int(cpu, i, 64, true),
        (7, 6) => {
            let f = &cpu.s.fpu;
            let mut ctx = f.ctx();
            let bcd = if f.empty(0) {
                underflow(&mut ctx);
                None
            } else {
                fl::to_bcd(&mut ctx, f.st(0))
            };
            if ctx.blocked() {
                cpu.s.fpu.commit(&ctx);
                return Ok(());
            }
            write_bytes(cpu, i, &bcd.unwrap_or(fl::BCD_INDEFINITE))?;
            cpu.s.fpu.commit(&ctx);
            cpu.s.fpu.pop();
            Ok(())
        }
        // Control.
        (1, 4) => env::fldenv(cpu, i),
        (1, 5) => {
            let v = read_u16(cpu, i)?;
            let f = &mut cpu.s.fpu;
            f.fcw = sanitize_cw(v);
            f.update_es();
            Ok(())
        }
        (1, 6) => env::fstenv(cpu, i),
        (1, 7) => {
            let v = cpu.s.fpu.fcw;
            write_bytes(cpu, i, &v.to_le_bytes())
        }
        (5, 4) => env::frstor(cpu, i),
        (5, 6) => env::fsave(cpu, i),
        (5, 7) => {
            let v = cpu.s.fpu.fsw;
            write_bytes(cpu, i, &v.to_le_bytes())
        }
        _ => unreachable!("invalid x87 memory form {op}/{reg} is filtered by classify"),
    }
}

/// The control word as the FPU keeps it: reserved bits 6 (reads as 1), 7, 13-15.
pub fn sanitize_cw(v: u16) -> u16 {
    (v & 0x1f3f) | 0x40
}

/// FADD..FDIVR / FIADD..FIDIVR / FCOM(P) / FICOM(P) with a memory operand.
fn arith_mem(f: &mut Fpu, reg: u8, src: Src) {
    let mut ctx = f.ctx();
    if reg == 2 || reg == 3 {
        let o = if f.empty(0) {
            underflow(&mut ctx);
            None
        } else {
            let b = src.value(&mut ctx);
            fl::compare(&mut ctx, f.st(0), b, false)
        };
        finish_compare(f, &ctx, o, (reg == 3) as u32);
        return;
    }
    if f.empty(0) {
        underflow(&mut ctx);
        if ctx.masked(IE) {
            f.set_st(0, F80::INDEFINITE);
        }
    } else {
        let b = src.value(&mut ctx);
        let r = arith_op(&mut ctx, reg, f.st(0), b);
        if !ctx.blocked() {
            f.set_st(0, r);
        }
    }
    f.commit(&ctx);
}

/// `reg` of the arithmetic groups on (a = ST(0), b = the other operand).
fn arith_op(ctx: &mut Ctx, reg: u8, a: F80, b: F80) -> F80 {
    match reg {
        0 => fl::add(ctx, a, b, false),
        1 => fl::mul(ctx, a, b),
        4 => fl::add(ctx, a, b, true),
        5 => fl::add(ctx, b, a, true),
        6 => fl::div(ctx, a, b),
        _ => fl::div(ctx, b, a),
    }
}

/// D8 (ST(0) op ST(i) → ST(0)), DC (→ ST(i)), DE (→ ST(i), pop), with the comparison rows.
fn arith_reg(cpu: &mut Cpu, reg: u8, i: usize, to_sti: bool, pop: bool) -> Res {
    if reg == 2 || reg == 3 {
        // FCOM/FCOMP ST(i), the DC and DE aliases, and DE D9 FCOMPP.
        let pops = match (pop, reg) {
            (true, 3) => 2,
            (true, _) | (false, 3) => 1,
            _ => 0,
        };
        return compare_regs(cpu, i, false, pops, false);
    }
    let f = &mut cpu.s.fpu;
    let mut ctx = f.ctx();
    let dest = if to_sti { i } else { 0 };
    if f.empty(0) || f.empty(i) {
        underflow(&mut ctx);
        if ctx.masked(IE) {
            f.set_st(dest, F80::INDEFINITE);
            if pop {
                f.pop();
            }
        }
    } else {
        let r = arith_op(&mut ctx, reg, f.st(0), f.st(i));
        if !ctx.blocked() {
            f.set_st(dest, r);
            if pop {
                f.pop();
            }
        }
    }
    f.commit(&ctx);
    Ok(())
}

/// FCOM/FUCOM/FCOMI/FUCOMI families on ST(0) and ST(i): condition codes (or EFLAGS with
/// `eflags`), then `pops` pops.
fn compare_regs(cpu: &mut Cpu, i: usize, quiet: bool, pops: u32, to_eflags: bool) -> Res {
    let f = &mut cpu.s.fpu;
    let mut ctx = f.ctx();
    let o = if f.empty(0) || f.empty(i) {
        underflow(&mut ctx);
        None
    } else {
        fl::compare(&mut ctx, f.st(0), f.st(i), quiet)
    };
    if to_eflags {
        use std::cmp::Ordering::*;
        let flags = match o {
            Some(Greater) => 0,
            Some(Less) => eflags::CF,
            Some(Equal) => eflags::ZF,
            None => eflags::ZF | eflags::PF | eflags::CF,
        };
        cpu.s.set_arith(flags);
        if !ctx.blocked() {
            for _ in 0..pops {
                cpu.s.fpu.pop();
            }
        }
        cpu.s.fpu.commit(&ctx);
        return Ok(());
    }
    finish_compare(f, &ctx, o, pops);
    Ok(())
}

/// The condition codes are set even when an unmasked exception is raised (as measured on
/// hardware); the pops happen only without one.
fn finish_compare(f: &mut Fpu, ctx: &Ctx, o: fl::Order, pops: u32) {
    f.set_compare_cc(o);
    if !ctx.blocked() {
        for _ in 0..pops {
            f.pop();
        }
    }
    f.commit(ctx);
}

/// Pushes `make(ctx)` after the stack-overflow check (masked response: push the indefinite).
fn push_value(f: &mut Fpu, make: impl FnOnce(&mut Ctx) -> F80) {
    let mut ctx = f.ctx();
    if !f.empty(7) {
        overflow(&mut ctx);
        if ctx.masked(IE) {
            f.push(F80::INDEFINITE);
        }
    } else {
        let v = make(&mut ctx);
        if !ctx.blocked() {
            f.push(v);
        }
    }
    f.commit(&ctx);
}

/// FLD m32/m64: #D for a denormal source, #IA (and quieting) for an SNaN.
fn load_real(f: &mut Fpu, bits: u64, fmt: Fmt) {
    push_value(f, |ctx| {
        let v = fl::from_bits(ctx, bits, fmt);
        if v.kind() == fl::Kind::SNaN {
            ctx.raise(IE);
            v.quiet()
        } else {
            v
        }
    });
}

/// FST/FSTP m32/m64.
fn store_real(cpu: &mut Cpu, i: &Insn, fmt: Fmt, pop: bool) -> Res {
    let f = &cpu.s.fpu;
    let mut ctx = f.ctx();
    let bits = if f.empty(0) {
        underflow(&mut ctx);
        fl::indefinite_bits(fmt)
    } else {
        fl::to_bits(&mut ctx, f.st(0), fmt)
    };
    if ctx.unmasked(IE | OE | UE) {
        // Nothing is stored, so nothing was rounded: no #P, C1 clear.
        if ctx.unmasked(OE | UE) {
            ctx.flags &= !fl::PE;
            ctx.c1 = false;
        }
        cpu.s.fpu.commit(&ctx);
        return Ok(());
    }
    let n = if fmt == SGL { 4 } else { 8 };
    write_bytes(cpu, i, &bits.to_le_bytes()[..n])?;
    cpu.s.fpu.commit(&ctx);
    if pop {
        cpu.s.fpu.pop();
    }
    Ok(())
}

/// FIST/FISTP m16/m32/m64.
fn store_int(cpu: &mut Cpu, i: &Insn, bits: u32, pop: bool) -> Res {
    let f = &cpu.s.fpu;
    let mut ctx = f.ctx();
    let v = if f.empty(0) {
        underflow(&mut ctx);
        None
    } else {
        fl::to_int(&mut ctx, f.st(0), bits)
    };
    if ctx.blocked() {
        cpu.s.fpu.commit(&ctx);
        return Ok(());
    }
    let v = v.map(|v| v as u64).unwrap_or(fl::int_indefinite(bits));
    write_bytes(cpu, i, &v.to_le_bytes()[..bits as usize / 8])?;
    cpu.s.fpu.commit(&ctx);
    if pop {
        cpu.s.fpu.pop();
    }
    Ok(())
}

// ---- register forms ---------------------------------------------------------------------------

/// The constants of FLD1..FLDZ: (sign/exponent, significand truncated to 64 bits, whether the
/// exact value lies above it, whether it lies above the midpoint). The x87 rounds them by RC
/// without raising #P (SDM Vol. 1, 8.3.9).
const CONSTANTS: [(u16, u64, bool, bool); 7] = [
    (0x3fff, 0x8000_0000_0000_0000, false, false), // 1
    (0x4000, 0xd49a_784b_cd1b_8afe, true, false),  // log2(10)
    (0x3fff, 0xb8aa_3b29_5c17_f0bb, true, true),   // log2(e)
    (0x4000, 0xc90f_daa2_2168_c234, true, true),   // π
    (0x3ffd, 0x9a20_9a84_fbcf_f798, true, true),   // log10(2)
    (0x3ffe, 0xb172_17f7_d1cf_79ab, true, true),   // ln(2)
    (0, 0, false, false),                          // +0
];

pub fn constant(rc: u16, k: usize) -> F80 {
    let (se, sig, inexact, above_half) = CONSTANTS[k];
    let up = match rc {
        fl::RC_NEAREST => above_half,
        fl::RC_UP => inexact,
        _ => false,
    };
    F80::new(se, sig + up as u64)
}

/// Applies `op` to ST(0) (masked stack underflow: ST(0) becomes the indefinite).
fn unary(f: &mut Fpu, op: impl FnOnce(&mut Ctx, F80) -> F80) {
    let mut ctx = f.ctx();
    if f.empty(0) {
        underflow(&mut ctx);
        if ctx.masked(IE) {
            f.set_st(0, F80::INDEFINITE);
        }
    } else {
        let r = op(&mut ctx, f.st(0));
        if !ctx.blocked() {
            f.set_st(0, r);
        }
    }
    f.commit(&ctx);
}

/// `op(ST(0), ST(1))` into ST(1) and pop (FYL2X, FYL2XP1, FPATAN), or into ST(0) without
/// popping (FSCALE).
fn binary_st1(f: &mut Fpu, pop: bool, op: impl FnOnce(&mut Ctx, F80, F80) -> F80) {
    let mut ctx = f.ctx();
    let dest = pop as usize;
    if f.empty(0) || f.empty(1) {
        underflow(&mut ctx);
        if ctx.masked(IE) {
            f.set_st(dest, F80::INDEFINITE);
            if pop {
                f.pop();
            }
        }
    } else {
        let r = op(&mut ctx, f.st(0), f.st(1));
        if !ctx.blocked() {
            f.set_st(dest, r);
            if pop {
                f.pop();
            }
        }
    }
    f.commit(&ctx);
}

/// FPTAN, FSINCOS, FXTRACT: ST(0) replaced by `first` and `second` pushed. Needs ST(0) full and
/// ST(7) empty; masked stack faults leave two indefinites.
fn replace_and_push(f: &mut Fpu, op: impl FnOnce(&mut Ctx, F80) -> Option<(F80, F80)>) {
    let mut ctx = f.ctx();
    if f.empty(0) || !f.empty(7) {
        if f.empty(0) {
            underflow(&mut ctx);
        } else {
            overflow(&mut ctx);
        }
        if ctx.masked(IE) {
            f.set_st(0, F80::INDEFINITE);
            f.push(F80::INDEFINITE);
        }
        f.commit(&ctx);
        return;
    }
    let Some((a, b)) = op(&mut ctx, f.st(0)) else {
        // Out of range (C2 set by the caller's closure).
        f.commit(&ctx);
        f.fsw |= sw::C2;
        return;
    };
    if !ctx.blocked() {
        f.set_st(0, a);
        f.push(b);
    }
    f.commit(&ctx);
    f.fsw &= !sw::C2;
}

/// FSIN, FCOS: ST(0) = op(ST(0)), or C2 = 1 and nothing else for |x| ≥ 2^63.
fn trig_unary(f: &mut Fpu, op: fn(&mut Ctx, F80) -> F80) {
    if !f.empty(0) && f.st(0).is_finite_nonzero() && !tr::trig_in_range(f.st(0)) {
        let ctx = f.ctx();
        f.commit(&ctx);
        f.fsw |= sw::C2;
        return;
    }
    unary(f, |ctx, x| match tr::trig_special(ctx, x) {
        Some(r) => r,
        None if ctx.blocked() => x,
        None => op(ctx, x),
    });
    f.fsw &= !sw::C2;
}

fn fptan(ctx: &mut Ctx, x: F80) -> Option<(F80, F80)> {
    if x.is_finite_nonzero() && !tr::trig_in_range(x) {
        return None;
    }
    if let Some(r) = tr::trig_special(ctx, x) {
        return Some((r, r));
    }
    if ctx.blocked() {
        return Some((x, x));
    }
    Some((tr::ftan(ctx, x), F80::ONE))
}

fn fsincos(ctx: &mut Ctx, x: F80) -> Option<(F80, F80)> {
    if x.is_finite_nonzero() && !tr::trig_in_range(x) {
        return None;
    }
    if let Some(r) = tr::trig_special(ctx, x) {
        return Some((r, r));
    }
    if ctx.blocked() {
        return Some((x, x));
    }
    let s = tr::fsin(ctx, x);
    let c1 = ctx.c1;
    let c = tr::fcos(ctx, x);
    ctx.c1 |= c1;
    Some((s, c))
}

fn d9_reg(cpu: &mut Cpu, modrm: u8, i: usize) -> Res {
    let f = &mut cpu.s.fpu;
    match modrm {
        0xc0..=0xc7 => {
            let mut ctx = f.ctx();
            if !f.empty(7) {
                overflow(&mut ctx);
                if ctx.masked(IE) {
                    f.push(F80::INDEFINITE);
                }
            } else if f.empty(i) {
                underflow(&mut ctx);
                if ctx.masked(IE) {
                    f.push(F80::INDEFINITE);
                }
            } else {
                let v = f.st(i);
                f.push(v);
            }
            f.commit(&ctx);
        }
        0xc8..=0xcf => fxch(f, i),
        0xd0 => {} // FNOP
        0xd8..=0xdf => fst_reg(f, i, true),
        0xe0 => unary(f, |_, x| x.neg()),
        0xe1 => unary(f, |_, x| x.abs()),
        0xe4 => {
            let mut ctx = f.ctx();
            let o = if f.empty(0) {
                underflow(&mut ctx);
                None
            } else {
                fl::compare(&mut ctx, f.st(0), F80::ZERO, false)
            };
            finish_compare(f, &ctx, o, 0);
        }
        0xe5 => fxam(f),
        0xe8..=0xee => {
            let k = (modrm - 0xe8) as usize;
            let rc = (f.fcw >> 10) & 3;
            push_value(f, |_| constant(rc, k));
        }
        0xf0 => unary(f, tr::f2xm1),
        0xf1 => binary_st1(f, true, tr::fyl2x),
        0xf2 => replace_and_push(f, fptan),
        0xf3 => binary_st1(f, true, tr::fpatan),
        0xf4 => replace_and_push(f, |ctx, x| {
            let (e, s) = fl::extract(ctx, x);
            Some((e, s))
        }),
        0xf5 | 0xf8 => fprem(f, modrm == 0xf5),
        0xf6 | 0xf7 => {
            let t = if modrm == 0xf6 { f.top().wrapping_sub(1) } else { f.top() + 1 };
            f.set_top(t);
            f.fsw &= !sw::C1;
        }
        0xf9 => binary_st1(f, true, tr::fyl2xp1),
        0xfa => unary(f, fl::sqrt),
        0xfb => replace_and_push(f, fsincos),
        0xfc => unary(f, fl::round_int),
        0xfd => binary_st1(f, false, fl::scale),
        0xfe => trig_unary(f, tr::fsin),
        0xff => trig_unary(f, tr::fcos),
        _ => unreachable!("invalid D9 form {modrm:02x} is filtered by classify"),
    }
    Ok(())
}

fn fxch(f: &mut Fpu, i: usize) {
    let mut ctx = f.ctx();
    if f.empty(0) || f.empty(i) {
        underflow(&mut ctx);
        if !ctx.masked(IE) {
            f.commit(&ctx);
            return;
        }
        for k in [0, i] {
            if f.empty(k) {
                f.set_st(k, F80::INDEFINITE);
            }
        }
    }
    let (a, b) = (f.st(0), f.st(i));
    f.set_st(0, b);
    f.set_st(i, a);
    f.commit(&ctx);
}

/// FST/FSTP ST(i).
fn fst_reg(f: &mut Fpu, i: usize, pop: bool) {
    let mut ctx = f.ctx();
    if f.empty(0) {
        underflow(&mut ctx);
        if !ctx.masked(IE) {
            f.commit(&ctx);
            return;
        }
        f.set_st(i, F80::INDEFINITE);
    } else {
        let v = f.st(0);
        f.set_st(i, v);
    }
    f.commit(&ctx);
    if pop {
        f.pop();
    }
}

/// FXAM: the class of ST(0) in C3, C2, C0 and its sign in C1 (SDM Vol. 2, FXAM).
fn fxam(f: &mut Fpu) {
    use fl::Kind::*;
    let v = f.st(0);
    let cc = if f.empty(0) {
        sw::C3 | sw::C0
    } else {
        match v.kind() {
            Unsupported => 0,
            QNaN | SNaN => sw::C0,
            Normal => sw::C2,
            Inf => sw::C2 | sw::C0,
            Zero => sw::C3,
            Denormal => sw::C3 | sw::C2,
        }
    };
    let c1 = if v.sign() { sw::C1 } else { 0 };
    f.fsw = (f.fsw & !sw::CC) | cc | c1;
}

/// FPREM/FPREM1: ST(0) = remainder of ST(0) / ST(1); quotient bits in C0, C3, C1; C2 when
/// the reduction is incomplete.
fn fprem(f: &mut Fpu, ieee: bool) {
    let mut ctx = f.ctx();
    if f.empty(0) || f.empty(1) {
        underflow(&mut ctx);
        if ctx.masked(IE) {
            f.set_st(0, F80::INDEFINITE);
        }
        f.commit(&ctx);
        return;
    }
    let r = fl::rem(&mut ctx, f.st(0), f.st(1), ieee);
    if ctx.blocked() {
        f.commit(&ctx);
        return;
    }
    f.set_st(0, r.value);
    f.commit(&ctx);
    let bit = |b: u64, flag: u16| if r.q & b != 0 { flag } else { 0 };
    let cc = bit(4, sw::C0) | bit(2, sw::C3) | bit(1, sw::C1) | if r.partial { sw::C2 } else { 0 };
    f.fsw = (f.fsw & !sw::CC) | cc;
}

/// FCMOVcc (DA: B, E, BE, U; DB: the negations).
fn fcmov(cpu: &mut Cpu, reg: u8, i: usize, negate: bool) -> Res {
    let cc = [0x2, 0x4, 0x6, 0xa][reg as usize] | negate as u8;
    let take = crate::flags::cond(&cpu.s, cc);
    let f = &mut cpu.s.fpu;
    let mut ctx = f.ctx();
    if f.empty(0) || f.empty(i) {
        underflow(&mut ctx);
        if ctx.masked(IE) {
            f.set_st(0, F80::INDEFINITE);
        }
    } else if take {
        let v = f.st(i);
        f.set_st(0, v);
    }
    f.commit(&ctx);
    Ok(())
}

fn db_reg(cpu: &mut Cpu, modrm: u8, reg: u8, i: usize) -> Res {
    match modrm {
        0xc0..=0xdf => fcmov(cpu, reg, i, true),
        0xe0 | 0xe1 | 0xe4 => Ok(()), // FNENI, FNDISI, FNSETPM: no-ops since the 387
        0xe2 => {
            cpu.s.fpu.fsw &= !(sw::EXC | sw::SF | sw::ES | sw::B);
            Ok(())
        }
        0xe3 => {
            cpu.s.fpu.init();
            Ok(())
        }
        0xe8..=0xef => compare_regs(cpu, i, true, 0, true),
        _ => compare_regs(cpu, i, false, 0, true),
    }
}

fn dd_reg(cpu: &mut Cpu, reg: u8, i: usize) -> Res {
    let f = &mut cpu.s.fpu;
    match reg {
        0 => {
            f.free(i);
            Ok(())
        }
        1 => {
            fxch(f, i);
            Ok(())
        }
        2 | 3 => {
            fst_reg(f, i, reg == 3);
            Ok(())
        }
        4 => compare_regs(cpu, i, true, 0, false),
        _ => compare_regs(cpu, i, true, 1, false),
    }
}

fn df_reg(cpu: &mut Cpu, reg: u8, i: usize) -> Res {
    let f = &mut cpu.s.fpu;
    match reg {
        0 => {
            // FFREEP: free ST(i), then pop.
            f.free(i);
            f.set_top(f.top() + 1);
            Ok(())
        }
        1 => {
            fxch(f, i);
            Ok(())
        }
        2 | 3 => {
            fst_reg(f, i, true);
            Ok(())
        }
        4 => {
            let v = f.fsw as u32;
            cpu.set_reg(0, Size::W, v);
            Ok(())
        }
        5 => compare_regs(cpu, i, true, 1, true),
        _ => compare_regs(cpu, i, false, 1, true),
    }
}
