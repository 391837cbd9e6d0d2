//! The kernel-side clients' connections: [`LineFilter`], the protocol's
//! lines as a filter of roe's [`ReadWrite`] wheel, and the few steps every
//! client session takes to connect to a port and talk over it.
//!
//! A client session connects with a [`SocketFactory`], which calls
//! [`CONNECTED`] or [`CONNECT_FAILED`], then talks through a `ReadWrite`
//! wheel with a `LineFilter`, which calls [`INPUT`] once per line and
//! [`IO_ERROR`] at the end of the stream, on an error, or for a line that
//! is too long. These are the wheels' own events, POE's shape; the
//! sessions differ only in what they do with the lines.

use std::net::TcpStream;
use std::time::Duration;

use roe_engine::{
    Args, Context, Failure, Filter, FilterError, Keepalive, ReadWrite, SocketFactory, Value,
};

use super::RegistryClient;
use super::error::ClientError;
use crate::error::Error;
use crate::line::{LineReader, MAX_LINE, Port};

/// A session's event: its connection is made (`ARG0` the socket).
pub(crate) const CONNECTED: &str = "roe-registry:client-connected";
/// A session's event: its connection failed (a wheel's error arguments).
pub(crate) const CONNECT_FAILED: &str = "roe-registry:client-connect-failed";
/// A session's event: a line from the registry (`ARG0` its bytes).
pub(crate) const INPUT: &str = "roe-registry:client-input";
/// A session's event: the connection is over (a wheel's error arguments).
pub(crate) const IO_ERROR: &str = "roe-registry:client-io-error";

/// The first keepalive probe on a connection that stays open (a
/// registration, a watch) after this much silence; then one every 10 s,
/// six missed ones ending the connection, so a registry that vanished
/// without closing is noticed within a few minutes.
const KEEPALIVE: Keepalive = Keepalive {
    idle: Duration::from_secs(60),
    interval: Duration::from_secs(10),
    probes: 6,
};

/// The registry's lines as a [`Filter`]: split at newlines outside quotes,
/// as the protocol splits them, each at most [`MAX_LINE`] bytes.
///
/// A line past the bound is reported once as [`FilterError::TooLong`];
/// the filter then drops everything, since a stream cut in the middle of
/// a line cannot be read any further (the client closes it).
#[derive(Debug, Default)]
pub(crate) struct LineFilter {
    reader: LineReader,
    /// Bytes fed and not yet split, from `head`.
    fed: Vec<u8>,
    head: usize,
    failed: bool,
}

impl Filter for LineFilter {
    type Record = Vec<u8>;

    fn feed(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.fed.extend_from_slice(bytes);
        }
    }

    fn next_record(&mut self) -> Result<Option<Vec<u8>>, FilterError> {
        if self.failed {
            self.fed.clear();
            self.head = 0;
            return Ok(None);
        }
        let mut rest = &self.fed[self.head..];
        let before = rest.len();
        match self.reader.read_line(&mut rest) {
            Ok(Some(line)) => {
                let line = line.to_vec();
                self.head += before - rest.len();
                if self.head == self.fed.len() {
                    self.fed.clear();
                    self.head = 0;
                }
                Ok(Some(line))
            }
            Ok(None) => {
                self.fed.clear();
                self.head = 0;
                Ok(None)
            }
            Err(_) => {
                self.failed = true;
                self.fed = Vec::new();
                self.head = 0;
                Err(FilterError::TooLong {
                    limit: MAX_LINE,
                    length: MAX_LINE + 1,
                })
            }
        }
    }

    fn encode(&mut self, record: Vec<u8>, out: &mut Vec<u8>) -> Result<(), FilterError> {
        out.extend_from_slice(&record);
        out.push(b'\n');
        Ok(())
    }

    fn take_pending(&mut self) -> Vec<u8> {
        let pending = self.fed.split_off(self.head);
        self.fed.clear();
        self.head = 0;
        pending
    }

    fn record_value(record: Vec<u8>) -> Value {
        Value::Bytes(record)
    }

    fn value_record(value: Value) -> Option<Vec<u8>> {
        match value {
            Value::Bytes(bytes) => Some(bytes),
            Value::Str(text) => Some(text.as_bytes().to_vec()),
            _ => None,
        }
    }
}

/// Starts connecting to `port` of the client's registry; the session gets
/// [`CONNECTED`] or [`CONNECT_FAILED`].
///
/// # Errors
///
/// As [`SocketFactoryBuilder::start`](roe_engine::SocketFactoryBuilder::start)
/// (never for an address it cannot resolve: that is [`CONNECT_FAILED`]).
pub(crate) fn dial<H: 'static>(
    cx: &mut Context<'_, H>,
    client: &RegistryClient,
    port: Port,
) -> roe_engine::Result<SocketFactory> {
    SocketFactory::builder(CONNECTED, CONNECT_FAILED)
        .remote_address(client.addr.host())
        .remote_port(client.addr.port(port))
        .connect_timeout(client.connect_timeout)
        .start(cx)
}

