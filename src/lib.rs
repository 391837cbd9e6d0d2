//! roe: Perl's POE rebuilt in Rust, a no-async, thread-per-core event engine.
//!
//! This crate is the facade: it re-exports the engine ([`Kernel`],
//! [`Session`], [`Context`] and the rest) and hosts the `roe` command, and
//! [`workloads`], the benchmark workloads that command and the criterion
//! benches run. The member crates can also be used on their own:
//! `roe-engine` for the kernel.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use roe::{Kernel, Session};
//!
//! struct Heap { ticks: u32 }
//!
//! let mut kernel = Kernel::new()?;
//! kernel.spawn(
//!     Session::new(Heap { ticks: 0 })
//!         .on("_start", |cx, _| {
//!             cx.alias_set("ticker")?;
//!             cx.delay("tick", Duration::from_millis(1), ())
//!         })
//!         .on("tick", |cx, _| {
//!             cx.heap.ticks += 1;
//!             if cx.heap.ticks < 3 {
//!                 cx.delay("tick", Duration::from_millis(1), ())?;
//!             }
//!             Ok(())
//!         }),
//! )?;
//! kernel.run()?;
//! # Ok::<(), roe::Error>(())
//! ```

#![forbid(unsafe_code)]

pub use roe_engine::{self as engine, *};

pub mod workloads;

/// The user's guide (docs/guide.md): from a first session to a cluster,
/// every example compiled and run as a doctest.
#[doc = include_str!("../docs/guide.md")]
pub mod guide {}

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
