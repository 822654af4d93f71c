//! Instruction fetch through the TLB window ([`Cpu::fetch_window`]) and its per-byte fallback:
//! faults at the exact byte (page end, CS limit), the 16-bit offset wrap, self-modifying code.

use crate::cpu::Cpu;
use crate::paging::pte;
use crate::state::{attr, cr0, reg, Segment};
use emu_core::{ClockMode, System};

fn cpu() -> Cpu {
    Cpu::new(System::new(16 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap())
}

/// Real-address mode, CS = `cs`, SP = 8000h, IVT[`v`] = 0000:0600 for each of `vectors`.
fn real(cpu: &mut Cpu, cs: u16, ip: u32, vectors: &[u8]) {
    cpu.s.segs[1] = Segment::real_mode(cs, attr::REAL_MODE_CODE);
    cpu.s.segs[2] = Segment::real_mode(0, attr::REAL_MODE_DATA);
    cpu.s.eip = ip;
    cpu.s.regs[reg::ESP] = 0x8000;
    for &v in vectors {
        cpu.sys.write_bytes(v as u64 * 4, &[0x00, 0x06, 0, 0]);
    }
}

/// The IP the interrupt pushed (at SS:SP).
fn pushed_ip(cpu: &mut Cpu) -> u32 {
    cpu.read_lin(0x7ffa, crate::flags::Size::W).unwrap()
}

#[test]
fn page_fault_on_the_second_page_of_an_instruction() {
    // Identity paging of 0-4 MiB (directory at 1000h, table at 2000h) with page 5 not present,
    // entered the Rust way (PG without PE) so the IVT delivers the fault.
    let mut cpu = cpu();
    cpu.sys.write_phys(0x1000, 4, 0x2000 | pte::P | pte::RW);
    for i in 0..1024u64 {
        let present = if i == 5 { 0 } else { pte::P | pte::RW };
        cpu.sys.write_phys(0x2000 + 4 * i, 4, (i as u32) << 12 | present);
    }
    cpu.s.cr3 = 0x1000;
    cpu.s.cr0 |= cr0::PG;
    real(&mut cpu, 0, 0x4ff0, &[14]);
    // 14 NOPs (the first fills the TLB, the rest are fetched through the window), then
    // mov ax, 1234h with its last byte on the missing page.
    let mut code = vec![0x90; 14];
    code.extend([0xb8, 0x34]);
    cpu.sys.write_bytes(0x4ff0, &code);
    for _ in 0..14 {
        cpu.step();
    }
    assert_eq!(cpu.s.eip, 0x4ffe);
    cpu.step();
    assert_eq!(cpu.s.cr2, 0x5000, "the fault is on the byte that is not mapped");
    assert_eq!(cpu.s.eip, 0x600);
    assert_eq!(pushed_ip(&mut cpu), 0x4ffe);
    assert_eq!(cpu.s.regs[reg::EAX] & 0xffff, 0);
}

#[test]
fn general_protection_at_the_cs_limit_inside_a_page() {
    let mut cpu = cpu();
    real(&mut cpu, 0, 0x3ffc, &[13]);
    cpu.s.segs[1].limit = 0x3ffe; // mid-page: the window must stop here
    cpu.sys.write_bytes(0x3ffc, &[0x90, 0xb8, 0x34, 0x12]);
    cpu.step();
    assert_eq!(cpu.s.eip, 0x3ffd);
    cpu.step(); // mov ax, 1234h: its last byte is past the limit
    assert_eq!(cpu.s.eip, 0x600);
    assert_eq!(pushed_ip(&mut cpu), 0x3ffd);
    assert_eq!(cpu.s.regs[reg::EAX] & 0xffff, 0);
}

#[test]
fn sixteen_bit_code_wraps_at_64k_even_with_a_larger_limit() {
    let mut cpu = cpu();
    // CS base 10080h: CS:FFFF is mid-page, so only the offset wrap ends the window there.
    real(&mut cpu, 0x1008, 0xfffe, &[]);
    cpu.s.segs[1].limit = 0xfffff; // "unreal" CS: the offset still wraps in 16-bit code
    cpu.sys.write_bytes(0x2007e, &[0x90, 0xb0]); // NOP (fills the TLB), mov al, imm8 at CS:FFFF
    cpu.sys.write_bytes(0x10080, &[0x77]); // its immediate at CS:0000
    cpu.sys.write_bytes(0x20080, &[0x55]); // what an unwrapped fetch would read
    cpu.step();
    cpu.step();
    assert_eq!(cpu.s.regs[reg::EAX] & 0xff, 0x77);
    assert_eq!(cpu.s.eip, 1);
}

#[test]
fn a_store_to_the_next_instruction_is_executed() {
    let mut cpu = cpu();
    real(&mut cpu, 0, 0x3000, &[]);
    // mov byte [3005h], 40h (inc ax) over the NOP that follows it.
    // The first fetch fills the TLB, so the second instruction is read through the window.
    cpu.sys.write_bytes(0x3000, &[0xc6, 0x06, 0x05, 0x30, 0x40, 0x90]);
    cpu.step();
    cpu.step();
    assert_eq!(cpu.s.regs[reg::EAX] & 0xffff, 1);
    assert_eq!(cpu.s.eip, 0x3006);
}

/// The decode cache ([`crate::decode::cache`]) compares an instruction's bytes with memory at
/// every use: code the guest patches, or a host-side write (DMA, a debugger) changes, is decoded
/// again the next time it runs.
#[test]
fn code_changed_after_it_ran_is_decoded_again() {
    let mut cpu = cpu();
    real(&mut cpu, 0, 0x3000, &[]);
    // 3000: inc ax; 3001: mov byte [3000h], 48h (dec ax); 3006: jmp 3000h.
    cpu.sys.write_bytes(0x3000, &[0x40, 0xc6, 0x06, 0x00, 0x30, 0x48, 0xeb, 0xf8]);
    for _ in 0..3 {
        cpu.step();
    }
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::EAX] & 0xffff), (0x3000, 1), "inc ax ran once");
    cpu.step();
    assert_eq!(cpu.s.regs[reg::EAX] & 0xffff, 0, "the patched byte is dec ax");
    cpu.step();
    cpu.step();
    // A write from outside the CPU: mov ax, 1234h over the dec and the mov.
    cpu.sys.write_bytes(0x3000, &[0xb8, 0x34, 0x12]);
    cpu.step();
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::EAX] & 0xffff), (0x3003, 0x1234));
    // Only the immediate changes: the instruction's last byte counts too.
    cpu.sys.write_bytes(0x3002, &[0x56]);
    cpu.s.eip = 0x3000;
    cpu.step();
    assert_eq!(cpu.s.regs[reg::EAX] & 0xffff, 0x5634);
}

