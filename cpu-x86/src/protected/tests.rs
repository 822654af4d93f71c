//! Tests of the protected-mode mechanisms: a GDT, IDT, TSSs and an LDT built in guest RAM from
//! Rust, real instruction bytes (assembled with iced-x86) run with `Cpu::step`, and the state,
//! the stack frames and the error codes checked afterwards.

use super::descriptor::Desc;
use crate::cpu::Cpu;
use crate::fault::{vector, Fault};
use crate::interp::string::tests::exec_one;
use crate::state::{cr0, eflags, reg, SegReg, TableReg};
use emu_core::{ClockMode, System};
use iced_x86::code_asm::*;

const GDT: u32 = 0x1000;
const IDT: u32 = 0x2000;
const TSS_A: u32 = 0x3000;
const TSS_B: u32 = 0x3800;
const LDT: u32 = 0x5000;
const CODE: u32 = 0x10000;
const HANDLER: u32 = 0x11000;
const STACK0: u32 = 0x9000;
const STACK3: u32 = 0x8000;

// Selectors of the test GDT.
const CODE0: u16 = 0x08;
const DATA0: u16 = 0x10;
const CODE3: u16 = 0x1b;
const DATA3: u16 = 0x23;
const TSS_A_SEL: u16 = 0x28;
const GATE3: u16 = 0x33;
const NOT_PRESENT: u16 = 0x38;
const EXPAND_DOWN: u16 = 0x40;
const LDT_SEL: u16 = 0x48;
const TSS_B_SEL: u16 = 0x58;
const TASK_GATE: u16 = 0x60;
const CONFORMING: u16 = 0x68;
const EXEC_ONLY: u16 = 0x70;
const LDT_DATA3: u16 = 0x0f;

/// A code/data/system descriptor: `access` is the byte with P, DPL, S and type; `flags` the
/// nibble with G, D/B, L, AVL.
fn seg(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    let lo = (limit & 0xffff) | (base << 16);
    let hi = ((base >> 16) & 0xff)
        | ((access as u32) << 8)
        | (limit & 0xf_0000)
        | (((flags & 0xf) as u32) << 20)
        | (base & 0xff00_0000);
    (hi as u64) << 32 | lo as u64
}

/// A gate descriptor.
fn gate(sel: u16, off: u32, access: u8, params: u8) -> u64 {
    let lo = (off & 0xffff) | ((sel as u32) << 16);
    let hi = (off & 0xffff_0000) | ((access as u32) << 8) | params as u32;
    (hi as u64) << 32 | lo as u64
}

fn wr(cpu: &mut Cpu, pa: u32, bytes: &[u8]) {
    cpu.sys.write_bytes(pa as u64, bytes);
}
fn wr32(cpu: &mut Cpu, pa: u32, v: u32) {
    wr(cpu, pa, &v.to_le_bytes());
}
fn rd32(cpu: &Cpu, pa: u32) -> u32 {
    let m = cpu.sys.ram().as_slice();
    u32::from_le_bytes(m[pa as usize..pa as usize + 4].try_into().unwrap())
}
fn rd16(cpu: &Cpu, pa: u32) -> u16 {
    rd32(cpu, pa) as u16
}
fn set_gdt(cpu: &mut Cpu, sel: u16, d: u64) {
    wr(cpu, GDT + (sel as u32 & !7), &d.to_le_bytes());
}
fn set_idt(cpu: &mut Cpu, v: u8, d: u64) {
    wr(cpu, IDT + v as u32 * 8, &d.to_le_bytes());
}
fn gdt_access(cpu: &Cpu, sel: u16) -> u8 {
    cpu.sys.ram().as_slice()[(GDT + (sel as u32 & !7) + 5) as usize]
}

/// The hidden cache the GDT entry for `sel` gives.
fn cache(cpu: &Cpu, sel: u16) -> crate::state::Segment {
    let at = (GDT + (sel as u32 & !7)) as usize;
    let m = cpu.sys.ram().as_slice();
    let d = Desc {
        lo: u32::from_le_bytes(m[at..at + 4].try_into().unwrap()),
        hi: u32::from_le_bytes(m[at + 4..at + 8].try_into().unwrap()),
    };
    d.cache(sel)
}

