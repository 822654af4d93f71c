//! The PC's two IDE channels as the PIIX3 decodes them, with ATA disks and an ATAPI CD-ROM
//! (ATA/ATAPI-6, T13 1410D; SFF-8020i/MMC for the packet commands), and the PIIX3 bus-master
//! IDE registers (82371SB datasheet, "Bus Master IDE I/O registers").
//!
//! **Ports (regions of [`Ide`]):**
//!
//! | region | ports | registers |
//! |--------|-------|-----------|
//! | 0 | 0x1F0-0x1F7 | primary command block: Data, Error/Features, Sector Count, LBA Low, LBA Mid, LBA High, Device, Status/Command |
//! | 1 | 0x3F6 | primary control block: Alternate Status / Device Control |
//! | 2 | 0x170-0x177 | secondary command block |
//! | 3 | 0x376 | secondary control block |
//! | 4 | BMIBA + 0..16 | bus master: BMICP/BMISP/BMIDTP for the primary channel at 0, 2, 4; secondary at 8, 10, 12 |
//!
//! The primary channel interrupts on IRQ 14, the secondary on IRQ 15: INTRQ of the selected
//! device, unless nIEN is set in Device Control. Reading Status (not Alternate Status) clears a
//! device's pending interrupt. Both devices latch every task-file write; when device 1 is
//! selected but absent, device 0 answers for it with Status 00h, as the standard says; a channel
//! with no devices floats (reads FFh).
//!
//! **ATA** ([`ata`]): IDENTIFY DEVICE, READ/WRITE SECTOR(S) (EXT), READ/WRITE MULTIPLE (EXT) with
//! SET MULTIPLE MODE, READ/WRITE DMA (EXT), READ VERIFY SECTOR(S) (EXT), SET FEATURES (transfer
//! mode, write cache, look-ahead), FLUSH CACHE (EXT), INITIALIZE DEVICE PARAMETERS, RECALIBRATE,
//! SEEK, IDLE/STANDBY (IMMEDIATE), CHECK POWER MODE, EXECUTE DEVICE DIAGNOSTIC; CHS, LBA28 and
//! LBA48 addressing with the HOB bit for reading the previous register contents; SRST in Device
//! Control resets both devices and leaves their signatures in the task file.
//!
//! **ATAPI** ([`atapi`]): PACKET (PIO with the byte-count limit, or DMA), IDENTIFY PACKET DEVICE,
//! DEVICE RESET and the SCSI/MMC commands listed in [`atapi`].
//!
//! **Bus-master DMA:** a DMA command leaves its data waiting in the drive; when the guest sets the
//! Start bit in BMICx, [`emu_core::Device::dma_pending`] tells the `System`, which calls
//! [`emu_core::Device::run_dma`] right after the write: the PRD table is walked and the whole
//! transfer done at once through guest memory, then the drive interrupts and BMISx shows the
//! Interrupt bit (Active stays set if the PRDs were longer than the transfer).
//!
//! **Time:** every command completes at once: BSY is never seen by the guest.
//!
//! **Not emulated:** the drive address register at 0x3F7/0x377 (it belongs to the floppy
//! controller), overlapped and queued commands, SMART, security, host protected area, power-up
//! in standby, media change (the CD-ROM never reports UNIT ATTENTION and cannot be ejected),
//! IORDY timing, the PCI "native" mode of the channels, 8-bit data transfers (byte accesses to the
//! Data register move a whole word).

pub mod ata;
pub mod atapi;
pub mod backend;

use std::any::Any;

use emu_core::{Device, GuestMemory, Lines};

pub use backend::{
    open_cdrom, open_disk, BlockBackend, BlockError, DiskError, MemBackend, Overlay, RawFile, ReadOnlyFile,
};

/// Primary channel command block.
pub const PRIMARY_CMD: u16 = 0x1f0;
/// Primary channel control block (Alternate Status / Device Control).
pub const PRIMARY_CTL: u16 = 0x3f6;
/// Secondary channel command block.
pub const SECONDARY_CMD: u16 = 0x170;
/// Secondary channel control block.
pub const SECONDARY_CTL: u16 = 0x376;
pub const PRIMARY_IRQ: u8 = 14;
pub const SECONDARY_IRQ: u8 = 15;
/// Region of the bus-master registers.
pub const REGION_BUS_MASTER: u8 = 4;

// Command block register offsets.
pub const REG_DATA: u64 = 0;
pub const REG_ERROR: u64 = 1;
pub const REG_FEATURES: u64 = 1;
pub const REG_SECTOR_COUNT: u64 = 2;
pub const REG_LBA_LOW: u64 = 3;
pub const REG_LBA_MID: u64 = 4;
pub const REG_LBA_HIGH: u64 = 5;
pub const REG_DEVICE: u64 = 6;
pub const REG_STATUS: u64 = 7;
pub const REG_COMMAND: u64 = 7;

