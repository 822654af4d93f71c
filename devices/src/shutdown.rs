//! The Bochs/QEMU-style APM shutdown port at 0x8900: writing the characters of `Shutdown` one
//! after another switches the machine off. Old Bochs BIOSes and many test programs use it; our
//! demo ROM does. Anything else written resets the match. Reads return all ones.

use emu_core::device::OPEN_BUS;
use emu_core::{Device, ExitReason, Lines};
use std::any::Any;

/// The shutdown port.
pub const SHUTDOWN_PORT: u16 = 0x8900;
const MAGIC: &[u8] = b"Shutdown";

/// The shutdown port device.
#[derive(Debug)]
pub struct ShutdownPort {
    lines: Lines,
    matched: usize,
}

impl ShutdownPort {
    pub fn new(lines: Lines) -> Self {
        ShutdownPort { lines, matched: 0 }
    }
}

impl Device for ShutdownPort {
    fn name(&self) -> &'static str {
        "APM shutdown port"
    }

    fn reset(&mut self) {
        self.matched = 0;
    }
    fn read(&mut self, _: u8, _: u64, _: u8) -> u32 {
        OPEN_BUS
    }
    fn write(&mut self, _: u8, _: u64, _: u8, value: u32) {
        let b = value as u8;
        self.matched = if b == MAGIC[self.matched] {
            self.matched + 1
        } else if b == MAGIC[0] {
            1
        } else {
            0
        };
        if self.matched == MAGIC.len() {
            self.matched = 0;
            self.lines.request_exit(ExitReason::PowerOff);
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_str(dev: &mut ShutdownPort, s: &[u8]) {
        for &b in s {
            dev.write(0, 0, 1, b as u32);
        }
    }

    #[test]
    fn shutdown_string_powers_off() {
        let lines = Lines::new();
        let mut dev = ShutdownPort::new(lines.clone());
        write_str(&mut dev, b"ShutXdown");
        assert_eq!(lines.exit(), None);
        write_str(&mut dev, b"SShutdown");
        assert_eq!(lines.exit(), Some(ExitReason::PowerOff));
    }
}
