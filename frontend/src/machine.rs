//! The machine: a CPU, its board, the devices, and firmware, assembled from a [`MachineConfig`];
//! and the run loop that drives it until an [`Outcome`].

use crate::exit::Outcome;
use crate::pc::{self, PcDevices, PcError, Storage};
use crate::trace::Tracer;
use emu_core::{ClockMode, Error, ExitReason, Rom, System};
use emu_cpu_x86::state::eflags;
use emu_cpu_x86::{Cpu, Stop};
use emu_devices::firmware::Bios;
use emu_devices::vga::{Framebuffer, Vga};
use emu_devices::{attach_headless_devices, HeadlessDevices};
use emu_jit::Jit;
use std::io::Write;
use std::time::{Duration, Instant};

/// Where the serial port's output goes.
pub enum SerialTarget {
    Stdout,
    Sink(Box<dyn Write + Send>),
    None,
}

/// The firmware a machine starts.
pub enum Firmware {
    /// emu's own BIOS (services in Rust behind trap stubs; see `emu_devices::firmware`).
    Bios,
    /// A raw image mapped at the top of the 1 MiB and 4 GiB spaces (a test ROM, another BIOS).
    Image(Vec<u8>),
    /// SeaBIOS with its VGA BIOS, and the fw_cfg interface it reads (see [`crate::seabios`]).
    SeaBios(crate::seabios::SeaBios),
}

/// What to build.
pub struct MachineConfig {
    /// Guest RAM in bytes.
    pub memory: u64,
    pub firmware: Firmware,
    /// Disks and CD-ROM on the IDE controller.
    pub storage: Storage,
    pub serial: SerialTarget,
    pub clock: ClockMode,
    /// On a triple fault, stop instead of resetting.
    pub no_reboot: bool,
    /// A local APIC in front of the CPU and an I/O APIC on the board (with the MP table the
    /// firmware writes); without, the 8259A drives the CPU's INTR directly, as on a 486.
    pub apic: bool,
}

/// Limits on a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Host time.
    pub timeout: Option<Duration>,
    /// Guest instructions retired.
    pub max_instructions: Option<u64>,
}

/// Largest firmware image, and the part of it visible below 1 MiB (E0000-FFFFF).
pub const MAX_FIRMWARE: usize = 1 << 20;
const LOW_FIRMWARE_WINDOW: usize = 128 << 10;

/// A PC: CPU, board, devices.
pub struct Machine {
    pub cpu: Cpu,
    pub devices: HeadlessDevices,
    /// The PC platform: interrupt controllers, timers, input, PCI, IDE, VGA.
    pub pc: PcDevices,
    /// emu's BIOS, when it is the firmware.
    bios: Option<Bios>,
    no_reboot: bool,
    /// Resets after triple faults so far.
    pub resets: u64,
    /// The JIT tier; `None` runs the interpreter (`--cpu interp`).
    pub jit: Option<Jit>,
    /// A directly booted kernel's loader (`--kernel`, [`Machine::set_direct_boot`]), run again
    /// after a reset: a guest that reboots (or triple-faults) without `--no-reboot` starts that
    /// kernel again, as under QEMU's `-kernel`, instead of a firmware with nothing to boot.
    /// emu's BIOS runs its POST first and boots it from its bootstrap (unless the reset asked it
    /// to resume, by the CMOS shutdown status). Other firmware (SeaBIOS, a ROM image) did not
    /// run before the first boot, so it has nothing to resume into: it does not run after a
    /// reset either, and the kernel is loaded and entered as the reset ends (with the devices
    /// in their power-on state, as at the first boot). It keeps the kernel's and initrd's bytes
    /// for the whole run.
    direct_boot: Option<DirectBoot>,
}

/// Loads a kernel into the machine and points the CPU at its entry (see
/// [`Machine::set_direct_boot`]); the error says why it could not.
pub type DirectBoot = Box<dyn FnMut(&mut Cpu) -> Result<(), String>>;

/// The frontend's part in a run (window, gdb stub, progress line): called by
/// [`Machine::run_with`] between slices on the emulation thread.
pub trait Host {
    /// Called before each slice. May block (a paused machine) and may change the machine (reset);
    /// `Some` ends the run with that outcome.
    fn poll(&mut self, machine: &mut Machine) -> Option<Outcome>;
    /// The most instructions the next slice may run (1: the host sees every instruction).
    fn max_slice(&self) -> u64 {
        u64::MAX
    }
    /// Run the interpreter even when the JIT is on (a debugger is attached).
    fn interpret(&self) -> bool {
        false
    }
}

/// No frontend: [`Machine::run`].
pub struct NoHost;

impl Host for NoHost {
    fn poll(&mut self, _: &mut Machine) -> Option<Outcome> {
        None
    }
}

/// Instructions per slice of the run loop, between checks of the host-side limits.
const SLICE: u64 = 200_000;