fn asm(ip: u32, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).unwrap();
    f(&mut a).unwrap();
    a.assemble(ip as u64).unwrap()
}

/// A CPU in 32-bit protected mode at CPL 0 with flat segments, the test GDT, an empty IDT, and
/// TR = TSS A (ring-0 stack 0010:9000, ring-1 stack none), at `CODE`.
fn pm() -> Cpu {
    let sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
    let mut cpu = Cpu::new(sys);
    let entries = [
        (CODE0, seg(0, 0xfffff, 0x9a, 0xc)),
        (DATA0, seg(0, 0xfffff, 0x92, 0xc)),
        (CODE3, seg(0, 0xfffff, 0xfa, 0xc)),
        (DATA3, seg(0, 0xfffff, 0xf2, 0xc)),
        (TSS_A_SEL, seg(TSS_A, 0x67, 0x8b, 0)),
        (GATE3, gate(CODE0, HANDLER, 0xec, 2)),
        (NOT_PRESENT, seg(0, 0xfffff, 0x12, 0xc)),
        (EXPAND_DOWN, seg(0, 0xfff, 0x96, 0x4)),
        (LDT_SEL, seg(LDT, 0x17, 0x82, 0)),
        (0x50, seg(0, 0xffff, 0x9a, 0)),
        (TSS_B_SEL, seg(TSS_B, 0x67, 0x89, 0)),
        (TASK_GATE, gate(TSS_B_SEL, 0, 0xe5, 0)),
        (CONFORMING, seg(0, 0xfffff, 0x9e, 0xc)),
        (EXEC_ONLY, seg(0, 0xfffff, 0x98, 0xc)),
    ];
    for (sel, d) in entries {
        set_gdt(&mut cpu, sel, d);
    }
    wr(&mut cpu, LDT + 8, &seg(0x20000, 0xffff, 0xf2, 0x4).to_le_bytes());
    wr32(&mut cpu, TSS_A + 4, STACK0);
    wr32(&mut cpu, TSS_A + 8, DATA0 as u32);
    cpu.s.cr0 |= cr0::PE;
    cpu.s.gdtr = TableReg { base: GDT, limit: 0xff };
    cpu.s.idtr = TableReg { base: IDT, limit: 0x7ff };
    cpu.s.segs[SegReg::Cs as usize] = cache(&cpu, CODE0);
    for s in [SegReg::Ss, SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
        cpu.s.segs[s as usize] = cache(&cpu, DATA0);
    }
    cpu.s.tr = cache(&cpu, TSS_A_SEL);
    cpu.s.ldtr = super::segment::null_segment(0);
    cpu.s.regs[reg::ESP] = STACK0;
    cpu.s.eip = CODE;
    cpu
}

/// Switches the CPU to CPL 3 with the ring-3 segments and stack.
fn user(cpu: &mut Cpu) {
    cpu.s.segs[SegReg::Cs as usize] = cache(cpu, CODE3);
    for s in [SegReg::Ss, SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
        cpu.s.segs[s as usize] = cache(cpu, DATA3);
    }
    cpu.s.cpl = 3;
    cpu.s.regs[reg::ESP] = STACK3;
}

fn code(cpu: &mut Cpu, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) {
    let bytes = asm(CODE, f);
    wr(cpu, CODE, &bytes);
}

fn steps(cpu: &mut Cpu, n: usize) {
    for _ in 0..n {
        cpu.step();
    }
}

