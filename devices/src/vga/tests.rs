//! The VGA driven through its ports and memory window the way a BIOS and a guest drive it.

use super::font::FONT_8X16;
use super::render::rgba;
use super::vbe::*;
use super::*;

struct Bench {
    vga: Vga,
    clock: ClockHandle,
    fb: Framebuffer,
}

impl Bench {
    fn new() -> Self {
        let clock = ClockHandle::manual();
        Bench { vga: Vga::new(clock.clone()), clock, fb: Framebuffer::new() }
    }

    fn out(&mut self, port: u16, v: u8) {
        self.vga.write(REGION_VGA_PORTS, (port - VGA_PORT_BASE) as u64, 1, v as u32);
    }
    fn inp(&mut self, port: u16) -> u8 {
        self.vga.read(REGION_VGA_PORTS, (port - VGA_PORT_BASE) as u64, 1) as u8
    }
    /// Writes a CRTC register at 0x3D4 or 0x3B4, whichever misc output bit 0 selects.
    fn crtc(&mut self, i: u8, v: u8) {
        let color = self.inp(MISC_READ) & MISC_IOAS != 0;
        let base = if color { CRTC_INDEX_COLOR } else { CRTC_INDEX_MONO };
        self.out(base, i);
        self.out(base + 1, v);
    }
    fn status1(&mut self) -> u8 {
        let color = self.inp(MISC_READ) & MISC_IOAS != 0;
        self.inp(if color { STATUS1_COLOR } else { STATUS1_MONO })
    }
    fn gc(&mut self, i: u8, v: u8) {
        self.out(GC_INDEX, i);
        self.out(GC_DATA, v);
    }
    fn seq(&mut self, i: u8, v: u8) {
        self.out(SEQ_INDEX, i);
        self.out(SEQ_DATA, v);
    }
    fn ac(&mut self, i: u8, v: u8) {
        self.status1();
        self.out(AC_INDEX, i);
        self.out(AC_INDEX, v);
        self.out(AC_INDEX, AC_PAS);
    }
    fn mem_write(&mut self, addr: u64, v: u8) {
        self.vga.write(REGION_WINDOW, addr - WINDOW_BASE, 1, v as u32);
    }
    fn mem_read(&mut self, addr: u64) -> u8 {
        self.vga.read(REGION_WINDOW, addr - WINDOW_BASE, 1) as u8
    }
    fn dispi(&mut self, index: u16, v: u16) {
        self.vga.write(REGION_VBE_PORTS, 0, 2, index as u32);
        self.vga.write(REGION_VBE_PORTS, 1, 2, v as u32);
    }
    fn dispi_read(&mut self, index: u16) -> u16 {
        self.vga.write(REGION_VBE_PORTS, 0, 2, index as u32);
        self.vga.read(REGION_VBE_PORTS, 1, 2) as u16
    }

    /// Sets a mode the way a VGA BIOS does: misc output, sequencer under synchronous reset,
    /// CRTC with the protect bit cleared first, graphics controller, attribute controller, then
    /// the palette address source bit to turn the display back on.
    fn set_mode(&mut self, m: &ModeRegs) {
        self.out(MISC_WRITE, m.misc);
        self.seq(0, 0x01);
        for (i, &v) in m.seq.iter().enumerate().skip(1) {
            self.seq(i as u8, v);
        }
        self.seq(0, 0x03);
        self.crtc(0x11, m.crtc[0x11] & 0x7f);
        for (i, &v) in m.crtc.iter().enumerate() {
            self.crtc(i as u8, v);
        }
        for (i, &v) in m.gc.iter().enumerate() {
            self.gc(i as u8, v);
        }
        self.status1();
        for (i, &v) in m.ac.iter().enumerate() {
            self.out(AC_INDEX, i as u8);
            self.out(AC_INDEX, v);
        }
        self.out(AC_INDEX, AC_PAS);
    }

    fn dac(&mut self, index: u8, rgb: [u8; 3]) {
        self.out(DAC_WRITE_INDEX, index);
        for c in rgb {
            self.out(DAC_DATA, c);
        }
    }

    fn render(&mut self) -> &Framebuffer {
        self.vga.render(&mut self.fb);
        &self.fb
    }

    /// Puts character `ch` with attribute `attr` at text cell `cell` (mode 03h layout).
    fn put_char(&mut self, cell: u64, ch: u8, attr: u8) {
        self.mem_write(0xb8000 + 2 * cell, ch);
        self.mem_write(0xb8000 + 2 * cell + 1, attr);
    }
}

/// The EGA colours (widened to 8 bits) the standard 16-colour palette shows.
const BLACK: u32 = rgba(0, 0, 0);
const BLUE: u32 = rgba(0, 0, 0xaa);
const LIGHT_GRAY: u32 = rgba(0xaa, 0xaa, 0xaa);
const DARK_GRAY: u32 = rgba(0x55, 0x55, 0x55);
const WHITE: u32 = rgba(0xff, 0xff, 0xff);
const YELLOW: u32 = rgba(0xff, 0xff, 0x55);
const BROWN: u32 = rgba(0xaa, 0x55, 0);

