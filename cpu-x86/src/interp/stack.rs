//! Stack instructions (SDM Vol. 1, 6.2 and 7.3.1.5): PUSH, POP, PUSHA/PUSHAD, POPA/POPAD,
//! PUSHF/PUSHFD, POPF/POPFD, ENTER, LEAVE.

use crate::cpu::Cpu;
use crate::decode::{Arg, Insn, Mnemonic as M};
use crate::fault::{Fault, Res};
use crate::flags::Size;
use crate::state::{eflags, reg, SegReg};

pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    let size = i.osize;
    match i.mnemonic {
        M::Push => match i.args[0] {
            Arg::Seg(s) => {
                // A selector pushed with a 32-bit operand size is written with a 16-bit move
                // into a 32-bit slot (the upper half of the slot is left as it was).
                let sel = cpu.s.segs[s as usize].selector as u32;
                let sp = cpu.sp_plus(size.bytes().wrapping_neg());
                cpu.linear(SegReg::Ss, sp, size.bytes(), crate::tlb::Access::Write)?;
                cpu.write(SegReg::Ss, sp, Size::W, sel)?;
                cpu.set_sp(sp);
                Ok(())
            }
            _ => {
                // PUSH ESP pushes the value before the push (80286 and later).
                let v = cpu.get(i, 0)?;
                cpu.push(size, v)
            }
        },
        M::Pop => match i.args[0] {
            Arg::Seg(s) => {
                // The stack pointer moves by the old stack's size, even when POP SS changes it.
                let v = cpu.read(SegReg::Ss, cpu.sp(), size)?;
                let (sp, big) = (cpu.sp_plus(size.bytes()), cpu.s.stack32());
                cpu.load_seg(s, v as u16)?;
                cpu.set_reg(reg::ESP as u8, if big { Size::D } else { Size::W }, sp);
                Ok(())
            }
            Arg::Mem(_) => {
                // The address of a memory destination is computed with ESP already incremented.
                let v = cpu.read(SegReg::Ss, cpu.sp(), size)?;
                let old = cpu.s.regs[reg::ESP];
                cpu.set_sp(cpu.sp_plus(size.bytes()));
                cpu.set(i, 0, v).inspect_err(|_| cpu.s.regs[reg::ESP] = old)
            }
            _ => {
                let v = cpu.pop(size)?;
                cpu.set(i, 0, v)
            }
        },
        M::Pusha => {
            let sp0 = cpu.reg(reg::ESP as u8, size);
            let bytes = size.bytes();
            let base = cpu.sp_plus((8 * bytes).wrapping_neg());
            for n in 0..8u8 {
                let v = if n as usize == reg::ESP { sp0 } else { cpu.reg(n, size) };
                let off = cpu.sp_plus(((n as u32 + 1) * bytes).wrapping_neg());
                cpu.write(SegReg::Ss, off, size, v)?;
            }
            cpu.set_sp(base);
            Ok(())
        }
        M::Popa => {
            let bytes = size.bytes();
            let mut vals = [0u32; 8];
            for n in 0..8u32 {
                vals[7 - n as usize] = cpu.read(SegReg::Ss, cpu.sp_plus(n * bytes), size)?;
            }
            for (n, &v) in vals.iter().enumerate() {
                if n != reg::ESP {
                    cpu.set_reg(n as u8, size, v);
                }
            }
            cpu.set_sp(cpu.sp_plus(8 * bytes));
            Ok(())
        }
        M::Pushf => {
            if cpu.s.v86() && cpu.iopl() < 3 {
                return Err(Fault::gp(0));
            }
            // VM and RF read as 0 in the pushed image.
            let f = cpu.s.eflags() & !(eflags::VM | eflags::RF);
            cpu.push(size, f)
        }
        M::Popf => {
            if cpu.s.v86() && cpu.iopl() < 3 {
                return Err(Fault::gp(0));
            }
            let v = cpu.read(SegReg::Ss, cpu.sp(), size)?;
            cpu.set_sp(cpu.sp_plus(size.bytes()));
            cpu.write_flags_popf(v, size);
            Ok(())
        }
        M::Enter => enter(cpu, i),
        M::Leave => {
            // (E)SP = (E)BP, by the stack's size; then pop (E)BP at the operand size.
            let bp = cpu.s.regs[reg::EBP];
            let v = cpu.read(SegReg::Ss, if cpu.s.stack32() { bp } else { bp & 0xffff }, size)?;
            cpu.set_sp(bp);
            cpu.set_sp(cpu.sp_plus(size.bytes()));
            cpu.set_reg(reg::EBP as u8, size, v);
            Ok(())
        }
        _ => unreachable!(),
    }
}

