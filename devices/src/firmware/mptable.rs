//! The Intel MultiProcessor Specification 1.4 tables (chapter 4, "MP Configuration Table"): how
//! an OS without ACPI (Linux with `acpi=off`) learns that the PC has a local APIC and an I/O
//! APIC and how the ISA interrupts reach the I/O APIC's pins.
//!
//! What is written, in the first KiB of the EBDA (0x9FC00: both POST's EBDA and the "last KiB of
//! base memory" that the specification says an OS searches, reserved in the E820 map):
//! - the MP floating pointer structure (16 bytes, "_MP_"), pointing at
//! - the configuration table ("PCMP", no extended entries): one processor (APIC ID 0, the
//!   bootstrap processor), two buses (0 PCI, 1 ISA), the I/O APIC (ID 1 at 0xFEC00000), one I/O
//!   interrupt entry per ISA IRQ as the board wires them (IRQ 0 on pin 2, IRQ n on pin n, no
//!   IRQ 2; edge-triggered, active high, "conforms to the bus"), and the local interrupts of
//!   virtual-wire mode (ExtINT on LINT0, NMI on LINT1).
//!
//! The I/O APIC's ID register is set to the ID the table gives. Not described: PCI interrupts
//! (no PCI device of emu's raises one; IDE uses ISA IRQs 14 and 15). The feature byte says no
//! IMCR: the board is in virtual-wire mode from reset.

use emu_core::System;

use crate::apic::{ioapic, local, pin_of_irq};

/// Where the floating pointer goes: 256 bytes into the EBDA at 0x9FC00.
pub const FLOATING_POINTER: u64 = 0x9fd00;
/// Where the configuration table goes, right after it.
pub const CONFIG_TABLE: u64 = FLOATING_POINTER + 16;
/// The I/O APIC's ID (the processor's local APIC has ID 0).
pub const IOAPIC_ID: u8 = 1;
/// Bus IDs.
pub const PCI_BUS: u8 = 0;
pub const ISA_BUS: u8 = 1;
/// The processor signature and feature flags the processor entry gives: the family 6 model 1
/// stepping 9 signature emu's CPUID reports, with the FPU and APIC feature bits.
const CPU_SIGNATURE: u32 = 0x619;
const CPU_FEATURES: u32 = (1 << 0) | (1 << 9);

/// Entry types and interrupt types.
const PROCESSOR: u8 = 0;
const BUS: u8 = 1;
const IO_APIC: u8 = 2;
const IO_INTERRUPT: u8 = 3;
const LOCAL_INTERRUPT: u8 = 4;
const INT: u8 = 0;
const NMI: u8 = 1;
const EXTINT: u8 = 3;

/// The bytes of the configuration table placed at `at`.
pub fn config_table() -> Vec<u8> {
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let mut cpu = vec![PROCESSOR, 0, 0x14, 0b11];
    cpu.extend_from_slice(&CPU_SIGNATURE.to_le_bytes());
    cpu.extend_from_slice(&CPU_FEATURES.to_le_bytes());
    cpu.extend_from_slice(&[0; 8]);
    entries.push(cpu);
    for (id, name) in [(PCI_BUS, b"PCI   "), (ISA_BUS, b"ISA   ")] {
        let mut bus = vec![BUS, id];
        bus.extend_from_slice(name);
        entries.push(bus);
    }
    let mut io = vec![IO_APIC, IOAPIC_ID, (ioapic::VERSION & 0xff) as u8, 1];
    io.extend_from_slice(&(ioapic::DEFAULT_BASE as u32).to_le_bytes());
    entries.push(io);
    for irq in 0..16u8 {
        if let Some(pin) = pin_of_irq(irq) {
            entries.push(vec![IO_INTERRUPT, INT, 0, 0, ISA_BUS, irq, IOAPIC_ID, pin as u8]);
        }
    }
    for (kind, lint) in [(EXTINT, 0), (NMI, 1)] {
        entries.push(vec![LOCAL_INTERRUPT, kind, 0, 0, ISA_BUS, 0, 0xff, lint]);
    }

    let body: Vec<u8> = entries.concat();
    let mut t = Vec::with_capacity(44 + body.len());
    t.extend_from_slice(b"PCMP");
    t.extend_from_slice(&((44 + body.len()) as u16).to_le_bytes());
    t.push(4); // specification revision 1.4
    t.push(0); // checksum, below
    t.extend_from_slice(b"EMU     ");
    t.extend_from_slice(b"EMU PC      ");
    t.extend_from_slice(&0u32.to_le_bytes()); // no OEM table
    t.extend_from_slice(&0u16.to_le_bytes());
    t.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    t.extend_from_slice(&(local::DEFAULT_BASE as u32).to_le_bytes());
    t.extend_from_slice(&0u16.to_le_bytes()); // no extended entries
    t.push(0);
    t.push(0);
    t.extend_from_slice(&body);
    t[7] = checksum(&t);
    t
}

