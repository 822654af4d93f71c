//! Lockstep mode (`--cpu check`): every block runs in the JIT, then again in the interpreter
//! from the same state, memory and TLB, and the two results are compared, register by register
//! and byte by byte; the run stops at the first difference, naming it.
//!
//! Memory is compared page-wise. The checker keeps a shadow copy of RAM that equals RAM at
//! every block boundary. Which pages a run wrote is learned from the TLB's write log
//! ([`emu_cpu_x86::tlb::Tlb::write_log`], on while checking): every slow-path write appends its
//! physical page. A write tag is only ever set by a slow-path write, so once the log is taken
//! and every write tag is cleared (`forbid_direct_writes`), the first write to each page
//! after that takes the slow path and is logged; reads and fetches keep their tags. Unlike the
//! tags, the log survives TLB flushes (A20, the physical map, CR3) and evictions between and
//! inside blocks. Pages written behind the CPU's back (DMA, firmware) come from
//! `System::take_written_pages` through the dispatcher ([`Checker::drained`]).
//!
//! **Invariant:** between blocks, every RAM page whose contents differ from the shadow is in the
//! write log or in `drained`; at a block's start the log is empty and no TLB entry has a write
//! tag, and the TLB as it is then is saved: both runs of the block start from that TLB, so a
//! translation one tier cached cannot show in the other's run. Saving and restoring copy only
//! the entries the TLB lists as changed since the last save or restore ([`Tlb::touched`]), or
//! all of them after a change to many at once ([`Tlb::epoch`]); likewise only listed entries
//! can hold a write tag, so only they are cleared.
//!
//! With [`crate::Options::check_after`] (`--check-after N`), blocks run once, unchecked, until
//! N instructions have retired; the first checked block starts the shadow and the write log.
//!
//! After the JIT's run the pages it wrote are saved and put back from the shadow, the state and
//! the TLB are put back, the interpreter runs as many instructions as the block retired, and the
//! written pages of both runs are compared.
//!
//! When the two differ, the block's first `k` instructions are translated as blocks of their own
//! and compared the same way for `k` = 1, 2, ..., from the block's starting state, so the report
//! names the first instruction after which they differ (address and disassembly) and what
//! differs (a register, a lazy-flags field, a segment, or a memory byte).
//!
//! Limits: devices have side effects, so blocks that do port I/O run once, in the JIT only, and
//! so does a block whose JIT run turns out to have written to a page that is neither RAM nor ROM
//! (MMIO: the APICs, VGA memory): its result stands, unchecked, as the device saw it. (VGA
//! memory is the case that shows: Linux's VGA console probes it by reading a word, writing
//! 0x55AA there and reading it back, and a second run would read the first run's 0x55AA.) MMIO
//! reads in a block without such writes happen twice (more while looking for the first
//! differing instruction).

use crate::cache::BlockId;
use crate::dump::guest_text;
use crate::helpers::BlockEntry;
use crate::Jit;
use emu_core::PageBacking;
use emu_cpu_x86::disasm;
use emu_cpu_x86::state::{CpuState, SegReg};
use emu_cpu_x86::tlb::{Tlb, TlbEntry, INVALID, TLB_SIZE};
use emu_cpu_x86::{Cpu, Stop};

const PAGE: usize = 4096;

/// The checker's memory and verdict.
#[derive(Default)]
pub struct Checker {
    /// RAM as of the last block boundary.
    shadow: Vec<u8>,
    /// Pages written between blocks that the dispatcher already took from `smc_writes` or from
    /// `System::take_written_pages` (DMA, firmware).
    pub(crate) drained: Vec<u32>,
    /// The first difference found.
    pub failure: Option<String>,
    /// The TLB as the current block found it (see the module's invariant).
    tlb: Option<Box<TlbSnapshot>>,
    /// The pages the JIT's run wrote, sorted, and their contents as it left them (page `i` of
    /// the list at `jit_bytes[i * PAGE..]`).
    jit_pages: Vec<u32>,
    jit_bytes: Vec<u8>,
    /// Scratch lists of written pages (kept to reuse their allocations).
    interp_pages: Vec<u32>,
    scratch: Vec<u32>,
    /// Blocks are checked from this instruction count on ([`crate::Options::check_after`]).
    after: u64,
}

