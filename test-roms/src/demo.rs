//! The demo ROM `emu` boots when given nothing to run: it greets on the serial port and on the
//! VGA text screen, counts to a few, and then either switches the machine off or, when the
//! frontend says someone is watching, echoes what is typed until Esc.
//!
//! **Interactive mode.** The frontend sets CMOS NVRAM byte [`INTERACTIVE_NVRAM_INDEX`] to
//! [`INTERACTIVE`] when the demo runs in a window; headless runs leave it 0 and the demo powers
//! off by itself, as scripts and the README's `cargo run --release` expect. The byte sits in the
//! chipset-specific upper half of the CMOS, which no firmware reads here because the demo *is*
//! the firmware. In interactive mode the demo:
//! - takes keys from the 8042 (scan code set 1, as the controller translates by default) and
//!   echoes them on the screen (rows 2-24, scrolling) and on COM1: US layout, Shift for the
//!   second symbol, the keypad as with NumLock on, Enter, Backspace; keys without a character
//!   are shown by name (`[Up]`, `[F1]`, `[Pause]`), unknown ones as `[E0 xx]`; Ctrl, Alt and
//!   the Windows keys show nothing;
//! - enables the PS/2 mouse (0xA8, then 0xF4 through 0xD4) and shows a pointer as an inverted
//!   text cell that follows the mouse over a 720×400 pixel screen; a button press prints
//!   `[left click at COL,ROW]`;
//! - echoes printable bytes arriving on COM1 (Enter, Backspace too);
//! - sleeps in HLT between events, woken by IRQ 1, 4 and 12 (PICs at vectors 08h and 70h, as a
//!   PC BIOS sets them), so it costs no host CPU while waiting;
//! - powers off (shutdown port 0x8900) when Esc is pressed.

use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

/// Port of the Bochs-style shutdown device: writing the bytes of "Shutdown" powers off.
const SHUTDOWN_PORT: u16 = 0x8900;

/// The CMOS NVRAM byte (index for port 0x70) the frontend sets to [`INTERACTIVE`] to keep the
/// demo running and echoing keys.
pub const INTERACTIVE_NVRAM_INDEX: u8 = 0x7f;
/// The value of [`INTERACTIVE_NVRAM_INDEX`] that asks for interactive mode; 0 (power-on) does not.
pub const INTERACTIVE: u8 = 1;

// Variables in RAM, at 0000:0600 (reached through SS, which is 0).
const VAR_FLAGS: u32 = 0x600;
const VAR_SKIP: u32 = 0x601;
const VAR_CURSOR: u32 = 0x602;
const VAR_PACKET: u32 = 0x604;
const VAR_PACKET_LEN: u32 = 0x607;
const VAR_MX: u32 = 0x608;
const VAR_MY: u32 = 0x60a;
const VAR_POINTER: u32 = 0x60c;
const VAR_BUTTONS: u32 = 0x60e;

// VAR_FLAGS bits.
const LEFT_SHIFT: u32 = 0x01;
const RIGHT_SHIFT: u32 = 0x02;
const E0_PENDING: u32 = 0x04;

/// Bytes per text row (80 cells of character and attribute).
const ROW: u32 = 160;
/// The first row typed text goes to; rows 0 and 1 are the header.
const TEXT_ROW: u32 = 2;
const ROWS: u32 = 25;
/// Attribute of echoed text: light grey on black.
const TEXT_ATTR: u32 = 0x07;
/// The pointer is drawn by XORing a cell's attribute with this (swaps foreground and background).
const POINTER_XOR: u32 = 0x77;
/// The pointer moves over the text mode's 720×400 pixels, 9×16 per cell.
const SCREEN_W: u32 = 720;
const SCREEN_H: u32 = 400;
const CELL_W: u32 = 9;

/// Set 1 make codes 0x00-0x58 to characters, without and with Shift (0: no character).
#[rustfmt::skip]
const KEYS: [&[u8; 0x59]; 2] = [
    b"\0\x001234567890-=\x08\0qwertyuiop[]\n\0asdfghjkl;'`\0\\zxcvbnm,./\0*\0 \0\0\0\0\0\0\0\0\0\0\0\0\x00789-456+1230.\0\0\\\0\0",
    b"\0\0!@#$%^&*()_+\x08\0QWERTYUIOP{}\n\0ASDFGHJKL:\"~\0|ZXCVBNM<>?\0*\0 \0\0\0\0\0\0\0\0\0\0\0\0\x00789-456+1230.\0\0|\0\0",
];

