//! The 8254 Programmable Interval Timer (Intel 82C54 datasheet) of a PC, and the system control
//! port B at 0x61 that holds counter 2's gate and shows its output.
//!
//! **Ports:** region 0 is 0x40-0x43: counters 0, 1, 2 and the control word register (write only;
//! reads give 0xFF). Region 1 is port 0x61 ([`crate::port61`]). The input clock of all three
//! counters is 1.193182 MHz ([`PIT_HZ`]), on the virtual clock: the clock count at guest time
//! `t` ns is `floor(t × 1193182 / 10⁹)` computed exactly, so nothing drifts however long a guest
//! runs. Counting is not simulated clock by clock: each counter keeps the tick at which its
//! counting element (CE) was loaded, and CE and OUT are closed-form functions of the tick.
//!
//! **Wiring as on a PC:** counter 0's OUT drives IRQ0 (its level is put on [`Lines`], and
//! [`Device::deadline`] is the next OUT transition, so the machine advances the timer exactly
//! then; a rising edge the machine came too late to see as levels, such as a whole one-clock
//! mode 2 pulse, is replayed on the line as a low-high change, so [`Lines`] records it for the
//! interrupt controllers). Counter 1 (DRAM refresh on a PC) has
//! no output wired. Counter 2's GATE is port 0x61 bit 0 and its OUT is bit 5 and, gated by bit 1,
//! the speaker's input. Gates of counters 0 and 1 are tied high.
//!
//! **Emulated:** all six modes (0 interrupt on terminal count, 1 hardware retriggerable one-shot,
//! 2 rate generator, 3 square wave with the datasheet's odd-count rule, 4 software triggered
//! strobe, 5 hardware triggered strobe) with the gate rules of each (suspend, force OUT high,
//! trigger/reload on a rising edge), binary and BCD counting (a count of 0 is 65536 or 10000),
//! new counts taking effect as each mode says (at once, at the end of the period or half-cycle,
//! or at the next trigger), the RW modes (LSB, MSB, LSB then MSB with separate read and write
//! flip-flops, so reads and writes may interleave), the counter latch command, the read-back
//! command (count and/or status of several counters; repeated latches before a read are
//! ignored), the status byte (OUT, null count, RW, mode, BCD), and in mode 0 the stop of counting
//! when the first byte of a two-byte count is written.
//!
//! **Not emulated:** the power-on state is defined here (every counter in mode 0 with OUT high,
//! no count) where the chip's is undefined. Illegal counts (1 in modes 2 and 3) behave as the
//! formulas give (mode 2: OUT stays low; mode 3: OUT stays high) rather than as any particular
//! chip. Gate and count changes take effect at the next input clock, with no setup/hold window.
//! The speaker makes no sound.

use std::any::Any;

use emu_core::{ClockHandle, Device, Lines};

use crate::port61::Port61;

/// The 8254's first port (counter 0).
pub const PIT_BASE: u16 = 0x40;
/// Ports the 8254 decodes.
pub const PIT_PORTS: u16 = 4;
/// The counters' input clock on a PC, Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// The IRQ line counter 0's OUT drives.
pub const PIT_IRQ: u8 = 0;
/// Region number of ports 0x40-0x43.
pub const REGION_PIT: u8 = 0;
/// Region number of port 0x61.
pub const REGION_PORT61: u8 = 1;
/// Offset of the control word register within region 0.
pub const PIT_CONTROL: u64 = 3;

// Control word fields.
/// BCD counting.
pub const CW_BCD: u8 = 0x01;
/// Mode, M2-M0.
pub const CW_MODE: u8 = 0x0e;
/// Read/write mode, RW1-RW0 (00 = counter latch command).
pub const CW_RW: u8 = 0x30;
/// Select counter, SC1-SC0 (11 = read-back command).
pub const CW_SC: u8 = 0xc0;

// Read-back command bits.
/// 0 = latch the count of the selected counters.
pub const RB_COUNT: u8 = 0x20;
/// 0 = latch the status of the selected counters.
pub const RB_STATUS: u8 = 0x10;
/// Selects counter 0 (counter 1 is the next bit, counter 2 the one after).
pub const RB_CNT0: u8 = 0x02;

// Status byte bits (D5-D0 are the control word's).
/// The OUT pin.
pub const STATUS_OUT: u8 = 0x80;
/// Null count: the last count written has not reached the counting element yet.
pub const STATUS_NULL: u8 = 0x40;

/// The 8254 clock count at guest time `ns`.
pub fn ns_to_ticks(ns: u64) -> u64 {
    (ns as u128 * PIT_HZ as u128 / 1_000_000_000) as u64
}

/// The first guest time (ns) at which the clock count reaches `ticks`.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    let ns = (ticks as u128 * 1_000_000_000).div_ceil(PIT_HZ as u128);
    ns.min(u64::MAX as u128) as u64
}

