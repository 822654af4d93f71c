//! A PS/2 mouse (IBM PS/2 mouse protocol) with the Microsoft IntelliMouse wheel extension: the
//! device on the far end of the 8042's auxiliary port.
//!
//! **Interface:** not a bus device. The [`I8042`](crate::i8042::I8042) owns it, hands it the
//! bytes the guest sends with controller command 0xD4 ([`Ps2Mouse::receive`]) and takes the bytes
//! it sends ([`Ps2Mouse::pop`]). The host moves it with [`Ps2Mouse::move_by`] and
//! [`Ps2Mouse::buttons`], or from another thread through a [`MouseInput`] handle.
//!
//! **Commands:** 0xFF reset (ACK, 0xAA, id 0x00), 0xFE resend (the last packet or reply), 0xF6
//! defaults, 0xF5/0xF4 disable/enable data reporting, 0xF3 sample rate, 0xF2 device id (0x00,
//! or 0x03 once the rates 200, 100, 80 were set in a row: the IntelliMouse knock), 0xF0 remote
//! mode, 0xEB read data, 0xEA stream mode, 0xE9 status request, 0xE8 resolution, 0xE7/0xE6
//! scaling 2:1 / 1:1. Anything else answers 0xFE.
//!
//! **Packets:** byte 0 = Y overflow, X overflow, Y sign, X sign, 1, middle, right, left (bit 7 to
//! 0); bytes 1 and 2 = the low 8 bits of the 9-bit two's-complement X and Y movement (Y counts
//! up); with id 3 a fourth byte carries the wheel (-8..=7, positive = towards the user). Motion
//! accumulates while earlier bytes wait for the controller; a count beyond -256..=255 sets the
//! axis's overflow bit, and the excess is lost, as on the device. Button changes are not merged:
//! each is reported in a packet of its own (motion before it goes in the packets before), so a
//! click whose press and release reach the mouse together (shorter than one host frame, or while
//! the guest is slow to take packets) is still a press packet and a release packet. Up to
//! [`HELD_PACKETS`] such packets wait; beyond that, further changes merge into the last one
//! (the final button state is always right), like a device whose buffer is full. In stream mode
//! with reporting on, a packet is made when the last one has been taken and something changed;
//! 2:1 scaling applies to stream reports only, as the protocol says.
//!
//! **Not emulated:** wrap (echo) mode 0xEE/0xEC; the sample rate and resolution are stored and
//! reported but do not pace or scale the host's motion (packets go as fast as the controller
//! takes them); the five-button IntelliMouse Explorer (id 4).

use std::collections::VecDeque;

use crate::pc_input::HostQueue;

pub const MOUSE_ACK: u8 = 0xfa;
pub const MOUSE_RESEND: u8 = 0xfe;
pub const MOUSE_BAT_OK: u8 = 0xaa;
/// Device id of a standard PS/2 mouse.
pub const MOUSE_ID_STANDARD: u8 = 0x00;
/// Device id of an IntelliMouse (a wheel, four-byte packets).
pub const MOUSE_ID_INTELLIMOUSE: u8 = 0x03;

// Commands.
pub const MOUSE_CMD_SCALING_1_1: u8 = 0xe6;
pub const MOUSE_CMD_SCALING_2_1: u8 = 0xe7;
pub const MOUSE_CMD_SET_RESOLUTION: u8 = 0xe8;
pub const MOUSE_CMD_STATUS: u8 = 0xe9;
pub const MOUSE_CMD_STREAM: u8 = 0xea;
pub const MOUSE_CMD_READ_DATA: u8 = 0xeb;
pub const MOUSE_CMD_REMOTE: u8 = 0xf0;
pub const MOUSE_CMD_GET_ID: u8 = 0xf2;
pub const MOUSE_CMD_SET_RATE: u8 = 0xf3;
pub const MOUSE_CMD_ENABLE: u8 = 0xf4;
pub const MOUSE_CMD_DISABLE: u8 = 0xf5;
pub const MOUSE_CMD_DEFAULTS: u8 = 0xf6;
pub const MOUSE_CMD_RESEND: u8 = 0xfe;
pub const MOUSE_CMD_RESET: u8 = 0xff;

