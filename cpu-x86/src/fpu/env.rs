//! Saving and restoring the x87 state: FSTENV/FLDENV and FSAVE/FRSTOR in their four layouts
//! (16- and 32-bit operand size; real-address/virtual-8086 and protected mode), and
//! FXSAVE/FXRSTOR. SDM Vol. 1, 8.1.10 and Figures 8-9 to 8-12 (environment layouts), 8.1.11
//! (FSAVE image); Vol. 2, FXSAVE (Table 3-53, legacy image) and FXRSTOR.
//!
//! Memory is read completely before any state changes, and destinations are probed (segment
//! limit and page translation of every page touched) before the first byte is written, so a
//! fault leaves both the FPU and memory as they were.

use super::ops::{f80_bytes, f80_from_bytes, sanitize_cw};
use super::{sw, Fpu};
use crate::cpu::Cpu;
use crate::decode::{Insn, Mnemonic};
use crate::fault::{Fault, Res};
use crate::flags::Size;
use crate::state::{cr0, SegReg};
use crate::tlb::Access;

/// Reads `buf.len()` bytes at `seg:off` (the whole range is limit-checked first).
pub fn read_mem(cpu: &mut Cpu, seg: SegReg, off: u32, buf: &mut [u8]) -> Res {
    cpu.linear(seg, off, buf.len() as u32, Access::Read)?;
    let mut k = 0;
    while k < buf.len() {
        let o = off.wrapping_add(k as u32);
        if buf.len() - k >= 4 {
            let v = cpu.read(seg, o, Size::D)?;
            buf[k..k + 4].copy_from_slice(&v.to_le_bytes());
            k += 4;
        } else {
            buf[k] = cpu.read(seg, o, Size::B)? as u8;
            k += 1;
        }
    }
    Ok(())
}

/// Writes `data` at `seg:off`, after checking the segment limit and translating every page the
/// range touches, so the write either happens completely or faults before any byte changes.
pub fn write_mem(cpu: &mut Cpu, seg: SegReg, off: u32, data: &[u8]) -> Res {
    let lin = cpu.linear(seg, off, data.len() as u32, Access::Write)?;
    let user = cpu.s.cpl == 3;
    let last = lin.wrapping_add(data.len() as u32 - 1);
    cpu.translate(lin, Access::Write, user)?;
    if last & !0xfff != lin & !0xfff {
        cpu.translate(last, Access::Write, user)?;
    }
    let mut k = 0;
    while k < data.len() {
        let o = off.wrapping_add(k as u32);
        if data.len() - k >= 4 {
            let v = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
            cpu.write(seg, o, Size::D, v)?;
            k += 4;
        } else {
            cpu.write(seg, o, Size::B, data[k] as u32)?;
            k += 1;
        }
    }
    Ok(())
}

/// Real-address and virtual-8086 mode use the real-mode layouts (linear instruction and data
/// pointers, no selectors).
fn real_layout(cpu: &Cpu) -> bool {
    !cpu.s.protected() || cpu.s.v86()
}

/// The FSTENV image: 28 bytes (32-bit operand size) or 14 bytes (16-bit).
pub fn env_image(f: &Fpu, size32: bool, real: bool) -> Vec<u8> {
    let tag = f.full_tag_word() as u32;
    let (cw, sw_, fop) = (f.fcw as u32, f.fsw as u32, f.fop as u32 & 0x7ff);
    let lip = ((f.fcs as u32) << 4).wrapping_add(f.fip);
    let ldp = ((f.fds as u32) << 4).wrapping_add(f.fdp);
    if size32 {
        let hi = 0xffff_0000;
        let words = if real {
            [
                hi | cw,
                hi | sw_,
                hi | tag,
                hi | (lip & 0xffff),
                ((lip & 0xffff_0000) >> 4) | fop,
                hi | (ldp & 0xffff),
                (ldp & 0xffff_0000) >> 4,
            ]
        } else {
            [hi | cw, hi | sw_, hi | tag, f.fip, f.fcs as u32 | fop << 16, f.fdp, hi | f.fds as u32]
        };
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    } else {
        let words: [u32; 7] = if real {
            [cw, sw_, tag, lip & 0xffff, ((lip & 0xf_0000) >> 4) | fop, ldp & 0xffff, (ldp & 0xf_0000) >> 4]
        } else {
            [cw, sw_, tag, f.fip & 0xffff, f.fcs as u32, f.fdp & 0xffff, f.fds as u32]
        };
        words.iter().flat_map(|w| (*w as u16).to_le_bytes()).collect()
    }
}

/// Loads an environment image (everything but the registers); returns the tag word, which the
/// caller applies once the registers are in place.
pub fn load_env_image(f: &mut Fpu, b: &[u8], size32: bool, real: bool) -> u16 {
    let w = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let d = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let tag;
    if size32 {
        f.fcw = w(0);
        f.fsw = w(4);
        tag = w(8);
        if real {
            f.fip = w(12) as u32 | ((d(16) >> 12) & 0xffff) << 16;
            f.fop = (d(16) & 0x7ff) as u16;
            f.fdp = w(20) as u32 | ((d(24) >> 12) & 0xffff) << 16;
            f.fcs = 0;
            f.fds = 0;
        } else {
            f.fip = d(12);
            f.fcs = w(16);
            f.fop = w(18) & 0x7ff;
            f.fdp = d(20);
            f.fds = w(24);
        }
    } else {
        f.fcw = w(0);
        f.fsw = w(2);
        tag = w(4);
        if real {
            f.fip = w(6) as u32 | ((w(8) >> 12) as u32) << 16;
            f.fop = w(8) & 0x7ff;
            f.fdp = w(10) as u32 | ((w(12) >> 12) as u32) << 16;
            f.fcs = 0;
            f.fds = 0;
        } else {
            f.fip = w(6) as u32;
            f.fcs = w(8);
            f.fdp = w(10) as u32;
            f.fds = w(12);
        }
    }
    f.fcw = sanitize_cw(f.fcw);
    f.update_es();
    tag
}

