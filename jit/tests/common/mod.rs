//! Running the same guest code in both tiers and comparing everything.

#![allow(dead_code)]

use emu_core::{ClockMode, System};
use emu_cpu_x86::decode::{decode, Insn};
use emu_cpu_x86::state::{attr, cr0, Segment};
use emu_cpu_x86::{Cpu, Stop};
use emu_jit::key::{BlockKey, ModeKey};
use emu_jit::translate::ends_block;
use emu_jit::{Jit, Options};
use iced_x86::code_asm::CodeAssembler;

/// Where test code is loaded, and EIP at the start.
pub const CODE: u32 = 0x1000;

/// A CPU with 1 MiB of RAM (EDX cleared: RESET leaves the CPU signature in it).
pub fn cpu() -> Cpu {
    cpu_with_ram(1 << 20)
}

/// [`cpu`] with `ram` bytes of RAM.
pub fn cpu_with_ram(ram: u64) -> Cpu {
    let mut c = Cpu::new(System::new(ram, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap());
    c.s.regs[2] = 0;
    c
}

/// Real mode, all segments 0, code at 0:1000, stack at 0:8000, IF clear.
pub fn real_mode(code: &[u8]) -> Cpu {
    let mut c = cpu();
    c.s.segs = [Segment::real_mode(0, attr::REAL_MODE_DATA); 6];
    c.s.segs[1] = Segment::real_mode(0, attr::REAL_MODE_CODE);
    c.s.eip = CODE;
    c.s.regs[4] = 0x8000;
    load(&mut c, CODE, code);
    c
}

/// 32-bit flat protected mode (segment caches set directly), CPL 0, code at 1000, stack at 80000.
pub fn flat32(code: &[u8]) -> Cpu {
    flat32_with_ram(code, 1 << 20)
}

/// [`flat32`] with `ram` bytes of RAM.
pub fn flat32_with_ram(code: &[u8], ram: u64) -> Cpu {
    let mut c = cpu_with_ram(ram);
    c.s.cr0 |= cr0::PE;
    c.s.segs = [Segment::flat32(0x10, false); 6];
    c.s.segs[1] = Segment::flat32(0x08, true);
    c.s.eip = CODE;
    c.s.regs[4] = 0x80000;
    load(&mut c, CODE, code);
    c
}

/// [`flat32`] with paging on: the first 1 MiB identity-mapped, except page 0x50, which is not
/// present; no IDT, so a #PF escalates to a shutdown and leaves the state as it was.
pub fn paged32(code: &[u8]) -> Cpu {
    const PD: u32 = 0x10000;
    const PT: u32 = 0x11000;
    let mut c = flat32(code);
    load(&mut c, PD, &(PT | 3).to_le_bytes());
    for p in 0..256u32 {
        let pte = if p == 0x50 { 0 } else { (p << 12) | 3 };
        load(&mut c, PT + 4 * p, &pte.to_le_bytes());
    }
    c.s.cr3 = PD;
    c.s.cr0 |= cr0::PG;
    c.s.idtr.limit = 0;
    c
}

pub fn load(c: &mut Cpu, at: u32, bytes: &[u8]) {
    c.sys.ram_mut().as_mut_slice()[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
}

/// The block at the start of `code`, loaded at `CODE` in `cpu`'s mode, decoded as the
/// dispatcher's scan would (up to the first instruction that ends a block): its key, its
/// instructions and their EIPs.
pub fn decode_block(cpu: &Cpu, code: &[u8]) -> (BlockKey, Vec<Insn>, Vec<u32>) {
    let (mut insns, mut eips, mut at) = (Vec::new(), Vec::new(), 0usize);
    while at < code.len() {
        let i = decode(cpu.s.code32(), |n| code.get(at + n).copied().ok_or(())).expect("test code decodes");
        insns.push(i);
        eips.push(CODE + at as u32);
        at += i.len as usize;
        if ends_block(&i) {
            break;
        }
    }
    let key = BlockKey { phys: CODE, eip: CODE, cs_base: 0, mode: ModeKey::of(&cpu.s, !0) };
    (key, insns, eips)
}

/// Assembles with iced-x86 at `CODE`.
pub fn asm(bits: u32, f: impl FnOnce(&mut CodeAssembler) -> Result<(), iced_x86::IcedError>) -> Vec<u8> {
    asm_at(bits, CODE, f)
}

/// Assembles with iced-x86 at `at`.
pub fn asm_at(bits: u32, at: u32, f: impl FnOnce(&mut CodeAssembler) -> Result<(), iced_x86::IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a).unwrap();
    a.assemble(at as u64).unwrap()
}

/// A 32-bit loop of `iterations` that, every iteration, stores ECX & 0x7f with `mov [0], eax`
/// and then runs `add edx, add_imm; xor edx, ecx` (ending in HLT), and the offset in the code of
/// that store's 4-byte address, for the test to point at the ADD's immediate (or anywhere else):
/// a loop that patches its own next instruction.
pub fn self_patching_loop(iterations: u32, add_imm: u32) -> (Vec<u8>, usize) {
    use iced_x86::code_asm::*;
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(ecx, iterations)?;
        a.xor(edx, edx)?;
        a.set_label(&mut top)?;
        a.mov(eax, ecx)?;
        a.and(eax, 0x7fu32)?;
        a.mov(dword_ptr(0u32), eax)?; // `mov [moffs32], eax`: A3 and the address
        a.add(edx, add_imm)?;
        a.xor(edx, ecx)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let at = code.iter().position(|&b| b == 0xa3).expect("the patching store") + 1;
    (code, at)
}

pub fn jit() -> Jit {
    Jit::new(options()).unwrap()
}

/// The options [`jit`] makes its JIT with (the tier [`with_baseline`] or [`with_optimiser`]
/// chose on this thread), for tests that change others.
pub fn options() -> Options {
    let optimize_all = OPTIMISER.with(|o| o.get());
    let baseline = BASELINE.with(|o| o.get());
    Options { code_size: 1 << 20, optimize_all, baseline, ..Options::default() }
}

thread_local! {
    /// Whether [`jit`] compiles every block with Cranelift's optimiser (on this test's thread).
    static OPTIMISER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Whether [`jit`] builds every block with the baseline tier (on this test's thread).
    static BASELINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether [`jit`] builds blocks with the baseline tier now (tests skip their checks of what
/// only Cranelift's blocks do).
#[allow(dead_code)]
pub fn baseline_on() -> bool {
    BASELINE.with(|o| o.get()) && cfg!(all(target_arch = "x86_64", not(windows)))
}

/// Runs `f` (tests' bodies) with [`jit`] building every block with the baseline tier
/// (`Options::baseline`; on x86-64 hosts, elsewhere Cranelift as always).
#[allow(dead_code)]
pub fn with_baseline(f: impl FnOnce()) {
    BASELINE.with(|o| o.set(true));
    f();
    BASELINE.with(|o| o.set(false));
}

/// Runs `f` (tests' bodies) with [`jit`] compiling every block with Cranelift's optimiser
/// (`Options::optimize_all`), as the compile thread does for some.
#[allow(dead_code)]
pub fn with_optimiser(f: impl FnOnce()) {
    OPTIMISER.with(|o| o.set(true));
    f();
    OPTIMISER.with(|o| o.set(false));
}

/// Runs the interpreter on `a` and the JIT on `b` for up to `budget` instructions each.
pub fn run_both(a: &mut Cpu, b: &mut Cpu, budget: u64) -> (Stop, Stop, Jit) {
    let sa = a.run(budget);
    let mut j = jit();
    let sb = j.run(b, budget);
    if OPTIMISER.with(|o| o.get()) {
        assert_eq!(j.stats.blocks_optimized, j.stats.blocks_compiled, "every block optimised");
    }
    (sa, sb, j)
}

/// Asserts that two CPUs (interpreter first) are in the same state with the same RAM.
pub fn assert_same(interp: &Cpu, jit: &Cpu, what: &str) {
    if let Some(d) = emu_jit::check::diff_state(&jit.s, &interp.s) {
        panic!("{what}: {d}");
    }
    let (x, y) = (interp.sys.ram().as_slice(), jit.sys.ram().as_slice());
    if let Some(i) = (0..x.len()).find(|&i| x[i] != y[i]) {
        panic!("{what}: memory at {i:#x}: interpreter {:#04x}, jit {:#04x}", x[i], y[i]);
    }
}

/// Builds the same machine twice, runs each tier, and checks they agree; returns the JIT's CPU.
pub fn same_in_both(make: impl Fn() -> Cpu, budget: u64, what: &str) -> (Cpu, Stop, Jit) {
    let (mut a, mut b) = (make(), make());
    let (sa, sb, j) = run_both(&mut a, &mut b, budget);
    assert_eq!(sa, sb, "{what}: stop reason");
    assert_same(&a, &b, what);
    (b, sb, j)
}
