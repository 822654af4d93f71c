//! PCI bus 0 with configuration mechanism #1 (PCI Local Bus Specification 2.1, 3.2.2.3.2), as the
//! i440FX PMC decodes it.
//!
//! **Ports:** CONFADD at 0xCF8 (dword accesses only: bit 31 enable, bits 23:16 bus, 15:11 device,
//! 10:8 function, 7:2 register) and CONFDATA at 0xCFC-0xCFF (byte, word and dword accesses; the
//! port's low two bits select the byte lanes of the addressed dword). Byte accesses to 0xCF9 reach
//! the PIIX3's Reset Control register (RC: bit 2 RCPU resets the CPU), as on the real board.
//!
//! Each function is a [`PciFunction`] holding a 256-byte [`ConfigSpace`] with per-byte write masks
//! and write-one-to-clear masks, and up to six [`Bar`]s. Writing all ones to a BAR reads back the
//! size mask; when the guest moves a BAR or flips the command register's I/O or memory enable,
//! [`PciBus`] queues a [`Remap`] for the device behind the BAR, which the `System` applies right
//! after the configuration write (see [`emu_core::Device::take_remaps`]).
//!
//! **Not emulated:** buses other than 0 (no PCI-to-PCI bridges: their configuration reads as all
//! ones), configuration mechanism #2, special cycles, expansion ROM BARs, 64-bit BARs, parity and
//! SERR#. CF9's hard reset (bit 1) resets the CPU like bit 2.

pub mod i440fx;
pub mod piix3;

use std::any::Any;

use emu_core::device::OPEN_BUS;
use emu_core::{AddressSpace, Device, DeviceId, Lines, Remap, Shadow};

pub use i440fx::I440fxHostBridge;
pub use piix3::{Piix3Ide, Piix3Isa};

/// The configuration address port (CONFADD).
pub const PCI_CONFIG_ADDRESS: u16 = 0xcf8;
/// The configuration data window (CONFDATA), four ports.
pub const PCI_CONFIG_DATA: u16 = 0xcfc;
/// Region of [`PciBus`] for 0xCF8-0xCFB.
pub const REGION_ADDRESS: u8 = 0;
/// Region of [`PciBus`] for 0xCFC-0xCFF.
pub const REGION_DATA: u8 = 1;

/// CONFADD bit 31: the next CONFDATA access is a configuration cycle.
pub const CONFIG_ENABLE: u32 = 1 << 31;

// Configuration header registers (type 0).
pub const VENDOR_ID: u8 = 0x00;
pub const DEVICE_ID: u8 = 0x02;
pub const COMMAND: u8 = 0x04;
pub const STATUS: u8 = 0x06;
pub const REVISION_ID: u8 = 0x08;
pub const PROG_IF: u8 = 0x09;
pub const SUBCLASS: u8 = 0x0a;
pub const CLASS_CODE: u8 = 0x0b;
pub const CACHE_LINE_SIZE: u8 = 0x0c;
pub const LATENCY_TIMER: u8 = 0x0d;
pub const HEADER_TYPE: u8 = 0x0e;
pub const BAR0: u8 = 0x10;
pub const SUBSYSTEM_VENDOR_ID: u8 = 0x2c;
pub const SUBSYSTEM_ID: u8 = 0x2e;
pub const INTERRUPT_LINE: u8 = 0x3c;
pub const INTERRUPT_PIN: u8 = 0x3d;

// COMMAND bits.
/// I/O space enable.
pub const CMD_IO: u16 = 1 << 0;
/// Memory space enable.
pub const CMD_MEMORY: u16 = 1 << 1;
/// Bus master enable.
pub const CMD_BUS_MASTER: u16 = 1 << 2;

// STATUS bits.
/// DEVSEL timing: medium.
pub const STATUS_DEVSEL_MEDIUM: u16 = 1 << 9;
/// Fast back-to-back capable.
pub const STATUS_FAST_B2B: u16 = 1 << 7;
/// The write-one-to-clear error bits (15:11, 8).
pub const STATUS_W1C: u16 = 0xf900;

/// HEADER_TYPE bit 7: the device has more than one function.
pub const HEADER_MULTIFUNCTION: u8 = 0x80;

