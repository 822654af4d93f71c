//! The system board as the CPU sees it: the physical address space (RAM, ROM, MMIO devices), the
//! port I/O space, the devices themselves, the board's wires and the virtual clock.
//!
//! **Invariant:** in the physical space MMIO ranges win over ROM, and ROM over RAM; a 4 KiB page
//! is reported as plain RAM or ROM (host-addressable) only if nothing else overlaps any byte of it,
//! so a TLB may cache its host pointer. Pages with anything else are [`PageBacking::Slow`].
//! In the BIOS area a chipset may override "ROM over RAM" per range ([`Shadow`], the i440FX's PAM
//! registers): reads and writes each go to RAM or to the bus. Every change to MMIO ranges or
//! shadowing bumps [`System::mmio_generation`] and raises the attention line, so the CPU flushes
//! its TLB before the next instruction.

use crate::bus::Bus;
use crate::clock::{Clock, ClockMode};
use crate::device::{
    AddressSpace, Device, DeviceId, GuestMemory, InterruptController, LocalAck, LocalInterruptController, Remap,
    Shadow, OPEN_BUS,
};
use crate::error::Error;
use crate::lines::Lines;
use crate::memory::{GuestRam, Rom, PAGE_SIZE};

/// What backs one 4 KiB page of the physical address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageBacking {
    /// Plain RAM: reads and writes may go straight to this host address.
    Ram(*mut u8),
    /// ROM: reads may go straight to this host address; writes are ignored.
    Rom(*const u8),
    /// Devices, a partial ROM, or nothing: every access takes [`System::read_phys`]/`write_phys`.
    Slow,
}

type Target = (DeviceId, u8);

/// Physical memory, I/O space, devices, wires and clock of one machine.
pub struct System {
    ram: GuestRam,
    roms: Vec<Rom>,
    mmio: Bus<Target>,
    io: Bus<Target>,
    devices: Vec<Box<dyn Device>>,
    pub lines: Lines,
    pub clock: Clock,
    /// Earliest device deadline (ns), `u64::MAX` when none.
    next_deadline: u64,
    /// Physical pages written by `write_phys`/DMA since the last [`System::take_written_pages`]
    /// call; the JIT invalidates code on them. Only pages marked with [`System::watch_page`] count.
    written_watched: Vec<u64>,
    /// The device wired to the CPU's INTR pin.
    intc: Option<DeviceId>,
    /// The CPU's local interrupt controller (local APIC), between `intc` and the CPU.
    local_intc: Option<DeviceId>,
    /// Counts changes to the MMIO map, so a TLB can tell cached page backings went stale.
    mmio_generation: u64,
    /// Ranges of the BIOS area whose reads or writes the chipset sends to RAM.
    shadows: Vec<Shadow>,
}

impl System {
    pub fn new(ram_size: u64, clock: ClockMode) -> Result<Self, Error> {
        Ok(System {
            ram: GuestRam::new(ram_size)?,
            roms: Vec::new(),
            mmio: Bus::new(),
            io: Bus::new(),
            devices: Vec::new(),
            lines: Lines::new(),
            clock: Clock::new(clock),
            next_deadline: u64::MAX,
            written_watched: Vec::new(),
            intc: None,
            local_intc: None,
            mmio_generation: 0,
            shadows: Vec::new(),
        })
    }

    pub fn ram(&self) -> &GuestRam {
        &self.ram
    }
    pub fn ram_mut(&mut self) -> &mut GuestRam {
        &mut self.ram
    }
    pub fn ram_size(&self) -> u64 {
        self.ram.size()
    }

    /// Maps a ROM over the physical space (over RAM, under MMIO).
    pub fn add_rom(&mut self, rom: Rom) {
        self.roms.push(rom);
    }

    /// Adds a device; map its ranges with [`System::map_io`] and [`System::map_mmio`].
    pub fn add_device(&mut self, dev: Box<dyn Device>) -> DeviceId {
        self.devices.push(dev);
        let id = DeviceId((self.devices.len() - 1) as u16);
        self.update_deadline();
        id
    }

    pub fn map_io(&mut self, port: u16, len: u16, dev: DeviceId, region: u8) -> Result<(), Error> {
        Ok(self.io.insert(port as u64, len as u64, (dev, region))?)
    }

    /// Removes the I/O range that starts at `port`.
    pub fn unmap_io(&mut self, port: u16) {
        self.io.remove(port as u64);
    }

