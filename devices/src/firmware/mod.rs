//! emu's own BIOS: the firmware the default machine boots with, so `emu --disk os.img` needs
//! nothing installed.
//!
//! # How it runs
//! The BIOS is Rust code entered through a *trap*. The ROM holds, for every interrupt vector, an
//! 8-byte stub of real x86 code:
//!
//! ```text
//! +0  E6 EE   out 0xEE, al    ; the trap: the machine stops the CPU after this instruction
//! +2  CF      iret            ; back to the caller once the Rust service has run
//! +3  FB      sti             ; "wait" entry: a service that must wait (INT 16h with no key)
//! +4  F4      hlt             ;   sends the CPU here; an interrupt (keyboard, timer) ends
//! +5  FA      cli             ;   the halt and the service is retried
//! +6  EB F8   jmp +0
//! ```
//!
//! The write to port [`TRAP_PORT`] raises [`Lines::request_firmware_call`]; the machine stops the
//! CPU after the OUT, hands the CPU's registers to [`Bios::call`] as [`Regs`], and writes back what
//! the service changed. Which service runs follows from where the OUT was: `(IP - 2 - STUBS) / 8`
//! is the vector. POST is the same mechanism at its own stub (the reset vector jumps there).
//!
//! The services talk to the hardware through its I/O ports and memory, as a real BIOS does: the
//! disk through the ATA task file, the keyboard through the 8042, the screen through VGA
//! registers and text memory, the time through the RTC. So they work with any device model behind
//! those ports, and they run at native speed.
//!
//! What is provided: POST (IVT, BDA, EBDA, PIC and PIT set-up, memory sizing, disk detection), INT
//! 08h (timer tick), 09h (keyboard IRQ), 10h (video: text modes, teletype, cursor, scrolling,
//! VBE), 11h, 12h, 13h (hard disks over ATA: CHS and extended reads/writes, parameters), 15h
//! (E820, E801, 88h, A20, wait, system configuration), 16h, 19h (boot from the first disk), 1Ah
//! (time and date from the RTC, tick count; the real-mode PCI BIOS, AH = B1h, in pci_bios.rs);
//! El Torito no-emulation boot from the ATAPI CD-ROM and INT 13h for it as drive E0h (cdrom.rs).
//! The MP configuration table for the APICs (mptable.rs), written by POST.
//! Floppy drives A: and B: through the 82077AA and DMA channel 2, INT 13h for them and boot
//! from A: first (floppy.rs).
//! Not provided yet: El Torito floppy/hard-disk emulation, the BIOS32 directory and the
//! 32-bit PCI BIOS entry, APM, PnP, SMBIOS and ACPI tables.

mod cdrom;
mod disk;
mod floppy;
mod keyboard;
pub mod mptable;
pub mod pci_bios;
pub mod rom;
mod services;
mod video;

pub use disk::enable_ide_decode;
pub use services::{init_vectors_and_timers, memory_map};

use emu_core::device::OPEN_BUS;
use emu_core::{Device, Lines, System};
use std::any::Any;

/// The trap port (an 8-bit port, so the stub's `out imm8, al` changes no register).
pub const TRAP_PORT: u16 = 0xee;
/// Offset of the first interrupt stub in the BIOS segment F000.
pub const STUBS: u16 = 0x1000;
/// Size of one interrupt stub.
pub const STUB_SIZE: u16 = 8;
/// Offset of the POST stub in segment F000 (the reset vector jumps here).
pub const POST_STUB: u16 = 0x0e00;
/// Offset of the "wait" part of a stub.
pub const STUB_WAIT: u16 = 3;
/// The BIOS segment.
pub const BIOS_SEGMENT: u16 = 0xf000;

/// The registers a BIOS service reads and writes (real-mode view of the CPU).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Regs {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub gpr: [u32; 8],
    /// ES, CS, SS, DS, FS, GS selectors.
    pub seg: [u16; 6],
    pub eip: u32,
    pub eflags: u32,
}

