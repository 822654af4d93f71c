//! The self-modifying-code throttle: a physical page whose blocks keep being invalidated is run
//! by the interpreter for a while instead of being translated again.
//!
//! Translating a block costs far more than interpreting it a few times, so a page that mixes
//! code with data written all the time (SeaBIOS keeps variables such as its thread list beside
//! its code in the F segment) or code that patches itself in a loop would otherwise spend
//! nearly all its time in Cranelift. The rule: a page whose blocks are invalidated
//! [`HOT_INVALIDATIONS`] times within [`WINDOW`] guest instructions is *hot*; for the next
//! [`COOLDOWN`] instructions no block is translated on it and the interpreter runs its code (the
//! page is no longer marked as holding code, so writes to it take the fast path again). Each
//! time the same page turns hot again the cooldown doubles, up to `COOLDOWN << MAX_LEVEL`; a page
//! that stays calm for [`FORGET`] instructions starts over. Times are in retired instructions,
//! so the rule is deterministic. `--stats` counts hot pages and the instructions interpreted
//! because of them.
//!
//! **Invariant:** the throttle only decides which tier runs an instruction, never what it does.

use crate::key::KeyHash;
use std::collections::HashMap;

/// Invalidations within [`WINDOW`] that make a page hot.
pub const HOT_INVALIDATIONS: u32 = 8;
/// The window, in guest instructions.
pub const WINDOW: u64 = 1 << 20;
/// How long a page that just turned hot is interpreted, in guest instructions, the first time.
pub const COOLDOWN: u64 = 1 << 18;
/// The cooldown doubles at most this many times.
pub const MAX_LEVEL: u32 = 6;
/// Instructions after a cooldown's end after which a page's history is forgotten.
pub const FORGET: u64 = 1 << 26;

#[derive(Debug, Clone, Copy, Default)]
struct Heat {
    /// Start of the current window.
    window_start: u64,
    /// Invalidations in the window.
    count: u32,
    /// Times the page turned hot.
    level: u32,
    /// Interpreted while `icount < until`.
    until: u64,
}

/// The heat of every page recently invalidated.
#[derive(Debug, Default)]
pub struct Throttle {
    pages: HashMap<u32, Heat, KeyHash>,
}

impl Throttle {
    /// Records that the blocks on `page` were dropped at `icount`; `true` if the page just turned
    /// hot (it is interpreted from now on, for a while).
    pub fn invalidated(&mut self, page: u32, icount: u64) -> bool {
        if self.pages.len() >= 1 << 16 {
            self.pages.retain(|_, h| icount < h.until.max(h.window_start + WINDOW).saturating_add(FORGET));
        }
        let h = self.pages.entry(page).or_insert(Heat { window_start: icount, ..Heat::default() });
        if icount >= h.until.saturating_add(FORGET) && h.level > 0 {
            *h = Heat { window_start: icount, ..Heat::default() };
        }
        if icount - h.window_start.min(icount) >= WINDOW {
            h.window_start = icount;
            h.count = 0;
        }
        h.count += 1;
        if h.count < HOT_INVALIDATIONS {
            return false;
        }
        h.until = icount.saturating_add(COOLDOWN << h.level.min(MAX_LEVEL));
        h.level += 1;
        h.count = 0;
        h.window_start = h.until;
        true
    }

    /// Whether code on `page` is left to the interpreter at `icount`.
    #[inline]
    pub fn interpreted(&self, page: u32, icount: u64) -> bool {
        !self.pages.is_empty() && self.pages.get(&page).is_some_and(|h| icount < h.until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_invalidated_too_often_is_interpreted_for_a_while() {
        let mut t = Throttle::default();
        for i in 0..HOT_INVALIDATIONS as u64 - 1 {
            assert!(!t.invalidated(7, 1000 + i * 100));
        }
        assert!(!t.interpreted(7, 2000));
        assert!(t.invalidated(7, 2000));
        assert!(t.interpreted(7, 2000) && t.interpreted(7, 2000 + COOLDOWN - 1));
        assert!(!t.interpreted(7, 2000 + COOLDOWN));
        assert!(!t.interpreted(8, 2000), "other pages are not affected");
        // Hot again: twice as long.
        let again = 2000 + COOLDOWN;
        for i in 0..HOT_INVALIDATIONS as u64 {
            t.invalidated(7, again + i);
        }
        let last = again + HOT_INVALIDATIONS as u64 - 1;
        assert!(t.interpreted(7, last + 2 * COOLDOWN - 1) && !t.interpreted(7, last + 2 * COOLDOWN));
    }

    #[test]
    fn invalidations_spread_out_do_not_make_a_page_hot() {
        let mut t = Throttle::default();
        for i in 0..100u64 {
            assert!(!t.invalidated(3, i * (WINDOW / 4)));
        }
        assert!(!t.interpreted(3, 100 * (WINDOW / 4)));
    }
}
