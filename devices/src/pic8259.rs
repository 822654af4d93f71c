//! The 8259A Programmable Interrupt Controller pair of a PC/AT (Intel 8259A datasheet), with the
//! PIIX-style Edge/Level Control Registers (ELCR) that choose the trigger mode per line.
//!
//! **Ports** (one [`Pic8259`] device, three regions):
//!
//! | region | ports         | chip                                                        |
//! |--------|---------------|-------------------------------------------------------------|
//! | 0      | 0x20, 0x21    | master: IRQ 0-7, vectors from its ICW2                      |
//! | 1      | 0xA0, 0xA1    | slave: IRQ 8-15, its INT output wired to the master's IR2   |
//! | 2      | 0x4D0, 0x4D1  | ELCR1 / ELCR2: bit n = 1 makes IRQ n (8 + n) level-triggered |
//!
//! At the even port a write is ICW1 (bit 4 set), OCW3 (bit 3 set) or OCW2; a read gives IRR or ISR
//! as OCW3 selected (or the poll word). At the odd port writes are ICW2-ICW4 during initialisation
//! and OCW1 (the IMR) afterwards; a read gives the IMR (or the poll word).
//!
//! **Emulated:** the ICW1-ICW4 sequence (single or cascade mode, ICW4 optional, LTIM, AEOI, special
//! fully nested mode); OCW1; every OCW2 command (non-specific and specific EOI, rotate on
//! non-specific and specific EOI, set/clear rotate in AEOI mode, set priority); OCW3 (read IRR or
//! ISR, poll mode, special mask mode); priority resolution with rotating priorities; edge and level
//! triggering (ICW1 LTIM for a whole chip, or the ELCR per line); the cascade through master IR2
//! including the slave's own vector and the spurious vectors: IR7 of the master when no request
//! is left at the INTA cycle (no ISR bit is set), IR7 of the slave when the master chose IR2 but
//! the slave has nothing left (the master's ISR2 is set, as on the chip, so the guest must EOI the
//! master). [`InterruptController`] is the CPU's INTR pin and INTA cycle.
//!
//! **Sampling the lines.** Devices drive levels on [`Lines`]; the PIC looks at them whenever it is
//! asked ([`InterruptController::intr`], [`InterruptController::acknowledge`] and every port
//! access). Edge-triggered inputs latch the rising edges [`Lines`] recorded since the last look
//! (its [`IrqEdges`]), not a comparison of levels, so a line that fell and rose again between two
//! looks still latches a new request, even while the CPU runs with interrupts disabled; several
//! rises between two looks latch one request, as they would on the chip before INTA.
//! Level-triggered inputs follow the level seen at the look.
//!
//! An edge-triggered request, once latched in IRR, stays there until it is acknowledged (or ICW1
//! is written); on the chip it would vanish if the line fell before INTA. A level-triggered
//! request follows the line, so one that goes away before INTA gives the spurious IR7 vector.
//!
//! **Not emulated:** 8080/8085 mode (ICW1 ADI and ICW4 µPM are stored but vectors are always
//! 8086-style), buffered mode (ICW4 BUF, M/S: the master/slave roles are wired as on a PC, chip 0
//! the master, chip 1 the slave with its INT on IR2). The ISA bus's IRQ 2 line (which a PC routes
//! to IRQ 9) is ignored: master IR2 is the cascade input only. Power-on state: every line masked
//! and vector base 0 until the guest writes ICW1; ELCR bits for IRQ 0, 1, 2, 8 and 13 are read-only
//! zero, as on the PIIX.

use std::any::Any;

use emu_core::{Device, InterruptController, IrqEdges, Lines};

/// The master's command port (ICW1, OCW2, OCW3; IRR/ISR).
pub const PIC_MASTER_BASE: u16 = 0x20;
/// The slave's command port.
pub const PIC_SLAVE_BASE: u16 = 0xa0;
/// Ports each chip decodes.
pub const PIC_PORTS: u16 = 2;
/// ELCR1 (IRQ 0-7); ELCR2 (IRQ 8-15) is the next port.
pub const ELCR_BASE: u16 = 0x4d0;
/// Ports of the ELCR pair.
pub const ELCR_PORTS: u16 = 2;
/// Region number of the master's ports.
pub const REGION_MASTER: u8 = 0;
/// Region number of the slave's ports.
pub const REGION_SLAVE: u8 = 1;
/// Region number of the ELCR ports.
pub const REGION_ELCR: u8 = 2;
/// The master input the slave's INT is wired to.
pub const CASCADE_IR: u8 = 2;

