//! Specialised IR for the hot instructions. Each emitter mirrors the interpreter's code for the
//! instruction (named in its comment): the same operand reads in the same order, the same
//! lazy-flags fields, and nothing written back to the state before its last access that can
//! fault (a fault exit stores the registers and flags of the instruction's start, see the
//! module comment of `translate`).
//!
//! [`emit`] is the dispatch: the data movement, ALU, stack and control instructions are here;
//! multiply and divide are in `muldiv.rs`, shifts and rotates in `shift.rs`, string
//! instructions (other than REP MOVS/STOS, here) in `string.rs`, and LEAVE, BSWAP, XADD,
//! CMPXCHG, the bit tests and scans in `misc.rs`. `--stats` lists the instructions blocks still
//! hand to the interpreter most often.
//!
//! [`emit`] returns `false`, having emitted nothing, for any form it does not handle; the
//! instruction then runs in the interpreter.

use super::{Emitter, Pure, SLOTS};
use crate::helpers::status;
use crate::layout;
use cranelift_codegen::ir::{condcodes::IntCC, types, InstBuilder, MemFlagsData, Value};
use emu_cpu_x86::decode::{prefix, Arg, Insn, Mnemonic as M, NO_REG};
use emu_cpu_x86::fault::vector;
use emu_cpu_x86::flags::{CcOp, Size};
use emu_cpu_x86::state::{eflags, reg, SegReg};
use emu_cpu_x86::Cpu;

/// Where an operand is, resolved once per instruction.
#[derive(Clone, Copy)]
pub(super) enum Loc {
    Reg(u8, Size),
    /// Segment, offset, size, and whether the offset is 16-bit (cannot wrap).
    Mem(SegReg, Value, Size, bool),
    Imm(u32),
}

/// Operands specialised code can read and write: registers, memory, immediates.
fn plain(a: Arg) -> bool {
    matches!(a, Arg::Reg(..) | Arg::Mem(_) | Arg::Imm(_))
}

