//! The APIC pair driven through its registers on a board with the 8259A pair and the 8254, the
//! clock moved by hand.

use super::local::{lvt, reg, DEFAULT_BASE, VERSION};
use super::*;
use crate::pc::attach_pc_timers_and_pic;
use emu_core::ClockMode;

const IOAPIC: u64 = ioapic::DEFAULT_BASE;

struct Board {
    sys: System,
}

impl Board {
    fn new() -> Self {
        let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        attach_pc_timers_and_pic(&mut sys).unwrap();
        attach_apic(&mut sys).unwrap();
        Board { sys }
    }
    fn rd(&mut self, r: u64) -> u32 {
        self.sys.read_phys(DEFAULT_BASE + r, 4)
    }
    fn wr(&mut self, r: u64, v: u32) {
        self.sys.write_phys(DEFAULT_BASE + r, 4, v)
    }
    fn enable(&mut self) {
        self.wr(reg::SVR, 0x1ff);
    }
    fn at(&mut self, ns: u64) {
        self.sys.clock.skip_to(ns);
        self.sys.run_timers();
    }
    /// The vector the CPU would take now, if any (INTR, then INTA).
    fn take(&mut self) -> Option<u8> {
        if self.sys.intr() {
            self.sys.acknowledge_interrupt()
        } else {
            None
        }
    }
    fn irr_has(&mut self, v: u8) -> bool {
        self.rd(reg::IRR + 16 * (v as u64 / 32)) & (1 << (v % 32)) != 0
    }
    fn redirect(&mut self, pin: u32, low: u32, dest: u8) {
        self.sys.write_phys(IOAPIC, 4, 0x11 + 2 * pin);
        self.sys.write_phys(IOAPIC + 0x10, 4, (dest as u32) << 24);
        self.sys.write_phys(IOAPIC, 4, 0x10 + 2 * pin);
        self.sys.write_phys(IOAPIC + 0x10, 4, low);
    }
    /// The 8259A pair at vectors 08h/70h with only IRQ 1 unmasked.
    fn init_pic(&mut self) {
        for (port, v) in [(0x20, 0x11), (0xa0, 0x11), (0x21, 0x08), (0xa1, 0x70), (0x21, 4), (0xa1, 2)] {
            self.sys.io_write(port, 1, v);
        }
        for (port, v) in [(0x21, 1), (0xa1, 1), (0x21, 0xfd), (0xa1, 0xff)] {
            self.sys.io_write(port, 1, v);
        }
    }
}

#[test]
fn power_on_registers() {
    let mut b = Board::new();
    assert_eq!(b.rd(reg::VERSION), VERSION);
    assert_eq!(b.rd(reg::SVR), 0xff, "software-disabled");
    assert_eq!(b.rd(reg::DFR), 0xffff_ffff);
    assert_eq!(b.rd(reg::LVT_LINT0), lvt::EXTINT, "virtual wire: ExtINT, unmasked");
    for r in [reg::LVT_TIMER, reg::LVT_LINT1, reg::LVT_ERROR] {
        assert_eq!(b.rd(r), lvt::MASKED);
    }
    // Software-disabled: LVT entries stay masked whatever is written.
    b.wr(reg::LVT_TIMER, 0x40);
    assert_eq!(b.rd(reg::LVT_TIMER), lvt::MASKED | 0x40);
    // Byte reads see parts of a register; an unknown register reads 0 and is an error.
    assert_eq!(b.sys.read_phys(DEFAULT_BASE + reg::VERSION + 2, 1), 5);
    assert_eq!(b.rd(0x3f0), 0);
    b.wr(reg::ESR, 0);
    assert_eq!(b.rd(reg::ESR), local::esr::ILLEGAL_REGISTER);
    b.wr(reg::ESR, 0);
    assert_eq!(b.rd(reg::ESR), 0);
}

