//! The 8042 keyboard controller (Intel 8042/8742 UPI running IBM's PC/AT and PS/2 keyboard
//! controller firmware), with a PS/2 keyboard on its first port and a PS/2 mouse on its second.
//!
//! **Ports:** 0x60 (region [`REGION_DATA`]): read the output buffer, write the input buffer as
//! data (to the keyboard, or a command's argument); 0x64 (region [`REGION_COMMAND`]): read the
//! status register, write the input buffer as a controller command.
//!
//! Status register: OBF (bit 0), IBF (1), SYS (2), A2 = last write was a command (3), INH =
//! keyboard not inhibited (4), AUXB = the output buffer holds mouse data (5), timeout (6),
//! parity error (7). Command byte (controller RAM byte 0): KIE (bit 0, IRQ 1), MIE (1, IRQ 12),
//! SYS (2), IGNLK (3), KBD_DIS (4), AUX_DIS (5), XLAT (6). Output port P2: bit 0 = system reset
//! (low resets the CPU), bit 1 = A20 gate, bit 4 = keyboard OBF, bit 5 = mouse OBF, bits 6-7 =
//! keyboard clock and data.
//!
//! **Commands:** 0x20-0x3F read controller RAM (0x20 = command byte), 0x60-0x7F write it, 0xA4
//! password installed (0xF1, none), 0xA7/0xA8 disable/enable the mouse port, 0xA9 mouse interface
//! test (0x00), 0xAA self test (0x55; sets SYS), 0xAB keyboard interface test (0x00), 0xAD/0xAE
//! disable/enable the keyboard port, 0xC0 read input port, 0xD0/0xD1 read/write output port
//! (bit 1 → [`Lines::set_a20`], bit 0 = 0 → [`Lines::request_reset`]), 0xD2/0xD3 write the
//! keyboard/mouse output buffer, 0xD4 write to the mouse, 0xDD/0xDF A20 off/on (HP Vectra and
//! compatible chipsets), 0xE0 read test inputs (0x00), 0xF0-0xFF pulse output port bits 0-3 low
//! (bit 0 clear in the command → CPU reset; 0xFE is the usual reboot). Others are ignored.
//!
//! **Translation:** with XLAT set, bytes from the keyboard go through the AT controller's table
//! (set 2 → set 1; the table is 1-1 on 0x01-0x7F, identity above 0x7F but for 0x83 → 0x41 and
//! 0x84 → 0x54), and an F0 prefix is swallowed and ORs 0x80 into the next byte.
//!
//! **Time:** the controller processes a write at once, so IBF always reads 0. After the guest
//! reads the output buffer the next byte from a device waits [`BYTE_GAP_NS`], so each byte gives
//! the IRQ line a fresh edge for the PIC; the controller's own replies load at once. IRQ 1 is high
//! while the output buffer holds keyboard or controller data and KIE is set, IRQ 12 while it holds
//! mouse data and MIE is set. A guest that polls with interrupts disabled takes a byte (the line
//! falls) and the next one arrives (it rises) before the PIC looks; [`Lines`] records that rising
//! edge, so the PIC still latches it. Writing to a device clears that port's disable bit, as the
//! controller enables the clock line to transmit (firmware such as SeaBIOS sends device commands
//! with both ports disabled and waits for the reply).
//!
//! **Not emulated:** the timeout and parity bits (the devices are always present and never err);
//! the keyboard lock switch (INH reads 1); polling the input port into the status register (0xC1,
//! 0xC2), the password commands beyond 0xA4, vendor commands (0xA0 copyright, 0xA1 version,
//! 0xCA/0xCB mode), the active PS/2 multiplexer. The A20 wire is shared with port 0x92: the last
//! write wins and output port bit 1 reads the wire.

use std::any::Any;
use std::collections::VecDeque;

use emu_core::{ClockHandle, Device, Lines};

use crate::ps2_keyboard::{KeyboardInput, Ps2Keyboard};
use crate::ps2_mouse::{MouseInput, Ps2Mouse};

