//! DAA DAS AAA AAS AAM AAD: decimal adjustment after the additions and subtractions that make
//! their inputs, worked out by hand from the SDM's pseudocode (these instructions do not exist in
//! 64-bit mode), and AAM 0 → #DE.
//!
//! Defined flags: DAA/DAS CF AF SF ZF PF (OF undefined); AAA/AAS CF AF (OF SF ZF PF undefined);
//! AAM/AAD SF ZF PF (OF AF CF undefined).

use super::flag::*;
use super::{expect_exception, install_recorder, set_flags, Kind};
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

type Emit = fn(&mut CodeAssembler) -> Result<(), IcedError>;

/// AX = `ax_in`, flags clear, then `op` (the arithmetic and the adjustment); checks AX and the
/// flags in `mask`.
fn case(
    rom: &mut RomBuilder,
    name: &str,
    ax_in: u16,
    op: Emit,
    ax_out: u16,
    mask: u16,
    flags: u16,
) -> Result<(), RomError> {
    rom.a.mov(eax, 0x5555_0000 | ax_in as u32)?;
    set_flags(&mut rom.a, FIXED)?;
    op(&mut rom.a)?;
    rom.check_flags(&format!("{name} flags"), mask, flags)?;
    rom.check_reg32(name, eax, 0x5555_0000 | ax_out as u32)
}

/// Builds the BCD ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("bcd: DAA DAS AAA AAS AAM AAD\n")?;
    let r = &mut rom;
    let daa = CF | AF | SF | ZF | PF;
    // 79 + 35 = 0xAE: low nibble > 9 (+6, AF) and AL > 99 (+60, CF): 114.
    case(
        r,
        "daa 79+35",
        0x0079,
        |a| {
            a.add(al, 0x35u32)?;
            a.daa()
        },
        0x0014,
        daa,
        CF | AF | PF,
    )?;
    // 38 + 49 = 0x81 with AF: +6 only: 87.
    case(
        r,
        "daa 38+49",
        0x0038,
        |a| {
            a.add(al, 0x49u32)?;
            a.daa()
        },
        0x0087,
        daa,
        AF | SF | PF,
    )?;
    // 99 + 1 = 0x9A: +66 → 00, CF.
    case(
        r,
        "daa 99+1",
        0x0099,
        |a| {
            a.add(al, 0x01u32)?;
            a.daa()
        },
        0x0000,
        daa,
        CF | AF | ZF | PF,
    )?;
    // 90 + 90 = 0x120: CF from the addition alone: +60 → 80, CF.
    case(
        r,
        "daa 90+90",
        0x0090,
        |a| {
            a.add(al, 0x90u32)?;
            a.daa()
        },
        0x0080,
        daa,
        CF | SF,
    )?;
    // Already decimal, no AF/CF: unchanged.
    case(r, "daa 12", 0x0012, |a| a.daa(), 0x0012, daa, PF)?;

    // 35 - 47 = 0xEE with CF and AF: -6, -60 → 88, CF (35 - 47 = -12).
    case(
        r,
        "das 35-47",
        0x0035,
        |a| {
            a.sub(al, 0x47u32)?;
            a.das()
        },
        0x0088,
        daa,
        CF | AF | SF | PF,
    )?;
    case(
        r,
        "das 47-35",
        0x0047,
        |a| {
            a.sub(al, 0x35u32)?;
            a.das()
        },
        0x0012,
        daa,
        PF,
    )?;
    // 50 - 1 = 0x4F with AF: -6 → 49.
    case(
        r,
        "das 50-1",
        0x0050,
        |a| {
            a.sub(al, 0x01u32)?;
            a.das()
        },
        0x0049,
        daa,
        AF,
    )?;
    // 0 - 1 = 0xFF with CF and AF: -66 → 99, CF.
    case(
        r,
        "das 0-1",
        0x0000,
        |a| {
            a.sub(al, 0x01u32)?;
            a.das()
        },
        0x0099,
        daa,
        CF | AF | SF | PF,
    )?;

    let aaa = CF | AF;
    // 8 + 5 = 0x0D: AX + 106h, AL &= 0Fh → AH 1, AL 3.
    case(
        r,
        "aaa 8+5",
        0x0008,
        |a| {
            a.add(al, 0x05u32)?;
            a.aaa()
        },
        0x0103,
        aaa,
        CF | AF,
    )?;
    // 9 + 9 = 0x12 with AF → AH 1, AL 8.
    case(
        r,
        "aaa 9+9",
        0x0009,
        |a| {
            a.add(al, 0x09u32)?;
            a.aaa()
        },
        0x0108,
        aaa,
        CF | AF,
    )?;
    // No adjustment: AL &= 0Fh only.
    case(r, "aaa 0532", 0x0532, |a| a.aaa(), 0x0502, aaa, 0)?;
    // 12 - 5 (AH 1, AL 2): AL = 0xFD with AF: AX - 6, AH - 1, AL &= 0Fh → 07.
    case(
        r,
        "aas 12-5",
        0x0102,
        |a| {
            a.sub(al, 0x05u32)?;
            a.aas()
        },
        0x0007,
        aaa,
        CF | AF,
    )?;
    case(
        r,
        "aas 8-3",
        0x0208,
        |a| {
            a.sub(al, 0x03u32)?;
            a.aas()
        },
        0x0205,
        aaa,
        0,
    )?;

    let aam = SF | ZF | PF;
    case(r, "aam 63", 0x003f, |a| a.aam(10u32), 0x0603, aam, PF)?;
    case(r, "aam16 80", 0x0050, |a| a.aam(16u32), 0x0500, aam, ZF | PF)?;
    case(r, "aam 99", 0x1263, |a| a.aam(10u32), 0x0909, aam, PF)?;
    case(r, "aad 75", 0x0705, |a| a.aad(10u32), 0x004b, aam, PF)?;
    case(r, "aad16 aa", 0x0a0a, |a| a.aad(16u32), 0x00aa, aam, SF | PF)?;
    case(r, "aad 260 wraps", 0x1a00, |a| a.aad(10u32), 0x0004, aam, 0)?;

    // AAM 0 divides by zero.
    install_recorder(&mut rom, 0)?;
    rom.a.mov(ax, 0x1234u32)?;
    expect_exception(&mut rom, "aam 0 #DE", 0, Kind::Fault, |a| a.aam(0u32))?;
    rom.check_reg16("aam 0 keeps ax", ax, 0x1234)?;
    rom.finish()
}
