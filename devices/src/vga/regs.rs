//! The VGA's register file: miscellaneous output, sequencer, CRT controller, graphics controller,
//! attribute controller and DAC, with the index/data port protocol of each (IBM VGA Technical
//! Reference; the FreeVGA register pages use the same names).
//!
//! Every register is stored as the guest wrote it (masked to the bits the VGA implements); the
//! meaning of the bits is read where it matters: the host memory pipeline in `memory.rs`, the
//! picture in `render.rs`.

/// First VGA port the device decodes (0x3B0); the port region covers 0x3B0-0x3DF.
pub const VGA_PORT_BASE: u16 = 0x3b0;
/// Number of ports in the VGA port region.
pub const VGA_PORTS: u16 = 0x30;

// Ports.
/// Attribute controller index/data write (flip-flop), index read.
pub const AC_INDEX: u16 = 0x3c0;
/// Attribute controller data read.
pub const AC_DATA_READ: u16 = 0x3c1;
/// Miscellaneous output write; input status 0 read.
pub const MISC_WRITE: u16 = 0x3c2;
/// Video subsystem enable.
pub const VIDEO_ENABLE: u16 = 0x3c3;
pub const SEQ_INDEX: u16 = 0x3c4;
pub const SEQ_DATA: u16 = 0x3c5;
/// DAC pel mask.
pub const DAC_PEL_MASK: u16 = 0x3c6;
/// DAC read index (write); DAC state (read).
pub const DAC_READ_INDEX: u16 = 0x3c7;
/// DAC write index.
pub const DAC_WRITE_INDEX: u16 = 0x3c8;
/// DAC data: three 6-bit components per entry.
pub const DAC_DATA: u16 = 0x3c9;
/// Feature control read.
pub const FEATURE_READ: u16 = 0x3ca;
/// Miscellaneous output read.
pub const MISC_READ: u16 = 0x3cc;
pub const GC_INDEX: u16 = 0x3ce;
pub const GC_DATA: u16 = 0x3cf;
/// CRTC index/data and input status 1 in monochrome decode (misc bit 0 = 0).
pub const CRTC_INDEX_MONO: u16 = 0x3b4;
pub const CRTC_DATA_MONO: u16 = 0x3b5;
pub const STATUS1_MONO: u16 = 0x3ba;
/// CRTC index/data and input status 1 in colour decode (misc bit 0 = 1).
pub const CRTC_INDEX_COLOR: u16 = 0x3d4;
pub const CRTC_DATA_COLOR: u16 = 0x3d5;
pub const STATUS1_COLOR: u16 = 0x3da;

// Miscellaneous output bits.
/// I/O address select: CRTC and status 1 at 0x3Dx (1) or 0x3Bx (0).
pub const MISC_IOAS: u8 = 0x01;
/// Enables host access to video memory.
pub const MISC_RAM_ENABLE: u8 = 0x02;

// Input status 1 bits.
/// Display disabled: the beam is in horizontal or vertical blanking.
pub const STATUS1_DISPLAY_DISABLED: u8 = 0x01;
/// Vertical retrace in progress.
pub const STATUS1_VRETRACE: u8 = 0x08;

// Sequencer registers.
pub const SR_RESET: usize = 0x00;
pub const SR_CLOCKING_MODE: usize = 0x01;
pub const SR_MAP_MASK: usize = 0x02;
pub const SR_CHAR_MAP_SELECT: usize = 0x03;
pub const SR_MEMORY_MODE: usize = 0x04;
/// Clocking mode: 8-dot character clocks (else 9).
pub const SR01_DOT8: u8 = 0x01;
/// Clocking mode: dot clock divided by 2 (320/360-pixel modes).
pub const SR01_DOT_CLOCK_DIV2: u8 = 0x08;
/// Clocking mode: screen off.
pub const SR01_SCREEN_OFF: u8 = 0x20;
/// Memory mode: more than 64 KiB installed (enables the character map select bit 2).
pub const SR04_EXTENDED_MEMORY: u8 = 0x02;
/// Memory mode: odd/even host write addressing disabled (sequential).
pub const SR04_ODD_EVEN_DISABLE: u8 = 0x04;
/// Memory mode: chain 4 (host address bits 0-1 select the plane).
pub const SR04_CHAIN4: u8 = 0x08;

