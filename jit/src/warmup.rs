//! Warm-up: a block runs in the interpreter its first few times and is translated only when it
//! runs again.
//!
//! Translating a block costs hundreds of microseconds of Cranelift time, interpreting it a few
//! microseconds; most of the code a kernel runs while booting (initcalls, probing, unpacking)
//! runs a handful of times and never again. So a block is translated only on its
//! `threshold + 1`-th execution (`threshold / EAGER_DIVISOR + 1`-th while an idle compile thread
//! makes the table eager: [`Warmup::set_eager`]); before that the dispatcher hands its instructions to the
//! interpreter, as many as the block holds (decoded once, on first sight, to learn its length),
//! so the next lookup lands on the next block's first instruction rather than inside this one.
//! With background compilation ([`crate::worker`]) a warm block is queued instead, and the
//! interpreter goes on running it the same way until its code is installed ([`Cold::Compiling`]).
//!
//! **Invariant:** warm-up only decides which tier runs an instruction, never what it does; the
//! dispatcher gives the interpreter no more instructions than the budget and the clock deadline
//! allow, exactly as for a block that does not fit.
//!
//! **The table.** The counts live in a set-associative array of 8-byte entries, eight ways to
//! a set and a set to a cache line (512 KiB in all), found by a hash of the block's key and
//! told apart by 32 more bits of it (a tag) rather than the whole key: the lookup every
//! interpreted block makes then costs one cache miss at most, and the array is small enough to
//! stay partly cached. On the Linux bench boot the lookups cost the CPU thread 70-140 ms, a hash
//! map of some 10^5 whole keys 160-210 ms (two misses or three), a 2 MiB table of whole keys
//! about as much as this one; 64 KiB was cheaper still but forgot so many counts that 30% fewer
//! blocks got compiled and the interpreter ran 40% more. A new block replaces an empty way, else one picked by its
//! hash (about random); the block whose count is replaced only warms up again from the start,
//! and two blocks with the same set and tag share a count and a length: a tier choice either
//! way (see above).
//!
//! A queued block's entry (`Compiling`) is never replaced, though, and never shared: it is what
//! keeps the block from being queued twice ([`crate::worker`]). Each queued block has an entry
//! of its own, and a block whose set and tag match a queued entry is taken as queued (at worst,
//! with the tag of another, it is interpreted until that one is installed). When every way of
//! a set holds a queued block, a block queued there goes to a small side map by its whole key
//! instead, and a new block there is interpreted without a count (decoded each time it runs)
//! until one of them is installed.

use crate::key::{BlockKey, KeyHash};
use std::collections::HashMap;
use std::hash::BuildHasher;

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

/// While the compile thread is idle, blocks are warm after `threshold / EAGER_DIVISOR` runs
/// ([`Warmup::set_eager`]): the thread's spare time goes to blocks that are warm enough, while
/// a busy thread is not given more. Linux bench boot, three interleaved runs each (15:16 UTC,
/// load 1.0-1.3): host time 5.90-6.07 s with 1 (as before), 5.85-6.00 s with 4, 5.85-5.92 s
/// with 2, 5.95-5.97 s with 8 and 16 (more blocks compiled, 5.6 k → 5.8 k at 2, 6.5 k at 16).
pub const EAGER_DIVISOR: u16 = 2;

/// Sets in the table (a power of two).
const SETS: usize = 1 << 13;

/// Ways per set: one cache line.
const WAYS: usize = 8;

/// What a way holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum State {
    Empty,
    /// A count.
    Counting,
    /// Queued for compilation on the background thread ([`crate::worker`]): the interpreter
    /// runs the block until the dispatcher installs it or drops the request
    /// ([`Warmup::forget`]). Never replaced.
    Compiling,
}

/// One block's count.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Way {
    /// Bits of the key's hash the set index does not use.
    tag: u32,
    /// Times the block ran in the interpreter (`Counting`), or its heat slot (`Compiling`).
    runs: u16,
    /// Its length in instructions when it was first decoded.
    len: u8,
    state: State,
}

