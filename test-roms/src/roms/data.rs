//! Data movement: MOV (registers, immediates, memory with 16- and 32-bit addressing, moffs,
//! segment registers), MOVZX MOVSX XCHG XADD CMPXCHG CMPXCHG8B BSWAP LEA XLAT CBW CWDE CWD CDQ
//! LAHF SAHF CMOVcc SETcc and the far-pointer loads LDS LES LFS LGS LSS.
//!
//! Only XADD, CMPXCHG, CMPXCHG8B (ZF) and SAHF change flags; the rest must leave them alone,
//! which the checks verify by running with all status flags set.

use super::flag::*;
use super::{cmovcc, set_flags, setcc, CONDITION_CASES, CONDITION_NAMES, SCRATCH};
use crate::rom::{RomBuilder, RomError, ROM_SEGMENT};
use iced_x86::code_asm::*;

const S: u32 = SCRATCH;
const ALL: u16 = STATUS | FIXED;

/// Builds the data movement ROM.
pub fn rom() -> Result<Vec<u8>, RomError> {
    let mut rom = RomBuilder::new()?;
    rom.print("data: MOV MOVZX MOVSX XCHG XADD CMPXCHG CMPXCHG8B BSWAP LEA XLAT CBW CWD LAHF SAHF CMOVcc SETcc LxS\n")?;
    mov(&mut rom)?;
    extend(&mut rom)?;
    exchange(&mut rom)?;
    lea_xlat(&mut rom)?;
    flags_and_conditions(&mut rom)?;
    far_pointers(&mut rom)?;
    rom.finish()
}

fn mov(rom: &mut RomBuilder) -> Result<(), RomError> {
    let a = &mut rom.a;
    set_flags(a, ALL)?;
    a.mov(eax, 0x1122_3344u32)?;
    a.mov(ah, 0xabu32)?;
    a.mov(bl, ah)?;
    rom.check_flags("mov keeps flags", STATUS, STATUS)?;
    rom.check_reg32("mov ah,imm", eax, 0x1122_ab44)?;
    rom.check_reg8("mov bl,ah", bl, 0xab)?;
    rom.a.mov(eax, 0xffff_ffffu32)?;
    rom.a.mov(ax, 0x1234u32)?;
    rom.check_reg32("mov ax,imm keeps upper eax", eax, 0xffff_1234)?;
    // Memory: immediate stores, then loads through moffs (A0-A3) and ModRM forms.
    let a = &mut rom.a;
    a.mov(dword_ptr(S).es(), 0x8765_4321u32)?;
    a.mov(word_ptr(S + 4).es(), 0xbeefu32)?;
    a.mov(byte_ptr(S + 6).es(), 0x5au32)?;
    a.mov(al, byte_ptr(S + 1).es())?;
    a.mov(cx, word_ptr(S + 2).es())?;
    rom.check_reg8("mov al,moffs8", al, 0x43)?;
    rom.check_reg16("mov cx,m16", cx, 0x8765)?;
    rom.a.mov(eax, dword_ptr(S + 3).es())?;
    rom.check_reg32("mov eax,moffs32 unaligned", eax, 0x5abe_ef87)?;
    rom.a.mov(ax, 0x1357u32)?;
    rom.a.mov(word_ptr(S + 8).es(), ax)?;
    rom.check_mem16("mov moffs16,ax", S + 8, 0x1357)?;
    // 16-bit addressing: [bx+si+disp], [bp+di] (SS), and wrap-around of the offset.
    let a = &mut rom.a;
    a.mov(bx, S - 0x10)?;
    a.mov(si, 0x0008u32)?;
    a.mov(dx, word_ptr(bx + si + 0x0b).es())?;
    a.mov(bp, S)?;
    a.mov(di, 4u32)?;
    a.mov(cx, word_ptr(bp + di))?;
    rom.check_reg16("mov dx,[bx+si+disp]", dx, 0xef87)?;
    rom.check_reg16("mov cx,[bp+di] (ss)", cx, 0xbeef)?;
    let a = &mut rom.a;
    a.mov(bx, 0xffffu32)?;
    a.mov(si, S + 1)?;
    a.mov(al, byte_ptr(bx + si).es())?;
    rom.check_reg8("[bx+si] wraps at 64K", al, 0x21)?;
    // 32-bit addressing (67): base + index*scale + disp.
    let a = &mut rom.a;
    a.mov(ebx, S - 0x100)?;
    a.mov(ecx, 0x40u32)?;
    a.mov(eax, dword_ptr(ebx + ecx * 4 + 4).es())?;
    rom.check_reg32("mov eax,[ebx+ecx*4+4]", eax, 0x005a_beef)?;
    // Segment registers: MOV Sreg, r/m16 and r/m16, Sreg; ES's base is ES * 16.
    let a = &mut rom.a;
    a.mov(ax, 0x1234u32)?;
    a.mov(fs, ax)?;
    a.mov(word_ptr(S + 0x10).es(), 0x4321u32)?;
    a.mov(gs, word_ptr(S + 0x10).es())?;
    a.mov(bx, fs)?;
    a.mov(word_ptr(S + 0x12).es(), gs)?;
    a.mov(eax, 0xffff_ffffu32)?;
    a.mov(eax, fs)?;
    rom.check_reg16("mov bx,fs", bx, 0x1234)?;
    rom.check_mem16("mov m16,gs", S + 0x12, 0x4321)?;
    rom.check_reg32("mov eax,fs zero-extends (P6)", eax, 0x1234)?;
    let a = &mut rom.a;
    a.mov(ax, S >> 4)?;
    a.mov(es, ax)?;
    a.mov(ecx, dword_ptr(0u32).es())?;
    a.xor(ax, ax)?;
    a.mov(es, ax)?;
    rom.check_reg32("es base is es*16", ecx, 0x8765_4321)?;
    Ok(())
}

