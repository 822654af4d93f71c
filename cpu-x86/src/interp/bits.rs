//! Bit test and bit scan (SDM Vol. 1, 7.3.7; Vol. 2, BT/BTS/BTR/BTC/BSF/BSR).
//!
//! **Bit base.** With a register destination, or an immediate bit offset, the offset is taken
//! modulo the operand size. With a memory destination and a register offset, the offset is a
//! signed 16- or 32-bit number that may address memory anywhere around the operand: the
//! operand-sized unit at `ea + (offset >> 4) * 2` (or `>> 5` and `* 4`), wrapped to the address
//! size, holding bit `offset & 15` (or `& 31`).
//!
//! **Undefined flags, as emu defines them.** BT/BTS/BTR/BTC set CF to the selected bit (before
//! the change) and leave every other flag alone (ZF unchanged as on P6; OF, SF, AF and PF, which
//! the SDM leaves undefined, unchanged as in Bochs). BSF/BSR set ZF = (source == 0) and leave
//! CF, OF, SF, AF and PF alone; with a zero source the destination is not written, as on P6.
//! A fault leaves the flags and the destination as they were.

use crate::cpu::Cpu;
use crate::decode::{Arg, Insn, Mnemonic as M};
use crate::fault::Res;
use crate::state::eflags;

pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    match i.mnemonic {
        M::Bsf | M::Bsr => scan(cpu, i),
        _ => test(cpu, i),
    }
}

/// BT, BTS, BTR, BTC.
fn test(cpu: &mut Cpu, i: &Insn) -> Res {
    let size = Cpu::size_of(i, 0);
    let bits = size.bits();
    let offset = cpu.get(i, 1)?;
    let bit = offset & (bits - 1);
    // The memory operand's offset, moved by the bit offset's upper part for a register offset.
    let addr = match (i.args[0], i.args[1]) {
        (Arg::Mem(_), Arg::Reg(..)) => {
            let units = (size.sext(offset) as i32) >> bits.trailing_zeros();
            let disp = (units as u32).wrapping_mul(size.bytes());
            Some(cpu.ea(i).wrapping_add(disp) & i.asize.mask())
        }
        (Arg::Mem(_), _) => Some(cpu.ea(i)),
        _ => None,
    };
    let value = match addr {
        Some(a) => cpu.read(i.seg, a, size)?,
        None => cpu.get(i, 0)?,
    };
    let mask = 1u32 << bit;
    let new = match i.mnemonic {
        M::Bts => Some(value | mask),
        M::Btr => Some(value & !mask),
        M::Btc => Some(value ^ mask),
        _ => None,
    };
    match (new, addr) {
        (Some(v), Some(a)) => cpu.write(i.seg, a, size, v)?,
        (Some(v), None) => cpu.set(i, 0, v)?,
        (None, _) => {}
    }
    let cf = if value & mask != 0 { eflags::CF } else { 0 };
    let f = cpu.s.eflags();
    cpu.s.set_arith((f & !eflags::CF) | cf);
    Ok(())
}

