//! The floppy disk controller: an Intel 82077AA in PC/AT mode with up to two 3.5"/5.25" drives
//! (82077AA datasheet, 290166; the command, status and result formats are its tables).
//!
//! | region | ports       | registers                                                        |
//! |--------|-------------|------------------------------------------------------------------|
//! | 0      | 0x3F0-0x3F5 | SRA, SRB (not in AT mode: read FFh), DOR, TDR, MSR/DSR, FIFO       |
//! | 1      | 0x3F7       | DIR (read: bit 7 disk changed) / CCR (write: data rate)            |
//!
//! 0x3F6 belongs to the primary IDE channel. The controller interrupts on IRQ 6 and transfers on
//! DMA channel 2, both gated by DOR bit 3 (DMAGATE) as in AT mode.
//!
//! **Commands:** READ DATA, READ TRACK, VERIFY, WRITE DATA (multi-track, implied seek), READ ID,
//! FORMAT TRACK (only the layout the image already has: 512-byte sectors numbered 1..n on the
//! cylinder and head the head is on; anything else ends with ST1 ND, since a raw image cannot
//! hold another layout), RECALIBRATE, SEEK, RELATIVE SEEK, SENSE INTERRUPT STATUS, SENSE DRIVE
//! STATUS, SPECIFY (including non-DMA mode: data through the FIFO with MSR.NONDMA, one interrupt
//! when the data is ready), CONFIGURE, PERPENDICULAR MODE, LOCK, DUMPREG, VERSION. Anything else
//! (READ/WRITE DELETED DATA, the SCAN commands, undefined opcodes) is an invalid command: one
//! result byte, ST0 = 80h.
//!
//! **Media** come from the image size ([`FloppyFormat`]): 360K, 720K, 1.2M, 1.44M and 2.88M
//! raw images, 512-byte sectors. A sector is found only when the data rate (DSR/CCR) is the one
//! the medium was recorded at, the head is on the cylinder the command names (else ND, with WC or
//! BC in ST2), and the sector number is on the track; an empty drive or the wrong rate finds no
//! address mark (MA). Writes to a write-protected image end with ST1 NW. A DMA channel that is
//! masked or stops short of the sector is an overrun (ST1 OR).
//!
//! **Time:** seeks, transfers and resets complete at once; the interrupt is raised as soon as the
//! command's execution ends (it can fall and rise again between two looks of the PIC at the line:
//! [`Lines`] records the rising edge for it). After every reset the four
//! drive-polling statuses wait for SENSE INTERRUPT STATUS, also with CONFIGURE's POLL bit set. **Not emulated:** drive motors and their spin-up (the drive reads
//! whether or not its motor bit is on), head load and step timing, power-down (DSR bit 6), the
//! tape drive register beyond storing it, precompensation, deleted-data marks, the FIFO
//! threshold (non-DMA data is offered in one piece), drives 2 and 3 (never present).

use std::any::Any;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use emu_core::{Device, GuestMemory, Lines};
use thiserror::Error;

use crate::i8237::DmaChannels;
use crate::ide::{open_disk, BlockBackend, BlockError, DiskError};
use crate::mc146818::FloppyType;

/// Region of the registers at 0x3F0-0x3F5.
pub const REGION_MAIN: u8 = 0;
/// Region of DIR/CCR at 0x3F7.
pub const REGION_DIR: u8 = 1;
pub const FDC_BASE: u16 = 0x3f0;
pub const FDC_MAIN_PORTS: u16 = 6;
pub const FDC_DIR_PORT: u16 = 0x3f7;
pub const FDC_IRQ: u8 = 6;
pub const FDC_DMA_CHANNEL: u8 = 2;

// Register offsets from 0x3F0.
pub const SRA: u64 = 0;
pub const SRB: u64 = 1;
pub const DOR: u64 = 2;
pub const TDR: u64 = 3;
/// Read: main status register; write: data-rate select register.
pub const MSR_DSR: u64 = 4;
pub const FIFO: u64 = 5;

// DOR bits.
pub const DOR_NRESET: u8 = 0x04;
pub const DOR_DMAGATE: u8 = 0x08;
// MSR bits.
pub const MSR_RQM: u8 = 0x80;
pub const MSR_DIO: u8 = 0x40;
pub const MSR_NONDMA: u8 = 0x20;
pub const MSR_CB: u8 = 0x10;
// DSR bits.
pub const DSR_SW_RESET: u8 = 0x80;
/// DIR bit 7: the disk was changed (or removed) since the last step.
pub const DIR_DSKCHG: u8 = 0x80;

// ST0.
pub const ST0_IC_ABNORMAL: u8 = 0x40;
pub const ST0_IC_INVALID: u8 = 0x80;
pub const ST0_IC_POLL: u8 = 0xc0;
pub const ST0_SE: u8 = 0x20;
pub const ST0_EC: u8 = 0x10;
// ST1.
pub const ST1_EN: u8 = 0x80;
pub const ST1_OR: u8 = 0x10;
pub const ST1_ND: u8 = 0x04;
pub const ST1_NW: u8 = 0x02;
pub const ST1_MA: u8 = 0x01;
// ST2.
pub const ST2_WC: u8 = 0x10;
pub const ST2_BC: u8 = 0x02;
// ST3.
pub const ST3_WP: u8 = 0x40;
pub const ST3_T0: u8 = 0x10;

