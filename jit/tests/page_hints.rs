//! Page hints (`translate/mem.rs`): an access whose address is a constant displacement from an
//! earlier access's (the same register value) first tries that access's page, without the TLB.
//! These guests put the second access on another page (mapped to a physical page elsewhere, so
//! host memory is not contiguous there), across the page end, or on a page the first access's
//! kind of tag does not cover; both tiers must agree everywhere. (That such blocks use hints
//! at all is pinned by the golden IR of `page_hint_ebp_32`.)

mod common;

use common::*;
use emu_cpu_x86::state::cr0;
use emu_cpu_x86::{Cpu, Stop};
use iced_x86::code_asm::*;

/// The page table of [`paged32`].
const PT: u32 = 0x11000;
/// The data: 8 bytes before the end of linear page 0x20, whose next page (0x21) is mapped to
/// physical page 0x60.
const DATA: u32 = 0x20ff8;

/// [`paged32`] running `code`, with linear page 0x21 mapped to physical page 0x60 and both
/// pages filled with different byte patterns.
fn machine(code: &[u8]) -> Cpu {
    let mut c = paged32(code);
    load(&mut c, PT + 4 * 0x21, &(0x60000u32 | 3).to_le_bytes());
    let pattern = |seed: u8| (0..0x1000u32).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect::<Vec<u8>>();
    load(&mut c, 0x20000, &pattern(1));
    load(&mut c, 0x21000, &pattern(2)); // physical page 0x21: what a wrong host address reads
    load(&mut c, 0x60000, &pattern(3));
    c
}

/// Reads and writes at displacements from ESI on its page, on the next, and across the end,
/// round a loop, so that the block runs with its hints made by TLB hits. An access off the
/// hinted page takes the slow path (which looks up the TLB itself).
#[test]
fn accesses_off_the_hinted_page_take_the_slow_path() {
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(esi, DATA)?;
        a.mov(ecx, 50u32)?;
        a.set_label(&mut top)?;
        a.add(eax, dword_ptr(esi))?; // makes the hint (page 0x20)
        a.add(eax, dword_ptr(esi + 4))?; // on it
        a.add(eax, dword_ptr(esi + 8))?; // next page
        a.add(eax, dword_ptr(esi + 6))?; // across the end
        a.add(ax, word_ptr(esi + 6))?; // on it, to its last byte
        a.add(al, byte_ptr(esi + 7))?; // on it, its last byte
        a.mov(dword_ptr(esi), ecx)?; // a write: its own hint
        a.add(dword_ptr(esi + 0x10), eax)?; // next page, read and written
        a.mov(dword_ptr(esi + 5), eax)?; // across the end
        a.add(ebx, dword_ptr(esi + 4))?; // the write's hint, for a read
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let check = || {
        let (c, stop, j) = same_in_both(|| machine(&code), 10_000, "accesses off the hinted page");
        assert_eq!(stop, Stop::Halted);
        assert!(j.stats.jit_insns > 40 * 10, "the loop ran translated: {:?}", j.stats);
        // Each translated round: two reads and a read-modify-write off the hinted page, two
        // accesses across its end.
        assert!(j.stats.inline_slow >= 40 * 5, "misses reach the slow path: {:?}", j.stats);
        c
    };
    let c = check();
    assert_ne!(c.s.regs[0], 0);
    with_optimiser(|| {
        check();
    });
}

/// A read's hint is not one for a write: with CR0.WP set, a write to a read-only page after a
/// read of it (which hit the TLB) faults; and on a writable page whose entry is not dirty yet,
/// the write sets the dirty bit.
#[test]
fn a_read_does_not_make_a_write_hint() {
    for pte in [0x20000u32 | 1, 0x20000 | 3] {
        // The second block is on another page, so not merged into the first: its ESI is a
        // register value, and its read hits the TLB entry the first block's read filled.
        const NEXT: u32 = 0x3000;
        let code = asm(32, |a| {
            a.mov(esi, DATA)?;
            a.mov(eax, dword_ptr(esi))?; // fills the TLB's read tag
            a.jmp(NEXT as u64)
        });
        let next = asm_at(32, NEXT, |a| {
            a.mov(ebx, dword_ptr(esi + 4))?; // a TLB hit: makes a read hint
            a.add(dword_ptr(esi + 2), ebx)?; // its read may use it, its write must not
            a.hlt()
        });
        let make = || {
            let mut c = machine(&code);
            load(&mut c, NEXT, &next);
            load(&mut c, PT + 4 * 0x20, &pte.to_le_bytes());
            c.s.cr0 |= cr0::WP;
            c
        };
        let (c, stop, _) = same_in_both(make, 1000, &format!("write after a read, PTE {pte:#x}"));
        if pte & 2 == 0 {
            // #PF with no IDT: shut down, at the write, with CR2 its address.
            assert_eq!((stop, c.s.cr2), (Stop::Shutdown, DATA + 2));
        } else {
            assert_eq!(stop, Stop::Halted);
            let entry = u32::from_le_bytes(c.sys.ram().as_slice()[(PT + 4 * 0x20) as usize..][..4].try_into().unwrap());
            assert_ne!(entry & 0x40, 0, "dirty: {entry:#x}");
        }
    }
}
