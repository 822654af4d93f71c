//! 80-bit extended-precision soft-float: the x87 register format and its arithmetic, rounded
//! exactly as the x87 FPU rounds.
//!
//! SDM Vol. 1: 4.2 (floating-point formats), 4.8 (real numbers, denormals, NaNs), 4.9
//! (floating-point exception conditions and masked responses), 8.1.5 (precision and rounding
//! control), 8.2.2 (unsupported double extended-precision encodings), Table 4-7 (QNaN rules).
//!
//! Every operation takes a [`Ctx`] (the control word it runs under, and the exception flags and
//! C1 it produces). An operation never decides whether its result is stored: it raises flags, and
//! the instruction checks [`Ctx::blocked`] (an unmasked #IA, #D or #Z leaves the destination
//! alone) or the overflow/underflow masks for memory destinations.
//!
//! Internally a finite nonzero value is a sign, an unbounded exponent and an integer
//! significand; [`round_pack`] is the single place that rounds (to nearest-even, down, up or
//! toward zero, at 24, 53 or 64 bits), detects tininess before rounding, denormalizes, overflows
//! and applies the unmasked-overflow/underflow bias adjustment of 2^24576.

/// Exception flags, as in the status word and the control word's masks.
pub const IE: u16 = 1 << 0;
pub const DE: u16 = 1 << 1;
pub const ZE: u16 = 1 << 2;
pub const OE: u16 = 1 << 3;
pub const UE: u16 = 1 << 4;
pub const PE: u16 = 1 << 5;
/// Stack fault (with IE).
pub const SF: u16 = 1 << 6;

/// Rounding control (FCW bits 10-11).
pub const RC_NEAREST: u16 = 0;
pub const RC_DOWN: u16 = 1;
pub const RC_UP: u16 = 2;
pub const RC_ZERO: u16 = 3;

/// The exponent bias adjustment for unmasked overflow and underflow (SDM Vol. 1, 4.9.1.4-5).
const WRAP: i32 = 24576;

/// An 80-bit register value: the 64-bit significand (explicit integer bit 63) and the sign and
/// 15-bit biased exponent, laid out for `#[repr(C)]` state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[repr(C)]
pub struct F80 {
    pub signif: u64,
    /// Bit 15: sign; bits 0-14: biased exponent.
    pub se: u16,
    pub _pad: [u16; 3],
}

/// What an 80-bit encoding is (SDM Vol. 1, Table 8-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zero,
    Normal,
    /// Denormals and pseudo-denormals (exponent 0 with the integer bit set).
    Denormal,
    Inf,
    QNaN,
    SNaN,
    /// Pseudo-NaNs, pseudo-infinities and unnormals: invalid operands since the 387.
    Unsupported,
}

/// A finite nonzero value: `sig × 2^(exp - 63)`, with `sig` normalized (bit 63 set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    pub sign: bool,
    pub exp: i32,
    pub sig: u64,
}

impl F80 {
    pub const fn new(se: u16, signif: u64) -> F80 {
        F80 { signif, se, _pad: [0; 3] }
    }
    pub const ZERO: F80 = F80::new(0, 0);
    pub const ONE: F80 = F80::new(0x3fff, 1 << 63);
    /// The QNaN floating-point indefinite: what a masked invalid operation produces.
    pub const INDEFINITE: F80 = F80::new(0xffff, 0xc000_0000_0000_0000);

