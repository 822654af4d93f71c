//! Steps 2 and 3 of the plan (see [`super`]): a block's code with the contract of Cranelift's
//! blocks, made of templates for the commonest 32-bit forms and, for every other instruction,
//! a call to the interpreter (`helpers::exec_insn`).
//!
//! **The frame.** The entry keeps RBP, RBX and R12-R15 (callee-saved in the `tail` convention)
//! and aligns the stack for calls; the CPU stays in RBX and the exit context in R12 across
//! them. Templates use RAX, RCX and RDX as scratch, R13 for an address and R14/R15 for
//! operands that must live across a slow path's call.
//!
//! **The state is exact at every instruction boundary.** Guest registers and the lazy flags
//! live in the CPU state: a template loads what it reads and stores what it writes, after its
//! last access that can fault (so a fault changes nothing, and the fault exit stores only EIP,
//! on the instruction, and the count). EIP itself is stored only at exits: the interpreter's
//! calls are given theirs. `icount` is brought up to date before each call to the interpreter
//! (which may read the clock) and at every exit.
//!
//! **Templates** are chosen by the interpreter's own classification ([`Fast::of`], 32-bit
//! code only), so they implement exactly what `Cpu::exec_fast` does for the form:
//! - MOV between registers, of an immediate, loads, stores of a register or an immediate;
//! - ADD, SUB, CMP, AND, OR, XOR, TEST on a register (with a register, an immediate or memory
//!   source) and on memory (read, operate, write);
//! - LEA, PUSH of a register or an immediate, POP, INC and DEC of a register (which keep CF:
//!   `helpers::condition` reads it from the lazy flags);
//! - Jcc as the block's last instruction, with CS's limit at 4 GiB (`helpers::condition`, then a
//!   chainable exit either way); JMP, CALL and RET, and as the block's last instruction JMP
//!   through a 32-bit register or memory operand and CALL through a register, with CS's limit
//!   at 4 GiB;
//! - SHL, SHR, SAR, ROL and ROR of a register by an immediate (the flags stored whole).
//!
//! Memory operands are taken inline only through DS, ES or SS when the block's mode key says
//! they are flat, with a 32-bit address (and for the stack, a 32-bit stack): the address is the
//! linear address, looked up in the TLB set of the block's CPL exactly as Cranelift's blocks
//! do (the entry of the first byte, tagged with the page of the last: a miss, a crossing or a
//! wrapped access, a page holding translated code for a store, all go to the slow path);
//! `helpers::read_mem`/`write_mem` are the slow path. A store that is its instruction's only
//! access asks for a redo instead of writing translated code (`helpers::REDO_ON_CODE`); an ALU
//! operation on memory that wrote translated code finishes and leaves with SMC.
//!
//! **Other exits**, as in [`super`]'s contract: a helper's status other than OK leaves at once;
//! after a merged JMP, CALL or RET (`translate::merged`) the block goes on only if EIP is where
//! the next instruction is; a last instruction that crosses into the next page is run by
//! `helpers::fetch_exec`; a block whose last instruction is a template leaves with
//! `CHAIN_NEXT` (so does one whose last is the interpreter's and does not end blocks: the
//! block was cut at its length cap or the page's end), one whose last is the interpreter's with
//! its status.
//!
//! **Chaining.** A chainable exit (with CS's limit at 4 GiB) goes on to the block the
//! dispatcher would find next, when its link cell (a fixed target) or the jump cache entry of
//! its linear address (RET, JMP and CALL through a register or memory) holds it, as
//! Cranelift's blocks do (`translate`'s *Chaining*), and leaves otherwise. Every exit that
//! returns leaves the block's `Cells` address in `ExitCtx::exit_cells`, so the dispatcher knows
//! which block a chain of blocks ended in.
//!
//! **Runs counted in the code.** With `Env::count_runs`, the entry counts `Cells::runs` down
//! and at 0 leaves with `TIER_UP` (EIP on the block's first instruction, nothing done).

use super::asm::{Alu, Asm, AsmError, Cond, Label, Mem, Reg, Shift, W};
use crate::cache::SlotTarget;
use crate::helpers::{self, status};
use crate::key::{BlockKey, ModeKey};
use crate::layout;
use crate::translate::{crosses_page, ends_block, merged};
use emu_cpu_x86::decode::{Arg, Insn, Mnemonic as M, NO_REG};
use emu_cpu_x86::flags::{CcOp, Size};
use emu_cpu_x86::interp::fast::{Fast, Src};
use emu_cpu_x86::tlb::TLB_SIZE;
use emu_cpu_x86::SegReg;

/// Where the block keeps the CPU and the exit context across its calls.
const CPU: Reg = Reg::RBX;
const CTX: Reg = Reg::R12;
/// A template's address, and its operands, across a slow path's call.
const ADDR: Reg = Reg::R13;
const B: Reg = Reg::R14;
const RES: Reg = Reg::R15;

/// Registers the entry saves (RBP first); with the return address, seven words: one more
/// aligns the stack to 16 bytes at calls.
const SAVED: [Reg; 6] = [Reg::RBP, CPU, CTX, ADDR, B, RES];

/// A way out of the block, emitted after its body: `icount` grows by `count`, EIP becomes
/// `eip` if given (else what a helper left), and the block returns `st` (else the status in
/// EAX).
struct Exit {
    label: Label,
    count: i32,
    eip: Option<u32>,
    st: Option<u32>,
    /// An ALU operation on memory that wrote translated code: its lazy flags are stored first
    /// (its kind; the result in RES, the operand in B).
    flags: Option<u32>,
}

