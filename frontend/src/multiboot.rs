//! Multiboot (version 1) kernels: `emu --kernel FILE [--append ARGS] [--initrd MODULE]...`.
//!
//! What the loader does, in the words of the Multiboot Specification 0.6.96:
//! - finds the multiboot header (magic 0x1BADB002, flags, checksum) 4-byte aligned in the first
//!   8 KiB of the file ([`find_header`]);
//! - loads the kernel: with header flag bit 16 (the "a.out kludge") by the header's address fields
//!   (`header_addr`, `load_addr`, `load_end_addr`, `bss_end_addr`, `entry_addr`; kvm-unit-tests'
//!   `.flat` files are such images), otherwise as an ELF32 i386 executable, each `PT_LOAD` segment
//!   at its physical address (`p_paddr`) with its BSS zeroed;
//! - builds the multiboot information structure after the kernel (the first page boundary after
//!   its highest byte): `mem_lower`/`mem_upper` and the memory map (the same map emu's BIOS
//!   reports through E820), the command line (the kernel's file name, a space, then `--append`, as
//!   GRUB and QEMU pass it: programs such as kvm-unit-tests take the first word as their name),
//!   the modules (`--initrd`, each page-aligned, its string the file's name), and the boot loader
//!   name "emu";
//! - enters the kernel in the machine state of the specification's section 3.2: EAX = 0x2BADB002,
//!   EBX = the information structure, CS a flat 32-bit code segment (selector 0x08) and DS, ES,
//!   FS, GS, SS flat data segments (0x10), from a GDT the loader writes into guest memory so the
//!   kernel may reload them; CR0.PE set, paging off, EFLAGS.IF and VM clear, A20 open.
//!
//! Firmware: the machine is built with emu's BIOS, but its POST does not run (the kernel starts
//! at once). What of POST's work a protected-mode kernel could notice is done here directly, as
//! the BIOS would have left it: the interrupt vectors point at the BIOS's service stubs (for
//! kernels that go back to real mode), the 8259 pair is programmed to vectors 08h/70h with only
//! the timer, keyboard and cascade unmasked, and the 8254's counter 0 runs at 18.2 Hz.

use emu_core::System;
use emu_cpu_x86::state::{cr0, eflags, reg, SegReg, Segment, TableReg};
use emu_cpu_x86::Cpu;
use emu_devices::firmware;
use goblin::container::Endian;
use goblin::elf32::{header, program_header};
use thiserror::Error;

/// The multiboot header's magic.
pub const HEADER_MAGIC: u32 = 0x1bad_b002;
/// What the loader leaves in EAX.
pub const BOOTLOADER_MAGIC: u32 = 0x2bad_b002;
/// How far into the file the header may start.
pub const SEARCH_LIMIT: usize = 8192;
/// The boot GDT's selectors.
pub const CODE_SELECTOR: u16 = 0x08;
pub const DATA_SELECTOR: u16 = 0x10;

/// Header flags (spec 3.1.2). Bits 0-15 are requirements the loader must meet or refuse.
mod hflag {
    pub const PAGE_ALIGN: u32 = 1 << 0;
    pub const MEMORY_INFO: u32 = 1 << 1;
    pub const VIDEO_MODE: u32 = 1 << 2;
    pub const AOUT_KLUDGE: u32 = 1 << 16;
    /// The requirement bits emu honours (video mode: the kernel finds VGA text mode).
    pub const SUPPORTED: u32 = PAGE_ALIGN | MEMORY_INFO | VIDEO_MODE;
}

/// Information-structure flags (spec 3.3).
mod iflag {
    pub const MEMORY: u32 = 1 << 0;
    pub const CMDLINE: u32 = 1 << 2;
    pub const MODS: u32 = 1 << 3;
    pub const MMAP: u32 = 1 << 6;
    pub const LOADER_NAME: u32 = 1 << 9;
}

