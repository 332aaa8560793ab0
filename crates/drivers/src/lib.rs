//! Reference drivers for the devices of the default machine.
#![no_std]
extern crate alloc;
