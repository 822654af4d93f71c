//! Real boot loaders from Debian's packages, each booted with both firmwares, emu's own BIOS and
//! SeaBIOS (`--bios`), from images built at test time: SYSLINUX on a FAT16 partition behind
//! syslinux's MBR, GRUB's i386-pc core image behind its boot.img, memtest86+ loaded by SYSLINUX
//! as a Linux-protocol kernel, and an El Torito CD with a no-emulation boot image of ours. A boot
//! sector of ours also checks the PCI BIOS (INT 1Ah B1xxh) of both firmwares.
//!
//! Each loader × firmware pair is one test, `<loader>::emu_bios` and `<loader>::seabios`
//! (`cargo test --release -p emu --test boot_loaders -- seabios` runs one firmware's); both use
//! the same image, built once per test process. Each boot runs the `emu` binary headless and
//! deterministic and stops at the loader's serial marker (`--exit-on`), its own exit, or a fixed
//! instruction count; its screen is read back from `--screenshot` as text. The SYSLINUX screen
//! under emu's BIOS is also compared with a golden PNG (tests/golden/syslinux.png; `EMU_BLESS=1`
//! rewrites it).
//!
//! The packages the tests unpack (syslinux, syslinux-common, grub-pc-bin, grub-common,
//! memtest86+, seabios) come from `apt-get download` into target/debian; the host tools they run
//! (mtools, dosfstools, xorriso) are listed in .ci/packages. Either missing is a skip with a
//! message outside CI and a failure in CI.

mod common;

use common::boot_sector::{com1_print, flat_segments};
use common::images::{fat16, have_fat_tools, mbr_disk, run_tool, syslinux_disk, PART_START};
use common::screen::{screen_text, screen_text_in, vga_bios_font};
use emu_devices::vga::{decode_png, Framebuffer};
use emu_test_roms::debian::{require, require_tool};
use iced_x86::code_asm::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Size of the FAT16 partitions in MiB.
const PART_MIB: u32 = 31;
/// Host time after which a boot counts as hung (generous: CI machines are shared).
const TIMEOUT: Duration = Duration::from_secs(120);

/// One #[test] per boot loader and firmware: `<loader>::emu_bios` and `<loader>::seabios`, each
/// calling the function of the same name with the firmware.
macro_rules! with_each_firmware {
    ($($loader:ident),* $(,)?) => {$(
        mod $loader {
            #[test]
            fn emu_bios() {
                super::$loader(super::Firmware::Emu);
            }
            #[test]
            fn seabios() {
                super::$loader(super::Firmware::SeaBios);
            }
        }
    )*};
}

with_each_firmware!(syslinux, grub, memtest86plus, el_torito, pci_bios);

/// The firmware a test boots with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Firmware {
    /// emu's own BIOS, the default.
    Emu,
    /// SeaBIOS and its VGA BIOS from Debian's `seabios` package (`--bios FILE`).
    SeaBios,
}

impl Firmware {
    /// The command-line arguments that select the firmware (SeaBIOS's debug console goes to
    /// `debugcon`), or `None` when its package cannot be had (a skip outside CI).
    fn args(self, debugcon: &Path) -> Option<Vec<String>> {
        match self {
            Firmware::Emu => Some(Vec::new()),
            Firmware::SeaBios => {
                let bios = require("seabios")?.join("usr/share/seabios/bios.bin");
                assert!(bios.is_file(), "the seabios package has no {}", bios.display());
                let args = ["--bios".as_ref(), bios.as_os_str(), "--debugcon".as_ref(), debugcon.as_os_str()];
                Some(args.iter().map(|a| a.to_string_lossy().into_owned()).collect())
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Firmware::Emu => "emu_bios",
            Firmware::SeaBios => "seabios",
        }
    }

    /// The font the firmware's VGA BIOS loads, to read its screens with (`None`: emu's own).
    fn font(self) -> Option<Vec<u8>> {
        match self {
            Firmware::Emu => None,
            Firmware::SeaBios => {
                let rom = require("seabios")?.join("usr/share/seabios/vgabios-stdvga.bin");
                let rom = std::fs::read(&rom).unwrap_or_else(|e| panic!("{}: {e}", rom.display()));
                Some(vga_bios_font(&rom).expect("SeaBIOS's VGA BIOS carries the IBM VGA 8x16 font").to_vec())
            }
        }
    }

    /// What the firmware prints on the screen when it boots from the CD-ROM.
    fn cd_boot_line(self) -> &'static str {
        match self {
            Firmware::Emu => "Booting from CD-ROM E0h",
            Firmware::SeaBios => "Booting from DVD/CD",
        }
    }

