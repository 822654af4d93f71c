//! The decoder: bytes in, an [`Insn`] out, driven by the opcode maps in [`table`].
//!
//! The decoded instruction is shared by the interpreter (which executes it), the JIT (which
//! translates it, or calls the interpreter for it), the disassembler and the tracer.
//!
//! Everything the bytes alone decide is decided here: prefixes, operand and address size,
//! the ModRM/SIB addressing form, displacement, immediates, the segment of the memory operand,
//! and whether the encoding is undefined (then the mnemonic is [`Mnemonic::Invalid`] and
//! executing it raises #UD). What depends on the CPU's state (privilege, mode, segment limits) is
//! checked when it executes.

pub mod cache;
pub mod mnemonic;
pub mod operand;
pub mod table;

pub use mnemonic::Mnemonic;
pub use operand::Spec;
use table::{Entry, Slot, LOCK, ONE_BYTE, TWO_BYTE};

use crate::flags::Size;
use crate::state::SegReg;

/// An instruction is at most 15 bytes long; a longer one raises #GP(0).
pub const MAX_LEN: usize = 15;

/// Prefix bits of [`Insn::prefixes`].
pub mod prefix {
    pub const LOCK: u8 = 1 << 0;
    pub const REP: u8 = 1 << 1; // F3: REP / REPE
    pub const REPNE: u8 = 1 << 2; // F2
    pub const OSIZE: u8 = 1 << 3; // 66
    pub const ASIZE: u8 = 1 << 4; // 67
    pub const SEG: u8 = 1 << 5; // a segment override is present
}

/// "No register" in a [`MemRef`] base or index.
pub const NO_REG: u8 = 0xff;

/// A memory operand's address: `seg:[base + index*scale + disp]`, computed at the address size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemRef {
    pub base: u8,
    pub index: u8,
    /// log2 of the scale factor (0-3).
    pub scale: u8,
    pub disp: u32,
}

/// One decoded operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    Nil,
    /// General register `n` (for bytes 0-3 are AL..BL, 4-7 AH..BH).
    Reg(u8, Size),
    /// The memory operand described by [`Insn::mem`] and [`Insn::seg`].
    Mem(Size),
    /// An immediate, already sign- or zero-extended to 32 bits as the instruction uses it.
    Imm(u32),
    /// A branch displacement, sign-extended: the target is next EIP + this.
    Rel(u32),
    /// A far pointer immediate `sel:off`.
    Far(u16, u32),
    Seg(SegReg),
    Cr(u8),
    Dr(u8),
    /// String source `seg:[eSI]` (segment overridable).
    StrSrc(Size),
    /// String destination `ES:[eDI]`.
    StrDst(Size),
}

/// A decoded instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub mnemonic: Mnemonic,
    /// The opcode: 0x00-0xFF for the one-byte map, 0x100-0x1FF for 0F xx.
    pub opcode: u16,
    /// Length in bytes, prefixes included.
    pub len: u8,
    /// [`table`] attributes (JUMP, MODE, LOCK).
    pub attr: u8,
    /// Operand size (W or D) after the 66 prefix.
    pub osize: Size,
    /// Address size (W or D) after the 67 prefix.
    pub asize: Size,
    /// See [`prefix`].
    pub prefixes: u8,
    /// Segment of the memory operand (and of a string source): default or override.
    pub seg: SegReg,
    pub modrm: u8,
    pub args: [Arg; 3],
    pub mem: MemRef,
}

