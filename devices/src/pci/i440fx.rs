//! The Intel 82441FX PCI and Memory Controller (PMC) of the 440FX PCIset: the host bridge at
//! bus 0, device 0, function 0 (vendor 8086h, device 1237h, revision 02h, class 060000h).
//!
//! **Registers kept:** the header (PCICMD reads 0006h: memory access and bus master are always
//! on), PAM0-PAM6 at 59h-5Fh (programmable attribute maps for 0xC0000-0xFFFFF: read enable
//! bits 0 and 4, write enable bits 1 and 5; PAM0's low nibble is reserved), SMRAM at 72h
//! (D_OPEN bit 6, D_CLS bit 5, D_LCK bit 4, G_SMRAME bit 3, C_BASE_SEG 2:0 fixed at 010b; once
//! D_LCK is set, D_OPEN, D_LCK and G_SMRAME are read-only), and the other device-specific
//! registers 50h-FFh as plain storage.
//!
//! **Not emulated:** PAM and SMRAM are storage only: the physical address space does not change
//! with them yet (the BIOS area stays ROM whatever PAM says, and there is no SMM). DRAM row
//! boundaries, error reporting and the PCI arbiter have no effect.

use std::any::Any;

use super::{ConfigSpace, PciFunction, COMMAND, STATUS, STATUS_DEVSEL_MEDIUM, STATUS_FAST_B2B};

pub const VENDOR_INTEL: u16 = 0x8086;
/// The 82441FX PMC.
pub const DEVICE_82441FX: u16 = 0x1237;
/// First PAM register (PAM0, for 0xF0000-0xFFFFF).
pub const PAM0: u8 = 0x59;
/// Last PAM register (PAM6).
pub const PAM6: u8 = 0x5f;
/// System management RAM control.
pub const SMRAM: u8 = 0x72;
/// SMRAM D_OPEN.
pub const SMRAM_D_OPEN: u8 = 0x40;
/// SMRAM D_CLS.
pub const SMRAM_D_CLS: u8 = 0x20;
/// SMRAM D_LCK.
pub const SMRAM_D_LCK: u8 = 0x10;
/// SMRAM G_SMRAME.
pub const SMRAM_G_SMRAME: u8 = 0x08;
/// SMRAM C_BASE_SEG: 010b, SMRAM at 0xA0000.
pub const SMRAM_C_BASE_SEG: u8 = 0x02;

/// The 82441FX host bridge's configuration space.
pub struct I440fxHostBridge {
    cfg: ConfigSpace,
}

impl I440fxHostBridge {
    pub fn new() -> Self {
        let mut cfg = ConfigSpace::new(VENDOR_INTEL, DEVICE_82441FX, 0x02, 0x06_0000);
        cfg.set_u16(COMMAND, 0x0006);
        cfg.set_wmask(COMMAND, 2, 0x0000);
        cfg.set_u16(STATUS, STATUS_DEVSEL_MEDIUM | STATUS_FAST_B2B);
        for r in 0x50..=0xffu8 {
            cfg.set_wmask(r, 1, 0xff);
        }
        cfg.set_wmask(PAM0, 1, 0x30);
        for r in PAM0 + 1..=PAM6 {
            cfg.set_wmask(r, 1, 0x33);
        }
        cfg.set_u8(SMRAM, SMRAM_C_BASE_SEG);
        cfg.set_wmask(SMRAM, 1, 0x78);
        I440fxHostBridge { cfg }
    }

    /// PAM register `n` (0-6) as last written.
    pub fn pam(&self, n: u8) -> u8 {
        self.cfg.u8(PAM0 + n)
    }

    /// The SMRAM control register.
    pub fn smram(&self) -> u8 {
        self.cfg.u8(SMRAM)
    }
}

impl Default for I440fxHostBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl PciFunction for I440fxHostBridge {
    fn name(&self) -> &'static str {
        "i440FX host bridge"
    }
    fn config(&self) -> &ConfigSpace {
        &self.cfg
    }
    fn config_mut(&mut self) -> &mut ConfigSpace {
        &mut self.cfg
    }
    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        self.cfg.write(offset, size, value);
        if self.cfg.u8(SMRAM) & SMRAM_D_LCK != 0 {
            // Locked: only D_CLS stays writable (D_OPEN is forced off).
            let v = self.cfg.u8(SMRAM) & !SMRAM_D_OPEN;
            self.cfg.set_u8(SMRAM, v);
            self.cfg.set_wmask(SMRAM, 1, SMRAM_D_CLS as u32);
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::{CLASS_CODE, DEVICE_ID, HEADER_TYPE, REVISION_ID, SUBCLASS, VENDOR_ID};

    #[test]
    fn identity_and_pam_masks() {
        let mut hb = I440fxHostBridge::new();
        assert_eq!(hb.config_read(VENDOR_ID, 2), 0x8086);
        assert_eq!(hb.config_read(DEVICE_ID, 2), 0x1237);
        assert_eq!(hb.config_read(REVISION_ID, 1), 0x02);
        assert_eq!((hb.config_read(CLASS_CODE, 1), hb.config_read(SUBCLASS, 1)), (0x06, 0x00));
        assert_eq!(hb.config_read(HEADER_TYPE, 1), 0);
        assert_eq!(hb.config_read(COMMAND, 2), 0x0006);
        hb.config_write(0x58, 4, 0xffff_ffff); // 58h..5Bh: PAM0's low nibble is reserved
        assert_eq!(hb.pam(0), 0x30);
        assert_eq!(hb.pam(1), 0x33);
        hb.config_write(PAM0 + 6, 1, 0x11);
        assert_eq!(hb.pam(6), 0x11);
    }

    #[test]
    fn smram_base_segment_is_fixed_and_lock_sticks() {
        let mut hb = I440fxHostBridge::new();
        assert_eq!(hb.smram(), 0x02);
        hb.config_write(SMRAM, 1, 0xff);
        assert_eq!(hb.smram(), 0x02 | SMRAM_D_CLS | SMRAM_G_SMRAME | SMRAM_D_LCK);
        hb.config_write(SMRAM, 1, SMRAM_D_OPEN as u32);
        assert_eq!(hb.smram(), 0x02 | SMRAM_G_SMRAME | SMRAM_D_LCK);
    }
}