// Opcodes (with the MT, MFM and SK bits masked off where a command has them).
pub const CMD_READ_TRACK: u8 = 0x02;
pub const CMD_SPECIFY: u8 = 0x03;
pub const CMD_SENSE_DRIVE_STATUS: u8 = 0x04;
pub const CMD_WRITE_DATA: u8 = 0x05;
pub const CMD_READ_DATA: u8 = 0x06;
pub const CMD_RECALIBRATE: u8 = 0x07;
pub const CMD_SENSE_INTERRUPT: u8 = 0x08;
pub const CMD_READ_ID: u8 = 0x0a;
pub const CMD_FORMAT_TRACK: u8 = 0x0d;
pub const CMD_DUMPREG: u8 = 0x0e;
pub const CMD_SEEK: u8 = 0x0f;
pub const CMD_VERSION: u8 = 0x10;
pub const CMD_PERPENDICULAR: u8 = 0x12;
pub const CMD_CONFIGURE: u8 = 0x13;
pub const CMD_LOCK: u8 = 0x14;
pub const CMD_VERIFY: u8 = 0x16;
/// The MT (multi-track) bit of a data command.
pub const CMD_MT: u8 = 0x80;
/// The VERSION command's answer for an 82077AA (enhanced controller).
pub const VERSION_82077: u8 = 0x90;

const SECTOR: usize = 512;
/// Sector size code N for 512 bytes.
const N_512: u8 = 2;

/// A floppy format, known from the image size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloppyFormat {
    Kb360,
    Kb720,
    Mb1_2,
    Mb1_44,
    Mb2_88,
}

/// Data rates as DSR/CCR bits 1-0 code them.
pub const RATE_500K: u8 = 0;
pub const RATE_300K: u8 = 1;
pub const RATE_250K: u8 = 2;
pub const RATE_1M: u8 = 3;

impl FloppyFormat {
    pub const ALL: [FloppyFormat; 5] =
        [FloppyFormat::Kb360, FloppyFormat::Kb720, FloppyFormat::Mb1_2, FloppyFormat::Mb1_44, FloppyFormat::Mb2_88];

    /// (cylinders, heads, sectors per track).
    pub fn geometry(self) -> (u8, u8, u8) {
        match self {
            FloppyFormat::Kb360 => (40, 2, 9),
            FloppyFormat::Kb720 => (80, 2, 9),
            FloppyFormat::Mb1_2 => (80, 2, 15),
            FloppyFormat::Mb1_44 => (80, 2, 18),
            FloppyFormat::Mb2_88 => (80, 2, 36),
        }
    }

    pub fn bytes(self) -> u64 {
        let (c, h, s) = self.geometry();
        c as u64 * h as u64 * s as u64 * SECTOR as u64
    }

    pub fn from_size(len: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.bytes() == len)
    }

    /// The data rate the medium is recorded at (DSR code).
    pub fn data_rate(self) -> u8 {
        match self {
            FloppyFormat::Kb360 | FloppyFormat::Kb720 => RATE_250K,
            FloppyFormat::Mb1_2 | FloppyFormat::Mb1_44 => RATE_500K,
            FloppyFormat::Mb2_88 => RATE_1M,
        }
    }

    /// Whether the medium reads at DSR rate `rate` (a 360K disk also reads at 300 kbps, the
    /// rate a 1.2M drive spins it at).
    fn reads_at(self, rate: u8) -> bool {
        rate == self.data_rate() || self == FloppyFormat::Kb360 && rate == RATE_300K
    }

    /// The drive type this medium needs, as CMOS register 10h codes it.
    pub fn drive_type(self) -> FloppyType {
        match self {
            FloppyFormat::Kb360 => FloppyType::Kb360,
            FloppyFormat::Kb720 => FloppyType::Kb720,
            FloppyFormat::Mb1_2 => FloppyType::Mb1_2,
            FloppyFormat::Mb1_44 => FloppyType::Mb1_44,
            FloppyFormat::Mb2_88 => FloppyType::Mb2_88,
        }
    }
}

/// A floppy image and its format.
pub struct FloppyDisk {
    pub format: FloppyFormat,
    pub backend: Box<dyn BlockBackend>,
}

impl std::fmt::Debug for FloppyDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FloppyDisk").field("format", &self.format).finish()
    }
}

impl FloppyDisk {
    /// A disk over `backend`, its format from its size.
    pub fn new(backend: Box<dyn BlockBackend>) -> Option<Self> {
        Some(FloppyDisk { format: FloppyFormat::from_size(backend.len())?, backend })
    }
}

/// Why a floppy image cannot be used.
#[derive(Debug, Error)]
pub enum FloppyError {
    /// The file itself is unusable (missing, unreadable, read-only without --snapshot...); the
    /// message reads "floppy disk image ...".
    #[error("floppy {0}")]
    Disk(#[from] DiskError),
    /// The size is not one of a floppy format's.
    #[error(
        "floppy image {path} is {len} bytes: a floppy image must be exactly 368640 (360K), 737280 (720K), \
         1228800 (1.2M), 1474560 (1.44M) or 2949120 (2.88M) bytes"
    )]
    Size { path: PathBuf, len: u64 },
}

