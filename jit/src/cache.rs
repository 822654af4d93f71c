//! The block cache: translated blocks by [`BlockKey`], with a direct-mapped lookup array in front
//! of a hash map, and the list of blocks on each physical page for invalidation.
//!
//! **Invariant:** a block is reachable (through the array, the map or a page list) exactly while
//! its code may run: [`BlockCache::invalidate_page`] removes every block whose guest code lies
//! on that page from all three before the dispatcher looks anything up again; a page is in
//! `pages` exactly while the CPU has it marked as holding code.
//!
//! **Chaining.** Each block has two [`Link`]s, one per chainable exit
//! ([`crate::helpers::status::CHAIN_TAKEN`] and `CHAIN_NEXT`): the block that exit led to last
//! time, so the dispatcher can go on to it without a lookup. A link names its target by id and
//! by the slab slot's *generation*, which [`BlockCache::remove`] increments; a link whose target
//! was invalidated (or whose slot now holds another block) therefore no longer resolves
//! ([`BlockCache::linked`]), and nothing has to find and clear the links into a page when it is
//! invalidated. A link is only a prediction: the dispatcher still checks the target's key
//! against the CPU before running it.
//!
//! **Chaining in generated code.** A link whose target has the same mode and CS base as its
//! source is also written to the source's [`LinkCell`] for that exit, which the source's code
//! reads at the exit: it jumps (a tail call) to the target's code when the cell's EIP, physical
//! address (through the TLB, as [`crate::dispatch`]'s key check) and CS limit check pass and
//! the target fits before `ExitCtx::chain_limit`. An exit to a known EIP in the block's own
//! linear page leaves the EIP and physical address to [`BlockCache::set_link`], as the block's
//! [`SlotTarget`]s say, and with a 4 GiB CS limit (`ModeKey::cs_limit_4g`) no exit checks the
//! limit. Code pointers must not outlive their code, so
//! each block lists the cells that may point at it (`incoming`), and [`BlockCache::remove`]
//! empties them: **a cell is empty or points at a block in the cache.**
//!
//! **The jump cache.** An exit whose target is computed (RET, JMP r/m, CALL r/m) has no fixed
//! successor, so its code looks the target up in [`BlockCache::jump_table`] instead: a
//! direct-mapped array of [`JumpEntry`]s indexed by a hash of the target's linear address
//! ([`jump_index`]), which the dispatcher fills with each block it finds
//! ([`BlockCache::fill_jump`]). An entry is a [`LinkCell`] plus the block's CS base and mode,
//! and generated code checks it exactly as it checks a link cell, and the CS base and mode
//! against its own. A block has one possible entry (that of its own address), which
//! [`BlockCache::remove`] empties if it still holds the block: **an entry is empty or points at
//! a block in the cache.** The array never moves (its address is compiled into the code).

use crate::helpers::BlockEntry;
use crate::key::{BlockKey, KeyHash};
use emu_cpu_x86::decode::Insn;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// A translated block.
///
/// `#[repr(C, align(64))]`, the fields the dispatcher reads for every block it finds or follows
/// (key, code, length, I/O, links) first: they share the slot's first cache line.
#[repr(C, align(64))]
pub struct Block {
    pub key: BlockKey,
    /// The host code.
    pub entry: BlockEntry,
    /// The decoded instructions; generated code points into this slice, so it never moves.
    pub insns: Box<[Insn]>,
    /// Bytes of guest code.
    pub bytes: u32,
    /// The block does port I/O (IN, OUT, INS, OUTS): devices see the guest time.
    pub io: bool,
    /// Its last instruction crosses into the next page, and is fetched again when it runs if
    /// the TLB no longer maps that page for execution or its bytes there changed
    /// (`translate::crosses_page`): it may be port I/O by then, so the clock deadline check
    /// treats the block as `io`. (`--cpu check` compares such a block with the interpreter
    /// unless it was port I/O when decoded: one rewritten into port I/O since would run twice.)
    pub refetch: bool,
    /// Where the chainable exits (taken, fall-through) led last time.
    pub links: [Link; 2],
    /// The bytes a last instruction that crosses into the next page has there
    /// (`translate::GuestBlock::tail`; `None`: it is fetched again every time), for the
    /// checker's rebuilds of the block.
    pub tail: Option<crate::translate::Tail>,
    /// EIP of each instruction.
    pub eips: Box<[u32]>,
    /// Host code size in bytes.
    pub host_size: usize,
    /// What the code of each chainable exit takes for granted about its cell.
    pub targets: [SlotTarget; 2],
    /// What generated code reads at the chainable exits (its address is compiled in, so the
    /// box never moves while the block lives).
    pub cells: Box<Cells>,
    /// Cells (block, slot) that may hold this block's entry (see the module comment).
    pub incoming: Vec<(Link, u8)>,
}

