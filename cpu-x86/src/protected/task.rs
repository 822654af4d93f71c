//! Hardware task switching (SDM Vol. 3, 7.2 "Task Management Data Structures", 7.3 "Task
//! Switching", 7.4 "Task Linking", 7.5 "Task Address Space"; Vol. 2: JMP, CALL, INT n, IRET).
//!
//! A switch is started by a far JMP or CALL to a TSS descriptor or task gate, by an interrupt or
//! exception whose IDT entry is a task gate, or by IRET with NT set (a return to the task in the
//! back link). Both 32-bit (386) and 16-bit (286) TSS formats are handled.
//!
//! The order follows SDM 7.3: every check that can fail, and every read of the new TSS, happens
//! before anything changes; then the current state is saved into the old TSS (EIP is the
//! instruction after a JMP/CALL/INT/IRET, the faulting instruction for a fault), busy bits and
//! the back link are updated, TR, CR0.TS, CR3 (flushing the TLB) and the registers are loaded.
//! That is the commit point: faults while loading the new task's LDTR and segment registers, the
//! error code push, the EIP limit check and the T-bit #DB happen in the new task and are
//! delivered there (through [`Cpu::raise`]), never undoing the switch.

use super::descriptor::{selector, system_type as st, Desc, TSS_BUSY_BIT};
use super::segment::null_segment;
use super::v86;
use crate::cpu::Cpu;
use crate::fault::{vector, Fault, Res};
use crate::flags::Size;
use crate::state::{cr0, eflags, SegReg};

/// What started a task switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Jmp,
    Call,
    Iret,
    /// An interrupt or exception through a task gate, with the error code to push in the new task.
    Interrupt(Option<u32>),
}

/// Offsets in a 32-bit TSS (SDM Vol. 3, Figure 7-2).
pub mod tss32 {
    pub const LINK: u32 = 0x00;
    pub const CR3: u32 = 0x1c;
    pub const EIP: u32 = 0x20;
    pub const EFLAGS: u32 = 0x24;
    pub const EAX: u32 = 0x28;
    pub const ES: u32 = 0x48;
    pub const LDT: u32 = 0x60;
    pub const T: u32 = 0x64;
    /// The smallest valid limit.
    pub const MIN_LIMIT: u32 = 0x67;
}

/// Offsets in a 16-bit TSS (SDM Vol. 3, Figure 7-11).
pub mod tss16 {
    pub const IP: u32 = 0x0e;
    pub const FLAGS: u32 = 0x10;
    pub const AX: u32 = 0x12;
    pub const ES: u32 = 0x22;
    pub const LDT: u32 = 0x2a;
    pub const MIN_LIMIT: u32 = 0x2b;
}

/// A switch through the task gate naming `tss_sel` (JMP, CALL, or an IDT task gate).
pub fn through_gate(cpu: &mut Cpu, tss_sel: u16, reason: Reason, ext: u16) -> Res {
    let err = selector::error(tss_sel, ext);
    if selector::ldt(tss_sel) {
        return Err(Fault::gp(err));
    }
    let (d, addr) = cpu.read_descriptor(tss_sel, Fault::gp(err))?;
    if d.is_segment() || !matches!(d.typ(), st::TSS16_AVAILABLE | st::TSS32_AVAILABLE) {
        return Err(Fault::gp(err));
    }
    if !d.present() {
        return Err(Fault::np(err));
    }
    switch(cpu, tss_sel, d, addr, reason, ext)
}

/// IRET with NT set: back to the (busy) task `link`.
pub fn task_return(cpu: &mut Cpu, link: u16) -> Res {
    let err = selector::error(link, 0);
    if selector::ldt(link) {
        return Err(Fault::ts(err));
    }
    let (d, addr) = cpu.read_descriptor(link, Fault::ts(err))?;
    if d.is_segment() || !matches!(d.typ(), st::TSS16_BUSY | st::TSS32_BUSY) {
        return Err(Fault::ts(err));
    }
    if !d.present() {
        return Err(Fault::np(err));
    }
    switch(cpu, link, d, addr, Reason::Iret, 0)
}

/// The state a task switch loads from a TSS.
struct TaskState {
    cr3: Option<u32>,
    eip: u32,
    flags: u32,
    regs: [u32; 8],
    sels: [u16; 6],
    ldt: u16,
    trap: bool,
}

