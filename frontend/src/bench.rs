//! `emu bench`: the guest benchmarks under emu's interpreter, emu's JIT, and (when it is
//! installed) `qemu-system-i386 -accel tcg`, in one run, with guest MIPS and the ratios.
//!
//! Each guest ROM ([`emu_test_roms::bench`]) is run as its own process, exactly as a user would
//! run it (`emu --headless --rom`, `qemu-system-i386 -bios`), and timed from spawn to exit. To
//! take process start-up, machine set-up and the guest's own set-up out of the figures, every
//! runner also runs the same guest with a one-iteration loop, and that time and instruction
//! count are subtracted: MIPS = (instructions(N) - instructions(1)) / (time(N) - time(1)).
//! Instruction counts come from emu's `--stats` (QEMU runs the same program, so the same
//! count). The guests print a checksum; runs of the same program must agree, or the bench says
//! so and fails.
//!
//! `emu bench linux` boots Debian's kernel with a busybox initramfs (fetched like the tests do)
//! to a marker its /init prints, under emu's JIT (and interpreter with `--linux-interp`) and QEMU
//! with the same kernel, initramfs and command line, and splits each boot into phases at a few
//! kernel lines ([`MILESTONES`]), timed on the host's clock as they arrive.

use emu_test_roms::bench::Guest;
use emu_test_roms::linux_guest::{self, LinuxGuest};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `emu bench` arguments.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// What to run: integer-mix, paging, smc-faults, linux (default: the three guest ROMs).
    #[arg(value_name = "GUEST")]
    guests: Vec<String>,

    /// Multiply every guest's iteration count by this (e.g. 0.1 for a quick run).
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    scale: f64,

    /// The interpreter runs this fraction of the JIT's iterations (it is 10-20 times slower).
    #[arg(long, default_value_t = 0.1, value_parser = parse_scale)]
    interp_scale: f64,

    /// Also boot Linux under the interpreter (tens of minutes: raise --limit to match).
    #[arg(long)]
    linux_interp: bool,

    /// The QEMU binary to compare with.
    #[arg(long, value_name = "PATH", default_value = "qemu-system-i386")]
    qemu: PathBuf,

    /// Do not run QEMU even if it is installed.
    #[arg(long)]
    no_qemu: bool,

    /// Boot Linux this many times under the JIT and under QEMU, alternating, and compare the
    /// medians (one boot's time varies by a few percent on a busy host).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    runs: u32,

    /// Give up on a single run after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    limit: u64,

    /// Pass this option to every emu run of the JIT too (repeat it for more), e.g.
    /// `--jit-option=--jit-baseline=off` to measure the JIT without the baseline tier.
    #[arg(long = "jit-option", value_name = "OPTION", allow_hyphen_values = true)]
    jit_options: Vec<String>,
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(format!("'{s}' is not a scale factor: give a number above 0, at most 1000")),
    }
}

/// What runs a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runner {
    Interp,
    Jit,
    Qemu,
}

impl Runner {
    fn name(self) -> &'static str {
        match self {
            Runner::Interp => "emu interp",
            Runner::Jit => "emu jit",
            Runner::Qemu => "qemu tcg",
        }
    }
}

/// One finished run.
#[derive(Debug, Clone, Default)]
struct Run {
    secs: f64,
    /// Host CPU time of the process (user + system, all its threads).
    cpu: f64,
    /// Guest instructions (emu's `--stats`).
    insns: Option<u64>,
    /// Cranelift time (emu's `--stats`, JIT runs).
    compile_ms: Option<f64>,
    blocks: Option<u64>,
    /// What the guest printed after "checksum ".
    checksum: String,
}

