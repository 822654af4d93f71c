//! `--cpu check` (lockstep mode) finds a difference between the tiers and names the first guest
//! instruction after which it shows, with the register or memory byte that differs.

mod common;
use common::*;
use emu_cpu_x86::Stop;
use emu_jit::{Jit, Options};
use iced_x86::code_asm::*;

fn checking(inject_bug_at: Option<u32>) -> Jit {
    Jit::new(Options { code_size: 1 << 20, check: true, inject_bug_at, ..Options::default() }).unwrap()
}

/// A block of six instructions; the JIT is made to miscompile the fourth (EAX bit 0 flipped
/// after it). The report names that instruction and EAX, not just the block.
#[test]
fn a_miscompiled_instruction_is_named() {
    let code = asm(32, |a| {
        a.mov(eax, 0x10u32)?; // 1000
        a.mov(edx, 0x20u32)?; // 1005
        a.add(eax, edx)?; // 100a
        a.mov(ebx, eax)?; // 100c
        a.shl(ebx, 2)?; // 100e
        a.mov(dword_ptr(0x3000u32), eax)?; // 1011
        a.inc(ecx)?; // 1016
        a.hlt()
    });
    assert_eq!(code[0xc..0xe], [0x89, 0xc3], "mov ebx, eax at 100c");
    // The injected bug is right after `mov ebx, eax` (so EBX itself is still right).
    let bug = CODE + 0xc;
    let mut cpu = flat32(&code);
    let mut j = checking(Some(bug));
    assert_eq!(j.run(&mut cpu, 100), Stop::Attention);
    let report = j.check_failure().expect("the checker found the difference").to_string();
    assert!(report.contains("first difference after the instruction at 0000100c: mov ebx, eax"), "{report}");
    assert!(report.contains("eax: jit 0x31, interpreter 0x30"), "{report}");
    // The CPU is left as at the block's start.
    assert_eq!(cpu.s.eip, CODE);
    assert_eq!(cpu.s.icount, 0);
    assert_eq!(cpu.sys.ram().as_slice()[0x3000], 0);
}

/// The bug is placed after the first store and EAX is overwritten at the end of the block, so
/// after the whole block only memory differs (the byte the second store wrote); instruction by
/// instruction, EAX differs right after the first store.
#[test]
fn a_memory_difference_is_named() {
    let code = asm(32, |a| {
        a.mov(eax, 0x41u32)?; // 1000
        a.mov(byte_ptr(0x3000u32), al)?; // 1005 (A2 disp32: 5 bytes)
        a.mov(byte_ptr(0x3001u32), al)?; // 100a
        a.mov(eax, 0u32)?; // 100f
        a.hlt()
    });
    let mut cpu = flat32(&code);
    let mut j = checking(Some(CODE + 5));
    assert_eq!(j.run(&mut cpu, 100), Stop::Attention);
    let report = j.check_failure().unwrap().to_string();
    // The whole block: registers agree (EAX is overwritten), memory at 3001 does not.
    assert!(report.contains("memory byte at physical 00003001: jit 40, interpreter 41"), "{report}");
    // Instruction by instruction: EAX differs right after the store at 1005.
    assert!(report.contains("first difference after the instruction at 00001005"), "{report}");
}

/// Without a bug, the same programs pass the checker.
#[test]
fn correct_code_passes() {
    let code = asm(32, |a| {
        a.mov(eax, 0x10u32)?;
        a.add(eax, 0x20u32)?;
        a.mov(dword_ptr(0x3000u32), eax)?;
        a.hlt()
    });
    let mut cpu = flat32(&code);
    let mut j = checking(None);
    assert_eq!(j.run(&mut cpu, 100), Stop::Halted);
    assert_eq!(j.check_failure(), None);
    assert!(j.stats.checked_blocks >= 1);
}

/// Device memory (like VGA's): reads return what was written; writes are counted.
struct DeviceMemory {
    bytes: [u8; 0x1000],
    writes: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl emu_core::Device for DeviceMemory {
    fn name(&self) -> &'static str {
        "device memory"
    }
    fn read(&mut self, _region: u8, offset: u64, size: u8) -> u32 {
        (0..size as usize).map(|i| (self.bytes[offset as usize + i] as u32) << (8 * i)).sum()
    }
    fn write(&mut self, _region: u8, offset: u64, size: u8, value: u32) {
        self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for i in 0..size as usize {
            self.bytes[offset as usize + i] = (value >> (8 * i)) as u8;
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Linux's VGA console probes video memory: it reads a word, writes 0x55AA there, and reads it
/// back. Run twice, once per tier, the second run read the first one's 0x55AA, and the checker
/// reported a difference that was its own doing (found booting Linux under `--cpu check`). A
/// block that writes to a device runs once, in the JIT: the device sees each write once.
#[test]
fn a_block_that_writes_to_device_memory_runs_once() {
    let code = asm(32, |a| {
        a.movzx(esi, word_ptr(0xb8002u32))?;
        a.mov(word_ptr(0xb8002u32), 0x55aau32)?;
        a.movzx(edi, word_ptr(0xb8002u32))?;
        a.inc(ecx)?;
        a.hlt()
    });
    let writes = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut cpu = flat32(&code);
    let dev = cpu.sys.add_device(Box::new(DeviceMemory { bytes: [0; 0x1000], writes: writes.clone() }));
    cpu.sys.map_mmio(0xb8000, 0x1000, dev, 0).unwrap();
    let mut j = checking(None);
    assert_eq!(j.run(&mut cpu, 100), Stop::Halted);
    assert_eq!(j.check_failure(), None);
    assert_eq!((cpu.s.regs[6], cpu.s.regs[7], cpu.s.regs[1]), (0, 0x55aa, 1), "esi, edi, ecx");
    assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 1, "the device saw one write");
    // The block was not checked (the interpreter never ran it), and the run went on checking.
    assert!(j.stats.jit_insns >= 4, "{:?}", j.stats);
}
