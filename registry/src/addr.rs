//! [`RegistryAddr`]: where a registry's three ports are, as one word.

use std::fmt;
use std::net::{Ipv6Addr, SocketAddr};
use std::str::FromStr;

use crate::line::Port;

/// A registry's host and its three port numbers, written
/// `<host>:<new>,<find>,<event>` (`127.0.0.1:6701,6702,6703`), an IPv6
/// host between brackets (`[::1]:6701,6702,6703`).
///
/// This is what a server prints once it listens, and what its clients are
/// given. A host alone stands for Inferno::RegMgr::TCP's default ports,
/// 6701, 6702 and 6703. A port number may be 0 in a server's configuration
/// (any free port); the server reports the numbers it got.
///
/// # Examples
///
/// ```
/// use roe_registry::{Port, RegistryAddr};
///
/// let addr: RegistryAddr = "10.0.0.7:7001,7002,7003".parse()?;
/// assert_eq!(addr.host(), "10.0.0.7");
/// assert_eq!(addr.port(Port::Find), 7002);
/// assert_eq!(addr.to_string(), "10.0.0.7:7001,7002,7003");
/// assert_eq!(addr.connect_to(Port::Event), "10.0.0.7:7003");
///
/// let local: RegistryAddr = "::1".parse()?;
/// assert_eq!(local.to_string(), "[::1]:6701,6702,6703");
/// assert_eq!(local.connect_to(Port::New), "[::1]:6701");
/// assert!("host:6701".parse::<RegistryAddr>().is_err(), "three ports or none");
/// # Ok::<(), roe_registry::AddrError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RegistryAddr {
    host: String,
    ports: [u16; 3],
}

impl Default for RegistryAddr {
    /// The loopback address on the default ports: `127.0.0.1:6701,6702,6703`.
    fn default() -> RegistryAddr {
        RegistryAddr::new("127.0.0.1", Port::ALL.map(Port::default_number))
    }
}

impl RegistryAddr {
    /// `host` with the ports of new, find and event, in that order.
    pub fn new(host: impl Into<String>, ports: [u16; 3]) -> RegistryAddr {
        RegistryAddr {
            host: host.into(),
            ports,
        }
    }

    /// The address of three sockets on the same IP address (a server's,
    /// once bound), in the order new, find, event.
    pub fn of_sockets(new: SocketAddr, find: SocketAddr, event: SocketAddr) -> RegistryAddr {
        RegistryAddr::new(
            new.ip().to_string(),
            [new.port(), find.port(), event.port()],
        )
    }

    /// The host: an IP address or a name, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The number of `port`.
    pub fn port(&self, port: Port) -> u16 {
        self.ports[index(port)]
    }

    /// The three port numbers: new, find, event.
    pub fn ports(&self) -> [u16; 3] {
        self.ports
    }

    /// The same host with other ports.
    pub fn with_ports(mut self, ports: [u16; 3]) -> RegistryAddr {
        self.ports = ports;
        self
    }

    /// `host:port` for `port`, as `TcpStream::connect` and
    /// `TcpListener::bind` take it (an IPv6 host between brackets).
    pub fn connect_to(&self, port: Port) -> String {
        format!("{}:{}", Bracketed(&self.host), self.port(port))
    }
}

fn index(port: Port) -> usize {
    match port {
        Port::New => 0,
        Port::Find => 1,
        Port::Event => 2,
    }
}

/// A host, bracketed when it is an IPv6 address.
struct Bracketed<'a>(&'a str);

impl fmt::Display for Bracketed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.contains(':') {
            write!(f, "[{}]", self.0)
        } else {
            f.write_str(self.0)
        }
    }
}

impl fmt::Display for RegistryAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [new, find, event] = self.ports;
        write!(f, "{}:{new},{find},{event}", Bracketed(&self.host))
    }
}

/// Why a text is not a [`RegistryAddr`]; the message says what was
/// expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrError(String);

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; a registry's address is <host> or <host>:<new>,<find>,<event>",
            self.0
        )
    }
}

impl std::error::Error for AddrError {}

impl FromStr for RegistryAddr {
    type Err = AddrError;

    fn from_str(text: &str) -> Result<RegistryAddr, AddrError> {
        let bad = |why: String| AddrError(why);
        let (host, ports) = if let Some(rest) = text.strip_prefix('[') {
            let (host, rest) = rest
                .split_once(']')
                .ok_or_else(|| bad(format!("{text:?}: a '[' without its ']'")))?;
            if host.parse::<Ipv6Addr>().is_err() {
                return Err(bad(format!(
                    "{host:?} between brackets is not an IPv6 address"
                )));
            }
            match rest {
                "" => (host, None),
                _ => {
                    let ports = rest
                        .strip_prefix(':')
                        .ok_or_else(|| bad(format!("{text:?}: expected ':' after ']'")))?;
                    (host, Some(ports))
                }
            }
        } else if text.parse::<Ipv6Addr>().is_ok() {
            (text, None)
        } else {
            match text.rsplit_once(':') {
                Some((host, ports)) => (host, Some(ports)),
                None => (text, None),
            }
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(bad(format!("{text:?} names no host")));
        }
        let ports = match ports {
            None => Port::ALL.map(Port::default_number),
            Some(ports) => {
                let numbers: Vec<&str> = ports.split(',').collect();
                let [new, find, event] = numbers[..] else {
                    return Err(bad(format!(
                        "{ports:?}: three port numbers, new, find and event, separated by commas"
                    )));
                };
                let number = |word: &str| {
                    word.parse::<u16>()
                        .map_err(|_| bad(format!("{word:?} is not a port number (0 to 65535)")))
                };
                [number(new)?, number(find)?, number(event)?]
            }
        };
        Ok(RegistryAddr::new(host, ports))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_read_and_written() {
        for (text, host, ports, written) in [
            ("host", "host", [6701, 6702, 6703], "host:6701,6702,6703"),
            ("127.0.0.1:0,0,0", "127.0.0.1", [0, 0, 0], "127.0.0.1:0,0,0"),
            ("[::1]:1,2,3", "::1", [1, 2, 3], "[::1]:1,2,3"),
            ("[::1]", "::1", [6701, 6702, 6703], "[::1]:6701,6702,6703"),
            (
                "fe80::1",
                "fe80::1",
                [6701, 6702, 6703],
                "[fe80::1]:6701,6702,6703",
            ),
        ] {
            let addr: RegistryAddr = text.parse().unwrap();
            assert_eq!((addr.host(), addr.ports()), (host, ports), "{text}");
            assert_eq!(addr.to_string(), written);
            assert_eq!(written.parse::<RegistryAddr>().unwrap(), addr);
        }
    }

    #[test]
    fn addresses_refused() {
        for text in [
            "",
            ":1,2,3",
            "host:1",
            "host:1,2",
            "host:1,2,3,4",
            "host:a,b,c",
            "host:70000,1,2",
            "[::1",
            "[nothost]:1,2,3",
            "[::1]1,2,3",
            "two words",
        ] {
            assert!(text.parse::<RegistryAddr>().is_err(), "{text:?} accepted");
        }
    }
}
