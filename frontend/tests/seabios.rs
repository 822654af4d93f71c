//! SeaBIOS from Debian's `seabios` package boots a disk on emu's PC: a boot sector of our own
//! that prints through INT 10h (SeaBIOS's VGA BIOS) and on COM1, checks its disk read through
//! SeaBIOS's INT 13h, and exits through port 0xF4. SeaBIOS's debug console (0x402) must report
//! the RAM size from fw_cfg's e820 file and the disk found on the IDE controller; the screenshot
//! must show the VGA BIOS's text-mode banner.
//!
//! The package is fetched with `apt-get download` into target/debian (a skip outside CI when it
//! cannot be had, a failure in CI).

mod common;

use common::boot_sector::{com1_print, flat_segments};
use iced_x86::code_asm::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the boot sector keeps its two messages.
const OK_TEXT: usize = 0x180;
const BAD_TEXT: usize = 0x1a0;

/// The boot sector: 'B' by INT 10h teletype, a CHS read of LBA 1 to 0000:8000 checked for its
/// marker, then "SEABIOS-OK" (or "SEABIOS-BAD") on COM1 and exit value 0x10 (or 0x11).
fn boot_sector() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    let mut bad = a.create_label();
    let mut report = a.create_label();
    let mut print = a.create_label();
    flat_segments(&mut a);
    a.mov(ax, 0x0e42u32).unwrap(); // teletype 'B'
    a.mov(bx, 0x0007u32).unwrap();
    a.int(0x10).unwrap();
    a.mov(ax, 0x0201u32).unwrap(); // read 1 sector: cylinder 0, head 0, sector 2 (LBA 1)
    a.mov(cx, 0x0002u32).unwrap();
    a.mov(dh, 0u32).unwrap();
    a.mov(bx, 0x8000u32).unwrap();
    a.int(0x13).unwrap(); // DL: the boot drive, as SeaBIOS passed it
    a.jc(bad).unwrap();
    a.cmp(dword_ptr(0x8000), 0x4553_4142u32).unwrap();
    a.jne(bad).unwrap();
    a.mov(si, 0x7c00 + OK_TEXT as u32).unwrap();
    a.mov(ah, 0x10u32).unwrap();
    a.jmp(report).unwrap();
    a.set_label(&mut bad).unwrap();
    a.mov(si, 0x7c00 + BAD_TEXT as u32).unwrap();
    a.mov(ah, 0x11u32).unwrap();
    a.set_label(&mut report).unwrap();
    a.call(print).unwrap();
    a.mov(al, ah).unwrap();
    a.out(0xf4, al).unwrap();
    a.hlt().unwrap();
    com1_print(&mut a, &mut print);
    let mut code = a.assemble(0x7c00).unwrap();
    assert!(code.len() <= OK_TEXT, "boot sector code too long");
    code.resize(510, 0);
    code[OK_TEXT..OK_TEXT + 12].copy_from_slice(b"SEABIOS-OK\n\0");
    code[BAD_TEXT..BAD_TEXT + 13].copy_from_slice(b"SEABIOS-BAD\n\0");
    code.extend_from_slice(&[0x55, 0xaa]);
    code
}

/// A 4 MiB disk: the boot sector, then sector 1 starting with "BASE" (0x45534142 little-endian).
fn disk_image(dir: &Path) -> PathBuf {
    let mut img = boot_sector();
    let mut sector1 = b"BASE".to_vec();
    sector1.resize(512, 0xee);
    img.extend_from_slice(&sector1);
    img.resize(4 << 20, 0);
    let path = dir.join("seabios-boot.img");
    std::fs::write(&path, img).unwrap();
    path
}

/// Under the default tier (the JIT).
#[test]
fn seabios_boots_a_disk_and_reports_memory() {
    boot_disk(None);
}

/// The same boot under the interpreter, the reference.
#[test]
fn seabios_boots_a_disk_under_the_interpreter() {
    boot_disk(Some("interp"));
}

