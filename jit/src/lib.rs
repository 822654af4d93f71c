//! emu's JIT: guest basic blocks translated to host code with Cranelift.
//!
//! The path of a block, one module each:
//! - [`dispatch`]: `Jit::run`, the run loop (`Cpu::run` with blocks), block lookup, and chaining
//!   (blocks following the links of their branch exits without a lookup).
//! - [`key`]: what a block is valid for (physical address, CS base, EIP, [`key::ModeKey`]).
//! - [`cache`]: translated blocks, their lookup, their links, and invalidation by physical page.
//! - [`translate`]: decode a block ([`translate::scan`]) and build its IR; [`translate::insn`]
//!   has the specialised instructions, `translate/mem.rs` the inlined softmmu.
//! - [`helpers`]: the Rust functions generated code calls (the interpreter, memory slow paths).
//! - [`layout`]: every offset generated code uses.
//! - [`code`]: executable memory.
//! - [`throttle`]: pages invalidated too often are left to the interpreter for a while.
//! - [`warmup`]: blocks run in the interpreter a few times before they are translated.
//! - [`worker`]: blocks compiled on a second thread while the interpreter runs them.
//! - [`check`]: lockstep mode (`--cpu check`), each block against the interpreter.
//! - [`dump`] writes `--dump-jit`, [`perfmap`] `--perf-map` (names of blocks for `perf`).
//! - [`baseline`]: a baseline tier being built (x86-64 hosts; `emu --jit-baseline`).
//!
//! **Architecture Invariant:** the interpreter is the reference. After every block the state
//! (registers, lazy flags fields, EIP, icount, memory) is what `Cpu::step` would have left after
//! the same instructions, so execution can switch tiers at any block boundary; `--cpu check`
//! verifies exactly this.
//!
//! **Architecture Invariant:** nothing here depends on the host architecture: Cranelift's native
//! backend, no inline assembly, guest memory accessed little-endian explicitly, the instruction
//! cache flushed after writing code.
//! One exception, an experiment that is off by default: the [`baseline`] tier writes x86-64
//! code itself, on x86-64 hosts only (`Options::baseline`; elsewhere the option does nothing).

pub mod baseline;
pub mod cache;
pub mod check;
pub mod code;
pub mod dispatch;
pub mod dump;
pub mod helpers;
pub mod key;
pub mod layout;
pub mod perfmap;
mod runs;
pub mod throttle;
pub mod translate;
pub mod warmup;
pub mod worker;

use std::io::Write;
use std::time::Duration;

/// How to set up a [`Jit`].
pub struct Options {
    /// Bytes of executable memory for translated code; all blocks are dropped when it is full.
    pub code_size: usize,
    /// Where `--dump-jit` writes each translated block.
    pub dump: Option<Box<dyn Write + Send>>,
    /// Lockstep mode: check every block against the interpreter (`--cpu check`).
    pub check: bool,
    /// In lockstep mode, blocks start being checked once this many instructions have retired;
    /// until then they run once, in the JIT (`--check-after`).
    pub check_after: u64,
    /// Times a block runs in the interpreter before it is translated ([`warmup`]; 0: translate
    /// on first use, which the JIT's tests rely on; `emu` uses [`warmup::DEFAULT_THRESHOLD`]).
    /// Ignored in lockstep mode, which checks every block from its first run.
    pub warmup: u32,
    /// Follow chainable block exits without a lookup ([`dispatch`]); off only to measure it.
    pub chain: bool,
    /// Compile blocks on a second host thread while the interpreter runs them ([`worker`]);
    /// off: compile in-line, at the lookup that found the block warm (the JIT's tests rely on
    /// that for exact counts). `emu` turns it on when the host has two CPUs or more
    /// (`--jit-threads`). Ignored in lockstep mode, which compiles every block in-line.
    pub background: bool,
    /// Generated code counts the blocks it chains to and its inlined memory accesses (the
    /// `blocks run` and `TLB hit rate` lines of `emu --stats=full`): an add to memory at every
    /// exit, which cost the Linux bench boot about 4% (5.42 s against 5.19 s). On by default,
    /// as the JIT's tests check chaining by it; `emu` turns it on with `--stats=full` only.
    pub counters: bool,
    /// For tests of `--cpu check` only: translated code for the instruction at this EIP flips
    /// bit 0 of EAX after it (a deliberate miscompilation the checker must find and name).
    #[doc(hidden)]
    pub inject_bug_at: Option<u32>,
    /// Compile every block with Cranelift's optimiser, in-line, on the compile thread and in the
    /// checker (tests of the optimised code; `emu` leaves the choice to the compile thread,
    /// [`worker`]).
    pub optimize_all: bool,
    /// Warm blocks are built by the [`baseline`] tier, in-line, instead of Cranelift (x86-64
    /// hosts only, ignored elsewhere; `emu --jit-baseline`, and tests of the tier). In lockstep
    /// mode the checker checks them as it checks Cranelift's.
    pub baseline: bool,
    /// With [`Options::baseline`]: a baseline block entered this many times is compiled by
    /// Cranelift (it runs N - 1 times; on the compile thread with [`Options::background`], else
    /// in-line), whose block then replaces it. 0: never.
    pub tier_up: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            code_size: 64 << 20,
            dump: None,
            check: false,
            check_after: 0,
            warmup: 0,
            chain: true,
            background: false,
            counters: true,
            inject_bug_at: None,
            optimize_all: false,
            baseline: false,
            tier_up: 0,
        }
    }
}