/// Keys shown by name: (set 1 make code, with bit 7 set for E0-prefixed keys; name).
const NAMES: &[(u8, &str)] = &[
    (0x0f, "[Tab]"),
    (0x1d, ""),
    (0x38, ""),
    (0x3a, "[CapsLock]"),
    (0x3b, "[F1]"),
    (0x3c, "[F2]"),
    (0x3d, "[F3]"),
    (0x3e, "[F4]"),
    (0x3f, "[F5]"),
    (0x40, "[F6]"),
    (0x41, "[F7]"),
    (0x42, "[F8]"),
    (0x43, "[F9]"),
    (0x44, "[F10]"),
    (0x45, "[NumLock]"),
    (0x46, "[ScrollLock]"),
    (0x57, "[F11]"),
    (0x58, "[F12]"),
    (0x80 | 0x1c, "\n"),
    (0x80 | 0x1d, ""),
    (0x80 | 0x2a, ""),
    (0x80 | 0x35, "/"),
    (0x80 | 0x36, ""),
    (0x80 | 0x37, "[PrintScreen]"),
    (0x80 | 0x38, ""),
    (0x80 | 0x47, "[Home]"),
    (0x80 | 0x48, "[Up]"),
    (0x80 | 0x49, "[PgUp]"),
    (0x80 | 0x4b, "[Left]"),
    (0x80 | 0x4d, "[Right]"),
    (0x80 | 0x4f, "[End]"),
    (0x80 | 0x50, "[Down]"),
    (0x80 | 0x51, "[PgDn]"),
    (0x80 | 0x52, "[Ins]"),
    (0x80 | 0x53, "[Del]"),
    (0x80 | 0x5b, ""),
    (0x80 | 0x5c, ""),
    (0x80 | 0x5d, "[Menu]"),
];

/// Builds the demo ROM image.
pub fn demo_rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("Hello from emu's demo ROM: an x86 PC emulated in Rust.\n")?;
    let screen = rom.string("emu demo ROM: hello! See the serial console for more.");
    let a = &mut rom.a;
    // Text on the VGA screen (B800:0000), white on blue.
    a.mov(ax, 0xb800u32)?;
    a.mov(es, ax)?;
    a.xor(di, di)?;
    a.mov(si, screen)?;
    a.mov(ah, 0x1fu32)?;
    screen_string(a)?;
    a.xor(ax, ax)?;
    a.mov(es, ax)?;
    rom.print("Counting in the guest: ")?;
    // Print digits 1..=5 by arithmetic in the guest.
    let a = &mut rom.a;
    a.mov(cx, 5u32)?;
    a.mov(bl, b'1' as u32)?;
    let (mut digit, mut wait) = (a.create_label(), a.create_label());
    a.set_label(&mut digit)?;
    a.mov(dx, 0x3fdu32)?;
    a.set_label(&mut wait)?;
    a.in_(al, dx)?;
    a.test(al, 0x20u32)?;
    a.je(wait)?;
    a.mov(al, bl)?;
    a.mov(dx, 0x3f8u32)?;
    a.out(dx, al)?;
    a.inc(bl)?;
    a.loop_(digit)?;
    rom.print("\n")?;

    // Interactive or not: the frontend's NVRAM byte.
    let mut power_off = rom.a.create_label();
    let a = &mut rom.a;
    a.mov(al, INTERACTIVE_NVRAM_INDEX as u32)?;
    a.out(0x70u32, al)?;
    a.in_(al, 0x71u32)?;
    a.cmp(al, INTERACTIVE as u32)?;
    a.jne(power_off)?;
    interactive(&mut rom, power_off)?;

    rom.a.set_label(&mut power_off)?;
    rom.print("The demo is done; switching the machine off.\n")?;
    let off = rom.string("Shutdown");
    let a = &mut rom.a;
    a.mov(si, off)?;
    a.mov(dx, SHUTDOWN_PORT as u32)?;
    a.mov(cx, 8u32)?;
    a.rep().outsb()?;
    rom.finish()
}

/// Emits the copy of the NUL-terminated string at DS:SI to the text screen at ES:DI, each
/// character with the attribute in AH (SI and DI end past the string).
fn screen_string(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let (mut next, mut done) = (a.create_label(), a.create_label());
    a.set_label(&mut next)?;
    a.lodsb()?;
    a.test(al, al)?;
    a.je(done)?;
    a.stosw()?;
    a.jmp(next)?;
    a.set_label(&mut done)?;
    Ok(())
}

/// The labels of the interactive part's subroutines.
struct Routines {
    putc: CodeLabel,
    puts: CodeLabel,
    serial_out: CodeLabel,
    put_hex: CodeLabel,
    put_dec: CodeLabel,
    set_cursor: CodeLabel,
    toggle_pointer: CodeLabel,
    key_byte: CodeLabel,
    mouse_byte: CodeLabel,
    serial_byte: CodeLabel,
    click: CodeLabel,
}