/// Opens a floppy image for `--fda`/`--fdb` with the rules of [`open_disk`] (writes reach the
/// file; `snapshot` keeps them in memory; a read-only file needs `snapshot`), and checks that its
/// size is a known format.
pub fn open_floppy(path: &Path, snapshot: bool) -> Result<FloppyDisk, FloppyError> {
    let backend = open_disk(path, snapshot)?;
    let len = backend.len();
    FloppyDisk::new(backend).ok_or(FloppyError::Size { path: path.into(), len })
}

#[derive(Debug, Default)]
struct Drive {
    /// A drive is connected (drives 0 and 1 when configured; 2 and 3 never).
    present: bool,
    disk: Option<FloppyDisk>,
    /// The cylinder the head is on (the PCN).
    cylinder: u8,
    /// DIR.DSKCHG for this drive: set at power-on and when the medium changes, cleared by a step
    /// with a medium in the drive.
    changed: bool,
    /// The sector number READ ID reports next (the one passing under the head).
    next_sector: u8,
    /// A SEEK/RECALIBRATE ended and its status waits for SENSE INTERRUPT STATUS.
    seek_end: Option<u8>,
}

/// What the controller is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Taking command bytes.
    Command,
    /// A DMA data command waits for [`Device::run_dma`].
    DmaPending,
    /// Non-DMA execution: the host reads (`to_host`) or writes the bytes of `buf` through the
    /// FIFO.
    Pio { to_host: bool },
    /// Result bytes wait to be read.
    Result,
}

/// One data command being executed: the ID of the sector it is at and its parameters.
#[derive(Debug, Clone, Copy)]
struct DataCmd {
    op: u8,
    mt: bool,
    drive: usize,
    head: u8,
    c: u8,
    h: u8,
    r: u8,
    n: u8,
    eot: u8,
}

impl DataCmd {
    /// The command and its parameter bytes (all nine are there: the command phase collected
    /// them). READ TRACK starts at sector 1 whatever R says; MT applies to READ/WRITE DATA and
    /// VERIFY.
    fn parse(cmd: &[u8]) -> DataCmd {
        let op = cmd[0];
        DataCmd {
            op,
            mt: op & CMD_MT != 0 && matches!(op & 0x1f, CMD_READ_DATA | CMD_WRITE_DATA | CMD_VERIFY),
            drive: (cmd[1] & 3) as usize,
            head: (cmd[1] >> 2) & 1,
            c: cmd[2],
            h: cmd[3],
            r: if op & 0x1f == CMD_READ_TRACK { 1 } else { cmd[4] },
            n: cmd[5],
            eot: cmd[6],
        }
    }
}

/// The 82077AA.
pub struct Fdc82077 {
    lines: Lines,
    dma: DmaChannels,
    drives: [Drive; 4],
    dor: u8,
    tdr: u8,
    /// DSR bits 4-0 (precompensation and data rate).
    dsr: u8,
    phase: Phase,
    command: Vec<u8>,
    result: VecDeque<u8>,
    /// An interrupt from a command's result phase (cleared by reading the result or by the next
    /// command).
    int_pending: bool,
    /// Drive-polling statuses left after a reset (SENSE INTERRUPT STATUS returns one each).
    reset_polls: u8,
    // SPECIFY, CONFIGURE, PERPENDICULAR MODE, LOCK.
    srt_hut: u8,
    hlt_nd: u8,
    /// CONFIGURE's third byte: EIS (bit 6), EFIFO (bit 5, 1 = FIFO off), POLL (bit 4, 1 = off),
    /// FIFOTHR (3-0).
    config: u8,
    pretrk: u8,
    perpendicular: u8,
    lock: bool,
    /// Non-DMA execution: the data command, its buffer and position.
    pio: Option<(DataCmd, Vec<u8>, usize)>,
}

impl std::fmt::Debug for Fdc82077 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fdc82077").field("dor", &self.dor).field("phase", &self.phase).finish()
    }
}

/// CONFIGURE's third byte after reset: implied seek off, FIFO off, polling on, threshold 1.
const CONFIG_DEFAULT: u8 = 0x20;
const CONFIG_EIS: u8 = 0x40;

impl Fdc82077 {
    pub fn new(lines: Lines, dma: DmaChannels) -> Self {
        let mut f = Fdc82077 {
            lines,
            dma,
            drives: Default::default(),
            dor: 0,
            tdr: 0,
            dsr: RATE_500K,
            phase: Phase::Command,
            command: Vec::new(),
            result: VecDeque::new(),
            int_pending: false,
            reset_polls: 0,
            srt_hut: 0,
            hlt_nd: 0,
            config: CONFIG_DEFAULT,
            pretrk: 0,
            perpendicular: 0,
            lock: false,
            pio: None,
        };
        f.reset(false); // held in reset by DOR = 0 until the firmware releases it
        f
    }

    /// Connects drive `n` (0 or 1) with `disk` in it; the drive reports a disk change.
    pub fn insert(&mut self, n: usize, disk: FloppyDisk) {
        if let Some(d) = self.drives.get_mut(n).filter(|_| n < 2) {
            d.present = true;
            d.disk = Some(disk);
            d.changed = true;
        }
    }

