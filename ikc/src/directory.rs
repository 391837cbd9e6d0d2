//! [`Directory`]: what one process's IKC knows, shared by its kernels: the
//! states its sessions published, and the remote kernels connected, with
//! their names and what they published.
//!
//! Kernels of a runtime each run an IKC responder, and connections live on
//! different kernels, so the tables are behind locks; they change when a
//! session publishes or a peer connects, and are read once per remote
//! request, never held across a dispatch.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::RwLock,
};

use roe_engine::SessionId;

use crate::native::{MAX_PUBLISHED_SESSIONS, MAX_PUBLISHED_STATES, NameError, check_name};

/// A session's published states, by the name it is reached by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// The session.
    pub session: Option<SessionId>,
    /// Its published states.
    pub states: BTreeSet<String>,
}

/// A remote kernel: connected, or expected by a client that is (re)connecting
/// to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    /// Its unique ID (the first name it gave) once connected; before,
    /// the first name it is expected by.
    pub id: String,
    /// Every name it answers to: its ID, name and aliases, where it was
    /// reached (`host:port`), and the names a client expects it by.
    pub names: Vec<String>,
    /// The session of the connection that reaches it.
    pub channel: SessionId,
    /// Its process ID, as it said (0 before it connected).
    pub pid: u32,
    /// What it published: session name → states.
    pub published: BTreeMap<String, BTreeSet<String>>,
    /// Counts connections to it, so a report names which one it is about
    /// (POE's IKC reports none; a reconnect is a new generation). 0 before
    /// the first.
    pub generation: u64,
    /// Whether its connection is up (a client's queues while it is not).
    pub connected: bool,
    /// Whether its connection takes more requests (a disconnected
    /// client's queue may be full).
    pub accepting: bool,
    /// The names a client expects it by, kept across reconnects.
    expected: Vec<String>,
    /// Requests admitted while disconnected, and how many may wait (0:
    /// no bound set).
    waiting: usize,
    queue_limit: usize,
}

/// Why a remote kernel could not be registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// A kernel with this ID is already connected (IKC routes replies by
    /// name, and two kernels of one name would get each other's answers:
    /// roe refuses the second).
    AlreadyConnected(String),
}

impl std::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegisterError::AlreadyConnected(id) => {
                write!(f, "remote kernel '{id}' is already connected")
            }
        }
    }
}

impl std::error::Error for RegisterError {}

/// Where a name leads, for a post or a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// One remote kernel, through this connection.
    One {
        /// The kernel's unique ID.
        kernel: String,
        /// The session of its connection.
        channel: SessionId,
    },
    /// Every connected remote kernel (`*`).
    All(Vec<(String, SessionId)>),
}

/// Why a name leads nowhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No connected kernel has that name (IKC's "Unknown kernel").
    UnknownKernel(String),
    /// No kernel is connected, for a specifier without a kernel part.
    NoDefault,
    /// In transparent naming, more kernels than one published this name.
    Ambiguous {
        /// The name.
        name: String,
        /// The kernels that published it.
        kernels: Vec<String>,
    },
    /// In transparent naming, no connected kernel published this name.
    NotPublished(String),
    /// The kernel is disconnected and its client's queue is full.
    QueueFull(String),
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::UnknownKernel(name) => write!(f, "Unknown kernel '{name}'"),
            RouteError::NoDefault => f.write_str("no remote kernel is connected"),
            RouteError::Ambiguous { name, kernels } => write!(
                f,
                "'{name}' is published by more than one kernel ({}): name the kernel",
                kernels.join(", ")
            ),
            RouteError::NotPublished(name) => {
                write!(f, "no connected kernel published '{name}'")
            }
            RouteError::QueueFull(name) => write!(
                f,
                "kernel '{name}' is disconnected and its queue of requests is full"
            ),
        }
    }
}

impl std::error::Error for RouteError {}

