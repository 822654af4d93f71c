//! The device trait: what every emulated chip implements.
//!
//! A device knows nothing of buses. The machine maps ranges of the port I/O space or the physical
//! address space to a `(DeviceId, region)` pair; an access then reaches the device as
//! `read(region, offset, size)` with `offset` relative to the start of that region. Interrupt
//! lines, output sinks and the clock are given to a device when it is built, so a test can drive a
//! chip through its registers alone.

use std::any::Any;

/// Index of a device inside its [`System`](crate::System).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId(pub u16);

/// One emulated chip (or a group of chips that a datasheet describes together).
pub trait Device: Send + Any {
    /// A short name for logs and statistics, e.g. `"16550A UART"`.
    fn name(&self) -> &'static str;

    /// Reads `size` bytes (1, 2 or 4) at `offset` within the device's `region`.
    fn read(&mut self, region: u8, offset: u64, size: u8) -> u32;

    /// Writes the low `size` bytes of `value` at `offset` within the device's `region`.
    fn write(&mut self, region: u8, offset: u64, size: u8, value: u32);

    /// The virtual time (ns) at which the device next wants [`Device::advance`] called, if any.
    fn deadline(&self) -> Option<u64> {
        None
    }

    /// Tells the device that virtual time has reached `now_ns` (at or after its deadline).
    fn advance(&mut self, _now_ns: u64) {}

    /// Lets the machine reach a concrete device (e.g. the keyboard controller, to give it keys).
    fn as_any_mut(&mut self) -> &mut dyn Any;

    /// The device as the CPU's interrupt controller, if it is one (the 8259A pair, the APIC).
    fn as_interrupt_controller(&mut self) -> Option<&mut dyn InterruptController> {
        None
    }
}

/// What the CPU asks of the chip that drives its INTR pin.
pub trait InterruptController {
    /// Whether INTR is asserted (an unmasked request is pending).
    fn intr(&mut self) -> bool;
    /// The INTA cycle: the vector of the highest-priority request, which becomes in-service.
    fn acknowledge(&mut self) -> u8;
}

/// Value read from an address nothing answers on: all ones, as on an ISA bus with pull-ups.
pub const OPEN_BUS: u32 = 0xffff_ffff;
