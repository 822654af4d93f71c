//! The Motorola MC146818A real-time clock with its CMOS RAM, as every PC chipset integrates it.
//!
//! **Ports:** 0x70 (write only): bits 6-0 select one of 128 bytes, bit 7 set disables NMI; 0x71:
//! the selected byte. Reads of 0x70 return 0xFF.
//!
//! | index     | register                                                            |
//! |-----------|---------------------------------------------------------------------|
//! | 0x00-0x05 | seconds, seconds alarm, minutes, minutes alarm, hours, hours alarm  |
//! | 0x06-0x09 | day of week (1 = Sunday), date of month, month, year (00-99)        |
//! | 0x0A      | register A: UIP (7, read only), DV2-DV0 divider (6-4), RS3-RS0 rate (3-0) |
//! | 0x0B      | register B: SET, PIE, AIE, UIE, SQWE, DM (1 = binary), 24/12, DSE    |
//! | 0x0C      | register C (read only, cleared by reading): IRQF, PF, AF, UF         |
//! | 0x0D      | register D (read only): VRT = 1                                      |
//! | 0x32      | century, in the time registers' format (as PC firmware and ACPI use it) |
//! | 0x0E-0x7F | battery-backed RAM, plain storage (see [`CmosConfig`] for the fields firmware reads) |
//!
//! **Time:** the clock starts at a Unix time given at construction (the host's time, or a fixed
//! date in deterministic mode) and then follows the virtual clock: with the divider running
//! (DV ≠ 11x) an update cycle happens once per second of guest time, the first 1 s after
//! power-on or 500 ms after the divider leaves reset. UIP reads 1 for the 244 µs before each
//! update; the update itself is instantaneous at the end of that window. SET stops updates (and
//! clears UIE and UIP); time written meanwhile is taken as written. An update sets UF, and AF
//! when the seconds, minutes and hours alarm bytes each match the time or are "don't care"
//! (11xxxxxx). PF is set at the rate RS selects (RS = 1, 2 give 256 and 128 Hz as on the chip's
//! 32.768 kHz base; 3-15 give 8192 Hz down to 2 Hz), counted from when the divider left reset.
//! IRQ 8 is high while IRQF is set (a flag with its enable bit), until register C is read. The
//! device asks to be advanced only for the events whose interrupts are enabled; flags without
//! their enable bits are computed when the guest reads register C.
//!
//! **Not emulated:** daylight saving (DSE is stored, no effect); the square-wave output (SQWE); the
//! divider's other crystal selections (DV = 000/001 run as 32.768 kHz); the 1984 µs during which
//! the chip's time registers are unreadable (the update is instantaneous). The time is kept as
//! numbers and encoded on every read, so switching DM or 24/12 reads the same time in the new
//! format, where the chip would need the time rewritten; writes to the day of week are stored but
//! the day of week is recomputed from the date when more than two days pass at once. NMI masking
//! is recorded ([`Mc146818::nmi_disabled`]) for a board that wires NMI.

use std::any::Any;

use emu_core::{ClockHandle, Device, Lines};

/// The index port; the data port is the next one.
pub const RTC_PORT: u16 = 0x70;
/// Ports the RTC decodes.
pub const RTC_PORTS: u16 = 2;
/// The RTC's IRQ line.
pub const RTC_IRQ: u8 = 8;

// Register indices.
pub const REG_SECONDS: u8 = 0x00;
pub const REG_SECONDS_ALARM: u8 = 0x01;
pub const REG_MINUTES: u8 = 0x02;
pub const REG_MINUTES_ALARM: u8 = 0x03;
pub const REG_HOURS: u8 = 0x04;
pub const REG_HOURS_ALARM: u8 = 0x05;
pub const REG_DAY_OF_WEEK: u8 = 0x06;
pub const REG_DAY_OF_MONTH: u8 = 0x07;
pub const REG_MONTH: u8 = 0x08;
pub const REG_YEAR: u8 = 0x09;
pub const REG_A: u8 = 0x0a;
pub const REG_B: u8 = 0x0b;
pub const REG_C: u8 = 0x0c;
pub const REG_D: u8 = 0x0d;
pub const REG_CENTURY: u8 = 0x32;

/// Index port bit 7: NMI disabled.
pub const NMI_DISABLE: u8 = 0x80;

// Register A.
pub const A_UIP: u8 = 0x80;
pub const A_DV: u8 = 0x70;
pub const A_RS: u8 = 0x0f;
/// DV = 010: 32.768 kHz time base, divider running.
pub const A_DV_32KHZ: u8 = 0x20;

// Register B.
pub const B_SET: u8 = 0x80;
pub const B_PIE: u8 = 0x40;
pub const B_AIE: u8 = 0x20;
pub const B_UIE: u8 = 0x10;
pub const B_SQWE: u8 = 0x08;
pub const B_DM_BINARY: u8 = 0x04;
pub const B_24H: u8 = 0x02;
pub const B_DSE: u8 = 0x01;

// Register C.
pub const C_IRQF: u8 = 0x80;
pub const C_PF: u8 = 0x40;
pub const C_AF: u8 = 0x20;
pub const C_UF: u8 = 0x10;

// Register D.
pub const D_VRT: u8 = 0x80;

