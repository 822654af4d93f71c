//! Warm-up: a block runs in the interpreter its first few times and is translated only when it
//! runs again.
//!
//! Translating a block costs hundreds of microseconds of Cranelift time, interpreting it a few
//! microseconds; most of the code a kernel runs while booting (initcalls, probing, unpacking)
//! runs a handful of times and never again. So a block is translated only on its
//! `threshold + 1`-th execution; before that the dispatcher hands its instructions to the
//! interpreter, as many as the block holds (decoded once, on first sight, to learn its length),
//! so the next lookup lands on the next block's first instruction rather than inside this one.
//!
//! **Invariant:** warm-up only decides which tier runs an instruction, never what it does; the
//! dispatcher gives the interpreter no more instructions than the budget and the clock deadline
//! allow, exactly as for a block that does not fit.

use crate::key::BlockKey;
use std::collections::HashMap;

/// The warm-up threshold `emu` uses: interpreted runs of a block before it is translated.
/// Measured on the Linux boot (README, "Performance"): process CPU time fell from 93 s with
/// no warm-up to 45 s at 2, 35 s at 8 and 33 s at 16 or 64 (and 30 s at 256), while loops
/// that run long do not notice. Once the interpreter's fetch and decode got twice as fast,
/// 128-512 all beat 64 (13.1-13.5 s against 15.2 s of CPU for the disk-test boot, half the
/// blocks compiled at 256), so the default moved to the middle of that flat range.
pub const DEFAULT_THRESHOLD: u32 = 256;

/// Entries kept before the table is cleared (blocks then warm up again: only the tier changes).
const MAX_ENTRIES: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Times the block ran in the interpreter.
    runs: u32,
    /// Its length in instructions when it was first decoded.
    len: u32,
}

/// How often each not-yet-translated block has run.
#[derive(Debug, Default)]
pub struct Warmup {
    threshold: u32,
    seen: HashMap<BlockKey, Seen>,
}

impl Warmup {
    /// Blocks are translated on their `threshold + 1`-th run (0: on the first).
    pub fn new(threshold: u32) -> Warmup {
        Warmup { threshold, seen: HashMap::new() }
    }

    /// Called when the block `key` is about to run and is not translated. `Some(n)` when the
    /// interpreter should run it this time (`n`: its length in instructions, from `len` on first
    /// sight); `None` when it is warm and should be translated now.
    pub fn cold(&mut self, key: &BlockKey, len: impl FnOnce() -> u32) -> Option<u32> {
        if self.threshold == 0 {
            return None;
        }
        if let Some(s) = self.seen.get_mut(key) {
            if s.runs >= self.threshold {
                self.seen.remove(key);
                return None;
            }
            s.runs += 1;
            return Some(s.len);
        }
        if self.seen.len() >= MAX_ENTRIES {
            self.seen.clear();
        }
        let len = len().max(1);
        self.seen.insert(*key, Seen { runs: 1, len });
        Some(len)
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
                Some(7)
            );
        }
        assert_eq!(decoded, 1, "decoded once, on first sight");
        assert_eq!(w.cold(&key(0x1000), || 7), None, "the fourth run translates");
        assert_eq!(w.cold(&key(0x2000), || 0), Some(1), "other blocks count on their own; at least one instruction");
    }

    #[test]
    fn threshold_zero_translates_at_once() {
        let mut w = Warmup::new(0);
        assert_eq!(w.cold(&key(0x1000), || unreachable!()), None);
    }
}
