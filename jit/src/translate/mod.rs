//! Translation: one guest basic block → one Cranelift function → host code.
//!
//! [`scan`] decodes the block (through `Cpu::fetch_lin`, so the interpreter's fetch rules hold)
//! and [`Translator::build`] turns its instructions into IR: specialised IR for the hot
//! instructions ([`insn`]), a call to the interpreter ([`crate::helpers::exec_insn`]) for all
//! others. The function has the signature of [`crate::helpers::BlockEntry`].
//!
//! **Invariants of the generated code:**
//! - *Precise state at every exit.* Guest registers and the lazy-flags fields are cached in SSA
//!   values while the block runs ([`Emitter`] tracks which are dirty; the flags a shift or
//!   multiply leaves are kept as six recipes ([`Part`]) built only where they are read or
//!   stored, see `Cache::Word`). The general registers an instruction wrote are stored as it
//!   ends (and stay cached, clean), unless the next instruction has no exit of its own
//!   (`exit_free`: then at the end of the run of such instructions); the lazy flags only at
//!   exits. So an exit stores few values, and a register's value need not live to the block's
//!   end. (Measured on the Linux boot under cachegrind: the same host instructions in
//!   translated code, 11% less host code, 7% less compile time; waiting past exit-free
//!   instructions took 0.5% off the translated code's instructions.) Every exit stores the
//!   dirty ones and `icount` (+1 per instruction run, the faulting one included, as
//!   `Cpu::step` counts), adding to the count in the state (no register holds it, except round
//!   a one-block loop: `Emitter::icount_base`), and every exit that returns to the dispatcher
//!   stores EIP too: one that chains on leaves it to the blocks after it (none reads EIP from
//!   the state: their instructions know their own, and the interpreter's helpers are given
//!   it). The stores of the count and EIP and the return itself are shared: an exit stores
//!   the rest and jumps to one of the block's tails ([`Emitter::exit_tail`]) with what differs.
//! - *Faults change nothing.* A fault exit stores the cache as it was when the instruction
//!   started (`at_start`) and sets EIP to the instruction's first byte. So a specialised
//!   instruction may set registers and flags in the cache before an access that can fault (a
//!   store that is its last effect does: `Emitter::store_last`), but writes nothing back to the
//!   state, and stores nothing to memory it could not take back, before its last access that
//!   can fault.
//! - *Helpers see the real state.* Before calling the interpreter the cache is written back and
//!   forgotten; memory helpers touch no register, so they need neither. They (and `raise`, and
//!   `condition` and `arith_flags`, which read the lazy flags from the state, so the block has
//!   them stored) are called through trampolines that keep every host register ([`preserve`]),
//!   so a block's values stay in registers across its cold slow paths.
//! - *Self-modifying code stops the block.* A store that took the slow path onto a page holding
//!   translated code makes the block leave after that instruction: from the store's slow path
//!   when the store is the instruction's last effect (`Emitter::store_last`), else by a flag
//!   tested after the instruction. A store that is the instruction's only memory access
//!   (`Emitter::store_only`: MOV to memory, PUSH of a register or an immediate, CALL's push)
//!   stores nothing there, and leaves through the
//!   instruction's fault exit instead for the dispatcher to run the instruction in the
//!   interpreter (`helpers::REDO_ON_CODE`): one exit fewer to compile.
//! - *Chaining.* Blocks use Cranelift's `tail` calling convention. A chainable exit (status
//!   `CHAIN_TAKEN`/`CHAIN_NEXT`, state stored as for any exit but EIP) first reads the block's
//!   [`crate::cache::LinkCell`] for it and, if the linked block is the one the dispatcher
//!   would find (same EIP, the TLB maps CS base + EIP to its physical address, its last byte
//!   within CS's limit) and fits before `ExitCtx::chain_limit`, jumps there with a tail call
//!   instead of returning. An exit to a computed target (RET, JMP r/m, CALL r/m) reads the
//!   jump cache entry of the target's linear address instead ([`crate::cache`]), which is
//!   checked the same way and also for the CS base and mode. A block's mode and CS base are
//!   those it started with, since any
//!   instruction that changes them ends its block with a status that does not chain.
//!   An exit to the block's own first instruction (a loop that is one block) checks only that
//!   the block fits before the limit and jumps back to its start inside the function
//!   ([`Emitter::loop_to_top`]): every other check of its link holds already.
//! - *Same-page links.* A block runs while the TLB maps its linear page to its physical page
//!   (the dispatcher found it, or a chaining exit checked it, through the TLB), and every
//!   instruction that changes translations on purpose ends its block with a status that does not
//!   chain: MOV CR0/CR3/CR4, INVLPG, LMSW, CLTS, WRMSR (EFER), task switches, far transfers and
//!   mode changes (the decoder's `MODE` instructions), port I/O (the A20 gate). So an exit to a
//!   known EIP in the block's own linear page goes on without asking the TLB: the target's
//!   physical address is the block's page at the target's offset, which the cell must hold;
//!   as the exit's target is fixed, `BlockCache::set_link` checks that when it fills the cell
//!   (the block's `SlotTarget`s), and the code checks only that the block fits (which an empty
//!   cell never does: `LinkCell::EMPTY`) and ends within CS's limit.
//!   (The one difference from the interpreter this allows: a guest that rewrites the
//!   page-table entry of the page it runs from without a TLB flush, and then has that TLB entry
//!   evicted by other accesses, keeps running the old page until the chain ends — at the
//!   latest at the next clock deadline — as within a single block; the architecture allows
//!   either translation until the flush.)
//! - *Merged control transfers.* [`scan`] lets a block go on across a direct JMP or CALL to
//!   its own page and across a RET whose return address a CALL of the block pushed
//!   ([`merged`]); every instruction still has its own EIP (`eips`), fault exit and count, so
//!   faults, budgets and `icount` are as for consecutive instructions. All the block's code is
//!   in the page of its first byte (but for the bytes of a last instruction that crosses into
//!   the next page, which it checks when it runs: [`crosses_page`]), so invalidating that page
//!   removes it; its highest byte is
//!   within CS's limit whenever it runs (`GuestBlock::bytes`, checked by the dispatcher and the
//!   chaining exits), so a merged JMP or CALL needs no limit check of its target. A merged RET
//!   compares the address it popped with the predicted one and leaves as an unmerged RET does
//!   (limit check, then a computed-target exit) when they differ.
//! - *Counters.* With `Options::counters` (`emu --stats=full`), every exit adds the inlined
//!   memory accesses of the instructions that completed to `ExitCtx::inline_accesses`, and every
//!   chain to `ExitCtx::chained`. Without, nothing: every chainable exit of a block with link
//!   cells stores its cells' address (`ExitCtx::exit_cells`) whatever the counters, which is how
//!   the dispatcher learns where a chain ended.
//! - *Reused values are pure and dominate.* An operand's address arithmetic and its TLB entry's
//!   address are computed once per SSA value and reused ([`Emitter::pure`]) only in the IR block
//!   they were computed in or one it dominates; what can change under the code (a TLB entry's
//!   tags and addend, guest memory) is loaded again at every access, and each access checks the
//!   tag of its own kind against its own last byte, but for an access that a page hint covers
//!   (`mem.rs`): its whole range within the page an earlier access of its kind (or a write)
//!   found through the TLB, since the last call to the interpreter.

pub mod insn;
mod mem;
mod misc;
mod muldiv;
mod preserve;
mod shift;
mod string;

use crate::cache::SlotTarget;
use crate::helpers::{status, Helper};
use crate::key::{BlockKey, ModeKey};
use crate::layout;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{
    self, condcodes::IntCC, types, AbiParam, Block, Function, InstBuilder, MemFlagsData, SigRef, Signature, Type,
    UserFuncName, Value,
};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use emu_cpu_x86::decode::{self, Insn, Mnemonic as M};
use emu_cpu_x86::flags::{CcOp, Size};
use emu_cpu_x86::state::{reg, SegReg};
use emu_cpu_x86::tlb::Access;
use emu_cpu_x86::Cpu;

/// Most instructions in one block.
pub const MAX_BLOCK_INSNS: usize = 64;

/// A decoded guest block: instructions and the EIP of each.
///
/// The instructions are those one run of the block executes, in order, all starting in the
/// guest page of the first byte (the block key's physical page, so invalidating that page
/// removes the block); only the last may go on into the next page ([`crosses_page`]: its bytes
/// there are checked when it runs). They are usually consecutive; [`scan`] also follows, within
/// that page, a direct JMP or CALL to its target and a RET to the return address an earlier
/// CALL of the block pushed (see [`merged`]): then the next instruction's EIP is not the
/// previous one's end.
#[derive(Debug, Clone, Default)]
pub struct GuestBlock {
    pub insns: Vec<Insn>,
    pub eips: Vec<u32>,
    /// From the first instruction's first byte to the highest byte of any instruction, plus one:
    /// the block's code lies within CS's limit when `eip + bytes - 1` does (code segments
    /// grow up, and instructions before the first byte are below it).
    pub bytes: u32,
    /// When the last instruction crosses into the next page ([`crosses_page`]): its bytes
    /// there, as decoded.
    pub tail: Option<Tail>,
}

/// The bytes a block's last instruction has in the next page ([`crosses_page`]), as [`scan`]
/// read them. The block owns only its first page, so its code runs the instruction's
/// translation only while the TLB maps the next page for execution to host memory that still
/// holds these bytes, and else has the interpreter fetch the instruction again
/// (`Emitter::crossing_guard`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tail {
    /// The bytes from the next page's start (`len` of them; zero after).
    pub bytes: [u8; 16],
    pub len: u8,
}

/// Whether `i`, an instruction of a block that is not its last one, is a merged control transfer:
/// a direct JMP or CALL that goes on at its target, or a RET that goes on at the return address
/// predicted by an earlier CALL of the block (the block checks the prediction). All three end
/// blocks otherwise, so no other block has them anywhere but at its end.
pub fn merged(i: &Insn) -> bool {
    match i.mnemonic {
        M::Jmp | M::Call => matches!(i.args[0], decode::Arg::Rel(_)),
        M::Ret => true,
        _ => false,
    }
}

/// Whether instruction `i` at `eip` (CS base `cs_base`) has bytes beyond the linear page of its
/// first byte. [`scan`] takes such an instruction only as a block's last one (its fetch must not
/// have wrapped around the 16-bit offset space), with its bytes in the next page ([`Tail`]):
/// the block is invalidated only with its first byte's page, and the next page may be written
/// or mapped elsewhere meanwhile, so the block checks them when it runs and otherwise has
/// [`crate::helpers::fetch_exec`] fetch and decode the instruction again.
pub fn crosses_page(cs_base: u32, eip: u32, i: &Insn) -> bool {
    (cs_base.wrapping_add(eip) & 0xfff) + i.len as u32 > 0x1000
}

/// How an instruction accesses memory, as far as page hints go (`Emitter::hint_for`): the
/// register it addresses memory through (its memory operand's base, or ESP for the stack; PUSH
/// and CALL of a memory operand count as stack accesses only), the displacement, and whether
/// it reads there.
#[derive(Debug, Clone, Copy)]
struct MemAccess {
    reg: u8,
    disp: i32,
    reads: bool,
}

impl MemAccess {
    fn of(i: &Insn) -> Option<MemAccess> {
        use decode::Arg;
        match i.mnemonic {
            M::Push | M::Call | M::Pushf => return Some(MemAccess { reg: reg::ESP as u8, disp: 0, reads: false }),
            M::Pop | M::Ret | M::Popf => return Some(MemAccess { reg: reg::ESP as u8, disp: 0, reads: true }),
            // MOV ESP, EBP; POP EBP.
            M::Leave => return Some(MemAccess { reg: reg::EBP as u8, disp: 0, reads: true }),
            // An address only.
            M::Lea | M::Invlpg | M::Nop => return None,
            _ => {}
        }
        let at = i.args.iter().position(|a| matches!(a, Arg::Mem(_)))?;
        (i.mem.base != decode::NO_REG).then_some(MemAccess {
            reg: i.mem.base,
            disp: i.mem.disp as i32,
            // Stored to only.
            reads: !(at == 0 && matches!(i.mnemonic, M::Mov | M::Setcc)),
        })
    }
}

/// Whether the block must end after `i`: control flow, or what the dispatcher must see at once,
/// as `Cpu::run` would after this instruction ([`Insn::ends_run`]: a mode change, port I/O, a
/// REP string instruction).
pub fn ends_block(i: &Insn) -> bool {
    i.ends_block() || i.ends_run()
}

/// Decodes the block at CS:EIP: up to `max` instructions, all starting in the guest page of the
/// first byte. An instruction that crosses the page end into a page the TLB already maps for
/// execution to host memory ends the block after it ([`crosses_page`]); one that crosses into
/// any other page, or cannot be fetched, ends the block before it (an empty block means: let
/// the interpreter run this instruction).
///
/// The block goes on across a direct JMP or CALL whose target is in that page, and across a RET
/// when an earlier CALL of the block pushed a return address in that page (the RET's code checks
/// it popped that address); but not across a JMP to an instruction the block already has, or
/// into one (a loop: its back edge is an exit, which the chain follows). A CALL or RET may
/// lead to code the block has already (a function called twice): it runs again, the length
/// cap bounds the block.
pub fn scan(cpu: &mut Cpu, max: usize) -> GuestBlock {
    scan_with(cpu, max, None)
}

/// The instructions a decoded run of the block at CS:EIP holds (`runs`): as [`scan`] decodes
/// them, but going on past conditional branches to the instructions after them, within the
/// page and `max` in all. With it, where the blocks after the first start: the index of the
/// instruction after each conditional branch it went past. The first block is what [`scan`]
/// returns (up to the first of them); where a branch is taken, the run stops
/// ([`Cpu::run_decoded`]: EIP is not the next instruction's).
pub fn scan_run(cpu: &mut Cpu, max: usize) -> (GuestBlock, Vec<usize>) {
    let mut starts = Vec::new();
    (scan_with(cpu, max, Some(&mut starts)), starts)
}