/// What the JIT did, for `--stats`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub blocks_compiled: u64,
    /// Of those, compiled with Cranelift's optimiser (by an otherwise idle compile thread,
    /// [`worker`]).
    pub blocks_optimized: u64,
    /// Host time spent translating the blocks compiled (decoding, IR, Cranelift, installing),
    /// on either thread ([`worker`]).
    pub compile_time: Duration,
    /// Blocks compiled in the background and dropped before they were installed: their page
    /// was written meanwhile ([`worker`]).
    pub compiles_dropped: u64,
    /// Host time the dispatcher waited for the compile thread (deterministic time only, see
    /// [`worker`]).
    pub compile_wait: Duration,
    /// CPU time the compile thread spent, on the blocks installed and dropped ([`worker`]).
    pub compile_thread_time: Duration,
    pub host_bytes: u64,
    pub lookups: u64,
    pub fast_hits: u64,
    pub map_hits: u64,
    pub block_runs: u64,
    /// Blocks entered straight from the previous one through a link, without a lookup
    /// (part of `block_runs`).
    pub chained: u64,
    /// Of those, the ones generated code went on to by itself (a tail call through a link
    /// cell, see [`cache`]), without returning to the dispatcher.
    pub chained_in_code: u64,
    /// Guest instructions retired inside translated blocks.
    pub jit_insns: u64,
    /// Memory accesses translated code made through its inlined TLB path (in instructions that
    /// completed); see [`Stats::tlb_hit_rate`].
    pub inline_accesses: u64,
    /// Of those, the ones that missed the inline path and called the slow-path helper (a page
    /// hint that missed does, even where the TLB would have hit).
    pub inline_slow: u64,
    /// Instructions the dispatcher handed to the interpreter.
    pub interp_steps: u64,
    /// Instructions translated blocks handed to the interpreter (those without specialised IR;
    /// part of `jit_insns`).
    pub interp_in_blocks: u64,
    pub invalidated_pages: u64,
    pub invalidated_blocks: u64,
    /// Instructions a block left undone for the interpreter to run, as their store would have
    /// written translated code (`helpers::REDO_ON_CODE`; counted in `jit_insns`).
    pub redone: u64,
    /// Times the whole code cache was dropped because it was full.
    pub flushes: u64,
    /// Blocks compared with the interpreter (`--cpu check`).
    pub checked_blocks: u64,
    /// Times a page turned hot: invalidated too often, so left to the interpreter for a while
    /// ([`throttle`]).
    pub hot_pages: u64,
    /// Instructions the interpreter ran because their page was hot (part of `interp_steps`).
    pub hot_insns: u64,
    /// Instructions the interpreter ran in blocks still warming up ([`warmup`]; part of
    /// `interp_steps`).
    pub warmup_insns: u64,
    /// Of those, the ones it ran in blocks being compiled in the background ([`worker`]).
    pub compiling_insns: u64,
    /// Of the instructions in blocks warming up or being compiled, the ones the interpreter ran
    /// from their block's decoded run ([`runs`]).
    pub decoded_insns: u64,
    /// Blocks not translated that ran from the decoded run of the block before them, with no
    /// lookup ([`runs`]: past a conditional branch not taken).
    pub run_blocks: u64,
}