fn from_bcd(v: u16) -> u32 {
    (0..4).rev().fold(0, |acc, i| acc * 10 + ((v >> (4 * i)) & 0xf) as u32) % 10_000
}

fn to_bcd(v: u32) -> u16 {
    (0..4).fold(0, |acc, i| acc | ((((v / 10u32.pow(i)) % 10) as u16) << (4 * i)))
}

/// What a counter's counting element is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not counting (no count since the control word, or mode 1/5 before its first trigger):
    /// CE holds `ce`, OUT is `out`.
    Idle { ce: u32, out: bool },
    /// CE loaded with `n` at clock `l` (which may still be ahead: until then CE and OUT are
    /// `before`); at clock `t >= l`, `t - l + off` clocks have been counted.
    Run { l: u64, n: u32, off: u64, before: (u32, bool) },
    /// Counting suspended by a low GATE after `e` clocks of count `n`.
    Held { e: u64, n: u32 },
}

/// One of the 8254's three counters.
#[derive(Debug, Clone)]
struct Counter {
    /// Bits 5-0 of the last control word: RW, mode, BCD.
    cw: u8,
    /// The count register, as written (binary or BCD).
    cr: u16,
    /// A count has been written since the control word.
    has_count: bool,
    /// Write flip-flop: the next byte written is the MSB.
    write_msb: bool,
    /// Read flip-flop: the next byte read is the MSB.
    read_msb: bool,
    /// The output latch, holding a latched count until it has been read.
    ol: Option<u16>,
    /// A latched status byte, read before anything else.
    status: Option<u8>,
    null_count: bool,
    /// The clock at which the written count reaches CE (clears null count), when known.
    null_clear_at: Option<u64>,
    gate: bool,
    phase: Phase,
    /// Modes 2 and 3: a new count `n` written at clock `w`, for the next period (half-cycle).
    pending: Option<(u32, u64)>,
}

impl Counter {
    fn new(gate: bool) -> Self {
        Counter {
            cw: 0x30,
            cr: 0,
            has_count: false,
            write_msb: false,
            read_msb: false,
            ol: None,
            status: None,
            null_count: false,
            null_clear_at: None,
            gate,
            phase: Phase::Idle { ce: 0, out: true },
            pending: None,
        }
    }

    fn mode(&self) -> u8 {
        match (self.cw & CW_MODE) >> 1 {
            m @ 6..=7 => m - 4,
            m => m,
        }
    }

    fn rw(&self) -> u8 {
        (self.cw & CW_RW) >> 4
    }

    fn bcd(&self) -> bool {
        self.cw & CW_BCD != 0
    }

    fn modulus(&self) -> u64 {
        if self.bcd() {
            10_000
        } else {
            65_536
        }
    }

    /// The count register as a number of clocks (0 is the largest count).
    fn cr_count(&self) -> u32 {
        let v = if self.bcd() { from_bcd(self.cr) } else { self.cr as u32 };
        if v == 0 {
            self.modulus() as u32
        } else {
            v
        }
    }

    /// Mode 3: clocks with OUT high and low per period of `n`.
    fn halves(n: u64) -> (u64, u64) {
        (n.div_ceil(2), n / 2)
    }

    /// CE after `e` clocks of counting from a load of `n`.
    fn ce_at(&self, n: u32, e: u64) -> u32 {
        let (n, m) = (n as u64, self.modulus());
        let v = match self.mode() {
            2 => n - e % n,
            3 => {
                let (hi, _) = Self::halves(n);
                let p = e % n;
                let start = if n % 2 == 0 { n } else { n - 1 };
                if p < hi {
                    start - 2 * p
                } else {
                    start - 2 * (p - hi)
                }
            }
            _ => (n + m - e % m) % m,
        };
        (v % m) as u32
    }

    /// OUT after `e` clocks of counting from a load of `n`.
    fn out_at(&self, n: u32, e: u64) -> bool {
        let n = n as u64;
        match self.mode() {
            0 | 1 => e >= n,
            2 => e % n != n - 1,
            3 => e % n < Self::halves(n).0,
            _ => e != n,
        }
    }

    /// The first count of clocks after `e` at which OUT changes.
    fn next_change(&self, n: u32, e: u64) -> Option<u64> {
        let n = n as u64;
        match self.mode() {
            0 | 1 => (e < n).then_some(n),
            2 if n < 2 => None,
            2 => {
                let p = e % n;
                Some(e - p + if p < n - 1 { n - 1 } else { n })
            }
            3 => {
                let (hi, lo) = Self::halves(n);
                let p = e % n;
                (lo > 0).then(|| e - p + if p < hi { hi } else { n })
            }
            _ if e < n => Some(n),
            _ => (e == n).then_some(n + 1),
        }
    }