/// [`scan`], and [`scan_run`] with `starts`.
fn scan_with(cpu: &mut Cpu, max: usize, mut starts: Option<&mut Vec<usize>>) -> GuestBlock {
    let code32 = cpu.s.code32();
    let cs_base = cpu.s.segs[SegReg::Cs as usize].base;
    let start = cpu.s.eip;
    let page = cs_base.wrapping_add(start) & !0xfff;
    // Room for most blocks from the start (they average 7-8 instructions on the Linux boot),
    // and for more in a run: growing the vectors one doubling at a time cost the dispatcher's
    // cold path 1-2%.
    let room = max.min(if starts.is_some() { 32 } else { 16 });
    let mut b = GuestBlock { insns: Vec::with_capacity(room), eips: Vec::with_capacity(room), bytes: 0, tail: None };
    let mut eip = start;
    // Return addresses pushed by the block's merged CALLs, innermost last.
    let mut calls: Vec<u32> = Vec::new();
    let mut end = start as u64;
    while b.insns.len() < max {
        // Most instructions lie 15 bytes or more before the page's end: the interpreter's
        // decode cache has them, or gets them for the runs in the interpreter that follow.
        let r = cpu.decode_in_window(eip, code32).ok_or(()).or_else(|()| {
            decode::decode(code32, |n| {
                // Bytes in the next page are read to decode the instruction (the block does not
                // depend on them: `crosses_page`), but only from a page the TLB has already
                // mapped for execution to host memory: decoding must not walk the page tables
                // or read a device. Otherwise the block ends before the instruction, and the
                // interpreter runs it (filling the TLB for the next decode).
                let off = eip.wrapping_add(n as u32);
                if !code32 && off > 0xffff {
                    return Err(None); // wraps around the 16-bit offset space
                }
                let lin = cs_base.wrapping_add(off);
                if lin & !0xfff != page
                    && (lin & !0xfff != page.wrapping_add(0x1000) || cpu.fetch_window(off, code32).1 == 0)
                {
                    return Err(None);
                }
                cpu.linear(SegReg::Cs, off, 1, Access::Exec).map_err(Some)?;
                cpu.fetch_lin(lin).map_err(Some)
            })
            .map_err(|_| ())
        });
        let Ok(i) = r else { break };
        b.insns.push(i);
        b.eips.push(eip);
        if crosses_page(cs_base, eip, &i) {
            // Its end is in the next page: the block's last instruction, with the bytes it has
            // there, which the block checks when it runs. The decode just read them, through
            // the TLB.
            let lin = cs_base.wrapping_add(eip);
            let mut tail = Tail { len: ((lin & 0xfff) + i.len as u32 - 0x1000) as u8, ..Tail::default() };
            let next_page = (lin | 0xfff).wrapping_add(1);
            let read = tail.bytes[..tail.len as usize]
                .iter_mut()
                .enumerate()
                .all(|(n, byte)| cpu.fetch_lin(next_page.wrapping_add(n as u32)).map(|v| *byte = v).is_ok());
            // (Without them, which cannot happen after the decode, the instruction is always
            // fetched again.)
            b.tail = read.then_some(tail);
            end = end.max(eip as u64 + i.len as u64);
            break;
        }
        let next = eip.wrapping_add(i.len as u32);
        let next = if code32 { next } else { next & 0xffff };
        // One past the highest byte's offset (unwrapped, as the dispatcher checks the limit).
        end = end.max(eip as u64 + i.len as u64);
        let inside = |t: u32| b.insns.iter().zip(&b.eips).any(|(i, &e)| t.wrapping_sub(e) < i.len as u32);
        let follow = match (i.mnemonic, i.args[0]) {
            (M::Jmp, decode::Arg::Rel(rel)) => Some(next.wrapping_add(rel) & i.osize.mask()).filter(|&t| !inside(t)),
            (M::Call, decode::Arg::Rel(rel)) => {
                calls.push(next);
                Some(next.wrapping_add(rel) & i.osize.mask())
            }
            (M::Ret, _) => calls.pop(),
            _ => None,
        };
        if ends_block(&i) {
            match follow {
                Some(t)
                    if (code32 || t <= 0xffff)
                        && t.abs_diff(start) < 0x1000
                        && cs_base.wrapping_add(t) & !0xfff == page =>
                {
                    eip = t;
                    continue;
                }
                _ => match starts.as_mut().filter(|_| i.mnemonic == M::Jcc) {
                    // The run goes on where the branch is not taken.
                    Some(starts) => starts.push(b.insns.len()),
                    None => break,
                },
            }
        }
        eip = next;
        if cs_base.wrapping_add(eip) & !0xfff != page {
            break;
        }
    }
    b.bytes = (end - start as u64) as u32;
    b
}

/// Guest RAM as the host maps it, for the loads of blocks that run with paging off, the A20 gate
/// open and flat data segments: there a linear address is the physical one, and an access inside
/// the plain RAM from 0 (up to the legacy video area) or from 1 MiB (up to the end of RAM or the
/// first device range in it) is plain memory (`System::plain_ranges`: no MMIO range, ROM or
/// shadowing), so the load reads `base + address` after a compare or two, without the TLB (in which
/// the bzImage decompressor's reads, spread over tens of megabytes, missed often). Stores still
/// go through the TLB, which is what tells them that a page holds translated code.
///
/// **Invariant:** blocks built with a window run only while the machine's plain RAM is that
/// window: the dispatcher flushes the cache when the map changes it (a device range moved into
/// RAM) or it runs on another machine, and drops compiled blocks built for another window
/// (`Jit::check_ram`, `Jit::install`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamWindow {
    /// The host address of guest physical address 0.
    pub base: usize,
    /// The end of the plain RAM from 0 (at most [`RamWindow::HIGH`]).
    pub low: u32,
    /// The end of the plain RAM from [`RamWindow::HIGH`].
    pub high: u32,
}

impl RamWindow {
    /// Where the second range starts: 1 MiB.
    pub const HIGH: u32 = 0x10_0000;

    /// The window of `cpu`'s machine now; `None` if its plain RAM does not reach past
    /// [`RamWindow::HIGH`].
    pub fn of(cpu: &mut Cpu) -> Option<RamWindow> {
        let (base, low, high) = cpu.sys.plain_ranges();
        let (low, high) = (u32::try_from(low).ok()?, u32::try_from(high).ok()?);
        (high > RamWindow::HIGH + 4).then_some(RamWindow { base: base as usize, low, high })
    }

    /// The i8 "an access of `size` bytes at `addr` lies in the range from [`RamWindow::HIGH`]"
    /// (unsigned: below it, past the end or wrapped around, the offset from it is too large).
    fn in_high(self, e: &mut Emitter, addr: Value, size: Size) -> Value {
        let rel = e.b.ins().iadd_imm_s(addr, -(RamWindow::HIGH as i64));
        let limit = self.high - RamWindow::HIGH - size.bytes();
        e.b.ins().icmp_imm_u(IntCC::UnsignedLessThanOrEqual, rel, limit as i64)
    }

    /// The i8 "an access of `size` bytes at `addr` lies in the range from 0" (`low` at least
    /// `size`).
    fn in_low(self, e: &mut Emitter, addr: Value, size: Size) -> Value {
        e.b.ins().icmp_imm_u(IntCC::UnsignedLessThanOrEqual, addr, (self.low - size.bytes()) as i64)
    }
}

/// Cranelift, set up for the host, and its reusable contexts.
pub struct Translator {
    isa: OwnedTargetIsa,
    /// The same ISA with Cranelift's optimiser on, for [`Translator::compile_optimized`].
    isa_speed: OwnedTargetIsa,
    ctx: Context,
    fctx: FunctionBuilderContext,
    /// Of the block [`Translator::build`] built last: inlined memory accesses (TLB fast path
    /// sites) in its first `k` instructions, for every `k` from 0 to its length.
    pub accesses: Vec<u32>,
    /// See `Options::inject_bug_at` (tests of `--cpu check` only).
    #[doc(hidden)]
    pub inject_bug_at: Option<u32>,
    /// See `Options::counters`.
    pub counters: bool,
    /// See `Options::optimize_all`.
    pub optimize_all: bool,
    /// Keep Cranelift's listing of each block's host code ([`Translator::take_listing`]), for
    /// `--dump-jit`.
    pub listing: bool,
    /// The listing of the last block compiled, when `listing`.
    last_listing: Option<String>,
    /// Whether accesses use page hints (`mem.rs`); off under `--cpu check`, where a hint that
    /// outlived its TLB entry (see `mem.rs`) would be reported as a difference.
    pub page_hints: bool,
    /// Guest RAM as host memory, for loads that go straight to it ([`RamWindow`]); `None`: every
    /// load goes through the TLB.
    pub ram: Option<RamWindow>,
    /// The jump cache's address ([`crate::cache::BlockCache::jump_table`]): blocks built with
    /// link cells look up computed branch targets there. Must be set before such a block is
    /// built for running (symbolic IR uses a placeholder).
    pub jump_table: Option<usize>,
    /// Of the block [`Translator::build`] built last: what its chainable exits leave to
    /// `BlockCache::set_link` to check, per link cell.
    pub targets: [SlotTarget; 2],
    /// The function [`Translator::compile`] compiled last, emptied and built into again by the
    /// next [`Translator::build`], so its tables keep their memory from block to block.
    /// (`Function::clear` resets all a block's IR uses; not exception tables, which blocks do
    /// not have: no `try_call`.)
    spare: Function,
}

/// Translation failed (a bug in emu or a Cranelift limit, never a guest condition).
#[derive(Debug)]
pub struct TranslateError(pub String);

impl Translator {
    /// Cranelift for the host CPU, with and without its optimiser.
    pub fn new() -> Result<Translator, TranslateError> {
        let t = Translator::with_isa(Translator::host_isa("none")?, Translator::host_isa("speed")?);
        // Blocks call the slow-path helpers through these (compiled once per process).
        preserve::init(&t.isa).map_err(TranslateError)?;
        Ok(t)
    }

