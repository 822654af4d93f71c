//! Small guest programs run in both tiers: the JIT must leave exactly the interpreter's state.

mod common;
use common::*;
use emu_cpu_x86::Stop;
use iced_x86::code_asm::*;
use iced_x86::IcedError;

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

/// Register writes that change nothing (`lea r, [r]`, with or without a zero displacement, the
/// 32-bit kernel's five-byte function-entry NOP among them; `mov r, r` of a clean register and
/// of one just written), next to LEAs and MOVs that do change their register (among them `lea
/// esi, [si]`, which the address-size prefix makes a 16-bit address): both tiers agree, round a
/// loop the JIT chains.
#[test]
fn register_no_ops_and_the_writes_next_to_them() {
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(ecx, 50u32)?;
        a.mov(ebx, 0x1234u32)?;
        a.mov(esi, 0x12345u32)?;
        a.db(&[0x67, 0x8d, 0x34])?; // lea esi, [si]: ESI = 0x2345
        a.set_label(&mut top)?;
        a.db(&[0x3e, 0x8d, 0x74, 0x26, 0x00])?; // lea esi, ds:[esi+0]
        a.lea(esi, dword_ptr(esi))?;
        a.mov(eax, eax)?;
        a.lea(esi, dword_ptr(esi + 1))?;
        a.lea(edi, dword_ptr(esi))?;
        a.lea(edx, dword_ptr(edx + ecx))?;
        a.lea(ebx, dword_ptr(ebx * 2))?;
        a.mov(ebp, eax)?;
        a.add(eax, esi)?;
        a.mov(eax, eax)?;
        a.mov(dword_ptr(0x3000u32), eax)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let (cpu, stop, j) = same_in_both(|| flat32(&code), 10_000, "register no-ops");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.jit_insns > 400, "{:?}", j.stats);
    // ESI went up by one a round from 0x2345, and EAX summed it.
    assert_eq!(cpu.s.regs[6], 0x2345 + 50);
    assert_eq!(cpu.s.regs[0], (1..=50).map(|k| 0x2345 + k).sum::<u32>());
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

/// `--stats=full`'s TLB hit rate: every inlined access of the instructions that ran is counted once,
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

/// Slow-path memory helpers (TLB misses: every page is touched for the first time) are called
/// through `preserve_all` trampolines, so the block keeps its values in caller-saved registers
/// across them: every register, and values computed before the calls, must survive, and the
/// loaded values must arrive (they come back through `ExitCtx::helper_result`).
#[test]
fn slow_path_calls_keep_every_register() {
    let code = asm(32, |a| {
        a.mov(eax, 0x1111_1111u32)?;
        a.mov(ebx, 0x2222_2222u32)?;
        a.mov(ecx, 0x3333_3333u32)?;
        a.mov(edx, 0x4444_4444u32)?;
        a.mov(esi, 0x5555_5555u32)?;
        a.mov(edi, 0x6666_6666u32)?;
        a.mov(ebp, 0x7777_7777u32)?;
        for (n, r) in [eax, ebx, ecx, edx, esi, edi, ebp].into_iter().enumerate() {
            let page = 0x20000 + 0x1000 * n as u32;
            a.add(r, dword_ptr(page + 8))?;
            a.mov(dword_ptr(page + 0x10), r)?;
            a.rol(r, 5)?;
            a.xor(eax, r)?;
            a.add(word_ptr(page + 0x20), 0x101u32)?;
        }
        a.hlt()
    });
    let make = || {
        let mut c = paged32(&code);
        for n in 0..7u32 {
            load(&mut c, 0x20008 + 0x1000 * n, &(0x0102_0304 * (n + 1)).to_le_bytes());
            load(&mut c, 0x20020 + 0x1000 * n, &[0xff, 0x7f]);
        }
        c
    };
    let (cpu, stop, j) = same_in_both(make, 1000, "slow-path loads and stores");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.inline_slow >= 7, "every page missed the TLB once: {:?}", j.stats);
    assert_eq!(cpu.s.regs[3], (0x2222_2222u32.wrapping_add(0x0204_0608)).rotate_left(5));
}

