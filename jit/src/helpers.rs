//! The Rust functions generated code calls, by constant address (no relocations).
//!
//! Every helper takes the `*mut Cpu` the block was called with and, when it can fault, the
//! block's [`ExitCtx`]. A helper that faults records the fault in `ExitCtx::fault`, changes no
//! register, and returns [`status::FAULT`]; the generated code then leaves the block with EIP
//! on the faulting instruction and the dispatcher delivers the fault with `Cpu::raise`. (A
//! store's slow path may also leave that way instead of writing translated code, with
//! `ExitCtx::redo` instead of a fault: see [`REDO_ON_CODE`].)
//!
//! **Invariant:** a helper never unwinds into generated code: everything it calls reports guest
//! conditions as `Fault` values, never panics on guest input.

use emu_cpu_x86::decode::{Insn, Mnemonic};
use emu_cpu_x86::flags::{cond, Size};
use emu_cpu_x86::{Cpu, Fault, Res, SegReg};

/// What a block (and a helper) returns.
pub mod status {
    /// Carry on / the block ended normally; EIP is the next instruction.
    pub const OK: u32 = 0;
    /// A fault is waiting in [`super::ExitCtx::fault`]; EIP is the faulting instruction.
    pub const FAULT: u32 = 1;
    /// The instruction wrote to a page holding translated code: leave the block after it.
    pub const SMC: u32 = 2;
    /// The block ended normally at a branch to a target that may be chained: EIP is the taken
    /// target of its last instruction (a jump, call, return or taken conditional branch).
    /// The dispatcher may follow the block's link for this exit ([`crate::cache::Block::links`]).
    pub const CHAIN_TAKEN: u32 = 3;
    /// As [`CHAIN_TAKEN`], for the fall-through exit (a conditional branch not taken, or the
    /// block's end when its last instruction is not a branch).
    pub const CHAIN_NEXT: u32 = 4;
    /// A baseline block's count of runs reached 0 on entry (`cache::Cells::runs`): nothing ran,
    /// EIP is the block's first instruction, and `ExitCtx::exit_cells` names the block for the
    /// dispatcher to have Cranelift compile it.
    pub const TIER_UP: u32 = 5;

    /// The link slot of a chainable status, if it is one.
    #[inline]
    pub fn chain_slot(st: u32) -> Option<usize> {
        match st {
            CHAIN_TAKEN => Some(0),
            CHAIN_NEXT => Some(1),
            _ => None,
        }
    }
}

/// What a block reports besides its status, and what the dispatcher tells it (generated code
/// reaches the first three fields through [`crate::layout`]).
#[derive(Debug, Default)]
#[repr(C)]
pub struct ExitCtx {
    /// Blocks may jump straight to a linked successor (chain in generated code, see
    /// [`crate::cache::LinkCell`]) while `icount` after the successor stays at or below this.
    /// The dispatcher sets it before it runs a block, to the budget's end or the next clock
    /// deadline, whichever is first, but at most [`crate::cache::MAX_CHAIN_AHEAD`] past the
    /// count, and to 0 (no chaining) otherwise; helpers only lower it: to 0 when
    /// something happened the dispatcher must see before the next block ([`stop_chaining`]).
    pub chain_limit: u64,
    /// Blocks entered from generated code through a link (counted there).
    pub chained: u64,
    /// Inlined memory accesses in the instructions that completed (counted by generated code at
    /// each exit).
    pub inline_accesses: u64,
    /// The `Cells` of the block that last returned through a chainable exit
    /// ([`crate::cache::Cells`]).
    pub exit_cells: usize,
    /// The result of the last helper called through a `preserve_all` trampoline (see
    /// `translate::preserve`: that convention returns nothing in registers), stored at its own
    /// width at the field's address.
    pub helper_result: u64,
    /// The fault to deliver when a block returns [`status::FAULT`].
    pub fault: Option<Fault>,
    /// Set instead of `fault` when a block returns [`status::FAULT`] from a store that would
    /// have written a page holding translated code and asked for a redo ([`REDO_ON_CODE`]):
    /// the dispatcher runs that instruction in the interpreter, from the state the block left
    /// (the state it started with).
    pub redo: bool,
    /// Inlined memory accesses that took the slow path ([`read_mem`], [`write_mem`]): TLB
    /// misses, page hints that missed (`translate/mem.rs`), and accesses the fast path does not
    /// handle (page-crossing, limit or type checks failing, MMIO, code pages).
    pub slow_accesses: u64,
    /// Instructions translated code handed to the interpreter ([`exec_insn`]).
    pub interp_calls: u64,
    /// The same, per mnemonic (`--stats` lists the most frequent: the instructions most worth
    /// specialised IR).
    pub interp_by_mnemonic: MnemonicCounts,
}