impl Way {
    const EMPTY: Way = Way { tag: 0, runs: 0, len: 0, state: State::Empty };
}

/// The ways of one set, on one cache line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Set([Way; WAYS]);

const _: () = assert!(std::mem::size_of::<Set>() == 64 && std::mem::size_of::<Way>() == 8);

/// Where `key` goes: its set, its tag, and the way to try first when it replaces a count.
#[inline]
fn slot(key: &BlockKey) -> (usize, u32, usize) {
    let h = KeyHash::default().hash_one(key);
    (h as usize & (SETS - 1), (h >> 32) as u32, (h >> 16) as usize % WAYS)
}

impl Set {
    /// The way a new entry goes to: an empty one, else the first one that is not queued from
    /// `first` on; `None` if every way holds a queued block.
    fn victim(&self, first: usize) -> Option<usize> {
        (0..WAYS)
            .find(|&w| self.0[w].state == State::Empty)
            .or_else(|| (0..WAYS).map(|i| (first + i) % WAYS).find(|&w| self.0[w].state != State::Compiling))
    }
}

/// What to do with a block that is not translated ([`Warmup::cold`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cold {
    /// The interpreter runs it this time: this many instructions (its length).
    Interpret(u32),
    /// It is being compiled in the background: the interpreter runs it meanwhile, this many
    /// instructions (its length when it was queued); the second value is the one
    /// [`Warmup::compiling`] was given (the job's heat slot, `worker::heat_slot`).
    Compiling(u32, u16),
    /// It is warm: translate it now (or queue it, then [`Warmup::compiling`]).
    Translate,
}

/// Where a block stands in the table ([`Warmup::entry`]).
enum Entry {
    /// Queued for compilation: its length and heat slot.
    Queued(u8, u16),
    /// Counting its runs in way `.1` of set `.0`.
    Counting(usize, usize),
    /// Not in the table: its set, its tag and the way to try first ([`slot`]).
    Absent(usize, u32, usize),
}

/// How often each not-yet-translated block has run (see the module comment).
#[derive(Debug, Default)]
pub struct Warmup {
    /// The threshold, at most `u16::MAX`.
    threshold: u16,
    /// `SETS` sets, allocated at the first block counted.
    sets: Vec<Set>,
    /// Queued blocks whose set had no way for them: their lengths and heat slots.
    overflow: HashMap<BlockKey, (u8, u16), KeyHash>,
    /// Queued blocks, in `sets` and `overflow`.
    queued: usize,
    /// Whether the lower threshold ([`Warmup::set_eager`]) applies now.
    eager: bool,
}

/// A block's length in a way: at least 1 ([`crate::translate::MAX_BLOCK_INSNS`] is far below
/// the cap).
fn way_len(len: u32) -> u8 {
    len.clamp(1, u8::MAX as u32) as u8
}

impl Warmup {
    /// Blocks are translated on their `threshold + 1`-th run (0: on the first; thresholds
    /// above 65535 count as 65535).
    pub fn new(threshold: u32) -> Warmup {
        Warmup { threshold: threshold.min(u16::MAX as u32) as u16, ..Warmup::default() }
    }

    /// While `eager`, a block is warm after `threshold / EAGER_DIVISOR` runs: the dispatcher
    /// says so while the compile thread has nothing queued (real-time runs only).
    pub fn set_eager(&mut self, eager: bool) {
        self.eager = eager;
    }

    /// Set `i`, the table allocated if need be.
    #[inline]
    fn set(&mut self, i: usize) -> &mut Set {
        if self.sets.is_empty() {
            self.sets = vec![Set([Way::EMPTY; WAYS]); SETS];
        }
        &mut self.sets[i]
    }

    /// Starts loading `key`'s set into the host's cache, so that a [`Warmup::cold`] soon after
    /// does not wait for it (the dispatcher asks before its block cache lookup: see `find`).
    #[inline]
    pub fn prefetch(&self, key: &BlockKey) {
        if let Some(set) = self.sets.get(slot(key).0) {
            emu_cpu_x86::prefetch(set);
        }
    }

