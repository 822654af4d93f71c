//! Control transfer (SDM Vol. 1, 6.3 and 7.3.8): JMP, Jcc, CALL, RET (near and far), LOOP,
//! LOOPE, LOOPNE, JCXZ/JECXZ, INT n, INT3, INTO, IRET, BOUND.
//!
//! Far transfers in real and virtual-8086 mode load CS the real-mode way; in protected mode they
//! go through [`Cpu::far_transfer`], which checks descriptors and gates.

use crate::cpu::Cpu;
use crate::decode::{Arg, Insn, Mnemonic as M};
use crate::fault::{vector, Fault, Res};
use crate::flags::{cond, Size};
use crate::interp::Delivery;
use crate::state::{eflags, reg, SegReg};

/// The kind of far transfer, for the protected-mode checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FarKind {
    Jmp,
    Call,
}

pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    let size = i.osize;
    match i.mnemonic {
        M::Jmp => {
            let target = near_target(cpu, i)?;
            cpu.jump_near(target, size)
        }
        M::Jcc => {
            if cond(&cpu.s, i.cc()) {
                let target = near_target(cpu, i)?;
                cpu.jump_near(target, size)?;
            }
            Ok(())
        }
        M::Call => {
            let target = near_target(cpu, i)? & size.mask();
            cpu.call_near(target, size)
        }
        M::Ret => {
            let imm = if let Arg::Imm(n) = i.args[0] { n } else { 0 };
            cpu.ret_near(size, imm)
        }
        M::JmpFar | M::CallFar => {
            let (sel, off) = far_pointer(cpu, i)?;
            let kind = if i.mnemonic == M::JmpFar { FarKind::Jmp } else { FarKind::Call };
            cpu.far_transfer(kind, sel, off, size)
        }
        M::RetFar => {
            let imm = if let Arg::Imm(n) = i.args[0] { n } else { 0 };
            cpu.far_return(size, imm)
        }
        M::Loop | M::Loope | M::Loopne => {
            // The counter is CX or ECX by the address size.
            let count = cpu.reg(reg::ECX as u8, i.asize).wrapping_sub(1) & i.asize.mask();
            let zf = cpu.s.flag(eflags::ZF);
            let taken = count != 0
                && match i.mnemonic {
                    M::Loope => zf,
                    M::Loopne => !zf,
                    _ => true,
                };
            if taken {
                let target = near_target(cpu, i)?;
                cpu.jump_near(target, size)?;
            }
            cpu.set_reg(reg::ECX as u8, i.asize, count);
            Ok(())
        }
        M::Jcxz => {
            if cpu.reg(reg::ECX as u8, i.asize) == 0 {
                let target = near_target(cpu, i)?;
                cpu.jump_near(target, size)?;
            }
            Ok(())
        }
        M::Int => {
            let Arg::Imm(n) = i.args[0] else { unreachable!() };
            cpu.software_interrupt(n as u8)
        }
        M::Int3 => cpu.software_interrupt(vector::BP),
        M::Into => {
            if cpu.s.flag(eflags::OF) {
                cpu.software_interrupt(vector::OF)?;
            }
            Ok(())
        }
        M::Iret => cpu.iret(size),
        M::Bound => {
            let idx = Size::sext(size, cpu.get(i, 0)?) as i32;
            let off = cpu.ea(i);
            let lo = size.sext(cpu.read(i.seg, off, size)?) as i32;
            let hi = size.sext(cpu.read(i.seg, off.wrapping_add(size.bytes()), size)?) as i32;
            if idx < lo || idx > hi {
                return Err(Fault::BR);
            }
            Ok(())
        }
        _ => unreachable!(),
    }
}

/// The target of a near JMP/Jcc/CALL/LOOP: EIP + rel, or the r/m operand.
fn near_target(cpu: &mut Cpu, i: &Insn) -> Res<u32> {
    match i.args[0] {
        Arg::Rel(rel) => Ok(cpu.s.eip.wrapping_add(rel)),
        _ => cpu.get(i, 0),
    }
}

/// The `sel:off` of a far JMP/CALL: an immediate, or a pointer in memory (offset first).
fn far_pointer(cpu: &mut Cpu, i: &Insn) -> Res<(u16, u32)> {
    match i.args[0] {
        Arg::Far(sel, off) => Ok((sel, off)),
        _ => {
            let off = cpu.ea(i);
            let target = cpu.read(i.seg, off, i.osize)?;
            let sel = cpu.read(i.seg, off.wrapping_add(i.osize.bytes()), Size::W)?;
            Ok((sel as u16, target))
        }
    }
}