/// ENTER imm16, imm8: make a stack frame with `level` (mod 32) nested frame pointers.
fn enter(cpu: &mut Cpu, i: &Insn) -> Res {
    let (Arg::Imm(alloc), Arg::Imm(level)) = (i.args[0], i.args[1]) else { unreachable!() };
    let level = level % 32;
    let size = i.osize;
    let bytes = size.bytes();
    let bp = cpu.reg(reg::EBP as u8, if cpu.s.stack32() { Size::D } else { Size::W });
    // Work on a copy of the stack pointer; commit only when every access succeeded.
    let mut sp = cpu.sp_plus(bytes.wrapping_neg());
    cpu.write(SegReg::Ss, sp, size, cpu.reg(reg::EBP as u8, size))?;
    let frame = sp;
    let mask = if cpu.s.stack32() { u32::MAX } else { 0xffff };
    if level > 0 {
        let mut ptr = bp;
        for _ in 1..level {
            ptr = ptr.wrapping_sub(bytes) & mask;
            let v = cpu.read(SegReg::Ss, ptr, size)?;
            sp = sp.wrapping_sub(bytes) & mask;
            cpu.write(SegReg::Ss, sp, size, v)?;
        }
        sp = sp.wrapping_sub(bytes) & mask;
        // On a 16-bit stack a 32-bit ENTER pushes the frame pointer with ESP's upper half (as
        // test386.asm checks, and as EBP ends up below).
        cpu.write(SegReg::Ss, sp, size, (cpu.s.regs[reg::ESP] & !mask) | frame)?;
    }
    sp = sp.wrapping_sub(alloc) & mask;
    // The new stack top must be addressable (SDM: #SS if it is outside the segment).
    // ...and writable through paging (#PF), as a write there would be.
    let lin = cpu.linear(SegReg::Ss, sp, 1, crate::tlb::Access::Write)?;
    let user = cpu.s.cpl == 3;
    cpu.translate(lin, crate::tlb::Access::Write, user)?;
    let stack_size = if cpu.s.stack32() { Size::D } else { Size::W };
    cpu.set_reg(reg::EBP as u8, stack_size, frame);
    cpu.set_sp(sp);
    Ok(())
}

impl Cpu {
    /// EFLAGS.IOPL.
    #[inline]
    pub fn iopl(&self) -> u8 {
        ((self.s.flags & eflags::IOPL) >> 12) as u8
    }

    /// Loads EFLAGS from a POPF/IRET image, changing only what the mode and privilege allow
    /// (SDM Vol. 2, POPF): IOPL only at CPL 0, IF only at CPL <= IOPL; VM, VIP and VIF never;
    /// RF is cleared. A 16-bit image leaves bits 16-31 alone.
    pub fn write_flags_popf(&mut self, v: u32, size: Size) {
        use eflags::*;
        let mut mask = ARITH | TF | DF | OF | NT | AC | ID | IF | IOPL;
        if self.s.protected() || self.s.v86() {
            if self.s.cpl > 0 {
                mask &= !IOPL;
            }
            if self.s.cpl > self.iopl() {
                mask &= !IF;
            }
        }
        if size == Size::W {
            mask &= 0xffff;
        }
        self.s.set_eflags(v, mask);
        self.s.flags &= !RF;
    }
}
