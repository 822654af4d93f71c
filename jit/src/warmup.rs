//! Warm-up: a block runs in the interpreter its first few times and is translated only when it
//! runs again.
//!
//! Translating a block costs hundreds of microseconds of Cranelift time, interpreting it a few
//! microseconds; most of the code a kernel runs while booting (initcalls, probing, unpacking)
//! runs a handful of times and never again. So a block is translated only on its
//! `threshold + 1`-th execution; before that the dispatcher hands its instructions to the
//! interpreter, as many as the block holds (decoded once, on first sight, to learn its length),
//! so the next lookup lands on the next block's first instruction rather than inside this one.
//! With background compilation ([`crate::worker`]) a warm block is queued instead, and the
//! interpreter goes on running it the same way until its code is installed ([`Cold::Compiling`]).
//!
//! **Invariant:** warm-up only decides which tier runs an instruction, never what it does; the
//! dispatcher gives the interpreter no more instructions than the budget and the clock deadline
//! allow, exactly as for a block that does not fit.

use crate::key::{BlockKey, KeyHash};
use std::collections::HashMap;

/// The warm-up threshold `emu` uses: interpreted runs of a block before it is translated.
/// Measured on the Linux boot (README, "Performance"): process CPU time fell from 93 s with
/// no warm-up to 45 s at 2, 35 s at 8 and 33 s at 16 or 64 (and 30 s at 256), while loops
/// that run long do not notice. Once the interpreter's fetch and decode got twice as fast,
/// 128-512 all beat 64 (13.1-13.5 s against 15.2 s of CPU for the disk-test boot, half the
/// blocks compiled at 256), so the default moved to the middle of that flat range.
///
/// With background compilation Cranelift no longer stops the guest, but lower thresholds run
/// into the compile thread's throughput instead: more blocks turn warm than it compiles, and
/// hot blocks wait in its queue, interpreted. On the Linux bench boot (2 CPUs shared with other
/// work, load 3-4.5, so wall times varied too much to compare), 32 compiled 13.8 k blocks and
/// interpreted 61 M instructions of queued blocks, 64 10.8 k and 30 M, 128 7.6 k and 19-23 M,
/// 256 5.7 k and 9-16 M, 512 4.2 k and 5-8 M; the CPU thread's own time (process CPU minus the
/// compile thread's) was 8.3 s, 7.3-7.7 s, 7.0-7.6 s, 6.8-7.3 s and 6.9-7.6 s (8.1-9.3 s
/// compiling in-line at 256), and the process's 12.5 s, 10.4-10.9 s, 9.2-9.9 s, 8.6-9.1 s and
/// 8.2-9.0 s: 256 stays.
pub const DEFAULT_THRESHOLD: u32 = 256;

/// Entries kept before the table is cleared (blocks then warm up again: only the tier changes).
const MAX_ENTRIES: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Times the block ran in the interpreter.
    runs: u32,
    /// Its length in instructions when it was first decoded.
    len: u32,
    /// Queued for compilation on the background thread ([`crate::worker`]): the interpreter
    /// runs it until the dispatcher installs it or drops the request ([`Warmup::forget`]).
    compiling: bool,
}

/// What to do with a block that is not translated ([`Warmup::cold`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cold {
    /// The interpreter runs it this time: this many instructions (its length).
    Interpret(u32),
    /// It is being compiled in the background: the interpreter runs it meanwhile, this many
    /// instructions (its length when it was queued).
    Compiling(u32),
    /// It is warm: translate it now (or queue it, then [`Warmup::compiling`]).
    Translate,
}

/// How often each not-yet-translated block has run.
#[derive(Debug, Default)]
pub struct Warmup {
    threshold: u32,
    seen: HashMap<BlockKey, Seen, KeyHash>,
}

impl Warmup {
    /// Blocks are translated on their `threshold + 1`-th run (0: on the first).
    pub fn new(threshold: u32) -> Warmup {
        Warmup { threshold, seen: HashMap::default() }
    }