    pub fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }
    pub fn exp_bits(self) -> u16 {
        self.se & 0x7fff
    }
    pub fn zero(sign: bool) -> F80 {
        F80::new((sign as u16) << 15, 0)
    }
    pub fn inf(sign: bool) -> F80 {
        F80::new((sign as u16) << 15 | 0x7fff, 1 << 63)
    }
    pub fn with_sign(self, sign: bool) -> F80 {
        F80::new((self.se & 0x7fff) | (sign as u16) << 15, self.signif)
    }
    pub fn neg(self) -> F80 {
        F80::new(self.se ^ 0x8000, self.signif)
    }
    pub fn abs(self) -> F80 {
        F80::new(self.se & 0x7fff, self.signif)
    }

    pub fn kind(self) -> Kind {
        let e = self.exp_bits();
        let j = self.signif >> 63 != 0;
        match e {
            0 if self.signif == 0 => Kind::Zero,
            0 => Kind::Denormal,
            0x7fff if !j => Kind::Unsupported,
            0x7fff if self.signif << 1 == 0 => Kind::Inf,
            0x7fff if self.signif & (1 << 62) != 0 => Kind::QNaN,
            0x7fff => Kind::SNaN,
            _ if !j => Kind::Unsupported,
            _ => Kind::Normal,
        }
    }
    pub fn is_nan(self) -> bool {
        matches!(self.kind(), Kind::QNaN | Kind::SNaN)
    }
    pub fn is_zero(self) -> bool {
        self.kind() == Kind::Zero
    }
    pub fn is_inf(self) -> bool {
        self.kind() == Kind::Inf
    }
    pub fn is_denormal(self) -> bool {
        self.kind() == Kind::Denormal
    }
    /// Finite and nonzero (normal or denormal).
    pub fn is_finite_nonzero(self) -> bool {
        matches!(self.kind(), Kind::Normal | Kind::Denormal)
    }
    /// The quiet version of a NaN.
    pub fn quiet(self) -> F80 {
        F80::new(self.se, self.signif | 1 << 62)
    }

    /// Sign, unbiased exponent and normalized significand of a normal or denormal value.
    pub fn unpack(self) -> Unpacked {
        let e = self.exp_bits() as i32;
        let sign = self.sign();
        if e == 0 {
            let lz = self.signif.leading_zeros();
            Unpacked { sign, exp: 1 - 16383 - lz as i32, sig: self.signif << lz }
        } else {
            Unpacked { sign, exp: e - 16383, sig: self.signif }
        }
    }

    /// A value in the normal range from its parts (`sig` need not be normalized, nonzero).
    pub fn from_parts(sign: bool, exp: i32, sig: u64) -> F80 {
        let lz = sig.leading_zeros();
        let e = exp - lz as i32 + 16383;
        debug_assert!(e > 0 && e < 0x7fff);
        F80::new((sign as u16) << 15 | e as u16, sig << lz)
    }

    /// The exact value of a 64-bit integer (FILD).
    pub fn from_i64(v: i64) -> F80 {
        if v == 0 {
            return F80::ZERO;
        }
        F80::from_parts(v < 0, 63, v.unsigned_abs())
    }

    /// The 2-bit tag of a non-empty register: 0 valid, 1 zero, 2 special (SDM Vol. 1, 8.1.7).
    pub fn tag(self) -> u16 {
        match self.kind() {
            Kind::Normal => 0,
            Kind::Zero => 1,
            _ => 2,
        }
    }

    /// An approximate host value, for tests and debugging only.
    pub fn to_f64_lossy(self) -> f64 {
        match self.kind() {
            Kind::Zero => {
                if self.sign() {
                    -0.0
                } else {
                    0.0
                }
            }
            Kind::Inf => {
                if self.sign() {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }
            }
            Kind::Normal | Kind::Denormal => {
                let u = self.unpack();
                let v = u.sig as f64 * 2f64.powi(u.exp - 63);
                if u.sign {
                    -v
                } else {
                    v
                }
            }
            _ => f64::NAN,
        }
    }
}

/// The control word an operation runs under and what it raises.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub cw: u16,
    /// Exception flags raised (IE..PE, SF).
    pub flags: u16,
    /// C1: for an inexact result, whether it was rounded up in magnitude.
    pub c1: bool,
}

impl Ctx {
    pub fn new(cw: u16) -> Ctx {
        Ctx { cw, flags: 0, c1: false }
    }
    pub fn raise(&mut self, f: u16) {
        self.flags |= f;
    }
    /// Exception `f` is masked in the control word.
    pub fn masked(&self, f: u16) -> bool {
        self.cw & f == f
    }
    /// An unmasked exception among `f` was raised.
    pub fn unmasked(&self, f: u16) -> bool {
        self.flags & f & !self.cw & 0x3f != 0
    }
    /// An unmasked #IA, #D or #Z: the instruction must leave its destination (and TOP) alone.
    pub fn blocked(&self) -> bool {
        self.unmasked(IE | DE | ZE)
    }
    pub fn rc(&self) -> u16 {
        (self.cw >> 10) & 3
    }
    /// The precision-control significand width (24, 53 or 64; the reserved setting acts as 64).
    pub fn pc_bits(&self) -> u32 {
        match (self.cw >> 8) & 3 {
            0 => 24,
            2 => 53,
            _ => 64,
        }
    }
    /// An invalid operation: the masked response is the QNaN indefinite.
    pub fn invalid(&mut self) -> F80 {
        self.raise(IE);
        F80::INDEFINITE
    }
    /// Raises #D if `x` is a denormal operand.
    pub fn check_denormal(&mut self, x: F80) {
        if x.is_denormal() {
            self.raise(DE);
        }
    }
}

