//! The dispatcher: `Cpu::run`'s loop with translated blocks instead of single instructions.
//!
//! **Invariant:** between two blocks the dispatcher does exactly what `Cpu::run` does between two
//! instructions (shutdown, the board's attention, the clock, external interrupts, halt), and
//! first invalidates the blocks on every page written since the last block; a block runs only
//! if all its instructions fit in the budget, so `icount` ends exactly where the interpreter's
//! would. Whatever cannot run as a block (an interrupt shadow, an instruction that crosses into
//! a page the TLB has not mapped yet, code outside RAM and ROM, a fetch fault, armed debug
//! traps, the last few instructions of the budget) runs in the interpreter.
//!
//! **The clock.** `Cpu::run` syncs the clock and runs device timers exactly when `icount`
//! reaches `Cpu::sys_deadline_icount`, the sync point `Cpu::sync_clock` set (every
//! `emu_core::clock::SYNC_INTERVAL` instructions in deterministic mode; in real-time mode an
//! interval that follows the guest's speed, see `emu_core::clock`). A block may run past that
//! deadline; the dispatcher then syncs afterwards *as of the deadline* (the same guest time, the
//! same next deadline), which is the same run as long as nothing in the block after the
//! deadline could tell. So a block that does port I/O (a device reads the time), or that would
//! cross a deadline at which a device timer is due (its interrupt must arrive at that
//! instruction), does not run across it: the interpreter runs up to the deadline instead. A
//! deterministic run is thus the same run in both tiers. Not covered in deterministic mode: a
//! time-dependent MMIO register read inside a block after a deadline it crossed sees the time
//! of the sync before. In real-time mode every device access syncs first
//! (`Cpu::sync_clock_for_device`, from the helpers generated code calls), which moves the
//! deadline: so the dispatcher reads it again after a block.

use crate::cache::{Block, BlockId, Cells, Link};
use crate::code::CodeError;
use crate::helpers::status;
use crate::key::{BlockKey, ModeKey};
use crate::translate::{self, crosses_page, MAX_BLOCK_INSNS};
use crate::warmup::Cold;
use crate::worker;
use crate::Jit;
use emu_core::ClockMode;
use emu_cpu_x86::interp::Delivery;
use emu_cpu_x86::state::{eflags, SegReg};
use emu_cpu_x86::{Cpu, Stop};
use std::time::Instant;

/// Whether the dispatcher must do something besides looking up the next block: what the top of
/// [`Jit::run`] checks, apart from the budget and the clock deadline.
#[inline]
pub(crate) fn must_stop(cpu: &mut Cpu) -> bool {
    cpu.shutdown || cpu.s.halted || cpu.s.irq_shadow || cpu.debug_step_needed() || touched_by_access(cpu)
}

/// The part of [`must_stop`] a memory access can change: a wire a device moved (the board's
/// attention), DMA or code writes to invalidate, an interrupt pending and enabled (a timer run
/// by the access's clock sync may raise one without the board's attention, as the local APIC's
/// does).
#[inline]
pub(crate) fn touched_by_access(cpu: &mut Cpu) -> bool {
    cpu.sys.lines.attention_pending()
        || !cpu.smc_writes.is_empty()
        || cpu.sys.has_written_pages()
        || (cpu.s.flags & eflags::IF != 0 && cpu.sys.intr())
}

