//! An ATAPI CD-ROM drive (SFF-8020i / ATA/ATAPI-6 PACKET feature set) with the SCSI multimedia
//! commands (MMC-2) that firmware doing El Torito boot and Linux's `sr` driver use.
//!
//! **Packet protocol:** PACKET (A0h) with Features bit 0 for DMA; the byte-count limit in LBA
//! Mid/High caps each PIO DRQ data block (0 and FFFFh mean FFFEh; an odd limit is rounded down),
//! the byte count of each block is reported there, and Sector Count holds the interrupt reason
//! (CoD bit 0, IO bit 1): 01h while the drive wants the 12-byte packet (no interrupt: IDENTIFY
//! PACKET DEVICE advertises accelerated DRQ), 02h for data to the host, 03h at completion. An
//! error ends with Status ERR and Error = sense key << 4 | ABRT; REQUEST SENSE then returns the
//! fixed-format sense data (and clears it).
//!
//! **Commands:** TEST UNIT READY, REQUEST SENSE, INQUIRY (standard data; no vital product data
//! pages), READ CAPACITY, READ(10), READ(12), READ TOC/PMA/ATIP formats 0 (TOC) and 1 (session
//! info) in LBA or MSF form, MODE SENSE(10) pages 01h (read error recovery), 0Eh (CD audio
//! control), 2Ah (capabilities) and 3Fh (all), current/changeable/default values, GET
//! CONFIGURATION (profile list and core features; the current profile is CD-ROM), GET EVENT
//! STATUS NOTIFICATION (polled, media class), START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, SEEK,
//! SET CD SPEED. Others end with ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE.
//!
//! **Not emulated:** audio play, sub-channel data, multi-session and multi-track discs (the disc
//! is one data track), writing, changers, media change (no UNIT ATTENTION; eject is refused while
//! locked and otherwise ignored), the DMADIR variant of DMA.

use super::ata::{finish_identify, put_string, CMD_EXECUTE_DEVICE_DIAGNOSTIC, CMD_IDENTIFY_DEVICE};
use super::ata::{
    CMD_CHECK_POWER_MODE, CMD_DEVICE_RESET, CMD_IDENTIFY_PACKET_DEVICE, CMD_IDLE_IMMEDIATE, CMD_PACKET,
    CMD_SET_FEATURES, CMD_SLEEP, CMD_STANDBY_IMMEDIATE,
};
use super::{DmaJob, Drive, Media, Pio, DEVICE_DEV, ERROR_ABRT, STATUS_DRDY, STATUS_DRQ, STATUS_ERR};

/// CD-ROM sector size.
pub const CD_SECTOR: u64 = 2048;

// SCSI operation codes.
pub const TEST_UNIT_READY: u8 = 0x00;
pub const REQUEST_SENSE: u8 = 0x03;
pub const INQUIRY: u8 = 0x12;
pub const START_STOP_UNIT: u8 = 0x1b;
pub const PREVENT_ALLOW_MEDIUM_REMOVAL: u8 = 0x1e;
pub const READ_CAPACITY: u8 = 0x25;
pub const READ_10: u8 = 0x28;
pub const SEEK_10: u8 = 0x2b;
pub const READ_TOC: u8 = 0x43;
pub const GET_CONFIGURATION: u8 = 0x46;
pub const GET_EVENT_STATUS_NOTIFICATION: u8 = 0x4a;
pub const MODE_SENSE_10: u8 = 0x5a;
pub const READ_12: u8 = 0xa8;
pub const SET_CD_SPEED: u8 = 0xbb;

// Sense keys.
pub const SENSE_NONE: u8 = 0x0;
pub const SENSE_NOT_READY: u8 = 0x2;
pub const SENSE_MEDIUM_ERROR: u8 = 0x3;
pub const SENSE_ILLEGAL_REQUEST: u8 = 0x5;
pub const SENSE_UNIT_ATTENTION: u8 = 0x6;

