//! REP MOVS and REP STOS in 32-bit code: the inline path (short runs inside one page) and the
//! interpreter's (everything else) leave exactly the interpreter's state and memory, including
//! at a fault in the middle and when the copy rewrites code.

mod common;
use common::*;
use emu_cpu_x86::state::eflags;
use emu_cpu_x86::Stop;
use iced_x86::code_asm::*;

const SRC: u32 = 0x5000;
const DST: u32 = 0x7000;

/// One REP instruction after setting ECX, ESI, EDI and DF; then HLT.
fn rep_program(op: &str, count: u32, from: u32, to: u32, down: bool) -> Vec<u8> {
    asm(32, |a| {
        a.mov(ecx, count)?;
        a.mov(esi, from)?;
        a.mov(edi, to)?;
        // Touch both pages first, so the TLB has their read and write tags (the inline path
        // needs them; a miss goes to the interpreter).
        a.mov(edx, dword_ptr(esi))?;
        a.mov(dl, byte_ptr(edi))?;
        a.mov(byte_ptr(edi), dl)?;
        a.mov(eax, 0x8899_aabbu32)?;
        if down {
            a.std()?;
        } else {
            a.cld()?;
        }
        match op {
            "movsb" => a.rep().movsb()?,
            "movsw" => a.rep().movsw()?,
            "movsd" => a.rep().movsd()?,
            "stosb" => a.rep().stosb()?,
            "stosw" => a.rep().stosw()?,
            _ => a.rep().stosd()?,
        }
        a.inc(ebx)?;
        a.hlt()
    })
}

/// Whether the inline path takes a REP with these operands (the TLB being warm): ECX 0, or up
/// to 64 elements that stay inside one page on each side.
fn inline_ok(count: u32, from: u32, to: u32, size: u32, down: bool, movs: bool) -> bool {
    let in_page = |start: u32| {
        let bytes = count * size;
        let (lo, hi) = if down { (start + size - bytes, start + size - 1) } else { (start, start + bytes - 1) };
        lo >> 12 == hi >> 12
    };
    count == 0 || count <= 64 && in_page(to) && (!movs || in_page(from))
}

fn machine(code: &[u8]) -> emu_cpu_x86::Cpu {
    let mut c = flat32(code);
    let pattern: Vec<u8> = (0..0x4000u32).map(|x| (x * 13 + x / 255) as u8).collect();
    load(&mut c, SRC - 0x1000, &pattern);
    c
}

/// Every size, both directions, short and long counts, inside a page and across pages, with
/// disjoint and overlapping operands.
#[test]
fn rep_movs_and_stos_agree_with_the_interpreter() {
    let cases: &[(u32, u32, u32)] = &[
        (0, SRC, DST),
        (1, SRC, DST),
        (7, SRC + 3, DST + 1),
        (64, SRC, DST),
        (65, SRC, DST),
        (40, SRC + 0xfe0, DST), // the source crosses a page going up
        (40, SRC, DST + 0xff9), // the destination crosses a page going up
        (50, SRC, SRC + 1),     // overlapping: replicates going up
        (50, SRC + 1, SRC),
        (3000, SRC, DST),
    ];
    let mut runs = 0;
    for &(count, from, to) in cases {
        for down in [false, true] {
            let (from, to) = if down { (from + 0x200, to + 0x200) } else { (from, to) };
            for op in ["movsb", "movsw", "movsd", "stosb", "stosw", "stosd"] {
                let code = rep_program(op, count, from, to, down);
                let what = format!("rep {op} ecx={count} esi={from:x} edi={to:x} df={down}");
                let (cpu, stop, j) = same_in_both(|| machine(&code), 1000, &what);
                // CLD/STD and HLT run in the interpreter; the REP too unless it went inline.
                let size = match op.as_bytes()[4] {
                    b'b' => 1,
                    b'w' => 2,
                    _ => 4,
                };
                let want = if inline_ok(count, from, to, size, down, op.starts_with("movs")) { 2 } else { 3 };
                assert_eq!(j.stats.interp_in_blocks, want, "{what}: {:?}", j.stats);
                assert_eq!(stop, Stop::Halted, "{what}");
                assert_eq!(cpu.s.regs[1], 0, "{what}: ECX");
                assert_eq!(cpu.s.regs[3], 1, "{what}: the instruction after ran");
                assert_eq!(cpu.s.flags & eflags::DF != 0, down);
                runs += 1;
            }
        }
    }
    assert_eq!(runs, cases.len() * 12);
}

