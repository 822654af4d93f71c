//! Executable memory for translated blocks: one region used as a bump allocator.
//!
//! **Invariant (W^X):** no page is ever writable and executable at once through the same
//! mapping. Two ways to keep it:
//! - *Two views* (Linux and Android, the usual case): the region is shared anonymous memory
//!   mapped twice, once read-write and once read-execute (`mremap` with an old size of 0 maps
//!   the same pages again), so bytes written through the first view are the code the second one
//!   runs. [`CodeMemory::install`] then needs no system call at all: switching page protections
//!   per block made the kernel send a TLB-shootdown interrupt to the other CPU every time, twice
//!   per block, once the compile thread ran there. (A `memfd_create` file would do as well, but
//!   `perf` takes code in a file for a file's and ignores `--perf-map`'s names for it, while it
//!   reads shared anonymous memory, `/dev/zero` to it, as anonymous.)
//! - *One view* (elsewhere, or when the host refuses the second view or its execute
//!   permission): an anonymous mapping, executable except while `install` copies a block in,
//!   and then only the pages the block lands on are made writable (protecting the whole region
//!   per block cost milliseconds of kernel page-table work per block once the region was large).
//!
//! Either way the instruction cache is flushed for every range written, at the address it runs
//! from, before it runs. Code is never freed one block at a time: when the region is full, the
//! block cache drops every block and calls [`CodeMemory::reset`].

use memmap2::{Mmap, MmapMut};

/// Alignment of each block's code (a cache line).
const ALIGN: usize = 64;

/// How the region is mapped (see the module comment).
enum Views {
    /// The same pages twice: `write` is read-write, `exec` read-execute.
    Two { write: Region, exec: Region },
    /// One mapping, executable except for the pages `install` is writing.
    One { map: Mmap },
}

/// A mapping of ours, unmapped on drop.
struct Region {
    ptr: *mut u8,
    len: usize,
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are a mapping this `Region` owns, and nothing points into it
        // any more (the `CodeMemory` owning it is being dropped).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

// SAFETY: a `Region` is plain memory owned by one `CodeMemory`; `Jit` (and so its code memory)
// moves between threads, never shared between them.
unsafe impl Send for Region {}

/// A fixed-size region of host code.
pub struct CodeMemory {
    views: Views,
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
    /// Maps `size` bytes (rounded up to a page) of code memory: two views of the same pages if
    /// the host allows it, else one mapping whose protections `install` switches.
    pub fn new(size: usize) -> std::io::Result<Self> {
        Self::mapped(size, true)
    }

    /// Like [`CodeMemory::new`], always with one view (to test that path).
    #[cfg(test)]
    fn new_one_view(size: usize) -> std::io::Result<Self> {
        Self::mapped(size, false)
    }

    /// [`CodeMemory::new`], trying two views only if `try_two`.
    fn mapped(size: usize, try_two: bool) -> std::io::Result<Self> {
        let size = size.max(4096).next_multiple_of(4096);
        let views = match try_two.then(|| two_views(size)) {
            Some(Ok(views)) => views,
            _ => one_view(size)?,
        };
        Ok(CodeMemory { views, size, used: 0 })
    }

    /// Whether the region has a writable and an executable view (no system call per block).
    pub fn two_views(&self) -> bool {
        matches!(self.views, Views::Two { .. })
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
        let ptr = match &mut self.views {
            Views::Two { write, exec } => {
                // SAFETY: `start + code.len()` is within both views, and the write view is
                // ours alone; nothing runs the range while it is free.
                unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), write.ptr.add(start), code.len()) };
                exec.ptr.wrapping_add(start) as *const u8
            }
            Views::One { map } => {
                let base = map.as_ptr() as *mut u8;
                // SAFETY: sysconf has no preconditions.
                let page = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize).max(4096);
                let lo = start / page * page;
                let hi = (start + code.len()).next_multiple_of(page).min(self.size);
                let protect = |prot: libc::c_int| {
                    // SAFETY: [lo, hi) lies inside our own mapping (its size is a multiple of
                    // 4096, and of the page size: mmap rounds it up), which nothing else
                    // references as Rust data.
                    if unsafe { libc::mprotect(base.add(lo).cast(), hi - lo, prot) } != 0 {
                        return Err(CodeError::Host(std::io::Error::last_os_error()));
                    }
                    Ok(())
                };
                protect(libc::PROT_READ | libc::PROT_WRITE)?;
                // SAFETY: the range is inside the mapping and writable now; no block in it runs.
                unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), base.add(start), code.len()) };
                protect(libc::PROT_READ | libc::PROT_EXEC)?;
                base.wrapping_add(start) as *const u8
            }
        };
        // SAFETY: the range was just written and lies inside the (executable view of the)
        // mapping.
        unsafe {
            wasmtime_jit_icache_coherence::clear_cache(ptr.cast(), code.len()).map_err(CodeError::Host)?;
        }
        wasmtime_jit_icache_coherence::pipeline_flush_mt().map_err(CodeError::Host)?;
        self.used = start + code.len();
        Ok(ptr)
    }
}

