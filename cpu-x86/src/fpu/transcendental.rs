//! The transcendental instructions: F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS.
//!
//! SDM Vol. 1, 8.3.10 (transcendental instruction accuracy) and 8.1.3.2 (C2 for out-of-range
//! arguments); Vol. 2, the instruction pages and their special-value tables.
//!
//! Each result is computed in [`W`], a software float with a 128-bit significand (about 125
//! good bits after a series evaluation), and rounded once to extended precision by the rounding
//! control, so results are within 1 ulp (in practice correctly rounded). Precision control does
//! not apply (SDM Vol. 1, 8.1.5.2).
//!
//! Trigonometric arguments are reduced as the x87 does: modulo π/2 taken from the FPU's
//! internal 66-bit approximation of π (SDM Vol. 1, 8.3.10), so for large arguments the result
//! matches hardware (e.g. FSIN of FLDPI's π gives -2^-64, not the true -5.0165e-20).

use super::float80::*;

/// A software float: `m × 2^(exp - 127)`, `m` normalized (bit 127 set) unless zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct W {
    pub neg: bool,
    pub exp: i32,
    pub m: u128,
}

/// π to 128 bits (the first 32 hex digits of its fraction: 3.243F6A8885A308D313198A2E03707344).
const PI_M: u128 = 0xC90F_DAA2_2168_C234_C4C6_628B_80DC_1CD1;
/// ln 2 to 128 bits.
const LN2_M: u128 = 0xB172_17F7_D1CF_79AB_C9E3_B398_03F2_F6AF;
/// The x87's internal π/2 (66 bits, SDM Vol. 1, 8.3.10), as an integer: π/2 = P × 2^-65.
const PIO2_66: u128 = 0xC90F_DAA2_2168_C234_C >> 2;

impl W {
    pub const ZERO: W = W { neg: false, exp: 0, m: 0 };

    pub fn new(neg: bool, exp: i32, m: u128) -> W {
        if m == 0 {
            return W { neg, exp: 0, m: 0 };
        }
        let lz = m.leading_zeros();
        W { neg, exp: exp - lz as i32, m: m << lz }
    }
    pub fn from_u64(v: u64) -> W {
        W::new(false, 127, v as u128)
    }
    pub fn from_unpacked(u: Unpacked) -> W {
        W::new(u.sign, u.exp, (u.sig as u128) << 64)
    }
    pub fn from_f80(x: F80) -> W {
        if x.is_zero() {
            W { neg: x.sign(), ..W::ZERO }
        } else {
            W::from_unpacked(x.unpack())
        }
    }
    pub fn pi() -> W {
        W { neg: false, exp: 1, m: PI_M }
    }
    pub fn ln2() -> W {
        W { neg: false, exp: -1, m: LN2_M }
    }
    pub fn is_zero(self) -> bool {
        self.m == 0
    }
    pub fn neg(self) -> W {
        W { neg: !self.neg, ..self }
    }
    pub fn abs(self) -> W {
        W { neg: false, ..self }
    }
    /// `self × 2^k`.
    pub fn ldexp(self, k: i32) -> W {
        if self.m == 0 {
            self
        } else {
            W { exp: self.exp + k, ..self }
        }
    }

    pub fn add(self, o: W) -> W {
        if o.m == 0 {
            return self;
        }
        if self.m == 0 {
            return o;
        }
        let (big, small) = if (self.exp, self.m) >= (o.exp, o.m) { (self, o) } else { (o, self) };
        // One bit of headroom for the carry.
        let x = big.m >> 1 | (big.m & 1);
        let y = shr_jam128(small.m, (big.exp - small.exp) as u32 + 1);
        if big.neg == small.neg {
            W::new(big.neg, big.exp + 1, x + y)
        } else {
            W::new(big.neg, big.exp + 1, x - y)
        }
    }
    pub fn sub(self, o: W) -> W {
        self.add(o.neg())
    }