fn extend(rom: &mut RomBuilder) -> Result<(), RomError> {
    let a = &mut rom.a;
    set_flags(a, ALL)?;
    a.mov(ebx, 0x1234_8080u32)?;
    a.mov(eax, 0xffff_ffffu32)?;
    a.movzx(eax, bl)?;
    a.movsx(ecx, bl)?;
    a.mov(edx, 0xaaaa_aaaau32)?;
    a.movsx(dx, bl)?;
    a.movzx(esi, bx)?;
    a.movsx(edi, bx)?;
    rom.check_flags("movzx/movsx keep flags", STATUS, STATUS)?;
    rom.check_reg32("movzx eax,bl", eax, 0x80)?;
    rom.check_reg32("movsx ecx,bl", ecx, 0xffff_ff80)?;
    rom.check_reg32("movsx dx,bl", edx, 0xaaaa_ff80)?;
    rom.check_reg32("movzx esi,bx", esi, 0x8080)?;
    rom.check_reg32("movsx edi,bx", edi, 0xffff_8080)?;
    let a = &mut rom.a;
    a.mov(word_ptr(S).es(), 0x7f01u32)?;
    a.movsx(eax, word_ptr(S).es())?;
    a.movsx(cx, byte_ptr(S).es())?;
    a.movzx(edx, byte_ptr(S + 1).es())?;
    rom.check_reg32("movsx eax,m16", eax, 0x7f01)?;
    rom.check_reg16("movsx cx,m8", cx, 1)?;
    rom.check_reg32("movzx edx,m8", edx, 0x7f)?;
    // CBW CWDE CWD CDQ.
    let a = &mut rom.a;
    set_flags(a, ALL)?;
    a.mov(eax, 0x1234_5680u32)?;
    a.cbw()?;
    rom.check_flags("cbw keeps flags", STATUS, STATUS)?;
    rom.check_reg32("cbw", eax, 0x1234_ff80)?;
    rom.a.mov(eax, 0x1234_8000u32)?;
    rom.a.cwde()?;
    rom.check_reg32("cwde", eax, 0xffff_8000)?;
    rom.a.mov(eax, 0x8000u32)?;
    rom.a.mov(edx, 0x5555_5555u32)?;
    rom.a.cwd()?;
    rom.check_reg32("cwd negative", edx, 0x5555_ffff)?;
    rom.a.mov(eax, 0x7fffu32)?;
    rom.a.cwd()?;
    rom.check_reg32("cwd positive", edx, 0x5555_0000)?;
    rom.a.mov(eax, 0x8000_0000u32)?;
    rom.a.cdq()?;
    rom.check_reg32("cdq", edx, 0xffff_ffff)?;
    // BSWAP.
    rom.a.mov(eax, 0x1234_5678u32)?;
    rom.a.bswap(eax)?;
    rom.a.mov(ecx, 0x8000_00ffu32)?;
    rom.a.bswap(ecx)?;
    rom.check_reg32("bswap eax", eax, 0x7856_3412)?;
    rom.check_reg32("bswap ecx", ecx, 0xff00_0080)
}

