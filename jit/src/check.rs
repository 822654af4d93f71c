//! Lockstep mode (`--cpu check`): every block runs in the JIT, then again in the interpreter
//! from the same state and memory, and the two results are compared, register by register and
//! byte by byte; the run stops at the first difference, naming it.
//!
//! Memory is compared page-wise. The checker keeps a shadow copy of RAM that equals RAM at
//! every block boundary. Which pages a run wrote is learned from the TLB's write log
//! ([`emu_cpu_x86::tlb::Tlb::write_log`], on while checking): every slow-path write appends its
//! physical page, and the TLB is flushed whenever the log is taken, so the first write to each
//! page after that takes the slow path. Unlike the TLB's write tags, the log survives TLB flushes
//! (A20, the physical map, CR3) and evictions between and inside blocks. Pages written behind the
//! CPU's back (DMA, firmware) come from `System::take_written_pages` through the dispatcher
//! ([`Checker::drained`]). After the JIT's run the pages it wrote are saved and put back from the
//! shadow, the state is put back, the interpreter runs as many instructions as the block retired,
//! and the written pages of both runs are compared.
//!
//! When the two differ, the block's first `k` instructions are translated as blocks of their own
//! and compared the same way for `k` = 1, 2, ..., from the block's starting state, so the report
//! names the first instruction after which they differ (address and disassembly) and what
//! differs (a register, a lazy-flags field, a segment, or a memory byte).
//!
//! Limits: blocks that do port I/O run once, in the JIT only (devices have side effects);
//! MMIO accesses happen twice (more while looking for the first differing instruction).

use crate::cache::BlockId;
use crate::dump::guest_text;
use crate::helpers::{status, BlockEntry};
use crate::Jit;
use emu_cpu_x86::disasm;
use emu_cpu_x86::state::{eflags, CpuState, SegReg};
use emu_cpu_x86::{Cpu, Stop};
use std::collections::BTreeMap;

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
}

/// Physical RAM pages written since the TLB's write log was last taken (see the module comment),
/// and `extra`; the log starts again, empty. The caller flushes the TLB after this.
fn take_written(cpu: &mut Cpu, extra: &[u32]) -> Vec<u32> {
    let log = cpu.tlb.write_log.replace(Vec::new()).unwrap_or_default();
    let mut pages: Vec<u32> = log.into_iter().chain(extra.iter().copied()).collect();
    pages.sort_unstable();
    pages.dedup();
    let ram_pages = (cpu.sys.ram_size() as usize / PAGE) as u32;
    pages.retain(|&p| p < ram_pages);
    pages
}

fn page_of(cpu: &mut Cpu, p: u32) -> &mut [u8] {
    let at = p as usize * PAGE;
    &mut cpu.sys.ram_mut().as_mut_slice()[at..at + PAGE]
}

impl Jit {
    /// Runs block `id` in both tiers and compares them. `Some(stop)` ends the run (a difference).
    pub(crate) fn run_checked(&mut self, cpu: &mut Cpu, id: BlockId) -> Option<Stop> {
        let mut ck = self.checker.take().expect("checking");
        let r = self.check_block(cpu, id, &mut ck);
        self.checker = Some(ck);
        r
    }

