//! The 82077AA driven through its registers, with the 8237A on channel 2 and a RAM.

use super::*;
use crate::i8237::{Dma8237, MODE_READ, MODE_SINGLE, MODE_WRITE, REGION_DMA1, REGION_PAGE};
use crate::ide::tests::Mem;
use crate::ide::MemBackend;

struct Board {
    fdc: Fdc82077,
    dma: Dma8237,
    ram: Mem,
    lines: Lines,
}

/// A 1.44M image whose sector at LBA n starts with n as a 16-bit number.
fn image(format: FloppyFormat) -> Vec<u8> {
    let mut data = vec![0u8; format.bytes() as usize];
    for (n, s) in data.chunks_mut(SECTOR).enumerate() {
        s[..2].copy_from_slice(&(n as u16).to_le_bytes());
        s[2..].fill(0xe5);
    }
    data
}

fn board_with(format: FloppyFormat, read_only: bool) -> Board {
    let lines = Lines::new();
    let dma = Dma8237::new();
    let mut fdc = Fdc82077::new(lines.clone(), dma.channels());
    let backend = MemBackend { data: image(format), read_only, flushes: 0 };
    fdc.insert(0, FloppyDisk::new(Box::new(backend)).unwrap());
    Board { fdc, dma, ram: Mem(vec![0; 1 << 20]), lines }
}

fn board() -> Board {
    board_with(FloppyFormat::Mb1_44, false)
}

impl Board {
    fn out(&mut self, port: u16, v: u8) {
        match port {
            0x3f7 => self.fdc.write(REGION_DIR, 0, 1, v as u32),
            0x3f0..=0x3f5 => {
                self.fdc.write(REGION_MAIN, (port - 0x3f0) as u64, 1, v as u32);
                // What the System does after every write.
                if self.fdc.dma_pending() {
                    self.fdc.run_dma(&mut self.ram);
                }
            }
            0x00..=0x0f => self.dma.write(REGION_DMA1, port as u64, 1, v as u32),
            0x81..=0x8f => self.dma.write(REGION_PAGE, (port - 0x81) as u64, 1, v as u32),
            _ => panic!("port {port:#x}"),
        }
    }
    fn inp(&mut self, port: u16) -> u8 {
        (match port {
            0x3f7 => self.fdc.read(REGION_DIR, 0, 1),
            0x3f0..=0x3f5 => self.fdc.read(REGION_MAIN, (port - 0x3f0) as u64, 1),
            _ => panic!("port {port:#x}"),
        }) as u8
    }
    fn irq(&self) -> bool {
        self.lines.irq_levels() & 1 << 6 != 0
    }
    /// Writes a command, checking RQM/DIO before each byte as a driver does.
    fn command(&mut self, bytes: &[u8]) {
        for &b in bytes {
            assert_eq!(self.inp(0x3f4) & (MSR_RQM | MSR_DIO), MSR_RQM, "controller not ready for {bytes:x?}");
            self.out(0x3f5, b);
        }
    }
    /// Reads the result phase.
    fn result(&mut self) -> Vec<u8> {
        let mut r = Vec::new();
        while self.inp(0x3f4) & (MSR_RQM | MSR_DIO) == MSR_RQM | MSR_DIO {
            r.push(self.inp(0x3f5));
        }
        r
    }
    /// Releases reset with DMA and IRQ enabled, drive 0's motor on, and takes the four
    /// polling interrupts.
    fn init(&mut self) {
        self.out(0x3f2, 0x00);
        self.out(0x3f2, 0x1c);
        assert!(self.irq(), "reset interrupt");
        for n in 0..4u8 {
            self.command(&[CMD_SENSE_INTERRUPT]);
            assert_eq!(self.result(), vec![0xc0 | n, 0]);
        }
        assert!(!self.irq());
        self.command(&[CMD_SPECIFY, 0xaf, 0x02]);
        self.out(0x3f7, RATE_500K);
    }
    fn seek(&mut self, cyl: u8) {
        self.command(&[CMD_SEEK, 0, cyl]);
        assert!(self.irq());
        assert_eq!(self.inp(0x3f4) & 1, 1, "drive 0 busy until sensed");
        self.command(&[CMD_SENSE_INTERRUPT]);
        assert_eq!(self.result(), vec![ST0_SE, cyl]);
        assert!(!self.irq());
    }
    /// Programs DMA channel 2 for `len` bytes at `addr`.
    fn dma(&mut self, mode: u8, addr: u32, len: u16) {
        self.out(0x0a, 0x06);
        self.out(0x0c, 0);
        self.out(0x0b, mode | MODE_SINGLE | 2);
        self.out(0x04, addr as u8);
        self.out(0x04, (addr >> 8) as u8);
        self.out(0x81, (addr >> 16) as u8);
        self.out(0x05, (len - 1) as u8);
        self.out(0x05, ((len - 1) >> 8) as u8);
        self.out(0x0a, 0x02);
    }
    fn word(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.ram.0[at], self.ram.0[at + 1]])
    }
}

