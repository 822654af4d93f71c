//! Far control transfers in protected mode (SDM Vol. 3, 5.8 "Privilege Level Checking When
//! Transferring Program Control Between Code Segments", 5.8.3-5.8.6 call gates, stack switching
//! and returning from a called procedure, 5.8.7 SYSENTER/SYSEXIT, 6.14 IRET; Vol. 2: JMP, CALL,
//! RET, IRET/IRETD, SYSENTER, SYSEXIT).
//!
//! - Far JMP/CALL to a code segment (conforming or not), through a call gate (a CALL to a more
//!   privileged non-conforming segment switches to the inner stack from the TSS and copies the
//!   gate's parameter count of words or dwords), or to a TSS or task gate (a task switch).
//! - Far RET to the same or an outer level (reloading the outer SS:ESP and nulling data segment
//!   registers the outer level may not use).
//! - IRET: a task return when NT is set, a return to virtual-8086 mode when the popped EFLAGS has
//!   VM set at CPL 0, or a same- or outer-level return.

use super::descriptor::{selector, system_type as st, Desc};
use super::task::{self, Reason};
use super::{atomically, inner_stack, load_cs, load_stack, push_or, segment, v86};
use crate::cpu::Cpu;
use crate::fault::{Fault, Res};
use crate::flags::Size;
use crate::interp::control::FarKind;
use crate::state::{eflags, reg, SegReg};

/// Far JMP or CALL to `sel:off` with operand size `size`.
pub fn far_transfer(cpu: &mut Cpu, kind: FarKind, sel: u16, off: u32, size: Size) -> Res {
    atomically(cpu, |cpu| far_transfer_inner(cpu, kind, sel, off, size))
}

fn far_transfer_inner(cpu: &mut Cpu, kind: FarKind, sel: u16, off: u32, size: Size) -> Res {
    if selector::is_null(sel) {
        return Err(Fault::gp(0));
    }
    let err = selector::error(sel, 0);
    let (d, addr) = cpu.read_descriptor(sel, Fault::gp(err))?;
    let (cpl, rpl) = (cpu.s.cpl, selector::rpl(sel));
    if d.is_code() {
        let bad = if d.conforming() { d.dpl() > cpl } else { rpl > cpl || d.dpl() != cpl };
        if bad {
            return Err(Fault::gp(err));
        }
        if !d.present() {
            return Err(Fault::np(err));
        }
        let off = off & size.mask();
        if off > d.limit() {
            return Err(Fault::gp(0));
        }
        if kind == FarKind::Call {
            let cs = cpu.s.segs[SegReg::Cs as usize].selector as u32;
            cpu.push(size, cs)?;
            cpu.push(size, cpu.s.eip)?;
        }
        cpu.set_accessed(addr, d)?;
        load_cs(cpu, d, sel, cpl);
        cpu.s.eip = off;
        return Ok(());
    }
    if d.is_segment() {
        return Err(Fault::gp(err));
    }
    match d.typ() {
        st::CALL_GATE16 | st::CALL_GATE32 => call_gate(cpu, kind, sel, d),
        st::TASK_GATE | st::TSS16_AVAILABLE | st::TSS32_AVAILABLE => {
            if d.dpl() < cpl || d.dpl() < rpl {
                return Err(Fault::gp(err));
            }
            if !d.present() {
                return Err(Fault::np(err));
            }
            let reason = if kind == FarKind::Jmp { Reason::Jmp } else { Reason::Call };
            if d.typ() == st::TASK_GATE {
                task::through_gate(cpu, d.gate_selector(), reason, 0)
            } else {
                task::switch(cpu, sel, d, addr, reason, 0)
            }
        }
        _ => Err(Fault::gp(err)),
    }
}