/// Runs the bench; `Ok(false)` when runs disagreed (a bug somewhere) or a runner failed.
pub fn run(args: BenchArgs) -> Result<bool, String> {
    let mut guests = Vec::new();
    let mut linux = false;
    for name in &args.guests {
        match name.as_str() {
            "linux" => linux = true,
            _ => match Guest::ALL.iter().find(|g| g.name() == name) {
                Some(g) => guests.push(*g),
                None => {
                    return Err(format!("'{name}' is not a benchmark: use integer-mix, paging, smc-faults or linux"))
                }
            },
        }
    }
    if args.guests.is_empty() {
        guests = Guest::ALL.to_vec();
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the emu binary: {e}"))?;
    let dir = std::env::temp_dir().join(format!("emu-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let qemu = if args.no_qemu {
        None
    } else if qemu_works(&args.qemu) {
        Some(args.qemu.clone())
    } else {
        println!("{} is not installed (or does not run): QEMU's columns are skipped", args.qemu.display());
        None
    };
    println!("emu bench: {} on {}", machine_load(), host_cpus());
    let limit = Duration::from_secs(args.limit);
    let mut ok = true;
    if !guests.is_empty() {
        println!(
            "{:<12} {:>12} {:>9} {:>9} {:>9} {:>10} {:>10}  checksums",
            "guest", "instructions", "interp", "jit", "qemu", "jit/interp", "jit/qemu"
        );
        println!(
            "{:<12} {:>12} {:>9} {:>9} {:>9} {:>10} {:>10}",
            "", "(jit run)", "MIPS", "MIPS", "MIPS", "speed", "time"
        );
    }
    for g in guests {
        let r = bench_guest(g, &args, &exe, qemu.as_deref(), &dir, limit);
        match r {
            Ok(good) => ok &= good,
            Err(e) => {
                println!("{:<12} failed: {e}", g.name());
                ok = false;
            }
        }
    }
    if linux {
        match bench_linux(&args, &exe, qemu.as_deref(), &dir, limit) {
            Ok(good) => ok &= good,
            Err(e) => {
                println!("linux: failed: {e}");
                ok = false;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ok)
}

/// MIPS from the difference between a run of N iterations and one of 1.
fn net_mips(full: &Run, one: &Run, insns: u64) -> Option<f64> {
    let secs = full.secs - one.secs;
    (secs > 0.0).then(|| insns as f64 / secs / 1e6)
}

/// emu-JIT CPU time / QEMU CPU time for the same work (one-iteration runs subtracted).
fn cpu_ratio(jit: &Run, jit_one: &Run, qemu: &Run, qemu_one: &Run) -> String {
    let (j, q) = (jit.cpu - jit_one.cpu, qemu.cpu - qemu_one.cpu);
    if j > 0.0 && q > 0.0 {
        format!("{:.2}x", j / q)
    } else {
        "-".into()
    }
}

fn bench_guest(
    g: Guest,
    args: &BenchArgs,
    exe: &Path,
    qemu: Option<&Path>,
    dir: &Path,
    limit: Duration,
) -> Result<bool, String> {
    let n = ((g.default_iterations() as f64 * args.scale) as u32).max(2);
    let n_interp = ((n as f64 * args.interp_scale) as u32).max(2);
    let rom = |iterations: u32| -> Result<PathBuf, String> {
        let path = dir.join(format!("{}-{iterations}.rom", g.name()));
        let image = g.rom(iterations).map_err(|e| e.to_string())?;
        std::fs::write(&path, image).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    };
    let (full, interp, one) = (rom(n)?, rom(n_interp)?, rom(1)?);
    let run = |runner: Runner, path: &Path| run_rom(runner, path, exe, qemu, dir, limit, &args.jit_options);

    let jit_one = run(Runner::Jit, &one)?;
    let jit = run(Runner::Jit, &full)?;
    let interp_one = run(Runner::Interp, &one)?;
    let interp_full = run(Runner::Interp, &interp)?;
    let qemu_runs = match qemu {
        Some(_) => Some((run(Runner::Qemu, &one)?, run(Runner::Qemu, &full)?)),
        None => None,
    };

    let count = |r: &Run| r.insns.ok_or_else(|| format!("{}: no instruction count in emu's --stats", g.name()));
    let jit_insns = count(&jit)?.saturating_sub(count(&jit_one)?);
    let interp_insns = count(&interp_full)?.saturating_sub(count(&interp_one)?);
    let mj = net_mips(&jit, &jit_one, jit_insns);
    let mi = net_mips(&interp_full, &interp_one, interp_insns);
    let mq = qemu_runs.as_ref().and_then(|(one, full)| net_mips(full, one, jit_insns));
    let fmt = |m: Option<f64>| m.map_or("-".to_string(), |m| format!("{m:.1}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".to_string(),
    };
    // Same program, same checksum: the one-iteration runs of all three, the full runs of the
    // JIT and QEMU.
    let mut same = jit_one.checksum == interp_one.checksum;
    let mut sums = format!("{} (N={n})", jit.checksum);
    if let Some((q1, qn)) = &qemu_runs {
        same &= q1.checksum == jit_one.checksum && qn.checksum == jit.checksum;
        if qn.checksum != jit.checksum {
            sums = format!("jit {} qemu {}", jit.checksum, qn.checksum);
        }
    }
    println!(
        "{:<12} {:>12} {:>9} {:>9} {:>9} {:>10} {:>10}  {}{}",
        g.name(),
        jit_insns,
        fmt(mi),
        fmt(mj),
        fmt(mq),
        ratio(mj, mi),
        // emu-jit time / QEMU time for the same work is QEMU's MIPS / the JIT's.
        ratio(mq, mj),
        sums,
        if same { "" } else { "  MISMATCH between runners" }
    );
    println!(
        "{:<12} jit: {} blocks compiled in {:.1} ms; times (s): jit {:.3}-{:.3}, interp {:.3}-{:.3} ({n_interp} iterations){}",
        "",
        jit.blocks.unwrap_or(0),
        jit.compile_ms.unwrap_or(0.0),
        jit.secs,
        jit_one.secs,
        interp_full.secs,
        interp_one.secs,
        qemu_runs.as_ref().map_or(String::new(), |(one, full)| format!(
            ", qemu {:.3}-{:.3}; by CPU time jit/qemu {}",
            full.secs,
            one.secs,
            cpu_ratio(&jit, &jit_one, full, one)
        )),
    );
    Ok(same)
}

/// Checks that `qemu` runs at all (`--version`).
fn qemu_works(qemu: &Path) -> bool {
    Command::new(qemu).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Runs one guest ROM to its exit port write (status 1), timed.
fn run_rom(
    runner: Runner,
    rom: &Path,
    exe: &Path,
    qemu: Option<&Path>,
    dir: &Path,
    limit: Duration,
    jit_options: &[String],
) -> Result<Run, String> {
    let serial = dir.join("serial.txt");
    let _ = std::fs::remove_file(&serial);
    let mut cmd = match runner {
        Runner::Interp | Runner::Jit => {
            let mut c = Command::new(exe);
            c.arg("--headless").arg("--rom").arg(rom);
            c.args(["--cpu", if runner == Runner::Jit { "jit" } else { "interp" }, "--stats", "--quiet"]);
            if runner == Runner::Jit {
                c.args(jit_options);
            }
            c.arg("--serial").arg(format!("file:{}", serial.display()));
            c
        }
        Runner::Qemu => {
            let mut c = Command::new(qemu.expect("QEMU runs only when installed"));
            c.args(["-accel", "tcg", "-nodefaults", "-display", "none", "-m", "128M"]);
            c.arg("-bios").arg(rom);
            c.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]);
            c.arg("-serial").arg(format!("file:{}", serial.display()));
            c
        }
    };
    let (status, secs, cpu, stderr) = timed(&mut cmd, limit)?;
    let what = format!("{} on {}", runner.name(), rom.file_name().unwrap_or_default().to_string_lossy());
    if status != Some(1) {
        return Err(format!(
            "{what} exited with {status:?} instead of 1 (the guest's exit port); stderr: {}",
            stderr.trim()
        ));
    }
    let out = std::fs::read_to_string(&serial).unwrap_or_default();
    let checksum = out
        .lines()
        .find_map(|l| l.strip_prefix("checksum "))
        .ok_or_else(|| format!("{what}: the guest printed no checksum (serial: {out:?})"))?
        .trim()
        .to_string();
    let mut run = Run { secs, cpu, checksum, ..Run::default() };
    parse_stats(&stderr, &mut run);
    Ok(run)
}

/// Picks the instruction count and the JIT's compile figures out of `--stats`.
fn parse_stats(stderr: &str, run: &mut Run) {
    for line in stderr.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("guest instructions") {
            run.insns = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("blocks compiled") {
            // "N (B host bytes, X ms, Y us/block)"
            let v = v.trim();
            run.blocks = v.split_whitespace().next().and_then(|n| n.parse().ok());
            run.compile_ms = v.split(", ").find_map(|p| p.strip_suffix(" ms")).and_then(|ms| ms.parse().ok());
        }
    }
}

/// Runs `cmd` (stdin closed, stdout discarded, stderr kept) and times it from spawn to exit;
/// kills it after `limit`.
fn timed(cmd: &mut Command, limit: Duration) -> Result<(Option<i32>, f64, f64, String), String> {
    let cpu0 = children_cpu();
    let t = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let mut pipe = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{:?} ran longer than {} s: stopped", cmd.get_program(), limit.as_secs()));
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    let secs = t.elapsed().as_secs_f64();
    Ok((status.code(), secs, children_cpu() - cpu0, reader.join().unwrap_or_default()))
}

/// The marker the bench initramfs's /init prints as soon as user space runs.
const MARKER: &str = "EMU-BENCH-BOOTED";

const INIT: &str =
    "#!/bin/sh\nmount -t proc proc /proc\necho EMU-BENCH-BOOTED\nexec sh -c 'while :; do sleep 1; done'\n";

/// Kernel lines that split a boot into the phases `emu bench linux` times (the first line
/// containing each, in this order), and what runs before each: the README's "Where the boot
/// still loses" compares emu and QEMU by them. The last phase runs to [`MARKER`].
const MILESTONES: [(&str, &str); 3] = [
    ("Linux version", "setup, the decompressor"),
    ("serial8250:", "initcalls, initramfs unpacking"),
    ("Freeing unused kernel image", "crypto self-tests, X.509"),
];

/// What a phase ending at [`MARKER`] holds.
const LAST_PHASE: &str = "/init to its marker";

/// The longest text [`Watch`] looks for: it keeps no more of a line than twice this.
const LONGEST: usize = {
    let mut n = MARKER.len();
    let mut k = 0;
    while k < MILESTONES.len() {
        if MILESTONES[k].0.len() > n {
            n = MILESTONES[k].0.len();
        }
        k += 1;
    }
    n
};

/// A boot's phases, as [`Watch::phases`] gives them: seconds, `None` if not seen.
type Phases = [Option<f64>; MILESTONES.len() + 1];

/// Watches a guest's serial output as it arrives: the time of the first line with each of
/// [`MILESTONES`], and of [`MARKER`] (which need not end its line).
#[derive(Debug, Default)]
struct Watch {
    /// The end of the line so far (the bytes after the last newline, at most the last
    /// 2 × [`LONGEST`] of them: enough to find any text looked for, however long the line).
    line: Vec<u8>,
    /// Seconds from spawn to each milestone's line, then to the marker (times, not phases).
    at: [Option<f64>; MILESTONES.len() + 1],
}

impl Watch {
    /// Takes `bytes` that arrived `now` seconds after spawn; returns the marker's time once it
    /// has been seen (and from then on looks at nothing more).
    fn feed(&mut self, bytes: &[u8], now: f64) -> Option<f64> {
        for &c in bytes {
            if self.marker().is_some() {
                break;
            }
            if c == b'\n' {
                self.line.clear();
                continue;
            }
            if self.line.len() == 2 * LONGEST {
                self.line.drain(..LONGEST);
            }
            self.line.push(c);
            let line = &self.line;
            let found = |s: &str| line.ends_with(s.as_bytes());
            for (k, (text, _)) in MILESTONES.iter().enumerate() {
                if self.at[k].is_none() && found(text) {
                    self.at[k] = Some(now);
                }
            }
            if found(MARKER) {
                self.at[MILESTONES.len()] = Some(now);
            }
        }
        self.marker()
    }

    /// Seconds from spawn to the marker, once seen.
    fn marker(&self) -> Option<f64> {
        self.at[MILESTONES.len()]
    }

    /// How long each phase took (before the first milestone, between two, and from the last
    /// to the marker); `None` for a phase whose end or start was not seen, or that ends before
    /// it starts (milestones out of order).
    fn phases(&self) -> Phases {
        std::array::from_fn(|k| {
            let start = if k == 0 { Some(0.0) } else { self.at[k - 1] };
            match (start, self.at[k]) {
                (Some(a), Some(b)) if b >= a => Some(b - a),
                _ => None,
            }
        })
    }
}

fn bench_linux(args: &BenchArgs, exe: &Path, qemu: Option<&Path>, dir: &Path, limit: Duration) -> Result<bool, String> {
    let guest = LinuxGuest::fetch().map_err(|e| format!("the Linux guest is not available ({e})"))?;
    let initrd = dir.join("initrd.cpio");
    std::fs::write(&initrd, linux_guest::initramfs(&guest.busybox, INIT, &["sh", "mount", "echo", "sleep"]))
        .map_err(|e| format!("cannot write {}: {e}", initrd.display()))?;
    println!(
        "linux: {} with a busybox initramfs, -m 256M, \"{}\": time to \"{MARKER}\"",
        guest.vmlinuz.file_name().unwrap_or_default().to_string_lossy(),
        linux_guest::CMDLINE
    );
    let emu_boot = |tier: Runner| {
        let mut c = Command::new(exe);
        c.arg("--headless").arg("--kernel").arg(&guest.vmlinuz).arg("--initrd").arg(&initrd);
        c.args(["--append", linux_guest::CMDLINE, "-m", "256M", "--no-reboot"]);
        c.args(["--cpu", if tier == Runner::Jit { "jit" } else { "interp" }, "--stats", "--quiet"]);
        if tier == Runner::Jit {
            c.args(&args.jit_options);
        }
        c.args(["--serial", "stdio", "--exit-on", MARKER]);
        let (secs, cpu, stderr, phases) = until_marker(&mut c, limit, tier.name())?;
        let mut run = Run::default();
        parse_stats(&stderr, &mut run);
        let mips = run.insns.map_or("-".into(), |n| format!("{:.1}", n as f64 / secs / 1e6));
        let compile = match (run.blocks, run.compile_ms) {
            (Some(b), Some(ms)) => format!(", {b} blocks compiled in {:.1} s", ms / 1e3),
            _ => String::new(),
        };
        println!("  {:<11} {secs:8.2} s  (CPU {cpu:.2} s)  {mips:>7} MIPS{compile}", tier.name());
        Ok::<_, String>((secs, cpu, phases))
    };
    let qemu_boot = |q: &Path| {
        let mut c = Command::new(q);
        c.args(["-accel", "tcg", "-nodefaults", "-display", "none", "-m", "256M", "-no-reboot"]);
        c.arg("-kernel").arg(&guest.vmlinuz).arg("-initrd").arg(&initrd);
        c.args(["-append", linux_guest::CMDLINE, "-serial", "stdio"]);
        let (secs, cpu, _, phases) = until_marker(&mut c, limit, "qemu tcg")?;
        println!("  {:<11} {secs:8.2} s  (CPU {cpu:.2} s)", "qemu tcg");
        Ok::<_, String>((secs, cpu, phases))
    };
    if args.linux_interp {
        emu_boot(Runner::Interp)?;
    }
    // Alternating, so that a change in the host's load reaches both about equally.
    let (mut jit, mut tcg) = (vec![], vec![]);
    for _ in 0..args.runs {
        jit.push(emu_boot(Runner::Jit)?);
        if let Some(q) = qemu {
            tcg.push(qemu_boot(q)?);
        }
    }
    let (j, j_cpu) = (median(jit.iter().map(|r| r.0)), median(jit.iter().map(|r| r.1)));
    if args.runs > 1 {
        let range = |v: &[(f64, f64, Phases)]| {
            let t = v.iter().map(|r| r.0);
            (t.clone().fold(f64::INFINITY, f64::min), t.fold(0.0, f64::max))
        };
        let (lo, hi) = range(&jit);
        println!("  {:<11} {j:8.2} s  (CPU {j_cpu:.2} s)  median of {} boots, {lo:.2}-{hi:.2} s", "emu jit", args.runs);
        if !tcg.is_empty() {
            let (q, q_cpu) = (median(tcg.iter().map(|r| r.0)), median(tcg.iter().map(|r| r.1)));
            let (lo, hi) = range(&tcg);
            println!(
                "  {:<11} {q:8.2} s  (CPU {q_cpu:.2} s)  median of {} boots, {lo:.2}-{hi:.2} s",
                "qemu tcg", args.runs
            );
        }
    }
    if !tcg.is_empty() {
        let (q, q_cpu) = (median(tcg.iter().map(|r| r.0)), median(tcg.iter().map(|r| r.1)));
        let what = if args.runs > 1 { " (medians)" } else { "" };
        println!("  emu jit / qemu tcg boot time{what}: {:.2}x  (CPU time: {:.2}x)", j / q, j_cpu / q_cpu.max(1e-9));
    }
    let phases = |v: &[(f64, f64, Phases)]| v.iter().map(|r| r.2).collect::<Vec<_>>();
    for line in phase_table(&phases(&jit), &phases(&tcg)) {
        println!("{line}");
    }
    Ok(true)
}

/// The phases' table of `emu bench linux`: for each phase ([`MILESTONES`]), the median time of
/// the emu boots that saw it, the QEMU boots' (if any), and their ratio.
fn phase_table(emu: &[Phases], qemu: &[Phases]) -> Vec<String> {
    let mid = |runs: &[Phases], k: usize| {
        let seen: Vec<f64> = runs.iter().filter_map(|p| p[k]).collect();
        (!seen.is_empty()).then(|| median(seen.into_iter()))
    };
    let secs = |t: Option<f64>| t.map_or("-".to_string(), |t| format!("{t:.2} s"));
    let suffix = if emu.len() > 1 { " (medians)" } else { "" };
    let mut rows = vec![format!("  phases{suffix}:")];
    for k in 0..=MILESTONES.len() {
        let name = match MILESTONES.get(k) {
            Some((text, before)) => format!("to \"{text}\" ({before})"),
            None => format!("to \"{MARKER}\" ({LAST_PHASE})"),
        };
        let (e, q) = (mid(emu, k), mid(qemu, k));
        let mut row = format!("    {name:<60} emu jit {:>8}", secs(e));
        if !qemu.is_empty() {
            row += &format!("  qemu tcg {:>8}", secs(q));
            if let (Some(e), Some(q)) = (e, q.filter(|&q| q > 0.0)) {
                row += &format!("  {:.2}x", e / q);
            }
        }
        rows.push(row);
    }
    rows
}

/// The median of `v` (not empty).
fn median(v: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = v.collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs `cmd` with its stdout (the guest's serial console) read as it comes; returns the time
/// from spawn to the marker, its CPU time, stderr, and the phases' times ([`Watch::phases`]).
/// The process is stopped once the marker is seen (emu stops itself with `--exit-on`, and then
/// prints its statistics).
fn until_marker(cmd: &mut Command, limit: Duration, what: &str) -> Result<(f64, f64, String, Phases), String> {
    let cpu0 = children_cpu();
    let t = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut watch = Watch::default();
        let mut buf = [0u8; 4096];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(at) = watch.feed(&buf[..n], t.elapsed().as_secs_f64()) {
                        let _ = tx.send((at, watch.phases()));
                        break;
                    }
                }
            }
        }
        // Drain the rest so the child never blocks on a full pipe.
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    let (secs, phases) = match rx.recv_timeout(limit.saturating_sub(t.elapsed())) {
        Ok(seen) => seen,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = errors.join().unwrap_or_default();
            return Err(format!(
                "{what} did not print {MARKER} within {} s; stderr: {}",
                limit.as_secs(),
                stderr.trim()
            ));
        }
    };
    // emu exits by itself after the marker; QEMU (and a stuck emu) is stopped.
    let grace = Instant::now();
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if grace.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok((secs, children_cpu() - cpu0, errors.join().unwrap_or_default(), phases))
}

/// Host CPU time (user + system) of the children this process has waited for: around one run,
/// the difference is that run's CPU time, which moves less than wall time when the machine is
/// busy with other work.
fn children_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) } != 0 {
        return 0.0;
    }
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// The 1-minute load average, for the record (figures move with the machine's load).
fn machine_load() -> String {
    match std::fs::read_to_string("/proc/loadavg") {
        Ok(s) => format!("load average {}", s.split_whitespace().next().unwrap_or("?")),
        Err(_) => "load average unknown".into(),
    }
}

