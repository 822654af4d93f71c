//! Exceptions in real mode, each through an IVT handler that records it and skips the faulting
//! instruction: #UD (vector 6) from UD2, from an undefined opcode and from LDS with a register
//! operand; #DE (vector 0); #GP (vector 13) from a word or dword access that runs past offset
//! 0xFFFF of a data segment, and #SS (vector 12) from the same through SS. Faults push the
//! address of the faulting instruction. Also CPUID's vendor string and RDTSC counting up.

use super::{arm_recorder, exc, expect_exception, install_recorder, Kind, SCRATCH};
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

/// Builds the exceptions ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("exceptions: #UD #DE #GP #SS CPUID RDTSC\n")?;
    for v in [0, 6, 12, 13] {
        install_recorder(&mut rom, v)?;
    }
    // #UD.
    rom.a.mov(eax, 0x1234_5678u32)?;
    expect_exception(&mut rom, "ud2 #UD", 6, Kind::Fault, |a| a.ud2())?;
    rom.check_reg32("ud2 changes nothing", eax, 0x1234_5678)?;
    expect_exception(&mut rom, "0f ff #UD", 6, Kind::Fault, |a| a.db(&[0x0f, 0xff]))?;
    expect_exception(&mut rom, "0f 04 #UD", 6, Kind::Fault, |a| a.db(&[0x0f, 0x04]))?;
    expect_exception(&mut rom, "lds ax,bx #UD", 6, Kind::Fault, |a| a.db(&[0xc5, 0xc3]))?;
    expect_exception(&mut rom, "lock nop #UD", 6, Kind::Fault, |a| a.db(&[0xf0, 0x90]))?;
    // #DE.
    rom.a.mov(ax, 0x0100u32)?;
    rom.a.mov(bl, 0u32)?;
    expect_exception(&mut rom, "div by 0 #DE", 0, Kind::Fault, |a| a.div(bl))?;
    rom.check_reg16("#DE leaves ax", ax, 0x0100)?;

    // Real-mode segment limit 0xFFFF: a byte at 0xFFFF is fine, a word or dword running past it
    // is #GP (DS, ES, ...) or #SS (SS).
    arm_recorder(&mut rom.a, 0)?;
    rom.a.mov(bx, 0xffffu32)?;
    rom.a.mov(al, byte_ptr(bx))?;
    rom.a.mov(byte_ptr(bx).es(), al)?;
    rom.a.mov(ax, word_ptr(0xfffeu32).es())?;
    rom.a.cmp(word_ptr(exc::COUNT).ss(), 0u32)?;
    rom.check("byte at ffff, word at fffe: no fault", |a, ok| a.je(ok))?;
    rom.a.mov(word_ptr(SCRATCH).es(), 0x1234u32)?;
    rom.a.mov(ax, 0x5555u32)?;
    expect_exception(&mut rom, "mov ax,[ffff] #GP", 13, Kind::Fault, |a| a.mov(ax, word_ptr(bx)))?;
    rom.check_reg16("#GP load leaves ax", ax, 0x5555)?;
    expect_exception(&mut rom, "mov es:[ffff],ax #GP", 13, Kind::Fault, |a| a.mov(word_ptr(bx).es(), ax))?;
    rom.a.mov(esi, 0xfffdu32)?;
    expect_exception(&mut rom, "mov eax,[esi=fffd] #GP", 13, Kind::Fault, |a| a.mov(eax, dword_ptr(esi).es()))?;
    expect_exception(&mut rom, "inc word es:[ffff] #GP", 13, Kind::Fault, |a| a.inc(word_ptr(bx).es()))?;
    rom.a.mov(bp, 0xffffu32)?;
    expect_exception(&mut rom, "mov ax,[bp=ffff] #SS", 12, Kind::Fault, |a| a.mov(ax, word_ptr(bp)))?;

    // CPUID leaf 0: the highest leaf and "GenuineIntel" in EBX, EDX, ECX.
    let a = &mut rom.a;
    a.xor(eax, eax)?;
    a.cpuid()?;
    rom.check_reg32("cpuid vendor ebx", ebx, u32::from_le_bytes(*b"Genu"))?;
    rom.check_reg32("cpuid vendor edx", edx, u32::from_le_bytes(*b"ineI"))?;
    rom.check_reg32("cpuid vendor ecx", ecx, u32::from_le_bytes(*b"ntel"))?;
    rom.a.cmp(eax, 1u32)?;
    rom.check("cpuid max leaf >= 1", |a, ok| a.jae(ok))?;
    // RDTSC: a second reading is larger than the first.
    let a = &mut rom.a;
    a.rdtsc()?;
    a.mov(esi, eax)?;
    a.mov(edi, edx)?;
    for _ in 0..10 {
        a.nop()?;
    }
    a.rdtsc()?;
    a.sub(eax, esi)?;
    a.sbb(edx, edi)?;
    rom.check("rdtsc does not go backwards", |a, ok| a.jae(ok))?;
    rom.a.or(eax, edx)?;
    rom.check("rdtsc moves on", |a, ok| a.jne(ok))?;
    rom.finish()
}
