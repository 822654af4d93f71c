//! Decoded runs ([`Cpu::run_decoded`]) against stepping the interpreter over the same code:
//! the same state after a straight run, a store into the run's own code, a fault, a branch
//! the run did not predict, and the checks that make a run apply or end it.

use super::decoded::DecodedRun;
use crate::cpu::Cpu;
use crate::state::{attr, reg, Segment};
use emu_core::{ClockMode, System};

/// Real-address mode at 0000:`ip` with `code` there, SP = 8000h and IVT[0] = 0000:0600, the
/// code's page in the TLB.
fn cpu_with(ip: u32, code: &[u8]) -> Cpu {
    let mut cpu = Cpu::new(System::new(16 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap());
    cpu.s.segs[1] = Segment::real_mode(0, attr::REAL_MODE_CODE);
    cpu.s.segs[2] = Segment::real_mode(0, attr::REAL_MODE_DATA);
    cpu.s.eip = ip;
    cpu.s.regs[reg::ESP] = 0x8000;
    cpu.sys.write_bytes(0, &[0x00, 0x06, 0, 0]);
    cpu.sys.write_bytes(ip as u64, code);
    // Fill the TLB's execute tag, as the dispatcher's lookup does before a block's first run.
    cpu.translate_fetch(ip).unwrap();
    cpu
}

/// The run of the instructions at `eips` (16-bit code), decoded as `translate::scan` decodes a
/// block.
fn run_of(cpu: &mut Cpu, eips: &[u32]) -> DecodedRun {
    let mut insns = vec![];
    for &eip in eips {
        insns.push(cpu.decode_in_window(eip, false).expect("a whole window"));
    }
    let mut run = DecodedRun::default();
    cpu.decode_run_into(&insns, eips, &mut run);
    run
}

/// EIPs of consecutive instructions of lengths `lens` from `ip`.
fn consecutive(ip: u32, lens: &[u32]) -> Vec<u32> {
    lens.iter().scan(ip, |at, len| Some(std::mem::replace(at, *at + len))).collect()
}

/// What the tests compare: registers, EFLAGS, EIP, the instruction count, the stack.
fn state(cpu: &mut Cpu) -> (Vec<u32>, u32, u32, u64, Vec<u8>) {
    let mut stack = vec![0; 16];
    cpu.sys.read_bytes(0x7ff0, &mut stack);
    (cpu.s.regs.to_vec(), cpu.s.eflags(), cpu.s.eip, cpu.s.icount, stack)
}

/// add ax, bx / push ax / mov [0x500], ax / inc cx / sub dx, 3 / cmp ax, cx / jne +0
const STRAIGHT: &[u8] = &[0x01, 0xd8, 0x50, 0xa3, 0x00, 0x05, 0x41, 0x83, 0xea, 0x03, 0x39, 0xc8, 0x75, 0x00];
const STRAIGHT_LENS: &[u32] = &[2, 1, 3, 1, 3, 2, 2];

#[test]
fn a_run_leaves_the_state_stepping_leaves() {
    let (mut a, mut b) = (cpu_with(0x1000, STRAIGHT), cpu_with(0x1000, STRAIGHT));
    for c in [&mut a, &mut b] {
        c.s.regs[reg::EAX] = 0xfff0;
        c.s.regs[reg::EBX] = 0x0010;
        c.s.regs[reg::EDX] = 2;
    }
    let run = run_of(&mut a, &consecutive(0x1000, STRAIGHT_LENS));
    assert_eq!(run.len(), 7);
    assert_eq!(a.run_decoded(&run, 0..usize::MAX), 7);
    for _ in 0..7 {
        b.step();
    }
    assert_eq!(state(&mut a), state(&mut b));
    assert_eq!(a.read_lin(0x500, crate::flags::Size::W).unwrap(), 0);
    assert_eq!(a.s.eip, 0x100e);
}

/// Protected mode, flat 32-bit code at `ip` with `code` there, DS limited to 1 MiB (so an
/// operand above it faults), ESP = 8000h, no IDT (a fault ends in a shutdown).
fn cpu32_with(ip: u32, code: &[u8]) -> Cpu {
    let mut cpu = cpu_with(ip, code);
    cpu.s.cr0 |= crate::state::cr0::PE;
    cpu.s.segs = [Segment::flat32(0x10, false); 6];
    cpu.s.segs[1] = Segment::flat32(0x08, true);
    cpu.s.segs[crate::state::SegReg::Ds as usize].limit = 0xf_ffff;
    cpu.translate_fetch(ip).unwrap();
    cpu
}

/// [`run_of`] for 32-bit code.
fn run32_of(cpu: &mut Cpu, eips: &[u32]) -> DecodedRun {
    let insns: Vec<_> = eips.iter().map(|&eip| cpu.decode_in_window(eip, true).expect("a whole window")).collect();
    let mut run = DecodedRun::default();
    cpu.decode_run_into(&insns, eips, &mut run);
    run
}

/// The same in 32-bit code, where most instructions have fast forms (`super::fast`): add eax,
/// ebx / push eax / mov [0x500], eax / inc ecx / sub edx, 3 / cmp eax, ecx / mov esi, [0x500] /
/// pop edi / lea eax, [eax+ecx*4+8] / jne +0.
#[test]
fn a_run_of_fast_forms_leaves_the_state_stepping_leaves() {
    let code = [
        0x01, 0xd8, 0x50, 0xa3, 0x00, 0x05, 0, 0, 0x41, 0x83, 0xea, 0x03, 0x39, 0xc8, 0x8b, 0x35, 0x00, 0x05, 0, 0,
        0x5f, 0x8d, 0x44, 0x88, 0x08, 0x75, 0x00,
    ];
    let (mut a, mut b) = (cpu32_with(0x1000, &code), cpu32_with(0x1000, &code));
    for c in [&mut a, &mut b] {
        c.s.regs[reg::EAX] = 0xffff_fff0;
        c.s.regs[reg::EBX] = 0x10;
        c.s.regs[reg::EDX] = 2;
    }
    let run = run32_of(&mut a, &consecutive(0x1000, &[2, 1, 5, 1, 3, 2, 6, 1, 4, 2]));
    assert_eq!((run.len(), run.fast_forms()), (10, 10));
    assert_eq!(a.run_decoded(&run, 0..usize::MAX), 10);
    for _ in 0..10 {
        b.step();
    }
    assert_eq!(state(&mut a), state(&mut b));
    assert_eq!(a.s.eip, 0x101b);
}

/// A fast form that faults ends the run as a step does: inc eax / mov eax, [ebx] (past DS's
/// limit: #GP, and with no IDT a shutdown) / inc ecx.
#[test]
fn a_fast_form_that_faults_ends_the_run_as_a_step_does() {
    let code = [0x40, 0x8b, 0x03, 0x41];
    let (mut a, mut b) = (cpu32_with(0x1000, &code), cpu32_with(0x1000, &code));
    for c in [&mut a, &mut b] {
        c.s.regs[reg::EBX] = 0x20_0000;
    }
    let run = run32_of(&mut a, &consecutive(0x1000, &[1, 2, 1]));
    assert_eq!(run.fast_forms(), 3);
    assert_eq!(a.run_decoded(&run, 0..usize::MAX), 2);
    b.step();
    b.step();
    assert_eq!(a.s.regs[reg::ECX], 0, "nothing after the fault ran");
    assert!(a.shutdown, "the #GP escalated to a shutdown");
    assert_eq!((a.shutdown, a.s.eip), (b.shutdown, b.s.eip));
    assert_eq!(state(&mut a), state(&mut b));
}

/// The run's third instruction stores over its fourth (INC CX becomes INC SI, `46`): the run
/// stops before the rewritten instruction, and the interpreter then runs what is there now.
#[test]
fn a_store_into_the_run_ends_it_before_the_rewritten_instruction() {
    // add ax, bx / push ax / mov byte [0x1008], 0x46 / inc cx / nop
    let code = [0x01, 0xd8, 0x50, 0xc6, 0x06, 0x08, 0x10, 0x46, 0x41, 0x90];
    let mut cpu = cpu_with(0x1000, &code);
    let eips = consecutive(0x1000, &[2, 1, 5, 1, 1]);
    assert_eq!(eips[3], 0x1008);
    let run = run_of(&mut cpu, &eips);
    assert_eq!(cpu.run_decoded(&run, 0..usize::MAX), 3, "stops after the store, before the bytes it wrote");
    assert_eq!(cpu.s.eip, 0x1008);
    assert_eq!(cpu.run_decoded(&run, 0..usize::MAX), 0, "a run applies only at its first instruction");
    cpu.step();
    assert_eq!((cpu.s.regs[reg::ECX] & 0xffff, cpu.s.regs[reg::ESI] & 0xffff), (0, 1), "INC SI ran, not INC CX");
    // The same run from its start again: its fourth instruction's bytes differ from the start.
    cpu.s.eip = 0x1000;
    assert_eq!(cpu.run_decoded(&run, 0..usize::MAX), 3, "the rewritten instruction is not run from the run");
    assert_eq!(cpu.s.eip, 0x1008);
}

/// A fault ends the run as `Cpu::step` delivers it: counted, RF aside, EIP at the handler with
/// the faulting instruction's IP pushed, and nothing after it run.
#[test]
fn a_fault_ends_the_run_as_a_step_delivers_it() {
    // inc ax / div bl (BL = 0: #DE) / inc cx
    let code = [0x40, 0xf6, 0xf3, 0x41];
    let (mut a, mut b) = (cpu_with(0x1000, &code), cpu_with(0x1000, &code));
    let run = run_of(&mut a, &consecutive(0x1000, &[1, 2, 1]));
    assert_eq!(a.run_decoded(&run, 0..usize::MAX), 2);
    b.step();
    b.step();
    assert_eq!(a.s.eip, 0x600);
    assert_eq!(a.s.regs[reg::ECX], 0, "nothing after the fault ran");
    assert_eq!(state(&mut a), state(&mut b));
}

/// A run goes on across a jump it predicted (a merged JMP) and stops at one it did not.
#[test]
fn a_run_follows_eip_only_where_it_predicted() {
    // 1000: inc ax / jmp short 1010h / ... / 1010: inc bx / jne +0 (ZF clear: to 1014h)
    let mut code = vec![0x40, 0xeb, 0x0d];
    code.resize(0x10, 0xcc);
    code.extend([0x43, 0x75, 0x00, 0x90]);
    let mut cpu = cpu_with(0x1000, &code);
    let run = run_of(&mut cpu, &[0x1000, 0x1001, 0x1010, 0x1011]);
    assert_eq!(cpu.run_decoded(&run, 0..usize::MAX), 4);
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::EAX], cpu.s.regs[reg::EBX]), (0x1013, 1, 1));
    // The same instructions with the JMP predicted to fall through: the run stops after it.
    let mut cpu = cpu_with(0x1000, &code);
    let mut insns = vec![];
    for eip in [0x1000, 0x1001] {
        insns.push(cpu.decode_in_window(eip, false).unwrap());
    }
    insns.push(cpu.decode_in_window(0x1010, false).unwrap());
    let mut run = DecodedRun::default();
    cpu.decode_run_into(&insns, &[0x1000, 0x1001, 0x1003], &mut run);
    assert_eq!(cpu.run_decoded(&run, 0..usize::MAX), 2);
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::EBX]), (0x1010, 0));
}

