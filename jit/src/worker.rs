//! Background compilation: Cranelift runs on a second host thread, off the guest's path.
//!
//! Compiling a block costs a few hundred microseconds of host time, most of it in Cranelift,
//! while the dispatcher could go on running the guest. So, with [`crate::Options::background`],
//! a block that warmed up ([`crate::warmup`]) is decoded on the CPU's thread (decoding reads
//! guest memory through the CPU), handed to the compile thread as a `Job` (key, decoded
//! instructions, link cells), and the thread builds its IR and compiles it (`compile`, also
//! what the in-line path runs) and hands back a `Done`. Meanwhile the interpreter goes on
//! running the block, as during warm-up (`Cold::Compiling`: a block is never queued twice); the
//! dispatcher installs finished blocks at its next lookups (`Background::next`).
//!
//! **Order.** In a kernel's cold phases blocks turn warm faster than the thread compiles them,
//! and the queue grows; a few of its blocks then run far more often than the rest while they
//! wait. So the dispatcher counts each queued block's runs (`Background::ran`, in a table the
//! thread reads) and the thread takes the job whose block ran most since it was queued, the
//! oldest of equals. On the Linux bench boot this halved the instructions interpreted in
//! blocks waiting for the thread (16-19 M to 8-9 M). With deterministic time nothing is counted,
//! so the thread goes in queue order.
//!
//! **Optimised code.** A job the thread takes while no other job waits is compiled with
//! Cranelift's optimiser (`Translator::compile_optimized`): about 60% more compile time, which
//! then delays no other block, for faster code. That is the case when blocks turn warm one at a
//! time, between a kernel's bursts; in a burst (the decompressor's loop blocks turn warm some
//! 40 at once, so its hottest are not optimised) and in cold phases the queue is long and every
//! block gets the quick compile, as before. On the Linux bench boot: a median 0.96 of the time
//! (20 interleaved boots). The choice depends on the thread's timing, so it may differ from run
//! to run, also with deterministic time; the code's effects do not, but its size does, and so,
//! in a run that fills code memory (`Options::code_size`), when the cache is flushed, and the
//! counts after.
//!
//! Everything generated code points at (the instructions, the link cells, the jump cache)
//! lives in boxes that travel with the job and come back in the result, so their addresses,
//! compiled into the code, do not change; the thread touches neither the CPU nor the cache.
//!
//! **Invariant (no stale code):** a block is installed only if a synchronous translation at
//! install time would give the same block: its guest code cannot have changed since it was
//! decoded. The dispatcher marks the block's physical page as holding code when it queues the
//! block, so every later write to the page (a guest store, DMA, the debugger, a shadow-RAM
//! change) is reported like a write to translated code, and `Jit::invalidate_page` cancels
//! every queued block on a page it invalidates; `Jit::flush` keeps the pages of queued blocks
//! marked. A cancelled block's result is dropped (`Stats::compiles_dropped`) and the block warms
//! up again. So a page is marked while it holds translated or queued blocks.
//!
//! **Invariant (determinism):** with deterministic time, when a block is installed depends on
//! retired instructions only: a block queued at `icount` is installed at the first lookup at or
//! after `icount + DETERMINISTIC_LAG`, waiting for the thread if it is not done
//! (`Stats::compile_wait`), never before, so a `--deterministic` run is the same run, tier for
//! tier, every time. In real-time mode a block is installed at the first lookup after it is
//! done. Either way the tiers retire the same instructions; only which tier runs them changes.

