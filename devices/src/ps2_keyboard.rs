//! A PS/2 (IBM MF2) keyboard: the device on the far end of the 8042's keyboard port.
//!
//! **Interface:** not a bus device. The [`I8042`](crate::i8042::I8042) owns it, hands it the
//! bytes the guest writes to port 0x60 ([`Ps2Keyboard::receive`]) and takes the bytes it sends
//! ([`Ps2Keyboard::pop`]). The host presses keys with [`Ps2Keyboard::press`]/[`release`], or from
//! another thread through a [`KeyboardInput`] handle.
//!
//! **Commands:** 0xFF reset (ACK, then BAT passed 0xAA), 0xFE resend, 0xF6 set defaults, 0xF5
//! disable (and defaults), 0xF4 enable, 0xF3 typematic rate/delay, 0xF2 identify (ACK 0xAB
//! 0x83), 0xF0 get/set scan code set, 0xEE echo, 0xED LEDs; the set-3-only 0xF7-0xFD are
//! acknowledged and ignored; anything else answers 0xFE.
//!
//! **Scan codes:** set 2 (the default), with E0-prefixed extended keys, PrintScreen's four-byte
//! E0 12 E0 7C and Pause's eight-byte E1 14 77 E1 F0 14 F0 77 (no break code); and set 1, made
//! from set 2 by the same translation the 8042 applies. [`KeyCode`] covers the 105 keys of an
//! ISO PC keyboard (the 104 of the US layout plus the key beside left Shift).
//!
//! **Not emulated:** scan code set 3 (requests for it answer 0xFE, as on the many keyboards that
//! lack it); typematic repeat (the rate is stored; a host that auto-repeats sends presses again,
//! which produce make codes again, as a held key would); the fake shifts real keyboards wrap
//! around navigation keys when Shift or NumLock is on, Ctrl+Pause's Break code and Alt+PrintScreen's
//! SysRq code; the 0.5 s BAT delay after reset (0xAA follows the ACK at once).

use std::collections::VecDeque;

use crate::i8042::Translator;
use crate::pc_input::HostQueue;

/// Acknowledge.
pub const KBD_ACK: u8 = 0xfa;
/// Resend / command not understood.
pub const KBD_RESEND: u8 = 0xfe;
/// Basic assurance test passed.
pub const KBD_BAT_OK: u8 = 0xaa;
/// The MF2 keyboard's identification bytes (after the ACK).
pub const KBD_ID: [u8; 2] = [0xab, 0x83];
/// How many bytes the keyboard buffers towards the controller.
pub const KBD_BUFFER: usize = 16;

// Commands.
pub const KBD_CMD_SET_LEDS: u8 = 0xed;
pub const KBD_CMD_ECHO: u8 = 0xee;
pub const KBD_CMD_SCANCODE_SET: u8 = 0xf0;
pub const KBD_CMD_IDENTIFY: u8 = 0xf2;
pub const KBD_CMD_TYPEMATIC: u8 = 0xf3;
pub const KBD_CMD_ENABLE: u8 = 0xf4;
pub const KBD_CMD_DISABLE: u8 = 0xf5;
pub const KBD_CMD_DEFAULTS: u8 = 0xf6;
pub const KBD_CMD_RESEND: u8 = 0xfe;
pub const KBD_CMD_RESET: u8 = 0xff;

/// Default typematic byte: 10.9 characters/s after 500 ms.
const DEFAULT_TYPEMATIC: u8 = 0x2b;

/// A key of a 105-key PC keyboard, named after the key's position on a US layout (the W3C
/// `KeyboardEvent.code` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[rustfmt::skip]
pub enum KeyCode {
    Escape, F1, F2, F3, F4, F5, F6, F7, F8, F9, F10, F11, F12, PrintScreen, ScrollLock, Pause,
    Backquote, Digit1, Digit2, Digit3, Digit4, Digit5, Digit6, Digit7, Digit8, Digit9, Digit0,
    Minus, Equal, Backspace,
    Tab, KeyQ, KeyW, KeyE, KeyR, KeyT, KeyY, KeyU, KeyI, KeyO, KeyP, BracketLeft, BracketRight,
    Backslash,
    CapsLock, KeyA, KeyS, KeyD, KeyF, KeyG, KeyH, KeyJ, KeyK, KeyL, Semicolon, Quote, Enter,
    ShiftLeft, IntlBackslash, KeyZ, KeyX, KeyC, KeyV, KeyB, KeyN, KeyM, Comma, Period, Slash,
    ShiftRight,
    ControlLeft, MetaLeft, AltLeft, Space, AltRight, MetaRight, ContextMenu, ControlRight,
    Insert, Home, PageUp, Delete, End, PageDown, ArrowUp, ArrowLeft, ArrowDown, ArrowRight,
    NumLock, NumpadDivide, NumpadMultiply, NumpadSubtract, Numpad7, Numpad8, Numpad9, NumpadAdd,
    Numpad4, Numpad5, Numpad6, Numpad1, Numpad2, Numpad3, NumpadEnter, Numpad0, NumpadDecimal,
}

