//! Debian's 32-bit Linux (`linux-image-686`, 6.1) on emu's PC, under the JIT, with an initramfs
//! built here from Debian's `busybox-static` (i386) and the kernel package's own modules for
//! the disk (scsi_mod, libata, ata_piix, sd_mod, vfat). Its /init prints markers, runs a few
//! commands, and then works the IDE disk as /dev/sda through ata_piix: it reads a sector the
//! host wrote, writes one of its own, checks a file's hash on the FAT partition, copies it and
//! writes a new file, and reads everything back after dropping the caches.
//!
//! Three boots, each checked on COM1 and on the disk image afterwards:
//! - direct (`--kernel`/`--initrd`, the boot protocol's 32-bit entry) with the disk attached;
//!   /init then hands the serial console to an interactive busybox shell that the test types
//!   into through emu's stdin: arithmetic, line editing and history, Ctrl-C interrupting a
//!   `sleep`, and `reboot -f`, which `--no-reboot` turns into the end of the run;
//! - from the disk with emu's BIOS: syslinux's MBR, SYSLINUX (installed with mtools), the same
//!   kernel and initramfs from the FAT partition, output on the serial and the VGA console
//!   (read back from `--screenshot`);
//! - the same disk with SeaBIOS (`--bios seabios`) and `--snapshot`, after which the image must
//!   be unchanged.

mod common;

use common::images::{fat16, have_fat_tools, mbr_disk, syslinux_disk};
use emu_test_roms::debian::{require, require_tool};
use emu_test_roms::linux_guest::{require_busybox, require_kernel, Cpio};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The /init of every boot. Markers go to the console (ttyS0) and to the VGA console (tty0),
/// which the disk boots' screenshots read. Values the test looks for are computed by the shell,
/// so the script's own text never matches them.
const INIT: &str = r#"#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
say() { echo "$@"; { echo "$@" > /dev/tty0; } 2>/dev/null; }
say EMU-LINUX-OK
uname -a
head -n 20 /proc/cpuinfo
say "answer=$((6*7))"
for m in $(cat /modules); do insmod /lib/modules/$m.ko || say "EMU-INSMOD-FAILED $m"; done
n=0
while [ ! -b /dev/sda1 ] && [ $n -lt 200 ]; do usleep 50000; n=$((n+1)); done
if [ -b /dev/sda1 ]; then
  say "EMU-SDA $(cat /sys/block/sda/size) sectors"
  say "xfer=$(cat /sys/class/ata_device/dev1.0/xfer_mode)"
  say "host=$(dd if=/dev/sda bs=512 skip=1025 count=1 2>/dev/null | head -n 1)"
  echo "EMU-GUEST-SECTOR $((6*7))" | dd of=/dev/sda bs=512 seek=1024 conv=sync 2>/dev/null
  sync
  blockdev --flushbufs /dev/sda
  say "raw=$(dd if=/dev/sda bs=512 skip=1024 count=1 2>/dev/null | head -n 1)"
  mkdir -p /mnt
  if mount -t vfat /dev/sda1 /mnt; then
    say "data=$(sha256sum < /mnt/data.bin)"
    cp /mnt/data.bin /mnt/copy.bin
    echo "EMU-FAT-FILE $((6*7))" > /mnt/written.txt
    umount /mnt
    echo 3 > /proc/sys/vm/drop_caches
    mount -t vfat -o ro /dev/sda1 /mnt
    say "copy=$(sha256sum < /mnt/copy.bin)"
    say "file=$(cat /mnt/written.txt)"
    umount /mnt
  fi
  say EMU-DISK-DONE
else
  say EMU-NO-SDA
fi
if grep -q emu.shell /proc/cmdline; then
  say EMU-SHELL
  export PS1='emu# ' HOME=/root
  exec setsid cttyhack sh
fi
say EMU-LINUX-DONE
reboot -f
"#;

/// The busybox applets /init and the interactive test use.
const APPLETS: &[&str] = &[
    "sh",
    "mount",
    "umount",
    "echo",
    "uname",
    "cat",
    "head",
    "ls",
    "reboot",
    "poweroff",
    "insmod",
    "usleep",
    "dd",
    "sync",
    "blockdev",
    "mkdir",
    "sha256sum",
    "cp",
    "grep",
    "setsid",
    "cttyhack",
    "sleep",
    "dmesg",
];

