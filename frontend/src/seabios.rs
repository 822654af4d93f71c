//! SeaBIOS as the machine's firmware (`--bios seabios` or `--bios FILE`): finding Debian's
//! `seabios` package files, and what SeaBIOS built for QEMU expects of the board beyond the PC
//! platform: the fw_cfg interface (memory map, CPU count, the VGA BIOS as an option ROM file), the
//! 0x402 debug console, and the i440FX's PAM shadow RAM (in `emu_devices::pci::i440fx`).
//!
//! SeaBIOS recognises the i440FX host bridge as QEMU's, finds fw_cfg by its signature, reads the
//! RAM size from the `etc/e820` file, copies itself into shadow RAM, deploys the VGA BIOS given as
//! `pci1234,1111.rom` (the ROM of the VGA's PCI function, so the VGA BIOS learns the framebuffer
//! BAR from it), finds the IDE disks through the PIIX3 and boots them through INT 19h.

use crate::machine::map_firmware;
use emu_core::{Error, System};
use emu_devices::fw_cfg::{FwCfg, FW_CFG_MAX_CPUS, FW_CFG_NB_CPUS, FW_CFG_PORT, FW_CFG_PORTS, FW_CFG_RAM_SIZE};
use emu_devices::DebugCon;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where Debian's `seabios` package installs its images.
pub const SYSTEM_DIR: &str = "/usr/share/seabios";
/// The VGA BIOS for the Bochs/QEMU standard VGA (PCI 1234:1111), in the package.
pub const VGA_BIOS_FILE: &str = "vgabios-stdvga.bin";
/// SeaBIOS's debug console port on QEMU builds (reads back 0xE9 when present).
pub const DEBUG_PORT: u16 = 0x402;
/// The fw_cfg name under which SeaBIOS looks for the ROM of PCI device 1234:1111.
const VGA_ROM_NAME: &str = "pci1234,1111.rom";

/// SeaBIOS and what goes with it.
pub struct SeaBios {
    /// `bios.bin` (128 KiB) or `bios-256k.bin`.
    pub bios: Vec<u8>,
    /// `vgabios-stdvga.bin`, if found: without it the screen stays blank until the OS sets a mode.
    pub vga_bios: Option<Vec<u8>>,
    /// Where SeaBIOS's debug output (port 0x402) goes; `None` leaves the port absent, as QEMU
    /// does without `-debugcon`.
    pub debugcon: Option<Box<dyn Write + Send>>,
}

/// The places `--bios seabios` looks, in order: the system's package, then the tests' cache.
pub fn search_dirs() -> Vec<PathBuf> {
    vec![PathBuf::from(SYSTEM_DIR), emu_test_roms::debian::cache_dir().join("seabios/root/usr/share/seabios")]
}

/// Finds the images for `--bios SPEC`: `seabios` searches [`search_dirs`] for `bios.bin`; any
/// other value is the path of a SeaBIOS image, whose directory is searched for the VGA BIOS.
/// Returns the BIOS image and the VGA BIOS, if there is one.
pub fn locate(spec: &str) -> Result<(PathBuf, Option<PathBuf>), String> {
    let bios = if spec == "seabios" {
        let dirs = search_dirs();
        match dirs.iter().map(|d| d.join("bios.bin")).find(|p| p.is_file()) {
            Some(p) => p,
            None => {
                let cache = emu_test_roms::debian::cache_dir().join("seabios/root");
                return Err(format!(
                    "SeaBIOS is not installed: looked for bios.bin in {}. Install Debian's seabios \
                     package (apt-get install seabios), or unpack it without root: apt-get download \
                     seabios && dpkg-deb -x seabios_*.deb {}; or give the image: --bios PATH/bios.bin",
                    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" and "),
                    cache.display()
                ));
            }
        }
    } else {
        PathBuf::from(spec)
    };
    let vga = bios.parent().map(|d| d.join(VGA_BIOS_FILE)).filter(|p| p.is_file());
    Ok((bios, vga))
}

/// Reads the images [`locate`] found, checking the BIOS's size.
pub fn load(spec: &str, debugcon: Option<Box<dyn Write + Send>>) -> Result<SeaBios, String> {
    let (bios_path, vga_path) = locate(spec)?;
    let read =
        |p: &Path, what: &str| std::fs::read(p).map_err(|e| format!("{what} '{}' cannot be read: {e}", p.display()));
    let bios = read(&bios_path, "SeaBIOS image")?;
    if bios.len() < 64 << 10 || bios.len() > 1 << 20 || bios.len() % (64 << 10) != 0 {
        return Err(format!(
            "SeaBIOS image '{}' is {} bytes: expected a multiple of 64 KiB up to 1 MiB (bios.bin is 128 KiB)",
            bios_path.display(),
            bios.len()
        ));
    }
    let vga_bios = vga_path.map(|p| read(&p, "VGA BIOS")).transpose()?;
    if vga_bios.is_none() {
        eprintln!("emu: no {VGA_BIOS_FILE} next to '{}': SeaBIOS runs without a VGA BIOS", bios_path.display());
    }
    Ok(SeaBios { bios, vga_bios, debugcon })
}

/// The `etc/e820` file: RAM from 0 to the end of guest memory (below 4 GiB), as QEMU gives it.
/// Each entry is a packed little-endian {u64 address, u64 length, u32 type}.
pub fn e820_file(ram_size: u64) -> Vec<u8> {
    let mut f = Vec::with_capacity(20);
    f.extend_from_slice(&0u64.to_le_bytes());
    f.extend_from_slice(&ram_size.min(0xe000_0000).to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes()); // E820_RAM
    f
}

/// Installs SeaBIOS on a PC: its image at the top of the 1 MiB and 4 GiB spaces, fw_cfg at
/// 0x510, and the 0x402 debug console if asked for.
pub fn install(sys: &mut System, fw: SeaBios) -> Result<(), Error> {
    let mut cfg = FwCfg::new();
    cfg.set(FW_CFG_RAM_SIZE, sys.ram_size().to_le_bytes().to_vec());
    cfg.set(FW_CFG_NB_CPUS, 1u16.to_le_bytes().to_vec());
    cfg.set(FW_CFG_MAX_CPUS, 1u16.to_le_bytes().to_vec());
    cfg.add_file("etc/e820", e820_file(sys.ram_size()));
    if let Some(rom) = fw.vga_bios {
        cfg.add_file(VGA_ROM_NAME, rom);
    }
    let id = sys.add_device(Box::new(cfg));
    sys.map_io(FW_CFG_PORT, FW_CFG_PORTS, id, 0)?;
    if let Some(sink) = fw.debugcon {
        let id = sys.add_device(Box::new(DebugCon::new(sink)));
        sys.map_io(DEBUG_PORT, 1, id, 0)?;
    }
    map_firmware(sys, &fw.bios)
}