/// Conditions read at the start of a block, from flags the block before set (so the translator
/// only knows them at run time and evaluates CF and ZF inline): every lazy-flags kind at every
/// size, with operands on both sides of the carry and zero edges, and a carry in for ADC/SBB.
#[test]
fn conditions_of_flags_set_in_an_earlier_block() {
    let pairs: [(u32, u32); 6] =
        [(0, 0), (1, 1), (0xff, 1), (0x7fff, 0x8001), (0xffff_ffff, 1), (0x1234_5678, 0x9abc_def0)];
    let code = asm(32, |a| {
        a.xor(ebp, ebp)?;
        a.xor(esi, esi)?;
        for (i, &(x, y)) in pairs.iter().enumerate() {
            for op in 0..11 {
                let (mut l1, mut l2) = (a.create_label(), a.create_label());
                a.mov(eax, x)?;
                a.mov(ebx, y)?;
                if i % 2 == 0 {
                    a.stc()?;
                } else {
                    a.clc()?;
                }
                match op {
                    0 => a.add(al, bl)?,
                    1 => a.add(ax, bx)?,
                    2 => a.add(eax, ebx)?,
                    3 => a.adc(al, bl)?,
                    4 => a.sbb(ax, bx)?,
                    5 => a.sub(eax, ebx)?,
                    6 => a.sbb(eax, ebx)?,
                    7 => a.and(eax, ebx)?,
                    8 => a.inc(al)?,
                    9 => a.dec(ax)?,
                    _ => a.shl(eax, 1)?,
                }
                // A new block: the flags are whatever the state holds.
                a.jmp(l1)?;
                a.set_label(&mut l1)?;
                a.setb(cl)?;
                a.setz(dl)?;
                a.setbe(dh)?;
                a.jmp(l2)?;
                a.set_label(&mut l2)?;
                // ADC and INC read the carry at a block's start too (INC keeps it).
                a.adc(esi, 0u32)?;
                a.inc(edi)?;
                a.adc(esi, 0u32)?;
                a.movzx(ecx, cl)?;
                a.movzx(edx, dx)?;
                a.shl(ebp, 5)?;
                a.xor(ebp, ecx)?;
                a.xor(ebp, edx)?;
                a.add(ebp, eax)?;
            }
        }
        a.hlt()
    });
    let (cpu, stop, _) = same_in_both(|| flat32(&code), 100_000, "conditions after a block boundary");
    assert_eq!(stop, Stop::Halted);
    assert_ne!(cpu.s.regs[6], 0, "some carries were seen");
}

/// Accesses before and after a segment register load: translated code keeps a segment's base,
/// limit and attributes in SSA values within a block, so the accesses after the MOV DS (which
/// the interpreter runs, and which ends its block) must see the new base, never the one loaded
/// for the accesses before it.
#[test]
fn accesses_after_a_segment_load_in_the_block_use_the_new_segment() {
    let code = asm(16, |a| {
        a.mov(ax, 0x1111u32)?;
        a.mov(bx, 0x2000u32)?;
        a.mov(cx, 0x100u32)?;
        a.mov(word_ptr(bx), ax)?;
        a.mov(ds, cx)?;
        a.mov(dx, word_ptr(bx))?;
        a.add(word_ptr(bx), 0x2222u32)?;
        a.mov(si, word_ptr(bx))?;
        a.hlt()
    });
    let make = || {
        let mut c = real_mode(&code);
        load(&mut c, 0x3000, &[0x34, 0x12]);
        c
    };
    let (cpu, stop, j) = same_in_both(make, 1000, "segment load mid-block");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[2] & 0xffff, 0x1234, "DS:BX is 0x3000 after the load");
    assert_eq!(cpu.s.regs[6] & 0xffff, 0x3456);
    assert!(j.stats.interp_in_blocks > 0, "MOV DS ran inside a block: {:?}", j.stats);
}

