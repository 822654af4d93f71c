//! The 16550A UART (National Semiconductor PC16550D): the PC's serial ports.
//!
//! **Ports:** eight byte registers at `base + 0..=7`; COM1 is 0x3F8 on IRQ 4, COM2 0x2F8 on IRQ 3.
//!
//! | offset | DLAB = 0: read / write | DLAB = 1 |
//! |--------|------------------------|----------|
//! | 0      | RBR / THR              | DLL      |
//! | 1      | IER                    | DLM      |
//! | 2      | IIR / FCR              | IIR / FCR |
//! | 3      | LCR                    | LCR      |
//! | 4      | MCR                    | MCR      |
//! | 5      | LSR                    | LSR      |
//! | 6      | MSR                    | MSR      |
//! | 7      | SCR                    | SCR      |
//!
//! **Emulated:** every register; the 16-byte receiver FIFO with its reset bit and trigger levels
//! 1/4/8/14; the character time-out indication (data below the trigger level, nothing received and
//! nothing read for 4 character times at the programmed baud rate and frame, on the virtual
//! clock); the interrupt priorities of IIR (line status > received data / time-out > THR empty >
//! modem status) with the datasheet's set and clear rules; loopback mode (THR goes to the receiver,
//! MSR shows RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD); the MSR delta bits. The interrupt output
//! reaches the IRQ line only while MCR OUT2 is set and loopback is off, as on a PC, where OUT2
//! enables the IRQ driver and loopback forces OUT2 inactive.
//!
//! **Time:** the transmitter is infinitely fast: a THR write goes to the output sink at once, so
//! THRE and TEMT read as 1 and the transmitter FIFO is always empty (FCR's transmitter reset has
//! nothing to clear), but the THRE interrupt is raised and cleared exactly as the datasheet says.
//! Host input is a queue in front of the receiver that delivers one byte per character time while
//! the receiver FIFO has room, like a far end that honours flow control, so nothing pasted is ever
//! lost and the IRQ line falls between bytes once the guest has emptied the receiver.
//!
//! **Not emulated:** parity, framing and break errors (the host never sends them; in loopback a
//! break is not received either), so LSR PE/FE/BI and the FIFO error bit stay 0; overrun happens
//! only in loopback. LSR and MSR writes (factory test) are ignored. DMA mode and the RXRDY/TXRDY
//! pins (not wired on a PC) are not modelled. The divisor latch powers up as 1 (115200 baud); on
//! the chip it is undefined until programmed.

use std::any::Any;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use emu_core::{ClockHandle, Device, Lines};

/// COM1's first port.
pub const COM1_BASE: u16 = 0x3f8;
/// COM1's IRQ line.
pub const COM1_IRQ: u8 = 4;
/// COM2's first port.
pub const COM2_BASE: u16 = 0x2f8;
/// COM2's IRQ line.
pub const COM2_IRQ: u8 = 3;
/// Number of ports a 16550 decodes.
pub const UART_PORTS: u16 = 8;

// Register offsets from the base port.
/// Receiver Buffer Register (read, DLAB = 0).
pub const RBR: u64 = 0;
/// Transmitter Holding Register (write, DLAB = 0).
pub const THR: u64 = 0;
/// Divisor Latch, low byte (DLAB = 1).
pub const DLL: u64 = 0;
/// Interrupt Enable Register (DLAB = 0).
pub const IER: u64 = 1;
/// Divisor Latch, high byte (DLAB = 1).
pub const DLM: u64 = 1;
/// Interrupt Identification Register (read).
pub const IIR: u64 = 2;
/// FIFO Control Register (write).
pub const FCR: u64 = 2;
/// Line Control Register.
pub const LCR: u64 = 3;
/// Modem Control Register.
pub const MCR: u64 = 4;
/// Line Status Register.
pub const LSR: u64 = 5;
/// Modem Status Register.
pub const MSR: u64 = 6;
/// Scratch Register.
pub const SCR: u64 = 7;

// IER bits.
/// Enable Received Data Available interrupt (and the character time-out).
pub const IER_ERBFI: u8 = 0x01;
/// Enable Transmitter Holding Register Empty interrupt.
pub const IER_ETBEI: u8 = 0x02;
/// Enable Receiver Line Status interrupt.
pub const IER_ELSI: u8 = 0x04;
/// Enable Modem Status interrupt.
pub const IER_EDSSI: u8 = 0x08;

// IIR values.
/// No interrupt pending (bit 0 set).
pub const IIR_NO_INT: u8 = 0x01;
/// Receiver line status (OE, PE, FE or BI): highest priority.
pub const IIR_RLS: u8 = 0x06;
/// Received data available (at or above the trigger level).
pub const IIR_RDA: u8 = 0x04;
/// Character time-out (FIFO mode only).
pub const IIR_CTI: u8 = 0x0c;
/// Transmitter holding register empty.
pub const IIR_THRI: u8 = 0x02;
/// Modem status: lowest priority.
pub const IIR_MSI: u8 = 0x00;
/// Both bits set when the FIFOs are enabled (FCR0 = 1).
pub const IIR_FIFOS_ENABLED: u8 = 0xc0;

// FCR bits.
/// FIFO enable; the other bits are programmed only when this one is written as 1.
pub const FCR_FIFO_ENABLE: u8 = 0x01;
/// Receiver FIFO reset (self-clearing).
pub const FCR_RX_RESET: u8 = 0x02;
/// Transmitter FIFO reset (self-clearing).
pub const FCR_TX_RESET: u8 = 0x04;
/// DMA mode select.
pub const FCR_DMA_MODE: u8 = 0x08;
/// Receiver trigger level: 00 = 1, 01 = 4, 10 = 8, 11 = 14 bytes.
pub const FCR_RX_TRIGGER: u8 = 0xc0;

