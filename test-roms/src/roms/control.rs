//! Control transfer: JMP and CALL near (rel8, rel16, register, memory) and far (direct, memory),
//! RET and RETF with and without an immediate, Jcc for all sixteen conditions taken and not taken
//! in both the rel8 and rel16 encodings, LOOP LOOPE LOOPNE (16- and 32-bit counters), JCXZ
//! JECXZ, INT n and IRET through a handler installed in the IVT, INT3, INTO, and BOUND → #BR.

use super::flag::*;
use super::SCRATCH;
use super::{arm_recorder, exc, expect_exception, install_recorder, set_flags, Kind, CONDITION_CASES, CONDITION_NAMES};
use crate::rom::{RomBuilder, RomError, ROM_SEGMENT};
use iced_x86::code_asm::*;

/// Builds the control transfer ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("control: JMP CALL RET Jcc LOOP JCXZ INT IRET INT3 INTO BOUND\n")?;
    near(&mut rom)?;
    far(&mut rom)?;
    conditions(&mut rom)?;
    loops(&mut rom)?;
    interrupts(&mut rom)?;
    rom.finish()
}

fn near(rom: &mut RomBuilder) -> Result<(), RomError> {
    // JMP rel8 and rel16 (over more than 127 bytes).
    let a = &mut rom.a;
    a.mov(bl, 1u32)?;
    let mut l1 = a.create_label();
    a.jmp(l1)?;
    a.mov(bl, 0u32)?;
    a.set_label(&mut l1)?;
    a.nop()?;
    rom.check_reg8("jmp rel8", bl, 1)?;
    let a = &mut rom.a;
    let mut l2 = a.create_label();
    a.jmp(l2)?;
    a.mov(bl, 0u32)?;
    a.db(&[0x90; 200])?;
    a.set_label(&mut l2)?;
    a.nop()?;
    rom.check_reg8("jmp rel16", bl, 1)?;

    // JMP r16 / m16 and CALL r16 / m16 to a target whose offset the code learns at run time:
    // `call over` pushes the target's offset.
    for (i, name) in ["jmp r16", "jmp m16", "call r16", "call m16"].into_iter().enumerate() {
        let a = &mut rom.a;
        let (mut over, mut done) = (a.create_label(), a.create_label());
        a.call(over)?;
        // The target: BL = 0x5a, then back.
        a.mov(bl, 0x5au32)?;
        if i < 2 {
            a.jmp(done)?;
        } else {
            a.ret()?;
        }
        a.set_label(&mut over)?;
        a.pop(si)?;
        a.mov(bl, 0u32)?;
        a.mov(word_ptr(SCRATCH).es(), si)?;
        a.mov(dx, sp)?;
        match i {
            0 => a.jmp(si)?,
            1 => a.jmp(word_ptr(SCRATCH).es())?,
            2 => a.call(si)?,
            _ => a.call(word_ptr(SCRATCH).es())?,
        }
        a.set_label(&mut done)?;
        a.nop()?;
        rom.check_reg8(name, bl, 0x5a)?;
        rom.a.cmp(dx, sp)?;
        rom.check(&format!("{name} sp balanced"), |a, ok| a.je(ok))?;
    }

    // CALL rel16 to a routine; RET and RET imm16.
    let plain = rom.routine(|a| {
        a.mov(bp, sp)?;
        a.mov(cx, word_ptr(bp))?; // the return address
        a.mov(bl, 0x11u32)?;
        a.ret()
    })?;
    let pops = rom.routine(|a| {
        a.mov(bl, 0x22u32)?;
        a.ret_1(4u32)
    })?;
    let a = &mut rom.a;
    let mut back = a.create_label();
    a.mov(dx, sp)?;
    a.call(plain as u64)?;
    a.set_label(&mut back)?;
    a.mov(ax, sp)?;
    rom.check_reg8("call rel16 / ret", bl, 0x11)?;
    rom.a.cmp(ax, dx)?;
    rom.check("ret restores sp", |a, ok| a.je(ok))?;
    // The pushed return address is the offset after the CALL: compare with `call x; x: pop`.
    let a = &mut rom.a;
    let mut x = a.create_label();
    a.call(plain as u64)?; // 3 bytes, then the 3-byte call below
    a.call(x)?;
    a.set_label(&mut x)?;
    a.pop(ax)?;
    a.sub(ax, 3u32)?;
    rom.a.cmp(ax, cx)?;
    rom.check("call pushes the next ip", |a, ok| a.je(ok))?;
    let a = &mut rom.a;
    a.mov(dx, sp)?;
    a.push(0x1111u32)?;
    a.push(0x2222u32)?;
    a.call(pops as u64)?;
    a.mov(ax, sp)?;
    rom.check_reg8("ret imm16", bl, 0x22)?;
    rom.a.cmp(ax, dx)?;
    rom.check("ret 4 pops the arguments", |a, ok| a.je(ok))?;
    Ok(())
}