/// Why a file cannot be booted as a multiboot kernel. Each message completes "kernel 'FILE' ...".
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MultibootError {
    /// No header in the first 8 KiB.
    #[error("is not a multiboot kernel: no multiboot header (magic 0x1BADB002) in its first 8 KiB")]
    NoHeader,
    /// Magic found, but magic + flags + checksum is not 0.
    #[error("has a multiboot header at offset {0:#x} with a bad checksum: the file is corrupt")]
    BadChecksum(usize),
    /// The header asks for something emu does not provide.
    #[error("requires multiboot features emu does not provide (header flags {0:#x})")]
    Unsupported(u32),
    /// The a.out-kludge fields are inconsistent.
    #[error("has inconsistent multiboot address fields: {0}")]
    BadAddresses(&'static str),
    /// The file ends before the data it describes.
    #[error("is truncated: {0}")]
    Truncated(String),
    /// Not an ELF file, and no a.out-kludge addresses in the header.
    #[error("is neither an ELF file nor a multiboot image with load addresses (header flag 16)")]
    NotElf,
    /// An ELF file that is not a 32-bit little-endian i386 executable.
    #[error("is not an i386 ELF32 executable: {0}")]
    WrongElf(String),
    /// Something would land outside guest RAM (or on the VGA/BIOS hole below 1 MiB).
    #[error("{what} at {start:#x}-{end:#x} does not fit in guest RAM ({ram} MiB, hole at 0xA0000-0xFFFFF): give more memory with -m or fix the file")]
    OutsideRam { what: String, start: u64, end: u64, ram: u64 },
    /// Two pieces overlap.
    #[error("{0}")]
    Overlap(String),
}

type R<T> = Result<T, MultibootError>;

/// The multiboot header of a file, and where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub offset: usize,
    pub flags: u32,
    pub header_addr: u32,
    pub load_addr: u32,
    pub load_end_addr: u32,
    pub bss_end_addr: u32,
    pub entry_addr: u32,
}

fn u32_at(d: &[u8], o: usize) -> Option<u32> {
    d.get(o..o + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
}

/// Whether `data` has a multiboot header (with a good checksum or not) in its first 8 KiB.
pub fn is_multiboot(data: &[u8]) -> bool {
    !matches!(find_header(data), Err(MultibootError::NoHeader))
}

/// Finds and checks the multiboot header.
pub fn find_header(data: &[u8]) -> R<Header> {
    let limit = data.len().min(SEARCH_LIMIT);
    let offset = (0..limit.saturating_sub(11))
        .step_by(4)
        .find(|&o| u32_at(data, o) == Some(HEADER_MAGIC))
        .ok_or(MultibootError::NoHeader)?;
    let flags = u32_at(data, offset + 4).unwrap_or(0);
    let checksum = u32_at(data, offset + 8).unwrap_or(0);
    if HEADER_MAGIC.wrapping_add(flags).wrapping_add(checksum) != 0 {
        return Err(MultibootError::BadChecksum(offset));
    }
    if flags & 0xffff & !hflag::SUPPORTED != 0 {
        return Err(MultibootError::Unsupported(flags));
    }
    let mut h =
        Header { offset, flags, header_addr: 0, load_addr: 0, load_end_addr: 0, bss_end_addr: 0, entry_addr: 0 };
    if flags & hflag::AOUT_KLUDGE != 0 {
        let field = |i: usize| {
            u32_at(data, offset + 12 + 4 * i)
                .ok_or_else(|| MultibootError::Truncated("the file ends inside the multiboot header".into()))
        };
        h.header_addr = field(0)?;
        h.load_addr = field(1)?;
        h.load_end_addr = field(2)?;
        h.bss_end_addr = field(3)?;
        h.entry_addr = field(4)?;
    }
    Ok(h)
}

/// One piece of the kernel image: `data` at physical `addr`, then `zero` bytes cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment32<'a> {
    pub addr: u32,
    pub data: &'a [u8],
    pub zero: u32,
}

impl Segment32<'_> {
    fn end(&self) -> u64 {
        self.addr as u64 + self.data.len() as u64 + self.zero as u64
    }
}

/// A parsed kernel: its pieces and entry point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel<'a> {
    pub header: Header,
    pub segments: Vec<Segment32<'a>>,
    pub entry: u32,
}

