//! What a translated block is valid for: where its code is, and the CPU mode it was made in.
//!
//! **Invariant:** two CPU states with equal [`BlockKey`]s decode the same bytes into the same
//! instructions and run them the same way under the same translated code. Translated code may
//! therefore assume everything the key records (code and stack size, CPL and so the TLB set,
//! the segmentation rules of the mode, the CS base and the EIP it starts at) as constants, and
//! must load everything else (segment bases and limits of FS/GS, and of DS/ES/SS unless the key
//! says they are flat; DF, IF, CR3...) from the state when it runs.
//!
//! What makes this hold: every instruction that can change what the key records (the mode, CPL,
//! CS (base and whether its limit is 4 GiB), SS, DS, ES, A20) ends its block with a status that does not chain (the decoder marks them
//! `MODE`; see `translate::ends_block`), exceptions and interrupts are delivered outside blocks,
//! and the dispatcher computes the key anew before every block it looks up or follows a link to.

use emu_cpu_x86::state::{attr, cr0, CpuState, SegReg};
use std::hash::{Hash, Hasher};

/// The parts of the CPU mode translated code depends on, packed in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModeKey(u32);

impl ModeKey {
    const CODE32: u32 = 1 << 0;
    const STACK32: u32 = 1 << 1;
    const CPL_SHIFT: u32 = 2; // bits 2-3
    const PE: u32 = 1 << 4;
    const PG: u32 = 1 << 5;
    const V86: u32 = 1 << 6;
    const A20: u32 = 1 << 7;
    const FLAT: u32 = 1 << 8;
    const CS_4G: u32 = 1 << 9;

    /// The mode of `s`, with the A20 gate as `a20_mask` says.
    #[inline]
    pub fn of(s: &CpuState, a20_mask: u32) -> ModeKey {
        let bit = |c: bool, b: u32| if c { b } else { 0 };
        ModeKey(
            bit(s.code32(), Self::CODE32)
                | bit(s.stack32(), Self::STACK32)
                | ((s.cpl as u32 & 3) << Self::CPL_SHIFT)
                | bit(s.protected(), Self::PE)
                | bit(s.cr0 & cr0::PG != 0, Self::PG)
                | bit(s.v86(), Self::V86)
                | bit(a20_mask & (1 << 20) != 0, Self::A20)
                | bit(Self::flat_data(s), Self::FLAT)
                | bit(s.segs[SegReg::Cs as usize].limit == u32::MAX, Self::CS_4G),
        )
    }

    /// DS, ES and SS are flat: base 0, limit 4 GiB, and (where the mode checks segment types)
    /// present, writable, expand-up data, so `Cpu::linear` passes every access through them
    /// that does not wrap around the end of the offset space, unchanged.
    #[inline]
    fn flat_data(s: &CpuState) -> bool {
        // Every set bit is a reason a segment is not flat; no branches (the dispatcher computes
        // this for every block it looks up).
        let typed = if s.protected() && !s.v86() { u32::MAX } else { 0 };
        let mask = (attr::P | attr::CODE | attr::RW | attr::DC) as u32;
        let want = (attr::P | attr::RW) as u32;
        let not_flat = |r: SegReg| {
            let seg = &s.segs[r as usize];
            seg.base | !seg.limit | (typed & ((seg.attr as u32 & mask) ^ want))
        };
        not_flat(SegReg::Ds) | not_flat(SegReg::Es) | not_flat(SegReg::Ss) == 0
    }

    /// The packed word (equal keys have equal words); the jump cache stores it for generated
    /// code to compare with its own key.
    pub fn bits(self) -> u32 {
        self.0
    }
    /// CS.D: instructions decode with 32-bit default operand and address size.
    pub fn code32(self) -> bool {
        self.0 & Self::CODE32 != 0
    }
    /// SS.B: the stack pointer is ESP (else SP).
    pub fn stack32(self) -> bool {
        self.0 & Self::STACK32 != 0
    }
    /// Current privilege level.
    pub fn cpl(self) -> u8 {
        ((self.0 >> Self::CPL_SHIFT) & 3) as u8
    }
    /// Memory accesses use the user set of the TLB (CPL 3).
    pub fn user(self) -> bool {
        self.cpl() == 3
    }
    /// CR0.PE.
    pub fn protected(self) -> bool {
        self.0 & Self::PE != 0
    }
    /// CR0.PG.
    pub fn paging(self) -> bool {
        self.0 & Self::PG != 0
    }
    /// EFLAGS.VM.
    pub fn v86(self) -> bool {
        self.0 & Self::V86 != 0
    }
    /// The A20 gate is open.
    pub fn a20(self) -> bool {
        self.0 & Self::A20 != 0
    }
    /// DS, ES and SS are flat data segments (see `ModeKey::flat_data`): accesses through them
    /// need no base, limit or type check, only one for an offset that wraps around.
    pub fn flat(self) -> bool {
        self.0 & Self::FLAT != 0
    }
    /// CS's limit is 4 GiB: every EIP is within it.
    pub fn cs_limit_4g(self) -> bool {
        self.0 & Self::CS_4G != 0
    }
    /// Segment accesses check the descriptor's type and presence (protected mode, not v8086).
    pub fn checks_segment_type(self) -> bool {
        self.protected() && !self.v86()
    }
}

