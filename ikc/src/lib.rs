//! roe-ikc: inter-kernel communication, POE::Component::IKC's model for
//! roe.
//!
//! Kernels in different processes (or on different hosts) post to and call
//! each other's published sessions by *specifier*, `poe://kernel/session/
//! state`, as IKC's do. This crate holds the pieces of that, layered:
//!
//! - [`value`]: [`WireValue`], what crosses a process: the portable part of
//!   roe's [`Value`](roe_engine::Value), borrowed from the read buffer when
//!   decoded.
//! - [`identity`]: kernel IDs, unique names in POE's shape.
//! - [`directory`]: what one process's IKC knows, shared by its kernels:
//!   published states, connected kernels and their names.
//! - [`storable`]: Perl Storable's network-order images (`nfreeze` /
//!   `thaw`), how unmodified Perl IKC peers encode their messages, to and
//!   from roe's [`Value`](roe_engine::Value).
//! - [`specifier`]: [`Specifier`], IKC's address of a kernel, session or
//!   state (`poe://kernel/session/state?arg`), read and written in its
//!   string form as IKC does, and in its hash form.
//! - [`native`]: roe's own wire between roe kernels: a versioned handshake
//!   (with an optional pre-shared key that is never sent) and speedy frames
//!   for posts, calls and their replies, publishing and pings, as a codec
//!   without I/O that is safe to feed a hostile peer's bytes.
#![forbid(unsafe_code)]

pub mod directory;
pub mod identity;
pub mod native;
pub mod specifier;
pub mod storable;
pub mod value;

pub use self::specifier::{Expected, Kernel, Part, Reason, Specifier, SpecifierError};
pub use self::value::{NotPortable, WireValue};