// LCR bits.
/// Word length select: 00 = 5 bits ... 11 = 8 bits.
pub const LCR_WLS: u8 = 0x03;
/// Number of stop bits: 0 = 1, 1 = 2 (1.5 with 5-bit words).
pub const LCR_STB: u8 = 0x04;
/// Parity enable.
pub const LCR_PEN: u8 = 0x08;
/// Even parity select.
pub const LCR_EPS: u8 = 0x10;
/// Stick parity.
pub const LCR_STICK: u8 = 0x20;
/// Set break.
pub const LCR_SBRK: u8 = 0x40;
/// Divisor latch access bit.
pub const LCR_DLAB: u8 = 0x80;

// MCR bits.
/// Data terminal ready.
pub const MCR_DTR: u8 = 0x01;
/// Request to send.
pub const MCR_RTS: u8 = 0x02;
/// User output 1.
pub const MCR_OUT1: u8 = 0x04;
/// User output 2: on a PC, enables the IRQ driver.
pub const MCR_OUT2: u8 = 0x08;
/// Loopback mode.
pub const MCR_LOOP: u8 = 0x10;

// LSR bits.
/// Data ready: the receiver holds at least one byte.
pub const LSR_DR: u8 = 0x01;
/// Overrun error.
pub const LSR_OE: u8 = 0x02;
/// Parity error.
pub const LSR_PE: u8 = 0x04;
/// Framing error.
pub const LSR_FE: u8 = 0x08;
/// Break interrupt.
pub const LSR_BI: u8 = 0x10;
/// Transmitter holding register (or FIFO) empty.
pub const LSR_THRE: u8 = 0x20;
/// Transmitter empty: THR and the shift register are both empty.
pub const LSR_TEMT: u8 = 0x40;
/// Error in receiver FIFO.
pub const LSR_RXFE: u8 = 0x80;

// MSR bits.
/// Delta clear to send.
pub const MSR_DCTS: u8 = 0x01;
/// Delta data set ready.
pub const MSR_DDSR: u8 = 0x02;
/// Trailing edge ring indicator.
pub const MSR_TERI: u8 = 0x04;
/// Delta data carrier detect.
pub const MSR_DDCD: u8 = 0x08;
/// Clear to send.
pub const MSR_CTS: u8 = 0x10;
/// Data set ready.
pub const MSR_DSR: u8 = 0x20;
/// Ring indicator.
pub const MSR_RI: u8 = 0x40;
/// Data carrier detect.
pub const MSR_DCD: u8 = 0x80;

/// Depth of the receiver and transmitter FIFOs.
pub const FIFO_SIZE: usize = 16;
/// The 16550's reference clock on a PC: 1.8432 MHz, i.e. 115200 baud at divisor 1.
pub const XTAL_HZ: u64 = 1_843_200;
/// How often (virtual ns) the UART looks at its [`SerialInput`] when nothing else wakes it.
pub const INPUT_POLL_NS: u64 = 1_000_000;

/// What the far end of the line shows on the modem inputs when nothing says otherwise: a
/// connected terminal (CTS, DSR and DCD asserted, no ring).
const DEFAULT_MODEM_INPUTS: u8 = MSR_CTS | MSR_DSR | MSR_DCD;
const LSR_ERRORS: u8 = LSR_OE | LSR_PE | LSR_FE | LSR_BI;
const MSR_DELTAS: u8 = MSR_DCTS | MSR_DDSR | MSR_TERI | MSR_DDCD;

/// A cloneable, thread-safe way to type into a UART from another thread (e.g. a stdin reader).
/// Bytes pushed here reach the UART's host queue at its next register access or
/// [`Device::advance`]; the UART asks to be advanced every [`INPUT_POLL_NS`] of virtual time
/// once a handle exists, and at once while bytes are waiting.
#[derive(Debug, Clone, Default)]
pub struct SerialInput(Arc<SharedInput>);

#[derive(Debug, Default)]
struct SharedInput {
    queue: Mutex<VecDeque<u8>>,
    pending: AtomicBool,
}

impl SerialInput {
    /// Queues bytes for the guest to receive, in order.
    pub fn push(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut queue = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.extend(bytes);
        self.0.pending.store(true, Ordering::Release);
    }

    /// Whether bytes are waiting for the UART to pick them up.
    pub fn has_pending(&self) -> bool {
        self.0.pending.load(Ordering::Acquire)
    }

    /// Moves every waiting byte to the end of `into`.
    fn take_into(&self, into: &mut VecDeque<u8>) {
        if self.0.pending.swap(false, Ordering::Acquire) {
            let mut queue = self.0.queue.lock().unwrap_or_else(|e| e.into_inner());
            into.extend(queue.drain(..));
        }
    }
}

/// One 16550A UART. See the module documentation.
pub struct Uart16550 {
    irq: u8,
    lines: Lines,
    clock: ClockHandle,
    sink: Box<dyn Write + Send>,

    dll: u8,
    dlm: u8,
    ier: u8,
    /// The programmed FCR bits that persist: FIFO enable, DMA mode, trigger level.
    fcr: u8,
    lcr: u8,
    mcr: u8,
    /// LSR's error bits (OE, PE, FE, BI), latched until LSR is read. The other bits are computed.
    lsr_errors: u8,
    /// MSR: current modem inputs in bits 4-7, delta bits 0-3 latched until MSR is read.
    msr: u8,
    scr: u8,
    /// The modem inputs the far end drives (MSR bit positions), seen when not in loopback.
    modem_inputs: u8,

    /// The receiver FIFO (at most one byte, the RBR, when FIFOs are off).
    rx_fifo: VecDeque<u8>,
    /// The last byte read from the receiver: what RBR reads when nothing new has arrived.
    rbr: u8,
    /// The THRE interrupt source: set when THR empties (or ETBEI is turned on while it is empty),
    /// cleared by reading IIR while it is the reported source, or by writing THR.
    thre_pending: bool,
    /// The character time-out has occurred; cleared by reading RBR.
    timeout_pending: bool,
    /// Virtual time of the last byte received or read: the time-out counts from here.
    rx_activity_at: u64,