/// Checks that text cell (col, row) of an 80x25 9x16 screen shows glyph `ch` in `fg` on `bg`,
/// with the ninth column as given.
fn assert_cell(fb: &Framebuffer, col: usize, row: usize, ch: u8, fg: u32, bg: u32, ninth_dup: bool) {
    for y in 0..16 {
        let bits = FONT_8X16[ch as usize * 16 + y];
        for x in 0..9 {
            let on = if x < 8 { bits & (0x80 >> x) != 0 } else { ninth_dup && bits & 1 != 0 };
            let want = if on { fg } else { bg };
            assert_eq!(fb.pixel(col * 9 + x, row * 16 + y), want, "cell ({col},{row}) char {ch:#x} at ({x},{y})");
        }
    }
}

#[test]
fn mode_03h_text_shows_glyphs_from_plane_2_in_attribute_colours() {
    let mut b = Bench::new();
    b.set_mode(&MODE_03H);
    b.crtc(0x0a, 0x20); // cursor off
    b.put_char(0, b'A', 0x1f);
    b.put_char(1, 0xc4, 0x1e); // box-drawing: the ninth column repeats the eighth
    b.put_char(2, b'g', 0x06);
    b.put_char(80 + 79, b'Z', 0x70);
    let fb = b.render().clone();
    assert_eq!((fb.width, fb.height), (720, 400));
    assert_cell(&fb, 0, 0, b'A', WHITE, BLUE, false);
    assert_cell(&fb, 1, 0, 0xc4, YELLOW, BLUE, true);
    assert_cell(&fb, 2, 0, b'g', BROWN, BLACK, false);
    assert_cell(&fb, 79, 1, b'Z', BLACK, LIGHT_GRAY, false);
    // Line graphics off: the ninth column is background.
    b.ac(AR_MODE_CONTROL as u8, 0x08);
    let fb = b.render().clone();
    assert_cell(&fb, 1, 0, 0xc4, YELLOW, BLUE, false);
    // Reading text memory back through odd/even: characters at even, attributes at odd.
    assert_eq!(b.mem_read(0xb8000), b'A');
    assert_eq!(b.mem_read(0xb8001), 0x1f);
    assert_eq!(b.mem_read(0xb8002), 0xc4);
}

#[test]
fn cursor_follows_location_and_scanlines_and_blinks_on_the_clock() {
    let mut b = Bench::new();
    b.set_mode(&MODE_03H);
    b.put_char(5, b' ', 0x07);
    b.crtc(0x0e, 0);
    b.crtc(0x0f, 5);
    b.crtc(0x0a, 14);
    b.crtc(0x0b, 15);
    let fb = b.render().clone();
    for x in 0..9 {
        assert_eq!(fb.pixel(5 * 9 + x, 13), BLACK);
        assert_eq!(fb.pixel(5 * 9 + x, 14), LIGHT_GRAY);
        assert_eq!(fb.pixel(5 * 9 + x, 15), LIGHT_GRAY);
    }
    assert_eq!(fb.pixel(4 * 9, 14), BLACK);
    // Off phase of the blink.
    b.clock.set(CURSOR_BLINK_NS);
    assert_eq!(b.render().pixel(5 * 9, 14), BLACK);
    b.clock.set(2 * CURSOR_BLINK_NS);
    assert_eq!(b.render().pixel(5 * 9, 14), LIGHT_GRAY);
    // Disabled by cursor start bit 5.
    b.crtc(0x0a, 0x20 | 14);
    assert_eq!(b.render().pixel(5 * 9, 14), BLACK);
}

#[test]
fn attribute_bit_7_blinks_or_selects_bright_backgrounds() {
    let mut b = Bench::new();
    b.set_mode(&MODE_03H);
    b.crtc(0x0a, 0x20);
    b.put_char(0, 0xdb, 0x8f); // full block, white on (blinking) black
    assert_cell(&b.render().clone(), 0, 0, 0xdb, WHITE, BLACK, true);
    b.clock.set(2 * CURSOR_BLINK_NS); // blink-off phase: the character disappears
    assert_eq!(b.render().pixel(3, 3), BLACK);
    b.clock.set(4 * CURSOR_BLINK_NS);
    assert_eq!(b.render().pixel(3, 3), WHITE);
    // Blink disabled: bit 7 is background intensity (dark grey).
    b.ac(AR_MODE_CONTROL as u8, 0x04);
    b.put_char(1, b' ', 0x8f);
    assert_eq!(b.render().pixel(9 + 3, 3), DARK_GRAY);
}