#[test]
fn formats_come_from_the_image_size() {
    assert_eq!(FloppyFormat::from_size(1_474_560), Some(FloppyFormat::Mb1_44));
    assert_eq!(FloppyFormat::from_size(368_640), Some(FloppyFormat::Kb360));
    assert_eq!(FloppyFormat::from_size(2_949_120), Some(FloppyFormat::Mb2_88));
    assert_eq!(FloppyFormat::from_size(1_474_048), None);
    assert_eq!(FloppyFormat::Mb1_2.drive_type(), FloppyType::Mb1_2);
    let path = std::env::temp_dir().join(format!("emu-fdc-odd-{}.img", std::process::id()));
    std::fs::write(&path, vec![0u8; 512 * 100]).unwrap();
    let e = open_floppy(&path, true).unwrap_err();
    assert!(e.to_string().contains("51200 bytes") && e.to_string().contains("1474560"), "{e}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn reset_msr_version_and_invalid_commands() {
    let mut b = board();
    assert_eq!(b.inp(0x3f4), 0, "held in reset by DOR = 0");
    b.init();
    assert_eq!(b.inp(0x3f4), MSR_RQM);
    assert_eq!(b.inp(0x3f0), 0xff, "SRA is not there in AT mode");
    b.command(&[CMD_VERSION]);
    assert_eq!(b.result(), vec![VERSION_82077]);
    b.command(&[0x1f]);
    assert_eq!(b.result(), vec![ST0_IC_INVALID]);
    // SENSE INTERRUPT STATUS with nothing pending is invalid too.
    b.command(&[CMD_SENSE_INTERRUPT]);
    assert_eq!(b.result(), vec![ST0_IC_INVALID]);
    // Without DMAGATE the interrupt does not reach the line.
    b.out(0x3f2, 0x10);
    b.out(0x3f2, 0x14);
    assert!(!b.irq());
    b.out(0x3f2, 0x1c);
    assert!(b.irq());
    // A DSR software reset also polls.
    b.init();
    b.out(0x3f4, DSR_SW_RESET);
    assert!(b.irq());
}

/// One reset, one rising edge: entering reset with DMAGATE set must not pulse the line (a
/// second, unexpected interrupt makes Linux's driver give up on the controller).
#[test]
fn a_dor_reset_pulses_the_interrupt_once() {
    let mut b = board();
    let mut edges = emu_core::IrqEdges::default();
    b.init();
    b.lines.take_irq_edges(&mut edges);
    b.out(0x3f2, 0x08);
    assert!(!b.irq());
    assert_eq!(b.lines.take_irq_edges(&mut edges), 0, "no edge entering reset");
    b.out(0x3f2, 0x0c);
    assert!(b.irq());
    assert_eq!(b.lines.take_irq_edges(&mut edges), 1 << 6);
    b.command(&[CMD_SENSE_INTERRUPT]);
    b.result();
    assert_eq!(b.lines.take_irq_edges(&mut edges), 0);
}

#[test]
fn configure_lock_dumpreg_and_perpendicular() {
    let mut b = board();
    b.init();
    b.seek(5);
    b.command(&[CMD_CONFIGURE, 0, 0x4a, 0x07]);
    b.command(&[CMD_PERPENDICULAR, 0x83]); // OW: drive bits 0, GAP+WGATE
    b.command(&[0x94]);
    assert_eq!(b.result(), vec![0x10]);
    b.command(&[CMD_DUMPREG]);
    assert_eq!(b.result(), vec![5, 0, 0, 0, 0xaf, 0x02, 0, 0x83, 0x4a, 0x07]);
    // LOCKed: a reset keeps CONFIGURE; unlocked it does not.
    b.out(0x3f4, DSR_SW_RESET);
    for _ in 0..4 {
        b.command(&[CMD_SENSE_INTERRUPT]);
        b.result();
    }
    b.command(&[CMD_DUMPREG]);
    assert_eq!(b.result()[7..], [0x80, 0x4a, 0x07]);
    b.command(&[CMD_LOCK]);
    assert_eq!(b.result(), vec![0x00]);
    b.out(0x3f4, DSR_SW_RESET);
    for _ in 0..4 {
        b.command(&[CMD_SENSE_INTERRUPT]);
        b.result();
    }
    b.command(&[CMD_DUMPREG]);
    assert_eq!(b.result()[8..], [CONFIG_DEFAULT, 0]);
}

#[test]
fn recalibrate_seek_sense_drive_status_and_disk_change() {
    let mut b = board();
    b.init();
    assert_eq!(b.inp(0x3f7) & DIR_DSKCHG, DIR_DSKCHG, "a new disk reports a change");
    b.command(&[CMD_SENSE_DRIVE_STATUS, 0x04]);
    assert_eq!(b.result(), vec![0x28 | ST3_T0 | 0x04]);
    b.seek(33);
    assert_eq!(b.inp(0x3f7) & DIR_DSKCHG, 0, "a step clears it");
    b.command(&[CMD_SENSE_DRIVE_STATUS, 0x00]);
    assert_eq!(b.result(), vec![0x28]);
    b.command(&[CMD_RECALIBRATE, 0]);
    b.command(&[CMD_SENSE_INTERRUPT]);
    assert_eq!(b.result(), vec![ST0_SE, 0]);
    // Relative seek inwards then outwards.
    b.command(&[0x8f, 0, 10]);
    b.command(&[CMD_SENSE_INTERRUPT]);
    assert_eq!(b.result(), vec![ST0_SE, 10]);
    b.command(&[0xcf, 0, 3]);
    b.command(&[CMD_SENSE_INTERRUPT]);
    assert_eq!(b.result(), vec![ST0_SE, 7]);
    // Drive 2 is not connected: recalibrate fails with equipment check.
    b.command(&[CMD_RECALIBRATE, 2]);
    b.command(&[CMD_SENSE_INTERRUPT]);
    assert_eq!(b.result(), vec![ST0_IC_ABNORMAL | ST0_SE | ST0_EC | 2, 0]);
}

#[test]
fn read_data_by_dma_with_multi_track_and_terminal_count() {
    let mut b = board();
    b.init();
    b.seek(2);
    // Sectors 17 and 18 of head 0 then 1 of head 1 on cylinder 2: LBAs 88, 89, 90.
    b.dma(MODE_WRITE, 0x1_0000, 3 * 512);
    b.command(&[CMD_MT | 0x40 | CMD_READ_DATA, 0x00, 2, 0, 17, 2, 18, 0x1b, 0xff]);
    assert!(b.irq());
    assert_eq!(b.result(), vec![0x04, 0, 0, 2, 1, 2, 2], "ended on head 1, next sector 2");
    assert!(!b.irq(), "reading the result clears the interrupt");
    assert_eq!([b.word(0x1_0000), b.word(0x1_0200), b.word(0x1_0400)], [88, 89, 90]);
    // READ ID reports the sector after the last one read.
    b.command(&[0x4a, 0x04]);
    assert_eq!(b.result(), vec![0x04, 0, 0, 2, 1, 2, 2]);
}

#[test]
fn read_errors_follow_the_datasheet() {
    let mut b = board();
    b.init();
    b.dma(MODE_WRITE, 0x2000, 512);
    // The head is on cylinder 0; the command names cylinder 1: no data, wrong cylinder.
    b.command(&[0x46, 0, 1, 0, 1, 2, 18, 0x1b, 0xff]);
    assert_eq!(b.result(), vec![0x40, ST1_ND, ST2_WC, 1, 0, 1, 2]);
    // Sector 19 is not on a 1.44M track.
    b.command(&[0x46, 0, 0, 0, 19, 2, 19, 0x1b, 0xff]);
    assert_eq!(b.result()[..3], [0x40, ST1_ND, 0]);
    // At 250 kbps a 1.44M disk shows no address marks.
    b.out(0x3f7, RATE_250K);
    b.command(&[0x46, 0, 0, 0, 1, 2, 18, 0x1b, 0xff]);
    assert_eq!(b.result()[..3], [0x40, ST1_MA, 0]);
    b.command(&[0x4a, 0]);
    assert_eq!(b.result()[..2], [0x40, ST1_MA]);
    b.out(0x3f7, RATE_500K);
    // No DMA set up (channel masked): overrun.
    b.out(0x0a, 0x06);
    b.command(&[0x46, 0, 0, 0, 1, 2, 18, 0x1b, 0xff]);
    assert_eq!(b.result()[..3], [0x40, ST1_OR, 0]);
    // More DMA than EOT allows: the track ends first (EN), with the next cylinder's ID.
    b.dma(MODE_WRITE, 0x2000, 4 * 512);
    b.command(&[0x46, 0, 0, 0, 17, 2, 18, 0x1b, 0xff]);
    assert_eq!(b.result(), vec![0x40, ST1_EN, 0, 1, 0, 1, 2]);
    // Drive 1 has no disk.
    b.command(&[0x46, 1, 0, 0, 1, 2, 18, 0x1b, 0xff]);
    assert_eq!(b.result()[..3], [0x41, ST1_MA, 0]);
}

#[test]
fn implied_seek_moves_the_head_for_data_commands() {
    let mut b = board();
    b.init();
    b.command(&[CMD_CONFIGURE, 0, 0x40 | 0x20, 0]);
    b.dma(MODE_WRITE, 0x3000, 512);
    b.command(&[0x46, 0, 40, 0, 1, 2, 18, 0x1b, 0xff]);
    assert_eq!(b.result(), vec![0x00, 0, 0, 40, 0, 2, 2]);
    assert_eq!(b.word(0x3000), 40 * 36);
}

#[test]
fn write_data_reaches_the_medium_and_write_protect_refuses() {
    let mut b = board();
    b.init();
    b.seek(1);
    b.ram.0[0x4000..0x4400].fill(0x5a);
    b.dma(MODE_READ, 0x4000, 1024);
    // Sector 18 of head 0, then (MT) sector 1 of head 1: LBAs 53 and 54.
    b.command(&[0xc5, 0x00, 1, 0, 18, 2, 18, 0x1b, 0xff]);
    assert_eq!(b.result(), vec![0x04, 0, 0, 1, 1, 2, 2]);
    b.dma(MODE_WRITE, 0x8000, 1024);
    b.command(&[0x46, 0x04, 1, 1, 1, 2, 18, 0x1b, 0xff]);
    assert_eq!(b.result()[..3], [0x04, 0, 0]);
    assert!(b.ram.0[0x8000..0x8200].iter().all(|&x| x == 0x5a));
    assert_eq!(b.word(0x8200), 55, "sector 2 is untouched");
    // Past EOT on head 1 without TC: abnormal, EN, the next cylinder's ID.
    b.dma(MODE_READ, 0x4000, 1024);
    b.command(&[0xc5, 0x04, 1, 1, 18, 2, 18, 0x1b, 0xff]);
    assert_eq!(b.result(), vec![0x44, ST1_EN, 0, 2, 0, 1, 2]);

    let mut p = board_with(FloppyFormat::Mb1_44, true);
    p.init();
    p.command(&[CMD_SENSE_DRIVE_STATUS, 0]);
    assert_eq!(p.result(), vec![0x28 | ST3_WP | ST3_T0]);
    p.dma(MODE_READ, 0x4000, 512);
    p.command(&[0x45, 0, 0, 0, 1, 2, 18, 0x1b, 0xff]);
    assert_eq!(p.result()[..3], [0x40, ST1_NW, 0]);
}

#[test]
fn non_dma_mode_moves_data_through_the_fifo() {
    let mut b = board_with(FloppyFormat::Kb720, false);
    b.init();
    b.out(0x3f7, RATE_250K);
    b.command(&[CMD_SPECIFY, 0xaf, 0x03]); // ND
    b.command(&[0x46, 0, 0, 0, 8, 2, 9, 0x1b, 0xff]);
    assert!(b.irq(), "data ready");
    assert_eq!(b.inp(0x3f4), MSR_RQM | MSR_DIO | MSR_NONDMA | MSR_CB);
    let mut data = Vec::new();
    while b.inp(0x3f4) & MSR_NONDMA != 0 {
        data.push(b.inp(0x3f5));
    }
    assert_eq!(data.len(), 1024);
    assert_eq!((data[0], data[512]), (7, 8));
    // No TC without DMA: the command ends past EOT.
    assert!(b.irq());
    assert_eq!(b.result(), vec![0x40, ST1_EN, 0, 1, 0, 1, 2]);
    // Writing sector 9 through the FIFO.
    b.command(&[0x45, 0, 0, 0, 9, 2, 9, 0x1b, 0xff]);
    assert_eq!(b.inp(0x3f4), MSR_RQM | MSR_NONDMA | MSR_CB);
    for _ in 0..512 {
        b.out(0x3f5, 0x77);
    }
    assert_eq!(b.result()[..2], [0x40, ST1_EN]);
    b.command(&[0x46, 0, 0, 0, 9, 2, 9, 0x1b, 0xff]);
    assert_eq!(b.inp(0x3f5), 0x77);
}

#[test]
fn format_track_writes_the_filler_or_refuses_other_layouts() {
    let mut b = board();
    b.init();
    b.seek(3);
    for s in 0..18u8 {
        let at = 0x5000 + s as usize * 4;
        b.ram.0[at..at + 4].copy_from_slice(&[3, 1, s + 1, 2]);
    }
    b.dma(MODE_READ, 0x5000, 18 * 4);
    b.command(&[0x4d, 0x04, 2, 18, 0x54, 0xf6]);
    assert_eq!(b.result()[..3], [0x04, 0, 0]);
    b.dma(MODE_WRITE, 0x9000, 512);
    b.command(&[0x46, 0x04, 3, 1, 5, 2, 18, 0x1b, 0xff]);
    assert_eq!(b.result()[..3], [0x04, 0, 0]);
    assert!(b.ram.0[0x9000..0x9200].iter().all(|&x| x == 0xf6));
    // 1024-byte sectors cannot be held by the image.
    b.ram.0[0x5003] = 3;
    b.dma(MODE_READ, 0x5000, 18 * 4);
    b.command(&[0x4d, 0x04, 3, 18, 0x54, 0xf6]);
    assert_eq!(b.result()[..3], [0x44, ST1_ND, 0]);
}
