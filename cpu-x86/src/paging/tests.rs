//! Page tables built in guest RAM from Rust; accesses through `read_lin`/`write_lin`/`fetch_lin`
//! and `translate`.

use crate::cpu::Cpu;
use crate::fault::{vector, Fault};
use crate::flags::Size;
use crate::msr::efer;
use crate::paging::{pf_error as pf, pte};
use crate::state::{cr0, cr4};
use crate::tlb::Access;
use emu_core::{ClockMode, System};

const PD: u64 = 0x1000;
const PT: u64 = 0x2000;
const PDPT: u64 = 0x3000;
const PRW: u32 = pte::P | pte::RW;
const PRWU: u32 = pte::P | pte::RW | pte::US;

fn cpu() -> Cpu {
    Cpu::new(System::new(16 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap())
}

fn w32(cpu: &mut Cpu, pa: u64, v: u32) {
    cpu.sys.write_phys(pa, 4, v);
}
fn r32(cpu: &mut Cpu, pa: u64) -> u32 {
    cpu.sys.read_phys(pa, 4)
}
fn w64(cpu: &mut Cpu, pa: u64, v: u64) {
    w32(cpu, pa, v as u32);
    w32(cpu, pa + 4, (v >> 32) as u32);
}

/// 32-bit paging with the directory at 1000h and one table at 2000h for 0-4 MiB, identity
/// mapped with `flags` for every page; CR0.PG set directly (the walk needs only that).
fn paged(flags: u32) -> Cpu {
    let mut cpu = cpu();
    w32(&mut cpu, PD, PT as u32 | PRWU);
    for i in 0..1024 {
        w32(&mut cpu, PT + 4 * i, (i as u32) << 12 | flags);
    }
    cpu.s.cr3 = PD as u32;
    cpu.s.cr0 |= cr0::PE | cr0::PG;
    cpu
}

#[test]
fn four_k_walk_sets_accessed_then_dirty() {
    let mut cpu = paged(PRW);
    w32(&mut cpu, PT + 4 * 0x10, 0x7000 | PRW); // 10000h → 7000h
    cpu.sys.write_bytes(0x7123, &[0x78, 0x56, 0x34, 0x12]);
    assert_eq!(cpu.read_lin(0x10123, Size::D), Ok(0x1234_5678));
    assert_eq!(r32(&mut cpu, PD) & (pte::A | pte::D), pte::A);
    assert_eq!(r32(&mut cpu, PT + 0x40), 0x7000 | PRW | pte::A, "a read sets A only");
    // The read was cached; a write needs the walk again to set D before caching a write tag.
    assert_eq!(cpu.tlb.entry(false, 0x10123).read, 0x10000);
    assert_ne!(cpu.tlb.entry(false, 0x10123).write, 0x10000);
    cpu.write_lin(0x10123, Size::B, 0x99).unwrap();
    assert_eq!(r32(&mut cpu, PT + 0x40), 0x7000 | PRW | pte::A | pte::D);
    assert_eq!(cpu.tlb.entry(false, 0x10123).write, 0x10000);
    assert_eq!(cpu.sys.ram().as_slice()[0x7123], 0x99);
    assert_eq!(cpu.translate(0x10fff, Access::Read, false), Ok(0x7fff));
}

#[test]
fn not_present_faults_carry_the_access() {
    let mut cpu = paged(PRWU);
    w32(&mut cpu, PT + 4 * 5, 0);
    assert_eq!(cpu.read_lin(0x5004, Size::B), Err(Fault::pf(0x5004, 0)));
    assert_eq!(cpu.write_lin(0x5004, Size::B, 0), Err(Fault::pf(0x5004, pf::W)));
    cpu.s.cpl = 3;
    assert_eq!(cpu.write_lin(0x5004, Size::B, 0), Err(Fault::pf(0x5004, pf::W | pf::U)));
    // Without PAE/NXE an instruction fetch sets no I/D bit.
    assert_eq!(cpu.fetch_lin(0x5004), Err(Fault::pf(0x5004, pf::U)));
    // Nothing was marked accessed for the faulting walks.
    assert_eq!(r32(&mut cpu, PT + 4 * 5), 0);
    // A write straddling into the missing page faults on it and writes nothing.
    assert_eq!(cpu.write_lin_slow(0x4ffe, Size::D, 0xffff_ffff, false), Err(Fault::pf(0x5000, pf::W)));
    assert_eq!(cpu.sys.ram().as_slice()[0x4ffe], 0);
}

#[test]
fn user_supervisor_and_write_protect() {
    let mut cpu = paged(PRW); // supervisor pages
    w32(&mut cpu, PT + 4 * 8, 0x8000 | pte::P | pte::US); // user, read-only
    cpu.s.cpl = 3;
    assert_eq!(cpu.read_lin(0x1000, Size::B), Err(Fault::pf(0x1000, pf::P | pf::U)));
    assert_eq!(cpu.read_lin(0x8000, Size::B), Ok(0));
    assert_eq!(cpu.write_lin(0x8000, Size::B, 1), Err(Fault::pf(0x8000, pf::P | pf::W | pf::U)));
    cpu.s.cpl = 0;
    // Supervisor writes to read-only pages succeed without CR0.WP (and set D) ...
    assert_eq!(cpu.write_lin(0x8000, Size::B, 1), Ok(()));
    assert_ne!(r32(&mut cpu, PT + 4 * 8) & pte::D, 0);
    // ... and fault with it; the CR0 write drops the cached write tag.
    cpu.set_cr0(cpu.s.cr0 | cr0::WP).unwrap();
    assert_eq!(cpu.write_lin(0x8000, Size::B, 2), Err(Fault::pf(0x8000, pf::P | pf::W)));
    // U/S in the directory entry counts too.
    w32(&mut cpu, PD, PT as u32 | PRW);
    cpu.tlb.flush();
    cpu.s.cpl = 3;
    assert_eq!(cpu.read_lin(0x8000, Size::B), Err(Fault::pf(0x8000, pf::P | pf::U)));
}

#[test]
fn cr2_and_error_code_through_step() {
    // Paged real-address mode (PG without PE is only reachable from Rust, but it lets the IVT
    // deliver the fault): mov al, [0x5000] with page 5 not present.
    let mut cpu = paged(PRW);
    cpu.s.cr0 &= !cr0::PE;
    w32(&mut cpu, PT + 4 * 5, 0);
    let code = 0x100u32;
    cpu.s.segs[1] = crate::state::Segment::real_mode(0, crate::state::attr::REAL_MODE_CODE);
    cpu.s.eip = code;
    cpu.s.regs[crate::state::reg::ESP] = 0x8000;
    cpu.sys.write_bytes(code as u64, &[0xa0, 0x00, 0x50]);
    cpu.sys.write_bytes(14 * 4, &[0x00, 0x06, 0, 0]); // IVT[14] = 0000:0600
    cpu.step();
    assert_eq!(cpu.s.cr2, 0x5000);
    assert_eq!(cpu.s.eip, 0x600);
    assert_eq!(cpu.read_lin(0x7ffa, Size::W), Ok(code), "the faulting instruction's IP");
}

#[test]
fn pse_four_mib_pages() {
    let mut cpu = cpu();
    w32(&mut cpu, PD + 4 * 2, 0x00c0_0000 | PRW | pte::PS); // 800000h → C00000h
    cpu.s.cr3 = PD as u32;
    cpu.s.cr0 |= cr0::PE | cr0::PG;
    // Without CR4.PSE the entry points at a page table (at C00000h, all zero: not present).
    assert_eq!(cpu.read_lin(0x0081_2345, Size::B), Err(Fault::pf(0x0081_2345, 0)));
    cpu.set_cr4(cr4::PSE).unwrap();
    cpu.sys.write_bytes(0x00c1_2345, &[0x42]);
    assert_eq!(cpu.read_lin(0x0081_2345, Size::B), Ok(0x42));
    assert_eq!(r32(&mut cpu, PD + 8) & (pte::A | pte::D), pte::A);
    cpu.write_lin(0x0081_2345, Size::B, 0x43).unwrap();
    assert_eq!(r32(&mut cpu, PD + 8) & (pte::A | pte::D), pte::A | pte::D);
    // Bits 21:13 are reserved (no PSE-36).
    w32(&mut cpu, PD + 4 * 3, 0x00c0_0000 | 1 << 13 | PRW | pte::PS);
    assert_eq!(cpu.read_lin(0x00c0_0000, Size::B), Err(Fault::pf(0x00c0_0000, pf::P | pf::RSVD)));
}

#[test]
fn global_pages_survive_cr3_loads() {
    let mut cpu = paged(PRW);
    cpu.set_cr4(cr4::PGE).unwrap();
    w32(&mut cpu, PT + 4 * 0x10, 0x7000 | PRW | pte::G);
    w32(&mut cpu, PT + 4 * 0x11, 0x9000 | PRW);
    cpu.sys.write_bytes(0x7000, &[1]);
    cpu.sys.write_bytes(0x9000, &[2]);
    cpu.sys.write_bytes(0xa000, &[3]);
    assert_eq!(cpu.read_lin(0x10000, Size::B), Ok(1));
    assert_eq!(cpu.read_lin(0x11000, Size::B), Ok(2));
    // Remap both to A000h; the stale translations stay until invalidated.
    w32(&mut cpu, PT + 4 * 0x10, 0xa000 | PRW | pte::G);
    w32(&mut cpu, PT + 4 * 0x11, 0xa000 | PRW);
    cpu.set_cr3(PD as u32).unwrap();
    assert_eq!(cpu.read_lin(0x10000, Size::B), Ok(1), "global: kept over a CR3 load");
    assert_eq!(cpu.read_lin(0x11000, Size::B), Ok(3), "not global: walked again");
    cpu.tlb.flush_page(0x10000); // INVLPG
    assert_eq!(cpu.read_lin(0x10000, Size::B), Ok(3));
    // Toggling CR4.PGE drops global entries.
    w32(&mut cpu, PT + 4 * 0x10, 0x7000 | PRW | pte::G);
    cpu.set_cr3(PD as u32).unwrap();
    assert_eq!(cpu.read_lin(0x10000, Size::B), Ok(3));
    cpu.set_cr4(0).unwrap();
    assert_eq!(cpu.read_lin(0x10000, Size::B), Ok(1));
    // Without CR4.PGE, G means nothing.
    w32(&mut cpu, PT + 4 * 0x10, 0xa000 | PRW | pte::G);
    cpu.set_cr3(PD as u32).unwrap();
    assert_eq!(cpu.read_lin(0x10000, Size::B), Ok(3));
}

/// PAE paging: PDPT at 3000h, its entry 0 → directory at 1000h; directory entry 0 → table at
/// 2000h (identity, 4 KiB pages) and entry 1 a 2 MiB page at 400000h.
fn pae() -> Cpu {
    let mut cpu = cpu();
    w64(&mut cpu, PDPT, PD | pte::P as u64);
    w64(&mut cpu, PD, PT | PRW as u64);
    w64(&mut cpu, PD + 8, 0x40_0000 | (PRW | pte::PS) as u64);
    for i in 0..512 {
        w64(&mut cpu, PT + 8 * i, i << 12 | PRW as u64);
    }
    cpu.s.cr3 = PDPT as u32;
    cpu.s.cr4 = cr4::PAE;
    cpu.set_cr0(cr0::PE | cr0::PG | cr0::ET).unwrap(); // loads the PDPTEs
    cpu
}

#[test]
fn pae_walks_4k_and_2m_pages() {
    let mut cpu = pae();
    assert_eq!(cpu.s.pdpte[0], PD | 1);
    cpu.sys.write_bytes(0x5678, &[7]);
    cpu.sys.write_bytes(0x41_2345, &[8]);
    assert_eq!(cpu.read_lin(0x5678, Size::B), Ok(7));
    assert_eq!(cpu.read_lin(0x0021_2345, Size::B), Ok(8));
    assert_eq!(cpu.translate(0x0021_2345, Access::Read, false), Ok(0x41_2345));
    cpu.write_lin(0x5678, Size::B, 9).unwrap();
    assert_eq!(r32(&mut cpu, PT + 8 * 5) & (pte::A | pte::D), pte::A | pte::D);
    assert_eq!(r32(&mut cpu, PD) & (pte::A | pte::D), pte::A);
    assert_eq!(r32(&mut cpu, PD + 8) & (pte::A | pte::D), pte::A);
    // Not-present PDPTE 1 (1-2 GiB).
    assert_eq!(cpu.read_lin(0x4000_0000, Size::B), Err(Fault::pf(0x4000_0000, 0)));
    // The PDPTEs are cached: changing memory alone changes nothing until CR3 is written.
    w64(&mut cpu, PDPT, 0);
    assert_eq!(cpu.read_lin(0x6000, Size::B), Ok(0));
    cpu.set_cr3(PDPT as u32).unwrap();
    assert_eq!(cpu.read_lin(0x6000, Size::B), Err(Fault::pf(0x6000, 0)));
}

#[test]
fn pae_reserved_bits() {
    let mut cpu = pae();
    // A PDPTE with R/W set is reserved: MOV to CR3 raises #GP and keeps CR3.
    w64(&mut cpu, 0x4000, PD | (pte::P | pte::RW) as u64);
    assert_eq!(cpu.set_cr3(0x4000), Err(Fault::gp(0)));
    assert_eq!(cpu.s.cr3, PDPT as u32);
    // So is turning PAE paging on with it.
    let mut c2 = super::tests::cpu();
    w64(&mut c2, PDPT, PD | (pte::P | pte::RW) as u64);
    c2.s.cr3 = PDPT as u32;
    c2.s.cr4 = cr4::PAE;
    assert_eq!(c2.set_cr0(cr0::PE | cr0::PG | cr0::ET), Err(Fault::gp(0)));
    assert_eq!(c2.s.cr0 & cr0::PG, 0);
    // Physical-address bits above 35 in a table entry: #PF with RSVD.
    w64(&mut cpu, PT + 8 * 7, 1 << 40 | 0x7000 | PRW as u64);
    assert_eq!(cpu.read_lin(0x7000, Size::B), Err(Fault::pf(0x7000, pf::P | pf::RSVD)));
    // Bits 20:13 of a 2 MiB entry.
    w64(&mut cpu, PD + 16, 0x60_0000 | 1 << 13 | (PRW | pte::PS) as u64);
    assert_eq!(cpu.write_lin(0x40_0000, Size::B, 0), Err(Fault::pf(0x40_0000, pf::P | pf::W | pf::RSVD)));
    // XD without EFER.NXE is reserved too.
    w64(&mut cpu, PT + 8 * 9, pte::XD | 0x9000 | PRW as u64);
    assert_eq!(cpu.read_lin(0x9000, Size::B), Err(Fault::pf(0x9000, pf::P | pf::RSVD)));
}

#[test]
fn nx_forbids_fetches_with_nxe() {
    let mut cpu = pae();
    crate::msr::write(&mut cpu, crate::msr::index::EFER, efer::NXE).unwrap();
    w64(&mut cpu, PT + 8 * 9, pte::XD | 0x9000 | PRW as u64);
    cpu.sys.write_bytes(0x9000, &[0x90]);
    assert_eq!(cpu.read_lin(0x9000, Size::B), Ok(0x90), "data reads are fine");
    assert_eq!(cpu.fetch_lin(0x9000), Err(Fault::pf(0x9000, pf::P | pf::ID)));
    cpu.s.cpl = 3;
    w64(&mut cpu, PD, PT | PRWU as u64);
    w64(&mut cpu, PT + 8 * 9, pte::XD | 0x9000 | PRWU as u64);
    w64(&mut cpu, PT + 8 * 10, 0xa000 | PRWU as u64);
    cpu.tlb.flush();
    assert_eq!(cpu.fetch_lin(0x9000), Err(Fault::pf(0x9000, pf::P | pf::ID | pf::U)));
    // Not present, fetch: I/D without P.
    w64(&mut cpu, PT + 8 * 11, 0);
    assert_eq!(cpu.fetch_lin(0xb000), Err(Fault::pf(0xb000, pf::ID | pf::U)));
    assert_eq!(cpu.fetch_lin(0xa000), Ok(0));
    // XD in the directory entry covers the whole table.
    w64(&mut cpu, PD, pte::XD | PT | PRWU as u64);
    cpu.tlb.flush();
    assert_eq!(cpu.fetch_lin(0xa000), Err(Fault::pf(0xa000, pf::P | pf::ID | pf::U)));
}

#[test]
fn physical_addresses_above_4g_are_open_bus() {
    let mut cpu = pae();
    w64(&mut cpu, PT + 8 * 12, 0x8_0000_0000 | PRW as u64);
    assert_eq!(cpu.translate(0xc010, Access::Read, false), Ok(0x8_0000_0010));
    assert_eq!(cpu.read_lin(0xc010, Size::D), Ok(0xffff_ffff));
    assert_eq!(cpu.write_lin(0xc010, Size::D, 5), Ok(()));
    assert_eq!(cpu.read_lin(0xc010, Size::D), Ok(0xffff_ffff));
}

#[test]
fn cr4_reserved_bits_and_pdpte_reload_on_mode_change() {
    let mut cpu = pae();
    assert_eq!(cpu.set_cr4(cr4::PAE | 1 << 11), Err(Fault::gp(0)));
    // Changing PGE with PAE paging on reloads the PDPTEs.
    w64(&mut cpu, PDPT + 8, 0x5000 | pte::P as u64);
    cpu.set_cr4(cr4::PAE | cr4::PGE).unwrap();
    assert_eq!(cpu.s.pdpte[1], 0x5000 | 1);
    let _ = vector::PF;
}

#[test]
fn cr4_osfxsr_is_writable_as_cpuid_reports_fxsr() {
    // Linux's fpu__init_cpu_generic sets OSFXSR on any CPU with FXSR.
    let mut cpu = cpu();
    cpu.set_cr4(cr4::PSE | cr4::OSFXSR).unwrap();
    assert_eq!(cpu.s.cr4, cr4::PSE | cr4::OSFXSR);
    assert_eq!(cpu.set_cr4(cr4::OSFXSR | 1 << 10), Err(Fault::gp(0)));
}