/// A slow path, emitted after the body: the helper for the access at ADDR (a read leaves the
/// value in EAX; a write stores B or RES), then back to `back`, or to `fault`, or for a write
/// that wrote translated code to `smc`.
struct Slow {
    label: Label,
    back: Label,
    seg_size: u32,
    write: Option<Reg>,
    fault: Label,
    smc: Option<Label>,
}

/// What a template did.
enum Done {
    /// Nothing: the instruction has no template here.
    No,
    /// The instruction; the block goes on after it (or, after its last, the caller leaves).
    On,
    /// The instruction and the block's exit.
    Left,
}

/// What a block's code is built against, besides its instructions.
#[derive(Debug, Clone, Copy)]
pub struct Env {
    /// The address of the block's `Cells` (see [`block`]).
    pub cells: usize,
    /// The address of the jump cache (`BlockCache::jump_table`).
    pub jump_table: usize,
    /// Count chained runs in `ExitCtx::chained` (`Options::counters`).
    pub counters: bool,
    /// Count the block's runs down in `Cells::runs` and leave with `TIER_UP` at 0 (see
    /// [`super`], step 4).
    pub count_runs: bool,
}

struct Emitter<'a> {
    a: &'a mut Asm,
    insns: &'a [Insn],
    eips: &'a [u32],
    mode: ModeKey,
    cs_base: u32,
    env: Env,
    tlb: i32,
    /// Instructions of the block counted in `icount` so far (on the straight path).
    synced: usize,
    exits: Vec<Exit>,
    slows: Vec<Slow>,
    /// The fault exit of the instruction being emitted, made on first use.
    fault: Option<Label>,
    /// The block's epilogue.
    leave: Label,
    /// The epilogue of a chaining exit (the entry to go on to in RAX), made on first use.
    chain_tail: Option<Label>,
    /// CS base + EIP of the block's first instruction.
    key_lin: u32,
    /// The instruction whose template left the guest's flags in the host's, as the last
    /// host instruction to change them (an ALU operation on 32 bits, whose flags the host
    /// computes as the guest would).
    host_flags: Option<usize>,
    /// What the chaining exits through each link cell leave unchecked (see
    /// [`Emitter::chain_fixed`]).
    targets: [SlotTarget; 2],
}

/// Writes the code of the block `key` of `insns` at `eips` into `a` (cleared first) and
/// finishes it; returns it with what its chaining exits leave to `BlockCache::set_link` to
/// check, per link cell. Every exit that returns leaves the address of the block's `Cells` (`env`) in
/// `ExitCtx::exit_cells`, so the dispatcher knows which block a chain of blocks ended in. The
/// code passes the addresses of `insns` to the interpreter: they must not move while it lives
/// (a `Job`'s boxed slice does not).
pub fn block<'a>(
    a: &'a mut Asm,
    insns: &[Insn],
    eips: &[u32],
    key: &BlockKey,
    env: Env,
) -> Result<(&'a [u8], [SlotTarget; 2]), AsmError> {
    a.clear();
    let leave = a.label();
    let mut e = Emitter {
        a: &mut *a,
        insns,
        eips,
        mode: key.mode,
        cs_base: key.cs_base,
        env,
        tlb: layout::tlb_set(key.mode.user()),
        synced: 0,
        exits: Vec::new(),
        slows: Vec::new(),
        fault: None,
        leave,
        chain_tail: None,
        key_lin: key.cs_base.wrapping_add(key.eip),
        host_flags: None,
        targets: [SlotTarget::Any; 2],
    };
    for r in SAVED {
        e.a.push(r);
    }
    e.a.alu_ri(Alu::Sub, W::Q, Reg::RSP, 8);
    e.a.mov_rr(W::Q, CPU, Reg::RDI);
    e.a.mov_rr(W::Q, CTX, Reg::RSI);
    if env.count_runs && !insns.is_empty() {
        // One run fewer to go; at 0, nothing runs and the dispatcher has Cranelift compile it.
        let due = e.exit(0, Some(eips[0]), Some(status::TIER_UP));
        e.a.mov_imm(Reg::RCX, env.cells as u64);
        e.a.alu_mi(Alu::Sub, W::D, Mem::at(Reg::RCX, layout::CELLS_RUNS), 1);
        e.a.jcc(Cond::E, due);
    }
    for k in 0..insns.len() {
        e.fault = None;
        e.insn(k, key.cs_base, leave);
    }
    e.tails(leave);
    e.a.bind(leave);
    e.a.mov_imm(Reg::RCX, env.cells as u64);
    e.a.store(W::Q, Mem::at(CTX, layout::CTX_EXIT_CELLS), Reg::RCX);
    drop_frame(e.a);
    e.a.ret();
    if let Some(l) = e.chain_tail {
        // A tail call in the `tail` convention: the frame gone, the arguments in RDI and RSI.
        e.a.bind(l);
        e.a.mov_rr(W::Q, Reg::RDI, CPU);
        e.a.mov_rr(W::Q, Reg::RSI, CTX);
        drop_frame(e.a);
        e.a.jmp_r(Reg::RAX);
    }
    let targets = e.targets;
    Ok((a.finish()?, targets))
}

/// Undoes the entry's frame: the stack as the block was entered, the saved registers back.
fn drop_frame(a: &mut Asm) {
    a.alu_ri(Alu::Add, W::Q, Reg::RSP, 8);
    for r in SAVED.iter().rev() {
        a.pop(*r);
    }
}

fn reg(n: u8) -> Mem {
    Mem::at(CPU, layout::reg(n as usize))
}