impl std::fmt::Display for ModeKey {
    /// E.g. `code32 stack32 cpl0 pe a20` (only the flags that are set, and the CPL).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = vec![];
        for (on, name) in [(self.code32(), "code32"), (self.stack32(), "stack32")] {
            if on {
                parts.push(name.to_string());
            }
        }
        parts.push(format!("cpl{}", self.cpl()));
        for (on, name) in [
            (self.protected(), "pe"),
            (self.paging(), "pg"),
            (self.v86(), "v86"),
            (self.a20(), "a20"),
            (self.flat(), "flat"),
            (self.cs_limit_4g(), "cs4g"),
        ] {
            if on {
                parts.push(name.to_string());
            }
        }
        f.write_str(&parts.join(" "))
    }
}

/// Where a block starts and the mode it was translated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockKey {
    /// Physical address of the block's first byte.
    pub phys: u32,
    /// EIP of the block's first instruction.
    pub eip: u32,
    /// CS base (EIP-relative values in the code are computed from it).
    pub cs_base: u32,
    pub mode: ModeKey,
}

/// Two words instead of four `u32`s: with [`KeyHasher`] that is two multiplications. Hashes
/// every field, as `Eq` compares them.
impl Hash for BlockKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64((self.phys as u64) << 32 | self.eip as u64);
        h.write_u64((self.cs_base as u64) << 32 | self.mode.0 as u64);
    }
}

impl BlockKey {
    /// The key for the block at CS:EIP of `s`, whose first byte is at physical `phys`.
    #[inline]
    pub fn new(s: &CpuState, a20_mask: u32, phys: u32) -> BlockKey {
        BlockKey { phys, eip: s.eip, cs_base: s.segs[SegReg::Cs as usize].base, mode: ModeKey::of(s, a20_mask) }
    }
    /// Physical page number (address >> 12).
    pub fn page(&self) -> u32 {
        self.phys >> 12
    }
}

/// The hasher of the JIT's hash maps (blocks by [`BlockKey`], warm-up counts, pages): a
/// multiply-and-fold hash of the key's words, a few cycles where the standard library's
/// SipHash took tens on every block lookup that missed the direct-mapped array.
///
/// Not resistant to chosen collisions: the keys come from the guest, which could at worst make
/// its own lookups slower, never wrong (the maps compare whole keys).
///
/// **Invariant:** every input bit reaches the bits a `HashMap` uses: its bucket index (the low
/// bits) and its 7-bit tag (the top ones). Each word is folded in by a full 64x64-bit
/// multiplication by an odd constant whose two halves are XORed: the high half mixes every bit
/// of the word into every position, where a plain (wrapping) product would leave a change in
/// a word's high bits out of the low ones (tested below).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyHasher(u64);

/// `HashMap<K, V, KeyHash>` hashes with [`KeyHasher`].
pub type KeyHash = std::hash::BuildHasherDefault<KeyHasher>;