/// A destination format: significand width and exponent encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmt {
    pub bias: i32,
    /// The all-ones biased exponent (infinities and NaNs).
    pub emax: i32,
    /// Significand bits including the integer bit.
    pub p: u32,
}

pub const SGL: Fmt = Fmt { bias: 127, emax: 0xff, p: 24 };
pub const DBL: Fmt = Fmt { bias: 1023, emax: 0x7ff, p: 53 };
pub const EXT: Fmt = Fmt { bias: 16383, emax: 0x7fff, p: 64 };

/// A rounded result in a format: biased exponent (0 for denormals and zero, `emax` for infinity)
/// and the significand with its integer bit at bit 63.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packed {
    pub sign: bool,
    pub bexp: i32,
    pub sig: u64,
}

impl Packed {
    pub fn to_f80(self) -> F80 {
        F80::new((self.sign as u16) << 15 | (self.bexp as u16 & 0x7fff), self.sig)
    }
    /// The encoding in a 32- or 64-bit format (`fmt` is [`SGL`] or [`DBL`]).
    pub fn to_bits(self, fmt: Fmt) -> u64 {
        let frac = fmt.p - 1;
        let width = if fmt == SGL { 32 } else { 64 };
        let sign = (self.sign as u64) << (width - 1);
        if self.bexp >= fmt.emax {
            return sign | (fmt.emax as u64) << frac;
        }
        sign | (self.bexp as u64) << frac | (self.sig >> (64 - fmt.p)) & ((1u64 << frac) - 1)
    }
}

/// Shifts right by `n`, OR-ing every bit shifted out into bit 0 (so rounding still sees them).
pub fn shr_jam128(x: u128, n: u32) -> u128 {
    if n == 0 {
        x
    } else if n >= 128 {
        (x != 0) as u128
    } else {
        (x >> n) | ((x << (128 - n)) != 0) as u128
    }
}

/// Rounds `sig × 2^(exp - 127)` (`sig != 0`; bits below the exact value OR-ed into bit 0) to
/// `p` significand bits in `fmt`, raising #U, #O and #P. With `wrap` (a register destination),
/// an unmasked overflow or underflow delivers the result with its exponent adjusted by 2^24576;
/// otherwise the caller must not store when [`Ctx::unmasked`] reports #O or #U.
pub fn round_pack(ctx: &mut Ctx, fmt: Fmt, p: u32, sign: bool, exp: i32, sig: u128, wrap: bool) -> Packed {
    debug_assert!(sig != 0);
    let lz = sig.leading_zeros();
    let mut sig = sig << lz;
    let mut e = exp - lz as i32 + fmt.bias;
    let mut tiny = false;
    if e <= 0 {
        // Tininess is detected after rounding (as if the exponent were unbounded): a value just
        // below the smallest normal that rounds up to it is not tiny.
        tiny = e < 0 || !rounds_into_next_binade(ctx, p, sign, sig);
        if tiny && wrap && !ctx.masked(UE) {
            ctx.raise(UE);
            e += WRAP;
            if e <= 0 {
                // Too small even for the bias adjustment: a zero.
                ctx.raise(PE);
                ctx.c1 = false;
                return Packed { sign, bexp: 0, sig: 0 };
            }
            tiny = false;
        } else {
            sig = shr_jam128(sig, (1 - e) as u32);
            e = 1;
        }
    }
    let drop = 128 - p;
    let rem = sig & ((1u128 << drop) - 1);
    let half = 1u128 << (drop - 1);
    let mut kept = sig >> drop;
    let inexact = rem != 0;
    let up = match ctx.rc() {
        RC_NEAREST => rem > half || (rem == half && kept & 1 != 0),
        RC_DOWN => inexact && sign,
        RC_UP => inexact && !sign,
        _ => false,
    };
    if up {
        kept += 1;
        if kept >> p != 0 {
            kept >>= 1;
            e += 1;
        }
    }
    // A masked underflow is reported only when inexact.
    if tiny && (inexact || !ctx.masked(UE)) {
        ctx.raise(UE);
    }
    if inexact {
        ctx.raise(PE);
    }
    ctx.c1 = up;
    let mut sig64 = (kept << (64 - p)) as u64;
    let mut bexp = if sig64 >> 63 == 0 { 0 } else { e };
    if e >= fmt.emax {
        ctx.raise(OE);
        if !ctx.masked(OE) {
            if wrap {
                bexp = e - WRAP;
                if bexp >= fmt.emax {
                    // Too large even for the bias adjustment: an infinity.
                    ctx.raise(PE);
                    ctx.c1 = true;
                    return Packed { sign, bexp: fmt.emax, sig: 1 << 63 };
                }
            }
        } else {
            ctx.raise(PE);
            let to_inf = match ctx.rc() {
                RC_NEAREST => true,
                RC_DOWN => sign,
                RC_UP => !sign,
                _ => false,
            };
            if to_inf {
                bexp = fmt.emax;
                sig64 = 1 << 63;
                ctx.c1 = true;
            } else {
                bexp = fmt.emax - 1;
                sig64 = !0u64 << (64 - p);
                ctx.c1 = false;
            }
        }
    }
    Packed { sign, bexp, sig: sig64 }
}