    /// Cranelift's ISA for the host, with our settings and optimisation level `opt_level`.
    fn host_isa(opt_level: &str) -> Result<OwnedTargetIsa, TranslateError> {
        let mut flags = settings::builder();
        let set = |f: &mut settings::Builder, k: &str, v: &str| {
            f.set(k, v).map_err(|e| TranslateError(format!("cranelift setting {k}={v}: {e}")))
        };
        // Compile time, not code quality, decides how fast a kernel boots: "none" skips the
        // e-graph optimiser, which cut CPU time per block by about a quarter on the Linux boot
        // with no loss we could measure on the integer-mix bench (README, "Performance").
        // Measured again with warm-up and background compilation (13:46 UTC, load 3, CPU time
        // from `perf record` of the Linux bench boot): "speed" made generated code 4.5% faster
        // (5.42 s against 5.68 s) for 60% more compile time (3.78 s against 2.34 s), and the
        // integer mix equal (0.46 s against 0.47 s). The backtracking register allocator stays:
        // "single_pass" compiled faster per block but made 2.6 times more code, so the code
        // cache filled up and blocks were compiled again; measured again with a 64 MiB cache
        // (no refill): 217 µs a block against 277 µs, 2.4 times the code, and the boot took
        // 10.5 s against 5.1 s (its code spills and reloads around everything).
        // So blocks are compiled with "none", but for those the compile thread takes while
        // nothing else waits ([`Translator::compile_optimized`]).
        set(&mut flags, "opt_level", opt_level)?;
        // The code is copied into our own memory and never registered with an unwinder.
        set(&mut flags, "unwind_info", "false")?;
        set(&mut flags, "is_pic", "false")?;
        // Cranelift's x86-64 tail calls (chaining, see the module comment) need frame pointers.
        set(&mut flags, "preserve_frame_pointers", "true")?;
        // Our code calls only the helpers, with small frames.
        set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
        cranelift_native::builder()
            .map_err(|e| TranslateError(format!("no Cranelift backend for this host: {e}")))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| TranslateError(format!("Cranelift ISA: {e}")))
    }

    /// A translator for `isa` and `isa_speed` (those [`Translator::new`] sets up).
    fn with_isa(isa: OwnedTargetIsa, isa_speed: OwnedTargetIsa) -> Translator {
        Translator {
            isa,
            isa_speed,
            ctx: Context::new(),
            fctx: FunctionBuilderContext::new(),
            accesses: Vec::new(),
            inject_bug_at: None,
            counters: true,
            optimize_all: false,
            page_hints: true,
            ram: None,
            jump_table: None,
            targets: [SlotTarget::Any; 2],
            spare: Function::new(),
            listing: false,
            last_listing: None,
        }
    }

    /// The host's pointer type in IR.
    pub fn pointer_type(&self) -> Type {
        self.isa.pointer_type()
    }

    /// The signature of every block: `(cpu, ctx) -> status`, in the `tail` convention.
    fn block_signature(&self) -> Signature {
        let ptr = self.isa.pointer_type();
        let mut sig = Signature::new(CallConv::Tail);
        sig.params.push(AbiParam::new(ptr));
        sig.params.push(AbiParam::new(ptr));
        sig.returns.push(AbiParam::new(types::I32));
        sig
    }

    /// Builds the IR of a block. `insns` must stay where they are for as long as the code runs:
    /// generated code passes their addresses to the interpreter. `tail`: the bytes in the next
    /// page of a last instruction that crosses into it (`GuestBlock::tail`; without them, the
    /// instruction is always fetched again when it runs). `cells`: the address of the
    /// block's two [`crate::cache::LinkCell`]s (taken, fall-through), or `None` for a block that
    /// never chains. With `symbolic`, addresses (helpers, instructions, cells) are replaced by
    /// small placeholder numbers, so the IR text is the same on every run and host (golden
    /// tests); such IR must not be compiled.
    pub fn build(
        &mut self,
        key: &BlockKey,
        insns: &[Insn],
        eips: &[u32],
        tail: Option<Tail>,
        cells: Option<usize>,
        symbolic: bool,
    ) -> Function {
        let ptr = self.isa.pointer_type();
        let sig = self.block_signature();
        let mut func = std::mem::replace(&mut self.spare, Function::new());
        func.clear();
        func.name = UserFuncName::user(0, key.phys);
        func.signature = sig.clone();
        {
            let mut b = FunctionBuilder::new(&mut func, &mut self.fctx);
            let tail_sig = b.import_signature(sig);
            let mut e = Emitter::new(b, ptr, self.isa.default_call_conv(), key.mode, symbolic, insns, eips);
            e.inject_bug_at = self.inject_bug_at;
            e.counters = self.counters;
            e.page_hints = self.page_hints;
            e.ram = if symbolic { None } else { self.ram };
            e.cells = cells;
            e.jump = match (cells, symbolic) {
                (None, _) => None,
                (Some(_), true) => Some(0),
                (Some(_), false) => Some(self.jump_table.expect("the jump cache is set before blocks are built")),
            };
            e.cs_base = key.cs_base;
            e.key_phys = key.phys;
            e.key_lin = key.cs_base.wrapping_add(key.eip);
            e.tail_sig = Some(tail_sig);
            e.tail = tail;
            e.body(insns, eips);
            self.accesses = std::mem::take(&mut e.accesses);
            self.targets = std::array::from_fn(|n| match e.slot_targets[n] {
                SlotTarget::SamePage(_) if e.slot_other[n] => SlotTarget::Never,
                t => t,
            });
            e.finish(self.isa.frontend_config());
        }
        func
    }

    /// The trampoline Rust enters blocks through ([`crate::helpers::EnterFn`]): calls the block
    /// at its third argument with the first two, in the `tail` convention, and returns its status.
    pub fn build_enter(&mut self) -> Function {
        let ptr = self.isa.pointer_type();
        let mut sig = Signature::new(self.isa.default_call_conv());
        sig.params.extend([AbiParam::new(ptr), AbiParam::new(ptr), AbiParam::new(ptr)]);
        sig.returns.push(AbiParam::new(types::I32));
        let block_sig = self.block_signature();
        let mut func = Function::with_name_signature(UserFuncName::user(1, 0), sig);
        let mut b = FunctionBuilder::new(&mut func, &mut self.fctx);
        let block_sig = b.import_signature(block_sig);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let (cpu, ctx, code) = (b.block_params(entry)[0], b.block_params(entry)[1], b.block_params(entry)[2]);
        let call = b.ins().call_indirect(block_sig, code, &[cpu, ctx]);
        let st = b.inst_results(call)[0];
        b.ins().return_(&[st]);
        b.seal_all_blocks();
        b.finalize(self.isa.frontend_config());
        func
    }

    /// Compiles `func` to host code: position-independent bytes with no relocations.
    pub fn compile(&mut self, func: Function) -> Result<Vec<u8>, TranslateError> {
        self.compile_with(func, false)
    }

    /// [`Translator::compile`] with Cranelift's optimiser (`opt_level` "speed": e-graph
    /// rewrites, value numbering, redundant load elimination, loop-invariant code motion),
    /// which costs about 60% more compile time. Same semantics, faster code: the compile thread
    /// uses it for the blocks it takes while no other block waits (`worker`).
    pub fn compile_optimized(&mut self, func: Function) -> Result<Vec<u8>, TranslateError> {
        self.compile_with(func, true)
    }

    /// Cranelift's listing of the host code of the block [`Translator::compile`] (or
    /// [`Translator::compile_optimized`]) compiled last, if [`Translator::listing`] was set: its
    /// machine instructions, one a line, with the host's registers, in Cranelift's own syntax
    /// (for x86-64, AT&T's operand order).
    pub fn take_listing(&mut self) -> Option<String> {
        self.last_listing.take()
    }

    /// Whether a compile asked to optimise, or not (`asked`), uses the optimiser: also when
    /// `optimize_all` says so.
    pub fn optimizes(&self, asked: bool) -> bool {
        asked || self.optimize_all
    }

    fn compile_with(&mut self, func: Function, optimize: bool) -> Result<Vec<u8>, TranslateError> {
        self.ctx.clear();
        self.ctx.func = func;
        let isa = if self.optimizes(optimize) { &*self.isa_speed } else { &*self.isa };
        self.last_listing = None;
        self.ctx.set_disasm(self.listing);
        let code = self
            .ctx
            .compile(isa, &mut ControlPlane::default())
            .map_err(|e| TranslateError(format!("Cranelift: {:?}", e.inner)))?;
        if !code.buffer.relocs().is_empty() {
            return Err(TranslateError("block code has relocations".into()));
        }
        self.last_listing = code.vcode.clone();
        let code = code.code_buffer().to_vec();
        self.spare = std::mem::replace(&mut self.ctx.func, Function::new());
        Ok(code)
    }
}

/// A guest value cached in an SSA value; `dirty` when the state in memory is older.
#[derive(Debug, Clone, Copy)]
struct Cached {
    v: Cache,
    dirty: bool,
}

/// What a cache slot holds.
#[derive(Debug, Clone, Copy)]
enum Cache {
    Value(Value),
    /// The arithmetic flags word (`cc_src` with `cc_op` EFLAGS) of these six flags, i8 0/1
    /// values in the order CF, PF, AF, ZF, SF, OF, put together only where the word is read or
    /// stored: a later instruction usually replaces the flags, so often only the cold exits of
    /// the instructions in between (faults) and the block's own exit need it, or nothing does.
    /// Each read builds it afresh (a read may be in a branch the rest of the block does not
    /// pass through, so the value it built must not be kept).
    Word([Part; 6]),
}

/// One arithmetic flag as the translator knows it: an i8 0/1 value, or a recipe for one from
/// values the instruction computed. A shift's or multiply's ZF, SF, PF, OF (and CF) are recipes,
/// built only where they are read, often nowhere but in the cold exits of later accesses: built
/// at the instruction, Cranelift (which does not sink code) would compute them on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// An i8 0/1 value.
    Val(Value),
    /// `x == 0`.
    Zero(Value),
    /// `x & bit != 0` (`bit` a single bit).
    Bit(Value, u32),
    /// `(x & a != 0) != (y & b != 0)`.
    Xor(Value, u32, Value, u32),
    /// An even number of ones in the low byte of `x`.
    Parity(Value),
    /// The signed product of `a` and `b` at `size` does not fit in `size` bits (a truncating
    /// IMUL's CF and OF: the product is computed at double width only here).
    MulOverflow(Value, Value, Size),
}

/// A pure computation on SSA values the emitter reuses instead of emitting it again (see
/// [`Emitter::pure`]): the parts of an address (effective address, linear address, last byte,
/// page) and the TLB entry of a linear address. `opt_level` "none" does no value numbering, so
/// without this a second access to the same operand would redo all of its address arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pure {
    /// `x << n`.
    Shl(Value, i64),
    /// `x + y`.
    Add(Value, Value),
    /// `x + k`.
    AddImm(Value, i64),
    /// `x & k`.
    AndImm(Value, i64),
    /// The address of the TLB entry of linear address `x` in the block's TLB set
    /// ([`Emitter::tlb_entry`]): where the tags are, not whether they match.
    TlbEntry(Value),
}

/// Where an earlier access of the block found a guest page in host memory (a *page hint*,
/// [`Emitter::hint_for`]): a later access whose linear address has the same `root` (the same
/// register value, other displacements) is likely on the same page, and when it is, its host
/// address is `host + (lin - page)`, without the TLB. Valid where the memo is, and only while
/// no interpreter call came in between (`helpers`); a read's hint serves reads only, a write's
/// both (a page the TLB let the block write is readable and held no translated code).
#[derive(Debug, Clone, Copy)]
struct PageHint {
    root: Value,
    /// The access's displacement from `root`.
    offset: i64,
    write: bool,
    /// The page's linear address (pointer-sized), or [`NO_PAGE`] if the access took its slow
    /// path (no linear address is within a page of it).
    page: Value,
    /// The page's host address (pointer-sized; meaningless with `NO_PAGE`).
    host: Value,
    /// [`Emitter::interp_calls`] when it was made.
    helpers: u32,
}

/// A hint's page after a slow path: far from every 32-bit linear address.
const NO_PAGE: i64 = 1 << 40;

/// What the emitter remembers of the code already built ([`Emitter::pure`], page hints).
#[derive(Debug, Clone, Default)]
struct Memo {
    values: Vec<(Pure, Value)>,
    pages: Vec<PageHint>,
}

impl Memo {
    fn clear(&mut self) {
        self.values.clear();
        self.pages.clear();
    }
}

/// Cache slots: 0-7 the general registers, then the four lazy-flags fields.
const SLOTS: usize = 12;
const CC_OP: usize = 8;
const CC_DST: usize = 9;
const CC_SRC: usize = 10;
const CC_SRC2: usize = 11;

fn slot_offset(slot: usize) -> i32 {
    match slot {
        0..=7 => layout::reg(slot),
        CC_OP => layout::CC_OP,
        CC_DST => layout::CC_DST,
        CC_SRC => layout::CC_SRC,
        _ => layout::CC_SRC2,
    }
}

/// What the translator knows statically about the lazy flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagSrc {
    /// Not known while translating: whatever is in the state, or (after a shift or rotate by CL,
    /// which picks its flags at run time) in the cache, dirty.
    Unknown,
    /// `cc_op` is `(kind, size)`, with the other fields as the interpreter leaves them.
    Lazy(u32, Size),
    /// `cc_op` is EFLAGS: `cc_src` holds the six flags, some of which may also be known as
    /// separate values (so reading CF alone does not need the word, whose computation is then
    /// dead code Cranelift does not emit).
    Eflags(KnownFlags),
}

/// Arithmetic flags known as i8 0/1 values, indexed by [`KnownFlags::index`] (CF, PF, AF, ZF,
/// SF, OF); each equals its bit in the `cc_src` word recorded with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct KnownFlags([Option<Part>; 6]);

impl KnownFlags {
    /// The slot of eflags bit `bit` (one of the six arithmetic flags).
    fn index(bit: u32) -> usize {
        use emu_cpu_x86::state::eflags::*;
        match bit {
            CF => 0,
            PF => 1,
            AF => 2,
            ZF => 3,
            SF => 4,
            _ => 5,
        }
    }
}

/// An exit block waiting to be filled in after the body.
enum Pending {
    /// Store the cache as it was at the instruction's start, EIP = the instruction, return FAULT.
    /// `accesses`: inlined accesses in the instructions before it.
    Fault { block: Block, cache: [Option<Cached>; SLOTS], eip: u32, count: usize, accesses: u32, icount_base: usize },
    /// Record `#vector(error)` and go to `then` (a Fault exit).
    Raise { block: Block, vector: u8, error: Option<u32>, then: Block },
    /// After an interpreter call that did not return OK (block param: its status): EIP is as the
    /// interpreter left it; return FAULT or OK.
    AfterHelper { block: Block, count: usize, accesses: u32, icount_base: usize },
}

/// Whether a direct branch of the block goes back to its first instruction (so the block may
/// run again from its top without leaving, see [`Emitter::loop_to_top`]).
fn loops_to_start(insns: &[Insn], eips: &[u32]) -> bool {
    insns.iter().zip(eips).any(|(i, &eip)| match i.args[0] {
        // Only branches (Jcc, JMP, CALL, LOOP, JCXZ) have a relative first operand; a CALL
        // back to the start is recursion, not a loop of the block.
        decode::Arg::Rel(rel) if i.mnemonic != M::Call => {
            let next = eip.wrapping_add(i.len as u32).wrapping_add(rel) & i.osize.mask();
            Some(&next) == eips.first()
        }
        _ => false,
    })
}

/// Whether instruction `i` has, as a rule, no exit of its own: register-only moves, XCHG,
/// BSWAP, CBW/CWD, arithmetic and logic, shifts and rotates, multiplies, CMOVcc and SETcc, and
/// LEA, which access no memory, cannot fault and end no block. Before a run of them the
/// general registers are not written back, only at its end. (The exceptions, a shift by a
/// count of 0 left to the interpreter and a last instruction that crosses a page, write back
/// every dirty register before they leave, as every exit does: they only cost IR.)
fn exit_free(i: &Insn) -> bool {
    use decode::Arg;
    let regs_only = i.args.iter().all(|a| matches!(a, Arg::Nil | Arg::Reg(..) | Arg::Imm(_)));
    match i.mnemonic {
        M::Lea => true,
        M::Mov
        | M::Movzx
        | M::Movsx
        | M::Add
        | M::Or
        | M::Adc
        | M::Sbb
        | M::And
        | M::Sub
        | M::Xor
        | M::Cmp
        | M::Test
        | M::Inc
        | M::Dec
        | M::Neg
        | M::Not
        | M::Shl
        | M::Shr
        | M::Sar
        | M::Sal
        | M::Rol
        | M::Ror
        | M::Imul
        | M::Cmovcc
        | M::Setcc
        | M::Bswap
        | M::Xchg
        | M::Cbw
        | M::Cwd => regs_only,
        _ => false,
    }
}

/// The kinds of [`Emitter::exit_tail`].
const TAIL_COUNTED: usize = 0;
const TAIL_COUNTED_TOP: usize = 1;
const TAIL_UNCHAINED: usize = 2;
const TAIL_FAULT: usize = 3;
const TAIL_FAULT_TOP: usize = 4;
const TAILS: usize = 5;

