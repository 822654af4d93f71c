//! Decoder tests: hand-picked encodings, and a cross-check of lengths and operand forms against
//! iced-x86 over random bytes.

use super::*;
use iced_x86::{Decoder, DecoderOptions, Mnemonic as Iced};

fn dec(code32: bool, bytes: &[u8]) -> Result<Insn, DecodeError<()>> {
    decode(code32, |n| bytes.get(n).copied().ok_or(()))
}

#[test]
fn modrm_16_bit_forms() {
    let i = dec(false, &[0x8b, 0x42, 0x08]).unwrap(); // mov ax, [bp+si+8]
    assert_eq!(i.mnemonic, Mnemonic::Mov);
    assert_eq!(i.len, 3);
    assert_eq!(i.seg, SegReg::Ss);
    assert_eq!((i.mem.base, i.mem.index, i.mem.disp), (5, 6, 8));
    let i = dec(false, &[0x8b, 0x06, 0x34, 0x12]).unwrap(); // mov ax, [0x1234]
    assert_eq!((i.mem.base, i.mem.index, i.mem.disp, i.seg), (NO_REG, NO_REG, 0x1234, SegReg::Ds));
}

#[test]
fn sib_and_prefixes() {
    // 66 67 26 8b 44 8d 10: mov eax... in 16-bit code with 32-bit operand and address size
    let i = dec(false, &[0x66, 0x67, 0x26, 0x8b, 0x44, 0x8d, 0x10]).unwrap();
    assert_eq!((i.osize, i.asize, i.seg, i.len), (Size::D, Size::D, SegReg::Es, 7));
    assert_eq!((i.mem.base, i.mem.index, i.mem.scale, i.mem.disp), (5, 1, 2, 0x10));
    // [ebp] with mod 0 needs the SIB no-base form: 8b 04 25 disp32 = mov eax, [disp32]
    let i = dec(true, &[0x8b, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12]).unwrap();
    assert_eq!((i.mem.base, i.mem.index, i.mem.disp), (NO_REG, NO_REG, 0x12345678));
}

#[test]
fn nop_placeholder_is_what_90_decodes_to() {
    assert_eq!(dec(true, &[0x90]).unwrap(), Insn::NOP);
}

#[test]
fn fifteen_byte_limit() {
    let mut bytes = vec![0x66; 14];
    bytes.push(0x90);
    assert!(dec(true, &bytes).is_ok());
    let mut bytes = vec![0x66; 15];
    bytes.push(0x90);
    assert_eq!(dec(true, &bytes), Err(DecodeError::TooLong));
}

#[test]
fn undefined_encodings_decode_as_invalid() {
    assert_eq!(dec(true, &[0x8d, 0xc0]).unwrap().mnemonic, Mnemonic::Invalid); // lea eax, eax
    assert_eq!(dec(true, &[0x8e, 0xc8]).unwrap().mnemonic, Mnemonic::Invalid); // mov cs, ax
    assert_eq!(dec(true, &[0xf0, 0x01, 0xc0]).unwrap().mnemonic, Mnemonic::Invalid); // lock add eax, eax
    assert_eq!(dec(true, &[0xf0, 0x01, 0x00]).unwrap().mnemonic, Mnemonic::Add); // lock add [eax], eax
    assert_eq!(dec(true, &[0x0f, 0x0b]).unwrap().mnemonic, Mnemonic::Ud2);
    assert_eq!(dec(true, &[0xfe, 0xd0]).unwrap().mnemonic, Mnemonic::Invalid);
}

/// Mnemonics whose opcode we implement and iced decodes the same way (i686 integer set).
fn comparable(m: Iced) -> bool {
    !matches!(m, Iced::INVALID) && format!("{m:?}").chars().next().is_some_and(|c| c != 'F')
}

/// Our decoder and iced-x86 agree on the length of every instruction both consider valid.
#[test]
fn lengths_match_iced_on_random_bytes() {
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut compared = 0;
    for n in 0..200_000 {
        let code32 = n % 2 == 0;
        let bytes: Vec<u8> = (0..16).map(|_| rand() as u8).collect();
        let ours = dec(code32, &bytes);
        let mut d = Decoder::new(if code32 { 32 } else { 16 }, &bytes, DecoderOptions::NONE);
        let theirs = d.decode();
        let Ok(ours) = ours else { continue };
        if ours.mnemonic == Mnemonic::Invalid || !comparable(theirs.mnemonic()) {
            continue;
        }
        // Opcodes newer than the i686 (SSE, etc.) are invalid for us; skip them.
        if theirs.cpuid_features().iter().any(|f| {
            !matches!(
                f,
                iced_x86::CpuidFeature::INTEL8086
                    | iced_x86::CpuidFeature::INTEL186
                    | iced_x86::CpuidFeature::INTEL286
                    | iced_x86::CpuidFeature::INTEL386
                    | iced_x86::CpuidFeature::INTEL486
                    | iced_x86::CpuidFeature::CPUID
                    | iced_x86::CpuidFeature::TSC
                    | iced_x86::CpuidFeature::MSR
                    | iced_x86::CpuidFeature::CX8
                    | iced_x86::CpuidFeature::CMOV
                    | iced_x86::CpuidFeature::SEP
                    | iced_x86::CpuidFeature::MULTIBYTENOP
                    | iced_x86::CpuidFeature::PAUSE
            )
        }) {
            continue;
        }
        assert_eq!(
            ours.len as usize,
            theirs.len(),
            "length of {:02x?} in {}-bit code: ours {:?}, iced {}",
            &bytes[..theirs.len().max(ours.len as usize)],
            if code32 { 32 } else { 16 },
            ours.mnemonic,
            theirs
        );
        compared += 1;
    }
    assert!(compared > 50_000, "only {compared} instructions compared");
}
