//! The window: the guest's screen in a minifb window on its own thread, keyboard and mouse input
//! turned into PS/2 events, and the user's commands (pause, reset, screenshot, quit).
//!
//! The emulation thread never waits for the window: it offers a frame when the VGA changed
//! (at most ~60 times a second) through a channel of depth one, dropping it if the window is
//! still busy with the previous one. Keys go straight to the thread-safe PS/2 keyboard handle;
//! commands come back through a channel the run loop polls between slices. (std's mpsc channels
//! are crossbeam's algorithm since Rust 1.67, so no crossbeam dependency is needed.)
//!
//! The window opens at the text mode's 720×400 and can be resized; the guest's screen is scaled
//! to fit with its aspect kept (black bars), also when the guest changes resolution.
//!
//! Keys reach the guest through minifb's input callback, which sees every X key press and
//! release in order, so a key pressed and released between two frames is not lost (polling the
//! key state once a frame would lose it). Host auto-repeat sends the make code again, as a held
//! PS/2 key does. Keys held when the window loses the focus are released. minifb's X11 backend
//! maps keys by their unshifted keysym, so the host layout should be US for the guest to see the
//! keys where they are; it does not report PrintScreen nor the ISO key beside left Shift.
//!
//! Keys (with Ctrl+Alt held): G grabs or releases the mouse, P pauses or resumes, R resets,
//! S saves a screenshot, Q quits. The command key itself never reaches the guest (Ctrl and Alt
//! do). While grabbed, the host pointer is hidden, confined to the window (X11 pointer grab, so
//! clicks cannot reach other windows) and put back in the window's centre every frame; its motion
//! away from the centre, in window pixels, becomes PS/2 mouse movement, so it never runs out at
//! the screen's edge. minifb offers no grab, so [`X11Pointer`] asks Xlib directly; without it
//! (another backend) motion is measured between frames and stops at the screen's edge. Losing the
//! focus releases the grab. Buttons are a state minifb samples once a frame, so a click shorter
//! than a frame (~16 ms) can be missed.

use emu_devices::ps2_keyboard::{KeyCode, KeyboardInput};
use emu_devices::ps2_mouse::MouseInput;
use emu_devices::vga::Framebuffer;
use minifb::{InputCallback, Key, MouseButton, MouseMode, Scale, ScaleMode, Window, WindowOptions};
use raw_window_handle::{HasDisplayHandle, HasWindowHandle, RawDisplayHandle, RawWindowHandle};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

/// The window's size before the guest shows anything: the VGA text mode's.
const INITIAL_SIZE: (usize, usize) = (720, 400);

/// What the window asks of the run loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Pause,
    Resume,
    Reset,
    Screenshot,
    Quit,
}

/// A new screen (if it changed) and the status to show in the title.
pub struct Frame {
    pub fb: Option<Framebuffer>,
    pub status: String,
}

/// The emulation thread's side of the window.
pub struct WindowLink {
    frames: SyncSender<Frame>,
    commands: Receiver<Command>,
    thread: Option<JoinHandle<()>>,
}

impl WindowLink {
    /// Offers a frame; dropped if the window has not taken the last one yet. Returns whether
    /// the window took it.
    pub fn offer(&self, frame: Frame) -> bool {
        self.frames.try_send(frame).is_ok()
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
            let mut window = match Window::new(&title, INITIAL_SIZE.0, INITIAL_SIZE.1, opts) {
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
            let keys = Rc::new(RefCell::new(KeyRouter::new(keyboard)));
            window.set_input_callback(Box::new(KeyCallback(keys.clone())));
            run_window(&mut window, &title, frame_rx, cmd_tx, &keys, mouse);
        })
        .map_err(|e| e.to_string())?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(WindowLink { frames: frame_tx, commands: cmd_rx, thread: Some(thread) }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the window thread ended".into()),
    }
}

/// Turns the window's key events into PS/2 key presses, and Ctrl+Alt combinations into
/// commands.
struct KeyRouter {
    keyboard: KeyboardInput,
    /// Keys the guest has seen go down and not yet up, in the order they went down.
    held: Vec<Key>,
    /// Command keys pressed with Ctrl+Alt and not yet released: their repeats and release are
    /// swallowed too.
    swallowed: Vec<Key>,
    /// Commands keys pressed, for the window loop to act on.
    commands: Vec<Key>,
}

