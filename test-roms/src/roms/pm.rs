//! The protected-mode harness the `pm_*`, `paging`, `fpu` and `v86` ROMs share.
//!
//! The real-mode ROM copies a GDT and an IDT (built here, in Rust) into RAM, sets CR0.PE and calls
//! far (`66 9A`, a 32-bit offset) into 32-bit code assembled with `CodeAssembler::new(32)` and
//! placed in the ROM's data area, where it runs flat (CS = 0x08 base 0, so code addresses are
//! F0000 + ROM offset). Each check the 32-bit code makes sets one byte in [`RESULTS`] to 1 when it
//! holds; the code returns to real mode through a 16-bit code segment (0x18) and a 32-bit far
//! return, and the real-mode ROM turns each result byte into a verdict check (`FAIL: name`). A
//! check that never runs (the mechanism broke and the code went astray) stays 0 and fails.
//!
//! Exceptions 0-31 go through interrupt gates to stubs that record the vector, error code (or
//! [`NO_ERROR`]), EIP, CS and EFLAGS at [`exc`], count them, and return to the address in
//! [`exc::RESUME`] (0: to where the CPU left). With [`exc::ABANDON`] set, the stub instead drops
//! the frame: ESP from [`exc::SAVED_ESP`], ring 0, and jumps to RESUME (the way back from ring 3
//! or V86 code that cannot return). Stubs address memory through SS (always a flat ring-0 stack
//! in a handler), so they work whatever DS a fault left.
//!
//! GDT: 00 null, 08 code32 flat, 10 data32 flat, 18 code16 base F0000, 20 data16 base 0 limit
//! FFFF, 28 code32 flat DPL3, 30 data32 flat DPL3, 38 TSS at [`TSS0`] (ESP0 [`STACK0`], SS0 10);
//! [`FIRST_FREE`] on: the ROM's own descriptors.

use crate::rom::{RomBuilder, RomError, ROM_SEGMENT};
use iced_x86::code_asm::*;

type R<T = ()> = Result<T, RomError>;

pub const GDT: u32 = 0x2000;
pub const GDT_ENTRIES: u32 = 64;
pub const IDT: u32 = 0x2800;
pub const IDT_ENTRIES: u32 = 0x40;
pub const TSS0: u32 = 0x3000;
pub const TSS1: u32 = 0x3100;
/// One byte per check.
pub const RESULTS: u32 = 0x600;
pub const MAX_CHECKS: usize = 0x100;
/// Ring-0 stack for privilege changes (from TSS0).
pub const STACK0: u32 = 0x6800;
/// Where ROM code starts in the flat space.
pub const FLAT_ROM: u32 = (ROM_SEGMENT as u32) << 4;
pub const FIRST_FREE: u16 = 0x50;
pub const NO_ERROR: u32 = 0xeeee_eeee;

pub const CODE32: u16 = 0x08;
pub const DATA32: u16 = 0x10;
pub const CODE16: u16 = 0x18;
pub const DATA16: u16 = 0x20;
pub const CODE3: u16 = 0x28 | 3;
pub const DATA3: u16 = 0x30 | 3;
pub const TSS0_SEL: u16 = 0x38;

/// What the exception stubs record (dwords).
pub mod exc {
    pub const VECTOR: u32 = 0x580;
    pub const ERROR: u32 = 0x584;
    pub const EIP: u32 = 0x588;
    pub const CS: u32 = 0x58c;
    pub const EFLAGS: u32 = 0x590;
    pub const COUNT: u32 = 0x594;
    pub const RESUME: u32 = 0x598;
    pub const ABANDON: u32 = 0x59c;
    pub const SAVED_ESP: u32 = 0x5a0;
}

/// A descriptor: base, limit (raw 20 bits), access byte, flags nibble (G, D/B, L, AVL).
pub fn desc(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    (limit as u64 & 0xffff)
        | (base as u64 & 0xff_ffff) << 16
        | (access as u64) << 40
        | ((limit as u64 >> 16) & 0xf) << 48
        | ((flags as u64) & 0xf) << 52
        | ((base as u64) >> 24) << 56
}

