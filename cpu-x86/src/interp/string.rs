//! String instructions (SDM Vol. 1, 7.3.9; Vol. 2, MOVS/CMPS/STOS/LODS/SCAS/INS/OUTS and
//! REP/REPE/REPNE): the source is `seg:[eSI]` (DS unless overridden), the destination is always
//! `ES:[eDI]`; the address size picks SI/DI/CX or ESI/EDI/ECX, and EFLAGS.DF the direction.
//!
//! **Precise iterations.** One iteration either completes (its memory accesses, then its flags,
//! then SI/DI and, under REP, CX) or faults having changed no register. A fault in iteration `k`
//! therefore leaves the registers as after iteration `k - 1`; the dispatcher puts EIP back on the
//! instruction, and after the handler returns the instruction resumes where it stopped.
//!
//! **Interruptible REP.** One execution of a REP instruction runs at most [`REP_CHUNK`]
//! iterations. If the count is not used up (and REPE/REPNE did not end it), EIP is set back to
//! the instruction's first prefix, so the run loop can take interrupts and the instruction
//! continues on the next step, as an interrupted REP does on real CPUs.
//!
//! **Fast path.** REP MOVS and REP STOS move a run of elements that lies inside one 4 KiB page on
//! each side straight through the TLB's host pointers, when both pages already have a matching
//! TLB tag (read for the source, write for the destination; see the invariant in [`crate::tlb`]:
//! a write tag means plain RAM holding no translated code, so MMIO and SMC-tracked pages never
//! get here) and both ends of the run pass the segment checks. Everything else (elements that
//! straddle a page, TLB misses, limit violations, faults) takes one slow iteration through
//! [`Cpu::read`]/[`Cpu::write`], which also fills the TLB for the next run. The fast path copies
//! overlapping runs element by element in the architectural order, so `MOVS` with `DI = SI + 1`
//! replicates as on hardware.

use crate::cpu::Cpu;
use crate::decode::{prefix, Insn, Mnemonic as M};
use crate::fault::Res;
use crate::flags::Size;
use crate::interp::alu;
use crate::state::{eflags, reg, SegReg};
use crate::tlb::Access;

/// Iterations one execution of a REP instruction runs at most before it steps EIP back onto
/// itself and returns to the dispatcher (which then checks for interrupts and re-executes it).
/// 4096 is one page of bytes: long enough that re-decoding costs nothing, short enough that
/// interrupts are taken promptly.
pub const REP_CHUNK: u32 = 4096;

/// What every iteration needs: element size, address size, direction, source segment.
struct Ctx {
    op: M,
    size: Size,
    asize: Size,
    /// EFLAGS.DF: eSI and eDI go down.
    down: bool,
    /// `+size` or `-size` by EFLAGS.DF, as a wrapping 32-bit number.
    delta: u32,
    /// The source segment: DS or the override.
    src: SegReg,
}

impl Ctx {
    fn new(cpu: &Cpu, i: &Insn) -> Ctx {
        let size = i.string_operand().unwrap_or_else(|| unreachable!("{:?} has no string operand", i.mnemonic));
        let down = cpu.s.flags & eflags::DF != 0;
        let delta = if down { size.bytes().wrapping_neg() } else { size.bytes() };
        Ctx { op: i.mnemonic, size, asize: i.asize, down, delta, src: i.seg }
    }

    /// eSI, eDI or eCX at the address size.
    fn index(&self, cpu: &Cpu, r: usize) -> u32 {
        cpu.s.regs[r] & self.asize.mask()
    }

    /// Moves eSI or eDI by `n` elements in the direction of DF, wrapping at the address size
    /// (with 16-bit addressing the upper half of ESI/EDI is left alone).
    fn advance(&self, cpu: &mut Cpu, r: usize, n: u32) {
        let v = cpu.s.regs[r].wrapping_add(self.delta.wrapping_mul(n));
        cpu.set_reg(r as u8, self.asize, v);
    }
}

pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    let c = Ctx::new(cpu, i);
    if matches!(c.op, M::Ins | M::Outs) {
        // Checked before the count, as Bochs does: REP INS with CX = 0 still faults.
        let port = cpu.s.regs[reg::EDX] as u16;
        cpu.check_io_permission(port, c.size)?;
    }
    if !i.has(prefix::REP | prefix::REPNE) {
        once(cpu, &c)?;
        return Ok(());
    }
    // F3 is REPE and F2 is REPNE for CMPS and SCAS; for the others either one is plain REP.
    let until = match c.op {
        M::Cmps | M::Scas => Some(i.has(prefix::REP)),
        _ => None,
    };
    // Single-step (TF) traps after every iteration of a REP instruction.
    let mut budget = if cpu.s.flags & eflags::TF != 0 { 1 } else { REP_CHUNK };
    loop {
        let count = c.index(cpu, reg::ECX);
        if count == 0 {
            return Ok(());
        }
        if budget == 0 {
            // Not finished: come back to this instruction after the dispatcher had its turn. RF
            // is pushed set for an event between iterations, so an instruction breakpoint here
            // does not fire again.
            let start = cpu.s.eip.wrapping_sub(i.len as u32);
            cpu.s.eip = if cpu.s.code32() { start } else { start & 0xffff };
            cpu.s.flags |= eflags::RF;
            return Ok(());
        }
        if matches!(c.op, M::Movs | M::Stos) {
            let n = fast_run(cpu, &c, count.min(budget));
            if n > 0 {
                cpu.set_reg(reg::ECX as u8, c.asize, count - n);
                budget -= n;
                continue;
            }
        }
        let zf = once(cpu, &c)?;
        cpu.set_reg(reg::ECX as u8, c.asize, count - 1);
        budget -= 1;
        if cpu.debug.hits != 0 && count > 1 {
            // A data or I/O breakpoint hit: its trap reports this iteration (see above for RF).
            budget = 0;
        }
        if until.is_some_and(|repe| zf != repe) {
            return Ok(());
        }
    }
}

/// One iteration through the softmmu. Registers (and flags) change only if every access
/// succeeded. Returns ZF for CMPS and SCAS (false for the others).
fn once(cpu: &mut Cpu, c: &Ctx) -> Res<bool> {
    let (si, di) = (c.index(cpu, reg::ESI), c.index(cpu, reg::EDI));
    let size = c.size;
    match c.op {
        M::Movs => {
            let v = cpu.read(c.src, si, size)?;
            cpu.write(SegReg::Es, di, size, v)?;
            c.advance(cpu, reg::ESI, 1);
            c.advance(cpu, reg::EDI, 1);
        }
        M::Cmps => {
            let a = cpu.read(c.src, si, size)?;
            let b = cpu.read(SegReg::Es, di, size)?;
            alu::compute(&mut cpu.s, M::Cmp, size, a, b);
            c.advance(cpu, reg::ESI, 1);
            c.advance(cpu, reg::EDI, 1);
            return Ok((a ^ b) & size.mask() == 0);
        }
        M::Stos => {
            cpu.write(SegReg::Es, di, size, cpu.reg(0, size))?;
            c.advance(cpu, reg::EDI, 1);
        }
        M::Lods => {
            let v = cpu.read(c.src, si, size)?;
            cpu.set_reg(0, size, v);
            c.advance(cpu, reg::ESI, 1);
        }
        M::Scas => {
            let a = cpu.reg(0, size);
            let b = cpu.read(SegReg::Es, di, size)?;
            alu::compute(&mut cpu.s, M::Cmp, size, a, b);
            c.advance(cpu, reg::EDI, 1);
            return Ok((a ^ b) & size.mask() == 0);
        }
        M::Ins => {
            // Find any fault on the destination before the port is read: a device read has side
            // effects and must not be lost to a #GP or #PF on the store.
            probe_write(cpu, SegReg::Es, di, size)?;
            let port = cpu.s.regs[reg::EDX] as u16;
            let v = cpu.port_read(port, size);
            cpu.write(SegReg::Es, di, size, v)?;
            c.advance(cpu, reg::EDI, 1);
        }
        M::Outs => {
            let v = cpu.read(c.src, si, size)?;
            let port = cpu.s.regs[reg::EDX] as u16;
            cpu.port_write(port, size, v);
            c.advance(cpu, reg::ESI, 1);
        }
        other => unreachable!("{other:?} is not a string instruction"),
    }
    Ok(false)
}