/// A run runs the instructions it is given (block by block, for the dispatcher's checks in
/// between): from the one at CS:EIP, up to the end of the range.
#[test]
fn a_run_runs_a_range_of_its_instructions() {
    // inc ax / inc bx / inc cx / inc dx
    let code = [0x40, 0x43, 0x41, 0x42];
    let mut cpu = cpu_with(0x1000, &code);
    let run = run_of(&mut cpu, &consecutive(0x1000, &[1, 1, 1, 1]));
    assert_eq!(cpu.run_decoded(&run, 0..2), 2);
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::EBX], cpu.s.regs[reg::ECX]), (0x1002, 1, 0));
    assert_eq!(cpu.run_decoded(&run, 3..4), 0, "not at CS:EIP");
    let edx = cpu.s.regs[reg::EDX];
    assert_eq!(cpu.run_decoded(&run, 2..9), 2, "on from the third");
    assert_eq!((cpu.s.eip, cpu.s.regs[reg::ECX], cpu.s.regs[reg::EDX]), (0x1004, 1, edx + 1));
    let mut cpu = cpu_with(0x1000, &code);
    assert_eq!(cpu.run_decoded(&run, 0..0), 0, "none");
    assert_eq!(cpu.run_decoded(&run, 5..9), 0, "none");
    assert_eq!(cpu.s.eip, 0x1000);
}