    fn check_block(&mut self, cpu: &mut Cpu, id: BlockId, ck: &mut Checker) -> Option<Stop> {
        if ck.shadow.len() != cpu.sys.ram_size() as usize || cpu.tlb.write_log.is_none() {
            ck.shadow = cpu.sys.ram().as_slice().to_vec();
            cpu.tlb.write_log = Some(Vec::new());
        } else {
            // Bring the shadow up to date with what ran since the last block.
            for p in take_written(cpu, &std::mem::take(&mut ck.drained)) {
                let at = p as usize * PAGE;
                ck.shadow[at..at + PAGE].copy_from_slice(page_of(cpu, p));
            }
        }
        ck.drained.clear();
        cpu.tlb.flush();
        let block = self.cache.get(id);
        if block.io {
            // Devices have side effects: the block runs once, in the JIT only.
            self.exec(cpu, id);
            return None;
        }
        let (entry, len) = (block.entry, block.insns.len());
        let start = cpu.s.clone();
        let r = self.compare(cpu, ck, entry, &start);
        self.stats.checked_blocks += 1;
        self.stats.block_runs += 1;
        self.stats.jit_insns += r.n;
        let Some(d) = r.diff else {
            // Equal: the interpreter's result is the JIT's. Keep the shadow in step.
            for &p in &r.pages {
                let at = p as usize * PAGE;
                ck.shadow[at..at + PAGE].copy_from_slice(page_of(cpu, p));
            }
            cpu.smc_writes = r.smc;
            cpu.tlb.flush();
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

    /// Runs `entry` from `start` (the CPU is in that state, RAM equals the shadow), then the
    /// interpreter from the same state for as many instructions, and compares the two. Leaves
    /// the interpreter's result in the CPU and RAM.
    fn compare(&mut self, cpu: &mut Cpu, ck: &mut Checker, entry: BlockEntry, start: &CpuState) -> Compared {
        self.run_entry(cpu, entry);
        let n = cpu.s.icount - start.icount;
        let jit_state = cpu.s.clone();
        let jit_shutdown = cpu.shutdown;
        let jit_smc = std::mem::take(&mut cpu.smc_writes);
        let mut jit_pages = BTreeMap::new();
        for p in take_written(cpu, &jit_smc) {
            let at = p as usize * PAGE;
            let page = page_of(cpu, p);
            jit_pages.insert(p, page.to_vec());
            page.copy_from_slice(&ck.shadow[at..at + PAGE]);
        }
        cpu.s = start.clone();
        cpu.shutdown = false;
        cpu.tlb.flush();

        for _ in 0..n {
            if cpu.shutdown {
                break;
            }
            cpu.step();
        }

        let interp_smc = cpu.smc_writes.clone();
        let interp_pages = take_written(cpu, &interp_smc);
        let mut diff = diff_state(&jit_state, &cpu.s);
        if diff.is_none() && jit_shutdown != cpu.shutdown {
            diff = Some(format!("shutdown: jit {jit_shutdown}, interpreter {}", cpu.shutdown));
        }
        let pages: std::collections::BTreeSet<u32> =
            jit_pages.keys().copied().chain(interp_pages.iter().copied()).collect();
        if diff.is_none() {
            'pages: for &p in &pages {
                let at = p as usize * PAGE;
                let jit = jit_pages.get(&p).map(|v| v.as_slice()).unwrap_or(&ck.shadow[at..at + PAGE]);
                let interp = &cpu.sys.ram().as_slice()[at..at + PAGE];
                for (o, (a, b)) in jit.iter().zip(interp).enumerate() {
                    if a != b {
                        diff =
                            Some(format!("memory byte at physical {:08x}: jit {a:02x}, interpreter {b:02x}", at + o));
                        break 'pages;
                    }
                }
            }
        }
        let mut smc = jit_smc;
        smc.extend(interp_smc);
        Compared { diff, n, pages: pages.into_iter().collect(), smc }
    }

    /// Runs a block's code as [`Jit::exec`] does (the fault delivered), without its statistics.
    fn run_entry(&mut self, cpu: &mut Cpu, entry: BlockEntry) {
        // SAFETY: `entry` is installed code whose instructions the cache (or the caller) keeps
        // alive; `cpu` and the exit context are exclusively ours for the call.
        let st = unsafe { (self.enter)(cpu, &mut self.ctx, entry) };
        if st == status::FAULT {
            let f = self.ctx.fault.take().expect("a block that faults records the fault");
            cpu.s.irq_shadow = false;
            cpu.s.flags |= eflags::RF;
            cpu.raise(f);
        }
    }

    /// After block `id` (of `len` instructions) differed: translates its first `k` instructions
    /// as a block of their own, for `k` = 1, 2, ..., and compares each with the interpreter from
    /// `start`, so the first instruction whose result differs is named with the difference.
    /// Leaves the CPU and RAM as at `start`.
    fn first_difference(
        &mut self,
        cpu: &mut Cpu,
        ck: &mut Checker,
        id: BlockId,
        len: usize,
        start: &CpuState,
    ) -> Option<String> {
        let b = self.cache.get(id);
        let (key, insns, eips) = (b.key, b.insns.clone(), b.eips.clone());
        for k in 1..=len {
            let func = self.tr.build(&key, &insns[..k], &eips[..k], None, false);
            let code = self.tr.compile(func).ok()?;
            let ptr = match self.code.install(&code) {
                Ok(p) => p,
                Err(_) => return None,
            };
            // `ptr` is the start of a block (with no links), whose instructions (`insns`) live
            // until the end of this function.
            let entry: BlockEntry = ptr;
            cpu.tlb.flush();
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
}

/// Puts the CPU state back to `start` and `pages` of RAM back to the shadow.
fn restore(cpu: &mut Cpu, ck: &Checker, start: &CpuState, pages: &[u32]) {
    for &p in pages {
        let at = p as usize * PAGE;
        page_of(cpu, p).copy_from_slice(&ck.shadow[at..at + PAGE]);
    }
    let _ = take_written(cpu, &[]);
    cpu.s = start.clone();
    cpu.shutdown = false;
    cpu.smc_writes.clear();
    cpu.tlb.flush();
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
