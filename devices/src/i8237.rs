//! The PC/AT's two 8237A DMA controllers and the 74LS612 page registers, as one ISA DMA
//! subsystem (Intel 8237A datasheet; the PC/AT technical reference for the wiring).
//!
//! | region | ports       | what                                                              |
//! |--------|-------------|-------------------------------------------------------------------|
//! | 0      | 0x00-0x0F   | DMA 1: channels 0-3, byte transfers, registers at consecutive ports |
//! | 1      | 0xC0-0xDF   | DMA 2: channels 4-7, word transfers, registers at even ports        |
//! | 2      | 0x81-0x8F   | page registers (0x80 is the POST port, not ours)                   |
//!
//! Per controller: base/current address and count of each channel (16-bit, written and read
//! low byte then high byte through the byte-pointer flip-flop), mode (transfer type, auto-init,
//! address decrement, demand/single/block/cascade), the mask register (single bit, all bits,
//! clear all), software requests, the status register (terminal count bits, cleared by reading
//! it; request bits), the command register (controller disable), master clear and the temporary
//! register. Channel 2 is the floppy's, 4 is the cascade from DMA 1 into DMA 2.
//!
//! Devices reach guest memory through a [`DmaChannels`] handle: a transfer honours the mask,
//! the programmed direction, address increment/decrement, the 64 KiB (byte) or 128 KiB (word)
//! wrap inside the page, terminal count (the channel masks itself unless auto-initialized, in
//! which case the base registers are reloaded) and sets the status bits.
//!
//! Not emulated: memory-to-memory transfers (command bit 0); DREQ/DACK polarity, timing and
//! priority (transfers happen when a device asks, all at once); the cascade is assumed set up
//! (DMA 1 always reaches the bus, whatever channel 4's mode and mask); the EISA high page
//! registers (0x480-0x48F). Page register ports without a channel keep what was written (BIOSes
//! use them as scratch bytes).

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard};

use emu_core::{Device, GuestMemory};

/// Region of DMA 1 (channels 0-3) at 0x00-0x0F.
pub const REGION_DMA1: u8 = 0;
/// Region of DMA 2 (channels 4-7) at 0xC0-0xDF.
pub const REGION_DMA2: u8 = 1;
/// Region of the page registers at 0x81-0x8F.
pub const REGION_PAGE: u8 = 2;
pub const DMA1_BASE: u16 = 0x00;
pub const DMA1_PORTS: u16 = 16;
pub const DMA2_BASE: u16 = 0xc0;
pub const DMA2_PORTS: u16 = 32;
pub const PAGE_BASE: u16 = 0x81;
pub const PAGE_PORTS: u16 = 15;

// Register offsets within a controller (consecutive ports for DMA 1, every second for DMA 2).
/// Read: status; write: command.
pub const REG_STATUS_COMMAND: u8 = 8;
/// Write: request register.
pub const REG_REQUEST: u8 = 9;
/// Write: single mask bit.
pub const REG_SINGLE_MASK: u8 = 10;
/// Write: mode.
pub const REG_MODE: u8 = 11;
/// Write: clear the byte-pointer flip-flop.
pub const REG_CLEAR_FLIP_FLOP: u8 = 12;
/// Read: temporary register; write: master clear.
pub const REG_TEMP_MASTER_CLEAR: u8 = 13;
/// Write: clear all mask bits.
pub const REG_CLEAR_MASK: u8 = 14;
/// Write: all mask bits; read: the mask register (as the PIIX's 8237 core allows).
pub const REG_ALL_MASK: u8 = 15;

/// Command register bit 2: controller disable.
pub const COMMAND_DISABLE: u8 = 0x04;

// Mode register fields.
const MODE_TYPE_MASK: u8 = 0x0c;
pub const MODE_VERIFY: u8 = 0x00;
/// Transfer type "write": device to memory.
pub const MODE_WRITE: u8 = 0x04;
/// Transfer type "read": memory to device.
pub const MODE_READ: u8 = 0x08;
pub const MODE_AUTOINIT: u8 = 0x10;
pub const MODE_DECREMENT: u8 = 0x20;
const MODE_SELECT_MASK: u8 = 0xc0;
pub const MODE_DEMAND: u8 = 0x00;
pub const MODE_SINGLE: u8 = 0x40;
pub const MODE_BLOCK: u8 = 0x80;
pub const MODE_CASCADE: u8 = 0xc0;