    /// Bytes from the host not yet received, in order.
    host_queue: VecDeque<u8>,
    /// When the byte now on the wire (the head of `host_queue`) reaches the receiver.
    wire_lands_at: Option<u64>,
    input: SerialInput,
    /// When to look at `input` again; `None` until a handle has been given out.
    poll_at: Option<u64>,
    /// The level we last drove on the IRQ line.
    irq_level: bool,
}

impl Uart16550 {
    /// A UART in its reset state that drives IRQ `irq` on `lines`, keeps time on `clock`, and
    /// writes what the guest transmits to `sink`.
    pub fn new(irq: u8, lines: Lines, clock: ClockHandle, sink: Box<dyn Write + Send>) -> Self {
        Uart16550 {
            irq,
            lines,
            clock,
            sink,
            dll: 1,
            dlm: 0,
            ier: 0,
            fcr: 0,
            lcr: 0,
            mcr: 0,
            lsr_errors: 0,
            msr: DEFAULT_MODEM_INPUTS,
            scr: 0,
            modem_inputs: DEFAULT_MODEM_INPUTS,
            rx_fifo: VecDeque::with_capacity(FIFO_SIZE),
            rbr: 0,
            thre_pending: false,
            timeout_pending: false,
            rx_activity_at: 0,
            host_queue: VecDeque::new(),
            wire_lands_at: None,
            input: SerialInput::default(),
            poll_at: None,
            irq_level: false,
        }
    }

    /// Queues bytes from the host for the guest to receive (they arrive one per character time
    /// while the receiver has room; none is ever dropped).
    pub fn push_input(&mut self, bytes: &[u8]) {
        self.host_queue.extend(bytes);
        self.sync(self.clock.now());
        self.update_irq();
    }

    /// A handle another thread can push input through. From now on the UART polls it every
    /// [`INPUT_POLL_NS`] of virtual time.
    pub fn input_handle(&mut self) -> SerialInput {
        if self.poll_at.is_none() {
            self.poll_at = Some(self.clock.now() + INPUT_POLL_NS);
        }
        self.input.clone()
    }

    /// Bytes from the host that the guest has not received yet (host queue, not the FIFO).
    pub fn pending_input(&self) -> usize {
        self.host_queue.len()
    }

    /// Sets the modem inputs the far end drives, as MSR bits (`MSR_CTS | MSR_DSR | MSR_RI |
    /// MSR_DCD`; other bits ignored). Changes set MSR's delta bits. Loopback hides them.
    pub fn set_modem_inputs(&mut self, inputs: u8) {
        self.modem_inputs = inputs & 0xf0;
        self.update_msr();
        self.update_irq();
    }

    /// The IRQ line this UART drives.
    pub fn irq(&self) -> u8 {
        self.irq
    }

    // ---- derived state ----------------------------------------------------------------------

    fn fifo_enabled(&self) -> bool {
        self.fcr & FCR_FIFO_ENABLE != 0
    }

    fn loopback(&self) -> bool {
        self.mcr & MCR_LOOP != 0
    }

    fn rx_capacity(&self) -> usize {
        if self.fifo_enabled() {
            FIFO_SIZE
        } else {
            1
        }
    }

    fn rx_full(&self) -> bool {
        self.rx_fifo.len() >= self.rx_capacity()
    }

    /// The receiver FIFO trigger level, in bytes.
    fn rx_trigger(&self) -> usize {
        match self.fcr >> 6 {
            0 => 1,
            1 => 4,
            2 => 8,
            _ => 14,
        }
    }

    /// Virtual nanoseconds one character takes on the wire: start bit, data bits, parity, stop
    /// bits, each 16 cycles of the 1.8432 MHz clock divided by the divisor latch.
    pub fn char_time_ns(&self) -> u64 {
        let divisor = u16::from_le_bytes([self.dll, self.dlm]).max(1) as u64;
        let data_bits = 5 + (self.lcr & LCR_WLS) as u64;
        let parity = (self.lcr & LCR_PEN != 0) as u64;
        let stop_halves = match (self.lcr & LCR_STB != 0, data_bits) {
            (false, _) => 2,
            (true, 5) => 3,
            (true, _) => 4,
        };
        let half_bits = 2 * (1 + data_bits + parity) + stop_halves;
        half_bits * divisor * 16 * 1_000_000_000 / (2 * XTAL_HZ)
    }

    fn lsr(&self) -> u8 {
        let dr = if self.rx_fifo.is_empty() { 0 } else { LSR_DR };
        dr | self.lsr_errors | LSR_THRE | LSR_TEMT
    }

    /// When the character time-out will occur, if it is armed.
    fn timeout_at(&self) -> Option<u64> {
        (self.fifo_enabled() && !self.rx_fifo.is_empty() && !self.timeout_pending)
            .then(|| self.rx_activity_at.saturating_add(4 * self.char_time_ns()))
    }

    /// The highest-priority pending interrupt, as its IIR identification value.
    fn pending_interrupt(&self) -> Option<u8> {
        if self.ier & IER_ELSI != 0 && self.lsr_errors & LSR_ERRORS != 0 {
            return Some(IIR_RLS);
        }
        if self.ier & IER_ERBFI != 0 {
            let level = if self.fifo_enabled() { self.rx_trigger() } else { 1 };
            if self.rx_fifo.len() >= level {
                return Some(IIR_RDA);
            }
            if self.timeout_pending {
                return Some(IIR_CTI);
            }
        }
        if self.ier & IER_ETBEI != 0 && self.thre_pending {
            return Some(IIR_THRI);
        }
        if self.ier & IER_EDSSI != 0 && self.msr & MSR_DELTAS != 0 {
            return Some(IIR_MSI);
        }
        None
    }

    // ---- time and the receiver --------------------------------------------------------------