/// [`paged32`] with CR0.WP set and page 0x30 read-only (so a supervisor write to it faults), and
/// linear pages 0x400-0x4ff (the second page directory entry) mapped onto physical pages
/// 0x80-0x17f: linear page 0x430 is 1,024 pages after page 0x30, so both share one TLB entry,
/// and is another physical page (0xb0).
fn with_read_only_page_and_alias(code: &[u8]) -> emu_cpu_x86::Cpu {
    const PT2: u32 = 0x12000;
    let mut c = paged32(code);
    load(&mut c, 0x11000 + 4 * 0x30, &(0x30000u32 | 1).to_le_bytes());
    load(&mut c, 0x10004, &(PT2 | 3).to_le_bytes());
    for p in 0..0x80u32 {
        load(&mut c, PT2 + 4 * p, &(((p + 0x80) << 12) | 3).to_le_bytes());
    }
    c.s.cr0 |= emu_cpu_x86::state::cr0::WP;
    c
}

/// A block that reads an address and then writes it (separate instructions, or one ADD to
/// memory) computes the address and finds its TLB entry once; the store still checks the entry's
/// write tag: a read-only page hit by the read makes the write fault (#PF with no IDT: a
/// shutdown, the state as at the faulting store).
#[test]
fn a_write_after_a_read_of_the_same_address_checks_the_write_tag() {
    for rmw in [false, true] {
        let code = asm(32, |a| {
            a.mov(ebx, 0x30010u32)?;
            a.mov(ecx, 2u32)?;
            a.mov(eax, dword_ptr(ebx + ecx * 4))?;
            a.add(eax, 1u32)?;
            if rmw {
                // Flags unlike the ADD before it (CF, ZF and AF set): they must not leak into
                // the fault exit.
                a.add(dword_ptr(ebx + ecx * 4), 0xffff_ffd7u32)?;
            } else {
                a.mov(dword_ptr(ebx + ecx * 4), eax)?;
            }
            a.mov(edx, 9u32)?;
            a.hlt()
        });
        let make = || {
            let mut c = with_read_only_page_and_alias(&code);
            load(&mut c, 0x30018, &41u32.to_le_bytes());
            c
        };
        let what = if rmw { "ADD to a read-only page" } else { "MOV to a read-only page" };
        let (cpu, stop, j) = same_in_both(make, 1000, what);
        assert_eq!(stop, Stop::Shutdown, "{what}");
        assert_eq!(cpu.s.cr2, 0x30018, "{what}");
        assert_eq!(cpu.s.regs[0], 42, "{what}: the read and the ADD ran");
        assert_eq!(cpu.s.regs[2], 0, "{what}: nothing after the store ran");
        assert_eq!(cpu.sys.ram().as_slice()[0x30018..0x3001c], 41u32.to_le_bytes(), "{what}");
        assert!(j.stats.jit_insns > 0, "{what}: {:?}", j.stats);
    }
}