/// Emits `i` if it has specialised code; `false` (nothing emitted) otherwise.
pub(super) fn emit(e: &mut Emitter, i: &Insn) -> bool {
    let [a0, a1, _] = i.args;
    match i.mnemonic {
        M::Nop => true,
        M::Mov if plain(a0) && plain(a1) => {
            // data::mov: v = get(1); set(0, v)
            let (d, s) = (e.loc(i, 0), e.loc(i, 1));
            let v = e.read(s);
            e.write_reg_now(d, v);
            // The store is all a MOV to memory does: see `store_only`.
            if let Loc::Mem(seg, off, size, off16) = d {
                e.store_only(seg, off, size, v, off16);
            }
            true
        }
        M::Add | M::Or | M::Adc | M::Sbb | M::And | M::Sub | M::Xor | M::Cmp | M::Test if plain(a0) && plain(a1) => {
            alu(e, i);
            true
        }
        M::Inc | M::Dec | M::Neg | M::Not if plain(a0) => {
            unary(e, i);
            true
        }
        M::Lea => {
            // data: set(0, ea)
            let Arg::Reg(r, size) = a0 else { return false };
            let m = i.mem;
            if size == Size::D && i.asize == Size::D && m.base == r && m.index == NO_REG && m.disp == 0 {
                // `lea r32, [r32]`: nothing changes. (A 32-bit kernel begins every function with
                // one, `3e 8d 74 26 00`, the five-byte NOP its patched-out ftrace call became:
                // it loaded the register where the block had not yet, and stored it unless a
                // later instruction overwrote it first.)
                return true;
            }
            let ea = e.ea(i);
            e.set_reg(r, size, ea);
            true
        }
        M::Push if plain(a0) => {
            // stack: v = get(0) (PUSH ESP pushes the old value); push(osize, v)
            let l = e.loc(i, 0);
            let v = e.read(l);
            // ESP first, so that the store is the last effect (`store_last`): a fault exit
            // stores the registers as they were when the instruction started anyway.
            let sp = e.sp_plus(i.osize.bytes().wrapping_neg());
            e.set_sp(sp);
            let off16 = !e.mode.stack32();
            match l {
                // Its only access: see `store_only`.
                Loc::Reg(..) | Loc::Imm(_) => e.store_only(SegReg::Ss, sp, i.osize, v, off16),
                Loc::Mem(..) => e.store_last(SegReg::Ss, sp, i.osize, v, off16),
            }
            true
        }
        M::Pop => {
            // stack: v = pop(size); set(0, v)
            let Arg::Reg(r, size) = a0 else { return false };
            let sp = e.sp();
            let v = e.load(SegReg::Ss, sp, size, !e.mode.stack32());
            let new = e.sp_plus(size.bytes());
            e.set_sp(new);
            e.set_reg(r, size, v);
            true
        }
        M::Jmp if matches!(a0, Arg::Rel(_)) || plain(a0) => {
            // control: jump_near(near_target, osize)
            let target = e.near_target(i);
            if let Some(t) = e.follow {
                // Merged: the block goes on at the target, one of its own instructions, so
                // within CS's limit (checked for the whole block before it runs).
                debug_assert_eq!(e.const_of(target), Some(t));
                return true;
            }
            e.check_cs_limit(target);
            e.exit(target, e.k + 1, status::CHAIN_TAKEN);
            true
        }
        M::Jcc => {
            let Arg::Rel(rel) = a0 else { return false };
            let c = e.cond(i.cc());
            let target = e.next.wrapping_add(rel) & i.osize.mask();
            e.flush(0..SLOTS);
            let (taken, not_taken) = (e.b.create_block(), e.b.create_block());
            e.b.ins().brif(c, taken, &[], not_taken, &[]);
            e.b.switch_to_block(taken);
            let t = e.c32(target);
            e.check_cs_limit(t);
            e.exit(t, e.k + 1, status::CHAIN_TAKEN);
            e.b.switch_to_block(not_taken);
            let n = e.c32(e.next);
            e.exit(n, e.k + 1, status::CHAIN_NEXT);
            true
        }
        M::Call if matches!(a0, Arg::Rel(_)) || plain(a0) => {
            // control: target = near_target & mask; check_cs_limit; push(next); eip = target
            let target = e.near_target(i);
            if e.follow.is_none() {
                e.check_cs_limit(target);
            }
            let next = e.c32(e.next);
            // The push is the only access of a CALL to a register or a displacement.
            e.push(i.osize, next, !matches!(a0, Arg::Mem(_)));
            match e.follow {
                // Merged: as for JMP, the target is within the block, so within CS's limit.
                Some(t) => debug_assert_eq!(e.const_of(target), Some(t)),
                None => e.exit(target, e.k + 1, status::CHAIN_TAKEN),
            }
            true
        }
        M::Ret => {
            // control: target = read(SS:sp); check_cs_limit; sp = sp_plus(size) + imm
            let imm = if let Arg::Imm(n) = a0 { n } else { 0 };
            let size = i.osize;
            let sp = e.sp();
            let target = e.load(SegReg::Ss, sp, size, !e.mode.stack32());
            let up = e.sp_plus(size.bytes());
            let new = if imm == 0 { up } else { e.b.ins().iadd_imm_s(up, imm as i64) };
            if let Some(predicted) = e.follow {
                // Predicted (an earlier CALL of the block pushed `predicted`): the block goes on
                // at that instruction of its own (so within CS's limit) when the popped address
                // is it, and otherwise leaves as an unmerged RET does.
                let hit = e.b.ins().icmp_imm_u(IntCC::Equal, target, predicted as i64);
                let (go_on, miss) = (e.b.create_block(), e.b.create_block());
                e.b.ins().brif(hit, go_on, &[], miss, &[]);
                e.b.switch_to_block(miss);
                let saved = e.cache;
                e.check_cs_limit(target);
                e.set_sp(new);
                e.exit(target, e.k + 1, status::CHAIN_TAKEN);
                e.terminated = false;
                e.cache = saved;
                e.b.switch_to_block(go_on);
                e.set_sp(new);
                return true;
            }
            e.check_cs_limit(target);
            e.set_sp(new);
            e.exit(target, e.k + 1, status::CHAIN_TAKEN);
            true
        }
        M::Loop | M::Loope | M::Loopne => {
            let Arg::Rel(rel) = a0 else { return false };
            loop_(e, i, rel);
            true
        }
        M::Movzx | M::Movsx if plain(a1) => {
            let (d, s) = (e.loc(i, 0), e.loc(i, 1));
            let v = e.read(s);
            let v = if i.mnemonic == M::Movsx { e.sext(v, Cpu::size_of(i, 1)) } else { v };
            e.write(d, v);
            true
        }
        M::Setcc if plain(a0) => {
            // data: set(0, cond)
            let d = e.loc(i, 0);
            let c = e.cond(i.cc());
            let v = e.b.ins().uextend(types::I32, c);
            e.write(d, v);
            true
        }
        M::Cmovcc if plain(a1) => {
            // data: v = get(1) (always read); if cond { set(0, v) }
            let Arg::Reg(r, size) = a0 else { return false };
            let s = e.loc(i, 1);
            let v = e.read(s);
            let c = e.cond(i.cc());
            let old = e.reg32(r);
            e.set_reg(r, size, v);
            let new = e.reg32(r);
            let merged = e.b.ins().select(c, new, old);
            e.set_reg32(r, merged);
            true
        }
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror | M::Rcl | M::Rcr | M::Shld | M::Shrd => {
            super::shift::emit(e, i)
        }
        M::Xchg => {
            // data: a = get(0); b = get(1); set(0, b); set(1, a)
            let (Arg::Reg(r0, s0), Arg::Reg(r1, s1)) = (a0, a1) else { return false };
            let (a, b) = (e.reg(r0, s0), e.reg(r1, s1));
            e.set_reg(r0, s0, b);
            e.set_reg(r1, s1, a);
            true
        }
        M::Cbw => {
            let half = if i.osize == Size::D { Size::W } else { Size::B };
            let v = e.reg(0, half);
            let v = e.sext(v, half);
            e.set_reg(0, i.osize, v);
            true
        }
        M::Movs | M::Stos if e.mode.code32() && i.asize == Size::D && i.has(prefix::REP | prefix::REPNE) => {
            rep_movs_stos(e, i);
            true
        }
        M::Movs | M::Cmps | M::Stos | M::Lods | M::Scas => super::string::emit(e, i),
        M::Leave | M::Bswap | M::Xadd | M::Cmpxchg | M::Bt | M::Bts | M::Btr | M::Btc | M::Bsf | M::Bsr => {
            super::misc::emit(e, i)
        }
        M::Mul | M::Imul | M::Div | M::Idiv => super::muldiv::emit(e, i),
        M::Cwd => {
            let v = e.reg(0, i.osize);
            let top = e.sign_at_top(v, i.osize);
            let high = e.b.ins().sshr_imm_u(top, 31);
            e.set_reg(reg::EDX as u8, i.osize, high);
            true
        }
        _ => false,
    }
}

/// ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST (alu::binary and alu::evaluate).
fn alu(e: &mut Emitter, i: &Insn) {
    let size = Cpu::size_of(i, 0);
    let (d, s) = (e.loc(i, 0), e.loc(i, 1));
    let a = e.read(d);
    let b = e.read(s);
    let b = e.mask(b, size);
    let mut cin = None;
    let (res, kind) = match i.mnemonic {
        M::Add => (e.b.ins().iadd(a, b), CcOp::ADD),
        M::Adc | M::Sbb => {
            let c = e.carry();
            cin = Some(c);
            let (x, kind) = if i.mnemonic == M::Adc {
                (e.b.ins().iadd(a, b), CcOp::ADC)
            } else {
                (e.b.ins().isub(a, b), CcOp::SBB)
            };
            let r = if kind == CcOp::ADC { e.b.ins().iadd(x, c) } else { e.b.ins().isub(x, c) };
            (r, kind)
        }
        M::Sub | M::Cmp => (e.b.ins().isub(a, b), CcOp::SUB),
        M::And | M::Test => (e.b.ins().band(a, b), CcOp::LOGIC),
        M::Or => (e.b.ins().bor(a, b), CcOp::LOGIC),
        _ => (e.b.ins().bxor(a, b), CcOp::LOGIC),
    };
    let res = e.mask(res, size);
    let writes = !matches!(i.mnemonic, M::Cmp | M::Test);
    if writes {
        e.write_reg_now(d, res);
    }
    let src2 = match cin {
        Some(c) => c,
        None => e.c32(0),
    };
    e.set_cc(kind, size, res, b, src2);
    if kind == CcOp::SUB {
        // `a` is read at the operand's size, zero-extended: the value `sub_operands` recovers.
        e.sub_first = Some((res, a));
    }
    if writes {
        e.write_mem_last(d, res);
    }
}

