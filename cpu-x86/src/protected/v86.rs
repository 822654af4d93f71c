//! Virtual-8086 mode (SDM Vol. 3, 20.2 "Virtual-8086 Mode", 20.3 "Interrupt and Exception
//! Handling in Virtual-8086 Mode").
//!
//! A task runs in virtual-8086 mode while EFLAGS.VM is set, at CPL 3, with segments loaded the
//! real-mode way (base = selector × 16, limit 64 KiB). It is entered by an IRET at CPL 0 that pops
//! an EFLAGS image with VM set (which also pops ESP, SS, ES, DS, FS and GS), or by a task switch to
//! a TSS whose EFLAGS has VM set; it is left by an interrupt or exception, which must go to a
//! ring-0 non-conforming handler (see [`crate::protected::interrupt`]).
//!
//! The IOPL-sensitive instructions (CLI, STI, PUSHF, POPF, INT n, IRET) raise #GP(0) when IOPL is
//! below 3; that check lives with each instruction in `interp/`. IN/OUT always consult the I/O
//! permission bitmap (`interp/io.rs`). VME (CR4.VME) is not implemented, and CPUID does not claim it.

use crate::cpu::Cpu;
use crate::state::{attr, eflags, SegReg, Segment};

/// A segment cache as virtual-8086 mode has it: base = selector × 16, 64 KiB, DPL 3, present,
/// writable data (the code segment is readable code), 16-bit.
pub fn segment(seg: SegReg, sel: u16) -> Segment {
    let kind = if seg == SegReg::Cs { attr::CODE | attr::RW } else { attr::RW };
    Segment {
        base: (sel as u32) << 4,
        limit: 0xffff,
        selector: sel,
        attr: attr::P | attr::S | attr::ACCESSED | kind | (3 << attr::DPL_SHIFT),
    }
}

/// Enters virtual-8086 mode: EFLAGS (with VM set) and every segment register from `sels`
/// (ES, CS, SS, DS, FS, GS), ESP and EIP; CPL becomes 3.
pub fn enter(cpu: &mut Cpu, flags: u32, sels: [u16; 6], esp: u32, eip: u32) {
    cpu.s.set_eflags(flags | eflags::VM, eflags::WRITABLE);
    for seg in SegReg::ALL {
        cpu.s.segs[seg as usize] = segment(seg, sels[seg as usize]);
    }
    cpu.s.regs[crate::state::reg::ESP] = esp;
    cpu.s.eip = eip & 0xffff;
    cpu.s.cpl = 3;
}