/// Accesses to one address Value that another access evicts from the TLB in between (page
/// 0x430 shares page 0x30's entry), or that differ in size so that only the second crosses into
/// the next page: each must check its own tag against its own last byte, and take the slow path
/// to the right physical page.
#[test]
fn accesses_to_one_address_after_an_eviction_or_across_a_page_end() {
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(esi, 4u32)?;
        a.set_label(&mut top)?;
        // Page 0x31 (writable), then its TLB entry taken by page 0x431 (physical 0xb1), then
        // page 0x31 written through the same address.
        a.mov(ebx, 0x31100u32)?;
        a.mov(eax, dword_ptr(ebx))?;
        a.add(eax, dword_ptr(ebx + 0x400000))?;
        a.mov(dword_ptr(ebx), eax)?;
        a.add(dword_ptr(ebx + 0x400000), esi)?;
        // A byte read at the end of page 0x32, then a dword written there: it crosses into
        // page 0x33.
        a.mov(edi, 0x32ffeu32)?;
        a.movzx(ecx, byte_ptr(edi))?;
        a.add(ecx, eax)?;
        a.mov(dword_ptr(edi), ecx)?;
        a.add(dword_ptr(edi), 0x01010101u32)?;
        a.dec(esi)?;
        a.jnz(top)?;
        a.hlt()
    });
    let make = || {
        let mut c = with_read_only_page_and_alias(&code);
        load(&mut c, 0x31100, &0x1111u32.to_le_bytes());
        load(&mut c, 0xb1100, &0x2222_0000u32.to_le_bytes());
        load(&mut c, 0x32ffe, &[0x33, 0x44, 0x55, 0x66]);
        c
    };
    let (cpu, stop, j) = same_in_both(make, 10_000, "evicted and page-crossing accesses");
    assert_eq!(stop, Stop::Halted);
    let ram = cpu.sys.ram().as_slice();
    let word = |at: usize| u32::from_le_bytes(ram[at..at + 4].try_into().unwrap());
    assert_eq!(word(0x31100), cpu.s.regs[0], "the store went to page 0x31");
    assert_ne!(word(0xb1100), 0x2222_0000, "page 0x431's ADDs went to physical page 0xb1");
    assert_ne!(word(0x32ffe), 0x6655_4433, "the crossing stores were done");
    assert!(j.stats.inline_slow >= 8, "evicted and crossing accesses took the slow path: {:?}", j.stats);
}

/// Dword accesses whose first bytes are in a present page and whose last byte is in the next,
/// not present (page 0x50): the TLB hit for the first page must not let them through, and the
/// page fault stops the block at them (a shutdown without an IDT, the state as they started).
#[test]
fn a_dword_that_crosses_into_a_page_not_present_faults() {
    type Access = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let forms: [(&str, Access); 4] = [
        ("load", |a| a.mov(eax, dword_ptr(ebx))),
        ("store", |a| a.mov(dword_ptr(ebx), ecx)),
        ("ALU on memory", |a| a.add(dword_ptr(ebx), ecx)),
        ("pop", |a| {
            a.mov(esp, ebx)?;
            a.pop(edx)
        }),
    ];
    for (what, access) in forms {
        let code = asm(32, |a| {
            a.mov(ebx, 0x4f000u32)?;
            // The page's TLB entry filled, for the crossing access to find.
            a.mov(edx, dword_ptr(ebx))?;
            a.mov(ebx, 0x4fffeu32)?;
            a.mov(ecx, 0x1234_5678u32)?;
            access(a)?;
            a.mov(esi, 1u32)?;
            a.hlt()
        });
        let (cpu, stop, _) = same_in_both(|| paged32(&code), 1000, what);
        assert_eq!(stop, Stop::Shutdown, "{what}");
        assert_eq!(cpu.s.regs[6], 0, "{what}: stopped at the access");
    }
}

/// Jcc with condition code `cc` (0-15, as the opcode's low nibble) to `l`.
fn jcc(a: &mut CodeAssembler, cc: u32, l: CodeLabel) -> Result<(), IcedError> {
    match cc {
        0 => a.jo(l),
        1 => a.jno(l),
        2 => a.jb(l),
        3 => a.jae(l),
        4 => a.je(l),
        5 => a.jne(l),
        6 => a.jbe(l),
        7 => a.ja(l),
        8 => a.js(l),
        9 => a.jns(l),
        10 => a.jp(l),
        11 => a.jnp(l),
        12 => a.jl(l),
        13 => a.jge(l),
        14 => a.jle(l),
        _ => a.jg(l),
    }
}