/// BSF, BSR.
fn scan(cpu: &mut Cpu, i: &Insn) -> Res {
    let src = cpu.get(i, 1)?;
    let f = cpu.s.eflags() & !eflags::ZF;
    if src == 0 {
        cpu.s.set_arith(f | eflags::ZF);
        return Ok(());
    }
    let index = match i.mnemonic {
        M::Bsf => src.trailing_zeros(),
        _ => 31 - src.leading_zeros(),
    };
    cpu.set(i, 0, index)?;
    cpu.s.set_arith(f);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::Fault;
    use crate::interp::string::tests::{cpu_with, exec_one, CODE};
    use crate::state::reg;

    fn cf(cpu: &Cpu) -> bool {
        cpu.s.eflags() & eflags::CF != 0
    }

    fn word_at(cpu: &Cpu, pa: usize) -> u16 {
        let m = cpu.sys.ram().as_slice();
        u16::from_le_bytes([m[pa], m[pa + 1]])
    }

    #[test]
    fn register_forms_take_the_offset_modulo_the_size() {
        // bt ax, cx; bts ax, cx; btr eax, ecx (66); btc ax, 17 (0f ba f8 11)
        let code = [0x0f, 0xa3, 0xc8, 0x0f, 0xab, 0xc8, 0x66, 0x0f, 0xb3, 0xc8, 0x0f, 0xba, 0xf8, 0x11];
        let mut cpu = cpu_with(&code);
        cpu.s.regs[reg::EAX] = 0x8000_0001;
        cpu.s.regs[reg::ECX] = 0x20; // bit 0 for a word (32 mod 16), bit 0 for a dword too
        exec_one(&mut cpu).unwrap();
        assert!(cf(&cpu));
        cpu.s.regs[reg::ECX] = 0x13; // bit 3 of AX
        exec_one(&mut cpu).unwrap();
        assert!(!cf(&cpu));
        assert_eq!(cpu.s.regs[reg::EAX], 0x8000_0009);
        cpu.s.regs[reg::ECX] = 0x3f; // bit 31 of EAX
        exec_one(&mut cpu).unwrap();
        assert!(cf(&cpu));
        assert_eq!(cpu.s.regs[reg::EAX], 0x0000_0009);
        exec_one(&mut cpu).unwrap(); // btc ax, 17 → bit 1
        assert!(!cf(&cpu));
        assert_eq!(cpu.s.regs[reg::EAX], 0x0000_000b);
        assert_eq!(cpu.s.eip, CODE + code.len() as u32);
    }

    #[test]
    fn other_flags_are_left_alone() {
        // bt ax, 0 with ZF, SF, OF, PF, AF set and CF clear: only CF changes.
        let mut cpu = cpu_with(&[0x0f, 0xba, 0xe0, 0x00]);
        cpu.s.regs[reg::EAX] = 1;
        let others = eflags::ZF | eflags::SF | eflags::OF | eflags::PF | eflags::AF;
        cpu.s.set_arith(others);
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.eflags() & eflags::ARITH, others | eflags::CF);
    }

    #[test]
    fn memory_with_register_offset_addresses_beyond_the_operand() {
        // bts [0x100], cx: offset 35 → word at 0x104, bit 3; offset -1 → word at 0xfe, bit 15.
        let mut cpu = cpu_with(&[0x0f, 0xab, 0x0e, 0x00, 0x01, 0x0f, 0xab, 0x0e, 0x00, 0x01]);
        cpu.s.regs[reg::ECX] = 35;
        exec_one(&mut cpu).unwrap();
        assert_eq!(word_at(&cpu, 0x20104), 1 << 3);
        assert!(!cf(&cpu));
        cpu.s.regs[reg::ECX] = 0xffff; // -1 as a 16-bit offset (upper half of ECX ignored)
        exec_one(&mut cpu).unwrap();
        assert_eq!(word_at(&cpu, 0x200fe), 0x8000);
        // 66 btc dword [0x100], ecx with ECX = -33: dword at 0xf8, bit 31.
        let mut cpu = cpu_with(&[0x66, 0x0f, 0xbb, 0x0e, 0x00, 0x01]);
        cpu.sys.write_bytes(0x200f8, &[0, 0, 0, 0x80]);
        cpu.s.regs[reg::ECX] = (-33i32) as u32;
        exec_one(&mut cpu).unwrap();
        assert!(cf(&cpu));
        assert_eq!(&cpu.sys.ram().as_slice()[0x200f8..0x200fc], &[0, 0, 0, 0]);
    }

    #[test]
    fn register_offset_wraps_at_the_address_size() {
        // bt [0x0002], cx with CX = -64 (word at 2 - 8 = FFFA in 16-bit addressing).
        let mut cpu = cpu_with(&[0x0f, 0xa3, 0x0e, 0x02, 0x00]);
        cpu.sys.write_bytes(0x2fffa, &[0x01, 0x00]);
        cpu.s.regs[reg::ECX] = 0xffc0;
        exec_one(&mut cpu).unwrap();
        assert!(cf(&cpu));
    }

    #[test]
    fn memory_with_immediate_offset_stays_in_the_operand() {
        // btr word [0x10], 20 → bit 4 of the word at 0x10.
        let mut cpu = cpu_with(&[0x0f, 0xba, 0x36, 0x10, 0x00, 0x14]);
        cpu.sys.write_bytes(0x20010, &[0xff, 0xff, 0xff]);
        exec_one(&mut cpu).unwrap();
        assert!(cf(&cpu));
        assert_eq!(&cpu.sys.ram().as_slice()[0x20010..0x20013], &[0xef, 0xff, 0xff]);
    }

    #[test]
    fn a_faulting_bts_changes_nothing() {
        // bts [0xffff], ax: a word at the limit → #GP, flags and memory as they were.
        let mut cpu = cpu_with(&[0x0f, 0xab, 0x06, 0xff, 0xff]);
        cpu.s.set_arith(eflags::CF);
        assert_eq!(exec_one(&mut cpu), Err(Fault::gp(0)));
        assert_eq!(cpu.s.eflags() & eflags::ARITH, eflags::CF);
        assert_eq!(cpu.s.eip, CODE);
    }

    #[test]
    fn bit_scans() {
        // bsf ax, cx; bsr ax, cx; 66 bsr eax, ecx; bsf ax, [0x20]
        let code = [0x0f, 0xbc, 0xc1, 0x0f, 0xbd, 0xc1, 0x66, 0x0f, 0xbd, 0xc1, 0x0f, 0xbc, 0x06, 0x20, 0x00];
        let mut cpu = cpu_with(&code);
        cpu.s.regs[reg::EAX] = 0xdead_beef;
        cpu.s.regs[reg::ECX] = 0x8001_0a00; // CX = 0x0a00: lowest bit 9, highest 11
        cpu.s.set_arith(eflags::ZF | eflags::CF);
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.regs[reg::EAX], 0xdead_0009);
        assert_eq!(cpu.s.eflags() & eflags::ARITH, eflags::CF);
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.regs[reg::EAX], 0xdead_000b);
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.regs[reg::EAX], 31);
        // Zero source: ZF set, destination unchanged.
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.regs[reg::EAX], 31);
        assert_eq!(cpu.s.eflags() & eflags::ARITH, eflags::CF | eflags::ZF);
    }
}
