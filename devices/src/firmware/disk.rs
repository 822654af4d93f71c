//! INT 13h for hard disks, driving ATA drives through their task-file registers with PIO, as a
//! BIOS does: IDENTIFY at POST, READ/WRITE SECTORS (EXT) for the services. Drive numbers 80h and
//! up are the ATA disks in the order found (primary master, primary slave, secondary master,
//! secondary slave). Floppies and CD-ROMs are not served yet (ATAPI drives are skipped).

use super::{lin, rd16, rd8, set_carry, wr16, wr32, wr8, Bios, Next, Regs};
use crate::ide::ata::{
    CMD_FLUSH_CACHE, CMD_IDENTIFY_DEVICE, CMD_READ_SECTORS, CMD_READ_SECTORS_EXT, CMD_WRITE_SECTORS,
    CMD_WRITE_SECTORS_EXT,
};
use crate::ide::{self, STATUS_BSY, STATUS_DRQ, STATUS_ERR};
use crate::pci::i440fx::VENDOR_INTEL;
use crate::pci::piix3::{DEVICE_82371SB_IDE, IDETIM_PRIMARY, IDETIM_SECONDARY};
use crate::pci::{CONFIG_ENABLE, PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA, VENDOR_ID};
use emu_core::System;

/// An ATA disk found by POST.
#[derive(Debug, Clone)]
pub(super) struct AtaDisk {
    /// Command block base port (0x1F0 or 0x170).
    base: u16,
    slave: bool,
    pub sectors: u64,
    lba48: bool,
    pub model: String,
    /// The geometry INT 13h presents: cylinders, heads, sectors per track.
    chs: (u32, u32, u32),
}

// Task-file register offsets as port offsets from a channel's command block, the device
// model's own (crate::ide), which the BIOS drives as any ATA driver would.
pub(super) const DATA: u16 = ide::REG_DATA as u16;
pub(super) const FEATURES: u16 = ide::REG_FEATURES as u16;
const SECTOR_COUNT: u16 = ide::REG_SECTOR_COUNT as u16;
const LBA_LOW: u16 = ide::REG_LBA_LOW as u16;
pub(super) const LBA_MID: u16 = ide::REG_LBA_MID as u16;
pub(super) const LBA_HIGH: u16 = ide::REG_LBA_HIGH as u16;
pub(super) const DEVICE: u16 = ide::REG_DEVICE as u16;
pub(super) const STATUS_COMMAND: u16 = ide::REG_COMMAND as u16;

/// INT 13h status codes.
const BAD_COMMAND: u8 = 0x01;
const SECTOR_NOT_FOUND: u8 = 0x04;
const TIMEOUT: u8 = 0x80;
const CONTROLLER_FAILURE: u8 = 0x20;

/// PCI configuration address (mechanism #1) of the PIIX3 IDE function, bus 0 device 1 function 1.
const PIIX3_IDE_CONFIG: u32 = CONFIG_ENABLE | 1 << 11 | 1 << 8;

/// Turns on the IDE decode enable bit (bit 15) of both channels' IDETIM registers when the PIIX3
/// IDE function is at 00:01.1, as a PC BIOS does before it looks for drives: the register resets
/// to 0000h (both channels off), and Linux's `ata_piix` skips a channel whose bit is clear.
/// Direct kernel boot runs no POST and calls this itself. Other bits (timings) stay as they are.
pub fn enable_ide_decode(sys: &mut System) {
    sys.io_write(PCI_CONFIG_ADDRESS, 4, PIIX3_IDE_CONFIG | u32::from(VENDOR_ID));
    let id = sys.io_read(PCI_CONFIG_DATA, 4);
    if id != u32::from(DEVICE_82371SB_IDE) << 16 | u32::from(VENDOR_INTEL) {
        return;
    }
    for reg in [IDETIM_PRIMARY, IDETIM_SECONDARY] {
        // IDETIM is a word in the upper or lower half of its dword: address the dword, access the word.
        sys.io_write(PCI_CONFIG_ADDRESS, 4, PIIX3_IDE_CONFIG | u32::from(reg & !3));
        let port = PCI_CONFIG_DATA + u16::from(reg & 3);
        let timing = sys.io_read(port, 2);
        sys.io_write(port, 2, timing | IDETIM_DECODE_ENABLE);
    }
}

