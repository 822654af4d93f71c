//! Runs each of emu's own test ROMs (`emu_test_roms::roms::ALL`) through the real `emu` binary,
//! one `#[test]` per ROM per CPU tier (`NAME::jit`, `NAME::interp`). A ROM passes when emu exits
//! with status 1 (the guest wrote 0 failures to the exit port) and its serial output says PASS;
//! see test-roms/README.md. The JIT test also runs the interpreter and requires the same verdict
//! (exit status and serial output, byte for byte: the runs are deterministic).
//!
//! `EMU_TEST_RUNNER`, when set, is a command line the `emu` binary is run through (CI runs an
//! aarch64 build under `qemu-aarch64-static -L /usr/aarch64-linux-gnu`).

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `emu` headless and deterministic with `args`, serial console on stdout.
fn run_emu(args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_emu");
    let mut cmd = match std::env::var("EMU_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut c = Command::new(words.next().expect("a non-empty runner"));
            c.args(words).arg(bin);
            c
        }
        _ => Command::new(bin),
    };
    cmd.args(["--headless", "--deterministic", "--timeout", "30", "--serial", "stdio"])
        .args(args)
        .output()
        .expect("emu runs")
}

/// Builds the ROM `name`, runs it under `--cpu tier`, and asserts that it passed; returns the
/// verdict (exit status and serial output).
fn run_rom(name: &str, tier: &str) -> (Option<i32>, String) {
    let (_, build) =
        emu_test_roms::roms::ALL.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no test ROM named {name}"));
    let image = build().unwrap_or_else(|e| panic!("test ROM {name} does not build: {e}"));
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("test-rom-{name}-{tier}.bin"));
    std::fs::write(&path, &image).expect("the ROM image is written");
    // No warm-up, compiled in-line: every block is translated on its first run, so `jit` tests
    // translated code.
    let rom = path.to_str().expect("a UTF-8 path");
    let out = run_emu(&["--cpu", tier, "--jit-warmup", "0", "--jit-threads", "0", "--rom", rom]);
    let serial = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code();
    if code != Some(1) || !serial.contains("PASS") {
        let failures = match code {
            Some(c) if c % 2 == 1 => format!("{} failed checks", c >> 1),
            _ => "no verdict".to_string(),
        };
        panic!(
            "test ROM {name} (--cpu {tier}): emu exited with {code:?} ({failures})\n--- serial output ---\n{serial}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (code, serial)
}

/// Runs ROM `name` in the JIT, then in the interpreter, and requires identical verdicts.
fn run_rom_both(name: &str) {
    let jit = run_rom(name, "jit");
    let interp = run_rom(name, "interp");
    assert_eq!(jit, interp, "test ROM {name}: --cpu jit and --cpu interp give different verdicts");
}

/// One module per ROM, named after it, with one `#[test]` per tier.
macro_rules! testcases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn jit() {
                    super::run_rom_both(stringify!($name));
                }
                #[test]
                fn interp() {
                    super::run_rom(stringify!($name), "interp");
                }
            }
        )*

        /// Every ROM in `ALL` has a test here, and no test names a missing ROM.
        #[test]
        fn every_rom_has_a_test() {
            let tested = [$(stringify!($name)),*];
            let all: Vec<&str> = emu_test_roms::roms::ALL.iter().map(|(n, _)| *n).collect();
            for n in &all {
                assert!(tested.contains(n), "test ROM {n} has no #[test]: add it to testcases!");
            }
            assert_eq!(tested.len(), all.len(), "testcases! names a ROM that is not in ALL");
        }
    };
}

testcases!(
    alu,
    shift,
    muldiv,
    bcd,
    bits,
    data,
    stack,
    control,
    string,
    io,
    exceptions,
    smc,
    smc_paging,
    faults,
    pm_segments,
    pm_privilege,
    pm_tasks,
    paging,
    fpu,
    v86,
);

#[test]
fn demo_rom_greets_and_powers_off() {
    let out = run_emu(&[]);
    let serial = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "the demo powers off\n--- serial output ---\n{serial}");
    assert!(serial.contains("Hello from emu's demo ROM"), "the demo greets\n--- serial output ---\n{serial}");
}
