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
//!
//! **Interrupt polling.** The CPU asks [`System::intr`] between every two instructions (or
//! blocks) while IF is set, and almost always nothing changed since it last asked: so the answer
//! is kept, and given again at the cost of one load and compare, for as long as it cannot have
//! changed.
//!
//! **Invariant:** the kept answer of [`System::intr`] is dropped (or no longer matches) whenever
//! something that could change it happens: a change of the IRQ lines, from any thread
//! ([`Lines::irq_generation`]), or any mutable access to any device, which every path makes
//! through one of the places that drop it (`System::dev` for port and MMIO accesses, DMA, the
//! interrupt controllers' own methods and the INTA cycle; [`System::run_timers`] when a device
//! timer is due; [`System::device_mut`], [`System::find_device`], [`System::add_device`] and the
//! controller wiring). So interrupt controllers must answer from their own state and the lines
//! alone, never from the time they read by themselves: a timer's expiry reaches them through
//! [`Device::advance`]. New code that reaches `devices` must go through `System::dev` too.

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

/// [`System`]'s `intr_generation` when it keeps no answer: a value the lines' generation never
/// reaches.
const NO_ANSWER: u64 = u64::MAX;

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
    /// Pages written behind the CPU's back ([`System::write_bytes`],
    /// [`System::write_phys_behind`], shadowing changes) since the last
    /// [`System::take_written_pages`]; the JIT drops translated code on them.
    written_watched: Vec<u64>,
    /// The device wired to the CPU's INTR pin.
    intc: Option<DeviceId>,
    /// The CPU's local interrupt controller (local APIC), between `intc` and the CPU.
    local_intc: Option<DeviceId>,
    /// The [`Lines::irq_generation`] at which [`System::intr`] last computed `intr_answer`, or
    /// [`NO_ANSWER`] once anything else may have changed it (see the module documentation).
    intr_generation: u64,
    /// [`System::intr`]'s last answer, valid while `intr_generation` is the lines' generation.
    intr_answer: bool,
    /// Counts changes to the MMIO map, so a TLB can tell cached page backings went stale.
    mmio_generation: u64,
    /// Ranges of the BIOS area whose reads or writes the chipset sends to RAM.
    shadows: Vec<Shadow>,
    /// One bit per 4 KiB page of RAM: set when the page is plain RAM, with no MMIO range, ROM
    /// or shadowed range overlapping any byte of it, so any access inside it may go straight to
    /// host memory. Rebuilt by [`System::rebuild_plain_ram`] after every change to the map.
    plain_ram: Box<[u64]>,
    /// Where the plain RAM that starts at 0 ends, at most 1 MiB, and where the plain RAM that
    /// starts at 1 MiB ends ([`System::plain_ranges`]).
    plain_ends: (u64, u64),
}

impl System {
    pub fn new(ram_size: u64, clock: ClockMode) -> Result<Self, Error> {
        let mut s = System {
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
            intr_generation: NO_ANSWER,
            intr_answer: false,
            mmio_generation: 0,
            shadows: Vec::new(),
            plain_ram: Box::default(),
            plain_ends: (0, 0),
        };
        s.rebuild_plain_ram();
        Ok(s)
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
        self.rebuild_plain_ram();
    }

    /// Adds a device; map its ranges with [`System::map_io`] and [`System::map_mmio`].
    pub fn add_device(&mut self, dev: Box<dyn Device>) -> DeviceId {
        self.devices_touched();
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
        let r = self.mmio.insert(base, len, (dev, region));
        self.rebuild_plain_ram();
        Ok(r?)
    }

    pub fn unmap_mmio(&mut self, base: u64) {
        self.map_changed();
        self.mmio.remove(base);
        self.rebuild_plain_ram();
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
        self.rebuild_plain_ram();
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
        let result = self.remap_bus(r);
        if r.space == AddressSpace::Mmio {
            self.rebuild_plain_ram();
        }
        result
    }

    /// [`System::apply_remap`] on the bus alone.
    fn remap_bus(&mut self, r: Remap) -> Result<(), Error> {
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
        for r in self.dev(dev).take_remaps() {
            let _ = self.apply_remap(r); // a conflicting BAR is simply not decoded
        }
        for s in self.dev(dev).take_shadow_changes() {
            self.set_shadow(s);
        }
        if self.dev(dev).dma_pending() {
            // The device cannot be borrowed while it reaches memory through `self`: lend it out
            // (`dev` above already dropped the kept INTR answer).
            let mut d = std::mem::replace(&mut self.devices[i], Box::new(Vacant));
            d.run_dma(self);
            self.devices[i] = d;
        }
    }

