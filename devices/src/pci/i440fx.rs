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
//! **PAM:** each PAM nibble decodes one range (PAM0 high: 0xF0000-0xFFFFF; PAMn low/high for
//! n = 1-6: 0xC0000 + (n-1)*32K, + 16K): read enable sends reads to DRAM, write enable writes. A
//! change is passed to the `System` as [`Shadow`] ranges ([`PciFunction::take_shadow_changes`]).
//! With an enable clear the access goes to the PCI/ISA side: the BIOS ROM where one is mapped,
//! and (a simplification) DRAM elsewhere rather than open bus.
//!
//! **Not emulated:** SMRAM is storage only (there is no SMM). DRAM row boundaries, error
//! reporting and the PCI arbiter have no effect.

use std::any::Any;

use emu_core::Shadow;

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
    /// Shadow ranges whose PAM bits changed, for the `System`.
    shadow_changes: Vec<Shadow>,
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
        I440fxHostBridge { cfg, shadow_changes: Vec::new() }
    }

    /// The ranges PAM register `n` decodes, with the nibble of the register for each.
    fn pam_ranges(n: u8, pam: u8) -> impl Iterator<Item = (Shadow, u8)> {
        let ranges = match n {
            0 => [None, Some((0xf0000, 0x10000))],
            _ => {
                let base = 0xc0000 + (n as u64 - 1) * 0x8000;
                [Some((base, 0x4000)), Some((base + 0x4000, 0x4000))]
            }
        };
        ranges.into_iter().enumerate().filter_map(move |(half, r)| {
            let (base, len) = r?;
            let bits = (pam >> (4 * half)) & 0x3;
            Some((Shadow { base, len, read_ram: bits & 1 != 0, write_ram: bits & 2 != 0 }, bits))
        })
    }

    /// PAM register `n` (0-6) as last written.
    pub fn pam(&self, n: u8) -> u8 {
        self.cfg.u8(PAM0 + n)
    }

    /// PAM0-PAM6.
    fn pams(&self) -> [u8; 7] {
        std::array::from_fn(|n| self.pam(n as u8))
    }

    /// Queues the shadow ranges whose PAM bits differ from `before` (the PAM registers' values
    /// before a write or a reset).
    fn queue_pam_changes(&mut self, before: [u8; 7]) {
        for n in 0..7u8 {
            let (old, new) = (before[n as usize], self.pam(n));
            if old != new {
                let olds: Vec<u8> = Self::pam_ranges(n, old).map(|(_, b)| b).collect();
                for ((s, bits), was) in Self::pam_ranges(n, new).zip(olds) {
                    if bits != was {
                        self.shadow_changes.push(s);
                    }
                }
            }
        }
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
        let before = self.pams();
        self.cfg.write(offset, size, value);
        self.queue_pam_changes(before);
        if self.cfg.u8(SMRAM) & SMRAM_D_LCK != 0 {
            // Locked: only D_CLS stays writable (D_OPEN is forced off).
            let v = self.cfg.u8(SMRAM) & !SMRAM_D_OPEN;
            self.cfg.set_u8(SMRAM, v);
            self.cfg.set_wmask(SMRAM, 1, SMRAM_D_CLS as u32);
        }
    }
    /// The configuration space at power-on (PAM all to the bus, SMRAM unlocked), with the
    /// shadowing that undoes.
    fn reset(&mut self, power_on: &ConfigSpace) {
        let before = self.pams();
        self.cfg = power_on.clone();
        self.queue_pam_changes(before);
    }
    fn take_shadow_changes(&mut self) -> Vec<Shadow> {
        std::mem::take(&mut self.shadow_changes)
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
    fn pam_changes_become_shadow_ranges() {
        let mut hb = I440fxHostBridge::new();
        hb.config_write(PAM0, 1, 0x30);
        let seg = |base, len, read_ram, write_ram| Shadow { base, len, read_ram, write_ram };
        assert_eq!(hb.take_shadow_changes(), vec![seg(0xf0000, 0x10000, true, true)]);
        hb.config_write(PAM0 + 1, 2, 0x1033); // PAM1: C0000 RW, C4000 RW; PAM2: C8000 -, CC000 R
        assert_eq!(
            hb.take_shadow_changes(),
            vec![seg(0xc0000, 0x4000, true, true), seg(0xc4000, 0x4000, true, true), seg(0xcc000, 0x4000, true, false)]
        );
        hb.config_write(PAM0, 1, 0x30); // unchanged
        assert!(hb.take_shadow_changes().is_empty());
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
