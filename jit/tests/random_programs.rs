//! Property test: random straight-line and branching integer code (ALU, MOV, shifts and
//! rotates (SHLD/SHRD too) by immediates and by CL, INC/DEC/NEG/NOT, LEA, MOVZX/MOVSX, SETcc/CMOVcc, PUSH/POP,
//! XCHG, CBW/CWD, LEAVE, BSWAP, XADD, CMPXCHG, BT/BTS/BTR/BTC, BSF/BSR, MUL/IMUL in all forms, DIV/IDIV, short forward Jcc, string instructions
//! without REP, short REP MOVS/STOS and REPE/REPNE SCAS/CMPS and REP LODS, in either direction) from random registers and flags, often edge values (0, -1, 0x80000000,
//! shift counts around the operand size), in 16- and 32-bit code, run in both tiers (and once
//! more under `--cpu check`): the states and memory must be identical. In 16-bit code a divide
//! may raise #DE, whose handler halts; in 32-bit code the operands of a divide are made safe
//! first (the #DE cases are `divide_errors` in tests/programs.rs).

mod common;
use common::*;
use emu_cpu_x86::state::eflags;
use emu_cpu_x86::Stop;
use emu_jit::{Jit, Options};
use iced_x86::code_asm::*;

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const DATA: u32 = 0x3000;
// EBX is the data pointer and ESP the stack: never written by the random code.
const R32: [AsmRegister32; 6] = [eax, ecx, edx, esi, edi, ebp];
const R16: [AsmRegister16; 6] = [ax, cx, dx, si, di, bp];
const R8: [AsmRegister8; 6] = [al, cl, dl, ah, ch, dh];

