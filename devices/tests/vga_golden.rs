//! Golden screenshot of the VGA's text mode: a screen written through the memory window and the
//! registers, rendered and compared pixel by pixel with `tests/golden/vga_text_80x25.png`.
//! Run with `EMU_BLESS=1` to rewrite the golden file after an intended change.

use std::path::PathBuf;

use emu_core::{ClockHandle, Device};
use emu_devices::vga::{decode_png, save_png, Framebuffer, Vga, REGION_VGA_PORTS, REGION_WINDOW, WINDOW_BASE};

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/vga_text_80x25.png")
}

/// Writes `text` at (col, row) of the 80x25 screen in attribute `attr`.
fn print(vga: &mut Vga, col: usize, row: usize, text: &[u8], attr: u8) {
    for (i, &ch) in text.iter().enumerate() {
        let at = 0xb8000 - WINDOW_BASE + 2 * (row * 80 + col + i) as u64;
        vga.write(REGION_WINDOW, at, 2, (attr as u32) << 8 | ch as u32);
    }
}

fn port(vga: &mut Vga, port: u16, v: u8) {
    vga.write(REGION_VGA_PORTS, (port - 0x3b0) as u64, 1, v as u32);
}

/// The power-on VGA (mode 03h, emu's font) showing a framed title, the 16 colours, the printable
/// ASCII range, box drawing and a cursor.
fn screen() -> Framebuffer {
    let mut vga = Vga::new(ClockHandle::manual());
    let top = [&[0xc9u8][..], &[0xcd; 40], &[0xbb]].concat();
    let mid = [&[0xbau8][..], &[b' '; 40], &[0xba]].concat();
    let bottom = [&[0xc8u8][..], &[0xcd; 40], &[0xbc]].concat();
    print(&mut vga, 19, 1, &top, 0x1f);
    print(&mut vga, 19, 2, &mid, 0x1f);
    print(&mut vga, 19, 3, &bottom, 0x1f);
    print(&mut vga, 22, 2, b"emu VGA: text mode 03h, 80x25, 9x16", 0x1e);
    for a in 0..16u8 {
        print(&mut vga, 4 + a as usize * 4, 5, b" Ab ", a << 4 | (15 - a));
    }
    let ascii: Vec<u8> = (0x20..0x7f).collect();
    print(&mut vga, 0, 7, &ascii[..64], 0x07);
    print(&mut vga, 0, 8, &ascii[64..], 0x0a);
    let boxes: Vec<u8> = (0xb0..=0xdf).collect();
    print(&mut vga, 0, 10, &boxes, 0x0b);
    print(
        &mut vga,
        0,
        12,
        b"\xda\xc4\xc4\xc2\xc4\xc4\xbf  \xc9\xcd\xcd\xcb\xcd\xcd\xbb  \xd5\xcd\xd1\xcd\xb8  \xd6\xc4\xd2\xc4\xb7",
        0x0e,
    );
    print(
        &mut vga,
        0,
        13,
        b"\xc3\xc4\xc4\xc5\xc4\xc4\xb4  \xcc\xcd\xcd\xce\xcd\xcd\xb9  \xc6\xcd\xd8\xcd\xb5  \xc7\xc4\xd7\xc4\xb6",
        0x0e,
    );
    print(
        &mut vga,
        0,
        14,
        b"\xc0\xc4\xc4\xc1\xc4\xc4\xd9  \xc8\xcd\xcd\xca\xcd\xcd\xbc  \xd4\xcd\xcf\xcd\xbe  \xd3\xc4\xd0\xc4\xbd",
        0x0e,
    );
    print(&mut vga, 0, 16, b"C:\\> _", 0x07);
    print(&mut vga, 0, 24, b" The quick brown fox jumps over the lazy dog. 0123456789 ", 0x70);
    // Cursor on row 16, column 5, scan lines 14-15.
    for (i, v) in [(0x0e, 0x05), (0x0f, 0x05), (0x0a, 14), (0x0b, 15)] {
        port(&mut vga, 0x3d4, i);
        port(&mut vga, 0x3d5, v);
    }
    let cursor = 16 * 80 + 5;
    port(&mut vga, 0x3d4, 0x0e);
    port(&mut vga, 0x3d5, (cursor >> 8) as u8);
    port(&mut vga, 0x3d4, 0x0f);
    port(&mut vga, 0x3d5, cursor as u8);
    let mut fb = Framebuffer::new();
    vga.render(&mut fb);
    fb
}

#[test]
fn text_mode_matches_the_golden_png() {
    let fb = screen();
    let path = golden_path();
    if std::env::var_os("EMU_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        save_png(&fb, &path).unwrap();
        eprintln!("blessed {}", path.display());
        return;
    }
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run with EMU_BLESS=1 to create it)", path.display()));
    let golden = decode_png(&bytes).unwrap();
    assert_eq!((fb.width, fb.height), (golden.width, golden.height), "resolution differs from the golden image");
    let differ: Vec<usize> = (0..fb.pixels.len()).filter(|&i| fb.pixels[i] != golden.pixels[i]).collect();
    if let Some(&first) = differ.first() {
        let actual = std::env::temp_dir().join("vga_text_80x25.actual.png");
        save_png(&fb, &actual).unwrap();
        panic!(
            "{} pixels differ from {}, the first at ({}, {}); actual frame written to {} \
             (EMU_BLESS=1 accepts it)",
            differ.len(),
            path.display(),
            first % fb.width,
            first / fb.width,
            actual.display()
        );
    }
}
