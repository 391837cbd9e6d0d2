//! IKC discovery through a registry, over loopback: three IKC runtimes
//! (each with its own `Ikc`, as three processes would have) join through
//! one registry, end up connected to each other once per pair, post to
//! each other by name, and forget a node that stops.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use roe_engine::{Backoff, Runtime, Session, SessionId, Value};
use roe_ikc::{Ikc, IkcConfig, IkcServer};
use roe_registry::{
    BlockingClient, Discovery, RegistryAddr, RegistryClient, RegistryServer, ServerConfig, Service,
};

/// How long the test waits for anything before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// One "process": a runtime with IKC, an IKC server, a published `echo`
/// session, and discovery joining the cluster.
struct Node {
    name: &'static str,
    ikc: Ikc,
    runtime: Option<Runtime>,
    /// Its advertisement (none for a node that only follows).
    service: Option<Service>,
    /// Its discovery session.
    discovery: SessionId,
}

/// How a node uses discovery.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Advertises its server and follows `proto ikc`.
    Join,
    /// Advertises its server only.
    Advertise,
    /// Follows `proto ikc` only, with no server of its own.
    Follow,
}

impl Node {
    fn start(name: &'static str, registry: &RegistryAddr, tell: &Sender<String>) -> Node {
        Node::start_as(Mode::Join, name, registry, tell)
    }

    fn start_as(
        mode: Mode,
        name: &'static str,
        registry: &RegistryAddr,
        tell: &Sender<String>,
    ) -> Node {
        let ikc = Ikc::new(IkcConfig::new(name)).unwrap();
        let (advertised_tx, advertised) = mpsc::channel();
        let (shared, registry, tell) = (ikc.clone(), registry.clone(), tell.clone());
        let runtime = Runtime::builder()
            .kernels(1)
            .pin(false)
            .start(move |kernel| {
                shared.start(kernel)?;
                kernel.spawn(echo(name, tell.clone()))?;
                kernel.spawn(driver())?;
                let client = RegistryClient::new(registry.clone()).backoff(Backoff::new(
                    Duration::from_millis(5),
                    Duration::from_millis(50),
                ));
                let discovery = Discovery::new(&shared, registry.clone()).client(client);
                if mode == Mode::Follow {
                    let session = discovery.follow(Discovery::query(), kernel)?;
                    let _ = advertised_tx.send((None, session));
                    return Ok(());
                }
                let listener = IkcServer::tcp("127.0.0.1:0").spawn(&shared, kernel)?;
                let mut service = discovery.service(&listener)?;
                let session = if mode == Mode::Join {
                    // What joining advertises: the service, and the query followed.
                    service.set("follows", Discovery::query().to_string());
                    discovery.join(&listener, Discovery::query(), kernel)?
                } else {
                    discovery.advertise(&listener, kernel)?
                };
                let _ = advertised_tx.send((Some(service), session));
                Ok(())
            })
            .unwrap();
        let (service, discovery) = advertised.recv_timeout(PATIENCE).unwrap();
        Node {
            name,
            ikc,
            runtime: Some(runtime),
            service,
            discovery,
        }
    }

    /// Stops its discovery session, leaving the rest running.
    fn stop_discovery(&self) {
        let handle = self.runtime.as_ref().unwrap().handle();
        handle.post(self.discovery, Discovery::STOP, ()).unwrap();
    }

    /// The kernel IDs of the peers connected, sorted.
    fn connected(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .ikc
            .directory()
            .remotes()
            .into_iter()
            .filter(|remote| remote.connected)
            .map(|remote| remote.id)
            .collect();
        ids.sort();
        ids
    }

    /// Whether this node knows of `other` at all (connected, or expected by
    /// a client that would connect again).
    fn knows(&self, other: &Node) -> bool {
        self.ikc.directory().remotes().iter().any(|remote| {
            remote.id == other.ikc.kernel_id() || remote.names.iter().any(|n| n == other.name)
        })
    }

    /// Posts `arg` from this node's driver to `spec`.
    fn send(&self, spec: &str, arg: &str) {
        let handle = self.runtime.as_ref().unwrap().handle();
        let driver = handle.resolve("driver").unwrap();
        handle.post(driver, "send", (spec, arg)).unwrap();
    }

