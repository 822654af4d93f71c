//! Lazy flags across block boundaries: a block that reads CF (ADC, SETB) or a signed, sign,
//! overflow or parity condition right after the block before set the flags, for the kinds the
//! translator tests for first (a 32-bit SUB or ADD, a logical operation), for the others (a byte
//! CMP, INC: through `helpers::arith_flags` and `helpers::condition`), and after a shift by CL in
//! the same block (flags picked at run time); with `cc_src2` left over from an ADC under kinds
//! that do not read it. Both tiers must agree on every register, flag and lazy-flags field.

mod common;

use common::*;
use emu_cpu_x86::Stop;
use iced_x86::code_asm::*;
use iced_x86::IcedError;

/// A condition the program reads into DL (its negation into DH).
#[derive(Clone, Copy)]
enum Cond {
    L,
    Le,
    S,
    O,
    P,
}

impl Cond {
    fn set(self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        match self {
            Cond::L => {
                a.setl(dl)?;
                a.setge(dh)
            }
            Cond::Le => {
                a.setle(dl)?;
                a.setg(dh)
            }
            Cond::S => {
                a.sets(dl)?;
                a.setns(dh)
            }
            Cond::O => {
                a.seto(dl)?;
                a.setno(dh)
            }
            Cond::P => {
                a.setp(dl)?;
                a.setnp(dh)
            }
        }
    }
}

/// For each [`Cond`]: the flags `set_flags` sets, a JNE to the next instruction (which ends the
/// block), the condition read first thing in the next block, and its bytes added into `acc`.
fn read_each_condition(
    a: &mut CodeAssembler,
    labels: &mut [CodeLabel],
    set_flags: impl Fn(&mut CodeAssembler) -> Result<(), IcedError>,
    acc: AsmRegister32,
) -> Result<(), IcedError> {
    for (read, label) in [Cond::L, Cond::Le, Cond::S, Cond::O, Cond::P].into_iter().zip(labels) {
        set_flags(a)?;
        a.jne(*label)?;
        a.set_label(label)?;
        read.set(a)?;
        a.add(acc, edx)?;
        a.rol(acc, 1)?;
    }
    Ok(())
}

fn program() -> Vec<u8> {
    asm(32, |a| {
        let mut top = a.create_label();
        let mut labels: Vec<CodeLabel> = (0..15).map(|_| a.create_label()).collect();
        a.mov(ecx, 300u32)?;
        a.mov(eax, 0x8000_0001u32)?;
        a.mov(ebx, 0x7fff_ffffu32)?;
        a.xor(edx, edx)?;
        a.xor(esi, esi)?;
        a.xor(edi, edi)?;
        a.set_label(&mut top)?;
        // An ADC with a carry in: `cc_src2` is 1 from here on, until another ADC, SBB, INC or DEC.
        a.stc()?;
        a.adc(eax, ebx)?;
        // A 32-bit CMP ends the block; the next one reads its CF first thing.
        a.cmp(eax, ecx)?;
        a.jne(labels[0])?;
        a.set_label(&mut labels[0])?;
        a.adc(esi, 0)?;
        // A TEST (CF clear).
        a.test(eax, edx)?;
        a.jne(labels[1])?;
        a.set_label(&mut labels[1])?;
        a.adc(edi, 0)?;
        a.setb(bl)?;
        // A byte CMP: not a kind tested for first.
        a.cmp(al, cl)?;
        a.je(labels[2])?;
        a.set_label(&mut labels[2])?;
        a.adc(esi, edi)?;
        // INC keeps the CF of the ADD before it.
        a.add(edx, eax)?;
        a.inc(edx)?;
        a.je(labels[3])?;
        a.set_label(&mut labels[3])?;
        a.adc(edi, 1)?;
        // A shift by CL (no flags change when CL & 31 is 0), then CF read in the same block.
        a.mov(ebp, eax)?;
        a.shl(ebp, cl)?;
        a.adc(esi, ebp)?;
        // Signed, sign, overflow and parity conditions first thing in a block, each read in a block
        // of its own: after a CMP (that overflows for about half the values of EAX)...
        a.mov(ebp, 0x7fff_fff0u32)?;
        read_each_condition(a, &mut labels[4..9], |a| a.cmp(ebp, eax), esi)?;
        // ...after a TEST...
        read_each_condition(a, &mut labels[9..14], |a| a.test(eax, ebx), edi)?;
        // ...a byte CMP (the helper)...
        a.cmp(al, bl)?;
        a.jne(labels[14])?;
        a.set_label(&mut labels[14])?;
        a.setl(dl)?;
        a.setno(dh)?;
        a.add(edi, edx)?;
        // ...and a shift by CL in the block (its flags stored for the helper).
        a.mov(ebp, eax)?;
        a.sar(ebp, cl)?;
        a.setl(dl)?;
        a.sets(dh)?;
        a.add(esi, edx)?;
        a.rol(ebx, 5)?;
        a.add(eax, 0x9e37_79b9u32)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    })
}

#[test]
fn flags_read_after_the_block_before_set_them_are_the_interpreters() {
    let (c, stop, j) = same_in_both(|| flat32(&program()), 100_000, "lazy flags");
    assert_eq!(stop, Stop::Halted);
    assert!(j.stats.blocks_compiled >= 5, "the blocks ran translated: {}", j.stats.blocks_compiled);
    assert_ne!(c.s.regs[6], 0, "ESI summed carries");
}
