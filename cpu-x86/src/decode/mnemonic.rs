//! The operations of the integer instruction set, named as in the SDM.

macro_rules! mnemonics {
    ($($m:ident),* $(,)?) => {
        /// An x86 operation. Several opcodes share one (e.g. the eight encodings of ADD), and the
        /// operand forms are in the decoded [`Insn`](super::Insn), not here.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Mnemonic { $($m),* }

        impl Mnemonic {
            /// Every mnemonic, in declaration order.
            pub const ALL: &'static [Mnemonic] = &[$(Mnemonic::$m),*];
            const NAMES: &'static [&'static str] = &[$(stringify!($m)),*];
            /// The SDM name, e.g. `"Cmpxchg8b"` (lower-case it for assembly syntax).
            pub fn name(self) -> &'static str {
                Self::NAMES[self as usize]
            }
        }
    };
}

mnemonics! {
    // Not an instruction: an undefined opcode (raises #UD when executed).
    Invalid,
    // Binary arithmetic and logic
    Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test, Inc, Dec, Neg, Not,
    Mul, Imul, Div, Idiv,
    Daa, Das, Aaa, Aas, Aam, Aad,
    // Shifts and rotates
    Rol, Ror, Rcl, Rcr, Shl, Shr, Sal, Sar, Shld, Shrd,
    // Bits
    Bt, Bts, Btr, Btc, Bsf, Bsr,
    // Data movement
    Mov, Movzx, Movsx, Xchg, Xadd, Cmpxchg, Cmpxchg8b, Bswap, Lea, Xlat,
    Cbw, Cwd, Lahf, Sahf, Cmovcc, Setcc, Lds, Les, Lfs, Lgs, Lss,
    // Stack
    Push, Pop, Pusha, Popa, Pushf, Popf, Enter, Leave,
    // Control transfer
    Jmp, JmpFar, Jcc, Call, CallFar, Ret, RetFar, Loop, Loope, Loopne, Jcxz,
    Int, Int3, Into, Int1, Iret, Bound,
    // Strings
    Movs, Cmps, Stos, Lods, Scas, Ins, Outs,
    // I/O
    In, Out,
    // Flags and processor control
    Clc, Stc, Cmc, Cli, Sti, Cld, Std, Hlt, Nop, Ud2, Cpuid, Rdtsc, Rdmsr, Wrmsr, Rdpmc,
    Wait, Salc, Invd, Wbinvd, Sysenter, Sysexit, Rsm,
    // System (protected mode)
    Sldt, Str, Lldt, Ltr, Verr, Verw, Sgdt, Sidt, Lgdt, Lidt, Smsw, Lmsw, Invlpg,
    Lar, Lsl, Arpl, Clts, MovCr, MovDr,
    // x87 escape (D8-DF): decoded with its ModRM; executed by the FPU.
    Fpu,
    // x87 state save/restore with FXSR (0F AE /0, /1).
    Fxsave, Fxrstor,
}
