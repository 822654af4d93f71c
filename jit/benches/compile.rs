//! `cargo bench -p emu-jit --bench compile`: what translating a block costs, per block, for a
//! few blocks of the shapes a kernel's cold code is made of (a function's prologue up to a call,
//! its epilogue, a load and a test, a run of stores, a loop, an interpreter call). Not a timed
//! test: it reports, it asserts nothing about speed.
//!
//! The blocks are built for CPL 0 in flat 32-bit protected mode without paging: a kernel's mode
//! key but for paging, which changes no IR here (inlined accesses go through the TLB the same
//! way; the RAM window for loads with paging off is not set).
//!
//! For each block: its guest instructions, its IR instructions, its host code (compiled without
//! the optimiser), and the time to build the IR (`Translator::build`) and to compile it, without
//! Cranelift's optimiser (what the compile thread does while other blocks wait) and with it
//! (what it does when idle), in µs a block, each the median of `EMU_BENCH_ROUNDS` rounds
//! (default 5) of 200 blocks. Last, a line through the unoptimised compile times against the IR
//! sizes: its slope is what an IR instruction costs, and where it meets zero IR what a block
//! costs before its first (the part of a compile that does not shrink with less IR).
//!
//! Then what the baseline tier's assembler (`emu_jit::baseline::asm`) takes to write a block
//! of the shape its templates will have: seven ALU instructions with a memory operand, each
//! the base register loaded from the state, the TLB's tag compared, the load, the result and
//! the lazy flags stored, with its slow path and fault exit out of line, then the block's exit.
//!
//! With `EMU_BENCH_IR` set, each block's IR is printed too.
//!
//! The IR and host sizes are the same on every run; the times move with the host, so compare
//! two builds on the same machine, run alternately.

#[path = "../tests/common/mod.rs"]
mod common;

use emu_jit::baseline::asm::{Alu, Asm, Cond, Mem, Reg, Shift, W};
use emu_jit::layout;
use emu_jit::translate::Translator;
use iced_x86::code_asm::*;
use std::time::Instant;

/// Blocks built per timed round.
const BLOCKS: usize = 200;

/// One block's figures.
struct Figures {
    insns: usize,
    ir: usize,
    host: usize,
    build_us: f64,
    compile_us: f64,
    optimized_us: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Decodes `code` (32-bit, at `common::CODE`) up to the first instruction that ends a block, as
/// the dispatcher's scan would, and measures building and compiling it.
fn measure(code: &[u8], rounds: usize) -> Figures {
    let (key, insns, eips) = common::decode_block(&common::flat32(code), code);
    let mut tr = Translator::new().expect("Cranelift for this host");
    // As `emu` builds blocks without `--stats=full`: no counters.
    tr.counters = false;
    // The jump cache and the link cells the code would read: addresses only, never run.
    let jump = vec![0u64; 4 * emu_jit::cache::JUMP_SIZE];
    let cells = [0u64; 16];
    tr.jump_table = Some(jump.as_ptr() as usize);
    let build = |tr: &mut Translator| tr.build(&key, &insns, &eips, None, Some(cells.as_ptr() as usize), false);
    let func = build(&mut tr);
    if std::env::var_os("EMU_BENCH_IR").is_some() {
        println!("{}", emu_jit::translate::ir_text(&func));
    }
    let ir = func.dfg.num_insts();
    let host = tr.compile(func).expect("the bench's blocks compile").len();
    let mut time = |optimize: bool| -> (f64, f64) {
        let (mut builds, mut compiles) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (mut b, mut c) = (0.0, 0.0);
            for _ in 0..BLOCKS {
                let t0 = Instant::now();
                let func = build(&mut tr);
                let t1 = Instant::now();
                let code = if optimize { tr.compile_optimized(func) } else { tr.compile(func) };
                std::hint::black_box(code.expect("the bench's blocks compile"));
                b += (t1 - t0).as_secs_f64();
                c += t1.elapsed().as_secs_f64();
            }
            builds.push(b * 1e6 / BLOCKS as f64);
            compiles.push(c * 1e6 / BLOCKS as f64);
        }
        (median(builds), median(compiles))
    };
    let (build_us, compile_us) = time(false);
    let (_, optimized_us) = time(true);
    Figures { insns: insns.len(), ir, host, build_us, compile_us, optimized_us }
}

