//! INT 13h for floppy drives (DL = 00h, 01h), driving the 82077AA floppy controller and the
//! 8237A's channel 2 through their ports, as a BIOS does: the drive types come from CMOS
//! register 10h, transfers are READ DATA / WRITE DATA / VERIFY / FORMAT TRACK commands with DMA
//! set up for each run of sectors on one track, and the results land in the BIOS data area.
//!
//! Services: 00h reset, 01h status, 02h read, 03h write, 04h verify, 05h format track, 08h
//! parameters, 15h type (a drive with change line), 16h media change, 17h/18h media type for
//! format. Unlike the original PC BIOS, a read or write may span tracks and cylinders (it is
//! split per track); a buffer that crosses a 64 KiB boundary fails with status 09h, as the DMA
//! controller cannot cross one. POST resets the controller, recalibrates the drives, points
//! INT 1Eh at the diskette parameter table and fills the BDA's floppy fields; INT 08h turns the
//! motors off about two seconds after the last access; INT 0Eh notes the interrupt.

use super::{bda, lin, rd8, set_carry, wr16, wr32, wr8, Regs};
use super::{Next, BIOS_SEGMENT};
use emu_core::System;

// Controller ports and the bits this BIOS uses (82077AA datasheet).
const DOR: u16 = 0x3f2;
const MSR: u16 = 0x3f4;
const FIFO: u16 = 0x3f5;
/// Read: DIR (bit 7 disk change); write: CCR (data rate).
const DIR_CCR: u16 = 0x3f7;
const DOR_NRESET: u8 = 0x04;
const DOR_DMAGATE: u8 = 0x08;
const MSR_RQM: u8 = 0x80;
const MSR_DIO: u8 = 0x40;

const CMD_SPECIFY: u8 = 0x03;
const CMD_RECALIBRATE: u8 = 0x07;
const CMD_SENSE_INTERRUPT: u8 = 0x08;
const CMD_SEEK: u8 = 0x0f;
/// READ DATA with MFM and SK (the MT bit is not used: runs stay on one track).
const CMD_READ: u8 = 0x66;
/// WRITE DATA with MFM.
const CMD_WRITE: u8 = 0x45;
/// VERIFY with MFM and SK.
const CMD_VERIFY: u8 = 0x76;
/// FORMAT TRACK with MFM.
const CMD_FORMAT: u8 = 0x4d;

// BDA floppy fields.
const RECAL_STATUS: u64 = 0x43e;
const MOTOR_STATUS: u64 = 0x43f;
const MOTOR_TIMEOUT: u64 = 0x440;
const LAST_STATUS: u64 = 0x441;
const CONTROLLER_STATUS: u64 = 0x442;
const LAST_RATE: u64 = 0x48b;
const DRIVE_INFO: u64 = 0x48f;
const MEDIA_STATE: u64 = 0x490;
const CURRENT_CYLINDER: u64 = 0x494;

// INT 13h status codes.
const BAD_COMMAND: u8 = 0x01;
const ADDRESS_MARK_NOT_FOUND: u8 = 0x02;
const WRITE_PROTECTED: u8 = 0x03;
const SECTOR_NOT_FOUND: u8 = 0x04;
const DMA_OVERRUN: u8 = 0x08;
const DMA_BOUNDARY: u8 = 0x09;
const MEDIA_UNSUPPORTED: u8 = 0x0c;
const CONTROLLER_FAILURE: u8 = 0x20;
const SEEK_FAILED: u8 = 0x40;
const TIMEOUT: u8 = 0x80;
const CHANGE_LINE: u8 = 0x06;

/// Ticks (18.2 Hz) the motor keeps running after an access: the parameter table's 25h.
const MOTOR_OFF_TICKS: u8 = 0x25;

/// The diskette parameter tables in the ROM, one per CMOS drive type (1 = 360K ... 5 = 2.88M),
/// at F000:EFC7 and after; INT 1Eh points at drive 0's.
pub const PARAM_TABLES: u16 = 0xefc7;
const PARAM_TABLE_SIZE: u16 = 11;