#[derive(Default)]
struct Tables {
    /// Local sessions' published states, by the names they are reached by.
    published: BTreeMap<String, Published>,
    /// Connected kernels by ID, in the order they registered.
    remotes: Vec<Remote>,
    generation: u64,
    /// IKC's proxies: a short name someone's subscription gave a remote
    /// session, and the connection and session it leads to.
    proxies: BTreeMap<String, (SessionId, String)>,
}

/// One process's IKC tables, shared by its kernels.
///
/// # Examples
///
/// ```
/// use roe_engine::{KernelId, SessionId};
/// use roe_ikc::directory::{Directory, Route};
///
/// let directory = Directory::default();
/// let channel = SessionId::from_number(KernelId(0), 3);
/// directory.register("id-1", &["id-1".into(), "EchoServer".into()], channel, 42).unwrap();
/// assert_eq!(
///     directory.route("EchoServer"),
///     Ok(Route::One { kernel: "id-1".into(), channel })
/// );
/// directory.publish("echo", SessionId::from_number(KernelId(0), 1), ["echo", "upper"]);
/// assert!(directory.is_published("echo", "upper"));
/// assert!(!directory.is_published("echo", "secret"));
/// ```
#[derive(Default)]
pub struct Directory {
    tables: RwLock<Tables>,
}

/// `count` names are within `max`, as a handshake's limits say.
fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), NameError> {
    if count > max {
        return Err(NameError::TooMany { what, count, max });
    }
    Ok(())
}

