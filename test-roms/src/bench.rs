//! The guest benchmarks: small 32-bit programs that loop a given number of times, as flat
//! protected-mode code (for the JIT's `cargo bench`, which loads them straight into a CPU) and
//! as BIOS-style ROMs that emu (`--rom`) and QEMU (`-bios`) boot alike (for `emu bench`).
//!
//! The guests:
//! - [`Guest::IntegerMix`]: ALU operations on registers, loads and stores to a 4 KiB array, a
//!   call and return, and a conditional branch: 17 or 18 instructions per iteration.
//! - [`Guest::Paging`]: paging on (4 KiB pages identity-mapping 16 MiB, tables at 1 MiB), loads
//!   and stores that walk 2,048 pages (more than any TLB holds) with an INVLPG every iteration.
//! - [`Guest::SmcFaults`]: every iteration patches the immediate of an instruction a few bytes
//!   further on in its own code (the JIT must drop the block that holds it) and takes a #UD
//!   (UD2) whose handler steps over it and returns with IRETD.
//!
//! A program starts at [`CODE`] in flat 32-bit protected mode with interrupts off, a stack and
//! the [`GDT`];
//! it sets up what it needs itself (page tables, IDT), so every run of it does the same work. It
//! ends, as [`End`] says, with HLT (the JIT bench stops there) or by printing
//! `checksum XXXXXXXX` on COM1 and writing 0 to the isa-debug-exit port 0xF4 (emu and QEMU then
//! exit with status 1). The checksum (a register the loop computes) shows that two runs did the
//! same work.
//!
//! The ROM: 16-bit code at F000:0000 turns on A20 (port 0x92) and COM1, loads a GDT kept in the
//! ROM (flat code 0x08, flat data 0x10), sets CR0.PE and jumps to a 32-bit loader, which copies
//! the program from the ROM to [`CODE`] in RAM (the SMC guest writes to its own code) and jumps
//! there.

use crate::rom::{self, RomError, ROM_SEGMENT};
use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;

/// Where the program runs (flat address).
pub const CODE: u32 = 0x1000;
/// The initial stack pointer.
pub const STACK: u32 = 0x8_0000;
/// The integer mix's array (1,024 dwords).
const ARRAY: u32 = 0x1_0000;
/// The paging guest's page directory; its four page tables follow.
const PAGE_DIRECTORY: u32 = 0x10_0000;
/// The SMC guest's IDT (vectors 0-7) and the pseudo-descriptor LIDT reads.
const IDT: u32 = 0x800;
const IDTR: u32 = 0x7f0;

/// A guest benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guest {
    IntegerMix,
    Paging,
    SmcFaults,
}

/// How a program ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// HLT with interrupts off.
    Halt,
    /// Print the checksum on COM1, then write 0 to port 0xF4 (exit status 1).
    Exit,
}

impl Guest {
    pub const ALL: [Guest; 3] = [Guest::IntegerMix, Guest::Paging, Guest::SmcFaults];

    /// The short name `emu bench` prints and accepts.
    pub fn name(self) -> &'static str {
        match self {
            Guest::IntegerMix => "integer-mix",
            Guest::Paging => "paging",
            Guest::SmcFaults => "smc-faults",
        }
    }

    /// Iterations for a run of a few seconds under the JIT on the build machine.
    pub fn default_iterations(self) -> u32 {
        match self {
            Guest::IntegerMix => 20_000_000,
            Guest::Paging => 10_000_000,
            Guest::SmcFaults => 1_000_000,
        }
    }

    /// The program, assembled for [`CODE`]; `iterations` must be at least 1.
    pub fn program(self, iterations: u32, end: End) -> Result<Vec<u8>, RomError> {
        assert!(iterations >= 1, "a guest loop runs at least once");
        match self {
            Guest::IntegerMix => integer_mix(iterations, end),
            Guest::Paging => paging(iterations, end),
            Guest::SmcFaults => smc_faults(iterations, end),
        }
    }

    /// The program in a ROM image for `emu --rom` and `qemu-system-i386 -bios`, ending with
    /// [`End::Exit`].
    pub fn rom(self, iterations: u32) -> Result<Vec<u8>, RomError> {
        boot_rom(&self.program(iterations, End::Exit)?)
    }
}

type Asm = Result<(), IcedError>;