    fn stop(mut self) {
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

/// A session published as `echo`, whose `hear` tells the test.
fn echo(node: &'static str, tell: Sender<String>) -> Session<()> {
    Session::new(())
        .on("_start", |cx, _| {
            cx.alias_set("echo")?;
            let states = Value::List(vec![Value::from("hear")]);
            cx.call("IKC", "publish", ("echo", states)).map(drop)
        })
        .on("hear", move |_, args| {
            let _ = tell.send(format!("{node} heard {}", args[0]));
        })
}

/// A session that posts where the test says.
fn driver() -> Session<()> {
    Session::new(())
        .on("_start", |cx, _| cx.alias_set("driver"))
        .on("send", |cx, args| {
            let spec = args[0].to_string();
            cx.post(spec, "", (args[1].clone(),))
        })
}

/// Waits until `done` holds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "still waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn next(heard: &Receiver<String>, what: &str) -> String {
    heard
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("nothing heard while waiting for {what}"))
}

#[test]
fn three_nodes_join_through_the_registry_and_forget_one_that_stops() {
    let registry =
        RegistryServer::new(ServerConfig::default().addr("127.0.0.1:0,0,0".parse().unwrap()))
            .start()
            .unwrap();
    let addr = registry.addr().clone();
    let (tell, heard) = mpsc::channel();
    let nodes = [
        Node::start("alpha", &addr, &tell),
        Node::start("beta", &addr, &tell),
        Node::start("gamma", &addr, &tell),
    ];

    // Each is connected to the two others.
    for node in &nodes {
        let mut others: Vec<String> = nodes
            .iter()
            .filter(|other| other.name != node.name)
            .map(|other| other.ikc.kernel_id().to_owned())
            .collect();
        others.sort();
        wait_until(&format!("{} connected to the others", node.name), || {
            node.connected() == others
        });
    }
    // Once per pair: nothing is refused and dialled again meanwhile.
    let generations = |node: &Node| -> Vec<u64> {
        let mut g: Vec<u64> = node
            .ikc
            .directory()
            .remotes()
            .iter()
            .map(|r| r.generation)
            .collect();
        g.sort_unstable();
        g
    };
    let before: Vec<Vec<u64>> = nodes.iter().map(generations).collect();
    thread::sleep(Duration::from_millis(300));
    let after: Vec<Vec<u64>> = nodes.iter().map(generations).collect();
    assert_eq!(before, after, "connections were made again");

    // Posts cross by name, both ways of each connection.
    let [alpha, beta, gamma] = nodes;
    alpha.send("poe://gamma/echo/hear", "from alpha");
    gamma.send("poe://alpha/echo/hear", "from gamma");
    beta.send("poe://gamma/echo/hear", "from beta");
    gamma.send("poe://beta/echo/hear", "from gamma");
    let mut lines: Vec<String> = (0..4).map(|i| next(&heard, &format!("post {i}"))).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "alpha heard from gamma",
            "beta heard from gamma",
            "gamma heard from alpha",
            "gamma heard from beta",
        ]
    );

    // Every node is advertised as its service says.
    let client = BlockingClient::new(addr.clone()).timeout(PATIENCE);
    let mut advertised: Vec<String> = client
        .find(&Discovery::query())
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    advertised.sort();
    let mut expected: Vec<String> = [&alpha, &beta, &gamma]
        .iter()
        .map(|node| node.service.as_ref().unwrap().to_string())
        .collect();
    expected.sort();
    assert_eq!(advertised, expected);

    // beta stops: its registration goes, and the others forget it.
    let gone = beta.service.as_ref().unwrap().name().to_owned();
    let (beta_id, beta_name) = (beta.ikc.kernel_id().to_owned(), beta.name);
    let remembers = |node: &Node| {
        node.ikc
            .directory()
            .remotes()
            .iter()
            .any(|remote| remote.id == beta_id || remote.names.iter().any(|n| n == beta_name))
    };
    beta.stop();
    wait_until("beta's registration to go", || {
        client
            .find(&Discovery::query())
            .unwrap()
            .iter()
            .all(|service| service.name() != gone)
    });
    for node in [&alpha, &gamma] {
        wait_until(&format!("{} to forget beta", node.name), || {
            !remembers(node)
        });
        assert!(node.knows(if node.name == "alpha" { &gamma } else { &alpha }));
    }
    alpha.send("poe://gamma/echo/hear", "still here");
    assert_eq!(
        next(&heard, "a post after beta left"),
        "gamma heard still here"
    );

    alpha.stop();
    gamma.stop();
    wait_until("every advertisement to go", || {
        client.find(&Discovery::query()).unwrap().is_empty()
    });
    registry.stop().unwrap();
}

