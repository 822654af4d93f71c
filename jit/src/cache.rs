//! The block cache: translated blocks by [`BlockKey`], with a direct-mapped lookup array in front
//! of a hash map, and the list of blocks on each physical page for invalidation.
//!
//! **Invariant:** a block is reachable (through the array, the map or a page list) exactly while
//! its code may run: [`BlockCache::invalidate_page`] removes every block whose guest code lies
//! on that page from all three before the dispatcher looks anything up again; a page is in
//! `pages` exactly while the CPU has it marked as holding code.

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
}

/// Identifies a block in the cache (an index into its slab).
pub type BlockId = u32;
const NONE: BlockId = u32::MAX;
/// Entries of the direct-mapped array (a power of two).
const FAST_SIZE: usize = 4096;

/// All translated blocks.
pub struct BlockCache {
    slab: Vec<Option<Block>>,
    free: Vec<BlockId>,
    map: HashMap<BlockKey, BlockId>,
    fast: Box<[BlockId]>,
    pages: HashMap<u32, Vec<BlockId>>,
}

impl Default for BlockCache {
    fn default() -> Self {
        BlockCache {
            slab: Vec::new(),
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

    /// Drops every block; returns the pages that held some.
    pub fn clear(&mut self) -> Vec<u32> {
        let pages = self.pages.keys().copied().collect();
        *self = BlockCache::default();
        pages
    }

    /// Blocks alive.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