// Packet byte 0.
pub const PKT_LEFT: u8 = 0x01;
pub const PKT_RIGHT: u8 = 0x02;
pub const PKT_MIDDLE: u8 = 0x04;
pub const PKT_ALWAYS1: u8 = 0x08;
pub const PKT_X_SIGN: u8 = 0x10;
pub const PKT_Y_SIGN: u8 = 0x20;
pub const PKT_X_OVERFLOW: u8 = 0x40;
pub const PKT_Y_OVERFLOW: u8 = 0x80;

// Status request byte 0 (buttons in bits 2 = left, 1 = middle, 0 = right).
pub const STATUS_SCALING_2_1: u8 = 0x10;
pub const STATUS_ENABLED: u8 = 0x20;
pub const STATUS_REMOTE: u8 = 0x40;

/// How many packets with a button change of their own the mouse holds back while earlier ones
/// wait for the controller.
pub const HELD_PACKETS: usize = 8;

const DEFAULT_RATE: u8 = 100;
const DEFAULT_RESOLUTION: u8 = 2; // 4 counts/mm

/// Something the host did to the mouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseEvent {
    /// Motion in counts: x right, y down (screen direction), wheel towards the user.
    Move {
        dx: i32,
        dy: i32,
        wheel: i32,
    },
    Buttons {
        left: bool,
        right: bool,
        middle: bool,
    },
}

/// A cloneable, thread-safe way to move the mouse from another thread (the window).
#[derive(Debug, Clone, Default)]
pub struct MouseInput(pub(crate) HostQueue<MouseEvent>);

impl MouseInput {
    /// Moves by `dx` counts right, `dy` counts down (screen direction) and `wheel` notches
    /// towards the user.
    pub fn move_by(&self, dx: i32, dy: i32, wheel: i32) {
        self.0.push(MouseEvent::Move { dx, dy, wheel });
    }
    /// Sets which buttons are held.
    pub fn buttons(&self, left: bool, right: bool, middle: bool) {
        self.0.push(MouseEvent::Buttons { left, right, middle });
    }
    pub fn has_pending(&self) -> bool {
        self.0.has_pending()
    }
}

/// A packet's worth of changes: the buttons at its end and the motion up to there.
#[derive(Debug, Clone, Copy, Default)]
struct Frame {
    buttons: u8,
    dx: i32,
    dy: i32,
    dz: i32,
}

/// A PS/2 mouse. See the module documentation.
#[derive(Debug)]
pub struct Ps2Mouse {
    out: VecDeque<u8>,
    /// A command whose argument comes next (0xF3, 0xE8).
    awaiting: Option<u8>,
    reporting: bool,
    remote: bool,
    scaling_2_1: bool,
    resolution: u8,
    rate: u8,
    id: u8,
    /// The last three sample rates set, oldest first.
    rates: [u8; 3],
    /// Buttons in packet bit positions (PKT_LEFT | PKT_RIGHT | PKT_MIDDLE).
    buttons: u8,
    /// Buttons as last reported.
    reported_buttons: u8,
    /// Motion not yet reported, since the last button change: x right, y up, z towards the user.
    dx: i32,
    dy: i32,
    dz: i32,
    /// Earlier button changes not yet reported, oldest first, each with the motion before it;
    /// `buttons` and the motion above come after the last of them.
    held: VecDeque<Frame>,
    /// The last packet or reply, for 0xFE.
    last: Vec<u8>,
    input: MouseInput,
}

impl Default for Ps2Mouse {
    fn default() -> Self {
        Self::new()
    }
}