impl Cpu {
    /// #GP(0) if `eip` is beyond the code segment's limit.
    #[inline]
    pub fn check_cs_limit(&self, eip: u32) -> Res {
        if eip > self.s.segs[SegReg::Cs as usize].limit {
            return Err(Fault::gp(0));
        }
        Ok(())
    }

    /// A near CALL to `target` (within the operand size): the CS limit checked, then the return
    /// address (EIP, the next instruction) pushed.
    pub fn call_near(&mut self, target: u32, size: Size) -> Res {
        self.check_cs_limit(target)?;
        self.push(size, self.s.eip)?;
        self.s.eip = target;
        Ok(())
    }

    /// A near RET popping `imm` more bytes: the return address read, checked against the CS
    /// limit, and only then popped.
    pub fn ret_near(&mut self, size: Size, imm: u32) -> Res {
        let target = self.read(SegReg::Ss, self.sp(), size)?;
        self.check_cs_limit(target)?;
        self.set_sp(self.sp_plus(size.bytes()).wrapping_add(imm));
        self.s.eip = target;
        Ok(())
    }

    /// A near jump to `target`, truncated to the operand size, checked against the CS limit.
    #[inline]
    pub fn jump_near(&mut self, target: u32, size: Size) -> Res {
        let target = target & size.mask();
        self.check_cs_limit(target)?;
        self.s.eip = target;
        Ok(())
    }

    /// INT n / INT3 / INTO: a software interrupt, returning to the next instruction.
    pub fn software_interrupt(&mut self, v: u8) -> Res {
        if self.s.v86() && self.iopl() < 3 && v != vector::BP && v != vector::OF {
            return Err(Fault::gp(0));
        }
        // A fault while delivering it (a gate's DPL, a bad IDT entry) is the INT instruction's.
        self.interrupt_inner(v, None, Delivery::Software)
    }

    /// Far JMP or CALL to `sel:off`.
    pub fn far_transfer(&mut self, kind: FarKind, sel: u16, off: u32, size: Size) -> Res {
        if self.s.protected() && !self.s.v86() {
            return crate::interp::system::protected_far_transfer(self, kind, sel, off, size);
        }
        let off = off & size.mask();
        if off > 0xffff && self.s.segs[SegReg::Cs as usize].limit <= 0xffff {
            return Err(Fault::gp(0));
        }
        if kind == FarKind::Call {
            let cs = self.s.segs[SegReg::Cs as usize].selector as u32;
            // Both pushes must fit before anything changes.
            let sp = self.sp_plus((2 * size.bytes()).wrapping_neg());
            self.linear(SegReg::Ss, sp, 2 * size.bytes(), crate::tlb::Access::Write)?;
            self.push(size, cs)?;
            self.push(size, self.s.eip)?;
        }
        self.load_seg_real(SegReg::Cs, sel);
        self.s.eip = off;
        Ok(())
    }

    /// RETF [imm16].
    pub fn far_return(&mut self, size: Size, imm: u32) -> Res {
        if self.s.protected() && !self.s.v86() {
            return crate::interp::system::protected_far_return(self, size, imm);
        }
        let off = self.read(SegReg::Ss, self.sp(), size)?;
        let sel = self.read(SegReg::Ss, self.sp_plus(size.bytes()), size)? as u16;
        self.check_cs_limit(off)?;
        self.set_sp(self.sp_plus(2 * size.bytes()).wrapping_add(imm));
        self.load_seg_real(SegReg::Cs, sel);
        self.s.eip = off;
        Ok(())
    }

    /// IRET/IRETD.
    pub fn iret(&mut self, size: Size) -> Res {
        if self.s.v86() && self.iopl() < 3 {
            return Err(Fault::gp(0));
        }
        if self.nmi_blocked {
            // Any IRET ends NMI blocking (even one that faults later); a waiting NMI is then due.
            self.nmi_blocked = false;
            self.sys.lines.request_attention();
        }
        if self.s.protected() && !self.s.v86() {
            return crate::interp::system::protected_iret(self, size);
        }
        let off = self.read(SegReg::Ss, self.sp(), size)?;
        let sel = self.read(SegReg::Ss, self.sp_plus(size.bytes()), size)? as u16;
        let flags = self.read(SegReg::Ss, self.sp_plus(2 * size.bytes()), size)?;
        self.check_cs_limit(off)?;
        self.set_sp(self.sp_plus(3 * size.bytes()));
        self.load_seg_real(SegReg::Cs, sel);
        self.s.eip = off;
        self.write_flags_popf(flags, size);
        Ok(())
    }
}
