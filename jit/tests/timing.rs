//! The dispatcher keeps guest time exactly as `Cpu::run` does (device timers run at the same
//! instruction counts in both tiers), and leaves pages invalidated too often to the interpreter.

mod common;

use common::*;
use emu_core::{ClockHandle, Device, InterruptController};
use emu_cpu_x86::Stop;
use iced_x86::code_asm::*;

/// Port 0x70 reads the guest time (ns) as the clock was last synced: what a timer chip's
/// counter shows.
struct ClockPort(ClockHandle);

impl Device for ClockPort {
    fn name(&self) -> &'static str {
        "clock port"
    }
    fn read(&mut self, _region: u8, _offset: u64, _size: u8) -> u32 {
        self.0.now() as u32
    }
    fn write(&mut self, _region: u8, _offset: u64, _size: u8, _value: u32) {}
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// SeaBIOS's ATA probe polled the timer in a loop, and booted differently in the two tiers: the
/// JIT synced the clock at the first block boundary past the deadline (up to a block later than
/// the interpreter), so the guest read other times and took other branches.
#[test]
fn guest_time_is_the_same_in_both_tiers() {
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(ecx, 300u32)?;
        a.mov(edx, 0x70u32)?;
        a.xor(esi, esi)?;
        a.set_label(&mut top)?;
        // A block of 21 instructions ending in the IN (port I/O ends a block): 256 is no multiple
        // of the loop's 24 instructions, so deadlines fall everywhere inside the block.
        for _ in 0..10 {
            a.add(ebx, ecx)?;
            a.xor(edi, ebx)?;
        }
        a.in_(eax, dx)?;
        a.add(esi, eax)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let make = || {
        let mut c = flat32(&code);
        let clock = c.sys.clock.handle();
        let id = c.sys.add_device(Box::new(ClockPort(clock)));
        c.sys.map_io(0x70, 4, id, 0).unwrap();
        c
    };
    let (cpu, stop, j) = same_in_both(make, 100_000, "timer polling loop");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.jit_insns > 5000, "the loop ran translated: {:?}", j.stats);
    assert_ne!(cpu.s.regs[6], 0);
}

/// A periodic timer that is its own interrupt controller: vector 0x20 every `period` ns.
struct Ticker {
    next: u64,
    period: u64,
    pending: bool,
}

impl Device for Ticker {
    fn name(&self) -> &'static str {
        "ticker"
    }
    fn read(&mut self, _region: u8, _offset: u64, _size: u8) -> u32 {
        0
    }
    fn write(&mut self, _region: u8, _offset: u64, _size: u8, _value: u32) {}
    fn deadline(&self) -> Option<u64> {
        Some(self.next)
    }
    fn advance(&mut self, now: u64) {
        self.pending = true;
        while self.next <= now {
            self.next += self.period;
        }
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn as_interrupt_controller(&mut self) -> Option<&mut dyn InterruptController> {
        Some(self)
    }
}

/// A test timer that is its own interrupt controller: its `pending` flag requests vector 0x20.
macro_rules! own_interrupt_0x20 {
    ($device:ty) => {
        impl InterruptController for $device {
            fn intr(&mut self) -> bool {
                self.pending
            }
            fn acknowledge(&mut self) -> u8 {
                self.pending = false;
                0x20
            }
        }
    };
}

own_interrupt_0x20!(Ticker);

