//! The APIC of a one-CPU PC: the CPU's local APIC ([`local`]) and the board's 82093AA I/O APIC
//! ([`ioapic`]), joined by the APIC bus, as one [`Device`] with two MMIO regions.
//!
//! | region | where                                  | chip        |
//! |--------|----------------------------------------|-------------|
//! | 0      | IA32_APIC_BASE (0xFEE00000), 4 KiB     | local APIC  |
//! | 1      | 0xFEC00000, 4 KiB                      | I/O APIC    |
//!
//! The device is the CPU's [`LocalInterruptController`]: every interrupt reaches the CPU through
//! the local APIC, whose LINT0 takes the 8259A's INTR (the [`System`] asks the 8259A when the
//! local APIC passes it on). The I/O APIC looks at the same IRQ lines as the 8259A (a PC routes
//! ISA interrupts to both; which one the OS uses is its choice, by masking the other), wired as
//! on QEMU's PC and as the MP table emu's firmware writes says ([`pin_of_irq`]): ISA IRQ 0 on pin
//! 2, IRQ n on pin n otherwise, pin 0 unconnected; lines 16-23 reach pins 16-23. It samples the
//! lines whenever the CPU asks for interrupts, on its own register accesses and when the local
//! APIC's timer runs; edge-triggered pins take the rising edges [`emu_core::Lines`] recorded
//! since the last look, so a pulse shorter than that (the 8254's) is not lost.
//! Level-triggered EOIs go from the local APIC to the I/O APIC over the same bus.
//!
//! The two chips are one device because the APIC bus joins them synchronously (an EOI write
//! can make the I/O APIC send again before the next instruction); each is modelled in its own
//! file, after its own manual.

pub mod ioapic;
pub mod local;

use std::any::Any;

use emu_core::{AddressSpace, Device, DeviceId, Error, LocalAck, LocalInterruptController, Remap, System};

use ioapic::IoApic;
use local::{Ack, LocalApic};

/// Region number of the local APIC's registers.
pub const REGION_LOCAL: u8 = 0;
/// Region number of the I/O APIC's registers.
pub const REGION_IOAPIC: u8 = 1;

/// The I/O APIC pin board IRQ line `irq` is wired to, if any: ISA IRQ 0 (the 8254) is on pin 2
/// (pin 0 is unconnected, and ISA IRQ 2 is the 8259A cascade, not a line), every other line n
/// on pin n.
pub fn pin_of_irq(irq: u8) -> Option<usize> {
    match irq {
        0 => Some(2),
        2 => None,
        n if (n as usize) < ioapic::PINS => Some(n as usize),
        _ => None,
    }
}

/// Pin levels from board line levels (bit n = line n).
fn pins_of_lines(lines: u32) -> u32 {
    let mut pins = lines & !0b101 & ((1 << ioapic::PINS) - 1);
    if lines & 1 != 0 {
        pins |= 1 << 2;
    }
    pins
}

/// The local APIC and the I/O APIC. See the module documentation.
pub struct Apic {
    pub local: LocalApic,
    pub io: IoApic,
    lines: emu_core::Lines,
    /// The rising edges of the lines taken so far.
    edges: emu_core::IrqEdges,
    /// This device's id (for the remaps that follow IA32_APIC_BASE).
    id: Option<DeviceId>,
    /// Where the local APIC's registers are mapped now.
    mapped: Option<u64>,
    remaps: Vec<Remap>,
}

impl Apic {
    /// A local APIC and an I/O APIC reading `lines`, the timer on `clock`.
    pub fn new(lines: emu_core::Lines, clock: emu_core::ClockHandle) -> Self {
        Apic {
            local: LocalApic::new(lines.clone(), clock),
            io: IoApic::new(),
            lines,
            edges: emu_core::IrqEdges::default(),
            id: None,
            mapped: Some(local::DEFAULT_BASE),
            remaps: Vec::new(),
        }
    }

    /// Looks at the IRQ lines and passes the I/O APIC's messages to the local APIC.
    fn sample(&mut self) {
        let levels = pins_of_lines(self.lines.irq_levels());
        if levels == self.io.levels() && !self.lines.irq_edges_pending(&self.edges) {
            return;
        }
        let edges = pins_of_lines(self.lines.take_irq_edges(&mut self.edges));
        let local = &mut self.local;
        self.io.set_levels(levels, edges, &mut |m| local.deliver(m));
    }

