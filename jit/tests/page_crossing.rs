//! A block whose last instruction goes on into the next page (`translate::crosses_page`): the
//! block runs the instruction's translation while the next page holds the bytes it was
//! translated with, and otherwise has the interpreter fetch and decode it when it runs
//! (`helpers::fetch_exec`), so the block sees the next page's bytes as they are then, written or
//! mapped elsewhere since it was translated, or not present (a #PF at the right address), and
//! it still chains.

mod common;

use common::*;
use emu_cpu_x86::decode::Mnemonic;
use emu_cpu_x86::{Cpu, Stop};
use emu_jit::Jit;
use iced_x86::code_asm::*;

/// Where the crossing instruction starts: `ADD EAX, imm32` (5 bytes), its last three in the next
/// page.
const AT: u32 = 0x4fffe;
const NEXT_PAGE: u32 = 0x50000;
/// The page table of [`paged32`].
const PT: u32 = 0x11000;

/// A loop round the crossing `ADD EAX, imm` at [`AT`] (`imm` its immediate), with `before` run
/// at the top of each iteration (ECX counts down from `count`) and DEC ECX / JNZ / HLT after it,
/// in the next page.
fn crossing_loop(
    count: u32,
    imm: u32,
    before: impl Fn(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Vec<(u32, Vec<u8>)> {
    const START: u32 = 0x4ff00;
    const TOP: u32 = START + 5;
    let head = asm_at(32, START, |a| {
        a.mov(ecx, count)?;
        before(a)
    });
    assert!(START as usize + head.len() <= AT as usize, "the head fits before the crossing instruction");
    let pad = vec![0x90; AT as usize - START as usize - head.len()];
    let mut add = vec![0x05];
    add.extend(imm.to_le_bytes());
    let tail = asm_at(32, AT + 5, |a| {
        a.dec(ecx)?;
        a.jnz(TOP as u64)?;
        a.hlt()
    });
    vec![(START, [head, pad, add].concat()), (AT + 5, tail)]
}

/// [`paged32`] with `parts` loaded, page 0x50 present (mapped to itself), EIP at the first part.
fn machine(parts: &[(u32, Vec<u8>)]) -> Cpu {
    let mut c = paged32(&[]);
    load(&mut c, PT + 4 * 0x50, &(NEXT_PAGE | 3).to_le_bytes());
    for (at, bytes) in parts {
        load(&mut c, *at, bytes);
    }
    c.s.eip = parts[0].0;
    c
}

/// How often blocks had the interpreter run an instruction `m` (here: fetch the crossing one
/// again).
fn fetched_again(j: &Jit, m: Mnemonic) -> u64 {
    j.interp_in_blocks_top(usize::MAX).into_iter().find(|&(x, _)| x == m).map_or(0, |(_, n)| n)
}

fn jit() -> Jit {
    common::jit()
}

/// Runs both tiers on machines `make` builds; they must agree. Returns the JIT and its CPU.
fn both(make: impl Fn() -> Cpu, what: &str) -> (Jit, Cpu, Stop) {
    let (mut a, mut b) = (make(), make());
    let sa = a.run(1_000_000);
    let mut j = jit();
    let sb = j.run(&mut b, 1_000_000);
    assert_eq!(sa, sb, "{what}: stop reason");
    assert_same(&a, &b, what);
    (j, b, sb)
}

/// The loop's head: when ECX is 3, the page-table entry of the next page becomes `pte`, and
/// INVLPG flushes it.
fn remap_at_3(a: &mut CodeAssembler, pte: u32) -> Result<(), IcedError> {
    let mut skip = a.create_label();
    a.cmp(ecx, 3)?;
    a.jne(skip)?;
    a.mov(dword_ptr(PT + 4 * 0x50), pte)?;
    a.invlpg(byte_ptr(NEXT_PAGE))?;
    a.set_label(&mut skip)?;
    a.nop()
}

#[test]
fn a_loop_round_an_instruction_that_crosses_a_page_is_translated_and_chains() {
    let parts = crossing_loop(1000, 0x0101_0101, |a| a.inc(edx));
    let (j, c, stop) = both(|| machine(&parts), "crossing loop");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(c.s.regs[0], 1000u32.wrapping_mul(0x0101_0101));
    // (`scan` takes it only once the TLB maps the next page. The baseline tier fetches it
    // again every time.)
    // (The dispatcher still sees the loop at every sync point, every 256 instructions. The
    // baseline tier's blocks do not chain in their code.)
    if !baseline_on() {
        assert_eq!(fetched_again(&j, Mnemonic::Add), 0, "the crossing ADD ran translated: {:?}", j.stats);
        assert!(j.stats.lookups < 1500, "not looked up each time round: {:?}", j.stats);
        assert!(j.stats.chained >= 3 * 1000, "the blocks chained round the loop: {:?}", j.stats);
    }
}

/// The crossing instruction right after others in its block (no padding): the block reaches it
/// with EIP still at the block's start in the state (a baseline block stores EIP only at its
/// exits), so what fetches the crossing instruction again must be told where it is.
#[test]
fn the_crossing_instruction_after_others_in_its_block() {
    let parts = crossing_loop(10, 0x0101_0101, |a| {
        for _ in 0..83 {
            a.add(edx, 1)?; // 3 bytes each: up to the crossing instruction
        }
        Ok(())
    });
    assert_eq!(parts[0].1.len(), (AT + 5 - 0x4ff00) as usize, "no padding");
    let (_, c, stop) = both(|| machine(&parts), "the crossing instruction after others");
    assert_eq!(stop, Stop::Halted);
    assert_eq!((c.s.regs[0], c.s.regs[2]), (10u32.wrapping_mul(0x0101_0101), 830));
}

/// Each iteration stores ECX into the immediate's byte in the next page: the crossing ADD adds
/// the new immediate every time (the block is not invalidated: it never owned those bytes).
#[test]
fn bytes_written_in_the_next_page_are_seen_at_once() {
    let parts = crossing_loop(10, 0x0101_0101, |a| a.mov(byte_ptr(NEXT_PAGE + 1), cl));
    let (_, c, stop) = both(|| machine(&parts), "the next page written");
    assert_eq!(stop, Stop::Halted);
    let expected: u32 = (1..=10u32).map(|n| 0x0101_0101 & !0x00ff_0000 | n << 16).sum();
    assert_eq!(c.s.regs[0], expected);
}

/// Only the opcode of `MOV dword [EBX+disp32], imm32` (10 bytes) is in the first page: its nine
/// bytes in the next page are compared in two words. The loop writes ECX into the last of them
/// (the immediate's top byte) on odd counts only, so it changes after the block was translated
/// with one value of it, and only the second word's compare can tell.
#[test]
fn a_long_tail_is_checked_to_its_last_byte() {
    const AT: u32 = NEXT_PAGE - 1;
    const START: u32 = 0x4ff00;
    const TOP: u32 = START + 5;
    const DATA: u32 = 0x30000;
    let head = asm_at(32, START, |a| {
        let mut skip = a.create_label();
        a.mov(ecx, 20u32)?;
        a.test(cl, 1)?;
        a.jz(skip)?;
        a.mov(byte_ptr(NEXT_PAGE + 8), cl)?;
        a.set_label(&mut skip)?;
        a.mov(ebx, DATA)
    });
    let pad = vec![0x90; AT as usize - START as usize - head.len()];
    // C7 83 disp32 imm32: MOV dword [EBX+0x10], 0x11223344
    let mov = [0xc7, 0x83, 0x10, 0, 0, 0, 0x44, 0x33, 0x22, 0x11];
    let tail = asm_at(32, AT + 10, |a| {
        a.add(eax, dword_ptr(ebx + 0x10))?;
        a.dec(ecx)?;
        a.jnz(TOP as u64)?;
        a.hlt()
    });
    let parts = vec![(START, [head, pad, mov.to_vec()].concat()), (AT + 10, tail)];
    let (j, c, stop) = both(|| machine(&parts), "a long tail");
    assert_eq!(stop, Stop::Halted);
    // The top byte is 0x11 until the first odd count (19) writes it; then the last one written.
    let mut top = 0x11u32;
    let expected: u32 = (1..=20u32)
        .rev()
        .map(|n| {
            if n % 2 == 1 {
                top = n;
            }
            0x0022_3344 | top << 24
        })
        .fold(0, u32::wrapping_add);
    assert_eq!(c.s.regs[0], expected);
    assert!(fetched_again(&j, Mnemonic::Mov) >= 10, "the odd counts fetched the MOV again: {:?}", j.stats);
}

/// At ECX = 3 the loop maps the next page to physical page 0x60, which holds the same bytes:
/// the translation goes on running (the bytes, not the physical page, are what it depends on).
#[test]
fn the_next_page_mapped_elsewhere_with_the_same_bytes_runs_translated() {
    let parts = crossing_loop(1000, 0x0000_1000, |a| remap_at_3(a, 0x60000 | 3));
    let make = || {
        let mut c = machine(&parts);
        let page = c.sys.ram().as_slice()[NEXT_PAGE as usize..NEXT_PAGE as usize + 0x1000].to_vec();
        load(&mut c, 0x60000, &page);
        c
    };
    let (j, c, stop) = both(make, "the next page remapped, same bytes");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(c.s.regs[0], 1000 * 0x1000);
    // Fetched again only once, when the INVLPG had left the page out of the TLB.
    assert_eq!(fetched_again(&j, Mnemonic::Add), 1, "ran translated: {:?}", j.stats);
}

/// At ECX = 3 the loop maps the next page to physical page 0x60, which holds another
/// immediate: the crossing ADD adds that from then on.
#[test]
fn the_next_page_mapped_elsewhere_is_fetched_from_there() {
    let parts = crossing_loop(10, 0x0000_1000, |a| remap_at_3(a, 0x60000 | 3));
    let make = || {
        let mut c = machine(&parts);
        // Page 0x60: the same bytes but the immediate's last three (10 00 00 -> 00 02 00: the
        // immediate 0x1000 becomes 0x20000).
        let mut page = c.sys.ram().as_slice()[NEXT_PAGE as usize..NEXT_PAGE as usize + 0x1000].to_vec();
        page[..3].copy_from_slice(&[0x00, 0x02, 0x00]);
        load(&mut c, 0x60000, &page);
        c
    };
    let (_, c, stop) = both(make, "the next page remapped");
    assert_eq!(stop, Stop::Halted);
    assert_eq!(c.s.regs[0], 7 * 0x1000 + 3 * 0x0002_0000);
}

/// At ECX = 3 the loop marks the next page not present: the crossing ADD page-faults at its
/// first byte there, with the state as before it (no IDT: the fault shuts the CPU down).
#[test]
fn the_next_page_not_present_faults_at_the_crossing_instruction() {
    let parts = crossing_loop(10, 0x0101_0101, |a| remap_at_3(a, 0));
    let (_, c, stop) = both(|| machine(&parts), "the next page not present");
    assert_eq!(stop, Stop::Shutdown);
    assert_eq!((c.s.eip, c.s.cr2, c.s.regs[1]), (AT, NEXT_PAGE, 3));
    assert_eq!(c.s.regs[0], 7 * 0x0101_0101);
}

/// The tests above again, with every block built by the baseline tier.
#[test]
fn page_crossing_with_the_baseline_tier() {
    // (Not `the_next_page_mapped_elsewhere_with_the_same_bytes_runs_translated`: the tier
    // fetches a crossing instruction again every time, where Cranelift's blocks compare its
    // bytes in the next page and run it translated, which that test counts.)
    with_baseline(|| {
        a_loop_round_an_instruction_that_crosses_a_page_is_translated_and_chains();
        the_crossing_instruction_after_others_in_its_block();
        bytes_written_in_the_next_page_are_seen_at_once();
        a_long_tail_is_checked_to_its_last_byte();
        the_next_page_mapped_elsewhere_is_fetched_from_there();
        the_next_page_not_present_faults_at_the_crossing_instruction();
    });
}
