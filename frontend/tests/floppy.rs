//! Floppy disks end to end: a 1.44 MB image built at test time with a boot sector of our own
//! (assembled with iced-x86) boots from drive A: through the 82077AA floppy controller and the
//! 8237A, under emu's BIOS and under SeaBIOS (`--bios seabios`, Debian's package). The boot
//! sector asks INT 13h for the drive's parameters, reads two sectors and checks them, writes one
//! and reads it back, then reports on COM1 and leaves through the exit port. Without --snapshot
//! the write reaches the image file; with it, the file stays as it was. SYSLINUX (Debian's
//! mtools-based installer) on a FAT12 floppy loads its configuration and a COM32 module through
//! the firmware's floppy INT 13h, under both firmwares. Debian's Linux, booted directly, loads
//! its floppy driver (floppy.ko), which must identify the 82077AA and read and write the disk.

mod common;

use common::boot_sector::{com1_print, flat_segments};
use common::images::{have_fat_tools, run_tool};
use emu_test_roms::debian::require;
use iced_x86::code_asm::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FLOPPY_BYTES: usize = 1_474_560;
/// CHS (cylinder 1, head 1, sector 5) on a 1.44 MB disk (18 sectors, 2 heads): LBA 58.
const READ_LBA: usize = 58;
/// CHS (2, 0, 1): LBA 72, the sector the boot sector writes.
const WRITE_LBA: usize = 72;
/// What the boot sector writes there (repeated over the sector).
const WRITE_PATTERN: &[u8; 8] = b"EMU-FDW!";
/// The track the boot sector formats: cylinder 5, head 0 (LBAs 180-197), filled with F6h.
const FORMAT_CYLINDER: u32 = 5;
const FORMAT_LBA: usize = 180;
/// Where the boot sector keeps its messages.
const OK_TEXT: usize = 0x180;
const BAD_TEXT: usize = 0x1a0;

/// INT 13h with AX = `function` (AH) and sector count (AL), CX = `cylinder_sector`, DH =
/// `head` and the buffer at 0000:`buffer`, on the drive whose number the boot sector keeps at
/// 0000:0500; jumps to `bad` if it sets CF.
fn chs_call(a: &mut CodeAssembler, function: u32, cylinder_sector: u32, head: u32, buffer: u32, bad: CodeLabel) {
    a.mov(ax, function).unwrap();
    a.mov(cx, cylinder_sector).unwrap();
    a.mov(dh, head).unwrap();
    a.mov(dl, byte_ptr(0x500)).unwrap();
    a.mov(bx, buffer).unwrap();
    a.int(0x13).unwrap();
    a.jc(bad).unwrap();
}

