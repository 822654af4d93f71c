//! Flag control, processor control and system instructions: CLC/STC/CMC/CLD/STD/CLI/STI, HLT,
//! NOP, UD2, WAIT, CPUID, RDTSC, RDMSR/WRMSR, INVD/WBINVD, MOV to and from control and debug
//! registers, LGDT/LIDT/SGDT/SIDT, SMSW/LMSW, CLTS, INVLPG, and the entry points of the
//! protected-mode mechanisms (descriptor loads, far transfers through descriptors and gates,
//! protected-mode interrupt delivery).

use crate::cpu::Cpu;
use crate::cpuid;
use crate::decode::{Arg, Insn, Mnemonic as M};
use crate::fault::{Fault, Res};
use crate::flags::Size;
use crate::interp::control::FarKind;
use crate::interp::Delivery;
use crate::protected;
use crate::state::{cr0, eflags, reg, SegReg};

/// CR4 bits emu implements (others are reserved: setting them is #GP(0)).
pub const CR4_VALID: u32 = CR4_TSD
    | CR4_DE
    | CR4_PSE
    | crate::state::cr4::PAE
    | crate::state::cr4::MCE
    | crate::state::cr4::PGE
    | crate::state::cr4::OSFXSR;
pub const CR4_TSD: u32 = 1 << 2;
pub const CR4_DE: u32 = 1 << 3;
pub const CR4_PSE: u32 = 1 << 4;

/// The time-stamp counter's frequency: one tick per nanosecond of guest time (1 GHz). With
/// `--deterministic` (1 ns per instruction) that is one tick per retired instruction.
pub const TSC_HZ: u64 = 1_000_000_000;

/// Model-specific registers (SDM Vol. 4).
pub mod msr {
    pub const TSC: u32 = 0x10;
}

pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    match i.mnemonic {
        M::Clc => set_flag(cpu, eflags::CF, false),
        M::Stc => set_flag(cpu, eflags::CF, true),
        M::Cmc => {
            let cf = cpu.s.flag(eflags::CF);
            set_flag(cpu, eflags::CF, !cf)
        }
        M::Cld => set_flag(cpu, eflags::DF, false),
        M::Std => set_flag(cpu, eflags::DF, true),
        M::Cli => {
            check_iopl(cpu)?;
            set_flag(cpu, eflags::IF, false)
        }
        M::Sti => {
            check_iopl(cpu)?;
            if cpu.s.flags & eflags::IF == 0 {
                // Interrupts stay off for one more instruction (STI; HLT is atomic).
                cpu.s.irq_shadow = true;
            }
            set_flag(cpu, eflags::IF, true)
        }
        M::Hlt => {
            check_cpl0(cpu)?;
            cpu.s.halted = true;
            Ok(())
        }
        M::Nop => Ok(()),
        M::Wait => crate::fpu::wait(cpu),
        M::Ud2 => Err(Fault::UD),
        M::Cpuid => {
            let r = &cpu.s.regs;
            let (leaf, sub) = (r[reg::EAX], r[reg::ECX]);
            let (a, b, c, mut d) = cpuid::cpuid(leaf, sub);
            if leaf == 1 && cpu.apic_enabled() {
                d |= cpuid::feature::APIC;
            }
            let r = &mut cpu.s.regs;
            (r[reg::EAX], r[reg::EBX], r[reg::ECX], r[reg::EDX]) = (a, b, c, d);
            Ok(())
        }
        M::Rdtsc => {
            if cpu.s.cr4 & CR4_TSD != 0 && cpu.s.cpl != 0 && cpu.s.protected() {
                return Err(Fault::gp(0));
            }
            let tsc = cpu.tsc();
            cpu.s.regs[reg::EAX] = tsc as u32;
            cpu.s.regs[reg::EDX] = (tsc >> 32) as u32;
            Ok(())
        }
        M::Rdmsr => {
            check_cpl0(cpu)?;
            let v = crate::msr::read(cpu, cpu.s.regs[reg::ECX])?;
            cpu.s.regs[reg::EAX] = v as u32;
            cpu.s.regs[reg::EDX] = (v >> 32) as u32;
            Ok(())
        }
        M::Wrmsr => {
            check_cpl0(cpu)?;
            let v = (cpu.s.regs[reg::EDX] as u64) << 32 | cpu.s.regs[reg::EAX] as u64;
            crate::msr::write(cpu, cpu.s.regs[reg::ECX], v)
        }
        M::Invd | M::Wbinvd => check_cpl0(cpu), // no caches are modelled
        M::MovCr => mov_cr(cpu, i),
        M::MovDr => crate::debug::mov_dr(cpu, i),
        M::Int1 => cpu.icebp(),
        M::Lgdt | M::Lidt => {
            check_cpl0(cpu)?;
            let off = cpu.ea(i);
            let limit = cpu.read(i.seg, off, Size::W)?;
            let mut base = cpu.read(i.seg, off.wrapping_add(2), Size::D)?;
            if i.osize == Size::W {
                base &= 0x00ff_ffff; // a 16-bit LGDT/LIDT loads a 24-bit base
            }
            let t = if i.mnemonic == M::Lgdt { &mut cpu.s.gdtr } else { &mut cpu.s.idtr };
            (t.base, t.limit) = (base, limit);
            Ok(())
        }
        M::Sgdt | M::Sidt => {
            let t = if i.mnemonic == M::Sgdt { cpu.s.gdtr } else { cpu.s.idtr };
            let off = cpu.ea(i);
            cpu.linear(i.seg, off, 6, crate::tlb::Access::Write)?;
            cpu.write(i.seg, off, Size::W, t.limit)?;
            cpu.write(i.seg, off.wrapping_add(2), Size::D, t.base)
        }
        M::Smsw => {
            // To a register: the whole of CR0 at the operand size; to memory: 16 bits.
            let v = cpu.s.cr0;
            match i.args[0] {
                Arg::Mem(_) => cpu.write(i.seg, cpu.ea(i), Size::W, v),
                _ => cpu.set(i, 0, v),
            }
        }
        M::Lmsw => {
            check_cpl0(cpu)?;
            let v = cpu.get(i, 0)?;
            // LMSW sets PE but never clears it; it changes only PE, MP, EM, TS.
            let keep_pe = cpu.s.cr0 & cr0::PE;
            let new = (cpu.s.cr0 & !0xf) | (v & 0xf) | keep_pe;
            cpu.set_cr0(new)
        }
        M::Clts => {
            check_cpl0(cpu)?;
            cpu.s.cr0 &= !cr0::TS;
            Ok(())
        }
        M::Invlpg => {
            check_cpl0(cpu)?;
            let lin = cpu.s.segs[i.seg as usize].base.wrapping_add(cpu.ea(i));
            cpu.tlb.flush_page(lin);
            Ok(())
        }
        // Real and virtual-8086 mode do not recognise these (#UD); protected mode is the
        // system-architecture work's.
        M::Sldt | M::Str | M::Lldt | M::Ltr | M::Verr | M::Verw | M::Lar | M::Lsl | M::Arpl
            if !cpu.s.protected() || cpu.s.v86() =>
        {
            Err(Fault::UD)
        }
        M::Sldt | M::Str | M::Lldt | M::Ltr | M::Verr | M::Verw | M::Lar | M::Lsl | M::Arpl => {
            protected::segment::exec(cpu, i)
        }
        M::Sysenter => protected::transfer::sysenter(cpu),
        M::Sysexit => protected::transfer::sysexit(cpu),
        _ => {
            cpu.log_unimplemented(i);
            Err(Fault::UD)
        }
    }
}

fn set_flag(cpu: &mut Cpu, bit: u32, on: bool) -> Res {
    if bit & eflags::ARITH != 0 {
        let f = cpu.s.eflags();
        cpu.s.set_arith(if on { f | bit } else { f & !bit });
    } else if on {
        cpu.s.flags |= bit;
    } else {
        cpu.s.flags &= !bit;
    }
    Ok(())
}

/// CLI/STI: #GP(0) unless CPL <= IOPL (in protected and virtual-8086 mode).
fn check_iopl(cpu: &Cpu) -> Res {
    if (cpu.s.protected() || cpu.s.v86()) && cpu.s.cpl > cpu.iopl() {
        return Err(Fault::gp(0));
    }
    Ok(())
}

/// Privileged instructions: #GP(0) unless CPL is 0 (always true in real mode).
fn check_cpl0(cpu: &Cpu) -> Res {
    if cpu.s.cpl != 0 {
        return Err(Fault::gp(0));
    }
    Ok(())
}