    /// RESET of the board: every device goes back to its power-on state ([`Device::reset`]),
    /// the ranges and shadowing they moved go back, and the A20 gate is enabled, as at power-on
    /// ([`Lines::new`]), with no NMI pending. The interrupt controllers go last, so they find
    /// the IRQ lines as the other devices' power-on state drives them. RAM and ROMs are left as
    /// they are. The CPU is reset by its owner.
    pub fn reset_devices(&mut self) {
        let controllers = [self.intc, self.local_intc];
        let others = (0..self.devices.len() as u16).map(DeviceId).filter(|id| !controllers.contains(&Some(*id)));
        let order: Vec<DeviceId> = others.chain(controllers.into_iter().flatten()).collect();
        for id in order {
            self.dev(id).reset();
            self.after_write(id);
        }
        self.lines.set_a20(true);
        // An NMI raised before the reset is not taken after it.
        self.lines.take_nmi();
        self.lines.request_attention();
        self.devices_touched();
        self.update_deadline();
    }

    /// Wires device `id` (which must implement [`Device::as_interrupt_controller`]) to INTR.
    pub fn set_interrupt_controller(&mut self, id: DeviceId) {
        self.devices_touched();
        self.intc = Some(id);
    }

    /// Puts device `id` (which must implement [`Device::as_local_interrupt_controller`]) between
    /// the interrupt controller and the CPU: from then on every interrupt goes through it.
    pub fn set_local_interrupt_controller(&mut self, id: DeviceId) {
        self.devices_touched();
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
        self.dev(id).as_interrupt_controller()
    }

    fn local(&mut self, id: DeviceId) -> Option<&mut dyn LocalInterruptController> {
        self.dev(id).as_local_interrupt_controller()
    }

    /// Device `id`, for an access that may change its state: drops the kept answer of
    /// [`System::intr`]. Every mutable access to a device goes through here (or drops the answer
    /// itself): see the module documentation.
    #[inline]
    fn dev(&mut self, id: DeviceId) -> &mut dyn Device {
        self.devices_touched();
        &mut *self.devices[id.0 as usize]
    }

    /// Something may have changed a device's state: [`System::intr`] must ask the controllers.
    #[inline]
    fn devices_touched(&mut self) {
        self.intr_generation = NO_ANSWER;
    }

    /// The external controller's INTR, which the local controller sees on its LINT0 pin. It is
    /// asked even when the local controller ignores it, so it keeps watching its lines' edges.
    fn external_intr(&mut self) -> bool {
        self.intc().is_some_and(|c| c.intr())
    }

    /// Whether the CPU's INTR pin is asserted. While neither the lines nor any device changed
    /// since the last call, this is that call's answer, found without asking the controllers
    /// (see the module documentation): cheap enough to ask before every instruction.
    #[inline]
    pub fn intr(&mut self) -> bool {
        let generation = self.lines.irq_generation();
        if generation == self.intr_generation {
            return self.intr_answer;
        }
        self.intr_ask(generation)
    }

    /// [`System::intr`] asking the controllers, with the lines at `generation` (read before
    /// asking: a line that changes meanwhile makes the next call ask again).
    #[inline(never)]
    fn intr_ask(&mut self, generation: u64) -> bool {
        let answer = match self.local_intc {
            None => self.intc().is_some_and(|c| c.intr()),
            Some(id) => {
                let ext = self.external_intr();
                self.local(id).is_some_and(|l| l.intr(ext))
            }
        };
        self.intr_generation = generation;
        self.intr_answer = answer;
        answer
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
        self.devices_touched();
        let dev: &mut dyn std::any::Any = self.devices.get_mut(id.0 as usize)?.as_any_mut();
        dev.downcast_mut::<T>()
    }

    /// The first device of type `T`.
    pub fn find_device<T: Device>(&mut self) -> Option<&mut T> {
        self.devices_touched();
        self.devices.iter_mut().find_map(|d| d.as_any_mut().downcast_mut::<T>())
    }

    // ---- physical address space -------------------------------------------------------------