/// How a key is coded in scan code set 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set2 {
    /// One byte; break is F0 + byte.
    Plain(u8),
    /// E0 + byte; break is E0 F0 + byte.
    Extended(u8),
    /// E0 12 E0 7C; break E0 F0 7C E0 F0 12.
    PrintScreen,
    /// E1 14 77 E1 F0 14 F0 77; no break.
    Pause,
}

impl KeyCode {
    /// Every key, in keyboard order.
    #[rustfmt::skip]
    pub const ALL: [KeyCode; 105] = {
        use KeyCode::*;
        [
            Escape, F1, F2, F3, F4, F5, F6, F7, F8, F9, F10, F11, F12, PrintScreen, ScrollLock, Pause,
            Backquote, Digit1, Digit2, Digit3, Digit4, Digit5, Digit6, Digit7, Digit8, Digit9, Digit0,
            Minus, Equal, Backspace,
            Tab, KeyQ, KeyW, KeyE, KeyR, KeyT, KeyY, KeyU, KeyI, KeyO, KeyP, BracketLeft, BracketRight,
            Backslash,
            CapsLock, KeyA, KeyS, KeyD, KeyF, KeyG, KeyH, KeyJ, KeyK, KeyL, Semicolon, Quote, Enter,
            ShiftLeft, IntlBackslash, KeyZ, KeyX, KeyC, KeyV, KeyB, KeyN, KeyM, Comma, Period, Slash,
            ShiftRight,
            ControlLeft, MetaLeft, AltLeft, Space, AltRight, MetaRight, ContextMenu, ControlRight,
            Insert, Home, PageUp, Delete, End, PageDown, ArrowUp, ArrowLeft, ArrowDown, ArrowRight,
            NumLock, NumpadDivide, NumpadMultiply, NumpadSubtract, Numpad7, Numpad8, Numpad9, NumpadAdd,
            Numpad4, Numpad5, Numpad6, Numpad1, Numpad2, Numpad3, NumpadEnter, Numpad0, NumpadDecimal,
        ]
    };

