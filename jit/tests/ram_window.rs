//! Loads that go straight to guest RAM (`translate::RamWindow`: paging off, A20 open, flat data
//! segments, in the plain RAM from 0 and from 1 MiB): the same values as the interpreter's, at
//! the window's edges and outside it, without the TLB; device memory below and above 1 MiB read
//! through the bus; and a JIT that moves to another machine reads that machine's RAM.

mod common;

use common::*;
use emu_core::device::{AddressSpace, Device, DeviceId, Remap};
use emu_cpu_x86::{Cpu, Stop};
use iced_x86::code_asm::*;

const RAM: u32 = 4 << 20;

/// Sums a dword of each of 300 pages from 1 MiB (through the TLB, 300 misses), then
/// reads at the window's edges and across them, and halts.
fn program() -> Vec<u8> {
    asm(32, |a| {
        let mut top = a.create_label();
        a.mov(esi, 0x10_0000u32)?;
        a.mov(ecx, 300u32)?;
        a.xor(eax, eax)?;
        a.set_label(&mut top)?;
        a.add(eax, dword_ptr(esi))?;
        a.add(esi, 0x1000u32)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        // Inside, at both ends.
        a.add(eax, dword_ptr(RAM - 4))?;
        a.movzx(ebx, byte_ptr(RAM - 1))?;
        a.add(eax, ebx)?;
        a.movzx(ebx, word_ptr(0x10_0000u32))?;
        a.add(eax, ebx)?;
        // Across the edges and outside: the slow path (across 1 MiB, past the end of RAM); below
        // 1 MiB, plain RAM in this machine: the window's low range.
        a.mov(edx, dword_ptr(0xf_fffeu32))?;
        a.mov(edi, dword_ptr(RAM - 2))?;
        a.mov(ebp, dword_ptr(RAM))?;
        a.mov(ebx, dword_ptr(0x8_0000u32))?;
        a.hlt()
    })
}

/// [`flat32_with_ram`] with RAM filled with a pattern that depends on `seed`.
fn machine(seed: u8) -> Cpu {
    let mut c = flat32_with_ram(&program(), RAM as u64);
    let ram = c.sys.ram_mut().as_mut_slice();
    for (i, b) in ram.iter_mut().enumerate().skip(0x8_0000) {
        *b = (i as u8).wrapping_mul(7) ^ seed;
    }
    let code = program();
    load(&mut c, CODE, &code);
    c
}

#[test]
fn loads_in_ram_read_it_directly_and_as_the_interpreter_does() {
    let (c, stop, j) = same_in_both(|| machine(0), 100_000, "direct loads");
    assert_eq!(stop, Stop::Halted);
    assert_ne!(c.s.regs[0], 0);
    assert!(
        j.stats.inline_slow < 20,
        "300 pages read without TLB misses (only the edge cases take the slow path): {:?}",
        j.stats
    );
}