#[test]
fn timer_one_shot_and_periodic_on_the_clock() {
    let mut b = Board::new();
    b.enable();
    b.wr(reg::LVT_TIMER, 0x40);
    b.wr(reg::TIMER_DIVIDE, 0); // divide by 2
    b.wr(reg::TIMER_INITIAL, 1000);
    assert_eq!(b.sys.next_deadline(), 2000);
    b.at(1000);
    assert_eq!(b.rd(reg::TIMER_CURRENT), 500);
    assert_eq!(b.take(), None);
    b.at(1999);
    assert_eq!(b.take(), None);
    b.at(2000);
    assert_eq!(b.rd(reg::TIMER_CURRENT), 0);
    assert_eq!(b.take(), Some(0x40));
    assert_eq!(b.sys.next_deadline(), u64::MAX, "one-shot: done");

    // Periodic, divide by 1, period 100 ns from 3000: several periods missed give one
    // interrupt, and the count keeps its phase.
    b.wr(reg::EOI, 0);
    b.wr(reg::TIMER_INITIAL, 0);
    b.wr(reg::TIMER_DIVIDE, 0xb);
    b.wr(reg::LVT_TIMER, 0x41 | lvt::PERIODIC);
    b.at(3000);
    b.wr(reg::TIMER_INITIAL, 100);
    assert_eq!(b.sys.next_deadline(), 3100);
    b.at(3350);
    assert_eq!(b.rd(reg::TIMER_CURRENT), 50);
    assert_eq!(b.sys.next_deadline(), 3400);
    assert_eq!(b.take(), Some(0x41));
    assert_eq!(b.take(), None);
    // Masked, it counts but raises nothing; initial count 0 stops it.
    b.wr(reg::EOI, 0);
    b.wr(reg::LVT_TIMER, 0x41 | lvt::PERIODIC | lvt::MASKED);
    b.at(3500);
    assert_eq!(b.take(), None);
    b.wr(reg::TIMER_INITIAL, 0);
    assert_eq!(b.sys.next_deadline(), u64::MAX);
    assert_eq!(b.rd(reg::TIMER_CURRENT), 0);
}

#[test]
fn priorities_tpr_ppr_eoi_and_spurious() {
    let mut b = Board::new();
    b.enable();
    b.wr(reg::ICR_LOW, 0x51 | local::icr::SELF);
    b.wr(reg::ICR_LOW, 0x62 | local::icr::SELF);
    assert!(b.irr_has(0x51) && b.irr_has(0x62));
    assert_eq!(b.take(), Some(0x62), "highest first");
    assert_eq!(b.rd(reg::PPR), 0x60);
    assert_eq!(b.rd(reg::ISR + 0x30), 1 << 2, "0x62 in service");
    assert_eq!(b.take(), None, "0x51 is below the in-service class");
    b.wr(reg::EOI, 0);
    assert_eq!(b.rd(reg::PPR), 0);
    b.wr(reg::TPR, 0x55);
    assert_eq!(b.rd(reg::PPR), 0x55);
    assert_eq!(b.take(), None, "TPR class 5 holds back vector 0x51");
    b.wr(reg::TPR, 0x4f);
    assert!(b.sys.intr());
    // Raised between INTR and INTA: the spurious vector, nothing in service.
    b.wr(reg::TPR, 0x50);
    assert_eq!(b.sys.acknowledge_interrupt(), Some(0xff));
    assert_eq!(b.rd(reg::ISR + 0x20), 0);
    b.wr(reg::TPR, 0);
    assert_eq!(b.take(), Some(0x51));
    b.wr(reg::EOI, 0);
    assert_eq!(b.take(), None);
    // Software-disabled: requests wait in IRR.
    b.wr(reg::ICR_LOW, 0x70 | local::icr::SELF);
    b.wr(reg::SVR, 0xff);
    assert_eq!(b.take(), None);
    b.enable();
    assert_eq!(b.take(), Some(0x70));
}

#[test]
fn icr_ipis_to_self_nmi_init_and_illegal_vectors() {
    let mut b = Board::new();
    b.enable();
    b.wr(reg::ID, 0x0300_0000);
    // By destination: physical ID 3 is us, 4 is nobody; logical flat matches LDR bits.
    b.wr(reg::ICR_HIGH, 0x0400_0000);
    b.wr(reg::ICR_LOW, 0x80);
    assert!(!b.irr_has(0x80));
    b.wr(reg::ICR_HIGH, 0x0300_0000);
    b.wr(reg::ICR_LOW, 0x80);
    assert!(b.irr_has(0x80));
    b.wr(reg::LDR, 0x0200_0000);
    b.wr(reg::ICR_HIGH, 0x0600_0000);
    b.wr(reg::ICR_LOW, 0x81 | local::icr::LOGICAL);
    assert!(b.irr_has(0x81));
    b.wr(reg::ICR_LOW, 0x82 | local::icr::ALL_EXCLUDING_SELF);
    assert!(!b.irr_has(0x82), "nobody else is there");
    assert_eq!(b.rd(reg::ICR_LOW) & lvt::DELIVERY_STATUS, 0, "idle at once");
    // A vector below 16 is not sent: ESR says so after the next ESR write, and the error LVT
    // raises its interrupt.
    b.wr(reg::LVT_ERROR, 0xfe);
    b.wr(reg::ICR_LOW, 0x05 | local::icr::SELF);
    b.wr(reg::ESR, 0);
    assert_eq!(b.rd(reg::ESR), local::esr::SEND_ILLEGAL_VECTOR);
    assert!(b.irr_has(0xfe));
    // NMI and INIT to self go to the board's lines.
    b.sys.lines.take_attention();
    b.wr(reg::ICR_LOW, lvt::NMI | local::icr::SELF);
    assert!(b.sys.lines.take_nmi());
    b.wr(reg::ICR_LOW, lvt::INIT | lvt::LEVEL_TRIGGER | local::icr::ALL_INCLUDING_SELF); // de-assert
    assert!(!b.sys.lines.reset_pending());
    b.wr(reg::ICR_LOW, lvt::INIT | local::icr::ASSERT | local::icr::SELF);
    assert!(b.sys.lines.take_reset());
}