/// JMP or CALL through call gate `gate` (selected by `sel`).
fn call_gate(cpu: &mut Cpu, kind: FarKind, sel: u16, gate: Desc) -> Res {
    let cpl = cpu.s.cpl;
    let err = selector::error(sel, 0);
    if gate.dpl() < cpl || gate.dpl() < selector::rpl(sel) {
        return Err(Fault::gp(err));
    }
    if !gate.present() {
        return Err(Fault::np(err));
    }
    let csel = gate.gate_selector();
    if selector::is_null(csel) {
        return Err(Fault::gp(0));
    }
    let cerr = selector::error(csel, 0);
    let (cd, caddr) = cpu.read_descriptor(csel, Fault::gp(cerr))?;
    if !cd.is_code() || cd.dpl() > cpl {
        return Err(Fault::gp(cerr));
    }
    if kind == FarKind::Jmp && !cd.conforming() && cd.dpl() != cpl {
        return Err(Fault::gp(cerr));
    }
    if !cd.present() {
        return Err(Fault::np(cerr));
    }
    let size = if gate.is_32_system() { Size::D } else { Size::W };
    let target = gate.gate_offset();
    if target > cd.limit() {
        return Err(Fault::gp(0));
    }
    let (old_cs, old_eip) = (cpu.s.segs[SegReg::Cs as usize].selector as u32, cpu.s.eip);
    if kind == FarKind::Call && !cd.conforming() && cd.dpl() < cpl {
        // To an inner level: a new stack from the TSS, with the caller's SS:ESP and parameters.
        let new_cpl = cd.dpl();
        let (ss, esp, sd, saddr) = inner_stack(cpu, new_cpl, 0)?;
        let ss_err = selector::error(ss, 0);
        let count = gate.param_count();
        let mut params = [0u32; 32];
        for (n, p) in params.iter_mut().enumerate().take(count as usize) {
            *p = cpu.read(SegReg::Ss, cpu.sp_plus(n as u32 * size.bytes()), size)?;
        }
        let (old_ss, old_esp) = (cpu.s.segs[SegReg::Ss as usize].selector as u32, cpu.s.regs[reg::ESP]);
        cpu.s.cpl = new_cpl;
        load_stack(cpu, sd, ss, esp);
        push_or(cpu, size, old_ss, ss_err)?;
        push_or(cpu, size, old_esp, ss_err)?;
        for &p in params[..count as usize].iter().rev() {
            push_or(cpu, size, p, ss_err)?;
        }
        push_or(cpu, size, old_cs, ss_err)?;
        push_or(cpu, size, old_eip, ss_err)?;
        cpu.set_accessed(saddr, sd)?;
        cpu.set_accessed(caddr, cd)?;
        load_cs(cpu, cd, csel, new_cpl);
    } else {
        if kind == FarKind::Call {
            cpu.push(size, old_cs)?;
            cpu.push(size, old_eip)?;
        }
        cpu.set_accessed(caddr, cd)?;
        load_cs(cpu, cd, csel, cpl);
    }
    cpu.s.eip = target;
    Ok(())
}

/// Checks the code segment a RET or IRET returns to (`sel` popped from the stack): the
/// descriptor and the privilege rules of SDM Vol. 2, RET.
fn check_return_cs(cpu: &mut Cpu, sel: u16) -> Res<(Desc, u32)> {
    if selector::is_null(sel) {
        return Err(Fault::gp(0));
    }
    let err = selector::error(sel, 0);
    let (d, addr) = cpu.read_descriptor(sel, Fault::gp(err))?;
    let rpl = selector::rpl(sel);
    if !d.is_code() || rpl < cpu.s.cpl {
        return Err(Fault::gp(err));
    }
    if if d.conforming() { d.dpl() > rpl } else { d.dpl() != rpl } {
        return Err(Fault::gp(err));
    }
    if !d.present() {
        return Err(Fault::np(err));
    }
    Ok((d, addr))
}

/// Checks the outer stack segment a RET or IRET to privilege `rpl` returns to.
fn check_return_ss(cpu: &mut Cpu, ss: u16, rpl: u8) -> Res<(Desc, u32)> {
    if selector::is_null(ss) {
        return Err(Fault::gp(0));
    }
    let err = selector::error(ss, 0);
    let (d, addr) = cpu.read_descriptor(ss, Fault::gp(err))?;
    if selector::rpl(ss) != rpl || !d.writable() || d.dpl() != rpl {
        return Err(Fault::gp(err));
    }
    if !d.present() {
        return Err(Fault::ss(err));
    }
    Ok((d, addr))
}

