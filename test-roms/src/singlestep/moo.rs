//! A parser for MOO ("Machine Opcode Operation") files, the chunked binary format of the
//! SingleStepTests x86 vectors (format description: the public `dbalsom/moo` repository,
//! `doc/moo_format_v1.md`, version 1.1).
//!
//! Layout, all little-endian. Every chunk is a 4-byte ASCII tag, a `u32` payload length and the
//! payload; a parser advances by the length and skips tags it does not know (the format grows by
//! adding chunks and fields at the end of payloads).
//! - `MOO ` header: `u8` major, `u8` minor, 2 reserved bytes, `u32` test count, 4-byte CPU id
//!   (`C286` for the Harris 80C286 set).
//! - `META`: `u8` set major, `u8` set minor, `u8` CPU type, `u32` opcode, 8-byte space-padded
//!   mnemonic, `u32` test count (of the original file: our files are cut to 1,000 tests),
//!   `u64` seed, `u8` CPU mode (0 = real mode), 3 reserved bytes.
//! - `RMSK` (optional, top level or inside a final state): register masks for undefined state,
//!   laid out as `REGS`; bits set in a mask are the bits to compare.
//! - `TEST`: `u32` index, then sub-chunks:
//!   - `NAME`: `u32` length + the disassembly text;
//!   - `BYTS`: `u32` count + the instruction bytes (in this set always followed by the HLT the
//!     test stops on);
//!   - `INIT`/`FINA`: states made of `REGS` (`u16` bitmask over ax, bx, cx, dx, cs, ss, ds, es,
//!     sp, bp, si, di, ip, flags, then one `u16` per set bit; the final state lists only what
//!     changed), `RAM ` (`u32` count, then `u32` address + `u8` value entries), optional `RMSK`
//!     and `QUEU` (prefetch queue, unused here);
//!   - `CYCL`: bus cycles (stripped from our copy; skipped if present);
//!   - `EXCP`: `u8` vector + `u32` address of the pushed FLAGS, when the test raised an exception
//!     or interrupt;
//!   - `HASH`: 20-byte SHA-1 that names the test (the revocation list holds these in hex);
//!   - `GMET`: generator metadata, not described by the format document; skipped.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::path::Path;

/// Register names in `REGS` bitmask order.
pub const REG_NAMES: [&str; 14] =
    ["ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags"];

/// Indices into [`Regs`], in `REGS` bitmask order.
pub mod r {
    pub const AX: usize = 0;
    pub const BX: usize = 1;
    pub const CX: usize = 2;
    pub const DX: usize = 3;
    pub const CS: usize = 4;
    pub const SS: usize = 5;
    pub const DS: usize = 6;
    pub const ES: usize = 7;
    pub const SP: usize = 8;
    pub const BP: usize = 9;
    pub const SI: usize = 10;
    pub const DI: usize = 11;
    pub const IP: usize = 12;
    pub const FLAGS: usize = 13;
}

/// A 16-bit register file where each register may be absent (`REGS` or `RMSK`).
pub type Regs = [Option<u16>; 14];

/// What went wrong reading a MOO file.
#[derive(Debug)]
pub enum MooError {
    Io(std::io::Error),
    /// The data ends inside a chunk or field.
    Truncated(&'static str),
    /// Not a MOO file, or a chunk that cannot be right.
    Format(String),
}

impl fmt::Display for MooError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MooError::Io(e) => write!(f, "{e}"),
            MooError::Truncated(what) => write!(f, "truncated {what}"),
            MooError::Format(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for MooError {}

impl From<std::io::Error> for MooError {
    fn from(e: std::io::Error) -> Self {
        MooError::Io(e)
    }
}

/// The `META` chunk.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub set_major: u8,
    pub set_minor: u8,
    pub cpu_type: u8,
    /// The opcode the file tests, `0xFFFF_FFFF` when several.
    pub opcode: u32,
    /// The mnemonic, trailing spaces removed.
    pub mnemonic: String,
    pub test_count: u32,
    pub seed: u64,
    /// 0 = real mode.
    pub cpu_mode: u8,
}

/// An `INIT` or `FINA` state.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub regs: Regs,
    /// `(physical address, byte)` pairs.
    pub ram: Vec<(u32, u8)>,
    /// Register masks from an `RMSK` inside this state.
    pub mask: Option<Regs>,
}

/// The `EXCP` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    pub vector: u8,
    /// Where the generator says FLAGS was pushed (for an odd SP it names the byte below the
    /// pushed word; the runner computes the address from the final SS:SP instead).
    pub flags_addr: u32,
}

/// One `TEST` chunk.
#[derive(Debug, Clone, Default)]
pub struct Test {
    pub index: u32,
    pub name: String,
    pub bytes: Vec<u8>,
    pub init: State,
    pub fina: State,
    pub exception: Option<Exception>,
    pub hash: Option<[u8; 20]>,
}

