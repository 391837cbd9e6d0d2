//! What the client tests share: a registry on any free ports, a kernel to
//! run the kernel-side clients on (driven from the test's thread), a
//! blocking client to look with, fake registries, and a proxy that can cut
//! connections.

#![allow(dead_code)] // Each test file uses part of this.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use roe_engine::{Backoff, Context, Runtime, Session, SessionId, Value};
use roe_registry::{
    BlockingClient, Found, Query, Registration, RegistryAddr, RegistryClient, RegistryServer,
    ServerConfig, ServerThread, Service, Subscription, WatchEvent,
};

/// How long any test waits for something that should happen soon.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A registry server configuration on any free ports of 127.0.0.1.
pub fn config() -> ServerConfig {
    ServerConfig::default().addr("127.0.0.1:0,0,0".parse().expect("an address"))
}

/// A registry on its own thread (stopped when dropped).
pub fn start(config: ServerConfig) -> ServerThread {
    RegistryServer::new(config)
        .start()
        .expect("the registry starts")
}

/// A fresh directory for one test's files.
pub fn dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("roe-registry-client-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A backoff for tests: from 5 ms up to 50 ms.
pub fn fast() -> Backoff {
    Backoff::new(Duration::from_millis(5), Duration::from_millis(50))
}

/// A kernel-side client of `addr` that retries fast.
pub fn kernel_client(addr: &RegistryAddr) -> RegistryClient {
    RegistryClient::new(addr.clone())
        .backoff(fast())
        .timeout(Duration::from_secs(5))
}

/// A blocking client of `addr`.
pub fn blocking(addr: &RegistryAddr) -> BlockingClient {
    BlockingClient::new(addr.clone()).timeout(PATIENCE)
}

/// Finds until `wanted` holds for the answer.
pub fn find_until(
    addr: &RegistryAddr,
    query: &Query,
    wanted: impl Fn(&[Service]) -> bool,
) -> Vec<Service> {
    let client = blocking(addr);
    let started = Instant::now();
    loop {
        let found = client.find(query).expect("a find's answer");
        if wanted(&found) {
            return found;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the find for {query} still answers {found:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// The names in a find's answer.
pub fn names(services: &[Service]) -> Vec<&str> {
    services.iter().map(Service::name).collect()
}

/// What the driver session hears, sent to the test's thread: each kind
/// on a channel of its own, so that waiting for one kind never drops
/// another.
struct Tell {
    registrations: Sender<Vec<String>>,
    found: Sender<Found>,
    watched: Sender<WatchEvent>,
}

/// The driver session's heap: what the tests started.
pub struct Driver {
    pub registrations: HashMap<String, Registration>,
    pub subscriptions: Vec<Subscription>,
    tell: Tell,
}

/// Work for the driver session, from the test's thread.
type Job = Box<dyn FnOnce(&mut Context<'_, Driver>) -> roe_engine::Result<()> + Send>;

/// The driver's events, for the clients to report to.
pub const STATUS: &str = "status";
pub const FOUND: &str = "found";
pub const WATCHED: &str = "watched";

/// A one-kernel runtime with a driver session that runs the test's jobs
/// and sends back what the clients tell it.
pub struct Harness {
    runtime: Option<Runtime>,
    pub driver: SessionId,
    registrations: Receiver<Vec<String>>,
    found: Receiver<Found>,
    watched: Receiver<WatchEvent>,
}

impl Harness {
    pub fn start() -> Harness {
        let (registrations_tx, registrations) = mpsc::channel();
        let (found_tx, found) = mpsc::channel();
        let (watched_tx, watched) = mpsc::channel();
        let tell = Mutex::new(Some(Tell {
            registrations: registrations_tx,
            found: found_tx,
            watched: watched_tx,
        }));
        let (driver_tx, driver_rx) = mpsc::channel();
        let runtime = Runtime::builder()
            .kernels(1)
            .pin(false)
            .start(move |kernel| {
                let Some(tell) = tell.lock().unwrap().take() else {
                    return Ok(());
                };
                let driver = kernel.spawn(driver(tell))?;
                let _ = driver_tx.send(driver);
                Ok(())
            })
            .expect("the runtime starts");
        let driver = driver_rx.recv_timeout(PATIENCE).expect("the driver starts");
        Harness {
            runtime: Some(runtime),
            driver,
            registrations,
            found,
            watched,
        }
    }

    /// Runs `job` in the driver session.
    pub fn run(
        &self,
        job: impl FnOnce(&mut Context<'_, Driver>) -> roe_engine::Result<()> + Send + 'static,
    ) {
        let job: Job = Box::new(job);
        let job = Value::local(Mutex::new(Some(job)));
        self.runtime
            .as_ref()
            .unwrap()
            .handle()
            .post(self.driver, "run", (job,))
            .expect("the driver takes the job");
    }

    /// The next registration report with `what` for `name` (earlier
    /// reports are skipped).
    pub fn registration(&self, what: &str, name: &str) -> Vec<String> {
        until(&self.registrations, &format!("{what} {name}"), |args| {
            (args[0] == what && args[1] == name).then_some(args)
        })
    }

    /// The next find answer.
    pub fn found(&self) -> Found {
        until(&self.found, "a find's answer", Some)
    }

    /// Reads watch events, in order, until `pick` takes one.
    pub fn watched<T>(&self, what: &str, pick: impl FnMut(WatchEvent) -> Option<T>) -> T {
        until(&self.watched, what, pick)
    }

    /// A watch event heard within `quiet`, if any.
    pub fn watched_within(&self, quiet: Duration) -> Option<WatchEvent> {
        self.watched.recv_timeout(quiet).ok()
    }
}

/// Takes from `heard` until `pick` takes something.
fn until<H, T>(heard: &Receiver<H>, what: &str, mut pick: impl FnMut(H) -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        let left = PATIENCE.saturating_sub(started.elapsed());
        let next = heard
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("nothing right heard while waiting for {what}"));
        if let Some(found) = pick(next) {
            return found;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.handle().shutdown();
            let _ = runtime.join();
        }
    }
}

fn driver(tell: Tell) -> Session<Driver> {
    Session::new(Driver {
        registrations: HashMap::new(),
        subscriptions: Vec::new(),
        tell,
    })
    .on("_start", |cx, _| {
        // Work comes from the test's thread: stay until shutdown.
        let me = cx.session();
        cx.refcount_increment(me, "tests")?;
        Ok::<_, roe_engine::Error>(())
    })
    .on("run", |cx, mut args| {
        let job: Mutex<Option<Job>> = args.take(0).take_local()?;
        match job.into_inner().unwrap() {
            Some(job) => job(cx),
            None => Ok(()),
        }
    })
    .on(STATUS, |cx, args| {
        let args = args.iter().map(ToString::to_string).collect();
        let _ = cx.heap.tell.registrations.send(args);
    })
    .on(FOUND, |cx, mut args| {
        if let Some(found) = Found::from_args(&mut args) {
            let _ = cx.heap.tell.found.send(found);
        }
    })
    .on(WATCHED, |cx, mut args| {
        if let Some(event) = WatchEvent::from_args(&mut args) {
            let _ = cx.heap.tell.watched.send(event);
        }
    })
}

/// A TCP proxy in front of one registry port, which can reset its
/// connections (as a failing network does, while the registry goes on)
/// and refuse new ones, and keeps what clients sent.
pub struct Proxy {
    port: u16,
    shared: Arc<ProxyState>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct ProxyState {
    down: AtomicBool,
    stop: AtomicBool,
    /// Each connection's client and server sockets.
    conns: Mutex<Vec<(TcpStream, TcpStream, Arc<AtomicBool>)>>,
    /// What each connection's client sent, in order of connection.
    sent: Mutex<Vec<Arc<Mutex<Vec<u8>>>>>,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`) on a free port.
    pub fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(ProxyState::default());
        let state = Arc::clone(&shared);
        let thread = thread::spawn(move || {
            for client in listener.incoming() {
                if state.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if state.down.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees its connection end
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let log = Arc::new(Mutex::new(Vec::new()));
                state.sent.lock().unwrap().push(Arc::clone(&log));
                let cut = Arc::new(AtomicBool::new(false));
                state.conns.lock().unwrap().push((
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    Arc::clone(&cut),
                ));
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let cut2 = Arc::clone(&cut);
                thread::spawn(move || copy(client, server, Some(log), cut));
                thread::spawn(move || copy(s2, c2, None, cut2));
            }
        });
        Proxy {
            port,
            shared,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// While down, new connections are closed at once.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Resets every connection made so far: its client gets a reset (not
    /// an end of stream), and the registry an end of stream.
    pub fn cut(&self) {
        for (client, server, cut) in self.shared.conns.lock().unwrap().drain(..) {
            cut.store(true, Ordering::SeqCst);
            let _ = rustix::net::sockopt::set_socket_linger(&client, Some(Duration::ZERO));
            let _ = client.shutdown(Shutdown::Read);
            let _ = server.shutdown(Shutdown::Both);
            // The copiers drop their copies of the client's socket as they
            // end; the last one closed sends the reset.
        }
    }

    /// What each connection's client sent, as text.
    pub fn sent(&self) -> Vec<String> {
        self.shared
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|log| String::from_utf8_lossy(&log.lock().unwrap()).into_owned())
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        self.cut();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Copies `from` to `to` until either ends; then passes the end on,
/// unless the connection is being cut.
fn copy(
    mut from: TcpStream,
    mut to: TcpStream,
    log: Option<Arc<Mutex<Vec<u8>>>>,
    cut: Arc<AtomicBool>,
) {
    let mut buf = [0; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(log) = &log {
                    log.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    if !cut.load(Ordering::SeqCst) {
        let _ = to.shutdown(Shutdown::Write);
    }
}

/// A fake registry: a listener whose every connection is handed to
/// `serve` on a thread of its own, until the fake is dropped.
pub struct Fake {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    pub fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let serve = Arc::new(serve);
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let serve = Arc::clone(&serve);
                thread::spawn(move || serve(stream));
            }
        });
        Fake {
            port,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The fake's address: all three ports are the fake.
    pub fn addr(&self) -> RegistryAddr {
        RegistryAddr::new("127.0.0.1", [self.port; 3])
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads (and drops) what a fake's client sends, until it closes or
/// `limit` passes.
pub fn drain(stream: &mut TcpStream, limit: Duration) {
    let _ = stream.set_read_timeout(Some(limit));
    let mut sink = [0; 4096];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}
