//! The "286 profile": how the runner bridges the differences between the chip that produced
//! the SingleStepTests 80286 vectors (a Harris 80C286 in real mode) and the CPU emu models (an
//! i686). Every rule here is either something the SDM leaves undefined, or a documented
//! architectural difference between the 286 and later CPUs, confirmed in the vectors. Nothing is
//! masked because emu gets it wrong: a wrong result is a failure to fix in `cpu-x86`.
//!
//! Rules (each is justified again where it is implemented):
//!
//! 1. **FLAGS bits 12-15 are clear.** A 286 in real mode cannot set IOPL (12-13), NT (14) or
//!    bit 15: they read as 0, and PUSHF/INT push them as 0 (the vectors confirm it: an INIT
//!    FLAGS of `4C86h` becomes `0C86h` in FINA and on the stack). An i686 keeps whatever POPF or
//!    IRET loads. The runner loads FLAGS with these bits clear ([`load_flags`]) and never
//!    compares them in the FLAGS register ([`FLAGS_286_FIXED`]); FLAGS images in memory are
//!    compared in full (after rule 1's load they agree on both CPUs).
//! 2. **Undefined arithmetic flags** ([`Rules::undefined_flags`]), per the SDM's "Flags
//!    Affected" entries (the suite ships no mask file):
//!    - MUL, IMUL (F6/F7 /4 /5, 69, 6B): SF, ZF, AF, PF.
//!    - DIV, IDIV (F6/F7 /6 /7): all six, CF OF SF ZF AF PF. When the division raises #DE,
//!      the same six bits of the FLAGS image pushed by the exception are not compared either:
//!      the 286 has already changed them (the vectors show it) and the SDM defines none of them.
//!    - Shifts (SHL/SAL, SHR, SAR and the 286's undocumented /6 alias of SHL), masked count
//!      c != 0: AF; OF if c != 1; CF for SHL/SHR if c >= the operand width.
//!    - Rotates (ROL, ROR, RCL, RCR), masked count c != 0 and != 1: OF.
//!    - A masked count of 0 changes no flag, so nothing is masked then. The 286 masks shift
//!      and rotate counts to 5 bits, like the 386 and later, so the masked count is the same on
//!      both CPUs.
//!    - DAA, DAS: OF. AAA, AAS: OF, SF, ZF, PF. AAM, AAD: OF, AF, CF.
//!    - Not masked although the SDM leaves it undefined: AF after AND, OR, XOR and TEST. The
//!      286 clears it in every vector, as emu does, so comparing it costs nothing and keeps
//!      the check strict.
//! 3. **LOCK is accepted on every instruction** by the 286; from the 386 on, LOCK on an
//!    instruction that is not a locked read-modify-write of memory raises #UD. LOCK has no other
//!    architectural effect (it drives the LOCK# pin), so the runner replaces each LOCK byte in
//!    the instruction by a segment-override prefix naming the segment the instruction already
//!    uses ([`neutral_prefix`]), runs it, and puts the LOCK byte back before comparing memory.
//! 4. **FS and GS do not exist on the 286**: `MOV r/m16, Sreg` (8C) and `MOV Sreg, r/m16` (8E)
//!    with ModRM.reg 4 or 5 are invalid opcodes (#UD, vector 6) on the 286 and move FS/GS on
//!    an i686. The runner raises #UD for them through the CPU's own exception delivery
//!    ([`Rules::fault`]).
//! 5. **The instruction length limit is 10 bytes** on the 286 (15 from the 386 on): a longer
//!    instruction (redundant prefixes) raises #GP, vector 13, with CS:IP at its first byte. The
//!    runner raises it the same way ([`Rules::fault`]), unless the instruction is invalid (#UD
//!    wins: the vectors show #UD for an invalid opcode behind 10+ bytes of prefixes).
//! 6. **Stack-segment overruns raise interrupt 13 in real mode on the 286**, not #SS (12) as
//!    from the 386 on: the vectors show vector 13 for RET with SP = FFFFh and LEAVE with
//!    BP = FFFFh (Intel's 80286 manual calls it the segment overrun exception). The runner points
//!    IVT entry 12 at a marker address (when the test gives no entry 12 of its own); when emu
//!    delivers #SS there, the runner continues at the test's entry 13, which is what the 286 did
//!    after pushing the very same FLAGS, CS and IP. The 4 marker bytes belong to the runner and
//!    are not compared.
//!
//! 7. **POP m16 to offset FFFFh increments SP before it faults** on the 286: the word write
//!    raises interrupt 13 with SP already 2 higher, so the exception frame lands 2 bytes higher
//!    than on an i686, whose faults leave the registers as they were (the vectors show it for
//!    every `8F /0` test with the destination at FFFFh). The runner computes the destination
//!    offset from INIT; when it is FFFFh (and SP itself is not, which faults first, before any
//!    change), it adds 2 to SP and raises #GP itself ([`Fault286::GpAfterPop`]).
//! 8. **String instructions that fault advance their registers first** on the 286: a word
//!    MOVS/CMPS/STOS/LODS/SCAS/INS/OUTS whose access at offset FFFFh raises interrupt 13 has
//!    already stepped SI and/or DI (and REP's CX) for that iteration, where an i686 leaves them
//!    at the faulting iteration's values. Which ones moved depends on which access faulted, so
//!    for a string instruction whose test ends in interrupt 13 the runner does not compare SI,
//!    DI and CX ([`Rules::unchecked_regs`]); everything else (the frame, memory, flags) is.
//! 9. **AAM 0 changes the flags before #DE** on the 286 (its division microcode runs first), as
//!    DIV and IDIV do: the six arithmetic flags are compared neither in FLAGS nor in the pushed
//!    image (rule 2's #DE treatment). An i686 leaves FLAGS as they were.
//! 10. **The 286 had no coprocessor**: the vectors come from an 80C286 without an 80287, on
//!     which an ESC instruction (D8-DF) does no arithmetic and only moves IP past itself (the
//!     vectors show IP advanced by the instruction's length, registers, flags and memory
//!     untouched), except that an ESC with a memory operand still reads the operand's first
//!     word, so one at offset FFFFh raises interrupt 13 like any word access there. An i686 has
//!     its x87 on the chip and would compute. The runner executes such an instruction as the
//!     286 did: interrupt 13 for a memory operand at FFFFh ([`Fault286::Gp`]), else it moves IP
//!     past it ([`Fault286::NoCoprocessor`]).
//!
//! Checked and found equal on both CPUs (so no rule): PUSH SP pushes the value before the push
//! (the 8086 pushed the new one); #DE and other faults push the address of the faulting
//! instruction, prefixes included; a word access at offset FFFFh raises #GP (13); shift counts
//! masked to 5 bits.