/// A timer interrupt arrives at the same instruction in both tiers: a block that would run past
/// the clock deadline at which a timer is due does not (the interpreter runs up to it).
#[test]
fn timer_interrupts_arrive_at_the_same_instruction() {
    let code = asm(16, |a| {
        let mut main = a.create_label();
        let mut top = a.create_label();
        a.jmp(main)?;
        a.inc(si)?; // the handler: counts ticks
        a.iret()?;
        a.set_label(&mut main)?;
        a.sti()?;
        a.mov(cx, 3000u32)?;
        a.set_label(&mut top)?;
        for _ in 0..20 {
            a.add(bx, si)?;
            a.xor(di, bx)?;
        }
        a.dec(cx)?;
        a.jnz(top)?;
        a.cli()?;
        a.hlt()
    });
    let handler = code.windows(2).position(|w| w == [0x46, 0xcf]).expect("the handler") as u32 + CODE;
    let make = || {
        let mut c = real_mode(&code);
        load(&mut c, 0x20 * 4, &[handler as u8, (handler >> 8) as u8, 0, 0]);
        let id = c.sys.add_device(Box::new(Ticker { next: 1000, period: 1000, pending: false }));
        c.sys.set_interrupt_controller(id);
        c
    };
    let (cpu, stop, j) = same_in_both(make, 1_000_000, "timer interrupts");
    assert_eq!(stop, Stop::Halted);
    assert!(cpu.s.regs[6] > 50, "ticks: {}", cpu.s.regs[6]);
    assert!(j.stats.jit_insns > 50_000, "the loop ran translated: {:?}", j.stats);
}

/// A loop that patches an immediate of its own next instruction every iteration: after a few
/// retranslations the page is left to the interpreter instead of being translated every time.
#[test]
fn a_page_invalidated_too_often_is_interpreted() {
    const ITERATIONS: u32 = 2000;
    let (mut code, at) = self_patching_loop(ITERATIONS, 0x1234_5678);
    let add = code.windows(2).position(|w| w == [0x81, 0xc2]).expect("the patched ADD");
    code[at..at + 4].copy_from_slice(&(CODE + add as u32 + 2).to_le_bytes());
    let (_, stop, j) = same_in_both(|| flat32(&code), 1_000_000, "self-patching loop");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.hot_pages >= 1, "{:?}", j.stats);
    assert!(j.stats.hot_insns > 5 * ITERATIONS as u64, "{:?}", j.stats);
    assert!(j.stats.blocks_compiled < 50, "not retranslated every iteration: {:?}", j.stats);
}

/// `--cpu check` learns the pages a run wrote from the TLB's write log, not from its write tags:
/// a flush (here INVLPG; in SeaBIOS, the PAM and A20 changes between blocks) or an eviction used
/// to lose the record, the checker's copy of RAM went stale, and a later block on the same page
/// was reported as a difference (SeaBIOS: "memory byte at physical 04fefd70: jit 02,
/// interpreter 00").
#[test]
fn check_mode_survives_tlb_flushes() {
    let code = asm(32, |a| {
        let mut next = a.create_label();
        a.mov(byte_ptr(0x5000u32), 1u32)?;
        a.invlpg(byte_ptr(0x5000u32))?;
        a.jmp(next)?;
        a.set_label(&mut next)?;
        a.mov(byte_ptr(0x5001u32), 2u32)?;
        a.hlt()
    });
    let mut cpu = flat32(&code);
    let mut j = emu_jit::Jit::new(emu_jit::Options { code_size: 1 << 20, check: true, ..Default::default() }).unwrap();
    assert_eq!(j.run(&mut cpu, 100), Stop::Halted);
    assert_eq!(j.check_failure(), None);
    assert!(j.stats.checked_blocks >= 2, "{:?}", j.stats);
    assert_eq!(cpu.sys.ram().as_slice()[0x5000..0x5002], [1, 2]);
}

/// Runs `code` (32-bit flat) under the JIT, in real-time mode if `real_time` (else
/// deterministic), with [`ClockPort`] at port 0x70 and at physical 0xd0000.
fn jit_run_with_clock_port(code: &[u8], budget: u64, real_time: bool) -> (emu_cpu_x86::Cpu, Stop, emu_jit::Jit) {
    let mut c = flat32(code);
    if real_time {
        c.sys.clock = emu_core::Clock::new(emu_core::ClockMode::RealTime);
    }
    let clock = c.sys.clock.handle();
    let id = c.sys.add_device(Box::new(ClockPort(clock)));
    c.sys.map_io(0x70, 4, id, 0).unwrap();
    c.sys.map_mmio(0xd0000, 0x1000, id, 0).unwrap();
    let mut j = jit();
    let stop = j.run(&mut c, budget);
    (c, stop, j)
}

