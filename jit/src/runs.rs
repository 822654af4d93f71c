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
//!
//! **Runs go on past conditional branches** (`translate::scan_run`): where a branch is not
//! taken, the blocks after it run from the same run, within its page, with no lookup in
//! between; where it is taken, the run stops and the dispatcher looks up the target. Up to the
//! isapnp probe of the Linux bench boot that cut the dispatcher's lookups of blocks not
//! translated by more than a quarter (README, "Runs past branches"). [`Runs::run`] runs them
//! block by block, and between two blocks does what the dispatcher does before a lookup (the
//! board's attention, written code pages, a pending interrupt, the budget's end, the clock
//! deadline: the run stops there), and counts a run of the next block in the warm-up table
//! ([`crate::warmup::Warmup::ran`]), so blocks warm up as if the dispatcher ran them. Once the
//! next block is warm or translated (it may be entered from elsewhere too), the run stops
//! before it from then on, so that the dispatcher finds it and queues it, or runs its code.
//!
//! **Invariant:** which blocks run from a decoded run only decides which tier runs an
//! instruction, never what it does.
//!
//! **Invariant:** a slot holds only blocks that are not translated ([`Runs::holds`]): a run is
//! made for a block the block cache does not have, and installing a block forgets its run
//! ([`Runs::translated`]). So the dispatcher's lookup of a block with a run skips the block
//! cache.

use crate::key::{BlockKey, KeyHash};
use crate::translate::{self, GuestBlock, MAX_BLOCK_INSNS};
use crate::warmup::{Cold, Warmup};
use emu_cpu_x86::decode::{Arg, Insn, Mnemonic as M};
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
/// instruction crosses the page end, so it is not decoded again at every run). Two cache lines:
/// what a lookup reads before the run (the key, the limit, where the run's instructions are)
/// in the first, the later blocks in the second; [`Runs::prefetch`] asks for both.
#[derive(Clone, Default)]
#[repr(C, align(64))]
struct Slot {
    key: Option<BlockKey>,
    /// How many of the run's instructions may run: up to the first later block that is warm or
    /// translated.
    limit: u32,
    run: DecodedRun,
    /// The blocks after the first in the run: the index of each one's first instruction, and
    /// its key.
    later: Vec<(u32, BlockKey)>,
    /// The block the run's last instruction jumps or calls to, if it is a direct one and its
    /// target page is mapped (as it was when the run was made): the likely next lookup.
    next: Option<BlockKey>,
}

const _: () = assert!(std::mem::offset_of!(Slot, run) + std::mem::size_of::<DecodedRun>() <= 64);

/// The table (see the module comment).
#[derive(Default)]
pub(crate) struct Runs {
    /// `SLOTS` slots, allocated at the first block.
    slots: Vec<Slot>,
}

impl Runs {
    /// The slot of `key`'s run, made from `scanned` (the run as `translate::scan_run` decoded
    /// it just now, if it did) or decoded now if the slot holds another block's; `None` if the
    /// block has no run.
    pub fn prepare(
        &mut self,
        cpu: &mut Cpu,
        key: &BlockKey,
        scanned: Option<(GuestBlock, Vec<usize>)>,
    ) -> Option<usize> {
        if self.slots.is_empty() {
            self.slots = huge_vec(SLOTS);
        }
        let s = slot_of(key);
        let slot = &mut self.slots[s];
        if scanned.is_some() || slot.key != Some(*key) {
            let (g, starts) = scanned.unwrap_or_else(|| translate::scan_run(cpu, MAX_BLOCK_INSNS));
            cpu.decode_run_into(&g.insns, &g.eips, &mut slot.run);
            slot.key = Some(*key);
            slot.limit = slot.run.len() as u32;
            slot.later.clear();
            // All in the linear page of the first instruction (`decode_run_into`), so in the
            // physical page of the key.
            let lin = key.cs_base.wrapping_add(key.eip);
            for &i in starts.iter().take_while(|&&i| i < slot.run.len()) {
                let eip = g.eips[i];
                let phys = key.phys & !0xfff | key.cs_base.wrapping_add(eip) & 0xfff;
                debug_assert_eq!(key.cs_base.wrapping_add(eip) & !0xfff, lin & !0xfff);
                slot.later.push((i as u32, BlockKey { phys, eip, ..*key }));
            }
            slot.next =
                slot.run.len().checked_sub(1).and_then(|last| likely_next(cpu, key, &g.insns[last], g.eips[last]));
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
            emu_cpu_x86::prefetch(&slot.later);
        }
    }

