//! Page tables built in guest RAM from Rust; accesses through `read_lin`/`write_lin`/`fetch_lin`
//! and `translate`.

use crate::cpu::Cpu;
use crate::fault::{vector, Fault};
use crate::flags::Size;
use crate::msr::efer;
use crate::paging::{pf_error as pf, pte};
use crate::state::{cr0, cr4, SegReg};
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

// ---- entries read and written in host RAM, and where that is not possible --------------------

/// Reads the RAM bytes of an entry directly (not through `read_phys`), to see what the walk's
/// host stores left there.
fn ram32(cpu: &Cpu, pa: u64) -> u32 {
    u32::from_le_bytes(cpu.sys.ram().as_slice()[pa as usize..pa as usize + 4].try_into().unwrap())
}

#[test]
fn a_and_d_bits_land_in_ram_in_every_mode() {
    // 32-bit paging, 4 KiB page: A in the directory entry and the table entry, D on a write.
    let mut cpu = paged(PRW);
    w32(&mut cpu, PT + 4 * 0x21, 0x9000 | PRW);
    assert_eq!(cpu.read_lin(0x21000, Size::D), Ok(0));
    assert_eq!((ram32(&cpu, PD), ram32(&cpu, PT + 4 * 0x21)), (PT as u32 | PRWU | pte::A, 0x9000 | PRW | pte::A));
    cpu.write_lin(0x21004, Size::D, 5).unwrap();
    assert_eq!(ram32(&cpu, PT + 4 * 0x21), 0x9000 | PRW | pte::A | pte::D);
    assert_eq!(ram32(&cpu, 0x9004), 5);
    // An entry that has A and D already is not written again (a store would be visible to a
    // device or code watching the page, and a locked update would not happen).
    cpu.mark_code_page((PT >> 12) as u32);
    cpu.tlb.flush();
    cpu.write_lin(0x21008, Size::D, 6).unwrap();
    assert!(cpu.smc_writes.is_empty());
    // 32-bit paging with PSE, 4 MiB page: A, then D, in the directory entry.
    w32(&mut cpu, PD + 4, 0x80_0000 | PRW | pte::PS);
    cpu.set_cr4(cr4::PSE).unwrap();
    assert_eq!(cpu.read_lin(0x40_1234, Size::B), Ok(0));
    assert_eq!(ram32(&cpu, PD + 4), 0x80_0000 | PRW | pte::PS | pte::A);
    cpu.write_lin(0x40_1234, Size::B, 7).unwrap();
    assert_eq!(ram32(&cpu, PD + 4), 0x80_0000 | PRW | pte::PS | pte::A | pte::D);
    assert_eq!(cpu.sys.ram().as_slice()[0x80_1234], 7);
    // PAE: the low half of the 8-byte entries, the high half untouched.
    let mut cpu = pae();
    crate::msr::write(&mut cpu, crate::msr::index::EFER, efer::NXE).unwrap();
    w64(&mut cpu, PT + 8 * 0x30, pte::XD | 0x7000 | PRW as u64);
    cpu.write_lin(0x30010, Size::W, 0xabcd).unwrap();
    assert_eq!(ram32(&cpu, PT + 8 * 0x30), 0x7000 | PRW | pte::A | pte::D);
    assert_eq!(ram32(&cpu, PT + 8 * 0x30 + 4), (pte::XD >> 32) as u32);
    assert_eq!(ram32(&cpu, PD) & (pte::A | pte::D), pte::A);
    // 2 MiB page.
    assert_eq!(cpu.read_lin(0x20_0000, Size::B), Ok(0));
    assert_eq!(ram32(&cpu, PD + 8), 0x40_0000 | PRW | pte::PS | pte::A);
    cpu.write_lin(0x20_0001, Size::B, 1).unwrap();
    assert_eq!(ram32(&cpu, PD + 8), 0x40_0000 | PRW | pte::PS | pte::A | pte::D);
}

