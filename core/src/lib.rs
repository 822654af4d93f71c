//! emu's machine core: everything a PC has that is neither the CPU nor a particular chip.
//!
//! - [`bus`]: a map of half-open address ranges to devices, used for both port I/O and MMIO.
//! - [`device`]: the one small trait every device model implements.
//! - [`lines`]: the wires between devices and the CPU (IRQ lines, the A20 gate, reset and exit).
//! - [`clock`]: the virtual clock that devices schedule their timer events on.
//! - [`memory`]: guest RAM in one anonymous mapping, ROM regions.
//! - [`system`]: all of the above together: the physical address space and the I/O space the CPU sees.
//! - [`error`]: typed host errors.

pub mod bus;
pub mod clock;
pub mod device;
pub mod error;
pub mod lines;
pub mod memory;
pub mod system;

pub use bus::{Bus, BusError};
pub use clock::{Clock, ClockHandle, ClockMode};
pub use device::{
    AddressSpace, Device, DeviceId, GuestMemory, InterruptController, LocalAck, LocalInterruptController, Remap, Shadow,
};
pub use error::Error;
pub use lines::{ExitReason, IrqEdges, Lines};
pub use memory::{GuestRam, Rom};
pub use system::{PageBacking, System};
