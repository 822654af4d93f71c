//! Direct Linux boot: a loader for x86 bzImage kernels following the Linux x86 boot protocol
//! (the kernel's `Documentation/arch/x86/boot.rst`), entering the kernel at its 32-bit
//! protected-mode entry point with no firmware involved.
//!
//! What the loader does, in the protocol's words:
//! - checks the setup header: the 0xAA55 boot flag, the `HdrS` magic, protocol version 2.04 or
//!   later (32-bit `syssize`), `LOADED_HIGH` in `loadflags` (a bzImage, not a zImage);
//! - loads the protected-mode part (everything after the `setup_sects` + 1 real-mode sectors) at
//!   0x100000, where `code32_start` points;
//! - builds the zero page (`struct boot_params`) at [`BOOT_PARAMS`]: the setup header copied from
//!   the image with the loader's fields filled in (`type_of_loader` 0xFF, `cmd_line_ptr`,
//!   `ramdisk_image`/`ramdisk_size`), the E820 memory map emu's BIOS reports, and `screen_info`
//!   for the VGA 80x25 text mode; the MP table emu's BIOS writes, so the kernel finds the APICs;
//! - puts the command line at [`CMDLINE`] and the initrd as high as it may go: page-aligned, below
//!   both `initrd_addr_max` and the top of RAM;
//! - enters `code32_start` in flat 32-bit protected mode (CS = `__BOOT_CS` 0x10, the data
//!   segments = `__BOOT_DS` 0x18, from a GDT at [`GDT`]), paging off, interrupts off, ESI =
//!   the zero page, as the protocol's "32-bit boot protocol" section asks.

use emu_cpu_x86::state::{cr0, eflags, reg, SegReg, Segment, TableReg};
use emu_cpu_x86::Cpu;

/// Where the zero page goes.
pub const BOOT_PARAMS: u32 = 0x1_0000;
/// Where the command line goes.
pub const CMDLINE: u32 = 0x2_0000;
/// Where the boot GDT goes.
pub const GDT: u32 = 0x6000;
/// Initial stack pointer (the kernel sets its own at once).
pub const STACK_TOP: u32 = 0x9000;
/// Where the protected-mode kernel is loaded.
pub const KERNEL_ADDR: u32 = 0x10_0000;
/// `__BOOT_CS` and `__BOOT_DS`.
pub const BOOT_CS: u16 = 0x10;
pub const BOOT_DS: u16 = 0x18;

/// Offsets in the zero page and the setup header (boot.rst, "The real-mode kernel header", and
/// `arch/x86/include/uapi/asm/bootparam.h`).
mod off {
    pub const ALT_MEM_K: usize = 0x1e0;
    pub const E820_ENTRIES: usize = 0x1e8;
    pub const SETUP_SECTS: usize = 0x1f1;
    pub const SYSSIZE: usize = 0x1f4;
    pub const VID_MODE: usize = 0x1fa;
    pub const BOOT_FLAG: usize = 0x1fe;
    pub const JUMP: usize = 0x200;
    pub const HEADER: usize = 0x202;
    pub const VERSION: usize = 0x206;
    pub const TYPE_OF_LOADER: usize = 0x210;
    pub const LOADFLAGS: usize = 0x211;
    pub const CODE32_START: usize = 0x214;
    pub const RAMDISK_IMAGE: usize = 0x218;
    pub const RAMDISK_SIZE: usize = 0x21c;
    pub const HEAP_END_PTR: usize = 0x224;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const INITRD_ADDR_MAX: usize = 0x22c;
    pub const KERNEL_ALIGNMENT: usize = 0x230;
    pub const RELOCATABLE: usize = 0x234;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const E820_TABLE: usize = 0x2d0;
}

const LOADED_HIGH: u8 = 1 << 0;
const CAN_USE_HEAP: u8 = 1 << 7;
const E820_MAX: usize = 128;

