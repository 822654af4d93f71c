//! The `emu` tool as a library: the machine it assembles from the crates below it, the run loop
//! with its limits, the instruction tracer, and the exit codes. `main.rs` is only the command
//! line around this.

pub mod bench;
pub mod bzimage;
pub mod exit;
pub mod gdb;
pub mod headless;
pub mod machine;
pub mod multiboot;
pub mod pc;
pub mod seabios;
pub mod stats;
pub mod trace;
pub mod ui;
pub mod window;

pub use exit::Outcome;
pub use machine::{Limits, Machine, MachineConfig, SerialTarget};
