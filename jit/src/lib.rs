//! emu's JIT: guest basic blocks translated to host code with Cranelift.
//!
//! The path of a block, one module each:
//! - [`dispatch`]: `Jit::run`, the run loop (`Cpu::run` with blocks), block lookup.
//! - [`key`]: what a block is valid for (physical address, CS base, EIP, [`key::ModeKey`]).
//! - [`cache`]: translated blocks, their lookup, and invalidation by physical page.
//! - [`translate`]: decode a block ([`translate::scan`]) and build its IR; [`translate::insn`]
//!   has the specialised instructions, `translate/mem.rs` the inlined softmmu.
//! - [`helpers`]: the Rust functions generated code calls (the interpreter, memory slow paths).
//! - [`layout`]: every offset generated code uses.
//! - [`code`]: executable memory.
//! - [`throttle`]: pages invalidated too often are left to the interpreter for a while.
//! - [`check`]: lockstep mode (`--cpu check`), each block against the interpreter.
//! - [`dump`] writes `--dump-jit`.
//!
//! **Architecture Invariant:** the interpreter is the reference. After every block the state
//! (registers, lazy flags fields, EIP, icount, memory) is what `Cpu::step` would have left after
//! the same instructions, so execution can switch tiers at any block boundary; `--cpu check`
//! verifies exactly this.
//!
//! **Architecture Invariant:** nothing here depends on the host architecture: Cranelift's native
//! backend, no inline assembly, guest memory accessed little-endian explicitly, the instruction
//! cache flushed after writing code.

pub mod cache;
pub mod check;
pub mod code;
pub mod dispatch;
pub mod dump;
pub mod helpers;
pub mod key;
pub mod layout;
pub mod throttle;
pub mod translate;

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
}

impl Default for Options {
    fn default() -> Self {
        Options { code_size: 64 << 20, dump: None, check: false }
    }
}

/// What the JIT did, for `--stats`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub blocks_compiled: u64,
    pub compile_time: Duration,
    pub host_bytes: u64,
    pub lookups: u64,
    pub fast_hits: u64,
    pub map_hits: u64,
    pub block_runs: u64,
    /// Guest instructions retired inside translated blocks.
    pub jit_insns: u64,
    /// Instructions the dispatcher handed to the interpreter.
    pub interp_steps: u64,
    pub invalidated_pages: u64,
    pub invalidated_blocks: u64,
    /// Times the whole code cache was dropped because it was full.
    pub flushes: u64,
    /// Blocks compared with the interpreter (`--cpu check`).
    pub checked_blocks: u64,
    /// Times a page turned hot: invalidated too often, so left to the interpreter for a while
    /// ([`throttle`]).
    pub hot_pages: u64,
    /// Instructions the interpreter ran because their page was hot (part of `interp_steps`).
    pub hot_insns: u64,
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
}

/// The JIT tier: translator, code memory, block cache, and the statistics.
pub struct Jit {
    tr: translate::Translator,
    code: code::CodeMemory,
    cache: cache::BlockCache,
    ctx: helpers::ExitCtx,
    dump: Option<Box<dyn Write + Send>>,
    checker: Option<check::Checker>,
    throttle: throttle::Throttle,
    /// Set by `find` when it declined a block because its page is hot.
    hot: bool,
    pub stats: Stats,
}

impl Jit {
    pub fn new(opts: Options) -> Result<Jit, JitError> {
        Ok(Jit {
            tr: translate::Translator::new().map_err(|e| JitError::Backend(e.0))?,
            code: code::CodeMemory::new(opts.code_size)?,
            cache: cache::BlockCache::default(),
            ctx: helpers::ExitCtx::default(),
            dump: opts.dump,
            checker: opts.check.then(check::Checker::default),
            throttle: throttle::Throttle::default(),
            hot: false,
            stats: Stats::default(),
        })
    }

    /// Blocks currently translated.
    pub fn blocks(&self) -> usize {
        self.cache.len()
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