/// A counter per [`Mnemonic`], indexed by its discriminant.
#[derive(Clone)]
pub struct MnemonicCounts(pub [u64; Mnemonic::ALL.len()]);

impl Default for MnemonicCounts {
    fn default() -> Self {
        MnemonicCounts([0; Mnemonic::ALL.len()])
    }
}

impl std::fmt::Debug for MnemonicCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.top(usize::MAX).into_iter().map(|(m, n)| (m.name(), n))).finish()
    }
}

impl MnemonicCounts {
    /// The `n` mnemonics with the highest nonzero counts, highest first (ties in declaration
    /// order).
    pub fn top(&self, n: usize) -> Vec<(Mnemonic, u64)> {
        let mut v: Vec<(Mnemonic, u64)> =
            Mnemonic::ALL.iter().zip(self.0.iter()).filter(|(_, &c)| c > 0).map(|(&m, &c)| (m, c)).collect();
        v.sort_by_key(|&(_, c)| std::cmp::Reverse(c));
        v.truncate(n);
        v
    }
}

/// The signature of a translated block (in Cranelift's `tail` calling convention, so a block
/// can jump to the next with a tail call; Rust enters blocks through an [`EnterFn`]).
pub type BlockEntry = *const u8;

/// The trampoline Rust calls blocks through: runs the block at `entry` (and the blocks it
/// chains to) and returns the last one's status.
pub type EnterFn = unsafe extern "C" fn(cpu: *mut Cpu, ctx: *mut ExitCtx, entry: BlockEntry) -> u32;

/// After a helper ran an instruction: stops chaining in generated code when the dispatcher has
/// something to do before the next block (see `Jit::run_chain`), or when the clock deadline
/// moved closer.
fn stop_chaining(cpu: &mut Cpu, ctx: &mut ExitCtx) {
    if ctx.chain_limit != 0 {
        if crate::dispatch::must_stop(cpu) {
            ctx.chain_limit = 0;
        } else {
            ctx.chain_limit = ctx.chain_limit.min(cpu.sys_deadline_icount);
        }
    }
}

/// [`stop_chaining`] after a memory access, which can only have reached a device (an MMIO
/// register: a wire that changed, which raises the board's attention, or DMA into RAM; in
/// real-time mode the clock sync before it, whose timers may move the clock deadline closer or
/// raise an interrupt without the board's attention, as the local APIC's timer does) or code
/// (an SMC write): the rest of `must_stop` is what instructions change. (Data breakpoints do
/// not fire here: with any enabled, the dispatcher runs no blocks.)
#[inline]
fn stop_chaining_after_access(cpu: &mut Cpu, ctx: &mut ExitCtx) {
    if ctx.chain_limit != 0 {
        if crate::dispatch::touched_by_access(cpu) {
            ctx.chain_limit = 0;
        } else {
            ctx.chain_limit = ctx.chain_limit.min(cpu.sys_deadline_icount);
        }
    }
}

/// Runs one instruction in the interpreter with `Cpu::step`'s EIP protocol: EIP is the next
/// instruction while it executes, and back on the instruction if it faults.
///
/// # Safety
/// `cpu`, `ctx` and `insn` are valid and not otherwise borrowed for the duration of the call.
pub unsafe extern "C" fn exec_insn(cpu: *mut Cpu, ctx: *mut ExitCtx, insn: *const Insn, start: u32) -> u32 {
    let (cpu, ctx, insn) = (&mut *cpu, &mut *ctx, &*insn);
    ctx.interp_calls += 1;
    ctx.interp_by_mnemonic.0[insn.mnemonic as usize] += 1;
    let r = cpu.exec_at(insn, start);
    // The mode needs no check: an instruction that may change it ends its block with a status
    // that does not chain (the decoder's table says which), as the rest of the block assumes.
    ran(cpu, ctx, r, start, status::OK)
}

/// The status of an instruction the interpreter ran for a block, from `start`, with `result`:
/// SMC if it wrote translated code, `ok` if it completed, else FAULT (EIP back on the
/// instruction, the fault recorded for the dispatcher). Chaining stops first if the dispatcher
/// has something to do ([`stop_chaining`]).
fn ran(cpu: &mut Cpu, ctx: &mut ExitCtx, result: Res, start: u32, ok: u32) -> u32 {
    stop_chaining(cpu, ctx);
    match result {
        Ok(()) if !cpu.smc_writes.is_empty() => status::SMC,
        Ok(()) => ok,
        Err(f) => {
            cpu.s.eip = start;
            ctx.fault = Some(f);
            status::FAULT
        }
    }
}

