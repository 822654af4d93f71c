//! The interpreter's decoded-instruction cache: the [`Insn`]s decoded last, found by the host
//! address of their first byte, so an instruction the interpreter runs again (a loop, a block
//! warming up before the JIT translates it) is not decoded again.
//!
//! [`decode`](super::decode) is a pure function of the code size (CS.D) and the instruction's
//! bytes. An entry holds the bytes it was decoded from, and the code size is implied by the
//! instruction ([`code32_of`]); a lookup compares both with the bytes now at the address and
//! the code size now. So a store to the code (from the guest, DMA or a debugger), a page mapped
//! elsewhere or ROM shadowing needs no invalidation: the bytes differ, or they are the same
//! bytes and decode the same. The address only picks the entry.
//!
//! **Invariant:** [`DecodeCache::get`] returns an instruction only if decoding the bytes at
//! `host` with `code32` returns the same instruction.
//!
//! Entries are direct-mapped by host address, one cache line each. Only instructions whose whole
//! fetch window ([`Cpu::fetch_window`](crate::Cpu::fetch_window)) is readable host memory take
//! part, so the 15 bytes a lookup reads are always there.

use super::{prefix, Insn, MAX_LEN};
use crate::flags::Size;

/// Entries (a power of two). On the Linux boot (JIT, most instructions the interpreter runs
/// are warming up or queued for compilation) fetch and decode took 26 ns per instruction
/// without the cache, 22-23 ns with 4096 entries, 26 with 1024 and 24 with 16384; the
/// interpreter alone runs the integer mix in 0.45-0.5 s instead of 0.68-0.8 s. With the next
/// instruction's entry prefetched ([`DecodeCache::prefetch`]), 8192 and 16384 entries halved
/// the time spent decoding on that boot (3-4.6 ns per interpreted instruction instead of 6-7)
/// but the lookups then missed the host's caches as much more often: no better overall (three
/// interleaved boots each, load 3-3.5).
pub const ENTRIES: usize = 4096;

/// One decoded instruction and the bytes it was decoded from.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Entry {
    /// Bytes 0-7 and 7-14 at the instruction's address as little-endian words, the bytes past
    /// its length cleared (see [`masks`]); an empty entry has bits outside the masks set, so it
    /// matches nothing.
    words: [u64; 2],
    insn: Insn,
}

impl Entry {
    const EMPTY: Entry = Entry { words: [u64::MAX; 2], insn: Insn::NOP };
}

/// The code size an instruction was decoded with: its operand size is 32 bits exactly when
/// CS.D and the operand-size prefix disagree.
#[inline(always)]
pub fn code32_of(i: &Insn) -> bool {
    (i.osize == Size::D) != (i.prefixes & prefix::OSIZE != 0)
}

/// The cache (see the module comment).
pub struct DecodeCache {
    /// A fixed-size array, so that indexing needs no bounds check.
    entries: Box<[Entry; ENTRIES]>,
}

impl Default for DecodeCache {
    fn default() -> Self {
        let entries: Box<[Entry]> = vec![Entry::EMPTY; ENTRIES].into_boxed_slice();
        DecodeCache { entries: entries.try_into().expect("ENTRIES entries") }
    }
}

impl std::fmt::Debug for DecodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodeCache").finish_non_exhaustive()
    }
}

/// The masks selecting an instruction of `len` bytes (1 to 15) in the two words of
/// [`words_at`]: bytes 0-7 in the first, bytes 8-14 at bytes 1-7 of the second.
const fn masks_of(len: usize) -> [u64; 2] {
    const fn bytes(n: usize) -> u64 {
        if n >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * n)) - 1
        }
    }
    [bytes(len), bytes(len.saturating_sub(7)) & !0xff]
}

/// [`masks_of`] for every length: a load on the lookup path instead of shifts and selects.
static MASKS: [[u64; 2]; 16] = {
    let mut t = [[0; 2]; 16];
    let mut len = 0;
    while len < 16 {
        t[len] = masks_of(len);
        len += 1;
    }
    t
};

#[inline(always)]
fn masks(len: usize) -> [u64; 2] {
    // An instruction is at most 15 bytes long: the mask only spares the bounds check.
    MASKS[len & 15]
}

