//! An isa-debug-exit-style port (QEMU's `isa-debug-exit`): how test kernels such as
//! kvm-unit-tests end a run and report a verdict.
//!
//! **Port:** 0xF4 (the address kvm-unit-tests use; mapped four ports wide, 0xF4-0xF7). A write of
//! size 1, 2 or 4 with value `v` (the written bytes only) asks the machine to exit with status
//! `(v << 1) | 1` through [`Lines::request_exit`] with [`ExitReason::DebugExit`]`(v)`; the offset
//! within the range does not matter, as in QEMU. Reads return all ones.
//!
//! **Not emulated:** nothing; the status arithmetic is the frontend's (an exit status of 0, i.e.
//! success, cannot be produced, which is QEMU's behaviour too).

use std::any::Any;

use emu_core::{Device, ExitReason, Lines};

/// The exit port.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;
/// How many ports the exit device covers (QEMU's `iosize=4`).
pub const DEBUG_EXIT_PORTS: u16 = 4;

/// The process exit status QEMU uses for a guest write of `value`.
pub fn debug_exit_status(value: u32) -> i32 {
    ((value << 1) | 1) as i32
}

/// The debug exit port. See the module documentation.
pub struct DebugExit {
    lines: Lines,
}

impl DebugExit {
    /// An exit port that sends exit requests down `lines`.
    pub fn new(lines: Lines) -> Self {
        DebugExit { lines }
    }
}

impl Device for DebugExit {
    fn name(&self) -> &'static str {
        "isa-debug-exit"
    }

    fn read(&mut self, _region: u8, _offset: u64, _size: u8) -> u32 {
        emu_core::device::OPEN_BUS
    }

    fn write(&mut self, _region: u8, _offset: u64, size: u8, value: u32) {
        let value = match size {
            1 => value & 0xff,
            2 => value & 0xffff,
            _ => value,
        };
        self.lines.request_exit(ExitReason::DebugExit(value));
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port() -> (DebugExit, Lines) {
        let lines = Lines::new();
        (DebugExit::new(lines.clone()), lines)
    }

    #[test]
    fn a_byte_write_requests_exit() {
        let (mut dev, lines) = port();
        assert_eq!(lines.exit(), None);
        dev.write(0, 0, 1, 0x1234_5601);
        assert_eq!(lines.exit(), Some(ExitReason::DebugExit(1)));
        assert_eq!(debug_exit_status(1), 3);
    }

    #[test]
    fn word_and_dword_writes_keep_their_bytes() {
        let (mut dev, lines) = port();
        dev.write(0, 0, 2, 0xdead_beef);
        assert_eq!(lines.exit(), Some(ExitReason::DebugExit(0xbeef)));
        let (mut dev, lines) = port();
        dev.write(0, 0, 4, 0x0000_0021);
        assert_eq!(lines.exit(), Some(ExitReason::DebugExit(0x21)));
        assert_eq!(debug_exit_status(0x21), 0x43);
    }

    #[test]
    fn reads_are_all_ones_and_do_not_exit() {
        let (mut dev, lines) = port();
        assert_eq!(dev.read(0, 0, 4), 0xffff_ffff);
        assert_eq!(dev.read(0, 3, 1) & 0xff, 0xff);
        assert_eq!(lines.exit(), None);
    }
}