    /// Called when the block `key` is about to run and is not translated: whether the
    /// interpreter runs it this time (its length from `len` on first sight), or it is warm now.
    pub fn cold(&mut self, key: &BlockKey, len: impl FnOnce() -> u32) -> Cold {
        if self.threshold == 0 && self.seen.is_empty() {
            return Cold::Translate;
        }
        if let Some(s) = self.seen.get_mut(key) {
            if s.compiling {
                return Cold::Compiling(s.len);
            }
            if s.runs >= self.threshold {
                self.seen.remove(key);
                return Cold::Translate;
            }
            s.runs += 1;
            return Cold::Interpret(s.len);
        }
        if self.threshold == 0 {
            return Cold::Translate;
        }
        if self.seen.len() >= MAX_ENTRIES {
            // Queued blocks stay: a block is never queued twice.
            self.seen.retain(|_, s| s.compiling);
        }
        let len = len().max(1);
        self.seen.insert(*key, Seen { runs: 1, len, compiling: false });
        Cold::Interpret(len)
    }

    /// Records that the warm block `key` (`len` instructions) was queued for compilation: until
    /// [`Warmup::forget`], [`Warmup::cold`] says [`Cold::Compiling`].
    pub fn compiling(&mut self, key: &BlockKey, len: u32) {
        self.seen.insert(*key, Seen { runs: self.threshold, len: len.max(1), compiling: true });
    }

    /// Forgets `key`, queued for compilation: its code was installed, or the request was dropped
    /// because its page was written, and then it warms up again from the start (as a translated
    /// block does once it is invalidated).
    pub fn forget(&mut self, key: &BlockKey) {
        self.seen.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emu_cpu_x86::state::CpuState;

    fn key(phys: u32) -> BlockKey {
        BlockKey::new(&CpuState::reset(), u32::MAX, phys)
    }

    #[test]
    fn a_block_is_interpreted_threshold_times_then_translated() {
        let mut w = Warmup::new(3);
        let mut decoded = 0;
        for _ in 0..3 {
            assert_eq!(
                w.cold(&key(0x1000), || {
                    decoded += 1;
                    7
                }),
                Cold::Interpret(7)
            );
        }
        assert_eq!(decoded, 1, "decoded once, on first sight");
        assert_eq!(w.cold(&key(0x1000), || 7), Cold::Translate, "the fourth run translates");
        assert_eq!(
            w.cold(&key(0x2000), || 0),
            Cold::Interpret(1),
            "other blocks count on their own; at least one instruction"
        );
    }

    #[test]
    fn threshold_zero_translates_at_once() {
        let mut w = Warmup::new(0);
        assert_eq!(w.cold(&key(0x1000), || unreachable!()), Cold::Translate);
    }

    /// A queued block is interpreted (never warm again, so never queued twice) until it is
    /// forgotten, then warms up from the start; with threshold 0 as well.
    #[test]
    fn a_queued_block_is_interpreted_until_forgotten() {
        for threshold in [0, 2] {
            let mut w = Warmup::new(threshold);
            for _ in 0..threshold {
                assert_eq!(w.cold(&key(0x1000), || 5), Cold::Interpret(5));
            }
            assert_eq!(w.cold(&key(0x1000), || 5), Cold::Translate);
            w.compiling(&key(0x1000), 4);
            for _ in 0..10 {
                assert_eq!(w.cold(&key(0x1000), || unreachable!()), Cold::Compiling(4), "threshold {threshold}");
            }
            assert_eq!(w.cold(&key(0x2000), || 3), if threshold == 0 { Cold::Translate } else { Cold::Interpret(3) });
            w.forget(&key(0x1000));
            let again = if threshold == 0 { Cold::Translate } else { Cold::Interpret(6) };
            assert_eq!(w.cold(&key(0x1000), || 6), again, "warms up again, decoded again");
        }
    }

    /// Clearing a full table keeps the queued blocks.
    #[test]
    fn a_full_table_keeps_queued_blocks() {
        let mut w = Warmup::new(1);
        w.compiling(&key(0), 2);
        for p in 1..MAX_ENTRIES as u32 + 2 {
            w.cold(&key(p << 4), || 1);
        }
        assert!(w.seen.len() < MAX_ENTRIES);
        assert_eq!(w.cold(&key(0), || unreachable!()), Cold::Compiling(2));
    }
}