/// What a BAR decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    /// I/O space (BAR bit 0 = 1).
    Io,
    /// 32-bit memory space (BAR bits 2:1 = 00), bit 3 prefetchable.
    Memory { prefetchable: bool },
}

/// A base address register: its kind, its size (a power of two) and the device region that the
/// `System` maps where the guest puts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    pub kind: BarKind,
    pub size: u32,
    /// The device and region behind the BAR, if anything is to be mapped.
    pub target: Option<(DeviceId, u8)>,
}

/// The 256-byte configuration space of one function, with per-byte write masks.
#[derive(Clone)]
pub struct ConfigSpace {
    bytes: [u8; 256],
    /// Bits the guest may write.
    wmask: [u8; 256],
    /// Bits a written one clears (status error bits).
    w1cmask: [u8; 256],
    bars: [Option<Bar>; 6],
}

impl ConfigSpace {
    /// A type 0 header with the given identity; COMMAND's I/O, memory and bus-master enables,
    /// the latency timer and INTERRUPT_LINE are writable; STATUS's error bits are write-one-to-clear.
    pub fn new(vendor: u16, device: u16, revision: u8, class: u32) -> Self {
        let mut c = ConfigSpace { bytes: [0; 256], wmask: [0; 256], w1cmask: [0; 256], bars: [None; 6] };
        c.set_u16(VENDOR_ID, vendor);
        c.set_u16(DEVICE_ID, device);
        c.set_u8(REVISION_ID, revision);
        c.set_u8(PROG_IF, class as u8);
        c.set_u8(SUBCLASS, (class >> 8) as u8);
        c.set_u8(CLASS_CODE, (class >> 16) as u8);
        c.set_wmask(COMMAND, 2, (CMD_IO | CMD_MEMORY | CMD_BUS_MASTER) as u32);
        c.w1cmask[STATUS as usize + 1] = (STATUS_W1C >> 8) as u8;
        c.set_wmask(LATENCY_TIMER, 1, 0xff);
        c.set_wmask(INTERRUPT_LINE, 1, 0xff);
        c
    }

    /// Reads `size` bytes (little-endian) at `offset`; bytes past 0xFF read as zero.
    pub fn read(&self, offset: u8, size: u8) -> u32 {
        (0..size as usize).map(|i| self.bytes.get(offset as usize + i).map_or(0, |&b| (b as u32) << (8 * i))).sum()
    }

    /// A guest write of `size` bytes at `offset`, through the write and write-one-to-clear masks.
    pub fn write(&mut self, offset: u8, size: u8, value: u32) {
        for i in 0..size as usize {
            let Some(at) = (offset as usize).checked_add(i).filter(|&a| a < 256) else { break };
            let v = (value >> (8 * i)) as u8;
            let (m, c) = (self.wmask[at], self.w1cmask[at]);
            self.bytes[at] = (self.bytes[at] & !m) | (v & m);
            self.bytes[at] &= !(v & c);
        }
    }

    pub fn u8(&self, offset: u8) -> u8 {
        self.bytes[offset as usize]
    }
    pub fn u16(&self, offset: u8) -> u16 {
        self.read(offset, 2) as u16
    }
    pub fn u32(&self, offset: u8) -> u32 {
        self.read(offset, 4)
    }

