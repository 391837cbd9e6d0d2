//! What `roe node` shows under its fs view's `/modules`: IKC's tables
//! (`/modules/ikc/`) and its registry's services (`/modules/registry/`).
//!
//! The fs view depends on neither IKC nor the registry, and they know
//! nothing of it: the node, which has all three, starts a session once
//! the view is mounted that registers these trees with it, as a component
//! does (`register` to `poe-devel-procalike`), and removes them as it
//! stops (docs/fs.md, "`roe node`'s modules"). A tree is read on the
//! view's thread and must not wait for a kernel: IKC's directory is read
//! under its own short lock, and the registry's services from a copy the
//! session keeps by watching the node's registry as any client would (the
//! server's state lives on its kernel's thread).

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Display,
    sync::{Arc, Mutex, MutexGuard},
};

use roe::{Args, Context, KernelId, RuntimeHandle, Session, Value};
use roe_fs::{Entry, Kind, ProcAlike, Tree};
use roe_ikc::Ikc;
use roe_registry::{
    ChangeKind, Query, RegistryAddr, RegistryClient, Revision, Service, WatchEvent,
};

/// The names the trees are registered under: `/modules/ikc`,
/// `/modules/registry`.
pub const IKC: &str = "ikc";
pub const REGISTRY: &str = "registry";

/// One value as a file: the value and a newline (a lone newline for none).
fn line(value: impl Display) -> Vec<u8> {
    format!("{value}\n").into_bytes()
}

/// A list as a file: one item per line; an empty file for none.
fn lines<T: Display>(items: impl IntoIterator<Item = T>) -> Vec<u8> {
    items
        .into_iter()
        .flat_map(|item| format!("{item}\n").into_bytes())
        .collect()
}

/// A flat directory of the files `names`.
fn files(names: &[&str]) -> Vec<Entry> {
    names
        .iter()
        .map(|name| Entry::new(*name, Kind::File))
        .collect()
}

/// The one file `path` names in a flat directory, if it is one of `names`.
fn file<'p>(path: &[&'p str], names: &[&str]) -> Option<&'p str> {
    match path {
        [name] if names.contains(name) => Some(name),
        _ => None,
    }
}

/// `/modules/ikc/`: the node's IKC, as its public tables say.
pub struct IkcTree {
    ikc: Ikc,
    /// Where the node's IKC server listens.
    listen: Vec<String>,
}

impl IkcTree {
    const FILES: [&str; 6] = [
        "name",
        "id",
        "listen",
        "connections",
        "kernels",
        "published",
    ];

    pub fn new(ikc: Ikc, listen: Vec<String>) -> IkcTree {
        IkcTree { ikc, listen }
    }
}

impl Tree for IkcTree {
    fn list(&self, path: &[&str]) -> Option<Vec<Entry>> {
        path.is_empty().then(|| files(&IkcTree::FILES))
    }

    fn read(&self, path: &[&str]) -> Option<Vec<u8>> {
        let directory = self.ikc.directory();
        Some(match file(path, &IkcTree::FILES)? {
            "name" => line(self.ikc.config().name()),
            "id" => line(self.ikc.kernel_id()),
            "listen" => lines(&self.listen),
            // Each connected kernel: its ID, then every other name it
            // answers to, where it was reached among them.
            "connections" => lines(
                directory
                    .remotes()
                    .into_iter()
                    .filter(|remote| remote.connected)
                    .map(|remote| {
                        let mut words = vec![remote.id.clone()];
                        words.extend(remote.names.into_iter().filter(|n| *n != remote.id));
                        words.join(" ")
                    }),
            ),
            // Every name a `poe://` address may use for a remote kernel,
            // connected or expected by a client that is connecting.
            "kernels" => lines(
                directory
                    .remotes()
                    .into_iter()
                    .flat_map(|remote| remote.names)
                    .collect::<BTreeSet<String>>(),
            ),
            "published" => lines(directory.published().into_iter().map(|(name, states)| {
                let mut words = vec![name];
                words.extend(states);
                words.join(" ")
            })),
            _ => return None,
        })
    }
}

/// What the node has heard from its registry: the services, by name, and
/// the revision they are at (`None` before the first listing).
#[derive(Default)]
struct Heard {
    services: BTreeMap<String, Service>,
    revision: Option<Revision>,
}

/// The node's copy of its registry's services, kept by a watch of them
/// all; shared by the watching session and the tree.
#[derive(Clone, Default)]
pub struct Mirror {
    heard: Arc<Mutex<Heard>>,
}