/// Emits the interactive part: set-up, the event loop, and its subroutines. Jumps to
/// `power_off` on Esc.
fn interactive(rom: &mut RomBuilder, power_off: CodeLabel) -> Result<(), RomError> {
    rom.print("Type in the window: keys are echoed here and on the screen. Ctrl+Alt+G grabs the mouse; Esc switches the machine off.\n")?;
    let help = rom.string("Type: keys echo here and on COM1. Ctrl+Alt+G grabs the mouse. Esc: power off.");
    let normal = rom.data(KEYS[0]);
    let shifted = rom.data(KEYS[1]);
    let mut names = Vec::new();
    for &(code, name) in NAMES {
        names.push((code, rom.string(name)));
    }
    let mut table = Vec::new();
    for (code, at) in names {
        table.push(code);
        table.extend_from_slice(&(at as u16).to_le_bytes());
    }
    table.push(0);
    let name_table = rom.data(&table);
    let pause = rom.string("[Pause]");
    let e0 = rom.string("E0 ");
    let clicks = [rom.string("[left click at "), rom.string("[right click at "), rom.string("[middle click at ")];
    // Interrupt handler for IRQ 1, 4 and 12: the main loop does the work; this only ends the
    // interrupt at both PICs (a non-specific EOI to the slave is harmless when it has none).
    let eoi = rom.routine(|a| {
        a.push(ax)?;
        a.mov(al, 0x20u32)?;
        a.out(0xa0u32, al)?;
        a.out(0x20u32, al)?;
        a.pop(ax)?;
        a.iret()
    })?;
    for vector in [0x09, 0x0c, 0x74] {
        rom.set_vector(vector, eoi)?;
    }

    let a = &mut rom.a;
    let r = Routines {
        putc: a.create_label(),
        puts: a.create_label(),
        serial_out: a.create_label(),
        put_hex: a.create_label(),
        put_dec: a.create_label(),
        set_cursor: a.create_label(),
        toggle_pointer: a.create_label(),
        key_byte: a.create_label(),
        mouse_byte: a.create_label(),
        serial_byte: a.create_label(),
        click: a.create_label(),
    };

    // PICs as a PC BIOS leaves them: master at vector 08h, slave at 70h on IRQ 2; only IRQ 1
    // (keyboard), 2 (cascade), 4 (COM1) and 12 (mouse) unmasked.
    for (port, value) in [
        (0x20u32, 0x11u32),
        (0x21, 0x08),
        (0x21, 0x04),
        (0x21, 0x01),
        (0xa0, 0x11),
        (0xa1, 0x70),
        (0xa1, 0x02),
        (0xa1, 0x01),
        (0x21, 0xe9),
        (0xa1, 0xef),
    ] {
        a.mov(al, value)?;
        a.out(port, al)?;
    }
    // The 8042: mouse port on, command byte = translate, system flag, both interrupts.
    for (port, value) in [(0x64u32, 0xa8u32), (0x64, 0x60), (0x60, 0x47), (0x64, 0xd4), (0x60, 0xf4)] {
        a.mov(al, value)?;
        a.out(port, al)?;
    }
    // Take the mouse's ACK of 0xF4, so that the packet parser starts in step (0xFA has bit 3
    // set and would pass for a packet's first byte). Bounded: 16 × 65536 status reads.
    let (mut outer, mut inner, mut not_yet, mut acked) =
        (a.create_label(), a.create_label(), a.create_label(), a.create_label());
    a.mov(bx, 16u32)?;
    a.set_label(&mut outer)?;
    a.mov(cx, 0xffffu32)?;
    a.set_label(&mut inner)?;
    a.in_(al, 0x64u32)?;
    a.test(al, 0x01u32)?;
    a.je(not_yet)?;
    a.test(al, 0x20u32)?;
    a.in_(al, 0x60u32)?; // IN leaves the flags alone.
    a.jne(acked)?;
    a.set_label(&mut not_yet)?;
    a.loop_(inner)?;
    a.dec(bx)?;
    a.jne(outer)?;
    a.set_label(&mut acked)?;
    // COM1: interrupt on received data; OUT2 lets the interrupt reach IRQ 4.
    a.mov(dx, 0x3f9u32)?;
    a.mov(al, 0x01u32)?;
    a.out(dx, al)?;
    a.mov(dx, 0x3fcu32)?;
    a.mov(al, 0x0bu32)?;
    a.out(dx, al)?;

    // State, the help line (row 1, yellow on blue), the pointer in the middle of the screen.
    a.mov(byte_ptr(VAR_FLAGS).ss(), 0u32)?;
    a.mov(byte_ptr(VAR_SKIP).ss(), 0u32)?;
    a.mov(byte_ptr(VAR_PACKET_LEN).ss(), 0u32)?;
    a.mov(byte_ptr(VAR_BUTTONS).ss(), 0u32)?;
    a.mov(word_ptr(VAR_MX).ss(), SCREEN_W / 2)?;
    a.mov(word_ptr(VAR_MY).ss(), SCREEN_H / 2)?;
    a.mov(word_ptr(VAR_POINTER).ss(), (SCREEN_H / 2 / 16) * ROW + (SCREEN_W / 2 / CELL_W) * 2)?;
    a.mov(word_ptr(VAR_CURSOR).ss(), TEXT_ROW * ROW)?;
    a.mov(ax, 0xb800u32)?;
    a.mov(es, ax)?;
    a.mov(di, ROW)?;
    a.mov(si, help)?;
    a.mov(ah, 0x1eu32)?;
    screen_string(a)?;
    a.mov(di, TEXT_ROW * ROW)?;
    a.call(r.set_cursor)?;
    a.call(r.toggle_pointer)?;

    // The event loop: with interrupts off, take whatever is waiting; when nothing is, STI; HLT
    // (the STI shadow makes the pair atomic, so an interrupt that came meanwhile wakes the HLT).
    let (mut main, mut serial, mut idle, mut mouse) =
        (a.create_label(), a.create_label(), a.create_label(), a.create_label());
    a.set_label(&mut main)?;
    a.cli()?;
    a.in_(al, 0x64u32)?;
    a.test(al, 0x01u32)?;
    a.je(serial)?;
    a.test(al, 0x20u32)?;
    a.in_(al, 0x60u32)?;
    a.jne(mouse)?;
    a.call(r.key_byte)?;
    a.jmp(main)?;
    a.set_label(&mut mouse)?;
    a.call(r.mouse_byte)?;
    a.jmp(main)?;
    a.set_label(&mut serial)?;
    a.mov(dx, 0x3fdu32)?;
    a.in_(al, dx)?;
    a.test(al, 0x01u32)?;
    a.je(idle)?;
    a.mov(dx, 0x3f8u32)?;
    a.in_(al, dx)?;
    a.call(r.serial_byte)?;
    a.jmp(main)?;
    a.set_label(&mut idle)?;
    a.sti()?;
    a.hlt()?;
    a.jmp(main)?;

    key_byte(a, &r, power_off, normal, shifted, name_table, pause, e0)?;
    mouse_byte(a, &r, clicks)?;
    output_routines(a, &r)?;
    Ok(())
}