    pub fn mul(self, o: W) -> W {
        let neg = self.neg ^ o.neg;
        if self.m == 0 || o.m == 0 {
            return W { neg, ..W::ZERO };
        }
        let (a1, a0) = (self.m >> 64, self.m & u64::MAX as u128);
        let (b1, b0) = (o.m >> 64, o.m & u64::MAX as u128);
        let (hh, hl, lh, ll) = (a1 * b1, a1 * b0, a0 * b1, a0 * b0);
        let mid = (hl & u64::MAX as u128) + (lh & u64::MAX as u128) + (ll >> 64);
        let hi = hh + (hl >> 64) + (lh >> 64) + (mid >> 64);
        let lo_nonzero = (mid & u64::MAX as u128) != 0 || (ll & u64::MAX as u128) != 0;
        W::new(neg, self.exp + o.exp + 1, hi | lo_nonzero as u128)
    }

    pub fn div(self, o: W) -> W {
        let neg = self.neg ^ o.neg;
        assert!(o.m != 0, "W division by zero");
        if self.m == 0 {
            return W { neg, ..W::ZERO };
        }
        let (mut r, d) = (self.m, o.m);
        let mut q = 0u128;
        let mut carry = false;
        for _ in 0..128 {
            q <<= 1;
            if carry || r >= d {
                r = r.wrapping_sub(d);
                q |= 1;
            }
            carry = r >> 127 != 0;
            r <<= 1;
        }
        W::new(neg, self.exp - o.exp, q | (r != 0 || carry) as u128)
    }

    pub fn div_u(self, d: u64) -> W {
        self.div(W::from_u64(d))
    }

    /// Square root (Newton's method from a double-precision guess).
    pub fn sqrt(self) -> W {
        if self.m == 0 {
            return self;
        }
        let mut y = W::from_f64(self.to_f64().sqrt());
        for _ in 0..3 {
            y = y.add(self.div(y)).ldexp(-1);
        }
        y
    }

    pub fn to_f64(self) -> f64 {
        let v = (self.m >> 64) as f64 * 2f64.powi(self.exp - 63);
        if self.neg {
            -v
        } else {
            v
        }
    }
    fn from_f64(v: f64) -> W {
        let bits = v.abs().to_bits();
        let e = ((bits >> 52) & 0x7ff) as i32 - 1023;
        let m = (bits & ((1u64 << 52) - 1)) | 1 << 52;
        W::new(v < 0.0, e - 52 + 127, m as u128)
    }

    /// Rounds to the register format (precision 64, the rounding control of `ctx`).
    pub fn round(self, ctx: &mut Ctx) -> F80 {
        if self.m == 0 {
            return F80::zero(self.neg);
        }
        round_ext(ctx, 64, self.neg, self.exp, self.m)
    }
}

/// Sums a series `Σ term_k` where `next(term, k)` gives the following term, until terms stop
/// mattering at 128 bits.
fn series(first: W, mut next: impl FnMut(W, u64) -> W) -> W {
    let mut sum = first;
    let mut term = first;
    for k in 1..200 {
        term = next(term, k);
        if term.m == 0 {
            break;
        }
        // Even a term below the last bit is added: its sticky bit keeps directed rounding right.
        sum = sum.add(term);
        if term.exp < sum.exp - 132 {
            break;
        }
    }
    sum
}

/// e^x - 1 for |x| ≤ 1.
pub fn expm1(x: W) -> W {
    series(x, |t, k| t.mul(x).div_u(k + 1))
}

/// atanh(t) for |t| ≤ 0.2.
fn atanh(t: W) -> W {
    let t2 = t.mul(t);
    let mut pow = t;
    series(t, |_, k| {
        pow = pow.mul(t2);
        pow.div_u(2 * k + 1)
    })
}

/// ln(x) for x > 0, as (integer part of log2 from the exponent, ln of the significand part):
/// ln x = e·ln2 + f.
fn ln_parts(x: W) -> (i32, W) {
    // x = m × 2^e with m in [1, 2); move m to [sqrt(1/2), sqrt(2)).
    let mut e = x.exp;
    let mut m = W { neg: false, exp: 0, m: x.m };
    const SQRT2_M: u128 = 0xB504_F333_F9DE_6484_597D_89B3_754A_BE9F;
    if x.m > SQRT2_M {
        m.exp = -1;
        e += 1;
    }
    let one = W::from_u64(1);
    let t = m.sub(one).div(m.add(one));
    (e, atanh(t).ldexp(1))
}

