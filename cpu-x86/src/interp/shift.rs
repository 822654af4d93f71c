//! (being written)

use crate::cpu::Cpu;
use crate::decode::Insn;
use crate::fault::{Fault, Res};

pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    cpu.log_unimplemented(i);
    Err(Fault::UD)
}
