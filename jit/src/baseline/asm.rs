//! A small x86-64 assembler: the host instructions the baseline tier's templates are made of
//! (see [`super`]), encoded straight into a byte buffer.
//!
//! Cranelift costs about 1.5 µs an IR instruction and iced-x86's `CodeAssembler` about 157 ns a
//! host instruction (README, "Performance", the fourteenth day); a tier that translates every
//! block that runs a few times must cost a few nanoseconds a host instruction, so it writes the
//! bytes itself: no instruction values, no operand checks beyond what the encoding needs, one
//! pass, with forward branches patched when the code is finished. Every method is `#[inline]`:
//! at a call site most operands are constants, and the encoder's branches on them fold away
//! (`cargo bench -p emu-jit --bench compile`, its last line: about 3 ns a host instruction,
//! against 9 ns not inlined).
//!
//! The encodings are the SDM's (volume 2, chapter 2, "Instruction Format"):
//! - *Prefixes*: 66h for 16-bit operands, then REX (`0100WRXB`) when an operand is 64-bit (W),
//!   a register number is 8-15 (R for ModRM.reg, X for SIB.index, B for ModRM.rm, SIB.base or
//!   the opcode's register), or a byte operand is SPL, BPL, SIL or DIL (an empty REX: without
//!   one, numbers 4-7 of a byte operand name AH, CH, DH, BH).
//! - *ModRM and SIB*: a memory operand whose base is RSP or R12 needs a SIB byte (rm = 100b
//!   means "SIB follows"), one whose base is RBP or R13 needs a displacement (mod = 00b with
//!   rm = 101b means RIP-relative, and with a SIB base of 101b "no base"): a zero disp8 then. The
//!   displacement is 8-bit when it fits, else 32-bit. RSP cannot be an index.
//! - *Branches* are always rel32 (so a branch never changes size once emitted), relative to the
//!   end of the instruction.
//!
//! `tests` checks every form against iced-x86's decoder: each instruction decodes to one
//! instruction of the expected mnemonic and operands, with every register and the memory
//! operand shapes that take the special cases above.

/// A general register, by its number in the encoding (RAX 0 ... R15 15). Its width is the
/// instruction's ([`W`]): `Reg::RAX` at [`W::D`] is EAX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reg(pub u8);

impl Reg {
    pub const RAX: Reg = Reg(0);
    pub const RCX: Reg = Reg(1);
    pub const RDX: Reg = Reg(2);
    pub const RBX: Reg = Reg(3);
    pub const RSP: Reg = Reg(4);
    pub const RBP: Reg = Reg(5);
    pub const RSI: Reg = Reg(6);
    pub const RDI: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    pub const R10: Reg = Reg(10);
    pub const R11: Reg = Reg(11);
    pub const R12: Reg = Reg(12);
    pub const R13: Reg = Reg(13);
    pub const R14: Reg = Reg(14);
    pub const R15: Reg = Reg(15);

    /// The low three bits (ModRM, SIB or the opcode) and the REX extension bit.
    #[inline]
    fn low(self) -> u8 {
        self.0 & 7
    }
    #[inline]
    fn ext(self) -> u8 {
        (self.0 >> 3) & 1
    }
}

/// An operand width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum W {
    B,
    W,
    D,
    Q,
}

/// A memory operand: `[base + index * scale + disp]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mem {
    pub base: Reg,
    /// The index register and log2 of the scale (0-3); never RSP.
    pub index: Option<(Reg, u8)>,
    pub disp: i32,
}

impl Mem {
    /// `[base + disp]`.
    #[inline]
    pub fn at(base: Reg, disp: i32) -> Mem {
        Mem { base, index: None, disp }
    }

    /// `[base + index * (1 << shift) + disp]`.
    #[inline]
    pub fn indexed(base: Reg, index: Reg, shift: u8, disp: i32) -> Mem {
        debug_assert!(index != Reg::RSP && shift < 4, "RSP is no index; scales are 1, 2, 4, 8");
        Mem { base, index: Some((index, shift)), disp }
    }
}

/// The eight ALU operations of opcodes 00h-3Fh and group 1 (80h-83h), by their ModRM.reg
/// number: `op r/m, r` is opcode `8 * op + 1` (`+ 0` for bytes), `op r, r/m` `8 * op + 3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alu {
    Add = 0,
    Or = 1,
    Adc = 2,
    Sbb = 3,
    And = 4,
    Sub = 5,
    Xor = 6,
    Cmp = 7,
}