fn exchange(rom: &mut RomBuilder) -> Result<(), RomError> {
    // XCHG: short form (90+r), r/m forms, memory.
    let a = &mut rom.a;
    set_flags(a, ALL)?;
    a.mov(eax, 0x1111_2222u32)?;
    a.mov(ebx, 0x3333_4444u32)?;
    a.xchg(ax, bx)?;
    a.xchg(al, ah)?;
    a.mov(dword_ptr(S).es(), 0xdead_beefu32)?;
    a.mov(ecx, 0x0102_0304u32)?;
    a.xchg(dword_ptr(S).es(), ecx)?;
    rom.check_flags("xchg keeps flags", STATUS, STATUS)?;
    rom.check_reg32("xchg ax,bx; xchg al,ah", eax, 0x1111_4444)?;
    rom.check_reg32("xchg ax,bx (bx)", ebx, 0x3333_2222)?;
    rom.check_reg32("xchg m32,ecx (ecx)", ecx, 0xdead_beef)?;
    rom.check_mem32("xchg m32,ecx (m)", S, 0x0102_0304)?;
    // XADD: dst = dst + src, src = old dst; flags as ADD.
    let a = &mut rom.a;
    set_flags(a, FIXED)?;
    a.mov(al, 0xffu32)?;
    a.mov(bl, 0x01u32)?;
    a.xadd(al, bl)?;
    rom.check_flags("xadd al,bl flags", STATUS, CF | ZF | AF | PF)?;
    rom.check_reg8("xadd al,bl (al)", al, 0)?;
    rom.check_reg8("xadd al,bl (bl)", bl, 0xff)?;
    rom.a.mov(ecx, 0x7fff_ffffu32)?;
    rom.a.xadd(dword_ptr(S).es(), ecx)?;
    rom.check_flags("xadd m32,ecx flags", STATUS, OF | SF | AF | PF)?;
    rom.check_reg32("xadd m32,ecx (ecx)", ecx, 0x0102_0304)?;
    rom.check_mem32("xadd m32,ecx (m)", S, 0x8102_0303)?;
    // CMPXCHG: compare the accumulator with dst; equal: dst = src; else accumulator = dst.
    let a = &mut rom.a;
    a.mov(al, 0x10u32)?;
    a.mov(bl, 0x10u32)?;
    a.mov(cl, 0x99u32)?;
    a.cmpxchg(bl, cl)?;
    rom.check_flags("cmpxchg equal flags", STATUS, ZF | PF)?;
    rom.check_reg8("cmpxchg equal (dst)", bl, 0x99)?;
    rom.check_reg8("cmpxchg equal (al)", al, 0x10)?;
    let a = &mut rom.a;
    a.mov(eax, 5u32)?;
    a.mov(dword_ptr(S).es(), 7u32)?;
    a.mov(ecx, 9u32)?;
    a.cmpxchg(dword_ptr(S).es(), ecx)?;
    rom.check_flags("cmpxchg differ flags", STATUS, CF | SF | AF)?;
    rom.check_reg32("cmpxchg differ (eax)", eax, 7)?;
    rom.check_mem32("cmpxchg differ (m)", S, 7)?;
    rom.a.mov(ax, 7u32)?;
    rom.a.mov(bx, 0xabcdu32)?;
    rom.a.cmpxchg(word_ptr(S).es(), bx)?;
    rom.check_flags("cmpxchg m16 equal flags", ZF, ZF)?;
    rom.check_mem32("cmpxchg m16 equal (m)", S, 0xabcd)?;
    // CMPXCHG8B: EDX:EAX against m64; equal: m64 = ECX:EBX; else EDX:EAX = m64. Only ZF changes.
    let a = &mut rom.a;
    a.mov(dword_ptr(S).es(), 0x1111_1111u32)?;
    a.mov(dword_ptr(S + 4).es(), 0x2222_2222u32)?;
    a.mov(eax, 0x1111_1111u32)?;
    a.mov(edx, 0x2222_2222u32)?;
    a.mov(ebx, 0x3333_3333u32)?;
    a.mov(ecx, 0x4444_4444u32)?;
    set_flags(a, CF | SF | FIXED)?;
    a.cmpxchg8b(qword_ptr(S).es())?;
    rom.check_flags("cmpxchg8b equal flags", STATUS, ZF | CF | SF)?;
    rom.check_mem32("cmpxchg8b equal (m lo)", S, 0x3333_3333)?;
    rom.check_mem32("cmpxchg8b equal (m hi)", S + 4, 0x4444_4444)?;
    let a = &mut rom.a;
    set_flags(a, ALL)?;
    a.cmpxchg8b(qword_ptr(S).es())?;
    rom.check_flags("cmpxchg8b differ flags", STATUS, STATUS & !ZF)?;
    rom.check_reg32("cmpxchg8b differ (eax)", eax, 0x3333_3333)?;
    rom.check_reg32("cmpxchg8b differ (edx)", edx, 0x4444_4444)?;
    rom.check_mem32("cmpxchg8b differ (m hi)", S + 4, 0x4444_4444)
}