fn main() {
    let rounds = std::env::var("EMU_BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5usize).max(1);
    let blocks: Vec<(&str, Vec<u8>)> = vec![
        ("hlt", common::asm(32, |a| a.hlt())),
        ("ret", common::asm(32, |a| a.ret())),
        (
            "prologue, call",
            common::asm(32, |a| {
                a.push(ebp)?;
                a.mov(ebp, esp)?;
                a.push(edi)?;
                a.push(esi)?;
                a.push(ebx)?;
                a.sub(esp, 8)?;
                a.mov(esi, eax)?;
                a.call(0x2000)
            }),
        ),
        (
            "load, test, branch",
            common::asm(32, |a| {
                let mut out = a.create_label();
                a.mov(eax, dword_ptr(ebx + 8))?;
                a.test(eax, eax)?;
                a.je(out)?;
                a.set_label(&mut out)?;
                a.hlt()
            }),
        ),
        (
            "epilogue",
            common::asm(32, |a| {
                a.add(esp, 8)?;
                a.pop(ebx)?;
                a.pop(esi)?;
                a.pop(edi)?;
                a.pop(ebp)?;
                a.ret()
            }),
        ),
        (
            "stores",
            common::asm(32, |a| {
                a.mov(dword_ptr(esi + 4), eax)?;
                a.mov(dword_ptr(esi + 8), edx)?;
                a.mov(dword_ptr(esi + 12), 0u32)?;
                a.mov(dword_ptr(esi + 16), ecx)?;
                a.or(dword_ptr(esi), 1)?;
                a.jmp(0x2000)
            }),
        ),
        (
            "loop",
            common::asm(32, |a| {
                let mut top = a.create_label();
                a.set_label(&mut top)?;
                a.add(eax, dword_ptr(ecx))?;
                a.add(ecx, 4)?;
                a.dec(edx)?;
                a.jne(top)
            }),
        ),
        (
            "interpreter call",
            common::asm(32, |a| {
                a.pushfd()?;
                a.pop(eax)?;
                a.cli()?;
                a.mov(dword_ptr(ebx), 1u32)?;
                a.hlt()
            }),
        ),
    ];
    println!("compile cost per block, medians of {rounds} rounds of {BLOCKS} blocks (µs):");
    println!(
        "  {:<20} {:>6} {:>6} {:>6} {:>8} {:>8} {:>10}",
        "block", "insns", "IR", "host B", "build", "compile", "optimised"
    );
    let mut points = Vec::new();
    for (name, code) in &blocks {
        let f = measure(code, rounds);
        println!(
            "  {:<20} {:>6} {:>6} {:>6} {:>8.1} {:>8.1} {:>10.1}",
            name, f.insns, f.ir, f.host, f.build_us, f.compile_us, f.optimized_us
        );
        points.push((f.ir as f64, f.compile_us));
    }
    // Least squares: compile µs = fixed + per_ir * IR.
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), &(x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|&(x, _)| (x - mx) * (x - mx)).sum();
    let sxy: f64 = points.iter().map(|&(x, y)| (x - mx) * (y - my)).sum();
    let per_ir = sxy / sxx;
    println!(
        "  unoptimised compile ≈ {:.1} µs + {:.2} µs per IR instruction (least squares over the blocks above)",
        my - per_ir * mx,
        per_ir
    );
    measure_baseline(rounds);
}