    /// Where a pending count of modes 2 and 3 takes over: the clock, and whether the new count
    /// starts in the low half (mode 3, at the end of a high half-cycle).
    fn pending_boundary(&self) -> Option<(u64, bool)> {
        let (Some((_, w)), Phase::Run { l, n, off, .. }) = (self.pending, self.phase) else {
            return None;
        };
        let (n, e) = (n as u64, w.saturating_sub(l) + off);
        let (rel, low) = if self.mode() == 2 {
            ((e / n + 1) * n, false)
        } else {
            let (hi, _) = Self::halves(n);
            let p = e % n;
            if p < hi {
                (e - p + hi, true)
            } else {
                (e - p + n, false)
            }
        };
        Some((l + (rel - off), low))
    }

    /// Brings the counter's bookkeeping up to clock `t`: pending counts that have been loaded
    /// by then take over, and null count clears once the count is in CE.
    fn sync(&mut self, t: u64) {
        if let Some((b, low)) = self.pending_boundary().filter(|&(b, _)| b <= t) {
            let (n, _) = self.pending.take().expect("boundary implies a pending count");
            let off = if low { Self::halves(n as u64).0 } else { 0 };
            self.phase = Phase::Run { l: b, n, off, before: (0, true) };
            self.null_count = false;
        }
        if self.null_clear_at.is_some_and(|at| at <= t) {
            self.null_clear_at = None;
            self.null_count = false;
        }
    }

    /// CE (as a number of clocks, modulo the counter's range) and OUT at clock `t` (synced).
    fn eval(&self, t: u64) -> (u32, bool) {
        match self.phase {
            Phase::Idle { ce, out } => (ce, out),
            Phase::Held { e, n } => (self.ce_at(n, e), matches!(self.mode(), 2 | 3) || self.out_at(n, e)),
            Phase::Run { l, before, .. } if t < l => before,
            Phase::Run { l, n, off, .. } => {
                let e = t - l + off;
                (self.ce_at(n, e), self.out_at(n, e))
            }
        }
    }