/// The translations of a [`Tlb`] (without its statistics and logs).
///
/// **Invariant:** while the TLB's `epoch` equals `epoch`, the TLB's entries equal these but for
/// those listed in its `touched` list (see [`Tlb::touched`]).
struct TlbSnapshot {
    sets: [[TlbEntry; TLB_SIZE]; 2],
    global: [[bool; TLB_SIZE]; 2],
    epoch: u64,
}

/// Beyond this many touched entries, a whole copy of the TLB is about as cheap.
const TOUCHED_LIMIT: usize = 256;

impl TlbSnapshot {
    /// Whether the entries in the TLB's `touched` list are all that may differ from ours.
    fn in_step(&self, tlb: &Tlb) -> bool {
        tlb.epoch == self.epoch && tlb.touched.as_ref().is_some_and(|t| t.len() <= TOUCHED_LIMIT)
    }

    /// Copies entry `i` (`set * TLB_SIZE + slot`) from `from` to `to`.
    fn copy_entry(
        i: u16,
        from: (&[[TlbEntry; TLB_SIZE]; 2], &[[bool; TLB_SIZE]; 2]),
        to: (&mut [[TlbEntry; TLB_SIZE]; 2], &mut [[bool; TLB_SIZE]; 2]),
    ) {
        let (set, slot) = (i as usize / TLB_SIZE, i as usize % TLB_SIZE);
        to.0[set][slot] = from.0[set][slot];
        to.1[set][slot] = from.1[set][slot];
    }
}

impl Checker {
    /// A checker that starts checking once `after` instructions have retired.
    pub(crate) fn new(after: u64) -> Checker {
        Checker { after, ..Checker::default() }
    }

    /// Saves the TLB's translations as the block's starting TLB (copying only what changed
    /// since they last agreed), and starts its `touched` list afresh.
    fn save_tlb(&mut self, tlb: &mut Tlb) {
        match &mut self.tlb {
            Some(t) if t.in_step(tlb) => {
                for &i in tlb.touched.as_deref().unwrap_or_default() {
                    TlbSnapshot::copy_entry(i, (&tlb.sets, &tlb.global), (&mut t.sets, &mut t.global));
                }
            }
            Some(t) => {
                t.sets = tlb.sets;
                t.global = tlb.global;
            }
            None => self.tlb = Some(Box::new(TlbSnapshot { sets: tlb.sets, global: tlb.global, epoch: 0 })),
        }
        self.tlb.as_mut().expect("saved").epoch = tlb.epoch;
        tlb.touched.get_or_insert_with(Vec::new).clear();
    }

    /// Puts the block's starting TLB back (the entries touched since it was saved, or all).
    fn restore_tlb(&mut self, tlb: &mut Tlb) {
        let t = self.tlb.as_mut().expect("the block's TLB was saved");
        if t.in_step(tlb) {
            for &i in tlb.touched.as_deref().unwrap_or_default() {
                TlbSnapshot::copy_entry(i, (&t.sets, &t.global), (&mut tlb.sets, &mut tlb.global));
            }
        } else {
            tlb.restore(&t.sets, &t.global);
            t.epoch = tlb.epoch;
        }
        tlb.touched.get_or_insert_with(Vec::new).clear();
    }

    /// Copies pages `pages` of RAM into the shadow.
    fn update_shadow(&mut self, cpu: &mut Cpu, pages: &[u32]) {
        for &p in pages {
            let at = p as usize * PAGE;
            self.shadow[at..at + PAGE].copy_from_slice(page_of(cpu, p));
        }
    }
}

/// Moves the physical RAM pages written since the write log was last taken (see the module
/// comment), and `extra`, into `out` (sorted, each once); the log starts again, empty.
fn take_written(cpu: &mut Cpu, extra: &[u32], out: &mut Vec<u32>) {
    out.clear();
    if let Some(log) = cpu.tlb.write_log.as_mut() {
        out.append(log);
    }
    out.extend_from_slice(extra);
    out.sort_unstable();
    out.dedup();
    let ram_pages = (cpu.sys.ram_size() as usize / PAGE) as u32;
    out.retain(|&p| p < ram_pages);
}