/// Puts into `reg` an address that continues at `target`: a `jmp target` placed here and skipped
/// (code_asm has no label-address operands in 32-bit code). Uses 4 bytes of stack.
pub fn addr_of(a: &mut CodeAssembler, reg: AsmRegister32, target: CodeLabel) -> Result<(), IcedError> {
    let mut after = a.create_label();
    a.call(after)?;
    a.jmp(target)?;
    a.set_label(&mut after)?;
    a.pop(reg)
}

/// The 32-bit side of a ROM: its assembler and its checks.
pub struct Pm {
    pub a: CodeAssembler,
    checks: Vec<String>,
    gdt: Vec<(u16, u64)>,
    /// Flat address where this code is assembled.
    at: u32,
    exit16: u32,
}

impl Pm {
    /// Starts the 32-bit part: the exception stubs and the return path go into the ROM's data
    /// area now; the code emitted on `a` follows them.
    pub fn new(rom: &mut RomBuilder) -> R<Pm> {
        // The way back: 16-bit code segment, real-mode-like data caches, PE and PG off, and
        // the 32-bit far return to the real-mode caller.
        let exit16 = rom.routine(|a| {
            a.mov(ax, DATA16 as u32)?;
            a.mov(ds, ax)?;
            a.mov(es, ax)?;
            a.mov(fs, ax)?;
            a.mov(gs, ax)?;
            a.mov(ss, ax)?;
            a.mov(eax, cr0)?;
            a.and(eax, 0x7fff_fffeu32)?;
            a.mov(cr0, eax)?;
            a.db(&[0x66, 0xcb]) // retf (o32)
        })?;
        // The prologue: flat segments, TR.
        let mut a = CodeAssembler::new(32)?;
        a.mov(eax, DATA32 as u32)?;
        a.mov(ds, eax)?;
        a.mov(es, eax)?;
        a.mov(fs, eax)?;
        a.mov(gs, eax)?;
        a.mov(ss, eax)?;
        a.mov(eax, TSS0_SEL as u32)?;
        a.ltr(ax)?;
        Ok(Pm { a, checks: Vec::new(), gdt: Vec::new(), at: 0, exit16 })
    }

    /// Adds a GDT descriptor.
    pub fn gdt(&mut self, selector: u16, d: u64) {
        self.gdt.push((selector & !7, d));
    }

    /// After a compare: the check `name` holds when `cc` jumps.
    pub fn check(&mut self, name: &str, cc: impl FnOnce(&mut CodeAssembler, CodeLabel) -> Result<(), IcedError>) -> R {
        let i = self.checks.len();
        assert!(i < MAX_CHECKS, "too many checks");
        self.checks.push(name.to_string());
        let a = &mut self.a;
        let (mut pass, mut skip) = (a.create_label(), a.create_label());
        cc(a, pass)?;
        a.jmp(skip)?;
        a.set_label(&mut pass)?;
        a.mov(byte_ptr(RESULTS + i as u32).ss(), 1u32)?;
        a.set_label(&mut skip)?;
        Ok(a.nop()?)
    }

    /// Checks that `reg` equals `v`.
    pub fn eq32(&mut self, name: &str, reg: AsmRegister32, v: u32) -> R {
        self.a.cmp(reg, v)?;
        self.check(name, |a, l| a.je(l))
    }

    /// Checks that the dword at flat `addr` equals `v` (through SS).
    pub fn mem32(&mut self, name: &str, addr: u32, v: u32) -> R {
        self.a.cmp(dword_ptr(addr).ss(), v)?;
        self.check(name, |a, l| a.je(l))
    }

    /// Clears the exception record and sets where a fault resumes.
    pub fn arm(&mut self, resume: CodeLabel) -> R {
        self.a.push(eax)?;
        addr_of(&mut self.a, eax, resume)?;
        let a = &mut self.a;
        a.mov(dword_ptr(exc::RESUME).ss(), eax)?;
        a.mov(dword_ptr(exc::VECTOR).ss(), 0xffff_ffffu32)?;
        a.mov(dword_ptr(exc::ERROR).ss(), 0u32)?;
        a.mov(dword_ptr(exc::COUNT).ss(), 0u32)?;
        Ok(a.pop(eax)?)
    }

