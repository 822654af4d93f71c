//! Wiring of the PC's RTC and input chips: the MC146818 RTC/CMOS at 0x70-0x71, the 8042 keyboard
//! controller (with its PS/2 keyboard and mouse) at 0x60 and 0x64, and system control port A at
//! 0x92; and the thread-safe queue the host-side input handles are built on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use emu_core::{DeviceId, Error, System};

use crate::i8042::{I8042, I8042_COMMAND_PORT, I8042_DATA_PORT, REGION_COMMAND, REGION_DATA};
use crate::mc146818::{Mc146818, RTC_PORT, RTC_PORTS};
use crate::port92::{Port92, PORT92};
use crate::ps2_keyboard::KeyboardInput;
use crate::ps2_mouse::MouseInput;

/// A queue one thread (the window, a test) pushes events into and the VM thread drains. The
/// flag lets the device check for events without taking the lock.
#[derive(Debug)]
pub(crate) struct HostQueue<T>(Arc<Shared<T>>);

#[derive(Debug)]
struct Shared<T> {
    queue: Mutex<VecDeque<T>>,
    pending: AtomicBool,
}

impl<T> Clone for HostQueue<T> {
    fn clone(&self) -> Self {
        HostQueue(self.0.clone())
    }
}

impl<T> Default for HostQueue<T> {
    fn default() -> Self {
        HostQueue(Arc::new(Shared { queue: Mutex::new(VecDeque::new()), pending: AtomicBool::new(false) }))
    }
}

impl<T> HostQueue<T> {
    pub(crate) fn push(&self, event: T) {
        let mut queue = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.push_back(event);
        self.0.pending.store(true, Ordering::Release);
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.0.pending.load(Ordering::Acquire)
    }

    /// Moves every waiting event to the end of `into`, in order.
    pub(crate) fn take_into(&self, into: &mut VecDeque<T>) {
        if self.0.pending.swap(false, Ordering::Acquire) {
            let mut queue = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
            into.extend(queue.drain(..));
        }
    }
}

/// The devices [`attach_rtc_and_keyboard`] added, and the handles that type and move the mouse.
#[derive(Debug, Clone)]
pub struct PcInputDevices {
    pub rtc: DeviceId,
    pub i8042: DeviceId,
    pub port92: DeviceId,
    /// Presses and releases keys on the PS/2 keyboard from any thread.
    pub keyboard: KeyboardInput,
    /// Moves the PS/2 mouse and its buttons from any thread.
    pub mouse: MouseInput,
}

/// Adds the MC146818 RTC/CMOS at 0x70-0x71 (IRQ 8) whose clock reads `start_unix_secs` at
/// power-on and then follows guest time, the 8042 keyboard controller at 0x60 and 0x64 (IRQ 1
/// and 12) with a PS/2 keyboard and mouse, and port 0x92. The CMOS NVRAM is left empty: fill it
/// with [`crate::mc146818::CmosConfig`] through `sys.device_mut::<Mc146818>(devs.rtc)`.
pub fn attach_rtc_and_keyboard(sys: &mut System, start_unix_secs: u64) -> Result<PcInputDevices, Error> {
    let rtc = Mc146818::new(start_unix_secs, sys.lines.clone(), sys.clock.handle());
    let rtc = sys.add_device(Box::new(rtc));
    sys.map_io(RTC_PORT, RTC_PORTS, rtc, 0)?;

    let mut kbc = I8042::new(sys.lines.clone(), sys.clock.handle());
    let keyboard = kbc.keyboard_input();
    let mouse = kbc.mouse_input();
    let i8042 = sys.add_device(Box::new(kbc));
    sys.map_io(I8042_DATA_PORT, 1, i8042, REGION_DATA)?;
    sys.map_io(I8042_COMMAND_PORT, 1, i8042, REGION_COMMAND)?;

    let port92 = sys.add_device(Box::new(Port92::new(sys.lines.clone())));
    sys.map_io(PORT92, 1, port92, 0)?;
    Ok(PcInputDevices { rtc, i8042, port92, keyboard, mouse })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i8042::{CMD_PULSE_RESET, CMD_SELF_TEST, CMD_WRITE_OUTPUT, KBD_IRQ, STATUS_OBF};
    use crate::mc146818::{CmosConfig, REG_B, REG_SECONDS, RTC_IRQ};
    use crate::ps2_keyboard::KeyCode;
    use emu_core::ClockMode;

    fn system() -> (System, PcInputDevices) {
        let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        let devs = attach_rtc_and_keyboard(&mut sys, 1_000_000_000).unwrap(); // 2001-09-09 01:46:40
        (sys, devs)
    }

    /// Moves guest time to `t` through the machine's timer loop.
    fn run_until(sys: &mut System, t: u64) {
        while sys.next_deadline() <= t {
            let d = sys.next_deadline();
            sys.clock.skip_to(d);
            sys.run_timers();
        }
        sys.clock.skip_to(t);
    }

    #[test]
    fn a20_and_reset_through_both_ports() {
        let (mut sys, _) = system();
        assert!(sys.lines.a20());
        sys.io_write(0x64, 1, CMD_WRITE_OUTPUT as u32);
        sys.io_write(0x60, 1, 0xdd);
        assert!(!sys.lines.a20());
        assert_eq!(sys.io_read(0x92, 1) & 2, 0); // port 0x92 sees the same wire
        sys.io_write(0x92, 1, 0x02);
        assert!(sys.lines.a20());
        assert!(!sys.lines.take_reset());
        sys.io_write(0x64, 1, CMD_PULSE_RESET as u32);
        assert!(sys.lines.take_reset());
        sys.io_write(0x92, 1, 0x03);
        assert!(sys.lines.take_reset());
    }

    #[test]
    fn rtc_and_keyboard_answer_on_their_ports() {
        let (mut sys, devs) = system();
        sys.io_write(0x70, 1, REG_SECONDS as u32);
        assert_eq!(sys.io_read(0x71, 1), 0x40);
        sys.io_write(0x64, 1, CMD_SELF_TEST as u32);
        assert_eq!(sys.io_read(0x64, 1) as u8 & STATUS_OBF, STATUS_OBF);
        assert_eq!(sys.io_read(0x60, 1), 0x55);
        // The update-ended interrupt on IRQ 8, scheduled through the machine's timers.
        sys.io_write(0x70, 1, REG_B as u32);
        sys.io_write(0x71, 1, 0x12);
        run_until(&mut sys, 1_000_000_000);
        assert_ne!(sys.lines.irq_levels() & (1 << RTC_IRQ), 0);
        // Keys typed on another thread arrive within the controller's polling period.
        let keys = devs.keyboard.clone();
        std::thread::spawn(move || keys.press(KeyCode::KeyA)).join().unwrap();
        run_until(&mut sys, 1_000_000_000 + crate::i8042::INPUT_POLL_NS);
        assert_ne!(sys.lines.irq_levels() & (1 << KBD_IRQ), 0);
        assert_eq!(sys.io_read(0x60, 1), 0x1e);
        // NVRAM through the device.
        let rtc = sys.device_mut::<Mc146818>(devs.rtc).unwrap();
        CmosConfig { ram_below_4g: 64 << 20, ..Default::default() }.apply(rtc);
        sys.io_write(0x70, 1, 0x34);
        assert_eq!(sys.io_read(0x71, 1), 0x00);
        sys.io_write(0x70, 1, 0x35);
        assert_eq!(sys.io_read(0x71, 1), 0x03); // 48 MiB above 16 MiB = 0x300 × 64 KiB
    }
}