/// The boot sector. On any failure it prints "FLOPPY-BAD" and the letter of the failed step:
/// P parameters, R read, C read contents, W write, V read back, X contents read back, F format,
/// G read of the formatted track.
fn boot_sector() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    let mut bad = a.create_label();
    let mut print = a.create_label();
    let mut fill = a.create_label();
    let mut done = a.create_label();
    a.cli().unwrap();
    flat_segments(&mut a);
    a.sti().unwrap();
    a.mov(byte_ptr(0x500), dl).unwrap(); // the drive number the BIOS passed

    // P: INT 13h AH=08h: 80 cylinders, 18 sectors, 2 heads, drive type 4.
    a.mov(bl, b'P' as u32).unwrap();
    a.mov(byte_ptr(0x501), bl).unwrap();
    a.mov(ah, 0x08u32).unwrap();
    a.mov(dl, byte_ptr(0x500)).unwrap();
    a.push(es).unwrap();
    a.int(0x13).unwrap();
    a.pop(es).unwrap();
    a.jc(bad).unwrap();
    a.cmp(cx, 0x4f12u32).unwrap();
    a.jne(bad).unwrap();
    a.cmp(dh, 1u32).unwrap();
    a.jne(bad).unwrap();

    // R: read C1 H1 S5-6 (LBAs 58, 59) to 0000:8000.
    a.mov(byte_ptr(0x501), b'R' as u32).unwrap();
    chs_call(&mut a, 0x0202, 0x0105, 1, 0x8000, bad);
    // C: each sector starts with its LBA.
    a.mov(byte_ptr(0x501), b'C' as u32).unwrap();
    a.cmp(word_ptr(0x8000), READ_LBA as u32).unwrap();
    a.jne(bad).unwrap();
    a.cmp(word_ptr(0x8200), READ_LBA as u32 + 1).unwrap();
    a.jne(bad).unwrap();

    // W: fill 0000:9000 with the pattern and write it to C2 H0 S1.
    a.mov(byte_ptr(0x501), b'W' as u32).unwrap();
    a.mov(di, 0x9000u32).unwrap();
    a.set_label(&mut fill).unwrap();
    a.mov(si, 0x7c00u32 + OK_TEXT as u32 + 0x10).unwrap(); // the pattern, after the OK text
    a.mov(cx, 8u32).unwrap();
    a.rep().movsb().unwrap();
    a.cmp(di, 0x9200u32).unwrap();
    a.jb(fill).unwrap();
    chs_call(&mut a, 0x0301, 0x0201, 0, 0x9000, bad);

    // V: read it back to 0000:A000; X: compare.
    a.mov(byte_ptr(0x501), b'V' as u32).unwrap();
    chs_call(&mut a, 0x0201, 0x0201, 0, 0xa000, bad);
    a.mov(byte_ptr(0x501), b'X' as u32).unwrap();
    a.mov(si, 0x9000u32).unwrap();
    a.mov(di, 0xa000u32).unwrap();
    a.mov(cx, 256u32).unwrap();
    a.repe().cmpsw().unwrap();
    a.jne(bad).unwrap();

    // F: format cylinder 5 head 0 with 18 sectors from the address fields at 0000:B000
    // (C, H, R, N per sector).
    a.mov(byte_ptr(0x501), b'F' as u32).unwrap();
    a.mov(di, 0xb000u32).unwrap();
    a.mov(ax, FORMAT_CYLINDER).unwrap(); // AL = C, AH = H
    a.mov(dx, 0x0201u32).unwrap(); // DL = R, DH = N
    let mut ids = a.create_label();
    a.set_label(&mut ids).unwrap();
    a.stosw().unwrap();
    a.xchg(ax, dx).unwrap();
    a.stosw().unwrap();
    a.xchg(ax, dx).unwrap();
    a.inc(dl).unwrap();
    a.cmp(dl, 18u32).unwrap();
    a.jbe(ids).unwrap();
    chs_call(&mut a, 0x0512, (FORMAT_CYLINDER << 8) | 1, 0, 0xb000, bad);
    // G: sector 3 of the formatted track holds the filler.
    a.mov(byte_ptr(0x501), b'G' as u32).unwrap();
    chs_call(&mut a, 0x0201, (FORMAT_CYLINDER << 8) | 3, 0, 0xc000, bad);
    a.cmp(word_ptr(0xc000), 0xf6f6u32).unwrap();
    a.jne(bad).unwrap();
    a.cmp(word_ptr(0xc1fe), 0xf6f6u32).unwrap();
    a.jne(bad).unwrap();

    a.mov(si, 0x7c00u32 + OK_TEXT as u32).unwrap();
    a.call(print).unwrap();
    a.mov(al, 0x10u32).unwrap();
    a.jmp(done).unwrap();

    a.set_label(&mut bad).unwrap();
    a.mov(si, 0x7c00u32 + BAD_TEXT as u32).unwrap();
    a.call(print).unwrap();
    a.mov(al, byte_ptr(0x501)).unwrap();
    a.mov(dx, 0x3f8u32).unwrap();
    a.out(dx, al).unwrap();
    a.mov(al, b'\n' as u32).unwrap();
    a.out(dx, al).unwrap();
    a.mov(al, 0x11u32).unwrap();
    a.set_label(&mut done).unwrap();
    a.out(0xf4, al).unwrap();
    a.cli().unwrap();
    a.hlt().unwrap();

    com1_print(&mut a, &mut print);

    let mut code = a.assemble(0x7c00).unwrap();
    assert!(code.len() <= OK_TEXT, "the boot code overlaps its messages ({} bytes)", code.len());
    code.resize(512, 0);
    code[OK_TEXT..OK_TEXT + 10].copy_from_slice(b"FLOPPY-OK\n");
    code[OK_TEXT + 0x10..OK_TEXT + 0x18].copy_from_slice(WRITE_PATTERN);
    code[BAD_TEXT..BAD_TEXT + 11].copy_from_slice(b"FLOPPY-BAD ");
    code[510] = 0x55;
    code[511] = 0xaa;
    code
}

/// A 1.44 MB image: the boot sector, then every sector starting with its LBA.
fn floppy_image(path: &Path) -> Vec<u8> {
    let mut img = vec![0u8; FLOPPY_BYTES];
    for (n, s) in img.chunks_mut(512).enumerate().skip(1) {
        s[..2].copy_from_slice(&(n as u16).to_le_bytes());
        s[2..].fill(0xf6);
    }
    img[..512].copy_from_slice(&boot_sector());
    std::fs::write(path, &img).unwrap();
    img
}

