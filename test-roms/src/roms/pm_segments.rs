//! Protected-mode segmentation: entering protected mode through a GDT, segment loads with their
//! descriptor caches (base, limit, accessed bit), and the faults segment checks raise, with their
//! error codes: #GP for limits, types, selectors past the GDT; #NP; #SS; expand-down limits;
//! LAR LSL VERR VERW.

use super::pm::{desc, exc, Pm, CODE32, DATA32, GDT};
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

const BASED: u16 = 0x50; // data, base 0x10000, limit 0xFFF, not yet accessed
const ABSENT: u16 = 0x58; // data, not present
const XONLY: u16 = 0x60; // execute-only code
const RONLY: u16 = 0x68; // read-only data
const DOWN: u16 = 0x70; // expand-down, 32-bit, limit 0xFFF
const STACK: u16 = 0x78; // writable, limit 0x7FFF, big

pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("pm_segments: GDT, segment loads and limits, #GP #NP #SS error codes\n")?;
    let mut pm = Pm::new(&mut rom)?;
    pm.gdt(BASED, desc(0x1_0000, 0xfff, 0x92, 0x4));
    pm.gdt(ABSENT, desc(0, 0xfffff, 0x13, 0xc));
    pm.gdt(XONLY, desc(0, 0xfffff, 0x99, 0xc));
    pm.gdt(RONLY, desc(0, 0xfffff, 0x91, 0xc));
    pm.gdt(DOWN, desc(0, 0xfff, 0x97, 0x4));
    pm.gdt(STACK, desc(0, 0x7fff, 0x93, 0x4));

    pm.a.mov(eax, cs)?;
    pm.eq32("CS is the GDT's code selector", eax, CODE32 as u32)?;
    pm.a.mov(eax, ds)?;
    pm.eq32("DS is the GDT's data selector", eax, DATA32 as u32)?;
    // A based segment: offset 0x10 is linear 0x10010; the load sets the accessed bit.
    pm.a.mov(dword_ptr(0x1_0010), 0x1234_5678u32)?;
    pm.a.mov(eax, BASED as u32)?;
    pm.a.mov(fs, eax)?;
    pm.a.mov(eax, dword_ptr(0x10).fs())?;
    pm.eq32("a segment's base applies", eax, 0x1234_5678)?;
    pm.a.movzx(eax, byte_ptr(GDT + BASED as u32 + 5))?;
    pm.eq32("loading a segment sets its accessed bit", eax, 0x93)?;
    pm.a.mov(eax, dword_ptr(0xffc).fs())?;
    pm.expect_fault("access past a data segment's limit", 13, Some(0), |a| a.mov(eax, dword_ptr(0xffe).fs()))?;
    pm.expect_fault("loading a not-present segment", 11, Some(ABSENT as u32), |a| {
        a.mov(eax, ABSENT as u32)?;
        a.mov(es, eax)
    })?;
    pm.expect_fault("loading execute-only code into DS", 13, Some(XONLY as u32), |a| {
        a.mov(eax, XONLY as u32)?;
        a.mov(gs, eax)
    })?;
    pm.expect_fault("a selector past the GDT limit", 13, Some(0x1f8), |a| {
        a.mov(eax, 0x1f8u32)?;
        a.mov(gs, eax)
    })?;
    pm.expect_fault("read-only data into SS", 13, Some(RONLY as u32), |a| {
        a.mov(eax, RONLY as u32)?;
        a.mov(ss, eax)
    })?;
    pm.expect_fault("a write to read-only data", 13, Some(0), |a| {
        a.mov(eax, RONLY as u32)?;
        a.mov(gs, eax)?;
        a.mov(dword_ptr(0x100).gs(), eax)
    })?;
    pm.expect_fault("a null selector used", 13, Some(0), |a| {
        a.xor(eax, eax)?;
        a.mov(gs, eax)?;
        a.mov(eax, dword_ptr(0x100).gs())
    })?;
    // Expand-down: offsets above the limit are valid, those at or below it fault.
    pm.a.mov(eax, DOWN as u32)?;
    pm.a.mov(gs, eax)?;
    pm.a.mov(dword_ptr(0x2000).gs(), 0x55aau32)?;
    pm.mem32("an expand-down segment above its limit", 0x2000, 0x55aa)?;
    pm.expect_fault("an expand-down segment at its limit", 13, Some(0), |a| a.mov(eax, dword_ptr(0x800).gs()))?;
    // Stack segment limit: #SS(0).
    pm.a.mov(ebx, esp)?;
    pm.a.mov(eax, STACK as u32)?;
    pm.a.mov(ss, eax)?;
    pm.expect_fault("SS past its limit", 12, Some(0), |a| a.mov(eax, dword_ptr(ebx + 0x2_0000).ss()))?;
    pm.a.mov(eax, DATA32 as u32)?;
    pm.a.mov(ss, eax)?;
    pm.mem32("no exceptions outside the expected ones", exc::COUNT, 1)?;
    // LSL LAR VERR VERW.
    pm.a.mov(ecx, BASED as u32)?;
    pm.a.lsl(eax, ecx)?;
    pm.check("LSL sets ZF for a valid selector", |a, l| a.je(l))?;
    pm.eq32("LSL gives the byte limit", eax, 0xfff)?;
    pm.a.mov(ecx, DATA32 as u32)?;
    pm.a.lsl(eax, ecx)?;
    pm.eq32("LSL scales a page-granular limit", eax, 0xffff_ffff)?;
    pm.a.lar(eax, ecx)?;
    pm.a.and(eax, 0x00f0_ff00u32)?; // bits 16-19 are undefined
    pm.eq32("LAR gives the access rights", eax, 0x00c0_9300)?;
    pm.a.mov(ecx, 0x1f8u32)?;
    pm.a.mov(eax, 0x1111u32)?;
    pm.a.lar(eax, ecx)?;
    pm.check("LAR clears ZF past the GDT", |a, l| a.jne(l))?;
    pm.eq32("LAR leaves the destination on failure", eax, 0x1111)?;
    pm.a.mov(ecx, XONLY as u32)?;
    pm.a.verr(cx)?;
    pm.check("VERR: execute-only code is not readable", |a, l| a.jne(l))?;
    pm.a.mov(ecx, RONLY as u32)?;
    pm.a.verr(cx)?;
    pm.check("VERR: read-only data is readable", |a, l| a.je(l))?;
    pm.a.verw(cx)?;
    pm.check("VERW: read-only data is not writable", |a, l| a.jne(l))?;
    pm.finish(rom)
}
