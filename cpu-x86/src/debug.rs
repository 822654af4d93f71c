//! Debug registers and the debug exception (SDM Vol. 3, chapter 18 "Debug, branch profile, TSC";
//! Vol. 2, MOV DR and INT1): DR0-DR3 breakpoint addresses, DR6 status, DR7 control; instruction,
//! data and I/O breakpoints, single-step (EFLAGS.TF), the resume flag (EFLAGS.RF), general detect
//! (DR7.GD), the task-switch trap (TSS T bit), and ICEBP (F1).
//!
//! **Cost when unused.** [`Cpu::step`] takes the plain path unless EFLAGS.TF or RF is set, a
//! breakpoint is enabled in DR7 (bits 7:0), or a debug trap is pending: one OR of three loads.
//! Otherwise [`Cpu::step_debug`] wraps the instruction:
//!
//! 1. a trap left pending between instructions (a task switch into a TSS with T set) is
//!    delivered first;
//! 2. unless RF is set (or a MOV SS/POP SS shadow covers the instruction), an instruction
//!    breakpoint on CS:EIP raises #DB as a fault: EIP stays on the instruction and RF is pushed
//!    as it is (0); the handler sets RF in the image so that IRET re-executes it;
//! 3. RF is cleared (after that check, as the SDM puts it) and the instruction runs;
//! 4. if it completed, the traps it earned are delivered as one #DB with EIP after it: data and
//!    I/O breakpoints its accesses hit (B0-B3), and single-step (BS) if TF was set *before* it
//!    (so POPF setting TF traps only after the next instruction, and one clearing TF still
//!    traps), except after INT n, INT3, INTO (taken) and INT1, whose handler starts with TF
//!    clear. After MOV SS or POP SS the traps wait for the end of the next instruction.
//!
//! A faulting instruction earns no trap; its fault is delivered with RF set in the EFLAGS image
//! (as for every fault-class exception except an instruction breakpoint).
//!
//! **Data breakpoints** are checked in the softmmu's slow path ([`Cpu::read_lin_slow`],
//! [`Cpu::write_lin_slow`]). A page holding an armed data breakpoint gets no read or write tags in
//! the TLB (see [`Cpu::data_breakpoint_on_page`]), so every access to it comes there; writing
//! DR0-DR3 or DR7 flushes the TLB. A REP string instruction stops after the iteration that hit
//! (EIP back on it, RF set), as the SDM says, so the trap reports that iteration.
//!
//! On every #DB the processor clears DR7.GD, so the handler can use the debug registers. DR6's
//! B0-B3 are replaced by the conditions of this exception; BD, BS and BT accumulate until
//! software clears them.

use crate::cpu::Cpu;
use crate::decode::{Arg, Insn, Mnemonic as M};
use crate::fault::{vector, Fault, Res};
use crate::flags::Size;
use crate::interp::Delivery;
use crate::state::{cr4, eflags, SegReg};

/// DR6 bits.
pub mod dr6 {
    /// B0-B3: breakpoint condition n was met.
    pub const B_ALL: u32 = 0xf;
    /// Debug-register access detected (DR7.GD).
    pub const BD: u32 = 1 << 13;
    /// Single step.
    pub const BS: u32 = 1 << 14;
    /// Task switch into a TSS with T set.
    pub const BT: u32 = 1 << 15;
    /// What DR6 reads as besides its status bits (bits 4-11 and 16-31 set, 12 clear).
    pub const FIXED1: u32 = 0xffff_0ff0;
    /// The bits software can write.
    pub const WRITABLE: u32 = B_ALL | BD | BS | BT;
}

/// DR7 bits.
pub mod dr7 {
    /// L0, G0, ..., L3, G3: a breakpoint is enabled if either of its bits is set.
    pub const ENABLES: u32 = 0xff;
    /// General detect: MOV to or from a debug register raises #DB.
    pub const GD: u32 = 1 << 13;
    /// Bit 10 reads as 1; bits 11, 12, 14 and 15 read as 0.
    pub const FIXED1: u32 = 1 << 10;
    pub const FIXED0: u32 = (1 << 11) | (1 << 12) | (1 << 14) | (1 << 15);
}

/// What a breakpoint's R/W field in DR7 watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    Execute,
    Write,
    /// I/O reads and writes (only with CR4.DE; undefined otherwise, and ignored here).
    Io,
    ReadWrite,
}

