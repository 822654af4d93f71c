//! The PC around the CPU: the platform devices, the disks, and the firmware, wired as on an
//! i440FX/PIIX3 board; and the bridge that runs emu's BIOS services when the guest traps into
//! them.

use emu_core::{ClockMode, DeviceId, System};
use emu_cpu_x86::state::SegReg;
use emu_cpu_x86::Cpu;
use emu_devices::fdc82077::{open_floppy, FloppyError};
use emu_devices::firmware::{self, Bios, BiosConfig, Next, Regs, TrapPort};
use emu_devices::floppy::{attach_dma_and_floppy, FloppyDevices};
use emu_devices::mc146818::{BootDevice, CmosConfig, DiskGeometry, FloppyType, Mc146818};
use emu_devices::vga::VgaPci;
use emu_devices::{
    attach_pc_timers_and_pic, attach_pci_and_ide, attach_rtc_and_keyboard, attach_vga, open_cdrom, open_disk,
    AttachError, DiskError, PcInputDevices, PciBus, PciIde, LFB_DEFAULT_BASE,
};
use std::path::PathBuf;
use thiserror::Error;

/// The storage a PC is given.
#[derive(Debug, Clone, Default)]
pub struct Storage {
    /// Raw disk images, in order: primary master, primary slave, then the secondary channel.
    pub disks: Vec<PathBuf>,
    /// An ISO image for the ATAPI CD-ROM (secondary master).
    pub cdrom: Option<PathBuf>,
    /// Floppy images for drives A: and B: (`--fda`, `--fdb`).
    pub floppies: [Option<PathBuf>; 2],
    /// Keep disk writes in memory; never write the image files.
    pub snapshot: bool,
}

