//! Guest exceptions as values.
//!
//! An instruction that faults returns `Err(Fault)`; the dispatcher rolls EIP back to the start of
//! the instruction (faults) or leaves it after it (traps), and delivers the exception through the
//! IVT or IDT. Nothing a guest does is a host error.

/// Exception vectors (SDM Vol. 3, Table 6-1).
pub mod vector {
    pub const DE: u8 = 0;
    pub const DB: u8 = 1;
    pub const NMI: u8 = 2;
    pub const BP: u8 = 3;
    pub const OF: u8 = 4;
    pub const BR: u8 = 5;
    pub const UD: u8 = 6;
    pub const NM: u8 = 7;
    pub const DF: u8 = 8;
    pub const TS: u8 = 10;
    pub const NP: u8 = 11;
    pub const SS: u8 = 12;
    pub const GP: u8 = 13;
    pub const PF: u8 = 14;
    pub const MF: u8 = 16;
    pub const AC: u8 = 17;
    pub const MC: u8 = 18;
}

/// An exception raised by an instruction (or by fetching it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub vector: u8,
    /// The error code pushed with the exception, for the vectors that have one.
    pub error: Option<u32>,
    /// For #PF: the linear address that faulted (goes to CR2).
    pub address: u32,
}

impl Fault {
    pub const fn new(vector: u8) -> Fault {
        Fault { vector, error: None, address: 0 }
    }
    pub const fn with_error(vector: u8, error: u32) -> Fault {
        Fault { vector, error: Some(error), address: 0 }
    }
    /// #DE: divide error.
    pub const DE: Fault = Fault::new(vector::DE);
    /// #UD: invalid opcode.
    pub const UD: Fault = Fault::new(vector::UD);
    /// #BR: BOUND range exceeded.
    pub const BR: Fault = Fault::new(vector::BR);
    /// #NM: device not available.
    pub const NM: Fault = Fault::new(vector::NM);
    /// #GP(code).
    pub const fn gp(code: u16) -> Fault {
        Fault::with_error(vector::GP, code as u32)
    }
    /// #SS(code).
    pub const fn ss(code: u16) -> Fault {
        Fault::with_error(vector::SS, code as u32)
    }
    /// #TS(code).
    pub const fn ts(code: u16) -> Fault {
        Fault::with_error(vector::TS, code as u32)
    }
    /// #NP(code).
    pub const fn np(code: u16) -> Fault {
        Fault::with_error(vector::NP, code as u32)
    }
    /// #PF at `address` with `error` (P, W/R, U/S, RSVD, I/D bits).
    pub const fn pf(address: u32, error: u32) -> Fault {
        Fault { vector: vector::PF, error: Some(error), address }
    }
    /// The exception class for double-fault escalation (SDM Vol. 3, Table 6-4).
    pub fn class(self) -> Class {
        match self.vector {
            vector::DE | vector::TS | vector::NP | vector::SS | vector::GP => Class::Contributory,
            vector::PF => Class::PageFault,
            vector::DF => Class::DoubleFault,
            _ => Class::Benign,
        }
    }
}

/// Exception classes for deciding when a second fault becomes #DF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Benign,
    Contributory,
    PageFault,
    DoubleFault,
}

/// Result of anything an instruction does.
pub type Res<T = ()> = Result<T, Fault>;
