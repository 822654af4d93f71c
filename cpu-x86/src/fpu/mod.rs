//! The x87 FPU: its state in [`CpuState`](crate::state::CpuState), and the execution of the
//! D8-DF escape opcodes, WAIT, and FXSAVE/FXRSTOR.
//!
//! SDM Vol. 1, chapter 8 (the x87 FPU: 8.1 state, 8.1.3 condition codes, 8.1.7 tag word, 8.1.8-9
//! instruction/data pointers and last opcode, 8.2 data types, 8.3 instruction set, 8.4-8.7
//! exception handling, including 8.7 "Handling x87 FPU exceptions in software": CR0.NE,
//! FERR#/IRQ13 and IGNNE#); Vol. 2, the instruction pages; Vol. 3, 2.5 (CR0.EM/MP/TS/NE) and
//! Table 2-2 (#NM by EM, MP, TS); Appendix A.2.7 (the x87 opcode maps).
//!
//! - [`float80`]: the 80-bit soft-float and its rounding.
//! - [`transcendental`]: F2XM1, FYL2X(P1), FPTAN, FPATAN, FSIN, FCOS, FSINCOS.
//! - [`ops`]: the instructions themselves (loads, stores, arithmetic, comparisons, control).
//! - [`env`]: FSTENV/FLDENV/FSAVE/FRSTOR in all four formats, FXSAVE/FXRSTOR.
//!
//! Exceptions: a masked exception gives the masked response and sets its flag; an unmasked one
//! sets its flag and ES/B and is *pending*: the next waiting FP instruction (or WAIT) delivers
//! it as #MF when CR0.NE = 1, or asserts FERR# (IRQ13) and carries on when CR0.NE = 0, as the
//! PC's external logic does.

pub mod env;
pub mod float80;
pub mod ops;
pub mod transcendental;

#[cfg(test)]
mod tests;

use crate::cpu::Cpu;
use crate::decode::{Insn, Mnemonic};
use crate::fault::{vector, Fault, Res};
use crate::state::cr0;
pub use float80::F80;
use float80::{Ctx, IE, SF};

/// Status word bits (SDM Vol. 1, Figure 8-4).
pub mod sw {
    pub const IE: u16 = 1 << 0;
    pub const SF: u16 = 1 << 6;
    /// Error summary: an unmasked exception flag is set.
    pub const ES: u16 = 1 << 7;
    pub const C0: u16 = 1 << 8;
    pub const C1: u16 = 1 << 9;
    pub const C2: u16 = 1 << 10;
    pub const TOP_SHIFT: u16 = 11;
    pub const TOP: u16 = 7 << 11;
    pub const C3: u16 = 1 << 14;
    /// Busy (a copy of ES on the 387 and later).
    pub const B: u16 = 1 << 15;
    /// The six exception flags.
    pub const EXC: u16 = 0x3f;
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

/// The x87 FPU's architectural state (`#[repr(C)]`, the last part of `CpuState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Fpu {
    /// Physical registers R0-R7; ST(i) is R((TOP + i) mod 8).
    pub regs: [F80; 8],
    /// Control word: exception masks (0-5), PC (8-9), RC (10-11), X (12).
    pub fcw: u16,
    /// Status word, TOP included (bits 11-13).
    pub fsw: u16,
    /// Tag word, two bits per physical register (0 valid, 1 zero, 2 special, 3 empty).
    pub ftw: u16,
    /// Last non-control instruction's opcode: low 3 bits of the first byte, then ModRM.
    pub fop: u16,
    /// Last non-control instruction's offset and code segment selector.
    pub fip: u32,
    /// Last memory operand's offset and segment selector.
    pub fdp: u32,
    pub fcs: u16,
    pub fds: u16,
    pub _pad: u32,
}

impl Default for Fpu {
    fn default() -> Self {
        Fpu::reset()
    }
}

impl Fpu {
    /// After RESET (SDM Vol. 3, Table 9-1): FCW 0040H, FSW 0, FTW 5555H, registers +0.
    pub fn reset() -> Fpu {
        Fpu { regs: [F80::ZERO; 8], fcw: 0x0040, fsw: 0, ftw: 0x5555, fop: 0, fip: 0, fdp: 0, fcs: 0, fds: 0, _pad: 0 }
    }

    /// FNINIT: default control word, everything empty and clear; registers keep their bits.
    pub fn init(&mut self) {
        self.fcw = 0x037f;
        self.fsw = 0;
        self.ftw = 0xffff;
        self.fip = 0;
        self.fcs = 0;
        self.fdp = 0;
        self.fds = 0;
        self.fop = 0;
    }

