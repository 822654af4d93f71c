//! Guest RAM and ROM.
//!
//! RAM is one anonymous host mapping (memmap2), so a guest physical address below the RAM size is
//! a plain offset into it; the TLBs of both CPU tiers keep a host pointer per page. ROM regions
//! are host buffers mapped over the physical space, readable at full speed, writes ignored.

use crate::error::Error;
use memmap2::MmapMut;

/// Largest RAM we place below the 4 GiB boundary (the rest of the space is PCI, APIC and BIOS).
pub const MAX_RAM: u64 = 0xE000_0000; // 3.5 GiB
/// Guest page size.
pub const PAGE_SIZE: u64 = 4096;

/// Guest RAM: `size` bytes at guest physical address 0.
pub struct GuestRam {
    map: MmapMut,
}

impl GuestRam {
    /// Allocates `size` bytes of zeroed guest RAM (pages are only backed when touched).
    pub fn new(size: u64) -> Result<Self, Error> {
        if !(1 << 20..=MAX_RAM).contains(&size) || !size.is_multiple_of(PAGE_SIZE) {
            return Err(Error::BadMemorySize { size, max: MAX_RAM >> 20 });
        }
        let map = MmapMut::map_anon(size as usize).map_err(|source| Error::Alloc { size, source })?;
        // Transparent huge pages, where the host allows them on request: guest accesses spread
        // over RAM (page tables, a kernel's data) then miss the host's TLB far less often. Only
        // a hint; without it the mapping works the same.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        Ok(GuestRam { map })
    }
    pub fn size(&self) -> u64 {
        self.map.len() as u64
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.map
    }
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.map
    }
    /// The host address of guest physical address 0. Valid as long as `self` lives.
    #[inline]
    pub fn host_base(&mut self) -> *mut u8 {
        self.map.as_mut_ptr()
    }
}

impl std::fmt::Debug for GuestRam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GuestRam({} MiB)", self.size() >> 20)
    }
}

/// A read-only region of the physical address space (firmware).
#[derive(Debug, Clone)]
pub struct Rom {
    pub base: u64,
    pub data: Box<[u8]>,
}

impl Rom {
    pub fn new(base: u64, data: impl Into<Box<[u8]>>) -> Result<Self, Error> {
        let data = data.into();
        match base.checked_add(data.len() as u64) {
            Some(end) if end <= 1 << 32 && !data.is_empty() => Ok(Rom { base, data }),
            _ => Err(Error::RomPlacement { base, len: data.len() }),
        }
    }
    pub fn end(&self) -> u64 {
        self.base + self.data.len() as u64
    }
    pub fn contains(&self, pa: u64) -> bool {
        (self.base..self.end()).contains(&pa)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_sizes_are_checked() {
        assert!(GuestRam::new(0).is_err());
        assert!(GuestRam::new((1 << 20) + 1).is_err());
        assert!(GuestRam::new(MAX_RAM + PAGE_SIZE).is_err());
        let mut ram = GuestRam::new(1 << 20).unwrap();
        ram.as_mut_slice()[0xfffff] = 7;
        assert_eq!(ram.as_slice()[0xfffff], 7);
    }

    #[test]
    fn rom_must_fit_below_4g() {
        assert!(Rom::new(0xffff_0000, vec![0u8; 0x10000]).is_ok());
        assert!(Rom::new(0xffff_0001, vec![0u8; 0x10000]).is_err());
        assert!(Rom::new(0, Vec::new()).is_err());
    }
}