/// The same bytes decode differently in 16- and 32-bit code: the decode cache keeps them apart.
#[test]
fn the_same_bytes_in_16_and_32_bit_code() {
    let mut cpu = cpu();
    real(&mut cpu, 0, 0x3000, &[]);
    // b8 78 56 34 12: mov ax, 5678h (3 bytes) in 16-bit code, mov eax, 12345678h in 32-bit.
    cpu.sys.write_bytes(0x3000, &[0xb8, 0x78, 0x56, 0x34, 0x12]);
    cpu.step();
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::EAX]), (0x3003, 0x5678));
    cpu.s.segs[1].attr |= attr::DB;
    cpu.s.eip = 0x3000;
    cpu.step();
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::EAX]), (0x3005, 0x1234_5678));
    cpu.s.segs[1].attr &= !attr::DB;
    cpu.s.eip = 0x3000;
    cpu.s.regs[reg::EAX] = 0;
    cpu.step();
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::EAX]), (0x3003, 0x5678));
}

/// The decode cache is found through the fetch window, which goes through the TLB: code that ran
/// from a linear page is not run again once the page maps elsewhere (the other page's
/// instruction runs) or is not present (#PF at its first byte), however recently it ran.
#[test]
fn code_on_a_page_remapped_or_unmapped_after_it_ran() {
    // Identity paging of 0-4 MiB (directory at 1000h, table at 2000h), entered the Rust way.
    let mut cpu = cpu();
    cpu.sys.write_phys(0x1000, 4, 0x2000 | pte::P | pte::RW);
    for i in 0..1024u64 {
        cpu.sys.write_phys(0x2000 + 4 * i, 4, (i as u32) << 12 | pte::P | pte::RW);
    }
    cpu.s.cr3 = 0x1000;
    cpu.s.cr0 |= cr0::PG;
    real(&mut cpu, 0, 0x4000, &[14]);
    // Page 4: mov ax, 1111h; page 6: mov ax, 2222h.
    cpu.sys.write_bytes(0x4000, &[0xb8, 0x11, 0x11]);
    cpu.sys.write_bytes(0x6000, &[0xb8, 0x22, 0x22]);
    for _ in 0..3 {
        cpu.s.eip = 0x4000;
        cpu.step();
        assert_eq!((cpu.s.eip, cpu.s.regs[reg::EAX] & 0xffff), (0x4003, 0x1111));
    }
    // Linear page 4 now maps physical page 6 (a CR3 load flushes the TLB).
    cpu.sys.write_phys(0x2000 + 4 * 4, 4, 0x6000 | pte::P | pte::RW);
    cpu.tlb.flush();
    cpu.s.eip = 0x4000;
    cpu.step();
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::EAX] & 0xffff), (0x4003, 0x2222), "the new page's instruction");
    // And now to nothing.
    cpu.sys.write_phys(0x2000 + 4 * 4, 4, 0x6000);
    cpu.tlb.flush();
    cpu.s.eip = 0x4000;
    cpu.step();
    assert_eq!((cpu.s.cr2, cpu.s.eip), (0x4000, 0x600), "#PF at the first byte");
    assert_eq!(pushed_ip(&mut cpu), 0x4000);
    assert_eq!(cpu.s.regs[reg::EAX] & 0xffff, 0x2222);
}