/// The interpreter's debug bookkeeping between and within instructions (host-side; not
/// architectural state, and empty at every instruction boundary unless a trap is pending).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DebugState {
    /// B0-B3 of the data and I/O breakpoints the current instruction's accesses hit.
    pub hits: u32,
    /// DR6 bits of debug traps not yet delivered.
    pub pending: u32,
    /// `pending` waits for the end of the next instruction (MOV SS / POP SS shadow).
    pub held: bool,
}

impl Cpu {
    // ---- DR7 decoding -----------------------------------------------------------------------

    /// Breakpoint `n` (0-3): enabled, what it watches, and its first address and length
    /// (the address is aligned down to the length, as the hardware ignores the low bits).
    #[inline]
    fn breakpoint(&self, n: usize) -> Option<(Watch, u32, u32)> {
        let d7 = self.s.dr[7];
        if d7 & (3 << (2 * n)) == 0 {
            return None;
        }
        let watch = match (d7 >> (16 + 4 * n)) & 3 {
            0 => Watch::Execute,
            1 => Watch::Write,
            2 => Watch::Io,
            _ => Watch::ReadWrite,
        };
        let len = match (d7 >> (18 + 4 * n)) & 3 {
            0 => 1,
            1 => 2,
            2 => 8,
            _ => 4,
        };
        Some((watch, self.s.dr[n] & !(len - 1), len))
    }

    /// Whether `[a, a + alen)` and `[b, b + blen)` overlap (64-bit, so nothing wraps).
    #[inline]
    fn overlap(a: u32, alen: u32, b: u32, blen: u32) -> bool {
        (a as u64) < b as u64 + blen as u64 && (b as u64) < a as u64 + alen as u64
    }

    /// The B0-B3 bits of the instruction breakpoints at linear address `lin`.
    fn instruction_breakpoints(&self, lin: u32) -> u32 {
        (0..4)
            .filter(|&n| matches!(self.breakpoint(n), Some((Watch::Execute, a, len)) if Self::overlap(a, len, lin, 1)))
            .fold(0, |bits, n| bits | 1 << n)
    }

    /// Records the data breakpoints an access of `size` bytes at `lin` hits (the softmmu slow
    /// path calls this when DR7 enables any breakpoint).
    pub fn check_data_breakpoints(&mut self, lin: u32, size: u32, write: bool) {
        for n in 0..4 {
            if let Some((w, a, len)) = self.breakpoint(n) {
                let watched = w == Watch::ReadWrite || (w == Watch::Write && write);
                if watched && Self::overlap(a, len, lin, size) {
                    self.debug.hits |= 1 << n;
                }
            }
        }
    }

    /// Records the I/O breakpoints an access of `size` at `port` hits (IN, OUT, INS, OUTS).
    pub fn check_io_breakpoints(&mut self, port: u16, size: Size) {
        if self.s.dr[7] & dr7::ENABLES == 0 || self.s.cr4 & cr4::DE == 0 {
            return;
        }
        for n in 0..4 {
            if let Some((Watch::Io, a, len)) = self.breakpoint(n) {
                if Self::overlap(a & 0xffff, len, port as u32, size.bytes()) {
                    self.debug.hits |= 1 << n;
                }
            }
        }
    }

    /// Whether the 4 KiB linear page holding `lin` holds an armed data breakpoint, so reads and
    /// writes to it must not be cached in the TLB.
    #[inline]
    pub fn data_breakpoint_on_page(&self, lin: u32) -> bool {
        self.s.dr[7] & dr7::ENABLES != 0
            && (0..4).any(|n| match self.breakpoint(n) {
                // A breakpoint is at most 8 bytes, aligned to its length: it lies in one page.
                Some((Watch::Write | Watch::ReadWrite, a, _)) => a & !0xfff == lin & !0xfff,
                _ => false,
            })
    }

    // ---- the step loop ----------------------------------------------------------------------

    /// Whether [`Cpu::step`] must go through [`Cpu::step_debug`].
    #[inline(always)]
    pub fn debug_step_needed(&self) -> bool {
        (self.s.flags & (eflags::TF | eflags::RF)) | (self.s.dr[7] & dr7::ENABLES) | self.debug.pending != 0
    }

