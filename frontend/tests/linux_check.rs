//! Debian's 32-bit Linux (`linux-image-686`, 6.1) under `--cpu check`: every translated block
//! runs in the JIT and again in the interpreter from the same state, and the run stops at the
//! first difference between the tiers (exit code 70, the report on stderr).
//!
//! - `the_kernels_early_boot_passes_the_lockstep_check` (always): the kernel's decompressor
//!   takes the first ~2.3 G instructions of the boot, so the JIT runs the first
//!   [`CHECK_AFTER`] instructions unchecked (`--check-after`), then every block is checked up to
//!   [`MAX_INSNS`]: the end of the decompressor and the kernel's own start (paging, the IDT, the
//!   local APIC and I/O APIC and the timer through them, memory setup, alternatives patching its
//!   own code, the first drivers) as `earlyprintk` shows it on COM1. Deterministic time, so the
//!   run is the same every time. About 15 s of JIT and 50 s of checking on an idle host.
//! - `the_whole_boot_passes_the_lockstep_check` (ignored by default, for humans: ~7 G
//!   instructions, 20-30 minutes): the whole boot, every block checked, to the initramfs's
//!   /init, which prints its markers and reboots (`--no-reboot` ends the run). Run it with
//!   `cargo test --release -p emu --test linux_check -- --ignored --nocapture`.
//!
//! Both need the kernel and busybox packages (see `emu_test_roms::debian`): without them the
//! tests are skipped with a message, and fail under `CI=true`.

use emu_test_roms::linux_guest::{initramfs, require_busybox, require_kernel};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The /init: markers on the console, a little of user space, and a reboot.
const INIT: &str = r#"#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
echo EMU-CHECK-USERSPACE
uname -a
head -n 8 /proc/cpuinfo
echo "answer=$((6*7))"
echo EMU-CHECK-DONE
reboot -f
"#;

const APPLETS: &[&str] = &["sh", "mount", "echo", "uname", "head", "reboot"];

/// The console on COM1, and the kernel's early console there too (it shows where the checked
/// part of the bounded run got to).
const APPEND: &str = "console=ttyS0 earlyprintk=serial,ttyS0";

/// Instructions the bounded run leaves unchecked: most of the decompressor (measured with
/// `--cpu jit --deterministic`: the kernel's first line comes between 2.30 G and 2.35 G, its
/// timer check through the I/O APIC by 2.4 G, and by 2.5 G it has printed ~180 lines, up to
/// the PnP BIOS probe).
const CHECK_AFTER: u64 = 2_250_000_000;
/// Where the bounded run stops.
const MAX_INSNS: u64 = 2_500_000_000;

/// The kernel image and an initramfs with [`INIT`], in a directory of the test's own; `None`
/// (after a message) when the packages are missing outside CI.
fn guest(name: &str) -> Option<(PathBuf, PathBuf)> {
    let kernel = require_kernel()?;
    let busybox = require_busybox()?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linux_check").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let initrd = dir.join("initrd.cpio");
    std::fs::write(&initrd, initramfs(&busybox, INIT, APPLETS)).unwrap();
    Some((kernel.vmlinuz, initrd))
}

/// What a run left: exit code, COM1, stderr, host time.
struct Run {
    code: Option<i32>,
    serial: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn report(&self) -> String {
        let lines: Vec<&str> = self.serial.lines().collect();
        format!(
            "emu exited with {:?} after {:.1} s; stderr:\n{}\nlast serial lines:\n{}",
            self.code,
            self.elapsed.as_secs_f64(),
            self.stderr.trim(),
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }

    /// The value of `--stats`'s line `name` (its first number).
    fn stat(&self, name: &str) -> Option<u64> {
        let line = self.stderr.lines().find(|l| l.trim_start().starts_with(name))?;
        line.trim_start()[name.len()..].split_whitespace().next()?.parse().ok()
    }
}

/// Boots `kernel` with `initrd` under `--cpu check` (deterministic time, statistics on).
fn run_checked(kernel: &Path, initrd: &Path, extra: &[&str], timeout: Duration) -> Run {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_emu"))
        .args(["--headless", "-q", "-m", "256M", "--no-reboot", "--deterministic", "--cpu", "check", "--stats"])
        .args(["--serial", "stdio", "--timeout", &timeout.as_secs().to_string(), "--kernel"])
        .arg(kernel)
        .arg("--initrd")
        .arg(initrd)
        .args(["--append", APPEND])
        .args(extra)
        .output()
        .expect("emu runs");
    Run {
        code: out.status.code(),
        serial: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// No difference: emu did not stop with the checker's report.
fn assert_no_difference(run: &Run) {
    assert!(
        run.code != Some(70) && !run.stderr.contains("jit and interpreter differ"),
        "--cpu check found a difference between the tiers: {}",
        run.report()
    );
}

#[test]
fn the_kernels_early_boot_passes_the_lockstep_check() {
    let Some((kernel, initrd)) = guest("bounded") else { return };
    let run = run_checked(
        &kernel,
        &initrd,
        &["--check-after", &CHECK_AFTER.to_string(), "--max-instructions", &MAX_INSNS.to_string()],
        Duration::from_secs(900),
    );
    eprintln!("{}", run.report());
    assert_no_difference(&run);
    // Exit code 4 with every instruction run: the instruction limit, not the timeout.
    assert_eq!(run.code, Some(4), "the run did not end at its instruction limit: {}", run.report());
    assert_eq!(run.stat("guest instructions"), Some(MAX_INSNS), "{}", run.report());
    // The checked part ran blocks in lockstep, and it was the kernel's own code: it printed.
    let checked = run.stat("checked blocks").unwrap_or(0);
    assert!(checked > 10_000_000, "only {checked} blocks were checked: {}", run.report());
    assert!(run.serial.contains("Linux version 6.1"), "the kernel did not start: {}", run.report());
    assert!(run.serial.contains("Memory: "), "the kernel did not set up its memory: {}", run.report());
    assert!(run.serial.contains("..TIMER: vector=0x30"), "the kernel did not check its timer: {}", run.report());
}

#[test]
#[ignore = "the whole boot under --cpu check takes 20-30 minutes; run it with --ignored"]
fn the_whole_boot_passes_the_lockstep_check() {
    let Some((kernel, initrd)) = guest("full") else { return };
    let run = run_checked(&kernel, &initrd, &[], Duration::from_secs(4 * 3600));
    eprintln!("{}", run.report());
    assert_no_difference(&run);
    assert!(run.serial.contains("EMU-CHECK-USERSPACE"), "/init did not run: {}", run.report());
    assert!(run.serial.contains("answer=42"), "shell arithmetic failed: {}", run.report());
    assert!(run.serial.contains("EMU-CHECK-DONE"), "/init did not finish: {}", run.report());
    assert_eq!(run.code, Some(0), "the reboot did not end the run cleanly: {}", run.report());
}