/// Runs the instruction at CS:EIP in the interpreter, fetched and decoded now, with
/// `Cpu::step`'s EIP protocol: a block's last instruction when its bytes go on into the next
/// page, which the block does not own, and that page no longer holds the bytes the block was
/// translated with, or the TLB does not map it (`translate::crosses_page`). Returns
/// [`status::CHAIN_TAKEN`] when the block may go on to whatever EIP is now (through the jump
/// cache), [`status::OK`] when the dispatcher must see
/// the machine first (the instruction ends runs: `Insn::ends_run`), or SMC or FAULT as
/// [`exec_insn`] does.
///
/// # Safety
/// `cpu` and `ctx` are valid and not otherwise borrowed for the duration of the call.
pub unsafe extern "C" fn fetch_exec(cpu: *mut Cpu, ctx: *mut ExitCtx) -> u32 {
    let (cpu, ctx) = (&mut *cpu, &mut *ctx);
    ctx.interp_calls += 1;
    let start = cpu.s.eip;
    let mut i = Insn::NOP;
    let r = cpu.fetch_decode_into(&mut i).and_then(|()| {
        ctx.interp_by_mnemonic.0[i.mnemonic as usize] += 1;
        cpu.exec_at(&i, start)
    });
    let ok = if i.ends_run() { status::OK } else { status::CHAIN_TAKEN };
    ran(cpu, ctx, r, start, ok)
}

fn size_of(bytes: u32) -> Size {
    match bytes {
        1 => Size::B,
        2 => Size::W,
        _ => Size::D,
    }
}

/// The segment register and size of a slow-path access, one argument: `seg | bytes << 8`
/// (one constant less for every slow path a block builds).
pub fn seg_size(seg: SegReg, bytes: u32) -> u32 {
    seg as u32 | bytes << 8
}

/// A flag in [`write_mem`]'s `seg_size`: when the store would write a page holding translated
/// code (or its page walk wrote one, setting A or D bits), store nothing and report
/// [`status::FAULT`] with [`ExitCtx::redo`] set, not [`status::SMC`] after the write. The block
/// leaves through the instruction's fault exit (the state as the instruction started, EIP on
/// it), and the dispatcher runs the instruction in the interpreter, from the bytes and the state
/// it started with. Only for a store that is its instruction's only memory access (MOV to
/// memory, PUSH of a register or an immediate, CALL's push): nothing else of the instruction
/// reached memory before it. Such a store's slow path then has a single branch, to the fault
/// exit the instruction has anyway, where the leave after the instruction that
/// [`status::SMC`] asks for is a second exit of its own: in `cargo bench -p emu-jit --bench
/// compile`, 0.71 of the compile time for the block of pushes and a call, 0.88 for the block
/// of stores (medians of six interleaved runs).
pub const REDO_ON_CODE: u32 = 1 << 16;

/// The two halves of [`seg_size`]'s argument (without [`REDO_ON_CODE`]).
fn split_seg_size(seg_size: u32) -> (SegReg, u32) {
    (SegReg::from_index(seg_size as u8).unwrap_or(SegReg::Ds), (seg_size >> 8) & 0xff)
}

/// The slow path of a guest load: `off` through the segment register and of the size
/// [`seg_size`] gives, with every check the interpreter makes. Returns the value in the low 32
/// bits, and 1 << 32 if it faulted.
///
/// # Safety
/// As [`exec_insn`].
pub unsafe extern "C" fn read_mem(cpu: *mut Cpu, ctx: *mut ExitCtx, seg_size: u32, off: u32) -> u64 {
    let (cpu, ctx) = (&mut *cpu, &mut *ctx);
    ctx.slow_accesses += 1;
    let (seg, size) = split_seg_size(seg_size);
    // Every slow-path access syncs the clock first if it reaches a device (in real-time
    // mode): `icount` here may be an earlier instruction's of the block.
    cpu.sys.clock.forget_fresh();
    let r = cpu.read(seg, off, size_of(size));
    stop_chaining_after_access(cpu, ctx);
    match r {
        Ok(v) => v as u64,
        Err(f) => {
            ctx.fault = Some(f);
            1 << 32
        }
    }
}