/// The successor of a chainable exit as generated code sees it (`#[repr(C)]`, offsets in
/// [`crate::layout`]): where its code is, and what must hold for it to be the block the
/// dispatcher would find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct LinkCell {
    /// The successor's code; 0 in an empty cell.
    pub entry: usize,
    /// Its first EIP (the exit's target must be this one).
    pub eip: u32,
    /// The physical address of its first byte (the TLB's translation of CS base + EIP must be
    /// this one).
    pub phys: u32,
    /// EIP of its last byte (must be within CS's limit).
    pub last: u32,
    /// Its instructions (must fit before `ExitCtx::chain_limit`); `u32::MAX` in an empty cell,
    /// which so never fits.
    pub insns: u32,
}

impl LinkCell {
    /// No link. Its length is the largest there is, so that it never fits before the chain limit
    /// (which the dispatcher keeps within [`MAX_CHAIN_AHEAD`] instructions of the count): the
    /// code's check that a successor fits also tells that there is one.
    pub const EMPTY: LinkCell = LinkCell { entry: 0, eip: 0, phys: 0, last: 0, insns: u32::MAX };
}

impl Default for LinkCell {
    fn default() -> Self {
        LinkCell::EMPTY
    }
}

/// How far past the instruction count the dispatcher sets the chain limit at most: far less than
/// an empty [`LinkCell`]'s length, so that no count plus that length fits.
pub const MAX_CHAIN_AHEAD: u64 = 1 << 31;

/// What the code of a block's chainable exits through one link cell leaves unchecked (see
/// `translate`'s *Same-page links*), so [`BlockCache::set_link`] must check it instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotTarget {
    /// Every exit checks the cell's EIP and physical address itself.
    Any,
    /// The exits go to this EIP in the block's own linear page and check neither: the cell may
    /// only hold the block at this EIP at the same offset of the block's physical page.
    SamePage(u32),
    /// The exits go to this EIP (in another page: the baseline tier's) and check the cell's
    /// physical address, not its EIP: the cell may only hold a block at this EIP.
    Fixed(u32),
    /// Exits of both kinds, or to two such EIPs, share the cell: it stays empty.
    Never,
}

/// A block's link cells (taken, fall-through), and its id: a chainable exit that returns to the
/// dispatcher leaves the address of its block's `Cells` in `ExitCtx::exit_cells`, so the
/// dispatcher knows which block a chain of blocks ended in.
#[derive(Debug)]
#[repr(C)]
pub struct Cells {
    pub cells: [LinkCell; 2],
    pub id: BlockId,
    /// A baseline block's runs left before Cranelift compiles it (`Options::tier_up`), which
    /// its code counts down on entry (`crate::baseline`); unused by Cranelift's blocks.
    pub runs: u32,
}

impl Cells {
    pub fn new() -> Box<Cells> {
        Box::new(Cells { cells: [LinkCell::EMPTY; 2], id: NONE, runs: 0 })
    }
}

/// An entry of the jump cache (see the module comment; `#[repr(C)]`, offsets in
/// [`crate::layout`]): a link cell for the block whose first byte is at the entry's linear
/// address, and the CS base and mode ([`crate::key::ModeKey::bits`]) it was translated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct JumpEntry {
    pub cell: LinkCell,
    pub cs_base: u32,
    pub mode: u32,
}

impl JumpEntry {
    pub const EMPTY: JumpEntry = JumpEntry { cell: LinkCell::EMPTY, cs_base: 0, mode: 0 };
}

/// Entries of the jump cache (a power of two).
pub const JUMP_SIZE: usize = 4096;

/// The jump cache entry for linear address `lin` (generated code computes the same).
#[inline]
pub fn jump_index(lin: u32) -> usize {
    (lin ^ (lin >> 12)) as usize & (JUMP_SIZE - 1)
}

