//! The local APIC of a P6/Pentium 4-class processor in xAPIC mode (SDM Vol. 3, chapter 10
//! "Advanced Programmable Interrupt Controller (APIC)"), for a machine with one CPU.
//!
//! **Registers** (4 KiB of MMIO at IA32_APIC_BASE, 0xFEE00000 after reset; each register is
//! 32 bits at a 16-byte aligned offset): ID (0x20), version (0x30: 0x14, six LVT entries), TPR
//! (0x80), APR (0x90), PPR (0xA0), EOI (0xB0), remote read (0xC0, reads 0), LDR (0xD0), DFR
//! (0xE0), SVR (0xF0), ISR/TMR/IRR (0x100/0x180/0x200, eight words each), ESR (0x280), ICR
//! (0x300/0x310), the LVT (timer 0x320, thermal 0x330, performance counter 0x340, LINT0 0x350,
//! LINT1 0x360, error 0x370), the timer's initial count (0x380), current count (0x390) and divide
//! configuration (0x3E0).
//!
//! **Emulated:** interrupt acceptance into IRR with TMR for level-triggered vectors; priority
//! (TPR, PPR from the highest in-service vector, delivery only of a class above PPR); the INTA
//! cycle moving the vector from IRR to ISR, or the spurious vector when nothing is deliverable
//! any more; EOI, with the EOI message for level-triggered vectors handed to the I/O APIC; the
//! error status register (illegal vectors sent or received, illegal register addresses) with the
//! error LVT; software enable through SVR (disabling masks every LVT entry, which then stays
//! masked); logical destinations in the flat and cluster models; the ICR: fixed and
//! lowest-priority IPIs, NMI and INIT, to itself (by shorthand or by destination) — with one CPU
//! nothing else exists, so "all excluding self" reaches nobody; the timer on the virtual clock in
//! one-shot and periodic mode with every divider (the APIC bus clock is [`APIC_BUS_HZ`]); LINT0
//! in ExtINT mode passing the 8259A's INTR through, or in fixed or NMI mode taking its rising
//! edges; IA32_APIC_BASE: relocation and global disable (the registers vanish from MMIO; the
//! 8259A's INTR then goes straight to the CPU).
//!
//! **Power-on state:** as a BIOS leaves it for a one-CPU PC in virtual-wire mode (and as QEMU
//! resets its APIC): software-disabled, every LVT entry masked except LINT0, which is ExtINT and
//! unmasked, so an OS that never touches the APIC (`nolapic`) gets the 8259A's interrupts.
//!
//! **Not emulated:** SMI, start-up IPIs (the only CPU is not waiting for one) and the remote read
//! (no other APIC answers); the thermal and performance-counter LVT entries are storage (nothing
//! raises them); focus processor checking; the TSC-deadline timer mode (CPUID does not claim
//! it: the mode bits read back as one-shot); x2APIC. Accesses narrower than 32 bits read the
//! bytes of the register; narrower writes are ignored, as unaligned ones are on the chip.
//! Re-enabling an APIC globally disabled through the MSR is allowed (as on later CPUs), with
//! the APIC back in its power-on state.

use emu_core::{ClockHandle, Lines};

/// The APIC bus (timer input) clock: 1 GHz, one count per nanosecond of guest time before the
/// divider.
pub const APIC_BUS_HZ: u64 = 1_000_000_000;
/// Where the registers are after reset.
pub const DEFAULT_BASE: u64 = 0xfee0_0000;
/// Bytes of MMIO the registers take.
pub const MMIO_SIZE: u64 = 0x1000;

/// IA32_APIC_BASE bits.
pub mod base {
    /// Bootstrap processor (read-only).
    pub const BSP: u64 = 1 << 8;
    /// Global enable.
    pub const EN: u64 = 1 << 11;
    /// The base address (bits 35:12 on a 36-bit physical address CPU).
    pub const ADDRESS: u64 = 0xf_ffff_f000;
}