    /// Brings the receiver up to virtual time `now`: picks up input from the handle, lands the
    /// bytes whose character time has passed, and notes an expired character time-out.
    fn sync(&mut self, now: u64) {
        self.input.take_into(&mut self.host_queue);
        while let Some(t) = self.wire_lands_at.filter(|&t| t <= now) {
            self.wire_lands_at = None;
            self.check_timeout(t);
            if self.loopback() || self.rx_full() {
                break; // the byte stays queued until the receiver can take it
            }
            if let Some(byte) = self.host_queue.pop_front() {
                self.receive(byte, t);
            }
            self.start_sender(t);
        }
        self.start_sender(now);
        self.check_timeout(now);
    }

    fn check_timeout(&mut self, now: u64) {
        if self.timeout_at().is_some_and(|t| t <= now) {
            self.timeout_pending = true;
        }
    }

    /// Puts the next host byte on the wire at time `at`, if there is one and room for it. The
    /// receiver's serial input is cut off in loopback mode.
    fn start_sender(&mut self, at: u64) {
        if self.wire_lands_at.is_none() && !self.host_queue.is_empty() && !self.loopback() && !self.rx_full() {
            self.wire_lands_at = Some(at.saturating_add(self.char_time_ns()));
        }
    }

    /// A byte arrives at the receiver at time `at`.
    fn receive(&mut self, byte: u8, at: u64) {
        if self.rx_full() {
            self.lsr_errors |= LSR_OE;
            if !self.fifo_enabled() {
                // 16450 mode: the new byte overwrites RBR. In FIFO mode it is lost in the
                // shift register and the FIFO is left alone.
                self.rx_fifo.clear();
                self.rx_fifo.push_back(byte);
            }
        } else {
            self.rx_fifo.push_back(byte);
        }
        self.rx_activity_at = at;
    }

    // ---- registers --------------------------------------------------------------------------

    fn read_reg(&mut self, reg: u64, now: u64) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match reg {
            DLL if dlab => self.dll,
            DLM if dlab => self.dlm,
            RBR => self.read_rbr(now),
            IER => self.ier,
            IIR => self.read_iir(),
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => {
                let lsr = self.lsr();
                self.lsr_errors = 0;
                lsr
            }
            MSR => {
                let msr = self.msr;
                self.msr &= !MSR_DELTAS;
                msr
            }
            SCR => self.scr,
            _ => 0xff,
        }
    }

    fn read_rbr(&mut self, now: u64) -> u8 {
        if let Some(byte) = self.rx_fifo.pop_front() {
            self.rbr = byte;
        }
        self.timeout_pending = false;
        self.rx_activity_at = now;
        self.start_sender(now); // room appeared: the far end may send again
        self.rbr
    }

    fn read_iir(&mut self) -> u8 {
        let id = self.pending_interrupt();
        if id == Some(IIR_THRI) {
            self.thre_pending = false;
        }
        let fifos = if self.fifo_enabled() { IIR_FIFOS_ENABLED } else { 0 };
        id.unwrap_or(IIR_NO_INT) | fifos
    }

    fn write_reg(&mut self, reg: u64, value: u8, now: u64) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match reg {
            DLL if dlab => self.dll = value,
            DLM if dlab => self.dlm = value,
            THR => self.write_thr(value, now),
            IER => {
                let value = value & 0x0f;
                if value & IER_ETBEI != 0 && self.ier & IER_ETBEI == 0 {
                    self.thre_pending = true; // THR is empty, so enabling ETBEI interrupts at once
                }
                self.ier = value;
            }
            FCR => self.write_fcr(value, now),
            LCR => self.lcr = value,
            MCR => {
                self.mcr = value & 0x1f;
                self.update_msr();
                self.start_sender(now); // leaving loopback reconnects the serial input
            }
            SCR => self.scr = value,
            _ => {} // LSR, MSR: factory test writes, ignored
        }
    }

    fn write_thr(&mut self, byte: u8, now: u64) {
        if self.loopback() {
            self.receive(byte, now);
        } else {
            // A host sink that fails must not stop the guest; the byte is simply lost.
            let _ = self.sink.write_all(&[byte]);
            let _ = self.sink.flush();
        }
        // Writing THR clears the THRE interrupt; transmission is instant, so THR empties again
        // and raises it anew. Show the clear on the line first, so that the new THRE interrupt
        // is a fresh rising edge for an edge-triggered controller (unless a higher source keeps
        // the line up, as on the chip).
        self.thre_pending = false;
        self.update_irq();
        self.thre_pending = true;
    }

    fn write_fcr(&mut self, value: u8, now: u64) {
        let was_enabled = self.fifo_enabled();
        if value & FCR_FIFO_ENABLE == 0 {
            // The other bits are not programmed; turning the FIFOs off clears them.
            if was_enabled {
                self.clear_rx();
            }
            self.fcr = 0;
        } else {
            if !was_enabled || value & FCR_RX_RESET != 0 {
                self.clear_rx();
            }
            // FCR_TX_RESET: the transmitter FIFO is always empty.
            self.fcr = value & (FCR_FIFO_ENABLE | FCR_DMA_MODE | FCR_RX_TRIGGER);
        }
        self.start_sender(now);
    }

    fn clear_rx(&mut self) {
        self.rx_fifo.clear();
        self.timeout_pending = false;
    }

    /// Recomputes MSR's input bits (from the far end, or from MCR in loopback) and latches the
    /// delta bits for those that changed.
    fn update_msr(&mut self) {
        let inputs = if self.loopback() {
            let m = self.mcr;
            let bit = |mcr_bit: u8, msr_bit: u8| if m & mcr_bit != 0 { msr_bit } else { 0 };
            bit(MCR_RTS, MSR_CTS) | bit(MCR_DTR, MSR_DSR) | bit(MCR_OUT1, MSR_RI) | bit(MCR_OUT2, MSR_DCD)
        } else {
            self.modem_inputs
        };
        let old = self.msr & 0xf0;
        let changed = old ^ inputs;
        let mut deltas = self.msr & MSR_DELTAS;
        if changed & MSR_CTS != 0 {
            deltas |= MSR_DCTS;
        }
        if changed & MSR_DSR != 0 {
            deltas |= MSR_DDSR;
        }
        if old & MSR_RI != 0 && inputs & MSR_RI == 0 {
            deltas |= MSR_TERI; // ring indicator's trailing edge only
        }
        if changed & MSR_DCD != 0 {
            deltas |= MSR_DDCD;
        }
        self.msr = inputs | deltas;
    }

    /// Drives the IRQ line: the chip's INTR output, through the OUT2-enabled driver of a PC.
    fn update_irq(&mut self) {
        let intr = self.pending_interrupt().is_some();
        let level = intr && self.mcr & MCR_OUT2 != 0 && !self.loopback();
        if level != self.irq_level {
            self.irq_level = level;
            self.lines.set_irq(self.irq, level);
        }
    }
}