impl Jit {
    /// Runs until `budget` instructions have retired, the CPU halts, or the board needs attention
    /// (the same contract as `Cpu::run`).
    pub fn run(&mut self, cpu: &mut Cpu, budget: u64) -> Stop {
        self.check_ram(cpu, true);
        let end = cpu.s.icount.saturating_add(budget);
        self.pending_link = None;
        while cpu.s.icount < end {
            // A chainable exit of the block just run, to be linked to the block found next if
            // nothing happens in between.
            let from = self.pending_link.take();
            if cpu.shutdown {
                return Stop::Shutdown;
            }
            if cpu.sys.lines.take_attention() {
                cpu.sync_a20();
                // A reset request is the machine's to take (it may end the run, --no-reboot).
                if cpu.sys.lines.exit().is_some()
                    || cpu.sys.lines.firmware_call_pending()
                    || cpu.sys.lines.reset_pending()
                {
                    return Stop::Attention;
                }
                if cpu.deliver_nmi() {
                    continue;
                }
            }
            if cpu.s.icount >= cpu.sys_deadline_icount {
                cpu.sync_clock();
            }
            if !cpu.s.irq_shadow && cpu.s.flags & eflags::IF != 0 && cpu.sys.intr() {
                if let Some(v) = cpu.sys.acknowledge_interrupt() {
                    cpu.s.halted = false;
                    cpu.interrupt(v, Delivery::External);
                    continue;
                }
            }
            if cpu.s.halted {
                return Stop::Halted;
            }
            self.invalidate_written(cpu);
            self.check_ram(cpu, false);
            if cpu.s.irq_shadow || cpu.debug_step_needed() {
                // The interrupt shadow, and debug traps (TF, breakpoints, RF) are per instruction.
                self.stats.interp_steps += 1;
                cpu.step();
                continue;
            }
            let left = end - cpu.s.icount;
            let found = self.find(cpu);
            if let (Some((link, slot)), Some(id)) = (from, found) {
                self.cache.set_link(link, slot, id);
            }
            if let (true, Some(id)) = (self.chain, found) {
                // Computed branches to this block may find it from now on (`cache`).
                self.cache.fill_jump(id);
            }
            match found {
                Some(id) if self.fits(cpu, id, left) => {
                    if self.checker.is_some() {
                        let deadline = cpu.sys_deadline_icount;
                        if let Some(stop) = self.run_checked(cpu, id) {
                            return stop;
                        }
                        if cpu.s.icount > deadline {
                            cpu.sync_clock_at(deadline);
                        }
                    } else {
                        self.run_chain(cpu, id, end);
                    }
                }
                Some(_) => {
                    // The interpreter runs up to the deadline or the budget's end, whichever is
                    // first (see the module comment).
                    let (stop, _) = self.interpret(cpu, left);
                    if stop != Stop::Budget {
                        return stop;
                    }
                }
                None if self.hot => {
                    // A hot page (see `throttle`): the interpreter runs up to the next deadline.
                    let (stop, ran) = self.interpret(cpu, left);
                    self.stats.hot_insns += ran;
                    if stop != Stop::Budget {
                        return stop;
                    }
                }
                None if self.cold > 0 => {
                    // A block still warming up (or being compiled in the background): the
                    // interpreter runs it from its decoded run (and the blocks after it there,
                    // `runs`), within the budget's end and the clock deadline; without a run,
                    // as many instructions as the block holds, within both.
                    let room = left.min(cpu.sys_deadline_icount.saturating_sub(cpu.s.icount));
                    let mut decoded = 0;
                    if let Some(s) = self.run_slot.filter(|_| room > 0) {
                        self.runs.prefetch_next(s, &self.warmup);
                        let (cache, background) = (&mut self.cache, &self.background);
                        let realtime = cpu.sys.clock.mode() == ClockMode::RealTime;
                        let (ran, blocks) = self.runs.run(
                            s,
                            cpu,
                            left,
                            &mut self.warmup,
                            // (A lookup: its negative entry answers the next run's check.)
                            |k| cache.lookup(k).is_some(),
                            |heat| match background {
                                Some(bg) if realtime => bg.ran(heat),
                                _ => {}
                            },
                        );
                        self.stats.run_blocks += blocks as u64;
                        decoded = ran;
                    }
                    let (stop, ran) = if decoded > 0 {
                        self.stats.interp_steps += decoded;
                        self.stats.decoded_insns += decoded;
                        (Stop::Budget, decoded)
                    } else {
                        self.interpret(cpu, left.min(self.cold as u64))
                    };
                    self.stats.warmup_insns += ran;
                    if self.compiling {
                        self.stats.compiling_insns += ran;
                    }
                    if stop != Stop::Budget {
                        return stop;
                    }
                }
                None => {
                    self.stats.interp_steps += 1;
                    cpu.step();
                }
            }
        }
        if cpu.shutdown {
            Stop::Shutdown
        } else {
            Stop::Budget
        }
    }