impl Ps2Mouse {
    /// A mouse after power-on: stream mode, reporting disabled, id 0.
    pub fn new() -> Self {
        Ps2Mouse {
            out: VecDeque::new(),
            awaiting: None,
            reporting: false,
            remote: false,
            scaling_2_1: false,
            resolution: DEFAULT_RESOLUTION,
            rate: DEFAULT_RATE,
            id: MOUSE_ID_STANDARD,
            rates: [0; 3],
            buttons: 0,
            reported_buttons: 0,
            dx: 0,
            dy: 0,
            dz: 0,
            held: VecDeque::new(),
            last: Vec::new(),
            input: MouseInput::default(),
        }
    }

    /// The board's RESET: the mouse as at power-on ([`Ps2Mouse::new`]), with its bytes for the
    /// controller and the motion not yet reported dropped; the host's input handle stays, and
    /// the buttons held down stay down (and are not reported as a change).
    pub fn reset(&mut self) {
        let input = std::mem::take(&mut self.input);
        let buttons = self.buttons;
        *self = Ps2Mouse::new();
        self.input = input;
        self.buttons = buttons;
        self.reported_buttons = buttons;
    }

    /// A handle that moves the mouse from another thread.
    pub fn input_handle(&self) -> MouseInput {
        self.input.clone()
    }

    /// Moves by `dx` counts right, `dy` counts down (screen direction; the protocol's Y counts
    /// up) and `wheel` notches towards the user.
    pub fn move_by(&mut self, dx: i32, dy: i32, wheel: i32) {
        self.dx = self.dx.saturating_add(dx);
        self.dy = self.dy.saturating_sub(dy);
        self.dz = self.dz.saturating_add(wheel);
        self.pump();
    }

    /// Sets which buttons are held.
    pub fn buttons(&mut self, left: bool, right: bool, middle: bool) {
        self.set_buttons(left, right, middle);
        self.pump();
    }

    /// A button change: what came before it (an earlier change not yet reported, or motion)
    /// is held back as a packet of its own, so that the change is reported on its own.
    fn set_buttons(&mut self, left: bool, right: bool, middle: bool) {
        let buttons = ((left as u8) * PKT_LEFT) | ((right as u8) * PKT_RIGHT) | ((middle as u8) * PKT_MIDDLE);
        if buttons == self.buttons {
            return;
        }
        let before = self.held.back().map_or(self.reported_buttons, |f| f.buttons);
        let pending = self.dx != 0 || self.dy != 0 || self.dz != 0 || self.buttons != before;
        if pending && self.held.len() < HELD_PACKETS {
            self.held.push_back(Frame { buttons: self.buttons, dx: self.dx, dy: self.dy, dz: self.dz });
            (self.dx, self.dy, self.dz) = (0, 0, 0);
        }
        self.buttons = buttons;
    }

    /// The device id 0xF2 reports.
    pub fn device_id(&self) -> u8 {
        self.id
    }

    pub fn sample_rate(&self) -> u8 {
        self.rate
    }

    pub fn resolution(&self) -> u8 {
        self.resolution
    }

    /// Whether data reporting is on (0xF4).
    pub fn reporting(&self) -> bool {
        self.reporting
    }

    fn streaming(&self) -> bool {
        self.reporting && !self.remote
    }

    fn has_news(&self) -> bool {
        !self.held.is_empty() || self.dx != 0 || self.dy != 0 || self.dz != 0 || self.buttons != self.reported_buttons
    }

    /// Whether the mouse has something to send, now or as soon as it makes a packet.
    pub fn wants_to_send(&self) -> bool {
        !self.out.is_empty() || (self.streaming() && self.has_news())
    }

    pub fn input_pending(&self) -> bool {
        self.input.has_pending()
    }