/// The lazy-flags kind of a template's ALU operation, and the host operation computing its
/// result (CMP and TEST: SUB and AND, without the store).
fn alu_kind(op: M) -> Option<(u32, Alu)> {
    Some(match op {
        M::Add => (CcOp::ADD, Alu::Add),
        M::Sub | M::Cmp => (CcOp::SUB, Alu::Sub),
        M::And | M::Test => (CcOp::LOGIC, Alu::And),
        M::Or => (CcOp::LOGIC, Alu::Or),
        M::Xor => (CcOp::LOGIC, Alu::Xor),
        _ => return None,
    })
}

impl Emitter<'_> {
    /// Instruction `k`.
    fn insn(&mut self, k: usize, cs_base: u32, leave: Label) {
        let (i, eip) = (&self.insns[k], self.eips[k]);
        let last = k + 1 == self.insns.len();
        let next = eip.wrapping_add(i.len as u32);
        if last && crosses_page(cs_base, eip, i) {
            // The helper fetches at CS:EIP.
            self.sync(k);
            self.a.store_imm(W::D, Mem::at(CPU, layout::EIP), eip as i32);
            self.call_helper(helpers::fetch_exec as *const () as u64);
            self.sync(k + 1);
            self.a.jmp(leave);
            return;
        }
        let form = if self.mode.code32() { Fast::of(i, true) } else { Fast::General };
        if let Fast::Jcc(cc, rel) = form {
            if last && self.mode.cs_limit_4g() {
                let taken = self.a.label();
                if k > 0 && self.host_flags == Some(k - 1) {
                    // The condition from the host's flags.
                    self.a.jcc(Cond(cc), taken);
                } else {
                    self.condition(cc);
                    self.a.test_rr(W::D, Reg::RAX, Reg::RAX);
                    self.a.jcc(Cond::NE, taken);
                }
                // The count is brought up to date on each side, after the branch (the add
                // would change the host's flags).
                let synced = self.synced;
                self.leave_to(k, next, status::CHAIN_NEXT);
                self.synced = synced;
                self.a.bind(taken);
                self.leave_to(k, next.wrapping_add(rel), status::CHAIN_TAKEN);
                return;
            }
        }
        match self.template(k, form) {
            Done::No => self.interpret(k),
            Done::On if last => self.leave_to(k, next, status::CHAIN_NEXT),
            Done::On | Done::Left => {}
        }
    }

    /// Instruction `k` by the interpreter, with its exits (see the module comment).
    fn interpret(&mut self, k: usize) {
        let (i, eip) = (&self.insns[k], self.eips[k]);
        self.sync(k);
        self.a.mov_imm(Reg::RDX, i as *const Insn as u64);
        self.a.mov_imm(Reg::RCX, eip as u64);
        self.call_helper(helpers::exec_insn as *const () as u64);
        let out = self.exit(k + 1, None, None);
        self.a.test_rr(W::D, Reg::RAX, Reg::RAX);
        self.a.jcc(Cond::NE, out);
        if k + 1 == self.insns.len() && !ends_block(i) && self.mode.code32() {
            // The block ended at its length cap or the page's end: on to the next instruction,
            // as after a template (in 32-bit code, where EIP does not wrap at 64 KiB).
            let next = eip.wrapping_add(i.len as u32);
            self.leave_to(k, next, status::CHAIN_NEXT);
        } else if k + 1 == self.insns.len() {
            // Its status (OK) and the EIP it left.
            let end = self.exit(k + 1, None, None);
            self.a.jmp(end);
        } else if merged(i) {
            let elsewhere = self.exit(k + 1, None, Some(status::OK));
            self.a.alu_mi(Alu::Cmp, W::D, Mem::at(CPU, layout::EIP), self.eips[k + 1] as i32);
            self.a.jcc(Cond::NE, elsewhere);
        }
    }

    /// Instruction `k` by a template for its fast form, if it has one here (else nothing
    /// emitted).
    fn template(&mut self, k: usize, form: Fast) -> Done {
        let i = &self.insns[k];
        let mem = i.asize == Size::D && self.mode.flat() && matches!(i.seg, SegReg::Ds | SegReg::Es | SegReg::Ss);
        let stack = self.mode.stack32() && self.mode.flat();
        match form {
            Fast::Mov(d, Src::Reg(s)) => {
                self.a.load(W::D, Reg::RAX, reg(s));
                self.a.store(W::D, reg(d), Reg::RAX);
            }
            Fast::Mov(d, Src::Imm(v)) => self.a.store_imm(W::D, reg(d), v as i32),
            Fast::Mov(d, Src::Mem) if mem => {
                self.ea(i, ADDR);
                self.read(k, i.seg);
                self.a.store(W::D, reg(d), Reg::RAX);
            }
            Fast::Store(s) if mem => {
                self.ea(i, ADDR);
                self.a.load(W::D, B, reg(s));
                self.write(k, i.seg, B, true);
            }
            Fast::StoreImm(v) if mem => {
                self.ea(i, ADDR);
                self.a.mov_imm(B, v as u64);
                self.write(k, i.seg, B, true);
            }
            Fast::Alu(op, d, s) if alu_kind(op).is_some() && (s != Src::Mem || mem) => {
                let (kind, host) = alu_kind(op).unwrap();
                self.source(k, i, s);
                self.a.load(W::D, RES, reg(d));
                self.a.alu_rr(host, W::D, RES, B);
                if !matches!(op, M::Cmp | M::Test) {
                    self.a.store(W::D, reg(d), RES);
                }
                self.set_cc(kind);
                self.host_flags = Some(k);
            }
            Fast::AluMem(op, s) if alu_kind(op).is_some() && mem && s != Src::Mem => {
                let (kind, host) = alu_kind(op).unwrap();
                self.ea(i, ADDR);
                self.read(k, i.seg);
                self.a.mov_rr(W::D, RES, Reg::RAX);
                self.source(k, i, s);
                self.a.alu_rr(host, W::D, RES, B);
                if !matches!(op, M::Cmp | M::Test) {
                    // The flags, then the exit after the instruction, if the store wrote
                    // translated code.
                    let next = self.eips[k].wrapping_add(i.len as u32);
                    let smc = self.a.label();
                    let count = (k + 1 - self.synced) as i32;
                    self.exits.push(Exit {
                        label: smc,
                        count,
                        eip: Some(next),
                        st: Some(status::SMC),
                        flags: Some(kind),
                    });
                    self.write_then(k, i.seg, RES, false, Some(smc));
                }
                self.set_cc(kind);
                if matches!(op, M::Cmp | M::Test) {
                    self.host_flags = Some(k);
                }
            }
            Fast::Extend(signed, size, d, s) if s != Src::Mem || mem => {
                let w = if size == Size::B { W::B } else { W::W };
                match s {
                    // A byte register 4-7 is the second byte of register 0-3 (AH..BH).
                    Src::Reg(r) if size == Size::B && r >= 4 => {
                        let at = Mem::at(CPU, layout::reg(r as usize - 4) + 1);
                        self.a.movzx_load(w, Reg::RAX, at);
                    }
                    Src::Reg(r) => self.a.movzx_load(w, Reg::RAX, reg(r)),
                    _ => {
                        self.ea(i, ADDR);
                        self.read_sized(k, i.seg, size);
                    }
                }
                if signed {
                    self.a.movsx_rr(w, Reg::RAX, Reg::RAX);
                }
                self.a.store(W::D, reg(d), Reg::RAX);
            }
            Fast::Jmp(rel) if self.mode.cs_limit_4g() => {
                // Merged, the next instruction is its target's; else the block's exit.
                if k + 1 == self.insns.len() {
                    let target = self.eips[k].wrapping_add(i.len as u32).wrapping_add(rel);
                    self.leave_to(k, target, status::CHAIN_TAKEN);
                    return Done::Left;
                }
            }
            Fast::Call(rel) if stack && self.mode.cs_limit_4g() => {
                let next = self.eips[k].wrapping_add(i.len as u32);
                self.a.mov_imm(B, next as u64);
                self.push(k);
                if k + 1 == self.insns.len() {
                    self.leave_to(k, next.wrapping_add(rel), status::CHAIN_TAKEN);
                    return Done::Left;
                }
            }
            Fast::Ret if stack && self.mode.cs_limit_4g() => {
                self.pop(k);
                // The popped EIP, for an exit (and harmless when the block goes on: it stores
                // EIP at every exit).
                self.a.store(W::D, Mem::at(CPU, layout::EIP), Reg::RAX);
                if k + 1 == self.insns.len() {
                    self.sync(k + 1);
                    self.chain_computed();
                    self.a.mov_imm(Reg::RAX, status::CHAIN_TAKEN as u64);
                    self.a.jmp(self.leave);
                    return Done::Left;
                }
                // Merged: on only if it returned where predicted.
                let elsewhere = self.exit(k + 1, None, Some(status::OK));
                self.a.alu_ri(Alu::Cmp, W::D, Reg::RAX, self.eips[k + 1] as i32);
                self.a.jcc(Cond::NE, elsewhere);
            }
            Fast::Shift(op, r, n) if matches!(op, M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror) => {
                self.shift(op, r, n as u8 & 0x1f);
            }
            Fast::Lea(d) if i.asize == Size::D => {
                self.ea(i, Reg::RDX);
                self.a.store(W::D, reg(d), Reg::RDX);
            }
            Fast::Push(r) if stack => {
                self.a.load(W::D, B, reg(r));
                self.push(k);
            }
            Fast::PushSrc(Src::Imm(v)) if stack => {
                self.a.mov_imm(B, v as u64);
                self.push(k);
            }
            Fast::Pop(r) if stack => {
                self.pop(k);
                self.a.store(W::D, reg(r), Reg::RAX);
            }
            Fast::Inc(r) | Fast::Dec(r) => {
                // The CF they keep, from the flags before.
                self.condition(2);
                self.a.store(W::D, Mem::at(CPU, layout::CC_SRC2), Reg::RAX);
                self.a.load(W::D, RES, reg(r));
                let (kind, op) = match form {
                    Fast::Inc(_) => (CcOp::INC, Alu::Add),
                    _ => (CcOp::DEC, Alu::Sub),
                };
                self.a.alu_ri(op, W::D, RES, 1);
                self.a.store(W::D, reg(r), RES);
                self.a.mov_imm(B, 0);
                self.set_cc(kind);
            }
            Fast::General if self.indirect(k, mem, stack) => return Done::Left,
            _ => return Done::No,
        }
        Done::On
    }

    /// JMP through a 32-bit register or memory operand, or CALL through a register, in 32-bit
    /// code as the block's last instruction (with CS's limit at 4 GiB, which needs no check of
    /// the target): the target read, the return address pushed, EIP set, and an exit through
    /// the jump cache. Whether it had a template (else nothing emitted).
    fn indirect(&mut self, k: usize, mem: bool, stack: bool) -> bool {
        let i = &self.insns[k];
        let call = match i.mnemonic {
            M::Jmp => false,
            // (Through memory, its push is not its only access: no template.)
            M::Call if stack && matches!(i.args[0], Arg::Reg(..)) => true,
            _ => return false,
        };
        let operand = match i.args[0] {
            Arg::Reg(r, Size::D) => Some(r),
            Arg::Mem(Size::D) if mem => None,
            _ => return false,
        };
        if k + 1 != self.insns.len() || i.osize != Size::D || !self.mode.code32() || !self.mode.cs_limit_4g() {
            return false;
        }
        match operand {
            Some(r) => self.a.load(W::D, RES, reg(r)),
            None => {
                self.ea(i, ADDR);
                self.read(k, i.seg);
                self.a.mov_rr(W::D, RES, Reg::RAX);
            }
        }
        if call {
            let next = self.eips[k].wrapping_add(i.len as u32);
            self.a.mov_imm(B, next as u64);
            self.push(k);
        }
        self.a.store(W::D, Mem::at(CPU, layout::EIP), RES);
        self.sync(k + 1);
        self.a.mov_rr(W::D, Reg::RAX, RES);
        self.chain_computed();
        self.a.mov_imm(Reg::RAX, status::CHAIN_TAKEN as u64);
        self.a.jmp(self.leave);
        true
    }

    /// SHL, SHR, SAR, ROL or ROR of 32-bit register `r` by `c` (masked: a count of 0 changes
    /// nothing), with the flags `shift::compute` gives (see there what the SDM leaves
    /// undefined) stored whole (`CcOp::Eflags`): the host's CF, and for shifts its SF, ZF and
    /// PF, which are the guest's; OF by the count-1 formulas; AF 0 after a shift; a rotate's
    /// others as they were (`helpers::arith_flags`).
    fn shift(&mut self, op: M, r: u8, c: u8) {
        use emu_cpu_x86::state::eflags::{ARITH, CF, OF, PF, SF, ZF};
        if c == 0 {
            return;
        }
        let rotate = matches!(op, M::Rol | M::Ror);
        if rotate {
            self.call_helper(helpers::arith_flags as *const () as u64);
            self.a.mov_rr(W::D, B, Reg::RAX);
            self.a.alu_ri(Alu::And, W::D, B, (ARITH & !(CF | OF)) as i32);
        }
        let host = match op {
            M::Shl | M::Sal => Shift::Shl,
            M::Shr => Shift::Shr,
            M::Sar => Shift::Sar,
            M::Rol => Shift::Rol,
            _ => Shift::Ror,
        };
        self.a.load(W::D, Reg::RAX, reg(r));
        self.a.shift_ri(host, W::D, Reg::RAX, c);
        if rotate {
            // CF: the bit rotated in at the bottom (ROL) or the top (ROR).
            self.a.mov_rr(W::D, Reg::RDX, Reg::RAX);
            match op {
                M::Rol => self.a.alu_ri(Alu::And, W::D, Reg::RDX, 1),
                _ => self.a.shift_ri(Shift::Shr, W::D, Reg::RDX, 31),
            }
            self.a.alu_rr(Alu::Or, W::D, B, Reg::RDX);
        } else {
            self.a.pushf();
            self.a.pop(B);
            self.a.alu_ri(Alu::And, W::D, B, (CF | PF | ZF | SF) as i32);
        }
        self.a.store(W::D, reg(r), Reg::RAX);
        // OF: left, CF ^ MSB(result); right, MSB(result) ^ MSB-1(result), which is 0 after SAR,
        // and after SHR by more than 1.
        match op {
            M::Shl | M::Sal | M::Rol => {
                self.a.mov_rr(W::D, Reg::RCX, Reg::RAX);
                self.a.shift_ri(Shift::Shr, W::D, Reg::RCX, 31);
                self.a.alu_rr(Alu::Xor, W::D, Reg::RCX, B);
            }
            M::Ror => {
                self.a.mov_rr(W::D, Reg::RCX, Reg::RAX);
                self.a.shift_ri(Shift::Shr, W::D, Reg::RCX, 30);
                self.a.mov_rr(W::D, Reg::RDX, Reg::RCX);
                self.a.shift_ri(Shift::Shr, W::D, Reg::RDX, 1);
                self.a.alu_rr(Alu::Xor, W::D, Reg::RCX, Reg::RDX);
            }
            M::Shr if c == 1 => {
                self.a.mov_rr(W::D, Reg::RCX, Reg::RAX);
                self.a.shift_ri(Shift::Shr, W::D, Reg::RCX, 30);
            }
            _ => {}
        }
        if matches!(op, M::Shl | M::Sal | M::Rol | M::Ror) || op == M::Shr && c == 1 {
            self.a.alu_ri(Alu::And, W::D, Reg::RCX, 1);
            self.a.shift_ri(Shift::Shl, W::D, Reg::RCX, 11);
            self.a.alu_rr(Alu::Or, W::D, B, Reg::RCX);
        }
        self.a.store(W::D, Mem::at(CPU, layout::CC_SRC), B);
        self.a.store_imm(W::D, Mem::at(CPU, layout::CC_OP), CcOp::Eflags.0 as i32);
    }

    /// Pushes B (32 bits, flat SS) for instruction `k`: ESP changes after the store, which is
    /// the instruction's only access.
    fn push(&mut self, k: usize) {
        self.a.load(W::D, ADDR, reg(4));
        self.a.alu_ri(Alu::Sub, W::D, ADDR, 4);
        self.write(k, SegReg::Ss, B, true);
        self.a.store(W::D, reg(4), ADDR);
    }

    /// Pops 32 bits (flat SS) into EAX for instruction `k`: ESP changes after the load.
    fn pop(&mut self, k: usize) {
        self.a.load(W::D, ADDR, reg(4));
        self.read(k, SegReg::Ss);
        self.a.lea(W::D, Reg::RCX, Mem::at(ADDR, 4));
        self.a.store(W::D, reg(4), Reg::RCX);
    }

    /// A binary operation's source into B (for memory: read at the instruction's address).
    fn source(&mut self, k: usize, i: &Insn, s: Src) {
        match s {
            Src::Reg(r) => self.a.load(W::D, B, reg(r)),
            Src::Imm(v) => self.a.mov_imm(B, v as u64),
            Src::Mem => {
                self.ea(i, ADDR);
                self.read(k, i.seg);
                self.a.mov_rr(W::D, B, Reg::RAX);
            }
        }
    }

    /// The lazy flags of a 32-bit operation of `kind`: result RES, operand B.
    fn set_cc(&mut self, kind: u32) {
        self.a.store(W::D, Mem::at(CPU, layout::CC_DST), RES);
        self.a.store(W::D, Mem::at(CPU, layout::CC_SRC), B);
        self.a.store_imm(W::D, Mem::at(CPU, layout::CC_OP), CcOp::new(kind, Size::D).0 as i32);
    }

    /// The 32-bit offset of `i`'s memory operand into `dst` (not RAX), as `Cpu::ea` computes it
    /// for a 32-bit address.
    fn ea(&mut self, i: &Insn, dst: Reg) {
        let m = i.mem;
        let disp = m.disp as i32;
        if m.base != NO_REG {
            self.a.load(W::D, dst, reg(m.base));
        } else {
            self.a.mov_imm(dst, m.disp as u64);
        }
        let disp = if m.base != NO_REG { disp } else { 0 };
        if m.index != NO_REG {
            self.a.load(W::D, Reg::RAX, reg(m.index));
            self.a.lea(W::D, dst, Mem::indexed(dst, Reg::RAX, m.scale, disp));
        } else if disp != 0 {
            self.a.lea(W::D, dst, Mem::at(dst, disp));
        }
    }

    /// RAX = the offset of ADDR's TLB entry in the block's set; to `slow` unless its tag for
    /// the access (`tag`: read or write) is the page of the access's last byte (so an access
    /// that crosses the page end, or wraps around, takes the slow path). RCX = the entry's
    /// addend then.
    fn tlb_check(&mut self, tag: i32, size: Size, slow: Label) {
        self.tlb_offset(ADDR);
        self.a.lea(W::D, Reg::RCX, Mem::at(ADDR, size.bytes() as i32 - 1));
        self.a.alu_ri(Alu::And, W::D, Reg::RCX, !0xfff);
        self.a.alu_rm(Alu::Cmp, W::D, Reg::RCX, Mem::indexed(CPU, Reg::RAX, 0, self.tlb + tag));
        self.a.jcc(Cond::NE, slow);
        self.a.load(W::Q, Reg::RCX, Mem::indexed(CPU, Reg::RAX, 0, self.tlb + layout::TLB_ADDEND));
    }

    /// RAX = the offset of the TLB entry of linear address `lin` (a register) in the block's
    /// set.
    fn tlb_offset(&mut self, lin: Reg) {
        const SHIFT: u8 = layout::TLB_ENTRY_SIZE.trailing_zeros() as u8;
        self.a.mov_rr(W::D, Reg::RAX, lin);
        self.a.shift_ri(Shift::Shr, W::D, Reg::RAX, 12 - SHIFT);
        self.a.alu_ri(Alu::And, W::D, Reg::RAX, ((TLB_SIZE as i32) - 1) << SHIFT);
    }

    /// EAX = the 32 bits at linear address ADDR (through `seg`, flat) for instruction `k`.
    fn read(&mut self, k: usize, seg: SegReg) {
        self.read_sized(k, seg, Size::D);
    }

    /// EAX = the `size` bytes at linear address ADDR (through `seg`, flat), zero-extended.
    fn read_sized(&mut self, k: usize, seg: SegReg, size: Size) {
        let (slow, back) = (self.a.label(), self.a.label());
        self.tlb_check(layout::TLB_READ, size, slow);
        let at = Mem::indexed(Reg::RCX, ADDR, 0, 0);
        match size {
            Size::D => self.a.load(W::D, Reg::RAX, at),
            Size::W => self.a.movzx_load(W::W, Reg::RAX, at),
            Size::B => self.a.movzx_load(W::B, Reg::RAX, at),
        }
        self.a.bind(back);
        let fault = self.fault_exit(k);
        let seg_size = helpers::seg_size(seg, size.bytes());
        self.slows.push(Slow { label: slow, back, seg_size, write: None, fault, smc: None });
    }

    /// Stores `v` (B or RES) at linear address ADDR for instruction `k`, as its only access
    /// if `redo` (see the module comment).
    fn write(&mut self, k: usize, seg: SegReg, v: Reg, redo: bool) {
        self.write_then(k, seg, v, redo, None);
    }

    fn write_then(&mut self, k: usize, seg: SegReg, v: Reg, redo: bool, smc: Option<Label>) {
        let (slow, back) = (self.a.label(), self.a.label());
        self.tlb_check(layout::TLB_WRITE, Size::D, slow);
        self.a.store(W::D, Mem::indexed(Reg::RCX, ADDR, 0, 0), v);
        self.a.bind(back);
        let fault = self.fault_exit(k);
        let seg_size = helpers::seg_size(seg, 4) | if redo { helpers::REDO_ON_CODE } else { 0 };
        self.slows.push(Slow { label: slow, back, seg_size, write: Some(v), fault, smc });
    }

    /// EAX = `helpers::condition` of condition code `cc` (from the lazy flags in the state).
    fn condition(&mut self, cc: u8) {
        self.a.mov_imm(Reg::RDX, cc as u64);
        self.call_helper(helpers::condition as *const () as u64);
    }

    /// Calls the helper at `f` with the CPU and the exit context as its first arguments (the
    /// rest set up by the caller in RDX, RCX, R8).
    fn call_helper(&mut self, f: u64) {
        self.a.mov_rr(W::Q, Reg::RDI, CPU);
        self.a.mov_rr(W::Q, Reg::RSI, CTX);
        self.a.mov_imm(Reg::RAX, f);
        self.a.call_r(Reg::RAX);
    }

    /// Leaves after instruction `k`, the block's last, for `eip` with status `st`.
    fn leave_to(&mut self, k: usize, eip: u32, st: u32) {
        self.sync(k + 1);
        self.leave_at(eip, st);
    }

    /// Leaves for `eip` with status `st` (`icount` up to date), going on to the linked block
    /// instead when `st` is chainable and the link may be followed.
    fn leave_at(&mut self, eip: u32, st: u32) {
        if let Some(slot) = status::chain_slot(st) {
            self.chain_fixed(slot, eip);
        }
        self.a.store_imm(W::D, Mem::at(CPU, layout::EIP), eip as i32);
        self.a.mov_imm(Reg::RAX, st as u64);
        self.a.jmp(self.leave);
    }

    /// At a chainable exit to `eip` through link cell `slot` (`icount` up to date): a tail call
    /// to the cell's block if it is the one the dispatcher would find and fits before
    /// `ExitCtx::chain_limit` (the checks of `translate`'s *Chaining*); falls through
    /// otherwise. Each cell has one such exit (a block's last instruction's), so the cell's
    /// EIP is checked when it is filled (`SlotTarget::Fixed`), and so is its physical
    /// address when `eip` is in the block's own linear page (`SlotTarget::SamePage`: see
    /// `translate`'s *Same-page links*); else the code asks the TLB.
    fn chain_fixed(&mut self, slot: usize, eip: u32) {
        if !self.mode.cs_limit_4g() {
            return; // (the cell's last byte would need checking against CS's limit)
        }
        let lin = self.cs_base.wrapping_add(eip);
        let same_page = lin & !0xfff == self.key_lin & !0xfff;
        let target = if same_page { SlotTarget::SamePage(eip) } else { SlotTarget::Fixed(eip) };
        self.targets[slot] = match self.targets[slot] {
            SlotTarget::Any => target,
            t if t == target => target,
            _ => SlotTarget::Never,
        };
        let stay = self.a.label();
        self.a.mov_imm(Reg::RCX, (self.env.cells + slot * layout::LINK_CELL_SIZE) as u64);
        self.fits(stay);
        if !same_page {
            // The TLB's execute entry for CS base + EIP maps it to the cell's physical address.
            let entry = self.tlb + ((lin >> 12) as usize & (TLB_SIZE - 1)) as i32 * layout::TLB_ENTRY_SIZE as i32;
            self.a.alu_mi(Alu::Cmp, W::D, Mem::at(CPU, entry + layout::TLB_EXEC), (lin & !0xfff) as i32);
            self.a.jcc(Cond::NE, stay);
            self.a.load(W::D, Reg::RAX, Mem::at(CPU, entry + layout::TLB_PHYS));
            if lin & 0xfff != 0 {
                self.a.alu_ri(Alu::Or, W::D, Reg::RAX, (lin & 0xfff) as i32);
            }
            self.same_phys(stay);
        }
        self.go_on(stay);
    }

    /// At a chainable exit to the EIP in EAX (stored; `icount` up to date): a tail call to the
    /// block in the jump cache entry of its linear address if it is the one the dispatcher
    /// would find (also of the block's CS base and mode) and fits before the chain limit; falls
    /// through otherwise, with EAX changed.
    fn chain_computed(&mut self) {
        if !self.mode.cs_limit_4g() {
            return;
        }
        let stay = self.a.label();
        // RDX = the linear address, RCX = its jump cache entry (`cache::jump_index`).
        self.a.lea(W::D, Reg::RDX, Mem::at(Reg::RAX, self.cs_base as i32));
        self.a.mov_rr(W::D, Reg::RCX, Reg::RDX);
        self.a.shift_ri(Shift::Shr, W::D, Reg::RCX, 12);
        self.a.alu_rr(Alu::Xor, W::D, Reg::RCX, Reg::RDX);
        self.a.alu_ri(Alu::And, W::D, Reg::RCX, crate::cache::JUMP_SIZE as i32 - 1);
        self.a.shift_ri(Shift::Shl, W::Q, Reg::RCX, layout::JUMP_ENTRY_SIZE.trailing_zeros() as u8);
        self.a.mov_imm(B, self.env.jump_table as u64);
        self.a.alu_rr(Alu::Add, W::Q, Reg::RCX, B);
        // Its EIP, CS base and mode.
        self.a.alu_rm(Alu::Cmp, W::D, Reg::RAX, Mem::at(Reg::RCX, layout::LINK_EIP));
        self.a.jcc(Cond::NE, stay);
        self.a.alu_mi(Alu::Cmp, W::D, Mem::at(Reg::RCX, layout::JUMP_CS_BASE), self.cs_base as i32);
        self.a.jcc(Cond::NE, stay);
        self.a.alu_mi(Alu::Cmp, W::D, Mem::at(Reg::RCX, layout::JUMP_MODE), self.mode.bits() as i32);
        self.a.jcc(Cond::NE, stay);
        self.fits(stay);
        // The TLB's execute entry (RAX its offset in the set) maps the page to the cell's.
        self.tlb_offset(Reg::RDX);
        self.a.mov_rr(W::D, B, Reg::RDX);
        self.a.alu_ri(Alu::And, W::D, B, !0xfff);
        self.a.alu_rm(Alu::Cmp, W::D, B, Mem::indexed(CPU, Reg::RAX, 0, self.tlb + layout::TLB_EXEC));
        self.a.jcc(Cond::NE, stay);
        self.a.alu_ri(Alu::And, W::D, Reg::RDX, 0xfff);
        self.a.load(W::D, Reg::RAX, Mem::indexed(CPU, Reg::RAX, 0, self.tlb + layout::TLB_PHYS));
        self.a.alu_rr(Alu::Or, W::D, Reg::RAX, Reg::RDX);
        self.same_phys(stay);
        self.go_on(stay);
    }

    /// To `stay` unless the block of the cell at RCX fits before the chain limit (0 when the
    /// dispatcher forbids chaining; an empty cell's length never fits, `LinkCell::EMPTY`).
    /// Uses RAX.
    fn fits(&mut self, stay: Label) {
        self.a.load(W::D, Reg::RAX, Mem::at(Reg::RCX, layout::LINK_INSNS));
        self.a.alu_rm(Alu::Add, W::Q, Reg::RAX, Mem::at(CPU, layout::ICOUNT));
        self.a.alu_rm(Alu::Cmp, W::Q, Reg::RAX, Mem::at(CTX, layout::CTX_CHAIN_LIMIT));
        self.a.jcc(Cond::A, stay);
    }

    /// To `stay` unless the physical address in EAX is the cell's (at RCX).
    fn same_phys(&mut self, stay: Label) {
        self.a.alu_rm(Alu::Cmp, W::D, Reg::RAX, Mem::at(Reg::RCX, layout::LINK_PHYS));
        self.a.jcc(Cond::NE, stay);
    }

    /// After a chaining exit's checks: the tail call to the block of the cell at RCX; binds
    /// `stay`, where the checks that failed go on.
    fn go_on(&mut self, stay: Label) {
        if self.env.counters {
            self.a.alu_mi(Alu::Add, W::Q, Mem::at(CTX, layout::CTX_CHAINED), 1);
        }
        self.a.load(W::Q, Reg::RAX, Mem::at(Reg::RCX, layout::LINK_ENTRY));
        let tail = *self.chain_tail.get_or_insert_with(|| self.a.label());
        self.a.jmp(tail);
        self.a.bind(stay);
    }

    /// Brings `icount` up to the block's first `k` instructions.
    fn sync(&mut self, k: usize) {
        if k > self.synced {
            self.a.alu_mi(Alu::Add, W::Q, Mem::at(CPU, layout::ICOUNT), (k - self.synced) as i32);
            self.synced = k;
        }
    }

    /// An exit after `k` instructions of the block (see [`Exit`]).
    fn exit(&mut self, k: usize, eip: Option<u32>, st: Option<u32>) -> Label {
        let label = self.a.label();
        self.exits.push(Exit { label, count: (k - self.synced) as i32, eip, st, flags: None });
        label
    }

    /// The fault exit of instruction `k`: EIP on it, counted, FAULT.
    fn fault_exit(&mut self, k: usize) -> Label {
        if let Some(l) = self.fault {
            return l;
        }
        let l = self.exit(k + 1, Some(self.eips[k]), Some(status::FAULT));
        self.fault = Some(l);
        l
    }

    /// The slow paths and exits, out of the straight path.
    fn tails(&mut self, leave: Label) {
        for s in std::mem::take(&mut self.slows) {
            self.a.bind(s.label);
            self.a.mov_rr(W::D, Reg::RCX, ADDR);
            self.a.mov_imm(Reg::RDX, s.seg_size as u64);
            match s.write {
                None => {
                    self.call_helper(helpers::read_mem as *const () as u64);
                    // The value in the low half, 1 << 32 for a fault.
                    self.a.mov_rr(W::Q, Reg::RCX, Reg::RAX);
                    self.a.shift_ri(Shift::Shr, W::Q, Reg::RCX, 32);
                    self.a.jcc(Cond::NE, s.fault);
                }
                Some(v) => {
                    self.a.mov_rr(W::D, Reg::R8, v);
                    self.call_helper(helpers::write_mem as *const () as u64);
                    self.a.test_rr(W::D, Reg::RAX, Reg::RAX);
                    self.a.jcc(Cond::E, s.back);
                    match s.smc {
                        Some(smc) => {
                            self.a.alu_ri(Alu::Cmp, W::D, Reg::RAX, status::SMC as i32);
                            self.a.jcc(Cond::E, smc);
                            self.a.jmp(s.fault);
                        }
                        None => self.a.jmp(s.fault),
                    }
                    continue;
                }
            }
            self.a.jmp(s.back);
        }
        for x in std::mem::take(&mut self.exits) {
            self.a.bind(x.label);
            if let Some(kind) = x.flags {
                self.set_cc(kind);
            }
            if x.count != 0 {
                self.a.alu_mi(Alu::Add, W::Q, Mem::at(CPU, layout::ICOUNT), x.count);
            }
            if let Some(eip) = x.eip {
                self.a.store_imm(W::D, Mem::at(CPU, layout::EIP), eip as i32);
            }
            if let Some(st) = x.st {
                self.a.mov_imm(Reg::RAX, st as u64);
            }
            self.a.jmp(leave);
        }
    }
}