macro_rules! reg16 {
    ($($get:ident $set:ident $n:expr),*) => {$(
        pub fn $get(&self) -> u16 { self.gpr[$n] as u16 }
        pub fn $set(&mut self, v: u16) { self.gpr[$n] = (self.gpr[$n] & !0xffff) | v as u32; }
    )*};
}
macro_rules! reg8 {
    ($($get:ident $set:ident $n:expr, $shift:expr),*) => {$(
        pub fn $get(&self) -> u8 { (self.gpr[$n] >> $shift) as u8 }
        pub fn $set(&mut self, v: u8) {
            self.gpr[$n] = (self.gpr[$n] & !(0xff << $shift)) | (v as u32) << $shift;
        }
    )*};
}

impl Regs {
    reg16!(ax set_ax 0, cx set_cx 1, dx set_dx 2, bx set_bx 3, sp set_sp 4, bp set_bp 5, si set_si 6, di set_di 7);
    reg8!(al set_al 0, 0, ah set_ah 0, 8, cl set_cl 1, 0, ch set_ch 1, 8, dl set_dl 2, 0, dh set_dh 2, 8,
          bl set_bl 3, 0, bh set_bh 3, 8);
    pub fn es(&self) -> u16 {
        self.seg[0]
    }
    pub fn ss(&self) -> u16 {
        self.seg[2]
    }
    pub fn set_ss(&mut self, v: u16) {
        self.seg[2] = v;
    }
    pub fn ds(&self) -> u16 {
        self.seg[3]
    }
}

/// What the machine does after a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Continue after the trap (the stub's IRET returns to the caller).
    Return,
    /// Nothing to do yet (INT 16h without a key): halt until an interrupt, then retry.
    Wait,
    /// Jump to `cs:ip` with the registers in `Regs` (POST's end, INT 19h's boot).
    Jump { cs: u16, ip: u16 },
    /// Nothing bootable (the screen says so): the machine stops.
    NoBoot,
    /// Boot the kernel the machine was given instead of a disk (`--kernel`, see
    /// [`Bios::set_boot_kernel`]): the machine loads it and enters it, as QEMU's option ROM does
    /// for `-kernel` at INT 19h.
    BootKernel,
}

/// The machine facts POST needs.
#[derive(Debug, Clone)]
pub struct BiosConfig {
    /// Guest RAM in bytes.
    pub ram_size: u64,
}

/// The BIOS's Rust side: configuration and the state that is not in guest memory.
#[derive(Debug)]
pub struct Bios {
    config: BiosConfig,
    /// ATA hard disks found by POST: (channel base port, slave?, sectors).
    disks: Vec<disk::AtaDisk>,
    /// The ATAPI CD-ROM found by POST (INT 13h drive E0h, El Torito boot).
    cdrom: Option<cdrom::AtapiDrive>,
    /// Scan-code translation state (E0 prefix seen) for INT 09h.
    kbd: keyboard::KeyboardState,
    /// The bootstrap (INT 19h) boots the machine's kernel rather than a disk.
    kernel: bool,
}

impl Bios {
    pub fn new(config: BiosConfig) -> Self {
        Bios { config, disks: Vec::new(), cdrom: None, kbd: keyboard::KeyboardState::default(), kernel: false }
    }

    /// Makes the bootstrap (INT 19h, the end of POST) hand the machine over to the kernel it was
    /// given ([`Next::BootKernel`]) instead of looking for a disk: a machine started from a
    /// kernel (`--kernel`) boots it again after a reset.
    pub fn set_boot_kernel(&mut self, yes: bool) {
        self.kernel = yes;
    }

    /// Runs the service the guest trapped into. `regs` is the CPU's state right after the trap's
    /// OUT instruction; the caller writes it back.
    pub fn call(&mut self, sys: &mut System, regs: &mut Regs) -> Next {
        let ip = regs.eip as u16;
        if regs.seg[1] != BIOS_SEGMENT {
            return Next::Return; // not one of our stubs: ignore
        }
        if ip == POST_STUB + 2 {
            return self.post(sys, regs);
        }
        let Some(vector) = ip.checked_sub(STUBS + 2).filter(|o| o % STUB_SIZE == 0).map(|o| o / STUB_SIZE) else {
            return Next::Return;
        };
        services::dispatch(self, sys, regs, vector as u8)
    }
}

