//! BT BTS BTR BTC with register, memory and immediate operands, including memory bit offsets
//! outside the addressed word or dword (positive and negative, from a register), and BSF BSR
//! including a zero source.
//!
//! Defined flags: BT* set CF to the selected bit and leave ZF alone (OF SF AF PF undefined);
//! BSF/BSR set ZF when the source is zero (the destination is then undefined and not checked;
//! CF OF SF AF PF undefined). A register or immediate bit offset is taken modulo the operand
//! size; a register offset with a memory operand selects a word/dword further away.

use super::flag::*;
use super::{set_flags, SCRATCH};
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

type Emit = fn(&mut CodeAssembler) -> Result<(), IcedError>;

/// The memory the bit tests address: bit 0 of the dword at `M` is bit offset 0.
const M: u32 = SCRATCH + 0x100;

/// EAX = `x`, ECX = `y`, flags all set or all clear, `op`; checks the defined flags (`ZF` for BSF/BSR,
/// otherwise CF and the untouched ZF) and EAX.
#[allow(clippy::too_many_arguments)]
fn case(
    rom: &mut RomBuilder,
    name: &str,
    x: u32,
    y: u32,
    all_set: bool,
    op: Emit,
    want: Option<u32>,
    mask: u16,
    flags: u16,
) -> Result<(), RomError> {
    rom.a.mov(eax, x)?;
    rom.a.mov(ecx, y)?;
    set_flags(&mut rom.a, if all_set { STATUS | FIXED } else { FIXED })?;
    op(&mut rom.a)?;
    rom.check_flags(&format!("{name} flags"), mask, flags)?;
    if let Some(w) = want {
        rom.check_reg32(name, eax, w)?;
    }
    Ok(())
}

