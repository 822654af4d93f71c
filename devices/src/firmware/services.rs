//! POST and the system services: INT 08h (timer tick), 11h (equipment), 12h (memory size),
//! 15h (system services), 19h (bootstrap), 1Ah (time of day), and the dispatch of every vector.

use super::{bda, cdrom, disk, floppy, keyboard, lin, rd16, set_carry, video, wr16, wr32, wr8, Bios, Next, Regs};
use super::{BIOS_SEGMENT, STUBS, STUB_SIZE};
use emu_core::System;

/// First KiB of the extended BIOS data area, just below 640 KiB.
const EBDA_SEGMENT: u16 = 0x9fc0;
/// Conventional memory reported to the guest, in KiB (640 minus the EBDA).
const BASE_MEMORY_KB: u16 = 639;
/// Where the boot sector goes.
const BOOT_ADDRESS: u16 = 0x7c00;

/// Calls the service for interrupt `vector`.
pub(super) fn dispatch(bios: &mut Bios, sys: &mut System, regs: &mut Regs, vector: u8) -> Next {
    match vector {
        0x08 => timer_tick(sys, regs),
        0x09 => keyboard::irq(bios, sys),
        0x10 => video::int10(sys, regs),
        0x11 => {
            regs.set_ax(rd16(sys, bda::EQUIPMENT));
            Next::Return
        }
        0x12 => {
            regs.set_ax(rd16(sys, bda::MEMORY_KB));
            Next::Return
        }
        0x13 => disk::int13(bios, sys, regs),
        0x15 => int15(bios, sys, regs),
        0x16 => keyboard::int16(sys, regs),
        0x19 => boot(bios, sys, regs),
        0x1a if regs.ah() == 0xb1 => super::pci_bios::int1a(sys, regs),
        0x1a => int1a(sys, regs),
        0x0e => {
            floppy::irq(sys);
            Next::Return
        }
        // Other hardware interrupts: acknowledge the PIC(s) so the line can fire again.
        0x0a..=0x0f => {
            sys.io_write(0x20, 1, 0x20);
            Next::Return
        }
        0x70..=0x77 => {
            if vector == 0x70 {
                // RTC: read register C so it lowers IRQ 8 again.
                sys.io_write(0x70, 1, 0x0c);
                sys.io_read(0x71, 1);
            }
            sys.io_write(0xa0, 1, 0x20);
            sys.io_write(0x20, 1, 0x20);
            Next::Return
        }
        // Everything else: an unsupported service returns with CF set and AH = 86h.
        _ => {
            regs.set_ah(0x86);
            set_carry(sys, regs, true);
            Next::Return
        }
    }
}

impl Bios {
    /// Power-on self test: the machine's state as a boot sector expects to find it. A reset
    /// that asked to resume (the CMOS shutdown status, see [`resume`]) skips it.
    pub(super) fn post(&mut self, sys: &mut System, regs: &mut Regs) -> Next {
        // The 8042's translator was reset with it: no E0 prefix is pending.
        self.kbd = Default::default();
        if let Some(next) = resume(sys, regs) {
            return next;
        }
        init_vectors_and_timers(sys);
        // BIOS data area.
        for a in bda::BASE..bda::BASE + 0x100 {
            wr8(sys, a, 0);
        }
        wr16(sys, bda::COM_PORTS, 0x3f8);
        // Equipment: one serial port (bits 9-11), 80x25 colour video (bits 4-5).
        wr16(sys, bda::EQUIPMENT, 0x0220);
        wr16(sys, bda::MEMORY_KB, BASE_MEMORY_KB);
        wr16(sys, bda::EBDA_SEGMENT, EBDA_SEGMENT);
        wr16(sys, lin(EBDA_SEGMENT, 0), 1); // EBDA size in KiB
        super::mptable::install(sys); // in the EBDA, when the board has the APICs
        keyboard::init_buffer(sys);

        keyboard::init_controller(sys);

        video::set_mode(sys, 0x03);
        video::print(sys, "emu BIOS\r\n");
        let kb = self.config.ram_size >> 10;
        video::print(sys, &format!("Memory: {} KiB\r\n", kb));

        self.disks = disk::detect(sys);
        wr8(sys, bda::DISK_COUNT, self.disks.len() as u8);
        for (n, d) in self.disks.iter().enumerate() {
            video::print(sys, &format!("Disk {:02X}h: {} ({} MiB)\r\n", 0x80 + n, d.model, d.sectors >> 11));
        }
        let floppies = floppy::init(sys);
        floppy::set_equipment(sys, floppies);
        if floppies > 0 {
            video::print(sys, &format!("Floppy drives: {floppies}\r\n"));
        }
        self.cdrom = cdrom::detect(sys);
        if self.cdrom.is_some() {
            video::print(sys, &format!("CD-ROM {:02X}h\r\n", cdrom::CD_DRIVE));
        }
        boot(self, sys, regs)
    }
}