impl KeyRouter {
    fn new(keyboard: KeyboardInput) -> Self {
        KeyRouter { keyboard, held: Vec::new(), swallowed: Vec::new(), commands: Vec::new() }
    }

    fn ctrl_alt(&self) -> bool {
        let down = |a: Key, b: Key| self.held.contains(&a) || self.held.contains(&b);
        down(Key::LeftCtrl, Key::RightCtrl) && down(Key::LeftAlt, Key::RightAlt)
    }

    fn key(&mut self, key: Key, down: bool) {
        if down {
            if self.swallowed.contains(&key) {
                return;
            }
            if self.ctrl_alt() && is_command_key(key) {
                self.swallowed.push(key);
                self.commands.push(key);
                return;
            }
            let Some(code) = key_code(key) else { return };
            if !self.held.contains(&key) {
                self.held.push(key);
            }
            // Again for a host auto-repeat: a held PS/2 key repeats its make code.
            self.keyboard.press(code);
        } else if let Some(i) = self.swallowed.iter().position(|&k| k == key) {
            self.swallowed.remove(i);
        } else if let Some(i) = self.held.iter().position(|&k| k == key) {
            self.held.remove(i);
            if let Some(code) = key_code(key) {
                self.keyboard.release(code);
            }
        }
    }

    /// Releases every key the guest sees held (the window lost the focus, so their releases
    /// will not come).
    fn release_all(&mut self) {
        for key in self.held.drain(..).rev() {
            if let Some(code) = key_code(key) {
                self.keyboard.release(code);
            }
        }
        self.swallowed.clear();
    }
}

/// minifb's input callback: a shared handle on the router, which the window loop also uses.
struct KeyCallback(Rc<RefCell<KeyRouter>>);

impl InputCallback for KeyCallback {
    fn add_char(&mut self, _: u32) {}

    fn set_key_state(&mut self, key: Key, down: bool) {
        self.0.borrow_mut().key(key, down);
    }
}

/// The X11 pointer grab minifb does not offer, through Xlib on minifb's own display
/// connection: confine the pointer to the window and warp it.
struct X11Pointer {
    xlib: x11_dl::xlib::Xlib,
    display: *mut x11_dl::xlib::Display,
    window: x11_dl::xlib::Window,
}

impl X11Pointer {
    /// The window's X11 display and id, if minifb runs on X11 and libX11 loads.
    fn of(window: &Window) -> Option<X11Pointer> {
        let RawWindowHandle::Xlib(w) = window.window_handle().ok()?.as_raw() else { return None };
        let RawDisplayHandle::Xlib(d) = window.display_handle().ok()?.as_raw() else { return None };
        let display = d.display?.as_ptr().cast();
        let xlib = x11_dl::xlib::Xlib::open().ok()?;
        Some(X11Pointer { xlib, display, window: w.window })
    }

    /// Confines the pointer to the window; false if the server refused (e.g. another client
    /// holds a grab).
    fn grab(&self) -> bool {
        use x11_dl::xlib;
        let events = xlib::ButtonPressMask | xlib::ButtonReleaseMask | xlib::PointerMotionMask;
        // SAFETY: `display` is minifb's open connection and `window` its window, both alive as
        // long as the minifb window this was made from, which outlives this value (run_window);
        // all calls happen on the window's thread, as minifb's own do.
        let status = unsafe {
            (self.xlib.XGrabPointer)(
                self.display,
                self.window,
                xlib::True,
                events as u32,
                xlib::GrabModeAsync,
                xlib::GrabModeAsync,
                self.window,
                0,
                xlib::CurrentTime,
            )
        };
        status == xlib::GrabSuccess
    }

    /// Moves the pointer to (x, y) in the window.
    fn warp(&self, x: i32, y: i32) {
        // SAFETY: as in `grab`.
        unsafe {
            (self.xlib.XWarpPointer)(self.display, 0, self.window, 0, 0, 0, 0, x, y);
            (self.xlib.XFlush)(self.display);
        }
    }