/// Far RET [imm16] with operand size `size`.
pub fn far_return(cpu: &mut Cpu, size: Size, imm: u32) -> Res {
    atomically(cpu, |cpu| far_return_inner(cpu, size, imm))
}

fn far_return_inner(cpu: &mut Cpu, size: Size, imm: u32) -> Res {
    let b = size.bytes();
    let off = cpu.read(SegReg::Ss, cpu.sp(), size)?;
    let sel = cpu.read(SegReg::Ss, cpu.sp_plus(b), size)? as u16;
    let (d, addr) = check_return_cs(cpu, sel)?;
    let rpl = selector::rpl(sel);
    if rpl == cpu.s.cpl {
        if off > d.limit() {
            return Err(Fault::gp(0));
        }
        cpu.set_accessed(addr, d)?;
        cpu.set_sp(cpu.sp_plus(2 * b).wrapping_add(imm));
        load_cs(cpu, d, sel, rpl);
        cpu.s.eip = off;
        return Ok(());
    }
    // To an outer level: SS:ESP follow the return address and the released parameters.
    let esp = cpu.read(SegReg::Ss, cpu.sp_plus(2 * b).wrapping_add(imm), size)?;
    let ss = cpu.read(SegReg::Ss, cpu.sp_plus(3 * b).wrapping_add(imm), size)? as u16;
    let (sd, saddr) = check_return_ss(cpu, ss, rpl)?;
    if off > d.limit() {
        return Err(Fault::gp(0));
    }
    cpu.set_accessed(addr, d)?;
    cpu.set_accessed(saddr, sd)?;
    load_cs(cpu, d, sel, rpl);
    cpu.s.segs[SegReg::Ss as usize] = sd.cache(ss);
    cpu.set_sp(esp.wrapping_add(imm));
    cpu.s.eip = off;
    segment::null_inaccessible_data_segments(cpu);
    Ok(())
}

/// IRET/IRETD in protected mode (EFLAGS.VM clear).
pub fn iret(cpu: &mut Cpu, size: Size) -> Res {
    if cpu.s.flags & eflags::NT != 0 {
        // A task return: back to the task named by the back link of the current TSS.
        let link = cpu.read_lin_sys(cpu.s.tr.base, Size::W)? as u16;
        return atomically(cpu, |cpu| task::task_return(cpu, link));
    }
    atomically(cpu, |cpu| iret_inner(cpu, size))
}

fn iret_inner(cpu: &mut Cpu, size: Size) -> Res {
    let b = size.bytes();
    let off = cpu.read(SegReg::Ss, cpu.sp(), size)?;
    let sel = cpu.read(SegReg::Ss, cpu.sp_plus(b), size)? as u16;
    let flags = cpu.read(SegReg::Ss, cpu.sp_plus(2 * b), size)?;
    let cpl = cpu.s.cpl;
    if size == Size::D && flags & eflags::VM != 0 && cpl == 0 {
        // Back to virtual-8086 mode: ESP, SS, ES, DS, FS, GS follow (SDM Vol. 3, 20.2.5).
        let mut v = [0u32; 6];
        for (n, x) in v.iter_mut().enumerate() {
            *x = cpu.read(SegReg::Ss, cpu.sp_plus((3 + n as u32) * 4), Size::D)?;
        }
        let [esp, ss, es, ds, fs, gs] = v;
        if off > 0xffff {
            return Err(Fault::gp(0));
        }
        let sels = [es as u16, sel, ss as u16, ds as u16, fs as u16, gs as u16];
        v86::enter(cpu, flags, sels, esp, off);
        return Ok(());
    }
    let (d, addr) = check_return_cs(cpu, sel)?;
    let rpl = selector::rpl(sel);
    let off = off & size.mask();
    if rpl == cpl {
        if off > d.limit() {
            return Err(Fault::gp(0));
        }
        cpu.set_accessed(addr, d)?;
        cpu.set_sp(cpu.sp_plus(3 * b));
        load_cs(cpu, d, sel, rpl);
    } else {
        let esp = cpu.read(SegReg::Ss, cpu.sp_plus(3 * b), size)?;
        let ss = cpu.read(SegReg::Ss, cpu.sp_plus(4 * b), size)? as u16;
        let (sd, saddr) = check_return_ss(cpu, ss, rpl)?;
        if off > d.limit() {
            return Err(Fault::gp(0));
        }
        cpu.set_accessed(addr, d)?;
        cpu.set_accessed(saddr, sd)?;
        load_cs(cpu, d, sel, rpl);
        cpu.s.segs[SegReg::Ss as usize] = sd.cache(ss);
        cpu.set_sp(esp);
    }
    cpu.s.eip = off;
    set_iret_flags(cpu, flags, size, cpl);
    if rpl != cpl {
        segment::null_inaccessible_data_segments(cpu);
    }
    Ok(())
}