#[test]
fn start_address_scrolls_and_line_compare_splits_the_text_screen() {
    let mut b = Bench::new();
    b.set_mode(&MODE_03H);
    b.crtc(0x0a, 0x20);
    b.put_char(0, 0xdb, 0x01); // row 0: blue block
    b.put_char(80, 0xdb, 0x04); // row 1: red block
    let red = rgba(0xaa, 0, 0);
    b.crtc(0x0c, 0);
    b.crtc(0x0d, 80);
    assert_eq!(b.render().pixel(0, 0), red);
    // Split after scan line 31: rows from line 32 show address 0 again (bits 8 and 9 of the
    // line compare live in the overflow and max scan line registers).
    b.crtc(0x07, 0x0f);
    b.crtc(0x09, 0x0f);
    b.crtc(0x18, 31);
    let fb = b.render().clone();
    assert_eq!(fb.pixel(0, 0), red);
    assert_eq!(fb.pixel(0, 32), BLUE);
    assert_eq!(fb.pixel(0, 48), red);
}

#[test]
fn forty_column_and_monochrome_text_modes() {
    let mut b = Bench::new();
    b.set_mode(&MODE_01H);
    b.crtc(0x0a, 0x20);
    b.put_char(39, 0xdb, 0x0e);
    let fb = b.render().clone();
    assert_eq!((fb.width, fb.height), (360, 400));
    assert_eq!(fb.pixel(39 * 9, 0), YELLOW);
    // Mode 07h: window at B0000, CRTC at 0x3B4, underline on scan line 15 for attribute 0x01.
    b.set_mode(&MODE_07H);
    assert_eq!(b.inp(CRTC_INDEX_COLOR), 0xff, "colour CRTC ports are off in mono decode");
    b.crtc(0x0a, 0x20);
    b.mem_write(0xb0000, b'_' + 1);
    b.mem_write(0xb0001, 0x01);
    b.mem_write(0xb8000, b'X'); // not decoded in this memory map
    let fb = b.render().clone();
    assert_eq!(fb.pixel(0, 15), fb.pixel(4, 15));
    assert_ne!(fb.pixel(0, 15), BLACK);
    assert_eq!(fb.pixel(0, 14), BLACK);
    assert_eq!(b.mem_read(0xb0000), b'_' + 1);
}

#[test]
fn mode_13h_chain4_pixels_through_the_dac() {
    let mut b = Bench::new();
    b.set_mode(&MODE_13H);
    b.dac(1, [63, 0, 0]);
    b.dac(2, [0, 63, 0]);
    b.dac(200, [10, 20, 30]);
    b.mem_write(0xa0000, 1);
    b.mem_write(0xa0000 + 1, 2);
    b.mem_write(0xa0000 + 320 * 199 + 319, 200);
    let fb = b.render().clone();
    assert_eq!((fb.width, fb.height), (320, 200));
    assert_eq!(fb.pixel(0, 0), rgba(255, 0, 0));
    assert_eq!(fb.pixel(1, 0), rgba(0, 255, 0));
    assert_eq!(fb.pixel(2, 0), BLACK);
    assert_eq!(fb.pixel(319, 199), rgba(40, 81, 121));
    assert_eq!(b.mem_read(0xa0001), 2);
    // Chain 4: pixel 1 is plane 1's byte at plane address 0.
    assert_eq!(b.vga.vram()[1], 2);
    // The pel mask applies to the index.
    b.out(DAC_PEL_MASK, 0xfe);
    assert_eq!(b.render().pixel(0, 0), BLACK);
}

#[test]
fn mode_12h_planar_pixels_with_write_modes_0_and_2() {
    let mut b = Bench::new();
    b.set_mode(&MODE_12H);
    // Write mode 2: the data's low 4 bits are the colour, the bit mask picks the pixels.
    b.gc(GR_MODE as u8, 0x02);
    b.gc(GR_BIT_MASK as u8, 0x80);
    b.mem_read(0xa0000); // load the latches
    b.mem_write(0xa0000, 0x0e); // yellow at (0, 0)
    b.gc(GR_BIT_MASK as u8, 0x01);
    b.mem_read(0xa0000 + 80 * 479 + 79);
    b.mem_write(0xa0000 + 80 * 479 + 79, 0x09); // light blue at (639, 479)
                                                // Write mode 0 with map mask: planes 0 and 2 (magenta) over a whole byte.
    b.gc(GR_MODE as u8, 0x00);
    b.gc(GR_BIT_MASK as u8, 0xff);
    b.seq(SR_MAP_MASK as u8, 0x05);
    b.mem_write(0xa0000 + 80, 0xff);
    b.seq(SR_MAP_MASK as u8, 0x0f);
    let fb = b.render().clone();
    assert_eq!((fb.width, fb.height), (640, 480));
    assert_eq!(fb.pixel(0, 0), YELLOW);
    assert_eq!(fb.pixel(1, 0), BLACK);
    assert_eq!(fb.pixel(639, 479), rgba(0x55, 0x55, 0xff));
    for x in 0..8 {
        assert_eq!(fb.pixel(x, 1), rgba(0xaa, 0, 0xaa));
    }
    // Horizontal pel panning shifts the picture left.
    b.ac(AR_H_PEL_PANNING as u8, 3);
    assert_eq!(b.render().pixel(4, 1), rgba(0xaa, 0, 0xaa));
    assert_eq!(b.render().pixel(5, 1), BLACK);
}

