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

    /// Whether a write of `size` bytes at `seg:off` would write a page holding translated code
    /// ([`Cpu::is_code_page`]), with the checks and faults of [`Cpu::write`] (the segment, then
    /// the TLB's write tag or the translation of each page the write touches, setting A and D as
    /// the write would), but writing nothing to the bytes written.
    pub fn write_hits_code(&mut self, seg: SegReg, off: u32, size: Size) -> Res<bool> {
        let lin = self.linear(seg, off, size.bytes(), Access::Write)?;
        let user = self.user();
        if self.write_tagged(user, lin, size).is_some() {
            // As `write_lin`: a write tag is plain RAM without code, and the write walks nothing.
            return Ok(false);
        }
        let second = lin.wrapping_add(size.bytes() - 1) & !0xfff;
        let pa = self.translate(lin, Access::Write, user)?;
        let mut code = self.holds_code(pa);
        if second != lin & !0xfff {
            let pa = self.translate(second, Access::Write, user)?;
            code |= self.holds_code(pa);
        }
        Ok(code)
    }

    /// Whether physical address `pa` is on a page holding translated code.
    #[inline]
    pub(crate) fn holds_code(&self, pa: u64) -> bool {
        pa >> 32 == 0 && self.is_code_page((pa >> 12) as u32)
    }

    /// The host address of a write of `size` bytes at `lin` that the TLB's write tag allows
    /// (the page is plain RAM without code and the write stays on it), if it does.
    #[inline]
    fn write_tagged(&self, user: bool, lin: u32, size: Size) -> Option<*mut u8> {
        let e = self.tlb.entry(user, lin);
        (e.write == lin & !0xfff && (lin & 0xfff) + size.bytes() <= 0x1000)
            .then(|| (lin as usize).wrapping_add(e.addend) as *mut u8)
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
        if let Some(p) = self.write_tagged(user, lin, size) {
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
            None => self.read_phys_device(t.pa, 1) as u8,
        })
    }

    /// The instruction-fetch window at CS:`eip`: a host pointer to the instruction's first byte
    /// and how many bytes from there (at most [`MAX_LEN`](crate::decode::MAX_LEN)) read exactly
    /// as [`Cpu::fetch_lin`] of CS:`eip + n` would, with no fault possible. `(null, 0)` when
    /// there is no such window: the first byte is outside the CS limit, its page is not in the
    /// TLB with an execute tag, or the page is not host memory (MMIO). The caller fetches the
    /// bytes past the window one at a time, so faults (#GP at the CS limit, #PF on the next
    /// page) are raised exactly as without the window.
    ///
    /// The window ends at the first of: the CS limit, the 64 KiB offset wrap of 16-bit code,
    /// the end of the page. Within it, linear addresses are consecutive (no offset wrap) and
    /// share one TLB entry, whose execute tag is what `fetch_lin` would compare. Nothing is
    /// cached here: the bytes are read when the decoder asks for them, so a store to the next
    /// instruction is seen at once. Never walks the page tables or touches the device bus (no
    /// side effects), so a miss costs only the per-byte path the caller falls back to.
    #[inline]
    pub fn fetch_window(&self, eip: u32, code32: bool) -> (*const u8, usize) {
        let off = if code32 { eip } else { eip & 0xffff };
        let Ok(lin) = self.linear(SegReg::Cs, off, 1, Access::Exec) else {
            return (std::ptr::null(), 0);
        };
        let e = self.tlb.entry(self.user(), lin);
        if e.exec != lin & !0xfff {
            return (std::ptr::null(), 0);
        }
        // `linear` accepted byte 0, so off <= limit; code segments are never expand-down.
        let limit = self.s.segs[SegReg::Cs as usize].limit;
        let in_limit = (limit - off) as u64 + 1;
        let in_offset = if code32 { in_limit } else { in_limit.min(0x1_0000 - off as u64) };
        let in_page = 0x1000 - (lin & 0xfff) as u64;
        let n = in_offset.min(in_page).min(crate::decode::MAX_LEN as u64) as usize;
        // SAFETY (of the caller's reads): a matching execute tag means the page is host memory
        // (TLB invariant) and the n bytes stay inside it.
        ((lin as usize).wrapping_add(e.addend) as *const u8, n)
    }

    /// Translates `lin` for an instruction fetch at the current privilege, as [`Cpu::fetch_lin`]
    /// does (walk, A bits, #PF), and caches the translation's execute tag so the next lookup of
    /// this page is a tag compare. Returns the physical address when the page is host memory
    /// (RAM or ROM, where translated code may come from), `None` when it is not (MMIO, open bus).
    #[inline]
    pub fn translate_fetch(&mut self, lin: u32) -> Res<Option<u64>> {
        if let Some(pa) = self.mapped_fetch(lin) {
            return Ok(Some(pa as u64));
        }
        self.translate_fetch_slow(lin, self.user())
    }

    /// The physical address of an instruction fetch at `lin` if the TLB maps its page for
    /// execution at the current privilege already (the page is then host memory); `None`
    /// otherwise, without walking the page tables.
    #[inline]
    pub fn mapped_fetch(&self, lin: u32) -> Option<u32> {
        let e = self.tlb.entry(self.user(), lin);
        (e.exec == lin & !0xfff).then_some(e.phys_page | (lin & 0xfff))
    }

    /// [`Cpu::translate_fetch`] on a TLB miss: the walk and the fill.
    #[cold]
    #[inline(never)]
    fn translate_fetch_slow(&mut self, lin: u32, user: bool) -> Res<Option<u64>> {
        let t = self.walk(lin, Access::Exec, user)?;
        Ok(self.fill(lin, t, Access::Exec, user).map(|_| t.pa))
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
            // One part per page, in address order (a #PF on the second page comes after the
            // first page's walk, as it would byte by byte).
            let first = 0x1000 - (lin & 0xfff);
            let lo = self.read_part(lin, first, user)?;
            let hi = self.read_part(lin.wrapping_add(first), size.bytes() - first, user)?;
            return Ok(lo | hi << (8 * first));
        }
        let t = self.walk(lin, Access::Read, user)?;
        if self.s.dr[7] & 0xff != 0 {
            self.check_data_breakpoints(lin, size.bytes(), false);
        }
        Ok(match self.fill(lin, t, Access::Read, user) {
            // SAFETY: `fill` returns host pointers only for host-backed pages; we stay inside.
            Some(host) => unsafe { load(host, size) },
            None => self.read_phys_device(t.pa, size as u8),
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
            let first = 0x1000 - (lin & 0xfff);
            self.write_part(lin, first, value, user)?;
            return self.write_part(second, size.bytes() - first, value >> (8 * first), user);
        }
        let t = self.walk(lin, Access::Write, user)?;
        if self.s.dr[7] & 0xff != 0 {
            self.check_data_breakpoints(lin, size.bytes(), true);
        }
        let page = (t.pa >> 12) as u32;
        if self.holds_code(t.pa) {
            self.smc_writes.push(page);
        }
        if let Some(log) = self.tlb.write_log.as_mut() {
            log.push(page);
        }
        match self.fill(lin, t, Access::Write, user) {
            // SAFETY: as in `read_lin_slow`.
            Some(host) => unsafe { store(host, size, value) },
            None => self.write_phys_device(t.pa, size as u8, value),
        }
        Ok(())
    }

    /// Reads the `n` (1 to 3) bytes at `lin` that one page holds of an access crossing pages:
    /// one walk; in host memory directly, elsewhere a byte at a time (a device sees the byte
    /// accesses a page-crossing access has always been split into).
    fn read_part(&mut self, lin: u32, n: u32, user: bool) -> Res<u32> {
        let t = self.walk(lin, Access::Read, user)?;
        if self.s.dr[7] & 0xff != 0 {
            self.check_data_breakpoints(lin, n, false);
        }
        let host = self.fill(lin, t, Access::Read, user);
        let mut v = 0;
        for i in 0..n {
            let b = match host {
                // SAFETY: `fill` returns host pointers only for host-backed pages, and the `n`
                // bytes stay on the page.
                Some(p) => unsafe { *p.add(i as usize) },
                None => self.read_phys_device(t.pa + i as u64, 1) as u8,
            };
            v |= (b as u32) << (8 * i);
        }
        Ok(v)
    }

    /// Writes the low `n` (1 to 3) bytes of `value` at `lin`, the part of a page-crossing write
    /// that lies on one page (both pages were translated already), as [`Cpu::read_part`] reads.
    fn write_part(&mut self, lin: u32, n: u32, value: u32, user: bool) -> Res<()> {
        let t = self.walk(lin, Access::Write, user)?;
        if self.s.dr[7] & 0xff != 0 {
            self.check_data_breakpoints(lin, n, true);
        }
        let page = (t.pa >> 12) as u32;
        if self.holds_code(t.pa) {
            self.smc_writes.push(page);
        }
        if let Some(log) = self.tlb.write_log.as_mut() {
            log.push(page);
        }
        let host = self.fill(lin, t, Access::Write, user);
        for i in 0..n {
            let b = (value >> (8 * i)) as u8;
            match host {
                // SAFETY: as in `read_part`.
                Some(p) => unsafe { *p.add(i as usize) = b },
                None => self.write_phys_device(t.pa + i as u64, 1, b as u32),
            }
        }
        Ok(())
    }

    /// Caches the translation `lin → t.pa` for `access` if the page is host memory, returning
    /// the host address of `t.pa` in that case. Writes to code pages and reads or writes on a
    /// page with an armed data breakpoint are not cached.
    ///
    /// Data accesses also tag the other data kind when it is allowed with no further walk: a
    /// write fill tags reads (a write's checks imply a read's), and a read fill of a RAM page
    /// tags writes when [`Translation::writable`] says the write would change nothing in the
    /// tables and the page holds no code (and no write log is kept, since that log counts on
    /// write tags coming only from slow-path writes).
    fn fill(&mut self, lin: u32, t: Translation, access: Access, user: bool) -> Option<*mut u8> {
        let pa = t.pa;
        let page = (pa >> 12) as u32;
        let (host, ram) = match self.sys.plain_ram_ptr(pa & !0xfff) {
            Some(p) => (p, true),
            None => match self.sys.page_backing(pa) {
                PageBacking::Ram(p) => (p, true),
                PageBacking::Rom(p) if access != Access::Write => (p as *mut u8, false),
                _ => return None,
            },
        };
        let code = access != Access::Exec && self.is_code_page(page);
        let cacheable =
            !(access == Access::Write && code) && (access == Access::Exec || !self.data_breakpoint_on_page(lin));
        let also_write = access == Access::Read && t.writable && ram && !code && self.tlb.write_log.is_none();
        let lin_page = lin & !0xfff;
        self.tlb.fills += 1;
        self.tlb.touch(user, Tlb::slot(lin));
        self.tlb.mark_live(user, Tlb::slot(lin));
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
                Access::Read if also_write => (e.read, e.write) = (lin_page, lin_page),
                Access::Read => e.read = lin_page,
                Access::Write => (e.read, e.write) = (lin_page, lin_page),
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