/// One random instruction (or a short forward branch around one).
fn insn(a: &mut CodeAssembler, r: &mut Rng, bits: u32, depth: u32) -> Result<(), IcedError> {
    let (x, y) = (r.pick(&R32), r.pick(&R32));
    let (x16, y16) = (r.pick(&R16), r.pick(&R16));
    let (x8, y8) = (r.pick(&R8), r.pick(&R8));
    let imm = r.next() as u32;
    let disp = (r.below(32) * 2) as i32;
    let m32 = if bits == 32 { dword_ptr(ebx + disp) } else { dword_ptr(bx + disp) };
    let m16 = if bits == 32 { word_ptr(ebx + disp) } else { word_ptr(bx + disp) };
    let m8 = if bits == 32 { byte_ptr(ebx + disp) } else { byte_ptr(bx + disp) };
    let count = r.below(34) as u32;
    let edge = r.pick(&EDGE);
    macro_rules! alu {
        ($m:ident) => {
            match r.below(8) {
                0 => a.$m(x, y),
                1 => a.$m(x, imm),
                2 => a.$m(x16, y16),
                3 => a.$m(x8, y8),
                4 => a.$m(x, m32),
                5 => a.$m(m32, x),
                6 => a.$m(m16, imm & 0xffff),
                _ => a.$m(x8, m8),
            }
        };
    }
    macro_rules! shift {
        ($m:ident) => {
            match r.below(8) {
                0 => a.$m(x, count),
                1 => a.$m(x16, cl),
                2 => a.$m(x8, count),
                3 => a.$m(m32, count),
                4 => a.$m(x, cl),
                5 => a.$m(x8, cl),
                6 => a.$m(m8, count),
                _ => a.$m(x16, count),
            }
        };
    }
    // MUL, IMUL, DIV, IDIV with one operand, at a random size and place.
    macro_rules! one {
        ($m:ident) => {
            match r.below(6) {
                0 => a.$m(x),
                1 => a.$m(x16),
                2 => a.$m(x8),
                3 => a.$m(m32),
                4 => a.$m(m16),
                _ => a.$m(m8),
            }
        };
    }
    macro_rules! unary {
        ($m:ident) => {
            match r.below(3) {
                0 => a.$m(x),
                1 => a.$m(x8),
                _ => a.$m(m16),
            }
        };
    }
    match r.below(48) {
        0 => alu!(add),
        1 => alu!(sub),
        2 => alu!(and),
        3 => alu!(or),
        4 => alu!(xor),
        5 => alu!(cmp),
        6 => alu!(adc),
        7 => alu!(sbb),
        8 => match r.below(3) {
            0 => a.test(x, y),
            1 => a.test(x8, imm & 0xff),
            _ => a.test(m32, x),
        },
        9 => match r.below(5) {
            0 => a.mov(x, imm),
            1 => a.mov(x16, y16),
            2 => a.mov(x8, y8),
            3 => a.mov(m32, x),
            _ => a.mov(x, m32),
        },
        10 => shift!(shl),
        11 => shift!(shr),
        12 => shift!(sar),
        13 => shift!(rol),
        14 => shift!(rcr),
        15 => unary!(inc),
        16 => unary!(dec),
        17 => unary!(neg),
        18 => unary!(not),
        19 => {
            if bits == 32 {
                a.lea(x, dword_ptr(y + R32[0] * 4 + disp))
            } else {
                a.lea(x16, word_ptr(bx + si + disp))
            }
        }
        20 => match r.below(3) {
            0 => a.movzx(x, y8),
            1 => a.movsx(x, y16),
            _ => a.movsx(x16, m8),
        },
        21 => match r.below(16) {
            0 => a.sete(x8),
            1 => a.setb(x8),
            2 => a.setl(x8),
            3 => a.setle(m8),
            4 => a.seto(x8),
            5 => a.setp(x8),
            6 => a.sets(x8),
            7 => a.setbe(x8),
            8 => a.cmovne(x, y),
            9 => a.cmovae(x16, y16),
            10 => a.cmovg(x, m32),
            11 => a.cmovo(x, y),
            12 => a.cmovnp(x, y),
            13 => a.cmovns(x, y),
            14 => a.cmova(x, y),
            _ => a.cmovge(x, y),
        },
        22 => {
            a.push(x)?;
            a.pop(y)
        }
        23 => {
            a.push(x16)?;
            a.pop(y16)
        }
        24 => a.xchg(x, y),
        25 => match r.below(4) {
            0 => a.cbw(),
            1 => a.cwde(),
            2 => a.cwd(),
            _ => a.cdq(),
        },
        26 if depth == 0 => {
            let mut l = a.create_label();
            match r.below(8) {
                0 => a.je(l)?,
                1 => a.jb(l)?,
                2 => a.jl(l)?,
                3 => a.jbe(l)?,
                4 => a.js(l)?,
                5 => a.jo(l)?,
                6 => a.jp(l)?,
                _ => a.jg(l)?,
            }
            insn(a, r, bits, 1)?;
            a.set_label(&mut l)
        }
        27 => a.imul_2(x, y),
        28 => match r.below(9) {
            0 => a.rcl(x8, count),
            1 => a.ror(m16, count),
            2 => a.shld(x, y, count),
            3 => a.shrd(x, y, count),
            4 => a.shld(x16, y16, count),
            5 => a.shrd(m16, y16, count),
            6 => a.shld(x, y, cl),
            7 => a.shrd(x16, y16, cl),
            _ => a.shld(m32, y, count),
        },
        29 => {
            // A short REP MOVS/STOS inside the data area (EBX + 0..128, either direction).
            string_operands(a, r, bits)?;
            match r.below(6) {
                0 => a.rep().movsb()?,
                1 => a.rep().movsw()?,
                2 => a.rep().movsd()?,
                3 => a.rep().stosb()?,
                4 => a.rep().stosw()?,
                _ => a.rep().stosd()?,
            }
            a.cld()
        }
        30 => one!(mul),
        31 => one!(imul),
        32 => match r.below(6) {
            0 => a.imul_2(x16, y16),
            1 => a.imul_2(x, m32),
            2 => a.imul_3(x, y, imm),
            3 => a.imul_3(x, m32, (imm as i8) as i32),
            4 => a.imul_3(x16, m16, imm & 0xffff),
            _ => a.imul_3(x16, y16, (imm as i8) as i32),
        },
        33 | 34 => {
            // A divide; in 32-bit code (no #DE handler) with a nonzero divisor and a quotient
            // that fits: the dividend's upper half zero (DIV) or the sign of its lower half, with
            // a non-negative dividend or divisor (IDIV: no -2^(n-1) / -1).
            let signed = r.below(2) == 0;
            let (d32, d16, d8) = (r.pick(&[ecx, esi, edi, ebp]), r.pick(&[cx, si, di, bp]), r.pick(&[cl, ch, dh]));
            let size = r.below(3);
            if bits == 32 || r.below(2) == 0 {
                match (size, signed && r.below(2) == 0) {
                    (0, true) => a.and(d32, 0x7fff_ffffu32)?,
                    (1, true) => a.and(d16, 0x7fffu32)?,
                    (_, true) => a.and(d8, 0x7fu32)?,
                    (0, false) => a.shr(eax, 1u32)?,
                    (1, false) => a.shr(ax, 1u32)?,
                    (_, false) => a.shr(al, 1u32)?,
                }
                match size {
                    0 => a.or(d32, 1u32)?,
                    1 => a.or(d16, 1u32)?,
                    _ => a.or(d8, 1u32)?,
                }
                match (size, signed) {
                    (0, false) => a.xor(edx, edx)?,
                    (1, false) => a.xor(dx, dx)?,
                    (_, false) => a.mov(ah, 0u32)?,
                    (0, true) => a.cdq()?,
                    (1, true) => a.cwd()?,
                    (_, true) => a.cbw()?,
                }
            }
            match (size, signed) {
                (0, false) => a.div(d32),
                (1, false) => a.div(d16),
                (_, false) => a.div(d8),
                (0, true) => a.idiv(d32),
                (1, true) => a.idiv(d16),
                (_, true) => a.idiv(d8),
            }
        }
        35 => match r.below(4) {
            0 => a.mov(x, edge),
            1 => a.mov(cl, edge & 0xff),
            2 => a.mov(x16, edge & 0xffff),
            _ => a.mov(x8, edge & 0xff),
        },
        36 => shift!(rol),
        37 => shift!(ror),
        38 => shift!(rcl),
        39 => {
            // SHL + ADC: CF alone after a materialised-flags operation.
            a.shl(x, count)?;
            a.adc(y, 0u32)
        }
        40 | 41 => {
            // One string instruction without REP inside the data area, either direction.
            let (from, to) = ((4 + r.below(14) * 4) as i32, (64 + r.below(14) * 4) as i32);
            if bits == 32 {
                a.lea(esi, dword_ptr(ebx + from))?;
                a.lea(edi, dword_ptr(ebx + to))?;
            } else {
                a.lea(si, word_ptr(bx + from))?;
                a.lea(di, word_ptr(bx + to))?;
            }
            let down = r.below(2) == 0;
            if down {
                a.std()?;
            }
            match r.below(15) {
                0 => a.lodsb()?,
                1 => a.lodsw()?,
                2 => a.lodsd()?,
                3 => a.scasb()?,
                4 => a.scasw()?,
                5 => a.scasd()?,
                6 => a.cmpsb()?,
                7 => a.cmpsw()?,
                8 => a.cmpsd()?,
                9 => a.movsb()?,
                10 => a.movsw()?,
                11 => a.movsd()?,
                12 => a.stosb()?,
                13 => a.stosw()?,
                _ => a.stosd()?,
            }
            if down {
                a.cld()?;
            }
            // Read the flags a compare left.
            a.setbe(cl)
        }
        42 | 43 => {
            // REPE/REPNE SCAS or CMPS, or REP LODS, over a short run in the data area (ECX 0 to
            // 11, either direction); the data has repeated bytes, so runs end early too.
            let down = string_operands(a, r, bits)?;
            match r.below(9) {
                0 => a.repne().scasb()?,
                1 => a.repe().scasb()?,
                2 => a.repne().scasw()?,
                3 => a.repe().scasd()?,
                4 => a.repe().cmpsb()?,
                5 => a.repne().cmpsb()?,
                6 => a.repe().cmpsd()?,
                7 => a.rep().lodsb()?,
                _ => a.rep().lodsd()?,
            }
            if down {
                a.cld()?;
            }
            a.setne(dl)
        }
        44 => {
            // A frame: LEAVE restores ESP and EBP.
            if bits == 32 {
                a.push(ebp)?;
                a.mov(ebp, esp)?;
                a.push(x)?;
            } else {
                a.push(bp)?;
                a.mov(bp, sp)?;
                a.push(x16)?;
            }
            a.leave()
        }
        45 => match r.below(8) {
            0 => a.bswap(x),
            1 => a.xadd(x, y),
            2 => a.xadd(m32, x),
            3 => a.xadd(x8, y8),
            4 => a.cmpxchg(x, y),
            5 => a.cmpxchg(m32, x),
            6 => a.cmpxchg(m8, y8),
            _ => a.cmpxchg(x16, y16),
        },
        46 => match r.below(8) {
            0 => a.bt(x, y),
            1 => a.bts(x, count),
            2 => a.btr(m32, count),
            3 => a.btc(m16, count),
            4 => a.bt(x16, y16),
            5 => a.btr(x, y),
            6 => a.btc(x, y),
            _ => a.bts(m32, count),
        },
        47 => match r.below(4) {
            0 => a.bsf(x, y),
            1 => a.bsr(x, m32),
            2 => a.bsf(x16, y16),
            _ => a.bsr(x, y),
        },
        _ => a.nop(),
    }
}

