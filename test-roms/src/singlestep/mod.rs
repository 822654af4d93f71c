//! The runner for the SingleStepTests 80286 real-mode vectors (MOO files, see [`moo`]), with the
//! differences between a 286 and emu's i686 bridged by the documented [`profile`].
//!
//! How one test runs, as the suite defines it: load the INIT registers and RAM (real mode,
//! segment bases `selector << 4`, limits FFFFh, A20 on), start at CS:IP, and execute until the
//! CPU executes a HLT: the one after the instruction, the one at a jump target, or the one the
//! exception or interrupt handler (from the test's IVT) starts with. FINA then holds the
//! registers that changed and the RAM bytes written, with IP one past that HLT.
//!
//! One [`Runner`] reuses one [`Cpu`] for every test. RAM starts all zero; a test writes only its
//! INIT bytes, and afterwards the runner zeroes those and every page the CPU wrote. Written pages
//! are found exactly from the softmmu TLB: with paging off every write to RAM goes through a TLB
//! write entry, so flushing the TLB before a test and collecting the write-tagged entries after
//! each instruction lists every page written. Memory is compared on those pages and on the pages
//! FINA names, byte for byte against INIT overlaid with FINA; a write the 286 did not do is a
//! failure too. At the end of each file the runner checks that all of RAM is zero again.

pub mod moo;
pub mod profile;

use emu_core::{ClockMode, System};
use emu_cpu_x86::fault::Fault;
use emu_cpu_x86::state::{attr, eflags, CpuState, Segment, TableReg};
use emu_cpu_x86::tlb::INVALID;
use emu_cpu_x86::{Cpu, Mnemonic};
use moo::{r, Regs, Revocations, Test, REG_NAMES};
use profile::{Fault286, Rules};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// RAM the runner gives the CPU.
pub const RAM_SIZE: u64 = 2 << 20;
/// Bytes a real-mode program can address with A20 on (FFFF:FFFF = 10FFEFh).
pub const SPAN: usize = 0x11_0000;
/// Instructions one test may execute before the runner gives up (REP counts are below 128).
pub const MAX_STEPS: usize = 1000;
/// Failures kept per file for `--verbose`.
pub const KEEP_FAILURES: usize = 3;
/// Profile rule 6: IVT entry 12 points here (an address the tests' code never uses).
const SS_MARKER: (u16, u16) = (0xffff, 0xfffe);

/// The directory holding the vectors, from the workspace root's sibling `shared/`.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/singlestep-80286-real")
}

/// The MOO files in `dir`, sorted by name.
pub fn list_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".MOO.gz") || n.ends_with(".MOO"))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// A file's short name: `80.3.MOO.gz` → `80.3`.
pub fn short_name(path: &Path) -> String {
    let n = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    n.trim_end_matches(".gz").trim_end_matches(".MOO").to_string()
}

/// One test that did not pass.
#[derive(Debug, Clone)]
pub struct Failure {
    pub index: u32,
    pub name: String,
    pub bytes: Vec<u8>,
    pub hash: Option<String>,
    /// What differs, one line each.
    pub diffs: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes: Vec<String> = self.bytes.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(f, "  #{} `{}` [{}] {}", self.index, self.name, bytes.join(" "), self.hash.as_deref().unwrap_or(""))?;
        for d in &self.diffs {
            writeln!(f, "      {d}")?;
        }
        Ok(())
    }
}

/// The result of one file.
#[derive(Debug, Clone, Default)]
pub struct FileResult {
    pub file: String,
    pub mnemonic: String,
    pub passed: usize,
    /// Tests run (revoked ones excluded).
    pub total: usize,
    pub revoked: usize,
    /// The first [`KEEP_FAILURES`] failures.
    pub failures: Vec<Failure>,
    /// The hashes (hex) of every failing test.
    pub failed_hashes: Vec<String>,
    /// Set if RAM was not all zero after the file: a write the runner did not see.
    pub leak: Option<String>,
    /// Set if the file could not be read.
    pub error: Option<String>,
}

/// `passed / total` in percent, rounded *down* to `decimals` places, so anything short of all
/// passing never prints as 100.
pub fn percent_floor(passed: usize, total: usize, decimals: i32) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let scale = 10f64.powi(decimals);
    (100.0 * scale * passed as f64 / total as f64).floor() / scale
}

