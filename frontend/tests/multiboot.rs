//! Multiboot kernels through the real `emu` binary: a kernel assembled here checks the machine
//! state and the information structure the loader built (`--kernel`, `--append`, `--initrd`),
//! and malformed files get one clear line and exit code 2.

use iced_x86::code_asm::*;
use std::path::PathBuf;
use std::process::{Command, Output};

const LOAD: u32 = 0x20_0000;
const HEADER_MAGIC: u32 = 0x1bad_b002;

fn emu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emu"))
        .args(["--headless", "--deterministic", "--timeout", "30", "--serial", "none"])
        .args(args)
        .output()
        .expect("emu runs")
}

fn write(name: &str, data: &[u8]) -> String {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, data).expect("written");
    path.to_str().expect("UTF-8").to_string()
}

/// The multiboot header for an a.out-kludge image loaded at LOAD (header first).
fn kludge_header(flags: u32, load_end: u32, bss_end: u32, entry: u32) -> Vec<u8> {
    let flags = flags | 1 << 16;
    [HEADER_MAGIC, flags, 0u32.wrapping_sub(HEADER_MAGIC.wrapping_add(flags)), LOAD, LOAD, load_end, bss_end, entry]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect()
}

/// The a.out-kludge image of the code `a` assembles at `code_at` (right after the header).
fn kludge_image(a: &mut CodeAssembler, code_at: u32) -> Vec<u8> {
    let code = a.assemble(code_at as u64).unwrap();
    let mut img = kludge_header(0x3, 0, LOAD + 0x2000, code_at);
    img.extend_from_slice(&code);
    img
}

/// A kernel that counts failed checks in EDI and writes the count to the exit port.
fn kernel() -> Vec<u8> {
    let code_at = LOAD + 32;
    let mut a = CodeAssembler::new(32).unwrap();
    let mut done = a.create_label();
    let mut after_jmp = a.create_label();
    // A macro-like helper: if not equal, count a failure.
    macro_rules! expect_eq {
        ($a:expr) => {{
            let mut ok = $a.create_label();
            $a.je(ok).unwrap();
            $a.inc(edi).unwrap();
            $a.set_label(&mut ok).unwrap();
            $a.nop().unwrap();
        }};
    }
    a.xor(edi, edi).unwrap();
    a.mov(esp, 0x9_0000u32).unwrap();
    a.cmp(eax, 0x2bad_b002u32).unwrap();
    expect_eq!(a);
    // Flags: memory, cmdline, mods, mmap, loader name.
    a.mov(eax, dword_ptr(ebx)).unwrap();
    a.and(eax, 0x24du32).unwrap();
    a.cmp(eax, 0x24du32).unwrap();
    expect_eq!(a);
    // mem_upper for 64 MiB: 63 MiB in KiB.
    a.cmp(dword_ptr(ebx + 8), 63 * 1024u32).unwrap();
    expect_eq!(a);
    // The command line: "<kernel path> hello": ends in " hello".
    a.mov(esi, dword_ptr(ebx + 16)).unwrap();
    let mut scan = a.create_label();
    a.set_label(&mut scan).unwrap();
    a.inc(esi).unwrap();
    a.cmp(byte_ptr(esi), 0u32).unwrap();
    a.jne(scan).unwrap();
    a.cmp(dword_ptr(esi - 4), u32::from_le_bytes(*b"ello")).unwrap();
    expect_eq!(a);
    // Two modules; the second holds "MOD2".
    a.cmp(dword_ptr(ebx + 20), 2u32).unwrap();
    expect_eq!(a);
    a.mov(esi, dword_ptr(ebx + 24)).unwrap();
    a.mov(eax, dword_ptr(esi + 16)).unwrap();
    a.test(eax, 0xfffu32).unwrap();
    expect_eq!(a);
    a.cmp(dword_ptr(eax), u32::from_le_bytes(*b"MOD2")).unwrap();
    expect_eq!(a);
    // The memory map: the first entry is RAM at 0.
    a.mov(esi, dword_ptr(ebx + 48)).unwrap();
    a.cmp(dword_ptr(esi), 20u32).unwrap();
    expect_eq!(a);
    a.cmp(dword_ptr(esi + 20), 1u32).unwrap();
    expect_eq!(a);
    // Segments reload from the loader's GDT.
    a.mov(eax, 0x10u32).unwrap();
    a.mov(ds, eax).unwrap();
    a.mov(ss, eax).unwrap();
    a.jmp(after_jmp).unwrap();
    a.set_label(&mut after_jmp).unwrap();
    // Interrupts off, paging off, PE on.
    a.pushfd().unwrap();
    a.pop(eax).unwrap();
    a.test(eax, 0x200u32).unwrap();
    expect_eq!(a);
    a.mov(eax, cr0).unwrap();
    a.and(eax, 0x8000_0001u32).unwrap();
    a.cmp(eax, 1u32).unwrap();
    expect_eq!(a);
    a.set_label(&mut done).unwrap();
    a.mov(eax, edi).unwrap();
    a.out(0xf4u32, al).unwrap();
    a.hlt().unwrap();
    kludge_image(&mut a, code_at)
}

