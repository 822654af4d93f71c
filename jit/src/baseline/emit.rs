//! Step 2 of the plan (see [`super`]): a block's code with the contract of Cranelift's blocks,
//! every instruction handed to the interpreter (`helpers::exec_insn`), as instructions without
//! a template will be.
//!
//! The code, for a block of `n` instructions:
//! - the entry keeps RBX, R12 and RBP (callee-saved in the `tail` convention) and puts the CPU
//!   in RBX and the exit context in R12, where the helper calls leave them; three pushes after
//!   the return address align the stack to 16 bytes for those calls;
//! - each instruction calls `exec_insn(cpu, ctx, &insn, eip)`; a status other than OK (a fault,
//!   or a store onto translated code) leaves the block at once, with the instructions run so
//!   far and this one added to `icount` (the faulting one counts, as `Cpu::step` counts it; the
//!   helper put EIP back on it, or left it after the store);
//! - after a merged JMP, CALL or RET (`translate::merged`), the block goes on only if EIP is
//!   where the next instruction is (a RET may return elsewhere than predicted); else it leaves
//!   with OK, and the dispatcher looks the block there up;
//! - a last instruction that crosses into the next page is fetched and run by
//!   `helpers::fetch_exec` (`translate::crosses_page`), whose status the block returns;
//! - the block's end adds `n` to `icount` and returns OK: it does not chain in its code (the
//!   dispatcher may still follow its links); Cranelift's blocks may chain into it.
//!
//! The helpers see the real state, since nothing is cached in host registers, and leave EIP as
//! `Cpu::step` would; the block stores nothing else.

use super::asm::{Alu, Asm, AsmError, Cond, Mem, Reg, W};
use crate::helpers;
use crate::layout;
use crate::translate::{crosses_page, merged};
use emu_cpu_x86::decode::Insn;

/// Where the block keeps the CPU and the exit context across its calls.
const CPU: Reg = Reg::RBX;
const CTX: Reg = Reg::R12;

/// Writes the code of the block of `insns` at `eips` (decoded with CS base `cs_base`) into `a`
/// (cleared first) and finishes it. The code passes the addresses of `insns` to the
/// interpreter: they must not move while it lives (a `Job`'s boxed slice does not).
pub fn block<'a>(a: &'a mut Asm, insns: &[Insn], eips: &[u32], cs_base: u32) -> Result<&'a [u8], AsmError> {
    a.clear();
    let n = insns.len();
    let leave = a.label();
    a.push(Reg::RBP);
    a.push(CPU);
    a.push(CTX);
    a.mov_rr(W::Q, CPU, Reg::RDI);
    a.mov_rr(W::Q, CTX, Reg::RSI);
    // Exits taken after instruction k (0-based) with the status in EAX: (label, k + 1).
    let mut exits = Vec::new();
    for (k, (i, &eip)) in insns.iter().zip(eips).enumerate() {
        let last = k + 1 == n;
        a.mov_rr(W::Q, Reg::RDI, CPU);
        a.mov_rr(W::Q, Reg::RSI, CTX);
        if last && crosses_page(cs_base, eip, i) {
            a.mov_imm(Reg::RAX, helpers::fetch_exec as *const () as u64);
            a.call_r(Reg::RAX);
            a.alu_mi(Alu::Add, W::Q, Mem::at(CPU, layout::ICOUNT), n as i32);
            a.jmp(leave);
            break;
        }
        a.mov_imm(Reg::RDX, i as *const Insn as u64);
        a.mov_imm(Reg::RCX, eip as u64);
        a.mov_imm(Reg::RAX, helpers::exec_insn as *const () as u64);
        a.call_r(Reg::RAX);
        let out = a.label();
        a.test_rr(W::D, Reg::RAX, Reg::RAX);
        a.jcc(Cond::NE, out);
        exits.push((out, k + 1));
        if let (false, true) = (last, merged(i)) {
            // OK (EAX is 0) if control went elsewhere than the next instruction.
            a.alu_mi(Alu::Cmp, W::D, Mem::at(CPU, layout::EIP), eips[k + 1] as i32);
            a.jcc(Cond::NE, out);
        }
        if last {
            a.alu_mi(Alu::Add, W::Q, Mem::at(CPU, layout::ICOUNT), n as i32);
            a.jmp(leave);
        }
    }
    for (out, count) in exits {
        a.bind(out);
        a.alu_mi(Alu::Add, W::Q, Mem::at(CPU, layout::ICOUNT), count as i32);
        a.jmp(leave);
    }
    a.bind(leave);
    a.pop(CTX);
    a.pop(CPU);
    a.pop(Reg::RBP);
    a.ret();
    a.finish()
}