/// The data port.
pub const I8042_DATA_PORT: u16 = 0x60;
/// The status (read) and command (write) port.
pub const I8042_COMMAND_PORT: u16 = 0x64;
/// Region number the data port must be mapped with.
pub const REGION_DATA: u8 = 0;
/// Region number the command/status port must be mapped with.
pub const REGION_COMMAND: u8 = 1;
/// The keyboard's IRQ line.
pub const KBD_IRQ: u8 = 1;
/// The mouse's IRQ line.
pub const AUX_IRQ: u8 = 12;
/// The gap between a read of the output buffer and the next byte a device sends.
pub const BYTE_GAP_NS: u64 = 20_000;
/// How often (guest ns) the controller looks at the host's input handles when nothing else wakes
/// it.
pub const INPUT_POLL_NS: u64 = 1_000_000;

// Status register.
pub const STATUS_OBF: u8 = 0x01;
pub const STATUS_IBF: u8 = 0x02;
pub const STATUS_SYS: u8 = 0x04;
pub const STATUS_A2: u8 = 0x08;
pub const STATUS_INH: u8 = 0x10;
pub const STATUS_AUXB: u8 = 0x20;
pub const STATUS_TIMEOUT: u8 = 0x40;
pub const STATUS_PARITY: u8 = 0x80;

// Command byte.
pub const CCB_KIE: u8 = 0x01;
pub const CCB_MIE: u8 = 0x02;
pub const CCB_SYS: u8 = 0x04;
pub const CCB_IGNLK: u8 = 0x08;
pub const CCB_KBD_DIS: u8 = 0x10;
pub const CCB_AUX_DIS: u8 = 0x20;
pub const CCB_XLAT: u8 = 0x40;

// Output port.
pub const OUT_RESET: u8 = 0x01;
pub const OUT_A20: u8 = 0x02;
pub const OUT_KBD_OBF: u8 = 0x10;
pub const OUT_AUX_OBF: u8 = 0x20;
pub const OUT_KBD_CLOCK: u8 = 0x40;
pub const OUT_KBD_DATA: u8 = 0x80;

// Controller commands.
pub const CMD_READ_CCB: u8 = 0x20;
pub const CMD_WRITE_CCB: u8 = 0x60;
pub const CMD_PASSWORD_INSTALLED: u8 = 0xa4;
pub const CMD_AUX_DISABLE: u8 = 0xa7;
pub const CMD_AUX_ENABLE: u8 = 0xa8;
pub const CMD_AUX_TEST: u8 = 0xa9;
pub const CMD_SELF_TEST: u8 = 0xaa;
pub const CMD_KBD_TEST: u8 = 0xab;
pub const CMD_KBD_DISABLE: u8 = 0xad;
pub const CMD_KBD_ENABLE: u8 = 0xae;
pub const CMD_READ_INPUT: u8 = 0xc0;
pub const CMD_READ_OUTPUT: u8 = 0xd0;
pub const CMD_WRITE_OUTPUT: u8 = 0xd1;
pub const CMD_WRITE_KBD_OBUF: u8 = 0xd2;
pub const CMD_WRITE_AUX_OBUF: u8 = 0xd3;
pub const CMD_WRITE_AUX: u8 = 0xd4;
pub const CMD_A20_DISABLE: u8 = 0xdd;
pub const CMD_A20_ENABLE: u8 = 0xdf;
pub const CMD_READ_TEST_INPUTS: u8 = 0xe0;
pub const CMD_PULSE_RESET: u8 = 0xfe;

/// Self-test passed.
pub const SELF_TEST_OK: u8 = 0x55;
/// The input port as read by 0xC0: keyboard not inhibited, no manufacturing jumper, second
/// 256 KiB of base RAM present, colour display.
pub const INPUT_PORT: u8 = 0xb0;

/// The AT controller's translation of keyboard bytes 0x00-0x7F (set 2 → set 1).
#[rustfmt::skip]
pub const XLAT_TABLE: [u8; 128] = [
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
];

/// Translates one keyboard byte, ignoring the F0 prefix.
pub fn xlat(byte: u8) -> u8 {
    match byte {
        0x00..=0x7f => XLAT_TABLE[byte as usize],
        0x83 => 0x41,
        0x84 => 0x54,
        _ => byte,
    }
}

/// The translation as a stream: remembers a swallowed F0 prefix.
#[derive(Debug, Clone, Copy, Default)]
pub struct Translator {
    f0: bool,
}

impl Translator {
    /// Feeds one keyboard byte; returns the byte the CPU sees, or `None` for a swallowed F0.
    pub fn feed(&mut self, byte: u8) -> Option<u8> {
        if byte == 0xf0 {
            self.f0 = true;
            return None;
        }
        let t = xlat(byte) | if self.f0 { 0x80 } else { 0 };
        self.f0 = false;
        Some(t)
    }

