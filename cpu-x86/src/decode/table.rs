//! The opcode maps of the SDM (Vol. 2, Appendix A), one-byte and two-byte (0F), as data.
//!
//! This table is the specification the decoder, the disassembler, the interpreter's dispatch and
//! the JIT's block analysis all read. Each entry is a mnemonic, up to three operands in the SDM's
//! own letters ([`Spec`]), and attributes. Opcode groups (SDM Table A-6) select the entry by
//! ModRM.reg.

use super::mnemonic::Mnemonic::{self, *};
use super::operand::Spec::{self, *};

/// Ends a translated block: the instruction transfers control (the next EIP is not `eip + len`).
pub const JUMP: u8 = 1 << 0;
/// Ends a translated block: the instruction may change the CPU mode, the segment bases, IF, or
/// paging, which translated code assumes fixed.
pub const MODE: u8 = 1 << 1;
/// Accepts a LOCK prefix (when its destination is memory).
pub const LOCK: u8 = 1 << 2;

/// One opcode: what it does and its operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub mnemonic: Mnemonic,
    pub ops: [Spec; 3],
    pub attr: u8,
}

/// What one byte of an opcode map stands for.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    Op(Entry),
    /// An opcode group: ModRM.reg picks the entry.
    Group(&'static [Entry; 8]),
    /// A prefix byte (handled by the decoder before the opcode).
    Prefix,
    /// 0F: escape to the two-byte map.
    Escape,
    /// D8-DF: x87 escape, decoded with ModRM and executed by the FPU.
    X87,
}

const fn e(m: Mnemonic, a: Spec, b: Spec, c: Spec, attr: u8) -> Entry {
    Entry { mnemonic: m, ops: [a, b, c], attr }
}
const fn op0(m: Mnemonic, attr: u8) -> Slot {
    Slot::Op(e(m, Nil, Nil, Nil, attr))
}
const fn op1(m: Mnemonic, a: Spec, attr: u8) -> Slot {
    Slot::Op(e(m, a, Nil, Nil, attr))
}
const fn op2(m: Mnemonic, a: Spec, b: Spec, attr: u8) -> Slot {
    Slot::Op(e(m, a, b, Nil, attr))
}
const fn op3(m: Mnemonic, a: Spec, b: Spec, c: Spec) -> Slot {
    Slot::Op(e(m, a, b, c, 0))
}
const BAD: Entry = e(Invalid, Nil, Nil, Nil, JUMP);
const UD: Slot = Slot::Op(BAD);

/// The six ALU encodings that start each row 00-3F: `Eb,Gb  Ev,Gv  Gb,Eb  Gv,Ev  AL,Ib  eAX,Iz`.
const fn alu(m: Mnemonic, i: usize) -> Slot {
    let lock = if matches!(m, Cmp) { 0 } else { LOCK };
    match i {
        0 => op2(m, Eb, Gb, lock),
        1 => op2(m, Ev, Gv, lock),
        2 => op2(m, Gb, Eb, 0),
        3 => op2(m, Gv, Ev, 0),
        4 => op2(m, AL, Ib, 0),
        _ => op2(m, eAX, Iz, 0),
    }
}

const fn grp1(a: Spec, b: Spec) -> [Entry; 8] {
    let l = LOCK;
    [
        e(Add, a, b, Nil, l),
        e(Or, a, b, Nil, l),
        e(Adc, a, b, Nil, l),
        e(Sbb, a, b, Nil, l),
        e(And, a, b, Nil, l),
        e(Sub, a, b, Nil, l),
        e(Xor, a, b, Nil, l),
        e(Cmp, a, b, Nil, 0),
    ]
}
const fn grp2(a: Spec, b: Spec) -> [Entry; 8] {
    [
        e(Rol, a, b, Nil, 0),
        e(Ror, a, b, Nil, 0),
        e(Rcl, a, b, Nil, 0),
        e(Rcr, a, b, Nil, 0),
        e(Shl, a, b, Nil, 0),
        e(Shr, a, b, Nil, 0),
        e(Sal, a, b, Nil, 0),
        e(Sar, a, b, Nil, 0),
    ]
}
const fn grp3(a: Spec, imm: Spec) -> [Entry; 8] {
    [
        e(Test, a, imm, Nil, 0),
        e(Test, a, imm, Nil, 0),
        e(Not, a, Nil, Nil, LOCK),
        e(Neg, a, Nil, Nil, LOCK),
        e(Mul, a, Nil, Nil, 0),
        e(Imul, a, Nil, Nil, 0),
        e(Div, a, Nil, Nil, 0),
        e(Idiv, a, Nil, Nil, 0),
    ]
}