    /// The threshold that applies now (see [`Warmup::set_eager`]).
    #[inline]
    fn threshold_now(&self) -> u16 {
        if self.eager {
            self.threshold / EAGER_DIVISOR
        } else {
            self.threshold
        }
    }

    /// Where `key` stands in the table (allocated if need be).
    #[inline]
    fn entry(&mut self, key: &BlockKey) -> Entry {
        let (i, tag, first) = slot(key);
        let set = self.set(i);
        let mut count = None;
        for (w, way) in set.0.iter().enumerate() {
            if way.tag == tag {
                match way.state {
                    State::Compiling => return Entry::Queued(way.len, way.runs),
                    State::Counting => count = Some(w),
                    State::Empty => {}
                }
            }
        }
        // A queued block in the side map comes first: a way counting runs under the same tag
        // may be another block's (tags are 32 bits of the hash), and must not queue it again.
        if !self.overflow.is_empty() {
            if let Some(&(len, heat)) = self.overflow.get(key) {
                return Entry::Queued(len, heat);
            }
        }
        match count {
            Some(w) => Entry::Counting(i, w),
            None => Entry::Absent(i, tag, first),
        }
    }

    /// Starts counting a block not in the table, with one run (see [`Warmup::entry`]).
    #[inline]
    fn count_new(&mut self, (i, tag, first): (usize, u32, usize), len: u8) {
        let set = &mut self.sets[i];
        if let Some(w) = set.victim(first) {
            set.0[w] = Way { tag, runs: 1, len, state: State::Counting };
        }
    }

    /// Called when the block `key` is about to run and is not translated: whether the
    /// interpreter runs it this time (its length from `len` on first sight), or it is warm now.
    pub fn cold(&mut self, key: &BlockKey, len: impl FnOnce() -> u32) -> Cold {
        self.count(key, len, true)
    }

    /// Counts a run of `key` (`len` instructions) about to go on into it from the block before
    /// it, without the dispatcher (a decoded run, [`crate::runs`]), as [`Warmup::cold`] does,
    /// but for a warm block: [`Cold::Translate`] leaves it warm, and the run stops before it, so
    /// that the dispatcher finds it and queues it.
    pub fn ran(&mut self, key: &BlockKey, len: u32) -> Cold {
        self.count(key, || len, false)
    }

    /// [`Warmup::cold`], and with `!take_warm` [`Warmup::ran`].
    #[inline]
    fn count(&mut self, key: &BlockKey, len: impl FnOnce() -> u32, take_warm: bool) -> Cold {
        if self.threshold == 0 && self.queued == 0 {
            return Cold::Translate;
        }
        let threshold = self.threshold_now();
        match self.entry(key) {
            Entry::Queued(len, heat) => Cold::Compiling(len as u32, heat),
            Entry::Counting(i, w) => {
                let way = &mut self.sets[i].0[w];
                if way.runs >= threshold {
                    if take_warm {
                        *way = Way::EMPTY;
                    }
                    return Cold::Translate;
                }
                way.runs += 1;
                Cold::Interpret(way.len as u32)
            }
            Entry::Absent(..) if threshold == 0 => Cold::Translate,
            Entry::Absent(i, tag, first) => {
                let len = way_len(len());
                self.count_new((i, tag, first), len);
                Cold::Interpret(len as u32)
            }
        }
    }

    /// Records that the warm block `key` (`len` instructions) was queued for compilation, with
    /// heat slot `heat`: until [`Warmup::forget`], [`Warmup::cold`] says [`Cold::Compiling`]
    /// (with `heat`). A block is queued at most once until it is forgotten.
    pub fn compiling(&mut self, key: &BlockKey, len: u32, heat: u16) {
        let len = way_len(len);
        let (i, tag, first) = slot(key);
        let set = self.set(i);
        // Its count, if it has one still, else a new way.
        let count = set.0.iter().position(|w| w.tag == tag && w.state == State::Counting);
        match count.or_else(|| set.victim(first)) {
            // A queued block's way counts no runs: `runs` holds its heat slot.
            Some(w) => set.0[w] = Way { tag, runs: heat, len, state: State::Compiling },
            None => {
                let again = self.overflow.insert(*key, (len, heat));
                debug_assert!(again.is_none(), "{key:?} queued twice");
            }
        }
        self.queued += 1;
    }