    fn ungrab(&self) {
        // SAFETY: as in `grab`.
        unsafe {
            (self.xlib.XUngrabPointer)(self.display, x11_dl::xlib::CurrentTime);
            (self.xlib.XFlush)(self.display);
        }
    }
}

/// Mouse motion and buttons while the mouse is grabbed.
#[derive(Default)]
struct MouseGrab {
    grabbed: bool,
    /// The X11 grab, while it holds: the pointer is confined and goes back to the centre.
    x11: Option<X11Pointer>,
    /// Without the X11 grab: where the pointer was at the last frame.
    last: Option<(f32, f32)>,
    /// The pointer was just warped: minifb's position is from before, so this frame's is stale.
    warped: bool,
    buttons: (bool, bool, bool),
}

impl MouseGrab {
    fn toggle(&mut self, window: &mut Window, mouse: &MouseInput) {
        if self.grabbed {
            self.release(window, mouse);
            return;
        }
        self.grabbed = true;
        window.set_cursor_visibility(false);
        self.last = None;
        self.x11 = X11Pointer::of(window).filter(X11Pointer::grab);
        if let Some(x11) = &self.x11 {
            let (w, h) = window.get_size();
            x11.warp(w as i32 / 2, h as i32 / 2);
            self.warped = true;
        }
    }

    fn release(&mut self, window: &mut Window, mouse: &MouseInput) {
        if let Some(x11) = self.x11.take() {
            x11.ungrab();
        }
        self.grabbed = false;
        window.set_cursor_visibility(true);
        if self.buttons != (false, false, false) {
            self.buttons = (false, false, false);
            mouse.buttons(false, false, false);
        }
    }

    fn poll(&mut self, window: &Window, mouse: &MouseInput) {
        if !self.grabbed {
            return;
        }
        if std::mem::take(&mut self.warped) {
            return;
        }
        if let Some((x, y)) = window.get_unscaled_mouse_pos(MouseMode::Pass) {
            let wheel = window.get_scroll_wheel().map_or(0, |(_, w)| -(w.signum() as i32));
            let (w, h) = window.get_size();
            let (cx, cy) = ((w / 2) as f32, (h / 2) as f32);
            let from = if self.x11.is_some() { Some((cx, cy)) } else { self.last };
            if let Some((lx, ly)) = from {
                // Screen y grows downwards, PS/2 y upwards: the device model flips it.
                let (dx, dy) = ((x - lx).round() as i32, (y - ly).round() as i32);
                if dx != 0 || dy != 0 || wheel != 0 {
                    mouse.move_by(dx, dy, wheel);
                }
                if let Some(x11) = self.x11.as_ref().filter(|_| dx != 0 || dy != 0) {
                    x11.warp(cx as i32, cy as i32);
                }
            }
            self.last = Some((x, y));
        }
        let buttons = (
            window.get_mouse_down(MouseButton::Left),
            window.get_mouse_down(MouseButton::Right),
            window.get_mouse_down(MouseButton::Middle),
        );
        if buttons != self.buttons {
            mouse.buttons(buttons.0, buttons.1, buttons.2);
            self.buttons = buttons;
        }
    }
}