    /// Whether a slot holds `key`'s run (empty or not): then `key` is not translated (see
    /// [`Runs::translated`]), and the dispatcher need not ask the block cache.
    #[inline]
    pub fn holds(&self, key: &BlockKey) -> bool {
        self.slots.get(slot_of(key)).is_some_and(|slot| slot.key == Some(*key))
    }

    /// Forgets `key`'s run, if a slot holds it: `key` was translated. (Which keeps
    /// [`Runs::holds`] true only of blocks not translated: a run is only made for a block the
    /// block cache does not have.)
    pub fn translated(&mut self, key: &BlockKey) {
        if let Some(slot) = self.slots.get_mut(slot_of(key)).filter(|slot| slot.key == Some(*key)) {
            slot.key = None;
        }
    }

    /// Starts loading what the lookup of the block that likely follows the run in slot `s`
    /// will read (its slot, and its set in `warmup`), so that it overlaps with the run.
    #[inline]
    pub fn prefetch_next(&self, s: usize, warmup: &Warmup) {
        if let Some(next) = &self.slots[s].next {
            self.prefetch(next);
            warmup.prefetch(next);
        }
    }

    /// Runs the run in slot `s` (from [`Runs::prepare`]) on `cpu`, within the next `left`
    /// instructions and the clock deadline (the caller leaves room for one at least): block by
    /// block, doing between two blocks what the dispatcher does before a lookup (see
    /// `dispatch::must_stop`; the budget's end, the deadline read again) and counting a run of
    /// the next block for `warmup`, but looking nothing up. The run stops before a later block
    /// that is warm or translated (`is_translated`), from then on; `queued` is told the heat
    /// slot of a later block queued for the compile thread. Returns the instructions retired
    /// (0: the run does not apply, and is forgotten) and the later blocks it went into.
    pub fn run(
        &mut self,
        s: usize,
        cpu: &mut Cpu,
        left: u64,
        warmup: &mut Warmup,
        mut is_translated: impl FnMut(&BlockKey) -> bool,
        mut queued: impl FnMut(u16),
    ) -> (u64, u32) {
        let slot = &mut self.slots[s];
        let end = cpu.s.icount.saturating_add(left);
        let limit = slot.limit as usize;
        let (mut from, mut ran) = (0, 0);
        let mut later = slot.later.iter().enumerate();
        let mut blocks = 0;
        loop {
            let next = later.next().filter(|&(_, &(i, _))| (i as usize) < limit);
            let to = next.map_or(limit, |(_, &(i, _))| i as usize);
            let room = end.min(cpu.sys_deadline_icount).saturating_sub(cpu.s.icount);
            let n = cpu.run_decoded(&slot.run, from..to.min(from.saturating_add(room as usize)));
            if n == 0 && from == 0 && room > 0 {
                // Its first instruction was rewritten (or the run is for another CS base or code
                // size): decoded again next time.
                slot.key = None;
            }
            ran += n as u64;
            let Some((k, &(_, key))) = next.filter(|_| n as usize == to - from) else { break };
            // At the start of a later block (unless the last instruction faulted: then EIP is
            // the handler's), if nothing stops the run there.
            if cpu.s.eip != key.eip
                || crate::dispatch::must_stop(cpu)
                || cpu.s.icount >= end.min(cpu.sys_deadline_icount)
            {
                break;
            }
            let len = slot.later.get(k + 1).map_or(slot.run.len(), |l| l.0 as usize) - to;
            if is_translated(&key) {
                slot.limit = to as u32;
                break;
            }
            match warmup.ran(&key, len as u32) {
                Cold::Translate => {
                    slot.limit = to as u32;
                    break;
                }
                Cold::Compiling(_, heat) => queued(heat),
                Cold::Interpret(_) => {}
            }
            blocks += 1;
            from = to;
        }
        (ran, blocks)
    }
}

