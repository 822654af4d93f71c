//! String instructions without a REP prefix as IR (`interp::string::once`): MOVS, CMPS, STOS,
//! LODS, SCAS, with 16- or 32-bit addressing. The source is `seg:[eSI]` (DS unless overridden),
//! the destination `ES:[eDI]`; eSI/eDI move by the element size in the direction of EFLAGS.DF
//! (read from the state: no specialised instruction changes DF), wrapping at the address size
//! (16-bit addressing leaves the upper halves of ESI/EDI alone). Every access comes before any
//! register or flag changes, so a fault changes nothing. CMPS and SCAS set the flags as CMP does.
//!
//! REP MOVS/STOS in 32-bit code are [`super::insn`]'s `rep_movs_stos`; REPE/REPNE SCAS and
//! CMPS and REP LODS in 32-bit code are [`rep_scan`] here; the other REP forms are the
//! interpreter's. A REP instruction ends its block.

use super::insn::run_side;
use super::Emitter;
use crate::helpers::status;
use crate::layout;
use cranelift_codegen::ir::{condcodes::IntCC, types, InstBuilder, MemFlagsData, Value};
use emu_cpu_x86::decode::{prefix, Insn, Mnemonic as M};
use emu_cpu_x86::flags::{CcOp, Size};
use emu_cpu_x86::state::{eflags, reg, SegReg};

/// Emits a string instruction without REP, or a REP SCAS/CMPS/LODS with 32-bit addressing in
/// 32-bit code; `false` (nothing emitted) for any other form.
pub(super) fn emit(e: &mut Emitter, i: &Insn) -> bool {
    if !matches!(i.mnemonic, M::Movs | M::Cmps | M::Stos | M::Lods | M::Scas) {
        return false;
    }
    if i.has(prefix::REP | prefix::REPNE) {
        if e.mode.code32() && i.asize == Size::D && matches!(i.mnemonic, M::Scas | M::Cmps | M::Lods) {
            rep_scan(e, i);
            return true;
        }
        return false;
    }
    let Some(size) = i.string_operand() else {
        return false;
    };
    let asize = i.asize;
    let off16 = asize == Size::W;
    let si = e.reg(reg::ESI as u8, asize);
    let di = e.reg(reg::EDI as u8, asize);
    // The step: +size, or -size with DF set.
    let flags = e.b.ins().load(types::I32, MemFlagsData::trusted(), e.cpu, layout::FLAGS);
    let down = e.bit_set(flags, eflags::DF);
    let up_step = e.c32(size.bytes());
    let down_step = e.c32(size.bytes().wrapping_neg());
    let step = e.b.ins().select(down, down_step, up_step);
    let mut cmp = None;
    let (moves_si, moves_di) = match i.mnemonic {
        M::Movs => {
            let v = e.load(i.seg, si, size, off16);
            e.store(SegReg::Es, di, size, v, off16);
            (true, true)
        }
        M::Cmps => {
            let a = e.load(i.seg, si, size, off16);
            let b = e.load(SegReg::Es, di, size, off16);
            cmp = Some((a, b));
            (true, true)
        }
        M::Stos => {
            let v = e.reg(0, size);
            e.store(SegReg::Es, di, size, v, off16);
            (false, true)
        }
        M::Lods => {
            let v = e.load(i.seg, si, size, off16);
            e.set_reg(0, size, v);
            (true, false)
        }
        _ => {
            let a = e.reg(0, size);
            let b = e.load(SegReg::Es, di, size, off16);
            cmp = Some((a, b));
            (false, true)
        }
    };
    if let Some((a, b)) = cmp {
        // alu::compute(Cmp): cc = SUB, result a - b, source b, both at the size.
        let res = e.b.ins().isub(a, b);
        let res = e.mask(res, size);
        let z = e.c32(0);
        e.set_cc(CcOp::SUB, size, res, b, z);
    }
    for (moves, r) in [(moves_si, reg::ESI), (moves_di, reg::EDI)] {
        if moves {
            let old = e.reg32(r as u8);
            let new: Value = e.b.ins().iadd(old, step);
            e.set_reg(r as u8, asize, new);
        }
    }
    true
}

