//! The Intel 82093AA I/O APIC (datasheet 290566): 24 interrupt input pins, each with a
//! redirection entry that turns the pin into a message to the local APICs.
//!
//! **Registers** (MMIO at 0xFEC00000): IOREGSEL (offset 0x00, the index of the register IOWIN
//! shows) and IOWIN (offset 0x10). Indirect registers: IOAPICID (0x00, ID in bits 27:24),
//! IOAPICVER (0x01: version 0x11, 24 entries), IOAPICARB (0x02, the arbitration ID, which follows
//! the ID) and the redirection table (0x10-0x3F: entry n is 0x10 + 2n low, 0x11 + 2n high).
//!
//! **Emulated:** vector, delivery mode (fixed, lowest priority, SMI, NMI, INIT, ExtINT),
//! physical and logical destinations, masking, edge triggering (a rising edge of an unmasked
//! pin sends one message; edges while masked are lost), level triggering with the remote IRR
//! bit (set when the message is sent, cleared by the local APIC's EOI for that vector; a pin
//! still asserted then, or unmasked while asserted, sends again). Messages are delivered at once,
//! so the delivery status bit always reads idle.
//!
//! **Inputs:** the board's lines are logical requests (a device raises its line to ask for
//! service), so a pin is asserted when its line is high whatever the polarity bit says; that
//! bit is storage, as if the board inverted active-low PCI lines before the pin. The wiring of
//! the lines to the pins is the board's business ([`super::pin_of_irq`]).

use super::local::Message;

/// The number of input pins and redirection entries.
pub const PINS: usize = 24;
/// Where the registers are.
pub const DEFAULT_BASE: u64 = 0xfec0_0000;
/// Bytes of MMIO decoded (the 82093AA answers in a 4 KiB window).
pub const MMIO_SIZE: u64 = 0x1000;
/// IOREGSEL's and IOWIN's offsets.
pub const IOREGSEL: u64 = 0x00;
pub const IOWIN: u64 = 0x10;

/// Indirect register indexes.
pub mod index {
    pub const ID: u8 = 0x00;
    pub const VERSION: u8 = 0x01;
    pub const ARBITRATION: u8 = 0x02;
    pub const REDIRECTION: u8 = 0x10;
}

/// IOAPICVER: version 0x11, maximum redirection entry 23.
pub const VERSION: u32 = 0x0017_0011;

/// Redirection entry bits (low word).
pub mod redir {
    pub const VECTOR: u64 = 0xff;
    pub const DELIVERY_MODE: u64 = 7 << 8;
    pub const LOGICAL: u64 = 1 << 11;
    pub const DELIVERY_STATUS: u64 = 1 << 12;
    pub const POLARITY_LOW: u64 = 1 << 13;
    pub const REMOTE_IRR: u64 = 1 << 14;
    pub const LEVEL: u64 = 1 << 15;
    pub const MASKED: u64 = 1 << 16;
    /// Destination field (bits 63:56).
    pub const DEST_SHIFT: u32 = 56;
    /// The bits software can write.
    pub const WRITABLE: u64 = VECTOR | DELIVERY_MODE | LOGICAL | POLARITY_LOW | LEVEL | MASKED | (0xff << DEST_SHIFT);
}

/// The 82093AA. See the module documentation.
#[derive(Debug, Clone)]
pub struct IoApic {
    id: u32,
    regsel: u8,
    entries: [u64; PINS],
    /// Pin levels as last seen, bit n = pin n.
    levels: u32,
}

impl Default for IoApic {
    fn default() -> Self {
        IoApic::new()
    }
}

impl IoApic {
    /// An I/O APIC after reset: ID 0, every entry masked.
    pub fn new() -> Self {
        IoApic { id: 0, regsel: 0, entries: [redir::MASKED; PINS], levels: 0 }
    }

    /// Redirection entry `pin`.
    pub fn entry(&self, pin: usize) -> u64 {
        self.entries[pin]
    }

    /// Pin levels as last seen.
    pub fn levels(&self) -> u32 {
        self.levels
    }

    /// Whether some entry is unmasked (an interrupt could still come from here).
    pub fn any_unmasked(&self) -> bool {
        self.entries.iter().any(|e| e & redir::MASKED == 0)
    }