/// Conditions of a CMP or SUB in the same block, which compare its operands directly (the first
/// one kept, not recovered from the result), every condition at every size, by SETcc and by a
/// Jcc, with operands on both sides of the unsigned and signed edges.
#[test]
fn conditions_of_a_compare_in_the_same_block() {
    let pairs: [(u32, u32); 7] =
        [(0, 0), (1, 2), (2, 1), (0x80, 0x7f), (0x7fff, 0x8000), (0x8000_0000, 1), (0xffff_ffff, 0x7fff_ffff)];
    let code = asm(32, |a| {
        a.mov(edi, 0x40000u32)?;
        a.xor(ebp, ebp)?;
        for &(x, y) in &pairs {
            for size in 0..3 {
                for sub in [false, true] {
                    a.mov(eax, x)?;
                    a.mov(ebx, y)?;
                    match (size, sub) {
                        (0, false) => a.cmp(al, bl)?,
                        (1, false) => a.cmp(ax, bx)?,
                        (_, false) => a.cmp(eax, ebx)?,
                        (0, true) => a.sub(al, bl)?,
                        (1, true) => a.sub(ax, bx)?,
                        (_, true) => a.sub(eax, ebx)?,
                    }
                    a.seto(byte_ptr(edi))?;
                    a.setno(byte_ptr(edi + 1))?;
                    a.setb(byte_ptr(edi + 2))?;
                    a.setae(byte_ptr(edi + 3))?;
                    a.sete(byte_ptr(edi + 4))?;
                    a.setne(byte_ptr(edi + 5))?;
                    a.setbe(byte_ptr(edi + 6))?;
                    a.seta(byte_ptr(edi + 7))?;
                    a.sets(byte_ptr(edi + 8))?;
                    a.setns(byte_ptr(edi + 9))?;
                    a.setp(byte_ptr(edi + 10))?;
                    a.setnp(byte_ptr(edi + 11))?;
                    a.setl(byte_ptr(edi + 12))?;
                    a.setge(byte_ptr(edi + 13))?;
                    a.setle(byte_ptr(edi + 14))?;
                    a.setg(byte_ptr(edi + 15))?;
                    a.add(edi, 16u32)?;
                    // Each Jcc right after a fresh compare (so in the compare's block).
                    for cc in 0..16u32 {
                        let mut skip = a.create_label();
                        match size {
                            0 => a.cmp(al, bl)?,
                            1 => a.cmp(ax, bx)?,
                            _ => a.cmp(eax, ebx)?,
                        }
                        jcc(a, cc, skip)?;
                        a.add(ebp, 1u32 << (cc % 16))?;
                        a.set_label(&mut skip)?;
                        a.rol(ebp, 1)?;
                    }
                }
            }
        }
        a.hlt()
    });
    let (cpu, stop, j) = same_in_both(|| flat32(&code), 1_000_000, "compares in the same block");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.jit_insns > 1000, "{:?}", j.stats);
    // CMP 1, 2 at 32 bits: below, not equal, less.
    let at = 0x40000 + 16 * (2 * 3 + 2 * 2);
    assert_eq!(cpu.sys.ram().as_slice()[at..at + 16], [0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
}

/// Each Jcc right after each 32-bit ALU operation of the same block (register and memory
/// operands, the memory one as source and as destination), with operands on the flags' edges:
/// the baseline tier takes the condition from the host's flags after the operations whose
/// flags are the host's last (not after one that writes memory, whose TLB check comes after).
#[test]
fn conditions_of_each_alu_operation_in_the_same_block() {
    let pairs: [(u32, u32); 5] = [(0, 0), (1, 2), (0x8000_0000, 1), (0x7fff_ffff, 0xffff_ffff), (0x80, 0x80)];
    let code = asm(32, |a| {
        a.mov(edi, 0x40000u32)?;
        a.xor(ebp, ebp)?;
        for &(x, y) in &pairs {
            for op in 0..7 {
                for form in 0..3 {
                    for cc in 0..16u32 {
                        let mut skip = a.create_label();
                        a.mov(eax, x)?;
                        a.mov(ebx, y)?;
                        a.mov(dword_ptr(edi), x)?;
                        // 0: register, register; 1: register, memory; 2: memory, register.
                        match (op, form) {
                            (0, 0) => a.add(eax, ebx)?,
                            (0, 1) => a.add(ebx, dword_ptr(edi))?,
                            (0, _) => a.add(dword_ptr(edi), ebx)?,
                            (1, 0) => a.sub(eax, ebx)?,
                            (1, 1) => a.sub(ebx, dword_ptr(edi))?,
                            (1, _) => a.sub(dword_ptr(edi), ebx)?,
                            (2, 0) => a.and(eax, ebx)?,
                            (2, 1) => a.and(ebx, dword_ptr(edi))?,
                            (2, _) => a.and(dword_ptr(edi), ebx)?,
                            (3, 0) => a.or(eax, ebx)?,
                            (3, 1) => a.or(ebx, dword_ptr(edi))?,
                            (3, _) => a.or(dword_ptr(edi), ebx)?,
                            (4, 0) => a.xor(eax, ebx)?,
                            (4, 1) => a.xor(ebx, dword_ptr(edi))?,
                            (4, _) => a.xor(dword_ptr(edi), ebx)?,
                            (5, 0) => a.cmp(eax, ebx)?,
                            (5, 1) => a.cmp(ebx, dword_ptr(edi))?,
                            (5, _) => a.cmp(dword_ptr(edi), ebx)?,
                            (_, 0) => a.test(eax, ebx)?,
                            (_, 1) => a.test(dword_ptr(edi), ebx)?,
                            (_, _) => a.test(dword_ptr(edi), eax)?,
                        }
                        jcc(a, cc, skip)?;
                        a.add(ebp, 1u32 << cc)?;
                        a.set_label(&mut skip)?;
                        a.rol(ebp, 1)?;
                    }
                }
            }
        }
        a.hlt()
    });
    let (_, stop, j) = same_in_both(|| flat32(&code), 1_000_000, "ALU operations and conditions");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.jit_insns > 10_000, "{:?}", j.stats);
}

