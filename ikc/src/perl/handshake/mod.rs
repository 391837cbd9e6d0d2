//! The handshake with a Perl IKC peer, both sides, as state machines fed
//! lines and returning bytes to write: no sockets, no clocks.

mod client;
mod common;
mod config;
mod error;
mod peer;
mod server;
mod setup;
mod words;

pub use self::{
    client::ClientHandshake,
    config::HandshakeConfig,
    error::HandshakeError,
    peer::{Dialect, HandshakeStep, Peer, Serializer},
    server::ServerHandshake,
};
