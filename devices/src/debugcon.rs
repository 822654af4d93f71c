//! The Bochs/QEMU debug console: port 0xE9.
//!
//! **Port:** 0xE9, one byte. A byte written goes straight to the host sink (flushed at once, so
//! output before a hang is not lost); a read returns 0xE9, which is how software detects the port
//! (Bochs and QEMU both answer so).
//!
//! **Not emulated:** nothing else exists on this port. A wider write sends only its low byte, as
//! the ISA bus would send the other bytes to the next ports; the other bytes of a wider read are
//! open bus (all ones).

use std::any::Any;
use std::io::Write;

use emu_core::Device;

/// The debug console's port.
pub const DEBUGCON_PORT: u16 = 0xe9;
/// What a read of the port returns.
pub const DEBUGCON_READBACK: u8 = 0xe9;

/// The 0xE9 debug console. See the module documentation.
pub struct DebugCon {
    sink: Box<dyn Write + Send>,
}

impl DebugCon {
    /// A debug console writing the guest's bytes to `sink`.
    pub fn new(sink: Box<dyn Write + Send>) -> Self {
        DebugCon { sink }
    }
}

impl Device for DebugCon {
    fn name(&self) -> &'static str {
        "0xE9 debug console"
    }

    fn read(&mut self, _region: u8, offset: u64, _size: u8) -> u32 {
        if offset == 0 {
            0xffff_ff00 | DEBUGCON_READBACK as u32
        } else {
            emu_core::device::OPEN_BUS
        }
    }

    fn write(&mut self, _region: u8, offset: u64, _size: u8, value: u32) {
        if offset == 0 {
            // A failing host sink must not stop the guest: the byte is dropped.
            let _ = self.sink.write_all(&[value as u8]);
            let _ = self.sink.flush();
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::Captured;

    /// A sink that always fails.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn bytes_written_reach_the_sink() {
        let out = Captured::default();
        let mut con = DebugCon::new(Box::new(out.clone()));
        for &c in b"ok\n" {
            con.write(0, 0, 1, c as u32);
        }
        con.write(0, 0, 2, 0x4241); // only the low byte is for this port
        assert_eq!(*out.0.lock().unwrap(), b"ok\nA");
    }

    #[test]
    fn reads_return_the_magic_value() {
        let mut con = DebugCon::new(Box::new(Captured::default()));
        assert_eq!(con.read(0, 0, 1) as u8, DEBUGCON_READBACK);
        assert_eq!(con.read(0, 0, 2) & 0xffff, 0xffe9);
    }

    #[test]
    fn a_broken_sink_does_not_stop_the_guest() {
        let mut con = DebugCon::new(Box::new(Broken));
        con.write(0, 0, 1, b'x' as u32);
        assert_eq!(con.read(0, 0, 1) as u8, 0xe9);
    }
}
