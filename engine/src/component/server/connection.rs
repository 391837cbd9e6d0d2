//! A connection session: one accepted client, its wheel, and the
//! bounds a server keeps on what the client can make it hold.

use std::{net::TcpStream, os::unix::net::UnixStream, rc::Rc, time::Instant};

use super::{ConnectionConfig, TARGET};
use crate::{
    component::{Failure, run0},
    error::{Error, Result},
    filter::{Filter, FilterError},
    id::SessionId,
    kernel::Context,
    session::Session,
    value::Value,
    wheel::ReadWrite,
};

/// The connection sessions' internal events (POE's names).
const GOT_INPUT: &str = "tcp_server_got_input";
const GOT_ERROR: &str = "tcp_server_got_error";
const GOT_FLUSH: &str = "tcp_server_got_flush";
/// A connection's output reached its bound, and fell back under it.
const OUTPUT_HIGH: &str = "tcp_server_output_high";
const OUTPUT_LOW: &str = "tcp_server_output_low";
/// A connection's idle check.
const IDLE_CHECK: &str = "tcp_server_idle_check";
/// The shutdown deadline: connections still open are closed now.
pub(super) const CLOSE_NOW: &str = "tcp_server_close_now";

/// A connection session's heap (POE's per-connection `$_[HEAP]`).
///
/// # Examples
///
/// Per-connection state in `state`, the client's address, and a reply:
///
/// ```
/// use roe_engine::{Line, TcpServer};
///
/// let server = TcpServer::with(0, || 0u32, Line::new).client_input(|cx, line: Vec<u8>| {
///     cx.heap.state += 1;
///     let reply = format!("{} says {} ({})", cx.heap.remote_ip, String::from_utf8_lossy(&line), cx.heap.state);
///     cx.heap.put(reply)?;
///     Ok::<_, roe_engine::Error>(())
/// });
/// # let _ = server;
/// ```
pub struct Connection<S, F: Filter> {
    /// The connection's wheel (POE's `client`); `None` once disconnected.
    pub client: Option<ReadWrite<F>>,
    /// The peer's address (POE's `remote_ip`); `LOCAL` for a Unix-domain
    /// peer, as in POE.
    pub remote_ip: String,
    /// The peer's port (POE's `remote_port`); 0 for a Unix-domain peer.
    pub remote_port: u16,
    /// Whether the connection is shutting down (POE's `shutdown`); input
    /// that arrives then is ignored.
    pub shutdown: bool,
    /// The listener session.
    pub listener: SessionId,
    /// Your per-connection state.
    pub state: S,
    got_an_error: bool,
    /// When the client last sent something, for the idle timeout.
    last_input: Instant,
}

impl<S, F: Filter + 'static> Connection<S, F> {
    /// Sends `record` to the client (POE's `$heap->{client}->put`); nothing
    /// happens once the connection is closed.
    ///
    /// # Errors
    ///
    /// The filter's refusal to encode the record.
    pub fn put(&self, record: impl Into<F::Record>) -> Result<(), FilterError> {
        match &self.client {
            Some(client) => client.put(record),
            None => Ok(()),
        }
    }

    /// Whether the connection is open.
    pub fn is_connected(&self) -> bool {
        self.client.is_some()
    }
}

