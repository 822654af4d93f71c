//! Decimal arithmetic (SDM Vol. 2: "DAA", "DAS", "AAA", "AAS", "AAM", "AAD"): adjusting AL (and
//! AH) after binary arithmetic on packed or unpacked BCD digits.
//!
//! The defined results follow the SDM's pseudocode. AAA and AAS follow the current SDM, which
//! is what P6-family CPUs do: they add or subtract 106H to all of AX, so a carry or borrow out
//! of AL reaches AH (the 8086/286/386 add or subtract 6 to AL only, and 1 to AH).
//!
//! Undefined flags, as chosen here. No P6 measurement was at hand; the model is that each
//! instruction's microcode does one 8-bit addition or subtraction on AL and the flags it does not
//! define come from that operation (documented for the 8086, and for OF on pre-Pentium II CPUs
//! by the test386 project):
//! - DAA/DAS: OF is the signed overflow of `AL + correction` / `AL - correction` (the correction
//!   being 06H, 60H or 66H).
//! - AAA/AAS: SF, ZF, PF and OF are those of `AL + 6` / `AL - 6` (or of AL unchanged, with OF = 0,
//!   when no adjustment is made), taken before AL is masked to its low nibble.
//! - AAM: OF, AF and CF are 0.
//! - AAD: OF, AF and CF are those of the 8-bit addition `AL + (AH * base)`.

use crate::cpu::Cpu;
use crate::decode::{Insn, Mnemonic as M};
use crate::fault::{Fault, Res};
use crate::flags::{szp, CcOp, Size};
use crate::state::eflags::{AF, CF, OF};
use crate::state::reg;

const AL: u8 = reg::EAX as u8;

/// DAA, DAS, AAA, AAS, AAM, AAD.
pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    let ax = cpu.reg(AL, Size::W);
    match i.mnemonic {
        M::Daa | M::Das | M::Aaa | M::Aas => {
            let (ax, flags) = adjust(i.mnemonic, ax, cpu.s.eflags());
            cpu.set_reg(AL, Size::W, ax);
            cpu.s.set_arith(flags);
        }
        M::Aam => {
            let base = cpu.get(i, 0)? & 0xff;
            if base == 0 {
                return Err(Fault::DE);
            }
            let al = ax & 0xff;
            let (q, r) = (al / base, al % base);
            cpu.set_reg(AL, Size::W, q << 8 | r);
            cpu.s.set_arith(szp(r, Size::B));
        }
        M::Aad => {
            let base = cpu.get(i, 0)? & 0xff;
            let product = ((ax >> 8) * base) & 0xff;
            let al = ((ax & 0xff) + product) & 0xff;
            cpu.set_reg(AL, Size::W, al);
            cpu.s.set_cc(CcOp::ADD, Size::B, al, product, 0);
        }
        _ => unreachable!("{:?} is not a decimal adjust", i.mnemonic),
    }
    Ok(())
}

