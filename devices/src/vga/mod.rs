//! The IBM VGA (register level) with the Bochs VBE extensions and a linear framebuffer, the PC's
//! display adapter as Bochs' and QEMU's "std VGA" present it (PCI 1234:1111).
//!
//! **Regions** (numbers passed to [`Device::read`]/[`Device::write`]):
//! - [`REGION_VGA_PORTS`]: ports 0x3B0-0x3DF: misc output, sequencer, CRTC (0x3B4/0x3D4 by misc
//!   bit 0), graphics controller, attribute controller, DAC, input status 0/1, feature control.
//! - [`REGION_VBE_PORTS`]: the Bochs dispi index and data ports 0x1CE/0x1CF.
//! - [`REGION_WINDOW`]: the legacy memory window 0xA0000-0xBFFFF (128 KiB); the graphics
//!   controller's memory map select decides which part answers; with a VBE mode of 8 bpp or more
//!   enabled, A0000-AFFFF is a 64 KiB bank of the linear framebuffer.
//! - [`REGION_LFB`]: the linear framebuffer, [`Vga::lfb_size`] bytes, mapped where PCI BAR 0 points
//!   (by default [`LFB_DEFAULT_BASE`]).
//!
//! **Emulated:** every register of the five VGA units with the index/data protocols (attribute
//! flip-flop reset by reading input status 1, CRTC write protect, DAC read/write cycles); the host
//! memory pipeline (latches, write modes 0-3, rotate, logical functions, bit mask, map mask, read
//! modes 0-1, chain 4, odd/even); input status 1 timing on the virtual clock (vertical retrace and
//! display-enable toggle with a 70 Hz frame of 31.78 µs lines, sized by the CRTC's vertical
//! registers); rendering (see `render.rs`) of text, CGA 4-colour, planar 16-colour, 256-colour and
//! VBE modes, with the cursor and character blink on the virtual clock; the dispi interface.
//!
//! **Not emulated:** horizontal timing registers beyond display end (CR00, CR02-CR05 are stored
//! only), the misc output's odd/even page bit, count-by-2/4 (CR17 bit 3, CR14 bit 5), pel panning
//! in text and 256-colour modes, cursor skew, light pen, split-screen pel panning quirks, the
//! 256-colour mode's attribute palette pass, the VGA BIOS option ROM (firmware supplies its own),
//! and QEMU's MMIO BAR 2 for the dispi registers (Linux's bochs driver falls back to the ports).
//! Power-on state is mode 03h with emu's font in plane 2 (a real card waits for its BIOS).

pub mod font;
pub mod memory;
pub mod png;
pub mod regs;
pub mod render;
pub mod vbe;

mod pci_function;

#[cfg(test)]
mod tests;

pub use pci_function::VgaPci;

use std::any::Any;

use emu_core::device::OPEN_BUS;
use emu_core::{ClockHandle, Device, DeviceId, Error, System};

use memory::{Vram, PLANE_SIZE};
pub use png::{decode_png, encode_png, save_png, PngError};
use regs::*;
pub use regs::{ModeRegs, Regs, MODE_01H, MODE_03H, MODE_04H, MODE_07H, MODE_0DH, MODE_10H, MODE_12H, MODE_13H};
pub use render::Framebuffer;
use vbe::{Vbe, VbeEffect, VBE_BANK_SIZE};
pub use vbe::{VBE_INDEX_PORT, VBE_PORTS};

/// Region: ports 0x3B0-0x3DF.
pub const REGION_VGA_PORTS: u8 = 0;
/// Region: Bochs VBE ports 0x1CE-0x1CF.
pub const REGION_VBE_PORTS: u8 = 1;
/// Region: the legacy window 0xA0000-0xBFFFF.
pub const REGION_WINDOW: u8 = 2;
/// Region: the linear framebuffer (PCI BAR 0).
pub const REGION_LFB: u8 = 3;

/// Physical address of the legacy memory window.
pub const WINDOW_BASE: u64 = 0xa0000;
/// Size of the legacy memory window.
pub const WINDOW_SIZE: u64 = 0x20000;
/// Where the linear framebuffer sits unless PCI moves it.
pub const LFB_DEFAULT_BASE: u64 = 0xe000_0000;
/// Video memory (and linear framebuffer) size.
pub const VRAM_SIZE: usize = 16 << 20;

/// PCI identity of the Bochs/QEMU standard VGA.
pub const PCI_VENDOR_ID: u16 = 0x1234;
pub const PCI_DEVICE_ID: u16 = 0x1111;
pub const PCI_REVISION: u8 = 0x02;
/// Class 03h (display), subclass 00h (VGA compatible), programming interface 00h.
pub const PCI_CLASS: u32 = 0x03_00_00;

/// Length of one scan line (ns) for input status 1: 800 dots at 25.175 MHz.
pub const LINE_NS: u64 = 31_778;
/// Half period of the cursor blink (ns): 8 frames of 70 Hz (the cursor blinks every 16 frames).
pub const CURSOR_BLINK_NS: u64 = 114_286_000;