impl Directory {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes `states` of `session` under `name` (IKC's `publish`, per
    /// name the session is reached by); adds to what was published.
    pub fn publish<S: Into<String>>(
        &self,
        name: &str,
        session: SessionId,
        states: impl IntoIterator<Item = S>,
    ) {
        let mut tables = self.write();
        let entry = tables.published.entry(name.to_owned()).or_default();
        entry.session = Some(session);
        entry.states.extend(states.into_iter().map(Into::into));
    }

    /// [`publish`](Directory::publish) under each of `names`, within the
    /// limits a peer holds this process to (its handshake's, which a
    /// peer's `Publish` frames keep to as well): nothing is published when
    /// a name would pass [`MAX_PUBLISHED_STATES`] states or the names
    /// would pass [`MAX_PUBLISHED_SESSIONS`].
    pub(crate) fn publish_within(
        &self,
        names: &[String],
        session: SessionId,
        states: &[String],
    ) -> Result<(), NameError> {
        let mut tables = self.write();
        let mut new_names = 0;
        for name in names {
            let (have, added) = match tables.published.get(name) {
                Some(entry) => (
                    entry.states.len(),
                    states.iter().filter(|s| !entry.states.contains(*s)).count(),
                ),
                None => {
                    new_names += 1;
                    (0, states.iter().collect::<BTreeSet<_>>().len())
                }
            };
            check_count("published states", have + added, MAX_PUBLISHED_STATES)?;
        }
        check_count(
            "published sessions",
            tables.published.len() + new_names,
            MAX_PUBLISHED_SESSIONS,
        )?;
        for name in names {
            let entry = tables.published.entry(name.clone()).or_default();
            entry.session = Some(session);
            entry.states.extend(states.iter().cloned());
        }
        Ok(())
    }

    /// Retracts `states` of `name` (all of them when empty); `true` if
    /// anything was published there.
    pub fn retract(&self, name: &str, states: &[String]) -> bool {
        let mut tables = self.write();
        let Some(entry) = tables.published.get_mut(name) else {
            return false;
        };
        if states.is_empty() {
            tables.published.remove(name);
        } else {
            for state in states {
                entry.states.remove(state);
            }
            if entry.states.is_empty() {
                tables.published.remove(name);
            }
        }
        true
    }

    /// Whether `state` of the session named `name` may be invoked remotely.
    pub fn is_published(&self, name: &str, state: &str) -> bool {
        self.read()
            .published
            .get(name)
            .is_some_and(|entry| entry.states.contains(state))
    }

    /// The session published under `name`, if any.
    pub fn published_session(&self, name: &str) -> Option<SessionId> {
        self.read().published.get(name).and_then(|e| e.session)
    }

    /// Gives the remote `session` reached through `channel` the short name
    /// `name` (IKC's proxy of a subscription); `false` when another
    /// connection's session has it already.
    pub fn add_proxy(&self, name: &str, channel: SessionId, session: &str) -> bool {
        let mut tables = self.write();
        match tables.proxies.get(name) {
            Some((owner, _)) if *owner != channel => false,
            _ => {
                tables
                    .proxies
                    .insert(name.to_owned(), (channel, session.to_owned()));
                true
            }
        }
    }

    /// Drops the proxies of `session` through `channel` (all of the
    /// channel's, without a session).
    pub fn remove_proxies(&self, channel: SessionId, session: Option<&str>) {
        self.write()
            .proxies
            .retain(|_, (c, s)| *c != channel || session.is_some_and(|session| session != s));
    }

    /// Where a proxy's short name leads: the connection and the remote
    /// session.
    pub fn proxy(&self, name: &str) -> Option<(SessionId, String)> {
        self.read().proxies.get(name).cloned()
    }

    /// The first name `session` is published under, if any: how a Perl
    /// peer is told who sent it something (Perl IKC names a sender that
    /// way only when it published something).
    pub fn published_name(&self, session: SessionId) -> Option<String> {
        self.read()
            .published
            .iter()
            .find(|(_, entry)| entry.session == Some(session))
            .map(|(name, _)| name.clone())
    }

    /// Every published name and its states (IKC's `published`).
    pub fn published(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.read()
            .published
            .iter()
            .map(|(name, entry)| (name.clone(), entry.states.clone()))
            .collect()
    }

    /// Expects a kernel through `channel`, a client's connection that is
    /// not up yet: requests to any of `names` go to the channel (which
    /// queues them) until it connects, and after it disconnects.
    pub fn expect(&self, channel: SessionId, names: &[String]) {
        let Some(first) = names.first() else {
            return;
        };
        let mut tables = self.write();
        if tables.remotes.iter().any(|r| r.channel == channel) {
            return;
        }
        tables.remotes.push(Remote {
            id: first.clone(),
            names: names.to_vec(),
            channel,
            pid: 0,
            published: BTreeMap::new(),
            generation: 0,
            connected: false,
            accepting: true,
            expected: names.to_vec(),
            waiting: 0,
            queue_limit: 0,
        });
    }

    /// Registers the kernel whose unique ID is `id`, known by `names`,
    /// connected through `channel`; returns its generation.
    ///
    /// # Errors
    ///
    /// [`RegisterError::AlreadyConnected`] for an ID connected through
    /// another channel.
    pub fn register(
        &self,
        id: &str,
        names: &[String],
        channel: SessionId,
        pid: u32,
    ) -> Result<u64, RegisterError> {
        let mut tables = self.write();
        if tables
            .remotes
            .iter()
            .any(|r| r.connected && r.id == id && r.channel != channel)
        {
            return Err(RegisterError::AlreadyConnected(id.to_owned()));
        }
        tables.generation += 1;
        let generation = tables.generation;
        let at = match tables.remotes.iter().position(|r| r.channel == channel) {
            Some(at) => at,
            None => {
                tables.remotes.push(Remote {
                    id: String::new(),
                    names: Vec::new(),
                    channel,
                    pid,
                    published: BTreeMap::new(),
                    generation,
                    connected: true,
                    accepting: true,
                    expected: Vec::new(),
                    waiting: 0,
                    queue_limit: 0,
                });
                tables.remotes.len() - 1
            }
        };
        let remote = &mut tables.remotes[at];
        let mut all = vec![id.to_owned()];
        for name in names.iter().chain(&remote.expected) {
            if !all.contains(name) {
                all.push(name.clone());
            }
        }
        remote.id = id.to_owned();
        remote.names = all;
        remote.pid = pid;
        remote.generation = generation;
        remote.connected = true;
        remote.accepting = true;
        remote.published.clear();
        Ok(generation)
    }

    /// The kernel reached through `channel` disconnected: forgotten, unless
    /// a client expects it back (then it keeps the names it is expected
    /// by, and requests queue). Returns it as it was.
    pub fn disconnected(&self, channel: SessionId) -> Option<Remote> {
        let mut tables = self.write();
        let at = tables.remotes.iter().position(|r| r.channel == channel)?;
        let remote = &mut tables.remotes[at];
        let was = remote.clone();
        if remote.expected.is_empty() {
            tables.remotes.remove(at);
        } else {
            remote.id = remote.expected[0].clone();
            remote.names = remote.expected.clone();
            remote.connected = false;
            remote.published.clear();
        }
        Some(was)
    }

    /// Forgets the kernel reached through `channel`, expected or not;
    /// returns it.
    pub fn unregister(&self, channel: SessionId) -> Option<Remote> {
        let mut tables = self.write();
        tables.proxies.retain(|_, (c, _)| *c != channel);
        let at = tables.remotes.iter().position(|r| r.channel == channel)?;
        Some(tables.remotes.remove(at))
    }

    /// Whether the connection through `channel` takes more requests.
    pub fn set_accepting(&self, channel: SessionId, accepting: bool) {
        if let Some(remote) = self
            .write()
            .remotes
            .iter_mut()
            .find(|r| r.channel == channel)
        {
            remote.accepting = accepting;
        }
    }

    /// Bounds the requests that may wait for the kernel reached through
    /// `channel` while it is disconnected (see [`admit`](Directory::admit)).
    pub fn set_queue_limit(&self, channel: SessionId, limit: usize) {
        if let Some(remote) = self
            .write()
            .remotes
            .iter_mut()
            .find(|r| r.channel == channel)
        {
            remote.queue_limit = limit;
        }
    }

    /// Admits one request for the kernel reached through `channel`: always
    /// while it is connected; while it is not, as long as fewer than its
    /// queue limit wait, so that a poster hears at once that the queue is
    /// full rather than the request being refused later.
    ///
    /// # Errors
    ///
    /// [`RouteError::QueueFull`] when the limit is reached (the kernel then
    /// takes nothing more until [`drained`](Directory::drained)).
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::{KernelId, SessionId};
    /// use roe_ikc::directory::{Directory, RouteError};
    ///
    /// let directory = Directory::default();
    /// let channel = SessionId::from_number(KernelId(0), 3);
    /// directory.expect(channel, &["Server".into()]);
    /// directory.set_queue_limit(channel, 2);
    /// assert!(directory.admit(channel).is_ok());
    /// assert!(directory.admit(channel).is_ok());
    /// assert_eq!(directory.admit(channel), Err(RouteError::QueueFull("Server".into())));
    /// assert!(directory.route("Server").is_err());
    /// directory.drained(channel);
    /// assert!(directory.admit(channel).is_ok());
    /// ```
    pub fn admit(&self, channel: SessionId) -> Result<(), RouteError> {
        let mut tables = self.write();
        let Some(remote) = tables.remotes.iter_mut().find(|r| r.channel == channel) else {
            return Ok(());
        };
        if remote.connected || remote.queue_limit == 0 {
            return Ok(());
        }
        if !remote.accepting || remote.waiting >= remote.queue_limit {
            remote.accepting = false;
            return Err(RouteError::QueueFull(remote.id.clone()));
        }
        remote.waiting += 1;
        Ok(())
    }

    /// What waited for the kernel reached through `channel` has been sent:
    /// it takes requests again.
    pub fn drained(&self, channel: SessionId) {
        if let Some(remote) = self
            .write()
            .remotes
            .iter_mut()
            .find(|r| r.channel == channel)
        {
            remote.waiting = 0;
            remote.accepting = true;
        }
    }

    /// Makes the kernel named `name` the default (IKC's `default`);
    /// `false` when no kernel has that name.
    pub fn set_default(&self, name: &str) -> bool {
        let mut tables = self.write();
        let Some(at) = tables
            .remotes
            .iter()
            .position(|r| r.names.iter().any(|n| n == name))
        else {
            return false;
        };
        let remote = tables.remotes.remove(at);
        tables.remotes.insert(0, remote);
        true
    }

    /// What the kernel reached through `channel` published changed.
    pub fn set_remote_published(
        &self,
        channel: SessionId,
        session: &str,
        states: BTreeSet<String>,
    ) {
        let mut tables = self.write();
        if let Some(remote) = tables.remotes.iter_mut().find(|r| r.channel == channel) {
            if states.is_empty() {
                remote.published.remove(session);
            } else {
                remote.published.insert(session.to_owned(), states);
            }
        }
    }

    /// The kernel reached through `channel` publishes `states` of
    /// `session` besides what it published (its `Publish` frame): added in
    /// place, within the limits its handshake was held to.
    ///
    /// # Errors
    ///
    /// A [`NameError`] for a name outside the handshake's rules, or when
    /// the kernel would pass [`MAX_PUBLISHED_SESSIONS`] sessions or the
    /// session [`MAX_PUBLISHED_STATES`] states; nothing is added then.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::{KernelId, SessionId};
    /// use roe_ikc::{directory::Directory, native::MAX_PUBLISHED_STATES};
    ///
    /// let directory = Directory::default();
    /// let channel = SessionId::from_number(KernelId(0), 3);
    /// directory.register("id-1", &[], channel, 42).unwrap();
    /// directory.remote_publish(channel, "echo", ["ping".to_owned()])?;
    /// assert!(directory.remote_publish(channel, "a/b", ["ping".to_owned()]).is_err());
    /// let many = (0..=MAX_PUBLISHED_STATES).map(|n| format!("s{n}"));
    /// assert!(directory.remote_publish(channel, "echo", many).is_err());
    /// assert_eq!(directory.remote(channel).unwrap().published["echo"].len(), 1);
    /// # Ok::<(), roe_ikc::native::NameError>(())
    /// ```
    pub fn remote_publish(
        &self,
        channel: SessionId,
        session: &str,
        states: impl IntoIterator<Item = String>,
    ) -> Result<(), NameError> {
        check_name("published session", session)?;
        let mut new = BTreeSet::new();
        for state in states {
            check_name("published state", &state)?;
            new.insert(state);
            // A frame of a million states is refused at the limit, not
            // gathered first.
            check_count("published states", new.len(), MAX_PUBLISHED_STATES)?;
        }
        let mut tables = self.write();
        let Some(remote) = tables.remotes.iter_mut().find(|r| r.channel == channel) else {
            return Ok(());
        };
        match remote.published.get_mut(session) {
            Some(have) => {
                let added = new.iter().filter(|s| !have.contains(*s)).count();
                check_count("published states", have.len() + added, MAX_PUBLISHED_STATES)?;
                have.extend(new);
            }
            None if new.is_empty() => {}
            None => {
                check_count(
                    "published sessions",
                    remote.published.len() + 1,
                    MAX_PUBLISHED_SESSIONS,
                )?;
                remote.published.insert(session.to_owned(), new);
            }
        }
        Ok(())
    }

    /// The kernel reached through `channel` no longer publishes `states`
    /// of `session` (all of them, when empty): its `Retract` frame,
    /// applied in place.
    pub fn remote_retract(&self, channel: SessionId, session: &str, states: &[String]) {
        let mut tables = self.write();
        let Some(remote) = tables.remotes.iter_mut().find(|r| r.channel == channel) else {
            return;
        };
        let Some(have) = remote.published.get_mut(session) else {
            return;
        };
        for state in states {
            have.remove(state);
        }
        if states.is_empty() || have.is_empty() {
            remote.published.remove(session);
        }
    }

    /// `look` at the kernel reached through `channel`, under the lock
    /// (a monitor's report takes who it is without copying its published
    /// tables).
    pub(crate) fn look_at<T>(
        &self,
        channel: SessionId,
        look: impl FnOnce(&Remote) -> T,
    ) -> Option<T> {
        self.read()
            .remotes
            .iter()
            .find(|r| r.channel == channel)
            .map(look)
    }

    /// The kernel reached through `channel`.
    pub fn remote(&self, channel: SessionId) -> Option<Remote> {
        self.read()
            .remotes
            .iter()
            .find(|r| r.channel == channel)
            .cloned()
    }

    /// The remote kernels, connected or expected, the default first.
    pub fn remotes(&self) -> Vec<Remote> {
        self.read().remotes.clone()
    }

    /// Where a kernel part leads: a name of a connected (or expected)
    /// kernel, `*` for every connected one, or empty for the default (the
    /// first connected, else the first expected).
    ///
    /// # Errors
    ///
    /// [`RouteError::UnknownKernel`], [`RouteError::NoDefault`], or
    /// [`RouteError::QueueFull`] for a disconnected kernel whose client
    /// takes no more requests.
    pub fn route(&self, kernel: &str) -> Result<Route, RouteError> {
        let tables = self.read();
        let found = match kernel {
            "*" => {
                return Ok(Route::All(
                    tables
                        .remotes
                        .iter()
                        .filter(|r| r.connected)
                        .map(|r| (r.id.clone(), r.channel))
                        .collect(),
                ));
            }
            "" => tables
                .remotes
                .iter()
                .find(|r| r.connected)
                .or_else(|| tables.remotes.first())
                .ok_or(RouteError::NoDefault)?,
            name => tables
                .remotes
                .iter()
                .find(|r| r.names.iter().any(|n| n == name))
                .ok_or_else(|| RouteError::UnknownKernel(name.to_owned()))?,
        };
        if !found.accepting {
            return Err(RouteError::QueueFull(found.id.clone()));
        }
        Ok(Route::One {
            kernel: found.id.clone(),
            channel: found.channel,
        })
    }

    /// Transparent naming: the one connected kernel that published a
    /// session named `session`.
    ///
    /// # Errors
    ///
    /// [`RouteError::NotPublished`] when none did,
    /// [`RouteError::Ambiguous`] when several did (the rule: an ambiguous
    /// name is reachable only with its kernel named).
    pub fn route_published(&self, session: &str) -> Result<Route, RouteError> {
        let tables = self.read();
        let mut found = tables
            .remotes
            .iter()
            .filter(|r| r.connected && r.published.contains_key(session));
        let Some(first) = found.next() else {
            return Err(RouteError::NotPublished(session.to_owned()));
        };
        let others: Vec<&Remote> = found.collect();
        if !others.is_empty() {
            let mut kernels = vec![first.id.clone()];
            kernels.extend(others.iter().map(|r| r.id.clone()));
            return Err(RouteError::Ambiguous {
                name: session.to_owned(),
                kernels,
            });
        }
        Ok(Route::One {
            kernel: first.id.clone(),
            channel: first.channel,
        })
    }
}

#[cfg(test)]
mod tests {
    use roe_engine::KernelId;

