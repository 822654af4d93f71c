//! Random bytes as code: whatever a guest does, emu must neither panic nor hang. Each seed fills
//! the firmware ROM (reset vector included) and the first 64 KiB of RAM with random bytes and
//! runs them under an instruction and a time limit: in the interpreter, in the JIT translating
//! every block on first use (so random code reaches the translator, which the default warm-up
//! of 256 runs would rarely let it), and in lockstep (`--cpu check`), where every block runs in
//! both tiers and the first difference ends the run.

use emu::{Limits, Machine, MachineConfig, Outcome, SerialTarget};
use emu_core::ClockMode;
use std::time::{Duration, Instant};

/// xorshift64*: a tiny deterministic generator, so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Which tier runs the random code.
#[derive(Clone, Copy, Debug)]
enum Tier {
    Interp,
    /// The JIT, every block translated on first use, compiled in-line.
    Jit,
    /// `--cpu check`.
    Check,
}

/// The run's outcome, and the blocks the JIT compiled (`Jit`) or checked (`Check`).
fn run_seed(seed: u64, tier: Tier) -> (Outcome, u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let cfg = MachineConfig {
        memory: 4 << 20,
        firmware: emu::machine::Firmware::Image(rng.bytes(64 << 10)),
        storage: Default::default(),
        serial: SerialTarget::None,
        clock: ClockMode::Deterministic { ns_per_insn: 1 },
        no_reboot: false,
        apic: true,
    };
    let mut m = Machine::new(cfg).expect("machine builds");
    let options = match tier {
        Tier::Interp => None,
        Tier::Jit => Some(emu_jit::Options { warmup: 0, ..Default::default() }),
        Tier::Check => Some(emu_jit::Options { check: true, ..Default::default() }),
    };
    m.jit = options.map(|o| emu_jit::Jit::new(o).expect("the JIT starts"));
    let ram = rng.bytes(64 << 10);
    m.cpu.sys.ram_mut().as_mut_slice()[..ram.len()].copy_from_slice(&ram);
    let limits = Limits { timeout: Some(Duration::from_secs(20)), max_instructions: Some(300_000) };
    let start = Instant::now();
    let outcome = m.run(limits, None);
    assert!(start.elapsed() < Duration::from_secs(30), "seed {seed} ({tier:?}): run took {:?}", start.elapsed());
    let blocks = m.jit.as_ref().map_or(0, |j| match tier {
        Tier::Check => j.stats.checked_blocks,
        _ => j.stats.blocks_compiled,
    });
    (outcome, blocks)
}

/// Runs `seeds` under `tier`; none may panic, hang, or (in lockstep) find the tiers differ, and
/// the JIT tiers must have compiled (or checked) blocks.
fn run_seeds(seeds: std::ops::Range<u64>, tier: Tier) {
    let mut outcomes = std::collections::BTreeMap::new();
    let mut blocks = 0;
    for seed in seeds.clone() {
        let (outcome, n) = std::panic::catch_unwind(|| run_seed(seed, tier))
            .unwrap_or_else(|_| panic!("seed {seed} ({tier:?}) panicked"));
        assert!(!matches!(outcome, Outcome::CheckMismatch), "seed {seed} ({tier:?}): the tiers differ");
        *outcomes.entry(format!("{outcome:?}")).or_insert(0) += 1;
        blocks += n;
    }
    eprintln!("{tier:?}: outcomes over seeds {seeds:?}: {outcomes:?}; {blocks} blocks compiled or checked");
    assert!(matches!(tier, Tier::Interp) || blocks > 0, "{tier:?}: the JIT ran no block");
}

#[test]
fn random_code_never_panics_or_hangs() {
    run_seeds(0..48, Tier::Interp);
}

#[test]
fn random_code_never_panics_or_hangs_in_translated_code() {
    run_seeds(0..16, Tier::Jit);
}

#[test]
fn random_code_runs_the_same_in_both_tiers() {
    run_seeds(0..12, Tier::Check);
}