use crate::cache::{Cells, SlotTarget};
use crate::key::BlockKey;
use crate::translate::{self, TranslateError, Translator};
use crate::Stats;
use emu_cpu_x86::decode::Insn;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// With deterministic time, a queued block is installed this many retired instructions after it
/// was queued (see the module comment): long enough that the thread is often done by then,
/// short enough that a hot block is not interpreted much longer than it takes to compile. On the
/// deterministic Linux boot (2 CPUs, busy host) the dispatcher waited 1.76 s of the thread's
/// 1.87 s of CPU with 2^16, 1.30 s with 2^18 and 0.87 s with 2^20, and the interpreter ran 3.5 M,
/// 9.7 M and 26 M instructions of blocks being compiled: the CPU thread's time (its CPU time plus
/// the waits) was shortest with 2^18, 0.4 s less than compiling in-line. Blocks come in bursts
/// the thread takes a while to work through; spacing a burst's blocks one lag apart, to model
/// that, kept hot blocks interpreted for 150 M instructions more.
pub const DETERMINISTIC_LAG: u64 = 1 << 18;

/// Heat counters (a power of two, at most 2^16: a job's counter is its ticket's low bits, which
/// the warm-up table keeps for it in 16 bits).
const HEAT_SLOTS: usize = 1 << 16;
const _: () = assert!(
    HEAT_SLOTS.is_power_of_two() && HEAT_SLOTS <= 1 << 16,
    "heat slots are masked ticket bits, kept in 16 bits by the warm-up table"
);

/// The job's heat counter for `ticket`: what [`Background::ran`] and the thread's choice of the
/// next job use.
pub(crate) fn heat_slot(ticket: u64) -> u16 {
    (ticket as usize & (HEAT_SLOTS - 1)) as u16
}

/// What the CPU's thread and the compile thread share: the jobs not taken yet, and how often
/// each queued block ran since it was queued.
struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when a job is added or the queue closes.
    added: Condvar,
    /// Runs of each queued block since it was queued, by [`heat_slot`] (Relaxed: only an order
    /// of preference rides on it).
    heat: Box<[AtomicU32]>,
}

#[derive(Default)]
struct Pending {
    jobs: Vec<Job>,
    /// No more jobs will come: the thread finishes when `jobs` is empty.
    closed: bool,
}

impl Shared {
    /// The next job for the thread: the one whose block ran most often since it was queued
    /// (the oldest of those), and whether it was the only one waiting; `None` once the queue is
    /// closed and empty.
    fn take(&self) -> Option<(Job, bool)> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if !p.jobs.is_empty() {
                let heat = |j: &Job| self.heat[heat_slot(j.ticket) as usize].load(Ordering::Relaxed);
                let best = (0..p.jobs.len())
                    .max_by_key(|&i| (heat(&p.jobs[i]), std::cmp::Reverse(p.jobs[i].ticket)))
                    .expect("not empty");
                let job = p.jobs.swap_remove(best);
                return Some((job, p.jobs.is_empty()));
            }
            if p.closed {
                return None;
            }
            p = self.added.wait(p).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Adds a job (`false` if the queue is closed).
    fn add(&self, job: Job) -> bool {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.closed {
            return false;
        }
        p.jobs.push(job);
        self.added.notify_one();
        true
    }

    /// Closes the queue, cancelling the jobs not taken.
    fn close(&self) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.closed = true;
        for j in &p.jobs {
            j.cancelled.store(true, Ordering::Relaxed);
        }
        self.added.notify_one();
    }
}

/// A decoded block to compile.
pub(crate) struct Job {
    /// Its number in queue order.
    pub ticket: u64,
    pub key: BlockKey,
    /// The CS selector it was decoded with (for `--perf-map`).
    pub cs: u16,
    /// Generated code passes their addresses to the interpreter: the box never moves.
    pub insns: Box<[Insn]>,
    pub eips: Box<[u32]>,
    /// `GuestBlock::bytes`.
    pub bytes: u32,
    /// `GuestBlock::tail`.
    pub tail: Option<translate::Tail>,
    /// The block's link cells (their address is compiled in).
    pub cells: Box<Cells>,
    /// Set by the dispatcher when the block's page is invalidated: the thread skips the job.
    pub cancelled: Arc<AtomicBool>,
    /// The RAM the block is built for (`Translator::ram`).
    pub ram: Option<translate::RamWindow>,
}