    /// Forgets `key`, queued for compilation: its code was installed, or the request was dropped
    /// because its page was written, and then it warms up again from the start (as a translated
    /// block does once it is invalidated).
    pub fn forget(&mut self, key: &BlockKey) {
        if self.queued == 0 {
            return;
        }
        if !self.overflow.is_empty() && self.overflow.remove(key).is_some() {
            self.queued -= 1;
            return;
        }
        let (i, tag, _) = slot(key);
        let set = self.set(i);
        // Entries with one tag are interchangeable: any one of them is this block's.
        if let Some(way) = set.0.iter_mut().find(|w| w.tag == tag && w.state == State::Compiling) {
            *way = Way::EMPTY;
            self.queued -= 1;
        }
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
    fn an_eager_table_warms_blocks_after_fewer_runs() {
        let mut w = Warmup::new(8);
        w.set_eager(true);
        for _ in 0..8 / EAGER_DIVISOR {
            assert_eq!(w.cold(&key(0x1000), || 4), Cold::Interpret(4));
        }
        assert_eq!(w.cold(&key(0x1000), || unreachable!()), Cold::Translate);
        w.set_eager(false);
        for _ in 0..8 {
            assert_eq!(w.cold(&key(0x2000), || 4), Cold::Interpret(4));
        }
        assert_eq!(w.cold(&key(0x2000), || unreachable!()), Cold::Translate);
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
            w.compiling(&key(0x1000), 4, 9);
            for _ in 0..10 {
                assert_eq!(w.cold(&key(0x1000), || unreachable!()), Cold::Compiling(4, 9), "threshold {threshold}");
            }
            assert_eq!(w.cold(&key(0x2000), || 3), if threshold == 0 { Cold::Translate } else { Cold::Interpret(3) });
            w.forget(&key(0x1000));
            let again = if threshold == 0 { Cold::Translate } else { Cold::Interpret(6) };
            assert_eq!(w.cold(&key(0x1000), || 6), again, "warms up again, decoded again");
        }
    }

    /// `n` keys in the set of `key(0x1000)`.
    fn colliding(n: usize) -> Vec<BlockKey> {
        let set = slot(&key(0x1000)).0;
        (0..).map(|p: u32| key(p << 4)).filter(|k| slot(k).0 == set).take(n).collect()
    }

    /// A set keeps the counts of as many blocks as it has ways; the next block replaces the one
    /// in the way its hash picks, and that block warms up (and is decoded) again from the start.
    #[test]
    fn a_replaced_count_starts_again() {
        let c = colliding(WAYS + 1);
        let mut w = Warmup::new(3);
        let decoded = std::cell::Cell::new(0);
        let run = |w: &mut Warmup, k: &BlockKey| {
            w.cold(k, || {
                decoded.set(decoded.get() + 1);
                5
            })
        };
        for k in &c[..WAYS] {
            assert_eq!(run(&mut w, k), Cold::Interpret(5));
        }
        for k in &c[..WAYS] {
            assert_eq!(run(&mut w, k), Cold::Interpret(5));
        }
        assert_eq!(decoded.get(), WAYS, "a full set, each block decoded once");
        let replaced = slot(&c[WAYS]).2;
        assert_eq!(run(&mut w, &c[WAYS]), Cold::Interpret(5));
        let mut again = vec![];
        for (i, k) in c[..WAYS].iter().enumerate() {
            let before = decoded.get();
            let r = run(&mut w, k);
            if decoded.get() > before {
                again.push(i);
                assert_eq!(r, Cold::Interpret(5));
            } else {
                assert_eq!(r, Cold::Interpret(5), "its third run");
                assert_eq!(run(&mut w, k), Cold::Translate, "its fourth");
            }
        }
        assert_eq!(again[0], replaced, "the way the newcomer's hash picked");
    }

