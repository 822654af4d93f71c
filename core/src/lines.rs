//! The wires of the board: IRQ lines 0-23, the A20 gate, NMI, reset and exit requests.
//!
//! A device gets a clone of [`Lines`] when it is built and drives its wire; the interrupt
//! controller and the CPU read them. They are atomics so a device may live on any thread, but the
//! VM's devices and CPU all run on one thread, so there is no contention.

use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::Arc;

/// Why a run ended, as requested by a device or by the host side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// The guest wrote `value` to the isa-debug-exit port: the process exits with `(value << 1) | 1`.
    DebugExit(u32),
    /// The guest (or the user) switched the machine off.
    PowerOff,
    /// The host asked the run to stop (Ctrl-C, window closed, `--exit-on` text seen).
    Stop,
}

/// Number of IRQ lines on the board (bit n of [`Lines::irq_levels`] is line n).
pub const IRQ_LINES: usize = 32;

#[derive(Debug, Default)]
struct Inner {
    irq_levels: AtomicU32,
    /// Rising edges of each line, counted since power-on (wrapping).
    irq_rises: [AtomicU32; IRQ_LINES],
    /// Rising edges of all lines together: a reader whose copy of it is current can skip the
    /// per-line counts.
    irq_rises_total: AtomicU32,
    /// Changes of any line's level: see [`Lines::irq_generation`].
    irq_changes: AtomicU64,
    a20: AtomicBool,
    a20_changes: AtomicU64,
    reset: AtomicBool,
    exit: AtomicU64, // 0 = none; else kind in bits 32..40, value in low 32
    firmware_call: AtomicBool,
    nmi: AtomicBool,
    any: AtomicBool, // "something needs the dispatcher's attention"
}

/// One reader's place in the history of the IRQ lines' rising edges (an interrupt controller
/// keeps one; see [`Lines::take_irq_edges`]).
///
/// Why edges are recorded on the wires rather than found by comparing levels: controllers look
/// at the lines only when asked (the CPU polling INTR, a port access), so a device that lowers
/// and raises its line between two looks (a guest reads a byte and the next one replaces it at
/// once) would leave the line "still high" and an edge-triggered input would never fire again.
/// Every controller on the lines (the 8259A pair and the I/O APIC both listen to the ISA IRQs)
/// keeps its own `IrqEdges`, so each sees every edge. A new one starts at power-on: a line that
/// is already high counts as having risen.
#[derive(Debug, Clone, Default)]
pub struct IrqEdges {
    total: u32,
    per_line: [u32; IRQ_LINES],
}

/// A handle to the board's wires. Cheap to clone; all clones see the same wires.
#[derive(Debug, Clone, Default)]
pub struct Lines(Arc<Inner>);

impl Lines {
    pub fn new() -> Self {
        let lines = Lines::default();
        lines.0.a20.store(true, Relaxed);
        lines
    }

    /// Drives IRQ line `irq` high or low. A low-to-high change is also counted as a rising edge,
    /// so that an interrupt controller sees it even if the line falls again (or fell and rose
    /// again) before the controller next looks: see [`IrqEdges`].
    pub fn set_irq(&self, irq: u8, high: bool) {
        let bit = 1u32 << irq;
        if high {
            if self.0.irq_levels.fetch_or(bit, Relaxed) & bit == 0 {
                self.0.irq_rises[irq as usize].fetch_add(1, Relaxed);
                self.0.irq_rises_total.fetch_add(1, Relaxed);
                self.0.irq_changes.fetch_add(1, Release);
            }
        } else if self.0.irq_levels.fetch_and(!bit, Relaxed) & bit != 0 {
            self.0.irq_changes.fetch_add(1, Release);
        }
        self.0.any.store(true, Relaxed);
    }

    /// Counts the changes of the IRQ lines (a level that changed, so also every rising edge)
    /// since power-on (64 bits: it never wraps in practice). Whatever an interrupt controller concludes from the lines alone stays true while
    /// this stays the same, so a reader may cache it under this number (as
    /// [`System::intr`](crate::System::intr) does).
    ///
    /// The count is bumped after the levels and edge counts changed (release) and read with
    /// acquire: a reader on another thread that sees the new count sees the new lines too, and
    /// one that read the old count will see a new one later.
    #[inline]
    pub fn irq_generation(&self) -> u64 {
        self.0.irq_changes.load(Acquire)
    }

