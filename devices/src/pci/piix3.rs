//! The Intel 82371SB PCI ISA IDE Xcelerator (PIIX3): its PCI-to-ISA bridge (function 0) and its
//! IDE controller (function 1), as configuration spaces. The IDE registers themselves are
//! [`crate::ide::Ide`]; the 8259A pair, 8254, DMA controllers and the ELCR (ports 0x4D0/0x4D1)
//! that the PIIX3 also contains are separate devices.
//!
//! **Function 0, PCI-to-ISA bridge** (8086:7000, revision 00h, class 060100h, header type 80h:
//! multi-function): PIRQRC[A:D] at 60h-63h (bit 7 IRQROUTEN disables routing, bits 3:0 the ISA
//! IRQ; reset 80h each), and the other device-specific registers 4Ch-FFh as storage with their
//! datasheet reset values (IORT 4Dh, XBCS 0003h, TOM 02h, MBIRQ0/1 80h, MBDMA 04h, APICBASE 00h).
//!
//! **Function 1, IDE** (8086:7010, revision 00h, class 010180h: a mass-storage IDE controller in
//! legacy (compatibility) mode on both channels, bus-master capable): PCICMD's I/O space and bus
//! master enables are writable; BMIBA at 20h (BAR4) is the 16-byte I/O bus-master block; IDETIM
//! at 40h/42h (bit 15 IDE decode enable), SIDETIM 44h as storage. Linux's `ata_piix` binds to
//! 8086:7010 with any subsystem ID (the PIIX3 has no subsystem registers: they read 0) and drives
//! it as multiword-DMA capable (`piix_pata_mwdma`). The legacy ports (0x1F0, 0x3F6, 0x170, 0x376)
//! are decoded whatever IDETIM's decode-enable bits say; the interrupt pin reads 0, the channels
//! use ISA IRQ 14 and 15.
//!
//! **Not emulated:** IDE timing registers have no effect; the ISA bridge's PIRQ routing is
//! storage for the interrupt router to read (there are no PCI interrupts to route yet); the
//! PIIX3's USB function (2) is absent.

use std::any::Any;

use emu_core::DeviceId;

use super::i440fx::VENDOR_INTEL;
use super::{
    Bar, BarKind, ConfigSpace, PciFunction, CMD_BUS_MASTER, CMD_IO, COMMAND, HEADER_MULTIFUNCTION, HEADER_TYPE,
    INTERRUPT_LINE, STATUS, STATUS_DEVSEL_MEDIUM, STATUS_FAST_B2B,
};

/// The PIIX3 PCI-to-ISA bridge.
pub const DEVICE_82371SB_ISA: u16 = 0x7000;
/// The PIIX3 IDE function.
pub const DEVICE_82371SB_IDE: u16 = 0x7010;
/// PIRQA route control; B, C, D follow.
pub const PIRQRCA: u8 = 0x60;
/// PIRQRC bit 7: routing disabled.
pub const IRQROUTEN_DISABLE: u8 = 0x80;
/// The IDE function's bus-master base address register (BAR4).
pub const BMIBA: u8 = 0x20;
/// Primary channel IDE timing register (bit 15: IDE decode enable).
pub const IDETIM_PRIMARY: u8 = 0x40;
/// Secondary channel IDE timing register.
pub const IDETIM_SECONDARY: u8 = 0x42;
/// Slave IDE timing register.
pub const SIDETIM: u8 = 0x44;
/// Size of the bus-master I/O block.
pub const BM_PORTS: u32 = 16;

/// The PIIX3's PCI-to-ISA bridge function.
pub struct Piix3Isa {
    cfg: ConfigSpace,
}

impl Piix3Isa {
    pub fn new() -> Self {
        let mut cfg = ConfigSpace::new(VENDOR_INTEL, DEVICE_82371SB_ISA, 0x00, 0x06_0100);
        cfg.set_u8(HEADER_TYPE, HEADER_MULTIFUNCTION);
        cfg.set_u16(COMMAND, 0x0007);
        cfg.set_wmask(COMMAND, 2, 0x0008); // I/O, memory and bus master are hardwired on
        cfg.set_u16(STATUS, STATUS_DEVSEL_MEDIUM);
        cfg.set_wmask(INTERRUPT_LINE, 1, 0);
        for r in 0x4c..=0xffu8 {
            cfg.set_wmask(r, 1, 0xff);
        }
        cfg.set_u8(0x4c, 0x4d); // IORT
        cfg.set_u16(0x4e, 0x0003); // XBCS
        for r in 0..4 {
            cfg.set_u8(PIRQRCA + r, IRQROUTEN_DISABLE);
            cfg.set_wmask(PIRQRCA + r, 1, 0x8f);
        }
        cfg.set_u8(0x69, 0x02); // TOM
        cfg.set_u8(0x70, 0x80); // MBIRQ0
        cfg.set_u8(0x71, 0x80); // MBIRQ1
        cfg.set_u8(0x76, 0x04); // MBDMA0
        cfg.set_u8(0x77, 0x04); // MBDMA1
        Piix3Isa { cfg }
    }

    /// The ISA IRQ PIRQ`n` (0 = A ... 3 = D) is routed to, if routing is enabled.
    pub fn pirq_route(&self, n: u8) -> Option<u8> {
        let v = self.cfg.u8(PIRQRCA + n);
        (v & IRQROUTEN_DISABLE == 0 && v & 0xf >= 3).then_some(v & 0xf)
    }
}