/// `key_byte` (AL = a set 1 byte from the keyboard): track Shift and prefixes, echo the key.
#[allow(clippy::too_many_arguments)]
fn key_byte(
    a: &mut CodeAssembler,
    r: &Routines,
    power_off: CodeLabel,
    normal: u32,
    shifted: u32,
    name_table: u32,
    pause: u32,
    e0: u32,
) -> Result<(), IcedError> {
    let mut key_byte = r.key_byte;
    a.set_label(&mut key_byte)?;
    let mut ret = a.create_label();
    a.mov(bl, al)?;
    // Pause is E1 1D 45 E1 9D C5, all at the press: name it at the E1, skip the rest.
    let (mut no_skip, mut not_e1, mut not_e0) = (a.create_label(), a.create_label(), a.create_label());
    a.cmp(byte_ptr(VAR_SKIP).ss(), 0u32)?;
    a.je(no_skip)?;
    a.dec(byte_ptr(VAR_SKIP).ss())?;
    a.ret()?;
    a.set_label(&mut no_skip)?;
    a.cmp(bl, 0xe1u32)?;
    a.jne(not_e1)?;
    a.mov(byte_ptr(VAR_SKIP).ss(), 5u32)?;
    a.mov(si, pause)?;
    a.call(r.puts)?;
    a.ret()?;
    a.set_label(&mut not_e1)?;
    a.cmp(bl, 0xe0u32)?;
    a.jne(not_e0)?;
    a.or(byte_ptr(VAR_FLAGS).ss(), E0_PENDING)?;
    a.ret()?;
    a.set_label(&mut not_e0)?;
    // BH = E0_PENDING if this byte had the prefix; the prefix is used up.
    a.mov(bh, byte_ptr(VAR_FLAGS).ss())?;
    a.and(bh, E0_PENDING)?;
    a.and(byte_ptr(VAR_FLAGS).ss(), !E0_PENDING & 0xff)?;
    let (mut make, mut not_lshift_up) = (a.create_label(), a.create_label());
    a.test(bl, 0x80u32)?;
    a.je(make)?;
    // A break code: only the Shift keys' matter.
    a.test(bh, bh)?;
    a.jne(ret)?;
    a.mov(al, bl)?;
    a.and(al, 0x7fu32)?;
    a.cmp(al, 0x2au32)?;
    a.jne(not_lshift_up)?;
    a.and(byte_ptr(VAR_FLAGS).ss(), !LEFT_SHIFT & 0xff)?;
    a.ret()?;
    a.set_label(&mut not_lshift_up)?;
    a.cmp(al, 0x36u32)?;
    a.jne(ret)?;
    a.and(byte_ptr(VAR_FLAGS).ss(), !RIGHT_SHIFT & 0xff)?;
    a.ret()?;

    a.set_label(&mut make)?;
    let (mut named, mut not_lshift, mut not_rshift, mut not_esc, mut unshifted) =
        (a.create_label(), a.create_label(), a.create_label(), a.create_label(), a.create_label());
    a.test(bh, bh)?;
    a.jne(named)?;
    a.cmp(bl, 0x2au32)?;
    a.jne(not_lshift)?;
    a.or(byte_ptr(VAR_FLAGS).ss(), LEFT_SHIFT)?;
    a.ret()?;
    a.set_label(&mut not_lshift)?;
    a.cmp(bl, 0x36u32)?;
    a.jne(not_rshift)?;
    a.or(byte_ptr(VAR_FLAGS).ss(), RIGHT_SHIFT)?;
    a.ret()?;
    a.set_label(&mut not_rshift)?;
    a.cmp(bl, 0x01u32)?;
    a.jne(not_esc)?;
    a.mov(al, b'\n' as u32)?;
    a.call(r.putc)?;
    a.jmp(power_off)?;
    a.set_label(&mut not_esc)?;
    a.cmp(bl, KEYS[0].len() as u32)?;
    a.jae(named)?;
    a.mov(si, normal)?;
    a.test(byte_ptr(VAR_FLAGS).ss(), LEFT_SHIFT | RIGHT_SHIFT)?;
    a.je(unshifted)?;
    a.mov(si, shifted)?;
    a.set_label(&mut unshifted)?;
    a.mov(al, bl)?;
    a.xor(ah, ah)?;
    a.add(si, ax)?;
    a.mov(al, byte_ptr(si))?;
    a.test(al, al)?;
    a.je(named)?;
    a.call(r.putc)?;
    a.ret()?;

    // A key without a character: its name from the table, or its code in hex.
    a.set_label(&mut named)?;
    let (mut plain, mut search, mut unknown, mut no_e0) =
        (a.create_label(), a.create_label(), a.create_label(), a.create_label());
    a.mov(cl, bl)?;
    a.test(bh, bh)?;
    a.je(plain)?;
    a.or(cl, 0x80u32)?;
    a.set_label(&mut plain)?;
    a.mov(si, name_table)?;
    a.set_label(&mut search)?;
    a.lodsb()?;
    a.test(al, al)?;
    a.je(unknown)?;
    a.mov(dx, word_ptr(si))?;
    a.add(si, 2u32)?;
    a.cmp(al, cl)?;
    a.jne(search)?;
    a.mov(si, dx)?;
    a.call(r.puts)?;
    a.ret()?;
    a.set_label(&mut unknown)?;
    a.mov(al, b'[' as u32)?;
    a.call(r.putc)?;
    a.test(bh, bh)?;
    a.je(no_e0)?;
    a.mov(si, e0)?;
    a.call(r.puts)?;
    a.set_label(&mut no_e0)?;
    a.mov(al, bl)?;
    a.call(r.put_hex)?;
    a.mov(al, b']' as u32)?;
    a.call(r.putc)?;
    a.set_label(&mut ret)?;
    a.ret()
}

