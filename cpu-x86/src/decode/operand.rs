//! Operand specifications as the SDM's opcode maps write them (Appendix A.2): an addressing
//! method letter and an operand type, e.g. `Eb` = ModRM r/m, byte; `Gv` = ModRM reg, word or
//! dword by operand size; `Iz` = immediate of operand size, at most 32 bits.

/// One operand of an opcode-table entry.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    Nil,
    // ModRM r/m: register or memory
    Eb,
    Ew,
    Ed,
    Ev,
    // ModRM reg: general register
    Gb,
    Gw,
    Gv,
    // ModRM r/m that must be memory (any size the instruction decides / far pointer / bound pair / qword)
    M,
    Mp,
    Ma,
    Mq,
    Mw,
    // ModRM r/m that must be a register (MOV CR/DR)
    Rd,
    // ModRM reg: segment, control, debug register
    Sw,
    Cd,
    Dd,
    // Immediates
    Ib,
    Iw,
    Iz,
    /// imm8 sign-extended to the operand size (83 /n, 6B, 6A)
    Ibs,
    // Relative branch targets
    Jb,
    Jz,
    // Direct memory offset (MOV AL, moffs)
    Ob,
    Ov,
    // Far pointer immediate (JMP/CALL ptr16:16/32)
    Ap,
    // Register in the low three opcode bits
    Zb,
    Zv,
    // Fixed registers
    AL,
    CL,
    DX,
    eAX,
    // Segment registers named by the opcode
    ES,
    CS,
    SS,
    DS,
    FS,
    GS,
    // The constant 1 (D0-D3 shifts)
    One,
    // String operands DS:eSI and ES:eDI
    Xb,
    Xv,
    Yb,
    Yv,
}