/// Whether rounding the normalized `sig` (bit 127 set) to `p` bits carries into the next
/// power of two.
fn rounds_into_next_binade(ctx: &Ctx, p: u32, sign: bool, sig: u128) -> bool {
    let drop = 128 - p;
    let kept = sig >> drop;
    if kept != (1u128 << p) - 1 {
        return false;
    }
    let rem = sig & ((1u128 << drop) - 1);
    let half = 1u128 << (drop - 1);
    match ctx.rc() {
        RC_NEAREST => rem >= half,
        RC_DOWN => rem != 0 && sign,
        RC_UP => rem != 0 && !sign,
        _ => false,
    }
}

/// [`round_pack`] to the register format at precision `p`.
pub fn round_ext(ctx: &mut Ctx, p: u32, sign: bool, exp: i32, sig: u128) -> F80 {
    round_pack(ctx, EXT, p, sign, exp, sig, true).to_f80()
}

/// Rounds a register value at precision `p` (an operand passed through unchanged by the
/// arithmetic, e.g. `x + 0`, still obeys precision control and may underflow).
fn round_value(ctx: &mut Ctx, p: u32, x: F80, sign: bool) -> F80 {
    let u = x.unpack();
    round_ext(ctx, p, sign, u.exp, (u.sig as u128) << 64)
}

/// NaN operands and unsupported formats of a two-operand arithmetic instruction (SDM Vol. 1,
/// Table 4-7): the result, with #IA raised when the rules say, or `None` if both are numbers.
pub fn propagate_nan(ctx: &mut Ctx, a: F80, b: F80) -> Option<F80> {
    let (ka, kb) = (a.kind(), b.kind());
    if ka == Kind::Unsupported || kb == Kind::Unsupported {
        return Some(ctx.invalid());
    }
    let (na, nb) = (a.is_nan(), b.is_nan());
    if !na && !nb {
        return None;
    }
    if ka == Kind::SNaN || kb == Kind::SNaN {
        ctx.raise(IE);
    }
    let r = if na && nb {
        if ka == Kind::SNaN && kb == Kind::QNaN {
            b
        } else if kb == Kind::SNaN && ka == Kind::QNaN {
            a
        } else {
            // Both quiet or both signaling: the larger significand; on a tie, the positive one.
            let (sa, sb) = (a.signif << 1, b.signif << 1);
            if sa > sb || (sa == sb && !a.sign()) {
                a
            } else {
                b
            }
        }
    } else if na {
        a
    } else {
        b
    };
    Some(r.quiet())
}

/// One-operand version of [`propagate_nan`].
pub fn propagate_nan1(ctx: &mut Ctx, a: F80) -> Option<F80> {
    match a.kind() {
        Kind::Unsupported => Some(ctx.invalid()),
        Kind::SNaN => {
            ctx.raise(IE);
            Some(a.quiet())
        }
        Kind::QNaN => Some(a),
        _ => None,
    }
}

/// FADD/FSUB: `a + b`, or `a - b` with `negate_b`, rounded at the precision control.
pub fn add(ctx: &mut Ctx, a: F80, b: F80, negate_b: bool) -> F80 {
    if let Some(r) = propagate_nan(ctx, a, b) {
        return r;
    }
    ctx.check_denormal(a);
    ctx.check_denormal(b);
    if ctx.blocked() {
        return a;
    }
    let (sa, sb) = (a.sign(), b.sign() ^ negate_b);
    match (a.is_inf(), b.is_inf()) {
        (true, true) if sa != sb => return ctx.invalid(),
        (true, _) => return F80::inf(sa),
        (_, true) => return F80::inf(sb),
        _ => {}
    }
    let p = ctx.pc_bits();
    match (a.is_zero(), b.is_zero()) {
        (true, true) => return F80::zero(if sa == sb { sa } else { ctx.rc() == RC_DOWN }),
        (true, false) => return round_value(ctx, p, b, sb),
        (false, true) => return round_value(ctx, p, a, sa),
        _ => {}
    }
    let (mut ua, mut ub) = (a.unpack(), b.unpack());
    ua.sign = sa;
    ub.sign = sb;
    let (big, small) = if (ua.exp, ua.sig) >= (ub.exp, ub.sig) { (ua, ub) } else { (ub, ua) };
    let x = (big.sig as u128) << 63;
    let y = shr_jam128((small.sig as u128) << 63, (big.exp - small.exp) as u32);
    let r = if big.sign == small.sign { x + y } else { x - y };
    if r == 0 {
        return F80::zero(ctx.rc() == RC_DOWN);
    }
    round_ext(ctx, p, big.sign, big.exp + 1, r)
}

