//! ATA commands of a hard disk (ATA/ATAPI-6): the command set, IDENTIFY DEVICE's data and the
//! PIO/DMA data phases of reads and writes.
//!
//! IDENTIFY DEVICE reports: the default CHS translation of ATA-6 annex (16 heads, 63 sectors per
//! track, cylinders = capacity / 1008 capped at 16383) with the current translation set by
//! INITIALIZE DEVICE PARAMETERS; LBA28 capacity (words 60-61, at most 0FFFFFFFh) and LBA48
//! capacity (words 100-103); LBA, DMA and IORDY capabilities; PIO modes 3-4, multiword DMA 0-2
//! and Ultra DMA 0-5 (every mode "works" since transfers are instant); READ/WRITE MULTIPLE up to
//! 16 sectors per block; the 48-bit address, FLUSH CACHE (EXT), write cache, look-ahead and power
//! management feature sets in words 82-87; and the integrity word 255.
//!
//! Errors: an address past the end of the disk or outside the CHS geometry is IDNF; a command
//! or SET FEATURES subcommand not listed, a write to a read-only medium, or READ/WRITE MULTIPLE
//! without SET MULTIPLE MODE is ABRT; a host I/O error while reading is UNC, while writing DF.

use super::{
    BlockError, DmaJob, Drive, Media, Pio, ERROR_ABRT, ERROR_IDNF, ERROR_UNC, STATUS_DF, STATUS_DRDY, STATUS_DRQ,
    STATUS_DSC,
};

pub const CMD_NOP: u8 = 0x00;
pub const CMD_DEVICE_RESET: u8 = 0x08;
pub const CMD_RECALIBRATE: u8 = 0x10;
pub const CMD_READ_SECTORS: u8 = 0x20;
pub const CMD_READ_SECTORS_NORETRY: u8 = 0x21;
pub const CMD_READ_SECTORS_EXT: u8 = 0x24;
pub const CMD_READ_DMA_EXT: u8 = 0x25;
pub const CMD_READ_MULTIPLE_EXT: u8 = 0x29;
pub const CMD_WRITE_SECTORS: u8 = 0x30;
pub const CMD_WRITE_SECTORS_NORETRY: u8 = 0x31;
pub const CMD_WRITE_SECTORS_EXT: u8 = 0x34;
pub const CMD_WRITE_DMA_EXT: u8 = 0x35;
pub const CMD_WRITE_MULTIPLE_EXT: u8 = 0x39;
pub const CMD_READ_VERIFY_SECTORS: u8 = 0x40;
pub const CMD_READ_VERIFY_SECTORS_NORETRY: u8 = 0x41;
pub const CMD_READ_VERIFY_SECTORS_EXT: u8 = 0x42;
pub const CMD_SEEK: u8 = 0x70;
pub const CMD_EXECUTE_DEVICE_DIAGNOSTIC: u8 = 0x90;
pub const CMD_INITIALIZE_DEVICE_PARAMETERS: u8 = 0x91;
pub const CMD_PACKET: u8 = 0xa0;
pub const CMD_IDENTIFY_PACKET_DEVICE: u8 = 0xa1;
pub const CMD_READ_MULTIPLE: u8 = 0xc4;
pub const CMD_WRITE_MULTIPLE: u8 = 0xc5;
pub const CMD_SET_MULTIPLE_MODE: u8 = 0xc6;
pub const CMD_READ_DMA: u8 = 0xc8;
pub const CMD_READ_DMA_NORETRY: u8 = 0xc9;
pub const CMD_WRITE_DMA: u8 = 0xca;
pub const CMD_WRITE_DMA_NORETRY: u8 = 0xcb;
pub const CMD_STANDBY_IMMEDIATE: u8 = 0xe0;
pub const CMD_IDLE_IMMEDIATE: u8 = 0xe1;
pub const CMD_STANDBY: u8 = 0xe2;
pub const CMD_IDLE: u8 = 0xe3;
pub const CMD_CHECK_POWER_MODE: u8 = 0xe5;
pub const CMD_SLEEP: u8 = 0xe6;
pub const CMD_FLUSH_CACHE: u8 = 0xe7;
pub const CMD_FLUSH_CACHE_EXT: u8 = 0xea;
pub const CMD_IDENTIFY_DEVICE: u8 = 0xec;
pub const CMD_SET_FEATURES: u8 = 0xef;
// ATA-3 opcodes of the power commands.
pub const CMD_STANDBY_IMMEDIATE_OLD: u8 = 0x94;
pub const CMD_IDLE_IMMEDIATE_OLD: u8 = 0x95;
pub const CMD_STANDBY_OLD: u8 = 0x96;
pub const CMD_IDLE_OLD: u8 = 0x97;
pub const CMD_CHECK_POWER_MODE_OLD: u8 = 0x98;

