//! The window: the guest's screen in a minifb window on its own thread, keyboard and mouse input
//! turned into PS/2 events, and the user's commands (pause, reset, screenshot, quit).
//!
//! The emulation thread never waits for the window: it offers a frame when the VGA changed
//! (at most ~60 times a second) through a channel of depth one, dropping it if the window is
//! still busy with the previous one. Keys go straight to the thread-safe PS/2 keyboard handle;
//! commands come back through a channel the run loop polls between slices.
//!
//! Keys (with Ctrl+Alt held): G grabs or releases the mouse, P pauses or resumes, R resets,
//! S saves a screenshot, Q quits.

use emu_devices::ps2_keyboard::{KeyCode, KeyboardInput};
use emu_devices::ps2_mouse::MouseInput;
use emu_devices::vga::Framebuffer;
use minifb::{Key, KeyRepeat, MouseButton, MouseMode, Scale, ScaleMode, Window, WindowOptions};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

/// What the window asks of the run loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Pause,
    Resume,
    Reset,
    Screenshot,
    Quit,
}

/// A frame and the status to show in the title.
pub struct Frame {
    pub fb: Framebuffer,
    pub status: String,
}

/// The emulation thread's side of the window.
pub struct WindowLink {
    frames: SyncSender<Frame>,
    commands: Receiver<Command>,
    thread: Option<JoinHandle<()>>,
}

impl WindowLink {
    /// Offers a frame; dropped if the window has not taken the last one yet.
    pub fn offer(&self, frame: Frame) {
        let _ = self.frames.try_send(frame);
    }

    /// The next command from the user, if any.
    pub fn command(&self) -> Option<Command> {
        match self.commands.try_recv() {
            Ok(c) => Some(c),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Command::Quit),
        }
    }
}