    use super::*;

    fn channel(n: u64) -> SessionId {
        SessionId::from_number(KernelId(0), n)
    }

    #[test]
    fn kernels_route_by_any_name_and_the_first_is_the_default() {
        let d = Directory::default();
        assert_eq!(d.route(""), Err(RouteError::NoDefault));
        d.register("a", &["Alpha".into(), "127.0.0.1:1".into()], channel(1), 1)
            .unwrap();
        d.register("b", &["Beta".into()], channel(2), 2).unwrap();
        assert_eq!(
            d.route("127.0.0.1:1"),
            Ok(Route::One {
                kernel: "a".into(),
                channel: channel(1)
            })
        );
        assert_eq!(
            d.route(""),
            Ok(Route::One {
                kernel: "a".into(),
                channel: channel(1)
            })
        );
        assert_eq!(
            d.route("*"),
            Ok(Route::All(vec![
                ("a".into(), channel(1)),
                ("b".into(), channel(2))
            ]))
        );
        assert_eq!(
            d.route("Gamma"),
            Err(RouteError::UnknownKernel("Gamma".into()))
        );
        assert!(matches!(
            d.register("a", &[], channel(3), 3),
            Err(RegisterError::AlreadyConnected(_))
        ));
        assert_eq!(d.unregister(channel(1)).map(|r| r.id), Some("a".into()));
        assert_eq!(
            d.route(""),
            Ok(Route::One {
                kernel: "b".into(),
                channel: channel(2)
            })
        );
    }