/// Each shift and rotate of a 32-bit register by an immediate, at counts on the edges (0 and
/// 32 change nothing), of values on the flags' edges, after flags of every kind (a rotate keeps
/// all but CF and OF): the result and every flag (PUSHFD), in the same block.
#[test]
fn flags_of_each_shift_by_an_immediate() {
    let values = [0u32, 1, 0x8000_0000, 0xc000_0001, 0x4000_0000, 0x7fff_ffff, 0x0000_00ff];
    let before = [(0u32, 0u32), (0x7fff_ffff, 1), (0x0f, 1), (1, 2)];
    let code = asm(32, |a| {
        a.mov(esp, 0x80000u32)?;
        a.mov(edi, 0x40000u32)?;
        for &v in &values {
            for count in [0u32, 1, 2, 7, 30, 31, 32, 33] {
                for op in 0..5 {
                    for &(x, y) in &before {
                        a.mov(eax, x)?;
                        a.add(eax, y)?;
                        a.mov(ebx, v)?;
                        match op {
                            0 => a.shl(ebx, count)?,
                            1 => a.shr(ebx, count)?,
                            2 => a.sar(ebx, count)?,
                            3 => a.rol(ebx, count)?,
                            _ => a.ror(ebx, count)?,
                        }
                        a.pushfd()?;
                        a.pop(dword_ptr(edi))?;
                        a.mov(dword_ptr(edi + 4), ebx)?;
                        a.add(edi, 8u32)?;
                    }
                }
            }
        }
        a.hlt()
    });
    let (_, stop, j) = same_in_both(|| flat32(&code), 1_000_000, "shifts by an immediate");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.jit_insns > 8_000, "{:?}", j.stats);
}

