//! INT 10h, video services, on a VGA with the Bochs VBE extensions: mode sets by programming the
//! VGA registers (the standard register tables of modes 03h, 12h and 13h from `vga::regs`), text output straight
//! into text memory, the cursor through the CRTC, and VBE 2.0 functions 4F00h-4F03h through the
//! Bochs dispi registers (0x1CE/0x1CF).
//!
//! Text output (teletype, write character, scrolling) is implemented for the text modes; in
//! graphics modes those calls do nothing yet.

use super::{bda, lin, rd16, rd8, wr16, wr32, wr8, Next, Regs};
use super::{rom::VBE_OEM_STRING, BIOS_SEGMENT};
use crate::vga::{ModeRegs, MODE_03H, MODE_12H, MODE_13H};
use emu_core::System;

const TEXT_BASE: u64 = 0xb8000;
const CRTC: u16 = 0x3d4;

fn program(sys: &mut System, m: &ModeRegs) {
    sys.io_write(0x3c2, 1, m.misc as u32);
    for (i, &v) in m.seq.iter().enumerate() {
        sys.io_write(0x3c4, 1, i as u32);
        sys.io_write(0x3c5, 1, v as u32);
    }
    // Unlock CRTC registers 0-7 (protect bit in register 11h), then write them all.
    sys.io_write(CRTC, 1, 0x11);
    sys.io_write(CRTC + 1, 1, 0);
    for (i, &v) in m.crtc.iter().enumerate() {
        sys.io_write(CRTC, 1, i as u32);
        sys.io_write(CRTC + 1, 1, v as u32);
    }
    for (i, &v) in m.gc.iter().enumerate() {
        sys.io_write(0x3ce, 1, i as u32);
        sys.io_write(0x3cf, 1, v as u32);
    }
    sys.io_read(0x3da, 1); // reset the attribute flip-flop
    for (i, &v) in m.ac.iter().enumerate() {
        sys.io_write(0x3c0, 1, i as u32);
        sys.io_write(0x3c0, 1, v as u32);
    }
    sys.io_write(0x3c0, 1, 0x20); // palette address source: display on
}

/// Loads the DAC: the EGA 64-colour palette for 16-colour modes, a 256-colour one for 13h.
fn load_dac(sys: &mut System, vga256: bool) {
    sys.io_write(0x3c8, 1, 0);
    for i in 0..256u32 {
        let rgb = if vga256 {
            dac_256(i)
        } else {
            let i = i & 63;
            let c = |hi: u32, lo: u32| ((i >> hi) & 1) * 0x2a + ((i >> lo) & 1) * 0x15;
            [c(2, 5), c(1, 4), c(0, 3)]
        };
        for v in rgb {
            sys.io_write(0x3c9, 1, v);
        }
    }
}

/// The default 256-colour palette: the 16 CGA colours, 16 greys, then a 6x6x6 colour cube.
fn dac_256(i: u32) -> [u32; 3] {
    match i {
        0..=15 => {
            let c = |bit: u32| ((i >> bit) & 1) * 0x2a + ((i >> 3) & 1) * 0x15;
            if i == 6 {
                [0x2a, 0x15, 0]
            } else {
                [c(2), c(1), c(0)]
            }
        }
        16..=31 => {
            let g = (i - 16) * 63 / 15;
            [g, g, g]
        }
        _ => {
            let n = (i - 32) % 216;
            let s = |v: u32| v * 63 / 5;
            [s(n / 36), s(n / 6 % 6), s(n % 6)]
        }
    }
}