/// Why a file cannot be booted as a Linux kernel.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BzImageError {
    /// The file is too short to hold a setup header.
    #[error("is not a Linux kernel: {0} bytes is too short for a boot sector and setup header")]
    TooShort(usize),
    /// No `HdrS` magic or boot flag.
    #[error("is not a Linux bzImage: no \"HdrS\" setup header at offset 0x202 (give a bzImage/vmlinuz)")]
    NoHeader,
    /// The protocol version is too old.
    #[error("uses Linux boot protocol {0}.{1:02}: emu needs 2.04 or later (a kernel from 2.6 on)")]
    OldProtocol(u8, u8),
    /// A zImage (loaded low).
    #[error("is a zImage (not LOADED_HIGH): only bzImage kernels are supported")]
    NotLoadedHigh,
    /// `setup_sects`/`syssize` point past the end of the file.
    #[error("is truncated: the setup header describes {needed} bytes but the file has {have}")]
    Truncated { needed: usize, have: usize },
    /// The kernel does not fit in RAM.
    #[error("needs more memory: the kernel and initrd do not fit in {0} MiB of RAM (raise -m)")]
    NoRoom(u64),
    /// The command line is longer than the kernel takes.
    #[error("command line is {len} bytes: this kernel takes at most {max}")]
    CmdlineTooLong { len: usize, max: usize },
    /// A bad `kernel_alignment`.
    #[error("has a bad kernel_alignment {0:#x} (not a power of two)")]
    BadAlignment(u32),
}

/// A parsed bzImage: the checked setup header and where the protected-mode kernel is.
#[derive(Debug, Clone)]
pub struct BzImage<'a> {
    /// The real-mode part: boot sector and setup sectors.
    pub setup: &'a [u8],
    /// The protected-mode kernel, loaded at [`KERNEL_ADDR`].
    pub kernel: &'a [u8],
    /// Boot protocol version (e.g. 0x020f).
    pub version: u16,
    pub initrd_addr_max: u32,
    pub cmdline_size: u32,
    pub relocatable: bool,
    pub kernel_alignment: u32,
}

/// Whether `data` looks like a Linux bzImage (the `HdrS` magic at 0x202), so a caller can try
/// other formats otherwise.
pub fn is_bzimage(data: &[u8]) -> bool {
    data.get(off::HEADER..off::HEADER + 4) == Some(b"HdrS")
}

fn u16_at(d: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([d[o], d[o + 1]])
}

fn u32_at(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(d[o..o + 4].try_into().unwrap())
}