    /// Sets a register's value regardless of its write mask (device side, and reset values).
    pub fn set_u8(&mut self, offset: u8, v: u8) {
        self.bytes[offset as usize] = v;
    }
    pub fn set_u16(&mut self, offset: u8, v: u16) {
        self.bytes[offset as usize..offset as usize + 2].copy_from_slice(&v.to_le_bytes());
    }
    pub fn set_u32(&mut self, offset: u8, v: u32) {
        self.bytes[offset as usize..offset as usize + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Sets the writable bits of the `size` bytes at `offset` to `mask`.
    pub fn set_wmask(&mut self, offset: u8, size: u8, mask: u32) {
        for i in 0..size as usize {
            self.wmask[offset as usize + i] = (mask >> (8 * i)) as u8;
        }
    }

    /// The command register.
    pub fn command(&self) -> u16 {
        self.u16(COMMAND)
    }

    /// Declares BAR `n` (0-5): its low bits become read-only type bits and its size bits read
    /// as zero, so writing all ones reads back the size mask.
    pub fn set_bar(&mut self, n: usize, bar: Bar) {
        let size = bar.size.next_power_of_two().max(if bar.kind == BarKind::Io { 4 } else { 16 });
        let at = BAR0 + 4 * n as u8;
        let (flags, low) = match bar.kind {
            BarKind::Io => (0x1, 0x3),
            BarKind::Memory { prefetchable } => (if prefetchable { 0x8 } else { 0 }, 0xf),
        };
        self.set_u32(at, flags);
        self.set_wmask(at, 4, !(size - 1) & !low);
        self.bars[n] = Some(Bar { size, ..bar });
    }

    /// BAR `n` as declared.
    pub fn bar(&self, n: usize) -> Option<Bar> {
        self.bars[n]
    }

    /// Where BAR `n` decodes now: `None` when it is absent, its space is disabled in COMMAND, it
    /// is zero, or (I/O) it does not fit the 64 KiB port space.
    pub fn bar_address(&self, n: usize) -> Option<u64> {
        let bar = self.bars[n]?;
        let reg = self.u32(BAR0 + 4 * n as u8);
        let (base, enabled, limit) = match bar.kind {
            BarKind::Io => ((reg & !0x3) as u64, self.command() & CMD_IO != 0, 0x1_0000),
            BarKind::Memory { .. } => ((reg & !0xf) as u64, self.command() & CMD_MEMORY != 0, 1 << 32),
        };
        (enabled && base != 0 && base + bar.size as u64 <= limit).then_some(base)
    }
}

impl std::fmt::Debug for ConfigSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConfigSpace({:04x}:{:04x})", self.u16(VENDOR_ID), self.u16(DEVICE_ID))
    }
}

/// One PCI function: a configuration space and whatever side effects its registers have.
pub trait PciFunction: Send + Any {
    /// A short name, e.g. `"i440FX host bridge"`.
    fn name(&self) -> &'static str;
    fn config(&self) -> &ConfigSpace;
    fn config_mut(&mut self) -> &mut ConfigSpace;

    /// A configuration read of `size` bytes at `offset` (the access lies within one dword).
    fn config_read(&mut self, offset: u8, size: u8) -> u32 {
        self.config().read(offset, size)
    }

    /// A configuration write; the default applies the masks.
    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        self.config_mut().write(offset, size, value);
    }

    /// The board's RESET: the configuration space goes back to `power_on`, what it was when the
    /// function was plugged in (BARs the host assigned then included), and the function's
    /// other state to its power-on values. Side effects of registers the reset changed are
    /// queued as after a write ([`PciFunction::take_shadow_changes`]).
    fn reset(&mut self, power_on: &ConfigSpace) {
        *self.config_mut() = power_on.clone();
    }

    /// Changes to the BIOS area's RAM/ROM decoding the function's registers asked for (the host
    /// bridge's PAM registers); [`PciBus`] passes them to the `System` after the write.
    fn take_shadow_changes(&mut self) -> Vec<Shadow> {
        Vec::new()
    }

    fn as_any_mut(&mut self) -> &mut dyn Any;
}

struct Slot {
    device: u8,
    function: u8,
    func: Box<dyn PciFunction>,
    /// The configuration space as the function was plugged in: what a reset restores.
    power_on: ConfigSpace,
    /// Where each BAR is mapped in the `System` now.
    mapped: [Option<u64>; 6],
}

/// Bus 0 and the configuration mechanism #1 ports.
pub struct PciBus {
    address: u32,
    slots: Vec<Slot>,
    remaps: Vec<Remap>,
    /// Shadow RAM changes from the host bridge, for the `System`.
    shadows: Vec<Shadow>,
    lines: Lines,
    /// The PIIX3 Reset Control register at 0xCF9.
    reset_control: u8,
}

impl PciBus {
    pub fn new(lines: Lines) -> Self {
        PciBus { address: 0, slots: Vec::new(), remaps: Vec::new(), shadows: Vec::new(), lines, reset_control: 0 }
    }

    /// Plugs `func` in as bus 0, `device` (0-31), `function` (0-7). BARs that are already
    /// enabled get mapped by the first remap the `System` applies.
    pub fn add_function(&mut self, device: u8, function: u8, func: Box<dyn PciFunction>) {
        assert!(device < 32 && function < 8, "PCI device {device}.{function} out of range");
        assert!(self.find(device, function).is_none(), "PCI slot {device}.{function} taken");
        let power_on = func.config().clone();
        self.slots.push(Slot { device, function, func, power_on, mapped: [None; 6] });
        let i = self.slots.len() - 1;
        self.update_bars(i);
    }