#[test]
fn a_follower_without_a_server_dials_an_advertised_node_and_hangs_up_when_it_goes() {
    let registry =
        RegistryServer::new(ServerConfig::default().addr("127.0.0.1:0,0,0".parse().unwrap()))
            .start()
            .unwrap();
    let addr = registry.addr().clone();
    let (tell, heard) = mpsc::channel();
    let server = Node::start_as(Mode::Advertise, "server", &addr, &tell);
    let first = Node::start_as(Mode::Follow, "first", &addr, &tell);
    let second = Node::start_as(Mode::Follow, "second", &addr, &tell);
    for follower in [&first, &second] {
        wait_until(
            &format!("{} to connect to the server", follower.name),
            || follower.connected() == [server.ikc.kernel_id()],
        );
    }
    // Followers that advertise nothing never meet each other.
    wait_until("the server to see both followers", || {
        server.connected().len() == 2
    });
    assert!(!first.knows(&second) && !second.knows(&first));
    first.send("poe://server/echo/hear", "hello");
    assert_eq!(next(&heard, "a post to the server"), "server heard hello");

    // The advertisement alone stops: the service goes, and the followers
    // hang up, though the server still runs.
    server.stop_discovery();
    let client = BlockingClient::new(addr.clone()).timeout(PATIENCE);
    wait_until("the advertisement to go", || {
        client.find(&Discovery::query()).unwrap().is_empty()
    });
    for follower in [&first, &second] {
        wait_until(&format!("{} to hang up", follower.name), || {
            !follower.knows(&server)
        });
    }
    first.stop();
    second.stop();
    server.stop();
    registry.stop().unwrap();
}

#[test]
fn ikc_shutting_down_ends_discovery_and_lets_the_kernel_end() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let registry =
        RegistryServer::new(ServerConfig::default().addr("127.0.0.1:0,0,0".parse().unwrap()))
            .start()
            .unwrap();
    let addr = registry.addr().clone();
    let go = Arc::new(AtomicBool::new(false));
    let (ended_tx, ended) = mpsc::channel();
    let kernel_thread = {
        let (addr, go) = (addr.clone(), Arc::clone(&go));
        thread::spawn(move || {
            let ikc = Ikc::new(IkcConfig::new("lone")).unwrap();
            let mut kernel = roe_engine::Kernel::new().unwrap();
            ikc.start(&mut kernel).unwrap();
            let listener = IkcServer::tcp("127.0.0.1:0")
                .spawn(&ikc, &mut kernel)
                .unwrap();
            Discovery::new(&ikc, addr)
                .join(&listener, Discovery::query(), &mut kernel)
                .unwrap();
            // Shuts IKC down when the test says.
            kernel
                .spawn(
                    Session::new(())
                        .on("_start", |cx, _| {
                            cx.delay("look", Duration::from_millis(5), ())
                        })
                        .on("look", move |cx, _| {
                            if go.load(Ordering::SeqCst) {
                                cx.post("IKC", "shutdown", ())
                            } else {
                                cx.delay("look", Duration::from_millis(5), ())
                            }
                        }),
                )
                .unwrap();
            let ran = kernel.run();
            let _ = ended_tx.send(ran.is_ok());
        })
    };
    let client = BlockingClient::new(addr.clone()).timeout(PATIENCE);
    wait_until("the advertisement", || {
        client.find(&Discovery::query()).unwrap().len() == 1
    });
    go.store(true, Ordering::SeqCst);
    // Every session of discovery ends with IKC: the kernel has nothing
    // left to run, and its advertisement is gone.
    assert_eq!(ended.recv_timeout(PATIENCE), Ok(true));
    kernel_thread.join().unwrap();
    wait_until("the advertisement to go", || {
        client.find(&Discovery::query()).unwrap().is_empty()
    });
    registry.stop().unwrap();
}

