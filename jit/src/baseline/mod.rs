//! The baseline tier (being built; `emu --jit-baseline` runs it, not the default): warm blocks
//! translated to x86-64 code by templates, in one pass, between the interpreter and Cranelift.
//!
//! **Why.** A kernel's initialisation runs thousands of blocks a few hundred to a few thousand
//! times each. The interpreter runs them slowly: on the Linux bench boot, from "Linux version" to
//! the isapnp probe, about 10 ns an instruction in the decoded runs and about 100 ns a block in
//! the dispatcher, the run table and the warm-up table (`perf`, the twentieth day). Cranelift
//! makes them fast, but costs about 460 µs a block (1.5 µs an IR instruction, some 40 IR
//! instructions a guest instruction), so its thread is busy all through initialisation and warm
//! blocks wait in its queue, interpreted. QEMU's TCG translates every block on first use at a
//! small fraction of that, and initialisation is where emu loses to it (README,
//! "Performance"). Estimated on the fourteenth and fifteenth days: compiling each block after 16
//! runs, at no cost, to code near Cranelift's would take some 0.25-0.3 s off that phase's 1.7 s,
//! more with the instructions interpreted while blocks wait for the compile thread.
//!
//! **The plan, in order:**
//! 1. [`asm`]: an assembler for the host instructions templates need, at a few nanoseconds a
//!    host instruction (done).
//! 2. The block contract of [`crate::translate`], kept exactly: the `tail` convention's
//!    [`crate::helpers::BlockEntry`] (`rdi` the CPU, `rsi` the exit context, the status in
//!    `eax`, `rbx`, `rbp` and `r12`-`r15` preserved), the statuses, `icount` at every exit,
//!    faults that change nothing, the stop after a store onto translated code, and the exit
//!    context's fields. So a block of either tier can run where the other's would, and
//!    Cranelift's blocks can chain into baseline ones. Guest registers and the lazy flags stay
//!    in the CPU state: every instruction loads what it reads and stores what it writes, so the
//!    state is exact at every instruction boundary and a fault exit stores only EIP and the
//!    count. Instructions without a template call `helpers::exec_insn`, as Cranelift's blocks
//!    do (done: [`emit`]; [`crate::Options::baseline`] builds the in-line compiles with it,
//!    for the tests, which run the JIT's program, fault, merged-block, page-crossing and
//!    random-program suites with it too).
//! 3. Templates for the forms that make up 94% of the blocks compiled up to the isapnp probe
//!    (README, the fourteenth day), with the TLB's fast path inline and
//!    `helpers::read_mem`/`write_mem` behind it. Done for the 32-bit forms of MOV (registers,
//!    immediates, loads, stores), ADD, SUB, CMP, AND, OR, XOR and TEST (on registers and on
//!    memory), LEA, PUSH, POP, INC, DEC, MOVZX, MOVSX, JMP, CALL, RET and a block's last Jcc
//!    ([`emit`]), JMP and CALL through a register or memory, and chaining in code, as
//!    Cranelift's blocks chain (link cells for fixed targets, the jump cache for computed
//!    ones), and SHL, SHR, SAR, ROL and ROR by an immediate; to do: ADC, SBB, IMUL, XCHG,
//!    CMOVcc, SETcc, the byte and word forms, and inline access counts for `--stats=full`.
//! 4. The tiers: a warm block is translated here, in-line on the CPU's thread; its code counts
//!    its runs down on entry (`cache::Cells::runs`, so it may be entered from any block) and
//!    at the `Options::tier_up`-th leaves with `status::TIER_UP` before it does anything, for
//!    the dispatcher to have Cranelift compile it, whose block then replaces it in the cache.
//!    `--cpu check` checks baseline blocks as it checks the others, and counts their runs as
//!    their code would (its search for the first differing instruction rebuilds prefixes with
//!    Cranelift, though). Done, and `emu`'s default since the twenty-first day (`--jit-baseline
//!    off` leaves it out); the thresholds (warm-up 256, tier-up 1024) measured only as far as
//!    the build machine's noise allowed (README).
//!
//! **Only on x86-64 hosts.** Elsewhere blocks go from the interpreter to Cranelift, as before;
//! Cranelift stays the only code generator emu needs, and the one that makes hot code fast.

pub mod asm;
pub mod emit;

use crate::cache::SlotTarget;
use crate::translate::TranslateError;
use crate::worker::{Done, Job};
use std::time::Instant;

/// `job`'s block built by this tier, with `asm`'s buffer: what [`crate::worker::compile`] is
/// for Cranelift (with `dump`, for `--dump-jit`: a note in place of the IR, and the host code's
/// bytes). `env`'s `cells` is set here, to the job's.
pub(crate) fn compile(asm: &mut asm::Asm, job: Job, env: emit::Env, dump: bool) -> Done {
    let t0 = Instant::now();
    let env = emit::Env { cells: &*job.cells as *const crate::cache::Cells as usize, ..env };
    let (code, targets) = match emit::block(asm, &job.insns, &job.eips, &job.key, env) {
        Ok((code, targets)) => (Ok(code.to_vec()), targets),
        Err(e) => (Err(TranslateError(format!("baseline: {e:?}"))), [SlotTarget::Never; 2]),
    };
    let (ir, listing) = match (&code, dump) {
        (Ok(code), true) => (Some(NO_IR.to_string()), Some(hex_listing(code))),
        _ => (None, None),
    };
    Done { job, code, targets, ir, listing, time: t0.elapsed(), optimized: false, baseline: true }
}

/// What `--dump-jit` shows of a baseline block in place of Cranelift's IR.
pub const NO_IR: &str = "(none: built by the baseline tier from templates, jit/src/baseline/emit.rs)";

/// `code` as `--dump-jit` shows a baseline block's host code: 16 bytes a line, after their
/// offset (`objdump -D -b binary -m i386:x86-64` disassembles them).
fn hex_listing(code: &[u8]) -> String {
    let mut out = String::new();
    for (n, line) in code.chunks(16).enumerate() {
        out += &format!("  {:04x} ", n * 16);
        for b in line {
            out += &format!(" {b:02x}");
        }
        out.push('\n');
    }
    out
}
