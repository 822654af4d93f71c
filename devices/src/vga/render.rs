//! The display side: turning video memory and the registers into RGBA pixels, one frame at a
//! time, the way the CRTC, sequencer, attribute controller and DAC would scan it out.
//!
//! **Address generation** (per displayed scan line `s`): below the line compare the memory
//! address counter starts at the start address (plus the byte panning of CR08), above it at 0;
//! each character row adds `2 × offset`; scan doubling (CR09 bit 7) repeats every line; the row
//! scan counter runs to the max scan line. A counter value becomes a memory address in byte, word
//! (shifted left, bit 0 from MA13 or MA15) or double-word (shifted left twice) mode, and CR17
//! bits 0-1 replace address bits 13-14 with row scan bits 0-1 (the CGA and Hercules banks).
//!
//! **Output resolution:** text modes give every dot (720x400 for mode 03h); graphics modes give
//! one pixel per memory pixel, with scan doubling and repeated rows folded (mode 13h is 320x200,
//! mode 0Dh 320x200, mode 12h 640x480); VBE modes give XRES x YRES.
//!
//! **Pixel format:** `0xRRGGBBAA` (alpha always 0xFF).

use super::regs::*;
use super::{Vga, CURSOR_BLINK_NS};

/// Largest width or height rendered (guards against nonsense register values).
pub const MAX_DIMENSION: usize = 4096;

/// A rendered frame: `width × height` pixels, row-major, each `0xRRGGBBAA`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Framebuffer {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u32>,
}

/// Packs a colour as `0xRRGGBBAA` with full alpha.
pub const fn rgba(r: u8, g: u8, b: u8) -> u32 {
    (r as u32) << 24 | (g as u32) << 16 | (b as u32) << 8 | 0xff
}

impl Framebuffer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the size, reusing the allocation; pixel contents are unspecified afterwards.
    pub fn resize(&mut self, width: usize, height: usize) {
        self.width = width;
        self.height = height;
        self.pixels.resize(width * height, 0);
    }

    /// The pixel at `(x, y)`.
    pub fn pixel(&self, x: usize, y: usize) -> u32 {
        self.pixels[y * self.width + x]
    }

    /// The pixel at `(x, y)` as red, green, blue.
    pub fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        let p = self.pixel(x, y);
        [(p >> 24) as u8, (p >> 16) as u8, (p >> 8) as u8]
    }
}