// SET FEATURES subcommands (Features register).
pub const FEATURE_ENABLE_WRITE_CACHE: u8 = 0x02;
pub const FEATURE_SET_TRANSFER_MODE: u8 = 0x03;
pub const FEATURE_DISABLE_READ_LOOK_AHEAD: u8 = 0x55;
pub const FEATURE_DISABLE_REVERTING: u8 = 0x66;
pub const FEATURE_DISABLE_WRITE_CACHE: u8 = 0x82;
pub const FEATURE_ENABLE_READ_LOOK_AHEAD: u8 = 0xaa;
pub const FEATURE_ENABLE_REVERTING: u8 = 0xcc;

/// Largest READ/WRITE MULTIPLE block (IDENTIFY word 47).
pub const MAX_MULTIPLE: u16 = 16;
/// LBA28's largest capacity.
pub const LBA28_MAX: u64 = 0x0fff_ffff;
const SECTOR: usize = 512;

/// Fills IDENTIFY words `[at, at + len/2)` with `s` padded with spaces, two characters per word,
/// the first in the high byte (ATA strings are byte-swapped in little-endian words).
pub(crate) fn put_string(words: &mut [u16], at: usize, len: usize, s: &str) {
    let mut bytes = s.as_bytes().to_vec();
    bytes.resize(len, b' ');
    for i in 0..len / 2 {
        words[at + i] = (bytes[2 * i] as u16) << 8 | bytes[2 * i + 1] as u16;
    }
}