/// Builds one block's IR.
pub(crate) struct Emitter<'a> {
    b: FunctionBuilder<'a>,
    ptr: Type,
    call_conv: cranelift_codegen::isa::CallConv,
    mode: ModeKey,
    symbolic: bool,
    cpu: Value,
    ctx: Value,
    /// `icount` in the state is the block's starting count plus this, on the current path:
    /// 0 until an instruction the interpreter runs ([`Emitter::generic`]) stores the exact count
    /// for it. Exits add to the stored count, so no register holds it through the block...
    icount_base: usize,
    /// ...except in a block that branches back to its own start ([`Emitter::loop_to_top`]):
    /// there the count at [`Emitter::top`] is its parameter, carried round the loop in a
    /// register rather than through memory (a store and a load each time round).
    icount_top: Option<Value>,
    /// The offset in `Cpu` of the TLB set of the block's privilege (the mode key's CPL): an
    /// entry's address is `cpu + tlb_set + index`, which the host folds into each load's
    /// address (no register holds the TLB's address through the block; see
    /// [`Emitter::tlb_entry`]).
    tlb_set: i32,
    cache: [Option<Cached>; SLOTS],
    flags: FlagSrc,
    sigs: Vec<(Helper, SigRef)>,
    insns_base: *const Insn,
    pending: Vec<Pending>,
    // The instruction being translated.
    k: usize,
    start: u32,
    next: u32,
    /// For a merged JMP, CALL or RET ([`merged`]): the EIP of the block's next instruction,
    /// where the instruction goes on instead of leaving.
    follow: Option<u32>,
    at_start: [Option<Cached>; SLOTS],
    fault_exit: Option<Block>,
    /// The block's shared ends of exits ([`Emitter::exit_tail`]), each made on first use.
    tails: [Option<Block>; TAILS],
    /// i8 values, one per slow-path store in this instruction (not `store_last`'s): it hit a
    /// code page.
    smc: Vec<Value>,
    /// The instruction being built is the block's last.
    last_insn: bool,
    /// Whether the instruction being built addresses memory through a register (`MemAccess`)
    /// that a later instruction of the block also does, with a displacement less than a page
    /// apart, to read there (`[0]`), or at all (`[1]`): only then do its reads, or its writes,
    /// make page hints.
    hints_ahead: [bool; 2],
    /// The block has been closed by an exit.
    terminated: bool,
    /// Inlined memory accesses in instructions `0..k`, for `k` up to the current instruction.
    accesses: Vec<u32>,
    inject_bug_at: Option<u32>,
    /// See `Options::counters`.
    counters: bool,
    /// See [`Translator::ram`].
    ram: Option<RamWindow>,
    /// Base, limit and attributes of each segment register, once loaded (only on the path
    /// that loaded them; instructions the interpreter runs may change them, so they are
    /// forgotten there).
    segs: [Option<[Value; 3]>; 8],
    /// The block's link cells (see [`Translator::build`]) and CS base, and the block signature.
    cells: Option<usize>,
    cs_base: u32,
    /// The physical and linear address of the block's first byte.
    key_phys: u32,
    key_lin: u32,
    tail_sig: Option<SigRef>,
    /// `GuestBlock::tail`.
    tail: Option<Tail>,
    /// The jump cache ([`Translator::jump_table`]), for blocks that chain.
    jump: Option<usize>,
    /// Per link cell: the same-page exits through it (see [`Emitter::chain`]), and whether
    /// other chaining exits read it too (exits to computed targets read the jump cache instead).
    slot_targets: [SlotTarget; 2],
    slot_other: [bool; 2],
    /// Where the first instruction's code starts (`icount` in the state as the block began),
    /// and the block's length in instructions.
    top: Block,
    len: usize,
    /// Pure values already computed ([`Emitter::pure`]), all usable in `memo_block`: they were
    /// computed there (before the current position, as the builder only appends) or in a block
    /// that dominates it ([`Emitter::carry_memo`]). Anywhere else the memo is not consulted.
    /// Page hints ([`PageHint`]) live by the same rule.
    memo: Memo,
    memo_block: Option<Block>,
    /// Calls to the interpreter built so far (`exec_insn`, `fetch_exec`): each may change the
    /// translations behind the page hints.
    interp_calls: u32,
    /// `Translator::page_hints`.
    page_hints: bool,
    /// `(res, a)` of the last SUB or CMP built here ([`insn`]'s `alu`): its result and its first
    /// operand (at its size). While the lazy flags are that SUB's (`cc_dst` is still `res`),
    /// conditions compare `a` with `cc_src` directly instead of recovering `a` as `res + src`:
    /// a CMP and a Jcc become one host compare and branch. `a` is an operand of `res`, so it is
    /// available wherever `res` is.
    sub_first: Option<(Value, Value)>,
}

impl<'a> Emitter<'a> {
    fn new(
        mut b: FunctionBuilder<'a>,
        ptr: Type,
        call_conv: cranelift_codegen::isa::CallConv,
        mode: ModeKey,
        symbolic: bool,
        insns: &[Insn],
        eips: &[u32],
    ) -> Self {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let (cpu, ctx) = (b.block_params(entry)[0], b.block_params(entry)[1]);
        // The first instruction starts here, with `icount` as the block began: a branch back to
        // the block's own start comes here too (see `Emitter::chain`), the count stored.
        let top = b.create_block();
        let icount_top = loops_to_start(insns, eips).then(|| {
            let param = b.append_block_param(top, types::I64);
            let icount = b.ins().load(types::I64, MemFlagsData::trusted(), cpu, layout::ICOUNT);
            b.ins().jump(top, &[icount.into()]);
            param
        });
        if icount_top.is_none() {
            b.ins().jump(top, &[]);
        }
        b.switch_to_block(top);
        Emitter {
            top,
            len: insns.len(),
            b,
            ptr,
            call_conv,
            mode,
            symbolic,
            cpu,
            ctx,
            icount_base: 0,
            icount_top,
            tlb_set: layout::tlb_set(mode.user()),
            cache: [None; SLOTS],
            flags: FlagSrc::Unknown,
            sigs: Vec::new(),
            insns_base: insns.as_ptr(),
            pending: Vec::new(),
            k: 0,
            start: 0,
            next: 0,
            follow: None,
            at_start: [None; SLOTS],
            fault_exit: None,
            tails: [None; TAILS],
            smc: Vec::new(),
            last_insn: false,
            hints_ahead: [false; 2],
            terminated: false,
            accesses: vec![0],
            inject_bug_at: None,
            counters: true,
            ram: None,
            segs: [None; 8],
            cells: None,
            cs_base: 0,
            key_phys: 0,
            key_lin: 0,
            tail_sig: None,
            tail: None,
            jump: None,
            slot_targets: [SlotTarget::Any; 2],
            slot_other: [false; 2],
            memo: Memo::default(),
            memo_block: None,
            interp_calls: 0,
            page_hints: false,
            sub_first: None,
        }
    }

    /// The whole block.
    fn body(&mut self, insns: &[Insn], eips: &[u32]) {
        let accesses: Vec<_> = insns.iter().map(MemAccess::of).collect();
        for (k, (i, &eip)) in insns.iter().zip(eips).enumerate() {
            // Its address register and displacement near those of an access after it (one that
            // reads, for a hint only reads can use).
            let near = |reads: bool| {
                accesses[k].is_some_and(|a| {
                    accesses[k + 1..]
                        .iter()
                        .flatten()
                        .any(|b| b.reg == a.reg && b.disp.abs_diff(a.disp) < 0x1000 && (b.reads || !reads))
                })
            };
            self.hints_ahead = [near(true), near(false)];
            let next = eip.wrapping_add(i.len as u32);
            self.k = k;
            self.start = eip;
            self.next = if self.mode.code32() { next } else { next & 0xffff };
            self.at_start = self.cache;
            self.fault_exit = None;
            self.smc.clear();
            self.accesses.push(*self.accesses.last().unwrap_or(&0));
            let last = k + 1 == insns.len();
            self.last_insn = last;
            self.follow = (!last && merged(i)).then(|| eips[k + 1]);
            if last && crosses_page(self.cs_base, eip, i) {
                match self.tail {
                    Some(tail) => self.crossing_guard(tail),
                    None => {
                        self.fetch_exec();
                        return;
                    }
                }
            }
            if !insn::emit(self, i) {
                // `scan` merges only instructions `insn::emit` translates.
                debug_assert!(self.follow.is_none(), "merged {:?} left to the interpreter", i.mnemonic);
                self.generic(last, !ends_block(i));
            }
            if self.terminated {
                return;
            }
            if self.inject_bug_at == Some(eip) {
                let v = self.reg32(0);
                let bad = self.b.ins().bxor_imm_u(v, 1);
                self.set_reg32(0, bad);
            }
            // General registers go back to the state as each instruction ends (the lazy flags
            // stay cached, see the module comment), unless the next instruction has no exits:
            // then at the end of the run of such instructions, which saves the stores of
            // registers they overwrite.
            if last || !exit_free(&insns[k + 1]) {
                self.flush(0..CC_OP);
            }
            if !self.smc.is_empty() && !last {
                self.leave_if_smc();
            }
        }
        // Fell off the end (length cap, page end, or an instruction that could not be fetched).
        let next = self.c32(self.next);
        self.exit(next, insns.len(), status::CHAIN_NEXT);
    }

    /// Fills in the pending exits, seals everything.
    fn finish(mut self, cfg: cranelift_codegen::isa::TargetFrontendConfig) {
        for p in std::mem::take(&mut self.pending) {
            match p {
                Pending::Fault { block, cache, eip, count, accesses, icount_base } => {
                    self.b.switch_to_block(block);
                    self.cache = cache;
                    self.icount_base = icount_base;
                    let eip = self.c32(eip);
                    self.exit_counting(eip, count, accesses, status::FAULT);
                }
                Pending::Raise { block, vector, error, then } => {
                    self.b.switch_to_block(block);
                    let v = self.c32(vector as u32);
                    let e = self.c32(error.unwrap_or(u32::MAX));
                    let ctx = self.ctx;
                    self.call(Helper::Raise, &[ctx, v, e]);
                    self.b.ins().jump(then, &[]);
                }
                Pending::AfterHelper { block, count, accesses, icount_base } => {
                    self.b.switch_to_block(block);
                    self.icount_base = icount_base;
                    let st = self.b.append_block_param(block, types::I32);
                    self.sync_icount(count);
                    self.count_accesses(accesses);
                    let is_fault = self.b.ins().icmp_imm_u(IntCC::Equal, st, status::FAULT as i64);
                    let fault = self.c32(status::FAULT);
                    let ok = self.c32(status::OK);
                    let r = self.b.ins().select(is_fault, fault, ok);
                    self.b.ins().return_(&[r]);
                }
            }
        }
        self.fill_tails();
        self.b.seal_all_blocks();
        self.b.finalize(cfg);
    }

    // ---- constants, calls ---------------------------------------------------------------------

    fn c32(&mut self, v: u32) -> Value {
        self.b.ins().iconst(types::I32, v as i64)
    }

    /// A host address as an IR constant (a placeholder in symbolic mode).
    fn addr(&mut self, real: usize, placeholder: usize) -> Value {
        let v = if self.symbolic { placeholder } else { real };
        self.b.ins().iconst(self.ptr, v as i64)
    }

    /// Calls helper `h` with `args`; returns its result, if it has one.
    fn call(&mut self, h: Helper, args: &[Value]) -> Option<Value> {
        let call = self.call_only(h, args);
        if preserve::preserved(h) {
            let ctx = self.ctx;
            return Some(preserve::result(&mut self.b, h, self.ptr, ctx));
        }
        self.b.inst_results(call).first().copied()
    }

    /// Calls helper `h` with `args`, leaving a result of its trampoline (if it has one) in
    /// `ExitCtx::helper_result`, unread.
    fn call_only(&mut self, h: Helper, args: &[Value]) -> ir::Inst {
        // Slow-path helpers go through a trampoline that keeps every register (see `preserve`).
        let preserved = preserve::preserved(h);
        let sig = match self.sigs.iter().find(|(x, _)| *x == h) {
            Some(&(_, s)) => s,
            None => {
                let mut sig = preserve::helper_signature(h, self.ptr, self.call_conv);
                if preserved {
                    sig.call_conv = CallConv::PreserveAll;
                    sig.returns.clear();
                }
                let s = self.b.import_signature(sig);
                self.sigs.push((h, s));
                s
            }
        };
        let real = if preserved { preserve::trampoline(h) } else { h.address() };
        let f = self.addr(real, 0x1000 + 0x10 * h as usize);
        if matches!(h, Helper::ExecInsn | Helper::FetchExec) {
            self.interp_calls += 1;
        }
        self.b.ins().call_indirect(sig, f, args)
    }

    // ---- reused pure values -------------------------------------------------------------------

    /// The value of `p`: the one computed before if it is usable here, else computed now (and
    /// remembered, when the emitter is in a block it memoises). Keys are SSA values, so a
    /// register that changed (a new value) never matches what its old value gave; the values
    /// are pure, so reusing one is right wherever it dominates the current position.
    fn pure(&mut self, p: Pure) -> Value {
        let here = self.b.current_block();
        // `x + k` is left out: reusing one stretched values across a whole block (a RET's
        // address is its CALL's) and cost more in spills than the add it saved (measured).
        if let Pure::AddImm(..) = p {
            return self.compute(p);
        }
        if here.is_some() && here == self.memo_block {
            if let Some(&(_, v)) = self.memo.values.iter().find(|(k, _)| *k == p) {
                return v;
            }
        }
        let v = self.compute(p);
        self.memo_here();
        self.memo.values.push((p, v));
        v
    }

    /// Makes the memo the current block's, to add to: when it was another block's, it starts
    /// afresh (the old entries may not dominate this one).
    fn memo_here(&mut self) {
        let here = self.b.current_block();
        if here != self.memo_block {
            self.memo.clear();
            self.memo_block = here;
        }
    }

    /// Emits `p`.
    fn compute(&mut self, p: Pure) -> Value {
        match p {
            Pure::Shl(x, n) => self.b.ins().ishl_imm_u(x, n),
            Pure::Add(x, y) => self.b.ins().iadd(x, y),
            Pure::AddImm(x, 0) => x,
            Pure::AddImm(x, k) => self.b.ins().iadd_imm_s(x, k),
            Pure::AndImm(x, k) => self.b.ins().band_imm_u(x, k),
            Pure::TlbEntry(lin) => self.tlb_entry(lin),
        }
    }