/// A drive type's medium: (CMOS type, cylinders, sectors per track, CCR data rate, gap length
/// for read/write, gap length for format, BDA media state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Drive {
    n: u8,
    cmos_type: u8,
    cylinders: u8,
    spt: u8,
    rate: u8,
    gap: u8,
    format_gap: u8,
}

impl Drive {
    fn from_cmos(n: u8, cmos_type: u8) -> Option<Drive> {
        let (cylinders, spt, rate, gap, format_gap) = match cmos_type {
            1 => (40, 9, 2, 0x2a, 0x50),
            2 => (80, 15, 0, 0x1b, 0x54),
            3 => (80, 9, 2, 0x2a, 0x50),
            4 => (80, 18, 0, 0x1b, 0x6c),
            5 => (80, 36, 3, 0x1b, 0x53),
            _ => return None,
        };
        Some(Drive { n, cmos_type, cylinders, spt, rate, gap, format_gap })
    }

    /// The BDA media state byte: data rate in bits 7-6, media established, and the state code
    /// (3 = 360K in a 360K drive, 5 = 1.2M in a 1.2M drive, 7 = any other established pair).
    fn media_state(&self) -> u8 {
        let state = match self.cmos_type {
            1 => 3,
            2 => 5,
            _ => 7,
        };
        self.rate << 6 | 0x10 | state
    }

    /// The parameter table the ROM holds for this drive type.
    fn param_table(&self) -> u16 {
        PARAM_TABLES + (self.cmos_type as u16 - 1) * PARAM_TABLE_SIZE
    }
}

/// The diskette parameter table of CMOS drive type `t` (1-5), as the ROM holds it: specify
/// bytes, motor-off delay, sector size code, sectors per track, gap, data length, format gap,
/// filler byte, head settle and motor start times.
pub fn param_table(t: u8) -> [u8; PARAM_TABLE_SIZE as usize] {
    let d = Drive::from_cmos(0, t).unwrap_or(Drive::from_cmos(0, 4).expect("type 4 exists"));
    [0xaf, 0x02, MOTOR_OFF_TICKS, 0x02, d.spt, d.gap, 0xff, d.format_gap, 0xf6, 0x0f, 0x08]
}

fn cmos(sys: &mut System, reg: u8) -> u8 {
    sys.io_write(0x70, 1, reg as u32);
    sys.io_read(0x71, 1) as u8
}

/// Drive `n` (0 or 1) as CMOS register 10h describes it.
fn drive(sys: &mut System, n: u8) -> Option<Drive> {
    if n > 1 {
        return None;
    }
    let types = cmos(sys, 0x10);
    Drive::from_cmos(n, if n == 0 { types >> 4 } else { types & 0x0f })
}

fn drive_count(sys: &mut System) -> u8 {
    (0..2).filter(|&n| drive(sys, n).is_some()).count() as u8
}

/// Waits for RQM; the MSR then.
fn ready(sys: &mut System) -> Result<u8, u8> {
    for _ in 0..100_000 {
        let msr = sys.io_read(MSR, 1) as u8;
        if msr & MSR_RQM != 0 {
            return Ok(msr);
        }
    }
    Err(TIMEOUT)
}

/// Writes a command's bytes, each when the controller asks for one.
fn send(sys: &mut System, bytes: &[u8]) -> Result<(), u8> {
    for &b in bytes {
        if ready(sys)? & MSR_DIO != 0 {
            return Err(CONTROLLER_FAILURE); // it wants to talk, not listen
        }
        sys.io_write(FIFO, 1, b as u32);
    }
    Ok(())
}

/// Reads the result phase.
fn results(sys: &mut System) -> Result<Vec<u8>, u8> {
    let mut r = Vec::new();
    while ready(sys)? & MSR_DIO != 0 && r.len() < 16 {
        r.push(sys.io_read(FIFO, 1) as u8);
    }
    Ok(r)
}

/// SENSE INTERRUPT STATUS: (ST0, PCN).
fn sense_interrupt(sys: &mut System) -> Result<(u8, u8), u8> {
    send(sys, &[CMD_SENSE_INTERRUPT])?;
    match results(sys)?[..] {
        [st0, pcn] => Ok((st0, pcn)),
        _ => Err(CONTROLLER_FAILURE),
    }
}

