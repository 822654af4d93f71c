//! Data movement (SDM Vol. 1, 7.3.1): MOV (incl. segment registers), MOVZX, MOVSX, XCHG, XADD,
//! CMPXCHG, CMPXCHG8B, BSWAP, LEA, XLAT, CBW/CWDE, CWD/CDQ, LAHF, SAHF, CMOVcc, SETcc, the far
//! pointer loads LDS/LES/LFS/LGS/LSS, and SALC.

use crate::cpu::Cpu;
use crate::decode::{Arg, Insn, Mnemonic as M};
use crate::fault::Res;
use crate::flags::{cond, Size};
use crate::interp::alu;
use crate::state::{eflags, reg, SegReg};

pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    match i.mnemonic {
        M::Mov => mov(cpu, i),
        M::Movzx => {
            let v = cpu.get(i, 1)?;
            cpu.set(i, 0, v)
        }
        M::Movsx => {
            let v = cpu.get(i, 1)?;
            cpu.set(i, 0, Cpu::size_of(i, 1).sext(v))
        }
        M::Xchg => {
            let a = cpu.get(i, 0)?;
            let b = cpu.get(i, 1)?;
            cpu.set(i, 0, b)?; // memory first: a fault leaves the register alone
            cpu.set(i, 1, a)
        }
        M::Xadd => {
            let size = Cpu::size_of(i, 0);
            let dst = cpu.get(i, 0)?;
            let src = cpu.get(i, 1)?;
            let (sum, kind, b, cin) = alu::evaluate(&cpu.s, M::Add, size, dst, src);
            cpu.set(i, 0, sum)?;
            cpu.set(i, 1, dst)?;
            if let Arg::Reg(r, _) = i.args[0] {
                // XADD reg, reg with the same register: the sum wins.
                cpu.set_reg(r, size, sum);
            }
            cpu.s.set_cc(kind, size, sum, b, cin);
            Ok(())
        }
        M::Cmpxchg => {
            let size = Cpu::size_of(i, 0);
            let dst = cpu.get(i, 0)?;
            let acc = cpu.reg(0, size);
            let (res, kind, b, cin) = alu::evaluate(&cpu.s, M::Cmp, size, acc, dst);
            if acc == dst {
                let src = cpu.get(i, 1)?;
                cpu.set(i, 0, src)?;
            } else {
                // The destination is written back with its own value (a locked RMW cycle).
                cpu.set(i, 0, dst)?;
                cpu.set_reg(0, size, dst);
            }
            cpu.s.set_cc(kind, size, res, b, cin);
            Ok(())
        }
        M::Cmpxchg8b => {
            let off = cpu.ea(i);
            let lo = cpu.read(i.seg, off, Size::D)?;
            let hi = cpu.read(i.seg, off.wrapping_add(4), Size::D)?;
            let r = &cpu.s.regs;
            let zf = lo == r[reg::EAX] && hi == r[reg::EDX];
            let (new_lo, new_hi) = if zf { (r[reg::EBX], r[reg::ECX]) } else { (lo, hi) };
            // Check both dwords are writable before writing either.
            cpu.linear(i.seg, off, 8, crate::tlb::Access::Write)?;
            cpu.write(i.seg, off, Size::D, new_lo)?;
            cpu.write(i.seg, off.wrapping_add(4), Size::D, new_hi)?;
            if !zf {
                cpu.s.regs[reg::EAX] = lo;
                cpu.s.regs[reg::EDX] = hi;
            }
            let f = cpu.s.eflags() & !eflags::ZF;
            cpu.s.set_arith(if zf { f | eflags::ZF } else { f });
            Ok(())
        }
        M::Bswap => {
            let Arg::Reg(r, size) = i.args[0] else { unreachable!() };
            // BSWAP with a 16-bit operand is undefined; P6-family CPUs clear the register's low word.
            let v = if size == Size::D { cpu.reg(r, Size::D).swap_bytes() } else { 0 };
            cpu.set_reg(r, size, v);
            Ok(())
        }
        M::Lea => {
            let ea = cpu.ea(i);
            cpu.set(i, 0, ea)
        }
        M::Xlat => {
            let base = cpu.reg(reg::EBX as u8, i.asize);
            let off = base.wrapping_add(cpu.reg(0, Size::B)) & i.asize.mask();
            let v = cpu.read(i.seg, off, Size::B)?;
            cpu.set_reg(0, Size::B, v);
            Ok(())
        }
        M::Cbw => {
            let half = if i.osize == Size::D { Size::W } else { Size::B };
            let v = half.sext(cpu.reg(0, half));
            cpu.set_reg(0, i.osize, v);
            Ok(())
        }
        M::Cwd => {
            let v = cpu.reg(0, i.osize);
            let high = if v & i.osize.sign() != 0 { u32::MAX } else { 0 };
            cpu.set_reg(reg::EDX as u8, i.osize, high);
            Ok(())
        }
        M::Lahf => {
            let f = cpu.s.eflags() & 0xff;
            cpu.set_reg(4, Size::B, f); // AH
            Ok(())
        }
        M::Sahf => {
            let ah = cpu.reg(4, Size::B);
            let mask = eflags::SF | eflags::ZF | eflags::AF | eflags::PF | eflags::CF;
            let f = (cpu.s.eflags() & !mask) | (ah & mask);
            cpu.s.set_arith(f);
            Ok(())
        }
        M::Cmovcc => {
            // The source is read (and may fault) whether or not the condition holds.
            let v = cpu.get(i, 1)?;
            if cond(&cpu.s, i.cc()) {
                cpu.set(i, 0, v)?;
            }
            Ok(())
        }
        M::Setcc => {
            let v = cond(&cpu.s, i.cc()) as u32;
            cpu.set(i, 0, v)
        }
        M::Lds | M::Les | M::Lfs | M::Lgs | M::Lss => {
            let seg = match i.mnemonic {
                M::Lds => SegReg::Ds,
                M::Les => SegReg::Es,
                M::Lfs => SegReg::Fs,
                M::Lgs => SegReg::Gs,
                _ => SegReg::Ss,
            };
            let off = cpu.ea(i);
            let ptr = cpu.read(i.seg, off, i.osize)?;
            let sel = cpu.read(i.seg, off.wrapping_add(i.osize.bytes()), Size::W)?;
            cpu.load_seg(seg, sel as u16)?;
            cpu.set(i, 0, ptr)
        }
        M::Salc => {
            // Undocumented: AL = CF ? 0xFF : 0.
            let v = if cpu.s.carry() != 0 { 0xff } else { 0 };
            cpu.set_reg(0, Size::B, v);
            Ok(())
        }
        _ => unreachable!(),
    }
}

fn mov(cpu: &mut Cpu, i: &Insn) -> Res {
    match (i.args[0], i.args[1]) {
        (Arg::Seg(seg), _) => {
            let sel = cpu.get(i, 1)? as u16;
            cpu.load_seg(seg, sel)
        }
        (Arg::Mem(_), Arg::Seg(seg)) => {
            // A segment register stored to memory is always 16 bits.
            let sel = cpu.s.segs[seg as usize].selector as u32;
            cpu.write(i.seg, cpu.ea(i), Size::W, sel)
        }
        (Arg::Reg(r, size), Arg::Seg(seg)) => {
            // To a 32-bit register, P6-family CPUs zero-extend the selector.
            let sel = cpu.s.segs[seg as usize].selector as u32;
            cpu.set_reg(r, size, sel);
            Ok(())
        }
        _ => {
            let v = cpu.get(i, 1)?;
            cpu.set(i, 0, v)
        }
    }
}