/// The two words the entries compare: bytes 0-7 and 7-14 at `p`.
///
/// # Safety
/// `p .. p + MAX_LEN` must be readable.
#[inline(always)]
unsafe fn words_at(p: *const u8) -> [u64; 2] {
    [(p as *const u64).read_unaligned().to_le(), (p.add(MAX_LEN - 8) as *const u64).read_unaligned().to_le()]
}

/// The bytes of the `len`-byte instruction at `p` as the cache compares them: [`words_at`] with
/// the bytes past the instruction cleared.
///
/// # Safety
/// `p .. p + MAX_LEN` must be readable.
#[inline(always)]
pub(crate) unsafe fn masked_words(p: *const u8, len: u8) -> [u64; 2] {
    let [m0, m1] = masks(len as usize);
    let [w0, w1] = words_at(p);
    [w0 & m0, w1 & m1]
}

#[inline(always)]
fn index(host: usize) -> usize {
    (host ^ (host >> 12)) & (ENTRIES - 1)
}

impl DecodeCache {
    /// The instruction the bytes at `host` decode to with `code32`, if it is cached.
    ///
    /// # Safety
    /// `host .. host + MAX_LEN` must be readable.
    #[inline(always)]
    pub unsafe fn get(&self, host: *const u8, code32: bool) -> Option<&Insn> {
        let e = &self.entries[index(host as usize)];
        let [m0, m1] = masks(e.insn.len as usize);
        let [w0, w1] = words_at(host);
        let same = ((w0 & m0) ^ e.words[0]) | ((w1 & m1) ^ e.words[1]) == 0;
        (same && code32_of(&e.insn) == code32).then_some(&e.insn)
    }

    /// Starts loading the entry of the instruction at `host` into the host's data cache, without
    /// waiting for it: called with the address right after the instruction about to execute, so
    /// that the next lookup (sequential code) does not stall on a cache miss. On the Linux boot
    /// (cold code the interpreter runs a few hundred times, between JIT work that evicts the
    /// entries) that miss was the costliest instruction of the fetch. Any address will do: it
    /// is only hashed, never dereferenced.
    #[inline(always)]
    pub fn prefetch(&self, host: *const u8) {
        crate::prefetch(&self.entries[index(host as usize)]);
    }

