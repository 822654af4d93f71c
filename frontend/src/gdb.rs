//! `--gdb PORT`: the GDB remote protocol (through the gdbstub crate) for the i386 guest.
//!
//! While gdb is attached the interpreter runs (also with `--cpu jit`): breakpoints never patch
//! guest memory; the run loop is polled before every instruction and compares the linear address
//! of CS:EIP with the breakpoints (software and hardware breakpoints are the same mechanism).
//! Write watchpoints compare the watched bytes after every instruction. Addresses are linear
//! (CS base + EIP), read and written through the guest's paging with supervisor rights; a
//! page that is not mapped reads as an error to gdb, never as a fault in the guest. When gdb
//! detaches, the run goes on as without it.

use crate::exit::Outcome;
use crate::machine::{Host, Limits, Machine};
use emu_cpu_x86::state::{eflags, reg, SegReg};
use emu_cpu_x86::tlb::Access;
use gdbstub::common::Signal;
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::run_blocking::{self, BlockingEventLoop};
use gdbstub::stub::{DisconnectReason, GdbStub, SingleThreadStopReason};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep, SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint,
    SwBreakpointOps, WatchKind,
};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::x86::reg::X86CoreRegs;
use gdbstub_arch::x86::X86_SSE;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, TcpStream};

/// Binds the gdb port; fails with one line (port in use) before the machine runs.
pub fn listen(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            format!("gdb port {addr} is already in use: pick another port with --gdb PORT")
        }
        _ => format!("gdb port {addr} cannot be opened: {e}"),
    })
}

/// Waits for gdb, then runs the machine under its control until gdb detaches (`None`: go on
/// without it) or the run ends (`Some`).
pub fn serve(listener: TcpListener, machine: &mut Machine, host: &mut dyn Host) -> Option<Outcome> {
    eprintln!("emu: waiting for gdb on {} (target remote ...)", listener.local_addr().ok()?);
    let stream = match listener.accept() {
        Ok((s, _)) => s,
        Err(e) => {
            eprintln!("emu: gdb connection failed: {e}");
            return None;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut target = Debuggee { machine, host, st: Stops::default(), outcome: None };
    match GdbStub::new(stream).run_blocking::<EventLoop>(&mut target) {
        Ok(DisconnectReason::Disconnect) => {
            eprintln!("emu: gdb detached; the run goes on");
            target.outcome
        }
        Ok(DisconnectReason::Kill) => Some(target.outcome.unwrap_or(Outcome::Stopped)),
        Ok(_) => target.outcome.or(Some(Outcome::Stopped)),
        Err(e) => {
            eprintln!("emu: gdb connection ended: {e}");
            target.outcome
        }
    }
}

/// A watched range and the bytes it held.
struct Watch {
    addr: u32,
    len: u32,
    old: Vec<u8>,
}

/// Where the run must stop for gdb.
#[derive(Default)]
struct Stops {
    breakpoints: Vec<u32>,
    watches: Vec<Watch>,
    step: bool,
}

/// The machine as gdb sees it.
pub struct Debuggee<'a> {
    machine: &'a mut Machine,
    host: &'a mut dyn Host,
    st: Stops,
    /// How the run ended, if it did.
    outcome: Option<Outcome>,
}

/// Reads linear memory with supervisor rights; `None` where a page is not mapped.
fn read_linear(m: &mut Machine, addr: u32, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        let lin = addr.wrapping_add(done as u32);
        let Ok(pa) = m.cpu.translate(lin, Access::Read, false) else {
            break;
        };
        let n = (0x1000 - (lin & 0xfff) as usize).min(buf.len() - done);
        m.cpu.sys.read_bytes(pa, &mut buf[done..done + n]);
        done += n;
    }
    done
}

fn linear_eip(m: &Machine) -> u32 {
    m.cpu.s.segs[SegReg::Cs as usize].base.wrapping_add(m.cpu.s.eip)
}

/// Why the run loop stopped for gdb.
enum Event {
    Incoming,
    Stopped(SingleThreadStopReason<u32>),
}

/// Polls for breakpoints, watchpoints, the end of a step and bytes from gdb.
struct DebugHost<'a> {
    st: &'a mut Stops,
    host: &'a mut dyn Host,
    conn: &'a mut TcpStream,
    polls: u64,
    event: Option<Event>,
}

