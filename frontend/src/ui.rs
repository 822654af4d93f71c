//! The frontend's side of a run on the emulation thread: frames for the window and the user's
//! commands from it (pause, reset, screenshot, quit), the progress line of headless runs, and
//! `--exit-on`. Polled by [`Machine::run_with`] between slices; never waits for the window.

use crate::exit::Outcome;
use crate::machine::{Host, Machine};
use crate::window::{Command, Frame, WindowLink};
use emu_core::ExitReason;
use emu_devices::mc146818::Mc146818;
use emu_devices::vga::Vga;
use emu_test_roms::demo;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// At most this many frames a second go to the window.
const FRAME_INTERVAL: Duration = Duration::from_millis(16);
/// The guest MIPS shown in the title is measured over this long.
const RATE_INTERVAL: Duration = Duration::from_millis(500);
/// How often the progress line is printed.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// Counters shared with the serial sink (see [`crate::headless::SerialTee`]).
#[derive(Debug, Default)]
pub struct SerialStats {
    /// Bytes the guest wrote to COM1.
    pub bytes: AtomicU64,
    /// The `--exit-on` text has appeared.
    pub matched: AtomicBool,
}

/// The frontend as the run loop sees it.
pub struct Ui {
    pub window: Option<WindowLink>,
    /// Print a progress line on stderr every few seconds.
    pub progress: bool,
    pub serial: Arc<SerialStats>,
    last_frame: Option<Instant>,
    last_generation: u64,
    /// The status the window last took, and when.
    last_status: String,
    last_status_at: Option<Instant>,
    rate_at: Instant,
    rate_icount: u64,
    mips: f64,
    progress_at: Instant,
    progress_icount: u64,
    started: Instant,
}

impl Ui {
    pub fn new(window: Option<WindowLink>, progress: bool, serial: Arc<SerialStats>) -> Ui {
        let now = Instant::now();
        Ui {
            window,
            progress,
            serial,
            last_frame: None,
            last_generation: u64::MAX,
            last_status: String::new(),
            last_status_at: None,
            rate_at: now,
            rate_icount: 0,
            mips: 0.0,
            progress_at: now,
            progress_icount: 0,
            started: now,
        }
    }

    fn status(&self, m: &Machine) -> String {
        let state = if m.cpu.s.halted { "halted" } else { "running" };
        format!("{state}, {:.1} MIPS", self.mips)
    }

    /// Offers the screen to the window if it changed (or `force`), at most ~60 times a second,
    /// and the status for the title when it changed (at most every [`RATE_INTERVAL`]). What the
    /// window does not take (still busy with the last frame) is offered again next time.
    fn offer_frame(&mut self, m: &mut Machine, now: Instant, force: bool) {
        if self.window.is_none() || self.last_frame.is_some_and(|t| now - t < FRAME_INTERVAL) {
            return;
        }
        let generation = m.cpu.sys.device_mut::<Vga>(m.pc.vga).map_or(0, |v| v.generation());
        let changed = generation != self.last_generation || force;
        let status = self.status(m);
        let title_due = status != self.last_status && self.last_status_at.is_none_or(|t| now - t >= RATE_INTERVAL);
        if !changed && !title_due {
            return;
        }
        let fb = changed.then(|| m.screen());
        if let Some(w) = &self.window {
            if w.offer(Frame { fb, status: status.clone() }) {
                self.last_frame = Some(now);
                self.last_status = status;
                self.last_status_at = Some(now);
                if changed {
                    self.last_generation = generation;
                }
            }
        }
    }

    /// Carries out a command; `Some` ends the run.
    fn command(&mut self, m: &mut Machine, c: Command) -> Option<Outcome> {
        match c {
            Command::Quit => return Some(Outcome::Stopped),
            Command::Reset => m.cpu.sys.lines.request_reset(),
            Command::Screenshot => screenshot(m),
            Command::Pause | Command::Resume => {}
        }
        None
    }

    /// While paused: the window stays alive, the CPU does not run.
    fn paused(&mut self, m: &mut Machine) -> Option<Outcome> {
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let Some(c) = self.window.as_ref().and_then(WindowLink::command) else {
                self.offer_frame(m, Instant::now(), false);
                continue;
            };
            match c {
                Command::Resume => {
                    self.rate_at = Instant::now();
                    self.rate_icount = m.cpu.s.icount;
                    return None;
                }
                c => {
                    if let Some(o) = self.command(m, c) {
                        return Some(o);
                    }
                    self.offer_frame(m, Instant::now(), true);
                }
            }
        }
    }
}

impl Host for Ui {
    fn poll(&mut self, m: &mut Machine) -> Option<Outcome> {
        if self.serial.matched.load(Relaxed) || m.cpu.sys.lines.exit() == Some(ExitReason::Stop) {
            return Some(Outcome::Stopped);
        }
        let now = Instant::now();
        if now - self.rate_at >= RATE_INTERVAL {
            let secs = (now - self.rate_at).as_secs_f64();
            self.mips = (m.cpu.s.icount - self.rate_icount) as f64 / secs / 1e6;
            self.rate_at = now;
            self.rate_icount = m.cpu.s.icount;
        }
        if self.progress && now - self.progress_at >= PROGRESS_INTERVAL {
            let secs = (now - self.progress_at).as_secs_f64();
            let mips = (m.cpu.s.icount - self.progress_icount) as f64 / secs / 1e6;
            eprintln!(
                "emu: {:.1} s host, {:.1} s guest time, {mips:.1} MIPS, {} serial bytes",
                (now - self.started).as_secs_f64(),
                m.cpu.sys.clock.now() as f64 / 1e9,
                self.serial.bytes.load(Relaxed)
            );
            self.progress_at = now;
            self.progress_icount = m.cpu.s.icount;
        }
        if self.window.is_some() {
            self.offer_frame(m, now, false);
            while let Some(c) = self.window.as_ref().and_then(WindowLink::command) {
                if c == Command::Pause {
                    self.offer_frame(m, now, true);
                    if let Some(o) = self.paused(m) {
                        return Some(o);
                    }
                } else if let Some(o) = self.command(m, c) {
                    return Some(o);
                }
            }
        }
        None
    }
}

/// Tells the demo ROM that someone is watching, so that it keeps running and echoes keys
/// instead of switching the machine off (see [`emu_test_roms::demo`]).
pub fn make_demo_interactive(m: &mut Machine) {
    if let Some(rtc) = m.cpu.sys.device_mut::<Mc146818>(m.pc.input.rtc) {
        rtc.set_nvram(demo::INTERACTIVE_NVRAM_INDEX, demo::INTERACTIVE);
    }
}

/// Saves the screen as the first free `emu-screenshot-N.png` in the current directory.
pub fn screenshot(m: &mut Machine) {
    let path = (1..)
        .map(|n| PathBuf::from(format!("emu-screenshot-{n}.png")))
        .find(|p| !p.exists())
        .expect("some screenshot name is free");
    match emu_devices::save_png(&m.screen(), &path) {
        Ok(()) => eprintln!("emu: screenshot saved to {}", path.display()),
        Err(e) => eprintln!("emu: screenshot '{}' cannot be written: {e}", path.display()),
    }
}
