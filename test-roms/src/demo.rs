//! The demo ROM `emu` boots when given nothing to run: it greets on the serial port and on the
//! VGA text screen, counts to a few, and switches the machine off.

use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

/// Port of the Bochs-style shutdown device: writing the bytes of "Shutdown" powers off.
const SHUTDOWN_PORT: u16 = 0x8900;

/// Builds the demo ROM image.
pub fn demo_rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("Hello from emu's demo ROM: an x86 PC emulated in Rust.\n")?;
    let screen = rom.string("emu demo ROM: hello! See the serial console for more.");
    let a = &mut rom.a;
    // Text on the VGA screen (B800:0000), white on blue.
    a.mov(ax, 0xb800u32)?;
    a.mov(es, ax)?;
    a.xor(di, di)?;
    a.mov(si, screen)?;
    a.mov(ah, 0x1fu32)?;
    let (mut next, mut done) = (a.create_label(), a.create_label());
    a.set_label(&mut next)?;
    a.lodsb()?;
    a.test(al, al)?;
    a.je(done)?;
    a.stosw()?;
    a.jmp(next)?;
    a.set_label(&mut done)?;
    a.xor(ax, ax)?;
    a.mov(es, ax)?;
    rom.print("Counting in the guest: ")?;
    // Print digits 1..=5 by arithmetic in the guest.
    let a = &mut rom.a;
    a.mov(cx, 5u32)?;
    a.mov(bl, b'1' as u32)?;
    let (mut digit, mut wait) = (a.create_label(), a.create_label());
    a.set_label(&mut digit)?;
    a.mov(dx, 0x3fdu32)?;
    a.set_label(&mut wait)?;
    a.in_(al, dx)?;
    a.test(al, 0x20u32)?;
    a.je(wait)?;
    a.mov(al, bl)?;
    a.mov(dx, 0x3f8u32)?;
    a.out(dx, al)?;
    a.inc(bl)?;
    a.loop_(digit)?;
    rom.print("\nThe demo is done; switching the machine off.\n")?;
    let off = rom.string("Shutdown");
    let a = &mut rom.a;
    a.mov(si, off)?;
    a.mov(dx, SHUTDOWN_PORT as u32)?;
    a.mov(cx, 8u32)?;
    a.rep().outsb()?;
    rom.finish()
}