/// Values that tend to find bugs: zeros, all ones, sign boundaries, shift counts around 8, 16
/// and 32.
const EDGE: [u32; 16] =
    [0, 1, 0xffff_ffff, 0x8000_0000, 0x7fff_ffff, 0x80, 0xff, 0x8000, 0xffff, 8, 9, 16, 17, 31, 32, 33];

/// A short string operation's operands in the data area: ESI (SI) at EBX + 0..64, EDI (DI) at
/// EBX + 64..128, ECX (CX) 0 to 11, and DF set one time in three; returns whether it set DF.
fn string_operands(a: &mut CodeAssembler, r: &mut Rng, bits: u32) -> Result<bool, IcedError> {
    let (from, to, n) = ((r.below(16) * 4) as i32, (64 + r.below(16) * 4) as i32, r.below(12) as u32);
    if bits == 32 {
        a.lea(esi, dword_ptr(ebx + from))?;
        a.lea(edi, dword_ptr(ebx + to))?;
        a.mov(ecx, n)?;
    } else {
        a.lea(si, word_ptr(bx + from))?;
        a.lea(di, word_ptr(bx + to))?;
        a.mov(cx, n)?;
    }
    let down = r.below(3) == 0;
    if down {
        a.std()?;
    }
    Ok(down)
}