/// A chained successor: a block id and the generation its slab slot had when the link was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    id: BlockId,
    generation: u32,
}

impl Link {
    /// Leads nowhere.
    pub const NONE: Link = Link { id: NONE, generation: 0 };
}

/// Identifies a block in the cache (an index into its slab).
pub type BlockId = u32;
const NONE: BlockId = u32::MAX;
/// Entries of the direct-mapped array (a power of two).
const FAST_SIZE: usize = 4096;

/// All translated blocks.
pub struct BlockCache {
    slab: Vec<Option<Block>>,
    /// Per slab slot: incremented each time its block is removed (see the module comment).
    generations: Vec<u32>,
    free: Vec<BlockId>,
    map: HashMap<BlockKey, BlockId, KeyHash>,
    /// The direct-mapped array: by [`fast_slot`], a block id and its key's tag, so that a
    /// lookup that hits reads nothing else; or [`NOT_TRANSLATED`] and the tag of a key the map
    /// did not hold when it was last looked up (a block still warming up, mostly), so that the
    /// next lookups of it read nothing else either.
    fast: Box<[Fast]>,
    pages: HashMap<u32, Vec<BlockId>, KeyHash>,
    /// The jump cache (see the module comment); never reallocated.
    jump: Box<[JumpEntry]>,
}

impl Default for BlockCache {
    fn default() -> Self {
        BlockCache {
            slab: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            map: HashMap::default(),
            fast: vec![Fast::EMPTY; FAST_SIZE].into_boxed_slice(),
            pages: HashMap::default(),
            jump: vec![JumpEntry::EMPTY; JUMP_SIZE].into_boxed_slice(),
        }
    }
}

/// An entry of the direct-mapped array: a block, and the tag of its key ([`fast_slot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fast {
    id: BlockId,
    tag: u32,
}

impl Fast {
    const EMPTY: Fast = Fast { id: NONE, tag: 0 };
}

/// A direct-mapped entry's id for "the map has no block with this tag's key" (a negative
/// entry). It holds while the map does not change for that key: [`BlockCache::insert`] writes
/// the entry of its key, and removing or clearing only takes blocks away. Two keys at one
/// entry with the same 32-bit tag (a chance of 2^-32, [`fast_slot`]) would make a translated
/// block look untranslated until the entry is written again; the interpreter then runs it (and
/// the block is translated again), which is slower, never different.
const NOT_TRANSLATED: BlockId = u32::MAX - 1;

/// The direct-mapped array's entry for `k`, and the tag of `k`: the high half of the maps'
/// hash of all of it ([`KeyHash`]), so that different keys at one entry have the same tag with
/// a chance of 2^-32 whatever their pattern (a positive entry's equal tag is confirmed by
/// comparing the keys; a negative one's is taken as it is, see [`NOT_TRANSLATED`]).
#[inline]
fn fast_slot(k: &BlockKey) -> (usize, u32) {
    let h = k.phys ^ k.eip.rotate_left(7) ^ k.cs_base.rotate_left(13);
    let index = (h ^ (h >> 12)) as usize & (FAST_SIZE - 1);
    let tag = (KeyHash::default().hash_one(k) >> 32) as u32;
    (index, tag)
}

impl BlockCache {
    /// The block for `k`, if translated: `(id, hit in the direct-mapped array)`.
    #[inline]
    pub fn lookup(&mut self, k: &BlockKey) -> Option<(BlockId, bool)> {
        let (f, tag) = fast_slot(k);
        let e = self.fast[f];
        if e.tag == tag && e.id != NONE {
            if e.id == NOT_TRANSLATED {
                return None;
            }
            if let Some(b) = &self.slab[e.id as usize] {
                if b.key == *k {
                    return Some((e.id, true));
                }
            }
        }
        let Some(&id) = self.map.get(k) else {
            self.fast[f] = Fast { id: NOT_TRANSLATED, tag };
            return None;
        };
        self.fast[f] = Fast { id, tag };
        Some((id, false))
    }

    #[inline]
    pub fn get(&self, id: BlockId) -> &Block {
        self.slab[id as usize].as_ref().expect("a looked-up block is alive")
    }

    pub fn get_mut(&mut self, id: BlockId) -> &mut Block {
        self.slab[id as usize].as_mut().expect("a looked-up block is alive")
    }