/// Which instructions a run holds, and when it applies at all.
#[test]
fn a_run_holds_whole_windows_of_one_page_up_to_an_instruction_that_ends_runs() {
    // inc ax / sti / inc bx: the run ends with STI (it changes IF).
    let mut cpu = cpu_with(0x1000, &[0x40, 0xfb, 0x43]);
    let run = run_of(&mut cpu, &[0x1000, 0x1001, 0x1002]);
    assert_eq!(run.len(), 2);
    // inc ax / out dx, al / inc bx: port I/O ends it too.
    let mut cpu = cpu_with(0x1000, &[0x40, 0xee, 0x43]);
    assert_eq!(run_of(&mut cpu, &[0x1000, 0x1001, 0x1002]).len(), 2);
    // Near the page's end: the instruction whose 15-byte window crosses it is left out.
    let mut cpu = cpu_with(0x1ff0, &[0x40, 0x40, 0x40]);
    assert_eq!(run_of(&mut cpu, &[0x1ff0, 0x1ff1]).len(), 2, "1FF1h's window is the page's last");
    assert!(cpu.decode_in_window(0x1ff2, false).is_none());
    let insns = vec![cpu.decode_in_window(0x1ff0, false).unwrap(); 3];
    let mut run = DecodedRun::default();
    cpu.decode_run_into(&insns, &[0x1ff0, 0x1ff1, 0x1ff2], &mut run);
    assert_eq!(run.len(), 2, "1FF2h's window ends past the page");
    // A run applies only with the code size, CS base and limit it was made for.
    let mut cpu = cpu_with(0x1000, STRAIGHT);
    let run = run_of(&mut cpu, &consecutive(0x1000, STRAIGHT_LENS));
    cpu.s.segs[1].limit = 0x100c;
    assert_eq!(cpu.run_decoded(&run, 0..usize::MAX), 0, "its last byte past CS's limit");
    cpu.s.segs[1].limit = 0xffff;
    // The same bytes at CS:EIP with CS base 10h: the run's page offsets would be 10h off.
    cpu.sys.write_bytes(0x1010, STRAIGHT);
    cpu.s.segs[1].base = 0x10;
    assert_eq!(cpu.run_decoded(&run, 0..usize::MAX), 0, "another CS base (the same EIP, at another address)");
    cpu.s.segs[1].base = 0;
    cpu.s.segs[1].attr |= attr::DB;
    assert_eq!(cpu.run_decoded(&run, 0..usize::MAX), 0, "32-bit code");
    cpu.s.segs[1].attr &= !attr::DB;
    assert_eq!(cpu.run_decoded(&run, 0..usize::MAX), 7);
}
