//! A channel's `SEND`: work for the peer, written as frames (or, for a
//! client between connections, queued).

use std::time::Instant;

use roe_engine::{Answer, Args, Context, SessionId, Value};

use super::{
    Channel, MAX_PENDING_CALLS, MAX_SUBSCRIBING, answer_receipt, dial, link::SendError, refusal,
};
use crate::{
    WireValue,
    native::{Frame, Origin, Outcome, SessionRef},
    request::{Outgoing, SUBSCRIBE_TIMEOUT, Sender, deliver_answer, pack},
};

/// Sends `outgoing`, which `sender` posted to the channel.
pub(super) fn outgoing(cx: &mut Context<'_, Channel>, outgoing: Outgoing, sender: SessionId) {
    let Some(link) = cx.heap.link.clone().filter(|_| cx.heap.peer.is_some()) else {
        return not_connected(cx, outgoing, sender);
    };
    if cx.heap.registered && !matches!(outgoing, Outgoing::Reply { .. }) {
        // Past the output bound, requests are refused (a reply to the
        // peer is still tried: the link refuses it if it must).
        if link.is_backlogged() {
            return refuse(cx, outgoing, "the peer is not reading what it was sent");
        }
    }
    let sent = match &outgoing {
        Outgoing::Post {
            to,
            args,
            from,
            kind,
        } => {
            let from = origin(cx, from, sender);
            encode_args(cx, args).and_then(|args| {
                let frame = Frame::Post {
                    to: to.clone(),
                    args,
                    from: Some(from),
                };
                link.send_post(&frame, *kind)
            })
        }
        Outgoing::Call {
            to,
            args,
            from,
            reply,
        } => {
            if cx.heap.pending.len() >= MAX_PENDING_CALLS {
                return refuse(cx, outgoing, "too many calls wait for this peer");
            }
            let id = cx.heap.ikc.next_id();
            let from = origin(cx, from, sender);
            let sent = encode_args(cx, args).and_then(|args| {
                link.send(&Frame::Call {
                    id,
                    to: to.clone(),
                    args,
                    from: Some(from),
                })
            });
            if sent.is_ok() {
                cx.heap.pending.insert(id, reply.clone());
            }
            sent
        }
        Outgoing::Reply { id, answer } => {
            let outcome = match answer {
                Answer::Returned(value) => match encode_value(cx, value) {
                    Ok(value) => Outcome::Returned(value),
                    Err(e) => Outcome::Died(e.to_string().into()),
                },
                Answer::NoHandler => Outcome::NoHandler,
                Answer::NoSession(_) => Outcome::NoSession,
                Answer::Died(message) => Outcome::Died(message.as_str().into()),
                Answer::Failed(message) => Outcome::Refused(message.as_str().into()),
            };
            link.send(&Frame::Reply { id: *id, outcome })
        }
        Outgoing::Error { op, message } => link.send(&Frame::Error {
            op: (*op).into(),
            message: message.as_str().into(),
        }),
        Outgoing::Publish { session, states } => link.send(&Frame::Publish {
            session: session.as_str().into(),
            states: states.iter().map(|s| s.as_str().into()).collect(),
        }),
        Outgoing::Retract { session, states } => link.send(&Frame::Retract {
            session: session.as_str().into(),
            states: states.iter().map(|s| s.as_str().into()).collect(),
        }),
        Outgoing::Subscribe {
            session,
            state,
            receipt,
        } => {
            // A question unanswered past the subscription's time has no
            // one waiting for it: forgotten, so a peer that never answers
            // holds only so many.
            let subscribing = &mut cx.heap.subscribing;
            while let Some(entry) = subscribing.first_entry()
                && entry.get().1.elapsed() >= SUBSCRIBE_TIMEOUT
            {
                entry.remove();
            }
            if subscribing.len() >= MAX_SUBSCRIBING {
                return refuse(
                    cx,
                    outgoing,
                    "too many subscriptions wait for this peer's answer",
                );
            }
            let id = cx.heap.ikc.next_id();
            let sent = link.send(&Frame::Subscribe {
                id,
                session: session.as_str().into(),
                state: state.as_deref().map(Into::into),
            });
            if sent.is_ok() {
                let asked = (receipt.clone(), Instant::now());
                cx.heap.subscribing.insert(id, asked);
            }
            sent
        }
    };
    match sent {
        Ok(()) => {}
        Err(SendError::Closed) => not_connected(cx, outgoing, sender),
        Err(SendError::Backlogged) => {
            refuse(cx, outgoing, "the peer is not reading what it was sent");
        }
        Err(SendError::Unsendable(why)) => refuse(cx, outgoing, &why),
    }
}

/// The origin the peer is told, for a request `sender` posted: the
/// session it names, which the peer may then post back to.
fn origin(cx: &mut Context<'_, Channel>, from: &Sender, sender: SessionId) -> Origin<'static> {
    let session = match from {
        Sender::Poster => sender,
        Sender::Session(session) => *session,
    };
    cx.heap.exposed.insert(session);
    Origin::from(SessionRef::Number(pack(session)))
}

/// Arguments as the wire carries them; local sessions among them become
/// reachable by the peer.
fn encode_args<'a>(
    cx: &mut Context<'_, Channel>,
    args: &'a Args,
) -> Result<Vec<WireValue<'a>>, SendError> {
    args.iter().map(|value| encode_value(cx, value)).collect()
}

fn encode_value<'a>(
    cx: &mut Context<'_, Channel>,
    value: &'a Value,
) -> Result<WireValue<'a>, SendError> {
    let exposed = &mut cx.heap.exposed;
    WireValue::from_value_with(value, &mut |session| {
        exposed.insert(session);
        WireValue::Session {
            kernel: session.kernel().0,
            number: session.number(),
        }
    })
    .map_err(|e| SendError::Unsendable(e.to_string()))
}

/// Not connected: a client queues the request for its next connection;
/// otherwise it is refused.
fn not_connected(cx: &mut Context<'_, Channel>, outgoing: Outgoing, sender: SessionId) {
    if cx.heap.stopping {
        return refuse(cx, outgoing, "the connection is shutting down");
    }
    if let Some(outgoing) = dial::queue(cx, outgoing, sender) {
        refuse(cx, outgoing, "not connected, and the queue is full");
    }
}

/// A request that cannot go: a call's caller gets a failed answer, a
/// subscription a refusal, and a peer whose call's answer cannot be sent
/// (too large for its frames) an answer saying so; every refusal is
/// reported (see [`refusal::report`]), never dropped silently.
fn refuse(cx: &mut Context<'_, Channel>, outgoing: Outgoing, why: &str) {
    let message = format!("IKC to {}: {why}", cx.heap.label);
    refusal::report(cx, "local-request", &message);
    match outgoing {
        Outgoing::Call { reply, .. } => deliver_answer(cx, &reply, Answer::Failed(message)),
        Outgoing::Subscribe { receipt, .. } => answer_receipt(cx, &receipt, false),
        Outgoing::Reply { id, .. } => {
            // Without a connection no one waits for it (and a closed
            // connection's answer cannot go either way).
            if let Some(link) = cx.heap.link.clone() {
                let outcome = Outcome::Refused(message.as_str().into());
                let _ = link.send(&Frame::Reply { id, outcome });
            }
        }
        Outgoing::Post { .. }
        | Outgoing::Error { .. }
        | Outgoing::Publish { .. }
        | Outgoing::Retract { .. } => {}
    }
}