/// Sets a standard VGA mode (03h, 12h, 13h; 00h-02h and 07h fall back to 03h) and the BDA.
pub(super) fn set_mode(sys: &mut System, mode: u8) -> bool {
    let clear = mode & 0x80 == 0;
    let mode = mode & 0x7f;
    let (regs, cols, rows, text) = match mode {
        0x00..=0x03 | 0x07 => (&MODE_03H, 80u16, 25u8, true),
        0x12 => (&MODE_12H, 80, 30, false),
        0x13 => (&MODE_13H, 40, 25, false),
        _ => return false,
    };
    vbe_disable(sys);
    program(sys, regs);
    load_dac(sys, mode == 0x13);
    if clear {
        if text {
            for off in (0..0x8000u64).step_by(2) {
                wr16(sys, TEXT_BASE + off, 0x0720);
            }
        } else {
            // Clear all planes through the window: map mask 0Fh is set by the mode.
            for off in (0..0x10000u64).step_by(4) {
                sys.write_phys(0xa0000 + off, 4, 0);
            }
        }
    }
    wr8(sys, bda::VIDEO_MODE, if text { 0x03 } else { mode });
    wr16(sys, bda::VIDEO_COLUMNS, cols);
    wr16(sys, bda::VIDEO_PAGE_SIZE, if text { 0x1000 } else { 0 });
    wr16(sys, bda::VIDEO_PAGE_OFFSET, 0);
    for p in 0..8 {
        wr16(sys, bda::CURSOR_POS + 2 * p, 0);
    }
    wr16(sys, bda::CURSOR_SHAPE, 0x0d0e);
    wr8(sys, bda::VIDEO_PAGE, 0);
    wr16(sys, bda::CRTC_BASE, CRTC);
    wr8(sys, bda::VIDEO_ROWS, rows - 1);
    wr8(sys, bda::CHAR_HEIGHT, 16);
    set_cursor_shape(sys, 0x0d, 0x0e);
    update_cursor(sys);
    true
}

fn text_mode(sys: &mut System) -> bool {
    rd8(sys, bda::VIDEO_MODE) <= 3 || rd8(sys, bda::VIDEO_MODE) == 7
}

fn cols(sys: &mut System) -> u16 {
    rd16(sys, bda::VIDEO_COLUMNS).max(1)
}

fn rows(sys: &mut System) -> u16 {
    rd8(sys, bda::VIDEO_ROWS) as u16 + 1
}

fn cursor(sys: &mut System, page: u8) -> (u16, u16) {
    let v = rd16(sys, bda::CURSOR_POS + 2 * (page as u64 & 7));
    (v >> 8, v & 0xff)
}

fn set_cursor(sys: &mut System, page: u8, row: u16, col: u16) {
    wr16(sys, bda::CURSOR_POS + 2 * (page as u64 & 7), row << 8 | col);
    if page == rd8(sys, bda::VIDEO_PAGE) {
        update_cursor(sys);
    }
}

fn crtc_write(sys: &mut System, reg: u8, v: u8) {
    sys.io_write(CRTC, 1, reg as u32);
    sys.io_write(CRTC + 1, 1, v as u32);
}

fn update_cursor(sys: &mut System) {
    let page = rd8(sys, bda::VIDEO_PAGE);
    let (row, col) = cursor(sys, page);
    let pos = rd16(sys, bda::VIDEO_PAGE_OFFSET) / 2 + row * cols(sys) + col;
    crtc_write(sys, 0x0e, (pos >> 8) as u8);
    crtc_write(sys, 0x0f, pos as u8);
}

fn set_cursor_shape(sys: &mut System, start: u8, end: u8) {
    crtc_write(sys, 0x0a, start);
    crtc_write(sys, 0x0b, end);
}

fn cell(sys: &mut System, page: u8, row: u16, col: u16) -> u64 {
    let page_size = rd16(sys, bda::VIDEO_PAGE_SIZE) as u64;
    TEXT_BASE + page as u64 * page_size + 2 * (row as u64 * cols(sys) as u64 + col as u64)
}