/// The VGA.
pub struct Vga {
    pub regs: Regs,
    pub vbe: Vbe,
    vram: Vram,
    clock: ClockHandle,
    /// Bumped on every write that may change the picture.
    generation: u64,
}

impl Vga {
    /// A VGA with [`VRAM_SIZE`] of video memory, powered on in mode 03h with emu's font loaded
    /// into plane 2 (character generator map 0) and the EGA palette in the DAC.
    pub fn new(clock: ClockHandle) -> Self {
        let mut vga =
            Vga { regs: Regs::new(), vbe: Vbe::new(VRAM_SIZE), vram: Vram::new(VRAM_SIZE), clock, generation: 0 };
        vga.power_on();
        vga
    }

    /// The registers and the VBE interface as at power-on (mode 03h, VBE off), and emu's font
    /// in plane 2; the rest of video memory is left as it is.
    fn power_on(&mut self) {
        self.regs = Regs::new();
        self.regs.load(&MODE_03H);
        self.vbe = Vbe::new(VRAM_SIZE);
        self.load_font(&font::FONT_8X16, font::GLYPH_HEIGHT, 0);
    }

    /// Writes a font into plane 2 at character map `map` (0-7), 32 bytes per character.
    pub fn load_font(&mut self, glyphs: &[u8], height: usize, map: usize) {
        let base = render::font_map_offset(map);
        for (c, glyph) in glyphs.chunks(height).enumerate().take(256) {
            for (row, &bits) in glyph.iter().enumerate().take(32) {
                self.vram.set_plane_byte(2, base + c * 32 + row, bits);
            }
        }
        self.touch();
    }

    /// The linear framebuffer's size in bytes (PCI BAR 0's size).
    pub fn lfb_size(&self) -> u64 {
        self.vram.bytes.len() as u64
    }

    /// Video memory as bytes (the planes interleaved in its first 256 KiB; see `memory.rs`).
    pub fn vram(&self) -> &[u8] {
        &self.vram.bytes
    }

    /// A number that changes whenever the picture may have changed: any register or memory
    /// write, and in text modes each blink phase. The frontend renders when it differs from the
    /// value it last rendered at.
    pub fn generation(&self) -> u64 {
        let text = !self.vbe.enabled() && !self.regs.graphics();
        let blink = if text { self.clock.now() / CURSOR_BLINK_NS } else { 0 };
        self.generation.wrapping_add(blink)
    }

    fn touch(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Input status 1 at the current virtual time: bit 3 during vertical retrace, bit 0 while
    /// the display is blanked (outside the active part of a line or frame).
    pub fn input_status1(&self) -> u8 {
        let r = &self.regs;
        let mut total = r.vertical_total() + 2;
        let mut vde = r.vertical_display_end() + 1;
        let mut vrs = r.vertical_retrace_start();
        if vde >= total || vrs >= total || vde == 0 {
            (total, vde, vrs) = (449, 400, 412);
        }
        let now = self.clock.now();
        let line = ((now / LINE_NS) % total as u64) as u32;
        let in_line = now % LINE_NS;
        // The retrace lasts until the line whose low 4 bits match CR11's (at most 16 lines).
        let end = r.crtc[CR_V_RETRACE_END] as u32 & 0x0f;
        let len = ((end.wrapping_sub(vrs)) & 0x0f).max(1);
        let mut v = 0;
        if line >= vrs && line < vrs + len {
            v |= STATUS1_VRETRACE;
        }
        if line >= vde || in_line >= LINE_NS * 4 / 5 {
            v |= STATUS1_DISPLAY_DISABLED;
        }
        v
    }

    /// The legacy window's planar address for an offset into 0xA0000-0xBFFFF, if the memory map
    /// select claims it, and how many bytes per plane are reachable.
    fn window_target(&self, off: u64) -> Option<(usize, usize)> {
        if self.regs.misc & MISC_RAM_ENABLE == 0 {
            return None;
        }
        let (base, size) = match (self.regs.gc[GR_MISC] >> 2) & 3 {
            0 => (0, 0x20000),
            1 => (0, 0x10000),
            2 => (0x10000, 0x8000),
            _ => (0x18000, 0x8000),
        };
        let addr = off.checked_sub(base).filter(|&a| a < size)? as usize;
        if self.vbe.enabled() {
            // VBE 4-bit mode: planar, banked over the whole memory.
            return Some((addr + self.vbe.bank as usize * VBE_BANK_SIZE, self.vram.plane_len()));
        }
        Some((addr, PLANE_SIZE))
    }

    /// The byte of video memory a banked VBE access at window offset `off` reaches.
    fn bank_target(&self, off: u64) -> Option<usize> {
        let addr = self.vbe.bank as usize * VBE_BANK_SIZE + off as usize;
        (off < VBE_BANK_SIZE as u64 && addr < self.vram.bytes.len()).then_some(addr)
    }

    fn banked(&self) -> bool {
        self.vbe.enabled() && self.vbe.bpp != 4
    }

    fn window_read(&mut self, off: u64) -> u8 {
        if self.banked() {
            return self.bank_target(off).map_or(0xff, |a| self.vram.bytes[a]);
        }
        match self.window_target(off) {
            Some((addr, limit)) => self.vram.host_read(&self.regs, addr, limit),
            None => 0xff,
        }
    }

    fn window_write(&mut self, off: u64, v: u8) {
        if self.banked() {
            if let Some(a) = self.bank_target(off) {
                self.vram.bytes[a] = v;
                self.touch();
            }
            return;
        }
        if let Some((addr, limit)) = self.window_target(off) {
            self.vram.host_write(&self.regs, addr, v, limit);
            self.touch();
        }
    }

    fn vbe_read(&mut self, offset: u64) -> u16 {
        match offset {
            0 => self.vbe.index,
            _ => self.vbe.read_data(),
        }
    }

    fn vbe_write(&mut self, offset: u64, v: u16) {
        if offset == 0 {
            self.vbe.index = v;
            return;
        }
        match self.vbe.write_data(v) {
            VbeEffect::Enabled { clear } => {
                self.vram.bytes[..clear].fill(0);
                // Point the legacy side at a 64 KiB graphics window, as the dispi interface does.
                let gr6 = self.regs.gc[GR_MISC];
                self.regs.gc[GR_MISC] = (gr6 & !0x0c) | 0x04 | GR06_GRAPHICS;
            }
            VbeEffect::Disabled | VbeEffect::None => {}
        }
        self.regs.dac.eight_bit = self.vbe.enabled() && self.vbe.enable & vbe::VBE_DISPI_8BIT_DAC != 0;
        self.touch();
    }
}

impl Device for Vga {
    fn name(&self) -> &'static str {
        "VGA + Bochs VBE"
    }

