//! The virtual clock.
//!
//! Guest time is a count of nanoseconds since power-on. In **deterministic** mode it advances only
//! with retired guest instructions (a fixed number of ns each), so the same inputs give the same
//! run everywhere. In **real-time** mode it follows the host's monotonic clock. Devices read the
//! time through a [`ClockHandle`] given to them when built; tests give them one they set by hand.
//!
//! **Invariant:** guest time never goes backwards.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

/// A read-only (for devices) view of the current guest time.
#[derive(Debug, Clone, Default)]
pub struct ClockHandle(Arc<AtomicU64>);

impl ClockHandle {
    /// A clock fixed at zero that tests move by hand with [`ClockHandle::set`].
    pub fn manual() -> Self {
        Self::default()
    }
    /// Guest nanoseconds since power-on.
    #[inline]
    pub fn now(&self) -> u64 {
        self.0.load(Relaxed)
    }
    /// Moves the time forward (never backward) to `ns`.
    pub fn set(&self, ns: u64) {
        self.0.fetch_max(ns, Relaxed);
    }
}

/// How guest time relates to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    /// Guest time = retired instructions × `ns_per_insn`.
    Deterministic { ns_per_insn: u64 },
    /// Guest time follows the host's monotonic clock.
    RealTime,
}

/// The machine's clock: owns the time and updates it from the CPU's instruction count or the host.
#[derive(Debug)]
pub struct Clock {
    handle: ClockHandle,
    mode: ClockMode,
    start: Instant,
    /// Time skipped while the CPU was halted, added on top of the mode's own time.
    skipped: u64,
}

impl Clock {
    pub fn new(mode: ClockMode) -> Self {
        Clock { handle: ClockHandle::default(), mode, start: Instant::now(), skipped: 0 }
    }
    pub fn handle(&self) -> ClockHandle {
        self.handle.clone()
    }
    pub fn mode(&self) -> ClockMode {
        self.mode
    }
    #[inline]
    pub fn now(&self) -> u64 {
        self.handle.now()
    }
    /// Brings guest time up to date given the instructions retired so far.
    pub fn sync(&mut self, retired: u64) -> u64 {
        let own = match self.mode {
            ClockMode::Deterministic { ns_per_insn } => retired.saturating_mul(ns_per_insn),
            ClockMode::RealTime => self.start.elapsed().as_nanos() as u64,
        };
        self.handle.set(own.saturating_add(self.skipped));
        self.handle.now()
    }
    /// The time [`Clock::sync`] would set for `retired` instructions, without setting it (for
    /// a run loop deciding whether device timers are due by a coming sync). In real-time mode,
    /// the host's time now.
    pub fn time_at(&self, retired: u64) -> u64 {
        let own = match self.mode {
            ClockMode::Deterministic { ns_per_insn } => retired.saturating_mul(ns_per_insn),
            ClockMode::RealTime => self.start.elapsed().as_nanos() as u64,
        };
        own.saturating_add(self.skipped).max(self.handle.now())
    }
    /// Jumps guest time forward to `ns` (used while the CPU is halted, to reach the next timer
    /// event without spinning). Later syncs keep counting from there.
    pub fn skip_to(&mut self, ns: u64) {
        let now = self.handle.now();
        if ns > now {
            self.skipped += ns - now;
            self.handle.set(ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_time_follows_instructions_and_never_goes_back() {
        let mut c = Clock::new(ClockMode::Deterministic { ns_per_insn: 2 });
        assert_eq!(c.sync(10), 20);
        c.skip_to(100);
        assert_eq!(c.now(), 100);
        assert_eq!(c.sync(10), 100);
        assert_eq!(c.time_at(30), 140);
        assert_eq!(c.now(), 100, "time_at sets nothing");
        assert_eq!(c.sync(20), 120);
        c.skip_to(50); // backwards: ignored
        assert_eq!(c.sync(20), 120);
    }
}
