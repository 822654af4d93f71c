//! The protected-mode system architecture of an i686 (SDM Vol. 3, chapters 3, 5, 6, 7 and 20):
//! descriptor tables and segment loads ([`segment`]), privilege-changing control transfers
//! through call gates, far returns and IRET ([`transfer`]), interrupt and exception delivery
//! through the IDT ([`interrupt`]), hardware task switching ([`task`]), virtual-8086 mode
//! ([`v86`]), and SYSENTER/SYSEXIT.
//!
//! The interpreter's entry points in `interp/system.rs` call into here whenever CR0.PE is set and
//! EFLAGS.VM is clear (virtual-8086 mode loads segments the real-mode way).
//!
//! **Precise exceptions.** A transfer reads descriptors, checks them, switches stacks and pushes;
//! any of that may fault. Every entry point runs inside [`atomically`], which puts the register
//! state back as it was if the transfer fails, so the faulting instruction has changed no
//! register (memory it wrote below the stack pointer stays written, as on hardware). A task switch
//! is the one exception: past its commit point, faults belong to the new task and are delivered
//! there (see [`task`]).

pub mod descriptor;
pub mod interrupt;
pub mod segment;
pub mod task;
pub mod transfer;
pub mod v86;

#[cfg(test)]
mod tests;

use crate::cpu::Cpu;
use crate::fault::{vector, Fault, Res};
use crate::flags::Size;
use crate::state::{reg, SegReg};
use descriptor::{selector, Desc};

/// Runs `f`; if it fails, every register is restored to what it was before (see the module
/// documentation).
pub fn atomically<T>(cpu: &mut Cpu, f: impl FnOnce(&mut Cpu) -> Res<T>) -> Res<T> {
    let saved = cpu.s.clone();
    let r = f(cpu);
    if r.is_err() {
        cpu.s = saved;
    }
    r
}

/// Loads CS from code descriptor `d` with selector `sel`, at privilege `cpl` (which becomes the
/// selector's RPL and the CPU's CPL).
pub fn load_cs(cpu: &mut Cpu, d: Desc, sel: u16, cpl: u8) {
    cpu.s.segs[SegReg::Cs as usize] = d.cache((sel & !3) | cpl as u16);
    cpu.s.cpl = cpl;
}

/// The inner stack for privilege level `dpl`, read from the current TSS and checked as a new SS
/// (SDM Vol. 3, 5.8.5 and 6.12.1): `(selector, ESP, descriptor, descriptor address)`. Every
/// problem is #TS (with `ext`), a not-present segment #SS.
pub fn inner_stack(cpu: &mut Cpu, dpl: u8, ext: u16) -> Res<(u16, u32, Desc, u32)> {
    let tr = cpu.s.tr;
    let tss32 = tr.attr & 8 != 0;
    let (at, span) = if tss32 { (4 + 8 * dpl as u32, 7) } else { (2 + 4 * dpl as u32, 3) };
    if at + span > tr.limit {
        return Err(Fault::ts(selector::error(tr.selector, ext)));
    }
    let (esp, ss) = if tss32 {
        let esp = cpu.read_lin_sys(tr.base.wrapping_add(at), Size::D)?;
        (esp, cpu.read_lin_sys(tr.base.wrapping_add(at + 4), Size::W)? as u16)
    } else {
        let sp = cpu.read_lin_sys(tr.base.wrapping_add(at), Size::W)?;
        (sp, cpu.read_lin_sys(tr.base.wrapping_add(at + 2), Size::W)? as u16)
    };
    if selector::is_null(ss) {
        return Err(Fault::ts(ext));
    }
    let err = selector::error(ss, ext);
    let (d, addr) = cpu.read_descriptor(ss, Fault::ts(err))?;
    if selector::rpl(ss) != dpl || d.dpl() != dpl || !d.writable() {
        return Err(Fault::ts(err));
    }
    if !d.present() {
        return Err(Fault::ss(err));
    }
    Ok((ss, esp, d, addr))
}

/// Switches to stack `ss:esp` (already checked), at the current CPL.
pub fn load_stack(cpu: &mut Cpu, d: Desc, ss: u16, esp: u32) {
    cpu.s.segs[SegReg::Ss as usize] = d.cache(ss);
    cpu.s.regs[reg::ESP] = esp;
}

/// Pushes on the current stack, reporting a stack-limit violation as #SS(`code`) rather than
/// #SS(0) (pushes onto a new inner stack name its selector).
pub fn push_or(cpu: &mut Cpu, size: Size, v: u32, code: u16) -> Res {
    cpu.push(size, v).map_err(|f| if f.vector == vector::SS { Fault::ss(code) } else { f })
}