/// Clears the write tags of the TLB, so that the next write to any page takes the slow path
/// (and is logged). Reads and fetches keep their translations: a write tag only adds to them.
/// Only a fill sets a write tag, and fills are listed in `touched`: with the list on, the
/// entries outside it have none (they had none when the list was last emptied, the checker's
/// invariant), so only the listed ones are cleared.
fn forbid_direct_writes(tlb: &mut Tlb) {
    match tlb.touched.as_deref() {
        Some(touched) => {
            for &i in touched {
                tlb.sets[i as usize / TLB_SIZE][i as usize % TLB_SIZE].write = INVALID;
            }
        }
        None => tlb.sets.iter_mut().flatten().for_each(|e| e.write = INVALID),
    }
}

/// Whether a write logged since the log was last taken went to a page that is neither RAM nor
/// ROM (a device's registers or memory, e.g. VGA's): running the block again would repeat it.
fn wrote_device(cpu: &mut Cpu) -> bool {
    let log = cpu.tlb.write_log.as_deref().unwrap_or_default();
    log.iter().any(|&p| !matches!(cpu.sys.page_backing((p as u64) << 12), PageBacking::Ram(_) | PageBacking::Rom(_)))
}

fn page_of(cpu: &mut Cpu, p: u32) -> &mut [u8] {
    let at = p as usize * PAGE;
    &mut cpu.sys.ram_mut().as_mut_slice()[at..at + PAGE]
}

/// The first byte at which `jit` and `interp` (the same page, at physical `at`) differ, named.
fn page_difference(at: usize, jit: &[u8], interp: &[u8]) -> Option<String> {
    if jit == interp {
        return None;
    }
    let (o, (a, b)) = jit.iter().zip(interp).enumerate().find(|(_, (a, b))| a != b)?;
    Some(format!("memory byte at physical {:08x}: jit {a:02x}, interpreter {b:02x}", at + o))
}

impl Jit {
    /// Runs block `id` in both tiers and compares them. `Some(stop)` ends the run (a difference).
    /// Before [`Checker::after`] instructions, the block just runs (once, in the JIT); the first
    /// checked block then starts the shadow and the write log.
    pub(crate) fn run_checked(&mut self, cpu: &mut Cpu, id: BlockId) -> Option<Stop> {
        let mut ck = self.checker.take().expect("checking");
        if cpu.s.icount < ck.after {
            ck.drained.clear();
            self.checker = Some(ck);
            self.exec(cpu, id);
            return None;
        }
        let r = self.check_block(cpu, id, &mut ck);
        self.checker = Some(ck);
        r
    }

    fn check_block(&mut self, cpu: &mut Cpu, id: BlockId, ck: &mut Checker) -> Option<Stop> {
        if ck.shadow.len() != cpu.sys.ram_size() as usize || cpu.tlb.write_log.is_none() {
            ck.shadow = cpu.sys.ram().as_slice().to_vec();
            cpu.tlb.write_log = Some(Vec::new());
            cpu.tlb.touched = None;
            forbid_direct_writes(&mut cpu.tlb);
        } else {
            // Bring the shadow up to date with what ran since the last block.
            let drained = std::mem::take(&mut ck.drained);
            let mut pages = std::mem::take(&mut ck.scratch);
            take_written(cpu, &drained, &mut pages);
            forbid_direct_writes(&mut cpu.tlb);
            ck.update_shadow(cpu, &pages);
            ck.scratch = pages;
            ck.drained = drained;
        }
        ck.drained.clear();
        let block = self.cache.get(id);
        if block.io {
            // Devices have side effects: the block runs once, in the JIT only.
            self.exec(cpu, id);
            return None;
        }
        if self.tier_up_due(cpu, id) {
            // Replaced by Cranelift's block before it ran: the dispatcher looks CS:EIP up again.
            return None;
        }
        let block = self.cache.get(id);
        let (entry, len) = (block.entry, block.insns.len());
        ck.save_tlb(&mut cpu.tlb);
        let start = cpu.s.clone();
        let r = self.compare(cpu, ck, entry, &start);
        self.stats.checked_blocks += r.checked as u64;
        self.stats.block_runs += 1;
        self.stats.jit_insns += r.n;
        let Some(d) = r.diff else {
            // Equal (or the JIT's run stands): the interpreter's result is the JIT's. Keep the
            // shadow in step, and the module's invariant.
            ck.update_shadow(cpu, &r.pages);
            forbid_direct_writes(&mut cpu.tlb);
            cpu.smc_writes = r.smc;
            return None;
        };
        let block = self.cache.get(id);
        let listing = guest_text(&block.insns, &block.eips);
        let cs = start.segs[SegReg::Cs as usize];
        let mut report = format!(
            "jit and interpreter differ after the block at {:04x}:{:08x} ({} instructions run):\n{listing}  {d}",
            cs.selector, start.eip, r.n
        );
        restore(cpu, ck, &start, &r.pages);
        if let Some(first) = self.first_difference(cpu, ck, id, len, &start) {
            report += &format!("\n{first}");
        }
        ck.failure = Some(report);
        Some(Stop::Attention)
    }