#[test]
fn a_multiboot_kernel_sees_the_multiboot_state() {
    let k = write("mb-kernel.bin", &kernel());
    let m1 = write("mb-mod1.bin", b"MOD1");
    let m2 = write("mb-mod2.bin", b"MOD2");
    let out = emu(&["-m", "64M", "--kernel", &k, "--append", "hello", "--initrd", &m1, "--initrd", &m2]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn malformed_kernels_get_one_line() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("mb-none.bin", vec![0x90; 100], "neither"),
        (
            "mb-badsum.bin",
            {
                let mut v = kludge_header(0, 0, 0, LOAD + 32);
                v[8] ^= 1;
                v
            },
            "checksum",
        ),
        ("mb-trunc.bin", kludge_header(0, LOAD + 0x10_0000, 0, LOAD + 32), "truncated"),
        (
            "mb-outside.bin",
            {
                let mut v = kludge_header(0, 0, 0, LOAD + 32);
                v.extend_from_slice(&[0xf4; 16]);
                // Load it at 3 GiB.
                for off in [12, 16] {
                    v[off..off + 4].copy_from_slice(&0xc000_0000u32.to_le_bytes());
                }
                v[28..32].copy_from_slice(&0xc000_0020u32.to_le_bytes());
                v
            },
            "does not fit",
        ),
        (
            "mb-elf64.bin",
            {
                let mut v = b"\x7fELF\x02\x01\x01\0".to_vec();
                v.resize(64, 0);
                v.extend_from_slice(&[HEADER_MAGIC, 0, HEADER_MAGIC.wrapping_neg()].map(u32::to_le_bytes).concat());
                v
            },
            "ELF32",
        ),
    ];
    for (name, data, needle) in cases {
        let k = write(name, &data);
        let out = emu(&["--kernel", &k]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
    }
}

/// Where the reset tests' kernels keep what survives a reset: RAM that neither the loader, nor
/// the BIOS's POST, nor its bootstrap writes.
const BOOTS: u32 = 0x6000;

/// A kernel that counts its boots at `BOOTS` and, until the third, resets the machine through
/// the keyboard controller (command FEh); the third reports the count to the exit port. Each
/// boot also writes to page 0, which the BIOS's POST rewrote (the interrupt vectors, the BIOS
/// data area) before the boot: under `--cpu check` the page is compared, so the checker must
/// know what the BIOS wrote. Each boot finds the UART's scratch register as at power-on (0: the
/// reset reset the devices, and no firmware uses it), or exits with 7Eh at once, and sets it
/// to 5Ah.
fn rebooting_kernel() -> Vec<u8> {
    let code_at = LOAD + 32;
    let mut a = CodeAssembler::new(32).unwrap();
    let mut report = a.create_label();
    let mut fresh = a.create_label();
    a.mov(dword_ptr(0x3fc), 0u32).unwrap();
    a.mov(dx, 0x3ffu32).unwrap();
    a.in_(al, dx).unwrap();
    a.test(al, al).unwrap();
    a.je(fresh).unwrap();
    a.mov(al, 0x7eu32).unwrap();
    a.out(0xf4u32, al).unwrap();
    a.hlt().unwrap();
    a.set_label(&mut fresh).unwrap();
    a.mov(al, 0x5au32).unwrap();
    a.out(dx, al).unwrap();
    a.mov(eax, dword_ptr(BOOTS)).unwrap();
    a.inc(eax).unwrap();
    a.mov(dword_ptr(BOOTS), eax).unwrap();
    a.cmp(eax, 3u32).unwrap();
    a.jae(report).unwrap();
    a.mov(al, 0xfeu32).unwrap();
    a.out(0x64u32, al).unwrap();
    a.hlt().unwrap();
    a.set_label(&mut report).unwrap();
    a.out(0xf4u32, al).unwrap();
    a.hlt().unwrap();
    kludge_image(&mut a, code_at)
}

/// Real-mode code that writes SP's low byte to the exit port.
const REPORT_SP: &[u8] = &[0x89, 0xe0, 0xe6, 0xf4, 0xf4]; // mov ax, sp; out F4h, al; hlt
/// Real-mode code that writes the master 8259A's IMR to the exit port.
const REPORT_IMR: &[u8] = &[0xe4, 0x21, 0xe6, 0xf4, 0xf4]; // in al, 21h; out F4h, al; hlt
/// Real-mode code that resets the machine again through port 92h.
const RESET_AGAIN: &[u8] = &[0xe4, 0x92, 0x24, 0xfe, 0xe6, 0x92, 0x0c, 0x01, 0xe6, 0x92, 0xf4];

/// A kernel that, on its first boot, puts `real_mode` code at 0000:7000 and a stack frame
/// for it at 0000:6F00 (IP 7000h, CS 0, FLAGS 0002h), asks the BIOS to resume after the reset
/// with shutdown status `code` and the far pointer `pointer` at 0040:0067 (7000h or 6F00h,
/// segment 0), masks IRQs 1, 3, 4 and 6 at the master 8259A (IMR 5Ah), and resets through
/// port 92h. A later boot (the BIOS booted the kernel again) exits with 55h.
fn resuming_kernel(code: u8, pointer: u16, real_mode: &[u8]) -> Vec<u8> {
    let code_at = LOAD + 32;
    let mut a = CodeAssembler::new(32).unwrap();
    let mut first = a.create_label();
    a.cmp(dword_ptr(BOOTS), 0u32).unwrap();
    a.je(first).unwrap();
    a.mov(al, 0x55u32).unwrap();
    a.out(0xf4u32, al).unwrap();
    a.hlt().unwrap();
    a.set_label(&mut first).unwrap();
    a.mov(dword_ptr(BOOTS), 1u32).unwrap();
    for (i, &b) in real_mode.iter().enumerate() {
        a.mov(byte_ptr(0x7000 + i), b as u32).unwrap();
    }
    a.mov(dword_ptr(0x6f00), 0x7000u32).unwrap();
    a.mov(word_ptr(0x6f04), 0x0002u32).unwrap();
    a.mov(dword_ptr(0x467), pointer as u32).unwrap();
    a.mov(al, 0x5au32).unwrap();
    a.out(0x21u32, al).unwrap();
    a.mov(al, 0x0fu32).unwrap();
    a.out(0x70u32, al).unwrap();
    a.mov(al, code as u32).unwrap();
    a.out(0x71u32, al).unwrap();
    a.in_(al, 0x92u32).unwrap();
    a.and(al, 0xfeu32).unwrap();
    a.out(0x92u32, al).unwrap();
    a.or(al, 1u32).unwrap();
    a.out(0x92u32, al).unwrap();
    a.hlt().unwrap();
    kludge_image(&mut a, code_at)
}

#[test]
fn a_reset_boots_the_kernel_again() {
    let k = write("mb-reboot.bin", &rebooting_kernel());
    for tier in ["jit", "interp", "check"] {
        let out = emu(&["--kernel", &k, "--cpu", tier, "--jit-warmup", "0"]);
        // The third boot writes 3: exit code 7.
        assert_eq!(out.status.code(), Some(7), "{tier}: stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    // With --no-reboot the first reset ends the run, cleanly.
    let out = emu(&["--kernel", &k, "--no-reboot"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_reset_that_asks_to_resume_resumes_at_the_bda_pointer() {
    // (shutdown status, pointer at 0040:0067, real-mode code, exit code): 05h and 0Ah jump to
    // the pointer with the reset's SP (0); 0Bh pops IP, CS and FLAGS from the stack the pointer
    // gives (SP 6F06h), 0Ch IP and CS (SP 6F04h). The last resets once more: POST cleared the
    // status, so the BIOS boots the kernel again (55h). The reset put the 8259A pair back at
    // power-on (all masked), and the BIOS programmed it again as its POST leaves it before it
    // resumed (IMR F8h: timer, keyboard and cascade; exit code (F8h << 1 | 1) & FFh).
    let cases = [
        (0x05, 0x7000, REPORT_SP, 1),
        (0x0a, 0x7000, REPORT_SP, 1),
        (0x0b, 0x6f00, REPORT_SP, 0x06 * 2 + 1),
        (0x0c, 0x6f00, REPORT_SP, 0x04 * 2 + 1),
        (0x0a, 0x7000, RESET_AGAIN, 0x55 * 2 + 1),
        (0x05, 0x7000, REPORT_IMR, (0xf8 * 2 + 1) & 0xff),
    ];
    for (n, (code, pointer, real_mode, exit)) in cases.into_iter().enumerate() {
        let k = write(&format!("mb-resume-{n}.bin"), &resuming_kernel(code, pointer, real_mode));
        let out = emu(&["--kernel", &k]);
        assert_eq!(out.status.code(), Some(exit), "status {code:#x}: stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// With SeaBIOS as the firmware every reset boots the kernel again too, as the first boot did:
/// SeaBIOS, which never ran, does not run, so a reset that asks to resume (CMOS shutdown status
/// 0Ah or 0Bh) boots the kernel again as well (55h).
#[test]
fn with_seabios_a_reset_boots_the_kernel_again() {
    let Some(root) = emu_test_roms::debian::require("seabios") else { return };
    let bios = root.join("usr/share/seabios/bios.bin");
    let bios = bios.to_str().unwrap();
    let k = write("mb-reboot-seabios.bin", &rebooting_kernel());
    for tier in ["jit", "interp", "check"] {
        let out = emu(&["--bios", bios, "--kernel", &k, "--cpu", tier, "--jit-warmup", "0"]);
        assert_eq!(out.status.code(), Some(7), "{tier}: stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    for (n, (code, pointer, real_mode)) in
        [(0x0a, 0x7000, RESET_AGAIN), (0x0b, 0x6f00, REPORT_SP)].into_iter().enumerate()
    {
        let k = write(&format!("mb-resume-seabios-{n}.bin"), &resuming_kernel(code, pointer, real_mode));
        let out = emu(&["--bios", bios, "--kernel", &k]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0x55 * 2 + 1), "status {code:#x}: stderr: {err}");
    }
    // --no-reboot ends the run at the first reset.
    let out = emu(&["--bios", bios, "--kernel", &k, "--no-reboot"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}

/// A kernel that checks `--pc-testdev`'s memory (a dword written at 0xFF000010 reads back,
/// also as its high word) and its data latch (port E0h), and writes the failures to the exit
/// port.
fn testdev_kernel() -> Vec<u8> {
    let code_at = LOAD + 32;
    let mut a = CodeAssembler::new(32).unwrap();
    a.xor(edi, edi).unwrap();
    for (check, mut ok) in [0, 1, 2].map(|c| (c, a.create_label())) {
        match check {
            0 => {
                a.mov(dword_ptr(0xff00_0010u32), 0x1234_5678u32).unwrap();
                a.cmp(dword_ptr(0xff00_0010u32), 0x1234_5678u32).unwrap();
            }
            1 => {
                a.movzx(eax, word_ptr(0xff00_0012u32)).unwrap();
                a.cmp(eax, 0x1234u32).unwrap();
            }
            _ => {
                a.mov(eax, 0xcafe_f00du32).unwrap();
                a.out(0xe0u32, eax).unwrap();
                a.xor(eax, eax).unwrap();
                a.in_(eax, 0xe0u32).unwrap();
                a.cmp(eax, 0xcafe_f00du32).unwrap();
            }
        }
        a.je(ok).unwrap();
        a.inc(edi).unwrap();
        a.set_label(&mut ok).unwrap();
        a.nop().unwrap();
    }
    a.mov(eax, edi).unwrap();
    a.out(0xf4u32, al).unwrap();
    a.hlt().unwrap();
    kludge_image(&mut a, code_at)
}

#[test]
fn pc_testdev_memory_and_latch_answer_only_when_asked_for() {
    let k = write("mb-testdev.bin", &testdev_kernel());
    for tier in ["jit", "interp"] {
        let out = emu(&["--kernel", &k, "--pc-testdev", "--cpu", tier]);
        assert_eq!(out.status.code(), Some(1), "{tier}: stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Without the device all three checks fail: exit code 7.
    let out = emu(&["--kernel", &k]);
    assert_eq!(out.status.code(), Some(7), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}
