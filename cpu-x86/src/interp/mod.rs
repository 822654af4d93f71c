//! The interpreter: executes decoded instructions one at a time. It is the reference both tiers
//! must agree with; the JIT calls [`exec`] for every instruction it has no specialised code for.
//!
//! Files split by instruction family, as the SDM groups them: [`alu`] (binary arithmetic and
//! logic), [`muldiv`], [`bcd`], [`shift`] (shifts and rotates), [`bits`], [`data`] (data
//! movement), [`stack`], [`control`] (jumps, calls, interrupts), [`string`], [`io`], and
//! [`system`] (flags, processor control, system registers).
//!
//! Operands are read and written through [`Cpu::get`] and [`Cpu::set`], so each instruction's
//! semantics is written once for every operand size and kind.

pub mod alu;
pub mod bcd;
pub mod bits;
pub mod control;
pub mod data;
pub mod decoded;
pub mod fast;
pub mod io;
pub mod muldiv;
pub mod shift;
pub mod stack;
pub mod string;
pub mod system;

use crate::cpu::Cpu;
use crate::decode::{self, Arg, DecodeError, Insn, Mnemonic as M, NO_REG};
use crate::fault::{vector, Class, Fault, Res};
use crate::flags::Size;
use crate::state::{eflags, SegReg};
use crate::tlb::Access;
use emu_core::{ClockMode, System};

/// Why [`Cpu::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The instruction budget is used up.
    Budget,
    /// The CPU is halted (HLT) and no interrupt is pending.
    Halted,
    /// A triple fault shut the CPU down.
    Shutdown,
    /// The board's wires need the machine's attention: an exit request or a firmware call
    /// (reset and A20 are handled inside the CPU loop).
    Attention,
}

/// Executes one decoded instruction. EIP already points past it.
pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    use M::*;
    match i.mnemonic {
        Invalid => Err(Fault::UD),
        Add | Or | Adc | Sbb | And | Sub | Xor | Cmp | Test => alu::binary(cpu, i),
        Inc | Dec | Neg | Not => alu::unary(cpu, i),
        Mul | Imul | Div | Idiv => muldiv::exec(cpu, i),
        Daa | Das | Aaa | Aas | Aam | Aad => bcd::exec(cpu, i),
        Rol | Ror | Rcl | Rcr | Shl | Shr | Sal | Sar | Shld | Shrd => shift::exec(cpu, i),
        Bt | Bts | Btr | Btc | Bsf | Bsr => bits::exec(cpu, i),
        Mov | Movzx | Movsx | Xchg | Xadd | Cmpxchg | Cmpxchg8b | Bswap | Lea | Xlat | Cbw | Cwd | Lahf | Sahf
        | Cmovcc | Setcc | Lds | Les | Lfs | Lgs | Lss | Salc => data::exec(cpu, i),
        Push | Pop | Pusha | Popa | Pushf | Popf | Enter | Leave => stack::exec(cpu, i),
        Jmp | JmpFar | Jcc | Call | CallFar | Ret | RetFar | Loop | Loope | Loopne | Jcxz | Int | Int3 | Into
        | Iret | Bound => control::exec(cpu, i),
        Movs | Cmps | Stos | Lods | Scas | Ins | Outs => string::exec(cpu, i),
        In | Out => io::exec(cpu, i),
        Fpu | Fxsave | Fxrstor => crate::fpu::exec(cpu, i),
        _ => system::exec(cpu, i),
    }
}

impl Cpu {
    // ---- registers --------------------------------------------------------------------------

    /// General register `n` at `size` (bytes: 0-3 = AL..BL, 4-7 = AH..BH).
    #[inline]
    pub fn reg(&self, n: u8, size: Size) -> u32 {
        match size {
            Size::B if n < 4 => self.s.regs[n as usize] & 0xff,
            Size::B => (self.s.regs[n as usize - 4] >> 8) & 0xff,
            Size::W => self.s.regs[n as usize] & 0xffff,
            Size::D => self.s.regs[n as usize],
        }
    }

