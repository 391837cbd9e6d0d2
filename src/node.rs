//! `roe node`: the main job, a node on embedded defaults.

use std::{path::PathBuf, sync::mpsc, time::Duration};

use roe::{KernelId, Runtime, RuntimeHandle, Session, Value};
use roe_ikc::{Ikc, IkcConfig, IkcServer};
use roe_registry::{Discovery, Query, RegistryAddr, RegistryServer, ServerConfig};

use crate::log::say;

mod modules;
mod peers;

/// The signals that stop a node cleanly.
const STOPPING: [&str; 3] = ["INT", "TERM", "HUP"];

/// More kernels than this is a typo, not a machine.
pub const MAX_KERNELS: usize = 1024;

/// The longest heartbeat period `roe node` takes: a day, in milliseconds.
pub const MAX_HEARTBEAT_MS: u64 = 24 * 60 * 60 * 1000;

/// Where a node serves IKC unless told otherwise: loopback only (IKC has
/// no access control beyond what is published), on IKC's port number 603
/// moved out of the privileged range.
pub const DEFAULT_IKC_LISTEN: &str = "127.0.0.1:6030";

/// The IKC name a node goes by unless told otherwise.
pub const DEFAULT_IKC_NAME: &str = "roe-node";

/// Where `roe node` mounts its fs view (ProcAlike).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mount {
    /// `/tmp/roe_<pid>`; where FUSE is not available the node says so and
    /// runs without it.
    Default,
    /// Here (`--mount DIR`); failing to mount is an error.
    At(PathBuf),
    /// Not at all (`--no-mount`).
    None,
}

/// What `roe node` was asked to run.
pub struct NodeOptions {
    pub kernels: usize,
    pub heartbeat: Duration,
    /// `ip:port` (port 0: any free port) to serve IKC on.
    pub ikc_listen: String,
    pub ikc_name: String,
    /// Where to serve the registry (`None`: no registry).
    pub registry: Option<RegistryAddr>,
    /// The registry's state file.
    pub registry_state: Option<PathBuf>,
    /// Where to mount the fs view.
    pub mount: Mount,
    /// Connect by IKC to every node this registry query finds (and be
    /// found by them).
    pub join: Option<Query>,
    /// The registry to advertise in and join through, when it is not the
    /// node's own.
    pub join_registry: Option<RegistryAddr>,
}

impl Default for NodeOptions {
    fn default() -> NodeOptions {
        NodeOptions {
            kernels: std::thread::available_parallelism().map_or(1, usize::from),
            heartbeat: Duration::from_secs(1),
            ikc_listen: DEFAULT_IKC_LISTEN.into(),
            ikc_name: DEFAULT_IKC_NAME.into(),
            registry: Some(RegistryAddr::default()),
            registry_state: None,
            mount: Mount::Default,
            join: None,
            join_registry: None,
        }
    }
}

/// A node session's state.
struct Node {
    heartbeat: Duration,
    beats: u64,
    /// Kernel 0's: the other nodes it is connected to.
    peers: Option<peers::Peers>,
}

