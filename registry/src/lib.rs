//! roe-registry: a service registry in the manner of Inferno's registry(4),
//! where kernels and services find each other.
//!
//! A service is a name with attribute/value pairs, registered through a
//! connection and removed when that connection closes, unless its `persist`
//! attribute is a non-zero number. Clients find services by attribute, and
//! watch for changes. The text protocol is that of the three TCP ports
//! Inferno::RegMgr::TCP talks to, so unmodified Perl clients work, with roe's
//! detailed, resumable watch on top (docs/registry.md describes it as served).
//!
//! This crate is the registry's pure layer, in the order each builds on the
//! last:
//!
//! - [`quote`](quote()), [`words`]: registry(4)'s quoting, `%q` out and its
//!   tokenizer in.
//! - [`Service`]: a name and its ordered attributes; the rules for names
//!   ([`check_name`]) and for `persist` ([`is_persist_value`]).
//! - [`Query`]: registry(4)'s filter, an AND of attribute/value pairs with
//!   `*` for any value.
//! - [`Store`]: the state: services and their owners ([`OwnerId`], and
//!   roe's owner [`Token`], checked through a [`Claim`]), a [`Revision`]
//!   counting every change, and a bounded log of recent [`Change`]s to
//!   resume from.
//! - [`NewLine`], [`parse_find`], [`parse_service`], [`Watch`],
//!   [`EventLine`], [`Refusal`]: every line of the three ports ([`Port`]),
//!   both ways, and [`LineReader`], which splits a byte stream into lines of
//!   at most [`MAX_LINE`] bytes.
//! - [`Watcher`]: what one connection to the event port is owed after each
//!   change, in registry(4)'s counter mode or roe's detailed mode.
//! - [`StateFile`] and [`Saved`]: persistent services saved atomically, and
//!   read back at start.
//!
//! The pure layer opens no sockets and runs no kernel. On it, and on roe's
//! engine, the server:
//!
//! - [`RegistryServer`]: the three TCP ports served by one session on a
//!   roe kernel ([`spawn`](RegistryServer::spawn)) or on a thread of its
//!   own ([`start`](RegistryServer::start), a [`ServerThread`]), set up by
//!   a [`ServerConfig`] (its [`RegistryAddr`], its state file, its limits),
//!   reporting where it listens in a [`RegistryListener`], or why it could
//!   not start in a [`ServerError`].
//!
//! And the clients, and IKC's discovery through the registry:
//!
//! - [`RegistryClient`]: the registry's client on a roe kernel, in the
//!   manner of Inferno::RegMgr::TCP: a [`Registration`] that registers
//!   again by itself whenever its connection is lost (a registry restart
//!   included), finds answered as [`Found`], and [`Subscription`]s to the
//!   event port (registry(4)'s counter or roe's detailed watch, resumed
//!   from the last revision heard) telling [`WatchEvent`]s.
//! - [`BlockingClient`]: the same for code without a kernel: a
//!   [`BlockingRegistration`] held until dropped, finds, an
//!   [`EventStream`], and roe's `remove`; every wait timed, every answer
//!   bounded, every failure a [`ClientError`].
//! - [`Discovery`]: an IKC server advertised in the registry, and IKC
//!   clients kept connected to the servers a query finds, so that a kernel
//!   that joins a cluster ends up connected to every other node.
//!
//! Nothing here blocks or panics on what a client sends; every input is
//! bounded before it is used. docs/registry.md describes the protocol as
//! served, the server's limits, and roe's additions.
//!
//! # Examples
//!
//! A registration, a query and a watcher, as a server would drive them:
//!
//! ```
//! use roe_registry::{EventLine, NewLine, OwnerId, Store, Watch, Watcher, parse_find};
//!
//! let mut store = Store::new();
//! let conn = OwnerId::new(1);
//!
//! // The event port: a client asks for detailed lines about `auth none`.
//! let mut watcher = Watcher::new(&store);
//! let mut out = Vec::new();
//! let watch = Watch::parse(b"watch auth none\n")?.expect("a watch line");
//! watcher.watch(watch, &store, &mut out)?;
//!
//! // The new port: a registration, then an update on the same connection.
//! let NewLine::Register(service) = NewLine::parse(b"tcp!host!5000 auth none\n", false)? else {
//!     unreachable!("the first line registers")
//! };
//! let name = service.name().to_owned();
//! store.register(conn, service, None)?;
//! if let NewLine::Update(attrs) = NewLine::parse(b"note 'it''s up'\n", true)? {
//!     store.update(&name, conn.into(), attrs)?;
//! }
//!
//! // The find port.
//! let query = parse_find(b"auth none\n")?;
//! let answer: String = store.find(&query).map(|s| format!("{s}\n")).collect();
//! assert_eq!(answer, "tcp!host!5000 auth none note 'it''s up'\n");
//!
//! // The connection closes; the watcher hears of everything.
//! store.remove_owner(conn);
//! watcher.catch_up(&store, &mut out)?;
//! let lines: Vec<String> = out.iter().map(EventLine::to_string).collect();
//! assert_eq!(lines, [
//!     "00000000 sync",
//!     "00000001 add tcp!host!5000 auth none",
//!     "00000002 update tcp!host!5000 auth none note 'it''s up'",
//!     "00000003 remove tcp!host!5000 auth none note 'it''s up'",
//! ]);
//! # Ok::<(), roe_registry::Error>(())
//! ```
#![forbid(unsafe_code)]

mod addr;
mod change;
mod client;
mod discovery;
mod error;
mod etcd;
mod line;
mod owner;
mod persist;
mod query;
mod quote;
mod revision;
#[cfg(test)]
mod rng;
mod server;
mod service;
mod store;
mod watch;

pub use self::addr::{AddrError, RegistryAddr};
pub use self::change::{Change, ChangeKind, Notice};
pub use self::client::{
    BlockingClient, BlockingRegistration, ClientError, DEFAULT_MAX_ANSWER, EventStream, Found,
    Register, Registration, RegistryClient, Subscription, WatchEvent,
};
pub use self::discovery::Discovery;
pub use self::error::{Error, Result};
pub use self::etcd::EtcdConfig;
pub use self::line::{
    EventLine, LineReader, MAX_LINE, NewLine, Port, READY, Refusal, Watch, parse_find,
    parse_service,
};
pub use self::owner::{Claim, OwnerId, Token};
pub use self::persist::{MAGIC, Saved, StateFile, VERSION};
pub use self::query::{MAX_PAIRS, Query};
pub use self::quote::{Quoted, Words, needs_quotes, quote, quote_line, words};
pub use self::revision::{Counter, Revision};
pub use self::server::{
    RegistryListener, RegistryServer, SHUTDOWN, ServerConfig, ServerError, ServerThread,
};
pub use self::service::{
    MAX_ATTRS, MAX_SERVICE_LEN, RESERVED_NAMES, Service, check_name, is_persist_value,
};
pub use self::store::{Store, StoreConfig};
pub use self::watch::Watcher;