    /// One instruction with debug exceptions (see the module documentation).
    pub fn step_debug(&mut self) {
        if self.debug.pending != 0 && !self.debug.held {
            let bits = std::mem::take(&mut self.debug.pending);
            self.deliver_debug_trap(bits);
            return;
        }
        let held = std::mem::take(&mut self.debug.held);
        if self.s.flags & eflags::RF == 0 && !held && self.s.dr[7] & dr7::ENABLES != 0 {
            let lin = self.s.segs[SegReg::Cs as usize].base.wrapping_add(self.s.eip);
            let hits = self.instruction_breakpoints(lin);
            if hits != 0 {
                self.s.dr[6] = (self.s.dr[6] & !dr6::B_ALL) | hits;
                self.s.dr[7] &= !dr7::GD;
                self.raise(Fault::new(vector::DB));
                return;
            }
        }
        let tf = self.s.flags & eflags::TF != 0;
        let of = tf && self.s.flag(eflags::OF);
        self.s.flags &= !eflags::RF;
        self.debug.hits = 0;
        let done = self.step_insn();
        let hits = std::mem::take(&mut self.debug.hits);
        let Some(i) = done else {
            // Faulted (and delivered): no traps; a held one waits on.
            self.debug.held = self.debug.pending != 0;
            return;
        };
        let mut bits = hits | std::mem::take(&mut self.debug.pending);
        let software_interrupt = matches!(i.mnemonic, M::Int | M::Int3 | M::Int1) || (i.mnemonic == M::Into && of);
        if tf && !software_interrupt {
            bits |= dr6::BS;
        }
        if bits == 0 {
            return;
        }
        if is_ss_load(&i) {
            self.debug.pending = bits;
            self.debug.held = true;
            return;
        }
        self.deliver_debug_trap(bits);
    }

    /// Delivers a trap-class #DB (EIP after the instruction) reporting the DR6 bits `bits`.
    fn deliver_debug_trap(&mut self, bits: u32) {
        self.s.dr[6] = (self.s.dr[6] & !dr6::B_ALL) | bits;
        self.s.dr[7] &= !dr7::GD;
        self.raise(Fault::new(vector::DB));
    }

    /// A task switch into a TSS whose T bit is set: #DB with BT before the new task's first
    /// instruction (for the task-switch code to call).
    pub fn debug_task_switch_trap(&mut self) {
        self.debug.pending |= dr6::BT;
    }

    /// INT1 / ICEBP (F1): a trap-class #DB delivered like an exception (no IDT DPL check, no DR6
    /// change).
    pub fn icebp(&mut self) -> Res {
        self.s.dr[7] &= !dr7::GD;
        self.interrupt(vector::DB, Delivery::Exception);
        Ok(())
    }
}

/// MOV SS or POP SS: the instruction after it runs before any debug trap is taken.
fn is_ss_load(i: &Insn) -> bool {
    matches!(i.mnemonic, M::Mov | M::Pop) && matches!(i.args[0], Arg::Seg(SegReg::Ss))
}

/// MOV to or from DR0-DR7 (the caller routes `MovDr` here). #GP(0) above CPL 0; #DB (fault,
/// DR6.BD) with DR7.GD; #UD for DR4/DR5 with CR4.DE (without it they alias DR6/DR7).
pub fn mov_dr(cpu: &mut Cpu, i: &Insn) -> Res {
    if cpu.s.cpl != 0 {
        return Err(Fault::gp(0));
    }
    if cpu.s.dr[7] & dr7::GD != 0 {
        cpu.s.dr[6] |= dr6::BD;
        cpu.s.dr[7] &= !dr7::GD;
        return Err(Fault::new(vector::DB));
    }
    let alias = |cpu: &Cpu, n: u8| -> Res<usize> {
        match n {
            4 | 5 if cpu.s.cr4 & cr4::DE != 0 => Err(Fault::UD),
            4 | 5 => Ok(n as usize + 2),
            _ => Ok(n as usize),
        }
    };
    match (i.args[0], i.args[1]) {
        (Arg::Reg(r, _), Arg::Dr(n)) => {
            cpu.s.regs[r as usize] = cpu.s.dr[alias(cpu, n)?];
        }
        (Arg::Dr(n), Arg::Reg(r, _)) => {
            let n = alias(cpu, n)?;
            let v = cpu.s.regs[r as usize];
            cpu.s.dr[n] = match n {
                6 => (v & dr6::WRITABLE) | dr6::FIXED1,
                7 => (v & !dr7::FIXED0) | dr7::FIXED1,
                _ => v,
            };
            if n != 6 {
                // Pages holding data breakpoints must stop (or may start) being cached.
                cpu.tlb.flush();
            }
        }
        _ => unreachable!("MOV DR operands"),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