    /// The block just switched to is reached only through blocks that `from` dominates (the
    /// two arms of a fast/slow path that `from` ended in, joining here): what was memoised in
    /// `from` is usable here too.
    fn carry_memo(&mut self, from: Option<Block>) {
        if from.is_some() && from == self.memo_block {
            self.memo_block = self.b.current_block();
        }
    }

    // ---- the register cache -------------------------------------------------------------------

    fn slot(&mut self, n: usize) -> Value {
        match self.cache[n] {
            Some(Cached { v: Cache::Value(v), .. }) => v,
            Some(Cached { v: Cache::Word(parts), .. }) => self.arith_from(parts),
            None => {
                let v = self.b.ins().load(types::I32, MemFlagsData::trusted(), self.cpu, slot_offset(n));
                self.cache[n] = Some(Cached { v: Cache::Value(v), dirty: false });
                v
            }
        }
    }

    fn set_slot(&mut self, n: usize, v: Value) {
        // The value the slot holds already (`mov eax, eax`): a clean slot stays clean, as the
        // state holds `v` too.
        let dirty = !matches!(self.cache[n], Some(Cached { v: Cache::Value(w), dirty: false }) if w == v);
        self.cache[n] = Some(Cached { v: Cache::Value(v), dirty });
    }

    /// Writes the dirty cached values in `range` back to the state.
    fn flush(&mut self, range: std::ops::Range<usize>) {
        for n in range {
            if let Some(c) = self.cache[n].filter(|c| c.dirty) {
                let v = self.slot(n);
                self.b.ins().store(MemFlagsData::trusted(), v, self.cpu, slot_offset(n));
                self.cache[n] = Some(Cached { dirty: false, ..c });
            }
        }
    }

    /// The count the block's instructions are counted from, when it is the one kept round the
    /// loop (`icount_top`) rather than the state's: in a one-block loop, before any interpreter
    /// call of the round stored the count (`icount_base` 0).
    fn top_count(&self) -> Option<Value> {
        self.icount_top.filter(|_| self.icount_base == 0)
    }

    /// Stores `icount` after `count` instructions of the block (the count it is counted from,
    /// [`Emitter::top_count`] or the state's, plus `count - icount_base`); returns the value
    /// stored.
    fn store_icount(&mut self, count: usize) -> Value {
        let t = MemFlagsData::trusted();
        let old = match self.top_count() {
            Some(top) => top,
            None => self.b.ins().load(types::I64, t, self.cpu, layout::ICOUNT),
        };
        let n = self.b.ins().iadd_imm_s(old, count as i64 - self.icount_base as i64);
        self.b.ins().store(t, n, self.cpu, layout::ICOUNT);
        n
    }

    /// [`Emitter::store_icount`] where the value is not wanted: nothing when the state holds
    /// that count already (an interpreter call as the block's first instruction, or right after
    /// another one stored it), where the store was a load, an add of 0 and a store.
    fn sync_icount(&mut self, count: usize) {
        if self.top_count().is_some() || count != self.icount_base {
            self.store_icount(count);
        }
    }

    /// One of the block's shared exit ends, made on first use (filled in by
    /// [`Emitter::fill_tails`]). Every exit that returns to the dispatcher ends with the same few
    /// stores and a return (an epilogue in host code); a fourth of the IR the compile thread
    /// built was exits. So an exit stores what only it must (registers, flags) and jumps to a
    /// tail with what differs as parameters:
    /// - [`TAIL_COUNTED`]: `(n: i64, eip: i32, status: i32)`; stores `icount` plus `n`, then EIP,
    ///   returns the status;
    /// - [`TAIL_COUNTED_TOP`]: the same with the count kept round a loop (`icount_top`) instead
    ///   of the state's;
    /// - [`TAIL_UNCHAINED`]: `(eip: i32, status: i32)`, for a chainable exit that did not chain
    ///   (`icount` stored already): stores the block's link cells' address for the
    ///   dispatcher, then EIP, returns the status;
    /// - [`TAIL_FAULT`], [`TAIL_FAULT_TOP`]: as the counted ones, for faults: `(n, eip)`, the
    ///   status [`status::FAULT`] (most exits are for faults).
    fn exit_tail(&mut self, kind: usize) -> Block {
        if let Some(b) = self.tails[kind] {
            return b;
        }
        let block = self.b.create_block();
        self.b.set_cold_block(block);
        if kind != TAIL_UNCHAINED {
            self.b.append_block_param(block, types::I64);
        }
        self.b.append_block_param(block, types::I32);
        if !matches!(kind, TAIL_FAULT | TAIL_FAULT_TOP) {
            self.b.append_block_param(block, types::I32);
        }
        self.tails[kind] = Some(block);
        block
    }

    /// Builds the tails [`Emitter::exit_tail`] made.
    fn fill_tails(&mut self) {
        let t = MemFlagsData::trusted();
        for kind in 0..self.tails.len() {
            let Some(block) = self.tails[kind] else { continue };
            self.b.switch_to_block(block);
            let p = self.b.block_params(block).to_vec();
            let (eip, st) = match kind {
                TAIL_UNCHAINED => (p[0], p[1]),
                TAIL_FAULT | TAIL_FAULT_TOP => (p[1], self.c32(status::FAULT)),
                _ => (p[1], p[2]),
            };
            match kind {
                TAIL_UNCHAINED => {
                    if let Some(cells) = self.cells {
                        let c = self.addr(cells, 0x2000);
                        self.b.ins().store(t, c, self.ctx, layout::CTX_EXIT_CELLS);
                    }
                }
                _ => {
                    let old = match (kind, self.icount_top) {
                        (TAIL_COUNTED_TOP | TAIL_FAULT_TOP, Some(top)) => top,
                        _ => self.b.ins().load(types::I64, t, self.cpu, layout::ICOUNT),
                    };
                    let n = self.b.ins().iadd(old, p[0]);
                    self.b.ins().store(t, n, self.cpu, layout::ICOUNT);
                }
            }
            self.b.ins().store(t, eip, self.cpu, layout::EIP);
            self.b.ins().return_(&[st]);
        }
    }

    /// Adds `n` to `ExitCtx::inline_accesses`.
    fn count_accesses(&mut self, n: u32) {
        if n > 0 && self.counters {
            let t = MemFlagsData::trusted();
            let old = self.b.ins().load(types::I64, t, self.ctx, layout::CTX_INLINE_ACCESSES);
            let new = self.b.ins().iadd_imm_s(old, n as i64);
            self.b.ins().store(t, new, self.ctx, layout::CTX_INLINE_ACCESSES);
        }
    }

    /// Adds 1 to `ExitCtx::chained` (a block entered through a link, or a loop round again).
    fn count_chained(&mut self) {
        if self.counters {
            let t = MemFlagsData::trusted();
            let old = self.b.ins().load(types::I64, t, self.ctx, layout::CTX_CHAINED);
            let new = self.b.ins().iadd_imm_s(old, 1);
            self.b.ins().store(t, new, self.ctx, layout::CTX_CHAINED);
        }
    }

    /// Leaves the block: writes back the cache and `icount` after `count` instructions (all of
    /// which completed), and, for a chainable `st`, goes on to the linked block if it may; else
    /// stores EIP and returns `st`.
    fn exit(&mut self, eip: Value, count: usize, st: u32) {
        let accesses = *self.accesses.last().unwrap_or(&0);
        self.exit_counting(eip, count, accesses, st);
    }

    /// [`Emitter::exit`], with `accesses` inlined accesses completed. The stores and return
    /// every exit shares are in the block's tails ([`Emitter::exit_tail`]).
    fn exit_counting(&mut self, eip: Value, count: usize, accesses: u32, st: u32) {
        self.flush(0..SLOTS);
        // EIP only on the way out: a chained block never reads it from the state (its
        // instructions know their own, the interpreter's helpers are given it, and every exit
        // stores it), so going on to the next block does not store it.
        match status::chain_slot(st) {
            Some(slot) => {
                let icount = self.store_icount(count);
                self.count_accesses(accesses);
                self.chain(slot, eip, icount);
                // A constant EIP made again here: the one the chain checks use would be
                // materialised in a register before them, on the chained path too.
                let eip = match self.const_of(eip) {
                    Some(c) => self.c32(c),
                    None => eip,
                };
                let r = self.c32(st);
                let tail = self.exit_tail(TAIL_UNCHAINED);
                self.b.ins().jump(tail, &[eip.into(), r.into()]);
            }
            None => {
                self.count_accesses(accesses);
                let top = self.top_count().is_some();
                let n = self.b.ins().iconst(types::I64, count as i64 - self.icount_base as i64);
                if st == status::FAULT {
                    let tail = self.exit_tail(if top { TAIL_FAULT_TOP } else { TAIL_FAULT });
                    self.b.ins().jump(tail, &[n.into(), eip.into()]);
                } else {
                    let r = self.c32(st);
                    let tail = self.exit_tail(if top { TAIL_COUNTED_TOP } else { TAIL_COUNTED });
                    self.b.ins().jump(tail, &[n.into(), eip.into(), r.into()]);
                }
            }
        }
        self.terminated = true;
    }

    /// A REP string instruction with `count` (ECX) = 0 does nothing at all: leaves the block
    /// for the next instruction then, and goes on building the `count` != 0 case.
    pub(super) fn next_insn_if_zero(&mut self, count: Value) {
        let (nothing, start) = (self.b.create_block(), self.b.create_block());
        let is_zero = self.b.ins().icmp_imm_u(IntCC::Equal, count, 0);
        let from = self.b.current_block();
        self.b.ins().brif(is_zero, nothing, &[], start, &[]);
        let saved = self.cache;
        self.b.switch_to_block(nothing);
        let next = self.c32(self.next);
        self.exit(next, self.k + 1, status::CHAIN_NEXT);
        self.cache = saved;
        self.terminated = false;
        self.b.switch_to_block(start);
        self.carry_memo(from);
    }

    /// The constant `v` was made from, if it is an `iconst`.
    fn const_of(&self, v: Value) -> Option<u32> {
        let inst = self.b.func.dfg.value_def(v).inst()?;
        match self.b.func.dfg.insts[inst] {
            ir::InstructionData::UnaryImm { opcode: ir::Opcode::Iconst, imm } => Some(imm.bits() as u32),
            _ => None,
        }
    }

    /// At a chainable exit to `eip` (state stored but EIP, `icount` the new count): a tail call to the
    /// block the dispatcher would run next, when it is in link cell `slot` (a target known at
    /// translation time) or in the jump cache entry of its linear address (a computed target),
    /// and fits (see the module comment); falls through to the plain exit otherwise.
    fn chain(&mut self, slot: usize, eip: Value, icount: Value) {
        let (Some(cells), Some(sig)) = (self.cells, self.tail_sig) else { return };
        let t = MemFlagsData::trusted();
        let known = self.const_of(eip);
        // A known target in the block's own linear page is in its physical page too (see the
        // module comment, *Same-page links*): the TLB need not be asked, and the cell's EIP and
        // physical address are checked when it is filled (`SlotTarget::SamePage`).
        if let Some(target) = known.filter(|&k| self.cs_base.wrapping_add(k) & !0xfff == self.key_lin & !0xfff) {
            self.slot_targets[slot] = match self.slot_targets[slot] {
                SlotTarget::Any => SlotTarget::SamePage(target),
                SlotTarget::SamePage(x) if x == target => SlotTarget::SamePage(target),
                _ => SlotTarget::Never,
            };
            if self.cs_base.wrapping_add(target) == self.key_lin {
                self.loop_to_top(icount);
                return;
            }
            let cell = self.addr(cells + slot * layout::LINK_CELL_SIZE, 0x2000 + 0x20 * slot);
            self.chain_checked(cell, None, icount, None, sig);
            return;
        }
        // An exit to a computed target reads the jump cache, not the cell (when there is one),
        // so it leaves the cell to the slot's other exits and what they need checked.
        if known.is_some() || self.jump.is_none() {
            self.slot_other[slot] = true;
        }
        // The cell to check, the TLB entry of the target's linear address, its page and offset,
        // and whether the cell is a jump cache entry.
        let (cell, tlb_entry, page, low, from_jump_cache) = match (known, self.jump) {
            (Some(eip), _) => {
                let cell = self.addr(cells + slot * layout::LINK_CELL_SIZE, 0x2000 + 0x20 * slot);
                let lin = self.cs_base.wrapping_add(eip);
                let e = self.tlb_entry_at(lin);
                (cell, e, self.c32(lin & !0xfff), self.c32(lin & 0xfff), false)
            }
            (None, jump) => {
                let lin = self.b.ins().iadd_imm_s(eip, self.cs_base as i32 as i64);
                let pn = self.b.ins().ushr_imm_u(lin, 12);
                let cell = match jump {
                    // The jump cache entry: `cache::jump_index(lin)`.
                    Some(table) => {
                        let h = self.b.ins().bxor(lin, pn);
                        let j = self.b.ins().band_imm_u(h, crate::cache::JUMP_SIZE as i64 - 1);
                        let j = self.widen_to_ptr(j);
                        // A power of two (layout's test): a shift, which "none" does not
                        // make of a multiply.
                        let off = self.b.ins().ishl_imm_u(j, layout::JUMP_ENTRY_SIZE.trailing_zeros() as i64);
                        let base = self.addr(table, 0x3000);
                        self.b.ins().iadd(base, off)
                    }
                    None => self.addr(cells + slot * layout::LINK_CELL_SIZE, 0x2000 + 0x20 * slot),
                };
                let e = self.tlb_entry(lin);
                let page = self.b.ins().band_imm_u(lin, !0xfffi64 & 0xffff_ffff);
                let low = self.b.ins().band_imm_u(lin, 0xfff);
                (cell, e, page, low, jump.is_some())
            }
        };
        let mut ok = None;
        if from_jump_cache {
            // A jump cache entry may hold a block of any CS base and mode: they must be ours.
            let base = self.b.ins().load(types::I32, t, cell, layout::JUMP_CS_BASE);
            let same_base = self.b.ins().icmp_imm_u(IntCC::Equal, base, self.cs_base as i64);
            let mode = self.b.ins().load(types::I32, t, cell, layout::JUMP_MODE);
            let same_mode = self.b.ins().icmp_imm_u(IntCC::Equal, mode, self.mode.bits() as i64);
            ok = Some(self.b.ins().band(same_base, same_mode));
        }
        // The TLB's execute entry for CS base + EIP maps it to the block's physical address.
        let tag = self.tlb_load(types::I32, tlb_entry, layout::TLB_EXEC);
        let hit = self.b.ins().icmp(IntCC::Equal, tag, page);
        let mut ok = self.and_ok(ok, hit);
        let phys_page = self.tlb_load(types::I32, tlb_entry, layout::TLB_PHYS);
        let phys = self.b.ins().bor(phys_page, low);
        let want = self.b.ins().load(types::I32, t, cell, layout::LINK_PHYS);
        let same = self.b.ins().icmp(IntCC::Equal, phys, want);
        ok = self.b.ins().band(ok, same);
        self.chain_checked(cell, Some(eip), icount, Some(ok), sig);
    }