/// How long UIP is set before an update: 8 cycles of 32.768 kHz (244.140625 µs).
pub const UIP_NS: u64 = 244_141;
const SECOND_NS: u64 = 1_000_000_000;
const HALF_SECOND_NS: u64 = 500_000_000;
const BASE_HZ: u128 = 32_768;
const DAY_SECS: u64 = 86_400;

/// Register A as firmware leaves it: divider running, 1024 Hz periodic rate.
const POWER_ON_A: u8 = A_DV_32KHZ | 0x06;
/// Register B as firmware leaves it: 24-hour BCD, no interrupts.
const POWER_ON_B: u8 = B_24H;

/// The clock's counters, as numbers (the registers show them in BCD or binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Calendar {
    sec: u8,
    min: u8,
    hour: u8,
    /// 1 = Sunday.
    wday: u8,
    mday: u8,
    month: u8,
    /// 0-99.
    year: u8,
    century: u8,
}

impl Calendar {
    fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(DAY_SECS as i64);
        let rem = secs.rem_euclid(DAY_SECS as i64);
        let (y, m, d) = civil_from_days(days);
        let y = y.clamp(0, 9999);
        Calendar {
            sec: (rem % 60) as u8,
            min: (rem / 60 % 60) as u8,
            hour: (rem / 3600) as u8,
            wday: ((days + 4).rem_euclid(7) + 1) as u8,
            mday: d as u8,
            month: m as u8,
            year: (y % 100) as u8,
            century: (y / 100) as u8,
        }
    }

    /// Seconds since 1970, with out-of-range fields clamped.
    fn to_unix(self) -> i64 {
        let y = self.century as i64 * 100 + self.year.min(99) as i64;
        let days = days_from_civil(y, self.month.clamp(1, 12) as i64, self.mday.clamp(1, 31) as i64);
        days * DAY_SECS as i64
            + self.hour.min(23) as i64 * 3600
            + self.min.min(59) as i64 * 60
            + self.sec.min(59) as i64
    }

    fn full_year(self) -> i64 {
        self.century as i64 * 100 + self.year as i64
    }

    /// One update cycle's increment, with the chip's carries (and its leap-year rule extended
    /// to the Gregorian one through the century byte).
    fn tick(&mut self) {
        self.sec += 1;
        if self.sec < 60 {
            return;
        }
        self.sec = 0;
        self.min += 1;
        if self.min < 60 {
            return;
        }
        self.min = 0;
        self.hour += 1;
        if self.hour < 24 {
            return;
        }
        self.hour = 0;
        self.wday = if self.wday >= 7 { 1 } else { self.wday + 1 };
        self.mday += 1;
        if self.mday <= days_in_month(self.full_year(), self.month) {
            return;
        }
        self.mday = 1;
        self.month += 1;
        if self.month <= 12 {
            return;
        }
        self.month = 1;
        self.year += 1;
        if self.year >= 100 {
            self.year = 0;
            self.century = self.century.wrapping_add(1);
        }
    }
}

fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// The MC146818 RTC and CMOS RAM. See the module documentation.
pub struct Mc146818 {
    lines: Lines,
    clock: ClockHandle,
    index: u8,
    nmi_disabled: bool,
    /// Registers A and B, the alarm bytes and the battery-backed RAM, by index. The time
    /// registers, C and D are computed.
    ram: [u8; 128],
    cal: Calendar,
    /// When the divider chain last left reset: the periodic interrupt's grid counts from here.
    div_origin: u64,
    /// When the next update cycle ends; `None` while the divider is held in reset.
    next_update: Option<u64>,
    /// Up to when the flags have been brought.
    synced_to: u64,
    /// Register C's PF, AF and UF.
    flags: u8,
    irq: bool,
}

impl Mc146818 {
    /// An RTC whose clock reads `start_unix_secs` (UTC) at guest time 0, driving IRQ 8 on
    /// `lines`, with registers A and B as firmware leaves them (divider running, 1024 Hz rate
    /// selected, 24-hour BCD, no interrupts) and the NVRAM zeroed.
    pub fn new(start_unix_secs: u64, lines: Lines, clock: ClockHandle) -> Self {
        let mut ram = [0u8; 128];
        ram[REG_A as usize] = POWER_ON_A;
        ram[REG_B as usize] = POWER_ON_B;
        let now = clock.now();
        Mc146818 {
            lines,
            clock,
            index: 0,
            nmi_disabled: false,
            ram,
            cal: Calendar::from_unix(start_unix_secs.min(i64::MAX as u64) as i64),
            div_origin: now,
            next_update: Some(now + SECOND_NS),
            synced_to: now,
            flags: 0,
            irq: false,
        }
    }

    /// The clock's time as Unix seconds (out-of-range register values clamped).
    pub fn unix_time(&mut self) -> i64 {
        self.sync(self.clock.now());
        self.cal.to_unix()
    }

    /// Whether the last index write had bit 7 set (NMI disabled).
    pub fn nmi_disabled(&self) -> bool {
        self.nmi_disabled
    }

    /// A byte of the battery-backed RAM (0x0E-0x7F); other indices read 0.
    pub fn nvram(&self, index: u8) -> u8 {
        match index {
            0x0e..=0x7f if index != REG_CENTURY => self.ram[index as usize],
            _ => 0,
        }
    }