/// Runs the node: a runtime of pinned kernels, each with IKC's responder
/// and a node session that answers `ping` calls and beats on a timer
/// (which keeps its kernel alive). Kernel 0 serves IKC, its node session
/// (`node`, state `ping`) published, and watches the stopping signals
/// (INT, TERM, HUP), on which it shuts the runtime down cleanly, and USR1,
/// on which it reports what each kernel is doing. Connections are spread
/// over the kernels. Kernel 0 serves the registry too, unless told not to.
pub fn run(options: &NodeOptions) -> Result<(), Box<dyn std::error::Error>> {
    let heartbeat = options.heartbeat;
    let ikc = Ikc::new(IkcConfig::new(options.ikc_name.clone()))?;
    let ikc_shown = ikc.clone();
    let listen = options.ikc_listen.clone();
    let registry = options.registry.clone().map(|addr| {
        let config = ServerConfig::default().addr(addr);
        match &options.registry_state {
            Some(path) => config.state_file(path),
            None => config,
        }
    });
    let join = options.join.clone();
    let join_registry = options.join_registry.clone();
    let (bound_tx, bound_rx) = mpsc::channel();
    let (registry_tx, registry_rx) = mpsc::channel();
    let runtime = Runtime::builder()
        .kernels(options.kernels)
        .start(move |kernel| {
            ikc.start(kernel)?;
            if kernel.id().0 == 0 {
                let server = IkcServer::tcp(listen.as_str()).spawn(&ikc, kernel);
                let _ = bound_tx.send(
                    server
                        .as_ref()
                        .map(|s| s.local_addr())
                        .map_err(|e| e.to_string()),
                );
                let served = registry.clone().map(|config| {
                    RegistryServer::new(config)
                        .spawn(kernel)
                        .map(|listener| listener.addr().clone())
                        .map_err(|error| {
                            crate::registry::start_error(
                                &error,
                                "change its address with --registry IP:NEW,FIND,EVENT \
                                 (0: any free port), or run none with --registry none",
                            )
                        })
                });
                let own = match &served {
                    Some(Ok(addr)) => Some(addr.clone()),
                    _ => None,
                };
                // The node's IKC server is advertised in its registry (or the
                // one it joins through), and with --join it follows the
                // nodes the query finds. The registry's result goes out
                // only once this has run, with its error, so that the node
                // does not say where its registry is, and then `ready`,
                // when it is about to fail.
                let discovered = match (&server, join_registry.clone().or(own)) {
                    (Ok(listener), Some(registry)) => {
                        let discovery = Discovery::new(&ikc, registry);
                        match &join {
                            Some(query) => discovery.join(listener, query.clone(), kernel),
                            None => discovery.advertise(listener, kernel),
                        }
                        .map(drop)
                    }
                    _ => Ok(()),
                };
                let report = match &discovered {
                    Ok(()) => Ok(()),
                    Err(error) => {
                        let what = if join.is_some() { "join" } else { "advertise" };
                        Err(format!("cannot {what} through the registry: {error}"))
                    }
                };
                let _ = registry_tx.send((served, report));
                discovered?;
            }
            let peers = (kernel.id().0 == 0).then(|| peers::Peers::new(ikc.clone()));
            kernel.spawn(node_session(kernel.id(), heartbeat, peers))?;
            Ok(())
        })?;
    // Kernel 0's `init` has run by now: a channel it did not send on is
    // an `init` that failed, whose error the runtime has.
    let listen = match bound_rx.recv() {
        Ok(Ok(Some(addr))) => {
            say(format_args!("ikc {addr}"));
            vec![addr.to_string()]
        }
        Ok(Ok(None)) => Vec::new(),
        Ok(Err(error)) => {
            stop(runtime);
            return Err(format!("cannot serve IKC on {}: {error}", options.ikc_listen).into());
        }
        Err(_) => return Err(stop_failed(runtime)),
    };
    let served = match registry_rx.recv() {
        Ok((Some(Err(error)), _)) => {
            stop(runtime);
            return Err(format!("cannot serve the registry: {error}").into());
        }
        Ok((_, Err(error))) => {
            stop(runtime);
            return Err(error.into());
        }
        Ok((Some(Ok(addr)), Ok(()))) => {
            say(format_args!("registry {addr}"));
            Some(addr)
        }
        Ok((None, Ok(()))) => None,
        Err(_) => return Err(stop_failed(runtime)),
    };
    // Dropped after the runtime has ended: the view's session unmounts it
    // as the runtime stops its sessions, and the guard then has nothing left
    // to do.
    let view = match mount_view(&options.mount, &runtime) {
        Ok(view) => view,
        Err(error) => {
            stop(runtime);
            return Err(error);
        }
    };
    // IKC's tables and the registry's services, under the view's
    // `/modules` (src/node/modules.rs).
    if view.is_some() {
        let ikc = modules::IkcTree::new(ikc_shown, listen);
        if let Err(error) = modules::show(&runtime.handle(), ikc, served) {
            tracing::warn!(%error, "the node's modules are not shown in its fs view");
        }
    }
    let name = runtime
        .handle()
        .snapshot(KernelId(0))
        .map(|snapshot| snapshot.name.clone())
        .unwrap_or_default();
    say(format_args!(
        "ready kernels={} kernel={name} pid={}",
        runtime.kernels(),
        std::process::id()
    ));
    runtime.join()?;
    say(format_args!("stopped"));
    Ok(())
}

/// Shuts the runtime down and waits for it, after a failure that is
/// reported instead of whatever the runtime says.
fn stop(runtime: Runtime) {
    runtime.handle().shutdown();
    if let Err(error) = runtime.join() {
        tracing::debug!(%error, "the runtime, stopped after a failure, ended with an error");
    }
}

/// Shuts the runtime down after kernel 0's `init` failed without saying
/// why on its channels, and returns the runtime's error: that `init`'s.
fn stop_failed(runtime: Runtime) -> Box<dyn std::error::Error> {
    runtime.handle().shutdown();
    match runtime.join() {
        Err(error) => format!("kernel 0 did not start: {error}").into(),
        Ok(()) => "kernel 0 did not start".into(),
    }
}

