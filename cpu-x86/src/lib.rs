//! emu's x86 CPU: architectural state, the table-driven decoder, the interpreter (the reference
//! tier), the softmmu (segmentation, paging, TLB) and exception delivery.
//!
//! - [`state`]: the `#[repr(C)]` register file both tiers share.
//! - [`flags`]: lazy arithmetic flags.
//! - [`decode`]: opcode maps in SDM vocabulary → [`decode::Insn`].
//! - [`interp`]: executes an `Insn`; one file per instruction family.
//! - [`mmu`], [`tlb`]: segmentation, paging and the TLB with host pointers.
//! - [`fault`]: exceptions as values.
//! - [`cpu`]: the CPU and its board together.
//! - [`disasm`]: Intel-syntax text of an `Insn`, for traces and the debugger.

pub mod cpu;
pub mod cpuid;
pub mod decode;
pub mod disasm;
pub mod fault;
pub mod flags;
pub mod interp;
pub mod mmu;
pub mod state;
pub mod tlb;

pub use cpu::Cpu;
pub use decode::{decode, Insn, Mnemonic};
pub use fault::{Fault, Res};
pub use flags::Size;
pub use interp::Stop;
pub use state::{CpuState, SegReg};