    /// Applies the host's events and, in stream mode, makes a packet once the last is gone.
    pub fn pump(&mut self) {
        if self.input.has_pending() {
            let mut events = VecDeque::new();
            self.input.0.take_into(&mut events);
            for e in events {
                match e {
                    MouseEvent::Move { dx, dy, wheel } => {
                        self.dx = self.dx.saturating_add(dx);
                        self.dy = self.dy.saturating_sub(dy);
                        self.dz = self.dz.saturating_add(wheel);
                    }
                    MouseEvent::Buttons { left, right, middle } => self.set_buttons(left, right, middle),
                }
            }
        }
        if self.out.is_empty() && self.streaming() && self.has_news() {
            let packet = self.packet(self.scaling_2_1);
            self.send(&packet);
        }
    }

    /// Makes a movement packet from the oldest button change held back, or else from the
    /// accumulated motion, and clears what it reports.
    fn packet(&mut self, scale: bool) -> Vec<u8> {
        let frame = self.held.pop_front().unwrap_or_else(|| {
            let open = Frame { buttons: self.buttons, dx: self.dx, dy: self.dy, dz: self.dz };
            (self.dx, self.dy, self.dz) = (0, 0, 0);
            open
        });
        let scale = |v: i32| if scale { scale_2_1(v) } else { v };
        let (x, y) = (scale(frame.dx), scale(frame.dy));
        let mut b0 = PKT_ALWAYS1 | frame.buttons;
        let mut axis = |v: i32, sign: u8, overflow: u8| {
            if v < 0 {
                b0 |= sign;
            }
            if !(-256..=255).contains(&v) {
                b0 |= overflow;
            }
            v.clamp(-256, 255) as u8
        };
        let bx = axis(x, PKT_X_SIGN, PKT_X_OVERFLOW);
        let by = axis(y, PKT_Y_SIGN, PKT_Y_OVERFLOW);
        let mut packet = vec![b0, bx, by];
        if self.id == MOUSE_ID_INTELLIMOUSE {
            let z = frame.dz.clamp(-8, 7);
            packet.push(z as u8);
            // The wheel's remaining notches follow in the next packets.
            let next = self.held.front_mut().map_or(&mut self.dz, |f| &mut f.dz);
            *next = next.saturating_add(frame.dz - z);
        }
        self.reported_buttons = frame.buttons;
        packet
    }

    fn send(&mut self, bytes: &[u8]) {
        self.out.extend(bytes);
        self.last = bytes.to_vec();
    }

    /// The controller takes the next byte the mouse sends.
    pub fn pop(&mut self) -> Option<u8> {
        self.pump();
        self.out.pop_front()
    }

    fn set_defaults(&mut self) {
        self.reporting = false;
        self.remote = false;
        self.scaling_2_1 = false;
        self.resolution = DEFAULT_RESOLUTION;
        self.rate = DEFAULT_RATE;
        self.clear_motion();
    }

    fn clear_motion(&mut self) {
        self.dx = 0;
        self.dy = 0;
        self.dz = 0;
        self.held.clear();
        self.reported_buttons = self.buttons;
    }