    /// Runs `body`, which must fault with `vector` (and `error`, if given) exactly once.
    pub fn expect_fault(
        &mut self,
        name: &str,
        vector: u32,
        error: Option<u32>,
        body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    ) -> R {
        let mut resume = self.a.create_label();
        self.arm(resume)?;
        body(&mut self.a)?;
        self.a.set_label(&mut resume)?;
        self.a.nop()?;
        self.mem32(&format!("{name}: vector {vector}"), exc::VECTOR, vector)?;
        self.mem32(&format!("{name}: one exception"), exc::COUNT, 1)?;
        if let Some(e) = error {
            self.mem32(&format!("{name}: error code {e:#x}"), exc::ERROR, e)?;
        }
        Ok(())
    }

    /// Builds the ROM: tables, entry, the 32-bit code (ending with the return to real mode), and
    /// the verdict checks.
    pub fn finish(mut self, mut rom: RomBuilder) -> R<Vec<u8>> {
        // Stubs: vector v pushes a dummy error code if the CPU pushes none, then v.
        let stubs_at = FLAT_ROM + rom.data(&[]);
        let mut s = CodeAssembler::new(32)?;
        let mut common = s.create_label();
        let mut stub_labels = Vec::new();
        for v in 0..IDT_ENTRIES {
            let mut l = s.create_label();
            s.set_label(&mut l)?;
            stub_labels.push(l);
            if !matches!(v, 8 | 10..=14 | 17) {
                s.push(NO_ERROR)?;
            }
            s.push(v)?;
            s.jmp(common)?;
        }
        s.set_label(&mut common)?;
        s.pop(dword_ptr(exc::VECTOR).ss())?;
        s.pop(dword_ptr(exc::ERROR).ss())?;
        s.push(eax)?;
        for (off, at) in [(4, exc::EIP), (8, exc::CS), (12, exc::EFLAGS)] {
            s.mov(eax, dword_ptr(esp + off))?;
            s.mov(dword_ptr(at).ss(), eax)?;
        }
        s.inc(dword_ptr(exc::COUNT).ss())?;
        let mut abandon = s.create_label();
        let mut same = s.create_label();
        s.cmp(dword_ptr(exc::ABANDON).ss(), 0u32)?;
        s.jne(abandon)?;
        s.mov(eax, dword_ptr(exc::RESUME).ss())?;
        s.test(eax, eax)?;
        s.je(same)?;
        s.mov(dword_ptr(esp + 4), eax)?;
        s.set_label(&mut same)?;
        s.pop(eax)?;
        s.iretd()?;
        s.set_label(&mut abandon)?;
        s.mov(dword_ptr(exc::ABANDON).ss(), 0u32)?;
        s.mov(eax, DATA32 as u32)?;
        s.mov(ds, eax)?;
        s.mov(es, eax)?;
        s.mov(fs, eax)?;
        s.mov(gs, eax)?;
        s.mov(esp, dword_ptr(exc::SAVED_ESP).ss())?;
        s.jmp(dword_ptr(exc::RESUME).ss())?;
        let result =
            s.assemble_options(stubs_at as u64, iced_x86::BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
        let stub_addrs: Vec<u32> =
            stub_labels.iter().map(|l| result.label_ip(l).map(|ip| ip as u32)).collect::<Result<_, _>>()?;
        rom.data(&result.inner.code_buffer);

        // The 32-bit body, then the way out: jmp far CODE16:exit16.
        self.at = FLAT_ROM + rom.data(&[]);
        self.a.db(&[0xea])?;
        self.a.dd(&[self.exit16])?;
        self.a.dw(&[CODE16])?;
        let code = self.a.assemble(self.at as u64)?;
        rom.data(&code);

        // Tables in ROM data, copied to RAM by the real-mode part.
        let mut gdt = vec![0u64; GDT_ENTRIES as usize];
        gdt[1] = desc(0, 0xfffff, 0x9b, 0xc);
        gdt[2] = desc(0, 0xfffff, 0x93, 0xc);
        gdt[3] = desc(FLAT_ROM, 0xffff, 0x9b, 0);
        gdt[4] = desc(0, 0xffff, 0x93, 0);
        gdt[5] = desc(0, 0xfffff, 0xfb, 0xc);
        gdt[6] = desc(0, 0xfffff, 0xf3, 0xc);
        gdt[7] = desc(TSS0, 0x67, 0x89, 0);
        for &(sel, d) in &self.gdt {
            gdt[sel as usize / 8] = d;
        }
        let gdt_bytes: Vec<u8> = gdt.iter().flat_map(|d| d.to_le_bytes()).collect();
        let mut idt_bytes = Vec::new();
        for &addr in &stub_addrs {
            let g = (addr as u64 & 0xffff) | (CODE32 as u64) << 16 | 0x8e00u64 << 32 | ((addr as u64) >> 16) << 48;
            idt_bytes.extend_from_slice(&g.to_le_bytes());
        }
        let gdt_src = rom.data(&gdt_bytes);
        let idt_src = rom.data(&idt_bytes);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&((GDT_ENTRIES * 8 - 1) as u16).to_le_bytes());
        pseudo.extend_from_slice(&GDT.to_le_bytes());
        pseudo.extend_from_slice(&((IDT_ENTRIES * 8 - 1) as u16).to_le_bytes());
        pseudo.extend_from_slice(&IDT.to_le_bytes());
        pseudo.extend_from_slice(&0x3ffu16.to_le_bytes());
        pseudo.extend_from_slice(&0u32.to_le_bytes());
        let pseudo_at = rom.data(&pseudo);
        let mut tss = vec![0u8; 0x68];
        tss[4..8].copy_from_slice(&STACK0.to_le_bytes());
        tss[8..10].copy_from_slice(&DATA32.to_le_bytes());
        tss[0x66..0x68].copy_from_slice(&0x68u16.to_le_bytes()); // no I/O bitmap
        let tss_src = rom.data(&tss);

        let a = &mut rom.a;
        a.cld()?;
        for (src, dst, len) in [
            (gdt_src, GDT, gdt_bytes.len() as u32),
            (idt_src, IDT, idt_bytes.len() as u32),
            (tss_src, TSS0, tss.len() as u32),
        ] {
            a.mov(si, src)?;
            a.mov(di, dst)?;
            a.mov(cx, len)?;
            a.rep().movsb()?;
        }
        a.xor(eax, eax)?;
        a.mov(di, RESULTS)?;
        a.mov(cx, MAX_CHECKS as u32 / 4)?;
        a.rep().stosd()?;
        a.mov(di, exc::VECTOR)?;
        a.mov(cx, 16u32)?;
        a.rep().stosd()?;
        a.lgdt(ptr(pseudo_at))?;
        a.lidt(ptr(pseudo_at + 6))?;
        a.mov(eax, cr0)?;
        a.or(eax, 1u32)?;
        a.mov(cr0, eax)?;
        a.db(&[0x66, 0x9a])?; // call far CODE32:at (o32)
        a.dd(&[self.at])?;
        a.dw(&[CODE32])?;
        // Real mode again.
        a.xor(ax, ax)?;
        a.mov(ss, ax)?;
        a.mov(es, ax)?;
        a.mov(fs, ax)?;
        a.mov(gs, ax)?;
        a.mov(ax, ROM_SEGMENT as u32)?;
        a.mov(ds, ax)?;
        a.lidt(ptr(pseudo_at + 12))?;
        a.mov(eax, cr4)?;
        a.and(eax, 0xffff_ff4fu32)?; // PSE, PGE and PAE off
        a.mov(cr4, eax)?;
        for (i, name) in self.checks.iter().enumerate() {
            rom.check_mem8(name, RESULTS + i as u32, 1)?;
        }
        rom.finish()
    }
}