/// Raises now whatever fault a write of `size` at `seg:off` would raise (segment checks and the
/// page walk for each page it touches), without writing.
fn probe_write(cpu: &mut Cpu, seg: SegReg, off: u32, size: Size) -> Res {
    let lin = cpu.linear(seg, off, size.bytes(), Access::Write)?;
    let user = cpu.s.cpl == 3;
    cpu.translate(lin, Access::Write, user)?;
    let last = lin.wrapping_add(size.bytes() - 1);
    if last & !0xfff != lin & !0xfff {
        cpu.translate(last & !0xfff, Access::Write, user)?; // CR2: the second page's first byte
    }
    Ok(())
}

// ---- the fast path --------------------------------------------------------------------------

/// A run of elements on one side of a string instruction that may be accessed through a host
/// pointer: `host` is the first element's address, and the run goes up or down from it.
struct Span {
    host: *mut u8,
    n: u32,
}

/// The longest run of at most `max` elements starting at `seg:off` that stays inside the
/// address size (no wrap of eSI/eDI), inside one page, passes the segment checks at both ends,
/// and whose page has a TLB tag for `access`. `None` sends this iteration to the slow path.
fn span(cpu: &Cpu, c: &Ctx, seg: SegReg, off: u32, max: u32, access: Access) -> Option<Span> {
    let sz = c.size.bytes();
    let top = c.asize.mask() as u64;
    if off as u64 + sz as u64 - 1 > top {
        return None; // the first element itself wraps
    }
    let lin = cpu.linear(seg, off, sz, access).ok()?;
    let in_page = lin & 0xfff;
    if in_page + sz > 0x1000 {
        return None; // the first element straddles two pages
    }
    // Elements that fit before the offset wraps and before the page ends, in the direction of DF.
    let (by_wrap, by_page) = if c.down {
        (off / sz + 1, in_page / sz + 1)
    } else {
        (((top - off as u64 + 1) / sz as u64).min(u32::MAX as u64) as u32, (0x1000 - in_page) / sz)
    };
    let n = max.min(by_wrap).min(by_page);
    if n == 0 {
        return None;
    }
    // Segment limits bound a convex range of offsets, so checking both ends covers the run.
    let last = off.wrapping_add(c.delta.wrapping_mul(n - 1));
    cpu.linear(seg, last, sz, access).ok()?;
    let user = cpu.s.cpl == 3;
    let e = cpu.tlb.entry(user, lin);
    let tag = match access {
        Access::Read => e.read,
        Access::Write => e.write,
        Access::Exec => e.exec,
    };
    if tag != lin & !0xfff {
        return None;
    }
    Some(Span { host: (lin as usize).wrapping_add(e.addend) as *mut u8, n })
}

/// Runs up to `max` iterations of MOVS or STOS through host pointers, committing eSI/eDI (the
/// caller updates eCX). Returns how many it ran; 0 means "take the slow path".
fn fast_run(cpu: &mut Cpu, c: &Ctx, max: u32) -> u32 {
    let di = c.index(cpu, reg::EDI);
    let Some(dst) = span(cpu, c, SegReg::Es, di, max, Access::Write) else {
        return 0;
    };
    let sz = c.size.bytes() as usize;
    match c.op {
        M::Movs => {
            let si = c.index(cpu, reg::ESI);
            let Some(src) = span(cpu, c, c.src, si, max, Access::Read) else {
                return 0;
            };
            let n = src.n.min(dst.n);
            // SAFETY: both spans lie inside host pages the TLB vouches for (a read tag on the
            // source, a write tag on the destination), for `n` elements in the direction of DF.
            unsafe { copy(src.host, dst.host, n as usize, sz, c.down) };
            c.advance(cpu, reg::ESI, n);
            c.advance(cpu, reg::EDI, n);
            n
        }
        M::Stos => {
            let n = dst.n;
            let v = cpu.reg(0, c.size);
            // SAFETY: as above, for the destination span.
            unsafe { fill(dst.host, n as usize, c.size, v, c.down) };
            c.advance(cpu, reg::EDI, n);
            n
        }
        _ => 0,
    }
}