/// Scrolls the window (top,left)-(bottom,right) of the active page up (or down) by `n` lines,
/// filling with blanks of attribute `attr`; `n == 0` clears the window.
fn scroll(sys: &mut System, up: bool, n: u16, attr: u8, (top, left): (u16, u16), (bottom, right): (u16, u16)) {
    let page = rd8(sys, bda::VIDEO_PAGE);
    let (bottom, right) = (bottom.min(rows(sys) - 1), right.min(cols(sys) - 1));
    if top > bottom || left > right {
        return;
    }
    let height = bottom - top + 1;
    let n = if n == 0 || n > height { height } else { n };
    let blank = (attr as u16) << 8 | b' ' as u16;
    for i in 0..height {
        let row = if up { top + i } else { bottom - i };
        let from = if up { row + n } else { row.wrapping_sub(n) };
        let inside = if up { from <= bottom } else { i + n < height };
        for col in left..=right {
            let v = if inside {
                let a = cell(sys, page, from, col);
                rd16(sys, a)
            } else {
                blank
            };
            let a = cell(sys, page, row, col);
            wr16(sys, a, v);
        }
    }
}

/// Teletype output of one character on `page` (BEL, BS, LF, CR interpreted; scrolls).
fn teletype(sys: &mut System, page: u8, ch: u8, attr: Option<u8>) {
    if !text_mode(sys) {
        return;
    }
    let (mut row, mut col) = cursor(sys, page);
    let (ncols, nrows) = (cols(sys), rows(sys));
    match ch {
        7 => {}
        8 => col = col.saturating_sub(1),
        b'\n' => row += 1,
        b'\r' => col = 0,
        _ => {
            let a = cell(sys, page, row, col);
            wr8(sys, a, ch);
            if let Some(attr) = attr {
                wr8(sys, a + 1, attr);
            }
            col += 1;
        }
    }
    if col >= ncols {
        col = 0;
        row += 1;
    }
    if row >= nrows {
        // Scroll up keeping the attribute of the last line's first cell.
        let last = cell(sys, page, nrows - 1, 0);
        let attr = rd8(sys, last + 1);
        scroll(sys, true, 1, attr, (0, 0), (nrows - 1, ncols - 1));
        row = nrows - 1;
    }
    set_cursor(sys, page, row, col);
}

/// Prints text on the active page (for POST messages).
pub(super) fn print(sys: &mut System, text: &str) {
    let page = rd8(sys, bda::VIDEO_PAGE);
    for b in text.bytes() {
        teletype(sys, page, b, None);
    }
}