use super::moo::{r, Test};

pub const CF: u16 = 1 << 0;
pub const PF: u16 = 1 << 2;
pub const AF: u16 = 1 << 4;
pub const ZF: u16 = 1 << 6;
pub const SF: u16 = 1 << 7;
pub const OF: u16 = 1 << 11;
pub const ARITH: u16 = CF | PF | AF | ZF | SF | OF;

/// Rule 1: FLAGS bits a real-mode 286 holds at 0 (IOPL, NT, bit 15).
pub const FLAGS_286_FIXED: u16 = 0xf000;

/// Rule 1: the FLAGS value a 286 can hold, for loading INIT: bits 12-15 clear, bit 1 set.
pub fn load_flags(v: u16) -> u16 {
    (v & !FLAGS_286_FIXED) | 2
}

/// A fault the 286 raises where an i686 would not (rules 4 and 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault286 {
    /// Invalid opcode, vector 6.
    Ud,
    /// Vector 13 (#GP in the i686's terms).
    Gp,
    /// Rule 7: SP += 2, then vector 13.
    GpAfterPop,
    /// Rule 10: an ESC opcode without a coprocessor: IP moves past it, nothing else happens.
    NoCoprocessor,
}

/// What the profile says about one test.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// FLAGS bits the SDM leaves undefined after this instruction (rule 2).
    pub undefined_flags: u16,
    /// FLAGS bits not compared in the image an exception pushes (rule 2, DIV/IDIV).
    pub undefined_pushed_flags: u16,
    /// Raise this (or, for rule 10, do this) instead of executing the instruction (rules 4, 5, 7, 10).
    pub fault: Option<Fault286>,
    /// Offsets (from the instruction's first byte) of LOCK prefixes to neutralise (rule 3),
    /// with the prefix byte to put there while the instruction runs.
    pub lock_patches: Vec<(usize, u8)>,
    /// Registers not compared (bits in `REGS` order; rule 8).
    pub unchecked_regs: u16,
}

/// The parts of a 286 instruction the rules look at, found without emu's decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Number of prefix bytes.
    pub prefixes: usize,
    pub opcode: u8,
    pub modrm: Option<u8>,
    /// The last segment-override prefix, as a prefix byte.
    pub seg_override: Option<u8>,
}

impl Shape {
    pub fn reg(&self) -> u8 {
        self.modrm.map_or(0, |m| (m >> 3) & 7)
    }
    /// Bytes of displacement after the ModRM byte (16-bit addressing).
    pub fn disp_len(&self) -> usize {
        match self.modrm {
            Some(m) => match (m >> 6, m & 7) {
                (0, 6) => 2,
                (0, _) | (3, _) => 0,
                (1, _) => 1,
                _ => 2,
            },
            None => 0,
        }
    }
}

