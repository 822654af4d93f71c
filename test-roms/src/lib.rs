//! emu's own test ROMs and the runners for outside conformance suites.
//!
//! - [`bench`]: the guest benchmarks (`emu bench`, `cargo bench -p emu-jit`).
//! - [`linux_guest`]: Debian's Linux kernel and busybox initramfs archives as a guest.
//! - [`rom`]: build BIOS-style ROM images from Rust (iced-x86 `code_asm`), and the verdict
//!   protocol every test ROM follows (see test-roms/README.md).
//! - [`debian`]: Debian packages for tests, fetched with `apt-get download` into `target/debian`.
//! - [`demo`]: the demo ROM `emu` boots by default.
//! - [`roms`]: the self-checking test ROMs, one per instruction family.

pub mod bench;
pub mod debian;
pub mod demo;
pub mod linux_guest;
pub mod rom;
pub mod roms;
pub mod singlestep;
