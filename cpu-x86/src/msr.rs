//! Model-specific registers (SDM Vol. 4, Table 2-2 and the P6-family table): what RDMSR and
//! WRMSR reach. Every MSR here is either architectural state another part of the CPU uses (TSC,
//! SYSENTER, EFER, and IA32_APIC_BASE, which belongs to the local APIC when the board has one)
//! or plain storage whose reserved bits are checked (PAT, MTRRs, MISC_ENABLE, the machine-check
//! globals); anything else is #GP(0).
//!
//! Memory types (PAT, MTRRs) have no effect: emu models no caches. There are no machine-check
//! banks (MCG_CAP reads 0). IA32_EFER's SCE bit is storage only (SYSCALL is not claimed).

use crate::cpu::Cpu;
use crate::fault::{Fault, Res};

/// MSR addresses (SDM Vol. 4).
pub mod index {
    pub const TSC: u32 = 0x10;
    pub const PLATFORM_ID: u32 = 0x17;
    pub const APIC_BASE: u32 = 0x1b;
    pub const BIOS_SIGN_ID: u32 = 0x8b;
    pub const MTRRCAP: u32 = 0xfe;
    pub const SYSENTER_CS: u32 = 0x174;
    pub const SYSENTER_ESP: u32 = 0x175;
    pub const SYSENTER_EIP: u32 = 0x176;
    pub const MCG_CAP: u32 = 0x179;
    pub const MCG_STATUS: u32 = 0x17a;
    pub const MISC_ENABLE: u32 = 0x1a0;
    /// IA32_MTRR_PHYSBASE0; PHYSMASKn is at 0x201 + 2n, PHYSBASEn at 0x200 + 2n.
    pub const MTRR_PHYSBASE0: u32 = 0x200;
    pub const MTRR_FIX64K_00000: u32 = 0x250;
    pub const MTRR_FIX16K_80000: u32 = 0x258;
    pub const MTRR_FIX16K_A0000: u32 = 0x259;
    /// IA32_MTRR_FIX4K_C0000 .. IA32_MTRR_FIX4K_F8000 are 0x268 ..= 0x26f.
    pub const MTRR_FIX4K_C0000: u32 = 0x268;
    pub const PAT: u32 = 0x277;
    pub const MTRR_DEF_TYPE: u32 = 0x2ff;
    pub const EFER: u32 = 0xc000_0080;
}

/// IA32_EFER bits.
pub mod efer {
    /// SYSCALL enable (storage only: SYSCALL is not implemented).
    pub const SCE: u64 = 1 << 0;
    /// Execute-disable enable: bit 63 of PAE paging entries is XD.
    pub const NXE: u64 = 1 << 11;
    /// The bits WRMSR may set; LME, LMA and the rest are reserved (#GP).
    pub const WRITABLE: u64 = SCE | NXE;
}

/// IA32_APIC_BASE bits.
pub mod apic_base {
    /// This is the bootstrap processor (read-only).
    pub const BSP: u64 = 1 << 8;
    /// APIC global enable.
    pub const EN: u64 = 1 << 11;
    /// Where the local APIC's registers are after reset.
    pub const DEFAULT_BASE: u64 = 0xfee0_0000;
}

/// Physical-address width (CPUID 8000_0008h would say so): 36 bits, as P6-family PAE CPUs.
pub const MAXPHYADDR: u32 = 36;
/// Bits 35:12: a page frame within [`MAXPHYADDR`].
pub const PHYS_FRAME: u64 = ((1 << MAXPHYADDR) - 1) & !0xfff;

/// MTRRcap: 8 variable ranges (VCNT), fixed ranges (FIX, bit 8), write combining (WC, bit 10).
pub const MTRRCAP_VALUE: u64 = 8 | (1 << 8) | (1 << 10);
/// The reset value of IA32_PAT: WB, WT, UC-, UC in each half (SDM Vol. 3, 13.12.4).
pub const PAT_RESET: u64 = 0x0007_0406_0007_0406;