/// One-byte opcodes with a ModRM byte on the 286.
fn has_modrm(op: u8) -> bool {
    match op {
        0x00..=0x3f => op & 7 < 4,
        0x62 | 0x63 | 0x69 | 0x6b | 0x80..=0x8f | 0xc0 | 0xc1 | 0xc4..=0xc7 | 0xd0..=0xd3 | 0xd8..=0xdf => true,
        0xf6 | 0xf7 | 0xfe | 0xff => true,
        _ => false,
    }
}

/// Splits `bytes` into prefixes, opcode and ModRM.
pub fn shape(bytes: &[u8]) -> Option<Shape> {
    let mut i = 0;
    let mut seg_override = None;
    loop {
        match *bytes.get(i)? {
            0x26 | 0x2e | 0x36 | 0x3e => seg_override = Some(bytes[i]),
            0xf0 | 0xf2 | 0xf3 => {}
            _ => break,
        }
        i += 1;
    }
    let opcode = bytes[i];
    let modrm = if has_modrm(opcode) { Some(*bytes.get(i + 1)?) } else { None };
    Some(Shape { prefixes: i, opcode, modrm, seg_override })
}

/// The 16-bit offset of the ModRM memory operand, from the registers in `regs`; `None` for a
/// register operand.
pub fn ea16(s: &Shape, bytes: &[u8], regs: &super::moo::Regs) -> Option<u16> {
    let m = s.modrm?;
    let (md, rm) = (m >> 6, m & 7);
    if md == 3 {
        return None;
    }
    let g = |i: usize| regs[i].unwrap_or(0);
    let at = s.prefixes + 2;
    let disp = match s.disp_len() {
        1 => *bytes.get(at)? as i8 as u16,
        2 => u16::from_le_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]),
        _ => 0,
    };
    let base = match (md, rm) {
        (0, 6) => 0,
        (_, 0) => g(r::BX).wrapping_add(g(r::SI)),
        (_, 1) => g(r::BX).wrapping_add(g(r::DI)),
        (_, 2) => g(r::BP).wrapping_add(g(r::SI)),
        (_, 3) => g(r::BP).wrapping_add(g(r::DI)),
        (_, 4) => g(r::SI),
        (_, 5) => g(r::DI),
        (_, 6) => g(r::BP),
        _ => g(r::BX),
    };
    Some(base.wrapping_add(disp))
}

/// Rule 3: a segment-override prefix that changes nothing for this instruction: the override
/// already in effect, else the default segment of its ModRM memory operand (SS for BP-based
/// forms), else DS (string sources, XLAT, moffs; instructions without memory operands ignore it).
pub fn neutral_prefix(s: &Shape) -> u8 {
    if let Some(p) = s.seg_override {
        return p;
    }
    match s.modrm {
        Some(m) if m >> 6 != 3 && matches!(m & 7, 2 | 3) => 0x36,
        Some(m) if m >> 6 != 0 && m >> 6 != 3 && m & 7 == 6 => 0x36,
        _ => 0x3e,
    }
}

