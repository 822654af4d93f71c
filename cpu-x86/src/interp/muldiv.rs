//! Multiply and divide (SDM Vol. 2: "MUL", "IMUL", "DIV", "IDIV"), each written once for 8-,
//! 16- and 32-bit operands by doing the arithmetic in 64 bits.
//!
//! - MUL/IMUL with one operand (F6/F7 /4, /5): `AX = AL * src`, `DX:AX = AX * src` or
//!   `EDX:EAX = EAX * src`. CF = OF = the upper half is significant (MUL: nonzero; IMUL: not the
//!   sign extension of the lower half).
//! - IMUL with two (0F AF: `Gv = Gv * Ev`) or three operands (69/6B: `Gv = Ev * imm`): the product
//!   truncated to the operand size; CF = OF = the truncation lost information.
//! - DIV/IDIV (F6/F7 /6, /7): `AX / src → AL, AH`, `DX:AX / src → AX, DX`,
//!   `EDX:EAX / src → EAX, EDX`. IDIV truncates toward zero and the remainder has the dividend's
//!   sign. #DE on a zero divisor or a quotient that does not fit (including `-128 / -1` and the
//!   like); then no register changes.
//!
//! Undefined flags, as chosen here (P6-like, and what Bochs and QEMU do):
//! - after MUL/IMUL, SF, ZF and PF are set from the lower half of the result (the truncated
//!   product for the two- and three-operand forms) and AF is 0;
//! - after DIV/IDIV all six arithmetic flags keep their values.

use crate::cpu::Cpu;
use crate::decode::{Arg, Insn, Mnemonic as M};
use crate::fault::{Fault, Res};
use crate::flags::{szp, Size};
use crate::state::eflags::{CF, OF};
use crate::state::reg;

/// MUL, IMUL (all three forms), DIV, IDIV.
pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    match i.mnemonic {
        M::Mul | M::Imul if i.args[1] == Arg::Nil => widening_multiply(cpu, i),
        M::Imul => truncating_multiply(cpu, i),
        M::Div | M::Idiv => divide(cpu, i),
        _ => unreachable!("{:?} is not a multiply or divide", i.mnemonic),
    }
}

/// `a * b` at `size`, signed or not: (lower half, upper half, upper half is significant).
#[inline]
pub fn multiply(signed: bool, size: Size, a: u32, b: u32) -> (u32, u32, bool) {
    let (n, m) = (size.bits(), size.mask());
    let product = if signed {
        (size.sext(a) as i32 as i64).wrapping_mul(size.sext(b) as i32 as i64) as u64
    } else {
        (a & m) as u64 * (b & m) as u64
    };
    let (lo, hi) = (product as u32 & m, (product >> n) as u32 & m);
    let significant = if signed { product as i64 != size.sext(lo) as i32 as i64 } else { hi != 0 };
    (lo, hi, significant)
}

/// The flags of a multiply: CF = OF = `significant`, SF/ZF/PF from the lower half, AF = 0.
fn multiply_flags(size: Size, lo: u32, significant: bool) -> u32 {
    szp(lo, size) | if significant { CF | OF } else { 0 }
}

/// MUL and one-operand IMUL: the accumulator times the operand, into (E)DX:(E)AX or AX.
fn widening_multiply(cpu: &mut Cpu, i: &Insn) -> Res {
    let size = Cpu::size_of(i, 0);
    let src = cpu.get(i, 0)?;
    let acc = cpu.reg(reg::EAX as u8, size);
    let (lo, hi, significant) = multiply(i.mnemonic == M::Imul, size, acc, src);
    if size == Size::B {
        cpu.set_reg(reg::EAX as u8, Size::W, hi << 8 | lo);
    } else {
        cpu.set_reg(reg::EAX as u8, size, lo);
        cpu.set_reg(reg::EDX as u8, size, hi);
    }
    cpu.s.set_arith(multiply_flags(size, lo, significant));
    Ok(())
}

/// IMUL Gv,Ev and IMUL Gv,Ev,imm: the product truncated to the operand size.
fn truncating_multiply(cpu: &mut Cpu, i: &Insn) -> Res {
    let size = Cpu::size_of(i, 0);
    let (a, b) =
        if i.args[2] == Arg::Nil { (cpu.get(i, 0)?, cpu.get(i, 1)?) } else { (cpu.get(i, 1)?, cpu.get(i, 2)?) };
    let (lo, _, significant) = multiply(true, size, a, b);
    cpu.set(i, 0, lo)?;
    cpu.s.set_arith(multiply_flags(size, lo, significant));
    Ok(())
}