/// Assembles `body` at [`CODE`]; `body` gets the assembler and the value `fix` returns for the
/// assembled code (a label's address), so code can hold its own addresses: assembled twice,
/// first with 0, then with the address, with `mov r32, imm32` and `disp32` forms that keep the
/// length.
fn assemble(
    body: impl Fn(&mut CodeAssembler, u32, &mut CodeLabel) -> Asm,
    end: End,
    result: AsmRegister32,
) -> Result<Vec<u8>, RomError> {
    let build = |fix: u32| -> Result<(Vec<u8>, u32), RomError> {
        let mut a = CodeAssembler::new(32)?;
        let mut mark = a.create_label();
        body(&mut a, fix, &mut mark)?;
        finish(&mut a, end, result)?;
        let r = a.assemble_options(CODE as u64, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
        let at = r.label_ip(&mark).map(|ip| ip as u32).unwrap_or(0);
        Ok((r.inner.code_buffer, at))
    };
    let (_, at) = build(0)?;
    let (code, again) = build(at)?;
    debug_assert_eq!(at, again, "the second pass has the same layout");
    Ok(code)
}

/// The end of every program: HLT, or the checksum in `result` on COM1 and the exit port.
fn finish(a: &mut CodeAssembler, end: End, result: AsmRegister32) -> Asm {
    match end {
        End::Halt => {
            a.hlt()?;
            let mut l = a.create_label();
            a.set_label(&mut l)?;
            a.jmp(l)
        }
        End::Exit => {
            a.mov(ebp, result)?;
            for &c in b"checksum " {
                serial_out(a, c)?;
            }
            // Eight hex digits, most significant first.
            a.mov(ecx, 8u32)?;
            let (mut digit, mut letter) = (a.create_label(), a.create_label());
            a.set_label(&mut digit)?;
            a.rol(ebp, 4)?;
            a.mov(ebx, ebp)?;
            a.and(ebx, 0xfu32)?;
            a.add(ebx, b'0' as u32)?;
            a.cmp(ebx, b'9' as u32)?;
            a.jbe(letter)?;
            a.add(ebx, (b'a' - b'9' - 1) as u32)?;
            a.set_label(&mut letter)?;
            serial_wait(a)?;
            a.mov(eax, ebx)?;
            a.mov(dx, 0x3f8u32)?;
            a.out(dx, al)?;
            a.dec(ecx)?;
            a.jnz(digit)?;
            serial_out(a, b'\n')?;
            a.xor(eax, eax)?;
            a.out(rom::EXIT_PORT as u32, al)?;
            let mut stop = a.create_label();
            a.set_label(&mut stop)?;
            a.hlt()?;
            a.jmp(stop)
        }
    }
}

/// Waits until COM1 can take a byte (LSR.THRE). Clobbers EAX, EDX.
fn serial_wait(a: &mut CodeAssembler) -> Asm {
    let mut wait = a.create_label();
    a.mov(dx, 0x3fdu32)?;
    a.set_label(&mut wait)?;
    a.in_(al, dx)?;
    a.test(al, 0x20u32)?;
    a.je(wait)
}

/// Sends `c` to COM1. Clobbers EAX, EDX.
fn serial_out(a: &mut CodeAssembler, c: u8) -> Asm {
    serial_wait(a)?;
    a.mov(al, c as u32)?;
    a.mov(dx, 0x3f8u32)?;
    a.out(dx, al)
}

fn integer_mix(iterations: u32, end: End) -> Result<Vec<u8>, RomError> {
    assemble(
        |a, _, _| {
            let (mut top, mut func, mut skip, mut done) =
                (a.create_label(), a.create_label(), a.create_label(), a.create_label());
            a.mov(ecx, iterations)?;
            a.mov(esi, ARRAY)?;
            a.xor(eax, eax)?;
            a.mov(ebx, 0x9e37_79b9u32)?;
            a.xor(edx, edx)?;
            a.set_label(&mut top)?;
            a.mov(edi, ecx)?;
            a.and(edi, 0x3ffu32)?;
            a.add(eax, dword_ptr(esi + edi * 4))?;
            a.xor(eax, ebx)?;
            a.shl(ebx, 1)?;
            a.adc(ebx, 0u32)?;
            a.lea(edx, dword_ptr(edx + eax * 2 + 1))?;
            a.mov(dword_ptr(esi + edi * 4), edx)?;
            a.sub(edx, ecx)?;
            a.cmp(edx, eax)?;
            a.jae(skip)?;
            a.inc(edx)?;
            a.set_label(&mut skip)?;
            a.call(func)?;
            a.dec(ecx)?;
            a.jnz(top)?;
            a.jmp(done)?;
            a.set_label(&mut func)?;
            a.push(ebx)?;
            a.mov(ebx, eax)?;
            a.shr(ebx, 3)?;
            a.or(eax, ebx)?;
            a.pop(ebx)?;
            a.ret()?;
            a.set_label(&mut done)?;
            a.nop()
        },
        end,
        eax,
    )
}

fn paging(iterations: u32, end: End) -> Result<Vec<u8>, RomError> {
    assemble(
        |a, _, _| {
            // Page tables: 4,096 PTEs (16 MiB identity-mapped, present and writable) right after
            // the directory, whose first four entries point at them and the rest are empty.
            let (mut pte, mut top) = (a.create_label(), a.create_label());
            a.cld()?;
            a.mov(edi, PAGE_DIRECTORY)?;
            a.xor(eax, eax)?;
            a.mov(ecx, 1024u32)?;
            a.rep().stosd()?;
            a.mov(eax, 3u32)?;
            a.mov(ecx, 4096u32)?;
            a.set_label(&mut pte)?;
            a.stosd()?;
            a.add(eax, 0x1000u32)?;
            a.dec(ecx)?;
            a.jnz(pte)?;
            for t in 0..4u32 {
                a.mov(dword_ptr(PAGE_DIRECTORY + 4 * t), (PAGE_DIRECTORY + 0x1000 * (t + 1)) | 3)?;
            }
            a.mov(eax, PAGE_DIRECTORY)?;
            a.mov(cr3, eax)?;
            a.mov(eax, cr0)?;
            a.or(eax, 0x8000_0000u32)?;
            a.mov(cr0, eax)?;

            a.mov(ecx, iterations)?;
            a.xor(eax, eax)?;
            a.set_label(&mut top)?;
            // Page (ecx * 7) mod 2048 above 4 MiB, offset (ecx * 4) mod 4096.
            a.imul_3(edi, ecx, 7)?;
            a.and(edi, 0x7ffu32)?;
            a.shl(edi, 12)?;
            a.mov(edx, ecx)?;
            a.shl(edx, 2)?;
            a.and(edx, 0xffcu32)?;
            a.lea(edi, dword_ptr(edi + edx + 0x40_0000))?;
            a.add(eax, dword_ptr(edi))?;
            a.add(eax, ecx)?;
            a.mov(dword_ptr(edi), eax)?;
            a.add(eax, dword_ptr(edi + 0x1000 * 513))?;
            a.invlpg(dword_ptr(edi))?;
            a.dec(ecx)?;
            a.jnz(top)
        },
        end,
        eax,
    )
}

fn smc_faults(iterations: u32, end: End) -> Result<Vec<u8>, RomError> {
    assemble(
        |a, patched_add, mark| {
            let (mut top, mut handler, mut past) = (a.create_label(), a.create_label(), a.create_label());
            // The IDT: vector 6 (#UD) is a 32-bit interrupt gate to `handler`; the others are
            // empty (an unexpected exception ends in a triple fault, not a wrong result).
            a.cld()?;
            a.mov(edi, IDT)?;
            a.xor(eax, eax)?;
            a.mov(ecx, 16u32)?;
            a.rep().stosd()?;
            crate::roms::pm::addr_of(a, eax, handler)?;
            a.mov(word_ptr(IDT + 6 * 8), ax)?;
            a.shr(eax, 16)?;
            a.mov(word_ptr(IDT + 6 * 8 + 6), ax)?;
            a.mov(word_ptr(IDT + 6 * 8 + 2), 0x08u32)?;
            a.mov(word_ptr(IDT + 6 * 8 + 4), 0x8e00u32)?;
            a.mov(word_ptr(IDTR), 8 * 8 - 1)?;
            a.mov(dword_ptr(IDTR + 2), IDT)?;
            a.lidt(ptr(IDTR))?;
            a.jmp(past)?;
            // #UD handler: step over the 2-byte UD2.
            a.set_label(&mut handler)?;
            a.add(dword_ptr(esp), 2u32)?;
            a.iretd()?;
            a.set_label(&mut past)?;

            a.mov(ecx, iterations)?;
            a.xor(edx, edx)?;
            a.set_label(&mut top)?;
            a.mov(eax, ecx)?;
            a.and(eax, 0x7fu32)?;
            // Patches the imm32 of the ADD below (`81 C2 imm32`: the immediate at +2).
            a.mov(dword_ptr(patched_add + 2), eax)?;
            a.set_label(mark)?;
            a.add(edx, 0x1234_5678u32)?;
            a.xor(edx, ecx)?;
            a.ud2()?;
            a.dec(ecx)?;
            a.jnz(top)
        },
        end,
        edx,
    )
}

/// The GDT programs run with: null, flat 32-bit code (0x08; accessed, so the CPU never writes
/// the descriptor, which the ROM keeps in ROM), flat data (0x10).
pub const GDT: [u64; 3] = [0, 0x00cf_9b00_0000_ffff, 0x00cf_9300_0000_ffff];

/// Offsets in the ROM image.
const GDT_AT: usize = 0x100;
const GDTR_AT: usize = 0x140;
const LOADER_AT: usize = 0x200;
const PROGRAM_AT: usize = 0x1000;
/// The flat address of the ROM segment.
const FLAT_ROM: u32 = (ROM_SEGMENT as u32) << 4;

/// A ROM that enters flat protected mode, copies `program` to [`CODE`] and runs it.
pub fn boot_rom(program: &[u8]) -> Result<Vec<u8>, RomError> {
    if program.len() > rom::ROM_SIZE - 16 - PROGRAM_AT {
        return Err(RomError::TooBig(program.len() + PROGRAM_AT));
    }
    let mut a = CodeAssembler::new(16)?;
    a.cli()?;
    a.cld()?;
    // A20 on (port 0x92 bit 1, without the reset bit), COM1 at 115200 8N1 with FIFOs.
    a.in_(al, 0x92u32)?;
    a.or(al, 2u32)?;
    a.and(al, 0xfeu32)?;
    a.out(0x92u32, al)?;
    for (port, value) in [(0x3fb, 0x80), (0x3f8, 0x01), (0x3f9, 0x00), (0x3fb, 0x03), (0x3fa, 0xc7)] {
        a.mov(dx, port as u32)?;
        a.mov(al, value as u32)?;
        a.out(dx, al)?;
    }
    a.mov(ax, ROM_SEGMENT as u32)?;
    a.mov(ds, ax)?;
    a.lgdt(ptr(GDTR_AT as u32))?;
    a.mov(eax, cr0)?;
    a.or(eax, 1u32)?;
    a.mov(cr0, eax)?;
    // jmp far 0x08:FLAT_ROM+LOADER_AT (66 EA: a 32-bit offset from 16-bit code).
    a.db(&[0x66, 0xea])?;
    a.db(&(FLAT_ROM + LOADER_AT as u32).to_le_bytes())?;
    a.db(&0x08u16.to_le_bytes())?;
    let stub = a.assemble(0)?;

    let mut l = CodeAssembler::new(32)?;
    l.mov(eax, 0x10u32)?;
    for s in [ds, es, fs, gs, ss] {
        l.mov(s, ax)?;
    }
    l.mov(esp, STACK)?;
    l.mov(esi, FLAT_ROM + PROGRAM_AT as u32)?;
    l.mov(edi, CODE)?;
    l.mov(ecx, program.len().div_ceil(4) as u32)?;
    l.rep().movsd()?;
    l.mov(eax, CODE)?;
    l.jmp(eax)?;
    let loader = l.assemble((FLAT_ROM + LOADER_AT as u32) as u64)?;

    let mut image = rom::image(&stub)?;
    if stub.len() > GDT_AT || LOADER_AT + loader.len() > PROGRAM_AT {
        return Err(RomError::TooBig(stub.len().max(loader.len())));
    }
    let gdt = GDT;
    for (i, d) in gdt.iter().enumerate() {
        image[GDT_AT + 8 * i..GDT_AT + 8 * i + 8].copy_from_slice(&d.to_le_bytes());
    }
    image[GDTR_AT..GDTR_AT + 2].copy_from_slice(&(8 * gdt.len() as u16 - 1).to_le_bytes());
    image[GDTR_AT + 2..GDTR_AT + 6].copy_from_slice(&(FLAT_ROM + GDT_AT as u32).to_le_bytes());
    image[LOADER_AT..LOADER_AT + loader.len()].copy_from_slice(&loader);
    image[PROGRAM_AT..PROGRAM_AT + program.len()].copy_from_slice(program);
    // The loader copies whole dwords: the bytes after the program are part of the copy.
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guest_builds_as_a_program_and_a_rom() {
        for g in Guest::ALL {
            for end in [End::Halt, End::Exit] {
                let p = g.program(3, end).unwrap();
                assert!(p.len() > 20 && p.len() < 2048, "{}: {} bytes", g.name(), p.len());
            }
            let rom = g.rom(3).unwrap();
            assert_eq!(rom.len(), rom::ROM_SIZE);
            assert_eq!(&rom[0xfff0..0xfff5], &[0xea, 0, 0, 0, 0xf0], "the reset vector");
        }
    }

    #[test]
    fn the_smc_guest_patches_its_own_add() {
        let p = Guest::SmcFaults.program(1, End::Halt).unwrap();
        // `mov [disp32], eax` (A3 disp32) must point at the immediate of `81 C2 imm32`.
        let add = p.windows(6).position(|w| w == [0x81, 0xc2, 0x78, 0x56, 0x34, 0x12]).expect("the ADD");
        let target = CODE + add as u32 + 2;
        assert!(p.windows(5).any(|w| w[0] == 0xa3 && w[1..] == target.to_le_bytes()), "the patching store");
    }
}
