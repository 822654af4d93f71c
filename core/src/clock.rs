//! The virtual clock.
//!
//! Guest time is a count of nanoseconds since power-on. In **deterministic** mode it advances only
//! with retired guest instructions (a fixed number of ns each), so the same inputs give the same
//! run everywhere. In **real-time** mode it follows the host's monotonic clock while the CPU
//! runs, except that a jump of more than [`MAX_RUNNING_STEP`] between two syncs (the host
//! descheduled the emulator, a debugger or the window paused it) counts as that step only: time
//! the guest could not use is not shown to it, so a periodic timer does not fire a burst of
//! ticks that coalesce and get lost, and a guest comparing two clocks (Linux's clocksource
//! watchdog: the TSC against jiffies) sees them agree. While the CPU is halted, time follows
//! the host in full ([`Clock::sync_idle`]). Devices read the time through a [`ClockHandle`]
//! given to them when built; tests give them one they set by hand.
//!
//! **Sync points.** The CPU (both tiers) syncs the clock and runs device timers at *sync
//! points*, every [`Clock::sync_interval`] retired instructions. In deterministic mode that is
//! always [`SYNC_INTERVAL`], so the sync points, and with them the whole run, are a function of
//! the instruction count. In real-time mode the interval adapts to the guest's speed: the clock
//! measures the instructions retired per host nanosecond between syncs ([`Clock::rate`]) and
//! asks for the next sync after about [`SYNC_PERIOD_NS`] of host time, or sooner when the next
//! device deadline is nearer, within [[`SYNC_INTERVAL`], [`MAX_SYNC_INTERVAL`]] instructions:
//! a fast guest (the JIT) is not stopped every few hundred instructions to read the host clock,
//! and a timer still fires about as soon as it would with syncs every [`SYNC_INTERVAL`]. Since
//! devices see time only as of the last sync, in real-time mode the CPU also syncs right before
//! every access to a device (port I/O, MMIO: [`Clock::stale`]), so no device reads an older time
//! than the instruction it serves.
//!
//! **The CPU's finer time.** The TSC reads the time as of its own instruction
//! ([`Clock::time_at`]), not as of the last sync. In real-time mode that is the host's time,
//! read at most every [`FINE_READ_INTERVAL`] instructions once the guest's speed is known, and
//! counted on at that speed in between (by at most [`FINE_MAX_COUNT_NS`]); a sync never sets a
//! time earlier than a TSC the CPU read, so a device never reads an older time than the TSC
//! read before. (A REP string instruction counts as one instruction per chunk it runs, so a TSC
//! read right after a long one may lag the host until the next reading.)
//!
//! **Invariant:** guest time never goes backwards; in real-time mode the CPU's finer time
//! always goes forward (in deterministic mode it is a function of the count).

use std::cell::Cell;
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

/// In real-time mode, the most guest time one sync may add while the CPU runs (1 ms; a sync
/// comes every [`SYNC_PERIOD_NS`] or so of host time).
pub const MAX_RUNNING_STEP: u64 = 1_000_000;

/// Instructions between two sync points in deterministic mode, and the fewest between two in
/// real-time mode (see the module documentation).
pub const SYNC_INTERVAL: u64 = 256;

/// Real-time mode: the most instructions between two sync points.
pub const MAX_SYNC_INTERVAL: u64 = 65_536;

/// Real-time mode: the host time aimed at between two sync points (ns), when no device deadline
/// is nearer. Also the shortest host time the speed is measured over.
pub const SYNC_PERIOD_NS: u64 = 20_000;

/// Real-time mode: [`Clock::time_at`] reads the host clock again once this many instructions
/// retired since the last reading (its own or a sync's); in between it counts on from that
/// reading at the guest's measured speed.
pub const FINE_READ_INTERVAL: u64 = 1024;