    /// The first clock after `t` (synced) at which OUT changes or a pending count takes over.
    fn next_event(&self, t: u64) -> Option<u64> {
        let change = match self.phase {
            Phase::Run { l, n, off, before } if t < l => {
                if self.out_at(n, off) != before.1 {
                    Some(l)
                } else {
                    self.next_change(n, off).map(|e| l + (e - off))
                }
            }
            Phase::Run { l, n, off, .. } => self.next_change(n, t - l + off).map(|e| l + (e - off)),
            _ => None,
        };
        let pending = self.pending_boundary().map(|(b, _)| b);
        match (change, pending) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Starts counting `n` from the next clock after `c`, with the count register's value.
    fn start(&mut self, c: u64, n: u32, before: (u32, bool)) {
        self.phase = Phase::Run { l: c + 1, n, off: 0, before };
        if self.null_count {
            self.null_clear_at = Some(c + 1);
        }
    }

    /// The count as read: CE in binary or BCD.
    fn read_value(&self, t: u64) -> u16 {
        let ce = self.eval(t).0;
        if self.bcd() {
            to_bcd(ce)
        } else {
            ce as u16
        }
    }

    fn write_control(&mut self, cw: u8, c: u64) {
        self.sync(c);
        let (ce, _) = self.eval(c);
        self.cw = cw & (CW_RW | CW_MODE | CW_BCD);
        self.phase = Phase::Idle { ce, out: self.mode() != 0 };
        self.pending = None;
        self.has_count = false;
        self.null_count = true;
        self.null_clear_at = None;
        self.write_msb = false;
        self.read_msb = false;
        self.ol = None;
        self.status = None;
    }

    fn latch_count(&mut self, c: u64) {
        if self.ol.is_none() {
            self.sync(c);
            self.ol = Some(self.read_value(c));
        }
    }

    fn latch_status(&mut self, c: u64) {
        if self.status.is_none() {
            self.sync(c);
            let out = if self.eval(c).1 { STATUS_OUT } else { 0 };
            let null = if self.null_count { STATUS_NULL } else { 0 };
            self.status = Some(out | null | self.cw);
        }
    }

    fn read(&mut self, c: u64) -> u8 {
        if let Some(s) = self.status.take() {
            return s;
        }
        self.sync(c);
        let v = self.ol.unwrap_or_else(|| self.read_value(c));
        let (byte, done) = match self.rw() {
            1 => (v as u8, true),
            2 => ((v >> 8) as u8, true),
            _ if !self.read_msb => (v as u8, false),
            _ => ((v >> 8) as u8, true),
        };
        if self.rw() == 3 {
            self.read_msb = !done;
        }
        if done {
            self.ol = None;
        }
        byte
    }

    fn write(&mut self, v: u8, c: u64) {
        self.sync(c);
        match self.rw() {
            1 => self.cr = v as u16,
            2 => self.cr = (v as u16) << 8,
            _ if !self.write_msb => {
                self.cr = (self.cr & 0xff00) | v as u16;
                self.write_msb = true;
                if self.mode() == 0 {
                    // Mode 0: the first byte stops counting and sets OUT low at once.
                    let (ce, _) = self.eval(c);
                    self.phase = Phase::Idle { ce, out: false };
                }
                return;
            }
            _ => {
                self.cr = (self.cr & 0x00ff) | (v as u16) << 8;
                self.write_msb = false;
            }
        }
        self.count_written(c);
    }

    /// A complete count is in the count register at clock `c`: load it as the mode says.
    fn count_written(&mut self, c: u64) {
        self.null_count = true;
        self.null_clear_at = None;
        self.has_count = true;
        let n = self.cr_count();
        let (ce, out) = self.eval(c);
        match self.mode() {
            0 | 4 => {
                let before = (ce, if self.mode() == 0 { false } else { out });
                if self.gate {
                    self.start(c, n, before);
                } else {
                    self.phase = Phase::Held { e: 0, n };
                    self.null_count = false;
                }
            }
            1 | 5 => {} // loaded by the next trigger
            _ => match self.phase {
                Phase::Run { l, .. } if c >= l => self.pending = Some((n, c)),
                Phase::Held { .. } => {} // loaded when the gate rises
                _ if self.gate => self.start(c, n, (ce, true)),
                _ => self.phase = Phase::Held { e: 0, n },
            },
        }
    }

    fn set_gate(&mut self, high: bool, c: u64) {
        if high == self.gate {
            return;
        }
        self.sync(c);
        let (ce, out) = self.eval(c);
        self.gate = high;
        let counted = |l: u64, off: u64| if c >= l { c - l + off } else { 0 };
        match (self.mode(), high, self.phase) {
            // Modes 0, 2, 3, 4: a low gate suspends counting (2 and 3 also force OUT high).
            (0 | 2 | 3 | 4, false, Phase::Run { l, n, off, .. }) => {
                self.phase = Phase::Held { e: counted(l, off), n };
                self.pending = None;
            }
            // Modes 0 and 4 resume where they stopped.
            (0 | 4, true, Phase::Held { e, n }) => self.phase = Phase::Run { l: c, n, off: e, before: (ce, out) },
            // Modes 2 and 3 reload the count on the next clock; 1 and 5 are triggered.
            (2 | 3, true, _) | (1 | 5, true, _) if self.has_count => {
                let before = (ce, if matches!(self.mode(), 2 | 3) { true } else { out });
                self.start(c, self.cr_count(), before);
            }
            _ => {}
        }
    }
}

/// The 8254 PIT with port 0x61. See the module documentation.
pub struct Pit8254 {
    lines: Lines,
    clock: ClockHandle,
    counters: [Counter; 3],
    port61: Port61,
    /// Counter 0's OUT as last followed.
    out0: bool,
    /// The level last put on IRQ0.
    line: bool,
    /// The clock up to which counter 0's OUT has been followed.
    reported: u64,
}

impl Pit8254 {
    /// An 8254 driving IRQ0 on `lines`, counting on `clock`.
    pub fn new(lines: Lines, clock: ClockHandle) -> Self {
        let reported = ns_to_ticks(clock.now());
        let pit = Pit8254 {
            lines,
            clock,
            counters: [Counter::new(true), Counter::new(true), Counter::new(false)],
            port61: Port61::new(),
            out0: true,
            line: true,
            reported,
        };
        pit.lines.set_irq(PIT_IRQ, true);
        pit
    }

    fn now_tick(&self) -> u64 {
        ns_to_ticks(self.clock.now())
    }

    /// The OUT pin of counter `i` (0-2) now.
    pub fn out(&mut self, i: usize) -> bool {
        let c = self.now_tick();
        self.counters[i].sync(c);
        self.counters[i].eval(c).1
    }

    /// The speaker's input now: counter 2's OUT gated by port 0x61 bit 1 (no sound is made).
    pub fn speaker(&mut self) -> bool {
        let out2 = self.out(2);
        self.port61.speaker(out2)
    }

    /// Follows counter 0's OUT up to clock `c` and drives IRQ0 with it, every rising edge included.
    fn follow_out0(&mut self, c: u64) {
        let mut rose = false;
        // Transitions alternate, so two of them in a row include a rising edge: no need to walk
        // every period if the machine comes late.
        for _ in 0..4 {
            let ctr = &mut self.counters[0];
            match ctr.next_event(self.reported) {
                Some(t) if t <= c => {
                    ctr.sync(t);
                    let out = ctr.eval(t).1;
                    rose |= out && !self.out0;
                    self.out0 = out;
                    self.reported = t;
                }
                _ => break,
            }
        }
        let ctr = &mut self.counters[0];
        ctr.sync(c);
        let out = ctr.eval(c).1;
        rose |= out && !self.out0;
        self.reported = self.reported.max(c);
        if rose && !(out && !self.line) {
            // OUT rose since the last follow but the line's level alone would not show it (it was
            // high and is high again, or the pulse is over): replay the edge on the line.
            if self.line {
                self.lines.set_irq(PIT_IRQ, false);
            }
            self.lines.set_irq(PIT_IRQ, true);
            self.line = true;
        }
        if out != self.line {
            self.lines.set_irq(PIT_IRQ, out);
            self.line = out;
        }
        self.out0 = out;
    }