#[test]
fn mode_0dh_doubles_pixels_and_mode_10h_is_640x350() {
    let mut b = Bench::new();
    b.set_mode(&MODE_0DH);
    b.seq(SR_MAP_MASK as u8, 0x02); // plane 1: green (attribute palette entry 2)
    b.mem_write(0xa0000 + 40 * 199, 0xc0);
    let fb = b.render().clone();
    assert_eq!((fb.width, fb.height), (320, 200));
    assert_eq!(fb.pixel(0, 199), rgba(0, 0xaa, 0));
    assert_eq!(fb.pixel(1, 199), rgba(0, 0xaa, 0));
    assert_eq!(fb.pixel(2, 199), BLACK);
    b.set_mode(&MODE_10H);
    let fb = b.render().clone();
    assert_eq!((fb.width, fb.height), (640, 350));
}

#[test]
fn mode_04h_cga_layout_with_interleaved_banks() {
    let mut b = Bench::new();
    b.set_mode(&MODE_04H);
    b.dac(0x13, [0, 63, 63]); // make palette entry 1 (AC 0x13) distinct
    b.mem_write(0xb8000, 0b01_00_00_11); // line 0: pixels 0 and 3
    b.mem_write(0xb8001, 0b10_00_00_00); // line 0: pixel 4
    b.mem_write(0xba000, 0b11_00_00_00); // line 1 (odd bank): pixel 0
    b.mem_write(0xb8000 + 80, 0b01_00_00_00); // line 2: pixel 0
    let fb = b.render().clone();
    assert_eq!((fb.width, fb.height), (320, 200));
    let c1 = rgba(0, 255, 255);
    let c3 = b.vga.dac_color(0x17);
    let c2 = b.vga.dac_color(0x15);
    assert_eq!(fb.pixel(0, 0), c1);
    assert_eq!(fb.pixel(1, 0), BLACK);
    assert_eq!(fb.pixel(3, 0), c3);
    assert_eq!(fb.pixel(4, 0), c2);
    assert_eq!(fb.pixel(0, 1), c3);
    assert_eq!(fb.pixel(0, 2), c1);
}

/// Fills plane `p` at planar address `a` with `v` (map mask, write mode 0).
fn fill_planes(b: &mut Bench, addr: u64, values: [u8; 4]) {
    b.gc(GR_MODE as u8, 0);
    b.gc(GR_BIT_MASK as u8, 0xff);
    b.gc(GR_ENABLE_SET_RESET as u8, 0);
    b.gc(GR_DATA_ROTATE as u8, 0);
    for (p, v) in values.into_iter().enumerate() {
        b.seq(SR_MAP_MASK as u8, 1 << p);
        b.mem_write(addr, v);
    }
    b.seq(SR_MAP_MASK as u8, 0x0f);
}

fn planes(b: &Bench, planar: usize) -> [u8; 4] {
    let v = b.vga.vram();
    [v[planar * 4], v[planar * 4 + 1], v[planar * 4 + 2], v[planar * 4 + 3]]
}

#[test]
fn write_mode_1_copies_the_latches() {
    let mut b = Bench::new();
    b.set_mode(&MODE_12H);
    fill_planes(&mut b, 0xa0010, [0x12, 0x34, 0x56, 0x78]);
    b.mem_read(0xa0010);
    b.gc(GR_MODE as u8, 0x01);
    b.mem_write(0xa0020, 0xee); // data ignored
    assert_eq!(planes(&b, 0x20), [0x12, 0x34, 0x56, 0x78]);
    b.seq(SR_MAP_MASK as u8, 0x05);
    b.mem_write(0xa0021, 0);
    assert_eq!(planes(&b, 0x21), [0x12, 0, 0x56, 0]);
}

#[test]
fn write_mode_0_rotate_set_reset_logical_functions_and_bit_mask() {
    let mut b = Bench::new();
    b.set_mode(&MODE_12H);
    fill_planes(&mut b, 0xa0000, [0xf0, 0xf0, 0x0f, 0xff]);
    b.mem_read(0xa0000);
    // Rotate right by 4, XOR with the latches, planes 0 and 1 from set/reset (plane 0 = 1s).
    b.gc(GR_DATA_ROTATE as u8, 0x18 | 4);
    b.gc(GR_SET_RESET as u8, 0x01);
    b.gc(GR_ENABLE_SET_RESET as u8, 0x03);
    b.gc(GR_BIT_MASK as u8, 0x3c);
    b.mem_write(0xa0000, 0x0c); // rotated: 0xc0
    let bm = 0x3c;
    let expect = |data: u8, latch: u8| ((data ^ latch) & bm) | (latch & !bm);
    assert_eq!(planes(&b, 0), [expect(0xff, 0xf0), expect(0x00, 0xf0), expect(0xc0, 0x0f), expect(0xc0, 0xff)]);
    // AND and OR.
    fill_planes(&mut b, 0xa0001, [0xaa, 0xaa, 0xaa, 0xaa]);
    b.mem_read(0xa0001);
    b.gc(GR_DATA_ROTATE as u8, 0x08); // AND
    b.mem_write(0xa0001, 0x0f);
    assert_eq!(planes(&b, 1), [0x0a; 4]);
    b.mem_read(0xa0001);
    b.gc(GR_DATA_ROTATE as u8, 0x10); // OR
    b.mem_write(0xa0001, 0x50);
    assert_eq!(planes(&b, 1), [0x5a; 4]);
}

