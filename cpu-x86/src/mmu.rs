//! The softmmu as the interpreter uses it: segmentation (offset → linear address), paging
//! (linear → physical, through the [`Tlb`](crate::tlb::Tlb)), and the physical access itself
//! (host RAM directly, everything else through the board's [`System`](emu_core::System)).
//!
//! The fast path is a TLB tag compare and a host load or store; [`Cpu::read_lin_slow`] and
//! [`Cpu::write_lin_slow`] do the page walk, the permission checks, the A/D bits, MMIO, page
//! crossings, and self-modifying-code detection.

use crate::cpu::Cpu;
use crate::fault::{Fault, Res};
use crate::flags::Size;
use crate::state::{attr, cr0, SegReg};
use crate::tlb::{Access, Tlb, TlbEntry};
use emu_core::PageBacking;

/// Page-table entry bits (SDM Vol. 3, 4.3).
pub mod pte {
    pub const P: u32 = 1 << 0;
    pub const RW: u32 = 1 << 1;
    pub const US: u32 = 1 << 2;
    pub const A: u32 = 1 << 5;
    pub const D: u32 = 1 << 6;
    pub const PS: u32 = 1 << 7;
}

/// #PF error code bits.
pub mod pf_error {
    pub const P: u32 = 1 << 0;
    pub const W: u32 = 1 << 1;
    pub const U: u32 = 1 << 2;
}

const CR4_PSE: u32 = 1 << 4;
const CR4_PAE: u32 = 1 << 5;

impl Cpu {
    // ---- segmentation -----------------------------------------------------------------------

    /// Checks an access of `size` bytes at `seg:off` against the segment cache and returns the
    /// linear address. #GP(0), or #SS(0) for the stack segment, on a violation.
    #[inline]
    pub fn linear(&self, seg: SegReg, off: u32, size: u32, access: Access) -> Res<u32> {
        let s = &self.s.segs[seg as usize];
        let fault = || if seg == SegReg::Ss { Fault::ss(0) } else { Fault::gp(0) };
        let last = off.wrapping_add(size - 1);
        if self.s.protected() && !self.s.v86() {
            if s.attr & attr::P == 0 {
                return Err(fault()); // null or not-present selector loaded
            }
            let code = s.attr & attr::CODE != 0;
            let ok = match access {
                Access::Write => !code && s.attr & attr::RW != 0,
                Access::Read => !code || s.attr & attr::RW != 0,
                Access::Exec => code,
            };
            if !ok {
                return Err(fault());
            }
            if !code && s.attr & attr::DC != 0 {
                // Expand-down: valid offsets are limit+1 ..= 0xffff (or 0xffffffff with B set).
                let top = if s.is_32() { u32::MAX } else { 0xffff };
                if off <= s.limit || last > top || last < off {
                    return Err(fault());
                }
                return Ok(s.base.wrapping_add(off));
            }
        }
        if last < off || last > s.limit {
            return Err(fault());
        }
        Ok(s.base.wrapping_add(off))
    }

    /// Reads `size` bytes at `seg:off`.
    #[inline]
    pub fn read(&mut self, seg: SegReg, off: u32, size: Size) -> Res<u32> {
        let lin = self.linear(seg, off, size.bytes(), Access::Read)?;
        self.read_lin(lin, size)
    }

    /// Writes `size` bytes of `value` at `seg:off`.
    #[inline]
    pub fn write(&mut self, seg: SegReg, off: u32, size: Size, value: u32) -> Res<()> {
        let lin = self.linear(seg, off, size.bytes(), Access::Write)?;
        self.write_lin(lin, size, value)
    }

    // ---- linear accesses --------------------------------------------------------------------

    #[inline]
    fn user(&self) -> bool {
        self.s.cpl == 3
    }

    /// Reads `size` bytes at linear address `lin` with the current privilege.
    #[inline]
    pub fn read_lin(&mut self, lin: u32, size: Size) -> Res<u32> {
        let user = self.user();
        let e = self.tlb.entry(user, lin);
        if e.read == lin & !0xfff && (lin & 0xfff) + size.bytes() <= 0x1000 {
            let p = (lin as usize).wrapping_add(e.addend) as *const u8;
            // SAFETY: a matching read tag means the page is host memory (TLB invariant) and the
            // access stays inside it.
            return Ok(unsafe { load(p, size) });
        }
        self.read_lin_slow(lin, size, user)
    }

