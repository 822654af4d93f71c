//! The `emu` command line as a user meets it: bad input gets one clear line and exit code 2,
//! limits end runs with code 4, and `--trace` writes one line per instruction.

use std::path::PathBuf;
use std::process::{Command, Output};

fn emu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emu")).args(args).output().expect("emu runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Exit code 2, no panic or backtrace, and one line on stderr mentioning `needle`.
fn assert_usage_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(err.contains(needle), "stderr should mention {needle:?}: {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
}

#[test]
fn bad_input_gets_one_clear_line() {
    assert_usage_error(&emu(&["--rom", "/nonexistent/bios.bin"]), "does not exist");
    let dir = tmp("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    assert_usage_error(&emu(&["--rom", dir.to_str().unwrap()]), "is a directory");
    let empty = tmp("empty.rom");
    std::fs::write(&empty, b"").unwrap();
    assert_usage_error(&emu(&["--rom", empty.to_str().unwrap()]), "is empty");
    let big = tmp("big.rom");
    std::fs::write(&big, vec![0u8; (1 << 20) + 1]).unwrap();
    assert_usage_error(&emu(&["--rom", big.to_str().unwrap()]), "at most 1 MiB");
    assert_usage_error(&emu(&["-m", "lots"]), "not a memory size");
    assert_usage_error(&emu(&["-m", "4G"]), "out of range");
    assert_usage_error(&emu(&["--timeout", "0"]), "seconds");
    assert_usage_error(&emu(&["--timeout=-1"]), "seconds");
    assert_usage_error(&emu(&["--serial", "tcp:1234"]), "not a serial target");
    assert_usage_error(&emu(&["--max-instructions", "many"]), "many");
    assert_usage_error(&emu(&["--no-such-flag"]), "--no-such-flag");
    assert_usage_error(&emu(&["--jit-threads", "2"]), "--jit-threads");
}

/// `--jit-threads 1` (blocks compiled on a second thread) runs a deterministic guest exactly as
/// `--jit-threads 0` does, and two such runs count the same blocks, lookups and interpreted
/// instructions: when a block is installed depends on retired instructions only.
#[test]
fn background_compilation_keeps_deterministic_runs_the_same() {
    use emu_test_roms::bench::Guest;
    for guest in [Guest::IntegerMix, Guest::SmcFaults] {
        let rom = tmp(&format!("{}.rom", guest.name()));
        std::fs::write(&rom, guest.rom(20_000).unwrap()).unwrap();
        let run = |threads: &str| {
            let rom = rom.to_str().unwrap();
            let out = emu(&[
                "--headless",
                "--deterministic",
                "--quiet",
                "--stats",
                "--serial",
                "stdio",
                "--rom",
                rom,
                "--jit-threads",
                threads,
            ]);
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(out.status.code(), Some(1), "{}: {err}", guest.name());
            // The counters, without host times.
            let counts: Vec<String> = err
                .lines()
                .filter(|l| !l.contains("host time") && !l.contains("MIPS"))
                .map(|l| l.split([';', '(']).next().unwrap_or(l).trim().to_string())
                .collect();
            (String::from_utf8_lossy(&out.stdout).into_owned(), counts, err)
        };
        let (in_line, _, _) = run("0");
        let (first, counts, err) = run("1");
        let (second, again, _) = run("1");
        assert!(in_line.contains("checksum"), "{in_line}");
        assert_eq!(first, in_line, "{}", guest.name());
        assert_eq!(second, in_line, "{}", guest.name());
        assert!(err.contains("background compile"), "{err}");
        assert_eq!(counts, again, "{}: {err}", guest.name());
    }
}

/// `--dump-jit` writes, for each block translated (in-line or by the compile thread), its guest
/// code, its IR and Cranelift's listing of its host code; for a block of the baseline tier, a
/// note in place of the IR and its host code's bytes.
#[test]
fn dump_jit_shows_each_blocks_guest_code_ir_and_host_code() {
    use emu_test_roms::bench::Guest;
    let rom = tmp("dump-jit.rom");
    std::fs::write(&rom, Guest::IntegerMix.rom(20_000).unwrap()).unwrap();
    for (threads, baseline) in [("0", "off"), ("1", "off"), ("0", "on")] {
        let dump = tmp(&format!("dump-jit-{threads}-{baseline}.txt"));
        let out = emu(&[
            "--headless",
            "--deterministic",
            "--quiet",
            "--serial",
            "none",
            "--rom",
            rom.to_str().unwrap(),
            "--jit-warmup",
            "0",
            "--jit-threads",
            threads,
            "--jit-baseline",
            baseline,
            "--dump-jit",
            dump.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(&dump).unwrap();
        let entries: Vec<&str> = text.split("== block ").skip(1).collect();
        assert!(entries.len() >= 10, "threads {threads}: {} blocks", entries.len());
        let mut built = 0;
        for e in &entries {
            let (guest, rest) = e.split_once("-- guest\n").and_then(|(_, r)| r.split_once("-- ir\n")).expect(e);
            let (ir, host) = rest.split_once("-- host\n").expect(e);
            let insns = host.lines().filter(|l| l.starts_with("  ")).count();
            assert!(!guest.trim().is_empty() && insns >= 2, "threads {threads}: no host listing: {e}");
            if ir.contains("baseline tier") {
                // Its host code's bytes (the entry pushes RBP: 55).
                built += 1;
                assert!(host.starts_with("  0000  55"), "{e}");
                continue;
            }
            assert!(ir.contains("function"), "{e}");
            if cfg!(target_arch = "x86_64") {
                assert!(host.contains("%rdi"), "the block's CPU pointer: {e}");
            }
        }
        // The baseline tier builds the blocks (then Cranelift the hot ones) on x86-64 hosts.
        let baseline_host = cfg!(all(target_arch = "x86_64", not(windows)));
        assert_eq!(built > 0, baseline == "on" && baseline_host, "threads {threads}, baseline {baseline}");
    }
}

/// A ROM that spins forever: `jmp $` at the reset vector.
fn spinning_rom() -> PathBuf {
    let mut rom = vec![0xf4u8; 4096];
    rom[0xff0..0xff2].copy_from_slice(&[0xeb, 0xfe]);
    let path = tmp("spin.rom");
    std::fs::write(&path, rom).unwrap();
    path
}

#[test]
fn limits_end_the_run_with_code_4() {
    let rom = spinning_rom();
    let out = emu(&["--headless", "--rom", rom.to_str().unwrap(), "--max-instructions", "1000"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("instruction limit"));
    let out = emu(&["--headless", "--rom", rom.to_str().unwrap(), "--timeout", "0.5"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("timeout"));
}

#[test]
fn halting_with_interrupts_off_ends_with_code_6() {
    let mut rom = vec![0u8; 4096];
    rom[0xff0..0xff2].copy_from_slice(&[0xfa, 0xf4]); // cli; hlt
    let path = tmp("halt.rom");
    std::fs::write(&path, rom).unwrap();
    let out = emu(&["--headless", "--rom", path.to_str().unwrap(), "--timeout", "10"]);
    assert_eq!(out.status.code(), Some(6));
}

/// A disk without a boot signature: emu's BIOS finds nothing to boot, and the run ends with
/// code 6 and one line that says so.
#[test]
fn nothing_to_boot_ends_with_code_6_and_one_line() {
    let blank = tmp("blank.img");
    std::fs::write(&blank, vec![0u8; 64 * 1024]).unwrap();
    let out = emu(&["--headless", "--disk", blank.to_str().unwrap(), "--snapshot", "--timeout", "20"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "stderr: {err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("emu:")).count(), 1, "one line: {err}");
    assert!(err.contains("found nothing to boot"), "{err}");
}

#[test]
fn trace_writes_one_line_per_instruction() {
    let rom = spinning_rom();
    let trace = tmp("spin.trace");
    let out = emu(&[
        "--headless",
        "--deterministic",
        "--rom",
        rom.to_str().unwrap(),
        "--max-instructions",
        "3",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(4));
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("f000:0000fff0 (fffffff0)  eb fe"), "{}", lines[0]);
    assert!(lines[0].contains("jmp 0xfff0"), "{}", lines[0]);
    assert!(lines[0].ends_with("eip=0000fff0"), "{}", lines[0]);
}

#[test]
fn trace_shows_changed_registers() {
    // mov ax, 0x1234; mov ds, ax; sti; hlt (no interrupt source: halted for good)
    let mut rom = vec![0u8; 4096];
    rom[0xff0..0xff7].copy_from_slice(&[0xb8, 0x34, 0x12, 0x8e, 0xd8, 0xfb, 0xf4]);
    let path = tmp("regs.rom");
    std::fs::write(&path, rom).unwrap();
    let trace = tmp("regs.trace");
    let out = emu(&["--headless", "--rom", path.to_str().unwrap(), "--trace", trace.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6));
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("mov ax, 0x1234") && lines[0].contains("eax=00001234"), "{text}");
    assert!(lines[1].contains("mov ds, ax") && lines[1].contains("ds=1234"), "{text}");
    assert!(lines[2].contains("sti") && lines[2].contains("eflags=00000202"), "{text}");
    assert!(lines[3].contains("hlt") && !lines[3].contains("eflags"), "{text}");
}

#[test]
fn bad_disks_gdb_ports_and_exit_texts_get_one_clear_line() {
    let odd = tmp("odd.img");
    std::fs::write(&odd, b"abc").unwrap();
    assert_usage_error(&emu(&["--headless", "--disk", odd.to_str().unwrap()]), "multiple of 512");
    let empty = tmp("empty.img");
    std::fs::write(&empty, b"").unwrap();
    assert_usage_error(&emu(&["--headless", "--disk", empty.to_str().unwrap()]), "empty");
    let dir = tmp("a-disk-directory");
    std::fs::create_dir_all(&dir).unwrap();
    assert_usage_error(&emu(&["--headless", "--disk", dir.to_str().unwrap()]), "directory");
    assert_usage_error(&emu(&["--headless", "--disk", "/nonexistent/disk.img"]), "disk.img");
    assert_usage_error(&emu(&["--gdb", "0"]), "not a gdb port");
    assert_usage_error(&emu(&["--gdb", "port"]), "not a gdb port");
    assert_usage_error(&emu(&["--headless", "--exit-on="]), "non-empty");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_usage_error(&emu(&["--headless", "--gdb", &port]), "already in use");
}

#[test]
fn exit_on_stops_with_success_when_the_serial_output_shows_the_text() {
    let out = emu(&["--headless", "--exit-on", "Counting", "--timeout", "20"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Counting"), "{stdout}");
    assert!(!stdout.contains("switching the machine off"), "the run should stop at the text: {stdout}");
}

#[test]
fn without_a_display_the_window_falls_back_to_headless() {
    let out = Command::new(env!("CARGO_BIN_EXE_emu"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .args(["--timeout", "20"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("running headless"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("demo ROM"));
}