    /// What the firmware prints on the screen when it boots from the hard disk.
    fn disk_boot_line(self) -> &'static str {
        match self {
            Firmware::Emu => "Booting from disk 80h",
            Firmware::SeaBios => "Booting from Hard Disk",
        }
    }
}

/// A fresh directory for one test's files.
fn work_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("boot_loaders").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the guest boots from.
#[derive(Debug, Clone, Copy)]
enum Media<'a> {
    Disk(&'a Path),
    Cdrom(&'a Path),
}

/// When a boot stops (besides the guest's own exit and [`TIMEOUT`]).
#[derive(Debug, Clone, Copy)]
enum Until<'a> {
    /// As soon as COM1 shows this text (`--exit-on`; exit code 0).
    Serial(&'a str),
    /// After exactly this many guest instructions (exit code 4).
    Instructions(u64),
    /// When the guest ends the run itself (the exit port).
    GuestExit,
}

/// What a boot produced.
struct Run {
    /// emu's exit code.
    code: Option<i32>,
    /// COM1 (emu's stdout in headless mode).
    serial: String,
    /// The screen when the run ended, and its text.
    screen: Framebuffer,
    text: String,
    /// Everything above and stderr and SeaBIOS's debug console, for failure messages.
    context: String,
}

/// Boots `media` with `firmware`, headless and deterministic, until `until`. `None` when the
/// firmware's package cannot be had (a skip outside CI).
fn boot(test: &str, firmware: Firmware, media: Media, until: Until) -> Option<Run> {
    let dir = work_dir(&format!("{test}-{}", firmware.name()));
    let debugcon = dir.join("debugcon.txt");
    let png = dir.join("screen.png");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_emu"));
    cmd.args(firmware.args(&debugcon)?);
    match media {
        Media::Disk(disk) => cmd.arg("--disk").arg(disk).arg("--snapshot"),
        Media::Cdrom(iso) => cmd.arg("--cdrom").arg(iso),
    };
    cmd.args(["--headless", "--deterministic", "--quiet", "--timeout"]).arg(TIMEOUT.as_secs().to_string());
    match until {
        Until::Serial(marker) => cmd.arg("--exit-on").arg(marker),
        Until::Instructions(n) => cmd.arg("--max-instructions").arg(n.to_string()),
        Until::GuestExit => &mut cmd,
    };
    let start = Instant::now();
    let out = cmd.arg("--screenshot").arg(&png).output().expect("emu runs");
    let elapsed = start.elapsed();
    let serial = String::from_utf8_lossy(&out.stdout).into_owned();
    let screen = std::fs::read(&png).map_or_else(|_| Framebuffer::default(), |p| decode_png(&p).unwrap());
    let text = match firmware.font() {
        _ if screen.width == 0 => String::new(),
        Some(font) => screen_text_in(&screen, &font),
        None => screen_text(&screen),
    };
    let context = format!(
        "{test} with {firmware:?}: {} after {:.2} s\nserial:\n{serial}\nscreen:\n{text}\nstderr:\n{}\n\
         SeaBIOS debug console:\n{}",
        out.status,
        elapsed.as_secs_f64(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&debugcon).unwrap_or_default()
    );
    eprintln!("{test} with {firmware:?}: {} in {:.2} s", out.status, elapsed.as_secs_f64());
    Some(Run { code: out.status.code(), serial, screen, text, context })
}

impl Run {
    /// Asserts that the run ended as `until` says it should.
    fn assert_stopped(&self, until: Until) {
        let want = match until {
            Until::Serial(_) => 0,
            Until::Instructions(_) => 4,
            Until::GuestExit => return,
        };
        assert_eq!(self.code, Some(want), "the run did not end as expected\n{}", self.context);
    }

    fn assert_serial(&self, want: &str) {
        assert!(self.serial.contains(want), "{want:?} not on COM1\n{}", self.context);
    }

    fn assert_screen(&self, want: &str) {
        assert!(self.text.contains(want), "{want:?} not on the screen\n{}", self.context);
    }
}

/// An image built once per test process and shared by the tests of both firmwares (they boot it
/// with `--snapshot`, so it never changes). `None` when a package or tool is missing.
fn shared(cell: &'static OnceLock<Option<PathBuf>>, build: impl FnOnce() -> Option<PathBuf>) -> Option<PathBuf> {
    cell.get_or_init(build).clone()
}

// ---- SYSLINUX ---------------------------------------------------------------------------------

const SYSLINUX_CFG: &str = "SERIAL 0 115200\nSAY EMU-SYSLINUX-SAY\nPROMPT 0\nTIMEOUT 0\nDEFAULT marker\n\
LABEL marker\n  COM32 cat.c32\n  APPEND marker.txt\n";

fn syslinux_module(name: &str) -> PathBuf {
    require("syslinux-common").unwrap().join("usr/lib/syslinux/modules/bios").join(name)
}

/// SYSLINUX with a configuration that runs cat.c32 on marker.txt ("EMU-SYSLINUX-MARKER").
fn syslinux_marker_disk() -> Option<PathBuf> {
    static DISK: OnceLock<Option<PathBuf>> = OnceLock::new();
    shared(&DISK, || {
        let dir = work_dir("syslinux-disk");
        let marker = dir.join("marker.txt");
        std::fs::write(&marker, "EMU-SYSLINUX-MARKER\n").unwrap();
        let files = [("marker.txt", marker), ("cat.c32", syslinux_module("cat.c32"))];
        syslinux_disk(&dir, PART_MIB, SYSLINUX_CFG, &files)
    })
}

/// SYSLINUX boots from the FAT partition through mbr.bin and the firmware's INT 13h, reads its
/// configuration, and runs a COM32 module (cat.c32) that prints a file on the serial console.
fn syslinux(fw: Firmware) {
    let Some(disk) = syslinux_marker_disk() else { return };
    let until = Until::Serial("EMU-SYSLINUX-MARKER");
    let Some(run) = boot("syslinux", fw, Media::Disk(&disk), until) else { return };
    run.assert_stopped(until);
    run.assert_serial("SYSLINUX 6.");
    run.assert_screen(fw.disk_boot_line());
    run.assert_screen("SYSLINUX 6.");
}

/// The SYSLINUX disk's screen under emu's BIOS after a fixed number of instructions: the POST
/// lines, SYSLINUX's banner, the `SAY` line and cat.c32's output, against a golden PNG.
#[test]
fn syslinux_screen_matches_golden() {
    let Some(disk) = syslinux_marker_disk() else { return };
    let until = Until::Instructions(30_000_000);
    let Some(run) = boot("syslinux-golden", Firmware::Emu, Media::Disk(&disk), until) else { return };
    run.assert_stopped(until);
    for want in ["emu BIOS", "Booting from disk 80h", "SYSLINUX 6.", "EMU-SYSLINUX-SAY", "EMU-SYSLINUX-MARKER", "boot:"]
    {
        run.assert_screen(want);
    }
    check_golden(&run.screen, "syslinux.png");
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

// ---- GRUB -------------------------------------------------------------------------------------

/// GRUB's i386-pc image: boot.img in the MBR, a core image (biosdisk, part_msdos, fat, serial)
/// in the gap after it with an embedded configuration that turns on the serial terminal, and
/// /boot/grub on the FAT partition with the modules and a grub.cfg that normal mode runs.
fn grub_disk() -> Option<PathBuf> {
    static DISK: OnceLock<Option<PathBuf>> = OnceLock::new();
    shared(&DISK, || {
        if !have_fat_tools() {
            return None;
        }
        let (bin, common) = (require("grub-pc-bin")?, require("grub-common")?);
        let dir = work_dir("grub-disk");
        let modules = bin.join("usr/lib/grub/i386-pc");
        let embed = dir.join("embed.cfg");
        std::fs::write(
            &embed,
            "serial --unit=0 --speed=115200\nterminal_input serial console\nterminal_output serial console\n\
             echo EMU-GRUB-EMBEDDED\n",
        )
        .unwrap();
        let core = dir.join("core.img");
        run_tool(
            Command::new(common.join("usr/bin/grub-mkimage"))
                .args(["-O", "i386-pc", "-p", "(hd0,msdos1)/boot/grub", "-d"])
                .arg(&modules)
                .arg("-c")
                .arg(&embed)
                .arg("-o")
                .arg(&core)
                .args(["biosdisk", "part_msdos", "fat", "serial", "terminal", "echo"]),
        );
        let cfg = dir.join("grub.cfg");
        std::fs::write(&cfg, "set timeout=0\necho EMU-GRUB-CFG-MARKER\n").unwrap();
        let part = dir.join("part.img");
        fat16(&part, PART_MIB, &[("boot/grub/grub.cfg", cfg)]);
        // The modules in one mtools call (hundreds of files).
        run_tool(Command::new("mmd").arg("-i").arg(&part).arg("::/boot/grub/i386-pc"));
        let mut copy = Command::new("mcopy");
        copy.arg("-i").arg(&part);
        for e in std::fs::read_dir(&modules).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "mod" || x == "lst") {
                copy.arg(p);
            }
        }
        run_tool(copy.arg("::/boot/grub/i386-pc/"));
        let boot_img = std::fs::read(modules.join("boot.img")).unwrap();
        let disk = dir.join("disk.img");
        mbr_disk(&disk, &boot_img[..440], &part);
        // The core image goes in the unpartitioned gap from sector 1, where boot.img looks.
        let core = std::fs::read(&core).unwrap();
        assert!(core.len() <= (PART_START as usize - 1) * 512, "GRUB's core image does not fit the gap");
        let mut image = std::fs::read(&disk).unwrap();
        image[512..512 + core.len()].copy_from_slice(&core);
        std::fs::write(&disk, image).unwrap();
        Some(disk)
    })
}