#[test]
fn data_segment_loads_check_type_privilege_and_presence() {
    let mut cpu = pm();
    let sels = [NOT_PRESENT, 0x100, EXEC_ONLY, 0, CONFORMING, EXPAND_DOWN];
    code(&mut cpu, |a| {
        for s in sels {
            a.mov(eax, s as u32)?;
            a.mov(ds, eax)?;
        }
        Ok(())
    });
    let ds0 = cpu.s.segs[SegReg::Ds as usize];
    let expect = [Err(Fault::np(0x38)), Err(Fault::gp(0x100)), Err(Fault::gp(0x70))];
    for e in expect {
        exec_one(&mut cpu).unwrap();
        let before = cpu.s.clone();
        assert_eq!(exec_one(&mut cpu), e);
        assert_eq!(cpu.s, before, "a failed load changes nothing");
        cpu.s.eip += 2;
    }
    assert_eq!(cpu.s.segs[SegReg::Ds as usize], ds0);
    // A null selector loads an unusable segment: using it is #GP(0).
    exec_one(&mut cpu).unwrap();
    exec_one(&mut cpu).unwrap();
    assert_eq!(cpu.read(SegReg::Ds, 0, crate::Size::D), Err(Fault::gp(0)));
    // Readable conforming code is fine in DS.
    exec_one(&mut cpu).unwrap();
    exec_one(&mut cpu).unwrap();
    assert_eq!(cpu.s.segs[SegReg::Ds as usize].selector, CONFORMING);
    // Expand-down, limit 0xfff, big: offsets 0x1000..=0xffffffff are valid.
    exec_one(&mut cpu).unwrap();
    exec_one(&mut cpu).unwrap();
    assert_eq!(cpu.read(SegReg::Ds, 0x800, crate::Size::D), Err(Fault::gp(0)));
    assert!(cpu.read(SegReg::Ds, 0x2000, crate::Size::D).is_ok());
    assert_eq!(cpu.read(SegReg::Ds, 0xffff_fffe, crate::Size::D), Err(Fault::gp(0)));
    // The accessed bit was written back.
    assert_eq!(gdt_access(&cpu, EXPAND_DOWN), 0x97);
}

#[test]
fn stack_segment_loads() {
    let mut cpu = pm();
    code(&mut cpu, |a| {
        for s in [0u16, DATA3, CODE0, NOT_PRESENT, DATA0] {
            a.mov(eax, s as u32)?;
            a.mov(ss, eax)?;
        }
        Ok(())
    });
    for e in [Fault::gp(0), Fault::gp(0x20), Fault::gp(8), Fault::ss(0x38)] {
        exec_one(&mut cpu).unwrap();
        assert_eq!(exec_one(&mut cpu), Err(e));
        cpu.s.eip += 2;
    }
    exec_one(&mut cpu).unwrap();
    exec_one(&mut cpu).unwrap();
    assert!(cpu.s.irq_shadow);
    // At CPL 3, a ring-0 data segment is out of reach for DS too.
    user(&mut cpu);
    code(&mut cpu, |a| {
        a.mov(eax, DATA0 as u32)?;
        a.mov(ds, eax)
    });
    cpu.s.eip = CODE;
    exec_one(&mut cpu).unwrap();
    assert_eq!(exec_one(&mut cpu), Err(Fault::gp(0x10)));
}

#[test]
fn call_gate_to_ring_0_copies_parameters_and_retf_returns_to_ring_3() {
    let mut cpu = pm();
    user(&mut cpu);
    code(&mut cpu, |a| {
        a.push(0x1111_1111)?;
        a.push(0x2222_2222)?;
        a.db(&[0x9a, 0, 0, 0, 0, GATE3 as u8, 0])?; // call far 0033:00000000
        a.nop()
    });
    let ret_eip = CODE + 5 + 5 + 7;
    let handler = asm(HANDLER, |a| {
        a.mov(eax, DATA0 as u32)?;
        a.mov(ds, eax)?;
        a.retf_1(8)
    });
    wr(&mut cpu, HANDLER, &handler);
    steps(&mut cpu, 3);
    assert_eq!((cpu.s.cpl, cpu.s.eip), (0, HANDLER));
    assert_eq!(cpu.s.segs[SegReg::Cs as usize].selector, CODE0);
    assert_eq!(cpu.s.segs[SegReg::Ss as usize].selector, DATA0);
    let top = STACK0 - 24;
    assert_eq!(cpu.s.regs[reg::ESP], top);
    let frame: Vec<u32> = (0..6).map(|n| rd32(&cpu, top + 4 * n)).collect();
    assert_eq!(frame, [ret_eip, CODE3 as u32, 0x2222_2222, 0x1111_1111, STACK3 - 8, DATA3 as u32]);
    steps(&mut cpu, 3);
    assert_eq!((cpu.s.cpl, cpu.s.eip, cpu.s.regs[reg::ESP]), (3, ret_eip, STACK3));
    assert_eq!(cpu.s.segs[SegReg::Ss as usize].selector, DATA3);
    // DS held a ring-0 segment: nulled on the way out; ES was ring 3 and stays.
    assert_eq!(cpu.s.segs[SegReg::Ds as usize].selector, 0);
    assert_eq!(cpu.s.segs[SegReg::Es as usize].selector, DATA3);
}

