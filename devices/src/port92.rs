//! System control port A at 0x92 ("fast A20 and reset"), as PS/2-era and PCI chipsets (the PIIX
//! ISA bridge among them) decode it.
//!
//! **Port:** 0x92, one byte, read/write.
//!
//! | bit | name            | meaning                                                     |
//! |-----|-----------------|-------------------------------------------------------------|
//! | 0   | FAST_RESET      | a 0 → 1 transition resets the CPU ("fast init")             |
//! | 1   | A20_GATE        | 1 = address line 20 enabled                                 |
//! | 2-7 | (security lock, disk activity LED, ...) | stored and read back, no effect     |
//!
//! **Emulated:** the A20 gate (through [`Lines::set_a20`]) and the reset (through
//! [`Lines::request_reset`]). The board has one A20 wire that the 8042's output port drives too:
//! the last write to either wins (on real chipsets the two gates are ORed), and bit 1 reads the
//! wire's current state, so both ports agree on what the guest sees.
//!
//! **Not emulated:** the security lock (bit 3) and the activity LEDs. Bit 0 keeps the value
//! written until the machine's reset clears the register ([`Device::reset`]): a reset happens
//! on its rising edge only.

use std::any::Any;

use emu_core::{Device, Lines};

/// The port's address.
pub const PORT92: u16 = 0x92;
/// Bit 0: a 0 → 1 transition resets the CPU.
pub const PORT92_FAST_RESET: u8 = 0x01;
/// Bit 1: the A20 gate.
pub const PORT92_A20: u8 = 0x02;

/// System control port A. See the module documentation.
#[derive(Debug)]
pub struct Port92 {
    lines: Lines,
    value: u8,
}

impl Port92 {
    pub fn new(lines: Lines) -> Self {
        let value = if lines.a20() { PORT92_A20 } else { 0 };
        Port92 { lines, value }
    }

    /// The register as the guest reads it.
    pub fn value(&self) -> u8 {
        (self.value & !PORT92_A20) | if self.lines.a20() { PORT92_A20 } else { 0 }
    }
}

impl Device for Port92 {
    fn name(&self) -> &'static str {
        "port 0x92 (system control A)"
    }

    /// All bits clear; A20 reads the wire, which the board enables at reset.
    fn reset(&mut self) {
        self.value = 0;
    }

    fn read(&mut self, _region: u8, offset: u64, _size: u8) -> u32 {
        match offset {
            0 => 0xffff_ff00 | self.value() as u32,
            _ => emu_core::device::OPEN_BUS,
        }
    }

    fn write(&mut self, _region: u8, offset: u64, _size: u8, value: u32) {
        if offset != 0 {
            return;
        }
        let value = value as u8;
        self.lines.set_a20(value & PORT92_A20 != 0);
        if self.value & PORT92_FAST_RESET == 0 && value & PORT92_FAST_RESET != 0 {
            self.lines.request_reset();
        }
        self.value = value;
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a20_gate_reads_back_the_wire() {
        let lines = Lines::new();
        let mut p = Port92::new(lines.clone());
        assert_eq!(p.read(0, 0, 1) as u8, PORT92_A20);
        p.write(0, 0, 1, 0);
        assert!(!lines.a20());
        assert_eq!(p.read(0, 0, 1) as u8, 0);
        p.write(0, 0, 1, 0x42);
        assert!(lines.a20());
        assert_eq!(p.read(0, 0, 1) as u8, 0x42);
        lines.set_a20(false); // the 8042 closed the gate: bit 1 follows
        assert_eq!(p.read(0, 0, 1) as u8, 0x40);
        assert!(!lines.take_reset());
    }

    #[test]
    fn fast_reset_on_a_rising_edge_only() {
        let lines = Lines::new();
        let mut p = Port92::new(lines.clone());
        p.write(0, 0, 1, (PORT92_A20 | PORT92_FAST_RESET) as u32);
        assert!(lines.take_reset());
        p.write(0, 0, 1, (PORT92_A20 | PORT92_FAST_RESET) as u32); // still 1: no edge
        assert!(!lines.take_reset());
        p.write(0, 0, 1, PORT92_A20 as u32);
        assert!(!lines.take_reset());
        p.write(0, 0, 1, PORT92_FAST_RESET as u32);
        assert!(lines.take_reset());
        assert!(!lines.a20());
    }
}
