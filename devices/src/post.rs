//! The POST code port, 0x80: where firmware (and test ROMs such as test386.asm) write progress
//! codes that a PC's POST card shows on its two-digit display.
//!
//! **Port:** 0x80, one byte. Writes latch the code and add it to a short history kept for
//! diagnostics; reads return the last code written (0xFF before any write), as the POST cards
//! and chipsets that latch the port do.
//!
//! **Not emulated:** the I/O delay that some software uses the port for takes no time here. A wider
//! write latches only its low byte; the other bytes of a wider read are open bus (all ones).

use std::any::Any;
use std::collections::VecDeque;

use emu_core::Device;

/// The POST code port.
pub const POST_PORT: u16 = 0x80;
/// How many of the most recent codes [`PostPort::history`] keeps.
pub const POST_HISTORY: usize = 32;

/// The port 0x80 POST code latch. See the module documentation.
#[derive(Debug, Default)]
pub struct PostPort {
    last: Option<u8>,
    history: VecDeque<u8>,
    writes: u64,
}

impl PostPort {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last code written, if any.
    pub fn last(&self) -> Option<u8> {
        self.last
    }

    /// The last [`POST_HISTORY`] codes written, oldest first (repeats included).
    pub fn history(&self) -> impl ExactSizeIterator<Item = u8> + '_ {
        self.history.iter().copied()
    }

    /// How many codes have been written since power-on.
    pub fn writes(&self) -> u64 {
        self.writes
    }
}

impl Device for PostPort {
    fn name(&self) -> &'static str {
        "POST code port"
    }

    /// The read-back latch empties (reads float again); the record of codes
    /// ([`PostPort::history`]) is the host's and stays.
    fn reset(&mut self) {
        self.last = None;
    }

    fn read(&mut self, _region: u8, offset: u64, _size: u8) -> u32 {
        match (offset, self.last) {
            (0, Some(code)) => 0xffff_ff00 | code as u32,
            _ => emu_core::device::OPEN_BUS,
        }
    }

    fn write(&mut self, _region: u8, offset: u64, _size: u8, value: u32) {
        if offset != 0 {
            return;
        }
        let code = value as u8;
        self.last = Some(code);
        if self.history.len() == POST_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(code);
        self.writes += 1;
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_the_last_code() {
        let mut post = PostPort::new();
        assert_eq!(post.last(), None);
        assert_eq!(post.read(0, 0, 1) as u8, 0xff);
        post.write(0, 0, 1, 0x12);
        post.write(0, 0, 1, 0x34);
        assert_eq!(post.last(), Some(0x34));
        assert_eq!(post.read(0, 0, 1) as u8, 0x34);
        post.write(0, 0, 2, 0xab56); // only the low byte is for this port
        assert_eq!(post.read(0, 0, 2) & 0xffff, 0xff56);
        assert_eq!(post.writes(), 3);
    }

    #[test]
    fn history_keeps_the_most_recent_codes_in_order() {
        let mut post = PostPort::new();
        for code in 0..100u32 {
            post.write(0, 0, 1, code);
        }
        let history: Vec<u8> = post.history().collect();
        assert_eq!(history, (100 - POST_HISTORY as u8..100).collect::<Vec<_>>());
        assert_eq!(post.writes(), 100);
    }
}