impl Machine {
    pub fn new(cfg: MachineConfig) -> Result<Machine, PcError> {
        let mut sys = System::new(cfg.memory, cfg.clock)?;
        let serial: Box<dyn Write + Send> = match cfg.serial {
            SerialTarget::Stdout => Box::new(std::io::stdout()),
            SerialTarget::Sink(w) => w,
            SerialTarget::None => Box::new(std::io::sink()),
        };
        let devices = attach_headless_devices(&mut sys, serial, Box::new(std::io::stdout()))?;
        let pc = pc::attach_pc(&mut sys, &cfg.storage)?;
        if cfg.apic {
            emu_devices::apic::attach_apic(&mut sys)?;
        }
        let bios = match cfg.firmware {
            Firmware::Bios => {
                let (bios, image) = pc::install_bios(&mut sys)?;
                map_firmware(&mut sys, &image)?;
                Some(bios)
            }
            Firmware::Image(image) => {
                map_firmware(&mut sys, &image)?;
                None
            }
            Firmware::SeaBios(fw) => {
                crate::seabios::install(&mut sys, fw)?;
                None
            }
        };
        Ok(Machine {
            cpu: Cpu::new(sys),
            devices,
            pc,
            bios,
            no_reboot: cfg.no_reboot,
            resets: 0,
            jit: None,
            direct_boot: None,
        })
    }

    /// Renders the guest's screen as it is now.
    pub fn screen(&mut self) -> Framebuffer {
        let mut fb = Framebuffer::default();
        if let Some(vga) = self.cpu.sys.device_mut::<Vga>(self.pc.vga) {
            vga.render(&mut fb);
        }
        fb
    }

    /// Writes all disk writes through to the image files (guest FLUSH does this too).
    pub fn flush_disks(&mut self) -> Result<(), emu_devices::ide::BlockError> {
        if let Some(fdc) = self.cpu.sys.device_mut::<emu_devices::fdc82077::Fdc82077>(self.pc.floppy.fdc) {
            fdc.flush_all()?;
        }
        match self.cpu.sys.device_mut::<emu_devices::Ide>(self.pc.pci_ide.ide) {
            Some(ide) => ide.flush_all(),
            None => Ok(()),
        }
    }

    /// Runs until the guest ends the run or a limit is reached. With a tracer, one instruction
    /// at a time, each traced.
    pub fn run(&mut self, limits: Limits, tracer: Option<&mut Tracer>) -> Outcome {
        self.run_with(limits, tracer, &mut NoHost)
    }

    /// [`Machine::run`] with a frontend polled between slices.
    pub fn run_with(&mut self, limits: Limits, mut tracer: Option<&mut Tracer>, host: &mut dyn Host) -> Outcome {
        let start = Instant::now();
        let icount0 = self.cpu.s.icount;
        loop {
            let done = self.cpu.s.icount - icount0;
            let mut budget = SLICE;
            if let Some(max) = limits.max_instructions {
                if done >= max {
                    return Outcome::InstructionLimit;
                }
                budget = budget.min(max - done);
            }
            if limits.timeout.is_some_and(|t| start.elapsed() >= t) {
                return Outcome::Timeout;
            }
            if let Some(outcome) = host.poll(self) {
                return outcome;
            }
            budget = budget.min(host.max_slice()).max(1);
            let stop = match tracer.as_deref_mut() {
                Some(t) => self.run_traced(budget, t),
                None => match self.jit.as_mut() {
                    Some(jit) if !host.interpret() => jit.run(&mut self.cpu, budget),
                    _ => self.cpu.run(budget),
                },
            };
            if self.jit.is_none() {
                // Only the JIT has a use for the pages written behind the CPU's back (the
                // firmware's writes among them): without it they would pile up.
                self.cpu.sys.take_written_pages();
            }
            if let Some(failure) = self.jit.as_ref().and_then(Jit::check_failure) {
                eprintln!("emu: {failure}");
                return Outcome::CheckMismatch;
            }
            match stop {
                Stop::Budget => {}
                Stop::Attention => {
                    if self.cpu.sys.lines.take_firmware_call() {
                        if let Some(bios) = self.bios.as_mut() {
                            match pc::service_firmware(bios, &mut self.cpu) {
                                pc::AfterFirmware::Run => {}
                                pc::AfterFirmware::NoBoot => return Outcome::NoBootDevice,
                                pc::AfterFirmware::BootKernel => self.boot_kernel(),
                            }
                        }
                    }
                    if let Some(reason) = self.cpu.sys.lines.exit() {
                        return match reason {
                            ExitReason::DebugExit(v) => Outcome::DebugExit(v),
                            ExitReason::PowerOff => Outcome::PowerOff,
                            ExitReason::Stop => Outcome::Stopped,
                        };
                    }
                    if self.cpu.sys.lines.take_reset() {
                        // 8042 pulse, port 0x92 or 0xCF9: a reboot, which --no-reboot ends cleanly.
                        if self.no_reboot {
                            return Outcome::Reset;
                        }
                        self.reset();
                    }
                }
                Stop::Shutdown => {
                    if self.no_reboot {
                        return Outcome::TripleFault;
                    }
                    self.resets += 1;
                    if self.resets == 1 {
                        eprintln!(
                            "emu: triple fault: resetting the machine (reported once; --no-reboot stops instead)"
                        );
                    }
                    self.reset();
                }
                Stop::Halted => {
                    // Only NMI (not modelled) or INTR can end a halt; without IF, or with every
                    // interrupt line masked, nothing can.
                    if self.cpu.s.flags & eflags::IF == 0 || !self.cpu.sys.interrupts_possible() {
                        return Outcome::HaltedForever;
                    }
                    self.wait_for_event(limits.timeout.map(|t| start + t));
                }
            }
        }
    }