// Status bits.
pub const STATUS_BSY: u8 = 0x80;
pub const STATUS_DRDY: u8 = 0x40;
pub const STATUS_DF: u8 = 0x20;
pub const STATUS_DSC: u8 = 0x10;
pub const STATUS_DRQ: u8 = 0x08;
pub const STATUS_ERR: u8 = 0x01;

// Error bits.
pub const ERROR_UNC: u8 = 0x40;
pub const ERROR_IDNF: u8 = 0x10;
pub const ERROR_ABRT: u8 = 0x04;

// Device register bits.
pub const DEVICE_LBA: u8 = 0x40;
pub const DEVICE_DEV: u8 = 0x10;

// Device Control bits.
pub const CONTROL_NIEN: u8 = 0x02;
pub const CONTROL_SRST: u8 = 0x04;
pub const CONTROL_HOB: u8 = 0x80;

// Bus master registers (offsets within a channel's 8 bytes).
pub const BMIC: u64 = 0;
pub const BMIS: u64 = 2;
pub const BMIDTP: u64 = 4;
/// BMIC: start/stop bus master.
pub const BMIC_START: u8 = 0x01;
/// BMIC: 1 = the bus master writes memory (a read from the drive).
pub const BMIC_WRITE_MEMORY: u8 = 0x08;
/// BMIS: bus master active.
pub const BMIS_ACTIVE: u8 = 0x01;
/// BMIS: error (write one to clear).
pub const BMIS_ERROR: u8 = 0x02;
/// BMIS: interrupt (write one to clear).
pub const BMIS_INTERRUPT: u8 = 0x04;
/// BMIS: drive 0 / drive 1 DMA capable (software-owned).
pub const BMIS_DMA_CAPABLE: u8 = 0x60;

/// What a drive holds.
pub enum Media {
    /// An ATA hard disk of 512-byte sectors.
    Disk(Box<dyn BlockBackend>),
    /// An ATAPI CD-ROM drive with a disc of 2048-byte sectors.
    Cdrom(Box<dyn BlockBackend>),
}

/// What finishing the current PIO data block leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pio {
    None,
    /// Device to host, then the command completes.
    DataIn,
    /// Sectors to the host: `remaining` sectors from `lba` (the block in the buffer included).
    Read {
        lba: u64,
        remaining: u32,
        block: u32,
        lba48: bool,
    },
    /// Sectors from the host; the buffer holds the block going to `lba`.
    Write {
        lba: u64,
        remaining: u32,
        block: u32,
        lba48: bool,
    },
    /// The 12-byte command packet of a PACKET command.
    Packet,
    /// ATAPI data to the host, chunked by the byte-count limit.
    AtapiIn,
}

/// A DMA transfer the drive is waiting for the bus master to carry.
pub(crate) struct DmaJob {
    /// True when data goes from the drive to memory.
    pub to_memory: bool,
    /// Read data (to memory), or space for the written data (from memory).
    pub data: Vec<u8>,
    /// Where written data goes (ATA WRITE DMA).
    pub write_lba: u64,
    pub lba48: bool,
}

/// One device on a channel: its media, its copy of the task file and its transfer state.
pub struct Drive {
    pub(crate) media: Media,
    pub(crate) features: u8,
    pub(crate) sector_count: u8,
    pub(crate) lba_low: u8,
    pub(crate) lba_mid: u8,
    pub(crate) lba_high: u8,
    /// The previous contents ("high order bytes") for LBA48, read with HOB.
    pub(crate) hob: [u8; 5],
    pub(crate) device: u8,
    pub(crate) status: u8,
    pub(crate) error: u8,
    pub(crate) intrq: bool,
    pub(crate) buf: Vec<u8>,
    pub(crate) pos: usize,
    pub(crate) pio: Pio,
    pub(crate) dma: Option<DmaJob>,
    /// ATA: sectors per block of READ/WRITE MULTIPLE (0 = disabled).
    pub(crate) multiple: u16,
    /// ATA: the CHS translation set by INITIALIZE DEVICE PARAMETERS.
    pub(crate) heads: u16,
    pub(crate) sectors_per_track: u16,
    /// SET FEATURES transfer mode (sector count value of subcommand 03h).
    pub(crate) transfer_mode: u8,
    pub(crate) write_cache: bool,
    pub(crate) look_ahead: bool,
    /// CHECK POWER MODE's answer: FFh active, 80h idle, 00h standby.
    pub(crate) power: u8,
    pub(crate) serial: String,
    /// ATAPI state.
    pub(crate) atapi: atapi::AtapiState,
}

impl Drive {
    pub fn new(media: Media, serial: &str) -> Self {
        let mut d = Drive {
            media,
            features: 0,
            sector_count: 0,
            lba_low: 0,
            lba_mid: 0,
            lba_high: 0,
            hob: [0; 5],
            device: 0,
            status: 0,
            error: 0,
            intrq: false,
            buf: Vec::new(),
            pos: 0,
            pio: Pio::None,
            dma: None,
            multiple: 0,
            heads: 16,
            sectors_per_track: 63,
            transfer_mode: 0,
            write_cache: true,
            look_ahead: true,
            power: 0xff,
            serial: serial.to_string(),
            atapi: atapi::AtapiState::default(),
        };
        d.reset();
        d
    }

