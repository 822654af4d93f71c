//! A bus: a sorted map of half-open address ranges `[start, end)` to values (usually a device id
//! and region number). The same type serves the 64 KiB port I/O space and the physical MMIO space.
//!
//! **Invariant:** the ranges in a bus never overlap and are never empty. A range is stored by its
//! first and last address (inclusive), so one may end at the very top of the address space; all
//! arithmetic on range ends is overflow-checked.

use thiserror::Error;

/// Why a range could not be added to a bus.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BusError {
    /// The range is empty or runs past the top of the 64-bit space.
    #[error("bus range at {start:#x} with length {len:#x} is empty or overflows")]
    BadRange { start: u64, len: u64 },
    /// The range overlaps one already on the bus.
    #[error("bus range {start:#x}..={last:#x} overlaps {other_start:#x}..={other_last:#x}")]
    Overlap { start: u64, last: u64, other_start: u64, other_last: u64 },
}

#[derive(Debug, Clone)]
struct Range<T> {
    start: u64,
    last: u64, // inclusive
    value: T,
}

/// A map of non-overlapping half-open ranges to values of type `T`.
#[derive(Debug, Clone)]
pub struct Bus<T> {
    ranges: Vec<Range<T>>, // sorted by start
}

impl<T> Default for Bus<T> {
    fn default() -> Self {
        Bus { ranges: Vec::new() }
    }
}

impl<T: Clone> Bus<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `[start, start + len)`. Fails if the range is empty, overflows, or overlaps another.
    pub fn insert(&mut self, start: u64, len: u64, value: T) -> Result<(), BusError> {
        let last = len.checked_sub(1).and_then(|l| start.checked_add(l));
        let last = last.ok_or(BusError::BadRange { start, len })?;
        let pos = self.ranges.partition_point(|r| r.start < start);
        for r in self.ranges[pos.saturating_sub(1)..].iter().take(2) {
            if r.start <= last && start <= r.last {
                return Err(BusError::Overlap { start, last, other_start: r.start, other_last: r.last });
            }
        }
        self.ranges.insert(pos, Range { start, last, value });
        Ok(())
    }

    /// Removes the range that starts exactly at `start`, returning its value.
    pub fn remove(&mut self, start: u64) -> Option<T> {
        let pos = self.ranges.iter().position(|r| r.start == start)?;
        Some(self.ranges.remove(pos).value)
    }

    /// Finds the range holding `addr`: its value and `addr`'s offset from the range's start.
    #[inline]
    pub fn lookup(&self, addr: u64) -> Option<(T, u64)> {
        let pos = self.ranges.partition_point(|r| r.start <= addr);
        let r = self.ranges.get(pos.checked_sub(1)?)?;
        (addr <= r.last).then(|| (r.value.clone(), addr - r.start))
    }

    /// Whether any range intersects `[start, end)`.
    pub fn intersects(&self, start: u64, end: u64) -> bool {
        end > start && self.ranges.iter().any(|r| r.start < end && start <= r.last)
    }

    /// The ranges as `(first, last, value)` (inclusive), in address order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64, &T)> {
        self.ranges.iter().map(|r| (r.start, r.last, &r.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_offsets_in_half_open_ranges() {
        let mut bus = Bus::new();
        bus.insert(0x3f8, 8, 'u').unwrap();
        bus.insert(0x60, 1, 'k').unwrap();
        bus.insert(0x64, 1, 'c').unwrap();
        assert_eq!(bus.lookup(0x3f8), Some(('u', 0)));
        assert_eq!(bus.lookup(0x3ff), Some(('u', 7)));
        assert_eq!(bus.lookup(0x400), None);
        assert_eq!(bus.lookup(0x3f7), None);
        assert_eq!(bus.lookup(0x60), Some(('k', 0)));
        assert_eq!(bus.lookup(0x61), None);
        assert_eq!(bus.lookup(0x64), Some(('c', 0)));
        assert_eq!(bus.lookup(0), None);
    }

    #[test]
    fn overlaps_are_refused_on_both_sides() {
        let mut bus = Bus::new();
        bus.insert(0x100, 0x10, 1).unwrap();
        assert!(matches!(bus.insert(0x10f, 1, 2), Err(BusError::Overlap { .. })));
        assert!(matches!(bus.insert(0xf8, 9, 2), Err(BusError::Overlap { .. })));
        assert!(matches!(bus.insert(0x0, 0x1000, 2), Err(BusError::Overlap { .. })));
        bus.insert(0xf0, 0x10, 3).unwrap(); // touching is fine
        bus.insert(0x110, 0x10, 4).unwrap();
        assert_eq!(bus.lookup(0xff), Some((3, 0xf)));
        assert_eq!(bus.lookup(0x110), Some((4, 0)));
    }

    #[test]
    fn ranges_at_the_top_of_the_space_and_overflow() {
        let mut bus = Bus::new();
        assert_eq!(bus.insert(5, 0, 0), Err(BusError::BadRange { start: 5, len: 0 }));
        assert!(bus.insert(u64::MAX, 2, 0).is_err());
        bus.insert(u64::MAX - 0xf, 0x10, 7).unwrap();
        assert_eq!(bus.lookup(u64::MAX), Some((7, 0xf)));
        assert_eq!(bus.remove(u64::MAX - 0xf), Some(7));
        assert_eq!(bus.lookup(u64::MAX), None);
    }
}
