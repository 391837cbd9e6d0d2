//! POE::Wheel::SocketFactory over real sockets: TCP on 127.0.0.1 and ::1,
//! Unix-domain sockets, failures as events, flow control and timeouts.

mod common;

use std::{
    cell::RefCell,
    net::{TcpListener, TcpStream},
    os::unix::net::UnixStream,
    path::PathBuf,
    rc::Rc,
    time::{Duration, Instant},
};

use common::Log;
use roe_engine::{
    Args, Context, Domain, Error, Kernel, Line, ReadWrite, Session, SocketFactory, Value,
};

/// A port nothing listens on: bound, read, and closed again.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A Unix-domain socket path unique to this process and `name`.
fn socket_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("roe-sf-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// The failure-event arguments as `operation errno`.
fn failure(args: &Args) -> String {
    format!("{} {}", args[0], args[1])
}

#[derive(Default)]
struct Pair {
    server: Option<SocketFactory>,
    client: Option<SocketFactory>,
    server_side: Option<ReadWrite<Line>>,
    client_side: Option<ReadWrite<Line>>,
}

/// A server and a client in one session, over `domain`: the server's
/// success event gets the accepted socket and the client's the connected
/// one; a line goes each way through ReadWrite wheels on them.
fn server_and_client(domain: Domain, bind: &str, log: &Log) {
    let mut kernel = Kernel::new().unwrap();
    let bind = bind.to_owned();
    let l = log.clone();
    let session = Session::new(Pair::default())
        .on("_start", move |cx, _| {
            let server = SocketFactory::builder("accepted", "failed")
                .domain(domain)
                .bind_address(bind.clone())
                .reuse(true)
                .start(cx)?;
            assert!(server.is_listening());
            let client = SocketFactory::builder("connected", "failed").domain(domain);
            let client = match server.local_addr() {
                Some(address) => client
                    .remote_address(address.ip().to_string())
                    .remote_port(address.port()),
                None => client.remote_address(bind.clone()),
            };
            let client = client.start(cx)?;
            assert!(client.is_connecting());
            cx.heap.server = Some(server);
            cx.heap.client = Some(client);
            Ok::<_, Error>(())
        })
        .on("accepted", {
            let l = l.clone();
            move |cx, mut args| {
                let id = args[3].as_int().unwrap() as u64;
                assert_eq!(Some(id), cx.heap.server.as_ref().map(|s| s.id().number()));
                l.push(format!(
                    "accepted from {} port? {}",
                    args[1],
                    !args[2].is_undef()
                ));
                let socket = args.take(0);
                cx.heap.server_side = Some(start_wheel(cx, socket, "server-input")?);
                // One connection is all this server takes.
                cx.heap.server = None;
                Ok::<_, Error>(())
            }
        })
        .on("connected", {
            let l = l.clone();
            move |cx, mut args| {
                l.push(format!(
                    "connected to {} port? {}",
                    args[1],
                    !args[2].is_undef()
                ));
                let socket = args.take(0);
                let wheel = start_wheel(cx, socket, "client-input")?;
                wheel.put(b"hello from the client".to_vec()).unwrap();
                cx.heap.client_side = Some(wheel);
                cx.heap.client = None;
                Ok::<_, Error>(())
            }
        })
        .on("server-input", {
            let l = l.clone();
            move |cx, args| {
                l.push(format!("server got {}", args[0]));
                let wheel = cx.heap.server_side.as_ref().unwrap();
                wheel.put(b"hello from the server".to_vec()).unwrap();
            }
        })
        .on("client-input", {
            let l = l.clone();
            move |cx, args| {
                l.push(format!("client got {}", args[0]));
                *cx.heap = Pair::default();
            }
        })
        .on("failed", move |_, args| -> () {
            panic!("failure: {}", failure(&args))
        });
    kernel.spawn(session).unwrap();
    kernel.run().unwrap();
}

/// Starts a Line wheel on a TcpStream or UnixStream from a success event.
fn start_wheel(
    cx: &mut Context<'_, Pair>,
    socket: Value,
    input: &'static str,
) -> Result<ReadWrite<Line>, Error> {
    let builder = match socket.take_local::<TcpStream>() {
        Ok(socket) => ReadWrite::builder(socket, Line::new()),
        Err(other) => ReadWrite::builder(
            other.into_value().take_local::<UnixStream>().unwrap(),
            Line::new(),
        ),
    };
    builder.input(input).start(cx)
}

#[test]
fn tcp_over_ipv4_accepts_and_connects() {
    let log = Log::default();
    server_and_client(Domain::Inet, "127.0.0.1", &log);
    let mut lines = log.lines();
    // Accepting and connecting finish in either order.
    lines[..2].sort();
    assert_eq!(
        lines,
        [
            "accepted from 127.0.0.1 port? true",
            "connected to 127.0.0.1 port? true",
            "server got hello from the client",
            "client got hello from the server",
        ]
    );
}

#[test]
fn tcp_over_ipv6_accepts_and_connects() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this host has no IPv6 loopback");
        return;
    }
    let log = Log::default();
    server_and_client(Domain::Inet6, "::1", &log);
    let mut lines = log.lines();
    lines[..2].sort();
    assert_eq!(
        lines,
        [
            "accepted from ::1 port? true",
            "connected to ::1 port? true",
            "server got hello from the client",
            "client got hello from the server",
        ]
    );
}