// Additional sense codes.
pub const ASC_UNRECOVERED_READ_ERROR: u8 = 0x11;
pub const ASC_INVALID_COMMAND: u8 = 0x20;
pub const ASC_LBA_OUT_OF_RANGE: u8 = 0x21;
pub const ASC_INVALID_FIELD_IN_CDB: u8 = 0x24;
pub const ASC_SAVING_PARAMETERS_NOT_SUPPORTED: u8 = 0x39;
pub const ASC_MEDIUM_REMOVAL_PREVENTED: u8 = 0x53;

// Interrupt reason (Sector Count) bits.
const IREASON_COD: u8 = 0x01;
const IREASON_IO: u8 = 0x02;

/// Sense data: key, additional sense code and qualifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
}

const fn sense(key: u8, asc: u8) -> Sense {
    Sense { key, asc, ascq: 0 }
}

/// What a command sends to the host: bytes, then `read_left` disc sectors from `read_lba`.
#[derive(Debug, Default)]
pub(crate) struct AtapiState {
    pub sense: Sense,
    pub locked: bool,
    dma: bool,
    byte_limit: u16,
    data: Vec<u8>,
    data_pos: usize,
    read_lba: u64,
    read_left: u32,
}

impl AtapiState {
    fn remaining(&self) -> u64 {
        (self.data.len() - self.data_pos) as u64 + self.read_left as u64 * CD_SECTOR
    }
}

