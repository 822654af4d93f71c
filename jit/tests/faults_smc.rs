//! Precise exceptions in the middle of a block, and self-modifying code.

mod common;
use common::*;
use emu_cpu_x86::Stop;
use iced_x86::code_asm::*;

const HANDLER: u32 = 0x2000;

/// Real mode with vector `v`'s IVT entry pointing at a handler that copies the pushed IP to DI
/// and halts.
fn with_handler(code: &[u8], v: u32) -> emu_cpu_x86::Cpu {
    let mut c = real_mode(code);
    load(&mut c, v * 4, &HANDLER.to_le_bytes()); // offset 0x2000, segment 0
    let handler = {
        let mut a = CodeAssembler::new(16).unwrap();
        a.mov(bp, sp).unwrap();
        a.mov(di, word_ptr(bp)).unwrap();
        a.hlt().unwrap();
        a.assemble(HANDLER as u64).unwrap()
    };
    load(&mut c, HANDLER, &handler);
    c
}

/// #DE in the middle of a block: the instructions before it are done, those after it are not,
/// and the pushed IP is the DIV's.
#[test]
fn divide_error_mid_block() {
    let code = asm(16, |a| {
        a.mov(ax, 100u32)?;
        a.mov(bx, 7u32)?;
        a.xor(cx, cx)?;
        a.add(si, 5u32)?;
        a.div(cx)?;
        a.mov(si, 1u32)?;
        a.hlt()?;
        Ok(())
    });
    // mov ax (3) + mov bx (3) + xor (2) + add si, imm8 (3)
    let div_at = CODE + 11;
    let (cpu, stop, _) = same_in_both(|| with_handler(&code, 0), 1000, "#DE");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[7] & 0xffff, div_at, "pushed IP is the DIV");
    assert_eq!(cpu.s.regs[0] & 0xffff, 100);
    assert_eq!(cpu.s.regs[3] & 0xffff, 7);
    assert_eq!(cpu.s.regs[6] & 0xffff, 5, "the instruction after the fault did not run");
}

/// #GP from the memory slow path (an offset beyond the segment limit) mid-block, with an
/// earlier store in the same block already done.
#[test]
fn general_protection_mid_block() {
    let code = asm(16, |a| {
        a.mov(word_ptr(0x3000), 0x1234u32)?;
        a.mov(ebx, 0x20000u32)?;
        a.inc(dx)?;
        a.mov(eax, dword_ptr(ebx))?; // offset 0x20000 > DS limit 0xffff: #GP(0)
        a.mov(dx, 99u32)?;
        a.hlt()?;
        Ok(())
    });
    let (cpu, stop, _) = same_in_both(|| with_handler(&code, 13), 1000, "#GP");
    assert_eq!(stop, Stop::Halted);
    // mov word [0x3000], imm (6) + mov ebx, imm32 (6) + inc dx (1)
    assert_eq!(cpu.s.regs[7] & 0xffff, CODE + 13, "pushed IP is the faulting MOV");
    assert_eq!(cpu.s.regs[2] & 0xffff, 1, "INC DX ran, MOV DX did not");
    assert_eq!(cpu.sys.ram().as_slice()[0x3000..0x3002], [0x34, 0x12]);
}

/// A page fault mid-block under paging: EIP, every register and CR2 as at the faulting load.
#[test]
fn page_fault_mid_block() {
    let code = asm(32, |a| {
        a.mov(ebx, 5u32)?;
        a.mov(eax, dword_ptr(0x3000))?;
        a.add(esi, 1u32)?;
        a.mov(ecx, dword_ptr(0x50004))?; // page 0x50 is not present
        a.mov(edx, 9u32)?;
        a.hlt()?;
        Ok(())
    });
    let (cpu, _, _) = same_in_both(|| paged32(&code), 1000, "#PF");
    assert_eq!(cpu.s.cr2, 0x50004);
    assert_eq!(cpu.s.regs[3], 5);
    assert_eq!(cpu.s.regs[6], 1);
    assert_eq!(cpu.s.regs[1], 0, "ECX not loaded");
    assert_eq!(cpu.s.regs[2], 0, "MOV EDX did not run");
}