    /// The function at `device.function`, as its concrete type.
    pub fn function_mut<T: PciFunction>(&mut self, device: u8, function: u8) -> Option<&mut T> {
        let i = self.find(device, function)?;
        self.slots[i].func.as_any_mut().downcast_mut::<T>()
    }

    /// The configuration address register (CONFADD).
    pub fn config_address(&self) -> u32 {
        self.address
    }

    fn find(&self, device: u8, function: u8) -> Option<usize> {
        self.slots.iter().position(|s| s.device == device && s.function == function)
    }

    /// The slot CONFADD selects, if the cycle is enabled and someone answers.
    fn selected(&self) -> Option<usize> {
        let a = self.address;
        if a & CONFIG_ENABLE == 0 || (a >> 16) & 0xff != 0 {
            return None;
        }
        self.find(((a >> 11) & 0x1f) as u8, ((a >> 8) & 7) as u8)
    }

    /// Reads configuration space of `device.function` directly (firmware in Rust, tests).
    pub fn config_read(&mut self, device: u8, function: u8, offset: u8, size: u8) -> u32 {
        match self.find(device, function) {
            Some(i) => self.slots[i].func.config_read(offset, size),
            None => OPEN_BUS >> (32 - 8 * size as u32),
        }
    }

    /// Writes configuration space of `device.function` directly; BAR moves are queued as remaps.
    pub fn config_write(&mut self, device: u8, function: u8, offset: u8, size: u8, value: u32) {
        if let Some(i) = self.find(device, function) {
            self.slots[i].func.config_write(offset, size, value);
            self.after_config_change(i);
        }
    }

    /// After slot `i`'s configuration changed: queues the remaps of its BARs that moved and
    /// the shadowing changes it asked for.
    fn after_config_change(&mut self, i: usize) {
        self.update_bars(i);
        let changes = self.slots[i].func.take_shadow_changes();
        self.shadows.extend(changes);
    }

    /// Queues a remap for every BAR of slot `i` whose decoded address changed.
    fn update_bars(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        for n in 0..6 {
            let cfg = slot.func.config();
            let Some(Bar { kind, size, target: Some((target, region)) }) = cfg.bar(n) else { continue };
            let now = cfg.bar_address(n);
            if now == slot.mapped[n] {
                continue;
            }
            let space = if kind == BarKind::Io { AddressSpace::Io } else { AddressSpace::Mmio };
            let len = size as u64;
            self.remaps.push(Remap { space, target, region, len, old: slot.mapped[n], new: now });
            slot.mapped[n] = now;
        }
    }
}