/// Register offsets.
pub mod reg {
    pub const ID: u64 = 0x20;
    pub const VERSION: u64 = 0x30;
    pub const TPR: u64 = 0x80;
    pub const APR: u64 = 0x90;
    pub const PPR: u64 = 0xa0;
    pub const EOI: u64 = 0xb0;
    pub const RRD: u64 = 0xc0;
    pub const LDR: u64 = 0xd0;
    pub const DFR: u64 = 0xe0;
    pub const SVR: u64 = 0xf0;
    pub const ISR: u64 = 0x100;
    pub const TMR: u64 = 0x180;
    pub const IRR: u64 = 0x200;
    pub const ESR: u64 = 0x280;
    pub const ICR_LOW: u64 = 0x300;
    pub const ICR_HIGH: u64 = 0x310;
    pub const LVT_TIMER: u64 = 0x320;
    pub const LVT_THERMAL: u64 = 0x330;
    pub const LVT_PERF: u64 = 0x340;
    pub const LVT_LINT0: u64 = 0x350;
    pub const LVT_LINT1: u64 = 0x360;
    pub const LVT_ERROR: u64 = 0x370;
    pub const TIMER_INITIAL: u64 = 0x380;
    pub const TIMER_CURRENT: u64 = 0x390;
    pub const TIMER_DIVIDE: u64 = 0x3e0;
}

/// The version register: an integrated xAPIC (0x14) with six LVT entries (max LVT entry 5).
pub const VERSION: u32 = 0x0005_0014;

/// LVT and ICR fields.
pub mod lvt {
    pub const VECTOR: u32 = 0xff;
    pub const DELIVERY_MODE: u32 = 7 << 8;
    pub const DELIVERY_STATUS: u32 = 1 << 12;
    pub const POLARITY: u32 = 1 << 13;
    pub const REMOTE_IRR: u32 = 1 << 14;
    pub const LEVEL_TRIGGER: u32 = 1 << 15;
    pub const MASKED: u32 = 1 << 16;
    /// Timer mode: periodic (bit 17; bit 18, TSC-deadline, is not implemented).
    pub const PERIODIC: u32 = 1 << 17;
    /// Delivery modes (bits 10:8).
    pub const FIXED: u32 = 0;
    pub const LOWEST: u32 = 1 << 8;
    pub const SMI: u32 = 2 << 8;
    pub const NMI: u32 = 4 << 8;
    pub const INIT: u32 = 5 << 8;
    pub const STARTUP: u32 = 6 << 8;
    pub const EXTINT: u32 = 7 << 8;
}

/// ICR bits beyond the LVT's.
pub mod icr {
    /// Logical destination mode.
    pub const LOGICAL: u32 = 1 << 11;
    /// Level: assert (1) or de-assert (0), for INIT level de-assert.
    pub const ASSERT: u32 = 1 << 14;
    /// Destination shorthand (bits 19:18).
    pub const SHORTHAND: u32 = 3 << 18;
    pub const SELF: u32 = 1 << 18;
    pub const ALL_INCLUDING_SELF: u32 = 2 << 18;
    pub const ALL_EXCLUDING_SELF: u32 = 3 << 18;
    /// The bits software can write in the low word.
    pub const WRITABLE: u32 = 0x000c_cfff;
}

/// ESR bits.
pub mod esr {
    pub const SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
    pub const RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;
    pub const ILLEGAL_REGISTER: u32 = 1 << 7;
}

/// SVR bits.
pub mod svr {
    pub const VECTOR: u32 = 0xff;
    pub const APIC_ENABLED: u32 = 1 << 8;
    pub const FOCUS_DISABLED: u32 = 1 << 9;
}

