//! Segment and gate descriptors (SDM Vol. 3, 3.4.5 "Segment Descriptors", 3.5 "System Descriptor
//! Types", 5.8.3 "Call Gates", 6.11 "IDT Descriptors", 7.2.2 "TSS Descriptor"), and reading them
//! from the GDT, the LDT and the IDT.
//!
//! A descriptor is kept as the two dwords the table holds; accessors name the fields. Turning one
//! into a segment register's hidden cache ([`Desc::cache`]) keeps the attribute layout of
//! [`crate::state::attr`]: bits 8-15 and 20-23 of the high dword, shifted down by 8.

use crate::cpu::Cpu;
use crate::fault::{Fault, Res};
use crate::flags::Size;
use crate::state::{attr, Segment};

/// System descriptor types (S = 0), SDM Vol. 3, Table 3-2.
pub mod system_type {
    pub const TSS16_AVAILABLE: u8 = 1;
    pub const LDT: u8 = 2;
    pub const TSS16_BUSY: u8 = 3;
    pub const CALL_GATE16: u8 = 4;
    pub const TASK_GATE: u8 = 5;
    pub const INTERRUPT_GATE16: u8 = 6;
    pub const TRAP_GATE16: u8 = 7;
    pub const TSS32_AVAILABLE: u8 = 9;
    pub const TSS32_BUSY: u8 = 11;
    pub const CALL_GATE32: u8 = 12;
    pub const INTERRUPT_GATE32: u8 = 14;
    pub const TRAP_GATE32: u8 = 15;
}

/// The busy bit in a TSS descriptor's type.
pub const TSS_BUSY_BIT: u8 = 2;

/// One 8-byte descriptor as it sits in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Desc {
    pub lo: u32,
    pub hi: u32,
}

impl Desc {
    /// The 4-bit type field.
    #[inline]
    pub fn typ(self) -> u8 {
        ((self.hi >> 8) & 0xf) as u8
    }
    /// S: a code or data segment (not a system descriptor).
    #[inline]
    pub fn is_segment(self) -> bool {
        self.hi & (1 << 12) != 0
    }
    #[inline]
    pub fn dpl(self) -> u8 {
        ((self.hi >> 13) & 3) as u8
    }
    #[inline]
    pub fn present(self) -> bool {
        self.hi & (1 << 15) != 0
    }
    #[inline]
    pub fn is_code(self) -> bool {
        self.is_segment() && self.hi & (1 << 11) != 0
    }
    #[inline]
    pub fn is_data(self) -> bool {
        self.is_segment() && self.hi & (1 << 11) == 0
    }
    /// Conforming code segment.
    #[inline]
    pub fn conforming(self) -> bool {
        self.is_code() && self.hi & (1 << 10) != 0
    }
    /// Readable code or any data segment.
    #[inline]
    pub fn readable(self) -> bool {
        self.is_data() || (self.is_code() && self.hi & (1 << 9) != 0)
    }
    /// Writable data segment.
    #[inline]
    pub fn writable(self) -> bool {
        self.is_data() && self.hi & (1 << 9) != 0
    }
    #[inline]
    pub fn accessed(self) -> bool {
        self.hi & (1 << 8) != 0
    }
    pub fn base(self) -> u32 {
        (self.lo >> 16) | ((self.hi & 0xff) << 16) | (self.hi & 0xff00_0000)
    }
    /// The limit in bytes, scaled by the granularity bit.
    pub fn limit(self) -> u32 {
        let raw = (self.lo & 0xffff) | (self.hi & 0xf_0000);
        if self.hi & (1 << 23) != 0 {
            (raw << 12) | 0xfff
        } else {
            raw
        }
    }
    /// The attribute bits as a segment cache keeps them ([`attr`]).
    #[inline]
    pub fn attr(self) -> u16 {
        ((self.hi >> 8) & 0xf0ff) as u16
    }
    /// The hidden cache a segment register holds after loading `sel` with this descriptor.
    pub fn cache(self, sel: u16) -> Segment {
        Segment { base: self.base(), limit: self.limit(), selector: sel, attr: self.attr() }
    }
    /// For gates: the target code segment (or TSS) selector.
    #[inline]
    pub fn gate_selector(self) -> u16 {
        (self.lo >> 16) as u16
    }
    /// For gates: the entry point offset (16 bits for 286 gates).
    pub fn gate_offset(self) -> u32 {
        let low = self.lo & 0xffff;
        if self.typ() & 8 != 0 {
            low | (self.hi & 0xffff_0000)
        } else {
            low
        }
    }
    /// For call gates: how many stack parameters are copied.
    #[inline]
    pub fn param_count(self) -> u32 {
        self.hi & 0x1f
    }
    /// For gates and TSS descriptors: a 32-bit (386) one rather than a 16-bit (286) one.
    #[inline]
    pub fn is_32_system(self) -> bool {
        self.typ() & 8 != 0
    }
}