/// Resets the controller (DOR pulse), takes the four polling interrupts and programs SPECIFY.
fn reset_controller(sys: &mut System) -> Result<(), u8> {
    let motors = sys.io_read(DOR, 1) as u8 & 0xf0;
    sys.io_write(DOR, 1, 0);
    sys.io_write(DOR, 1, (motors | DOR_DMAGATE | DOR_NRESET) as u32);
    for _ in 0..4 {
        sense_interrupt(sys)?;
    }
    let [srt_hut, hlt_nd, ..] = param_table(4);
    send(sys, &[CMD_SPECIFY, srt_hut, hlt_nd])
}

/// Selects drive `d`, starts its motor, sets its data rate and rearms the motor-off timer.
fn select(sys: &mut System, d: &Drive) {
    let motor = 0x10u8 << d.n;
    sys.io_write(DOR, 1, (motor | DOR_DMAGATE | DOR_NRESET | d.n) as u32);
    sys.io_write(DIR_CCR, 1, d.rate as u32);
    let status = rd8(sys, MOTOR_STATUS);
    wr8(sys, MOTOR_STATUS, status & 0xf0 & !0x30 | 1 << d.n | d.n << 4);
    wr8(sys, MOTOR_TIMEOUT, MOTOR_OFF_TICKS);
    wr8(sys, LAST_RATE, d.rate << 6);
}

/// Moves drive `d`'s head to `cylinder` (RECALIBRATE for cylinder 0).
fn seek(sys: &mut System, d: &Drive, cylinder: u8) -> Result<(), u8> {
    if cylinder == 0 {
        send(sys, &[CMD_RECALIBRATE, d.n])?;
    } else {
        send(sys, &[CMD_SEEK, d.n, cylinder])?;
    }
    let (st0, pcn) = sense_interrupt(sys)?;
    if st0 & 0xf8 != 0x20 || pcn != cylinder {
        return Err(SEEK_FAILED);
    }
    wr8(sys, CURRENT_CYLINDER + d.n as u64, cylinder);
    if cylinder == 0 {
        let r = rd8(sys, RECAL_STATUS);
        wr8(sys, RECAL_STATUS, r | 1 << d.n);
    }
    Ok(())
}

/// Programs DMA channel 2 for `len` bytes at `addr` (mode 46h: to memory, 4Ah: from memory).
fn dma_setup(sys: &mut System, mode: u8, addr: u64, len: usize) -> Result<(), u8> {
    if len == 0 || addr + len as u64 > 0x100_0000 || (addr & 0xffff) + len as u64 > 0x1_0000 {
        return Err(DMA_BOUNDARY);
    }
    let count = len - 1;
    for (port, v) in [
        (0x0a, 0x06),
        (0x0c, 0x00),
        (0x0b, mode as u64),
        (0x04, addr & 0xff),
        (0x04, (addr >> 8) & 0xff),
        (0x81, (addr >> 16) & 0xff),
        (0x05, count as u64 & 0xff),
        (0x05, (count as u64 >> 8) & 0xff),
        (0x0a, 0x02),
    ] {
        sys.io_write(port, 1, v as u32);
    }
    Ok(())
}

/// Reads the result of a data command into the BDA and turns it into an INT 13h status.
fn data_result(sys: &mut System) -> Result<(), u8> {
    let r = results(sys)?;
    for (i, &b) in r.iter().take(7).enumerate() {
        wr8(sys, CONTROLLER_STATUS + i as u64, b);
    }
    let [st0, st1, st2, ..] = r[..] else { return Err(CONTROLLER_FAILURE) };
    if st0 & 0xc0 == 0 {
        return Ok(());
    }
    Err(if st1 & 0x02 != 0 {
        WRITE_PROTECTED
    } else if st1 & 0x10 != 0 {
        DMA_OVERRUN
    } else if st1 & 0x01 != 0 {
        ADDRESS_MARK_NOT_FOUND
    } else if st1 & 0x84 != 0 || st2 & 0x12 != 0 {
        SECTOR_NOT_FOUND
    } else {
        CONTROLLER_FAILURE
    })
}