    #[test]
    fn transparent_names_are_unique_or_refused() {
        let d = Directory::default();
        d.register("a", &[], channel(1), 1).unwrap();
        d.register("b", &[], channel(2), 2).unwrap();
        let states: BTreeSet<String> = ["echo".to_owned()].into();
        d.set_remote_published(channel(1), "echo", states.clone());
        assert_eq!(
            d.route_published("echo"),
            Ok(Route::One {
                kernel: "a".into(),
                channel: channel(1)
            })
        );
        d.set_remote_published(channel(2), "echo", states);
        assert!(matches!(
            d.route_published("echo"),
            Err(RouteError::Ambiguous { .. })
        ));
        d.set_remote_published(channel(2), "echo", BTreeSet::new());
        assert!(d.route_published("echo").is_ok());
        assert_eq!(
            d.route_published("nope"),
            Err(RouteError::NotPublished("nope".into()))
        );
    }

    #[test]
    fn an_expected_kernel_is_routed_to_before_and_after_its_connection() {
        let d = Directory::default();
        d.expect(channel(5), &["127.0.0.1:6603".into(), "Server".into()]);
        let to_client = Ok(Route::One {
            kernel: "127.0.0.1:6603".into(),
            channel: channel(5),
        });
        assert_eq!(d.route("Server"), to_client);
        assert_eq!(d.route(""), to_client);
        assert_eq!(d.route("*"), Ok(Route::All(vec![])));
        let first = d
            .register("srv-1", &["Server".into(), "S".into()], channel(5), 9)
            .unwrap();
        let remote = d.remote(channel(5)).unwrap();
        assert!(remote.connected);
        assert_eq!(remote.names, ["srv-1", "Server", "S", "127.0.0.1:6603"]);
        assert_eq!(d.route("S").map(|_| ()), Ok(()));
        let was = d.disconnected(channel(5)).unwrap();
        assert_eq!(was.generation, first);
        assert_eq!(d.route("S"), Err(RouteError::UnknownKernel("S".into())));
        assert_eq!(d.route("Server"), to_client);
        d.set_accepting(channel(5), false);
        assert_eq!(
            d.route("Server"),
            Err(RouteError::QueueFull("127.0.0.1:6603".into()))
        );
        let second = d.register("srv-2", &[], channel(5), 10).unwrap();
        assert!(second > first);
        assert!(d.unregister(channel(5)).is_some());
        assert_eq!(d.route(""), Err(RouteError::NoDefault));
    }