    /// As at power-on ([`Vga::power_on`]); video memory keeps what it holds.
    fn reset(&mut self) {
        self.power_on();
    }

    /// Port accesses wider than a byte are split into byte cycles (so `out dx, ax` to an index
    /// port writes index and data), except on the VBE ports, which are 16 bits wide.
    fn read(&mut self, region: u8, offset: u64, size: u8) -> u32 {
        let size = size.min(4) as u64;
        match region {
            REGION_VGA_PORTS => {
                let status1 = self.input_status1();
                (0..size)
                    .map(|i| {
                        let port = VGA_PORT_BASE as u64 + offset + i;
                        let v = if port < (VGA_PORT_BASE + VGA_PORTS) as u64 {
                            self.regs.port_read(port as u16, status1)
                        } else {
                            0xff
                        };
                        (v as u32) << (8 * i)
                    })
                    .sum()
            }
            REGION_VBE_PORTS => self.vbe_read(offset) as u32,
            REGION_WINDOW => (0..size).map(|i| (self.window_read(offset + i) as u32) << (8 * i)).sum(),
            REGION_LFB => {
                let at = offset as usize;
                match self.vram.bytes.get(at..at + size as usize) {
                    Some(b) => b.iter().rev().fold(0u32, |v, &x| v << 8 | x as u32),
                    None => OPEN_BUS,
                }
            }
            _ => OPEN_BUS,
        }
    }

    fn write(&mut self, region: u8, offset: u64, size: u8, value: u32) {
        let size = size.min(4) as u64;
        match region {
            REGION_VGA_PORTS => {
                for i in 0..size {
                    let port = VGA_PORT_BASE as u64 + offset + i;
                    if port < (VGA_PORT_BASE + VGA_PORTS) as u64 {
                        self.regs.port_write(port as u16, (value >> (8 * i)) as u8);
                    }
                }
                self.touch();
            }
            REGION_VBE_PORTS => self.vbe_write(offset, value as u16),
            REGION_WINDOW => {
                for i in 0..size {
                    self.window_write(offset + i, (value >> (8 * i)) as u8);
                }
            }
            REGION_LFB => {
                let at = offset as usize;
                if let Some(b) = self.vram.bytes.get_mut(at..at + size as usize) {
                    b.copy_from_slice(&value.to_le_bytes()[..size as usize]);
                    self.touch();
                }
            }
            _ => {}
        }
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Adds a VGA to `sys` and maps its ports (0x3B0-0x3DF, 0x1CE-0x1CF) and the legacy window. The
/// linear framebuffer is mapped by PCI BAR 0 ([`VgaPci`]) or by [`map_lfb`].
pub fn attach_vga(sys: &mut System) -> Result<DeviceId, Error> {
    let vga = Vga::new(sys.clock.handle());
    let id = sys.add_device(Box::new(vga));
    sys.map_io(VGA_PORT_BASE, VGA_PORTS, id, REGION_VGA_PORTS)?;
    sys.map_io(VBE_INDEX_PORT, VBE_PORTS, id, REGION_VBE_PORTS)?;
    sys.map_mmio(WINDOW_BASE, WINDOW_SIZE, id, REGION_WINDOW)?;
    Ok(id)
}

/// Maps the linear framebuffer of the VGA `id` at `base` (machines without PCI).
pub fn map_lfb(sys: &mut System, id: DeviceId, base: u64) -> Result<(), Error> {
    sys.map_mmio(base, VRAM_SIZE as u64, id, REGION_LFB)
}
