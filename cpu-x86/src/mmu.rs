//! The softmmu as the interpreter uses it: segmentation (offset → linear address), the linear
//! accesses (through the [`Tlb`](crate::tlb::Tlb), or the page walk of [`crate::paging`]), and
//! the physical access itself (host RAM directly, everything else through the board's
//! [`System`](emu_core::System)).
//!
//! The fast path is a TLB tag compare and a host load or store; [`Cpu::read_lin_slow`] and
//! [`Cpu::write_lin_slow`] do the page walk, the permission checks, the A/D bits, MMIO, page
//! crossings, self-modifying-code detection and data breakpoints (pages holding an armed data
//! breakpoint are never given read or write tags, so every access to them comes here).

use crate::cpu::Cpu;
use crate::fault::{Fault, Res};
use crate::flags::Size;
use crate::paging::Translation;
pub use crate::paging::{pf_error, pte};
use crate::state::{attr, SegReg};
use crate::tlb::{Access, Tlb, TlbEntry};
use emu_core::PageBacking;

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
        let t = self.walk(lin, Access::Exec, user)?;
        Ok(match self.fill(lin, t, Access::Exec, user) {
            // SAFETY: `fill` returns host pointers only for host-backed pages.
            Some(host) => unsafe { *host },
            None => self.sys.read_phys(t.pa, 1) as u8,
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
        let t = self.walk(lin, Access::Read, user)?;
        if self.s.dr[7] & 0xff != 0 {
            self.check_data_breakpoints(lin, size.bytes(), false);
        }
        Ok(match self.fill(lin, t, Access::Read, user) {
            // SAFETY: `fill` returns host pointers only for host-backed pages; we stay inside.
            Some(host) => unsafe { load(host, size) },
            None => self.sys.read_phys(t.pa, size as u8),
        })
    }

    /// The slow write. A write that crosses a page is translated on both pages before any byte
    /// is written, so a #PF on the second page leaves memory untouched.
    pub fn write_lin_slow(&mut self, lin: u32, size: Size, value: u32, user: bool) -> Res<()> {
        if (lin & 0xfff) + size.bytes() > 0x1000 {
            // A #PF on the second page reports its first byte (CR2), as hardware does.
            let second = lin.wrapping_add(size.bytes() - 1) & !0xfff;
            self.translate(lin, Access::Write, user)?;
            self.translate(second, Access::Write, user)?;
            for i in 0..size.bytes() {
                self.write_lin_slow(lin.wrapping_add(i), Size::B, value >> (8 * i), user)?;
            }
            return Ok(());
        }
        let t = self.walk(lin, Access::Write, user)?;
        if self.s.dr[7] & 0xff != 0 {
            self.check_data_breakpoints(lin, size.bytes(), true);
        }
        let page = (t.pa >> 12) as u32;
        if t.pa >> 32 == 0 && self.is_code_page(page) {
            self.smc_writes.push(page);
        }
        if let Some(log) = self.tlb.write_log.as_mut() {
            log.push(page);
        }
        match self.fill(lin, t, Access::Write, user) {
            // SAFETY: as in `read_lin_slow`.
            Some(host) => unsafe { store(host, size, value) },
            None => self.sys.write_phys(t.pa, size as u8, value),
        }
        Ok(())
    }

    /// Caches the translation `lin → t.pa` for `access` if the page is host memory, returning
    /// the host address of `t.pa` in that case. Writes to code pages and reads or writes on a
    /// page with an armed data breakpoint are not cached.
    fn fill(&mut self, lin: u32, t: Translation, access: Access, user: bool) -> Option<*mut u8> {
        let pa = t.pa;
        let host = match self.sys.page_backing(pa) {
            PageBacking::Ram(p) => p,
            PageBacking::Rom(p) if access != Access::Write => p as *mut u8,
            _ => return None,
        };
        let page = (pa >> 12) as u32;
        let cacheable = !(access == Access::Write && self.is_code_page(page))
            && (access == Access::Exec || !self.data_breakpoint_on_page(lin));
        let lin_page = lin & !0xfff;
        self.tlb.fills += 1;
        let e: &mut TlbEntry = &mut self.tlb.sets[user as usize][Tlb::slot(lin)];
        let addend = (host as usize).wrapping_sub(lin_page as usize);
        if e.addend != addend || e.phys_page != page << 12 || ![e.read, e.write, e.exec].contains(&lin_page) {
            *e = TlbEntry { phys_page: page << 12, addend, ..TlbEntry::EMPTY };
            self.tlb.global[user as usize][Tlb::slot(lin)] = t.global;
        } else {
            self.tlb.global[user as usize][Tlb::slot(lin)] &= t.global;
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