/// The flags of a shift, rotate or multiply are built only where something reads them (see
/// `translate::Part`): here the fault exit of the next instruction, a load from the page that
/// is not present (a shutdown with no IDT, the state as at the load), and, in a second run, a
/// SETcc of each flag before it. Operands with the flags' edges: the last bit shifted out, the
/// top two bits, parity of the low byte, zero.
#[test]
fn flags_of_shifts_and_multiplies_at_a_fault_exit() {
    type Op = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let ops: [(&str, Op); 25] = [
        ("shl 1", |a| a.shl(eax, 1)),
        ("shl 7", |a| a.shl(eax, 7)),
        ("shr 1", |a| a.shr(eax, 1)),
        ("shr 11", |a| a.shr(eax, 11)),
        ("sar 3", |a| a.sar(eax, 3)),
        ("shr cl", |a| a.shr(eax, cl)),
        ("shl cl", |a| a.shl(eax, cl)),
        ("sar cl", |a| a.sar(eax, cl)),
        ("shr ax 5", |a| a.shr(ax, 5)),
        ("sar al 6", |a| a.sar(al, 6)),
        ("rol 5", |a| a.rol(eax, 5)),
        ("rcr 2", |a| a.rcr(eax, 2)),
        ("shld 4", |a| a.shld(eax, esi, 4)),
        ("shrd cl", |a| a.shrd(eax, esi, cl)),
        ("imul", |a| a.imul_2(eax, esi)),
        ("imul 3", |a| a.imul_3(eax, esi, 0x1234)),
        ("imul ax", |a| a.imul_2(ax, si)),
        ("imul ax 3", |a| a.imul_3(ax, si, 0x123)),
        // Counts at or past the operand size, the high byte registers, memory operands, a
        // 16-bit double shift past 16, a negative immediate (review suggestions).
        ("shr al 9", |a| a.shr(al, 9)),
        ("sar al 13", |a| a.sar(al, 13)),
        ("shl ax 17", |a| a.shl(ax, 17)),
        ("shr ah 9", |a| a.shr(ah, 9)),
        ("shld ax 20", |a| a.shld(ax, si, 20)),
        ("imul ax -1", |a| a.imul_3(ax, si, -1)),
        ("sar mem 3", |a| a.sar(dword_ptr(0x30000u32), 3)),
    ];
    let values = [0u32, 1, 0x8000_0000, 0xc000_0000, 0x4000_0001, 0x0000_0403, 0x7fff_fffe, 0xffff_ffff, 0x55aa_33cc];
    for (name, op) in ops {
        for read in [false, true] {
            for &v in &values {
                let code = asm(32, |a| {
                    a.mov(eax, v)?;
                    a.mov(esi, v.rotate_left(7) ^ 0x0101)?;
                    a.mov(ecx, v >> 27)?;
                    // Carry in for RCR, and flags for the counts of 0 to keep.
                    a.add(esi, esi)?;
                    op(a)?;
                    if read {
                        a.setp(dl)?;
                        a.seto(dh)?;
                        a.setc(bl)?;
                        a.sets(bh)?;
                        a.setz(ch)?;
                    }
                    a.mov(edi, dword_ptr(0x50000u32))?;
                    a.hlt()
                });
                let what = format!("{name} of {v:#x}{}", if read { ", flags read" } else { "" });
                let (cpu, stop, j) = same_in_both(|| paged32(&code), 100, &what);
                assert_eq!((stop, cpu.s.cr2), (Stop::Shutdown, 0x50000), "{what}");
                assert!(j.stats.jit_insns > 0, "{what}: {:?}", j.stats);
            }
        }
    }
}

