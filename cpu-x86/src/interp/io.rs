//! Port I/O (SDM Vol. 1, 19; Vol. 2, IN/OUT): IN and OUT with an immediate port (Ib) or DX, on
//! AL, AX or EAX; and the I/O permission check shared with INS and OUTS.
//!
//! **Protection (SDM Vol. 1, 19.5).** In real mode every port is open. In protected mode, an
//! access at CPL <= IOPL is allowed; otherwise, and always in virtual-8086 mode, the I/O
//! permission bitmap of the current 32-bit TSS decides: one bit per port, and every bit covering
//! the access must be clear. Like P6-family CPUs (and Bochs), the check reads two bitmap bytes,
//! so both must lie within the TSS limit; a 16-bit TSS has no bitmap. Anything else is #GP(0).

use crate::cpu::Cpu;
use crate::decode::{Insn, Mnemonic as M};
use crate::fault::{Fault, Res};
use crate::flags::Size;

/// Offset in a 32-bit TSS of the 16-bit field holding the I/O map base (from the TSS base).
pub const TSS_IO_MAP_BASE: u32 = 0x66;

pub fn exec(cpu: &mut Cpu, i: &Insn) -> Res {
    match i.mnemonic {
        M::In => {
            let size = Cpu::size_of(i, 0);
            let port = cpu.get(i, 1)? as u16;
            cpu.check_io_permission(port, size)?;
            let v = cpu.port_read(port, size);
            cpu.set_reg(0, size, v);
            Ok(())
        }
        M::Out => {
            let size = Cpu::size_of(i, 1);
            let port = cpu.get(i, 0)? as u16;
            cpu.check_io_permission(port, size)?;
            let v = cpu.reg(0, size);
            cpu.port_write(port, size, v);
            Ok(())
        }
        other => unreachable!("{other:?} is not IN or OUT"),
    }
}

impl Cpu {
    /// Whether an access of `size` at I/O port `port` is allowed; #GP(0) if not (see the module
    /// documentation). Reading the bitmap may itself fault (#PF on the TSS).
    /// Also records I/O breakpoints (DR7 with CR4.DE) the access hits.
    pub fn check_io_permission(&mut self, port: u16, size: Size) -> Res {
        self.check_io_breakpoints(port, size);
        if !self.s.protected() || (!self.s.v86() && self.s.cpl <= self.iopl()) {
            return Ok(());
        }
        let tr = self.s.tr;
        // A system descriptor (S = 0) of type 9 (available) or 11 (busy): a 32-bit TSS.
        if tr.attr & 0x1d != 0x9 || tr.limit < TSS_IO_MAP_BASE + 1 {
            return Err(Fault::gp(0));
        }
        let map = self.read_lin_sys(tr.base.wrapping_add(TSS_IO_MAP_BASE), Size::W)?;
        let at = map + port as u32 / 8;
        if at + 1 > tr.limit {
            return Err(Fault::gp(0));
        }
        let bits = self.read_lin_sys(tr.base.wrapping_add(at), Size::W)?;
        let mask = ((1u32 << size.bytes()) - 1) << (port % 8);
        if bits & mask != 0 {
            return Err(Fault::gp(0));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::string::tests::{cpu_with, exec_one, CODE};
    use crate::state::{cr0, eflags, reg};
    use emu_core::{Device, DeviceId};

    /// Eight byte-wide registers at ports 0x60-0x67 that log every access.
    #[derive(Default)]
    struct Ports {
        r: [u8; 8],
        log: Vec<(char, u64, u8)>,
    }
    impl Device for Ports {
        fn name(&self) -> &'static str {
            "ports"
        }
        fn read(&mut self, _: u8, offset: u64, size: u8) -> u32 {
            self.log.push(('r', offset, size));
            (0..size as u64).map(|k| (self.r[((offset + k) % 8) as usize] as u32) << (8 * k)).sum()
        }
        fn write(&mut self, _: u8, offset: u64, size: u8, value: u32) {
            self.log.push(('w', offset, size));
            for k in 0..size as u64 {
                self.r[((offset + k) % 8) as usize] = (value >> (8 * k)) as u8;
            }
        }
        fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
            self
        }
    }