    /// Recomputes [`System::plain_ram`] from the RAM size, the MMIO ranges, the ROMs and the
    /// shadowed ranges. Called after each change to any of them (rare: boot-time mapping, BAR
    /// and PAM programming), so the lookups on the access paths are one bit test.
    fn rebuild_plain_ram(&mut self) {
        let pages = self.ram.size() / PAGE_SIZE;
        let mut bits = vec![!0u64; pages.div_ceil(64) as usize].into_boxed_slice();
        if !pages.is_multiple_of(64) {
            *bits.last_mut().unwrap() = (1 << (pages % 64)) - 1;
        }
        // Inclusive byte ranges that make their pages not plain.
        let mmio = self.mmio.iter().map(|(first, last, _)| (first, last));
        let roms = self.roms.iter().map(|r| (r.base, r.end() - 1));
        let shadows = self.shadows.iter().filter(|s| s.len > 0).map(|s| (s.base, s.base + (s.len - 1)));
        for (first, last) in mmio.chain(roms).chain(shadows) {
            let (first, last) = (first / PAGE_SIZE, (last / PAGE_SIZE).min(pages.saturating_sub(1)));
            for page in first..=last {
                bits[(page / 64) as usize] &= !(1 << (page % 64));
            }
        }
        self.plain_ram = bits;
        let mb = (1 << 20) / PAGE_SIZE;
        let end_from = |from: u64, to: u64| {
            (from..to).find(|&p| self.plain_ram[(p / 64) as usize] & (1 << (p % 64)) == 0).unwrap_or(to) * PAGE_SIZE
        };
        self.plain_ends = (end_from(0, mb.min(pages)), end_from(mb, pages).max(mb * PAGE_SIZE));
    }

    /// The plain RAM (no MMIO range, ROM or shadowing on any of its pages) from physical 0 and
    /// from 1 MiB, as `(host address of physical 0, low end, high end)`: in `[0, low end)`
    /// (`low end` at most 1 MiB: the legacy video and ROM area is usually not plain) and in
    /// `[1 MiB, high end)`, reads and writes may go straight to host memory. An end equal to
    /// its start means none. Once the machine runs they change only with
    /// [`System::mmio_generation`] (ROMs are added while it is built).
    pub fn plain_ranges(&mut self) -> (*mut u8, u64, u64) {
        (self.ram.host_base(), self.plain_ends.0, self.plain_ends.1)
    }

    /// The host address of physical address `pa` if its page is plain RAM (no MMIO, ROM or
    /// shadowing anywhere on it): accesses that stay inside that page may use it directly.
    #[inline]
    pub fn plain_ram_ptr(&mut self, pa: u64) -> Option<*mut u8> {
        let page = pa / PAGE_SIZE;
        let word = *self.plain_ram.get((page / 64) as usize)?;
        if word & (1 << (page % 64)) == 0 {
            return None;
        }
        // SAFETY: the page is below the RAM size (plain_ram has no bits beyond it), so the
        // offset stays inside the mapping.
        Some(unsafe { self.ram.host_base().add(pa as usize) })
    }