    pub fn map_mmio(&mut self, base: u64, len: u64, dev: DeviceId, region: u8) -> Result<(), Error> {
        self.map_changed();
        Ok(self.mmio.insert(base, len, (dev, region))?)
    }

    pub fn unmap_mmio(&mut self, base: u64) {
        self.map_changed();
        self.mmio.remove(base);
    }

    /// Counts changes to the physical map (MMIO ranges, shadowing): a TLB that caches
    /// [`System::page_backing`] results must be flushed when this changes (a PCI BAR moved over
    /// RAM, the BIOS area switched from ROM to RAM).
    pub fn mmio_generation(&self) -> u64 {
        self.mmio_generation
    }

    fn map_changed(&mut self) {
        self.mmio_generation += 1;
        self.lines.request_attention();
    }

    /// Sets how `[s.base, s.base + s.len)` decodes (the chipset's shadow RAM control). Translated
    /// code on those pages is reported as written, since what the CPU fetches there changes.
    pub fn set_shadow(&mut self, s: Shadow) {
        let old = self.shadows.iter().position(|o| o.base == s.base && o.len == s.len);
        if old.map(|i| self.shadows[i]) == Some(s) || old.is_none() && !s.read_ram && !s.write_ram {
            return;
        }
        if let Some(i) = old {
            self.shadows.remove(i);
        }
        if s.read_ram || s.write_ram {
            self.shadows.push(s);
        }
        self.map_changed();
        if s.len > 0 {
            self.written_watched.extend(s.base / PAGE_SIZE..=(s.base + s.len - 1) / PAGE_SIZE);
        }
    }

    fn shadow_at(&self, pa: u64) -> Option<&Shadow> {
        self.shadows.iter().find(|s| s.base <= pa && pa < s.base + s.len)
    }

    /// Moves a device region as [`Remap`] describes. The old range is removed only if it still
    /// maps to the same device and region. A new range that overlaps another is an error and
    /// leaves the region unmapped (a guest that puts two BARs on top of each other gets neither).
    pub fn apply_remap(&mut self, r: Remap) -> Result<(), Error> {
        let bus = match r.space {
            AddressSpace::Io => &mut self.io,
            AddressSpace::Mmio => {
                self.mmio_generation += 1;
                self.lines.request_attention();
                &mut self.mmio
            }
        };
        if let Some(old) = r.old {
            if bus.lookup(old) == Some(((r.target, r.region), 0)) {
                bus.remove(old);
            }
        }
        match r.new {
            Some(new) if r.space == AddressSpace::Io && new + r.len > 0x1_0000 => Ok(()),
            Some(new) => Ok(bus.insert(new, r.len, (r.target, r.region))?),
            None => Ok(()),
        }
    }

    /// After a write to device `dev`: moves the ranges it asked to move and runs its DMA.
    fn after_write(&mut self, dev: DeviceId) {
        let i = dev.0 as usize;
        for r in self.devices[i].take_remaps() {
            let _ = self.apply_remap(r); // a conflicting BAR is simply not decoded
        }
        for s in self.devices[i].take_shadow_changes() {
            self.set_shadow(s);
        }
        if self.devices[i].dma_pending() {
            // The device cannot be borrowed while it reaches memory through `self`: lend it out.
            let mut d = std::mem::replace(&mut self.devices[i], Box::new(Vacant));
            d.run_dma(self);
            self.devices[i] = d;
        }
    }

    /// Wires device `id` (which must implement [`Device::as_interrupt_controller`]) to INTR.
    pub fn set_interrupt_controller(&mut self, id: DeviceId) {
        self.intc = Some(id);
    }

    /// Puts device `id` (which must implement [`Device::as_local_interrupt_controller`]) between
    /// the interrupt controller and the CPU: from then on every interrupt goes through it.
    pub fn set_local_interrupt_controller(&mut self, id: DeviceId) {
        self.local_intc = Some(id);
    }

    /// Whether the CPU has a local interrupt controller (a local APIC).
    pub fn has_local_interrupt_controller(&self) -> bool {
        self.local_intc.is_some()
    }

    /// Runs `f` on the local interrupt controller and applies the address ranges it asked to
    /// move (e.g. after a write of the APIC base MSR). `None` when there is none.
    pub fn with_local_interrupt_controller<R>(
        &mut self,
        f: impl FnOnce(&mut dyn LocalInterruptController) -> R,
    ) -> Option<R> {
        let id = self.local_intc?;
        let r = f(self.local(id)?);
        self.after_write(id);
        self.update_deadline();
        Some(r)
    }

