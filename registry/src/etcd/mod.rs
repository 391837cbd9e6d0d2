//! The etcd backend: several registry servers sharing one store.
//!
//! With [`ServerConfig::etcd`](crate::ServerConfig::etcd) a server keeps
//! its services in etcd instead of in itself: each service is a key under
//! a prefix (`roe-registry/` unless configured), its value the service's
//! registry(4) line and, if it has one, its owner token. A service is held
//! by an etcd lease that its owning connection's server keeps alive, so a
//! registration lives exactly as long as its connection, across servers:
//! when a connection closes its server ends the lease (a persistent
//! service is first put again without one), and when a whole server dies
//! its leases run out and etcd removes what they held.
//!
//! Each server keeps a mirror of the prefix, read whole at start and kept
//! current by an etcd watch; finds, watchers and the event port's counters
//! are served from the mirror, so they cost etcd nothing, and every server
//! sees every change in etcd's order. Writes go to etcd first and reach
//! the mirror, on every server alike, through the watch.
//!
//! No async runtime: a worker thread makes the calls (a small HTTP/1.1
//! client on one kept-alive connection, [`http`]) and renews the leases,
//! a second thread follows the watch, and both hand their results to the
//! server's kernel through a queue and a wake-up socket ([`backend`]).

pub(crate) mod backend;
mod client;
mod http;
mod json;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::line::parse_service;
use crate::owner::Token;
use crate::service::Service;

/// Where a server's shared store is: an etcd endpoint, the prefix of its
/// keys, and how long a registration outlives a server that stopped
/// renewing it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use roe_registry::EtcdConfig;
///
/// let etcd: EtcdConfig = "http://127.0.0.1:2379".parse()?;
/// assert_eq!(etcd.host(), "127.0.0.1:2379");
/// assert_eq!(etcd.prefix(), "roe-registry/");
/// let etcd = etcd.with_prefix("lab/").lease(Duration::from_secs(5));
/// assert_eq!(etcd.to_string(), "http://127.0.0.1:2379 (keys lab/, leases 5s)");
/// assert!("https://10.0.0.1:2379".parse::<EtcdConfig>().is_err());
/// # Ok::<(), roe_registry::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdConfig {
    host: String,
    prefix: String,
    lease: Duration,
    timeout: Duration,
}

impl EtcdConfig {
    /// The etcd at `host` (`name:port`), with the default prefix
    /// (`roe-registry/`), leases of 10 s and calls that wait 5 s.
    pub fn new(host: impl Into<String>) -> EtcdConfig {
        EtcdConfig {
            host: host.into(),
            prefix: "roe-registry/".to_owned(),
            lease: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        }
    }

    /// The prefix of the keys: servers that share one also share their
    /// services.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> EtcdConfig {
        self.prefix = prefix.into();
        self
    }

    /// How long a registration outlives a server that stopped renewing its
    /// lease (whole seconds, at least one); renewed every third of it.
    pub fn lease(mut self, ttl: Duration) -> EtcdConfig {
        self.lease = Duration::from_secs(ttl.as_secs().max(1));
        self
    }

    /// How long a call to etcd may wait (to connect, and then for each
    /// read and write).
    pub fn timeout(mut self, timeout: Duration) -> EtcdConfig {
        self.timeout = timeout;
        self
    }

    /// The endpoint, `name:port`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The prefix of the keys.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of the service `name`.
    fn key(&self, name: &str) -> Vec<u8> {
        format!("{}{name}", self.prefix).into_bytes()
    }

    /// The service name a key under the prefix stands for.
    fn name<'k>(&self, key: &'k [u8]) -> Option<&'k str> {
        let name = key.strip_prefix(self.prefix.as_bytes())?;
        std::str::from_utf8(name).ok()
    }
}

impl FromStr for EtcdConfig {
    type Err = Error;

    /// `http://HOST:PORT` (a trailing `/` allowed), as etcd's own
    /// clients take an endpoint.
    fn from_str(url: &str) -> Result<EtcdConfig> {
        let bad = || Error::Backend(format!("{url:?} is not an etcd endpoint http://HOST:PORT"));
        let host = url.strip_prefix("http://").ok_or_else(bad)?;
        let host = host.strip_suffix('/').unwrap_or(host);
        let (name, port) = host.rsplit_once(':').ok_or_else(bad)?;
        if name.is_empty() || host.contains('/') || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        Ok(EtcdConfig::new(host))
    }
}

impl fmt::Display for EtcdConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "http://{} (keys {}, leases {}s)",
            self.host,
            self.prefix,
            self.lease.as_secs()
        )
    }
}

/// A service as etcd keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stored {
    pub service: Service,
    pub token: Option<Token>,
    /// The connection that registered it: its server's
    /// [`server_id`] and its number there.
    pub holder: Option<String>,
    /// Held by a lease: a connection (on some server) keeps it.
    pub leased: bool,
}

