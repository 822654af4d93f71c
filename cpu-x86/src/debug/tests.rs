//! Debug exceptions through `Cpu::step` on real-mode code in RAM: the #DB handler (vector 1) is
//! an IRET at 0000:0600, so after a #DB the CPU stands there with IP, CS, FLAGS on the stack.

use crate::cpu::Cpu;
use crate::debug::{dr6, dr7};
use crate::flags::Size;
use crate::interp::string::tests::{cpu_with, CODE};
use crate::state::{cr4, eflags, reg, SegReg};

const DB_HANDLER: u32 = 0x600;
const INT20_HANDLER: u32 = 0x700;

fn cpu(code: &[u8]) -> Cpu {
    let mut cpu = cpu_with(code);
    cpu.sys.write_bytes(4, &[0x00, 0x06, 0, 0]); // IVT[1] = 0000:0600
    cpu.sys.write_bytes(0x80, &[0x00, 0x07, 0, 0]); // IVT[20h] = 0000:0700
    cpu.sys.write_bytes(DB_HANDLER as u64, &[0xcf]);
    cpu.sys.write_bytes(INT20_HANDLER as u64, &[0xcf]);
    cpu
}

/// The IP on top of the stack (pushed by the last interrupt).
fn stacked_ip(cpu: &mut Cpu) -> u32 {
    let sp = cpu.sp();
    cpu.read(SegReg::Ss, sp, Size::W).unwrap()
}

/// DR7 value enabling breakpoint `n` (global) with R/W field `rw` and LEN field `len`.
fn enable(n: u32, rw: u32, len: u32) -> u32 {
    (2 << (2 * n)) | (rw << (16 + 4 * n)) | (len << (18 + 4 * n)) | dr7::FIXED1
}

#[test]
fn single_step_traps_after_each_instruction() {
    let mut cpu = cpu(&[0x90, 0x90]);
    cpu.s.flags |= eflags::TF;
    cpu.step();
    assert_eq!(cpu.s.eip, DB_HANDLER);
    assert_eq!(stacked_ip(&mut cpu), CODE + 1);
    assert_ne!(cpu.s.dr[6] & dr6::BS, 0);
    assert_eq!(cpu.s.flags & eflags::TF, 0, "the handler runs with TF clear");
    cpu.step(); // IRET restores TF
    assert_eq!(cpu.s.eip, CODE + 1);
    assert_ne!(cpu.s.flags & eflags::TF, 0);
    cpu.step();
    assert_eq!((cpu.s.eip, stacked_ip(&mut cpu)), (DB_HANDLER, CODE + 2));
}

#[test]
fn popf_setting_tf_traps_after_the_next_instruction() {
    // push 0x0102 (TF | bit 1); popf; nop; nop
    let mut cpu = cpu(&[0x68, 0x02, 0x01, 0x9d, 0x90, 0x90]);
    cpu.step();
    cpu.step(); // POPF sets TF: no trap after it
    assert_eq!(cpu.s.eip, CODE + 4);
    assert_ne!(cpu.s.flags & eflags::TF, 0);
    cpu.step(); // the NOP traps
    assert_eq!((cpu.s.eip, stacked_ip(&mut cpu)), (DB_HANDLER, CODE + 5));
}

#[test]
fn mov_ss_holds_the_trap_for_one_instruction() {
    // mov ss, ax; nop; nop
    let mut cpu = cpu(&[0x8e, 0xd0, 0x90, 0x90]);
    cpu.s.flags |= eflags::TF;
    cpu.step();
    assert_eq!(cpu.s.eip, CODE + 2, "no trap right after MOV SS");
    cpu.step();
    assert_eq!((cpu.s.eip, stacked_ip(&mut cpu)), (DB_HANDLER, CODE + 3));
    assert_ne!(cpu.s.dr[6] & dr6::BS, 0);
}

#[test]
fn software_interrupts_do_not_single_step() {
    // int 20h; nop
    let mut cpu = cpu(&[0xcd, 0x20, 0x90]);
    cpu.s.flags |= eflags::TF;
    cpu.step();
    assert_eq!(cpu.s.eip, INT20_HANDLER, "INT n enters its handler with TF clear, no #DB");
}

#[test]
fn instruction_breakpoint_is_a_fault_and_rf_suppresses_it() {
    let mut cpu = cpu(&[0x90, 0x90, 0x40, 0x90]); // nop; nop; inc ax; nop
    cpu.s.dr[0] = CODE + 2;
    cpu.s.dr[7] = enable(0, 0, 0);
    cpu.step();
    cpu.step();
    assert_eq!(cpu.s.eip, CODE + 2);
    cpu.step();
    assert_eq!(cpu.s.eip, DB_HANDLER, "breakpoint before INC executes");
    assert_eq!(stacked_ip(&mut cpu), CODE + 2);
    assert_eq!(cpu.s.regs[reg::EAX], 0, "INC did not run");
    assert_eq!(cpu.s.dr[6] & 0xf, 1);
    // Back at the instruction with RF set (as a 32-bit handler would return): it runs once.
    cpu.s.eip = CODE + 2;
    cpu.s.flags |= eflags::RF;
    cpu.step();
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::EAX]), (CODE + 3, 1));
    assert_eq!(cpu.s.flags & eflags::RF, 0, "RF cleared once the instruction completed");
    // Without RF it fires again.
    cpu.s.eip = CODE + 2;
    cpu.step();
    assert_eq!(cpu.s.eip, DB_HANDLER);
}