/// INT 10h.
pub(super) fn int10(sys: &mut System, regs: &mut Regs) -> Next {
    match regs.ah() {
        0x00 => {
            set_mode(sys, regs.al());
            regs.set_al(if regs.al() & 0x7f == 0x13 { 0x20 } else { 0x30 });
        }
        0x01 => {
            wr16(sys, bda::CURSOR_SHAPE, regs.cx());
            set_cursor_shape(sys, regs.ch(), regs.cl());
        }
        0x02 => set_cursor(sys, regs.bh(), regs.dh() as u16, regs.dl() as u16),
        0x03 => {
            let (row, col) = cursor(sys, regs.bh());
            regs.set_dx(row << 8 | col);
            regs.set_cx(rd16(sys, bda::CURSOR_SHAPE));
        }
        0x05 => {
            let page = regs.al() & 7;
            wr8(sys, bda::VIDEO_PAGE, page);
            let offset = page as u16 * rd16(sys, bda::VIDEO_PAGE_SIZE);
            wr16(sys, bda::VIDEO_PAGE_OFFSET, offset);
            crtc_write(sys, 0x0c, ((offset / 2) >> 8) as u8);
            crtc_write(sys, 0x0d, (offset / 2) as u8);
            update_cursor(sys);
        }
        0x06 | 0x07 => scroll(
            sys,
            regs.ah() == 6,
            regs.al() as u16,
            regs.bh(),
            (regs.ch() as u16, regs.cl() as u16),
            (regs.dh() as u16, regs.dl() as u16),
        ),
        0x08 => {
            let (row, col) = cursor(sys, regs.bh());
            let a = cell(sys, regs.bh(), row, col);
            regs.set_ax(rd16(sys, a));
        }
        0x09 | 0x0a => {
            let page = regs.bh();
            let (row, mut col) = cursor(sys, page);
            let mut r = row;
            for _ in 0..regs.cx() {
                if r >= rows(sys) {
                    break;
                }
                let a = cell(sys, page, r, col);
                wr8(sys, a, regs.al());
                if regs.ah() == 0x09 {
                    wr8(sys, a + 1, regs.bl());
                }
                col += 1;
                if col >= cols(sys) {
                    col = 0;
                    r += 1;
                }
            }
        }
        0x0e => {
            let page = rd8(sys, bda::VIDEO_PAGE);
            teletype(sys, page, regs.al(), None)
        }
        0x0f => {
            regs.set_al(rd8(sys, bda::VIDEO_MODE));
            regs.set_ah(cols(sys) as u8);
            regs.set_bh(rd8(sys, bda::VIDEO_PAGE));
        }
        0x10 => palette(sys, regs),
        0x11 if regs.al() == 0x30 => {
            regs.set_cx(16);
            regs.set_dl(rd8(sys, bda::VIDEO_ROWS));
        }
        0x12 if regs.bl() == 0x10 => {
            regs.set_bx(0x0003); // colour, 256 KiB
            regs.set_cx(0);
        }
        0x13 => {
            // Write string ES:BP, CX chars, at DH,DL on page BH; AL bit 0: update the cursor,
            // bit 1: the string alternates characters and attributes.
            let (page, mode) = (regs.bh(), regs.al());
            let saved = cursor(sys, page);
            set_cursor(sys, page, regs.dh() as u16, regs.dl() as u16);
            let mut off = regs.bp();
            for _ in 0..regs.cx() {
                let ch = rd8(sys, lin(regs.es(), off));
                let attr = if mode & 2 != 0 {
                    off = off.wrapping_add(1);
                    rd8(sys, lin(regs.es(), off))
                } else {
                    regs.bl()
                };
                off = off.wrapping_add(1);
                teletype(sys, page, ch, Some(attr));
            }
            if mode & 1 == 0 {
                set_cursor(sys, page, saved.0, saved.1);
            }
        }
        0x1a if regs.al() == 0 => {
            regs.set_al(0x1a);
            regs.set_bx(0x0008); // VGA with colour display
        }
        0x4f => vbe(sys, regs),
        _ => {}
    }
    Next::Return
}

fn palette(sys: &mut System, regs: &mut Regs) {
    let attr_write = |sys: &mut System, index: u8, v: u8| {
        sys.io_read(0x3da, 1);
        sys.io_write(0x3c0, 1, index as u32);
        sys.io_write(0x3c0, 1, v as u32);
        sys.io_write(0x3c0, 1, 0x20);
    };
    match regs.al() {
        0x00 => attr_write(sys, regs.bl() & 0x0f, regs.bh()),
        0x01 => attr_write(sys, 0x11, regs.bh()),
        0x02 => {
            for i in 0..17u16 {
                let v = rd8(sys, lin(regs.es(), regs.dx().wrapping_add(i)));
                attr_write(sys, if i == 16 { 0x11 } else { i as u8 }, v);
            }
        }
        0x03 => {
            sys.io_read(0x3da, 1);
            sys.io_write(0x3c0, 1, 0x30);
            let mode = sys.io_read(0x3c1, 1) as u8;
            let mode = if regs.bl() == 0 { mode & !0x08 } else { mode | 0x08 };
            sys.io_write(0x3c0, 1, mode as u32);
            sys.io_write(0x3c0, 1, 0x20);
        }
        0x10 => {
            sys.io_write(0x3c8, 1, regs.bl() as u32);
            for v in [regs.dh(), regs.ch(), regs.cl()] {
                sys.io_write(0x3c9, 1, v as u32);
            }
        }
        0x12 => {
            sys.io_write(0x3c8, 1, regs.bl() as u32);
            for i in 0..regs.cx() as u32 * 3 {
                let v = rd8(sys, lin(regs.es(), regs.dx().wrapping_add(i as u16)));
                sys.io_write(0x3c9, 1, v as u32);
            }
        }
        0x15 => {
            sys.io_write(0x3c7, 1, regs.bl() as u32);
            let r = sys.io_read(0x3c9, 1) as u8;
            let g = sys.io_read(0x3c9, 1) as u8;
            let b = sys.io_read(0x3c9, 1) as u8;
            regs.set_dh(r);
            regs.set_ch(g);
            regs.set_cl(b);
        }
        0x17 => {
            sys.io_write(0x3c7, 1, regs.bl() as u32);
            for i in 0..regs.cx() as u32 * 3 {
                let v = sys.io_read(0x3c9, 1) as u8;
                wr8(sys, lin(regs.es(), regs.dx().wrapping_add(i as u16)), v);
            }
        }
        _ => {}
    }
}