/// LVT entries in register order: timer, thermal, performance counter, LINT0, LINT1, error.
const LVT_TIMER: usize = 0;
const LVT_LINT0: usize = 3;
const LVT_ERROR: usize = 5;
/// The bits software can write in each LVT entry.
const LVT_WRITABLE: [u32; 6] = [
    lvt::VECTOR | lvt::MASKED | lvt::PERIODIC,
    lvt::VECTOR | lvt::DELIVERY_MODE | lvt::MASKED,
    lvt::VECTOR | lvt::DELIVERY_MODE | lvt::MASKED,
    lvt::VECTOR | lvt::DELIVERY_MODE | lvt::POLARITY | lvt::LEVEL_TRIGGER | lvt::MASKED,
    lvt::VECTOR | lvt::DELIVERY_MODE | lvt::POLARITY | lvt::LEVEL_TRIGGER | lvt::MASKED,
    lvt::VECTOR | lvt::MASKED,
];

/// An interrupt message on the APIC bus (from the I/O APIC or an IPI), in the redirection
/// entry's and the ICR's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    pub vector: u8,
    /// Delivery mode, as [`lvt::FIXED`] .. [`lvt::EXTINT`].
    pub mode: u32,
    /// Logical (true) or physical destination mode.
    pub logical: bool,
    pub dest: u8,
    /// Level-triggered (sets the vector's TMR bit; its EOI goes back to the I/O APIC).
    pub level: bool,
}

/// A 256-bit register (IRR, ISR, TMR).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bits256([u32; 8]);

impl Bits256 {
    fn get(&self, v: u8) -> bool {
        self.0[v as usize / 32] & (1 << (v % 32)) != 0
    }
    fn set(&mut self, v: u8, on: bool) {
        let (w, b) = (v as usize / 32, 1u32 << (v % 32));
        if on {
            self.0[w] |= b;
        } else {
            self.0[w] &= !b;
        }
    }
    fn highest(&self) -> Option<u8> {
        (0..8).rev().find(|&w| self.0[w] != 0).map(|w| (w * 32 + 31 - self.0[w].leading_zeros() as usize) as u8)
    }
    fn any(&self) -> bool {
        self.0.iter().any(|&w| w != 0)
    }
}

/// What the local APIC answers to the CPU's INTA cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// A vector of its own (now in service), or the spurious vector.
    Vector(u8),
    /// ExtINT: the 8259A gives the vector.
    External,
}

/// One local APIC. See the module documentation.
#[derive(Debug)]
pub struct LocalApic {
    clock: ClockHandle,
    lines: Lines,
    base_msr: u64,
    id: u32,
    tpr: u32,
    ldr: u32,
    dfr: u32,
    svr: u32,
    irr: Bits256,
    isr: Bits256,
    tmr: Bits256,
    /// Errors since the last ESR write; ESR shows them after the next write.
    esr_pending: u32,
    esr: u32,
    icr_low: u32,
    icr_high: u32,
    lvt: [u32; 6],
    timer_initial: u32,
    /// Divide configuration register as written (bits 0, 1, 3).
    timer_divide: u32,
    /// log2 of the divider.
    timer_shift: u32,
    /// Guest time (ns) at which the count was last `timer_initial`.
    timer_start: u64,
    /// When the timer next reaches zero, if it is counting.
    timer_next: Option<u64>,
    /// An ExtINT message (from the I/O APIC) waiting for the INTA cycle.
    extint: bool,
    /// The 8259A's INTR as last seen on LINT0 (for edges in fixed and NMI mode).
    lint0_seen: bool,
    /// Vectors of level-triggered interrupts EOI'd since the last [`LocalApic::take_eoi`].
    eois: Vec<u8>,
}

impl LocalApic {
    /// The BSP's local APIC in its power-on state, raising NMIs and INITs on `lines`, its timer
    /// on `clock`.
    pub fn new(lines: Lines, clock: ClockHandle) -> Self {
        LocalApic::power_on(clock, lines)
    }

