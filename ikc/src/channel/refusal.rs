//! Refusals on a connection: this side's of the peer's requests, the
//! peer's of this side's, and this side's requests that could not go.
//! Each is told the same way, to the log and to `error` monitors, so that
//! a peer that makes many floods neither, nor fills them with its text.

use std::borrow::Cow;

use roe_engine::{Context, Value};

use super::Channel;

/// The most of a message a log line or a monitor's report carries: a
/// message may hold the peer's text (a state it named, its own error),
/// which may be as long as its frames.
pub(crate) const MAX_TEXT: usize = 512;

/// The most of an operation's name (a peer names its own in an `Error`
/// frame) a log line or a report carries.
const MAX_OP: usize = 64;

/// `text`, cut to `max` bytes at a character boundary, with `...` to say
/// it was cut.
pub(crate) fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...", &text[..end]))
}

/// Reports a refusal as `op` (IKC's name for what failed: `local-check`,
/// `remote-invocation`, `local-request`, ...).
///
/// The log hears of the 1st, 2nd, 4th, 8th... refusal of the connection
/// as a warning, with the count, and of the others at debug level;
/// `error` monitors hear of every one (they asked to). Both get `op` and
/// `message` cut short ([`MAX_TEXT`]).
pub(super) fn report(cx: &mut Context<'_, Channel>, op: &str, message: &str) {
    cx.heap.refused += 1;
    let refused = cx.heap.refused;
    let op = shorten(op, MAX_OP);
    let message = shorten(message, MAX_TEXT);
    let channel = cx.session();
    let peer = &cx.heap.label;
    if refused.is_power_of_two() {
        tracing::warn!(%channel, %peer, refused, "IKC {op}: {message}");
    } else {
        tracing::debug!(%channel, %peer, refused, "IKC {op}: {message}");
    }
    super::report(
        cx,
        "error",
        &[Value::from(op.as_ref()), Value::from(message.as_ref())],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_at_a_character_boundary_and_says_so() {
        assert_eq!(shorten("short", 8), "short");
        assert_eq!(shorten("exactly8", 8), "exactly8");
        assert_eq!(shorten("abcdefghij", 4), "abcd...");
        // 'é' is two bytes: a cut in its middle moves before it.
        assert_eq!(shorten("abcé", 4), "abc...");
        assert!(shorten(&"x".repeat(1 << 20), MAX_TEXT).len() <= MAX_TEXT + 3);
    }
}
