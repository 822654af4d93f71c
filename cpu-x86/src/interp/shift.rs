//! Shifts and rotates (SDM Vol. 2: "RCL/RCR/ROL/ROR", "SAL/SAR/SHL/SHR", "SHLD", "SHRD"), each
//! written once for 8-, 16- and 32-bit operands by doing the arithmetic in 64 bits.
//!
//! The count (`args[1]`, or `args[2]` for SHLD/SHRD: an immediate or CL) is masked to 5 bits.
//! A masked count of 0 changes nothing: no register, no flag, and no memory write (the memory
//! operand is still read, so it can fault, as on a real CPU). RCL/RCR then take the count modulo
//! 9 (bytes) or 17 (words); if that leaves 0 nothing changes either.
//!
//! What the SDM leaves undefined, and what this file does (as a P6 is reported to, where known;
//! otherwise as Bochs and QEMU do, which is also what the SDM's count-1 formula gives):
//! - **OF for counts other than 1**: the count-1 formula applied to the final result. Left
//!   shifts and rotates (SHL, SHLD, ROL, RCL): `OF = CF ^ MSB(result)`. Right shifts and rotates
//!   (SHR, SAR, SHRD, ROR, RCR): `OF = MSB(result) ^ MSB-1(result)`, which makes OF 0 for SHR by
//!   more than 1 and for SAR always.
//! - **CF when SHL/SHR shift by the operand size or more** (bytes and words only): the last bit
//!   shifted out, counting the zeros shifted in, so 0 beyond the size (SAR: the sign bit).
//! - **AF after a shift with a nonzero count**: 0 (as Bochs and QEMU; the 386 is reported to set
//!   it to 1, and no P6 measurement was at hand).
//! - **ROL/ROR by a multiple of the operand size** (e.g. `ROL AL, 8`): the value is unchanged but
//!   CF and OF are still set from it by the usual formulas (as Bochs does).
//! - **SHLD/SHRD of a word by 17-31**: P6 shifts the 48-bit `dst:src:dst` (as Bochs notes for the
//!   P6 and QEMU implements as "Intel behaviour"); CF is the last bit shifted out of it.
//! - Rotates change only CF and OF; SF, ZF, AF and PF keep their values.

use crate::cpu::Cpu;
use crate::decode::{Insn, Mnemonic as M};
use crate::fault::Res;
use crate::flags::{szp, Size};
use crate::state::eflags::{ARITH, CF, OF};

/// ROL, ROR, RCL, RCR, SHL/SAL, SHR, SAR, SHLD, SHRD.
pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    let size = Cpu::size_of(i, 0);
    let dst = cpu.get(i, 0)?;
    let (src, count) = match i.mnemonic {
        M::Shld | M::Shrd => (cpu.get(i, 1)?, cpu.get(i, 2)?),
        _ => (0, cpu.get(i, 1)?),
    };
    let Some((res, flags)) = compute(i.mnemonic, size, dst, src, count, cpu.s.eflags()) else {
        return Ok(());
    };
    cpu.set(i, 0, res)?; // a fault here leaves the flags as they were
    cpu.s.set_arith(flags);
    Ok(())
}