    /// RESET/INIT: every register to its power-on value; the base MSR back to the default
    /// (enabled, at 0xFEE00000). See the module documentation for LINT0.
    pub fn reset(&mut self) {
        *self = LocalApic::power_on(self.clock.clone(), self.lines.clone());
    }

    fn power_on(clock: ClockHandle, lines: Lines) -> Self {
        let mut lvt = [lvt::MASKED; 6];
        lvt[LVT_LINT0] = lvt::EXTINT;
        LocalApic {
            clock,
            lines,
            base_msr: DEFAULT_BASE | base::BSP | base::EN,
            id: 0,
            tpr: 0,
            ldr: 0,
            dfr: !0,
            svr: 0xff,
            irr: Bits256::default(),
            isr: Bits256::default(),
            tmr: Bits256::default(),
            esr_pending: 0,
            esr: 0,
            icr_low: 0,
            icr_high: 0,
            lvt,
            timer_initial: 0,
            timer_divide: 0,
            timer_shift: 1,
            timer_start: 0,
            timer_next: None,
            extint: false,
            lint0_seen: false,
            eois: Vec::new(),
        }
    }

    // ---- the MSR --------------------------------------------------------------------------

    pub fn base_msr(&self) -> u64 {
        self.base_msr
    }

    /// Globally enabled (IA32_APIC_BASE bit 11).
    pub fn enabled(&self) -> bool {
        self.base_msr & base::EN != 0
    }

    /// Where the registers are, when globally enabled.
    pub fn mmio_base(&self) -> Option<u64> {
        self.enabled().then_some(self.base_msr & base::ADDRESS)
    }

    /// Writes IA32_APIC_BASE (BSP is read-only). Disabling puts the APIC in its power-on state.
    pub fn set_base_msr(&mut self, v: u64) {
        let v = (v & (base::ADDRESS | base::EN)) | (self.base_msr & base::BSP);
        if v & base::EN == 0 && self.enabled() {
            self.reset();
        }
        self.base_msr = v;
    }

    /// Software-enabled (SVR bit 8).
    pub fn software_enabled(&self) -> bool {
        self.svr & svr::APIC_ENABLED != 0
    }

    // ---- registers ------------------------------------------------------------------------

    /// Reads `size` bytes at `offset` in the register page.
    pub fn read(&mut self, offset: u64, size: u8) -> u32 {
        let v = self.read_reg(offset & !0xf);
        let shift = 8 * (offset & 3);
        if offset & 0xf > 3 || size == 0 || size as u64 + (offset & 3) > 4 {
            return 0;
        }
        let v = v >> shift;
        if size == 4 {
            v
        } else {
            v & ((1 << (8 * size)) - 1)
        }
    }

    fn read_reg(&mut self, r: u64) -> u32 {
        match r {
            reg::ID => self.id,
            reg::VERSION => VERSION,
            reg::TPR => self.tpr,
            reg::APR => self.apr(),
            reg::PPR => self.ppr(),
            reg::EOI | reg::RRD => 0,
            reg::LDR => self.ldr,
            reg::DFR => self.dfr,
            reg::SVR => self.svr,
            0x100..=0x170 => self.isr.0[(r - reg::ISR) as usize / 16],
            0x180..=0x1f0 => self.tmr.0[(r - reg::TMR) as usize / 16],
            0x200..=0x270 => self.irr.0[(r - reg::IRR) as usize / 16],
            reg::ESR => self.esr,
            reg::ICR_LOW => self.icr_low,
            reg::ICR_HIGH => self.icr_high,
            0x320..=0x370 => self.lvt[(r - reg::LVT_TIMER) as usize / 16],
            reg::TIMER_INITIAL => self.timer_initial,
            reg::TIMER_CURRENT => self.timer_current(self.clock.now()),
            reg::TIMER_DIVIDE => self.timer_divide,
            _ => {
                self.error(esr::ILLEGAL_REGISTER);
                0
            }
        }
    }