/// Offset in plane 2 of character generator map `map` (0-7), as the character map select
/// register numbers them: maps 0-3 at 0, 16, 32, 48 KiB, maps 4-7 at 8, 24, 40, 56 KiB.
pub fn font_map_offset(map: usize) -> usize {
    [0x0000, 0x4000, 0x8000, 0xc000, 0x2000, 0x6000, 0xa000, 0xe000][map & 7]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddressMode {
    Byte,
    Word,
    Dword,
}

/// The CRTC's vertical address generation, read out of the registers once per frame.
struct Scan {
    start: u32,
    /// Counter increment per character row.
    pitch: u32,
    max_scan: u32,
    double: bool,
    line_compare: u32,
    preset: u32,
    mode: AddressMode,
    mode_control: u8,
}

impl Scan {
    fn new(r: &Regs) -> Self {
        let mode = if r.crtc[CR_UNDERLINE] & CR14_DWORD != 0 {
            AddressMode::Dword
        } else if r.crtc[CR_MODE_CONTROL] & CR17_BYTE_MODE == 0 {
            AddressMode::Word
        } else {
            AddressMode::Byte
        };
        let preset = r.crtc[CR_PRESET_ROW_SCAN];
        Scan {
            start: r.start_address() + ((preset >> 5) & 3) as u32,
            pitch: 2 * r.crtc[CR_OFFSET] as u32,
            max_scan: (r.crtc[CR_MAX_SCAN_LINE] & 0x1f) as u32,
            double: r.crtc[CR_MAX_SCAN_LINE] & CR09_SCAN_DOUBLE != 0,
            line_compare: r.line_compare(),
            preset: (preset & 0x1f) as u32,
            mode,
            mode_control: r.crtc[CR_MODE_CONTROL],
        }
    }

    /// The counter at the start of scan line `s`'s character row, and `s`'s row scan.
    fn row(&self, s: u32) -> (u32, u32) {
        let (first, start, preset) =
            if s > self.line_compare { (self.line_compare + 1, 0, 0) } else { (0, self.start, self.preset) };
        let mut local = s - first;
        if self.double {
            local /= 2;
        }
        local += preset;
        let cell = self.max_scan + 1;
        (start.wrapping_add(local / cell * self.pitch), local % cell)
    }

    /// The memory address (within a plane) the CRTC puts out for `counter` on row scan `rs`.
    fn address(&self, counter: u32, rs: u32) -> usize {
        let mut a = match self.mode {
            AddressMode::Byte => counter,
            AddressMode::Word => {
                let bit = if self.mode_control & CR17_ADDRESS_WRAP != 0 { 15 } else { 13 };
                counter << 1 | (counter >> bit) & 1
            }
            AddressMode::Dword => counter << 2 | (counter >> 14) & 3,
        };
        if self.mode_control & CR17_MAP13 == 0 {
            a = (a & !(1 << 13)) | (rs & 1) << 13;
        }
        if self.mode_control & CR17_MAP14 == 0 {
            a = (a & !(1 << 14)) | (rs >> 1 & 1) << 14;
        }
        (a & 0xffff) as usize
    }
}

impl Vga {
    /// Renders the current picture into `out`, resizing it to the mode's resolution.
    pub fn render(&mut self, out: &mut Framebuffer) {
        let now = self.clock.now();
        if self.vbe.enabled() {
            return self.render_vbe(out);
        }
        let r = &self.regs;
        let blank = r.seq[SR_CLOCKING_MODE] & SR01_SCREEN_OFF != 0 || r.ac_index & AC_PAS == 0;
        if r.graphics() {
            self.render_graphics(out);
        } else {
            self.render_text(out, now);
        }
        if blank {
            out.pixels.fill(rgba(0, 0, 0));
        }
    }

    /// The colour of DAC entry `i` (through the pel mask).
    pub(super) fn dac_color(&self, i: u8) -> u32 {
        let [r, g, b] = self.regs.dac.rgb8(i & self.regs.dac.pel_mask);
        rgba(r, g, b)
    }

    /// The 16 colours a 4-bit pixel or attribute value shows as: colour plane enable, the
    /// attribute palette, colour select bits 7-6 (and 5-4 with P54S), then the DAC.
    fn colors16(&self) -> [u32; 16] {
        let ac = &self.regs.ac;
        let mut out = [0u32; 16];
        for (v, c) in out.iter_mut().enumerate() {
            let v = v as u8 & ac[AR_COLOR_PLANE_ENABLE];
            let mut idx = ac[v as usize] & 0x3f;
            if ac[AR_MODE_CONTROL] & AR10_P54S != 0 {
                idx = (idx & 0x0f) | (ac[AR_COLOR_SELECT] & 3) << 4;
            }
            idx |= (ac[AR_COLOR_SELECT] & 0x0c) << 4;
            *c = self.dac_color(idx);
        }
        out
    }

    fn render_text(&self, out: &mut Framebuffer, now: u64) {
        let r = &self.regs;
        let scan = Scan::new(r);
        let cols = r.crtc[CR_H_DISPLAY_END] as usize + 1;
        let cell_w = if r.seq[SR_CLOCKING_MODE] & SR01_DOT8 != 0 { 8 } else { 9 };
        let lines = r.vertical_display_end() as usize + 1;
        let height = (if scan.double { lines / 2 } else { lines }).min(MAX_DIMENSION);
        let width = (cols * cell_w).min(MAX_DIMENSION);
        out.resize(width, height);
        let colors = self.colors16();
        let ac10 = r.ac[AR_MODE_CONTROL];
        let sr3 = r.seq[SR_CHAR_MAP_SELECT] as usize;
        let map_a = font_map_offset(((sr3 >> 3) & 4) | ((sr3 >> 2) & 3));
        let map_b = font_map_offset(((sr3 >> 2) & 4) | (sr3 & 3));
        let cursor_at = r.cursor_location();
        let cursor_on = r.crtc[CR_CURSOR_START] & CR0A_CURSOR_DISABLE == 0 && (now / CURSOR_BLINK_NS).is_multiple_of(2);
        let (cursor_start, cursor_end) =
            ((r.crtc[CR_CURSOR_START] & 0x1f) as u32, (r.crtc[CR_CURSOR_END] & 0x1f) as u32);
        let blink_shown = (now / (2 * CURSOR_BLINK_NS)).is_multiple_of(2);
        let underline = (r.crtc[CR_UNDERLINE] & 0x1f) as u32;
        for y in 0..height {
            let s = if scan.double { 2 * y } else { y } as u32;
            let (row, rs) = scan.row(s);
            let line = &mut out.pixels[y * width..(y + 1) * width];
            for col in 0..cols {
                let counter = row.wrapping_add(col as u32);
                let a = scan.address(counter, rs);
                let ch = self.vram.plane_byte(0, a);
                let attr = self.vram.plane_byte(1, a);
                let font = if attr & 0x08 != 0 { map_a } else { map_b };
                let mut bits = if rs < 32 { self.vram.plane_byte(2, font + ch as usize * 32 + rs as usize) } else { 0 };
                let fg = attr & 0x0f;
                let mut bg = attr >> 4;
                if ac10 & AR10_BLINK != 0 {
                    bg &= 7;
                    if attr & 0x80 != 0 && !blink_shown {
                        bits = 0;
                    }
                }
                if ac10 & AR10_MONO != 0 && attr & 0x77 == 0x01 && rs == underline {
                    bits = 0xff;
                }
                let mut ninth = ac10 & AR10_LINE_GRAPHICS != 0 && (0xc0..=0xdf).contains(&ch) && bits & 1 != 0;
                if cursor_on && counter == cursor_at && rs >= cursor_start && rs <= cursor_end {
                    bits = 0xff;
                    ninth = true;
                }
                let (fgc, bgc) = (colors[fg as usize], colors[bg as usize]);
                let x0 = col * cell_w;
                for (i, px) in line.iter_mut().skip(x0).take(cell_w).enumerate() {
                    let on = if i < 8 { bits & (0x80 >> i) != 0 } else { ninth };
                    *px = if on { fgc } else { bgc };
                }
            }
        }
    }

    fn render_graphics(&self, out: &mut Framebuffer) {
        let r = &self.regs;
        let scan = Scan::new(r);
        let cols = r.crtc[CR_H_DISPLAY_END] as usize + 1;
        let gr5 = r.gc[GR_MODE];
        let lines = r.vertical_display_end() + 1;
        let mut fold = if scan.double { 2 } else { 1 };
        if r.crtc[CR_MODE_CONTROL] & CR17_MAP13 != 0 {
            fold *= scan.max_scan + 1;
        }
        let height = ((lines / fold) as usize).min(MAX_DIMENSION);
        let shift256 = gr5 & GR05_SHIFT256 != 0;
        let per_fetch = if shift256 { 4 } else { 8 };
        let width = (cols * per_fetch).min(MAX_DIMENSION);
        out.resize(width, height);
        let colors = self.colors16();
        let colors256: Vec<u32> = if shift256 { (0..=255u8).map(|i| self.dac_color(i)).collect() } else { Vec::new() };
        let ac10 = r.ac[AR_MODE_CONTROL];
        let pan = if shift256 { 0 } else { (r.ac[AR_H_PEL_PANNING] & 7) as usize };
        let mut index = vec![0u8; width + per_fetch];
        for y in 0..height {
            let s = y as u32 * fold;
            let (row, rs) = scan.row(s);
            let pan = if s > scan.line_compare && ac10 & AR10_PAN_COMPAT != 0 { 0 } else { pan };
            for i in 0..index.len() / per_fetch {
                let a = scan.address(row.wrapping_add(i as u32), rs);
                let p = [0, 1, 2, 3].map(|n| self.vram.plane_byte(n, a));
                let px = &mut index[i * per_fetch..(i + 1) * per_fetch];
                if shift256 {
                    px.copy_from_slice(&p);
                } else if gr5 & GR05_SHIFT_INTERLEAVE != 0 {
                    // CGA: the even plane's byte gives pixels 0-3, the odd plane's 4-7, 2 bits each.
                    for k in 0..4 {
                        px[k] = (p[0] >> (6 - 2 * k)) & 3;
                        px[k + 4] = (p[1] >> (6 - 2 * k)) & 3;
                    }
                } else {
                    for (k, v) in px.iter_mut().enumerate() {
                        let bit = 7 - k;
                        *v = (0..4).map(|n| ((p[n] >> bit) & 1) << n).sum();
                    }
                }
            }
            let line = &mut out.pixels[y * width..(y + 1) * width];
            for (x, px) in line.iter_mut().enumerate() {
                let v = index[x + pan];
                *px = if shift256 { colors256[v as usize] } else { colors[v as usize & 0xf] };
            }
        }
    }

    fn render_vbe(&self, out: &mut Framebuffer) {
        let v = &self.vbe;
        let (width, height) = ((v.xres as usize).min(MAX_DIMENSION), (v.yres as usize).min(MAX_DIMENSION));
        out.resize(width, height);
        let (start, pitch) = (v.display_start(), v.line_bytes());
        let mem = &self.vram.bytes;
        let colors16 = self.colors16();
        let colors256: Vec<u32> = (0..=255u8).map(|i| self.dac_color(i)).collect();
        let widen5 = |c: u16| ((c << 3) | (c >> 2)) as u8;
        let widen6 = |c: u16| ((c << 2) | (c >> 4)) as u8;
        for y in 0..height {
            let base = start + y * pitch;
            let line = &mut out.pixels[y * width..(y + 1) * width];
            for (x, px) in line.iter_mut().enumerate() {
                let bpp = v.bytes_per_pixel();
                let at = base + x * bpp;
                let byte = |i: usize| mem.get(at + i).copied().unwrap_or(0);
                *px = match v.bpp {
                    4 => {
                        let off = base + x / 8;
                        let bit = 7 - (x % 8);
                        let n: u8 = (0..4).map(|p| ((self.vram.plane_byte(p, off) >> bit) & 1) << p).sum();
                        colors16[n as usize]
                    }
                    15 => {
                        let c = u16::from_le_bytes([byte(0), byte(1)]);
                        rgba(widen5((c >> 10) & 31), widen5((c >> 5) & 31), widen5(c & 31))
                    }
                    16 => {
                        let c = u16::from_le_bytes([byte(0), byte(1)]);
                        rgba(widen5((c >> 11) & 31), widen6((c >> 5) & 63), widen5(c & 31))
                    }
                    24 | 32 => rgba(byte(2), byte(1), byte(0)),
                    _ => colors256[byte(0) as usize],
                };
            }
        }
    }
}