/// log2(x) for x > 0.
pub fn log2(x: W) -> W {
    let (e, f) = ln_parts(x);
    let ei = W::new(e < 0, 127, e.unsigned_abs() as u128);
    ei.add(f.div(W::ln2()))
}

/// log2(1 + x) for |x| < 1, accurate relative to the result for tiny x.
pub fn log2_1p(x: W) -> W {
    let t = x.div(W::from_u64(2).add(x));
    atanh(t).ldexp(1).div(W::ln2())
}

/// atan(x), any x.
pub fn atan(x: W) -> W {
    let neg = x.neg;
    let mut a = x.abs();
    let one = W::from_u64(1);
    let big = a.exp >= 1; // |x| ≥ 1
    if big {
        a = one.div(a);
    }
    // Halvings, atan(a) = 2 atan(a / (1 + sqrt(1 + a²))), until |a| < 1/16.
    let mut halvings = 0;
    while a.m != 0 && a.exp >= -4 {
        a = a.div(one.add(one.add(a.mul(a)).sqrt()));
        halvings += 1;
    }
    let a2 = a.mul(a);
    let mut pow = a;
    let mut r = series(a, |_, k| {
        pow = pow.mul(a2).neg();
        pow.div_u(2 * k + 1)
    })
    .ldexp(halvings);
    if big {
        r = W::pi().ldexp(-1).sub(r);
    }
    if neg {
        r.neg()
    } else {
        r
    }
}

fn sin_series(r: W) -> W {
    let r2 = r.mul(r);
    series(r, |t, k| t.mul(r2).div_u((2 * k) * (2 * k + 1)).neg())
}

fn cos_series(r: W) -> W {
    let r2 = r.mul(r);
    series(W::from_u64(1), |t, k| t.mul(r2).div_u((2 * k - 1) * (2 * k)).neg())
}

/// Reduces |x| (finite, below 2^63) modulo the x87's π/2: (quadrant mod 4, r) with
/// |x| = q·π/2 + r and |r| ≤ π/4 (π being the FPU's 66-bit π).
pub fn reduce(u: Unpacked) -> (u32, W) {
    if u.exp < -1 {
        return (0, W::from_unpacked(Unpacked { sign: false, ..u }));
    }
    // |x| = X × 2^(e-63) = (X << (e+2)) × 2^-65 and π/2 = P × 2^-65.
    let num = (u.sig as u128) << (u.exp + 2);
    let (mut q, mut r) = (num / PIO2_66, num % PIO2_66);
    let mut neg = false;
    if 2 * r > PIO2_66 {
        r = PIO2_66 - r;
        q += 1;
        neg = true;
    }
    (q as u32 & 3, W::new(neg, 127 - 65, r))
}

/// sin and cos of a finite x with |x| < 2^63, with the x87's argument reduction.
pub fn sin_cos(x: F80) -> (W, W) {
    if x.is_zero() {
        return (W::from_f80(x), W::from_u64(1));
    }
    let u = x.unpack();
    let (q, r) = reduce(u);
    let (s, c) = (sin_series(r), cos_series(r));
    let (s, c) = match q {
        0 => (s, c),
        1 => (c, s.neg()),
        2 => (s.neg(), c.neg()),
        _ => (c.neg(), s),
    };
    (if u.sign { s.neg() } else { s }, c)
}

/// Whether a finite operand is in the trigonometric instructions' range (|x| < 2^63).
pub fn trig_in_range(x: F80) -> bool {
    x.is_zero() || x.unpack().exp < 63
}

/// FSIN/FCOS/FSINCOS/FPTAN's common checks: `Some(result)` for NaN, infinity and
/// unsupported operands (no trigonometry to do).
pub fn trig_special(ctx: &mut Ctx, x: F80) -> Option<F80> {
    if let Some(r) = propagate_nan1(ctx, x) {
        return Some(r);
    }
    if x.is_inf() {
        return Some(ctx.invalid());
    }
    ctx.check_denormal(x);
    None
}

/// Rounds `w`, which approximates a nonzero transcendental value, as inexact.
fn round_inexact(ctx: &mut Ctx, w: W) -> F80 {
    if w.m == 0 {
        return F80::zero(w.neg);
    }
    // Transcendental results of nonzero arguments are irrational: make sure the rounding sees
    // them as inexact even if the 128-bit approximation happens to end in zeros.
    round_ext(ctx, 64, w.neg, w.exp, w.m | 1)
}