fn mov_cr(cpu: &mut Cpu, i: &Insn) -> Res {
    check_cpl0(cpu)?;
    match (i.args[0], i.args[1]) {
        (Arg::Reg(r, _), Arg::Cr(n)) => {
            let v = match n {
                0 => cpu.s.cr0,
                2 => cpu.s.cr2,
                3 => cpu.s.cr3,
                4 => cpu.s.cr4,
                _ => return Err(Fault::UD),
            };
            cpu.s.regs[r as usize] = v;
            Ok(())
        }
        (Arg::Cr(n), Arg::Reg(r, _)) => {
            let v = cpu.s.regs[r as usize];
            match n {
                0 => cpu.set_cr0(v),
                2 => {
                    cpu.s.cr2 = v;
                    Ok(())
                }
                3 => cpu.set_cr3(v),
                4 => cpu.set_cr4(v),
                _ => Err(Fault::UD),
            }
        }
        _ => unreachable!(),
    }
}

impl Cpu {
    /// The time-stamp counter: guest time at this instruction in ticks of [`TSC_HZ`], plus the
    /// offset WRMSR and RESET set. It runs on the virtual clock, as the PIT, the RTC and the
    /// local APIC timer do, so a guest calibrating it against them gets one constant rate: in
    /// deterministic mode it is a function of retired instructions (the same in both tiers,
    /// which keep `icount` exact at every instruction that can read it); in real-time mode it
    /// follows the host clock. It never goes backwards.
    pub fn tsc(&self) -> u64 {
        self.time_now().wrapping_add(self.s.tsc_offset)
    }

    /// Guest nanoseconds as of this instruction (finer than the clock, which devices see as of
    /// the last sync).
    fn time_now(&self) -> u64 {
        self.sys.clock.time_at(self.s.icount)
    }

    /// Sets the time-stamp counter to `v` (WRMSR to IA32_TIME_STAMP_COUNTER, RESET).
    pub fn set_tsc(&mut self, v: u64) {
        self.s.tsc_offset = v.wrapping_sub(self.time_now());
    }

    /// Writes CR0 with the SDM's checks: PG without PE, or NW without CD, is #GP(0).
    pub fn set_cr0(&mut self, v: u32) -> Res {
        let v = v | cr0::ET; // ET is hardwired to 1 on P6
        if (v & cr0::PG != 0 && v & cr0::PE == 0) || (v & cr0::NW != 0 && v & cr0::CD == 0) {
            return Err(Fault::gp(0));
        }
        self.paging_mode_change(v, self.s.cr4)?;
        let changed = self.s.cr0 ^ v;
        self.s.cr0 = v
            & (cr0::PE
                | cr0::MP
                | cr0::EM
                | cr0::TS
                | cr0::ET
                | cr0::NE
                | cr0::WP
                | cr0::AM
                | cr0::NW
                | cr0::CD
                | cr0::PG);
        if changed & (cr0::PG | cr0::WP | cr0::PE) != 0 {
            self.tlb.flush();
        }
        Ok(())
    }

    /// Loads a segment register with `sel` by the rules of the current mode. Loading SS holds
    /// off interrupts for one instruction.
    pub fn load_seg(&mut self, seg: SegReg, sel: u16) -> Res {
        if self.s.protected() && !self.s.v86() {
            protected_load_seg(self, seg, sel)?;
        } else {
            self.load_seg_real(seg, sel);
        }
        if seg == SegReg::Ss {
            self.s.irq_shadow = true;
        }
        Ok(())
    }
}

// ---- protected mode ---------------------------------------------------------------------------
// Descriptor checks, gates, privilege changes and task switches live in `crate::protected`.

pub(crate) fn protected_load_seg(cpu: &mut Cpu, seg: SegReg, sel: u16) -> Res {
    protected::segment::load(cpu, seg, sel)
}

pub(crate) fn protected_far_transfer(cpu: &mut Cpu, k: FarKind, sel: u16, off: u32, s: Size) -> Res {
    protected::transfer::far_transfer(cpu, k, sel, off, s)
}

pub(crate) fn protected_far_return(cpu: &mut Cpu, size: Size, imm: u32) -> Res {
    protected::transfer::far_return(cpu, size, imm)
}

pub(crate) fn protected_iret(cpu: &mut Cpu, size: Size) -> Res {
    protected::transfer::iret(cpu, size)
}

pub(crate) fn protected_mode_interrupt(cpu: &mut Cpu, v: u8, error: Option<u32>, how: Delivery) -> Res {
    protected::interrupt::deliver(cpu, v, error, how)
}
