//! The ATAPI CD-ROM: El Torito boot in no-emulation mode and INT 13h for the CD's drive number
//! ([`CD_DRIVE`]), reading 2048-byte sectors with PACKET + READ(10) over PIO, as a BIOS does.
//!
//! Boot: sector 17 must be the El Torito boot record volume descriptor; the catalog it points to
//! must start with a valid validation entry, and its initial entry must be bootable and in
//! no-emulation mode. Its `sector count` 512-byte sectors are loaded from its load RBA to its
//! load segment (07C0h when zero) and entered at that segment's offset 0 with DL = [`CD_DRIVE`].
//! Floppy and hard-disk emulation are not provided.

use super::disk::{DATA, DEVICE, FEATURES, LBA_HIGH, LBA_MID, STATUS_COMMAND};
use super::{lin, rd16, wr16, wr32, wr8, Regs};
use crate::ide::ata::{CMD_IDENTIFY_DEVICE, CMD_PACKET};
use crate::ide::atapi::READ_10;
use crate::ide::{STATUS_BSY, STATUS_DRQ, STATUS_ERR};
use emu_core::System;

/// The INT 13h drive number of the CD-ROM (as SeaBIOS and most BIOSes number it).
pub const CD_DRIVE: u8 = 0xe0;

/// An ATAPI drive found by POST, and what El Torito booted from it.
#[derive(Debug, Clone)]
pub(super) struct AtapiDrive {
    base: u16,
    slave: bool,
    /// The boot catalog's initial entry once booted: (media type, load segment, sectors, RBA).
    booted: Option<(u8, u16, u16, u32)>,
}

fn status(sys: &mut System, base: u16) -> u8 {
    sys.io_read(base + STATUS_COMMAND, 1) as u8
}

/// Polls until BSY clears; the status then.
fn not_busy(sys: &mut System, base: u16) -> Result<u8, u8> {
    for _ in 0..1_000_000 {
        let s = status(sys, base);
        if s == 0xff {
            return Err(0x80);
        }
        if s & STATUS_BSY == 0 {
            return Ok(s);
        }
    }
    Err(0x80)
}

/// Finds the first ATAPI device (IDENTIFY DEVICE aborts with the 14h/EBh signature).
pub(super) fn detect(sys: &mut System) -> Option<AtapiDrive> {
    for base in [0x1f0u16, 0x170] {
        for slave in [false, true] {
            sys.io_write(base + DEVICE, 1, 0xa0 | (slave as u32) << 4);
            if status(sys, base) == 0xff {
                continue;
            }
            sys.io_write(base + STATUS_COMMAND, 1, CMD_IDENTIFY_DEVICE as u32);
            if not_busy(sys, base).is_err() {
                continue;
            }
            let sig = (sys.io_read(base + LBA_MID, 1) as u8, sys.io_read(base + LBA_HIGH, 1) as u8);
            if sig == (0x14, 0xeb) {
                return Some(AtapiDrive { base, slave, booted: None });
            }
        }
    }
    None
}

/// Reads `count` 2048-byte sectors at `lba` into `buf`.
pub(super) fn read(sys: &mut System, d: &AtapiDrive, lba: u32, count: u16, buf: &mut [u8]) -> Result<(), u8> {
    let base = d.base;
    debug_assert_eq!(buf.len(), count as usize * 2048);
    for (n, chunk) in buf.chunks_mut(2048 * 32).enumerate() {
        let c = (chunk.len() / 2048) as u16;
        let at = lba + n as u32 * 32;
        not_busy(sys, base)?;
        sys.io_write(base + DEVICE, 1, 0xa0 | (d.slave as u32) << 4);
        sys.io_write(base + FEATURES, 1, 0); // PIO
        sys.io_write(base + LBA_MID, 1, 0x00); // byte-count limit: 0xF800
        sys.io_write(base + LBA_HIGH, 1, 0xf8);
        sys.io_write(base + STATUS_COMMAND, 1, CMD_PACKET as u32);
        let s = not_busy(sys, base)?;
        if s & STATUS_ERR != 0 || s & STATUS_DRQ == 0 {
            return Err(0x20);
        }
        let mut cdb = [0u8; 12];
        cdb[0] = READ_10;
        cdb[2..6].copy_from_slice(&at.to_be_bytes());
        cdb[7..9].copy_from_slice(&c.to_be_bytes());
        for w in cdb.chunks(2) {
            sys.io_write(base + DATA, 2, u16::from_le_bytes([w[0], w[1]]) as u32);
        }
        let mut filled = 0;
        loop {
            let s = not_busy(sys, base)?;
            if s & STATUS_ERR != 0 {
                return Err(0x04); // sector not found / read error
            }
            if s & STATUS_DRQ == 0 {
                break;
            }
            let bytes = sys.io_read(base + LBA_MID, 1) as usize | (sys.io_read(base + LBA_HIGH, 1) as usize) << 8;
            for _ in 0..bytes.div_ceil(2) {
                let w = (sys.io_read(base + DATA, 2) as u16).to_le_bytes();
                for b in w {
                    if filled < chunk.len() {
                        chunk[filled] = b;
                        filled += 1;
                    }
                }
            }
        }
        if filled != chunk.len() {
            return Err(0x04);
        }
    }
    Ok(())
}

