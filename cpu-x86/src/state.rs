//! The architectural state of one x86 CPU, laid out for both tiers.
//!
//! **Architecture Invariant:** [`CpuState`] is `#[repr(C)]` and generated code addresses its
//! fields through `core::mem::offset_of!`; the test at the bottom pins the offsets the JIT relies
//! on. Change a field's place only together with that test and the JIT.

use crate::flags::CcOp;

/// General-purpose register numbers, in the SDM's encoding order (the `reg` field of ModRM).
pub mod reg {
    pub const EAX: usize = 0;
    pub const ECX: usize = 1;
    pub const EDX: usize = 2;
    pub const EBX: usize = 3;
    pub const ESP: usize = 4;
    pub const EBP: usize = 5;
    pub const ESI: usize = 6;
    pub const EDI: usize = 7;
}

/// Segment register numbers, in the SDM's encoding order (the `reg` field of MOV Sreg).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SegReg {
    Es = 0,
    Cs = 1,
    Ss = 2,
    Ds = 3,
    Fs = 4,
    Gs = 5,
}

impl SegReg {
    pub const ALL: [SegReg; 6] = [SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs];
    pub fn from_index(i: u8) -> Option<SegReg> {
        Self::ALL.get(i as usize).copied()
    }
    pub fn name(self) -> &'static str {
        ["es", "cs", "ss", "ds", "fs", "gs"][self as usize]
    }
}

/// Descriptor attribute bits as kept in a segment cache (bits 8-15 and 20-23 of the descriptor's
/// high dword, shifted down by 8): type, S, DPL, P, AVL, L, D/B, G.
pub mod attr {
    pub const ACCESSED: u16 = 1 << 0;
    pub const RW: u16 = 1 << 1; // readable code / writable data
    pub const DC: u16 = 1 << 2; // conforming code / expand-down data
    pub const CODE: u16 = 1 << 3;
    pub const S: u16 = 1 << 4; // code or data (not system)
    pub const DPL_SHIFT: u16 = 5;
    pub const P: u16 = 1 << 7;
    pub const DB: u16 = 1 << 14; // default operand size 32 / big stack
    pub const G: u16 = 1 << 15;
    /// What a real-mode segment load leaves: present, writable, accessed data.
    pub const REAL_MODE_DATA: u16 = P | S | RW | ACCESSED;
    /// The code segment after reset: present, readable, accessed code.
    pub const REAL_MODE_CODE: u16 = P | S | CODE | RW | ACCESSED;
}

/// A segment register with its hidden descriptor cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Segment {
    pub base: u32,
    /// Limit in bytes (already scaled by the granularity bit).
    pub limit: u32,
    pub selector: u16,
    /// See [`attr`].
    pub attr: u16,
}

impl Segment {
    pub fn real_mode(selector: u16, attr: u16) -> Self {
        Segment { base: (selector as u32) << 4, limit: 0xffff, selector, attr }
    }
    /// A flat 32-bit ring-0 segment as boot loaders set them up: base 0, limit 4 GiB (G), D/B
    /// set, present and accessed; read-write data, or execute-read code if `code`.
    pub fn flat32(selector: u16, code: bool) -> Self {
        let data = attr::P | attr::S | attr::RW | attr::ACCESSED | attr::DB | attr::G;
        Segment { base: 0, limit: u32::MAX, selector, attr: if code { data | attr::CODE } else { data } }
    }
    /// Whether the segment's default operand/address size is 32 bits (the D/B bit).
    #[inline]
    pub fn is_32(&self) -> bool {
        self.attr & attr::DB != 0
    }
    pub fn dpl(&self) -> u8 {
        ((self.attr >> attr::DPL_SHIFT) & 3) as u8
    }
}

/// GDTR/IDTR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct TableReg {
    pub base: u32,
    pub limit: u32,
}

/// EFLAGS bits.
pub mod eflags {
    pub const CF: u32 = 1 << 0;
    pub const FIXED1: u32 = 1 << 1;
    pub const PF: u32 = 1 << 2;
    pub const AF: u32 = 1 << 4;
    pub const ZF: u32 = 1 << 6;
    pub const SF: u32 = 1 << 7;
    pub const TF: u32 = 1 << 8;
    pub const IF: u32 = 1 << 9;
    pub const DF: u32 = 1 << 10;
    pub const OF: u32 = 1 << 11;
    pub const IOPL: u32 = 3 << 12;
    pub const NT: u32 = 1 << 14;
    pub const RF: u32 = 1 << 16;
    pub const VM: u32 = 1 << 17;
    pub const AC: u32 = 1 << 18;
    pub const VIF: u32 = 1 << 19;
    pub const VIP: u32 = 1 << 20;
    pub const ID: u32 = 1 << 21;
    /// The six arithmetic flags, kept lazily (see [`crate::flags`]).
    pub const ARITH: u32 = CF | PF | AF | ZF | SF | OF;
    /// Every bit software can change on an i686 (the rest read as fixed values).
    pub const WRITABLE: u32 = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;
}

