//! QEMU's firmware configuration interface (fw_cfg), the I/O-port flavour on x86: how SeaBIOS
//! built for QEMU learns the memory map, the CPU count and its option ROMs.
//!
//! **Ports:** 0x510 (selector, 16-bit write: picks an item and rewinds it) and 0x511 (data, 8-bit
//! read: the next byte of the selected item; past its end, and for unknown items, 0).
//!
//! **Items:** 0x0000 signature `"QEMU"`, 0x0001 ID (1: the traditional interface, no DMA),
//! numbered items set with [`FwCfg::set`], and named files ([`FwCfg::add_file`]) listed in the
//! file directory at 0x0019 (a big-endian count, then for each file its big-endian size and
//! selector, two reserved bytes and a 56-byte NUL-padded name; files get selectors from 0x0020 in
//! name order).
//!
//! **Not emulated:** the DMA interface (0x514), writes to items, the MMIO flavour.

use std::any::Any;
use std::collections::BTreeMap;

use emu_core::device::OPEN_BUS;
use emu_core::Device;

/// The selector port; the data port follows it.
pub const FW_CFG_PORT: u16 = 0x510;
/// Ports the device answers on (selector and data).
pub const FW_CFG_PORTS: u16 = 2;

pub const FW_CFG_SIGNATURE: u16 = 0x00;
pub const FW_CFG_ID: u16 = 0x01;
pub const FW_CFG_RAM_SIZE: u16 = 0x03;
pub const FW_CFG_NB_CPUS: u16 = 0x05;
pub const FW_CFG_MAX_CPUS: u16 = 0x0f;
pub const FW_CFG_FILE_DIR: u16 = 0x19;
/// The first selector given to a named file.
pub const FW_CFG_FILE_FIRST: u16 = 0x20;
/// Longest file name, with its NUL.
const NAME_LEN: usize = 56;

/// The fw_cfg device. See the module documentation.
pub struct FwCfg {
    items: BTreeMap<u16, Vec<u8>>,
    files: BTreeMap<String, Vec<u8>>,
    selected: u16,
    offset: usize,
}

impl FwCfg {
    /// A device with the signature, the ID and an empty file directory.
    pub fn new() -> Self {
        let mut f = FwCfg { items: BTreeMap::new(), files: BTreeMap::new(), selected: 0, offset: 0 };
        f.set(FW_CFG_SIGNATURE, b"QEMU".to_vec());
        f.set(FW_CFG_ID, 1u32.to_le_bytes().to_vec());
        f.rebuild_files();
        f
    }

    /// Sets numbered item `key` (integers in it are little-endian, as the guest reads them).
    pub fn set(&mut self, key: u16, data: Vec<u8>) {
        self.items.insert(key, data);
    }

    /// Adds (or replaces) the file `name` (at most 55 bytes).
    pub fn add_file(&mut self, name: &str, data: Vec<u8>) {
        assert!(name.len() < NAME_LEN, "fw_cfg file name {name:?} is too long");
        self.files.insert(name.to_string(), data);
        self.rebuild_files();
    }

    /// Numbers the files in name order and writes the directory.
    fn rebuild_files(&mut self) {
        self.items.retain(|&k, _| k < FW_CFG_FILE_FIRST);
        let mut dir = (self.files.len() as u32).to_be_bytes().to_vec();
        for (i, (name, data)) in self.files.iter().enumerate() {
            let select = FW_CFG_FILE_FIRST + i as u16;
            dir.extend_from_slice(&(data.len() as u32).to_be_bytes());
            dir.extend_from_slice(&select.to_be_bytes());
            dir.extend_from_slice(&[0, 0]);
            let mut n = [0u8; NAME_LEN];
            n[..name.len()].copy_from_slice(name.as_bytes());
            dir.extend_from_slice(&n);
            self.items.insert(select, data.clone());
        }
        self.items.insert(FW_CFG_FILE_DIR, dir);
    }

    /// Selects an item and rewinds it (a write to the selector port).
    pub fn select(&mut self, key: u16) {
        self.selected = key;
        self.offset = 0;
    }

    /// The next byte of the selected item (a read of the data port).
    pub fn read_byte(&mut self) -> u8 {
        let b = self.items.get(&self.selected).and_then(|d| d.get(self.offset)).copied().unwrap_or(0);
        self.offset = self.offset.saturating_add(1);
        b
    }
}

impl Default for FwCfg {
    fn default() -> Self {
        Self::new()
    }
}

impl Device for FwCfg {
    fn name(&self) -> &'static str {
        "QEMU fw_cfg"
    }

    /// The items stay (the host set them); the selector and the read position go back to 0.
    fn reset(&mut self) {
        self.selected = 0;
        self.offset = 0;
    }

    fn read(&mut self, _region: u8, offset: u64, size: u8) -> u32 {
        match offset {
            // Wider reads of the data port return that many bytes, as QEMU's does.
            1 => (0..size.min(4)).map(|i| (self.read_byte() as u32) << (8 * i)).sum(),
            _ => OPEN_BUS,
        }
    }

    fn write(&mut self, _region: u8, offset: u64, size: u8, value: u32) {
        if offset == 0 && size >= 2 {
            self.select(value as u16);
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(f: &mut FwCfg, key: u16, n: usize) -> Vec<u8> {
        f.write(0, 0, 2, key as u32);
        (0..n).map(|_| f.read(0, 1, 1) as u8).collect()
    }

    #[test]
    fn signature_id_and_unknown_items() {
        let mut f = FwCfg::new();
        assert_eq!(read(&mut f, FW_CFG_SIGNATURE, 5), b"QEMU\0");
        assert_eq!(read(&mut f, FW_CFG_ID, 4), [1, 0, 0, 0]);
        assert_eq!(read(&mut f, 0x1234, 2), [0, 0]);
        f.set(FW_CFG_NB_CPUS, 1u16.to_le_bytes().to_vec());
        assert_eq!(read(&mut f, FW_CFG_NB_CPUS, 2), [1, 0]);
        // Reselecting rewinds.
        assert_eq!(read(&mut f, FW_CFG_SIGNATURE, 2), b"QE");
    }

    #[test]
    fn file_directory_lists_files_in_name_order() {
        let mut f = FwCfg::new();
        f.add_file("etc/e820", vec![1, 2, 3]);
        f.add_file("bootorder", vec![9; 5]);
        let dir = read(&mut f, FW_CFG_FILE_DIR, 4 + 2 * 64);
        assert_eq!(dir[..4], [0, 0, 0, 2]);
        let entry = |i: usize| &dir[4 + 64 * i..4 + 64 * (i + 1)];
        assert_eq!(entry(0)[..8], [0, 0, 0, 5, 0, 0x20, 0, 0]);
        assert_eq!(&entry(0)[8..18], b"bootorder\0");
        assert_eq!(entry(1)[..8], [0, 0, 0, 3, 0, 0x21, 0, 0]);
        assert_eq!(&entry(1)[8..17], b"etc/e820\0");
        assert_eq!(read(&mut f, 0x21, 4), [1, 2, 3, 0]);
    }
}
