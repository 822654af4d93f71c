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
#[command(name = "emu", version, about, long_about = None, after_help = EXIT_CODES, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Subcommand>,

    /// Raw BIOS-style ROM image, mapped at the top of the 1 MiB and 4 GiB spaces; the CPU
    /// starts at F000:FFF0. Replaces the BIOS.
    #[arg(long, value_name = "FILE")]
    rom: Option<PathBuf>,

    /// Boot with SeaBIOS instead of emu's BIOS: `seabios` finds Debian's seabios package
    /// (/usr/share/seabios, or the tests' cache), or give the path of a SeaBIOS bios.bin (its
    /// directory's vgabios-stdvga.bin becomes the VGA BIOS).
    #[arg(long, value_name = "seabios|FILE", conflicts_with = "rom")]
    bios: Option<String>,

    /// Write SeaBIOS's debug console (port 0x402) to FILE.
    #[arg(long, value_name = "FILE", requires = "bios")]
    debugcon: Option<PathBuf>,

    /// Raw disk image on the IDE controller (repeat for more: primary master, primary slave,
    /// secondary slave). Booted by emu's BIOS.
    #[arg(long, value_name = "FILE")]
    disk: Vec<PathBuf>,

    /// ISO image in the ATAPI CD-ROM drive (secondary master).
    #[arg(long, value_name = "FILE")]
    cdrom: Option<PathBuf>,

    /// Raw floppy image in drive A: (360K, 720K, 1.2M, 1.44M or 2.88M, known by its size),
    /// booted first when given.
    #[arg(long, value_name = "FILE")]
    fda: Option<PathBuf>,

    /// Raw floppy image in drive B:.
    #[arg(long, value_name = "FILE")]
    fdb: Option<PathBuf>,

    /// Boot this kernel directly, without a disk: a Linux bzImage (the x86 boot protocol's
    /// 32-bit entry; emu's BIOS does not run) or a multiboot (v1) kernel, ELF or a.out-kludge.
    /// After a reset emu's BIOS runs its POST and boots the kernel again; with --bios seabios
    /// or --rom the kernel is entered again at once (--no-reboot stops instead).
    #[arg(long, value_name = "FILE")]
    kernel: Option<PathBuf>,

    /// The kernel command line (with --kernel).
    #[arg(long, value_name = "TEXT", default_value = "", requires = "kernel")]
    append: String,

    /// An initial RAM disk for the kernel (with --kernel), loaded high in RAM. A multiboot
    /// kernel takes several: each is one module, in order.
    #[arg(long, value_name = "FILE", requires = "kernel")]
    initrd: Vec<PathBuf>,

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

    /// A PC without the local APIC and the I/O APIC (and without the MP table): the 8259A drives
    /// the CPU directly and CPUID does not report an APIC.
    #[arg(long)]
    no_apic: bool,

    /// Add QEMU's pc-testdev, which kvm-unit-tests' kernels expect (its emulator test keeps its
    /// memory operands in the device): a data latch at port 0xE0, IRQ lines at 0x2000,
    /// 64 KiB of memory at 0xFF000000.
    #[arg(long)]
    pc_testdev: bool,

    /// Execution tier: jit (translated blocks), interp (the reference interpreter), or check
    /// (every block in both, stopping at the first difference).
    #[arg(long, value_enum, default_value_t = CpuTier::Jit)]
    cpu: CpuTier,

    /// With --cpu check: run the first N instructions without checking (translated blocks, as
    /// --cpu jit but without chaining), then check every block.
    #[arg(long, value_name = "N", default_value_t = 0)]
    check_after: u64,

    /// Write each translated block (guest code, Cranelift IR, host code size, and Cranelift's
    /// listing of the host code; for a baseline block, its host code's bytes) to FILE.
    #[arg(long, value_name = "FILE")]
    dump_jit: Option<PathBuf>,

    /// Describe each translated block's host code in /tmp/perf-<pid>.map ("emu-block CS:EIP
    /// phys ADDR N insns"), so `perf record` + `perf report --sort sym` name the hot guest blocks;
    /// `--dump-jit` shows their code.
    #[arg(long)]
    perf_map: bool,

    /// JIT warm-up: a block runs this many times in the interpreter before it is translated (0:
    /// translate on first use). --cpu check translates every block at once.
    #[arg(long, value_name = "N", default_value_t = emu_jit::warmup::DEFAULT_THRESHOLD)]
    jit_warmup: u32,

    /// The baseline tier (x86-64 hosts; on by default): warm blocks are built in one pass from
    /// templates, on the CPU's thread, and Cranelift compiles those that run --jit-tier-up times
    /// more (jit/src/baseline). Off: Cranelift compiles every warm block.
    #[arg(
        long,
        value_name = "on|off",
        num_args = 0..=1,
        default_value = "on",
        default_missing_value = "on",
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    jit_baseline: bool,

    /// With the baseline tier: runs of a baseline block before Cranelift compiles it.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    jit_tier_up: u32,

    /// JIT compile threads: 1 compiles blocks on a second host thread while the interpreter
    /// runs them, 0 compiles each on the CPU's thread when it turns warm. Default: 1 with
    /// --deterministic or when the host has two or more CPUs, else 0. --cpu check compiles
    /// in-line.
    #[arg(long, value_name = "0|1", value_parser = clap::value_parser!(u8).range(0..=1))]
    jit_threads: Option<u8>,

    /// Print statistics (blocks, cache hits, TLB fills, guest MIPS) to stderr at exit. `full`
    /// also counts, in translated code, the blocks it chains to and its inlined memory accesses
    /// (blocks run, TLB hit rate), which slows it by a few percent.
    #[arg(long, value_name = "brief|full", num_args = 0..=1, require_equals = true, default_missing_value = "brief")]
    stats: Option<StatsLevel>,

    /// Stop with success (exit code 0) as soon as the serial output contains TEXT.
    #[arg(long, value_name = "TEXT")]
    exit_on: Option<String>,

    /// Print a progress line (guest time, MIPS, serial bytes) on stderr every 5 seconds. On by
    /// default for headless runs whose stderr is a terminal and stdin is not.
    #[arg(long, conflicts_with = "quiet")]
    progress: bool,

    /// No progress line.
    #[arg(short, long)]
    quiet: bool,

    /// Wait for a debugger (gdb's `target remote :PORT`) on PORT, on 127.0.0.1 unless an
    /// address is given (ADDR:PORT). The CPU waits for gdb before it starts; while gdb is
    /// attached the interpreter runs (also with --cpu jit).
    #[arg(long, value_name = "[ADDR:]PORT", value_parser = parse_gdb)]
    gdb: Option<std::net::SocketAddr>,
}