    /// Writes general register `n` at `size`, leaving the other bits alone.
    #[inline]
    pub fn set_reg(&mut self, n: u8, size: Size, v: u32) {
        let r = match size {
            Size::B if n >= 4 => {
                let r = &mut self.s.regs[n as usize - 4];
                *r = (*r & !0xff00) | ((v & 0xff) << 8);
                return;
            }
            _ => &mut self.s.regs[n as usize],
        };
        *r = (*r & !size.mask()) | (v & size.mask());
    }

    // ---- operands ---------------------------------------------------------------------------

    /// The offset of the instruction's memory operand (wrapped to the address size).
    #[inline]
    pub fn ea(&self, i: &Insn) -> u32 {
        let m = &i.mem;
        let mut a = m.disp;
        if m.base != NO_REG {
            a = a.wrapping_add(self.s.regs[m.base as usize]);
        }
        if m.index != NO_REG {
            a = a.wrapping_add(self.s.regs[m.index as usize] << m.scale);
        }
        a & i.asize.mask()
    }

    /// Reads operand `n`.
    #[inline]
    pub fn get(&mut self, i: &Insn, n: usize) -> Res<u32> {
        match i.args[n] {
            Arg::Reg(r, size) => Ok(self.reg(r, size)),
            Arg::Imm(v) => Ok(v),
            Arg::Mem(size) => self.read(i.seg, self.ea(i), size),
            Arg::Seg(s) => Ok(self.s.segs[s as usize].selector as u32),
            other => unreachable!("operand {other:?} of {:?} is not a value", i.mnemonic),
        }
    }

    /// Writes operand `n`.
    #[inline]
    pub fn set(&mut self, i: &Insn, n: usize, v: u32) -> Res<()> {
        match i.args[n] {
            Arg::Reg(r, size) => {
                self.set_reg(r, size, v);
                Ok(())
            }
            Arg::Mem(size) => self.write(i.seg, self.ea(i), size, v),
            other => unreachable!("operand {other:?} of {:?} is not writable", i.mnemonic),
        }
    }

    /// The size of operand `n`.
    #[inline]
    pub fn size_of(i: &Insn, n: usize) -> Size {
        match i.args[n] {
            Arg::Reg(_, s) | Arg::Mem(s) | Arg::StrSrc(s) | Arg::StrDst(s) => s,
            _ => i.osize,
        }
    }

    // ---- the stack --------------------------------------------------------------------------

    /// The stack pointer at the stack's address size (SP or ESP).
    #[inline]
    pub fn sp(&self) -> u32 {
        if self.s.stack32() {
            self.s.regs[4]
        } else {
            self.s.regs[4] & 0xffff
        }
    }

    /// Sets SP or ESP, by the stack segment's B bit.
    #[inline]
    pub fn set_sp(&mut self, v: u32) {
        self.set_reg(4, if self.s.stack32() { Size::D } else { Size::W }, v);
    }

    /// SP/ESP moved by `delta`, wrapped to the stack's address size.
    #[inline]
    pub fn sp_plus(&self, delta: u32) -> u32 {
        let m = if self.s.stack32() { u32::MAX } else { 0xffff };
        self.sp().wrapping_add(delta) & m
    }

    /// Pushes a value of `size`. ESP changes only if the write succeeds.
    pub fn push(&mut self, size: Size, v: u32) -> Res<()> {
        let sp = self.sp_plus(size.bytes().wrapping_neg());
        self.write(SegReg::Ss, sp, size, v)?;
        self.set_sp(sp);
        Ok(())
    }

    /// Pops a value of `size`.
    pub fn pop(&mut self, size: Size) -> Res<u32> {
        let v = self.read(SegReg::Ss, self.sp(), size)?;
        self.set_sp(self.sp_plus(size.bytes()));
        Ok(v)
    }

    // ---- instruction loop -------------------------------------------------------------------

    /// Fetches and decodes the instruction at CS:EIP.
    pub fn fetch_decode(&mut self) -> Res<Insn> {
        let mut i = Insn::NOP;
        self.fetch_decode_into(&mut i)?;
        Ok(i)
    }