#[test]
fn reads_of_dirty_writable_pages_also_allow_writes() {
    let mut cpu = paged(PRW | pte::A | pte::D);
    w32(&mut cpu, PT + 4 * 0x11, 0x8000 | pte::P | pte::A | pte::D); // read-only, dirty
    w32(&mut cpu, PT + 4 * 0x12, 0x9000 | PRW | pte::A); // writable, clean
    cpu.read_lin(0x10000, Size::B).unwrap();
    cpu.read_lin(0x11000, Size::B).unwrap();
    cpu.read_lin(0x12000, Size::B).unwrap();
    let tags = |cpu: &Cpu, lin| (cpu.tlb.entry(false, lin).read, cpu.tlb.entry(false, lin).write);
    assert_eq!(tags(&cpu, 0x10000), (0x10000, 0x10000), "dirty and writable: both tags");
    // Supervisor writes to a read-only page are allowed without CR0.WP: the tag may be given.
    assert_eq!(tags(&cpu, 0x11000), (0x11000, 0x11000));
    assert_eq!(tags(&cpu, 0x12000).1, crate::tlb::INVALID, "a write must still set D");
    cpu.write_lin(0x12000, Size::B, 1).unwrap();
    assert_eq!(r32(&mut cpu, PT + 4 * 0x12) & pte::D, pte::D);
    // With CR0.WP the read-only page gets no write tag, and the write faults.
    cpu.set_cr0(cpu.s.cr0 | cr0::WP).unwrap();
    cpu.read_lin(0x11000, Size::B).unwrap();
    assert_eq!(tags(&cpu, 0x11000), (0x11000, crate::tlb::INVALID));
    assert_eq!(cpu.write_lin(0x11000, Size::B, 1), Err(Fault::pf(0x11000, pf::P | pf::W)));
    // User reads of a supervisor-writable page: no write tag at CPL 3 for a read-only one.
    w32(&mut cpu, PT + 4 * 0x13, 0xa000 | pte::P | pte::US | pte::A | pte::D);
    cpu.s.cpl = 3;
    cpu.read_lin(0x13000, Size::B).unwrap();
    assert_eq!(cpu.tlb.entry(true, 0x13000).write, crate::tlb::INVALID);
    cpu.s.cpl = 0;
    // A page holding translated code gets no write tag from a read: writes must be seen.
    cpu.mark_code_page(0x14);
    cpu.read_lin(0x14000, Size::B).unwrap();
    assert_eq!(tags(&cpu, 0x14000), (0x14000, crate::tlb::INVALID));
    cpu.write_lin(0x14000, Size::B, 1).unwrap();
    assert_eq!(cpu.smc_writes, vec![0x14]);
    // Nor while the lockstep checker logs slow-path writes.
    cpu.tlb.write_log = Some(Vec::new());
    cpu.read_lin(0x15000, Size::B).unwrap();
    assert_eq!(tags(&cpu, 0x15000), (0x15000, crate::tlb::INVALID));
    // A write fill gives the read tag too.
    cpu.tlb.write_log = None;
    cpu.write_lin(0x16000, Size::B, 1).unwrap();
    assert_eq!(tags(&cpu, 0x16000), (0x16000, 0x16000));
}

/// A device holding one page table (1024 entries) that counts its accesses.
#[derive(Default)]
struct TableDevice {
    entries: Vec<u32>,
    reads: Vec<(u64, u8)>,
    writes: Vec<(u64, u8, u32)>,
}

