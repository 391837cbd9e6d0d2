//! `Dest`: where an event goes, before it is resolved to a session.

use std::fmt;

use crate::{id::SessionId, value::Str};

/// A destination as POE accepts one: a session, or a name that is a
/// session number, an alias, or the kernel's name.
///
/// Names resolve in POE's order when the call is made: a live session with
/// that number, or the kernel's own name (both are in POE's ID table), then
/// an alias; so an alias that looks like a number, or equals the kernel's
/// name, is shadowed.
///
/// Every call that takes a destination takes `impl Into<Dest>`: a
/// [`SessionId`], a session number, or a name.
///
/// # Examples
///
/// ```
/// use roe_engine::{Dest, Kernel, Session};
///
/// let mut kernel = Kernel::new()?;
/// let counter = kernel.spawn(
///     Session::new(0)
///         .on("_start", |cx, _| cx.alias_set("counter"))
///         .on("count", |cx, _| {
///             *cx.heap += 1;
///             if *cx.heap == 3 {
///                 cx.alias_remove("counter")?;
///             }
///             Ok::<_, roe_engine::Error>(())
///         }),
/// )?;
/// kernel.spawn(Session::new(()).on("_start", move |cx, _| {
///     cx.post(counter, "count", ())?; // by ID
///     cx.post("counter", "count", ())?; // by alias, resolved now
///     cx.post(counter.number(), "count", ())?; // by number
///     Ok::<_, roe_engine::Error>(())
/// }))?;
/// assert_eq!(Dest::from("counter").to_string(), "counter");
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    /// A session (or a kernel, via [`SessionId::kernel_root`]).
    Session(SessionId),
    /// A session number, an alias, or the kernel's name.
    Name(Str),
}

impl From<SessionId> for Dest {
    fn from(id: SessionId) -> Dest {
        Dest::Session(id)
    }
}

impl From<&SessionId> for Dest {
    fn from(id: &SessionId) -> Dest {
        Dest::Session(*id)
    }
}

impl From<&str> for Dest {
    fn from(name: &str) -> Dest {
        Dest::Name(Str::new(name))
    }
}

impl From<String> for Dest {
    fn from(name: String) -> Dest {
        Dest::Name(Str::from(name))
    }
}

impl From<&String> for Dest {
    fn from(name: &String) -> Dest {
        Dest::Name(Str::new(name))
    }
}

impl From<Str> for Dest {
    fn from(name: Str) -> Dest {
        Dest::Name(name)
    }
}

impl From<u64> for Dest {
    /// A session number, as POE accepts a numeric ID.
    fn from(number: u64) -> Dest {
        Dest::Name(Str::from(number.to_string()))
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Session(id) => write!(f, "session {id}"),
            Dest::Name(name) => f.write_str(name),
        }
    }
}