    /// Writes `size` bytes at linear address `lin` with the current privilege.
    #[inline]
    pub fn write_lin(&mut self, lin: u32, size: Size, value: u32) -> Res<()> {
        let user = self.user();
        let e = self.tlb.entry(user, lin);
        if e.write == lin & !0xfff && (lin & 0xfff) + size.bytes() <= 0x1000 {
            let p = (lin as usize).wrapping_add(e.addend) as *mut u8;
            // SAFETY: as in `read_lin`; a matching write tag also means plain RAM without code.
            unsafe { store(p, size, value) };
            return Ok(());
        }
        self.write_lin_slow(lin, size, value, user)
    }

    /// Fetches one instruction byte at linear address `lin`.
    #[inline]
    pub fn fetch_lin(&mut self, lin: u32) -> Res<u8> {
        let user = self.user();
        let e = self.tlb.entry(user, lin);
        if e.exec == lin & !0xfff {
            // SAFETY: as in `read_lin`.
            return Ok(unsafe { *((lin as usize).wrapping_add(e.addend) as *const u8) });
        }
        let pa = self.translate(lin, Access::Exec, user)?;
        Ok(match self.fill(lin, pa, Access::Exec, user) {
            Some(host) => unsafe { *host },
            None => self.sys.read_phys(pa, 1) as u8,
        })
    }

    /// Reads with supervisor rights whatever the CPL (descriptor tables, TSS, IDT).
    pub fn read_lin_sys(&mut self, lin: u32, size: Size) -> Res<u32> {
        self.read_lin_slow(lin, size, false)
    }

    /// Writes with supervisor rights whatever the CPL (descriptor accessed/busy bits, TSS).
    pub fn write_lin_sys(&mut self, lin: u32, size: Size, value: u32) -> Res<()> {
        self.write_lin_slow(lin, size, value, false)
    }

    /// The slow read: page walk, TLB fill, MMIO, page crossing.
    pub fn read_lin_slow(&mut self, lin: u32, size: Size, user: bool) -> Res<u32> {
        if (lin & 0xfff) + size.bytes() > 0x1000 {
            let mut v = 0;
            for i in 0..size.bytes() {
                v |= self.read_lin_slow(lin.wrapping_add(i), Size::B, user)? << (8 * i);
            }
            return Ok(v);
        }
        let pa = self.translate(lin, Access::Read, user)?;
        Ok(match self.fill(lin, pa, Access::Read, user) {
            // SAFETY: `fill` returns host pointers only for host-backed pages; we stay inside.
            Some(host) => unsafe { load(host, size) },
            None => self.sys.read_phys(pa, size as u8),
        })
    }

    /// The slow write. A write that crosses a page is translated on both pages before any byte
    /// is written, so a #PF on the second page leaves memory untouched.
    pub fn write_lin_slow(&mut self, lin: u32, size: Size, value: u32, user: bool) -> Res<()> {
        if (lin & 0xfff) + size.bytes() > 0x1000 {
            let second = lin.wrapping_add(size.bytes() - 1);
            self.translate(lin, Access::Write, user)?;
            self.translate(second, Access::Write, user)?;
            for i in 0..size.bytes() {
                self.write_lin_slow(lin.wrapping_add(i), Size::B, value >> (8 * i), user)?;
            }
            return Ok(());
        }
        let pa = self.translate(lin, Access::Write, user)?;
        let page = (pa >> 12) as u32;
        if self.is_code_page(page) {
            self.smc_writes.push(page);
        }
        match self.fill(lin, pa, Access::Write, user) {
            // SAFETY: as in `read_lin_slow`.
            Some(host) => unsafe { store(host, size, value) },
            None => self.sys.write_phys(pa, size as u8, value),
        }
        Ok(())
    }