fn be16(b: &[u8]) -> u32 {
    u16::from_be_bytes([b[0], b[1]]) as u32
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// An address in MSF form (00h M S F), 150 frames (2 s) of pregap added.
fn msf(lba: u64) -> [u8; 4] {
    let f = lba + 150;
    [0, (f / (75 * 60)) as u8, ((f / 75) % 60) as u8, (f % 75) as u8]
}

fn address(lba: u64, as_msf: bool) -> [u8; 4] {
    if as_msf {
        msf(lba)
    } else {
        (lba as u32).to_be_bytes()
    }
}

impl Drive {
    /// Capacity of the disc in 2048-byte sectors.
    pub fn disc_sectors(&self) -> u64 {
        match &self.media {
            Media::Cdrom(b) | Media::Disk(b) => b.len() / CD_SECTOR,
        }
    }

    /// The 256 words of IDENTIFY PACKET DEVICE.
    pub fn identify_packet_device(&self) -> Vec<u8> {
        let mut w = [0u16; 256];
        w[0] = 0x85c0; // ATAPI, CD-ROM, removable, accelerated DRQ, 12-byte packets
        put_string(&mut w, 10, 20, &self.serial);
        put_string(&mut w, 23, 8, env!("CARGO_PKG_VERSION"));
        put_string(&mut w, 27, 40, "EMU CD-ROM");
        w[49] = 1 << 11 | 1 << 10 | 1 << 9 | 1 << 8; // IORDY, IORDY disable, LBA, DMA
        w[50] = 0x4000;
        w[53] = 0x0006; // words 64-70 and 88 are valid
        let mode = self.transfer_mode;
        w[63] = 0x0007 | if mode >> 3 == 4 { 0x0100 << (mode & 7) } else { 0 };
        w[64] = 0x0003;
        (w[65], w[66], w[67], w[68]) = (120, 120, 120, 120);
        w[80] = 0x007e;
        w[82] = 1 << 14 | 1 << 9 | 1 << 4; // NOP, DEVICE RESET, PACKET
        w[83] = 1 << 14;
        w[84] = 1 << 14;
        w[85] = w[82];
        w[87] = 1 << 14;
        w[88] = 0x003f | if mode >> 3 == 8 { 0x0100 << (mode & 7) } else { 0 };
        w[93] = 1 << 14 | 1 << 13 | 1 << 3 | 1;
        finish_identify(&mut w)
    }

    pub(crate) fn atapi_command(&mut self, cmd: u8) {
        match cmd {
            CMD_PACKET => {
                self.atapi.dma = self.features & 1 != 0;
                self.atapi.byte_limit = (self.lba_high as u16) << 8 | self.lba_mid as u16;
                self.sector_count = IREASON_COD;
                self.start_data_out(12, Pio::Packet, false);
            }
            CMD_IDENTIFY_PACKET_DEVICE => {
                let id = self.identify_packet_device();
                self.start_data_in(id, Pio::DataIn);
            }
            CMD_IDENTIFY_DEVICE => {
                // The ATAPI way of saying "not an ATA disk": abort with the signature in place.
                let dev = self.device & DEVICE_DEV;
                self.set_signature();
                self.device = dev;
                self.abort_with(ERROR_ABRT);
            }
            CMD_DEVICE_RESET => {
                let dev = self.device & DEVICE_DEV;
                self.reset();
                self.device = dev;
            }
            CMD_SET_FEATURES => self.ata_command(cmd),
            CMD_CHECK_POWER_MODE => {
                self.sector_count = self.power;
                self.complete();
            }
            CMD_IDLE_IMMEDIATE | CMD_STANDBY_IMMEDIATE | CMD_SLEEP => self.complete(),
            CMD_EXECUTE_DEVICE_DIAGNOSTIC => {}
            // NOP included: it always ends in an abort (ATA/ATAPI-6).
            _ => self.abort_with(ERROR_ABRT),
        }
    }

    /// The 12-byte packet has arrived: run it.
    pub(crate) fn packet_received(&mut self) {
        let mut cdb = [0u8; 12];
        cdb.copy_from_slice(&self.buf[..12]);
        self.atapi.data.clear();
        self.atapi.data_pos = 0;
        self.atapi.read_left = 0;
        let r = self.scsi(&cdb);
        match r {
            Err(s) => self.atapi_error(s),
            Ok(()) if self.atapi.remaining() == 0 => self.atapi_done(),
            Ok(()) if self.atapi.dma => {
                let n = self.atapi.remaining() as usize;
                match self.atapi_take(n) {
                    Ok(data) => {
                        self.dma = Some(DmaJob { to_memory: true, data, write_lba: 0, lba48: false });
                        self.sector_count = IREASON_IO;
                        self.status = STATUS_DRDY | STATUS_DRQ;
                        self.pio = Pio::None;
                    }
                    Err(s) => self.atapi_error(s),
                }
            }
            Ok(()) => self.atapi_next_chunk(),
        }
    }

    /// Takes the next `n` bytes of the command's data, reading disc sectors as needed.
    fn atapi_take(&mut self, n: usize) -> Result<Vec<u8>, Sense> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let a = &mut self.atapi;
            if a.data_pos < a.data.len() {
                let k = (a.data.len() - a.data_pos).min(n - out.len());
                out.extend_from_slice(&a.data[a.data_pos..a.data_pos + k]);
                a.data_pos += k;
            } else if a.read_left > 0 {
                let mut sector = vec![0u8; CD_SECTOR as usize];
                let at = a.read_lba * CD_SECTOR;
                let (Media::Cdrom(b) | Media::Disk(b)) = &mut self.media;
                b.read_at(at, &mut sector).map_err(|_| sense(SENSE_MEDIUM_ERROR, ASC_UNRECOVERED_READ_ERROR))?;
                let a = &mut self.atapi;
                (a.data, a.data_pos) = (sector, 0);
                a.read_lba += 1;
                a.read_left -= 1;
            } else {
                break;
            }
        }
        Ok(out)
    }

    /// Starts the next PIO data block, sized by the byte-count limit.
    fn atapi_next_chunk(&mut self) {
        let limit = match self.atapi.byte_limit {
            0 | 0xffff => 0xfffe,
            n => n & !1,
        }
        .max(2);
        let n = self.atapi.remaining().min(limit as u64) as usize;
        match self.atapi_take(n) {
            Ok(data) => {
                (self.lba_mid, self.lba_high) = (n as u8, (n >> 8) as u8);
                self.sector_count = IREASON_IO;
                self.start_data_in(data, Pio::AtapiIn);
                self.status = STATUS_DRDY | STATUS_DRQ;
            }
            Err(s) => self.atapi_error(s),
        }
    }

    pub(crate) fn atapi_chunk_done(&mut self) {
        if self.atapi.remaining() > 0 {
            self.atapi_next_chunk();
        } else {
            self.atapi_done();
        }
    }

    pub(crate) fn atapi_dma_done(&mut self) {
        self.atapi_done();
    }

    /// The command completed: status, interrupt reason "command complete", interrupt.
    fn atapi_done(&mut self) {
        self.sector_count = IREASON_IO | IREASON_COD;
        self.status = STATUS_DRDY;
        self.pio = Pio::None;
        self.intrq = true;
    }

    fn atapi_error(&mut self, s: Sense) {
        self.atapi.sense = s;
        self.atapi.data.clear();
        self.atapi.read_left = 0;
        self.abort_with(s.key << 4 | ERROR_ABRT);
        self.status = STATUS_DRDY | STATUS_ERR;
        self.sector_count = IREASON_IO | IREASON_COD;
    }

    /// Queues `data` cut to the allocation length.
    fn reply(&mut self, mut data: Vec<u8>, alloc: u32) {
        data.truncate(alloc as usize);
        self.atapi.data = data;
    }

    fn scsi(&mut self, cdb: &[u8; 12]) -> Result<(), Sense> {
        let op = cdb[0];
        if op != REQUEST_SENSE {
            self.atapi.sense = Sense::default();
        }
        let capacity = self.disc_sectors();
        match op {
            TEST_UNIT_READY | SEEK_10 | SET_CD_SPEED => Ok(()),
            REQUEST_SENSE => {
                let s = std::mem::take(&mut self.atapi.sense);
                let mut d = vec![0u8; 18];
                (d[0], d[2], d[7], d[12], d[13]) = (0x70, s.key, 10, s.asc, s.ascq);
                self.reply(d, cdb[4] as u32);
                Ok(())
            }
            INQUIRY => {
                if cdb[1] & 1 != 0 {
                    return Err(sense(SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB));
                }
                let mut d = vec![0x05, 0x80, 0x00, 0x21, 31, 0, 0, 0];
                d.extend_from_slice(b"EMU     ");
                d.extend_from_slice(b"EMU CD-ROM      ");
                d.extend_from_slice(format!("{:<4.4}", env!("CARGO_PKG_VERSION")).as_bytes());
                self.reply(d, be16(&cdb[3..5]));
                Ok(())
            }
            READ_CAPACITY => {
                let mut d = (capacity.saturating_sub(1) as u32).to_be_bytes().to_vec();
                d.extend_from_slice(&(CD_SECTOR as u32).to_be_bytes());
                self.reply(d, 8);
                Ok(())
            }
            READ_10 | READ_12 => {
                let lba = be32(&cdb[2..6]) as u64;
                let count = if op == READ_10 { be16(&cdb[7..9]) } else { be32(&cdb[6..10]) };
                if lba + count as u64 > capacity {
                    return Err(sense(SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE));
                }
                (self.atapi.read_lba, self.atapi.read_left) = (lba, count);
                Ok(())
            }
            READ_TOC => self.read_toc(cdb, capacity),
            MODE_SENSE_10 => self.mode_sense(cdb),
            GET_CONFIGURATION => {
                let (rt, start) = (cdb[1] & 3, be16(&cdb[2..4]) as u16);
                let features: [(u16, Vec<u8>); 2] = [
                    (0x0000, vec![0x00, 0x00, 0x03, 0x04, 0x00, 0x08, 0x01, 0x00]), // profile list: CD-ROM
                    (0x0001, vec![0x00, 0x01, 0x0b, 0x08, 0, 0, 0, 2, 0, 0, 0, 0]), // core: ATAPI
                ];
                let mut d = vec![0, 0, 0, 0, 0, 0, 0x00, 0x08];
                for (code, f) in features {
                    if (rt == 2 && code == start) || (rt != 2 && code >= start) {
                        d.extend_from_slice(&f);
                    }
                }
                let len = (d.len() - 4) as u32;
                d[0..4].copy_from_slice(&len.to_be_bytes());
                self.reply(d, be16(&cdb[7..9]));
                Ok(())
            }
            GET_EVENT_STATUS_NOTIFICATION => {
                if cdb[1] & 1 == 0 {
                    return Err(sense(SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB));
                }
                let d = if cdb[4] & 0x10 != 0 {
                    vec![0x00, 0x06, 0x04, 0x10, 0x00, 0x02, 0x00, 0x00] // media: no event, present
                } else {
                    vec![0x00, 0x02, 0x80, 0x10] // no event available
                };
                self.reply(d, be16(&cdb[7..9]));
                Ok(())
            }
            START_STOP_UNIT => {
                let (loej, start) = (cdb[4] & 2 != 0, cdb[4] & 1 != 0);
                if loej && !start && self.atapi.locked {
                    return Err(Sense { key: SENSE_ILLEGAL_REQUEST, asc: ASC_MEDIUM_REMOVAL_PREVENTED, ascq: 2 });
                }
                Ok(())
            }
            PREVENT_ALLOW_MEDIUM_REMOVAL => {
                self.atapi.locked = cdb[4] & 1 != 0;
                Ok(())
            }
            _ => Err(sense(SENSE_ILLEGAL_REQUEST, ASC_INVALID_COMMAND)),
        }
    }

    fn read_toc(&mut self, cdb: &[u8; 12], capacity: u64) -> Result<(), Sense> {
        let as_msf = cdb[1] & 2 != 0;
        let format = match cdb[2] & 0xf {
            0 => cdb[9] >> 6, // the SFF-8020i place for the format
            f => f,
        };
        let track = cdb[6];
        let mut d = vec![0, 0, 1, 1];
        match format {
            0 => {
                if track > 1 && track != 0xaa {
                    return Err(sense(SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB));
                }
                if track <= 1 {
                    d.extend_from_slice(&[0, 0x14, 1, 0]);
                    d.extend_from_slice(&address(0, as_msf));
                }
                d.extend_from_slice(&[0, 0x14, 0xaa, 0]);
                d.extend_from_slice(&address(capacity, as_msf));
            }
            1 => {
                d.extend_from_slice(&[0, 0x14, 1, 0]);
                d.extend_from_slice(&address(0, as_msf));
            }
            _ => return Err(sense(SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB)),
        }
        let len = (d.len() - 2) as u16;
        d[0..2].copy_from_slice(&len.to_be_bytes());
        self.reply(d, be16(&cdb[7..9]));
        Ok(())
    }

    fn mode_sense(&mut self, cdb: &[u8; 12]) -> Result<(), Sense> {
        let (pc, page) = (cdb[2] >> 6, cdb[2] & 0x3f);
        if pc == 3 {
            return Err(sense(SENSE_ILLEGAL_REQUEST, ASC_SAVING_PARAMETERS_NOT_SUPPORTED));
        }
        let lock = if self.atapi.locked { 0x02 } else { 0 };
        let pages: [(u8, Vec<u8>); 3] = [
            (0x01, vec![0x01, 0x06, 0x00, 0x05, 0, 0, 0, 0]),
            (0x0e, vec![0x0e, 0x0e, 0x04, 0, 0, 0, 0, 0, 0x01, 0xff, 0x02, 0xff, 0, 0, 0, 0]),
            (
                0x2a,
                vec![
                    0x2a,
                    0x12,
                    0x00,
                    0x00,
                    0x01,
                    0x00,
                    0x29 | lock,
                    0x00,
                    0x02,
                    0xc2,
                    0x01,
                    0x00,
                    0x00,
                    0x80,
                    0x02,
                    0xc2,
                    0,
                    0,
                    0,
                    0,
                ],
            ),
        ];
        let mut d = vec![0, 0, 0x01, 0, 0, 0, 0, 0]; // medium type: 120 mm CD-ROM data
        let mut found = false;
        for (code, mut p) in pages {
            if page == code || page == 0x3f {
                if pc == 1 {
                    p[2..].fill(0); // nothing is changeable
                }
                d.extend_from_slice(&p);
                found = true;
            }
        }
        if !found {
            return Err(sense(SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB));
        }
        let len = (d.len() - 2) as u16;
        d[0..2].copy_from_slice(&len.to_be_bytes());
        self.reply(d, be16(&cdb[7..9]));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::backend::tests::TempImage;
    use super::super::tests::{Mem, Rig};
    use super::super::*;
    use super::*;

    /// A 40-sector "ISO": sector n filled with n.
    fn iso() -> Vec<u8> {
        (0..40 * 2048).map(|i| (i / 2048) as u8).collect()
    }

    fn rig() -> (Rig, TempImage) {
        let img = TempImage::new("iso", &iso());
        let mut r = Rig::new();
        r.ide.attach(0, 0, Media::Cdrom(open_cdrom(&img.0).unwrap()));
        (r, img)
    }

    /// Sends a packet with byte-count limit `limit`; returns every data byte and the block sizes.
    fn packet(r: &mut Rig, cdb: &[u8], limit: u16) -> (Vec<u8>, Vec<usize>) {
        let mut p = [0u8; 12];
        p[..cdb.len()].copy_from_slice(cdb);
        r.outb(REG_FEATURES, 0);
        r.outb(REG_LBA_MID, limit as u8);
        r.outb(REG_LBA_HIGH, (limit >> 8) as u8);
        r.outb(REG_COMMAND, ata::CMD_PACKET);
        assert_eq!(r.alt_status() & STATUS_DRQ, STATUS_DRQ);
        assert_eq!(r.inb(REG_SECTOR_COUNT), 1, "CoD: waiting for the packet");
        assert!(!r.irq14());
        r.write_data(&p);
        let (mut data, mut blocks) = (Vec::new(), Vec::new());
        loop {
            assert!(r.irq14());
            let st = r.inb(REG_STATUS);
            if st & STATUS_DRQ == 0 {
                assert_eq!(r.inb(REG_SECTOR_COUNT), 3);
                break;
            }
            assert_eq!(r.inb(REG_SECTOR_COUNT), 2);
            let n = r.inb(REG_LBA_MID) as usize | (r.inb(REG_LBA_HIGH) as usize) << 8;
            blocks.push(n);
            data.extend(&r.read_data(n + 1)[..n]); // an odd count ends with a padded word
        }
        (data, blocks)
    }

    #[test]
    fn identify_packet_device_and_the_atapi_signature() {
        let (mut r, _img) = rig();
        assert_eq!([r.inb(REG_LBA_MID), r.inb(REG_LBA_HIGH)], [0x14, 0xeb]);
        r.outb(REG_LBA_MID, 0);
        r.outb(REG_COMMAND, ata::CMD_IDENTIFY_DEVICE);
        assert_eq!(r.inb(REG_STATUS) & STATUS_ERR, STATUS_ERR);
        assert_eq!([r.inb(REG_ERROR), r.inb(REG_LBA_MID), r.inb(REG_LBA_HIGH)], [ERROR_ABRT, 0x14, 0xeb]);
        r.outb(REG_COMMAND, ata::CMD_IDENTIFY_PACKET_DEVICE);
        assert_eq!(r.inb(REG_STATUS), 0x58);
        let id = r.read_data(512);
        assert_eq!(u16::from_le_bytes([id[0], id[1]]), 0x85c0);
        assert_eq!(&id[54..64], b"ME UDCR-MO", "byte-swapped model string");
        assert_eq!(id[0..511].iter().fold(id[511], |s, b| s.wrapping_add(*b)), 0);
    }

    #[test]
    fn inquiry_and_read_capacity() {
        let (mut r, _img) = rig();
        let (d, _) = packet(&mut r, &[INQUIRY, 0, 0, 0, 96], 0xfffe);
        assert_eq!(d.len(), 36);
        assert_eq!(d[0] & 0x1f, 5, "CD-ROM device type");
        assert_eq!(d[1], 0x80, "removable");
        assert_eq!(&d[8..16], b"EMU     ");
        let (d, _) = packet(&mut r, &[INQUIRY, 0, 0, 0, 5], 0xfffe);
        assert_eq!(d.len(), 5, "cut to the allocation length");
        let (d, _) = packet(&mut r, &[READ_CAPACITY], 0xfffe);
        assert_eq!(d, [0, 0, 0, 39, 0, 0, 8, 0]);
        let (d, _) = packet(&mut r, &[TEST_UNIT_READY], 0xfffe);
        assert!(d.is_empty());
    }

    #[test]
    fn read_10_and_12_honour_the_byte_count_limit() {
        let (mut r, _img) = rig();
        let (d, blocks) = packet(&mut r, &[READ_10, 0, 0, 0, 0, 3, 0, 0, 2], 0xfffe);
        assert_eq!(d, iso()[3 * 2048..5 * 2048]);
        assert_eq!(blocks, [4096]);
        let (d, blocks) = packet(&mut r, &[READ_10, 0, 0, 0, 0, 3, 0, 0, 2], 3000);
        assert_eq!(d, iso()[3 * 2048..5 * 2048]);
        assert_eq!(blocks, [3000, 1096]);
        let (d, _) = packet(&mut r, &[READ_12, 0, 0, 0, 0, 38, 0, 0, 0, 2], 0);
        assert_eq!(d, iso()[38 * 2048..]);
    }

    #[test]
    fn request_sense_after_an_error() {
        let (mut r, _img) = rig();
        r.outb(REG_LBA_MID, 0);
        r.outb(REG_LBA_HIGH, 8);
        r.outb(REG_COMMAND, ata::CMD_PACKET);
        r.write_data(&[READ_10, 0, 0, 0, 0, 39, 0, 0, 2, 0, 0, 0]);
        assert!(r.irq14());
        assert_eq!(r.inb(REG_STATUS), STATUS_DRDY | STATUS_ERR);
        assert_eq!(r.inb(REG_ERROR), SENSE_ILLEGAL_REQUEST << 4 | ERROR_ABRT);
        assert_eq!(r.inb(REG_SECTOR_COUNT), 3);
        let (d, _) = packet(&mut r, &[REQUEST_SENSE, 0, 0, 0, 18], 0xfffe);
        assert_eq!((d[0], d[2], d[7], d[12], d[13]), (0x70, SENSE_ILLEGAL_REQUEST, 10, ASC_LBA_OUT_OF_RANGE, 0));
        let (d, _) = packet(&mut r, &[REQUEST_SENSE, 0, 0, 0, 18], 0xfffe);
        assert_eq!(d[2], SENSE_NONE, "sense is cleared once read");
        r.outb(REG_COMMAND, ata::CMD_PACKET);
        r.write_data(&[0xff; 12]);
        assert_eq!(r.inb(REG_ERROR) >> 4, SENSE_ILLEGAL_REQUEST);
        let (d, _) = packet(&mut r, &[REQUEST_SENSE, 0, 0, 0, 18], 0xfffe);
        assert_eq!(d[12], ASC_INVALID_COMMAND);
    }

    #[test]
    fn read_toc_in_lba_and_msf() {
        let (mut r, _img) = rig();
        let (d, _) = packet(&mut r, &[READ_TOC, 0, 0, 0, 0, 0, 0, 0, 100], 0xfffe);
        assert_eq!(d, [0, 18, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0, 0, 0x14, 0xaa, 0, 0, 0, 0, 40]);
        let (d, _) = packet(&mut r, &[READ_TOC, 2, 0, 0, 0, 0, 0, 0, 100], 0xfffe);
        assert_eq!(d[8..12], [0, 0, 2, 0]); // track 1 at 00:02:00
        assert_eq!(d[16..20], [0, 0, 2, 40]); // lead-out at 190 frames
        let (d, _) = packet(&mut r, &[READ_TOC, 0, 1, 0, 0, 0, 0, 0, 12], 0xfffe);
        assert_eq!(d, [0, 10, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn mode_sense_configuration_and_locking() {
        let (mut r, _img) = rig();
        let (d, _) = packet(&mut r, &[MODE_SENSE_10, 0, 0x2a, 0, 0, 0, 0, 0, 64], 0xfffe);
        assert_eq!(d.len(), 28);
        assert_eq!(d[0..2], [0, 26]);
        assert_eq!(d[8..10], [0x2a, 0x12]);
        let (d, _) = packet(&mut r, &[MODE_SENSE_10, 0, 0x3f, 0, 0, 0, 0, 1, 0], 0xfffe);
        assert_eq!(d.len(), 8 + 8 + 16 + 20);
        let (d, _) = packet(&mut r, &[GET_CONFIGURATION, 0, 0, 0, 0, 0, 0, 0, 64], 0xfffe);
        assert_eq!(d[6..8], [0, 8], "current profile: CD-ROM");
        assert_eq!(d[0..4], [0, 0, 0, 24]);
        packet(&mut r, &[PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1], 0xfffe);
        r.outb(REG_COMMAND, ata::CMD_PACKET);
        r.write_data(&[START_STOP_UNIT, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(r.inb(REG_STATUS) & STATUS_ERR, STATUS_ERR);
        packet(&mut r, &[PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0], 0xfffe);
        packet(&mut r, &[START_STOP_UNIT, 0, 0, 0, 2], 0xfffe);
        let (d, _) = packet(&mut r, &[GET_EVENT_STATUS_NOTIFICATION, 1, 0, 0, 0x10, 0, 0, 0, 8], 0xfffe);
        assert_eq!(d[5], 2, "media present");
    }

    #[test]
    fn packet_dma_moves_sectors_through_the_bus_master() {
        let (mut r, _img) = rig();
        let mut mem = Mem(vec![0; 0x10000]);
        mem.0[0x100..0x104].copy_from_slice(&0x2000u32.to_le_bytes());
        mem.0[0x104..0x108].copy_from_slice(&[0x00, 0x10, 0x00, 0x80]); // 4096 bytes, EOT
        r.ide.write(REGION_BUS_MASTER, BMIDTP, 4, 0x100);
        r.outb(REG_FEATURES, 1);
        r.outb(REG_COMMAND, ata::CMD_PACKET);
        r.write_data(&[READ_10, 0, 0, 0, 0, 7, 0, 0, 2, 0, 0, 0]);
        assert!(!r.irq14());
        r.ide.write(REGION_BUS_MASTER, BMIC, 1, (BMIC_START | BMIC_WRITE_MEMORY) as u32);
        assert!(r.ide.dma_pending());
        r.ide.run_dma(&mut mem);
        assert!(r.irq14());
        assert_eq!(mem.0[0x2000..0x3000], iso()[7 * 2048..9 * 2048]);
        assert_eq!(r.inb(REG_STATUS), STATUS_DRDY);
        assert_eq!(r.inb(REG_SECTOR_COUNT), 3);
    }
}