    /// The levels of all IRQ lines, bit n for line n.
    pub fn irq_levels(&self) -> u32 {
        self.0.irq_levels.load(Relaxed)
    }

    /// Whether some line rose since `seen` last took its edges (one load: cheap enough for every
    /// look of an interrupt controller).
    pub fn irq_edges_pending(&self, seen: &IrqEdges) -> bool {
        self.0.irq_rises_total.load(Relaxed) != seen.total
    }

    /// The lines that rose at least once since `seen` last took its edges (bit n = line n), and
    /// moves `seen` up to now. Several rises of one line between two looks count as one.
    pub fn take_irq_edges(&self, seen: &mut IrqEdges) -> u32 {
        let total = self.0.irq_rises_total.load(Relaxed);
        if total == seen.total {
            return 0;
        }
        seen.total = total;
        let mut edges = 0;
        for (line, (count, seen)) in self.0.irq_rises.iter().zip(seen.per_line.iter_mut()).enumerate() {
            let count = count.load(Relaxed);
            if count != *seen {
                *seen = count;
                edges |= 1 << line;
            }
        }
        edges
    }

    /// Whether address line 20 is enabled (it starts enabled, as after a modern BIOS).
    pub fn a20(&self) -> bool {
        self.0.a20.load(Relaxed)
    }

    /// Opens or closes the A20 gate. The CPU notices through [`Lines::a20_generation`].
    pub fn set_a20(&self, enabled: bool) {
        if self.0.a20.swap(enabled, Relaxed) != enabled {
            self.0.a20_changes.fetch_add(1, Relaxed);
            self.0.any.store(true, Relaxed);
        }
    }

    /// Counts A20 changes, so a TLB can tell it must be flushed.
    pub fn a20_generation(&self) -> u64 {
        self.0.a20_changes.load(Relaxed)
    }

    /// Asks for a CPU reset (8042 pulse, port 0x92 bit 0, triple fault).
    pub fn request_reset(&self) {
        self.0.reset.store(true, Relaxed);
        self.0.any.store(true, Relaxed);
    }

    /// Whether a reset request is waiting (the CPU loops stop for the machine to take it).
    pub fn reset_pending(&self) -> bool {
        self.0.reset.load(Relaxed)
    }

    /// Takes a pending reset request.
    pub fn take_reset(&self) -> bool {
        self.0.reset.swap(false, Relaxed)
    }

    /// Asks the run to end. The first request wins.
    pub fn request_exit(&self, reason: ExitReason) {
        let code = match reason {
            ExitReason::DebugExit(v) => (1u64 << 32) | v as u64,
            ExitReason::PowerOff => 2u64 << 32,
            ExitReason::Stop => 3u64 << 32,
        };
        let _ = self.0.exit.compare_exchange(0, code, Relaxed, Relaxed);
        self.0.any.store(true, Relaxed);
    }

    /// The pending exit request, if any.
    pub fn exit(&self) -> Option<ExitReason> {
        let code = self.0.exit.load(Relaxed);
        match code >> 32 {
            1 => Some(ExitReason::DebugExit(code as u32)),
            2 => Some(ExitReason::PowerOff),
            3 => Some(ExitReason::Stop),
            _ => None,
        }
    }

    /// The guest entered the firmware's trap port: the CPU stops after the current instruction
    /// and the machine runs the firmware service in Rust.
    pub fn request_firmware_call(&self) {
        self.0.firmware_call.store(true, Relaxed);
        self.0.any.store(true, Relaxed);
    }

    /// Whether a firmware call is waiting (see [`Lines::request_firmware_call`]).
    pub fn firmware_call_pending(&self) -> bool {
        self.0.firmware_call.load(Relaxed)
    }

    /// Takes a pending firmware call.
    pub fn take_firmware_call(&self) -> bool {
        self.0.firmware_call.swap(false, Relaxed)
    }

    /// Raises a non-maskable interrupt request (a local APIC delivering NMI). It stays pending
    /// until the CPU takes it with [`Lines::take_nmi`].
    pub fn request_nmi(&self) {
        self.0.nmi.store(true, Relaxed);
        self.0.any.store(true, Relaxed);
    }