/// FSIN.
pub fn fsin(ctx: &mut Ctx, x: F80) -> F80 {
    if x.is_zero() {
        return x;
    }
    round_inexact(ctx, sin_cos(x).0)
}

/// FCOS.
pub fn fcos(ctx: &mut Ctx, x: F80) -> F80 {
    if x.is_zero() {
        return F80::ONE;
    }
    round_inexact(ctx, sin_cos(x).1)
}

/// FPTAN's tangent.
pub fn ftan(ctx: &mut Ctx, x: F80) -> F80 {
    if x.is_zero() {
        return x;
    }
    let (s, c) = sin_cos(x);
    round_inexact(ctx, s.div(c))
}

/// F2XM1 and FYL2XP1 outside their domains behave as the hardware does (operand returned,
/// #P) rather than computing the function.
const ONLY_IN_DOMAIN: bool = true;

/// F2XM1: 2^x - 1 (defined for -1 ≤ x ≤ 1; computed for any finite x below 2^15).
pub fn f2xm1(ctx: &mut Ctx, x: F80) -> F80 {
    if let Some(r) = propagate_nan1(ctx, x) {
        return r;
    }
    match x.kind() {
        Kind::Zero => return x,
        Kind::Inf => return if x.sign() { F80::ONE.neg() } else { x },
        _ => {}
    }
    ctx.check_denormal(x);
    if ctx.blocked() {
        return x;
    }
    let w = W::from_f80(x);
    let y = w.mul(W::ln2());
    if w.exp < 0 || (w.exp == 0 && w.m == 1 << 127) {
        if w.exp == 0 {
            if x.sign() {
                return F80::new(0xbffe, 1 << 63); // 2^-1 - 1 = -0.5
            }
            // 2^1 - 1: the x87 delivers it as an inexact value just below 1 (measured: 1 - ulp
            // rounding toward zero, with #P).
            return round_ext(ctx, 64, false, -1, u128::MAX);
        }
        return round_inexact(ctx, expm1(y));
    }
    if ONLY_IN_DOMAIN {
        // Outside [-1, 1] the x87 returns the operand unchanged and reports #P (measured).
        ctx.raise(PE);
        return x;
    }
    // Outside [-1, 1] (undefined by the SDM): 2^x - 1 via 2^int × 2^frac.
    let u = x.unpack();
    if u.exp >= 15 {
        let big = if x.sign() { F80::ONE.neg() } else { F80::inf(false) };
        if !x.sign() {
            ctx.raise(OE | PE);
        }
        return big;
    }
    let n = (u.sig >> (63 - u.exp)) as i32;
    let n = if u.sign { -n } else { n };
    let frac = w.sub(W::new(n < 0, 127, n.unsigned_abs() as u128));
    let one = W::from_u64(1);
    let p = expm1(frac.mul(W::ln2())).add(one).ldexp(n).sub(one);
    round_inexact(ctx, p)
}

/// FYL2X: y × log2(x).
pub fn fyl2x(ctx: &mut Ctx, x: F80, y: F80) -> F80 {
    if let Some(r) = propagate_nan(ctx, x, y) {
        return r;
    }
    let (kx, ky) = (x.kind(), y.kind());
    if x.sign() && kx != Kind::Zero {
        return ctx.invalid();
    }
    if kx == Kind::Zero && !matches!(ky, Kind::Zero | Kind::Inf) {
        // log2(0) = -inf: division by zero, before any denormal check of y.
        ctx.raise(ZE);
        return F80::inf(!y.sign());
    }
    ctx.check_denormal(x);
    ctx.check_denormal(y);
    if ctx.blocked() {
        return y;
    }
    match kx {
        Kind::Zero => {
            return match ky {
                Kind::Zero => ctx.invalid(),
                Kind::Inf => F80::inf(!y.sign()),
                _ => {
                    ctx.raise(ZE);
                    F80::inf(!y.sign())
                }
            };
        }
        Kind::Inf => {
            return match ky {
                Kind::Zero => ctx.invalid(),
                _ => F80::inf(y.sign()),
            };
        }
        _ => {}
    }
    let l = log2(W::from_f80(x));
    if l.is_zero() {
        // x = 1
        return if ky == Kind::Inf { ctx.invalid() } else { F80::zero(y.sign()) };
    }
    match ky {
        Kind::Zero => F80::zero(y.sign() ^ l.neg),
        Kind::Inf => F80::inf(y.sign() ^ l.neg),
        _ => {
            let r = W::from_f80(y).mul(l);
            let exact_log = x.unpack().sig == 1 << 63; // a power of two: log2 is an integer
            if exact_log {
                // Exact, but the x87 still reports #P (measured): only log2(1) is exact for it.
                let v = r.round(ctx);
                ctx.raise(PE);
                if v.is_denormal() && ctx.masked(UE) {
                    ctx.raise(UE); // tiny and (for the x87) inexact
                }
                v
            } else {
                round_inexact(ctx, r)
            }
        }
    }
}

