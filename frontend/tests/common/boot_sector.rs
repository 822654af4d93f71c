//! Pieces of the real-mode boot sectors the tests assemble (iced-x86's code assembler).

use iced_x86::code_asm::*;

/// Flat real-mode segments: DS = ES = SS = 0, the stack just below the boot sector at 0000:7C00.
pub fn flat_segments(a: &mut CodeAssembler) {
    a.xor(ax, ax).unwrap();
    a.mov(ds, ax).unwrap();
    a.mov(es, ax).unwrap();
    a.mov(ss, ax).unwrap();
    a.mov(sp, 0x7c00u32).unwrap();
}

/// The subroutine at `label`: sends the NUL-terminated string at DS:SI to COM1 (0x3F8) and
/// returns (AL, DX and SI changed; AH and BX kept).
pub fn com1_print(a: &mut CodeAssembler, label: &mut CodeLabel) {
    a.set_label(label).unwrap();
    a.mov(dx, 0x3f8u32).unwrap();
    let mut next = a.create_label();
    let mut end = a.create_label();
    a.set_label(&mut next).unwrap();
    a.lodsb().unwrap();
    a.test(al, al).unwrap();
    a.jz(end).unwrap();
    a.out(dx, al).unwrap();
    a.jmp(next).unwrap();
    a.set_label(&mut end).unwrap();
    a.ret().unwrap();
}
