//! Paging (SDM Vol. 3, chapter 4): the page walk from a linear to a physical address, with the
//! permission checks, the accessed and dirty bits, and the #PF error code; and the control
//! register writes that change how it walks (CR3, and CR0/CR4 through [`Cpu::paging_mode_change`]).
//!
//! Two modes, picked by CR4.PAE when CR0.PG is set:
//! - **32-bit paging** (4.3): CR3 → page directory (1024 × 4 bytes) → page table → 4 KiB page;
//!   with CR4.PSE a directory entry with PS set maps a 4 MiB page (PSE-36 is not implemented, so
//!   its bits 21:13 are reserved).
//! - **PAE paging** (4.4): four PDPTEs, loaded from CR3 when CR3 is written (not on each walk) →
//!   page directory (512 × 8 bytes) → page table → 4 KiB page, or a 2 MiB page when the directory
//!   entry has PS set. With EFER.NXE, bit 63 of a directory or table entry forbids instruction
//!   fetches. Physical addresses have [`MAXPHYADDR`] = 36 bits; those above the board's 4 GiB
//!   read as open bus.
//!
//! Rights are the AND of R/W and U/S over the levels (PDPTEs have none). A supervisor write to a
//! read-only page faults only with CR0.WP. A successful walk sets A in every entry it used and D
//! in the last one on a write, each with one 4-byte store of the entry's low half (as a locked
//! update would leave it); a faulting walk changes nothing. Reserved bits set in a present entry
//! raise #PF with RSVD; bad PDPTEs make the MOV that loads them raise #GP(0).
//!
//! Translations are cached by the [`Tlb`](crate::tlb::Tlb) (filled in [`crate::mmu`]); a walk
//! also says whether its page is global (G with CR4.PGE), which lets the entry survive a CR3 load.

use crate::cpu::Cpu;
use crate::fault::{Fault, Res};
use crate::interp::system::CR4_VALID;
use crate::msr::{efer, MAXPHYADDR};
use crate::state::{cr0, cr4};
use crate::tlb::Access;

/// Paging-structure entry bits (SDM Vol. 3, Tables 4-4 to 4-11).
pub mod pte {
    pub const P: u32 = 1 << 0;
    pub const RW: u32 = 1 << 1;
    pub const US: u32 = 1 << 2;
    pub const PWT: u32 = 1 << 3;
    pub const PCD: u32 = 1 << 4;
    pub const A: u32 = 1 << 5;
    pub const D: u32 = 1 << 6;
    /// Page size, in a directory entry: maps a 4 MiB (2 MiB with PAE) page.
    pub const PS: u32 = 1 << 7;
    /// Global: the translation survives a CR3 load (with CR4.PGE).
    pub const G: u32 = 1 << 8;
    /// Execute-disable (bit 63 of a PAE entry), with EFER.NXE.
    pub const XD: u64 = 1 << 63;
}

/// #PF error code bits (SDM Vol. 3, 4.7).
pub mod pf_error {
    /// 0: the page was not present; 1: a protection violation.
    pub const P: u32 = 1 << 0;
    /// The access was a write.
    pub const W: u32 = 1 << 1;
    /// The access was a user-mode (CPL 3) one.
    pub const U: u32 = 1 << 2;
    /// A reserved bit was set in a paging-structure entry.
    pub const RSVD: u32 = 1 << 3;
    /// The access was an instruction fetch (reported only with PAE paging and EFER.NXE).
    pub const ID: u32 = 1 << 4;
}

/// Bits 63:MAXPHYADDR of a PAE entry (physical-address bits this CPU does not have).
const ABOVE_MAXPHYADDR: u64 = !((1u64 << MAXPHYADDR) - 1);
/// Reserved bits of a present PDPTE: R/W, U/S (2:1), A, D, PS, G (8:5), and 63:MAXPHYADDR.
const PDPTE_RESERVED: u64 = 0x1e6 | ABOVE_MAXPHYADDR;
/// A PAE entry's physical frame, bits 35:12.
const PAE_FRAME: u64 = !ABOVE_MAXPHYADDR & !0xfff;

