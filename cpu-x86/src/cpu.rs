//! The CPU as a whole: architectural state, the softmmu TLB, and the system board it is wired to.

use crate::decode::cache::DecodeCache;
use crate::decode::Insn;
use crate::state::CpuState;
use crate::tlb::Tlb;
use emu_core::System;
use std::collections::HashSet;

/// One x86 CPU and its board. Both tiers operate on this value; the JIT passes `*mut Cpu` to
/// generated code and its helpers. `#[repr(C)]` keeps `s` at offset 0 (emu-jit pins it in a test).
#[repr(C)]
pub struct Cpu {
    /// Architectural state (`#[repr(C)]`, first field: generated code reaches it at offset 0).
    pub s: CpuState,
    /// The softmmu TLB, inside the `Cpu` rather than boxed: generated code reaches an entry
    /// from the CPU pointer it has anyway (`cpu + offset + index`), with no register to hold
    /// the TLB's address through a block.
    pub tlb: Tlb,
    pub sys: System,
    /// Instructions the interpreter decoded, by host address (see [`DecodeCache`]).
    pub(crate) decode_cache: DecodeCache,
    /// Physical pages holding translated code, one bit per 4 KiB page of the 4 GiB space.
    code_pages: Box<[u64]>,
    /// Physical pages written while marked in `code_pages`, for the JIT to invalidate.
    pub smc_writes: Vec<u32>,
    /// `!0` with A20 enabled, `!(1 << 20)` with it disabled.
    pub a20_mask: u32,
    a20_generation: u64,
    /// The board's physical-map generation the TLB was filled under.
    map_generation: u64,
    /// Things already reported as unimplemented (each is logged once).
    reported: HashSet<String>,
    /// Triple fault: the CPU stopped; the machine resets it or ends the run.
    pub shutdown: bool,
    /// `icount` at which the run loop next syncs the clock and runs device timers.
    pub sys_deadline_icount: u64,
    /// Debug-exception bookkeeping of the step loop (see [`crate::debug`]).
    pub debug: crate::debug::DebugState,
    /// An NMI handler is running: further NMIs wait for the next IRET (SDM Vol. 3, 6.7.1).
    pub nmi_blocked: bool,
}

impl Cpu {
    /// A CPU in its RESET state, wired to `sys`.
    pub fn new(sys: System) -> Self {
        let a20 = sys.lines.a20();
        let gen = sys.lines.a20_generation();
        Cpu {
            s: CpuState::reset(),
            tlb: Tlb::default(),
            sys,
            decode_cache: DecodeCache::default(),
            code_pages: vec![0u64; (1 << 20) / 64].into_boxed_slice(),
            smc_writes: Vec::new(),
            a20_mask: if a20 { !0 } else { !(1 << 20) },
            a20_generation: gen,
            map_generation: 0,
            reported: HashSet::new(),
            shutdown: false,
            sys_deadline_icount: 0,
            debug: Default::default(),
            nmi_blocked: false,
        }
    }

    /// RESET (or INIT): architectural state back to power-on values; memory is kept.
    pub fn reset(&mut self) {
        let icount = self.s.icount;
        self.s = CpuState::reset();
        self.s.icount = icount;
        self.shutdown = false;
        self.debug = Default::default();
        self.nmi_blocked = false;
        self.tlb.flush();
        self.set_tsc(0);
        // The local APIC is part of the processor: RESET and INIT reset it too.
        self.sys.with_local_interrupt_controller(|l| l.reset());
    }

    /// Whether the CPU has a local APIC and it is globally enabled (IA32_APIC_BASE bit 11): what
    /// CPUID.1:EDX bit 9 reports.
    pub fn apic_enabled(&mut self) -> bool {
        self.sys.with_local_interrupt_controller(|l| l.base_msr() & crate::msr::apic_base::EN != 0).unwrap_or(false)
    }

    /// Delivers a pending NMI unless one is being handled; returns whether it did. Called by the
    /// run loops when the board asks for attention (a local APIC raises NMIs on the board's
    /// lines, which asks for it; so does the IRET that unblocks NMIs).
    pub fn deliver_nmi(&mut self) -> bool {
        if self.nmi_blocked || !self.sys.lines.take_nmi() {
            return false;
        }
        self.nmi_blocked = true;
        self.s.halted = false;
        self.interrupt(crate::fault::vector::NMI, crate::interp::Delivery::External);
        true
    }

    /// Re-reads the board's A20 gate and physical-map generation; flushes the TLB if either
    /// moved. Called between instructions (or blocks) when the board's lines need attention.
    pub fn sync_a20(&mut self) {
        let map = self.sys.mmio_generation();
        if map != self.map_generation {
            self.map_generation = map;
            self.tlb.flush();
        }
        let gen = self.sys.lines.a20_generation();
        if gen != self.a20_generation {
            self.a20_generation = gen;
            self.a20_mask = if self.sys.lines.a20() { !0 } else { !(1 << 20) };
            self.tlb.flush();
        }
    }

    /// Marks physical page `page` (address >> 12) as holding translated code: writes to it
    /// take the slow path and are reported in `smc_writes`.
    pub fn mark_code_page(&mut self, page: u32) {
        self.code_pages[page as usize / 64] |= 1 << (page % 64);
        self.tlb.protect_phys_page(page << 12);
    }

    /// Unmarks a code page (its translations were dropped).
    pub fn unmark_code_page(&mut self, page: u32) {
        self.code_pages[page as usize / 64] &= !(1 << (page % 64));
    }

    #[inline]
    pub fn is_code_page(&self, page: u32) -> bool {
        self.code_pages[page as usize / 64] & (1 << (page % 64)) != 0
    }

    /// Reports an instruction emu does not implement, once per opcode and ModRM.reg: the
    /// instruction then raises #UD as on a CPU without it.
    pub fn log_unimplemented(&mut self, insn: &Insn) {
        let key = format!("opcode {:03x}/{}", insn.opcode, insn.reg());
        let (cs, eip) = (self.s.segs[1].selector, self.s.eip);
        self.log_once(&key, || {
            format!(
                "emu: unimplemented instruction {} (opcode {}{:02x} /{}) near {cs:04x}:{eip:08x}: raising #UD",
                insn.mnemonic.name().to_lowercase(),
                if insn.opcode > 0xff { "0f " } else { "" },
                insn.opcode & 0xff,
                insn.reg(),
            )
        });
    }

    /// Prints `message()` on stderr the first time `key` is seen.
    pub fn log_once(&mut self, key: &str, message: impl FnOnce() -> String) {
        if !self.reported.contains(key) {
            self.reported.insert(key.to_string());
            eprintln!("{}", message());
        }
    }
}

impl std::fmt::Debug for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cpu").field("s", &self.s).finish_non_exhaustive()
    }
}