/// FMUL.
pub fn mul(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if let Some(r) = propagate_nan(ctx, a, b) {
        return r;
    }
    ctx.check_denormal(a);
    ctx.check_denormal(b);
    if ctx.blocked() {
        return a;
    }
    let sign = a.sign() ^ b.sign();
    if a.is_inf() || b.is_inf() {
        if a.is_zero() || b.is_zero() {
            return ctx.invalid();
        }
        return F80::inf(sign);
    }
    if a.is_zero() || b.is_zero() {
        return F80::zero(sign);
    }
    let (ua, ub) = (a.unpack(), b.unpack());
    round_ext(ctx, ctx.pc_bits(), sign, ua.exp + ub.exp + 1, ua.sig as u128 * ub.sig as u128)
}

/// FDIV: `a / b`.
pub fn div(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if let Some(r) = propagate_nan(ctx, a, b) {
        return r;
    }
    let sign = a.sign() ^ b.sign();
    if (a.is_inf() && b.is_inf()) || (a.is_zero() && b.is_zero()) {
        return ctx.invalid();
    }
    if b.is_zero() && !a.is_inf() {
        // Division by zero takes precedence over a denormal dividend.
        ctx.raise(ZE);
        return F80::inf(sign);
    }
    ctx.check_denormal(a);
    ctx.check_denormal(b);
    if ctx.blocked() {
        return a;
    }
    if a.is_inf() {
        return F80::inf(sign);
    }
    if b.is_inf() || a.is_zero() {
        return F80::zero(sign);
    }
    let (ua, ub) = (a.unpack(), b.unpack());
    let d = ub.sig as u128;
    let n = (ua.sig as u128) << 64;
    let (mut q, mut r) = (n / d, n % d);
    for _ in 0..2 {
        r <<= 1;
        q <<= 1;
        if r >= d {
            r -= d;
            q |= 1;
        }
    }
    round_ext(ctx, ctx.pc_bits(), sign, ua.exp - ub.exp + 61, q | (r != 0) as u128)
}

/// Square root of a significand: `floor(sqrt(m × 4^extra))` and whether it is inexact.
/// `m < 2^66`.
fn isqrt_stream(m: u128, extra: u32) -> (u128, bool) {
    let (mut rem, mut root) = (0u128, 0u128);
    for i in (0..33).rev() {
        rem = (rem << 2) | ((m >> (2 * i)) & 3);
        let t = (root << 2) | 1;
        root <<= 1;
        if rem >= t {
            rem -= t;
            root |= 1;
        }
    }
    for _ in 0..extra {
        rem <<= 2;
        let t = (root << 2) | 1;
        root <<= 1;
        if rem >= t {
            rem -= t;
            root |= 1;
        }
    }
    (root, rem != 0)
}

/// FSQRT.
pub fn sqrt(ctx: &mut Ctx, a: F80) -> F80 {
    if let Some(r) = propagate_nan1(ctx, a) {
        return r;
    }
    if a.is_zero() {
        return a;
    }
    if a.sign() {
        return ctx.invalid();
    }
    if a.is_inf() {
        return a;
    }
    ctx.check_denormal(a);
    if ctx.blocked() {
        return a;
    }
    let u = a.unpack();
    let s = (u.exp - 63).rem_euclid(2);
    let m = (u.sig as u128) << s;
    let (root, inexact) = isqrt_stream(m, 34);
    let e = (u.exp - 63 - s) / 2 - 34 + 127;
    round_ext(ctx, ctx.pc_bits(), false, e, root | inexact as u128)
}