    /// Sets a byte of the battery-backed RAM (0x0E-0x7F, not the century byte); others ignored.
    pub fn set_nvram(&mut self, index: u8, value: u8) {
        if (0x0e..=0x7f).contains(&index) && index != REG_CENTURY {
            self.ram[index as usize] = value;
        }
    }

    /// Recomputes the standard checksum: the sum of 0x10-0x2D, big-endian at 0x2E/0x2F.
    pub fn update_checksum(&mut self) {
        let sum: u16 = self.ram[0x10..=0x2d].iter().map(|&b| b as u16).sum();
        self.ram[0x2e] = (sum >> 8) as u8;
        self.ram[0x2f] = sum as u8;
    }

    fn reg_a(&self) -> u8 {
        self.ram[REG_A as usize]
    }

    fn reg_b(&self) -> u8 {
        self.ram[REG_B as usize]
    }

    fn divider_running(&self) -> bool {
        self.reg_a() & 0x60 != 0x60
    }

    /// The periodic interrupt's period in 32.768 kHz cycles, if RS selects one.
    fn periodic_cycles(&self) -> Option<u64> {
        match self.reg_a() & A_RS {
            0 => None,
            rs @ (1 | 2) => Some(1 << (rs + 6)),
            rs => Some(1 << (rs - 1)),
        }
    }

    /// Whole 32.768 kHz cycles from the divider's origin to `t`.
    fn cycles_at(&self, t: u64) -> u64 {
        (t.saturating_sub(self.div_origin) as u128 * BASE_HZ / SECOND_NS as u128) as u64
    }

    /// The guest time at which cycle `n` after the origin begins.
    fn time_of_cycle(&self, n: u64) -> u64 {
        let ns = (n as u128 * SECOND_NS as u128).div_ceil(BASE_HZ);
        self.div_origin.saturating_add(ns.min(u64::MAX as u128) as u64)
    }

    fn next_periodic(&self, now: u64) -> Option<u64> {
        let p = self.periodic_cycles().filter(|_| self.divider_running())?;
        Some(self.time_of_cycle((self.cycles_at(now) / p + 1) * p))
    }

    /// Brings the clock and the flags up to guest time `now`.
    fn sync(&mut self, now: u64) {
        if now <= self.synced_to {
            return;
        }
        if let Some(p) = self.periodic_cycles().filter(|_| self.divider_running()) {
            if self.cycles_at(now) / p > self.cycles_at(self.synced_to) / p {
                self.flags |= C_PF;
            }
        }
        if let Some(mut t) = self.next_update.filter(|&t| t <= now) {
            let set = self.reg_b() & B_SET != 0;
            let due = (now - t) / SECOND_NS + 1;
            if due > 2 * DAY_SECS {
                // A long jump: go most of the way at once; the last day's updates run one by
                // one, so the alarm sees every time of day.
                let skip = due - DAY_SECS;
                if !set {
                    let wday_unknown = Calendar::from_unix(self.cal.to_unix() + skip as i64);
                    self.cal = wday_unknown;
                    self.flags |= C_UF;
                }
                t += skip * SECOND_NS;
            }
            while t <= now {
                if !set {
                    self.cal.tick();
                    self.flags |= C_UF;
                    if self.alarm_matches() {
                        self.flags |= C_AF;
                    }
                }
                t += SECOND_NS;
            }
            self.next_update = Some(t);
        }
        self.synced_to = now;
    }

    fn alarm_matches(&self) -> bool {
        let hit = |alarm: u8, value: u8| alarm & 0xc0 == 0xc0 || alarm == value;
        hit(self.ram[REG_SECONDS_ALARM as usize], self.encode(self.cal.sec))
            && hit(self.ram[REG_MINUTES_ALARM as usize], self.encode(self.cal.min))
            && hit(self.ram[REG_HOURS_ALARM as usize], self.encode_hour(self.cal.hour))
    }

    fn binary(&self) -> bool {
        self.reg_b() & B_DM_BINARY != 0
    }

    fn encode(&self, v: u8) -> u8 {
        if self.binary() {
            v
        } else {
            ((v / 10) << 4) | (v % 10)
        }
    }

    fn decode(&self, b: u8) -> u8 {
        if self.binary() {
            b
        } else {
            (b >> 4) * 10 + (b & 0x0f)
        }
    }

    fn encode_hour(&self, h: u8) -> u8 {
        if self.reg_b() & B_24H != 0 {
            return self.encode(h);
        }
        let pm = if h >= 12 { 0x80 } else { 0 };
        let h12 = match h % 12 {
            0 => 12,
            h => h,
        };
        self.encode(h12) | pm
    }

    fn decode_hour(&self, b: u8) -> u8 {
        if self.reg_b() & B_24H != 0 {
            return self.decode(b);
        }
        let h12 = self.decode(b & 0x7f) % 12;
        h12 + if b & 0x80 != 0 { 12 } else { 0 }
    }

    fn uip(&self, now: u64) -> bool {
        self.reg_b() & B_SET == 0 && self.next_update.is_some_and(|t| now.saturating_add(UIP_NS) >= t)
    }