// ---- VBE --------------------------------------------------------------------------------------

const DISPI_INDEX: u16 = 0x1ce;
const DISPI_DATA: u16 = 0x1cf;
const DISPI_ID: u16 = 0;
const DISPI_XRES: u16 = 1;
const DISPI_YRES: u16 = 2;
const DISPI_BPP: u16 = 3;
const DISPI_ENABLE: u16 = 4;
const DISPI_VIDEO_MEMORY_64K: u16 = 0xa;
const DISPI_ENABLED: u16 = 0x01;
const DISPI_LFB: u16 = 0x40;
const DISPI_NOCLEAR: u16 = 0x80;
/// Where the linear framebuffer is when no PCI BAR says otherwise.
const DEFAULT_LFB: u32 = 0xe000_0000;

/// The VBE modes offered: (number, width, height, bits per pixel).
const VBE_MODES: &[(u16, u16, u16, u8)] = &[
    (0x101, 640, 480, 8),
    (0x103, 800, 600, 8),
    (0x105, 1024, 768, 8),
    (0x111, 640, 480, 16),
    (0x114, 800, 600, 16),
    (0x117, 1024, 768, 16),
    (0x112, 640, 480, 32),
    (0x115, 800, 600, 32),
    (0x118, 1024, 768, 32),
];

fn dispi(sys: &mut System, index: u16) -> u16 {
    sys.io_write(DISPI_INDEX, 2, index as u32);
    sys.io_read(DISPI_DATA, 2) as u16
}

fn set_dispi(sys: &mut System, index: u16, v: u16) {
    sys.io_write(DISPI_INDEX, 2, index as u32);
    sys.io_write(DISPI_DATA, 2, v as u32);
}

fn vbe_present(sys: &mut System) -> bool {
    (0xb0c0..=0xb0cf).contains(&dispi(sys, DISPI_ID))
}

fn vbe_disable(sys: &mut System) {
    if vbe_present(sys) {
        set_dispi(sys, DISPI_ENABLE, 0);
    }
}

/// The linear framebuffer's address: BAR 0 of the Bochs VGA PCI function (1234:1111) if there
/// is one, else the default.
fn lfb_address(sys: &mut System) -> u32 {
    for dev in 0..32u32 {
        let addr = 0x8000_0000 | dev << 11;
        sys.io_write(0xcf8, 4, addr);
        if sys.io_read(0xcfc, 4) == 0x1111_1234 {
            sys.io_write(0xcf8, 4, addr | 0x10);
            return sys.io_read(0xcfc, 4) & !0xf;
        }
    }
    DEFAULT_LFB
}