/// The result of a walk: where the byte is, whether the page is global, and whether a write
/// through the same translation would need no further walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    pub pa: u64,
    pub global: bool,
    /// A write at this privilege would pass the permission checks and find A set in every entry
    /// and D set in the last one, so it would change nothing in the tables: the TLB may give the
    /// page a write tag along with the tag of the access that walked (as hardware caches the
    /// dirty state in its TLB; software that clears D must invalidate the page, SDM 4.8).
    pub writable: bool,
}

impl Cpu {
    /// Translates a linear address to a physical one for `access` at user (`user`) or
    /// supervisor privilege, walking the page tables when paging is on (setting A and D as the
    /// hardware does) and raising #PF on a violation.
    pub fn translate(&mut self, lin: u32, access: Access, user: bool) -> Res<u64> {
        self.walk(lin, access, user).map(|t| t.pa)
    }

    /// [`Cpu::translate`], also telling whether the page is global.
    pub fn walk(&mut self, lin: u32, access: Access, user: bool) -> Res<Translation> {
        if self.s.cr0 & cr0::PG == 0 {
            return Ok(Translation { pa: (lin & self.a20_mask) as u64, global: false, writable: true });
        }
        if self.s.cr4 & cr4::PAE != 0 {
            self.walk_pae(lin, access, user)
        } else {
            self.walk_32(lin, access, user)
        }
    }

    /// The error-code bits that describe the access itself (W, U, I/D).
    fn pf_access_bits(&self, access: Access, user: bool) -> u32 {
        let mut e = if user { pf_error::U } else { 0 };
        match access {
            Access::Write => e |= pf_error::W,
            Access::Exec if self.s.cr4 & cr4::PAE != 0 && self.s.efer & efer::NXE != 0 => e |= pf_error::ID,
            _ => {}
        }
        e
    }

    /// Whether an access with these combined rights is a protection violation.
    fn denied(&self, rights: u32, xd: bool, access: Access, user: bool) -> bool {
        let wp = self.s.cr0 & cr0::WP != 0;
        (user && rights & pte::US == 0)
            || (access == Access::Write && rights & pte::RW == 0 && (user || wp))
            || (access == Access::Exec && xd)
    }

    /// [`Translation::writable`] for a successful walk for `access` whose entries combine to
    /// `rights` and whose last entry read `leaf` (A is set in all of them by now).
    fn writable(&self, rights: u32, leaf: u32, access: Access, user: bool) -> bool {
        access == Access::Write || leaf & pte::D != 0 && !self.denied(rights, false, Access::Write, user)
    }

    /// Sets A (and D for a write on the last level) in the entries a successful walk used.
    /// `dir` is the directory entry when the walk went on to a page table.
    fn set_walk_accessed(&mut self, dir: Option<(u64, u32)>, leaf: (u64, u32), access: Access) {
        if let Some((addr, e)) = dir {
            if e & pte::A == 0 {
                self.set_phys_u32(addr, e | pte::A);
            }
        }
        let (addr, e) = leaf;
        let new = e | pte::A | if access == Access::Write { pte::D } else { 0 };
        if new != e {
            self.set_phys_u32(addr, new);
        }
    }

    fn walk_32(&mut self, lin: u32, access: Access, user: bool) -> Res<Translation> {
        let err = self.pf_access_bits(access, user);
        let pde_addr = ((self.s.cr3 & !0xfff) | ((lin >> 22) << 2)) as u64;
        let pde = self.phys_u32(pde_addr);
        if pde & pte::P == 0 {
            return Err(Fault::pf(lin, err));
        }
        let (dir, leaf, rights, pa) = if pde & pte::PS != 0 && self.s.cr4 & cr4::PSE != 0 {
            if pde & 0x003f_e000 != 0 {
                return Err(Fault::pf(lin, err | pf_error::P | pf_error::RSVD));
            }
            (None, (pde_addr, pde), pde, (pde & 0xffc0_0000) | (lin & 0x003f_ffff))
        } else {
            let pte_addr = ((pde & !0xfff) | (((lin >> 12) & 0x3ff) << 2)) as u64;
            let e = self.phys_u32(pte_addr);
            if e & pte::P == 0 {
                return Err(Fault::pf(lin, err));
            }
            (Some((pde_addr, pde)), (pte_addr, e), pde & e, (e & !0xfff) | (lin & 0xfff))
        };
        if self.denied(rights, false, access, user) {
            return Err(Fault::pf(lin, err | pf_error::P));
        }
        self.set_walk_accessed(dir, leaf, access);
        let global = leaf.1 & pte::G != 0 && self.s.cr4 & cr4::PGE != 0;
        let writable = self.writable(rights, leaf.1, access, user);
        Ok(Translation { pa: self.a20(pa as u64), global, writable })
    }