fn program(r: &mut Rng, bits: u32, n: usize) -> Vec<u8> {
    asm(bits, |a| {
        for _ in 0..n {
            insn(a, r, bits, 0)?;
        }
        a.hlt()
    })
}

fn setup(cpu: &mut emu_cpu_x86::Cpu, seed: u64) {
    let mut r = Rng(seed | 1);
    for n in [0, 1, 2, 5, 6, 7] {
        cpu.s.regs[n] = if r.below(3) == 0 { r.pick(&EDGE) } else { r.next() as u32 };
    }
    // Real mode: #DE (vector 0) goes to a HLT at 0:0500.
    load(cpu, 0, &[0x00, 0x05, 0x00, 0x00]);
    load(cpu, 0x500, &[0xf4]);
    cpu.s.regs[3] = DATA;
    cpu.s.set_arith(r.next() as u32 & eflags::ARITH);
    // Bytes from a small alphabet, so string compares find equal elements.
    let data: Vec<u8> = (0..128).map(|_| if r.below(2) == 0 { r.below(3) as u8 } else { r.next() as u8 }).collect();
    load(cpu, DATA, &data);
}

fn check_seed(seed: u64, bits: u32) {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let code = program(&mut r, bits, 40);
    let make = || {
        let mut c = if bits == 32 { flat32(&code) } else { real_mode(&code) };
        setup(&mut c, seed);
        c
    };
    let what = format!("seed {seed}, {bits}-bit");
    let (_, stop, _) = same_in_both(make, 10_000, &what);
    assert_eq!(stop, Stop::Halted, "{what}");
    // And the lockstep checker agrees.
    let mut c = make();
    let mut j = Jit::new(Options { code_size: 1 << 20, check: true, ..Options::default() }).unwrap();
    j.run(&mut c, 10_000);
    assert_eq!(j.check_failure(), None, "{what}");
}

#[test]
fn random_programs_32_bit() {
    for seed in 0..300 {
        check_seed(seed, 32);
    }
}

#[test]
fn random_programs_16_bit() {
    for seed in 0..300 {
        check_seed(seed, 16);
    }
}

/// Random programs again with every block built by the baseline tier (fewer seeds: a third of
/// the run time).
#[test]
fn random_programs_with_the_baseline_tier() {
    with_baseline(|| {
        for seed in 0..100 {
            check_seed(seed, 32);
            check_seed(seed, 16);
        }
    });
}
