//! MUL and IMUL in all forms (one operand at 8/16/32 bits, `r, r/m`, `r, r/m, imm8` and
//! `r, r/m, imm16/32`), DIV and IDIV at 8/16/32 bits, and the divide error (#DE, vector 0) for
//! a zero divisor and for quotients that do not fit, delivered through an IVT handler that
//! records the fault and skips the instruction.
//!
//! After MUL and IMUL only CF and OF are defined (set when the product does not fit the
//! destination); SF ZF AF PF are masked. After DIV and IDIV no flag is defined. A divide error
//! pushes the address of the DIV itself and leaves the registers unchanged.

use super::flag::*;
use super::{expect_exception, install_recorder, Kind, SCRATCH};
use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;

type Emit = fn(&mut CodeAssembler) -> Result<(), IcedError>;

/// Loads EAX, EDX and EBX (and the scratch dword with EBX), runs `op`, and checks EAX, EDX and
/// (with `overflow`: Some) CF and OF.
#[allow(clippy::too_many_arguments)]
fn case(
    rom: &mut RomBuilder,
    name: &str,
    eax_in: u32,
    edx_in: u32,
    ebx_in: u32,
    op: Emit,
    eax_out: u32,
    edx_out: u32,
    overflow: Option<bool>,
) -> Result<(), RomError> {
    let a = &mut rom.a;
    a.mov(eax, eax_in)?;
    a.mov(edx, edx_in)?;
    a.mov(ebx, ebx_in)?;
    a.mov(dword_ptr(SCRATCH).es(), ebx)?;
    op(a)?;
    if let Some(o) = overflow {
        rom.check_flags(&format!("{name} CF OF"), CF | OF, if o { CF | OF } else { 0 })?;
    }
    rom.check_reg32(&format!("{name} eax"), eax, eax_out)?;
    rom.check_reg32(&format!("{name} edx"), edx, edx_out)?;
    Ok(())
}