    /// Translates a whole sequence.
    pub fn translate_all(&mut self, bytes: &[u8]) -> Vec<u8> {
        bytes.iter().filter_map(|&b| self.feed(b)).collect()
    }
}

/// Where the byte in the output buffer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The controller itself or the keyboard: IRQ 1.
    Keyboard,
    /// The mouse: AUXB set, IRQ 12.
    Aux,
}

/// The 8042 with its keyboard and mouse. See the module documentation.
pub struct I8042 {
    lines: Lines,
    clock: ClockHandle,
    /// Controller RAM; byte 0 is the command byte.
    ram: [u8; 32],
    /// Output port P2 bits other than A20 (which reads the wire) and the OBF bits (computed).
    output_port: u8,
    /// The output buffer.
    obuf: Option<(u8, Source)>,
    /// The last byte the output buffer held: what port 0x60 reads when it is empty.
    last_data: u8,
    /// Replies of the controller itself (and 0xD2/0xD3 bytes), ahead of the devices' bytes.
    replies: VecDeque<(u8, Source)>,
    /// A controller command waiting for its data byte.
    pending: Option<u8>,
    /// Status bit A2: the last write went to port 0x64.
    a2: bool,
    translator: Translator,
    /// A device's next byte may not load before this time.
    next_load_at: u64,
    /// When to look at the input handles again; `None` until a handle has been given out.
    poll_at: Option<u64>,
    irq1: bool,
    irq12: bool,
    pub keyboard: Ps2Keyboard,
    pub mouse: Ps2Mouse,
}

impl I8042 {
    /// A controller after power-on (self test not yet run, so SYS is 0), translating, keyboard
    /// interrupts enabled, with a keyboard and a mouse attached.
    pub fn new(lines: Lines, clock: ClockHandle) -> Self {
        let mut ram = [0u8; 32];
        ram[0] = CCB_XLAT | CCB_KIE;
        I8042 {
            lines,
            clock,
            ram,
            output_port: OUT_RESET | OUT_KBD_CLOCK | OUT_KBD_DATA,
            obuf: None,
            last_data: 0,
            replies: VecDeque::new(),
            pending: None,
            a2: false,
            translator: Translator::default(),
            next_load_at: 0,
            poll_at: None,
            irq1: false,
            irq12: false,
            keyboard: Ps2Keyboard::new(),
            mouse: Ps2Mouse::new(),
        }
    }

    /// A handle that types on the keyboard from another thread. From now on the controller polls
    /// the handles every [`INPUT_POLL_NS`] of guest time.
    pub fn keyboard_input(&mut self) -> KeyboardInput {
        self.start_polling();
        self.keyboard.input_handle()
    }

    /// A handle that moves the mouse from another thread.
    pub fn mouse_input(&mut self) -> MouseInput {
        self.start_polling();
        self.mouse.input_handle()
    }

    fn start_polling(&mut self) {
        if self.poll_at.is_none() {
            self.poll_at = Some(self.clock.now() + INPUT_POLL_NS);
        }
    }

    /// The command byte.
    pub fn command_byte(&self) -> u8 {
        self.ram[0]
    }

    /// The status register.
    pub fn status(&self) -> u8 {
        let mut s = STATUS_INH;
        match self.obuf {
            Some((_, Source::Aux)) => s |= STATUS_OBF | STATUS_AUXB,
            Some(_) => s |= STATUS_OBF,
            None => {}
        }
        if self.ram[0] & CCB_SYS != 0 {
            s |= STATUS_SYS;
        }
        if self.a2 {
            s |= STATUS_A2;
        }
        s
    }

    /// The output port as 0xD0 reads it.
    pub fn output_port(&self) -> u8 {
        let mut p = self.output_port & !(OUT_A20 | OUT_KBD_OBF | OUT_AUX_OBF);
        if self.lines.a20() {
            p |= OUT_A20;
        }
        match self.obuf {
            Some((_, Source::Aux)) => p |= OUT_AUX_OBF,
            Some(_) => p |= OUT_KBD_OBF,
            None => {}
        }
        p
    }

    fn kbd_enabled(&self) -> bool {
        self.ram[0] & CCB_KBD_DIS == 0
    }