fn put16(d: &mut [u8], o: usize, v: u16) {
    d[o..o + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(d: &mut [u8], o: usize, v: u32) {
    d[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

/// Parses and checks the setup header of a bzImage.
pub fn parse(data: &[u8]) -> Result<BzImage<'_>, BzImageError> {
    if data.len() < 0x400 {
        return Err(BzImageError::TooShort(data.len()));
    }
    if !is_bzimage(data) || u16_at(data, off::BOOT_FLAG) != 0xaa55 {
        return Err(BzImageError::NoHeader);
    }
    let version = u16_at(data, off::VERSION);
    if version < 0x0204 {
        return Err(BzImageError::OldProtocol((version >> 8) as u8, version as u8));
    }
    if data[off::LOADFLAGS] & LOADED_HIGH == 0 {
        return Err(BzImageError::NotLoadedHigh);
    }
    let setup_sects = match data[off::SETUP_SECTS] {
        0 => 4,
        n => n as usize,
    };
    let setup_len = (setup_sects + 1) * 512;
    let syssize = u32_at(data, off::SYSSIZE) as usize * 16;
    let needed = setup_len + syssize;
    if data.len() < needed || data.len() <= setup_len {
        return Err(BzImageError::Truncated { needed: needed.max(setup_len + 1), have: data.len() });
    }
    let initrd_addr_max = if version >= 0x0203 { u32_at(data, off::INITRD_ADDR_MAX) } else { 0x37ff_ffff };
    let cmdline_size = if version >= 0x0206 { u32_at(data, off::CMDLINE_SIZE) } else { 255 };
    let relocatable = version >= 0x0205 && data[off::RELOCATABLE] != 0;
    let kernel_alignment = if version >= 0x0205 { u32_at(data, off::KERNEL_ALIGNMENT) } else { 0 };
    if relocatable && !kernel_alignment.is_power_of_two() {
        return Err(BzImageError::BadAlignment(kernel_alignment));
    }
    Ok(BzImage {
        setup: &data[..setup_len],
        kernel: &data[setup_len..],
        version,
        initrd_addr_max,
        cmdline_size,
        relocatable,
        kernel_alignment,
    })
}

/// Where things went, for messages and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub entry: u32,
    /// (address, size) of the initrd, if any.
    pub initrd: Option<(u32, u32)>,
}

/// Builds the zero page for `image` in a RAM of `ram_size` bytes: the setup header from the
/// image, the loader's fields, the E820 map and the VGA text screen. `initrd` is (address, size).
pub fn zero_page(image: &BzImage, ram_size: u64, cmdline_ptr: u32, initrd: Option<(u32, u32)>) -> Vec<u8> {
    let mut zp = vec![0u8; 4096];
    // The setup header runs from 0x1f1 to the end given by the jump's offset byte at 0x201.
    let hdr_end = (off::JUMP + 2 + image.setup[off::JUMP + 1] as usize).min(image.setup.len()).min(0x290);
    zp[off::SETUP_SECTS..hdr_end].copy_from_slice(&image.setup[off::SETUP_SECTS..hdr_end]);
    zp[off::TYPE_OF_LOADER] = 0xff;
    zp[off::LOADFLAGS] = (zp[off::LOADFLAGS] & !CAN_USE_HEAP) | LOADED_HIGH;
    put16(&mut zp, off::HEAP_END_PTR, 0);
    put16(&mut zp, off::VID_MODE, 0xffff); // "normal" (80x25)
    put32(&mut zp, off::CMD_LINE_PTR, cmdline_ptr);
    let (ramdisk, ramdisk_size) = initrd.unwrap_or((0, 0));
    put32(&mut zp, off::RAMDISK_IMAGE, ramdisk);
    put32(&mut zp, off::RAMDISK_SIZE, ramdisk_size);
    put32(&mut zp, off::CODE32_START, KERNEL_ADDR);

    // screen_info: VGA colour text mode 3, 80x25, cursor on the last line.
    zp[0x00] = 0; // orig_x
    zp[0x01] = 24; // orig_y
    let ext_mem_k = (ram_size.saturating_sub(1 << 20) >> 10).min(0xfc00) as u16;
    put16(&mut zp, 0x02, ext_mem_k);
    put16(&mut zp, 0x04, 0); // orig_video_page
    zp[0x06] = 3; // orig_video_mode
    zp[0x07] = 80; // orig_video_cols
    put16(&mut zp, 0x0a, 0x0003); // orig_video_ega_bx: EGA+ with 256 KiB, colour
    zp[0x0e] = 25; // orig_video_lines
    zp[0x0f] = 1; // orig_video_isVGA: a VGA (what the real-mode setup's probe stores)
    put16(&mut zp, 0x10, 16); // orig_video_points (character height)
    put32(&mut zp, off::ALT_MEM_K, (ram_size.saturating_sub(1 << 20) >> 10) as u32);

    let map = emu_devices::firmware::memory_map(ram_size);
    let n = map.len().min(E820_MAX);
    for (i, &(base, len, kind)) in map.iter().take(n).enumerate() {
        let o = off::E820_TABLE + i * 20;
        zp[o..o + 8].copy_from_slice(&base.to_le_bytes());
        zp[o + 8..o + 16].copy_from_slice(&len.to_le_bytes());
        put32(&mut zp, o + 16, kind);
    }
    zp[off::E820_ENTRIES] = n as u8;
    zp
}

/// Where the initrd goes: as high as possible, 4 KiB aligned, below `initrd_addr_max` and the
/// top of RAM, and above the kernel's image.
pub fn place_initrd(image: &BzImage, ram_size: u64, size: u32) -> Result<u32, BzImageError> {
    let top = (image.initrd_addr_max as u64 + 1).min(ram_size).min(1 << 32);
    let addr = top.checked_sub(size as u64).map(|a| a & !0xfff);
    let kernel_end = KERNEL_ADDR as u64 + image.kernel.len() as u64;
    match addr {
        Some(a) if a >= kernel_end => Ok(a as u32),
        _ => Err(BzImageError::NoRoom(ram_size >> 20)),
    }
}

/// Loads `data` (a bzImage) into the machine with `cmdline` and an optional initrd, and sets the
/// CPU at the kernel's 32-bit entry point.
pub fn load(cpu: &mut Cpu, data: &[u8], cmdline: &str, initrd: Option<&[u8]>) -> Result<Placement, BzImageError> {
    let image = parse(data)?;
    let ram_size = cpu.sys.ram_size();
    let max = image.cmdline_size as usize;
    if cmdline.len() > max {
        return Err(BzImageError::CmdlineTooLong { len: cmdline.len(), max });
    }
    if KERNEL_ADDR as u64 + image.kernel.len() as u64 > ram_size {
        return Err(BzImageError::NoRoom(ram_size >> 20));
    }
    let sys = &mut cpu.sys;
    sys.write_bytes(KERNEL_ADDR as u64, image.kernel);
    let mut line = cmdline.as_bytes().to_vec();
    line.push(0);
    sys.write_bytes(CMDLINE as u64, &line);
    let initrd_at = match initrd {
        Some(rd) => {
            let at = place_initrd(&image, ram_size, rd.len() as u32)?;
            sys.write_bytes(at as u64, rd);
            Some((at, rd.len() as u32))
        }
        None => None,
    };
    let zp = zero_page(&image, ram_size, CMDLINE, initrd_at);
    sys.write_bytes(BOOT_PARAMS as u64, &zp);
    // The MP table POST would have written (the kernel finds the APICs through it).
    emu_devices::firmware::mptable::install(sys);
    // No POST runs before the kernel: turn the IDE channels on as the BIOS would have.
    emu_devices::firmware::enable_ide_decode(sys);
    // GDT: null, null, __BOOT_CS (flat 4 GiB code), __BOOT_DS (flat 4 GiB data).
    let gdt: [u64; 4] = [0, 0, 0x00cf_9a00_0000_ffff, 0x00cf_9200_0000_ffff];
    let bytes: Vec<u8> = gdt.iter().flat_map(|d| d.to_le_bytes()).collect();
    sys.write_bytes(GDT as u64, &bytes);
    enter_flat_32(cpu, KERNEL_ADDR);
    cpu.s.regs[reg::ESI] = BOOT_PARAMS;
    Ok(Placement { entry: KERNEL_ADDR, initrd: initrd_at })
}

/// Puts the CPU in flat 32-bit protected mode at `entry`: CS = 0x10, the data segments 0x18 from
/// the GDT at [`GDT`], paging and interrupts off, the other registers zero.
fn enter_flat_32(cpu: &mut Cpu, entry: u32) {
    cpu.reset();
    let s = &mut cpu.s;
    for seg in SegReg::ALL {
        s.segs[seg as usize] = Segment::flat32(BOOT_DS, false);
    }
    s.segs[SegReg::Cs as usize] = Segment::flat32(BOOT_CS, true);
    s.gdtr = TableReg { base: GDT, limit: 4 * 8 - 1 };
    s.idtr = TableReg { base: 0, limit: 0 };
    s.cr0 = cr0::PE | cr0::ET;
    s.cpl = 0;
    s.flags = eflags::FIXED1;
    s.regs = [0; 8];
    s.regs[reg::ESP] = STACK_TOP;
    s.eip = entry;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal bzImage: boot sector + 4 setup sectors with a protocol 2.15 header, and a
    /// 4 KiB kernel.
    fn fake(version: u16) -> Vec<u8> {
        let mut d = vec![0u8; 5 * 512 + 4096];
        d[off::SETUP_SECTS] = 4;
        put32(&mut d, off::SYSSIZE, 4096 / 16);
        put16(&mut d, off::BOOT_FLAG, 0xaa55);
        d[off::JUMP] = 0xeb;
        d[off::JUMP + 1] = 0x6a; // header ends at 0x26c
        d[off::HEADER..off::HEADER + 4].copy_from_slice(b"HdrS");
        put16(&mut d, off::VERSION, version);
        d[off::LOADFLAGS] = LOADED_HIGH;
        put32(&mut d, off::INITRD_ADDR_MAX, 0x7fff_ffff);
        put32(&mut d, off::KERNEL_ALIGNMENT, 0x20_0000);
        d[off::RELOCATABLE] = 1;
        put32(&mut d, off::CMDLINE_SIZE, 2047);
        d
    }

    #[test]
    fn parses_a_header() {
        let d = fake(0x020f);
        let img = parse(&d).unwrap();
        assert_eq!(img.setup.len(), 5 * 512);
        assert_eq!(img.kernel.len(), 4096);
        assert_eq!(img.cmdline_size, 2047);
        assert!(img.relocatable);
    }

    #[test]
    fn rejects_bad_files() {
        assert_eq!(parse(&[0u8; 100]).unwrap_err(), BzImageError::TooShort(100));
        assert_eq!(parse(&[0u8; 4096]).unwrap_err(), BzImageError::NoHeader);
        assert_eq!(parse(&fake(0x0202)).unwrap_err(), BzImageError::OldProtocol(2, 2));
        let mut d = fake(0x020f);
        d[off::LOADFLAGS] = 0;
        assert_eq!(parse(&d).unwrap_err(), BzImageError::NotLoadedHigh);
        let d = fake(0x020f);
        assert!(matches!(parse(&d[..5 * 512 + 100]).unwrap_err(), BzImageError::Truncated { .. }));
    }

    #[test]
    fn zero_page_fields() {
        let d = fake(0x020f);
        let img = parse(&d).unwrap();
        let zp = zero_page(&img, 128 << 20, CMDLINE, Some((0x700_0000, 0x1234)));
        assert_eq!(zp[off::TYPE_OF_LOADER], 0xff);
        assert_eq!(&zp[off::HEADER..off::HEADER + 4], b"HdrS");
        assert_eq!(u32_at(&zp, off::CMD_LINE_PTR), CMDLINE);
        assert_eq!(u32_at(&zp, off::RAMDISK_IMAGE), 0x700_0000);
        assert_eq!(u32_at(&zp, off::RAMDISK_SIZE), 0x1234);
        assert_eq!(u32_at(&zp, off::CODE32_START), KERNEL_ADDR);
        let n = zp[off::E820_ENTRIES] as usize;
        assert_eq!(n, emu_devices::firmware::memory_map(128 << 20).len());
        // The RAM above 1 MiB is in the map.
        let ram_hi = (0..n).any(|i| {
            let o = off::E820_TABLE + i * 20;
            u32_at(&zp, o) == 0x10_0000 && u32_at(&zp, o + 16) == 1
        });
        assert!(ram_hi);
        assert_eq!(zp[0x06], 3);
        assert_eq!(zp[0x07], 80);
        assert_eq!(zp[0x0e], 25);
    }

    #[test]
    fn initrd_goes_high_and_aligned() {
        let mut d = fake(0x020f);
        let img = parse(&d).unwrap();
        let at = place_initrd(&img, 128 << 20, 0x1_0001).unwrap();
        assert_eq!(at % 4096, 0);
        assert!(at as u64 + 0x1_0001 <= 128 << 20);
        assert!(at as u64 + 0x1_0001 > (128 << 20) - 0x2000 - 0x1_0001);
        put32(&mut d, off::INITRD_ADDR_MAX, 0x3ff_ffff);
        let img = parse(&d).unwrap();
        let at = place_initrd(&img, 128 << 20, 0x1000).unwrap();
        assert_eq!(at, 0x400_0000 - 0x1000);
        assert_eq!(place_initrd(&img, 2 << 20, 0x20_0000).unwrap_err(), BzImageError::NoRoom(2));
    }
}