/// The double-width dividend `hi:lo` at `size` divided by `divisor`, signed or not:
/// (quotient, remainder), or #DE for a zero divisor or a quotient that does not fit in `size`.
#[inline]
pub fn divmod(signed: bool, size: Size, hi: u32, lo: u32, divisor: u32) -> Res<(u32, u32)> {
    let (n, m) = (size.bits(), size.mask());
    let dividend = ((hi & m) as u64) << n | (lo & m) as u64;
    if divisor & m == 0 {
        return Err(Fault::DE);
    }
    if signed {
        // Sign-extend the 2n-bit dividend to 64 bits.
        let shift = 64 - 2 * n;
        let a = ((dividend << shift) as i64) >> shift;
        let b = size.sext(divisor) as i32 as i64;
        // checked_div fails only for i64::MIN / -1, whose quotient does not fit either.
        let q = a.checked_div(b).ok_or(Fault::DE)?;
        let half = 1i64 << (n - 1);
        if q < -half || q >= half {
            return Err(Fault::DE);
        }
        Ok((q as u32 & m, (a % b) as u32 & m))
    } else {
        let b = (divisor & m) as u64;
        let q = dividend / b;
        if q > m as u64 {
            return Err(Fault::DE);
        }
        Ok((q as u32, (dividend % b) as u32))
    }
}

