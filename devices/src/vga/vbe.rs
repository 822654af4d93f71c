//! The Bochs VBE extensions ("dispi" interface): an index port at 0x1CE and a 16-bit data port at
//! 0x1CF that set a linear graphics mode of any resolution, as Bochs' and QEMU's VGA BIOS and
//! Linux's bochs and vesafb drivers use them.
//!
//! Registers (index → meaning): 0 ID (write 0xB0C0-0xB0C5 to negotiate, read back the version),
//! 1 XRES, 2 YRES, 3 BPP (4, 8, 15, 16, 24, 32), 4 ENABLE (bit 0 enabled, bit 1 GETCAPS, bit 5
//! 8-bit DAC, bit 6 LFB enabled, bit 7 NOCLEARMEM), 5 BANK (64 KiB window at A0000), 6
//! VIRT_WIDTH, 7 VIRT_HEIGHT (derived), 8 X_OFFSET, 9 Y_OFFSET, 0xA VIDEO_MEMORY_64K.

/// The index port.
pub const VBE_INDEX_PORT: u16 = 0x1ce;
/// The data port.
pub const VBE_DATA_PORT: u16 = 0x1cf;
/// Ports in the VBE region (index, data).
pub const VBE_PORTS: u16 = 2;

pub const VBE_DISPI_INDEX_ID: u16 = 0x0;
pub const VBE_DISPI_INDEX_XRES: u16 = 0x1;
pub const VBE_DISPI_INDEX_YRES: u16 = 0x2;
pub const VBE_DISPI_INDEX_BPP: u16 = 0x3;
pub const VBE_DISPI_INDEX_ENABLE: u16 = 0x4;
pub const VBE_DISPI_INDEX_BANK: u16 = 0x5;
pub const VBE_DISPI_INDEX_VIRT_WIDTH: u16 = 0x6;
pub const VBE_DISPI_INDEX_VIRT_HEIGHT: u16 = 0x7;
pub const VBE_DISPI_INDEX_X_OFFSET: u16 = 0x8;
pub const VBE_DISPI_INDEX_Y_OFFSET: u16 = 0x9;
pub const VBE_DISPI_INDEX_VIDEO_MEMORY_64K: u16 = 0xa;

/// The oldest interface version (ID0) ...
pub const VBE_DISPI_ID0: u16 = 0xb0c0;
/// ... through the newest we implement (ID5: VIDEO_MEMORY_64K, 32 bpp, GETCAPS, 8-bit DAC).
pub const VBE_DISPI_ID5: u16 = 0xb0c5;

pub const VBE_DISPI_ENABLED: u16 = 0x01;
pub const VBE_DISPI_GETCAPS: u16 = 0x02;
pub const VBE_DISPI_8BIT_DAC: u16 = 0x20;
pub const VBE_DISPI_LFB_ENABLED: u16 = 0x40;
pub const VBE_DISPI_NOCLEARMEM: u16 = 0x80;

/// Largest horizontal resolution (what GETCAPS reports).
pub const VBE_DISPI_MAX_XRES: u16 = 2560;
/// Largest vertical resolution.
pub const VBE_DISPI_MAX_YRES: u16 = 1600;
/// Largest depth.
pub const VBE_DISPI_MAX_BPP: u16 = 32;
/// The banked window's size and granularity.
pub const VBE_BANK_SIZE: usize = 0x1_0000;

/// The dispi registers.
#[derive(Debug, Clone)]
pub struct Vbe {
    pub index: u16,
    pub id: u16,
    pub xres: u16,
    pub yres: u16,
    pub bpp: u16,
    pub enable: u16,
    pub bank: u16,
    pub virt_width: u16,
    pub virt_height: u16,
    pub x_offset: u16,
    pub y_offset: u16,
    /// Video memory size in bytes.
    vram_size: usize,
}

/// What a data write asks the rest of the VGA to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VbeEffect {
    None,
    /// The mode was just enabled: clear this many bytes of video memory (0 with NOCLEARMEM).
    Enabled {
        clear: usize,
    },
    /// The mode was just disabled.
    Disabled,
}

impl Vbe {
    pub fn new(vram_size: usize) -> Self {
        Vbe {
            index: 0,
            id: VBE_DISPI_ID5,
            xres: 640,
            yres: 480,
            bpp: 8,
            enable: 0,
            bank: 0,
            virt_width: 640,
            virt_height: 0,
            x_offset: 0,
            y_offset: 0,
            vram_size,
        }
    }

    /// Whether a VBE mode drives the display.
    pub fn enabled(&self) -> bool {
        self.enable & VBE_DISPI_ENABLED != 0
    }