/// Parses a multiboot kernel file (no guest memory touched).
pub fn parse(data: &[u8]) -> R<Kernel<'_>> {
    let header = find_header(data)?;
    if header.flags & hflag::AOUT_KLUDGE != 0 {
        parse_kludge(data, header)
    } else {
        parse_elf(data, header)
    }
}

fn parse_kludge(data: &[u8], h: Header) -> R<Kernel<'_>> {
    use MultibootError::BadAddresses;
    if h.header_addr < h.load_addr {
        return Err(BadAddresses("header_addr is below load_addr"));
    }
    let before = (h.header_addr - h.load_addr) as usize;
    let start = h.offset.checked_sub(before).ok_or(BadAddresses("header_addr - load_addr is past the file's start"))?;
    let size = if h.load_end_addr == 0 {
        data.len() - start
    } else {
        if h.load_end_addr < h.load_addr {
            return Err(BadAddresses("load_end_addr is below load_addr"));
        }
        (h.load_end_addr - h.load_addr) as usize
    };
    let bytes = data.get(start..start.saturating_add(size)).ok_or_else(|| {
        MultibootError::Truncated(format!(
            "the header asks for {size:#x} bytes from offset {start:#x}, the file has {:#x}",
            data.len()
        ))
    })?;
    let load_end = h.load_addr as u64 + size as u64;
    let zero = if h.bss_end_addr == 0 {
        0
    } else if (h.bss_end_addr as u64) < load_end {
        return Err(BadAddresses("bss_end_addr is below the end of the loaded image"));
    } else {
        (h.bss_end_addr as u64 - load_end) as u32
    };
    let seg = Segment32 { addr: h.load_addr, data: bytes, zero };
    Ok(Kernel { header: h, segments: vec![seg], entry: h.entry_addr })
}

fn parse_elf(data: &[u8], h: Header) -> R<Kernel<'_>> {
    use goblin::elf::header::{EI_CLASS, EI_DATA, ELFCLASS32, ELFDATA2LSB, ELFMAG, EM_386, ET_EXEC};
    use goblin::elf::program_header::PT_LOAD;
    if data.get(..4) != Some(&ELFMAG[..]) {
        return Err(MultibootError::NotElf);
    }
    if data.len() < header::SIZEOF_EHDR {
        return Err(MultibootError::Truncated("the file ends inside the ELF header".into()));
    }
    let wrong = |m: &str| MultibootError::WrongElf(m.to_string());
    if data[EI_CLASS] != ELFCLASS32 {
        return Err(wrong("it is not a 32-bit ELF file (ELFCLASS32)"));
    }
    if data[EI_DATA] != ELFDATA2LSB {
        return Err(wrong("it is not little-endian"));
    }
    let eh = header::Header::parse(data).map_err(|e| MultibootError::Truncated(format!("bad ELF header: {e}")))?;
    if eh.e_machine != EM_386 {
        return Err(MultibootError::WrongElf(format!("machine {} (i386 is 3)", eh.e_machine)));
    }
    if eh.e_type != ET_EXEC {
        return Err(MultibootError::WrongElf(format!("type {} (an executable, ET_EXEC, is 2)", eh.e_type)));
    }
    if eh.e_phnum == 0 {
        return Err(wrong("it has no program headers"));
    }
    if eh.e_phentsize as usize != program_header::SIZEOF_PHDR {
        return Err(MultibootError::WrongElf(format!("program header size {}", eh.e_phentsize)));
    }
    let phdrs = program_header::ProgramHeader::parse(data, eh.e_phoff as usize, eh.e_phnum as usize, Endian::Little)
        .map_err(|_| MultibootError::Truncated("the file ends inside the ELF program headers".into()))?;
    let mut segments = Vec::new();
    let mut entry = eh.e_entry;
    for ph in phdrs.iter().filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0) {
        if ph.p_filesz > ph.p_memsz {
            return Err(wrong("a segment's file size exceeds its memory size"));
        }
        let (off, len) = (ph.p_offset as usize, ph.p_filesz as usize);
        let bytes = data.get(off..off.saturating_add(len)).ok_or_else(|| {
            MultibootError::Truncated(format!(
                "a segment needs bytes {off:#x}-{:#x}, the file has {:#x}",
                off as u64 + len as u64,
                data.len()
            ))
        })?;
        // An entry point given as a virtual address inside this segment: its physical twin.
        if ph.p_vaddr != ph.p_paddr && (ph.p_vaddr..ph.p_vaddr.wrapping_add(ph.p_memsz)).contains(&eh.e_entry) {
            entry = eh.e_entry - ph.p_vaddr + ph.p_paddr;
        }
        segments.push(Segment32 { addr: ph.p_paddr, data: bytes, zero: ph.p_memsz - ph.p_filesz });
    }
    if segments.is_empty() {
        return Err(wrong("it has no loadable (PT_LOAD) segments"));
    }
    Ok(Kernel { header: h, segments, entry })
}