fn far(rom: &mut RomBuilder) -> Result<(), RomError> {
    // A far routine: BL = 0x33, AX = the CS it was called from, RETF or RETF 4.
    let body = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        a.mov(bp, sp)?;
        a.mov(ax, word_ptr(bp + 2))?;
        a.mov(bl, 0x33u32)?;
        Ok(())
    };
    let target = rom.routine(|a| {
        body(a)?;
        a.retf()
    })?;
    let target4 = rom.routine(|a| {
        body(a)?;
        a.retf_1(4u32)
    })?;
    let [lo, hi] = (target as u16).to_le_bytes();
    let [slo, shi] = ROM_SEGMENT.to_le_bytes();
    let ptr = rom.data(&[lo, hi, slo, shi]);
    let [lo4, hi4] = (target4 as u16).to_le_bytes();
    let a = &mut rom.a;
    a.mov(dx, sp)?;
    a.xor(ax, ax)?;
    a.mov(bl, 0u32)?;
    a.db(&[0x9a, lo, hi, slo, shi])?; // call far F000:target
    rom.check_reg8("call far ptr16:16", bl, 0x33)?;
    rom.check_reg16("call far pushes cs", ax, ROM_SEGMENT)?;
    rom.a.cmp(dx, sp)?;
    rom.check("retf restores sp", |a, ok| a.je(ok))?;
    let a = &mut rom.a;
    a.mov(bl, 0u32)?;
    a.call(dword_ptr(ptr))?; // call far m16:16
    rom.check_reg8("call far m16:16", bl, 0x33)?;
    let a = &mut rom.a;
    a.mov(bl, 0u32)?;
    a.push(0x1111u32)?;
    a.push(0x2222u32)?;
    a.db(&[0x9a, lo4, hi4, slo, shi])?;
    a.mov(cx, sp)?;
    rom.check_reg8("retf imm16", bl, 0x33)?;
    rom.a.cmp(cx, dx)?;
    rom.check("retf 4 pops the arguments", |a, ok| a.je(ok))?;
    // JMP far: push CS, then a near call that pushes the IP to come back to, makes the far
    // return frame the routine's RETF uses.
    for (i, name) in ["jmp far ptr16:16", "jmp far m16:16"].into_iter().enumerate() {
        let a = &mut rom.a;
        let (mut go, mut done) = (a.create_label(), a.create_label());
        a.mov(bl, 0u32)?;
        a.push(cs)?;
        a.call(go)?;
        a.jmp(done)?;
        a.set_label(&mut go)?;
        if i == 0 {
            a.db(&[0xea, lo, hi, slo, shi])?;
        } else {
            a.jmp(dword_ptr(ptr))?;
        }
        a.set_label(&mut done)?;
        a.nop()?;
        rom.check_reg8(name, bl, 0x33)?;
        rom.a.cmp(dx, sp)?;
        rom.check(&format!("{name} sp balanced"), |a, ok| a.je(ok))?;
    }
    Ok(())
}

