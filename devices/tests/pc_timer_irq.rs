//! The PIT's counter 0 in mode 2 drives IRQ0 through the 8259A pair to the CPU's INTA cycle, on a
//! `System`'s virtual clock, as the machine's timer loop runs it.

use emu_core::{ClockMode, System};
use emu_devices::attach_pc_timers_and_pic;
use emu_devices::pit8254::ticks_to_ns;

/// Moves the clock to the next device deadline and runs the timers, as a halted CPU does.
fn wait_for_event(sys: &mut System) -> u64 {
    let due = sys.next_deadline();
    assert_ne!(due, u64::MAX, "a timer is running");
    sys.clock.skip_to(due);
    sys.run_timers();
    due
}

#[test]
fn pit_mode2_interrupts_reach_the_cpu_as_vector_8_on_time() {
    let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
    attach_pc_timers_and_pic(&mut sys).unwrap();
    assert!(sys.has_interrupt_controller());

    // The BIOS's PIC initialisation; everything but IRQ0 masked.
    for (port, bytes) in [(0x20u16, [0x11u8, 0x08, 0x04, 0x01]), (0xa0, [0x11, 0x70, 0x02, 0x01])] {
        sys.io_write(port, 1, bytes[0] as u32);
        for b in &bytes[1..] {
            sys.io_write(port + 1, 1, *b as u32);
        }
    }
    sys.io_write(0x21, 1, 0xfe);
    sys.io_write(0xa1, 1, 0xff);
    assert!(!sys.intr());

    // Counter 0, LSB then MSB, mode 2, binary: 1193 clocks (~1 ms), written at time 0.
    const N: u64 = 1193;
    sys.io_write(0x43, 1, 0x34);
    sys.io_write(0x40, 1, (N & 0xff) as u32);
    sys.io_write(0x40, 1, (N >> 8) as u32);
    assert!(!sys.intr());

    for k in 1..=5u64 {
        // OUT0 falls at CE = 1 and rises at the reload: IRQ0's edge comes at clock k*N + 1.
        let rise = ticks_to_ns(k * N + 1);
        loop {
            let t = wait_for_event(&mut sys);
            assert!(t <= rise);
            if t < rise {
                assert!(!sys.intr(), "no interrupt before the edge (t = {t})");
            } else {
                break;
            }
        }
        assert!(sys.intr(), "tick {k} at {rise} ns");
        assert_eq!(sys.acknowledge_interrupt(), Some(0x08));
        assert!(!sys.intr());
        sys.io_write(0x20, 1, 0x20); // EOI
        assert!(!sys.intr());
    }
    let ms = sys.clock.now() as f64 / 1e6;
    assert!((4.99..5.01).contains(&ms), "five ticks took {ms} ms");
}

#[test]
fn ticks_taken_late_with_interrupts_off_are_not_lost() {
    // The CPU did not look at INTR while both edges of OUT0's one-clock pulse went by.
    let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
    attach_pc_timers_and_pic(&mut sys).unwrap();
    for (port, bytes) in [(0x20u16, [0x11u8, 0x20, 0x04, 0x01]), (0xa0, [0x11, 0x28, 0x02, 0x01])] {
        sys.io_write(port, 1, bytes[0] as u32);
        for b in &bytes[1..] {
            sys.io_write(port + 1, 1, *b as u32);
        }
    }
    sys.io_write(0x43, 1, 0x34);
    sys.io_write(0x40, 1, 100);
    sys.io_write(0x40, 1, 0);
    sys.clock.skip_to(ticks_to_ns(150));
    sys.run_timers();
    assert!(sys.intr());
    assert_eq!(sys.acknowledge_interrupt(), Some(0x20));
}