/// Rounds a finite value to an integer magnitude by the rounding control: (magnitude, inexact,
/// rounded up in magnitude). `None` if the magnitude is 2^127 or more.
pub fn round_to_int(rc: u16, u: Unpacked) -> Option<(u128, bool, bool)> {
    if u.exp >= 127 {
        return None;
    }
    if u.exp >= 63 {
        return Some(((u.sig as u128) << (u.exp - 63), false, false));
    }
    let x = (u.sig as u128) << 64; // value = x × 2^(exp - 127)
    let sh = (127 - u.exp) as u32; // ≥ 65
    let (kept, rem, half) = if sh < 128 {
        (x >> sh, x & ((1u128 << sh) - 1), 1u128 << (sh - 1))
    } else if sh == 128 {
        (0, x, 1u128 << 127)
    } else {
        (0, 1, 1u128 << 127) // below one half, not zero
    };
    let inexact = rem != 0;
    let up = match rc {
        RC_NEAREST => rem > half || (rem == half && kept & 1 != 0),
        RC_DOWN => inexact && u.sign,
        RC_UP => inexact && !u.sign,
        _ => false,
    };
    Some((kept + up as u128, inexact, up))
}

/// An integer magnitude below 2^64, with a sign, as a register value.
fn from_mag(sign: bool, mag: u128) -> F80 {
    if mag == 0 {
        return F80::zero(sign);
    }
    if mag >> 64 != 0 {
        return F80::from_parts(sign, 64, (mag >> 1) as u64);
    }
    F80::from_parts(sign, 63, mag as u64)
}

/// FRNDINT.
pub fn round_int(ctx: &mut Ctx, a: F80) -> F80 {
    if let Some(r) = propagate_nan1(ctx, a) {
        return r;
    }
    if !a.is_finite_nonzero() {
        return a;
    }
    ctx.check_denormal(a);
    if ctx.blocked() {
        return a;
    }
    let u = a.unpack();
    if u.exp >= 63 {
        return a;
    }
    let (mag, inexact, up) = round_to_int(ctx.rc(), u).expect("exp < 63");
    if inexact {
        ctx.raise(PE);
    }
    ctx.c1 = up;
    from_mag(u.sign, mag)
}

/// FIST/FISTP: the value rounded to a signed integer of `bits` (16, 32, 64). `None` is an
/// invalid operation (NaN, infinity, out of range): the masked response is the integer
/// indefinite.
pub fn to_int(ctx: &mut Ctx, a: F80, bits: u32) -> Option<i64> {
    match a.kind() {
        Kind::Zero => return Some(0),
        Kind::Normal | Kind::Denormal => {}
        _ => {
            ctx.raise(IE);
            return None;
        }
    }
    let u = a.unpack();
    let Some((mag, inexact, up)) = round_to_int(ctx.rc(), u) else {
        ctx.raise(IE);
        return None;
    };
    let limit = 1u128 << (bits - 1);
    if (u.sign && mag > limit) || (!u.sign && mag >= limit) {
        ctx.raise(IE);
        return None;
    }
    if inexact {
        ctx.raise(PE);
    }
    ctx.c1 = up;
    let v = mag as i128;
    Some(if u.sign { -v } else { v } as i64)
}

/// The integer indefinite of a `bits`-wide integer.
pub fn int_indefinite(bits: u32) -> u64 {
    1u64 << (bits - 1)
}

/// FBLD: an 80-bit packed BCD value (18 digits, sign in bit 7 of byte 9), exactly.
pub fn from_bcd(b: &[u8; 10]) -> F80 {
    let mut v: u64 = 0;
    for i in (0..9).rev() {
        v = v * 100 + (b[i] >> 4) as u64 * 10 + (b[i] & 15) as u64;
    }
    let sign = b[9] & 0x80 != 0;
    if v == 0 {
        return F80::zero(sign);
    }
    F80::from_parts(sign, 63, v)
}

/// The packed-BCD indefinite that FBSTP stores for an invalid operation.
pub const BCD_INDEFINITE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff];

/// FBSTP: the value rounded to an integer and packed as BCD; `None` for an invalid operation.
pub fn to_bcd(ctx: &mut Ctx, a: F80) -> Option<[u8; 10]> {
    let (sign, mag) = match a.kind() {
        Kind::Zero => (a.sign(), 0u128),
        Kind::Normal | Kind::Denormal => {
            ctx.check_denormal(a);
            let u = a.unpack();
            let Some((mag, inexact, up)) = round_to_int(ctx.rc(), u) else {
                ctx.raise(IE);
                return None;
            };
            if mag >= 1_000_000_000_000_000_000 {
                ctx.raise(IE);
                return None;
            }
            if inexact {
                ctx.raise(PE);
            }
            ctx.c1 = up;
            (u.sign, mag)
        }
        _ => {
            ctx.raise(IE);
            return None;
        }
    };
    let mut out = [0u8; 10];
    let mut m = mag as u64;
    for byte in out.iter_mut().take(9) {
        let lo = (m % 10) as u8;
        m /= 10;
        let hi = (m % 10) as u8;
        m /= 10;
        *byte = hi << 4 | lo;
    }
    out[9] = (sign as u8) << 7;
    Some(out)
}