    /// Writes `size` bytes at `offset`; only aligned 32-bit writes reach a register.
    pub fn write(&mut self, offset: u64, size: u8, v: u32) {
        if size != 4 || offset & 0xf != 0 {
            return;
        }
        match offset {
            reg::ID => self.id = v & 0xff00_0000,
            reg::TPR => self.tpr = v & 0xff,
            reg::EOI => self.eoi(),
            reg::LDR => self.ldr = v & 0xff00_0000,
            reg::DFR => self.dfr = (v & 0xf000_0000) | 0x0fff_ffff,
            reg::SVR => {
                self.svr = v & (svr::VECTOR | svr::APIC_ENABLED | svr::FOCUS_DISABLED);
                if !self.software_enabled() {
                    for e in &mut self.lvt {
                        *e |= lvt::MASKED;
                    }
                }
            }
            reg::ESR => {
                self.esr = self.esr_pending;
                self.esr_pending = 0;
            }
            reg::ICR_LOW => {
                self.icr_low = v & icr::WRITABLE;
                self.send_ipi();
            }
            reg::ICR_HIGH => self.icr_high = v & 0xff00_0000,
            0x320..=0x370 => {
                let i = (offset - reg::LVT_TIMER) as usize / 16;
                let keep = self.lvt[i] & !LVT_WRITABLE[i];
                let mut e = keep | (v & LVT_WRITABLE[i]);
                if !self.software_enabled() {
                    e |= lvt::MASKED;
                }
                self.lvt[i] = e;
                if i == LVT_TIMER {
                    self.timer_rearm(self.clock.now());
                }
            }
            reg::TIMER_INITIAL => {
                self.timer_initial = v;
                self.timer_start = self.clock.now();
                self.timer_rearm(self.timer_start);
            }
            reg::TIMER_DIVIDE => {
                let now = self.clock.now();
                // Keep the count where it is; only its rate changes.
                let elapsed = self.timer_elapsed_ticks(now);
                self.timer_divide = v & 0xb;
                let code = ((v & 8) >> 1) | (v & 3);
                self.timer_shift = (code + 1) & 7;
                self.timer_start = now.saturating_sub(elapsed << self.timer_shift);
                self.timer_rearm(now);
            }
            reg::VERSION | reg::APR | reg::PPR | reg::RRD | reg::TIMER_CURRENT => {}
            0x100..=0x270 => {}
            _ => self.error(esr::ILLEGAL_REGISTER),
        }
    }

    // ---- priorities -----------------------------------------------------------------------

    /// The processor priority: TPR, or the class of the highest in-service vector if higher.
    pub fn ppr(&self) -> u32 {
        let isrv = self.isr.highest().unwrap_or(0) as u32;
        if self.tpr >> 4 >= isrv >> 4 {
            self.tpr
        } else {
            isrv & 0xf0
        }
    }

    /// The arbitration priority: TPR, or the class of the highest requested or in-service
    /// vector if higher.
    fn apr(&self) -> u32 {
        let top = self.isr.highest().unwrap_or(0).max(self.irr.highest().unwrap_or(0)) as u32;
        if self.tpr >> 4 >= top >> 4 {
            self.tpr
        } else {
            top & 0xf0
        }
    }

    /// The vector the CPU would take now: the highest requested one above PPR's class.
    fn deliverable(&self) -> Option<u8> {
        if !self.enabled() || !self.software_enabled() {
            return None;
        }
        let v = self.irr.highest()?;
        (v as u32 >> 4 > self.ppr() >> 4).then_some(v)
    }

    // ---- accepting interrupts -------------------------------------------------------------

    /// Takes interrupt `vector` into IRR (TMR says how it was triggered). Vectors 0-15 are
    /// illegal: they set the ESR's receive error instead.
    fn accept(&mut self, vector: u8, level: bool) {
        if vector < 16 {
            self.error(esr::RECEIVE_ILLEGAL_VECTOR);
            return;
        }
        self.irr.set(vector, true);
        self.tmr.set(vector, level);
    }