/// The slow path of a guest store (`seg_size` as for [`read_mem`], with [`REDO_ON_CODE`] or
/// not). Returns [`status::OK`], [`status::FAULT`], or, when it wrote to a page holding
/// translated code, [`status::SMC`] (with [`REDO_ON_CODE`]: FAULT with [`ExitCtx::redo`], and
/// nothing written).
///
/// # Safety
/// As [`exec_insn`].
pub unsafe extern "C" fn write_mem(cpu: *mut Cpu, ctx: *mut ExitCtx, seg_size: u32, off: u32, v: u32) -> u32 {
    let (cpu, ctx) = (&mut *cpu, &mut *ctx);
    ctx.slow_accesses += 1;
    let (seg, size) = split_seg_size(seg_size);
    let size = size_of(size);
    // Every slow-path access syncs the clock first if it reaches a device (in real-time
    // mode): `icount` here may be an earlier instruction's of the block.
    cpu.sys.clock.forget_fresh();
    let r = if seg_size & REDO_ON_CODE == 0 {
        cpu.write(seg, off, size, v).map(|()| if cpu.smc_writes.is_empty() { status::OK } else { status::SMC })
    } else {
        // Code pages written by this store's walk count too; those of an earlier access of
        // the block (an A bit set by a read) do not stop it, as they do not stop a load. (One
        // case is not caught: a page-crossing store whose first part rewrites the page-table
        // entry of its second page, which `write_lin_slow` walks again after that part, onto
        // translated code. Chaining stops, but the block goes on to its end.)
        let before = cpu.smc_writes.len();
        match cpu.write_hits_code(seg, off, size) {
            Ok(false) if cpu.smc_writes.len() == before => cpu.write(seg, off, size, v).map(|()| status::OK),
            Ok(_) => {
                ctx.redo = true;
                Ok(status::FAULT)
            }
            Err(f) => Err(f),
        }
    };
    stop_chaining_after_access(cpu, ctx);
    r.unwrap_or_else(|f| {
        ctx.fault = Some(f);
        status::FAULT
    })
}

/// Evaluates condition code `cc` from the lazy flags in memory: 1 or 0. (`ctx` is where its
/// trampoline leaves the result, see `translate::preserve`.)
///
/// # Safety
/// `cpu` is valid.
pub unsafe extern "C" fn condition(cpu: *mut Cpu, _ctx: *mut ExitCtx, cc: u32) -> u32 {
    cond(&(*cpu).s, cc as u8) as u32
}

/// The six arithmetic flags, computed from the lazy flags in memory (`flags::arith_flags`).
/// (`ctx` as for [`condition`].)
///
/// # Safety
/// `cpu` is valid.
pub unsafe extern "C" fn arith_flags(cpu: *mut Cpu, _ctx: *mut ExitCtx) -> u32 {
    emu_cpu_x86::flags::arith_flags(&(*cpu).s)
}

/// Records `#vector(error)` (error `u32::MAX`: none) as the block's fault.
///
/// # Safety
/// `ctx` is valid.
pub unsafe extern "C" fn raise(ctx: *mut ExitCtx, vector: u32, error: u32) -> u32 {
    let f = if error == u32::MAX { Fault::new(vector as u8) } else { Fault::with_error(vector as u8, error) };
    (*ctx).fault = Some(f);
    status::FAULT
}

/// A helper the translator can call, with the name the IR dump gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Helper {
    ExecInsn,
    ReadMem,
    WriteMem,
    Condition,
    Raise,
    ArithFlags,
    FetchExec,
}

impl Helper {
    pub fn name(self) -> &'static str {
        match self {
            Helper::ExecInsn => "exec_insn",
            Helper::FetchExec => "fetch_exec",
            Helper::ReadMem => "read_mem",
            Helper::WriteMem => "write_mem",
            Helper::Condition => "condition",
            Helper::Raise => "raise",
            Helper::ArithFlags => "arith_flags",
        }
    }
    /// The host address generated code calls.
    pub fn address(self) -> usize {
        match self {
            Helper::ExecInsn => exec_insn as *const () as usize,
            Helper::FetchExec => fetch_exec as *const () as usize,
            Helper::ReadMem => read_mem as *const () as usize,
            Helper::WriteMem => write_mem as *const () as usize,
            Helper::Condition => condition as *const () as usize,
            Helper::Raise => raise as *const () as usize,
            Helper::ArithFlags => arith_flags as *const () as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seg_size_round_trips() {
        for seg in SegReg::ALL {
            for bytes in [1, 2, 4] {
                assert_eq!(split_seg_size(seg_size(seg, bytes)), (seg, bytes), "{seg:?}, {bytes} bytes");
                assert_eq!(split_seg_size(seg_size(seg, bytes) | REDO_ON_CODE), (seg, bytes), "{seg:?}, {bytes} bytes");
            }
        }
    }
}