impl Insn {
    /// A placeholder to decode into (a one-byte NOP, `90`, in 32-bit code).
    pub const NOP: Insn = Insn {
        mnemonic: Mnemonic::Nop,
        opcode: 0x90,
        len: 1,
        attr: 0,
        osize: Size::D,
        asize: Size::D,
        prefixes: 0,
        seg: SegReg::Ds,
        modrm: 0,
        args: [Arg::Nil; 3],
        mem: MemRef { base: NO_REG, index: NO_REG, scale: 0, disp: 0 },
    };
    /// The condition code of Jcc/SETcc/CMOVcc (low nibble of the opcode).
    #[inline]
    pub fn cc(&self) -> u8 {
        (self.opcode & 0xf) as u8
    }
    /// ModRM.reg: the opcode extension of a group, or a register number.
    #[inline]
    pub fn reg(&self) -> u8 {
        (self.modrm >> 3) & 7
    }
    #[inline]
    pub fn has(&self, p: u8) -> bool {
        self.prefixes & p != 0
    }
    /// Whether any operand is in memory.
    pub fn mem_operand(&self) -> Option<Size> {
        self.args.iter().find_map(|a| match a {
            Arg::Mem(s) => Some(*s),
            _ => None,
        })
    }
    /// The element size of a string instruction (MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS): the
    /// size of its string operand.
    pub fn string_operand(&self) -> Option<Size> {
        self.args.iter().find_map(|a| match a {
            Arg::StrSrc(s) | Arg::StrDst(s) => Some(*s),
            _ => None,
        })
    }
    /// Ends a translated block (control transfer or mode change).
    pub fn ends_block(&self) -> bool {
        self.attr & (table::JUMP | table::MODE) != 0
    }
}

/// Why decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError<E> {
    /// The instruction would be longer than 15 bytes (#GP(0)).
    TooLong,
    /// Fetching a byte failed (a page fault or a limit violation, from the caller).
    Fetch(E),
}

/// Reads instruction bytes, counting them and enforcing the 15-byte limit.
struct Reader<F> {
    fetch: F,
    len: usize,
}

impl<E, F: FnMut(usize) -> Result<u8, E>> Reader<F> {
    #[inline(always)]
    fn u8(&mut self) -> Result<u8, DecodeError<E>> {
        if self.len >= MAX_LEN {
            return Err(DecodeError::TooLong);
        }
        let b = (self.fetch)(self.len).map_err(DecodeError::Fetch)?;
        self.len += 1;
        Ok(b)
    }
    #[inline(always)]
    fn u16(&mut self) -> Result<u16, DecodeError<E>> {
        Ok(self.u8()? as u16 | (self.u8()? as u16) << 8)
    }
    #[inline(always)]
    fn u32(&mut self) -> Result<u32, DecodeError<E>> {
        Ok(self.u16()? as u32 | (self.u16()? as u32) << 16)
    }
    #[inline(always)]
    fn sized(&mut self, size: Size) -> Result<u32, DecodeError<E>> {
        match size {
            Size::B => Ok(self.u8()? as u32),
            Size::W => Ok(self.u16()? as u32),
            Size::D => self.u32(),
        }
    }
}

#[inline(always)]
fn needs_modrm(spec: Spec) -> bool {
    use Spec::*;
    matches!(spec, Eb | Ew | Ed | Ev | Gb | Gw | Gv | M | Mp | Ma | Mq | Mw | Rd | Sw | Cd | Dd)
}

/// What [`operand`] reads of the instruction decoded so far.
#[derive(Clone, Copy)]
struct Ctx {
    opcode: u16,
    modrm: u8,
    osize: Size,
    asize: Size,
    /// The ModRM r/m names memory.
    is_mem: bool,
}