/// Reads the El Torito boot image into memory: `Ok(load segment)`, or why the CD cannot boot.
pub(super) fn load_boot_image(sys: &mut System, d: &mut AtapiDrive) -> Result<u16, &'static str> {
    let mut s = vec![0u8; 2048];
    read(sys, d, 17, 1, &mut s).map_err(|_| "cannot read the CD's sector 17")?;
    if s[0] != 0 || &s[1..6] != b"CD001" || !s[7..].starts_with(b"EL TORITO SPECIFICATION") {
        return Err("no El Torito boot record on the CD");
    }
    let catalog = u32::from_le_bytes(s[0x47..0x4b].try_into().unwrap());
    read(sys, d, catalog, 1, &mut s).map_err(|_| "cannot read the CD's boot catalog")?;
    let sum = s[..32].chunks(2).fold(0u16, |a, w| a.wrapping_add(u16::from_le_bytes([w[0], w[1]])));
    if s[0] != 1 || s[0x1e..0x20] != [0x55, 0xaa] || sum != 0 {
        return Err("the CD's boot catalog has no valid validation entry");
    }
    let e = &s[0x20..0x40];
    if e[0] != 0x88 {
        return Err("the CD's initial boot entry is not bootable");
    }
    if e[1] & 0x0f != 0 {
        return Err("the CD boots with floppy or hard-disk emulation, which emu's BIOS does not provide");
    }
    let segment = match u16::from_le_bytes([e[2], e[3]]) {
        0 => 0x07c0,
        s => s,
    };
    let sectors = u16::from_le_bytes([e[6], e[7]]).max(1);
    let rba = u32::from_le_bytes(e[8..12].try_into().unwrap());
    let cd_sectors = (sectors as u32).div_ceil(4) as u16;
    let mut image = vec![0u8; cd_sectors as usize * 2048];
    read(sys, d, rba, cd_sectors, &mut image).map_err(|_| "cannot read the CD's boot image")?;
    image.truncate(sectors as usize * 512);
    sys.write_bytes(lin(segment, 0), &image);
    d.booted = Some((e[1], segment, sectors, rba));
    Ok(segment)
}

/// INT 13h for [`CD_DRIVE`]: `Ok(())` or an INT 13h status; the caller sets AH and CF.
pub(super) fn int13(sys: &mut System, d: &AtapiDrive, regs: &mut Regs) -> Result<(), u8> {
    match regs.ah() {
        0x00 => Ok(()),
        0x41 if regs.bx() == 0x55aa => {
            regs.set_bx(0xaa55);
            regs.set_cx(0x0001);
            regs.set_ah(0x30);
            Ok(())
        }
        0x42 => {
            let dap = lin(regs.ds(), regs.si());
            let count = rd16(sys, dap + 2);
            let (off, seg) = (rd16(sys, dap + 4), rd16(sys, dap + 6));
            let lba = sys.read_phys(dap + 8, 4);
            let mut buf = vec![0u8; count as usize * 2048];
            let r = read(sys, d, lba, count, &mut buf);
            match r {
                Ok(()) => sys.write_bytes(lin(seg, off), &buf),
                Err(_) => wr16(sys, dap + 2, 0),
            }
            r
        }
        // Verify, seek, lock/unlock, eject: nothing to do (eject is refused).
        0x44 | 0x45 | 0x47 => Ok(()),
        0x46 => Err(0xb1),
        0x48 => {
            let at = lin(regs.ds(), regs.si());
            // No geometry and an unknown size (READ CAPACITY is not asked).
            wr16(sys, at, 0x1a);
            wr16(sys, at + 2, 0x0074); // removable, change line, lockable, no geometry
            for o in (4..16).step_by(4) {
                wr32(sys, at + o, 0);
            }
            wr32(sys, at + 16, u32::MAX);
            wr32(sys, at + 20, u32::MAX);
            wr16(sys, at + 24, 2048);
            Ok(())
        }
        // El Torito: terminate disk emulation (AL=00h/01h) and return the specification packet.
        0x4b if regs.al() <= 1 => {
            let Some((media, segment, sectors, rba)) = d.booted else { return Err(0x01) };
            let at = lin(regs.ds(), regs.si());
            wr8(sys, at, 0x13);
            wr8(sys, at + 1, media);
            wr8(sys, at + 2, CD_DRIVE);
            wr8(sys, at + 3, (d.base == 0x170) as u8); // controller index
            wr32(sys, at + 4, rba);
            wr16(sys, at + 8, d.slave as u16); // device specification: master/slave
            wr16(sys, at + 10, 0);
            wr16(sys, at + 12, segment);
            wr16(sys, at + 14, sectors);
            for o in 16..19 {
                wr8(sys, at + o, 0);
            }
            Ok(())
        }
        0x01 | 0x15 => Ok(()),
        _ => Err(0x01),
    }
}
