//! What a lite client does with each frame its server sends: hands over
//! the answer it waits for, answers pings, keeps the server's errors and
//! counts and drops the rest. Nothing is queued without bound: a server
//! can make the client hold at most [`MAX_KEPT_ERRORS`] errors of
//! [`MAX_KEPT_TEXT`] bytes each, besides one frame in the reader.

use std::collections::VecDeque;

use roe_engine::{Map, Str, Value};

use super::{LITE_SESSION, LiteError, RemoteFailure, conn::Connection};
use crate::{
    WireValue,
    native::{Frame, HandshakeError, Outcome, SessionRef},
};

/// The most remote errors kept for [`take_errors`](super::LiteClient::take_errors);
/// past it the oldest are dropped (and counted).
pub const MAX_KEPT_ERRORS: usize = 64;

/// The most bytes of a server's text (an error's message, a refusal's or
/// goodbye's reason) kept: a longer one is cut at a character boundary.
pub const MAX_KEPT_TEXT: usize = 1024;

/// What the client is waiting for.
#[derive(Clone, Copy, Debug)]
pub(super) enum Awaited<'s> {
    /// Nothing: the frames that arrived between requests.
    Nothing,
    /// The reply to the call with this id.
    Reply(u64),
    /// A post to this state of [`LITE_SESSION`] (a `post_respond`).
    Response(&'s str),
    /// The pong to the ping with this id.
    Pong(u64),
}

/// The answer waited for: a value, or why the server gave none.
pub(super) type Answer = Result<Value, RemoteFailure>;

/// The frames that arrived and were not awaited.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    /// The server's errors not yet taken, oldest first.
    pub(super) errors: VecDeque<LiteError>,
    /// Frames dropped: posts to other states, late replies and pongs, and
    /// errors past [`MAX_KEPT_ERRORS`].
    pub(super) dropped: u64,
}

impl Inbox {
    /// Takes the frames `conn` has read, up to the one `awaited`; the
    /// answers to the server's pings and calls go to `conn.out`.
    ///
    /// # Errors
    ///
    /// A bad frame, a handshake frame, the server's `Goodbye` or
    /// `Refused`: the connection is of no more use.
    pub(super) fn take(
        &mut self,
        conn: &mut Connection,
        awaited: Awaited<'_>,
    ) -> Result<Option<Answer>, LiteError> {
        loop {
            let frame = match conn.reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(None),
                Err(e) => return Err(LiteError::BadFrame(e)),
            };
            match (frame, awaited) {
                (Frame::Reply { id, outcome }, Awaited::Reply(want)) if id == want => {
                    return Ok(Some(answer(outcome)));
                }
                (Frame::Post { to, args, .. }, Awaited::Response(state))
                    if to.session == SessionRef::Alias(LITE_SESSION.into())
                        && to.state == state =>
                {
                    let first = args.into_iter().next().map_or(Value::Undef, value);
                    return Ok(Some(Ok(first)));
                }
                (Frame::Pong { id }, Awaited::Pong(want)) if id == want => {
                    return Ok(Some(Ok(Value::Undef)));
                }
                (Frame::Ping { id }, _) => {
                    Frame::Pong { id }
                        .encode(&mut conn.out)
                        .map_err(LiteError::Encode)?;
                }
                (Frame::Call { id, .. }, _) => {
                    let refused = Outcome::Refused("a lite client has no sessions to call".into());
                    Frame::Reply {
                        id,
                        outcome: refused,
                    }
                    .encode(&mut conn.out)
                    .map_err(LiteError::Encode)?;
                }
                (Frame::Subscribe { id, .. }, _) => {
                    Frame::Subscribed {
                        id,
                        accepted: false,
                    }
                    .encode(&mut conn.out)
                    .map_err(LiteError::Encode)?;
                }
                (Frame::Error { op, message }, _) => {
                    if self.errors.len() == MAX_KEPT_ERRORS {
                        self.errors.pop_front();
                        self.dropped = self.dropped.saturating_add(1);
                    }
                    self.errors.push_back(LiteError::RemoteError {
                        op: kept(&op),
                        message: kept(&message),
                    });
                }
                (Frame::Goodbye { reason }, _) => {
                    return Err(LiteError::Closed {
                        reason: Some(kept(&reason)),
                    });
                }
                (Frame::Refused { reason }, _) => {
                    return Err(LiteError::Handshake(HandshakeError::Refused {
                        reason: kept(&reason),
                    }));
                }
                (
                    frame @ (Frame::Hello { .. } | Frame::Welcome { .. } | Frame::Proof { .. }),
                    _,
                ) => {
                    return Err(LiteError::Protocol { got: frame.kind() });
                }
                // What the server publishes is no concern of a client that
                // names its targets itself.
                (
                    Frame::Publish { .. }
                    | Frame::Retract { .. }
                    | Frame::Subscribed { .. }
                    | Frame::Unsubscribe { .. },
                    _,
                ) => {}
                (Frame::Post { .. } | Frame::Reply { .. } | Frame::Pong { .. }, _) => {
                    self.dropped = self.dropped.saturating_add(1);
                }
            }
        }
    }
}

/// A reply's outcome as the caller gets it.
fn answer(outcome: Outcome<'_>) -> Answer {
    match outcome {
        Outcome::Returned(v) => Ok(value(v)),
        Outcome::NoHandler => Err(RemoteFailure::NoHandler),
        Outcome::NoSession => Err(RemoteFailure::NoSession),
        Outcome::Died(text) => Err(RemoteFailure::Died(kept(&text))),
        Outcome::Refused(text) => Err(RemoteFailure::Refused(kept(&text))),
    }
}

/// A value from the server. A session in it is one of the server's, which
/// no session here stands for: it becomes the map `{kernel, session}` of
/// its kernel's and its own number on the server.
pub(super) fn value(wire: WireValue<'_>) -> Value {
    wire.into_value_with(&mut |kernel, number| {
        let mut map = Map::new();
        map.insert(Str::new("kernel"), Value::Int(kernel.into()));
        let number =
            i64::try_from(number).map_or_else(|_| Value::from(number.to_string()), Value::Int);
        map.insert(Str::new("session"), number);
        Value::Map(map)
    })
}

/// `text`, cut to [`MAX_KEPT_TEXT`] bytes at a character boundary.
fn kept(text: &str) -> String {
    if text.len() <= MAX_KEPT_TEXT {
        return text.to_owned();
    }
    format!("{}…", &text[..text.floor_char_boundary(MAX_KEPT_TEXT)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        assert_eq!(kept("short"), "short");
        let long = "é".repeat(MAX_KEPT_TEXT);
        let cut = kept(&long);
        assert!(cut.len() <= MAX_KEPT_TEXT + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn a_servers_session_becomes_a_map_of_its_numbers() {
        let wire = WireValue::List(vec![WireValue::Session {
            kernel: 2,
            number: u64::MAX,
        }]);
        let Value::List(items) = value(wire) else {
            panic!("a list");
        };
        let map = items[0].as_map().unwrap();
        assert_eq!(map.get("kernel"), Some(&Value::Int(2)));
        assert_eq!(map.get("session"), Some(&Value::from(u64::MAX.to_string())));
    }
}