    fn walk_pae(&mut self, lin: u32, access: Access, user: bool) -> Res<Translation> {
        let err = self.pf_access_bits(access, user);
        let nxe = self.s.efer & efer::NXE != 0;
        // Reserved in directory and table entries: bits above MAXPHYADDR, and XD without NXE.
        let reserved = if nxe { ABOVE_MAXPHYADDR & !pte::XD } else { ABOVE_MAXPHYADDR };
        let rsvd = Err(Fault::pf(lin, err | pf_error::P | pf_error::RSVD));
        let pdpte = self.s.pdpte[(lin >> 30) as usize];
        if pdpte as u32 & pte::P == 0 {
            return Err(Fault::pf(lin, err));
        }
        let pde_addr = (pdpte & PAE_FRAME) | (((lin >> 21) & 0x1ff) as u64 * 8);
        let pde = self.phys_u64(pde_addr);
        if pde as u32 & pte::P == 0 {
            return Err(Fault::pf(lin, err));
        }
        if pde & reserved != 0 {
            return rsvd;
        }
        let (dir, leaf, rights, xd, pa) = if pde as u32 & pte::PS != 0 {
            // 2 MiB page: bits 20:13 are reserved (bit 12 is PAT).
            if pde & 0x001f_e000 != 0 {
                return rsvd;
            }
            let pa = (pde & PAE_FRAME & !0x1f_ffff) | (lin & 0x1f_ffff) as u64;
            (None, (pde_addr, pde as u32), pde as u32, pde & pte::XD != 0, pa)
        } else {
            let pte_addr = (pde & PAE_FRAME) | (((lin >> 12) & 0x1ff) as u64 * 8);
            let e = self.phys_u64(pte_addr);
            if e as u32 & pte::P == 0 {
                return Err(Fault::pf(lin, err));
            }
            if e & reserved != 0 {
                return rsvd;
            }
            let pa = (e & PAE_FRAME) | (lin & 0xfff) as u64;
            (Some((pde_addr, pde as u32)), (pte_addr, e as u32), pde as u32 & e as u32, (pde | e) & pte::XD != 0, pa)
        };
        if self.denied(rights, xd && nxe, access, user) {
            return Err(Fault::pf(lin, err | pf_error::P));
        }
        self.set_walk_accessed(dir, leaf, access);
        let global = leaf.1 & pte::G != 0 && self.s.cr4 & cr4::PGE != 0;
        let writable = self.writable(rights, leaf.1, access, user);
        Ok(Translation { pa: self.a20(pa), global, writable })
    }

    // ---- control registers ------------------------------------------------------------------

    /// Whether PAE paging is in use with these CR0 and CR4 values.
    fn pae_paging(cr0: u32, cr4: u32) -> bool {
        cr0 & cr0::PG != 0 && cr4 & cr4::PAE != 0
    }

    /// Reads the four PDPTEs at `cr3` (bits 31:5), #GP(0) if a present one has reserved bits set.
    pub fn load_pdptes(&mut self, cr3: u32) -> Res<[u64; 4]> {
        let base = (cr3 & !0x1f) as u64;
        let mut p = [0u64; 4];
        for (i, e) in p.iter_mut().enumerate() {
            *e = self.phys_u64(base + 8 * i as u64);
            if *e as u32 & pte::P != 0 && *e & PDPTE_RESERVED != 0 {
                return Err(Fault::gp(0));
            }
        }
        Ok(p)
    }

    /// MOV to CR3 (and a task switch's CR3 load): with PAE paging in use the PDPTEs are loaded
    /// first (#GP(0) if bad, and CR3 keeps its value); then every non-global translation is
    /// dropped. All 32 bits are kept as written; the walk uses the address bits of its mode.
    pub fn set_cr3(&mut self, v: u32) -> Res {
        if Self::pae_paging(self.s.cr0, self.s.cr4) {
            self.s.pdpte = self.load_pdptes(v)?;
        }
        self.s.cr3 = v;
        self.tlb.flush_nonglobal();
        Ok(())
    }

