//! Port 0xF0 of the PC/AT: the latch between the FPU's error output and IRQ 13.
//!
//! With CR0.NE = 0 an unmasked x87 exception asserts FERR#, which the board latches onto IRQ 13
//! (the CPU side raises the line: `emu_cpu_x86::fpu::check_pending`). The line then stays high
//! until the exception handler writes any value to port 0xF0, which clears the latch (and on
//! the AT also asserts IGNNE#, so the next FPU instruction can run; emu's FPU already proceeds
//! past a reported error, as with IGNNE#). Reads float (FFh). Port 0xF1 (coprocessor reset on
//! the AT) is not decoded: a device cannot reach the CPU's FPU state.

use std::any::Any;

use emu_core::{device::OPEN_BUS, Device, Lines};

pub const FPU_ERROR_PORT: u16 = 0xf0;
/// The IRQ line FERR# is latched onto.
pub const FPU_IRQ: u8 = 13;

/// The port 0xF0 latch clear.
#[derive(Debug)]
pub struct FpuErrorLatch {
    lines: Lines,
}

impl FpuErrorLatch {
    pub fn new(lines: Lines) -> Self {
        FpuErrorLatch { lines }
    }
}

impl Device for FpuErrorLatch {
    fn name(&self) -> &'static str {
        "FPU error latch (port F0h)"
    }

    /// FERR# goes inactive with the FPU's reset.
    fn reset(&mut self) {
        self.lines.set_irq(FPU_IRQ, false);
    }
    fn read(&mut self, _: u8, _: u64, _: u8) -> u32 {
        OPEN_BUS
    }
    fn write(&mut self, _: u8, _: u64, _: u8, _: u32) {
        self.lines.set_irq(FPU_IRQ, false);
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_port_f0_lowers_irq13() {
        let lines = Lines::new();
        let mut latch = FpuErrorLatch::new(lines.clone());
        lines.set_irq(FPU_IRQ, true);
        lines.set_irq(3, true);
        assert_eq!(latch.read(0, 0, 1), OPEN_BUS);
        assert_eq!(lines.irq_levels(), 1 << 13 | 1 << 3, "reading changes nothing");
        latch.write(0, 0, 1, 0);
        assert_eq!(lines.irq_levels(), 1 << 3);
    }
}
