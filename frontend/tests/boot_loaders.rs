//! Real boot loaders from Debian's packages, booted by emu's own BIOS from disk images built at
//! test time: SYSLINUX on a FAT16 partition behind syslinux's MBR, GRUB's i386-pc core image
//! behind its boot.img, and memtest86+ loaded by SYSLINUX as a Linux-protocol kernel.
//!
//! The packages the tests only unpack (syslinux, syslinux-common, grub-pc-bin, grub-common,
//! memtest86+) come from `apt-get download` into target/debian; the host tools they run (mtools,
//! dosfstools) are listed in .ci/packages. Either missing is a skip with a message outside CI and
//! a failure in CI.
//!
//! Each boot is checked on COM1 (emu's stdout in headless mode) and, where the loader only
//! writes to the screen, on the text recovered from `--screenshot` by matching every 9x16 cell
//! against emu's font. The SYSLINUX screen is also compared with a golden PNG
//! (tests/golden/syslinux.png; `EMU_BLESS=1` rewrites it).

use emu_devices::vga::font::{FONT_8X16, GLYPH_HEIGHT};
use emu_devices::vga::{decode_png, Framebuffer};
use emu_test_roms::debian::{require, require_tool};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the partition starts (sectors), as partitioning tools place it: 1 MiB.
const PART_START: u32 = 2048;
/// Size of the FAT16 partition in MiB.
const PART_MIB: u32 = 31;

fn work_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("boot_loaders").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a host tool, panicking with its output if it fails.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?} cannot run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The host tools every disk image here needs.
fn have_fat_tools() -> bool {
    require_tool("mcopy", "mtools") & require_tool("mkfs.fat", "dosfstools")
}

/// A FAT16 file system image for the partition, with a fixed volume id, and `files`
/// (destination path on the volume, host file) copied in; directories are created as needed.
fn fat_partition(path: &Path, files: &[(&str, PathBuf)]) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len((PART_MIB as u64) << 20).unwrap();
    drop(f);
    run(Command::new("mkfs.fat")
        .args(["-F", "16", "-n", "EMU", "-i", "454d5521", "-h"])
        .arg(PART_START.to_string())
        .arg(path));
    let mut made = std::collections::BTreeSet::new();
    for (dest, src) in files {
        let parts: Vec<&str> = dest.split('/').collect();
        for n in 1..parts.len() {
            let d = parts[..n].join("/");
            if made.insert(d.clone()) {
                run(Command::new("mmd").arg("-i").arg(path).arg(format!("::/{d}")));
            }
        }
        run(Command::new("mcopy").arg("-i").arg(path).arg(src).arg(format!("::/{dest}")));
    }
}

/// CHS address of `lba` in the geometry emu's BIOS gives small disks (16 heads, 63 sectors).
fn chs(lba: u32) -> [u8; 3] {
    let (c, rem) = (lba / (16 * 63), lba % (16 * 63));
    let (h, s) = (rem / 63, rem % 63 + 1);
    if c > 1023 {
        return [0xfe, 0xff, 0xff];
    }
    [h as u8, (s as u8) | ((c >> 2) as u8 & 0xc0), c as u8]
}

/// A whole disk: `boot_code` (at most 440 bytes) in the MBR, one active FAT16 partition entry at
/// [`PART_START`] holding `partition`, and `gap` (GRUB's core image) from sector 1 on.
fn disk_image(path: &Path, boot_code: &[u8], gap: &[u8], partition: &Path) {
    assert!(boot_code.len() <= 440 && gap.len() <= (PART_START as usize - 1) * 512);
    let part = std::fs::read(partition).unwrap();
    let mut disk = vec![0u8; PART_START as usize * 512];
    disk[..boot_code.len()].copy_from_slice(boot_code);
    disk[512..512 + gap.len()].copy_from_slice(gap);
    let sectors = (part.len() / 512) as u32;
    let e = &mut disk[446..462];
    e[0] = 0x80;
    e[1..4].copy_from_slice(&chs(PART_START));
    e[4] = 0x06; // FAT16 over 32 MiB or not: the type syslinux and GRUB both accept
    e[5..8].copy_from_slice(&chs(PART_START + sectors - 1));
    e[8..12].copy_from_slice(&PART_START.to_le_bytes());
    e[12..16].copy_from_slice(&sectors.to_le_bytes());
    disk[510] = 0x55;
    disk[511] = 0xaa;
    disk.extend_from_slice(&part);
    std::fs::write(path, disk).unwrap();
}