/// `mouse_byte` (AL = a byte from the mouse): collect 3-byte packets, move the pointer, report
/// button presses. `click` (SI = "[which click at "): prints the pointer's cell and "]".
fn mouse_byte(a: &mut CodeAssembler, r: &Routines, clicks: [u32; 3]) -> Result<(), IcedError> {
    let mut mouse_byte = r.mouse_byte;
    a.set_label(&mut mouse_byte)?;
    let (mut ret, mut store) = (a.create_label(), a.create_label());
    a.mov(bl, byte_ptr(VAR_PACKET_LEN).ss())?;
    a.xor(bh, bh)?;
    a.test(bx, bx)?;
    a.jne(store)?;
    // A first byte always has bit 3 set; anything else is out of step and dropped.
    a.test(al, 0x08u32)?;
    a.je(ret)?;
    a.set_label(&mut store)?;
    a.mov(byte_ptr(bx + VAR_PACKET).ss(), al)?;
    a.inc(bx)?;
    a.mov(byte_ptr(VAR_PACKET_LEN).ss(), bl)?;
    a.cmp(bl, 3u32)?;
    a.jb(ret)?;
    a.mov(byte_ptr(VAR_PACKET_LEN).ss(), 0u32)?;

    a.call(r.toggle_pointer)?;
    // X: 9-bit two's complement, the sign in bit 4 of the first byte; clamped to the screen.
    let (mut x_pos, mut x_low, mut x_high) = (a.create_label(), a.create_label(), a.create_label());
    a.mov(al, byte_ptr(VAR_PACKET + 1).ss())?;
    a.xor(ah, ah)?;
    a.test(byte_ptr(VAR_PACKET).ss(), 0x10u32)?;
    a.je(x_pos)?;
    a.mov(ah, 0xffu32)?;
    a.set_label(&mut x_pos)?;
    a.add(ax, word_ptr(VAR_MX).ss())?;
    a.jns(x_low)?;
    a.xor(ax, ax)?;
    a.set_label(&mut x_low)?;
    a.cmp(ax, SCREEN_W - 1)?;
    a.jle(x_high)?;
    a.mov(ax, SCREEN_W - 1)?;
    a.set_label(&mut x_high)?;
    a.mov(word_ptr(VAR_MX).ss(), ax)?;
    // Y: the same with the sign in bit 5; PS/2 counts up as positive, the screen down.
    let (mut y_pos, mut y_low, mut y_high) = (a.create_label(), a.create_label(), a.create_label());
    a.mov(al, byte_ptr(VAR_PACKET + 2).ss())?;
    a.xor(ah, ah)?;
    a.test(byte_ptr(VAR_PACKET).ss(), 0x20u32)?;
    a.je(y_pos)?;
    a.mov(ah, 0xffu32)?;
    a.set_label(&mut y_pos)?;
    a.neg(ax)?;
    a.add(ax, word_ptr(VAR_MY).ss())?;
    a.jns(y_low)?;
    a.xor(ax, ax)?;
    a.set_label(&mut y_low)?;
    a.cmp(ax, SCREEN_H - 1)?;
    a.jle(y_high)?;
    a.mov(ax, SCREEN_H - 1)?;
    a.set_label(&mut y_high)?;
    a.mov(word_ptr(VAR_MY).ss(), ax)?;
    // The pointer's cell: row = y / 16, column = x / 9.
    a.mov(cl, 4u32)?;
    a.shr(ax, cl)?;
    a.mov(dx, ROW)?;
    a.mul(dx)?;
    a.mov(bx, ax)?;
    a.mov(ax, word_ptr(VAR_MX).ss())?;
    a.mov(cl, CELL_W)?;
    a.div(cl)?;
    a.xor(ah, ah)?;
    a.shl(ax, 1)?;
    a.add(bx, ax)?;
    a.mov(word_ptr(VAR_POINTER).ss(), bx)?;
    a.call(r.toggle_pointer)?;

    // Buttons newly down (left, right, middle in bits 0-2).
    a.mov(al, byte_ptr(VAR_PACKET).ss())?;
    a.and(al, 0x07u32)?;
    a.mov(ah, byte_ptr(VAR_BUTTONS).ss())?;
    a.mov(byte_ptr(VAR_BUTTONS).ss(), al)?;
    a.not(ah)?;
    a.and(al, ah)?;
    for (bit, text) in clicks.iter().enumerate() {
        let mut up = a.create_label();
        a.test(al, 1u32 << bit)?;
        a.je(up)?;
        a.mov(si, *text)?;
        a.call(r.click)?;
        a.set_label(&mut up)?;
    }
    a.ret()?;
    a.set_label(&mut ret)?;
    a.ret()?;

    let mut click = r.click;
    a.set_label(&mut click)?;
    a.push(ax)?;
    a.call(r.puts)?;
    a.mov(ax, word_ptr(VAR_MX).ss())?;
    a.mov(cl, CELL_W)?;
    a.div(cl)?;
    a.xor(ah, ah)?;
    a.call(r.put_dec)?;
    a.mov(al, b',' as u32)?;
    a.call(r.putc)?;
    a.mov(ax, word_ptr(VAR_MY).ss())?;
    a.mov(cl, 4u32)?;
    a.shr(ax, cl)?;
    a.call(r.put_dec)?;
    a.mov(al, b']' as u32)?;
    a.call(r.putc)?;
    a.pop(ax)?;
    a.ret()
}

