//! The softmmu in generated code: segment check, TLB lookup and host access inline, the
//! interpreter's `Cpu::read`/`Cpu::write` as the slow path.
//!
//! The inline path handles the common case only, and sends everything else to the helper, which
//! repeats every check and so raises the right fault:
//! - the offset is inside the segment limit (expand-up segments; in protected mode only present
//!   data segments, writable for stores), as `Cpu::linear` checks it; in a block whose mode key
//!   says DS, ES and SS are flat ([`crate::key::ModeKey::flat`]), accesses through those three
//!   check nothing here (the base is 0, the limit 4 GiB, and the type passes every access; the
//!   key is constant for the block's whole run): the one access `Cpu::linear` refuses, an
//!   offset that wraps around, crosses from linear page 0xfffff to page 0, which the TLB check
//!   below sends to the slow path;
//! - the TLB entry of the linear page has the access kind's tag, and the access does not cross
//!   the page: comparing the tag with the page of the access's *last* byte, in the entry indexed
//!   by its *first* byte, checks both at once (two pages that share an entry are 256 pages
//!   apart, never neighbours);
//! - then the host address is `lin + addend`, little-endian.
//!
//! An access whose address has the same root (register value) as an earlier one of the block
//! first tries that access's page (a *page hint*, `PageHint`): if it lies within it, its host
//! address is the hint's host page plus its offset there, with no TLB load; else it takes the
//! slow path, which looks the TLB up itself (the checks above are not built again for a miss,
//! which is rare: but when the access that made the hint took the slow path itself, its hint is
//! no page, and the later accesses of its root in that run of the block take the slow path too;
//! on the Linux bench boot, slow-path calls went from 124 k to 148 k). A hint is what the TLB
//! said at the earlier access: it stays true while nothing but the block's own accesses runs
//! (the translations, their permissions and the pages holding translated code change only in
//! instructions the interpreter runs, which end hints, and between blocks); the tag kinds are
//! kept apart as in the TLB (a read's hint is not one for a write). One difference from the
//! interpreter: a slow-path access in between may evict the hinted page's TLB entry, and a
//! guest that also rewrote that page's page-table entry (or cleared its accessed bit) without a
//! flush goes on with the old translation to the block's end, where the interpreter would walk
//! the tables again; the architecture allows either until the flush, as for a block's own page
//! (`translate`, *Same-page links*). `--cpu check` turns hints off (`Translator::page_hints`),
//! as it would report that as a difference.
//!
//! Loads of a block that runs with paging off, the A20 gate open and flat DS/ES/SS (the mode key
//! says so) through one of those three go straight to RAM instead when the translator has its
//! window ([`super::RamWindow`]): a compare that the access lies in the plain RAM from 1 MiB, or
//! else one that it lies in the plain RAM from 0 (a wrapped offset or one past an end fails
//! them), then `base + address`; the rest (device memory, ROM) take the slow path, and every
//! store the TLB path above.

use super::{Emitter, Helper, PageHint, Pure, NO_PAGE};
use crate::layout;
use cranelift_codegen::ir::{
    condcodes::IntCC, types, Block, BlockArg, Endianness, InstBuilder, InstructionData, MemFlagsData, Opcode, Type,
    Value,
};
use emu_cpu_x86::flags::Size;
use emu_cpu_x86::state::{attr, SegReg};
use emu_cpu_x86::tlb::TLB_SIZE;

/// What a store's slow path does when the store is onto a page holding translated code, which
/// must not run on after it: the rest of the block may be what it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnCode {
    /// Flags it to the instruction's end, which leaves the block then (`Emitter::smc`).
    Flag,
    /// Leaves the block at once with the state after the instruction: the store is its last
    /// effect.
    Leave,
    /// Writes nothing and leaves through the instruction's fault exit, for the dispatcher to
    /// run the instruction in the interpreter (`helpers::REDO_ON_CODE`).
    Redo,
}

/// Guest memory: may be unaligned, never traps (the TLB says it is mapped), little-endian.
pub(super) fn guest() -> MemFlagsData {
    MemFlagsData::new().with_notrap().with_endianness(Endianness::Little)
}

