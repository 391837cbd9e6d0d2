//! roe's kernel: POE 1.370's sessions, events, timers and signals, in Rust,
//! on one thread, without async.
//!
//! A [`Kernel`] runs [`Session`]s: state machines whose handlers are keyed by
//! event name and share a typed heap. Handlers [`post`](Context::post) and
//! [`yield_`](Context::yield_) events to be queued,
//! [`call`](Context::call) each other synchronously, set timers
//! ([`delay`](Context::delay), [`alarm`](Context::alarm) and their kin) and
//! watch signals ([`sig`](Context::sig)), all through the [`Context`] they are
//! handed. Arguments are [`Value`]s, which can cross a process (see
//! `roe-ikc`), plus local typed payloads. Sessions live while POE's
//! reference counting says they do; a handler that fails or panics raises
//! POE's `DIE` signal, and an unhandled one ends [`Kernel::run`] with an
//! error.
//!
//! The semantics are POE's, traced against POE 1.370 itself; where roe
//! differs on purpose, docs/porting.md says so. This crate is not an async
//! runtime: nothing here is a future, and handlers run to completion.
//!
//! # Examples
//!
//! Two sessions play ping-pong through an alias:
//!
//! ```
//! use roe_engine::{Kernel, Session};
//!
//! let mut kernel = Kernel::new()?;
//! kernel.spawn(
//!     Session::new(())
//!         .on("_start", |cx, _| cx.alias_set("pong"))
//!         .on("ping", |cx, args| {
//!             let sender = cx.sender();
//!             cx.post(sender, "pong", args)
//!         }),
//! )?;
//! kernel.spawn(
//!     Session::new(0u32)
//!         .on("_start", |cx, _| cx.post("pong", "ping", (1,)))
//!         .on("pong", |cx, args| {
//!             *cx.heap += 1;
//!             let n = args[0].as_int().unwrap_or(0);
//!             if n < 10 {
//!                 cx.post("pong", "ping", (n + 1,))?;
//!             }
//!             Ok(())
//!         })
//!         .on("_stop", |cx, _| assert_eq!(*cx.heap, 10)),
//! )?;
//! kernel.run()?;
//! # Ok::<(), roe_engine::Error>(())
//! ```

#![deny(unsafe_code)]

mod clock;
mod component;
mod error;
mod event;
mod filter;
mod id;
mod kernel;
mod mailbox;
mod queue;
mod reactor;
mod runtime;
mod session;
mod signal;
mod snapshot;
mod value;
mod wheel;

/// The read loop and the write buffer roe's wheels are built on, for I/O
/// sources of your own (see [`Source`]).
pub mod stream {
    pub use crate::wheel::stream::{Duplex, Filled, Outbox, fill};
}

pub use crate::{
    component::{
        Backoff, ClientConnection, Connection, Failure, Listening, Retries, ServerInfo,
        ServerStats, Spawner, TcpClient, TcpServer,
    },
    error::{Died, Error, Result, TryPostError},
    event::Event,
    filter::{Block, Filter, FilterError, FrameBuffer, Framing, Line, Speedy, Stack, Stream},
    id::{KernelId, SessionId, TimerId},
    kernel::{
        Answer, Callback, ChildExit, Context, Dest, Io, Kernel, Postback, Readiness, RemovedTimer,
        Routed, Router, Shift, Source, SourceRef, Unrouted,
    },
    reactor::{Descriptor, Mode},
    runtime::{Runtime, RuntimeBuilder, RuntimeHandle},
    session::{Object, Package, Return, Session},
    signal::is_handled as is_signal_handled,
    snapshot::{Counters, Detail, QueuedSnapshot, SessionSnapshot, Snapshot, SnapshotReader},
    value::{Args, Local, Map, NotLocal, Str, Value},
    wheel::{
        Domain, Duplex, FollowTail, FollowTailBuilder, Keepalive, ListenAccept,
        ListenAcceptBuilder, Listener, ReadWrite, ReadWriteBuilder, Run, RunBuilder, SocketFactory,
        SocketFactoryBuilder, WheelId,
    },
};