// CRT controller registers.
pub const CR_H_TOTAL: usize = 0x00;
pub const CR_H_DISPLAY_END: usize = 0x01;
pub const CR_V_TOTAL: usize = 0x06;
pub const CR_OVERFLOW: usize = 0x07;
pub const CR_PRESET_ROW_SCAN: usize = 0x08;
pub const CR_MAX_SCAN_LINE: usize = 0x09;
pub const CR_CURSOR_START: usize = 0x0a;
pub const CR_CURSOR_END: usize = 0x0b;
pub const CR_START_ADDR_HI: usize = 0x0c;
pub const CR_START_ADDR_LO: usize = 0x0d;
pub const CR_CURSOR_LOC_HI: usize = 0x0e;
pub const CR_CURSOR_LOC_LO: usize = 0x0f;
pub const CR_V_RETRACE_START: usize = 0x10;
pub const CR_V_RETRACE_END: usize = 0x11;
pub const CR_V_DISPLAY_END: usize = 0x12;
pub const CR_OFFSET: usize = 0x13;
pub const CR_UNDERLINE: usize = 0x14;
pub const CR_MODE_CONTROL: usize = 0x17;
pub const CR_LINE_COMPARE: usize = 0x18;
/// Number of CRTC registers.
pub const CRTC_REGS: usize = 0x19;
/// Vertical retrace end bit 7: CR00-CR07 are write-protected (except CR07 bit 4).
pub const CR11_PROTECT: u8 = 0x80;
/// Max scan line bit 7: every scan line is shown twice.
pub const CR09_SCAN_DOUBLE: u8 = 0x80;
/// Cursor start bit 5: cursor off.
pub const CR0A_CURSOR_DISABLE: u8 = 0x20;
/// Underline location bit 6: double-word addressing.
pub const CR14_DWORD: u8 = 0x40;
/// Mode control bit 0: 0 = row scan bit 0 drives memory address bit 13 (CGA banks).
pub const CR17_MAP13: u8 = 0x01;
/// Mode control bit 1: 0 = row scan bit 1 drives memory address bit 14 (Hercules banks).
pub const CR17_MAP14: u8 = 0x02;
/// Mode control bit 5: in word mode, address bit 0 comes from MA15 (1) or MA13 (0).
pub const CR17_ADDRESS_WRAP: u8 = 0x20;
/// Mode control bit 6: byte addressing (1) or word addressing (0).
pub const CR17_BYTE_MODE: u8 = 0x40;

// Graphics controller registers.
pub const GR_SET_RESET: usize = 0x00;
pub const GR_ENABLE_SET_RESET: usize = 0x01;
pub const GR_COLOR_COMPARE: usize = 0x02;
pub const GR_DATA_ROTATE: usize = 0x03;
pub const GR_READ_MAP_SELECT: usize = 0x04;
pub const GR_MODE: usize = 0x05;
pub const GR_MISC: usize = 0x06;
pub const GR_COLOR_DONT_CARE: usize = 0x07;
pub const GR_BIT_MASK: usize = 0x08;
/// Graphics mode: read mode 1 (colour compare).
pub const GR05_READ_MODE1: u8 = 0x08;
/// Graphics mode: host odd/even read addressing.
pub const GR05_HOST_ODD_EVEN: u8 = 0x10;
/// Graphics mode: shift register interleave (CGA 2-bit pixels).
pub const GR05_SHIFT_INTERLEAVE: u8 = 0x20;
/// Graphics mode: 256-colour shift (one byte per pixel, four pixels per fetch).
pub const GR05_SHIFT256: u8 = 0x40;
/// Miscellaneous: graphics mode (1) or alphanumeric (0).
pub const GR06_GRAPHICS: u8 = 0x01;
/// Miscellaneous: chain odd/even.
pub const GR06_CHAIN_ODD_EVEN: u8 = 0x02;

// Attribute controller registers.
pub const AR_MODE_CONTROL: usize = 0x10;
pub const AR_OVERSCAN: usize = 0x11;
pub const AR_COLOR_PLANE_ENABLE: usize = 0x12;
pub const AR_H_PEL_PANNING: usize = 0x13;
pub const AR_COLOR_SELECT: usize = 0x14;
/// Number of attribute controller registers.
pub const AC_REGS: usize = 0x15;
/// Attribute index bit 5: palette address source (1 = the display reads the palette).
pub const AC_PAS: u8 = 0x20;
/// Mode control: graphics.
pub const AR10_GRAPHICS: u8 = 0x01;
/// Mode control: monochrome emulation (underline attribute).
pub const AR10_MONO: u8 = 0x02;
/// Mode control: line graphics (ninth column repeats the eighth for 0xC0-0xDF).
pub const AR10_LINE_GRAPHICS: u8 = 0x04;
/// Mode control: attribute bit 7 blinks (else it selects 16 background colours).
pub const AR10_BLINK: u8 = 0x08;
/// Mode control: pel panning applies only above the line compare split.
pub const AR10_PAN_COMPAT: u8 = 0x20;
/// Mode control: palette bits 5-4 come from the colour select register.
pub const AR10_P54S: u8 = 0x80;