#[test]
fn a_bad_inner_stack_is_ts_and_changes_nothing() {
    let mut cpu = pm();
    user(&mut cpu);
    wr32(&mut cpu, TSS_A + 8, DATA3 as u32); // SS0 with RPL 3
    code(&mut cpu, |a| a.db(&[0x9a, 0, 0, 0, 0, GATE3 as u8, 0]));
    let before = cpu.s.clone();
    assert_eq!(exec_one(&mut cpu), Err(Fault::ts(DATA3 & !3)));
    assert_eq!(cpu.s, before);
}

#[test]
fn int_from_ring_3_through_an_interrupt_gate_and_iret_back() {
    let mut cpu = pm();
    set_idt(&mut cpu, 0x80, gate(CODE0, HANDLER, 0xee, 0));
    user(&mut cpu);
    cpu.s.flags |= eflags::IF;
    code(&mut cpu, |a| {
        a.int(0x80)?;
        a.nop()
    });
    wr(&mut cpu, HANDLER, &asm(HANDLER, |a| a.iretd()));
    cpu.step();
    assert_eq!((cpu.s.cpl, cpu.s.eip), (0, HANDLER));
    assert_eq!(cpu.s.flags & eflags::IF, 0);
    let top = STACK0 - 20;
    assert_eq!(cpu.s.regs[reg::ESP], top);
    let frame: Vec<u32> = (0..5).map(|n| rd32(&cpu, top + 4 * n)).collect();
    assert_eq!(frame, [CODE + 2, CODE3 as u32, 0x202, STACK3, DATA3 as u32]);
    cpu.step();
    assert_eq!((cpu.s.cpl, cpu.s.eip, cpu.s.regs[reg::ESP]), (3, CODE + 2, STACK3));
    assert_ne!(cpu.s.flags & eflags::IF, 0);
}

#[test]
fn exceptions_push_error_codes_naming_selectors_and_idt_entries() {
    let mut cpu = pm();
    set_idt(&mut cpu, vector::GP, gate(CODE0, HANDLER, 0x8f, 0));
    set_idt(&mut cpu, vector::NP, gate(CODE0, HANDLER + 0x100, 0x8f, 0));
    set_idt(&mut cpu, 0x40, gate(CODE0, HANDLER + 0x200, 0x8e, 0)); // DPL 0
    set_idt(&mut cpu, vector::UD, gate(CODE0, HANDLER + 0x300, 0x0e, 0)); // not present
    user(&mut cpu);
    code(&mut cpu, |a| {
        a.mov(eax, NOT_PRESENT as u32)?;
        a.mov(ds, eax)?; // DPL 0 < CPL 3: #GP(0x38)
        a.int(0x40)?; // gate DPL 0 < CPL 3: #GP(0x40 * 8 + 2)
        a.ud2() // #UD through a not-present gate: #NP(6 * 8 + 2 + EXT)
    });
    steps(&mut cpu, 2);
    let frame = |cpu: &Cpu| (0..3).map(|n| rd32(cpu, cpu.s.regs[reg::ESP] + 4 * n)).collect::<Vec<_>>();
    assert_eq!((cpu.s.cpl, cpu.s.eip), (0, HANDLER));
    assert_eq!(frame(&cpu), [0x38, CODE + 5, CODE3 as u32]);
    // Back to ring 3 after the faulting instruction, by hand.
    user(&mut cpu);
    cpu.s.eip = CODE + 7;
    cpu.step();
    assert_eq!(cpu.s.eip, HANDLER);
    assert_eq!(frame(&cpu), [0x202, CODE + 7, CODE3 as u32]);
    user(&mut cpu);
    cpu.s.eip = CODE + 9;
    cpu.step();
    assert_eq!(cpu.s.eip, HANDLER + 0x100);
    assert_eq!(frame(&cpu), [0x33, CODE + 9, CODE3 as u32]);
}