    /// Keeps the blocks' RAM window (`translate::RamWindow`) that of `cpu`'s machine: when the
    /// machine's map changed since the last check (or `entry`: `Jit::run` was called, perhaps
    /// with another machine), the window is computed again, and if it differs, blocks built
    /// with the old one are flushed. Blocks end at the port I/O that moves a device's range, so
    /// none runs between the change and this check.
    #[inline]
    fn check_ram(&mut self, cpu: &mut Cpu, entry: bool) {
        let generation = cpu.sys.mmio_generation();
        if !entry && generation == self.mmio_generation {
            return;
        }
        self.mmio_generation = generation;
        let ram = translate::RamWindow::of(cpu);
        if ram != self.ram {
            if self.ram.is_some() {
                self.flush(cpu);
            }
            self.ram = ram;
        }
    }

    /// Runs the interpreter for at most `cap` instructions (at least one), and no further than
    /// the clock deadline; returns why it stopped and how many instructions it ran.
    fn interpret(&mut self, cpu: &mut Cpu, cap: u64) -> (Stop, u64) {
        let n = cap.min(cpu.sys_deadline_icount.saturating_sub(cpu.s.icount)).max(1);
        let before = cpu.s.icount;
        let stop = cpu.run(n);
        let ran = cpu.s.icount - before;
        self.stats.interp_steps += ran;
        (stop, ran)
    }

    /// Whether block `id` may run now: it fits in the `left` instructions of the budget, and it
    /// ends by the clock deadline or nothing in it can tell the deadline passed late (no port
    /// I/O, no device timer due by then).
    fn fits(&self, cpu: &Cpu, id: BlockId, left: u64) -> bool {
        let b = self.cache.get(id);
        let n = b.insns.len() as u64;
        let deadline = cpu.sys_deadline_icount;
        n <= left
            && (cpu.s.icount + n <= deadline
                || !b.io && !b.refetch && !cpu.sys.clock.sync_reaches(deadline, cpu.sys.next_deadline()))
    }

    /// Runs block `id`, then, while the dispatcher would do nothing but look up the next block,
    /// the blocks its chainable exits are linked to (see the module comment). Leaves a pending
    /// link when a chainable exit has no usable link yet.
    fn run_chain(&mut self, cpu: &mut Cpu, mut id: BlockId, end: u64) {
        loop {
            let deadline = cpu.sys_deadline_icount;
            // Generated code may chain on by itself while no successor crosses the deadline or
            // the budget's end; everything else in `must_stop` can only change in the helpers,
            // which then stop it.
            // ...and never more than `MAX_CHAIN_AHEAD` instructions ahead, which is what makes an
            // empty link cell never fit (`LinkCell::EMPTY`); no chaining at all so near the end of
            // the count's range that the code's sums could wrap.
            if self.chain {
                // (The code adds a cell's length, at most 2^32 - 1, to a count at most the limit.)
                self.ctx.chain_limit = match cpu.s.icount.checked_add(1 << 34) {
                    Some(_) => end.min(deadline).min(cpu.s.icount + crate::cache::MAX_CHAIN_AHEAD),
                    None => 0,
                };
            }
            let (st, last) = self.exec(cpu, id);
            id = last;
            // Read again: in real-time mode a device access in the blocks may have synced.
            let deadline = cpu.sys_deadline_icount;
            if cpu.s.icount > deadline {
                cpu.sync_clock_at(deadline);
                return;
            }
            let Some(slot) = status::chain_slot(st).filter(|_| self.chain) else { return };
            if cpu.s.icount >= end || cpu.s.icount >= cpu.sys_deadline_icount || must_stop(cpu) {
                return;
            }
            let next = match self.cache.linked(id, slot) {
                Some(next) if self.key_matches(cpu, next) => next,
                _ => {
                    self.pending_link = Some((self.cache.link_to(id), slot));
                    return;
                }
            };
            if !self.fits(cpu, next, end - cpu.s.icount) {
                return;
            }
            self.stats.chained += 1;
            id = next;
        }
    }

    /// Whether block `id` is the one [`Jit::find`] would return for the CPU's state now (what a
    /// chaining exit in generated code checks too: the link cell's EIP, physical address and
    /// last byte; the mode and CS base are the linking block's, see `BlockCache::set_link`).
    #[inline]
    fn key_matches(&self, cpu: &Cpu, id: BlockId) -> bool {
        let b = self.cache.get(id);
        let k = &b.key;
        let cs = cpu.s.segs[SegReg::Cs as usize];
        let eip = cpu.s.eip;
        if k.eip != eip || k.cs_base != cs.base || eip as u64 + b.bytes as u64 - 1 > cs.limit as u64 {
            return false;
        }
        let lin = cs.base.wrapping_add(eip);
        cpu.mapped_fetch(lin) == Some(k.phys) && ModeKey::of(&cpu.s, cpu.a20_mask) == k.mode
    }