    /// Whether anything drives the CPU's INTR pin at all.
    pub fn has_interrupt_controller(&self) -> bool {
        self.intc.is_some() || self.local_intc.is_some()
    }

    /// Whether an interrupt could still reach the CPU: there is an interrupt controller and some
    /// line is unmasked in it.
    pub fn interrupts_possible(&mut self) -> bool {
        let ext = self.intc().is_some_and(|c| c.any_unmasked());
        match self.local_intc {
            None => ext,
            Some(id) => self.local(id).is_some_and(|l| l.any_unmasked(ext)),
        }
    }

    fn intc(&mut self) -> Option<&mut dyn InterruptController> {
        let id = self.intc?;
        self.devices[id.0 as usize].as_interrupt_controller()
    }

    fn local(&mut self, id: DeviceId) -> Option<&mut dyn LocalInterruptController> {
        self.devices[id.0 as usize].as_local_interrupt_controller()
    }

    /// The external controller's INTR, which the local controller sees on its LINT0 pin. It is
    /// asked even when the local controller ignores it, so it keeps watching its lines' edges.
    fn external_intr(&mut self) -> bool {
        self.intc().is_some_and(|c| c.intr())
    }

    /// Whether the CPU's INTR pin is asserted.
    pub fn intr(&mut self) -> bool {
        match self.local_intc {
            None => self.intc().is_some_and(|c| c.intr()),
            Some(id) => {
                let ext = self.external_intr();
                self.local(id).is_some_and(|l| l.intr(ext))
            }
        }
    }

    /// Runs an interrupt-acknowledge cycle and returns the vector (the CPU checked [`System::intr`]).
    pub fn acknowledge_interrupt(&mut self) -> Option<u8> {
        let v = match self.local_intc {
            None => self.intc().map(|c| c.acknowledge()),
            Some(id) => {
                let ext = self.external_intr();
                match self.local(id).map(|l| l.acknowledge(ext)) {
                    Some(LocalAck::Vector(v)) => Some(v),
                    Some(LocalAck::External) => self.intc().map(|c| c.acknowledge()),
                    None => None,
                }
            }
        };
        self.update_deadline();
        v
    }

    /// The device with id `id`, as its concrete type.
    pub fn device_mut<T: Device>(&mut self, id: DeviceId) -> Option<&mut T> {
        let dev: &mut dyn std::any::Any = self.devices.get_mut(id.0 as usize)?.as_any_mut();
        dev.downcast_mut::<T>()
    }

    /// The first device of type `T`.
    pub fn find_device<T: Device>(&mut self) -> Option<&mut T> {
        self.devices.iter_mut().find_map(|d| d.as_any_mut().downcast_mut::<T>())
    }

    // ---- physical address space -------------------------------------------------------------

    /// What backs the 4 KiB page holding physical address `pa`.
    pub fn page_backing(&mut self, pa: u64) -> PageBacking {
        let page = pa & !(PAGE_SIZE - 1);
        let end = page + PAGE_SIZE;
        if self.mmio.intersects(page, end) {
            return PageBacking::Slow;
        }
        let shadow = self.shadows.iter().find(|s| s.base < end && page < s.base + s.len);
        if let Some(s) = shadow.copied() {
            // Only a ROM covering the whole page, or none, keeps the page uniform.
            let rom_bytes: u64 = self.roms.iter().map(|r| r.end().min(end).saturating_sub(r.base.max(page))).sum();
            if page < s.base || s.base + s.len < end || end > self.ram.size() || !matches!(rom_bytes, 0 | PAGE_SIZE) {
                return PageBacking::Slow;
            }
            // SAFETY: page + 4096 <= RAM size, so the offset stays inside the mapping.
            let ram = unsafe { self.ram.host_base().add(page as usize) };
            return match (s.read_ram, s.write_ram, rom_bytes != 0) {
                (true, true, _) | (_, _, false) => PageBacking::Ram(ram),
                (true, false, true) => PageBacking::Rom(ram),
                (false, _, true) => PageBacking::Slow,
            };
        }
        let mut roms = self.roms.iter().filter(|r| r.base < end && page < r.end());
        match (roms.next(), roms.next()) {
            (Some(r), None) if r.base <= page && end <= r.end() => {
                PageBacking::Rom(r.data[(page - r.base) as usize..].as_ptr())
            }
            (None, None) if end <= self.ram.size() => {
                // SAFETY: page + 4096 <= RAM size, so the offset stays inside the mapping.
                PageBacking::Ram(unsafe { self.ram.host_base().add(page as usize) })
            }
            _ => PageBacking::Slow,
        }
    }