    /// Adds a block; returns its id.
    pub fn insert(&mut self, mut b: Block) -> BlockId {
        let key = b.key;
        let next = self.free.last().copied().unwrap_or(self.slab.len() as BlockId);
        b.cells.id = next;
        let id = match self.free.pop() {
            Some(id) => {
                self.slab[id as usize] = Some(b);
                id
            }
            None => {
                self.slab.push(Some(b));
                self.generations.push(0);
                (self.slab.len() - 1) as BlockId
            }
        };
        if let Some(old) = self.map.insert(key, id) {
            // A block replaced (a baseline block by Cranelift's).
            self.remove(old);
        }
        let (f, tag) = fast_slot(&key);
        self.fast[f] = Fast { id, tag };
        self.pages.entry(key.page()).or_default().push(id);
        debug_assert!(id < NOT_TRANSLATED);
        id
    }

    fn remove(&mut self, id: BlockId) {
        if let Some(b) = self.slab[id as usize].take() {
            for &(from, slot) in &b.incoming {
                if let Some(f) = self.resolve(from) {
                    let cell = &mut self.slab[f as usize].as_mut().expect("resolved").cells.cells[slot as usize];
                    if cell.entry == b.entry as usize {
                        *cell = LinkCell::EMPTY;
                    }
                }
            }
            let j = jump_index(b.key.cs_base.wrapping_add(b.key.eip));
            if self.jump[j].cell.entry == b.entry as usize {
                self.jump[j] = JumpEntry::EMPTY;
            }
            self.generations[id as usize] = self.generations[id as usize].wrapping_add(1);
            let (f, _) = fast_slot(&b.key);
            if self.fast[f].id == id {
                self.fast[f] = Fast::EMPTY;
            }
            if self.map.get(&b.key) == Some(&id) {
                self.map.remove(&b.key);
            }
            // Off its page's list (gone already when the whole page is dropped), where its id,
            // free again, could come to name another page's block.
            if let Some(ids) = self.pages.get_mut(&b.key.page()) {
                ids.retain(|&x| x != id);
            }
            self.free.push(id);
        }
    }

    /// Drops every block on physical page `page`; returns how many there were, or `None` if the
    /// page held no blocks.
    pub fn invalidate_page(&mut self, page: u32) -> Option<usize> {
        let ids = self.pages.remove(&page)?;
        let n = ids.len();
        for id in ids {
            self.remove(id);
        }
        Some(n)
    }

    /// Drops every block; returns the pages that held some. The generations carry on, so links
    /// held outside the cache (the dispatcher's pending link) cannot resolve to a new block.
    pub fn clear(&mut self) -> Vec<u32> {
        let pages = self.pages.keys().copied().collect();
        let mut generations = std::mem::take(&mut self.generations);
        for g in &mut generations {
            *g = g.wrapping_add(1);
        }
        let mut jump = std::mem::take(&mut self.jump);
        jump.fill(JumpEntry::EMPTY);
        *self = BlockCache::default();
        self.jump = jump;
        self.free = (0..generations.len() as BlockId).rev().collect();
        self.slab = (0..generations.len()).map(|_| None).collect();
        self.generations = generations;
        pages
    }

    /// The address of the jump cache's first entry (it never moves).
    pub fn jump_table(&self) -> usize {
        self.jump.as_ptr() as usize
    }

    /// Makes block `id` the jump cache's entry for its linear address (CS base + EIP).
    #[inline]
    pub fn fill_jump(&mut self, id: BlockId) {
        let b = self.get(id);
        let k = &b.key;
        let Some(last) = k.eip.checked_add(b.bytes - 1) else { return };
        let e = JumpEntry {
            cell: LinkCell { entry: b.entry as usize, eip: k.eip, phys: k.phys, last, insns: b.insns.len() as u32 },
            cs_base: k.cs_base,
            mode: k.mode.bits(),
        };
        self.jump[jump_index(k.cs_base.wrapping_add(k.eip))] = e;
    }

    /// The jump cache entry for linear address `lin` (tests).
    pub fn jump_entry(&self, lin: u32) -> JumpEntry {
        self.jump[jump_index(lin)]
    }

    /// A link to block `id` as it is now.
    pub fn link_to(&self, id: BlockId) -> Link {
        Link { id, generation: self.generations[id as usize] }
    }