// ICW1 bits.
/// ICW4 needed.
pub const ICW1_IC4: u8 = 0x01;
/// Single (1) or cascade (0) mode.
pub const ICW1_SNGL: u8 = 0x02;
/// Call address interval (8080 mode only).
pub const ICW1_ADI: u8 = 0x04;
/// Level triggered mode for every input of the chip.
pub const ICW1_LTIM: u8 = 0x08;
/// Marks the byte as ICW1.
pub const ICW1_INIT: u8 = 0x10;

// ICW4 bits.
/// 8086/8088 mode (0 = 8080/8085).
pub const ICW4_UPM: u8 = 0x01;
/// Automatic end of interrupt.
pub const ICW4_AEOI: u8 = 0x02;
/// Buffered mode master/slave select.
pub const ICW4_MS: u8 = 0x04;
/// Buffered mode.
pub const ICW4_BUF: u8 = 0x08;
/// Special fully nested mode.
pub const ICW4_SFNM: u8 = 0x10;

// OCW2 bits.
/// Interrupt level for SL commands.
pub const OCW2_LEVEL: u8 = 0x07;
/// End of interrupt.
pub const OCW2_EOI: u8 = 0x20;
/// Specific level.
pub const OCW2_SL: u8 = 0x40;
/// Rotate.
pub const OCW2_R: u8 = 0x80;

// OCW3 bits.
/// Read ISR (1) or IRR (0), if RR.
pub const OCW3_RIS: u8 = 0x01;
/// Read register command.
pub const OCW3_RR: u8 = 0x02;
/// Poll command.
pub const OCW3_P: u8 = 0x04;
/// Marks the byte as OCW3 (with bit 4 clear).
pub const OCW3_SEL: u8 = 0x08;
/// Special mask mode (if ESMM).
pub const OCW3_SMM: u8 = 0x20;
/// Enable special mask mode change.
pub const OCW3_ESMM: u8 = 0x40;

/// Writable ELCR1 bits: IRQ 0, 1 and 2 are always edge-triggered.
pub const ELCR1_MASK: u8 = 0xf8;
/// Writable ELCR2 bits: IRQ 8 and 13 are always edge-triggered.
pub const ELCR2_MASK: u8 = 0xde;

/// Where a chip is in its initialisation sequence: which ICW the odd port expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InitStep {
    Ready,
    Icw2,
    Icw3,
    Icw4,
}

/// One 8259A.
#[derive(Debug, Clone)]
struct Chip {
    /// Chip 0 on a PC (SP/EN tied high); chip 1 is the slave.
    master: bool,
    icw1: u8,
    /// Vector base (T7-T3).
    icw2: u8,
    /// Master: inputs with a slave. Slave: its cascade identity.
    icw3: u8,
    icw4: u8,
    step: InitStep,
    irr: u8,
    isr: u8,
    imr: u8,
    /// The lowest-priority input; the one after it has the highest priority.
    lowest: u8,
    rotate_in_aeoi: bool,
    /// OCW3 RIS as last selected with RR = 1.
    read_isr: bool,
    /// A poll command is waiting for the next read.
    poll: bool,
    /// Special mask mode.
    smm: bool,
}

impl Chip {
    fn new(master: bool) -> Self {
        Chip {
            master,
            icw1: 0,
            icw2: 0,
            icw3: if master { 0 } else { 7 },
            icw4: 0,
            step: InitStep::Ready,
            irr: 0,
            isr: 0,
            imr: 0xff,
            lowest: 7,
            rotate_in_aeoi: false,
            read_isr: false,
            poll: false,
            smm: false,
        }
    }

    /// 0 for the highest-priority input, 7 for the lowest.
    fn priority(&self, ir: u8) -> u8 {
        ir.wrapping_sub(self.lowest).wrapping_sub(1) & 7
    }

    /// The highest-priority input among `bits`.
    fn highest(&self, bits: u8) -> Option<u8> {
        (1..=8).map(|i| (self.lowest + i) & 7).find(|&ir| bits & (1 << ir) != 0)
    }

    fn single(&self) -> bool {
        self.icw1 & ICW1_SNGL != 0
    }