#[test]
fn contributory_fault_during_delivery_is_a_double_fault_then_shutdown() {
    let mut cpu = pm();
    set_idt(&mut cpu, vector::DF, gate(CODE0, HANDLER, 0x8e, 0));
    code(&mut cpu, |a| {
        a.mov(eax, 0x100)?;
        a.mov(ds, eax) // #GP(0x100), whose gate is missing: #NP(13 * 8 + 3), then #DF
    });
    steps(&mut cpu, 2);
    assert_eq!(cpu.s.eip, HANDLER);
    assert_eq!(rd32(&cpu, cpu.s.regs[reg::ESP]), 0);
    assert_eq!(rd32(&cpu, cpu.s.regs[reg::ESP] + 4), CODE + 5);
    // Without a #DF handler: shutdown.
    let mut cpu = pm();
    code(&mut cpu, |a| {
        a.mov(eax, 0x100)?;
        a.mov(ds, eax)
    });
    steps(&mut cpu, 2);
    assert!(cpu.shutdown);
}

/// TSS B: a ring-0 task at HANDLER + 0x300 with EAX = 0x1234 and its own stack.
fn task_b(cpu: &mut Cpu) {
    wr32(cpu, TSS_B + 0x20, HANDLER + 0x300);
    wr32(cpu, TSS_B + 0x24, 0x2);
    wr32(cpu, TSS_B + 0x28, 0x1234);
    wr32(cpu, TSS_B + 0x38, 0x7000);
    for (n, s) in [DATA0, CODE0, DATA0, DATA0, DATA0, DATA0].into_iter().enumerate() {
        wr32(cpu, TSS_B + 0x48 + 4 * n as u32, s as u32);
    }
}

#[test]
fn jmp_to_a_tss_switches_tasks() {
    let mut cpu = pm();
    task_b(&mut cpu);
    code(&mut cpu, |a| {
        a.mov(eax, 0x5555)?;
        a.db(&[0xea, 0, 0, 0, 0, TSS_B_SEL as u8, 0])
    });
    steps(&mut cpu, 2);
    assert_eq!(cpu.s.tr.selector, TSS_B_SEL);
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::EAX], cpu.s.regs[reg::ESP]), (HANDLER + 0x300, 0x1234, 0x7000));
    assert_eq!(gdt_access(&cpu, TSS_B_SEL), 0x8b, "new TSS busy");
    assert_eq!(gdt_access(&cpu, TSS_A_SEL), 0x89, "old TSS available");
    assert_eq!(rd32(&cpu, TSS_A + 0x20), CODE + 12, "old EIP saved");
    assert_eq!(rd32(&cpu, TSS_A + 0x28), 0x5555, "old EAX saved");
    assert_eq!(rd16(&cpu, TSS_A + 0x4c), CODE0);
    assert_ne!(cpu.s.cr0 & cr0::TS, 0);
    assert_eq!(cpu.s.flags & eflags::NT, 0);
    // A JMP to the now busy TSS B is #GP(sel).
    cpu.s.eip = CODE + 5;
    assert_eq!(exec_one(&mut cpu), Err(Fault::gp(TSS_B_SEL)));
}

#[test]
fn call_through_a_task_gate_nests_and_iret_returns() {
    let mut cpu = pm();
    task_b(&mut cpu);
    code(&mut cpu, |a| {
        a.db(&[0x9a, 0, 0, 0, 0, TASK_GATE as u8, 0])?;
        a.nop()
    });
    wr(&mut cpu, HANDLER + 0x300, &asm(HANDLER + 0x300, |a| a.iretd()));
    cpu.step();
    assert_eq!(cpu.s.tr.selector, TSS_B_SEL);
    assert_ne!(cpu.s.flags & eflags::NT, 0);
    assert_eq!(rd16(&cpu, TSS_B), TSS_A_SEL, "back link");
    assert_eq!((gdt_access(&cpu, TSS_A_SEL), gdt_access(&cpu, TSS_B_SEL)), (0x8b, 0x8b));
    cpu.step();
    assert_eq!(cpu.s.tr.selector, TSS_A_SEL);
    assert_eq!(cpu.s.eip, CODE + 7);
    assert_eq!(gdt_access(&cpu, TSS_B_SEL), 0x89, "IRET frees the nested task");
    assert_eq!(cpu.s.flags & eflags::NT, 0);
    assert_eq!(rd32(&cpu, TSS_B + 0x24) & eflags::NT, 0, "NT cleared in the saved image");
}

