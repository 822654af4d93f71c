//! Interrupt and exception delivery in protected mode (SDM Vol. 3, 6.10 "Interrupt Descriptor
//! Table", 6.11 "IDT Descriptors", 6.12 "Exception and Interrupt Handling", 6.13 "Error Code",
//! 20.3.1.1 "Handling an Interrupt or Exception Through a Protected-Mode Trap or Interrupt Gate";
//! Vol. 2: INT n/INTO/INT3).
//!
//! The IDT entry must be an interrupt, trap or task gate; software interrupts (INT n, INT3,
//! INTO) also need CPL <= gate DPL. A handler in a more privileged non-conforming segment runs on
//! the inner stack from the TSS, with the old SS:ESP pushed (and, from virtual-8086 mode, GS, FS,
//! DS, ES, which are then nulled); otherwise on the current stack. EFLAGS, CS, EIP and the error
//! code follow, as words or dwords by the gate's size. TF, NT, RF and VM are cleared, and IF too
//! through an interrupt gate.
//!
//! **Error codes.** Faults raised while delivering an event name the selector or IDT entry that
//! failed, with EXT (bit 0) set when the event was external or an exception, and IDT (bit 1)
//! when the index is an IDT vector: `vector * 8 + 2 + EXT`. Escalation to #DF and shutdown is
//! [`Cpu::raise`]'s.

use super::descriptor::{selector, system_type as st};
use super::task::{self, Reason};
use super::{atomically, inner_stack, load_cs, load_stack, push_or, segment};
use crate::cpu::Cpu;
use crate::fault::{Fault, Res};
use crate::flags::Size;
use crate::interp::Delivery;
use crate::state::{eflags, reg, SegReg};

/// Delivers vector `v` (with `error` pushed if given) through the IDT.
pub fn deliver(cpu: &mut Cpu, v: u8, error: Option<u32>, how: Delivery) -> Res {
    atomically(cpu, |cpu| deliver_inner(cpu, v, error, how))
}

fn deliver_inner(cpu: &mut Cpu, v: u8, error: Option<u32>, how: Delivery) -> Res {
    let ext: u16 = if how == Delivery::Software { 0 } else { 1 };
    let idt_err = v as u16 * 8 + 2 + ext;
    if v as u32 * 8 + 7 > cpu.s.idtr.limit {
        return Err(Fault::gp(idt_err));
    }
    let gate = cpu.read_descriptor_at(cpu.s.idtr.base.wrapping_add(v as u32 * 8))?;
    let kind = gate.typ();
    let is_gate =
        matches!(kind, st::TASK_GATE | st::INTERRUPT_GATE16 | st::TRAP_GATE16 | st::INTERRUPT_GATE32 | st::TRAP_GATE32);
    if gate.is_segment() || !is_gate {
        return Err(Fault::gp(idt_err));
    }
    let cpl = cpu.s.cpl;
    if how == Delivery::Software && gate.dpl() < cpl {
        return Err(Fault::gp(idt_err));
    }
    if !gate.present() {
        return Err(Fault::np(idt_err));
    }
    if kind == st::TASK_GATE {
        return task::through_gate(cpu, gate.gate_selector(), Reason::Interrupt(error), ext);
    }
    let csel = gate.gate_selector();
    if selector::is_null(csel) {
        return Err(Fault::gp(ext));
    }
    let cerr = selector::error(csel, ext);
    let (cd, caddr) = cpu.read_descriptor(csel, Fault::gp(cerr))?;
    if !cd.is_code() || cd.dpl() > cpl {
        return Err(Fault::gp(cerr));
    }
    if !cd.present() {
        return Err(Fault::np(cerr));
    }
    let size = if gate.is_32_system() { Size::D } else { Size::W };
    let target = gate.gate_offset();
    let v86 = cpu.s.v86();
    let old_flags = cpu.s.eflags();
    let old_cs = cpu.s.segs[SegReg::Cs as usize].selector as u32;
    let old_eip = cpu.s.eip;
    let new_cpl;
    if !cd.conforming() && cd.dpl() < cpl {
        // To an inner level, on the stack the TSS names for it.
        new_cpl = cd.dpl();
        if v86 && new_cpl != 0 {
            return Err(Fault::gp(cerr));
        }
        let (ss, esp, sd, saddr) = inner_stack(cpu, new_cpl, ext)?;
        if target > cd.limit() {
            return Err(Fault::gp(ext));
        }
        let ss_err = selector::error(ss, ext);
        let old_ss = cpu.s.segs[SegReg::Ss as usize].selector as u32;
        let old_esp = cpu.s.regs[reg::ESP];
        cpu.s.cpl = new_cpl;
        load_stack(cpu, sd, ss, esp);
        if v86 {
            for seg in [SegReg::Gs, SegReg::Fs, SegReg::Ds, SegReg::Es] {
                let sel = cpu.s.segs[seg as usize].selector as u32;
                push_or(cpu, size, sel, ss_err)?;
            }
        }
        for x in [old_ss, old_esp, old_flags, old_cs, old_eip] {
            push_or(cpu, size, x, ss_err)?;
        }
        if let Some(e) = error {
            push_or(cpu, size, e, ss_err)?;
        }
        cpu.set_accessed(saddr, sd)?;
        if v86 {
            for seg in [SegReg::Gs, SegReg::Fs, SegReg::Ds, SegReg::Es] {
                cpu.s.segs[seg as usize] = segment::null_segment(0);
            }
        }
    } else if cd.conforming() || cd.dpl() == cpl {
        // Same level (a conforming handler runs at the current CPL).
        if v86 {
            return Err(Fault::gp(cerr));
        }
        new_cpl = cpl;
        if target > cd.limit() {
            return Err(Fault::gp(ext));
        }
        for x in [old_flags, old_cs, old_eip] {
            push_or(cpu, size, x, ext)?;
        }
        if let Some(e) = error {
            push_or(cpu, size, e, ext)?;
        }
    } else {
        return Err(Fault::gp(cerr));
    }
    cpu.set_accessed(caddr, cd)?;
    load_cs(cpu, cd, csel, new_cpl);
    cpu.s.eip = target;
    let mut clear = eflags::TF | eflags::NT | eflags::RF | eflags::VM;
    if matches!(kind, st::INTERRUPT_GATE16 | st::INTERRUPT_GATE32) {
        clear |= eflags::IF;
    }
    cpu.s.flags &= !clear;
    Ok(())
}