static G1_EB_IB: [Entry; 8] = grp1(Eb, Ib);
static G1_EV_IZ: [Entry; 8] = grp1(Ev, Iz);
static G1_EV_IBS: [Entry; 8] = grp1(Ev, Ibs);
static G2_EB_IB: [Entry; 8] = grp2(Eb, Ib);
static G2_EV_IB: [Entry; 8] = grp2(Ev, Ib);
static G2_EB_1: [Entry; 8] = grp2(Eb, One);
static G2_EV_1: [Entry; 8] = grp2(Ev, One);
static G2_EB_CL: [Entry; 8] = grp2(Eb, CL);
static G2_EV_CL: [Entry; 8] = grp2(Ev, CL);
static G3_EB: [Entry; 8] = grp3(Eb, Ib);
static G3_EV: [Entry; 8] = grp3(Ev, Iz);
static G4: [Entry; 8] = [e(Inc, Eb, Nil, Nil, LOCK), e(Dec, Eb, Nil, Nil, LOCK), BAD, BAD, BAD, BAD, BAD, BAD];
static G5: [Entry; 8] = [
    e(Inc, Ev, Nil, Nil, LOCK),
    e(Dec, Ev, Nil, Nil, LOCK),
    e(Call, Ev, Nil, Nil, JUMP),
    e(CallFar, Mp, Nil, Nil, JUMP | MODE),
    e(Jmp, Ev, Nil, Nil, JUMP),
    e(JmpFar, Mp, Nil, Nil, JUMP | MODE),
    e(Push, Ev, Nil, Nil, 0),
    BAD,
];
static G1A: [Entry; 8] = [e(Pop, Ev, Nil, Nil, 0), BAD, BAD, BAD, BAD, BAD, BAD, BAD];
static G11_EB: [Entry; 8] = [e(Mov, Eb, Ib, Nil, 0), BAD, BAD, BAD, BAD, BAD, BAD, BAD];
static G11_EV: [Entry; 8] = [e(Mov, Ev, Iz, Nil, 0), BAD, BAD, BAD, BAD, BAD, BAD, BAD];
static G6: [Entry; 8] = [
    e(Sldt, Ev, Nil, Nil, 0),
    e(Str, Ev, Nil, Nil, 0),
    e(Lldt, Ew, Nil, Nil, MODE),
    e(Ltr, Ew, Nil, Nil, MODE),
    e(Verr, Ew, Nil, Nil, 0),
    e(Verw, Ew, Nil, Nil, 0),
    BAD,
    BAD,
];
static G7: [Entry; 8] = [
    e(Sgdt, M, Nil, Nil, 0),
    e(Sidt, M, Nil, Nil, 0),
    e(Lgdt, M, Nil, Nil, MODE),
    e(Lidt, M, Nil, Nil, MODE),
    e(Smsw, Ev, Nil, Nil, 0),
    BAD,
    e(Lmsw, Ew, Nil, Nil, MODE),
    e(Invlpg, M, Nil, Nil, MODE),
];
static G8: [Entry; 8] = [
    BAD,
    BAD,
    BAD,
    BAD,
    e(Bt, Ev, Ib, Nil, 0),
    e(Bts, Ev, Ib, Nil, LOCK),
    e(Btr, Ev, Ib, Nil, LOCK),
    e(Btc, Ev, Ib, Nil, LOCK),
];
static G9: [Entry; 8] = [BAD, e(Cmpxchg8b, Mq, Nil, Nil, LOCK), BAD, BAD, BAD, BAD, BAD, BAD];
/// Group 15 (0F AE) as a Pentium II has it: FXSAVE and FXRSTOR only (no SSE).
static G15: [Entry; 8] = [e(Fxsave, M, Nil, Nil, 0), e(Fxrstor, M, Nil, Nil, 0), BAD, BAD, BAD, BAD, BAD, BAD];