/// CMOS register 0Fh, the shutdown status: why the last reset happened, as the PC/AT BIOS
/// defined it.
const CMOS_SHUTDOWN_STATUS: u32 = 0x0f;
/// The BDA's resume vector at 0040:0067, a far pointer (offset, then segment).
const RESUME_VECTOR: u64 = 0x467;

/// A reset the program asked to come back from: software that resets the CPU on purpose (a
/// 286-era return from protected mode, an INIT of the processor) first stores a code in the
/// CMOS shutdown status and a far pointer at 0040:0067. POST clears the code, then, for
///
/// - 05h: sends the 8259As an end of interrupt and jumps to the pointer;
/// - 0Ah: jumps to the pointer;
/// - 0Bh: returns with IRET, 0Ch with RETF, on the stack the pointer gives as SS:SP;
///
/// 00h (a power-on or a plain reboot) and the codes emu does not implement run the whole POST
/// and boot. The registers but CS:IP (and SS:SP, and FLAGS for 0Bh) are the reset's.
///
/// A reset puts the devices back in their power-on state (as under QEMU; on a PC/AT the
/// 8042's reset line reset only the CPU, and resuming programs found the devices as POST left
/// them), so before the jump the devices POST programs are programmed again as POST leaves
/// them ([`program_devices`]); memory, the BDA and the vectors included, is the program's.
fn resume(sys: &mut System, regs: &mut Regs) -> Option<Next> {
    sys.io_write(0x70, 1, CMOS_SHUTDOWN_STATUS);
    let code = sys.io_read(0x71, 1) as u8;
    if code == 0 {
        return None;
    }
    sys.io_write(0x70, 1, CMOS_SHUTDOWN_STATUS);
    sys.io_write(0x71, 1, 0);
    if !matches!(code, 0x05 | 0x0a | 0x0b | 0x0c) {
        return None;
    }
    program_devices(sys);
    let (off, seg) = (rd16(sys, RESUME_VECTOR), rd16(sys, RESUME_VECTOR + 2));
    match code {
        0x05 => {
            sys.io_write(0xa0, 1, 0x20);
            sys.io_write(0x20, 1, 0x20);
            Some(Next::Jump { cs: seg, ip: off })
        }
        0x0a => Some(Next::Jump { cs: seg, ip: off }),
        0x0b | 0x0c => {
            // SS:SP from the pointer; pop IP and CS (and FLAGS for IRET).
            regs.set_ss(seg);
            let ip = rd16(sys, lin(seg, off));
            let cs = rd16(sys, lin(seg, off.wrapping_add(2)));
            let mut sp = off.wrapping_add(4);
            if code == 0x0b {
                regs.eflags = (regs.eflags & !0xffff) | rd16(sys, lin(seg, sp)) as u32 | 0x2;
                sp = sp.wrapping_add(2);
            }
            regs.set_sp(sp);
            Some(Next::Jump { cs, ip })
        }
        _ => None,
    }
}

/// The devices as POST leaves them, for a reset that resumes ([`resume`]): the 8259A pair and
/// PIT counter 0 ([`init_vectors_and_timers`]), the 8042's command byte, the DMA controllers,
/// and the floppy controller out of reset with IRQ 6 unmasked if the BDA's equipment word has
/// floppy drives. Guest memory is not touched.
fn program_devices(sys: &mut System) {
    init_pic_and_pit(sys);
    keyboard::init_controller(sys);
    floppy::program_controllers(sys);
}