/// A 32- or 64-bit real from memory as a register value (exact). Raises #D for a denormal
/// source; SNaNs stay signaling (the caller quiets and raises #IA where the instruction does).
pub fn from_bits(ctx: &mut Ctx, bits: u64, fmt: Fmt) -> F80 {
    let frac_bits = fmt.p - 1;
    let width = if fmt == SGL { 32 } else { 64 };
    let sign = (bits >> (width - 1)) & 1 != 0;
    let e = ((bits >> frac_bits) & fmt.emax as u64) as i32;
    let frac = bits & ((1u64 << frac_bits) - 1);
    let shift = 64 - fmt.p; // aligns the fraction under bit 63
    if e == 0 {
        if frac == 0 {
            return F80::zero(sign);
        }
        ctx.raise(DE);
        return F80::from_parts(sign, 1 - fmt.bias - frac_bits as i32 + 63, frac);
    }
    if e == fmt.emax {
        if frac == 0 {
            return F80::inf(sign);
        }
        return F80::new((sign as u16) << 15 | 0x7fff, 1 << 63 | frac << shift);
    }
    F80::new((sign as u16) << 15 | (e - fmt.bias + 16383) as u16, 1 << 63 | frac << shift)
}

/// FST to a 32- or 64-bit real: the encoding, rounded to the format. Raises #IA (SNaN,
/// unsupported), #O, #U, #P; the caller must not store on an unmasked one.
pub fn to_bits(ctx: &mut Ctx, a: F80, fmt: Fmt) -> u64 {
    let frac_bits = fmt.p - 1;
    let width = if fmt == SGL { 32 } else { 64 };
    let sign = (a.sign() as u64) << (width - 1);
    let exp_all = (fmt.emax as u64) << frac_bits;
    match a.kind() {
        Kind::Zero => sign,
        Kind::Inf => sign | exp_all,
        Kind::Unsupported => {
            ctx.raise(IE);
            indefinite_bits(fmt)
        }
        Kind::SNaN | Kind::QNaN => {
            if a.kind() == Kind::SNaN {
                ctx.raise(IE);
            }
            let q = a.quiet();
            sign | exp_all | ((q.signif << 1) >> (64 - frac_bits))
        }
        Kind::Normal | Kind::Denormal => {
            let u = a.unpack();
            round_pack(ctx, fmt, fmt.p, u.sign, u.exp, (u.sig as u128) << 64, false).to_bits(fmt)
        }
    }
}

/// The QNaN indefinite in a 32- or 64-bit format.
pub fn indefinite_bits(fmt: Fmt) -> u64 {
    if fmt == SGL {
        0xffc0_0000
    } else {
        0xfff8_0000_0000_0000
    }
}

/// Comparison result (the unordered case is `None`).
pub type Order = Option<std::cmp::Ordering>;

/// FCOM/FUCOM/FTST/FICOM/FCOMI: compares `a` with `b`. A NaN raises #IA unless `quiet` and
/// both NaNs are quiet; an unsupported format always does; denormals raise #D.
pub fn compare(ctx: &mut Ctx, a: F80, b: F80, quiet: bool) -> Order {
    let (ka, kb) = (a.kind(), b.kind());
    if ka == Kind::Unsupported || kb == Kind::Unsupported {
        ctx.raise(IE);
        return None;
    }
    if a.is_nan() || b.is_nan() {
        if !quiet || ka == Kind::SNaN || kb == Kind::SNaN {
            ctx.raise(IE);
        }
        return None;
    }
    ctx.check_denormal(a);
    ctx.check_denormal(b);
    Some(compare_numbers(a, b))
}

/// Orders two non-NaN values.
pub fn compare_numbers(a: F80, b: F80) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    let key = |x: F80| -> (i32, u64) {
        match x.kind() {
            Kind::Zero => (i32::MIN, 0),
            Kind::Inf => (i32::MAX, 0),
            _ => {
                let u = x.unpack();
                (u.exp, u.sig)
            }
        }
    };
    if a.is_zero() && b.is_zero() {
        return Equal;
    }
    let (sa, sb) = (a.sign() && !a.is_zero(), b.sign() && !b.is_zero());
    match (sa, sb) {
        (true, false) => Less,
        (false, true) => Greater,
        (false, false) => key(a).cmp(&key(b)),
        (true, true) => key(b).cmp(&key(a)),
    }
}