/// The inline path is taken: a loop of short REP MOVSD runs in translated code, with the REP
/// blocks chained, and costs one instruction per REP as in the interpreter.
#[test]
fn short_rep_movs_in_a_loop() {
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(edx, 200u32)?;
        a.cld()?;
        a.set_label(&mut top)?;
        a.mov(esi, SRC)?;
        a.mov(edi, DST)?;
        a.mov(ecx, edx)?;
        a.and(ecx, 15u32)?;
        a.rep().movsd()?;
        a.add(dword_ptr(DST), edx)?;
        a.dec(edx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let (cpu, stop, j) = same_in_both(|| machine(&code), 100_000, "short rep movsd loop");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.icount, 2 + 200 * 8 + 1);
    assert!(j.stats.jit_insns > 1500, "{:?}", j.stats);
    assert!(j.stats.chained > 300, "{:?}", j.stats);
    // Only the first REP (TLB misses) and the HLT ran in the interpreter: the others inline.
    assert!(j.stats.interp_in_blocks < 10, "{:?}", j.stats);
}

/// A page fault in the middle of a REP MOVSD (the destination runs into a page that is not
/// present): ECX, ESI, EDI and CR2 as the interpreter leaves them, the elements before the
/// fault copied.
#[test]
fn page_fault_in_the_middle_of_rep_movs() {
    const PD: u32 = 0x10000;
    const PT: u32 = 0x11000;
    for count in [8u32, 40, 2000] {
        let code = rep_program("movsd", count, SRC, 0x8ff0, false); // page 9 is not present
        let make = || {
            let mut c = machine(&code);
            load(&mut c, PD, &(PT | 3).to_le_bytes());
            for p in 0..256u32 {
                let pte = if p == 9 { 0 } else { (p << 12) | 3 };
                load(&mut c, PT + 4 * p, &pte.to_le_bytes());
            }
            c.s.cr3 = PD;
            c.s.cr0 |= emu_cpu_x86::state::cr0::PG;
            c.s.idtr.limit = 0; // no IDT: the #PF escalates to a shutdown, the state as it was
            c
        };
        let what = format!("#PF in rep movsd, ecx={count}");
        let (cpu, _, _) = same_in_both(make, 1000, &what);
        assert_eq!(cpu.s.cr2, 0x9000, "{what}");
        assert_eq!(cpu.s.regs[1], count - 4, "{what}: four elements copied");
        assert_eq!(cpu.s.regs[7], 0x9000, "{what}: EDI at the faulting element");
        assert_eq!(cpu.s.regs[3], 0, "{what}: the instruction after did not run");
    }
}

/// REP MOVSB copies new code over the instructions that follow it: they run as copied.
#[test]
fn rep_movs_rewrites_the_code_after_it() {
    let patch = asm(32, |a| {
        a.mov(ebx, 0x1234u32)?;
        a.hlt()
    });
    let code = asm(32, |a| {
        let mut here = a.create_label();
        a.mov(esi, SRC)?;
        a.mov(edi, 0u32)?; // fixed up below: the address of `here`
        a.mov(ecx, patch.len() as u32)?;
        a.cld()?;
        a.rep().movsb()?;
        a.set_label(&mut here)?;
        a.mov(ebx, 1u32)?;
        a.hlt()
    });
    let here = CODE + code.len() as u32 - 6;
    let mut code = code;
    code[6..10].copy_from_slice(&here.to_le_bytes()); // BF imm32 at 5: mov edi, here
    assert_eq!(code[5], 0xbf);
    let make = || {
        let mut c = flat32(&code);
        load(&mut c, SRC, &patch);
        c
    };
    // The destination is the page of the running block: marked as code, so it has no write tag
    // and the interpreter copies, reporting the write; the block leaves and the page is
    // retranslated.
    let (cpu, stop, j) = same_in_both(make, 1000, "rep movsb over code");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[3], 0x1234);
    assert!(j.stats.invalidated_blocks > 0, "{:?}", j.stats);
}
