//! String instructions: MOVS CMPS STOS LODS SCAS at byte, word and dword size, with REP, REPE
//! and REPNE, forwards and backwards (DF = 1), with 16-bit (SI, DI, CX) and 32-bit (67: ESI,
//! EDI, ECX) addressing, a zero count, and a segment override on the source.
//!
//! Sources are in the ROM (DS = CS), destinations in RAM (ES = 0).

use super::flag::*;
use super::SCRATCH;
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

const S: u32 = SCRATCH;

/// Builds the string instructions ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("string: MOVS CMPS STOS LODS SCAS REP REPE REPNE\n")?;
    let p = rom.data(b"ABCDEFGH");
    let abcd = u32::from_le_bytes(*b"ABCD");
    let efgh = u32::from_le_bytes(*b"EFGH");

    // REP MOVSB forwards.
    let a = &mut rom.a;
    a.cld()?;
    a.mov(esi, 0x0001_0000 | p)?;
    a.mov(edi, S)?;
    a.mov(ecx, 0xffff_0008u32)?;
    a.rep().movsb()?;
    rom.check_mem32("rep movsb (first 4)", S, abcd)?;
    rom.check_mem32("rep movsb (last 4)", S + 4, efgh)?;
    rom.check_reg32("rep movsb: si (a16 keeps upper esi)", esi, 0x0001_0000 | (p + 8))?;
    rom.check_reg32("rep movsb: di", edi, S + 8)?;
    rom.check_reg32("rep movsb: cx (a16 keeps upper ecx)", ecx, 0xffff_0000)?;
    // REP MOVSW backwards: from the last word down.
    let a = &mut rom.a;
    a.std()?;
    a.mov(si, p + 6)?;
    a.mov(di, S + 0x26)?;
    a.mov(cx, 4u32)?;
    a.rep().movsw()?;
    a.cld()?;
    rom.check_mem32("rep movsw df=1 (first 4)", S + 0x20, abcd)?;
    rom.check_mem32("rep movsw df=1 (last 4)", S + 0x24, efgh)?;
    rom.check_reg16("rep movsw df=1: si", si, (p - 2) as u16)?;
    rom.check_reg16("rep movsw df=1: di", di, (S + 0x1e) as u16)?;
    // REP MOVSD with 32-bit addressing.
    let a = &mut rom.a;
    a.mov(esi, p)?;
    a.mov(edi, S + 0x40)?;
    a.mov(ecx, 2u32)?;
    a.db(&[0x67])?;
    a.rep().movsd()?;
    rom.check_mem32("a32 rep movsd (first 4)", S + 0x40, abcd)?;
    rom.check_mem32("a32 rep movsd (last 4)", S + 0x44, efgh)?;
    rom.check_reg32("a32 rep movsd: esi", esi, p + 8)?;
    rom.check_reg32("a32 rep movsd: edi", edi, S + 0x48)?;
    rom.check_reg32("a32 rep movsd: ecx", ecx, 0)?;
    // A segment override moves the source: ES:SI (RAM) instead of DS:SI.
    let a = &mut rom.a;
    a.mov(si, S + 4)?;
    a.mov(di, S + 0x60)?;
    a.mov(cx, 4u32)?;
    a.db(&[0x26])?; // es:
    a.rep().movsb()?;
    rom.check_mem32("es: rep movsb", S + 0x60, efgh)?;
    // REP with CX = 0 does nothing.
    let a = &mut rom.a;
    a.mov(si, p)?;
    a.mov(di, S + 0x60)?;
    a.xor(cx, cx)?;
    a.rep().movsb()?;
    rom.check_mem32("rep movsb cx=0 copies nothing", S + 0x60, efgh)?;
    rom.check_reg16("rep movsb cx=0 leaves si", si, p as u16)?;

    // STOS: REP STOSW forwards, STOSB backwards, STOSD.
    let a = &mut rom.a;
    a.mov(dword_ptr(S + 0xa4).es(), 0u32)?;
    a.mov(di, S + 0xa0)?;
    a.mov(ax, 0x4142u32)?;
    a.mov(cx, 3u32)?;
    a.rep().stosw()?;
    a.std()?;
    a.mov(al, 0x5au32)?;
    a.stosb()?;
    a.stosb()?;
    a.cld()?;
    rom.check_mem32("rep stosw", S + 0xa0, 0x4142_4142)?;
    rom.check_mem32("stosb df=1", S + 0xa4, 0x005a_5a42)?;
    rom.check_reg16("stosb df=1: di", di, (S + 0xa4) as u16)?;
    rom.a.mov(eax, 0x1234_5678u32)?;
    rom.a.mov(di, S + 0xa8)?;
    rom.a.stosd()?;
    rom.check_mem32("stosd", S + 0xa8, 0x1234_5678)?;
    rom.check_reg16("stosd: di", di, (S + 0xac) as u16)?;
    // LODS.
    let a = &mut rom.a;
    a.mov(si, p)?;
    a.lodsw()?;
    a.lodsb()?;
    rom.check_reg16("lodsw lodsb", ax, 0x4243)?;
    rom.check_reg16("lodsw lodsb: si", si, (p + 3) as u16)?;
    rom.a.lodsd()?;
    rom.check_reg32("lodsd", eax, u32::from_le_bytes(*b"DEFG"))?;
    rom.a.std()?;
    rom.a.lodsb()?;
    rom.a.lodsb()?;
    rom.a.cld()?;
    rom.check_reg8("lodsb df=1", al, b'G')?;
    rom.check_reg16("lodsb df=1: si", si, (p + 5) as u16)?;

    // REPE CMPSB: ROM "ABCDEFGH" against RAM "ABCDEXGH" stops after the difference.
    let a = &mut rom.a;
    a.mov(dword_ptr(S + 0xc0).es(), abcd)?;
    a.mov(dword_ptr(S + 0xc4).es(), u32::from_le_bytes(*b"EXGH"))?;
    a.mov(si, p)?;
    a.mov(di, S + 0xc0)?;
    a.mov(cx, 8u32)?;
    a.repe().cmpsb()?;
    // 'F' - 'X' = 0xEE: CF SF AF PF.
    rom.check_flags("repe cmpsb flags", STATUS, CF | SF | AF | PF)?;
    rom.check_reg16("repe cmpsb: cx", cx, 2)?;
    rom.check_reg16("repe cmpsb: si", si, (p + 6) as u16)?;
    rom.check_reg16("repe cmpsb: di", di, (S + 0xc6) as u16)?;
    // REPE CMPSW over equal data runs out with ZF = 1.
    let a = &mut rom.a;
    a.mov(si, p)?;
    a.mov(di, S)?;
    a.mov(cx, 4u32)?;
    a.repe().cmpsw()?;
    rom.check_flags("repe cmpsw equal flags", STATUS, ZF | PF)?;
    rom.check_reg16("repe cmpsw equal: cx", cx, 0)?;
    // REPNE CMPSB stops at the first equal byte.
    let a = &mut rom.a;
    a.mov(dword_ptr(S + 0xd0).es(), u32::from_le_bytes(*b"xyCz"))?;
    a.mov(si, p)?;
    a.mov(di, S + 0xd0)?;
    a.mov(cx, 4u32)?;
    a.repne().cmpsb()?;
    rom.check_flags("repne cmpsb flags", ZF, ZF)?;
    rom.check_reg16("repne cmpsb: cx", cx, 1)?;
    // REPNE SCASB finds 'E'; REPE SCASB skips a run.
    let a = &mut rom.a;
    a.mov(di, S)?;
    a.mov(al, b'E' as u32)?;
    a.mov(cx, 8u32)?;
    a.repne().scasb()?;
    rom.check_flags("repne scasb found", ZF, ZF)?;
    rom.check_reg16("repne scasb: di", di, (S + 5) as u16)?;
    rom.check_reg16("repne scasb: cx", cx, 3)?;
    let a = &mut rom.a;
    a.mov(di, S + 0xa0)?;
    a.mov(ax, 0x4142u32)?;
    a.mov(cx, 8u32)?;
    a.repe().scasw()?;
    // Words 42 41 | 42 41 | 42 5A: the third differs; 0x4142 - 0x5A42 = 0xE700: CF SF PF.
    rom.check_flags("repe scasw mismatch flags", STATUS, CF | SF | PF)?;
    rom.check_reg16("repe scasw: cx", cx, 5)?;
    rom.check_reg16("repe scasw: di", di, (S + 0xa6) as u16)?;
    // SCASD with a 32-bit address, backwards.
    let a = &mut rom.a;
    a.std()?;
    a.mov(edi, S + 0x44)?;
    a.mov(eax, efgh)?;
    a.db(&[0x67])?;
    a.scasd()?;
    a.cld()?;
    rom.check_flags("a32 scasd df=1", ZF, ZF)?;
    rom.check_reg32("a32 scasd df=1: edi", edi, S + 0x40)?;
    rom.finish()
}