#[test]
fn unix_domain_sockets_accept_and_connect_without_addresses() {
    let path = socket_path("pair");
    let log = Log::default();
    server_and_client(Domain::Unix, path.to_str().unwrap(), &log);
    let _ = std::fs::remove_file(&path);
    let mut lines = log.lines();
    lines[..2].sort();
    assert_eq!(
        lines,
        [
            "accepted from undef port? false",
            "connected to undef port? false",
            "server got hello from the client",
            "client got hello from the server",
        ]
    );
}

/// A session whose `_start` builds one client wheel with `build` and logs
/// every event it gets.
fn one_client(build: impl Fn() -> roe_engine::SocketFactoryBuilder + 'static) -> Vec<String> {
    let log = Log::default();
    let l = log.clone();
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(None::<SocketFactory>)
                .on("_start", move |cx, _| {
                    *cx.heap = Some(build().start(cx)?);
                    Ok::<_, Error>(())
                })
                .on("connected", {
                    let l = l.clone();
                    move |cx, _| {
                        l.push("connected");
                        *cx.heap = None;
                    }
                })
                .on("failed", move |cx, args| {
                    let id = cx.heap.as_ref().map(|w| w.id().number());
                    assert_eq!(args[3].as_int().map(|n| n as u64), id, "the wheel's ID");
                    l.push(failure(&args));
                    *cx.heap = None;
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    log.lines()
}

#[test]
fn a_refused_connection_is_a_connect_failure() {
    let port = closed_port();
    let lines = one_client(move || {
        SocketFactory::builder("connected", "failed")
            .remote_address("127.0.0.1")
            .remote_port(port)
    });
    assert_eq!(lines, [format!("connect {}", libc_errno("CONNREFUSED"))]);
}

#[test]
fn a_port_in_use_is_a_bind_failure() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let lines = one_client(move || {
        SocketFactory::builder("connected", "failed")
            .bind_address("127.0.0.1")
            .bind_port(port)
    });
    assert_eq!(lines, [format!("bind {}", libc_errno("ADDRINUSE"))]);
}

#[test]
fn an_address_of_the_wrong_family_fails_without_a_lookup() {
    let lines = one_client(|| {
        SocketFactory::builder("connected", "failed")
            .domain(Domain::Inet)
            .remote_address("::1")
            .remote_port(1)
    });
    assert_eq!(
        lines,
        [format!("getaddrinfo {}", libc_errno("ADDRNOTAVAIL"))]
    );
}

#[test]
fn a_missing_unix_socket_is_a_connect_failure() {
    let path = socket_path("missing");
    let lines = one_client(move || {
        SocketFactory::builder("connected", "failed")
            .domain(Domain::Unix)
            .remote_address(path.to_str().unwrap())
    });
    assert_eq!(lines, [format!("connect {}", libc_errno("NOENT"))]);
}

#[test]
fn a_remote_address_without_a_port_is_refused_at_once() {
    let mut kernel = Kernel::new().unwrap();
    let result = Rc::new(RefCell::new(None));
    let r = Rc::clone(&result);
    kernel
        .spawn(Session::new(()).on("_start", move |cx, _| {
            let built = SocketFactory::builder("ok", "failed")
                .remote_address("127.0.0.1")
                .start(cx);
            *r.borrow_mut() = Some(matches!(built, Err(Error::InvalidArgument(_))));
        }))
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*result.borrow(), Some(true));
}

fn libc_errno(name: &str) -> i32 {
    use rustix::io::Errno;
    match name {
        "CONNREFUSED" => Errno::CONNREFUSED,
        "ADDRINUSE" => Errno::ADDRINUSE,
        "ADDRNOTAVAIL" => Errno::ADDRNOTAVAIL,
        "NOENT" => Errno::NOENT,
        "TIMEDOUT" => Errno::TIMEDOUT,
        _ => unreachable!("{name}"),
    }
    .raw_os_error()
}

#[derive(Default)]
struct Paused {
    server: Option<SocketFactory>,
    clients: Vec<SocketFactory>,
    port: u16,
    accepted: Vec<Value>,
}