/// GRUB's boot.img loads its core image through the firmware's INT 13h; the embedded config
/// turns on the serial terminal, and normal mode reads grub.cfg from the FAT partition.
fn grub(fw: Firmware) {
    let Some(disk) = grub_disk() else { return };
    let until = Until::Serial("EMU-GRUB-CFG-MARKER");
    let Some(run) = boot("grub", fw, Media::Disk(&disk), until) else { return };
    run.assert_stopped(until);
    run.assert_serial("EMU-GRUB-EMBEDDED");
}

// ---- memtest86+ -------------------------------------------------------------------------------

/// Instructions until memtest86+ has drawn its screen, with room to spare: about 65 million
/// under emu's BIOS and 80 million under SeaBIOS, most of them memtest86+'s own start-up.
const MEMTEST_INSTRUCTIONS: u64 = 100_000_000;

/// memtest86+ (the 32-bit Linux-protocol image), loaded by SYSLINUX's `LINUX` directive: its
/// real-mode setup asks the firmware for the memory map, then it draws its screen.
fn memtest86plus(fw: Firmware) {
    static DISK: OnceLock<Option<PathBuf>> = OnceLock::new();
    let Some(disk) = shared(&DISK, || {
        let memtest = require("memtest86+")?;
        let dir = work_dir("memtest-disk");
        let cfg = "SERIAL 0 115200\nPROMPT 0\nTIMEOUT 0\nDEFAULT memtest\nLABEL memtest\n  LINUX memtest\n";
        syslinux_disk(&dir, PART_MIB, cfg, &[("memtest", memtest.join("boot/memtest86+ia32.bin"))])
    }) else {
        return;
    };
    let until = Until::Instructions(MEMTEST_INSTRUCTIONS);
    let Some(run) = boot("memtest86plus", fw, Media::Disk(&disk), until) else { return };
    run.assert_stopped(until);
    run.assert_serial("Loading memtest");
    run.assert_screen("Memtest86+");
    // The memory map (E820) the firmware gave: 128 MiB, emu's default.
    run.assert_screen("128MB");
}

