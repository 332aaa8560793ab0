//! The interface through which the hosted machine drives a PCI function model.
//!
//! The machine owns the bus: it runs configuration cycles against [`PciFunction::config`] and
//! [`PciFunction::config_mut`], decodes memory and I/O accesses against the BARs programmed there
//! (see [`PciConfigSpace::memory_bar_at`] and [`PciConfigSpace::io_bar_at`]), and hands the
//! function the BAR index and the offset within it. The function never sees bus addresses of
//! its own BARs, so firmware and the PnP arbiter can move them freely.

use crate::dma::DmaMemory;
use crate::mmio::AccessWidth;
use crate::pci::PciConfigSpace;

/// A PCI function model: configuration space plus the registers behind its BARs.
///
/// `Send` so that the machine can own models on whichever thread runs the guest CPU. As with
/// [`MmioDevice`](crate::mmio::MmioDevice), no access may panic: an access a BAR does not decode
/// reads all ones (`width.mask()`) and a write is dropped.
pub trait PciFunction: Send {
    /// The configuration space, for configuration reads and for the machine's BAR decoding.
    fn config(&self) -> &PciConfigSpace;

    /// The configuration space, for configuration writes and for firmware assigning BARs.
    fn config_mut(&mut self) -> &mut PciConfigSpace;

    /// Reads `width` bytes at `offset` within BAR `bar` (memory or I/O), zero-extended.
    ///
    /// The machine calls it only for an access it decoded to that BAR, with decoding enabled;
    /// the model still rejects offsets or widths it does not decode, without panicking.
    fn bar_read(&mut self, bar: u8, offset: u64, width: AccessWidth) -> u64;

    /// Writes the low `width` bytes of `value` at `offset` within BAR `bar`.
    fn bar_write(&mut self, bar: u8, offset: u64, width: AccessWidth, value: u64);

    /// Lets pending work complete, as if enough time had passed on real hardware, with `dma`
    /// as the function's view of memory when it masters the bus.
    ///
    /// The machine calls it after every access to the function and whenever a driver waits
    /// (a polling loop, a stall). The default does nothing, for models whose every effect is
    /// immediate.
    fn tick(&mut self, dma: &mut dyn DmaMemory) {
        let _ = dma;
    }

    /// Whether the function asserts its INTx pin right now (level-triggered). Models return
    /// false while [`PciConfigSpace::intx_disabled`] holds, as the command register demands.
    fn interrupt_pending(&self) -> bool {
        false
    }
}
