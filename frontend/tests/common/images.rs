//! Disk images built at test time: a FAT16 file system made by dosfstools and filled by mtools,
//! put behind a master boot record with one partition, optionally made bootable by SYSLINUX
//! (Debian's `syslinux` installer and `syslinux-common`'s mbr.bin).

use emu_test_roms::debian::{require, require_tool};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the partition starts (sectors): 1 MiB, as partitioning tools place it. The sectors
/// between the MBR and the partition belong to nobody, so tests may write there.
pub const PART_START: u32 = 2048;

/// Runs a host tool, panicking with its output if it fails.
pub fn run_tool(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?} cannot run: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether mtools and dosfstools are installed (a skip with a message outside CI, a failure in
/// CI).
pub fn have_fat_tools() -> bool {
    require_tool("mcopy", "mtools") & require_tool("mkfs.fat", "dosfstools")
}

/// Makes `path` a FAT16 file system of `mib` MiB (volume label EMU, fixed serial number, hidden
/// sectors = [`PART_START`]) holding `files`: (path on the volume, host file); directories are
/// made as needed.
pub fn fat16(path: &Path, mib: u32, files: &[(&str, PathBuf)]) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(u64::from(mib) << 20).unwrap();
    drop(f);
    run_tool(
        Command::new("mkfs.fat")
            .args(["-F", "16", "-n", "EMU", "-i", "454d5522", "-h"])
            .arg(PART_START.to_string())
            .arg(path),
    );
    let mut dirs = std::collections::BTreeSet::new();
    for (dest, src) in files {
        let parts: Vec<&str> = dest.split('/').collect();
        for n in 1..parts.len() {
            let dir = parts[..n].join("/");
            if dirs.insert(dir.clone()) {
                run_tool(Command::new("mmd").arg("-i").arg(path).arg(format!("::/{dir}")));
            }
        }
        run_tool(Command::new("mcopy").arg("-i").arg(path).arg(src).arg(format!("::/{dest}")));
    }
}

/// The CHS triple of a partition table entry for `lba`, in the 16-head, 63-sector geometry both
/// BIOSes give disks this small (FEh FFh FFh past cylinder 1023).
fn chs(lba: u32) -> [u8; 3] {
    let (cyl, rest) = (lba / (16 * 63), lba % (16 * 63));
    if cyl > 1023 {
        return [0xfe, 0xff, 0xff];
    }
    let (head, sector) = (rest / 63, rest % 63 + 1);
    [head as u8, sector as u8 | ((cyl >> 2) as u8 & 0xc0), cyl as u8]
}

/// Writes a whole disk to `path`: `boot_code` (at most 440 bytes) at the start of the MBR, one
/// active FAT16 partition (type 06h) at [`PART_START`] holding the image `partition`, zeros in
/// between.
pub fn mbr_disk(path: &Path, boot_code: &[u8], partition: &Path) {
    assert!(boot_code.len() <= 440, "MBR boot code is {} bytes: at most 440 fit", boot_code.len());
    let part = std::fs::read(partition).unwrap();
    assert!(part.len().is_multiple_of(512), "a partition image is whole sectors");
    let sectors = (part.len() / 512) as u32;
    let mut disk = vec![0u8; PART_START as usize * 512];
    disk[..boot_code.len()].copy_from_slice(boot_code);
    let entry = &mut disk[446..462];
    entry[0] = 0x80;
    entry[1..4].copy_from_slice(&chs(PART_START));
    entry[4] = 0x06;
    entry[5..8].copy_from_slice(&chs(PART_START + sectors - 1));
    entry[8..12].copy_from_slice(&PART_START.to_le_bytes());
    entry[12..16].copy_from_slice(&sectors.to_le_bytes());
    disk[510..512].copy_from_slice(&[0x55, 0xaa]);
    disk.extend_from_slice(&part);
    std::fs::write(path, disk).unwrap();
}

/// A SYSLINUX disk in `dir` (disk.img): a `mib` MiB FAT16 partition with `syslinux.cfg` = `cfg`
/// and `files`, ldlinux installed by Debian's mtools-based installer, syslinux's mbr.bin in the
/// MBR. `None` (after a message) when the tools or packages are missing outside CI.
pub fn syslinux_disk(dir: &Path, mib: u32, cfg: &str, files: &[(&str, PathBuf)]) -> Option<PathBuf> {
    if !have_fat_tools() {
        return None;
    }
    let syslinux = require("syslinux")?;
    let common = require("syslinux-common")?;
    let cfg_path = dir.join("syslinux.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut all = vec![("syslinux.cfg", cfg_path)];
    all.extend(files.iter().cloned());
    let part = dir.join("part.img");
    fat16(&part, mib, &all);
    run_tool(Command::new(syslinux.join("usr/bin/syslinux")).arg("--install").arg(&part));
    let mbr = std::fs::read(common.join("usr/lib/syslinux/mbr/mbr.bin")).unwrap();
    let disk = dir.join("disk.img");
    mbr_disk(&disk, &mbr[..mbr.len().min(440)], &part);
    std::fs::remove_file(&part).unwrap();
    Some(disk)
}

/// The contents of file `name` on the FAT partition of `disk` (made by [`mbr_disk`]), read by
/// mtools on the host.
pub fn fat_file(disk: &Path, name: &str) -> Vec<u8> {
    let out = Command::new("mtype")
        .arg("-i")
        .arg(format!("{}@@{}", disk.display(), u64::from(PART_START) * 512))
        .arg(format!("::/{name}"))
        .output()
        .unwrap_or_else(|e| panic!("mtype cannot run: {e}"));
    assert!(out.status.success(), "mtype ::/{name} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}