/// What POST sets up that a guest started without POST (a multiboot or Linux kernel) may still
/// rely on: every interrupt vector at its BIOS stub; the 8259A pair at vectors 08h-0Fh and
/// 70h-77h, cascaded on IRQ 2, with only the timer, the keyboard and the cascade unmasked; and
/// PIT counter 0 in mode 3 with divisor 65536 (IRQ 0 at 18.2 Hz).
pub fn init_vectors_and_timers(sys: &mut System) {
    for v in 0..256u64 {
        let stub = STUBS as u32 + v as u32 * STUB_SIZE as u32;
        wr32(sys, v * 4, (BIOS_SEGMENT as u32) << 16 | stub);
    }
    init_pic_and_pit(sys);
}

/// The 8259A pair and PIT counter 0 as [`init_vectors_and_timers`] leaves them.
fn init_pic_and_pit(sys: &mut System) {
    for (port, value) in [
        (0x20, 0x11),
        (0xa0, 0x11),
        (0x21, 0x08),
        (0xa1, 0x70),
        (0x21, 0x04),
        (0xa1, 0x02),
        (0x21, 0x01),
        (0xa1, 0x01),
        (0x21, 0xf8),
        (0xa1, 0xff),
        (0x43, 0x36),
        (0x40, 0x00),
        (0x40, 0x00),
    ] {
        sys.io_write(port, 1, value);
    }
}

/// INT 08h: the 18.2 Hz tick. Counts in the BDA, then runs the user hook INT 1Ch if a program
/// installed one (returning through this vector's IRET), and acknowledges the PIC.
fn timer_tick(sys: &mut System, regs: &mut Regs) -> Next {
    const TICKS_PER_DAY: u32 = 0x1800b0;
    let ticks = sys.read_phys(bda::TICKS, 4) + 1;
    if ticks >= TICKS_PER_DAY {
        wr32(sys, bda::TICKS, 0);
        wr8(sys, bda::TICKS_ROLLOVER, 1);
    } else {
        wr32(sys, bda::TICKS, ticks);
    }
    floppy::timer_tick(sys);
    sys.io_write(0x20, 1, 0x20);
    let hook = sys.read_phys(0x1c * 4, 4);
    let ours = (BIOS_SEGMENT as u32) << 16 | (STUBS as u32 + 0x1c * STUB_SIZE as u32);
    if hook == ours {
        return Next::Return;
    }
    // Emulate `INT 1Ch` from here: push FLAGS, CS and the IP of this stub's IRET.
    let sp = regs.sp().wrapping_sub(6);
    let ss = regs.ss();
    wr16(sys, lin(ss, sp.wrapping_add(4)), regs.eflags as u16);
    wr16(sys, lin(ss, sp.wrapping_add(2)), BIOS_SEGMENT);
    wr16(sys, lin(ss, sp), regs.eip as u16); // our IRET, right after the trap
    regs.set_sp(sp);
    regs.eflags &= !0x300; // IF and TF off, as INT does
    Next::Jump { cs: (hook >> 16) as u16, ip: hook as u16 }
}

/// INT 19h: the machine's kernel if it was started from one ([`Bios::set_boot_kernel`]). Else
/// from floppy A: first if the CMOS boot order (register 3Dh) starts with the floppy; then from
/// the CD-ROM first if the boot order says so or there is no hard disk, else from the hard disks
/// in order, then the CD-ROM; then from A: if not tried yet.
fn boot(bios: &mut Bios, sys: &mut System, regs: &mut Regs) -> Next {
    if bios.kernel {
        return Next::BootKernel;
    }
    sys.io_write(0x70, 1, 0x3d);
    let first = sys.io_read(0x71, 1) & 0x0f;
    let floppy_first = first == 1;
    if floppy_first {
        if let Some(next) = boot_floppy(sys, regs) {
            return next;
        }
    }
    let cd_first = first == 3 || bios.disks.is_empty();
    if cd_first {
        if let Some(next) = boot_cdrom(bios, sys, regs) {
            return next;
        }
    }
    if let Some(next) = boot_disk(bios, sys, regs) {
        return next;
    }
    if !cd_first {
        if let Some(next) = boot_cdrom(bios, sys, regs) {
            return next;
        }
    }
    if !floppy_first {
        if let Some(next) = boot_floppy(sys, regs) {
            return next;
        }
    }
    video::print(sys, "No bootable disk.\r\n");
    Next::NoBoot
}

