//! How a run ends, and the process exit code for each ending (documented in the README).
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | the guest switched the machine off (or the run was stopped on request) |
//! | odd `2v+1` | the guest wrote `v` to the isa-debug-exit port 0xF4 (1 = test ROM passed) |
//! | 2 | bad command line or unusable input file (nothing ran) |
//! | 4 | a limit was reached: `--timeout` or `--max-instructions` |
//! | 6 | the guest halted and nothing can wake it (interrupts disabled or all masked), or the BIOS found nothing to boot |
//! | 8 | triple fault with `--no-reboot` |
//! | 0 | the guest reset the machine (8042 pulse, port 0x92, 0xCF9) with `--no-reboot`, as a reboot ends QEMU's `-no-reboot` run |
//! | 70 | internal emulator error (a bug in emu: please report it) |

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The guest wrote `value` to the isa-debug-exit port.
    DebugExit(u32),
    /// The guest switched the machine off.
    PowerOff,
    /// The host stopped the run (e.g. `--exit-on` text seen, window closed).
    Stopped,
    /// `--timeout` seconds of host time passed.
    Timeout,
    /// `--max-instructions` instructions retired.
    InstructionLimit,
    /// HLT with nothing that could end it.
    HaltedForever,
    /// A triple fault, with rebooting disabled.
    TripleFault,
    /// The guest asked for a reset (8042, port 0x92, 0xCF9), with rebooting disabled: a clean
    /// end, like a power-off (a Linux guest's `reboot`).
    Reset,
    /// The firmware found nothing to boot.
    NoBootDevice,
    /// `--cpu check` found the JIT and the interpreter disagreeing (a bug in emu).
    CheckMismatch,
}

/// Bad command line or input.
pub const USAGE: i32 = 2;
/// A bug in emu.
pub const INTERNAL_ERROR: i32 = 70;

impl Outcome {
    /// The process exit code for this outcome.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::DebugExit(v) => ((v << 1) | 1) as i32 & 0xff,
            Outcome::PowerOff | Outcome::Stopped | Outcome::Reset => 0,
            Outcome::Timeout | Outcome::InstructionLimit => 4,
            Outcome::HaltedForever | Outcome::NoBootDevice => 6,
            Outcome::TripleFault => 8,
            Outcome::CheckMismatch => INTERNAL_ERROR,
        }
    }

    /// A sentence for stderr.
    pub fn describe(self) -> String {
        match self {
            Outcome::DebugExit(v) => format!("guest wrote {v:#x} to the exit port"),
            Outcome::PowerOff => "guest switched the machine off".into(),
            Outcome::Stopped => "run stopped".into(),
            Outcome::Timeout => "timeout reached".into(),
            Outcome::InstructionLimit => "instruction limit reached".into(),
            Outcome::HaltedForever => {
                "guest halted and nothing can wake it (interrupts disabled or no interrupt source)".into()
            }
            Outcome::TripleFault => "guest triple-faulted (rebooting is disabled)".into(),
            Outcome::Reset => "guest reset the machine (rebooting is disabled)".into(),
            Outcome::NoBootDevice => "the BIOS found nothing to boot: give a bootable --disk, --cdrom or --fda".into(),
            Outcome::CheckMismatch => "the JIT and the interpreter differ (--cpu check): a bug in emu".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_debug_exit_is_odd() {
        assert_eq!(Outcome::DebugExit(0).exit_code(), 1);
        assert_eq!(Outcome::DebugExit(3).exit_code(), 7);
        let codes =
            [Outcome::PowerOff, Outcome::Timeout, Outcome::HaltedForever, Outcome::TripleFault].map(Outcome::exit_code);
        assert_eq!(codes, [0, 4, 6, 8]);
        assert!(codes.iter().all(|c| c % 2 == 0 && *c != USAGE && *c != INTERNAL_ERROR));
    }
}
