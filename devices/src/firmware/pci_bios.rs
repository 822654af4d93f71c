//! The PCI BIOS (PCI BIOS Specification 2.1): INT 1Ah with AH = B1h, the real-mode interface.
//!
//! Every function talks to the hardware through configuration mechanism #1 (CONFADD at 0xCF8,
//! CONFDATA at 0xCFC), as a real BIOS does, so it sees exactly what the guest would see probing
//! the bus itself. The value in CONFADD is saved and restored around each call: a caller may be
//! in the middle of its own configuration access.
//!
//! | AX    | function                         |
//! |-------|----------------------------------|
//! | B101h | installation check               |
//! | B102h | find PCI device (vendor, device) |
//! | B103h | find PCI class code              |
//! | B106h | generate special cycle: not supported (AL bit 4 of B101h says so) |
//! | B108h-B10Dh | read/write configuration byte, word, dword |
//! | B10Eh | get PCI interrupt routing options |
//! | B10Fh | set PCI hardware interrupt (PIIX3 PIRQ routing and the ELCR) |
//!
//! Each returns its status in AH (00h successful, 81h function not supported, 83h bad vendor
//! ID, 86h device not found, 87h bad register number, 88h set failed, 89h buffer too small), with
//! CF set exactly when AH is not 00h.
//!
//! The interrupt routing follows the i440FX/PIIX3 board: PCI device `d`'s pin INTx (0 = INTA)
//! goes to PIRQ`(d - 1 + x) mod 4`, whose link value is the PIIX3 route control register
//! 60h-63h that steers it, as in the `$PIR` tables of PIIX boards.
//!
//! **Not provided:** the BIOS32 service directory (`_32_`) and the 32-bit protected-mode entry.
//! emu's BIOS services run behind real-mode trap stubs that address the caller's memory by
//! segment; a protected-mode entry would need the caller's descriptors and page tables. Linux
//! finds no `_32_` header and probes configuration mechanism #1 directly (what `pci=conf1`
//! forces), which works on emu's PCI bus. There is no `$PIR` table in the ROM either: the routing
//! table is only given through B10Eh.

use super::{lin, rd16, set_carry, wr16, wr8, Next, Regs};
use crate::pci::{
    CONFIG_ENABLE, HEADER_MULTIFUNCTION, HEADER_TYPE, INTERRUPT_PIN, PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA, REVISION_ID,
    VENDOR_ID,
};
use emu_core::System;

/// "PCI " in EDX after a successful installation check.
pub const PCI_SIGNATURE: u32 = 0x2049_4350;
/// Interface level: version 2.10, as BH.BL.
pub const VERSION: u16 = 0x0210;
/// AL of the installation check: configuration mechanism #1, no special cycles.
const MECHANISM_1: u8 = 0x01;

// Function codes (AL with AH = B1h).
const PCI_BIOS_PRESENT: u8 = 0x01;
const FIND_PCI_DEVICE: u8 = 0x02;
const FIND_PCI_CLASS_CODE: u8 = 0x03;
const GENERATE_SPECIAL_CYCLE: u8 = 0x06;
const READ_CONFIG_BYTE: u8 = 0x08;
const READ_CONFIG_WORD: u8 = 0x09;
const READ_CONFIG_DWORD: u8 = 0x0a;
const WRITE_CONFIG_BYTE: u8 = 0x0b;
const WRITE_CONFIG_WORD: u8 = 0x0c;
const WRITE_CONFIG_DWORD: u8 = 0x0d;
const GET_IRQ_ROUTING_OPTIONS: u8 = 0x0e;
const SET_PCI_IRQ: u8 = 0x0f;

/// Return codes in AH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Successful = 0x00,
    FuncNotSupported = 0x81,
    BadVendorId = 0x83,
    DeviceNotFound = 0x86,
    BadRegisterNumber = 0x87,
    SetFailed = 0x88,
    BufferTooSmall = 0x89,
}