/// INC, DEC, NEG, NOT (alu::unary).
fn unary(e: &mut Emitter, i: &Insn) {
    let size = Cpu::size_of(i, 0);
    let d = e.loc(i, 0);
    let a = e.read(d);
    let res = match i.mnemonic {
        M::Not => e.b.ins().bnot(a),
        M::Inc => e.b.ins().iadd_imm_s(a, 1),
        M::Dec => e.b.ins().iadd_imm_s(a, -1),
        _ => e.b.ins().ineg(a),
    };
    let res = e.mask(res, size);
    // The carry INC/DEC keep, from the flags before this instruction.
    let carry = matches!(i.mnemonic, M::Inc | M::Dec).then(|| e.carry());
    e.write_reg_now(d, res);
    match i.mnemonic {
        M::Inc => {
            let z = e.c32(0);
            e.set_cc(CcOp::INC, size, res, z, carry.unwrap())
        }
        M::Dec => {
            let z = e.c32(0);
            e.set_cc(CcOp::DEC, size, res, z, carry.unwrap())
        }
        M::Neg => {
            let z = e.c32(0);
            e.set_cc(CcOp::SUB, size, res, a, z)
        }
        _ => {}
    }
    e.write_mem_last(d, res);
}

/// LOOP, LOOPE, LOOPNE (control): count = eCX - 1; taken = count != 0 (and ZF as asked);
/// if taken, jump_near (which can fault before eCX changes); then eCX = count.
fn loop_(e: &mut Emitter, i: &Insn, rel: u32) {
    let asize = i.asize;
    let cx = e.reg(reg::ECX as u8, asize);
    let count = e.b.ins().iadd_imm_s(cx, -1);
    let count = e.mask(count, asize);
    let mut taken = e.b.ins().icmp_imm_u(IntCC::NotEqual, count, 0);
    match i.mnemonic {
        M::Loope => {
            let z = e.cond(0x4);
            taken = e.b.ins().band(taken, z);
        }
        M::Loopne => {
            let nz = e.cond(0x5);
            taken = e.b.ins().band(taken, nz);
        }
        _ => {}
    }
    let target = e.next.wrapping_add(rel) & i.osize.mask();
    let (yes, no) = (e.b.create_block(), e.b.create_block());
    e.b.ins().brif(taken, yes, &[], no, &[]);
    let saved = e.cache;
    e.b.switch_to_block(yes);
    let t = e.c32(target);
    e.check_cs_limit(t);
    e.set_reg(reg::ECX as u8, asize, count);
    e.exit(t, e.k + 1, status::CHAIN_TAKEN);
    e.cache = saved;
    e.b.switch_to_block(no);
    e.set_reg(reg::ECX as u8, asize, count);
    let n = e.c32(e.next);
    e.exit(n, e.k + 1, status::CHAIN_NEXT);
}

/// Longest REP MOVS/STOS the inline path copies; longer ones go to the interpreter, whose fast
/// path moves whole page-sized runs with `memmove`, faster than an element loop.
const REP_INLINE_MAX: i64 = 64;