/// The DAC's 256-entry colour table and its port state machine.
#[derive(Clone)]
pub struct Dac {
    /// Red, green, blue per entry; 6 bits each (8 with the VBE 8-bit DAC switch).
    pub palette: [[u8; 3]; 256],
    pub pel_mask: u8,
    pub read_index: u8,
    pub write_index: u8,
    /// Whether the last index written was the read index (0x3C7 reads back 3) or the write one (0).
    pub reading: bool,
    /// Which component (0-2) the next data access moves.
    pub component: u8,
    /// Components gathered for the entry being written.
    pub pending: [u8; 3],
    /// VBE's 8-bit DAC mode: components are stored and returned with 8 bits.
    pub eight_bit: bool,
}

impl Dac {
    fn new() -> Self {
        let mut palette = [[0u8; 3]; 256];
        for (i, e) in palette.iter_mut().enumerate().take(64) {
            // The EGA palette: bits 2,1,0 = R,G,B at 2/3 intensity, bits 5,4,3 = r,g,b at 1/3.
            let c = |hi: usize, lo: usize| (((i >> hi) & 1) * 0x2a + ((i >> lo) & 1) * 0x15) as u8;
            *e = [c(2, 5), c(1, 4), c(0, 3)];
        }
        Dac {
            palette,
            pel_mask: 0xff,
            read_index: 0,
            write_index: 0,
            reading: false,
            component: 0,
            pending: [0; 3],
            eight_bit: false,
        }
    }

    fn component_mask(&self) -> u8 {
        if self.eight_bit {
            0xff
        } else {
            0x3f
        }
    }

    fn write_data(&mut self, v: u8) {
        self.pending[self.component as usize] = v & self.component_mask();
        self.component += 1;
        if self.component == 3 {
            self.palette[self.write_index as usize] = self.pending;
            self.write_index = self.write_index.wrapping_add(1);
            self.component = 0;
        }
    }

    fn read_data(&mut self) -> u8 {
        let v = self.palette[self.read_index as usize][self.component as usize];
        self.component += 1;
        if self.component == 3 {
            self.read_index = self.read_index.wrapping_add(1);
            self.component = 0;
        }
        v
    }

    /// Entry `i` as 8-bit red, green, blue (6-bit values are widened by repeating their top bits).
    pub fn rgb8(&self, i: u8) -> [u8; 3] {
        let [r, g, b] = self.palette[i as usize];
        if self.eight_bit {
            [r, g, b]
        } else {
            let w = |c: u8| (c << 2) | (c >> 4);
            [w(r), w(g), w(b)]
        }
    }
}

/// All VGA registers.
#[derive(Clone)]
pub struct Regs {
    pub misc: u8,
    pub feature: u8,
    pub video_enable: u8,
    pub seq_index: u8,
    pub seq: [u8; 5],
    pub crtc_index: u8,
    pub crtc: [u8; CRTC_REGS],
    pub gc_index: u8,
    pub gc: [u8; 9],
    /// The attribute index register, including the palette address source bit.
    pub ac_index: u8,
    pub ac: [u8; AC_REGS],
    /// The attribute flip-flop: `true` when the next 0x3C0 write is data.
    pub ac_data_next: bool,
    pub dac: Dac,
}

/// Bits of each sequencer register that exist.
const SEQ_MASK: [u8; 5] = [0x03, 0x3d, 0x0f, 0x3f, 0x0e];
/// Bits of each graphics controller register that exist.
const GC_MASK: [u8; 9] = [0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff];
/// Bits of each attribute register that exist (palette entries are 6 bits).
const AC_MASK: [u8; AC_REGS] = [
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0xef, 0xff, 0x3f,
    0x0f, 0x0f,
];

impl Regs {
    /// The register file with every register zero, all ones in the DAC mask and the EGA palette
    /// in the DAC's first 64 entries.
    pub fn new() -> Self {
        Regs {
            misc: 0,
            feature: 0,
            video_enable: 1,
            seq_index: 0,
            seq: [0; 5],
            crtc_index: 0,
            crtc: [0; CRTC_REGS],
            gc_index: 0,
            gc: [0; 9],
            ac_index: 0,
            ac: [0; AC_REGS],
            ac_data_next: false,
            dac: Dac::new(),
        }
    }