    /// Runs `entry` from `start` (the CPU is in that state, RAM equals the shadow, the TLB is
    /// the saved one without write tags), then the interpreter from the same state and TLB for
    /// as many instructions, and compares the two. Leaves the interpreter's result in the CPU,
    /// TLB and RAM, and the write log empty.
    fn compare(&mut self, cpu: &mut Cpu, ck: &mut Checker, entry: BlockEntry, start: &CpuState) -> Compared {
        self.run_entry(cpu, entry);
        let n = cpu.s.icount - start.icount;
        let jit_state = cpu.s.clone();
        let jit_shutdown = cpu.shutdown;
        let jit_smc = std::mem::take(&mut cpu.smc_writes);
        let device = wrote_device(cpu);
        let mut jit_pages = std::mem::take(&mut ck.jit_pages);
        take_written(cpu, &jit_smc, &mut jit_pages);
        if device {
            // A device saw the writes: the JIT's run stands, unchecked (see the module comment).
            let pages = jit_pages.clone();
            ck.jit_pages = jit_pages;
            return Compared { diff: None, n, pages, smc: jit_smc, checked: false };
        }
        ck.jit_bytes.clear();
        for &p in &jit_pages {
            let at = p as usize * PAGE;
            let page = page_of(cpu, p);
            ck.jit_bytes.extend_from_slice(page);
            page.copy_from_slice(&ck.shadow[at..at + PAGE]);
        }
        cpu.s = start.clone();
        cpu.shutdown = false;
        ck.restore_tlb(&mut cpu.tlb);

        for _ in 0..n {
            if cpu.shutdown {
                break;
            }
            cpu.step();
        }

        let interp_smc = cpu.smc_writes.clone();
        let mut interp_pages = std::mem::take(&mut ck.interp_pages);
        take_written(cpu, &interp_smc, &mut interp_pages);
        let mut diff = diff_state(&jit_state, &cpu.s);
        if diff.is_none() && jit_shutdown != cpu.shutdown {
            diff = Some(format!("shutdown: jit {jit_shutdown}, interpreter {}", cpu.shutdown));
        }
        let mut pages: Vec<u32> = jit_pages.iter().chain(&interp_pages).copied().collect();
        pages.sort_unstable();
        pages.dedup();
        if diff.is_none() {
            let ram = cpu.sys.ram().as_slice();
            diff = pages.iter().find_map(|&p| {
                let at = p as usize * PAGE;
                let jit = match jit_pages.binary_search(&p) {
                    Ok(i) => &ck.jit_bytes[i * PAGE..(i + 1) * PAGE],
                    Err(_) => &ck.shadow[at..at + PAGE],
                };
                page_difference(at, jit, &ram[at..at + PAGE])
            });
        }
        ck.jit_pages = jit_pages;
        ck.interp_pages = interp_pages;
        let mut smc = jit_smc;
        smc.extend(interp_smc);
        Compared { diff, n, pages, smc, checked: true }
    }

    /// Runs a block's code as [`Jit::exec`] does (the fault delivered), without its statistics.
    fn run_entry(&mut self, cpu: &mut Cpu, entry: BlockEntry) {
        // SAFETY: `entry` is installed code whose instructions the cache (or the caller) keeps
        // alive; `cpu` and the exit context are exclusively ours for the call.
        let st = unsafe { (self.enter)(cpu, &mut self.ctx, entry) };
        self.after_fault(cpu, st);
    }

