//! MUL/IMUL/DIV/IDIV and the shifts and rotates, every form the JIT specialises (and a few it
//! leaves to the interpreter), on edge values: each form runs alone in a block from every pair of
//! values below (as the accumulator/dividend and as the operand/count), in 16- and 32-bit code,
//! in both tiers and under `--cpu check`; states and memory must be identical. Divides by 0 and
//! quotients that overflow raise #DE (real mode: a handler that halts; 32-bit code: no IDT, so
//! the machine shuts down, in both tiers the same way).

mod common;
use common::*;
use emu_cpu_x86::decode::Mnemonic;
use emu_cpu_x86::state::eflags;
use emu_jit::{Jit, Options};
use iced_x86::code_asm::*;

const DATA: u32 = 0x3000;

const EDGE: [u32; 10] = [0, 1, 0xffff_ffff, 0x8000_0000, 0x7fff_ffff, 0x80, 0xff7f, 0x8000, 8, 33];

type Form = (&'static str, fn(&mut CodeAssembler, u32) -> Result<(), IcedError>, bool);

/// (name, emitter given the code size, whether the JIT must translate it without the
/// interpreter). EAX/EDX hold the first value, ECX (CL) and [EBX] the second.
fn forms() -> Vec<Form> {
    macro_rules! f {
        ($name:expr, $spec:expr, |$a:ident, $bits:ident| $body:expr) => {
            ($name, |$a: &mut CodeAssembler, $bits: u32| -> Result<(), IcedError> { $body }, $spec)
        };
    }
    fn m32(bits: u32) -> AsmMemoryOperand {
        if bits == 32 {
            dword_ptr(ebx)
        } else {
            dword_ptr(bx)
        }
    }
    fn m16(bits: u32) -> AsmMemoryOperand {
        if bits == 32 {
            word_ptr(ebx)
        } else {
            word_ptr(bx)
        }
    }
    fn m8(bits: u32) -> AsmMemoryOperand {
        if bits == 32 {
            byte_ptr(ebx)
        } else {
            byte_ptr(bx)
        }
    }
    vec![
        f!("mul ecx", true, |a, _b| a.mul(ecx)),
        f!("mul cx", true, |a, _b| a.mul(cx)),
        f!("mul cl", true, |a, _b| a.mul(cl)),
        f!("mul dword [ebx]", true, |a, b| a.mul(m32(b))),
        f!("mul byte [ebx]", true, |a, b| a.mul(m8(b))),
        f!("imul ecx", true, |a, _b| a.imul(ecx)),
        f!("imul cx", true, |a, _b| a.imul(cx)),
        f!("imul cl", true, |a, _b| a.imul(cl)),
        f!("imul word [ebx]", true, |a, b| a.imul(m16(b))),
        f!("imul eax, ecx", true, |a, _b| a.imul_2(eax, ecx)),
        f!("imul ax, cx", true, |a, _b| a.imul_2(ax, cx)),
        f!("imul eax, [ebx]", true, |a, b| a.imul_2(eax, m32(b))),
        f!("imul eax, ecx, -3", true, |a, _b| a.imul_3(eax, ecx, -3)),
        f!("imul ax, cx, 0x4001", true, |a, _b| a.imul_3(ax, cx, 0x4001)),
        f!("imul edx, [ebx], 0x10001", true, |a, b| a.imul_3(edx, m32(b), 0x10001)),
        f!("div ecx", true, |a, _b| a.div(ecx)),
        f!("div cx", true, |a, _b| a.div(cx)),
        f!("div cl", true, |a, _b| a.div(cl)),
        f!("div dword [ebx]", true, |a, b| a.div(m32(b))),
        f!("idiv ecx", true, |a, _b| a.idiv(ecx)),
        f!("idiv cx", true, |a, _b| a.idiv(cx)),
        f!("idiv cl", true, |a, _b| a.idiv(cl)),
        f!("idiv byte [ebx]", true, |a, b| a.idiv(m8(b))),
        f!("idiv word [ebx]", true, |a, b| a.idiv(m16(b))),
        f!("shl eax, cl", true, |a, _b| a.shl(eax, cl)),
        f!("shl ax, cl", true, |a, _b| a.shl(ax, cl)),
        f!("shl al, cl", true, |a, _b| a.shl(al, cl)),
        f!("shr eax, cl", true, |a, _b| a.shr(eax, cl)),
        f!("shr dl, cl", true, |a, _b| a.shr(dl, cl)),
        f!("sar eax, cl", true, |a, _b| a.sar(eax, cl)),
        f!("sar ax, cl", true, |a, _b| a.sar(ax, cl)),
        f!("sar ah, cl", true, |a, _b| a.sar(ah, cl)),
        f!("rol eax, cl", true, |a, _b| a.rol(eax, cl)),
        f!("rol ax, cl", true, |a, _b| a.rol(ax, cl)),
        f!("rol al, cl", true, |a, _b| a.rol(al, cl)),
        f!("ror eax, cl", true, |a, _b| a.ror(eax, cl)),
        f!("ror dx, cl", true, |a, _b| a.ror(dx, cl)),
        f!("ror al, cl", true, |a, _b| a.ror(al, cl)),
        f!("rcl eax, cl", true, |a, _b| a.rcl(eax, cl)),
        f!("rcl ax, cl", true, |a, _b| a.rcl(ax, cl)),
        f!("rcl al, cl", true, |a, _b| a.rcl(al, cl)),
        f!("rcr eax, cl", true, |a, _b| a.rcr(eax, cl)),
        f!("rcr ax, cl", true, |a, _b| a.rcr(ax, cl)),
        f!("rcr dh, cl", true, |a, _b| a.rcr(dh, cl)),
        f!("shld eax, edx, cl", true, |a, _b| a.shld(eax, edx, cl)),
        f!("shld ax, dx, cl", true, |a, _b| a.shld(ax, dx, cl)),
        f!("shrd eax, edx, cl", true, |a, _b| a.shrd(eax, edx, cl)),
        f!("shrd ax, dx, cl", true, |a, _b| a.shrd(ax, dx, cl)),
        f!("shld eax, edx, 31", true, |a, _b| a.shld(eax, edx, 31)),
        f!("shrd word [ebx], dx, 20", true, |a, b| a.shrd(m16(b), dx, 20)),
        f!("shld ax, dx, 17", true, |a, _b| a.shld(ax, dx, 17)),
        f!("shrd edx, eax, 1", true, |a, _b| a.shrd(edx, eax, 1)),
        f!("shl dword [ebx], cl", false, |a, b| a.shl(m32(b), cl)),
        f!("rol eax, 1", true, |a, _b| a.rol(eax, 1)),
        f!("rol al, 8", true, |a, _b| a.rol(al, 8)),
        f!("ror ax, 17", true, |a, _b| a.ror(ax, 17)),
        f!("ror eax, 31", true, |a, _b| a.ror(eax, 31)),
        f!("rcl al, 9 (a whole turn)", false, |a, _b| a.rcl(al, 9)),
        f!("rcl al, 10", true, |a, _b| a.rcl(al, 10)),
        f!("rcr ax, 1", true, |a, _b| a.rcr(ax, 1)),
        f!("rcr eax, 31", true, |a, _b| a.rcr(eax, 31)),
        f!("rcl dword [ebx], 5", true, |a, b| a.rcl(m32(b), 5)),
        f!("ror word [ebx], 3", true, |a, b| a.ror(m16(b), 3)),
        f!("shl byte [ebx], 9", true, |a, b| a.shl(m8(b), 9)),
        f!("sar dword [ebx], 31", true, |a, b| a.sar(m32(b), 31)),
        f!("shl eax, 0", false, |a, _b| a.shl(eax, 0)),
        f!("shr eax, 32 (masked to 0)", false, |a, _b| a.shr(eax, 32)),
        f!("bsf eax, ecx", true, |a, _b| a.bsf(eax, ecx)),
        f!("bsr ax, cx", true, |a, _b| a.bsr(ax, cx)),
        f!("bsr edx, [ebx]", true, |a, b| a.bsr(edx, m32(b))),
        f!("bt eax, ecx", true, |a, _b| a.bt(eax, ecx)),
        f!("bts dword [ebx], 33", true, |a, b| a.bts(m32(b), 33)),
        f!("btr ax, cx", true, |a, _b| a.btr(ax, cx)),
        f!("btc eax, 31", true, |a, _b| a.btc(eax, 31)),
        f!("bt dword [ebx], ecx (bit addressing)", false, |a, b| a.bt(m32(b), ecx)),
        f!("xadd eax, ecx", true, |a, _b| a.xadd(eax, ecx)),
        f!("xadd [ebx], cl", true, |a, b| a.xadd(m8(b), cl)),
        f!("xadd eax, eax", true, |a, _b| a.xadd(eax, eax)),
        f!("cmpxchg ecx, edx", true, |a, _b| a.cmpxchg(ecx, edx)),
        f!("cmpxchg [ebx], edx", true, |a, b| a.cmpxchg(m32(b), edx)),
        f!("cmpxchg ax, cx", true, |a, _b| a.cmpxchg(ax, cx)),
        f!("cmpxchg al, ah", true, |a, _b| a.cmpxchg(al, ah)),
        f!("bswap eax", true, |a, _b| a.bswap(eax)),
        f!("leave", true, |a, _b| a.leave()),
        f!("shl ebx, 1; adc eax, 0", true, |a, _b| {
            a.shl(edx, 1)?;
            a.adc(eax, 0)
        }),
        f!("ror eax, 3; jb", true, |a, _b| {
            let mut l = a.create_label();
            a.ror(eax, 3)?;
            a.jb(l)?;
            a.inc(edx)?;
            a.set_label(&mut l)?;
            a.nop()
        }),
        f!("adc eax, ecx; sbb edx, ecx; adc eax, 0", true, |a, _b| {
            a.adc(eax, ecx)?;
            a.sbb(edx, ecx)?;
            a.adc(eax, 0)?;
            a.setb(cl)?;
            a.seto(ch)
        }),
        f!("rol al, cl; seto", true, |a, _b| {
            a.rol(al, cl)?;
            a.seto(dl)?;
            a.setz(dh)
        }),
    ]
}

fn run_form(name: &str, f: fn(&mut CodeAssembler, u32) -> Result<(), IcedError>, spec: bool, bits: u32) {
    run_form_df(name, f, spec, bits, false, &EDGE)
}

fn run_form_df(
    name: &str,
    f: fn(&mut CodeAssembler, u32) -> Result<(), IcedError>,
    spec: bool,
    bits: u32,
    df: bool,
    values: &[u32],
) {
    let code = asm(bits, |a| {
        f(a, bits)?;
        a.hlt()
    });
    for (k, &x) in values.iter().enumerate() {
        for &y in values {
            let flags = if k % 2 == 0 { eflags::CF | eflags::ZF } else { eflags::OF | eflags::SF | eflags::AF };
            let make = || {
                let mut c = if bits == 32 { flat32(&code) } else { real_mode(&code) };
                c.s.regs[0] = x;
                c.s.regs[2] = x.rotate_left(7) ^ y;
                c.s.regs[1] = y;
                c.s.regs[3] = DATA;
                c.s.set_arith(flags);
                if df {
                    c.s.flags |= eflags::DF;
                }
                // String operands: ESI and EDI into the data area (edge values in the upper half).
                c.s.regs[6] = (x & 0xffff_0000) | (DATA + 8);
                c.s.regs[7] = (y & 0xffff_0000) | (DATA + 4);
                load(&mut c, DATA + 8, &x.to_le_bytes());
                load(&mut c, DATA, &y.to_le_bytes());
                // Real mode: #DE goes to a HLT at 0:0500.
                load(&mut c, 0, &[0x00, 0x05, 0x00, 0x00]);
                load(&mut c, 0x500, &[0xf4]);
                c
            };
            let what = format!("{name} ({bits}-bit), values {x:#x}, {y:#x}");
            let (_, _, j) = same_in_both(make, 100, &what);
            if spec {
                let top = j.interp_in_blocks_top(100);
                assert!(top.iter().all(|&(m, _)| m == Mnemonic::Hlt), "{what}: ran in the interpreter: {top:?}");
            }
            let mut c = make();
            let mut j = Jit::new(Options { code_size: 1 << 20, check: true, ..Options::default() }).unwrap();
            j.run(&mut c, 100);
            assert_eq!(j.check_failure(), None, "{what}");
        }
    }
}

/// String instructions without REP, both directions (`spec`: translated; the REP forms the
/// interpreter runs are here for the comparison only).
fn string_forms() -> Vec<Form> {
    macro_rules! f {
        ($name:expr, $spec:expr, |$a:ident| $body:expr) => {
            ($name, |$a: &mut CodeAssembler, _: u32| -> Result<(), IcedError> { $body }, $spec)
        };
    }
    vec![
        f!("lodsb", true, |a| a.lodsb()),
        f!("lodsw", true, |a| a.lodsw()),
        f!("lodsd", true, |a| a.lodsd()),
        f!("scasb", true, |a| a.scasb()),
        f!("scasw", true, |a| a.scasw()),
        f!("scasd", true, |a| a.scasd()),
        f!("cmpsb", true, |a| a.cmpsb()),
        f!("cmpsw", true, |a| a.cmpsw()),
        f!("cmpsd", true, |a| a.cmpsd()),
        f!("es movsb", true, |a| a.db(&[0x26, 0xa4])),
        f!("movsw", true, |a| a.movsw()),
        f!("stosb", true, |a| a.stosb()),
        f!("stosd", true, |a| a.stosd()),
        f!("lodsd; scasd; jb", true, |a| {
            let mut l = a.create_label();
            a.lodsd()?;
            a.scasd()?;
            a.jb(l)?;
            a.inc(edx)?;
            a.set_label(&mut l)?;
            a.nop()
        }),
        f!("repne scasb", false, |a| a.repne().scasb()),
        f!("repe cmpsb", false, |a| a.repe().cmpsb()),
        f!("rep lodsb", false, |a| a.rep().lodsb()),
    ]
}

#[test]
fn strings() {
    for (name, f, spec) in string_forms() {
        for bits in [16, 32] {
            for df in [false, true] {
                run_form_df(name, f, spec, bits, df, &[0, 0xffff_ffff, 0x8000_0000, 0x7f]);
            }
        }
    }
}

#[test]
fn forms_32_bit() {
    for (name, f, spec) in forms() {
        run_form(name, f, spec, 32);
    }
}

#[test]
fn forms_16_bit() {
    for (name, f, spec) in forms() {
        run_form(name, f, spec, 16);
    }
}

/// REPE/REPNE SCAS and CMPS and REP LODS in 32-bit code: ECX 0, 1, short, at the inline limit
/// (256) and beyond it (the interpreter runs those), both directions, runs that end on the
/// condition and runs that use up ECX. Inside one page the short ones must not call the
/// interpreter.
#[test]
fn rep_scans_32_bit() {
    type Emit = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let forms: [(&str, Emit); 8] = [
        ("repne scasb", |a| a.repne().scasb()),
        ("repe scasb", |a| a.repe().scasb()),
        ("repne scasd", |a| a.repne().scasd()),
        ("repe cmpsb", |a| a.repe().cmpsb()),
        ("repne cmpsw", |a| a.repne().cmpsw()),
        ("repe cmpsd", |a| a.repe().cmpsd()),
        ("rep lodsb", |a| a.rep().lodsb()),
        ("rep lodsd", |a| a.rep().lodsd()),
    ];
    for (name, f) in forms {
        let code = asm(32, |a| {
            // Fill the TLB for both pages (the inline path needs read tags).
            a.mov(edx, dword_ptr(esi))?;
            a.mov(edx, dword_ptr(edi))?;
            f(a)?;
            a.hlt()
        });
        for count in [0u32, 1, 2, 7, 40, 255, 256, 257, 5000] {
            for df in [false, true] {
                for stop_at in [3usize, 100, 10_000] {
                    let make = || {
                        let mut c = flat32(&code);
                        // ESI at 0x3800, EDI at 0x5800 (the middle of their pages), so up to 256
                        // elements of any size either way stay in the page.
                        c.s.regs[6] = 0x3800;
                        c.s.regs[7] = 0x5800;
                        c.s.regs[1] = count;
                        c.s.regs[0] = 0x4141_4141;
                        if df {
                            c.s.flags |= eflags::DF;
                        }
                        // Both sides equal ('A's) except at element `stop_at` from each start.
                        for base in [0x3000u32, 0x5000] {
                            load(&mut c, base, &[0x41; 0x1000]);
                        }
                        for (base, v) in [(0x3800u32, 0x42u8), (0x5800, 0x43)] {
                            for sz in [1u32, 2, 4] {
                                let off = (stop_at as u32).wrapping_mul(sz);
                                let at = if df { base.wrapping_sub(off) } else { base.wrapping_add(off) };
                                if (0x3000..0x6000).contains(&at) {
                                    load(&mut c, at, &[v]);
                                }
                            }
                        }
                        c
                    };
                    let what = format!("{name}, ECX {count}, DF {df}, differs at {stop_at}");
                    let (_, _, j) = same_in_both(make, 100, &what);
                    if count <= 256 {
                        let top = j.interp_in_blocks_top(100);
                        assert!(top.iter().all(|&(m, _)| m == Mnemonic::Hlt), "{what}: interpreter ran {top:?}");
                    }
                    let mut c = make();
                    let mut j = Jit::new(Options { code_size: 1 << 20, check: true, ..Options::default() }).unwrap();
                    j.run(&mut c, 100);
                    assert_eq!(j.check_failure(), None, "{what}");
                }
            }
        }
    }
}