/// The shifts and rotates of group 2 (C0h/C1h, D0h-D3h), by their ModRM.reg number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    Rol = 0,
    Ror = 1,
    Rcl = 2,
    Rcr = 3,
    Shl = 4,
    Shr = 5,
    Sar = 7,
}

/// The one-operand instructions of groups 3 (F6h/F7h) and 4/5 (FEh/FFh).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    Inc,
    Dec,
    Not,
    Neg,
}

/// A condition code, as the low nibble of Jcc, SETcc and CMOVcc encodes it (the guest's and
/// the host's are the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond(pub u8);

impl Cond {
    pub const O: Cond = Cond(0);
    pub const NO: Cond = Cond(1);
    pub const B: Cond = Cond(2);
    pub const AE: Cond = Cond(3);
    pub const E: Cond = Cond(4);
    pub const NE: Cond = Cond(5);
    pub const BE: Cond = Cond(6);
    pub const A: Cond = Cond(7);
    pub const S: Cond = Cond(8);
    pub const NS: Cond = Cond(9);
    pub const P: Cond = Cond(10);
    pub const NP: Cond = Cond(11);
    pub const L: Cond = Cond(12);
    pub const GE: Cond = Cond(13);
    pub const LE: Cond = Cond(14);
    pub const G: Cond = Cond(15);

    /// The opposite condition (they differ in the low bit).
    #[inline]
    pub fn inverse(self) -> Cond {
        Cond(self.0 ^ 1)
    }
}

/// A place in the code a branch can go to, made by [`Asm::label`] and placed by [`Asm::bind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(u32);

/// What [`Asm::finish`] refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsmError {
    /// A branch goes to a label that was never bound.
    Unbound(Label),
}

/// The code being assembled.
#[derive(Debug, Default)]
pub struct Asm {
    code: Vec<u8>,
    /// Each label's offset, `u32::MAX` until it is bound.
    labels: Vec<u32>,
    /// The rel32 fields of branches to labels not bound when they were emitted: (offset of the
    /// field, label).
    fixups: Vec<(u32, Label)>,
}

const UNBOUND: u32 = u32::MAX;

impl Asm {
    #[inline]
    pub fn new() -> Asm {
        Asm::default()
    }

    /// Empties the buffer for the next block, keeping its memory.
    #[inline]
    pub fn clear(&mut self) {
        self.code.clear();
        self.labels.clear();
        self.fixups.clear();
    }

    /// Bytes emitted so far.
    #[inline]
    pub fn len(&self) -> usize {
        self.code.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }

    /// A new label, not yet placed.
    #[inline]
    pub fn label(&mut self) -> Label {
        self.labels.push(UNBOUND);
        Label(self.labels.len() as u32 - 1)
    }

    /// Places `l` at the current end of the code. Branches to it emitted before are patched
    /// when the code is finished; those emitted after get their distance at once.
    #[inline]
    pub fn bind(&mut self, l: Label) {
        debug_assert_eq!(self.labels[l.0 as usize], UNBOUND, "a label is bound once");
        self.labels[l.0 as usize] = self.code.len() as u32;
    }

    /// The finished code: every branch's distance filled in.
    #[inline]
    pub fn finish(&mut self) -> Result<&[u8], AsmError> {
        for &(at, l) in &self.fixups {
            let to = self.labels[l.0 as usize];
            if to == UNBOUND {
                return Err(AsmError::Unbound(l));
            }
            let rel = to.wrapping_sub(at + 4) as i32;
            self.code[at as usize..at as usize + 4].copy_from_slice(&rel.to_le_bytes());
        }
        self.fixups.clear();
        Ok(&self.code)
    }

    // --- encoding ---------------------------------------------------------------------------

    #[inline]
    fn byte(&mut self, b: u8) {
        self.code.push(b);
    }

