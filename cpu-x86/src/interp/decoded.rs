//! Decoded runs: a block's instructions (and those of the blocks after it, when the JIT makes
//! runs that go on past conditional branches), decoded once, run again by the interpreter
//! without fetching or decoding them.
//!
//! The JIT's dispatcher hands blocks that are not translated yet (warming up, or queued for the
//! compile thread) to the interpreter, a few hundred times each. Through [`Cpu::step`] every
//! instruction of every run pays for the fetch (segment and TLB checks of EIP) and a decode
//! cache lookup, which on a kernel's cold code misses the host's caches more often than not.
//! A [`DecodedRun`] keeps the instructions, and for each the bytes it was decoded from
//! (as the decode cache keeps them, [`crate::decode::cache`]), in one place, and
//! [`Cpu::run_decoded`] runs them: per instruction, a compare of those bytes with the bytes now
//! in guest memory, then [`exec`](super::exec) as `Cpu::step` calls it, or, for the commonest
//! 32-bit forms, the same operation without the general dispatch ([`super::fast`], classified
//! once as the run is made).
//!
//! **Invariant:** running a `DecodedRun` retires the same instructions with the same effects
//! as stepping the interpreter over them without interrupt checks between them (as a
//! translated block runs them): a run is made only of instructions that cannot change the
//! mode, the interrupt flag or debug state, do port I/O or repeat (REP strings), except as its
//! last one ([`Insn::ends_run`]; a memory access to a device may raise an interrupt, which is
//! taken after the block, as after a translated one: the JIT runs a run block by block, with
//! its checks in between), each instruction's bytes are compared with the guest's before it
//! runs (so code written by the run itself, or by anyone since it was made, is seen: the run
//! stops there and the caller's interpreter fetches what is there now), and it stops as soon as
//! EIP is not where the next instruction is (a branch taken, a merged RET that did not return
//! where predicted, a fault). (One difference from stepping, as for a translated block: the run
//! finds the host page of its code once, as it starts; a guest that rewrites the page-table
//! entry of the page it runs from without a TLB flush, and then has that TLB entry evicted by
//! an access of the run, goes on with the old page to the run's end, where stepping would walk
//! the tables again. The architecture allows either translation until the flush.)
//!
//! The run is self-checking: it holds the code size and CS base it was decoded with, and all its
//! instructions (whole 15-byte fetch windows, as the decode cache requires) lie in the linear
//! page of the first; [`Cpu::run_decoded`] runs nothing unless those still hold, the page is
//! host memory, and the run's bytes are within CS's limit.

use super::fast::Fast;
use crate::cpu::Cpu;
use crate::decode::{cache, Insn, MAX_LEN};
use crate::state::SegReg;
use std::ops::Range;

/// One instruction of a run.
#[derive(Debug, Clone, Copy)]
struct Step {
    insn: Insn,
    /// The bytes it was decoded from ([`cache::masked_words`]).
    words: [u64; 2],
    eip: u32,
    /// Its first byte's offset in the linear page of the run's first instruction.
    off: u16,
    /// Its fast form, if it has one ([`super::fast`]).
    fast: Fast,
}

/// A block's instructions, decoded (see the module comment). One allocation, refilled in place
/// by [`Cpu::decode_run_into`].
#[derive(Debug, Clone, Default)]
pub struct DecodedRun {
    steps: Vec<Step>,
    code32: bool,
    cs_base: u32,
    /// From the first instruction's first byte to the highest byte of any, plus one.
    bytes: u32,
}