    /// Fetches and decodes the instruction at CS:EIP into `out` (unchanged on a fault).
    ///
    /// The bytes inside [`Cpu::fetch_window`] (normally the whole instruction) are read straight
    /// from host memory; the rest go through the segment check and [`Cpu::fetch_lin`] one at a
    /// time, which raises the fault at the exact byte. Both read the bytes as they are now.
    /// An instruction whose whole window (15 bytes) is host memory is looked up first in the
    /// decode cache ([`crate::decode::cache`]), which compares the bytes there now with those
    /// it was decoded from, and recorded there once decoded.
    ///
    /// Writing into the caller's `Insn` rather than returning one keeps the interpreter from
    /// copying it: a wide copy right after the decoder's narrow field stores stalls on store
    /// forwarding (in perf, the copy's loads were the hottest instructions of `run`).
    ///
    /// The window and the cache lookup are inlined into the caller (the interpreter's loop);
    /// decoding is [`Cpu::decode_into`], out of line, so that the lookup does not pay for the
    /// decoder's registers and stack frame. After a cache hit, or a decode from a whole window,
    /// the next instruction's cache entry is prefetched. (Together: the integer mix under the interpreter 0.47 → 0.44 s; on the Linux
    /// boot the interpreter loop with fetch and decode 28 → 22 ns per interpreted instruction.)
    #[inline(always)]
    pub fn fetch_decode_into(&mut self, out: &mut Insn) -> Res<()> {
        let eip = self.s.eip;
        let code32 = self.s.code32();
        let (host, avail) = self.fetch_window(eip, code32);
        // SAFETY: the window `fetch_window` just returned; nothing has changed since.
        unsafe { self.cached_or_decoded(out, eip, code32, host, avail) }
    }

    /// The instruction at CS:`eip` from the decode cache when its window is whole, else decoded
    /// ([`Cpu::decode_into`]); after a hit the next instruction's entry is prefetched.
    ///
    /// # Safety
    /// As [`Cpu::decode_into`].
    #[inline(always)]
    unsafe fn cached_or_decoded(
        &mut self,
        out: &mut Insn,
        eip: u32,
        code32: bool,
        host: *const u8,
        avail: usize,
    ) -> Res<()> {
        // The decode cache needs a whole window, so that it can compare all the bytes it holds.
        if avail == decode::MAX_LEN {
            // SAFETY: `fetch_window` vouched for `avail` bytes of host memory at `host`.
            if let Some(i) = unsafe { self.decode_cache.get(host, code32) } {
                self.decode_cache.prefetch(host.wrapping_add(i.len as usize));
                *out = *i;
                return Ok(());
            }
        }
        // SAFETY: the caller's.
        unsafe { self.decode_into(out, eip, code32, host, avail) }
    }

    /// The instruction at CS:`eip` as [`Cpu::fetch_decode_into`] gets it, when its whole window
    /// (15 bytes, inside CS's limit and the page) is host memory: from the decode cache, or
    /// decoded from the window and recorded there, so the interpreter then finds it cached.
    /// `None` otherwise, with nothing fetched (the caller fetches the general way). For the
    /// JIT's block scan, which decodes every block the interpreter runs next while warming up.
    pub fn decode_in_window(&mut self, eip: u32, code32: bool) -> Option<Insn> {
        let (host, avail) = self.fetch_window(eip, code32);
        if avail != decode::MAX_LEN {
            return None;
        }
        let mut out = Insn::NOP;
        // SAFETY: the window `fetch_window` just returned; the decoder reads at most its 15
        // bytes, so nothing is fetched outside it.
        unsafe { self.cached_or_decoded(&mut out, eip, code32, host, avail) }.ok().map(|()| out)
    }

