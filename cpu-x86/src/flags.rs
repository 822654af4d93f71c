//! Lazy arithmetic flags, shared by the interpreter and the JIT.
//!
//! Most instructions set CF, PF, AF, ZF, SF and OF, and most of those flags are never read. So an
//! instruction only records *what* it did ([`CcOp`]: operation and size) and its result and
//! operand in `cc_dst`/`cc_src` (plus carry-in in `cc_src2`); the flags are computed when someone
//! asks ([`arith_flags`], [`cond`]).
//!
//! | cc_op        | cc_dst | cc_src        | cc_src2        |
//! |--------------|--------|---------------|----------------|
//! | `EFLAGS`     | -      | the six flags | -              |
//! | `ADD`, `SUB` | result | second operand| -              |
//! | `ADC`, `SBB` | result | second operand| carry in (0/1) |
//! | `LOGIC`      | result | -             | -              |
//! | `INC`, `DEC` | result | -             | CF before (0/1)|
//!
//! **Invariant:** any instruction boundary is a valid switch point between the tiers: the flags are
//! a pure function of `(flags, cc_op, cc_dst, cc_src, cc_src2)`.

use crate::state::{eflags::*, CpuState};

/// Operand size in bytes: 1, 2 or 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Size {
    B = 1,
    W = 2,
    D = 4,
}

impl Size {
    #[inline]
    pub fn bytes(self) -> u32 {
        self as u32
    }
    #[inline]
    pub fn bits(self) -> u32 {
        self as u32 * 8
    }
    #[inline]
    pub fn mask(self) -> u32 {
        match self {
            Size::B => 0xff,
            Size::W => 0xffff,
            Size::D => 0xffff_ffff,
        }
    }
    #[inline]
    pub fn sign(self) -> u32 {
        1 << (self.bits() - 1)
    }
    /// Sign-extends the low `self` bits of `v` to 32 bits.
    #[inline]
    pub fn sext(self, v: u32) -> u32 {
        match self {
            Size::B => v as u8 as i8 as i32 as u32,
            Size::W => v as u16 as i16 as i32 as u32,
            Size::D => v,
        }
    }
    fn from_code(c: u32) -> Size {
        match c & 3 {
            0 => Size::B,
            1 => Size::W,
            _ => Size::D,
        }
    }
}

/// Which operation last set the arithmetic flags, and at which size: `kind << 2 | size code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct CcOp(pub u32);

impl CcOp {
    /// Flags are materialised in `cc_src`.
    pub const EFLAGS: u32 = 0;
    pub const ADD: u32 = 1;
    pub const ADC: u32 = 2;
    pub const SUB: u32 = 3;
    pub const SBB: u32 = 4;
    pub const LOGIC: u32 = 5;
    pub const INC: u32 = 6;
    pub const DEC: u32 = 7;

    #[allow(non_upper_case_globals)]
    pub const Eflags: CcOp = CcOp(0);

    #[inline]
    pub const fn new(kind: u32, size: Size) -> CcOp {
        CcOp(kind << 2 | (size as u32 >> 1))
    }
    #[inline]
    pub fn kind(self) -> u32 {
        self.0 >> 2
    }
    /// Whether flags of `kind` depend on `cc_src2` (a carry in: ADC's and SBB's, the CF INC and
    /// DEC keep).
    #[inline]
    pub const fn uses_src2(kind: u32) -> bool {
        matches!(kind, CcOp::ADC | CcOp::SBB | CcOp::INC | CcOp::DEC)
    }
    #[inline]
    pub fn size(self) -> Size {
        Size::from_code(self.0)
    }
}

// `Size as u32 >> 1` gives B=0, W=1, D=2: the size code. Checked here once.
const _: () = assert!((Size::D as u32 >> 1) == 2 && (Size::W as u32 >> 1) == 1);

/// Parity of the low byte: PF is set when it has an even number of ones.
#[inline]
pub fn parity(v: u32) -> u32 {
    if (v as u8).count_ones().is_multiple_of(2) {
        PF
    } else {
        0
    }
}

/// ZF, SF and PF of a result of size `size`.
#[inline]
pub fn szp(res: u32, size: Size) -> u32 {
    let r = res & size.mask();
    (if r == 0 { ZF } else { 0 }) | (if r & size.sign() != 0 { SF } else { 0 }) | parity(r)
}