/// IDETIM bit 15: the channel's legacy ports are decoded.
const IDETIM_DECODE_ENABLE: u32 = 0x8000;

/// Polls the status register until BSY clears; `Err` on timeout or ERR.
fn wait(sys: &mut System, base: u16, want_drq: bool) -> Result<u8, u8> {
    for _ in 0..1_000_000 {
        let s = sys.io_read(base + STATUS_COMMAND, 1) as u8;
        if s == 0xff {
            return Err(TIMEOUT); // nothing on the bus
        }
        if s & STATUS_BSY != 0 {
            continue;
        }
        if s & STATUS_ERR != 0 {
            return Err(CONTROLLER_FAILURE);
        }
        if !want_drq || s & STATUS_DRQ != 0 {
            return Ok(s);
        }
    }
    Err(TIMEOUT)
}

fn select(sys: &mut System, base: u16, slave: bool, lba_bits: u8) {
    sys.io_write(base + DEVICE, 1, (0xa0 | 0x40 | (slave as u32) << 4 | lba_bits as u32) & 0xff);
}

/// Finds the ATA disks (IDENTIFY DEVICE on each of the four positions).
pub(super) fn detect(sys: &mut System) -> Vec<AtaDisk> {
    enable_ide_decode(sys);
    let mut disks = Vec::new();
    for (base, control) in [(0x1f0u16, 0x3f6u16), (0x170, 0x376)] {
        sys.io_write(control, 1, 0x02); // nIEN: the BIOS polls, no IRQ 14/15
        for slave in [false, true] {
            select(sys, base, slave, 0);
            if sys.io_read(base + STATUS_COMMAND, 1) as u8 == 0xff {
                continue;
            }
            sys.io_write(base + STATUS_COMMAND, 1, CMD_IDENTIFY_DEVICE as u32);
            if sys.io_read(base + STATUS_COMMAND, 1) == 0 || wait(sys, base, true).is_err() {
                continue; // absent, or an ATAPI device (IDENTIFY aborts)
            }
            let mut id = [0u16; 256];
            for w in id.iter_mut() {
                *w = sys.io_read(base + DATA, 2) as u16;
            }
            disks.push(parse_identify(base, slave, &id));
        }
    }
    disks
}

fn parse_identify(base: u16, slave: bool, id: &[u16; 256]) -> AtaDisk {
    let lba28 = id[60] as u64 | (id[61] as u64) << 16;
    let lba48 = id[83] & (1 << 10) != 0;
    let sectors = if lba48 { (0..4).map(|i| (id[100 + i] as u64) << (16 * i)).sum::<u64>().max(lba28) } else { lba28 };
    let model: String = id[27..47]
        .iter()
        .flat_map(|w| [(w >> 8) as u8 as char, *w as u8 as char])
        .collect::<String>()
        .trim()
        .to_string();
    // INT 13h geometry: the drive's own CHS if it covers the disk, else LBA-assisted translation.
    let chs = if sectors <= 1024 * 16 * 63 {
        let (h, s) = (16u32, 63u32);
        (((sectors / (h as u64 * s as u64)).max(1)) as u32, h, s)
    } else {
        let (h, s) = (255u32, 63u32);
        ((sectors / (h as u64 * s as u64)).min(1024) as u32, h, s)
    };
    AtaDisk { base, slave, sectors, lba48, model, chs }
}