/// Decodes one instruction. `code32` is the code segment's D bit; `fetch(i)` returns the
/// instruction's byte `i` (it is called with 0, 1, 2, ... in order, and not again after it
/// fails).
///
/// Inlined into each caller so that the fetch closure is inlined at every byte read and the
/// instruction is built in registers and stored once (as a separate function, loading the
/// closure's captures and copying the result stalled on store forwarding).
#[inline(always)]
pub fn decode<E>(code32: bool, fetch: impl FnMut(usize) -> Result<u8, E>) -> Result<Insn, DecodeError<E>> {
    let mut r = Reader { fetch, len: 0 };
    let mut prefixes = 0u8;
    let mut seg_override = None;
    let mut op = loop {
        let b = r.u8()?;
        match b {
            0xf0 => prefixes |= prefix::LOCK,
            0xf2 => prefixes = (prefixes & !prefix::REP) | prefix::REPNE,
            0xf3 => prefixes = (prefixes & !prefix::REPNE) | prefix::REP,
            0x66 => prefixes |= prefix::OSIZE,
            0x67 => prefixes |= prefix::ASIZE,
            0x26 | 0x2e | 0x36 | 0x3e => seg_override = SegReg::from_index((b >> 3) & 3),
            0x64 | 0x65 => seg_override = SegReg::from_index(b - 0x60),
            _ => break b as u16,
        }
    };
    if seg_override.is_some() {
        prefixes |= prefix::SEG;
    }
    let mut slot = &ONE_BYTE[op as usize];
    if let Slot::Escape = slot {
        op = 0x100 | r.u8()? as u16;
        slot = &TWO_BYTE[op as usize & 0xff];
    }
    let wide = |p: u8| (prefixes & p != 0) != code32;
    let osize = if wide(prefix::OSIZE) { Size::D } else { Size::W };
    let asize = if wide(prefix::ASIZE) { Size::D } else { Size::W };

    // A group's ModRM byte is read to pick the entry; otherwise it is read below if needed.
    let (entry, group_modrm): (Entry, Option<u8>) = match *slot {
        Slot::Op(e) => (e, None),
        Slot::Group(g) => {
            let m = r.u8()?;
            (g[((m >> 3) & 7) as usize], Some(m))
        }
        // Operands are ModRM-only (memory, or ST(i) in mod 3): set below, never invalid here.
        Slot::X87 => (Entry { mnemonic: Mnemonic::Fpu, ops: [Spec::Nil, Spec::Nil, Spec::Nil], attr: 0 }, None),
        Slot::Prefix | Slot::Escape => unreachable!("prefixes and 0F are consumed above"),
    };
    let mut invalid = entry.mnemonic == Mnemonic::Invalid;
    let mut seg = seg_override.unwrap_or(SegReg::Ds);
    let mut mem = MemRef { base: NO_REG, index: NO_REG, scale: 0, disp: 0 };
    // Stays 0 when no operand uses ModRM (even if a group read it).
    let mut modrm = 0;

    // Non-short-circuit `|` throughout: bit tests instead of hard-to-predict branches.
    let [s0, s1, s2] = entry.ops;
    if needs_modrm(s0) | needs_modrm(s1) | needs_modrm(s2) | (entry.mnemonic == Mnemonic::Fpu) {
        let m = match group_modrm {
            Some(m) => m,
            None => r.u8()?,
        };
        modrm = m;
        // MOV to/from CR/DR ignore the mod field: always a register, no displacement.
        let register_only = (s0 == Spec::Rd) | (s1 == Spec::Rd) | (s2 == Spec::Rd);
        if m >> 6 != 3 && !register_only {
            seg = decode_address(&mut r, asize, &mut mem, m, seg_override)?;
        }
    }
    let is_mem = modrm >> 6 != 3 && needs_modrm_mem(&entry);
    let ctx = Ctx { opcode: op, modrm, osize, asize, is_mem };
    // Operand bytes in encoding order, then the operands. Most instructions have fewer than
    // three operands: testing for `Nil` first is a well-predicted branch where the full match
    // would be an indirect jump.
    let none = (0, 0);
    let b0 = if s0 != Spec::Nil { operand_bytes(&mut r, &ctx, s0)? } else { none };
    let b1 = if s1 != Spec::Nil { operand_bytes(&mut r, &ctx, s1)? } else { none };
    let b2 = if s2 != Spec::Nil { operand_bytes(&mut r, &ctx, s2)? } else { none };
    let mut arg = |spec: Spec, bytes| {
        if spec == Spec::Nil {
            Arg::Nil
        } else {
            operand(&ctx, spec, bytes, &mut mem.disp, &mut invalid)
        }
    };
    let mut args = [arg(s0, b0), arg(s1, b1), arg(s2, b2)];
    if entry.mnemonic == Mnemonic::Fpu {
        args[0] = if is_mem { Arg::Mem(Size::D) } else { Arg::Nil };
    }
    // LOCK is only defined on the read-modify-write forms with a memory destination.
    if prefixes & prefix::LOCK != 0 && (entry.attr & LOCK == 0 || !matches!(args[0], Arg::Mem(_))) {
        invalid = true;
    }
    let (mnemonic, attr) = if invalid { (Mnemonic::Invalid, table::JUMP) } else { (entry.mnemonic, entry.attr) };
    Ok(Insn { mnemonic, opcode: op, len: r.len as u8, attr, osize, asize, prefixes, seg, modrm, args, mem })
}

