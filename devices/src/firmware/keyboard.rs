//! The keyboard side of the BIOS: INT 09h (IRQ 1) turns scan codes from the 8042 (set 1, as the
//! controller translates them) into BIOS key codes in the BDA's buffer; INT 16h reads them.

use super::{bda, rd16, rd8, set_caller_flags, wr16, wr8, Bios, Next, Regs};
use emu_core::System;

/// Scan-code state that lives between IRQs.
#[derive(Debug, Default)]
pub(super) struct KeyboardState {
    /// An E0 prefix was the last byte.
    extended: bool,
}

// Shift-state bits at 0040:0017.
const RSHIFT: u8 = 1 << 0;
const LSHIFT: u8 = 1 << 1;
const CTRL: u8 = 1 << 2;
const ALT: u8 = 1 << 3;
const SCROLL: u8 = 1 << 4;
const NUM: u8 = 1 << 5;
const CAPS: u8 = 1 << 6;

/// ASCII for set-1 make codes 0x00-0x39, unshifted and shifted.
const PLAIN: &[u8; 0x3a] = b"\0\x1b1234567890-=\x08\tqwertyuiop[]\r\0asdfghjkl;'`\0\\zxcvbnm,./\0*\0 ";
const SHIFTED: &[u8; 0x3a] = b"\0\x1b!@#$%^&*()_+\x08\tQWERTYUIOP{}\r\0ASDFGHJKL:\"~\0|ZXCVBNM<>?\0*\0 ";

/// Empties the keyboard buffer and sets its bounds.
pub(super) fn init_buffer(sys: &mut System) {
    let start = (bda::KBD_BUFFER - bda::BASE) as u16;
    let end = (bda::KBD_BUFFER_END - bda::BASE) as u16;
    wr16(sys, bda::KBD_HEAD, start);
    wr16(sys, bda::KBD_TAIL, start);
    wr16(sys, bda::KBD_BUFFER_START_PTR, start);
    wr16(sys, bda::KBD_BUFFER_END_PTR, end);
    wr8(sys, bda::KBD_FLAGS, NUM);
}

/// Sets the 8042's command byte: keyboard interrupt on, system flag, mouse port off, scan-code
/// translation on.
pub(super) fn init_controller(sys: &mut System) {
    sys.io_write(0x64, 1, 0x60);
    sys.io_write(0x60, 1, 0x65);
}

/// INT 09h: read the scan code and queue the key.
pub(super) fn irq(bios: &mut Bios, sys: &mut System) -> Next {
    let status = sys.io_read(0x64, 1);
    if status & 1 != 0 {
        let code = sys.io_read(0x60, 1) as u8;
        if status & 0x20 == 0 {
            scan_code(&mut bios.kbd, sys, code);
        }
    }
    sys.io_write(0x20, 1, 0x20);
    Next::Return
}

fn scan_code(state: &mut KeyboardState, sys: &mut System, code: u8) {
    if code == 0xe0 {
        state.extended = true;
        return;
    }
    let extended = std::mem::take(&mut state.extended);
    let release = code & 0x80 != 0;
    let make = code & 0x7f;
    let mut flags = rd8(sys, bda::KBD_FLAGS);
    let modifier = match (make, extended) {
        (0x2a, false) => Some(LSHIFT),
        (0x36, false) => Some(RSHIFT),
        (0x1d, _) => Some(CTRL),
        (0x38, _) => Some(ALT),
        _ => None,
    };
    if let Some(bit) = modifier {
        flags = if release { flags & !bit } else { flags | bit };
        wr8(sys, bda::KBD_FLAGS, flags);
        return;
    }
    if release {
        return;
    }
    let toggle = match make {
        0x3a => Some(CAPS),
        0x45 if !extended => Some(NUM),
        0x46 if !extended => Some(SCROLL),
        _ => None,
    };
    if let Some(bit) = toggle {
        wr8(sys, bda::KBD_FLAGS, flags ^ bit);
        return;
    }
    let shift = flags & (LSHIFT | RSHIFT) != 0;
    let ascii = if extended {
        if make == 0x1c {
            b'\r'
        } else if make == 0x35 {
            b'/'
        } else {
            0xe0
        }
    } else if (make as usize) < PLAIN.len() {
        let c = if shift { SHIFTED[make as usize] } else { PLAIN[make as usize] };
        let caps = flags & CAPS != 0 && c.is_ascii_alphabetic();
        let c = if caps { c ^ 0x20 } else { c };
        if flags & CTRL != 0 && c.is_ascii_alphabetic() {
            c.to_ascii_uppercase() - b'@'
        } else if flags & ALT != 0 {
            0
        } else {
            c
        }
    } else {
        0 // function keys, keypad and the rest: scan code only
    };
    push_key(sys, (make as u16) << 8 | ascii as u16);
}

/// Appends a key to the BDA ring buffer; false when it is full.
fn push_key(sys: &mut System, key: u16) -> bool {
    let (start, end) = (rd16(sys, bda::KBD_BUFFER_START_PTR), rd16(sys, bda::KBD_BUFFER_END_PTR));
    let tail = rd16(sys, bda::KBD_TAIL);
    let mut next = tail + 2;
    if next >= end {
        next = start;
    }
    if next == rd16(sys, bda::KBD_HEAD) {
        return false;
    }
    wr16(sys, bda::BASE + tail as u64, key);
    wr16(sys, bda::KBD_TAIL, next);
    true
}

/// The key at the head of the buffer, taking it if `take`.
fn peek_key(sys: &mut System, take: bool) -> Option<u16> {
    let head = rd16(sys, bda::KBD_HEAD);
    if head == rd16(sys, bda::KBD_TAIL) {
        return None;
    }
    let key = rd16(sys, bda::BASE + head as u64);
    if take {
        let mut next = head + 2;
        if next >= rd16(sys, bda::KBD_BUFFER_END_PTR) {
            next = rd16(sys, bda::KBD_BUFFER_START_PTR);
        }
        wr16(sys, bda::KBD_HEAD, next);
    }
    Some(key)
}

/// For the original (non-extended) functions, E0h ASCII bytes read as 00h.
fn legacy(key: u16) -> u16 {
    if key & 0xff == 0xe0 && key >> 8 != 0 {
        key & 0xff00
    } else {
        key
    }
}

/// INT 16h: keyboard services.
pub(super) fn int16(sys: &mut System, regs: &mut Regs) -> Next {
    const ZF: u16 = 1 << 6;
    match regs.ah() {
        0x00 | 0x10 => match peek_key(sys, true) {
            Some(k) => regs.set_ax(if regs.ah() == 0 { legacy(k) } else { k }),
            None => return Next::Wait,
        },
        0x01 | 0x11 => match peek_key(sys, false) {
            Some(k) => {
                regs.set_ax(if regs.ah() == 1 { legacy(k) } else { k });
                set_caller_flags(sys, regs, ZF, 0);
            }
            None => set_caller_flags(sys, regs, ZF, ZF),
        },
        0x02 => regs.set_al(rd8(sys, bda::KBD_FLAGS)),
        0x12 => {
            let f = rd8(sys, bda::KBD_FLAGS);
            regs.set_al(f);
            regs.set_ah(rd8(sys, bda::KBD_FLAGS3));
        }
        0x03 => {}
        0x05 => {
            let stored = push_key(sys, regs.cx());
            regs.set_al(!stored as u8);
        }
        _ => {}
    }
    Next::Return
}