/// Most elements [`rep_scan`] looks at inline; a longer run (a REPNE SCASB over a long string,
/// say) is the interpreter's, which starts again from the first element.
const SCAN_INLINE_MAX: i64 = 256;

/// REPE/REPNE SCAS and CMPS, and REP LODS, with 32-bit addressing (`string::exec`): when ECX is
/// not 0, TF is clear, and the first `N = min(ECX, SCAN_INLINE_MAX)` elements on each side lie
/// in one page with a read TLB tag, within the segment's limit and without wrapping the offset
/// (`insn::run_side`), the iterations run inline on host memory: SCAS/CMPS compare element by
/// element until the REPE/REPNE condition ends the run or `N` elements were compared; LODS
/// loads the last element. The instruction is complete, and its result committed, when the
/// condition ended it or `N = ECX` (ECX reaches 0): ECX drops by the iterations run, ESI/EDI
/// move by as many elements in the direction of DF, and the flags are those of the last
/// compare (`CMP a, b`). Otherwise (more than `N` iterations to go, or any check failing) the
/// inline work is dropped — these instructions only read memory, and nothing was written to
/// the state — and the interpreter runs the whole instruction. ECX = 0 does nothing.
/// Nothing on the inline path can fault, and it is one whole execution of the instruction, as
/// the interpreter counts it (`N` is below its chunk of `REP_CHUNK` iterations).
fn rep_scan(e: &mut Emitter, i: &Insn) {
    let size = i.string_operand().unwrap_or(Size::B);
    let sz = size.bytes() as i64;
    let op = i.mnemonic;
    // F3 is REPE (stop on a difference), F2 REPNE (stop on equality) for SCAS and CMPS.
    let repe = i.has(prefix::REP);
    let count = e.reg32(reg::ECX as u8);
    let saved_flags = e.flags;
    e.next_insn_if_zero(count);
    let saved = e.cache;

    let flags = e.b.ins().load(types::I32, MemFlagsData::trusted(), e.cpu, layout::FLAGS);
    let down = e.bit_set(flags, eflags::DF);
    let tf = e.bit_set(flags, eflags::TF);
    let mut ok = e.b.ins().bxor_imm_u(tf, 1);
    // N = min(ECX, SCAN_INLINE_MAX); delta: bytes from the first element to the N-th.
    let max = e.c32(SCAN_INLINE_MAX as u32);
    let n = e.b.ins().umin(count, max);
    let n1 = e.b.ins().iadd_imm_s(n, -1);
    let span = e.b.ins().imul_imm_u(n1, sz);
    let neg = e.b.ins().ineg(span);
    let delta = e.b.ins().select(down, neg, span);
    let host = |e: &mut Emitter, seg: SegReg, r: u8, ok: &mut Value| {
        let (h, side_ok) = run_side(e, seg, r, false, size, down, delta);
        *ok = e.b.ins().band(*ok, side_ok);
        h
    };
    let (src, dst) = match op {
        M::Scas => (None, Some(host(e, SegReg::Es, reg::EDI as u8, &mut ok))),
        M::Lods => (Some(host(e, i.seg, reg::ESI as u8, &mut ok)), None),
        _ => {
            let s = host(e, i.seg, reg::ESI as u8, &mut ok);
            (Some(s), Some(host(e, SegReg::Es, reg::EDI as u8, &mut ok)))
        }
    };
    let (fast, slow) = (e.b.create_block(), e.b.create_block());
    e.b.set_cold_block(slow);
    e.b.ins().brif(ok, fast, &[], slow, &[]);
    e.b.switch_to_block(fast);
    let g = super::mem::guest();
    let load = |e: &mut Emitter, at: Value| match size {
        Size::B => e.b.ins().uload8(types::I32, g, at, 0),
        Size::W => e.b.ins().uload16(types::I32, g, at, 0),
        Size::D => e.b.ins().load(types::I32, g, at, 0),
    };
    // `done`: (iterations run, last a, last b, i8 the REPE/REPNE condition ended the run).
    let done = e.b.create_block();
    let ran = e.b.append_block_param(done, types::I32);
    let last_a = e.b.append_block_param(done, types::I32);
    let last_b = e.b.append_block_param(done, types::I32);
    let stopped = e.b.append_block_param(done, types::I8);
    if op == M::Lods {
        // Only the last element matters: the one at delta.
        let at = e.b.ins().sextend(e.ptr, delta);
        let at = e.b.ins().iadd(src.unwrap(), at);
        let v = load(e, at);
        let no = e.bool_const(false);
        e.b.ins().jump(done, &[n.into(), v.into(), v.into(), no.into()]);
    } else {
        let step_up = e.b.ins().iconst(e.ptr, sz);
        let step_down = e.b.ins().iconst(e.ptr, -sz);
        let step = e.b.ins().select(down, step_down, step_up);
        let acc = (op == M::Scas).then(|| e.reg(0, size));
        let (head, cont) = (e.b.create_block(), e.b.create_block());
        let k = e.b.append_block_param(head, types::I32);
        let d = e.b.append_block_param(head, e.ptr);
        let s = e.b.append_block_param(head, e.ptr);
        let zero = e.c32(0);
        let d0 = dst.unwrap();
        let s0 = src.unwrap_or(d0);
        e.b.ins().jump(head, &[zero.into(), d0.into(), s0.into()]);
        e.b.switch_to_block(head);
        // SCAS: a = the accumulator, b = ES:[EDI]; CMPS: a = seg:[ESI], b = ES:[EDI].
        let a = match acc {
            Some(v) => v,
            None => load(e, s),
        };
        let b = load(e, d);
        let k1 = e.b.ins().iadd_imm_s(k, 1);
        let eq = e.b.ins().icmp(IntCC::Equal, a, b);
        let stop = if repe { e.b.ins().bxor_imm_u(eq, 1) } else { eq };
        let end = e.b.ins().icmp(IntCC::Equal, k1, n);
        let leave = e.b.ins().bor(stop, end);
        e.b.ins().brif(leave, done, &[k1.into(), a.into(), b.into(), stop.into()], cont, &[]);
        e.b.switch_to_block(cont);
        let d1 = e.b.ins().iadd(d, step);
        let s1 = e.b.ins().iadd(s, step);
        e.b.ins().jump(head, &[k1.into(), d1.into(), s1.into()]);
    }
    e.b.switch_to_block(done);
    // Complete: the condition ended it, or ECX reaches 0.
    let all = e.b.ins().icmp(IntCC::Equal, ran, count);
    let complete = e.b.ins().bor(stopped, all);
    let commit = e.b.create_block();
    e.b.ins().brif(complete, commit, &[], slow, &[]);
    e.b.switch_to_block(commit);
    let elem_up = e.c32(size.bytes());
    let elem_down = e.c32(size.bytes().wrapping_neg());
    let elem = e.b.ins().select(down, elem_down, elem_up);
    let moved = e.b.ins().imul(ran, elem);
    let regs: &[usize] = match op {
        M::Scas => &[reg::EDI],
        M::Lods => &[reg::ESI],
        _ => &[reg::ESI, reg::EDI],
    };
    for &r in regs {
        let old = e.reg32(r as u8);
        let new = e.b.ins().iadd(old, moved);
        e.set_reg32(r as u8, new);
    }
    let left = e.b.ins().isub(count, ran);
    e.set_reg32(reg::ECX as u8, left);
    if op == M::Lods {
        e.set_reg(0, size, last_a);
    } else {
        // alu::compute(Cmp) of the last pair.
        let res = e.b.ins().isub(last_a, last_b);
        let res = e.mask(res, size);
        let z = e.c32(0);
        e.set_cc(CcOp::SUB, size, res, last_b, z);
    }
    let next = e.c32(e.next);
    e.exit(next, e.k + 1, status::CHAIN_NEXT);

    // Everything else: the interpreter runs the whole instruction (it is the block's last).
    e.cache = saved;
    e.flags = saved_flags;
    e.terminated = false;
    e.b.switch_to_block(slow);
    e.generic(true, false);
}