/// The session of one accepted connection; `_start` gets the socket.
pub(super) fn connection_session<S: 'static, F: Filter + 'static>(
    config: Rc<ConnectionConfig<S, F>>,
    listener: SessionId,
    address: Value,
    port: Value,
) -> Session<Connection<S, F>> {
    let remote_ip = address
        .as_str()
        .map_or_else(|| "LOCAL".to_owned(), str::to_owned);
    let remote_port = port
        .as_int()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(0);
    let mut session = Session::new(Connection {
        client: None,
        remote_ip,
        remote_port,
        shutdown: false,
        listener,
        state: (config.state)(),
        got_an_error: false,
        last_input: Instant::now(),
    });
    for (event, handler) in &config.handlers {
        let handler = Rc::clone(handler);
        session = session.on(*event, move |cx, args| handler(cx, args));
    }
    let c = Rc::clone(&config);
    session = session.on("_start", move |cx, mut args| {
        let socket = args.take(0);
        let started = match socket.take_local::<TcpStream>() {
            Ok(socket) => start_wheel(cx, socket, &c),
            Err(other) => match other.into_value().take_local::<UnixStream>() {
                Ok(socket) => start_wheel(cx, socket, &c),
                Err(_) => Err(Error::InvalidArgument("no socket to serve")),
            },
        };
        let wheel = match started {
            Ok(wheel) => wheel,
            Err(error) => {
                // This connection closes alone (its socket is dropped
                // with the error); nothing else stops.
                c.counters.count(|s| &mut s.setup_failed);
                tracing::warn!(
                    target: TARGET,
                    session = %cx.session(),
                    %error,
                    "a connection could not be set up"
                );
                return Ok(());
            }
        };
        cx.heap.client = Some(wheel);
        if let Some(timeout) = c.idle_timeout {
            cx.delay(IDLE_CHECK, timeout, ())?;
        }
        run0(&c.connected, cx)
    });
    let c = Rc::clone(&config);
    session = session.on(GOT_INPUT, move |cx, mut args| {
        cx.heap.last_input = Instant::now();
        if cx.heap.shutdown {
            return Ok(());
        }
        let Some(record) = F::value_record(args.take(0)) else {
            return Ok(());
        };
        match &c.input {
            Some(callback) => callback(cx, record).map(drop),
            None => Ok(()),
        }
    });
    let c = Rc::clone(&config);
    session = session.on(GOT_ERROR, move |cx, args| {
        let failure = Failure::from_args(&args);
        if failure.operation == "write"
            && failure.errno == rustix::io::Errno::TIMEDOUT.raw_os_error()
        {
            c.counters.count(|s| &mut s.cut_off);
            tracing::warn!(
                target: TARGET,
                session = %cx.session(),
                client = %cx.heap.remote_ip,
                "client cut off: its output made no progress for the write timeout"
            );
        }
        match &c.error {
            Some(callback) => {
                callback(cx, failure.clone())?;
            }
            None if !failure.is_quiet() => {
                tracing::warn!(target: TARGET, session = %cx.session(), "client got {failure}");
            }
            None => {}
        }
        if c.shutdown_on_error {
            // A client that ended its input still gets what it is owed,
            // unless POE's immediate close was asked for.
            cx.heap.got_an_error = !failure.is_eof() || c.close_on_eof;
            cx.yield_("shutdown", ());
        }
        Ok(())
    });
    let c = Rc::clone(&config);
    session = session.on(GOT_FLUSH, move |cx, _| {
        run0(&c.flushed, cx)?;
        if cx.heap.shutdown {
            disconnect(cx, &c)?;
        }
        Ok(())
    });
    // The wheel itself stops and resumes reading at the marks.
    session = session.on(OUTPUT_HIGH, |_, _| {}).on(OUTPUT_LOW, |_, _| {});
    let c = Rc::clone(&config);
    session = session.on(IDLE_CHECK, move |cx, _| {
        let (Some(timeout), true) = (c.idle_timeout, cx.heap.client.is_some()) else {
            return Ok(());
        };
        let idle = cx.heap.last_input.elapsed();
        if idle < timeout {
            cx.delay(IDLE_CHECK, timeout - idle, ())?;
            return Ok(());
        }
        c.counters.count(|s| &mut s.idle_closed);
        cx.heap.got_an_error = true;
        cx.yield_("shutdown", ());
        Ok::<_, Error>(())
    });
    let c = Rc::clone(&config);
    session = session.on(CLOSE_NOW, move |cx, _| disconnect(cx, &c));
    let c = Rc::clone(&config);
    session = session.on("shutdown", move |cx, _| {
        cx.heap.shutdown = true;
        let idle = match &cx.heap.client {
            Some(client) => cx.heap.got_an_error || client.pending_output() == 0,
            None => false,
        };
        if idle {
            disconnect(cx, &c)?;
        }
        Ok(())
    });
    session
        .on("_stop", |cx, _| {
            // The listener counts connections for its concurrency limit; it
            // may be gone already when everything stops.
            let listener = cx.heap.listener;
            let _ = cx.call(listener, "disconnected", ());
        })
        .on("_child", |_, _| {})
}

/// The connection is over: the user hears of it, the wheel goes, and so
/// does the idle check, which would otherwise hold the session (and the
/// kernel) until it came due.
fn disconnect<S: 'static, F: Filter + 'static>(
    cx: &mut Context<'_, Connection<S, F>>,
    config: &ConnectionConfig<S, F>,
) -> Result<()> {
    if cx.heap.client.is_none() {
        return Ok(());
    }
    // The user's callback may fail: the connection is over all the same.
    let told = run0(&config.disconnected, cx);
    cx.heap.client = None;
    if config.idle_timeout.is_some() {
        cx.alarm_clear(IDLE_CHECK)?;
    }
    told
}

fn start_wheel<S: 'static, F: Filter + 'static>(
    cx: &mut Context<'_, Connection<S, F>>,
    socket: impl crate::wheel::Duplex + 'static,
    config: &ConnectionConfig<S, F>,
) -> Result<ReadWrite<F>> {
    let mut wheel = ReadWrite::builder(socket, (config.filter)())
        .input(GOT_INPUT)
        .error(GOT_ERROR)
        .flushed(GOT_FLUSH);
    if let Some((high, low)) = config.max_output {
        wheel = wheel
            .high_mark(high, OUTPUT_HIGH)
            .low_mark(low, OUTPUT_LOW)
            .pause_input_while_high();
    }
    if let Some(timeout) = config.write_timeout {
        wheel = wheel.write_timeout(timeout);
    }
    wheel.start(cx)
}