/// The lowest address of a run of `n` elements of `sz` bytes whose first element is at `first`.
fn run_start(first: *mut u8, n: usize, sz: usize, down: bool) -> *mut u8 {
    if down {
        first.wrapping_sub((n - 1) * sz)
    } else {
        first
    }
}

/// MOVS for `n` elements: as if one element were read and written at a time, in order.
///
/// # Safety
/// `n` elements of `sz` bytes from `src` and from `dst`, going down if `down`, must be valid
/// host memory (the destination writable).
unsafe fn copy(src: *mut u8, dst: *mut u8, n: usize, sz: usize, down: bool) {
    let bytes = n * sz;
    let (s, d) = (run_start(src, n, sz, down), run_start(dst, n, sz, down));
    if (s as usize) + bytes <= d as usize || (d as usize) + bytes <= s as usize {
        // Disjoint: the order of the elements cannot be observed.
        std::ptr::copy_nonoverlapping(s, d, bytes);
        return;
    }
    // Overlapping (the byte-replicating `DI = SI + 1` idiom and friends): element by element.
    let step = if down { -(sz as isize) } else { sz as isize };
    for k in 0..n as isize {
        let (from, to) = (src.offset(k * step), dst.offset(k * step));
        match sz {
            1 => *to = *from,
            2 => (to as *mut u16).write_unaligned((from as *const u16).read_unaligned()),
            _ => (to as *mut u32).write_unaligned((from as *const u32).read_unaligned()),
        }
    }
}