    fn set2(self) -> Set2 {
        use KeyCode::*;
        use Set2::{Extended as E, Plain as P};
        match self {
            Escape => P(0x76),
            F1 => P(0x05),
            F2 => P(0x06),
            F3 => P(0x04),
            F4 => P(0x0c),
            F5 => P(0x03),
            F6 => P(0x0b),
            F7 => P(0x83),
            F8 => P(0x0a),
            F9 => P(0x01),
            F10 => P(0x09),
            F11 => P(0x78),
            F12 => P(0x07),
            PrintScreen => Set2::PrintScreen,
            ScrollLock => P(0x7e),
            Pause => Set2::Pause,
            Backquote => P(0x0e),
            Digit1 => P(0x16),
            Digit2 => P(0x1e),
            Digit3 => P(0x26),
            Digit4 => P(0x25),
            Digit5 => P(0x2e),
            Digit6 => P(0x36),
            Digit7 => P(0x3d),
            Digit8 => P(0x3e),
            Digit9 => P(0x46),
            Digit0 => P(0x45),
            Minus => P(0x4e),
            Equal => P(0x55),
            Backspace => P(0x66),
            Tab => P(0x0d),
            KeyQ => P(0x15),
            KeyW => P(0x1d),
            KeyE => P(0x24),
            KeyR => P(0x2d),
            KeyT => P(0x2c),
            KeyY => P(0x35),
            KeyU => P(0x3c),
            KeyI => P(0x43),
            KeyO => P(0x44),
            KeyP => P(0x4d),
            BracketLeft => P(0x54),
            BracketRight => P(0x5b),
            Backslash => P(0x5d),
            CapsLock => P(0x58),
            KeyA => P(0x1c),
            KeyS => P(0x1b),
            KeyD => P(0x23),
            KeyF => P(0x2b),
            KeyG => P(0x34),
            KeyH => P(0x33),
            KeyJ => P(0x3b),
            KeyK => P(0x42),
            KeyL => P(0x4b),
            Semicolon => P(0x4c),
            Quote => P(0x52),
            Enter => P(0x5a),
            ShiftLeft => P(0x12),
            IntlBackslash => P(0x61),
            KeyZ => P(0x1a),
            KeyX => P(0x22),
            KeyC => P(0x21),
            KeyV => P(0x2a),
            KeyB => P(0x32),
            KeyN => P(0x31),
            KeyM => P(0x3a),
            Comma => P(0x41),
            Period => P(0x49),
            Slash => P(0x4a),
            ShiftRight => P(0x59),
            ControlLeft => P(0x14),
            MetaLeft => E(0x1f),
            AltLeft => P(0x11),
            Space => P(0x29),
            AltRight => E(0x11),
            MetaRight => E(0x27),
            ContextMenu => E(0x2f),
            ControlRight => E(0x14),
            Insert => E(0x70),
            Home => E(0x6c),
            PageUp => E(0x7d),
            Delete => E(0x71),
            End => E(0x69),
            PageDown => E(0x7a),
            ArrowUp => E(0x75),
            ArrowLeft => E(0x6b),
            ArrowDown => E(0x72),
            ArrowRight => E(0x74),
            NumLock => P(0x77),
            NumpadDivide => E(0x4a),
            NumpadMultiply => P(0x7c),
            NumpadSubtract => P(0x7b),
            Numpad7 => P(0x6c),
            Numpad8 => P(0x75),
            Numpad9 => P(0x7d),
            NumpadAdd => P(0x79),
            Numpad4 => P(0x6b),
            Numpad5 => P(0x73),
            Numpad6 => P(0x74),
            Numpad1 => P(0x69),
            Numpad2 => P(0x72),
            Numpad3 => P(0x7a),
            NumpadEnter => E(0x5a),
            Numpad0 => P(0x70),
            NumpadDecimal => P(0x71),
        }
    }

    /// The key's make code in scan code set 2.
    pub fn set2_make(self) -> Vec<u8> {
        match self.set2() {
            Set2::Plain(c) => vec![c],
            Set2::Extended(c) => vec![0xe0, c],
            Set2::PrintScreen => vec![0xe0, 0x12, 0xe0, 0x7c],
            Set2::Pause => vec![0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77],
        }
    }

    /// The key's break code in scan code set 2 (empty for Pause, which has none).
    pub fn set2_break(self) -> Vec<u8> {
        match self.set2() {
            Set2::Plain(c) => vec![0xf0, c],
            Set2::Extended(c) => vec![0xe0, 0xf0, c],
            Set2::PrintScreen => vec![0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12],
            Set2::Pause => vec![],
        }
    }
}

/// A key going down or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    Press(KeyCode),
    Release(KeyCode),
}

/// A cloneable, thread-safe way to press keys from another thread (the window). Events reach the
/// keyboard at the controller's next register access or timer check (at least every
/// [`crate::i8042::INPUT_POLL_NS`] of guest time once a handle exists), in order, and wait there
/// while the keyboard's buffer is full: none is lost.
#[derive(Debug, Clone, Default)]
pub struct KeyboardInput(pub(crate) HostQueue<KeyEvent>);

impl KeyboardInput {
    pub fn press(&self, key: KeyCode) {
        self.0.push(KeyEvent::Press(key));
    }
    pub fn release(&self, key: KeyCode) {
        self.0.push(KeyEvent::Release(key));
    }
    /// Presses and releases `key`.
    pub fn tap(&self, key: KeyCode) {
        self.press(key);
        self.release(key);
    }
    /// Whether events wait for the keyboard to pick them up.
    pub fn has_pending(&self) -> bool {
        self.0.has_pending()
    }
}

/// A PS/2 keyboard. See the module documentation.
#[derive(Debug)]
pub struct Ps2Keyboard {
    /// Bytes waiting to go to the controller.
    out: VecDeque<u8>,
    /// A command whose argument byte comes next (0xED, 0xF0, 0xF3).
    awaiting: Option<u8>,
    scanning: bool,
    /// The scan code set in use: 1 or 2.
    set: u8,
    leds: u8,
    typematic: u8,
    /// The last byte sent, for 0xFE.
    last_sent: u8,
    /// Key events from the host not yet turned into scan codes.
    events: VecDeque<KeyEvent>,
    input: KeyboardInput,
}