/// A SYSLINUX disk: the FAT partition with `files` and `syslinux.cfg`, ldlinux installed by the
/// package's mtools-based installer, syslinux's mbr.bin in front.
fn syslinux_disk(dir: &Path, cfg: &str, files: &[(&str, PathBuf)]) -> Option<PathBuf> {
    if !have_fat_tools() {
        return None;
    }
    let syslinux = require("syslinux")?;
    let common = require("syslinux-common")?;
    let cfg_path = dir.join("syslinux.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut all = vec![("syslinux.cfg", cfg_path)];
    all.extend(files.iter().cloned());
    let part = dir.join("part.img");
    fat_partition(&part, &all);
    run(Command::new(syslinux.join("usr/bin/syslinux")).arg("--install").arg(&part));
    let mbr = std::fs::read(common.join("usr/lib/syslinux/mbr/mbr.bin")).unwrap();
    let disk = dir.join("disk.img");
    disk_image(&disk, &mbr[..mbr.len().min(440)], &[], &part);
    Some(disk)
}

fn syslinux_module(name: &str) -> PathBuf {
    require("syslinux-common").unwrap().join("usr/lib/syslinux/modules/bios").join(name)
}

/// What a run of emu produced.
struct Run {
    serial: String,
    /// Host time until the marker appeared (or the run ended).
    elapsed: Duration,
    found: bool,
}

/// Runs emu headless with `args` until COM1 shows `marker` (then stops it) or `limit` passes.
fn run_until(args: &[&str], disk: &Path, marker: &str, limit: Duration) -> Run {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_emu"))
        .arg("--disk")
        .arg(disk)
        .args(["--headless", "--snapshot"])
        .args(args)
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
    let mut found = false;
    while start.elapsed() < limit {
        if String::from_utf8_lossy(&out.lock().unwrap()).contains(marker) {
            found = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    let _ = child.kill();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let serial = String::from_utf8_lossy(&out.lock().unwrap()).to_string();
    found |= serial.contains(marker);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    eprintln!("emu {args:?}: {status}, {:.2} s\nstderr: {stderr}\nserial: {serial}", elapsed.as_secs_f64());
    Run { serial, elapsed, found }
}

/// Runs emu headless and deterministic for exactly `instructions` guest instructions and returns
/// the screen it left.
fn screen_after(disk: &Path, instructions: u64, png: &Path) -> Framebuffer {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_emu"))
        .arg("--disk")
        .arg(disk)
        .args(["--headless", "--snapshot", "--deterministic", "--max-instructions"])
        .arg(instructions.to_string())
        .arg("--screenshot")
        .arg(png)
        .output()
        .expect("emu runs");
    eprintln!(
        "emu: {}, {:.2} s\nstderr: {}\nserial: {}",
        out.status,
        start.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(4), "the run ends at the instruction limit");
    decode_png(&std::fs::read(png).unwrap()).unwrap()
}

/// The text on a 720x400 text-mode screenshot: every 9x16 cell matched against emu's font (a
/// cell reads as the first glyph whose set pixels all have one colour and clear pixels another).
fn screen_text(fb: &Framebuffer) -> String {
    let (cols, rows) = (fb.width / 9, fb.height / GLYPH_HEIGHT);
    let mut text = String::new();
    for row in 0..rows {
        for col in 0..cols {
            let px = |x: usize, y: usize| fb.pixels[(row * GLYPH_HEIGHT + y) * fb.width + col * 9 + x];
            let glyph = (0x20u8..0x7f).chain(0x80..=0xff).chain(0..0x20).find(|&c| {
                let (mut fg, mut bg) = (None, None);
                (0..GLYPH_HEIGHT).all(|y| {
                    let bits = FONT_8X16[c as usize * GLYPH_HEIGHT + y];
                    (0..8).all(|x| {
                        let slot = if bits & 0x80 >> x != 0 { &mut fg } else { &mut bg };
                        *slot.get_or_insert(px(x, y)) == px(x, y)
                    })
                }) && (fg.is_none() || fg != bg)
            });
            text.push(match glyph {
                Some(c) if (0x20..0x7f).contains(&c) => c as char,
                Some(_) => '#',
                None => '?',
            });
        }
        text.push('\n');
    }
    text
}

/// Compares a screen with the golden PNG `tests/golden/<name>` (written when `EMU_BLESS=1`).
fn check_golden(fb: &Framebuffer, name: &str) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("EMU_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        emu_devices::save_png(fb, &golden).unwrap();
        return;
    }
    let want = decode_png(&std::fs::read(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()))).unwrap();
    assert_eq!((fb.width, fb.height), (want.width, want.height), "screen size against {}", golden.display());
    let differ = fb.pixels.iter().zip(&want.pixels).filter(|(a, b)| a != b).count();
    assert!(
        differ == 0,
        "{differ} pixels differ from {} (EMU_BLESS=1 rewrites it); screen:\n{}",
        golden.display(),
        screen_text(fb)
    );
}

const SYSLINUX_CFG: &str = "SERIAL 0 115200\nSAY EMU-SYSLINUX-SAY\nPROMPT 0\nTIMEOUT 0\nDEFAULT marker\n\
LABEL marker\n  COM32 cat.c32\n  APPEND marker.txt\n";

fn syslinux_marker_disk(dir: &Path) -> Option<PathBuf> {
    let marker = dir.join("marker.txt");
    std::fs::write(&marker, "EMU-SYSLINUX-MARKER\n").unwrap();
    let cat = syslinux_module("cat.c32");
    syslinux_disk(dir, SYSLINUX_CFG, &[("marker.txt", marker), ("cat.c32", cat)])
}

/// SYSLINUX boots from the FAT partition through mbr.bin and emu's INT 13h, reads its
/// configuration, and runs a COM32 module (cat.c32) that prints a file on the serial console.
#[test]
fn syslinux_boots_and_runs_a_com32_module() {
    let dir = work_dir("syslinux");
    let Some(disk) = syslinux_marker_disk(&dir) else { return };
    let run = run_until(&["--deterministic"], &disk, "EMU-SYSLINUX-MARKER", Duration::from_secs(60));
    assert!(run.found, "no marker on COM1: {:?}", run.serial);
    assert!(run.serial.contains("SYSLINUX 6."), "{:?}", run.serial);
    eprintln!("syslinux: marker after {:.2} s", run.elapsed.as_secs_f64());
}

/// The same SYSLINUX disk's screen after a fixed number of instructions: the BIOS's POST lines,
/// SYSLINUX's banner, the `SAY` line and cat.c32's output, against a golden PNG.
#[test]
fn syslinux_screen_matches_golden() {
    let dir = work_dir("syslinux_screen");
    let Some(disk) = syslinux_marker_disk(&dir) else { return };
    let fb = screen_after(&disk, 30_000_000, &dir.join("screen.png"));
    let text = screen_text(&fb);
    for want in ["emu BIOS", "Booting from disk 80h", "SYSLINUX 6.", "EMU-SYSLINUX-SAY", "EMU-SYSLINUX-MARKER", "boot:"]
    {
        assert!(text.contains(want), "{want:?} not on the screen:\n{text}");
    }
    check_golden(&fb, "syslinux.png");
}

/// GRUB's i386-pc image: boot.img in the MBR, a core image (biosdisk, part_msdos, fat, serial)
/// in the gap after it with an embedded configuration that turns on the serial terminal, and
/// /boot/grub on the FAT partition with the modules and a grub.cfg that normal mode runs.
#[test]
fn grub_i386_pc_boots_to_its_config() {
    if !have_fat_tools() {
        return;
    }
    let (Some(bin), Some(common)) = (require("grub-pc-bin"), require("grub-common")) else { return };
    let dir = work_dir("grub");
    let modules = bin.join("usr/lib/grub/i386-pc");
    let embed = dir.join("embed.cfg");
    std::fs::write(
        &embed,
        "serial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console\n\
echo EMU-GRUB-EMBEDDED\n",
    )
    .unwrap();
    let core = dir.join("core.img");
    run(Command::new(common.join("usr/bin/grub-mkimage"))
        .args(["-O", "i386-pc", "-p", "(hd0,msdos1)/boot/grub", "-d"])
        .arg(&modules)
        .arg("-c")
        .arg(&embed)
        .arg("-o")
        .arg(&core)
        .args(["biosdisk", "part_msdos", "fat", "serial", "terminal", "echo"]));
    let cfg = dir.join("grub.cfg");
    std::fs::write(&cfg, "set timeout=0\necho EMU-GRUB-CFG-MARKER\n").unwrap();
    let mut files = vec![("boot/grub/grub.cfg".to_string(), cfg)];
    for e in std::fs::read_dir(&modules).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "mod" || x == "lst") {
            files.push((format!("boot/grub/i386-pc/{}", p.file_name().unwrap().to_str().unwrap()), p));
        }
    }
    let files: Vec<(&str, PathBuf)> = files.iter().map(|(d, p)| (d.as_str(), p.clone())).collect();
    let part = dir.join("part.img");
    fat_partition(&part, &files);
    let boot = std::fs::read(modules.join("boot.img")).unwrap();
    let disk = dir.join("disk.img");
    disk_image(&disk, &boot[..440], &std::fs::read(&core).unwrap(), &part);

    // GRUB loads and relocates dozens of modules; the interpreter gets there faster than the
    // JIT, which recompiles the blocks on every page GRUB rewrites.
    let run = run_until(&["--deterministic", "--cpu", "interp"], &disk, "EMU-GRUB-CFG-MARKER", Duration::from_secs(90));
    assert!(run.serial.contains("EMU-GRUB-EMBEDDED"), "the core image's config did not run: {:?}", run.serial);
    assert!(run.found, "normal mode did not run grub.cfg from the FAT partition: {:?}", run.serial);
    eprintln!("grub: marker after {:.2} s", run.elapsed.as_secs_f64());
}