    /// An opcode's one or two bytes, or an immediate's few, pushed one by one.
    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.code.push(x);
        }
    }

    #[inline]
    fn imm32(&mut self, v: i32) {
        self.code.extend_from_slice(&v.to_le_bytes());
    }

    /// The operand-size prefix and REX of an instruction of width `w` whose ModRM.reg (or
    /// opcode register) is `r`, SIB.index `x` and ModRM.rm or SIB.base `b` (extension bits);
    /// `byte_regs` says whether a register operand of a byte instruction is SPL-DIL.
    #[inline]
    fn prefixes(&mut self, w: W, r: u8, x: u8, b: u8, byte_regs: bool) {
        if w == W::W {
            self.byte(0x66);
        }
        let rex = ((w == W::Q) as u8) << 3 | r << 2 | x << 1 | b;
        if rex != 0 || byte_regs {
            self.byte(0x40 | rex);
        }
    }

    /// Whether `r`, as a byte operand, needs a REX to be SPL-DIL rather than AH-BH.
    #[inline]
    fn needs_rex_as_byte(w: W, r: Reg) -> bool {
        w == W::B && (4..8).contains(&r.0)
    }

    /// `opcode` with ModRM.reg = `reg` (a register or an opcode extension: `reg_is_byte_reg`
    /// says which) and ModRM.rm = register `rm`.
    #[inline]
    fn op_rr(&mut self, w: W, opcode: &[u8], reg: u8, reg_is_byte_reg: bool, rm: Reg) {
        let byte_regs = Self::needs_rex_as_byte(w, rm) || (reg_is_byte_reg && w == W::B && (4..8).contains(&reg));
        self.prefixes(w, (reg >> 3) & 1, 0, rm.ext(), byte_regs);
        self.bytes(opcode);
        self.byte(0xc0 | (reg & 7) << 3 | rm.low());
    }

    /// `opcode` with ModRM.reg = `reg` (a register or an opcode extension: `reg_is_byte_reg`
    /// says which) and the memory operand `m` (never RIP-relative).
    #[inline]
    fn op_rm(&mut self, w: W, opcode: &[u8], reg: u8, reg_is_byte_reg: bool, m: Mem) {
        let byte_regs = reg_is_byte_reg && w == W::B && (4..8).contains(&reg);
        let x = m.index.map_or(0, |(i, _)| i.ext());
        self.prefixes(w, (reg >> 3) & 1, x, m.base.ext(), byte_regs);
        self.bytes(opcode);
        self.modrm_mem(reg & 7, m);
    }

    /// ModRM (and SIB and displacement) for `reg` and memory operand `m`.
    #[inline]
    fn modrm_mem(&mut self, reg: u8, m: Mem) {
        // RBP and R13 as base have no mod-00 form: a zero disp8 instead.
        let (md, disp8) = match m.disp {
            0 if m.base.low() != 5 => (0u8, false),
            d if (-128..128).contains(&d) => (1, true),
            _ => (2, false),
        };
        match m.index {
            None if m.base.low() != 4 => self.byte(md << 6 | reg << 3 | m.base.low()),
            // RSP and R12 as base: rm = 100b, a SIB with no index (100b).
            None => {
                self.byte(md << 6 | reg << 3 | 4);
                self.byte(4 << 3 | 4);
            }
            Some((i, s)) => {
                self.byte(md << 6 | reg << 3 | 4);
                self.byte(s << 6 | i.low() << 3 | m.base.low());
            }
        }
        match md {
            0 => {}
            _ if disp8 => self.byte(m.disp as i8 as u8),
            _ => self.imm32(m.disp),
        }
    }

    /// The opcode of a byte instruction, or the next one up for 16-, 32- and 64-bit operands
    /// (the w bit of the classic encodings).
    #[inline]
    fn sized(w: W, opcode: u8) -> u8 {
        opcode + (w != W::B) as u8
    }

    /// An immediate of `w`'s size (at most 32 bits: 64-bit operations sign-extend it).
    #[inline]
    fn imm(&mut self, w: W, v: i32) {
        match w {
            W::B => self.byte(v as u8),
            W::W => self.bytes(&(v as u16).to_le_bytes()),
            W::D | W::Q => self.imm32(v),
        }
    }

    // --- moves ------------------------------------------------------------------------------

    /// `mov dst, src` (registers of width `w`; a 32-bit move clears the upper half).
    #[inline]
    pub fn mov_rr(&mut self, w: W, dst: Reg, src: Reg) {
        self.op_rr(w, &[Self::sized(w, 0x88)], src.0, true, dst);
    }

    /// `mov dst, [m]`.
    #[inline]
    pub fn load(&mut self, w: W, dst: Reg, m: Mem) {
        self.op_rm(w, &[Self::sized(w, 0x8a)], dst.0, true, m);
    }

    /// `mov [m], src`.
    #[inline]
    pub fn store(&mut self, w: W, m: Mem, src: Reg) {
        self.op_rm(w, &[Self::sized(w, 0x88)], src.0, true, m);
    }

    /// `mov [m], imm` (64-bit: sign-extended).
    #[inline]
    pub fn store_imm(&mut self, w: W, m: Mem, imm: i32) {
        self.op_rm(w, &[Self::sized(w, 0xc6)], 0, false, m);
        self.imm(w, imm);
    }

    /// `dst = imm`, in the shortest form: `xor` for 0 (which changes the flags), a 32-bit move
    /// for a value that zero-extends, a sign-extended 32-bit one, else `movabs`.
    #[inline]
    pub fn mov_imm(&mut self, dst: Reg, imm: u64) {
        if imm == 0 {
            self.alu_rr(Alu::Xor, W::D, dst, dst);
        } else if imm <= u32::MAX as u64 {
            self.prefixes(W::D, 0, 0, dst.ext(), false);
            self.byte(0xb8 + dst.low());
            self.imm32(imm as u32 as i32);
        } else if imm as i64 == imm as i32 as i64 {
            self.op_rr(W::Q, &[0xc7], 0, false, dst);
            self.imm32(imm as i32);
        } else {
            self.prefixes(W::Q, 0, 0, dst.ext(), false);
            self.byte(0xb8 + dst.low());
            self.bytes(&imm.to_le_bytes());
        }
    }

    /// The opcode of MOVZX (MOVSX if `signed`) from `from` (B or W): 0F B6, B7, BE, BF.
    #[inline]
    fn extend_op(signed: bool, from: W) -> [u8; 2] {
        [0x0f, 0xb6 | (signed as u8) << 3 | (from == W::W) as u8]
    }

    /// MOVZX or MOVSX between registers: the source is the operand of width `from` (so a byte
    /// one may need the empty REX), the operation's width is 32 bits.
    #[inline]
    fn extend_rr(&mut self, signed: bool, from: W, dst: Reg, src: Reg) {
        let byte_regs = Self::needs_rex_as_byte(from, src);
        self.prefixes(W::D, dst.ext(), 0, src.ext(), byte_regs);
        self.bytes(&Self::extend_op(signed, from));
        self.byte(0xc0 | dst.low() << 3 | src.low());
    }

    /// `movzx dst, src` (`from`: B or W; into 32 bits, which clears the upper half).
    #[inline]
    pub fn movzx_rr(&mut self, from: W, dst: Reg, src: Reg) {
        self.extend_rr(false, from, dst, src);
    }

    /// `movzx dst, byte/word [m]`.
    #[inline]
    pub fn movzx_load(&mut self, from: W, dst: Reg, m: Mem) {
        self.op_rm(W::D, &Self::extend_op(false, from), dst.0, false, m);
    }

    /// `movsx dst, src` (`from`: B or W; into 32 bits).
    #[inline]
    pub fn movsx_rr(&mut self, from: W, dst: Reg, src: Reg) {
        self.extend_rr(true, from, dst, src);
    }

    /// `movsx dst, byte/word [m]`.
    #[inline]
    pub fn movsx_load(&mut self, from: W, dst: Reg, m: Mem) {
        self.op_rm(W::D, &Self::extend_op(true, from), dst.0, false, m);
    }

    /// `lea dst, [m]` (W::D or W::Q).
    #[inline]
    pub fn lea(&mut self, w: W, dst: Reg, m: Mem) {
        self.op_rm(w, &[0x8d], dst.0, false, m);
    }

    /// `xchg a, b`.
    #[inline]
    pub fn xchg_rr(&mut self, w: W, a: Reg, b: Reg) {
        self.op_rr(w, &[Self::sized(w, 0x86)], a.0, true, b);
    }

    /// `bswap r` (W::D or W::Q).
    #[inline]
    pub fn bswap(&mut self, w: W, r: Reg) {
        self.prefixes(w, 0, 0, r.ext(), false);
        self.bytes(&[0x0f, 0xc8 + r.low()]);
    }

    // --- arithmetic -------------------------------------------------------------------------

    /// `op dst, src`.
    #[inline]
    pub fn alu_rr(&mut self, op: Alu, w: W, dst: Reg, src: Reg) {
        self.op_rr(w, &[Self::sized(w, 8 * op as u8)], src.0, true, dst);
    }

    /// `op dst, [m]`.
    #[inline]
    pub fn alu_rm(&mut self, op: Alu, w: W, dst: Reg, m: Mem) {
        self.op_rm(w, &[Self::sized(w, 8 * op as u8 + 2)], dst.0, true, m);
    }

    /// `op [m], src`.
    #[inline]
    pub fn alu_mr(&mut self, op: Alu, w: W, m: Mem, src: Reg) {
        self.op_rm(w, &[Self::sized(w, 8 * op as u8)], src.0, true, m);
    }

    /// `op dst, imm` (a byte immediate when it fits, sign-extended).
    #[inline]
    pub fn alu_ri(&mut self, op: Alu, w: W, dst: Reg, imm: i32) {
        if w != W::B && (-128..128).contains(&imm) {
            self.op_rr(w, &[0x83], op as u8, false, dst);
            self.byte(imm as u8);
        } else {
            self.op_rr(w, &[Self::sized(w, 0x80)], op as u8, false, dst);
            self.imm(w, imm);
        }
    }

    /// `op [m], imm`.
    #[inline]
    pub fn alu_mi(&mut self, op: Alu, w: W, m: Mem, imm: i32) {
        if w != W::B && (-128..128).contains(&imm) {
            self.op_rm(w, &[0x83], op as u8, false, m);
            self.byte(imm as u8);
        } else {
            self.op_rm(w, &[Self::sized(w, 0x80)], op as u8, false, m);
            self.imm(w, imm);
        }
    }

    /// `test a, b`.
    #[inline]
    pub fn test_rr(&mut self, w: W, a: Reg, b: Reg) {
        self.op_rr(w, &[Self::sized(w, 0x84)], b.0, true, a);
    }

    /// `test r, imm`.
    #[inline]
    pub fn test_ri(&mut self, w: W, r: Reg, imm: i32) {
        self.op_rr(w, &[Self::sized(w, 0xf6)], 0, false, r);
        self.imm(w, imm);
    }

    /// `inc`, `dec`, `not` or `neg` of `r`.
    #[inline]
    pub fn unary(&mut self, op: Unary, w: W, r: Reg) {
        let (opcode, ext) = match op {
            Unary::Inc => (0xfe, 0),
            Unary::Dec => (0xfe, 1),
            Unary::Not => (0xf6, 2),
            Unary::Neg => (0xf6, 3),
        };
        self.op_rr(w, &[Self::sized(w, opcode)], ext, false, r);
    }

    /// `op r, imm` (a shift count of 1 has no shorter form here: the flags of the two forms are
    /// the same).
    #[inline]
    pub fn shift_ri(&mut self, op: Shift, w: W, r: Reg, imm: u8) {
        self.op_rr(w, &[Self::sized(w, 0xc0)], op as u8, false, r);
        self.byte(imm);
    }

    /// `op r, cl`.
    #[inline]
    pub fn shift_cl(&mut self, op: Shift, w: W, r: Reg) {
        self.op_rr(w, &[Self::sized(w, 0xd2)], op as u8, false, r);
    }

    /// `imul dst, src` (W, D or Q).
    #[inline]
    pub fn imul_rr(&mut self, w: W, dst: Reg, src: Reg) {
        self.op_rr(w, &[0x0f, 0xaf], dst.0, false, src);
    }

    /// `imul dst, src, imm` (W, D or Q).
    #[inline]
    pub fn imul_rri(&mut self, w: W, dst: Reg, src: Reg, imm: i32) {
        if (-128..128).contains(&imm) {
            self.op_rr(w, &[0x6b], dst.0, false, src);
            self.byte(imm as u8);
        } else {
            self.op_rr(w, &[0x69], dst.0, false, src);
            self.imm(w, imm);
        }
    }

    /// `setcc r` (the byte register).
    #[inline]
    pub fn setcc(&mut self, cc: Cond, r: Reg) {
        self.op_rr(W::B, &[0x0f, 0x90 | cc.0], 0, false, r);
    }

    /// `cmovcc dst, src` (W, D or Q).
    #[inline]
    pub fn cmov(&mut self, cc: Cond, w: W, dst: Reg, src: Reg) {
        self.op_rr(w, &[0x0f, 0x40 | cc.0], dst.0, false, src);
    }

    // --- control ----------------------------------------------------------------------------

    /// A rel32 field to `l`: its distance now if `l` is bound, else patched by `finish`.
    #[inline]
    fn rel32(&mut self, l: Label) {
        let at = self.code.len() as u32;
        match self.labels[l.0 as usize] {
            UNBOUND => {
                self.fixups.push((at, l));
                self.imm32(0);
            }
            to => self.imm32(to.wrapping_sub(at + 4) as i32),
        }
    }

    /// `jcc l`.
    #[inline]
    pub fn jcc(&mut self, cc: Cond, l: Label) {
        self.bytes(&[0x0f, 0x80 | cc.0]);
        self.rel32(l);
    }

    /// `jmp l`.
    #[inline]
    pub fn jmp(&mut self, l: Label) {
        self.byte(0xe9);
        self.rel32(l);
    }

    /// `jmp r` (to the 64-bit address in `r`).
    #[inline]
    pub fn jmp_r(&mut self, r: Reg) {
        self.op_rr(W::D, &[0xff], 4, false, r);
    }

    /// `call r` (the 64-bit address in `r`).
    #[inline]
    pub fn call_r(&mut self, r: Reg) {
        self.op_rr(W::D, &[0xff], 2, false, r);
    }

    #[inline]
    pub fn ret(&mut self) {
        self.byte(0xc3);
    }

    /// `pushfq`: the host's flags onto the stack.
    #[inline]
    pub fn pushf(&mut self) {
        self.byte(0x9c);
    }

    /// `push r` (64-bit).
    #[inline]
    pub fn push(&mut self, r: Reg) {
        self.prefixes(W::D, 0, 0, r.ext(), false);
        self.byte(0x50 + r.low());
    }

    /// `pop r` (64-bit).
    #[inline]
    pub fn pop(&mut self, r: Reg) {
        self.prefixes(W::D, 0, 0, r.ext(), false);
        self.byte(0x58 + r.low());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};

    /// Every register, and the memory operands that take each special case of ModRM and SIB.
    fn regs() -> impl Iterator<Item = Reg> {
        (0..16).map(Reg)
    }

    fn mems() -> Vec<Mem> {
        let mut v = Vec::new();
        for base in regs() {
            for disp in [0, 8, -128, 127, 128, -129, 0x1234_5678, i32::MIN] {
                v.push(Mem::at(base, disp));
            }
        }
        for (base, index) in [(Reg::RAX, Reg::RCX), (Reg::RSP, Reg::RBP), (Reg::R12, Reg::R13), (Reg::RBP, Reg::R15)] {
            for shift in 0..4 {
                for disp in [0, -8, 0x1000] {
                    v.push(Mem::indexed(base, index, shift, disp));
                }
            }
        }
        v
    }

    fn name(r: Reg, w: W) -> &'static str {
        const Q: [&str; 16] = [
            "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
            "r15",
        ];
        const D: [&str; 16] = [
            "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d",
            "r14d", "r15d",
        ];
        const WD: [&str; 16] = [
            "ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w",
            "r15w",
        ];
        const B: [&str; 16] = [
            "al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b",
            "r15b",
        ];
        (match w {
            W::B => B,
            W::W => WD,
            W::D => D,
            W::Q => Q,
        })[r.0 as usize]
    }

    /// A number as iced-x86 writes it: 0-9 in decimal, else hexadecimal with an `h` suffix
    /// (and a leading 0 before a letter).
    fn num(v: u64) -> String {
        let s = format!("{v:X}");
        if v < 10 {
            format!("{v}")
        } else if s.starts_with(|c: char| c.is_ascii_alphabetic()) {
            format!("0{s}h")
        } else {
            format!("{s}h")
        }
    }

    /// An immediate of width `w`, as shown: the operation's width, so a negative one is its
    /// two's complement there.
    fn imm_text(w: W, v: i64) -> String {
        num(v as u64 & mask(w))
    }

    fn mask(w: W) -> u64 {
        match w {
            W::B => 0xff,
            W::W => 0xffff,
            W::D => 0xffff_ffff,
            W::Q => u64::MAX,
        }
    }

    fn size_word(w: W) -> &'static str {
        match w {
            W::B => "byte",
            W::W => "word",
            W::D => "dword",
            W::Q => "qword",
        }
    }

    fn mem_text(m: Mem, w: Option<W>) -> String {
        let mut s = String::new();
        if let Some(w) = w {
            s += size_word(w);
            s += " ptr ";
        }
        s += "[";
        s += name(m.base, W::Q);
        if let Some((i, shift)) = m.index {
            s += "+";
            s += name(i, W::Q);
            if shift > 0 {
                s += &format!("*{}", 1 << shift);
            }
        }
        if m.disp > 0 {
            s += "+";
            s += &num(m.disp as u64);
        } else if m.disp < 0 {
            s += "-";
            s += &num(m.disp.unsigned_abs() as u64);
        }
        s + "]"
    }

    /// Decodes the whole of `code` as one 64-bit instruction, in iced-x86's Intel syntax.
    fn decode_one(code: &[u8]) -> String {
        let mut d = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
        let mut i = Instruction::default();
        d.decode_out(&mut i);
        assert!(!i.is_invalid(), "{code:02x?} does not decode");
        assert_eq!(i.len(), code.len(), "{code:02x?} is more than one instruction");
        let mut f = IntelFormatter::new();
        f.options_mut().set_space_after_operand_separator(true);
        f.options_mut().set_always_show_scale(false);
        let mut out = String::new();
        f.format(&i, &mut out);
        out
    }

    /// Assembles one instruction with `emit` and checks iced-x86 reads it as `want`.
    fn check(want: &str, emit: impl FnOnce(&mut Asm)) {
        let mut a = Asm::new();
        emit(&mut a);
        let code = a.finish().unwrap().to_vec();
        assert_eq!(decode_one(&code), want, "{code:02x?}");
    }

    const WIDTHS: [W; 4] = [W::B, W::W, W::D, W::Q];
    const ALUS: [(Alu, &str); 8] = [
        (Alu::Add, "add"),
        (Alu::Or, "or"),
        (Alu::Adc, "adc"),
        (Alu::Sbb, "sbb"),
        (Alu::And, "and"),
        (Alu::Sub, "sub"),
        (Alu::Xor, "xor"),
        (Alu::Cmp, "cmp"),
    ];

    #[test]
    fn moves_between_registers_and_memory() {
        for w in WIDTHS {
            for a in regs() {
                for b in regs() {
                    check(&format!("mov {}, {}", name(a, w), name(b, w)), |x| x.mov_rr(w, a, b));
                    check(&format!("xchg {}, {}", name(b, w), name(a, w)), |x| x.xchg_rr(w, a, b));
                }
                for m in mems() {
                    let r = name(a, w);
                    check(&format!("mov {r}, {}", mem_text(m, None)), |x| x.load(w, a, m));
                    check(&format!("mov {}, {r}", mem_text(m, None)), |x| x.store(w, m, a));
                }
            }
            for m in mems() {
                let imm = if w == W::B { 0x7f } else { -2 };
                let shown = imm_text(w, imm as i64);
                check(&format!("mov {}, {shown}", mem_text(m, Some(w))), |x| x.store_imm(w, m, imm));
            }
        }
    }

    #[test]
    fn immediates_take_their_shortest_form() {
        for r in regs() {
            let (d, q) = (name(r, W::D), name(r, W::Q));
            check(&format!("xor {d}, {d}"), |x| x.mov_imm(r, 0));
            check(&format!("mov {d}, 12345678h"), |x| x.mov_imm(r, 0x1234_5678));
            check(&format!("mov {d}, 0FFFFFFFFh"), |x| x.mov_imm(r, 0xffff_ffff));
            check(&format!("mov {q}, 0FFFFFFFFFFFFFFFFh"), |x| x.mov_imm(r, u64::MAX));
            check(&format!("mov {q}, 7FF5B87B5000h"), |x| x.mov_imm(r, 0x7ff5_b87b_5000));
        }
        let mut a = Asm::new();
        a.mov_imm(Reg::RAX, 0x7ff5_b87b_5000);
        assert_eq!(a.len(), 10, "movabs");
        let mut a = Asm::new();
        a.mov_imm(Reg::RAX, u64::MAX);
        assert_eq!(a.len(), 7, "sign-extended");
    }

    #[test]
    fn extensions_and_lea() {
        for from in [W::B, W::W] {
            for a in regs() {
                for b in regs() {
                    let (d, s) = (name(a, W::D), name(b, from));
                    check(&format!("movzx {d}, {s}"), |x| x.movzx_rr(from, a, b));
                    check(&format!("movsx {d}, {s}"), |x| x.movsx_rr(from, a, b));
                }
                for m in mems() {
                    let d = name(a, W::D);
                    check(&format!("movzx {d}, {}", mem_text(m, Some(from))), |x| x.movzx_load(from, a, m));
                    check(&format!("movsx {d}, {}", mem_text(m, Some(from))), |x| x.movsx_load(from, a, m));
                }
            }
        }
        for w in [W::D, W::Q] {
            for r in regs() {
                for m in mems() {
                    check(&format!("lea {}, {}", name(r, w), mem_text(m, None)), |x| x.lea(w, r, m));
                }
                check(&format!("bswap {}", name(r, w)), |x| x.bswap(w, r));
            }
        }
    }

    #[test]
    fn alu_operations_in_every_form() {
        for (op, text) in ALUS {
            for w in WIDTHS {
                for a in regs() {
                    for b in regs() {
                        check(&format!("{text} {}, {}", name(a, w), name(b, w)), |x| x.alu_rr(op, w, a, b));
                    }
                    for imm in [1, -1, 127, -128, 128, 0x1234] {
                        let imm = if w == W::B { imm as i8 as i32 } else { imm };
                        let shown = imm_text(w, imm as i64);
                        check(&format!("{text} {}, {shown}", name(a, w)), |x| x.alu_ri(op, w, a, imm));
                    }
                }
                for m in mems().into_iter().step_by(3) {
                    let r = Reg((m.disp as u8) & 15);
                    check(&format!("{text} {}, {}", name(r, w), mem_text(m, None)), |x| x.alu_rm(op, w, r, m));
                    check(&format!("{text} {}, {}", mem_text(m, None), name(r, w)), |x| x.alu_mr(op, w, m, r));
                    check(&format!("{text} {}, 5", mem_text(m, Some(w))), |x| x.alu_mi(op, w, m, 5));
                    if w != W::B {
                        check(&format!("{text} {}, 1000h", mem_text(m, Some(w))), |x| x.alu_mi(op, w, m, 0x1000));
                    }
                }
            }
        }
        let mut a = Asm::new();
        a.alu_ri(Alu::Add, W::D, Reg::RAX, -1);
        assert_eq!(a.len(), 3, "a byte immediate");
    }

    #[test]
    fn tests_unary_shifts_and_multiplies() {
        const SHIFTS: [(Shift, &str); 7] = [
            (Shift::Rol, "rol"),
            (Shift::Ror, "ror"),
            (Shift::Rcl, "rcl"),
            (Shift::Rcr, "rcr"),
            (Shift::Shl, "shl"),
            (Shift::Shr, "shr"),
            (Shift::Sar, "sar"),
        ];
        for w in WIDTHS {
            for a in regs() {
                let r = name(a, w);
                for b in regs() {
                    check(&format!("test {r}, {}", name(b, w)), |x| x.test_rr(w, a, b));
                }
                check(&format!("test {r}, 41h"), |x| x.test_ri(w, a, 0x41));
                for (op, text) in [(Unary::Inc, "inc"), (Unary::Dec, "dec"), (Unary::Not, "not"), (Unary::Neg, "neg")] {
                    check(&format!("{text} {r}"), |x| x.unary(op, w, a));
                }
                for (op, text) in SHIFTS {
                    check(&format!("{text} {r}, 3"), |x| x.shift_ri(op, w, a, 3));
                    check(&format!("{text} {r}, cl"), |x| x.shift_cl(op, w, a));
                }
                if w != W::B {
                    for b in regs() {
                        let s = name(b, w);
                        check(&format!("imul {r}, {s}"), |x| x.imul_rr(w, a, b));
                        // iced-x86 writes `imul r, r, imm` as `imul r, imm`.
                        let s3 = if a == b { String::new() } else { format!("{s}, ") };
                        check(&format!("imul {r}, {s3}{}", imm_text(w, -3)), |x| x.imul_rri(w, a, b, -3));
                        check(&format!("imul {r}, {s3}1000h"), |x| x.imul_rri(w, a, b, 0x1000));
                    }
                }
            }
        }
    }

    #[test]
    fn conditions_and_control() {
        const CC: [&str; 16] = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
        for (c, text) in CC.iter().enumerate() {
            let cc = Cond(c as u8);
            for r in regs() {
                check(&format!("set{text} {}", name(r, W::B)), |x| x.setcc(cc, r));
                for w in [W::W, W::D, W::Q] {
                    check(&format!("cmov{text} {}, {}", name(r, w), name(Reg(15 - r.0), w)), |x| {
                        x.cmov(cc, w, r, Reg(15 - r.0))
                    });
                }
            }
        }
        for r in regs() {
            let q = name(r, W::Q);
            check(&format!("jmp {q}"), |x| x.jmp_r(r));
            check(&format!("call {q}"), |x| x.call_r(r));
            check(&format!("push {q}"), |x| x.push(r));
            check(&format!("pop {q}"), |x| x.pop(r));
        }
        check("ret", |x| x.ret());
        assert_eq!(
            (Cond::E.inverse(), Cond::B.inverse(), Cond::L.inverse(), Cond::A.inverse()),
            (Cond::NE, Cond::AE, Cond::GE, Cond::BE)
        );
    }

    /// Branches backwards and forwards land on their labels, whether bound before or after.
    #[test]
    fn branches_reach_their_labels() {
        let mut a = Asm::new();
        let (top, out) = (a.label(), a.label());
        a.bind(top);
        a.alu_ri(Alu::Sub, W::D, Reg::RCX, 1); // 0: 3 bytes
        a.jcc(Cond::E, out); // 3: 6 bytes
        a.jmp(top); // 9: 5 bytes
        a.bind(out);
        a.ret(); // 14
        let code = a.finish().unwrap().to_vec();
        let mut d = Decoder::with_ip(64, &code, 0x1000, DecoderOptions::NONE);
        let targets: Vec<u64> = d
            .iter()
            .filter(|i| i.is_jcc_short_or_near() || i.is_jmp_short_or_near())
            .map(|i| i.near_branch_target())
            .collect();
        assert_eq!(targets, [0x100e, 0x1000]);

        let mut a = Asm::new();
        let l = a.label();
        a.jmp(l);
        assert_eq!(a.finish(), Err(AsmError::Unbound(l)));
    }
}