impl Default for Ps2Keyboard {
    fn default() -> Self {
        Self::new()
    }
}

impl Ps2Keyboard {
    /// A keyboard after power-on: set 2, scanning enabled, nothing to send.
    pub fn new() -> Self {
        Ps2Keyboard {
            out: VecDeque::with_capacity(KBD_BUFFER),
            awaiting: None,
            scanning: true,
            set: 2,
            leds: 0,
            typematic: DEFAULT_TYPEMATIC,
            last_sent: 0,
            events: VecDeque::new(),
            input: KeyboardInput::default(),
        }
    }

    /// The board's RESET: the keyboard as at power-on ([`Ps2Keyboard::new`]), with its bytes
    /// for the controller dropped; the host's input handle and the key events it queued stay.
    pub fn reset(&mut self) {
        let events = std::mem::take(&mut self.events);
        let input = std::mem::take(&mut self.input);
        *self = Ps2Keyboard::new();
        self.events = events;
        self.input = input;
    }

    /// A handle that presses keys from another thread.
    pub fn input_handle(&self) -> KeyboardInput {
        self.input.clone()
    }

    /// Presses `key` (queued: its make code follows the bytes already waiting).
    pub fn press(&mut self, key: KeyCode) {
        self.events.push_back(KeyEvent::Press(key));
        self.pump();
    }

    /// Releases `key`.
    pub fn release(&mut self, key: KeyCode) {
        self.events.push_back(KeyEvent::Release(key));
        self.pump();
    }

    /// The LED byte last set with 0xED: bit 0 ScrollLock, bit 1 NumLock, bit 2 CapsLock.
    pub fn leds(&self) -> u8 {
        self.leds
    }

    /// The scan code set in use (1 or 2).
    pub fn scancode_set(&self) -> u8 {
        self.set
    }

    /// Whether the keyboard is scanning (enabled with 0xF4, disabled with 0xF5).
    pub fn scanning(&self) -> bool {
        self.scanning
    }

    /// The typematic byte last set with 0xF3.
    pub fn typematic(&self) -> u8 {
        self.typematic
    }

    /// Whether the keyboard has something to send, now or once it has picked up queued events.
    pub fn wants_to_send(&self) -> bool {
        !self.out.is_empty() || (self.scanning && !self.events.is_empty())
    }

    /// Whether the host handle holds events not yet picked up.
    pub fn input_pending(&self) -> bool {
        self.input.has_pending()
    }

    /// Picks up events from the handle and turns queued events into scan codes while the buffer
    /// has room for a whole key's code. A keyboard that does not scan loses its keys.
    pub fn pump(&mut self) {
        self.input.0.take_into(&mut self.events);
        if !self.scanning {
            self.events.clear();
            return;
        }
        while let Some(&event) = self.events.front() {
            let codes = match event {
                KeyEvent::Press(k) => k.set2_make(),
                KeyEvent::Release(k) => k.set2_break(),
            };
            let codes = if self.set == 1 { Translator::default().translate_all(&codes) } else { codes };
            if self.out.len() + codes.len() > KBD_BUFFER {
                break;
            }
            self.events.pop_front();
            self.out.extend(codes);
        }
    }

    /// The controller takes the next byte the keyboard sends.
    pub fn pop(&mut self) -> Option<u8> {
        self.pump();
        let b = self.out.pop_front()?;
        self.last_sent = b;
        Some(b)
    }

    fn reply(&mut self, bytes: &[u8]) {
        self.out.extend(bytes);
    }

    fn set_defaults(&mut self) {
        self.set = 2;
        self.typematic = DEFAULT_TYPEMATIC;
        self.leds = 0;
    }