fn conditions(rom: &mut RomBuilder) -> Result<(), RomError> {
    // Jcc rel8 (70+cc 02) and rel16 (0F 80+cc 02 00) over a 2-byte `mov bl, 0`: BL stays 1 only
    // if the branch is taken.
    for (flags, truth) in CONDITION_CASES {
        for (cc, cond) in CONDITION_NAMES.iter().enumerate() {
            let holds = truth & (1 << cc) != 0;
            for near in [false, true] {
                let a = &mut rom.a;
                a.mov(bl, 1u32)?;
                set_flags(a, flags | FIXED)?;
                if near {
                    a.db(&[0x0f, 0x80 + cc as u8, 0x02, 0x00])?;
                } else {
                    a.db(&[0x70 + cc as u8, 0x02])?;
                }
                a.db(&[0xb3, 0x00])?; // mov bl, 0
                let what = if holds { "taken" } else { "not taken" };
                let size = if near { "rel16" } else { "rel8" };
                rom.check_reg8(&format!("j{cond} {size} {what} flags={flags:#x}"), bl, holds as u8)?;
            }
        }
    }
    Ok(())
}

fn loops(rom: &mut RomBuilder) -> Result<(), RomError> {
    // LOOP: CX times.
    let a = &mut rom.a;
    a.mov(ecx, 0x0001_0003u32)?;
    a.xor(ax, ax)?;
    let mut l = a.create_label();
    a.set_label(&mut l)?;
    a.inc(ax)?;
    a.loop_(l)?;
    rom.check_reg16("loop count", ax, 3)?;
    rom.check_reg32("loop uses cx only", ecx, 0x0001_0000)?;
    // With a 32-bit address size (67) LOOP counts ECX.
    let a = &mut rom.a;
    a.mov(ecx, 0x0001_0002u32)?;
    a.xor(eax, eax)?;
    let mut l = a.create_label();
    a.set_label(&mut l)?;
    a.inc(eax)?;
    a.db(&[0x67])?;
    a.loop_(l)?;
    rom.check_reg32("loop ecx (a32) count", eax, 0x0001_0002)?;
    rom.check_reg32("loop ecx (a32) ends at 0", ecx, 0)?;
    // LOOPE: runs while ZF = 1 (TEST AX,4 clears ZF at AX = 4).
    let a = &mut rom.a;
    a.mov(cx, 5u32)?;
    a.xor(ax, ax)?;
    let mut l = a.create_label();
    a.set_label(&mut l)?;
    a.inc(ax)?;
    a.test(ax, 4u32)?;
    a.loope(l)?;
    rom.check_reg16("loope stops on ZF=0 (ax)", ax, 4)?;
    rom.check_reg16("loope stops on ZF=0 (cx)", cx, 1)?;
    // LOOPNE: runs while ZF = 0 (CMP AX,3 sets ZF at AX = 3).
    let a = &mut rom.a;
    a.mov(cx, 5u32)?;
    a.xor(ax, ax)?;
    let mut l = a.create_label();
    a.set_label(&mut l)?;
    a.inc(ax)?;
    a.cmp(ax, 3u32)?;
    a.loopne(l)?;
    rom.check_reg16("loopne stops on ZF=1 (ax)", ax, 3)?;
    rom.check_reg16("loopne stops on ZF=1 (cx)", cx, 2)?;
    // LOOPE ending on CX = 0 with ZF = 1.
    let a = &mut rom.a;
    a.mov(cx, 3u32)?;
    a.xor(ax, ax)?;
    let mut l = a.create_label();
    a.set_label(&mut l)?;
    a.inc(ax)?;
    a.cmp(ax, ax)?;
    a.loope(l)?;
    rom.check_reg16("loope runs out (ax)", ax, 3)?;
    // JCXZ (E3) and JECXZ (67 E3) over `mov bl, 0`.
    for (name, ecx_in, prefix, taken) in [
        ("jcxz cx=0", 0x0001_0000u32, false, true),
        ("jcxz cx=1", 1, false, false),
        ("jecxz ecx=10000", 0x0001_0000, true, false),
        ("jecxz ecx=0", 0, true, true),
    ] {
        let a = &mut rom.a;
        a.mov(ecx, ecx_in)?;
        a.mov(bl, 1u32)?;
        if prefix {
            a.db(&[0x67])?;
        }
        a.db(&[0xe3, 0x02, 0xb3, 0x00])?;
        rom.check_reg8(name, bl, taken as u8)?;
    }
    Ok(())
}

