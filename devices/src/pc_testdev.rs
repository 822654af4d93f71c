//! A test device in the shape of QEMU's `pc-testdev` (`emu --pc-testdev`): what kvm-unit-tests'
//! x86 kernels expect next to the exit port, above all the `emulator` test, whose memory
//! operands lie in the device's memory so that every access is an emulated device access.
//!
//! **Registers** (all little-endian):
//! - *Data port*, I/O 0xE0-0xE3: a 32-bit latch. An access of `n` bytes at port `0xE0 + k`
//!   reads or writes the latch's bytes `k..k + n` (bytes past the latch's end are dropped on a
//!   write and read as zero).
//! - *Flush port*, I/O 0xE4-0xE7: a write names a guest physical page. Under KVM QEMU unmaps
//!   and remaps the page's host memory there; that changes nothing the guest can see, and emu
//!   does nothing.
//! - *IRQ lines*, I/O 0x2000-0x2017: a byte written to `0x2000 + n` drives interrupt line `n`
//!   high if it is non-zero, else low; a wider write drives one line per byte, as QEMU's
//!   device does under KVM. Lines 0-15 are the ISA IRQs; QEMU refuses 16-23, which here are
//!   the I/O APIC's inputs of those numbers. Reads return all ones.
//! - *Memory*, 0xFF000000-0xFF00FFFF: 64 KiB that read back what was written, at any size and
//!   alignment within the range (reads of bytes never written return zero).
//!
//! **Not emulated:** QEMU's second view of the latch at 0xE8-0xEB: emu's debug console owns
//! 0xE9 (no kvm-unit-test uses that view). The device is absent unless asked for, as in QEMU.

use std::any::Any;

use emu_core::{Device, DeviceId, Error, Lines, System};

/// The data latch's ports.
pub const DATA_PORT: u16 = 0xe0;
/// The flush port.
pub const FLUSH_PORT: u16 = 0xe4;
/// The first of the IRQ line ports.
pub const IRQ_PORT: u16 = 0x2000;
/// How many IRQ lines the IRQ ports drive.
pub const IRQ_LINES: u16 = 24;
/// Where the memory is.
pub const MEMORY_BASE: u64 = 0xff00_0000;
/// Its size.
pub const MEMORY_SIZE: u64 = 0x1_0000;

const REGION_DATA: u8 = 0;
const REGION_FLUSH: u8 = 1;
const REGION_IRQ: u8 = 2;
const REGION_MEMORY: u8 = 3;

/// The test device. See the module documentation.
pub struct PcTestdev {
    lines: Lines,
    /// The data latch's bytes.
    latch: [u8; 4],
    /// The IRQ lines it drives high (bit n: line n).
    driven: u32,
    memory: Box<[u8]>,
}

impl PcTestdev {
    /// A device that drives interrupt lines through `lines`.
    pub fn new(lines: Lines) -> Self {
        PcTestdev { lines, latch: [0; 4], driven: 0, memory: vec![0; MEMORY_SIZE as usize].into_boxed_slice() }
    }
}

/// The `size` bytes of `bytes` at `offset`, little-endian; bytes past the end read as 0.
fn read_le(bytes: &[u8], offset: u64, size: u8) -> u32 {
    (0..size as usize).fold(0, |v, i| v | (*bytes.get(offset as usize + i).unwrap_or(&0) as u32) << (8 * i))
}

/// Stores the low `size` bytes of `value` at `offset` of `bytes`, little-endian; bytes past the
/// end are dropped.
fn write_le(bytes: &mut [u8], offset: u64, size: u8, value: u32) {
    for i in 0..size as usize {
        if let Some(b) = bytes.get_mut(offset as usize + i) {
            *b = (value >> (8 * i)) as u8;
        }
    }
}