impl FileResult {
    pub fn percent(&self) -> f64 {
        percent_floor(self.passed, self.total, 1)
    }
    pub fn all_passed(&self) -> bool {
        self.error.is_none() && self.leak.is_none() && self.passed == self.total
    }
}

/// Runs tests on one reused CPU.
pub struct Runner {
    pub cpu: Cpu,
    /// Expected memory: INIT overlaid with FINA over the all-zero baseline.
    expect: Vec<u8>,
    /// Addresses set in RAM or `expect` for the current test.
    touched: Vec<u32>,
    /// Physical pages (numbers) the CPU wrote during the current test.
    dirty: Vec<u32>,
    /// Physical pages to compare.
    pages: Vec<u32>,
}

impl Default for Runner {
    fn default() -> Self {
        Self::new()
    }
}

fn gpr_index(reg: usize) -> usize {
    use emu_cpu_x86::state::reg::*;
    [EAX, EBX, ECX, EDX, 0, 0, 0, 0, ESP, EBP, ESI, EDI][reg]
}

fn seg_of(reg: usize) -> emu_cpu_x86::SegReg {
    use emu_cpu_x86::SegReg::*;
    match reg {
        r::CS => Cs,
        r::SS => Ss,
        r::DS => Ds,
        _ => Es,
    }
}

fn flag_names(bits: u32) -> String {
    const NAMES: [(u32, &str); 14] = [
        (eflags::CF, "CF"),
        (eflags::PF, "PF"),
        (eflags::AF, "AF"),
        (eflags::ZF, "ZF"),
        (eflags::SF, "SF"),
        (eflags::TF, "TF"),
        (eflags::IF, "IF"),
        (eflags::DF, "DF"),
        (eflags::OF, "OF"),
        (3 << 12, "IOPL"),
        (eflags::NT, "NT"),
        (eflags::RF, "RF"),
        (eflags::VM, "VM"),
        (eflags::AC, "AC"),
    ];
    let mut v: Vec<&str> = NAMES.iter().filter(|(b, _)| bits & b != 0).map(|&(_, n)| n).collect();
    let rest = bits & !NAMES.iter().fold(0, |a, (b, _)| a | b);
    let extra = format!("bits {rest:#x}");
    if rest != 0 {
        v.push(&extra);
    }
    v.join(" ")
}

impl Runner {
    pub fn new() -> Self {
        let sys = System::new(RAM_SIZE, ClockMode::Deterministic { ns_per_insn: 1 }).expect("guest RAM");
        Runner { cpu: Cpu::new(sys), expect: vec![0; SPAN], touched: Vec::new(), dirty: Vec::new(), pages: Vec::new() }
    }

    fn ram(&mut self) -> &mut [u8] {
        self.cpu.sys.ram_mut().as_mut_slice()
    }

    /// Notes the pages the TLB says were written since the last flush.
    fn collect_dirty(&mut self) {
        for set in &self.cpu.tlb.sets {
            for e in set.iter().filter(|e| e.write != INVALID) {
                let page = e.phys_page >> 12;
                if !self.dirty.contains(&page) {
                    self.dirty.push(page);
                }
            }
        }
    }

    /// Puts the architectural state of `regs` (all present) into the CPU: real mode, 286-style.
    fn load_state(&mut self, regs: &Regs) {
        let g = |i: usize| regs[i].unwrap_or(0);
        let mut s = CpuState::reset();
        s.icount = self.cpu.s.icount;
        for i in [r::AX, r::BX, r::CX, r::DX, r::SP, r::BP, r::SI, r::DI] {
            s.regs[gpr_index(i)] = g(i) as u32;
        }
        for i in [r::CS, r::SS, r::DS, r::ES] {
            let a = if i == r::CS { attr::REAL_MODE_CODE } else { attr::REAL_MODE_DATA };
            s.segs[seg_of(i) as usize] = Segment::real_mode(g(i), a);
        }
        for seg in [emu_cpu_x86::SegReg::Fs, emu_cpu_x86::SegReg::Gs] {
            s.segs[seg as usize] = Segment::real_mode(0, attr::REAL_MODE_DATA);
        }
        s.eip = g(r::IP) as u32;
        // Profile rule 1: a real-mode 286 holds FLAGS bits 12-15 at 0.
        s.set_eflags(profile::load_flags(g(r::FLAGS)) as u32, !0);
        // The 286's IVT: 256 vectors of 4 bytes at 0.
        s.idtr = TableReg { base: 0, limit: 0x3ff };
        self.cpu.s = s;
        self.cpu.shutdown = false;
        self.cpu.tlb.flush();
    }