    /// The format of the disk in drive `n`, if any.
    pub fn format(&self, n: usize) -> Option<FloppyFormat> {
        self.drives.get(n)?.disk.as_ref().map(|d| d.format)
    }

    /// Makes every write so far durable in the image files.
    pub fn flush_all(&mut self) -> Result<(), BlockError> {
        for d in self.drives.iter_mut().filter_map(|d| d.disk.as_mut()) {
            d.backend.flush()?;
        }
        Ok(())
    }

    /// A controller reset (DOR.nRESET low, DSR.SW_RESET): command state cleared, CONFIGURE back
    /// to defaults unless LOCKed; with `polls` (the reset ends now) the drive-polling interrupt
    /// follows. The caller updates the interrupt line.
    fn reset(&mut self, polls: bool) {
        self.phase = Phase::Command;
        self.command.clear();
        self.result.clear();
        self.pio = None;
        self.int_pending = false;
        for d in &mut self.drives {
            d.seek_end = None;
        }
        if !self.lock {
            self.config = CONFIG_DEFAULT;
            self.pretrk = 0;
        }
        self.perpendicular &= 0x3c; // the GAP and WGATE bits clear; drive bits stay
                                    // The drive-polling interrupt follows every reset, whatever CONFIGURE's POLL bit says:
                                    // drivers (Linux's among them) wait for it, and QEMU's model behaves the same way.
        self.reset_polls = if polls { 4 } else { 0 };
    }

    fn in_reset(&self) -> bool {
        self.dor & DOR_NRESET == 0
    }

    fn rate(&self) -> u8 {
        self.dsr & 3
    }

    fn non_dma(&self) -> bool {
        self.hlt_nd & 1 != 0
    }

    fn update_irq(&mut self) {
        let pending = self.int_pending || self.reset_polls > 0 || self.drives.iter().any(|d| d.seek_end.is_some());
        let level = pending && self.dor & DOR_DMAGATE != 0;
        self.lines.set_irq(FDC_IRQ, level);
    }

    fn msr(&self) -> u8 {
        if self.in_reset() {
            return 0;
        }
        let busy = self.drives.iter().enumerate().filter(|(_, d)| d.seek_end.is_some()).fold(0, |b, (i, _)| b | 1 << i);
        busy | match &self.phase {
            Phase::Command if self.command.is_empty() => MSR_RQM,
            Phase::Command => MSR_RQM | MSR_CB,
            Phase::DmaPending => MSR_CB,
            Phase::Pio { to_host: true } => MSR_RQM | MSR_DIO | MSR_NONDMA | MSR_CB,
            Phase::Pio { to_host: false } => MSR_RQM | MSR_NONDMA | MSR_CB,
            Phase::Result => MSR_RQM | MSR_DIO | MSR_CB,
        }
    }

    fn read_fifo(&mut self) -> u8 {
        match self.phase {
            Phase::Result => {
                self.int_pending = false;
                let v = self.result.pop_front().unwrap_or(0);
                if self.result.is_empty() {
                    self.phase = Phase::Command;
                }
                self.update_irq();
                v
            }
            Phase::Pio { to_host: true } => {
                self.int_pending = false;
                let (cmd, buf, pos) = self.pio.as_mut().expect("PIO phase has a buffer");
                let v = buf[*pos];
                *pos += 1;
                if *pos == buf.len() {
                    let cmd = *cmd;
                    self.pio = None;
                    // The whole track to EOT went out: no TC in non-DMA mode, so the controller
                    // ends past EOT (ST1 EN), as the datasheet describes.
                    self.finish_past_eot(cmd);
                }
                self.update_irq();
                v
            }
            _ => 0xff,
        }
    }

    fn write_fifo(&mut self, v: u8) {
        match self.phase {
            Phase::Command => {
                self.command.push(v);
                if self.command.len() == command_length(self.command[0]) {
                    self.int_pending = false;
                    self.execute();
                    self.update_irq();
                }
            }
            Phase::Pio { to_host: false } => {
                self.int_pending = false;
                let (cmd, buf, pos) = self.pio.as_mut().expect("PIO phase has a buffer");
                buf[*pos] = v;
                *pos += 1;
                if *pos % SECTOR == 0 {
                    // One sector complete: it goes to the medium now.
                    let (mut cmd, sector) = (*cmd, buf[*pos - SECTOR..*pos].to_vec());
                    let done = *pos == buf.len();
                    match self.locate(&cmd) {
                        Ok(offset) => {
                            let d = self.drives[cmd.drive].disk.as_mut().expect("located");
                            if d.backend.write_at(offset, &sector).is_err() {
                                self.pio = None;
                                self.end(cmd, ST0_IC_ABNORMAL, ST1_ND, 0);
                                self.update_irq();
                                return;
                            }
                        }
                        Err((st1, st2)) => {
                            self.pio = None;
                            self.end(cmd, ST0_IC_ABNORMAL, st1, st2);
                            self.update_irq();
                            return;
                        }
                    }
                    if done {
                        self.pio = None;
                        self.finish_past_eot(cmd);
                    } else {
                        advance(&mut cmd);
                        self.pio.as_mut().expect("still running").0 = cmd;
                    }
                }
                self.update_irq();
            }
            _ => {} // writes during the result phase are ignored
        }
    }

