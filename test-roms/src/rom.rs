//! Building BIOS-style ROM images from Rust with iced-x86's `code_asm`, and the verdict protocol
//! every test ROM follows (see test-roms/README.md).
//!
//! A ROM is 64 KiB of 16-bit real-mode code mapped at F000:0000 (and at the top of 4 GiB). The
//! CPU starts at F000:FFF0, where [`RomBuilder::finish`] puts a far jump to the code's start. The
//! prologue sets up a stack at 0000:7000, DS = CS, and COM1 at 115200 8N1.

use iced_x86::code_asm::*;

/// Size of a test ROM image.
pub const ROM_SIZE: usize = 64 * 1024;
/// Segment the ROM's code runs in.
pub const ROM_SEGMENT: u16 = 0xf000;
/// The exit port (isa-debug-exit): the run ends with status `(value << 1) | 1`.
pub const EXIT_PORT: u16 = 0xf4;
/// Where the ROM keeps its failure count (a word in RAM).
pub const FAILURES: u16 = 0x0500;

/// Assembles a test ROM: a prologue, the caller's checks, and the verdict.
pub struct RomBuilder {
    pub a: CodeAssembler,
    print: CodeLabel,
    fail: CodeLabel,
    /// String data, placed at [`STRINGS`] in the image.
    strings: Vec<u8>,
}

/// Offset in the ROM (and in CS) where string data starts; code must end before it.
pub const STRINGS: usize = 0xa000;

type R<T = ()> = Result<T, RomError>;

/// Why a ROM could not be built.
#[derive(Debug)]
pub enum RomError {
    /// The assembler refused the code.
    Asm(IcedError),
    /// The code does not fit below the reset vector.
    TooBig(usize),
}

impl From<IcedError> for RomError {
    fn from(e: IcedError) -> Self {
        RomError::Asm(e)
    }
}

impl std::fmt::Display for RomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RomError::Asm(e) => write!(f, "assembling the ROM failed: {e}"),
            RomError::TooBig(n) => write!(f, "ROM code of {n} bytes does not fit below the reset vector"),
        }
    }
}

impl std::error::Error for RomError {}

impl RomBuilder {
    /// Starts a ROM: stack, data segment, COM1 initialisation, failure count cleared.
    pub fn new() -> R<Self> {
        let mut a = CodeAssembler::new(16)?;
        let print = a.create_label();
        let fail = a.create_label();
        a.cli()?;
        a.xor(ax, ax)?;
        a.mov(ss, ax)?;
        a.mov(es, ax)?;
        a.mov(sp, 0x7000u32)?;
        a.mov(word_ptr(FAILURES as u32).es(), 0u32)?;
        a.mov(ax, ROM_SEGMENT as u32)?;
        a.mov(ds, ax)?;
        // COM1: 115200 baud (divisor 1), 8N1, FIFOs on.
        for (port, value) in [(0x3fb, 0x80), (0x3f8, 0x01), (0x3f9, 0x00), (0x3fb, 0x03), (0x3fa, 0xc7)] {
            a.mov(dx, port as u32)?;
            a.mov(al, value as u32)?;
            a.out(dx, al)?;
        }
        Ok(RomBuilder { a, print, fail, strings: Vec::new() })
    }

    /// The offset (in the ROM segment) of a NUL-terminated copy of `text`.
    pub fn string(&mut self, text: &str) -> u32 {
        let at = STRINGS + self.strings.len();
        self.strings.extend_from_slice(text.as_bytes());
        self.strings.push(0);
        at as u32
    }

    /// The offset (in the ROM segment) of a copy of `bytes` in the ROM's data area: read-only
    /// tables, far pointers and the like, reachable through DS (which is CS) at check time.
    pub fn data(&mut self, bytes: &[u8]) -> u32 {
        let at = STRINGS + self.strings.len();
        self.strings.extend_from_slice(bytes);
        at as u32
    }