// ---- El Torito --------------------------------------------------------------------------------

/// The no-emulation boot image of the El Torito test (loaded at 0000:7C00): checks DL, asks
/// INT 13h AH=41h for extensions, reads the primary volume descriptor (LBA 16, 2048 bytes) with
/// AH=42h and checks "CD001", asks AH=4B01h for the specification packet and checks its drive
/// number, then writes "ELTORITO-OK" (or "ELTORITO-BAD") on COM1 and exits through port 0xF4.
fn cd_boot_image() -> Vec<u8> {
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
/// CD-ROM; the firmware serves INT 13h AH=41h/42h/4Bh for drive E0h.
fn el_torito(fw: Firmware) {
    static ISO: OnceLock<Option<PathBuf>> = OnceLock::new();
    let Some(iso) = shared(&ISO, || {
        if !require_tool("xorriso", "xorriso") {
            return None;
        }
        let dir = work_dir("eltorito-iso");
        let tree = dir.join("tree");
        std::fs::create_dir_all(tree.join("boot")).unwrap();
        std::fs::write(tree.join("boot/boot.bin"), cd_boot_image()).unwrap();
        let iso = dir.join("cd.iso");
        run_tool(
            Command::new("xorriso")
                .args(["-as", "mkisofs", "-quiet", "-R", "-V", "EMU", "-b", "boot/boot.bin", "-no-emul-boot"])
                .args(["-boot-load-size", "4", "-o"])
                .arg(&iso)
                .arg(&tree),
        );
        Some(iso)
    }) else {
        return;
    };
    let Some(run) = boot("el_torito", fw, Media::Cdrom(&iso), Until::GuestExit) else { return };
    assert_eq!(run.serial, "ELTORITO-OK\n", "{}", run.context);
    assert_eq!(run.code, Some(0x21), "the boot image exits with 0x10 after its checks\n{}", run.context);
    run.assert_screen(fw.cd_boot_line());
}

// ---- PCI BIOS ---------------------------------------------------------------------------------

/// Where the PCI BIOS boot sector keeps its messages, and the step byte of the failure message.
const PCI_OK_TEXT: usize = 0x180;
const PCI_BAD_TEXT: usize = 0x1a0;
const PCI_BAD_STEP: usize = PCI_BAD_TEXT + 12;
/// The step counter (a digit) in low memory.
const STEP: u64 = 0x500;

/// A boot sector that checks the PCI BIOS as a real-mode program sees it, step by step: B101h
/// (signature "PCI ", mechanism #1, version 2.10 or later), B102h finds the i440FX 8086:1237 at
/// 00:00.0, B103h finds class 010180h (the PIIX3 IDE) at 00:01.1, B10Ah reads its ID dword,
/// B10Bh/B108h write and read back its SIDETIM register, and B102h does not find 1234:5678 (86h).
/// Then "PCIBIOS-OK" on COM1 and exit 0x10, or "PCIBIOS-BAD n" (n the failed step) and exit 0x11.
/// SeaBIOS does not check register alignment, so the 87h error is left to the unit tests in
/// emu-devices' firmware::pci_bios.
fn pci_bios_boot_sector() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    let mut bad = a.create_label();
    let mut report = a.create_label();
    let mut print = a.create_label();
    flat_segments(&mut a);
    a.mov(byte_ptr(STEP), b'1' as u32).unwrap();
    // Each call must succeed (CF clear, AH 0), or fail with CF set and the given AH.
    let call = |a: &mut CodeAssembler, ax_value: u32, fails_with: Option<u32>, bad| {
        a.mov(ax, ax_value).unwrap();
        a.int(0x1a).unwrap();
        match fails_with {
            None => {
                a.jc(bad).unwrap();
                a.test(ah, ah).unwrap();
            }
            Some(code) => {
                a.jnc(bad).unwrap();
                a.cmp(ah, code).unwrap();
            }
        }
        a.jne(bad).unwrap();
    };
    let next_step = |a: &mut CodeAssembler| a.inc(byte_ptr(STEP)).unwrap();
    // 1: installation check.
    a.xor(edi, edi).unwrap();
    call(&mut a, 0xb101, None, bad);
    a.cmp(edx, 0x2049_4350).unwrap();
    a.jne(bad).unwrap();
    a.test(al, 1).unwrap();
    a.jz(bad).unwrap();
    a.cmp(bx, 0x0210).unwrap();
    a.jb(bad).unwrap();
    next_step(&mut a);
    // 2: the host bridge.
    a.mov(cx, 0x1237u32).unwrap();
    a.mov(dx, 0x8086u32).unwrap();
    a.xor(si, si).unwrap();
    call(&mut a, 0xb102, None, bad);
    a.test(bx, bx).unwrap();
    a.jnz(bad).unwrap();
    next_step(&mut a);
    // 3: the IDE controller by class code.
    a.mov(ecx, 0x01_0180u32).unwrap();
    a.xor(si, si).unwrap();
    call(&mut a, 0xb103, None, bad);
    a.cmp(bx, 1u32 << 3 | 1).unwrap();
    a.jne(bad).unwrap();
    next_step(&mut a);
    // 4: its vendor and device ID as one dword (BX still 00:01.1).
    a.xor(di, di).unwrap();
    call(&mut a, 0xb10a, None, bad);
    a.cmp(ecx, 0x7010_8086u32).unwrap();
    a.jne(bad).unwrap();
    next_step(&mut a);
    // 5: SIDETIM (44h) written and read back.
    a.mov(di, 0x44u32).unwrap();
    a.mov(cl, 0x5au32).unwrap();
    call(&mut a, 0xb10b, None, bad);
    a.xor(cx, cx).unwrap();
    call(&mut a, 0xb108, None, bad);
    a.cmp(cl, 0x5au32).unwrap();
    a.jne(bad).unwrap();
    next_step(&mut a);
    // 6: a device that is not there.
    a.mov(cx, 0x5678u32).unwrap();
    a.mov(dx, 0x1234u32).unwrap();
    a.xor(si, si).unwrap();
    call(&mut a, 0xb102, Some(0x86), bad);

    a.mov(si, 0x7c00 + PCI_OK_TEXT as u32).unwrap();
    a.mov(bl, 0x10u32).unwrap();
    a.jmp(report).unwrap();
    a.set_label(&mut bad).unwrap();
    a.mov(al, byte_ptr(STEP)).unwrap();
    a.mov(byte_ptr(0x7c00 + PCI_BAD_STEP as u64), al).unwrap();
    a.mov(si, 0x7c00 + PCI_BAD_TEXT as u32).unwrap();
    a.mov(bl, 0x11u32).unwrap();
    a.set_label(&mut report).unwrap();
    a.call(print).unwrap();
    a.mov(al, bl).unwrap();
    a.out(0xf4, al).unwrap();
    a.hlt().unwrap();
    com1_print(&mut a, &mut print);
    let mut code = a.assemble(0x7c00).unwrap();
    assert!(code.len() <= PCI_OK_TEXT, "boot sector code too long: {} bytes", code.len());
    code.resize(510, 0);
    code[PCI_OK_TEXT..PCI_OK_TEXT + 12].copy_from_slice(b"PCIBIOS-OK\n\0");
    code[PCI_BAD_TEXT..PCI_BAD_TEXT + 15].copy_from_slice(b"PCIBIOS-BAD ?\n\0");
    code.extend_from_slice(&[0x55, 0xaa]);
    code
}

/// The PCI BIOS of each firmware, as the boot sector above sees it.
fn pci_bios(fw: Firmware) {
    static DISK: OnceLock<Option<PathBuf>> = OnceLock::new();
    let Some(disk) = shared(&DISK, || {
        let dir = work_dir("pci-bios-disk");
        let mut image = pci_bios_boot_sector();
        image.resize(1 << 20, 0);
        let disk = dir.join("disk.img");
        std::fs::write(&disk, image).unwrap();
        Some(disk)
    }) else {
        return;
    };
    let Some(run) = boot("pci_bios", fw, Media::Disk(&disk), Until::GuestExit) else { return };
    assert_eq!(run.serial, "PCIBIOS-OK\n", "{}", run.context);
    assert_eq!(run.code, Some(0x21), "{}", run.context);
}