    /// Runs block `id` on `cpu` (and the blocks its code chains to while `ExitCtx::chain_limit`
    /// allows; it is 0 afterwards) and delivers the fault it stopped at, if any; returns the
    /// last block's status and, if that is a chainable one, the block's id.
    #[inline]
    pub(crate) fn exec(&mut self, cpu: &mut Cpu, id: BlockId) -> (u32, BlockId) {
        let entry = self.cache.get(id).entry;
        let before = cpu.s.icount;
        let chained = self.ctx.chained;
        // Set by every chainable exit of a block with link cells (the only blocks that chain).
        self.ctx.exit_cells = 0;
        // SAFETY: the code of the block and of every block linked from it is installed and its
        // instructions alive (the cache owns both, and clears links to a block it drops); `cpu`
        // and the exit context are exclusively ours for the call.
        let st = unsafe { (self.enter)(cpu, &mut self.ctx, entry) };
        self.ctx.chain_limit = 0;
        let n = cpu.s.icount - before;
        let chained = self.ctx.chained - chained;
        self.stats.block_runs += 1 + chained;
        self.stats.chained += chained;
        self.stats.chained_in_code += chained;
        self.stats.jit_insns += n;
        self.stats.inline_accesses = self.ctx.inline_accesses;
        self.stats.inline_slow = self.ctx.slow_accesses;
        self.stats.interp_in_blocks = self.ctx.interp_calls;
        if st == status::TIER_UP {
            // (A baseline block stores its `Cells` address at every exit.)
            let last = self.exit_block();
            // That block did not run: counted if it was chained into (with the counters), or
            // if it was the first.
            if chained > 0 {
                self.stats.chained -= 1;
                self.stats.chained_in_code -= 1;
                self.stats.block_runs -= 1;
            } else if last == id {
                self.stats.block_runs -= 1;
            }
            self.tier_up(cpu, last);
            // Nothing ran of that block: the dispatcher looks CS:EIP up again.
            return (status::OK, last);
        }
        let last = if self.ctx.exit_cells != 0 && status::chain_slot(st).is_some() {
            // Its code stored its `Cells` address before returning a chainable status (not
            // counted in `chained` without `Options::counters`; a block that did not chain
            // stored its own).
            self.exit_block()
        } else {
            id
        };
        (self.after_fault(cpu, st), last)
    }

    /// The block whose `Cells` address the code that just returned left in
    /// `ExitCtx::exit_cells` (the caller knows it did).
    fn exit_block(&self) -> BlockId {
        // SAFETY: that block returned last and is alive (nothing ran since), and its `Cells`
        // box lives as long as it does.
        unsafe { (*(self.ctx.exit_cells as *const Cells)).id }
    }

    /// Has Cranelift compile baseline block `id`, whose code found its count of runs at 0 on
    /// entry (`Options::tier_up`, `cache::Cells::runs`; CS:EIP is its first instruction): queued
    /// for the compile thread, whose block replaces this one when installed (meanwhile this one
    /// runs on, its count wound back up to the top), or in-line, whose block replaces it now.
    /// Returns whether it was replaced.
    fn tier_up(&mut self, cpu: &mut Cpu, id: BlockId) -> bool {
        let b = self.cache.get_mut(id);
        b.cells.runs = u32::MAX;
        let key = b.key;
        if self.background.is_some() {
            self.queue(cpu, key);
            return false;
        }
        self.translate(cpu, key, false).is_some()
    }

    /// What the code of baseline block `id` would do on entry with its count of runs
    /// (`Jit::tier_up` when it is due), for callers that run blocks without
    /// [`Jit::exec`] (`--cpu check`), so the code itself never leaves with `TIER_UP` there.
    /// Returns whether the block was replaced (and so must not run).
    pub(crate) fn tier_up_due(&mut self, cpu: &mut Cpu, id: BlockId) -> bool {
        self.cache.get(id).cells.runs == 1 && self.tier_up(cpu, id)
    }