    /// Records that the bytes at `host` decode to `insn` (with the code size `insn` implies).
    ///
    /// # Safety
    /// `host .. host + MAX_LEN` must be readable.
    #[inline(always)]
    pub unsafe fn insert(&mut self, host: *const u8, insn: &Insn) {
        self.entries[index(host as usize)] = Entry { words: masked_words(host, insn.len), insn: *insn };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;

    fn decoded(bytes: &[u8], code32: bool) -> Insn {
        decode::<()>(code32, |n| Ok(bytes[n])).unwrap()
    }

    #[test]
    fn masks_cover_exactly_the_instruction() {
        for len in 1..=MAX_LEN {
            let mut buf = [0u8; MAX_LEN];
            buf[..len].fill(0xff);
            // SAFETY: 15 bytes.
            let [w0, w1] = unsafe { words_at(buf.as_ptr()) };
            let [m0, m1] = masks(len);
            assert_eq!((w0 & m0, w1 & m1), (w0, w1 & !0xff), "len {len}: the masks keep every byte of it");
            let mut past = [0u8; MAX_LEN];
            past[len..].fill(0xff);
            // SAFETY: 15 bytes.
            let [p0, p1] = unsafe { words_at(past.as_ptr()) };
            assert_eq!((p0 & m0, p1 & m1), (0, 0), "len {len}: and none past it");
        }
    }

    /// Every opcode of both maps, with and without 66, in both code sizes: the decoder never
    /// sets an operand size of its own that would hide the code size from [`code32_of`].
    #[test]
    fn code_size_is_implied_by_every_opcode() {
        for code32 in [false, true] {
            for osize_prefix in [false, true] {
                for op in 0..0x200u16 {
                    let mut bytes = vec![];
                    if osize_prefix {
                        bytes.push(0x66);
                    }
                    if op > 0xff {
                        bytes.push(0x0f);
                    }
                    bytes.push(op as u8);
                    bytes.extend([0xc0; 15]); // ModRM (register form) and immediates
                    let Ok(i) = decode::<()>(code32, |n| Ok(*bytes.get(n).unwrap_or(&0))) else { continue };
                    assert_eq!(code32_of(&i), code32, "opcode {op:03x}, 66: {osize_prefix}");
                }
            }
        }
    }

    #[test]
    fn code_size_is_implied_by_the_instruction() {
        for (bytes, code32) in
            [(&[0x40][..], true), (&[0x40][..], false), (&[0x66, 0x40][..], true), (&[0x66, 0x40][..], false)]
        {
            assert_eq!(code32_of(&decoded(bytes, code32)), code32, "{bytes:02x?}");
        }
    }

    /// A hit needs the same code size and bytes; a change to any byte of the instruction
    /// misses, a change past it does not.
    #[test]
    fn hits_only_on_the_same_bytes_and_code_size() {
        let mut c = DecodeCache::default();
        // mov eax, [ebx+esi*4+0x12345678] (7 bytes in 32-bit code), then filler.
        let mut mem = [0x90u8; 64];
        let insn = [0x8b, 0x84, 0xb3, 0x78, 0x56, 0x34, 0x12];
        mem[8..15].copy_from_slice(&insn);
        let i = decoded(&mem[8..], true);
        assert_eq!(i.len, 7);
        // SAFETY (every `get` and `insert`): at least 15 bytes from the address are in `mem`.
        let get = |c: &DecodeCache, mem: &[u8], at: usize, code32: bool| unsafe {
            c.get(mem.as_ptr().add(at), code32).copied()
        };
        assert_eq!(get(&c, &mem, 8, true), None, "empty");
        unsafe { c.insert(mem.as_ptr().add(8), &i) };
        assert_eq!(get(&c, &mem, 8, true), Some(i));
        assert_eq!(get(&c, &mem, 8, false), None, "16-bit code decodes these bytes otherwise");
        mem[8 + 7] = 0xcc; // the byte after it
        assert_eq!(get(&c, &mem, 8, true), Some(i));
        for at in 0..7 {
            let old = mem[8 + at];
            mem[8 + at] ^= 0x40;
            assert_eq!(get(&c, &mem, 8, true), None, "byte {at} changed");
            mem[8 + at] = old;
        }
        assert_eq!(get(&c, &mem, 8, true), Some(i));
        assert_eq!(get(&c, &mem, 9, true), None, "another address");
        // The same bytes elsewhere are found there once inserted there.
        mem[32..39].copy_from_slice(&insn);
        assert_eq!(get(&c, &mem, 32, true), None);
        unsafe { c.insert(mem.as_ptr().add(32), &i) };
        assert_eq!(get(&c, &mem, 32, true), Some(i));
    }

    /// A 15-byte instruction uses the second word's last byte; a 1-byte one only the first byte.
    #[test]
    fn longest_and_shortest_instructions() {
        let mut c = DecodeCache::default();
        // Eleven 66 prefixes, a 67, then mov ax, 0x1234 (b8 34 12): 15 bytes.
        let mut mem = [0u8; 32];
        mem[..11].fill(0x66);
        mem[11..15].copy_from_slice(&[0x67, 0xb8, 0x34, 0x12]);
        let i = decoded(&mem, true);
        assert_eq!(i.len, 15);
        // SAFETY (all calls): 32 bytes.
        unsafe {
            c.insert(mem.as_ptr(), &i);
            assert_eq!(c.get(mem.as_ptr(), true), Some(&i));
        }
        mem[14] = 0x13;
        assert!(unsafe { c.get(mem.as_ptr(), true) }.is_none(), "the 15th byte counts");
        let mut nop = [0x90u8; 16];
        let n = decoded(&nop, true);
        // SAFETY (all calls): 16 bytes.
        unsafe { c.insert(nop.as_ptr(), &n) };
        nop[1] = 0;
        assert_eq!(unsafe { c.get(nop.as_ptr(), true) }, Some(&n));
        nop[0] = 0x40;
        assert!(unsafe { c.get(nop.as_ptr(), true) }.is_none());
    }
}