    /// Runs a complete command.
    fn execute(&mut self) {
        let cmd = std::mem::take(&mut self.command);
        let op = cmd[0];
        let drive_of = |b: u8| (b & 3) as usize;
        match op {
            CMD_SPECIFY => {
                self.srt_hut = cmd[1];
                self.hlt_nd = cmd[2];
                self.phase = Phase::Command;
            }
            CMD_SENSE_DRIVE_STATUS => {
                let n = drive_of(cmd[1]);
                let head = (cmd[1] >> 2) & 1;
                let (wp, t0) = match self.drives.get(n).filter(|d| d.present) {
                    Some(d) => (d.disk.as_ref().is_some_and(|d| d.backend.is_read_only()), d.cylinder == 0),
                    None => (false, false),
                };
                // Bits 5 and 3 read as ones on the 82077AA.
                let st3 = 0x28 | if wp { ST3_WP } else { 0 } | if t0 { ST3_T0 } else { 0 } | head << 2 | n as u8;
                self.results(&[st3], false);
            }
            CMD_RECALIBRATE => {
                let n = drive_of(cmd[1]);
                let st0 = match self.drives.get_mut(n).filter(|d| d.present) {
                    Some(d) => {
                        d.cylinder = 0;
                        if d.disk.is_some() {
                            d.changed = false;
                        }
                        ST0_SE | n as u8
                    }
                    // No drive: track 0 never signals, so the controller gives up after 79 steps.
                    None => ST0_IC_ABNORMAL | ST0_SE | ST0_EC | n as u8,
                };
                self.seek_done(n, st0);
            }
            CMD_SEEK | 0x8f | 0xcf => {
                let n = drive_of(cmd[1]);
                let head = (cmd[1] >> 2) & 1;
                if let Some(d) = self.drives.get_mut(n) {
                    d.cylinder = match op {
                        0x8f => d.cylinder.saturating_add(cmd[2]),
                        0xcf => d.cylinder.saturating_sub(cmd[2]),
                        _ => cmd[2],
                    };
                    if d.disk.is_some() {
                        d.changed = false;
                    }
                }
                self.seek_done(n, ST0_SE | head << 2 | n as u8);
            }
            CMD_SENSE_INTERRUPT => {
                if self.reset_polls > 0 {
                    let n = 4 - self.reset_polls;
                    self.reset_polls -= 1;
                    let pcn = self.drives.get(n as usize).map_or(0, |d| d.cylinder);
                    self.results(&[ST0_IC_POLL | n, pcn], false);
                } else if let Some(n) = self.drives.iter().position(|d| d.seek_end.is_some()) {
                    let st0 = self.drives[n].seek_end.take().expect("found");
                    let pcn = self.drives[n].cylinder;
                    self.results(&[st0, pcn], false);
                } else {
                    self.results(&[ST0_IC_INVALID], false);
                }
            }
            CMD_DUMPREG => {
                let pcn = |i: usize| self.drives.get(i).map_or(0, |d| d.cylinder);
                let r = [
                    pcn(0),
                    pcn(1),
                    pcn(2),
                    pcn(3),
                    self.srt_hut,
                    self.hlt_nd,
                    0, // SC/EOT: the last data command's EOT is not kept
                    (self.lock as u8) << 7 | self.perpendicular & 0x3f,
                    self.config,
                    self.pretrk,
                ];
                self.results(&r, false);
            }
            CMD_VERSION => self.results(&[VERSION_82077], false),
            CMD_PERPENDICULAR => {
                // OW (bit 7) set: drive bits 5-2 are written; GAP and WGATE always.
                let keep = if cmd[1] & 0x80 != 0 { 0 } else { self.perpendicular & 0x3c };
                let new = if cmd[1] & 0x80 != 0 { cmd[1] & 0x3f } else { cmd[1] & 0x03 | keep };
                self.perpendicular = new;
                self.phase = Phase::Command;
            }
            CMD_CONFIGURE => {
                self.config = cmd[2] & 0x7f;
                self.pretrk = cmd[3];
                self.phase = Phase::Command;
            }
            CMD_LOCK | 0x94 => {
                self.lock = op & 0x80 != 0;
                self.results(&[(self.lock as u8) << 4], false);
            }
            _ if op & 0xbf == CMD_READ_ID => {
                let n = drive_of(cmd[1]);
                let head = (cmd[1] >> 2) & 1;
                let st0 = head << 2 | n as u8;
                let rate = self.rate();
                let result = match self.drives.get_mut(n) {
                    Some(d) if d.disk.as_ref().is_some_and(|disk| disk.format.reads_at(rate)) => {
                        let (cyls, _, spt) = d.disk.as_ref().expect("checked").format.geometry();
                        if d.cylinder >= cyls {
                            [st0 | ST0_IC_ABNORMAL, ST1_MA, 0, d.cylinder, head, 1, N_512]
                        } else {
                            let r = d.next_sector.clamp(1, spt);
                            d.next_sector = r % spt + 1;
                            [st0, 0, 0, d.cylinder, head, r, N_512]
                        }
                    }
                    _ => [st0 | ST0_IC_ABNORMAL, ST1_MA, 0, 0, head, 1, N_512],
                };
                self.results(&result, true);
            }
            _ if is_data_command(op) => {
                self.start_data(DataCmd::parse(&cmd), &cmd);
            }
            _ if op & 0xbf == CMD_FORMAT_TRACK => {
                let n = drive_of(cmd[1]);
                let head = (cmd[1] >> 2) & 1;
                let d = DataCmd { op, mt: false, drive: n, head, c: 0, h: head, r: 1, n: cmd[2], eot: cmd[3] };
                self.command = cmd;
                if self.non_dma() {
                    // Formatting takes its sector IDs by DMA here; through the FIFO it is not
                    // offered.
                    self.command.clear();
                    self.end(d, ST0_IC_ABNORMAL, ST1_ND, 0);
                } else {
                    self.phase = Phase::DmaPending;
                }
            }
            _ => self.results(&[ST0_IC_INVALID], false),
        }
    }