impl Job {
    /// The job for decoded block `g` (not empty) with key `key`, decoded with CS selector `cs`.
    pub fn new(key: BlockKey, cs: u16, g: translate::GuestBlock) -> Job {
        Job {
            ticket: 0,
            key,
            cs,
            insns: g.insns.into_boxed_slice(),
            eips: g.eips.into_boxed_slice(),
            bytes: g.bytes,
            tail: g.tail,
            cells: Cells::new(),
            cancelled: Arc::new(AtomicBool::new(false)),
            ram: None,
        }
    }
}

/// A compiled (or failed, or skipped) [`Job`].
pub(crate) struct Done {
    pub job: Job,
    pub code: Result<Vec<u8>, TranslateError>,
    /// `Translator::targets` of the block.
    pub targets: [SlotTarget; 2],
    /// The IR text, for `--dump-jit`.
    pub ir: Option<String>,
    /// Cranelift's listing of the host code, for `--dump-jit` ([`Translator::take_listing`]).
    pub listing: Option<String>,
    /// CPU time the thread spent building and compiling (its wall time would also count the
    /// time it waited for a CPU).
    pub time: Duration,
    /// Compiled with Cranelift's optimiser ([`Translator::compile_optimized`]).
    pub optimized: bool,
    /// Built by the baseline tier (`crate::baseline`), not Cranelift.
    pub baseline: bool,
}