    /// Makes exit `slot` of block `from` lead to `to`, if both links are still current, and
    /// fills `from`'s cell for it when generated code may follow it (same mode and CS base).
    pub fn set_link(&mut self, from: Link, slot: usize, to: BlockId) {
        let l = self.link_to(to);
        if self.resolve(from).is_none_or(|f| self.get(f).links[slot] == l) {
            return; // gone, or linked there already (the cell too)
        }
        let t = self.get(to);
        let last = t.key.eip.checked_add(t.bytes - 1);
        let f = self.get(from.id);
        let same_page_ok = |eip: u32| {
            let lin = f.key.cs_base.wrapping_add(eip);
            t.key.eip == eip && t.key.phys == f.key.phys & !0xfff | lin & 0xfff
        };
        let allowed = match f.targets[slot] {
            SlotTarget::Any => true,
            SlotTarget::SamePage(eip) => same_page_ok(eip),
            SlotTarget::Fixed(eip) => t.key.eip == eip,
            SlotTarget::Never => false,
        };
        let cell = match last {
            Some(last) if allowed && f.key.mode == t.key.mode && f.key.cs_base == t.key.cs_base => LinkCell {
                entry: t.entry as usize,
                eip: t.key.eip,
                phys: t.key.phys,
                last,
                insns: t.insns.len() as u32,
            },
            _ => LinkCell::EMPTY,
        };
        let old = f.cells.cells[slot];
        let b = self.slab[from.id as usize].as_mut().expect("resolved");
        b.links[slot] = l;
        b.cells.cells[slot] = cell;
        if cell.entry != 0 && cell != old {
            let mut incoming = std::mem::take(&mut self.slab[to as usize].as_mut().expect("alive").incoming);
            if incoming.len() >= 64 && incoming.len().is_power_of_two() {
                // Drop the entries whose cell has moved on (a RET's cell follows its callers);
                // at powers of two only, so a block many cells really lead to (a function's
                // entry) costs amortised constant time per link, not a scan per link.
                incoming.retain(|&(l, s)| {
                    self.resolve(l).is_some_and(|id| self.get(id).cells.cells[s as usize].entry == cell.entry)
                });
                // A cell that flips back and forth between two targets (a RET shared by two
                // callers) is pushed again on each return here: keep it once, so the list stays
                // bounded by the distinct cells, not by the number of flips.
                incoming.sort_unstable();
                incoming.dedup();
            }
            incoming.push((from, slot as u8));
            self.slab[to as usize].as_mut().expect("alive").incoming = incoming;
        }
    }

    /// The block `l` leads to, if it is still the block the link was made to.
    #[inline]
    pub fn resolve(&self, l: Link) -> Option<BlockId> {
        let i = l.id as usize;
        (l.id != NONE && self.generations.get(i) == Some(&l.generation) && self.slab[i].is_some()).then_some(l.id)
    }

    /// Where exit `slot` of block `id` led last time, if that block is still alive.
    #[inline]
    pub fn linked(&self, id: BlockId, slot: usize) -> Option<BlockId> {
        self.resolve(self.get(id).links[slot])
    }

    /// Blocks alive.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::ModeKey;
    use emu_cpu_x86::state::CpuState;

    /// A block at `eip` (page 1) whose "code" is a distinct dummy address; never run.
    fn block(eip: u32) -> Block {
        let mode = ModeKey::of(&CpuState::reset(), !0);
        Block {
            key: BlockKey { phys: 0x1000 + eip, eip, cs_base: 0, mode },
            insns: Box::new([]),
            eips: Box::new([]),
            bytes: 1,
            entry: (0x10_0000 + eip as usize * 64) as BlockEntry,
            host_size: 64,
            io: false,
            refetch: false,
            tail: None,
            links: [Link::NONE; 2],
            targets: [SlotTarget::Any; 2],
            cells: Cells::new(),
            incoming: Vec::new(),
        }
    }