#[test]
fn ioapic_routes_isa_irqs_edge_and_mask() {
    let mut b = Board::new();
    b.enable();
    // COM1 (IRQ 4) on pin 4 and the 8254 (IRQ 0) on pin 2, physical destination 0.
    b.redirect(4, 0x34, 0);
    b.redirect(2, 0x30, 0);
    b.sys.lines.set_irq(4, true);
    assert_eq!(b.take(), Some(0x34));
    b.wr(reg::EOI, 0);
    assert_eq!(b.take(), None, "edge: one message per rising edge");
    b.sys.lines.set_irq(4, false);
    // IRQ0's rising edges (the 8254 holds its line high most of the time) arrive on pin 2.
    b.sys.lines.set_irq(0, false);
    assert_eq!(b.take(), None);
    b.sys.lines.set_irq(0, true);
    assert_eq!(b.take(), Some(0x30));
    b.wr(reg::EOI, 0);
    // A fall and a rise between two looks (the 8042's next byte, a UART's next THRE) still sends.
    b.sys.lines.set_irq(0, false);
    b.sys.lines.set_irq(0, true);
    assert_eq!(b.take(), Some(0x30));
    b.wr(reg::EOI, 0);
    // Masked, or for another APIC: nothing.
    b.redirect(4, 0x34 | ioapic::redir::MASKED as u32, 0);
    b.sys.lines.set_irq(4, true);
    assert_eq!(b.take(), None);
    b.sys.lines.set_irq(4, false);
    b.redirect(4, 0x34, 7);
    b.sys.lines.set_irq(4, true);
    assert_eq!(b.take(), None);
}

#[test]
fn level_interrupts_hold_remote_irr_until_eoi() {
    let mut b = Board::new();
    b.enable();
    b.redirect(10, 0x3a | ioapic::redir::LEVEL as u32, 0);
    b.sys.lines.set_irq(10, true);
    assert_eq!(b.take(), Some(0x3a));
    assert_ne!(b.rd(reg::TMR + 0x10) & (1 << (0x3a - 32)), 0, "TMR marks it level-triggered");
    assert_eq!(b.take(), None);
    // The line is still high at EOI: the I/O APIC sends it again.
    b.wr(reg::EOI, 0);
    assert_eq!(b.take(), Some(0x3a));
    b.sys.lines.set_irq(10, false);
    b.wr(reg::EOI, 0);
    assert_eq!(b.take(), None);
    b.sys.write_phys(IOAPIC, 4, 0x10 + 20);
    assert_eq!(b.sys.read_phys(IOAPIC + 0x10, 4) as u64 & ioapic::redir::REMOTE_IRR, 0);
}

#[test]
fn lint0_passes_the_8259_until_masked() {
    let mut b = Board::new();
    b.init_pic();
    b.sys.lines.set_irq(1, true);
    // Power-on: software-disabled, LINT0 in ExtINT: the 8259A's vector comes through.
    assert_eq!(b.take(), Some(0x09));
    b.sys.io_write(0x20, 1, 0x20);
    b.sys.lines.set_irq(1, false);
    assert!(!b.sys.intr()); // the 8259A sees the line fall (it watches only when asked)
                            // Enabled with LINT0 masked: the 8259A is cut off.
    b.enable();
    b.wr(reg::LVT_LINT0, lvt::EXTINT | lvt::MASKED);
    b.sys.lines.set_irq(1, true);
    assert!(!b.sys.intr());
    b.wr(reg::LVT_LINT0, lvt::EXTINT);
    assert_eq!(b.take(), Some(0x09));
    b.sys.io_write(0x20, 1, 0x20);
    // An I/O APIC entry in ExtINT mode asks the 8259A too.
    b.sys.lines.set_irq(1, false);
    assert!(!b.sys.intr());
    b.wr(reg::LVT_LINT0, lvt::EXTINT | lvt::MASKED);
    b.redirect(1, lvt::EXTINT, 0);
    b.sys.lines.set_irq(1, true);
    assert_eq!(b.take(), Some(0x09));
}