/// FYL2XP1: y × log2(x + 1) (defined for |x| < 1 - sqrt(2)/2).
pub fn fyl2xp1(ctx: &mut Ctx, x: F80, y: F80) -> F80 {
    if let Some(r) = propagate_nan(ctx, x, y) {
        return r;
    }
    let (kx, ky) = (x.kind(), y.kind());
    if (kx == Kind::Inf && x.sign()) || (kx == Kind::Zero && ky == Kind::Inf) {
        return ctx.invalid();
    }
    if x.is_finite_nonzero() && ky == Kind::Inf {
        ctx.check_denormal(x);
        return F80::inf(y.sign() ^ x.sign());
    }
    ctx.check_denormal(x);
    ctx.check_denormal(y);
    if ctx.blocked() {
        return y;
    }
    match (kx, ky) {
        (Kind::Zero, _) | (_, Kind::Zero) if kx != Kind::Inf => return F80::zero(x.sign() ^ y.sign()),
        _ => {}
    }
    let w = W::from_f80(x);
    if ONLY_IN_DOMAIN && w.exp >= 0 && w.neg && kx != Kind::Inf {
        // x ≤ -1: the x87 returns x and reports #P (measured).
        ctx.raise(PE);
        return x;
    }
    if kx == Kind::Inf || (w.neg && w.exp >= 0) {
        // Outside the domain (x ≤ -1 or infinite): undefined by the SDM.
        if kx == Kind::Inf && !x.sign() && ky != Kind::Zero {
            return F80::inf(y.sign());
        }
        return ctx.invalid();
    }
    let l = if w.exp < 0 { log2_1p(w) } else { log2(w.add(W::from_u64(1))) };
    if ky == Kind::Inf {
        return F80::inf(y.sign() ^ l.neg);
    }
    round_inexact(ctx, W::from_f80(y).mul(l))
}

/// FPATAN: the angle of (x, y), i.e. atan(y/x) in the right quadrant.
pub fn fpatan(ctx: &mut Ctx, x: F80, y: F80) -> F80 {
    if let Some(r) = propagate_nan(ctx, x, y) {
        return r;
    }
    ctx.check_denormal(x);
    ctx.check_denormal(y);
    if ctx.blocked() {
        return y;
    }
    let (sx, sy) = (x.sign(), y.sign());
    let pi = W::pi();
    let signed = |w: W| if sy { w.neg() } else { w };
    let (kx, ky) = (x.kind(), y.kind());
    let r = match (kx, ky) {
        (_, Kind::Zero) => {
            if sx {
                signed(pi)
            } else {
                return F80::zero(sy);
            }
        }
        (Kind::Inf, Kind::Inf) => signed(if sx { pi.mul(W::from_u64(3)).ldexp(-2) } else { pi.ldexp(-2) }),
        (Kind::Inf, _) => {
            if sx {
                signed(pi)
            } else {
                return F80::zero(sy);
            }
        }
        (_, Kind::Inf) | (Kind::Zero, _) => signed(pi.ldexp(-1)),
        _ => {
            let (wx, wy) = (W::from_f80(x), W::from_f80(y));
            let t = atan(wy.div(wx).abs());
            let t = if sx { pi.sub(t) } else { t };
            signed(t)
        }
    };
    round_inexact(ctx, r)
}
