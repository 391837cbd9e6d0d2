//! POE::Component::Server::TCP and POE::Component::Client::TCP over real
//! sockets on 127.0.0.1: echo, concurrency limits, shutdown, reconnection
//! and connect errors.

mod common;

use std::{
    cell::{Cell, RefCell},
    net::TcpListener,
    rc::Rc,
    time::Duration,
};

use common::Log;
use roe_engine::{
    Backoff, Connection, Context, Domain, Error, Failure, Kernel, Line, Session, TcpClient,
    TcpServer,
};

/// A record as text, for the log.
fn text(record: &[u8]) -> String {
    String::from_utf8_lossy(record).into_owned()
}

/// A port nothing listens on: bound, read, and closed again.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Echoes a record back to the client.
fn echo<S>(cx: &mut Context<'_, Connection<S, Line>>, record: &[u8]) -> Result<(), Error> {
    Ok(cx.heap.put(record)?)
}

/// Many lines through an echo server and a client built with the
/// components, checked in order; per-connection state comes from the
/// factory.
#[test]
fn echo_server_and_client_exchange_many_lines() {
    const LINES: usize = 500;
    let log = Log::default();
    let received = Rc::new(RefCell::new(Vec::new()));
    let mut kernel = Kernel::new().unwrap();

    let l = log.clone();
    let server = TcpServer::with(0, || 0usize, Line::new)
        .address("127.0.0.1")
        .client_connected({
            let l = l.clone();
            move |cx| l.push(format!("server: connected from {}", cx.heap.remote_ip))
        })
        .client_input(|cx, record| {
            cx.heap.state += 1;
            echo(cx, &record)
        })
        .client_disconnected(move |cx| {
            l.push(format!(
                "server: disconnected after {} lines",
                cx.heap.state
            ));
        })
        .spawn(&mut kernel)
        .unwrap();
    let port = server.port().unwrap();
    let listener = server.session();

    let (l, r) = (log.clone(), Rc::clone(&received));
    TcpClient::new("127.0.0.1", port)
        .connected({
            let l = l.clone();
            move |cx| {
                l.push("client: connected");
                for n in 0..LINES {
                    cx.heap.put(format!("line {n}").into_bytes()).unwrap();
                }
            }
        })
        .server_input(move |cx, record| {
            r.borrow_mut().push(text(&record));
            if r.borrow().len() == LINES {
                cx.post(listener, "shutdown", ())?;
                cx.yield_("shutdown", ());
            }
            Ok::<_, Error>(())
        })
        .disconnected(move |_| l.push("client: disconnected"))
        .connect_error(|_, failure| -> () { panic!("connect error: {failure}") })
        .spawn(&mut kernel)
        .unwrap();
    kernel.run().unwrap();

    let expected: Vec<String> = (0..LINES).map(|n| format!("line {n}")).collect();
    assert_eq!(*received.borrow(), expected);
    let mut lines = log.lines();
    lines.sort();
    assert_eq!(
        lines,
        [
            "client: connected",
            "client: disconnected",
            "server: connected from 127.0.0.1",
            format!("server: disconnected after {LINES} lines").as_str(),
        ]
    );
}