    fn update_irq(&mut self) {
        let level = self.flags & self.reg_b() & (C_PF | C_AF | C_UF) != 0;
        if level != self.irq {
            self.irq = level;
            self.lines.set_irq(RTC_IRQ, level);
        }
    }

    fn read_reg(&mut self, index: u8, now: u64) -> u8 {
        let c = self.cal;
        match index {
            REG_SECONDS => self.encode(c.sec),
            REG_MINUTES => self.encode(c.min),
            REG_HOURS => self.encode_hour(c.hour),
            REG_DAY_OF_WEEK => self.encode(c.wday),
            REG_DAY_OF_MONTH => self.encode(c.mday),
            REG_MONTH => self.encode(c.month),
            REG_YEAR => self.encode(c.year),
            REG_CENTURY => self.encode(c.century),
            REG_A => self.reg_a() | if self.uip(now) { A_UIP } else { 0 },
            REG_C => {
                let mut c = self.flags;
                if self.irq {
                    c |= C_IRQF;
                }
                self.flags = 0;
                c
            }
            REG_D => D_VRT,
            _ => self.ram[index as usize],
        }
    }

    fn write_reg(&mut self, index: u8, value: u8, now: u64) {
        match index {
            REG_SECONDS => self.cal.sec = self.decode(value),
            REG_MINUTES => self.cal.min = self.decode(value),
            REG_HOURS => self.cal.hour = self.decode_hour(value),
            REG_DAY_OF_WEEK => self.cal.wday = self.decode(value),
            REG_DAY_OF_MONTH => self.cal.mday = self.decode(value),
            REG_MONTH => self.cal.month = self.decode(value),
            REG_YEAR => self.cal.year = self.decode(value),
            REG_CENTURY => self.cal.century = self.decode(value),
            REG_A => {
                let was_running = self.divider_running();
                self.ram[REG_A as usize] = value & !A_UIP;
                match (was_running, self.divider_running()) {
                    (true, false) => self.next_update = None,
                    (false, true) => {
                        self.div_origin = now;
                        self.next_update = Some(now + HALF_SECOND_NS);
                    }
                    _ => {}
                }
            }
            REG_B => {
                let mut value = value;
                if value & B_SET != 0 {
                    value &= !B_UIE;
                }
                self.ram[REG_B as usize] = value;
            }
            REG_C | REG_D => {} // read only
            _ => self.ram[index as usize] = value,
        }
    }
}

impl Device for Mc146818 {
    fn name(&self) -> &'static str {
        "MC146818 RTC/CMOS"
    }

    /// The chip's RESET input: register B's interrupt enables and SQWE and register C's flags
    /// clear, so IRQ 8 goes low. The clock, the calendar and the battery-backed RAM run on.
    fn reset(&mut self) {
        self.sync(self.clock.now());
        self.ram[REG_B as usize] &= !(B_PIE | B_AIE | B_UIE | B_SQWE);
        self.flags = 0;
        self.update_irq();
    }

    fn read(&mut self, _region: u8, offset: u64, _size: u8) -> u32 {
        match offset {
            1 => {
                let now = self.clock.now();
                self.sync(now);
                let v = self.read_reg(self.index, now);
                self.update_irq();
                0xffff_ff00 | v as u32
            }
            _ => emu_core::device::OPEN_BUS, // the index register is write-only
        }
    }

    fn write(&mut self, _region: u8, offset: u64, _size: u8, value: u32) {
        let value = value as u8;
        match offset {
            0 => {
                self.index = value & 0x7f;
                self.nmi_disabled = value & NMI_DISABLE != 0;
            }
            1 => {
                let now = self.clock.now();
                self.sync(now);
                self.write_reg(self.index, value, now);
                self.update_irq();
            }
            _ => {}
        }
    }

    fn deadline(&self) -> Option<u64> {
        if self.irq {
            return None; // the line stays high until register C is read
        }
        let b = self.reg_b();
        let periodic = if b & B_PIE != 0 { self.next_periodic(self.synced_to) } else { None };
        let update = if b & (B_UIE | B_AIE) != 0 && b & B_SET == 0 { self.next_update } else { None };
        [periodic, update].into_iter().flatten().min()
    }

    fn advance(&mut self, now_ns: u64) {
        self.sync(now_ns.max(self.clock.now()));
        self.update_irq();
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A floppy drive type as CMOS byte 0x10 codes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FloppyType {
    #[default]
    None = 0,
    Kb360 = 1,
    Mb1_2 = 2,
    Kb720 = 3,
    Mb1_44 = 4,
    Mb2_88 = 5,
}

/// A hard disk's logical geometry for the CMOS user-defined type (47).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskGeometry {
    pub cylinders: u16,
    pub heads: u8,
    pub sectors: u8,
}

/// A boot device as SeaBIOS's CMOS boot order names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootDevice {
    Floppy = 1,
    HardDisk = 2,
    CdRom = 3,
    Network = 4,
}