    #[test]
    fn a_server_side_kernel_is_forgotten_when_it_leaves_and_default_can_change() {
        let d = Directory::default();
        d.register("a", &[], channel(1), 1).unwrap();
        d.register("b", &["Beta".into()], channel(2), 2).unwrap();
        assert!(d.set_default("Beta"));
        assert!(!d.set_default("Gamma"));
        assert_eq!(
            d.route(""),
            Ok(Route::One {
                kernel: "b".into(),
                channel: channel(2)
            })
        );
        assert!(d.disconnected(channel(2)).is_some());
        assert!(d.remote(channel(2)).is_none());
        assert_eq!(d.remotes().len(), 1);
    }

    #[test]
    fn publishing_keeps_within_the_handshakes_limits() {
        let d = Directory::default();
        let states: Vec<String> = (0..MAX_PUBLISHED_STATES).map(|n| format!("s{n}")).collect();
        d.publish_within(&["a".into(), "b".into()], channel(1), &states)
            .unwrap();
        // The same states again add nothing; one more is one too many.
        d.publish_within(&["a".into()], channel(1), &states[..3])
            .unwrap();
        assert_eq!(
            d.publish_within(&["b".into()], channel(1), &["more".into()]),
            Err(NameError::TooMany {
                what: "published states",
                count: MAX_PUBLISHED_STATES + 1,
                max: MAX_PUBLISHED_STATES
            })
        );
        assert!(!d.is_published("b", "more"));
        for n in 2..MAX_PUBLISHED_SESSIONS {
            d.publish_within(&[format!("n{n}")], channel(1), &["ping".into()])
                .unwrap();
        }
        assert!(matches!(
            d.publish_within(&["last".into()], channel(1), &["ping".into()]),
            Err(NameError::TooMany {
                what: "published sessions",
                ..
            })
        ));
        assert_eq!(d.published().len(), MAX_PUBLISHED_SESSIONS);
    }

