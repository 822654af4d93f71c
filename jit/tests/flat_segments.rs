//! Blocks made while DS, ES and SS are flat skip their segment checks (`ModeKey::flat`): loading
//! any of them with a non-flat descriptor in the middle of a hot, chained loop must end the
//! block, so the next access uses the new base, or faults at the new limit, exactly as in the
//! interpreter.

mod common;
use common::*;
use emu_cpu_x86::state::SegReg;
use emu_cpu_x86::{Cpu, Stop};
use iced_x86::code_asm::*;

/// Where the GDT is.
const GDT: u32 = 0x7000;
/// Selectors: 0x08 flat code, 0x10 flat data, 0x18 data at base 0x10000 (limit 1 MiB),
/// 0x20 data at base 0 with a 256-byte limit.
const MOVED: u16 = 0x18;
const SMALL: u16 = 0x20;

/// A data or code descriptor (byte-granular limit, 32-bit).
fn descriptor(base: u32, limit: u32, access: u8) -> [u8; 8] {
    let mut d = [0u8; 8];
    d[0..2].copy_from_slice(&(limit as u16).to_le_bytes());
    d[2..4].copy_from_slice(&(base as u16).to_le_bytes());
    d[4] = (base >> 16) as u8;
    d[5] = access;
    d[6] = 0x40 | ((limit >> 16) as u8 & 0xf);
    d[7] = (base >> 24) as u8;
    d
}

/// `flat32` with a real GDT, the word 1 at 0x100 and 7 at 0x10100 (0x100 in the moved segment),
/// and no IDT (a fault escalates to a shutdown, leaving the state as it was).
fn machine(code: &[u8]) -> Cpu {
    let mut c = flat32(code);
    let gdt = [
        [0u8; 8],
        descriptor(0, 0xfffff, 0x9b),
        descriptor(0, 0xfffff, 0x93),
        descriptor(0x10000, 0xfffff, 0x93),
        descriptor(0, 0xff, 0x93),
    ];
    load(&mut c, GDT, &gdt.concat());
    c.s.gdtr.base = GDT;
    c.s.gdtr.limit = 5 * 8 - 1;
    // flat32's limits are page-granular 4 GiB: make the GDT's flat entries say the same.
    for n in [1, 2] {
        load(&mut c, GDT + 8 * n + 6, &[0xcf]);
    }
    load(&mut c, 0x100, &1u32.to_le_bytes());
    load(&mut c, 0x10100, &7u32.to_le_bytes());
    c.s.idtr.limit = 0;
    c
}

/// A loop of 1,000 iterations adding the dword at `reg:[0x100]` (through `seg`) to EDX, which
/// loads `seg` with `selector` (with `load`) after iteration 500, in the middle of its block.
fn loop_loading(seg: SegReg, selector: u16, read: impl Fn(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    asm(32, |a| {
        let (mut top, mut skip) = (a.create_label(), a.create_label());
        a.mov(ecx, 1000u32)?;
        a.set_label(&mut top)?;
        read(a)?;
        a.add(edx, eax)?;
        a.dec(ecx)?;
        a.cmp(ecx, 500u32)?;
        a.jne(skip)?;
        a.mov(bx, selector as u32)?;
        match seg {
            SegReg::Ds => a.mov(ds, bx)?,
            SegReg::Es => a.mov(es, bx)?,
            _ => a.mov(ss, bx)?,
        }
        a.set_label(&mut skip)?;
        a.test(ecx, ecx)?;
        a.jnz(top)?;
        a.hlt()
    })
}

#[test]
fn a_new_ds_base_is_used_by_the_next_access() {
    let code = loop_loading(SegReg::Ds, MOVED, |a| a.mov(eax, dword_ptr(0x100)));
    let (cpu, stop, j) = same_in_both(|| machine(&code), 100_000, "DS moved");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[2], 500 + 500 * 7);
    assert!(j.stats.chained_in_code > 1000, "{:?}", j.stats);
}

#[test]
fn a_new_es_base_is_used_by_the_next_access() {
    let code = loop_loading(SegReg::Es, MOVED, |a| a.mov(eax, dword_ptr(0x100).es()));
    let (cpu, stop, _) = same_in_both(|| machine(&code), 100_000, "ES moved");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[2], 500 + 500 * 7);
}

/// SS moves (with ESP pointing at 0x104: the POP reads 0x100 in the segment, then PUSH puts it back).
#[test]
fn a_new_ss_base_is_used_by_the_next_stack_access() {
    let code = loop_loading(SegReg::Ss, MOVED, |a| {
        a.mov(esp, 0x100u32)?;
        a.pop(eax)?;
        a.push(eax)
    });
    let (cpu, stop, _) = same_in_both(|| machine(&code), 100_000, "SS moved");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[2], 500 + 500 * 7);
}

/// DS gets a 256-byte limit: the next read at 0x100 is past it and faults (#GP, escalating to a
/// shutdown with no IDT) in both tiers, on the same instruction.
#[test]
fn a_new_ds_limit_faults_the_next_access() {
    let code = loop_loading(SegReg::Ds, SMALL, |a| a.mov(eax, dword_ptr(0x100)));
    let (cpu, stop, _) = same_in_both(|| machine(&code), 100_000, "DS limited");
    assert_eq!(stop, Stop::Shutdown);
    assert_eq!(cpu.s.regs[2], 500);
    assert_eq!(cpu.s.regs[1], 500);
}

/// An access that wraps around the end of a flat segment faults (`Cpu::linear`'s wrap check
/// is the one check flat segments keep).
#[test]
fn a_wrapping_access_to_a_flat_segment_faults() {
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(ecx, 100u32)?;
        a.mov(esi, 0x100u32)?;
        a.set_label(&mut top)?;
        a.mov(eax, dword_ptr(esi))?;
        a.add(edx, eax)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.mov(esi, 0xffff_fffeu32)?;
        a.mov(eax, dword_ptr(esi))?;
        a.mov(edx, 0u32)?;
        a.hlt()
    });
    let (cpu, stop, _) = same_in_both(|| machine(&code), 100_000, "wrap");
    assert_eq!(stop, Stop::Shutdown);
    assert_eq!(cpu.s.regs[2], 100);
}