#[derive(clap::Subcommand, Debug)]
enum Subcommand {
    /// Guest benchmarks (integer mix, paging, SMC and faults; Linux boot) under emu's
    /// interpreter, its JIT and qemu-system-i386 -accel tcg, with guest MIPS and the ratios.
    Bench(emu::bench::BenchArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatsLevel {
    Brief,
    Full,
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
  70     internal emulator error

Window keys (hold Ctrl+Alt): G grab/release the mouse, P pause/resume, R reset,
  S screenshot (emu-screenshot-N.png), Q quit. Without a display emu runs headless.
  The title shows running/halted/paused and guest MIPS. Keys are passed as on a US layout.
The demo (no arguments) in a window echoes typed keys and shows the grabbed mouse until
  Esc switches it off; headless it greets and switches off by itself.
Headless console: serial on stdout, keys to COM1; on a terminal Ctrl-A X quits.";

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

/// Whether the JIT compiles in the background by default (`--jit-threads`): when a second host
/// CPU can run the compile thread beside the guest's; and always in a `deterministic` run, so
/// that the run (which tier runs which instruction, hence `--stats`) does not depend on the
/// host's CPU count (blocks compiled in the background are installed at fixed instruction
/// counts there, however fast the thread is).
fn default_background(deterministic: bool) -> bool {
    deterministic || std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
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
    // Nothing to boot: the demo ROM, which stays to echo keys when there is a window.
    let demo = args.rom.is_none()
        && args.bios.is_none()
        && args.disk.is_empty()
        && args.cdrom.is_none()
        && args.fda.is_none()
        && args.fdb.is_none()
        && args.kernel.is_none();
    let firmware = match &args.rom {
        None if args.bios.is_some() => {
            let debugcon: Option<Box<dyn std::io::Write + Send>> = match &args.debugcon {
                Some(p) => Some(Box::new(
                    std::fs::File::create(p)
                        .map_err(|e| format!("debug console file '{}' cannot be created: {e}", p.display()))?,
                )),
                None => None,
            };
            Firmware::SeaBios(emu::seabios::load(args.bios.as_deref().unwrap_or("seabios"), debugcon)?)
        }
        Some(path) => {
            let data = read_input("ROM image", path)?;
            if data.len() > emu::machine::MAX_FIRMWARE {
                return Err(format!("ROM image '{}' is {} bytes: at most 1 MiB fits", path.display(), data.len()));
            }
            Firmware::Image(data)
        }
        None if demo => Firmware::Image(
            emu_test_roms::demo::demo_rom().map_err(|e| format!("internal error: the demo ROM does not build: {e}"))?,
        ),
        None => Firmware::Bios,
    };
    let storage = Storage {
        disks: args.disk.clone(),
        cdrom: args.cdrom.clone(),
        floppies: [args.fda.clone(), args.fdb.clone()],
        snapshot: args.snapshot,
    };
    let serial = match &args.serial {
        SerialArg::Stdio => SerialTarget::Stdout,
        SerialArg::None => SerialTarget::None,
        SerialArg::File(p) => SerialTarget::Sink(Box::new(
            std::fs::File::create(p)
                .map_err(|e| format!("serial output file '{}' cannot be created: {e}", p.display()))?,
        )),
    };
    let gdb = args.gdb.map(emu::gdb::listen).transpose()?;
    let serial_stats = std::sync::Arc::new(emu::ui::SerialStats::default());
    let serial_lines = std::sync::Arc::new(std::sync::OnceLock::new());
    let serial = match serial {
        SerialTarget::None if args.exit_on.is_none() => SerialTarget::None,
        target => {
            let inner: Box<dyn std::io::Write + Send> = match target {
                SerialTarget::Stdout => Box::new(std::io::stdout()),
                SerialTarget::Sink(w) => w,
                SerialTarget::None => Box::new(std::io::sink()),
            };
            SerialTarget::Sink(Box::new(emu::headless::SerialTee {
                inner,
                stats: serial_stats.clone(),
                exit_on: args.exit_on.as_ref().map(|t| (t.as_bytes().to_vec(), 0)),
                lines: serial_lines.clone(),
            }))
        }
    };
    if args.exit_on.as_deref() == Some("") {
        return Err("--exit-on needs a non-empty text".into());
    }
    let mut tracer = match &args.trace {
        Some(p) => Some(Tracer::new(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|e| format!("trace file '{}' cannot be created: {e}", p.display()))?,
        )))),
        None => None,
    };
    let clock = if args.deterministic { ClockMode::Deterministic { ns_per_insn: 1 } } else { ClockMode::RealTime };
    let cfg = MachineConfig {
        memory: args.memory,
        firmware,
        storage,
        serial,
        clock,
        no_reboot: args.no_reboot,
        apic: !args.no_apic,
    };
    let mut machine = Machine::new(cfg).map_err(|e| e.to_string())?;
    if args.pc_testdev {
        emu_devices::pc_testdev::attach_pc_testdev(&mut machine.cpu.sys).map_err(|e| format!("--pc-testdev: {e}"))?;
    }
    if let Some(path) = &args.kernel {
        load_kernel(&mut machine, path, &args)?;
    }
    let _ = serial_lines.set(machine.cpu.sys.lines.clone());
    let window = if args.headless {
        None
    } else {
        let input = &machine.pc.input;
        match emu::window::open("emu", input.keyboard.clone(), input.mouse.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("emu: no window ({e}): running headless");
                None
            }
        }
    };
    let headless = window.is_none();
    if demo && !headless {
        emu::ui::make_demo_interactive(&mut machine);
    }
    // The console: raw mode when the guest owns an interactive terminal (Ctrl-A X quits).
    let interactive = matches!(args.serial, SerialArg::Stdio) && emu::headless::is_tty(0);
    let _raw = if headless && interactive && args.gdb.is_none() { emu::headless::RawTerminal::enable() } else { None };
    if _raw.is_some() {
        eprintln!("emu: serial console on this terminal; Ctrl-A X quits");
    }
    if matches!(args.serial, SerialArg::Stdio) {
        emu::headless::forward_stdin(
            machine.devices.serial_input.clone(),
            machine.cpu.sys.lines.clone(),
            _raw.is_some(),
        );
    }
    let progress = !args.quiet && headless && (args.progress || (emu::headless::is_tty(2) && !interactive));
    let mut ui = emu::ui::Ui::new(window, progress, serial_stats);
    if args.cpu != CpuTier::Interp {
        let dump: Option<Box<dyn std::io::Write + Send>> = match &args.dump_jit {
            Some(p) => Some(Box::new(std::io::BufWriter::new(
                std::fs::File::create(p)
                    .map_err(|e| format!("JIT dump file '{}' cannot be created: {e}", p.display()))?,
            ))),
            None => None,
        };
        if args.perf_map {
            emu_jit::perfmap::enable()
                .map_err(|e| format!("the perf map '{}' cannot be created: {e}", emu_jit::perfmap::path().display()))?;
        }
        let opts = emu_jit::Options {
            dump,
            check: args.cpu == CpuTier::Check,
            check_after: args.check_after,
            warmup: args.jit_warmup,
            background: args.jit_threads.map_or_else(|| default_background(args.deterministic), |n| n > 0),
            counters: args.stats == Some(StatsLevel::Full),
            baseline: args.jit_baseline,
            tier_up: args.jit_tier_up,
            ..Default::default()
        };
        machine.jit = Some(emu_jit::Jit::new(opts).map_err(|e| e.to_string())?);
    }
    let limits = Limits { timeout: args.timeout, max_instructions: args.max_instructions };
    let started = std::time::Instant::now();
    let debugged = gdb.and_then(|listener| emu::gdb::serve(listener, &mut machine, &mut ui));
    let outcome = match debugged {
        Some(outcome) => outcome,
        None => machine.run_with(limits, tracer.as_mut(), &mut ui),
    };
    drop(ui);
    // The last POST code (port 0x80), for runs that end without an exit-port verdict: test386.asm
    // and firmware report progress there.
    if !matches!(outcome, Outcome::PowerOff | Outcome::DebugExit(_)) {
        let post = machine.devices.post;
        if let Some(code) = machine.cpu.sys.device_mut::<emu_devices::post::PostPort>(post).and_then(|p| p.last()) {
            eprintln!("emu: POST code {code:02X}");
        }
    }
    if let Some(jit) = machine.jit.as_mut() {
        jit.finish().map_err(|e| format!("writing the JIT dump failed: {e}"))?;
    }
    if args.stats.is_some() {
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

/// Loads `--kernel` (with `--initrd` and `--append`) into the machine and points the CPU at it:
/// a Linux bzImage (its "HdrS" setup header) or a multiboot kernel. The machine keeps the loader
/// to boot the kernel again after a reset ([`Machine::set_direct_boot`]).
fn load_kernel(machine: &mut Machine, path: &Path, args: &Args) -> Result<(), String> {
    let data = read_input("kernel", path)?;
    let name = path.display().to_string();
    let boot: emu::machine::DirectBoot = if emu::bzimage::is_bzimage(&data) {
        if args.initrd.len() > 1 {
            return Err("a Linux kernel takes one --initrd: join the archives into one file".into());
        }
        let initrd = args.initrd.first().map(|p| read_input("initrd", p)).transpose()?;
        let append = args.append.clone();
        Box::new(move |cpu| {
            emu::bzimage::load(cpu, &data, &append, initrd.as_deref())
                .map(drop)
                .map_err(|e| format!("kernel '{name}' {e}"))
        })
    } else if emu::multiboot::is_multiboot(&data) {
        // The command line as GRUB and QEMU pass it: the kernel's name, then the arguments.
        let mut cmdline = name.clone();
        if !args.append.is_empty() {
            cmdline = format!("{cmdline} {}", args.append);
        }
        let mut modules = Vec::new();
        for p in &args.initrd {
            modules.push(emu::multiboot::Module { data: read_input("initrd", p)?, cmdline: p.display().to_string() });
        }
        // Test kernels written for QEMU (kvm-unit-tests) count the CPUs they bring up through
        // fw_cfg: say there is one (unless a firmware already put fw_cfg there).
        use emu_devices::fw_cfg::{FwCfg, FW_CFG_MAX_CPUS, FW_CFG_NB_CPUS, FW_CFG_PORT, FW_CFG_PORTS};
        let mut fw_cfg = FwCfg::new();
        fw_cfg.set(FW_CFG_NB_CPUS, 1u16.to_le_bytes().to_vec());
        fw_cfg.set(FW_CFG_MAX_CPUS, 1u16.to_le_bytes().to_vec());
        let sys = &mut machine.cpu.sys;
        let id = sys.add_device(Box::new(fw_cfg));
        let _ = sys.map_io(FW_CFG_PORT, FW_CFG_PORTS, id, 0);
        Box::new(move |cpu| {
            emu::multiboot::load(cpu, &data, &cmdline, &modules).map(drop).map_err(|e| format!("kernel '{name}' {e}"))
        })
    } else {
        return Err(format!(
            "kernel '{}' is neither a Linux bzImage (no \"HdrS\" setup header at 0x202) nor a multiboot kernel (no multiboot header in its first 8 KiB)",
            path.display()
        ));
    };
    machine.set_direct_boot(boot)
}

fn parse_gdb(s: &str) -> Result<std::net::SocketAddr, String> {
    let bad = || format!("'{s}' is not a gdb port: use e.g. 1234 or 0.0.0.0:1234");
    match s.parse::<u16>() {
        Ok(0) => Err(bad()),
        Ok(port) => Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
        Err(_) => s.parse().map_err(|_| bad()),
    }
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("emu: internal error (a bug in emu, please report it): {info}");
    }));
    let mut args = Args::parse();
    if let Some(Subcommand::Bench(b)) = args.command.take() {
        return match emu::bench::run(b) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(msg) => {
                eprintln!("emu bench: {msg}");
                ExitCode::from(exit::USAGE as u8)
            }
        };
    }
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