/// Mounts the fs view as `mount` says and prints `fs <mountpoint>`. The
/// node watches the stopping signals itself, so the view does not.
///
/// # Errors
///
/// A mount asked for with `--mount DIR` that fails. Where the default
/// mount fails (no `/dev/fuse`, not root), the node says so and what to
/// do, and runs without the view.
fn mount_view(
    mount: &Mount,
    runtime: &Runtime,
) -> Result<Option<roe_fs::ProcAlike>, Box<dyn std::error::Error>> {
    let mut builder = roe_fs::ProcAlike::builder().watch_signals(false);
    match mount {
        Mount::None => return Ok(None),
        Mount::At(dir) => builder = builder.mountpoint(dir),
        Mount::Default => {}
    }
    match builder.start(&runtime.handle()) {
        Ok(view) => {
            say(format_args!("fs {}", view.mountpoint().display()));
            Ok(Some(view))
        }
        Err(error) if *mount == Mount::Default => {
            tracing::warn!(
                "no fs view: {error}; it needs /dev/fuse and root (roe mounts \
                 without fusermount); run with --no-mount to go without it"
            );
            Ok(None)
        }
        Err(error) => Err(format!("cannot mount the fs view: {error}").into()),
    }
}

/// Kernel `id`'s node session, aliased `node/<id>` (and, on kernel 0,
/// `node` and the node's IKC name, under which it probes its peers).
fn node_session(id: KernelId, heartbeat: Duration, peers: Option<peers::Peers>) -> Session<Node> {
    Session::new(Node {
        heartbeat,
        beats: 0,
        peers,
    })
    .on("_start", move |cx, _| {
        cx.alias_set(format!("node/{id}"))?;
        if id.0 == 0 {
            cx.alias_set("node")?;
            cx.call("IKC", "publish", ("node", Value::List(vec!["ping".into()])))?;
            if let Some(name) = cx.heap.peers.as_ref().map(|peers| peers.name().to_owned()) {
                // Reached by its name from every node it connects to.
                cx.alias_set(name.as_str())?;
                let states = peers::PUBLISHED.iter().map(|state| Value::from(*state)).collect();
                cx.call("IKC", "publish", (name, Value::List(states)))?;
                cx.post("IKC", "monitor", ("*", peers::monitor()))?;
            }
            for signal in STOPPING {
                cx.sig(signal, "stopping", ())?;
            }
            cx.sig("USR1", "status", ())?;
        }
        let period = cx.heap.heartbeat;
        cx.delay("heartbeat", period, ())
    })
    .on("stopping", |cx, args| {
        say(format_args!("stopping on SIG{}", args[0]));
        tracing::info!("stopping on SIG{}", args[0]);
        // Handled here: the runtime's shutdown stops every kernel's
        // sessions, each with its `_stop`.
        cx.sig_handled();
        if let Some(runtime) = RuntimeHandle::current() {
            runtime.shutdown();
        }
    })
    .on("status", |cx, _| {
        // USR1 is benign: handled or not, the node runs on.
        cx.sig_handled();
        let Some(runtime) = RuntimeHandle::current() else {
            return;
        };
        for kernel in 0..runtime.kernels() {
            let id = KernelId(u16::try_from(kernel).unwrap_or(u16::MAX));
            if let Some(snapshot) = runtime.snapshot(id) {
                let c = &snapshot.counters;
                say(format_args!(
                    "status kernel={kernel} sessions={} dispatched={} queued={} timers={} watched={}",
                    c.sessions, c.dispatched, c.queued, c.timers, c.watched
                ));
            }
        }
        for line in cx.heap.peers.iter().flat_map(peers::Peers::report) {
            say(format_args!("{line}"));
        }
    })
    .on("heartbeat", |cx, _| {
        cx.heap.beats += 1;
        if let Some(mut peers) = cx.heap.peers.take() {
            peers.beat(cx);
            cx.heap.peers = Some(peers);
        }
        let period = cx.heap.heartbeat;
        cx.delay("heartbeat", period, ())
    })
    .on("ping", |cx, _| {
        Value::from(format!("pong {}", cx.heap.beats))
    })
    // A peer's probe: its number back, so its answer says which it was.
    .on("probe", |_, args| args[0].clone())
    .on("note", |cx, args| {
        if let Some(peers) = &mut cx.heap.peers {
            peers.noted(&args[0]);
        }
    })
    .on(peers::PROBED, |cx, args| {
        if let Some(peers) = &mut cx.heap.peers {
            peers.probed(&args);
        }
    })
    // IKC's monitor: (name monitored, kernel name, ...).
    .on(peers::PEER_GONE, |cx, args| {
        if let Some(peers) = &mut cx.heap.peers {
            peers.gone(&args[1]);
        }
    })
}