    /// Blocks whose keys share a direct-mapped entry are each found (the entry holds the last
    /// one looked up, the others come from the map), keys that differ only in the mode or CS
    /// base are told apart, and a dropped block is found by no lookup.
    #[test]
    fn lookups_find_exactly_the_live_blocks() {
        let mut c = BlockCache::default();
        let mut keys = vec![];
        let base = block(0x10).key;
        for n in 0..64u32 {
            let mut k = base;
            match n % 4 {
                0 => k.eip = 0x10 + n * FAST_SIZE as u32 * 8,
                1 => k.phys = 0x1010 + (n << 12),
                2 => k.mode = ModeKey::of(&CpuState::reset(), !(1 << 20)),
                _ => k.cs_base = n << 4,
            }
            k.eip += n; // distinct keys
            keys.push(k);
        }
        // Not translated yet: each lookup leaves a negative entry, which the insert replaces.
        for k in &keys {
            assert_eq!(c.lookup(k), None);
            assert_eq!(c.lookup(k), None);
        }
        let ids: Vec<BlockId> = keys
            .iter()
            .map(|&k| {
                let mut b = block(0);
                b.key = k;
                c.insert(b)
            })
            .collect();
        for round in 0..2 {
            for (k, &id) in keys.iter().zip(&ids) {
                assert_eq!(c.lookup(k).map(|(i, _)| i), Some(id), "round {round}");
                assert_eq!(c.lookup(k), Some((id, true)), "found in the array right after");
            }
        }
        for &id in ids.iter().step_by(2) {
            c.remove(id);
        }
        for round in 0..2 {
            for (n, (k, &id)) in keys.iter().zip(&ids).enumerate() {
                assert_eq!(c.lookup(k).map(|(i, _)| i), (n % 2 == 1).then_some(id), "round {round}");
            }
        }
        // Translated again after a negative lookup: found, from the array.
        let mut b = block(0);
        b.key = keys[0];
        let again = c.insert(b);
        assert_eq!(c.lookup(&keys[0]), Some((again, true)));
    }

    /// What the dispatcher reads of every block it finds or follows is in one cache line.
    #[test]
    fn hot_block_fields_share_a_cache_line() {
        use std::mem::{align_of, offset_of, size_of};
        assert_eq!(align_of::<Block>(), 64);
        assert_eq!(size_of::<Option<Block>>(), size_of::<Block>(), "the slab's slots stay aligned");
        let ends = [
            offset_of!(Block, key) + size_of::<BlockKey>(),
            offset_of!(Block, entry) + size_of::<BlockEntry>(),
            offset_of!(Block, insns) + size_of::<Box<[Insn]>>(),
            offset_of!(Block, bytes) + 4,
            offset_of!(Block, io) + 1,
            offset_of!(Block, links) + size_of::<[Link; 2]>(),
        ];
        assert!(ends.iter().all(|&e| e <= 64), "{ends:?}");
    }

    /// A block's jump cache entry is emptied when the block is dropped, unless another block
    /// took the entry over; `clear` empties the table in place (code has its address).
    #[test]
    fn jump_entries_die_with_their_blocks() {
        let mut c = BlockCache::default();
        let table = c.jump_table();
        let (t, u) = (c.insert(block(0x10)), c.insert(block(0x20)));
        c.fill_jump(t);
        c.fill_jump(u);
        assert_eq!(c.jump_entry(0x10).cell.entry, c.get(t).entry as usize);
        assert_eq!(c.jump_entry(0x10).cell.last, 0x10);
        c.remove(t);
        assert_eq!(c.jump_entry(0x10), JumpEntry::EMPTY);
        assert_eq!(c.jump_entry(0x20).cell.entry, c.get(u).entry as usize);
        // Another block at the same index: dropping the first one leaves it.
        let same = (0..0x10_0000u32).find(|&l| l != 0x20 && jump_index(l) == jump_index(0x20)).unwrap();
        let v = c.insert(block(same));
        c.fill_jump(v);
        c.remove(u);
        assert_eq!(c.jump_entry(0x20).cell.entry, c.get(v).entry as usize);
        c.clear();
        assert_eq!(c.jump_table(), table);
        assert_eq!(c.jump_entry(same), JumpEntry::EMPTY);
    }