impl Host for DebugHost<'_> {
    fn poll(&mut self, m: &mut Machine) -> Option<Outcome> {
        self.polls += 1;
        let first = self.polls == 1;
        let t = &mut *self.st;
        if !first {
            if t.step {
                self.event = Some(Event::Stopped(SingleThreadStopReason::DoneStep));
            } else if t.breakpoints.contains(&linear_eip(m)) {
                // gdb knows EIP, not CS:EIP: with a CS base (real mode) it would not recognise
                // its breakpoint and would resume, so the stop is reported as a plain SIGTRAP.
                self.event = Some(Event::Stopped(if m.cpu.s.segs[SegReg::Cs as usize].base == 0 {
                    SingleThreadStopReason::SwBreak(())
                } else {
                    SingleThreadStopReason::Signal(Signal::SIGTRAP)
                }));
            } else {
                for w in &mut t.watches {
                    let mut now = vec![0; w.len as usize];
                    read_linear(m, w.addr, &mut now);
                    if now != w.old {
                        w.old = now;
                        self.event = Some(Event::Stopped(SingleThreadStopReason::Watch {
                            tid: (),
                            kind: WatchKind::Write,
                            addr: w.addr,
                        }));
                        break;
                    }
                }
            }
        }
        if self.event.is_none()
            && (self.polls % 1024 == 1 || self.max_slice() > 1)
            && self.conn.peek().map_or(true, |b| b.is_some())
        {
            self.event = Some(Event::Incoming);
        }
        if self.event.is_some() {
            return Some(Outcome::Stopped);
        }
        self.host.poll(m)
    }

    fn max_slice(&self) -> u64 {
        let t = &self.st;
        if t.step || !t.breakpoints.is_empty() || !t.watches.is_empty() {
            1
        } else {
            50_000
        }
    }

    fn interpret(&self) -> bool {
        true
    }
}

enum EventLoop<'a> {
    _Never(std::convert::Infallible, PhantomData<&'a ()>),
}

impl<'a> BlockingEventLoop for EventLoop<'a> {
    type Target = Debuggee<'a>;
    type Connection = TcpStream;
    type StopReason = SingleThreadStopReason<u32>;

    #[allow(clippy::type_complexity)]
    fn wait_for_stop_reason(
        target: &mut Debuggee<'a>,
        conn: &mut TcpStream,
    ) -> Result<run_blocking::Event<Self::StopReason>, run_blocking::WaitForStopReasonError<&'static str, std::io::Error>>
    {
        if let Some(outcome) = target.outcome {
            return Ok(run_blocking::Event::TargetStopped(SingleThreadStopReason::Exited(outcome.exit_code() as u8)));
        }
        let mut host = DebugHost { st: &mut target.st, host: &mut *target.host, conn, polls: 0, event: None };
        let outcome = target.machine.run_with(Limits::default(), None, &mut host);
        match host.event.take() {
            Some(Event::Incoming) => {
                let byte = host.conn.read().map_err(run_blocking::WaitForStopReasonError::Connection)?;
                Ok(run_blocking::Event::IncomingData(byte))
            }
            Some(Event::Stopped(reason)) => Ok(run_blocking::Event::TargetStopped(reason)),
            None => {
                target.outcome = Some(outcome);
                eprintln!("emu: {}", outcome.describe());
                Ok(run_blocking::Event::TargetStopped(SingleThreadStopReason::Exited(outcome.exit_code() as u8)))
            }
        }
    }