    /// Whether input `ir` has a slave behind it (master in cascade mode).
    fn is_cascade(&self, ir: u8) -> bool {
        self.master && !self.single() && self.icw3 & (1 << ir) != 0
    }

    /// The input the chip would interrupt for now: the highest-priority unmasked request, if no
    /// in-service level of equal or higher priority blocks it.
    fn winner(&self) -> Option<u8> {
        let r = self.highest(self.irr & !self.imr)?;
        // In special mask mode a masked in-service level does not block anything.
        let blocking = if self.smm { self.isr & !self.imr } else { self.isr };
        match self.highest(blocking) {
            None => Some(r),
            Some(s) if self.priority(r) < self.priority(s) => Some(r),
            // Special fully nested mode: a slave may interrupt again while its input is in service.
            Some(s) if s == r && self.icw4 & ICW4_SFNM != 0 && self.is_cascade(r) => Some(r),
            Some(_) => None,
        }
    }

    /// The INTA cycle for input `ir`: IRR cleared, ISR set (or, with AEOI, reset again at once).
    fn acknowledge(&mut self, ir: u8) {
        let bit = 1 << ir;
        self.irr &= !bit;
        if self.icw4 & ICW4_AEOI != 0 {
            if self.rotate_in_aeoi {
                self.lowest = ir;
            }
        } else {
            self.isr |= bit;
        }
    }

    fn vector(&self, ir: u8) -> u8 {
        (self.icw2 & 0xf8) | ir
    }

    /// A poll read: the poll word, acknowledging the winning input as INTA would.
    fn poll_read(&mut self) -> u8 {
        self.poll = false;
        match self.winner() {
            Some(ir) => {
                self.acknowledge(ir);
                0x80 | ir
            }
            None => 0,
        }
    }

    fn write_icw1(&mut self, v: u8) {
        self.icw1 = v;
        self.icw2 = 0;
        if v & ICW1_IC4 == 0 {
            self.icw4 = 0;
        }
        self.icw3 = if self.master { 0 } else { 7 };
        self.irr = 0;
        self.isr = 0;
        self.imr = 0;
        self.lowest = 7;
        self.rotate_in_aeoi = false;
        self.read_isr = false;
        self.poll = false;
        self.smm = false;
        self.step = InitStep::Icw2;
    }

    fn write_odd(&mut self, v: u8) {
        let ic4 = self.icw1 & ICW1_IC4 != 0;
        let after_icw3 = if ic4 { InitStep::Icw4 } else { InitStep::Ready };
        match self.step {
            InitStep::Icw2 => {
                self.icw2 = v & 0xf8;
                self.step = if self.single() { after_icw3 } else { InitStep::Icw3 };
            }
            InitStep::Icw3 => {
                self.icw3 = if self.master { v } else { v & 7 };
                self.step = after_icw3;
            }
            InitStep::Icw4 => {
                self.icw4 = v & 0x1f;
                self.step = InitStep::Ready;
            }
            InitStep::Ready => self.imr = v,
        }
    }

    fn write_ocw2(&mut self, v: u8) {
        let level = v & OCW2_LEVEL;
        match v & (OCW2_R | OCW2_SL | OCW2_EOI) {
            // Non-specific EOI, optionally rotating: the highest-priority in-service level.
            0x20 | 0xa0 => {
                if let Some(s) = self.highest(self.isr) {
                    self.isr &= !(1 << s);
                    if v & OCW2_R != 0 {
                        self.lowest = s;
                    }
                }
            }
            // Specific EOI, optionally rotating.
            0x60 | 0xe0 => {
                self.isr &= !(1 << level);
                if v & OCW2_R != 0 {
                    self.lowest = level;
                }
            }
            0x80 => self.rotate_in_aeoi = true,
            0x00 => self.rotate_in_aeoi = false,
            0xc0 => self.lowest = level,
            _ => {} // 0x40: no operation
        }
    }

    fn write_ocw3(&mut self, v: u8) {
        if v & OCW3_ESMM != 0 {
            self.smm = v & OCW3_SMM != 0;
        }
        if v & OCW3_RR != 0 {
            self.read_isr = v & OCW3_RIS != 0;
        }
        self.poll = v & OCW3_P != 0;
    }
}