fn run_window(
    window: &mut Window,
    title: &str,
    frames: Receiver<Frame>,
    commands: mpsc::Sender<Command>,
    keys: &Rc<RefCell<KeyRouter>>,
    mouse: MouseInput,
) {
    let mut buffer: Vec<u32> = vec![0; INITIAL_SIZE.0 * INITIAL_SIZE.1];
    let (mut width, mut height) = INITIAL_SIZE;
    let mut status = String::from("starting");
    let mut shown_title = String::new();
    let mut paused = false;
    let mut grab = MouseGrab::default();
    let mut active = window.is_active();
    while window.is_open() {
        match frames.try_recv() {
            Ok(frame) => {
                if let Some(fb) = frame.fb.filter(|fb| fb.width > 0 && fb.height > 0) {
                    (width, height) = (fb.width, fb.height);
                    buffer.clear();
                    // The VGA renders 0xRRGGBBAA; minifb wants 0x00RRGGBB.
                    buffer.extend(fb.pixels.iter().map(|p| p >> 8));
                }
                status = frame.status;
            }
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {}
        }
        // Key events arrive (through the callback) during this call.
        if buffer.len() == width * height {
            if window.update_with_buffer(&buffer, width, height).is_err() {
                return;
            }
        } else {
            window.update();
        }

        let pressed: Vec<Key> = std::mem::take(&mut keys.borrow_mut().commands);
        for key in pressed {
            let cmd = match key {
                Key::G => {
                    grab.toggle(window, &mouse);
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
            if let Some(c) = cmd {
                if commands.send(c).is_err() {
                    return;
                }
            }
        }
        let now_active = window.is_active();
        if active && !now_active {
            keys.borrow_mut().release_all();
            if grab.grabbed {
                grab.release(window, &mouse);
            }
        }
        active = now_active;
        grab.poll(window, &mouse);

        let t = window_title(title, &status, paused, grab.grabbed);
        if t != shown_title {
            window.set_title(&t);
            shown_title = t;
        }
    }
    let _ = commands.send(Command::Quit);
}

fn is_command_key(k: Key) -> bool {
    matches!(k, Key::G | Key::P | Key::R | Key::S | Key::Q)
}

/// The title: the machine's state and speed, and how to leave a pause or a grab.
fn window_title(title: &str, status: &str, paused: bool, grabbed: bool) -> String {
    let state = if paused { "paused (Ctrl+Alt+P resumes)" } else { status };
    let grab = if grabbed { " - mouse grabbed, Ctrl+Alt+G releases" } else { "" };
    format!("{title} - {state}{grab}")
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

#[cfg(test)]
mod tests {
    use super::*;
    use emu_devices::ps2_keyboard::Ps2Keyboard;

    /// A router on a real PS/2 keyboard; `bytes` drains what the guest would receive (set 2).
    fn router() -> (KeyRouter, Ps2Keyboard) {
        let kbd = Ps2Keyboard::new();
        (KeyRouter::new(kbd.input_handle()), kbd)
    }

    fn bytes(kbd: &mut Ps2Keyboard) -> Vec<u8> {
        std::iter::from_fn(|| kbd.pop()).collect()
    }

    #[test]
    fn ctrl_alt_command_keys_become_commands_and_never_reach_the_guest() {
        let (mut r, mut kbd) = router();
        for (key, down) in [
            (Key::LeftCtrl, true),
            (Key::LeftAlt, true),
            (Key::G, true),
            (Key::G, true), // auto-repeat: still one command
            (Key::G, false),
            (Key::LeftAlt, false),
            (Key::LeftCtrl, false),
        ] {
            r.key(key, down);
        }
        assert_eq!(r.commands, [Key::G]);
        assert_eq!(bytes(&mut kbd), [0x14, 0x11, 0xf0, 0x11, 0xf0, 0x14]);
        // Without Ctrl+Alt, G is a key like any other.
        r.key(Key::G, true);
        r.key(Key::G, false);
        assert_eq!(bytes(&mut kbd), [0x34, 0xf0, 0x34]);
        assert_eq!(r.commands, [Key::G]);
    }

    #[test]
    fn repeats_send_the_make_code_again_and_focus_loss_releases_held_keys() {
        let (mut r, mut kbd) = router();
        r.key(Key::A, true);
        r.key(Key::A, true);
        r.key(Key::LeftShift, true);
        r.key(Key::Up, true);
        assert_eq!(bytes(&mut kbd), [0x1c, 0x1c, 0x12, 0xe0, 0x75]);
        r.release_all();
        assert_eq!(bytes(&mut kbd), [0xe0, 0xf0, 0x75, 0xf0, 0x12, 0xf0, 0x1c]);
        // Their real releases, arriving later, are not sent twice.
        r.key(Key::A, false);
        r.key(Key::LeftShift, false);
        assert_eq!(bytes(&mut kbd), [] as [u8; 0]);
    }

    #[test]
    fn the_title_shows_state_pause_and_grab() {
        assert_eq!(window_title("emu", "running, 12.5 MIPS", false, false), "emu - running, 12.5 MIPS");
        assert_eq!(window_title("emu", "running, 12.5 MIPS", true, false), "emu - paused (Ctrl+Alt+P resumes)");
        assert_eq!(
            window_title("emu", "halted, 0.0 MIPS", false, true),
            "emu - halted, 0.0 MIPS - mouse grabbed, Ctrl+Alt+G releases"
        );
    }
}
