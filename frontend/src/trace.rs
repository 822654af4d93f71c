//! `--trace FILE`: one line per instruction with its address, bytes, disassembly, and the
//! registers it changed.
//!
//! ```text
//! f000:fff0 (000ffff0)  ea 00 00 00 f0        jmp far 0xf000:0x0        cs=f000 eip=00000000
//! ```

use emu_cpu_x86::disasm;
use emu_cpu_x86::state::{CpuState, SegReg};
use emu_cpu_x86::Cpu;
use std::io::{self, Write};

const REGS: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

/// Writes the trace.
pub struct Tracer {
    out: Box<dyn Write + Send>,
    error: Option<io::Error>,
}

/// What the tracer saw before an instruction.
pub struct Before {
    state: CpuState,
    eflags: u32,
    text: String,
}

impl Tracer {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Tracer { out, error: None }
    }

    /// Decodes (without executing) the instruction at CS:EIP and remembers the state.
    pub fn before(&mut self, cpu: &mut Cpu) -> Before {
        let cs = *cpu.s.seg(SegReg::Cs);
        let eip = cpu.s.eip;
        let head = format!("{:04x}:{:08x} ({:08x})", cs.selector, eip, cs.base.wrapping_add(eip));
        let state = cpu.s.clone();
        let eflags = cpu.s.eflags();
        let text = if cpu.s.halted {
            format!("{head}  (halted)")
        } else {
            match cpu.fetch_decode() {
                Ok(i) => {
                    let mut bytes = String::new();
                    for n in 0..i.len as u32 {
                        let lin = cs.base.wrapping_add(eip.wrapping_add(n));
                        let b = cpu.fetch_lin(lin).unwrap_or(0);
                        bytes += &format!("{b:02x} ");
                    }
                    format!("{head}  {bytes:<24}{:<32}", disasm::format(&i, eip))
                }
                Err(f) => format!("{head}  (fetch fault: vector {})", f.vector),
            }
        };
        Before { state, eflags, text }
    }

    /// Writes the line for the instruction that just ran.
    pub fn after(&mut self, cpu: &Cpu, before: Before) {
        let (a, b) = (&before.state, &cpu.s);
        let mut line = before.text;
        for (n, name) in REGS.iter().enumerate() {
            if a.regs[n] != b.regs[n] {
                line += &format!(" {name}={:08x}", b.regs[n]);
            }
        }
        for seg in SegReg::ALL {
            if a.seg(seg).selector != b.seg(seg).selector || a.seg(seg).base != b.seg(seg).base {
                line += &format!(" {}={:04x}", seg.name(), b.seg(seg).selector);
            }
        }
        if b.eflags() != before.eflags {
            line += &format!(" eflags={:08x}", b.eflags());
        }
        for (n, (x, y)) in [(0, (a.cr0, b.cr0)), (2, (a.cr2, b.cr2)), (3, (a.cr3, b.cr3)), (4, (a.cr4, b.cr4))] {
            if x != y {
                line += &format!(" cr{n}={y:08x}");
            }
        }
        line += &format!(" eip={:08x}", b.eip);
        if self.error.is_none() {
            if let Err(e) = writeln!(self.out, "{}", line.trim_end_matches(' ')) {
                self.error = Some(e);
            }
        }
    }

    /// Flushes; reports the first write error, if any.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}
