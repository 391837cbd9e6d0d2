//! What IKC's sessions hand each other: work for a connection to send
//! ([`Outgoing`]), and a peer's request for a kernel's responder to
//! deliver ([`Invoke`]). They travel as [`Value::local`] payloads, across
//! kernels when need be, under the event names below.

use std::time::Duration;

use roe_engine::{Answer, Args, Context, Dest, Event, KernelId, SessionId, Value};

use crate::{
    Kernel, Specifier,
    native::{SessionRef, Target},
};

/// IKC's responder's alias, as in IKC.
pub(crate) const ALIAS: &str = "IKC";
/// What every member of IKC (responders, channels, listeners, proxies)
/// gets when IKC shuts down.
pub(crate) const SHUTDOWN: &str = "roe-ikc:shutdown";
/// A connection's event: send this [`Outgoing`].
pub(crate) const SEND: &str = "roe-ikc:send";
/// A responder's event: deliver this [`Invoke`].
pub(crate) const INVOKE: &str = "roe-ikc:invoke";
/// A responder's event: a connection closed (`ARG0`, and `ARG1` whether
/// for good): release what it held there.
pub(crate) const CLOSED: &str = "roe-ikc:closed";
/// A responder's event: the answer to one of its subscription requests
/// (a [`Receipt`] and whether it was accepted).
pub(crate) const SUBSCRIBED: &str = "roe-ikc:subscribed";
/// A responder's event: a post to every connected kernel, made through
/// the router (an [`Outgoing::Post`] to copy to each).
pub(crate) const POST_ALL: &str = "roe-ikc:post_all";
/// A responder's event: a `call_reply` to a session of this process,
/// made through the router.
pub(crate) const LOCAL_CALL: &str = "roe-ikc:local_call";

/// How long a subscription waits for its answers, as IKC's does; a
/// connection forgets a question its peer has not answered by then.
pub(crate) const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(60);

/// Session numbers on the wire carry their kernel in the top 16 bits, so
/// one number names a session of a whole runtime.
const KERNEL_SHIFT: u32 = 48;

/// A session of this process as the wire names it.
pub(crate) fn pack(id: SessionId) -> u64 {
    pack_parts(id.kernel().0, id.number())
}

/// A session's kernel and number, as one number.
pub(crate) fn pack_parts(kernel: u16, number: u64) -> u64 {
    (u64::from(kernel) << KERNEL_SHIFT) | (number & ((1 << KERNEL_SHIFT) - 1))
}

/// The session of this process a wire number names.
pub(crate) fn unpack(number: u64) -> SessionId {
    SessionId::from_number(
        KernelId((number >> KERNEL_SHIFT) as u16),
        number & ((1 << KERNEL_SHIFT) - 1),
    )
}

/// Who a request is from, as the peer is told.
#[derive(Clone, Debug)]
pub(crate) enum Sender {
    /// The session that posted the request to the connection (its
    /// SENDER there): the usual case, through the router or a proxy.
    Poster,
    /// This session.
    Session(SessionId),
}

/// What kind of post a request is: the same to a roe peer, each in its
/// own shape to a Perl one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PostKind {
    /// Someone's post to a remote state (IKC's `post`): one argument is
    /// the state's `ARG0`.
    Plain,
    /// A post to the stand-in of a peer's session, going back to it (to
    /// IKC's `$_[SENDER]`).
    Back,
    /// A post through a proxy session (IKC's `IKC:proxy`).
    Proxied,
}

/// Where the answer to a call goes.
#[derive(Clone, Debug)]
pub(crate) enum ReplyTo {
    /// A `call_reply`: the [`Answer`]'s arguments, posted to `caller` as
    /// `event`.
    Answer {
        /// The calling session.
        caller: SessionId,
        /// Its reply event.
        event: Event,
    },
    /// IKC's RSVP: the [`Answer`]'s arguments (`ARG0` the value), posted
    /// to the state `rsvp` names, of the session it names or else of
    /// `caller`, on this process or the kernel it names.
    Rsvp {
        /// The calling session.
        caller: SessionId,
        /// The RSVP.
        rsvp: Specifier,
    },
}

