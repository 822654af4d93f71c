//! `--perf-map`: names translated blocks for Linux `perf`.
//!
//! `perf record` samples host addresses; generated code has no symbols, so `perf report` shows it
//! as `[unknown]` or raw addresses. A JIT can describe its code in `/tmp/perf-<pid>.map`, one
//! line per function (`START SIZE name`, START and SIZE in hex), which `perf report` reads when
//! it resolves the samples of that process. With [`enable`] called, every block installed in
//! code memory gets a line here:
//!
//! ```text
//! 7f3a1c0042c0 1b4 emu-block 0060:c10a3f20 phys 010a3f20 12 insns
//! ```
//!
//! host address and size of the block's code, then `emu-block` and the guest CS selector:EIP
//! it starts at, its physical address and its instruction count. So `perf report --sort sym`
//! lists the hottest guest blocks by name, and `--dump-jit` (the same `phys` and EIP) shows
//! their guest code and IR.
//!
//! Code memory is reused after a full flush (`--stats`: "full flushes"): the map then has more
//! than one line for the same addresses, and perf's name for a sample there may be a block that
//! was dropped. The map is process-wide (perf wants one file per process), hence the global.
//!
//! **Invariant:** the map never changes what the JIT does: write errors are reported once and
//! then the map is off.

use crate::cache::Block;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Whether [`record`] writes (checked before taking the lock, so a run without the map pays one
/// relaxed load per translated block).
static ON: AtomicBool = AtomicBool::new(false);
static MAP: Mutex<Option<File>> = Mutex::new(None);

/// The map file perf reads for this process.
pub fn path() -> PathBuf {
    // perf looks in /tmp whatever TMPDIR says.
    PathBuf::from(format!("/tmp/perf-{}.map", std::process::id()))
}

/// Starts the map: creates (truncates) [`path`]; from now on [`record`] adds a line per block.
pub fn enable() -> std::io::Result<PathBuf> {
    let p = path();
    let f = File::create(&p)?;
    *MAP.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    ON.store(true, Ordering::Relaxed);
    Ok(p)
}

/// The map line of a block: code at `host` (`size` bytes), guest `cs:eip`, physical address
/// `phys`, `insns` instructions.
pub fn line(host: usize, size: usize, cs: u16, eip: u32, phys: u32, insns: usize) -> String {
    format!("{host:x} {size:x} emu-block {cs:04x}:{eip:08x} phys {phys:08x} {insns} insns\n")
}

/// Adds block `b` (just installed; `cs` is the CS selector it was translated for) to the map,
/// if it is on.
pub fn record(b: &Block, cs: u16) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    let text = line(b.entry as usize, b.host_size, cs, b.key.eip, b.key.phys, b.insns.len());
    let mut map = MAP.lock().unwrap_or_else(|e| e.into_inner());
    // One write per line, unbuffered: the file is complete whenever the process ends (perf reads
    // it afterwards), and a block costs far more to compile than this system call.
    if let Some(Err(e)) = map.as_mut().map(|f| f.write_all(text.as_bytes())) {
        eprintln!("emu: --perf-map: writing {} failed, the map stops here: {e}", path().display());
        *map = None;
        ON.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// perf parses `START SIZE name`: two hex numbers without `0x`, the rest of the line the name.
    #[test]
    fn line_format() {
        assert_eq!(
            line(0x7f3a_1c00_42c0, 0x1b4, 0x60, 0xc10a_3f20, 0x010a_3f20, 12),
            "7f3a1c0042c0 1b4 emu-block 0060:c10a3f20 phys 010a3f20 12 insns\n"
        );
    }
}