/// DIV and IDIV. The flags are left as they were.
fn divide(cpu: &mut Cpu, i: &Insn) -> Res {
    let size = Cpu::size_of(i, 0);
    let divisor = cpu.get(i, 0)?;
    let signed = i.mnemonic == M::Idiv;
    if size == Size::B {
        let ax = cpu.reg(reg::EAX as u8, Size::W);
        let (q, r) = divmod(signed, size, ax >> 8, ax, divisor)?;
        cpu.set_reg(reg::EAX as u8, Size::W, r << 8 | q);
    } else {
        let (hi, lo) = (cpu.reg(reg::EDX as u8, size), cpu.reg(reg::EAX as u8, size));
        let (q, r) = divmod(signed, size, hi, lo, divisor)?;
        cpu.set_reg(reg::EAX as u8, size, q);
        cpu.set_reg(reg::EDX as u8, size, r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::vector;
    use crate::interp::shift::tests::{cpu, run};
    use crate::state::eflags::{AF, ARITH, PF, SF, ZF};

    const EAX: usize = reg::EAX;
    const EDX: usize = reg::EDX;
    const EBX: usize = reg::EBX;

    #[test]
    fn mul_widens() {
        let mut c = cpu();
        // F6 E3: MUL BL. 0x80 * 2 = 0x100: AH significant.
        c.s.regs[EAX] = 0xdead_0080;
        c.s.regs[EBX] = 2;
        run(&mut c, false, &[0xf6, 0xe3]).unwrap();
        assert_eq!(c.s.regs[EAX], 0xdead_0100);
        assert_eq!(c.s.eflags() & ARITH, CF | OF | ZF | PF); // AL = 0
                                                             // F7 E3 (16-bit code): MUL BX. 0xffff * 0xffff = 0xfffe_0001.
        c.s.regs[EAX] = 0xffff;
        c.s.regs[EBX] = 0xffff;
        c.s.regs[EDX] = 0x1234_0000;
        run(&mut c, false, &[0xf7, 0xe3]).unwrap();
        assert_eq!((c.s.regs[EAX], c.s.regs[EDX]), (0x0001, 0x1234_fffe));
        assert_eq!(c.s.eflags() & (CF | OF), CF | OF);
        // F7 E3 (32-bit code): MUL EBX. 3 * 5 = 15: no upper half.
        c.s.regs[EAX] = 3;
        c.s.regs[EBX] = 5;
        run(&mut c, true, &[0xf7, 0xe3]).unwrap();
        assert_eq!((c.s.regs[EAX], c.s.regs[EDX]), (15, 0));
        assert_eq!(c.s.eflags() & ARITH, PF); // 15 = 0b1111
    }

    #[test]
    fn imul_one_operand() {
        assert_eq!(multiply(true, Size::B, 0xff, 0xff), (1, 0, false)); // -1 * -1
        assert_eq!(multiply(true, Size::B, 0x80, 1), (0x80, 0xff, false)); // -128 fits
        assert_eq!(multiply(true, Size::B, 0x80, 0xff), (0x80, 0x00, true)); // +128 does not
        assert_eq!(multiply(true, Size::W, 0x8000, 0x8000), (0, 0x4000, true));
        assert_eq!(multiply(true, Size::D, 0xffff_fffe, 3), (0xffff_fffa, 0xffff_ffff, false));
        assert_eq!(multiply(false, Size::D, 0xffff_ffff, 0xffff_ffff), (1, 0xffff_fffe, true));
        let mut c = cpu();
        // F6 EB: IMUL BL. AL = -128, BL = -1: AX = 0x0080, CF = OF = 1, SF from AL.
        c.s.regs[EAX] = 0x80;
        c.s.regs[EBX] = 0xff;
        run(&mut c, false, &[0xf6, 0xeb]).unwrap();
        assert_eq!(c.s.regs[EAX], 0x0080);
        assert_eq!(c.s.eflags() & ARITH, CF | OF | SF);
    }

    #[test]
    fn imul_two_and_three_operands() {
        let mut c = cpu();
        // 0F AF C3 (32-bit code): IMUL EAX, EBX. 0x10000 * 0x10000 overflows.
        c.s.regs[EAX] = 0x1_0000;
        c.s.regs[EBX] = 0x1_0000;
        c.s.regs[EDX] = 0x5555;
        run(&mut c, true, &[0x0f, 0xaf, 0xc3]).unwrap();
        assert_eq!((c.s.regs[EAX], c.s.regs[EDX]), (0, 0x5555));
        assert_eq!(c.s.eflags() & ARITH, CF | OF | ZF | PF);
        // 6B C0 FF (32-bit code): IMUL EAX, EAX, -1.
        c.s.regs[EAX] = 7;
        run(&mut c, true, &[0x6b, 0xc0, 0xff]).unwrap();
        assert_eq!(c.s.regs[EAX], (-7i32) as u32);
        assert_eq!(c.s.eflags() & ARITH, SF | PF); // 0xf9 has 6 ones
                                                   // 69 C3 34 12 (16-bit code): IMUL AX, BX, 0x1234; BX = 2.
        c.s.regs[EAX] = 0xaaaa_0000;
        c.s.regs[EBX] = 2;
        run(&mut c, false, &[0x69, 0xc3, 0x34, 0x12]).unwrap();
        assert_eq!(c.s.regs[EAX], 0xaaaa_2468);
        assert_eq!(c.s.eflags() & (CF | OF), 0);
        // 6B C3 C0 (16-bit code): IMUL AX, BX, -64; BX = 0x0200: -0x8000 fits.
        c.s.regs[EBX] = 0x200;
        run(&mut c, false, &[0x6b, 0xc3, 0xc0]).unwrap();
        assert_eq!(c.s.regs[EAX] & 0xffff, 0x8000);
        assert_eq!(c.s.eflags() & (CF | OF), 0);
        // ... and BX = 0xfe00 (-512) * -64 = +0x8000 does not.
        c.s.regs[EBX] = 0xfe00;
        run(&mut c, false, &[0x6b, 0xc3, 0xc0]).unwrap();
        assert_eq!(c.s.regs[EAX] & 0xffff, 0x8000);
        assert_eq!(c.s.eflags() & (CF | OF), CF | OF);
    }

    #[test]
    fn div_and_idiv_values() {
        assert_eq!(divmod(false, Size::B, 0x01, 0x00, 0x10), Ok((0x10, 0))); // 0x100 / 0x10
        assert_eq!(divmod(false, Size::W, 0x0001, 0x0003, 0x0002), Ok((0x8001, 1)));
        assert_eq!(divmod(false, Size::D, 0xffff_fffe, 0xffff_ffff, 0xffff_ffff), Ok((0xffff_ffff, 0xffff_fffe)));
        // -7 / 2 = -3 remainder -1 (truncation toward zero).
        assert_eq!(divmod(true, Size::B, 0xff, 0xf9, 2), Ok((0xfd, 0xff)));
        // 7 / -2 = -3 remainder 1.
        assert_eq!(divmod(true, Size::W, 0, 7, 0xfffe), Ok((0xfffd, 1)));
        // -128 fits in a byte quotient: -256 / 2.
        assert_eq!(divmod(true, Size::B, 0xff, 0x00, 2), Ok((0x80, 0)));
        // 128 / -1 = -128 fits.
        assert_eq!(divmod(true, Size::B, 0x00, 0x80, 0xff), Ok((0x80, 0)));
    }

    #[test]
    fn divide_errors() {
        let de = Err(Fault::DE);
        assert_eq!(divmod(false, Size::B, 0, 1, 0), de); // by zero
        assert_eq!(divmod(false, Size::B, 0x10, 0, 0x10), de); // 0x1000 / 0x10 = 0x100
        assert_eq!(divmod(false, Size::D, 1, 0, 1), de);
        assert_eq!(divmod(true, Size::B, 0xff, 0x80, 0xff), de); // -128 / -1 = 128
        assert_eq!(divmod(true, Size::W, 0xffff, 0x8000, 0xffff), de); // -32768 / -1
        assert_eq!(divmod(true, Size::D, 0x8000_0000, 0, 0xffff_ffff), de); // -2^63 / -1
        assert_eq!(divmod(true, Size::D, 0xffff_ffff, 0x8000_0000, 0xffff_ffff), de); // -2^31 / -1
        assert_eq!(divmod(true, Size::B, 0x00, 0x80, 0x01), de); // 128 / 1
        assert_eq!(divmod(true, Size::B, 0xff, 0x7f, 0x01), de); // -129 / 1
        assert_eq!(divmod(true, Size::D, 0, 1, 0), de);
    }

    #[test]
    fn faulting_divide_changes_nothing() {
        let mut c = cpu();
        c.s.regs[EAX] = 0x8000_0000;
        c.s.regs[EDX] = 0xffff_ffff;
        c.s.regs[EBX] = 0xffff_ffff;
        c.s.set_arith(AF | PF);
        let before = c.s.clone();
        // F7 FB (32-bit code): IDIV EBX: -2^31 / -1.
        let r = run(&mut c, true, &[0xf7, 0xfb]);
        assert_eq!(r.map_err(|f| f.vector), Err(vector::DE));
        assert_eq!(c.s, before);
        // F6 F3: DIV BL with BL = 0.
        c.s.regs[EBX] = 0;
        let before = c.s.clone();
        assert_eq!(run(&mut c, false, &[0xf6, 0xf3]), Err(Fault::DE));
        assert_eq!(c.s, before);
    }

    #[test]
    fn divide_writes_quotient_and_remainder() {
        let mut c = cpu();
        // F6 F3: DIV BL. AX = 1000, BL = 7: AL = 142, AH = 6. Flags untouched.
        c.s.regs[EAX] = 0x1234_0000 | 1000;
        c.s.regs[EBX] = 7;
        c.s.set_arith(ZF | CF);
        run(&mut c, false, &[0xf6, 0xf3]).unwrap();
        assert_eq!(c.s.regs[EAX], 0x1234_0000 | 6 << 8 | 142);
        assert_eq!(c.s.eflags() & ARITH, ZF | CF);
        // F7 FB (16-bit code): IDIV BX. DX:AX = -100000, BX = 300: AX = -333, DX = -100.
        let n = (-100000i32) as u32;
        c.s.regs[EAX] = n & 0xffff;
        c.s.regs[EDX] = n >> 16;
        c.s.regs[EBX] = 300;
        run(&mut c, false, &[0xf7, 0xfb]).unwrap();
        assert_eq!(c.s.regs[EAX], (-333i32) as u32 & 0xffff);
        assert_eq!(c.s.regs[EDX], (-100i32) as u32 & 0xffff);
        // F7 F3 (32-bit code): DIV EBX with a memory-free 64-bit dividend.
        c.s.regs[EDX] = 1;
        c.s.regs[EAX] = 0;
        c.s.regs[EBX] = 0x10;
        run(&mut c, true, &[0xf7, 0xf3]).unwrap();
        assert_eq!((c.s.regs[EAX], c.s.regs[EDX]), (0x1000_0000, 0));
    }
}