    pub fn is_atapi(&self) -> bool {
        matches!(self.media, Media::Cdrom(_))
    }

    /// Power-on, SRST or EXECUTE DEVICE DIAGNOSTIC: abandon any transfer, signature in the task file.
    pub(crate) fn reset(&mut self) {
        self.pio = Pio::None;
        self.dma = None;
        self.buf.clear();
        self.pos = 0;
        self.intrq = false;
        self.set_signature();
        self.error = 0x01; // diagnostic code: passed
        self.status = if self.is_atapi() { 0 } else { STATUS_DRDY | STATUS_DSC };
    }

    /// The board's RESET (a hardware reset of the device): the drive as [`Drive::new`] makes
    /// it, so the settings SET FEATURES, SET MULTIPLE MODE and INITIALIZE DEVICE PARAMETERS made
    /// are back at their defaults and an ATAPI drive's state (sense, medium lock) is cleared.
    /// The medium and what it holds stay.
    pub(crate) fn power_on(self) -> Drive {
        Drive::new(self.media, &self.serial)
    }

    /// The signature (ATA: 01h/01h/00h/00h; ATAPI: 01h/01h/14h/EBh) and Device 00h.
    pub(crate) fn set_signature(&mut self) {
        self.sector_count = 1;
        self.lba_low = 1;
        (self.lba_mid, self.lba_high) = if self.is_atapi() { (0x14, 0xeb) } else { (0, 0) };
        self.device = 0;
    }

    /// Latches a task-file write (both devices see every write); the old value becomes HOB.
    fn write_taskfile(&mut self, reg: u64, v: u8) {
        let (slot, hob) = match reg {
            REG_FEATURES => (&mut self.features, 0),
            REG_SECTOR_COUNT => (&mut self.sector_count, 1),
            REG_LBA_LOW => (&mut self.lba_low, 2),
            REG_LBA_MID => (&mut self.lba_mid, 3),
            REG_LBA_HIGH => (&mut self.lba_high, 4),
            _ => {
                self.device = v;
                return;
            }
        };
        self.hob[hob] = std::mem::replace(slot, v);
    }

    fn read_taskfile(&self, reg: u64, hob: bool) -> u8 {
        let i = reg as usize - 1;
        match reg {
            REG_ERROR => self.error,
            REG_DEVICE => self.device,
            _ if hob => self.hob[i],
            REG_SECTOR_COUNT => self.sector_count,
            REG_LBA_LOW => self.lba_low,
            REG_LBA_MID => self.lba_mid,
            _ => self.lba_high,
        }
    }

    /// Ends the command successfully: ready, no data, interrupt.
    pub(crate) fn complete(&mut self) {
        self.status = STATUS_DRDY | STATUS_DSC;
        self.pio = Pio::None;
        self.intrq = true;
    }

    /// Ends the command with `error` in the Error register.
    pub(crate) fn abort_with(&mut self, error: u8) {
        self.error = error;
        self.status = STATUS_DRDY | STATUS_ERR;
        self.pio = Pio::None;
        self.dma = None;
        self.intrq = true;
    }

    /// Starts a device-to-host PIO block of `data`; `pio` says what follows it.
    pub(crate) fn start_data_in(&mut self, data: Vec<u8>, pio: Pio) {
        self.buf = data;
        self.pos = 0;
        self.pio = pio;
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        self.intrq = true;
    }

    /// Starts a host-to-device PIO block of `len` bytes.
    pub(crate) fn start_data_out(&mut self, len: usize, pio: Pio, interrupt: bool) {
        self.buf = vec![0; len];
        self.pos = 0;
        self.pio = pio;
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        self.intrq |= interrupt;
    }

    /// A Data register read of `bytes` bytes.
    fn read_data(&mut self, bytes: usize) -> u32 {
        if self.status & STATUS_DRQ == 0 || self.pos >= self.buf.len() {
            return 0;
        }
        let mut v = 0u32;
        for i in 0..bytes {
            v |= (*self.buf.get(self.pos + i).unwrap_or(&0) as u32) << (8 * i);
        }
        self.pos += bytes;
        if self.pos >= self.buf.len() {
            self.block_done();
        }
        v
    }

    /// A Data register write of `bytes` bytes.
    fn write_data(&mut self, bytes: usize, v: u32) {
        if self.status & STATUS_DRQ == 0 || self.pos >= self.buf.len() {
            return;
        }
        for i in 0..bytes {
            if let Some(b) = self.buf.get_mut(self.pos + i) {
                *b = (v >> (8 * i)) as u8;
            }
        }
        self.pos += bytes;
        if self.pos >= self.buf.len() {
            self.block_done();
        }
    }