#[test]
fn an_advertised_host_name_is_skipped_not_resolved() {
    let registry =
        RegistryServer::new(ServerConfig::default().addr("127.0.0.1:0,0,0".parse().unwrap()))
            .start()
            .unwrap();
    let addr = registry.addr().clone();
    let client = BlockingClient::new(addr.clone()).timeout(PATIENCE);
    let advert = |name: &str, host: &str| {
        Service::with_attrs(
            format!("tcp!{host}!6030"),
            [
                ("proto", "ikc"),
                ("kernel", name),
                ("id", name),
                ("host", host),
                ("port", "6030"),
            ],
        )
        .unwrap()
    };
    // A peer that names its host: resolving it would block the follower's
    // kernel. And one at an IP address, dialled (nobody answers there).
    let _named = client.register(&advert("named", "peer.invalid")).unwrap();
    let _literal = client.register(&advert("literal", "127.0.0.1")).unwrap();
    let (told_tx, told) = mpsc::channel::<String>();
    let ikc = Ikc::new(IkcConfig::new("follower")).unwrap();
    let shared = ikc.clone();
    let runtime = Runtime::builder()
        .kernels(1)
        .pin(false)
        .start(move |kernel| {
            shared.start(kernel)?;
            let told_tx = told_tx.clone();
            let listener = kernel.spawn(
                Session::new(())
                    .on("_start", |cx, _| {
                        // Reports come from elsewhere: stay until shutdown.
                        let me = cx.session();
                        cx.refcount_increment(me, "reports")
                    })
                    .on("told", move |_, args| {
                        let words: Vec<String> = args.iter().map(ToString::to_string).collect();
                        let _ = told_tx.send(words.join(" "));
                    }),
            )?;
            let client = RegistryClient::new(addr.clone()).backoff(Backoff::new(
                Duration::from_millis(5),
                Duration::from_millis(50),
            ));
            Discovery::new(&shared, addr.clone())
                .client(client)
                .notify(listener, "told")
                .follow(Discovery::query(), kernel)
                .map(drop)
        })
        .unwrap();
    let mut heard = Vec::new();
    while !(heard.iter().any(|t: &String| t.starts_with("skip named"))
        && heard.iter().any(|t| t.starts_with("dial literal")))
    {
        heard.push(next(&told, "the follower's reports"));
    }
    assert!(
        heard.contains(&"skip named peer.invalid:6030: not an IP address".to_owned()),
        "{heard:?}"
    );
    assert!(
        !heard.iter().any(|t| t.starts_with("dial named")),
        "{heard:?}"
    );
    runtime.handle().shutdown();
    runtime.join().unwrap();
    registry.stop().unwrap();
}

#[test]
fn a_follower_dials_at_most_max_peers_and_the_next_when_one_goes() {
    use std::io::Write;
    let registry =
        RegistryServer::new(ServerConfig::default().addr("127.0.0.1:0,0,0".parse().unwrap()))
            .start()
            .unwrap();
    let addr = registry.addr().clone();
    // MAX_PEERS + 4 advertisements at ports nobody listens on, each held by
    // a connection of its own.
    let count = Discovery::MAX_PEERS + 4;
    let mut held: Vec<std::net::TcpStream> = (0..count)
        .map(|n| {
            let mut stream =
                std::net::TcpStream::connect(addr.connect_to(roe_registry::Port::New)).unwrap();
            let line = format!(
                "tcp!127.0.0.1!{port} proto ikc kernel p{n:03} id p{n:03} host 127.0.0.1 port {port}\n",
                port = 20_000 + n
            );
            stream.write_all(line.as_bytes()).unwrap();
            stream
        })
        .collect();
    let client = BlockingClient::new(addr.clone()).timeout(PATIENCE);
    wait_until("every advertisement", || {
        client.find(&Discovery::query()).unwrap().len() == count
    });
    let (told_tx, told) = mpsc::channel::<String>();
    let ikc = Ikc::new(IkcConfig::new("follower")).unwrap();
    let shared = ikc.clone();
    let registry_addr = addr.clone();
    let runtime = Runtime::builder()
        .kernels(1)
        .pin(false)
        .start(move |kernel| {
            shared.start(kernel)?;
            let told_tx = told_tx.clone();
            let listener = kernel.spawn(
                Session::new(())
                    .on("_start", |cx, _| {
                        let me = cx.session();
                        cx.refcount_increment(me, "reports")
                    })
                    .on("told", move |_, args| {
                        let _ = told_tx.send(format!("{} {}", args[0], args[1]));
                    }),
            )?;
            // Slow redials: the peers are not there.
            let client = RegistryClient::new(registry_addr.clone()).backoff(Backoff::new(
                Duration::from_secs(5),
                Duration::from_secs(30),
            ));
            Discovery::new(&shared, registry_addr.clone())
                .client(client)
                .notify(listener, "told")
                .follow(Discovery::query(), kernel)
                .map(drop)
        })
        .unwrap();
    let (mut dialled, mut skipped) = (Vec::new(), Vec::new());
    while dialled.len() + skipped.len() < count {
        let heard = next(&told, "a dial or a skip");
        match heard.split_once(' ') {
            Some(("dial", peer)) => dialled.push(peer.to_owned()),
            Some(("skip", peer)) => skipped.push(peer.to_owned()),
            _ => {}
        }
    }
    assert_eq!(dialled.len(), Discovery::MAX_PEERS);
    assert_eq!(skipped, ["p256", "p257", "p258", "p259"]);
    // One goes: the first left out is dialled.
    drop(held.remove(0));
    loop {
        let heard = next(&told, "the next dial");
        if heard == "dial p256" {
            break;
        }
        assert!(!heard.starts_with("dial"), "{heard}");
    }
    runtime.handle().shutdown();
    runtime.join().unwrap();
    drop(held);
    registry.stop().unwrap();
}
