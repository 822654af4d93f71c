//! Every offset generated code uses to reach the CPU, in one place (as wasmtime keeps its
//! `VMOffsets`): the fields of [`CpuState`] through the `*mut Cpu` a block receives, and the
//! TLB's entries; the block's exit context and link cells.
//!
//! **Invariant:** generated code reaches memory only through these constants, a guest page's
//! host address from a TLB entry, and the helpers; the tests at the bottom pin the layout they
//! assume (`Cpu::s` at offset 0, `#[repr(C)]` `CpuState` and `TlbEntry`).

use crate::cache::{Cells, JumpEntry, LinkCell};
use crate::helpers::ExitCtx;
use emu_cpu_x86::state::{CpuState, Segment};
use emu_cpu_x86::tlb::{Tlb, TlbEntry, TLB_SIZE};
use emu_cpu_x86::Cpu;
use std::mem::{offset_of, size_of};

/// Offset of the state inside `Cpu` (pinned to 0).
const S: usize = offset_of!(Cpu, s);

/// General register `n` (EAX..EDI).
pub const fn reg(n: usize) -> i32 {
    (S + offset_of!(CpuState, regs) + 4 * n) as i32
}
pub const EIP: i32 = (S + offset_of!(CpuState, eip)) as i32;
/// EFLAGS except the arithmetic flags (those are lazy).
pub const FLAGS: i32 = (S + offset_of!(CpuState, flags)) as i32;
pub const CC_OP: i32 = (S + offset_of!(CpuState, cc_op)) as i32;
pub const CC_DST: i32 = (S + offset_of!(CpuState, cc_dst)) as i32;
pub const CC_SRC: i32 = (S + offset_of!(CpuState, cc_src)) as i32;
pub const CC_SRC2: i32 = (S + offset_of!(CpuState, cc_src2)) as i32;
pub const ICOUNT: i32 = (S + offset_of!(CpuState, icount)) as i32;

/// Segment register `n`'s cache (ES, CS, SS, DS, FS, GS).
const fn seg(n: usize) -> usize {
    S + offset_of!(CpuState, segs) + n * size_of::<Segment>()
}
pub const fn seg_base(n: usize) -> i32 {
    (seg(n) + offset_of!(Segment, base)) as i32
}
pub const fn seg_limit(n: usize) -> i32 {
    (seg(n) + offset_of!(Segment, limit)) as i32
}
pub const fn seg_attr(n: usize) -> i32 {
    (seg(n) + offset_of!(Segment, attr)) as i32
}

/// Offset of TLB set `user` (0 supervisor, 1 user) inside `Cpu`.
pub const fn tlb_set(user: bool) -> i32 {
    (offset_of!(Cpu, tlb) + offset_of!(Tlb, sets) + user as usize * TLB_SIZE * size_of::<TlbEntry>()) as i32
}
pub const TLB_ENTRY_SIZE: i64 = size_of::<TlbEntry>() as i64;
pub const TLB_READ: i32 = offset_of!(TlbEntry, read) as i32;
pub const TLB_WRITE: i32 = offset_of!(TlbEntry, write) as i32;
pub const TLB_ADDEND: i32 = offset_of!(TlbEntry, addend) as i32;
pub const TLB_EXEC: i32 = offset_of!(TlbEntry, exec) as i32;
pub const TLB_PHYS: i32 = offset_of!(TlbEntry, phys_page) as i32;

/// Fields of the `ExitCtx` a block receives (`#[repr(C)]`).
pub const CTX_CHAIN_LIMIT: i32 = offset_of!(ExitCtx, chain_limit) as i32;
pub const CTX_CHAINED: i32 = offset_of!(ExitCtx, chained) as i32;
pub const CTX_INLINE_ACCESSES: i32 = offset_of!(ExitCtx, inline_accesses) as i32;
pub const CTX_EXIT_CELLS: i32 = offset_of!(ExitCtx, exit_cells) as i32;
pub const CTX_HELPER_RESULT: i32 = offset_of!(ExitCtx, helper_result) as i32;
/// The low and high halves of `ExitCtx::helper_result` (a `u64` in host byte order).
pub const CTX_HELPER_RESULT_LO: i32 = CTX_HELPER_RESULT + if cfg!(target_endian = "little") { 0 } else { 4 };
pub const CTX_HELPER_RESULT_HI: i32 = CTX_HELPER_RESULT + if cfg!(target_endian = "little") { 4 } else { 0 };

/// A block's [`LinkCell`]s: one per chainable exit, `LINK_CELL_SIZE` bytes apart from the start
/// of its `Cells`.
pub const LINK_CELL_SIZE: usize = size_of::<LinkCell>();
pub const LINK_ENTRY: i32 = offset_of!(LinkCell, entry) as i32;
pub const LINK_EIP: i32 = offset_of!(LinkCell, eip) as i32;
pub const LINK_PHYS: i32 = offset_of!(LinkCell, phys) as i32;
pub const LINK_LAST: i32 = offset_of!(LinkCell, last) as i32;
pub const LINK_INSNS: i32 = offset_of!(LinkCell, insns) as i32;
/// A baseline block's count of runs left in its `Cells` (`Cells::runs`).
pub const CELLS_RUNS: i32 = offset_of!(Cells, runs) as i32;

/// The jump cache's [`JumpEntry`]s: a [`LinkCell`] at offset 0 (so the `LINK_*` offsets apply),
/// then the CS base and mode the entry's block was translated for.
pub const JUMP_ENTRY_SIZE: i64 = size_of::<JumpEntry>() as i64;
pub const JUMP_CS_BASE: i32 = offset_of!(JumpEntry, cs_base) as i32;
pub const JUMP_MODE: i32 = offset_of!(JumpEntry, mode) as i32;

#[cfg(test)]
mod tests {
    use super::*;

    /// The JIT reaches `CpuState` through the `*mut Cpu` it is given.
    #[test]
    fn state_is_at_offset_zero_of_cpu() {
        assert_eq!(offset_of!(Cpu, s), 0);
    }

    #[test]
    fn offsets_match_the_state_layout() {
        assert_eq!(reg(0), 0);
        assert_eq!(reg(7), 28);
        assert_eq!(EIP, 32);
        assert_eq!(FLAGS, 36);
        assert_eq!((CC_OP, CC_DST, CC_SRC, CC_SRC2), (40, 44, 48, 52));
        assert_eq!(seg_base(0), 56);
        assert_eq!(seg_limit(1), 56 + 12 + 4);
        assert_eq!(seg_attr(2), 56 + 24 + 10);
        assert_eq!(ICOUNT % 8, 0);
    }

    #[test]
    fn jump_entry_starts_with_a_link_cell() {
        assert_eq!(offset_of!(JumpEntry, cell), 0);
        assert!(JUMP_ENTRY_SIZE.count_ones() == 1, "a power of two, so indexing is a shift");
    }

    #[test]
    fn tlb_entry_layout() {
        assert_eq!((TLB_READ, TLB_WRITE), (0, 4));
        assert_eq!(offset_of!(TlbEntry, exec), 8);
        assert_eq!(offset_of!(TlbEntry, phys_page), 12);
        assert_eq!(TLB_ADDEND, 16);
        assert_eq!(TLB_ENTRY_SIZE, 32);
        assert_eq!((TLB_EXEC, TLB_PHYS), (8, 12));
        assert_eq!(tlb_set(false), (offset_of!(Cpu, tlb) + offset_of!(Tlb, sets)) as i32);
    }
}
