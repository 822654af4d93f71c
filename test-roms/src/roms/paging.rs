//! Paging: 2-level tables with 4 KiB pages and a PSE 4 MiB page, accessed and dirty bits written
//! by the walk, #PF error codes and CR2 for not-present pages and for writes to read-only pages
//! (CR0.WP), and INVLPG after changing a PTE.

use super::pm::{exc, Pm};
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

const PD: u32 = 0x10_0000;
const PT: u32 = 0x10_1000;
/// Linear pages the checks use (all in the first 4 MiB, mapped by PT).
const ALIAS: u32 = 0x30000; // -> phys 0x800000 (the 4 MiB page's first frame)
const READ: u32 = 0x31000; // identity, only read
const ABSENT: u32 = 0x32000; // not present
const RONLY: u32 = 0x33000; // read-only
const MOVING: u32 = 0x34000; // -> 0x35000, then 0x36000
const PSE_LIN: u32 = 0x40_0000; // PDE 1: 4 MiB page at phys 8 MiB

fn pte(lin: u32) -> u32 {
    PT + 4 * (lin >> 12)
}

pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("paging: page walk, PSE, A/D bits, #PF error codes and CR2, CR0.WP, INVLPG\n")?;
    let mut pm = Pm::new(&mut rom)?;
    let a = &mut pm.a;
    // Identity-map the first 4 MiB (present, writable), then the special pages.
    a.cld()?;
    a.mov(edi, PT)?;
    a.mov(eax, 3u32)?;
    a.mov(ecx, 1024u32)?;
    let mut fill = a.create_label();
    a.set_label(&mut fill)?;
    a.stosd()?;
    a.add(eax, 0x1000u32)?;
    a.loop_(fill)?;
    a.mov(dword_ptr(PD), PT | 3)?;
    a.mov(dword_ptr(PD + 4), 0x80_0000u32 | 0x83)?; // PS, RW, P
    a.mov(dword_ptr(pte(ALIAS)), 0x80_0000u32 | 3)?;
    a.mov(dword_ptr(pte(ABSENT)), 0u32)?;
    a.mov(dword_ptr(pte(RONLY)), RONLY | 1)?;
    a.mov(dword_ptr(pte(MOVING)), 0x35000u32 | 3)?;
    a.mov(dword_ptr(0x35000), 0xaaaa_aaaau32)?;
    a.mov(dword_ptr(0x36000), 0xbbbb_bbbbu32)?;
    a.mov(eax, cr4)?;
    a.or(eax, 0x10u32)?; // PSE
    a.mov(cr4, eax)?;
    a.mov(eax, PD)?;
    a.mov(cr3, eax)?;
    a.mov(eax, cr0)?;
    a.or(eax, 0x8001_0000u32)?; // PG, WP
    a.mov(cr0, eax)?;
    // Through the 4 MiB page, read back through the 4 KiB alias of the same frame.
    pm.a.mov(dword_ptr(PSE_LIN + 0x10), 0x600d_f00du32)?;
    pm.mem32("a PSE 4 MiB page and a 4 KiB page alias one frame", ALIAS + 0x10, 0x600d_f00d)?;
    pm.a.mov(eax, dword_ptr(PD + 4))?;
    pm.a.and(eax, 0x60u32)?;
    pm.eq32("a write through a 4 MiB page sets its A and D bits", eax, 0x60)?;
    pm.a.mov(eax, dword_ptr(READ))?;
    pm.a.mov(eax, dword_ptr(pte(READ)))?;
    pm.a.and(eax, 0x60u32)?;
    pm.eq32("a read sets A only", eax, 0x20)?;
    pm.a.mov(eax, dword_ptr(pte(ALIAS)))?;
    pm.a.and(eax, 0x60u32)?;
    pm.eq32("a read through a clean PTE leaves D clear", eax, 0x20)?;
    pm.a.mov(dword_ptr(ALIAS + 0x20), eax)?;
    pm.a.invlpg(ptr(ALIAS))?;
    pm.a.mov(eax, dword_ptr(pte(ALIAS)))?;
    pm.a.and(eax, 0x60u32)?;
    pm.eq32("a write sets D", eax, 0x60)?;
    // #PF.
    pm.expect_fault("a read from a not-present page", 14, Some(0), |a| a.mov(eax, dword_ptr(ABSENT + 4)))?;
    pm.a.mov(eax, cr2)?;
    pm.eq32("CR2 holds the faulting address (read)", eax, ABSENT + 4)?;
    pm.expect_fault("a write to a not-present page", 14, Some(2), |a| a.mov(dword_ptr(ABSENT + 8), eax))?;
    pm.a.mov(eax, cr2)?;
    pm.eq32("CR2 holds the faulting address (write)", eax, ABSENT + 8)?;
    pm.expect_fault("a ring-0 write to a read-only page with CR0.WP", 14, Some(3), |a| a.mov(dword_ptr(RONLY), 1u32))?;
    pm.a.mov(eax, cr0)?;
    pm.a.and(eax, 0xfffe_ffffu32)?;
    pm.a.mov(cr0, eax)?;
    pm.a.mov(dword_ptr(RONLY), 0x77u32)?;
    pm.mem32("without CR0.WP ring 0 writes a read-only page", RONLY, 0x77)?;
    // INVLPG after moving a PTE.
    pm.a.mov(eax, dword_ptr(MOVING))?;
    pm.eq32("a PTE maps its frame", eax, 0xaaaa_aaaa)?;
    pm.a.mov(dword_ptr(pte(MOVING)), 0x36000u32 | 3)?;
    pm.a.invlpg(ptr(MOVING))?;
    pm.a.mov(eax, dword_ptr(MOVING))?;
    pm.eq32("after INVLPG the new PTE applies", eax, 0xbbbb_bbbb)?;
    pm.mem32("no other exceptions", exc::COUNT, 1)?;
    pm.finish(rom)
}