impl Stats {
    /// The share of translated code's inlined memory accesses that hit the TLB fast path
    /// (`None` before any). Misses are counted in the slow-path helpers, accesses per block run
    /// from each block's count of access sites, so generated code carries no counter.
    pub fn tlb_hit_rate(&self) -> Option<f64> {
        (self.inline_accesses > 0)
            .then(|| 1.0 - self.inline_slow.min(self.inline_accesses) as f64 / self.inline_accesses as f64)
    }
}

/// Initialising the JIT failed: no Cranelift backend for this host, or no executable memory.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The JIT cannot generate code for this host
    #[error("the JIT cannot generate code for this host: {0}")]
    Backend(String),
    /// No executable memory
    #[error("the JIT cannot map executable memory: {0}")]
    CodeMemory(#[from] std::io::Error),
    /// No compile thread
    #[error("the JIT cannot start its compile thread: {0}")]
    Thread(std::io::Error),
}

/// The JIT tier: translator, code memory, block cache, and the statistics.
pub struct Jit {
    tr: translate::Translator,
    code: code::CodeMemory,
    /// The trampoline blocks are entered through, in its own code memory (never reset).
    enter: helpers::EnterFn,
    _enter_code: code::CodeMemory,
    cache: cache::BlockCache,
    ctx: helpers::ExitCtx,
    dump: Option<Box<dyn Write + Send>>,
    checker: Option<check::Checker>,
    throttle: throttle::Throttle,
    /// Set by `find` when it declined a block because its page is hot.
    hot: bool,
    warmup: warmup::Warmup,
    /// Set by `find` when it declined a block that is still warming up: its length.
    cold: u32,
    /// Set by `find` with `cold` when that block is being compiled in the background.
    compiling: bool,
    /// The decoded runs of blocks not translated yet ([`runs`]).
    runs: runs::Runs,
    /// Set by `find` with `cold`: the slot of that block's decoded run in `runs`, if it has one.
    run_slot: Option<usize>,
    /// The RAM window the cached blocks are built for (`translate::RamWindow`), and the
    /// machine's map generation it was computed at (`Jit::check_ram`).
    ram: Option<translate::RamWindow>,
    mmio_generation: u64,
    /// The compile thread and its queue, with [`Options::background`].
    background: Option<worker::Background>,
    /// The chainable exit the last block left through, when it had no usable link: the next
    /// lookup's block becomes its link ([`dispatch`]).
    pending_link: Option<(cache::Link, usize)>,
    chain: bool,
    /// The [`baseline`] tier's assembler, with [`Options::baseline`].
    baseline: Option<baseline::asm::Asm>,
    /// [`Options::tier_up`].
    tier_up: u32,
    pub stats: Stats,
}