    /// [`Cpu::fetch_decode_into`] when the decode cache cannot answer: decodes the instruction
    /// at CS:`eip` and records it in the cache if its window is whole.
    ///
    /// # Safety
    /// (`host`, `avail`) is what [`Cpu::fetch_window`] returned for `eip` and `code32`, with
    /// nothing changed since: `avail` bytes of host memory at `host`.
    #[inline(never)]
    unsafe fn decode_into(&mut self, out: &mut Insn, eip: u32, code32: bool, host: *const u8, avail: usize) -> Res<()> {
        let cacheable = avail == decode::MAX_LEN;
        // Inlined at each of the decoder's byte reads: the window test and the load.
        let r = decode::decode(
            code32,
            #[inline(always)]
            |n| {
                if n < avail {
                    // SAFETY: `fetch_window` vouches for `avail` bytes of host memory at `host`, and
                    // the decoder changes nothing that could unmap them.
                    return Ok(unsafe { *host.add(n) });
                }
                self.fetch_insn_byte(eip, code32, n)
            },
        );
        match r {
            Ok(i) => {
                if cacheable {
                    // SAFETY: as above; all of `i`'s bytes came from the window, unchanged since.
                    unsafe { self.decode_cache.insert(host, &i) };
                    self.decode_cache.prefetch(host.wrapping_add(i.len as usize));
                }
                *out = i;
                Ok(())
            }
            Err(DecodeError::TooLong) => Err(Fault::gp(0)),
            Err(DecodeError::Fetch(f)) => Err(f),
        }
    }

    /// Byte `n` of the instruction at CS:`eip`, fetched the general way: CS checks (#GP at the
    /// limit), then [`Cpu::fetch_lin`] (TLB, page walk, #PF, MMIO).
    #[cold]
    #[inline(never)]
    fn fetch_insn_byte(&mut self, eip: u32, code32: bool, n: usize) -> Res<u8> {
        let off = eip.wrapping_add(n as u32);
        let off = if code32 { off } else { off & 0xffff };
        let lin = self.linear(SegReg::Cs, off, 1, Access::Exec)?;
        self.fetch_lin(lin)
    }

    /// Executes one instruction at CS:EIP and delivers any exception it raises.
    /// Debug exceptions (breakpoints, single-step, RF) are handled around the instruction by
    /// [`Cpu::step_debug`], entered only when something of them is armed (see [`crate::debug`]).
    #[inline]
    pub fn step(&mut self) {
        if self.debug_step_needed() {
            return self.step_debug();
        }
        self.step_insn();
    }

    /// Executes one instruction at CS:EIP and delivers any fault it raises (with RF set in the
    /// EFLAGS image, as for every fault-class exception). Returns the instruction if it
    /// completed.
    #[inline(always)]
    pub(crate) fn step_insn(&mut self) -> Option<Insn> {
        let start = self.s.eip;
        let shadow = std::mem::take(&mut self.s.irq_shadow);
        let mut i = Insn::NOP;
        let result = self.fetch_decode_into(&mut i).and_then(|()| self.exec_at(&i, start));
        // An interrupt shadow set by this instruction (STI, MOV SS) covers the next one; the one
        // taken above covered this one and is gone.
        let _ = shadow;
        self.retire(start, result).then_some(i)
    }

    /// Executes decoded instruction `i`, which starts at EIP `start`, as `Cpu::step` does: EIP
    /// is the next instruction (within the offset space of the code size) while it executes.
    #[inline(always)]
    pub fn exec_at(&mut self, i: &Insn, start: u32) -> Res {
        let next = start.wrapping_add(i.len as u32);
        self.s.eip = if self.s.code32() { next } else { next & 0xffff };
        exec(self, i)
    }

    /// After the instruction at EIP `start` ran with `result`: counts it (a faulting one too) and
    /// delivers its fault as `Cpu::step` does (EIP back on it, no interrupt shadow, RF set in the
    /// EFLAGS image). Returns whether it completed.
    #[inline(always)]
    pub(crate) fn retire(&mut self, start: u32, result: Res) -> bool {
        self.s.icount += 1;
        match result {
            Ok(()) => true,
            Err(f) => {
                self.s.eip = start;
                self.s.irq_shadow = false;
                self.s.flags |= eflags::RF;
                self.raise(f);
                false
            }
        }
    }

