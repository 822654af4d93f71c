//! Segment register loads in protected mode and the instructions that inspect descriptors
//! (SDM Vol. 3, 3.4.3 "Segment Registers", 5.5 "Privilege Levels", 5.6 "Privilege Level Checking
//! When Accessing Data Segments", 5.7 "Privilege Level Checking When Loading the SS Register",
//! 5.10 "Pointer Validation"; Vol. 2: MOV, POP, LDS/LES/LFS/LGS/LSS, LLDT, LTR, SLDT, STR, LAR,
//! LSL, VERR, VERW, ARPL).
//!
//! Every check of the SDM's MOV page, in its order: a null selector loads a null (unusable)
//! segment except into SS; an index beyond the table is #GP(sel); the type, the privilege levels
//! (RPL, CPL, DPL), and then the present bit (#NP, or #SS for SS). A successful load sets the
//! descriptor's accessed bit in memory and fills the hidden cache.

use crate::cpu::Cpu;
use crate::decode::{Arg, Insn, Mnemonic as M};
use crate::fault::{Fault, Res};
use crate::flags::Size;
use crate::protected::descriptor::{selector, system_type as st, Desc};
use crate::state::{attr, eflags, SegReg, Segment};

/// The cache of a segment register holding a null selector: unusable (P clear), so any access
/// through it is #GP(0) (or #SS(0)).
pub fn null_segment(sel: u16) -> Segment {
    Segment { base: 0, limit: 0, selector: sel, attr: 0 }
}

/// MOV/POP/LxS into `seg` in protected mode (CS is never loaded this way).
pub fn load(cpu: &mut Cpu, seg: SegReg, sel: u16) -> Res {
    let cpl = cpu.s.cpl;
    let err = selector::error(sel, 0);
    if seg == SegReg::Ss {
        if selector::is_null(sel) {
            return Err(Fault::gp(0));
        }
        let (d, addr) = cpu.read_descriptor(sel, Fault::gp(err))?;
        if selector::rpl(sel) != cpl || !d.writable() || d.dpl() != cpl {
            return Err(Fault::gp(err));
        }
        if !d.present() {
            return Err(Fault::ss(err));
        }
        cpu.set_accessed(addr, d)?;
        cpu.s.segs[seg as usize] = d.cache(sel);
        return Ok(());
    }
    if selector::is_null(sel) {
        cpu.s.segs[seg as usize] = null_segment(sel);
        return Ok(());
    }
    let (d, addr) = cpu.read_descriptor(sel, Fault::gp(err))?;
    if !d.readable() {
        return Err(Fault::gp(err));
    }
    if !d.conforming() && (selector::rpl(sel) > d.dpl() || cpl > d.dpl()) {
        return Err(Fault::gp(err));
    }
    if !d.present() {
        return Err(Fault::np(err));
    }
    cpu.set_accessed(addr, d)?;
    cpu.s.segs[seg as usize] = d.cache(sel);
    Ok(())
}

/// After a return to an outer privilege level (RET, IRET): ES, DS, FS and GS that the new CPL
/// may not use (data or non-conforming code with DPL < CPL) are loaded with a null selector.
pub fn null_inaccessible_data_segments(cpu: &mut Cpu) {
    let cpl = cpu.s.cpl;
    for seg in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
        let s = cpu.s.segs[seg as usize];
        let conforming_code = s.attr & attr::CODE != 0 && s.attr & attr::DC != 0;
        let usable = s.attr & attr::P != 0 && s.attr & attr::S != 0;
        if usable && !conforming_code && s.dpl() < cpl {
            cpu.s.segs[seg as usize] = null_segment(0);
        }
    }
}