/// #PF in a loop that is one block (its count kept in a register round the loop, and its
/// exits ending in the block's shared tails): on the third round the load reaches page 0x50,
/// not present. With a CLC in the loop the interpreter runs that instruction for the block
/// first (the count is stored for it, and the fault's count is then relative to that). Every
/// budget up to past the fault stops both tiers at the same instruction, state and count.
#[test]
fn page_fault_in_a_one_block_loop() {
    for interpreted in [false, true] {
        let code = asm(32, |a| {
            let mut top = a.create_label();
            a.mov(esi, 0x4e000u32)?;
            a.mov(ecx, 10u32)?;
            a.set_label(&mut top)?;
            a.add(edx, 1u32)?;
            if interpreted {
                a.clc()?;
            }
            a.mov(eax, dword_ptr(esi))?;
            a.add(esi, 0x1000u32)?;
            a.dec(ecx)?;
            a.jnz(top)?;
            a.hlt()
        });
        let what = format!("#PF in a one-block loop (CLC: {interpreted})");
        let (cpu, _, j) = same_in_both(|| paged32(&code), 1000, &what);
        assert_eq!(cpu.s.cr2, 0x50000, "{what}");
        assert_eq!(cpu.s.regs[2], 3, "{what}: EDX, three rounds begun");
        assert_eq!(cpu.s.regs[6], 0x50000, "{what}: ESI not advanced past the fault");
        assert!(j.stats.jit_insns > 0, "{what}: ran translated");
        for budget in 1..40 {
            let (cpu, _, _) = same_in_both(|| paged32(&code), budget, &format!("{what}, budget {budget}"));
            assert!(cpu.s.icount <= budget, "{what}, budget {budget}: {} instructions", cpu.s.icount);
        }
    }
}

/// A loop that patches the immediate of its next instruction: each iteration must run the
/// new code (AL = 5 + 4 + 3 + 2 + 1).
#[test]
fn loop_patches_its_next_instruction() {
    let code = asm(16, |a| {
        let mut top = a.create_label();
        a.mov(cx, 5u32)?; // 1000
        a.xor(ax, ax)?; // 1003
        a.set_label(&mut top)?;
        a.mov(byte_ptr(0x100a), cl)?; // 1005: the immediate of the ADD
        a.add(al, 0x77u32)?; // 1009
        a.loop_(top)?;
        a.hlt()?;
        Ok(())
    });
    assert_eq!(code[9..11], [0x04, 0x77], "ADD AL, imm8 at 1009");
    let (cpu, stop, j) = same_in_both(|| real_mode(&code), 1000, "SMC");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(cpu.s.regs[0] & 0xff, 15);
    assert!(j.stats.invalidated_blocks > 0, "{:?}", j.stats);
}

/// A store that rewrites an instruction two further on in the same block.
#[test]
fn store_rewrites_a_later_instruction_of_the_same_block() {
    let code = asm(32, |a| {
        a.mov(eax, 1u32)?; // 1000
        a.mov(byte_ptr(0x100e), 42u32)?; // 1005: mov ebx, 7 becomes mov ebx, 42
        a.inc(eax)?; // 100c
        a.mov(ebx, 7u32)?; // 100d
        a.inc(eax)?;
        a.hlt()?;
        Ok(())
    });
    assert_eq!(code[0xd..0xf], [0xbb, 7], "MOV EBX, imm32 at 100d");
    let (cpu, _, _) = same_in_both(|| flat32(&code), 1000, "SMC later");
    assert_eq!(cpu.s.regs[3], 42);
    assert_eq!(cpu.s.regs[0], 3);
}

/// A PUSH that rewrites the next instruction of its block (the stack is on the code page): the
/// block leaves after the PUSH, with ESP moved, and the new instruction runs.
#[test]
fn push_rewrites_the_next_instruction_of_the_same_block() {
    let code = asm(32, |a| {
        a.mov(esp, CODE + 0x10)?; // 1000
        a.mov(eax, 0x1234_5678u32)?; // 1005
        a.push(eax)?; // 100a: onto 100c-100f, the immediate of the MOV after it
        a.mov(ebx, 7u32)?; // 100b
        a.inc(eax)?;
        a.hlt()?;
        Ok(())
    });
    assert_eq!(code[0xa..0xd], [0x50, 0xbb, 7], "PUSH EAX at 100a, MOV EBX, imm32 at 100b");
    let (cpu, _, _) = same_in_both(|| flat32(&code), 1000, "SMC by PUSH");
    assert_eq!(cpu.s.regs[3], 0x1234_5678);
    assert_eq!(cpu.s.regs[4], CODE + 0xc);
    assert_eq!(cpu.s.regs[0], 0x1234_5679);
}