/// The master/slave 8259A pair of a PC with its ELCR. See the module documentation.
pub struct Pic8259 {
    lines: Lines,
    /// The rising edges of the lines taken so far.
    edges: IrqEdges,
    /// `[master, slave]`.
    chips: [Chip; 2],
    /// ELCR1, ELCR2.
    elcr: [u8; 2],
    /// The slave's INT (the master's IR2 input) at the last look: it is internal to the pair,
    /// so its edges are found by comparing levels.
    cascade_seen: bool,
}

impl Pic8259 {
    /// A PIC pair reading its inputs from `lines`.
    pub fn new(lines: Lines) -> Self {
        Pic8259 {
            lines,
            edges: IrqEdges::default(),
            chips: [Chip::new(true), Chip::new(false)],
            elcr: [0; 2],
            cascade_seen: false,
        }
    }

    /// IRR of chip `chip` (0 = master, 1 = slave), as last sampled.
    pub fn irr(&self, chip: usize) -> u8 {
        self.chips[chip].irr
    }

    /// ISR of chip `chip`.
    pub fn isr(&self, chip: usize) -> u8 {
        self.chips[chip].isr
    }

    /// IMR of chip `chip`.
    pub fn imr(&self, chip: usize) -> u8 {
        self.chips[chip].imr
    }

    /// Both ELCRs: bit n = 1 when IRQ n is level-triggered.
    pub fn elcr(&self) -> u16 {
        u16::from_le_bytes(self.elcr)
    }

    /// Whether IRQ lines of chip `i` are level-triggered, as a mask.
    fn level_mask(&self, i: usize) -> u8 {
        let ltim = if self.chips[i].icw1 & ICW1_LTIM != 0 { 0xff } else { 0 };
        ltim | self.elcr[i]
    }

    /// Looks at the lines: latches rising edges of edge-triggered inputs, follows the levels of
    /// level-triggered ones, then propagates the slave's INT to the master's IR2.
    fn sample(&mut self) {
        // Board line 2 is not an input (see "Not emulated"): master IR2 is the slave's INT.
        let rising = (self.lines.take_irq_edges(&mut self.edges) as u16) & !(1 << CASCADE_IR);
        let levels = (self.lines.irq_levels() as u16) & !(1 << CASCADE_IR);
        self.update_irr(1, (levels >> 8) as u8, (rising >> 8) as u8);
        let cascade = self.chips[1].winner().is_some();
        let (mut master_levels, mut master_rising) = (levels as u8, rising as u8);
        if cascade {
            master_levels |= 1 << CASCADE_IR;
            if !self.cascade_seen {
                master_rising |= 1 << CASCADE_IR;
            }
        }
        self.cascade_seen = cascade;
        self.update_irr(0, master_levels, master_rising);
    }

    fn update_irr(&mut self, i: usize, levels: u8, rising: u8) {
        let level_mode = self.level_mask(i);
        let chip = &mut self.chips[i];
        chip.irr = (chip.irr & !level_mode) | (rising & !level_mode) | (levels & level_mode);
    }

    fn read_byte(&mut self, region: u8, offset: u64) -> u8 {
        match region {
            REGION_MASTER | REGION_SLAVE => {
                self.sample();
                let chip = &mut self.chips[region as usize];
                let v = if chip.poll {
                    chip.poll_read()
                } else if offset == 0 {
                    if chip.read_isr {
                        chip.isr
                    } else {
                        chip.irr
                    }
                } else {
                    chip.imr
                };
                self.sample();
                v
            }
            _ => self.elcr[offset as usize & 1],
        }
    }

    fn write_byte(&mut self, region: u8, offset: u64, v: u8) {
        match region {
            REGION_MASTER | REGION_SLAVE => {
                self.sample();
                let chip = &mut self.chips[region as usize];
                if offset == 1 {
                    chip.write_odd(v);
                } else if v & ICW1_INIT != 0 {
                    chip.write_icw1(v);
                } else if v & OCW3_SEL != 0 {
                    chip.write_ocw3(v);
                } else {
                    chip.write_ocw2(v);
                }
                self.sample();
            }
            _ => {
                let i = offset as usize & 1;
                self.elcr[i] = v & [ELCR1_MASK, ELCR2_MASK][i];
                self.sample();
            }
        }
    }
}

impl InterruptController for Pic8259 {
    fn intr(&mut self) -> bool {
        self.sample();
        self.chips[0].winner().is_some()
    }