/// Computes CF, PF, AF, ZF, SF and OF from the lazy state.
pub fn arith_flags(s: &CpuState) -> u32 {
    let op = s.cc_op;
    if op.kind() == CcOp::EFLAGS {
        return s.cc_src & ARITH;
    }
    let size = op.size();
    let (m, sign) = (size.mask(), size.sign());
    let res = s.cc_dst & m;
    let b = s.cc_src & m;
    let cin = if CcOp::uses_src2(op.kind()) { s.cc_src2 & 1 } else { 0 };
    let of = |cond: bool| if cond { OF } else { 0 };
    let cf = |cond: bool| if cond { CF } else { 0 };
    let af = |a: u32, b: u32| (a ^ b ^ res) & AF;
    let flags = match op.kind() {
        CcOp::ADD | CcOp::ADC => {
            let a = res.wrapping_sub(b).wrapping_sub(cin) & m;
            let carry = if cin != 0 { res <= b } else { res < b };
            cf(carry) | af(a, b) | of((a ^ res) & (b ^ res) & sign != 0)
        }
        CcOp::SUB | CcOp::SBB => {
            let a = res.wrapping_add(b).wrapping_add(cin) & m;
            let borrow = if cin != 0 { a <= b } else { a < b };
            cf(borrow) | af(a, b) | of((a ^ b) & (a ^ res) & sign != 0)
        }
        CcOp::LOGIC => 0,
        CcOp::INC => cf(cin != 0) | (if res & 0xf == 0 { AF } else { 0 }) | of(res == sign),
        CcOp::DEC => cf(cin != 0) | (if res & 0xf == 0xf { AF } else { 0 }) | of(res == sign - 1),
        _ => unreachable!("cc_op {:#x} is not a flags operation", op.0),
    };
    flags | szp(res, size)
}

/// Condition `cc >> 1` (before the negation its low bit asks for) for the cases that need only a
/// flag or two of a common kind, without all six of `arith_flags`: ZF and SF of any operation,
/// every condition after SUB (CMP) or a logical operation (TEST), and CF after ADD, INC and DEC
/// (the kinds a CF reader mostly follows). `None`: compute them all.
#[inline]
fn cond_fast(s: &CpuState, c: u8) -> Option<bool> {
    let op = s.cc_op;
    let kind = op.kind();
    if kind == CcOp::EFLAGS {
        return None;
    }
    let size = op.size();
    let res = s.cc_dst & size.mask();
    let (zf, sf) = (res == 0, res & size.sign() != 0);
    match (c, kind) {
        (2, _) => Some(zf),
        (4, _) => Some(sf),
        // CF and OF clear.
        (0 | 1, CcOp::LOGIC) => Some(false),
        (3, CcOp::LOGIC) => Some(zf),
        (6, CcOp::LOGIC) => Some(sf),
        (7, CcOp::LOGIC) => Some(zf || sf),
        (1, CcOp::ADD) => Some(res < (s.cc_src & size.mask())),
        // The CF they keep.
        (1, CcOp::INC | CcOp::DEC) => Some(s.cc_src2 & 1 != 0),
        // a - b = res (no borrow in): below, below or equal, less, less or equal.
        (1 | 3 | 6 | 7, CcOp::SUB) => {
            let b = s.cc_src & size.mask();
            let a = res.wrapping_add(b) & size.mask();
            let (sa, sb) = (size.sext(a) as i32, size.sext(b) as i32);
            Some(match c {
                1 => a < b,
                3 => a <= b,
                6 => sa < sb,
                _ => sa <= sb,
            })
        }
        _ => None,
    }
}

/// Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc opcodes).
#[inline]
pub fn cond(s: &CpuState, cc: u8) -> bool {
    if let Some(r) = cond_fast(s, cc >> 1) {
        return r != (cc & 1 != 0);
    }
    cond_of(arith_flags(s), cc)
}

/// Condition code `cc` of the arithmetic flags `f` (EFLAGS bits).
fn cond_of(f: u32, cc: u8) -> bool {
    let set = |bit: u32| f & bit != 0;
    let r = match cc >> 1 {
        0 => set(OF),
        1 => set(CF),
        2 => set(ZF),
        3 => set(CF) || set(ZF),
        4 => set(SF),
        5 => set(PF),
        6 => set(SF) != set(OF),
        _ => set(ZF) || set(SF) != set(OF),
    };
    r != (cc & 1 != 0)
}

impl CpuState {
    /// Records a lazily evaluated flags-setting operation. `cc_src2` keeps what it held when the
    /// kind does not use it ([`CcOp::uses_src2`]): the JIT then need not store it, and both tiers
    /// leave the same state.
    #[inline]
    pub fn set_cc(&mut self, kind: u32, size: Size, dst: u32, src: u32, src2: u32) {
        self.cc_op = CcOp::new(kind, size);
        self.cc_dst = dst;
        self.cc_src = src;
        if CcOp::uses_src2(kind) {
            self.cc_src2 = src2;
        }
    }