/// Builds a block's IR and compiles it (with Cranelift's optimiser if `optimize`): what the
/// compile thread does with a job, and what the in-line path does. `tr.jump_table` must be set.
pub(crate) fn compile(tr: &mut Translator, job: Job, dump: bool, optimize: bool) -> Done {
    let t0 = thread_cpu_time();
    let cells = &*job.cells as *const Cells as usize;
    tr.ram = job.ram;
    let func = tr.build(&job.key, &job.insns, &job.eips, job.tail, Some(cells), false);
    let ir = dump.then(|| translate::ir_text(&func));
    let targets = tr.targets;
    let code = if optimize { tr.compile_optimized(func) } else { tr.compile(func) };
    let listing = tr.take_listing().filter(|_| dump);
    let optimized = tr.optimizes(optimize);
    Done { job, code, targets, ir, listing, time: thread_cpu_time().saturating_sub(t0), optimized, baseline: false }
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for the call to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A queued block, in queue order.
struct Queued {
    ticket: u64,
    key: BlockKey,
    /// Deterministic time: the instruction count at which it is installed.
    due: Option<u64>,
    /// Cancelled: the dispatcher's own copy of `cancelled`, which it alone writes (reading
    /// the shared flag at every lookup cost a cache miss).
    dropped: bool,
    cancelled: Arc<AtomicBool>,
    /// The thread's result, once received.
    done: Option<Done>,
}

/// The compile thread and the blocks queued for it.
pub(crate) struct Background {
    shared: Arc<Shared>,
    results: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
    /// Every job sent and not yet installed or dropped, oldest first.
    queue: VecDeque<Queued>,
    next_ticket: u64,
    /// Results the thread has sent, plus one once it has stopped: while it equals `received`
    /// there is nothing to receive, which one load of a line the thread seldom writes tells
    /// (polling the channel at every lookup read lines it writes).
    sent: Arc<AtomicU64>,
    /// Results received.
    received: u64,
    /// Entries of `queue` whose result is in (so a lookup with none need not look through the
    /// queue).
    ready: usize,
    /// CPU time the thread spent on the results received so far.
    thread_time: Duration,
}

impl Background {
    /// Starts the compile thread with its own translator (`tr.jump_table` set).
    pub fn start(mut tr: Translator, dump: bool) -> std::io::Result<Background> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            added: Condvar::new(),
            heat: (0..HEAT_SLOTS).map(|_| AtomicU32::new(0)).collect(),
        });
        let inbox = shared.clone();
        let (outbox, results) = mpsc::channel::<Done>();
        let sent = Arc::new(AtomicU64::new(0));
        let count = sent.clone();
        let thread = std::thread::Builder::new().name("emu-jit-compile".into()).spawn(move || {
            /// Counts the thread's end (a panic included), so the dispatcher polls and finds
            /// the channel closed.
            struct Stopped(Arc<AtomicU64>);
            impl Drop for Stopped {
                fn drop(&mut self) {
                    self.0.fetch_add(1, Ordering::Release);
                }
            }
            let _stopped = Stopped(count.clone());
            while let Some((job, alone)) = inbox.take() {
                let done = if job.cancelled.load(Ordering::Relaxed) {
                    let code = Err(TranslateError("cancelled".into()));
                    Done {
                        job,
                        code,
                        targets: [SlotTarget::Never; 2],
                        ir: None,
                        listing: None,
                        time: Duration::ZERO,
                        optimized: false,
                        baseline: false,
                    }
                } else {
                    // With nothing else waiting, the optimiser's extra time delays no other
                    // block (see the module comment, *Optimised code*).
                    compile(&mut tr, job, dump, alone)
                };
                if outbox.send(done).is_err() {
                    return;
                }
                count.fetch_add(1, Ordering::Release);
            }
        })?;
        Ok(Background {
            shared,
            results,
            thread: Some(thread),
            queue: VecDeque::new(),
            next_ticket: 0,
            sent,
            received: 0,
            ready: 0,
            thread_time: Duration::ZERO,
        })
    }

    /// Whether blocks are queued (installed or dropped at later lookups).
    #[inline]
    pub fn busy(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Jobs in the queue: waiting, being compiled, or done and not yet installed or dropped.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// CPU time the thread spent on the blocks it is done with (dropped ones included).
    pub fn thread_time(&self) -> Duration {
        self.thread_time
    }

    /// Queues a block (its page must be marked as holding code already); `deterministic`: the
    /// instruction count now, with deterministic time (the block is installed
    /// [`DETERMINISTIC_LAG`] instructions later). Returns its heat slot ([`Background::ran`]).
    pub fn submit(&mut self, mut job: Job, deterministic: Option<u64>) -> u16 {
        let due = deterministic.map(|icount| icount.saturating_add(DETERMINISTIC_LAG));
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        job.ticket = ticket;
        let (key, cancelled) = (job.key, job.cancelled.clone());
        let slot = heat_slot(ticket);
        self.shared.heat[slot as usize].store(0, Ordering::Relaxed);
        if !self.shared.add(job) {
            self.died();
        }
        self.queue.push_back(Queued { ticket, key, due, dropped: false, cancelled, done: None });
        slot
    }

    /// The queued block with heat slot `slot` ([`heat_slot`] of its ticket) ran once more in
    /// the interpreter: the thread takes the blocks that ran most since they were queued first.
    /// (Real-time runs only: with deterministic time the thread takes them in queue order, which
    /// the dispatcher then waits for, so the order is the same every run.)
    #[inline]
    pub fn ran(&self, slot: u16) {
        let h = &self.shared.heat[slot as usize];
        h.store(h.load(Ordering::Relaxed).saturating_add(1), Ordering::Relaxed);
    }

    /// Cancels the queued blocks on physical page `page` (their results will be dropped), and
    /// calls `f` with each one's key.
    pub fn cancel_page(&mut self, page: u32, mut f: impl FnMut(&BlockKey)) {
        for q in &mut self.queue {
            if q.key.page() == page && !q.dropped {
                q.dropped = true;
                q.cancelled.store(true, Ordering::Relaxed);
                f(&q.key);
            }
        }
    }

    /// The pages of the queued blocks not cancelled.
    pub fn pages(&self) -> impl Iterator<Item = u32> + '_ {
        self.queue.iter().filter(|q| !q.dropped).map(|q| q.key.page())
    }

    /// The next block to install now, at instruction count `icount`. With deterministic time:
    /// the oldest queued block once it is due, waiting for the thread if it is not done. In
    /// real-time runs: the oldest block the thread is done with. Drops cancelled blocks on the
    /// way.
    pub fn next(&mut self, icount: u64, stats: &mut Stats) -> Option<Done> {
        loop {
            let front = self.queue.front()?;
            if front.dropped {
                self.take_at(0);
                stats.compiles_dropped += 1;
                continue;
            }
            match front.due {
                Some(due) if icount < due => return None,
                Some(_) => {
                    if front.done.is_none() {
                        let t0 = Instant::now();
                        while self.queue.front().is_some_and(|q| q.done.is_none()) {
                            self.wait();
                        }
                        stats.compile_wait += t0.elapsed();
                    }
                    return self.take_at(0);
                }
                None => {
                    self.poll();
                    if self.ready == 0 {
                        return None;
                    }
                    let i = self.queue.iter().position(|q| q.done.is_some())?;
                    if self.queue[i].dropped {
                        self.take_at(i);
                        stats.compiles_dropped += 1;
                        continue;
                    }
                    return self.take_at(i);
                }
            }
        }
    }

    /// Waits until the thread is done with every queued block (they are installed at the next
    /// lookups as usual; for tests).
    pub fn wait_all(&mut self) {
        while self.queue.iter().any(|q| q.done.is_none()) {
            self.wait();
        }
    }

    /// Removes queue entry `i` and returns its result, if it had one.
    fn take_at(&mut self, i: usize) -> Option<Done> {
        let done = self.queue.remove(i)?.done;
        self.ready -= done.is_some() as usize;
        done
    }

    /// Files a result with its queued block (none if the block was dropped already).
    fn receive(&mut self, done: Done) {
        self.received += 1;
        self.thread_time += done.time;
        if let Ok(i) = self.queue.binary_search_by_key(&done.job.ticket, |q| q.ticket) {
            self.ready += self.queue[i].done.is_none() as usize;
            self.queue[i].done = Some(done);
        }
    }

    /// Receives the results ready.
    fn poll(&mut self) {
        if self.sent.load(Ordering::Acquire) == self.received {
            return;
        }
        loop {
            match self.results.try_recv() {
                Ok(done) => self.receive(done),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => self.died(),
            }
        }
    }

    /// Waits for the next result.
    fn wait(&mut self) {
        match self.results.recv() {
            Ok(done) => self.receive(done),
            Err(_) => self.died(),
        }
    }

    /// The thread stopped, which only a panic in Cranelift can do: the panic goes on here, as
    /// it would have in-line.
    fn died(&mut self) -> ! {
        if let Some(Err(panic)) = self.thread.take().map(JoinHandle::join) {
            std::panic::resume_unwind(panic);
        }
        panic!("the JIT's compile thread stopped");
    }
}

