//! IKC's monitors: sessions that asked to hear when kernels connect and
//! leave, when requests fail, and when IKC shuts down.
//!
//! A monitor names a kernel (any of its names) or `*`, and maps the
//! operations it wants to hear of to its own states. Every report carries
//! `ARG0` the name monitored, `ARG1` the kernel's name, `ARG2` whether
//! that name is the kernel's unique ID, `ARG3` the monitor's `data`, then
//! the operation's own arguments, and last the connection's generation
//! (which grows with every registration in the process, so a report of a
//! connection that has since been replaced can be told apart).

use std::sync::{Mutex, MutexGuard, PoisonError};

use roe_engine::{Context, Map, SessionId, Value};

use crate::directory::Remote;

/// The operations a monitor may ask for.
pub(crate) const OPERATIONS: [&str; 7] = [
    "register",
    "unregister",
    "subscribe",
    "unsubscribe",
    "shutdown",
    "error",
    "channel",
];

struct Monitor {
    session: SessionId,
    /// The kernel name monitored, or `*`.
    name: String,
    /// Operation → the monitor's state.
    states: Vec<(String, String)>,
    data: Value,
}

/// The process's monitors.
#[derive(Default)]
pub(crate) struct Monitors {
    list: Mutex<Vec<Monitor>>,
}

/// The kernel a report is about: who it is, without what it published
/// ([`Directory::look_at`](crate::directory::Directory::look_at)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct About {
    /// Its unique ID (empty when not known yet).
    pub id: String,
    /// Its names, the ID among them.
    pub names: Vec<String>,
    /// Its connection's generation.
    pub generation: u64,
}

impl About {
    /// A kernel known by `name` alone: this process, or a peer before its
    /// handshake (by where it was reached).
    pub fn named(name: impl Into<String>, generation: u64) -> About {
        About {
            id: String::new(),
            names: vec![name.into()],
            generation,
        }
    }
}

impl From<&Remote> for About {
    fn from(remote: &Remote) -> About {
        About {
            id: remote.id.clone(),
            names: remote.names.clone(),
            generation: remote.generation,
        }
    }
}

impl Monitors {
    fn list(&self) -> MutexGuard<'_, Vec<Monitor>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets (or, with no states, removes) `session`'s monitor of `name`.
    /// Unknown operations are ignored, as IKC ignores them.
    pub fn set(&self, session: SessionId, name: &str, spec: &Map) {
        let mut list = self.list();
        list.retain(|m| !(m.session == session && m.name == name));
        let states: Vec<(String, String)> = OPERATIONS
            .iter()
            .filter_map(|op| {
                let state = spec.get(*op)?.as_str()?;
                Some(((*op).to_owned(), state.to_owned()))
            })
            .collect();
        if states.is_empty() {
            return;
        }
        list.push(Monitor {
            session,
            name: name.to_owned(),
            states,
            data: spec.get("data").cloned().unwrap_or_default(),
        });
    }

    /// Reports `op` about `kernel` with `extra` arguments to every monitor
    /// that asked: once per name of the kernel for `*`, once for the name
    /// a named monitor gave, each through `post`.
    pub fn report(
        &self,
        post: &mut dyn FnMut(SessionId, &str, Vec<Value>),
        op: &str,
        kernel: &About,
        extra: &[Value],
    ) {
        let wanted: Vec<(SessionId, String, String, Value)> = self
            .list()
            .iter()
            .filter_map(|m| {
                let (_, state) = m.states.iter().find(|(o, _)| o == op)?;
                let matches = m.name == "*" || kernel.names.contains(&m.name);
                matches.then(|| (m.session, m.name.clone(), state.clone(), m.data.clone()))
            })
            .collect();
        for (session, name, state, data) in wanted {
            let names: Vec<&String> = if name == "*" {
                kernel.names.iter().collect()
            } else {
                kernel.names.iter().filter(|n| **n == name).collect()
            };
            let names: Vec<&str> = if names.is_empty() {
                // Nothing registered yet (an error before the handshake).
                vec![""]
            } else {
                names.iter().map(|n| n.as_str()).collect()
            };
            for remote in names {
                let mut args = vec![
                    Value::from(name.as_str()),
                    Value::from(remote),
                    Value::Bool(!kernel.id.is_empty() && remote == kernel.id),
                    data.clone(),
                ];
                args.extend(extra.iter().cloned());
                args.push(Value::Int(
                    i64::try_from(kernel.generation).unwrap_or(i64::MAX),
                ));
                post(session, &state, args);
            }
        }
    }

    /// Reports `op` to monitors that asked for it, without a kernel (IKC's
    /// `shutdown`): `ARG1` is this process's name.
    pub fn report_local(
        &self,
        post: &mut dyn FnMut(SessionId, &str, Vec<Value>),
        op: &str,
        me: &str,
    ) {
        self.report(post, op, &About::named(me, 0), &[]);
    }
}

/// Reports `op` about a kernel to those of `monitors` that asked.
pub(crate) fn report<H: 'static>(
    cx: &mut Context<'_, H>,
    monitors: &Monitors,
    op: &str,
    about: &About,
    extra: &[Value],
) {
    monitors.report(
        &mut |s, state, args| drop(cx.post(s, state, args)),
        op,
        about,
        extra,
    );
}