/// What a transfer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Verify,
}

/// Transfers `count` sectors from CHS (`c`, `h`, `s`) to or from guest memory at `addr`, one
/// controller command per run of sectors on a track. Returns the sectors done, and the error.
fn transfer(sys: &mut System, d: &Drive, chs: (u8, u8, u8), count: u8, addr: u64, op: Op) -> (u8, Result<(), u8>) {
    let (mut c, mut h, mut s) = chs;
    if s == 0 || s > d.spt || h > 1 || c >= d.cylinders {
        return (0, Err(SECTOR_NOT_FOUND));
    }
    if op != Op::Verify && (addr & 0xffff) + count as u64 * 512 > 0x1_0000 {
        return (0, Err(DMA_BOUNDARY));
    }
    select(sys, d);
    let mut done = 0u8;
    while done < count {
        let run = (count - done).min(d.spt - s + 1);
        if let Err(e) = seek(sys, d, c) {
            return (done, Err(e));
        }
        let at = addr + done as u64 * 512;
        let len = run as usize * 512;
        let cmd = match op {
            Op::Read => CMD_READ,
            Op::Write => CMD_WRITE,
            Op::Verify => CMD_VERIFY,
        };
        let setup = match op {
            Op::Read => dma_setup(sys, 0x46, at, len),
            Op::Write => dma_setup(sys, 0x4a, at, len),
            Op::Verify => Ok(()),
        };
        if let Err(e) = setup {
            return (done, Err(e));
        }
        // VERIFY counts its sectors itself (EC set in the drive byte, SC in the last byte).
        let (drive_byte, last) = if op == Op::Verify { (0x80, run) } else { (0, 0xff) };
        let r = send(sys, &[cmd, drive_byte | h << 2 | d.n, c, h, s, 2, s + run - 1, d.gap, last]);
        if let Err(e) = r.and_then(|_| data_result(sys)) {
            return (done, Err(e));
        }
        done += run;
        s = 1;
        if h == 1 {
            h = 0;
            c += 1;
        } else {
            h = 1;
        }
        if done < count && c >= d.cylinders {
            return (done, Err(SECTOR_NOT_FOUND));
        }
    }
    if op == Op::Write {
        let m = rd8(sys, MOTOR_STATUS);
        wr8(sys, MOTOR_STATUS, m & 0x7f);
    }
    (done, Ok(()))
}

/// FORMAT TRACK: `sectors` address fields (C, H, R, N) at `addr` for cylinder `c`, head `h`.
fn format(sys: &mut System, d: &Drive, c: u8, h: u8, sectors: u8, addr: u64) -> Result<(), u8> {
    if h > 1 || c >= d.cylinders {
        return Err(SECTOR_NOT_FOUND);
    }
    select(sys, d);
    seek(sys, d, c)?;
    dma_setup(sys, 0x4a, addr, sectors as usize * 4)?;
    let [.., filler, _, _] = param_table(d.cmos_type);
    send(sys, &[CMD_FORMAT, h << 2 | d.n, 2, sectors, d.format_gap, filler])?;
    data_result(sys)
}

/// POST: DMA controllers cleared with channel 4 cascading DMA 1, the floppy controller reset
/// with the drives recalibrated, IRQ 6 unmasked, INT 1Eh and the BDA fields set. Returns the
/// number of floppy drives.
pub(super) fn init(sys: &mut System) -> u8 {
    init_dma(sys);
    let drives: Vec<Drive> = (0..2).filter_map(|n| drive(sys, n)).collect();
    if drives.is_empty() {
        return 0;
    }
    wr32(sys, 0x1e * 4, (BIOS_SEGMENT as u32) << 16 | drives[0].param_table() as u32);
    let mut info = 0u8;
    for d in &drives {
        // Change line, multiple data rates, type determined.
        info |= 0x07 << (4 * d.n);
        wr8(sys, MEDIA_STATE + d.n as u64, d.media_state());
    }
    wr8(sys, DRIVE_INFO, info);
    if reset_controller(sys).is_ok() {
        for d in &drives {
            select(sys, d);
            let _ = seek(sys, d, 0);
        }
    }
    unmask_irq6(sys);
    drives.len() as u8
}