    /// Records an error and raises the error LVT's interrupt.
    fn error(&mut self, bits: u32) {
        self.esr_pending |= bits;
        let e = self.lvt[LVT_ERROR];
        if e & lvt::MASKED == 0 && (e & lvt::VECTOR) >= 16 {
            self.irr.set(e as u8, true);
            self.tmr.set(e as u8, false);
        }
    }

    /// Whether this APIC is a message's destination.
    fn is_destination(&self, logical: bool, dest: u8) -> bool {
        if dest == 0xff {
            return true;
        }
        if !logical {
            return dest as u32 == self.id >> 24;
        }
        let ldr = (self.ldr >> 24) as u8;
        match self.dfr >> 28 {
            0xf => ldr & dest != 0,
            // Cluster model: cluster in the high nibble, members in the low one.
            0x0 => ldr >> 4 == dest >> 4 && ldr & dest & 0xf != 0,
            _ => false,
        }
    }

    /// A message from the APIC bus (the I/O APIC's redirection entries).
    pub fn deliver(&mut self, m: Message) {
        if !self.enabled() || !self.is_destination(m.logical, m.dest) {
            return;
        }
        self.receive(m.mode, m.vector, m.level);
    }

    fn receive(&mut self, mode: u32, vector: u8, level: bool) {
        match mode {
            lvt::FIXED | lvt::LOWEST => self.accept(vector, level),
            lvt::NMI => self.lines.request_nmi(),
            // INIT restarts the processor: the board's reset request is what the machine turns
            // into a CPU reset (which resets this APIC too).
            lvt::INIT => self.lines.request_reset(),
            lvt::EXTINT => self.extint = true,
            _ => {} // SMI, start-up: see the module documentation
        }
    }

    /// The ICR was written: send the IPI it describes.
    fn send_ipi(&mut self) {
        let low = self.icr_low;
        let mode = low & lvt::DELIVERY_MODE;
        let vector = (low & lvt::VECTOR) as u8;
        let level = low & lvt::LEVEL_TRIGGER != 0;
        if mode == lvt::INIT && level && low & icr::ASSERT == 0 {
            return; // INIT level de-assert: only synchronises arbitration IDs
        }
        if matches!(mode, lvt::FIXED | lvt::LOWEST) && vector < 16 {
            self.error(esr::SEND_ILLEGAL_VECTOR);
            return;
        }
        let to_self = match low & icr::SHORTHAND {
            icr::SELF | icr::ALL_INCLUDING_SELF => true,
            icr::ALL_EXCLUDING_SELF => false,
            _ => self.is_destination(low & icr::LOGICAL != 0, (self.icr_high >> 24) as u8),
        };
        if to_self {
            self.receive(mode, vector, level);
        }
    }

    /// EOI: the highest in-service vector is done; a level-triggered one's EOI goes on to the
    /// I/O APIC.
    fn eoi(&mut self) {
        if let Some(v) = self.isr.highest() {
            self.isr.set(v, false);
            if self.tmr.get(v) {
                self.eois.push(v);
            }
        }
    }