impl Device for Uart16550 {
    fn name(&self) -> &'static str {
        "16550A UART"
    }

    /// The registers as at power-on (FIFOs off and empty, no interrupt enabled, OUT2 off, so
    /// the IRQ line goes low). The host's side stays: the output sink, the input handle and
    /// the bytes it queued that the guest has not received, and the far end's modem lines.
    fn reset(&mut self) {
        let sink = std::mem::replace(&mut self.sink, Box::new(std::io::sink()));
        let mut fresh = Uart16550::new(self.irq, self.lines.clone(), self.clock.clone(), sink);
        fresh.modem_inputs = self.modem_inputs;
        fresh.msr = self.modem_inputs & 0xf0;
        fresh.host_queue = std::mem::take(&mut self.host_queue);
        fresh.wire_lands_at = self.wire_lands_at;
        fresh.input = self.input.clone();
        fresh.poll_at = self.poll_at;
        fresh.irq_level = self.irq_level;
        *self = fresh;
        self.update_irq();
    }

    /// Wider accesses are split into byte cycles, as the ISA bus does; bytes past the eighth
    /// register read as all ones.
    fn read(&mut self, _region: u8, offset: u64, size: u8) -> u32 {
        let now = self.clock.now();
        self.sync(now);
        let mut value = 0u32;
        for i in 0..size.min(4) as u64 {
            let byte = match offset.checked_add(i) {
                Some(reg) if reg < UART_PORTS as u64 => self.read_reg(reg, now),
                _ => 0xff,
            };
            value |= (byte as u32) << (8 * i);
        }
        self.update_irq();
        value
    }

    fn write(&mut self, _region: u8, offset: u64, size: u8, value: u32) {
        let now = self.clock.now();
        self.sync(now);
        for i in 0..size.min(4) as u64 {
            if let Some(reg) = offset.checked_add(i).filter(|&r| r < UART_PORTS as u64) {
                self.write_reg(reg, (value >> (8 * i)) as u8, now);
            }
        }
        self.update_irq();
    }

    fn deadline(&self) -> Option<u64> {
        let interested = self.ier & IER_ERBFI != 0;
        [
            self.wire_lands_at,
            self.timeout_at().filter(|_| interested),
            self.input.has_pending().then(|| self.clock.now()),
            self.poll_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn advance(&mut self, now_ns: u64) {
        let now = now_ns.max(self.clock.now());
        self.sync(now);
        if let Some(t) = self.poll_at.filter(|&t| t <= now) {
            // Next poll on a fixed grid, so the schedule does not depend on when we were called.
            let periods = (now - t) / INPUT_POLL_NS + 1;
            self.poll_at = Some(t + periods * INPUT_POLL_NS);
        }
        self.update_irq();
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::Captured;

    struct Bench {
        uart: Uart16550,
        lines: Lines,
        clock: ClockHandle,
        out: Captured,
    }

    impl Bench {
        fn new() -> Self {
            let (lines, clock, out) = (Lines::new(), ClockHandle::manual(), Captured::default());
            let uart = Uart16550::new(COM1_IRQ, lines.clone(), clock.clone(), Box::new(out.clone()));
            Bench { uart, lines, clock, out }
        }
        fn rd(&mut self, reg: u64) -> u8 {
            self.uart.read(0, reg, 1) as u8
        }
        fn wr(&mut self, reg: u64, value: u8) {
            self.uart.write(0, reg, 1, value as u32);
        }
        fn irq(&self) -> bool {
            self.lines.irq_levels() & (1 << COM1_IRQ) != 0
        }
        fn output(&self) -> Vec<u8> {
            self.out.0.lock().unwrap().clone()
        }
        /// Moves virtual time to `t`, advancing the UART at each deadline on the way, as the
        /// machine's timer loop does.
        fn run_until(&mut self, t: u64) {
            while let Some(d) = self.uart.deadline().filter(|&d| d <= t) {
                self.clock.set(d);
                self.uart.advance(d);
            }
            self.clock.set(t);
        }
        fn run_for(&mut self, ns: u64) {
            self.run_until(self.clock.now() + ns);
        }
        fn char_time(&self) -> u64 {
            self.uart.char_time_ns()
        }
    }

    #[test]
    fn reset_state() {
        let mut b = Bench::new();
        assert_eq!(b.rd(IER), 0);
        assert_eq!(b.rd(IIR), IIR_NO_INT);
        assert_eq!(b.rd(LCR), 0);
        assert_eq!(b.rd(MCR), 0);
        assert_eq!(b.rd(LSR), LSR_THRE | LSR_TEMT);
        assert_eq!(b.rd(MSR), MSR_CTS | MSR_DSR | MSR_DCD);
        b.wr(SCR, 0x5a);
        assert_eq!(b.rd(SCR), 0x5a);
        assert!(!b.irq());
        assert_eq!(b.uart.deadline(), None);
    }

    #[test]
    fn divisor_latch_is_behind_dlab_and_sets_the_character_time() {
        let mut b = Bench::new();
        assert_eq!(b.char_time(), 60_763); // reset: 115200 baud, LCR 0 = 5N1, 7 bits
        b.wr(LCR, LCR_DLAB | 0x03);
        b.wr(DLL, 12);
        b.wr(DLM, 0);
        assert_eq!((b.rd(DLL), b.rd(DLM)), (12, 0));
        b.wr(LCR, 0x03); // 8N1
        assert_eq!(b.rd(IER), 0); // DLM write did not reach IER
        assert!(b.output().is_empty()); // nor did DLL reach THR
        assert_eq!(b.char_time(), 1_041_666); // 9600 baud, 10 bits
        b.wr(LCR, 0x03 | LCR_PEN | LCR_STB); // 8E2: 12 bits
        assert_eq!(b.char_time(), 1_250_000);
        b.wr(LCR, LCR_STB); // 5 bits, 1.5 stop bits: 7.5 bits
        assert_eq!(b.char_time(), 781_250);
    }

    #[test]
    fn ier_and_mcr_reserved_bits_read_as_zero() {
        let mut b = Bench::new();
        b.wr(IER, 0xff);
        assert_eq!(b.rd(IER), 0x0f);
        b.wr(IER, 0);
        assert_eq!(b.rd(IER), 0);
        b.wr(MCR, 0xff);
        assert_eq!(b.rd(MCR), 0x1f);
    }

    #[test]
    fn transmitted_bytes_reach_the_sink_at_once() {
        let mut b = Bench::new();
        for &c in b"hi\n" {
            b.wr(THR, c);
            assert_eq!(b.rd(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
        }
        assert_eq!(b.output(), b"hi\n");
    }

    #[test]
    fn thre_interrupt_is_raised_and_cleared_as_the_datasheet_says() {
        let mut b = Bench::new();
        b.wr(MCR, MCR_OUT2);
        b.wr(IER, IER_ETBEI); // enabling ETBEI with THR empty interrupts at once
        assert!(b.irq());
        assert_eq!(b.rd(IIR), IIR_THRI);
        assert!(!b.irq()); // reading IIR while THRE is the source cleared it
        assert_eq!(b.rd(IIR), IIR_NO_INT);
        b.wr(THR, b'x'); // THR empties again at once: a new interrupt
        assert!(b.irq());
        b.wr(THR, b'y');
        assert!(b.irq());
        assert_eq!(b.rd(IIR), IIR_THRI);
        assert!(!b.irq());
        // Rewriting IER with ETBEI still set does not re-arm; turning it off and on does.
        b.wr(IER, IER_ETBEI);
        assert!(!b.irq());
        b.wr(IER, 0);
        b.wr(IER, IER_ETBEI);
        assert!(b.irq());
        // OUT2 gates the IRQ line, not the interrupt inside the chip.
        b.wr(MCR, 0);
        assert!(!b.irq());
        b.wr(MCR, MCR_OUT2);
        assert!(b.irq());
        assert_eq!(b.output(), b"xy");
    }

    #[test]
    fn each_thr_write_gives_the_line_a_new_rising_edge() {
        // A driver that writes THR without reading IIR in between: on the chip the write clears
        // INTR until the character has gone, so an edge-triggered PIC sees a new edge each time.
        let mut b = Bench::new();
        let mut edges = emu_core::IrqEdges::default();
        b.wr(MCR, MCR_OUT2);
        b.wr(IER, IER_ETBEI);
        assert_eq!(b.lines.take_irq_edges(&mut edges), 1 << COM1_IRQ);
        for c in *b"ab" {
            b.wr(THR, c);
            assert!(b.irq());
            assert_eq!(b.lines.take_irq_edges(&mut edges), 1 << COM1_IRQ, "a new edge per byte");
        }
        // A pending received byte (a higher source) keeps INTR up through the write: no edge.
        b.wr(IER, IER_ETBEI | IER_ERBFI);
        b.uart.push_input(b"z");
        b.run_for(2 * b.char_time());
        b.lines.take_irq_edges(&mut edges);
        b.wr(THR, b'c');
        assert!(b.irq());
        assert_eq!(b.lines.take_irq_edges(&mut edges), 0);
    }

    #[test]
    fn receiving_without_fifos_one_byte_per_character_time() {
        let mut b = Bench::new();
        b.wr(MCR, MCR_OUT2);
        b.wr(IER, IER_ERBFI);
        b.uart.push_input(b"ab");
        let ct = b.char_time();
        assert_eq!(b.uart.deadline(), Some(ct));
        b.run_for(ct - 1);
        assert_eq!(b.rd(LSR) & LSR_DR, 0);
        b.run_for(1);
        assert!(b.irq());
        assert_eq!(b.rd(LSR) & LSR_DR, LSR_DR);
        assert_eq!(b.rd(IIR), IIR_RDA);
        assert_eq!(b.rd(RBR), b'a');
        // The line falls until the next byte has crossed the wire: an edge for the PIC.
        assert!(!b.irq());
        assert_eq!(b.rd(IIR), IIR_NO_INT);
        assert_eq!(b.rd(RBR), b'a'); // an empty RBR still holds the last byte
        b.run_for(ct);
        assert!(b.irq());
        assert_eq!(b.rd(RBR), b'b');
        assert_eq!(b.rd(LSR), LSR_THRE | LSR_TEMT);
        assert_eq!(b.uart.deadline(), None);
    }

    #[test]
    fn fifo_control_and_iir_fifo_bits() {
        let mut b = Bench::new();
        b.wr(FCR, FCR_RX_TRIGGER); // FIFO enable clear: nothing is programmed
        assert_eq!(b.rd(IIR), IIR_NO_INT);
        b.wr(FCR, FCR_FIFO_ENABLE);
        assert_eq!(b.rd(IIR), IIR_FIFOS_ENABLED | IIR_NO_INT);
        b.uart.push_input(b"abc");
        b.run_for(10 * b.char_time());
        assert_eq!(b.rd(LSR) & LSR_DR, LSR_DR);
        b.wr(FCR, FCR_FIFO_ENABLE | FCR_RX_RESET | FCR_TX_RESET);
        assert_eq!(b.rd(LSR), LSR_THRE | LSR_TEMT);
        assert_eq!(b.rd(IIR), IIR_FIFOS_ENABLED | IIR_NO_INT); // reset bits self-clear
        b.uart.push_input(b"d");
        b.run_for(b.char_time());
        b.wr(FCR, 0); // turning the FIFOs off clears them
        assert_eq!(b.rd(LSR) & LSR_DR, 0);
        assert_eq!(b.rd(IIR), IIR_NO_INT);
    }

    #[test]
    fn trigger_levels_raise_received_data_available() {
        for (bits, level) in [(0x00, 1), (0x40, 4), (0x80, 8), (0xc0, 14)] {
            let mut b = Bench::new();
            b.wr(MCR, MCR_OUT2);
            b.wr(IER, IER_ERBFI);
            b.wr(FCR, FCR_FIFO_ENABLE | bits);
            b.uart.push_input(&[b'.'; 20]);
            let ct = b.char_time();
            for n in 1..=level {
                assert!(!b.irq(), "level {level}: irq before byte {n}");
                b.run_for(ct);
            }
            assert!(b.irq(), "level {level}");
            assert_eq!(b.rd(IIR), IIR_FIFOS_ENABLED | IIR_RDA);
        }
    }

    #[test]
    fn pasted_text_waits_in_the_host_queue_and_is_never_lost() {
        let mut b = Bench::new();
        b.wr(FCR, FCR_FIFO_ENABLE | 0xc0);
        let text: Vec<u8> = (0..100u8).map(|i| b'!' + i % 90).collect();
        b.uart.push_input(&text);
        b.run_for(1000 * b.char_time()); // long enough to overrun a real FIFO many times
        assert_eq!(b.uart.pending_input(), 100 - FIFO_SIZE);
        assert_eq!(b.rd(LSR) & LSR_OE, 0);
        let mut got = Vec::new();
        while got.len() < text.len() {
            while b.rd(LSR) & LSR_DR != 0 {
                got.push(b.rd(RBR));
            }
            b.run_for(b.char_time());
        }
        assert_eq!(got, text);
        assert_eq!(b.uart.deadline(), None);
    }

    #[test]
    fn character_time_out_below_the_trigger_level() {
        let mut b = Bench::new();
        b.wr(MCR, MCR_OUT2);
        b.wr(IER, IER_ERBFI);
        b.wr(FCR, FCR_FIFO_ENABLE | 0xc0); // trigger at 14
        let ct = b.char_time();
        b.uart.push_input(b"ls\n");
        b.run_for(3 * ct); // all three have arrived
        assert_eq!(b.rd(IIR), IIR_FIFOS_ENABLED | IIR_NO_INT);
        b.run_for(4 * ct - 1);
        assert!(!b.irq());
        b.run_for(1);
        assert!(b.irq());
        assert_eq!(b.rd(IIR), IIR_FIFOS_ENABLED | IIR_CTI);
        assert_eq!(b.rd(RBR), b'l'); // reading one byte clears it and restarts the timer
        assert!(!b.irq());
        b.run_for(4 * ct - 1);
        assert!(!b.irq());
        b.run_for(1);
        assert_eq!(b.rd(IIR), IIR_FIFOS_ENABLED | IIR_CTI);
        assert_eq!(b.rd(RBR), b's');
        assert_eq!(b.rd(RBR), b'\n');
        b.run_for(100 * ct); // empty FIFO: no time-out
        assert!(!b.irq());
        assert_eq!(b.uart.deadline(), None);
    }

    #[test]
    fn no_character_time_out_without_fifos() {
        let mut b = Bench::new();
        b.wr(IER, IER_ERBFI);
        b.uart.push_input(b"a");
        b.run_for(100 * b.char_time());
        assert_eq!(b.rd(IIR), IIR_RDA);
    }

    #[test]
    fn loopback_sends_thr_to_the_receiver_and_mcr_to_msr() {
        let mut b = Bench::new();
        b.rd(MSR);
        // Linux's probe: loopback with RTS and OUT2 must read CTS and DCD.
        b.wr(MCR, MCR_LOOP | MCR_RTS | MCR_OUT2);
        assert_eq!(b.rd(MSR) & 0xf0, MSR_CTS | MSR_DCD);
        b.wr(MCR, MCR_LOOP | MCR_DTR | MCR_OUT1);
        assert_eq!(b.rd(MSR), MSR_DSR | MSR_RI | MSR_DCTS | MSR_DDSR | MSR_DDCD);
        assert_eq!(b.rd(MSR), MSR_DSR | MSR_RI); // deltas cleared by reading
        b.wr(MCR, MCR_LOOP | MCR_DTR);
        assert_eq!(b.rd(MSR), MSR_DSR | MSR_TERI); // RI's trailing edge
        b.wr(MCR, MCR_LOOP | MCR_DTR | MCR_OUT1);
        assert_eq!(b.rd(MSR), MSR_DSR | MSR_RI); // leading edge: no TERI
        b.wr(THR, 0x55);
        assert_eq!(b.rd(LSR), LSR_DR | LSR_THRE | LSR_TEMT);
        assert_eq!(b.rd(RBR), 0x55);
        assert!(b.output().is_empty());
        b.wr(MCR, 0);
        b.wr(THR, 0xaa);
        assert_eq!(b.output(), [0xaa]);
    }

    #[test]
    fn loopback_interrupts_are_seen_in_iir_but_not_on_the_irq_line() {
        let mut b = Bench::new();
        b.wr(IER, IER_ERBFI);
        b.wr(MCR, MCR_LOOP | MCR_OUT2);
        b.wr(THR, b'z');
        assert_eq!(b.rd(IIR), IIR_RDA);
        assert!(!b.irq());
        b.wr(MCR, MCR_OUT2);
        assert!(b.irq());
    }

    #[test]
    fn host_input_is_held_back_in_loopback() {
        let mut b = Bench::new();
        b.wr(MCR, MCR_LOOP);
        b.uart.push_input(b"q");
        b.run_for(10 * b.char_time());
        assert_eq!(b.rd(LSR) & LSR_DR, 0);
        b.wr(MCR, 0);
        b.run_for(b.char_time());
        assert_eq!(b.rd(RBR), b'q');
    }

    #[test]
    fn overrun_in_loopback_and_line_status_priority() {
        let mut b = Bench::new();
        b.wr(MCR, MCR_LOOP);
        b.wr(IER, IER_ERBFI | IER_ELSI | IER_ETBEI);
        b.wr(FCR, FCR_FIFO_ENABLE);
        for i in 0..=FIFO_SIZE as u8 {
            b.wr(THR, i);
        }
        assert_eq!(b.rd(IIR), IIR_FIFOS_ENABLED | IIR_RLS);
        assert_eq!(b.rd(LSR), LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT);
        assert_eq!(b.rd(LSR), LSR_DR | LSR_THRE | LSR_TEMT); // OE cleared by reading
        assert_eq!(b.rd(IIR), IIR_FIFOS_ENABLED | IIR_RDA);
        let got: Vec<u8> = (0..FIFO_SIZE).map(|_| b.rd(RBR)).collect();
        assert_eq!(got, (0..FIFO_SIZE as u8).collect::<Vec<_>>()); // the 17th was lost
        assert_eq!(b.rd(IIR), IIR_FIFOS_ENABLED | IIR_THRI);
        assert_eq!(b.rd(IIR), IIR_FIFOS_ENABLED | IIR_NO_INT);
    }

    #[test]
    fn overrun_without_fifos_overwrites_rbr() {
        let mut b = Bench::new();
        b.wr(MCR, MCR_LOOP);
        b.wr(THR, 1);
        b.wr(THR, 2);
        assert_eq!(b.rd(LSR), LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT);
        assert_eq!(b.rd(RBR), 2);
        assert_eq!(b.rd(LSR) & LSR_DR, 0);
    }

    #[test]
    fn interrupt_priority_order() {
        let mut b = Bench::new();
        b.wr(MCR, MCR_LOOP);
        b.rd(MSR); // entering loopback dropped CTS, DSR and DCD: clear those deltas
        b.wr(FCR, FCR_FIFO_ENABLE);
        b.wr(IER, 0x0f);
        b.wr(MCR, MCR_LOOP | MCR_RTS); // a modem status change
        for i in 0..=FIFO_SIZE as u8 {
            b.wr(THR, i); // overrun + data + THRE
        }
        assert_eq!(b.rd(IIR) & 0x0f, IIR_RLS);
        b.rd(LSR);
        assert_eq!(b.rd(IIR) & 0x0f, IIR_RDA);
        b.wr(FCR, FCR_FIFO_ENABLE | FCR_RX_RESET);
        assert_eq!(b.rd(IIR) & 0x0f, IIR_THRI); // reading it clears it...
        assert_eq!(b.rd(IIR) & 0x0f, IIR_MSI);
        assert_eq!(b.rd(IIR) & 0x0f, IIR_MSI); // ...but modem status needs an MSR read
        assert_eq!(b.rd(MSR), MSR_CTS | MSR_DCTS);
        assert_eq!(b.rd(IIR) & 0x0f, IIR_NO_INT);
    }

    #[test]
    fn modem_status_interrupt_from_the_far_end() {
        let mut b = Bench::new();
        b.wr(MCR, MCR_OUT2);
        b.wr(IER, IER_EDSSI);
        assert!(!b.irq());
        b.uart.set_modem_inputs(MSR_CTS | MSR_DSR); // carrier lost
        assert!(b.irq());
        assert_eq!(b.rd(IIR), IIR_MSI);
        assert_eq!(b.rd(MSR), MSR_CTS | MSR_DSR | MSR_DDCD);
        assert!(!b.irq());
    }

    #[test]
    fn serial_input_handle_feeds_from_another_thread() {
        let mut b = Bench::new();
        b.wr(IER, IER_ERBFI);
        b.wr(MCR, MCR_OUT2);
        let input = b.uart.input_handle();
        assert_eq!(b.uart.deadline(), Some(INPUT_POLL_NS));
        std::thread::spawn(move || input.push(b"hello")).join().unwrap();
        // Due at once: the machine advances the UART at its next timer check.
        assert_eq!(b.uart.deadline(), Some(b.clock.now()));
        b.run_for(0);
        assert_eq!(b.uart.pending_input(), 5);
        let mut got = Vec::new();
        while got.len() < 5 {
            b.run_for(b.char_time());
            if b.irq() {
                got.push(b.rd(RBR));
            }
        }
        assert_eq!(got, b"hello");
        // Polling stays on a fixed grid.
        b.run_until(5 * INPUT_POLL_NS + 7);
        assert_eq!(b.uart.deadline(), Some(6 * INPUT_POLL_NS));
    }

    #[test]
    fn word_accesses_are_split_into_byte_registers() {
        let mut b = Bench::new();
        b.uart.write(0, LCR, 2, 0x0b03); // LCR = 0x03, MCR = 0x0b
        assert_eq!(b.rd(LCR), 0x03);
        assert_eq!(b.rd(MCR), 0x0b);
        assert_eq!(b.uart.read(0, SCR, 2), 0xff00); // SCR, then past the last register
        assert_eq!(b.uart.read(0, LCR, 2), 0x0b03);
    }
}