    /// A cell whose exits leave the EIP and physical address unchecked (`SlotTarget::SamePage`)
    /// is only filled with the block at that EIP, at that offset of the source's page; with
    /// `Never` it stays empty (the link itself is still made, for the dispatcher).
    #[test]
    fn same_page_cells_are_checked_when_filled() {
        let mut c = BlockCache::default();
        let (t, u) = (c.insert(block(0x10)), c.insert(block(0x20)));
        let mut src = block(0x30);
        src.targets = [SlotTarget::SamePage(0x10), SlotTarget::Never];
        let s = c.insert(src);
        c.set_link(c.link_to(s), 0, u);
        assert_eq!(c.get(s).cells.cells[0], LinkCell::EMPTY, "another EIP");
        c.set_link(c.link_to(s), 0, t);
        assert_eq!(c.get(s).cells.cells[0].entry, c.get(t).entry as usize);
        c.set_link(c.link_to(s), 1, t);
        assert_eq!(c.get(s).cells.cells[1], LinkCell::EMPTY);
        assert_eq!(c.linked(s, 1), Some(t));
        // The block at the right EIP but on another physical page (the page mapped elsewhere).
        let mut moved = block(0x10);
        moved.key.phys = 0x5010;
        moved.key.cs_base = 0x1000; // another key, so `t` stays
        moved.key.eip = 0x10;
        let m = c.insert(moved);
        let mut src2 = block(0x40);
        src2.targets = [SlotTarget::SamePage(0x10), SlotTarget::Any];
        src2.key.cs_base = 0x1000;
        let s2 = c.insert(src2);
        c.set_link(c.link_to(s2), 0, m);
        assert_eq!(c.get(s2).cells.cells[0], LinkCell::EMPTY, "another physical page");
    }

    /// A cell whose exits leave the EIP unchecked (`SlotTarget::Fixed`) is only filled with a
    /// block at that EIP, on any physical page.
    #[test]
    fn fixed_cells_are_checked_when_filled() {
        let mut c = BlockCache::default();
        let (t, u) = (c.insert(block(0x10)), c.insert(block(0x20)));
        let mut src = block(0x30);
        src.targets = [SlotTarget::Fixed(0x10), SlotTarget::Fixed(0x10)];
        let s = c.insert(src);
        c.set_link(c.link_to(s), 0, u);
        assert_eq!(c.get(s).cells.cells[0], LinkCell::EMPTY, "another EIP");
        assert_eq!(c.linked(s, 0), Some(u), "the link itself is made");
        let mut moved = block(0x10);
        moved.key.phys = 0x5010;
        moved.key.mode = c.get(s).key.mode;
        let m = c.insert(moved);
        c.set_link(c.link_to(s), 0, m);
        assert_eq!(c.get(s).cells.cells[0].phys, 0x5010, "any physical page");
        c.set_link(c.link_to(s), 1, t);
        assert_eq!(c.get(s).cells.cells[1].entry, c.get(t).entry as usize);
    }

    /// One cell flipping between two targets (a RET shared by two callers) is listed once per
    /// target however often it flips.
    #[test]
    fn a_flipping_cell_is_listed_once() {
        let mut c = BlockCache::default();
        let (t, u, s) = (c.insert(block(0)), c.insert(block(1)), c.insert(block(2)));
        for i in 0..10_000 {
            c.set_link(c.link_to(s), 0, if i % 2 == 0 { t } else { u });
        }
        for x in [t, u] {
            let n = c.get(x).incoming.len();
            assert!(n <= 64, "{n} entries for one cell");
        }
    }

    /// Cells that move between two targets again and again (a RET's cell following its callers)
    /// leave each target's `incoming` list bounded by the cells really pointing at it, and a
    /// dropped target empties exactly the cells still pointing at it.
    #[test]
    fn incoming_lists_stay_bounded_and_dropping_a_target_empties_its_cells() {
        let mut c = BlockCache::default();
        let (t, u) = (c.insert(block(0)), c.insert(block(1)));
        let sources: Vec<BlockId> = (2..202).map(|e| c.insert(block(e))).collect();
        for round in 0..50 {
            for &s in &sources {
                let to = if (s + round) % 2 == 0 { t } else { u };
                c.set_link(c.link_to(s), 0, to);
            }
        }
        for x in [t, u] {
            let n = c.get(x).incoming.len();
            assert!(n <= 2 * 128, "{n} entries for 100 cells");
        }
        let at_t: Vec<BlockId> =
            sources.iter().copied().filter(|&s| c.get(s).cells.cells[0].entry == c.get(t).entry as usize).collect();
        assert_eq!(at_t.len(), 100);
        c.remove(t);
        for &s in &sources {
            let cell = c.get(s).cells.cells[0];
            if at_t.contains(&s) {
                assert_eq!(cell, LinkCell::EMPTY);
            } else {
                assert_eq!(cell.entry, c.get(u).entry as usize);
            }
        }
    }
}