/// Real-time mode: the most [`Clock::time_at`] counts on from one host reading (ns). A speed
/// measured across a host stall can be far too slow (microseconds an instruction); without a
/// bound, counting on at it would put the TSC, and with it device time (a sync never shows an
/// earlier time than the TSC), milliseconds ahead of the host, where it would stand still until
/// the host caught up.
pub const FINE_MAX_COUNT_NS: u64 = 20_000;

/// The machine's clock: owns the time and updates it from the CPU's instruction count or the host.
#[derive(Debug)]
pub struct Clock {
    handle: ClockHandle,
    mode: ClockMode,
    start: Instant,
    /// Time skipped while the CPU was halted, added on top of the mode's own time.
    skipped: u64,
    /// Real-time mode: host time not shown to the guest (stalls beyond [`MAX_RUNNING_STEP`]).
    stolen: u64,
    /// Real-time mode: the host time (ns since `start`) that [`Clock::sync_reaches`] read to
    /// answer for a sync at this many retired instructions. That sync uses it rather than
    /// reading the host again, so it does what the answer said (see [`Clock::sync_reaches`]).
    /// Dropped by any other sync.
    host_read: Cell<Option<(u64, u64)>>,
    /// Real-time mode: the instruction count of the instruction whose device access last synced
    /// the clock ([`Clock::mark_fresh`]), if no sync came since: its further accesses (a REP
    /// INS/OUTS, the parts of a split access) need no new one ([`Clock::stale`]).
    fresh_for: Option<u64>,
    /// Real-time mode: where the current speed measurement started (instruction count, host ns).
    rate_from: (u64, u64),
    /// Real-time mode: the guest's speed as last measured, in instructions per host ns; 0 until
    /// measured.
    rate: f64,
    /// Real-time mode: host ns per instruction at [`Clock::rate`], in 1/65536 ns (0 until
    /// measured): how [`Clock::time_at`] counts on between host readings.
    ns_per_insn_fx: u64,
    /// Real-time mode: what [`Clock::time_at`] counts on from.
    fine: Cell<Fine>,
}

/// Real-time mode: the last host reading [`Clock::time_at`] can count on from, and the latest
/// time it gave.
#[derive(Debug, Clone, Copy, Default)]
struct Fine {
    /// The reading: (retired instructions, host ns since the clock started); `None` before the
    /// first.
    read: Option<(u64, u64)>,
    /// The latest time `time_at` gave: the next is later.
    last: u64,
}