impl Jit {
    pub fn new(opts: Options) -> Result<Jit, JitError> {
        let mut tr = translate::Translator::new().map_err(|e| JitError::Backend(e.0))?;
        tr.inject_bug_at = opts.inject_bug_at;
        tr.counters = opts.counters;
        tr.optimize_all = opts.optimize_all;
        tr.page_hints = !opts.check;
        let func = tr.build_enter();
        let bytes = tr.compile(func).map_err(|e| JitError::Backend(e.0))?;
        // After the trampoline: its listing is of no use.
        tr.listing = opts.dump.is_some();
        let mut enter_code = code::CodeMemory::new(bytes.len())?;
        let ptr = enter_code.install(&bytes).map_err(|e| match e {
            code::CodeError::Host(e) => JitError::CodeMemory(e),
            code::CodeError::Full => JitError::Backend("the block trampoline does not fit".into()),
        })?;
        // SAFETY: `ptr` is the start of the function `build_enter` made, with the `EnterFn`
        // signature in the host's default calling convention; its memory lives as long as `Jit`.
        let enter = unsafe { std::mem::transmute::<*const u8, helpers::EnterFn>(ptr) };
        // The jump cache's table never moves (`cache`), so the compile thread may have its
        // address from the start.
        let cache = cache::BlockCache::default();
        let background = match opts.background && !opts.check {
            true => {
                let mut wtr = translate::Translator::new().map_err(|e| JitError::Backend(e.0))?;
                wtr.inject_bug_at = opts.inject_bug_at;
                wtr.counters = opts.counters;
                wtr.optimize_all = opts.optimize_all;
                wtr.listing = opts.dump.is_some();
                wtr.jump_table = Some(cache.jump_table());
                Some(worker::Background::start(wtr, opts.dump.is_some()).map_err(JitError::Thread)?)
            }
            false => None,
        };
        Ok(Jit {
            tr,
            enter,
            _enter_code: enter_code,
            code: code::CodeMemory::new(opts.code_size)?,
            cache,
            ctx: helpers::ExitCtx::default(),
            dump: opts.dump,
            checker: opts.check.then(|| check::Checker::new(opts.check_after)),
            throttle: throttle::Throttle::default(),
            hot: false,
            warmup: warmup::Warmup::new(if opts.check { 0 } else { opts.warmup }),
            cold: 0,
            compiling: false,
            runs: runs::Runs::default(),
            run_slot: None,
            ram: None,
            mmio_generation: 0,
            background,
            pending_link: None,
            chain: opts.chain,
            // (Its code calls the helpers in the System V convention.)
            baseline: (opts.baseline && cfg!(all(target_arch = "x86_64", not(windows)))).then(baseline::asm::Asm::new),
            tier_up: opts.tier_up,
            stats: Stats::default(),
        })
    }

    /// Whether generated code counts chained runs and inlined accesses ([`Options::counters`]).
    pub fn counts_in_code(&self) -> bool {
        self.tr.counters
    }

    /// Blocks currently translated.
    pub fn blocks(&self) -> usize {
        self.cache.len()
    }

    /// Whether blocks are compiled on a second thread ([`Options::background`]).
    pub fn compiles_in_background(&self) -> bool {
        self.background.is_some()
    }

    /// Blocks queued for the compile thread and not yet installed or dropped ([`worker`]).
    pub fn compiles_queued(&self) -> usize {
        self.background.as_ref().map_or(0, |b| b.len())
    }

    /// Waits until the compile thread is done with every queued block; they are installed (or
    /// dropped) at the next lookups as usual. For tests: what a slow thread would have left.
    #[doc(hidden)]
    pub fn wait_for_compiles(&mut self) {
        if let Some(b) = self.background.as_mut() {
            b.wait_all();
        }
    }

    /// The mnemonics translated blocks handed to the interpreter most often (no specialised IR,
    /// or a form of it that is left to the interpreter), up to `n`, most frequent first, with
    /// their counts (they add up to at most `Stats::interp_in_blocks`).
    pub fn interp_in_blocks_top(&self, n: usize) -> Vec<(emu_cpu_x86::decode::Mnemonic, u64)> {
        self.ctx.interp_by_mnemonic.top(n)
    }

    /// The first difference `--cpu check` found, if it stopped on one.
    pub fn check_failure(&self) -> Option<&str> {
        self.checker.as_ref().and_then(|c| c.failure.as_deref())
    }

    /// Flushes the `--dump-jit` output.
    pub fn finish(&mut self) -> std::io::Result<()> {
        match self.dump.as_mut() {
            Some(d) => d.flush(),
            None => Ok(()),
        }
    }
}
