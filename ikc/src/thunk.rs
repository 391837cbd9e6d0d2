//! The stand-in for a peer's session (IKC's "thunk"): the SENDER of the
//! requests that session makes here, so that posting back to SENDER
//! reaches it across the link.
//!
//! A responder keeps one thunk per connection and peer session, on its own
//! kernel, so that a call runs as an ordinary local call there. A thunk
//! holds itself alive (a reference count its responder releases when the
//! connection closes or the thunk has gone unused longest), and every
//! event posted to it other than its own is sent back to the peer session
//! as a post of that event.

use std::cell::Cell;

use roe_engine::{Answer, Args, Context, Result, Session, SessionId, Value};

use crate::{
    native::{SessionRef, Target},
    request::{Invoke, Outgoing, PostKind, SEND, Sender, is_kernel_event},
};

thread_local! {
    /// The calling context of the peer's call being run, while it runs.
    static WANTARRAY: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Perl's `wantarray` for a handler running a call from another process:
/// `Some(true)` when a Perl caller wants a list, `Some(false)` when it
/// wants one value, `None` otherwise (a roe caller, whose calls have no
/// context, or no remote call at all).
///
/// A Perl handler decides by its context what to return (`return @list`
/// is the list to a list-context caller and its length to a scalar one);
/// a roe handler that serves Perl peers can do the same with this.
///
/// # Examples
///
/// ```
/// use roe_engine::Value;
///
/// // What a handler of `list` returns to a Perl caller, as Perl's
/// // `return @$list` would.
/// fn answer(list: Vec<Value>) -> Value {
///     match roe_ikc::wantarray() {
///         Some(false) => Value::from(list.len()),
///         _ => Value::List(list),
///     }
/// }
/// assert_eq!(answer(vec![Value::Int(1)]), Value::List(vec![Value::Int(1)]));
/// ```
pub fn wantarray() -> Option<bool> {
    WANTARRAY.with(Cell::get)
}

/// A thunk's event: carry out this [`Invoke`].
pub(crate) const DELIVER: &str = "roe-ikc:deliver";

/// The reference count tag a thunk holds itself alive by.
pub(crate) const HELD: &str = "roe-ikc:thunk";

pub(crate) struct Thunk {
    channel: SessionId,
    origin: Option<SessionRef<'static>>,
}

/// A thunk for `origin` (none: the peer did not say who sent it) on the
/// connection `channel`.
pub(crate) fn session(channel: SessionId, origin: Option<SessionRef<'static>>) -> Session<Thunk> {
    Session::new(Thunk { channel, origin })
        .on("_start", |cx, _| {
            let me = cx.session();
            cx.refcount_increment(me, HELD).map(drop)
        })
        .on(DELIVER, |cx, mut args| {
            let invoke: Invoke = args.take(0).take_local()?;
            deliver(cx, invoke)
        })
        .on("_default", send_back)
}

/// Runs the request as the peer's session would here: a post, or a call
/// whose answer goes back on the connection.
fn deliver(cx: &mut Context<'_, Thunk>, invoke: Invoke) -> Result<()> {
    let channel = cx.heap.channel;
    let outgoing = match invoke.call {
        Some(id) => {
            let before = WANTARRAY.with(|w| w.replace(invoke.wants_list));
            let answer = cx.call_answer(invoke.target, invoke.state, invoke.args);
            WANTARRAY.with(|w| w.set(before));
            // The peer waits for an answer, whatever became of the call.
            let answer = answer.unwrap_or_else(|error| Answer::Died(error.to_string()));
            Outgoing::Reply { id, answer }
        }
        None => match cx.post(invoke.target, invoke.state, invoke.args) {
            Ok(()) => return Ok(()),
            Err(error) => Outgoing::Error {
                op: "local-invocation",
                message: error.to_string(),
            },
        },
    };
    // The connection may be gone; then there is no one to tell.
    let _ = cx.post(channel, SEND, (Value::local(outgoing),));
    Ok(())
}

/// An event posted to the thunk (ARG0 its name, ARG1 its arguments): a
/// post back to the peer's session.
fn send_back(cx: &mut Context<'_, Thunk>, mut args: Args) -> Result<()> {
    let event = args[0].as_str().unwrap_or_default().to_owned();
    if is_kernel_event(&event) {
        return Ok(());
    }
    let Some(origin) = cx.heap.origin.clone() else {
        tracing::debug!(
            thunk = %cx.session(),
            "a post to the stand-in of a peer session that did not say who it is is dropped"
        );
        return Ok(());
    };
    let posted: Args = match args.take(1) {
        Value::List(list) => list.into(),
        _ => Args::new(),
    };
    let outgoing = Outgoing::Post {
        to: Target {
            session: origin,
            state: event.into(),
        },
        args: posted,
        from: Sender::Session(cx.sender()),
        kind: PostKind::Back,
    };
    let channel = cx.heap.channel;
    let _ = cx.post(channel, SEND, (Value::local(outgoing),));
    Ok(())
}