/// The one-byte opcode map (SDM Table A-2).
pub static ONE_BYTE: [Slot; 256] = {
    let mut t = [UD; 256];
    let rows = [Add, Or, Adc, Sbb, And, Sub, Xor, Cmp];
    let mut r = 0;
    while r < 8 {
        let mut i = 0;
        while i < 6 {
            t[r * 8 + i] = alu(rows[r], i);
            i += 1;
        }
        r += 1;
    }
    t[0x06] = op1(Push, ES, 0);
    t[0x07] = op1(Pop, ES, MODE);
    t[0x0e] = op1(Push, CS, 0);
    t[0x0f] = Slot::Escape;
    t[0x16] = op1(Push, SS, 0);
    t[0x17] = op1(Pop, SS, MODE);
    t[0x1e] = op1(Push, DS, 0);
    t[0x1f] = op1(Pop, DS, MODE);
    t[0x26] = Slot::Prefix;
    t[0x27] = op0(Daa, 0);
    t[0x2e] = Slot::Prefix;
    t[0x2f] = op0(Das, 0);
    t[0x36] = Slot::Prefix;
    t[0x37] = op0(Aaa, 0);
    t[0x3e] = Slot::Prefix;
    t[0x3f] = op0(Aas, 0);
    let mut i = 0;
    while i < 8 {
        t[0x40 + i] = op1(Inc, Zv, 0);
        t[0x48 + i] = op1(Dec, Zv, 0);
        t[0x50 + i] = op1(Push, Zv, 0);
        t[0x58 + i] = op1(Pop, Zv, 0);
        t[0x70 + i] = op1(Jcc, Jb, JUMP);
        t[0x78 + i] = op1(Jcc, Jb, JUMP);
        t[0x90 + i] = op2(Xchg, Zv, eAX, 0);
        t[0xb0 + i] = op2(Mov, Zb, Ib, 0);
        t[0xb8 + i] = op2(Mov, Zv, Iz, 0);
        t[0xd8 + i] = Slot::X87;
        i += 1;
    }
    t[0x60] = op0(Pusha, 0);
    t[0x61] = op0(Popa, 0);
    t[0x62] = op2(Bound, Gv, Ma, 0);
    t[0x63] = op2(Arpl, Ew, Gw, 0);
    t[0x64] = Slot::Prefix;
    t[0x65] = Slot::Prefix;
    t[0x66] = Slot::Prefix;
    t[0x67] = Slot::Prefix;
    t[0x68] = op1(Push, Iz, 0);
    t[0x69] = op3(Imul, Gv, Ev, Iz);
    t[0x6a] = op1(Push, Ibs, 0);
    t[0x6b] = op3(Imul, Gv, Ev, Ibs);
    t[0x6c] = op2(Ins, Yb, DX, 0);
    t[0x6d] = op2(Ins, Yv, DX, 0);
    t[0x6e] = op2(Outs, DX, Xb, 0);
    t[0x6f] = op2(Outs, DX, Xv, 0);
    t[0x80] = Slot::Group(&G1_EB_IB);
    t[0x81] = Slot::Group(&G1_EV_IZ);
    t[0x82] = Slot::Group(&G1_EB_IB);
    t[0x83] = Slot::Group(&G1_EV_IBS);
    t[0x84] = op2(Test, Eb, Gb, 0);
    t[0x85] = op2(Test, Ev, Gv, 0);
    t[0x86] = op2(Xchg, Eb, Gb, LOCK);
    t[0x87] = op2(Xchg, Ev, Gv, LOCK);
    t[0x88] = op2(Mov, Eb, Gb, 0);
    t[0x89] = op2(Mov, Ev, Gv, 0);
    t[0x8a] = op2(Mov, Gb, Eb, 0);
    t[0x8b] = op2(Mov, Gv, Ev, 0);
    t[0x8c] = op2(Mov, Ev, Sw, 0);
    t[0x8d] = op2(Lea, Gv, M, 0);
    t[0x8e] = op2(Mov, Sw, Ew, MODE);
    t[0x8f] = Slot::Group(&G1A);
    t[0x90] = op0(Nop, 0);
    t[0x98] = op0(Cbw, 0);
    t[0x99] = op0(Cwd, 0);
    t[0x9a] = op1(CallFar, Ap, JUMP | MODE);
    t[0x9b] = op0(Wait, 0);
    t[0x9c] = op0(Pushf, 0);
    t[0x9d] = op0(Popf, MODE);
    t[0x9e] = op0(Sahf, 0);
    t[0x9f] = op0(Lahf, 0);
    t[0xa0] = op2(Mov, AL, Ob, 0);
    t[0xa1] = op2(Mov, eAX, Ov, 0);
    t[0xa2] = op2(Mov, Ob, AL, 0);
    t[0xa3] = op2(Mov, Ov, eAX, 0);
    t[0xa4] = op2(Movs, Yb, Xb, 0);
    t[0xa5] = op2(Movs, Yv, Xv, 0);
    t[0xa6] = op2(Cmps, Xb, Yb, 0);
    t[0xa7] = op2(Cmps, Xv, Yv, 0);
    t[0xa8] = op2(Test, AL, Ib, 0);
    t[0xa9] = op2(Test, eAX, Iz, 0);
    t[0xaa] = op2(Stos, Yb, AL, 0);
    t[0xab] = op2(Stos, Yv, eAX, 0);
    t[0xac] = op2(Lods, AL, Xb, 0);
    t[0xad] = op2(Lods, eAX, Xv, 0);
    t[0xae] = op2(Scas, AL, Yb, 0);
    t[0xaf] = op2(Scas, eAX, Yv, 0);
    t[0xc0] = Slot::Group(&G2_EB_IB);
    t[0xc1] = Slot::Group(&G2_EV_IB);
    t[0xc2] = op1(Ret, Iw, JUMP);
    t[0xc3] = op0(Ret, JUMP);
    t[0xc4] = op2(Les, Gv, Mp, MODE);
    t[0xc5] = op2(Lds, Gv, Mp, MODE);
    t[0xc6] = Slot::Group(&G11_EB);
    t[0xc7] = Slot::Group(&G11_EV);
    t[0xc8] = op2(Enter, Iw, Ib, 0);
    t[0xc9] = op0(Leave, 0);
    t[0xca] = op1(RetFar, Iw, JUMP | MODE);
    t[0xcb] = op0(RetFar, JUMP | MODE);
    t[0xcc] = op0(Int3, JUMP | MODE);
    t[0xcd] = op1(Int, Ib, JUMP | MODE);
    t[0xce] = op0(Into, JUMP | MODE);
    t[0xcf] = op0(Iret, JUMP | MODE);
    t[0xd0] = Slot::Group(&G2_EB_1);
    t[0xd1] = Slot::Group(&G2_EV_1);
    t[0xd2] = Slot::Group(&G2_EB_CL);
    t[0xd3] = Slot::Group(&G2_EV_CL);
    t[0xd4] = op1(Aam, Ib, 0);
    t[0xd5] = op1(Aad, Ib, 0);
    t[0xd6] = op0(Salc, 0);
    t[0xd7] = op0(Xlat, 0);
    t[0xe0] = op1(Loopne, Jb, JUMP);
    t[0xe1] = op1(Loope, Jb, JUMP);
    t[0xe2] = op1(Loop, Jb, JUMP);
    t[0xe3] = op1(Jcxz, Jb, JUMP);
    t[0xe4] = op2(In, AL, Ib, 0);
    t[0xe5] = op2(In, eAX, Ib, 0);
    t[0xe6] = op2(Out, Ib, AL, 0);
    t[0xe7] = op2(Out, Ib, eAX, 0);
    t[0xe8] = op1(Call, Jz, JUMP);
    t[0xe9] = op1(Jmp, Jz, JUMP);
    t[0xea] = op1(JmpFar, Ap, JUMP | MODE);
    t[0xeb] = op1(Jmp, Jb, JUMP);
    t[0xec] = op2(In, AL, DX, 0);
    t[0xed] = op2(In, eAX, DX, 0);
    t[0xee] = op2(Out, DX, AL, 0);
    t[0xef] = op2(Out, DX, eAX, 0);
    t[0xf0] = Slot::Prefix;
    t[0xf2] = Slot::Prefix;
    t[0xf3] = Slot::Prefix;
    t[0xf1] = op0(Int1, JUMP | MODE);
    t[0xf4] = op0(Hlt, JUMP | MODE);
    t[0xf5] = op0(Cmc, 0);
    t[0xf6] = Slot::Group(&G3_EB);
    t[0xf7] = Slot::Group(&G3_EV);
    t[0xf8] = op0(Clc, 0);
    t[0xf9] = op0(Stc, 0);
    t[0xfa] = op0(Cli, MODE);
    t[0xfb] = op0(Sti, MODE);
    t[0xfc] = op0(Cld, 0);
    t[0xfd] = op0(Std, 0);
    t[0xfe] = Slot::Group(&G4);
    t[0xff] = Slot::Group(&G5);
    t
};

