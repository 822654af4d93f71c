//! Self-modifying code, in real mode: code copied to RAM that patches the instruction right after
//! the store (in the same basic block), and a REP MOVSB that overwrites the instructions after
//! it in its own block. A JIT must invalidate the translated block and run the new bytes; the
//! interpreter sees them anyway. (Aliased virtual pages are in `smc_paging`.)
//!
//! The code runs at [`CODE_SEG`]:0000 (physical 0x2000), called far from the ROM.

use crate::rom::{RomBuilder, RomError};
use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;

/// Where the self-modifying routines run (segment; physical address 0x2000).
const CODE_SEG: u16 = 0x0200;

/// Assembles `body` at offset 0 and returns its bytes and the offsets of `labels` in it.
pub(crate) fn assemble_at0(
    body: impl FnOnce(&mut CodeAssembler, &mut [CodeLabel]) -> Result<(), IcedError>,
    nlabels: usize,
) -> Result<(Vec<u8>, Vec<u32>), RomError> {
    let mut a = CodeAssembler::new(16)?;
    let mut labels: Vec<CodeLabel> = (0..nlabels).map(|_| a.create_label()).collect();
    body(&mut a, &mut labels)?;
    let r = a.assemble_options(0, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let offs = labels.iter().map(|l| r.label_ip(l).map(|ip| ip as u32)).collect::<Result<Vec<_>, _>>()?;
    Ok((r.inner.code_buffer, offs))
}

/// Copies `code` (in the ROM data area) to CODE_SEG:0000 and calls it far (needs ES = 0 and
/// DS = CS = F000; CX, SI, DI are clobbered).
fn copy_and_call(rom: &mut RomBuilder, code: &[u8]) -> Result<(), RomError> {
    let src = rom.data(code);
    let a = &mut rom.a;
    a.cld()?;
    a.mov(si, src)?;
    a.mov(di, (CODE_SEG as u32) << 4)?;
    a.mov(cx, code.len() as u32)?;
    a.rep().movsb()?;
    a.call_far(CODE_SEG, 0)?;
    Ok(())
}

/// Builds the self-modifying code ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("smc: a store patching the next instruction, REP MOVSB over its own block\n")?;

    // 1. A loop whose first instruction patches the immediate of the second: each pass must run
    //    the value the store just wrote (1, 2, 3), never a stale translation (0).
    let (code, _) = assemble_at0(
        |a, l| {
            a.xor(dx, dx)?;
            a.mov(bl, 1u32)?;
            a.set_label(&mut l[0])?;
            // mov [cs:patch+1], bl (patch is 5 bytes on: this store is 2E 88 1E disp16 = 5).
            a.db(&[0x2e, 0x88, 0x1e])?;
            a.dw(&[0])?; // fixed up below
            a.db(&[0xb0, 0x00])?; // patch: mov al, imm8
            a.add(dl, al)?;
            a.inc(bl)?;
            a.cmp(bl, 4u32)?;
            a.jne(l[0])?;
            a.mov(ax, dx)?;
            a.retf()
        },
        1,
    )?;
    // Fix the store's displacement: the imm8 of the MOV AL right after it.
    let mut code = code;
    let store = code.windows(3).position(|w| w == [0x2e, 0x88, 0x1e]).expect("the patching store is in the code");
    let imm = (store + 5 + 1) as u16;
    code[store + 3..store + 5].copy_from_slice(&imm.to_le_bytes());
    copy_and_call(&mut rom, &code)?;
    rom.check_reg16("patched next instruction: 1+2+3", ax, 6)?;
    // The last value stays patched in RAM.
    rom.check_mem8("patched byte in RAM", ((CODE_SEG as u32) << 4) + imm as u32, 3)?;

    // 2. REP MOVSB (ES:DI = CS:after) overwrites the two instructions after it, in its own
    //    block: `mov al, 1; retf` becomes `mov al, 2; retf`.
    let (code, offs) = assemble_at0(
        |a, l| {
            a.push(cs)?;
            a.pop(es)?;
            a.mov(si, 0u32)?; // fixed up: offset of `new`
            a.mov(di, 0u32)?; // fixed up: offset of `old`
            a.mov(cx, 2u32)?;
            a.set_label(&mut l[2])?;
            a.db(&[0x2e])?; // source CS:SI
            a.rep().movsb()?;
            a.set_label(&mut l[0])?;
            a.mov(al, 1u32)?; // old
            a.retf()?;
            a.set_label(&mut l[1])?;
            a.db(&[0xb0, 0x02]) // new: mov al, 2
        },
        3,
    )?;
    let mut code = code;
    let (old, new) = (offs[0] as u16, offs[1] as u16);
    // `push cs; pop es` = 2 bytes, then BE imm16 (mov si), BF imm16 (mov di).
    assert!(code[2] == 0xbe && code[5] == 0xbf, "smc: unexpected encoding of the REP MOVSB routine");
    code[3..5].copy_from_slice(&new.to_le_bytes());
    code[6..8].copy_from_slice(&old.to_le_bytes());
    rom.a.push(es)?;
    copy_and_call(&mut rom, &code)?;
    rom.a.pop(es)?;
    rom.check_reg8("rep movsb over its own block runs the new code", al, 2)?;

    // 3. Run the now-patched routine again: still the new code (the block was retranslated).
    rom.a.mov(al, 0u32)?;
    rom.a.call_far(CODE_SEG, offs[0])?;
    rom.check_reg8("patched routine called again", al, 2)?;

    rom.finish()
}