/// While accepting is paused a connected client waits in the listen queue;
/// it is accepted only after `resume_accept`.
#[test]
fn pause_accept_holds_connections_until_resume() {
    let log = Log::default();
    let l = log.clone();
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(Paused::default())
                .on("_start", |cx, _| {
                    let server = SocketFactory::builder("accepted", "failed")
                        .bind_address("127.0.0.1")
                        .start(cx)?;
                    cx.heap.port = server.local_addr().unwrap().port();
                    cx.heap.server = Some(server);
                    cx.yield_("connect", ());
                    Ok::<_, Error>(())
                })
                .on("connect", |cx, _| {
                    let port = cx.heap.port;
                    let client = SocketFactory::builder("connected", "failed")
                        .remote_address("127.0.0.1")
                        .remote_port(port)
                        .start(cx)?;
                    cx.heap.clients.push(client);
                    Ok::<_, Error>(())
                })
                .on("accepted", {
                    let l = l.clone();
                    move |cx, mut args| {
                        cx.heap.accepted.push(args.take(0));
                        let n = cx.heap.accepted.len();
                        l.push(format!("accepted {n}"));
                        if n == 1 {
                            cx.heap.server.as_ref().unwrap().pause_accept();
                            cx.yield_("connect", ());
                        } else {
                            *cx.heap = Paused::default();
                        }
                    }
                })
                .on("connected", move |cx, _| {
                    let connected = cx
                        .heap
                        .clients
                        .iter()
                        .filter(|c| !c.is_connecting())
                        .count();
                    l.push(format!("client {connected} connected"));
                    if connected == 2 {
                        // The handshake is done in the listen queue; only the
                        // accept waits.
                        l.push("resume");
                        cx.heap.server.as_ref().unwrap().resume_accept();
                    }
                })
                .on("failed", |_, args| -> () {
                    panic!("failure: {}", failure(&args))
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    let lines = log.lines();
    let resume = lines.iter().position(|l| l == "resume").unwrap();
    let second = lines.iter().position(|l| l == "accepted 2").unwrap();
    assert!(resume < second, "{lines:?}");
    assert!(lines.contains(&"accepted 1".to_owned()), "{lines:?}");
}

/// A connection stuck in a full listen queue times out with `ETIMEDOUT`.
#[test]
fn a_connect_timeout_is_a_connect_failure() {
    let log = Log::default();
    let l = log.clone();
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(Paused::default())
                .on("_start", |cx, _| {
                    // A short queue that is never accepted from: once it is
                    // full, the next client's SYN is dropped.
                    let server = SocketFactory::builder("accepted", "failed")
                        .bind_address("127.0.0.1")
                        .listen_queue(1)
                        .start(cx)?;
                    server.pause_accept();
                    cx.heap.port = server.local_addr().unwrap().port();
                    cx.heap.server = Some(server);
                    cx.yield_("connect", ());
                    Ok::<_, Error>(())
                })
                .on("connect", |cx, _| {
                    let port = cx.heap.port;
                    let client = SocketFactory::builder("connected", "failed")
                        .remote_address("127.0.0.1")
                        .remote_port(port)
                        .connect_timeout(Duration::from_millis(200))
                        .start(cx)?;
                    cx.heap.clients.push(client);
                    Ok::<_, Error>(())
                })
                .on("connected", {
                    let l = l.clone();
                    move |cx, _| {
                        l.push("connected");
                        assert!(cx.heap.clients.len() < 20, "the queue never filled");
                        cx.yield_("connect", ());
                    }
                })
                .on("failed", move |cx, args| {
                    l.push(failure(&args));
                    *cx.heap = Paused::default();
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    let lines = log.lines();
    assert_eq!(
        lines.last().unwrap(),
        &format!("connect {}", libc_errno("TIMEDOUT")),
        "{lines:?}"
    );
    assert!(lines[0] == "connected", "{lines:?}");
}

/// Dropping a wheel that is still connecting releases its timer too, so
/// the session ends at once rather than when the timeout would have
/// fired.
#[test]
fn dropping_a_connecting_wheel_removes_its_timeout() {
    let port = closed_port();
    let started = Instant::now();
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(Session::new(()).on("_start", move |cx, _| {
            let client = SocketFactory::builder("connected", "failed")
                .remote_address("127.0.0.1")
                .remote_port(port)
                .connect_timeout(Duration::from_secs(60))
                .start(cx)?;
            drop(client);
            Ok::<_, Error>(())
        }))
        .unwrap();
    kernel.run().unwrap();
    // Not a speed test: without the removal this takes the full minute.
    assert!(started.elapsed() < Duration::from_secs(30));
}
