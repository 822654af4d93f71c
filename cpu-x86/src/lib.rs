//! emu's x86 CPU: architectural state, the table-driven decoder, the interpreter (the reference
//! tier), the softmmu (segmentation, paging, TLB) and exception delivery.
//!
//! - [`state`]: the `#[repr(C)]` register file both tiers share.
//! - [`flags`]: lazy arithmetic flags.
//! - [`decode`]: opcode maps in SDM vocabulary → [`decode::Insn`].
//! - [`interp`]: executes an `Insn`; one file per instruction family.
//! - [`mmu`], [`paging`], [`tlb`]: segmentation, the page walk and the TLB with host pointers.
//! - [`debug`]: debug registers, breakpoints and single-step; [`msr`]: model-specific registers.
//! - [`fault`]: exceptions as values.
//! - [`fpu`]: the x87 FPU (80-bit soft-float, FSAVE/FXSAVE, #MF/IRQ13).
//! - [`cpu`]: the CPU and its board together.
//! - [`disasm`]: Intel-syntax text of an `Insn`, for traces and the debugger.

pub mod cpu;
pub mod cpuid;
pub mod debug;
pub mod decode;
pub mod disasm;
pub mod fault;
pub mod flags;
pub mod fpu;
pub mod interp;
pub mod mmu;
pub mod msr;
pub mod paging;
pub mod protected;
pub mod state;
pub mod tlb;

pub use cpu::Cpu;
pub use decode::{decode, Insn, Mnemonic};
pub use fault::{Fault, Res};
pub use flags::Size;
pub use interp::Stop;
pub use state::{CpuState, SegReg};

/// Asks the host CPU to start loading the cache line at `p` into its caches: a hint, with no
/// effect on any result (a no-op on hosts other than x86-64).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch has no architectural effect, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
