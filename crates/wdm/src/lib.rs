//! A `wdm.h`-compatible C ABI over the hosted machine.
