//! TCP keepalive on IKC's connections, both ways: a peer whose machine
//! dies sends nothing, so only keepalive tells a side that just waits.
//! Checked from the system's own table of TCP sockets (`/proc/net/tcp`),
//! whose timer column is the keepalive timer (2) on an idle connection
//! that has it, and none (0) on one that does not.

mod support;

use std::{
    io::Read,
    net::{SocketAddr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

use roe_engine::Keepalive;
use roe_ikc::{IkcClient, IkcConfig};

use support::{Node, PATIENCE};

/// The timer of the IPv4 TCP socket whose local address is `local` and
/// remote `remote`, as `/proc/net/tcp` shows it: (kind, seconds left).
fn timer(local: SocketAddr, remote: SocketAddr) -> Option<(u8, u64)> {
    let hex = |addr: SocketAddr| match addr {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => unreachable!("loopback IPv4"),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&local.as_str()) || fields.get(2) != Some(&remote.as_str()) {
            return None;
        }
        let (kind, when) = fields.get(5)?.split_once(':')?;
        let jiffies = u64::from_str_radix(when, 16).ok()?;
        Some((kind.parse().ok()?, jiffies / 100))
    })
}

/// Waits until the socket from `local` to `remote` shows `want`'s timer
/// kind.
fn timer_becomes(local: SocketAddr, remote: SocketAddr, want: u8) -> (u8, u64) {
    let started = Instant::now();
    loop {
        if let Some(found) = timer(local, remote)
            && found.0 == want
        {
            return found;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the socket {local} → {remote} shows {:?}",
            timer(local, remote)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A client of a plain listener, with `config`: its socket's addresses
/// (local, remote) and the accepted side, kept open.
fn client(config: IkcConfig) -> (Node, SocketAddr, SocketAddr, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let node = Node::start(config, 1, false, move |ikc, kernel| {
        IkcClient::tcp("127.0.0.1", port)
            .spawn(ikc, kernel)
            .map(drop)
    });
    let (accepted, from) = listener.accept().unwrap();
    (node, from, listener.local_addr().unwrap(), accepted)
}

#[test]
fn a_client_s_connection_has_keepalive_by_default_and_none_when_turned_off() {
    let (node, local, remote, _accepted) = client(IkcConfig::new("Keeper"));
    // The keepalive timer, due within its 30 s of quiet.
    let (_, left) = timer_becomes(local, remote, 2);
    assert!(left <= 30, "{left} s");
    node.stop();

    let (node, local, remote, mut accepted) = client(IkcConfig::new("Bare").keepalive(None));
    // Connected and idle, its first bytes (the handshake) sent: no timer.
    let mut magic = [0; 4];
    accepted.read_exact(&mut magic).unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(300) {
        assert_eq!(timer(local, remote).map(|t| t.0), Some(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    node.stop();
}

#[test]
fn a_server_s_connections_have_keepalive_as_configured() {
    let keepalive = Keepalive {
        idle: Duration::from_secs(77),
        interval: Duration::from_secs(5),
        probes: 2,
    };
    let server = Node::start(
        IkcConfig::new("Server").keepalive(Some(keepalive)),
        1,
        true,
        |_, _| Ok(()),
    );
    let peer = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    let (local, remote) = (peer.peer_addr().unwrap(), peer.local_addr().unwrap());
    let (_, left) = timer_becomes(local, remote, 2);
    assert!((30..=77).contains(&left), "{left} s");
    drop(peer);
    server.stop();
}