impl Clock {
    pub fn new(mode: ClockMode) -> Self {
        Clock {
            handle: ClockHandle::default(),
            mode,
            start: Instant::now(),
            skipped: 0,
            stolen: 0,
            host_read: Cell::new(None),
            fresh_for: None,
            rate_from: (0, 0),
            rate: 0.0,
            ns_per_insn_fx: 0,
            fine: Cell::new(Fine::default()),
        }
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
    /// The mode's own time for `retired` instructions (real-time: host time less stolen time).
    fn own(&self, retired: u64) -> u64 {
        self.own_at(retired, self.host())
    }

    /// Host nanoseconds since the clock started (real-time mode), 0 in deterministic mode.
    fn host(&self) -> u64 {
        match self.mode {
            ClockMode::Deterministic { .. } => 0,
            ClockMode::RealTime => self.start.elapsed().as_nanos() as u64,
        }
    }

    /// [`Clock::own`] with the host time `host` (from [`Clock::host`]).
    fn own_at(&self, retired: u64, host: u64) -> u64 {
        match self.mode {
            ClockMode::Deterministic { ns_per_insn } => retired.saturating_mul(ns_per_insn),
            ClockMode::RealTime => host.saturating_sub(self.stolen),
        }
        .saturating_add(self.skipped)
    }

    /// Brings guest time up to date given the instructions retired so far (in real-time mode
    /// by at most [`MAX_RUNNING_STEP`]: see the module documentation). In real-time mode, a
    /// sync at the instruction count [`Clock::sync_reaches`] was last asked about uses the host
    /// time read then.
    pub fn sync(&mut self, retired: u64) -> u64 {
        let host = match self.host_read.take() {
            Some((at, host)) if at == retired => host,
            _ => self.host(),
        };
        self.sync_at(retired, host)
    }

    /// [`Clock::sync`] with the host time `host` (from [`Clock::host`]).
    fn sync_at(&mut self, retired: u64, host: u64) -> u64 {
        let own = self.own_at(retired, host);
        let limit = self.handle.now().saturating_add(MAX_RUNNING_STEP);
        if self.mode == ClockMode::RealTime && own > limit {
            self.stolen += own - limit;
            self.handle.set(limit);
        } else {
            self.handle.set(own);
        }
        self.fresh_for = None;
        if self.mode == ClockMode::RealTime {
            // Never behind a TSC the CPU read (`time_at` may have counted on ahead of the host).
            self.handle.set(self.fine.get().last);
            self.measure(retired, host);
            self.note_read(retired, host);
        }
        self.handle.now()
    }

    /// Real-time mode: `host` was read at `retired` instructions; [`Clock::time_at`] counts on
    /// from there.
    fn note_read(&self, retired: u64, host: u64) {
        self.fine.set(Fine { read: Some((retired, host)), ..self.fine.get() });
    }

    /// Real-time mode: takes the speed since `rate_from` as the guest's speed once that spans
    /// at least [`SYNC_PERIOD_NS`] of host time, and starts the next measurement.
    ///
    /// The last measurement alone counts, so the interval follows a change of speed (the
    /// interpreter warming up, the JIT compiling) within one measurement; a host stall inside
    /// one only makes the next intervals shorter.
    fn measure(&mut self, retired: u64, host: u64) {
        let (from, t0) = self.rate_from;
        let elapsed = host.saturating_sub(t0);
        if elapsed >= SYNC_PERIOD_NS {
            self.rate = retired.saturating_sub(from) as f64 / elapsed as f64;
            // (Saturating casts; no instructions at all makes it the largest, 2^32 - 1.)
            self.ns_per_insn_fx = (65536.0 / self.rate).min(u32::MAX as f64) as u64;
            self.rate_from = (retired, host);
        } else if retired < from {
            // The count went back (a new CPU on the same clock, in tests): start again.
            self.rate_from = (retired, host);
        }
    }

    /// [`Clock::sync`] after the CPU waited halted for an event: in real-time mode all the host
    /// time that passed counts. The waiting is not part of the guest's speed: the measurement
    /// starts again from here.
    pub fn sync_idle(&mut self, retired: u64) -> u64 {
        self.host_read.set(None);
        let host = self.host();
        self.handle.set(self.own_at(retired, host));
        self.fresh_for = None;
        self.rate_from = (retired, host);
        if self.mode == ClockMode::RealTime {
            // As in `sync_at`.
            self.handle.set(self.fine.get().last);
            self.note_read(retired, host);
        }
        self.handle.now()
    }

    /// The instructions from a sync to the next sync point, given the earliest device deadline
    /// `next_deadline` (ns, `u64::MAX` for none) as it stands after the sync's timers ran.
    ///
    /// Deterministic mode: always [`SYNC_INTERVAL`]. Real-time mode: the instructions the guest
    /// retires, at its measured speed ([`Clock::rate`]), in [`SYNC_PERIOD_NS`] or until
    /// `next_deadline`, whichever is sooner; never fewer than [`SYNC_INTERVAL`] (a deadline is
    /// not checked more often than with a fixed interval) nor more than [`MAX_SYNC_INTERVAL`];
    /// [`SYNC_INTERVAL`] until the speed is known.
    #[inline]
    pub fn sync_interval(&self, next_deadline: u64) -> u64 {
        match self.mode {
            ClockMode::Deterministic { .. } => SYNC_INTERVAL,
            ClockMode::RealTime => {
                let ns = next_deadline.saturating_sub(self.handle.now()).min(SYNC_PERIOD_NS);
                // A float-to-int cast saturates (NaN is 0), and the rate is finite anyway.
                ((self.rate * ns as f64) as u64).clamp(SYNC_INTERVAL, MAX_SYNC_INTERVAL)
            }
        }
    }

    /// The guest's speed as last measured (instructions per host ns; 0 before the first
    /// measurement and in deterministic mode).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Whether a device accessed now by the instruction at count `retired` would see a stale
    /// time, so the CPU must sync first: in real-time mode, unless a device access of that same
    /// instruction synced already ([`Clock::mark_fresh`]). Never in deterministic mode, whose
    /// sync points are fixed (see the module documentation).
    #[inline]
    pub fn stale(&self, retired: u64) -> bool {
        self.mode == ClockMode::RealTime && self.fresh_for != Some(retired)
    }

    /// Records that the sync just made was for a device access of the instruction at count
    /// `retired` (see [`Clock::stale`]). Any later sync drops the mark.
    pub fn mark_fresh(&mut self, retired: u64) {
        self.fresh_for = Some(retired);
    }

    /// Drops the mark of [`Clock::mark_fresh`]: the next device access syncs again even at the
    /// same instruction count (the JIT's slow-path accesses, where the count stored may be an
    /// earlier instruction's of the block).
    pub fn forget_fresh(&mut self) {
        self.fresh_for = None;
    }
    /// The CPU's own finer time (RDTSC) at `retired` instructions. In deterministic mode, the
    /// time [`Clock::sync`] would set then, without setting it.
    ///
    /// In real-time mode, the host's time now, read at most every [`FINE_READ_INTERVAL`]
    /// instructions: a kernel reads the TSC every hundred instructions or so while it
    /// initialises (4 M times from "Linux version" to the 8250 driver in the Linux bench boot),
    /// and reading the host clock each time took about 7% of the CPU thread's time in that
    /// phase (1-2% since). In between, the time counts on from the last reading at the guest's
    /// measured speed ([`Clock::rate`]), and each answer is later than the one before (a guest
    /// timing a short sequence with two RDTSCs sees it take time), so an answer may run a
    /// little ahead of the host (by what the speed's error makes of at most
    /// [`FINE_READ_INTERVAL`] instructions); the next sync shows devices no earlier time.
    pub fn time_at(&self, retired: u64) -> u64 {
        let now = self.handle.now();
        match self.mode {
            ClockMode::RealTime => {
                let fine = self.fine.get();
                let host = match fine.read {
                    Some((at, host)) if retired.wrapping_sub(at) < FINE_READ_INTERVAL && self.ns_per_insn_fx > 0 => {
                        // At most 2^10 instructions of at most 2^32 - 1: no overflow.
                        host + (((retired - at) * self.ns_per_insn_fx) >> 16).min(FINE_MAX_COUNT_NS)
                    }
                    _ => {
                        let host = self.host();
                        self.note_read(retired, host);
                        host
                    }
                };
                let t = self.own_at(retired, host).clamp(now, now.saturating_add(MAX_RUNNING_STEP));
                let t = t.max(fine.last.saturating_add(1));
                self.fine.set(Fine { last: t, ..self.fine.get() });
                t
            }
            ClockMode::Deterministic { .. } => self.own(retired).max(now),
        }
    }

    /// Whether [`Clock::sync`] at `retired` would bring guest time to `t` or beyond (for a run
    /// loop deciding whether a device timer due at `t` fires by the coming sync), in real-time
    /// mode without reading the host clock when `t` is beyond one sync's reach
    /// ([`MAX_RUNNING_STEP`]), as a device deadline (a timer tick) usually is. The JIT's
    /// dispatcher asks this about every block that crosses a sync point; reading the host each
    /// time cost about 3% of a Linux boot's host time.
    ///
    /// When it does read the host, the sync at `retired` that follows uses that reading instead
    /// of a new one: so the answer is what that sync does (a timer the answer said would not be
    /// due is not due then, unless the CPU read a TSC at or past `t` in between: the sync shows
    /// no earlier time, so the timer fires then), and a sync point costs one host read, not
    /// two. Guest time at that sync is the host's from a moment earlier (the block the
    /// dispatcher ran in between).
    pub fn sync_reaches(&self, retired: u64, t: u64) -> bool {
        let now = self.handle.now();
        // (A sync brings the time to at least the last TSC the CPU read, `sync_at`.)
        if now >= t || self.fine.get().last >= t {
            return true;
        }
        match self.mode {
            ClockMode::RealTime => {
                if t > now.saturating_add(MAX_RUNNING_STEP) {
                    return false;
                }
                let host = self.host();
                self.host_read.set(Some((retired, host)));
                self.own_at(retired, host).clamp(now, now.saturating_add(MAX_RUNNING_STEP)) >= t
            }
            ClockMode::Deterministic { .. } => self.own(retired) >= t,
        }
    }

    /// Jumps guest time forward to `ns` (used while the CPU is halted, to reach the next timer
    /// event without spinning). Later syncs keep counting from there.
    pub fn skip_to(&mut self, ns: u64) {
        self.host_read.set(None);
        self.fresh_for = None;
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

    #[test]
    fn real_time_hides_stalls_while_running_but_not_while_idle() {
        let mut c = Clock::new(ClockMode::RealTime);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let before = c.time_at(0);
        assert!(before <= MAX_RUNNING_STEP, "time_at shows no more than a sync would");
        let t = c.sync(0);
        assert_eq!(t, MAX_RUNNING_STEP, "a 5 ms stall counts as 1 ms");
        assert!(t >= before);
        let t2 = c.sync(0);
        assert!(t2 >= t && t2 <= t + MAX_RUNNING_STEP, "then time goes on from there");
        std::thread::sleep(std::time::Duration::from_millis(5));
        let idle = c.sync_idle(0);
        assert!(idle >= t2 + 5_000_000, "idle time counts in full");
    }

    #[test]
    fn sync_reaches_answers_what_the_sync_would_do() {
        let mut d = Clock::new(ClockMode::Deterministic { ns_per_insn: 2 });
        d.sync(10);
        assert!(d.sync_reaches(10, 20) && !d.sync_reaches(10, 21));
        assert!(d.sync_reaches(15, 30) && !d.sync_reaches(15, 31));
        let mut c = Clock::new(ClockMode::RealTime);
        let t = c.sync(0);
        assert!(c.sync_reaches(0, t), "already there");
        assert!(!c.sync_reaches(0, t + MAX_RUNNING_STEP + 1), "beyond one sync's step, whatever the host says");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(c.sync_reaches(0, t + MAX_RUNNING_STEP), "host time passed: a sync gets there");
        assert!(!c.sync_reaches(0, t + MAX_RUNNING_STEP + 1), "but no further");
        assert_eq!(c.sync(0), t + MAX_RUNNING_STEP, "as the sync then does");
    }

    #[test]
    fn a_sync_does_what_sync_reaches_said() {
        let mut c = Clock::new(ClockMode::RealTime);
        let t0 = c.sync(0);
        let due = t0 + MAX_RUNNING_STEP - 100_000;
        let reached = c.sync_reaches(7, due);
        // Host time goes past `due` before the sync (a block ran in between): the sync at the
        // instruction count asked about still uses the time the answer was given at.
        std::thread::sleep(std::time::Duration::from_millis(2));
        let t1 = c.sync(7);
        assert_eq!(t1 >= due, reached);
        assert!(t1 >= t0);
        // The reading is used once; a sync at another count reads the host.
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(c.sync(8), t1 + MAX_RUNNING_STEP);
        assert!(!c.sync_reaches(9, t1 + 2 * MAX_RUNNING_STEP + 1));
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(c.sync(10), t1 + 2 * MAX_RUNNING_STEP, "a sync at another count reads the host");
    }
    #[test]
    fn deterministic_sync_points_are_fixed_and_devices_never_resync() {
        let mut d = Clock::new(ClockMode::Deterministic { ns_per_insn: 1 });
        for (retired, deadline) in [(0, u64::MAX), (1_000_000, 1_000_001), (5_000_000, 0)] {
            d.sync(retired);
            assert_eq!(d.sync_interval(deadline), SYNC_INTERVAL);
            assert!(!d.stale(retired + 1), "device accesses do not sync in deterministic mode");
        }
        assert_eq!(d.rate(), 0.0);
    }

    #[test]
    fn real_time_interval_follows_the_measured_speed_within_bounds() {
        let mut c = Clock::new(ClockMode::RealTime);
        let none = u64::MAX;
        assert_eq!(c.sync_interval(none), SYNC_INTERVAL, "speed unknown: the shortest interval");
        // 1 instruction per ns over one period: the interval is one period's worth.
        c.sync_at(0, 0);
        c.sync_at(SYNC_PERIOD_NS, SYNC_PERIOD_NS);
        assert_eq!(c.rate(), 1.0);
        assert_eq!(c.sync_interval(none), SYNC_PERIOD_NS);
        // A device deadline nearer than a period shortens it, but never below the minimum.
        let now = c.now();
        assert_eq!(c.sync_interval(now + 5_000), 5_000);
        assert_eq!(c.sync_interval(now + 100), SYNC_INTERVAL);
        assert_eq!(c.sync_interval(now), SYNC_INTERVAL, "a deadline due now");
        assert_eq!(c.sync_interval(now + 10 * SYNC_PERIOD_NS), SYNC_PERIOD_NS, "a far one changes nothing");
        // Syncs closer together than a period do not measure (too short to tell).
        let (i, h) = (SYNC_PERIOD_NS + 100_000, SYNC_PERIOD_NS + SYNC_PERIOD_NS / 2);
        c.sync_at(i, h);
        assert_eq!(c.rate(), 1.0);
        // 25 instructions per ns since the last measurement (a fast JIT): capped at the maximum.
        c.sync_at(i + 20 * SYNC_PERIOD_NS, h + SYNC_PERIOD_NS / 2);
        assert_eq!(c.rate(), 25.0);
        assert_eq!(c.sync_interval(none), MAX_SYNC_INTERVAL);
        // Slowing down (the interpreter): the next measurement follows at once.
        let (i, h) = (i + 20 * SYNC_PERIOD_NS, h + SYNC_PERIOD_NS / 2);
        c.sync_at(i + SYNC_PERIOD_NS / 10, h + SYNC_PERIOD_NS);
        assert!((c.rate() - 0.1).abs() < 1e-9);
        assert_eq!(c.sync_interval(none), SYNC_PERIOD_NS / 10);
        // Nearly stopped (a host stall, a long compile): the minimum.
        let (i, h) = (i + SYNC_PERIOD_NS / 10, h + SYNC_PERIOD_NS);
        c.sync_at(i + 10, h + 5 * SYNC_PERIOD_NS);
        assert_eq!(c.sync_interval(none), SYNC_INTERVAL);
    }

    #[test]
    fn fine_time_counts_on_from_the_last_host_reading_and_always_moves() {
        // Speed unknown: every answer reads the host, and each is later than the one before.
        let c = Clock::new(ClockMode::RealTime);
        let (a, b) = (c.time_at(0), c.time_at(0));
        assert!(b > a, "two reads at the same count still differ");
        // 2 instructions per ns, measured by two syncs at made-up host times; the second sync's
        // reading (count 2P, host P) is where the fine time counts on from.
        let mut c = Clock::new(ClockMode::RealTime);
        let p = SYNC_PERIOD_NS;
        c.sync_at(0, 0);
        c.sync_at(2 * p, p);
        assert_eq!(c.rate(), 2.0);
        assert_eq!(c.now(), p);
        assert_eq!(c.time_at(2 * p + 100), p + 50, "100 instructions at 2 per ns");
        assert_eq!(c.time_at(2 * p + 100), p + 51, "the same count again: 1 ns later");
        assert_eq!(c.time_at(2 * p + 104), p + 52);
        assert_eq!(c.time_at(2 * p + 105), p + 53, "never the same answer twice");
        // Past the interval the host is read again: 2 ms of real time since the clock started,
        // of which one sync's step shows (counting on would give P + 512).
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(c.time_at(2 * p + FINE_READ_INTERVAL - 1), p + 511, "still counting on");
        assert_eq!(c.time_at(2 * p + FINE_READ_INTERVAL), p + MAX_RUNNING_STEP, "read again");
        // A sync whose host reading is behind a TSC counted on ahead of it does not show the
        // devices an older time than that TSC (nor says a timer due by then is not due).
        let mut c = Clock::new(ClockMode::RealTime);
        c.sync_at(0, 0);
        c.sync_at(2 * p, p);
        let tsc = c.time_at(2 * p + 1000);
        assert_eq!(tsc, p + 500);
        assert!(c.sync_reaches(2 * p + 1000, tsc) && !c.sync_reaches(2 * p + 1000, p + MAX_RUNNING_STEP + 1));
        assert_eq!(c.sync_at(2 * p + 1000, p + 10), tsc);
        // A speed measured across a host stall (2 ms for 300 instructions) is counted on by at
        // most FINE_MAX_COUNT_NS from a reading, so the TSC and device time do not run ahead
        // window after window.
        let mut c = Clock::new(ClockMode::RealTime);
        c.sync_at(0, 0);
        let now = c.sync_at(300, 2_000_000);
        let mut host = 2_000_000;
        for k in 1..=10 {
            let tsc = c.time_at(300 + 1001 * k);
            assert!(tsc <= now + (host - 2_000_000) + FINE_MAX_COUNT_NS, "window {k}: {tsc}");
            host += 1000;
            c.sync_at(300 + 1001 * k + 1, host);
        }
        // The deterministic clock is untouched: a function of the count alone.
        let d = Clock::new(ClockMode::Deterministic { ns_per_insn: 2 });
        assert_eq!((d.time_at(5), d.time_at(5)), (10, 10));
    }

    #[test]
    fn waiting_halted_is_not_part_of_the_measured_speed() {
        let mut c = Clock::new(ClockMode::RealTime);
        c.sync_at(0, 0);
        c.sync_at(2 * SYNC_PERIOD_NS, SYNC_PERIOD_NS);
        assert_eq!(c.rate(), 2.0);
        std::thread::sleep(std::time::Duration::from_millis(2));
        c.sync_idle(2 * SYNC_PERIOD_NS + 10);
        let (_, h) = c.rate_from;
        assert!(h >= 2_000_000, "the measurement starts again after the wait");
        c.sync_at(2 * SYNC_PERIOD_NS + 10 + 3 * SYNC_PERIOD_NS, h + SYNC_PERIOD_NS);
        assert_eq!(c.rate(), 3.0);
    }

    #[test]
    fn a_device_access_syncs_once_per_instruction_in_real_time_mode() {
        let mut c = Clock::new(ClockMode::RealTime);
        c.sync(10);
        assert!(c.stale(10), "time passed since the sync, even at the same count");
        c.sync(10);
        c.mark_fresh(10);
        assert!(!c.stale(10), "the same instruction's next access");
        assert!(c.stale(11), "the next instruction's");
        c.sync(11);
        assert!(c.stale(10) && c.stale(11), "any sync drops the mark");
    }
}