/// Builds the multiply and divide ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("muldiv: MUL IMUL DIV IDIV #DE\n")?;
    let r = &mut rom;

    // MUL: AX = AL * r/m8, DX:AX = AX * r/m16, EDX:EAX = EAX * r/m32; CF = OF = high half != 0.
    case(r, "mul8 80*2", 0x80, 0, 2, |a| a.mul(bl), 0x0100, 0, Some(true))?;
    case(
        r,
        "mul8 f*f",
        0xffff_000f,
        0x5555,
        0x0f,
        |a| a.mul(byte_ptr(SCRATCH).es()),
        0xffff_00e1,
        0x5555,
        Some(false),
    )?;
    case(r, "mul16 8000*4", 0x8000, 0, 4, |a| a.mul(bx), 0, 2, Some(true))?;
    case(
        r,
        "mul16 1234*10",
        0x1234,
        0xabcd_0000,
        0x10,
        |a| a.mul(word_ptr(SCRATCH).es()),
        0x2340,
        0xabcd_0001,
        Some(true),
    )?;
    case(r, "mul16 ff*ff", 0xff, 0xffff, 0xff, |a| a.mul(bx), 0xfe01, 0, Some(false))?;
    case(r, "mul32 -1*-1", 0xffff_ffff, 0, 0xffff_ffff, |a| a.mul(ebx), 1, 0xffff_fffe, Some(true))?;
    case(r, "mul32 10000*10000", 0x10000, 0, 0x10000, |a| a.mul(dword_ptr(SCRATCH).es()), 0, 1, Some(true))?;
    case(r, "mul32 1234*10", 0x1234, 0x7777, 0x10, |a| a.mul(ebx), 0x12340, 0, Some(false))?;

    // IMUL, one operand: CF = OF = the product is not the sign extension of its low half.
    case(r, "imul8 -1*2", 0xff, 0, 2, |a| a.imul(bl), 0xfffe, 0, Some(false))?;
    case(r, "imul8 40*2", 0x40, 0, 2, |a| a.imul(byte_ptr(SCRATCH).es()), 0x0080, 0, Some(true))?;
    case(r, "imul8 -128*-1", 0x80, 0, 0xff, |a| a.imul(bl), 0x0080, 0, Some(true))?;
    case(r, "imul16 -1*-1", 0xffff, 0x1234, 0xffff, |a| a.imul(bx), 1, 0, Some(false))?;
    case(r, "imul16 4000*2", 0x4000, 0, 2, |a| a.imul(word_ptr(SCRATCH).es()), 0x8000, 0, Some(true))?;
    case(r, "imul16 8000*8000", 0x8000, 0, 0x8000, |a| a.imul(bx), 0, 0x4000, Some(true))?;
    case(r, "imul32 -1*7fffffff", 0xffff_ffff, 0, 0x7fff_ffff, |a| a.imul(ebx), 0x8000_0001, 0xffff_ffff, Some(false))?;
    case(
        r,
        "imul32 10000*8000",
        0x10000,
        0x1111,
        0x8000,
        |a| a.imul(dword_ptr(SCRATCH).es()),
        0x8000_0000,
        0,
        Some(true),
    )?;

    // IMUL r, r/m (0F AF): the truncated product; EDX untouched.
    case(r, "imul ax,bx 100*100", 0x100, 0x9999, 0x100, |a| a.imul_2(ax, bx), 0, 0x9999, Some(true))?;
    case(r, "imul eax,ebx -2*3", 0xffff_fffe, 0, 3, |a| a.imul_2(eax, ebx), 0xffff_fffa, 0, Some(false))?;
    case(
        r,
        "imul eax,m32 8000*10000",
        0x8000,
        0,
        0x10000,
        |a| a.imul_2(eax, dword_ptr(SCRATCH).es()),
        0x8000_0000,
        0,
        Some(true),
    )?;
    // IMUL r, r/m, imm8 (6B) and imm16/32 (69).
    case(r, "imul ax,bx,-3", 0xaaaa_0000, 0, 7, |a| a.imul_3(ax, bx, 0xfffdu32), 0xaaaa_ffeb, 0, Some(false))?;
    case(r, "imul ax,m16,1234", 0, 0, 3, |a| a.imul_3(ax, word_ptr(SCRATCH).es(), 0x1234u32), 0x369c, 0, Some(false))?;
    case(r, "imul eax,ebx,10000", 0, 0, 0x8000, |a| a.imul_3(eax, ebx, 0x10000u32), 0x8000_0000, 0, Some(true))?;
    case(
        r,
        "imul edx,ebx,-1",
        0x1234,
        0,
        0x8000_0000,
        |a| a.imul_3(edx, ebx, 0xffff_ffffu32),
        0x1234,
        0x8000_0000,
        Some(true),
    )?;

    // DIV: AL = AX / r/m8, AH = remainder; AX, DX from DX:AX; EAX, EDX from EDX:EAX.
    case(r, "div8 107/10", 0x0107, 0, 0x10, |a| a.div(bl), 0x0710, 0, None)?;
    case(r, "div16 10000/3", 0, 1, 3, |a| a.div(word_ptr(SCRATCH).es()), 0x5555, 1, None)?;
    case(r, "div32 100000000/10", 0, 1, 0x10, |a| a.div(ebx), 0x1000_0000, 0, None)?;
    case(r, "div32 100/7", 0x100, 0, 7, |a| a.div(dword_ptr(SCRATCH).es()), 0x24, 4, None)?;
    // IDIV truncates toward zero; the remainder has the dividend's sign.
    case(r, "idiv8 -7/2", 0xfff9, 0, 2, |a| a.idiv(bl), 0xfffd, 0, None)?;
    case(r, "idiv8 -128/1", 0xff80, 0, 1, |a| a.idiv(byte_ptr(SCRATCH).es()), 0x0080, 0, None)?;
    case(r, "idiv16 -1000/7", 0xfc18, 0xffff, 7, |a| a.idiv(bx), 0xff72, 0xfffa, None)?;
    case(r, "idiv32 100/-7", 0x100, 0, 0xffff_fff9, |a| a.idiv(ebx), 0xffff_ffdc, 4, None)?;
    case(r, "idiv32 -7fffffff/-1", 0x8000_0001, 0xffff_ffff, 0xffff_ffff, |a| a.idiv(ebx), 0x7fff_ffff, 0, None)?;

    // #DE: a zero divisor, or a quotient too large for the destination. The handler skips the
    // instruction; the registers must be as before it.
    install_recorder(&mut rom, 0)?;
    type De = (&'static str, u32, u32, u32, fn(&mut CodeAssembler) -> Result<(), IcedError>);
    let faults: [De; 9] = [
        ("div8 by 0", 0x1234, 0x5678, 0, |a| a.div(bl)),
        ("div8 1000/10", 0x1000, 0, 0x10, |a| a.div(bl)),
        ("div16 100000/10", 0, 0x10, 0x10, |a| a.div(bx)),
        ("div16 m16 by 0", 0x1234, 0, 0, |a| a.div(word_ptr(SCRATCH).es())),
        ("div32 by 0", 0x1234, 0x5678, 0, |a| a.div(ebx)),
        ("idiv8 -128/-1", 0xff80, 0, 0xff, |a| a.idiv(bl)),
        ("idiv16 -8000/-1", 0x8000, 0xffff, 0xffff, |a| a.idiv(bx)),
        ("idiv32 -80000000/-1", 0x8000_0000, 0xffff_ffff, 0xffff_ffff, |a| a.idiv(ebx)),
        ("idiv32 by 0", 0x1234, 0x5678, 0, |a| a.idiv(dword_ptr(SCRATCH).es())),
    ];
    for (name, x, d, y, op) in faults {
        let name = format!("#DE {name}");
        let a = &mut rom.a;
        a.mov(eax, x)?;
        a.mov(edx, d)?;
        a.mov(ebx, y)?;
        a.mov(dword_ptr(SCRATCH).es(), ebx)?;
        expect_exception(&mut rom, &name, 0, Kind::Fault, op)?;
        rom.check_reg32(&format!("{name} keeps eax"), eax, x)?;
        rom.check_reg32(&format!("{name} keeps edx"), edx, d)?;
    }
    rom.finish()
}
