//! Debian's 32-bit Linux as a guest: the kernel (`linux-image-686`, 6.1) and initramfs archives
//! built here around Debian's `busybox-static` (i386). The one home of these pieces: the Linux
//! boot tests (frontend/tests/linux*.rs, floppy.rs) and `emu bench linux` all use it.

use crate::debian;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel command line of `emu bench linux` (emu and QEMU alike): the console on COM1, and
/// the kernel kept on the 8259A and the 8254 without ACPI so that both machines boot the same way
/// (QEMU has ACPI, emu does not).
pub const CMDLINE: &str = "console=ttyS0 earlyprintk=serial,ttyS0 noapic nolapic acpi=off tsc=unstable";

/// A newc ("070701") cpio archive writer: what the kernel's initramfs unpacker reads.
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    /// The start of an initramfs: the usual directories, /dev/console, busybox in /bin and
    /// `applets` linked to it there. The caller adds `/init` and whatever else, then
    /// [`Cpio::finish`]es.
    pub fn with_busybox(busybox: &[u8], applets: &[&str]) -> Cpio {
        let mut c = Cpio::default();
        for d in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root"] {
            c.dir(d);
        }
        c.char_dev("dev/console", 5, 1);
        c.file("bin/busybox", busybox);
        for applet in applets {
            c.symlink(&format!("bin/{applet}"), "busybox");
        }
        c
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        self.ino += 1;
        // Fields: ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
        // rdevminor, namesize (with the NUL), check.
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

    /// A regular file, executable (the archive holds /init and scripts as well as data).
    pub fn file(&mut self, name: &str, data: &[u8]) {
        self.entry(name, 0o100755, data, (0, 0));
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120777, target.as_bytes(), (0, 0));
    }

    pub fn char_dev(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, 0o020600, &[], (major, minor));
    }

    /// The archive, with its trailer, padded to 512 bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        while !self.out.len().is_multiple_of(512) {
            self.out.push(0);
        }
        self.out
    }
}

/// An initramfs as [`Cpio::with_busybox`] makes it, whose `/init` is `init` (a shell script).
pub fn initramfs(busybox: &[u8], init: &str, applets: &[&str]) -> Vec<u8> {
    let mut c = Cpio::with_busybox(busybox, applets);
    c.file("init", init.as_bytes());
    c.finish()
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

/// `/boot/vmlinuz-*` in an unpacked kernel package.
pub fn find_vmlinuz(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root.join("boot"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
}

/// The first file named `name` under `dir`, searched depth first (a module in lib/modules).
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

/// The unpacked kernel package.
pub struct Kernel {
    /// Where the package is unpacked (its lib/modules hold the kernel's modules).
    pub root: PathBuf,
    /// Its /boot/vmlinuz-*.
    pub vmlinuz: PathBuf,
}

/// The kernel package for a test: `None` after [`debian::require`]'s message when it cannot be
/// had outside CI.
pub fn require_kernel() -> Option<Kernel> {
    let root = debian::require(&kernel_package())?;
    let vmlinuz = find_vmlinuz(&root).expect("the kernel package has /boot/vmlinuz-*");
    Some(Kernel { root, vmlinuz })
}

/// Debian's static i386 busybox for a test, as [`require_kernel`].
pub fn require_busybox() -> Option<Vec<u8>> {
    let root = debian::require("busybox-static:i386")?;
    Some(std::fs::read(root.join("bin/busybox")).expect("busybox-static has /bin/busybox"))
}

/// The kernel image and busybox binary, fetched (once) from Debian.
pub struct LinuxGuest {
    pub vmlinuz: PathBuf,
    pub busybox: Vec<u8>,
}

impl LinuxGuest {
    /// Fetches the kernel and busybox packages; the error says which one is missing and why.
    pub fn fetch() -> Result<LinuxGuest, String> {
        let package = kernel_package();
        let kernel_root = debian::fetch(&package).map_err(|e| format!("{package}: {e}"))?;
        let busybox_root = debian::fetch("busybox-static:i386").map_err(|e| format!("busybox-static:i386: {e}"))?;
        let vmlinuz = find_vmlinuz(&kernel_root)
            .ok_or_else(|| format!("{package} has no /boot/vmlinuz-* in {}", kernel_root.display()))?;
        let path = busybox_root.join("bin/busybox");
        let busybox = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(LinuxGuest { vmlinuz, busybox })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_entries_are_newc_and_aligned() {
        let mut c = Cpio::default();
        c.file("init", b"#!/bin/sh\n");
        let out = c.finish();
        assert!(out.starts_with(b"070701"));
        // Header (110 bytes) + "init\0" padded to 116, data 10 padded to 12, then the trailer.
        assert_eq!(&out[110..115], b"init\0");
        assert_eq!(&out[116..126], b"#!/bin/sh\n");
        assert_eq!(&out[128..134], b"070701");
        assert_eq!(out.len() % 512, 0);
        // filesize field of the first entry.
        assert_eq!(&out[6 + 6 * 8..6 + 7 * 8], b"0000000a");
    }

    #[test]
    fn busybox_initramfs_links_the_applets() {
        let out = initramfs(b"BB", "#!/bin/sh\n", &["sh", "mount"]);
        let text = String::from_utf8_lossy(&out);
        for name in ["dev/console\0", "bin/busybox\0", "bin/sh\0", "bin/mount\0", "init\0", "TRAILER!!!\0"] {
            assert!(text.contains(name), "no {name:?} in the archive");
        }
        // A link's data is its target: "bin/sh\0" (7 bytes after the 110-byte header) pads to 120.
        let sh = out.windows(7).position(|w| w == b"bin/sh\0").unwrap();
        assert_eq!(&out[sh + 10..sh + 17], b"busybox");
    }
}