    /// A queued block's entry is never replaced: when every way of a set holds a queued block,
    /// one more queued there goes to the side map, and blocks new there run uncounted (decoded
    /// every time) until a way is free again.
    #[test]
    fn queued_blocks_are_never_replaced() {
        let c = colliding(WAYS + 2);
        let (extra, new) = (&c[WAYS], &c[WAYS + 1]);
        let mut w = Warmup::new(2);
        for k in &c[..=WAYS] {
            w.compiling(k, 7, 3);
        }
        assert_eq!((w.queued, w.overflow.len()), (WAYS + 1, 1));
        let mut decoded = 0;
        for _ in 0..10 {
            let r = w.cold(new, || {
                decoded += 1;
                4
            });
            assert_eq!(r, Cold::Interpret(4));
        }
        assert_eq!(decoded, 10);
        for k in &c[..=WAYS] {
            assert_eq!(w.cold(k, || unreachable!()), Cold::Compiling(7, 3));
        }
        w.forget(extra);
        w.forget(&c[0]);
        assert_eq!((w.queued, w.overflow.len()), (WAYS - 1, 0));
        assert_eq!(w.cold(extra, || 3), Cold::Interpret(3), "warms up again");
        assert_eq!(w.cold(new, || 4), Cold::Interpret(4));
        assert_eq!(w.cold(new, || unreachable!()), Cold::Interpret(4), "counted again");
        assert_eq!(w.cold(&c[1], || unreachable!()), Cold::Compiling(7, 3));
        for k in &c[1..WAYS] {
            w.forget(k);
        }
        assert_eq!(w.queued, 0);
    }

    /// Runs that went on into a block from the one before it count as its runs; once it is
    /// warm it stays warm until the dispatcher translates it.
    #[test]
    fn runs_from_the_block_before_count() {
        let mut w = Warmup::new(3);
        let (b, c) = (key(0x1000), key(0x2000));
        assert_eq!(w.ran(&b, 4), Cold::Interpret(4), "first run");
        assert_eq!(w.cold(&b, || unreachable!()), Cold::Interpret(4), "counted, its length kept");
        assert_eq!(w.ran(&b, 9), Cold::Interpret(4), "third run");
        assert_eq!(w.ran(&b, 4), Cold::Translate, "warm: not from the run before any more");
        assert_eq!(w.ran(&b, 4), Cold::Translate, "and it stays warm");
        assert_eq!(w.cold(&b, || unreachable!()), Cold::Translate, "the dispatcher translates it");
        w.compiling(&b, 4, 6);
        assert_eq!(w.ran(&b, 4), Cold::Compiling(4, 6), "queued: it runs from the run before meanwhile");
        assert_eq!(w.cold(&b, || unreachable!()), Cold::Compiling(4, 6), "a run does not count while queued");
        w.set_eager(true);
        assert_eq!(w.ran(&c, 1), Cold::Interpret(1));
        assert_eq!(w.ran(&c, 1), Cold::Translate, "eager: warm after 3 / {EAGER_DIVISOR} runs");
        assert_eq!(Warmup::new(0).ran(&c, 1), Cold::Translate, "no warm-up: always the dispatcher's");
    }

    /// Queued blocks stay queued however many other blocks pass through the table.
    #[test]
    fn queued_blocks_survive_a_flood() {
        let mut w = Warmup::new(1);
        let queued: Vec<BlockKey> = (0..200u32).map(|i| key(0x10_0000 + i * 0x40)).collect();
        for k in &queued {
            w.compiling(k, 2, 5);
        }
        for p in 0..(SETS * WAYS * 4) as u32 {
            w.cold(&key(0x1000_0000 + p * 16), || 1);
        }
        for k in &queued {
            assert_eq!(w.cold(k, || unreachable!()), Cold::Compiling(2, 5));
            w.forget(k);
        }
        assert_eq!((w.queued, w.overflow.len()), (0, 0));
    }
}