    /// After a block's code returned `st`: if FAULT, delivers the fault it recorded, or, for a
    /// store that would have written translated code and asked for a redo
    /// (`helpers::REDO_ON_CODE`), runs that instruction in the interpreter and returns SMC, as
    /// if the block had left after it. Returns the status to go on with.
    pub(crate) fn after_fault(&mut self, cpu: &mut Cpu, st: u32) -> u32 {
        if st != status::FAULT {
            return st;
        }
        if std::mem::take(&mut self.ctx.redo) {
            // The block left the state as the instruction started, EIP on it, and counted the
            // instruction as a faulting one is counted: the interpreter counts it as it runs it.
            cpu.s.icount -= 1;
            cpu.step();
            self.stats.redone += 1;
            return status::SMC;
        }
        let f = self.ctx.fault.take().expect("a block that faults records the fault");
        // As `Cpu::step` delivers a fault: no shadow, RF set in the pushed EFLAGS image.
        cpu.s.irq_shadow = false;
        cpu.s.flags |= eflags::RF;
        cpu.raise(f);
        st
    }

    /// Drops the blocks on pages written since the last call (by the guest or by DMA).
    pub(crate) fn invalidate_written(&mut self, cpu: &mut Cpu) {
        if !cpu.smc_writes.is_empty() {
            let pages = std::mem::take(&mut cpu.smc_writes);
            if let Some(ck) = self.checker.as_mut() {
                ck.drained.extend(&pages);
            }
            for page in pages {
                self.invalidate_page(cpu, page);
            }
        }
        for page in cpu.sys.take_written_pages() {
            let page = page as u32;
            if let Some(ck) = self.checker.as_mut() {
                ck.drained.push(page);
            }
            if cpu.is_code_page(page) {
                self.invalidate_page(cpu, page);
            }
        }
    }

    /// Drops the blocks on physical page `page`, cancels those queued for the compile thread
    /// (they warm up again), and unmarks it. Both count for the throttle.
    pub fn invalidate_page(&mut self, cpu: &mut Cpu, page: u32) {
        let mut cancelled = 0;
        if let Some(bg) = self.background.as_mut().filter(|b| b.busy()) {
            let warmup = &mut self.warmup;
            bg.cancel_page(page, |key| {
                warmup.forget(key);
                cancelled += 1;
            });
        }
        let dropped = self.cache.invalidate_page(page);
        if let Some(n) = dropped {
            self.stats.invalidated_pages += 1;
            self.stats.invalidated_blocks += n as u64;
        }
        if (dropped.is_some() || cancelled > 0) && self.throttle.invalidated(page, cpu.s.icount) {
            self.stats.hot_pages += 1;
        }
        cpu.unmark_code_page(page);
    }

    /// The jump cache entry for linear address `lin` (see `cache`; for tests).
    pub fn jump_cache_entry(&self, lin: u32) -> crate::cache::JumpEntry {
        self.cache.jump_entry(lin)
    }

    /// Drops every block and frees all code memory. Blocks queued for the compile thread stay
    /// queued, and their pages marked.
    pub fn flush(&mut self, cpu: &mut Cpu) {
        self.pending_link = None;
        for page in self.cache.clear() {
            cpu.unmark_code_page(page);
        }
        for page in self.background.iter().flat_map(|b| b.pages()) {
            cpu.mark_code_page(page);
        }
        self.code.reset();
        self.stats.flushes += 1;
    }