    fn aux_enabled(&self) -> bool {
        self.ram[0] & CCB_AUX_DIS == 0
    }

    /// Whether a byte could load into the output buffer (now or at `next_load_at`).
    fn has_byte_to_load(&self) -> bool {
        !self.replies.is_empty()
            || (self.kbd_enabled() && self.keyboard.wants_to_send())
            || (self.aux_enabled() && self.mouse.wants_to_send())
    }

    /// Brings the controller up to time `now`: picks up host input and loads the output buffer.
    fn sync(&mut self, now: u64) {
        self.keyboard.pump();
        self.mouse.pump();
        if self.obuf.is_some() {
            return;
        }
        if let Some(r) = self.replies.pop_front() {
            self.obuf = Some(r);
            return;
        }
        if now < self.next_load_at {
            return;
        }
        if self.kbd_enabled() {
            while let Some(b) = self.keyboard.pop() {
                let b = if self.ram[0] & CCB_XLAT != 0 { self.translator.feed(b) } else { Some(b) };
                if let Some(b) = b {
                    self.obuf = Some((b, Source::Keyboard));
                    return;
                }
            }
        }
        if self.aux_enabled() {
            if let Some(b) = self.mouse.pop() {
                self.obuf = Some((b, Source::Aux));
            }
        }
    }

    fn update_irq(&mut self) {
        let ccb = self.ram[0];
        let irq1 = matches!(self.obuf, Some((_, Source::Keyboard))) && ccb & CCB_KIE != 0;
        let irq12 = matches!(self.obuf, Some((_, Source::Aux))) && ccb & CCB_MIE != 0;
        for (line, high, irq) in [(&mut self.irq1, irq1, KBD_IRQ), (&mut self.irq12, irq12, AUX_IRQ)] {
            if *line != high {
                *line = high;
                self.lines.set_irq(irq, high);
            }
        }
    }

    fn reply(&mut self, byte: u8) {
        self.replies.push_back((byte, Source::Keyboard));
    }

    fn read_data(&mut self, now: u64) -> u8 {
        if let Some((b, _)) = self.obuf.take() {
            self.last_data = b;
        }
        self.next_load_at = now.saturating_add(BYTE_GAP_NS);
        self.last_data
    }

    fn write_output_port(&mut self, value: u8) {
        self.output_port = value;
        self.lines.set_a20(value & OUT_A20 != 0);
        if value & OUT_RESET == 0 {
            self.lines.request_reset();
        }
    }

    fn write_command(&mut self, cmd: u8) {
        self.a2 = true;
        self.pending = None;
        match cmd {
            0x20..=0x3f => {
                let b = self.ram[(cmd & 0x1f) as usize];
                self.reply(b);
            }
            0x60..=0x7f | CMD_WRITE_OUTPUT | CMD_WRITE_KBD_OBUF | CMD_WRITE_AUX_OBUF | CMD_WRITE_AUX => {
                self.pending = Some(cmd);
            }
            CMD_PASSWORD_INSTALLED => self.reply(0xf1),
            CMD_AUX_DISABLE => self.ram[0] |= CCB_AUX_DIS,
            CMD_AUX_ENABLE => self.ram[0] &= !CCB_AUX_DIS,
            CMD_AUX_TEST | CMD_KBD_TEST => self.reply(0x00),
            CMD_SELF_TEST => {
                self.ram[0] |= CCB_SYS;
                self.reply(SELF_TEST_OK);
            }
            CMD_KBD_DISABLE => self.ram[0] |= CCB_KBD_DIS,
            CMD_KBD_ENABLE => self.ram[0] &= !CCB_KBD_DIS,
            CMD_READ_INPUT => self.reply(INPUT_PORT),
            CMD_READ_OUTPUT => {
                let p = self.output_port();
                self.reply(p);
            }
            CMD_A20_DISABLE => self.write_output_port(self.output_port & !OUT_A20),
            CMD_A20_ENABLE => self.write_output_port(self.output_port | OUT_A20),
            CMD_READ_TEST_INPUTS => self.reply(0x00),
            0xf0..=0xff if cmd & OUT_RESET == 0 => {
                self.lines.request_reset();
            }
            _ => {}
        }
    }

