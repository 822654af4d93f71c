//! Video memory and the host side of the graphics controller: how a CPU read or write in the
//! legacy window reaches the four planes.
//!
//! **Layout:** one byte array (the VBE linear framebuffer is the same array). The VGA's four
//! planes are interleaved in it: byte `o` of plane `p` is `bytes[o * 4 + p]`, so the planes are
//! the first 256 KiB and the 4-byte group at `o * 4` is exactly what one fetch loads into the
//! latches (as on Bochs and QEMU, a VBE mode's pixels alias the planes).
//!
//! **Host addressing** (sequencer memory mode, graphics mode): chain 4 takes the plane from host
//! address bits 0-1 and keeps the address with those bits cleared; odd/even takes the plane from
//! bit 0 (writes: even addresses reach planes 0 and 2, odd ones 1 and 3; reads: read map select
//! bit 1 picks the pair) and clears bit 0; otherwise the map mask (writes) or read map select
//! (reads) names the planes and the address is used as is.
//!
//! **Write pipeline** (write modes 0-3): rotate, set/reset, logical function against the latches,
//! bit mask, map mask. **Reads** load all four latches, then return one plane (read mode 0) or the
//! colour compare result (read mode 1).

use super::regs::*;

/// The VGA's planar memory: 64 KiB in each of four planes.
pub const PLANE_SIZE: usize = 0x1_0000;

/// Video memory and the graphics controller's latches.
pub struct Vram {
    pub bytes: Vec<u8>,
    /// The four latches, loaded by every host read.
    pub latch: [u8; 4],
}

impl Vram {
    /// `size` bytes of video memory (at least the 256 KiB of the planes), all zero.
    pub fn new(size: usize) -> Self {
        Vram { bytes: vec![0; size.max(4 * PLANE_SIZE)], latch: [0; 4] }
    }

    /// Byte `offset` of `plane` (offsets wrap at the planes' size).
    #[inline]
    pub fn plane_byte(&self, plane: usize, offset: usize) -> u8 {
        self.bytes[(offset % self.plane_len()) * 4 + plane]
    }

    /// Sets byte `offset` of `plane`.
    #[inline]
    pub fn set_plane_byte(&mut self, plane: usize, offset: usize, v: u8) {
        let i = (offset % self.plane_len()) * 4 + plane;
        self.bytes[i] = v;
    }

    /// Bytes per plane when the whole memory is seen as planes (VBE 4-bit modes).
    pub fn plane_len(&self) -> usize {
        self.bytes.len() / 4
    }

    /// Plane address and plane selection for a host access at `addr`: the address within the
    /// planes and, for chain 4 and odd/even, the one plane (read) or planes (write) it reaches.
    fn decode(r: &Regs, addr: usize, write: bool) -> (usize, Option<usize>) {
        let mm = r.seq[SR_MEMORY_MODE];
        let odd_even = if write { mm & SR04_ODD_EVEN_DISABLE == 0 } else { r.gc[GR_MODE] & GR05_HOST_ODD_EVEN != 0 };
        if mm & SR04_CHAIN4 != 0 {
            (addr & !3, Some(addr & 3))
        } else if odd_even {
            (addr & !1, Some(addr & 1))
        } else {
            (addr, None)
        }
    }

    /// A host read at planar address `addr` (already relative to the window's start); `limit` is
    /// the number of bytes per plane the guest can reach (64 KiB, more in VBE 4-bit modes).
    pub fn host_read(&mut self, r: &Regs, addr: usize, limit: usize) -> u8 {
        let (off, sel) = Self::decode(r, addr, false);
        let off = off % limit.min(self.plane_len());
        let base = off * 4;
        self.latch.copy_from_slice(&self.bytes[base..base + 4]);
        if r.gc[GR_MODE] & GR05_READ_MODE1 != 0 {
            // Colour compare: a 1 where every plane that matters equals the compare colour.
            let (cc, care) = (r.gc[GR_COLOR_COMPARE], r.gc[GR_COLOR_DONT_CARE]);
            let mut differ = 0u8;
            for p in 0..4 {
                if care & (1 << p) != 0 {
                    let want = if cc & (1 << p) != 0 { 0xff } else { 0x00 };
                    differ |= self.latch[p] ^ want;
                }
            }
            return !differ;
        }
        let rms = (r.gc[GR_READ_MAP_SELECT] & 3) as usize;
        let plane = match sel {
            Some(p) if r.seq[SR_MEMORY_MODE] & SR04_CHAIN4 != 0 => p,
            Some(p) => (rms & 2) | p,
            None => rms,
        };
        self.latch[plane]
    }

    /// A host write of `v` at planar address `addr`; see [`Vram::host_read`] for `limit`.
    pub fn host_write(&mut self, r: &Regs, addr: usize, v: u8, limit: usize) {
        let (off, sel) = Self::decode(r, addr, true);
        let off = off % limit.min(self.plane_len());
        let mut map_mask = r.seq[SR_MAP_MASK] & 0x0f;
        match sel {
            Some(p) if r.seq[SR_MEMORY_MODE] & SR04_CHAIN4 != 0 => map_mask &= 1 << p,
            Some(p) => map_mask &= 0b0101 << p,
            None => {}
        }
        if map_mask == 0 {
            return;
        }
        let gc = &r.gc;
        let rotated = v.rotate_right((gc[GR_DATA_ROTATE] & 7) as u32);
        let function = (gc[GR_DATA_ROTATE] >> 3) & 3;
        let set_reset = |p: usize| if gc[GR_SET_RESET] & (1 << p) != 0 { 0xffu8 } else { 0 };
        let mut bit_mask = gc[GR_BIT_MASK];
        let mut data = [0u8; 4];
        match gc[GR_MODE] & 3 {
            0 => {
                for (p, d) in data.iter_mut().enumerate() {
                    *d = if gc[GR_ENABLE_SET_RESET] & (1 << p) != 0 { set_reset(p) } else { rotated };
                }
            }
            1 => {
                // The latches are written back unchanged: a fast copy within video memory.
                data = self.latch;
                bit_mask = 0xff;
            }
            2 => {
                for (p, d) in data.iter_mut().enumerate() {
                    *d = if v & (1 << p) != 0 { 0xff } else { 0x00 };
                }
            }
            _ => {
                bit_mask &= rotated;
                for (p, d) in data.iter_mut().enumerate() {
                    *d = set_reset(p);
                }
            }
        }
        let base = off * 4;
        for (p, &data) in data.iter().enumerate() {
            if map_mask & (1 << p) == 0 {
                continue;
            }
            let latch = self.latch[p];
            let d = if gc[GR_MODE] & 3 == 1 {
                data
            } else {
                match function {
                    0 => data,
                    1 => data & latch,
                    2 => data | latch,
                    _ => data ^ latch,
                }
            };
            self.bytes[base + p] = (d & bit_mask) | (latch & !bit_mask);
        }
    }
}