impl Mirror {
    fn heard(&self) -> MutexGuard<'_, Heard> {
        self.heard.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies what the watch heard: applied in order, the changes keep
    /// the copy equal to the registry's (the watch says so).
    fn hear(&self, event: WatchEvent) {
        let mut heard = self.heard();
        match event {
            WatchEvent::Change(notice) => {
                let name = notice.service.name().to_owned();
                match notice.kind {
                    ChangeKind::Remove => {
                        heard.services.remove(&name);
                    }
                    ChangeKind::Add | ChangeKind::Update => {
                        heard.services.insert(name, notice.service);
                    }
                }
                heard.revision = Some(notice.revision);
            }
            WatchEvent::Synced(revision) => heard.revision = Some(revision),
            // A lost connection is resumed, or started afresh, by the
            // watch, which then tells what changed meanwhile.
            _ => {}
        }
    }
}

/// `/modules/registry/`: the registry the node serves.
pub struct RegistryTree {
    addr: RegistryAddr,
    mirror: Mirror,
}

impl RegistryTree {
    const FILES: [&str; 3] = ["addr", "revision", "services"];

    pub fn new(addr: RegistryAddr, mirror: Mirror) -> RegistryTree {
        RegistryTree { addr, mirror }
    }
}

impl Tree for RegistryTree {
    fn list(&self, path: &[&str]) -> Option<Vec<Entry>> {
        path.is_empty().then(|| files(&RegistryTree::FILES))
    }

    fn read(&self, path: &[&str]) -> Option<Vec<u8>> {
        Some(match file(path, &RegistryTree::FILES)? {
            "addr" => line(&self.addr),
            "revision" => line(
                self.mirror
                    .heard()
                    .revision
                    .map(|r| r.to_string())
                    .unwrap_or_default(),
            ),
            "services" => lines(self.mirror.heard().services.values()),
            _ => return None,
        })
    }
}

/// The session's heap: the copy of the registry it keeps, and the trees
/// (with the registry's client) until it has registered them.
struct Shown {
    mirror: Mirror,
    ikc: Option<IkcTree>,
    registry: Option<(RegistryClient, RegistryTree)>,
}

/// Starts, on kernel 0 of `runtime` (where the node's view has its
/// session), the session that shows the node's trees: IKC's, and, when
/// the node serves a registry at `registry`, the registry's, kept by a
/// watch of every service. It keeps them registered until the runtime
/// stops.
///
/// # Errors
///
/// When kernel 0 has finished or the runtime is shutting down.
pub fn show(
    runtime: &RuntimeHandle,
    ikc: IkcTree,
    registry: Option<RegistryAddr>,
) -> roe::Result<()> {
    let mirror = Mirror::default();
    let registry = registry.map(|addr| {
        let tree = RegistryTree::new(addr.clone(), mirror.clone());
        (RegistryClient::new(addr), tree)
    });
    let shown = Shown {
        mirror,
        ikc: Some(ikc),
        registry,
    };
    runtime.spawn_on(KernelId(0), move |kernel| {
        if let Err(error) = kernel.spawn(session(shown)) {
            tracing::warn!(%error, "the node's modules are not shown in its fs view");
        }
    })
}

fn session(shown: Shown) -> Session<Shown> {
    Session::new(shown)
        .on("_start", |cx, _| -> roe::Result<()> {
            let me = cx.session();
            // Alive until the runtime stops, its trees shown until then.
            cx.refcount_increment(me, "shown")?;
            if let Some(tree) = cx.heap.ikc.take() {
                register(cx, IKC, ProcAlike::registration(IKC, tree));
            }
            if let Some((client, tree)) = cx.heap.registry.take() {
                client.watch(cx, Query::all(), me, "heard")?;
                register(cx, REGISTRY, ProcAlike::registration(REGISTRY, tree));
            }
            Ok(())
        })
        .on("heard", |cx, mut args| {
            if let Some(event) = WatchEvent::from_args(&mut args) {
                cx.heap.mirror.hear(event);
            }
        })
        .on("_stop", |cx, _| {
            // The view may have gone first as the runtime stops: nothing
            // left to remove then.
            let _ = cx.call(ProcAlike::ALIAS, "unregister", ());
        })
}

/// Registers a tree with the view. Its session is on this kernel: a call
/// says at once whether it took the tree; one it refuses is logged, and
/// the node runs on without it.
fn register(cx: &mut Context<'_, Shown>, name: &str, registration: Args) {
    let taken = cx.call(ProcAlike::ALIAS, "register", registration);
    if !matches!(taken, Ok(Value::Bool(true))) {
        tracing::warn!(name, "the fs view did not take the node's tree");
    }
}