fn read_tss(cpu: &mut Cpu, base: u32, is32: bool) -> Res<TaskState> {
    let mut rd = |off: u32, size: Size| cpu.read_lin_sys(base.wrapping_add(off), size);
    let mut t = TaskState { cr3: None, eip: 0, flags: 0, regs: [0; 8], sels: [0; 6], ldt: 0, trap: false };
    if is32 {
        t.cr3 = Some(rd(tss32::CR3, Size::D)?);
        t.eip = rd(tss32::EIP, Size::D)?;
        t.flags = rd(tss32::EFLAGS, Size::D)?;
        for n in 0..8 {
            t.regs[n] = rd(tss32::EAX + 4 * n as u32, Size::D)?;
        }
        for n in 0..6 {
            t.sels[n] = rd(tss32::ES + 4 * n as u32, Size::W)? as u16;
        }
        t.ldt = rd(tss32::LDT, Size::W)? as u16;
        t.trap = rd(tss32::T, Size::W)? & 1 != 0;
    } else {
        t.eip = rd(tss16::IP, Size::W)?;
        t.flags = rd(tss16::FLAGS, Size::W)?;
        for n in 0..8 {
            // The upper halves of the registers read as ones, as on Bochs.
            t.regs[n] = 0xffff_0000 | rd(tss16::AX + 2 * n as u32, Size::W)?;
        }
        for n in 0..4 {
            t.sels[n] = rd(tss16::ES + 2 * n as u32, Size::W)? as u16;
        }
        t.ldt = rd(tss16::LDT, Size::W)? as u16;
    }
    Ok(t)
}

/// Writes the current task's dynamic state into its TSS.
fn save_state(cpu: &mut Cpu, flags: u32) -> Res {
    let tr = cpu.s.tr;
    let base = tr.base;
    let regs = cpu.s.regs;
    let sels = cpu.s.segs.map(|s| s.selector as u32);
    let eip = cpu.s.eip;
    let mut wr = |off: u32, size: Size, v: u32| cpu.write_lin_sys(base.wrapping_add(off), size, v);
    if tr.attr & 8 != 0 {
        wr(tss32::EIP, Size::D, eip)?;
        wr(tss32::EFLAGS, Size::D, flags)?;
        for (n, &r) in regs.iter().enumerate() {
            wr(tss32::EAX + 4 * n as u32, Size::D, r)?;
        }
        for (n, &s) in sels.iter().enumerate() {
            wr(tss32::ES + 4 * n as u32, Size::W, s)?;
        }
    } else {
        wr(tss16::IP, Size::W, eip)?;
        wr(tss16::FLAGS, Size::W, flags)?;
        for (n, &r) in regs.iter().enumerate() {
            wr(tss16::AX + 2 * n as u32, Size::W, r)?;
        }
        for (n, &s) in sels.iter().take(4).enumerate() {
            wr(tss16::ES + 2 * n as u32, Size::W, s)?;
        }
    }
    Ok(())
}

/// Switches to the task whose TSS descriptor `d` (at `addr`, selected by `sel`) has passed the
/// caller's type, privilege and present checks.
pub fn switch(cpu: &mut Cpu, sel: u16, d: Desc, addr: u32, reason: Reason, ext: u16) -> Res {
    let err = selector::error(sel, ext);
    if selector::ldt(sel) {
        return Err(if reason == Reason::Iret { Fault::ts(err) } else { Fault::gp(err) });
    }
    let new32 = d.is_32_system();
    if d.limit() < if new32 { tss32::MIN_LIMIT } else { tss16::MIN_LIMIT } {
        return Err(Fault::ts(err));
    }
    let old = cpu.s.tr;
    let old32 = old.attr & 8 != 0;
    if old.limit < if old32 { 0x5f } else { 0x29 } {
        return Err(Fault::ts(selector::error(old.selector, ext)));
    }
    let new = read_tss(cpu, d.base(), new32)?;

    // Save the outgoing task; a fault here still leaves the registers as they were.
    let mut old_flags = cpu.s.eflags();
    if reason == Reason::Iret {
        old_flags &= !eflags::NT;
    }
    save_state(cpu, old_flags)?;
    if matches!(reason, Reason::Jmp | Reason::Iret) {
        if let Some(a) = cpu.descriptor_address(old.selector) {
            cpu.set_tss_busy(a, false)?;
        }
    }
    let nested = matches!(reason, Reason::Call | Reason::Interrupt(_));
    if nested {
        cpu.write_lin_sys(d.base().wrapping_add(tss32::LINK), Size::W, old.selector as u32)?;
    }
    if reason != Reason::Iret {
        cpu.set_tss_busy(addr, true)?;
    }

    // Commit: from here on, the new task is current.
    let mut tr = d.cache(sel);
    tr.attr |= TSS_BUSY_BIT as u16;
    cpu.s.tr = tr;
    cpu.s.cr0 |= cr0::TS;
    let mut cr3_fault = None;
    if let Some(cr3) = new.cr3 {
        if cpu.s.cr0 & cr0::PG != 0 {
            cr3_fault = cpu.set_cr3(cr3).err();
        }
    }
    let mut flags = new.flags;
    if nested {
        flags |= eflags::NT;
    }
    cpu.s.set_eflags(flags, eflags::WRITABLE);
    cpu.s.regs = new.regs;
    cpu.s.eip = new.eip;
    if let Some(f) = cr3_fault {
        cpu.raise(f);
    } else if let Err(f) = enter_new_task(cpu, &new, reason, new32, ext) {
        cpu.raise(f);
    } else if new.trap {
        cpu.s.dr[6] |= 1 << 15; // BT: the debug trap came from a task switch
        cpu.raise(Fault::new(vector::DB));
    }
    Ok(())
}

