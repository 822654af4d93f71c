//! `emu`: boot an x86 PC. See `emu --help` and the README.

use clap::Parser;
use emu::exit::{self, Outcome};
use emu::machine::Firmware;
use emu::pc::Storage;
use emu::trace::Tracer;
use emu::{Limits, Machine, MachineConfig, SerialTarget};
use emu_core::ClockMode;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// emu: a full-system x86 PC emulator.
///
/// With no arguments, boots the built-in demo ROM.
#[derive(Parser, Debug)]
#[command(name = "emu", version, about, long_about = None, after_help = EXIT_CODES)]
struct Args {
    /// Raw BIOS-style ROM image, mapped at the top of the 1 MiB and 4 GiB spaces; the CPU
    /// starts at F000:FFF0. Replaces the BIOS.
    #[arg(long, value_name = "FILE")]
    rom: Option<PathBuf>,

    /// Raw disk image on the IDE controller (repeat for more: primary master, primary slave,
    /// secondary slave). Booted by emu's BIOS.
    #[arg(long, value_name = "FILE")]
    disk: Vec<PathBuf>,

    /// ISO image in the ATAPI CD-ROM drive (secondary master).
    #[arg(long, value_name = "FILE")]
    cdrom: Option<PathBuf>,

    /// Keep disk writes in memory: the image files are never written.
    #[arg(long)]
    snapshot: bool,

    /// Save the guest's screen as a PNG file when the run ends.
    #[arg(long, value_name = "FILE.png")]
    screenshot: Option<PathBuf>,

    /// Guest memory, in MiB or with a suffix (K, M, G): 128M, 1G, 3584M.
    #[arg(short = 'm', long = "memory", value_name = "SIZE", default_value = "128M", value_parser = parse_memory)]
    memory: u64,

    /// Run without a window: serial console on stdout.
    #[arg(long)]
    headless: bool,

    /// Where the serial port (COM1) goes: stdio, file:PATH, or none.
    #[arg(long, value_name = "TARGET", default_value = "stdio", value_parser = parse_serial)]
    serial: SerialArg,

    /// Stop after this many seconds of host time (exit code 4).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<Duration>,

    /// Stop after this many guest instructions (exit code 4).
    #[arg(long, value_name = "N")]
    max_instructions: Option<u64>,

    /// Write one line per instruction (address, bytes, disassembly, changed registers) to FILE.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,

    /// Deterministic time: guest time advances with retired instructions, so runs repeat exactly.
    #[arg(long)]
    deterministic: bool,

    /// On a triple fault, exit (code 8) instead of resetting the machine.
    #[arg(long)]
    no_reboot: bool,

    /// Execution tier: jit (translated blocks), interp (the reference interpreter), or check
    /// (every block in both, stopping at the first difference).
    #[arg(long, value_enum, default_value_t = CpuTier::Jit)]
    cpu: CpuTier,

    /// Write each translated block (guest code, Cranelift IR, host code size) to FILE.
    #[arg(long, value_name = "FILE")]
    dump_jit: Option<PathBuf>,

    /// Print statistics (blocks, cache hits, TLB fills, guest MIPS) to stderr at exit.
    #[arg(long)]
    stats: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CpuTier {
    Jit,
    Interp,
    Check,
}

const EXIT_CODES: &str = "\
Exit codes:
  0      the guest switched the machine off
  2v+1   the guest wrote v to the isa-debug-exit port 0xF4 (1: test ROM passed)
  2      bad command line or input file
  4      --timeout or --max-instructions reached
  6      the guest halted and nothing can wake it
  8      triple fault with --no-reboot
  70     internal emulator error";

#[derive(Debug, Clone)]
enum SerialArg {
    Stdio,
    File(PathBuf),
    None,
}

fn parse_serial(s: &str) -> Result<SerialArg, String> {
    match s {
        "stdio" => Ok(SerialArg::Stdio),
        "none" => Ok(SerialArg::None),
        _ => match s.strip_prefix("file:") {
            Some(p) if !p.is_empty() => Ok(SerialArg::File(p.into())),
            _ => Err(format!("'{s}' is not a serial target: use stdio, file:PATH or none")),
        },
    }
}

fn parse_memory(s: &str) -> Result<u64, String> {
    let bad = || format!("'{s}' is not a memory size: use e.g. 128M, 1G or 512 (MiB)");
    let (num, mult) = match s.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&s[..s.len() - 1], 1u64 << 10),
        Some(b'M') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1 << 20),
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    let bytes = n.checked_mul(mult).ok_or_else(bad)?;
    let max = emu_core::memory::MAX_RAM;
    if bytes < 1 << 20 || bytes > max || bytes % 4096 != 0 {
        return Err(format!("memory size '{s}' is out of range: use 1M to {}M, in whole 4 KiB pages", max >> 20));
    }
    Ok(bytes)
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("'{s}' is not a number of seconds greater than 0")),
    }
}