    fn write_data(&mut self, value: u8) {
        self.a2 = false;
        match self.pending.take() {
            Some(cmd @ 0x60..=0x7f) => {
                let index = (cmd & 0x1f) as usize;
                self.ram[index] = if index == 0 { value & 0x7f } else { value };
            }
            Some(CMD_WRITE_OUTPUT) => {
                self.write_output_port(value);
            }
            Some(CMD_WRITE_KBD_OBUF) => self.replies.push_back((value, Source::Keyboard)),
            Some(CMD_WRITE_AUX_OBUF) => self.replies.push_back((value, Source::Aux)),
            Some(CMD_WRITE_AUX) => {
                self.ram[0] &= !CCB_AUX_DIS;
                self.mouse.receive(value);
            }
            _ => {
                self.ram[0] &= !CCB_KBD_DIS;
                self.keyboard.receive(value);
            }
        }
    }
}

impl Device for I8042 {
    fn name(&self) -> &'static str {
        "8042 keyboard controller"
    }

    /// The controller as at power-on (self test not yet run, its buffers empty, so IRQ 1 and 12
    /// go low), and the keyboard and the mouse reset ([`Ps2Keyboard::reset`],
    /// [`Ps2Mouse::reset`]). It goes on polling the host's input handles if it did.
    fn reset(&mut self) {
        let mut fresh = I8042::new(self.lines.clone(), self.clock.clone());
        std::mem::swap(&mut fresh.keyboard, &mut self.keyboard);
        std::mem::swap(&mut fresh.mouse, &mut self.mouse);
        fresh.keyboard.reset();
        fresh.mouse.reset();
        fresh.poll_at = self.poll_at;
        (fresh.irq1, fresh.irq12) = (self.irq1, self.irq12);
        *self = fresh;
        self.update_irq();
    }

    fn read(&mut self, region: u8, offset: u64, _size: u8) -> u32 {
        if offset != 0 {
            return emu_core::device::OPEN_BUS;
        }
        let now = self.clock.now();
        self.sync(now);
        let v = if region == REGION_DATA {
            let v = self.read_data(now);
            self.sync(now); // a controller reply waiting behind it loads at once
            v
        } else {
            self.status()
        };
        self.update_irq();
        0xffff_ff00 | v as u32
    }

    fn write(&mut self, region: u8, offset: u64, _size: u8, value: u32) {
        if offset != 0 {
            return;
        }
        let now = self.clock.now();
        self.sync(now);
        if region == REGION_DATA {
            self.write_data(value as u8);
        } else {
            self.write_command(value as u8);
        }
        self.sync(now);
        self.update_irq();
    }

    fn deadline(&self) -> Option<u64> {
        let load = (self.obuf.is_none() && self.has_byte_to_load()).then_some(self.next_load_at);
        let input = (self.keyboard.input_pending() || self.mouse.input_pending()).then(|| self.clock.now());
        [load, input, self.poll_at].into_iter().flatten().min()
    }

    fn advance(&mut self, now_ns: u64) {
        let now = now_ns.max(self.clock.now());
        self.sync(now);
        if let Some(t) = self.poll_at.filter(|&t| t <= now) {
            let periods = (now - t) / INPUT_POLL_NS + 1;
            self.poll_at = Some(t + periods * INPUT_POLL_NS);
        }
        self.update_irq();
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ps2_keyboard::KeyCode;

    struct Bench {
        kbc: I8042,
        lines: Lines,
        clock: ClockHandle,
    }

    impl Bench {
        fn new() -> Self {
            let (lines, clock) = (Lines::new(), ClockHandle::manual());
            let kbc = I8042::new(lines.clone(), clock.clone());
            Bench { kbc, lines, clock }
        }
        fn status(&mut self) -> u8 {
            self.kbc.read(REGION_COMMAND, 0, 1) as u8
        }
        fn cmd(&mut self, c: u8) {
            self.kbc.write(REGION_COMMAND, 0, 1, c as u32);
        }
        fn data(&mut self, d: u8) {
            self.kbc.write(REGION_DATA, 0, 1, d as u32);
        }
        /// Reads port 0x60 if OBF is set, letting time pass as a polling guest would.
        fn recv(&mut self) -> Option<u8> {
            for _ in 0..10 {
                if self.status() & STATUS_OBF != 0 {
                    return Some(self.kbc.read(REGION_DATA, 0, 1) as u8);
                }
                self.run_for(BYTE_GAP_NS);
            }
            None
        }
        fn recv_all(&mut self) -> Vec<u8> {
            std::iter::from_fn(|| self.recv()).collect()
        }
        fn run_for(&mut self, ns: u64) {
            let t = self.clock.now() + ns;
            while let Some(d) = self.kbc.deadline().filter(|&d| d <= t) {
                self.clock.set(d);
                self.kbc.advance(d);
                if self.kbc.deadline() == Some(d) {
                    break; // due but blocked (the output buffer is full): wait for the guest
                }
            }
            self.clock.set(t);
        }
        fn irq(&self, n: u8) -> bool {
            self.lines.irq_levels() & (1 << n) != 0
        }
    }

    #[test]
    fn self_test_sets_sys_and_interface_tests() {
        let mut b = Bench::new();
        assert_eq!(b.status(), STATUS_INH);
        b.cmd(CMD_SELF_TEST);
        assert_eq!(b.status(), STATUS_INH | STATUS_A2 | STATUS_SYS | STATUS_OBF);
        assert_eq!(b.recv(), Some(SELF_TEST_OK));
        b.cmd(CMD_KBD_TEST);
        b.cmd(CMD_AUX_TEST);
        b.cmd(CMD_READ_INPUT);
        b.cmd(CMD_PASSWORD_INSTALLED);
        assert_eq!(b.recv_all(), [0x00, 0x00, INPUT_PORT, 0xf1]);
        assert_eq!(b.status() & (STATUS_OBF | STATUS_SYS), STATUS_SYS);
    }

    #[test]
    fn command_byte_read_write_and_ram() {
        let mut b = Bench::new();
        b.cmd(CMD_READ_CCB);
        assert_eq!(b.recv(), Some(CCB_XLAT | CCB_KIE));
        b.cmd(CMD_WRITE_CCB);
        assert_ne!(b.status() & STATUS_A2, 0);
        b.data(0xff); // bit 7 does not exist
        assert_eq!(b.status() & STATUS_A2, 0);
        assert_eq!(b.kbc.command_byte(), 0x7f);
        assert_ne!(b.status() & STATUS_SYS, 0);
        b.cmd(CMD_KBD_ENABLE);
        b.cmd(CMD_AUX_ENABLE);
        assert_eq!(b.kbc.command_byte(), 0x4f);
        b.cmd(CMD_KBD_DISABLE);
        b.cmd(CMD_AUX_DISABLE);
        assert_eq!(b.kbc.command_byte(), 0x7f);
        b.cmd(0x65);
        b.data(0x99);
        b.cmd(0x25);
        assert_eq!(b.recv(), Some(0x99));
    }

    #[test]
    fn a20_through_the_output_port_and_dd_df() {
        let mut b = Bench::new();
        b.cmd(CMD_READ_OUTPUT);
        assert_eq!(b.recv(), Some(OUT_RESET | OUT_A20 | OUT_KBD_CLOCK | OUT_KBD_DATA));
        b.cmd(CMD_WRITE_OUTPUT);
        b.data(0xdd); // A20 off, reset line high
        assert!(!b.lines.a20());
        assert!(!b.lines.take_reset());
        b.cmd(CMD_READ_OUTPUT);
        assert_eq!(b.recv().unwrap() & (OUT_A20 | OUT_RESET), OUT_RESET);
        b.cmd(CMD_WRITE_OUTPUT);
        b.data(0xdf);
        assert!(b.lines.a20());
        b.cmd(CMD_A20_DISABLE);
        assert!(!b.lines.a20());
        b.cmd(CMD_A20_ENABLE);
        assert!(b.lines.a20());
        assert!(!b.lines.take_reset());
        b.cmd(CMD_WRITE_OUTPUT);
        b.data(0xde); // reset line low
        assert!(b.lines.take_reset());
    }

    #[test]
    fn reset_pulses() {
        let mut b = Bench::new();
        b.cmd(0xff); // pulses nothing
        assert!(!b.lines.take_reset());
        b.cmd(CMD_PULSE_RESET);
        assert!(b.lines.take_reset());
        b.cmd(0xf0);
        assert!(b.lines.take_reset());
        b.cmd(0xfd); // pulses A20 only
        assert!(!b.lines.take_reset());
        assert!(b.lines.a20());
    }

    #[test]
    fn keyboard_reset_and_identify_translated() {
        let mut b = Bench::new();
        b.data(0xff);
        assert_eq!(b.recv_all(), [0xfa, 0xaa]);
        b.data(0xf2);
        assert_eq!(b.recv_all(), [0xfa, 0xab, 0x41]); // 0x83 translates to 0x41
        b.cmd(CMD_WRITE_CCB);
        b.data(CCB_KIE);
        b.data(0xf2);
        assert_eq!(b.recv_all(), [0xfa, 0xab, 0x83]);
        b.data(0xf0);
        b.data(0x00);
        assert_eq!(b.recv_all(), [0xfa, 0xfa, 0x02]);
    }

    #[test]
    fn key_press_with_and_without_translation() {
        let mut b = Bench::new();
        b.kbc.keyboard.press(KeyCode::KeyA);
        b.kbc.keyboard.release(KeyCode::KeyA);
        b.kbc.keyboard.press(KeyCode::ControlRight);
        b.kbc.keyboard.release(KeyCode::ControlRight);
        assert_eq!(b.recv_all(), [0x1e, 0x9e, 0xe0, 0x1d, 0xe0, 0x9d]);
        b.cmd(CMD_WRITE_CCB);
        b.data(CCB_KIE);
        b.kbc.keyboard.press(KeyCode::KeyA);
        b.kbc.keyboard.release(KeyCode::KeyA);
        b.kbc.keyboard.press(KeyCode::ControlRight);
        b.kbc.keyboard.release(KeyCode::ControlRight);
        assert_eq!(b.recv_all(), [0x1c, 0xf0, 0x1c, 0xe0, 0x14, 0xe0, 0xf0, 0x14]);
    }

    #[test]
    fn every_byte_gives_its_line_a_rising_edge() {
        // A guest polling with interrupts off takes each byte before the PIC looks at the line:
        // the PIC would see it high, then high again, and only the recorded edges tell it more.
        let mut b = Bench::new();
        let mut edges = emu_core::IrqEdges::default();
        b.kbc.keyboard.press(KeyCode::KeyA);
        b.kbc.keyboard.release(KeyCode::KeyA);
        for _ in 0..2 {
            b.run_for(BYTE_GAP_NS);
            assert_eq!(b.lines.take_irq_edges(&mut edges), 1 << KBD_IRQ, "an edge for each byte");
            b.kbc.read(REGION_DATA, 0, 1);
            assert_eq!(b.lines.take_irq_edges(&mut edges), 0, "no edge when the line falls");
        }
        // The mouse's edges go to IRQ 12.
        b.cmd(CMD_WRITE_CCB);
        b.data(CCB_KIE | CCB_MIE);
        b.cmd(CMD_WRITE_AUX_OBUF);
        b.data(0x08);
        assert_eq!(b.lines.take_irq_edges(&mut edges), 1 << AUX_IRQ);
    }

    #[test]
    fn irq1_follows_obf_with_a_gap_between_bytes() {
        let mut b = Bench::new();
        assert!(!b.irq(KBD_IRQ));
        b.kbc.keyboard.press(KeyCode::ArrowLeft);
        b.run_for(0);
        assert!(b.irq(KBD_IRQ));
        assert_eq!(b.kbc.read(REGION_DATA, 0, 1) as u8, 0xe0);
        assert!(!b.irq(KBD_IRQ)); // the line falls: the next byte makes a new edge
        assert_eq!(b.status() & STATUS_OBF, 0);
        assert_eq!(b.kbc.deadline(), Some(BYTE_GAP_NS));
        b.run_for(BYTE_GAP_NS - 1);
        assert!(!b.irq(KBD_IRQ));
        b.run_for(1);
        assert!(b.irq(KBD_IRQ));
        assert_eq!(b.kbc.read(REGION_DATA, 0, 1) as u8, 0x4b);
        assert_eq!(b.kbc.read(REGION_DATA, 0, 1) as u8, 0x4b); // empty: the last byte again
                                                               // Without KIE the byte waits in the buffer but raises nothing.
        b.cmd(CMD_WRITE_CCB);
        b.data(CCB_XLAT);
        b.kbc.keyboard.press(KeyCode::KeyA);
        b.run_for(BYTE_GAP_NS);
        assert_eq!(b.status() & STATUS_OBF, STATUS_OBF);
        assert!(!b.irq(KBD_IRQ));
        b.cmd(CMD_WRITE_CCB);
        b.data(CCB_XLAT | CCB_KIE);
        assert!(b.irq(KBD_IRQ));
        // A disabled keyboard port holds its bytes back.
        assert_eq!(b.recv(), Some(0x1e));
        b.cmd(CMD_KBD_DISABLE);
        b.kbc.keyboard.release(KeyCode::KeyA);
        b.run_for(10 * BYTE_GAP_NS);
        assert_eq!(b.status() & STATUS_OBF, 0);
        assert_eq!(b.kbc.deadline(), None);
        b.cmd(CMD_KBD_ENABLE);
        assert_eq!(b.recv(), Some(0x9e));
    }

    #[test]
    fn mouse_through_d4_with_irq12() {
        let mut b = Bench::new();
        b.cmd(CMD_WRITE_CCB);
        b.data(CCB_XLAT | CCB_KIE | CCB_MIE | CCB_AUX_DIS);
        b.cmd(CMD_WRITE_AUX);
        b.data(0xff);
        assert_eq!(b.kbc.command_byte() & CCB_AUX_DIS, 0); // writing to the mouse enabled its port
        assert_eq!(b.status() & (STATUS_OBF | STATUS_AUXB), STATUS_OBF | STATUS_AUXB);
        assert!(b.irq(AUX_IRQ));
        assert!(!b.irq(KBD_IRQ));
        assert_eq!(b.recv_all(), [0xfa, 0xaa, 0x00]);
        assert!(!b.irq(AUX_IRQ));
        // IntelliMouse detection.
        for byte in [0xf3, 200, 0xf3, 100, 0xf3, 80] {
            b.cmd(CMD_WRITE_AUX);
            b.data(byte);
            assert_eq!(b.recv_all(), [0xfa]);
        }
        b.cmd(CMD_WRITE_AUX);
        b.data(0xf2);
        assert_eq!(b.recv_all(), [0xfa, 0x03]);
        b.cmd(CMD_WRITE_AUX);
        b.data(0xf4);
        assert_eq!(b.recv_all(), [0xfa]);
        b.kbc.mouse.move_by(-5, 3, -1);
        assert_eq!(b.recv_all(), [0x38, 0xfb, 0xfd, 0xff]);
        // 0xD3 puts a byte in the buffer as if from the mouse; 0xD2 as if from the keyboard.
        b.cmd(CMD_WRITE_AUX_OBUF);
        b.data(0x42);
        assert_eq!(b.status() & STATUS_AUXB, STATUS_AUXB);
        assert_eq!(b.recv(), Some(0x42));
        b.cmd(CMD_WRITE_KBD_OBUF);
        b.data(0x43);
        assert_eq!(b.status() & (STATUS_OBF | STATUS_AUXB), STATUS_OBF);
        assert_eq!(b.recv(), Some(0x43));
    }

    #[test]
    fn host_handles_reach_the_guest_through_the_timer_loop() {
        let mut b = Bench::new();
        let keys = b.kbc.keyboard_input();
        let mouse = b.kbc.mouse_input();
        assert_eq!(b.kbc.deadline(), Some(INPUT_POLL_NS));
        std::thread::spawn(move || {
            keys.tap(KeyCode::Escape);
            mouse.move_by(1, 0, 0);
        })
        .join()
        .unwrap();
        assert_eq!(b.kbc.deadline(), Some(0));
        b.run_for(0);
        assert!(b.irq(KBD_IRQ));
        assert_eq!(b.recv_all(), [0x01, 0x81]); // the mouse is not reporting yet
        b.run_until_poll();
        assert_eq!(b.kbc.deadline(), Some(2 * INPUT_POLL_NS));
    }

    impl Bench {
        fn run_until_poll(&mut self) {
            let t = INPUT_POLL_NS + 5;
            let now = self.clock.now();
            self.run_for(t.saturating_sub(now));
        }
    }

    #[test]
    fn xlat_table_is_one_to_one_on_the_low_half() {
        let mut seen = [false; 256];
        for b in 1..0x80u8 {
            let t = xlat(b);
            assert!(t < 0x80 && !seen[t as usize], "{b:#x}");
            seen[t as usize] = true;
        }
        assert_eq!(xlat(0x1c), 0x1e);
        assert_eq!((xlat(0x83), xlat(0x84), xlat(0xfa)), (0x41, 0x54, 0xfa));
    }
}
