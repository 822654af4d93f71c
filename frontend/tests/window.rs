//! The window on a real X server: Debian's Xvfb, driven by xdotool and photographed by
//! imagemagick's `import`. emu boots the embedded demo, which in a window echoes typed keys on the
//! screen and COM1 and shows the PS/2 mouse; the tests type (shifted and extended keys too),
//! grab the mouse and click, and compare what the window shows with the guest's framebuffer as
//! emu saves it. Missing tools skip the tests, or fail them in CI (`CI=true`).

use emu_devices::vga::{decode_png, Framebuffer};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long anything may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(30);

fn tools_present() -> bool {
    use emu_test_roms::debian::require_tool;
    require_tool("Xvfb", "xvfb") && require_tool("xdotool", "xdotool") && require_tool("import", "imagemagick")
}

/// A child process killed (and reaped) when the test ends, passing or not.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An Xvfb server on a display number it picks itself (`-displayfd`), so parallel tests and other
/// X servers on the machine never collide.
struct Xvfb {
    _server: Reaped,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp", "-noreset"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let stdout = child.stdout.take().expect("Xvfb's stdout");
        let server = Reaped(child);
        // Xvfb writes its display number once it accepts connections.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(PATIENCE).expect("Xvfb reports its display number");
        let number: u32 = line.trim().parse().unwrap_or_else(|_| panic!("Xvfb's display number: {line:?}"));
        Xvfb { _server: server, display: format!(":{number}") }
    }

    /// Runs an X client (xdotool, import) on this display; its stdout on success.
    fn run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new(program)
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .map_err(|e| format!("{program} does not run: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    fn xdotool(&self, args: &[&str]) -> String {
        self.run("xdotool", args).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// emu on the demo, in a window on `x`, with COM1 and stderr in files in `dir` (also its working
/// directory, where Ctrl+Alt+S saves screenshots).
struct Emu {
    process: Reaped,
    dir: PathBuf,
    window: String,
}

impl Emu {
    fn start(x: &Xvfb, name: &str) -> Emu {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("window").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_emu"))
            .args(["--serial", "file:serial.txt", "--screenshot", "exit.png", "--timeout", "120"])
            .current_dir(&dir)
            .env("DISPLAY", &x.display)
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.txt")).unwrap())
            .spawn()
            .expect("emu starts");
        let mut emu = Emu { process: Reaped(child), dir, window: String::new() };
        emu.window = emu.wait("emu's window", || {
            let found = x.run("xdotool", &["search", "--name", "^emu"]).ok()?;
            found.lines().next().map(str::to_string)
        });
        emu.wait_serial("Type in the window");
        emu
    }

    fn serial(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("serial.txt")).unwrap_or_default()).into_owned()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.txt")).unwrap_or_default()
    }

    /// Polls `probe` until it gives a value; fails the test (with emu's output) after
    /// [`PATIENCE`] or if emu ends meanwhile.
    fn wait<T>(&mut self, what: &str, probe: impl FnMut() -> Option<T>) -> T {
        match self.poll(what, probe) {
            Some(v) => v,
            None => panic!("no {what} after {PATIENCE:?}\nstderr: {}\nserial: {}", self.stderr(), self.serial()),
        }
    }

    /// [`Emu::wait`] that returns `None` after [`PATIENCE`], for the caller to say why.
    fn poll<T>(&mut self, what: &str, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
        let start = Instant::now();
        loop {
            if let Some(v) = probe() {
                return Some(v);
            }
            if let Ok(Some(status)) = self.process.0.try_wait() {
                panic!(
                    "emu ended ({status}) while waiting for {what}\nstderr: {}\nserial: {}",
                    self.stderr(),
                    self.serial()
                );
            }
            if start.elapsed() >= PATIENCE {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_serial(&mut self, text: &str) {
        let dir = self.dir.clone();
        self.wait(&format!("{text:?} on COM1"), || {
            let serial = std::fs::read(dir.join("serial.txt")).unwrap_or_default();
            String::from_utf8_lossy(&serial).contains(text).then_some(())
        });
    }

    fn wait_title(&mut self, x: &Xvfb, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let window = self.window.clone();
        self.wait(what, || {
            let title = x.run("xdotool", &["getwindowname", &window]).ok()?;
            ok(title.trim()).then(|| title.trim().to_string())
        })
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.process.0.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < PATIENCE, "emu does not end\nstderr: {}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A binary PPM (P6) with 8- or 16-bit samples, as `import` writes it.
fn decode_ppm(data: &[u8]) -> Framebuffer {
    // Header: "P6", width, height, maxval, separated by whitespace, then one whitespace byte.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while data[at].is_ascii_whitespace() {
            at += 1;
        }
        if data[at] == b'#' {
            while data[at] != b'\n' {
                at += 1;
            }
            continue;
        }
        let start = at;
        while !data[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(std::str::from_utf8(&data[start..at]).unwrap().to_string());
    }
    at += 1;
    assert_eq!(fields[0], "P6", "a binary PPM");
    let (width, height): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    // 16-bit samples are big-endian: their high byte is the 8-bit value.
    let bytes = match fields[3].as_str() {
        "255" => 1,
        "65535" => 2,
        max => panic!("PPM samples up to {max}: expected 255 or 65535"),
    };
    let rgb = &data[at..at + width * height * 3 * bytes];
    let pixels = rgb.chunks(3 * bytes).map(|p| u32::from_be_bytes([p[0], p[bytes], p[2 * bytes], 0xff])).collect();
    Framebuffer { width, height, pixels }
}

/// Photographs the window's contents.
fn window_image(x: &Xvfb, window: &str, dir: &Path) -> Framebuffer {
    let path = dir.join("window.ppm");
    x.run("import", &["-window", window, "-depth", "8", &format!("ppm:{}", path.display())])
        .unwrap_or_else(|e| panic!("{e}"));
    decode_ppm(&std::fs::read(&path).unwrap())
}

/// Where the guest's screen lies in a window of `win` size: scaled by the largest factor that
/// fits, centred, as minifb's aspect-keeping stretch places it.
fn placement(fb: &Framebuffer, win: &Framebuffer) -> (f64, usize, usize) {
    let scale = (win.width as f64 / fb.width as f64).min(win.height as f64 / fb.height as f64);
    let (w, h) = ((fb.width as f64 * scale) as usize, (fb.height as f64 * scale) as usize);
    (scale, (win.width - w) / 2, (win.height - h) / 2)
}

/// Compares the window with the framebuffer, pixel by pixel where the window shows the guest's
/// screen. Returns the bounding box (x0, y0, x1, y1 in framebuffer pixels) of the pixels that
/// differ, if any.
fn differences(fb: &Framebuffer, win: &Framebuffer) -> Option<(usize, usize, usize, usize)> {
    let (scale, left, top) = placement(fb, win);
    let mut bbox: Option<(usize, usize, usize, usize)> = None;
    for y in 0..fb.height {
        for x in 0..fb.width {
            // The window pixel at the centre of this framebuffer pixel.
            let wx = left + ((x as f64 + 0.5) * scale) as usize;
            let wy = top + ((y as f64 + 0.5) * scale) as usize;
            let (a, b) = (fb.pixels[y * fb.width + x] >> 8, win.pixels[wy * win.width + wx] >> 8);
            if a != b {
                let (x0, y0, x1, y1) = bbox.unwrap_or((x, y, x, y));
                bbox = Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y)));
            }
        }
    }
    bbox
}

/// Compares a scaled window with the framebuffer: (pixels of the screen's area whose colour is
/// not the framebuffer's at the corresponding place, pixels of the screen's area, and bar pixels
/// outside it that are not black).
fn scaled_mismatch(fb: &Framebuffer, win: &Framebuffer) -> (usize, usize, usize) {
    let (scale, left, top) = placement(fb, win);
    let (w, h) = ((fb.width as f64 * scale) as usize, (fb.height as f64 * scale) as usize);
    let (mut wrong, mut bars) = (0, 0);
    for wy in 0..win.height {
        for wx in 0..win.width {
            let shown = win.pixels[wy * win.width + wx] >> 8;
            if wx < left || wx >= left + w || wy < top || wy >= top + h {
                bars += (shown != 0) as usize;
                continue;
            }
            let x = (((wx - left) as f64 + 0.5) / scale) as usize;
            let y = (((wy - top) as f64 + 0.5) / scale) as usize;
            wrong += (fb.pixels[y.min(fb.height - 1) * fb.width + x.min(fb.width - 1)] >> 8 != shown) as usize;
        }
    }
    (wrong, w * h, bars)
}

/// Which 9×16 cells of text row `row` have ink (a pixel unlike the cell's top-left pixel).
fn inked_cells(fb: &Framebuffer, row: usize, cells: usize) -> Vec<bool> {
    (0..cells)
        .map(|c| {
            let background = fb.pixels[row * 16 * fb.width + c * 9];
            (0..16).any(|y| (0..9).any(|x| fb.pixels[(row * 16 + y) * fb.width + c * 9 + x] != background))
        })
        .collect()
}

#[test]
fn typed_keys_reach_the_guest_and_the_window_shows_its_screen() {
    if !tools_present() {
        return;
    }
    let x = Xvfb::start();
    let mut emu = Emu::start(&x, "typing");
    let geometry = x.xdotool(&["getwindowgeometry", &emu.window]);
    assert!(geometry.contains("Geometry: 720x400"), "the window opens at the text mode's size: {geometry}");
    // The title shows the state and speed once the run loop reports.
    emu.wait_title(&x, "a title with the state and MIPS", |t| {
        (t.starts_with("emu - running,") || t.starts_with("emu - halted,")) && t.ends_with("MIPS")
    });

    x.xdotool(&["windowfocus", "--sync", &emu.window]);
    // Shifted characters (H, W, !, ~, {, }), then extended keys: Up is E0-prefixed, keypad
    // Enter too; F5 has no character.
    x.xdotool(&["type", "--delay", "40", "Hello, World! ~{}"]);
    x.xdotool(&["key", "--delay", "40", "Up", "F5", "KP_Enter", "a", "Return"]);
    emu.wait_serial("Hello, World! ~{}[Up][F5]\r\na\r\n");

    let emu_window = emu.window.clone();
    // Mouse: grab (the pointer goes to the window's centre, (360, 200)), move it by (90, 32)
    // window pixels, click. The demo's pointer starts at pixel (360, 200), cell (40, 12), and
    // ends at (450, 232): column 50, row 14.
    x.xdotool(&["mousemove", "--window", &emu.window, "100", "100"]);
    x.xdotool(&["key", "ctrl+alt+g"]);
    emu.wait_title(&x, "the grab in the title", |t| t.contains("mouse grabbed"));
    let window = emu.window.clone();
    emu.wait("the pointer in the window's centre", || {
        let at = x.run("xdotool", &["getmouselocation", "--shell"]).ok()?;
        let geometry = x.run("xdotool", &["getwindowgeometry", "--shell", &window]).ok()?;
        let field = |text: &str, name: &str| -> Option<i32> {
            text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        };
        let centre = (field(&geometry, "X")? + 360, field(&geometry, "Y")? + 200);
        (centre == (field(&at, "X")?, field(&at, "Y")?)).then_some(())
    });
    std::thread::sleep(Duration::from_millis(200));
    x.xdotool(&["mousemove", "--window", &emu.window, "450", "232"]);
    std::thread::sleep(Duration::from_millis(200));
    // A press held for a few frames: minifb reports buttons as a state sampled once a frame.
    x.xdotool(&["mousedown", "1"]);
    std::thread::sleep(Duration::from_millis(150));
    x.xdotool(&["mouseup", "1"]);
    emu.wait_serial("[left click at 50,14]");
    x.xdotool(&["key", "ctrl+alt+g"]);
    emu.wait_title(&x, "the grab's end in the title", |t| !t.contains("grabbed"));
    // The command keys reached no one: no 'g' was echoed.
    assert!(!emu.serial().contains("[left click at 50,14]g"), "{}", emu.serial());

    // emu saves its framebuffer (the guest is idle now, so the screen no longer changes but
    // for the cursor's blink); the window shows the same within a frame or two.
    x.xdotool(&["key", "ctrl+alt+s"]);
    let shot = emu.dir.join("emu-screenshot-1.png");
    let fb = emu.wait("emu's screenshot", || decode_png(&std::fs::read(&shot).ok()?).ok());
    assert_eq!((fb.width, fb.height), (720, 400), "the demo's text mode");
    // Equal but for the blinking text cursor: at most one 9×16 cell differs.
    let dir = emu.dir.clone();
    let mut last = None;
    let same = emu.poll("the window showing the framebuffer", || {
        let win = window_image(&x, &emu_window, &dir);
        assert_eq!((win.width, win.height), (720, 400), "the window");
        last = differences(&fb, &win);
        last.is_none_or(|(x0, y0, x1, y1)| x1 - x0 < 9 && y1 - y0 < 16).then_some(())
    });
    assert!(same.is_some(), "the window differs from the framebuffer in {last:?} (x0, y0, x1, y1), more than a cell");
    // Resized, the window shows the screen scaled to fit with its aspect kept: scaled by
    // 1000/720 into 1000×555, centred between black bars. Pixels where the scaler rounds a
    // glyph's edge the other way may differ (about 1%; a blank or misplaced picture differs in
    // well over 5%).
    x.xdotool(&["windowmove", "--sync", &emu.window, "0", "0"]);
    x.xdotool(&["windowsize", "--sync", &emu.window, "1000", "700"]);
    let mut seen = None;
    let scaled = emu.poll("the resized window showing the scaled framebuffer", || {
        let big = window_image(&x, &emu_window, &dir);
        if (big.width, big.height) != (1000, 700) {
            return None;
        }
        let (wrong, area, bars) = scaled_mismatch(&fb, &big);
        seen = Some((wrong, area, bars));
        (area == 1000 * 555 && bars == 0 && wrong * 50 < area).then_some(())
    });
    assert!(
        scaled.is_some(),
        "the 1000×700 window does not show the screen scaled to 1000×555 between black bars: (pixels that \
         differ, screen area, non-black bar pixels) = {seen:?}"
    );
    // And the framebuffer holds the typed line: ink exactly where "Hello, World! ~{}[Up][F5]"
    // has a character other than a space.
    let typed = "Hello, World! ~{}[Up][F5]";
    let expected: Vec<bool> = typed.chars().map(|c| c != ' ').chain([false; 5]).collect();
    assert_eq!(inked_cells(&fb, 2, typed.len() + 5), expected, "row 2 of the screen shows the typed text");
    assert_eq!(inked_cells(&fb, 3, 2), [true, false], "row 3 shows the 'a'");

    // Esc: the demo switches the machine off; emu ends with 0 and saves the screen.
    x.xdotool(&["key", "Escape"]);
    let status = emu.wait_exit();
    assert_eq!(status.code(), Some(0), "stderr: {}", emu.stderr());
    assert!(emu.serial().contains("switching the machine off"), "{}", emu.serial());
    let last = decode_png(&std::fs::read(emu.dir.join("exit.png")).expect("--screenshot at exit")).unwrap();
    assert_eq!(inked_cells(&last, 2, typed.len()), expected[..typed.len()], "the screen at exit");
}

#[test]
fn pause_shows_in_the_title_and_quit_ends_the_run() {
    if !tools_present() {
        return;
    }
    let x = Xvfb::start();
    let mut emu = Emu::start(&x, "pause");
    x.xdotool(&["windowfocus", "--sync", &emu.window]);
    x.xdotool(&["key", "ctrl+alt+p"]);
    emu.wait_title(&x, "the pause in the title", |t| t.contains("paused"));
    // Paused, the guest takes no keys: nothing is echoed until it resumes.
    x.xdotool(&["type", "--delay", "40", "xyz"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!emu.serial().contains("xyz"), "a paused guest echoed keys: {}", emu.serial());
    x.xdotool(&["key", "ctrl+alt+p"]);
    emu.wait_title(&x, "the end of the pause in the title", |t| !t.contains("paused"));
    emu.wait_serial("xyz");
    x.xdotool(&["key", "ctrl+alt+q"]);
    let status = emu.wait_exit();
    assert_eq!(status.code(), Some(0), "Ctrl+Alt+Q stops the run with 0; stderr: {}", emu.stderr());
    assert!(emu.stderr().contains("run stopped"), "stderr: {}", emu.stderr());
    assert!(!emu.serial().contains("switching the machine off"), "the guest did not power off itself");
}

/// The demo's interactive mode without X: the frontend's CMOS byte set as a window would set it,
/// keys and mouse fed through the same handles the window uses. Runs everywhere (no tools).
#[test]
fn the_demo_echoes_keys_and_clicks_when_told_someone_is_watching() {
    use emu::machine::Firmware;
    use emu_devices::ps2_keyboard::KeyCode;
    use emu_devices::Captured;

    let serial = Captured::default();
    let cfg = emu::MachineConfig {
        memory: 16 << 20,
        firmware: Firmware::Image(emu_test_roms::demo::demo_rom().unwrap()),
        storage: Default::default(),
        serial: emu::SerialTarget::Sink(Box::new(serial.clone())),
        clock: emu_core::ClockMode::Deterministic { ns_per_insn: 1 },
        no_reboot: true,
        apic: true,
    };
    let mut m = emu::Machine::new(cfg).unwrap();
    emu::ui::make_demo_interactive(&mut m);
    let text = |s: &Captured| String::from_utf8_lossy(&s.bytes()).into_owned();
    // A halted guest retires no instructions, so host time bounds each slice too.
    let slice = emu::Limits { timeout: Some(Duration::from_millis(50)), max_instructions: Some(1_000_000) };
    let run_until = |m: &mut emu::Machine, want: &str| {
        for _ in 0..200 {
            if text(&serial).contains(want) {
                return;
            }
            let outcome = m.run(slice, None);
            assert!(
                matches!(outcome, emu::Outcome::Timeout | emu::Outcome::InstructionLimit),
                "{outcome:?}: {}",
                text(&serial)
            );
        }
        panic!("no {want:?} on COM1: {}", text(&serial));
    };
    run_until(&mut m, "Type in the window");
    let (keys, mouse) = (m.pc.input.keyboard.clone(), m.pc.input.mouse.clone());
    keys.press(KeyCode::ShiftRight);
    keys.tap(KeyCode::KeyH);
    keys.release(KeyCode::ShiftRight);
    run_until(&mut m, "H");
    // One key at a time, the guest halting in HLT in between, as when a person types. (The
    // lost-edge hang this once had shows under X in real time, in the test above; the
    // 8042's and the PIC's unit tests pin the recorded edges.)
    let mut echo = String::from("H");
    for (k, shown) in [
        (KeyCode::KeyI, "i"),
        (KeyCode::Digit1, "1"),
        (KeyCode::ArrowUp, "[Up]"),
        (KeyCode::Pause, "[Pause]"),
        (KeyCode::F12, "[F12]"),
        (KeyCode::Backspace, "\x08 \x08"),
        (KeyCode::Enter, "\r\n"),
    ] {
        keys.tap(k);
        echo.push_str(shown);
        run_until(&mut m, &echo);
    }
    // Right by 90, down by 32 (screen direction) from (360, 200): cell (50, 14).
    mouse.move_by(90, 32, 0);
    mouse.buttons(false, true, false);
    // The mouse reports the buttons as they are at each packet: the release waits for the press
    // to go out.
    run_until(&mut m, "[right click at 50,14]");
    mouse.buttons(false, false, false);
    keys.tap(KeyCode::Escape);
    let outcome = m.run(emu::Limits { timeout: Some(PATIENCE), max_instructions: None }, None);
    assert_eq!(outcome, emu::Outcome::PowerOff, "Esc switches the demo off: {}", text(&serial));
    assert!(text(&serial).ends_with("switching the machine off.\n"), "{}", text(&serial));
}