    /// MOV to CR4: reserved bits (those outside [`CR4_VALID`]) are #GP(0); PDPTEs are reloaded
    /// as [`Cpu::paging_mode_change`] says; a change to PSE, PAE or PGE drops every translation,
    /// global ones too.
    pub fn set_cr4(&mut self, v: u32) -> Res {
        if v & !CR4_VALID != 0 {
            return Err(Fault::gp(0));
        }
        self.paging_mode_change(self.s.cr0, v)?;
        let changed = self.s.cr4 ^ v;
        self.s.cr4 = v;
        if changed & (cr4::PSE | cr4::PAE | cr4::PGE) != 0 {
            self.tlb.flush();
        }
        Ok(())
    }

    /// Called before new CR0/CR4 values take effect (SDM Vol. 3, 4.4.1): if PAE paging will be
    /// in use and the write changes CR0.CD, NW or PG, or CR4.PAE, PGE or PSE, the PDPTEs are
    /// loaded from CR3 now. #GP(0) if they are bad; nothing has changed then.
    pub fn paging_mode_change(&mut self, new_cr0: u32, new_cr4: u32) -> Res {
        let c0 = (self.s.cr0 ^ new_cr0) & (cr0::CD | cr0::NW | cr0::PG);
        let c4 = (self.s.cr4 ^ new_cr4) & (cr4::PAE | cr4::PGE | cr4::PSE);
        if Self::pae_paging(new_cr0, new_cr4) && (c0 | c4) != 0 {
            self.s.pdpte = self.load_pdptes(self.s.cr3)?;
        }
        Ok(())
    }

    // ---- physical accesses of the walk ------------------------------------------------------

    /// `pa` through the A20 gate (which masks bit 20 only).
    #[inline]
    fn a20(&self, pa: u64) -> u64 {
        pa & (self.a20_mask as u64 | !0xffff_ffff)
    }

    // Paging-structure entries are naturally aligned (4 bytes for 32-bit paging, 8 for PAE and
    // the PDPTEs), so an entry never straddles a page: when its page is plain RAM it is read and
    // written with one host access; anything else (MMIO, ROM, above RAM) goes through the
    // board's `read_phys`/`write_phys`, as a bus master's accesses would.

    /// Reads the 4-byte paging-structure entry at physical address `pa` (through the A20 gate).
    #[inline]
    fn phys_u32(&mut self, pa: u64) -> u32 {
        let pa = self.a20(pa);
        debug_assert!(pa.is_multiple_of(4));
        match self.sys.plain_ram_ptr(pa) {
            // SAFETY: an aligned 4-byte entry stays inside the plain RAM page `pa` is on.
            Some(p) => u32::from_le(unsafe { (p as *const u32).read_unaligned() }),
            None => self.sys.read_phys(pa, 4),
        }
    }

    /// Reads the 8-byte PAE entry at physical address `pa` (through the A20 gate).
    #[inline]
    fn phys_u64(&mut self, pa: u64) -> u64 {
        let pa = self.a20(pa);
        debug_assert!(pa.is_multiple_of(8));
        match self.sys.plain_ram_ptr(pa) {
            // SAFETY: an aligned 8-byte entry stays inside the plain RAM page `pa` is on.
            Some(p) => u64::from_le(unsafe { (p as *const u64).read_unaligned() }),
            None => self.sys.read_phys_u64(pa),
        }
    }

    /// Writes the low half of an entry (the A/D update) at physical address `pa`. The page is
    /// reported as written like any other write: in the lockstep checker's log, and in
    /// `smc_writes` when it holds translated code (a page table may share a page with code).
    fn set_phys_u32(&mut self, pa: u64, v: u32) {
        let pa = self.a20(pa);
        debug_assert!(pa.is_multiple_of(4));
        let page = (pa >> 12) as u32;
        if let Some(log) = self.tlb.write_log.as_mut() {
            log.push(page);
        }
        if self.holds_code(pa) {
            self.smc_writes.push(page);
        }
        match self.sys.plain_ram_ptr(pa) {
            // SAFETY: an aligned 4-byte entry stays inside the plain RAM page `pa` is on.
            Some(p) => unsafe { (p as *mut u32).write_unaligned(v.to_le()) },
            None => self.sys.write_phys(pa, 4, v),
        }
    }
}

#[cfg(test)]
mod tests;