    fn with_ports(code: &[u8]) -> (Cpu, DeviceId) {
        let mut cpu = cpu_with(code);
        let id = cpu.sys.add_device(Box::new(Ports::default()));
        cpu.sys.map_io(0x60, 8, id, 0).unwrap();
        (cpu, id)
    }

    fn log(cpu: &mut Cpu, id: DeviceId) -> Vec<(char, u64, u8)> {
        std::mem::take(&mut cpu.sys.device_mut::<Ports>(id).unwrap().log)
    }

    #[test]
    fn in_and_out_with_immediate_and_dx() {
        // out 0x61, al; out dx, ax; 66 out dx, eax; in al, 0x62; in ax, dx; 66 in eax, dx
        let code = [0xe6, 0x61, 0xef, 0x66, 0xef, 0xe4, 0x62, 0xed, 0x66, 0xed];
        let (mut cpu, id) = with_ports(&code);
        cpu.s.regs[reg::EAX] = 0x4433_2211;
        cpu.s.regs[reg::EDX] = 0x64;
        for _ in 0..3 {
            exec_one(&mut cpu).unwrap();
        }
        assert_eq!(log(&mut cpu, id), [('w', 1, 1), ('w', 4, 2), ('w', 4, 4)]);
        assert_eq!(cpu.sys.device_mut::<Ports>(id).unwrap().r, [0, 0x11, 0, 0, 0x11, 0x22, 0x33, 0x44]);
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.regs[reg::EAX], 0x4433_2200); // AL only
        cpu.s.regs[reg::EDX] = 0x65;
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.regs[reg::EAX], 0x4433_3322);
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.regs[reg::EAX], 0x0044_3322);
        assert_eq!(cpu.s.eip, CODE + code.len() as u32);
    }

    #[test]
    fn unclaimed_ports_read_all_ones() {
        let (mut cpu, _) = with_ports(&[0xec]);
        cpu.s.regs[reg::EDX] = 0x1234;
        exec_one(&mut cpu).unwrap();
        assert_eq!(cpu.s.regs[reg::EAX] & 0xff, 0xff);
    }

    #[test]
    fn ins_and_outs_move_between_ports_and_memory() {
        // rep outsb from DS:0; rep insw into ES:0
        let (mut cpu, id) = with_ports(&[0xf3, 0x6e, 0xf3, 0x6d]);
        cpu.sys.write_bytes(0x20000, &[0xa1, 0xa2, 0xa3]);
        cpu.s.regs[reg::EDX] = 0x60;
        cpu.s.regs[reg::ECX] = 3;
        exec_one(&mut cpu).unwrap();
        assert_eq!(log(&mut cpu, id), [('w', 0, 1); 3]);
        assert_eq!(cpu.s.regs[reg::ESI], 3);
        cpu.sys.device_mut::<Ports>(id).unwrap().r[1] = 0xb1;
        cpu.s.regs[reg::ECX] = 2;
        exec_one(&mut cpu).unwrap();
        assert_eq!(log(&mut cpu, id), [('r', 0, 2); 2]);
        assert_eq!(&cpu.sys.ram().as_slice()[0x30000..0x30004], &[0xa3, 0xb1, 0xa3, 0xb1]);
        assert_eq!((cpu.s.regs[reg::EDI], cpu.s.regs[reg::ECX]), (4, 0));
    }

    /// Protected mode at CPL 3 with IOPL 0 and a 32-bit TSS at 0x9000 whose I/O map starts at
    /// 0x68 + `map_off`, allowing ports 0x60-0x63 and 0x66 only; the TSS limit ends the map
    /// right after the bytes for ports 0x00-0x7f plus the trailing 0xFF byte.
    fn protected_user(cpu: &mut Cpu, map_off: u32) {
        let tss = 0x9000u32;
        let map = 0x68 + map_off;
        cpu.sys.write_bytes((tss + TSS_IO_MAP_BASE) as u64, &(map as u16).to_le_bytes());
        let mut bitmap = [0xffu8; 17];
        bitmap[0x60 / 8] = !0b0100_1111;
        cpu.sys.write_bytes((tss + map) as u64, &bitmap);
        cpu.s.tr.base = tss;
        cpu.s.tr.limit = map + 16;
        cpu.s.tr.attr = crate::state::attr::P | 11;
        cpu.s.cr0 |= cr0::PE;
        cpu.s.cpl = 3;
    }

    #[test]
    fn io_permission_bitmap() {
        let (mut cpu, _) = with_ports(&[]);
        protected_user(&mut cpu, 0);
        let gp = Err(Fault::gp(0));
        assert_eq!(cpu.check_io_permission(0x60, Size::D), Ok(()));
        assert_eq!(cpu.check_io_permission(0x61, Size::D), gp); // covers 0x64
        assert_eq!(cpu.check_io_permission(0x66, Size::B), Ok(()));
        assert_eq!(cpu.check_io_permission(0x66, Size::W), gp);
        assert_eq!(cpu.check_io_permission(0x67, Size::B), gp);
        assert_eq!(cpu.check_io_permission(0x7f, Size::B), gp);
        assert_eq!(cpu.check_io_permission(0x80, Size::B), gp); // beyond the limit
                                                                // CPL <= IOPL: no bitmap at all.
        cpu.s.flags |= eflags::IOPL;
        assert_eq!(cpu.check_io_permission(0x80, Size::B), Ok(()));
        // Virtual-8086 mode consults the bitmap whatever IOPL is.
        cpu.s.flags |= eflags::VM;
        assert_eq!(cpu.check_io_permission(0x80, Size::B), gp);
        assert_eq!(cpu.check_io_permission(0x62, Size::W), Ok(()));
        // A 16-bit TSS has no bitmap.
        cpu.s.tr.attr = crate::state::attr::P | 3;
        assert_eq!(cpu.check_io_permission(0x62, Size::W), gp);
        // Real mode: everything open.
        cpu.s.flags &= !eflags::VM;
        cpu.s.cr0 &= !cr0::PE;
        cpu.s.tr.attr = 0;
        assert_eq!(cpu.check_io_permission(0x80, Size::D), Ok(()));
    }

    #[test]
    fn io_map_base_beyond_the_limit_denies_everything() {
        let (mut cpu, _) = with_ports(&[]);
        protected_user(&mut cpu, 0);
        cpu.sys.write_bytes(0x9000 + TSS_IO_MAP_BASE as u64, &0x1000u16.to_le_bytes());
        assert_eq!(cpu.check_io_permission(0x60, Size::B), Err(Fault::gp(0)));
    }

    #[test]
    fn denied_in_out_ins_outs_change_nothing() {
        // in al, 0x80; out 0x80, al; rep insb (with DX = 0x80); outsb
        let (mut cpu, id) = with_ports(&[0xe4, 0x80, 0xe6, 0x80, 0xf3, 0x6c, 0x6e]);
        protected_user(&mut cpu, 0);
        cpu.s.regs[reg::EDX] = 0x80;
        cpu.s.regs[reg::ECX] = 0; // REP INS with a zero count is still checked
        let before = cpu.s.clone();
        assert_eq!(exec_one(&mut cpu), Err(Fault::gp(0)));
        for eip in [CODE + 2, CODE + 4, CODE + 6] {
            cpu.s.eip = eip;
            assert_eq!(exec_one(&mut cpu), Err(Fault::gp(0)));
            cpu.s.eip = before.eip;
            assert_eq!(cpu.s, before);
        }
        assert!(log(&mut cpu, id).is_empty());
        // Allowed ports go through at CPL 3.
        cpu.s.eip = CODE + 6;
        cpu.s.regs[reg::EDX] = 0x66;
        exec_one(&mut cpu).unwrap();
        assert_eq!(log(&mut cpu, id), [('w', 6, 1)]);
    }
}