    pub fn top(&self) -> usize {
        ((self.fsw >> sw::TOP_SHIFT) & 7) as usize
    }
    pub fn set_top(&mut self, t: usize) {
        self.fsw = (self.fsw & !sw::TOP) | ((t as u16 & 7) << sw::TOP_SHIFT);
    }
    /// The physical register of ST(i).
    pub fn phys(&self, i: usize) -> usize {
        (self.top() + i) & 7
    }
    /// ST(i).
    pub fn st(&self, i: usize) -> F80 {
        self.regs[self.phys(i)]
    }
    pub fn phys_empty(&self, r: usize) -> bool {
        (self.ftw >> (2 * r)) & 3 == 3
    }
    /// ST(i) is empty (tag 11). `empty(7)` before a push is the stack-overflow check.
    pub fn empty(&self, i: usize) -> bool {
        self.phys_empty(self.phys(i))
    }
    /// Writes physical register `r` and tags it from its contents.
    pub fn set_phys(&mut self, r: usize, v: F80) {
        self.regs[r] = v;
        self.ftw = (self.ftw & !(3 << (2 * r))) | (v.tag() << (2 * r));
    }
    /// Writes ST(i) (tagging it valid/zero/special).
    pub fn set_st(&mut self, i: usize, v: F80) {
        self.set_phys(self.phys(i), v);
    }
    /// Marks ST(i) empty.
    pub fn free(&mut self, i: usize) {
        let r = self.phys(i);
        self.ftw |= 3 << (2 * r);
    }
    /// Decrements TOP and writes the new ST(0).
    pub fn push(&mut self, v: F80) {
        self.set_top(self.top().wrapping_sub(1));
        self.set_st(0, v);
    }
    /// Marks ST(0) empty and increments TOP.
    pub fn pop(&mut self) {
        self.free(0);
        self.set_top(self.top() + 1);
    }

    /// The tag word as FSTENV/FSAVE store it: empty registers stay empty, the others are tagged
    /// from their contents.
    pub fn full_tag_word(&self) -> u16 {
        (0..8).fold(0, |w, r| {
            let t = if self.phys_empty(r) { 3 } else { self.regs[r].tag() };
            w | t << (2 * r)
        })
    }
    /// Loads a tag word (FLDENV/FRSTOR): only "empty or not" is kept; the rest is recomputed.
    pub fn set_full_tag_word(&mut self, w: u16) {
        self.ftw = (0..8).fold(0, |acc, r| {
            let t = if (w >> (2 * r)) & 3 == 3 { 3 } else { self.regs[r].tag() };
            acc | t << (2 * r)
        });
    }
    /// The abridged tag byte of FXSAVE: bit r set when R(r) is not empty.
    pub fn abridged_tag(&self) -> u8 {
        (0..8).fold(0, |b, r| b | ((!self.phys_empty(r)) as u8) << r)
    }
    pub fn set_abridged_tag(&mut self, b: u8) {
        let w = (0..8).fold(0u16, |w, r| w | if b & (1 << r) == 0 { 3 << (2 * r) } else { 0 });
        self.set_full_tag_word(w);
    }

    /// Recomputes ES and B from the exception flags and masks.
    pub fn update_es(&mut self) {
        if self.fsw & sw::EXC & !self.fcw != 0 {
            self.fsw |= sw::ES | sw::B;
        } else {
            self.fsw &= !(sw::ES | sw::B);
        }
    }

    /// A fresh operation context under the current control word.
    pub fn ctx(&self) -> Ctx {
        Ctx::new(self.fcw)
    }

    /// Records an operation's flags and C1 in the status word.
    pub fn commit(&mut self, ctx: &Ctx) {
        self.fsw = (self.fsw & !sw::C1) | (ctx.flags & (sw::EXC | sw::SF)) | if ctx.c1 { sw::C1 } else { 0 };
        self.update_es();
    }

    /// Sets C3, C2, C0 (and clears C1) from a comparison (SDM Vol. 2, FCOM: > 000, < 001,
    /// = 100, unordered 111).
    pub fn set_compare_cc(&mut self, o: float80::Order) {
        use std::cmp::Ordering::*;
        let cc = match o {
            Some(Greater) => 0,
            Some(Less) => sw::C0,
            Some(Equal) => sw::C3,
            None => sw::C3 | sw::C2 | sw::C0,
        };
        self.fsw = (self.fsw & !sw::CC) | cc;
    }
}