/// Selector fields (SDM Vol. 3, 3.4.2).
pub mod selector {
    /// Requested privilege level.
    #[inline]
    pub fn rpl(sel: u16) -> u8 {
        (sel & 3) as u8
    }
    /// Table indicator: the LDT rather than the GDT.
    #[inline]
    pub fn ldt(sel: u16) -> bool {
        sel & 4 != 0
    }
    /// A null selector (index 0 in the GDT, any RPL).
    #[inline]
    pub fn is_null(sel: u16) -> bool {
        sel & !3 == 0
    }
    /// The error code naming `sel` (its index and TI, with the EXT bit `ext`).
    #[inline]
    pub fn error(sel: u16, ext: u16) -> u16 {
        (sel & 0xfffc) | ext
    }
}

impl Cpu {
    /// The linear address of `sel`'s descriptor in the GDT or LDT, or `None` if the index lies
    /// beyond the table's limit (or the LDT is not usable).
    pub fn descriptor_address(&self, sel: u16) -> Option<u32> {
        let (base, limit) = if selector::ldt(sel) {
            let l = &self.s.ldtr;
            if l.attr & attr::P == 0 {
                return None;
            }
            (l.base, l.limit)
        } else {
            (self.s.gdtr.base, self.s.gdtr.limit)
        };
        let off = (sel & !7) as u32;
        if off + 7 > limit {
            return None;
        }
        Some(base.wrapping_add(off))
    }

    /// Reads `sel`'s descriptor; `beyond` is the fault if the index is outside the table.
    /// Reading may fault itself (#PF on the table).
    pub fn read_descriptor(&mut self, sel: u16, beyond: Fault) -> Res<(Desc, u32)> {
        let addr = self.descriptor_address(sel).ok_or(beyond)?;
        Ok((self.read_descriptor_at(addr)?, addr))
    }

    /// Reads the descriptor at linear address `addr` (with supervisor rights).
    pub fn read_descriptor_at(&mut self, addr: u32) -> Res<Desc> {
        let lo = self.read_lin_sys(addr, Size::D)?;
        let hi = self.read_lin_sys(addr.wrapping_add(4), Size::D)?;
        Ok(Desc { lo, hi })
    }

    /// Sets the accessed bit of the code/data descriptor at `addr` if it is clear.
    pub fn set_accessed(&mut self, addr: u32, d: Desc) -> Res {
        if d.is_segment() && !d.accessed() {
            self.write_lin_sys(addr.wrapping_add(5), Size::B, (d.hi >> 8) | 1)?;
        }
        Ok(())
    }

    /// Sets or clears the busy bit of the TSS descriptor at `addr`.
    pub fn set_tss_busy(&mut self, addr: u32, busy: bool) -> Res {
        let b = self.read_lin_sys(addr.wrapping_add(5), Size::B)?;
        let b = if busy { b | TSS_BUSY_BIT as u32 } else { b & !(TSS_BUSY_BIT as u32) };
        self.write_lin_sys(addr.wrapping_add(5), Size::B, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_decode_as_the_sdm_draws_them() {
        // base 0x12345678, limit 0xabcde with G, 32-bit, present, DPL 3, readable code.
        let d = Desc { lo: 0x5678_bcde, hi: 0x12ca_fa34 };
        assert_eq!(d.base(), 0x1234_5678);
        assert_eq!(d.limit(), 0xabcd_efff);
        assert!(d.is_code() && d.readable() && !d.conforming() && d.present());
        assert_eq!(d.dpl(), 3);
        assert_eq!(d.attr(), 0xc0fa);
        let c = d.cache(0x1b);
        assert!(c.is_32());
        assert_eq!(c.dpl(), 3);
        // A 32-bit interrupt gate to 0008:87654321, DPL 0.
        let g = Desc { lo: 0x0008_4321, hi: 0x8765_8e00 };
        assert_eq!(g.typ(), system_type::INTERRUPT_GATE32);
        assert_eq!((g.gate_selector(), g.gate_offset()), (8, 0x8765_4321));
        // A 286 gate ignores the high offset word.
        let g16 = Desc { lo: 0x0008_4321, hi: 0x8765_8600 };
        assert_eq!(g16.gate_offset(), 0x4321);
    }
}
