//! Debian's 32-bit Linux (`linux-image-686`, 6.1) booted directly (`--kernel`, the x86 boot
//! protocol's 32-bit entry) under the JIT with an initramfs built here from Debian's
//! `busybox-static` (i386): its /init prints a marker, runs a few commands, and reboots, which
//! `--no-reboot` turns into the end of the run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A newc ("070701") cpio archive writer: what the kernel's initramfs unpacker reads.
#[derive(Default)]
struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        self.ino += 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0, // uid
            0, // gid
            1, // nlink
            0, // mtime
            data.len(),
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() + 1,
            0, // check
        );
        self.out.extend_from_slice(header.as_bytes());
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.out.len() % 4 != 0 {
            self.out.push(0);
        }
    }

    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, &[], (0, 0));
    }

    fn file(&mut self, name: &str, data: &[u8]) {
        self.entry(name, 0o100755, data, (0, 0));
    }

    fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120777, target.as_bytes(), (0, 0));
    }

    fn char_dev(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, 0o020600, &[], (major, minor));
    }

    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        while self.out.len() % 512 != 0 {
            self.out.push(0);
        }
        self.out
    }
}

const INIT: &str = r#"#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo EMU-LINUX-OK
uname -a
cat /proc/cpuinfo | head -n 20
echo "answer=$((6*7))"
echo EMU-LINUX-DONE
reboot -f
"#;

fn initramfs(busybox: &[u8]) -> Vec<u8> {
    let mut c = Cpio::default();
    for d in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root"] {
        c.dir(d);
    }
    c.char_dev("dev/console", 5, 1);
    c.file("bin/busybox", busybox);
    for applet in ["sh", "mount", "echo", "uname", "cat", "head", "ls", "reboot", "poweroff"] {
        c.symlink(&format!("bin/{applet}"), "busybox");
    }
    c.file("init", INIT.as_bytes());
    c.finish()
}

/// The versioned package `linux-image-686` depends on (e.g. `linux-image-6.1.0-50-686:i386`).
fn kernel_package() -> String {
    let fallback = "linux-image-6.1.0-50-686:i386".to_string();
    let Ok(out) = Command::new("apt-cache").args(["depends", "linux-image-686:i386"]).output() else {
        return fallback;
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-6"))
        .map(|p| if p.contains(':') { p.to_string() } else { format!("{p}:i386") })
        .unwrap_or(fallback)
}

fn find_vmlinuz(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root.join("boot"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
}

#[test]
fn debian_686_kernel_boots_to_the_initramfs_shell() {
    let Some(kernel_root) = emu_test_roms::debian::require(&kernel_package()) else { return };
    let Some(busybox_root) = emu_test_roms::debian::require("busybox-static:i386") else { return };
    let vmlinuz = find_vmlinuz(&kernel_root).expect("the kernel package has /boot/vmlinuz-*");
    let busybox = std::fs::read(busybox_root.join("bin/busybox")).expect("busybox-static has /bin/busybox");

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linux");
    std::fs::create_dir_all(&dir).unwrap();
    let initrd = dir.join("initrd.cpio");
    std::fs::write(&initrd, initramfs(&busybox)).unwrap();
    let serial = dir.join("serial.txt");

    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_emu"))
        .arg("--headless")
        .arg("--kernel")
        .arg(&vmlinuz)
        .arg("--initrd")
        .arg(&initrd)
        .args(["--append", "console=ttyS0 earlyprintk=serial,ttyS0 noapic nolapic acpi=off tsc=unstable"])
        .args(["-m", "256M", "--no-reboot", "--timeout", "300", "--cpu", "jit"])
        .arg("--serial")
        .arg(format!("file:{}", serial.display()))
        .output()
        .expect("emu runs");
    let text = String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
    let tail: Vec<&str> = text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
    let report = format!(
        "emu exited with {:?} after {:.1} s; stderr: {}\nlast serial lines:\n{}",
        out.status.code(),
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr).trim(),
        tail.join("\n")
    );
    eprintln!("{report}");
    assert!(text.contains("Linux version 6.1"), "no kernel banner: {report}");
    assert!(text.contains("EMU-LINUX-OK"), "the initramfs /init did not run: {report}");
    assert!(text.contains("answer=42"), "shell arithmetic failed: {report}");
    assert!(text.contains("EMU-LINUX-DONE"), "/init did not finish: {report}");
    assert_eq!(out.status.code(), Some(0), "the reboot did not end the run cleanly: {report}");
}