/// An ADD and an INC with a memory destination, each rewriting the next instruction of its
/// block: the block leaves after each with the flags it set (read by SETC and SETZ after the
/// rewritten instruction), and the rewritten instruction runs.
#[test]
fn alu_stores_rewrite_the_next_instruction_of_the_same_block() {
    let code = asm(32, |a| {
        a.mov(eax, 1u32)?; // 1000
        a.add(byte_ptr(0x100d), 0xfeu32)?; // 1005: 7 + FE: MOV EBX, 5 and CF
        a.mov(ebx, 7u32)?; // 100c
        a.setc(cl)?; // 1011
        a.inc(byte_ptr(0x101b))?; // 1014: FF + 1: MOV EDX, 0 and ZF
        a.mov(edx, 0xffu32)?; // 101a
        a.sete(ch)?; // 101f
        a.inc(eax)?;
        a.hlt()?;
        Ok(())
    });
    assert_eq!(code[0xc..0xe], [0xbb, 7], "MOV EBX, imm32 at 100c");
    assert_eq!(code[0x1a..0x1c], [0xba, 0xff], "MOV EDX, imm32 at 101a");
    let (cpu, _, _) = same_in_both(|| flat32(&code), 1000, "SMC by ADD and INC");
    assert_eq!(cpu.s.regs[3], 5);
    assert_eq!(cpu.s.regs[2], 0);
    assert_eq!(cpu.s.regs[1] & 0xffff, 0x0101, "CF from the ADD, ZF from the INC");
    assert_eq!(cpu.s.regs[0], 2);
}

/// A PUSH that faults mid-block (a doubleword at SP FFFE runs past SS's limit: #SS): the
/// instructions before it are done, SP is as it was when the PUSH started.
#[test]
fn push_faults_mid_block() {
    let code = asm(16, |a| {
        a.mov(sp, 2u32)?;
        a.mov(eax, 0x1122_3344u32)?;
        a.inc(dx)?;
        a.push(eax)?; // 4 bytes at SS:FFFE
        a.mov(dx, 99u32)?;
        a.hlt()?;
        Ok(())
    });
    let (cpu, stop, _) = same_in_both(|| with_handler(&code, 12), 1000, "#SS by PUSH");
    assert_eq!(stop, Stop::Halted);
    // mov sp, imm16 (3) + mov eax, imm32 (6) + inc dx (1)
    assert_eq!(cpu.s.regs[7] & 0xffff, CODE + 10, "pushed IP is the PUSH");
    assert_eq!(cpu.s.regs[2] & 0xffff, 1, "INC DX ran, MOV DX did not");
    assert_eq!(cpu.s.regs[4] & 0xffff, 0xfffc, "SP 2 at the fault, then FLAGS, CS and IP pushed");
}

/// Code written behind the CPU's back (a loader, DMA) is retranslated.
#[test]
fn code_written_by_dma_is_retranslated() {
    let first = asm(32, |a| {
        a.mov(eax, 1u32)?;
        a.hlt()?;
        Ok(())
    });
    let second = asm(32, |a| {
        a.mov(eax, 2u32)?;
        a.hlt()?;
        Ok(())
    });
    let mut c = flat32(&first);
    let mut j = jit();
    assert_eq!(j.run(&mut c, 100), Stop::Halted);
    assert_eq!(c.s.regs[0], 1);
    c.sys.write_bytes(CODE as u64, &second);
    c.s.halted = false;
    c.s.eip = CODE;
    assert_eq!(j.run(&mut c, 100), Stop::Halted);
    assert_eq!(c.s.regs[0], 2);
}

/// Every test above.
fn every_test_above() {
    divide_error_mid_block();
    general_protection_mid_block();
    page_fault_mid_block();
    page_fault_in_a_one_block_loop();
    loop_patches_its_next_instruction();
    store_rewrites_a_later_instruction_of_the_same_block();
    push_rewrites_the_next_instruction_of_the_same_block();
    alu_stores_rewrite_the_next_instruction_of_the_same_block();
    push_faults_mid_block();
    code_written_by_dma_is_retranslated();
}

/// The tests above again, with every block compiled by Cranelift's optimiser.
#[test]
fn faults_and_smc_with_the_optimiser() {
    with_optimiser(every_test_above);
}

/// The tests above again, with every block built by the baseline tier.
#[test]
fn faults_and_smc_with_the_baseline_tier() {
    with_baseline(every_test_above);
}
