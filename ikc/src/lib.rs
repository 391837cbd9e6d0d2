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
//! - [`perl`]: the wire of unmodified Perl IKC peers (IKC0 and legacy
//!   handshakes, `<length>\0<Storable image>` frames, and their messages
//!   typed), as a codec without I/O.
//! - [`lite`]: [`LiteClient`](lite::LiteClient), a blocking client of one
//!   IKC server for code without a kernel (IKC's ClientLite): post, call,
//!   `post_respond` and ping over the native wire.
//!
//! On those, the running parts:
//!
//! - [`Ikc`] and [`IkcConfig`]: one process's IKC, shared by its kernels;
//!   [`Ikc::start`] runs IKC's responder (alias `IKC`, IKC's API as its
//!   states) on a kernel and lets that kernel's plain `post` and
//!   `call_reply` reach `poe://` addresses and names peers published.
//! - [`IkcServer`] listens for peers, [`IkcClient`] connects to one (and
//!   again when the connection is lost).
#![forbid(unsafe_code)]

mod channel;
mod client;
pub mod directory;
pub mod identity;
mod ikc;
pub mod lite;
mod monitor;
pub mod native;
pub mod perl;
mod request;
mod responder;
mod router;
mod server;
pub mod specifier;
pub mod storable;
mod thunk;
pub mod value;

pub use self::client::IkcClient;
pub use self::ikc::{Ikc, IkcConfig};
pub use self::server::{IkcListener, IkcServer};
pub use self::specifier::{Expected, Kernel, Part, Reason, Specifier, SpecifierError};
pub use self::thunk::wantarray;
pub use self::value::{NotPortable, WireValue};