/// Size of one entry of the interrupt routing table.
pub const ROUTING_ENTRY_SIZE: u16 = 16;
/// The ISA IRQs the PIIX3 can steer a PIRQ line to: 3-7, 9-12, 14 and 15 (the bitmap every
/// entry of the routing table carries; IRQ 0, 1, 2, 8 and 13 are reserved by the router).
pub const ROUTABLE_IRQS: u16 = 0xdef8;
/// PIIX3 PIRQRC[A] (function 0 register 60h); B-D follow. Also the routing table's link values.
const PIRQRC_A: u8 = 0x60;
/// The Edge/Level Control Registers (ELCR1 at 0x4D0 for IRQ 0-7, ELCR2 at 0x4D1 for 8-15).
const ELCR: u16 = 0x4d0;
/// The PIIX3 PCI-to-ISA bridge, which owns the PIRQ route control registers.
const PIIX3_ISA: (u16, u16) = (0x8086, 0x7000);

/// A PCI function's address as the PCI BIOS gives it: bus in BH, device and function in BL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    pub bus: u8,
    /// Device number in bits 7:3, function number in bits 2:0.
    pub devfn: u8,
}

impl Function {
    fn device(self) -> u8 {
        self.devfn >> 3
    }
}

/// A configuration read of `size` bytes at register `reg` (aligned to `size`) through mechanism #1.
pub fn config_read(sys: &mut System, f: Function, reg: u8, size: u8) -> u32 {
    let saved = sys.io_read(PCI_CONFIG_ADDRESS, 4);
    sys.io_write(PCI_CONFIG_ADDRESS, 4, config_address(f, reg));
    let v = sys.io_read(PCI_CONFIG_DATA + (reg & 3) as u16, size);
    sys.io_write(PCI_CONFIG_ADDRESS, 4, saved);
    v
}

/// A configuration write of `size` bytes at register `reg` (aligned to `size`).
pub fn config_write(sys: &mut System, f: Function, reg: u8, size: u8, value: u32) {
    let saved = sys.io_read(PCI_CONFIG_ADDRESS, 4);
    sys.io_write(PCI_CONFIG_ADDRESS, 4, config_address(f, reg));
    sys.io_write(PCI_CONFIG_DATA + (reg & 3) as u16, size, value);
    sys.io_write(PCI_CONFIG_ADDRESS, 4, saved);
}

fn config_address(f: Function, reg: u8) -> u32 {
    CONFIG_ENABLE | (f.bus as u32) << 16 | (f.devfn as u32) << 8 | (reg & 0xfc) as u32
}

/// Every function present on the buses 0..=`last_bus`, in bus, device, function order: function
/// 0 of each device, and functions 1-7 when function 0's header says multi-function.
pub fn functions(sys: &mut System, last_bus: u8) -> Vec<Function> {
    let mut found = Vec::new();
    for bus in 0..=last_bus {
        for device in 0..32u8 {
            let f0 = Function { bus, devfn: device << 3 };
            if config_read(sys, f0, VENDOR_ID, 2) == 0xffff {
                continue;
            }
            found.push(f0);
            if config_read(sys, f0, HEADER_TYPE, 1) as u8 & HEADER_MULTIFUNCTION == 0 {
                continue;
            }
            for function in 1..8 {
                let f = Function { bus, devfn: device << 3 | function };
                if config_read(sys, f, VENDOR_ID, 2) != 0xffff {
                    found.push(f);
                }
            }
        }
    }
    found
}

/// The number of the last PCI bus: the highest subordinate bus number of the PCI-to-PCI bridges
/// (header type 1) on bus 0, or 0 when there are none (emu's board has a single bus).
pub fn last_bus(sys: &mut System) -> u8 {
    const SUBORDINATE_BUS: u8 = 0x1a;
    functions(sys, 0)
        .into_iter()
        .filter_map(|f| {
            let bridge = config_read(sys, f, HEADER_TYPE, 1) & 0x7f == 1;
            bridge.then(|| config_read(sys, f, SUBORDINATE_BUS, 1) as u8)
        })
        .max()
        .unwrap_or(0)
}