    /// Runs until `budget` instructions have retired, the CPU halts, or the board needs attention.
    pub fn run(&mut self, budget: u64) -> Stop {
        let end = self.s.icount.saturating_add(budget);
        while self.s.icount < end {
            if self.shutdown {
                return Stop::Shutdown;
            }
            if self.sys.lines.take_attention() {
                self.sync_a20();
                // A reset request is the machine's to take (it may end the run, --no-reboot).
                if self.sys.lines.exit().is_some()
                    || self.sys.lines.firmware_call_pending()
                    || self.sys.lines.reset_pending()
                {
                    return Stop::Attention;
                }
                if self.deliver_nmi() {
                    continue;
                }
            }
            if self.s.icount >= self.sys_deadline_icount {
                self.sync_clock();
            }
            if !self.s.irq_shadow && self.s.flags & eflags::IF != 0 && self.sys.intr() {
                if let Some(v) = self.sys.acknowledge_interrupt() {
                    self.s.halted = false;
                    self.interrupt(v, Delivery::External);
                    continue;
                }
            }
            if self.s.halted {
                return Stop::Halted;
            }
            self.step();
        }
        if self.shutdown {
            Stop::Shutdown
        } else {
            Stop::Budget
        }
    }

    /// A sync point: brings the virtual clock up to date, runs due device timers, and sets the
    /// next sync point, [`emu_core::Clock::sync_interval`] instructions on (see
    /// [`emu_core::clock`]).
    pub fn sync_clock(&mut self) {
        self.sync_clock_at(self.s.icount);
    }

    /// [`Cpu::sync_clock`] as of `icount` retired instructions: the JIT's dispatcher syncs as of
    /// a sync point a block ran past, so guest time and the next sync point are those of
    /// `Cpu::run` (in deterministic mode; in real-time mode the host's time is now's).
    pub fn sync_clock_at(&mut self, icount: u64) {
        self.sys.clock.sync(icount);
        self.sys.run_timers();
        self.sys_deadline_icount = icount + self.sys.clock.sync_interval(self.sys.next_deadline());
    }

    /// Before the current instruction reaches a device (port I/O, or a physical access that is
    /// not to host memory, MMIO most likely): in real-time mode, a sync point, unless an earlier
    /// device access of this same instruction made one, so the device reads the host's time now
    /// rather than the last sync's, and timers due by now have run, as an
    /// instruction-by-instruction clock would have it. Nothing in deterministic mode, whose sync
    /// points depend on the instruction count alone (see [`emu_core::clock`]).
    ///
    /// (In a JIT block, `icount` is exact at the instructions the interpreter runs, port I/O
    /// among them; at a memory access through the slow path it may be an earlier instruction's
    /// of the block, so the JIT's slow path drops the mark first, `Clock::forget_fresh`, and
    /// every such access syncs.)
    #[inline]
    pub fn sync_clock_for_device(&mut self) {
        if self.sys.clock.stale(self.s.icount) {
            self.sync_clock();
            self.sys.clock.mark_fresh(self.s.icount);
        }
    }

    /// After an access to a device in real-time mode: the device may have set itself a nearer
    /// deadline (a timer programmed), so the next sync point comes no later than
    /// [`emu_core::Clock::sync_interval`] says for it now. Nothing in deterministic mode.
    #[inline]
    fn after_device_access(&mut self) {
        if self.sys.clock.mode() == ClockMode::RealTime {
            let next = self.s.icount + self.sys.clock.sync_interval(self.sys.next_deadline());
            self.sys_deadline_icount = self.sys_deadline_icount.min(next);
        }
    }

    /// Runs `access` (one access of the current instruction to a device) between
    /// [`Cpu::sync_clock_for_device`] and [`Cpu::after_device_access`].
    #[inline]
    fn device_access<R>(&mut self, access: impl FnOnce(&mut System) -> R) -> R {
        self.sync_clock_for_device();
        let r = access(&mut self.sys);
        self.after_device_access();
        r
    }

    /// Reads I/O port `port` for the current instruction ([`Cpu::device_access`]).
    #[inline]
    pub(crate) fn port_read(&mut self, port: u16, size: Size) -> u32 {
        self.device_access(|sys| sys.io_read(port, size.bytes() as u8))
    }

    /// Writes I/O port `port` for the current instruction ([`Cpu::device_access`]).
    #[inline]
    pub(crate) fn port_write(&mut self, port: u16, size: Size, value: u32) {
        self.device_access(|sys| sys.io_write(port, size.bytes() as u8, value))
    }