fn lea_xlat(rom: &mut RomBuilder) -> Result<(), RomError> {
    let a = &mut rom.a;
    set_flags(a, ALL)?;
    a.mov(ebx, 0xffff_1000u32)?;
    a.mov(esi, 0x0000_0234u32)?;
    a.lea(ax, word_ptr(bx + si + 0x10))?;
    a.xor(cx, cx)?;
    set_flags(a, ALL)?;
    a.mov(edx, 0x5555_5555u32)?;
    a.lea(dx, word_ptr(bp + di - 1))?;
    a.mov(ecx, 0x10u32)?;
    a.lea(edi, dword_ptr(ebx + ecx * 8 + 0x100))?;
    a.lea(cx, dword_ptr(ebx + ecx * 2))?;
    rom.check_flags("lea keeps flags", STATUS, STATUS)?;
    rom.check_reg16("lea ax,[bx+si+10]", ax, 0x1244)?;
    rom.check_reg32("lea edi,[ebx+ecx*8+100]", edi, 0xffff_1180)?;
    rom.check_reg32("lea cx,[ebx+ecx*2] truncates", ecx, 0x1020)?;
    rom.a.mov(bp, 0u32)?;
    rom.a.mov(di, 0u32)?;
    rom.a.lea(dx, word_ptr(bp + di - 1))?;
    rom.check_reg32("lea dx,[bp+di-1] wraps", edx, 0x5555_ffff)?;
    // XLAT: AL = DS:[BX + AL], from a table in the ROM (DS = CS): table[i] = i ^ 0x5a.
    let table: Vec<u8> = (0..=255u8).map(|i| i ^ 0x5a).collect();
    let t = rom.data(&table);
    rom.a.mov(bx, t)?;
    rom.a.mov(eax, 0x1234_5612u32)?;
    rom.a.xlatb()?;
    rom.check_reg32("xlat", eax, 0x1234_5648)?;
    rom.a.mov(al, 0xffu32)?;
    rom.a.xlatb()?;
    rom.check_reg8("xlat al=ff", al, 0xa5)?;
    Ok(())
}

