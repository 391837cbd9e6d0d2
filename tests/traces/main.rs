//! POE 1.370's reference traces (`shared/spec/poe/traces/`), ported: each
//! test prints what the Perl script prints and compares it, byte for byte,
//! with POE's recorded output in `expected/`. Traces that need filehandles
//! or OS signals are ported with the reactor.

#[macro_use]
mod harness;

mod t01_post_call_yield_order;
mod t02_yield_fifo_global;
