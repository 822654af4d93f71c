//! System control port B, 0x61, of a PC/AT (the PIIX's NMI Status and Control register).
//!
//! **Port:** 0x61, one byte. The [`Pit8254`](crate::pit8254::Pit8254) device answers on it as its
//! second region, because bits 0 and 5 are counter 2's GATE input and OUT pin: one owner for that
//! state, no lock. This file holds the register itself.
//!
//! | bit | write                          | read                                     |
//! |-----|--------------------------------|------------------------------------------|
//! | 0   | timer 2 gate                   | as written                               |
//! | 1   | speaker data enable            | as written                               |
//! | 2   | parity check (PERR#) disable   | as written                               |
//! | 3   | channel check (IOCHK#) disable | as written                               |
//! | 4   | —                              | refresh toggle: flips every 15.085 µs    |
//! | 5   | —                              | timer 2 OUT                              |
//! | 6   | —                              | IOCHK# NMI source (always 0)             |
//! | 7   | —                              | SERR#/PERR# NMI source (always 0)        |
//!
//! The refresh toggle flips at the DRAM refresh rate of the PC (18 clocks of the 8254's
//! 1.193182 MHz input, about 15.085 µs), computed from virtual time, so firmware delay loops that
//! count its edges measure real intervals.
//!
//! **Not emulated:** the speaker makes no sound ([`Port61::speaker`] gives its input level, the
//! AND of bit 1 and timer 2 OUT); there are no parity or channel check errors, so bits 6 and 7 read
//! 0 and no NMI is raised.

/// The port.
pub const PORT61: u16 = 0x61;

/// Timer 2 gate.
pub const PORT61_GATE2: u8 = 0x01;
/// Speaker data enable.
pub const PORT61_SPEAKER: u8 = 0x02;
/// Parity check disable.
pub const PORT61_PCK_DIS: u8 = 0x04;
/// Channel check disable.
pub const PORT61_IOCHK_DIS: u8 = 0x08;
/// Refresh cycle toggle (read only).
pub const PORT61_REFRESH: u8 = 0x10;
/// Timer 2 OUT (read only).
pub const PORT61_OUT2: u8 = 0x20;
/// The writable bits.
pub const PORT61_WRITABLE: u8 = 0x0f;
/// 8254 input clocks per refresh request.
pub const REFRESH_TICKS: u64 = 18;

/// The register's writable state. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct Port61 {
    value: u8,
}

impl Port61 {
    pub fn new() -> Self {
        Self::default()
    }

    /// The byte a read returns, given timer 2's OUT and the 8254 clock count `tick`.
    pub fn read(&self, out2: bool, tick: u64) -> u8 {
        let refresh = if (tick / REFRESH_TICKS) & 1 != 0 { PORT61_REFRESH } else { 0 };
        let out = if out2 { PORT61_OUT2 } else { 0 };
        self.value | refresh | out
    }

    /// Stores the writable bits.
    pub fn write(&mut self, v: u8) {
        self.value = v & PORT61_WRITABLE;
    }

    /// Timer 2's GATE input.
    pub fn gate2(&self) -> bool {
        self.value & PORT61_GATE2 != 0
    }

    /// Bit 1, speaker data enable.
    pub fn speaker_data(&self) -> bool {
        self.value & PORT61_SPEAKER != 0
    }

    /// The speaker's input level: timer 2's OUT gated by bit 1.
    pub fn speaker(&self, out2: bool) -> bool {
        self.speaker_data() && out2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_bits_and_read_only_bits() {
        let mut p = Port61::new();
        p.write(0xff);
        assert_eq!(p.read(false, 0), 0x0f);
        assert!(p.gate2() && p.speaker_data());
        assert_eq!(p.read(true, 0), 0x2f);
        assert!(p.speaker(true));
        p.write(0x01);
        assert!(!p.speaker(true));
    }

    #[test]
    fn refresh_toggles_every_18_clocks() {
        let p = Port61::new();
        assert_eq!(p.read(false, 17) & PORT61_REFRESH, 0);
        assert_eq!(p.read(false, 18) & PORT61_REFRESH, PORT61_REFRESH);
        assert_eq!(p.read(false, 35) & PORT61_REFRESH, PORT61_REFRESH);
        assert_eq!(p.read(false, 36) & PORT61_REFRESH, 0);
    }
}