    /// The PIO buffer is exhausted (read) or full (write): move on.
    fn block_done(&mut self) {
        match self.pio {
            Pio::None | Pio::DataIn => {
                self.status = STATUS_DRDY | STATUS_DSC;
                self.pio = Pio::None;
                if self.is_atapi() {
                    self.status = STATUS_DRDY;
                }
            }
            Pio::Read { .. } | Pio::Write { .. } => self.ata_block_done(),
            Pio::Packet => self.packet_received(),
            Pio::AtapiIn => self.atapi_chunk_done(),
        }
    }

    /// The LBA the task file addresses, for LBA48 or LBA28/CHS commands; `None` for a CHS address
    /// outside the current geometry.
    pub(crate) fn taskfile_lba(&self, lba48: bool) -> Option<u64> {
        let low = self.lba_low as u64 | (self.lba_mid as u64) << 8 | (self.lba_high as u64) << 16;
        if lba48 {
            let high = self.hob[2] as u64 | (self.hob[3] as u64) << 8 | (self.hob[4] as u64) << 16;
            return Some(high << 24 | low);
        }
        if self.device & DEVICE_LBA != 0 {
            return Some(((self.device & 0xf) as u64) << 24 | low);
        }
        let (cyl, head, sector) =
            (self.lba_mid as u64 | (self.lba_high as u64) << 8, (self.device & 0xf) as u64, self.lba_low as u64);
        let (heads, spt) = (self.heads as u64, self.sectors_per_track as u64);
        if sector == 0 || sector > spt || head >= heads {
            return None;
        }
        Some((cyl * heads + head) * spt + sector - 1)
    }

    /// Writes `lba` back into the task file in the command's addressing mode.
    pub(crate) fn set_taskfile_lba(&mut self, lba: u64, lba48: bool) {
        if lba48 {
            self.hob[2..5].copy_from_slice(&[(lba >> 24) as u8, (lba >> 32) as u8, (lba >> 40) as u8]);
        } else if self.device & DEVICE_LBA == 0 && self.heads > 0 && self.sectors_per_track > 0 {
            let (heads, spt) = (self.heads as u64, self.sectors_per_track as u64);
            let cyl = lba / (heads * spt);
            (self.lba_low, self.lba_mid, self.lba_high) = ((lba % spt + 1) as u8, cyl as u8, (cyl >> 8) as u8);
            self.device = (self.device & 0xf0) | ((lba / spt) % heads) as u8;
            return;
        } else {
            self.device = (self.device & 0xf0) | ((lba >> 24) & 0xf) as u8;
        }
        (self.lba_low, self.lba_mid, self.lba_high) = (lba as u8, (lba >> 8) as u8, (lba >> 16) as u8);
    }

    /// A command was written to the Command register.
    fn command(&mut self, cmd: u8) {
        self.intrq = false;
        self.pio = Pio::None;
        self.dma = None;
        self.error = 0;
        if self.is_atapi() {
            self.atapi_command(cmd);
        } else {
            self.ata_command(cmd);
        }
    }
}

/// Bus-master registers of one channel.
#[derive(Debug, Default, Clone, Copy)]
struct BusMaster {
    command: u8,
    status: u8,
    prd_table: u32,
}

struct Channel {
    irq: u8,
    drives: [Option<Drive>; 2],
    /// The DEV bit last written to the Device register.
    selected: usize,
    control: u8,
    bm: BusMaster,
    /// The level last driven on the IRQ line.
    irq_level: bool,
}

impl Channel {
    fn new(irq: u8) -> Self {
        Channel { irq, drives: [None, None], selected: 0, control: 0, bm: BusMaster::default(), irq_level: false }
    }

    /// The board's RESET: both drives power on ([`Drive::power_on`]), the Device Control and
    /// bus-master registers clear, and the IRQ line goes low.
    fn reset(&mut self, lines: &Lines) {
        for slot in &mut self.drives {
            *slot = slot.take().map(Drive::power_on);
        }
        self.selected = 0;
        self.control = 0;
        self.bm = BusMaster::default();
        if self.irq_level {
            self.irq_level = false;
            lines.set_irq(self.irq, false);
        }
    }

    fn selected_drive(&mut self) -> Option<&mut Drive> {
        self.drives[self.selected].as_mut()
    }

    fn read_cmd(&mut self, reg: u64, size: u8) -> u32 {
        if self.drives.iter().all(Option::is_none) {
            return 0xffff_ffff;
        }
        let hob = self.control & CONTROL_HOB != 0;
        let sel = self.selected;
        if reg == REG_DATA {
            let bytes = if size == 4 { 4 } else { 2 };
            return self.selected_drive().map_or(0xffff_ffff, |d| d.read_data(bytes));
        }
        match self.drives[sel].as_mut() {
            Some(d) if reg == REG_STATUS => {
                d.intrq = false;
                d.status as u32
            }
            Some(d) => d.read_taskfile(reg, hob) as u32,
            None if reg == REG_STATUS => 0,
            // The present device answers for the absent one (its Status reads 00h, above).
            None => {
                let other = self.drives[1 - sel].as_ref().expect("channel has a drive");
                let v = other.read_taskfile(reg, hob);
                if reg == REG_DEVICE {
                    (v & !DEVICE_DEV | (sel as u8) << 4) as u32
                } else {
                    v as u32
                }
            }
        }
    }

