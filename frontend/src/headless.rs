//! Headless runs: the serial console on stdout and stdin, the terminal in raw mode while the
//! guest owns it (Ctrl-A X quits, as with QEMU's `-nographic`), and the serial sink that counts
//! bytes and watches for the `--exit-on` text.

use crate::ui::SerialStats;
use emu_core::{ExitReason, Lines};
use std::io::{Read, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};

/// The escape key of the console: Ctrl-A, then X quits, Ctrl-A sends a Ctrl-A to the guest.
pub const ESCAPE: u8 = 0x01;

/// The serial sink: passes bytes on, counts them, and ends the run when the `--exit-on` text
/// appears.
pub struct SerialTee {
    pub inner: Box<dyn Write + Send>,
    pub stats: Arc<SerialStats>,
    /// The text to watch for, and how much of it has matched so far.
    pub exit_on: Option<(Vec<u8>, usize)>,
    /// Set once the machine exists: the run is stopped through its lines.
    pub lines: Arc<OnceLock<Lines>>,
}

impl Write for SerialTee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.stats.bytes.fetch_add(n as u64, Relaxed);
        if let Some((text, at)) = self.exit_on.as_mut() {
            for &b in &buf[..n] {
                *at = advance(text, *at, b);
                if *at == text.len() {
                    let _ = self.inner.flush();
                    self.stats.matched.store(true, Relaxed);
                    if let Some(lines) = self.lines.get() {
                        lines.request_exit(ExitReason::Stop);
                    }
                    *at = 0;
                }
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One step of a streaming substring match (KMP without the table: texts are short).
fn advance(text: &[u8], mut at: usize, b: u8) -> usize {
    loop {
        if text[at] == b {
            return at + 1;
        }
        if at == 0 {
            return 0;
        }
        // The longest proper prefix of text[..at] that is also its suffix, then retry.
        let seen = &text[..at];
        at = (1..at).rev().find(|&k| seen.ends_with(&text[..k])).unwrap_or(0);
    }
}

/// Whether a file descriptor is a terminal.
pub fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// The terminal settings to put back, for the signal handler.
static SAVED: OnceLock<libc::termios> = OnceLock::new();

/// stdin in raw mode (no echo, no line editing, no signals from keys) until dropped; output
/// processing stays on so the guest's newlines look right.
pub struct RawTerminal(());

impl RawTerminal {
    /// Switches stdin to raw mode if it is a terminal.
    pub fn enable() -> Option<RawTerminal> {
        if !is_tty(0) {
            return None;
        }
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a properly sized termios.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let _ = SAVED.set(t);
            let mut raw = t;
            raw.c_iflag &= !(libc::IGNBRK | libc::BRKINT | libc::ICRNL | libc::INLCR | libc::IXON | libc::ISTRIP);
            raw.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            if libc::tcsetattr(0, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            let handler = restore_and_exit as extern "C" fn(libc::c_int);
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
                libc::signal(sig, handler as libc::sighandler_t);
            }
        }
        Some(RawTerminal(()))
    }
}

fn restore() {
    if let Some(t) = SAVED.get() {
        // SAFETY: restores the settings read by tcgetattr.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, t);
        }
    }
}

extern "C" fn restore_and_exit(sig: libc::c_int) {
    restore();
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + sig) }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        restore();
    }
}

/// Feeds stdin to COM1's receiver from a background thread. With `escape`, Ctrl-A X ends the
/// run (ExitReason::Stop) and Ctrl-A Ctrl-A types one Ctrl-A.
pub fn forward_stdin(input: emu_devices::SerialInput, lines: Lines, escape: bool) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        let mut after_escape = false;
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
            if !escape {
                input.push(&buf[..n]);
                continue;
            }
            let mut out = Vec::with_capacity(n);
            for &b in &buf[..n] {
                if after_escape {
                    after_escape = false;
                    match b {
                        b'x' | b'X' => {
                            input.push(&out);
                            lines.request_exit(ExitReason::Stop);
                            return;
                        }
                        ESCAPE => out.push(ESCAPE),
                        _ => {}
                    }
                } else if b == ESCAPE {
                    after_escape = true;
                } else {
                    out.push(b);
                }
            }
            input.push(&out);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finds(text: &str, stream: &str) -> bool {
        let t = text.as_bytes();
        let mut at = 0;
        stream.bytes().any(|b| {
            at = advance(t, at, b);
            at == t.len()
        })
    }

    #[test]
    fn streaming_match_handles_overlaps() {
        assert!(finds("login:", "Debian\nlogin: "));
        assert!(finds("aab", "aaab"));
        assert!(finds("abab", "ababab"));
        assert!(finds("abac", "ababac"));
        assert!(!finds("abc", "ab ac bc"));
    }
}