/// REP MOVS and REP STOS with 32-bit addressing (string::exec): when ECX is 1 to
/// [`REP_INLINE_MAX`], TF is clear, and every element on each side lies in one page that has the
/// TLB tag for its access (a write tag means plain RAM holding no translated code), within the
/// segment's limit and without wrapping the offset, the elements are copied inline in the
/// architectural order (so overlapping MOVS replicates as on hardware), then ESI/EDI move by
/// ECX elements in the direction of DF and ECX becomes 0. Nothing on that path can fault, and it
/// is one whole execution of the instruction, as the interpreter counts it (ECX is below its
/// chunk); with ECX = 0 nothing happens. Everything else (a large ECX, page crossings, TLB
/// misses, MMIO, code pages, limit violations, faults, single-step) is the interpreter's, for
/// the whole instruction. The instruction still ends its block (the interpreter may leave EIP
/// on it to continue in the next chunk).
fn rep_movs_stos(e: &mut Emitter, i: &Insn) {
    let size = Cpu::size_of(i, 0);
    let sz = size.bytes() as i64;
    let movs = i.mnemonic == M::Movs;
    let count = e.reg32(reg::ECX as u8);
    e.next_insn_if_zero(count);
    let flags = e.b.ins().load(types::I32, MemFlagsData::trusted(), e.cpu, layout::FLAGS);
    let down = e.bit_set(flags, eflags::DF);
    // ECX - 1 < REP_INLINE_MAX (unsigned: ECX = 0 fails too), and no single-step trap.
    let c1 = e.b.ins().iadd_imm_s(count, -1);
    let mut ok = e.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, c1, REP_INLINE_MAX);
    let tf = e.bit_set(flags, eflags::TF);
    let no_tf = e.b.ins().bxor_imm_u(tf, 1);
    ok = e.b.ins().band(ok, no_tf);
    // Bytes from the first element to the last one: (ECX - 1) * size, negated going down.
    let span = e.b.ins().imul_imm_u(c1, sz);
    let neg = e.b.ins().ineg(span);
    let delta = e.b.ins().select(down, neg, span);

    let side = |e: &mut Emitter, seg: SegReg, r: u8, write: bool| run_side(e, seg, r, write, size, down, delta);
    let (dst, dst_ok) = side(e, SegReg::Es, reg::EDI as u8, true);
    ok = e.b.ins().band(ok, dst_ok);
    let src = if movs {
        let (src, src_ok) = side(e, i.seg, reg::ESI as u8, false);
        ok = e.b.ins().band(ok, src_ok);
        Some(src)
    } else {
        None
    };
    let value = (!movs).then(|| e.reg(0, size));

    let (fast, slow) = (e.b.create_block(), e.b.create_block());
    e.b.set_cold_block(slow);
    e.b.ins().brif(ok, fast, &[], slow, &[]);
    let saved = e.cache;

    // The inline loop: element k at dst + k * step (and src + k * step).
    e.b.switch_to_block(fast);
    let step_up = e.b.ins().iconst(e.ptr, sz);
    let step_down = e.b.ins().iconst(e.ptr, -sz);
    let step = e.b.ins().select(down, step_down, step_up);
    let (head, body, done) = (e.b.create_block(), e.b.create_block(), e.b.create_block());
    let n = e.b.append_block_param(head, types::I32);
    let d = e.b.append_block_param(head, e.ptr);
    let s = e.b.append_block_param(head, e.ptr);
    let src0 = src.unwrap_or(dst);
    e.b.ins().jump(head, &[count.into(), dst.into(), src0.into()]);
    e.b.switch_to_block(head);
    let more = e.b.ins().icmp_imm_u(IntCC::NotEqual, n, 0);
    e.b.ins().brif(more, body, &[], done, &[]);
    e.b.switch_to_block(body);
    let g = super::mem::guest();
    let v = match value {
        Some(v) => v,
        None => match size {
            Size::B => e.b.ins().uload8(types::I32, g, s, 0),
            Size::W => e.b.ins().uload16(types::I32, g, s, 0),
            Size::D => e.b.ins().load(types::I32, g, s, 0),
        },
    };
    match size {
        Size::B => e.b.ins().istore8(g, v, d, 0),
        Size::W => e.b.ins().istore16(g, v, d, 0),
        Size::D => e.b.ins().store(g, v, d, 0),
    };
    let n1 = e.b.ins().iadd_imm_s(n, -1);
    let d1 = e.b.ins().iadd(d, step);
    let s1 = e.b.ins().iadd(s, step);
    e.b.ins().jump(head, &[n1.into(), d1.into(), s1.into()]);
    e.b.switch_to_block(done);
    // ESI/EDI move by ECX elements: delta + one more element.
    let elem_up = e.c32(size.bytes());
    let elem_down = e.c32(size.bytes().wrapping_neg());
    let elem = e.b.ins().select(down, elem_down, elem_up);
    let moved = e.b.ins().iadd(delta, elem);
    for r in if movs { &[reg::EDI, reg::ESI][..] } else { &[reg::EDI][..] } {
        let old = e.reg32(*r as u8);
        let new = e.b.ins().iadd(old, moved);
        e.set_reg32(*r as u8, new);
    }
    let zero = e.c32(0);
    e.set_reg32(reg::ECX as u8, zero);
    let next = e.c32(e.next);
    e.exit(next, e.k + 1, status::CHAIN_NEXT);

    // Everything else: the interpreter runs the whole instruction (it is the block's last).
    e.cache = saved;
    e.terminated = false;
    e.b.switch_to_block(slow);
    e.generic(true, false);
}