/// The floating pointer structure for a configuration table at `table`.
pub fn floating_pointer(table: u32) -> [u8; 16] {
    let mut f = [0u8; 16];
    f[..4].copy_from_slice(b"_MP_");
    f[4..8].copy_from_slice(&table.to_le_bytes());
    f[8] = 1; // length in 16-byte units
    f[9] = 4; // revision 1.4
              // Feature byte 1 = 0: a configuration table is present. Byte 2 bit 7 (IMCRP) = 0: no IMCR,
              // virtual-wire mode.
    f[10] = checksum(&f);
    f
}

fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)))
}

/// Writes the tables into guest memory and gives the I/O APIC its ID, if the board has the
/// APICs (a local APIC in front of the CPU); otherwise does nothing.
pub fn install(sys: &mut System) {
    if !sys.has_local_interrupt_controller() {
        return;
    }
    sys.write_bytes(CONFIG_TABLE, &config_table());
    sys.write_bytes(FLOATING_POINTER, &floating_pointer(CONFIG_TABLE as u32));
    sys.write_phys(ioapic::DEFAULT_BASE + ioapic::IOREGSEL, 4, ioapic::index::ID as u32);
    sys.write_phys(ioapic::DEFAULT_BASE + ioapic::IOWIN, 4, (IOAPIC_ID as u32) << 24);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_add_up() {
        let t = config_table();
        assert_eq!(&t[..4], b"PCMP");
        assert_eq!(u16::from_le_bytes([t[4], t[5]]) as usize, t.len());
        assert_eq!(t.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        // 1 processor + 2 buses + 1 I/O APIC + 15 ISA IRQs + 2 local interrupts.
        assert_eq!(u16::from_le_bytes([t[34], t[35]]), 21);
        assert_eq!(t.len(), 44 + 20 + 2 * 8 + 8 + 15 * 8 + 2 * 8);
        // IRQ 0 goes to pin 2; no entry for IRQ 2.
        let irqs: Vec<(u8, u8)> = t[44 + 20 + 24..].chunks(8).filter(|e| e[0] == 3).map(|e| (e[5], e[7])).collect();
        assert_eq!(irqs[0], (0, 2));
        assert!(irqs.iter().all(|&(irq, _)| irq != 2));
        let f = floating_pointer(0x9fd10);
        assert_eq!(f.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        assert_eq!(u32::from_le_bytes(f[4..8].try_into().unwrap()), 0x9fd10);
    }

    #[test]
    fn installed_only_with_an_apic() {
        use emu_core::ClockMode;
        let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        crate::pc::attach_pc_timers_and_pic(&mut sys).unwrap();
        install(&mut sys);
        assert_eq!(sys.read_phys(FLOATING_POINTER, 4), 0);
        crate::apic::attach_apic(&mut sys).unwrap();
        install(&mut sys);
        assert_eq!(&sys.read_phys(FLOATING_POINTER, 4).to_le_bytes(), b"_MP_");
        assert_eq!(&sys.read_phys(CONFIG_TABLE, 4).to_le_bytes(), b"PCMP");
        sys.write_phys(ioapic::DEFAULT_BASE, 4, 0);
        assert_eq!(sys.read_phys(ioapic::DEFAULT_BASE + 0x10, 4), 1 << 24);
    }
}
