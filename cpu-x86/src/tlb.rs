//! The softmmu's translation lookaside buffer: linear page → host pointer, per access kind.
//!
//! Both tiers use it: the interpreter in [`crate::mmu`], the JIT inline in generated code. An
//! entry holds one tag per access kind (read, write, execute) and one *addend*: for a linear
//! address `lin` on the entry's page, the host address of the byte is `lin + addend`.
//!
//! **Architecture Invariant:** a tag equals the page's linear address only if an access of that
//! kind may go straight to host memory: the page is RAM (or ROM, for reads and fetches), the
//! permission checks for that kind passed, the A/D bits a hardware walk would set are set, and for
//! writes, the physical page holds no translated code. Every other case leaves the tag
//! [`INVALID`], so the access takes the slow path, which does the full work.
//!
//! There are two sets of entries, for supervisor (CPL 0-2) and user (CPL 3) accesses, so a
//! privilege change needs no flush.
//!
//! Entries made from a global page (PTE.G with CR4.PGE) are marked in [`Tlb::global`] (beside
//! the entries, so the entry layout generated code reads stays 32 bytes): a CR3 load drops only
//! the others ([`Tlb::flush_nonglobal`]); INVLPG drops the page whatever it is,
//! and changes to CR4.PGE/PAE/PSE, CR0.PG/WP, EFER.NXE or the A20 gate drop everything.

/// A tag no access matches (page addresses have their low 12 bits clear).
pub const INVALID: u32 = 1;
/// Entries per set (direct-mapped on linear page number; a power of two, generated code masks
/// the page number with `TLB_SIZE - 1`, and `2 * TLB_SIZE` indices fit the `u16`s of
/// [`Tlb::touched`]). On the Linux boot 1024 entries fill 0.59 M times where 256 filled 2.8 M
/// times (4096: 0.19 M). Flushes visit only the entries in use ([`Tlb::live`]), so their cost
/// does not grow with the size (a CR3 load drops every non-global entry: 16 K times on that
/// boot).
pub const TLB_SIZE: usize = 1024;
const _: () = assert!(TLB_SIZE.is_power_of_two() && 2 * TLB_SIZE <= u16::MAX as usize + 1);
/// Words of [`Tlb::live`]: one bit per entry of both sets.
const LIVE_WORDS: usize = 2 * TLB_SIZE / 64;

/// One TLB entry. `#[repr(C)]`: generated code reads it by offset. 32 bytes (aligned, so two to
/// a cache line): generated code finds an entry with a shift and a mask of the linear address
/// (`(lin >> 7) & 0x7fe0`), one host instruction and one cycle of latency less per access than
/// the 24-byte entry's multiply by three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(32))]
pub struct TlbEntry {
    pub read: u32,
    pub write: u32,
    pub exec: u32,
    /// Physical page address (for the slow path and for code tracking).
    pub phys_page: u32,
    /// Host address minus linear address, wrapping.
    pub addend: usize,
}

impl TlbEntry {
    pub const EMPTY: TlbEntry = TlbEntry { read: INVALID, write: INVALID, exec: INVALID, phys_page: 0, addend: 0 };
}

/// What an access does, for permission checks and for picking the tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Exec,
}

/// Two sets of [`TLB_SIZE`] entries: index 0 for supervisor, 1 for user accesses.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct Tlb {
    pub sets: [[TlbEntry; TLB_SIZE]; 2],
    /// Fast-path hits and slow-path fills, for `--stats`.
    pub fills: u64,
    /// Per entry of `sets`: made from a global page, so it survives a CR3 load.
    pub global: [[bool; TLB_SIZE]; 2],
    /// When `Some`, every physical page (address >> 12) a slow-path write goes to is appended
    /// (A/D updates of the page walk included): with the write tags cleared when the log is taken,
    /// that is every page written since (while the log is kept, a write tag is only set by a
    /// slow-path write: read fills do not add one). The JIT's lockstep checker (`--cpu check`) uses
    /// it; flushes and evictions do not lose it, as they lose the tags. `None` otherwise.
    pub write_log: Option<Vec<u32>>,
    /// When `Some`, the index of every entry a fill or [`Tlb::flush_page`] changes (`set *
    /// TLB_SIZE + slot`) is appended; changes to many entries at once ([`Tlb::flush`],
    /// [`Tlb::flush_nonglobal`], [`Tlb::protect_phys_page`]) bump [`Tlb::epoch`] instead. So
    /// while `epoch` stays the same, the entries (and `global` flags) outside the list are as
    /// they were when the list was last emptied. The lockstep checker (`--cpu check`) uses it
    /// to save and restore the TLB around a block without copying all of it. `None` otherwise.
    pub touched: Option<Vec<u16>>,
    /// Bumped by every change to many entries at once (see [`Tlb::touched`]).
    pub epoch: u64,
    /// One bit per entry (`set * TLB_SIZE + slot`), set by [`Tlb::mark_live`] when a fill
    /// writes the entry, cleared when a flush empties it. **Invariant:** an entry whose bit is
    /// clear is [`TlbEntry::EMPTY`] and not global, so the flushes and
    /// [`Tlb::protect_phys_page`] visit only the entries with their bit set.
    live: [u64; LIVE_WORDS],
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb {
            sets: [[TlbEntry::EMPTY; TLB_SIZE]; 2],
            fills: 0,
            global: [[false; TLB_SIZE]; 2],
            write_log: None,
            touched: None,
            epoch: 0,
            live: [0; LIVE_WORDS],
        }
    }
}