#[test]
fn exception_through_a_task_gate_pushes_its_error_code_in_the_new_task() {
    let mut cpu = pm();
    task_b(&mut cpu);
    set_idt(&mut cpu, vector::GP, gate(TSS_B_SEL, 0, 0x85, 0));
    code(&mut cpu, |a| {
        a.mov(eax, 0x100)?;
        a.mov(ds, eax)
    });
    steps(&mut cpu, 2);
    assert_eq!(cpu.s.tr.selector, TSS_B_SEL);
    assert_eq!(cpu.s.regs[reg::ESP], 0x7000 - 4);
    assert_eq!(rd32(&cpu, 0x7000 - 4), 0x100);
    assert_eq!(rd32(&cpu, TSS_A + 0x20), CODE + 5, "the faulting instruction's EIP");
}

#[test]
fn virtual_8086_mode_round_trip() {
    let mut cpu = pm();
    set_idt(&mut cpu, vector::GP, gate(CODE0, HANDLER, 0x8e, 0));
    // v86 code at 1100:0000 = linear 0x11000 + 0x800.
    wr(&mut cpu, 0x11800, &[0xb8, 0x34, 0x12, 0x8c, 0xd9, 0xfa]); // mov ax, 1234h; mov cx, ds; cli
    let frame = [0x0000_0800u32, 0x1100, eflags::VM | 2, 0x100, 0x4000, 0x3000, 0x2000, 0x10, 0x20];
    let top = STACK0 - 36;
    for (n, v) in frame.iter().enumerate() {
        wr32(&mut cpu, top + 4 * n as u32, *v);
    }
    cpu.s.regs[reg::ESP] = top;
    code(&mut cpu, |a| a.iretd());
    cpu.step();
    assert!(cpu.s.v86());
    assert_eq!((cpu.s.cpl, cpu.s.eip, cpu.s.regs[reg::ESP]), (3, 0x800, 0x100));
    assert_eq!(cpu.s.segs[SegReg::Ds as usize].base, 0x20000);
    assert_eq!(cpu.s.segs[SegReg::Gs as usize].selector, 0x20);
    steps(&mut cpu, 2);
    assert_eq!(cpu.s.regs[reg::EAX] & 0xffff, 0x1234);
    assert_eq!(cpu.s.regs[reg::ECX] & 0xffff, 0x2000);
    // CLI with IOPL 0 is #GP(0), delivered to ring 0 with the v86 segments pushed.
    cpu.step();
    assert!(!cpu.s.v86());
    assert_eq!((cpu.s.cpl, cpu.s.eip), (0, HANDLER));
    let top = STACK0 - 40;
    assert_eq!(cpu.s.regs[reg::ESP], top);
    let pushed: Vec<u32> = (0..10).map(|n| rd32(&cpu, top + 4 * n)).collect();
    assert_eq!(pushed, [0, 0x805, 0x1100, eflags::VM | eflags::RF | 2, 0x100, 0x4000, 0x3000, 0x2000, 0x10, 0x20]);
    for s in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
        assert_eq!(cpu.s.segs[s as usize].selector, 0);
    }
}

