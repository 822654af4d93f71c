//! The self-checking test ROMs, one per instruction family. Each ROM runs its checks in real
//! mode, prints `FAIL: name` on COM1 for every check that fails, and reports the failure count
//! through the exit port (see [`crate::rom`] and test-roms/README.md).
//!
//! Expected values come from the SDM's definitions, worked out by hand and cross-checked on a
//! real CPU where the instruction also exists in 64-bit mode. Flags the SDM leaves undefined are
//! masked out of every check.
//!
//! Conventions shared by the ROMs: at every check DS = CS = F000 (strings) and ES = SS = 0 (the
//! failure count, the stack); test data in RAM lives at [`SCRATCH`] and is reached through ES.

use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

pub mod alu;
pub mod bcd;
pub mod bits;
pub mod control;
pub mod data;
pub mod exceptions;
pub mod faults;
pub mod fpu;
pub mod io;
pub mod muldiv;
pub mod paging;
pub mod pm;
pub mod pm_privilege;
pub mod pm_segments;
pub mod pm_tasks;
pub mod shift;
pub mod smc;
pub mod smc_paging;
pub mod stack;
pub mod string;
pub mod v86;

/// Builds one ROM image.
pub type RomFn = fn() -> Result<Vec<u8>, RomError>;

/// Every test ROM, by name.
pub const ALL: &[(&str, RomFn)] = &[
    ("alu", alu::rom),
    ("shift", shift::rom),
    ("muldiv", muldiv::rom),
    ("bcd", bcd::rom),
    ("bits", bits::rom),
    ("data", data::rom),
    ("stack", stack::rom),
    ("control", control::rom),
    ("string", string::rom),
    ("io", io::rom),
    ("exceptions", exceptions::rom),
    ("pm_segments", pm_segments::rom),
    ("pm_privilege", pm_privilege::rom),
    ("pm_tasks", pm_tasks::rom),
    ("paging", paging::rom),
    ("fpu", fpu::rom),
    ("v86", v86::rom),
    ("smc", smc::rom),
    ("smc_paging", smc_paging::rom),
    ("faults", faults::rom),
];

type R<T = ()> = Result<T, RomError>;

/// EFLAGS bits (SDM Vol. 1, 3.4.3).
pub(crate) mod flag {
    pub const CF: u16 = 1 << 0;
    /// Bit 1 reads as 1.
    pub const FIXED: u16 = 1 << 1;
    pub const PF: u16 = 1 << 2;
    pub const AF: u16 = 1 << 4;
    pub const ZF: u16 = 1 << 6;
    pub const SF: u16 = 1 << 7;
    pub const IF: u16 = 1 << 9;
    pub const OF: u16 = 1 << 11;
    /// The six status flags.
    pub const STATUS: u16 = CF | PF | AF | ZF | SF | OF;
}

/// Scratch RAM for test data, 0000:1000 up to 0000:5FFF (the stack grows down from 0000:7000).
pub(crate) const SCRATCH: u32 = 0x1000;

/// What the exception recorder writes (words at 0000:xxxx, reached through SS = 0).
pub(crate) mod exc {
    /// How many exceptions were recorded.
    pub const COUNT: u32 = 0x510;
    /// The vector of the last one.
    pub const VECTOR: u32 = 0x512;
    /// The IP and CS it pushed.
    pub const IP: u32 = 0x514;
    pub const CS: u32 = 0x516;
    /// The FLAGS it pushed.
    pub const FLAGS: u32 = 0x518;
    /// FLAGS inside the handler.
    pub const IN_FLAGS: u32 = 0x51a;
    /// Bytes the handler adds to the pushed IP before returning (to skip a faulting instruction).
    pub const SKIP: u32 = 0x51c;
    /// Scratch for [`super::expect_exception`].
    pub const HERE: u32 = 0x51e;
}

/// Sets FLAGS to `value` (through the stack; IF stays clear).
pub(crate) fn set_flags(a: &mut CodeAssembler, value: u16) -> Result<(), IcedError> {
    a.push(value as u32)?;
    a.popf()
}

/// Installs, for `vector`, a handler that records the exception (see [`exc`]) and returns to
/// the pushed IP plus the word at [`exc::SKIP`].
pub(crate) fn install_recorder(rom: &mut RomBuilder, vector: u8) -> R {
    let handler = rom.routine(|a| {
        // Stack: [bp] BP, [bp+2] IP, [bp+4] CS, [bp+6] FLAGS.
        a.push(bp)?;
        a.mov(bp, sp)?;
        a.push(ax)?;
        a.mov(ax, word_ptr(bp + 2))?;
        a.mov(word_ptr(exc::IP).ss(), ax)?;
        a.mov(ax, word_ptr(bp + 4))?;
        a.mov(word_ptr(exc::CS).ss(), ax)?;
        a.mov(ax, word_ptr(bp + 6))?;
        a.mov(word_ptr(exc::FLAGS).ss(), ax)?;
        a.pushf()?;
        a.pop(ax)?;
        a.mov(word_ptr(exc::IN_FLAGS).ss(), ax)?;
        a.mov(word_ptr(exc::VECTOR).ss(), vector as u32)?;
        a.inc(word_ptr(exc::COUNT).ss())?;
        a.mov(ax, word_ptr(exc::SKIP).ss())?;
        a.add(word_ptr(bp + 2), ax)?;
        a.pop(ax)?;
        a.pop(bp)?;
        a.iret()
    })?;
    rom.set_vector(vector, handler)
}

/// Forgets any recorded exception and sets the handler's skip (no flags change).
pub(crate) fn arm_recorder(a: &mut CodeAssembler, skip: u16) -> Result<(), IcedError> {
    a.mov(word_ptr(exc::COUNT).ss(), 0u32)?;
    a.mov(word_ptr(exc::VECTOR).ss(), 0xffffu32)?;
    a.mov(word_ptr(exc::SKIP).ss(), skip as u32)
}