/// The profile's rules for `t`. `invalid` says whether emu decodes the instruction as invalid
/// (then emu's own #UD takes precedence over the length limit, rule 5).
pub fn rules(t: &Test, invalid: bool) -> Rules {
    let mut rules = Rules::default();
    let Some(s) = shape(&t.bytes) else { return rules };
    let (op, reg) = (s.opcode, s.reg());

    // Rule 3: LOCK prefixes.
    let neutral = neutral_prefix(&s);
    rules.lock_patches = (0..s.prefixes).filter(|&i| t.bytes[i] == 0xf0).map(|i| (i, neutral)).collect();

    // Rule 4: FS/GS.
    if matches!(op, 0x8c | 0x8e) && matches!(reg, 4 | 5) {
        rules.fault = Some(Fault286::Ud);
    }
    // Rule 10: ESC opcodes without a coprocessor.
    if rules.fault.is_none() && (0xd8..=0xdf).contains(&op) {
        let word_at_ffff = ea16(&s, &t.bytes, &t.init.regs) == Some(0xffff);
        rules.fault = Some(if word_at_ffff { Fault286::Gp } else { Fault286::NoCoprocessor });
    }
    // Rule 5: the tests' bytes are the instruction followed by the HLT the test ends on.
    let len = t.bytes.len().saturating_sub(1);
    if rules.fault.is_none() && len > 10 && !invalid {
        rules.fault = Some(Fault286::Gp);
    }

    // Rule 7: POP m16 with the destination at offset FFFFh.
    let regs = &t.init.regs;
    if rules.fault.is_none() && op == 0x8f && reg == 0 && regs[r::SP] != Some(0xffff) {
        if let Some(0xffff) = ea16(&s, &t.bytes, regs) {
            rules.fault = Some(Fault286::GpAfterPop);
        }
    }
    // Rule 8: string instructions ending in interrupt 13.
    if matches!(op, 0x6c..=0x6f | 0xa4..=0xa7 | 0xaa..=0xaf) && t.exception.is_some_and(|e| e.vector == 13) {
        rules.unchecked_regs = 1 << r::SI | 1 << r::DI | 1 << r::CX;
    }

    // Rule 2: undefined flags.
    rules.undefined_flags = match (op, reg) {
        (0xf6 | 0xf7, 4 | 5) | (0x69 | 0x6b, _) => SF | ZF | AF | PF,
        (0xf6 | 0xf7, 6 | 7) => {
            rules.undefined_pushed_flags = ARITH;
            ARITH
        }
        (0x27 | 0x2f, _) => OF,
        (0x37 | 0x3f, _) => OF | SF | ZF | PF,
        // Rule 9: AAM 0 raises #DE after changing the flags.
        (0xd4, _) if t.bytes.get(s.prefixes + 1) == Some(&0) => {
            rules.undefined_pushed_flags = ARITH;
            ARITH
        }
        (0xd4 | 0xd5, _) => OF | AF | CF,
        (0xc0 | 0xc1 | 0xd0..=0xd3, _) => {
            let raw = match op {
                0xd0 | 0xd1 => 1,
                0xd2 | 0xd3 => t.init.regs[r::CX].unwrap_or(0) as u8,
                _ => t.bytes.get(s.prefixes + 2 + s.disp_len()).copied().unwrap_or(0),
            };
            let count = raw & 31;
            let width = if op & 1 == 0 { 8 } else { 16 };
            match (reg, count) {
                (_, 0) => 0,
                (0..=3, 1) => 0,
                (0..=3, _) => OF,
                (_, c) => {
                    let of = if c != 1 { OF } else { 0 };
                    let cf = if reg != 7 && c >= width { CF } else { 0 };
                    AF | of | cf
                }
            }
        }
        _ => 0,
    };
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(bytes: &[u8], cx: u16) -> Test {
        let mut t = Test { bytes: bytes.to_vec(), ..Default::default() };
        t.init.regs[r::CX] = Some(cx);
        t
    }

    #[test]
    fn shapes_and_neutral_prefixes() {
        let s = shape(&[0xf0, 0x2e, 0x00, 0x46, 0x10, 0xf4]).unwrap();
        assert_eq!((s.prefixes, s.opcode, s.modrm, s.seg_override), (2, 0x00, Some(0x46), Some(0x2e)));
        assert_eq!(neutral_prefix(&s), 0x2e);
        assert_eq!(neutral_prefix(&shape(&[0xf0, 0x00, 0x46, 0x10]).unwrap()), 0x36); // [bp+disp8]
        assert_eq!(neutral_prefix(&shape(&[0xf0, 0x00, 0x06, 0, 0]).unwrap()), 0x3e); // [disp16]
        assert_eq!(neutral_prefix(&shape(&[0xf0, 0xcc]).unwrap()), 0x3e);
    }

    #[test]
    fn undefined_flags_follow_the_sdm() {
        assert_eq!(rules(&test(&[0xd0, 0xe0, 0xf4], 0), false).undefined_flags, AF); // shl al,1
        assert_eq!(rules(&test(&[0xd2, 0xe0, 0xf4], 0x20), false).undefined_flags, 0); // count 32 → 0
        assert_eq!(rules(&test(&[0xd2, 0xe0, 0xf4], 9), false).undefined_flags, AF | OF | CF);
        assert_eq!(rules(&test(&[0xd3, 0xf8, 0xf4], 9), false).undefined_flags, AF | OF); // sar ax
        assert_eq!(rules(&test(&[0xc0, 0x46, 0x01, 0x02, 0xf4], 0), false).undefined_flags, OF); // rol
        assert_eq!(rules(&test(&[0xf7, 0xf1, 0xf4], 0), false).undefined_pushed_flags, ARITH);
        assert_eq!(rules(&test(&[0x24, 0x01, 0xf4], 0), false).undefined_flags, 0);
        assert_eq!(rules(&test(&[0x04, 0x01, 0xf4], 0), false).undefined_flags, 0);
    }

    #[test]
    fn faults_286_only() {
        assert_eq!(rules(&test(&[0x8c, 0xe0, 0xf4], 0), false).fault, Some(Fault286::Ud));
        let long = [[0x26u8; 9].as_slice(), &[0x90, 0x90, 0xf4]].concat();
        assert_eq!(rules(&test(&long[1..], 0), false).fault, None); // 10 bytes before the HLT: allowed
        let long = [[0x26u8; 10].as_slice(), &[0x90, 0xf4]].concat();
        assert_eq!(rules(&test(&long, 0), false).fault, Some(Fault286::Gp));
        assert_eq!(rules(&test(&long, 0), true).fault, None);
    }
}