    fn write_cmd(&mut self, reg: u64, size: u8, v: u32) {
        match reg {
            REG_DATA => {
                let bytes = if size == 4 { 4 } else { 2 };
                if let Some(d) = self.selected_drive() {
                    d.write_data(bytes, v);
                }
            }
            REG_COMMAND => {
                if let Some(d) = self.selected_drive() {
                    if d.status & STATUS_BSY == 0 {
                        d.command(v as u8);
                    }
                }
                // EXECUTE DEVICE DIAGNOSTIC runs on both devices whoever is selected.
                if v as u8 == ata::CMD_EXECUTE_DEVICE_DIAGNOSTIC && self.drives.iter().any(Option::is_some) {
                    self.diagnose();
                }
            }
            _ => {
                self.control &= !CONTROL_HOB;
                for d in self.drives.iter_mut().flatten() {
                    d.write_taskfile(reg, v as u8);
                }
                if reg == REG_DEVICE {
                    self.selected = ((v as u8 & DEVICE_DEV) >> 4) as usize;
                }
            }
        }
    }

    /// EXECUTE DEVICE DIAGNOSTIC: both devices reset to their signatures; device 0 interrupts.
    fn diagnose(&mut self) {
        for d in self.drives.iter_mut().flatten() {
            d.reset();
        }
        self.selected = 0;
        if let Some(d) = self.drives[0].as_mut() {
            d.intrq = true;
        } else if let Some(d) = self.drives[1].as_mut() {
            d.intrq = true;
        }
    }

    fn write_control(&mut self, v: u8) {
        let was_reset = self.control & CONTROL_SRST != 0;
        self.control = v;
        if v & CONTROL_SRST != 0 && !was_reset {
            for d in self.drives.iter_mut().flatten() {
                d.reset();
                d.status = STATUS_BSY;
            }
        } else if v & CONTROL_SRST == 0 && was_reset {
            for d in self.drives.iter_mut().flatten() {
                d.reset();
            }
            self.selected = 0;
        }
    }

    fn read_control(&mut self) -> u32 {
        if self.drives.iter().all(Option::is_none) {
            return 0xff;
        }
        self.drives[self.selected].as_ref().map_or(0, |d| d.status as u32)
    }

    /// Drives the IRQ line from the selected device's INTRQ and nIEN; a rising edge sets BMIS's
    /// Interrupt bit.
    fn update_irq(&mut self, lines: &Lines) {
        let level = self.control & CONTROL_NIEN == 0 && self.drives[self.selected].as_ref().is_some_and(|d| d.intrq);
        if level != self.irq_level {
            self.irq_level = level;
            lines.set_irq(self.irq, level);
            if level {
                self.bm.status |= BMIS_INTERRUPT;
            }
        }
    }

    fn read_bm(&self, reg: u64, size: u8) -> u32 {
        let bytes = [self.bm.command, 0, self.bm.status, 0];
        let mut all = [0u8; 8];
        all[..4].copy_from_slice(&bytes);
        all[4..].copy_from_slice(&self.bm.prd_table.to_le_bytes());
        (0..size as usize).map(|i| all.get(reg as usize + i).map_or(0, |&b| (b as u32) << (8 * i))).sum()
    }

    fn write_bm(&mut self, reg: u64, size: u8, v: u32) {
        for i in 0..size as u64 {
            let b = (v >> (8 * i)) as u8;
            match reg + i {
                BMIC => {
                    let start = b & BMIC_START != 0;
                    if start && self.bm.command & BMIC_START == 0 {
                        self.bm.status |= BMIS_ACTIVE;
                    } else if !start {
                        self.bm.status &= !BMIS_ACTIVE;
                    }
                    self.bm.command = b & (BMIC_START | BMIC_WRITE_MEMORY);
                }
                BMIS => {
                    self.bm.status = (self.bm.status & !BMIS_DMA_CAPABLE) | (b & BMIS_DMA_CAPABLE);
                    self.bm.status &= !(b & (BMIS_ERROR | BMIS_INTERRUPT));
                }
                r @ 4..=7 => {
                    let shift = 8 * (r - 4);
                    self.bm.prd_table = (self.bm.prd_table & !(0xff << shift)) | (b as u32) << shift;
                    self.bm.prd_table &= !3;
                }
                _ => {}
            }
        }
    }

    fn dma_ready(&self) -> bool {
        self.bm.command & BMIC_START != 0
            && self.bm.status & BMIS_ACTIVE != 0
            && self.drives.iter().flatten().any(|d| d.dma.is_some())
    }