    /// The block for CS:EIP, translated now if need be; `None` if the interpreter must run the
    /// instruction there (with `self.hot` set if that is because the page is hot, `self.cold` if
    /// the block is warming up or being compiled in the background).
    fn find(&mut self, cpu: &mut Cpu) -> Option<BlockId> {
        self.hot = false;
        self.cold = 0;
        self.compiling = false;
        self.run_slot = None;
        if self.background.as_ref().is_some_and(|b| b.busy()) {
            self.install_compiled(cpu);
        }
        let cs = cpu.s.segs[SegReg::Cs as usize];
        let eip = cpu.s.eip;
        if eip > cs.limit {
            return None;
        }
        let lin = cs.base.wrapping_add(eip);
        // Walks and fills the execute tag on a miss, so the next lookups and chains hit the TLB.
        let phys = cpu.translate_fetch(lin).ok()?? as u32;
        let key = BlockKey::new(&cpu.s, cpu.a20_mask, phys);
        self.stats.lookups += 1;
        // A block not translated looks up its warm-up count and decoded run next, each a likely
        // cache miss on cold code: loading both now overlaps them with each other and with the
        // block cache lookup. Linux bench boot, interleaved: 5.05 s against 5.18 s (means of
        // 5), 5.27 s against 5.37 s (means of 6).
        self.warmup.prefetch(&key);
        self.runs.prefetch(&key);
        // The block's run as `translate::scan_run` decodes it on first sight (for the block's
        // length), kept for its decoded run.
        let mut scanned = None;
        // A block with a decoded run is not translated (`Runs::holds`): most lookups of cold
        // blocks skip the block cache, whose direct-mapped array they would fill with negative
        // entries, and whose hash map they would probe.
        let found = if self.runs.holds(&key) { None } else { self.cache.lookup(&key) };
        let id = match found {
            Some((id, fast)) => {
                if fast {
                    self.stats.fast_hits += 1;
                } else {
                    self.stats.map_hits += 1;
                }
                id
            }
            None if self.throttle.interpreted(key.page(), cpu.s.icount) => {
                self.hot = true;
                return None;
            }
            // Still warming up (see `warmup`), or being compiled: this time the interpreter
            // runs it.
            None => match {
                // An idle compile thread may take blocks sooner; in real-time runs only, by
                // choice (deterministic runs keep the tiers they were measured with).
                let idle = self.background.as_ref().is_some_and(|b| b.len() == 0);
                self.warmup.set_eager(idle && cpu.sys.clock.mode() == ClockMode::RealTime);
                self.warmup.cold(&key, || {
                    let (g, starts) = translate::scan_run(cpu, MAX_BLOCK_INSNS);
                    let len = starts.first().copied().unwrap_or(g.insns.len()) as u32;
                    scanned = Some((g, starts));
                    len
                })
            } {
                Cold::Interpret(len) => {
                    self.cold = len;
                    self.run_slot = self.runs.prepare(cpu, &key, scanned);
                    return None;
                }
                Cold::Compiling(len, slot) => {
                    (self.cold, self.compiling) = (len, true);
                    if let (Some(bg), ClockMode::RealTime) = (&self.background, cpu.sys.clock.mode()) {
                        bg.ran(slot);
                    }
                    self.run_slot = self.runs.prepare(cpu, &key, scanned);
                    return None;
                }
                Cold::Translate if self.baseline.is_some() => self.translate(cpu, key, true)?,
                Cold::Translate if self.background.is_some() => {
                    self.cold = self.queue(cpu, key)?;
                    self.compiling = true;
                    return None;
                }
                Cold::Translate => self.translate(cpu, key, false)?,
            },
        };
        let b = self.cache.get(id);
        if eip as u64 + b.bytes as u64 - 1 > cs.limit as u64 {
            return None;
        }
        Some(id)
    }

    /// Decodes the block at CS:EIP (whose first byte is at `key.phys`); `None` if it is empty
    /// (the interpreter must run the instruction there).
    fn decode(&mut self, cpu: &mut Cpu, key: BlockKey) -> Option<worker::Job> {
        let g = translate::scan(cpu, MAX_BLOCK_INSNS);
        if g.insns.is_empty() {
            return None;
        }
        let mut job = worker::Job::new(key, cpu.s.segs[SegReg::Cs as usize].selector, g);
        job.ram = self.ram;
        Some(job)
    }

    /// Translates the block at CS:EIP (whose first byte is at `key.phys`) in-line, with the
    /// baseline tier if `baseline` (and it is on).
    fn translate(&mut self, cpu: &mut Cpu, key: BlockKey, baseline: bool) -> Option<BlockId> {
        let t0 = Instant::now();
        let job = self.decode(cpu, key)?;
        self.tr.jump_table = Some(self.cache.jump_table());
        let done = match self.baseline.as_mut().filter(|_| baseline) {
            Some(asm) => {
                let env = crate::baseline::emit::Env {
                    cells: 0,
                    jump_table: self.cache.jump_table(),
                    counters: self.tr.counters,
                    count_runs: self.tier_up > 0,
                };
                crate::baseline::compile(asm, job, env, self.dump.is_some())
            }
            // In-line, Cranelift's time is the guest's: never the optimiser (see `worker`).
            None => worker::compile(&mut self.tr, job, self.dump.is_some(), false),
        };
        self.install(cpu, done, t0)
    }

