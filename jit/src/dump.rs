//! `--dump-jit FILE`: for each block translated, the guest code, the Cranelift IR it became, the
//! size of the host code, and Cranelift's listing of that host code: its machine instructions
//! after register allocation, under the labels of its blocks, as Cranelift prints them before
//! it emits them (so a jump that emission then drops, to the block right after it, is still
//! listed).

use crate::cache::Block;
use emu_cpu_x86::disasm;
use std::io::Write;

/// The guest disassembly of a block, one instruction a line.
pub fn guest_text(insns: &[emu_cpu_x86::Insn], eips: &[u32]) -> String {
    let mut s = String::new();
    for (i, eip) in insns.iter().zip(eips) {
        s += &format!("  {eip:08x}  {}\n", disasm::format(i, *eip));
    }
    s
}

/// Writes one block's entry: the guest code, the IR, and, when Cranelift gave one, the listing
/// of the host code ([`crate::translate::Translator::take_listing`]). Write errors are ignored:
/// the dump is a teaching aid, not output the run depends on.
pub fn write_block(out: &mut dyn Write, b: &Block, ir: &str, listing: Option<&str>) {
    let k = &b.key;
    let _ = writeln!(
        out,
        "== block phys {:08x}  cs.base {:08x} eip {:08x}  mode [{}]  {} instructions, {} guest bytes, {} host bytes",
        k.phys,
        k.cs_base,
        k.eip,
        k.mode,
        b.insns.len(),
        b.bytes,
        b.host_size
    );
    let _ = write!(out, "-- guest\n{}", guest_text(&b.insns, &b.eips));
    let _ = write!(out, "-- ir\n{ir}\n");
    if let Some(listing) = listing {
        let _ = write!(out, "-- host\n{listing}\n");
    }
}