    /// [`emu_core::System::read_phys`] for a data access or fetch that did not resolve to host
    /// memory ([`Cpu::device_access`]).
    #[inline]
    pub(crate) fn read_phys_device(&mut self, pa: u64, size: u8) -> u32 {
        self.device_access(|sys| sys.read_phys(pa, size))
    }

    /// [`emu_core::System::write_phys`] for a store that did not resolve to host memory
    /// ([`Cpu::device_access`]).
    #[inline]
    pub(crate) fn write_phys_device(&mut self, pa: u64, size: u8, value: u32) {
        self.device_access(|sys| sys.write_phys(pa, size, value))
    }

    // ---- exceptions and interrupts ----------------------------------------------------------

    /// Delivers exception `f` raised by the instruction at CS:EIP, escalating to #DF and to a
    /// triple fault (shutdown) as the SDM's Table 6-5 says.
    pub fn raise(&mut self, f: Fault) {
        let mut current = f;
        loop {
            if current.vector == vector::PF {
                self.s.cr2 = current.address;
            }
            match self.interrupt_inner(current.vector, current.error, Delivery::Exception) {
                Ok(()) => return,
                Err(second) => {
                    // The fault being delivered is the "first" one of Table 6-5: a benign one
                    // whose delivery faults hands over to the second, which then counts.
                    let class = current.class();
                    if current.vector == vector::DF {
                        self.shutdown = true;
                        return;
                    }
                    let df = matches!(
                        (class, second.class()),
                        (Class::Contributory, Class::Contributory)
                            | (Class::PageFault, Class::Contributory | Class::PageFault)
                    );
                    current = if df { Fault::with_error(vector::DF, 0) } else { second };
                }
            }
        }
    }

    /// Delivers interrupt `v` (external, software, or an exception without escalation).
    pub fn interrupt(&mut self, v: u8, how: Delivery) {
        if let Err(f) = self.interrupt_inner(v, None, how) {
            self.raise(f);
        }
    }

    pub(crate) fn interrupt_inner(&mut self, v: u8, error: Option<u32>, how: Delivery) -> Res {
        if self.s.protected() {
            return system::protected_mode_interrupt(self, v, error, how);
        }
        // Real mode: the IVT entry at IDTR.base + 4v; push FLAGS, CS, IP.
        if (v as u32) * 4 + 3 > self.s.idtr.limit {
            return Err(Fault::gp(0));
        }
        let entry = self.read_lin_sys(self.s.idtr.base.wrapping_add(v as u32 * 4), Size::D)?;
        let flags = self.s.eflags();
        let cs = self.s.segs[SegReg::Cs as usize].selector as u32;
        self.push(Size::W, flags)?;
        self.push(Size::W, cs)?;
        self.push(Size::W, self.s.eip)?;
        self.s.flags &= !(eflags::IF | eflags::TF | eflags::AC | eflags::RF);
        self.load_seg_real(SegReg::Cs, (entry >> 16) as u16);
        self.s.eip = entry & 0xffff;
        Ok(())
    }

    /// Loads a segment register the real-mode way: selector and base only (the rest of the
    /// hidden cache stays, which is what makes "unreal mode" work).
    pub fn load_seg_real(&mut self, seg: SegReg, sel: u16) {
        let s = &mut self.s.segs[seg as usize];
        s.selector = sel;
        s.base = (sel as u32) << 4;
    }
}

/// Instructions between two sync points in deterministic mode, and the fewest in real-time mode
/// ([`emu_core::clock::SYNC_INTERVAL`]; [`Cpu::sync_clock`] asks the clock for each interval).
pub const CLOCK_SYNC_INTERVAL: u64 = emu_core::clock::SYNC_INTERVAL;

/// How an interrupt arrives, which decides what is checked and what EIP is pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A fault or trap raised by the CPU.
    Exception,
    /// INT n, INT3, INTO (DPL checked in protected mode; EIP after the instruction).
    Software,
    /// A hardware interrupt through INTR.
    External,
}

#[cfg(test)]
mod clock_tests;
#[cfg(test)]
mod decoded_tests;
#[cfg(test)]
mod fast_tests;
#[cfg(test)]
mod fetch_tests;