fn host_cpus() -> String {
    let n = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{n} host CPUs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_lines_are_parsed() {
        let mut r = Run::default();
        parse_stats(
            "emu stats:\n  guest instructions   12345\n  blocks compiled      42 (1000 host bytes, 3.5 ms, 83.3 us/block)\n",
            &mut r,
        );
        assert_eq!(r.insns, Some(12345));
        assert_eq!(r.blocks, Some(42));
        assert_eq!(r.compile_ms, Some(3.5));
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 3.0, 2.0].into_iter()), 2.5);
        assert_eq!(median([5.0].into_iter()), 5.0);
    }

    /// Milestones and the marker are found however the output is cut into reads, each at the
    /// time of the read that completed it, the first line of each only, after long lines and
    /// noise too; nothing after the marker counts.
    #[test]
    fn the_watch_times_milestones_across_reads() {
        let mut out = Vec::new();
        // Long lines first (well over what the watch keeps of a line), one ending in a
        // milestone's text, and noise with no newline before the next line.
        out.extend_from_slice(&[b'x'; 3000]);
        out.extend_from_slice(b"\n");
        out.extend_from_slice(&[b'.'; 1000]);
        out.extend_from_slice(b" Linux version 6.1.0 (gcc)\r\n");
        out.extend_from_slice(&[0xffu8; 700]);
        out.extend_from_slice(b"\n[    1.9] serial8250: ttyS0 at I/O 0x3f8\n[    2.0] serial8250: again\n");
        out.extend_from_slice(b"EMU-BENCH-BOOTED\n[    9.0] Freeing unused kernel image (initmem) memory: 912K\n");
        for cut in [1, 3, 7, 64, 4096, out.len()] {
            let mut w = Watch::default();
            let mut done = None;
            for (n, chunk) in out.chunks(cut).enumerate() {
                let seen = w.feed(chunk, n as f64);
                assert!(done.is_none() || seen == done, "the marker's time stays, cut {cut}");
                done = seen;
            }
            // The read each one's last byte came in.
            let read_of = |s: &str| {
                let end = out.windows(s.len()).position(|x| x == s.as_bytes()).unwrap() + s.len() - 1;
                Some((end / cut) as f64)
            };
            assert_eq!(w.at[0], read_of("Linux version"), "cut {cut}");
            assert_eq!(w.at[1], read_of("serial8250:"), "the first serial8250 line, cut {cut}");
            assert_eq!(w.at[2], None, "after the marker, cut {cut}");
            assert_eq!(w.marker(), read_of(MARKER), "cut {cut}");
            assert_eq!(done, w.marker());
            assert!(w.line.len() <= 2 * LONGEST, "the watch keeps the end of a line only");
        }
    }

    #[test]
    fn phases_are_the_gaps_between_milestones() {
        let mut w = Watch::default();
        w.at = [Some(2.0), Some(4.5), Some(7.0), Some(7.25)];
        assert_eq!(w.phases(), [Some(2.0), Some(2.5), Some(2.5), Some(0.25)]);
        // Two milestones in one read: a phase of no time.
        w.at = [Some(2.0), Some(2.0), Some(7.0), Some(7.25)];
        assert_eq!(w.phases(), [Some(2.0), Some(0.0), Some(5.0), Some(0.25)]);
        // A milestone not seen leaves both phases it bounds unknown; one out of order too.
        w.at = [Some(2.0), None, Some(7.0), Some(6.0)];
        assert_eq!(w.phases(), [Some(2.0), None, None, None]);
    }

    #[test]
    fn the_phase_table_has_medians_and_ratios() {
        let emu = [
            [Some(2.0), Some(3.0), Some(2.0), Some(0.1)],
            [Some(4.0), Some(2.0), None, Some(0.1)],
            [Some(3.0), Some(9.0), None, Some(0.1)],
        ];
        let qemu = [[Some(2.0), Some(2.0), Some(2.5), Some(0.1)]];
        let t = phase_table(&emu, &qemu);
        assert_eq!(t.len(), MILESTONES.len() + 2);
        assert!(t[0].contains("(medians)"));
        assert!(t[1].contains("Linux version") && t[1].contains("3.00 s") && t[1].ends_with("1.50x"), "{}", t[1]);
        assert!(t[2].contains("3.00 s") && t[2].ends_with("1.50x"), "the median, not the mean: {}", t[2]);
        assert!(t[3].contains("2.00 s") && t[3].ends_with("0.80x"), "only the boots that saw it: {}", t[3]);
        assert!(t[4].contains(MARKER) && t[4].ends_with("1.00x"), "{}", t[4]);
        let alone = phase_table(&emu[..1], &[]);
        assert!(!alone[0].contains("medians") && !alone[1].contains("qemu"), "{alone:?}");
    }

    #[test]
    fn net_mips_subtracts_the_one_iteration_run() {
        let one = Run { secs: 0.5, ..Run::default() };
        let full = Run { secs: 2.5, ..Run::default() };
        assert_eq!(net_mips(&full, &one, 200_000_000), Some(100.0));
        assert_eq!(net_mips(&one, &one, 1), None, "no time left: no figure");
    }
}