/// The output subroutines: `putc`, `puts`, `serial_out`, `put_hex`, `put_dec`, `set_cursor`,
/// `toggle_pointer`, and `serial_byte` (echo of COM1 input).
fn output_routines(a: &mut CodeAssembler, r: &Routines) -> Result<(), IcedError> {
    // serial_byte (AL): CR or LF as Enter, Backspace/Delete as Backspace, printable ASCII
    // echoed, the rest (escape sequences included) ignored.
    let mut serial_byte = r.serial_byte;
    a.set_label(&mut serial_byte)?;
    let (mut not_cr, mut not_lf, mut not_del, mut not_bs, mut ignore) =
        (a.create_label(), a.create_label(), a.create_label(), a.create_label(), a.create_label());
    a.cmp(al, 0x0du32)?;
    a.jne(not_cr)?;
    a.mov(al, b'\n' as u32)?;
    a.set_label(&mut not_cr)?;
    a.cmp(al, b'\n' as u32)?;
    a.jne(not_lf)?;
    a.call(r.putc)?;
    a.ret()?;
    a.set_label(&mut not_lf)?;
    a.cmp(al, 0x7fu32)?;
    a.jne(not_del)?;
    a.mov(al, 0x08u32)?;
    a.set_label(&mut not_del)?;
    a.cmp(al, 0x08u32)?;
    a.jne(not_bs)?;
    a.call(r.putc)?;
    a.ret()?;
    a.set_label(&mut not_bs)?;
    a.cmp(al, 0x20u32)?;
    a.jb(ignore)?;
    a.cmp(al, 0x7eu32)?;
    a.ja(ignore)?;
    a.call(r.putc)?;
    a.set_label(&mut ignore)?;
    a.ret()?;

    // putc (AL): one character to COM1 and the screen at the cursor; '\n' starts a new line,
    // 8 erases the character before the cursor (not into the header). Registers preserved.
    let mut putc = r.putc;
    a.set_label(&mut putc)?;
    for reg in [ax, bx, cx, dx, si, di] {
        a.push(reg)?;
    }
    a.call(r.toggle_pointer)?;
    a.mov(bl, al)?;
    a.mov(di, word_ptr(VAR_CURSOR).ss())?;
    let (mut not_nl, mut printable, mut check_scroll, mut store, mut screen_done) =
        (a.create_label(), a.create_label(), a.create_label(), a.create_label(), a.create_label());
    a.cmp(bl, b'\n' as u32)?;
    a.jne(not_nl)?;
    a.mov(al, b'\r' as u32)?;
    a.call(r.serial_out)?;
    a.mov(al, b'\n' as u32)?;
    a.call(r.serial_out)?;
    a.mov(ax, di)?;
    a.xor(dx, dx)?;
    a.mov(cx, ROW)?;
    a.div(cx)?;
    a.inc(ax)?;
    a.mul(cx)?;
    a.mov(di, ax)?;
    a.jmp(check_scroll)?;
    a.set_label(&mut not_nl)?;
    a.cmp(bl, 0x08u32)?;
    a.jne(printable)?;
    for c in [0x08u32, b' ' as u32, 0x08] {
        a.mov(al, c)?;
        a.call(r.serial_out)?;
    }
    a.cmp(di, TEXT_ROW * ROW)?;
    a.jbe(screen_done)?;
    a.sub(di, 2u32)?;
    a.mov(word_ptr(di).es(), TEXT_ATTR << 8 | b' ' as u32)?;
    a.jmp(store)?;
    a.set_label(&mut printable)?;
    a.mov(al, bl)?;
    a.call(r.serial_out)?;
    a.mov(ah, TEXT_ATTR)?;
    a.cld()?;
    a.stosw()?;
    // Past the last row: scroll the text rows up by one and clear the last.
    a.set_label(&mut check_scroll)?;
    a.cmp(di, ROWS * ROW)?;
    a.jb(store)?;
    a.push(ds)?;
    a.push(es)?;
    a.pop(ds)?;
    a.mov(si, (TEXT_ROW + 1) * ROW)?;
    a.mov(di, TEXT_ROW * ROW)?;
    a.mov(cx, (ROWS - TEXT_ROW - 1) * ROW / 2)?;
    a.cld()?;
    a.rep().movsw()?;
    a.pop(ds)?;
    a.mov(ax, TEXT_ATTR << 8 | b' ' as u32)?;
    a.mov(cx, ROW / 2)?;
    a.rep().stosw()?;
    a.mov(di, (ROWS - 1) * ROW)?;
    a.set_label(&mut store)?;
    a.mov(word_ptr(VAR_CURSOR).ss(), di)?;
    a.set_label(&mut screen_done)?;
    a.call(r.set_cursor)?;
    a.call(r.toggle_pointer)?;
    for reg in [di, si, dx, cx, bx, ax] {
        a.pop(reg)?;
    }
    a.ret()?;

    // puts (DS:SI, NUL-terminated): putc each character. Registers preserved.
    let mut puts = r.puts;
    a.set_label(&mut puts)?;
    a.push(ax)?;
    a.push(si)?;
    let (mut next, mut done) = (a.create_label(), a.create_label());
    a.set_label(&mut next)?;
    a.lodsb()?;
    a.test(al, al)?;
    a.je(done)?;
    a.call(r.putc)?;
    a.jmp(next)?;
    a.set_label(&mut done)?;
    a.pop(si)?;
    a.pop(ax)?;
    a.ret()?;

    // serial_out (AL): to COM1 once the transmitter holding register is empty. Preserves AX.
    let mut serial_out = r.serial_out;
    a.set_label(&mut serial_out)?;
    a.push(ax)?;
    a.push(dx)?;
    a.mov(ah, al)?;
    a.mov(dx, 0x3fdu32)?;
    let mut wait = a.create_label();
    a.set_label(&mut wait)?;
    a.in_(al, dx)?;
    a.test(al, 0x20u32)?;
    a.je(wait)?;
    a.mov(al, ah)?;
    a.mov(dx, 0x3f8u32)?;
    a.out(dx, al)?;
    a.pop(dx)?;
    a.pop(ax)?;
    a.ret()?;

    // put_hex (AL): two hex digits.
    let mut put_hex = r.put_hex;
    a.set_label(&mut put_hex)?;
    a.push(ax)?;
    a.push(cx)?;
    a.mov(ah, al)?;
    for shift in [4u32, 0] {
        let mut digit = a.create_label();
        a.mov(al, ah)?;
        if shift != 0 {
            a.mov(cl, shift)?;
            a.shr(al, cl)?;
        }
        a.and(al, 0x0fu32)?;
        a.add(al, b'0' as u32)?;
        a.cmp(al, b'9' as u32)?;
        a.jbe(digit)?;
        a.add(al, (b'A' - b'9' - 1) as u32)?;
        a.set_label(&mut digit)?;
        a.call(r.putc)?;
    }
    a.pop(cx)?;
    a.pop(ax)?;
    a.ret()?;

    // put_dec (AX): unsigned decimal.
    let mut put_dec = r.put_dec;
    a.set_label(&mut put_dec)?;
    for reg in [ax, bx, cx, dx] {
        a.push(reg)?;
    }
    let (mut divide, mut print) = (a.create_label(), a.create_label());
    a.xor(cx, cx)?;
    a.mov(bx, 10u32)?;
    a.set_label(&mut divide)?;
    a.xor(dx, dx)?;
    a.div(bx)?;
    a.push(dx)?;
    a.inc(cx)?;
    a.test(ax, ax)?;
    a.jne(divide)?;
    a.set_label(&mut print)?;
    a.pop(ax)?;
    a.add(al, b'0' as u32)?;
    a.call(r.putc)?;
    a.loop_(print)?;
    for reg in [dx, cx, bx, ax] {
        a.pop(reg)?;
    }
    a.ret()?;

    // set_cursor (DI = byte offset on the screen): the CRTC's cursor location (0Eh/0Fh).
    let mut set_cursor = r.set_cursor;
    a.set_label(&mut set_cursor)?;
    for reg in [ax, bx, dx] {
        a.push(reg)?;
    }
    a.mov(bx, di)?;
    a.shr(bx, 1)?;
    a.mov(dx, 0x3d4u32)?;
    a.mov(al, 0x0eu32)?;
    a.out(dx, al)?;
    a.inc(dx)?;
    a.mov(al, bh)?;
    a.out(dx, al)?;
    a.dec(dx)?;
    a.mov(al, 0x0fu32)?;
    a.out(dx, al)?;
    a.inc(dx)?;
    a.mov(al, bl)?;
    a.out(dx, al)?;
    for reg in [dx, bx, ax] {
        a.pop(reg)?;
    }
    a.ret()?;

    // toggle_pointer: swap the colours of the pointer's cell (drawn and erased alike).
    let mut toggle = r.toggle_pointer;
    a.set_label(&mut toggle)?;
    a.push(bx)?;
    a.mov(bx, word_ptr(VAR_POINTER).ss())?;
    a.xor(byte_ptr(bx + 1).es(), POINTER_XOR)?;
    a.pop(bx)?;
    a.ret()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tables_cover_the_same_codes() {
        assert_eq!(KEYS[0].len(), KEYS[1].len());
        // Letters and digits where set 1 puts them.
        assert_eq!(KEYS[0][0x1e], b'a');
        assert_eq!(KEYS[1][0x1e], b'A');
        assert_eq!(KEYS[0][0x02], b'1');
        assert_eq!(KEYS[1][0x02], b'!');
        assert_eq!(KEYS[1][0x28], b'"');
        assert_eq!(KEYS[0][0x39], b' ');
        assert_eq!(KEYS[0][0x53], b'.');
        // A named key has no character, so the name is what shows.
        for &(code, _) in NAMES {
            if code < 0x80 {
                assert_eq!(KEYS[0][code as usize], 0, "key {code:#x} has a character and a name");
            }
        }
    }

    #[test]
    fn the_demo_builds() {
        let rom = demo_rom().expect("the demo assembles");
        assert_eq!(rom.len(), crate::rom::ROM_SIZE);
    }
}