fn flags_and_conditions(rom: &mut RomBuilder) -> Result<(), RomError> {
    // LAHF: AH = SF ZF 0 AF 0 PF 1 CF.
    let a = &mut rom.a;
    set_flags(a, ALL)?;
    a.mov(eax, 0u32)?;
    a.lahf()?;
    rom.check_reg32("lahf all", eax, 0xd700)?;
    set_flags(&mut rom.a, FIXED | OF)?;
    rom.a.lahf()?;
    rom.check_reg32("lahf none", eax, 0x0200)?;
    // SAHF loads SF ZF AF PF CF from AH, leaves OF.
    rom.a.mov(ah, 0xffu32)?;
    set_flags(&mut rom.a, FIXED)?;
    rom.a.sahf()?;
    rom.check_flags("sahf ff", STATUS | 0x28, SF | ZF | AF | PF | CF)?;
    rom.a.mov(ah, 0x00u32)?;
    set_flags(&mut rom.a, ALL)?;
    rom.a.sahf()?;
    rom.check_flags("sahf 00", STATUS | FIXED, OF | FIXED)?;
    // SETcc and CMOVcc for all sixteen conditions in several flag states.
    for (flags, truth) in CONDITION_CASES {
        for (cc, cond) in CONDITION_NAMES.iter().enumerate() {
            let holds = truth & (1 << cc) != 0;
            let a = &mut rom.a;
            a.mov(ecx, 0xaaaa_aaaau32)?;
            a.mov(eax, 0x1111_1111u32)?;
            a.mov(ebx, 0x2222_2222u32)?;
            set_flags(a, flags | FIXED)?;
            setcc(a, cc, cl)?;
            cmovcc(a, cc, eax, ebx)?;
            rom.check_flags(&format!("set{cond}/cmov{cond} keep flags {flags:#x}"), STATUS, flags)?;
            rom.check_reg32(&format!("set{cond} flags={flags:#x}"), ecx, 0xaaaa_aa00 | holds as u32)?;
            rom.check_reg32(
                &format!("cmov{cond} flags={flags:#x}"),
                eax,
                if holds { 0x2222_2222 } else { 0x1111_1111 },
            )?;
        }
    }
    // SETcc to memory, CMOVcc from memory.
    let a = &mut rom.a;
    a.mov(dword_ptr(S).es(), 0xffff_ffffu32)?;
    a.mov(dword_ptr(S + 4).es(), 0x7777_7777u32)?;
    a.mov(eax, 0u32)?;
    set_flags(a, CF | FIXED)?;
    a.setb(byte_ptr(S + 1).es())?;
    a.setz(byte_ptr(S + 2).es())?;
    a.cmovb(eax, dword_ptr(S + 4).es())?;
    rom.check_mem32("setb/setz m8", S, 0xff00_01ff)?;
    rom.check_reg32("cmovb eax,m32", eax, 0x7777_7777)?;
    Ok(())
}

fn far_pointers(rom: &mut RomBuilder) -> Result<(), RomError> {
    // Far pointers in the ROM: offset then segment.
    let p16 = rom.data(&[0x34, 0x12, 0x00, 0x01]);
    let p32 = rom.data(&[0x78, 0x56, 0x34, 0x12, 0xcd, 0xab]);
    let a = &mut rom.a;
    set_flags(a, ALL)?;
    a.lds(si, dword_ptr(p16))?;
    a.mov(ax, ds)?;
    a.mov(cx, ROM_SEGMENT as u32)?;
    a.mov(ds, cx)?;
    rom.check_reg16("lds (si)", si, 0x1234)?;
    rom.check_reg16("lds (ds)", ax, 0x0100)?;
    let a = &mut rom.a;
    a.les(di, dword_ptr(p16))?;
    a.mov(ax, es)?;
    a.xor(cx, cx)?;
    a.mov(es, cx)?;
    rom.check_reg16("les (di)", di, 0x1234)?;
    rom.check_reg16("les (es)", ax, 0x0100)?;
    let a = &mut rom.a;
    set_flags(a, ALL)?;
    a.lfs(ebx, fword_ptr(p32))?;
    a.lgs(dx, dword_ptr(p32))?;
    rom.check_flags("lds..lgs keep flags", STATUS, STATUS)?;
    rom.check_reg32("lfs r32 (ebx)", ebx, 0x1234_5678)?;
    rom.a.mov(ax, fs)?;
    rom.check_reg16("lfs r32 (fs)", ax, 0xabcd)?;
    rom.check_reg16("lgs r16 (dx)", dx, 0x5678)?;
    rom.a.mov(ax, gs)?;
    rom.check_reg16("lgs r16 (gs)", ax, 0x1234)?;
    // LSS: a new stack at 0010:6700 (linear 0x6800); a push lands at linear 0x67FE.
    let pss = rom.data(&[0x00, 0x67, 0x10, 0x00]);
    let a = &mut rom.a;
    a.mov(word_ptr(S).es(), sp)?;
    a.lss(sp, dword_ptr(pss))?;
    a.push(0x4321u32)?;
    a.mov(bx, sp)?;
    a.mov(ax, ss)?;
    a.xor(cx, cx)?;
    a.mov(ss, cx)?;
    a.mov(sp, word_ptr(S).es())?;
    rom.check_reg16("lss (sp after push)", bx, 0x66fe)?;
    rom.check_reg16("lss (ss)", ax, 0x0010)?;
    rom.check_mem16("lss push lands at ss*16+sp", 0x67fe, 0x4321)?;
    Ok(())
}