/// Boots drive A:'s boot sector, if there is a floppy with one.
fn boot_floppy(sys: &mut System, regs: &mut Regs) -> Option<Next> {
    match floppy::load_boot_sector(sys, BOOT_ADDRESS as u64)? {
        Ok(()) => {
            video::print(sys, "Booting from floppy A:...\r\n");
            *regs = Regs { eip: BOOT_ADDRESS as u32, eflags: 0x202, ..Regs::default() };
            regs.set_dl(0);
            regs.set_sp(BOOT_ADDRESS);
            Some(Next::Jump { cs: 0, ip: BOOT_ADDRESS })
        }
        Err(why) => {
            video::print(sys, &format!("Floppy A: {why}\r\n"));
            None
        }
    }
}

/// El Torito no-emulation boot from the CD-ROM, if there is one with a boot image.
fn boot_cdrom(bios: &mut Bios, sys: &mut System, regs: &mut Regs) -> Option<Next> {
    let mut cd = bios.cdrom.take()?;
    let loaded = cdrom::load_boot_image(sys, &mut cd);
    bios.cdrom = Some(cd);
    match loaded {
        Ok(segment) => {
            video::print(sys, &format!("Booting from CD-ROM {:02X}h...\r\n", cdrom::CD_DRIVE));
            *regs = Regs { eflags: 0x202, ..Regs::default() };
            regs.set_dl(cdrom::CD_DRIVE);
            regs.set_sp(BOOT_ADDRESS);
            regs.seg[1] = segment;
            Some(Next::Jump { cs: segment, ip: 0 })
        }
        Err(why) => {
            video::print(sys, &format!("CD-ROM: {why}\r\n"));
            None
        }
    }
}

/// Loads the first sector of the first bootable hard disk at 0000:7C00 and jumps to it.
fn boot_disk(bios: &mut Bios, sys: &mut System, regs: &mut Regs) -> Option<Next> {
    for (n, d) in bios.disks.iter().enumerate() {
        let mut sector = [0u8; 512];
        if disk::read_sectors(sys, d, 0, 1, &mut sector).is_err() {
            continue;
        }
        if sector[510..512] != [0x55, 0xaa] {
            video::print(sys, &format!("Disk {:02X}h is not bootable (no 55AAh signature)\r\n", 0x80 + n));
            continue;
        }
        sys.write_bytes(BOOT_ADDRESS as u64, &sector);
        video::print(sys, &format!("Booting from disk {:02X}h...\r\n", 0x80 + n));
        *regs = Regs { eip: BOOT_ADDRESS as u32, eflags: 0x202, ..Regs::default() };
        regs.set_dl(0x80 + n as u8);
        regs.set_sp(BOOT_ADDRESS);
        return Some(Next::Jump { cs: 0, ip: BOOT_ADDRESS });
    }
    None
}