#[test]
fn write_mode_3_uses_set_reset_under_the_rotated_data_as_mask() {
    let mut b = Bench::new();
    b.set_mode(&MODE_12H);
    fill_planes(&mut b, 0xa0000, [0x00, 0xff, 0x00, 0xff]);
    b.mem_read(0xa0000);
    b.gc(GR_MODE as u8, 0x03);
    b.gc(GR_SET_RESET as u8, 0x05); // colour 5: planes 0 and 2
    b.gc(GR_BIT_MASK as u8, 0xf0);
    b.mem_write(0xa0000, 0x3c); // effective mask 0x3c & 0xf0 = 0x30
    assert_eq!(planes(&b, 0), [0x30, 0xcf, 0x30, 0xcf]);
    // Write mode 2 with the AND function.
    b.mem_read(0xa0000);
    b.gc(GR_MODE as u8, 0x02);
    b.gc(GR_DATA_ROTATE as u8, 0x08);
    b.gc(GR_BIT_MASK as u8, 0xff);
    b.mem_write(0xa0000, 0x03);
    assert_eq!(planes(&b, 0), [0x30, 0xcf, 0x00, 0x00]);
}

#[test]
fn read_modes_0_and_1() {
    let mut b = Bench::new();
    b.set_mode(&MODE_12H);
    fill_planes(&mut b, 0xa0005, [0b1100, 0b1010, 0b0110, 0b0000]);
    for p in 0..4 {
        b.gc(GR_READ_MAP_SELECT as u8, p);
        assert_eq!(b.mem_read(0xa0005), [0b1100, 0b1010, 0b0110, 0][p as usize]);
    }
    // Colour compare: bit 3 has colour 0b0011 (planes 0, 1), bit 2 0b0101, bit 1 0b0110.
    b.gc(GR_MODE as u8, 0x08);
    b.gc(GR_COLOR_COMPARE as u8, 0x03);
    b.gc(GR_COLOR_DONT_CARE as u8, 0x0f);
    assert_eq!(b.mem_read(0xa0005), 0b0000_1000);
    b.gc(GR_COLOR_DONT_CARE as u8, 0x01); // only plane 0 matters: bits with plane 0 set
    assert_eq!(b.mem_read(0xa0005), 0b0000_1100);
    b.gc(GR_COLOR_DONT_CARE as u8, 0x00); // nothing matters: all ones
    assert_eq!(b.mem_read(0xa0005), 0xff);
}

#[test]
fn dac_read_and_write_cycles_with_six_bit_values() {
    let mut b = Bench::new();
    b.out(DAC_WRITE_INDEX, 10);
    for v in [0x3f, 0x41, 0x22, 1, 2, 3] {
        b.out(DAC_DATA, v);
    }
    assert_eq!(b.inp(DAC_WRITE_INDEX), 12);
    assert_eq!(b.inp(DAC_READ_INDEX), 0x00);
    b.out(DAC_READ_INDEX, 10);
    assert_eq!(b.inp(DAC_READ_INDEX), 0x03);
    let got: Vec<u8> = (0..6).map(|_| b.inp(DAC_DATA)).collect();
    assert_eq!(got, [0x3f, 0x01, 0x22, 1, 2, 3]);
    // A new index restarts the three-byte cycle.
    b.out(DAC_WRITE_INDEX, 20);
    b.out(DAC_DATA, 5);
    b.out(DAC_WRITE_INDEX, 21);
    for v in [7, 8, 9] {
        b.out(DAC_DATA, v);
    }
    b.out(DAC_READ_INDEX, 21);
    assert_eq!([b.inp(DAC_DATA), b.inp(DAC_DATA), b.inp(DAC_DATA)], [7, 8, 9]);
    b.out(DAC_PEL_MASK, 0x0f);
    assert_eq!(b.inp(DAC_PEL_MASK), 0x0f);
}

