//! `--dump-jit FILE`: for each block translated, the guest code, the Cranelift IR it became, and
//! the size of the host code.

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

/// Writes one block's entry. Write errors are ignored: the dump is a teaching aid, not output
/// the run depends on.
pub fn write_block(out: &mut dyn Write, b: &Block, ir: &str) {
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
}
