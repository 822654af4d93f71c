//! The decoded runs of blocks not translated yet: what the interpreter runs them from while they
//! warm up or wait for the compile thread ([`emu_cpu_x86::interp::decoded`]).
//!
//! A block warming up is decoded once on first sight anyway (to learn its length, `warmup`);
//! its run keeps those instructions, so the interpreter's next few hundred runs of the block
//! neither fetch nor decode. The table is direct-mapped by the block's key, an entry per slot,
//! the whole key compared; a new block's run reuses the memory of the one it replaces. A run
//! checks its own bytes against guest memory as it goes, so an entry needs no invalidation when
//! code is written, the page remapped or the cache flushed: a stale run stops where its bytes
//! differ and the plain interpreter goes on.

use crate::key::{BlockKey, KeyHash};
use crate::translate::{self, GuestBlock, MAX_BLOCK_INSNS};
use emu_cpu_x86::interp::decoded::DecodedRun;
use emu_cpu_x86::Cpu;
use std::hash::BuildHasher;

/// Slots in the table (a power of two): more than the blocks a kernel's cold phases warm up at
/// once, few enough (a slot and a typical run take a few hundred bytes) to stay small. On the
/// Linux bench boot up to the isapnp probe, 2^14 slots decoded 56 k runs on first sight and
/// 75 k again after another block had taken their slot; 2^16 slots 25 k again, for 20 MiB
/// more resident memory (137 MiB in all) and about 0.1 s less from "Linux version" to the
/// probe (medians of four interleaved boots, 2.13 s against 2.31 s).
const SLOTS: usize = 1 << 16;

/// The slot `key`'s run goes to.
fn slot_of(key: &BlockKey) -> usize {
    KeyHash::default().hash_one(key) as usize & (SLOTS - 1)
}

/// One slot: a block's key and its run (empty if the block has none, e.g. its first
/// instruction crosses the page end, so it is not decoded again at every run).
#[derive(Clone, Default)]
struct Slot {
    key: Option<BlockKey>,
    run: DecodedRun,
}

/// The table (see the module comment).
#[derive(Default)]
pub(crate) struct Runs {
    /// `SLOTS` slots, allocated at the first block.
    slots: Vec<Slot>,
}

impl Runs {
    /// The slot of `key`'s run, made from `scanned` (the block as `translate::scan` decoded it
    /// just now, if it did) or decoded now if the slot holds another block's; `None` if the
    /// block has no run.
    pub fn prepare(&mut self, cpu: &mut Cpu, key: &BlockKey, scanned: Option<GuestBlock>) -> Option<usize> {
        if self.slots.is_empty() {
            self.slots = vec![Slot::default(); SLOTS];
        }
        let s = slot_of(key);
        let slot = &mut self.slots[s];
        if scanned.is_some() || slot.key != Some(*key) {
            let g = scanned.unwrap_or_else(|| translate::scan(cpu, MAX_BLOCK_INSNS));
            cpu.decode_run_into(&g.insns, &g.eips, &mut slot.run);
            slot.key = Some(*key);
        } else {
            // Made before: its instructions are likely out of the host's caches by now.
            slot.run.prefetch();
        }
        (!slot.run.is_empty()).then_some(s)
    }

    /// Starts loading `key`'s slot into the host's cache (see [`crate::warmup::Warmup::prefetch`]).
    #[inline]
    pub fn prefetch(&self, key: &BlockKey) {
        if let Some(slot) = self.slots.get(slot_of(key)) {
            emu_cpu_x86::prefetch(slot);
        }
    }

    /// Empties slot `s`, so that its block is decoded again at its next run: its run no longer
    /// applies ([`Cpu::run_decoded`] ran nothing).
    pub fn forget(&mut self, s: usize) {
        self.slots[s].key = None;
    }

    /// The run in slot `s` (from [`Runs::prepare`]).
    pub fn get(&self, s: usize) -> &DecodedRun {
        &self.slots[s].run
    }
}