    /// Walks the PRD table and moves the waiting transfer.
    fn run_dma(&mut self, mem: &mut dyn GuestMemory) {
        let Some(d) = self.drives.iter_mut().flatten().find(|d| d.dma.is_some()) else { return };
        let mut job = d.dma.take().expect("found above");
        let total = job.data.len();
        let (mut done, mut prd, mut table_exhausted) = (0usize, self.bm.prd_table as u64, false);
        // A PRD table longer than this would be a guest loop; 64 KiB of entries is the real limit.
        for _ in 0..8192 {
            if done >= total {
                break;
            }
            let mut entry = [0u8; 8];
            mem.read_bytes(prd, &mut entry);
            let base = u32::from_le_bytes(entry[0..4].try_into().unwrap()) as u64 & !1;
            let count = match u16::from_le_bytes([entry[4], entry[5]]) & !1 {
                0 => 0x1_0000,
                n => n as usize,
            };
            let eot = entry[7] & 0x80 != 0;
            let n = count.min(total - done);
            if job.to_memory {
                mem.write_bytes(base, &job.data[done..done + n]);
            } else {
                mem.read_bytes(base, &mut job.data[done..done + n]);
            }
            done += n;
            prd += 8;
            if eot {
                table_exhausted = n == count;
                break;
            }
        }
        // Active clears when the last PRD was used up; it stays set when the PRDs describe more
        // memory than the transfer needed.
        if table_exhausted || done < total {
            self.bm.status &= !BMIS_ACTIVE;
        }
        if done < total {
            self.bm.status |= BMIS_ERROR;
            d.abort_with(ERROR_ABRT);
            return;
        }
        d.dma_done(job);
    }
}

/// Both IDE channels and the PIIX3 bus-master registers.
pub struct Ide {
    channels: [Channel; 2],
    lines: Lines,
}

impl Ide {
    /// Channels with no drives yet; primary on IRQ 14, secondary on IRQ 15.
    pub fn new(lines: Lines) -> Self {
        Ide { channels: [Channel::new(PRIMARY_IRQ), Channel::new(SECONDARY_IRQ)], lines }
    }

    /// Puts `media` on `channel` (0 primary, 1 secondary) as device `device` (0 master, 1 slave).
    pub fn attach(&mut self, channel: usize, device: usize, media: Media) {
        let serial = format!("EMU{:017}", channel * 2 + device + 1);
        self.channels[channel].drives[device] = Some(Drive::new(media, &serial));
    }

    /// The drive at `channel`/`device`, if any.
    pub fn drive_mut(&mut self, channel: usize, device: usize) -> Option<&mut Drive> {
        self.channels[channel].drives[device].as_mut()
    }

    /// Flushes every disk's backend (at exit; backends also flush on drop).
    pub fn flush_all(&mut self) -> Result<(), BlockError> {
        for d in self.channels.iter_mut().flat_map(|c| c.drives.iter_mut().flatten()) {
            if let Media::Disk(b) = &mut d.media {
                b.flush()?;
            }
        }
        Ok(())
    }
}

