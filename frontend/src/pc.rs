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
