//! What the IKC tests share: a "process" (a runtime with its own `Ikc`,
//! as a separate process would have) and a way to hear from it.

#![allow(dead_code)] // Each test file uses part of this.

use std::{
    sync::mpsc::{self, Receiver, Sender},
    time::Duration,
};

use roe_engine::{Kernel, Result, Runtime, Session, Value};
use roe_ikc::{Ikc, IkcConfig, IkcServer};

/// How long a test waits for anything before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A process's worth of IKC: a runtime whose kernels all run IKC, and,
/// when it listens, the port.
pub struct Node {
    pub ikc: Ikc,
    pub runtime: Option<Runtime>,
    pub port: Option<u16>,
}

impl Node {
    /// Starts `kernels` kernels with IKC named by `config`, listening on a
    /// free loopback port when `listen`, then runs `init` on each kernel.
    pub fn start(
        config: IkcConfig,
        kernels: usize,
        listen: bool,
        init: impl Fn(&Ikc, &mut Kernel) -> Result<()> + Send + Sync + 'static,
    ) -> Node {
        Node::start_on(config, kernels, listen.then_some(0), init)
    }

    /// [`start`](Node::start), listening on `port` when given (0: a free
    /// one).
    pub fn start_on(
        config: IkcConfig,
        kernels: usize,
        port: Option<u16>,
        init: impl Fn(&Ikc, &mut Kernel) -> Result<()> + Send + Sync + 'static,
    ) -> Node {
        let listen = port;
        let ikc = Ikc::new(config).unwrap();
        let (port_tx, port_rx) = mpsc::channel();
        let shared = ikc.clone();
        let runtime = Runtime::builder()
            .kernels(kernels)
            .pin(false)
            .start(move |kernel| {
                shared.start(kernel)?;
                if let Some(port) = listen
                    && kernel.id().0 == 0
                {
                    let server =
                        IkcServer::tcp(format!("127.0.0.1:{port}")).spawn(&shared, kernel)?;
                    let _ = port_tx.send(server.local_addr().unwrap().port());
                }
                init(&shared, kernel)
            })
            .unwrap();
        let port = listen.map(|_| port_rx.recv_timeout(PATIENCE).unwrap());
        Node {
            ikc,
            runtime: Some(runtime),
            port,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port.expect("a listening node")
    }

    /// Stops every kernel and waits for them.
    pub fn stop(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.handle().shutdown();
            runtime.join().unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.handle().shutdown();
            let _ = runtime.join();
        }
    }
}

/// Lines a test hears from its kernels.
pub fn heard() -> (Sender<String>, Receiver<String>) {
    mpsc::channel()
}

/// The next line, or a failure naming what was awaited.
pub fn next(lines: &Receiver<String>, what: &str) -> String {
    lines
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("nothing heard while waiting for {what}"))
}

/// A session aliased `alias` that publishes `states` and answers each by
/// telling `tell` `"<alias> <state> <ARG0>"` and returning ARG0 upper-cased
/// (for text) or as given.
pub fn published(
    alias: &'static str,
    states: &'static [&'static str],
    tell: Sender<String>,
) -> Session<()> {
    let mut session = Session::new(()).on("_start", move |cx, _| {
        cx.alias_set(alias)?;
        let states = Value::List(states.iter().map(|s| Value::from(*s)).collect());
        cx.call("IKC", "publish", (alias, states)).map(drop)
    });
    for state in states.iter().chain(["unpublished"].iter()) {
        let tell = tell.clone();
        session = session.on(*state, move |cx, args| {
            let _ = tell.send(format!("{alias} {} {}", cx.state(), args[0]));
            match args[0].as_str() {
                Some(text) => Value::from(text.to_uppercase()),
                None => args[0].clone(),
            }
        });
    }
    session
}