/// In real-time mode, syncs are rare while the guest touches no device (the JIT chains blocks
/// for many thousands of instructions), yet a device always reads the time of the instruction
/// that reaches it: never older than the TSC read just before (RDTSC reads the host clock;
/// the TSC counts ns). In deterministic mode the device would read the last sync point's time,
/// older than the TSC (see `guest_time_is_the_same_in_both_tiers`).
#[test]
fn real_time_devices_read_fresh_time_between_rare_syncs() {
    for mmio in [false, true] {
        let code = asm(32, |a| {
            let mut outer = a.create_label();
            let mut inner = a.create_label();
            let mut ok = a.create_label();
            a.mov(edi, 200u32)?;
            a.xor(esi, esi)?;
            a.set_label(&mut outer)?;
            a.mov(ecx, 2000u32)?;
            a.set_label(&mut inner)?;
            a.add(ebx, ecx)?;
            a.dec(ecx)?;
            a.jnz(inner)?;
            a.rdtsc()?;
            a.mov(ebx, eax)?;
            if mmio {
                a.mov(eax, dword_ptr(0xd0000))?;
            } else {
                a.mov(edx, 0x70u32)?;
                a.in_(eax, dx)?;
            }
            a.sub(eax, ebx)?;
            a.jns(ok)?;
            a.inc(esi)?; // the device's time was older than the TSC's
            a.set_label(&mut ok)?;
            a.dec(edi)?;
            a.jnz(outer)?;
            a.hlt()
        });
        let (cpu, stop, j) = jit_run_with_clock_port(&code, 10_000_000, true);
        assert_eq!(stop, Stop::Halted);
        assert_eq!(cpu.s.regs[6], 0, "reads of stale time (mmio: {mmio})");
        assert!(j.stats.jit_insns > 1_000_000, "the loop ran translated: {:?}", j.stats);
        // Back in the dispatcher (a lookup) far less often than every 256 instructions.
        assert!(j.stats.lookups * 1024 < cpu.s.icount, "lookups: {:?}", j.stats);
        // The check can fail: in deterministic mode devices read the last sync point's time.
        let (cpu, stop, _) = jit_run_with_clock_port(&code, 10_000_000, false);
        assert_eq!(stop, Stop::Halted);
        assert!(cpu.s.regs[6] > 100, "deterministic mode: {} stale reads (mmio: {mmio})", cpu.s.regs[6]);
    }
}

/// A one-shot timer due at a fixed guest time that is its own interrupt controller (vector
/// 0x20) and raises its interrupt without the board's attention, as the local APIC's timer
/// does; its MMIO register reads how many times it was read (this read included).
struct Alarm {
    due: Option<u64>,
    reads: u32,
    /// `reads` when the timer ran.
    fired_after: Option<u32>,
    pending: bool,
}

impl Device for Alarm {
    fn name(&self) -> &'static str {
        "alarm"
    }
    fn read(&mut self, _region: u8, _offset: u64, _size: u8) -> u32 {
        self.reads += 1;
        self.reads
    }
    fn write(&mut self, _region: u8, _offset: u64, _size: u8, _value: u32) {}
    fn deadline(&self) -> Option<u64> {
        self.due
    }
    fn advance(&mut self, _now: u64) {
        self.due = None;
        self.pending = true;
        self.fired_after = Some(self.reads);
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn as_interrupt_controller(&mut self) -> Option<&mut dyn InterruptController> {
        Some(self)
    }
}

own_interrupt_0x20!(Alarm);

