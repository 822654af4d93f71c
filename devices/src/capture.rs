//! An output sink whose contents can be read back: clone it, give one clone to a device (serial
//! port, debug console) and read what the guest wrote through the other. Tests use it; so can any
//! host code that wants a device's output in memory.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A cloneable in-memory `Write` sink; all clones share the same bytes.
#[derive(Debug, Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
