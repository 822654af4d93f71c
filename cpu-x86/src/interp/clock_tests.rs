//! The clock as the CPU drives it (see `emu_core::clock`): sync points every
//! `Clock::sync_interval` instructions, and in real-time mode a sync before every device access
//! (port I/O and MMIO), so a device reads the time of the instruction that reaches it.

use crate::cpu::Cpu;
use crate::flags::Size;
use crate::interp::Stop;
use crate::state::{attr, reg, Segment};
use emu_core::clock::{MAX_SYNC_INTERVAL, SYNC_INTERVAL};
use emu_core::{ClockHandle, ClockMode, Device, System};
use std::time::Duration;

/// A device whose register (at any offset) reads the guest time in ns; a write of `n` sets its
/// timer to be due `n` ns later, and the timer records when it ran.
struct TimeReg {
    clock: ClockHandle,
    due: Option<u64>,
    ran_at: Option<u64>,
}

impl Device for TimeReg {
    fn name(&self) -> &'static str {
        "time"
    }
    fn read(&mut self, _: u8, _: u64, _: u8) -> u32 {
        self.clock.now() as u32
    }
    fn write(&mut self, _: u8, _: u64, _: u8, v: u32) {
        self.due = Some(self.clock.now() + v as u64);
    }
    fn deadline(&self) -> Option<u64> {
        self.due
    }
    fn advance(&mut self, now: u64) {
        self.due = None;
        self.ran_at = Some(now);
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Where `TimeReg` is in the physical address space (below 1 MiB, for real mode).
const MMIO: u64 = 0xd_0000;
/// Its I/O port.
const PORT: u16 = 0x70;

/// A real-mode CPU running `code` at 0000:1000, with a `TimeReg` at port [`PORT`] and at
/// physical [`MMIO`].
fn cpu(mode: ClockMode, code: &[u8]) -> Cpu {
    let mut sys = System::new(1 << 20, mode).unwrap();
    let clock = sys.clock.handle();
    let id = sys.add_device(Box::new(TimeReg { clock, due: None, ran_at: None }));
    sys.map_io(PORT, 1, id, 0).unwrap();
    sys.map_mmio(MMIO, 0x1000, id, 0).unwrap();
    sys.write_bytes(0x1000, code);
    let mut cpu = Cpu::new(sys);
    cpu.s.segs[1] = Segment::real_mode(0, attr::REAL_MODE_CODE);
    cpu.s.eip = 0x1000;
    cpu
}

fn timer_ran_at(cpu: &mut Cpu) -> Option<u64> {
    cpu.sys.find_device::<TimeReg>().unwrap().ran_at
}

/// in eax, 70h; in eax, 70h
const TWO_INS: [u8; 6] = [0x66, 0xe5, 0x70, 0x66, 0xe5, 0x70];

#[test]
fn a_port_read_in_real_time_mode_sees_the_time_of_the_instruction() {
    let mut cpu = cpu(ClockMode::RealTime, &TWO_INS);
    cpu.sync_clock();
    let t0 = cpu.sys.clock.now();
    // Behind the CPU's back (no sync): a timer due in 100 us, and a sync point overdue, which
    // `step` (unlike `run`) does not make: only the sync at the device access can run the
    // timer and set the next sync point.
    cpu.sys.io_write(PORT, 4, 100_000);
    cpu.sys_deadline_icount = 0;
    std::thread::sleep(Duration::from_micros(300));
    cpu.step();
    let t1 = cpu.s.regs[reg::EAX] as u64;
    assert!(t1 >= t0 + 300_000, "the device read the time after the sleep ({t0} then {t1})");
    assert_eq!(cpu.sys.clock.now(), t1, "the clock itself was synced, not just read");
    let ran = timer_ran_at(&mut cpu).expect("the timer due before the IN ran at its sync");
    assert!(ran >= t0 + 100_000 && ran <= t1);
    assert!(cpu.sys_deadline_icount >= SYNC_INTERVAL, "a full sync point: the next one was set");
    std::thread::sleep(Duration::from_micros(300));
    cpu.step();
    assert!(cpu.s.regs[reg::EAX] as u64 >= t1 + 300_000, "and the next instruction again");
}

#[test]
fn a_port_read_in_deterministic_mode_sees_the_last_sync_point() {
    let mut cpu = cpu(ClockMode::Deterministic { ns_per_insn: 1 }, &TWO_INS);
    cpu.sync_clock();
    cpu.step();
    cpu.step();
    assert_eq!(cpu.s.regs[reg::EAX], 0, "no sync at the device: sync points depend on icount alone");
    assert_eq!(cpu.sys_deadline_icount, SYNC_INTERVAL);
}

#[test]
fn an_mmio_read_in_real_time_mode_sees_fresh_time_and_runs_due_timers() {
    let mut cpu = cpu(ClockMode::RealTime, &[]);
    cpu.sync_clock();
    let t0 = cpu.sys.clock.now();
    cpu.sys.io_write(PORT, 4, 100_000); // behind the CPU's back: no sync
    std::thread::sleep(Duration::from_micros(300));
    let t1 = cpu.read_lin(MMIO as u32, Size::D).unwrap() as u64;
    assert!(t1 >= t0 + 300_000, "the device read the time after the sleep ({t0} then {t1})");
    let ran = timer_ran_at(&mut cpu).expect("the timer due before the access ran at its sync");
    assert!(ran >= t0 + 100_000 && ran <= t1);
}

#[test]
fn a_port_write_in_real_time_mode_runs_timers_due_by_then() {
    // out 70h, al
    let mut cpu = cpu(ClockMode::RealTime, &[0xe6, 0x70]);
    cpu.sync_clock();
    let due = cpu.sys.clock.now() + 50_000;
    cpu.sys.io_write(PORT, 4, 50_000);
    std::thread::sleep(Duration::from_micros(200));
    cpu.step();
    assert!(timer_ran_at(&mut cpu).is_some_and(|t| t >= due), "the timer ran before the OUT");
}

#[test]
fn real_time_sync_points_follow_the_guest_speed_within_bounds() {
    // jmp $ (forever, never touching a device).
    let mut cpu = cpu(ClockMode::RealTime, &[0xeb, 0xfe]);
    let start = std::time::Instant::now();
    let mut longest = 0;
    while start.elapsed() < Duration::from_millis(20) {
        let before = cpu.s.icount;
        cpu.sync_clock();
        let n = cpu.sys_deadline_icount - before;
        assert!((SYNC_INTERVAL..=MAX_SYNC_INTERVAL).contains(&n), "interval {n}");
        longest = longest.max(n);
        assert_eq!(cpu.run(n), Stop::Budget);
        assert_eq!(cpu.s.icount, cpu.sys_deadline_icount, "ran up to the next sync point");
    }
    // The interpreter runs `jmp $` at tens of millions of instructions a second at least, so
    // more than the shortest interval in a sync period.
    assert!(cpu.sys.clock.rate() > 0.0, "the speed was measured");
    assert!(longest > SYNC_INTERVAL, "the interval grew with the speed ({longest})");
    // A port write that programs a timer a second away changes nothing; one due in a
    // nanosecond brings the next sync point down to the shortest interval.
    cpu.port_write(PORT, Size::D, 1_000_000_000);
    let n = cpu.sys_deadline_icount - cpu.s.icount;
    assert_eq!(n, cpu.sys.clock.sync_interval(u64::MAX), "the sync at the write set the interval");
    cpu.port_write(PORT, Size::D, 1);
    assert_eq!(cpu.sys_deadline_icount - cpu.s.icount, SYNC_INTERVAL, "the deadline set by the write counts");
}
