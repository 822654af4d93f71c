//! emu's device models: register-level models of the PC's chips, named after their datasheets.
//! Each implements [`emu_core::Device`]; interrupt lines, output sinks and time are injected, so
//! the tests in each file drive a chip through its registers alone.
//!
//! - [`apic`]: the local APIC (0xFEE00000) and the 82093AA I/O APIC (0xFEC00000), in front of the
//!   CPU with the 8259A on LINT0.
//! - [`uart16550`]: the 16550A UART (COM1 at 0x3F8, IRQ 4).
//! - [`debugcon`]: the Bochs/QEMU 0xE9 debug console.
//! - [`firmware`]: emu's own BIOS (Rust services behind x86 trap stubs).
//! - [`pic8259`]: the 8259A interrupt controller pair (0x20, 0xA0) with the ELCR (0x4D0).
//! - [`pit8254`]: the 8254 interval timer (0x40-0x43), counter 0 on IRQ0.
//! - [`port61`]: system control port B (0x61): counter 2's gate and output, refresh toggle.
//! - [`pc`]: wires the PIC pair, the PIT and port 0x61 into a `System`.
//! - [`mc146818`]: the MC146818 RTC and CMOS RAM (0x70-0x71, IRQ 8), with the NVRAM fields
//!   firmware reads ([`mc146818::CmosConfig`]).
//! - [`i8042`]: the 8042 keyboard controller (0x60, 0x64; IRQ 1 and 12) with a
//!   [`ps2_keyboard`] and a [`ps2_mouse`].
//! - [`port92`]: system control port A (0x92): fast A20 and reset.
//! - [`pc_input`]: wires the RTC, the 8042 and port 0x92 into a `System`.
//! - [`pci`]: PCI bus 0 (configuration mechanism #1 at 0xCF8/0xCFC) with the i440FX host bridge
//!   and the PIIX3 ISA bridge and IDE functions.
//! - [`ide`]: the two IDE channels (0x1F0/0x3F6 IRQ 14, 0x170/0x376 IRQ 15) with ATA disks, an
//!   ATAPI CD-ROM and PIIX3 bus-master DMA; disk images through [`ide::open_disk`].
//! - [`pci_ide`]: wires the PCI bus and the IDE controller with its drives into a `System`.
//! - [`post`]: the port 0x80 POST code latch.
//! - [`i8237`]: the two 8237A DMA controllers (0x00-0x0F, 0xC0-0xDF) and page registers (0x81-0x8F).
//! - [`fdc82077`]: the 82077AA floppy controller (0x3F0-0x3F5, 0x3F7; IRQ 6, DMA 2) and its drives.
//! - [`fpu_error`]: port 0xF0, which clears the FPU error latch (FERR# on IRQ 13).
//! - [`floppy`]: wires the DMA controllers, the floppy controller and port 0xF0 into a `System`.
//! - [`debug_exit`]: an isa-debug-exit-style port at 0xF4.
//! - [`shutdown`]: the Bochs-style shutdown port at 0x8900.
//! - [`pc_testdev`]: QEMU's `pc-testdev` (ports 0xE0-0xE7 and 0x2000-0x2017, memory at
//!   0xFF000000), for kvm-unit-tests; attached only on request.
//! - [`vga`]: the VGA with the Bochs VBE extensions and a linear framebuffer; renders frames and
//!   writes PNG screenshots.

pub mod apic;
pub mod capture;
pub mod debug_exit;
pub mod debugcon;
pub mod fdc82077;
pub mod firmware;
pub mod floppy;
pub mod fpu_error;
pub mod fw_cfg;
pub mod i8042;
pub mod i8237;
pub mod ide;
pub mod mc146818;
pub mod pc;
pub mod pc_input;
pub mod pc_testdev;
pub mod pci;
pub mod pci_ide;
pub mod pic8259;
pub mod pit8254;
pub mod port61;
pub mod port92;
pub mod post;
pub mod ps2_keyboard;
pub mod ps2_mouse;
pub mod shutdown;
pub mod uart16550;
pub mod vga;

use std::io::Write;

use emu_core::{DeviceId, Error, System};