    /// Assembles a self-contained routine (no labels shared with the main code) into the data
    /// area and returns its offset in the ROM segment: a target with an address known while
    /// building, for far calls and jumps, far pointers and interrupt vectors.
    pub fn routine(&mut self, body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> R<u32> {
        let at = STRINGS + self.strings.len();
        let mut a = CodeAssembler::new(16)?;
        body(&mut a)?;
        let code = a.assemble(at as u64)?;
        self.strings.extend_from_slice(&code);
        Ok(at as u32)
    }

    /// Points interrupt vector `vector` (in the IVT at 0000:0000) at `offset` in the ROM segment,
    /// e.g. a [`RomBuilder::routine`]. Needs ES = 0, as the prologue leaves it.
    pub fn set_vector(&mut self, vector: u8, offset: u32) -> R {
        let at = vector as u32 * 4;
        self.a.mov(word_ptr(at).es(), offset)?;
        Ok(self.a.mov(word_ptr(at + 2).es(), ROM_SEGMENT as u32)?)
    }

    /// Prints `text` on COM1 (registers are preserved).
    pub fn print(&mut self, text: &str) -> R {
        let s = self.string(text);
        self.a.push(si)?;
        self.a.mov(si, s)?;
        self.a.call(self.print)?;
        Ok(self.a.pop(si)?)
    }

    /// Emits a check: if the condition `jcc_ok` is not met after the preceding compare, the
    /// test named `name` fails (reported, counted) and execution continues.
    /// `ok` is a closure that emits the conditional jump taken on success.
    pub fn check(&mut self, name: &str, ok: impl FnOnce(&mut CodeAssembler, CodeLabel) -> Result<(), IcedError>) -> R {
        let mut pass = self.a.create_label();
        ok(&mut self.a, pass)?;
        let s = self.string(name);
        self.a.push(si)?;
        self.a.mov(si, s)?;
        self.a.call(self.fail)?;
        self.a.pop(si)?;
        self.a.set_label(&mut pass)?;
        Ok(self.a.nop()?)
    }

    /// Checks that the 8-bit `reg` holds `value` (flags are clobbered).
    pub fn check_reg8(&mut self, name: &str, reg: AsmRegister8, value: u8) -> R {
        self.a.cmp(reg, value as u32)?;
        self.check(name, |a, pass| a.je(pass))
    }

    /// Checks that the byte at 0000:`at` holds `value` (through ES, which must be 0; flags are
    /// clobbered).
    pub fn check_mem8(&mut self, name: &str, at: u32, value: u8) -> R {
        self.a.cmp(byte_ptr(at).es(), value as u32)?;
        self.check(name, |a, pass| a.je(pass))
    }

    /// Checks that the word at 0000:`at` holds `value` (through ES, which must be 0; flags are
    /// clobbered).
    pub fn check_mem16(&mut self, name: &str, at: u32, value: u16) -> R {
        self.a.cmp(word_ptr(at).es(), value as u32)?;
        self.check(name, |a, pass| a.je(pass))
    }

    /// Checks that the dword at 0000:`at` holds `value` (through ES, which must be 0; flags are
    /// clobbered).
    pub fn check_mem32(&mut self, name: &str, at: u32, value: u32) -> R {
        self.a.cmp(dword_ptr(at).es(), value)?;
        self.check(name, |a, pass| a.je(pass))
    }

    /// Checks that the 16-bit `reg` holds `value` (flags are clobbered).
    pub fn check_reg16(&mut self, name: &str, reg: AsmRegister16, value: u16) -> R {
        self.a.cmp(reg, value as u32)?;
        self.check(name, |a, pass| a.je(pass))
    }

    /// Checks that the 32-bit `reg` holds `value` (flags are clobbered).
    pub fn check_reg32(&mut self, name: &str, reg: AsmRegister32, value: u32) -> R {
        self.a.cmp(reg, value)?;
        self.check(name, |a, pass| a.je(pass))
    }

    /// Checks that the flags (as they are now) masked with `mask` equal `value`; registers and
    /// flags are preserved.
    pub fn check_flags(&mut self, name: &str, mask: u16, value: u16) -> R {
        self.a.pushf()?;
        self.a.push(ax)?;
        self.a.pushf()?;
        self.a.pop(ax)?;
        self.a.and(ax, mask as u32)?;
        self.a.cmp(ax, value as u32)?;
        self.check(name, |a, pass| a.je(pass))?;
        self.a.pop(ax)?;
        Ok(self.a.popf()?)
    }

    /// Ends the ROM: prints the verdict and writes the failure count to the exit port
    /// (0 = pass, so emu exits with status 1; n failures give status 2n + 1).
    pub fn finish(mut self) -> R<Vec<u8>> {
        let (mut passed, mut print, mut fail) = (self.a.create_label(), self.print, self.fail);
        let pass_msg = self.string("PASS\n");
        let fail_msg = self.string("FAIL\n");
        let fail_prefix = self.string("FAIL: ");
        let newline = self.string("\n");
        let a = &mut self.a;
        a.mov(ax, word_ptr(FAILURES as u32).es())?;
        a.test(ax, ax)?;
        a.je(passed)?;
        a.mov(si, fail_msg)?;
        a.call(print)?;
        a.mov(ax, word_ptr(FAILURES as u32).es())?;
        a.cmp(ax, 0x7fu32)?;
        let mut small = a.create_label();
        a.jbe(small)?;
        a.mov(ax, 0x7fu32)?;
        a.set_label(&mut small)?;
        a.out(EXIT_PORT as u32, al)?;
        let mut stop = a.create_label();
        a.set_label(&mut stop)?;
        a.hlt()?;
        a.jmp(stop)?;
        a.set_label(&mut passed)?;
        a.mov(si, pass_msg)?;
        a.call(print)?;
        a.xor(al, al)?;
        a.out(EXIT_PORT as u32, al)?;
        a.jmp(stop)?;

        // fail(si = name): print "FAIL: name\n", count it.
        a.set_label(&mut fail)?;
        a.push(si)?;
        a.mov(si, fail_prefix)?;
        a.call(print)?;
        a.pop(si)?;
        a.call(print)?;
        a.mov(si, newline)?;
        a.call(print)?;
        a.inc(word_ptr(FAILURES as u32).es())?;
        a.ret()?;

        // print(ds:si = NUL-terminated string) on COM1, waiting for THRE; preserves registers.
        a.set_label(&mut print)?;
        a.pushf()?;
        a.push(ax)?;
        a.push(dx)?;
        a.push(si)?;
        let (mut next, mut wait, mut done) = (a.create_label(), a.create_label(), a.create_label());
        a.set_label(&mut next)?;
        a.lodsb()?;
        a.test(al, al)?;
        a.je(done)?;
        a.mov(ah, al)?;
        a.mov(dx, 0x3fdu32)?;
        a.set_label(&mut wait)?;
        a.in_(al, dx)?;
        a.test(al, 0x20u32)?;
        a.je(wait)?;
        a.mov(al, ah)?;
        a.mov(dx, 0x3f8u32)?;
        a.out(dx, al)?;
        a.jmp(next)?;
        a.set_label(&mut done)?;
        a.pop(si)?;
        a.pop(dx)?;
        a.pop(ax)?;
        a.popf()?;
        a.ret()?;

        let code = self.a.assemble(0)?;
        if code.len() > STRINGS || STRINGS + self.strings.len() > ROM_SIZE - 16 {
            return Err(RomError::TooBig(code.len() + self.strings.len()));
        }
        let mut rom = image(&code)?;
        rom[STRINGS..STRINGS + self.strings.len()].copy_from_slice(&self.strings);
        Ok(rom)
    }
}

/// Places `code` (assembled for F000:0000) in a 64 KiB ROM with the reset vector's far jump.
pub fn image(code: &[u8]) -> R<Vec<u8>> {
    if code.len() > ROM_SIZE - 16 {
        return Err(RomError::TooBig(code.len()));
    }
    let mut rom = vec![0xffu8; ROM_SIZE];
    rom[..code.len()].copy_from_slice(code);
    // F000:FFF0: jmp far F000:0000
    rom[0xfff0..0xfff5].copy_from_slice(&[0xea, 0x00, 0x00, 0x00, 0xf0]);
    Ok(rom)
}