impl Device for Ide {
    fn name(&self) -> &'static str {
        "PIIX3 IDE"
    }

    /// Both channels reset (the disks' contents stay, and what the guest wrote has reached
    /// the backend already: writes go through at once, cache or not).
    fn reset(&mut self) {
        for c in &mut self.channels {
            c.reset(&self.lines);
        }
    }

    fn read(&mut self, region: u8, offset: u64, size: u8) -> u32 {
        let (ch, v) = match region {
            0 | 2 => {
                let c = region as usize / 2;
                (c, self.channels[c].read_cmd(offset, size))
            }
            1 | 3 => {
                let c = region as usize / 2;
                (c, self.channels[c].read_control())
            }
            REGION_BUS_MASTER => {
                let c = (offset / 8) as usize;
                return self.channels[c.min(1)].read_bm(offset % 8, size);
            }
            _ => return emu_core::device::OPEN_BUS,
        };
        self.channels[ch].update_irq(&self.lines);
        if size == 4 {
            v
        } else {
            v & ((1 << (8 * size)) - 1)
        }
    }

    fn write(&mut self, region: u8, offset: u64, size: u8, value: u32) {
        let ch = match region {
            0 | 2 => {
                let c = region as usize / 2;
                self.channels[c].write_cmd(offset, size, value);
                c
            }
            1 | 3 => {
                let c = region as usize / 2;
                self.channels[c].write_control(value as u8);
                c
            }
            REGION_BUS_MASTER => {
                let c = ((offset / 8) as usize).min(1);
                self.channels[c].write_bm(offset % 8, size, value);
                c
            }
            _ => return,
        };
        self.channels[ch].update_irq(&self.lines);
    }

    fn dma_pending(&self) -> bool {
        self.channels.iter().any(Channel::dma_ready)
    }

    fn run_dma(&mut self, mem: &mut dyn GuestMemory) {
        for c in &mut self.channels {
            if c.dma_ready() {
                c.run_dma(mem);
                c.update_irq(&self.lines);
            }
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An IDE controller driven through its registers, with the IRQ lines to look at.
    pub struct Rig {
        pub ide: Ide,
        pub lines: Lines,
    }

    impl Rig {
        pub fn new() -> Self {
            let lines = Lines::new();
            Rig { ide: Ide::new(lines.clone()), lines }
        }
        pub fn outb(&mut self, reg: u64, v: u8) {
            self.ide.write(0, reg, 1, v as u32);
        }
        pub fn inb(&mut self, reg: u64) -> u8 {
            self.ide.read(0, reg, 1) as u8
        }
        pub fn alt_status(&mut self) -> u8 {
            self.ide.read(1, 0, 1) as u8
        }
        pub fn control(&mut self, v: u8) {
            self.ide.write(1, 0, 1, v as u32);
        }
        pub fn irq14(&self) -> bool {
            self.lines.irq_levels() & (1 << 14) != 0
        }
        /// Reads `n` bytes through the 16-bit data port.
        pub fn read_data(&mut self, n: usize) -> Vec<u8> {
            (0..n / 2).flat_map(|_| (self.ide.read(0, REG_DATA, 2) as u16).to_le_bytes()).collect()
        }
        pub fn write_data(&mut self, data: &[u8]) {
            for w in data.chunks(2) {
                self.ide.write(0, REG_DATA, 2, u16::from_le_bytes([w[0], w[1]]) as u32);
            }
        }
        /// Selects the device and issues an LBA28 command.
        pub fn lba28(&mut self, dev: u8, cmd: u8, lba: u32, count: u8) {
            self.outb(REG_DEVICE, 0xe0 | dev << 4 | (lba >> 24) as u8 & 0xf);
            self.outb(REG_SECTOR_COUNT, count);
            self.outb(REG_LBA_LOW, lba as u8);
            self.outb(REG_LBA_MID, (lba >> 8) as u8);
            self.outb(REG_LBA_HIGH, (lba >> 16) as u8);
            self.outb(REG_COMMAND, cmd);
        }
        /// Issues an LBA48 command: high bytes first, then low.
        pub fn lba48(&mut self, cmd: u8, lba: u64, count: u16) {
            self.outb(REG_DEVICE, 0x40);
            for shift in [8u32, 0] {
                self.outb(REG_SECTOR_COUNT, (count >> shift) as u8);
                self.outb(REG_LBA_LOW, (lba >> (24 * (shift / 8))) as u8);
                self.outb(REG_LBA_MID, (lba >> (24 * (shift / 8) + 8)) as u8);
                self.outb(REG_LBA_HIGH, (lba >> (24 * (shift / 8) + 16)) as u8);
            }
            self.outb(REG_COMMAND, cmd);
        }
    }

    pub fn disk(sectors: usize) -> MemBackend {
        let data = (0..sectors * 512).map(|i| ((i / 512) as u8) ^ (i as u8)).collect();
        MemBackend { data, ..Default::default() }
    }

    #[test]
    fn empty_channel_floats_and_absent_slave_reads_status_zero() {
        let mut r = Rig::new();
        assert_eq!(r.inb(REG_STATUS), 0xff);
        assert_eq!(r.ide.read(2, REG_STATUS, 1), 0xff);
        r.ide.attach(0, 0, Media::Disk(Box::new(disk(4))));
        assert_eq!(r.inb(REG_STATUS), STATUS_DRDY | STATUS_DSC);
        r.outb(REG_DEVICE, 0xb0);
        r.outb(REG_SECTOR_COUNT, 0x55);
        assert_eq!(r.inb(REG_STATUS), 0);
        assert_eq!(r.alt_status(), 0);
        assert_eq!(r.inb(REG_SECTOR_COUNT), 0x55); // device 0 answers for the registers
        assert_eq!(r.inb(REG_DEVICE) & DEVICE_DEV, DEVICE_DEV);
    }

    #[test]
    fn srst_leaves_signatures_of_both_devices() {
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Disk(Box::new(disk(4))));
        r.ide.attach(0, 1, Media::Cdrom(Box::new(MemBackend { data: vec![0; 4096], ..Default::default() })));
        r.outb(REG_LBA_MID, 0x12);
        r.control(CONTROL_SRST);
        assert_eq!(r.alt_status() & STATUS_BSY, STATUS_BSY);
        r.control(0);
        assert!(!r.irq14());
        let sig = |r: &mut Rig| {
            [REG_ERROR, REG_SECTOR_COUNT, REG_LBA_LOW, REG_LBA_MID, REG_LBA_HIGH, REG_DEVICE].map(|x| r.inb(x))
        };
        assert_eq!(sig(&mut r), [1, 1, 1, 0, 0, 0]);
        assert_eq!(r.inb(REG_STATUS), 0x50);
        r.outb(REG_DEVICE, 0x10);
        assert_eq!(sig(&mut r)[..5], [1, 1, 1, 0x14, 0xeb]);
        assert_eq!(r.inb(REG_STATUS), 0);
    }

    #[test]
    fn nien_suppresses_the_interrupt_line() {
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Disk(Box::new(disk(4))));
        r.control(CONTROL_NIEN);
        r.lba28(0, ata::CMD_READ_VERIFY_SECTORS, 0, 1);
        assert!(!r.irq14());
        r.control(0); // the pending interrupt now reaches the line
        assert!(r.irq14());
        assert_eq!(r.alt_status(), 0x50);
        assert!(r.irq14(), "alternate status does not acknowledge");
        r.inb(REG_STATUS);
        assert!(!r.irq14());
    }

    #[test]
    fn hob_reads_back_the_previous_register_contents() {
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Disk(Box::new(disk(4))));
        r.outb(REG_LBA_LOW, 0x11);
        r.outb(REG_LBA_LOW, 0x22);
        assert_eq!(r.inb(REG_LBA_LOW), 0x22);
        r.control(CONTROL_HOB);
        assert_eq!(r.inb(REG_LBA_LOW), 0x11);
        r.outb(REG_LBA_MID, 0); // any task-file write clears HOB
        assert_eq!(r.inb(REG_LBA_LOW), 0x22);
    }

    /// Guest memory as a plain vector.
    pub struct Mem(pub Vec<u8>);
    impl GuestMemory for Mem {
        fn read_bytes(&mut self, pa: u64, buf: &mut [u8]) {
            buf.copy_from_slice(&self.0[pa as usize..pa as usize + buf.len()]);
        }
        fn write_bytes(&mut self, pa: u64, data: &[u8]) {
            self.0[pa as usize..pa as usize + data.len()].copy_from_slice(data);
        }
    }

    fn prd(mem: &mut Mem, at: usize, entries: &[(u32, u16, bool)]) {
        for (i, &(base, len, eot)) in entries.iter().enumerate() {
            let e = &mut mem.0[at + 8 * i..at + 8 * i + 8];
            e[0..4].copy_from_slice(&base.to_le_bytes());
            e[4..6].copy_from_slice(&len.to_le_bytes());
            e[6..8].copy_from_slice(&(if eot { 0x8000u16 } else { 0 }).to_le_bytes());
        }
    }

    #[test]
    fn bus_master_dma_reads_and_writes_through_prds() {
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Disk(Box::new(disk(8))));
        let mut mem = Mem(vec![0; 0x10000]);
        prd(&mut mem, 0x100, &[(0x1000, 512, false), (0x3000, 1024, true)]);
        r.ide.write(REGION_BUS_MASTER, BMIDTP, 4, 0x100);
        r.ide.write(REGION_BUS_MASTER, BMIC, 1, BMIC_WRITE_MEMORY as u32);
        r.lba28(0, ata::CMD_READ_DMA, 2, 3);
        assert!(!r.ide.dma_pending(), "waits for the Start bit");
        r.ide.write(REGION_BUS_MASTER, BMIC, 1, (BMIC_WRITE_MEMORY | BMIC_START) as u32);
        assert!(r.ide.dma_pending());
        r.ide.run_dma(&mut mem);
        let want = disk(8).data;
        assert_eq!(mem.0[0x1000..0x1200], want[1024..1536]);
        assert_eq!(mem.0[0x3000..0x3400], want[1536..2560]);
        assert!(r.irq14());
        let bmis = r.ide.read(REGION_BUS_MASTER, BMIS, 1) as u8;
        assert_eq!(bmis & (BMIS_ACTIVE | BMIS_INTERRUPT | BMIS_ERROR), BMIS_INTERRUPT);
        assert_eq!(r.inb(REG_STATUS), 0x50);
        r.ide.write(REGION_BUS_MASTER, BMIS, 1, BMIS_INTERRUPT as u32);
        r.ide.write(REGION_BUS_MASTER, BMIC, 1, 0);

        // WRITE DMA of one sector from 0x5000, with a PRD longer than the data: Active stays.
        mem.0[0x5000..0x5200].fill(0xab);
        prd(&mut mem, 0x200, &[(0x5000, 0, true)]);
        r.ide.write(REGION_BUS_MASTER, BMIDTP, 4, 0x200);
        r.lba28(0, ata::CMD_WRITE_DMA, 7, 1);
        r.ide.write(REGION_BUS_MASTER, BMIC, 1, BMIC_START as u32);
        r.ide.run_dma(&mut mem);
        let bmis = r.ide.read(REGION_BUS_MASTER, BMIS, 1) as u8;
        assert_eq!(bmis & (BMIS_ACTIVE | BMIS_INTERRUPT), BMIS_ACTIVE | BMIS_INTERRUPT);
        r.lba28(0, ata::CMD_READ_SECTORS, 7, 1);
        assert_eq!(r.read_data(512), vec![0xab; 512]);
    }
}