impl emu_core::device::Device for TableDevice {
    fn name(&self) -> &'static str {
        "page table"
    }
    fn read(&mut self, _: u8, offset: u64, size: u8) -> u32 {
        self.reads.push((offset, size));
        assert_eq!((offset % 4, size), (0, 4), "entries are read whole");
        self.entries[offset as usize / 4]
    }
    fn write(&mut self, _: u8, offset: u64, size: u8, value: u32) {
        self.writes.push((offset, size, value));
        self.entries[offset as usize / 4] = value;
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[test]
fn tables_in_mmio_rom_and_beyond_ram_go_through_the_bus() {
    let mut cpu = paged(PRW);
    // Directory entry 1 (4-8 MiB) → a table in a device at 0xa0000.
    let entries = (0..1024).map(|i| (0x40_0000 + (i << 12)) | PRW).collect();
    let dev = cpu.sys.add_device(Box::new(TableDevice { entries, ..Default::default() }));
    cpu.sys.map_mmio(0xa0000, 0x1000, dev, 0).unwrap();
    w32(&mut cpu, PD + 4, 0xa0000 | PRW);
    cpu.sys.write_bytes(0x40_3010, &[0x5a]);
    assert_eq!(cpu.read_lin(0x40_3010, Size::B), Ok(0x5a));
    cpu.write_lin(0x40_3011, Size::B, 0xa5).unwrap();
    let d = cpu.sys.device_mut::<TableDevice>(dev).unwrap();
    assert_eq!(d.reads, vec![(12, 4), (12, 4)]);
    assert_eq!(d.writes, vec![(12, 4, 0x40_3000 | PRW | pte::A), (12, 4, 0x40_3000 | PRW | pte::A | pte::D)]);
    assert_eq!(ram32(&cpu, 0xa000c), 0, "the RAM under the device is untouched");
    // Directory entry 2 (8-12 MiB) → a table in ROM: walks work, A/D stores are dropped.
    let mut rom = vec![0u8; 0x1000];
    rom[4 * 5..4 * 5 + 4].copy_from_slice(&(0x20_0000 | PRW).to_le_bytes());
    cpu.sys.add_rom(emu_core::Rom::new(0xc0000, rom).unwrap());
    w32(&mut cpu, PD + 8, 0xc0000 | PRW);
    cpu.sys.write_bytes(0x20_0ff0, &[0x42]);
    assert_eq!(cpu.read_lin(0x80_5ff0, Size::B), Ok(0x42));
    cpu.write_lin(0x80_5ff0, Size::B, 0x43).unwrap();
    assert_eq!(r32(&mut cpu, 0xc0000 + 4 * 5), 0x20_0000 | PRW);
    assert_eq!(cpu.sys.ram().as_slice()[0x20_0ff0], 0x43);
    // Directory entry 3 → a table beyond RAM (16 MiB): open bus, all ones, so every entry is
    // present and writable at frame 0xfffff000 (also beyond RAM); the A store vanishes.
    w32(&mut cpu, PD + 12, 0x200_0000 | PRW);
    assert_eq!(cpu.translate(0xc0_1234, Access::Write, false), Ok(0xffff_f234));
    assert_eq!(cpu.read_lin(0xc0_1234, Size::D), Ok(0xffff_ffff));
    // PAE: a table beyond RAM has reserved bits set in every entry.
    let mut cpu = pae();
    w64(&mut cpu, PD + 16, 0x200_0000 | PRW as u64);
    assert_eq!(cpu.read_lin(0x40_0000, Size::B), Err(Fault::pf(0x40_0000, pf::P | pf::RSVD)));
    // PAE entries in a device: two 4-byte reads, low half first.
    let entries = (0..1024).map(|i| if i % 2 == 0 { (0x50_0000 + ((i / 2) << 12)) | PRW } else { 0 }).collect();
    let dev = cpu.sys.add_device(Box::new(TableDevice { entries, ..Default::default() }));
    cpu.sys.map_mmio(0xa0000, 0x1000, dev, 0).unwrap();
    cpu.sync_a20();
    w64(&mut cpu, PD + 24, 0xa0000 | PRW as u64);
    cpu.sys.write_bytes(0x50_2007, &[0x77]);
    assert_eq!(cpu.read_lin(0x60_2007, Size::B), Ok(0x77));
    let d = cpu.sys.device_mut::<TableDevice>(dev).unwrap();
    assert_eq!(d.reads, vec![(16, 4), (20, 4)]);
    assert_eq!(d.writes, vec![(16, 4, 0x50_2000 | PRW | pte::A)]);
}

#[test]
fn a_d_updates_on_a_page_holding_translated_code_are_seen() {
    // The table shares its page with translated code: setting A or D in it is a write to code.
    let mut cpu = paged(PRW);
    let code_page = (PT >> 12) as u32;
    cpu.mark_code_page(code_page);
    cpu.read_lin(0x33000, Size::B).unwrap();
    assert_eq!(cpu.smc_writes, vec![code_page], "A set in the table entry");
    cpu.smc_writes.clear();
    cpu.write_lin(0x33000, Size::B, 1).unwrap();
    assert_eq!(cpu.smc_writes, vec![code_page], "D set in the table entry");
    cpu.smc_writes.clear();
    // A guest store to an entry on that page (the usual way to edit a table) is seen too.
    // (The walk for it sets A in the entry mapping the table, on the same page: two writes.)
    cpu.write_lin(PT as u32 + 4 * 0x34, Size::D, 0x7000 | PRW).unwrap();
    assert_eq!(cpu.smc_writes, vec![code_page, code_page]);
    assert_eq!(ram32(&cpu, PT + 4 * 0x34), 0x7000 | PRW);
    // The write log of the lockstep checker gets the A/D stores as well.
    cpu.smc_writes.clear();
    cpu.tlb.write_log = Some(Vec::new());
    cpu.read_lin(0x35000, Size::B).unwrap();
    assert_eq!(cpu.tlb.write_log.as_deref(), Some(&[code_page][..]));
}

#[test]
fn page_crossing_accesses_are_split_per_page() {
    let mut cpu = paged(PRW);
    w32(&mut cpu, PT + 4 * 0x41, 0x9000 | PRW); // 41000h → 9000h, 40000h stays identity
    cpu.sys.write_bytes(0x40ffd, &[1, 2, 3]);
    cpu.sys.write_bytes(0x9000, &[4, 5, 6]);
    assert_eq!(cpu.read_lin(0x40ffd, Size::D), Ok(0x0403_0201));
    assert_eq!(cpu.read_lin(0x40fff, Size::D), Ok(0x0605_0403));
    assert_eq!(cpu.read_lin(0x40fff, Size::W), Ok(0x0403));
    cpu.mark_code_page(9);
    cpu.write_lin(0x40ffe, Size::D, 0xddcc_bbaa).unwrap();
    assert_eq!(&cpu.sys.ram().as_slice()[0x40ffe..0x41000], &[0xaa, 0xbb]);
    assert_eq!(&cpu.sys.ram().as_slice()[0x9000..0x9003], &[0xcc, 0xdd, 6]);
    assert_eq!(cpu.smc_writes, vec![9], "the code on the second page is seen written");
    // A device on the second page sees the bytes of its part one at a time.
    let dev = cpu.sys.add_device(Box::new(TableDevice { entries: vec![0x1122_3344; 1024], ..Default::default() }));
    cpu.sys.map_mmio(0xa0000, 0x1000, dev, 0).unwrap();
    w32(&mut cpu, PT + 4 * 0x41, 0xa0000 | PRW);
    cpu.sync_a20();
    cpu.tlb.flush();
    cpu.write_lin(0x40fff, Size::D, 0x0403_0201).unwrap();
    let d = cpu.sys.device_mut::<TableDevice>(dev).unwrap();
    assert_eq!(d.writes, vec![(0, 1, 2), (1, 1, 3), (2, 1, 4)]);
}

/// `write_hits_code` translates every page a write would touch, as the write would (D set, a
/// #PF for a page it may not write, the TLB's write tag where the write uses it), tells whether
/// one holds translated code, and writes nothing.
#[test]
fn write_hits_code_asks_every_page_and_writes_nothing() {
    let mut cpu = paged(PRW);
    cpu.s.segs[SegReg::Ds as usize].limit = 0xffff_ffff;
    w32(&mut cpu, PT + 4 * 0x41, 0x9000 | PRW); // 41000h → 9000h
    w32(&mut cpu, PT + 4 * 0x43, 0); // 43000h not present
    cpu.mark_code_page(9);
    let before = cpu.sys.ram().as_slice()[0x40000..0x42000].to_vec();
    assert_eq!(cpu.write_hits_code(SegReg::Ds, 0x40ffe, Size::D), Ok(true), "its second page");
    for page in [0x40, 0x41] {
        assert_eq!(r32(&mut cpu, PT + 4 * page) & pte::D, pte::D, "D set on page {page:#x} as the write would");
    }
    assert_eq!(cpu.write_hits_code(SegReg::Ds, 0x40ff0, Size::D), Ok(false));
    assert_eq!(cpu.write_hits_code(SegReg::Ds, 0x41004, Size::B), Ok(true));
    assert_eq!(cpu.sys.ram().as_slice()[0x40000..0x42000], before[..], "nothing written");
    assert_eq!(cpu.sys.ram().as_slice()[0x9000..0x9004], [0; 4], "nothing written to the code page");
    assert!(cpu.smc_writes.is_empty());
    let f = cpu.write_hits_code(SegReg::Ds, 0x42ffe, Size::D).unwrap_err();
    assert_eq!((f.vector, f.error, f.address), (vector::PF, Some(pf::W), 0x43000), "the second page is not present");
    // With a write tag in the TLB the write walks nothing, and neither does the question: a
    // page-table entry changed without a flush does not count yet.
    cpu.write_lin(0x40ff0, Size::D, 1).unwrap();
    w32(&mut cpu, PT + 4 * 0x40, 0);
    assert_eq!(cpu.write_hits_code(SegReg::Ds, 0x40ff4, Size::D), Ok(false));
    assert!(cpu.write_hits_code(SegReg::Ds, 0x40ffe, Size::D).is_err(), "a crossing write walks both");
}

#[test]
fn translate_fetch_caches_the_execute_tag() {
    let mut cpu = paged(PRW);
    w32(&mut cpu, PT + 4 * 0x50, 0x6000 | PRW);
    assert_eq!(cpu.translate_fetch(0x50123), Ok(Some(0x6123)));
    assert_eq!(cpu.tlb.entry(false, 0x50123).exec, 0x50000);
    assert_eq!(r32(&mut cpu, PT + 4 * 0x50), 0x6000 | PRW | pte::A);
    w32(&mut cpu, PT + 4 * 0x50, 0x7000 | PRW); // no INVLPG: the cached translation stays
    assert_eq!(cpu.translate_fetch(0x50456), Ok(Some(0x6456)));
    cpu.tlb.flush_page(0x50000);
    assert_eq!(cpu.translate_fetch(0x50456), Ok(Some(0x7456)));
    // Not host memory: no code can come from there, and nothing is cached.
    let dev = cpu.sys.add_device(Box::new(TableDevice { entries: vec![0; 1024], ..Default::default() }));
    cpu.sys.map_mmio(0xa0000, 0x1000, dev, 0).unwrap();
    cpu.sync_a20();
    assert_eq!(cpu.translate_fetch(0xa0010), Ok(None));
    assert_eq!(cpu.tlb.entry(false, 0xa0010).exec, crate::tlb::INVALID);
    w32(&mut cpu, PT + 4 * 0x51, 0);
    assert_eq!(cpu.translate_fetch(0x51000), Err(Fault::pf(0x51000, 0)));
}