impl Tlb {
    #[inline]
    pub fn slot(lin: u32) -> usize {
        (lin >> 12) as usize % TLB_SIZE
    }
    #[inline]
    pub fn entry(&self, user: bool, lin: u32) -> &TlbEntry {
        &self.sets[user as usize][Self::slot(lin)]
    }
    /// Records that entry `slot` of set `user` changes (see [`Tlb::touched`]).
    #[inline]
    pub fn touch(&mut self, user: bool, slot: usize) {
        if let Some(t) = self.touched.as_mut() {
            t.push((user as usize * TLB_SIZE + slot) as u16);
        }
    }
    /// Records that entry `slot` of set `user` may now hold a translation (see [`Tlb::live`]);
    /// whoever writes an entry other than through this module calls it.
    #[inline]
    pub fn mark_live(&mut self, user: bool, slot: usize) {
        let i = user as usize * TLB_SIZE + slot;
        self.live[i / 64] |= 1 << (i % 64);
    }
    /// Replaces all entries and global flags (the lockstep checker puts a saved TLB back).
    pub fn restore(&mut self, sets: &[[TlbEntry; TLB_SIZE]; 2], global: &[[bool; TLB_SIZE]; 2]) {
        self.sets = *sets;
        self.global = *global;
        self.live = [u64::MAX; LIVE_WORDS];
    }
    /// Calls `f(set, slot)` for every entry marked live, in index order; the entry stays live
    /// if `f` returns true.
    #[inline]
    fn retain_live(&mut self, mut f: impl FnMut(&mut Self, usize, usize) -> bool) {
        for w in 0..LIVE_WORDS {
            let mut bits = self.live[w];
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let i = w * 64 + b;
                if !f(self, i / TLB_SIZE, i % TLB_SIZE) {
                    self.live[w] &= !(1 << b);
                }
            }
        }
    }
    /// Drops every translation (CR3 load, CR0/CR4 paging bits, A20 change).
    pub fn flush(&mut self) {
        self.epoch += 1;
        self.retain_live(|t, set, slot| {
            t.sets[set][slot] = TlbEntry::EMPTY;
            t.global[set][slot] = false;
            false
        });
    }
    /// Drops every translation not made from a global page (a CR3 load).
    pub fn flush_nonglobal(&mut self) {
        self.epoch += 1;
        self.retain_live(|t, set, slot| {
            if t.global[set][slot] {
                return true;
            }
            t.sets[set][slot] = TlbEntry::EMPTY;
            false
        });
    }
    /// Drops the translations of the page holding `lin` (INVLPG).
    pub fn flush_page(&mut self, lin: u32) {
        let slot = Self::slot(lin);
        for user in [false, true] {
            let e = &mut self.sets[user as usize][slot];
            if [e.read, e.write, e.exec].contains(&(lin & !0xfff)) {
                *e = TlbEntry::EMPTY;
                self.global[user as usize][slot] = false;
                self.touch(user, slot);
            }
        }
    }
    /// Stops direct writes to physical page `phys_page` (it now holds translated code).
    pub fn protect_phys_page(&mut self, phys_page: u32) {
        self.epoch += 1;
        self.retain_live(|t, set, slot| {
            let e = &mut t.sets[set][slot];
            if e.phys_page == phys_page {
                e.write = INVALID;
            }
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Cpu, Size};
    use emu_core::{ClockMode, System};

    /// The contract `--cpu check` relies on: every entry a fill or INVLPG changes is listed,
    /// and changes to many entries at once bump the epoch.
    #[test]
    fn changes_are_listed_or_bump_the_epoch() {
        let mut cpu = Cpu::new(System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap());
        cpu.tlb.touched = Some(Vec::new());
        cpu.read_lin_slow(0x5004, Size::D, false).unwrap();
        cpu.write_lin_slow(0x7008, Size::B, 1, true).unwrap();
        assert_eq!(cpu.tlb.touched.as_deref(), Some(&[5, TLB_SIZE as u16 + 7][..]));
        assert_eq!(cpu.tlb.entry(false, 0x5000).read, 0x5000);

        let epoch = cpu.tlb.epoch;
        cpu.tlb.touched = Some(Vec::new());
        cpu.tlb.flush_page(0x5000);
        assert_eq!(cpu.tlb.touched.as_deref(), Some(&[5][..]));
        assert_eq!(cpu.tlb.epoch, epoch, "INVLPG changes one entry per set");
        cpu.tlb.flush_page(0x9000);
        assert_eq!(cpu.tlb.touched.as_deref(), Some(&[5][..]), "no entry of 9000 to drop");

        cpu.tlb.flush_nonglobal();
        assert_eq!(cpu.tlb.epoch, epoch + 1);
        cpu.tlb.protect_phys_page(0x7000);
        assert_eq!(cpu.tlb.epoch, epoch + 2);
        cpu.tlb.flush();
        assert_eq!(cpu.tlb.epoch, epoch + 3);
    }

    /// Flushes visit only the live entries; whatever they skip must already be empty: after
    /// fills in both sets (in slots far apart), a CR3-style flush leaves exactly the global
    /// entries, a full flush leaves nothing, and a TLB put back whole by `restore` is flushed
    /// whole too.
    #[test]
    fn flushes_leave_no_translation_behind() {
        let mut cpu = Cpu::new(System::new(16 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap());
        let pages = [0x0u32, 0x5000, 0x3f_f000, 0x40_0000 + 0x7000, 0xa0_0000 + (TLB_SIZE as u32 - 1) * 0x1000];
        for (n, &lin) in pages.iter().enumerate() {
            cpu.read_lin_slow(lin + 4, Size::D, n % 2 == 1).unwrap();
            cpu.write_lin_slow(lin + 8, Size::B, 1, n % 2 == 0).unwrap();
        }
        let used = |t: &Tlb| t.sets.iter().flatten().filter(|e| **e != TlbEntry::EMPTY).count();
        assert_eq!(used(&cpu.tlb), 2 * pages.len());
        // Two of them came from global pages.
        let g = [(false, Tlb::slot(0x5000)), (true, Tlb::slot(0x3f_f000))];
        for (user, slot) in g {
            assert_ne!(cpu.tlb.sets[user as usize][slot], TlbEntry::EMPTY);
            cpu.tlb.global[user as usize][slot] = true;
        }
        let page = cpu.tlb.entry(false, 0x40_7000).phys_page;
        cpu.tlb.protect_phys_page(page);
        assert_eq!(cpu.tlb.entry(false, 0x40_7000).write, INVALID, "a live entry of the page");
        assert_eq!(cpu.tlb.entry(true, 0x40_7000).write, INVALID);
        cpu.tlb.flush_nonglobal();
        assert_eq!(used(&cpu.tlb), 2);
        for (user, slot) in g {
            assert_ne!(cpu.tlb.sets[user as usize][slot], TlbEntry::EMPTY, "global entries stay");
        }
        let saved = (cpu.tlb.sets, cpu.tlb.global);
        cpu.tlb.flush();
        assert_eq!(used(&cpu.tlb), 0);
        assert!(cpu.tlb.global.iter().flatten().all(|&g| !g));
        // Put back from outside (as `--cpu check` does), then flushed again.
        cpu.tlb.restore(&saved.0, &saved.1);
        assert_eq!(used(&cpu.tlb), 2);
        cpu.tlb.flush();
        assert_eq!(used(&cpu.tlb), 0);
        assert!(cpu.tlb.global.iter().flatten().all(|&g| !g));
    }
}