    /// Loads a standard mode's register values directly (the machine's power-on state, and
    /// firmware written in Rust); a guest BIOS writes the same values through the ports.
    pub fn load(&mut self, m: &ModeRegs) {
        self.misc = m.misc;
        for (i, &v) in m.seq.iter().enumerate() {
            self.seq[i] = v & SEQ_MASK[i];
        }
        self.crtc = m.crtc;
        for (i, &v) in m.gc.iter().enumerate() {
            self.gc[i] = v & GC_MASK[i];
        }
        for (i, &v) in m.ac.iter().enumerate() {
            self.ac[i] = v & AC_MASK[i];
        }
        self.ac_index = AC_PAS;
        self.ac_data_next = false;
    }

    /// Whether the CRTC and input status 1 answer at 0x3Dx (colour) rather than 0x3Bx.
    pub fn color_decode(&self) -> bool {
        self.misc & MISC_IOAS != 0
    }

    /// Reads one port (0x3B0-0x3DF); `status1` is the current input status 1 value. Ports the
    /// present decode does not claim read as all ones.
    pub fn port_read(&mut self, port: u16, status1: u8) -> u8 {
        let color = self.color_decode();
        match port {
            AC_INDEX => self.ac_index,
            AC_DATA_READ => {
                let i = (self.ac_index & 0x1f) as usize;
                self.ac.get(i).copied().unwrap_or(0)
            }
            MISC_WRITE => 0x10, // input status 0: switch sense reads 1 (a colour monitor)
            VIDEO_ENABLE => self.video_enable,
            SEQ_INDEX => self.seq_index,
            SEQ_DATA => self.seq.get(self.seq_index as usize).copied().unwrap_or(0),
            DAC_PEL_MASK => self.dac.pel_mask,
            DAC_READ_INDEX => {
                if self.dac.reading {
                    0x03
                } else {
                    0x00
                }
            }
            DAC_WRITE_INDEX => self.dac.write_index,
            DAC_DATA => self.dac.read_data(),
            FEATURE_READ => self.feature,
            MISC_READ => self.misc,
            GC_INDEX => self.gc_index,
            GC_DATA => self.gc.get(self.gc_index as usize).copied().unwrap_or(0),
            CRTC_INDEX_MONO | CRTC_INDEX_COLOR if color == (port == CRTC_INDEX_COLOR) => self.crtc_index,
            CRTC_DATA_MONO | CRTC_DATA_COLOR if color == (port == CRTC_DATA_COLOR) => {
                self.crtc.get(self.crtc_index as usize).copied().unwrap_or(0)
            }
            STATUS1_MONO | STATUS1_COLOR if color == (port == STATUS1_COLOR) => {
                self.ac_data_next = false;
                status1
            }
            _ => 0xff,
        }
    }

    /// Writes one port (0x3B0-0x3DF).
    pub fn port_write(&mut self, port: u16, v: u8) {
        let color = self.color_decode();
        match port {
            AC_INDEX => {
                if self.ac_data_next {
                    let i = (self.ac_index & 0x1f) as usize;
                    if let Some(r) = self.ac.get_mut(i) {
                        *r = v & AC_MASK[i];
                    }
                } else {
                    self.ac_index = v & 0x3f;
                }
                self.ac_data_next = !self.ac_data_next;
            }
            MISC_WRITE => self.misc = v & 0xef,
            VIDEO_ENABLE => self.video_enable = v & 1,
            SEQ_INDEX => self.seq_index = v & 0x07,
            SEQ_DATA => {
                let i = self.seq_index as usize;
                if let Some(r) = self.seq.get_mut(i) {
                    *r = v & SEQ_MASK[i];
                }
            }
            DAC_PEL_MASK => self.dac.pel_mask = v,
            DAC_READ_INDEX => {
                self.dac.read_index = v;
                self.dac.reading = true;
                self.dac.component = 0;
            }
            DAC_WRITE_INDEX => {
                self.dac.write_index = v;
                self.dac.reading = false;
                self.dac.component = 0;
            }
            DAC_DATA => self.dac.write_data(v),
            GC_INDEX => self.gc_index = v & 0x0f,
            GC_DATA => {
                let i = self.gc_index as usize;
                if let Some(r) = self.gc.get_mut(i) {
                    *r = v & GC_MASK[i];
                }
            }
            CRTC_INDEX_MONO | CRTC_INDEX_COLOR if color == (port == CRTC_INDEX_COLOR) => self.crtc_index = v & 0x3f,
            CRTC_DATA_MONO | CRTC_DATA_COLOR if color == (port == CRTC_DATA_COLOR) => self.crtc_write(v),
            STATUS1_MONO | STATUS1_COLOR if color == (port == STATUS1_COLOR) => self.feature = v & 0x03,
            _ => {}
        }
    }