    /// The controller sends a byte to the mouse (a command or a command's argument).
    pub fn receive(&mut self, byte: u8) {
        if byte == MOUSE_CMD_RESEND {
            let last = std::mem::take(&mut self.last);
            self.send(&last);
            return;
        }
        if let Some(cmd) = self.awaiting.take() {
            match cmd {
                MOUSE_CMD_SET_RATE => {
                    self.rate = byte;
                    self.rates = [self.rates[1], self.rates[2], byte];
                    if self.rates == [200, 100, 80] {
                        self.id = MOUSE_ID_INTELLIMOUSE;
                    }
                }
                _ => self.resolution = byte & 3,
            }
            self.send(&[MOUSE_ACK]);
            return;
        }
        self.out.clear(); // a command interrupts the stream
        match byte {
            MOUSE_CMD_RESET => {
                self.set_defaults();
                self.id = MOUSE_ID_STANDARD;
                self.rates = [0; 3];
                self.send(&[MOUSE_ACK, MOUSE_BAT_OK, MOUSE_ID_STANDARD]);
            }
            MOUSE_CMD_DEFAULTS => {
                self.set_defaults();
                self.send(&[MOUSE_ACK]);
            }
            MOUSE_CMD_DISABLE | MOUSE_CMD_ENABLE => {
                // Both reset the movement counters.
                self.reporting = byte == MOUSE_CMD_ENABLE;
                self.clear_motion();
                self.send(&[MOUSE_ACK]);
            }
            MOUSE_CMD_SET_RATE | MOUSE_CMD_SET_RESOLUTION => {
                self.awaiting = Some(byte);
                self.send(&[MOUSE_ACK]);
            }
            MOUSE_CMD_GET_ID => self.send(&[MOUSE_ACK, self.id]),
            MOUSE_CMD_REMOTE | MOUSE_CMD_STREAM => {
                self.remote = byte == MOUSE_CMD_REMOTE;
                self.clear_motion();
                self.send(&[MOUSE_ACK]);
            }
            MOUSE_CMD_READ_DATA => {
                let packet = self.packet(false);
                let mut reply = vec![MOUSE_ACK];
                reply.extend(packet);
                self.send(&reply);
            }
            MOUSE_CMD_STATUS => {
                let b = self.buttons;
                let buttons = (b & PKT_LEFT) << 2 | (b & PKT_MIDDLE) >> 1 | (b & PKT_RIGHT) >> 1;
                let status = buttons
                    | if self.scaling_2_1 { STATUS_SCALING_2_1 } else { 0 }
                    | if self.reporting { STATUS_ENABLED } else { 0 }
                    | if self.remote { STATUS_REMOTE } else { 0 };
                self.send(&[MOUSE_ACK, status, self.resolution, self.rate]);
            }
            MOUSE_CMD_SCALING_1_1 | MOUSE_CMD_SCALING_2_1 => {
                self.scaling_2_1 = byte == MOUSE_CMD_SCALING_2_1;
                self.send(&[MOUSE_ACK]);
            }
            _ => self.send(&[MOUSE_RESEND]),
        }
    }
}