    fn seek_done(&mut self, n: usize, st0: u8) {
        self.drives[n].seek_end = Some(st0);
        self.phase = Phase::Command;
    }

    /// Enters the result phase with `bytes`; `interrupt` for commands that interrupt there.
    fn results(&mut self, bytes: &[u8], interrupt: bool) {
        self.result = bytes.iter().copied().collect();
        self.phase = Phase::Result;
        self.int_pending = interrupt;
    }

    /// Ends a data command: ST0 from `ic` plus head and drive, ST1, ST2, then the ID.
    fn end(&mut self, d: DataCmd, ic: u8, st1: u8, st2: u8) {
        let st0 = ic | d.head << 2 | d.drive as u8;
        self.results(&[st0, st1, st2, d.c, d.h, d.r, d.n], true);
    }

    /// Ends a data command that went past EOT without terminal count.
    fn finish_past_eot(&mut self, mut d: DataCmd) {
        d.r = d.eot;
        next_id_after_eot(&mut d);
        self.end(d, ST0_IC_ABNORMAL, ST1_EN, 0);
    }

    /// The byte offset of the sector `d` names, if the drive can find it now; else (ST1, ST2).
    fn locate(&self, d: &DataCmd) -> Result<u64, (u8, u8)> {
        let drive = self.drives.get(d.drive).ok_or((ST1_MA, 0))?;
        let disk = drive.disk.as_ref().ok_or((ST1_MA, 0))?;
        let (cyls, heads, spt) = disk.format.geometry();
        if !disk.format.reads_at(self.rate()) || drive.cylinder >= cyls || d.head >= heads {
            return Err((ST1_MA, 0));
        }
        if d.c != drive.cylinder {
            let st2 = if d.c == 0xff { ST2_BC } else { ST2_WC };
            return Err((ST1_ND, st2));
        }
        if d.h != d.head || d.n != N_512 || d.r == 0 || d.r > spt {
            return Err((ST1_ND, 0));
        }
        let lba = (d.c as u64 * heads as u64 + d.head as u64) * spt as u64 + d.r as u64 - 1;
        Ok(lba * SECTOR as u64)
    }

    /// Starts READ DATA / READ TRACK / VERIFY / WRITE DATA: implied seek, write protection, then
    /// DMA (in [`Device::run_dma`]) or the FIFO.
    fn start_data(&mut self, d: DataCmd, cmd: &[u8]) {
        if self.config & CONFIG_EIS != 0 {
            if let Some(drive) = self.drives.get_mut(d.drive) {
                drive.cylinder = d.c;
            }
        }
        let write = d.op & 0x1f == CMD_WRITE_DATA;
        if write && self.drives.get(d.drive).and_then(|x| x.disk.as_ref()).is_some_and(|x| x.backend.is_read_only()) {
            return self.end(d, ST0_IC_ABNORMAL, ST1_NW, 0);
        }
        if d.op & 0x1f == CMD_VERIFY {
            return self.run_verify(d, cmd);
        }
        if !self.non_dma() {
            self.command = cmd.to_vec();
            self.phase = Phase::DmaPending;
            return;
        }
        // Non-DMA: the sectors from R to EOT (and on head 1 with MT) pass through the FIFO.
        let mut cur = d;
        let mut sectors = 0usize;
        loop {
            if let Err((st1, st2)) = self.locate(&cur) {
                if sectors == 0 {
                    return self.end(cur, ST0_IC_ABNORMAL, st1, st2);
                }
                break;
            }
            sectors += 1;
            if cur.r == cur.eot && !(cur.mt && cur.head == 0) {
                break;
            }
            advance(&mut cur);
        }
        let mut buf = vec![0u8; sectors * SECTOR];
        if !write {
            let mut cur = d;
            for chunk in buf.chunks_mut(SECTOR) {
                let offset = self.locate(&cur).expect("located above");
                let disk = self.drives[d.drive].disk.as_mut().expect("located");
                if disk.backend.read_at(offset, chunk).is_err() {
                    return self.end(cur, ST0_IC_ABNORMAL, ST1_ND, 0);
                }
                advance(&mut cur);
            }
        }
        self.pio = Some((d, buf, 0));
        self.phase = Phase::Pio { to_host: !write };
        self.int_pending = true;
    }