/// Whether the entry's ModRM r/m can name memory (so mod != 3 means a memory operand).
#[inline(always)]
fn needs_modrm_mem(entry: &Entry) -> bool {
    use Spec::*;
    let mem = |s: Spec| matches!(s, Eb | Ew | Ed | Ev | M | Mp | Ma | Mq | Mw);
    let [s0, s1, s2] = entry.ops;
    (entry.mnemonic == Mnemonic::Fpu) | mem(s0) | mem(s1) | mem(s2)
}

/// Decodes the ModRM (and SIB) memory form at address size `asize` into `mem` and returns the
/// segment: the override, or the default (SS for an EBP/ESP base, else DS).
#[inline(always)]
fn decode_address<E, F: FnMut(usize) -> Result<u8, E>>(
    r: &mut Reader<F>,
    asize: Size,
    mem: &mut MemRef,
    modrm: u8,
    seg_override: Option<SegReg>,
) -> Result<SegReg, DecodeError<E>> {
    use crate::state::reg::*;
    let (md, rm) = (modrm >> 6, modrm & 7);
    let mut stack = false;
    if asize == Size::W {
        const BASE: [(u8, u8); 8] = [
            (EBX as u8, ESI as u8),
            (EBX as u8, EDI as u8),
            (EBP as u8, ESI as u8),
            (EBP as u8, EDI as u8),
            (ESI as u8, NO_REG),
            (EDI as u8, NO_REG),
            (EBP as u8, NO_REG),
            (EBX as u8, NO_REG),
        ];
        if md == 0 && rm == 6 {
            mem.disp = r.u16()? as u32;
        } else {
            (mem.base, mem.index) = BASE[rm as usize];
            stack = mem.base == EBP as u8;
            mem.disp = match md {
                1 => r.u8()? as i8 as u16 as u32,
                2 => r.u16()? as u32,
                _ => 0,
            };
        }
    } else {
        if rm == 4 {
            let sib = r.u8()?;
            let (scale, index, base) = (sib >> 6, (sib >> 3) & 7, sib & 7);
            mem.scale = scale;
            mem.index = if index == ESP as u8 { NO_REG } else { index };
            if base == EBP as u8 && md == 0 {
                mem.base = NO_REG;
                mem.disp = r.u32()?;
            } else {
                mem.base = base;
            }
        } else if rm == 5 && md == 0 {
            mem.disp = r.u32()?;
        } else {
            mem.base = rm;
        }
        stack = mem.base == ESP as u8 || mem.base == EBP as u8;
        match md {
            1 => mem.disp = r.u8()? as i8 as u32,
            2 => mem.disp = r.u32()?,
            _ => {}
        }
    }
    Ok(seg_override.unwrap_or(if stack { SegReg::Ss } else { SegReg::Ds }))
}