    fn crtc_write(&mut self, v: u8) {
        let i = self.crtc_index as usize;
        if i >= CRTC_REGS {
            return;
        }
        if self.crtc[CR_V_RETRACE_END] & CR11_PROTECT != 0 && i <= CR_OVERFLOW {
            // Protected: only the line compare bit 8 in the overflow register stays writable.
            if i == CR_OVERFLOW {
                self.crtc[i] = (self.crtc[i] & !0x10) | (v & 0x10);
            }
            return;
        }
        self.crtc[i] = v;
    }

    /// The CRTC's start address (in character clocks).
    pub fn start_address(&self) -> u32 {
        (self.crtc[CR_START_ADDR_HI] as u32) << 8 | self.crtc[CR_START_ADDR_LO] as u32
    }

    /// The cursor location (in character clocks).
    pub fn cursor_location(&self) -> u32 {
        (self.crtc[CR_CURSOR_LOC_HI] as u32) << 8 | self.crtc[CR_CURSOR_LOC_LO] as u32
    }

    /// Vertical display end: the number of displayed scan lines minus one (10 bits).
    pub fn vertical_display_end(&self) -> u32 {
        let ovf = self.crtc[CR_OVERFLOW] as u32;
        self.crtc[CR_V_DISPLAY_END] as u32 | (ovf & 0x02) << 7 | (ovf & 0x40) << 3
    }

    /// Vertical total: scan lines per frame minus two (10 bits).
    pub fn vertical_total(&self) -> u32 {
        let ovf = self.crtc[CR_OVERFLOW] as u32;
        self.crtc[CR_V_TOTAL] as u32 | (ovf & 0x01) << 8 | (ovf & 0x20) << 4
    }

    /// Vertical retrace start (10 bits).
    pub fn vertical_retrace_start(&self) -> u32 {
        let ovf = self.crtc[CR_OVERFLOW] as u32;
        self.crtc[CR_V_RETRACE_START] as u32 | (ovf & 0x04) << 6 | (ovf & 0x80) << 2
    }

    /// Line compare (10 bits): the scan line after which the display restarts at address 0.
    pub fn line_compare(&self) -> u32 {
        let ovf = self.crtc[CR_OVERFLOW] as u32;
        let msl = self.crtc[CR_MAX_SCAN_LINE] as u32;
        self.crtc[CR_LINE_COMPARE] as u32 | (ovf & 0x10) << 4 | (msl & 0x40) << 3
    }

    /// Whether the graphics controller is in graphics (not alphanumeric) mode.
    pub fn graphics(&self) -> bool {
        self.gc[GR_MISC] & GR06_GRAPHICS != 0
    }
}

impl Default for Regs {
    fn default() -> Self {
        Self::new()
    }
}

/// The register values of one standard mode, in the order a BIOS writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeRegs {
    pub misc: u8,
    /// Sequencer 0-4.
    pub seq: [u8; 5],
    /// CRTC 0x00-0x18.
    pub crtc: [u8; CRTC_REGS],
    /// Graphics controller 0-8.
    pub gc: [u8; 9],
    /// Attribute controller 0x00-0x14.
    pub ac: [u8; AC_REGS],
}

/// The 16 attribute palette entries every 16-colour text and graphics mode uses: the EGA/CGA
/// colours, with brown (entry 6) at 0x14 and the bright colours at 0x38-0x3F.
const AC_PALETTE_16: [u8; 16] = [0, 1, 2, 3, 4, 5, 0x14, 7, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f];

const fn ac(palette: [u8; 16], mode: u8, plane_enable: u8, panning: u8) -> [u8; AC_REGS] {
    let mut r = [0u8; AC_REGS];
    let mut i = 0;
    while i < 16 {
        r[i] = palette[i];
        i += 1;
    }
    r[AR_MODE_CONTROL] = mode;
    r[AR_COLOR_PLANE_ENABLE] = plane_enable;
    r[AR_H_PEL_PANNING] = panning;
    r
}