/// IA32_MISC_ENABLE: fast strings (0) enabled; BTS (11) and PEBS (12) unavailable.
pub const MISC_ENABLE_RESET: u64 = (1 << 0) | (1 << 11) | (1 << 12);
/// The bits of IA32_MISC_ENABLE software may change (fast strings, automatic thermal control,
/// Enhanced SpeedStep, MONITOR FSM, limit CPUID maxval, xTPR disable, XD disable); they are
/// storage only.
pub const MISC_ENABLE_WRITABLE: u64 = (1 << 0) | (1 << 3) | (1 << 16) | (1 << 18) | (1 << 22) | (1 << 23) | (1 << 34);
/// Read-only bits of IA32_MISC_ENABLE (performance monitoring available, BTS and PEBS
/// unavailable): writes leave them.
pub const MISC_ENABLE_READ_ONLY: u64 = (1 << 7) | (1 << 11) | (1 << 12);

/// The MSRs that are plain storage, kept in [`CpuState`](crate::state::CpuState).
#[derive(Debug, Clone, PartialEq, Eq)]
#[repr(C)]
pub struct MsrFile {
    pub apic_base: u64,
    pub pat: u64,
    pub misc_enable: u64,
    pub mcg_status: u64,
    pub bios_sign_id: u64,
    pub mtrr_def_type: u64,
    /// FIX64K_00000, FIX16K_80000, FIX16K_A0000, FIX4K_C0000 .. FIX4K_F8000.
    pub mtrr_fixed: [u64; 11],
    /// PHYSBASE0, PHYSMASK0, ..., PHYSBASE7, PHYSMASK7.
    pub mtrr_var: [u64; 16],
}

impl MsrFile {
    /// Values after RESET (SDM Vol. 3, Table 9-1): the APIC enabled at its default base on the
    /// BSP, PAT at its default, MTRRs disabled.
    pub fn reset() -> MsrFile {
        MsrFile {
            apic_base: apic_base::DEFAULT_BASE | apic_base::BSP | apic_base::EN,
            pat: PAT_RESET,
            misc_enable: MISC_ENABLE_RESET,
            mcg_status: 0,
            bios_sign_id: 0,
            mtrr_def_type: 0,
            mtrr_fixed: [0; 11],
            mtrr_var: [0; 16],
        }
    }
}

impl Default for MsrFile {
    fn default() -> Self {
        MsrFile::reset()
    }
}

/// Memory types valid in MTRRs: UC, WC, WT, WP, WB.
fn mtrr_type_ok(t: u64) -> bool {
    matches!(t, 0 | 1 | 4 | 5 | 6)
}

/// The fixed-range MTRR slot of MSR `msr`.
fn fixed_slot(msr: u32) -> Option<usize> {
    match msr {
        index::MTRR_FIX64K_00000 => Some(0),
        index::MTRR_FIX16K_80000 => Some(1),
        index::MTRR_FIX16K_A0000 => Some(2),
        index::MTRR_FIX4K_C0000..=0x26f => Some(3 + (msr - index::MTRR_FIX4K_C0000) as usize),
        _ => None,
    }
}

/// RDMSR: the value of MSR `msr`, or #GP(0) for an MSR this CPU does not have. The caller checked
/// CPL 0.
pub fn read(cpu: &mut Cpu, msr: u32) -> Res<u64> {
    if msr == index::APIC_BASE {
        let stored = cpu.s.msr.apic_base;
        return Ok(cpu.sys.with_local_interrupt_controller(|l| l.base_msr()).unwrap_or(stored));
    }
    let m = &cpu.s.msr;
    Ok(match msr {
        index::TSC => cpu.tsc(),
        index::PLATFORM_ID => 0,
        index::BIOS_SIGN_ID => m.bios_sign_id,
        index::MTRRCAP => MTRRCAP_VALUE,
        index::SYSENTER_CS => cpu.s.sysenter_cs as u64,
        index::SYSENTER_ESP => cpu.s.sysenter_esp as u64,
        index::SYSENTER_EIP => cpu.s.sysenter_eip as u64,
        index::MCG_CAP => 0,
        index::MCG_STATUS => m.mcg_status,
        index::MISC_ENABLE => m.misc_enable,
        0x200..=0x20f => m.mtrr_var[(msr - index::MTRR_PHYSBASE0) as usize],
        index::PAT => m.pat,
        index::MTRR_DEF_TYPE => m.mtrr_def_type,
        index::EFER => cpu.s.efer,
        _ => match fixed_slot(msr) {
            Some(n) => m.mtrr_fixed[n],
            None => return Err(Fault::gp(0)),
        },
    })
}

