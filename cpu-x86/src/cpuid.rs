//! CPUID: the processor's identity and feature flags. It tells the truth: only what emu
//! implements is claimed.
//!
//! The identity is a P6-family (family 6) "GenuineIntel" with the brand string "emu i686 CPU".
//! Leaves: 0 (maximum basic leaf 16h, vendor), 1 (signature, features), 2 (cache and TLB
//! descriptors of a Pentium Pro with 256 KiB L2), 3-14h (all zero: none of their features is
//! claimed, no deterministic cache or topology data), 15h and 16h (the time-stamp counter's and
//! the core crystal clock's frequencies: both 1 GHz, exactly what emu's TSC and local APIC timer
//! count at, so an OS needs no calibration against the PIT, which host scheduling could upset in
//! real-time mode), 8000_0000h (maximum extended leaf), 8000_0001h
//! (NX), 8000_0002h-8000_0004h (brand string). As on Intel CPUs, a leaf above the maximum basic or
//! extended leaf returns the data of the highest basic leaf.

/// EDX after reset: the family/model/stepping signature (SDM Vol. 3, 9.1.4).
pub const RESET_EDX: u32 = SIGNATURE;

/// Family 6, model 1, stepping 9: a Pentium Pro class i686.
pub const SIGNATURE: u32 = (6 << 8) | (1 << 4) | 9;

/// Feature bits of leaf 1, EDX.
pub mod feature {
    pub const FPU: u32 = 1 << 0;
    pub const VME: u32 = 1 << 1;
    pub const DE: u32 = 1 << 2;
    pub const PSE: u32 = 1 << 3;
    pub const TSC: u32 = 1 << 4;
    pub const MSR: u32 = 1 << 5;
    pub const PAE: u32 = 1 << 6;
    pub const MCE: u32 = 1 << 7;
    pub const CX8: u32 = 1 << 8;
    pub const APIC: u32 = 1 << 9;
    pub const SEP: u32 = 1 << 11;
    pub const MTRR: u32 = 1 << 12;
    pub const PGE: u32 = 1 << 13;
    pub const MCA: u32 = 1 << 14;
    pub const CMOV: u32 = 1 << 15;
    pub const PAT: u32 = 1 << 16;
    pub const FXSR: u32 = 1 << 24;
}

/// Feature bits of leaf 8000_0001h, EDX.
pub mod ext_feature {
    pub const NX: u32 = 1 << 20;
}

/// What emu implements, as leaf-1 EDX bits: debugging extensions (DR4/5 aliasing, I/O
/// breakpoints), 4 MiB pages, TSC, RDMSR/WRMSR, PAE, machine-check architecture with no banks
/// (MCG_CAP = 0; CR4.MCE is accepted), CMPXCHG8B, SYSENTER/SYSEXIT, MTRRs and PAT (storage:
/// memory types have no effect), global pages, CMOV, the x87 FPU and FXSAVE/FXRSTOR (x87 state
/// only: no SSE). APIC (bit 9) is added by the CPUID instruction when the board has a local
/// APIC and IA32_APIC_BASE has it globally enabled, as on a real CPU. Not claimed: VME (until
/// virtual-8086 mode lands), PSE-36.
pub const FEATURES_EDX: u32 = feature::FPU
    | feature::FXSR
    | feature::DE
    | feature::PSE
    | feature::TSC
    | feature::MSR
    | feature::PAE
    | feature::MCE
    | feature::CX8
    | feature::SEP
    | feature::MTRR
    | feature::PGE
    | feature::MCA
    | feature::CMOV
    | feature::PAT;

/// Leaf 8000_0001h EDX: execute-disable (EFER.NXE with PAE paging).
pub const EXT_FEATURES_EDX: u32 = ext_feature::NX;

/// The highest basic leaf.
pub const MAX_BASIC: u32 = 0x16;