/// The block a run whose last instruction is `i`, at `eip`, likely goes to: the target of a
/// direct JMP, CALL or Jcc, if the TLB maps its page for execution (finding it otherwise would
/// walk the page tables).
fn likely_next(cpu: &Cpu, key: &BlockKey, i: &Insn, eip: u32) -> Option<BlockKey> {
    let Arg::Rel(rel) = i.args[0] else { return None };
    if !matches!(i.mnemonic, M::Jcc | M::Jmp | M::Call) {
        return None;
    }
    let t = eip.wrapping_add(i.len as u32).wrapping_add(rel) & i.osize.mask();
    let lin = key.cs_base.wrapping_add(t);
    cpu.mapped_fetch(lin).map(|phys| BlockKey { phys, eip: t, ..*key })
}

/// `n` default values, in memory the host kernel is asked to back with huge pages where it can
/// (transparent huge pages, `madvise` mode included): a lookup's slot is then found without a
/// page walk, where the 4 KiB pages of a table of megabytes missed the host's TLB.
fn huge_vec<T: Default + Clone>(n: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let (from, to) = (start.next_multiple_of(HUGE), (start + n * std::mem::size_of::<T>()) / HUGE * HUGE);
        if to > from {
            // SAFETY: advice on pages of our own allocation; it changes no contents.
            unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE) };
        }
    }
    v.resize(n, T::default());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use emu_core::{ClockMode, System};
    use emu_cpu_x86::state::{cr0, Segment};
    use iced_x86::code_asm::*;

    /// Flat 32-bit code at 0x1000, run from its first instruction (which fills the TLB's
    /// execute tag of its page).
    fn cpu_at(code: &[u8]) -> Cpu {
        let mut c = Cpu::new(System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap());
        c.s.cr0 |= cr0::PE;
        c.s.segs = [Segment::flat32(0x10, false); 6];
        c.s.segs[1] = Segment::flat32(0x08, true);
        c.s.eip = 0x1000;
        c.s.regs[4] = 0x80000;
        for (i, &b) in code.iter().enumerate() {
            c.sys.write_phys(0x1000 + i as u64, 1, b as u32);
        }
        c.translate_fetch(0x1000).unwrap();
        c
    }

    /// The slot made for the block at the CPU's EIP.
    fn slot_of_cpu(runs: &mut Runs, c: &mut Cpu) -> Slot {
        let key = BlockKey::new(&c.s, c.a20_mask, c.s.eip);
        let s = runs.prepare(c, &key, None).expect("a run");
        runs.slots[s].clone()
    }

    fn code(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
        let mut a = CodeAssembler::new(32).unwrap();
        f(&mut a).unwrap();
        a.assemble(0x1000).unwrap()
    }

    /// A run's likely next block is the target of its last instruction when that is a direct
    /// jump or call into a page the TLB maps; the blocks after its branches are its later ones.
    #[test]
    fn a_run_knows_its_later_blocks_and_its_likely_next_one() {
        let mut c = cpu_at(&code(|a| {
            let mut out = a.create_label();
            a.inc(eax)?; // 1000
            a.jz(out)?; // 1001
            a.dec(ebx)?; // 1003
            a.set_label(&mut out)?;
            a.cmp(eax, 5)?; // 1004
            a.jmp(0x2000u64) // 1007: another page
        }));
        c.translate_fetch(0x2000).unwrap();
        let slot = slot_of_cpu(&mut Runs::default(), &mut c);
        assert_eq!(slot.run.len(), 5, "past the JZ, up to the JMP");
        let later: Vec<(u32, u32)> = slot.later.iter().map(|(i, k)| (*i, k.eip)).collect();
        assert_eq!(later, [(2, 0x1003)], "the block after the JZ");
        assert_eq!(slot.limit, 5);
        let next = slot.next.expect("the JMP's target");
        let key = slot.key.unwrap();
        assert_eq!((next.eip, next.phys, next.mode, next.cs_base), (0x2000, 0x2000, key.mode, 0));

        // A CALL into a page the TLB has not mapped yet: no likely next block (finding it would
        // walk the page tables); once it is mapped, its target.
        let mut c = cpu_at(&code(|a| {
            a.mov(eax, 1u32)?;
            a.call(0x3000u64)
        }));
        let slot = slot_of_cpu(&mut Runs::default(), &mut c);
        assert_eq!((slot.run.len(), slot.next), (2, None));
        c.translate_fetch(0x3000).unwrap();
        let slot = slot_of_cpu(&mut Runs::default(), &mut c);
        assert_eq!(slot.next.map(|k| k.eip), Some(0x3000));
    }
}