/// Mode 03h: 80x25 colour text, 9x16 cells, 720x400, window at B8000.
pub const MODE_03H: ModeRegs = ModeRegs {
    misc: 0x67,
    seq: [0x03, 0x00, 0x03, 0x00, 0x02],
    crtc: [
        0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e,
        0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
    ],
    gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff],
    ac: ac(AC_PALETTE_16, 0x0c, 0x0f, 0x08),
};

/// Mode 01h: 40x25 colour text, 9x16 cells, 360x400 (dot clock halved).
pub const MODE_01H: ModeRegs = ModeRegs {
    misc: 0x67,
    seq: [0x03, 0x08, 0x03, 0x00, 0x02],
    crtc: [
        0x2d, 0x27, 0x28, 0x90, 0x2b, 0xa0, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e,
        0x8f, 0x14, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
    ],
    gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff],
    ac: ac(AC_PALETTE_16, 0x0c, 0x0f, 0x08),
};

/// Mode 07h: 80x25 monochrome text, 9x16 cells, window at B0000, CRTC at 0x3B4.
pub const MODE_07H: ModeRegs = ModeRegs {
    misc: 0x66,
    seq: [0x03, 0x00, 0x03, 0x00, 0x02],
    crtc: [
        0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e,
        0x8f, 0x28, 0x0f, 0x96, 0xb9, 0xa3, 0xff,
    ],
    gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0a, 0x00, 0xff],
    ac: ac([0, 8, 8, 8, 8, 8, 8, 8, 0x10, 0x18, 0x18, 0x18, 0x18, 0x18, 0x18, 0x18], 0x0e, 0x0f, 0x08),
};

/// Mode 04h: 320x200, 4 colours, CGA layout (two interleaved banks at B8000).
pub const MODE_04H: ModeRegs = ModeRegs {
    misc: 0x63,
    seq: [0x03, 0x09, 0x03, 0x00, 0x02],
    crtc: [
        0x2d, 0x27, 0x28, 0x90, 0x2b, 0x80, 0xbf, 0x1f, 0x00, 0xc1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e,
        0x8f, 0x14, 0x00, 0x96, 0xb9, 0xa2, 0xff,
    ],
    gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x0f, 0x00, 0xff],
    ac: ac([0, 0x13, 0x15, 0x17, 2, 4, 6, 7, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17], 0x01, 0x03, 0x00),
};

/// Mode 0Dh: 320x200, 16 colours, planar, pixels doubled by the halved dot clock.
pub const MODE_0DH: ModeRegs = ModeRegs {
    misc: 0x63,
    seq: [0x03, 0x09, 0x0f, 0x00, 0x06],
    crtc: [
        0x2d, 0x27, 0x28, 0x90, 0x2b, 0x80, 0xbf, 0x1f, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e,
        0x8f, 0x14, 0x00, 0x96, 0xb9, 0xe3, 0xff,
    ],
    gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0f, 0xff],
    ac: ac([0, 1, 2, 3, 4, 5, 6, 7, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17], 0x01, 0x0f, 0x00),
};

/// Mode 10h: 640x350, 16 colours, planar.
pub const MODE_10H: ModeRegs = ModeRegs {
    misc: 0xa3,
    seq: [0x03, 0x01, 0x0f, 0x00, 0x06],
    crtc: [
        0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x83, 0x85,
        0x5d, 0x28, 0x0f, 0x63, 0xba, 0xe3, 0xff,
    ],
    gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0f, 0xff],
    ac: ac(AC_PALETTE_16, 0x01, 0x0f, 0x00),
};

/// Mode 12h: 640x480, 16 colours, planar.
pub const MODE_12H: ModeRegs = ModeRegs {
    misc: 0xe3,
    seq: [0x03, 0x01, 0x0f, 0x00, 0x06],
    crtc: [
        0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0x0b, 0x3e, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xea, 0x8c,
        0xdf, 0x28, 0x00, 0xe7, 0x04, 0xe3, 0xff,
    ],
    gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0f, 0xff],
    ac: ac(AC_PALETTE_16, 0x01, 0x0f, 0x00),
};

/// Mode 13h: 320x200, 256 colours, chain 4.
pub const MODE_13H: ModeRegs = ModeRegs {
    misc: 0x63,
    seq: [0x03, 0x01, 0x0f, 0x00, 0x0e],
    crtc: [
        0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x0e,
        0x8f, 0x28, 0x40, 0x96, 0xb9, 0xa3, 0xff,
    ],
    gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0f, 0xff],
    ac: ac([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], 0x41, 0x0f, 0x00),
};
