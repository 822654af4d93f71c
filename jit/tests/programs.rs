//! Small guest programs run in both tiers: the JIT must leave exactly the interpreter's state.

mod common;
use common::*;
use emu_cpu_x86::Stop;
use iced_x86::code_asm::*;

/// An integer loop: ALU ops, memory, the stack, calls; in 16- or 32-bit code.
fn integer_mix(bits: u32) -> Vec<u8> {
    asm(bits, |a| {
        let mut top = a.create_label();
        let mut func = a.create_label();
        let mut skip = a.create_label();
        a.mov(ecx, 100u32)?;
        a.mov(esi, 0x3000u32)?;
        a.xor(eax, eax)?;
        a.mov(ebx, 0x12345678u32)?;
        a.set_label(&mut top)?;
        a.add(eax, ecx)?;
        a.xor(ebx, eax)?;
        a.rol(ebx, 3)?;
        a.mov(dword_ptr(esi + ecx * 4), ebx)?;
        a.add(edx, dword_ptr(esi + ecx * 4))?;
        a.sub(dx, 7u32)?;
        a.inc(edi)?;
        a.shl(edi, 1)?;
        a.shr(edi, 1)?;
        a.sar(edx, 2)?;
        a.and(bl, 0x7fu32)?;
        a.or(bh, al)?;
        a.push(eax)?;
        a.call(func)?;
        a.pop(ebp)?;
        a.cmp(eax, 3000u32)?;
        a.jb(skip)?;
        a.neg(ebp)?;
        a.set_label(&mut skip)?;
        a.movzx(edx, bl)?;
        a.movsx(ebp, dx)?;
        a.lea(edi, dword_ptr(edi + ebx * 2 + 5))?;
        a.test(ecx, 1u32)?;
        a.setne(al)?;
        a.cmovz(edx, ebp)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()?;
        a.set_label(&mut func)?;
        a.imul_2(eax, ecx)?;
        a.not(eax)?;
        a.ret()?;
        Ok(())
    })
}

#[test]
fn integer_mix_real_mode() {
    let code = integer_mix(16);
    let (cpu, stop, j) = same_in_both(|| real_mode(&code), 100_000, "16-bit integer mix");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.jit_insns > 1000, "{:?}", j.stats);
    assert!(cpu.s.icount > 2000);
}

#[test]
fn integer_mix_flat32() {
    let code = integer_mix(32);
    let (_, stop, j) = same_in_both(|| flat32(&code), 100_000, "32-bit integer mix");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.jit_insns > 1000, "{:?}", j.stats);
}

/// Every budget from 1 to 300 stops both tiers at the same instruction.
#[test]
fn budgets_are_exact() {
    let code = integer_mix(32);
    for budget in 1..300 {
        let (cpu, _, _) = same_in_both(|| flat32(&code), budget, &format!("budget {budget}"));
        assert_eq!(cpu.s.icount, budget);
    }
}

/// `--stats`' TLB hit rate: every inlined access of the instructions that ran is counted once,
/// and only the first touch of each page (a TLB miss) takes the slow path.
#[test]
fn tlb_hit_rate_counts_inline_accesses() {
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(ecx, 100u32)?;
        a.set_label(&mut top)?;
        a.mov(eax, dword_ptr(0x3000u32))?;
        a.add(eax, 1u32)?;
        a.mov(dword_ptr(0x3004u32), eax)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let (_, stop, j) = same_in_both(|| flat32(&code), 10_000, "load/store loop");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(j.stats.inline_accesses, 200, "{:?}", j.stats);
    assert!((1..=2).contains(&j.stats.inline_slow), "{:?}", j.stats);
    assert!(j.stats.tlb_hit_rate().unwrap() >= 0.99, "{:?}", j.stats);
}