#[test]
fn faults_push_rf_set() {
    // A #UD (ud2) pushes RF = 1 in EFLAGS; in real mode the 16-bit image cannot show it, so
    // check that RF is cleared by delivery and the handler is entered.
    let mut cpu = cpu(&[0x0f, 0x0b]);
    cpu.sys.write_bytes(6 * 4, &[0x00, 0x06, 0, 0]);
    cpu.step();
    assert_eq!(cpu.s.eip, DB_HANDLER);
    assert_eq!(cpu.s.flags & eflags::RF, 0);
}

#[test]
fn data_write_breakpoint_traps_after_the_write() {
    // mov al, [0x10] (a read: no trap); mov [0x12], al (a write into DR1's 4 bytes)
    let mut cpu = cpu(&[0xa0, 0x10, 0x00, 0xa2, 0x12, 0x00]);
    cpu.s.dr[1] = 0x20010;
    cpu.s.dr[7] = enable(1, 1, 3);
    cpu.s.regs[reg::EAX] = 0x55;
    cpu.tlb.flush();
    cpu.step();
    assert_eq!(cpu.s.eip, CODE + 3, "a read does not hit a write breakpoint");
    cpu.step();
    assert_eq!(cpu.s.eip, DB_HANDLER);
    assert_eq!(stacked_ip(&mut cpu), CODE + 6, "a trap: after the instruction");
    assert_eq!(cpu.s.dr[6] & 0xf, 2);
    assert_eq!(cpu.sys.ram().as_slice()[0x20012], 0, "the write happened");
    // The page holding the breakpoint never gets read or write tags.
    let e = *cpu.tlb.entry(false, 0x20010);
    assert_ne!(e.read, 0x20000);
    assert_ne!(e.write, 0x20000);
}

#[test]
fn read_write_breakpoint_catches_reads() {
    let mut cpu = cpu(&[0xa0, 0x11, 0x00]); // mov al, [0x11]
    cpu.s.dr[3] = 0x20010;
    cpu.s.dr[7] = enable(3, 3, 1); // 2 bytes: 0x20010-0x20011
    cpu.step();
    assert_eq!(cpu.s.eip, DB_HANDLER);
    assert_eq!(cpu.s.dr[6] & 0xf, 8);
}

#[test]
fn rep_stos_stops_after_the_iteration_that_hit() {
    // rep stosb over ES:0..8, breakpoint on ES:4
    let mut cpu = cpu(&[0xf3, 0xaa, 0x90]);
    cpu.s.regs[reg::ECX] = 8;
    cpu.s.regs[reg::EAX] = 0xab;
    cpu.s.dr[0] = 0x30004;
    cpu.s.dr[7] = enable(0, 1, 0);
    cpu.step();
    assert_eq!(cpu.s.eip, DB_HANDLER);
    assert_eq!(stacked_ip(&mut cpu), CODE, "back on the REP instruction");
    assert_eq!((cpu.s.regs[reg::ECX], cpu.s.regs[reg::EDI]), (3, 5));
    cpu.step(); // IRET
    cpu.step(); // the rest
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::ECX]), (CODE + 2, 0));
    assert_eq!(&cpu.sys.ram().as_slice()[0x30000..0x30009], &[0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0]);
}

#[test]
fn io_breakpoint_needs_cr4_de() {
    let mut cpu = cpu(&[0xe6, 0x80, 0xe6, 0x80]); // out 0x80, al; out 0x80, al
    cpu.s.dr[2] = 0x80;
    cpu.s.dr[7] = enable(2, 2, 0);
    cpu.step();
    assert_eq!(cpu.s.eip, CODE + 2, "ignored without CR4.DE");
    cpu.s.cr4 |= cr4::DE;
    cpu.step();
    assert_eq!((cpu.s.eip, stacked_ip(&mut cpu)), (DB_HANDLER, CODE + 4));
    assert_eq!(cpu.s.dr[6] & 0xf, 4);
}

#[test]
fn general_detect_faults_on_mov_dr() {
    let mut cpu = cpu(&[0x0f, 0x21, 0xf8]); // mov eax, dr7
    cpu.s.dr[7] |= dr7::GD;
    cpu.s.regs[reg::EAX] = 0x1234;
    cpu.step();
    assert_eq!((cpu.s.eip, stacked_ip(&mut cpu)), (DB_HANDLER, CODE));
    assert_ne!(cpu.s.dr[6] & dr6::BD, 0);
    assert_eq!(cpu.s.dr[7] & dr7::GD, 0, "cleared for the handler");
    assert_eq!(cpu.s.regs[reg::EAX], 0x1234);
}

#[test]
fn mov_dr_masks_dr6_and_dr7() {
    // mov dr7, eax; mov dr6, eax
    let mut cpu = cpu(&[0x0f, 0x23, 0xf8, 0x0f, 0x23, 0xf0]);
    cpu.s.regs[reg::EAX] = !dr7::GD;
    cpu.step();
    cpu.step();
    assert_eq!(cpu.s.dr[7], (!dr7::GD & !dr7::FIXED0) | dr7::FIXED1);
    assert_eq!(cpu.s.dr[6], 0xffff_cfff); // BD was clear in EAX; bit 12 reads 0
}

#[test]
fn icebp_raises_db_as_a_trap() {
    let mut cpu = cpu(&[0xf1, 0x90]);
    let dr6_before = cpu.s.dr[6];
    cpu.step();
    assert_eq!((cpu.s.eip, stacked_ip(&mut cpu)), (DB_HANDLER, CODE + 1));
    assert_eq!(cpu.s.dr[6], dr6_before);
}

#[test]
fn task_switch_trap_is_delivered_before_the_next_instruction() {
    let mut cpu = cpu(&[0x90]);
    cpu.debug_task_switch_trap();
    cpu.step();
    assert_eq!((cpu.s.eip, stacked_ip(&mut cpu)), (DB_HANDLER, CODE));
    assert_ne!(cpu.s.dr[6] & dr6::BT, 0);
}