/// The first line of a value this backend writes (and of its version).
const HEADER: &str = "roe-registry 1\n";
/// The word before a stored owner token.
const TOKEN: &str = "token ";
/// The word before the registering connection.
const HOLDER: &str = "holder ";

/// A name for this server among those sharing a store, different at each
/// start: it tells a server's own registrations from others' that have
/// the same name and value (one made just after another closed).
pub(crate) fn server_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}

/// What etcd keeps for `service`: a header (the connection that holds
/// it, its token), a blank line, then the service's line. The line comes
/// last and whole, as a quoted value may hold a newline.
pub(crate) fn encode(service: &Service, token: Option<&Token>, holder: &str) -> Vec<u8> {
    let mut value = String::from(HEADER);
    value.push_str(HOLDER);
    value.push_str(holder);
    value.push('\n');
    if let Some(token) = token {
        value.push_str(TOKEN);
        value.push_str(token.as_str());
        value.push('\n');
    }
    value.push('\n');
    value.push_str(&service.to_string());
    value.into_bytes()
}

/// A stored value read back, for the service `name` (the key's). A value
/// without the header is a service line alone (written by hand, with
/// `etcdctl put`).
pub(crate) fn decode(name: &str, value: &[u8], leased: bool) -> Result<Stored> {
    let corrupt = |why: String| Error::Backend(format!("the value of {name:?} in etcd: {why}"));
    let text = std::str::from_utf8(value).map_err(|_| corrupt("not UTF-8".into()))?;
    let (mut token, mut holder) = (None, None);
    let line = match text.strip_prefix(HEADER) {
        Some(rest) => {
            let (head, line) = rest
                .split_once("\n\n")
                .ok_or_else(|| corrupt("a header without its end".into()))?;
            for field in head.lines() {
                if let Some(secret) = field.strip_prefix(TOKEN) {
                    token = Some(Token::new(secret).map_err(|error| corrupt(error.to_string()))?);
                } else if let Some(who) = field.strip_prefix(HOLDER) {
                    holder = Some(who.to_owned());
                } else {
                    return Err(corrupt(format!("a header line {field:?}")));
                }
            }
            line
        }
        None => text.strip_suffix('\n').unwrap_or(text),
    };
    let service = parse_service(line.as_bytes()).map_err(|error| corrupt(error.to_string()))?;
    if service.name() != name {
        return Err(corrupt(format!("it is {:?}", service.name())));
    }
    Ok(Stored {
        service,
        token,
        holder,
        leased,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_round_trip_through_their_values() {
        let mut service = Service::new("tcp!host!1").unwrap();
        service.set_all([
            ("proto".into(), "ikc".into()),
            ("note".into(), "it's here".into()),
        ]);
        let token = Token::new("s3cret").unwrap();
        for token in [None, Some(&token)] {
            let stored = decode("tcp!host!1", &encode(&service, token, "ab-3"), true).unwrap();
            assert_eq!(stored.service, service);
            assert_eq!(
                stored.token.as_ref().map(Token::as_str),
                token.map(Token::as_str)
            );
            assert_eq!(stored.holder.as_deref(), Some("ab-3"));
            assert!(stored.leased);
        }
        // What a hand-written value (etcdctl put) holds: a line alone.
        for value in [&b"a x y"[..], b"a x y\n"] {
            let stored = decode("a", value, false).unwrap();
            assert_eq!((stored.token, stored.holder), (None, None));
            assert_eq!(stored.service.to_string(), "a x y");
        }
        assert_ne!(server_id(), server_id());
    }

    #[test]
    fn values_that_are_not_services_are_refused() {
        for (name, value) in [
            ("a", &b"b\n"[..]),
            ("a", b"a odd\n"),
            ("a", b"a\nsecret\n"),
            ("a", b"roe-registry 1\nholder h\na"),
            ("a", b"roe-registry 1\nsecret\n\na"),
            ("a", b"roe-registry 1\ntoken two words\n\na"),
            ("a", b"\xff"),
            ("a", b""),
        ] {
            assert!(decode(name, value, false).is_err(), "{value:?}");
        }
    }

    #[test]
    fn endpoints_parse_as_urls() {
        let etcd: EtcdConfig = "http://localhost:2379/".parse().unwrap();
        assert_eq!(etcd.host(), "localhost:2379");
        for bad in [
            "localhost:2379",
            "http://:2379",
            "http://host",
            "http://h:99999",
            "http://h:1/x",
        ] {
            assert!(bad.parse::<EtcdConfig>().is_err(), "{bad}");
        }
        let etcd = EtcdConfig::new("h:1");
        assert_eq!(etcd.name(&etcd.key("svc")), Some("svc"));
        assert_eq!(etcd.name(b"other/svc"), None);
    }
}