/// Loads below 1 MiB go straight to RAM too, up to the first device below 1 MiB: a loop
/// reading a dword of RAM there and a dword of a device's MMIO page at 9F000h 1000 times each
/// never takes the slow path for the RAM, and reads the device through the bus.
#[test]
fn loads_below_1_mib_are_direct_up_to_a_device() {
    let code = asm(32, |a| {
        let mut top = a.create_label();
        a.xor(eax, eax)?;
        a.xor(edx, edx)?;
        a.mov(ecx, 1000u32)?;
        a.set_label(&mut top)?;
        a.add(eax, dword_ptr(0x8_0000u32))?;
        a.add(edx, dword_ptr(0x9_f000u32))?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let make = || {
        let mut c = flat32_with_ram(&code, RAM as u64);
        load(&mut c, 0x8_0000, &3u32.to_le_bytes());
        let id = c.sys.add_device(Box::new(Mover { id: None, remaps: vec![] }));
        c.sys.map_mmio(0x9_f000, 0x1000, id, 1).unwrap();
        c
    };
    let (c, stop, j) = same_in_both(make, 100_000, "loads below 1 MiB");
    assert_eq!(stop, Stop::Halted);
    assert_eq!((c.s.regs[0], c.s.regs[2]), (3000, 1000u32.wrapping_mul(MOVED)));
    assert!(j.stats.inline_slow <= 1010, "the RAM loads never took the slow path: {:?}", j.stats);
}

/// The same JIT runs the program on a second machine, whose RAM holds other values: its blocks
/// read that machine's RAM (the cache is flushed when the RAM changes).
#[test]
fn a_jit_moved_to_another_machine_reads_that_machines_ram() {
    let mut j = jit();
    let mut first = machine(0);
    assert_eq!(j.run(&mut first, 100_000), Stop::Halted);
    let mut second = machine(0x5a);
    assert_eq!(j.run(&mut second, 100_000), Stop::Halted);
    let mut reference = machine(0x5a);
    assert_eq!(reference.run(100_000), Stop::Halted);
    assert_same(&reference, &second, "the second machine");
    assert_ne!(first.s.regs[0], second.s.regs[0], "the two machines' RAM differs");
}

/// A device whose one page of MMIO (every dword reads [`MOVED`]) is mapped at [`INTO_RAM`],
/// inside RAM, when the guest writes port 0x80.
struct Mover {
    id: Option<DeviceId>,
    remaps: Vec<Remap>,
}

const INTO_RAM: u32 = 0x20_0000;
const MOVED: u32 = 0xdead_beef;

impl Device for Mover {
    fn name(&self) -> &'static str {
        "mover"
    }
    fn read(&mut self, _region: u8, _offset: u64, _size: u8) -> u32 {
        MOVED
    }
    fn write(&mut self, region: u8, _offset: u64, _size: u8, _value: u32) {
        if region == 0 {
            let target = self.id.expect("registered");
            let new = Some(INTO_RAM as u64);
            self.remaps.push(Remap { space: AddressSpace::Mmio, target, region: 1, len: 0x1000, old: None, new });
        }
    }
    fn take_remaps(&mut self) -> Vec<Remap> {
        std::mem::take(&mut self.remaps)
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// The guest reads a dword at 2 MiB (RAM) in a loop, translated with loads straight to RAM,
/// then writes port 0x80 and the device maps its MMIO page there: the same loop reads the
/// device from then on, as the interpreter does.
#[test]
fn a_device_mapped_into_ram_is_read_through_the_bus_from_then_on() {
    let code = asm(32, |a| {
        let (mut first, mut second) = (a.create_label(), a.create_label());
        a.xor(eax, eax)?;
        a.mov(ecx, 100u32)?;
        a.set_label(&mut first)?;
        a.add(eax, dword_ptr(INTO_RAM))?;
        a.dec(ecx)?;
        a.jnz(first)?;
        a.out(0x80, al)?;
        a.mov(ecx, 100u32)?;
        a.set_label(&mut second)?;
        a.mov(ebx, dword_ptr(INTO_RAM))?;
        a.add(eax, ebx)?;
        a.dec(ecx)?;
        a.jnz(second)?;
        a.hlt()
    });
    let make = || {
        let mut c = flat32_with_ram(&code, RAM as u64);
        load(&mut c, INTO_RAM, &7u32.to_le_bytes());
        let id = c.sys.add_device(Box::new(Mover { id: None, remaps: vec![] }));
        c.sys.device_mut::<Mover>(id).unwrap().id = Some(id);
        c.sys.map_io(0x80, 1, id, 0).unwrap();
        c
    };
    let (c, stop, _) = same_in_both(make, 100_000, "a device mapped into RAM");
    assert_eq!(stop, Stop::Halted);
    assert_eq!((c.s.regs[0], c.s.regs[3]), (700u32.wrapping_add(100u32.wrapping_mul(MOVED)), MOVED));
}
