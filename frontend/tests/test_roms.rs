//! Runs each of emu's own test ROMs (`emu_test_roms::roms::ALL`) through the real `emu` binary,
//! one `#[test]` per ROM. A ROM passes when emu exits with status 1 (the guest wrote 0 failures
//! to the exit port) and its serial output says PASS; see test-roms/README.md.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `emu` headless and deterministic with `args`, serial console on stdout.
fn run_emu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emu"))
        .args(["--headless", "--deterministic", "--timeout", "30", "--serial", "stdio"])
        .args(args)
        .output()
        .expect("emu runs")
}

/// Builds the ROM `name`, runs it, and asserts that it passed.
fn run_rom(name: &str) {
    let (_, build) =
        emu_test_roms::roms::ALL.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no test ROM named {name}"));
    let image = build().unwrap_or_else(|e| panic!("test ROM {name} does not build: {e}"));
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("test-rom-{name}.bin"));
    std::fs::write(&path, &image).expect("the ROM image is written");
    let out = run_emu(&["--rom", path.to_str().expect("a UTF-8 path")]);
    let serial = String::from_utf8_lossy(&out.stdout);
    let code = out.status.code();
    if code != Some(1) || !serial.contains("PASS") {
        let failures = match code {
            Some(c) if c % 2 == 1 => format!("{} failed checks", c >> 1),
            _ => "no verdict".to_string(),
        };
        panic!(
            "test ROM {name}: emu exited with {code:?} ({failures})\n--- serial output ---\n{serial}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// One `#[test]` per ROM, named after it.
macro_rules! testcases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_rom(stringify!($name));
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

testcases!(alu, shift, muldiv, bcd, bits, data, stack, control, string, io, exceptions);

#[test]
fn demo_rom_greets_and_powers_off() {
    let out = run_emu(&[]);
    let serial = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "the demo powers off\n--- serial output ---\n{serial}");
    assert!(serial.contains("Hello from emu's demo ROM"), "the demo greets\n--- serial output ---\n{serial}");
}