/// Builds the bit instructions ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("bits: BT BTS BTR BTC BSF BSR\n")?;
    let r = &mut rom;
    let bt = CF | ZF;
    // Register operands: the offset is taken modulo 16 or 32.
    case(r, "bt ax,cx 4", 0x0010, 4, false, |a| a.bt(ax, cx), Some(0x10), bt, CF)?;
    case(r, "bt ax,cx 20", 0x0010, 20, true, |a| a.bt(ax, cx), Some(0x10), bt, CF | ZF)?;
    case(r, "bt ax,cx 5", 0x0010, 5, true, |a| a.bt(ax, cx), Some(0x10), bt, ZF)?;
    case(r, "bt eax,ecx 63", 0x8000_0000, 63, false, |a| a.bt(eax, ecx), Some(0x8000_0000), bt, CF)?;
    case(r, "bts ax,cx 19", 0xaaaa_0000, 0x13, false, |a| a.bts(ax, cx), Some(0xaaaa_0008), bt, 0)?;
    case(r, "btr eax,ecx 0", 0xffff_ffff, 0, false, |a| a.btr(eax, ecx), Some(0xffff_fffe), bt, CF)?;
    case(r, "btc ax,cx 7", 0x00ff, 7, true, |a| a.btc(ax, cx), Some(0x007f), bt, CF | ZF)?;
    case(r, "btc eax,ecx 33", 0, 0x21, true, |a| a.btc(eax, ecx), Some(2), bt, ZF)?;
    // Immediate offsets, also modulo the operand size.
    case(r, "bt ax,19", 0x0008, 0, false, |a| a.bt(ax, 0x13u32), Some(8), bt, CF)?;
    case(r, "bts eax,36", 0, 0, false, |a| a.bts(eax, 0x24u32), Some(0x10), bt, 0)?;
    case(r, "btr ax,15", 0x8000, 0, true, |a| a.btr(ax, 15u32), Some(0), bt, CF | ZF)?;
    case(r, "btc eax,31", 0x8000_0000, 0, false, |a| a.btc(eax, 31u32), Some(0), bt, CF)?;

    // Memory: dwords at M-4, M, M+4, M+8, M+12.
    for (at, v) in
        [(M - 4, 0x8000_0000u32), (M, 0x0002_0001), (M + 4, 0x0000_0008), (M + 8, 0), (M + 12, 0), (M + 0xffc, 0)]
    {
        rom.a.mov(dword_ptr(at).es(), v)?;
    }
    let r = &mut rom;
    // A register offset reaches beyond the operand: bit 35 is bit 3 of the dword at M+4.
    case(r, "bt m32,eax 35", 35, 0, false, |a| a.bt(dword_ptr(M).es(), eax), None, bt, CF)?;
    // Bit -1 is bit 31 of the dword at M-4.
    case(r, "bt m32,eax -1", 0xffff_ffff, 0, false, |a| a.bt(dword_ptr(M).es(), eax), None, bt, CF)?;
    // Word operand: bit 17 is bit 1 of the word at M+2.
    case(r, "bt m16,ax 17", 17, 0, true, |a| a.bt(word_ptr(M).es(), ax), None, bt, CF | ZF)?;
    // Bit -16 is bit 0 of the word at M-2 (0x8000).
    case(r, "bt m16,ax -16", 0xfff0, 0, false, |a| a.bt(word_ptr(M).es(), ax), None, bt, 0)?;
    case(r, "bt m16,ax -1", 0xffff, 0, false, |a| a.bt(word_ptr(M).es(), ax), None, bt, CF)?;
    // BTS bit 100: bit 4 of the dword at M+12.
    case(r, "bts m32,eax 100", 100, 0, false, |a| a.bts(dword_ptr(M).es(), eax), None, bt, 0)?;
    rom.check_mem32("bts m32,eax 100 sets M+12 bit 4", M + 12, 0x10)?;
    rom.check_mem32("bts m32,eax 100 leaves M", M, 0x0002_0001)?;
    // BTR bit -1 of a word: bit 15 of the word at M-2.
    case(&mut rom, "btr m16,ax -1", 0xffff, 0, false, |a| a.btr(word_ptr(M).es(), ax), None, bt, CF)?;
    rom.check_mem32("btr m16,ax -1 clears M-4 bit 31", M - 4, 0)?;
    // BTC bit -32: bit 0 of the dword at M-4.
    case(&mut rom, "btc m32,eax -32", 0xffff_ffe0, 0, true, |a| a.btc(dword_ptr(M).es(), eax), None, bt, ZF)?;
    rom.check_mem32("btc m32,eax -32 sets M-4 bit 0", M - 4, 1)?;
    // BTS with a 16-bit offset 0x7FFF reaches 0x7FF words (0xFFE bytes) ahead, and stays in segment.
    case(&mut rom, "bts m16,cx 7fff", 0, 0x7fff, false, |a| a.bts(word_ptr(M).es(), cx), None, bt, 0)?;
    rom.check_mem16("bts m16,cx 7fff sets bit 15 at M+ffe", M + 0xffe, 0x8000)?;
    // An immediate offset with a memory operand stays within the operand (modulo its size).
    case(&mut rom, "bt m16,17", 0, 0, false, |a| a.bt(word_ptr(M).es(), 17u32), None, bt, 0)?;
    case(&mut rom, "bt m16,16", 0, 0, false, |a| a.bt(word_ptr(M).es(), 16u32), None, bt, CF)?;
    case(&mut rom, "bts m32,35", 0, 0, false, |a| a.bts(dword_ptr(M).es(), 0x23u32), None, bt, 0)?;
    rom.check_mem32("bts m32,35 sets M bit 3", M, 0x0002_0009)?;
    case(&mut rom, "btr m32,17", 0, 0, true, |a| a.btr(dword_ptr(M).es(), 17u32), None, bt, CF | ZF)?;
    rom.check_mem32("btr m32,17 clears M bit 17", M, 0x0000_0009)?;
    case(&mut rom, "btc m16,0", 0, 0, false, |a| a.btc(word_ptr(M).es(), 0u32), None, bt, CF)?;
    rom.check_mem32("btc m16,0 clears M bit 0", M, 0x0000_0008)?;

    // BSF / BSR: ZF only.
    let r = &mut rom;
    case(r, "bsf ax,cx 0100", 0xaaaa_5555, 0x0100, true, |a| a.bsf(ax, cx), Some(0xaaaa_0008), ZF, 0)?;
    case(r, "bsr ax,cx 0101", 0xaaaa_5555, 0x0101, true, |a| a.bsr(ax, cx), Some(0xaaaa_0008), ZF, 0)?;
    case(r, "bsf eax,ecx 80000000", 0, 0x8000_0000, false, |a| a.bsf(eax, ecx), Some(31), ZF, 0)?;
    case(r, "bsr eax,ecx 1", 0x1234, 1, true, |a| a.bsr(eax, ecx), Some(0), ZF, 0)?;
    case(r, "bsr eax,ecx ffffffff", 0, 0xffff_ffff, false, |a| a.bsr(eax, ecx), Some(31), ZF, 0)?;
    case(r, "bsf eax,ecx 6", 0, 6, false, |a| a.bsf(eax, ecx), Some(1), ZF, 0)?;
    case(r, "bsf ax,cx 0", 0x1234, 0, false, |a| a.bsf(ax, cx), None, ZF, ZF)?;
    case(r, "bsr eax,ecx 0", 0x1234, 0, false, |a| a.bsr(eax, ecx), None, ZF, ZF)?;
    // Memory sources: M holds 0x00000008.
    case(r, "bsf eax,m32", 0, 0, true, |a| a.bsf(eax, dword_ptr(M).es()), Some(3), ZF, 0)?;
    case(r, "bsr ax,m16", 0, 0, true, |a| a.bsr(ax, word_ptr(M + 2).es()), None, ZF, ZF)?;
    rom.finish()
}