/// The two-byte opcode map, 0F xx (SDM Table A-3), as far as an i686 without MMX/SSE has it.
pub static TWO_BYTE: [Slot; 256] = {
    let mut t = [UD; 256];
    t[0x00] = Slot::Group(&G6);
    t[0x01] = Slot::Group(&G7);
    t[0x02] = op2(Lar, Gv, Ew, 0);
    t[0x03] = op2(Lsl, Gv, Ew, 0);
    t[0x06] = op0(Clts, MODE);
    t[0x08] = op0(Invd, 0);
    t[0x09] = op0(Wbinvd, 0);
    t[0x0b] = op0(Ud2, JUMP);
    let mut i = 0;
    while i < 8 {
        // 0F 18-1F: hint NOPs with a ModRM operand (P6 and later).
        t[0x18 + i] = op1(Nop, Ev, 0);
        i += 1;
    }
    t[0x20] = op2(MovCr, Rd, Cd, 0);
    t[0x21] = op2(MovDr, Rd, Dd, 0);
    t[0x22] = op2(MovCr, Cd, Rd, MODE);
    t[0x23] = op2(MovDr, Dd, Rd, MODE);
    t[0x30] = op0(Wrmsr, MODE);
    t[0x31] = op0(Rdtsc, 0);
    t[0x32] = op0(Rdmsr, 0);
    t[0x33] = op0(Rdpmc, 0);
    t[0x34] = op0(Sysenter, JUMP | MODE);
    t[0x35] = op0(Sysexit, JUMP | MODE);
    let mut cc = 0;
    while cc < 16 {
        t[0x40 + cc] = op2(Cmovcc, Gv, Ev, 0);
        t[0x80 + cc] = op1(Jcc, Jz, JUMP);
        t[0x90 + cc] = op1(Setcc, Eb, 0);
        cc += 1;
    }
    t[0xa0] = op1(Push, FS, 0);
    t[0xa1] = op1(Pop, FS, MODE);
    t[0xa2] = op0(Cpuid, 0);
    t[0xa3] = op2(Bt, Ev, Gv, 0);
    t[0xa4] = op3(Shld, Ev, Gv, Ib);
    t[0xa5] = op3(Shld, Ev, Gv, CL);
    t[0xa8] = op1(Push, GS, 0);
    t[0xa9] = op1(Pop, GS, MODE);
    t[0xaa] = op0(Rsm, JUMP | MODE);
    t[0xab] = op2(Bts, Ev, Gv, LOCK);
    t[0xac] = op3(Shrd, Ev, Gv, Ib);
    t[0xad] = op3(Shrd, Ev, Gv, CL);
    t[0xae] = Slot::Group(&G15);
    t[0xaf] = op2(Imul, Gv, Ev, 0);
    t[0xb0] = op2(Cmpxchg, Eb, Gb, LOCK);
    t[0xb1] = op2(Cmpxchg, Ev, Gv, LOCK);
    t[0xb2] = op2(Lss, Gv, Mp, MODE);
    t[0xb3] = op2(Btr, Ev, Gv, LOCK);
    t[0xb4] = op2(Lfs, Gv, Mp, MODE);
    t[0xb5] = op2(Lgs, Gv, Mp, MODE);
    t[0xb6] = op2(Movzx, Gv, Eb, 0);
    t[0xb7] = op2(Movzx, Gv, Ew, 0);
    t[0xba] = Slot::Group(&G8);
    t[0xbb] = op2(Btc, Ev, Gv, LOCK);
    t[0xbc] = op2(Bsf, Gv, Ev, 0);
    t[0xbd] = op2(Bsr, Gv, Ev, 0);
    t[0xbe] = op2(Movsx, Gv, Eb, 0);
    t[0xbf] = op2(Movsx, Gv, Ew, 0);
    t[0xc0] = op2(Xadd, Eb, Gb, LOCK);
    t[0xc1] = op2(Xadd, Ev, Gv, LOCK);
    t[0xc7] = Slot::Group(&G9);
    let mut r = 0;
    while r < 8 {
        t[0xc8 + r] = op1(Bswap, Zv, 0);
        r += 1;
    }
    t
};