/// With a concurrency limit of 1, the second client is accepted only
/// after the first one's connection has ended, although both connect at
/// once.
#[test]
fn a_concurrency_limit_of_one_serves_clients_one_after_the_other() {
    const ROUNDS: usize = 3;
    let log = Log::default();
    let open = Rc::new(Cell::new(0usize));
    let most_open = Rc::new(Cell::new(0usize));
    let finished = Rc::new(Cell::new(0usize));
    let mut kernel = Kernel::new().unwrap();

    let (l, o, m) = (log.clone(), Rc::clone(&open), Rc::clone(&most_open));
    let server = TcpServer::with(0, String::new, Line::new)
        .address("127.0.0.1")
        .concurrency(1)
        .client_connected({
            let (o, m) = (Rc::clone(&o), Rc::clone(&m));
            move |_| {
                o.set(o.get() + 1);
                m.set(m.get().max(o.get()));
            }
        })
        .client_input({
            let l = l.clone();
            move |cx, record| {
                let line = text(&record);
                let name = line.split(' ').next().unwrap_or_default().to_owned();
                if cx.heap.state.is_empty() {
                    l.push(format!("serving {name}"));
                    cx.heap.state = name;
                }
                l.push(line);
                echo(cx, &record)
            }
        })
        .client_disconnected(move |cx| {
            o.set(o.get() - 1);
            l.push(format!("done with {}", cx.heap.state));
        })
        .spawn(&mut kernel)
        .unwrap();
    let port = server.port().unwrap();
    let listener = server.session();

    for name in ["a", "b"] {
        let f = Rc::clone(&finished);
        TcpClient::with("127.0.0.1", port, 0usize, Line::new)
            .connected(move |cx| {
                cx.heap
                    .put(format!("{name} 0").into_bytes())
                    .map_err(Error::handler)
            })
            .server_input(move |cx, _| {
                cx.heap.state += 1;
                if cx.heap.state < ROUNDS {
                    let line = format!("{name} {}", cx.heap.state);
                    cx.heap.put(line.into_bytes()).map_err(Error::handler)?;
                } else {
                    cx.yield_("shutdown", ());
                }
                Ok::<_, Error>(())
            })
            .disconnected(move |cx| {
                f.set(f.get() + 1);
                if f.get() == 2 {
                    cx.post(listener, "shutdown", ())?;
                }
                Ok::<_, Error>(())
            })
            .spawn(&mut kernel)
            .unwrap();
    }
    kernel.run().unwrap();

    assert_eq!(most_open.get(), 1, "two connections were served at once");
    let lines = log.lines();
    assert_eq!(lines.len(), 2 * (ROUNDS + 2), "{lines:?}");
    // Whichever client was accepted first is served to the end before the
    // other is accepted.
    let first = lines[0].strip_prefix("serving ").unwrap().to_owned();
    let second = if first == "a" { "b" } else { "a" };
    let mut expected = Vec::new();
    for name in [first.as_str(), second] {
        expected.push(format!("serving {name}"));
        expected.extend((0..ROUNDS).map(|n| format!("{name} {n}")));
        expected.push(format!("done with {name}"));
    }
    assert_eq!(lines, expected);
}

/// `shutdown` to the listener stops new connections at once; the open
/// one goes on until it ends, and then the server is gone.
#[test]
fn server_shutdown_refuses_new_clients_and_lets_open_ones_finish() {
    let log = Log::default();
    let mut kernel = Kernel::new().unwrap();
    let server = TcpServer::new(0)
        .address("127.0.0.1")
        .alias("server")
        .client_input(|cx, record| echo(cx, &record))
        .spawn(&mut kernel)
        .unwrap();
    let port = server.port().unwrap();

    let l = log.clone();
    TcpClient::new("127.0.0.1", port)
        .connected(|cx| cx.heap.put(b"first".to_vec()).map_err(Error::handler))
        .server_input({
            let l = l.clone();
            move |cx, record| {
                l.push(format!("echo {}", text(&record)));
                if record == b"first" {
                    cx.post("server", "shutdown", ())?;
                    cx.heap.put(b"second".to_vec()).map_err(Error::handler)?;
                    cx.yield_("try_another", ());
                } else {
                    cx.yield_("shutdown", ());
                }
                Ok::<_, Error>(())
            }
        })
        .on("try_another", move |cx, _| {
            let l = l.clone();
            TcpClient::new("127.0.0.1", port)
                .server_input(|_, _| {})
                .connected(|_| -> () { panic!("a shut-down server accepted a client") })
                .connect_error(move |_, failure| {
                    l.push(format!("refused: {} {}", failure.operation, failure.errno));
                })
                .spawn(cx)?;
            Ok::<_, Error>(())
        })
        .spawn(&mut kernel)
        .unwrap();
    kernel.run().unwrap();

    let refused = rustix::io::Errno::CONNREFUSED.raw_os_error();
    let mut lines = log.lines();
    lines.sort();
    assert_eq!(
        lines,
        [
            "echo first".to_owned(),
            "echo second".to_owned(),
            format!("refused: connect {refused}"),
        ]
    );
}

