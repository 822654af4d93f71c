//! Faults in the middle of a basic block: the instructions before the faulting one have taken
//! effect (registers, the stack, memory, flags), the faulting one has changed nothing (not even
//! part of a store), and the pushed IP is its first byte. A JIT that caches registers in host
//! registers must write them back exactly at the fault.

use super::{expect_exception, install_recorder, Kind, SCRATCH};
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

const S: u32 = SCRATCH + 0x200;

/// Builds the mid-block faults ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("faults: #DE, #GP (load and store) in the middle of a block\n")?;
    install_recorder(&mut rom, 0)?;
    install_recorder(&mut rom, 13)?;

    // #DE after register, memory and flag updates in the same block.
    let a = &mut rom.a;
    a.mov(dword_ptr(S).es(), 0u32)?;
    a.mov(eax, 100u32)?;
    a.mov(ebx, 7u32)?;
    a.add(ebx, eax)?; // 107
    a.xor(ecx, ecx)?;
    a.mov(dword_ptr(S).es(), ebx)?;
    a.inc(esi)?;
    a.mov(esi, 0x1234u32)?;
    a.xor(edx, edx)?;
    expect_exception(&mut rom, "div by zero mid-block", 0, Kind::Fault, |a| a.div(ecx))?;
    rom.check_reg32("#DE: eax untouched", eax, 100)?;
    rom.check_reg32("#DE: ebx from before", ebx, 107)?;
    rom.check_reg32("#DE: esi from before", esi, 0x1234)?;
    rom.check_mem32("#DE: store before it done", S, 107)?;

    // #GP from a word load at offset FFFF, after a PUSH and register updates.
    let a = &mut rom.a;
    a.mov(ax, 0x5555u32)?;
    a.mov(bx, 0xffffu32)?;
    a.mov(dx, sp)?;
    a.push(0x4321u32)?;
    a.add(ax, 0x1111u32)?; // 0x6666
    expect_exception(&mut rom, "#GP load mid-block", 13, Kind::Fault, |a| a.mov(ax, word_ptr(bx).es()))?;
    rom.check_reg16("#GP load: ax from before", ax, 0x6666)?;
    rom.a.pop(cx)?;
    rom.check_reg16("#GP load: the push before it done", cx, 0x4321)?;
    rom.a.cmp(sp, dx)?;
    rom.check("#GP load: sp balanced", |a, ok| a.je(ok))?;

    // #GP from a dword store at offset FFFE: no byte of it is written.
    let a = &mut rom.a;
    a.mov(byte_ptr(0xfffe).es(), 0xaau32)?;
    a.mov(byte_ptr(0xffff).es(), 0xbbu32)?;
    a.mov(eax, 0x1122_3344u32)?;
    a.mov(bx, 0xfffeu32)?;
    a.inc(eax)?;
    expect_exception(&mut rom, "#GP store mid-block", 13, Kind::Fault, |a| a.mov(dword_ptr(bx).es(), eax))?;
    rom.check_mem8("#GP store: byte FFFE unchanged", 0xfffe, 0xaa)?;
    rom.check_mem8("#GP store: byte FFFF unchanged", 0xffff, 0xbb)?;
    rom.check_reg32("#GP store: eax from before", eax, 0x1122_3345)?;
    rom.finish()
}