/// Whether the exception is a fault (pushes the IP of the instruction) or a trap (the IP after it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Fault,
    Trap,
}

/// Runs the one instruction `insn` (registers and flags as the caller left them), expects exactly
/// one exception `vector` of `kind` from it, through a handler installed with
/// [`install_recorder`], and checks the vector, the pushed CS and the pushed IP. Afterwards
/// registers are as the exception left them and FLAGS as IRET restored them.
///
/// The instruction is followed by as many NOPs as it is long, so that a wrong pushed IP still
/// lands on an instruction boundary and fails the IP check instead of running astray.
pub(crate) fn expect_exception(
    rom: &mut RomBuilder,
    name: &str,
    vector: u8,
    kind: Kind,
    insn: impl Fn(&mut CodeAssembler) -> Result<(), IcedError>,
) -> R {
    let len = {
        let mut probe = CodeAssembler::new(16)?;
        insn(&mut probe)?;
        probe.assemble(0)?.len() as u32
    };
    let skip = if kind == Kind::Fault { len } else { 0 };
    arm_recorder(&mut rom.a, skip as u16)?;
    insn(&mut rom.a)?;
    for _ in 0..len {
        rom.a.nop()?;
    }
    // The call sits at X + 2 * len (X: the instruction); it pushes X + 2 * len + 3.
    let mut here = rom.a.create_label();
    rom.a.call(here)?;
    rom.a.set_label(&mut here)?;
    rom.a.pop(word_ptr(exc::HERE).ss())?;
    rom.a.pushf()?;
    rom.a.push(ax)?;
    rom.a.cmp(word_ptr(exc::COUNT).ss(), 1u32)?;
    rom.check(&format!("{name}: raised once"), |a, ok| a.je(ok))?;
    rom.a.cmp(word_ptr(exc::VECTOR).ss(), vector as u32)?;
    rom.check(&format!("{name}: vector"), |a, ok| a.je(ok))?;
    rom.a.cmp(word_ptr(exc::CS).ss(), crate::rom::ROM_SEGMENT as u32)?;
    rom.check(&format!("{name}: pushed CS"), |a, ok| a.je(ok))?;
    let pushed_to_here = if kind == Kind::Fault { 2 * len + 3 } else { len + 3 };
    rom.a.mov(ax, word_ptr(exc::IP).ss())?;
    rom.a.add(ax, pushed_to_here)?;
    rom.a.cmp(ax, word_ptr(exc::HERE).ss())?;
    rom.check(&format!("{name}: pushed IP"), |a, ok| a.je(ok))?;
    rom.a.pop(ax)?;
    rom.a.popf()?;
    Ok(())
}

/// The sixteen conditions of Jcc, SETcc and CMOVcc (cc in 70+cc, 0F 80+cc, 0F 90+cc, 0F 40+cc), in encoding order (SDM Vol. 1, B.1).
pub(crate) const CONDITION_NAMES: [&str; 16] =
    ["o", "no", "b", "nb", "z", "nz", "be", "nbe", "s", "ns", "p", "np", "l", "nl", "le", "nle"];

/// Flag states and, worked out by hand, which of the sixteen conditions hold in each
/// (bit `cc` set = condition `cc` true).
pub(crate) const CONDITION_CASES: [(u16, u16); 5] = [
    // CF PF SF: no b nz be s p l le.
    (flag::CF | flag::PF | flag::SF, 0x5566),
    // ZF OF: o nb z be ns np l le.
    (flag::ZF | flag::OF, 0x5a59),
    // SF OF: o nb nz nbe s np nl nle.
    (flag::SF | flag::OF, 0xa9a9),
    // None: no nb nz nbe ns np nl nle.
    (0, 0xaaaa),
    // CF ZF: no b z be ns np nl le.
    (flag::CF | flag::ZF, 0x6a56),
];

/// Emits SETcc `dst` for condition `cc` (0-15).
pub(crate) fn setcc(a: &mut CodeAssembler, cc: usize, dst: AsmRegister8) -> Result<(), IcedError> {
    match cc {
        0 => a.seto(dst),
        1 => a.setno(dst),
        2 => a.setb(dst),
        3 => a.setae(dst),
        4 => a.sete(dst),
        5 => a.setne(dst),
        6 => a.setbe(dst),
        7 => a.seta(dst),
        8 => a.sets(dst),
        9 => a.setns(dst),
        10 => a.setp(dst),
        11 => a.setnp(dst),
        12 => a.setl(dst),
        13 => a.setge(dst),
        14 => a.setle(dst),
        _ => a.setg(dst),
    }
}

/// Emits CMOVcc `dst, src` for condition `cc` (0-15).
pub(crate) fn cmovcc(
    a: &mut CodeAssembler,
    cc: usize,
    dst: AsmRegister32,
    src: AsmRegister32,
) -> Result<(), IcedError> {
    match cc {
        0 => a.cmovo(dst, src),
        1 => a.cmovno(dst, src),
        2 => a.cmovb(dst, src),
        3 => a.cmovae(dst, src),
        4 => a.cmove(dst, src),
        5 => a.cmovne(dst, src),
        6 => a.cmovbe(dst, src),
        7 => a.cmova(dst, src),
        8 => a.cmovs(dst, src),
        9 => a.cmovns(dst, src),
        10 => a.cmovp(dst, src),
        11 => a.cmovnp(dst, src),
        12 => a.cmovl(dst, src),
        13 => a.cmovge(dst, src),
        14 => a.cmovle(dst, src),
        _ => a.cmovg(dst, src),
    }
}
