//! Debian's 32-bit Linux 6.1 (`linux-image-686`) on emu's PC with its local APIC and I/O APIC,
//! read from the kernel's own log on COM1. No initramfs: the kernel boots until it waits for a
//! root disk that is not there (`root=/dev/sda rootwait`), by which time it has parsed the MP
//! table, set up the APICs, checked that the 8254's IRQ 0 arrives through the I/O APIC, taken
//! the TSC's frequency from CPUID and run on the TSC clocksource with the clocksource watchdog
//! checking it for seconds.
//!
//! Two boots: the APICs in use (the kernel's default), and `noapic nolapic` (the 8259A through
//! the local APIC's LINT0 in virtual-wire mode), which must boot as before. Only the first
//! must keep the TSC: in PIC mode the kernel's clocksource watchdog is the 8254 clocksource,
//! which counts in jiffies, so a tick taken late (the serial console prints with interrupts
//! off) looks like a TSC skew of milliseconds, and the kernel may mark the TSC unstable.

use emu_test_roms::linux_guest::require_kernel;
use std::path::{Path, PathBuf};
use std::process::Command;

fn vmlinuz() -> Option<PathBuf> {
    Some(require_kernel()?.vmlinuz)
}

/// Boots `kernel` with `append` until it waits for its root disk; returns the serial log.
fn boot(kernel: &Path, append: &str) -> String {
    let marker = "Waiting for root device";
    let out = Command::new(env!("CARGO_BIN_EXE_emu"))
        .args(["--headless", "-q", "-m", "128M", "--no-reboot", "--timeout", "600", "--serial", "stdio"])
        .args(["--exit-on", marker, "--kernel"])
        .arg(kernel)
        .args(["--append", append])
        .output()
        .expect("emu runs");
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && log.contains(marker),
        "the kernel did not get to waiting for its root disk ({}); stderr: {}\nlog:\n{log}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    log
}

fn assert_has(log: &str, what: &[&str]) {
    for w in what {
        assert!(log.contains(w), "no {w:?} in the kernel log:\n{log}");
    }
}

fn assert_lacks(log: &str, what: &[&str]) {
    for w in what {
        assert!(!log.contains(w), "{w:?} in the kernel log:\n{log}");
    }
}

/// What every boot prints: the TSC's frequency from CPUID, and the switch to the TSC.
const TSC_OK: &[&str] = &["tsc: Detected 1000.000 MHz processor", "clocksource: Switched to clocksource tsc"];
/// What no boot may print: nothing panics or loses its timer.
const NEVER: &[&str] = &["Kernel panic", "MP-BIOS bug", "timer doesn't work", "APIC error"];

#[test]
fn linux_uses_the_local_apic_and_io_apic() {
    let Some(kernel) = vmlinuz() else { return };
    let log = boot(&kernel, "console=ttyS0 acpi=off root=/dev/sda rootwait");
    assert_has(
        &log,
        &[
            "found SMP MP-table at [mem 0x0009fd00-0x0009fd0f]",
            "IOAPIC[0]: apic_id 1, version 17, address 0xfec00000, GSI 0-23",
            "Enabling APIC mode:  Flat.  Using 1 I/O APICs",
            // check_timer: IRQ 0 routed to I/O APIC 0 pin 2 and found working (else it would
            // try the 8259A routes and say so, or panic).
            "..TIMER: vector=0x30 apic1=0 pin1=2 apic2=-1 pin2=-1",
        ],
    );
    assert_has(&log, TSC_OK);
    assert_lacks(&log, NEVER);
    // The TSC stays the clocksource: the watchdog (jiffies from the local APIC timer) agrees.
    assert_lacks(&log, &["unstable", "Unstable"]);
    assert_lacks(&log, &["..MP-BIOS bug", "...trying to set up timer as Virtual Wire IRQ", "APIC timer disabled"]);
}

#[test]
fn linux_boots_with_noapic_nolapic() {
    let Some(kernel) = vmlinuz() else { return };
    let log = boot(&kernel, "console=ttyS0 acpi=off noapic nolapic root=/dev/sda rootwait");
    assert_has(&log, TSC_OK);
    assert_lacks(&log, NEVER);
    assert_has(&log, &["APIC: Keep in PIC mode(8259)"]);
    assert_lacks(&log, &["Enabling APIC mode"]);
}