impl Device for PciBus {
    fn name(&self) -> &'static str {
        "PCI configuration mechanism #1"
    }

    /// CONFADD and the Reset Control register clear, and every function resets
    /// ([`PciFunction::reset`]): BARs the guest moved go back where they were at power-on, with
    /// the remaps and shadowing changes that takes queued for the `System`.
    fn reset(&mut self) {
        self.address = 0;
        self.reset_control = 0;
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            slot.func.reset(&slot.power_on);
            self.after_config_change(i);
        }
    }

    fn read(&mut self, region: u8, offset: u64, size: u8) -> u32 {
        match (region, offset, size) {
            (REGION_ADDRESS, 0, 4) => self.address,
            (REGION_ADDRESS, 1, 1) => self.reset_control as u32,
            (REGION_ADDRESS, ..) => OPEN_BUS,
            (_, _, _) => match self.selected() {
                Some(i) => {
                    let reg = (self.address & 0xfc) as u8 + offset as u8;
                    self.slots[i].func.config_read(reg, size)
                }
                None => OPEN_BUS,
            },
        }
    }

    fn write(&mut self, region: u8, offset: u64, size: u8, value: u32) {
        match (region, offset, size) {
            // Bits 30:24 are reserved (read as 0), bits 1:0 too.
            (REGION_ADDRESS, 0, 4) => self.address = value & 0x80ff_fffc,
            (REGION_ADDRESS, 1, 1) => {
                let v = value as u8;
                // RC: a 0→1 transition of RCPU (bit 2) resets; SRST/hard reset (bit 1) picks which.
                if v & 0x4 != 0 && self.reset_control & 0x4 == 0 {
                    self.lines.request_reset();
                }
                self.reset_control = v & 0x2;
            }
            (REGION_ADDRESS, ..) => {}
            (_, _, _) => {
                if let Some(i) = self.selected() {
                    let reg = (self.address & 0xfc) as u8 + offset as u8;
                    self.slots[i].func.config_write(reg, size, value);
                    self.after_config_change(i);
                }
            }
        }
    }

    fn take_remaps(&mut self) -> Vec<Remap> {
        std::mem::take(&mut self.remaps)
    }

    fn take_shadow_changes(&mut self) -> Vec<Shadow> {
        std::mem::take(&mut self.shadows)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Maps a [`PciBus`] at 0xCF8 and 0xCFC.
pub fn map_pci_bus(sys: &mut emu_core::System, bus: DeviceId) -> Result<(), emu_core::Error> {
    sys.map_io(PCI_CONFIG_ADDRESS, 4, bus, REGION_ADDRESS)?;
    sys.map_io(PCI_CONFIG_DATA, 4, bus, REGION_DATA)
}

#[cfg(test)]
mod tests {
    use super::*;
    use emu_core::{ClockMode, System};

    /// A function with an I/O BAR 0 (32 bytes) and a memory BAR 1 (4 KiB).
    struct TestFn(ConfigSpace);
    impl PciFunction for TestFn {
        fn name(&self) -> &'static str {
            "test"
        }
        fn config(&self) -> &ConfigSpace {
            &self.0
        }
        fn config_mut(&mut self) -> &mut ConfigSpace {
            &mut self.0
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
    }

    /// Answers every read with its region number.
    struct Regions;
    impl Device for Regions {
        fn name(&self) -> &'static str {
            "regions"
        }
        fn read(&mut self, region: u8, _: u64, _: u8) -> u32 {
            region as u32
        }
        fn write(&mut self, _: u8, _: u64, _: u8, _: u32) {}
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
    }

    fn addr(dev: u32, func: u32, reg: u32) -> u32 {
        CONFIG_ENABLE | dev << 11 | func << 8 | reg
    }

    fn machine() -> (System, DeviceId) {
        let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        let target = sys.add_device(Box::new(Regions));
        let mut cfg = ConfigSpace::new(0x1234, 0x5678, 3, 0x020000);
        cfg.set_bar(0, Bar { kind: BarKind::Io, size: 32, target: Some((target, 5)) });
        cfg.set_bar(1, Bar { kind: BarKind::Memory { prefetchable: true }, size: 4096, target: Some((target, 6)) });
        cfg.set_u8(INTERRUPT_PIN, 1);
        let mut bus = PciBus::new(sys.lines.clone());
        bus.add_function(3, 0, Box::new(TestFn(cfg)));
        let id = sys.add_device(Box::new(bus));
        map_pci_bus(&mut sys, id).unwrap();
        (sys, id)
    }

    #[test]
    fn config_mechanism_1_reads_ids_at_byte_word_and_dword_offsets() {
        let (mut sys, _) = machine();
        sys.io_write(0xcf8, 4, addr(3, 0, 0));
        assert_eq!(sys.io_read(0xcf8, 4), addr(3, 0, 0));
        assert_eq!(sys.io_read(0xcfc, 4), 0x5678_1234);
        assert_eq!(sys.io_read(0xcfe, 2), 0x5678);
        assert_eq!(sys.io_read(0xcfd, 1), 0x12);
        sys.io_write(0xcf8, 4, addr(3, 0, 8));
        assert_eq!(sys.io_read(0xcfc, 4), 0x0200_0003);
        sys.io_write(0xcf8, 4, addr(3, 0, 0x3c));
        sys.io_write(0xcfc, 1, 11);
        assert_eq!(sys.io_read(0xcfc, 2), 0x010b); // line written, pin read-only
        sys.io_write(0xcfd, 1, 4);
        assert_eq!(sys.io_read(0xcfd, 1), 1);
        // Absent device, another bus, enable bit clear: all ones.
        for a in [addr(4, 0, 0), addr(3, 1, 0), addr(3, 0, 0) | 1 << 16, addr(3, 0, 0) & !CONFIG_ENABLE] {
            sys.io_write(0xcf8, 4, a);
            assert_eq!(sys.io_read(0xcfc, 4), 0xffff_ffff);
        }
        // Only dword accesses reach CONFADD.
        sys.io_write(0xcf8, 4, addr(3, 0, 0));
        sys.io_write(0xcf8, 1, 0);
        assert_eq!(sys.io_read(0xcf8, 4), addr(3, 0, 0));
        sys.io_write(0xcf8, 4, 0x7f00_0003);
        assert_eq!(sys.io_read(0xcf8, 4), 0);
    }

    #[test]
    fn bar_sizing_reads_back_the_size_mask() {
        let (mut sys, _) = machine();
        sys.io_write(0xcf8, 4, addr(3, 0, 0x10));
        assert_eq!(sys.io_read(0xcfc, 4), 0x1);
        sys.io_write(0xcfc, 4, 0xffff_ffff);
        assert_eq!(sys.io_read(0xcfc, 4), 0xffff_ffe1); // 32 bytes, I/O
        sys.io_write(0xcf8, 4, addr(3, 0, 0x14));
        sys.io_write(0xcfc, 4, 0xffff_ffff);
        assert_eq!(sys.io_read(0xcfc, 4), 0xffff_f008); // 4 KiB, prefetchable memory
        sys.io_write(0xcfc, 4, 0xfebf_f123);
        assert_eq!(sys.io_read(0xcfc, 4), 0xfebf_f008);
    }

    #[test]
    fn moving_and_enabling_bars_remaps_the_device() {
        let (mut sys, _) = machine();
        sys.io_write(0xcf8, 4, addr(3, 0, 0x10));
        sys.io_write(0xcfc, 4, 0xc000);
        sys.io_write(0xcf8, 4, addr(3, 0, 0x14));
        sys.io_write(0xcfc, 4, 0xfeb0_0000);
        assert_eq!(sys.io_read(0xc000, 1), 0xff); // not decoded until COMMAND enables it
        sys.io_write(0xcf8, 4, addr(3, 0, 4));
        sys.io_write(0xcfc, 2, (CMD_IO | CMD_MEMORY) as u32);
        assert_eq!(sys.io_read(0xc01f, 1), 5);
        assert_eq!(sys.read_phys(0xfeb0_0ffc, 4), 6);
        // Move the I/O BAR: the old ports go quiet.
        sys.io_write(0xcf8, 4, addr(3, 0, 0x10));
        sys.io_write(0xcfc, 2, 0xd020);
        assert_eq!(sys.io_read(0xc000, 1), 0xff);
        assert_eq!(sys.io_read(0xd020, 1), 5);
        // Sizing with decode on moves it out of the port space, restoring brings it back.
        sys.io_write(0xcfc, 4, 0xffff_ffff);
        assert_eq!(sys.io_read(0xd020, 1), 0xff);
        sys.io_write(0xcfc, 4, 0xd020);
        assert_eq!(sys.io_read(0xd020, 1), 5);
        // Disabling memory space unmaps the memory BAR.
        sys.io_write(0xcf8, 4, addr(3, 0, 4));
        sys.io_write(0xcfc, 2, CMD_IO as u32);
        assert_eq!(sys.read_phys(0xfeb0_0000, 4), 0xffff_ffff);
    }

    #[test]
    fn status_error_bits_are_write_one_to_clear() {
        let mut cfg = ConfigSpace::new(1, 2, 0, 0);
        cfg.set_u16(STATUS, 0x8280);
        cfg.write(STATUS, 2, 0x8000 | 0x0280);
        assert_eq!(cfg.u16(STATUS), 0x0280);
        cfg.write(VENDOR_ID, 4, 0);
        assert_eq!(cfg.u32(VENDOR_ID), 0x0002_0001);
    }

    #[test]
    fn cf9_reset_control_requests_a_cpu_reset() {
        let (mut sys, _) = machine();
        sys.io_write(0xcf9, 1, 0x2);
        assert!(!sys.lines.take_reset());
        sys.io_write(0xcf9, 1, 0x6);
        assert!(sys.lines.take_reset());
        assert_eq!(sys.io_read(0xcf9, 1), 0x2);
    }
}
