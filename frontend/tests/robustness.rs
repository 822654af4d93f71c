//! Random bytes as code: whatever a guest does, emu must neither panic nor hang. Each seed fills
//! the firmware ROM (reset vector included) and the first 64 KiB of RAM with random bytes and
//! runs them under an instruction and a time limit.

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

fn run_seed(seed: u64) -> Outcome {
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
    let ram = rng.bytes(64 << 10);
    m.cpu.sys.ram_mut().as_mut_slice()[..ram.len()].copy_from_slice(&ram);
    let limits = Limits { timeout: Some(Duration::from_secs(20)), max_instructions: Some(300_000) };
    let start = Instant::now();
    let outcome = m.run(limits, None);
    assert!(start.elapsed() < Duration::from_secs(30), "seed {seed}: run took {:?}", start.elapsed());
    outcome
}

#[test]
fn random_code_never_panics_or_hangs() {
    let mut outcomes = std::collections::BTreeMap::new();
    for seed in 0..48 {
        let outcome = std::panic::catch_unwind(|| run_seed(seed)).unwrap_or_else(|_| panic!("seed {seed} panicked"));
        *outcomes.entry(format!("{outcome:?}")).or_insert(0) += 1;
    }
    eprintln!("outcomes over 48 seeds: {outcomes:?}");
}
