//! Port I/O: IN and OUT of bytes and words through an immediate port (E4-E7) and DX (EC-EF),
//! and INS/OUTS with REP. The ports read back what was written: the POST code port 0x80 (one
//! byte wide: the byte above reads as open bus, 0xFF), the 16550 scratch register 0x3FF, and
//! the 16550 divisor latch 0x3F8-0x3F9 (with LCR.DLAB set) as a 16-bit register pair.
//!
//! COM1 is back to 115200 8N1 (DLAB clear) before every check, since a failing check prints.

use super::SCRATCH;
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

const S: u32 = SCRATCH;
const POST: u32 = 0x80;
const SCR: u32 = 0x3ff;
const DLL: u32 = 0x3f8;
const LCR: u32 = 0x3fb;

/// Sets LCR.DLAB (divisor latch at 0x3F8-0x3F9), keeping 8N1.
fn dlab_on(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(dx, LCR)?;
    a.mov(al, 0x83u32)?;
    a.out(dx, al)
}

/// Restores divisor 1 and clears DLAB.
fn dlab_off(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.push(ax)?;
    a.mov(dx, DLL)?;
    a.mov(ax, 1u32)?;
    a.out(dx, ax)?;
    a.mov(dx, LCR)?;
    a.mov(al, 0x03u32)?;
    a.out(dx, al)?;
    a.pop(ax)
}

/// Builds the port I/O ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("io: IN OUT INS OUTS\n")?;
    // Byte through an immediate port.
    let a = &mut rom.a;
    a.mov(al, 0x5au32)?;
    a.out(POST, al)?;
    a.mov(eax, 0xaaaa_aaaau32)?;
    a.in_(al, POST)?;
    rom.check_reg32("out/in 80h, al (imm)", eax, 0xaaaa_aa5a)?;
    // Byte through DX.
    let a = &mut rom.a;
    a.mov(dx, SCR)?;
    a.mov(al, 0xa5u32)?;
    a.out(dx, al)?;
    a.xor(al, al)?;
    a.in_(al, dx)?;
    rom.check_reg8("out/in dx=3ffh, al", al, 0xa5)?;
    // Word through an immediate port: port 0x80 latches the low byte; 0x81 reads 0xFF.
    let a = &mut rom.a;
    a.mov(ax, 0x1234u32)?;
    a.out(POST, ax)?;
    a.mov(eax, 0xaaaa_0000u32)?;
    a.in_(ax, POST)?;
    rom.check_reg32("out/in 80h, ax (imm)", eax, 0xaaaa_ff34)?;
    // Word through DX: the divisor latch pair.
    let a = &mut rom.a;
    dlab_on(a)?;
    a.mov(dx, DLL)?;
    a.mov(ax, 0xbeefu32)?;
    a.out(dx, ax)?;
    a.xor(ax, ax)?;
    a.in_(ax, dx)?;
    a.mov(bx, ax)?;
    a.mov(dx, DLL + 1)?;
    a.in_(al, dx)?;
    a.mov(cl, al)?;
    dlab_off(a)?;
    rom.check_reg16("out/in dx=3f8h, ax (divisor latch)", bx, 0xbeef)?;
    rom.check_reg8("out dx, ax writes the high byte to dx+1", cl, 0xbe)?;

    // REP OUTSB from the ROM to port 0x80: the last byte stays latched.
    let bytes = rom.data(&[0x11, 0x22, 0x33, 0x44]);
    let a = &mut rom.a;
    a.cld()?;
    a.mov(si, bytes)?;
    a.mov(dx, POST)?;
    a.mov(cx, 4u32)?;
    a.rep().outsb()?;
    a.in_(al, POST)?;
    rom.check_reg8("rep outsb (last byte latched)", al, 0x44)?;
    rom.check_reg16("rep outsb: si", si, (bytes + 4) as u16)?;
    rom.check_reg16("rep outsb: cx", cx, 0)?;
    // REP INSB from the scratch register into RAM.
    let a = &mut rom.a;
    a.mov(dword_ptr(S).es(), 0u32)?;
    a.mov(dx, SCR)?;
    a.mov(al, 0x77u32)?;
    a.out(dx, al)?;
    a.mov(di, S)?;
    a.mov(cx, 3u32)?;
    a.rep().insb()?;
    rom.check_mem32("rep insb", S, 0x0077_7777)?;
    rom.check_reg16("rep insb: di", di, (S + 3) as u16)?;
    // INSB backwards (DF = 1).
    let a = &mut rom.a;
    a.std()?;
    a.mov(di, S + 3)?;
    a.insb()?;
    a.cld()?;
    rom.check_mem32("insb df=1", S, 0x7777_7777)?;
    rom.check_reg16("insb df=1: di", di, (S + 2) as u16)?;
    // OUTSW then INSW through the divisor latch pair.
    let word = rom.data(&[0x34, 0x12]);
    let a = &mut rom.a;
    dlab_on(a)?;
    a.mov(si, word)?;
    a.mov(dx, DLL)?;
    a.outsw()?;
    a.mov(di, S + 8)?;
    a.mov(cx, 1u32)?;
    a.rep().insw()?;
    dlab_off(a)?;
    rom.check_mem16("outsw / rep insw (divisor latch)", S + 8, 0x1234)?;
    rom.check_reg16("insw: di", di, (S + 10) as u16)?;
    rom.check_reg16("outsw: si", si, (word + 2) as u16)?;
    rom.finish()
}
