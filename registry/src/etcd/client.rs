//! The etcd calls the backend makes, over the gateway's JSON: leases,
//! a create that refuses an existing key, puts, deletes, a range read of
//! the prefix and a watch of it.
//!
//! Each call runs on one kept-alive [`Http`] connection, made again once
//! if etcd had closed it (etcd closes idle connections).

use std::io::{self, ErrorKind};

use roe_engine::Keepalive;
use std::time::Duration;

use super::http::Http;
use super::json::{self, Json, base64, unbase64};

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, what.into())
}

/// A key and its value as etcd holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Kv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// The lease that holds it; 0 for none.
    pub lease: i64,
}

/// A change a watch reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KvEvent {
    Put(Kv),
    Delete(Vec<u8>),
}

/// A connection to etcd for calls.
#[derive(Debug)]
pub(crate) struct Etcd {
    host: String,
    timeout: Duration,
    http: Option<Http>,
}

impl Etcd {
    /// A client of the etcd at `host` (`name:port`); connects at the
    /// first call.
    pub(crate) fn new(host: &str, timeout: Duration) -> Etcd {
        Etcd {
            host: host.to_owned(),
            timeout,
            http: None,
        }
    }

    /// One call: its answer as JSON.
    fn call(&mut self, path: &str, body: &str) -> io::Result<Json> {
        // A kept-alive connection etcd has closed fails at once; the call
        // is made again once on a new one.
        for attempt in 0..2 {
            let http = match &mut self.http {
                Some(http) => http,
                None => self.http.insert(Http::connect(&self.host, self.timeout)?),
            };
            match http.post(path, body) {
                Ok(text) => return json::parse(&text).map_err(invalid),
                Err(error) => {
                    self.http = None;
                    let stale = matches!(
                        error.kind(),
                        ErrorKind::UnexpectedEof
                            | ErrorKind::ConnectionReset
                            | ErrorKind::BrokenPipe
                            | ErrorKind::ConnectionAborted
                    );
                    if attempt == 1 || !stale {
                        return Err(error);
                    }
                }
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// A lease of `ttl`: its ID.
    pub(crate) fn grant(&mut self, ttl: Duration) -> io::Result<i64> {
        let answer = self.call(
            "/v3/lease/grant",
            &format!(r#"{{"TTL":{}}}"#, ttl.as_secs().max(1)),
        )?;
        answer
            .get("ID")
            .and_then(Json::as_i64)
            .ok_or_else(|| invalid("a lease grant without an ID"))
    }

    /// Keeps `lease` alive; whether it still was. The gateway answers an
    /// expired lease with a result whose TTL is left out (zero), and a
    /// failure (no leader, say) with an `error` member, which is an error
    /// here, not an expiry.
    pub(crate) fn keep_alive(&mut self, lease: i64) -> io::Result<bool> {
        let answer = self.call("/v3/lease/keepalive", &format!(r#"{{"ID":"{lease}"}}"#))?;
        let result = answer
            .get("result")
            .ok_or_else(|| io::Error::other(format!("etcd did not renew the lease: {answer:?}")))?;
        Ok(result.get("TTL").and_then(Json::as_i64).unwrap_or(0) > 0)
    }

    /// Ends `lease`, and with it every key it holds.
    pub(crate) fn revoke(&mut self, lease: i64) -> io::Result<()> {
        match self.call("/v3/lease/revoke", &format!(r#"{{"ID":"{lease}"}}"#)) {
            // Already gone (expired): what revoking wanted.
            Err(error) if error.to_string().contains("lease not found") => Ok(()),
            other => other.map(drop),
        }
    }

    /// Puts `key` unless it exists; whether it was put.
    pub(crate) fn create(&mut self, key: &[u8], value: &[u8], lease: i64) -> io::Result<bool> {
        let key = base64(key);
        let body = format!(
            r#"{{"compare":[{{"key":"{key}","target":"CREATE","create_revision":"0"}}],"success":[{{"request_put":{}}}]}}"#,
            put_body(&key, value, lease)
        );
        let answer = self.call("/v3/kv/txn", &body)?;
        Ok(answer.get("succeeded").and_then(Json::as_bool) == Some(true))
    }

    /// Puts `key`, held by `lease` (0: by none), if it is held by `held`
    /// now: a write for a service this server registered, which must not
    /// land on a key that has since gone to someone else. Whether it was
    /// put.
    pub(crate) fn put_if_held(
        &mut self,
        key: &[u8],
        value: &[u8],
        held: i64,
        lease: i64,
    ) -> io::Result<bool> {
        let key = base64(key);
        let body = format!(
            r#"{{"compare":[{{"key":"{key}","target":"LEASE","lease":"{held}"}}],"success":[{{"request_put":{}}}]}}"#,
            put_body(&key, value, lease)
        );
        let answer = self.call("/v3/kv/txn", &body)?;
        Ok(answer.get("succeeded").and_then(Json::as_bool) == Some(true))
    }

    /// The value of `key`, if it exists.
    pub(crate) fn get(&mut self, key: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let answer = self.call("/v3/kv/range", &format!(r#"{{"key":"{}"}}"#, base64(key)))?;
        let kvs = answer.get("kvs").map(Json::as_array).unwrap_or_default();
        kvs.first()
            .map(|found| bytes(found.get("value")))
            .transpose()
    }

    pub(crate) fn delete(&mut self, key: &[u8]) -> io::Result<()> {
        self.call(
            "/v3/kv/deleterange",
            &format!(r#"{{"key":"{}"}}"#, base64(key)),
        )
        .map(drop)
    }

    /// Every key under `prefix`, and the revision they were read at.
    pub(crate) fn range(&mut self, prefix: &[u8]) -> io::Result<(i64, Vec<Kv>)> {
        let body = format!(
            r#"{{"key":"{}","range_end":"{}"}}"#,
            base64(prefix),
            base64(&prefix_end(prefix))
        );
        let answer = self.call("/v3/kv/range", &body)?;
        let revision = revision(&answer)?;
        let kvs = answer
            .get("kvs")
            .map(Json::as_array)
            .unwrap_or_default()
            .iter()
            .map(kv)
            .collect::<io::Result<_>>()?;
        Ok((revision, kvs))
    }
}

fn put_body(key: &str, value: &[u8], lease: i64) -> String {
    format!(
        r#"{{"key":"{key}","value":"{}","lease":"{lease}"}}"#,
        base64(value)
    )
}

/// The first key past every key that starts with `prefix`, as etcd's
/// range end for a prefix.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte 0xff: to the end of the keys.
    vec![0]
}

fn revision(answer: &Json) -> io::Result<i64> {
    answer
        .get("header")
        .and_then(|header| header.get("revision"))
        .and_then(Json::as_i64)
        .ok_or_else(|| invalid("an answer without a revision"))
}

fn bytes(field: Option<&Json>) -> io::Result<Vec<u8>> {
    match field.and_then(Json::as_str) {
        Some(text) => unbase64(text).map_err(invalid),
        None => Ok(Vec::new()),
    }
}

fn kv(json: &Json) -> io::Result<Kv> {
    Ok(Kv {
        key: bytes(json.get("key"))?,
        value: bytes(json.get("value"))?,
        lease: json.get("lease").and_then(Json::as_i64).unwrap_or(0),
    })
}

/// A watch of every key under a prefix, from a revision on.
#[derive(Debug)]
pub(crate) struct KvWatch {
    http: Http,
    /// Bytes of the stream not yet a whole message.
    pending: Vec<u8>,
    /// How much of `pending` holds no newline.
    scanned: usize,
}

/// TCP keepalive: probes after 10 s of quiet, every 5 s, 3 missed ones
/// ending the connection.
const KEEPALIVE: Keepalive = Keepalive {
    idle: Duration::from_secs(10),
    interval: Duration::from_secs(5),
    probes: 3,
};

impl KvWatch {
    /// Watches `prefix` at the etcd at `host`, from `start` on. Waits at
    /// most `timeout` to connect and for the watch to be created; then
    /// [`next`](KvWatch::next) waits for ever.
    pub(crate) fn open(
        host: &str,
        prefix: &[u8],
        start: i64,
        timeout: Duration,
    ) -> io::Result<KvWatch> {
        let mut http = Http::connect(host, timeout)?;
        let body = format!(
            r#"{{"create_request":{{"key":"{}","range_end":"{}","start_revision":"{start}"}}}}"#,
            base64(prefix),
            base64(&prefix_end(prefix))
        );
        // A host that vanishes without a reset (a partition) is noticed by
        // TCP keepalive, as the stream may be quiet for ever.
        KEEPALIVE.apply(&http.socket()?)?;
        http.open_stream("/v3/watch", &body)?;
        let mut watch = KvWatch {
            http,
            pending: Vec::new(),
            scanned: 0,
        };
        // The first message says the watch is made.
        let first = watch.message()?;
        if first.get("created").and_then(Json::as_bool) != Some(true) {
            return Err(invalid(format!("etcd did not make the watch: {first:?}")));
        }
        watch.http.read_timeout(None)?;
        Ok(watch)
    }

    /// A handle to [`Http::shutdown`] from another thread.
    pub(crate) fn socket(&self) -> io::Result<std::net::TcpStream> {
        self.http.socket()
    }

    /// The next changes, in order.
    ///
    /// # Errors
    ///
    /// The stream ended or broke, or etcd cancelled the watch (its start
    /// was compacted away): the watcher must read the range again.
    pub(crate) fn next(&mut self) -> io::Result<Vec<KvEvent>> {
        loop {
            let message = self.message()?;
            if message.get("canceled").and_then(Json::as_bool) == Some(true) {
                let why = message
                    .get("cancel_reason")
                    .and_then(Json::as_str)
                    .unwrap_or("");
                return Err(io::Error::other(format!("etcd cancelled the watch: {why}")));
            }
            let events = message
                .get("events")
                .map(Json::as_array)
                .unwrap_or_default();
            if events.is_empty() {
                // Progress notices and the like.
                continue;
            }
            return events
                .iter()
                .map(|event| {
                    let kv_json = event
                        .get("kv")
                        .ok_or_else(|| invalid("an event without kv"))?;
                    Ok(match event.get("type").and_then(Json::as_str) {
                        Some("DELETE") => KvEvent::Delete(bytes(kv_json.get("key"))?),
                        _ => KvEvent::Put(kv(kv_json)?),
                    })
                })
                .collect();
        }
    }

    /// The stream's next message: the gateway writes each as one JSON
    /// object, ended by a newline.
    fn message(&mut self) -> io::Result<Json> {
        loop {
            if let Some(at) = self.pending[self.scanned..]
                .iter()
                .position(|&b| b == b'\n')
            {
                let end = self.scanned + at;
                self.scanned = 0;
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let text = std::str::from_utf8(&line)
                    .map_err(|_| invalid("a message that is not UTF-8"))?;
                if text.trim().is_empty() {
                    continue;
                }
                let json = json::parse(text).map_err(invalid)?;
                return Ok(json.get("result").cloned().unwrap_or(json));
            }
            self.scanned = self.pending.len();
            if self.pending.len() > super::http::MAX_BODY {
                return Err(invalid("a watch message larger than 64 MiB"));
            }
            match self.http.next_piece()? {
                Some(piece) => self.pending.extend_from_slice(&piece),
                None => {
                    return Err(io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "etcd ended the watch",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_past_its_keys() {
        assert_eq!(prefix_end(b"reg/"), b"reg0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), b"\0");
    }
}
