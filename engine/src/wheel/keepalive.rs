//! TCP keepalive, set on a connection: how a side that only waits learns
//! that its peer's machine died or the network between was cut, which
//! sends no FIN or RST.

use std::{io, os::fd::AsFd, time::Duration};

use rustix::net::sockopt;

/// TCP keepalive for a connection: after `idle` without traffic the system
/// sends a probe, then one every `interval`; `probes` unanswered in a row
/// end the connection (its next read or write fails with `ETIMEDOUT`).
///
/// # Examples
///
/// ```
/// use std::{net::{TcpListener, TcpStream}, time::Duration};
/// use roe_engine::Keepalive;
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let stream = TcpStream::connect(listener.local_addr()?)?;
/// // A dead peer noticed within 30 s + 3 × 10 s of silence.
/// Keepalive::new(Duration::from_secs(30)).apply(&stream)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Quiet time before the first probe (whole seconds, at least one).
    pub idle: Duration,
    /// Time between probes (whole seconds, at least one).
    pub interval: Duration,
    /// Probes unanswered before the connection ends.
    pub probes: u32,
}

impl Keepalive {
    /// Probes after `idle`, then every 10 s; three missed end the
    /// connection.
    pub const fn new(idle: Duration) -> Keepalive {
        Keepalive {
            idle,
            interval: Duration::from_secs(10),
            probes: 3,
        }
    }

    /// Sets it on `socket`, a TCP socket.
    ///
    /// # Errors
    ///
    /// The system refused an option (not a TCP socket, say).
    pub fn apply(&self, socket: &impl AsFd) -> io::Result<()> {
        let second = Duration::from_secs(1);
        sockopt::set_socket_keepalive(socket, true)?;
        sockopt::set_tcp_keepidle(socket, self.idle.max(second))?;
        sockopt::set_tcp_keepintvl(socket, self.interval.max(second))?;
        sockopt::set_tcp_keepcnt(socket, self.probes.max(1))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn the_options_are_set_as_given() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(!sockopt::socket_keepalive(&stream).unwrap());
        let keepalive = Keepalive {
            idle: Duration::from_secs(7),
            interval: Duration::from_secs(2),
            probes: 4,
        };
        keepalive.apply(&stream).unwrap();
        assert!(sockopt::socket_keepalive(&stream).unwrap());
        assert_eq!(
            sockopt::tcp_keepidle(&stream).unwrap(),
            Duration::from_secs(7)
        );
        assert_eq!(
            sockopt::tcp_keepintvl(&stream).unwrap(),
            Duration::from_secs(2)
        );
        assert_eq!(sockopt::tcp_keepcnt(&stream).unwrap(), 4);
        // Not a TCP socket: an error, not a panic.
        let (pipe, _) = std::io::pipe().unwrap();
        assert!(Keepalive::new(Duration::from_secs(1)).apply(&pipe).is_err());
    }
}