/// WRMSR: writes `v` to MSR `msr`; #GP(0) for an MSR this CPU does not have, a read-only one, or
/// a value with reserved bits or invalid memory types set. The caller checked CPL 0.
pub fn write(cpu: &mut Cpu, msr: u32, v: u64) -> Res {
    let gp = Err(Fault::gp(0));
    match msr {
        index::TSC => cpu.set_tsc(v),
        index::APIC_BASE => {
            // BSP is read-only; x2APIC (bit 10) and everything above MAXPHYADDR is reserved.
            if v & !(PHYS_FRAME | apic_base::EN | apic_base::BSP) != 0 {
                return gp;
            }
            let m = &mut cpu.s.msr;
            m.apic_base = (v & !apic_base::BSP) | (m.apic_base & apic_base::BSP);
            // With a local APIC the register is the APIC's: it moves or hides its registers.
            let value = m.apic_base;
            cpu.sys.with_local_interrupt_controller(|l| l.set_base_msr(value));
        }
        // Writing anything asks the (absent) microcode loader; the signature stays 0.
        index::BIOS_SIGN_ID => {}
        index::SYSENTER_CS => cpu.s.sysenter_cs = v as u32,
        index::SYSENTER_ESP => cpu.s.sysenter_esp = v as u32,
        index::SYSENTER_EIP => cpu.s.sysenter_eip = v as u32,
        index::MCG_STATUS => {
            // RIPV, EIPV, MCIP.
            if v & !7 != 0 {
                return gp;
            }
            cpu.s.msr.mcg_status = v;
        }
        index::MISC_ENABLE => {
            if v & !(MISC_ENABLE_WRITABLE | MISC_ENABLE_READ_ONLY) != 0 {
                return gp;
            }
            let m = &mut cpu.s.msr;
            m.misc_enable = (v & MISC_ENABLE_WRITABLE) | (m.misc_enable & MISC_ENABLE_READ_ONLY);
        }
        0x200..=0x20f => {
            let n = (msr - index::MTRR_PHYSBASE0) as usize;
            let ok = if n.is_multiple_of(2) {
                // PHYSBASE: type in 7:0, 11:8 reserved, base in 35:12.
                v & !(PHYS_FRAME | 0xff) == 0 && mtrr_type_ok(v & 0xff)
            } else {
                // PHYSMASK: 10:0 reserved, valid in 11, mask in 35:12.
                v & !(PHYS_FRAME | 1 << 11) == 0
            };
            if !ok {
                return gp;
            }
            cpu.s.msr.mtrr_var[n] = v;
        }
        index::PAT => {
            // Eight entries; each 3-bit type must be UC, WC, WT, WP, WB or UC- (not 2 or 3), and
            // bits 7:3 of each byte are reserved.
            let ok = (0..8).all(|i| {
                let b = (v >> (8 * i)) & 0xff;
                b < 8 && b != 2 && b != 3
            });
            if !ok {
                return gp;
            }
            cpu.s.msr.pat = v;
        }
        index::MTRR_DEF_TYPE => {
            // Type in 7:0, FE in 10, E in 11.
            if v & !(0xff | 1 << 10 | 1 << 11) != 0 || !mtrr_type_ok(v & 0xff) {
                return gp;
            }
            cpu.s.msr.mtrr_def_type = v;
        }
        index::EFER => {
            if v & !efer::WRITABLE != 0 {
                return gp;
            }
            if (cpu.s.efer ^ v) & efer::NXE != 0 {
                // Cached translations were checked with the other NX rules.
                cpu.tlb.flush();
            }
            cpu.s.efer = v;
        }
        _ => {
            let Some(n) = fixed_slot(msr) else {
                return gp; // unknown, or read-only (MTRRcap, MCG_CAP, PLATFORM_ID)
            };
            if !(0..8).all(|i| mtrr_type_ok((v >> (8 * i)) & 0xff)) {
                return gp;
            }
            cpu.s.msr.mtrr_fixed[n] = v;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use emu_core::{ClockMode, System};

    fn cpu() -> Cpu {
        Cpu::new(System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap())
    }

    #[test]
    fn reset_values() {
        let mut c = cpu();
        assert_eq!(read(&mut c, index::APIC_BASE), Ok(0xfee0_0900));
        assert_eq!(read(&mut c, index::PAT), Ok(0x0007_0406_0007_0406));
        assert_eq!(read(&mut c, index::MTRRCAP), Ok(0x508));
        assert_eq!(read(&mut c, index::MTRR_DEF_TYPE), Ok(0));
        assert_eq!(read(&mut c, index::EFER), Ok(0));
        assert_eq!(read(&mut c, index::MCG_CAP), Ok(0));
        assert_eq!(read(&mut c, 0x400), Err(Fault::gp(0))); // MC0_CTL: no banks
        assert_eq!(read(&mut c, 0xc000_0081), Err(Fault::gp(0))); // STAR: no SYSCALL
    }

    #[test]
    fn sysenter_msrs_are_stored() {
        let mut c = cpu();
        write(&mut c, index::SYSENTER_CS, 0x1234).unwrap();
        write(&mut c, index::SYSENTER_ESP, 0x5678_9abc).unwrap();
        write(&mut c, index::SYSENTER_EIP, 0x1122_3344).unwrap();
        assert_eq!((c.s.sysenter_cs, c.s.sysenter_esp, c.s.sysenter_eip), (0x1234, 0x5678_9abc, 0x1122_3344));
        assert_eq!(read(&mut c, index::SYSENTER_EIP), Ok(0x1122_3344));
    }

    #[test]
    fn reserved_bits_and_invalid_types_fault() {
        let mut c = cpu();
        let gp = Err(Fault::gp(0));
        assert_eq!(write(&mut c, index::PAT, 0x0007_0406_0007_0402), gp); // type 2
        assert_eq!(write(&mut c, index::PAT, 0x0007_0406_0007_0408), gp); // bit 3
        assert_eq!(write(&mut c, index::PAT, 0x0707_0707), Ok(()));
        assert_eq!(read(&mut c, index::PAT), Ok(0x0707_0707));
        assert_eq!(write(&mut c, index::MTRR_DEF_TYPE, 0xc06), Ok(()));
        assert_eq!(write(&mut c, index::MTRR_DEF_TYPE, 0x1006), gp);
        assert_eq!(write(&mut c, index::MTRR_DEF_TYPE, 0x3), gp);
        assert_eq!(write(&mut c, 0x200, 0xf_ffff_f006), Ok(()));
        assert_eq!(write(&mut c, 0x200, 0x10_0000_0006), gp); // above MAXPHYADDR
        assert_eq!(write(&mut c, 0x201, 0xf_ffff_f800), Ok(()));
        assert_eq!(write(&mut c, 0x201, 0xf_ffff_f801), gp);
        assert_eq!(write(&mut c, 0x26f, 0x0606_0606_0505_0400), Ok(()));
        assert_eq!(read(&mut c, 0x26f), Ok(0x0606_0606_0505_0400));
        assert_eq!(write(&mut c, 0x250, 0x0606_0606_0606_0607), gp);
        assert_eq!(write(&mut c, index::MTRRCAP, 0), gp);
        assert_eq!(write(&mut c, index::EFER, 1 << 8), gp); // LME: no long mode
        assert_eq!(write(&mut c, index::EFER, efer::NXE | efer::SCE), Ok(()));
        assert_eq!(write(&mut c, index::APIC_BASE, 0xfee0_0000), Ok(()));
        assert_eq!(read(&mut c, index::APIC_BASE), Ok(0xfee0_0100)); // disabled; BSP stays
        assert_eq!(write(&mut c, index::APIC_BASE, 1 << 10), gp);
    }

    /// What kvm-unit-tests' msr test does to IA32_MISC_ENABLE: bits 7, 11, 12 kept.
    #[test]
    fn misc_enable_keeps_read_only_bits() {
        let mut c = cpu();
        let orig = read(&mut c, index::MISC_ENABLE).unwrap();
        let v = (0x4_00c5_0809 & !0x1880) | (orig & 0x1880);
        write(&mut c, index::MISC_ENABLE, v).unwrap();
        assert_eq!(read(&mut c, index::MISC_ENABLE), Ok(v));
        assert_eq!(write(&mut c, index::MISC_ENABLE, 1 << 1), Err(Fault::gp(0)));
    }
}