/// A real-mode machine in real-time mode with an [`Alarm`] due at `due` ns: its vector 0x20
/// handler keeps EAX (the last read) in ESI and EDX in EDI and halts; the program runs `body`
/// (from a label it is given to loop to) with DS at the alarm's MMIO page and interrupts on.
fn alarm_machine(
    due: u64,
    body: impl FnOnce(&mut CodeAssembler, CodeLabel) -> Result<(), IcedError>,
) -> emu_cpu_x86::Cpu {
    let code = asm(16, |a| {
        let (mut main, mut top) = (a.create_label(), a.create_label());
        a.jmp(main)?;
        a.mov(esi, eax)?; // the handler
        a.mov(edi, edx)?;
        a.cli()?;
        a.hlt()?;
        a.set_label(&mut main)?;
        a.mov(ax, 0xd000u32)?;
        a.mov(ds, ax)?;
        a.sti()?;
        a.set_label(&mut top)?;
        body(a, top)
    });
    let handler = code.windows(3).position(|w| w == [0x66, 0x89, 0xc6]).expect("the handler") as u32 + CODE;
    let mut c = real_mode(&code);
    c.sys.clock = emu_core::Clock::new(emu_core::ClockMode::RealTime);
    load(&mut c, 0x20 * 4, &[handler as u8, (handler >> 8) as u8, 0, 0]);
    let id = c.sys.add_device(Box::new(Alarm { due: Some(due), reads: 0, fired_after: None, pending: false }));
    c.sys.map_mmio(0xd0000, 0x1000, id, 0).unwrap();
    c.sys.set_interrupt_controller(id);
    c
}

/// In real-time mode, the sync before an MMIO access runs the timers due by then; one that
/// raises an interrupt without the board's attention (the local APIC's) must stop translated
/// code from chaining on, so the interrupt is taken after the block as the interpreter takes it
/// after the instruction. Chained code used to run on to the clock deadline (hundreds to
/// 65,536 instructions; here a one-block loop kept looping).
#[test]
fn an_interrupt_raised_by_the_sync_before_an_mmio_read_stops_chained_code() {
    // Due long after the loop is translated (a few thousand iterations).
    let mut c = alarm_machine(50_000_000, |a, top| {
        // A one-block loop, chained to itself: the read (slow path, MMIO) syncs the clock.
        a.mov(eax, dword_ptr(0u32))?;
        a.inc(ecx)?;
        a.jmp(top)
    });
    let mut j = jit();
    assert_eq!(j.run(&mut c, 2_000_000_000), Stop::Halted);
    let fired_after = c.sys.find_device::<Alarm>().unwrap().fired_after.expect("the timer ran");
    let last_read = c.s.regs[6];
    assert!(j.stats.jit_insns > 10_000, "the loop ran translated: {:?}", j.stats);
    // The timer ran at the sync of read `fired_after + 1` (or, rarely, at a sync point between
    // blocks, after read `fired_after`); the interrupt comes before the next read.
    assert!(
        last_read >= fired_after && last_read <= fired_after + 1,
        "interrupt taken after read {last_read}, the timer ran after read {fired_after}: {:?}",
        j.stats
    );
}

/// The same for blocks that have not been translated and run from the decoded run of the block
/// before them (`runs`: past a conditional branch not taken): between two blocks the run does
/// what the dispatcher would, so the interrupt comes before the next block, not at the run's
/// end.
#[test]
fn an_interrupt_raised_by_the_sync_before_an_mmio_read_stops_a_decoded_run() {
    let mut c = alarm_machine(5_000_000, |a, top| {
        let mut never = a.create_label();
        // One run of two blocks: the first reads (MMIO, a clock sync) and branches away never,
        // the second counts in EDX.
        a.mov(eax, dword_ptr(0u32))?;
        a.test(eax, eax)?;
        a.js(never)?;
        a.inc(edx)?;
        a.test(eax, eax)?;
        a.js(never)?;
        a.jmp(top)?;
        a.set_label(&mut never)?;
        a.hlt()
    });
    // Not warm before the timer (a few thousand rounds): every block runs from its run.
    let mut j =
        emu_jit::Jit::new(emu_jit::Options { code_size: 1 << 20, warmup: 65_535, ..Default::default() }).unwrap();
    assert_eq!(j.run(&mut c, 2_000_000_000), Stop::Halted);
    let fired_after = c.sys.find_device::<Alarm>().unwrap().fired_after.expect("the timer ran");
    let (last_read, counted) = (c.s.regs[6], c.s.regs[7]);
    assert!(j.stats.run_blocks > 1000 && j.stats.blocks_compiled == 0, "{:?}", j.stats);
    // The timer ran at the sync of read `fired_after + 1`, and the interrupt came before the
    // second block counted it; or, rarely, at a sync point between two runs, after read and
    // count `fired_after`. Either way the second block ran `fired_after` times.
    assert!(last_read == fired_after + 1 || last_read == fired_after, "{last_read} {fired_after}");
    assert_eq!(counted, fired_after, "read {last_read}, the timer ran after read {fired_after}: {:?}", j.stats);
}