    /// At a chainable exit to the block's own first instruction (a loop that is one block;
    /// state stored but EIP, `icount` the new count): runs the block again from [`Emitter::top`] if it
    /// fits before the chain limit, as the tail call to its own link would, without leaving the
    /// function. The link's other checks hold already: the block is the one the dispatcher would
    /// find (its page, mode and CS base are those it started with: whatever changes them ends a
    /// block with a status that does not chain; a write that invalidates it stops chaining, see
    /// `helpers::stop_chaining`), and its last byte was within CS's limit when it was entered.
    /// Falls through to the plain exit otherwise.
    fn loop_to_top(&mut self, icount: Value) {
        let t = MemFlagsData::trusted();
        let after = self.b.ins().iadd_imm_s(icount, self.len as i64);
        let limit = self.b.ins().load(types::I64, t, self.ctx, layout::CTX_CHAIN_LIMIT);
        let fits = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, after, limit);
        let (again, stay) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(fits, again, &[], stay, &[]);
        self.b.switch_to_block(again);
        // Counted as a chained block run, as the tail call would be.
        self.count_chained();
        let top = self.top;
        // The count round the loop: `top`'s parameter if it has one, else the state's (stored).
        match self.icount_top {
            Some(_) => self.b.ins().jump(top, &[icount.into()]),
            None => self.b.ins().jump(top, &[]),
        };
        self.b.switch_to_block(stay);
    }

    /// The checks every chaining exit makes, given `ok` (an i8, if any: the checks particular to
    /// the cell's kind passed): the cell's block is there, at EIP `eip` (unless `None`: checked
    /// when the cell was filled), fits before the chain limit, and its last byte is within CS's
    /// limit; then the tail call to it.
    fn chain_checked(&mut self, cell: Value, eip: Option<Value>, icount: Value, ok: Option<Value>, sig: SigRef) {
        let t = MemFlagsData::trusted();
        // One branch per check (each a host compare and jump, predicted), to `stay` if it fails.
        let stay = self.b.create_block();
        let mut checks = ok.into_iter().collect::<Vec<_>>();
        let go_on = |e: &mut Self, checks: &mut Vec<Value>| {
            for c in checks.drain(..) {
                let next = e.b.create_block();
                e.b.ins().brif(c, next, &[], stay, &[]);
                e.b.switch_to_block(next);
            }
        };
        // Fits before the limit (0 when the dispatcher forbids chaining). This also tells that the
        // cell holds a block: an empty one's length never fits (`LinkCell::EMPTY`).
        let n = self.b.ins().uload32(t, cell, layout::LINK_INSNS);
        let after = self.b.ins().iadd(icount, n);
        let limit = self.b.ins().load(types::I64, t, self.ctx, layout::CTX_CHAIN_LIMIT);
        checks.push(self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, after, limit));
        if let Some(eip) = eip {
            // Its EIP (a link is a prediction the code checks, never trusts).
            let e = self.b.ins().load(types::I32, t, cell, layout::LINK_EIP);
            checks.push(self.b.ins().icmp(IntCC::Equal, e, eip));
        }
        if !self.mode.cs_limit_4g() {
            // Its last byte is within CS's limit (with a 4 GiB limit every byte is).
            let last = self.b.ins().load(types::I32, t, cell, layout::LINK_LAST);
            let cs_limit = self.b.ins().load(types::I32, t, self.cpu, layout::seg_limit(SegReg::Cs as usize));
            checks.push(self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, last, cs_limit));
        }
        go_on(self, &mut checks);
        let entry = self.b.ins().load(self.ptr, t, cell, layout::LINK_ENTRY);
        self.count_chained();
        let (cpu, ctx) = (self.cpu, self.ctx);
        self.b.ins().return_call_indirect(sig, entry, &[cpu, ctx]);
        self.b.switch_to_block(stay);
    }

    /// The exit for a fault in the current instruction (created on first use).
    fn fault_block(&mut self) -> Block {
        if let Some(b) = self.fault_exit {
            return b;
        }
        let block = self.b.create_block();
        self.b.set_cold_block(block);
        let accesses = self.accesses[self.k];
        let icount_base = self.icount_base;
        self.pending.push(Pending::Fault {
            block,
            cache: self.at_start,
            eip: self.start,
            count: self.k + 1,
            accesses,
            icount_base,
        });
        self.fault_exit = Some(block);
        block
    }

    /// Raises `#vector(error)` when `cond` (an i8) is true.
    fn raise_if(&mut self, cond: Value, vector: u8, error: Option<u32>) {
        let then = self.fault_block();
        let block = self.b.create_block();
        self.b.set_cold_block(block);
        self.pending.push(Pending::Raise { block, vector, error, then });
        let cont = self.b.create_block();
        let from = self.b.current_block();
        self.b.ins().brif(cond, block, &[], cont, &[]);
        self.b.switch_to_block(cont);
        self.carry_memo(from);
    }

    /// After a store that may have hit translated code: leave after this instruction.
    fn leave_if_smc(&mut self) {
        let mut any = self.smc[0];
        for &v in &self.smc.clone()[1..] {
            any = self.b.ins().bor(any, v);
        }
        self.leave_if(any);
    }

    /// Leaves the block after this instruction if `cond` (an i8; the instruction is complete
    /// and the cache holds its results) and goes on otherwise, unless the instruction is the
    /// block's last (the block ends after it anyway).
    fn leave_if(&mut self, cond: Value) {
        if self.last_insn {
            return;
        }
        let (out, cont) = (self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(out);
        let from = self.b.current_block();
        self.b.ins().brif(cond, out, &[], cont, &[]);
        self.b.switch_to_block(out);
        self.leave_now();
        self.b.switch_to_block(cont);
        self.carry_memo(from);
    }

    /// The exit [`Emitter::leave_if`] takes, built in the current block (not the last
    /// instruction's): after the current instruction, to the dispatcher. The cache is as before.
    fn leave_now(&mut self) {
        let saved = self.cache;
        let next = self.c32(self.follow.unwrap_or(self.next));
        self.exit(next, self.k + 1, status::OK);
        self.terminated = false;
        self.cache = saved;
    }

    /// Before the interpreter runs the current instruction: the state in memory made whole (the
    /// dirty cache stored, the exact instruction count, which `exec` leaves as it is), and
    /// everything cached forgotten (the instruction may change any of it).
    fn hand_to_interpreter(&mut self) {
        self.flush(0..SLOTS);
        self.cache = [None; SLOTS];
        self.segs = [None; 8];
        self.flags = FlagSrc::Unknown;
        self.sync_icount(self.k);
        self.icount_base = self.k;
    }

    /// The default translation: the interpreter runs the instruction. `chain`: as the last
    /// instruction of the block, it does not end blocks (the block ended at its length cap or the
    /// page end), so a normal completion may be chained to the next block.
    fn generic(&mut self, last: bool, chain: bool) {
        self.hand_to_interpreter();
        // SAFETY: k < insns.len(); only the address is taken.
        let insn_addr = unsafe { self.insns_base.add(self.k) } as usize;
        let p = self.addr(insn_addr, 0x10000 + 0x100 * self.k);
        let start = self.c32(self.start);
        let (cpu, ctx) = (self.cpu, self.ctx);
        let st = self.call(Helper::ExecInsn, &[cpu, ctx, p, start]).unwrap();
        let accesses = self.accesses[self.k];
        if last {
            self.sync_icount(self.k + 1);
            self.count_accesses(accesses);
            let is_fault = self.b.ins().icmp_imm_u(IntCC::Equal, st, status::FAULT as i64);
            let (fault, ok) = (self.c32(status::FAULT), self.c32(status::OK));
            let mut r = self.b.ins().select(is_fault, fault, ok);
            if let (true, Some(cells)) = (chain, self.cells) {
                // The dispatcher learns which block a chain ended in from this.
                let c = self.addr(cells, 0x2000);
                self.b.ins().store(MemFlagsData::trusted(), c, self.ctx, layout::CTX_EXIT_CELLS);
            }
            if chain {
                // OK chains; SMC (the dispatcher must invalidate first) and FAULT do not.
                let is_ok = self.b.ins().icmp_imm_u(IntCC::Equal, st, status::OK as i64);
                let next = self.c32(status::CHAIN_NEXT);
                r = self.b.ins().select(is_ok, next, r);
            }
            self.b.ins().return_(&[r]);
            self.terminated = true;
        } else {
            let block = self.b.create_block();
            self.b.set_cold_block(block);
            let icount_base = self.icount_base;
            self.pending.push(Pending::AfterHelper { block, count: self.k + 1, accesses, icount_base });
            let cont = self.b.create_block();
            let from = self.b.current_block();
            self.b.ins().brif(st, block, &[st.into()], cont, &[]);
            self.b.switch_to_block(cont);
            self.carry_memo(from);
        }
    }

    /// Before the block's last instruction, which crosses into the next page ([`crosses_page`]):
    /// goes on to its translation if the TLB maps that page for execution to host memory that
    /// holds the bytes the block was decoded with (`tail`), as [`Cpu::fetch_lin`] would read
    /// them; else (the page is not in the TLB, or was written or mapped elsewhere) leaves
    /// through [`Emitter::fetch_exec`], which fetches the instruction again.
    fn crossing_guard(&mut self, tail: Tail) {
        let page = self.cs_base.wrapping_add(self.start) | 0xfff;
        let page = page.wrapping_add(1);
        let entry = self.tlb_entry_at(page);
        let tag = self.tlb_load(types::I32, entry, layout::TLB_EXEC);
        let mapped = self.b.ins().icmp_imm_u(IntCC::Equal, tag, page as i64);
        let (read, same, refetch) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(refetch);
        let from = self.b.current_block();
        self.b.ins().brif(mapped, read, &[], refetch, &[]);
        self.b.switch_to_block(read);
        let lin = self.c32(page);
        let host = self.host_addr(entry, lin);
        // At most 14 bytes, compared 8 at a time: the loads stay inside the page.
        let mut ok = None;
        for (n, chunk) in tail.bytes[..tail.len as usize].chunks(8).enumerate() {
            let mut want = [0; 8];
            want[..chunk.len()].copy_from_slice(chunk);
            let mut w = self.b.ins().load(types::I64, mem::guest(), host, 8 * n as i32);
            if chunk.len() < 8 {
                w = self.b.ins().band_imm_u(w, (1i64 << (8 * chunk.len())) - 1);
            }
            let eq = self.b.ins().icmp_imm_u(IntCC::Equal, w, u64::from_le_bytes(want) as i64);
            ok = Some(ok.map_or(eq, |ok| self.b.ins().band(ok, eq)));
        }
        let ok = ok.expect("a crossing instruction has bytes in the next page");
        self.b.ins().brif(ok, same, &[], refetch, &[]);
        // The slow path leaves; the translation goes on with the cache as it was.
        self.b.switch_to_block(refetch);
        // (Its call to the interpreter never returns here: the hints live on.)
        let saved = (self.cache, self.segs, self.flags, self.icount_base, self.interp_calls);
        let memo = (self.memo_block, self.memo.clone());
        let first = self.b.func.dfg.num_blocks();
        self.fetch_exec();
        // Every block of the fallback (its exits and chaining) is laid out last.
        for n in first..self.b.func.dfg.num_blocks() {
            self.b.set_cold_block(Block::from_u32(n as u32));
        }
        self.terminated = false;
        (self.cache, self.segs, self.flags, self.icount_base, self.interp_calls) = saved;
        (self.memo_block, self.memo) = memo;
        self.b.switch_to_block(same);
        self.carry_memo(from);
    }

    /// The block's last instruction, which crosses into the next page ([`crosses_page`]): run by
    /// [`crate::helpers::fetch_exec`], which fetches and decodes it now; then the block leaves
    /// for wherever EIP is, chaining through the jump cache when the helper allows it.
    fn fetch_exec(&mut self) {
        self.hand_to_interpreter();
        // It fetches from EIP.
        let start = self.c32(self.start);
        self.b.ins().store(MemFlagsData::trusted(), start, self.cpu, layout::EIP);
        let (cpu, ctx) = (self.cpu, self.ctx);
        let st = self.call(Helper::FetchExec, &[cpu, ctx]).unwrap();
        let accesses = self.accesses[self.k];
        let chains = self.b.ins().icmp_imm_u(IntCC::Equal, st, status::CHAIN_TAKEN as i64);
        let (go_on, leave) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(chains, go_on, &[], leave, &[]);
        self.b.switch_to_block(leave);
        // OK, SMC or FAULT: the dispatcher takes over (a fault is delivered there; the
        // faulting instruction counts, as `Cpu::step` counts it).
        self.sync_icount(self.k + 1);
        self.count_accesses(accesses);
        self.b.ins().return_(&[st]);
        self.b.switch_to_block(go_on);
        let eip = self.b.ins().load(types::I32, MemFlagsData::trusted(), self.cpu, layout::EIP);
        self.exit_counting(eip, self.k + 1, accesses, status::CHAIN_TAKEN);
    }

    // ---- guest registers ----------------------------------------------------------------------

    fn reg32(&mut self, n: u8) -> Value {
        self.slot(n as usize)
    }

    fn set_reg32(&mut self, n: u8, v: Value) {
        self.set_slot(n as usize, v)
    }

    /// General register `n` at `size` (bytes 4-7 are AH..BH), zero-extended.
    fn reg(&mut self, n: u8, size: Size) -> Value {
        match size {
            Size::B if n >= 4 => {
                let r = self.reg32(n - 4);
                let s = self.b.ins().ushr_imm_u(r, 8);
                self.mask(s, Size::B)
            }
            Size::D => self.reg32(n),
            _ => {
                let r = self.reg32(n);
                self.mask(r, size)
            }
        }
    }

    /// Writes `v` to register `n` at `size`, keeping the other bits.
    fn set_reg(&mut self, n: u8, size: Size, v: Value) {
        match size {
            Size::D => self.set_reg32(n, v),
            Size::B if n >= 4 => {
                let old = self.reg32(n - 4);
                let keep = self.b.ins().band_imm_u(old, !0xff00i64 & 0xffff_ffff);
                let low = self.mask(v, Size::B);
                let hi = self.b.ins().ishl_imm_u(low, 8);
                let new = self.b.ins().bor(keep, hi);
                self.set_reg32(n - 4, new);
            }
            _ => {
                let old = self.reg32(n);
                let keep = self.b.ins().band_imm_u(old, !(size.mask() as i64) & 0xffff_ffff);
                let low = self.mask(v, size);
                let new = self.b.ins().bor(keep, low);
                self.set_reg32(n, new);
            }
        }
    }

    fn mask(&mut self, v: Value, size: Size) -> Value {
        match size {
            Size::D => v,
            _ => self.b.ins().band_imm_u(v, size.mask() as i64),
        }
    }

    // ---- lazy flags ---------------------------------------------------------------------------

    /// Records a flags-setting operation as the interpreter's `set_cc` does: `cc_src2` keeps what
    /// it held when the kind does not use it (so a block that ends with a CMP or TEST stores three
    /// fields, not four). (`cc_src` is written even where the kind does not read it: else a shift's
    /// flags word, `Cache::Word`, would outlive a TEST and be built at every later exit.)
    fn set_cc(&mut self, kind: u32, size: Size, dst: Value, src: Value, src2: Value) {
        let op = self.c32(CcOp::new(kind, size).0);
        self.set_slot(CC_OP, op);
        self.set_slot(CC_DST, dst);
        self.set_slot(CC_SRC, src);
        if CcOp::uses_src2(kind) {
            self.set_slot(CC_SRC2, src2);
        }
        self.flags = FlagSrc::Lazy(kind, size);
    }

    /// Sets the six arithmetic flags to `flags` (the interpreter's `set_arith`).
    fn set_arith(&mut self, flags: Value) {
        let op = self.c32(CcOp::EFLAGS);
        self.set_slot(CC_OP, op);
        self.set_slot(CC_SRC, flags);
        self.flags = FlagSrc::Eflags(KnownFlags::default());
    }

    /// [`Emitter::set_arith`] from the six flags, in the order CF, PF, AF, ZF, SF, OF; they stay
    /// known, so a later reader of one flag builds it alone.
    fn set_arith_parts(&mut self, parts: [Part; 6]) {
        let op = self.c32(CcOp::EFLAGS);
        self.set_slot(CC_OP, op);
        // The word itself is put together where it is needed (see `Cache::Word`).
        self.cache[CC_SRC] = Some(Cached { v: Cache::Word(parts), dirty: true });
        self.flags = FlagSrc::Eflags(KnownFlags(parts.map(Some)));
    }

    /// The EFLAGS word of the six flags (CF, PF, AF, ZF, SF, OF).
    fn arith_from(&mut self, parts: [Part; 6]) -> Value {
        use emu_cpu_x86::state::eflags::*;
        let mut word = None;
        // A recipe that stands for two flags (a multiply's CF and OF) is built once.
        let mut built: Vec<(Part, Value)> = Vec::new();
        for (p, bit) in parts.into_iter().zip([CF, PF, AF, ZF, SF, OF]) {
            if matches!(p, Part::Val(v) if self.const_bool(v) == Some(false)) {
                continue;
            }
            let v = match built.iter().find(|(q, _)| *q == p) {
                Some(&(_, v)) => v,
                None => {
                    let v = self.part(p);
                    built.push((p, v));
                    v
                }
            };
            let w = self.b.ins().uextend(types::I32, v);
            let w = if bit == 1 { w } else { self.b.ins().ishl_imm_u(w, bit.trailing_zeros() as i64) };
            word = Some(match word {
                Some(x) => self.b.ins().bor(x, w),
                None => w,
            });
        }
        match word {
            Some(w) => w,
            None => self.c32(0),
        }
    }

    /// The i8 0/1 value of flag `p`, built here.
    fn part(&mut self, p: Part) -> Value {
        match p {
            Part::Val(v) => v,
            Part::Zero(x) => self.b.ins().icmp_imm_u(IntCC::Equal, x, 0),
            Part::Bit(x, bit) => self.bit_set(x, bit),
            Part::Xor(x, a, y, b) => {
                let a = self.bit_set(x, a);
                let b = self.bit_set(y, b);
                self.b.ins().bxor(a, b)
            }
            Part::Parity(x) => self.parity(x),
            Part::MulOverflow(a, b, size) => muldiv::signed_overflow(self, a, b, size),
        }
    }

    /// The value of `v` if it is an i8 `iconst`.
    fn const_bool(&self, v: Value) -> Option<bool> {
        (self.b.func.dfg.value_type(v) == types::I8).then(|| self.const_of(v).map(|c| c != 0)).flatten()
    }

    fn bool_const(&mut self, b: bool) -> Value {
        self.b.ins().iconst(types::I8, b as i64)
    }

    /// Nonzero test of `v & bit`, as an i8.
    fn bit_set(&mut self, v: Value, bit: u32) -> Value {
        let x = self.b.ins().band_imm_u(v, bit as i64);
        self.b.ins().icmp_imm_u(IntCC::NotEqual, x, 0)
    }

    /// PF of `res`: even number of ones in the low byte.
    fn parity(&mut self, res: Value) -> Value {
        let low = self.b.ins().band_imm_u(res, 0xff);
        let n = self.b.ins().popcnt(low);
        let odd = self.b.ins().band_imm_u(n, 1);
        self.b.ins().icmp_imm_u(IntCC::Equal, odd, 0)
    }

    /// Sign-extends the low `size` bits of `v` for a signed compare (as the top bits of an i32).
    fn sign_at_top(&mut self, v: Value, size: Size) -> Value {
        match size {
            Size::D => v,
            _ => self.b.ins().ishl_imm_u(v, 32 - size.bits() as i64),
        }
    }

    /// One arithmetic flag (an eflags bit) from what the translator knows, as an i8.
    fn flag(&mut self, kind: u32, size: Size, bit: u32) -> Value {
        use emu_cpu_x86::state::eflags::*;
        if kind == CcOp::EFLAGS {
            if let FlagSrc::Eflags(KnownFlags(known)) = self.flags {
                if let Some(p) = known[KnownFlags::index(bit)] {
                    return self.part(p);
                }
            }
            let f = self.slot(CC_SRC);
            return self.bit_set(f, bit);
        }
        let res = self.slot(CC_DST);
        let sign = size.sign();
        match bit {
            ZF => self.b.ins().icmp_imm_u(IntCC::Equal, res, 0),
            SF => self.bit_set(res, sign),
            PF => self.parity(res),
            CF => match kind {
                CcOp::ADD => {
                    let b = self.slot(CC_SRC);
                    self.b.ins().icmp(IntCC::UnsignedLessThan, res, b)
                }
                CcOp::SUB => {
                    let (a, b) = self.sub_operands(size);
                    self.b.ins().icmp(IntCC::UnsignedLessThan, a, b)
                }
                // With a carry (borrow) in: res <= b (a <= b) instead of res < b (a < b).
                CcOp::ADC => {
                    let b = self.slot(CC_SRC);
                    self.carry_compare(res, b)
                }
                CcOp::SBB => {
                    let (a, b) = self.sub_operands(size);
                    self.carry_compare(a, b)
                }
                CcOp::INC | CcOp::DEC => {
                    let c = self.slot(CC_SRC2);
                    self.b.ins().icmp_imm_u(IntCC::NotEqual, c, 0)
                }
                _ => self.bool_const(false),
            },
            _ => match kind {
                CcOp::ADD | CcOp::ADC => {
                    let b = self.slot(CC_SRC);
                    let a = self.b.ins().isub(res, b);
                    let a = if kind == CcOp::ADC {
                        let cin = self.slot(CC_SRC2);
                        self.b.ins().isub(a, cin)
                    } else {
                        a
                    };
                    let x = self.b.ins().bxor(a, res);
                    let y = self.b.ins().bxor(b, res);
                    let z = self.b.ins().band(x, y);
                    self.bit_set(z, sign)
                }
                CcOp::SUB | CcOp::SBB => {
                    let (a, b) = self.sub_operands(size);
                    let x = self.b.ins().bxor(a, b);
                    let y = self.b.ins().bxor(a, res);
                    let z = self.b.ins().band(x, y);
                    self.bit_set(z, sign)
                }
                CcOp::INC => self.b.ins().icmp_imm_u(IntCC::Equal, res, sign as i64),
                CcOp::DEC => self.b.ins().icmp_imm_u(IntCC::Equal, res, (sign - 1) as i64),
                _ => self.bool_const(false),
            },
        }
    }

    /// For a lazy SUB or SBB: the operands `a` (= res + src (+ borrow in), at the size) and `b`.
    fn sub_operands(&mut self, size: Size) -> (Value, Value) {
        let res = self.slot(CC_DST);
        let b = self.slot(CC_SRC);
        if let (FlagSrc::Lazy(CcOp::SUB, _), Some((r, a))) = (self.flags, self.sub_first) {
            if r == res {
                return (a, b);
            }
        }
        let mut a = self.b.ins().iadd(res, b);
        if let FlagSrc::Lazy(CcOp::SBB, _) = self.flags {
            let cin = self.slot(CC_SRC2);
            a = self.b.ins().iadd(a, cin);
        }
        (self.mask(a, size), b)
    }

    /// The carry of a lazy ADC (`x` the result) or borrow of an SBB (`x` the first operand):
    /// `x < b`, or `x == b` with a carry in (`cc_src2`, 0 or 1).
    fn carry_compare(&mut self, x: Value, b: Value) -> Value {
        let lt = self.b.ins().icmp(IntCC::UnsignedLessThan, x, b);
        let eq = self.b.ins().icmp(IntCC::Equal, x, b);
        let cin = self.slot(CC_SRC2);
        let cin = self.b.ins().icmp_imm_u(IntCC::NotEqual, cin, 0);
        let eq = self.b.ins().band(eq, cin);
        self.b.ins().bor(lt, eq)
    }

    /// Condition code `cc` (Jcc/SETcc/CMOVcc's low nibble) as an i8 0/1.
    fn cond(&mut self, cc: u8) -> Value {
        use emu_cpu_x86::state::eflags::*;
        let (kind, size) = match self.flags {
            FlagSrc::Lazy(k, s) => (k, s),
            FlagSrc::Eflags(_) => (CcOp::EFLAGS, Size::D),
            FlagSrc::Unknown if matches!(cc >> 1, 1..=3) => {
                let v = match cc >> 1 {
                    1 => self.unknown_cf(),
                    2 => self.unknown_zf(),
                    _ => {
                        let c = self.unknown_cf();
                        let z = self.unknown_zf();
                        self.b.ins().bor(c, z)
                    }
                };
                return if cc & 1 != 0 { self.not(v) } else { v };
            }
            FlagSrc::Unknown => {
                // The other conditions (O, S, P, L, LE): after a 32-bit SUB (CMP) or logical
                // operation as if the kind were known, each one compare away (a JL in the block
                // after that of a CMP and a JE); else the helper, which reads the state (so the
                // cache is stored first), through a trampoline that keeps every register.
                self.flush(CC_OP..SLOTS);
                let (sub_d, logic_d) = (CcOp::new(CcOp::SUB, Size::D).0, CcOp::new(CcOp::LOGIC, Size::D).0);
                let c = cc & !1;
                let v = self.unknown_flag(
                    &[(!0, sub_d), (!0, logic_d)],
                    |e| {
                        let (cpu, ctx, c) = (e.cpu, e.ctx, e.c32(c as u32));
                        let r = e.call(Helper::Condition, &[cpu, ctx, c]).unwrap();
                        e.b.ins().icmp_imm_u(IntCC::NotEqual, r, 0)
                    },
                    |e, op| {
                        let kind = if op == sub_d { CcOp::SUB } else { CcOp::LOGIC };
                        e.flags = FlagSrc::Lazy(kind, Size::D);
                        let v = e.cond(c);
                        e.flags = FlagSrc::Unknown;
                        v
                    },
                );
                return if cc & 1 != 0 { self.not(v) } else { v };
            }
        };
        let v = match (kind, cc >> 1) {
            (CcOp::SUB, 1 | 3 | 6 | 7) => {
                let (a, b) = self.sub_operands(size);
                match cc >> 1 {
                    1 => self.b.ins().icmp(IntCC::UnsignedLessThan, a, b),
                    3 => self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, a, b),
                    n => {
                        let (sa, sb) = (self.sign_at_top(a, size), self.sign_at_top(b, size));
                        let c = if n == 6 { IntCC::SignedLessThan } else { IntCC::SignedLessThanOrEqual };
                        self.b.ins().icmp(c, sa, sb)
                    }
                }
            }
            (_, 0) => self.flag(kind, size, OF),
            (_, 1) => self.flag(kind, size, CF),
            (_, 2) => self.flag(kind, size, ZF),
            (_, 3) => {
                let c = self.flag(kind, size, CF);
                let z = self.flag(kind, size, ZF);
                self.b.ins().bor(c, z)
            }
            (_, 4) => self.flag(kind, size, SF),
            (_, 5) => self.flag(kind, size, PF),
            (_, n) => {
                let s = self.flag(kind, size, SF);
                let o = self.flag(kind, size, OF);
                let l = self.b.ins().bxor(s, o);
                if n == 6 {
                    l
                } else {
                    let z = self.flag(kind, size, ZF);
                    self.b.ins().bor(l, z)
                }
            }
        };
        if cc & 1 != 0 {
            self.not(v)
        } else {
            v
        }
    }

    /// `!v` for an i8 0/1 `v`: the compare with the opposite condition when `v` is a compare
    /// (which a branch on it can still fuse with: `cmp; jae` rather than `setb; xor; test;
    /// jne`), else `v ^ 1`. The compare's operands are available wherever `v` is.
    fn not(&mut self, v: Value) -> Value {
        use cranelift_codegen::ir::condcodes::CondCode;
        if let Some(inst) = self.b.func.dfg.value_def(v).inst() {
            if let ir::InstructionData::IntCompare { opcode: ir::Opcode::Icmp, cond, args } =
                self.b.func.dfg.insts[inst]
            {
                return self.b.ins().icmp(cond.complement(), args[0], args[1]);
            }
        }
        self.b.ins().bxor_imm_u(v, 1)
    }

    /// The operand-size mask of the lazy flags in the state (`cc_op`'s size code: 0 byte, 1 word,
    /// 2 dword).
    fn unknown_mask(&mut self) -> Value {
        let op = self.slot(CC_OP);
        let code = self.b.ins().band_imm_u(op, 3);
        let code = self.b.ins().uextend(types::I64, code);
        let bits = self.b.ins().iconst(types::I64, 8);
        let bits = self.b.ins().ishl(bits, code);
        let one = self.b.ins().iconst(types::I64, 1);
        let m = self.b.ins().ishl(one, bits);
        let m = self.b.ins().iadd_imm_s(m, -1);
        self.b.ins().ireduce(types::I32, m)
    }

    /// CF from lazy flags known only at run time. Blocks mostly inherit the flags of a CMP or
    /// SUB, or an ADD, at 32 bits (the compare that ended the block before), or of a logical
    /// operation (TEST, AND...: CF clear): those are tested for first, each one compare;
    /// everything else goes to [`Emitter::unknown_cf_any`].
    fn unknown_cf(&mut self) -> Value {
        let sub_d = CcOp::new(CcOp::SUB, Size::D).0;
        let add_d = CcOp::new(CcOp::ADD, Size::D).0;
        let logic = CcOp::new(CcOp::LOGIC, Size::B).0 & !3;
        self.unknown_flag(&[(!0, sub_d), (!0, add_d), (!3, logic)], Self::unknown_cf_any, |e, op| {
            let (dst, src) = (e.slot(CC_DST), e.slot(CC_SRC));
            if op == sub_d {
                // a - b = dst, so a = dst + b; CF = a < b.
                let a = e.b.ins().iadd(dst, src);
                e.b.ins().icmp(IntCC::UnsignedLessThan, a, src)
            } else if op == add_d {
                e.b.ins().icmp(IntCC::UnsignedLessThan, dst, src)
            } else {
                e.bool_const(false)
            }
        })
    }

    /// Whether a lazy-flags field is cached with a value the state does not have yet.
    fn flags_dirty(&self) -> bool {
        self.cache[CC_OP..SLOTS].iter().any(|c| c.is_some_and(|c| c.dirty))
    }

    /// A flag from lazy flags known only at run time: for each `(mask, value)` in `likely`, a
    /// test of `cc_op & mask == value` and a branch to `fast(value)`'s code, and `any`'s general
    /// code for the rest; the flag (an i8) is the parameter of the block they join at.
    fn unknown_flag(
        &mut self,
        likely: &[(u32, u32)],
        any: impl FnOnce(&mut Self) -> Value,
        fast: impl Fn(&mut Self, u32) -> Value,
    ) -> Value {
        // Every field any path reads is loaded here, before the branches: a field first loaded
        // in one of them would not be available after the join. (`cc_src2` only the general
        // code inline reads, see `unknown_cf_any`.)
        let last = if self.flags_dirty() { SLOTS } else { CC_SRC2 };
        for n in CC_OP..last {
            self.slot(n);
        }
        let op = self.slot(CC_OP);
        let join = self.b.create_block();
        let flag = self.b.append_block_param(join, types::I8);
        for &(mask, want) in likely {
            let (this, next) = (self.b.create_block(), self.b.create_block());
            let x = if mask == !0 { op } else { self.b.ins().band_imm_u(op, mask as i64) };
            let is = self.b.ins().icmp_imm_u(IntCC::Equal, x, want as i64);
            self.b.ins().brif(is, this, &[], next, &[]);
            self.b.switch_to_block(this);
            let f = fast(self, want);
            self.b.ins().jump(join, &[f.into()]);
            self.b.switch_to_block(next);
        }
        let f = any(self);
        self.b.ins().jump(join, &[f.into()]);
        self.b.switch_to_block(join);
        flag
    }

    /// CF from lazy flags known only at run time, for the kinds [`Emitter::unknown_cf`] does not
    /// test for: the carry of `flags::arith_flags`, through its helper (a trampoline that keeps
    /// every register). Computed inline instead, that took a dozen host registers, enough to make
    /// the block save and restore callee-saved ones at every entry, for a path rarely taken.
    /// Inline still when the state does not have the flags the block holds (after a shift or
    /// rotate by CL in the block: [`FlagSrc::Unknown`]).
    fn unknown_cf_any(&mut self) -> Value {
        if !self.flags_dirty() {
            let (cpu, ctx) = (self.cpu, self.ctx);
            let w = self.call(Helper::ArithFlags, &[cpu, ctx]).unwrap();
            return self.bit_set(w, emu_cpu_x86::state::eflags::CF);
        }
        let op = self.slot(CC_OP);
        let kind = self.b.ins().ushr_imm_u(op, 2);
        let m = self.unknown_mask();
        let dst = self.slot(CC_DST);
        let src = self.slot(CC_SRC);
        let res = self.b.ins().band(dst, m);
        let b = self.b.ins().band(src, m);
        let src2 = self.slot(CC_SRC2);
        // The carry in: `cc_src2` of ADC and SBB (the other kinds leave it as it was).
        let held = self.b.ins().band_imm_u(src2, 1);
        let is_adc = self.b.ins().icmp_imm_u(IntCC::Equal, kind, CcOp::ADC as i64);
        let is_sbb = self.b.ins().icmp_imm_u(IntCC::Equal, kind, CcOp::SBB as i64);
        let with_cin = self.b.ins().bor(is_adc, is_sbb);
        let zero32 = self.c32(0);
        let cin = self.b.ins().select(with_cin, held, zero32);
        let cin8 = self.b.ins().icmp_imm_u(IntCC::NotEqual, cin, 0);
        // INC and DEC keep CF in `cc_src2`.
        let kept = self.b.ins().icmp_imm_u(IntCC::NotEqual, held, 0);
        // ADD, ADC: res < b, or res == b with a carry in.
        let lt = self.b.ins().icmp(IntCC::UnsignedLessThan, res, b);
        let eq = self.b.ins().icmp(IntCC::Equal, res, b);
        let eq = self.b.ins().band(eq, cin8);
        let add = self.b.ins().bor(lt, eq);
        // SUB, SBB: a = res + b + cin; a < b, or a == b with a borrow in.
        let a = self.b.ins().iadd(res, b);
        let a = self.b.ins().iadd(a, cin);
        let a = self.b.ins().band(a, m);
        let lt = self.b.ins().icmp(IntCC::UnsignedLessThan, a, b);
        let eq = self.b.ins().icmp(IntCC::Equal, a, b);
        let eq = self.b.ins().band(eq, cin8);
        let sub = self.b.ins().bor(lt, eq);
        // EFLAGS: bit 0 of cc_src; INC, DEC: the carry they kept; LOGIC: 0.
        let ef = self.bit_set(src, emu_cpu_x86::state::eflags::CF);
        let zero = self.bool_const(false);
        let is_incdec = self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, kind, CcOp::INC as i64);
        let other = self.b.ins().select(is_incdec, kept, zero);
        let is_ef = self.b.ins().icmp_imm_u(IntCC::Equal, kind, CcOp::EFLAGS as i64);
        let other = self.b.ins().select(is_ef, ef, other);
        let is_sub = self.b.ins().iadd_imm_s(kind, -(CcOp::SUB as i64));
        let is_sub = self.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, is_sub, 2);
        let other = self.b.ins().select(is_sub, sub, other);
        let is_add = self.b.ins().iadd_imm_s(kind, -(CcOp::ADD as i64));
        let is_add = self.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, is_add, 2);
        self.b.ins().select(is_add, add, other)
    }

    /// ZF from lazy flags known only at run time: for any 32-bit operation (size code 2) the
    /// result is zero, else [`Emitter::unknown_zf_any`]. (`cc_op` is EFLAGS only as the value 0,
    /// `CcOp::Eflags`, whose size code is 0: both tiers store it so.)
    fn unknown_zf(&mut self) -> Value {
        self.unknown_flag(&[(3, 2)], Self::unknown_zf_any, |e, _| {
            let dst = e.slot(CC_DST);
            e.b.ins().icmp_imm_u(IntCC::Equal, dst, 0)
        })
    }

    /// ZF from lazy flags known only at run time, inline: bit 6 of `cc_src` for EFLAGS, else
    /// the result at the operation's size is zero.
    fn unknown_zf_any(&mut self) -> Value {
        let op = self.slot(CC_OP);
        let kind = self.b.ins().ushr_imm_u(op, 2);
        let m = self.unknown_mask();
        let dst = self.slot(CC_DST);
        let res = self.b.ins().band(dst, m);
        let z = self.b.ins().icmp_imm_u(IntCC::Equal, res, 0);
        let src = self.slot(CC_SRC);
        let ef = self.bit_set(src, emu_cpu_x86::state::eflags::ZF);
        let is_ef = self.b.ins().icmp_imm_u(IntCC::Equal, kind, CcOp::EFLAGS as i64);
        self.b.ins().select(is_ef, ef, z)
    }

    /// AF of a lazy operation of `kind` at `size` (not EFLAGS), as an i8.
    fn aux_flag(&mut self, kind: u32, size: Size) -> Value {
        use emu_cpu_x86::state::eflags::AF;
        let res = self.slot(CC_DST);
        match kind {
            CcOp::ADD | CcOp::ADC | CcOp::SUB | CcOp::SBB => {
                // a ^ b ^ res, with a recovered as `flags::arith_flags` does (bit 4 only).
                let b = self.slot(CC_SRC);
                let a = if matches!(kind, CcOp::ADD | CcOp::ADC) {
                    let a = self.b.ins().isub(res, b);
                    if kind == CcOp::ADC {
                        let cin = self.slot(CC_SRC2);
                        self.b.ins().isub(a, cin)
                    } else {
                        a
                    }
                } else {
                    self.sub_operands(size).0
                };
                let x = self.b.ins().bxor(a, b);
                let x = self.b.ins().bxor(x, res);
                self.bit_set(x, AF)
            }
            CcOp::INC | CcOp::DEC => {
                let low = self.b.ins().band_imm_u(res, 0xf);
                self.b.ins().icmp_imm_u(IntCC::Equal, low, if kind == CcOp::INC { 0 } else { 0xf })
            }
            _ => self.bool_const(false),
        }
    }

    /// The six arithmetic flags as an EFLAGS word (`flags::arith_flags`): the recorded word,
    /// built inline from a lazy operation the translator knows, or from the helper.
    fn arith_word(&mut self) -> Value {
        use emu_cpu_x86::state::eflags::*;
        match self.flags {
            FlagSrc::Eflags(_) => self.slot(CC_SRC),
            FlagSrc::Lazy(kind, size) => {
                let mut word = None;
                for bit in [CF, PF, AF, ZF, SF, OF] {
                    let f = if bit == AF { self.aux_flag(kind, size) } else { self.flag(kind, size, bit) };
                    if self.const_bool(f) == Some(false) {
                        continue;
                    }
                    let w = self.b.ins().uextend(types::I32, f);
                    let w = self.b.ins().ishl_imm_u(w, bit.trailing_zeros() as i64);
                    word = Some(match word {
                        Some(x) => self.b.ins().bor(x, w),
                        None => w,
                    });
                }
                word.unwrap_or_else(|| self.c32(0))
            }
            FlagSrc::Unknown => {
                self.flush(CC_OP..SLOTS);
                let (cpu, ctx) = (self.cpu, self.ctx);
                self.call(Helper::ArithFlags, &[cpu, ctx]).unwrap()
            }
        }
    }

    /// The arithmetic flags the translator knows as separate values.
    fn known_flags(&self) -> KnownFlags {
        match self.flags {
            FlagSrc::Eflags(k) => k,
            _ => KnownFlags::default(),
        }
    }

    /// [`Emitter::set_arith`] with `word`, of which the flags in `known` (i8 0/1 values) are
    /// known separately.
    fn set_arith_known(&mut self, word: Value, known: KnownFlags) {
        self.set_arith(word);
        self.flags = FlagSrc::Eflags(known);
    }

    /// CF as an i32 0/1 (for INC/DEC, which keep it).
    fn carry(&mut self) -> Value {
        let c = self.cond(2);
        self.b.ins().uextend(types::I32, c)
    }
}

/// The IR text of a block, as `--dump-jit` and the golden tests show it.
pub fn ir_text(func: &Function) -> String {
    func.display().to_string()
}

/// For `ir::` users outside.
pub use ir::Function as IrFunction;