/// The baseline tier's code for seven `add eax, [ebx + 8 * i]` and the block's exit (see the
/// module comment): the shape, not yet what the tier will emit to the byte.
fn template_block(a: &mut Asm) {
    // The block's arguments: the CPU in RDI, the exit context in RSI (the helper's second).
    let cpu = Reg::RDI;
    let tlb = layout::tlb_set(false);
    let mut cold = Vec::new();
    for i in 0..7 {
        let (slow, back) = (a.label(), a.label());
        // The address, and the TLB entry of its first byte, tagged with the page of its last.
        a.load(W::D, Reg::RCX, Mem::at(cpu, layout::reg(3)));
        a.lea(W::D, Reg::RDX, Mem::at(Reg::RCX, 8 * i));
        a.mov_rr(W::D, Reg::RAX, Reg::RDX);
        a.shift_ri(Shift::Shr, W::D, Reg::RAX, 7);
        a.alu_ri(Alu::And, W::D, Reg::RAX, 0x7fe0);
        a.lea(W::D, Reg::R8, Mem::at(Reg::RDX, 3));
        a.alu_ri(Alu::And, W::D, Reg::R8, -4096);
        a.alu_rm(Alu::Cmp, W::D, Reg::R8, Mem::indexed(cpu, Reg::RAX, 0, tlb + layout::TLB_READ));
        a.jcc(Cond::NE, slow);
        a.load(W::Q, Reg::R9, Mem::indexed(cpu, Reg::RAX, 0, tlb + layout::TLB_ADDEND));
        a.load(W::D, Reg::R9, Mem::indexed(Reg::R9, Reg::RDX, 0, 0));
        a.bind(back);
        // The operation, its result and the lazy flags.
        a.load(W::D, Reg::RAX, Mem::at(cpu, layout::reg(0)));
        a.alu_rr(Alu::Add, W::D, Reg::RAX, Reg::R9);
        a.store(W::D, Mem::at(cpu, layout::reg(0)), Reg::RAX);
        a.store(W::D, Mem::at(cpu, layout::CC_DST), Reg::RAX);
        a.store(W::D, Mem::at(cpu, layout::CC_SRC), Reg::R9);
        a.store_imm(W::D, Mem::at(cpu, layout::CC_OP), 14);
        cold.push((slow, back, 0x1000 + 3 * i as u32));
    }
    // The block's exit: the count and EIP, then the status.
    a.alu_mi(Alu::Add, W::Q, Mem::at(cpu, layout::ICOUNT), 7);
    a.store_imm(W::D, Mem::at(cpu, layout::EIP), 0x1015);
    a.mov_imm(Reg::RAX, 4);
    a.ret();
    // Out of line: each load's slow path (the helper, its fault flag) and fault exit.
    for (slow, back, eip) in cold {
        let fault = a.label();
        a.bind(slow);
        a.mov_rr(W::D, Reg::RCX, Reg::RDX);
        a.mov_imm(Reg::RDX, emu_jit::helpers::seg_size(emu_cpu_x86::SegReg::Ds, 4) as u64);
        a.mov_imm(Reg::RAX, emu_jit::helpers::read_mem as *const () as u64);
        a.call_r(Reg::RAX);
        a.mov_rr(W::Q, Reg::R9, Reg::RAX);
        a.shift_ri(Shift::Shr, W::Q, Reg::RAX, 32);
        a.jcc(Cond::NE, fault);
        a.jmp(back);
        a.bind(fault);
        a.store_imm(W::D, Mem::at(cpu, layout::EIP), eip as i32);
        a.mov_imm(Reg::RAX, 1);
        a.ret();
    }
}

/// Times [`template_block`]: µs a block and ns a host instruction.
fn measure_baseline(rounds: usize) {
    let mut a = Asm::new();
    template_block(&mut a);
    let code = a.finish().expect("every label bound").to_vec();
    let insns = iced_x86::Decoder::new(64, &code, iced_x86::DecoderOptions::NONE).iter().count();
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t0 = Instant::now();
        for _ in 0..BLOCKS * 10 {
            a.clear();
            template_block(&mut a);
            std::hint::black_box(a.finish().expect("every label bound"));
        }
        times.push(t0.elapsed().as_secs_f64() * 1e6 / (BLOCKS * 10) as f64);
    }
    let us = median(times);
    println!(
        "baseline assembler, a template block of 7 guest instructions: {insns} host instructions, {} bytes, \
         {us:.2} µs a block, {:.1} ns a host instruction (median of {rounds} rounds of {} blocks)",
        code.len(),
        us * 1e3 / insns as f64,
        BLOCKS * 10
    );
}