/// FSCALE: `a × 2^trunc(b)`.
pub fn scale(ctx: &mut Ctx, a: F80, b: F80) -> F80 {
    if let Some(r) = propagate_nan(ctx, a, b) {
        return r;
    }
    if b.is_inf() {
        return match (b.sign(), a.kind()) {
            (false, Kind::Zero) | (true, Kind::Inf) => ctx.invalid(),
            (false, Kind::Inf) | (true, Kind::Zero) => a,
            (false, _) => {
                ctx.check_denormal(a);
                F80::inf(a.sign())
            }
            (true, _) => {
                ctx.check_denormal(a);
                F80::zero(a.sign())
            }
        };
    }
    ctx.check_denormal(a);
    ctx.check_denormal(b);
    if ctx.blocked() || a.is_inf() || a.is_zero() {
        return a;
    }
    let n: i32 = if b.is_zero() {
        0
    } else {
        let ub = b.unpack();
        let m = if ub.exp >= 20 {
            1 << 20
        } else if ub.exp < 0 {
            0
        } else {
            (ub.sig >> (63 - ub.exp)) as i32
        };
        if ub.sign {
            -m
        } else {
            m
        }
    };
    let u = a.unpack();
    round_ext(ctx, 64, u.sign, u.exp + n, (u.sig as u128) << 64)
}

/// The outcome of FPREM/FPREM1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rem {
    pub value: F80,
    /// The low three bits of the quotient (C0 = bit 2, C3 = bit 1, C1 = bit 0).
    pub q: u64,
    /// C2: the reduction is incomplete (exponent difference of 64 or more).
    pub partial: bool,
}

/// FPREM (`ieee` = false: quotient truncated) and FPREM1 (quotient rounded to nearest).
pub fn rem(ctx: &mut Ctx, a: F80, b: F80, ieee: bool) -> Rem {
    let done = |value| Rem { value, q: 0, partial: false };
    if let Some(r) = propagate_nan(ctx, a, b) {
        return done(r);
    }
    if a.is_inf() || b.is_zero() {
        return done(ctx.invalid());
    }
    ctx.check_denormal(a);
    ctx.check_denormal(b);
    if ctx.blocked() || a.is_zero() {
        return done(a);
    }
    let ua = a.unpack();
    if b.is_inf() {
        return done(round_ext(ctx, 64, ua.sign, ua.exp + 64, ua.sig as u128));
    }
    let ub = b.unpack();
    let d = ua.exp - ub.exp;
    if d < 0 {
        if ieee && d == -1 && ua.sig > ub.sig {
            // |a| > |b|/2: a - b, the quotient rounds to 1.
            let r = ((ub.sig as u128) << 1) - ua.sig as u128;
            let value = round_ext(ctx, 64, !ua.sign, ua.exp + 64, r);
            return Rem { value, q: 1, partial: false };
        }
        return done(round_ext(ctx, 64, ua.sign, ua.exp + 64, ua.sig as u128));
    }
    let (shift, partial, exp) = if d >= 64 {
        let n = (d & 31) | 32;
        (n, true, ub.exp + (d - n))
    } else {
        (d, false, ub.exp)
    };
    let num = (ua.sig as u128) << shift;
    let den = ub.sig as u128;
    let (mut q, mut r) = (num / den, num % den);
    let mut sign = ua.sign;
    if ieee && !partial && (2 * r > den || (2 * r == den && q & 1 != 0)) {
        r = den - r;
        q += 1;
        sign = !sign;
    }
    let value = if r == 0 { F80::zero(ua.sign) } else { round_ext(ctx, 64, sign, exp + 64, r) };
    Rem { value, q: if partial { 0 } else { (q & 7) as u64 }, partial }
}

/// FXTRACT: (exponent, significand) of `a`.
pub fn extract(ctx: &mut Ctx, a: F80) -> (F80, F80) {
    if let Some(r) = propagate_nan1(ctx, a) {
        return (r, r);
    }
    match a.kind() {
        Kind::Zero => {
            ctx.raise(ZE);
            (F80::inf(true), a)
        }
        Kind::Inf => (F80::inf(false), a),
        _ => {
            ctx.check_denormal(a);
            let u = a.unpack();
            (F80::from_i64(u.exp as i64), F80::new((u.sign as u16) << 15 | 0x3fff, u.sig))
        }
    }
}
