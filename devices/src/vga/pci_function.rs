//! The VGA's PCI function: how the Bochs/QEMU standard VGA appears in configuration space.

use std::any::Any;

use emu_core::DeviceId;

use super::{PCI_CLASS, PCI_DEVICE_ID, PCI_REVISION, PCI_VENDOR_ID, REGION_LFB, VRAM_SIZE};
use crate::pci::{Bar, BarKind, ConfigSpace, PciFunction, BAR0, CMD_IO, CMD_MEMORY, COMMAND};

/// The VGA's PCI function (1234:1111, class 0300): BAR 0 is the prefetchable linear framebuffer,
/// which the PCI bus maps onto [`REGION_LFB`] of the VGA device wherever the guest puts it. The
/// legacy ports and window are not BARs (a VGA decodes them whenever it is present).
pub struct VgaPci {
    config: ConfigSpace,
}

impl VgaPci {
    /// The function for the VGA device `vga`. With `lfb_base`, BAR 0 starts out at that address
    /// with memory and I/O decoding on (as if firmware had assigned it); without, BAR 0 is 0 and
    /// decoding is off until the guest's firmware programs them.
    pub fn new(vga: DeviceId, lfb_base: Option<u32>) -> Self {
        let mut config = ConfigSpace::new(PCI_VENDOR_ID, PCI_DEVICE_ID, PCI_REVISION, PCI_CLASS);
        let bar = Bar {
            kind: BarKind::Memory { prefetchable: true },
            size: VRAM_SIZE as u32,
            target: Some((vga, REGION_LFB)),
        };
        config.set_bar(0, bar);
        if let Some(base) = lfb_base {
            config.set_u32(BAR0, base & !0xf | 0x8);
            config.set_u16(COMMAND, CMD_IO | CMD_MEMORY);
        }
        VgaPci { config }
    }
}

impl PciFunction for VgaPci {
    fn name(&self) -> &'static str {
        "Bochs/QEMU standard VGA"
    }
    fn config(&self) -> &ConfigSpace {
        &self.config
    }
    fn config_mut(&mut self) -> &mut ConfigSpace {
        &mut self.config
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