fn command(sys: &mut System, d: &AtaDisk, lba: u64, count: u16, write: bool) -> Result<(), u8> {
    wait(sys, d.base, false)?;
    let ext = d.lba48 && (lba + count as u64 > 0x0fff_ffff || count > 256);
    if ext {
        select(sys, d.base, d.slave, 0);
        for shift in [8u32, 0] {
            sys.io_write(d.base + SECTOR_COUNT, 1, (count >> shift) as u32 & 0xff);
            sys.io_write(d.base + LBA_LOW, 1, (lba >> (shift * 3)) as u32 & 0xff);
            sys.io_write(d.base + LBA_MID, 1, (lba >> (shift * 3 + 8)) as u32 & 0xff);
            sys.io_write(d.base + LBA_HIGH, 1, (lba >> (shift * 3 + 16)) as u32 & 0xff);
        }
        sys.io_write(
            d.base + STATUS_COMMAND,
            1,
            if write { CMD_WRITE_SECTORS_EXT } else { CMD_READ_SECTORS_EXT } as u32,
        );
    } else {
        select(sys, d.base, d.slave, (lba >> 24) as u8 & 0x0f);
        sys.io_write(d.base + SECTOR_COUNT, 1, count as u32 & 0xff);
        sys.io_write(d.base + LBA_LOW, 1, lba as u32 & 0xff);
        sys.io_write(d.base + LBA_MID, 1, (lba >> 8) as u32 & 0xff);
        sys.io_write(d.base + LBA_HIGH, 1, (lba >> 16) as u32 & 0xff);
        sys.io_write(d.base + STATUS_COMMAND, 1, if write { CMD_WRITE_SECTORS } else { CMD_READ_SECTORS } as u32);
    }
    Ok(())
}

/// Reads `count` sectors at `lba` into `buf` (count × 512 bytes).
pub(super) fn read_sectors(sys: &mut System, d: &AtaDisk, lba: u64, count: u16, buf: &mut [u8]) -> Result<(), u8> {
    if lba + count as u64 > d.sectors {
        return Err(SECTOR_NOT_FOUND);
    }
    for (n, chunk) in buf.chunks_mut(512 * 256).enumerate() {
        let c = (chunk.len() / 512) as u16;
        command(sys, d, lba + n as u64 * 256, c, false)?;
        for sector in chunk.chunks_mut(512) {
            wait(sys, d.base, true)?;
            for pair in sector.chunks_mut(2) {
                let w = sys.io_read(d.base + DATA, 2) as u16;
                pair.copy_from_slice(&w.to_le_bytes());
            }
        }
    }
    Ok(())
}

/// Writes `data` (a multiple of 512 bytes) at `lba`, then flushes the drive's cache.
fn write_sectors(sys: &mut System, d: &AtaDisk, lba: u64, data: &[u8]) -> Result<(), u8> {
    let count = (data.len() / 512) as u64;
    if lba + count > d.sectors {
        return Err(SECTOR_NOT_FOUND);
    }
    for (n, chunk) in data.chunks(512 * 256).enumerate() {
        command(sys, d, lba + n as u64 * 256, (chunk.len() / 512) as u16, true)?;
        for sector in chunk.chunks(512) {
            wait(sys, d.base, true)?;
            for pair in sector.chunks(2) {
                sys.io_write(d.base + DATA, 2, u16::from_le_bytes([pair[0], pair[1]]) as u32);
            }
        }
    }
    wait(sys, d.base, false)?;
    sys.io_write(d.base + STATUS_COMMAND, 1, CMD_FLUSH_CACHE as u32);
    wait(sys, d.base, false).map(|_| ())
}

/// Moves `count` sectors between the disk and guest memory at `addr`.
fn transfer(sys: &mut System, d: &AtaDisk, lba: u64, count: u16, addr: u64, write: bool) -> Result<(), u8> {
    let mut buf = vec![0u8; count as usize * 512];
    if write {
        sys.read_bytes(addr, &mut buf);
        write_sectors(sys, d, lba, &buf)
    } else {
        read_sectors(sys, d, lba, count, &mut buf)?;
        sys.write_bytes(addr, &buf);
        Ok(())
    }
}