impl DecodedRun {
    /// Instructions in the run (0 for a run that was never filled, or could not be).
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Starts loading the run's first instructions into the host's caches (see
    /// [`crate::prefetch`]): the caller is about to run it.
    #[inline]
    pub fn prefetch(&self) {
        let p = self.steps.as_ptr() as *const u8;
        crate::prefetch(p);
        crate::prefetch(p.wrapping_add(64));
    }

    /// Instructions in the run with a fast form ([`super::fast`]).
    #[cfg(test)]
    pub(crate) fn fast_forms(&self) -> usize {
        self.steps.iter().filter(|s| s.fast != Fast::General).count()
    }

    /// Whether the run has no instruction, so [`Cpu::run_decoded`] runs none.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

impl Insn {
    /// Whether the dispatcher must see the machine after this instruction before another runs:
    /// it may change the mode, the interrupt flag or debug state (the decoder's `MODE`
    /// instructions), port I/O (devices may raise an interrupt or ask to stop), or a REP
    /// string instruction (it may step EIP back onto itself). Translated blocks and decoded
    /// runs end with such an instruction, if they have one.
    pub fn ends_run(&self) -> bool {
        use crate::decode::{prefix, table, Mnemonic as M};
        let string = matches!(self.mnemonic, M::Movs | M::Cmps | M::Stos | M::Lods | M::Scas | M::Ins | M::Outs);
        self.attr & table::MODE != 0 || (string && self.has(prefix::REP | prefix::REPNE)) || self.does_port_io()
    }

    /// Port I/O: IN, OUT, INS, OUTS.
    pub fn does_port_io(&self) -> bool {
        use crate::decode::Mnemonic as M;
        matches!(self.mnemonic, M::In | M::Out | M::Ins | M::Outs)
    }
}

impl Cpu {
    /// Fills `run` with the decoded run of `insns`, decoded at `eips` with the current code
    /// size and CS base (the first at CS:EIP now, and nothing written since): as many of them as
    /// lie, whole fetch window and all, in the linear page of the first and in host memory, up
    /// to and including the first that [`Insn::ends_run`]. That may be none (an empty run).
    pub fn decode_run_into(&self, insns: &[Insn], eips: &[u32], run: &mut DecodedRun) {
        run.steps.clear();
        run.code32 = self.s.code32();
        run.cs_base = self.s.segs[SegReg::Cs as usize].base;
        let Some(&start) = eips.first() else { return };
        let page = run.cs_base.wrapping_add(start) & !0xfff;
        let mut end = start as u64;
        for (i, &eip) in insns.iter().zip(eips) {
            let lin = run.cs_base.wrapping_add(eip);
            let (host, avail) = self.fetch_window(eip, run.code32);
            if lin & !0xfff != page || avail != MAX_LEN || (i.len as usize) > MAX_LEN {
                break;
            }
            // SAFETY: `fetch_window` vouched for MAX_LEN bytes of host memory at `host`.
            let words = unsafe { cache::masked_words(host, i.len) };
            let fast = Fast::of(i, run.code32);
            run.steps.push(Step { insn: *i, words, eip, off: (lin & 0xfff) as u16, fast });
            end = end.max(eip as u64 + i.len as u64);
            if i.ends_run() {
                break;
            }
        }
        run.bytes = (end - start as u64) as u32;
    }

    /// Runs the instructions `steps` of `run` (indices; those past its end are not there), the
    /// first of which must be at CS:EIP (see the module comment): each as [`Cpu::step`] would
    /// (a fault is delivered, and ends the run), until they end, EIP leaves them, or an
    /// instruction's bytes are no longer those it was decoded from. No interrupt is taken and
    /// the clock is not synced in between: the caller's `steps` end by the next sync point.
    /// Returns the instructions retired (a faulting one included, as `Cpu::step` counts it); 0
    /// when the run does not apply (not at CS:EIP, another code size or CS base, the page not
    /// host memory, the run's bytes beyond CS's limit, or the first instruction rewritten).
    pub fn run_decoded(&mut self, run: &DecodedRun, steps: Range<usize>) -> u32 {
        let steps = run.steps.get(steps.start..steps.end.min(run.steps.len())).unwrap_or(&[]);
        let Some(first) = steps.first() else { return 0 };
        let start = self.s.eip;
        let cs = self.s.segs[SegReg::Cs as usize];
        if start != first.eip
            || self.s.code32() != run.code32
            || cs.base != run.cs_base
            || run.steps[0].eip as u64 + run.bytes as u64 - 1 > cs.limit as u64
        {
            return 0;
        }
        let (host, avail) = self.fetch_window(start, run.code32);
        if avail == 0 {
            return 0;
        }
        // The host address of the run's linear page: every offset in the run is of a whole
        // fetch window inside it (`decode_run_into`), and the execute tag `fetch_window` matched
        // says the page is host memory.
        let page = host.wrapping_sub(first.off as usize);
        let mut ran = 0;
        for (k, step) in steps.iter().enumerate() {
            let i = &step.insn;
            // SAFETY: see above; `off + MAX_LEN <= 0x1000`.
            if unsafe { cache::masked_words(page.add(step.off as usize), i.len) } != step.words {
                break;
            }
            let eip = self.s.eip;
            // An interrupt shadow covers one instruction (`Cpu::step_insn`); the run has no
            // interrupt checks, so it only has to end with the shadow its last instruction set.
            self.s.irq_shadow = false;
            let result = match step.fast {
                Fast::General => self.exec_at(i, eip),
                // Fast forms are of 32-bit code only: EIP does not wrap at 64 KiB.
                f => {
                    self.s.eip = eip.wrapping_add(i.len as u32);
                    self.exec_fast(f, i)
                }
            };
            ran += 1;
            if !self.retire(eip, result) {
                break;
            }
            if steps.get(k + 1).is_some_and(|next| next.eip != self.s.eip) {
                break;
            }
        }
        ran
    }
}