    /// After block `id` (of `len` instructions) differed: translates its first `k` instructions
    /// as a block of their own, for `k` = 1, 2, ..., and compares each with the interpreter from
    /// `start`, so the first instruction whose result differs is named with the difference.
    /// The CPU, RAM and TLB are as at `start` on entry and are left so.
    fn first_difference(
        &mut self,
        cpu: &mut Cpu,
        ck: &mut Checker,
        id: BlockId,
        len: usize,
        start: &CpuState,
    ) -> Option<String> {
        let b = self.cache.get(id);
        let (key, insns, eips, tail) = (b.key, b.insns.clone(), b.eips.clone(), b.tail);
        for k in 1..=len {
            let func = self.tr.build(&key, &insns[..k], &eips[..k], tail, None, false);
            let code = self.tr.compile(func).ok()?;
            let ptr = match self.code.install(&code) {
                Ok(p) => p,
                Err(_) => return None,
            };
            // `ptr` is the start of a block (with no links), whose instructions (`insns`) live
            // until the end of this function.
            let entry: BlockEntry = ptr;
            let r = self.compare(cpu, ck, entry, start);
            restore(cpu, ck, start, &r.pages);
            if let Some(d) = r.diff {
                let i = (r.n as usize).clamp(1, k) - 1;
                return Some(format!(
                    "first difference after the instruction at {:08x}: {}\n  {d}",
                    eips[i],
                    disasm::format(&insns[i], eips[i])
                ));
            }
            if (r.n as usize) < k {
                break; // the prefix left early (a fault) and agreed: the rest never ran alone
            }
        }
        None
    }
}

/// The outcome of [`Jit::compare`].
struct Compared {
    /// The first difference, named.
    diff: Option<String>,
    /// Instructions the JIT retired.
    n: u64,
    /// RAM pages either run wrote.
    pages: Vec<u32>,
    /// Code pages either run wrote (`Cpu::smc_writes`).
    smc: Vec<u32>,
    /// Whether the interpreter ran too (not if the JIT's run wrote to a device).
    checked: bool,
}

/// Puts the CPU state back to `start`, `pages` of RAM back to the shadow, and the TLB back to
/// the block's starting TLB (the write log emptied).
fn restore(cpu: &mut Cpu, ck: &mut Checker, start: &CpuState, pages: &[u32]) {
    for &p in pages {
        let at = p as usize * PAGE;
        page_of(cpu, p).copy_from_slice(&ck.shadow[at..at + PAGE]);
    }
    let mut scratch = std::mem::take(&mut ck.scratch);
    take_written(cpu, &[], &mut scratch);
    ck.scratch = scratch;
    cpu.s = start.clone();
    cpu.shutdown = false;
    cpu.smc_writes.clear();
    ck.restore_tlb(&mut cpu.tlb);
}

const REGS: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

/// The first field in which two states differ, named as a programmer would.
pub fn diff_state(jit: &CpuState, interp: &CpuState) -> Option<String> {
    let d = |what: &str, a: u64, b: u64| Some(format!("{what}: jit {a:#x}, interpreter {b:#x}"));
    for ((name, &a), &b) in REGS.iter().zip(&jit.regs).zip(&interp.regs) {
        if a != b {
            return d(name, a as u64, b as u64);
        }
    }
    if jit.eip != interp.eip {
        return d("eip", jit.eip as u64, interp.eip as u64);
    }
    if jit.eflags() != interp.eflags() {
        return d("eflags", jit.eflags() as u64, interp.eflags() as u64);
    }
    let cc = |s: &CpuState| [s.cc_op.0, s.cc_dst, s.cc_src, s.cc_src2];
    for (n, (a, b)) in cc(jit).into_iter().zip(cc(interp)).enumerate() {
        if a != b {
            return d(["cc_op", "cc_dst", "cc_src", "cc_src2"][n], a as u64, b as u64);
        }
    }
    for s in SegReg::ALL {
        if jit.seg(s) != interp.seg(s) {
            return Some(format!("{}: jit {:x?}, interpreter {:x?}", s.name(), jit.seg(s), interp.seg(s)));
        }
    }
    if jit.icount != interp.icount {
        return d("icount", jit.icount, interp.icount);
    }
    if jit != interp {
        return Some(format!("system state:\n  jit         {jit:x?}\n  interpreter {interp:x?}"));
    }
    None
}