    /// Sets the six arithmetic flags to exactly `value & ARITH`.
    #[inline]
    pub fn set_arith(&mut self, value: u32) {
        self.cc_op = CcOp::Eflags;
        self.cc_src = value & ARITH;
    }

    /// Current CF as 0 or 1.
    #[inline]
    pub fn carry(&self) -> u32 {
        match cond_fast(self, 1) {
            Some(cf) => cf as u32,
            None => arith_flags(self) & CF,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags_of(kind: u32, size: Size, dst: u32, src: u32, src2: u32) -> u32 {
        let mut s = CpuState::reset();
        s.set_cc(kind, size, dst, src, src2);
        arith_flags(&s)
    }

    #[test]
    fn add_and_sub_flags() {
        // 0x7f + 1 = 0x80: OF, SF, AF
        assert_eq!(flags_of(CcOp::ADD, Size::B, 0x80, 1, 0), OF | SF | AF);
        // 0xff + 1 = 0x00: CF, ZF, AF, PF
        assert_eq!(flags_of(CcOp::ADD, Size::B, 0x00, 1, 0), CF | ZF | AF | PF);
        // 0xffff + 0xffff + 1 = 0xffff (carry)
        assert_eq!(flags_of(CcOp::ADC, Size::W, 0xffff, 0xffff, 1), CF | SF | AF | PF);
        // 0 - 1 = 0xffffffff: CF, SF, AF, PF
        assert_eq!(flags_of(CcOp::SUB, Size::D, 0xffff_ffff, 1, 0), CF | SF | AF | PF);
        // 0x80 - 1 = 0x7f: OF, AF
        assert_eq!(flags_of(CcOp::SUB, Size::B, 0x7f, 1, 0), OF | AF);
        // 5 - 5 - 0 with borrow-in 1 would be 0xff: 5 - 5 - 1 = 0xff, CF
        assert_eq!(flags_of(CcOp::SBB, Size::B, 0xff, 5, 1), CF | SF | AF | PF);
    }

    /// The fast paths of `cond` and `carry` against the flags `arith_flags` computes, for every
    /// kind, size and condition, over operands at and around the edges.
    #[test]
    fn fast_conditions_agree_with_all_flags() {
        let vals = [0u32, 1, 2, 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x100, 0x7fff, 0x8000, 0xffff];
        let vals: Vec<u32> = vals.iter().flat_map(|&v| [v, v | 0x7fff_0000, v | 0x8000_0000, !v]).collect();
        let mut checked = 0;
        for kind in [CcOp::EFLAGS, CcOp::ADD, CcOp::ADC, CcOp::SUB, CcOp::SBB, CcOp::LOGIC, CcOp::INC, CcOp::DEC] {
            for size in [Size::B, Size::W, Size::D] {
                for &dst in &vals {
                    for &src in &vals {
                        for src2 in [0, 1] {
                            let mut s = CpuState::reset();
                            // What an ADC with a carry in leaves, for kinds that do not read it.
                            s.cc_src2 = 1;
                            s.set_cc(kind, size, dst, src, src2);
                            if !CcOp::uses_src2(kind) {
                                let mut fresh = s.clone();
                                fresh.cc_src2 = 0;
                                assert_eq!(arith_flags(&s), arith_flags(&fresh), "{kind} reads cc_src2");
                            }
                            if kind == CcOp::EFLAGS {
                                s.set_arith(dst);
                            }
                            let f = arith_flags(&s);
                            assert_eq!(s.carry(), f & CF, "carry of {kind} {size:?} {dst:#x} {src:#x} {src2}");
                            for cc in 0..16u8 {
                                let want = cond_of(f, cc);
                                assert_eq!(cond(&s, cc), want, "cc {cc} of {kind} {size:?} {dst:#x} {src:#x} {src2}");
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 100_000);
    }

    #[test]
    fn inc_dec_keep_carry() {
        assert_eq!(flags_of(CcOp::INC, Size::W, 0x8000, 0, 1), CF | OF | SF | AF | PF);
        assert_eq!(flags_of(CcOp::DEC, Size::B, 0x7f, 0, 0), OF | AF);
    }

    #[test]
    fn conditions() {
        let mut s = CpuState::reset();
        s.set_cc(CcOp::SUB, Size::D, 1u32.wrapping_sub(2), 2, 0); // 1 cmp 2
        assert!(cond(&s, 0x2)); // B
        assert!(cond(&s, 0xc)); // L
        assert!(!cond(&s, 0x4)); // E
        assert!(cond(&s, 0x5)); // NE
        assert!(cond(&s, 0x6)); // BE
        assert!(!cond(&s, 0xf)); // G
    }
}