    /// Caches the translation `lin → pa` for `access` if the page is host memory, returning the
    /// host address of `pa` in that case.
    fn fill(&mut self, lin: u32, pa: u64, access: Access, user: bool) -> Option<*mut u8> {
        let host = match self.sys.page_backing(pa) {
            PageBacking::Ram(p) => p,
            PageBacking::Rom(p) if access != Access::Write => p as *mut u8,
            _ => return None,
        };
        let page = (pa >> 12) as u32;
        let cacheable = !(access == Access::Write && self.is_code_page(page));
        let lin_page = lin & !0xfff;
        self.tlb.fills += 1;
        let e: &mut TlbEntry = &mut self.tlb.sets[user as usize][Tlb::slot(lin)];
        let addend = (host as usize).wrapping_sub(lin_page as usize);
        if e.addend != addend || e.phys_page != page << 12 || ![e.read, e.write, e.exec].contains(&lin_page) {
            *e = TlbEntry { phys_page: page << 12, addend, ..TlbEntry::EMPTY };
        }
        if cacheable {
            match access {
                Access::Read => e.read = lin_page,
                Access::Write => e.write = lin_page,
                Access::Exec => e.exec = lin_page,
            }
        }
        // SAFETY: `host` points at a whole 4 KiB page of host memory.
        Some(unsafe { host.add((pa & 0xfff) as usize) })
    }

    // ---- paging -----------------------------------------------------------------------------

    /// Translates a linear address to a physical one for `access`, walking the page tables when
    /// paging is on (setting A and D as the hardware does) and raising #PF on a violation.
    pub fn translate(&mut self, lin: u32, access: Access, user: bool) -> Res<u64> {
        if self.s.cr0 & cr0::PG == 0 {
            return Ok((lin & self.a20_mask) as u64);
        }
        if self.s.cr4 & CR4_PAE != 0 {
            // PAE paging belongs to the system-architecture work; CPUID does not claim it.
            return Err(Fault::gp(0));
        }
        let write = access == Access::Write;
        let err = (if write { pf_error::W } else { 0 }) | (if user { pf_error::U } else { 0 });
        let pde_addr = ((self.s.cr3 & !0xfff) | ((lin >> 22) << 2)) as u64;
        let pde = self.phys_u32(pde_addr);
        if pde & pte::P == 0 {
            return Err(Fault::pf(lin, err));
        }
        let big = pde & pte::PS != 0 && self.s.cr4 & CR4_PSE != 0;
        let (entry_addr, entry, rights) = if big {
            (pde_addr, pde, pde)
        } else {
            let pte_addr = ((pde & !0xfff) | (((lin >> 12) & 0x3ff) << 2)) as u64;
            let p = self.phys_u32(pte_addr);
            if p & pte::P == 0 {
                return Err(Fault::pf(lin, err));
            }
            (pte_addr, p, pde & p)
        };
        let wp = self.s.cr0 & cr0::WP != 0;
        if (user && rights & pte::US == 0) || (write && rights & pte::RW == 0 && (user || wp)) {
            return Err(Fault::pf(lin, err | pf_error::P));
        }
        if !big && pde & pte::A == 0 {
            self.set_phys_u32(pde_addr, pde | pte::A);
        }
        let new = entry | pte::A | if write { pte::D } else { 0 };
        if new != entry {
            self.set_phys_u32(entry_addr, new);
        }
        let pa = if big { (entry & 0xffc0_0000) | (lin & 0x3f_ffff) } else { (entry & !0xfff) | (lin & 0xfff) };
        Ok((pa & self.a20_mask) as u64)
    }

    fn phys_u32(&mut self, pa: u64) -> u32 {
        self.sys.read_phys(pa & self.a20_mask as u64, 4)
    }

    fn set_phys_u32(&mut self, pa: u64, v: u32) {
        self.sys.write_phys(pa & self.a20_mask as u64, 4, v);
    }
}

/// Loads a little-endian value of `size` from host memory.
///
/// # Safety
/// `p .. p + size` must be readable host memory.
#[inline]
unsafe fn load(p: *const u8, size: Size) -> u32 {
    match size {
        Size::B => *p as u32,
        Size::W => u16::from_le((p as *const u16).read_unaligned()) as u32,
        Size::D => u32::from_le((p as *const u32).read_unaligned()),
    }
}

/// Stores a little-endian value of `size` to host memory.
///
/// # Safety
/// `p .. p + size` must be writable host memory.
#[inline]
unsafe fn store(p: *mut u8, size: Size, v: u32) {
    match size {
        Size::B => *p = v as u8,
        Size::W => (p as *mut u16).write_unaligned((v as u16).to_le()),
        Size::D => (p as *mut u32).write_unaligned(v.to_le()),
    }
}