/// In real-time mode, each MMIO access of a block syncs the clock first, the second access of
/// a later instruction too: inside a block, the instruction count at a slow-path access may be
/// an earlier instruction's, and the second read used to count as "fresh" (the first
/// instruction's sync) and read the first one's older time.
#[test]
fn two_mmio_reads_in_one_block_each_see_fresh_time() {
    const ITERATIONS: u32 = 20_000;
    let code = asm(32, |a| {
        let mut top = a.create_label();
        let mut ok = a.create_label();
        a.mov(edi, ITERATIONS)?;
        a.xor(esi, esi)?;
        a.set_label(&mut top)?;
        // One block (up to the JA): two reads of the time by two instructions, work between.
        a.mov(eax, dword_ptr(0xd0000u32))?;
        for _ in 0..20 {
            a.add(ebx, ecx)?;
            a.imul_2(ecx, ebx)?;
        }
        a.mov(edx, dword_ptr(0xd0000u32))?;
        a.cmp(edx, eax)?;
        a.ja(ok)?;
        a.inc(esi)?; // the second read saw no later time than the first
        a.set_label(&mut ok)?;
        a.dec(edi)?;
        a.jnz(top)?;
        a.hlt()
    });
    let (cpu, stop, j) = jit_run_with_clock_port(&code, 10_000_000, true);
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.jit_insns > 20 * ITERATIONS as u64, "the loop ran translated: {:?}", j.stats);
    assert_eq!(cpu.s.regs[6], 0, "second reads of the first read's time, of {ITERATIONS}");
}

/// Records, at each write to its register, the guest time, and counts the writes that saw no
/// later time than the write before.
struct WriteStamp {
    clock: ClockHandle,
    last: Option<u64>,
    stale: u32,
}

impl Device for WriteStamp {
    fn name(&self) -> &'static str {
        "write stamp"
    }
    fn read(&mut self, _region: u8, _offset: u64, _size: u8) -> u32 {
        0
    }
    fn write(&mut self, _region: u8, _offset: u64, _size: u8, _value: u32) {
        let now = self.clock.now();
        if self.last.is_some_and(|t| now <= t) {
            self.stale += 1;
        }
        self.last = Some(now);
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// [`two_mmio_reads_in_one_block_each_see_fresh_time`] for writes.
#[test]
fn two_mmio_writes_in_one_block_each_see_fresh_time() {
    const ITERATIONS: u32 = 20_000;
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.mov(edi, ITERATIONS)?;
        a.set_label(&mut top)?;
        // One block (up to the JNZ): two writes by two instructions, work between.
        a.mov(dword_ptr(0xd0000u32), eax)?;
        for _ in 0..20 {
            a.add(ebx, ecx)?;
            a.imul_2(ecx, ebx)?;
        }
        a.mov(dword_ptr(0xd0000u32), eax)?;
        a.dec(edi)?;
        a.jnz(top)?;
        a.hlt()
    });
    let mut c = flat32(&code);
    c.sys.clock = emu_core::Clock::new(emu_core::ClockMode::RealTime);
    let clock = c.sys.clock.handle();
    let id = c.sys.add_device(Box::new(WriteStamp { clock, last: None, stale: 0 }));
    c.sys.map_mmio(0xd0000, 0x1000, id, 0).unwrap();
    let mut j = jit();
    assert_eq!(j.run(&mut c, 10_000_000), Stop::Halted);
    assert!(j.stats.jit_insns > 20 * ITERATIONS as u64, "the loop ran translated: {:?}", j.stats);
    let stale = c.sys.find_device::<WriteStamp>().unwrap().stale;
    assert_eq!(stale, 0, "writes that saw the previous write's time, of {}", 2 * ITERATIONS);
}