    /// VERIFY: reads the sectors without transferring them: to EOT, or SC sectors with EC set.
    fn run_verify(&mut self, mut d: DataCmd, cmd: &[u8]) {
        let ec = cmd[1] & 0x80 != 0;
        let mut left = if ec { cmd[8] as u32 } else { u32::MAX };
        loop {
            if let Err((st1, st2)) = self.locate(&d) {
                return self.end(d, ST0_IC_ABNORMAL, st1, st2);
            }
            left = left.saturating_sub(1);
            if left == 0 {
                advance_after(&mut d);
                return self.end(d, 0, 0, 0);
            }
            if d.r == d.eot && !(d.mt && d.head == 0) {
                return self.finish_past_eot(d);
            }
            advance(&mut d);
        }
    }

    /// The DMA part of a data command or FORMAT TRACK.
    fn run_dma_command(&mut self, mem: &mut dyn GuestMemory) {
        let cmd = std::mem::take(&mut self.command);
        let op = cmd[0];
        let dma_ok = self.dor & DOR_DMAGATE != 0;
        if op & 0xbf == CMD_FORMAT_TRACK {
            return self.format_track(mem, &cmd, dma_ok);
        }
        let mut d = DataCmd::parse(&cmd);
        let write = op & 0x1f == CMD_WRITE_DATA;
        loop {
            let offset = match self.locate(&d) {
                Ok(o) => o,
                Err((st1, st2)) => return self.end(d, ST0_IC_ABNORMAL, st1, st2),
            };
            let mut buf = [0u8; SECTOR];
            let t = if write {
                let t =
                    if dma_ok { self.dma.read_from_memory(FDC_DMA_CHANNEL, mem, &mut buf) } else { Default::default() };
                if t.bytes == SECTOR || t.terminal_count {
                    // A transfer ended by TC inside the sector: the rest is written as zeros.
                    buf[t.bytes..].fill(0);
                    let disk = self.drives[d.drive].disk.as_mut().expect("located");
                    if disk.backend.write_at(offset, &buf).is_err() {
                        return self.end(d, ST0_IC_ABNORMAL, ST1_NW, 0);
                    }
                }
                t
            } else {
                let disk = self.drives[d.drive].disk.as_mut().expect("located");
                if disk.backend.read_at(offset, &mut buf).is_err() {
                    return self.end(d, ST0_IC_ABNORMAL, ST1_ND, 0);
                }
                if dma_ok {
                    self.dma.write_to_memory(FDC_DMA_CHANNEL, mem, &buf)
                } else {
                    Default::default()
                }
            };
            if t.bytes < SECTOR && !t.terminal_count {
                // The DMA channel did not take (or give) the whole sector: overrun/underrun.
                return self.end(d, ST0_IC_ABNORMAL, ST1_OR, 0);
            }
            if let Some(drive) = self.drives.get_mut(d.drive) {
                drive.next_sector = d.r % d.eot.max(1) + 1;
            }
            if t.terminal_count {
                advance_after(&mut d);
                return self.end(d, 0, 0, 0);
            }
            if d.r == d.eot && !(d.mt && d.head == 0) {
                return self.finish_past_eot(d);
            }
            advance(&mut d);
        }
    }

    /// FORMAT TRACK over DMA: reads the SC sector IDs, then fills the track with the filler byte.
    fn format_track(&mut self, mem: &mut dyn GuestMemory, cmd: &[u8], dma_ok: bool) {
        let (n, head) = ((cmd[1] & 3) as usize, (cmd[1] >> 2) & 1);
        let (size, sc, filler) = (cmd[2], cmd[3], cmd[5]);
        let mut d = DataCmd { op: cmd[0], mt: false, drive: n, head, c: 0, h: head, r: 1, n: size, eot: sc };
        let Some(drive) = self.drives.get(n) else { return self.end(d, ST0_IC_ABNORMAL, ST1_MA, 0) };
        d.c = drive.cylinder;
        let Some(disk) = drive.disk.as_ref() else { return self.end(d, ST0_IC_ABNORMAL, ST1_MA, 0) };
        if disk.backend.is_read_only() {
            return self.end(d, ST0_IC_ABNORMAL, ST1_NW, 0);
        }
        let (cyls, heads, spt) = disk.format.geometry();
        if !disk.format.reads_at(self.rate()) || drive.cylinder >= cyls || head >= heads {
            return self.end(d, ST0_IC_ABNORMAL, ST1_MA, 0);
        }
        let mut ids = vec![0u8; sc as usize * 4];
        let t = if dma_ok { self.dma.read_from_memory(FDC_DMA_CHANNEL, mem, &mut ids) } else { Default::default() };
        if t.bytes < ids.len() {
            return self.end(d, ST0_IC_ABNORMAL, ST1_OR, 0);
        }
        // Only the layout the image has can be written: every sector 1..=spt once, on this
        // cylinder and head, 512 bytes.
        let mut seen = 0u64;
        for id in ids.chunks(4) {
            let ok = id[0] == d.c && id[1] == head && id[3] == N_512 && (1..=spt).contains(&id[2]);
            if !ok || seen & 1 << id[2] != 0 {
                return self.end(d, ST0_IC_ABNORMAL, ST1_ND, 0);
            }
            seen |= 1 << id[2];
        }
        if size != N_512 || sc != spt {
            return self.end(d, ST0_IC_ABNORMAL, ST1_ND, 0);
        }
        let track = vec![filler; spt as usize * SECTOR];
        let offset = (d.c as u64 * heads as u64 + head as u64) * spt as u64 * SECTOR as u64;
        let disk = self.drives[n].disk.as_mut().expect("checked");
        if disk.backend.write_at(offset, &track).is_err() {
            return self.end(d, ST0_IC_ABNORMAL, ST1_NW, 0);
        }
        d.r = spt;
        self.end(d, 0, 0, 0);
    }