/// Work for a connection (its [`SEND`] event).
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Post to a state of a session of the peer.
    Post {
        /// The session and state.
        to: Target<'static>,
        /// The arguments.
        args: Args,
        /// Who it is from.
        from: Sender,
        /// What kind of post it is (a Perl peer gets each in its shape).
        kind: PostKind,
    },
    /// Call a state of a session of the peer; the answer goes to `reply`.
    Call {
        /// The session and state.
        to: Target<'static>,
        /// The arguments.
        args: Args,
        /// Who it is from.
        from: Sender,
        /// Where the answer goes.
        reply: ReplyTo,
    },
    /// Answer the peer's call `id`.
    Reply {
        /// The peer's call.
        id: u64,
        /// What became of it.
        answer: Answer,
    },
    /// Tell the peer one of its posts was refused or failed.
    Error {
        /// IKC's name for what failed.
        op: &'static str,
        /// What happened.
        message: String,
    },
    /// This process now publishes these states of `session`.
    Publish {
        /// The published name.
        session: String,
        /// The states.
        states: Vec<String>,
    },
    /// This process no longer publishes these states (all, when none).
    Retract {
        /// The published name.
        session: String,
        /// The states.
        states: Vec<String>,
    },
    /// Ask whether the peer publishes `session` (or its `state`); the
    /// answer goes to the receipt's responder.
    Subscribe {
        /// The published name.
        session: String,
        /// One state, or the whole session.
        state: Option<String>,
        /// Where the answer goes.
        receipt: Receipt,
    },
}

/// A responder's pending subscription: the request it belongs to and the
/// specifier asked for.
#[derive(Clone, Debug)]
pub(crate) struct Receipt {
    /// The responder that asked.
    pub responder: SessionId,
    /// Its request.
    pub request: u64,
    /// The specifier, as the subscriber wrote it.
    pub spec: Specifier,
}

/// A peer's request for a session of this process, for the responder of
/// that session's kernel to deliver (its [`INVOKE`] event) from a stand-in
/// for the peer's sender.
#[derive(Debug)]
pub(crate) struct Invoke {
    /// The connection it came through.
    pub channel: SessionId,
    /// Who sent it, on the peer.
    pub origin: Option<SessionRef<'static>>,
    /// The session to run it in.
    pub target: SessionId,
    /// The state.
    pub state: Event,
    /// The arguments.
    pub args: Args,
    /// For a call, its id on the connection.
    pub call: Option<u64>,
    /// For a Perl caller's call, whether it wants a list (see
    /// [`wantarray`](crate::wantarray)).
    pub wants_list: Option<bool>,
}

/// A call to a session of this process made through IKC, run by the
/// responder of the session's kernel.
#[derive(Debug)]
pub(crate) struct LocalCall {
    pub target: SessionId,
    pub state: String,
    pub args: Args,
    pub reply: ReplyTo,
}

/// Posts a call's answer where the caller asked: the reply event, or the
/// RSVP (the answer's value as `ARG0`; nothing at all for `undef`, as in
/// IKC). Failures of the RSVP post are the caller's to see in its log.
pub(crate) fn deliver_answer<H: 'static>(
    cx: &mut Context<'_, H>,
    reply: &ReplyTo,
    answer: roe_engine::Answer,
) {
    match reply {
        ReplyTo::Answer { caller, event } => {
            let _ = cx.post(*caller, *event, answer.into_args());
        }
        ReplyTo::Rsvp { caller, rsvp } => {
            let Some(state) = rsvp.state.as_deref() else {
                return;
            };
            let value = match answer {
                roe_engine::Answer::Returned(Value::Undef) => return,
                roe_engine::Answer::Returned(value) => value,
                other => {
                    tracing::warn!(%caller, rsvp = %rsvp, "a call through IKC failed: {other:?}");
                    return;
                }
            };
            let dest: Dest = match (&rsvp.kernel, &rsvp.session) {
                (Kernel::Default, None) => Dest::from(*caller),
                (Kernel::Default, Some(session)) => Dest::from(session.as_str()),
                (_, _) => Dest::from(
                    Specifier {
                        state: None,
                        ..rsvp.clone()
                    }
                    .to_string(),
                ),
            };
            let mut args = vec![value];
            if let Some(arg) = &rsvp.arg {
                args.push(Value::from(arg.as_str()));
            }
            if let Err(error) = cx.post(dest, state, args) {
                tracing::warn!(%caller, rsvp = %rsvp, "an IKC answer found no one: {error}");
            }
        }
    }
}

/// The kernel's own events (`_stop`, `_parent`, `_child` and the like),
/// which reach a session's `_default` too: a stand-in for a remote session
/// keeps them to itself.
pub(crate) fn is_kernel_event(event: &str) -> bool {
    event.starts_with('_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_session_keeps_its_kernel_and_number() {
        let id = SessionId::from_number(KernelId(3), 41);
        assert_eq!(unpack(pack(id)), id);
        assert_eq!(pack(id) >> KERNEL_SHIFT, 3);
    }
}