    fn on_interrupt(_: &mut Debuggee<'a>) -> Result<Option<Self::StopReason>, &'static str> {
        Ok(Some(SingleThreadStopReason::Signal(Signal::SIGINT)))
    }
}

impl Target for Debuggee<'_> {
    type Arch = X86_SSE;
    type Error = &'static str;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadBase for Debuggee<'_> {
    fn read_registers(&mut self, regs: &mut X86CoreRegs) -> TargetResult<(), Self> {
        let s = &self.machine.cpu.s;
        regs.eax = s.regs[reg::EAX];
        regs.ecx = s.regs[reg::ECX];
        regs.edx = s.regs[reg::EDX];
        regs.ebx = s.regs[reg::EBX];
        regs.esp = s.regs[reg::ESP];
        regs.ebp = s.regs[reg::EBP];
        regs.esi = s.regs[reg::ESI];
        regs.edi = s.regs[reg::EDI];
        regs.eip = s.eip;
        regs.eflags = s.eflags();
        let sel = |r: SegReg| s.segs[r as usize].selector as u32;
        regs.segments.cs = sel(SegReg::Cs);
        regs.segments.ss = sel(SegReg::Ss);
        regs.segments.ds = sel(SegReg::Ds);
        regs.segments.es = sel(SegReg::Es);
        regs.segments.fs = sel(SegReg::Fs);
        regs.segments.gs = sel(SegReg::Gs);
        Ok(())
    }

    fn write_registers(&mut self, regs: &X86CoreRegs) -> TargetResult<(), Self> {
        let s = &mut self.machine.cpu.s;
        s.regs = [regs.eax, regs.ecx, regs.edx, regs.ebx, regs.esp, regs.ebp, regs.esi, regs.edi];
        s.eip = regs.eip;
        s.set_eflags(regs.eflags, eflags::WRITABLE);
        Ok(())
    }

    fn read_addrs(&mut self, start_addr: u32, data: &mut [u8]) -> TargetResult<usize, Self> {
        match read_linear(self.machine, start_addr, data) {
            0 if !data.is_empty() => Err(TargetError::NonFatal),
            n => Ok(n),
        }
    }

    fn write_addrs(&mut self, start_addr: u32, data: &[u8]) -> TargetResult<(), Self> {
        let cpu = &mut self.machine.cpu;
        let mut done = 0;
        while done < data.len() {
            let lin = start_addr.wrapping_add(done as u32);
            let pa = cpu.translate(lin, Access::Write, false).map_err(|_| TargetError::NonFatal)?;
            let n = (0x1000 - (lin & 0xfff) as usize).min(data.len() - done);
            cpu.sys.write_bytes(pa, &data[done..done + n]);
            // Translated code on that page is stale now.
            let page = (pa >> 12) as u32;
            if pa >> 32 == 0 && cpu.is_code_page(page) {
                cpu.smc_writes.push(page);
            }
            done += n;
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for Debuggee<'_> {
    fn resume(&mut self, _signal: Option<Signal>) -> Result<(), Self::Error> {
        self.st.step = false;
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for Debuggee<'_> {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), Self::Error> {
        self.st.step = true;
        Ok(())
    }
}

impl Breakpoints for Debuggee<'_> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }
    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }
    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for Debuggee<'_> {
    fn add_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        if !self.st.breakpoints.contains(&addr) {
            self.st.breakpoints.push(addr);
        }
        Ok(true)
    }
    fn remove_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        let before = self.st.breakpoints.len();
        self.st.breakpoints.retain(|&a| a != addr);
        Ok(self.st.breakpoints.len() != before)
    }
}

impl HwBreakpoint for Debuggee<'_> {
    fn add_hw_breakpoint(&mut self, addr: u32, kind: usize) -> TargetResult<bool, Self> {
        self.add_sw_breakpoint(addr, kind)
    }
    fn remove_hw_breakpoint(&mut self, addr: u32, kind: usize) -> TargetResult<bool, Self> {
        self.remove_sw_breakpoint(addr, kind)
    }
}

impl HwWatchpoint for Debuggee<'_> {
    fn add_hw_watchpoint(&mut self, addr: u32, len: u32, kind: WatchKind) -> TargetResult<bool, Self> {
        // Only writes can be seen (by comparing values); read watchpoints are refused.
        if kind != WatchKind::Write || len == 0 || len > 4096 {
            return Ok(false);
        }
        let mut old = vec![0; len as usize];
        read_linear(self.machine, addr, &mut old);
        self.st.watches.push(Watch { addr, len, old });
        Ok(true)
    }
    fn remove_hw_watchpoint(&mut self, addr: u32, len: u32, kind: WatchKind) -> TargetResult<bool, Self> {
        let before = self.st.watches.len();
        if kind == WatchKind::Write {
            self.st.watches.retain(|w| !(w.addr == addr && w.len == len));
        }
        Ok(self.st.watches.len() != before)
    }
}
