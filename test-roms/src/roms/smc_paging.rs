//! Self-modifying code through aliased virtual pages: with paging on (16-bit protected mode),
//! linear pages W = 0x20000 and X = 0x21000 map the same frame 0x22000. Code is written through
//! W and run through X (a code segment based at 0x20000, so X is offset 0x1000); then new code
//! is written through W, whose TLB entry was filled before the frame held translated code, and
//! run through X again: it must be the new code.
//!
//! Tables (physical, in RAM): page directory 0x8000, page table 0x9000 (the first MiB
//! identity-mapped, plus the two aliases), GDT 0x3000. The ROM returns to real mode before its
//! checks.

use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

const PD: u32 = 0x8000;
const PT: u32 = 0x9000;
const GDT: u32 = 0x3000;
const GDTR: u32 = 0x3040;
const FRAME: u32 = 0x22000;
const W: u32 = 0x20000;
/// Results: AL after the first and second run through X.
const RESULT: u32 = 0x0600;

/// `mov al, n; retf` as a dword.
fn code(n: u8) -> u32 {
    u32::from_le_bytes([0xb0, n, 0xcb, 0x90])
}

/// Builds the aliased-pages SMC ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("smc_paging: write through one virtual page, execute through an alias\n")?;

    // The protected-mode part, called far through selector 0x08 (code, base F0000).
    let pm = rom.routine(|a| {
        a.mov(ax, 0x10u32)?; // flat data, 4 GiB
        a.mov(es, ax)?;
        a.mov(ebx, W)?;
        a.mov(dword_ptr(ebx).es(), code(1))?;
        a.call_far(0x18, 0x1000)?; // run through X
        a.mov(byte_ptr(RESULT).es(), al)?;
        a.mov(dword_ptr(ebx).es(), code(2))?; // write through W again
        a.call_far(0x18, 0x1000)?;
        a.mov(byte_ptr(RESULT + 1).es(), al)?;
        // Back to real mode; the far return reloads CS with F000.
        a.mov(eax, cr0)?;
        a.and(eax, 0x7fff_fffeu32)?;
        a.mov(cr0, eax)?;
        a.xor(ax, ax)?;
        a.mov(es, ax)?;
        a.retf()
    })?;

    let a = &mut rom.a;
    a.cld()?;
    // Page directory: one table; page table: identity for the first MiB, W and X on FRAME.
    a.xor(eax, eax)?;
    a.mov(di, PD)?;
    a.mov(cx, 2048u32)?; // PD and PT
    a.rep().stosd()?;
    a.mov(dword_ptr(PD).es(), PT | 3)?;
    a.mov(eax, 3u32)?;
    a.mov(di, PT)?;
    a.mov(cx, 256u32)?;
    let mut fill = a.create_label();
    a.set_label(&mut fill)?;
    a.stosd()?;
    a.add(eax, 0x1000u32)?;
    a.loop_(fill)?;
    a.mov(dword_ptr(PT + 4 * (W >> 12)).es(), FRAME | 3)?;
    a.mov(dword_ptr(PT + 4 * ((W >> 12) + 1)).es(), FRAME | 3)?;
    // GDT: null; 08 code16 base F0000; 10 data flat 4 GiB; 18 code16 base 0x20000.
    for (i, d) in [0u64, 0x0000_9b0f_0000_ffff, 0x00cf_9300_0000_ffff, 0x0000_9b02_0000_ffff].into_iter().enumerate() {
        a.mov(dword_ptr(GDT + 8 * i as u32).es(), d as u32)?;
        a.mov(dword_ptr(GDT + 8 * i as u32 + 4).es(), (d >> 32) as u32)?;
    }
    a.mov(word_ptr(GDTR).es(), 31u32)?;
    a.mov(dword_ptr(GDTR + 2).es(), GDT)?;
    a.lgdt(ptr(GDTR).es())?;
    a.mov(byte_ptr(RESULT).es(), 0u32)?;
    a.mov(byte_ptr(RESULT + 1).es(), 0u32)?;
    a.mov(eax, PD)?;
    a.mov(cr3, eax)?;
    a.mov(eax, cr0)?;
    a.or(eax, 0x8000_0001u32)?;
    a.mov(cr0, eax)?;
    a.call_far(0x08, pm)?;
    // Real mode again: DS = CS = F000, ES = 0 as the checks need.
    rom.check_mem8("first code run through the alias", RESULT, 1)?;
    rom.check_mem8("code rewritten through the other alias runs new", RESULT + 1, 2)?;
    rom.a.push(es)?;
    rom.a.mov(ax, FRAME >> 4)?;
    rom.a.mov(es, ax)?;
    rom.a.cmp(dword_ptr(0).es(), code(2))?;
    rom.a.pop(es)?;
    rom.check("the frame holds the new code", |a, ok| a.je(ok))?;
    rom.finish()
}
