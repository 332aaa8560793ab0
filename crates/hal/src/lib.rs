//! The iospace HAL (being written).
#![no_std]
