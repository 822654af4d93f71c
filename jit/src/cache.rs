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

use crate::helpers::BlockFn;
use crate::key::BlockKey;
use emu_cpu_x86::decode::Insn;
use std::collections::HashMap;

/// A translated block.
pub struct Block {
    pub key: BlockKey,
    /// The decoded instructions; generated code points into this slice, so it never moves.
    pub insns: Box<[Insn]>,
    /// EIP of each instruction.
    pub eips: Box<[u32]>,
    /// Bytes of guest code.
    pub bytes: u32,
    /// The host code.
    pub entry: BlockFn,
    /// Host code size in bytes.
    pub host_size: usize,
    /// The block does port I/O (IN, OUT, INS, OUTS): devices see the guest time.
    pub io: bool,
    /// Where the chainable exits (taken, fall-through) led last time.
    pub links: [Link; 2],
    /// Inlined memory accesses in the first `k` instructions, for `k` in `0..=insns.len()`.
    pub accesses: Box<[u32]>,
}

/// A chained successor: a block id and the generation its slab slot had when the link was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    map: HashMap<BlockKey, BlockId>,
    fast: Box<[BlockId]>,
    pages: HashMap<u32, Vec<BlockId>>,
}

impl Default for BlockCache {
    fn default() -> Self {
        BlockCache {
            slab: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            map: HashMap::new(),
            fast: vec![NONE; FAST_SIZE].into_boxed_slice(),
            pages: HashMap::new(),
        }
    }
}

fn fast_index(k: &BlockKey) -> usize {
    let h = k.phys ^ k.eip.rotate_left(7) ^ k.cs_base.rotate_left(13);
    (h ^ (h >> 12)) as usize & (FAST_SIZE - 1)
}

impl BlockCache {
    /// The block for `k`, if translated: `(id, hit in the direct-mapped array)`.
    #[inline]
    pub fn lookup(&mut self, k: &BlockKey) -> Option<(BlockId, bool)> {
        let f = fast_index(k);
        let id = self.fast[f];
        if id != NONE {
            if let Some(b) = &self.slab[id as usize] {
                if b.key == *k {
                    return Some((id, true));
                }
            }
        }
        let id = *self.map.get(k)?;
        self.fast[f] = id;
        Some((id, false))
    }

    #[inline]
    pub fn get(&self, id: BlockId) -> &Block {
        self.slab[id as usize].as_ref().expect("a looked-up block is alive")
    }

    /// Adds a block; returns its id.
    pub fn insert(&mut self, b: Block) -> BlockId {
        let key = b.key;
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
            self.remove(old);
        }
        self.fast[fast_index(&key)] = id;
        self.pages.entry(key.page()).or_default().push(id);
        id
    }

    fn remove(&mut self, id: BlockId) {
        if let Some(b) = self.slab[id as usize].take() {
            self.generations[id as usize] = self.generations[id as usize].wrapping_add(1);
            let f = fast_index(&b.key);
            if self.fast[f] == id {
                self.fast[f] = NONE;
            }
            if self.map.get(&b.key) == Some(&id) {
                self.map.remove(&b.key);
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
        *self = BlockCache::default();
        self.free = (0..generations.len() as BlockId).rev().collect();
        self.slab = (0..generations.len()).map(|_| None).collect();
        self.generations = generations;
        pages
    }

    /// A link to block `id` as it is now.
    pub fn link_to(&self, id: BlockId) -> Link {
        Link { id, generation: self.generations[id as usize] }
    }

    /// Makes exit `slot` of block `from` lead to `to`, if both links are still current.
    pub fn set_link(&mut self, from: Link, slot: usize, to: BlockId) {
        if self.resolve(from).is_some() {
            let l = self.link_to(to);
            if let Some(b) = self.slab[from.id as usize].as_mut() {
                b.links[slot] = l;
            }
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