impl Emitter<'_> {
    /// `Cpu::linear`'s common case inline: (linear address, i8 "inline path may be taken").
    /// `off16`: the offset is known to be below 0x10000, so `off + size - 1` cannot wrap.
    pub(super) fn seg_check(
        &mut self,
        seg: SegReg,
        off: Value,
        size: Size,
        write: bool,
        off16: bool,
    ) -> (Value, Value) {
        match self.seg_check_inline(seg, off, size, write, off16) {
            (lin, Some(ok), _) => (lin, ok),
            (lin, None, _) => (lin, self.b.ins().iconst(types::I8, 1)),
        }
    }

    /// [`Emitter::seg_check`], with `None` for "always" (a flat segment, an access that cannot
    /// wrap), and the linear address of the last byte when it was computed.
    fn seg_check_inline(
        &mut self,
        seg: SegReg,
        off: Value,
        size: Size,
        write: bool,
        off16: bool,
    ) -> (Value, Option<Value>, Option<Value>) {
        if self.mode.flat() && matches!(seg, SegReg::Ds | SegReg::Es | SegReg::Ss) {
            // Base 0 and limit 4 GiB: only an offset that wraps around fails (`Cpu::linear`'s
            // `last < off`), and the TLB check sends that one to the slow path already: its
            // linear bytes are on pages 0xfffff and 0, neighbours, so never in the same entry.
            return (off, None, None);
        }
        let n = seg as usize;
        let t = MemFlagsData::trusted();
        // Segment registers change only in instructions the interpreter runs, which forget these.
        let [base, limit, a] = match self.segs[n] {
            Some(v) => v,
            None => {
                let base = self.b.ins().load(types::I32, t, self.cpu, layout::seg_base(n));
                let limit = self.b.ins().load(types::I32, t, self.cpu, layout::seg_limit(n));
                let a = if self.mode.checks_segment_type() {
                    self.b.ins().uload16(types::I32, t, self.cpu, layout::seg_attr(n))
                } else {
                    base // unused
                };
                self.segs[n] = Some([base, limit, a]);
                [base, limit, a]
            }
        };
        let last = if size == Size::B { off } else { self.add_const(off, size.bytes() - 1) };
        let mut ok = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, last, limit);
        if size != Size::B && !off16 {
            let no_wrap = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, last, off);
            ok = self.b.ins().band(ok, no_wrap);
        }
        if self.mode.checks_segment_type() {
            let (mask, want) = if write {
                (attr::P | attr::CODE | attr::RW | attr::DC, attr::P | attr::RW)
            } else {
                (attr::P | attr::CODE | attr::DC, attr::P)
            };
            let m = self.b.ins().band_imm_u(a, mask as i64);
            let good = self.b.ins().icmp_imm_u(IntCC::Equal, m, want as i64);
            ok = self.b.ins().band(ok, good);
        }
        let lin = self.pure(Pure::Add(base, off));
        (lin, Some(ok), None)
    }

    /// The TLB entry for `lin` (in the set of the block's privilege), and whether its `tag_at`
    /// tag matches an access of `size` bytes that stays in the page.
    pub(super) fn tlb_hit(&mut self, lin: Value, size: Size, tag_at: i32) -> (Value, Value) {
        self.tlb_hit_last(lin, size, tag_at, None)
    }

    /// [`Emitter::tlb_hit`], with the linear address of the access's last byte if it is at hand.
    fn tlb_hit_last(&mut self, lin: Value, size: Size, tag_at: i32, last: Option<Value>) -> (Value, Value) {
        // The entry's address and the page wanted are the same for every access to `lin`
        // (reused); the tag itself is loaded each time, as anything in between may have
        // changed it (a slow path filling the entry for another page), and each kind of
        // access has its own tag (a read that hit does not make a write hit).
        let entry = self.pure(Pure::TlbEntry(lin));
        let tag = self.tlb_load(types::I32, entry, tag_at);
        let last = match last {
            Some(l) => l,
            None if size == Size::B => lin,
            None => self.add_const(lin, size.bytes() - 1),
        };
        let want = self.pure(Pure::AndImm(last, !0xfffi64 & 0xffff_ffff));
        let hit = self.b.ins().icmp(IntCC::Equal, tag, want);
        (entry, hit)
    }

    /// The entry of `lin`'s page in the block's TLB set: `cpu + set offset + (page % TLB_SIZE) *
    /// entry size`, with the entry size a power of two (`TlbEntry`'s alignment), so one shift and
    /// one mask of the linear address: `(lin >> 7) & 0x7fe0` for 32-byte entries. Where loads
    /// can hold the set's offset in their own, on every host (the supervisor set, see
    /// [`Emitter::tlb_in_load`]), the address left in the IR is without it, and
    /// [`Emitter::tlb_load`] adds it to each field's offset: two IR instructions fewer per
    /// entry, and the host folds both into the load.
    pub(super) fn tlb_entry(&mut self, lin: Value) -> Value {
        const SHIFT: i64 = layout::TLB_ENTRY_SIZE.trailing_zeros() as i64;
        const _: () = assert!(layout::TLB_ENTRY_SIZE.count_ones() == 1 && SHIFT <= 12);
        let x = self.b.ins().ushr_imm_u(lin, 12 - SHIFT);
        let off = self.b.ins().band_imm_u(x, (TLB_SIZE as i64 - 1) << SHIFT);
        let off = self.widen_to_ptr(off);
        let base = match self.tlb_in_load() {
            true => self.cpu,
            false => self.b.ins().iadd_imm_s(self.cpu, self.tlb_set as i64),
        };
        self.b.ins().iadd(base, off)
    }

    /// Whether loads of the block's TLB entries carry the set's offset in `Cpu` in their own
    /// offsets ([`Emitter::tlb_entry`]): when every field's offset stays below 2 KiB, which every
    /// host's loads take as an immediate (RISC-V's 12 signed bits, AArch64's 12 bits scaled by
    /// the size; x86-64 takes any 32-bit displacement). That is the supervisor set, which comes
    /// first in `Cpu`, and not the user set after it: there an offset beyond the load's reach
    /// would cost an instruction at every load on those hosts instead of one add per entry. (The
    /// same rule on every host, so that both forms are built, and tested, on each.)
    fn tlb_in_load(&self) -> bool {
        self.tlb_set as i64 + layout::TLB_ENTRY_SIZE <= 2048
    }

    /// Loads field `field` (`layout::TLB_*`) of the entry at `entry`, an address from
    /// [`Emitter::tlb_entry`] or [`Emitter::tlb_entry_at`].
    pub(super) fn tlb_load(&mut self, ty: Type, entry: Value, field: i32) -> Value {
        let set = if self.tlb_in_load() { self.tlb_set } else { 0 };
        self.b.ins().load(ty, MemFlagsData::trusted(), entry, set + field)
    }

    /// The entry of the constant linear address `lin`'s page in the block's TLB set (as
    /// [`Emitter::tlb_entry`] gives it), one add to the CPU pointer.
    pub(super) fn tlb_entry_at(&mut self, lin: u32) -> Value {
        let idx = (lin >> 12) as usize & (TLB_SIZE - 1);
        let set = if self.tlb_in_load() { 0 } else { self.tlb_set as i64 };
        self.b.ins().iadd_imm_s(self.cpu, set + idx as i64 * layout::TLB_ENTRY_SIZE)
    }

    /// `ok && v` for i8 conditions, where `None` is an `ok` that always holds (a segment check
    /// with nothing to check, a chain with nothing but the TLB to ask).
    pub(super) fn and_ok(&mut self, ok: Option<Value>, v: Value) -> Value {
        match ok {
            Some(ok) => self.b.ins().band(ok, v),
            None => v,
        }
    }

    /// `v + k` at 32 bits; when `v` is itself `x + constant` (an effective address with a
    /// displacement), `x + (constant + k)`, one host instruction instead of a constant and an add.
    pub(super) fn add_const(&mut self, v: Value, k: u32) -> Value {
        let def = self.b.func.dfg.value_def(v).inst().map(|i| self.b.func.dfg.insts[i]);
        if let Some(InstructionData::Binary { opcode: Opcode::Iadd, args: [x, c] }) = def {
            if let Some(c) = self.const_of(c) {
                return self.pure(Pure::AddImm(x, c.wrapping_add(k) as i32 as i64));
            }
        }
        if k == 0 {
            return v;
        }
        self.pure(Pure::AddImm(v, k as i32 as i64))
    }

    /// An i32 zero-extended to a host pointer.
    pub(super) fn widen_to_ptr(&mut self, v: Value) -> Value {
        if self.ptr == types::I32 {
            v
        } else {
            self.b.ins().uextend(self.ptr, v)
        }
    }

    pub(super) fn host_addr(&mut self, entry: Value, lin: Value) -> Value {
        let addend = self.tlb_load(self.ptr, entry, layout::TLB_ADDEND);
        let l = self.widen_to_ptr(lin);
        self.b.ins().iadd(l, addend)
    }

    /// Counts one inlined access in the current instruction (for the TLB hit rate in `--stats=full`:
    /// accesses that completed inline are these minus the helper calls).
    fn count_access(&mut self) {
        if let Some(n) = self.accesses.last_mut() {
            *n += 1;
        }
    }

    /// Loads `size` bytes at `seg:off` (zero-extended to i32). Faults leave the block.
    pub(super) fn load(&mut self, seg: SegReg, off: Value, size: Size, off16: bool) -> Value {
        self.count_access();
        let direct = self.ram.filter(|_| {
            let m = self.mode;
            m.protected() && !m.paging() && m.a20() && m.flat() && matches!(seg, SegReg::Ds | SegReg::Es | SegReg::Ss)
        });
        let Some(ram) = direct else {
            return self.load_through_tlb(seg, off, size, off16);
        };
        // Flat: the offset is the linear and the physical address. In the range from 1 MiB first
        // (the decompressor's), then the range from 0 (below); elsewhere (the legacy video and
        // ROM area, past the end of plain RAM) the slow path.
        let go = ram.in_high(self, off, size);
        let (fast, slow, join) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(slow);
        let v = self.b.append_block_param(join, types::I32);
        let from = self.b.current_block();
        if ram.low >= size.bytes() {
            let low = self.b.create_block();
            self.b.ins().brif(go, fast, &[], low, &[]);
            self.b.switch_to_block(low);
            let in_low = ram.in_low(self, off, size);
            self.b.ins().brif(in_low, fast, &[], slow, &[]);
        } else {
            self.b.ins().brif(go, fast, &[], slow, &[]);
        }

        self.b.switch_to_block(fast);
        let l = self.widen_to_ptr(off);
        let host = self.b.ins().iadd_imm_s(l, ram.base as i64);
        let x = self.guest_load(size, host);
        self.b.ins().jump(join, &[x.into()]);

        self.b.switch_to_block(slow);
        let (failed, x) = self.read_slow(seg, off, size);
        let fault = self.fault_block();
        self.b.ins().brif(failed, fault, &[], join, &[x.into()]);

        self.b.switch_to_block(join);
        self.carry_memo(from);
        v
    }

    /// `size` bytes of guest memory at host address `host`, zero-extended to i32.
    fn guest_load(&mut self, size: Size, host: Value) -> Value {
        match size {
            Size::B => self.b.ins().uload8(types::I32, guest(), host, 0),
            Size::W => self.b.ins().uload16(types::I32, guest(), host, 0),
            Size::D => self.b.ins().load(types::I32, guest(), host, 0),
        }
    }

    /// A load's slow path: `read_mem` for `seg:off`; returns (non-zero if it faulted, the value).
    fn read_slow(&mut self, seg: SegReg, off: Value, size: Size) -> (Value, Value) {
        let (cpu, ctx) = (self.cpu, self.ctx);
        let s = self.c32(crate::helpers::seg_size(seg, size.bytes()));
        self.call_only(Helper::ReadMem, &[cpu, ctx, s, off]);
        // The two halves of the result, each loaded as it is (no shift and truncation).
        let t = MemFlagsData::trusted();
        let failed = self.b.ins().load(types::I32, t, ctx, layout::CTX_HELPER_RESULT_HI);
        (failed, self.b.ins().load(types::I32, t, ctx, layout::CTX_HELPER_RESULT_LO))
    }

    /// [`Emitter::load`] through the TLB.
    fn load_through_tlb(&mut self, seg: SegReg, off: Value, size: Size, off16: bool) -> Value {
        let (lin, ok, last) = self.seg_check_inline(seg, off, size, false, off16);
        let (slow, join) = (self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(slow);
        let v = self.b.append_block_param(join, types::I32);
        let from = self.b.current_block();
        let made = self
            .tlb_paths(seg, lin, ok, last, size, false, slow, join, |e, host| vec![e.guest_load(size, host).into()]);

        self.b.switch_to_block(slow);
        let (failed, x) = self.read_slow(seg, off, size);
        let fault = self.fault_block();
        let mut args: Vec<BlockArg> = vec![x.into()];
        args.extend(self.no_page(made));
        self.b.ins().brif(failed, fault, &[], join, &args);

        self.b.switch_to_block(join);
        self.carry_memo(from);
        self.keep_hint(made, false, join);
        v
    }

    /// The fast paths of an access of `size` bytes through `seg` at linear address `lin`, by the
    /// TLB (its write tag if `write`, else its read tag), branched to from the current block, whose
    /// segment check passed if `ok` (`None`: always); `last` is the linear address of the
    /// access's last byte, if at hand. Each fast path does the access with `access(self, host)`
    /// and jumps to `join` with what that returns; everything else goes to `slow`.
    ///
    /// With a page hint for `lin` ([`Emitter::hint_for`]) the only fast path is the hint's
    /// page. Otherwise, if [`Emitter::hints_wanted`], the access makes a
    /// hint: `join` gets two more parameters, the page's linear and host address, which the
    /// fast path passes and the slow path must pass as [`Emitter::no_page`] gives them; the
    /// hint's root and offset from it are returned then.
    #[allow(clippy::too_many_arguments)]
    fn tlb_paths(
        &mut self,
        seg: SegReg,
        lin: Value,
        ok: Option<Value>,
        last: Option<Value>,
        size: Size,
        write: bool,
        slow: Block,
        join: Block,
        access: impl Fn(&mut Self, Value) -> Vec<BlockArg>,
    ) -> Option<(Value, i64)> {
        let tag_at = if write { layout::TLB_WRITE } else { layout::TLB_READ };
        if let Some(h) = self.hint_for(lin, write) {
            // lin - page, as an unsigned pointer-sized offset: within the page for the whole
            // access, or not (NO_PAGE makes it huge).
            let l = self.widen_to_ptr(lin);
            let at = self.b.ins().isub(l, h.page);
            let inside = self.b.ins().icmp_imm_u(IntCC::UnsignedLessThanOrEqual, at, 0x1000 - size.bytes() as i64);
            let go = self.and_ok(ok, inside);
            // Anything else (another page, a segment check that failed, no hint because the
            // access that makes it took the slow path) goes to the slow path, which looks up the
            // TLB itself: a hint seldom misses (its access and this one are within a page of one
            // base), and the TLB's checks inline were a tenth of all the IR blocks had, compiled
            // every time for the rare miss.
            let hinted = self.b.create_block();
            self.b.ins().brif(go, hinted, &[], slow, &[]);
            self.b.switch_to_block(hinted);
            let host = self.b.ins().iadd(h.host, at);
            let args = access(self, host);
            self.b.ins().jump(join, &args);
            return None;
        }
        let fast = self.b.create_block();
        let (entry, hit) = self.tlb_hit_last(lin, size, tag_at, last);
        let go = self.and_ok(ok, hit);
        self.b.ins().brif(go, fast, &[], slow, &[]);
        self.b.switch_to_block(fast);
        let addend = self.tlb_load(self.ptr, entry, layout::TLB_ADDEND);
        let l = self.widen_to_ptr(lin);
        let host = self.b.ins().iadd(l, addend);
        let mut args = access(self, host);
        let root = self.hints_wanted(write, seg).then(|| self.root_of(lin));
        if root.is_some() {
            let page = self.b.ins().band_imm_u(l, !0xfffi64);
            let host_page = self.b.ins().iadd(page, addend);
            self.b.append_block_param(join, self.ptr);
            self.b.append_block_param(join, self.ptr);
            args.extend([BlockArg::from(page), host_page.into()]);
        }
        self.b.ins().jump(join, &args);
        root
    }

    /// Whether page hints are made and used at all: when the translator says so, on 64-bit
    /// hosts ([`NO_PAGE`] needs the room).
    fn hints_on(&self) -> bool {
        self.page_hints && self.ptr == types::I64
    }

    /// Whether an access (a `write`, or a read) through `seg` makes a page hint: when hints are
    /// on ([`Emitter::hints_on`]), through a flat segment (elsewhere the linear address is the
    /// segment base plus the offset, which no other access shares), when a later access of the
    /// block may use it (`hints_ahead`).
    fn hints_wanted(&self, write: bool, seg: SegReg) -> bool {
        self.hints_on()
            && self.mode.flat()
            && matches!(seg, SegReg::Ds | SegReg::Es | SegReg::Ss)
            && self.hints_ahead[write as usize]
    }

    /// The arguments a slow path passes for a hint's page and host page (none if the access
    /// makes no hint: `made` is `tlb_paths`' result).
    fn no_page(&mut self, made: Option<(Value, i64)>) -> Vec<BlockArg> {
        match made {
            Some(_) => {
                let page = self.b.ins().iconst(self.ptr, NO_PAGE);
                let host = self.b.ins().iconst(self.ptr, 0);
                vec![page.into(), host.into()]
            }
            None => Vec::new(),
        }
    }

    /// After `join` of an access that made a hint with root and offset `made` (its last two
    /// parameters are the page and host page): keeps it, as the memo's if the memo is of this
    /// block.
    fn keep_hint(&mut self, made: Option<(Value, i64)>, write: bool, join: Block) {
        let Some((root, offset)) = made else { return };
        self.memo_here();
        let params = self.b.func.dfg.block_params(join);
        let (page, host) = (params[params.len() - 2], params[params.len() - 1]);
        // It replaces the hints it covers (the same root within a page; a write's covers
        // reads' too), so that fewer values stay live.
        self.memo.pages.retain(|h| !(h.root == root && h.offset.abs_diff(offset) < 0x1000 && (write || !h.write)));
        self.memo.pages.push(PageHint { root, offset, write, page, host, helpers: self.interp_calls });
    }

    /// A page hint usable here for an access at `lin` (a `write` one for a write): one of the
    /// memo's with `lin`'s root, at an offset less than a page from `lin`'s, made since the
    /// last call to the interpreter.
    fn hint_for(&mut self, lin: Value, write: bool) -> Option<PageHint> {
        if !self.hints_on() || self.b.current_block() != self.memo_block {
            return None;
        }
        let (root, offset) = self.root_of(lin);
        let calls = self.interp_calls;
        // A write's hint serves reads too; the newest first.
        self.memo
            .pages
            .iter()
            .rev()
            .copied()
            .find(|h| h.root == root && h.offset.abs_diff(offset) < 0x1000 && (h.write || !write) && h.helpers == calls)
    }

    /// What `v` is a constant displacement from, and the displacement: `(x, k)` for `x + k`
    /// (`iadd_imm` builds an `iadd` of a constant), `(x, j + k)` for `(x + j) + k`; else
    /// `(v, 0)`.
    fn root_of(&self, mut v: Value) -> (Value, i64) {
        let mut offset = 0i64;
        for _ in 0..8 {
            let def = self.b.func.dfg.value_def(v).inst().map(|i| self.b.func.dfg.insts[i]);
            match def {
                Some(InstructionData::Binary { opcode: Opcode::Iadd, args: [x, c] }) => match self.const_of(c) {
                    Some(k) => {
                        offset += k as i32 as i64;
                        v = x;
                    }
                    None => break,
                },
                _ => break,
            }
        }
        (v, offset)
    }

    /// Stores the low `size` bytes of `v` at `seg:off`. Faults leave the block; a store onto a
    /// page holding translated code is remembered so the block stops after this instruction.
    pub(super) fn store(&mut self, seg: SegReg, off: Value, size: Size, v: Value, off16: bool) {
        self.store_then(seg, off, size, v, off16, OnCode::Flag);
    }

    /// [`Emitter::store`] as the instruction's last effect (PUSH from memory, and ALU operations
    /// and INC/DEC/NEG/NOT with a memory destination, which set their registers and flags first): a
    /// store onto a page holding translated code leaves the block from its slow path at once,
    /// with the state after the instruction, so the fast path carries no flag to test after it.
    pub(super) fn store_last(&mut self, seg: SegReg, off: Value, size: Size, v: Value, off16: bool) {
        self.store_then(seg, off, size, v, off16, OnCode::Leave);
    }

    /// [`Emitter::store`] as the instruction's only memory access (MOV to memory, PUSH of a
    /// register or an immediate, CALL's push): a store onto a page holding translated code
    /// writes nothing and leaves through the instruction's fault exit, and the dispatcher runs
    /// the instruction in the interpreter (`helpers::REDO_ON_CODE`).
    pub(super) fn store_only(&mut self, seg: SegReg, off: Value, size: Size, v: Value, off16: bool) {
        self.store_then(seg, off, size, v, off16, OnCode::Redo);
    }

    fn store_then(&mut self, seg: SegReg, off: Value, size: Size, v: Value, off16: bool, on_code: OnCode) {
        self.count_access();
        let (lin, ok, last) = self.seg_check_inline(seg, off, size, true, off16);
        let (slow, join) = (self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(slow);
        let smc = (on_code == OnCode::Flag).then(|| self.b.append_block_param(join, types::I8));
        let from = self.b.current_block();
        let made = self.tlb_paths(seg, lin, ok, last, size, true, slow, join, |e, host| {
            match size {
                Size::B => e.b.ins().istore8(guest(), v, host, 0),
                Size::W => e.b.ins().istore16(guest(), v, host, 0),
                Size::D => e.b.ins().store(guest(), v, host, 0),
            };
            match smc {
                Some(_) => vec![e.b.ins().iconst(types::I8, 0).into()],
                None => Vec::new(),
            }
        });

        self.b.switch_to_block(slow);
        let (cpu, ctx) = (self.cpu, self.ctx);
        let redo = if on_code == OnCode::Redo { crate::helpers::REDO_ON_CODE } else { 0 };
        let s = self.c32(crate::helpers::seg_size(seg, size.bytes()) | redo);
        let st = self.call(Helper::WriteMem, &[cpu, ctx, s, off, v]).unwrap();
        let fault = self.fault_block();
        match on_code {
            OnCode::Redo => {
                // OK goes straight on; FAULT, or a store onto translated code (not written), to
                // the fault exit.
                let args = self.no_page(made);
                self.b.ins().brif(st, fault, &[], join, &args);
            }
            OnCode::Flag => {
                let failed = self.b.ins().icmp_imm_u(IntCC::Equal, st, crate::helpers::status::FAULT as i64);
                let hit_code = self.b.ins().icmp_imm_u(IntCC::Equal, st, crate::helpers::status::SMC as i64);
                let mut args: Vec<BlockArg> = vec![hit_code.into()];
                args.extend(self.no_page(made));
                self.b.ins().brif(failed, fault, &[], join, &args);
            }
            OnCode::Leave => {
                // OK goes straight on; FAULT and SMC (a write to a page with translated code,
                // which leaves the block after this instruction) are told apart off that path.
                let other = self.b.create_block();
                self.b.set_cold_block(other);
                let args = self.no_page(made);
                self.b.ins().brif(st, other, &[], join, &args);
                self.b.switch_to_block(other);
                let failed = self.b.ins().icmp_imm_u(IntCC::Equal, st, crate::helpers::status::FAULT as i64);
                // What the exit computes is of no use after the join: the memo stays that of
                // `from`, to be carried there.
                let memo = (self.memo_block, self.memo.clone());
                if self.last_insn {
                    // The block ends here anyway, and the dispatcher sees the write.
                    self.b.ins().brif(failed, fault, &[], join, &args);
                } else {
                    let hit_code = self.b.create_block();
                    self.b.set_cold_block(hit_code);
                    self.b.ins().brif(failed, fault, &[], hit_code, &[]);
                    self.b.switch_to_block(hit_code);
                    self.leave_now();
                }
                (self.memo_block, self.memo) = memo;
            }
        }

        self.b.switch_to_block(join);
        self.carry_memo(from);
        self.keep_hint(made, true, join);
        if let Some(smc) = smc {
            self.smc.push(smc);
        }
    }
}