    #[test]
    fn a_remotes_publish_frames_grow_its_table_in_place_within_the_limits() {
        let d = Directory::default();
        d.register("a", &[], channel(1), 1).unwrap();
        let states = |range: std::ops::Range<usize>| range.map(|n| format!("s{n}"));
        d.remote_publish(channel(1), "echo", states(0..1000))
            .unwrap();
        d.remote_publish(channel(1), "echo", states(500..MAX_PUBLISHED_STATES))
            .unwrap();
        assert!(matches!(
            d.remote_publish(channel(1), "echo", states(0..MAX_PUBLISHED_STATES + 1)),
            Err(NameError::TooMany {
                what: "published states",
                ..
            })
        ));
        assert!(matches!(
            d.remote_publish(channel(1), "echo", ["one-more".to_owned()]),
            Err(NameError::TooMany {
                what: "published states",
                ..
            })
        ));
        assert!(
            d.remote_publish(channel(1), "echo", ["s/1".to_owned()])
                .is_err()
        );
        assert_eq!(
            d.remote(channel(1)).unwrap().published["echo"].len(),
            MAX_PUBLISHED_STATES
        );
        for n in 1..MAX_PUBLISHED_SESSIONS {
            d.remote_publish(channel(1), &format!("n{n}"), ["ping".to_owned()])
                .unwrap();
        }
        assert!(matches!(
            d.remote_publish(channel(1), "last", ["ping".to_owned()]),
            Err(NameError::TooMany {
                what: "published sessions",
                ..
            })
        ));
        // Retracting makes room.
        d.remote_retract(channel(1), "n1", &["ping".into()]);
        d.remote_retract(channel(1), "echo", &[]);
        assert!(d.route_published("echo").is_err());
        d.remote_publish(channel(1), "last", ["ping".to_owned()])
            .unwrap();
        d.remote_publish(channel(1), "again", ["ping".to_owned()])
            .unwrap();
        assert_eq!(
            d.remote(channel(1)).unwrap().published.len(),
            MAX_PUBLISHED_SESSIONS
        );
        // Unknown channels and empty publications change nothing.
        d.remote_publish(channel(9), "x", ["ping".to_owned()])
            .unwrap();
        d.remote_publish(channel(1), "empty", std::iter::empty())
            .unwrap();
        assert!(
            !d.remote(channel(1))
                .unwrap()
                .published
                .contains_key("empty")
        );
    }

    #[test]
    fn retracting_removes_states_or_everything() {
        let d = Directory::default();
        d.publish("echo", channel(1), ["a", "b"]);
        assert!(d.retract("echo", &["a".into()]));
        assert!(!d.is_published("echo", "a") && d.is_published("echo", "b"));
        assert!(d.retract("echo", &[]));
        assert!(d.published().is_empty());
        assert!(!d.retract("echo", &[]));
    }
}
