//! Wires the PC's PCI bus and its PIIX3 IDE controller into a `System`: the i440FX host bridge at
//! 00.0, the PIIX3 ISA bridge at 01.0 and IDE at 01.1, the configuration ports 0xCF8/0xCFC, and
//! the legacy IDE ports with drives from `--disk` and `--cdrom`.
//!
//! Drive placement follows the usual PC order: the first disk is the primary master, the second
//! the primary slave, the CD-ROM the secondary master, and further disks take the secondary
//! channel's free places. The bus-master block (BAR4) is unassigned at power-on, as on the real
//! chip: firmware gives it an address, and the `System` maps it then.

use emu_core::{DeviceId, System};
use thiserror::Error;

use crate::ide::{BlockBackend, Ide, Media, PRIMARY_CMD, PRIMARY_CTL, SECONDARY_CMD, SECONDARY_CTL};
use crate::pci::{map_pci_bus, I440fxHostBridge, PciBus, Piix3Ide, Piix3Isa};

/// Why the PCI bus and IDE controller could not be attached.
#[derive(Debug, Error)]
pub enum AttachError {
    /// The two IDE channels hold four drives in all.
    #[error("too many drives: {disks} disk(s) and {cdroms} CD-ROM(s) do not fit the 4 IDE places")]
    TooManyDrives { disks: usize, cdroms: usize },
    /// A port range is already taken.
    #[error(transparent)]
    Bus(#[from] emu_core::Error),
}

/// The devices [`attach_pci_and_ide`] added.
#[derive(Debug, Clone, Copy)]
pub struct PciIde {
    /// The [`PciBus`] (0xCF8/0xCFC) holding the host bridge, ISA bridge and IDE functions.
    pub pci: DeviceId,
    /// The [`Ide`] controller.
    pub ide: DeviceId,
    /// (channel, device) of the CD-ROM, if any.
    pub cdrom: Option<(usize, usize)>,
}

/// Adds PCI bus 0 with the i440FX/PIIX3 functions and the IDE controller with `disks` and
/// `cdrom` (see the module documentation for the order).
pub fn attach_pci_and_ide(
    sys: &mut System,
    disks: Vec<Box<dyn BlockBackend>>,
    cdrom: Option<Box<dyn BlockBackend>>,
) -> Result<PciIde, AttachError> {
    let places = [(0, 0), (0, 1), (1, 0), (1, 1)];
    let cdroms = cdrom.is_some() as usize;
    if disks.len() + cdroms > places.len() {
        return Err(AttachError::TooManyDrives { disks: disks.len(), cdroms });
    }
    let mut ide = Ide::new(sys.lines.clone());
    let cd_place = cdrom.map(|cd| {
        ide.attach(1, 0, Media::Cdrom(cd));
        (1, 0)
    });
    let mut free = places.iter().filter(|&&p| Some(p) != cd_place);
    for disk in disks {
        let &(c, d) = free.next().expect("counted above");
        ide.attach(c, d, Media::Disk(disk));
    }
    let ide_id = sys.add_device(Box::new(ide));
    sys.map_io(PRIMARY_CMD, 8, ide_id, 0)?;
    sys.map_io(PRIMARY_CTL, 1, ide_id, 1)?;
    sys.map_io(SECONDARY_CMD, 8, ide_id, 2)?;
    sys.map_io(SECONDARY_CTL, 1, ide_id, 3)?;

    let mut bus = PciBus::new(sys.lines.clone());
    bus.add_function(0, 0, Box::new(I440fxHostBridge::new()));
    bus.add_function(1, 0, Box::new(Piix3Isa::new()));
    bus.add_function(1, 1, Box::new(Piix3Ide::new(ide_id, crate::ide::REGION_BUS_MASTER)));
    let pci = sys.add_device(Box::new(bus));
    map_pci_bus(sys, pci)?;
    Ok(PciIde { pci, ide: ide_id, cdrom: cd_place })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ide::MemBackend;
    use emu_core::ClockMode;

    fn disk(fill: u8) -> Box<dyn BlockBackend> {
        Box::new(MemBackend { data: vec![fill; 64 * 512], ..Default::default() })
    }

    fn cfg(sys: &mut System, dev: u32, func: u32, reg: u32) -> u32 {
        sys.io_write(0xcf8, 4, 0x8000_0000 | dev << 11 | func << 8 | reg);
        sys.io_read(0xcfc, 4)
    }

    #[test]
    fn the_board_enumerates_and_bus_master_dma_reaches_ram() {
        let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        let cd = Box::new(MemBackend { data: vec![7; 4 * 2048], ..Default::default() });
        let devs = attach_pci_and_ide(&mut sys, vec![disk(0x11), disk(0x22)], Some(cd)).unwrap();
        assert_eq!(devs.cdrom, Some((1, 0)));
        assert_eq!(cfg(&mut sys, 0, 0, 0), 0x1237_8086);
        assert_eq!(cfg(&mut sys, 1, 0, 0), 0x7000_8086);
        assert_eq!(cfg(&mut sys, 1, 1, 0), 0x7010_8086);
        assert_eq!(cfg(&mut sys, 1, 1, 8) >> 8, 0x01_0180);
        assert_eq!(cfg(&mut sys, 2, 0, 0), 0xffff_ffff);
        assert_eq!(sys.io_read(0x1f7, 1), 0x50);
        assert_eq!(sys.io_read(0x175, 1), 0xeb, "ATAPI signature on the secondary master");

        // Firmware assigns BAR4 and enables I/O and bus mastering.
        cfg(&mut sys, 1, 1, 0x20);
        sys.io_write(0xcfc, 4, 0xc000);
        cfg(&mut sys, 1, 1, 4);
        sys.io_write(0xcfc, 2, 0x5);
        // A PRD at 0x8000: 1024 bytes to 0x9000, end of table.
        sys.write_bytes(0x8000, &[0x00, 0x90, 0, 0, 0x00, 0x04, 0x00, 0x80]);
        sys.io_write(0xc004, 4, 0x8000);
        sys.io_write(0x1f6, 1, 0xf0); // primary slave
        sys.io_write(0x1f2, 1, 2);
        sys.io_write(0x1f3, 1, 0);
        sys.io_write(0x1f4, 1, 0);
        sys.io_write(0x1f5, 1, 0);
        sys.io_write(0x1f7, 1, 0xc8); // READ DMA
        sys.take_written_pages();
        sys.io_write(0xc000, 1, 0x09);
        let mut buf = [0u8; 1024];
        sys.read_bytes(0x9000, &mut buf);
        assert_eq!(buf, [0x22; 1024]);
        assert_eq!(sys.io_read(0xc002, 1) & 7, 0x4);
        assert_eq!(sys.lines.irq_levels() & (1 << 14), 1 << 14);
        assert_eq!(sys.take_written_pages(), vec![9]);
        assert_eq!(sys.io_read(0x1f7, 1), 0x50);
        assert_eq!(sys.lines.irq_levels() & (1 << 14), 0);
    }

    #[test]
    fn firmware_turns_on_both_channels_decode() {
        let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        attach_pci_and_ide(&mut sys, vec![disk(0x11)], None).unwrap();
        assert_eq!(cfg(&mut sys, 1, 1, 0x40), 0, "IDETIM resets with both channels off");
        // Timing bits the firmware does not own survive.
        sys.io_write(0xcf8, 4, 0x8000_0940);
        sys.io_write(0xcfe, 2, 0x0023);
        crate::firmware::enable_ide_decode(&mut sys);
        assert_eq!(cfg(&mut sys, 1, 1, 0x40), 0x8023_8000);
    }

    #[test]
    fn five_drives_do_not_fit() {
        let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        let e = attach_pci_and_ide(&mut sys, (0..4).map(disk).collect(), Some(disk(9))).unwrap_err();
        assert!(e.to_string().contains("too many drives"));
    }
}