/// Loads EFLAGS from an IRET image as the privilege level before the return (`cpl`) allows:
/// IOPL, VIF and VIP only at CPL 0, IF only at CPL <= IOPL; VM never (see the v86 path).
fn set_iret_flags(cpu: &mut Cpu, v: u32, size: Size, cpl: u8) {
    use eflags::*;
    let mut mask = ARITH | TF | DF | NT | RF | AC | ID;
    if cpl == 0 {
        mask |= IOPL | VIF | VIP;
    }
    if cpl <= cpu.iopl() {
        mask |= IF;
    }
    if size == Size::W {
        mask &= 0xffff;
    }
    cpu.s.set_eflags(v, mask);
}

/// SYSENTER (SDM Vol. 2): to CPL 0 with flat CS and SS derived from IA32_SYSENTER_CS.
pub fn sysenter(cpu: &mut Cpu) -> Res {
    let cs = cpu.s.sysenter_cs as u16;
    if !cpu.s.protected() || selector::is_null(cs) {
        return Err(Fault::gp(0));
    }
    cpu.s.flags &= !(eflags::VM | eflags::IF | eflags::RF);
    flat(cpu, cs & 0xfffc, 0);
    cpu.s.regs[reg::ESP] = cpu.s.sysenter_esp;
    cpu.s.eip = cpu.s.sysenter_eip;
    Ok(())
}

/// SYSEXIT (SDM Vol. 2): from CPL 0 to CPL 3 at EDX with stack ECX.
pub fn sysexit(cpu: &mut Cpu) -> Res {
    let cs = cpu.s.sysenter_cs as u16;
    if !cpu.s.protected() || cpu.s.v86() || cpu.s.cpl != 0 || selector::is_null(cs) {
        return Err(Fault::gp(0));
    }
    flat(cpu, (cs & 0xfffc) + 16, 3);
    cpu.s.regs[reg::ESP] = cpu.s.regs[reg::ECX];
    cpu.s.eip = cpu.s.regs[reg::EDX];
    Ok(())
}

/// The fixed flat 4 GiB, 32-bit code segment `cs` and stack segment `cs + 8` SYSENTER and
/// SYSEXIT load at privilege `pl` (the descriptors in memory are not read).
fn flat(cpu: &mut Cpu, cs: u16, pl: u8) {
    use crate::state::{attr, Segment};
    let common = attr::P | attr::S | attr::ACCESSED | attr::RW | attr::DB | attr::G | ((pl as u16) << attr::DPL_SHIFT);
    let sel = |s: u16| s | pl as u16;
    cpu.s.segs[SegReg::Cs as usize] =
        Segment { base: 0, limit: u32::MAX, selector: sel(cs), attr: common | attr::CODE };
    cpu.s.segs[SegReg::Ss as usize] = Segment { base: 0, limit: u32::MAX, selector: sel(cs + 8), attr: common };
    cpu.s.cpl = pl;
}