impl KeyHasher {
    /// 2^64 divided by the golden ratio, rounded to odd.
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    #[inline]
    fn add(&mut self, word: u64) {
        let m = (self.0 ^ word) as u128 * Self::K as u128;
        self.0 = m as u64 ^ (m >> 64) as u64;
    }
}

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            // The length keeps "ab" and "ab\0" apart.
            self.add(u64::from_le_bytes(last) ^ (rest.len() as u64) << 59);
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emu_cpu_x86::state::Segment;

    #[test]
    fn reset_state_is_real_mode_16_bit() {
        let s = CpuState::reset();
        let k = ModeKey::of(&s, !0);
        assert!(!k.code32() && !k.stack32() && !k.protected() && !k.paging() && !k.v86() && k.a20());
        assert_eq!(k.cpl(), 0);
        assert!(!ModeKey::of(&s, !(1 << 20)).a20());
        assert!(!k.flat() && !k.cs_limit_4g(), "real-mode limits are 64 KiB");
    }

    /// Flat needs all three of DS, ES and SS at base 0 and limit 4 GiB, as present writable
    /// expand-up data in protected mode.
    #[test]
    fn flat_data_segments() {
        let mut s = CpuState::reset();
        s.cr0 |= cr0::PE;
        let data = Segment { base: 0, limit: u32::MAX, selector: 0x10, attr: attr::P | attr::S | attr::RW | attr::DB };
        s.segs = [data; 6];
        assert!(ModeKey::of(&s, !0).flat());
        let changes: [(SegReg, fn(&mut Segment)); 8] = [
            (SegReg::Ds, |g| g.base = 0x1000),
            (SegReg::Es, |g| g.limit = 0xfffff),
            (SegReg::Ss, |g| g.attr &= !attr::RW),
            (SegReg::Ds, |g| g.attr &= !attr::P),
            (SegReg::Ds, |g| g.attr |= attr::DC),
            (SegReg::Es, |g| g.attr |= attr::CODE),
            (SegReg::Ss, |g| g.base = 0xffff_0000),
            (SegReg::Ds, |g| g.limit = 0),
        ];
        for (r, change) in changes {
            let mut t = s.clone();
            change(&mut t.segs[r as usize]);
            assert!(!ModeKey::of(&t, !0).flat(), "{r:?}");
        }
        // CS's limit is a bit of its own.
        assert!(ModeKey::of(&s, !0).cs_limit_4g());
        let mut t = s.clone();
        t.segs[SegReg::Cs as usize].limit = 0xffff;
        assert!(!ModeKey::of(&t, !0).cs_limit_4g() && ModeKey::of(&t, !0).flat());
        // FS and GS do not matter.
        let mut t = s.clone();
        t.segs[SegReg::Fs as usize].base = 0x1234;
        t.segs[SegReg::Gs as usize].attr = 0;
        assert!(ModeKey::of(&t, !0).flat());
    }

    fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
        let mut h = KeyHasher::default();
        v.hash(&mut h);
        h.finish()
    }

    /// How many distinct values `f` takes over `hashes`.
    fn distinct(hashes: &[u64], f: impl Fn(u64) -> u64) -> usize {
        let mut v: Vec<u64> = hashes.iter().map(|&h| f(h)).collect();
        v.sort_unstable();
        v.dedup();
        v.len()
    }

    /// Keys that differ only in a few high or low bits of one field (pages of one region, the
    /// same EIP on every page, the same code in two modes) still spread over a map's buckets
    /// (the low bits of the hash) and its 7-bit tags (the top bits): a hasher that dropped a
    /// field or left its bits in the middle of the word would pile them into a few buckets.
    #[test]
    fn key_hasher_spreads_similar_keys() {
        let mode = ModeKey::of(&CpuState::reset(), !0);
        let key = |phys: u32, eip: u32, cs_base: u32, mode: ModeKey| BlockKey { phys, eip, cs_base, mode };
        let families: [(&str, Vec<u64>); 6] = [
            ("pages", (0..4096u32).map(|p| hash_of(&(p + 0x100))).collect()),
            ("pages far apart", (0..4096u32).map(|p| hash_of(&(p << 8))).collect()),
            ("phys by page", (0..4096u32).map(|p| hash_of(&key(p << 12, 0x10, 0, mode))).collect()),
            ("eip by byte", (0..4096u32).map(|e| hash_of(&key(0x5000, e, 0, mode))).collect()),
            ("cs base by 64 KiB", (0..4096u32).map(|c| hash_of(&key(0x5000, 0x10, c << 16, mode))).collect()),
            ("mode", (0..1024u32).map(|m| hash_of(&key(0x5000, 0x10, 0, ModeKey(m)))).collect()),
        ];
        for (name, hashes) in &families {
            let n = hashes.len();
            // Random values would fill about 63% of n buckets.
            let buckets = distinct(hashes, |h| h & (n as u64 - 1));
            assert!(buckets * 100 >= n * 55, "{name}: {buckets} buckets of {n}");
            let tags = distinct(hashes, |h| h >> 57);
            assert!(tags >= 100, "{name}: {tags} tags of 128");
        }
        // Byte strings: the tail and its length count.
        assert_ne!(hash_of(&"ab"), hash_of(&"ab\0"));
        assert_ne!(hash_of(&[1u8, 2, 3, 4, 5, 6, 7, 8, 9][..]), hash_of(&[1u8, 2, 3, 4, 5, 6, 7, 8, 10][..]));
    }
}