fn work_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("floppy").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn emu(args: &[&str], image: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emu"))
        .args(args)
        .arg("--fda")
        .arg(image)
        .args(["--headless", "--deterministic", "--timeout", "60", "-m", "32M"])
        .output()
        .unwrap()
}

/// Boots the image with `bios_args`, checks the verdict and what the file holds afterwards.
fn boot_and_check(name: &str, bios_args: &[&str], snapshot: bool) {
    let dir = work_dir(name);
    let image = dir.join("floppy.img");
    let original = floppy_image(&image);
    let mut args = bios_args.to_vec();
    if snapshot {
        args.push("--snapshot");
    }
    let out = emu(&args, &image);
    let serial = String::from_utf8_lossy(&out.stdout);
    let context = format!("serial:\n{serial}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(serial.contains("FLOPPY-OK"), "the boot sector did not report success\n{context}");
    assert_eq!(out.status.code(), Some(0x21), "{context}");

    let after = std::fs::read(&image).unwrap();
    let written = &after[WRITE_LBA * 512..(WRITE_LBA + 1) * 512];
    if snapshot {
        assert!(after == original, "--snapshot: the image file changed");
    } else {
        assert!(written.chunks(8).all(|c| c == WRITE_PATTERN), "the write did not reach the file\n{context}");
        let mut expect = original.clone();
        expect[WRITE_LBA * 512..(WRITE_LBA + 1) * 512].copy_from_slice(written);
        expect[FORMAT_LBA * 512..(FORMAT_LBA + 18) * 512].fill(0xf6);
        assert!(after == expect, "the image differs from the written sector and the formatted track");
    }
}

#[test]
fn our_bios_boots_a_floppy_reads_and_writes_it() {
    boot_and_check("emu-bios", &[], false);
}

#[test]
fn our_bios_floppy_writes_stay_in_memory_with_snapshot() {
    boot_and_check("emu-bios-snapshot", &[], true);
}

/// SeaBIOS's own floppy driver on the same controller and DMA channel.
#[test]
fn seabios_boots_a_floppy_reads_and_writes_it() {
    let Some(root) = emu_test_roms::debian::require("seabios") else { return };
    let bios = root.join("usr/share/seabios/bios.bin");
    boot_and_check("seabios", &["--bios", bios.to_str().unwrap()], false);
}

#[test]
fn seabios_floppy_writes_stay_in_memory_with_snapshot() {
    let Some(root) = emu_test_roms::debian::require("seabios") else { return };
    let bios = root.join("usr/share/seabios/bios.bin");
    boot_and_check("seabios-snapshot", &["--bios", bios.to_str().unwrap()], true);
}

/// Images that cannot be floppies, and read-only ones without --snapshot, are refused with one
/// clear line and exit code 2.
#[test]
fn bad_floppy_images_are_refused_clearly() {
    let dir = work_dir("bad");
    let odd = dir.join("odd.img");
    std::fs::write(&odd, vec![0u8; 1_000_448]).unwrap();
    let out = emu(&[], &odd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("1000448 bytes") && err.contains("1474560 (1.44M)"), "{err}");

    let ro = dir.join("ro.img");
    floppy_image(&ro);
    let mut perms = std::fs::metadata(&ro).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&ro, perms).unwrap();
    let out = emu(&[], &ro);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("read-only") && err.contains("--snapshot"), "{err}");
    // With --snapshot the read-only image boots.
    let out = emu(&["--snapshot"], &ro);
    assert!(String::from_utf8_lossy(&out.stdout).contains("FLOPPY-OK"));
}

const SYSLINUX_CFG: &str = "SERIAL 0 115200\nPROMPT 0\nTIMEOUT 0\nDEFAULT marker\n\
LABEL marker\n  COM32 cat.c32\n  APPEND marker.txt\n";

/// A 1.44 MB FAT12 floppy with SYSLINUX installed, its configuration, cat.c32 and marker.txt.
fn syslinux_floppy(dir: &Path) -> Option<PathBuf> {
    if !have_fat_tools() {
        return None;
    }
    let syslinux = require("syslinux")?;
    let common = require("syslinux-common")?;
    let image = dir.join("syslinux-floppy.img");
    run_tool(
        Command::new("mkfs.fat").args(["-C", "-F", "12", "-n", "EMUFLOPPY", "-i", "454d5521"]).arg(&image).arg("1440"),
    );
    let cfg = dir.join("syslinux.cfg");
    std::fs::write(&cfg, SYSLINUX_CFG).unwrap();
    let marker = dir.join("marker.txt");
    std::fs::write(&marker, "EMU-FLOPPY-MARKER\n").unwrap();
    let cat = common.join("usr/lib/syslinux/modules/bios/cat.c32");
    for file in [&cfg, &marker, &cat] {
        run_tool(Command::new("mcopy").arg("-i").arg(&image).arg(file).arg("::/"));
    }
    run_tool(Command::new(syslinux.join("usr/bin/syslinux")).arg("--install").arg(&image));
    Some(image)
}