    /// Reads `size` (1, 2 or 4) bytes at physical address `pa`, little-endian, from whatever is
    /// there. An access that straddles two regions is split into bytes.
    pub fn read_phys(&mut self, pa: u64, size: u8) -> u32 {
        if let Some((dev, region, off)) = self.mmio_target(pa, size) {
            let v = self.devices[dev.0 as usize].read(region, off, size);
            self.update_deadline();
            return v;
        }
        let mut v = 0u32;
        for i in 0..size as u64 {
            v |= (self.read_phys_byte(pa + i) as u32) << (8 * i);
        }
        v
    }

    /// Writes the low `size` bytes of `value` at physical address `pa`.
    pub fn write_phys(&mut self, pa: u64, size: u8, value: u32) {
        if let Some((dev, region, off)) = self.mmio_target(pa, size) {
            self.devices[dev.0 as usize].write(region, off, size, value);
            self.after_write(dev);
            self.update_deadline();
            return;
        }
        for i in 0..size as u64 {
            self.write_phys_byte(pa + i, (value >> (8 * i)) as u8);
        }
    }

    /// The device covering all of `[pa, pa + size)`, if one does.
    fn mmio_target(&self, pa: u64, size: u8) -> Option<(DeviceId, u8, u64)> {
        let ((dev, region), off) = self.mmio.lookup(pa)?;
        let (_, last) = self.mmio.lookup(pa + size as u64 - 1)?;
        (last == off + size as u64 - 1).then_some((dev, region, off))
    }

    fn read_phys_byte(&mut self, pa: u64) -> u8 {
        if let Some(((dev, region), off)) = self.mmio.lookup(pa) {
            return self.devices[dev.0 as usize].read(region, off, 1) as u8;
        }
        if !self.shadow_at(pa).is_some_and(|s| s.read_ram) {
            if let Some(r) = self.roms.iter().find(|r| r.contains(pa)) {
                return r.data[(pa - r.base) as usize];
            }
        }
        match self.ram.as_slice().get(pa as usize) {
            Some(&b) => b,
            None => OPEN_BUS as u8,
        }
    }

    fn write_phys_byte(&mut self, pa: u64, v: u8) {
        if let Some(((dev, region), off)) = self.mmio.lookup(pa) {
            return self.devices[dev.0 as usize].write(region, off, 1, v as u32);
        }
        if !self.shadow_at(pa).is_some_and(|s| s.write_ram) && self.roms.iter().any(|r| r.contains(pa)) {
            return; // ROM: writes ignored
        }
        if let Some(b) = self.ram.as_mut_slice().get_mut(pa as usize) {
            *b = v;
        }
    }

    /// Copies guest physical memory out, through the slow path (for loaders, DMA, debuggers).
    pub fn read_bytes(&mut self, pa: u64, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.read_phys_byte(pa + i as u64);
        }
    }

    /// Copies bytes into guest physical memory, through the slow path (loaders, DMA, debuggers).
    pub fn write_bytes(&mut self, pa: u64, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            self.write_phys_byte(pa + i as u64, b);
        }
        let (first, last) = (pa / PAGE_SIZE, (pa + data.len() as u64).saturating_sub(1) / PAGE_SIZE);
        if !data.is_empty() {
            self.written_watched.extend(first..=last);
        }
    }

    /// Pages written behind the CPU's back (by [`System::write_bytes`]) since the last call, as
    /// physical page numbers; the JIT drops translated code on them.
    pub fn take_written_pages(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.written_watched)
    }

    /// Whether [`System::take_written_pages`] has pages to give (cheap; the JIT polls it
    /// between chained blocks).
    #[inline]
    pub fn has_written_pages(&self) -> bool {
        !self.written_watched.is_empty()
    }

    // ---- port I/O ---------------------------------------------------------------------------

    /// Reads `size` bytes from I/O port `port`; ports nobody answers on read as all ones.
    pub fn io_read(&mut self, port: u16, size: u8) -> u32 {
        let mask = if size == 4 { u32::MAX } else { (1u32 << (8 * size)) - 1 };
        let v = match self.io.lookup(port as u64) {
            Some(((dev, region), off)) => self.devices[dev.0 as usize].read(region, off, size),
            None => OPEN_BUS,
        };
        self.update_deadline();
        v & mask
    }

    /// Writes `size` bytes to I/O port `port`; writes to unclaimed ports are dropped.
    pub fn io_write(&mut self, port: u16, size: u8, value: u32) {
        if let Some(((dev, region), off)) = self.io.lookup(port as u64) {
            self.devices[dev.0 as usize].write(region, off, size, value);
            self.after_write(dev);
            self.update_deadline();
        }
    }

    // ---- time -------------------------------------------------------------------------------

    /// The earliest time (ns) a device wants to be advanced at, `u64::MAX` for never.
    #[inline]
    pub fn next_deadline(&self) -> u64 {
        self.next_deadline
    }

    /// Advances every device whose deadline has passed. Call after syncing the clock.
    pub fn run_timers(&mut self) {
        let now = self.clock.now();
        if now < self.next_deadline {
            return;
        }
        for dev in &mut self.devices {
            if dev.deadline().is_some_and(|d| d <= now) {
                dev.advance(now);
            }
        }
        self.update_deadline();
    }

    fn update_deadline(&mut self) {
        self.next_deadline = self.devices.iter().filter_map(|d| d.deadline()).min().unwrap_or(u64::MAX);
    }
}