pub use capture::Captured;
pub use debug_exit::{DebugExit, DEBUG_EXIT_PORT, DEBUG_EXIT_PORTS};
pub use debugcon::{DebugCon, DEBUGCON_PORT};
pub use i8042::I8042;
pub use ide::{open_cdrom, open_disk, BlockBackend, DiskError, Ide};
pub use mc146818::{BootDevice, CmosConfig, DiskGeometry, FloppyType, Mc146818, RTC_IRQ};
pub use pc::attach_pc_timers_and_pic;
pub use pc_input::{attach_rtc_and_keyboard, PcInputDevices};
pub use pci::{PciBus, PciFunction};
pub use pci_ide::{attach_pci_and_ide, AttachError, PciIde};
pub use pic8259::Pic8259;
pub use pit8254::{Pit8254, PIT_HZ};
pub use port61::Port61;
pub use port92::Port92;
pub use post::{PostPort, POST_PORT};
pub use ps2_keyboard::{KeyCode, KeyboardInput, Ps2Keyboard};
pub use ps2_mouse::{MouseInput, Ps2Mouse};
pub use shutdown::{ShutdownPort, SHUTDOWN_PORT};
pub use uart16550::{SerialInput, Uart16550, COM1_BASE, COM1_IRQ, UART_PORTS};
pub use vga::{attach_vga, save_png, Framebuffer, Vga, LFB_DEFAULT_BASE};

/// The devices [`attach_headless_devices`] added, and the handle that types into COM1.
#[derive(Debug, Clone)]
pub struct HeadlessDevices {
    pub com1: DeviceId,
    pub debugcon: DeviceId,
    pub post: DeviceId,
    pub debug_exit: DeviceId,
    /// Feeds COM1's receiver from any thread.
    pub serial_input: SerialInput,
}

/// Adds the devices a machine needs to talk to a terminal and to test harnesses: a 16550A at
/// 0x3F8 on IRQ 4 writing to `serial_sink`, the 0xE9 debug console writing to `debugcon_sink`,
/// the POST port at 0x80, the exit port at 0xF4 and the shutdown port at 0x8900.
pub fn attach_headless_devices(
    sys: &mut System,
    serial_sink: Box<dyn Write + Send>,
    debugcon_sink: Box<dyn Write + Send>,
) -> Result<HeadlessDevices, Error> {
    let mut uart = Uart16550::new(COM1_IRQ, sys.lines.clone(), sys.clock.handle(), serial_sink);
    let serial_input = uart.input_handle();
    let com1 = sys.add_device(Box::new(uart));
    sys.map_io(COM1_BASE, UART_PORTS, com1, 0)?;
    let debugcon = sys.add_device(Box::new(DebugCon::new(debugcon_sink)));
    sys.map_io(DEBUGCON_PORT, 1, debugcon, 0)?;
    let post = sys.add_device(Box::new(PostPort::new()));
    sys.map_io(POST_PORT, 1, post, 0)?;
    let debug_exit = sys.add_device(Box::new(DebugExit::new(sys.lines.clone())));
    sys.map_io(DEBUG_EXIT_PORT, DEBUG_EXIT_PORTS, debug_exit, 0)?;
    let shutdown = sys.add_device(Box::new(ShutdownPort::new(sys.lines.clone())));
    sys.map_io(SHUTDOWN_PORT, 1, shutdown, 0)?;
    Ok(HeadlessDevices { com1, debugcon, post, debug_exit, serial_input })
}

#[cfg(test)]
mod tests {
    use super::*;
    use emu_core::{ClockMode, ExitReason};

    use crate::Captured;

    #[test]
    fn headless_devices_answer_on_their_ports() {
        let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        let (serial, con) = (Captured::default(), Captured::default());
        let devs = attach_headless_devices(&mut sys, Box::new(serial.clone()), Box::new(con.clone())).unwrap();
        sys.io_write(0x3f8, 1, b'S' as u32);
        sys.io_write(0xe9, 1, b'D' as u32);
        assert_eq!(*serial.0.lock().unwrap(), b"S");
        assert_eq!(*con.0.lock().unwrap(), b"D");
        assert_eq!(sys.io_read(0xe9, 1), 0xe9);
        sys.io_write(0x80, 1, 0x42);
        assert_eq!(sys.io_read(0x80, 1), 0x42);
        assert_eq!(sys.device_mut::<PostPort>(devs.post).unwrap().last(), Some(0x42));

        // Input typed from the host reaches the guest through the timer loop.
        devs.serial_input.push(b"k");
        sys.clock.skip_to(1);
        sys.io_read(0x3fd, 1); // any access lets the UART notice the input
        let due = sys.next_deadline();
        sys.clock.skip_to(due);
        sys.run_timers();
        assert_eq!(sys.io_read(0x3fd, 1) & 1, 1);
        assert_eq!(sys.io_read(0x3f8, 1), b'k' as u32);

        assert_eq!(sys.lines.exit(), None);
        sys.io_write(0xf4, 4, 0x10);
        assert_eq!(sys.lines.exit(), Some(ExitReason::DebugExit(0x10)));
        assert!(sys.map_io(0x3ff, 1, devs.post, 0).is_err()); // COM1 covers 8 ports
    }
}
