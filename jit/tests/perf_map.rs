//! `--perf-map` (`emu_jit::perfmap`): every installed block gets a line in /tmp/perf-<pid>.map
//! that names its host code range after its guest address. (A test binary of its own: the map is
//! per process.)

mod common;
use iced_x86::code_asm::*;

#[test]
fn every_installed_block_has_a_line_covering_its_code() {
    // Three blocks: the first pass (at 0x1000), the loop (the ADD) and the HLT.
    let code = common::asm(32, |a| {
        let mut top = a.create_label();
        a.mov(ecx, 3u32)?;
        a.set_label(&mut top)?;
        a.add(eax, ecx)?;
        a.dec(ecx)?;
        a.jne(top)?;
        a.hlt()
    });
    let path = emu_jit::perfmap::enable().unwrap();
    assert_eq!(path, std::path::PathBuf::from(format!("/tmp/perf-{}.map", std::process::id())));
    let mut cpu = common::flat32(&code);
    let mut jit = common::jit();
    jit.run(&mut cpu, 100);
    assert_eq!(cpu.s.regs[0], 6);
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, jit.stats.blocks_compiled, "{text}");
    let mut ranges = Vec::new();
    for l in &lines {
        // `START SIZE name`, hex without 0x, as perf parses it.
        let f: Vec<&str> = l.split(' ').collect();
        let (start, size) = (u64::from_str_radix(f[0], 16).unwrap(), u64::from_str_radix(f[1], 16).unwrap());
        assert!(size > 0, "{l}");
        assert_eq!(f[2], "emu-block", "{l}");
        assert!(f[3].starts_with("0008:"), "CS selector: {l}");
        assert_eq!(f[4], "phys");
        assert_eq!(f[3][5..], f[5][..], "flat code: EIP = physical address ({l})");
        ranges.push((start, start + size));
    }
    assert!(lines[0].contains("emu-block 0008:00001000 phys 00001000 4 insns"), "{text}");
    // Blocks do not overlap (no flush happened).
    ranges.sort();
    assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0), "{text}");
}