    /// A reset (the guest's reboot, a triple fault): the devices go back to their power-on
    /// state ([`emu_core::System::reset_devices`]; RAM, the CMOS and the disks keep what they
    /// hold), as under QEMU, and the CPU starts at the reset vector, in the firmware. emu's BIOS
    /// boots a direct-boot kernel again from its bootstrap, after its POST (or resumes, if the
    /// CMOS shutdown status asks it to); with other firmware the kernel is loaded and entered at
    /// once, as at the first boot (see [`Machine::direct_boot`]).
    fn reset(&mut self) {
        self.cpu.sys.reset_devices();
        self.cpu.reset();
        if self.bios.is_none() {
            self.boot_kernel();
        }
    }

    /// Loads and enters the kernel [`Machine::set_direct_boot`] was given. The loader did not fail the
    /// first time, with the same files and memory; if it does now, the machine goes on
    /// without it (the firmware boots what it finds), with a message.
    fn boot_kernel(&mut self) {
        let Some(boot) = self.direct_boot.as_mut() else { return };
        if let Err(e) = boot(&mut self.cpu) {
            eprintln!("emu: the kernel could not be loaded again ({e}): the firmware boots without it");
            self.direct_boot = None;
            if let Some(bios) = self.bios.as_mut() {
                bios.set_boot_kernel(false);
            }
            self.cpu.reset();
        }
    }

    /// Starts the machine from a kernel: `boot` loads it and points the CPU at its entry. It
    /// runs now, and again after a reset, so a guest that reboots starts the same kernel, as
    /// under QEMU's `-kernel`: from emu's BIOS's bootstrap, after its POST (not after a reset
    /// that asks it to resume), or, with other firmware, as the reset ends ([`Machine::reset`]).
    pub fn set_direct_boot(&mut self, mut boot: DirectBoot) -> Result<(), String> {
        boot(&mut self.cpu)?;
        if let Some(bios) = self.bios.as_mut() {
            bios.set_boot_kernel(true);
        }
        self.direct_boot = Some(boot);
        Ok(())
    }

    fn run_traced(&mut self, budget: u64, tracer: &mut Tracer) -> Stop {
        for _ in 0..budget {
            let before = tracer.before(&mut self.cpu);
            let stop = self.cpu.run(1);
            tracer.after(&self.cpu, before);
            if stop != Stop::Budget {
                return stop;
            }
        }
        Stop::Budget
    }

    /// While halted with interrupts enabled: move guest time to the next device event (at once
    /// in deterministic mode, by sleeping in real-time mode) and run the device timers.
    fn wait_for_event(&mut self, until: Option<Instant>) {
        let sys = &mut self.cpu.sys;
        let deadline = sys.next_deadline();
        match sys.clock.mode() {
            ClockMode::Deterministic { .. } if deadline != u64::MAX => sys.clock.skip_to(deadline),
            _ => {
                let now = sys.clock.now();
                let wait = Duration::from_nanos(deadline.saturating_sub(now)).min(Duration::from_millis(10));
                let wait = until.map_or(wait, |u| wait.min(u.saturating_duration_since(Instant::now())));
                std::thread::sleep(wait);
                if matches!(sys.clock.mode(), ClockMode::Deterministic { .. }) {
                    // Nothing is scheduled: only the host (serial input) can wake the guest.
                    return;
                }
                sys.clock.sync_idle(self.cpu.s.icount);
            }
        }
        self.cpu.sys.run_timers();
    }
}

/// Maps a firmware image at the top of the 4 GiB space and its last 128 KiB (or all of it, if
/// smaller) at the top of the first 1 MiB, as a PC's chipset does.
pub fn map_firmware(sys: &mut System, image: &[u8]) -> Result<(), Error> {
    sys.add_rom(Rom::new((1u64 << 32) - image.len() as u64, image.to_vec())?);
    let low = &image[image.len().saturating_sub(LOW_FIRMWARE_WINDOW)..];
    sys.add_rom(Rom::new((1u64 << 20) - low.len() as u64, low.to_vec())?);
    Ok(())
}