/// DAA, DAS, AAA or AAS on `ax` with the current `flags`: the new AX and arithmetic flags.
pub fn adjust(op: M, ax: u32, flags: u32) -> (u32, u32) {
    let al = ax & 0xff;
    let (cf, af) = (flags & CF != 0, flags & AF != 0);
    let low_adjust = al & 0x0f > 9 || af;
    let sign = |v: u32| v & 0x80 != 0;
    let bit = |b: bool, f: u32| if b { f } else { 0 };
    match op {
        M::Daa | M::Das => {
            let add = op == M::Daa;
            let step = |v: u32, k: u32| (if add { v + k } else { v.wrapping_sub(k) }) & 0xff;
            let (mut r, mut new_cf) = (al, false);
            if low_adjust {
                r = step(al, 0x06);
                // Carry out of AL + 6, or borrow out of AL - 6.
                new_cf = cf || if add { al + 6 > 0xff } else { al < 6 };
            }
            if al > 0x99 || cf {
                r = step(r, 0x60);
                new_cf = true;
            } else if add {
                // DAA (not DAS) clears CF here in the SDM's pseudocode.
                new_cf = false;
            }
            let of = if add { !sign(al) && sign(r) } else { sign(al) && !sign(r) };
            let ax = (ax & 0xff00) | r;
            (ax, szp(r, Size::B) | bit(new_cf, CF) | bit(low_adjust, AF) | bit(of, OF))
        }
        M::Aaa | M::Aas => {
            let add = op == M::Aaa;
            // The 8-bit intermediate AL whose SF/ZF/PF/OF the instruction leaves.
            let (t, ax) = match (low_adjust, add) {
                (false, _) => (al, ax),
                (true, true) => ((al + 6) & 0xff, ax + 0x106),
                (true, false) => (al.wrapping_sub(6) & 0xff, ax.wrapping_sub(0x106)),
            };
            let of = low_adjust && if add { !sign(al) && sign(t) } else { sign(al) && !sign(t) };
            let ax = ax & 0xff0f;
            (ax, szp(t, Size::B) | bit(low_adjust, CF | AF) | bit(of, OF))
        }
        _ => unreachable!("{op:?} is not DAA, DAS, AAA or AAS"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::shift::tests::{cpu, run};
    use crate::state::eflags::{ARITH, PF, SF, ZF};

    #[test]
    fn daa_sdm_example() {
        // SDM: ADD AL, BL with AL = 79H, BL = 35H gives AEH (AF = 0, CF = 0); DAA gives 14H, CF = 1.
        let (ax, f) = adjust(M::Daa, 0xae, 0);
        assert_eq!(ax, 0x14);
        assert_eq!(f & (CF | AF), CF | AF);
        // 0x38 + 0x29 = 0x61 with AF = 1: DAA → 0x67, no carry.
        assert_eq!(adjust(M::Daa, 0x61, AF), (0x67, AF));
    }

    #[test]
    fn daa_with_af_and_cf_set() {
        // 0x99 + 0x99 = 0x132: AL = 0x32, AF = 1, CF = 1. DAA → 0x98, CF = 1 (and OF: 0x32 + 0x66
        // changes the sign).
        assert_eq!(adjust(M::Daa, 0x32, AF | CF), (0x98, CF | AF | SF | OF));
        // AL = 0 with both set: + 0x66.
        assert_eq!(adjust(M::Daa, 0x1200, AF | CF), (0x1266, CF | AF | PF));
        // AL = 0x9a: both corrections from AL's value alone → 0x00, CF, ZF.
        assert_eq!(adjust(M::Daa, 0x9a, 0), (0x00, CF | AF | ZF | PF));
        // AL = 0x7a: + 6 = 0x80, a sign change: OF (undefined; see the module comment).
        assert_eq!(adjust(M::Daa, 0x7a, 0), (0x80, AF | SF | OF));
        // Nothing to adjust: flags from AL, CF and AF cleared.
        assert_eq!(adjust(M::Daa, 0x45, 0), (0x45, 0));
    }

    #[test]
    fn das() {
        // SDM: SUB AL, BL with AL = 35H, BL = 47H gives EEH, CF = 1, AF = 1; DAS gives 88H, CF = 1.
        assert_eq!(adjust(M::Das, 0xee, CF | AF), (0x88, CF | AF | SF | PF));
        // AL = 0x02 with AF = 1: 0x02 - 6 borrows, so CF = 1 even though no 60H is subtracted.
        assert_eq!(adjust(M::Das, 0x02, AF), (0xfc, CF | AF | SF | PF));
        // AL = 0x80 with CF: - 0x60 = 0x20, sign change → OF.
        assert_eq!(adjust(M::Das, 0x80, CF), (0x20, CF | OF));
        assert_eq!(adjust(M::Das, 0x45, 0), (0x45, 0));
    }

    #[test]
    fn aaa_aas() {
        // 0x08 + 0x04 = 0x0c: AAA → AH + 1, AL = 2.
        assert_eq!(adjust(M::Aaa, 0x000c, 0).0, 0x0102);
        assert_eq!(adjust(M::Aaa, 0x000c, 0).1 & (CF | AF), CF | AF);
        // 0x09 + 0x09 = 0x12 with AF: AL = 8, AH + 1.
        assert_eq!(adjust(M::Aaa, 0x0512, AF).0, 0x0608);
        // No adjustment: AL masked, CF = AF = 0.
        assert_eq!(adjust(M::Aaa, 0x0535, CF).0 & 0xffff, 0x0535 & 0xff0f);
        assert_eq!(adjust(M::Aaa, 0x0535, 0).1 & (CF | AF), 0);
        // P6: AX + 106H carries out of AL: AX = 00FAH → 0200H (a 386 gives 0100H).
        assert_eq!(adjust(M::Aaa, 0x00fa, 0), (0x0200, CF | AF | ZF | PF));
        // 0x03 - 0x05 = 0xfe with AF, CF: AAS → AL = 8, AH - 1.
        assert_eq!(adjust(M::Aas, 0x05fe, AF | CF).0, 0x0408);
        // P6: AX - 106H borrows out of AL: AX = 0205H with AF → 00FFH → AL = 0FH, AH = 0.
        assert_eq!(adjust(M::Aas, 0x0205, AF), (0x000f, CF | AF | SF | PF));
        // AL = 0x85 with AF: 0x85 - 6 = 0x7f, a sign change → OF (undefined; module comment).
        assert_eq!(adjust(M::Aas, 0x0085, AF), (0xff0f, CF | AF | OF));
    }

    #[test]
    fn aam_aad() {
        let mut c = cpu();
        // D4 0A: AAM. AL = 0x4f (79) → AH = 7, AL = 9.
        c.s.regs[0] = 0xabcd_124f;
        run(&mut c, false, &[0xd4, 0x0a]).unwrap();
        assert_eq!(c.s.regs[0], 0xabcd_0709);
        assert_eq!(c.s.eflags() & ARITH, PF);
        // D4 10: AAM 16 splits nibbles: AL = 0x30 → AH = 3, AL = 0 → ZF, PF.
        c.s.regs[0] = 0x30;
        run(&mut c, false, &[0xd4, 0x10]).unwrap();
        assert_eq!((c.s.regs[0], c.s.eflags() & ARITH), (0x0300, ZF | PF));
        // D5 0A: AAD. AH = 7, AL = 9 → AL = 79, AH = 0.
        c.s.regs[0] = 0x0709;
        run(&mut c, false, &[0xd5, 0x0a]).unwrap();
        assert_eq!(c.s.regs[0], 79);
        assert_eq!(c.s.eflags() & (ZF | SF), 0);
        // D5 10: AAD 16: AH = 0x0f, AL = 0x0f → 0xff, SF; no carry out of the byte add.
        c.s.regs[0] = 0x0f0f;
        run(&mut c, false, &[0xd5, 0x10]).unwrap();
        assert_eq!((c.s.regs[0], c.s.eflags() & (SF | ZF | CF)), (0xff, SF));
        // AAD 10 with AH = 0x1a, AL = 0x80: 0x1a * 10 = 0x104 → 0x04 + 0x80 = 0x84.
        c.s.regs[0] = 0x1a80;
        run(&mut c, false, &[0xd5, 0x0a]).unwrap();
        assert_eq!((c.s.regs[0], c.s.eflags() & (SF | CF | OF)), (0x84, SF));
        // AAD 10 with AH = 0x19 (250 → 0xfa), AL = 0x10: 0x10a, byte add carries: AL = 0x0a, CF.
        c.s.regs[0] = 0x1910;
        run(&mut c, false, &[0xd5, 0x0a]).unwrap();
        assert_eq!((c.s.regs[0], c.s.eflags() & CF), (0x0a, CF));
    }

    #[test]
    fn aam_zero_raises_de() {
        let mut c = cpu();
        c.s.regs[0] = 0x1234;
        c.s.set_arith(CF | OF);
        let before = c.s.clone();
        assert_eq!(run(&mut c, false, &[0xd4, 0x00]), Err(Fault::DE));
        assert_eq!(c.s, before);
        // AAD 0 is fine: AL unchanged, AH = 0.
        run(&mut c, false, &[0xd5, 0x00]).unwrap();
        assert_eq!(c.s.regs[0], 0x34);
    }

    #[test]
    fn executes_through_the_decoder() {
        let mut c = cpu();
        // 27: DAA on AL = 0xae (0x79 + 0x35).
        c.s.regs[0] = 0x55ae;
        c.s.set_arith(0);
        run(&mut c, false, &[0x27]).unwrap();
        assert_eq!((c.s.regs[0], c.s.eflags() & CF), (0x5514, CF));
        // 37: AAA on AX = 0x000c.
        c.s.regs[0] = 0x000c;
        run(&mut c, false, &[0x37]).unwrap();
        assert_eq!(c.s.regs[0], 0x0102);
    }
}
