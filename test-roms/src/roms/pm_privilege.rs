//! Privilege levels: to ring 3 by IRET and back by RETF, #GP for privileged instructions and
//! ring-0 selectors at CPL 3, a call gate to ring 0 with the inner stack from the TSS and two
//! parameters copied, and the data segment registers IRET nulls when going outward.

use super::pm::{addr_of, exc, Pm, CODE3, CODE32, DATA3, GDT, STACK0};
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

const GATE: u16 = 0x80; // call gate to ring 0, DPL 3, 2 parameters
const EXIT_GATE: u16 = 0x88; // call gate to ring 0, DPL 3, back to the harness
const STACK3: u32 = 0x5800;
const SEEN: u32 = 0x5c0; // what the gate target saw: 6 dwords

/// Writes a 32-bit call gate to `target` (an address in `reg`) at GDT `sel`.
fn gate(a: &mut CodeAssembler, sel: u16, reg: AsmRegister32, params: u32) -> Result<(), IcedError> {
    let at = GDT + sel as u32;
    a.mov(word_ptr(at), reg_word(reg))?;
    a.mov(word_ptr(at + 2), CODE32 as u32)?;
    a.mov(word_ptr(at + 4), 0xec00 | params)?;
    a.shr(reg, 16)?;
    a.mov(word_ptr(at + 6), reg_word(reg))
}

fn reg_word(r: AsmRegister32) -> AsmRegister16 {
    if r == eax {
        ax
    } else {
        bx
    }
}

pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("pm_privilege: ring 3 by IRET, call gates with parameters, #GP at CPL 3\n")?;
    let mut pm = Pm::new(&mut rom)?;
    let (mut ring3, mut target, mut back0) = (pm.a.create_label(), pm.a.create_label(), pm.a.create_label());
    addr_of(&mut pm.a, eax, target)?;
    gate(&mut pm.a, GATE, eax, 2)?;
    addr_of(&mut pm.a, eax, back0)?;
    gate(&mut pm.a, EXIT_GATE, eax, 0)?;
    pm.a.mov(dword_ptr(exc::SAVED_ESP), esp)?;
    // IRET to ring 3.
    addr_of(&mut pm.a, ebx, ring3)?;
    pm.a.push(DATA3 as u32)?;
    pm.a.push(STACK3)?;
    pm.a.push(2u32)?; // EFLAGS: IOPL 0, IF 0
    pm.a.push(CODE3 as u32)?;
    pm.a.push(ebx)?;
    pm.a.iretd()?;

    // Ring 3.
    pm.a.set_label(&mut ring3)?;
    pm.a.mov(eax, cs)?;
    pm.eq32("IRET to ring 3: CS", eax, CODE3 as u32)?;
    pm.a.mov(eax, ss)?;
    pm.eq32("IRET to ring 3: SS", eax, DATA3 as u32)?;
    pm.a.cmp(esp, STACK3)?;
    pm.check("IRET to ring 3: ESP", |a, l| a.je(l))?;
    pm.a.mov(eax, ds)?;
    pm.eq32("IRET outward nulls DS (DPL 0 < CPL 3)", eax, 0)?;
    pm.a.mov(eax, DATA3 as u32)?;
    pm.a.mov(ds, eax)?;
    pm.a.mov(es, eax)?;
    pm.expect_fault("CLI at CPL 3 with IOPL 0", 13, Some(0), |a| a.cli())?;
    pm.expect_fault("HLT at CPL 3", 13, Some(0), |a| a.hlt())?;
    pm.expect_fault("MOV from CR0 at CPL 3", 13, Some(0), |a| a.mov(eax, cr0))?;
    pm.expect_fault("LGDT at CPL 3", 13, Some(0), |a| a.lgdt(ptr(0x100u32)))?;
    pm.expect_fault("IN at CPL 3 with IOPL 0", 13, Some(0), |a| a.in_(al, 0x80u32))?;
    pm.expect_fault("loading a DPL-0 data segment at CPL 3", 13, Some(0x10), |a| {
        a.mov(eax, 0x10u32)?;
        a.mov(fs, eax)
    })?;
    // Through the call gate: two parameters.
    pm.a.mov(ebp, esp)?;
    pm.a.push(0x1111_1111u32)?;
    pm.a.push(0x2222_2222u32)?;
    pm.a.call_far(GATE | 3, 0)?;
    pm.a.mov(eax, cs)?;
    pm.eq32("RETF from the gate back to ring 3", eax, CODE3 as u32)?;
    pm.a.cmp(esp, ebp)?;
    pm.check("RETF n pops the parameters from the outer stack", |a, l| a.je(l))?;
    pm.mem32("gate: return CS pushed", SEEN + 4, CODE3 as u32)?;
    pm.mem32("gate: first parameter copied", SEEN + 8, 0x2222_2222)?;
    pm.mem32("gate: second parameter copied", SEEN + 12, 0x1111_1111)?;
    pm.mem32("gate: outer SS pushed", SEEN + 20, DATA3 as u32)?;
    pm.mem32("gate: inner stack from the TSS", SEEN + 24, STACK0 - 24)?;
    pm.mem32("gate: runs at CPL 0", SEEN + 28, CODE32 as u32)?;
    pm.a.call_far(EXIT_GATE | 3, 0)?;

    // The gate target (ring 0): record the frame, return.
    pm.a.set_label(&mut target)?;
    for i in 0..6u32 {
        pm.a.mov(eax, dword_ptr(esp + 4 * i))?;
        pm.a.mov(dword_ptr(SEEN + 4 * i).ss(), eax)?;
    }
    pm.a.mov(dword_ptr(SEEN + 24).ss(), esp)?;
    pm.a.mov(eax, cs)?;
    pm.a.mov(dword_ptr(SEEN + 28).ss(), eax)?;
    pm.a.retf_1(8)?;

    // Back in ring 0 for good.
    pm.a.set_label(&mut back0)?;
    pm.a.mov(eax, 0x10u32)?;
    pm.a.mov(ds, eax)?;
    pm.a.mov(es, eax)?;
    pm.a.mov(fs, eax)?;
    pm.a.mov(esp, dword_ptr(exc::SAVED_ESP).ss())?;
    pm.finish(rom)
}