/// Sets word 255 (A5h signature and checksum) and returns the 512 bytes.
pub(crate) fn finish_identify(words: &mut [u16; 256]) -> Vec<u8> {
    words[255] = 0x00a5;
    let sum = words[..255].iter().fold(0u8, |s, w| s.wrapping_add(*w as u8).wrapping_add((*w >> 8) as u8));
    words[255] |= (0u8.wrapping_sub(sum.wrapping_add(0xa5)) as u16) << 8;
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The default CHS geometry of a disk of `sectors` sectors: (cylinders, heads, sectors/track).
pub fn default_geometry(sectors: u64) -> (u16, u16, u16) {
    let cyl = (sectors / (16 * 63)).clamp(1, 16383);
    (cyl as u16, 16, 63)
}

impl Drive {
    fn disk(&mut self) -> &mut Box<dyn super::BlockBackend> {
        match &mut self.media {
            Media::Disk(b) | Media::Cdrom(b) => b,
        }
    }

    /// Capacity in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        match &self.media {
            Media::Disk(b) | Media::Cdrom(b) => b.len() / SECTOR as u64,
        }
    }

    /// The 256 words of IDENTIFY DEVICE.
    pub fn identify_device(&self) -> Vec<u8> {
        let mut w = [0u16; 256];
        let total = self.sectors();
        let (cyl, heads, spt) = default_geometry(total);
        w[0] = 0x0040; // fixed device, ATA
        w[1] = cyl;
        w[3] = heads;
        w[6] = spt;
        put_string(&mut w, 10, 20, &self.serial);
        put_string(&mut w, 23, 8, env!("CARGO_PKG_VERSION"));
        put_string(&mut w, 27, 40, "EMU HARDDISK");
        w[47] = 0x8000 | MAX_MULTIPLE;
        w[48] = 0x0001; // doubleword I/O (ATA-1 meaning; the data port takes 32-bit accesses)
        w[49] = 1 << 11 | 1 << 10 | 1 << 9 | 1 << 8; // IORDY, IORDY disable, LBA, DMA
        w[50] = 0x4000;
        w[51] = 0x0200; // PIO timing mode 2 (obsolete field)
        w[53] = 0x0007; // words 54-58, 64-70 and 88 are valid
        let (ch, cs) = (self.heads.max(1) as u64, self.sectors_per_track.max(1) as u64);
        let cur_cyl = (total.min(16383 * 16 * 63) / (ch * cs)).min(65535);
        w[54] = cur_cyl as u16;
        w[55] = self.heads;
        w[56] = self.sectors_per_track;
        let cur_cap = cur_cyl * ch * cs;
        (w[57], w[58]) = (cur_cap as u16, (cur_cap >> 16) as u16);
        if self.multiple != 0 {
            w[59] = 0x0100 | self.multiple;
        }
        let lba28 = total.min(LBA28_MAX);
        (w[60], w[61]) = (lba28 as u16, (lba28 >> 16) as u16);
        let mode = self.transfer_mode;
        w[63] = 0x0007 | if mode >> 3 == 4 { 0x0100 << (mode & 7) } else { 0 };
        w[64] = 0x0003; // PIO 3 and 4
        (w[65], w[66], w[67], w[68]) = (120, 120, 120, 120);
        w[80] = 0x007e; // ATA-1 to ATA-6
        w[82] = 1 << 14 | 1 << 6 | 1 << 5 | 1 << 3; // NOP, look-ahead, write cache, power management
        w[83] = 1 << 14 | 1 << 13 | 1 << 12 | 1 << 10; // FLUSH CACHE EXT, FLUSH CACHE, 48-bit
        w[84] = 1 << 14;
        w[85] = 1 << 14 | (self.look_ahead as u16) << 6 | (self.write_cache as u16) << 5 | 1 << 3;
        w[86] = 1 << 13 | 1 << 12 | 1 << 10;
        w[87] = 1 << 14;
        w[88] = 0x003f | if mode >> 3 == 8 { 0x0100 << (mode & 7) } else { 0 };
        w[93] = 1 << 14 | 1 << 13 | 1 << 3 | 1; // 80-conductor cable, diagnostics passed
        for i in 0..4 {
            w[100 + i] = (total >> (16 * i)) as u16;
        }
        finish_identify(&mut w)
    }

    pub(crate) fn ata_command(&mut self, cmd: u8) {
        let lba48 = matches!(
            cmd,
            CMD_READ_SECTORS_EXT
                | CMD_READ_DMA_EXT
                | CMD_READ_MULTIPLE_EXT
                | CMD_WRITE_SECTORS_EXT
                | CMD_WRITE_DMA_EXT
                | CMD_WRITE_MULTIPLE_EXT
                | CMD_READ_VERIFY_SECTORS_EXT
        );
        match cmd {
            CMD_IDENTIFY_DEVICE => {
                let id = self.identify_device();
                self.start_data_in(id, Pio::DataIn);
            }
            CMD_READ_SECTORS | CMD_READ_SECTORS_NORETRY | CMD_READ_SECTORS_EXT => self.start_read(lba48, 1),
            CMD_READ_MULTIPLE | CMD_READ_MULTIPLE_EXT if self.multiple != 0 => self.start_read(lba48, self.multiple),
            CMD_WRITE_SECTORS | CMD_WRITE_SECTORS_NORETRY | CMD_WRITE_SECTORS_EXT => self.start_write(lba48, 1),
            CMD_WRITE_MULTIPLE | CMD_WRITE_MULTIPLE_EXT if self.multiple != 0 => self.start_write(lba48, self.multiple),
            CMD_READ_DMA | CMD_READ_DMA_NORETRY | CMD_READ_DMA_EXT => self.start_dma(lba48, true),
            CMD_WRITE_DMA | CMD_WRITE_DMA_NORETRY | CMD_WRITE_DMA_EXT => self.start_dma(lba48, false),
            CMD_READ_VERIFY_SECTORS | CMD_READ_VERIFY_SECTORS_NORETRY | CMD_READ_VERIFY_SECTORS_EXT => {
                match self.command_range(lba48) {
                    Some((lba, count)) => {
                        self.set_taskfile_lba(lba + count as u64 - 1, lba48);
                        self.complete();
                    }
                    None => self.abort_with(ERROR_IDNF),
                }
            }
            CMD_SET_MULTIPLE_MODE => {
                let n = self.sector_count as u16;
                if n <= MAX_MULTIPLE && n.is_power_of_two() || n == 0 {
                    self.multiple = n;
                    self.complete();
                } else {
                    self.abort_with(ERROR_ABRT);
                }
            }
            CMD_SET_FEATURES => self.set_features(),
            CMD_FLUSH_CACHE | CMD_FLUSH_CACHE_EXT => match self.disk().flush() {
                Ok(()) => self.complete(),
                Err(_) => {
                    self.abort_with(ERROR_ABRT);
                    self.status |= STATUS_DF;
                }
            },
            CMD_INITIALIZE_DEVICE_PARAMETERS => {
                if self.sector_count == 0 {
                    self.abort_with(ERROR_ABRT);
                } else {
                    self.sectors_per_track = self.sector_count as u16;
                    self.heads = (self.device & 0xf) as u16 + 1;
                    self.complete();
                }
            }
            0x10..=0x1f | 0x70..=0x7f => self.complete(), // RECALIBRATE, SEEK: no heads to move
            CMD_IDLE | CMD_IDLE_IMMEDIATE | CMD_IDLE_OLD | CMD_IDLE_IMMEDIATE_OLD => {
                self.power = 0xff;
                self.complete();
            }
            CMD_STANDBY | CMD_STANDBY_IMMEDIATE | CMD_STANDBY_OLD | CMD_STANDBY_IMMEDIATE_OLD | CMD_SLEEP => {
                self.power = 0x00;
                self.complete();
            }
            CMD_CHECK_POWER_MODE | CMD_CHECK_POWER_MODE_OLD => {
                self.sector_count = self.power;
                self.complete();
            }
            CMD_EXECUTE_DEVICE_DIAGNOSTIC => {} // the channel resets both devices
            _ => self.abort_with(ERROR_ABRT),
        }
    }

    fn set_features(&mut self) {
        match self.features {
            FEATURE_ENABLE_WRITE_CACHE => self.write_cache = true,
            FEATURE_DISABLE_WRITE_CACHE => {
                self.write_cache = false;
                let _ = self.disk().flush();
            }
            FEATURE_ENABLE_READ_LOOK_AHEAD => self.look_ahead = true,
            FEATURE_DISABLE_READ_LOOK_AHEAD => self.look_ahead = false,
            FEATURE_ENABLE_REVERTING | FEATURE_DISABLE_REVERTING => {}
            FEATURE_SET_TRANSFER_MODE => {
                let v = self.sector_count;
                let ok = match v >> 3 {
                    0 => v & 7 <= 1, // PIO default mode
                    1 => v & 7 <= 4, // PIO flow control mode 0-4
                    4 => v & 7 <= 2, // multiword DMA 0-2
                    8 => v & 7 <= 5, // Ultra DMA 0-5
                    _ => false,
                };
                if !ok {
                    return self.abort_with(ERROR_ABRT);
                }
                self.transfer_mode = v;
            }
            _ => return self.abort_with(ERROR_ABRT),
        }
        self.complete();
    }

    /// The (LBA, sector count) a read/write command addresses, if it lies on the disk.
    pub(crate) fn command_range(&self, lba48: bool) -> Option<(u64, u32)> {
        let count = if lba48 {
            match (self.hob[1] as u32) << 8 | self.sector_count as u32 {
                0 => 65536,
                n => n,
            }
        } else {
            match self.sector_count {
                0 => 256,
                n => n as u32,
            }
        };
        let lba = self.taskfile_lba(lba48)?;
        (lba.checked_add(count as u64)? <= self.sectors()).then_some((lba, count))
    }

    fn read_sectors(&mut self, lba: u64, n: u32) -> Result<Vec<u8>, BlockError> {
        let mut data = vec![0; n as usize * SECTOR];
        self.disk().read_at(lba * SECTOR as u64, &mut data)?;
        self.power = 0xff;
        Ok(data)
    }

    fn start_read(&mut self, lba48: bool, block: u16) {
        let Some((lba, count)) = self.command_range(lba48) else { return self.abort_with(ERROR_IDNF) };
        self.load_read_block(lba, count, block as u32, lba48);
    }

    /// Puts the next block of a PIO read into the buffer and interrupts.
    fn load_read_block(&mut self, lba: u64, remaining: u32, block: u32, lba48: bool) {
        let n = block.min(remaining);
        match self.read_sectors(lba, n) {
            Ok(data) => {
                self.set_taskfile_lba(lba + n as u64 - 1, lba48);
                self.start_data_in(data, Pio::Read { lba, remaining, block, lba48 });
            }
            Err(_) => {
                self.set_taskfile_lba(lba, lba48);
                self.abort_with(ERROR_UNC);
            }
        }
    }

    fn start_write(&mut self, lba48: bool, block: u16) {
        if self.disk().is_read_only() {
            return self.abort_with(ERROR_ABRT);
        }
        let Some((lba, count)) = self.command_range(lba48) else { return self.abort_with(ERROR_IDNF) };
        let n = (block as u32).min(count);
        self.start_data_out(
            n as usize * SECTOR,
            Pio::Write { lba, remaining: count, block: block as u32, lba48 },
            false,
        );
    }

    fn start_dma(&mut self, lba48: bool, read: bool) {
        if !read && self.disk().is_read_only() {
            return self.abort_with(ERROR_ABRT);
        }
        let Some((lba, count)) = self.command_range(lba48) else { return self.abort_with(ERROR_IDNF) };
        let data = if read {
            match self.read_sectors(lba, count) {
                Ok(d) => d,
                Err(_) => return self.abort_with(ERROR_UNC),
            }
        } else {
            vec![0; count as usize * SECTOR]
        };
        self.set_taskfile_lba(lba + count as u64 - 1, lba48);
        self.dma = Some(DmaJob { to_memory: read, data, write_lba: lba, lba48 });
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
    }

    /// Writes `data` at `lba`; on failure ends the command with the right error.
    fn write_sectors(&mut self, lba: u64, data: &[u8], lba48: bool) -> bool {
        let r = self.disk().write_at(lba * SECTOR as u64, data);
        let r = r.and_then(|()| if self.write_cache { Ok(()) } else { self.disk().flush() });
        match r {
            Ok(()) => {
                self.power = 0xff;
                true
            }
            Err(e) => {
                self.set_taskfile_lba(lba, lba48);
                self.abort_with(ERROR_ABRT);
                if !matches!(e, BlockError::ReadOnly) {
                    self.status |= STATUS_DF;
                }
                false
            }
        }
    }

    /// A PIO data block of a read or write command is done.
    pub(crate) fn ata_block_done(&mut self) {
        match self.pio {
            Pio::Read { lba, remaining, block, lba48 } => {
                let n = block.min(remaining);
                if remaining > n {
                    self.load_read_block(lba + n as u64, remaining - n, block, lba48);
                } else {
                    self.status = STATUS_DRDY | STATUS_DSC;
                    self.pio = Pio::None;
                }
            }
            Pio::Write { lba, remaining, block, lba48 } => {
                let n = block.min(remaining);
                let data = std::mem::take(&mut self.buf);
                if !self.write_sectors(lba, &data, lba48) {
                    return;
                }
                self.set_taskfile_lba(lba + n as u64 - 1, lba48);
                if remaining > n {
                    let next = block.min(remaining - n) as usize * SECTOR;
                    let pio = Pio::Write { lba: lba + n as u64, remaining: remaining - n, block, lba48 };
                    self.start_data_out(next, pio, true);
                } else {
                    self.complete();
                }
            }
            _ => {}
        }
    }

    /// The bus master has moved a DMA job's data.
    pub(crate) fn dma_done(&mut self, job: DmaJob) {
        if self.is_atapi() {
            return self.atapi_dma_done();
        }
        if !job.to_memory && !self.write_sectors(job.write_lba, &job.data, job.lba48) {
            return;
        }
        self.complete();
    }
}