    /// Reads `size` bytes at `offset`.
    pub fn read(&self, offset: u64, size: u8) -> u32 {
        let (v, at) = match offset & !3 {
            IOREGSEL => (self.regsel as u32, offset & 3),
            IOWIN => (self.read_indirect(), offset & 3),
            _ => (0, 0),
        };
        let v = v >> (8 * at);
        if size >= 4 {
            v
        } else {
            v & ((1 << (8 * size)) - 1)
        }
    }

    fn read_indirect(&self) -> u32 {
        match self.regsel {
            index::ID | index::ARBITRATION => self.id,
            index::VERSION => VERSION,
            r @ 0x10..=0x3f => {
                let e = self.entries[(r as usize - 0x10) / 2];
                if r & 1 == 0 {
                    e as u32
                } else {
                    (e >> 32) as u32
                }
            }
            _ => 0,
        }
    }

    /// Writes `value` at `offset`; messages it causes (an entry unmasked while its level pin is
    /// asserted) go to `send`.
    pub fn write(&mut self, offset: u64, size: u8, value: u32, send: &mut dyn FnMut(Message)) {
        match offset {
            IOREGSEL => self.regsel = value as u8,
            IOWIN if size == 4 => match self.regsel {
                index::ID => self.id = value & 0x0f00_0000,
                r @ 0x10..=0x3f => {
                    let pin = (r as usize - 0x10) / 2;
                    let old = self.entries[pin];
                    let new = if r & 1 == 0 {
                        (old & !0xffff_ffff) | value as u64
                    } else {
                        (old & 0xffff_ffff) | (value as u64) << 32
                    };
                    self.entries[pin] = (new & redir::WRITABLE) | (old & redir::REMOTE_IRR);
                    if self.entries[pin] & redir::LEVEL == 0 {
                        self.entries[pin] &= !redir::REMOTE_IRR;
                    }
                    self.service_level(pin, send);
                }
                _ => {} // version and arbitration ID are read-only
            },
            _ => {}
        }
    }

    /// The pins now have `levels` (bit n = pin n asserted); `edges` are rising edges that
    /// happened since the last look even if the level fell again (short pulses). Sends the
    /// messages that result.
    pub fn set_levels(&mut self, levels: u32, edges: u32, send: &mut dyn FnMut(Message)) {
        let rising = (levels & !self.levels) | edges;
        let changed = (levels ^ self.levels) | edges;
        self.levels = levels;
        if changed == 0 {
            return;
        }
        for pin in 0..PINS {
            if changed & (1 << pin) == 0 {
                continue;
            }
            let e = self.entries[pin];
            if e & redir::LEVEL != 0 {
                self.service_level(pin, send);
            } else if rising & (1 << pin) != 0 && e & redir::MASKED == 0 {
                send(message(e));
            }
        }
    }

    /// A level-triggered pin: send if it is asserted, unmasked and not waiting for its EOI.
    fn service_level(&mut self, pin: usize, send: &mut dyn FnMut(Message)) {
        let e = self.entries[pin];
        let asserted = self.levels & (1 << pin) != 0;
        if e & redir::LEVEL != 0 && asserted && e & (redir::MASKED | redir::REMOTE_IRR) == 0 {
            self.entries[pin] |= redir::REMOTE_IRR;
            send(message(e));
        }
    }

    /// The local APIC's EOI for `vector`: level entries with that vector may send again.
    pub fn eoi(&mut self, vector: u8, send: &mut dyn FnMut(Message)) {
        for pin in 0..PINS {
            let e = self.entries[pin];
            if e & redir::REMOTE_IRR != 0 && e & redir::VECTOR == vector as u64 {
                self.entries[pin] &= !redir::REMOTE_IRR;
                self.service_level(pin, send);
            }
        }
    }
}