/// The NVRAM fields PC firmware (our BIOS, SeaBIOS) reads, and how to write them.
///
/// | index       | field                                                                 |
/// |-------------|-----------------------------------------------------------------------|
/// | 0x10        | floppy types: drive 0 in the high nibble, drive 1 in the low           |
/// | 0x12        | hard disk types: 0xF = see 0x19 (disk 0) / 0x1A (disk 1), type 47       |
/// | 0x14        | equipment: bits 7-6 floppies - 1, 5-4 display (00 = VGA), 1 FPU, 0 floppy |
/// | 0x15/0x16   | base memory in KiB (640)                                               |
/// | 0x17/0x18   | extended memory above 1 MiB in KiB, at most 0xFFFF (also at 0x30/0x31)  |
/// | 0x1B-0x23   | disk 0 type 47 geometry: cylinders, heads, write precomp, control, landing zone, sectors |
/// | 0x24-0x2C   | the same for disk 1                                                    |
/// | 0x2E/0x2F   | checksum of 0x10-0x2D, high byte first                                 |
/// | 0x34/0x35   | memory above 16 MiB (below 4 GiB) in 64 KiB units, at most 0xFFFF       |
/// | 0x38        | SeaBIOS: bits 7-4 third boot device; bit 0 = 1 skips the floppy signature check |
/// | 0x3D        | SeaBIOS: bits 3-0 first boot device, bits 7-4 second (1 floppy, 2 disk, 3 CD, 4 network) |
/// | 0x5B-0x5D   | SeaBIOS: memory above 4 GiB in 64 KiB units, low byte first             |
/// | 0x5F        | SeaBIOS: number of CPUs - 1                                            |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmosConfig {
    /// RAM below 4 GiB in bytes, from address 0 (so including the 640 KiB of base memory).
    pub ram_below_4g: u64,
    /// RAM mapped from 4 GiB up, in bytes.
    pub ram_above_4g: u64,
    pub floppies: [FloppyType; 2],
    pub hard_disks: [Option<DiskGeometry>; 2],
    /// Up to three devices, first choice first.
    pub boot_order: Vec<BootDevice>,
    /// Whether to boot from a floppy whose boot sector lacks the 0x55AA signature (SeaBIOS checks
    /// unless told not to).
    pub check_floppy_signature: bool,
    pub cpu_count: u8,
    pub fpu: bool,
}

impl Default for CmosConfig {
    fn default() -> Self {
        CmosConfig {
            ram_below_4g: 0,
            ram_above_4g: 0,
            floppies: [FloppyType::None; 2],
            hard_disks: [None; 2],
            boot_order: vec![BootDevice::HardDisk, BootDevice::CdRom, BootDevice::Floppy],
            check_floppy_signature: true,
            cpu_count: 1,
            fpu: true,
        }
    }
}