fn interrupts(rom: &mut RomBuilder) -> Result<(), RomError> {
    // INT n through a recording handler: pushes FLAGS, CS and the next IP; clears IF inside.
    install_recorder(rom, 0x40)?;
    rom.a.push((IF | CF | ZF | FIXED) as u32)?;
    rom.a.popf()?;
    expect_exception(rom, "int 40h", 0x40, Kind::Trap, |a| a.int(0x40u32))?;
    rom.check_flags("iret restores flags", STATUS | IF, IF | CF | ZF)?;
    rom.a.cli()?;
    rom.a.cmp(word_ptr(exc::FLAGS).ss(), (IF | CF | ZF | FIXED) as u32)?;
    rom.check("int pushes flags", |a, ok| a.je(ok))?;
    rom.a.test(word_ptr(exc::IN_FLAGS).ss(), IF as u32)?;
    rom.check("int clears IF in the handler", |a, ok| a.je(ok))?;
    // A handler that returns a value in AX.
    let h = rom.routine(|a| {
        a.mov(ax, 0xbeefu32)?;
        a.iret()
    })?;
    rom.set_vector(0x41, h)?;
    rom.a.xor(ax, ax)?;
    rom.a.mov(dx, sp)?;
    rom.a.int(0x41u32)?;
    rom.check_reg16("int 41h handler ran", ax, 0xbeef)?;
    rom.a.cmp(dx, sp)?;
    rom.check("iret restores sp", |a, ok| a.je(ok))?;
    // INT3 (CC) and INT 3 (CD 03): vector 3, a trap.
    install_recorder(rom, 3)?;
    expect_exception(rom, "int3", 3, Kind::Trap, |a| a.int3())?;
    expect_exception(rom, "int 3 (cd 03)", 3, Kind::Trap, |a| a.db(&[0xcd, 0x03]))?;
    // INTO: vector 4 if OF = 1, nothing otherwise.
    install_recorder(rom, 4)?;
    set_flags(&mut rom.a, OF | FIXED)?;
    expect_exception(rom, "into OF=1", 4, Kind::Trap, CodeAssembler::into)?;
    arm_recorder(&mut rom.a, 0)?;
    set_flags(&mut rom.a, STATUS & !OF | FIXED)?;
    CodeAssembler::into(&mut rom.a)?;
    rom.a.cmp(word_ptr(exc::COUNT).ss(), 0u32)?;
    rom.check("into OF=0 does nothing", |a, ok| a.je(ok))?;
    // BOUND: in range (inclusive) does nothing; out of range raises #BR (vector 5, a fault).
    install_recorder(rom, 5)?;
    let b16 = rom.data(&[0xf6, 0xff, 0x64, 0x00]); // -10, 100
    let b32 = rom.data(&[0x00, 0x00, 0x00, 0x80, 0xff, 0xff, 0xff, 0x7f]); // i32::MIN, i32::MAX
    let b32b = rom.data(&[0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00]); // 0x10000, 0x20000
    arm_recorder(&mut rom.a, 0)?;
    for v in [0xfff6u32, 0x64, 0] {
        rom.a.mov(ax, v)?;
        rom.a.bound(ax, dword_ptr(b16))?;
    }
    rom.a.mov(eax, 0x8000_0000u32)?;
    rom.a.bound(eax, qword_ptr(b32))?;
    rom.a.cmp(word_ptr(exc::COUNT).ss(), 0u32)?;
    rom.check("bound in range does nothing", |a, ok| a.je(ok))?;
    rom.a.mov(ax, 0x65u32)?;
    expect_exception(rom, "bound ax=101", 5, Kind::Fault, |a| a.bound(ax, dword_ptr(b16)))?;
    rom.a.mov(ax, 0xfff5u32)?;
    expect_exception(rom, "bound ax=-11", 5, Kind::Fault, |a| a.bound(ax, dword_ptr(b16)))?;
    rom.a.mov(eax, 0x0002_0001u32)?;
    expect_exception(rom, "bound eax=20001", 5, Kind::Fault, |a| a.bound(eax, qword_ptr(b32b)))?;
    Ok(())
}
