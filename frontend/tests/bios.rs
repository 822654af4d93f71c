//! emu's own BIOS on the PC platform: POST, then a boot sector of our own that uses INT 10h,
//! 13h (CHS and extended reads), 15h (E820) and 16h-free services, and reports on COM1 and the
//! exit port. Runs the CPU directly with the firmware bridge, as the machine does.

use emu::pc::{attach_pc, install_bios, service_firmware, AfterFirmware, Storage};
use emu_core::{ClockMode, ExitReason, System};
use emu_cpu_x86::{Cpu, Stop};
use emu_devices::Captured as Capture;
use iced_x86::code_asm::*;

/// The boot sector: prints through INT 10h, reads sector 5 with CHS and with an extended read,
/// checks both, asks E820 for the first entry, writes "OK"/"BAD" to COM1 and exits.
fn boot_sector() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    let mut bad = a.create_label();
    let mut report = a.create_label();
    a.xor(ax, ax).unwrap();
    a.mov(ds, ax).unwrap();
    a.mov(es, ax).unwrap();
    a.mov(ax, 0x0e42u32).unwrap(); // teletype 'B'
    a.int(0x10).unwrap();
    // CHS read: cylinder 0, head 0, sector 6 (LBA 5) to 0000:8000.
    a.mov(ax, 0x0201u32).unwrap();
    a.mov(cx, 0x0006u32).unwrap();
    a.mov(dx, 0x0080u32).unwrap();
    a.mov(bx, 0x8000u32).unwrap();
    a.int(0x13).unwrap();
    a.jc(bad).unwrap();
    a.cmp(word_ptr(0x8000), 0x1234u32).unwrap();
    a.jne(bad).unwrap();
    // Extended read of LBA 5 to 0000:9000 through a disk address packet at 0000:0600.
    a.mov(word_ptr(0x600), 0x0010u32).unwrap();
    a.mov(word_ptr(0x602), 1u32).unwrap();
    a.mov(word_ptr(0x604), 0x9000u32).unwrap();
    a.mov(word_ptr(0x606), 0u32).unwrap();
    a.mov(dword_ptr(0x608), 5u32).unwrap();
    a.mov(dword_ptr(0x60c), 0u32).unwrap();
    a.mov(si, 0x600u32).unwrap();
    a.mov(ah, 0x42u32).unwrap();
    a.mov(dl, 0x80u32).unwrap();
    a.int(0x13).unwrap();
    a.jc(bad).unwrap();
    a.cmp(word_ptr(0x91fe), 0xabcdu32).unwrap();
    a.jne(bad).unwrap();
    // E820 entry 0 at 0000:0700: base 0, type 1.
    a.mov(eax, 0xe820u32).unwrap();
    a.xor(ebx, ebx).unwrap();
    a.mov(ecx, 20u32).unwrap();
    a.mov(edx, 0x534d_4150u32).unwrap();
    a.mov(di, 0x700u32).unwrap();
    a.int(0x15).unwrap();
    a.jc(bad).unwrap();
    a.cmp(dword_ptr(0x710), 1u32).unwrap();
    a.jne(bad).unwrap();
    a.mov(al, b'K' as u32).unwrap();
    a.jmp(report).unwrap();
    a.set_label(&mut bad).unwrap();
    a.mov(al, b'X' as u32).unwrap();
    a.set_label(&mut report).unwrap();
    a.mov(dx, 0x3f8u32).unwrap();
    a.out(dx, al).unwrap();
    a.mov(al, 0u32).unwrap();
    a.out(0xf4, al).unwrap();
    a.hlt().unwrap();
    let mut code = a.assemble(0x7c00).unwrap();
    code.resize(510, 0);
    code.extend_from_slice(&[0x55, 0xaa]);
    code
}

#[test]
fn our_bios_boots_a_disk_and_serves_int_10_13_15() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bios");
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("boot.img");
    let mut disk = vec![0u8; 1 << 20];
    disk[..512].copy_from_slice(&boot_sector());
    disk[5 * 512..5 * 512 + 2].copy_from_slice(&0x1234u16.to_le_bytes());
    disk[5 * 512 + 510..6 * 512].copy_from_slice(&0xabcdu16.to_le_bytes());
    std::fs::write(&image, &disk).unwrap();

    let mut sys = System::new(32 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
    let serial = Capture::default();
    emu_devices::attach_headless_devices(&mut sys, Box::new(serial.clone()), Box::new(std::io::sink())).unwrap();
    let storage = Storage { disks: vec![image.clone()], snapshot: true, ..Storage::default() };
    attach_pc(&mut sys, &storage).unwrap();
    let (mut bios, rom) = install_bios(&mut sys).unwrap();
    emu::machine::map_firmware(&mut sys, &rom).unwrap();
    let mut cpu = Cpu::new(sys);

    let mut exit = None;
    for _ in 0..100_000 {
        match cpu.run(100_000) {
            Stop::Attention => {
                if cpu.sys.lines.take_firmware_call() {
                    assert_eq!(
                        service_firmware(&mut bios, &mut cpu),
                        AfterFirmware::Run,
                        "the BIOS found nothing to boot"
                    );
                }
                if let Some(e) = cpu.sys.lines.exit() {
                    exit = Some(e);
                    break;
                }
            }
            Stop::Halted | Stop::Shutdown => break,
            Stop::Budget => {}
        }
    }
    let out = String::from_utf8_lossy(&serial.0.lock().unwrap()).to_string();
    assert_eq!(exit, Some(ExitReason::DebugExit(0)), "serial: {out:?}");
    assert_eq!(out, "K", "the boot sector reports X on a failed check");
    // The screen shows the POST banner and the boot sector's 'B'.
    let mut text = String::new();
    for i in 0..80 * 25 {
        text.push(cpu.sys.read_phys(0xb8000 + 2 * i, 1) as u8 as char);
    }
    assert!(text.contains("emu BIOS"), "{text}");
    assert!(text.contains("Booting from disk 80h...") && text.contains('B'), "{text}");
}