    fn read_byte(&mut self, region: u8, offset: u64, c: u64) -> u8 {
        match (region, offset) {
            (REGION_PORT61, _) => {
                self.counters[2].sync(c);
                let out2 = self.counters[2].eval(c).1;
                self.port61.read(out2, c)
            }
            (_, 0..=2) => self.counters[offset as usize].read(c),
            _ => 0xff,
        }
    }

    fn write_byte(&mut self, region: u8, offset: u64, v: u8, c: u64) {
        match (region, offset) {
            (REGION_PORT61, _) => {
                self.port61.write(v);
                self.counters[2].set_gate(self.port61.gate2(), c);
            }
            (_, 0..=2) => self.counters[offset as usize].write(v, c),
            _ => match v >> 6 {
                3 => {
                    for (i, ctr) in self.counters.iter_mut().enumerate() {
                        if v & (RB_CNT0 << i) != 0 {
                            if v & RB_COUNT == 0 {
                                ctr.latch_count(c);
                            }
                            if v & RB_STATUS == 0 {
                                ctr.latch_status(c);
                            }
                        }
                    }
                }
                sc => {
                    let ctr = &mut self.counters[sc as usize];
                    if v & CW_RW == 0 {
                        ctr.latch_count(c);
                    } else {
                        ctr.write_control(v, c);
                    }
                }
            },
        }
    }
}

impl Device for Pit8254 {
    fn name(&self) -> &'static str {
        "8254 PIT"
    }

    /// The counters and port 61h as at power-on (IRQ0 high, as [`Pit8254::new`] leaves it).
    fn reset(&mut self) {
        *self = Pit8254::new(self.lines.clone(), self.clock.clone());
    }

    fn read(&mut self, region: u8, offset: u64, size: u8) -> u32 {
        let c = self.now_tick();
        self.follow_out0(c);
        let ports = if region == REGION_PORT61 { 1 } else { PIT_PORTS as u64 };
        let mut v = 0;
        for i in 0..size as u64 {
            let byte = if offset + i < ports { self.read_byte(region, offset + i, c) } else { 0xff };
            v |= (byte as u32) << (8 * i);
        }
        v
    }

    fn write(&mut self, region: u8, offset: u64, size: u8, value: u32) {
        let c = self.now_tick();
        self.follow_out0(c);
        let ports = if region == REGION_PORT61 { 1 } else { PIT_PORTS as u64 };
        for i in 0..size as u64 {
            if offset + i < ports {
                self.write_byte(region, offset + i, (value >> (8 * i)) as u8, c);
            }
        }
        self.follow_out0(c);
    }

    fn deadline(&self) -> Option<u64> {
        self.counters[0].next_event(self.reported).map(ticks_to_ns)
    }