impl Test {
    /// The SHA-1 in lower-case hex, as the revocation list writes it.
    pub fn hash_hex(&self) -> Option<String> {
        self.hash.map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// A whole file.
#[derive(Debug, Clone, Default)]
pub struct MooFile {
    pub major: u8,
    pub minor: u8,
    /// The header's test count.
    pub test_count: u32,
    pub cpu_id: String,
    pub meta: Option<Meta>,
    /// Top-level register masks (apply to every test).
    pub mask: Option<Regs>,
    pub tests: Vec<Test>,
}

/// A little-endian reader over a byte slice.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cur { b, pos: 0 }
    }
    fn left(&self) -> usize {
        self.b.len() - self.pos
    }
    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], MooError> {
        if self.left() < n {
            return Err(MooError::Truncated(what));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, MooError> {
        Ok(self.bytes(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, MooError> {
        Ok(u16::from_le_bytes(self.bytes(2, what)?.try_into().unwrap()))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, MooError> {
        Ok(u32::from_le_bytes(self.bytes(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, MooError> {
        Ok(u64::from_le_bytes(self.bytes(8, what)?.try_into().unwrap()))
    }
    /// The next chunk: tag and payload. `None` at the end of the data.
    fn chunk(&mut self) -> Result<Option<([u8; 4], &'a [u8])>, MooError> {
        if self.left() == 0 {
            return Ok(None);
        }
        let tag: [u8; 4] = self.bytes(4, "chunk tag")?.try_into().unwrap();
        let len = self.u32("chunk length")? as usize;
        let body = self.bytes(len, "chunk payload")?;
        Ok(Some((tag, body)))
    }
}

/// Reads a `REGS`/`RMSK` payload.
fn parse_regs(body: &[u8]) -> Result<Regs, MooError> {
    let mut c = Cur::new(body);
    let mask = c.u16("register bitmask")?;
    let mut regs: Regs = [None; 14];
    for (i, r) in regs.iter_mut().enumerate() {
        if mask & (1 << i) != 0 {
            *r = Some(c.u16("register value")?);
        }
    }
    if mask >> 14 != 0 {
        return Err(MooError::Format(format!("register bitmask {mask:#06x} has bits above flags")));
    }
    Ok(regs)
}

fn parse_state(body: &[u8]) -> Result<State, MooError> {
    let mut st = State::default();
    let mut c = Cur::new(body);
    while let Some((tag, b)) = c.chunk()? {
        match &tag {
            b"REGS" => st.regs = parse_regs(b)?,
            b"RMSK" => st.mask = Some(parse_regs(b)?),
            b"RAM " => {
                let mut rc = Cur::new(b);
                let n = rc.u32("RAM count")? as usize;
                if rc.left() < n * 5 {
                    return Err(MooError::Truncated("RAM entries"));
                }
                st.ram.reserve(n);
                for _ in 0..n {
                    let a = rc.u32("RAM address")?;
                    let v = rc.u8("RAM value")?;
                    st.ram.push((a, v));
                }
            }
            _ => {} // QUEU, RG32, EA32...: not used for 16-bit real-mode tests
        }
    }
    Ok(st)
}

fn parse_test(body: &[u8]) -> Result<Test, MooError> {
    let mut c = Cur::new(body);
    let mut t = Test { index: c.u32("test index")?, ..Default::default() };
    while let Some((tag, b)) = c.chunk()? {
        match &tag {
            b"NAME" => {
                let mut nc = Cur::new(b);
                let n = nc.u32("name length")? as usize;
                t.name = String::from_utf8_lossy(nc.bytes(n, "name")?).into_owned();
            }
            b"BYTS" => {
                let mut bc = Cur::new(b);
                let n = bc.u32("byte count")? as usize;
                t.bytes = bc.bytes(n, "instruction bytes")?.to_vec();
            }
            b"INIT" => t.init = parse_state(b)?,
            b"FINA" => t.fina = parse_state(b)?,
            b"EXCP" => {
                let mut ec = Cur::new(b);
                t.exception =
                    Some(Exception { vector: ec.u8("exception vector")?, flags_addr: ec.u32("flags address")? });
            }
            b"HASH" => {
                let h = Cur::new(b).bytes(20, "hash")?;
                t.hash = Some(h.try_into().unwrap());
            }
            _ => {} // CYCL, GMET, IDX ...
        }
    }
    Ok(t)
}

/// Parses a whole (decompressed) MOO file.
pub fn parse(data: &[u8]) -> Result<MooFile, MooError> {
    let mut c = Cur::new(data);
    let (tag, hdr) = c.chunk()?.ok_or(MooError::Truncated("file header"))?;
    if &tag != b"MOO " {
        return Err(MooError::Format("not a MOO file (no `MOO ` chunk first)".into()));
    }
    let mut h = Cur::new(hdr);
    let mut f = MooFile { major: h.u8("version")?, minor: h.u8("version")?, ..Default::default() };
    h.bytes(2, "reserved")?;
    f.test_count = h.u32("test count")?;
    f.cpu_id = String::from_utf8_lossy(h.bytes(4, "CPU id")?).into_owned();
    f.tests.reserve(f.test_count as usize);
    while let Some((tag, b)) = c.chunk()? {
        match &tag {
            b"META" => {
                let mut m = Cur::new(b);
                f.meta = Some(Meta {
                    set_major: m.u8("META")?,
                    set_minor: m.u8("META")?,
                    cpu_type: m.u8("META")?,
                    opcode: m.u32("META opcode")?,
                    mnemonic: String::from_utf8_lossy(m.bytes(8, "META mnemonic")?).trim_end().to_string(),
                    test_count: m.u32("META test count")?,
                    seed: m.u64("META seed")?,
                    cpu_mode: m.u8("META cpu mode")?,
                });
            }
            b"RMSK" => f.mask = Some(parse_regs(b)?),
            b"TEST" => f.tests.push(parse_test(b)?),
            _ => {}
        }
    }
    if f.tests.len() != f.test_count as usize {
        return Err(MooError::Format(format!("header says {} tests, file has {}", f.test_count, f.tests.len())));
    }
    Ok(f)
}

/// Reads and parses a MOO file, gunzipping it if it starts with the gzip magic.
pub fn load(path: &Path) -> Result<MooFile, MooError> {
    let raw = std::fs::read(path)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut data = Vec::with_capacity(raw.len() * 6);
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut data)?;
        parse(&data)
    } else {
        parse(&raw)
    }
}

/// The hashes of revoked (known-bad) tests, lower-case hex. Lines starting with `#` and blank
/// lines are ignored.
#[derive(Debug, Clone, Default)]
pub struct Revocations(pub HashSet<String>);

impl Revocations {
    pub fn parse(text: &str) -> Self {
        Revocations(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|l| l.split_whitespace().next().unwrap().to_ascii_lowercase())
                .collect(),
        )
    }
    /// Reads `revocation_list.txt` in `dir`; an absent file means nothing is revoked.
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(dir.join("revocation_list.txt")) {
            Ok(t) => Ok(Self::parse(&t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }
    pub fn contains(&self, t: &Test) -> bool {
        t.hash_hex().is_some_and(|h| self.0.contains(&h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(tag: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = tag.to_vec();
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn parses_a_minimal_file() {
        let mut hdr = vec![1, 1, 0, 0];
        hdr.extend_from_slice(&1u32.to_le_bytes());
        hdr.extend_from_slice(b"C286");
        let mut regs = (1u16 << 0 | 1 << 13).to_le_bytes().to_vec();
        regs.extend_from_slice(&0x1234u16.to_le_bytes());
        regs.extend_from_slice(&0x0002u16.to_le_bytes());
        let mut ram = 1u32.to_le_bytes().to_vec();
        ram.extend_from_slice(&0x10ffefu32.to_le_bytes());
        ram.push(0xf4);
        let init = [chunk(b"REGS", &regs), chunk(b"RAM ", &ram)].concat();
        let mut test = 7u32.to_le_bytes().to_vec();
        test.extend(chunk(b"GMET", &[0; 10]));
        test.extend(chunk(b"NAME", &[3, 0, 0, 0, b'h', b'l', b't']));
        test.extend(chunk(b"BYTS", &[1, 0, 0, 0, 0xf4]));
        test.extend(chunk(b"INIT", &init));
        test.extend(chunk(b"FINA", &chunk(b"REGS", &[0, 0])));
        test.extend(chunk(b"EXCP", &[13, 0x10, 0, 0, 0]));
        test.extend(chunk(b"HASH", &[0xab; 20]));
        let file = [chunk(b"MOO ", &hdr), chunk(b"ZZZZ", &[1, 2, 3]), chunk(b"TEST", &test)].concat();
        let f = parse(&file).unwrap();
        assert_eq!(f.cpu_id, "C286");
        let t = &f.tests[0];
        assert_eq!((t.index, t.name.as_str(), t.bytes.as_slice()), (7, "hlt", &[0xf4][..]));
        assert_eq!(t.init.regs[r::AX], Some(0x1234));
        assert_eq!(t.init.regs[r::BX], None);
        assert_eq!(t.init.regs[r::FLAGS], Some(2));
        assert_eq!(t.init.ram, vec![(0x10ffef, 0xf4)]);
        assert_eq!(t.exception, Some(Exception { vector: 13, flags_addr: 0x10 }));
        let rev = Revocations::parse(&format!("# comment\n\n{}\n", "AB".repeat(20)));
        assert!(rev.contains(t));
        assert!(parse(&file[..file.len() - 1]).is_err());
    }
}