    /// Vectors of level-triggered interrupts that ended since the last call (the EOI message
    /// the I/O APIC listens for).
    pub fn take_eoi(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.eois)
    }

    // ---- the CPU's side -------------------------------------------------------------------

    /// Looks at LINT0 (the 8259A's INTR, `ext`) in fixed and NMI mode: a rising edge is an
    /// interrupt.
    fn sample_lint0(&mut self, ext: bool) {
        let rose = ext && !self.lint0_seen;
        self.lint0_seen = ext;
        let e = self.lvt[LVT_LINT0];
        if !rose || e & lvt::MASKED != 0 {
            return;
        }
        match e & lvt::DELIVERY_MODE {
            lvt::FIXED => self.accept(e as u8, false),
            lvt::NMI => self.lines.request_nmi(),
            _ => {}
        }
    }

    fn lint0_extint(&self) -> bool {
        let e = self.lvt[LVT_LINT0];
        e & lvt::MASKED == 0 && e & lvt::DELIVERY_MODE == lvt::EXTINT
    }

    /// Whether the CPU's interrupt input is asserted, given the 8259A's INTR.
    pub fn intr(&mut self, ext: bool) -> bool {
        if !self.enabled() {
            return ext;
        }
        self.sample_lint0(ext);
        self.deliverable().is_some() || self.extint || (ext && self.lint0_extint())
    }

    /// The INTA cycle.
    pub fn acknowledge(&mut self, ext: bool) -> Ack {
        if !self.enabled() {
            return Ack::External;
        }
        if let Some(v) = self.deliverable() {
            self.irr.set(v, false);
            self.isr.set(v, true);
            return Ack::Vector(v);
        }
        if std::mem::take(&mut self.extint) || (ext && self.lint0_extint()) {
            return Ack::External;
        }
        // The request went away (TPR raised) between INTR and INTA: the spurious vector, with
        // no ISR bit set.
        Ack::Vector((self.svr & svr::VECTOR) as u8)
    }

    /// Whether anything could still interrupt the CPU through this APIC (`ext`: the 8259A has
    /// an unmasked line).
    pub fn any_unmasked(&self, ext: bool) -> bool {
        if !self.enabled() {
            return ext;
        }
        let timer = self.timer_next.is_some() && self.lvt[LVT_TIMER] & lvt::MASKED == 0;
        (self.software_enabled() && self.irr.any())
            || timer
            || self.extint
            || (ext && self.lvt[LVT_LINT0] & lvt::MASKED == 0)
    }

    // ---- the timer ------------------------------------------------------------------------

    fn periodic(&self) -> bool {
        self.lvt[LVT_TIMER] & lvt::PERIODIC != 0
    }

    /// Timer ticks (after the divider) since the count was last loaded.
    fn timer_elapsed_ticks(&self, now: u64) -> u64 {
        now.saturating_sub(self.timer_start) >> self.timer_shift
    }

    /// The current count register.
    fn timer_current(&self, now: u64) -> u32 {
        let initial = self.timer_initial as u64;
        if initial == 0 {
            return 0;
        }
        let elapsed = self.timer_elapsed_ticks(now);
        if self.periodic() {
            (initial - elapsed % initial) as u32
        } else {
            initial.saturating_sub(elapsed) as u32
        }
    }

    /// Computes when the count next reaches zero (after `now`'s expiries were handled).
    fn timer_rearm(&mut self, now: u64) {
        let initial = self.timer_initial as u64;
        self.timer_next = if initial == 0 {
            None
        } else {
            let period = initial << self.timer_shift;
            let first = self.timer_start + period;
            if self.periodic() {
                // The first expiry after `now` (or the first one, if still ahead).
                let n = now.saturating_sub(self.timer_start) / period;
                Some((self.timer_start + (n + 1) * period).max(first))
            } else if first > now || self.timer_next == Some(first) {
                Some(first)
            } else {
                None
            }
        };
    }

    /// When the timer wants [`LocalApic::advance`] called.
    pub fn deadline(&self) -> Option<u64> {
        self.timer_next
    }

    /// Guest time reached `now`: if the count reached zero, the timer interrupt is requested
    /// (once, however many periods passed) and a periodic count restarts.
    pub fn advance(&mut self, now: u64) {
        let Some(due) = self.timer_next else { return };
        if due > now {
            return;
        }
        let e = self.lvt[LVT_TIMER];
        if e & lvt::MASKED == 0 {
            self.accept(e as u8, false);
        }
        if self.periodic() {
            self.timer_rearm(now);
        } else {
            self.timer_next = None;
        }
    }
}