fn vbe(sys: &mut System, regs: &mut Regs) {
    if !vbe_present(sys) {
        regs.set_ax(0x014f); // function failed
        return;
    }
    let at = lin(regs.es(), regs.di());
    let ok = match regs.al() {
        0x00 => {
            let vbe2 = sys.read_phys(at, 4) == u32::from_le_bytes(*b"VBE2");
            let size = if vbe2 { 512 } else { 256 };
            for i in 0..size {
                wr8(sys, at + i, 0);
            }
            sys.write_bytes(at, b"VESA");
            wr16(sys, at + 4, 0x0200);
            wr32(sys, at + 6, (BIOS_SEGMENT as u32) << 16 | VBE_OEM_STRING as u32);
            wr32(sys, at + 10, 0); // capabilities: fixed 6-bit DAC
                                   // The mode list lives in the block's reserved area, at offset 0x22.
            let list = regs.di().wrapping_add(0x22);
            wr32(sys, at + 14, (regs.es() as u32) << 16 | list as u32);
            let total = dispi(sys, DISPI_VIDEO_MEMORY_64K).max(1);
            wr16(sys, at + 18, total);
            for (i, m) in VBE_MODES.iter().enumerate() {
                wr16(sys, lin(regs.es(), list) + 2 * i as u64, m.0);
            }
            wr16(sys, lin(regs.es(), list) + 2 * VBE_MODES.len() as u64, 0xffff);
            true
        }
        0x01 => match VBE_MODES.iter().find(|m| m.0 == regs.cx() & 0x1ff) {
            Some(&(_, w, h, bpp)) => {
                for i in 0..256 {
                    wr8(sys, at + i, 0);
                }
                let pitch = w * (bpp as u16).div_ceil(8);
                wr16(sys, at, 0x009b); // supported, colour, graphics, LFB
                wr8(sys, at + 2, 0x07); // window A: exists, readable, writable
                wr16(sys, at + 4, 64); // granularity, KiB
                wr16(sys, at + 6, 64); // window size, KiB
                wr16(sys, at + 8, 0xa000);
                wr16(sys, at + 16, pitch);
                wr16(sys, at + 18, w);
                wr16(sys, at + 20, h);
                wr8(sys, at + 22, 8);
                wr8(sys, at + 23, 16);
                wr8(sys, at + 24, 1); // planes
                wr8(sys, at + 25, bpp);
                wr8(sys, at + 26, 1); // banks
                wr8(sys, at + 27, if bpp == 8 { 4 } else { 6 }); // packed pixel / direct colour
                let mem = dispi(sys, DISPI_VIDEO_MEMORY_64K).max(1) as u32 * 65536;
                wr8(sys, at + 29, (mem / (pitch as u32 * h as u32)).saturating_sub(1).min(255) as u8);
                wr8(sys, at + 30, 1); // reserved, 1
                let masks: [u8; 8] = match bpp {
                    16 => [5, 11, 6, 5, 5, 0, 0, 0],
                    32 => [8, 16, 8, 8, 8, 0, 8, 24],
                    _ => [0; 8],
                };
                for (i, v) in masks.iter().enumerate() {
                    wr8(sys, at + 31 + i as u64, *v);
                }
                let lfb = lfb_address(sys);
                wr32(sys, at + 40, lfb);
                wr16(sys, at + 50, pitch); // linear bytes per scan line
                true
            }
            None => false,
        },
        0x02 => {
            let mode = regs.bx() & 0x1ff;
            if mode < 0x100 {
                set_mode(sys, mode as u8 | if regs.bx() & 0x8000 != 0 { 0x80 } else { 0 })
            } else if let Some(&(_, w, h, bpp)) = VBE_MODES.iter().find(|m| m.0 == mode) {
                set_dispi(sys, DISPI_ENABLE, 0);
                set_dispi(sys, DISPI_XRES, w);
                set_dispi(sys, DISPI_YRES, h);
                set_dispi(sys, DISPI_BPP, bpp as u16);
                let lfb = if regs.bx() & 0x4000 != 0 { DISPI_LFB } else { 0 };
                let keep = if regs.bx() & 0x8000 != 0 { DISPI_NOCLEAR } else { 0 };
                set_dispi(sys, DISPI_ENABLE, DISPI_ENABLED | lfb | keep);
                wr8(sys, bda::VIDEO_MODE, 0xff);
                wr16(sys, 0x4ba, mode); // current VBE mode, kept in the BDA's spare bytes
                true
            } else {
                false
            }
        }
        0x03 => {
            let enabled = dispi(sys, DISPI_ENABLE) & DISPI_ENABLED != 0;
            regs.set_bx(if enabled { rd16(sys, 0x4ba) } else { rd8(sys, bda::VIDEO_MODE) as u16 });
            true
        }
        _ => false,
    };
    regs.set_ax(if ok { 0x004f } else { 0x014f });
}
