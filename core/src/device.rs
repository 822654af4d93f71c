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

    /// RESET of the board (the guest's reboot, a triple fault; [`System::reset_devices`]): the
    /// device goes back to its power-on state, but for what outlives a reset on a PC (the
    /// battery-backed CMOS RAM and clock, video memory, a disk's contents) and its ties to the
    /// host (output sinks, input handles, and the input they queued that the device has not
    /// taken yet). It lowers the IRQ lines it drives, unless power-on raises them; ranges it
    /// moved go back through [`Device::take_remaps`] and [`Device::take_shadow_changes`], which
    /// the system applies after. The default does nothing: for devices with no state a reset changes (the debug
    /// console, the exit port, the POST port's record of codes) and for tests.
    ///
    /// [`System::reset_devices`]: crate::System::reset_devices
    fn reset(&mut self) {}

    /// The device as the CPU's interrupt controller, if it is one (the 8259A pair, the APIC).
    fn as_interrupt_controller(&mut self) -> Option<&mut dyn InterruptController> {
        None
    }

    /// The device as the CPU's local interrupt controller, if it is one (the local APIC).
    fn as_local_interrupt_controller(&mut self) -> Option<&mut dyn LocalInterruptController> {
        None
    }

    /// Address ranges the device asks the board to move, e.g. because the guest reprogrammed a
    /// PCI BAR. [`System`](crate::System) takes and applies them right after every write access.
    fn take_remaps(&mut self) -> Vec<Remap> {
        Vec::new()
    }

    /// Changes to how the chipset decodes the BIOS area (the i440FX's PAM registers: RAM or
    /// ROM for reads and writes), which [`System`](crate::System) applies right after every write.
    fn take_shadow_changes(&mut self) -> Vec<Shadow> {
        Vec::new()
    }

    /// Whether the device has bus-master DMA work waiting for [`Device::run_dma`]. The
    /// [`System`](crate::System) asks after every write access.
    fn dma_pending(&self) -> bool {
        false
    }

    /// Performs the pending DMA work against guest memory (the device itself is not reachable
    /// through `mem` while this runs).
    fn run_dma(&mut self, _mem: &mut dyn GuestMemory) {}
}

/// How a chipset decodes one range of the BIOS area (0xC0000-0xFFFFF), as a PAM register sets
/// it: reads and writes each go to RAM or to the bus (a ROM there, if any; RAM otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shadow {
    pub base: u64,
    pub len: u64,
    /// Reads come from RAM (even where a ROM is mapped).
    pub read_ram: bool,
    /// Writes go to RAM (even where a ROM is mapped).
    pub write_ram: bool,
}

/// Which address space a [`Remap`] moves a range in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressSpace {
    /// The 64 KiB port I/O space.
    Io,
    /// The physical (MMIO) address space.
    Mmio,
}

/// A request to move one region of a device: unmap `[old, old + len)` if it is still mapped to
/// `(target, region)`, then map `[new, new + len)` to it. `None` means "not mapped".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remap {
    pub space: AddressSpace,
    pub target: DeviceId,
    pub region: u8,
    pub len: u64,
    pub old: Option<u64>,
    pub new: Option<u64>,
}

/// Guest physical memory as a bus master sees it (implemented by [`System`](crate::System)).
pub trait GuestMemory {
    /// Copies guest physical memory at `pa` into `buf`.
    fn read_bytes(&mut self, pa: u64, buf: &mut [u8]);
    /// Copies `data` into guest physical memory at `pa` (marking written pages for the JIT).
    fn write_bytes(&mut self, pa: u64, data: &[u8]);
}

/// What the CPU asks of the chip that drives its INTR pin.
///
/// **Invariant:** [`InterruptController::intr`] (and [`LocalInterruptController::intr`]) depends
/// only on the controller's state and the IRQ lines, and looking does not change the answer of
/// the next look: [`System`](crate::System) keeps the answer until a line or a device changes,
/// so a controller must not find out by itself that time passed (timers arrive through
/// [`Device::advance`]).
pub trait InterruptController {
    /// Whether INTR is asserted (an unmasked request is pending).
    fn intr(&mut self) -> bool;
    /// The INTA cycle: the vector of the highest-priority request, which becomes in-service.
    fn acknowledge(&mut self) -> u8;
    /// Whether any request could ever reach INTR (some line is unmasked). A CPU halted with
    /// interrupts enabled while this is false waits forever.
    fn any_unmasked(&mut self) -> bool {
        true
    }
}

/// What a local interrupt controller answers to the CPU's interrupt-acknowledge cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalAck {
    /// One of its own vectors (now in service).
    Vector(u8),
    /// The external controller answers (the local APIC's ExtINT delivery): the
    /// [`InterruptController`] runs its own INTA cycle and gives the vector.
    External,
}

/// A CPU's own interrupt controller that sits between the CPU and the board's
/// [`InterruptController`] (the local APIC, whose LINT0 pin takes the 8259A's INTR). When the
/// [`System`](crate::System) has one, every interrupt reaches the CPU through it.
pub trait LocalInterruptController {
    /// Whether the CPU's interrupt input is asserted, given the external controller's INTR.
    fn intr(&mut self, ext_intr: bool) -> bool;
    /// The interrupt-acknowledge cycle (the CPU saw [`LocalInterruptController::intr`]).
    fn acknowledge(&mut self, ext_intr: bool) -> LocalAck;
    /// Whether an interrupt could ever reach the CPU; `ext` says whether the external controller
    /// has an unmasked line.
    fn any_unmasked(&mut self, ext: bool) -> bool;
    /// The controller's base/enable register as the CPU's MSR shows it (IA32_APIC_BASE).
    fn base_msr(&self) -> u64;
    /// Writes that register (the CPU checked reserved bits). Moving or disabling the registers
    /// is asked for through [`Device::take_remaps`], which the system applies.
    fn set_base_msr(&mut self, value: u64);
    /// RESET or INIT of the CPU it belongs to: the power-on state.
    fn reset(&mut self);
}

/// Value read from an address nothing answers on: all ones, as on an ISA bus with pull-ups.
pub const OPEN_BUS: u32 = 0xffff_ffff;
