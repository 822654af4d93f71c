//! The BIOS ROM image: 64 KiB at F0000 (and at the top of 4 GiB), holding only the small x86 stubs
//! that trap into the Rust services, the reset vector, and a few tables callers read in place.

use super::{BIOS_SEGMENT, POST_STUB, STUBS, STUB_SIZE, TRAP_PORT};

/// Size of the ROM image.
pub const ROM_SIZE: usize = 64 * 1024;
/// INT 15h C0h system configuration table (offset in segment F000).
pub const CONFIG_TABLE: u16 = 0xe6f5;
/// The OEM string VBE function 4F00h points at (offset in segment F000).
pub const VBE_OEM_STRING: u16 = 0x0100;
/// The identification string at the start of the ROM.
pub const BANNER: &str = "emu BIOS (c) the emu authors";

/// Builds the ROM image.
pub fn image() -> Vec<u8> {
    let mut rom = vec![0u8; ROM_SIZE];
    put(&mut rom, 0, BANNER.as_bytes());
    put(&mut rom, VBE_OEM_STRING as usize, b"emu VBE (Bochs dispi)\0");

    // POST stub: trap, then (should the service ever return) halt forever.
    let trap = [0xe6, TRAP_PORT as u8];
    put(&mut rom, POST_STUB as usize, &[trap[0], trap[1], 0xfa, 0xf4, 0xeb, 0xfd]);

    // One stub per interrupt vector (see the module documentation of `firmware`).
    for v in 0..256usize {
        let at = STUBS as usize + v * STUB_SIZE as usize;
        put(&mut rom, at, &[trap[0], trap[1], 0xcf, 0xfb, 0xf4, 0xfa, 0xeb, 0xf8]);
    }

    // INT 15h C0h: length 8, model FC (AT), submodel 01, revision 0, feature bytes: (0x70) = RTC,
    // INT 15h 4Fh keyboard intercept... we claim only the RTC and the second 8259.
    put(&mut rom, CONFIG_TABLE as usize, &[0x08, 0x00, 0xfc, 0x01, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00]);

    // The diskette parameter tables (INT 1Eh), one per CMOS drive type, from the PC's address.
    for t in 1..=5u8 {
        let at = super::floppy::PARAM_TABLES as usize + (t as usize - 1) * 11;
        put(&mut rom, at, &super::floppy::param_table(t));
    }

    // Reset vector F000:FFF0: jmp far F000:POST_STUB; the BIOS date; the model byte.
    let [lo, hi] = POST_STUB.to_le_bytes();
    let [slo, shi] = BIOS_SEGMENT.to_le_bytes();
    put(&mut rom, 0xfff0, &[0xea, lo, hi, slo, shi]);
    put(&mut rom, 0xfff5, b"11/26/26");
    rom[0xfffe] = 0xfc;
    rom
}

fn put(rom: &mut [u8], at: usize, bytes: &[u8]) {
    rom[at..at + bytes.len()].copy_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_and_reset_vector_are_in_place() {
        let rom = image();
        assert_eq!(&rom[0xfff0..0xfff5], &[0xea, 0x00, 0x0e, 0x00, 0xf0]);
        let stub = STUBS as usize + 0x13 * 8;
        assert_eq!(&rom[stub..stub + 8], &[0xe6, 0xee, 0xcf, 0xfb, 0xf4, 0xfa, 0xeb, 0xf8]);
        // The stubs end before the configuration table and the reset vector.
        assert!((STUBS as usize + 256 * 8) < CONFIG_TABLE as usize);
    }
}