#[test]
fn base_msr_moves_and_hides_the_registers() {
    let mut b = Board::new();
    b.init_pic();
    let base = |sys: &mut System| sys.with_local_interrupt_controller(|l| l.base_msr()).unwrap();
    assert_eq!(base(&mut b.sys), 0xfee0_0900);
    b.enable();
    b.wr(reg::LVT_LINT0, lvt::EXTINT | lvt::MASKED);
    // Globally disabled: the registers vanish and the 8259A's INTR goes straight to the CPU.
    b.sys.with_local_interrupt_controller(|l| l.set_base_msr(0xfee0_0000));
    assert_eq!(b.rd(reg::VERSION), 0xffff_ffff);
    b.sys.lines.set_irq(1, true);
    assert_eq!(b.take(), Some(0x09));
    b.sys.io_write(0x20, 1, 0x20);
    // Enabled again elsewhere: there, in the power-on state.
    b.sys.with_local_interrupt_controller(|l| l.set_base_msr(0xfed0_0800));
    assert_eq!(base(&mut b.sys), 0xfed0_0900);
    assert_eq!(b.sys.read_phys(0xfed0_0000 + reg::VERSION, 4), VERSION);
    assert_eq!(b.sys.read_phys(0xfed0_0000 + reg::SVR, 4), 0xff);
    assert_eq!(b.rd(reg::VERSION), 0xffff_ffff);
    // RESET puts it back at the default base.
    b.sys.with_local_interrupt_controller(|l| l.reset());
    assert_eq!(b.rd(reg::VERSION), VERSION);
}

/// [`System::intr`] keeps its answer while nothing changes: an interrupt that a register write,
/// a line, a device timer or an EOI makes deliverable after many "no"s is seen at the next look.
#[test]
fn intr_sees_each_change_after_a_no_at_once() {
    let mut b = Board::new();
    let no = |b: &mut Board| (0..100).all(|_| !b.sys.intr());
    // The 8259A through LINT0 (power-on virtual wire): an EOI lets the next request through.
    b.init_pic();
    b.sys.lines.set_irq(1, true);
    assert_eq!(b.take(), Some(0x09));
    b.sys.lines.set_irq(1, false);
    b.sys.lines.set_irq(1, true);
    assert!(no(&mut b), "IRQ 1 is in service");
    b.sys.io_write(0x20, 1, 0x20);
    assert_eq!(b.take(), Some(0x09));
    b.sys.io_write(0x20, 1, 0x20);
    b.sys.lines.set_irq(1, false);
    // Masked in the 8259A and unmasked again: an OCW1 write.
    b.sys.io_write(0x21, 1, 0xff);
    b.sys.lines.set_irq(1, true);
    assert!(no(&mut b));
    b.sys.io_write(0x21, 1, 0xfd);
    assert!(b.sys.intr());
    b.sys.io_write(0x21, 1, 0xff);
    assert!(!b.sys.intr(), "a yes goes away as soon as the line is masked");
    b.sys.lines.set_irq(1, false);

    // The local APIC: its timer, held back by TPR, then let through by a TPR write.
    b.enable();
    b.wr(reg::LVT_LINT0, lvt::EXTINT | lvt::MASKED);
    b.wr(reg::TPR, 0x40);
    b.wr(reg::LVT_TIMER, 0x41);
    b.wr(reg::TIMER_DIVIDE, 0xb); // divide by 1
    b.wr(reg::TIMER_INITIAL, 100);
    b.at(99);
    assert!(no(&mut b));
    b.at(100);
    assert!(b.irr_has(0x41));
    assert!(no(&mut b), "TPR class 4 holds back vector 0x41");
    b.wr(reg::TPR, 0);
    assert_eq!(b.take(), Some(0x41));
    assert!(no(&mut b), "0x41 in service");
    b.wr(reg::EOI, 0);
    assert!(no(&mut b));

    // The I/O APIC: a line routed to a vector.
    b.redirect(3, 0x53, 0);
    assert!(no(&mut b));
    b.sys.lines.set_irq(3, true);
    assert_eq!(b.take(), Some(0x53));
}