    /// The controller sends a byte to the keyboard (a command or a command's argument).
    pub fn receive(&mut self, byte: u8) {
        if byte == KBD_CMD_RESEND {
            let b = self.last_sent;
            self.out.push_front(b);
            return;
        }
        if let Some(cmd) = self.awaiting.take() {
            if byte < KBD_CMD_SET_LEDS {
                self.argument(cmd, byte);
                return;
            }
            // A command byte where an argument was expected: the new command wins.
        }
        // A command stops the keyboard's output: what it had not sent yet is dropped.
        self.out.clear();
        match byte {
            KBD_CMD_RESET => {
                self.set_defaults();
                self.scanning = true;
                self.events.clear();
                self.reply(&[KBD_ACK, KBD_BAT_OK]);
            }
            KBD_CMD_DEFAULTS => {
                self.set_defaults();
                self.reply(&[KBD_ACK]);
            }
            KBD_CMD_DISABLE => {
                self.set_defaults();
                self.scanning = false;
                self.reply(&[KBD_ACK]);
            }
            KBD_CMD_ENABLE => {
                self.scanning = true;
                self.reply(&[KBD_ACK]);
            }
            KBD_CMD_IDENTIFY => {
                self.reply(&[KBD_ACK]);
                self.reply(&KBD_ID);
            }
            KBD_CMD_ECHO => self.reply(&[KBD_CMD_ECHO]),
            KBD_CMD_SET_LEDS | KBD_CMD_SCANCODE_SET | KBD_CMD_TYPEMATIC => {
                self.awaiting = Some(byte);
                self.reply(&[KBD_ACK]);
            }
            0xf7..=0xfd => self.reply(&[KBD_ACK]), // set 3 key attributes: ignored
            _ => self.reply(&[KBD_RESEND]),
        }
    }