/// The core crystal clock (leaf 15h ECX): the local APIC timer's input, 1 GHz (one count per ns
/// of guest time); the TSC runs at the same rate (ratio 1/1), see `Cpu::tsc`.
pub const CRYSTAL_HZ: u32 = 1_000_000_000;
/// The highest extended leaf.
pub const MAX_EXTENDED: u32 = 0x8000_0004;

const VENDOR: &[u8; 12] = b"GenuineIntel";
/// The processor brand string (leaves 8000_0002h-8000_0004h), NUL-padded to 48 bytes.
const BRAND: &[u8] = b"emu i686 CPU";

/// Four little-endian bytes of `s` at `i` (zero past its end).
fn word(s: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(std::array::from_fn(|k| s.get(i + k).copied().unwrap_or(0)))
}

/// Leaf `eax` (sub-leaf `ecx`) → (EAX, EBX, ECX, EDX).
pub fn cpuid(eax: u32, _ecx: u32) -> (u32, u32, u32, u32) {
    match eax {
        0 => (MAX_BASIC, word(VENDOR, 0), word(VENDOR, 8), word(VENDOR, 4)),
        1 => (SIGNATURE, 0, 0, FEATURES_EDX),
        // One iteration (AL = 1); ITLB 4K/4M, DTLB 4K/4M, L1I 8K, L2 256K, L1D 8K.
        2 => (0x0302_0101, 0, 0, 0x0a04_4206),
        3..=0x14 => (0, 0, 0, 0),
        // TSC = crystal × EBX / EAX.
        0x15 => (1, 1, CRYSTAL_HZ, 0),
        // Base, maximum and bus (reference) frequencies in MHz.
        0x16 => (CRYSTAL_HZ / 1_000_000, CRYSTAL_HZ / 1_000_000, CRYSTAL_HZ / 1_000_000, 0),
        0x8000_0000 => (MAX_EXTENDED, 0, 0, 0),
        0x8000_0001 => (0, 0, 0, EXT_FEATURES_EDX),
        0x8000_0002..=0x8000_0004 => {
            let at = (eax - 0x8000_0002) as usize * 16;
            (word(BRAND, at), word(BRAND, at + 4), word(BRAND, at + 8), word(BRAND, at + 12))
        }
        _ => cpuid(MAX_BASIC, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_and_brand() {
        let (max, b, c, d) = cpuid(0, 0);
        assert_eq!(max, 0x16);
        let v: Vec<u8> = [b, d, c].iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(&v, b"GenuineIntel");
        assert_eq!(cpuid(0x8000_0000, 0).0, 0x8000_0004);
        let brand: Vec<u8> = (0x8000_0002..=0x8000_0004)
            .flat_map(|l| {
                let (a, b, c, d) = cpuid(l, 0);
                [a, b, c, d].into_iter().flat_map(u32::to_le_bytes)
            })
            .collect();
        assert_eq!(brand.len(), 48);
        assert!(brand.starts_with(b"emu i686 CPU\0"));
    }

    #[test]
    fn family_6_and_honest_features() {
        let (sig, _, _, edx) = cpuid(1, 0);
        assert_eq!((sig >> 8) & 0xf, 6);
        assert_eq!(edx & (feature::VME | feature::APIC), 0);
        assert_ne!(edx & (feature::FPU | feature::FXSR), 0);
        assert_ne!(edx & feature::PAE, 0);
        assert_ne!(cpuid(0x8000_0001, 0).3 & ext_feature::NX, 0);
        // Leaves with nothing to report are zero; the TSC runs at the crystal's 1 GHz.
        assert_eq!(cpuid(7, 0), (0, 0, 0, 0));
        assert_eq!(cpuid(0x15, 0), (1, 1, 1_000_000_000, 0));
        assert_eq!(crate::interp::system::TSC_HZ, CRYSTAL_HZ as u64);
        // Above the maximum: the highest basic leaf.
        assert_eq!(cpuid(0x17, 0), cpuid(0x16, 0));
        assert_eq!(cpuid(0x8000_0008, 0), cpuid(0x16, 0));
    }
}
