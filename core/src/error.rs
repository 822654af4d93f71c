//! Host-side errors: things that go wrong in setting up a machine, never guest faults
//! (those are values in the CPU crate).

use thiserror::Error;

/// Errors from building or configuring a machine. The doc comment of each variant is its message.
#[derive(Debug, Error)]
pub enum Error {
    /// The requested guest memory size is not usable.
    #[error("memory size {size} bytes is not supported: use between 1 MiB and {max} MiB, a multiple of 4 KiB")]
    BadMemorySize { size: u64, max: u64 },
    /// The host refused to give us memory for the guest.
    #[error("cannot allocate {size} bytes of guest memory: {source}")]
    Alloc { size: u64, source: std::io::Error },
    /// A ROM image cannot be placed where it was asked to go.
    #[error("ROM of {len} bytes at {base:#x} does not fit the 4 GiB physical address space")]
    RomPlacement { base: u64, len: usize },
    /// Two devices or regions claim the same addresses.
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
}