/// Boots the SYSLINUX floppy and waits for cat.c32's output of marker.txt on COM1.
fn syslinux_boot(name: &str, bios_args: &[&str]) {
    let dir = work_dir(name);
    let Some(image) = syslinux_floppy(&dir) else { return };
    let mut args = bios_args.to_vec();
    args.extend(["--snapshot", "--exit-on", "EMU-FLOPPY-MARKER"]);
    let out = emu(&args, &image);
    let serial = String::from_utf8_lossy(&out.stdout);
    let context = format!("serial:\n{serial}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "the marker never showed\n{context}");
    for want in ["SYSLINUX 6.", "EMU-FLOPPY-MARKER"] {
        assert!(serial.contains(want), "{want:?} not on COM1\n{context}");
    }
}

#[test]
fn our_bios_boots_syslinux_from_a_fat12_floppy() {
    syslinux_boot("syslinux-emu-bios", &[]);
}

#[test]
fn seabios_boots_syslinux_from_a_fat12_floppy() {
    let Some(root) = require("seabios") else { return };
    let bios = root.join("usr/share/seabios/bios.bin");
    syslinux_boot("syslinux-seabios", &["--bios", bios.to_str().unwrap()]);
}

/// /init for the Linux test: load floppy.ko, read LBA 58, write LBA 100, read it back.
const LINUX_INIT: &str = r#"#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
insmod /floppy.ko || echo "EMU-FD-INSMOD-FAILED"
n=0
while [ ! -b /dev/fd0 ] && [ $n -lt 100 ]; do usleep 50000; n=$((n+1)); done
echo "read=$(dd if=/dev/fd0 bs=512 skip=58 count=1 2>/dev/null | od -A n -t x2 -N 2)"
echo "EMU-LINUX-FD-WROTE $((6*7))" | dd of=/dev/fd0 bs=512 seek=100 conv=sync 2>/dev/null
sync
blockdev --flushbufs /dev/fd0
echo 3 > /proc/sys/vm/drop_caches
echo "back=$(dd if=/dev/fd0 bs=512 skip=100 count=1 2>/dev/null | head -n 1)"
dmesg | grep -i -E "floppy|fdc"
echo EMU-LINUX-FD-DONE
reboot -f
"#;

/// Linux's own floppy driver on the controller, with DMA channel 2: the kernel must name the
/// controller an 82077, and the guest's read and write must match the image.
#[test]
fn linux_floppy_driver_reads_and_writes_the_disk() {
    use emu_test_roms::linux_guest::{find_file, require_busybox, require_kernel, Cpio};
    let Some(kernel) = require_kernel() else { return };
    let Some(busybox) = require_busybox() else { return };
    let floppy_ko = find_file(&kernel.root.join("lib/modules"), "floppy.ko").expect("the kernel has floppy.ko");

    let dir = work_dir("linux");
    let applets =
        ["sh", "mount", "insmod", "usleep", "dd", "od", "sync", "blockdev", "head", "dmesg", "grep", "echo", "reboot"];
    let mut c = Cpio::with_busybox(&busybox, &applets);
    c.file("floppy.ko", &std::fs::read(&floppy_ko).unwrap());
    c.file("init", LINUX_INIT.as_bytes());
    let initrd = dir.join("initrd.img");
    std::fs::write(&initrd, c.finish()).unwrap();
    let image = dir.join("floppy.img");
    floppy_image(&image);

    let out = Command::new(env!("CARGO_BIN_EXE_emu"))
        .arg("--kernel")
        .arg(&kernel.vmlinuz)
        .arg("--initrd")
        .arg(&initrd)
        .args(["--append", "console=ttyS0 quiet"])
        .arg("--fda")
        .arg(&image)
        .args(["--headless", "-q", "-m", "128M", "--no-reboot", "--timeout", "600", "--exit-on", "EMU-LINUX-FD-DONE"])
        .output()
        .unwrap();
    let serial = String::from_utf8_lossy(&out.stdout);
    let context = format!("serial:\n{serial}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "Linux did not finish\n{context}");
    for want in ["fd0 is 1.44M", "FDC 0 is a post-1991 82077", "read= 003a", "back=EMU-LINUX-FD-WROTE 42"] {
        assert!(serial.contains(want), "{want:?} not on COM1\n{context}");
    }
    let after = std::fs::read(&image).unwrap();
    assert!(after[100 * 512..].starts_with(b"EMU-LINUX-FD-WROTE 42\n"), "the guest's write is not in the image");
}