/// A client with automatic reconnection outlives its server: after the
/// server goes away it retries with backoff, and connects again once a
/// new server listens on the same port (bound with SO_REUSEADDR).
#[test]
fn a_client_reconnects_after_the_server_comes_back() {
    let log = Log::default();
    let mut kernel = Kernel::new().unwrap();

    /// The server: echo; a line `bye` shuts the whole server down.
    fn server(port: u16, alias: &'static str) -> TcpServer {
        TcpServer::new(port)
            .address("127.0.0.1")
            .alias(alias)
            .client_input(move |cx, record| {
                echo(cx, &record)?;
                if record == b"bye" {
                    cx.post(alias, "shutdown", ())?;
                    cx.yield_("shutdown", ());
                }
                Ok::<_, Error>(())
            })
            .error(|_, failure| -> () { panic!("server error: {failure}") })
    }

    let port = server(0, "first")
        .spawn(&mut kernel)
        .unwrap()
        .port()
        .unwrap();

    // Starts the second server when the client first fails to connect.
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.alias_set("coordinator"))
                .on("start_second", move |cx, _| {
                    server(port, "second").spawn(cx)?;
                    cx.alias_remove("coordinator")
                }),
        )
        .unwrap();

    let l = log.clone();
    TcpClient::with("127.0.0.1", port, 0u32, Line::new)
        .auto_reconnect(Backoff::new(
            Duration::from_millis(2),
            Duration::from_millis(20),
        ))
        .connected({
            let l = l.clone();
            move |cx| {
                cx.heap.state += 1;
                assert_eq!(cx.heap.attempts(), 0, "the backoff starts over");
                l.push(format!("connected {}", cx.heap.state));
                cx.heap.put(b"bye".to_vec()).map_err(Error::handler)
            }
        })
        .server_input({
            let l = l.clone();
            move |cx, record| {
                l.push(format!("echo {}", text(&record)));
                if cx.heap.state == 2 {
                    // Done: no more reconnecting.
                    cx.yield_("shutdown", ());
                }
            }
        })
        .connect_error({
            let l = l.clone();
            move |cx, failure| {
                if cx.heap.attempts() == 0 {
                    l.push(format!("refused: {} {}", failure.operation, failure.errno));
                    cx.post("coordinator", "start_second", ())?;
                }
                Ok::<_, Error>(())
            }
        })
        .disconnected(move |cx| l.push(format!("disconnected {}", cx.heap.state)))
        .spawn(&mut kernel)
        .unwrap();
    kernel.run().unwrap();

    let refused = rustix::io::Errno::CONNREFUSED.raw_os_error();
    assert_eq!(
        log.lines(),
        [
            "connected 1".to_owned(),
            "echo bye".to_owned(),
            "disconnected 1".to_owned(),
            format!("refused: connect {refused}"),
            "connected 2".to_owned(),
            "echo bye".to_owned(),
            "disconnected 2".to_owned(),
        ]
    );
}

/// Connecting to a port nobody listens on calls `connect_error` with
/// `ECONNREFUSED`, and the session ends.
#[test]
fn a_closed_port_is_a_connect_error() {
    let port = closed_port();
    let failures = Rc::new(RefCell::new(Vec::<Failure>::new()));
    let mut kernel = Kernel::new().unwrap();
    let f = Rc::clone(&failures);
    TcpClient::new("127.0.0.1", port)
        .server_input(|_, _| {})
        .connected(|_| -> () { panic!("connected to a closed port") })
        .connect_error(move |cx, failure| {
            assert!(!cx.heap.connected && !cx.heap.is_connecting());
            f.borrow_mut().push(failure);
        })
        .spawn(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let failures = failures.borrow();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].operation, "connect");
    assert_eq!(
        failures[0].errno,
        rustix::io::Errno::CONNREFUSED.raw_os_error()
    );
    assert!(!failures[0].is_eof());
}

/// The components work over Unix-domain sockets too (POE's unofficial
/// `Domain => AF_UNIX`): the peer is `LOCAL`.
#[test]
fn unix_domain_server_and_client() {
    let path = std::env::temp_dir().join(format!("roe-components-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let path = path.to_str().unwrap().to_owned();
    let log = Log::default();
    let mut kernel = Kernel::new().unwrap();
    let l = log.clone();
    let server = TcpServer::new(0)
        .domain(Domain::Unix)
        .address(path.clone())
        .client_connected(move |cx| l.push(format!("peer {}", cx.heap.remote_ip)))
        .client_input(|cx, record| echo(cx, &record))
        .spawn(&mut kernel)
        .unwrap();
    let l = log.clone();
    TcpClient::new(path.clone(), 0)
        .domain(Domain::Unix)
        .connected(|cx| cx.heap.put(b"over a path".to_vec()).map_err(Error::handler))
        .server_input(move |cx, record| {
            l.push(format!("echo {}", text(&record)));
            cx.post(server.session(), "shutdown", ())?;
            cx.yield_("shutdown", ());
            Ok::<_, Error>(())
        })
        .spawn(&mut kernel)
        .unwrap();
    kernel.run().unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(log.lines(), ["peer LOCAL", "echo over a path"]);
}