impl Drop for Background {
    /// Stops the thread: the queued jobs are cancelled, so it finishes at most the one it is
    /// compiling.
    fn drop(&mut self) {
        for q in &self.queue {
            q.cancelled.store(true, Ordering::Relaxed);
        }
        self.shared.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emu_cpu_x86::state::CpuState;

    fn job(ticket: u64) -> Job {
        // A page of its own.
        let key = BlockKey::new(&CpuState::reset(), u32::MAX, (ticket as u32 + 1) << 12);
        let mut j = Job::new(key, 0, translate::GuestBlock::default());
        j.ticket = ticket;
        j
    }

    fn shared() -> Shared {
        Shared {
            pending: Mutex::new(Pending::default()),
            added: Condvar::new(),
            heat: (0..HEAT_SLOTS).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// The thread takes the job whose block ran most since it was queued, the oldest of equals,
    /// and finishes once the queue is closed and empty; closing cancels the jobs not taken.
    #[test]
    fn the_hottest_job_is_taken_first() {
        let s = shared();
        for t in [7, 8, 9, 10] {
            assert!(s.add(job(t)));
        }
        s.heat[heat_slot(8) as usize].store(5, Ordering::Relaxed);
        s.heat[heat_slot(9) as usize].store(5, Ordering::Relaxed);
        s.heat[heat_slot(10) as usize].store(1, Ordering::Relaxed);
        let order: Vec<(u64, bool)> = (0..3).map(|_| s.take().map(|(j, alone)| (j.ticket, alone)).unwrap()).collect();
        assert_eq!(order, [(8, false), (9, false), (10, false)], "others wait: no optimiser");
        s.close();
        let (last, alone) = s.take().expect("taken after the close, to be skipped");
        assert_eq!(last.ticket, 7);
        assert!(alone, "the last one waiting: the optimiser's");
        assert!(last.cancelled.load(Ordering::Relaxed), "cancelled by the close");
        assert!(s.take().is_none());
        assert!(!s.add(job(11)), "closed");
    }

    /// A Background with no thread: the test plays it, sending results through `outbox`.
    fn playing() -> (Background, mpsc::Sender<Done>) {
        let (outbox, results) = mpsc::channel::<Done>();
        let bg = Background {
            shared: Arc::new(shared()),
            results,
            thread: None,
            queue: VecDeque::new(),
            next_ticket: 0,
            sent: Arc::new(AtomicU64::new(0)),
            received: 0,
            ready: 0,
            thread_time: Duration::ZERO,
        };
        (bg, outbox)
    }

    fn done(job: Job) -> Done {
        Done {
            job,
            code: Ok(vec![0xc3]),
            targets: [SlotTarget::Never; 2],
            ir: None,
            listing: None,
            time: Duration::ZERO,
            optimized: false,
            baseline: false,
        }
    }

    /// In real-time runs a block is installed as soon as the thread is done with it, whatever
    /// the blocks queued before it; cancelled ones are dropped on the way.
    #[test]
    fn real_time_installs_follow_the_threads_order() {
        let (mut bg, outbox) = playing();
        for t in 0..4 {
            assert_eq!(bg.submit(job(t), None), t as u16, "tickets in queue order");
        }
        let mut stats = Stats::default();
        assert!(bg.next(0, &mut stats).is_none(), "nothing done yet");
        let taken: Vec<Job> = (0..4).map(|_| bg.shared.take().unwrap().0).collect();
        let mut taken: Vec<Option<Job>> = taken.into_iter().map(Some).collect();
        let sent = bg.sent.clone();
        let mut send = |t: u64| {
            let j = taken.iter_mut().find(|j| j.as_ref().is_some_and(|j| j.ticket == t)).unwrap().take().unwrap();
            outbox.send(done(j)).unwrap();
            sent.fetch_add(1, Ordering::Release);
        };
        send(2);
        let first = bg.next(0, &mut stats).expect("ticket 2 is done");
        assert_eq!(first.job.ticket, 2);
        bg.cancel_page(bg.queue[0].key.page(), |_| {});
        send(1);
        send(0);
        assert_eq!(bg.next(0, &mut stats).unwrap().job.ticket, 1);
        assert_eq!(stats.compiles_dropped, 1, "ticket 0, cancelled, dropped on the way");
        assert!(bg.next(0, &mut stats).is_none());
        send(3);
        assert_eq!(bg.next(0, &mut stats).unwrap().job.ticket, 3);
        assert!(!bg.busy());
        assert_eq!(bg.ready, 0, "every result received was taken");
    }

    /// Heat slots wrap with the tickets, within the 16 bits the warm-up table keeps.
    #[test]
    fn heat_slots_fit_the_warmup_table() {
        assert_eq!(heat_slot(3), 3);
        assert_eq!(heat_slot(HEAT_SLOTS as u64 + 3), 3);
    }
}
