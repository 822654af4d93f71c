//! Pieces for booting Debian's 32-bit Linux with an initramfs of our own: a newc cpio writer,
//! the kernel package's name and its vmlinuz. (frontend/tests/linux.rs has its own copies from
//! before this module; they can move here.)

use std::path::{Path, PathBuf};
use std::process::Command;

/// A newc ("070701") cpio archive writer: what the kernel's initramfs unpacker reads.
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        self.ino += 1;
        // ino, mode, uid, gid, nlink, mtime, size, devmajor, devminor, rdevmajor, rdevminor,
        // name size, check.
        let fields = [self.ino, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    pub fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, &[], (0, 0));
    }

    pub fn file(&mut self, name: &str, data: &[u8]) {
        self.entry(name, 0o100755, data, (0, 0));
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120777, target.as_bytes(), (0, 0));
    }

    pub fn char_dev(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, 0o020600, &[], (major, minor));
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        while !self.out.len().is_multiple_of(512) {
            self.out.push(0);
        }
        self.out
    }
}

/// The versioned package `linux-image-686` depends on (e.g. `linux-image-6.1.0-50-686:i386`).
pub fn kernel_package() -> String {
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

/// The kernel package's /boot/vmlinuz-*.
pub fn find_vmlinuz(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root.join("boot"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
}

/// The first file named `name` under `dir`, searched depth first.
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}