    fn any_unmasked(&mut self) -> bool {
        // The master's unmasked lines, with the cascade input counting only if the slave has one.
        let master = !self.chips[0].imr;
        let cascade = 1u8 << CASCADE_IR;
        master & !cascade != 0 || (master & cascade != 0 && self.chips[1].imr != 0xff)
    }

    fn acknowledge(&mut self) -> u8 {
        self.sample();
        let vector = match self.chips[0].winner() {
            // Nothing left to acknowledge: the master answers with its IR7 and sets no ISR bit.
            None => self.chips[0].vector(7),
            Some(ir) => {
                self.chips[0].acknowledge(ir);
                if self.chips[0].is_cascade(ir) {
                    let slave = &mut self.chips[1];
                    if slave.icw3 & 7 != ir {
                        0xff // no slave answers this cascade address: the bus floats
                    } else if let Some(sir) = slave.winner() {
                        slave.acknowledge(sir);
                        slave.vector(sir)
                    } else {
                        slave.vector(7) // spurious IRQ 15
                    }
                } else {
                    self.chips[0].vector(ir)
                }
            }
        };
        self.sample();
        vector
    }
}

impl Device for Pic8259 {
    fn name(&self) -> &'static str {
        "8259A PIC pair"
    }

    /// As at power-on ([`Pic8259::new`]): both chips uninitialised and all masked, the ELCR all
    /// edge, and the lines that are high now seen as having risen, those that rose and fell
    /// before not (ICW1 clears what that latches).
    fn reset(&mut self) {
        let mut edges = std::mem::take(&mut self.edges);
        self.lines.take_irq_edges(&mut edges);
        *self = Pic8259 { edges, ..Pic8259::new(self.lines.clone()) };
        let levels = (self.lines.irq_levels() as u16) & !(1 << CASCADE_IR);
        self.update_irr(1, (levels >> 8) as u8, (levels >> 8) as u8);
        self.update_irr(0, levels as u8, levels as u8);
    }

    fn read(&mut self, region: u8, offset: u64, size: u8) -> u32 {
        let mut v = 0;
        for i in 0..size as u64 {
            let byte = if offset + i < 2 { self.read_byte(region, offset + i) } else { 0xff };
            v |= (byte as u32) << (8 * i);
        }
        v
    }

    fn write(&mut self, region: u8, offset: u64, size: u8, value: u32) {
        for i in 0..size as u64 {
            if offset + i < 2 {
                self.write_byte(region, offset + i, (value >> (8 * i)) as u8);
            }
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn as_interrupt_controller(&mut self) -> Option<&mut dyn InterruptController> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u8 = REGION_MASTER;
    const S: u8 = REGION_SLAVE;

    struct Bench {
        pic: Pic8259,
        lines: Lines,
    }

    impl Bench {
        fn new() -> Self {
            let lines = Lines::new();
            Bench { pic: Pic8259::new(lines.clone()), lines }
        }
        /// The PC BIOS's initialisation: vectors 0x08 and 0x70, slave on IR2, 8086 mode.
        fn bios() -> Self {
            let mut b = Bench::new();
            b.init(0x08, 0x70, 0x01);
            b
        }
        fn init(&mut self, master_base: u8, slave_base: u8, icw4: u8) {
            for (r, base, icw3) in [(M, master_base, 0x04), (S, slave_base, 0x02)] {
                self.wr(r, 0, 0x11);
                self.wr(r, 1, base);
                self.wr(r, 1, icw3);
                self.wr(r, 1, icw4);
                self.wr(r, 1, 0x00);
            }
        }
        fn wr(&mut self, region: u8, offset: u64, v: u8) {
            self.pic.write(region, offset, 1, v as u32);
        }
        fn rd(&mut self, region: u8, offset: u64) -> u8 {
            self.pic.read(region, offset, 1) as u8
        }
        fn irq(&self, n: u8, high: bool) {
            self.lines.set_irq(n, high);
        }
        /// Raises and lowers line `n` with a look by the PIC in between.
        fn pulse(&mut self, n: u8) {
            self.irq(n, true);
            self.pic.intr();
            self.irq(n, false);
        }
        fn intr(&mut self) -> bool {
            self.pic.intr()
        }
        fn ack(&mut self) -> u8 {
            assert!(self.pic.intr());
            self.pic.acknowledge()
        }
        fn isr(&mut self, r: u8) -> u8 {
            self.wr(r, 0, 0x0b);
            let v = self.rd(r, 0);
            self.wr(r, 0, 0x0a);
            v
        }
        fn eoi(&mut self, r: u8) {
            self.wr(r, 0, 0x20);
        }
    }

    #[test]
    fn power_on_masks_everything_until_initialised() {
        let mut b = Bench::new();
        b.irq(1, true);
        assert!(!b.intr());
        assert_eq!(b.rd(M, 1), 0xff);
        assert_eq!(b.rd(M, 0), 0x02); // IRR shows the request anyway
    }

    #[test]
    fn bios_init_sequence_and_vectors() {
        let mut b = Bench::bios();
        assert_eq!(b.rd(M, 1), 0);
        assert_eq!(b.rd(S, 1), 0);
        b.pulse(0);
        assert_eq!(b.ack(), 0x08);
        assert_eq!(b.isr(M), 0x01);
        assert!(!b.intr());
        b.eoi(M);
        assert_eq!(b.isr(M), 0);
        b.pulse(1);
        assert_eq!(b.ack(), 0x09);
    }

    #[test]
    fn linux_init_sequence_with_vectors_0x20_0x28() {
        let mut b = Bench::new();
        b.init(0x20, 0x28, 0x01);
        b.wr(M, 1, 0xfb); // everything masked but the cascade
        b.wr(S, 1, 0xff);
        b.pulse(0);
        assert!(!b.intr());
        b.wr(M, 1, 0xfa);
        assert_eq!(b.ack(), 0x20);
        b.eoi(M);
        b.wr(S, 1, 0xfe);
        b.irq(8, true);
        assert_eq!(b.ack(), 0x28);
    }

    #[test]
    fn single_mode_skips_icw3_and_icw4_is_optional() {
        let mut b = Bench::new();
        b.wr(M, 0, 0x12); // single, no ICW4
        b.wr(M, 1, 0x40);
        b.wr(M, 1, 0xfd); // this is already OCW1
        assert_eq!(b.rd(M, 1), 0xfd);
        b.pulse(1);
        assert_eq!(b.ack(), 0x41);
        b.pulse(2); // in single mode IR2 is an ordinary input, but nothing drives it here
        assert!(!b.intr());
    }

    #[test]
    fn masking_holds_a_request_until_unmasked() {
        let mut b = Bench::bios();
        b.wr(M, 1, 0x08);
        b.pulse(3);
        assert!(!b.intr());
        assert_eq!(b.rd(M, 0), 0x08); // IRR
        b.wr(M, 1, 0x00);
        assert_eq!(b.ack(), 0x0b);
    }

    #[test]
    fn priority_and_nesting() {
        let mut b = Bench::bios();
        b.pulse(5);
        assert_eq!(b.ack(), 0x0d);
        b.pulse(6); // lower priority than the in-service IR5: held
        assert!(!b.intr());
        b.pulse(3); // higher: nests
        assert_eq!(b.ack(), 0x0b);
        assert_eq!(b.isr(M), 0x28);
        b.eoi(M); // non-specific: clears IR3, the highest in service
        assert_eq!(b.isr(M), 0x20);
        assert!(!b.intr());
        b.wr(M, 0, 0x65); // specific EOI for IR5
        assert_eq!(b.ack(), 0x0e);
    }

    #[test]
    fn rotation_on_eoi_and_set_priority() {
        let mut b = Bench::bios();
        b.pulse(1);
        assert_eq!(b.ack(), 0x09);
        b.wr(M, 0, 0xa0); // rotate on non-specific EOI: IR1 becomes lowest, IR2 highest
        b.pulse(0);
        b.pulse(3);
        assert_eq!(b.ack(), 0x0b); // IR3 now outranks IR0
        b.wr(M, 0, 0xe3); // rotate on specific EOI: IR3 lowest, IR4 highest
        assert_eq!(b.ack(), 0x08);
        b.eoi(M);
        b.wr(M, 0, 0xc4); // set priority: IR4 lowest, IR5 highest
        b.pulse(4);
        b.pulse(7);
        assert_eq!(b.ack(), 0x0f);
        b.eoi(M);
        assert_eq!(b.ack(), 0x0c);
    }

    #[test]
    fn automatic_eoi_and_rotation_in_aeoi() {
        let mut b = Bench::new();
        b.init(0x08, 0x70, 0x03);
        b.pulse(0);
        b.pulse(1);
        assert_eq!(b.ack(), 0x08);
        assert_eq!(b.isr(M), 0); // AEOI: nothing stays in service
        assert_eq!(b.ack(), 0x09);
        b.wr(M, 0, 0x80); // set rotate in AEOI
        b.pulse(0);
        b.pulse(1);
        assert_eq!(b.ack(), 0x08); // IR0 becomes lowest
        b.pulse(0);
        assert_eq!(b.ack(), 0x09);
        assert_eq!(b.ack(), 0x08);
        b.wr(M, 0, 0x00); // clear rotate in AEOI
        b.pulse(3);
        b.pulse(4);
        assert_eq!(b.ack(), 0x0b);
        b.pulse(3);
        assert_eq!(b.ack(), 0x0b); // no rotation any more: IR3 still beats IR4
    }

    #[test]
    fn edge_needs_a_new_rising_edge_level_follows_the_line() {
        let mut b = Bench::bios();
        b.irq(3, true);
        assert_eq!(b.ack(), 0x0b);
        b.eoi(M);
        assert!(!b.intr()); // still high, but no new edge
        b.irq(3, false);
        assert!(!b.intr());
        b.irq(3, true);
        assert_eq!(b.ack(), 0x0b);
        b.eoi(M);

        b.wr(REGION_ELCR, 0, 0x08); // IRQ3 level-triggered
        assert_eq!(b.ack(), 0x0b); // the line is still high: requests again
        b.eoi(M);
        assert_eq!(b.ack(), 0x0b);
        b.irq(3, false);
        b.eoi(M);
        assert!(!b.intr());
        assert_eq!(b.rd(M, 0) & 0x08, 0);
    }

    #[test]
    fn elcr_reserved_bits_and_word_access() {
        let mut b = Bench::bios();
        b.pic.write(REGION_ELCR, 0, 2, 0xffff);
        assert_eq!(b.pic.read(REGION_ELCR, 0, 2), 0xdef8);
        assert_eq!(b.rd(REGION_ELCR, 1), 0xde);
        assert_eq!(b.pic.elcr(), 0xdef8);
    }

    #[test]
    fn ltim_makes_a_whole_chip_level_triggered() {
        let mut b = Bench::new();
        b.wr(M, 0, 0x1b); // LTIM, single, ICW4
        b.wr(M, 1, 0x08);
        b.wr(M, 1, 0x01);
        b.irq(4, true);
        assert_eq!(b.ack(), 0x0c);
        b.eoi(M);
        assert_eq!(b.ack(), 0x0c);
    }

    #[test]
    fn spurious_irq7_when_a_level_request_goes_away() {
        let mut b = Bench::bios();
        b.wr(REGION_ELCR, 0, 0x20); // IRQ5 level
        b.irq(5, true);
        assert!(b.intr());
        b.irq(5, false); // gone before INTA
        assert_eq!(b.pic.acknowledge(), 0x0f);
        assert_eq!(b.isr(M), 0); // a spurious IR7 sets no ISR bit
    }

    #[test]
    fn cascade_from_the_slave() {
        let mut b = Bench::bios();
        b.irq(12, true);
        assert_eq!(b.ack(), 0x74);
        assert_eq!(b.isr(M), 0x04);
        assert_eq!(b.isr(S), 0x10);
        b.irq(12, false);
        b.pulse(9); // the slave's IR1 outranks its IR4, but the master's IR2 is in service
        assert!(!b.intr());
        b.eoi(S);
        b.eoi(M);
        assert_eq!(b.ack(), 0x71);
        b.eoi(S);
        b.eoi(M);
        // The master's own IR0 and IR1 outrank the whole slave; IR3 ranks below it.
        b.pulse(3);
        b.pulse(10);
        b.pulse(1);
        assert_eq!(b.ack(), 0x09);
        b.eoi(M);
        assert_eq!(b.ack(), 0x72);
        b.eoi(S);
        b.eoi(M);
        assert_eq!(b.ack(), 0x0b);
    }

    #[test]
    fn spurious_irq15_sets_the_masters_isr2() {
        let mut b = Bench::bios();
        b.wr(REGION_ELCR, 1, 0x04); // IRQ10 level
        b.irq(10, true);
        assert!(b.intr()); // the master latched the slave's INT edge on IR2
        b.irq(10, false);
        assert_eq!(b.pic.acknowledge(), 0x77);
        assert_eq!(b.isr(M), 0x04);
        assert_eq!(b.isr(S), 0x00);
    }

    #[test]
    fn special_fully_nested_mode_lets_a_higher_slave_irq_through() {
        let mut b = Bench::new();
        b.init(0x08, 0x70, 0x01);
        b.wr(M, 0, 0x11);
        b.wr(M, 1, 0x08);
        b.wr(M, 1, 0x04);
        b.wr(M, 1, 0x11); // SFNM
        b.wr(M, 1, 0x00);
        b.pulse(12);
        assert_eq!(b.ack(), 0x74);
        b.pulse(9);
        assert_eq!(b.ack(), 0x71); // nests although master IR2 is in service
        b.pulse(13); // lower than the slave's in-service IR1: the slave holds it
        assert!(!b.intr());
    }

    #[test]
    fn special_mask_mode_enables_lower_levels() {
        let mut b = Bench::bios();
        b.pulse(3);
        assert_eq!(b.ack(), 0x0b);
        b.pulse(5);
        assert!(!b.intr());
        b.wr(M, 0, 0x68); // set special mask mode
        b.wr(M, 1, 0x08); // mask IR3, the in-service one
        assert_eq!(b.ack(), 0x0d);
        b.wr(M, 0, 0x48); // reset special mask mode
        b.wr(M, 1, 0x00);
        assert_eq!(b.isr(M), 0x28);
    }

    #[test]
    fn poll_mode_reads_and_acknowledges() {
        let mut b = Bench::bios();
        b.wr(M, 0, 0x0c); // poll
        assert_eq!(b.rd(M, 0), 0x00);
        b.pulse(6);
        b.wr(M, 0, 0x0c);
        assert_eq!(b.rd(M, 1), 0x86);
        assert_eq!(b.isr(M), 0x40);
        assert_eq!(b.rd(M, 1), 0x00); // IMR again: poll lasts one read
    }

    #[test]
    fn icw1_resets_state() {
        let mut b = Bench::bios();
        b.pulse(4);
        assert_eq!(b.ack(), 0x0c);
        b.wr(M, 1, 0x55);
        b.wr(M, 0, 0xc0);
        b.init(0x08, 0x70, 0x01);
        assert_eq!(b.isr(M), 0);
        assert_eq!(b.rd(M, 1), 0);
        b.pulse(7);
        b.pulse(0);
        assert_eq!(b.ack(), 0x08); // priorities back to IR0 first
    }

    #[test]
    fn a_line_that_falls_and_rises_between_looks_requests_again_in_edge_mode() {
        let mut b = Bench::bios();
        b.irq(3, true);
        assert_eq!(b.ack(), 0x0b);
        b.eoi(M);
        // The guest took the byte and the device raised its line for the next one at once: the
        // PIC never saw the line low, and the edge must still count.
        b.irq(3, false);
        b.irq(3, true);
        assert_eq!(b.ack(), 0x0b);
        b.eoi(M);
        assert!(!b.intr(), "one edge, one interrupt");
        // Two whole pulses between looks, line low at the look: one request (IRR is one bit).
        for _ in 0..2 {
            b.irq(3, false);
            b.irq(3, true);
        }
        b.irq(3, false);
        assert_eq!(b.ack(), 0x0b);
        b.eoi(M);
        assert!(!b.intr());
        // The same on the slave, through the cascade.
        b.irq(12, true);
        assert_eq!(b.ack(), 0x74);
        b.eoi(S);
        b.eoi(M);
        b.irq(12, false);
        b.irq(12, true);
        assert_eq!(b.ack(), 0x74);
        b.eoi(S);
        b.eoi(M);
        assert!(!b.intr());
    }

    #[test]
    fn level_mode_follows_the_line_whatever_its_edges() {
        let mut b = Bench::bios();
        b.wr(REGION_ELCR, 0, 0x08); // IRQ3 level-triggered
        b.irq(3, true);
        assert_eq!(b.ack(), 0x0b);
        b.eoi(M);
        // Still high: requests again without any edge.
        assert_eq!(b.ack(), 0x0b);
        b.eoi(M);
        // A rise that is gone again by the look leaves no request in level mode.
        b.irq(3, false);
        b.irq(3, true);
        b.irq(3, false);
        assert!(!b.intr());
        assert_eq!(b.rd(M, 0) & 0x08, 0);
    }
}