/// SLDT, STR, LLDT, LTR, LAR, LSL, VERR, VERW, ARPL in protected mode (the caller raised #UD
/// for real and virtual-8086 mode).
pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    match i.mnemonic {
        M::Sldt | M::Str => {
            let sel = if i.mnemonic == M::Sldt { cpu.s.ldtr.selector } else { cpu.s.tr.selector } as u32;
            // To memory always 16 bits; to a 32-bit register zero-extended (P6 family).
            match i.args[0] {
                Arg::Mem(_) => cpu.write(i.seg, cpu.ea(i), Size::W, sel),
                _ => cpu.set(i, 0, sel),
            }
        }
        M::Lldt => {
            check_cpl0(cpu)?;
            let sel = cpu.get(i, 0)? as u16;
            lldt(cpu, sel)
        }
        M::Ltr => {
            check_cpl0(cpu)?;
            let sel = cpu.get(i, 0)? as u16;
            ltr(cpu, sel)
        }
        M::Lar | M::Lsl => {
            let sel = cpu.get(i, 1)? as u16;
            match inspect(cpu, sel, i.mnemonic)? {
                Some(d) => {
                    let v = if i.mnemonic == M::Lar {
                        d.hi & if i.osize == Size::D { 0x00ff_ff00 } else { 0xff00 }
                    } else {
                        d.limit()
                    };
                    cpu.set(i, 0, v)?;
                    set_zf(cpu, true);
                }
                None => set_zf(cpu, false),
            }
            Ok(())
        }
        M::Verr | M::Verw => {
            let sel = cpu.get(i, 0)? as u16;
            let ok = inspect(cpu, sel, i.mnemonic)?.is_some();
            set_zf(cpu, ok);
            Ok(())
        }
        M::Arpl => {
            let dst = cpu.get(i, 0)?;
            let src = cpu.get(i, 1)?;
            if dst & 3 < src & 3 {
                cpu.set(i, 0, (dst & !3) | (src & 3))?;
                set_zf(cpu, true);
            } else {
                set_zf(cpu, false);
            }
            Ok(())
        }
        _ => unreachable!(),
    }
}

fn check_cpl0(cpu: &Cpu) -> Res {
    if cpu.s.cpl != 0 {
        return Err(Fault::gp(0));
    }
    Ok(())
}

fn set_zf(cpu: &mut Cpu, on: bool) {
    let f = cpu.s.eflags() & !eflags::ZF;
    cpu.s.set_arith(if on { f | eflags::ZF } else { f });
}

/// LLDT: a null selector makes the LDT unusable; otherwise an LDT descriptor in the GDT.
pub fn lldt(cpu: &mut Cpu, sel: u16) -> Res {
    if selector::is_null(sel) {
        cpu.s.ldtr = null_segment(sel);
        return Ok(());
    }
    let err = selector::error(sel, 0);
    if selector::ldt(sel) {
        return Err(Fault::gp(err));
    }
    let (d, _) = cpu.read_descriptor(sel, Fault::gp(err))?;
    if d.is_segment() || d.typ() != st::LDT {
        return Err(Fault::gp(err));
    }
    if !d.present() {
        return Err(Fault::np(err));
    }
    cpu.s.ldtr = d.cache(sel);
    Ok(())
}

/// LTR: an available TSS descriptor in the GDT, which becomes busy.
pub fn ltr(cpu: &mut Cpu, sel: u16) -> Res {
    if selector::is_null(sel) {
        return Err(Fault::gp(0));
    }
    let err = selector::error(sel, 0);
    if selector::ldt(sel) {
        return Err(Fault::gp(err));
    }
    let (d, addr) = cpu.read_descriptor(sel, Fault::gp(err))?;
    if d.is_segment() || !matches!(d.typ(), st::TSS16_AVAILABLE | st::TSS32_AVAILABLE) {
        return Err(Fault::gp(err));
    }
    if !d.present() {
        return Err(Fault::np(err));
    }
    cpu.set_tss_busy(addr, true)?;
    let mut cache = d.cache(sel);
    cache.attr |= super::descriptor::TSS_BUSY_BIT as u16;
    cpu.s.tr = cache;
    Ok(())
}

/// The descriptor LAR/LSL/VERR/VERW report on, or `None` when they clear ZF: null selector,
/// beyond the table, a type the instruction does not accept, or a privilege the program lacks.
fn inspect(cpu: &mut Cpu, sel: u16, m: M) -> Res<Option<Desc>> {
    if selector::is_null(sel) {
        return Ok(None);
    }
    let Some(addr) = cpu.descriptor_address(sel) else { return Ok(None) };
    let d = cpu.read_descriptor_at(addr)?;
    let type_ok = if d.is_segment() {
        match m {
            M::Verr => d.readable(),
            M::Verw => d.writable(),
            _ => true,
        }
    } else {
        match m {
            M::Lar => matches!(d.typ(), 1 | 2 | 3 | 4 | 5 | 9 | 11 | 12),
            M::Lsl => matches!(d.typ(), 1 | 2 | 3 | 9 | 11),
            _ => false,
        }
    };
    if !type_ok {
        return Ok(None);
    }
    // Conforming code is visible from every level; everything else needs DPL >= CPL and RPL.
    if !d.conforming() && (d.dpl() < cpu.s.cpl || d.dpl() < selector::rpl(sel)) {
        return Ok(None);
    }
    Ok(Some(d))
}