/// Raises a stack underflow (#IS with C1 = 0).
pub fn underflow(ctx: &mut Ctx) {
    ctx.raise(IE | SF);
    ctx.c1 = false;
}

/// Raises a stack overflow (#IS with C1 = 1).
pub fn overflow(ctx: &mut Ctx) {
    ctx.raise(IE | SF);
    ctx.c1 = true;
}

/// How an x87 opcode interacts with pending exceptions and the FPU pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// An undefined encoding: #UD.
    Invalid,
    /// FNINIT, FNCLEX, FNSTSW, FNSTCW, FNSTENV, FNSAVE, and the 8087/287 leftovers FNENI,
    /// FNDISI, FNSETPM: no pending-exception check; pointers kept.
    NoWait,
    /// FLDCW, FLDENV, FRSTOR: waiting, but control instructions (pointers kept).
    Control,
    /// Every other instruction: waiting; updates FIP/FCS/FOP (and FDP/FDS for memory).
    Normal,
}

fn classify(op: u8, modrm: u8) -> Class {
    use Class::*;
    let reg = (modrm >> 3) & 7;
    if modrm < 0xc0 {
        return match (op, reg) {
            (1, 1) | (3, 1) | (3, 4) | (3, 6) | (5, 1) | (5, 5) | (7, 1) => Invalid,
            (1, 6) | (1, 7) | (5, 6) | (5, 7) => NoWait,
            (1, 4) | (1, 5) | (5, 4) => Control,
            _ => Normal,
        };
    }
    match (op, modrm) {
        (1, 0xd1..=0xd7) | (1, 0xe2 | 0xe3 | 0xe6 | 0xe7 | 0xef) => Invalid,
        (2, 0xe0..=0xe8) | (2, 0xea..=0xff) => Invalid,
        (3, 0xe5..=0xe7) | (3, 0xf8..=0xff) => Invalid,
        (3, 0xe0..=0xe4) => NoWait,
        (5, 0xf0..=0xff) => Invalid,
        (6, 0xd8) | (6, 0xda..=0xdf) => Invalid,
        (7, 0xe0) => NoWait,
        (7, 0xe1..=0xe7) | (7, 0xf8..=0xff) => Invalid,
        _ => Normal,
    }
}

/// Delivers a pending unmasked exception before a waiting instruction: #MF with CR0.NE = 1;
/// with CR0.NE = 0 the PC's FERR# → IRQ13 path (the instruction then proceeds, as with IGNNE#).
pub fn check_pending(cpu: &mut Cpu) -> Res {
    if cpu.s.fpu.fsw & sw::ES == 0 {
        return Ok(());
    }
    if cpu.s.cr0 & cr0::NE != 0 {
        return Err(Fault::new(vector::MF));
    }
    // FERR# drives IRQ13 through the board's latch; the handler's write to port 0xF0 clears it
    // and lowers the line again (emu_devices::fpu_error).
    cpu.sys.lines.set_irq(13, true);
    Ok(())
}

/// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set; then pending exceptions.
pub fn wait(cpu: &mut Cpu) -> Res {
    if cpu.s.cr0 & (cr0::MP | cr0::TS) == (cr0::MP | cr0::TS) {
        return Err(Fault::NM);
    }
    check_pending(cpu)
}

/// Executes an x87 instruction (D8-DF) or FXSAVE/FXRSTOR.
pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    if matches!(i.mnemonic, Mnemonic::Fxsave | Mnemonic::Fxrstor) {
        return env::fxsave_fxrstor(cpu, i);
    }
    let op = (i.opcode & 7) as u8;
    let class = classify(op, i.modrm);
    if class == Class::Invalid {
        return Err(Fault::UD);
    }
    if cpu.s.cr0 & (cr0::EM | cr0::TS) != 0 {
        return Err(Fault::NM);
    }
    if class != Class::NoWait {
        check_pending(cpu)?;
    }
    ops::exec(cpu, i, op)?;
    if class == Class::Normal {
        let len = i.len as u32;
        let start = cpu.s.eip.wrapping_sub(len);
        let fip = if cpu.s.code32() { start } else { start & 0xffff };
        let fcs = cpu.s.segs[crate::state::SegReg::Cs as usize].selector;
        let f = &mut cpu.s.fpu;
        f.fip = fip;
        f.fcs = fcs;
        f.fop = ((op as u16) << 8) | i.modrm as u16;
        if i.modrm < 0xc0 {
            cpu.s.fpu.fdp = cpu.ea(i);
            cpu.s.fpu.fds = cpu.s.segs[i.seg as usize].selector;
        }
    }
    Ok(())
}