impl Device for PcTestdev {
    fn name(&self) -> &'static str {
        "pc-testdev"
    }

    /// The latch clears and the lines it drove high go low; the memory, like RAM, keeps what
    /// it holds.
    fn reset(&mut self) {
        self.latch = [0; 4];
        for line in (0..IRQ_LINES as u8).filter(|n| self.driven & 1 << n != 0) {
            self.lines.set_irq(line, false);
        }
        self.driven = 0;
    }

    fn read(&mut self, region: u8, offset: u64, size: u8) -> u32 {
        match region {
            REGION_DATA => read_le(&self.latch, offset, size),
            REGION_MEMORY => read_le(&self.memory, offset, size),
            _ => emu_core::device::OPEN_BUS,
        }
    }

    fn write(&mut self, region: u8, offset: u64, size: u8, value: u32) {
        match region {
            REGION_DATA => write_le(&mut self.latch, offset, size, value),
            REGION_IRQ => {
                // Each byte written drives its own line (a word write to 0x2000 sets lines 0
                // and 1).
                for i in 0..size as u64 {
                    let line = offset + i;
                    if line < IRQ_LINES as u64 {
                        let high = (value >> (8 * i)) & 0xff != 0;
                        self.lines.set_irq(line as u8, high);
                        self.driven = self.driven & !(1 << line) | (high as u32) << line;
                    }
                }
            }
            REGION_MEMORY => write_le(&mut self.memory, offset, size, value),
            // The flush port: nothing the guest can see (see the module comment).
            _ => {}
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Adds a [`PcTestdev`] to `sys` at its ports and memory range.
pub fn attach_pc_testdev(sys: &mut System) -> Result<DeviceId, Error> {
    let id = sys.add_device(Box::new(PcTestdev::new(sys.lines.clone())));
    sys.map_io(DATA_PORT, 4, id, REGION_DATA)?;
    sys.map_io(FLUSH_PORT, 4, id, REGION_FLUSH)?;
    sys.map_io(IRQ_PORT, IRQ_LINES, id, REGION_IRQ)?;
    sys.map_mmio(MEMORY_BASE, MEMORY_SIZE, id, REGION_MEMORY)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use emu_core::ClockMode;

    fn system() -> System {
        let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        attach_pc_testdev(&mut sys).unwrap();
        sys
    }

    #[test]
    fn the_latch_keeps_bytes_at_their_offsets() {
        let mut sys = system();
        sys.io_write(DATA_PORT, 4, 0x4433_2211);
        assert_eq!(sys.io_read(DATA_PORT, 4), 0x4433_2211);
        assert_eq!(sys.io_read(DATA_PORT + 1, 2), 0x3322);
        assert_eq!(sys.io_read(DATA_PORT + 3, 1), 0x44);
        sys.io_write(DATA_PORT + 2, 1, 0xaa);
        assert_eq!(sys.io_read(DATA_PORT, 4), 0x44aa_2211);
        // A word at the latch's last byte keeps the byte that fits.
        sys.io_write(DATA_PORT + 3, 2, 0x55bb);
        assert_eq!(sys.io_read(DATA_PORT, 4), 0xbbaa_2211);
        assert_eq!(sys.io_read(DATA_PORT + 3, 2), 0x00bb);
    }

    #[test]
    fn memory_reads_back_what_was_written_at_any_size_and_alignment() {
        let mut sys = system();
        assert_eq!(sys.read_phys(MEMORY_BASE, 4), 0);
        sys.write_phys(MEMORY_BASE + 0x101, 4, 0xdead_beef);
        assert_eq!(sys.read_phys(MEMORY_BASE + 0x101, 4), 0xdead_beef);
        assert_eq!(sys.read_phys(MEMORY_BASE + 0x102, 2), 0xadbe);
        sys.write_phys(MEMORY_BASE + 0x103, 1, 0x5a);
        assert_eq!(sys.read_phys(MEMORY_BASE + 0x100, 4), 0x5abe_ef00);
        sys.write_phys(MEMORY_BASE + MEMORY_SIZE - 4, 4, 0x0102_0304);
        assert_eq!(sys.read_phys(MEMORY_BASE + MEMORY_SIZE - 4, 4), 0x0102_0304);
    }

    #[test]
    fn irq_ports_drive_their_lines() {
        let mut sys = system();
        sys.io_write(IRQ_PORT + 10, 1, 1);
        assert_eq!(sys.lines.irq_levels() & (1 << 10), 1 << 10);
        sys.io_write(IRQ_PORT + 10, 1, 0);
        assert_eq!(sys.lines.irq_levels() & (1 << 10), 0);
        // A word: line 3 low, line 4 high.
        sys.io_write(IRQ_PORT + 3, 1, 1);
        sys.io_write(IRQ_PORT + 3, 2, 0x0100);
        assert_eq!(sys.lines.irq_levels() & (3 << 3), 1 << 4);
        assert_eq!(sys.io_read(IRQ_PORT, 1), 0xff);
    }

    #[test]
    fn the_flush_port_changes_nothing() {
        let mut sys = system();
        sys.write_phys(MEMORY_BASE, 4, 7);
        sys.io_write(DATA_PORT, 4, 9);
        sys.io_write(FLUSH_PORT, 4, 0x1000);
        assert_eq!(sys.read_phys(MEMORY_BASE, 4), 7);
        assert_eq!(sys.io_read(DATA_PORT, 4), 9);
    }

    #[test]
    fn a_reset_clears_the_latch_and_lowers_the_lines_it_drove() {
        let mut sys = system();
        sys.io_write(DATA_PORT, 4, 0x1234_5678);
        sys.io_write(IRQ_PORT + 5, 2, 0x0101);
        sys.io_write(IRQ_PORT + 9, 1, 1);
        sys.io_write(IRQ_PORT + 9, 1, 0);
        sys.lines.set_irq(9, true); // another device's
        sys.write_phys(MEMORY_BASE, 4, 0xfeed_f00d);
        sys.reset_devices();
        assert_eq!(sys.io_read(DATA_PORT, 4), 0);
        assert_eq!(sys.lines.irq_levels() & (0b11 << 5 | 1 << 9), 1 << 9);
        assert_eq!(sys.read_phys(MEMORY_BASE, 4), 0xfeed_f00d);
    }
}
