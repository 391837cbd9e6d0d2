//! [`Router`]: where a kernel sends what it cannot resolve itself.
//!
//! A name that no session of this kernel (nor, in a runtime, of its other
//! kernels) holds may still name a session of another process: an IKC
//! specifier such as `poe://Server/echo`, or a name a connected kernel
//! published. The kernel does not know IKC; a crate that does (roe-ikc)
//! plugs a router in, and the kernel asks it before failing a `post` or a
//! `call_reply`. The router turns the request into a post to one of its
//! own sessions (IKC's responder), so the rest of the way is ordinary
//! posting.

use crate::{error::Error, event::Event, id::SessionId, value::Args};

/// Routes posts and calls that nothing local resolves to a session that
/// can carry them further (IKC's responder).
///
/// # Examples
///
/// A router that sends every `poe://` destination to a gateway session as
/// its `forward` event, with the destination and the event in front:
///
/// ```
/// use std::rc::Rc;
/// use roe_engine::{Args, Event, Kernel, Routed, Router, Session, SessionId, Unrouted};
///
/// struct Gateway(SessionId);
///
/// impl Router for Gateway {
///     fn post(&self, name: &str, event: Event, args: Args) -> Result<Routed, Unrouted> {
///         if !name.starts_with("poe://") {
///             return Err(Unrouted::Unknown);
///         }
///         let mut forwarded = Args::from((name, event.as_str()));
///         forwarded.extend(args);
///         Ok(Routed { session: self.0, event: Event::new("forward"), args: forwarded })
///     }
/// }
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(Vec::<String>::new())
///         .on("_start", |cx, _| {
///             let me = cx.session();
///             cx.set_router(Some(Rc::new(Gateway(me))));
///             cx.post("poe://Server/echo", "say", ("hi",))
///         })
///         .on("forward", |cx, args| {
///             cx.heap.push(format!("{} {} {}", args[0], args[1], args[2]));
///         })
///         .on("_stop", |cx, _| assert_eq!(cx.heap[..], ["poe://Server/echo say hi"])),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub trait Router {
    /// A post of `event` to `name`, which nothing local resolves: where to
    /// post instead.
    ///
    /// # Errors
    ///
    /// [`Unrouted::Unknown`] for a name the router does not know either
    /// (the post then fails as it would without a router);
    /// [`Unrouted::Refused`] for one it knows but cannot carry the post
    /// to now (the post fails with that error).
    fn post(&self, name: &str, event: Event, args: Args) -> Result<Routed, Unrouted>;

    /// A [`call_reply`](crate::Context::call_reply) of `event` in `name`,
    /// whose answer must come back to `caller` as `reply`; by default the
    /// router does not carry calls.
    ///
    /// # Errors
    ///
    /// As [`post`](Router::post).
    fn call_reply(
        &self,
        name: &str,
        event: Event,
        args: Args,
        caller: SessionId,
        reply: Event,
    ) -> Result<Routed, Unrouted> {
        let _ = (name, event, args, caller, reply);
        Err(Unrouted::Unknown)
    }
}

/// Where a [`Router`] sends a request: a post of `event` with `args` to
/// `session`, from the session that made the request.
#[derive(Debug)]
pub struct Routed {
    /// The session that carries the request further.
    pub session: SessionId,
    /// The event it gets.
    pub event: Event,
    /// Its arguments.
    pub args: Args,
}

/// Why a [`Router`] does not carry a request.
#[derive(Debug)]
pub enum Unrouted {
    /// The name is not one the router knows: the request fails as it
    /// would without a router (no such session).
    Unknown,
    /// The router knows the name but cannot carry the request now (the
    /// connection's queue is full, say): the request fails with this.
    Refused(Error),
}