/// CR0 bits.
pub mod cr0 {
    pub const PE: u32 = 1 << 0;
    pub const MP: u32 = 1 << 1;
    pub const EM: u32 = 1 << 2;
    pub const TS: u32 = 1 << 3;
    pub const ET: u32 = 1 << 4;
    pub const NE: u32 = 1 << 5;
    pub const WP: u32 = 1 << 16;
    pub const AM: u32 = 1 << 18;
    pub const NW: u32 = 1 << 29;
    pub const CD: u32 = 1 << 30;
    pub const PG: u32 = 1 << 31;
}

/// CR4 bits (SDM Vol. 3, 2.5).
pub mod cr4 {
    pub const VME: u32 = 1 << 0;
    pub const PVI: u32 = 1 << 1;
    pub const TSD: u32 = 1 << 2;
    pub const DE: u32 = 1 << 3;
    pub const PSE: u32 = 1 << 4;
    pub const PAE: u32 = 1 << 5;
    pub const MCE: u32 = 1 << 6;
    pub const PGE: u32 = 1 << 7;
    /// The OS saves the FPU with FXSAVE/FXRSTOR (settable because CPUID reports FXSR).
    pub const OSFXSR: u32 = 1 << 9;
}

/// The architectural state of the CPU: everything an instruction reads or writes, but no
/// host-side machinery (TLB, caches, the bus).
#[derive(Debug, Clone, PartialEq, Eq)]
#[repr(C)]
pub struct CpuState {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub regs: [u32; 8],
    pub eip: u32,
    /// EFLAGS except the arithmetic flags, which live in `cc_*` (use [`CpuState::eflags`]).
    pub flags: u32,
    /// Lazy arithmetic flags: which operation last set them and its inputs/result.
    pub cc_op: CcOp,
    pub cc_dst: u32,
    pub cc_src: u32,
    pub cc_src2: u32,
    /// ES, CS, SS, DS, FS, GS.
    pub segs: [Segment; 6],
    pub ldtr: Segment,
    pub tr: Segment,
    pub gdtr: TableReg,
    pub idtr: TableReg,
    pub cr0: u32,
    pub cr2: u32,
    pub cr3: u32,
    pub cr4: u32,
    pub dr: [u32; 8],
    /// Current privilege level (CS.RPL in protected mode, 0 in real mode, 3 in v8086 mode).
    pub cpl: u8,
    /// The CPU executes nothing until an interrupt arrives.
    pub halted: bool,
    /// Interrupts are held off until after the next instruction (STI, MOV SS, POP SS).
    pub irq_shadow: bool,
    pub _pad: u8,
    /// Instructions retired since power-on (drives the deterministic clock).
    pub icount: u64,
    /// Time-stamp counter offset: TSC = guest nanoseconds (at this instruction) + tsc_offset
    /// (see `Cpu::tsc`).
    pub tsc_offset: u64,
    /// The four PAE page-directory-pointer-table entries, loaded from CR3 by MOV to CR3 (and by
    /// MOV to CR0/CR4 that turn PAE paging on or change its modes); SDM Vol. 3, 4.4.1.
    pub pdpte: [u64; 4],
    /// IA32_EFER (MSR C000_0080h): NXE (bit 11) and SCE (bit 0, storage only).
    pub efer: u64,
    /// IA32_SYSENTER_CS/ESP/EIP (MSRs 174h-176h), for SYSENTER/SYSEXIT.
    pub sysenter_cs: u32,
    pub sysenter_esp: u32,
    pub sysenter_eip: u32,
    pub _pad2: u32,
    /// The other model-specific registers kept as plain storage (APIC base, PAT, MTRRs...).
    pub msr: crate::msr::MsrFile,
    /// The x87 FPU: register stack, control/status/tag words, instruction and data pointers.
    pub fpu: crate::fpu::Fpu,
}