    fn poke(&mut self, a: u32, v: u8, expected: bool) {
        self.ram()[a as usize] = v;
        if expected {
            self.expect[a as usize] = v;
        }
        self.touched.push(a);
    }

    /// Runs one test; `Err` holds what differs.
    pub fn run_test(&mut self, t: &Test, file_mask: Option<&Regs>) -> Result<(), Vec<String>> {
        let mut diffs = Vec::new();
        if t.init.regs.iter().any(Option::is_none) {
            return Err(vec!["INIT does not give every register".into()]);
        }
        if let Some(&(a, _)) = t.init.ram.iter().chain(&t.fina.ram).find(|(a, _)| *a as usize >= SPAN) {
            return Err(vec![format!("RAM address {a:#x} is beyond real-mode reach")]);
        }
        self.load_state(&t.init.regs);
        self.dirty.clear();
        for &(a, v) in &t.init.ram {
            self.poke(a, v, true);
        }
        for &(a, v) in &t.fina.ram {
            self.expect[a as usize] = v;
            self.touched.push(a);
        }
        // Profile rule 6: IVT entry 12 → marker, unless the test has its own entry 12.
        let ivt12 = 12 * 4..12 * 4 + 4;
        let own12 = t.init.ram.iter().chain(&t.fina.ram).any(|(a, _)| ivt12.contains(a));
        if !own12 {
            let (seg, off) = SS_MARKER;
            for (i, b) in [off.to_le_bytes(), seg.to_le_bytes()].concat().into_iter().enumerate() {
                self.poke(ivt12.start + i as u32, b, true);
            }
        }
        // Profile rule 3: LOCK bytes replaced by neutral prefixes while the test runs.
        let cs_base = (t.init.regs[r::CS].unwrap() as u32) << 4;
        let ip = t.init.regs[r::IP].unwrap();
        let invalid = self.decodes_invalid(t);
        let rules: Rules = profile::rules(t, invalid);
        let lin_at = |i: usize| cs_base + (ip.wrapping_add(i as u16)) as u32;
        for &(i, p) in &rules.lock_patches {
            self.ram()[lin_at(i) as usize] = p;
        }

        // Run: profile rules 4 and 5 raise the 286's fault instead of executing.
        let mut steps = 0;
        match rules.fault {
            Some(Fault286::Ud) => self.cpu.raise(Fault::UD),
            Some(Fault286::Gp) => self.cpu.raise(Fault::gp(0)),
            Some(Fault286::GpAfterPop) => {
                let sp = self.cpu.s.regs[emu_cpu_x86::state::reg::ESP];
                self.cpu.s.regs[emu_cpu_x86::state::reg::ESP] = (sp + 2) & 0xffff;
                self.cpu.raise(Fault::gp(0))
            }
            Some(Fault286::NoCoprocessor) => {
                let len = t.bytes.len() as u16 - 1; // the HLT follows the instruction
                self.cpu.s.eip = ip.wrapping_add(len) as u32;
            }
            None => {}
        }
        self.collect_dirty();
        while !self.cpu.s.halted && !self.cpu.shutdown && steps < MAX_STEPS {
            let cs = self.cpu.s.segs[emu_cpu_x86::SegReg::Cs as usize].selector;
            if !own12 && (cs, self.cpu.s.eip as u16) == SS_MARKER {
                // Profile rule 6: the 286 delivers this stack overrun through vector 13.
                let ram = self.cpu.sys.ram().as_slice();
                let v = u32::from_le_bytes(ram[52..56].try_into().unwrap());
                self.cpu.load_seg_real(emu_cpu_x86::SegReg::Cs, (v >> 16) as u16);
                self.cpu.s.eip = v & 0xffff;
                continue;
            }
            self.cpu.step();
            steps += 1;
            self.collect_dirty();
        }
        for &(i, p) in &rules.lock_patches {
            let a = lin_at(i) as usize;
            if self.ram()[a] == p {
                self.ram()[a] = 0xf0;
            }
        }
        if self.cpu.shutdown {
            diffs.push("the CPU shut down (triple fault)".into());
        } else if !self.cpu.s.halted {
            diffs.push(format!("no HLT within {MAX_STEPS} instructions"));
        }

        self.compare_regs(t, &rules, file_mask, &mut diffs);
        self.compare_ram(t, &rules, &mut diffs);
        self.clean();
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(diffs)
        }
    }

    /// Whether emu's decoder calls the instruction invalid (for profile rule 5).
    fn decodes_invalid(&self, t: &Test) -> bool {
        let b = &t.bytes;
        // The 286 ignores LOCK (profile rule 3): decode as if it were absent.
        let b: Vec<u8> = b.iter().copied().filter(|&x| x != 0xf0).collect();
        match emu_cpu_x86::decode(false, |i| b.get(i).copied().ok_or(())) {
            Ok(i) => i.mnemonic == Mnemonic::Invalid,
            Err(_) => false,
        }
    }

    fn compare_regs(&self, t: &Test, rules: &Rules, file_mask: Option<&Regs>, diffs: &mut Vec<String>) {
        let s = &self.cpu.s;
        for i in 0..14 {
            let want = t.fina.regs[i].or(t.init.regs[i]).unwrap() as u32;
            let mut mask: u32 = 0xffff_ffff;
            if rules.unchecked_regs & (1 << i) != 0 {
                continue; // profile rule 8
            }
            for m in [file_mask, t.fina.mask.as_ref()].into_iter().flatten() {
                if let Some(v) = m[i] {
                    mask &= v as u32 | 0xffff_0000;
                }
            }
            let got = match i {
                r::CS | r::SS | r::DS | r::ES => {
                    let seg = &s.segs[seg_of(i) as usize];
                    if seg.base != (seg.selector as u32) << 4 {
                        diffs.push(format!("{}: base {:#x} is not selector << 4", REG_NAMES[i], seg.base));
                    }
                    seg.selector as u32
                }
                r::IP => s.eip,
                r::FLAGS => {
                    // Profile rules 1 and 2.
                    mask &= !(profile::FLAGS_286_FIXED | rules.undefined_flags) as u32;
                    s.eflags()
                }
                _ => s.regs[gpr_index(i)],
            };
            if (got ^ want) & mask != 0 {
                let extra = if i == r::FLAGS {
                    format!(" (differ: {})", flag_names((got ^ want) & mask))
                } else {
                    String::new()
                };
                diffs.push(format!("{}: expected {want:04x}, got {got:04x}{extra}", REG_NAMES[i]));
            }
        }
    }

    fn compare_ram(&mut self, t: &Test, rules: &Rules, diffs: &mut Vec<String>) {
        self.pages.clear();
        self.pages.extend(self.dirty.iter().copied());
        for &(a, _) in &t.fina.ram {
            if !self.pages.contains(&(a >> 12)) {
                self.pages.push(a >> 12);
            }
        }
        self.pages.sort_unstable();
        // Profile rule 2: the FLAGS image pushed by a #DE from DIV/IDIV. It sits 4 bytes above
        // the handler's SP (FLAGS, CS, IP were pushed), wrapping within the stack segment.
        let mut masked: [(usize, u8); 2] = [(usize::MAX, 0); 2];
        if t.exception.is_some() && rules.undefined_pushed_flags != 0 {
            let ss = t.fina.regs[r::SS].or(t.init.regs[r::SS]).unwrap() as usize;
            let sp = t.fina.regs[r::SP].or(t.init.regs[r::SP]).unwrap();
            let m = rules.undefined_pushed_flags;
            masked[0] = ((ss << 4) + sp.wrapping_add(4) as usize, m as u8);
            masked[1] = ((ss << 4) + sp.wrapping_add(5) as usize, (m >> 8) as u8);
        }
        let mut shown = 0;
        let mut more = 0;
        for &p in &self.pages {
            let range = (p as usize) << 12..((p as usize + 1) << 12).min(SPAN);
            if range.start >= SPAN {
                diffs.push(format!("write to page {p:#x}, beyond real-mode reach"));
                continue;
            }
            let ram = &self.cpu.sys.ram().as_slice()[range.clone()];
            let exp = &self.expect[range.clone()];
            if ram == exp {
                continue;
            }
            for (k, (&g, &w)) in ram.iter().zip(exp).enumerate() {
                let a = range.start + k;
                let m = masked.iter().find(|(ma, _)| *ma == a).map_or(0xff, |&(_, m)| !m);
                if (g ^ w) & m != 0 {
                    if shown < 8 {
                        let init = t.init.ram.iter().rev().find(|(x, _)| *x as usize == a).map(|&(_, v)| v);
                        let why = match (t.fina.ram.iter().any(|(x, _)| *x as usize == a), init) {
                            (true, _) => "",
                            (false, Some(_)) => " (unchanged from INIT)",
                            (false, None) => " (not written by the 286)",
                        };
                        diffs.push(format!("mem[{a:06x}]: expected {w:02x}, got {g:02x}{why}"));
                        shown += 1;
                    } else {
                        more += 1;
                    }
                }
            }
        }
        if more > 0 {
            diffs.push(format!("... and {more} more differing bytes"));
        }
    }

    /// Puts RAM and the expected image back to all zero.
    fn clean(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        let touched = std::mem::take(&mut self.touched);
        let ram = self.cpu.sys.ram_mut().as_mut_slice();
        for &p in &dirty {
            let start = (p as usize) << 12;
            let end = (start + 4096).min(ram.len());
            if start < end {
                ram[start..end].fill(0);
            }
        }
        for &a in &touched {
            ram[a as usize] = 0;
            self.expect[a as usize] = 0;
        }
        self.dirty = dirty;
        self.dirty.clear();
        self.touched = touched;
        self.touched.clear();
    }

    /// Checks that RAM is all zero (between files), and zeroes it if not.
    fn check_clean(&mut self) -> Option<String> {
        let ram = self.cpu.sys.ram_mut().as_mut_slice();
        let first = ram.iter().position(|&b| b != 0)?;
        let n = ram.iter().filter(|&&b| b != 0).count();
        ram.fill(0);
        Some(format!("{n} RAM bytes written but not seen by the runner (first at {first:#x})"))
    }

    /// Runs every test of one file.
    pub fn run_file(&mut self, path: &Path, revoked: &Revocations) -> FileResult {
        let mut res = FileResult { file: short_name(path), ..Default::default() };
        let f = match moo::load(path) {
            Ok(f) => f,
            Err(e) => {
                res.error = Some(format!("{}: {e}", path.display()));
                return res;
            }
        };
        res.mnemonic = f.meta.as_ref().map(|m| m.mnemonic.clone()).unwrap_or_default();
        for t in &f.tests {
            if revoked.contains(t) {
                res.revoked += 1;
                continue;
            }
            res.total += 1;
            match self.run_test(t, f.mask.as_ref()) {
                Ok(()) => res.passed += 1,
                Err(diffs) => {
                    res.failed_hashes.push(t.hash_hex().unwrap_or_else(|| format!("#{}", t.index)));
                    if res.failures.len() < KEEP_FAILURES {
                        res.failures.push(Failure {
                            index: t.index,
                            name: t.name.clone(),
                            bytes: t.bytes.clone(),
                            hash: t.hash_hex(),
                            diffs,
                        });
                    }
                }
            }
        }
        res.leak = self.check_clean();
        res
    }
}

