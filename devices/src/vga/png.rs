//! A small PNG writer and reader of our own, for screenshots and golden-image tests.
//!
//! The writer makes 8-bit RGB images: each row is "Up"-filtered (identical rows become zeros)
//! and compressed with fixed-Huffman deflate using only run matches at distance 1 and 3 (runs of
//! one byte or one pixel), which shrinks text screens well with little code. The reader accepts
//! what the writer makes plus stored blocks and all five filter types; it refuses dynamic-Huffman
//! deflate, interlacing and other colour types (it is for our own files, not a general decoder).

use std::path::Path;

use thiserror::Error;

use super::render::{rgba, Framebuffer};

/// Why a PNG could not be written or read.
#[derive(Debug, Error)]
pub enum PngError {
    /// I/O error writing or reading a PNG file.
    #[error("PNG file: {0}")]
    Io(#[from] std::io::Error),
    /// The data is not a PNG this reader understands.
    #[error("unsupported or corrupt PNG: {0}")]
    Format(&'static str),
}

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as PNG chunks use.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Adler-32, the zlib stream checksum.
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += x as u32;
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    b << 16 | a
}

/// Writes bits least-significant first, as deflate packs them.
struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl BitWriter {
    fn bits(&mut self, v: u32, n: u32) {
        self.acc |= v << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    /// A Huffman code: sent most-significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        let rev = code.reverse_bits() >> (32 - len);
        self.bits(rev, len);
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

const LEN_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

/// Sends literal/length symbol `sym` with the fixed Huffman code.
fn fixed_symbol(w: &mut BitWriter, sym: u32) {
    match sym {
        0..=143 => w.code(0x30 + sym, 8),
        144..=255 => w.code(0x190 + sym - 144, 9),
        256..=279 => w.code(sym - 256, 7),
        _ => w.code(0xc0 + sym - 280, 8),
    }
}

/// One fixed-Huffman deflate block of `data`, with runs coded as matches at distance 1 or 3.
fn deflate_fixed(data: &[u8]) -> Vec<u8> {
    let mut w = BitWriter { out: Vec::new(), acc: 0, n: 0 };
    w.bits(1, 1); // BFINAL
    w.bits(1, 2); // BTYPE = 01, fixed Huffman
    let mut i = 0;
    while i < data.len() {
        let run = |d: usize| {
            if i < d {
                return 0;
            }
            (0..258.min(data.len() - i)).take_while(|&k| data[i + k] == data[i + k - d]).count()
        };
        let (len, dist) = [(run(1), 1u16), (run(3), 3)].into_iter().max_by_key(|&(l, _)| l).unwrap();
        if len >= 3 {
            let c = LEN_BASE.iter().rposition(|&b| b as usize <= len).unwrap();
            fixed_symbol(&mut w, 257 + c as u32);
            w.bits((len - LEN_BASE[c] as usize) as u32, LEN_EXTRA[c] as u32);
            let d = DIST_BASE.iter().position(|&b| b == dist).unwrap();
            w.code(d as u32, 5);
            i += len;
        } else {
            fixed_symbol(&mut w, data[i] as u32);
            i += 1;
        }
    }
    fixed_symbol(&mut w, 256);
    w.finish()
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Encodes a frame as an 8-bit RGB PNG (alpha is dropped: the VGA's is always opaque).
pub fn encode_png(fb: &Framebuffer) -> Vec<u8> {
    let stride = fb.width * 3;
    let mut raw = Vec::with_capacity((stride + 1) * fb.height);
    let mut prev = vec![0u8; stride];
    let mut row = vec![0u8; stride];
    for y in 0..fb.height {
        for x in 0..fb.width {
            row[x * 3..x * 3 + 3].copy_from_slice(&fb.rgb(x, y));
        }
        raw.push(2); // filter: Up
        raw.extend(row.iter().zip(&prev).map(|(&a, &b)| a.wrapping_sub(b)));
        std::mem::swap(&mut row, &mut prev);
    }
    let mut z = vec![0x78, 0x01];
    z.extend(deflate_fixed(&raw));
    z.extend_from_slice(&adler32(&raw).to_be_bytes());

    let mut out = SIGNATURE.to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(fb.width as u32).to_be_bytes());
    ihdr.extend_from_slice(&(fb.height as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, adaptive filters, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Writes a frame to `path` as PNG.
pub fn save_png(fb: &Framebuffer, path: impl AsRef<Path>) -> Result<(), PngError> {
    std::fs::write(path, encode_png(fb))?;
    Ok(())
}

/// Reads bits least-significant first.
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    bit: u32,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Result<u32, PngError> {
        let byte = *self.data.get(self.pos).ok_or(PngError::Format("deflate data ends early"))?;
        let v = (byte >> self.bit) & 1;
        self.bit += 1;
        if self.bit == 8 {
            self.bit = 0;
            self.pos += 1;
        }
        Ok(v as u32)
    }
    fn bits(&mut self, n: u32) -> Result<u32, PngError> {
        (0..n).try_fold(0, |v, i| Ok(v | self.bit()? << i))
    }
    /// A Huffman code of `n` bits, most-significant first, appended to `v`.
    fn code(&mut self, v: u32, n: u32) -> Result<u32, PngError> {
        (0..n).try_fold(v, |v, _| Ok(v << 1 | self.bit()?))
    }
}

/// Inflates a zlib stream made of stored and fixed-Huffman blocks.
fn inflate(z: &[u8]) -> Result<Vec<u8>, PngError> {
    if z.len() < 6 || z[0] & 0x0f != 8 || !u16::from_be_bytes([z[0], z[1]]).is_multiple_of(31) {
        return Err(PngError::Format("bad zlib header"));
    }
    let mut r = BitReader { data: &z[2..], pos: 0, bit: 0 };
    let mut out = Vec::new();
    loop {
        let last = r.bit()?;
        match r.bits(2)? {
            0 => {
                if r.bit != 0 {
                    r.bit = 0;
                    r.pos += 1;
                }
                let len = r.bits(16)? as usize;
                r.bits(16)?;
                let data = r.data.get(r.pos..r.pos + len).ok_or(PngError::Format("stored block ends early"))?;
                out.extend_from_slice(data);
                r.pos += len;
            }
            1 => loop {
                let mut sym = r.code(0, 7)?;
                if sym > 0x17 {
                    sym = r.code(sym, 1)?;
                    sym = match sym {
                        0x30..=0xbf => sym - 0x30,
                        0xc0..=0xc7 => sym - 0xc0 + 280,
                        _ => r.code(sym, 1)? - 0x190 + 144,
                    };
                } else {
                    sym += 256;
                }
                match sym {
                    0..=255 => out.push(sym as u8),
                    256 => break,
                    _ => {
                        let c = (sym - 257) as usize;
                        let base = *LEN_BASE.get(c).ok_or(PngError::Format("bad length code"))?;
                        let len = base as usize + r.bits(LEN_EXTRA[c] as u32)? as usize;
                        let d = r.code(0, 5)? as usize;
                        let base = *DIST_BASE.get(d).ok_or(PngError::Format("bad distance code"))?;
                        let dist = base as usize + r.bits(DIST_EXTRA[d] as u32)? as usize;
                        let from = out.len().checked_sub(dist).ok_or(PngError::Format("distance too far"))?;
                        for k in 0..len {
                            out.push(out[from + k]);
                        }
                    }
                }
            },
            _ => return Err(PngError::Format("dynamic Huffman blocks are not supported")),
        }
        if last == 1 {
            break;
        }
    }
    let at = 2 + r.pos + (r.bit != 0) as usize;
    let sum = z.get(at..at + 4).ok_or(PngError::Format("missing Adler-32"))?;
    if u32::from_be_bytes(sum.try_into().unwrap()) != adler32(&out) {
        return Err(PngError::Format("Adler-32 mismatch"));
    }
    Ok(out)
}

/// Decodes an 8-bit RGB or RGBA, non-interlaced PNG (such as [`encode_png`] writes).
pub fn decode_png(data: &[u8]) -> Result<Framebuffer, PngError> {
    if data.get(..8) != Some(&SIGNATURE[..]) {
        return Err(PngError::Format("not a PNG"));
    }
    let (mut pos, mut ihdr, mut z) = (8, None, Vec::new());
    while pos + 12 <= data.len() {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let body = data.get(pos + 4..pos + 8 + len).ok_or(PngError::Format("chunk runs past the end"))?;
        let crc = data.get(pos + 8 + len..pos + 12 + len).ok_or(PngError::Format("chunk runs past the end"))?;
        if crc32(body).to_be_bytes() != crc {
            return Err(PngError::Format("chunk CRC mismatch"));
        }
        let (kind, payload) = body.split_at(4);
        match kind {
            b"IHDR" => ihdr = Some(payload.to_vec()),
            b"IDAT" => z.extend_from_slice(payload),
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + len;
    }
    let h = ihdr.filter(|h| h.len() == 13).ok_or(PngError::Format("no IHDR"))?;
    let width = u32::from_be_bytes(h[0..4].try_into().unwrap()) as usize;
    let height = u32::from_be_bytes(h[4..8].try_into().unwrap()) as usize;
    let channels = match (h[8], h[9], h[12]) {
        (8, 2, 0) => 3,
        (8, 6, 0) => 4,
        _ => return Err(PngError::Format("only 8-bit RGB/RGBA without interlace")),
    };
    let raw = inflate(&z)?;
    let stride = width * channels;
    if raw.len() < (stride + 1) * height {
        return Err(PngError::Format("image data too short"));
    }
    let mut fb = Framebuffer { width, height, pixels: vec![0; width * height] };
    let mut prev = vec![0u8; stride];
    let mut row = vec![0u8; stride];
    for y in 0..height {
        let line = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        for i in 0..stride {
            let a = if i >= channels { row[i - channels] as i16 } else { 0 };
            let (b, c) = (prev[i] as i16, if i >= channels { prev[i - channels] as i16 } else { 0 });
            let pred = match line[0] {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                _ => return Err(PngError::Format("bad filter type")),
            };
            row[i] = line[1 + i].wrapping_add(pred as u8);
        }
        for x in 0..width {
            let p = &row[x * channels..];
            fb.pixels[y * width + x] = rgba(p[0], p[1], p[2]);
        }
        std::mem::swap(&mut row, &mut prev);
    }
    Ok(fb)
}