/// One side of a short inline REP run with 32-bit addressing: the elements from `seg:[r]` to
/// `seg:[r] + delta` (`delta`: bytes from the first element to the last, negative going down;
/// `down`: EFLAGS.DF). Returns (host address of the first element, i8 "every element lies in one
/// page that has the TLB tag for the access, within the segment's limit, and the offset does
/// not wrap"): then the run can be done straight on host memory without a fault.
pub(super) fn run_side(
    e: &mut Emitter,
    seg: SegReg,
    r: u8,
    write: bool,
    size: Size,
    down: Value,
    delta: Value,
) -> (Value, Value) {
    let sz = size.bytes() as i64;
    let off = e.reg32(r);
    let off_last = e.b.ins().iadd(off, delta);
    // The offset must not wrap between the first and the last element.
    let up_ok = e.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, off_last, off);
    let down_ok = e.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, off_last, off);
    let no_wrap = e.b.ins().select(down, down_ok, up_ok);
    // Segment checks at both ends cover the run (limits bound a convex range of offsets).
    let (lin, ok1) = e.seg_check(seg, off, size, write, false);
    let (lin_last, ok2) = e.seg_check(seg, off_last, size, write, false);
    let lo = e.b.ins().select(down, lin_last, lin);
    let hi_first = e.b.ins().select(down, lin, lin_last);
    let hi = e.b.ins().iadd_imm_s(hi_first, sz - 1);
    // One page: the lowest and the highest byte share the page and do not wrap.
    let lo_page = e.b.ins().band_imm_u(lo, !0xfffi64 & 0xffff_ffff);
    let hi_page = e.b.ins().band_imm_u(hi, !0xfffi64 & 0xffff_ffff);
    let same = e.b.ins().icmp(IntCC::Equal, lo_page, hi_page);
    let (entry, hit) = e.tlb_hit(lo, Size::B, if write { layout::TLB_WRITE } else { layout::TLB_READ });
    let mut all = e.b.ins().band(no_wrap, ok1);
    for c in [ok2, same, hit] {
        all = e.b.ins().band(all, c);
    }
    let host = e.host_addr(entry, lin);
    (host, all)
}