fn env_len(i: &Insn) -> usize {
    if i.osize == Size::D {
        28
    } else {
        14
    }
}

/// FNSTENV: stores the environment, then masks all exceptions.
pub fn fstenv(cpu: &mut Cpu, i: &Insn) -> Res {
    let img = env_image(&cpu.s.fpu, i.osize == Size::D, real_layout(cpu));
    write_mem(cpu, i.seg, cpu.ea(i), &img)?;
    cpu.s.fpu.fcw |= sw::EXC;
    Ok(())
}

/// FLDENV.
pub fn fldenv(cpu: &mut Cpu, i: &Insn) -> Res {
    let mut b = vec![0u8; env_len(i)];
    read_mem(cpu, i.seg, cpu.ea(i), &mut b)?;
    let real = real_layout(cpu);
    let f = &mut cpu.s.fpu;
    let tag = load_env_image(f, &b, i.osize == Size::D, real);
    f.set_full_tag_word(tag);
    Ok(())
}

/// The FSAVE image: the environment and ST(0)..ST(7), 10 bytes each.
pub fn save_image(f: &Fpu, size32: bool, real: bool) -> Vec<u8> {
    let mut img = env_image(f, size32, real);
    for k in 0..8 {
        img.extend_from_slice(&f80_bytes(f.st(k)));
    }
    img
}

/// FNSAVE: stores the whole state, then initializes the FPU (as FNINIT).
pub fn fsave(cpu: &mut Cpu, i: &Insn) -> Res {
    let img = save_image(&cpu.s.fpu, i.osize == Size::D, real_layout(cpu));
    write_mem(cpu, i.seg, cpu.ea(i), &img)?;
    cpu.s.fpu.init();
    Ok(())
}

/// Loads an FSAVE image.
pub fn load_save_image(f: &mut Fpu, b: &[u8], size32: bool, real: bool) {
    let n = if size32 { 28 } else { 14 };
    let tag = load_env_image(f, &b[..n], size32, real);
    for k in 0..8 {
        let r = f.phys(k);
        f.regs[r] = f80_from_bytes(&b[n + 10 * k..n + 10 * k + 10]);
    }
    f.set_full_tag_word(tag);
}

/// FRSTOR.
pub fn frstor(cpu: &mut Cpu, i: &Insn) -> Res {
    let mut b = vec![0u8; env_len(i) + 80];
    read_mem(cpu, i.seg, cpu.ea(i), &mut b)?;
    let real = real_layout(cpu);
    load_save_image(&mut cpu.s.fpu, &b, i.osize == Size::D, real);
    Ok(())
}

/// The x87 part (bytes 0-159) of the FXSAVE image. MXCSR and MXCSR_MASK are written as 0: this
/// CPU has no SSE; the XMM area is not touched.
pub fn fxsave_image(f: &Fpu) -> [u8; 160] {
    let mut b = [0u8; 160];
    b[0..2].copy_from_slice(&f.fcw.to_le_bytes());
    b[2..4].copy_from_slice(&f.fsw.to_le_bytes());
    b[4] = f.abridged_tag();
    b[6..8].copy_from_slice(&(f.fop & 0x7ff).to_le_bytes());
    b[8..12].copy_from_slice(&f.fip.to_le_bytes());
    b[12..14].copy_from_slice(&f.fcs.to_le_bytes());
    b[16..20].copy_from_slice(&f.fdp.to_le_bytes());
    b[20..22].copy_from_slice(&f.fds.to_le_bytes());
    for k in 0..8 {
        b[32 + 16 * k..42 + 16 * k].copy_from_slice(&f80_bytes(f.st(k)));
    }
    b
}

/// Loads the x87 part of an FXSAVE image.
pub fn load_fxsave_image(f: &mut Fpu, b: &[u8]) {
    let w = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let d = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    f.fcw = sanitize_cw(w(0));
    f.fsw = w(2);
    f.fop = w(6) & 0x7ff;
    f.fip = d(8);
    f.fcs = w(12);
    f.fdp = d(16);
    f.fds = w(20);
    for k in 0..8 {
        let r = f.phys(k);
        f.regs[r] = f80_from_bytes(&b[32 + 16 * k..42 + 16 * k]);
    }
    f.set_abridged_tag(b[4]);
    f.update_es();
}

/// FXSAVE/FXRSTOR (0F AE /0, /1): #UD with CR0.EM, #NM with CR0.TS, #GP(0) unless the operand
/// is 16-byte aligned. They neither check nor signal pending x87 exceptions.
pub fn fxsave_fxrstor(cpu: &mut Cpu, i: &Insn) -> Res {
    if cpu.s.cr0 & cr0::EM != 0 {
        return Err(Fault::UD);
    }
    if cpu.s.cr0 & cr0::TS != 0 {
        return Err(Fault::NM);
    }
    let off = cpu.ea(i);
    if cpu.s.segs[i.seg as usize].base.wrapping_add(off) & 15 != 0 {
        return Err(Fault::gp(0));
    }
    if i.mnemonic == Mnemonic::Fxsave {
        cpu.linear(i.seg, off, 512, Access::Write)?;
        let img = fxsave_image(&cpu.s.fpu);
        write_mem(cpu, i.seg, off, &img)
    } else {
        cpu.linear(i.seg, off, 512, Access::Read)?;
        let mut b = [0u8; 160];
        read_mem(cpu, i.seg, off, &mut b)?;
        load_fxsave_image(&mut cpu.s.fpu, &b);
        Ok(())
    }
}