/// Which page register port (offset from 0x80) holds each channel's A16-A23, as on the PC/AT.
const PAGE_PORT_OF: [usize; 8] = [0x7, 0x3, 0x1, 0x2, 0xf, 0xb, 0x9, 0xa];

#[derive(Debug, Clone, Copy, Default)]
struct Channel {
    base_address: u16,
    base_count: u16,
    current_address: u16,
    current_count: u16,
    /// The mode register with the channel-select bits cleared.
    mode: u8,
}

#[derive(Debug, Clone, Copy)]
struct Controller {
    channels: [Channel; 4],
    command: u8,
    /// Bit n: channel n masked.
    mask: u8,
    /// Bit n: software request on channel n.
    request: u8,
    /// Bits 0-3: terminal count reached since the status was last read.
    tc: u8,
    temp: u8,
    /// Byte pointer flip-flop: the next address/count access is the high byte.
    high_byte: bool,
}

impl Default for Controller {
    fn default() -> Self {
        Controller {
            channels: [Channel::default(); 4],
            command: 0,
            mask: 0x0f,
            request: 0,
            tc: 0,
            temp: 0,
            high_byte: false,
        }
    }
}

impl Controller {
    /// Master clear (and hardware reset): everything cleared, all channels masked.
    fn master_clear(&mut self) {
        *self = Controller { channels: self.channels, ..Controller::default() };
    }

    fn read(&mut self, reg: u8) -> u8 {
        match reg {
            0..=7 => {
                let ch = &self.channels[(reg >> 1) as usize];
                let v = if reg & 1 == 0 { ch.current_address } else { ch.current_count };
                let byte = if self.high_byte { (v >> 8) as u8 } else { v as u8 };
                self.high_byte = !self.high_byte;
                byte
            }
            REG_STATUS_COMMAND => {
                let v = self.tc | self.request << 4;
                self.tc = 0;
                v
            }
            REG_TEMP_MASTER_CLEAR => self.temp,
            REG_ALL_MASK => 0xf0 | self.mask,
            _ => 0xff,
        }
    }

    fn write(&mut self, reg: u8, v: u8) {
        match reg {
            0..=7 => {
                let ch = &mut self.channels[(reg >> 1) as usize];
                let (base, current) = if reg & 1 == 0 {
                    (&mut ch.base_address, &mut ch.current_address)
                } else {
                    (&mut ch.base_count, &mut ch.current_count)
                };
                // Writing loads both the base and the current register.
                *base = if self.high_byte { (*base & 0x00ff) | (v as u16) << 8 } else { (*base & 0xff00) | v as u16 };
                *current = *base;
                self.high_byte = !self.high_byte;
            }
            REG_STATUS_COMMAND => self.command = v,
            REG_REQUEST => {
                let bit = 1 << (v & 3);
                self.request = if v & 4 != 0 { self.request | bit } else { self.request & !bit };
            }
            REG_SINGLE_MASK => {
                let bit = 1 << (v & 3);
                self.mask = if v & 4 != 0 { self.mask | bit } else { self.mask & !bit };
            }
            REG_MODE => self.channels[(v & 3) as usize].mode = v & !3,
            REG_CLEAR_FLIP_FLOP => self.high_byte = false,
            REG_TEMP_MASTER_CLEAR => self.master_clear(),
            REG_CLEAR_MASK => self.mask = 0,
            REG_ALL_MASK => self.mask = v & 0x0f,
            _ => {}
        }
    }
}

/// The state both controllers and the page registers share with the devices that use them.
#[derive(Debug, Clone, Default)]
struct State {
    controllers: [Controller; 2],
    /// Ports 0x80-0x8F (index 0 unused: the POST port).
    pages: [u8; 16],
}

/// What a [`DmaChannels`] transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DmaTransfer {
    /// Bytes moved (for channels 4-7, twice the words).
    pub bytes: usize,
    /// The channel reached terminal count (its count wrapped past zero): the 8237 pulses TC/EOP,
    /// which ends the device's command.
    pub terminal_count: bool,
}