/// STOS for `n` elements of `size` holding `v` (little-endian).
///
/// # Safety
/// `n` elements from `dst`, going down if `down`, must be writable host memory.
unsafe fn fill(dst: *mut u8, n: usize, size: Size, v: u32, down: bool) {
    let sz = size.bytes() as usize;
    let d = run_start(dst, n, sz, down);
    match size {
        Size::B => std::ptr::write_bytes(d, v as u8, n),
        Size::W => {
            for k in 0..n {
                (d.add(k * 2) as *mut u16).write_unaligned((v as u16).to_le());
            }
        }
        Size::D => {
            for k in 0..n {
                (d.add(k * 4) as *mut u32).write_unaligned(v.to_le());
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fault::{vector, Fault};
    use crate::state::{attr, Segment};
    use emu_core::{ClockMode, System};

    /// Where [`cpu_with`] puts the code: 0000:0100.
    pub(crate) const CODE: u32 = 0x100;

    /// A real-mode CPU with 1 MiB of RAM, `code` at CS:IP = 0000:0100, SS:SP = 0000:8000,
    /// DS = 2000h and ES = 3000h.
    pub(crate) fn cpu_with(code: &[u8]) -> Cpu {
        let sys = System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap();
        let mut cpu = Cpu::new(sys);
        cpu.s.segs[SegReg::Cs as usize] = Segment::real_mode(0, attr::REAL_MODE_CODE);
        cpu.s.eip = CODE;
        cpu.sys.write_bytes(CODE as u64, code);
        cpu.s.regs[reg::ESP] = 0x8000;
        cpu.load_seg_real(SegReg::Ds, 0x2000);
        cpu.load_seg_real(SegReg::Es, 0x3000);
        cpu
    }

    /// Executes one instruction as [`Cpu::step`] does, but returns its fault (EIP back on the
    /// instruction) instead of delivering it.
    pub(crate) fn exec_one(cpu: &mut Cpu) -> Res {
        let start = cpu.s.eip;
        let i = cpu.fetch_decode()?;
        let next = start.wrapping_add(i.len as u32);
        cpu.s.eip = if cpu.s.code32() { next } else { next & 0xffff };
        crate::interp::exec(cpu, &i).inspect_err(|_| cpu.s.eip = start)
    }

    fn mem(cpu: &Cpu, pa: u32, len: usize) -> Vec<u8> {
        cpu.sys.ram().as_slice()[pa as usize..pa as usize + len].to_vec()
    }

    fn regs(cpu: &Cpu) -> (u32, u32, u32) {
        (cpu.s.regs[reg::ESI], cpu.s.regs[reg::EDI], cpu.s.regs[reg::ECX])
    }

    /// Element-at-a-time MOVS over a byte array, the reference for the fast path.
    fn reference_movs(m: &mut [u8], mut si: usize, mut di: usize, n: usize, sz: usize, down: bool) {
        for _ in 0..n {
            let v: Vec<u8> = m[si..si + sz].to_vec();
            m[di..di + sz].copy_from_slice(&v);
            if down {
                si -= sz;
                di -= sz;
            } else {
                si += sz;
                di += sz;
            }
        }
    }

    #[test]
    fn single_movs_lods_stos() {
        // movsb; movsw; lodsw; stosb
        let mut cpu = cpu_with(&[0xa4, 0xa5, 0xad, 0xaa]);
        cpu.sys.write_bytes(0x20010, &[1, 2, 3, 4, 5]);
        cpu.s.regs[reg::ESI] = 0x10;
        cpu.s.regs[reg::EDI] = 0x20;
        for _ in 0..4 {
            exec_one(&mut cpu).unwrap();
        }
        assert_eq!(mem(&cpu, 0x30020, 4), [1, 2, 3, 4]);
        assert_eq!(cpu.s.regs[reg::EAX] & 0xffff, 0x0504);
        assert_eq!(mem(&cpu, 0x30023, 1), [4]); // stosb: AL at ES:23
        assert_eq!(regs(&cpu), (0x15, 0x24, 0));
        assert_eq!(cpu.s.eip, CODE + 4);
    }

    #[test]
    fn direction_flag_and_segment_override() {
        // std is set by hand; es: movsw with source override; 66 stosd (dword in 16-bit code)
        let mut cpu = cpu_with(&[0x26, 0xa5, 0x66, 0xab]);
        cpu.s.flags |= eflags::DF;
        cpu.sys.write_bytes(0x30100, &[0xaa, 0xbb]);
        cpu.s.regs[reg::ESI] = 0x100;
        cpu.s.regs[reg::EDI] = 0x200;
        cpu.s.regs[reg::EAX] = 0x11223344;
        exec_one(&mut cpu).unwrap();
        assert_eq!(mem(&cpu, 0x30200, 2), [0xaa, 0xbb]);
        assert_eq!(regs(&cpu), (0xfe, 0x1fe, 0));
        exec_one(&mut cpu).unwrap();
        assert_eq!(mem(&cpu, 0x301fe, 4), [0x44, 0x33, 0x22, 0x11]);
        assert_eq!(cpu.s.regs[reg::EDI], 0x1fa);
    }

    #[test]
    fn sixteen_bit_addressing_wraps_and_keeps_upper_halves() {
        // lodsb at SI = FFFF with ESI's upper half set: SI wraps to 0, the upper half stays.
        let mut cpu = cpu_with(&[0xac]);
        cpu.s.regs[reg::ESI] = 0x1234_ffff;
        cpu.sys.write_bytes(0x2ffff, &[0x5a]);
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.regs[reg::ESI], 0x1234_0000);
        assert_eq!(cpu.s.regs[reg::EAX] & 0xff, 0x5a);
        // 67 lodsb: 32-bit addressing uses all of ESI (and faults here: beyond the 64 KiB limit).
        let mut cpu = cpu_with(&[0x67, 0xac]);
        cpu.s.regs[reg::ESI] = 0x1_0000;
        assert_eq!(exec_one(&mut cpu), Err(Fault::gp(0)));
        assert_eq!(cpu.s.regs[reg::ESI], 0x1_0000);
        assert_eq!(cpu.s.eip, CODE);
    }

    #[test]
    fn cmps_and_scas_set_flags() {
        // cmpsb: [SI]=5, [DI]=7 → 5-7: CF, SF; scasw: AX=0x1234 vs 0x1234 → ZF
        let mut cpu = cpu_with(&[0xa6, 0xaf]);
        cpu.sys.write_bytes(0x20000, &[5]);
        cpu.sys.write_bytes(0x30000, &[7, 0x34, 0x12]);
        cpu.s.regs[reg::EAX] = 0x1234;
        exec_one(&mut cpu).unwrap();
        let f = cpu.s.eflags();
        assert!(f & eflags::CF != 0 && f & eflags::SF != 0 && f & eflags::ZF == 0);
        assert_eq!(regs(&cpu), (1, 1, 0));
        exec_one(&mut cpu).unwrap();
        assert!(cpu.s.eflags() & eflags::ZF != 0);
        assert_eq!(cpu.s.regs[reg::EDI], 3);
    }

    #[test]
    fn repe_cmps_and_repne_scas_stop_on_zf() {
        // repe cmpsb over "abcX" vs "abcY": stops after the 4th compare with CX = 6.
        let mut cpu = cpu_with(&[0xf3, 0xa6]);
        cpu.sys.write_bytes(0x20000, b"abcXefgh");
        cpu.sys.write_bytes(0x30000, b"abcYefgh");
        cpu.s.regs[reg::ECX] = 10;
        exec_one(&mut cpu).unwrap();
        assert_eq!(regs(&cpu), (4, 4, 6));
        assert!(cpu.s.eflags() & eflags::ZF == 0);
        assert_eq!(cpu.s.eip, CODE + 2);
        // repne scasb for 0 in "hello\0": stops on the NUL, CX = 100 - 6.
        let mut cpu = cpu_with(&[0xf2, 0xae]);
        cpu.sys.write_bytes(0x30000, b"hello\0");
        cpu.s.regs[reg::ECX] = 100;
        exec_one(&mut cpu).unwrap();
        assert_eq!(regs(&cpu), (0, 6, 94));
        assert!(cpu.s.eflags() & eflags::ZF != 0);
        // repe scasb that runs out of count: ZF from the last compare, CX = 0.
        let mut cpu = cpu_with(&[0xf3, 0xae]);
        cpu.s.regs[reg::ECX] = 3;
        exec_one(&mut cpu).unwrap();
        assert_eq!(regs(&cpu), (0, 3, 0));
        assert!(cpu.s.eflags() & eflags::ZF != 0);
    }

    #[test]
    fn rep_with_zero_count_does_nothing() {
        let mut cpu = cpu_with(&[0xf3, 0xa6]);
        cpu.s.set_arith(eflags::CF);
        exec_one(&mut cpu).unwrap();
        assert_eq!(regs(&cpu), (0, 0, 0));
        assert_eq!(cpu.s.eflags() & eflags::ARITH, eflags::CF);
        assert_eq!(cpu.s.eip, CODE + 2);
    }

    #[test]
    fn f2_is_plain_rep_for_movs_and_lods() {
        let mut cpu = cpu_with(&[0xf2, 0xa4, 0xf2, 0xac]);
        cpu.sys.write_bytes(0x20000, &[1, 2, 3]);
        cpu.s.regs[reg::ECX] = 3;
        exec_one(&mut cpu).unwrap();
        assert_eq!(mem(&cpu, 0x30000, 3), [1, 2, 3]);
        cpu.s.regs[reg::ECX] = 2;
        cpu.s.regs[reg::ESI] = 0;
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.regs[reg::EAX] & 0xff, 2);
        assert_eq!(regs(&cpu), (2, 3, 0));
    }

    #[test]
    fn long_rep_restarts_itself_in_chunks() {
        // rep stosb with CX = 10000: three executions, EIP back on the prefix after the first two.
        let mut cpu = cpu_with(&[0xf3, 0xaa]);
        cpu.s.regs[reg::ECX] = 10000;
        cpu.s.regs[reg::EAX] = 0x77;
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.regs[reg::ECX], 10000 - REP_CHUNK);
        assert_eq!(cpu.s.eip, CODE);
        cpu.step();
        assert_eq!(cpu.s.regs[reg::ECX], 10000 - 2 * REP_CHUNK);
        assert_eq!(cpu.s.eip, CODE);
        cpu.step();
        assert_eq!(regs(&cpu), (0, 10000, 0));
        assert_eq!(cpu.s.eip, CODE + 2);
        assert!(mem(&cpu, 0x30000, 10000).iter().all(|&b| b == 0x77));
        assert_eq!(mem(&cpu, 0x30000 + 10000, 1), [0]);
    }

    #[test]
    fn restart_wraps_ip_in_16_bit_code() {
        // rep stosb whose prefix is at FFFF and opcode at 0000 (CS base 0x10000).
        let mut cpu = cpu_with(&[]);
        cpu.load_seg_real(SegReg::Cs, 0x1000);
        cpu.sys.write_bytes(0x1ffff, &[0xf3]);
        cpu.sys.write_bytes(0x10000, &[0xaa]);
        cpu.s.eip = 0xffff;
        cpu.s.regs[reg::ECX] = REP_CHUNK + 1;
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.eip, 0xffff);
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.eip, 0x0001);
        assert_eq!(cpu.s.regs[reg::ECX], 0);
    }

    #[test]
    fn fault_in_iteration_k_keeps_the_first_k_minus_1() {
        // rep movsw with DI reaching FFFF in iteration 4: the word straddles the limit (#GP).
        let mut cpu = cpu_with(&[0xf3, 0xa5]);
        cpu.sys.write_bytes(0x20000, &[1, 2, 3, 4, 5, 6, 7, 8]);
        cpu.s.regs[reg::EDI] = 0xfff9;
        cpu.s.regs[reg::ECX] = 10;
        assert_eq!(exec_one(&mut cpu), Err(Fault::gp(0)));
        assert_eq!(regs(&cpu), (6, 0xffff, 7));
        assert_eq!(cpu.s.eip, CODE);
        assert_eq!(mem(&cpu, 0x3fff9, 6), [1, 2, 3, 4, 5, 6]);
        // Delivered for real: the IVT entry of #GP runs with IP = the instruction pushed.
        cpu.sys.write_bytes(vector::GP as u64 * 4, &[0x00, 0x05, 0x00, 0x00]); // 0000:0500
        cpu.step();
        assert_eq!(cpu.s.eip, 0x500);
        let pushed_ip = cpu.sys.ram().as_slice()[0x7ffa] as u32 | (cpu.sys.ram().as_slice()[0x7ffb] as u32) << 8;
        assert_eq!(pushed_ip, CODE);
    }

    /// Identity-maps the first MiB with 4 KiB pages, except that page `hole` is not present, and
    /// turns on protected mode and paging with flat real-mode-like segment caches.
    fn paged(cpu: &mut Cpu, hole: u32) {
        let (pd, pt) = (0x80000u32, 0x81000u32);
        cpu.sys.write_bytes(pd as u64, &(pt | 7).to_le_bytes());
        for p in 0..256u32 {
            let e = if p == hole { 0 } else { (p << 12) | 7 };
            cpu.sys.write_bytes((pt + 4 * p) as u64, &e.to_le_bytes());
        }
        cpu.s.cr3 = pd;
        cpu.s.cr0 |= crate::state::cr0::PE | crate::state::cr0::PG;
        cpu.tlb.flush();
    }

    #[test]
    fn page_fault_mid_rep_is_precise() {
        // rep stosb from lin 2FF00 (ES base 28000h, DI 7F00) into not-present page 30000.
        let mut cpu = cpu_with(&[0xf3, 0xaa]);
        cpu.load_seg_real(SegReg::Es, 0x2800);
        paged(&mut cpu, 0x30);
        cpu.s.regs[reg::EDI] = 0x7f00;
        cpu.s.regs[reg::ECX] = 0x200;
        cpu.s.regs[reg::EAX] = 0xee;
        let f = exec_one(&mut cpu).unwrap_err();
        assert_eq!((f.vector, f.address, f.error), (vector::PF, 0x30000, Some(2)));
        assert_eq!(regs(&cpu), (0, 0x8000, 0x100));
        assert!(mem(&cpu, 0x2ff00, 0x100).iter().all(|&b| b == 0xee));
        assert_eq!(cpu.s.eip, CODE);
    }

    #[test]
    fn ins_probes_the_destination_before_reading_the_port() {
        // rep insb into not-present page 30000: faults without consuming the port's byte.
        let mut cpu = cpu_with(&[0xf3, 0x6c]);
        paged(&mut cpu, 0x30);
        cpu.s.regs[reg::ECX] = 1;
        cpu.s.regs[reg::EDX] = 0x80;
        let f = exec_one(&mut cpu).unwrap_err();
        assert_eq!(f.vector, vector::PF);
        assert_eq!(regs(&cpu), (0, 0, 1));
    }

    #[test]
    fn fast_path_matches_element_by_element_semantics() {
        // Overlapping and disjoint copies, both directions, every element size, with runs
        // crossing pages and odd alignments; compared with a byte-array reference.
        let cases: &[(u32, u32, u32, bool)] = &[
            (0x100, 0x101, 3000, false), // the byte-replicating idiom
            (0x101, 0x100, 3000, false),
            (0x200, 0x203, 2500, false),
            (0x0ff0, 0x3003, 2000, false), // disjoint, crossing pages on both sides
            (0x3000, 0x2ffe, 1500, true),
            (0x2000, 0x2001, 1000, true),
        ];
        for &(si, di, n, down) in cases {
            for (op, sz) in [(0xa4u8, 1usize), (0xa5, 2), (0xa5, 4)] {
                let code: &[u8] = if sz == 4 { &[0xf3, 0x66, op] } else { &[0xf3, op] };
                let mut cpu = cpu_with(code);
                cpu.load_seg_real(SegReg::Es, 0x2000); // copy within one segment
                let image: Vec<u8> = (0..0x8000u32).map(|x| (x * 7 + x / 251) as u8).collect();
                cpu.sys.write_bytes(0x20000, &image);
                let (si, di) = if down { (si + 0x1000, di + 0x1000) } else { (si, di) };
                cpu.s.regs[reg::ESI] = si;
                cpu.s.regs[reg::EDI] = di;
                cpu.s.regs[reg::ECX] = n;
                if down {
                    cpu.s.flags |= eflags::DF;
                }
                while cpu.s.regs[reg::ECX] != 0 {
                    exec_one(&mut cpu).unwrap();
                }
                let mut want = image.clone();
                reference_movs(&mut want, si as usize, di as usize, n as usize, sz, down);
                assert!(mem(&cpu, 0x20000, 0x8000) == want, "movs{sz} si={si:x} di={di:x} down={down}");
                let d = (n * sz as u32) as i64 * if down { -1 } else { 1 };
                assert_eq!(cpu.s.regs[reg::ESI] as i64, si as i64 + d);
                assert_eq!(cpu.s.regs[reg::EDI] as i64, di as i64 + d);
            }
        }
    }

    #[test]
    fn stos_into_a_code_page_is_reported() {
        // Writes to a page holding translated code go through the slow path, which reports them.
        let mut cpu = cpu_with(&[0xf3, 0x66, 0xab]);
        cpu.mark_code_page(0x30);
        cpu.s.regs[reg::ECX] = 1024;
        cpu.s.regs[reg::EAX] = 0xdead_beef;
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.smc_writes.len(), 1024);
        assert!(cpu.smc_writes.iter().all(|&p| p == 0x30));
        assert_eq!(mem(&cpu, 0x30ffc, 4), [0xef, 0xbe, 0xad, 0xde]);
    }

    #[test]
    fn rep_movs_to_mmio_reaches_the_device_every_time() {
        use emu_core::Device;
        #[derive(Default)]
        struct Sink(Vec<(u64, u32)>);
        impl Device for Sink {
            fn name(&self) -> &'static str {
                "sink"
            }
            fn read(&mut self, _: u8, offset: u64, _: u8) -> u32 {
                offset as u32
            }
            fn write(&mut self, _: u8, offset: u64, _: u8, value: u32) {
                self.0.push((offset, value));
            }
            fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
                self
            }
        }
        let mut cpu = cpu_with(&[0xf3, 0xa5]);
        let id = cpu.sys.add_device(Box::new(Sink::default()));
        cpu.sys.map_mmio(0x30000, 0x1000, id, 0).unwrap();
        cpu.sys.write_bytes(0x20000, &[1, 0, 2, 0, 3, 0]);
        cpu.s.regs[reg::ECX] = 3;
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.sys.device_mut::<Sink>(id).unwrap().0, [(0, 1), (2, 2), (4, 3)]);
    }
}