impl Default for Piix3Isa {
    fn default() -> Self {
        Self::new()
    }
}

impl PciFunction for Piix3Isa {
    fn name(&self) -> &'static str {
        "PIIX3 PCI-to-ISA bridge"
    }
    fn config(&self) -> &ConfigSpace {
        &self.cfg
    }
    fn config_mut(&mut self) -> &mut ConfigSpace {
        &mut self.cfg
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The PIIX3's IDE function.
pub struct Piix3Ide {
    cfg: ConfigSpace,
}

impl Piix3Ide {
    /// `ide` is the IDE device whose `bus_master_region` BMIBA maps.
    pub fn new(ide: DeviceId, bus_master_region: u8) -> Self {
        let mut cfg = ConfigSpace::new(VENDOR_INTEL, DEVICE_82371SB_IDE, 0x00, 0x01_0180);
        cfg.set_wmask(COMMAND, 2, (CMD_IO | CMD_BUS_MASTER) as u32);
        cfg.set_u16(STATUS, STATUS_DEVSEL_MEDIUM | STATUS_FAST_B2B);
        cfg.set_wmask(INTERRUPT_LINE, 1, 0);
        cfg.set_bar(4, Bar { kind: BarKind::Io, size: BM_PORTS, target: Some((ide, bus_master_region)) });
        cfg.set_wmask(IDETIM_PRIMARY, 4, 0xffff_ffff);
        cfg.set_wmask(SIDETIM, 1, 0xff);
        Piix3Ide { cfg }
    }

    /// Whether the guest has enabled bus mastering in PCICMD.
    pub fn bus_master_enabled(&self) -> bool {
        self.cfg.command() & CMD_BUS_MASTER != 0
    }
}

impl PciFunction for Piix3Ide {
    fn name(&self) -> &'static str {
        "PIIX3 IDE"
    }
    fn config(&self) -> &ConfigSpace {
        &self.cfg
    }
    fn config_mut(&mut self) -> &mut ConfigSpace {
        &mut self.cfg
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::{PciBus, BAR0, PROG_IF, REVISION_ID, SUBSYSTEM_ID, VENDOR_ID};
    use emu_core::Lines;

    #[test]
    fn isa_bridge_identity_and_pirq_routes() {
        let mut isa = Piix3Isa::new();
        assert_eq!(isa.config_read(VENDOR_ID, 4), 0x7000_8086);
        assert_eq!(isa.config_read(REVISION_ID, 4), 0x0601_0000);
        assert_eq!(isa.config_read(HEADER_TYPE, 1), 0x80);
        assert_eq!(isa.config_read(PIRQRCA, 4), 0x8080_8080);
        assert_eq!(isa.pirq_route(0), None);
        isa.config_write(PIRQRCA, 4, 0x0b0b_0a0a);
        isa.config_write(PIRQRCA + 3, 1, 0xff);
        assert_eq!(isa.config_read(PIRQRCA, 4), 0x8f0b_0a0a);
        assert_eq!(isa.pirq_route(1), Some(10));
        assert_eq!(isa.pirq_route(3), None);
        assert_eq!(isa.config_read(0x4e, 2), 0x0003);
    }

    #[test]
    fn ide_function_identity_and_bmiba_sizing() {
        let mut bus = PciBus::new(Lines::new());
        bus.add_function(1, 1, Box::new(Piix3Ide::new(DeviceId(9), 4)));
        assert_eq!(bus.config_read(1, 1, VENDOR_ID, 4), 0x7010_8086);
        assert_eq!(bus.config_read(1, 1, REVISION_ID, 4), 0x0101_8000);
        assert_eq!(bus.config_read(1, 1, PROG_IF, 1), 0x80);
        assert_eq!(bus.config_read(1, 1, SUBSYSTEM_ID, 2), 0);
        for bar in 0..4 {
            bus.config_write(1, 1, BAR0 + 4 * bar, 4, 0xffff_ffff);
            assert_eq!(bus.config_read(1, 1, BAR0 + 4 * bar, 4), 0, "legacy BAR{bar} is not implemented");
        }
        assert_eq!(bus.config_read(1, 1, BMIBA, 4), 1);
        bus.config_write(1, 1, BMIBA, 4, 0xffff_ffff);
        assert_eq!(bus.config_read(1, 1, BMIBA, 4), 0xffff_fff1);
        bus.config_write(1, 1, BMIBA, 4, 0xc000);
        bus.config_write(1, 1, COMMAND, 2, 0xffff);
        assert_eq!(bus.config_read(1, 1, COMMAND, 2), 0x0005);
        let remaps = emu_core::Device::take_remaps(&mut bus);
        assert_eq!(remaps.len(), 1);
        assert_eq!((remaps[0].new, remaps[0].len, remaps[0].region), (Some(0xc000), 16, 4));
        assert!(bus.function_mut::<Piix3Ide>(1, 1).unwrap().bus_master_enabled());
        bus.config_write(1, 1, IDETIM_PRIMARY, 2, 0x8000);
        assert_eq!(bus.config_read(1, 1, IDETIM_PRIMARY, 4), 0x8000);
    }
}