    /// Decodes the block at CS:EIP (whose first byte is at `key.phys`) and queues it for the
    /// compile thread; returns its length (`None` if it is empty). Its page is marked as
    /// holding code from now on, so a write to it cancels the request (see [`worker`]).
    fn queue(&mut self, cpu: &mut Cpu, key: BlockKey) -> Option<u32> {
        let t0 = Instant::now();
        let job = self.decode(cpu, key)?;
        let len = job.insns.len() as u32;
        cpu.mark_code_page(key.page());
        let deterministic = match cpu.sys.clock.mode() {
            ClockMode::Deterministic { .. } => Some(cpu.s.icount),
            ClockMode::RealTime => None,
        };
        let bg = self.background.as_mut().expect("queued with a compile thread");
        let slot = bg.submit(job, deterministic);
        self.warmup.compiling(&key, len, slot);
        self.stats.compile_time += t0.elapsed();
        Some(len)
    }

    /// Installs the blocks the compile thread has done that are due (see [`worker`]).
    fn install_compiled(&mut self, cpu: &mut Cpu) {
        loop {
            let Some(bg) = self.background.as_mut() else { return };
            let next = bg.next(cpu.s.icount, &mut self.stats);
            self.stats.compile_thread_time = bg.thread_time();
            let Some(done) = next else { return };
            let t0 = Instant::now();
            // The compile thread's time (in-line, it is part of the caller's).
            self.stats.compile_time += done.time;
            self.warmup.forget(&done.job.key);
            self.install(cpu, done, t0);
        }
    }

    /// Installs a compiled block (its page's code unchanged since it was decoded) in code memory
    /// and the cache; `t0`: when the work on it started on this thread (counted in
    /// `Stats::compile_time`).
    fn install(&mut self, cpu: &mut Cpu, done: worker::Done, t0: Instant) -> Option<BlockId> {
        let worker::Done { job, code, targets, ir, listing, optimized: done_optimized, baseline, .. } = done;
        if job.ram != self.ram {
            // Built for another machine's RAM (the cache was flushed since it was queued).
            self.stats.compiles_dropped += 1;
            return None;
        }
        let code = match code {
            Ok(c) => c,
            Err(e) => {
                cpu.log_once(&format!("jit: {}", e.0), || format!("emu: jit: a block failed to compile: {}", e.0));
                return None;
            }
        };
        let ptr = match self.code.install(&code) {
            Ok(p) => p,
            Err(CodeError::Full) => {
                self.flush(cpu);
                self.code.install(&code).ok()?
            }
            Err(CodeError::Host(e)) => {
                cpu.log_once("jit: code memory", || format!("emu: jit: cannot install code: {e}"));
                return None;
            }
        };
        let key = job.key;
        self.runs.translated(&key);
        cpu.mark_code_page(key.page());
        let refetch = job.insns.last().zip(job.eips.last()).is_some_and(|(i, &eip)| crosses_page(key.cs_base, eip, i));
        let io = job.insns.iter().any(|i| i.does_port_io());
        let mut block = Block {
            key,
            insns: job.insns,
            eips: job.eips,
            bytes: job.bytes,
            entry: ptr,
            host_size: code.len(),
            io,
            refetch,
            tail: job.tail,
            links: [Link::NONE; 2],
            targets,
            cells: job.cells,
            incoming: Vec::new(),
        };
        if baseline {
            block.cells.runs = self.tier_up;
        }
        self.stats.blocks_compiled += 1;
        self.stats.blocks_optimized += done_optimized as u64;
        self.stats.compile_time += t0.elapsed();
        self.stats.host_bytes += code.len() as u64;
        if let (Some(out), Some(ir)) = (self.dump.as_mut(), ir) {
            crate::dump::write_block(out.as_mut(), &block, &ir, listing.as_deref());
        }
        crate::perfmap::record(&block, job.cs);
        Some(self.cache.insert(block))
    }
}