/// Reads an input file, turning every failure into one line naming the file and the fix.
fn read_input(what: &str, path: &Path) -> Result<Vec<u8>, String> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{what} '{name}' does not exist: check the path"),
        std::io::ErrorKind::PermissionDenied => format!("{what} '{name}' is not readable: check its permissions"),
        _ => format!("{what} '{name}' cannot be opened: {e}"),
    })?;
    if meta.is_dir() {
        return Err(format!("{what} '{name}' is a directory: give the image file inside it"));
    }
    let data = std::fs::read(path).map_err(|e| format!("{what} '{name}' cannot be read: {e}"))?;
    if data.is_empty() {
        return Err(format!("{what} '{name}' is empty: give a non-empty image"));
    }
    Ok(data)
}

fn run(args: Args) -> Result<Outcome, String> {
    let firmware = match &args.rom {
        Some(path) => {
            let data = read_input("ROM image", path)?;
            if data.len() > emu::machine::MAX_FIRMWARE {
                return Err(format!("ROM image '{}' is {} bytes: at most 1 MiB fits", path.display(), data.len()));
            }
            Firmware::Image(data)
        }
        None if args.disk.is_empty() && args.cdrom.is_none() => Firmware::Image(
            emu_test_roms::demo::demo_rom().map_err(|e| format!("internal error: the demo ROM does not build: {e}"))?,
        ),
        None => Firmware::Bios,
    };
    let storage = Storage { disks: args.disk.clone(), cdrom: args.cdrom.clone(), snapshot: args.snapshot };
    let serial = match &args.serial {
        SerialArg::Stdio => SerialTarget::Stdout,
        SerialArg::None => SerialTarget::None,
        SerialArg::File(p) => SerialTarget::Sink(Box::new(
            std::fs::File::create(p)
                .map_err(|e| format!("serial output file '{}' cannot be created: {e}", p.display()))?,
        )),
    };
    let mut tracer = match &args.trace {
        Some(p) => Some(Tracer::new(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("trace file '{}' cannot be created: {e}", p.display()))?,
        )))),
        None => None,
    };
    let clock = if args.deterministic { ClockMode::Deterministic { ns_per_insn: 1 } } else { ClockMode::RealTime };
    let cfg = MachineConfig { memory: args.memory, firmware, storage, serial, clock, no_reboot: args.no_reboot };
    let mut machine = Machine::new(cfg).map_err(|e| e.to_string())?;
    if matches!(args.serial, SerialArg::Stdio) {
        forward_stdin(machine.devices.serial_input.clone());
    }
    if args.cpu != CpuTier::Interp {
        let dump: Option<Box<dyn std::io::Write + Send>> = match &args.dump_jit {
            Some(p) => Some(Box::new(std::io::BufWriter::new(
                std::fs::File::create(p)
                    .map_err(|e| format!("JIT dump file '{}' cannot be created: {e}", p.display()))?,
            ))),
            None => None,
        };
        let opts = emu_jit::Options { dump, check: args.cpu == CpuTier::Check, ..Default::default() };
        machine.jit = Some(emu_jit::Jit::new(opts).map_err(|e| e.to_string())?);
    }
    let limits = Limits { timeout: args.timeout, max_instructions: args.max_instructions };
    let started = std::time::Instant::now();
    let outcome = machine.run(limits, tracer.as_mut());
    if let Some(jit) = machine.jit.as_mut() {
        jit.finish().map_err(|e| format!("writing the JIT dump failed: {e}"))?;
    }
    if args.stats {
        eprint!("{}", emu::stats::report(&machine, started.elapsed()));
    }
    if let Some(t) = tracer {
        t.finish().map_err(|e| format!("writing the trace failed: {e}"))?;
    }
    machine.flush_disks().map_err(|e| format!("writing the disk images failed: {e}"))?;
    if let Some(path) = &args.screenshot {
        let fb = machine.screen();
        emu_devices::save_png(&fb, path)
            .map_err(|e| format!("screenshot '{}' cannot be written: {e}", path.display()))?;
    }
    Ok(outcome)
}

/// Feeds stdin to COM1's receiver from a background thread.
fn forward_stdin(input: emu_devices::SerialInput) {
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
            input.push(&buf[..n]);
        }
    });
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("emu: internal error (a bug in emu, please report it): {info}");
    }));
    let args = Args::parse();
    match std::panic::catch_unwind(|| run(args)) {
        Ok(Ok(outcome)) => {
            if !matches!(outcome, Outcome::PowerOff | Outcome::DebugExit(_)) {
                eprintln!("emu: {}", outcome.describe());
            }
            ExitCode::from(outcome.exit_code() as u8)
        }
        Ok(Err(msg)) => {
            eprintln!("emu: {msg}");
            ExitCode::from(exit::USAGE as u8)
        }
        Err(_) => ExitCode::from(exit::INTERNAL_ERROR as u8),
    }
}