/// `dst op count` at `size` (`src` is the second operand of SHLD/SHRD), given the current
/// EFLAGS: the result and the new arithmetic flags, or `None` when the instruction changes
/// nothing (masked count 0, or an RCL/RCR count that is a multiple of the size plus one).
pub fn compute(op: M, size: Size, dst: u32, src: u32, count: u32, flags: u32) -> Option<(u32, u32)> {
    let c = count & 0x1f;
    if c == 0 {
        return None;
    }
    let n = size.bits();
    let m = size.mask() as u64;
    let v = dst as u64 & m;
    let msb = |r: u64| (r >> (n - 1)) & 1;
    let bit = |b: u64| if b & 1 != 0 { CF } else { 0 };
    // The count-1 OF formulas (see the module comment), on the final result.
    let of_left = |r: u64, cf: u64| if (cf ^ msb(r)) != 0 { OF } else { 0 };
    let of_right = |r: u64| {
        if (msb(r) ^ (r >> (n - 2))) & 1 != 0 {
            OF
        } else {
            0
        }
    };
    // Shifts set SF, ZF, PF from the result, CF and OF as computed, and AF = 0.
    let shift = |r: u64, cf: u64, of: u32| Some((r as u32, szp(r as u32, size) | bit(cf) | of));
    // Rotates replace only CF and OF.
    let rotate = |r: u64, cf: u64, of: u32| Some((r as u32, (flags & ARITH & !(CF | OF)) | bit(cf) | of));
    let c = c as u64;
    match op {
        M::Shl | M::Sal => {
            let wide = v << c;
            let (r, cf) = (wide & m, (wide >> n) & 1);
            shift(r, cf, of_left(r, cf))
        }
        M::Shr => {
            let r = v >> c;
            shift(r, (v >> (c - 1)) & 1, of_right(r))
        }
        M::Sar => {
            let sv = size.sext(v as u32) as i32 as i64;
            let r = (sv >> c) as u64 & m;
            shift(r, ((sv >> (c - 1)) & 1) as u64, of_right(r))
        }
        M::Rol => {
            let e = c % n as u64;
            let r = ((v << e) | (v >> (n as u64 - e))) & m;
            let cf = r & 1;
            rotate(r, cf, of_left(r, cf))
        }
        M::Ror => {
            let e = c % n as u64;
            let r = ((v >> e) | (v << (n as u64 - e))) & m;
            rotate(r, msb(r), of_right(r))
        }
        M::Rcl | M::Rcr => {
            // Rotate the (n+1)-bit value CF:dst.
            let w = n as u64 + 1;
            let e = c % w;
            if e == 0 {
                return None;
            }
            let x = (((flags & CF) as u64) << n) | v;
            let wm = (1u64 << w) - 1;
            let rx = (if op == M::Rcl { (x << e) | (x >> (w - e)) } else { (x >> e) | (x << (w - e)) }) & wm;
            let (r, cf) = (rx & m, rx >> n);
            let of = if op == M::Rcl { of_left(r, cf) } else { of_right(r) };
            rotate(r, cf, of)
        }
        M::Shld => {
            // dst:src (32-bit) or dst:src:dst (16-bit) in bits 63..0 / 47..0, shifted left; the
            // result is what lands in bits 32..32+n.
            let s = src as u64 & m;
            let wide = (v << 32) | (s << (32 - n)) | if n == 16 { v } else { 0 };
            let r = ((wide << c) >> 32) & m;
            let cf = (wide >> (32 + n as u64 - c)) & 1;
            shift(r, cf, of_left(r, cf))
        }
        M::Shrd => {
            // src:dst (32-bit) or dst:src:dst (16-bit), shifted right; the result is the low n bits.
            let s = src as u64 & m;
            let wide = (s << n) | v | if n == 16 { v << 32 } else { 0 };
            let r = (wide >> c) & m;
            shift(r, (wide >> (c - 1)) & 1, of_right(r))
        }
        _ => unreachable!("{op:?} is not a shift or rotate"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::state::eflags::{AF, PF, SF, ZF};
    use emu_core::{ClockMode, System};

    /// A CPU in real mode with 1 MiB of RAM.
    pub(crate) fn cpu() -> Cpu {
        Cpu::new(System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap())
    }

    /// Decodes `bytes` (as 32-bit code if `code32`) and executes the instruction.
    pub(crate) fn run(cpu: &mut Cpu, code32: bool, bytes: &[u8]) -> Res {
        let i = crate::decode::decode(code32, |n| bytes.get(n).copied().ok_or(())).unwrap();
        assert_eq!(i.len as usize, bytes.len(), "{bytes:02x?} decodes to {i:?}");
        crate::interp::exec(cpu, &i)
    }

    fn f(op: M, size: Size, dst: u32, count: u32, flags: u32) -> Option<(u32, u32)> {
        compute(op, size, dst, 0, count, flags)
    }

    #[test]
    fn shl_shr_sar_by_one() {
        // 0x81 << 1 = 0x02: CF = 1, OF = CF ^ MSB = 1.
        assert_eq!(f(M::Shl, Size::B, 0x81, 1, 0), Some((0x02, CF | OF)));
        // 0x40 << 1 = 0x80: CF = 0, OF = 1, SF.
        assert_eq!(f(M::Shl, Size::B, 0x40, 1, 0), Some((0x80, OF | SF)));
        // SHR 1: OF = the operand's old MSB.
        assert_eq!(f(M::Shr, Size::W, 0x8001, 1, 0), Some((0x4000, CF | OF | PF)));
        // SAR 1 keeps the sign; OF = 0.
        assert_eq!(f(M::Sar, Size::D, 0x8000_0003, 1, 0), Some((0xc000_0001, CF | SF)));
    }

    #[test]
    fn shifts_by_more_than_one() {
        // SHL AL=0x0f by 4 = 0xf0: last bit out is bit 4 of 0x0f = 0; OF = CF ^ MSB = 1.
        assert_eq!(f(M::Shl, Size::B, 0x0f, 4, 0), Some((0xf0, SF | PF | OF)));
        // SHL AL=0x18 by 4: CF = bit 4 = 1, result 0x80, OF = CF ^ MSB = 0.
        assert_eq!(f(M::Shl, Size::B, 0x18, 4, 0), Some((0x80, CF | SF)));
        // SHL a byte by 8: result 0, CF = old bit 0; by 9: CF = 0.
        assert_eq!(f(M::Shl, Size::B, 0x01, 8, 0), Some((0, CF | ZF | PF | OF)));
        assert_eq!(f(M::Shl, Size::B, 0xff, 9, 0), Some((0, ZF | PF)));
        // SHL a word by 16 keeps bit 0 as CF; count 32 masks to 0.
        assert_eq!(f(M::Shl, Size::W, 0x0001, 16, 0), Some((0, CF | ZF | PF | OF)));
        assert_eq!(f(M::Shl, Size::W, 0x0001, 32, 0), None);
        // SHR by 2: OF = 0 (the count-1 formula on the result).
        assert_eq!(f(M::Shr, Size::B, 0x83, 2, 0), Some((0x20, CF)));
        // SAR a negative byte by 31 (masked: 31): all ones, CF = sign.
        assert_eq!(f(M::Sar, Size::B, 0x80, 31, 0), Some((0xff, CF | SF | PF)));
        // 32-bit SHL by 31.
        assert_eq!(f(M::Shl, Size::D, 3, 31, 0), Some((0x8000_0000, CF | SF | PF)));
    }

    #[test]
    fn rotates_keep_other_flags() {
        let keep = SF | ZF | AF | PF;
        // ROL AL=0x81 by 1 = 0x03: CF = 1, OF = CF ^ MSB = 1.
        assert_eq!(f(M::Rol, Size::B, 0x81, 1, keep), Some((0x03, keep | CF | OF)));
        // ROR AL=0x01 by 1 = 0x80: CF = MSB = 1, OF = MSB ^ bit 6 = 1.
        assert_eq!(f(M::Ror, Size::B, 0x01, 1, 0), Some((0x80, CF | OF)));
        // ROL AX by 4: CF = bit 0 = 1, OF = CF ^ MSB = 1.
        assert_eq!(f(M::Rol, Size::W, 0x1234, 4, 0), Some((0x2341, CF | OF)));
        // ROR EAX by 8: CF = MSB = 0, OF = MSB ^ bit 30 = 1.
        assert_eq!(f(M::Ror, Size::D, 0x1234_5678, 8, CF), Some((0x7812_3456, OF)));
        // ROL AL by 8: value unchanged, flags still computed (CF = bit 0, OF = CF ^ MSB).
        assert_eq!(f(M::Rol, Size::B, 0x81, 8, 0), Some((0x81, CF)));
        assert_eq!(f(M::Rol, Size::B, 0x01, 8, 0), Some((0x01, CF | OF)));
    }

    #[test]
    fn rcl_rcr_through_carry() {
        // RCL AL=0x80 by 1 with CF=0: 0x00, CF = 1, OF = 1 ^ 0 = 1.
        assert_eq!(f(M::Rcl, Size::B, 0x80, 1, 0), Some((0x00, CF | OF)));
        // RCL AL=0x00 by 1 with CF=1: 0x01, CF = 0.
        assert_eq!(f(M::Rcl, Size::B, 0x00, 1, CF), Some((0x01, 0)));
        // RCR AL=0x01 by 1 with CF=1: 0x80, CF = 1, OF = MSB ^ bit 6 = 1.
        assert_eq!(f(M::Rcr, Size::B, 0x01, 1, CF), Some((0x80, CF | OF)));
        // RCL by 9 on a byte (and 17 on a word) is a full turn: nothing changes.
        assert_eq!(f(M::Rcl, Size::B, 0x5a, 9, CF), None);
        assert_eq!(f(M::Rcr, Size::W, 0x5a5a, 17, CF), None);
        // RCL a byte by 10 = by 1.
        assert_eq!(f(M::Rcl, Size::B, 0x80, 10, 0), f(M::Rcl, Size::B, 0x80, 1, 0));
        // RCL a byte by 8 with CF=1: x = 1_0000_0001; rotl 8 = 1_1000_0000:
        // AL = 0x80, CF = 1, OF = 1 ^ 1 = 0.
        assert_eq!(f(M::Rcl, Size::B, 0x01, 8, CF), Some((0x80, CF)));
        // 32-bit RCR by 31 (no modulo for doublewords): x = CF:EAX = 1:0x00000000.
        // rotr 31 of the 33-bit value = rotl 2: bit 32 goes to bit 1, so EAX = 2, CF = 0.
        assert_eq!(f(M::Rcr, Size::D, 0, 31, CF), Some((2, 0)));
    }

    #[test]
    fn shld_shrd() {
        let d = |op, size, dst, src, c| compute(op, size, dst, src, c, 0);
        // SHLD EAX=0x12345678, EBX=0x9abcdef0, 8 = 0x3456789a; CF = bit 24 of EAX = 0.
        assert_eq!(d(M::Shld, Size::D, 0x1234_5678, 0x9abc_def0, 8), Some((0x3456_789a, PF)));
        // SHRD EAX=0x12345678, EBX=0x9abcdef0, 8 = 0xf0123456; CF = bit 7 = 0.
        assert_eq!(d(M::Shrd, Size::D, 0x1234_5678, 0x9abc_def0, 8), Some((0xf012_3456, SF | PF)));
        // Count 0 (and 32, masked to 0) changes nothing.
        assert_eq!(d(M::Shld, Size::D, 1, 2, 0), None);
        assert_eq!(d(M::Shrd, Size::W, 1, 2, 32), None);
        // 16-bit SHLD by 4: CF = bit 12 of dst = 1, OF = CF ^ MSB = 1.
        assert_eq!(d(M::Shld, Size::W, 0x1234, 0xabcd, 4), Some((0x234a, CF | OF)));
        // 16-bit SHLD by 20 (P6: shifts dst:src:dst): = src:dst shifted by 4.
        assert_eq!(d(M::Shld, Size::W, 0x1234, 0xabcd, 20), Some((0xbcd1, SF | OF | PF)));
        // 16-bit SHRD by 20 (P6: dst:src:dst): = dst:src shifted right by 4, low word.
        assert_eq!(d(M::Shrd, Size::W, 0x1234, 0xabcd, 20), Some((0x4abc, CF | OF)));
        // SHLD by 1: OF = sign change.
        assert_eq!(d(M::Shld, Size::D, 0x4000_0000, 0x8000_0000, 1), Some((0x8000_0001, SF | OF)));
    }

    #[test]
    fn executes_through_the_decoder() {
        let mut c = cpu();
        c.s.regs[0] = 0x1234_5681;
        c.s.regs[1] = 3; // CL
                         // D2 C0: ROL AL, CL (16-bit code) → 0x81 rol 3 = 0x0c
        run(&mut c, false, &[0xd2, 0xc0]).unwrap();
        assert_eq!(c.s.regs[0], 0x1234_560c);
        assert_eq!(c.s.eflags() & CF, 0);
        // C1 E0 04 in 32-bit code: SHL EAX, 4
        run(&mut c, true, &[0xc1, 0xe0, 0x04]).unwrap();
        assert_eq!(c.s.regs[0], 0x2345_60c0);
        assert_eq!(c.s.eflags() & CF, CF);
        // SHL by 0 leaves the flags as they were (CF from above).
        run(&mut c, true, &[0xc1, 0xe0, 0x00]).unwrap();
        assert_eq!((c.s.regs[0], c.s.eflags() & CF), (0x2345_60c0, CF));
        // Memory operand: D1 26 00 05 = SHL word [0x500], 1
        c.write(crate::SegReg::Ds, 0x500, Size::W, 0x4001).unwrap();
        run(&mut c, false, &[0xd1, 0x26, 0x00, 0x05]).unwrap();
        assert_eq!(c.read(crate::SegReg::Ds, 0x500, Size::W).unwrap(), 0x8002);
        assert_eq!(c.s.eflags() & (CF | OF | SF), OF | SF);
        // 0F A4 D8 04 in 32-bit code: SHLD EAX, EBX, 4
        c.s.regs[0] = 0x1000_0001;
        c.s.regs[3] = 0xf000_0000;
        run(&mut c, true, &[0x0f, 0xa4, 0xd8, 0x04]).unwrap();
        assert_eq!(c.s.regs[0], 0x0000_001f);
        assert_eq!(c.s.eflags() & CF, CF);
    }
}