impl Drop for WindowLink {
    fn drop(&mut self) {
        // Closing the frame channel ends the window thread.
        let (dead, _) = mpsc::sync_channel(1);
        self.frames = dead;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens the window. Fails (with minifb's reason) when there is no display.
pub fn open(title: &str, keyboard: KeyboardInput, mouse: MouseInput) -> Result<WindowLink, String> {
    let (frame_tx, frame_rx) = mpsc::sync_channel::<Frame>(1);
    let (cmd_tx, cmd_rx) = mpsc::channel::<Command>();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let title = title.to_string();
    let thread = std::thread::Builder::new()
        .name("emu-window".into())
        .spawn(move || {
            let opts = WindowOptions {
                resize: true,
                scale: Scale::X1,
                scale_mode: ScaleMode::AspectRatioStretch,
                ..Default::default()
            };
            let mut window = match Window::new(&title, 720, 400, opts) {
                Ok(w) => {
                    let _ = ready_tx.send(Ok(()));
                    w
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            window.set_target_fps(60);
            run_window(&mut window, &title, frame_rx, cmd_tx, keyboard, mouse);
        })
        .map_err(|e| e.to_string())?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(WindowLink { frames: frame_tx, commands: cmd_rx, thread: Some(thread) }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the window thread ended".into()),
    }
}

fn run_window(
    window: &mut Window,
    title: &str,
    frames: Receiver<Frame>,
    commands: mpsc::Sender<Command>,
    keyboard: KeyboardInput,
    mouse: MouseInput,
) {
    let mut buffer: Vec<u32> = vec![0; 720 * 400];
    let (mut width, mut height) = (720usize, 400usize);
    // Keys the guest has seen pressed (and not yet released).
    let mut held: Vec<Key> = Vec::new();
    let mut status = String::from("starting");
    let mut grabbed = false;
    let mut paused = false;
    let mut last_mouse: Option<(f32, f32)> = None;
    let mut last_buttons = (false, false, false);
    while window.is_open() {
        match frames.try_recv() {
            Ok(frame) => {
                (width, height) = (frame.fb.width.max(1), frame.fb.height.max(1));
                buffer.clear();
                // The VGA renders 0xRRGGBBAA; minifb wants 0x00RRGGBB.
                buffer.extend(frame.fb.pixels.iter().map(|p| p >> 8));
                status = frame.status;
                set_title(window, title, &status, paused, grabbed);
            }
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {}
        }
        if buffer.len() == width * height {
            if window.update_with_buffer(&buffer, width, height).is_err() {
                return;
            }
        } else {
            window.update();
        }

        let ctrl_alt = (window.is_key_down(Key::LeftCtrl) || window.is_key_down(Key::RightCtrl))
            && (window.is_key_down(Key::LeftAlt) || window.is_key_down(Key::RightAlt));
        if ctrl_alt {
            for key in window.get_keys_pressed(KeyRepeat::No) {
                let cmd = match key {
                    Key::G => {
                        grabbed = !grabbed;
                        window.set_cursor_visibility(!grabbed);
                        last_mouse = None;
                        None
                    }
                    Key::P => {
                        paused = !paused;
                        Some(if paused { Command::Pause } else { Command::Resume })
                    }
                    Key::R => Some(Command::Reset),
                    Key::S => Some(Command::Screenshot),
                    Key::Q => Some(Command::Quit),
                    _ => None,
                };
                set_title(window, title, &status, paused, grabbed);
                if let Some(c) = cmd {
                    if commands.send(c).is_err() {
                        return;
                    }
                }
            }
        }
        // Keys to the guest: presses and releases by comparing with the keys held before.
        // A command key (with Ctrl+Alt) never reaches the guest, nor does its release.
        let now: Vec<Key> = window.get_keys();
        for k in &now {
            if !held.contains(k) && !(ctrl_alt && is_command_key(*k)) {
                if let Some(code) = key_code(*k) {
                    keyboard.press(code);
                    held.push(*k);
                }
            }
        }
        held.retain(|k| {
            let still = now.contains(k);
            if !still {
                if let Some(code) = key_code(*k) {
                    keyboard.release(code);
                }
            }
            still
        });

        if grabbed {
            if let Some((x, y)) = window.get_unscaled_mouse_pos(MouseMode::Pass) {
                if let Some((lx, ly)) = last_mouse {
                    let (dx, dy) = ((x - lx) as i32, (y - ly) as i32);
                    let wheel = window.get_scroll_wheel().map_or(0, |(_, w)| -(w.signum() as i32));
                    if dx != 0 || dy != 0 || wheel != 0 {
                        mouse.move_by(dx, dy, wheel);
                    }
                }
                last_mouse = Some((x, y));
            }
            let buttons = (
                window.get_mouse_down(MouseButton::Left),
                window.get_mouse_down(MouseButton::Right),
                window.get_mouse_down(MouseButton::Middle),
            );
            if buttons != last_buttons {
                mouse.buttons(buttons.0, buttons.1, buttons.2);
                last_buttons = buttons;
            }
        }
    }
    let _ = commands.send(Command::Quit);
}

fn is_command_key(k: Key) -> bool {
    matches!(k, Key::G | Key::P | Key::R | Key::S | Key::Q)
}

fn set_title(window: &mut Window, title: &str, status: &str, paused: bool, grabbed: bool) {
    let state = if paused { "paused (Ctrl+Alt+P resumes)" } else { status };
    let grab = if grabbed { " - mouse grabbed, Ctrl+Alt+G releases" } else { "" };
    window.set_title(&format!("{title} - {state}{grab}"));
}

/// The PC key for a minifb key.
pub fn key_code(k: Key) -> Option<KeyCode> {
    use KeyCode as C;
    Some(match k {
        Key::Key0 => C::Digit0,
        Key::Key1 => C::Digit1,
        Key::Key2 => C::Digit2,
        Key::Key3 => C::Digit3,
        Key::Key4 => C::Digit4,
        Key::Key5 => C::Digit5,
        Key::Key6 => C::Digit6,
        Key::Key7 => C::Digit7,
        Key::Key8 => C::Digit8,
        Key::Key9 => C::Digit9,
        Key::A => C::KeyA,
        Key::B => C::KeyB,
        Key::C => C::KeyC,
        Key::D => C::KeyD,
        Key::E => C::KeyE,
        Key::F => C::KeyF,
        Key::G => C::KeyG,
        Key::H => C::KeyH,
        Key::I => C::KeyI,
        Key::J => C::KeyJ,
        Key::K => C::KeyK,
        Key::L => C::KeyL,
        Key::M => C::KeyM,
        Key::N => C::KeyN,
        Key::O => C::KeyO,
        Key::P => C::KeyP,
        Key::Q => C::KeyQ,
        Key::R => C::KeyR,
        Key::S => C::KeyS,
        Key::T => C::KeyT,
        Key::U => C::KeyU,
        Key::V => C::KeyV,
        Key::W => C::KeyW,
        Key::X => C::KeyX,
        Key::Y => C::KeyY,
        Key::Z => C::KeyZ,
        Key::F1 => C::F1,
        Key::F2 => C::F2,
        Key::F3 => C::F3,
        Key::F4 => C::F4,
        Key::F5 => C::F5,
        Key::F6 => C::F6,
        Key::F7 => C::F7,
        Key::F8 => C::F8,
        Key::F9 => C::F9,
        Key::F10 => C::F10,
        Key::F11 => C::F11,
        Key::F12 => C::F12,
        Key::Down => C::ArrowDown,
        Key::Left => C::ArrowLeft,
        Key::Right => C::ArrowRight,
        Key::Up => C::ArrowUp,
        Key::Apostrophe => C::Quote,
        Key::Backquote => C::Backquote,
        Key::Backslash => C::Backslash,
        Key::Comma => C::Comma,
        Key::Equal => C::Equal,
        Key::LeftBracket => C::BracketLeft,
        Key::Minus => C::Minus,
        Key::Period => C::Period,
        Key::RightBracket => C::BracketRight,
        Key::Semicolon => C::Semicolon,
        Key::Slash => C::Slash,
        Key::Backspace => C::Backspace,
        Key::Delete => C::Delete,
        Key::End => C::End,
        Key::Enter => C::Enter,
        Key::Escape => C::Escape,
        Key::Home => C::Home,
        Key::Insert => C::Insert,
        Key::Menu => C::ContextMenu,
        Key::PageDown => C::PageDown,
        Key::PageUp => C::PageUp,
        Key::Pause => C::Pause,
        Key::Space => C::Space,
        Key::Tab => C::Tab,
        Key::NumLock => C::NumLock,
        Key::CapsLock => C::CapsLock,
        Key::ScrollLock => C::ScrollLock,
        Key::LeftShift => C::ShiftLeft,
        Key::RightShift => C::ShiftRight,
        Key::LeftCtrl => C::ControlLeft,
        Key::RightCtrl => C::ControlRight,
        Key::NumPad0 => C::Numpad0,
        Key::NumPad1 => C::Numpad1,
        Key::NumPad2 => C::Numpad2,
        Key::NumPad3 => C::Numpad3,
        Key::NumPad4 => C::Numpad4,
        Key::NumPad5 => C::Numpad5,
        Key::NumPad6 => C::Numpad6,
        Key::NumPad7 => C::Numpad7,
        Key::NumPad8 => C::Numpad8,
        Key::NumPad9 => C::Numpad9,
        Key::NumPadDot => C::NumpadDecimal,
        Key::NumPadSlash => C::NumpadDivide,
        Key::NumPadAsterisk => C::NumpadMultiply,
        Key::NumPadMinus => C::NumpadSubtract,
        Key::NumPadPlus => C::NumpadAdd,
        Key::NumPadEnter => C::NumpadEnter,
        Key::LeftAlt => C::AltLeft,
        Key::RightAlt => C::AltRight,
        Key::LeftSuper => C::MetaLeft,
        Key::RightSuper => C::MetaRight,
        _ => return None,
    })
}