/// Boots the disk with `--cpu cpu` (the default tier if `None`) and checks everything.
fn boot_disk(cpu: Option<&str>) {
    let Some(root) = emu_test_roms::debian::require("seabios") else { return };
    let bios = root.join("usr/share/seabios/bios.bin");
    assert!(bios.is_file(), "the seabios package has no {}", bios.display());
    assert!(bios.with_file_name("vgabios-stdvga.bin").is_file(), "the seabios package has no vgabios-stdvga.bin");

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("seabios").join(cpu.unwrap_or("default"));
    std::fs::create_dir_all(&dir).unwrap();
    let disk = disk_image(&dir);
    let debugcon = dir.join("debugcon.txt");
    let screenshot = dir.join("screen.png");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_emu"));
    if let Some(cpu) = cpu {
        cmd.args(["--cpu", cpu]);
    }
    let out = cmd
        .arg("--bios")
        .arg(&bios)
        .arg("--disk")
        .arg(&disk)
        .args(["--headless", "--deterministic", "--timeout", "60", "-m", "96M", "--snapshot"])
        .arg("--debugcon")
        .arg(&debugcon)
        .arg("--screenshot")
        .arg(&screenshot)
        .output()
        .unwrap();
    let serial = String::from_utf8_lossy(&out.stdout);
    let log = std::fs::read_to_string(&debugcon).unwrap_or_default();
    let context =
        format!("serial:\n{serial}\nstderr:\n{}\nSeaBIOS debug console:\n{log}", String::from_utf8_lossy(&out.stderr));
    assert!(serial.contains("SEABIOS-OK"), "the boot sector did not report success\n{context}");
    // Exit value 0x10: (0x10 << 1) | 1.
    assert_eq!(out.status.code(), Some(0x21), "{context}");

    // SeaBIOS found fw_cfg, took the RAM size from its e820 file, found the disk, and booted it.
    for line in [
        "Found QEMU fw_cfg",
        "qemu/e820: addr 0x0000000000000000 len 0x0000000006000000 [RAM]",
        "ata0-0: EMU HARDDISK",
        "Booting from Hard Disk...",
    ] {
        assert!(log.contains(line), "SeaBIOS did not print {line:?}\n{context}");
    }
    // Its e820 map, as it gives it to the OS, ends RAM at 96 MiB less what SeaBIOS keeps.
    assert!(log.contains("0000000000100000 - 00000000"), "no e820 RAM entry above 1 MiB\n{context}");

    // The VGA BIOS drew in text mode: the screenshot is 720x400 (80x25 with the 9x16 font).
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let (w, h) =
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert_eq!((w, h), (720, 400), "the screen is not in 80x25 text mode\n{context}");
}

/// The SeaBIOS banner on the screen, read from VGA text memory through the machine.
#[test]
fn seabios_vga_bios_prints_its_banner() {
    let Some(root) = emu_test_roms::debian::require("seabios") else { return };
    let dir = root.join("usr/share/seabios");
    let fw = emu::seabios::load(dir.join("bios.bin").to_str().unwrap(), None).unwrap();
    assert!(fw.vga_bios.is_some());
    let cfg = emu::MachineConfig {
        memory: 64 << 20,
        firmware: emu::machine::Firmware::SeaBios(fw),
        storage: emu::pc::Storage::default(),
        serial: emu::SerialTarget::None,
        clock: emu_core::ClockMode::Deterministic { ns_per_insn: 1 },
        no_reboot: true,
        apic: true,
    };
    let mut m = emu::Machine::new(cfg).unwrap();
    // Far enough for POST and the VGA BIOS (SeaBIOS then finds nothing to boot and waits).
    m.run(emu::Limits { max_instructions: Some(40_000_000), timeout: None }, None);
    let mut text = String::new();
    for row in 0..25u64 {
        for col in 0..80u64 {
            let b = m.cpu.sys.read_phys(0xb8000 + 2 * (row * 80 + col), 1) as u8;
            text.push(if b.is_ascii_graphic() || b == b' ' { b as char } else { ' ' });
        }
        text.push('\n');
    }
    assert!(text.contains("SeaBIOS (version"), "no SeaBIOS banner on the screen:\n{text}");
}