/// The `index`th function (counting from 0) for which `matches(vendor/device dword, class
/// dword)` holds.
fn find(sys: &mut System, index: u16, matches: impl Fn(u32, u32) -> bool) -> Option<Function> {
    let last = last_bus(sys);
    functions(sys, last)
        .into_iter()
        .filter(|&f| {
            let id = config_read(sys, f, VENDOR_ID, 4);
            let class = config_read(sys, f, REVISION_ID, 4);
            matches(id, class)
        })
        .nth(index as usize)
}

/// The PIRQ line (0 = PIRQA) that pin `pin` (0 = INTA) of device `device` on bus 0 drives.
fn pirq(device: u8, pin: u8) -> u8 {
    device.wrapping_sub(1).wrapping_add(pin) & 3
}

/// The interrupt routing table: one 16-byte entry per device on bus 0 other than the host bridge
/// (device 0), each giving the link (PIIX3 register 60h-63h) and the steerable IRQs of its four
/// pins; slot number 0 (the devices are built into the board).
pub fn routing_table(sys: &mut System) -> Vec<u8> {
    let mut devices: Vec<u8> = functions(sys, 0).iter().map(|f| f.device()).filter(|&d| d != 0).collect();
    devices.dedup();
    let mut table = Vec::with_capacity(devices.len() * ROUTING_ENTRY_SIZE as usize);
    for device in devices {
        table.extend_from_slice(&[0, device << 3]);
        for pin in 0..4 {
            table.push(PIRQRC_A + pirq(device, pin));
            table.extend_from_slice(&ROUTABLE_IRQS.to_le_bytes());
        }
        table.extend_from_slice(&[0, 0]); // slot number, reserved
    }
    table
}

/// INT 1Ah, AH = B1h.
pub(super) fn int1a(sys: &mut System, regs: &mut Regs) -> Next {
    let status = call(sys, regs);
    regs.set_ah(status as u8);
    set_carry(sys, regs, status != Status::Successful);
    Next::Return
}

fn call(sys: &mut System, regs: &mut Regs) -> Status {
    let f = Function { bus: regs.bh(), devfn: regs.bl() };
    match regs.al() {
        PCI_BIOS_PRESENT => {
            regs.gpr[2] = PCI_SIGNATURE;
            regs.set_al(MECHANISM_1);
            regs.set_bx(VERSION);
            let last = last_bus(sys);
            regs.set_cl(last);
            Status::Successful
        }
        FIND_PCI_DEVICE => {
            let (device, vendor) = (regs.cx(), regs.dx());
            if vendor == 0xffff {
                return Status::BadVendorId;
            }
            let want = (device as u32) << 16 | vendor as u32;
            found(regs, find(sys, regs.si(), |id, _| id == want))
        }
        FIND_PCI_CLASS_CODE => {
            let want = regs.gpr[1] & 0xff_ffff;
            found(regs, find(sys, regs.si(), |_, class| class >> 8 == want))
        }
        GENERATE_SPECIAL_CYCLE => Status::FuncNotSupported,
        op @ READ_CONFIG_BYTE..=WRITE_CONFIG_DWORD => {
            let size = [1u8, 2, 4][((op - READ_CONFIG_BYTE) % 3) as usize];
            let reg = regs.di();
            if reg > 0xff || !reg.is_multiple_of(size as u16) {
                return Status::BadRegisterNumber;
            }
            let reg = reg as u8;
            match op {
                READ_CONFIG_BYTE => regs.set_cl(config_read(sys, f, reg, 1) as u8),
                READ_CONFIG_WORD => regs.set_cx(config_read(sys, f, reg, 2) as u16),
                READ_CONFIG_DWORD => regs.gpr[1] = config_read(sys, f, reg, 4),
                WRITE_CONFIG_BYTE => config_write(sys, f, reg, 1, regs.cl() as u32),
                WRITE_CONFIG_WORD => config_write(sys, f, reg, 2, regs.cx() as u32),
                _ => config_write(sys, f, reg, 4, regs.gpr[1]),
            }
            Status::Successful
        }
        GET_IRQ_ROUTING_OPTIONS => get_irq_routing_options(sys, regs),
        SET_PCI_IRQ => set_pci_irq(sys, regs.cl(), regs.ch(), f),
        _ => Status::FuncNotSupported,
    }
}