/// A pass table: one row per file and a total line, as plain text or Markdown.
pub fn table(results: &[FileResult], markdown: bool) -> String {
    let mut out = String::new();
    let (mut passed, mut total, mut full) = (0, 0, 0);
    if markdown {
        out.push_str("| file | mnemonic | passed | total | % |\n|---|---|---:|---:|---:|\n");
    } else {
        let _ = writeln!(out, "{:<8} {:<8} {:>7} {:>7} {:>7}", "file", "mnemonic", "passed", "total", "%");
    }
    for r in results {
        passed += r.passed;
        total += r.total;
        full += r.all_passed() as usize;
        let note = match (&r.error, &r.leak) {
            (Some(e), _) => format!(" error: {e}"),
            (None, Some(l)) => format!(" {l}"),
            _ if r.revoked > 0 => format!(" ({} revoked)", r.revoked),
            _ => String::new(),
        };
        if markdown {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.1} |{note}",
                r.file,
                r.mnemonic,
                r.passed,
                r.total,
                r.percent()
            );
        } else {
            let _ = writeln!(
                out,
                "{:<8} {:<8} {:>7} {:>7} {:>6.1}%{note}",
                r.file,
                r.mnemonic,
                r.passed,
                r.total,
                r.percent()
            );
        }
    }
    let pct = percent_floor(passed, total, 2);
    let files = results.len();
    if markdown {
        let _ = writeln!(out, "| **total** | {full}/{files} files | **{passed}** | **{total}** | **{pct:.2}** |");
    } else {
        let _ = writeln!(
            out,
            "{:<17} {:>7} {:>7} {:>6.2}%   ({full} of {files} files pass entirely)",
            "total", passed, total, pct
        );
    }
    out
}