#[test]
fn attribute_flip_flop_is_reset_by_input_status_1() {
    let mut b = Bench::new();
    b.inp(STATUS1_COLOR);
    b.out(AC_INDEX, 0x20 | 0x12); // index, display on
    b.out(AC_INDEX, 0x07); // data
    assert_eq!(b.inp(AC_INDEX), 0x32);
    assert_eq!(b.inp(AC_DATA_READ), 0x07);
    b.out(AC_INDEX, 0x11); // flip-flop is at index again: this is an index
    assert_eq!(b.inp(AC_INDEX), 0x11);
    b.inp(STATUS1_COLOR); // reset: next write is an index even though one is pending
    b.out(AC_INDEX, 0x20 | 0x01);
    b.out(AC_INDEX, 0x2a);
    assert_eq!(b.inp(AC_DATA_READ), 0x2a);
    // Palette address source clear blanks the screen.
    b.out(AC_INDEX, 0x00);
    b.put_char(0, 0xdb, 0x0f);
    assert_eq!(b.render().pixel(0, 0), BLACK);
}

#[test]
fn crtc_protect_bit_and_register_masks() {
    let mut b = Bench::new();
    b.set_mode(&MODE_03H); // CR11 bit 7 set
    b.crtc(0x01, 0x10);
    b.crtc(0x07, 0xff);
    b.out(CRTC_INDEX_COLOR, 0x01);
    assert_eq!(b.inp(CRTC_DATA_COLOR), 0x4f);
    b.out(CRTC_INDEX_COLOR, 0x07);
    assert_eq!(b.inp(CRTC_DATA_COLOR), 0x1f | 0x10);
    b.crtc(0x11, 0x0e);
    b.crtc(0x01, 0x10);
    b.out(CRTC_INDEX_COLOR, 0x01);
    assert_eq!(b.inp(CRTC_DATA_COLOR), 0x10);
    b.out(MISC_WRITE, 0x66);
    assert_eq!(b.inp(MISC_READ), 0x66);
    assert_eq!(b.inp(CRTC_DATA_COLOR), 0xff);
    b.out(CRTC_INDEX_MONO, 0x01);
    assert_eq!(b.inp(CRTC_DATA_MONO), 0x10);
    b.seq(SR_MAP_MASK as u8, 0xff);
    assert_eq!(b.inp(SEQ_DATA), 0x0f);
}

#[test]
fn input_status_1_toggles_retrace_and_display_enable_on_the_clock() {
    let mut b = Bench::new();
    b.set_mode(&MODE_03H);
    let (mut retrace, mut active, mut hblank) = (0, 0, 0);
    let frame = 449 * LINE_NS;
    for i in 0..2000u64 {
        b.clock.set(i * frame / 1000);
        let v = b.inp(STATUS1_COLOR);
        if v & STATUS1_VRETRACE != 0 {
            retrace += 1;
            assert_ne!(v & STATUS1_DISPLAY_DISABLED, 0, "retrace is blanked");
        } else if v & STATUS1_DISPLAY_DISABLED == 0 {
            active += 1;
        } else {
            hblank += 1;
        }
    }
    assert!(retrace > 0 && active > 1000 && hblank > 0, "{retrace} {active} {hblank}");
}