/// The handle devices use to move data on a DMA channel (cheap to clone; every clone and the
/// [`Dma8237`] device see the same registers).
#[derive(Debug, Clone, Default)]
pub struct DmaChannels(Arc<Mutex<State>>);

/// Which way a device wants data to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToMemory,
    FromMemory,
}

impl DmaChannels {
    fn state(&self) -> MutexGuard<'_, State> {
        // Only the VM's thread touches it; a poisoned lock still holds consistent registers.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether channel `ch` (0-7) would grant a transfer now: its controller enabled, the
    /// channel unmasked and not in cascade mode.
    pub fn ready(&self, ch: u8) -> bool {
        let s = self.state();
        let c = &s.controllers[(ch as usize >> 2) & 1];
        let n = ch as usize & 3;
        c.command & COMMAND_DISABLE == 0
            && c.mask & (1 << n) == 0
            && c.channels[n].mode & MODE_SELECT_MASK != MODE_CASCADE
    }

    /// Device to memory: moves `data` (or as much as the channel takes before terminal count)
    /// into guest memory on channel `ch`. Nothing moves unless the channel is [`ready`](Self::ready).
    /// A channel programmed for verify or for the other direction counts the bytes but moves none.
    pub fn write_to_memory(&self, ch: u8, mem: &mut dyn GuestMemory, data: &[u8]) -> DmaTransfer {
        let mut buf = data.to_vec();
        self.transfer(ch, mem, &mut buf, Direction::ToMemory)
    }

    /// Memory to device: fills `buf` (or its first [`DmaTransfer::bytes`] bytes, up to terminal
    /// count) from guest memory on channel `ch`. Bytes a channel programmed for verify or for
    /// the other direction counts but does not read are 0xFF (nothing drives the bus).
    pub fn read_from_memory(&self, ch: u8, mem: &mut dyn GuestMemory, buf: &mut [u8]) -> DmaTransfer {
        self.transfer(ch, mem, buf, Direction::FromMemory)
    }

    fn transfer(&self, ch: u8, mem: &mut dyn GuestMemory, buf: &mut [u8], dir: Direction) -> DmaTransfer {
        if !self.ready(ch) {
            return DmaTransfer::default();
        }
        let mut s = self.state();
        let page = s.pages[PAGE_PORT_OF[ch as usize & 7]];
        let word = ch >= 4;
        let c = &mut s.controllers[(ch as usize >> 2) & 1];
        let n = ch as usize & 3;
        let mode = c.channels[n].mode;
        let moves = match mode & MODE_TYPE_MASK {
            MODE_WRITE => dir == Direction::ToMemory,
            MODE_READ => dir == Direction::FromMemory,
            _ => false,
        };
        let unit = if word { 2 } else { 1 };
        let mut done = 0usize;
        let mut tc = false;
        while done + unit <= buf.len() {
            let chan = &mut c.channels[n];
            // Byte channels: A0-A15 from the address register, A16-A23 from the page. Word
            // channels: A1-A16 from the address register, A17-A23 from page bits 1-7.
            let addr = chan.current_address as u64;
            let pa = if word { ((page & 0xfe) as u64) << 16 | addr << 1 } else { (page as u64) << 16 | addr };
            // The run of units before the address wraps or the count ends, so memory moves in
            // slices rather than byte by byte.
            let left_in_count = chan.current_count as usize + 1;
            let run = if mode & MODE_DECREMENT != 0 {
                1
            } else {
                (0x1_0000 - addr as usize).min(left_in_count).min((buf.len() - done) / unit)
            };
            let bytes = run * unit;
            let slice = &mut buf[done..done + bytes];
            match (moves, dir) {
                (true, Direction::ToMemory) => mem.write_bytes(pa, slice),
                (true, Direction::FromMemory) => mem.read_bytes(pa, slice),
                (false, Direction::FromMemory) => slice.fill(0xff),
                (false, Direction::ToMemory) => {}
            }
            done += bytes;
            chan.current_address = if mode & MODE_DECREMENT != 0 {
                chan.current_address.wrapping_sub(run as u16)
            } else {
                chan.current_address.wrapping_add(run as u16)
            };
            let (count, wrapped) = chan.current_count.overflowing_sub(run as u16);
            chan.current_count = count;
            if wrapped || run == left_in_count {
                tc = true;
                c.tc |= 1 << n;
                c.request &= !(1 << n);
                if mode & MODE_AUTOINIT != 0 {
                    chan.current_address = chan.base_address;
                    chan.current_count = chan.base_count;
                } else {
                    c.mask |= 1 << n;
                }
                break;
            }
        }
        DmaTransfer { bytes: done, terminal_count: tc }
    }
}