/// The protocol's 2:1 scaling of a stream report's count.
fn scale_2_1(v: i32) -> i32 {
    let m = match v.unsigned_abs() {
        0 => 0,
        1 | 2 => 1,
        3 => 3,
        4 => 6,
        5 => 9,
        n => (2 * n).min(i32::MAX as u32),
    } as i32;
    if v < 0 {
        -m
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(m: &mut Ps2Mouse) -> Vec<u8> {
        std::iter::from_fn(|| m.pop()).collect()
    }

    fn cmd(m: &mut Ps2Mouse, bytes: &[u8]) -> Vec<u8> {
        for &b in bytes {
            m.receive(b);
        }
        drain(m)
    }

    #[test]
    fn reset_status_and_settings() {
        let mut m = Ps2Mouse::new();
        assert_eq!(cmd(&mut m, &[MOUSE_CMD_RESET]), [MOUSE_ACK, MOUSE_BAT_OK, 0x00]);
        assert_eq!(cmd(&mut m, &[MOUSE_CMD_STATUS]), [MOUSE_ACK, 0, DEFAULT_RESOLUTION, DEFAULT_RATE]);
        m.receive(MOUSE_CMD_SET_RESOLUTION);
        m.receive(3);
        m.receive(MOUSE_CMD_SCALING_2_1);
        m.receive(MOUSE_CMD_REMOTE);
        m.receive(MOUSE_CMD_ENABLE);
        m.buttons(true, true, false);
        assert_eq!(drain(&mut m), [MOUSE_ACK]); // each command cut the replies before it
        assert_eq!(
            cmd(&mut m, &[MOUSE_CMD_STATUS]),
            [MOUSE_ACK, STATUS_REMOTE | STATUS_ENABLED | STATUS_SCALING_2_1 | 0x05, 3, DEFAULT_RATE]
        );
        assert_eq!(cmd(&mut m, &[MOUSE_CMD_RESEND]), [MOUSE_ACK, 0x75, 3, DEFAULT_RATE]);
        assert_eq!(cmd(&mut m, &[0x00]), [MOUSE_RESEND]);
    }

    #[test]
    fn intellimouse_knock() {
        let mut m = Ps2Mouse::new();
        assert_eq!(cmd(&mut m, &[MOUSE_CMD_GET_ID]), [MOUSE_ACK, 0]);
        let rates = [MOUSE_CMD_SET_RATE, 200, MOUSE_CMD_SET_RATE, 100, MOUSE_CMD_SET_RATE, 60];
        cmd(&mut m, &rates);
        assert_eq!(cmd(&mut m, &[MOUSE_CMD_GET_ID]), [MOUSE_ACK, 0]);
        let rates = [MOUSE_CMD_SET_RATE, 200, MOUSE_CMD_SET_RATE, 100, MOUSE_CMD_SET_RATE, 80];
        assert_eq!(cmd(&mut m, &rates), [MOUSE_ACK, MOUSE_ACK]); // the last command's and its argument's
        assert_eq!(cmd(&mut m, &[MOUSE_CMD_GET_ID]), [MOUSE_ACK, MOUSE_ID_INTELLIMOUSE]);
        assert_eq!(m.sample_rate(), 80);
        m.receive(MOUSE_CMD_ENABLE);
        m.move_by(1, 1, 3);
        assert_eq!(drain(&mut m), [MOUSE_ACK, PKT_ALWAYS1 | PKT_Y_SIGN, 1, 0xff, 3]);
        m.move_by(0, 0, -20); // the wheel's notches are spread over packets of -8..=7
        assert_eq!(drain(&mut m), [PKT_ALWAYS1, 0, 0, 0xf8, PKT_ALWAYS1, 0, 0, 0xf8, PKT_ALWAYS1, 0, 0, 0xfc]);
        assert_eq!(cmd(&mut m, &[MOUSE_CMD_RESET]), [MOUSE_ACK, MOUSE_BAT_OK, 0]);
        assert_eq!(m.device_id(), MOUSE_ID_STANDARD);
    }

    #[test]
    fn stream_packets_signs_overflow_and_scaling() {
        let mut m = Ps2Mouse::new();
        m.move_by(5, 5, 0);
        assert!(!m.wants_to_send()); // reporting is off after power-on
        assert_eq!(cmd(&mut m, &[MOUSE_CMD_ENABLE]), [MOUSE_ACK]);
        m.move_by(-3, 10, 0); // left and down: both negative in the protocol
        assert_eq!(drain(&mut m), [PKT_ALWAYS1 | PKT_X_SIGN | PKT_Y_SIGN, 0xfd, 0xf6]);
        m.buttons(true, false, true);
        assert_eq!(drain(&mut m), [PKT_ALWAYS1 | PKT_LEFT | PKT_MIDDLE, 0, 0]);
        m.move_by(300, -2, 0);
        assert_eq!(drain(&mut m), [PKT_ALWAYS1 | PKT_LEFT | PKT_MIDDLE | PKT_X_OVERFLOW, 0xff, 2]);
        m.move_by(-400, 0, 0);
        assert_eq!(drain(&mut m)[0], PKT_ALWAYS1 | PKT_LEFT | PKT_MIDDLE | PKT_X_SIGN | PKT_X_OVERFLOW);
        // Motion accumulates while a packet waits.
        m.buttons(false, false, false);
        m.move_by(1, 0, 0);
        m.move_by(2, 0, 0);
        assert_eq!(drain(&mut m), [PKT_ALWAYS1, 0, 0, PKT_ALWAYS1, 3, 0]);
        m.receive(MOUSE_CMD_SCALING_2_1);
        drain(&mut m);
        m.move_by(4, 0, 0);
        assert_eq!(drain(&mut m), [PKT_ALWAYS1, 6, 0]);
        assert_eq!((scale_2_1(-2), scale_2_1(5), scale_2_1(-7)), (-1, 9, -14));
    }

    #[test]
    fn remote_mode_reports_on_read_data_only() {
        let mut m = Ps2Mouse::new();
        cmd(&mut m, &[MOUSE_CMD_REMOTE, MOUSE_CMD_ENABLE]);
        m.move_by(7, 0, 0);
        assert!(!m.wants_to_send());
        assert_eq!(cmd(&mut m, &[MOUSE_CMD_READ_DATA]), [MOUSE_ACK, PKT_ALWAYS1, 7, 0]);
        assert_eq!(cmd(&mut m, &[MOUSE_CMD_READ_DATA]), [MOUSE_ACK, PKT_ALWAYS1, 0, 0]);
    }

    #[test]
    fn button_changes_queued_together_are_separate_packets() {
        let mut m = Ps2Mouse::new();
        cmd(&mut m, &[MOUSE_CMD_ENABLE]);
        let input = m.input_handle();
        // A click shorter than a frame: press and release reach the mouse at once.
        input.move_by(3, 0, 0);
        input.buttons(true, false, false);
        input.move_by(1, 0, 0);
        input.move_by(1, 0, 0);
        input.buttons(false, false, false);
        input.buttons(false, true, false);
        assert_eq!(
            drain(&mut m),
            [PKT_ALWAYS1, 3, 0, PKT_ALWAYS1 | PKT_LEFT, 2, 0, PKT_ALWAYS1, 0, 0, PKT_ALWAYS1 | PKT_RIGHT, 0, 0]
        );
        // Bounded: beyond HELD_PACKETS the changes merge, and the last state is the one reported.
        for _ in 0..2 * HELD_PACKETS {
            m.buttons(true, false, false);
            m.buttons(false, false, false);
        }
        m.buttons(false, false, true);
        let packets = drain(&mut m);
        // The first press goes out at once, then the held changes, then the last state.
        assert_eq!(packets.len(), 3 * (1 + HELD_PACKETS + 1));
        assert_eq!(packets[packets.len() - 3], PKT_ALWAYS1 | PKT_MIDDLE);
        assert!(!m.wants_to_send());
    }

    #[test]
    fn input_handle_from_another_thread() {
        let mut m = Ps2Mouse::new();
        cmd(&mut m, &[MOUSE_CMD_ENABLE]);
        let input = m.input_handle();
        std::thread::spawn(move || {
            input.buttons(false, true, false);
            input.move_by(2, -1, 0);
        })
        .join()
        .unwrap();
        assert_eq!(drain(&mut m), [PKT_ALWAYS1 | PKT_RIGHT, 2, 1]);
    }

    #[test]
    fn a_board_reset_restores_the_settings_and_keeps_the_host_input() {
        let mut m = Ps2Mouse::new();
        cmd(&mut m, &[MOUSE_CMD_ENABLE, MOUSE_CMD_SET_RESOLUTION, 0]);
        let input = m.input_handle();
        input.buttons(true, false, false);
        input.move_by(5, 5, 0);
        m.pump();
        assert!(m.wants_to_send());
        m.reset();
        assert!(!m.reporting());
        assert_eq!(m.resolution(), Ps2Mouse::new().resolution());
        assert!(!m.wants_to_send());
        // Enabled again it sends only its ACK: the packet and the motion from before the reset
        // are gone. The left button is still down, and is not reported as a change.
        assert_eq!(cmd(&mut m, &[MOUSE_CMD_ENABLE]), [MOUSE_ACK]);
        input.move_by(1, 0, 0);
        assert_eq!(drain(&mut m), [PKT_ALWAYS1 | PKT_LEFT, 1, 0]);
    }
}