    /// Hands the local APIC's level-triggered EOIs to the I/O APIC.
    fn forward_eois(&mut self) {
        for v in self.local.take_eoi() {
            let local = &mut self.local;
            self.io.eoi(v, &mut |m| local.deliver(m));
        }
    }

    /// After the base MSR changed: ask the board to move (or hide) the local APIC's registers.
    fn follow_base(&mut self) {
        let new = self.local.mmio_base();
        if new == self.mapped {
            return;
        }
        if let Some(target) = self.id {
            self.remaps.push(Remap {
                space: AddressSpace::Mmio,
                target,
                region: REGION_LOCAL,
                len: local::MMIO_SIZE,
                old: self.mapped,
                new,
            });
        }
        self.mapped = new;
    }
}

impl Device for Apic {
    fn name(&self) -> &'static str {
        "local APIC + 82093AA I/O APIC"
    }

    /// The I/O APIC as at power-on (every pin masked), seeing the lines' levels now. The local
    /// APIC is part of the processor: the CPU's reset resets it
    /// ([`LocalInterruptController::reset`]).
    fn reset(&mut self) {
        self.lines.take_irq_edges(&mut self.edges);
        self.io = IoApic::new();
        // Every pin is masked: nothing is sent.
        self.io.set_levels(pins_of_lines(self.lines.irq_levels()), 0, &mut |_| {});
    }

    fn read(&mut self, region: u8, offset: u64, size: u8) -> u32 {
        self.sample();
        match region {
            REGION_LOCAL => self.local.read(offset, size),
            _ => self.io.read(offset, size),
        }
    }

    fn write(&mut self, region: u8, offset: u64, size: u8, value: u32) {
        self.sample();
        match region {
            REGION_LOCAL => {
                self.local.write(offset, size, value);
                self.forward_eois();
            }
            _ => {
                let local = &mut self.local;
                self.io.write(offset, size, value, &mut |m| local.deliver(m));
            }
        }
    }

    fn deadline(&self) -> Option<u64> {
        self.local.deadline()
    }

    fn advance(&mut self, now_ns: u64) {
        self.sample();
        self.local.advance(now_ns);
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_local_interrupt_controller(&mut self) -> Option<&mut dyn LocalInterruptController> {
        Some(self)
    }

    fn take_remaps(&mut self) -> Vec<Remap> {
        std::mem::take(&mut self.remaps)
    }
}

impl LocalInterruptController for Apic {
    fn intr(&mut self, ext_intr: bool) -> bool {
        self.sample();
        self.local.intr(ext_intr)
    }

    fn acknowledge(&mut self, ext_intr: bool) -> LocalAck {
        self.sample();
        match self.local.acknowledge(ext_intr) {
            Ack::Vector(v) => LocalAck::Vector(v),
            Ack::External => LocalAck::External,
        }
    }

    fn any_unmasked(&mut self, ext: bool) -> bool {
        self.local.any_unmasked(ext) || (self.local.enabled() && self.io.any_unmasked())
    }

    fn base_msr(&self) -> u64 {
        self.local.base_msr()
    }

    fn set_base_msr(&mut self, value: u64) {
        self.local.set_base_msr(value);
        self.follow_base();
    }

    fn reset(&mut self) {
        self.local.reset();
        self.follow_base();
    }
}

/// Adds the local APIC and the I/O APIC to `sys` and puts the local APIC in front of the CPU.
/// Returns the device.
pub fn attach_apic(sys: &mut System) -> Result<DeviceId, Error> {
    let apic = Apic::new(sys.lines.clone(), sys.clock.handle());
    let id = sys.add_device(Box::new(apic));
    if let Some(a) = sys.device_mut::<Apic>(id) {
        a.id = Some(id);
    }
    sys.map_mmio(local::DEFAULT_BASE, local::MMIO_SIZE, id, REGION_LOCAL)?;
    sys.map_mmio(ioapic::DEFAULT_BASE, ioapic::MMIO_SIZE, id, REGION_IOAPIC)?;
    sys.set_local_interrupt_controller(id);
    Ok(id)
}

#[cfg(test)]
mod tests;