    fn write_dor(&mut self, v: u8) {
        let was_reset = self.in_reset();
        self.dor = v;
        if !was_reset && self.in_reset() {
            // Entering reset: everything stops; the poll interrupt comes when reset ends.
            self.reset(false);
        } else if was_reset && !self.in_reset() {
            self.reset(true);
        }
        self.update_irq();
    }
}

/// The next sector ID within a multi-sector command (R+1; with MT from head 0's EOT to head 1).
fn advance(d: &mut DataCmd) {
    if d.r == d.eot && d.mt && d.head == 0 {
        d.head = 1;
        d.h ^= 1;
        d.r = 1;
    } else {
        d.r = d.r.wrapping_add(1);
    }
}

/// The ID the result phase reports after sector `d` was the last one transferred (the
/// datasheet's table: R+1, or at EOT the next cylinder, or with MT the other head).
fn advance_after(d: &mut DataCmd) {
    if d.r == d.eot {
        next_id_after_eot(d);
    } else {
        d.r = d.r.wrapping_add(1);
    }
}

fn next_id_after_eot(d: &mut DataCmd) {
    d.r = 1;
    if d.mt {
        d.h ^= 1;
        if d.head == 1 {
            d.c = d.c.wrapping_add(1);
        }
    } else {
        d.c = d.c.wrapping_add(1);
    }
}

fn is_data_command(op: u8) -> bool {
    op & 0x1f == CMD_READ_DATA || op & 0x3f == CMD_WRITE_DATA || op & 0x9f == CMD_READ_TRACK || op & 0x1f == CMD_VERIFY
}

/// How many bytes command `op` takes, opcode included (1 for invalid opcodes).
fn command_length(op: u8) -> usize {
    match op {
        CMD_SPECIFY | CMD_SEEK | 0x8f | 0xcf => 3,
        CMD_SENSE_DRIVE_STATUS | CMD_RECALIBRATE | CMD_PERPENDICULAR => 2,
        CMD_CONFIGURE => 4,
        _ if op & 0xbf == CMD_READ_ID => 2,
        _ if op & 0xbf == CMD_FORMAT_TRACK => 6,
        _ if is_data_command(op) => 9,
        _ => 1,
    }
}

impl Device for Fdc82077 {
    fn name(&self) -> &'static str {
        "82077AA floppy controller"
    }

    /// The board's RESET: DOR, TDR and DSR back at their reset values (the controller held in
    /// reset, motors off), LOCK and the SPECIFY and PERPENDICULAR settings cleared, the command
    /// state dropped and the interrupt line low. The heads are on cylinder 0 (as QEMU
    /// recalibrates them at a reset). The disks stay in their drives, with their change lines.
    fn reset(&mut self) {
        let mut drives = std::mem::take(&mut self.drives);
        for d in &mut drives {
            (d.cylinder, d.next_sector, d.seek_end) = (0, 0, None);
        }
        *self = Fdc82077 { drives, ..Fdc82077::new(self.lines.clone(), self.dma.clone()) };
        self.update_irq();
    }

    fn read(&mut self, region: u8, offset: u64, _size: u8) -> u32 {
        let v = match (region, offset) {
            (REGION_DIR, _) => {
                let n = (self.dor & 3) as usize;
                if self.drives.get(n).is_some_and(|d| d.changed) {
                    DIR_DSKCHG
                } else {
                    0
                }
            }
            (_, DOR) => self.dor,
            (_, TDR) => self.tdr,
            (_, MSR_DSR) => self.msr(),
            (_, FIFO) if !self.in_reset() => self.read_fifo(),
            _ => 0xff, // SRA/SRB exist only in PS/2 modes
        };
        v as u32
    }

    fn write(&mut self, region: u8, offset: u64, _size: u8, value: u32) {
        let v = value as u8;
        match (region, offset) {
            (REGION_DIR, _) => self.dsr = self.dsr & !3 | v & 3,
            (_, DOR) => self.write_dor(v),
            (_, TDR) => self.tdr = v & 3,
            (_, MSR_DSR) => {
                self.dsr = v & 0x1f;
                if v & DSR_SW_RESET != 0 && !self.in_reset() {
                    self.reset(true);
                    self.update_irq();
                }
            }
            (_, FIFO) if !self.in_reset() => self.write_fifo(v),
            _ => {}
        }
    }

    fn dma_pending(&self) -> bool {
        self.phase == Phase::DmaPending
    }

    fn run_dma(&mut self, mem: &mut dyn GuestMemory) {
        if self.phase == Phase::DmaPending {
            self.run_dma_command(mem);
            self.update_irq();
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests;