impl GuestMemory for System {
    fn read_bytes(&mut self, pa: u64, buf: &mut [u8]) {
        System::read_bytes(self, pa, buf)
    }
    fn write_bytes(&mut self, pa: u64, data: &[u8]) {
        System::write_bytes(self, pa, data)
    }
}

/// Stands in for a device lent out by [`System::after_write`] while it runs DMA.
struct Vacant;

impl Device for Vacant {
    fn name(&self) -> &'static str {
        "vacant"
    }
    fn read(&mut self, _: u8, _: u64, _: u8) -> u32 {
        OPEN_BUS
    }
    fn write(&mut self, _: u8, _: u64, _: u8, _: u32) {}
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.devices.iter().map(|d| d.name()).collect();
        f.debug_struct("System").field("ram", &self.ram).field("devices", &names).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::any::Any;

    /// A device with 4 byte registers that records its accesses.
    #[derive(Default)]
    struct Regs {
        r: [u8; 4],
        deadline: Option<u64>,
        advanced: Vec<u64>,
    }
    impl Device for Regs {
        fn name(&self) -> &'static str {
            "regs"
        }
        fn read(&mut self, region: u8, offset: u64, size: u8) -> u32 {
            assert_eq!(region, 3);
            (0..size as u64).map(|i| (self.r[(offset + i) as usize] as u32) << (8 * i)).sum()
        }
        fn write(&mut self, _: u8, offset: u64, size: u8, value: u32) {
            for i in 0..size as u64 {
                self.r[(offset + i) as usize] = (value >> (8 * i)) as u8;
            }
        }
        fn deadline(&self) -> Option<u64> {
            self.deadline
        }
        fn advance(&mut self, now: u64) {
            self.advanced.push(now);
            self.deadline = None;
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
    }

    fn system() -> System {
        System::new(2 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap()
    }

    #[test]
    fn ram_rom_and_mmio_backings() {
        let mut s = system();
        s.add_rom(Rom::new(0xf0000, vec![0xaa; 0x10000]).unwrap());
        let id = s.add_device(Box::new(Regs::default()));
        s.map_mmio(0xa0000, 4, id, 3).unwrap();
        assert!(matches!(s.page_backing(0x1234), PageBacking::Ram(_)));
        assert!(matches!(s.page_backing(0xf0000), PageBacking::Rom(_)));
        assert_eq!(s.page_backing(0xa0fff), PageBacking::Slow);
        assert_eq!(s.page_backing(0x200000), PageBacking::Slow); // beyond RAM
        s.write_phys(0xa0000, 4, 0x11223344);
        assert_eq!(s.read_phys(0xa0001, 2), 0x2233);
        s.write_phys(0xf0000, 2, 0x1234); // ROM: ignored
        assert_eq!(s.read_phys(0xf0000, 2), 0xaaaa);
        assert_eq!(s.read_phys(0x300000, 4), 0xffff_ffff); // nothing there
        s.write_phys(0xeffff, 2, 0x5566); // straddles RAM and ROM
        assert_eq!(s.read_phys(0xeffff, 2), 0xaa66);
    }

    /// Moves itself from port 0x100 to 0x200 when written, and DMAs its byte to RAM 0x1000.
    #[derive(Default)]
    struct Mover {
        moved: bool,
        dma: Option<u8>,
    }
    impl Device for Mover {
        fn name(&self) -> &'static str {
            "mover"
        }
        fn read(&mut self, _: u8, _: u64, _: u8) -> u32 {
            7
        }
        fn write(&mut self, _: u8, _: u64, _: u8, value: u32) {
            self.dma = Some(value as u8);
        }
        fn take_remaps(&mut self) -> Vec<Remap> {
            if std::mem::replace(&mut self.moved, true) {
                return Vec::new();
            }
            let r = Remap {
                space: AddressSpace::Io,
                target: DeviceId(0),
                region: 0,
                len: 2,
                old: Some(0x100),
                new: Some(0x200),
            };
            vec![r]
        }
        fn dma_pending(&self) -> bool {
            self.dma.is_some()
        }
        fn run_dma(&mut self, mem: &mut dyn GuestMemory) {
            let v = self.dma.take().unwrap();
            mem.write_bytes(0x1000, &[v]);
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
    }

    #[test]
    fn devices_remap_themselves_and_run_dma_after_writes() {
        let mut s = system();
        let id = s.add_device(Box::new(Mover::default()));
        s.map_io(0x100, 2, id, 0).unwrap();
        s.io_write(0x101, 1, 0x5a);
        assert_eq!(s.io_read(0x100, 1), 0xff);
        assert_eq!(s.io_read(0x201, 1), 7);
        assert_eq!(s.ram().as_slice()[0x1000], 0x5a);
        assert_eq!(s.take_written_pages(), vec![1]);
        let g = s.mmio_generation();
        s.apply_remap(Remap {
            space: AddressSpace::Mmio,
            target: id,
            region: 0,
            len: 16,
            old: None,
            new: Some(0xa0000),
        })
        .unwrap();
        assert!(s.mmio_generation() > g);
        assert_eq!(s.read_phys(0xa0004, 1), 7);
    }

    #[test]
    fn shadowing_sends_bios_area_reads_and_writes_to_ram() {
        let mut s = system();
        s.add_rom(Rom::new(0xf0000, vec![0xaa; 0x10000]).unwrap());
        let g = s.mmio_generation();
        s.lines.take_attention();
        let seg = |read_ram, write_ram| Shadow { base: 0xf0000, len: 0x10000, read_ram, write_ram };
        s.set_shadow(seg(false, true)); // read ROM, write RAM: copy the BIOS down
        assert!(s.mmio_generation() > g && s.lines.take_attention());
        assert_eq!(s.page_backing(0xf0000), PageBacking::Slow);
        s.write_phys(0xf1000, 2, 0x1234);
        assert_eq!(s.read_phys(0xf1000, 2), 0xaaaa);
        s.set_shadow(seg(true, false)); // read RAM, writes dropped: write-protected shadow
        assert!(matches!(s.page_backing(0xf1000), PageBacking::Rom(_)));
        assert_eq!(s.read_phys(0xf1000, 2), 0x1234);
        s.write_phys(0xf1000, 2, 0x5678);
        assert_eq!(s.read_phys(0xf1000, 2), 0x1234);
        s.set_shadow(seg(true, true));
        assert!(matches!(s.page_backing(0xf1000), PageBacking::Ram(_)));
        s.set_shadow(seg(false, false));
        assert!(matches!(s.page_backing(0xf1000), PageBacking::Rom(_)));
        assert_eq!(s.read_phys(0xf1000, 2), 0xaaaa);
        assert!(s.take_written_pages().contains(&0xf1));
    }

    #[test]
    fn io_ports_and_timers() {
        let mut s = system();
        let id = s.add_device(Box::new(Regs { deadline: Some(50), ..Default::default() }));
        s.map_io(0x3f8, 4, id, 3).unwrap();
        assert!(s.map_io(0x3fa, 1, id, 3).is_err());
        s.io_write(0x3f9, 1, 0x5a);
        assert_eq!(s.io_read(0x3f9, 1), 0x5a);
        assert_eq!(s.io_read(0x80, 1), 0xff);
        assert_eq!(s.io_read(0x80, 2), 0xffff);
        assert_eq!(s.next_deadline(), 50);
        s.clock.sync(49);
        s.run_timers();
        s.clock.sync(51);
        s.run_timers();
        assert_eq!(s.device_mut::<Regs>(id).unwrap().advanced, vec![51]);
        assert_eq!(s.next_deadline(), u64::MAX);
    }
}