    fn argument(&mut self, cmd: u8, arg: u8) {
        match cmd {
            KBD_CMD_SET_LEDS => {
                self.leds = arg & 0x07;
                self.reply(&[KBD_ACK]);
            }
            KBD_CMD_TYPEMATIC => {
                self.typematic = arg & 0x7f;
                self.reply(&[KBD_ACK]);
            }
            _ => match arg {
                0 => self.reply(&[KBD_ACK, self.set]),
                1 | 2 => {
                    self.set = arg;
                    self.reply(&[KBD_ACK]);
                }
                _ => {
                    self.awaiting = Some(cmd); // not understood: the host may send another
                    self.reply(&[KBD_RESEND]);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(k: &mut Ps2Keyboard) -> Vec<u8> {
        std::iter::from_fn(|| k.pop()).collect()
    }

    #[test]
    fn reset_identify_echo_and_resend() {
        let mut k = Ps2Keyboard::new();
        k.receive(KBD_CMD_RESET);
        assert_eq!(drain(&mut k), [KBD_ACK, KBD_BAT_OK]);
        k.receive(KBD_CMD_IDENTIFY);
        assert_eq!(drain(&mut k), [KBD_ACK, 0xab, 0x83]);
        k.receive(KBD_CMD_ECHO);
        assert_eq!(drain(&mut k), [0xee]);
        k.receive(KBD_CMD_RESEND);
        assert_eq!(drain(&mut k), [0xee]);
        k.receive(0x42);
        assert_eq!(drain(&mut k), [KBD_RESEND]);
    }

    #[test]
    fn leds_typematic_and_scancode_sets() {
        let mut k = Ps2Keyboard::new();
        k.receive(KBD_CMD_SET_LEDS);
        k.receive(0x05);
        assert_eq!(drain(&mut k), [KBD_ACK, KBD_ACK]);
        assert_eq!(k.leds(), 5);
        k.receive(KBD_CMD_TYPEMATIC);
        k.receive(0x20);
        assert_eq!(drain(&mut k), [KBD_ACK, KBD_ACK]);
        assert_eq!(k.typematic(), 0x20);
        k.receive(KBD_CMD_SCANCODE_SET);
        k.receive(0);
        assert_eq!(drain(&mut k), [KBD_ACK, KBD_ACK, 2]);
        k.receive(KBD_CMD_SCANCODE_SET);
        k.receive(3);
        assert_eq!(drain(&mut k), [KBD_ACK, KBD_RESEND]);
        k.receive(1);
        assert_eq!(drain(&mut k), [KBD_ACK]);
        assert_eq!(k.scancode_set(), 1);
        k.press(KeyCode::KeyA);
        k.release(KeyCode::KeyA);
        k.press(KeyCode::ArrowUp);
        assert_eq!(drain(&mut k), [0x1e, 0x9e, 0xe0, 0x48]);
        k.receive(KBD_CMD_DEFAULTS);
        assert_eq!(drain(&mut k), [KBD_ACK]);
        assert_eq!((k.scancode_set(), k.typematic()), (2, DEFAULT_TYPEMATIC));
        // A command where an argument was expected is taken as the command.
        k.receive(KBD_CMD_SET_LEDS);
        k.receive(KBD_CMD_IDENTIFY);
        assert_eq!(drain(&mut k), [KBD_ACK, 0xab, 0x83]);
    }

    #[test]
    fn set2_codes_of_special_keys() {
        assert_eq!(KeyCode::KeyA.set2_make(), [0x1c]);
        assert_eq!(KeyCode::KeyA.set2_break(), [0xf0, 0x1c]);
        assert_eq!(KeyCode::ControlRight.set2_break(), [0xe0, 0xf0, 0x14]);
        assert_eq!(KeyCode::PrintScreen.set2_make(), [0xe0, 0x12, 0xe0, 0x7c]);
        assert_eq!(KeyCode::Pause.set2_make(), [0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77]);
        assert!(KeyCode::Pause.set2_break().is_empty());
        // Every key has its own make code.
        let mut seen = std::collections::HashSet::new();
        for k in KeyCode::ALL {
            assert!(seen.insert(k.set2_make()), "{k:?}");
        }
    }

    #[test]
    fn set1_codes_of_special_keys() {
        let t = |codes: Vec<u8>| Translator::default().translate_all(&codes);
        assert_eq!(t(KeyCode::Pause.set2_make()), [0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5]);
        assert_eq!(t(KeyCode::PrintScreen.set2_make()), [0xe0, 0x2a, 0xe0, 0x37]);
        assert_eq!(t(KeyCode::PrintScreen.set2_break()), [0xe0, 0xb7, 0xe0, 0xaa]);
        assert_eq!(t(KeyCode::F7.set2_make()), [0x41]);
        assert_eq!(t(KeyCode::MetaLeft.set2_make()), [0xe0, 0x5b]);
        assert_eq!(t(KeyCode::NumpadDivide.set2_break()), [0xe0, 0xb5]);
    }

    #[test]
    fn disabled_keyboard_loses_keys_and_a_full_buffer_holds_them_back() {
        let mut k = Ps2Keyboard::new();
        k.receive(KBD_CMD_DISABLE);
        k.press(KeyCode::KeyQ);
        assert_eq!(drain(&mut k), [KBD_ACK]);
        k.receive(KBD_CMD_ENABLE);
        assert_eq!(drain(&mut k), [KBD_ACK]);
        for _ in 0..20 {
            k.press(KeyCode::ArrowDown); // two bytes each: eight fit
        }
        assert_eq!(k.out.len(), KBD_BUFFER);
        let got = drain(&mut k);
        assert_eq!(got.len(), 40);
        assert!(got.chunks(2).all(|c| c == [0xe0, 0x72]));
    }

    #[test]
    fn input_handle_from_another_thread() {
        let mut k = Ps2Keyboard::new();
        let input = k.input_handle();
        std::thread::spawn(move || input.tap(KeyCode::Enter)).join().unwrap();
        assert!(k.input_pending());
        assert_eq!(drain(&mut k), [0x5a, 0xf0, 0x5a]);
        assert!(!k.wants_to_send());
    }

    #[test]
    fn a_board_reset_restores_the_settings_and_keeps_the_host_input() {
        let mut k = Ps2Keyboard::new();
        let input = k.input_handle();
        for b in [KBD_CMD_SET_LEDS, 0x05, KBD_CMD_TYPEMATIC, 0x20, KBD_CMD_SET_LEDS] {
            k.receive(b); // the last one's argument never comes
        }
        // Eight taps: five fit the keyboard's buffer (3 bytes each), three wait as key events.
        for _ in 0..8 {
            input.tap(KeyCode::Enter);
        }
        k.pump();
        assert!(!k.events.is_empty());
        k.reset();
        assert_eq!((k.leds(), k.typematic(), k.scanning()), (0, DEFAULT_TYPEMATIC, true));
        // The buffer's bytes and the pending command are gone (05h is not the LEDs' argument
        // now); the three waiting taps arrive, and the handle still types.
        k.receive(0x05);
        assert_eq!(k.pop(), Some(KBD_RESEND));
        input.tap(KeyCode::Enter);
        assert_eq!(drain(&mut k), [0x5a, 0xf0, 0x5a].repeat(4));
    }
}