/// BH/BL for a found function, or DEVICE_NOT_FOUND.
fn found(regs: &mut Regs, f: Option<Function>) -> Status {
    match f {
        Some(f) => {
            regs.set_bh(f.bus);
            regs.set_bl(f.devfn);
            Status::Successful
        }
        None => Status::DeviceNotFound,
    }
}

/// B10Eh: ES:DI points at the caller's IRQ routing options buffer (word size, then the far
/// pointer offset:segment of the data buffer). The table goes to the data buffer if it fits;
/// either way the size word is set to the table's size. BX returns the IRQs reserved for PCI
/// alone: none, the PIIX3 shares them with ISA.
fn get_irq_routing_options(sys: &mut System, regs: &mut Regs) -> Status {
    let table = routing_table(sys);
    let header = lin(regs.es(), regs.di());
    let room = rd16(sys, header);
    wr16(sys, header, table.len() as u16);
    if (room as usize) < table.len() {
        return Status::BufferTooSmall;
    }
    let (offset, segment) = (rd16(sys, header + 2), rd16(sys, header + 4));
    for (i, &b) in table.iter().enumerate() {
        wr8(sys, lin(segment, offset.wrapping_add(i as u16)), b);
    }
    regs.set_bx(0);
    Status::Successful
}

/// B10Fh: connect pin `pin` (0Ah = INTA ... 0Dh = INTD) of function `f` to ISA IRQ `irq`: program
/// the PIIX3's route control register for the pin's PIRQ line and make the IRQ level-triggered in
/// the ELCR, as PCI interrupts are. The caller updates the function's Interrupt Line register.
fn set_pci_irq(sys: &mut System, pin: u8, irq: u8, f: Function) -> Status {
    if !(0x0a..=0x0d).contains(&pin) || irq > 15 || ROUTABLE_IRQS & 1 << irq == 0 || f.bus != 0 {
        return Status::SetFailed;
    }
    let Some(router) = find(sys, 0, |id, _| id == (PIIX3_ISA.1 as u32) << 16 | PIIX3_ISA.0 as u32) else {
        return Status::SetFailed;
    };
    // The function must exist and have the pin it is asked to route.
    if config_read(sys, f, VENDOR_ID, 2) == 0xffff || config_read(sys, f, INTERRUPT_PIN, 1) == 0 {
        return Status::SetFailed;
    }
    let line = pirq(f.device(), pin - 0x0a);
    config_write(sys, router, PIRQRC_A + line, 1, irq as u32);
    let port = ELCR + (irq >> 3) as u16;
    let elcr = sys.io_read(port, 1);
    sys.io_write(port, 1, elcr | 1 << (irq & 7));
    Status::Successful
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::{PciBus, INTERRUPT_LINE};
    use emu_core::ClockMode;

    /// A system with the PIC pair (and its ELCR), the PCI bus with the i440FX and PIIX3, no
    /// drives; the caller's stack at 0000:1000 with FLAGS 0202h (CF clear) in its INT frame.
    fn pc() -> (System, Regs) {
        let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        crate::attach_pc_timers_and_pic(&mut sys).unwrap();
        crate::attach_pci_and_ide(&mut sys, Vec::new(), None).unwrap();
        let mut regs = Regs::default();
        regs.set_sp(0x1000);
        wr16(&mut sys, 0x1004, 0x0202);
        (sys, regs)
    }

    fn int(sys: &mut System, regs: &mut Regs, ax: u16) -> (u8, bool) {
        regs.set_ax(ax);
        int1a(sys, regs);
        (regs.ah(), rd16(sys, 0x1004) & 1 != 0)
    }

    #[test]
    fn installation_check() {
        let (mut sys, mut regs) = pc();
        assert_eq!(int(&mut sys, &mut regs, 0xb101), (0, false));
        assert_eq!(regs.gpr[2], PCI_SIGNATURE);
        assert_eq!((regs.al(), regs.bx(), regs.cl()), (1, 0x0210, 0));
    }

    #[test]
    fn find_device_and_class() {
        let (mut sys, mut regs) = pc();
        regs.set_cx(0x1237);
        regs.set_dx(0x8086);
        regs.set_si(0);
        assert_eq!(int(&mut sys, &mut regs, 0xb102), (0, false));
        assert_eq!(regs.bx(), 0x0000, "host bridge at 00:00.0");
        regs.set_si(1);
        assert_eq!(int(&mut sys, &mut regs, 0xb102), (0x86, true), "only one i440FX");
        regs.set_dx(0xffff);
        assert_eq!(int(&mut sys, &mut regs, 0xb102), (0x83, true));

        regs.gpr[1] = 0x01_0180; // IDE, bus-master capable, legacy mode
        regs.set_si(0);
        assert_eq!(int(&mut sys, &mut regs, 0xb103), (0, false));
        assert_eq!(regs.bx(), 1 << 3 | 1, "PIIX3 IDE at 00:01.1");
        regs.gpr[1] = 0x02_0000; // Ethernet: none
        assert_eq!(int(&mut sys, &mut regs, 0xb103), (0x86, true));
    }

    #[test]
    fn config_reads_and_writes_with_alignment_checks() {
        let (mut sys, mut regs) = pc();
        regs.set_bx(1 << 3 | 1);
        regs.set_di(0);
        assert_eq!(int(&mut sys, &mut regs, 0xb10a), (0, false));
        assert_eq!(regs.gpr[1], 0x7010_8086);
        regs.set_di(2);
        assert_eq!(int(&mut sys, &mut regs, 0xb109), (0, false));
        assert_eq!(regs.cx(), 0x7010);
        regs.set_di(0x0b);
        assert_eq!(int(&mut sys, &mut regs, 0xb108), (0, false));
        assert_eq!(regs.cl(), 0x01);

        // The slave IDE timing register (SIDETIM) through a byte write, a word write to IDETIM.
        regs.set_di(0x44);
        regs.set_cl(0x5a);
        assert_eq!(int(&mut sys, &mut regs, 0xb10b), (0, false));
        regs.set_cl(0);
        int(&mut sys, &mut regs, 0xb108);
        assert_eq!(regs.cl(), 0x5a);
        regs.set_di(0x40);
        regs.set_cx(0x8000);
        assert_eq!(int(&mut sys, &mut regs, 0xb10c), (0, false));
        regs.set_cx(0);
        int(&mut sys, &mut regs, 0xb109);
        assert_eq!(regs.cx(), 0x8000);
        // Interrupt Line of the PIIX3 IDE is read-only (legacy IRQs 14/15): the write is ignored.
        regs.set_di(INTERRUPT_LINE as u16);
        regs.set_cl(0x0e);
        assert_eq!(int(&mut sys, &mut regs, 0xb10b), (0, false));
        int(&mut sys, &mut regs, 0xb108);
        assert_eq!(regs.cl(), 0);
        // BMIBA (BAR4) through a dword write; reads back with the I/O space bit.
        regs.set_di(0x20);
        regs.gpr[1] = 0xc000;
        assert_eq!(int(&mut sys, &mut regs, 0xb10d), (0, false));
        regs.gpr[1] = 0;
        int(&mut sys, &mut regs, 0xb10a);
        assert_eq!(regs.gpr[1], 0xc001);

        regs.set_di(3);
        assert_eq!(int(&mut sys, &mut regs, 0xb109), (0x87, true));
        regs.set_di(2);
        assert_eq!(int(&mut sys, &mut regs, 0xb10d), (0x87, true));
        regs.set_di(0x100);
        assert_eq!(int(&mut sys, &mut regs, 0xb108), (0x87, true));
        assert_eq!(int(&mut sys, &mut regs, 0xb106), (0x81, true));
        assert_eq!(int(&mut sys, &mut regs, 0xb1ff), (0x81, true));
    }

    #[test]
    fn the_callers_confadd_survives() {
        let (mut sys, mut regs) = pc();
        sys.io_write(PCI_CONFIG_ADDRESS, 4, 0x8000_0808);
        regs.set_cx(0x7010);
        regs.set_dx(0x8086);
        int(&mut sys, &mut regs, 0xb102);
        assert_eq!(sys.io_read(PCI_CONFIG_ADDRESS, 4), 0x8000_0808);
    }

    #[test]
    fn routing_options_report_size_then_fill_the_buffer() {
        let (mut sys, mut regs) = pc();
        // Buffer header at 0000:2000 claiming 8 bytes, data at 0000:2100.
        wr16(&mut sys, 0x2000, 8);
        wr16(&mut sys, 0x2002, 0x2100);
        wr16(&mut sys, 0x2004, 0);
        regs.seg[0] = 0;
        regs.set_di(0x2000);
        regs.set_bx(0);
        assert_eq!(int(&mut sys, &mut regs, 0xb10e), (0x89, true));
        let size = rd16(&mut sys, 0x2000);
        assert_eq!(size, ROUTING_ENTRY_SIZE, "one entry: the PIIX3 (device 1)");
        assert_eq!(int(&mut sys, &mut regs, 0xb10e), (0, false));
        let mut entry = [0u8; 16];
        sys.read_bytes(0x2100, &mut entry);
        assert_eq!(entry, [0, 1 << 3, 0x60, 0xf8, 0xde, 0x61, 0xf8, 0xde, 0x62, 0xf8, 0xde, 0x63, 0xf8, 0xde, 0, 0]);
        assert_eq!(regs.bx(), 0);
    }

    /// A function with one interrupt pin, for the routing tests (no emulated device has one).
    struct WithPin(crate::pci::ConfigSpace);
    impl crate::pci::PciFunction for WithPin {
        fn name(&self) -> &'static str {
            "test function with INTA"
        }
        fn config(&self) -> &crate::pci::ConfigSpace {
            &self.0
        }
        fn config_mut(&mut self) -> &mut crate::pci::ConfigSpace {
            &mut self.0
        }
        fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
            self
        }
    }

    #[test]
    fn set_pci_irq_programs_the_router_and_elcr() {
        let (mut sys, mut regs) = pc();
        let mut cfg = crate::pci::ConfigSpace::new(0x1af4, 0x1000, 0, 0x02_0000);
        cfg.set_u8(INTERRUPT_PIN, 1);
        sys.find_device::<PciBus>().unwrap().add_function(3, 0, Box::new(WithPin(cfg)));

        regs.set_bx(3 << 3);
        regs.set_cx(0x0b0a); // IRQ 11, INTA: device 3's INTA is PIRQC
        assert_eq!(int(&mut sys, &mut regs, 0xb10f), (0, false));
        let router = Function { bus: 0, devfn: 1 << 3 };
        assert_eq!(config_read(&mut sys, router, PIRQRC_A + 2, 1), 11);
        assert_eq!(sys.io_read(ELCR + 1, 1) & 1 << 3, 1 << 3, "IRQ 11 level-triggered");

        // The routing table now has device 3 too, its INTA on link 62h.
        let table = routing_table(&mut sys);
        assert_eq!(table.len(), 2 * ROUTING_ENTRY_SIZE as usize);
        assert_eq!((table[16 + 1], table[16 + 2]), (3 << 3, 0x62));

        regs.set_cx(0x020a); // IRQ 2 is not routable
        assert_eq!(int(&mut sys, &mut regs, 0xb10f), (0x88, true));
        regs.set_cx(0x0b0e); // no pin INTE
        assert_eq!(int(&mut sys, &mut regs, 0xb10f), (0x88, true));
        regs.set_bx(0);
        regs.set_cx(0x0b0a); // the host bridge has no interrupt pin
        assert_eq!(int(&mut sys, &mut regs, 0xb10f), (0x88, true));
    }
}
