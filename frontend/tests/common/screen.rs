//! The text on a text-mode screenshot (9x16 character cells, e.g. 720x400 for 80x25), read back
//! with the font the screen was drawn in: emu's own 8x16 font ([`FONT_8X16`], what emu's BIOS
//! leaves in plane 2) or one a VGA BIOS loaded, such as SeaBIOS's ([`vga_bios_font`]). Each cell
//! is split into background (its most common colour) and foreground pixels and reads as the
//! printable ASCII glyph nearest to that shape.

use emu_devices::vga::font::{FONT_8X16, GLYPH_HEIGHT};
use emu_devices::vga::Framebuffer;

/// Width of a text-mode character cell in pixels (8 font columns and the 9th).
pub const CELL_WIDTH: usize = 9;

/// The screen's text in emu's own font, one line per row of cells, trailing blanks kept.
pub fn screen_text(fb: &Framebuffer) -> String {
    screen_text_in(fb, &FONT_8X16)
}

/// [`screen_text`] for a screen drawn in `font` (256 glyphs of 16 bytes), e.g. the IBM VGA font
/// of SeaBIOS's VGA BIOS ([`vga_bios_font`]), which differs from emu's too much for the nearest
/// glyph of emu's font to be the right character.
pub fn screen_text_in(fb: &Framebuffer, font: &[u8]) -> String {
    assert_eq!(font.len(), 256 * GLYPH_HEIGHT, "an 8x16 font has 256 glyphs of 16 bytes");
    let (cols, rows) = (fb.width / CELL_WIDTH, fb.height / GLYPH_HEIGHT);
    let mut text = String::with_capacity(rows * (cols + 1));
    for row in 0..rows {
        for col in 0..cols {
            let px = |x: usize, y: usize| fb.pixels[(row * GLYPH_HEIGHT + y) * fb.width + col * CELL_WIDTH + x];
            text.push(cell_char(&px, font));
        }
        text.push('\n');
    }
    text
}

/// The character in one cell, `px(x, y)` giving its pixels.
fn cell_char<P: PartialEq + Copy>(px: &impl Fn(usize, usize) -> P, font: &[u8]) -> char {
    // The background: the colour of most of the cell's 8x16 font area.
    let mut counts: Vec<(P, usize)> = Vec::new();
    for y in 0..GLYPH_HEIGHT {
        for x in 0..8 {
            match counts.iter_mut().find(|(c, _)| *c == px(x, y)) {
                Some((_, n)) => *n += 1,
                None => counts.push((px(x, y), 1)),
            }
        }
    }
    let background = counts.iter().max_by_key(|(_, n)| *n).map(|(c, _)| *c).unwrap();
    let shape: Vec<u8> = (0..GLYPH_HEIGHT)
        .map(|y| (0..8).fold(0u8, |row, x| row | (u8::from(px(x, y) != background) << (7 - x))))
        .collect();
    if shape.iter().all(|&r| r == 0) {
        return ' ';
    }
    let distance = |c: u8| -> u32 {
        let glyph = &font[c as usize * GLYPH_HEIGHT..(c as usize + 1) * GLYPH_HEIGHT];
        glyph.iter().zip(&shape).map(|(g, s)| (g ^ s).count_ones()).sum()
    };
    let best = (0x21u8..0x7f).min_by_key(|&c| distance(c)).unwrap();
    // A shape far from every printable glyph (box drawing, a cursor block) is not text.
    if distance(best) > 12 {
        '#'
    } else {
        best as char
    }
}

/// The 8x16 font in a VGA BIOS image that carries the IBM VGA font (SeaBIOS's VGA BIOS does),
/// found by its first glyphs: 00h blank, then the smiley face 01h.
pub fn vga_bios_font(rom: &[u8]) -> Option<&[u8]> {
    const BLANK_AND_SMILEY: [u8; 32] = [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
        0x00, 0x00, 0x7e, 0x81, 0xa5, 0x81, 0x81, 0xbd, 0x99, 0x81, 0x81, 0x7e, 0x00, 0x00, 0x00, 0x00,
    ];
    let at = rom.windows(BLANK_AND_SMILEY.len()).position(|w| w == BLANK_AND_SMILEY)?;
    rom.get(at..at + 256 * GLYPH_HEIGHT)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws `s` with emu's font, white on blue, and reads it back.
    #[test]
    fn reads_back_what_the_font_draws() {
        let s = "EMU-LINUX-DONE 42";
        let (w, h) = (s.len() * CELL_WIDTH, GLYPH_HEIGHT);
        let mut pixels = vec![0x0000aa_u32; w * h];
        for (i, c) in s.bytes().enumerate() {
            for y in 0..GLYPH_HEIGHT {
                let bits = FONT_8X16[c as usize * GLYPH_HEIGHT + y];
                for x in 0..8 {
                    if bits & (0x80 >> x) != 0 {
                        pixels[y * w + i * CELL_WIDTH + x] = 0xffffff;
                    }
                }
            }
        }
        let pixels = &pixels;
        let cell = |i: usize| move |x: usize, y: usize| pixels[y * w + i * CELL_WIDTH + x];
        let read: String = (0..s.len()).map(|i| cell_char(&cell(i), &FONT_8X16)).collect();
        assert_eq!(read, s);
    }
}