/// Why the PC could not be put together. The doc comment of each variant is its message.
#[derive(Debug, Error)]
pub enum PcError {
    /// A disk or CD-ROM image is unusable.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// A floppy image is unusable.
    #[error(transparent)]
    Floppy(#[from] FloppyError),
    /// Too many drives for the two IDE channels.
    #[error(transparent)]
    Attach(#[from] AttachError),
    /// A device could not be placed on the buses.
    #[error(transparent)]
    Board(#[from] emu_core::Error),
}

/// The platform devices of a PC.
#[derive(Debug)]
pub struct PcDevices {
    pub pic: DeviceId,
    pub pit: DeviceId,
    pub input: PcInputDevices,
    pub pci_ide: PciIde,
    pub vga: DeviceId,
    pub floppy: FloppyDevices,
}

/// A fixed date (2026-01-01 00:00:00 UTC) for the RTC in deterministic runs.
const DETERMINISTIC_EPOCH: u64 = 1_767_225_600;

/// Adds the PC platform to `sys`: PIC pair and PIT, RTC/CMOS, 8042 with keyboard and mouse,
/// port 0x92, PCI with the PIIX3 IDE controller and its drives, the VGA, and the ISA DMA
/// controllers with the floppy controller and its drives (and port 0xF0).
pub fn attach_pc(sys: &mut System, storage: &Storage) -> Result<PcDevices, PcError> {
    let (pic, pit) = attach_pc_timers_and_pic(sys)?;
    let start = match sys.clock.mode() {
        ClockMode::Deterministic { .. } => DETERMINISTIC_EPOCH,
        ClockMode::RealTime => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(DETERMINISTIC_EPOCH, |d| d.as_secs()),
    };
    let input = attach_rtc_and_keyboard(sys, start)?;

    let mut disks = Vec::new();
    for path in &storage.disks {
        disks.push(open_disk(path, storage.snapshot)?);
    }
    let cdrom = storage.cdrom.as_deref().map(open_cdrom).transpose()?;
    let open = |p: &Option<PathBuf>| p.as_deref().map(|p| open_floppy(p, storage.snapshot)).transpose();
    let floppies = [open(&storage.floppies[0])?, open(&storage.floppies[1])?];
    let floppy_types = floppies.each_ref().map(|d| d.as_ref().map_or(FloppyType::None, |d| d.format.drive_type()));
    let geometry: Vec<DiskGeometry> = disks.iter().map(|d| cmos_geometry(d.len() / 512)).collect();
    let pci_ide = attach_pci_and_ide(sys, disks, cdrom)?;
    let vga = attach_vga(sys)?;
    let floppy = attach_dma_and_floppy(sys, floppies)?;
    // The VGA as PCI device 02.0, its linear framebuffer BAR assigned where firmware expects it.
    if let Some(bus) = sys.device_mut::<PciBus>(pci_ide.pci) {
        bus.add_function(2, 0, Box::new(VgaPci::new(vga, Some(LFB_DEFAULT_BASE as u32))));
        let remaps = emu_core::Device::take_remaps(bus);
        for r in remaps {
            sys.apply_remap(r)?;
        }
    }

    let cmos = CmosConfig {
        ram_below_4g: sys.ram_size(),
        hard_disks: [geometry.first().copied(), geometry.get(1).copied()],
        floppies: floppy_types,
        // A PC boots from its floppy first when there is one.
        boot_order: if floppy_types[0] != FloppyType::None {
            vec![BootDevice::Floppy, BootDevice::HardDisk, BootDevice::CdRom]
        } else if storage.cdrom.is_some() && storage.disks.is_empty() {
            vec![BootDevice::CdRom, BootDevice::HardDisk, BootDevice::Floppy]
        } else {
            vec![BootDevice::HardDisk, BootDevice::CdRom, BootDevice::Floppy]
        },
        ..CmosConfig::default()
    };
    if let Some(rtc) = sys.device_mut::<Mc146818>(input.rtc) {
        cmos.apply(rtc);
    }
    Ok(PcDevices { pic, pit, input, pci_ide, vga, floppy })
}

/// The CMOS geometry of a disk of `sectors` sectors: 16 heads, 63 sectors per track, as many
/// cylinders as fit (at most 16383, the ATA CHS limit).
fn cmos_geometry(sectors: u64) -> DiskGeometry {
    let cylinders = (sectors / (16 * 63)).clamp(1, 16383) as u16;
    DiskGeometry { cylinders, heads: 16, sectors: 63 }
}

/// Installs emu's BIOS: its ROM image and the trap port. Returns the Rust side of the BIOS.
pub fn install_bios(sys: &mut System) -> Result<(Bios, Vec<u8>), emu_core::Error> {
    let trap = sys.add_device(Box::new(TrapPort::new(sys.lines.clone())));
    sys.map_io(firmware::TRAP_PORT, 1, trap, 0)?;
    Ok((Bios::new(BiosConfig { ram_size: sys.ram_size() }), firmware::rom::image()))
}

/// What the machine must do after a BIOS service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFirmware {
    /// Go on running the CPU (the service's result is applied).
    Run,
    /// Stop: the BIOS has nothing to boot.
    NoBoot,
    /// Boot the kernel the machine was started from ([`Next::BootKernel`]).
    BootKernel,
}

/// Runs the BIOS service the CPU trapped into, and applies its result to the CPU.
pub fn service_firmware(bios: &mut Bios, cpu: &mut Cpu) -> AfterFirmware {
    let s = &cpu.s;
    let mut regs = Regs { gpr: s.regs, seg: SegReg::ALL.map(|r| s.seg(r).selector), eip: s.eip, eflags: s.eflags() };
    let before = regs;
    let next = bios.call(&mut cpu.sys, &mut regs);
    let stub_start = before.eip.wrapping_sub(2);
    match next {
        Next::Return => {}
        Next::Wait => regs.eip = stub_start + firmware::STUB_WAIT as u32,
        Next::Jump { cs, ip } => {
            regs.seg[SegReg::Cs as usize] = cs;
            regs.eip = ip as u32;
        }
        Next::NoBoot => return AfterFirmware::NoBoot,
        Next::BootKernel => return AfterFirmware::BootKernel,
    }
    cpu.s.regs = regs.gpr;
    for seg in SegReg::ALL {
        let sel = regs.seg[seg as usize];
        if sel != before.seg[seg as usize] || seg == SegReg::Cs && next != Next::Return {
            cpu.load_seg_real(seg, sel);
        }
    }
    cpu.s.eip = regs.eip;
    if regs.eflags != before.eflags {
        cpu.s.set_eflags(regs.eflags, emu_cpu_x86::state::eflags::WRITABLE);
    }
    AfterFirmware::Run
}

#[cfg(test)]
mod tests {
    use super::*;
    use emu_core::memory::Rom;
    use emu_devices::i8237::Dma8237;

    /// The board [`attach_pc`] builds, with a disk, the headless devices, the APICs and a ROM
    /// over the BIOS area's last 64 KiB (so the chipset's shadowing shows).
    fn board(disk: &std::path::Path) -> (System, PcDevices) {
        let mut sys = System::new(32 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        sys.add_rom(Rom::new(0xf_0000, vec![0xaa; 0x1_0000]).unwrap());
        let storage = Storage { disks: vec![disk.to_path_buf()], snapshot: true, ..Storage::default() };
        let devs = attach_pc(&mut sys, &storage).unwrap();
        emu_devices::attach_headless_devices(&mut sys, Box::new(std::io::sink()), Box::new(std::io::sink())).unwrap();
        emu_devices::apic::attach_apic(&mut sys).unwrap();
        (sys, devs)
    }

    /// Lets 3 ms of guest time pass (the deterministic clock runs at an instruction a
    /// nanosecond), with the devices' timers.
    fn let_time_pass(sys: &mut System) {
        let now = sys.clock.now();
        sys.clock.sync(now + 3_000_000);
        sys.run_timers();
    }

    fn pci_read(sys: &mut System, dev: u32, func: u32, reg: u32) -> u32 {
        sys.io_write(0xcf8, 4, 1 << 31 | dev << 11 | func << 8 | reg);
        sys.io_read(0xcfc, 4)
    }

    fn pci_write(sys: &mut System, dev: u32, func: u32, reg: u32, value: u32, size: u8) {
        sys.io_write(0xcf8, 4, 1 << 31 | dev << 11 | func << 8 | (reg & !3));
        sys.io_write(0xcfc + (reg & 3) as u16, size, value);
    }

    /// What a guest sees of the board's state: registers of every device (each read the same
    /// way on every board, side effects and all), the IRQ lines, the A20 gate, what the BIOS
    /// area and the linear framebuffer's default address decode to, and whether DMA channel 2
    /// would transfer.
    fn probe(sys: &mut System, devs: &PcDevices) -> Vec<(&'static str, u32)> {
        let mut v = Vec::new();
        fn port(v: &mut Vec<(&'static str, u32)>, sys: &mut System, name: &'static str, p: u16, size: u8) {
            v.push((name, sys.io_read(p, size)));
        }
        // The 8259A pair: IRR, ISR (OCW3), IMR; the ELCR.
        for (base, irr, isr, imr) in
            [(0x20, "pic irr", "pic isr", "pic imr"), (0xa0, "pic2 irr", "pic2 isr", "pic2 imr")]
        {
            sys.io_write(base, 1, 0x0a);
            port(&mut v, sys, irr, base, 1);
            sys.io_write(base, 1, 0x0b);
            port(&mut v, sys, isr, base, 1);
            port(&mut v, sys, imr, base + 1, 1);
        }
        port(&mut v, sys, "elcr", 0x4d0, 2);
        // The 8254's status bytes (read-back, status only, all three counters).
        sys.io_write(0x43, 1, 0xee);
        for (name, p) in [("pit status 0", 0x40), ("pit status 1", 0x41), ("pit status 2", 0x42)] {
            port(&mut v, sys, name, p, 1);
        }
        for (name, p) in [
            ("uart ier", 0x3f9),
            ("uart iir", 0x3fa),
            ("uart lcr", 0x3fb),
            ("uart mcr", 0x3fc),
            ("uart lsr", 0x3fd),
            ("uart msr", 0x3fe),
            ("uart scr", 0x3ff),
        ] {
            port(&mut v, sys, name, p, 1);
        }
        let lcr = sys.io_read(0x3fb, 1);
        sys.io_write(0x3fb, 1, lcr | 0x80);
        port(&mut v, sys, "uart dll", 0x3f8, 1);
        sys.io_write(0x3fb, 1, lcr);
        sys.io_write(0x70, 1, 0x0b);
        port(&mut v, sys, "rtc b", 0x71, 1);
        sys.io_write(0x70, 1, 0x0c);
        port(&mut v, sys, "rtc c", 0x71, 1);
        port(&mut v, sys, "kbc status", 0x64, 1);
        sys.io_write(0x64, 1, 0x20);
        port(&mut v, sys, "kbc command byte", 0x60, 1);
        port(&mut v, sys, "port 92", 0x92, 1);
        // PCI: the host bridge's PAM registers; COMMAND and the BARs used.
        v.push(("pam 0-3", pci_read(sys, 0, 0, 0x58)));
        v.push(("pam 3-6", pci_read(sys, 0, 0, 0x5c)));
        for (name, reg) in [("ide command", 0x04), ("ide bmiba", 0x20)] {
            v.push((name, pci_read(sys, 1, 1, reg)));
        }
        v.push(("vga command", pci_read(sys, 2, 0, 0x04)));
        v.push(("vga bar0", pci_read(sys, 2, 0, 0x10)));
        // IDE: the task file, and IDENTIFY's words 47 and 59 (READ MULTIPLE) and 85 (features
        // enabled: write cache).
        for (name, p) in [("ide status", 0x1f7), ("ide device", 0x1f6), ("ide count", 0x1f2), ("ide error", 0x1f1)] {
            port(&mut v, sys, name, p, 1);
        }
        sys.io_write(0x1f6, 1, 0xa0);
        sys.io_write(0x1f7, 1, 0xec);
        let words: Vec<u32> = (0..256).map(|_| sys.io_read(0x1f0, 2)).collect();
        v.push(("identify 59", words[59]));
        v.push(("identify 85", words[85]));
        port(&mut v, sys, "vga misc", 0x3cc, 1);
        for (name, index) in [("vbe xres", 1), ("vbe enable", 4)] {
            sys.io_write(0x1ce, 2, index);
            port(&mut v, sys, name, 0x1cf, 2);
        }
        port(&mut v, sys, "fdc dor", 0x3f2, 1);
        port(&mut v, sys, "fdc msr", 0x3f4, 1);
        sys.write_phys(0xfec0_0000, 4, 0x10);
        v.push(("ioapic redir 0", sys.read_phys(0xfec0_0010, 4)));
        v.push(("bios area", sys.read_phys(0xf_0000, 1)));
        v.push(("lfb at default", sys.read_phys(LFB_DEFAULT_BASE, 1)));
        // Where the guest put the bus master's registers and the framebuffer.
        v.push(("bus master at c000", sys.io_read(0xc000, 1)));
        v.push(("lfb at d0000000", sys.read_phys(0xd000_0000, 1)));
        let dma = devs.floppy.dma;
        v.push(("dma 2 ready", sys.device_mut::<Dma8237>(dma).unwrap().channels().ready(2) as u32));
        v.push(("irq lines", sys.lines.irq_levels()));
        v.push(("a20", sys.lines.a20() as u32));
        v
    }

    /// A guest that set up every device its own way, as a kernel leaves them at a reboot.
    fn program(sys: &mut System) {
        for (port, value) in [
            // The 8259A pair initialised and masked, the ELCR with level lines.
            (0x20, 0x11),
            (0x21, 0x30),
            (0x21, 0x04),
            (0x21, 0x01),
            (0x21, 0x5a),
            (0xa0, 0x11),
            (0xa1, 0x38),
            (0xa1, 0x02),
            (0xa1, 0x01),
            (0xa1, 0x3c),
            (0x4d0, 0x20),
            // 8254 counters 0 and 2.
            (0x43, 0x34),
            (0x40, 0x00),
            (0x40, 0x10),
            (0x43, 0xb6),
            (0x42, 0x33),
            (0x42, 0x05),
            // The UART: 9600 8N1, FIFOs, every interrupt enabled, OUT2: THRE raises IRQ 4.
            (0x3fb, 0x83),
            (0x3f8, 0x0c),
            (0x3fb, 0x03),
            (0x3fa, 0xc7),
            (0x3f9, 0x0f),
            (0x3fc, 0x0b),
            (0x3ff, 0x5a),
            // The RTC's interrupts.
            (0x70, 0x0b),
            (0x71, 0x72),
            // The 8042's command byte, and a byte in its output buffer (IRQ 1).
            (0x64, 0x60),
            (0x60, 0x45),
            (0x64, 0xd2),
            (0x60, 0x55),
            // A20 off through port 92, its activity lights on.
            (0x92, 0xc0),
            // VGA: another clock, and a VBE mode.
            (0x3c2, 0x63),
            (0x1ce, 1),
            (0x1cf, 800),
            (0x1ce, 4),
            (0x1cf, 0x41),
            // The floppy controller out of reset, motor A on.
            (0x3f2, 0x1c),
            // DMA channel 2 unmasked.
            (0x0a, 0x02),
            // IDE: write cache off and READ MULTIPLE of 16 (SET FEATURES, SET MULTIPLE MODE), then the
            // slave selected with interrupts off.
            (0x1f6, 0xa0),
            (0x1f1, 0x82),
            (0x1f7, 0xef),
            (0x1f2, 0x10),
            (0x1f7, 0xc6),
            (0x1f6, 0xb0),
            (0x3f6, 0x02),
        ] {
            let size = if port == 0x1cf { 2 } else { 1 };
            sys.io_write(port, size, value);
        }
        // PCI: the IDE bus master's registers at C000h, the VGA's bus mastering on and its
        // framebuffer moved, F0000h-FFFFFh and EC000h-EFFFFh shadowed (read and write RAM),
        // with a byte written at F0000h.
        pci_write(sys, 1, 1, 0x20, 0xc001, 4);
        pci_write(sys, 1, 1, 0x04, 0x05, 2);
        pci_write(sys, 2, 0, 0x04, 0x07, 2);
        pci_write(sys, 2, 0, 0x10, 0xd000_0008, 4);
        pci_write(sys, 0, 0, 0x59, 0x30, 1);
        pci_write(sys, 0, 0, 0x5f, 0x33, 1);
        sys.write_phys(0xf_0000, 1, 0x55);
        // FERR# latched onto IRQ 13.
        sys.lines.set_irq(13, true);
        // The I/O APIC's pin 0 unmasked.
        sys.write_phys(0xfec0_0000, 4, 0x10);
        sys.write_phys(0xfec0_0010, 4, 0x30);
    }

    /// After a reset every device reads as on a board just built (the disk and RAM aside): the
    /// registers a guest set, the BARs and shadowing it moved, the lines it left high.
    #[test]
    fn a_reset_puts_every_device_back_in_its_power_on_state() {
        let disk = std::env::temp_dir().join(format!("emu-reset-{}.img", std::process::id()));
        std::fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
        let (mut fresh, fresh_devs) = board(&disk);
        let lines_at_power_on = fresh.lines.irq_levels();
        let_time_pass(&mut fresh);
        let power_on = probe(&mut fresh, &fresh_devs);

        // The same board after a guest programmed it and time passed (the RTC's periodic
        // interrupt raises IRQ 8).
        let (mut sys, devs) = board(&disk);
        program(&mut sys);
        let_time_pass(&mut sys);
        let programmed = probe(&mut sys, &devs);
        // Each probe saw what the guest did (so the comparison below can fail), but for a
        // few that no write reaches or that the probe itself sets.
        let unchanged = ["pic isr", "pic2 isr", "pit status 1", "uart lsr", "uart msr"];
        let same: Vec<_> =
            power_on.iter().zip(&programmed).filter(|(a, b)| a == b).map(|((name, _), _)| *name).collect();
        assert_eq!(same, unchanged, "probes the guest's settings do not show in");

        // (Time passes again: the probe's read of register C lowered IRQ 8.)
        let_time_pass(&mut sys);
        assert_ne!(sys.lines.irq_levels(), lines_at_power_on);
        sys.reset_devices();
        assert_eq!(sys.lines.irq_levels(), lines_at_power_on, "IRQ lines as the reset leaves them");
        let_time_pass(&mut sys);
        let after = probe(&mut sys, &devs);
        std::fs::remove_file(&disk).unwrap();
        for ((name, want), (_, got)) in power_on.iter().zip(&after) {
            assert_eq!(got, want, "{name} after a reset: {got:#x}, at power-on {want:#x}");
        }
    }
}