/// Reads the bytes operand `spec` takes from the instruction stream (immediate, displacement,
/// direct offset, far pointer), in encoding order: `(value, selector)`; `(0, 0)` for the operands
/// that take none. Kept apart from [`operand`] so that the fallible part returns plain integers
/// (an [`Arg`] passed through a `Result` is assembled in memory and read back).
#[inline(always)]
fn operand_bytes<E, F: FnMut(usize) -> Result<u8, E>>(
    r: &mut Reader<F>,
    ctx: &Ctx,
    spec: Spec,
) -> Result<(u32, u16), DecodeError<E>> {
    use Spec::*;
    let v = ctx.osize;
    Ok(match spec {
        Ib | Jb | Ibs => (r.u8()? as u32, 0),
        Iw => (r.u16()? as u32, 0),
        Iz => (r.sized(v)?, 0),
        Jz => (
            match v {
                Size::W => r.u16()? as i16 as u32,
                _ => r.u32()?,
            },
            0,
        ),
        Ob | Ov => (r.sized(ctx.asize)?, 0),
        Ap => {
            let off = r.sized(v)?;
            (off, r.u16()?)
        }
        _ => (0, 0),
    })
}

/// Turns one operand spec into an operand, given what [`operand_bytes`] read for it. Sets
/// `invalid` when the encoding is undefined (a register where memory is required, a segment
/// register number > 5). A direct offset (`Ob`/`Ov`) goes to `disp`.
#[inline(always)]
fn operand(ctx: &Ctx, spec: Spec, (value, sel): (u32, u16), disp: &mut u32, invalid: &mut bool) -> Arg {
    use Spec::*;
    let v = ctx.osize;
    let is_mem = ctx.is_mem;
    let rm = ctx.modrm & 7;
    let reg = (ctx.modrm >> 3) & 7;
    let low3 = (ctx.opcode & 7) as u8;
    let e = |size| if is_mem { Arg::Mem(size) } else { Arg::Reg(rm, size) };
    let mut bad = || {
        *invalid = true;
        Arg::Nil
    };
    match spec {
        Nil => Arg::Nil,
        Eb => e(Size::B),
        Ew => e(Size::W),
        Ed => e(Size::D),
        Ev => e(v),
        Gb => Arg::Reg(reg, Size::B),
        Gw => Arg::Reg(reg, Size::W),
        Gv => Arg::Reg(reg, v),
        M | Mp | Ma | Mq | Mw if !is_mem => bad(),
        M | Mp | Ma => Arg::Mem(v),
        Mq => Arg::Mem(Size::D),
        Mw => Arg::Mem(Size::W),
        Rd => Arg::Reg(rm, Size::D),
        Sw => match SegReg::from_index(reg) {
            // MOV CS, r/m is undefined.
            Some(SegReg::Cs) if ctx.opcode == 0x8e => bad(),
            Some(s) => Arg::Seg(s),
            None => bad(),
        },
        Cd => Arg::Cr(reg),
        Dd => Arg::Dr(reg),
        Ib | Iw | Iz => Arg::Imm(value),
        Ibs => Arg::Imm(v.sext(value as u8 as i8 as u32) & v.mask()),
        Jb => Arg::Rel(value as u8 as i8 as u32),
        Jz => Arg::Rel(value),
        Ob | Ov => {
            *disp = value;
            Arg::Mem(if spec == Ob { Size::B } else { v })
        }
        Ap => Arg::Far(sel, value),
        Zb => Arg::Reg(low3, Size::B),
        Zv => Arg::Reg(low3, v),
        AL => Arg::Reg(0, Size::B),
        CL => Arg::Reg(1, Size::B),
        DX => Arg::Reg(2, Size::W),
        eAX => Arg::Reg(0, v),
        ES => Arg::Seg(SegReg::Es),
        CS => Arg::Seg(SegReg::Cs),
        SS => Arg::Seg(SegReg::Ss),
        DS => Arg::Seg(SegReg::Ds),
        FS => Arg::Seg(SegReg::Fs),
        GS => Arg::Seg(SegReg::Gs),
        One => Arg::Imm(1),
        Xb => Arg::StrSrc(Size::B),
        Xv => Arg::StrSrc(v),
        Yb => Arg::StrDst(Size::B),
        Yv => Arg::StrDst(v),
    }
}

#[cfg(test)]
mod tests;