/// Loads the new task's LDTR and segment registers, pushes the error code of an exception that
/// switched tasks, and checks EIP against the new CS limit.
fn enter_new_task(cpu: &mut Cpu, t: &TaskState, reason: Reason, new32: bool, ext: u16) -> Res {
    // The selectors are loaded first, with unusable caches, so a fault shows the new task's.
    for seg in SegReg::ALL {
        cpu.s.segs[seg as usize] = null_segment(t.sels[seg as usize]);
    }
    cpu.s.ldtr = null_segment(t.ldt);
    if cpu.s.flags & eflags::VM != 0 {
        cpu.s.cpl = 3;
    } else {
        cpu.s.cpl = selector::rpl(t.sels[SegReg::Cs as usize]);
    }
    if !selector::is_null(t.ldt) {
        let lerr = selector::error(t.ldt, ext);
        if selector::ldt(t.ldt) {
            return Err(Fault::ts(lerr));
        }
        let (ld, _) = cpu.read_descriptor(t.ldt, Fault::ts(lerr))?;
        if ld.is_segment() || ld.typ() != st::LDT || !ld.present() {
            return Err(Fault::ts(lerr));
        }
        cpu.s.ldtr = ld.cache(t.ldt);
    }
    if cpu.s.flags & eflags::VM != 0 {
        for seg in SegReg::ALL {
            cpu.s.segs[seg as usize] = v86::segment(seg, t.sels[seg as usize]);
        }
    } else {
        load_task_segments(cpu, &t.sels, ext)?;
    }
    if let Reason::Interrupt(Some(e)) = reason {
        cpu.push(if new32 { Size::D } else { Size::W }, e)?;
    }
    if cpu.s.eip > cpu.s.segs[SegReg::Cs as usize].limit {
        return Err(Fault::gp(ext));
    }
    Ok(())
}

/// The segment checks of a task switch: like ordinary loads, but failures are #TS.
fn load_task_segments(cpu: &mut Cpu, sels: &[u16; 6], ext: u16) -> Res {
    let cpl = cpu.s.cpl;
    // CS
    let cs = sels[SegReg::Cs as usize];
    let cerr = selector::error(cs, ext);
    if selector::is_null(cs) {
        return Err(Fault::ts(cerr));
    }
    let (cd, caddr) = cpu.read_descriptor(cs, Fault::ts(cerr))?;
    let bad = !cd.is_code() || if cd.conforming() { cd.dpl() > cpl } else { cd.dpl() != cpl };
    if bad {
        return Err(Fault::ts(cerr));
    }
    if !cd.present() {
        return Err(Fault::np(cerr));
    }
    cpu.set_accessed(caddr, cd)?;
    cpu.s.segs[SegReg::Cs as usize] = cd.cache(cs);
    // SS
    let ss = sels[SegReg::Ss as usize];
    let serr = selector::error(ss, ext);
    if selector::is_null(ss) {
        return Err(Fault::ts(serr));
    }
    let (sd, saddr) = cpu.read_descriptor(ss, Fault::ts(serr))?;
    if !sd.writable() || sd.dpl() != cpl || selector::rpl(ss) != cpl {
        return Err(Fault::ts(serr));
    }
    if !sd.present() {
        return Err(Fault::ss(serr));
    }
    cpu.set_accessed(saddr, sd)?;
    cpu.s.segs[SegReg::Ss as usize] = sd.cache(ss);
    // ES, DS, FS, GS
    for seg in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
        let sel = sels[seg as usize];
        if selector::is_null(sel) {
            continue;
        }
        let derr = selector::error(sel, ext);
        let (dd, daddr) = cpu.read_descriptor(sel, Fault::ts(derr))?;
        if !dd.readable() || (!dd.conforming() && (dd.dpl() < cpl || dd.dpl() < selector::rpl(sel))) {
            return Err(Fault::ts(derr));
        }
        if !dd.present() {
            return Err(Fault::np(derr));
        }
        cpu.set_accessed(daddr, dd)?;
        cpu.s.segs[seg as usize] = dd.cache(sel);
    }
    Ok(())
}
