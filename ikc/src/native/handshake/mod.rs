//! The handshake, as two state machines that take decoded frames and give
//! back bytes to send: no sockets, no clocks. The caller reads and writes,
//! and bounds the handshake's time with a timer of its own.

mod client;
mod config;
mod error;
mod names;
mod nonce;
mod peer;
mod server;
mod step;
#[cfg(test)]
mod tests;

pub use self::{
    client::ClientHandshake,
    config::HandshakeConfig,
    error::HandshakeError,
    names::{
        MAX_NAME_LEN, MAX_NAMES, MAX_PUBLISHED_SESSIONS, MAX_PUBLISHED_STATES, NameError,
        check_name,
    },
    nonce::random_nonce,
    peer::Peer,
    server::ServerHandshake,
    step::HandshakeStep,
};
