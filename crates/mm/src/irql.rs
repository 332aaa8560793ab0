//! Interrupt request levels: the context rules every entry point checks.
//!
//! Each CPU (on the hosted machine: each thread) runs at an IRQL the platform keeps. An entry
//! point compares it with the maximum its documentation gives, before it touches any state.

use core::fmt;

/// An interrupt request level (`KIRQL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Irql(pub u8);

impl Irql {
    /// `PASSIVE_LEVEL` = 0: threads run here; everything may be called.
    pub const PASSIVE: Self = Self(0);
    /// `APC_LEVEL` = 1.
    pub const APC: Self = Self(1);
    /// `DISPATCH_LEVEL` = 2: no waiting, no paging.
    pub const DISPATCH: Self = Self(2);
    /// `HIGH_LEVEL` = 15 on x64.
    pub const HIGH: Self = Self(15);

    /// The level's name as `wdm.h` spells it, or `DIRQL` for device levels.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "PASSIVE_LEVEL",
            1 => "APC_LEVEL",
            2 => "DISPATCH_LEVEL",
            15 => "HIGH_LEVEL",
            _ => "DIRQL",
        }
    }
}

impl fmt::Display for Irql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A call made above the routine's documented maximum IRQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqlTooHigh {
    /// The caller's IRQL.
    pub current: Irql,
    /// The routine's maximum.
    pub maximum: Irql,
}

impl fmt::Display for IrqlTooHigh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "called at {} but the routine allows at most {}", self.current, self.maximum)
    }
}

impl core::error::Error for IrqlTooHigh {}

/// Checks `current <= maximum`.
pub const fn check(current: Irql, maximum: Irql) -> Result<(), IrqlTooHigh> {
    if current.0 <= maximum.0 { Ok(()) } else { Err(IrqlTooHigh { current, maximum }) }
}
