//! Golden files for code generation: a guest block in, Cranelift IR out (tests/golden/*.clif).
//! Helper and instruction addresses appear as small placeholders (0x1000 + 0x10 * helper,
//! 0x10000 + 0x100 * instruction index), so the text is the same on every run; pointers are
//! 64-bit. After an intended change, re-bless with `EMU_BLESS=1 cargo test -p emu-jit --test
//! golden` and review the diff: these files are also teaching material for docs/.

mod common;
use emu_jit::translate::{ir_text, Translator};
use iced_x86::code_asm::*;
use std::path::PathBuf;

/// Decodes `code` (at `common::CODE`) into a block the way `scan` would, builds its IR and
/// compares it with `tests/golden/{name}.clif`.
fn golden(name: &str, cpu: emu_cpu_x86::Cpu, code: &[u8]) {
    let (key, insns, eips) = common::decode_block(&cpu, code);
    let mut t = Translator::new().unwrap();
    if t.pointer_type().bits() != 64 {
        return; // the golden files are for 64-bit hosts
    }
    let mut text = format!("; {name}: guest block\n");
    text += &emu_jit::dump::guest_text(&insns, &eips).lines().map(|l| format!(";{l}\n")).collect::<String>();
    // Link cells at a placeholder address, so the chaining exits show.
    text += &ir_text(&t.build(&key, &insns, &eips, None, Some(0x2000), true));
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.clif"));
    if std::env::var_os("EMU_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run with EMU_BLESS=1 to create it", path.display()));
    if want != text {
        panic!("IR for {name} differs from {}; run with EMU_BLESS=1 if intended:\n{text}", path.display());
    }
}

/// ALU ops with lazy flags, a store through the inline TLB path, CMP + JNE folded to a compare.
#[test]
fn alu_store_cmp_jcc_32() {
    let code = common::asm(32, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.add(eax, ebx)?;
        a.mov(dword_ptr(ecx + 4), eax)?;
        a.cmp(eax, 10u32)?;
        a.jne(top)
    });
    golden("alu_store_cmp_jcc_32", common::flat32(&code), &code);
}

/// Page hints: the second load through EBP tries the first one's page before the TLB; the
/// store, whose kind the read's hint does not cover, goes through the TLB.
#[test]
fn page_hint_ebp_32() {
    let code = common::asm(32, |a| {
        a.mov(eax, dword_ptr(ebp - 8))?;
        a.add(eax, dword_ptr(ebp - 4))?;
        a.mov(dword_ptr(ebp - 12), eax)?;
        a.hlt()
    });
    golden("page_hint_ebp_32", common::flat32(&code), &code);
}

/// Real-mode stack: PUSH and a near CALL (16-bit SP, segment checks without descriptor types).
#[test]
fn push_call_16() {
    let code = common::asm(16, |a| {
        let mut f = a.create_label();
        a.push(ax)?;
        a.call(f)?;
        a.set_label(&mut f)?;
        a.ret()
    });
    golden("push_call_16", common::real_mode(&code), &code);
}

/// An instruction without specialised code (CPUID) is a call to the interpreter, with the
/// register cache written back around it.
#[test]
fn interpreter_fallback_32() {
    let code = common::asm(32, |a| {
        a.inc(esi)?;
        a.cpuid()?;
        a.dec(esi)?;
        a.hlt()
    });
    golden("interpreter_fallback_32", common::flat32(&code), &code);
}

/// A short REP MOVSD inline: ECX = 0 leaves at once; ECX in 1..=64 with both runs inside one
/// page each (TLB tags, segment limits, no wrap) copies in an element loop; anything else calls
/// the interpreter for the whole instruction.
#[test]
fn rep_movsd_32() {
    let code = common::asm(32, |a| a.rep().movsd());
    golden("rep_movsd_32", common::flat32(&code), &code);
}

/// MUL/IMUL/DIV as IR: the three-operand IMUL from memory, MUL's EDX:EAX in 64 bits, and DIV's
/// #DE check (zero divisor or quotient overflow) before any register changes.
#[test]
fn muldiv_32() {
    let code = common::asm(32, |a| {
        a.imul_3(eax, dword_ptr(esi + 8), 10)?;
        a.mul(ecx)?;
        a.div(ebx)?;
        a.ret()
    });
    golden("muldiv_32", common::flat32(&code), &code);
}

/// `shl ebx, 1; adc ebx, 0`: ADC reads CF alone, so the flags word the shift records is never
/// needed in the block (the IR still builds it, but nothing uses it before ADC replaces the lazy
/// flags, so Cranelift emits none of it).
#[test]
fn shl_adc_32() {
    let code = common::asm(32, |a| {
        a.shl(ebx, 1)?;
        a.adc(ebx, 0)?;
        a.ret()
    });
    golden("shl_adc_32", common::flat32(&code), &code);
}

/// A rotate by CL (selects keep the register and the lazy flags for a count of 0) and string
/// instructions without REP (EFLAGS.DF picks the step).
#[test]
fn rol_cl_lods_scas_32() {
    let code = common::asm(32, |a| {
        a.rol(eax, cl)?;
        a.lodsb()?;
        a.scasd()?;
        a.ret()
    });
    golden("rol_cl_lods_scas_32", common::flat32(&code), &code);
}

/// General registers are written back as each instruction ends, but not before an instruction
/// without exits of its own (`translate::exit_free`): EAX, written three times, is stored once,
/// before the store that may leave; ECX (loaded) and EDX (the LEA) together, before the HLT.
#[test]
fn register_write_back_32() {
    let code = common::asm(32, |a| {
        a.mov(eax, ebx)?;
        a.add(eax, ecx)?;
        a.shl(eax, 2)?;
        a.mov(dword_ptr(esi), eax)?;
        a.mov(ecx, dword_ptr(esi + 4))?;
        a.lea(edx, dword_ptr(ecx + ecx * 2))?;
        a.hlt()
    });
    golden("register_write_back_32", common::flat32(&code), &code);
}

/// Register writes that change nothing leave nothing to store: `lea esi, [esi+0]` (with a DS
/// prefix, the five-byte NOP a 32-bit kernel's functions begin with) emits no IR, and
/// `mov eax, eax` after the CMP that loaded EAX keeps it clean, so the HLT's interpreter call
/// stores only the lazy flags before it.
#[test]
fn register_no_ops_32() {
    let code = common::asm(32, |a| {
        a.db(&[0x3e, 0x8d, 0x74, 0x26, 0x00])?; // lea esi, ds:[esi+0]
        a.cmp(eax, esi)?;
        a.mov(eax, eax)?;
        a.hlt()
    });
    golden("register_no_ops_32", common::flat32(&code), &code);
}