impl CpuState {
    /// The state after RESET (SDM Vol. 3, 9.1.1): real mode at F000:FFF0 with CS base FFFF0000.
    pub fn reset() -> Self {
        let data = Segment::real_mode(0, attr::REAL_MODE_DATA);
        let mut cs = Segment::real_mode(0xf000, attr::REAL_MODE_CODE);
        cs.base = 0xffff_0000;
        let mut segs = [data; 6];
        segs[SegReg::Cs as usize] = cs;
        let mut regs = [0; 8];
        regs[reg::EDX] = crate::cpuid::RESET_EDX;
        CpuState {
            regs,
            eip: 0xfff0,
            flags: eflags::FIXED1,
            cc_op: CcOp::Eflags,
            cc_dst: 0,
            cc_src: 0,
            cc_src2: 0,
            segs,
            ldtr: Segment { attr: attr::P | 2, limit: 0xffff, ..Default::default() },
            tr: Segment { attr: attr::P | 11, limit: 0xffff, ..Default::default() },
            gdtr: TableReg { base: 0, limit: 0xffff },
            idtr: TableReg { base: 0, limit: 0xffff },
            cr0: cr0::ET | cr0::CD | cr0::NW,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            dr: [0, 0, 0, 0, 0xffff_0ff0, 0x400, 0xffff_0ff0, 0x400],
            cpl: 0,
            halted: false,
            irq_shadow: false,
            _pad: 0,
            icount: 0,
            tsc_offset: 0,
            pdpte: [0; 4],
            efer: 0,
            sysenter_cs: 0,
            sysenter_esp: 0,
            sysenter_eip: 0,
            _pad2: 0,
            msr: crate::msr::MsrFile::reset(),
            fpu: crate::fpu::Fpu::reset(),
        }
    }

    #[inline]
    pub fn seg(&self, s: SegReg) -> &Segment {
        &self.segs[s as usize]
    }

    /// Protected mode enabled (CR0.PE).
    #[inline]
    pub fn protected(&self) -> bool {
        self.cr0 & cr0::PE != 0
    }

    /// Virtual-8086 mode (EFLAGS.VM).
    #[inline]
    pub fn v86(&self) -> bool {
        self.flags & eflags::VM != 0
    }

    /// Real-address mode: no protection (segment loads are `selector << 4`).
    #[inline]
    pub fn real_mode(&self) -> bool {
        !self.protected()
    }

    /// The code segment's default size is 32 bits.
    #[inline]
    pub fn code32(&self) -> bool {
        self.segs[SegReg::Cs as usize].is_32()
    }

    /// The stack segment's B bit: ESP (not SP) is the stack pointer.
    #[inline]
    pub fn stack32(&self) -> bool {
        self.segs[SegReg::Ss as usize].is_32()
    }

    /// Full EFLAGS, with the lazy arithmetic flags computed.
    pub fn eflags(&self) -> u32 {
        (self.flags & !eflags::ARITH) | crate::flags::arith_flags(self)
    }

    /// Sets every EFLAGS bit in `mask` from `value`; the caller decides what may change.
    pub fn set_eflags(&mut self, value: u32, mask: u32) {
        let full = (self.eflags() & !mask) | (value & mask);
        self.flags = (full & eflags::WRITABLE & !eflags::ARITH) | eflags::FIXED1;
        self.cc_op = CcOp::Eflags;
        self.cc_src = full & eflags::ARITH;
    }

    /// The value of one arithmetic flag (computing the lazy flags if needed).
    #[inline]
    pub fn flag(&self, bit: u32) -> bool {
        if bit & eflags::ARITH != 0 {
            crate::flags::arith_flags(self) & bit != 0
        } else {
            self.flags & bit != 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// The JIT addresses these fields by offset; moving them is a change to the JIT too.
    #[test]
    fn layout_is_pinned() {
        assert_eq!(offset_of!(CpuState, regs), 0);
        assert_eq!(offset_of!(CpuState, eip), 32);
        assert_eq!(offset_of!(CpuState, flags), 36);
        assert_eq!(offset_of!(CpuState, cc_op), 40);
        assert_eq!(offset_of!(CpuState, cc_dst), 44);
        assert_eq!(offset_of!(CpuState, cc_src), 48);
        assert_eq!(offset_of!(CpuState, cc_src2), 52);
        assert_eq!(offset_of!(CpuState, segs), 56);
        assert_eq!(std::mem::size_of::<Segment>(), 12);
        assert_eq!(offset_of!(Segment, base), 0);
        assert_eq!(offset_of!(CpuState, cr0), 56 + 12 * 8 + 16);
        assert_eq!(offset_of!(CpuState, icount) % 8, 0);
        assert_eq!(offset_of!(CpuState, fpu) % 8, 0);
        assert_eq!(std::mem::size_of::<crate::fpu::Fpu>(), 152);
        assert_eq!(offset_of!(crate::fpu::Fpu, fcw), 128);
    }

    #[test]
    fn reset_state_matches_the_sdm() {
        let s = CpuState::reset();
        assert_eq!(s.eflags(), 2);
        assert_eq!(s.seg(SegReg::Cs).base + s.eip, 0xffff_fff0);
        assert_eq!(s.cr0, 0x6000_0010);
        assert!(s.real_mode());
    }
}
