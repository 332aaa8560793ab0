//! iospace Plug and Play (being written).
#![no_std]