/// Generated code keeps the instruction count in the state, adding to it at each exit, except
/// round a block that loops to its own start (a register): an instruction the interpreter runs
/// in the middle of a block (PUSHF here) stores the exact count first, and the exits after
/// it add from there. Each program is checked for the interpreter's count (and state) at a
/// fault exit after the interpreted instruction, at a normal exit, and round a loop whose body
/// holds one, stopped by the budget in the middle.
#[test]
fn instruction_counts_around_interpreted_instructions() {
    for (what, fault, looped) in [("fault exit", true, false), ("exit", false, false), ("loop", false, true)] {
        let code = asm(32, |a| {
            let mut top = a.create_label();
            a.mov(ecx, 50u32)?;
            a.set_label(&mut top)?;
            a.add(eax, 3u32)?;
            a.pushfd()?;
            a.pop(edx)?;
            if fault {
                a.mov(edi, dword_ptr(0x50000u32))?;
            }
            a.add(ebx, edx)?;
            if looped {
                a.dec(ecx)?;
                a.jnz(top)?;
            }
            a.hlt()
        });
        for budget in [3, 5, 7, 40, 203, 1000] {
            let what = format!("{what}, budget {budget}");
            let (cpu, _, j) = same_in_both(|| paged32(&code), budget, &what);
            // (A budget smaller than a block leaves it to the interpreter.)
            assert!(budget < 40 || j.stats.jit_insns > 0, "{what}: {:?}", j.stats);
            assert!(cpu.s.icount <= budget, "{what}");
        }
    }
}

/// RDTSC in the middle of a block (which the interpreter runs for it): in deterministic time
/// its value follows the instruction count, so the block must have counted the instructions
/// before it.
#[test]
fn a_time_stamp_read_mid_block_counts_the_instructions_before_it() {
    let code = asm(32, |a| {
        a.mov(ecx, 7u32)?;
        a.add(ecx, 5u32)?;
        a.lea(ebx, dword_ptr(ecx + 3))?;
        a.rdtsc()?;
        a.mov(esi, eax)?;
        a.rdtsc()?;
        a.sub(eax, esi)?;
        a.hlt()
    });
    let (cpu, stop, _) = same_in_both(|| flat32(&code), 100, "RDTSC mid-block");
    assert_eq!(stop, Stop::Halted);
    assert_ne!(cpu.s.regs[6], 0, "the first read");
}

/// Every program above again, with every block compiled by Cranelift's optimiser (which the
/// compile thread uses for some blocks): the same results in both tiers.
#[test]
fn the_programs_with_the_optimiser() {
    with_optimiser(|| {
        integer_mix_real_mode();
        integer_mix_flat32();
        budgets_are_exact();
        tlb_hit_rate_counts_inline_accesses();
        slow_path_calls_keep_every_register();
        conditions_of_flags_set_in_an_earlier_block();
        accesses_after_a_segment_load_in_the_block_use_the_new_segment();
        a_write_after_a_read_of_the_same_address_checks_the_write_tag();
        accesses_to_one_address_after_an_eviction_or_across_a_page_end();
        conditions_of_a_compare_in_the_same_block();
        conditions_of_each_alu_operation_in_the_same_block();
        flags_of_each_shift_by_an_immediate();
        flags_of_shifts_and_multiplies_at_a_fault_exit();
        instruction_counts_around_interpreted_instructions();
    });
}

/// The programs above whose checks hold for any tier, with every block built by the baseline
/// tier: the same results as the interpreter.
#[test]
fn the_programs_with_the_baseline_tier() {
    with_baseline(|| {
        integer_mix_real_mode();
        integer_mix_flat32();
        budgets_are_exact();
        // (Not `tlb_hit_rate_counts_inline_accesses`: the tier does not count its inline
        // accesses.)
        slow_path_calls_keep_every_register();
        accesses_to_one_address_after_an_eviction_or_across_a_page_end();
        conditions_of_flags_set_in_an_earlier_block();
        accesses_after_a_segment_load_in_the_block_use_the_new_segment();
        a_write_after_a_read_of_the_same_address_checks_the_write_tag();
        conditions_of_a_compare_in_the_same_block();
        conditions_of_each_alu_operation_in_the_same_block();
        flags_of_each_shift_by_an_immediate();
        flags_of_shifts_and_multiplies_at_a_fault_exit();
        instruction_counts_around_interpreted_instructions();
        a_time_stamp_read_mid_block_counts_the_instructions_before_it();
        a_dword_that_crosses_into_a_page_not_present_faults();
    });
}