/// The message redirection entry `e` sends.
fn message(e: u64) -> Message {
    Message {
        vector: e as u8,
        mode: (e & redir::DELIVERY_MODE) as u32,
        logical: e & redir::LOGICAL != 0,
        dest: (e >> redir::DEST_SHIFT) as u8,
        level: e & redir::LEVEL != 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_entry(io: &mut IoApic, pin: usize, low: u32, high: u32, out: &mut Vec<Message>) {
        let mut send = |m| out.push(m);
        io.write(IOREGSEL, 1, 0x11 + 2 * pin as u32, &mut send);
        io.write(IOWIN, 4, high, &mut send);
        io.write(IOREGSEL, 1, 0x10 + 2 * pin as u32, &mut send);
        io.write(IOWIN, 4, low, &mut send);
    }

    fn read_reg(io: &mut IoApic, r: u32) -> u32 {
        io.write(IOREGSEL, 1, r, &mut |_| {});
        io.read(IOWIN, 4)
    }

    #[test]
    fn identification_registers() {
        let mut io = IoApic::new();
        assert_eq!(read_reg(&mut io, 1), 0x0017_0011);
        io.write(IOREGSEL, 1, 0, &mut |_| {});
        io.write(IOWIN, 4, 0xff00_0000, &mut |_| {});
        assert_eq!(read_reg(&mut io, 0), 0x0f00_0000);
        assert_eq!(read_reg(&mut io, 2), 0x0f00_0000);
        assert_eq!(io.read(IOREGSEL, 1), 2);
        io.write(IOREGSEL, 1, 1, &mut |_| {});
        io.write(IOWIN, 4, 0, &mut |_| {}); // read-only
        assert_eq!(read_reg(&mut io, 1), 0x0017_0011);
        // Every entry starts masked.
        assert_eq!(read_reg(&mut io, 0x10 + 2 * 23), redir::MASKED as u32);
    }

    #[test]
    fn edge_pins_send_on_rising_edges_only_when_unmasked() {
        let mut io = IoApic::new();
        let mut out = Vec::new();
        write_entry(&mut io, 2, 0x30, 0x0100_0000, &mut out);
        assert_eq!(read_reg(&mut io, 0x14), 0x30);
        assert_eq!(read_reg(&mut io, 0x15), 0x0100_0000);
        io.set_levels(1 << 2, 0, &mut |m| out.push(m));
        io.set_levels(1 << 2, 0, &mut |m| out.push(m)); // still high: no new edge
        assert_eq!(out, vec![Message { vector: 0x30, mode: 0, logical: false, dest: 1, level: false }]);
        // A pulse shorter than the looks still counts.
        io.set_levels(0, 1 << 2, &mut |m| out.push(m));
        assert_eq!(out.len(), 2);
        // Masked: the edge is lost, and unmasking later sends nothing.
        write_entry(&mut io, 2, 0x30 | redir::MASKED as u32, 0, &mut out);
        io.set_levels(1 << 2, 0, &mut |m| out.push(m));
        write_entry(&mut io, 2, 0x30, 0, &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn level_pins_wait_for_eoi_with_remote_irr() {
        let mut io = IoApic::new();
        let mut out = Vec::new();
        // Pin 9: level, logical destination 1, vector 0x41, masked at first.
        let low = 0x41 | (redir::LEVEL | redir::LOGICAL | redir::MASKED) as u32;
        write_entry(&mut io, 9, low, 0x0100_0000, &mut out);
        io.set_levels(1 << 9, 0, &mut |m| out.push(m));
        assert!(out.is_empty(), "masked");
        // Unmasking while asserted sends, and sets remote IRR.
        write_entry(&mut io, 9, low & !(redir::MASKED as u32), 0x0100_0000, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].level && out[0].logical);
        assert_ne!(read_reg(&mut io, 0x22) as u64 & redir::REMOTE_IRR, 0);
        // Still asserted, but remote IRR holds it back until the EOI.
        io.set_levels(1 << 9 | 1, 0, &mut |m| out.push(m));
        assert_eq!(out.len(), 1);
        io.eoi(0x42, &mut |m| out.push(m)); // another vector: nothing
        assert_eq!(out.len(), 1);
        io.eoi(0x41, &mut |m| out.push(m)); // still asserted: again
        assert_eq!(out.len(), 2);
        io.set_levels(0, 0, &mut |m| out.push(m));
        io.eoi(0x41, &mut |m| out.push(m)); // deasserted: remote IRR clears, nothing sent
        assert_eq!(out.len(), 2);
        assert_eq!(read_reg(&mut io, 0x22) as u64 & redir::REMOTE_IRR, 0);
        // Remote IRR and delivery status are read-only.
        write_entry(&mut io, 9, low | (redir::REMOTE_IRR | redir::DELIVERY_STATUS) as u32, 0, &mut out);
        assert_eq!(read_reg(&mut io, 0x22) as u64 & (redir::REMOTE_IRR | redir::DELIVERY_STATUS), 0);
    }
}