#[test]
fn descriptor_inspection_instructions() {
    let mut cpu = pm();
    let zf = |cpu: &Cpu| cpu.s.flag(eflags::ZF);
    // One instruction every 3 bytes: LAR, LSL, VERR, VERW, ARPL.
    wr(&mut cpu, CODE, &[0x0f, 0x02, 0xc3, 0x0f, 0x03, 0xc3, 0x0f, 0x00, 0xe3, 0x0f, 0x00, 0xeb, 0x63, 0xd8]);
    let run = |cpu: &mut Cpu, at: u32, sel: u16| {
        cpu.s.eip = CODE + at;
        cpu.s.regs[reg::EBX] = sel as u32;
        cpu.s.regs[reg::EAX] = 0xdead;
        exec_one(cpu).unwrap();
    };
    run(&mut cpu, 0, CODE0);
    assert!(zf(&cpu));
    assert_eq!(cpu.s.regs[reg::EAX], 0x00cf_9a00);
    run(&mut cpu, 0, 0x100);
    assert!(!zf(&cpu));
    assert_eq!(cpu.s.regs[reg::EAX], 0xdead);
    run(&mut cpu, 0, GATE3); // LAR accepts call gates
    assert!(zf(&cpu));
    run(&mut cpu, 3, EXPAND_DOWN);
    assert_eq!((zf(&cpu), cpu.s.regs[reg::EAX]), (true, 0xfff));
    run(&mut cpu, 3, GATE3); // LSL does not
    assert!(!zf(&cpu));
    run(&mut cpu, 6, EXEC_ONLY);
    assert!(!zf(&cpu));
    run(&mut cpu, 6, CODE0);
    assert!(zf(&cpu));
    run(&mut cpu, 9, DATA0);
    assert!(zf(&cpu));
    run(&mut cpu, 9, CODE0);
    assert!(!zf(&cpu));
    // ARPL raises the destination's RPL.
    cpu.s.eip = CODE + 12;
    cpu.s.regs[reg::EAX] = 0x10;
    cpu.s.regs[reg::EBX] = 0x3;
    exec_one(&mut cpu).unwrap();
    assert_eq!((zf(&cpu), cpu.s.regs[reg::EAX]), (true, 0x13));
    cpu.s.eip = CODE + 12;
    exec_one(&mut cpu).unwrap();
    assert!(!zf(&cpu));
    // At CPL 3 ring-0 descriptors are invisible to LAR.
    user(&mut cpu);
    run(&mut cpu, 0, DATA0);
    assert!(!zf(&cpu));
}

#[test]
fn lldt_ltr_sldt_str() {
    let mut cpu = pm();
    code(&mut cpu, |a| {
        a.mov(eax, LDT_SEL as u32)?;
        a.lldt(ax)?;
        a.mov(eax, LDT_DATA3 as u32)?;
        a.mov(ds, eax)?;
        a.sldt(ecx)?;
        a.mov(eax, TSS_B_SEL as u32)?;
        a.ltr(ax)?;
        a.str(edx)?;
        a.ltr(ax) // busy now: #GP(sel)
    });
    steps(&mut cpu, 8);
    assert_eq!(cpu.s.segs[SegReg::Ds as usize].base, 0x20000);
    assert_eq!(cpu.s.regs[reg::ECX], LDT_SEL as u32);
    assert_eq!(cpu.s.regs[reg::EDX], TSS_B_SEL as u32);
    assert_eq!(gdt_access(&cpu, TSS_B_SEL), 0x8b);
    assert_eq!(exec_one(&mut cpu), Err(Fault::gp(TSS_B_SEL)));
    // LLDT of a non-LDT descriptor, and at CPL 3.
    code(&mut cpu, |a| {
        a.mov(eax, DATA0 as u32)?;
        a.lldt(ax)
    });
    cpu.s.eip = CODE;
    exec_one(&mut cpu).unwrap();
    assert_eq!(exec_one(&mut cpu), Err(Fault::gp(DATA0)));
    user(&mut cpu);
    assert_eq!(exec_one(&mut cpu), Err(Fault::gp(0)));
}

#[test]
fn sysenter_and_sysexit() {
    let mut cpu = pm();
    cpu.s.sysenter_cs = CODE0 as u32;
    cpu.s.sysenter_esp = STACK0;
    cpu.s.sysenter_eip = HANDLER;
    wr(&mut cpu, HANDLER, &[0x0f, 0x35]);
    user(&mut cpu);
    cpu.s.flags |= eflags::IF;
    code(&mut cpu, |a| a.sysenter());
    cpu.step();
    assert_eq!((cpu.s.cpl, cpu.s.eip, cpu.s.regs[reg::ESP]), (0, HANDLER, STACK0));
    assert_eq!(cpu.s.segs[SegReg::Ss as usize].selector, DATA0);
    assert_eq!(cpu.s.flags & eflags::IF, 0);
    cpu.s.regs[reg::ECX] = STACK3;
    cpu.s.regs[reg::EDX] = CODE + 2;
    cpu.step();
    assert_eq!((cpu.s.cpl, cpu.s.eip, cpu.s.regs[reg::ESP]), (3, CODE + 2, STACK3));
    assert_eq!(cpu.s.segs[SegReg::Cs as usize].selector, CODE3);
    assert_eq!(cpu.s.segs[SegReg::Ss as usize].selector, DATA3);
}
