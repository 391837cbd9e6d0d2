//! A find on a kernel: one connection to the find port per query (as
//! registry(4)'s bridge serves it), the answer read to the end of the
//! stream, parsed into services, and posted as a [`Found`].
//!
//! Connecting has the client's connect timeout, and the answer, from the
//! moment the connection is made, its timeout; the answer is bounded by
//! its `max_answer`, and each line by [`MAX_LINE`](crate::MAX_LINE). The
//! session ends as soon as it has posted.

use roe_engine::{
    Args, Context, Event, ReadWrite, Result, Session, SessionId, SocketFactory, Value,
};

use super::RegistryClient;
use super::error::ClientError;
use super::event::Found;
use super::lines::{self, CONNECT_FAILED, CONNECTED, INPUT, IO_ERROR, LineFilter};
use crate::line::{Port, parse_service};
use crate::query::Query;
use crate::service::Service;

/// The session's event: the answer is late.
const TIMEOUT: &str = "roe-registry:find-timeout";

/// The find session's heap.
pub(super) struct Lookup {
    client: RegistryClient,
    query: Query,
    reply: SessionId,
    event: Event,
    connector: Option<SocketFactory>,
    wheel: Option<ReadWrite<LineFilter>>,
    services: Vec<Service>,
    /// Bytes of the answer so far.
    bytes: usize,
    done: bool,
}

pub(super) fn session(
    client: RegistryClient,
    query: Query,
    reply: SessionId,
    event: Event,
) -> Session<Lookup> {
    Session::new(Lookup {
        client,
        query,
        reply,
        event,
        connector: None,
        wheel: None,
        services: Vec::new(),
        bytes: 0,
        done: false,
    })
    .on("_start", |cx, _| {
        let client = cx.heap.client.clone();
        cx.heap.connector = Some(lines::dial(cx, &client, Port::Find)?);
        Ok::<_, roe_engine::Error>(())
    })
    .on(CONNECTED, |cx, mut args| {
        cx.heap.connector = None;
        let client = cx.heap.client.clone();
        match lines::open(cx, &mut args, &client, false) {
            Ok(wheel) => {
                lines::send(&wheel, cx.heap.query.to_string());
                cx.heap.wheel = Some(wheel);
                cx.delay(TIMEOUT, client.timeout, ())
            }
            Err(error) => answer(
                cx,
                Err(ClientError::Io {
                    port: Port::Find,
                    error: std::io::Error::other(error.to_string()),
                }),
            ),
        }
    })
    .on(CONNECT_FAILED, |cx, args| {
        let error = lines::connect_failure(&cx.heap.client, Port::Find, &args);
        answer(cx, Err(error))
    })
    .on(INPUT, |cx, mut args| {
        let line = lines::line_of(&mut args);
        heard(cx, &line)
    })
    .on(IO_ERROR, |cx, args: Args| {
        match lines::failure(Port::Find, &args) {
            // The end of the stream is the end of the answer.
            None => {
                let services = std::mem::take(&mut cx.heap.services);
                answer(cx, Ok(services))
            }
            Some(error) => answer(cx, Err(error)),
        }
    })
    .on(TIMEOUT, |cx, _| {
        let waited = cx.heap.client.timeout;
        answer(
            cx,
            Err(ClientError::Timeout {
                port: Port::Find,
                waited,
            }),
        )
    })
}

/// One service line of the answer.
fn heard(cx: &mut Context<'_, Lookup>, line: &[u8]) -> Result<()> {
    cx.heap.bytes += line.len() + 1;
    if cx.heap.bytes > cx.heap.client.max_answer {
        let max = cx.heap.client.max_answer;
        return answer(
            cx,
            Err(ClientError::TooLarge {
                port: Port::Find,
                max,
            }),
        );
    }
    match parse_service(line) {
        Ok(service) => {
            cx.heap.services.push(service);
            Ok(())
        }
        Err(error) => answer(
            cx,
            Err(ClientError::BadAnswer {
                port: Port::Find,
                error,
            }),
        ),
    }
}

/// Posts the answer, once, and lets the session end.
fn answer(cx: &mut Context<'_, Lookup>, services: Result<Vec<Service>, ClientError>) -> Result<()> {
    if std::mem::replace(&mut cx.heap.done, true) {
        return Ok(());
    }
    cx.heap.wheel = None;
    cx.heap.connector = None;
    cx.alarm_clear(TIMEOUT)?;
    let found = Found {
        query: std::mem::take(&mut cx.heap.query),
        services,
    };
    let (reply, event) = (cx.heap.reply, cx.heap.event);
    if let Err(error) = cx.post(reply, event, (Value::local(found),)) {
        tracing::debug!("registry client: a find's answer was not delivered: {error}");
    }
    Ok(())
}
