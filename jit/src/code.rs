//! Executable memory for translated blocks: one anonymous mapping used as a bump allocator.
//!
//! **Invariant:** the mapping is writable only while [`CodeMemory::install`] copies a block's
//! bytes in, and executable (never both) the rest of the time; only the pages a block lands on
//! are switched (protecting the whole region per block cost milliseconds of kernel page-table
//! work per block once the region is large); the instruction cache is flushed
//! for every range written before it runs. Code is never freed one block at a time: when the
//! mapping is full, the block cache drops every block and calls [`CodeMemory::reset`].

use memmap2::{Mmap, MmapMut};

/// Alignment of each block's code (a cache line).
const ALIGN: usize = 64;

/// A fixed-size region of host code.
pub struct CodeMemory {
    /// Executable except for the pages [`CodeMemory::install`] is writing.
    map: Mmap,
    size: usize,
    used: usize,
}

/// Why code could not be installed.
#[derive(Debug)]
pub enum CodeError {
    /// The region is full; flush and retry.
    Full,
    /// The host refused to map or protect memory.
    Host(std::io::Error),
}

impl CodeMemory {
    /// Maps `size` bytes (rounded up to a page) of code memory.
    pub fn new(size: usize) -> std::io::Result<Self> {
        let size = size.max(4096).next_multiple_of(4096);
        let map = MmapMut::map_anon(size)?.make_exec()?;
        Ok(CodeMemory { map, size, used: 0 })
    }

    /// Bytes in use.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.size
    }

    /// Forgets every block: the whole region is free again. The caller must have dropped every
    /// pointer into it.
    pub fn reset(&mut self) {
        self.used = 0;
    }

    /// Copies `code` in and returns the address of its first byte, executable.
    pub fn install(&mut self, code: &[u8]) -> Result<*const u8, CodeError> {
        let start = self.used.next_multiple_of(ALIGN);
        if start + code.len() > self.size {
            return Err(CodeError::Full);
        }
        let base = self.map.as_ptr() as *mut u8;
        // SAFETY: sysconf has no preconditions.
        let page = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize).max(4096);
        let lo = start / page * page;
        let hi = (start + code.len()).next_multiple_of(page).min(self.size);
        let protect = |prot: libc::c_int| {
            // SAFETY: [lo, hi) lies inside our own mapping (its size is a multiple of 4096, and
            // of the page size: mmap rounds it up), which nothing else references as Rust data.
            if unsafe { libc::mprotect(base.add(lo).cast(), hi - lo, prot) } != 0 {
                return Err(CodeError::Host(std::io::Error::last_os_error()));
            }
            Ok(())
        };
        protect(libc::PROT_READ | libc::PROT_WRITE)?;
        // SAFETY: the range is inside the mapping and writable now; no block in it runs.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), base.add(start), code.len()) };
        protect(libc::PROT_READ | libc::PROT_EXEC)?;
        let ptr = base.wrapping_add(start) as *const u8;
        // SAFETY: the range was just written and lies inside the mapping.
        unsafe {
            wasmtime_jit_icache_coherence::clear_cache(ptr.cast(), code.len()).map_err(CodeError::Host)?;
        }
        wasmtime_jit_icache_coherence::pipeline_flush_mt().map_err(CodeError::Host)?;
        self.used = start + code.len();
        Ok(ptr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_up_and_resets() {
        let mut m = CodeMemory::new(4096).unwrap();
        let a = m.install(&[0xc3; 100]).unwrap();
        let b = m.install(&[0xc3; 100]).unwrap();
        assert_eq!(b as usize - a as usize, 128);
        assert!(matches!(m.install(&[0; 4000]), Err(CodeError::Full)));
        m.reset();
        assert_eq!(m.install(&[0; 4000]).unwrap(), a);
    }
}