/// The 8237A pair: both master-cleared, channel 4 in cascade mode and unmasked.
fn init_dma(sys: &mut System) {
    for (port, v) in [(0x0d, 0), (0xda, 0), (0xd6, 0xc0), (0xd4, 0x00)] {
        sys.io_write(port, 1, v);
    }
}

/// For a reset that resumes (no POST): the DMA controllers, and, if the BDA's equipment word
/// has floppy drives, the controller out of reset and IRQ 6 unmasked, as [`init`] leaves them
/// (the heads are not moved, and memory is not touched).
pub(super) fn program_controllers(sys: &mut System) {
    init_dma(sys);
    if super::rd16(sys, bda::EQUIPMENT) & 1 == 0 {
        return;
    }
    let _ = reset_controller(sys);
    unmask_irq6(sys);
}

/// Unmasks the floppy controller's IRQ 6 at the master 8259A.
fn unmask_irq6(sys: &mut System) {
    let mask = sys.io_read(0x21, 1) as u8;
    sys.io_write(0x21, 1, (mask & !0x40) as u32);
}

/// The equipment word's floppy bits for `n` drives: bit 0 and the count - 1 in bits 7-6.
pub(super) fn equipment_bits(n: u8) -> u16 {
    if n == 0 {
        0
    } else {
        0x01 | ((n as u16 - 1) << 6)
    }
}

/// Loads drive A:'s boot sector at `at`: `None` without a drive A:, else whether the sector
/// could be read and ends in 55AAh (the reason if not).
pub(super) fn load_boot_sector(sys: &mut System, at: u64) -> Option<Result<(), String>> {
    let d = drive(sys, 0)?;
    let (_, r) = transfer(sys, &d, (0, 0, 1), 1, at, Op::Read);
    if let Err(e) = r {
        return Some(Err(format!("cannot read the boot sector (status {e:02X}h)")));
    }
    if sys.read_phys(at + 510, 2) != 0xaa55 {
        return Some(Err("not bootable (no 55AAh signature)".into()));
    }
    Some(Ok(()))
}

/// INT 08h's share: counts the motor-off delay down and stops the motors at zero.
pub(super) fn timer_tick(sys: &mut System) {
    let left = rd8(sys, MOTOR_TIMEOUT);
    if left == 0 {
        return;
    }
    wr8(sys, MOTOR_TIMEOUT, left - 1);
    if left == 1 {
        let dor = sys.io_read(DOR, 1) as u8;
        sys.io_write(DOR, 1, (dor & 0x0f) as u32);
        let m = rd8(sys, MOTOR_STATUS);
        wr8(sys, MOTOR_STATUS, m & 0xf0);
    }
}

/// INT 0Eh: the controller interrupted; note it (bit 7 of the recalibrate status, which BIOSes
/// wait on) and acknowledge the PIC.
pub(super) fn irq(sys: &mut System) {
    let r = rd8(sys, RECAL_STATUS);
    wr8(sys, RECAL_STATUS, r | 0x80);
    sys.io_write(0x20, 1, 0x20);
}

