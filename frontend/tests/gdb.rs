//! `--gdb`: Debian's gdb drives emu in batch mode: a breakpoint, registers, memory, a single
//! step and kill.

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn have_gdb() -> bool {
    Command::new("gdb").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// 64 KiB at F0000: `jmp f000:0000` at the reset vector, NOPs, and at F0010 `inc ax; jmp $-1`.
fn rom() -> PathBuf {
    let mut rom = vec![0x90u8; 65536];
    rom[0x10..0x13].copy_from_slice(&[0x40, 0xeb, 0xfd]);
    rom[0xfff0..0xfff5].copy_from_slice(&[0xea, 0, 0, 0, 0xf0]);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gdb");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("loop.rom");
    std::fs::write(&path, rom).unwrap();
    path
}

fn debug_with_gdb(tier: &str) {
    if !have_gdb() {
        assert!(std::env::var_os("CI").is_none(), "gdb is required in CI (.ci/packages)");
        eprintln!("skipped: no gdb");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let rom = rom();
    let mut emu = Command::new(env!("CARGO_BIN_EXE_emu"))
        .args(["--headless", "--cpu", tier, "--timeout", "60", "--gdb", &port.to_string()])
        .arg("--rom")
        .arg(&rom)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until emu listens (binding the port fails); connecting would count as gdb.
    for _ in 0..100 {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = Command::new("gdb")
        .args(["-nx", "-batch", "-ex", "set architecture i386"])
        .args(["-ex", &format!("target remote 127.0.0.1:{port}")])
        .args(["-ex", "break *0xf0010", "-ex", "continue", "-ex", "info registers eip eax"])
        .args(["-ex", "x/4xb 0xf0010", "-ex", "stepi", "-ex", "info registers eip eax", "-ex", "kill"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let gdb = String::from_utf8_lossy(&out.stdout);
    let status = emu.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(emu.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(gdb.contains("SIGTRAP"), "the breakpoint should stop the guest:\n{gdb}\n{err}");
    let eips: Vec<&str> = gdb.lines().filter(|l| l.starts_with("eip")).collect();
    assert_eq!(eips.len(), 2, "{gdb}");
    assert!(eips[0].contains("0x10"), "{gdb}");
    assert!(eips[1].contains("0x11"), "stepi runs one instruction: {gdb}");
    assert!(gdb.contains("0x40\t0xeb\t0xfd\t0x90"), "memory through the stub: {gdb}");
    assert!(gdb.lines().any(|l| l.starts_with("eax") && l.contains("0x1 ")), "{gdb}");
    assert_eq!(status.code(), Some(0), "kill ends the run: {err}");
}

#[test]
fn gdb_breaks_steps_and_reads_memory_with_the_interpreter() {
    debug_with_gdb("interp");
}

#[test]
fn gdb_works_with_the_jit_tier_too() {
    debug_with_gdb("jit");
}