/// INT 13h.
pub(super) fn int13(bios: &mut Bios, sys: &mut System, regs: &mut Regs) -> Next {
    const LAST_STATUS: u64 = 0x474;
    let drive = regs.dl();
    if drive < 0x80 {
        return super::floppy::int13(sys, regs);
    }
    if drive == super::cdrom::CD_DRIVE && regs.ah() != 0x01 {
        if let Some(cd) = bios.cdrom.clone() {
            let version_in_ah = regs.ah() == 0x41;
            let status = super::cdrom::int13(sys, &cd, regs).err().unwrap_or(0);
            if status != 0 || !version_in_ah {
                regs.set_ah(status);
            }
            wr8(sys, LAST_STATUS, status);
            set_carry(sys, regs, status != 0);
            return Next::Return;
        }
    }
    let disk = drive.checked_sub(0x80).and_then(|n| bios.disks.get(n as usize)).cloned();
    let result: Result<(), u8> = match (regs.ah(), disk) {
        (0x00, _) => Ok(()),
        (0x01, _) => {
            let last = rd8(sys, LAST_STATUS);
            regs.set_ah(last);
            set_carry(sys, regs, last != 0);
            return Next::Return;
        }
        (_, None) => Err(if drive < 0x80 { TIMEOUT } else { BAD_COMMAND }),
        (0x02 | 0x03, Some(d)) => {
            let (c, h, s) = d.chs;
            let cyl = regs.ch() as u32 | ((regs.cl() as u32 & 0xc0) << 2);
            let sector = regs.cl() as u32 & 0x3f;
            let head = regs.dh() as u32;
            let count = regs.al() as u16;
            if sector == 0 || sector > s || head >= h || cyl >= c.max(1) || count == 0 {
                Err(SECTOR_NOT_FOUND)
            } else {
                let lba = ((cyl * h + head) * s + sector - 1) as u64;
                let addr = lin(regs.es(), regs.bx());
                let r = transfer(sys, &d, lba, count, addr, regs.ah() == 0x03);
                regs.set_al(if r.is_ok() { count as u8 } else { 0 });
                r
            }
        }
        (0x04 | 0x0c | 0x0d | 0x10 | 0x11, Some(_)) => Ok(()),
        (0x08, Some(d)) => {
            let (c, h, s) = d.chs;
            let max_cyl = c.clamp(1, 1024) - 1;
            regs.set_ch(max_cyl as u8);
            regs.set_cl((s as u8 & 0x3f) | ((max_cyl >> 2) as u8 & 0xc0));
            regs.set_dh((h - 1) as u8);
            regs.set_dl(bios.disks.len() as u8);
            regs.set_ax(0);
            Ok(())
        }
        (0x15, Some(d)) => {
            let n = (d.sectors.min(u32::MAX as u64)) as u32;
            regs.set_cx((n >> 16) as u16);
            regs.set_dx(n as u16);
            regs.set_ah(0x03);
            set_carry(sys, regs, false);
            wr8(sys, LAST_STATUS, 0);
            return Next::Return;
        }
        (0x41, Some(_)) if regs.bx() == 0x55aa => {
            regs.set_bx(0xaa55);
            regs.set_cx(0x0001); // fixed disk access subset (42h-44h, 47h, 48h)
            regs.set_ah(0x30);
            set_carry(sys, regs, false);
            return Next::Return;
        }
        (0x42 | 0x43, Some(d)) => {
            let dap = lin(regs.ds(), regs.si());
            let count = rd16(sys, dap + 2);
            let (off, seg) = (rd16(sys, dap + 4), rd16(sys, dap + 6));
            let lba = sys.read_phys(dap + 8, 4) as u64 | (sys.read_phys(dap + 12, 4) as u64) << 32;
            let r = transfer(sys, &d, lba, count, lin(seg, off), regs.ah() == 0x43);
            if r.is_err() {
                wr16(sys, dap + 2, 0);
            }
            r
        }
        (0x48, Some(d)) => {
            let at = lin(regs.ds(), regs.si());
            wr16(sys, at, 0x1a); // the EDD 1.x result size
            wr16(sys, at + 2, 0x0002); // geometry valid
            let (c, h, s) = d.chs;
            wr32(sys, at + 4, c);
            wr32(sys, at + 8, h);
            wr32(sys, at + 12, s);
            wr32(sys, at + 16, d.sectors as u32);
            wr32(sys, at + 20, (d.sectors >> 32) as u32);
            wr16(sys, at + 24, 512);
            Ok(())
        }
        _ => Err(BAD_COMMAND),
    };
    int13_return(sys, regs, LAST_STATUS, result)
}

/// How every INT 13h function ends: the status in AH and in the BDA byte `last_status_at`
/// (function 01h reads it back), CF set exactly when the status is not zero.
pub(super) fn int13_return(sys: &mut System, regs: &mut Regs, last_status_at: u64, result: Result<(), u8>) -> Next {
    let status = result.err().unwrap_or(0);
    regs.set_ah(status);
    wr8(sys, last_status_at, status);
    set_carry(sys, regs, status != 0);
    Next::Return
}