/// INT 13h for DL < 80h.
pub(super) fn int13(sys: &mut System, regs: &mut Regs) -> Next {
    let drive_no = regs.dl();
    let d = drive(sys, drive_no);
    let result: Result<(), u8> = match (regs.ah(), d) {
        (0x01, _) => {
            let last = rd8(sys, LAST_STATUS);
            regs.set_ah(last);
            set_carry(sys, regs, last != 0);
            return Next::Return;
        }
        (0x00, Some(d)) => reset_controller(sys).and_then(|_| {
            select(sys, &d);
            seek(sys, &d, 0)
        }),
        (0x00, None) => reset_controller(sys),
        (0x08, Some(d)) => {
            let max_cyl = d.cylinders - 1;
            regs.set_ax(0);
            regs.set_bl(d.cmos_type);
            regs.set_bh(0);
            regs.set_ch(max_cyl);
            regs.set_cl(d.spt);
            regs.set_dh(1);
            regs.set_dl(drive_count(sys));
            regs.seg[0] = BIOS_SEGMENT;
            regs.set_di(d.param_table());
            Ok(())
        }
        (0x15, d) => {
            // 02h: a diskette drive that reports media changes; 00h: no such drive.
            regs.set_ah(if d.is_some() { 0x02 } else { 0x00 });
            set_carry(sys, regs, false);
            wr8(sys, LAST_STATUS, 0);
            return Next::Return;
        }
        (_, None) => Err(if regs.ah() <= 0x05 || regs.ah() == 0x16 { TIMEOUT } else { BAD_COMMAND }),
        (0x02..=0x04, Some(d)) => {
            let (c, h, s) = (regs.ch(), regs.dh(), regs.cl() & 0x3f);
            let op = match regs.ah() {
                0x02 => Op::Read,
                0x03 => Op::Write,
                _ => Op::Verify,
            };
            let count = regs.al();
            let (done, r) = if count == 0 {
                (0, Err(SECTOR_NOT_FOUND))
            } else {
                transfer(sys, &d, (c, h, s), count, lin(regs.es(), regs.bx()), op)
            };
            regs.set_al(done);
            r
        }
        (0x05, Some(d)) => format(sys, &d, regs.ch(), regs.dh(), regs.al(), lin(regs.es(), regs.bx())),
        (0x16, Some(d)) => {
            select(sys, &d);
            if sys.io_read(DIR_CCR, 1) & 0x80 != 0 {
                Err(CHANGE_LINE)
            } else {
                Ok(())
            }
        }
        // Set the disk type for format: any type the drive takes (1-4 as the original BIOS numbers
        // them), which here is always its own medium.
        (0x17, Some(_)) => match regs.al() {
            1..=4 => Ok(()),
            _ => Err(BAD_COMMAND),
        },
        // Set the media type for format: only the drive's own medium.
        (0x18, Some(d)) => {
            let tracks = regs.ch() as u16 | (regs.cl() as u16 & 0xc0) << 2;
            if tracks + 1 == d.cylinders as u16 && regs.cl() & 0x3f == d.spt {
                regs.seg[0] = BIOS_SEGMENT;
                regs.set_di(d.param_table());
                Ok(())
            } else {
                Err(MEDIA_UNSUPPORTED)
            }
        }
        _ => Err(BAD_COMMAND),
    };
    super::disk::int13_return(sys, regs, LAST_STATUS, result)
}

/// Fills in the equipment word's floppy bits (POST).
pub(super) fn set_equipment(sys: &mut System, drives: u8) {
    let eq = super::rd16(sys, bda::EQUIPMENT) & !0x00c1;
    wr16(sys, bda::EQUIPMENT, eq | equipment_bits(drives));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firmware::rom;

    #[test]
    fn parameter_tables_sit_in_the_rom_clear_of_its_other_contents() {
        let image = rom::image();
        let end = PARAM_TABLES as usize + 5 * PARAM_TABLE_SIZE as usize;
        assert!(end <= 0xfff0, "the tables run into the reset vector");
        assert!(PARAM_TABLES as usize > rom::CONFIG_TABLE as usize + 10);
        for t in 1..=5u8 {
            let d = Drive::from_cmos(0, t).unwrap();
            let at = d.param_table() as usize;
            assert_eq!(image[at..at + 11], param_table(t), "type {t}");
        }
        // 1.44M: SRT/HUT AFh, HLT/ND 02h, motor-off 25h, 512-byte sectors, 18 per track.
        assert_eq!(param_table(4)[..5], [0xaf, 0x02, 0x25, 0x02, 18]);
        assert_eq!(param_table(1)[4], 9);
    }

    #[test]
    fn equipment_bits_count_the_drives() {
        assert_eq!(equipment_bits(0), 0);
        assert_eq!(equipment_bits(1), 0x01);
        assert_eq!(equipment_bits(2), 0x41);
    }
}