impl Emitter<'_> {
    /// The offset of the memory operand, wrapped to the address size (`Cpu::ea`).
    pub(super) fn ea(&mut self, i: &Insn) -> Value {
        let m = i.mem;
        let mut a: Option<Value> = None;
        if m.base != NO_REG {
            a = Some(self.reg32(m.base));
        }
        // Pure arithmetic on the registers' values: an operand the block used before, with the
        // same register values, gets the same value (and so its address checks are reused).
        if m.index != NO_REG {
            let x = self.reg32(m.index);
            let x = if m.scale > 0 { self.pure(Pure::Shl(x, m.scale as i64)) } else { x };
            a = Some(match a {
                Some(a) => self.pure(Pure::Add(a, x)),
                None => x,
            });
        }
        let a = match a {
            Some(a) if m.disp != 0 => self.pure(Pure::AddImm(a, m.disp as i32 as i64)),
            Some(a) => a,
            None => self.c32(m.disp),
        };
        match i.asize {
            Size::D => a,
            s => self.pure(Pure::AndImm(a, s.mask() as i64)),
        }
    }

    pub(super) fn loc(&mut self, i: &Insn, n: usize) -> Loc {
        match i.args[n] {
            Arg::Reg(r, s) => Loc::Reg(r, s),
            Arg::Imm(v) => Loc::Imm(v),
            Arg::Mem(s) => {
                let off = self.ea(i);
                Loc::Mem(i.seg, off, s, i.asize == Size::W)
            }
            other => unreachable!("operand {other:?} is not plain"),
        }
    }

    pub(super) fn read(&mut self, l: Loc) -> Value {
        match l {
            Loc::Reg(r, s) => self.reg(r, s),
            Loc::Imm(v) => self.c32(v),
            Loc::Mem(seg, off, s, off16) => self.load(seg, off, s, off16),
        }
    }

    pub(super) fn write(&mut self, l: Loc, v: Value) {
        match l {
            Loc::Reg(r, s) => self.set_reg(r, s, v),
            Loc::Mem(seg, off, s, off16) => self.store(seg, off, s, v, off16),
            Loc::Imm(_) => unreachable!("an immediate is not writable"),
        }
    }

    /// The register half of [`Emitter::write`] (nothing for memory): with
    /// [`Emitter::write_mem_last`] after the instruction's other effects, a write whose store
    /// is the instruction's last effect (`store_last`). A fault exit stores the registers and
    /// flags as they were when the instruction started, so setting them first is safe.
    pub(super) fn write_reg_now(&mut self, l: Loc, v: Value) {
        match l {
            Loc::Reg(r, s) => self.set_reg(r, s, v),
            Loc::Mem(..) => {}
            Loc::Imm(_) => unreachable!("an immediate is not writable"),
        }
    }

    /// The memory half of [`Emitter::write`] (nothing for a register), as the instruction's
    /// last effect.
    pub(super) fn write_mem_last(&mut self, l: Loc, v: Value) {
        match l {
            Loc::Mem(seg, off, s, off16) => self.store_last(seg, off, s, v, off16),
            Loc::Reg(..) => {}
            Loc::Imm(_) => unreachable!("an immediate is not writable"),
        }
    }

    /// Sign-extends the low `size` bits of `v` to 32.
    pub(super) fn sext(&mut self, v: Value, size: Size) -> Value {
        match size {
            Size::D => v,
            _ => {
                let top = self.sign_at_top(v, size);
                self.b.ins().sshr_imm_u(top, 32 - size.bits() as i64)
            }
        }
    }

    /// SP or ESP, by the stack size (`Cpu::sp`).
    fn sp(&mut self) -> Value {
        let r = self.reg32(reg::ESP as u8);
        if self.mode.stack32() {
            r
        } else {
            self.mask(r, Size::W)
        }
    }

    /// The stack pointer moved by `delta`, wrapped to the stack size (`Cpu::sp_plus`).
    pub(super) fn sp_plus(&mut self, delta: u32) -> Value {
        let sp = self.sp();
        // Folded into the previous push's or pop's adjustment when there is one.
        let v = self.add_const(sp, delta);
        if self.mode.stack32() {
            v
        } else {
            self.mask(v, Size::W)
        }
    }

    /// `Cpu::set_sp`.
    pub(super) fn set_sp(&mut self, v: Value) {
        let size = if self.mode.stack32() { Size::D } else { Size::W };
        self.set_reg(reg::ESP as u8, size, v);
    }

    /// `Cpu::push`: the store first, ESP only if it succeeded (CALL's; PUSH stores last, see
    /// `emit`). `only`: the store is the instruction's only memory access (`store_only`).
    fn push(&mut self, size: Size, v: Value, only: bool) {
        let sp = self.sp_plus(size.bytes().wrapping_neg());
        let off16 = !self.mode.stack32();
        if only {
            self.store_only(SegReg::Ss, sp, size, v, off16);
        } else {
            self.store(SegReg::Ss, sp, size, v, off16);
        }
        self.set_sp(sp);
    }

    /// A near branch target (EIP + rel, or the r/m operand), masked to the operand size.
    fn near_target(&mut self, i: &Insn) -> Value {
        match i.args[0] {
            Arg::Rel(rel) => self.c32(self.next.wrapping_add(rel) & i.osize.mask()),
            _ => {
                let l = self.loc(i, 0);
                let v = self.read(l);
                self.mask(v, i.osize)
            }
        }
    }

    /// `Cpu::check_cs_limit`: #GP(0) if `eip` is beyond CS's limit.
    /// With a 4 GiB limit (the mode key says so) no 32-bit EIP is beyond it: nothing to check.
    fn check_cs_limit(&mut self, eip: Value) {
        if self.mode.cs_limit_4g() {
            return;
        }
        let limit =
            self.b.ins().load(types::I32, MemFlagsData::trusted(), self.cpu, layout::seg_limit(SegReg::Cs as usize));
        let bad = self.b.ins().icmp(IntCC::UnsignedGreaterThan, eip, limit);
        self.raise_if(bad, vector::GP, Some(0));
    }
}