/// A module to hand the kernel: its bytes and its string.
#[derive(Debug, Clone)]
pub struct Module {
    pub data: Vec<u8>,
    pub cmdline: String,
}

/// Where the loader put things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub entry: u32,
    /// The multiboot information structure (EBX).
    pub info: u32,
    pub gdt: u32,
    /// Each module's [start, end).
    pub modules: Vec<(u32, u32)>,
}

/// Checks that [start, end) lies in RAM and not in the legacy hole below 1 MiB.
fn check_ram(what: impl FnOnce() -> String, start: u64, end: u64, ram: u64) -> R<()> {
    let in_hole = start < 0x10_0000 && end > 0xa_0000;
    if end > ram || in_hole {
        return Err(MultibootError::OutsideRam { what: what(), start, end, ram: ram >> 20 });
    }
    Ok(())
}

fn align_page(x: u64) -> u64 {
    (x + 0xfff) & !0xfff
}

/// Builds the boot information area (at `base`): the info structure, GDT, memory map, strings.
/// Returns the bytes, the info structure's and the GDT's addresses.
fn info_area(base: u32, ram: u64, cmdline: &str, modules: &[(u32, u32, &str)]) -> (Vec<u8>, u32, u32) {
    const INFO_SIZE: usize = 128;
    let mut area = vec![0u8; INFO_SIZE];
    let put = |area: &mut Vec<u8>, bytes: &[u8]| -> u32 {
        while !area.len().is_multiple_of(8) {
            area.push(0);
        }
        let at = base + area.len() as u32;
        area.extend_from_slice(bytes);
        at
    };
    // GDT: null, flat 32-bit code (0x08), flat 32-bit data (0x10).
    let mut gdt = Vec::new();
    for d in [0u64, 0x00cf_9b00_0000_ffff, 0x00cf_9300_0000_ffff] {
        gdt.extend_from_slice(&d.to_le_bytes());
    }
    let gdt_at = put(&mut area, &gdt);
    let map = firmware::memory_map(ram);
    let mut mmap = Vec::new();
    for &(addr, len, kind) in &map {
        mmap.extend_from_slice(&20u32.to_le_bytes());
        mmap.extend_from_slice(&addr.to_le_bytes());
        mmap.extend_from_slice(&len.to_le_bytes());
        mmap.extend_from_slice(&kind.to_le_bytes());
    }
    let mmap_at = put(&mut area, &mmap);
    let cstr = |s: &str| {
        let mut v: Vec<u8> = s.bytes().filter(|&b| b != 0).collect();
        v.push(0);
        v
    };
    let cmdline_at = put(&mut area, &cstr(cmdline));
    let name_at = put(&mut area, &cstr("emu"));
    let mut mods = Vec::new();
    for &(start, end, name) in modules {
        let s = put(&mut area, &cstr(name));
        mods.extend_from_slice(&[start, end, s, 0].map(u32::to_le_bytes).concat());
    }
    let mods_at = put(&mut area, &mods);
    // mem_lower: conventional memory from 0; mem_upper: from 1 MiB up to the first hole.
    let kib = |start: u64| map.iter().find(|m| m.0 == start && m.2 == 1).map_or(0, |m| (m.1 >> 10) as u32);
    let mut flags = iflag::MEMORY | iflag::CMDLINE | iflag::MMAP | iflag::LOADER_NAME;
    if !modules.is_empty() {
        flags |= iflag::MODS;
    }
    let fields: [(usize, u32); 9] = [
        (0, flags),
        (4, kib(0)),
        (8, kib(0x10_0000)),
        (16, cmdline_at),
        (20, modules.len() as u32),
        (24, mods_at),
        (44, mmap.len() as u32),
        (48, mmap_at),
        (64, name_at),
    ];
    for (off, v) in fields {
        area[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    (area, base, gdt_at)
}

/// Loads a multiboot kernel and its modules into guest memory and sets the CPU up to enter it.
/// `cmdline` is the whole command line the kernel gets (conventionally its name, then arguments).
pub fn load(cpu: &mut Cpu, data: &[u8], cmdline: &str, modules: &[Module]) -> R<Placement> {
    let kernel = parse(data)?;
    let ram = cpu.sys.ram_size();
    let mut used: Vec<(u64, u64, String)> = Vec::new();
    for (i, seg) in kernel.segments.iter().enumerate() {
        check_ram(|| format!("kernel segment {i}"), seg.addr as u64, seg.end(), ram)?;
        if let Some(o) = used.iter().find(|u| u.0 < seg.end() && (seg.addr as u64) < u.1) {
            return Err(MultibootError::Overlap(format!("kernel segment {i} overlaps {}", o.2)));
        }
        used.push((seg.addr as u64, seg.end(), format!("kernel segment {i}")));
    }
    let top = used.iter().map(|u| u.1).max().unwrap_or(0);
    let entry_ok = kernel.segments.iter().any(|s| (s.addr as u64..s.end()).contains(&(kernel.entry as u64)));
    if !entry_ok {
        return Err(MultibootError::BadAddresses("the entry point is outside the loaded image"));
    }
    // After the kernel (or at 1 MiB for kernels loaded low): modules, page-aligned, then the
    // information area.
    let mut next = align_page(top.max(0x10_0000));
    let mut placed = Vec::new();
    for (i, m) in modules.iter().enumerate() {
        let end = next + m.data.len() as u64;
        check_ram(|| format!("module {} ('{}')", i + 1, m.cmdline), next, end, ram)?;
        placed.push((next as u32, end as u32, m.cmdline.as_str()));
        next = align_page(end);
    }
    let (area, info, gdt) = info_area(next as u32, ram, cmdline, &placed);
    check_ram(|| "the multiboot information".to_string(), next, next + area.len() as u64, ram)?;

    let sys = &mut cpu.sys;
    for seg in &kernel.segments {
        sys.write_bytes(seg.addr as u64, seg.data);
        sys.write_bytes(seg.addr as u64 + seg.data.len() as u64, &vec![0u8; seg.zero as usize]);
    }
    for (m, &(start, _, _)) in modules.iter().zip(&placed) {
        sys.write_bytes(start as u64, &m.data);
    }
    sys.write_bytes(next, &area);
    firmware_state(sys);
    enter(cpu, kernel.entry, info, gdt);
    Ok(Placement { entry: kernel.entry, info, gdt, modules: placed.iter().map(|p| (p.0, p.1)).collect() })
}

/// What POST would have left that a kernel could notice (see the module documentation).
fn firmware_state(sys: &mut System) {
    emu_devices::firmware::init_vectors_and_timers(sys);
    sys.lines.set_a20(true);
}

/// The machine state of spec section 3.2.
fn enter(cpu: &mut Cpu, entry: u32, info: u32, gdt: u32) {
    let s = &mut cpu.s;
    for seg in SegReg::ALL {
        s.segs[seg as usize] = Segment::flat32(DATA_SELECTOR, false);
    }
    s.segs[SegReg::Cs as usize] = Segment::flat32(CODE_SELECTOR, true);
    s.gdtr = TableReg { base: gdt, limit: 23 };
    s.idtr = TableReg { base: 0, limit: 0x3ff };
    s.cr0 = cr0::PE | cr0::ET;
    s.cpl = 0;
    s.set_eflags(eflags::FIXED1, eflags::WRITABLE);
    s.regs = [0; 8];
    s.regs[reg::EAX] = BOOTLOADER_MAGIC;
    s.regs[reg::EBX] = info;
    s.regs[reg::ESP] = 0x7c00;
    s.eip = entry;
    s.halted = false;
    cpu.tlb.flush();
    cpu.sync_a20();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kludge image: header at offset 0 loaded at 0x400000, entry just after the header.
    fn flat(bss: u32) -> Vec<u8> {
        let flags = hflag::AOUT_KLUDGE | hflag::PAGE_ALIGN | hflag::MEMORY_INFO;
        let mut v = Vec::new();
        let load = 0x40_0000u32;
        for x in
            [HEADER_MAGIC, flags, 0u32.wrapping_sub(HEADER_MAGIC.wrapping_add(flags)), load, load, 0, bss, load + 32]
        {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&[0x90, 0xf4, 0xeb, 0xfd]);
        v
    }

    #[test]
    fn finds_and_checks_the_header() {
        let img = flat(0);
        let h = find_header(&img).unwrap();
        assert_eq!(h.offset, 0);
        assert_eq!(h.entry_addr, 0x40_0020);
        let mut bad = img.clone();
        bad[8] ^= 1;
        assert_eq!(find_header(&bad), Err(MultibootError::BadChecksum(0)));
        assert_eq!(find_header(&[0u8; 100]), Err(MultibootError::NoHeader));
        assert!(!is_multiboot(b"MZ"));
        // Past 8 KiB: not found.
        let mut far = vec![0u8; 8192];
        far.extend_from_slice(&img);
        assert_eq!(find_header(&far), Err(MultibootError::NoHeader));
    }

    #[test]
    fn kludge_segments() {
        let img = flat(0x40_1000);
        let k = parse(&img).unwrap();
        assert_eq!(k.entry, 0x40_0020);
        assert_eq!(k.segments.len(), 1);
        assert_eq!(k.segments[0].data.len(), 36);
        assert_eq!(k.segments[0].zero, 0x1000 - 36);
        // load_end_addr past the file's end.
        let mut t = flat(0);
        t[20..24].copy_from_slice(&0x40_1000u32.to_le_bytes());
        assert!(matches!(parse(&t), Err(MultibootError::Truncated(_))));
        // bss_end below the image.
        assert!(matches!(parse(&flat(0x40_0001)), Err(MultibootError::BadAddresses(_))));
    }

    #[test]
    fn elf_is_checked() {
        let flags = 0u32;
        let mut v = b"\x7fELF\x02\x01\x01\0".to_vec();
        v.resize(64, 0);
        for x in [HEADER_MAGIC, flags, 0u32.wrapping_sub(HEADER_MAGIC)] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        assert!(matches!(parse(&v), Err(MultibootError::WrongElf(_))));
        let mut not_elf = vec![0u8; 16];
        not_elf.extend_from_slice(&v[64..]);
        assert_eq!(parse(&not_elf), Err(MultibootError::NotElf));
    }

    #[test]
    fn info_structure() {
        let (area, info, gdt) = info_area(0x20_0000, 128 << 20, "k a=1", &[(0x10_1000, 0x10_1010, "m")]);
        let w = |o: usize| u32::from_le_bytes(area[o..o + 4].try_into().unwrap());
        assert_eq!(info, 0x20_0000);
        assert_eq!(w(0), iflag::MEMORY | iflag::CMDLINE | iflag::MODS | iflag::MMAP | iflag::LOADER_NAME);
        assert_eq!(w(4), 0x9fc00 >> 10);
        assert_eq!(w(8), (127 << 20) >> 10);
        assert_eq!(w(20), 1);
        let at = |a: u32| (a - info) as usize;
        assert_eq!(&area[at(w(16))..at(w(16)) + 6], b"k a=1\0");
        assert_eq!(&area[at(w(64))..at(w(64)) + 4], b"emu\0");
        assert_eq!(w(at(w(24))), 0x10_1000);
        assert_eq!(w(44), 5 * 24);
        assert_eq!(w(at(gdt) + 8), 0xffff);
    }
}
