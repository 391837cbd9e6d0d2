//! A channel's frames from the peer: requests for this process's
//! sessions (published states only, or sessions that sent the peer
//! requests), answers to calls, and what the peer publishes.

use roe_engine::{Answer, Args, Context, Event, Result, SessionId, Value};

use super::{Channel, answer_receipt, link::Incoming, refusal};
use crate::{
    native::{Frame, Origin, SessionRef, Target, check_name},
    request::{INVOKE, Invoke, Outgoing, deliver_answer, unpack},
};

pub(super) fn frame(cx: &mut Context<'_, Channel>, incoming: Incoming) -> Result<()> {
    match incoming {
        Incoming::Post { to, args, from } => request(cx, to, args, from, None, None),
        Incoming::Call {
            id,
            to,
            args,
            from,
            wants_list,
        } => request(cx, to, args, from, Some(id), wants_list),
        Incoming::Reply { id, answer } => {
            if let Some(reply) = cx.heap.pending.remove(&id) {
                deliver_answer(cx, &reply, answer);
            }
            Ok(())
        }
        Incoming::Publish { session, states } => {
            // In place, and within the handshake's limits: a peer cannot
            // grow this process's tables past what its handshake could
            // have announced, nor make each frame cost all it published.
            let me = cx.session();
            if let Err(error) = cx.heap.ikc.directory().remote_publish(me, &session, states) {
                super::close(
                    cx,
                    &format!("a Publish past the handshake's rules: {error}"),
                );
            }
            Ok(())
        }
        Incoming::Retract { session, states } => {
            let me = cx.session();
            cx.heap
                .ikc
                .directory()
                .remote_retract(me, &session, &states);
            Ok(())
        }
        Incoming::Subscribe { id, session, state } => {
            let directory = cx.heap.ikc.directory();
            let accepted = match &state {
                Some(state) => directory.is_published(&session, state),
                None => directory.published_session(&session).is_some(),
            };
            if let Some(link) = cx.heap.link.clone()
                && let Err(error) = link.send(&Frame::Subscribed { id, accepted })
            {
                let message = format!("the answer to a subscription could not be sent: {error}");
                refusal::report(cx, "local-subscribe", &message);
            }
            Ok(())
        }
        Incoming::Subscribed { id, accepted } => {
            if let Some((receipt, _)) = cx.heap.subscribing.remove(&id) {
                answer_receipt(cx, &receipt, accepted);
            }
            Ok(())
        }
        Incoming::Error { op, message } => {
            // The peer refused one of this side's requests.
            refusal::report(cx, &format!("remote-{op}"), &message);
            Ok(())
        }
        Incoming::Refused { op, message } => {
            // The link refused one of the peer's requests, and told it.
            refusal::report(cx, &format!("local-{op}"), &message);
            Ok(())
        }
    }
}

/// A peer's post or call: checked, then carried out by the responder of
/// the target's kernel, from a stand-in for the peer's sender.
fn request(
    cx: &mut Context<'_, Channel>,
    to: Target<'static>,
    args: Args,
    from: Option<Origin<'static>>,
    call: Option<u64>,
    wants_list: Option<bool>,
) -> Result<()> {
    let target = match target(cx, &to) {
        Ok(target) => target,
        Err(message) => return refuse(cx, call, "check", message),
    };
    // A state no handler anywhere has was never interned: a peer's text
    // does not grow the event table.
    let Some(state) = Event::lookup(&to.state) else {
        return match call {
            Some(id) => reply(cx, id, Answer::NoHandler),
            None => refuse(
                cx,
                None,
                "invocation",
                format!("{} has no state {:?}", session_text(&to.session), to.state),
            ),
        };
    };
    let me = cx.session();
    let Some(responder) = cx.heap.ikc.responder(target.kernel()) else {
        return refuse(
            cx,
            call,
            "invocation",
            "IKC does not run on that session's kernel".into(),
        );
    };
    let invoke = Invoke {
        channel: me,
        origin: from.and_then(|o| origin(o.session)),
        target,
        state,
        args,
        call,
        wants_list,
    };
    match cx.post(responder, INVOKE, (Value::local(invoke),)) {
        Ok(()) => Ok(()),
        // A call must still be answered: the peer waits for it.
        Err(error) => refuse(
            cx,
            call,
            "invocation",
            format!("the request could not reach its responder: {error}"),
        ),
    }
}

/// The peer session a request says it is from, as its thunk is known by:
/// a name outside the handshake's rules is no name (its text would be
/// kept, as long as the peer made it).
fn origin(session: SessionRef<'static>) -> Option<SessionRef<'static>> {
    match &session {
        SessionRef::Alias(name) if check_name("peer session", name).is_err() => None,
        _ => Some(session),
    }
}

/// The local session a peer's target names: a published name whose state
/// is published, or a session that sent the peer a request (by number).
fn target(
    cx: &mut Context<'_, Channel>,
    to: &Target<'_>,
) -> std::result::Result<SessionId, String> {
    let directory = cx.heap.ikc.directory();
    let number = match &to.session {
        SessionRef::Alias(name) => {
            if directory.is_published(name, &to.state)
                && let Some(session) = directory.published_session(name)
            {
                return Ok(session);
            }
            name.parse::<u64>().ok()
        }
        SessionRef::Number(number) => Some(*number),
    };
    match number.map(unpack) {
        Some(session) if cx.heap.exposed.contains(session) => Ok(session),
        _ => Err(format!(
            "{}/{} is not published",
            session_text(&to.session),
            to.state
        )),
    }
}

fn session_text(session: &SessionRef<'_>) -> String {
    match session {
        SessionRef::Alias(name) => name.to_string(),
        SessionRef::Number(number) => number.to_string(),
    }
}

/// Refuses a peer's request: a call gets a refused answer, a post an
/// `Error` frame; both are reported as `local-<op>` (see
/// [`refusal::report`]).
fn refuse(
    cx: &mut Context<'_, Channel>,
    call: Option<u64>,
    op: &'static str,
    message: String,
) -> Result<()> {
    refusal::report(cx, &format!("local-{op}"), &message);
    match call {
        Some(id) => reply(cx, id, Answer::Failed(message)),
        None => {
            let error = Outgoing::Error { op, message };
            let me = cx.session();
            super::send::outgoing(cx, error, me);
            Ok(())
        }
    }
}

fn reply(cx: &mut Context<'_, Channel>, id: u64, answer: Answer) -> Result<()> {
    let me = cx.session();
    super::send::outgoing(cx, Outgoing::Reply { id, answer }, me);
    Ok(())
}