/// `size` bytes (a multiple of the page size) of shared anonymous memory, mapped read-write
/// and, a second time, read-execute.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn two_views(size: usize) -> std::io::Result<Views> {
    let map = |ptr: *mut libc::c_void| match ptr {
        libc::MAP_FAILED => Err(std::io::Error::last_os_error()),
        ptr => Ok(Region { ptr: ptr.cast(), len: size }),
    };
    let (rw, rx) = (libc::PROT_READ | libc::PROT_WRITE, libc::PROT_READ | libc::PROT_EXEC);
    let flags = libc::MAP_SHARED | libc::MAP_ANONYMOUS;
    // SAFETY: a new mapping, at an address of the kernel's choosing.
    let write = map(unsafe { libc::mmap(std::ptr::null_mut(), size, rw, flags, -1, 0) })?;
    // SAFETY: `write` is a shared mapping of `size` bytes: an old size of 0 maps its pages again
    // at a new address, leaving `write` as it is.
    let exec = map(unsafe { libc::mremap(write.ptr.cast(), 0, size, libc::MREMAP_MAYMOVE) })?;
    // SAFETY: `exec` is our own new mapping, holding no code yet.
    if unsafe { libc::mprotect(exec.ptr.cast(), size, rx) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Views::Two { write, exec })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn two_views(_size: usize) -> std::io::Result<Views> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// `size` bytes of anonymous memory, read-execute.
fn one_view(size: usize) -> std::io::Result<Views> {
    Ok(Views::One { map: MmapMut::map_anon(size)?.make_exec()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_up_and_resets() {
        for mut m in [CodeMemory::new(4096).unwrap(), CodeMemory::new_one_view(4096).unwrap()] {
            let a = m.install(&[0xc3; 100]).unwrap();
            let b = m.install(&[0xc3; 100]).unwrap();
            assert_eq!(b as usize - a as usize, 128);
            assert!(matches!(m.install(&[0; 4000]), Err(CodeError::Full)));
            m.reset();
            assert_eq!(m.install(&[0; 4000]).unwrap(), a);
        }
    }

    /// The line of /proc/self/maps for the mapping holding `addr`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn maps_line(addr: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let range = line.split_whitespace().next().unwrap();
            let (lo, hi) = range.split_once('-').unwrap();
            let (lo, hi) = (usize::from_str_radix(lo, 16).unwrap(), usize::from_str_radix(hi, 16).unwrap());
            if (lo..hi).contains(&addr) {
                return line.to_string();
            }
        }
        panic!("{addr:#x} is not mapped");
    }

    /// With two views, what `install` writes is at the address it returns, which is executable
    /// and not writable, while the view it was written through is writable and not executable;
    /// code written over reset code is what runs. `perf` sees the executable view as anonymous
    /// memory (its name starts with `/dev/zero`), so it names blocks from `--perf-map`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn two_views_write_here_and_run_there() {
        let mut m = CodeMemory::new(8192).unwrap();
        assert!(m.two_views(), "the test host maps shared memory twice");
        let Views::Two { write, exec } = &m.views else { unreachable!() };
        let (w, x) = (write.ptr as usize, exec.ptr as usize);
        assert_ne!(w, x);
        let (wl, xl) = (maps_line(w), maps_line(x));
        assert_eq!(wl.split_whitespace().nth(1), Some("rw-s"), "{wl}");
        assert_eq!(xl.split_whitespace().nth(1), Some("r-xs"), "{xl}");
        assert!(xl.split_whitespace().nth(5).is_some_and(|name| name.starts_with("/dev/zero")), "{xl}");
        // mov eax, imm32; ret
        let code = |v: u32| [[0xb8].as_slice(), &v.to_le_bytes(), &[0xc3]].concat();
        m.install(&[0x90; 5000]).unwrap();
        let p = m.install(&code(42)).unwrap();
        assert_eq!(p as usize, x + 5056, "in the exec view, aligned, on its second page");
        // SAFETY: `p` points at the 6 bytes just installed, in a readable mapping.
        assert_eq!(unsafe { std::slice::from_raw_parts(p, 6) }, code(42).as_slice());
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `p` is the start of `mov eax, 42; ret`, a function with no arguments.
            let f = unsafe { std::mem::transmute::<*const u8, extern "C" fn() -> u32>(p) };
            assert_eq!(f(), 42);
            m.reset();
            m.install(&[0x90; 5000]).unwrap();
            assert_eq!(m.install(&code(7)).unwrap(), p);
            assert_eq!(f(), 7, "the new code runs at the same address");
        }
    }
}