/// Talks over the socket in [`CONNECTED`]'s arguments: a wheel that calls
/// [`INPUT`] per line and [`IO_ERROR`] at the end. A connection that stays
/// open (`lasting`) gets TCP keepalive.
///
/// # Errors
///
/// The socket is not a TCP stream, or cannot be set up; the session
/// treats it as a failed connection.
pub(crate) fn open<H: 'static>(
    cx: &mut Context<'_, H>,
    args: &mut Args,
    client: &RegistryClient,
    lasting: bool,
) -> roe_engine::Result<ReadWrite<LineFilter>> {
    let stream: TcpStream = args.take(0).take_local()?;
    let _ = stream.set_nodelay(true);
    if lasting {
        let _ = KEEPALIVE.apply(&stream);
    }
    ReadWrite::builder(stream, LineFilter::default())
        .input(INPUT)
        .error(IO_ERROR)
        .write_timeout(client.timeout)
        .start(cx)
}

/// Sends `line` (without its newline) on `wheel`; `false` when the
/// filter refused it (it never does).
pub(crate) fn send(wheel: &ReadWrite<LineFilter>, line: impl Into<String>) -> bool {
    wheel.put(line.into().into_bytes()).is_ok()
}

/// The line in [`INPUT`]'s arguments.
pub(crate) fn line_of(args: &mut Args) -> Vec<u8> {
    LineFilter::value_record(args.take(0)).unwrap_or_default()
}

/// What [`IO_ERROR`]'s arguments say, as a client error on `port`; `None`
/// for the end of the stream.
pub(crate) fn failure(port: Port, args: &Args) -> Option<ClientError> {
    let failure = Failure::from_args(args);
    if failure.is_eof() {
        return None;
    }
    Some(match failure.operation.as_str() {
        "filter" => ClientError::BadAnswer {
            port,
            error: Error::LineTooLong {
                len: MAX_LINE + 1,
                max: MAX_LINE,
            },
        },
        _ => ClientError::Io {
            port,
            error: std::io::Error::other(failure.to_string()),
        },
    })
}

/// What [`CONNECT_FAILED`]'s arguments say, as a client error.
pub(crate) fn connect_failure(client: &RegistryClient, port: Port, args: &Args) -> ClientError {
    let failure = Failure::from_args(args);
    let error = if failure.errno != 0 {
        std::io::Error::from_raw_os_error(failure.errno)
    } else {
        std::io::Error::other(failure.to_string())
    };
    ClientError::Connect {
        port,
        addr: client.addr.connect_to(port),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(filter: &mut LineFilter) -> Vec<Result<String, FilterError>> {
        let mut out = Vec::new();
        loop {
            match filter.next_record() {
                Ok(Some(line)) => out.push(Ok(String::from_utf8(line).unwrap())),
                Ok(None) => return out,
                Err(error) => out.push(Err(error)),
            }
        }
    }

    #[test]
    fn lines_split_outside_quotes_however_the_bytes_come() {
        let text = b"00000001 add svc note 'two\nlines'\n00000001 sync\n";
        for cut in 0..text.len() {
            let mut filter = LineFilter::default();
            let mut got = Vec::new();
            filter.feed(&text[..cut]);
            got.extend(lines(&mut filter));
            filter.feed(&text[cut..]);
            got.extend(lines(&mut filter));
            let got: Vec<String> = got.into_iter().map(Result::unwrap).collect();
            assert_eq!(
                got,
                ["00000001 add svc note 'two\nlines'", "00000001 sync"],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_line_too_long_is_refused_once_then_nothing_more_is_read() {
        let mut filter = LineFilter::default();
        filter.feed(b"ok\n");
        filter.feed(&vec![b'x'; MAX_LINE + 10]);
        filter.feed(b"\nlater\n");
        let got = lines(&mut filter);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].as_deref(), Ok("ok"));
        assert!(matches!(
            got[1],
            Err(FilterError::TooLong {
                limit: MAX_LINE,
                ..
            })
        ));
        filter.feed(b"more\n");
        assert!(lines(&mut filter).is_empty());
    }

    #[test]
    fn lines_are_written_with_their_newline() {
        let mut out = Vec::new();
        LineFilter::default()
            .encode(b"svc a 1".to_vec(), &mut out)
            .unwrap();
        assert_eq!(out, b"svc a 1\n");
    }
}