#[cfg(test)]
mod tests {
    use super::super::backend::tests::TempImage;
    use super::super::tests::{disk, Rig};
    use super::super::*;
    use super::*;

    fn identify(r: &mut Rig) -> Vec<u16> {
        r.outb(REG_DEVICE, 0xa0);
        r.outb(REG_COMMAND, CMD_IDENTIFY_DEVICE);
        assert!(r.irq14());
        assert_eq!(r.inb(REG_STATUS), 0x58);
        let bytes = r.read_data(512);
        assert_eq!(r.inb(REG_STATUS), 0x50);
        bytes.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()
    }

    fn string(w: &[u16]) -> String {
        w.iter().flat_map(|w| [(w >> 8) as u8 as char, *w as u8 as char]).collect::<String>().trim_end().into()
    }

    #[test]
    fn identify_reports_geometry_capacity_and_features() {
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Disk(Box::new(disk(20160)))); // 20 cylinders of 16 x 63
        let w = identify(&mut r);
        assert_eq!((w[1], w[3], w[6]), (20, 16, 63));
        assert_eq!((w[54], w[55], w[56]), (20, 16, 63));
        assert_eq!(w[57] as u32 | (w[58] as u32) << 16, 20160);
        assert_eq!(w[60] as u32 | (w[61] as u32) << 16, 20160);
        assert_eq!(w[100..104], [20160, 0, 0, 0]);
        assert_eq!(string(&w[27..47]), "EMU HARDDISK");
        assert_eq!(string(&w[10..20]), "EMU00000000000000001");
        assert_eq!(w[49] & 0x0300, 0x0300);
        assert_eq!(w[47], 0x8010);
        assert_ne!(w[83] & (1 << 10), 0, "48-bit");
        assert_ne!(w[83] & (1 << 13), 0, "FLUSH CACHE EXT");
        assert_eq!(w[83] >> 14, 1);
        let sum = w.iter().fold(0u8, |s, w| s.wrapping_add(*w as u8).wrapping_add((*w >> 8) as u8));
        assert_eq!((w[255] & 0xff, sum), (0xa5, 0));
    }

    #[test]
    fn identify_of_a_large_disk_caps_chs_and_lba28() {
        let d = Drive::new(Media::Disk(Box::new(MemBackend { data: vec![], ..Default::default() })), "x");
        assert_eq!(default_geometry(16383 * 16 * 63 + 5), (16383, 16, 63));
        assert_eq!(default_geometry(100), (1, 16, 63));
        assert_eq!(d.sectors(), 0);
        // 300 GB in sectors, without allocating it: check the arithmetic of words 60/100.
        let total: u64 = 585_937_500;
        assert!(total > LBA28_MAX);
        assert_eq!(total.min(LBA28_MAX), 0x0fff_ffff);
    }

    #[test]
    fn pio_read_and_write_through_the_data_port_reach_the_file() {
        let data: Vec<u8> = (0..64 * 512).map(|i| (i * 7 / 512) as u8).collect();
        let img = TempImage::new("pio", &data);
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Disk(open_disk(&img.0, false).unwrap()));
        r.lba28(0, CMD_READ_SECTORS, 3, 2);
        assert!(r.irq14());
        assert_eq!(r.inb(REG_STATUS), 0x58);
        assert!(!r.irq14());
        assert_eq!(r.read_data(512), data[3 * 512..4 * 512]);
        assert!(r.irq14(), "interrupt for the second sector");
        assert_eq!(r.inb(REG_STATUS), 0x58);
        // 32-bit data port accesses.
        let dwords: Vec<u8> = (0..128).flat_map(|_| r.ide.read(0, REG_DATA, 4).to_le_bytes()).collect();
        assert_eq!(dwords, data[4 * 512..5 * 512]);
        assert_eq!(r.inb(REG_STATUS), 0x50);
        assert_eq!(r.inb(REG_LBA_LOW), 4, "task file holds the last sector");

        r.lba28(0, CMD_WRITE_SECTORS, 10, 2);
        assert!(!r.irq14(), "no interrupt before the first block");
        assert_eq!(r.alt_status(), 0x58);
        r.write_data(&[0x5a; 512]);
        assert!(r.irq14());
        assert_eq!(r.inb(REG_STATUS), 0x58);
        r.write_data(&[0xa5; 512]);
        assert_eq!(r.inb(REG_STATUS), 0x50);
        r.outb(REG_COMMAND, CMD_FLUSH_CACHE);
        assert_eq!(r.inb(REG_STATUS), 0x50);
        let now = img.bytes();
        assert_eq!(now[10 * 512..11 * 512], [0x5a; 512]);
        assert_eq!(now[11 * 512..12 * 512], [0xa5; 512]);
        assert_eq!(now[12 * 512..], data[12 * 512..]);

        // CHS: cylinder 0, head 1, sector 2 is LBA 64 on 16/63... past this 64-sector disk: IDNF.
        r.outb(REG_DEVICE, 0xa1);
        r.outb(REG_SECTOR_COUNT, 1);
        r.outb(REG_LBA_LOW, 2);
        r.outb(REG_LBA_MID, 0);
        r.outb(REG_LBA_HIGH, 0);
        r.outb(REG_COMMAND, CMD_READ_SECTORS);
        assert_eq!((r.inb(REG_STATUS), r.inb(REG_ERROR)), (0x41, ERROR_IDNF));
        r.outb(REG_DEVICE, 0xa0); // head 0, sector 2 = LBA 1
        r.outb(REG_COMMAND, CMD_READ_SECTORS);
        assert_eq!(r.read_data(512), data[512..1024]);
    }

    #[test]
    fn lba48_commands_and_hob_readback() {
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Disk(Box::new(disk(800))));
        r.lba48(CMD_READ_SECTORS_EXT, 0x1f0, 0x101);
        assert_eq!(r.inb(REG_STATUS), 0x58);
        let mut got = Vec::new();
        for _ in 0..0x101 {
            got.extend(r.read_data(512));
        }
        assert_eq!(got, disk(800).data[0x1f0 * 512..(0x1f0 + 0x101) * 512]);
        assert_eq!(r.inb(REG_STATUS), 0x50);
        // Last sector 0x2f0: low bytes F0 02 00, HOB bytes 00 00 00.
        assert_eq!([r.inb(REG_LBA_LOW), r.inb(REG_LBA_MID), r.inb(REG_LBA_HIGH)], [0xf0, 0x02, 0]);
        r.control(CONTROL_HOB);
        assert_eq!([r.inb(REG_LBA_LOW), r.inb(REG_LBA_MID), r.inb(REG_LBA_HIGH)], [0, 0, 0]);
        r.control(0);
        // An address only LBA48 can express is past the end.
        r.lba48(CMD_READ_SECTORS_EXT, 1 << 40, 1);
        assert_eq!(r.inb(REG_ERROR), ERROR_IDNF);
    }

    #[test]
    fn read_multiple_transfers_blocks_per_interrupt() {
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Disk(Box::new(disk(64))));
        r.lba28(0, CMD_READ_MULTIPLE, 0, 10);
        assert_eq!(r.inb(REG_ERROR), ERROR_ABRT, "needs SET MULTIPLE MODE first");
        r.lba28(0, CMD_SET_MULTIPLE_MODE, 0, 3);
        assert_eq!(r.inb(REG_STATUS), 0x41, "3 is not a power of two");
        r.lba28(0, CMD_SET_MULTIPLE_MODE, 0, 4);
        assert_eq!(r.inb(REG_STATUS), 0x50);
        r.lba28(0, CMD_READ_MULTIPLE, 5, 10);
        let mut irqs = 0;
        let mut got = Vec::new();
        for block in [4, 4, 2] {
            assert!(r.irq14());
            irqs += 1;
            assert_eq!(r.inb(REG_STATUS), 0x58);
            got.extend(r.read_data(block * 512));
            assert_eq!(r.irq14(), block == 4 && irqs < 3);
        }
        assert_eq!(r.inb(REG_STATUS), 0x50);
        assert_eq!(got, disk(64).data[5 * 512..15 * 512]);
        // WRITE MULTIPLE: one interrupt per 4-sector block.
        r.lba28(0, CMD_WRITE_MULTIPLE, 20, 6);
        r.write_data(&[1; 2048]);
        assert!(r.irq14());
        assert_eq!(r.inb(REG_STATUS), 0x58);
        r.write_data(&[2; 1024]);
        assert_eq!(r.inb(REG_STATUS), 0x50);
        r.lba28(0, CMD_READ_SECTORS, 23, 2);
        assert_eq!(r.read_data(1024)[510..514], [1, 1, 2, 2]);
        let w = identify(&mut r);
        assert_eq!(w[59], 0x0104);
    }

    #[test]
    fn snapshot_mode_leaves_the_image_byte_identical() {
        let data: Vec<u8> = (0..16 * 512).map(|i| i as u8).collect();
        let img = TempImage::new("snap", &data);
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Disk(open_disk(&img.0, true).unwrap()));
        r.lba28(0, CMD_WRITE_SECTORS, 1, 1);
        r.write_data(&[0xee; 512]);
        r.outb(REG_COMMAND, CMD_FLUSH_CACHE_EXT);
        assert_eq!(r.inb(REG_STATUS), 0x50);
        r.lba28(0, CMD_READ_SECTORS, 1, 1);
        assert_eq!(r.read_data(512), vec![0xee; 512]);
        r.ide.flush_all().unwrap();
        drop(r);
        assert_eq!(img.bytes(), data);
    }

    #[test]
    fn writes_to_a_read_only_medium_abort() {
        let mut r = Rig::new();
        let ro = MemBackend { data: vec![0; 4096], read_only: true, ..Default::default() };
        r.ide.attach(0, 0, Media::Disk(Box::new(ro)));
        r.lba28(0, CMD_WRITE_SECTORS, 0, 1);
        assert!(r.irq14());
        assert_eq!((r.inb(REG_STATUS), r.inb(REG_ERROR)), (STATUS_DRDY | STATUS_ERR, ERROR_ABRT));
        r.lba28(0, CMD_WRITE_DMA, 0, 1);
        assert_eq!(r.inb(REG_ERROR), ERROR_ABRT);
    }

    #[test]
    fn set_features_power_and_device_parameters() {
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Disk(Box::new(disk(2016))));
        r.outb(REG_FEATURES, FEATURE_SET_TRANSFER_MODE);
        r.lba28(0, CMD_SET_FEATURES, 0, 0x22); // multiword DMA 2
        assert_eq!(r.inb(REG_STATUS), 0x50);
        r.outb(REG_FEATURES, FEATURE_DISABLE_WRITE_CACHE);
        r.lba28(0, CMD_SET_FEATURES, 0, 0);
        r.outb(REG_FEATURES, 0x77);
        r.lba28(0, CMD_SET_FEATURES, 0, 0);
        assert_eq!(r.inb(REG_ERROR), ERROR_ABRT);
        let w = identify(&mut r);
        assert_eq!(w[63], 0x0407);
        assert_eq!(w[85] & (1 << 5), 0);
        r.lba28(0, CMD_STANDBY_IMMEDIATE, 0, 0);
        r.lba28(0, CMD_CHECK_POWER_MODE, 0, 0x42);
        assert_eq!(r.inb(REG_SECTOR_COUNT), 0x00);
        r.lba28(0, CMD_READ_SECTORS, 0, 1);
        r.read_data(512);
        r.lba28(0, CMD_CHECK_POWER_MODE, 0, 0x42);
        assert_eq!(r.inb(REG_SECTOR_COUNT), 0xff);
        // INITIALIZE DEVICE PARAMETERS: 4 heads, 32 sectors/track; C/H/S 1/2/3 = LBA 32*4+2*32+2.
        r.outb(REG_DEVICE, 0xa3);
        r.outb(REG_SECTOR_COUNT, 32);
        r.outb(REG_COMMAND, CMD_INITIALIZE_DEVICE_PARAMETERS);
        assert_eq!(r.inb(REG_STATUS), 0x50);
        r.outb(REG_DEVICE, 0xa2);
        r.outb(REG_SECTOR_COUNT, 1);
        r.outb(REG_LBA_LOW, 3);
        r.outb(REG_LBA_MID, 1);
        r.outb(REG_LBA_HIGH, 0);
        r.outb(REG_COMMAND, CMD_READ_SECTORS);
        let lba = 32 * 4 + 2 * 32 + 2;
        assert_eq!(r.read_data(512), disk(2016).data[lba * 512..(lba + 1) * 512]);
        for cmd in [CMD_RECALIBRATE, CMD_SEEK, CMD_IDLE_IMMEDIATE] {
            r.outb(REG_COMMAND, cmd);
            assert_eq!(r.inb(REG_STATUS), 0x50);
        }
        r.outb(REG_COMMAND, CMD_IDENTIFY_PACKET_DEVICE);
        assert_eq!(r.inb(REG_ERROR), ERROR_ABRT);
    }

    #[test]
    fn execute_device_diagnostic_reports_and_interrupts_from_device_0() {
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Disk(Box::new(disk(4))));
        r.outb(REG_DEVICE, 0x10);
        r.outb(REG_COMMAND, CMD_EXECUTE_DEVICE_DIAGNOSTIC); // selected device 1 is absent
        assert!(r.irq14());
        assert_eq!(r.inb(REG_ERROR), 0x01);
        assert_eq!(r.inb(REG_DEVICE), 0);
        assert_eq!(r.inb(REG_STATUS), 0x50);
    }
}