impl CmosConfig {
    /// Writes the fields into `rtc`'s NVRAM and updates the checksum.
    pub fn apply(&self, rtc: &mut Mc146818) {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        let set16 = |rtc: &mut Mc146818, index: u8, v: u16| {
            rtc.set_nvram(index, v as u8);
            rtc.set_nvram(index + 1, (v >> 8) as u8);
        };
        set16(rtc, 0x15, 640);
        let ext_kib = (self.ram_below_4g.saturating_sub(MIB) / KIB).min(0xffff) as u16;
        set16(rtc, 0x17, ext_kib);
        set16(rtc, 0x30, ext_kib);
        let above_16m = (self.ram_below_4g.saturating_sub(16 * MIB) / (64 * KIB)).min(0xffff) as u16;
        set16(rtc, 0x34, above_16m);
        let above_4g = (self.ram_above_4g / (64 * KIB)).min(0xff_ffff);
        rtc.set_nvram(0x5b, above_4g as u8);
        rtc.set_nvram(0x5c, (above_4g >> 8) as u8);
        rtc.set_nvram(0x5d, (above_4g >> 16) as u8);

        rtc.set_nvram(0x10, (self.floppies[0] as u8) << 4 | self.floppies[1] as u8);
        let n_floppies = self.floppies.iter().filter(|&&f| f != FloppyType::None).count() as u8;
        let mut equipment = if self.fpu { 0x02 } else { 0 };
        if n_floppies > 0 {
            equipment |= 0x01 | (n_floppies - 1) << 6;
        }
        rtc.set_nvram(0x14, equipment);

        let mut disk_types = 0u8;
        for (i, disk) in self.hard_disks.iter().enumerate() {
            let (type_index, geometry_base, shift) = [(0x19u8, 0x1bu8, 4u8), (0x1a, 0x24, 0)][i];
            match disk {
                Some(g) => {
                    disk_types |= 0x0f << shift;
                    rtc.set_nvram(type_index, 47);
                    set16(rtc, geometry_base, g.cylinders);
                    rtc.set_nvram(geometry_base + 2, g.heads);
                    set16(rtc, geometry_base + 3, 0xffff); // no write precompensation
                    rtc.set_nvram(geometry_base + 5, if g.heads > 8 { 0x08 } else { 0 });
                    set16(rtc, geometry_base + 6, g.cylinders);
                    rtc.set_nvram(geometry_base + 8, g.sectors);
                }
                None => {
                    rtc.set_nvram(type_index, 0);
                    for j in 0..9 {
                        rtc.set_nvram(geometry_base + j, 0);
                    }
                }
            }
        }
        rtc.set_nvram(0x12, disk_types);

        let order: Vec<u8> = self.boot_order.iter().take(3).map(|&d| d as u8).collect();
        let nth = |i: usize| order.get(i).copied().unwrap_or(0);
        rtc.set_nvram(0x3d, nth(1) << 4 | nth(0));
        rtc.set_nvram(0x38, nth(2) << 4 | if self.check_floppy_signature { 0 } else { 1 });
        rtc.set_nvram(0x5f, self.cpu_count.max(1) - 1);
        rtc.update_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-28 23:59:58 UTC, a Wednesday.
    const START: u64 = 1_709_164_798;

    struct Bench {
        rtc: Mc146818,
        lines: Lines,
        clock: ClockHandle,
    }

    impl Bench {
        fn new() -> Self {
            Self::at(START)
        }
        fn at(start: u64) -> Self {
            let (lines, clock) = (Lines::new(), ClockHandle::manual());
            let rtc = Mc146818::new(start, lines.clone(), clock.clone());
            Bench { rtc, lines, clock }
        }
        fn rd(&mut self, index: u8) -> u8 {
            self.rtc.write(0, 0, 1, (index | NMI_DISABLE) as u32);
            self.rtc.read(0, 1, 1) as u8
        }
        fn wr(&mut self, index: u8, value: u8) {
            self.rtc.write(0, 0, 1, index as u32);
            self.rtc.write(0, 1, 1, value as u32);
        }
        fn irq(&self) -> bool {
            self.lines.irq_levels() & (1 << RTC_IRQ) != 0
        }
        /// Moves time to `t`, advancing the RTC at each deadline on the way; returns the
        /// deadlines it was advanced at.
        fn run_until(&mut self, t: u64) -> Vec<u64> {
            let mut at = Vec::new();
            while let Some(d) = self.rtc.deadline().filter(|&d| d <= t) {
                self.clock.set(d);
                self.rtc.advance(d);
                at.push(d);
                if self.rtc.deadline() == Some(d) {
                    break;
                }
            }
            self.clock.set(t);
            at
        }
        fn time(&mut self) -> [u8; 8] {
            [REG_SECONDS, REG_MINUTES, REG_HOURS, REG_DAY_OF_WEEK, REG_DAY_OF_MONTH, REG_MONTH, REG_YEAR, REG_CENTURY]
                .map(|r| self.rd(r))
        }
    }

    #[test]
    fn bcd_time_advances_with_guest_time_through_a_leap_day() {
        let mut b = Bench::new();
        assert_eq!(b.time(), [0x58, 0x59, 0x23, 4, 0x28, 0x02, 0x24, 0x20]);
        b.run_until(SECOND_NS - 1);
        assert_eq!(b.rd(REG_SECONDS), 0x58);
        b.run_until(2 * SECOND_NS);
        assert_eq!(b.time(), [0x00, 0x00, 0x00, 5, 0x29, 0x02, 0x24, 0x20]);
        assert_eq!(b.rtc.unix_time(), START as i64 + 2);
        assert!(b.rtc.nmi_disabled());
        assert_eq!(b.rd(REG_D), D_VRT);
        assert_eq!(b.rtc.read(0, 0, 1), 0xffff_ffff); // the index port is write-only
    }

    #[test]
    fn binary_and_12_hour_modes() {
        let mut b = Bench::at(1_700_000_000); // 2023-11-14 22:13:20 UTC
        b.wr(REG_B, B_DM_BINARY | B_24H);
        assert_eq!(b.time(), [20, 13, 22, 3, 14, 11, 23, 20]);
        b.wr(REG_B, B_DM_BINARY);
        assert_eq!(b.rd(REG_HOURS), 0x80 | 10); // 10 PM
        b.wr(REG_B, 0);
        assert_eq!(b.rd(REG_HOURS), 0x80 | 0x10);
        b.wr(REG_B, B_SET);
        b.wr(REG_HOURS, 0x12); // 12 AM = midnight
        b.wr(REG_B, B_24H);
        assert_eq!(b.rd(REG_HOURS), 0x00);
        b.wr(REG_B, B_SET);
        b.wr(REG_HOURS, 0x80 | 0x12); // 12 PM = noon
        b.wr(REG_B, B_24H);
        assert_eq!(b.rd(REG_HOURS), 0x12);
    }

    #[test]
    fn set_stops_updates_and_guest_writes_take_effect() {
        let mut b = Bench::new();
        b.wr(REG_B, B_SET | B_UIE | B_24H);
        assert_eq!(b.rd(REG_B), B_SET | B_24H); // SET clears UIE
        for (r, v) in [(REG_SECONDS, 0x30), (REG_MINUTES, 0x15), (REG_HOURS, 0x09), (REG_DAY_OF_MONTH, 0x01)] {
            b.wr(r, v);
        }
        b.wr(REG_MONTH, 0x07);
        b.wr(REG_YEAR, 0x99);
        b.wr(REG_CENTURY, 0x19);
        b.run_until(5 * SECOND_NS);
        assert_eq!(b.rd(REG_SECONDS), 0x30); // no updates while SET
        assert_eq!(b.rd(REG_A) & A_UIP, 0);
        b.wr(REG_B, B_24H);
        b.run_until(6 * SECOND_NS);
        assert_eq!(b.rd(REG_SECONDS), 0x31);
        assert_eq!(b.rtc.unix_time(), 930_820_531); // 1999-07-01 09:15:31
    }

    #[test]
    fn uip_is_set_for_the_244_us_before_each_update() {
        let mut b = Bench::new();
        b.run_until(SECOND_NS - UIP_NS - 1);
        assert_eq!(b.rd(REG_A), POWER_ON_A);
        b.run_until(SECOND_NS - UIP_NS);
        assert_eq!(b.rd(REG_A), POWER_ON_A | A_UIP);
        assert_eq!(b.rd(REG_SECONDS), 0x58); // not updated yet
        b.run_until(SECOND_NS - 1);
        assert_eq!(b.rd(REG_A) & A_UIP, A_UIP);
        b.run_until(SECOND_NS);
        assert_eq!(b.rd(REG_A), POWER_ON_A);
        assert_eq!(b.rd(REG_SECONDS), 0x59);
        // The divider held in reset: no updates, no UIP; released, the first update is 500 ms on.
        b.wr(REG_A, 0x70);
        b.run_until(3 * SECOND_NS);
        assert_eq!(b.rd(REG_A), 0x70);
        assert_eq!(b.rd(REG_SECONDS), 0x59);
        b.wr(REG_A, POWER_ON_A);
        b.run_until(3 * SECOND_NS + HALF_SECOND_NS - 1);
        assert_eq!(b.rd(REG_SECONDS), 0x59);
        b.run_until(3 * SECOND_NS + HALF_SECOND_NS);
        assert_eq!(b.rd(REG_SECONDS), 0x00);
    }

    #[test]
    fn periodic_interrupt_rates() {
        for (rs, period_ns) in [(6u8, 976_562.5f64), (3, 122_070.3125), (15, 5e8), (1, 3_906_250.0), (2, 7_812_500.0)] {
            let mut b = Bench::new();
            b.wr(REG_A, A_DV_32KHZ | rs);
            b.wr(REG_B, B_24H | B_PIE);
            let mut edges = Vec::new();
            for _ in 0..4 {
                let d = b.rtc.deadline().unwrap();
                b.run_until(d);
                assert!(b.irq(), "rs {rs}");
                assert_eq!(b.rd(REG_C) & (C_IRQF | C_PF), C_IRQF | C_PF);
                assert!(!b.irq());
                edges.push(d);
            }
            for (i, &t) in edges.iter().enumerate() {
                assert_eq!(t, ((i + 1) as f64 * period_ns).ceil() as u64, "rs {rs} edge {i}");
            }
        }
    }

    #[test]
    fn periodic_flag_without_interrupt_and_no_deadline() {
        let mut b = Bench::new();
        b.rd(REG_C);
        assert_eq!(b.rtc.deadline(), None); // PIE off: nothing to schedule
        b.run_until(1_000_000);
        assert_eq!(b.rd(REG_C), C_PF); // the 1024 Hz flag, no IRQF
        assert_eq!(b.rd(REG_C), 0); // read clears
        b.run_until(1_000_100);
        assert_eq!(b.rd(REG_C), 0);
        assert!(!b.irq());
    }

    #[test]
    fn update_ended_interrupt_once_per_second() {
        let mut b = Bench::new();
        b.wr(REG_B, B_24H | B_UIE);
        assert_eq!(b.rtc.deadline(), Some(SECOND_NS));
        b.run_until(SECOND_NS - 1);
        assert!(!b.irq());
        b.run_until(SECOND_NS);
        assert!(b.irq());
        assert_eq!(b.rtc.deadline(), None); // the line stays high until C is read
        let c = b.rd(REG_C);
        assert_eq!(c & (C_IRQF | C_UF), C_IRQF | C_UF);
        assert!(!b.irq());
        assert_eq!(b.rtc.deadline(), Some(2 * SECOND_NS));
        // A flag already set when its enable bit is turned on raises the line at once.
        b.wr(REG_B, B_24H);
        b.run_until(3 * SECOND_NS);
        assert!(!b.irq());
        b.wr(REG_B, B_24H | B_UIE);
        assert!(b.irq());
    }

    #[test]
    fn alarm_interrupt_with_dont_care_bytes() {
        let mut b = Bench::new(); // 23:59:58
        b.wr(REG_SECONDS_ALARM, 0x05);
        b.wr(REG_MINUTES_ALARM, 0x00);
        b.wr(REG_HOURS_ALARM, 0x00);
        b.wr(REG_B, B_24H | B_AIE);
        b.rd(REG_C);
        b.run_until(6 * SECOND_NS);
        assert!(!b.irq()); // 00:00:04
        b.run_until(7 * SECOND_NS);
        assert!(b.irq()); // 00:00:05
        assert_eq!(b.rd(REG_C) & (C_IRQF | C_AF | C_UF), C_IRQF | C_AF | C_UF);
        // Every second: all three bytes "don't care".
        for r in [REG_SECONDS_ALARM, REG_MINUTES_ALARM, REG_HOURS_ALARM] {
            b.wr(r, 0xc0);
        }
        b.run_until(8 * SECOND_NS);
        assert!(b.irq());
        assert_eq!(b.rd(REG_C) & C_AF, C_AF);
        // Hours "don't care", minute 1, second 0: once an hour, found even across a long jump.
        b.wr(REG_SECONDS_ALARM, 0x00);
        b.wr(REG_MINUTES_ALARM, 0x01);
        b.wr(REG_B, B_24H);
        b.run_until(8 * SECOND_NS + 10 * DAY_SECS * SECOND_NS);
        assert_eq!(b.rd(REG_C) & C_AF, C_AF);
        assert_eq!(b.rtc.unix_time(), START as i64 + 8 + 10 * DAY_SECS as i64);
        assert_eq!(b.rd(REG_DAY_OF_WEEK), 1); // 2024-03-10 was a Sunday
    }

    #[test]
    fn nvram_storage_and_config_checksum() {
        let mut b = Bench::new();
        b.wr(0x40, 0xab);
        b.wr(0x7f, 0xcd);
        assert_eq!((b.rd(0x40), b.rd(0x7f)), (0xab, 0xcd));
        b.wr(REG_C, 0xff);
        b.wr(REG_D, 0x00);
        assert_eq!(b.rd(REG_D), D_VRT);
        let cfg = CmosConfig {
            ram_below_4g: 3 << 30,
            ram_above_4g: 1 << 30,
            floppies: [FloppyType::Mb1_44, FloppyType::None],
            hard_disks: [Some(DiskGeometry { cylinders: 1024, heads: 16, sectors: 63 }), None],
            boot_order: vec![BootDevice::CdRom, BootDevice::HardDisk, BootDevice::Floppy],
            check_floppy_signature: false,
            cpu_count: 4,
            fpu: true,
        };
        cfg.apply(&mut b.rtc);
        let word = |b: &mut Bench, i: u8| b.rd(i) as u16 | (b.rd(i + 1) as u16) << 8;
        assert_eq!(word(&mut b, 0x15), 640);
        assert_eq!(word(&mut b, 0x17), 0xffff);
        assert_eq!(word(&mut b, 0x30), 0xffff);
        assert_eq!(word(&mut b, 0x34), 48896); // (3 GiB - 16 MiB) / 64 KiB
        assert_eq!(b.rd(0x10), 0x40);
        assert_eq!(b.rd(0x14), 0x03);
        assert_eq!(b.rd(0x12), 0xf0);
        assert_eq!(b.rd(0x19), 47);
        assert_eq!(word(&mut b, 0x1b), 1024);
        assert_eq!((b.rd(0x1d), b.rd(0x20), b.rd(0x23)), (16, 0x08, 63));
        assert_eq!((b.rd(0x3d), b.rd(0x38)), (0x23, 0x11));
        assert_eq!([b.rd(0x5b), b.rd(0x5c), b.rd(0x5d)], [0x00, 0x40, 0x00]); // 16384 × 64 KiB
        assert_eq!(b.rd(0x5f), 3);
        let sum: u16 = (0x10..=0x2d).map(|i| b.rd(i) as u16).sum();
        assert_eq!(word(&mut b, 0x2e).swap_bytes(), sum);
        // Small machines: 32 MiB.
        CmosConfig { ram_below_4g: 32 << 20, ..Default::default() }.apply(&mut b.rtc);
        assert_eq!(word(&mut b, 0x17), 31 * 1024);
        assert_eq!(word(&mut b, 0x34), 256);
        assert_eq!(b.rd(0x14), 0x02);
        assert_eq!(b.rd(0x12), 0x00);
        assert_eq!((b.rd(0x3d), b.rd(0x38)), (0x32, 0x10));
        assert_eq!(b.rd(0x5f), 0);
    }

    #[test]
    fn calendar_conversions() {
        for secs in [0i64, 951_782_400, 1_709_164_798, 4_102_444_800, -86_400] {
            assert_eq!(Calendar::from_unix(secs).to_unix(), secs);
        }
        let c = Calendar::from_unix(951_782_400); // 2000-02-29
        assert_eq!((c.century, c.year, c.month, c.mday), (20, 0, 2, 29));
        let mut c = Calendar::from_unix(4_102_444_799); // 2099-12-31 23:59:59
        c.tick();
        assert_eq!((c.century, c.year, c.month, c.mday, c.hour), (21, 0, 1, 1, 0));
    }

    #[test]
    fn a_board_reset_clears_the_interrupt_enables_and_flags_and_keeps_time_and_ram() {
        let mut b = Bench::new();
        b.wr(REG_B, B_PIE | B_AIE | B_UIE | B_SQWE | B_24H);
        b.wr(0x40, 0x5a);
        b.run_until(SECOND_NS + 1);
        assert!(b.irq());
        b.rtc.reset();
        assert!(!b.irq());
        assert_eq!(b.rd(REG_C), 0);
        assert_eq!(b.rd(REG_B), B_24H);
        assert_eq!(b.rd(0x40), 0x5a);
        assert_eq!(b.rtc.unix_time(), START as i64 + 1);
        // The divider runs on: the flags set again, but no interrupt.
        b.run_until(2 * SECOND_NS + 1);
        assert_ne!(b.rd(REG_C) & C_PF, 0);
        assert!(!b.irq());
    }
}
