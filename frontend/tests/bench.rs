//! `emu bench` works end to end (it is a benchmark, so nothing here is timed): the guest ROMs
//! boot under both tiers of the real binary and print the same checksum, the bench prints its
//! table, and a bad guest name is a clear usage error.

use emu_test_roms::bench::Guest;
use std::process::Command;

fn emu() -> Command {
    Command::new(env!("CARGO_BIN_EXE_emu"))
}

#[test]
fn every_bench_rom_exits_through_the_port_with_the_same_checksum_in_both_tiers() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-roms");
    std::fs::create_dir_all(&dir).unwrap();
    for g in Guest::ALL {
        let rom = dir.join(format!("{}.rom", g.name()));
        std::fs::write(&rom, g.rom(1000).unwrap()).unwrap();
        let mut sums = Vec::new();
        for tier in ["interp", "jit"] {
            let out = emu()
                .args(["--headless", "--quiet", "--timeout", "60", "--cpu", tier, "--rom"])
                .arg(&rom)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert_eq!(
                out.status.code(),
                Some(1),
                "{} under {tier}: {text} {}",
                g.name(),
                String::from_utf8_lossy(&out.stderr)
            );
            let sum = text.lines().find_map(|l| l.strip_prefix("checksum ")).map(str::to_string);
            assert!(sum.as_ref().is_some_and(|s| s.len() == 8), "{} under {tier}: no checksum in {text:?}", g.name());
            sums.push(sum);
        }
        assert_eq!(sums[0], sums[1], "{}: the tiers disagree", g.name());
    }
}

#[test]
fn the_bench_prints_mips_for_each_guest() {
    let out = emu().args(["bench", "--scale", "0.002", "--interp-scale", "1", "--no-qemu"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for g in Guest::ALL {
        let line = text
            .lines()
            .find(|l| l.starts_with(g.name()))
            .unwrap_or_else(|| panic!("no line for {}: {text}", g.name()));
        assert!(!line.contains("MISMATCH") && !line.contains("failed"), "{line}");
    }
    assert!(text.contains("jit/interp"), "{text}");
}

#[test]
fn an_unknown_guest_is_a_usage_error() {
    let out = emu().args(["bench", "nonsense"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'nonsense' is not a benchmark"));
}