/// The trap port device: a write asks the machine for a firmware call.
#[derive(Debug)]
pub struct TrapPort {
    lines: Lines,
}

impl TrapPort {
    pub fn new(lines: Lines) -> Self {
        TrapPort { lines }
    }
}

impl Device for TrapPort {
    fn name(&self) -> &'static str {
        "emu BIOS trap port"
    }
    fn read(&mut self, _: u8, _: u64, _: u8) -> u32 {
        OPEN_BUS
    }
    fn write(&mut self, _: u8, _: u64, _: u8, _: u32) {
        self.lines.request_firmware_call();
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

// ---- guest memory in real mode --------------------------------------------------------------

/// Linear address of `seg:off`.
pub(crate) fn lin(seg: u16, off: u16) -> u64 {
    ((seg as u64) << 4) + off as u64
}
pub(crate) fn rd8(sys: &mut System, a: u64) -> u8 {
    sys.read_phys(a, 1) as u8
}
pub(crate) fn rd16(sys: &mut System, a: u64) -> u16 {
    sys.read_phys(a, 2) as u16
}
// The BIOS's writes to guest memory are behind the CPU's back: the JIT must learn of them
// (translated code on the page, `--cpu check`'s copy of RAM).
pub(crate) fn wr8(sys: &mut System, a: u64, v: u8) {
    sys.write_phys_behind(a, 1, v as u32)
}
pub(crate) fn wr16(sys: &mut System, a: u64, v: u16) {
    sys.write_phys_behind(a, 2, v as u32)
}
pub(crate) fn wr32(sys: &mut System, a: u64, v: u32) {
    sys.write_phys_behind(a, 4, v)
}

/// Sets bits `mask` of the caller's FLAGS (the image the INT pushed at SS:SP+4) to `value`.
pub(crate) fn set_caller_flags(sys: &mut System, regs: &Regs, mask: u16, value: u16) {
    let a = lin(regs.ss(), regs.sp().wrapping_add(4));
    let f = rd16(sys, a);
    wr16(sys, a, (f & !mask) | (value & mask));
}

/// CF in the caller's FLAGS: the usual BIOS error indication.
pub(crate) fn set_carry(sys: &mut System, regs: &Regs, on: bool) {
    set_caller_flags(sys, regs, 1, on as u16);
}

/// The BIOS data area (segment 0x40) offsets this BIOS uses.
pub(crate) mod bda {
    pub const BASE: u64 = 0x400;
    pub const COM_PORTS: u64 = 0x400;
    pub const EBDA_SEGMENT: u64 = 0x40e;
    pub const EQUIPMENT: u64 = 0x410;
    pub const MEMORY_KB: u64 = 0x413;
    pub const KBD_FLAGS: u64 = 0x417;
    pub const KBD_HEAD: u64 = 0x41a;
    pub const KBD_TAIL: u64 = 0x41c;
    pub const KBD_BUFFER: u64 = 0x41e;
    pub const KBD_BUFFER_END: u64 = 0x43e;
    pub const VIDEO_MODE: u64 = 0x449;
    pub const VIDEO_COLUMNS: u64 = 0x44a;
    pub const VIDEO_PAGE_SIZE: u64 = 0x44c;
    pub const VIDEO_PAGE_OFFSET: u64 = 0x44e;
    pub const CURSOR_POS: u64 = 0x450;
    pub const CURSOR_SHAPE: u64 = 0x460;
    pub const VIDEO_PAGE: u64 = 0x462;
    pub const CRTC_BASE: u64 = 0x463;
    pub const TICKS: u64 = 0x46c;
    pub const TICKS_ROLLOVER: u64 = 0x470;
    pub const DISK_COUNT: u64 = 0x475;
    pub const KBD_BUFFER_START_PTR: u64 = 0x480;
    pub const KBD_BUFFER_END_PTR: u64 = 0x482;
    pub const VIDEO_ROWS: u64 = 0x484;
    pub const CHAR_HEIGHT: u64 = 0x485;
    pub const KBD_FLAGS3: u64 = 0x496;
}
