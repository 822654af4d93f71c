//! What a translated block is valid for: where its code is, and the CPU mode it was made in.
//!
//! **Invariant:** two CPU states with equal [`BlockKey`]s decode the same bytes into the same
//! instructions and run them the same way under the same translated code. Translated code may
//! therefore assume everything the key records (code and stack size, CPL and so the TLB set,
//! the segmentation rules of the mode, the CS base and the EIP it starts at) as constants, and
//! must load everything else (segment bases and limits of DS/ES/SS/FS/GS, DF, IF, CR3...) from
//! the state when it runs.

use emu_cpu_x86::state::{cr0, CpuState, SegReg};

/// The parts of the CPU mode translated code depends on, packed in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModeKey(u32);

impl ModeKey {
    const CODE32: u32 = 1 << 0;
    const STACK32: u32 = 1 << 1;
    const CPL_SHIFT: u32 = 2; // bits 2-3
    const PE: u32 = 1 << 4;
    const PG: u32 = 1 << 5;
    const V86: u32 = 1 << 6;
    const A20: u32 = 1 << 7;

    /// The mode of `s`, with the A20 gate as `a20_mask` says.
    pub fn of(s: &CpuState, a20_mask: u32) -> ModeKey {
        let bit = |c: bool, b: u32| if c { b } else { 0 };
        ModeKey(
            bit(s.code32(), Self::CODE32)
                | bit(s.stack32(), Self::STACK32)
                | ((s.cpl as u32 & 3) << Self::CPL_SHIFT)
                | bit(s.protected(), Self::PE)
                | bit(s.cr0 & cr0::PG != 0, Self::PG)
                | bit(s.v86(), Self::V86)
                | bit(a20_mask & (1 << 20) != 0, Self::A20),
        )
    }

    /// CS.D: instructions decode with 32-bit default operand and address size.
    pub fn code32(self) -> bool {
        self.0 & Self::CODE32 != 0
    }
    /// SS.B: the stack pointer is ESP (else SP).
    pub fn stack32(self) -> bool {
        self.0 & Self::STACK32 != 0
    }
    /// Current privilege level.
    pub fn cpl(self) -> u8 {
        ((self.0 >> Self::CPL_SHIFT) & 3) as u8
    }
    /// Memory accesses use the user set of the TLB (CPL 3).
    pub fn user(self) -> bool {
        self.cpl() == 3
    }
    /// CR0.PE.
    pub fn protected(self) -> bool {
        self.0 & Self::PE != 0
    }
    /// CR0.PG.
    pub fn paging(self) -> bool {
        self.0 & Self::PG != 0
    }
    /// EFLAGS.VM.
    pub fn v86(self) -> bool {
        self.0 & Self::V86 != 0
    }
    /// The A20 gate is open.
    pub fn a20(self) -> bool {
        self.0 & Self::A20 != 0
    }
    /// Segment accesses check the descriptor's type and presence (protected mode, not v8086).
    pub fn checks_segment_type(self) -> bool {
        self.protected() && !self.v86()
    }
}

impl std::fmt::Display for ModeKey {
    /// E.g. `code32 stack32 cpl0 pe a20` (only the flags that are set, and the CPL).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = vec![];
        for (on, name) in [(self.code32(), "code32"), (self.stack32(), "stack32")] {
            if on {
                parts.push(name.to_string());
            }
        }
        parts.push(format!("cpl{}", self.cpl()));
        for (on, name) in [(self.protected(), "pe"), (self.paging(), "pg"), (self.v86(), "v86"), (self.a20(), "a20")] {
            if on {
                parts.push(name.to_string());
            }
        }
        f.write_str(&parts.join(" "))
    }
}

/// Where a block starts and the mode it was translated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockKey {
    /// Physical address of the block's first byte.
    pub phys: u32,
    /// EIP of the block's first instruction.
    pub eip: u32,
    /// CS base (EIP-relative values in the code are computed from it).
    pub cs_base: u32,
    pub mode: ModeKey,
}

impl BlockKey {
    /// The key for the block at CS:EIP of `s`, whose first byte is at physical `phys`.
    pub fn new(s: &CpuState, a20_mask: u32, phys: u32) -> BlockKey {
        BlockKey { phys, eip: s.eip, cs_base: s.segs[SegReg::Cs as usize].base, mode: ModeKey::of(s, a20_mask) }
    }
    /// Physical page number (address >> 12).
    pub fn page(&self) -> u32 {
        self.phys >> 12
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_state_is_real_mode_16_bit() {
        let s = CpuState::reset();
        let k = ModeKey::of(&s, !0);
        assert!(!k.code32() && !k.stack32() && !k.protected() && !k.paging() && !k.v86() && k.a20());
        assert_eq!(k.cpl(), 0);
        assert!(!ModeKey::of(&s, !(1 << 20)).a20());
    }
}