    /// Whether an NMI is waiting.
    pub fn nmi_pending(&self) -> bool {
        self.0.nmi.load(Relaxed)
    }

    /// Takes a pending NMI.
    pub fn take_nmi(&self) -> bool {
        self.0.nmi.swap(false, Relaxed)
    }

    /// Whether any wire changed since the last call (cleared by the call): lets the dispatcher
    /// poll one flag between blocks instead of every wire.
    #[inline]
    pub fn take_attention(&self) -> bool {
        // Load first: the swap is a locked bus cycle on x86, and the flag is almost always clear.
        // A wire that changes between the load and the next call is seen by that call.
        self.0.any.load(Relaxed) && self.0.any.swap(false, Relaxed)
    }

    /// Whether [`Lines::take_attention`] would return true, without clearing it (the JIT's
    /// chained blocks stop for the dispatcher when it is set).
    #[inline]
    pub fn attention_pending(&self) -> bool {
        self.0.any.load(Relaxed)
    }

    /// Asks the dispatcher to look at the board between instructions (e.g. the physical map
    /// changed and the CPU's TLB must be flushed).
    pub fn request_attention(&self) {
        self.0.any.store(true, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irq_levels_and_exit_first_wins() {
        let l = Lines::new();
        l.set_irq(4, true);
        l.set_irq(14, true);
        l.set_irq(4, false);
        assert_eq!(l.irq_levels(), 1 << 14);
        assert!(l.take_attention());
        assert!(!l.take_attention());
        l.request_exit(ExitReason::DebugExit(0));
        l.request_exit(ExitReason::PowerOff);
        assert_eq!(l.exit(), Some(ExitReason::DebugExit(0)));
    }

    #[test]
    fn every_reader_sees_every_rising_edge() {
        let l = Lines::new();
        let (mut pic, mut ioapic) = (IrqEdges::default(), IrqEdges::default());
        l.set_irq(1, true);
        assert!(l.irq_edges_pending(&pic));
        assert_eq!(l.take_irq_edges(&mut pic), 1 << 1);
        assert!(!l.irq_edges_pending(&pic));
        assert_eq!(l.take_irq_edges(&mut pic), 0);
        // Driving a high line high again is no edge; falling and rising again between two looks is.
        l.set_irq(1, true);
        assert_eq!(l.take_irq_edges(&mut pic), 0);
        l.set_irq(1, false);
        l.set_irq(1, true);
        l.set_irq(12, true);
        l.set_irq(12, false);
        assert_eq!(l.take_irq_edges(&mut pic), 1 << 1 | 1 << 12);
        // The other reader has taken nothing yet and sees both lines (line 1 rose twice: one edge).
        assert_eq!(l.take_irq_edges(&mut ioapic), 1 << 1 | 1 << 12);
        assert_eq!(l.irq_levels(), 1 << 1);
    }

    #[test]
    fn irq_generation_changes_with_every_level_change_from_any_thread() {
        let l = Lines::new();
        let g = l.irq_generation();
        l.set_irq(3, false);
        assert_eq!(l.irq_generation(), g, "a low line driven low changes nothing");
        l.set_irq(3, true);
        let g = l.irq_generation();
        l.set_irq(3, true);
        assert_eq!(l.irq_generation(), g, "a high line driven high changes nothing");
        l.set_irq(3, false);
        assert_ne!(l.irq_generation(), g, "a fall changes the lines");
        let g = l.irq_generation();
        let other = l.clone();
        std::thread::spawn(move || other.set_irq(5, true)).join().unwrap();
        assert_ne!(l.irq_generation(), g, "so does a rise on another thread");
        assert_eq!(l.irq_levels(), 1 << 5);
    }

    #[test]
    fn reset_request_stays_pending_until_taken() {
        let l = Lines::new();
        assert!(!l.reset_pending());
        l.request_reset();
        assert!(l.take_attention());
        assert!(l.reset_pending(), "looking does not take it: the machine does");
        assert!(l.take_reset());
        assert!(!l.reset_pending());
    }

    #[test]
    fn a20_generation_counts_changes_only() {
        let l = Lines::new();
        assert!(l.a20());
        l.set_a20(true);
        assert_eq!(l.a20_generation(), 0);
        l.set_a20(false);
        assert!(!l.a20());
        assert_eq!(l.a20_generation(), 1);
    }
}