/// The DMA subsystem as a device on the port bus.
#[derive(Debug, Default)]
pub struct Dma8237 {
    channels: DmaChannels,
}

impl Dma8237 {
    pub fn new() -> Self {
        Dma8237::default()
    }

    /// A handle for devices that transfer on these channels.
    pub fn channels(&self) -> DmaChannels {
        self.channels.clone()
    }
}

impl Device for Dma8237 {
    fn name(&self) -> &'static str {
        "8237A DMA controllers"
    }

    /// Hardware reset: both controllers master-cleared (all channels masked; the address, count
    /// and mode registers keep their values, as on the 8237A, and so do the page registers).
    fn reset(&mut self) {
        for c in &mut self.channels.state().controllers {
            c.master_clear();
        }
    }

    fn read(&mut self, region: u8, offset: u64, _size: u8) -> u32 {
        let mut s = self.channels.state();
        match region {
            REGION_DMA1 => s.controllers[0].read(offset as u8 & 15) as u32,
            REGION_DMA2 if offset & 1 == 0 => s.controllers[1].read((offset >> 1) as u8 & 15) as u32,
            REGION_PAGE => s.pages[(offset as usize + 1) & 15] as u32,
            _ => 0xff,
        }
    }

    fn write(&mut self, region: u8, offset: u64, _size: u8, value: u32) {
        let mut s = self.channels.state();
        match region {
            REGION_DMA1 => s.controllers[0].write(offset as u8 & 15, value as u8),
            REGION_DMA2 if offset & 1 == 0 => s.controllers[1].write((offset >> 1) as u8 & 15, value as u8),
            REGION_PAGE => s.pages[(offset as usize + 1) & 15] = value as u8,
            _ => {}
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ide::tests::Mem;

    /// 2 MiB of guest memory.
    fn ram() -> Mem {
        Mem(vec![0; 1 << 21])
    }

    /// Writes port `port` as the CPU would.
    fn out(d: &mut Dma8237, port: u16, v: u8) {
        match port {
            0x00..=0x0f => d.write(REGION_DMA1, port as u64, 1, v as u32),
            0xc0..=0xdf => d.write(REGION_DMA2, (port - 0xc0) as u64, 1, v as u32),
            0x81..=0x8f => d.write(REGION_PAGE, (port - 0x81) as u64, 1, v as u32),
            _ => panic!("not a DMA port {port:#x}"),
        }
    }
    fn inp(d: &mut Dma8237, port: u16) -> u8 {
        (match port {
            0x00..=0x0f => d.read(REGION_DMA1, port as u64, 1),
            0xc0..=0xdf => d.read(REGION_DMA2, (port - 0xc0) as u64, 1),
            0x81..=0x8f => d.read(REGION_PAGE, (port - 0x81) as u64, 1),
            _ => panic!("not a DMA port {port:#x}"),
        }) as u8
    }

    /// Programs channel 2 as a floppy driver does: mask, flip-flop, mode, address, page, count,
    /// unmask.
    fn setup_ch2(d: &mut Dma8237, mode: u8, addr: u32, count: u16) {
        out(d, 0x0a, 0x06);
        out(d, 0x0c, 0);
        out(d, 0x0b, mode | 2);
        out(d, 0x04, addr as u8);
        out(d, 0x04, (addr >> 8) as u8);
        out(d, 0x81, (addr >> 16) as u8);
        out(d, 0x05, count as u8);
        out(d, 0x05, (count >> 8) as u8);
        out(d, 0x0a, 0x02);
    }

    #[test]
    fn address_and_count_through_the_flip_flop() {
        let mut d = Dma8237::new();
        out(&mut d, 0x0c, 0);
        out(&mut d, 0x06, 0x34);
        out(&mut d, 0x06, 0x12);
        out(&mut d, 0x07, 0xff);
        out(&mut d, 0x07, 0x01);
        out(&mut d, 0x0c, 0);
        assert_eq!([inp(&mut d, 0x06), inp(&mut d, 0x06)], [0x34, 0x12]);
        assert_eq!([inp(&mut d, 0x07), inp(&mut d, 0x07)], [0xff, 0x01]);
        // DMA 2's registers are at even ports; odd ports do nothing.
        out(&mut d, 0xd8, 0);
        out(&mut d, 0xc4, 0x78);
        out(&mut d, 0xc4, 0x56);
        out(&mut d, 0xc5, 0x99);
        out(&mut d, 0xd8, 0);
        assert_eq!([inp(&mut d, 0xc4), inp(&mut d, 0xc4)], [0x78, 0x56]);
        assert_eq!(inp(&mut d, 0xc5), 0xff);
        // Page registers, including the unused scratch ones.
        out(&mut d, 0x81, 0x12);
        out(&mut d, 0x8e, 0x34);
        assert_eq!((inp(&mut d, 0x81), inp(&mut d, 0x8e)), (0x12, 0x34));
    }

    #[test]
    fn masks_master_clear_and_requests() {
        let mut d = Dma8237::new();
        assert_eq!(inp(&mut d, 0x0f), 0xff, "all channels masked after reset");
        out(&mut d, 0x0e, 0);
        assert_eq!(inp(&mut d, 0x0f), 0xf0);
        out(&mut d, 0x0a, 0x05);
        out(&mut d, 0x0a, 0x07);
        assert_eq!(inp(&mut d, 0x0f), 0xfa);
        out(&mut d, 0x0f, 0x04);
        assert_eq!(inp(&mut d, 0x0f), 0xf4);
        out(&mut d, 0x09, 0x06); // software request on channel 2
        assert_eq!(inp(&mut d, 0x08), 0x40);
        out(&mut d, 0x09, 0x02);
        assert_eq!(inp(&mut d, 0x08), 0x00);
        out(&mut d, 0x0d, 0); // master clear
        assert_eq!(inp(&mut d, 0x0f), 0xff);
        // Channel 4 set to cascade is never ready for a device.
        out(&mut d, 0xd6, MODE_CASCADE);
        out(&mut d, 0xd4, 0);
        assert!(!d.channels().ready(4));
    }

    #[test]
    fn write_transfer_stops_at_terminal_count_and_masks_the_channel() {
        let mut d = Dma8237::new();
        let dma = d.channels();
        let mut mem = ram();
        setup_ch2(&mut d, MODE_WRITE | MODE_SINGLE, 0x1_2345, 3); // 4 bytes
        assert!(dma.ready(2));
        let t = dma.write_to_memory(2, &mut mem, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(t, DmaTransfer { bytes: 4, terminal_count: true });
        assert_eq!(&mem.0[0x1_2345..0x1_234b], &[1, 2, 3, 4, 0, 0]);
        assert_eq!(inp(&mut d, 0x08) & 0x0f, 0x04, "TC bit of channel 2");
        assert_eq!(inp(&mut d, 0x08) & 0x0f, 0, "cleared by reading");
        assert_eq!(inp(&mut d, 0x0f) & 0x04, 0x04, "masked at TC");
        assert!(!dma.ready(2));
        out(&mut d, 0x0c, 0);
        assert_eq!([inp(&mut d, 0x04), inp(&mut d, 0x04)], [0x49, 0x23]);
        assert_eq!([inp(&mut d, 0x05), inp(&mut d, 0x05)], [0xff, 0xff]);
        // Masked: nothing moves.
        assert_eq!(dma.write_to_memory(2, &mut mem, &[9]), DmaTransfer::default());
    }

    #[test]
    fn partial_transfers_continue_and_addresses_wrap_within_the_page() {
        let mut d = Dma8237::new();
        let dma = d.channels();
        let mut mem = ram();
        setup_ch2(&mut d, MODE_WRITE | MODE_SINGLE, 0x2_fffe, 7);
        let t = dma.write_to_memory(2, &mut mem, &[0xa1, 0xa2, 0xa3]);
        assert_eq!(t, DmaTransfer { bytes: 3, terminal_count: false });
        let t = dma.write_to_memory(2, &mut mem, &[0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6]);
        assert_eq!(t, DmaTransfer { bytes: 5, terminal_count: true });
        // The address wraps from FFFF to 0000 without carrying into the page: 0x20000, not 0x30000.
        assert_eq!(&mem.0[0x2_fffe..0x3_0000], &[0xa1, 0xa2]);
        assert_eq!(&mem.0[0x2_0000..0x2_0006], &[0xa3, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5]);
        assert_eq!(mem.0[0x3_0000], 0);
    }

    #[test]
    fn read_transfer_with_decrement_and_autoinit() {
        let mut d = Dma8237::new();
        let dma = d.channels();
        let mut mem = ram();
        mem.0[0x500..0x504].copy_from_slice(&[1, 2, 3, 4]);
        setup_ch2(&mut d, MODE_READ | MODE_DECREMENT | MODE_AUTOINIT | MODE_BLOCK, 0x503, 3);
        let mut buf = [0u8; 4];
        assert_eq!(dma.read_from_memory(2, &mut mem, &mut buf), DmaTransfer { bytes: 4, terminal_count: true });
        assert_eq!(buf, [4, 3, 2, 1]);
        // Auto-init: the channel reloaded its base registers and stays unmasked.
        assert!(dma.ready(2));
        out(&mut d, 0x0c, 0);
        assert_eq!([inp(&mut d, 0x04), inp(&mut d, 0x04)], [0x03, 0x05]);
        assert_eq!([inp(&mut d, 0x05), inp(&mut d, 0x05)], [0x03, 0x00]);
        let mut again = [0u8; 2];
        dma.read_from_memory(2, &mut mem, &mut again);
        assert_eq!(again, [4, 3]);
    }

    #[test]
    fn direction_mismatch_verify_and_disable_move_no_memory() {
        let mut d = Dma8237::new();
        let dma = d.channels();
        let mut mem = ram();
        setup_ch2(&mut d, MODE_READ | MODE_SINGLE, 0x600, 1);
        let t = dma.write_to_memory(2, &mut mem, &[7, 7]);
        assert_eq!(t, DmaTransfer { bytes: 2, terminal_count: true });
        assert_eq!(&mem.0[0x600..0x602], &[0, 0]);
        setup_ch2(&mut d, MODE_VERIFY | MODE_SINGLE, 0x600, 1);
        let mut buf = [0u8; 2];
        dma.read_from_memory(2, &mut mem, &mut buf);
        assert_eq!(buf, [0xff, 0xff]);
        setup_ch2(&mut d, MODE_WRITE | MODE_SINGLE, 0x600, 1);
        out(&mut d, 0x08, COMMAND_DISABLE);
        assert!(!dma.ready(2));
        assert_eq!(dma.write_to_memory(2, &mut mem, &[7]).bytes, 0);
    }

    #[test]
    fn word_channels_address_words_with_page_bits_1_to_7() {
        let mut d = Dma8237::new();
        let dma = d.channels();
        let mut mem = ram();
        // Channel 5: mode at 0xD6, address 0xC4, count 0xC6, page 0x8B, single mask 0xD4.
        out(&mut d, 0xd4, 0x05);
        out(&mut d, 0xd8, 0);
        out(&mut d, 0xd6, MODE_WRITE | MODE_SINGLE | 1);
        out(&mut d, 0xc4, 0x00);
        out(&mut d, 0xc4, 0x80); // word address 0x8000 = byte 0x10000 within the 128 KiB page
        out(&mut d, 0x8b, 0x13); // bit 0 ignored: base 0x120000
        out(&mut d, 0xc6, 1);
        out(&mut d, 0xc6, 0); // 2 words
        out(&mut d, 0xd4, 0x01);
        let t = dma.write_to_memory(5, &mut mem, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(t, DmaTransfer { bytes: 4, terminal_count: true });
        assert_eq!(&mem.0[0x13_0000..0x13_0005], &[1, 2, 3, 4, 0]);
        assert_eq!(inp(&mut d, 0xd0) & 0x0f, 0x02, "TC of channel 5 in DMA 2's status");
    }
}