/// Modules for the disk, besides what they depend on. The generic CRC implementations come first
/// so that crc-t10dif and crc64-rocksoft find them (their soft dependencies name crypto aliases).
const MODULES: &[&str] =
    &["crct10dif_generic", "crc64_rocksoft_generic", "ata_piix", "sd_mod", "vfat", "nls_cp437", "nls_ascii"];

/// Every `.ko` under the kernel package's lib/modules, by name ('-' and '_' are the same).
fn module_index(kernel_root: &Path) -> HashMap<String, PathBuf> {
    fn walk(dir: &Path, index: &mut HashMap<String, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, index);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".ko")) {
                index.insert(name.replace('-', "_"), path);
            }
        }
    }
    let mut index = HashMap::new();
    walk(&kernel_root.join("lib/modules"), &mut index);
    index
}

/// The value of `key=` in a module's .modinfo section (NUL-separated `key=value` strings).
fn modinfo(module: &[u8], key: &str) -> Option<String> {
    module
        .split(|&b| b == 0)
        .find_map(|s| s.strip_prefix(format!("{key}=").as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// `wanted` and everything they need, in an order `insmod` can load them: each module after its
/// `depends=` and the `softdep=pre:` modules that exist under that name.
fn load_order(index: &HashMap<String, PathBuf>, wanted: &[&str]) -> Vec<(String, PathBuf)> {
    fn visit(name: &str, index: &HashMap<String, PathBuf>, order: &mut Vec<(String, PathBuf)>, hard: bool) {
        let name = name.replace('-', "_");
        if order.iter().any(|(n, _)| *n == name) {
            return;
        }
        let Some(path) = index.get(&name) else {
            assert!(!hard, "module {name} is not in the kernel package");
            return;
        };
        let data = std::fs::read(path).unwrap();
        if let Some(soft) = modinfo(&data, "softdep") {
            let pre = soft.split("post:").next().unwrap_or("").trim().trim_start_matches("pre:");
            for dep in pre.split_whitespace() {
                visit(dep, index, order, false);
            }
        }
        for dep in modinfo(&data, "depends").unwrap_or_default().split(',').filter(|d| !d.is_empty()) {
            visit(dep, index, order, true);
        }
        order.push((name, path.clone()));
    }
    let mut order = Vec::new();
    for name in wanted {
        visit(name, index, &mut order, true);
    }
    order
}

fn initramfs(busybox: &[u8], modules: &[(String, PathBuf)]) -> Vec<u8> {
    let mut c = Cpio::with_busybox(busybox, APPLETS);
    for d in ["mnt", "lib", "lib/modules"] {
        c.dir(d);
    }
    for (name, path) in modules {
        c.file(&format!("lib/modules/{name}.ko"), &std::fs::read(path).unwrap());
    }
    let names: Vec<&str> = modules.iter().map(|(n, _)| n.as_str()).collect();
    c.file("modules", format!("{}\n", names.join(" ")).as_bytes());
    c.file("init", INIT.as_bytes());
    c.finish()
}

/// Kernel parameters of every boot: the console, nothing else. The kernel finds what it needs on
/// its own: the local APIC and I/O APIC from the MP table, the TSC's frequency from CPUID, and
/// no ACPI tables (it carries on without them).
const APPEND: &str = "console=ttyS0";

/// The files a boot needs, in a directory of the test's own.
struct Guest {
    dir: PathBuf,
    vmlinuz: PathBuf,
    initrd: PathBuf,
    /// 2 MiB of pseudo-random bytes put on the FAT partition as data.bin.
    data: PathBuf,
}

/// Fetches the packages and builds the initramfs and the data file; `None` (after a message)
/// when something is missing outside CI.
fn guest(name: &str) -> Option<Guest> {
    if !have_fat_tools() || !require_tool("sha256sum", "coreutils") {
        return None;
    }
    let kernel = require_kernel()?;
    let busybox = require_busybox()?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("linux").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let modules = load_order(&module_index(&kernel.root), MODULES);
    let initrd = dir.join("initrd.img");
    std::fs::write(&initrd, initramfs(&busybox, &modules)).unwrap();
    // xorshift32: incompressible enough that a wrong sector shows in the hash.
    let mut x = 0x454d_5521u32;
    let data: Vec<u8> = (0..2 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let data_path = dir.join("data.bin");
    std::fs::write(&data_path, data).unwrap();
    Some(Guest { dir, vmlinuz: kernel.vmlinuz, initrd, data: data_path })
}

/// The sector (LBA 1025, in the unpartitioned gap) the host writes for the guest to read.
const HOST_SECTOR: u64 = 1025;
/// The sector (LBA 1024) the guest writes.
const GUEST_SECTOR: u64 = 1024;

fn put_host_sector(disk: &Path) {
    let mut f = std::fs::OpenOptions::new().write(true).open(disk).unwrap();
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(HOST_SECTOR * 512)).unwrap();
    f.write_all(b"EMU-HOST-SECTOR from the test\n").unwrap();
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// A running emu with stdin and stdout (COM1) piped.
struct Emu {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    started: Instant,
}

impl Emu {
    fn spawn(args: &[&std::ffi::OsStr]) -> Emu {
        let mut child = Command::new(env!("CARGO_BIN_EXE_emu"))
            .args(["--headless", "-q", "-m", "256M", "--no-reboot", "--timeout", "600", "--cpu", "jit"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("emu runs");
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = out.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Emu { stdin: child.stdin.take(), child, out, reader: Some(reader), started: Instant::now() }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Waits until COM1 has shown `text` `count` times in all; false if emu ended or `limit`
    /// passed first.
    fn wait_for(&mut self, text: &str, count: usize, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            if self.output().matches(text).count() >= count {
                return true;
            }
            if Instant::now() > until || self.child.try_wait().unwrap().is_some() {
                return self.output().matches(text).count() >= count;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `bytes` on COM1.
    fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for emu to end (killing it after `limit`): its status, COM1 text, stderr and the
    /// host time it ran.
    fn finish(mut self, limit: Duration) -> Finished {
        drop(self.stdin.take());
        let until = Instant::now() + limit;
        while self.child.try_wait().unwrap().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        let elapsed = self.started.elapsed();
        self.reader.take().unwrap().join().unwrap();
        let mut stderr = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        Finished { status, serial: self.output(), stderr, elapsed }
    }
}

struct Finished {
    status: ExitStatus,
    serial: String,
    stderr: String,
    elapsed: Duration,
}

impl Finished {
    /// What to print when a check fails: status, time, stderr and the last lines of COM1.
    fn report(&self) -> String {
        let lines: Vec<&str> = self.serial.lines().collect();
        format!(
            "emu exited with {:?} after {:.1} s; stderr: {}\nlast serial lines:\n{}",
            self.status.code(),
            self.elapsed.as_secs_f64(),
            self.stderr.trim(),
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    /// The markers /init prints before it touches the disk, and the kernel's own view of the
    /// disk: ata_piix found the PIIX3, libata drives the disk in multiword DMA mode 2 (so the
    /// data goes through the bus master), and it never timed out or retried.
    fn check_boot(&self) {
        let report = self.report();
        let s = &self.serial;
        assert!(s.contains("Linux version 6.1"), "no kernel banner: {report}");
        assert!(s.contains("EMU-LINUX-OK"), "the initramfs /init did not run: {report}");
        assert!(s.contains("answer=42"), "shell arithmetic failed: {report}");
        assert!(!s.contains("EMU-INSMOD-FAILED"), "a module did not load: {report}");
        assert!(s.contains("ata_piix"), "ata_piix did not bind to the PIIX3 IDE function: {report}");
        assert!(s.contains("xfer=XFER_MW_DMA_2"), "libata does not use the disk with multiword DMA: {report}");
        // The kernel's lines about the disk: libata's (ata1, ata1.00), the SCSI disk's, the block
        // layer's and the FAT driver's.
        let disk_lines = s.lines().filter(|l| ["ata1", "ata2", "sd 0:", "sda", "FAT-fs"].iter().any(|k| l.contains(k)));
        for line in disk_lines {
            for bad in ["timeout", "error", "failed", "Emask", "lost interrupt", "retry", "limiting speed"] {
                assert!(!line.contains(bad), "the kernel complains about the disk: {line:?}\n{report}");
            }
        }
    }

    /// What /init reports about the disk: the host's sector read, its own sector and the FAT
    /// files read back, with `data` the hash of data.bin.
    fn check_disk_io(&self, data: &str) {
        let report = self.report();
        let s = &self.serial;
        assert!(!s.contains("EMU-NO-SDA"), "no /dev/sda1 appeared: {report}");
        assert!(s.contains("host=EMU-HOST-SECTOR from the test"), "the host's sector did not read back: {report}");
        assert!(s.contains("raw=EMU-GUEST-SECTOR 42"), "the guest's sector did not read back: {report}");
        assert!(s.contains(&format!("data={data}")), "data.bin read with the wrong hash (want {data}): {report}");
        assert!(s.contains(&format!("copy={data}")), "copy.bin read back with the wrong hash: {report}");
        assert!(s.contains("file=EMU-FAT-FILE 42"), "written.txt did not read back: {report}");
        assert!(s.contains("EMU-DISK-DONE"), "/init did not finish with the disk: {report}");
    }
}

/// Whether the disk image holds what the guest wrote: its raw sector, and copy.bin and
/// written.txt on the FAT partition as mtools reads them.
fn check_image_written(disk: &Path, data: &Path) {
    let image = std::fs::read(disk).unwrap();
    let at = GUEST_SECTOR as usize * 512;
    let sector = &image[at..at + 512];
    let want = b"EMU-GUEST-SECTOR 42\n";
    assert_eq!(&sector[..want.len()], want, "the guest's raw sector is not in the image");
    assert!(sector[want.len()..].iter().all(|&b| b == 0), "dd conv=sync pads the sector with zeros");
    assert_eq!(common::images::fat_file(disk, "written.txt"), b"EMU-FAT-FILE 42\n");
    let copy = common::images::fat_file(disk, "copy.bin");
    assert!(copy == std::fs::read(data).unwrap(), "copy.bin in the image differs from data.bin");
}

/// The direct boot with the disk attached, then the interactive shell on the serial console.
#[test]
fn direct_boot_uses_the_disk_and_serves_an_interactive_shell() {
    let Some(g) = guest("direct") else { return };
    let part = g.dir.join("part.img");
    fat16(&part, 32, &[("data.bin", g.data.clone())]);
    let disk = g.dir.join("disk.img");
    mbr_disk(&disk, &[], &part);
    put_host_sector(&disk);
    let append = format!("{APPEND} emu.shell");
    let mut emu = Emu::spawn(&[
        "--kernel".as_ref(),
        g.vmlinuz.as_os_str(),
        "--initrd".as_ref(),
        g.initrd.as_os_str(),
        "--append".as_ref(),
        append.as_ref(),
        "--disk".as_ref(),
        disk.as_os_str(),
    ]);
    let shell = emu.wait_for("emu# ", 1, Duration::from_secs(540));
    let booted = emu.started.elapsed();
    if shell {
        // Arithmetic, then history: the up arrow brings the line back.
        emu.send(b"echo $((1000+337))\n");
        let first = emu.wait_for("\n1337", 1, Duration::from_secs(20));
        emu.send(b"\x1b[A\n");
        let history = first && emu.wait_for("\n1337", 2, Duration::from_secs(20));
        // Line editing: a typo rubbed out with DEL (what a terminal's Backspace sends).
        emu.send(b"echo typX\x7fed\n");
        let edited = emu.wait_for("\ntyped", 1, Duration::from_secs(20));
        // Ctrl-C reaches the guest and interrupts the foreground job.
        emu.send(b"echo zz$((3*3)); sleep 100\n");
        let slept = emu.wait_for("zz9", 1, Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(500));
        emu.send(b"\x03");
        let sent = Instant::now();
        emu.send(b"echo back-$((2+3))\n");
        let interrupted = emu.wait_for("back-5", 1, Duration::from_secs(30));
        let interrupt_time = sent.elapsed();
        emu.send(b"reboot -f\n");
        let done = emu.finish(Duration::from_secs(60));
        std::fs::write(g.dir.join("serial.txt"), &done.serial).unwrap();
        let report = done.report();
        eprintln!("{report}");
        eprintln!(
            "direct boot: shell prompt after {:.1} s, whole run {:.1} s",
            booted.as_secs_f64(),
            done.elapsed.as_secs_f64()
        );
        done.check_boot();
        done.check_disk_io(&sha256(&g.data));
        assert!(first, "the shell did not compute 1000+337: {report}");
        assert!(history, "the up arrow did not bring the command back: {report}");
        assert!(edited, "DEL did not rub out the typo: {report}");
        assert!(slept, "the sleep command did not start: {report}");
        assert!(interrupted && interrupt_time < Duration::from_secs(30), "Ctrl-C did not interrupt sleep: {report}");
        assert_eq!(done.status.code(), Some(0), "reboot -f did not end the run cleanly: {report}");
        check_image_written(&disk, &g.data);
    } else {
        let done = emu.finish(Duration::from_secs(1));
        let report = done.report();
        done.check_boot();
        done.check_disk_io(&sha256(&g.data));
        panic!("no shell prompt on COM1: {report}");
    }
}

/// The disk boots (SYSLINUX loads the kernel and initramfs from the FAT partition) under the
/// BIOS `bios` (None: emu's own), /init runs its disk checks and reboots; the serial and VGA
/// consoles both show the markers. With `snapshot`, the image must come out unchanged.
fn disk_boot(name: &str, bios: Option<&Path>, snapshot: bool) {
    let Some(g) = guest(name) else { return };
    let cfg = format!(
        "SERIAL 0 115200\nPROMPT 0\nTIMEOUT 0\nDEFAULT linux\nLABEL linux\n  LINUX vmlinuz\n  INITRD initrd.img\n  \
APPEND console=tty0 {APPEND}\n"
    );
    let files = [("vmlinuz", g.vmlinuz.clone()), ("initrd.img", g.initrd.clone()), ("data.bin", g.data.clone())];
    let Some(disk) = syslinux_disk(&g.dir, 48, &cfg, &files) else { return };
    put_host_sector(&disk);
    let before = sha256(&disk);
    let screen = g.dir.join("screen.png");
    let mut args: Vec<&std::ffi::OsStr> =
        vec!["--disk".as_ref(), disk.as_os_str(), "--screenshot".as_ref(), screen.as_os_str()];
    if let Some(bios) = bios {
        args.extend(["--bios".as_ref(), bios.as_os_str()]);
    }
    if snapshot {
        args.push("--snapshot".as_ref());
    }
    let emu = Emu::spawn(&args);
    let done = emu.finish(Duration::from_secs(620));
    std::fs::write(g.dir.join("serial.txt"), &done.serial).unwrap();
    let report = done.report();
    eprintln!("{report}");
    eprintln!("{name}: disk boot to reboot in {:.1} s", done.elapsed.as_secs_f64());
    assert!(done.serial.contains("SYSLINUX 6."), "SYSLINUX did not start: {report}");
    done.check_boot();
    done.check_disk_io(&sha256(&g.data));
    assert!(done.serial.contains("EMU-LINUX-DONE"), "/init did not finish: {report}");
    assert_eq!(done.status.code(), Some(0), "the reboot did not end the run cleanly: {report}");

    // The screen is drawn in the font the BIOS left in plane 2: emu's own, or the IBM VGA font
    // of SeaBIOS's VGA BIOS.
    let fb = emu_devices::vga::decode_png(&std::fs::read(&screen).expect("emu wrote the screenshot")).unwrap();
    let text = match bios {
        None => common::screen::screen_text(&fb),
        Some(bios) => {
            let rom = std::fs::read(bios.with_file_name("vgabios-stdvga.bin")).expect("SeaBIOS's VGA BIOS");
            let font = common::screen::vga_bios_font(&rom).expect("SeaBIOS's VGA BIOS carries the IBM VGA font");
            common::screen::screen_text_in(&fb, font)
        }
    };
    eprintln!("{name}: screen at the end:\n{text}");
    assert_eq!((fb.width, fb.height), (720, 400), "the VGA console is not 80x25 text:\n{text}");
    for want in ["xfer=XFER_MW_DMA_2", "file=EMU-FAT-FILE 42", "EMU-DISK-DONE", "EMU-LINUX-DONE", "reboot: Restarting"]
    {
        assert!(text.contains(want), "{want} is not on the VGA console:\n{text}");
    }

    if snapshot {
        assert_eq!(sha256(&disk), before, "--snapshot let the guest's writes reach the image");
    } else {
        check_image_written(&disk, &g.data);
    }
}

#[test]
fn disk_boot_with_emu_bios_through_syslinux() {
    disk_boot("disk_emu_bios", None, false);
}

#[test]
fn disk_boot_with_seabios_through_syslinux_and_snapshot() {
    let Some(root) = require("seabios") else { return };
    let bios = root.join("usr/share/seabios/bios.bin");
    assert!(bios.is_file(), "the seabios package has no {}", bios.display());
    disk_boot("disk_seabios", Some(&bios), true);
}