/// INT 15h: system services.
fn int15(bios: &mut Bios, sys: &mut System, regs: &mut Regs) -> Next {
    let ram = bios.config.ram_size;
    let ok = match regs.ah() {
        // A20 gate: disable, enable, query, query support (through port 0x92).
        0x24 => match regs.al() {
            0 | 1 => {
                let v = sys.io_read(0x92, 1) as u8;
                let v = if regs.al() == 1 { v | 2 } else { v & !2 };
                sys.io_write(0x92, 1, (v & !1) as u32);
                regs.set_ah(0);
                true
            }
            2 => {
                regs.set_al((sys.io_read(0x92, 1) >> 1) as u8 & 1);
                regs.set_ah(0);
                true
            }
            3 => {
                regs.set_bx(2); // supported through port 0x92
                regs.set_ah(0);
                true
            }
            _ => false,
        },
        // Keyboard intercept: not handled (the scan code passes through).
        0x4f => false,
        // Wait CX:DX microseconds: time passes for the guest as it runs; return at once.
        0x86 => {
            regs.set_ah(0);
            true
        }
        // Extended memory size between 1 MiB and 64 MiB, in KiB.
        0x88 => {
            regs.set_ax((ram.saturating_sub(1 << 20) >> 10).min(0xfc00) as u16);
            true
        }
        // System configuration parameters: ES:BX -> the table in ROM.
        0xc0 => {
            regs.seg[0] = BIOS_SEGMENT;
            regs.set_bx(super::rom::CONFIG_TABLE);
            regs.set_ah(0);
            true
        }
        0xe8 => match regs.al() {
            // E801: memory 1-16 MiB in KiB (AX/CX) and above 16 MiB in 64 KiB blocks (BX/DX).
            0x01 => {
                let low = (ram.saturating_sub(1 << 20) >> 10).min(15 << 10) as u16;
                let high = (ram.saturating_sub(16 << 20) >> 16) as u16;
                regs.set_ax(low);
                regs.set_cx(low);
                regs.set_bx(high);
                regs.set_dx(high);
                true
            }
            // E820: the memory map, one entry per call.
            0x20 if regs.gpr[2] == 0x534d_4150 && regs.gpr[1] >= 20 => e820(bios, sys, regs),
            _ => false,
        },
        _ => false,
    };
    if !ok {
        regs.set_ah(0x86);
    }
    set_carry(sys, regs, !ok);
    Next::Return
}

/// The physical memory map this machine presents: (base, length, type 1 = RAM, 2 = reserved).
pub fn memory_map(ram_size: u64) -> Vec<(u64, u64, u32)> {
    let ebda = (EBDA_SEGMENT as u64) << 4;
    vec![
        (0, ebda, 1),
        (ebda, 0xa0000 - ebda, 2),
        (0xf0000, 0x10000, 2),
        (0x100000, ram_size.saturating_sub(0x100000), 1),
        (0xfffc_0000, 0x40000, 2),
    ]
}

fn e820(bios: &mut Bios, sys: &mut System, regs: &mut Regs) -> bool {
    let map = memory_map(bios.config.ram_size);
    let index = regs.gpr[3] as usize; // EBX: continuation
    let Some(&(base, len, kind)) = map.get(index) else { return false };
    let at = lin(regs.es(), regs.di());
    wr32(sys, at, base as u32);
    wr32(sys, at + 4, (base >> 32) as u32);
    wr32(sys, at + 8, len as u32);
    wr32(sys, at + 12, (len >> 32) as u32);
    wr32(sys, at + 16, kind);
    regs.gpr[0] = 0x534d_4150; // 'SMAP'
    regs.gpr[1] = 20;
    regs.gpr[3] = if index + 1 < map.len() { index as u32 + 1 } else { 0 };
    true
}

/// INT 1Ah: time of day (BDA tick count) and the RTC's time and date.
fn int1a(sys: &mut System, regs: &mut Regs) -> Next {
    let cmos = |sys: &mut System, reg: u8| {
        sys.io_write(0x70, 1, reg as u32);
        sys.io_read(0x71, 1) as u8
    };
    match regs.ah() {
        0x00 => {
            let t = sys.read_phys(bda::TICKS, 4);
            regs.set_cx((t >> 16) as u16);
            regs.set_dx(t as u16);
            regs.set_al(super::rd8(sys, bda::TICKS_ROLLOVER));
            wr8(sys, bda::TICKS_ROLLOVER, 0);
        }
        0x01 => wr32(sys, bda::TICKS, (regs.cx() as u32) << 16 | regs.dx() as u32),
        0x02 => {
            regs.set_ch(cmos(sys, 4));
            regs.set_cl(cmos(sys, 2));
            regs.set_dh(cmos(sys, 0));
            regs.set_dl(0);
            set_carry(sys, regs, false);
        }
        0x04 => {
            regs.set_ch(cmos(sys, 0x32));
            regs.set_cl(cmos(sys, 9));
            regs.set_dh(cmos(sys, 8));
            regs.set_dl(cmos(sys, 7));
            set_carry(sys, regs, false);
        }
        _ => set_carry(sys, regs, true),
    }
    Next::Return
}