#[test]
fn vbe_mode_set_and_lfb_writes_at_32_and_16_bpp() {
    let mut b = Bench::new();
    b.dispi(VBE_DISPI_INDEX_ID, VBE_DISPI_ID5);
    assert_eq!(b.dispi_read(VBE_DISPI_INDEX_ID), VBE_DISPI_ID5);
    assert_eq!(b.dispi_read(VBE_DISPI_INDEX_VIDEO_MEMORY_64K), 256);
    b.dispi(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_GETCAPS);
    assert_eq!(b.dispi_read(VBE_DISPI_INDEX_XRES), VBE_DISPI_MAX_XRES);
    assert_eq!(b.dispi_read(VBE_DISPI_INDEX_BPP), 32);
    b.dispi(VBE_DISPI_INDEX_ENABLE, 0);
    b.dispi(VBE_DISPI_INDEX_XRES, 800);
    b.dispi(VBE_DISPI_INDEX_YRES, 600);
    b.dispi(VBE_DISPI_INDEX_BPP, 32);
    b.dispi(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
    assert_eq!(b.dispi_read(VBE_DISPI_INDEX_VIRT_WIDTH), 800);
    assert_eq!(b.dispi_read(VBE_DISPI_INDEX_VIRT_HEIGHT), ((16 << 20) / (800 * 4)) as u16);
    b.vga.write(REGION_LFB, (10 * 800 + 20) * 4, 4, 0x0012_3456);
    assert_eq!(b.vga.read(REGION_LFB, (10 * 800 + 20) * 4, 4), 0x0012_3456);
    let fb = b.render().clone();
    assert_eq!((fb.width, fb.height), (800, 600));
    assert_eq!(fb.pixel(20, 10), rgba(0x12, 0x34, 0x56));
    // Panning with the Y offset.
    b.dispi(VBE_DISPI_INDEX_Y_OFFSET, 10);
    assert_eq!(b.render().pixel(20, 0), rgba(0x12, 0x34, 0x56));
    // 16 bpp, 5-6-5.
    b.dispi(VBE_DISPI_INDEX_ENABLE, 0);
    b.dispi(VBE_DISPI_INDEX_XRES, 640);
    b.dispi(VBE_DISPI_INDEX_YRES, 480);
    b.dispi(VBE_DISPI_INDEX_BPP, 16);
    b.dispi(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
    assert_eq!(b.vga.read(REGION_LFB, (10 * 800 + 20) * 4, 4), 0, "enabling clears memory");
    b.vga.write(REGION_LFB, 2 * 641, 2, 0xf800); // red at (1, 1)
    b.vga.write(REGION_LFB, 0, 2, 0x07e0); // green at (0, 0)
    b.vga.write(REGION_LFB, 2, 2, 0x001f); // blue at (1, 0)
    let fb = b.render().clone();
    assert_eq!((fb.width, fb.height), (640, 480));
    assert_eq!(fb.pixel(1, 1), rgba(255, 0, 0));
    assert_eq!(fb.pixel(0, 0), rgba(0, 255, 0));
    assert_eq!(fb.pixel(1, 0), rgba(0, 0, 255));
    // 15 bpp.
    b.dispi(VBE_DISPI_INDEX_ENABLE, 0);
    b.dispi(VBE_DISPI_INDEX_BPP, 15);
    b.dispi(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_NOCLEARMEM);
    assert_eq!(b.render().pixel(1, 1), rgba(247, 0, 0)); // 0xf800 as 1-5-5-5: red 30, green 0
}

#[test]
fn vbe_banked_window_8bpp_with_dac_and_24bpp() {
    let mut b = Bench::new();
    b.dac(7, [63, 0, 63]);
    b.dispi(VBE_DISPI_INDEX_XRES, 1024);
    b.dispi(VBE_DISPI_INDEX_YRES, 768);
    b.dispi(VBE_DISPI_INDEX_BPP, 8);
    b.dispi(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED);
    b.dispi(VBE_DISPI_INDEX_BANK, 3);
    b.mem_write(0xa0000 + 5, 7); // byte 3 * 64K + 5 = (197, 192)
    let at = 3 * 65536 + 5;
    assert_eq!(b.vga.vram()[at], 7);
    assert_eq!(b.mem_read(0xa0005), 7);
    let fb = b.render().clone();
    assert_eq!(fb.pixel(at % 1024, at / 1024), rgba(255, 0, 255));
    // The 8-bit DAC switch keeps full 8-bit components.
    b.dispi(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_8BIT_DAC | VBE_DISPI_NOCLEARMEM);
    b.dac(7, [0x80, 0x81, 0x82]);
    assert_eq!(b.render().pixel(at % 1024, at / 1024), rgba(0x80, 0x81, 0x82));
    // 24 bpp with a virtual width.
    b.dispi(VBE_DISPI_INDEX_ENABLE, 0);
    b.dispi(VBE_DISPI_INDEX_BPP, 24);
    b.dispi(VBE_DISPI_INDEX_XRES, 320);
    b.dispi(VBE_DISPI_INDEX_YRES, 200);
    b.dispi(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
    b.dispi(VBE_DISPI_INDEX_VIRT_WIDTH, 400);
    let off = (2 * 400 + 3) * 3;
    for (i, v) in [0x30, 0x20, 0x10].into_iter().enumerate() {
        b.vga.write(REGION_LFB, off + i as u64, 1, v);
    }
    assert_eq!(b.render().pixel(3, 2), rgba(0x10, 0x20, 0x30));
    b.dispi(VBE_DISPI_INDEX_X_OFFSET, 3);
    assert_eq!(b.render().pixel(0, 2), rgba(0x10, 0x20, 0x30));
    // Disabling returns to the VGA picture.
    b.dispi(VBE_DISPI_INDEX_ENABLE, 0);
    b.set_mode(&MODE_03H);
    assert_eq!(b.render().width, 720);
}

#[test]
fn generation_changes_with_writes_and_blink_phases() {
    let mut b = Bench::new();
    let g0 = b.vga.generation();
    assert_eq!(b.vga.generation(), g0);
    b.put_char(0, b'x', 7);
    let g1 = b.vga.generation();
    assert_ne!(g1, g0);
    b.inp(STATUS1_COLOR);
    assert_eq!(b.vga.generation(), g1, "reads change nothing");
    b.clock.set(CURSOR_BLINK_NS);
    assert_ne!(b.vga.generation(), g1, "the cursor blinks");
}

#[test]
fn png_round_trip_and_checksums() {
    assert_eq!(png::crc32(b"123456789"), 0xcbf4_3926);
    assert_eq!(png::adler32(b"Wikipedia"), 0x11e6_0398);
    let mut b = Bench::new();
    b.put_char(0, b'O', 0x1e);
    b.put_char(1, b'K', 0x4f);
    let fb = b.render().clone();
    let bytes = encode_png(&fb);
    assert!(bytes.len() < 40_000, "text screens compress: {} bytes", bytes.len());
    assert_eq!(decode_png(&bytes).unwrap(), fb);
    let mut bad = bytes.clone();
    bad[40] ^= 1;
    assert!(decode_png(&bad).is_err());
    assert!(decode_png(b"not a png").is_err());
}

#[test]
fn attached_to_a_system_with_word_port_writes_and_the_window() {
    use emu_core::{ClockMode, System};
    let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
    let id = attach_vga(&mut sys).unwrap();
    map_lfb(&mut sys, id, LFB_DEFAULT_BASE).unwrap();
    sys.io_write(0x3c4, 2, 0x0402); // out dx, ax: map mask = 4 (index 2, data 4)
    sys.io_write(0x3c4, 1, 0x02);
    assert_eq!(sys.io_read(0x3c5, 1), 0x04);
    sys.io_write(0x3c4, 2, 0x0302);
    sys.write_phys(0xb8000, 2, 0x1f41);
    assert_eq!(sys.read_phys(0xb8000, 2), 0x1f41);
    sys.io_write(0x1ce, 2, 0);
    assert_eq!(sys.io_read(0x1cf, 2), VBE_DISPI_ID5 as u32);
    sys.write_phys(LFB_DEFAULT_BASE + 0x100, 4, 0xdead_beef);
    let vga = sys.device_mut::<Vga>(id).unwrap();
    assert_eq!(vga.vram()[0x100..0x104], [0xef, 0xbe, 0xad, 0xde]);
    assert_eq!(vga.lfb_size(), VRAM_SIZE as u64);
    let mut fb = Framebuffer::new();
    vga.render(&mut fb);
    assert_eq!((fb.width, fb.height), (720, 400));
    assert_eq!(fb.pixel(0, 0), BLUE); // 'A' on blue: top-left pixel is background
}

#[test]
fn power_on_font_has_printable_ascii_and_box_drawing() {
    for c in 0x21..0x7f {
        assert!(FONT_8X16[c * 16..c * 16 + 16].iter().any(|&r| r != 0), "glyph {c:#x} is blank");
    }
    for c in 0xb0..=0xdf {
        assert!(FONT_8X16[c * 16..c * 16 + 16].iter().any(|&r| r != 0), "glyph {c:#x} is blank");
    }
    // Horizontal box lines reach the right edge so the ninth column continues them.
    assert_eq!(FONT_8X16[0xc4 * 16 + 7], 0xff);
    assert_eq!(FONT_8X16[0xcd * 16 + 6], 0xff);
}

#[test]
fn pci_function_maps_the_lfb_where_bar_0_points() {
    use crate::pci::{map_pci_bus, PciBus};
    use emu_core::{ClockMode, System};
    let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
    let id = attach_vga(&mut sys).unwrap();
    let mut bus = PciBus::new(sys.lines.clone());
    bus.add_function(2, 0, Box::new(VgaPci::new(id, None)));
    let pci = sys.add_device(Box::new(bus));
    map_pci_bus(&mut sys, pci).unwrap();
    let addr = 0x8000_0000u32 | 2 << 11;
    sys.io_write(0xcf8, 4, addr);
    assert_eq!(sys.io_read(0xcfc, 4), 0x1111_1234);
    sys.io_write(0xcf8, 4, addr | 0x08);
    assert_eq!(sys.io_read(0xcfc, 4) >> 8, PCI_CLASS);
    // BAR 0: 16 MiB of prefetchable memory.
    sys.io_write(0xcf8, 4, addr | 0x10);
    sys.io_write(0xcfc, 4, 0xffff_ffff);
    assert_eq!(sys.io_read(0xcfc, 4), 0xff00_0008);
    sys.io_write(0xcfc, 4, 0xfd00_0000);
    sys.io_write(0xcf8, 4, addr | 0x04);
    sys.io_write(0xcfc, 2, 0x0003);
    sys.write_phys(0xfd00_0010, 4, 0x1234_5678);
    assert_eq!(sys.device_mut::<Vga>(id).unwrap().vram()[0x10..0x14], [0x78, 0x56, 0x34, 0x12]);
    assert_eq!(sys.read_phys(0xfd00_0010, 4), 0x1234_5678);

    // Pre-assigned at the default address: mapped by the first remap the board applies.
    let mut sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
    let id = attach_vga(&mut sys).unwrap();
    let mut bus = PciBus::new(sys.lines.clone());
    bus.add_function(2, 0, Box::new(VgaPci::new(id, Some(LFB_DEFAULT_BASE as u32))));
    let pci = sys.add_device(Box::new(bus));
    map_pci_bus(&mut sys, pci).unwrap();
    sys.io_write(0xcf8, 4, addr | 0x10);
    assert_eq!(sys.io_read(0xcfc, 4), LFB_DEFAULT_BASE as u32 | 0x8);
    sys.write_phys(LFB_DEFAULT_BASE, 2, 0xbeef);
    assert_eq!(sys.device_mut::<Vga>(id).unwrap().vram()[..2], [0xef, 0xbe]);
}
