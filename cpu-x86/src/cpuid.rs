//! CPUID: the processor's identity and feature flags. It tells the truth: only what emu
//! implements is claimed.

/// EDX after reset: family 6, model 1 (Pentium Pro class), stepping 9... as the family/model/
/// stepping signature (SDM Vol. 3, 9.1.4).
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
    pub const CX8: u32 = 1 << 8;
    pub const SEP: u32 = 1 << 11;
    pub const PGE: u32 = 1 << 13;
    pub const CMOV: u32 = 1 << 15;
}

/// What the interpreter implements today, as leaf-1 EDX bits. Grows with the system-architecture
/// work (FPU, paging extensions, SYSENTER) and only then.
pub const FEATURES_EDX: u32 = feature::TSC | feature::CX8 | feature::CMOV;

/// Leaf `eax` (sub-leaf `ecx`) → (EAX, EBX, ECX, EDX).
pub fn cpuid(eax: u32, _ecx: u32) -> (u32, u32, u32, u32) {
    const VENDOR: &[u8; 12] = b"GenuineIntel";
    let word = |i: usize| u32::from_le_bytes([VENDOR[i], VENDOR[i + 1], VENDOR[i + 2], VENDOR[i + 3]]);
    match eax {
        0 => (1, word(0), word(8), word(4)),
        1 => (SIGNATURE, 0, 0, FEATURES_EDX),
        // Leaves above the maximum return the highest basic leaf's data (as Intel CPUs do).
        _ => (SIGNATURE, 0, 0, FEATURES_EDX),
    }
}