    fn advance(&mut self, now_ns: u64) {
        self.follow_out0(ns_to_ticks(now_ns));
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Bench {
        pit: Pit8254,
        lines: Lines,
        clock: ClockHandle,
        edges: emu_core::IrqEdges,
    }

    impl Bench {
        fn new() -> Self {
            let (lines, clock) = (Lines::new(), ClockHandle::manual());
            let pit = Pit8254::new(lines.clone(), clock.clone());
            Bench { pit, lines, clock, edges: Default::default() }
        }
        /// The lines that rose since the last call, as an interrupt controller would take them.
        fn take_edges(&mut self) -> u32 {
            self.lines.take_irq_edges(&mut self.edges)
        }
        fn wr(&mut self, port: u16, v: u8) {
            let (region, off) = if port == 0x61 { (REGION_PORT61, 0) } else { (REGION_PIT, (port - 0x40) as u64) };
            self.pit.write(region, off, 1, v as u32);
        }
        fn rd(&mut self, port: u16) -> u8 {
            let (region, off) = if port == 0x61 { (REGION_PORT61, 0) } else { (REGION_PIT, (port - 0x40) as u64) };
            self.pit.read(region, off, 1) as u8
        }
        /// Programs counter `i` with control word `cw` and a 16-bit count, LSB then MSB.
        fn program(&mut self, i: u16, cw: u8, count: u16) {
            self.wr(0x43, cw);
            self.wr(0x40 + i, count as u8);
            self.wr(0x40 + i, (count >> 8) as u8);
        }
        fn tick(&self) -> u64 {
            ns_to_ticks(self.clock.now())
        }
        fn to_tick(&mut self, t: u64) {
            self.clock.set(ticks_to_ns(t));
        }
        fn irq0(&self) -> bool {
            self.lines.irq_levels() & 1 != 0
        }
        /// Counter `i`'s count through the counter latch command.
        fn latched(&mut self, i: u16) -> u16 {
            self.wr(0x43, (i as u8) << 6);
            let lo = self.rd(0x40 + i) as u16;
            lo | (self.rd(0x40 + i) as u16) << 8
        }
        fn status(&mut self, i: u16) -> u8 {
            self.wr(0x43, 0xe0 | (RB_CNT0 << i));
            self.rd(0x40 + i)
        }
        /// Runs the machine's timer loop up to clock `end`, returning the clocks at which IRQ0
        /// rose, as the PIC would see them (each at exactly its deadline).
        fn run_to(&mut self, end: u64) -> Vec<u64> {
            let mut rises = Vec::new();
            let end_ns = ticks_to_ns(end);
            while let Some(d) = self.pit.deadline().filter(|&d| d <= end_ns) {
                let before = self.irq0();
                self.clock.set(d);
                self.pit.advance(d);
                if self.irq0() && !before {
                    rises.push(ns_to_ticks(d));
                }
            }
            self.clock.set(end_ns);
            rises
        }
    }

    #[test]
    fn tick_conversion_is_exact_and_does_not_drift() {
        assert_eq!(ns_to_ticks(1_000_000_000), PIT_HZ);
        assert_eq!(ns_to_ticks(3600 * 1_000_000_000), 3600 * PIT_HZ);
        for t in [0, 1, 2, 65_536, 1_193_181, 1_193_182, 10u64.pow(12)] {
            let ns = ticks_to_ns(t);
            assert_eq!(ns_to_ticks(ns), t);
            assert!(ns == 0 || ns_to_ticks(ns - 1) < t);
        }
    }

    #[test]
    fn mode2_rate_generator_periods() {
        for count in [2u16, 3, 100, 11_932, 0] {
            let mut b = Bench::new();
            b.program(0, 0x34, count);
            let n = if count == 0 { 65_536 } else { count as u64 };
            let rises = b.run_to(5 * n + 1);
            // Loaded on the clock after the write; OUT low at CE = 1, high again at the reload.
            let expect: Vec<u64> = (1..=5).map(|k| k * n + 1).collect();
            assert_eq!(rises, expect, "count {count}");
        }
    }

    #[test]
    fn mode2_one_clock_low_pulse_and_count_values() {
        let mut b = Bench::new();
        b.program(0, 0x34, 10);
        b.to_tick(1);
        assert_eq!(b.latched(0), 10);
        b.to_tick(9); // CE = 2
        assert!(b.pit.out(0));
        b.to_tick(10); // CE = 1: OUT low
        assert!(!b.pit.out(0));
        assert_eq!(b.latched(0), 1);
        b.to_tick(11); // reload
        assert!(b.pit.out(0));
        assert_eq!(b.latched(0), 10);
    }

    #[test]
    fn mode3_square_wave_even_odd_and_zero() {
        for (count, hi, lo) in [(6u16, 3u64, 3u64), (5, 3, 2), (0, 32_768, 32_768)] {
            let mut b = Bench::new();
            b.program(0, 0x36, count);
            let n = hi + lo;
            assert_eq!(b.run_to(3 * n + 1), vec![n + 1, 2 * n + 1, 3 * n + 1], "count {count}");
            // Check the duty cycle within one period.
            let start = 3 * n + 1;
            b.to_tick(start + hi - 1);
            assert!(b.pit.out(0));
            b.to_tick(start + hi);
            assert!(!b.pit.out(0), "count {count}");
        }
    }

    #[test]
    fn mode3_counts_down_by_two() {
        let mut b = Bench::new();
        b.program(2, 0xb6, 8);
        b.wr(0x61, 0x01); // gate on
        b.to_tick(b.tick() + 1); // loaded
        let values: Vec<u16> = (0..6)
            .map(|_| {
                let v = b.latched(2);
                b.to_tick(b.tick() + 1);
                v
            })
            .collect();
        assert_eq!(values, [8, 6, 4, 2, 8, 6]);
    }

    #[test]
    fn mode0_one_shot_interrupt_on_terminal_count() {
        let mut b = Bench::new();
        b.to_tick(100);
        b.wr(0x43, 0x30);
        assert!(!b.irq0()); // the control word sets OUT low
        b.wr(0x40, 0x00);
        b.wr(0x40, 0x01); // 256
        assert_eq!(b.run_to(100 + 267), vec![100 + 257]);
        assert!(b.irq0());
        assert_eq!(b.pit.deadline(), None); // stays high until reprogrammed
        assert_eq!(b.latched(0), 0xfff6); // CE wraps and keeps counting
                                          // A new count restarts it: OUT low at once.
        b.wr(0x40, 0x10);
        assert!(!b.irq0()); // the first byte stops counting
        b.wr(0x40, 0x00);
        let t = b.tick();
        assert_eq!(b.run_to(t + 100), vec![t + 17]);
    }

    #[test]
    fn mode0_gate_suspends_counting() {
        let mut b = Bench::new();
        b.program(2, 0xb0, 10); // gate low: loaded but not counting
        b.to_tick(50);
        assert_eq!(b.latched(2), 10);
        b.wr(0x61, 0x01);
        b.to_tick(55);
        assert_eq!(b.latched(2), 5);
        b.wr(0x61, 0x00);
        b.to_tick(80);
        assert_eq!(b.latched(2), 5);
        assert_eq!(b.rd(0x61) & 0x20, 0);
        b.wr(0x61, 0x01);
        b.to_tick(85);
        assert_eq!(b.rd(0x61) & 0x20, 0x20); // OUT2 high at terminal count
    }

    #[test]
    fn mode1_one_shot_retriggered_by_the_gate() {
        let mut b = Bench::new();
        b.program(2, 0xb2, 5);
        b.to_tick(20);
        assert!(b.pit.out(2)); // no trigger yet
        assert_eq!(b.status(2) & STATUS_NULL, STATUS_NULL);
        b.wr(0x61, 0x01); // trigger at 20: OUT low from clock 21 for 5 clocks
        b.to_tick(21);
        assert!(!b.pit.out(2));
        assert_eq!(b.status(2) & STATUS_NULL, 0);
        b.to_tick(24);
        b.wr(0x61, 0x00);
        b.wr(0x61, 0x01); // retrigger at 24: reload at 25, high at 30
        b.to_tick(29);
        assert!(!b.pit.out(2));
        b.to_tick(30);
        assert!(b.pit.out(2));
    }

    #[test]
    fn mode4_and_mode5_strobes() {
        let mut b = Bench::new();
        b.to_tick(10);
        b.program(0, 0x38, 4); // software triggered: loaded at 11, strobe at 15
        assert_eq!(b.run_to(40), vec![16]);
        b.to_tick(15 + 30);
        b.program(2, 0xba, 3); // hardware triggered
        b.to_tick(60);
        assert!(b.pit.out(2));
        b.wr(0x61, 0x01); // trigger at 60, load at 61, strobe at 64
        b.to_tick(63);
        assert!(b.pit.out(2));
        b.to_tick(64);
        assert!(!b.pit.out(2));
        b.to_tick(65);
        assert!(b.pit.out(2));
    }

    #[test]
    fn mode2_new_count_waits_for_the_period_end_and_gate_reloads() {
        let mut b = Bench::new();
        b.program(0, 0x34, 100); // edges at 101, 201, ...
        b.to_tick(150);
        b.wr(0x40, 50);
        b.wr(0x40, 0);
        assert_eq!(b.status(0) & STATUS_NULL, STATUS_NULL);
        assert_eq!(b.run_to(320), vec![201, 251, 301]);
        assert_eq!(b.status(0) & STATUS_NULL, 0);

        // Counter 2 in mode 2: a low gate forces OUT high; a rising gate reloads.
        b.program(2, 0xb4, 10);
        b.wr(0x61, 0x01); // load at 321
        b.to_tick(330); // CE = 1, OUT low
        assert!(!b.pit.out(2));
        b.wr(0x61, 0x00);
        assert!(b.pit.out(2));
        b.to_tick(400);
        b.wr(0x61, 0x01); // reload at 401
        b.to_tick(405);
        assert_eq!(b.latched(2), 6);
    }

    #[test]
    fn counter_latch_holds_a_snapshot_until_read() {
        let mut b = Bench::new();
        b.program(1, 0x74, 1000);
        b.to_tick(11); // CE = 990
        b.wr(0x43, 0x40);
        b.to_tick(111);
        b.wr(0x43, 0x40); // ignored: a latch is pending
        assert_eq!(b.rd(0x41), (990 & 0xff) as u8);
        b.to_tick(500);
        assert_eq!(b.rd(0x41), (990 >> 8) as u8);
        // Unlatched reads see the count run on.
        assert_eq!(b.latched(1), 1000 - 499);
    }

    #[test]
    fn read_back_status_and_count() {
        let mut b = Bench::new();
        b.wr(0x43, 0x36 | 0x80); // counter 2, LSB/MSB, mode 3, binary
        b.wr(0x43, 0xe8); // status of counter 2
        assert_eq!(b.rd(0x42), STATUS_OUT | STATUS_NULL | 0x36);
        b.wr(0x42, 0x34);
        b.wr(0x42, 0x12);
        b.wr(0x61, 0x01);
        b.to_tick(2);
        // Count and status of counters 0 and 2: status first, then the count.
        b.wr(0x43, 0xc0 | 0x08 | 0x02);
        b.to_tick(200);
        b.wr(0x43, 0xc8); // repeated latch before reading: ignored
        assert_eq!(b.rd(0x42), STATUS_OUT | 0x36);
        assert_eq!(b.rd(0x42), 0x32);
        assert_eq!(b.rd(0x42), 0x12);
        assert_eq!(b.rd(0x40), STATUS_OUT | 0x30); // counter 0's power-on state, no count
                                                   // The control register is write-only.
        assert_eq!(b.rd(0x43), 0xff);
    }

    #[test]
    fn bcd_counting() {
        let mut b = Bench::new();
        b.program(0, 0x35, 0x1000); // mode 2, BCD, 1000
        b.to_tick(2);
        assert_eq!(b.latched(0), 0x0999);
        b.to_tick(1 + 1000 - 1); // CE = 1
        assert_eq!(b.latched(0), 0x0001);
        b.to_tick(1 + 1000);
        assert_eq!(b.latched(0), 0x1000);
        // 0 is 10000 in BCD.
        let mut b = Bench::new();
        b.program(0, 0x35, 0);
        assert_eq!(b.run_to(30_005), vec![10_001, 20_001, 30_001]);
        assert_eq!(b.latched(0), 0x9999 - 3);
    }

    #[test]
    fn lsb_msb_modes_and_flip_flops() {
        let mut b = Bench::new();
        b.wr(0x43, 0x54); // counter 1, LSB only, mode 2
        b.wr(0x41, 50);
        b.to_tick(11);
        assert_eq!(b.rd(0x41), 40);
        assert_eq!(b.rd(0x41), 40); // LSB only: every read is the LSB
        b.wr(0x43, 0x64); // MSB only
        b.wr(0x41, 0x02); // 0x200
        b.to_tick(12 + 0x100);
        assert_eq!(b.rd(0x41), 0x01);
        // LSB then MSB: reads and writes each keep their own flip-flop.
        b.wr(0x43, 0x74);
        b.wr(0x41, 0x00);
        b.wr(0x41, 0x30); // 0x3000
        b.to_tick(b.tick() + 1 + 0x10);
        b.wr(0x43, 0x40);
        assert_eq!(b.rd(0x41), 0xf0); // latched 0x2ff0: LSB
        b.wr(0x41, 0x00); // new LSB in between
        assert_eq!(b.rd(0x41), 0x2f); // MSB
        b.wr(0x41, 0x01); // new MSB: 0x0100 from the end of this period
        assert_eq!(b.rd(0x41), 0xf0); // next read is an LSB again (live count, same clock)
    }

    #[test]
    fn port61_gate_out2_speaker_and_refresh() {
        let mut b = Bench::new();
        assert_eq!(b.rd(0x61) & 0x0f, 0);
        // The BIOS beep: counter 2 in mode 3, gate and speaker data on.
        b.program(2, 0xb6, 1193);
        b.wr(0x61, 0x03);
        assert_eq!(b.rd(0x61) & 0x0f, 0x03);
        b.to_tick(1 + 596);
        assert_eq!(b.rd(0x61) & 0x20, 0x20);
        assert!(b.pit.speaker());
        b.to_tick(1 + 597);
        assert_eq!(b.rd(0x61) & 0x20, 0);
        assert!(!b.pit.speaker());
        // Refresh toggles every 18 clocks (15.085 µs).
        let toggles = (0..100u64)
            .map(|k| {
                b.clock.set(2_000_000 + k * 1000);
                b.rd(0x61) & 0x10
            })
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0] != w[1])
            .count();
        assert!((6..=7).contains(&toggles), "{toggles} toggles in 99 µs");
        let base = (b.tick() / 18 + 1) * 18;
        b.to_tick(base);
        let r0 = b.rd(0x61) & 0x10;
        b.to_tick(base + 17);
        assert_eq!(b.rd(0x61) & 0x10, r0);
        b.to_tick(base + 18);
        assert_ne!(b.rd(0x61) & 0x10, r0);
    }

    #[test]
    fn irq0_follows_out0_over_virtual_time() {
        let mut b = Bench::new();
        assert!(b.irq0()); // power-on: OUT high
        b.program(0, 0x34, 1193); // ~1 ms
        assert!(b.irq0());
        assert_eq!(b.pit.deadline(), Some(ticks_to_ns(1193)));
        b.clock.set(ticks_to_ns(1193));
        b.pit.advance(ticks_to_ns(1193));
        assert!(!b.irq0());
        assert_eq!(b.pit.deadline(), Some(ticks_to_ns(1194)));
        b.take_edges();
        b.clock.set(ticks_to_ns(1194));
        b.pit.advance(ticks_to_ns(1194));
        assert!(b.irq0());
        assert_eq!(b.take_edges(), 1);
        // A machine that comes late (both edges passed) still puts the edge on the line.
        let late = ticks_to_ns(2 * 1193 + 50);
        b.clock.set(late);
        b.pit.advance(late);
        assert!(b.irq0());
        assert_eq!(b.take_edges(), 1);
        assert_eq!(b.pit.deadline(), Some(ticks_to_ns(3 * 1193)));
        // One hour of virtual time: exactly the number of periods, no drift.
        let mut b = Bench::new();
        b.program(0, 0x34, 0);
        let hour = 3600 * PIT_HZ;
        let rises = b.run_to(hour);
        assert_eq!(rises.len() as u64, (hour - 1) / 65_536);
        assert_eq!(*rises.last().unwrap(), rises.len() as u64 * 65_536 + 1);
    }
}