/// memtest86+ (the 32-bit Linux-protocol image), loaded by SYSLINUX's `LINUX` directive: its
/// real-mode setup asks emu's BIOS for the memory map, then it draws its screen.
#[test]
fn memtest86plus_starts_from_syslinux() {
    let Some(memtest) = require("memtest86+") else { return };
    let dir = work_dir("memtest");
    let cfg = "SERIAL 0 115200\nPROMPT 0\nTIMEOUT 0\nDEFAULT memtest\nLABEL memtest\n  LINUX memtest\n";
    let Some(disk) = syslinux_disk(&dir, cfg, &[("memtest", memtest.join("boot/memtest86+ia32.bin"))]) else {
        return;
    };
    let start = Instant::now();
    let fb = screen_after(&disk, 100_000_000, &dir.join("screen.png"));
    let text = screen_text(&fb);
    eprintln!("memtest86+: {:.2} s\n{text}", start.elapsed().as_secs_f64());
    assert!(text.contains("Memtest86+"), "memtest86+'s header is not on the screen:\n{text}");
    assert!(text.contains("128MB"), "memtest86+ does not see 128 MiB of memory:\n{text}");
}

/// The no-emulation boot image of the El Torito test (loaded at 0000:7C00): checks DL, asks
/// INT 13h AH=41h for extensions, reads the primary volume descriptor (LBA 16, 2048 bytes) with
/// AH=42h and checks "CD001", asks AH=4B01h for the specification packet and checks its drive
/// number, then writes "ELTORITO-OK" (or "ELTORITO-BAD") on COM1 and exits through port 0xF4.
fn cd_boot_image() -> Vec<u8> {
    use iced_x86::code_asm::*;
    let mut a = CodeAssembler::new(16).unwrap();
    let mut bad = a.create_label();
    let mut report = a.create_label();
    let mut next = a.create_label();
    let mut done = a.create_label();
    a.xor(ax, ax).unwrap();
    a.mov(ds, ax).unwrap();
    a.mov(es, ax).unwrap();
    a.mov(byte_ptr(0x500), dl).unwrap();
    a.cmp(dl, 0xe0u32).unwrap();
    a.jne(bad).unwrap();
    a.mov(ah, 0x41u32).unwrap();
    a.mov(bx, 0x55aau32).unwrap();
    a.int(0x13).unwrap();
    a.jc(bad).unwrap();
    a.cmp(bx, 0xaa55u32).unwrap();
    a.jne(bad).unwrap();
    // Disk address packet at 0000:0600: 1 sector of LBA 16 to 0000:8000.
    a.mov(word_ptr(0x600), 0x0010u32).unwrap();
    a.mov(word_ptr(0x602), 1u32).unwrap();
    a.mov(word_ptr(0x604), 0x8000u32).unwrap();
    a.mov(word_ptr(0x606), 0u32).unwrap();
    a.mov(dword_ptr(0x608), 16u32).unwrap();
    a.mov(dword_ptr(0x60c), 0u32).unwrap();
    a.mov(si, 0x600u32).unwrap();
    a.mov(ah, 0x42u32).unwrap();
    a.mov(dl, byte_ptr(0x500)).unwrap();
    a.int(0x13).unwrap();
    a.jc(bad).unwrap();
    a.cmp(dword_ptr(0x8001), 0x3030_4443u32).unwrap(); // "CD00" of "CD001"
    a.jne(bad).unwrap();
    a.mov(ax, 0x4b01u32).unwrap();
    a.mov(si, 0x700u32).unwrap();
    a.mov(dl, byte_ptr(0x500)).unwrap();
    a.int(0x13).unwrap();
    a.jc(bad).unwrap();
    a.cmp(byte_ptr(0x702), 0xe0u32).unwrap();
    a.jne(bad).unwrap();
    a.mov(si, 0x7c00u32 + 0x180).unwrap();
    a.mov(bl, 0x10u32).unwrap();
    a.jmp(report).unwrap();
    a.set_label(&mut bad).unwrap();
    a.mov(si, 0x7c00u32 + 0x1a0).unwrap();
    a.mov(bl, 0x11u32).unwrap();
    a.set_label(&mut report).unwrap();
    a.mov(dx, 0x3f8u32).unwrap();
    a.set_label(&mut next).unwrap();
    a.lodsb().unwrap();
    a.test(al, al).unwrap();
    a.jz(done).unwrap();
    a.out(dx, al).unwrap();
    a.jmp(next).unwrap();
    a.set_label(&mut done).unwrap();
    a.mov(al, bl).unwrap();
    a.out(0xf4, al).unwrap();
    a.hlt().unwrap();
    let mut code = a.assemble(0x7c00).unwrap();
    assert!(code.len() <= 0x180);
    code.resize(2048, 0);
    code[0x180..0x180 + 13].copy_from_slice(b"ELTORITO-OK\n\0");
    code[0x1a0..0x1a0 + 14].copy_from_slice(b"ELTORITO-BAD\n\0");
    code
}

/// El Torito: an ISO built by xorriso with our no-emulation boot image, booted from the ATAPI
/// CD-ROM by emu's BIOS, which serves INT 13h AH=41h/42h/4Bh for drive E0h.
#[test]
fn el_torito_cd_boots_a_no_emulation_image() {
    if !require_tool("xorriso", "xorriso") {
        return;
    }
    let dir = work_dir("eltorito");
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("boot")).unwrap();
    std::fs::write(tree.join("boot/boot.bin"), cd_boot_image()).unwrap();
    let iso = dir.join("cd.iso");
    run(Command::new("xorriso")
        .args([
            "-as",
            "mkisofs",
            "-quiet",
            "-R",
            "-V",
            "EMU",
            "-b",
            "boot/boot.bin",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
        ])
        .arg("-o")
        .arg(&iso)
        .arg(&tree));
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_emu"))
        .arg("--cdrom")
        .arg(&iso)
        .args(["--headless", "--deterministic", "--timeout", "30"])
        .output()
        .expect("emu runs");
    let serial = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "el torito: {} in {:.2} s, stderr: {}",
        out.status,
        start.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(serial, "ELTORITO-OK\n");
    assert_eq!(out.status.code(), Some(0x21), "the boot image exits with 0x10 after its checks");
}