    /// What backs the 4 KiB page holding physical address `pa`.
    pub fn page_backing(&mut self, pa: u64) -> PageBacking {
        let page = pa & !(PAGE_SIZE - 1);
        if let Some(p) = self.plain_ram_ptr(page) {
            return PageBacking::Ram(p);
        }
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
        if let Some(p) = self.plain_ram_span(pa, size as u64) {
            // SAFETY: `plain_ram_span` checked that all `size` bytes are RAM.
            return unsafe {
                match size {
                    1 => *p as u32,
                    2 => u16::from_le((p as *const u16).read_unaligned()) as u32,
                    _ => u32::from_le((p as *const u32).read_unaligned()),
                }
            };
        }
        if let Some((dev, region, off)) = self.mmio_target(pa, size) {
            let v = self.dev(dev).read(region, off, size);
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
        if let Some(p) = self.plain_ram_span(pa, size as u64) {
            // SAFETY: `plain_ram_span` checked that all `size` bytes are RAM.
            unsafe {
                match size {
                    1 => *p = value as u8,
                    2 => (p as *mut u16).write_unaligned((value as u16).to_le()),
                    _ => (p as *mut u32).write_unaligned(value.to_le()),
                }
            }
            return;
        }
        if let Some((dev, region, off)) = self.mmio_target(pa, size) {
            self.dev(dev).write(region, off, size, value);
            self.after_write(dev);
            self.update_deadline();
            return;
        }
        for i in 0..size as u64 {
            self.write_phys_byte(pa + i, (value >> (8 * i)) as u8);
        }
    }

    /// Reads the 8 bytes at `pa`, little-endian (a PAE paging-structure entry): one host load
    /// when they are plain RAM, else two 4-byte [`System::read_phys`] accesses, low half first.
    pub fn read_phys_u64(&mut self, pa: u64) -> u64 {
        if let Some(p) = self.plain_ram_span(pa, 8) {
            // SAFETY: `plain_ram_span` checked that all 8 bytes are RAM.
            return u64::from_le(unsafe { (p as *const u64).read_unaligned() });
        }
        let lo = self.read_phys(pa, 4) as u64;
        lo | (self.read_phys(pa.wrapping_add(4), 4) as u64) << 32
    }

    /// The host address of `pa` if all of `[pa, pa + len)` lies in one plain RAM page.
    #[inline]
    fn plain_ram_span(&mut self, pa: u64, len: u64) -> Option<*mut u8> {
        if (pa & (PAGE_SIZE - 1)) + len > PAGE_SIZE {
            return None;
        }
        self.plain_ram_ptr(pa)
    }

    /// The device covering all of `[pa, pa + size)`, if one does.
    fn mmio_target(&self, pa: u64, size: u8) -> Option<(DeviceId, u8, u64)> {
        let ((dev, region), off) = self.mmio.lookup(pa)?;
        let (_, last) = self.mmio.lookup(pa + size as u64 - 1)?;
        (last == off + size as u64 - 1).then_some((dev, region, off))
    }

    fn read_phys_byte(&mut self, pa: u64) -> u8 {
        if let Some(((dev, region), off)) = self.mmio.lookup(pa) {
            return self.dev(dev).read(region, off, 1) as u8;
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
            return self.dev(dev).write(region, off, 1, v as u32);
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
        let mut done = 0;
        while done < buf.len() {
            let at = pa + done as u64;
            let n = (PAGE_SIZE - at % PAGE_SIZE).min((buf.len() - done) as u64) as usize;
            let chunk = &mut buf[done..done + n];
            match self.plain_ram_ptr(at) {
                // SAFETY: the `n` bytes stay inside one plain RAM page.
                Some(p) => chunk.copy_from_slice(unsafe { std::slice::from_raw_parts(p, n) }),
                None => {
                    for (i, b) in chunk.iter_mut().enumerate() {
                        *b = self.read_phys_byte(at + i as u64);
                    }
                }
            }
            done += n;
        }
    }

    /// Copies bytes into guest physical memory, through the slow path (loaders, DMA, debuggers).
    pub fn write_bytes(&mut self, pa: u64, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let at = pa + done as u64;
            let n = (PAGE_SIZE - at % PAGE_SIZE).min((data.len() - done) as u64) as usize;
            let chunk = &data[done..done + n];
            match self.plain_ram_ptr(at) {
                // SAFETY: the `n` bytes stay inside one plain RAM page.
                Some(p) => unsafe { std::ptr::copy_nonoverlapping(chunk.as_ptr(), p, n) },
                None => {
                    for (i, &b) in chunk.iter().enumerate() {
                        self.write_phys_byte(at + i as u64, b);
                    }
                }
            }
            done += n;
        }
        self.note_written(pa, data.len() as u64);
    }

    /// [`System::write_phys`] for a write to guest memory behind the CPU's back (a firmware
    /// service filling a buffer, the BIOS data area or the caller's stack): its page is noted for
    /// [`System::take_written_pages`], as [`System::write_bytes`] notes its pages, so translated
    /// code there is dropped and `--cpu check` knows the page changed.
    pub fn write_phys_behind(&mut self, pa: u64, size: u8, value: u32) {
        self.write_phys(pa, size, value);
        self.note_written(pa, size as u64);
    }

    /// Notes the pages of `len` bytes at `pa` as written behind the CPU's back (a page just
    /// noted is not noted again).
    fn note_written(&mut self, pa: u64, len: u64) {
        if len == 0 {
            return;
        }
        let (first, last) = (pa / PAGE_SIZE, (pa + len - 1) / PAGE_SIZE);
        for page in first..=last {
            if self.written_watched.last() != Some(&page) {
                self.written_watched.push(page);
            }
        }
    }

    /// Pages written behind the CPU's back (by [`System::write_bytes`] and
    /// [`System::write_phys_behind`]) since the last call, as physical page numbers; the JIT drops
    /// translated code on them.
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
            Some(((dev, region), off)) => self.dev(dev).read(region, off, size),
            None => OPEN_BUS,
        };
        self.update_deadline();
        v & mask
    }

    /// Writes `size` bytes to I/O port `port`; writes to unclaimed ports are dropped.
    pub fn io_write(&mut self, port: u16, size: u8, value: u32) {
        if let Some(((dev, region), off)) = self.io.lookup(port as u64) {
            self.dev(dev).write(region, off, size, value);
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
        self.devices_touched();
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

    /// The plain RAM from 0 ends at the first device range or ROM (at most at 1 MiB), the plain
    /// RAM from 1 MiB at the first MMIO range mapped inside RAM, and at the end of RAM again
    /// once the range is gone.
    #[test]
    fn plain_ranges_stop_at_devices_and_roms() {
        let mut s = System::new(4 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        assert_eq!((s.plain_ranges().1, s.plain_ranges().2), (1 << 20, 4 << 20));
        let dev = s.add_device(Box::new(Regs { r: [0; 4], deadline: None, advanced: vec![] }));
        s.map_mmio(0x30_0800, 4, dev, 3).unwrap();
        assert_eq!(s.plain_ranges().2, 0x30_0000, "the page holding the range is not plain");
        s.unmap_mmio(0x30_0800);
        assert_eq!(s.plain_ranges().2, 4 << 20);
        s.map_mmio(0x10_0000, 4, dev, 3).unwrap();
        assert_eq!(s.plain_ranges().2, 0x10_0000, "none");
        s.map_mmio(0xa_0000, 0x2_0000, dev, 3).unwrap();
        assert_eq!(s.plain_ranges().1, 0xa_0000, "below the legacy video window");
        s.add_rom(Rom::new(0x9_f000, vec![0; 0x1000]).unwrap());
        assert_eq!(s.plain_ranges().1, 0x9_f000);
    }

    /// `page_backing` the long way (what it computed before the plain-RAM bitmap), to check
    /// the bitmap against.
    fn slow_backing_is_plain_ram(s: &System, pa: u64) -> bool {
        let (page, end) = (pa & !(PAGE_SIZE - 1), (pa & !(PAGE_SIZE - 1)) + PAGE_SIZE);
        !s.mmio.intersects(page, end)
            && !s.shadows.iter().any(|x| x.base < end && page < x.base + x.len)
            && !s.roms.iter().any(|r| r.base < end && page < r.end())
            && end <= s.ram.size()
    }

    fn assert_bitmap_matches(s: &mut System) {
        for page in 0..(s.ram_size() / PAGE_SIZE + 4) {
            let pa = page * PAGE_SIZE + 0x123;
            let plain = slow_backing_is_plain_ram(s, pa);
            assert_eq!(s.plain_ram_ptr(pa).is_some(), plain, "page {page:#x}");
            if plain {
                let want = s.ram.as_slice()[pa as usize..].as_ptr();
                assert_eq!(s.plain_ram_ptr(pa), Some(want as *mut u8));
            }
        }
    }

    #[test]
    fn plain_ram_follows_every_change_to_the_map() {
        let mut s = System::new((2 << 20) + 3 * PAGE_SIZE, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        assert_bitmap_matches(&mut s);
        let id = s.add_device(Box::new(Regs::default()));
        s.map_mmio(0xa0ffe, 4, id, 3).unwrap(); // straddles two pages
        assert_bitmap_matches(&mut s);
        assert!(s.map_mmio(0xa0fff, 1, id, 3).is_err()); // refused: the map is unchanged
        assert_bitmap_matches(&mut s);
        s.map_mmio(0x1f_0000, u64::MAX - 0x1f_0000, id, 3).unwrap(); // to the top of the space
        assert_bitmap_matches(&mut s);
        s.unmap_mmio(0x1f_0000);
        s.add_rom(Rom::new(0xf0000, vec![0xaa; 0x10000]).unwrap());
        s.add_rom(Rom::new(0x10_0800, vec![0xbb; 0x10]).unwrap()); // part of one page
        assert_bitmap_matches(&mut s);
        s.set_shadow(Shadow { base: 0xc8000, len: 0x4000, read_ram: true, write_ram: true });
        assert_bitmap_matches(&mut s);
        s.set_shadow(Shadow { base: 0xc8000, len: 0x4000, read_ram: false, write_ram: false });
        assert_bitmap_matches(&mut s);
        let remap = |old, new| Remap { space: AddressSpace::Mmio, target: id, region: 3, len: 16, old, new };
        s.apply_remap(remap(None, Some(0x5000))).unwrap();
        assert_bitmap_matches(&mut s);
        s.apply_remap(remap(Some(0x5000), Some(0x7000))).unwrap();
        assert_bitmap_matches(&mut s);
        assert!(s.apply_remap(remap(Some(0x7000), Some(0xa0ff0))).is_err()); // overlaps: unmapped
        assert_bitmap_matches(&mut s);
        assert_eq!(s.page_backing(0x7000), PageBacking::Ram(s.plain_ram_ptr(0x7000).unwrap()));
    }

    #[test]
    fn physical_accesses_in_ram_go_straight_to_host_memory() {
        let mut s = system();
        let id = s.add_device(Box::new(Regs::default()));
        s.map_mmio(0x3000, 4, id, 3).unwrap();
        s.write_phys(0x1ffe, 4, 0x4433_2211); // crosses two RAM pages
        s.write_phys(0x2000 - 8, 4, 0x8877_6655);
        assert_eq!(&s.ram().as_slice()[0x1ff8..0x2002], &[0x55, 0x66, 0x77, 0x88, 0, 0, 0x11, 0x22, 0x33, 0x44]);
        assert_eq!(s.read_phys(0x1ffe, 4), 0x4433_2211);
        assert_eq!(s.read_phys(0x1ff8, 2), 0x6655);
        assert_eq!(s.read_phys_u64(0x1ff8), 0x2211_0000_8877_6655);
        // The page with the device: the device sees accesses to its bytes, RAM has the rest.
        s.write_phys(0x3000, 4, 0xdead_beef);
        s.write_phys(0x3004, 4, 0x1234_5678);
        assert_eq!(s.device_mut::<Regs>(id).unwrap().r, [0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(s.read_phys_u64(0x3000), 0x1234_5678_dead_beef);
        assert_eq!(&s.ram().as_slice()[0x3000..0x3008], &[0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12]);
        // Above RAM: open bus.
        assert_eq!(s.read_phys_u64(2 << 20), u64::MAX);
        // Bulk copies mix host copies and the byte path across pages.
        let data: Vec<u8> = (0..0x2100u32).map(|i| (i * 7) as u8).collect();
        s.write_bytes(0x1f80, &data);
        let mut back = vec![0; data.len()];
        s.read_bytes(0x1f80, &mut back);
        assert_eq!(back, data);
        assert_eq!(s.device_mut::<Regs>(id).unwrap().r, data[0x1080..0x1084]);
        assert_eq!(&s.ram().as_slice()[0x3000..0x3004], &[0; 4]);
        assert_eq!(&s.ram().as_slice()[0x3004..0x4080], &data[0x1084..]);
        assert_eq!(s.take_written_pages(), vec![1, 2, 3, 4]);
        // A firmware's write is noted as written, once for a page just noted; the CPU's own
        // (`write_phys`, the slow path) is not.
        s.write_phys(0x5000, 4, 1);
        s.write_phys_behind(0x6ffe, 4, 2);
        s.write_phys_behind(0x7000, 2, 3);
        s.write_phys_behind(0x5000, 1, 4);
        assert_eq!(s.read_phys(0x6ffe, 4), 0x0003_0002);
        assert_eq!(s.take_written_pages(), vec![6, 7, 5]);
        assert!(s.take_written_pages().is_empty());
        // Beyond the end of RAM, reads are open bus and writes vanish.
        s.write_bytes((2 << 20) - 2, &[1, 2, 3, 4]);
        let mut back = [0; 4];
        s.read_bytes((2 << 20) - 2, &mut back);
        assert_eq!(back, [1, 2, 0xff, 0xff]);
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

    /// An interrupt controller that counts the looks at it: INTR is its latch (bit 0 of its
    /// register, or set by its timer, which a write of bit 1 arms for 100 ns) or IRQ line 5.
    struct Ctl {
        lines: Lines,
        latch: bool,
        timer: Option<u64>,
        looks: u32,
    }
    impl Device for Ctl {
        fn name(&self) -> &'static str {
            "ctl"
        }
        fn read(&mut self, _: u8, _: u64, _: u8) -> u32 {
            self.latch as u32
        }
        fn write(&mut self, _: u8, _: u64, _: u8, value: u32) {
            self.latch = value & 1 != 0;
            if value & 2 != 0 {
                self.timer = Some(100);
            }
        }
        fn deadline(&self) -> Option<u64> {
            self.timer
        }
        fn advance(&mut self, _: u64) {
            self.timer = None;
            self.latch = true;
        }
        fn as_any_mut(&mut self) -> &mut dyn Any {
            self
        }
        fn as_interrupt_controller(&mut self) -> Option<&mut dyn InterruptController> {
            Some(self)
        }
    }
    impl InterruptController for Ctl {
        fn intr(&mut self) -> bool {
            self.looks += 1;
            self.latch || self.lines.irq_levels() & 1 << 5 != 0
        }
        fn acknowledge(&mut self) -> u8 {
            self.latch = false;
            0x30
        }
    }

    fn with_ctl() -> (System, DeviceId) {
        let mut s = system();
        let ctl = Ctl { lines: s.lines.clone(), latch: false, timer: None, looks: 0 };
        let id = s.add_device(Box::new(ctl));
        s.map_io(0x40, 1, id, 0).unwrap();
        s.map_mmio(0xa0000, 4, id, 0).unwrap();
        s.set_interrupt_controller(id);
        (s, id)
    }

    fn looks(s: &mut System, id: DeviceId) -> u32 {
        let ctl = s.devices[id.0 as usize].as_any_mut().downcast_mut::<Ctl>().unwrap();
        ctl.looks
    }

    #[test]
    fn intr_is_asked_once_while_nothing_changes() {
        let (mut s, id) = with_ctl();
        assert!(!s.intr());
        for _ in 0..10 {
            assert!(!s.intr());
        }
        assert_eq!(looks(&mut s, id), 1);
        // A line driven to the level it has, or a RAM access, changes nothing.
        s.lines.set_irq(3, false);
        s.write_phys(0x1000, 4, 1);
        assert!(!s.intr());
        assert_eq!(looks(&mut s, id), 1);
    }

    #[test]
    fn intr_sees_at_once_what_changes_after_a_no() {
        let (mut s, _) = with_ctl();
        assert!(!s.intr());
        // A line change.
        s.lines.set_irq(5, true);
        assert!(s.intr());
        s.lines.set_irq(5, false);
        assert!(!s.intr());
        // A line change on another thread.
        let lines = s.lines.clone();
        std::thread::spawn(move || lines.set_irq(5, true)).join().unwrap();
        assert!(s.intr());
        s.lines.set_irq(5, false);
        assert!(!s.intr());
        // A port write, an MMIO write, and back through the INTA cycle.
        s.io_write(0x40, 1, 1);
        assert!(s.intr());
        assert_eq!(s.acknowledge_interrupt(), Some(0x30));
        assert!(!s.intr());
        s.write_phys(0xa0000, 1, 1);
        assert!(s.intr());
        s.io_write(0x40, 1, 0);
        assert!(!s.intr());
        // A device timer.
        s.io_write(0x40, 1, 2);
        assert!(!s.intr());
        s.clock.sync(99);
        s.run_timers();
        assert!(!s.intr());
        s.clock.sync(100);
        s.run_timers();
        assert!(s.intr());
    }

    #[test]
    fn intr_asks_again_after_any_device_access() {
        let (mut s, id) = with_ctl();
        assert!(!s.intr());
        let mut expected = 1;
        let accesses: [&dyn Fn(&mut System); 5] = [
            &|s| _ = s.io_read(0x40, 1),
            &|s| _ = s.read_phys(0xa0000, 1),
            &|s| _ = s.device_mut::<Ctl>(id),
            &|s| _ = s.acknowledge_interrupt(),
            &|s| _ = s.interrupts_possible(),
        ];
        for access in accesses {
            access(&mut s);
            assert!(!s.intr());
            expected += 1;
            assert_eq!(looks(&mut s, id), expected);
        }
    }
}