    /// Bytes per pixel (0 for the planar 4-bit mode).
    pub fn bytes_per_pixel(&self) -> usize {
        match self.bpp {
            4 => 0,
            15 | 16 => 2,
            24 => 3,
            32 => 4,
            _ => 1,
        }
    }

    /// Bytes per line of the virtual screen (per plane in the 4-bit mode).
    pub fn line_bytes(&self) -> usize {
        match self.bpp {
            4 => (self.virt_width as usize).div_ceil(8),
            _ => self.virt_width as usize * self.bytes_per_pixel(),
        }
    }

    fn update_virt_height(&mut self) {
        let memory = if self.bpp == 4 { self.vram_size / 4 } else { self.vram_size };
        let h = memory / self.line_bytes().max(1);
        self.virt_height = h.min(u16::MAX as usize) as u16;
    }

    /// Reads the data port.
    pub fn read_data(&self) -> u16 {
        let caps = self.enable & VBE_DISPI_GETCAPS != 0;
        match self.index {
            VBE_DISPI_INDEX_ID => self.id,
            VBE_DISPI_INDEX_XRES if caps => VBE_DISPI_MAX_XRES,
            VBE_DISPI_INDEX_YRES if caps => VBE_DISPI_MAX_YRES,
            VBE_DISPI_INDEX_BPP if caps => VBE_DISPI_MAX_BPP,
            VBE_DISPI_INDEX_XRES => self.xres,
            VBE_DISPI_INDEX_YRES => self.yres,
            VBE_DISPI_INDEX_BPP => self.bpp,
            VBE_DISPI_INDEX_ENABLE => self.enable,
            VBE_DISPI_INDEX_BANK => self.bank,
            VBE_DISPI_INDEX_VIRT_WIDTH => self.virt_width,
            VBE_DISPI_INDEX_VIRT_HEIGHT => self.virt_height,
            VBE_DISPI_INDEX_X_OFFSET => self.x_offset,
            VBE_DISPI_INDEX_Y_OFFSET => self.y_offset,
            VBE_DISPI_INDEX_VIDEO_MEMORY_64K => (self.vram_size / 0x1_0000) as u16,
            _ => 0,
        }
    }

    /// Writes the data port.
    pub fn write_data(&mut self, v: u16) -> VbeEffect {
        match self.index {
            VBE_DISPI_INDEX_ID if (VBE_DISPI_ID0..=VBE_DISPI_ID5).contains(&v) => self.id = v,
            VBE_DISPI_INDEX_XRES => self.xres = v.min(VBE_DISPI_MAX_XRES),
            VBE_DISPI_INDEX_YRES => self.yres = v.min(VBE_DISPI_MAX_YRES),
            VBE_DISPI_INDEX_BPP => match v {
                0 => self.bpp = 8,
                4 | 8 | 15 | 16 | 24 | 32 => self.bpp = v,
                _ => {}
            },
            VBE_DISPI_INDEX_ENABLE => {
                let was = self.enabled();
                self.enable = v & (VBE_DISPI_ENABLED | VBE_DISPI_GETCAPS | VBE_DISPI_8BIT_DAC | VBE_DISPI_LFB_ENABLED);
                if self.enabled() && !was {
                    self.virt_width = self.xres;
                    self.x_offset = 0;
                    self.y_offset = 0;
                    self.bank = 0;
                    self.update_virt_height();
                    let used = self.line_bytes() * self.yres as usize * if self.bpp == 4 { 4 } else { 1 };
                    let clear = if v & VBE_DISPI_NOCLEARMEM != 0 { 0 } else { used.min(self.vram_size) };
                    return VbeEffect::Enabled { clear };
                }
                if was && !self.enabled() {
                    return VbeEffect::Disabled;
                }
            }
            VBE_DISPI_INDEX_BANK => {
                let banks = (self.vram_size / VBE_BANK_SIZE) as u16;
                if v < banks {
                    self.bank = v;
                }
            }
            VBE_DISPI_INDEX_VIRT_WIDTH => {
                self.virt_width = v.max(self.xres);
                self.update_virt_height();
            }
            VBE_DISPI_INDEX_X_OFFSET => self.x_offset = v,
            VBE_DISPI_INDEX_Y_OFFSET => self.y_offset = v,
            _ => {}
        }
        VbeEffect::None
    }

    /// Byte offset in video memory of the first displayed pixel (per plane in the 4-bit mode).
    pub fn display_start(&self) -> usize {
        let x = self.x_offset as usize;
        let xb = if self.bpp == 4 { x / 8 } else { x * self.bytes_per_pixel() };
        self.y_offset as usize * self.line_bytes() + xb
    }
}
