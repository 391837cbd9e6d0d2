//! [`Message`]: one frame of the Perl dialect, typed.
//!
//! Every frame carries one Perl hash. Perl IKC has no message types on the
//! wire: what a message is follows from its keys and where it goes. The
//! keys are
//!
//! | key         | value                                                   |
//! |-------------|---------------------------------------------------------|
//! | `event`     | where it goes: a specifier string, or its hash form     |
//! | `params`    | what the receiving state gets as `ARG0` (any value)     |
//! | `from`      | who sent it, as a hash (`{kernel, session[, state]}`)   |
//! | `rsvp`      | where a *call*'s result goes (a hash)                    |
//! | `wantarray` | ClientLite's calling context: `undef`, `''` or `'1'`    |
//! | `is_error`  | `1` on an error report                                  |
//!
//! [`Message::from_value`] sorts a hash into the variant whose shape it
//! has, most particular first, and [`Message::to_value`] writes a variant
//! back as the hash Perl IKC sends for it: the same keys, present or
//! absent alike, and the same value shapes. A hash read and written back
//! is the same Perl data (see [`from_value`](Message::from_value) for the
//! few things not kept).

mod address;
mod decode;
mod encode;
mod error;
#[cfg(test)]
mod tests;

use roe_engine::Value;

use self::error::kind;
pub use self::{
    address::{Address, IKC_SESSION, PROXY_STATE, SessionName, Spec},
    error::MessageError,
};
use super::{DEFAULT_MAX_FRAME, FrameError, frame::write_tree_with_limit};
use crate::{Specifier, SpecifierError};

/// The prefix of the state a subscription's answer goes to: Perl IKC names
/// each pending subscription `IKC:receipt <id> <callback><specifier>`.
pub const RECEIPT_PREFIX: &str = "IKC:receipt ";

/// One message of the Perl dialect.
///
/// # How each maps to IKC
///
/// - [`Post`](Message::Post): run `to`'s state with `params` as `ARG0`; no
///   answer. A *reply* to a call is a post to the call's `rsvp` (see
///   [`Message::reply`]); so is ClientLite's `post_respond`'s answer, and
///   a post back to a `from` without a state (ClientLite's), whose
///   `params` is then the list of arguments ([`Message::post_back`]).
/// - [`Call`](Message::Call): run the state and post its result to `rsvp`
///   (`rsvp` may be posted once, without being published). No reply when
///   the state returns `undef` (or, in list context, nothing).
/// - [`Ping`](Message::Ping): a call to `IKC/ping`, auto-published; the
///   answer is `"PONG"`.
/// - [`Proxy`](Message::Proxy): a post through a subscribed proxy session,
///   or back to a full kernel's `from`: run `state` with `args` spread as
///   `ARG0..ARGn`.
/// - [`DoYouHave`](Message::DoYouHave): a subscription request, a call to
///   `IKC/do_you_have`, answered with a [`Receipt`](Message::Receipt).
/// - [`Error`](Message::Error): the peer's report that a request of ours
///   failed; never answered with another error.
///
/// # Examples
///
/// A ClientLite `call('echo/upper', 'shout')`, decoded, then answered:
///
/// ```
/// use roe_engine::{Map, Value};
/// use roe_ikc::perl::{Address, CallContext, Message, Spec};
///
/// let mut hash = Map::new();
/// hash.insert("event".into(), Value::from("poe://EchoServer/echo/upper"));
/// hash.insert("params".into(), Value::from("shout"));
/// let rsvp = Address::new("LiteClient", "IKCLite", "response2");
/// hash.insert("rsvp".into(), Value::Map(rsvp.to_map()));
/// hash.insert("wantarray".into(), Value::from(""));
/// let from = Address { state: None, ..Address::new("LiteClient", "IKCLite", "") };
/// hash.insert("from".into(), Value::Map(from.to_map()));
///
/// let message = Message::from_value(Value::Map(hash.clone()))?;
/// let Message::Call(call) = &message else { panic!("a call") };
/// assert_eq!(call.wantarray, Some(CallContext::Scalar));
/// assert_eq!(call.from.as_ref(), Some(&from));
/// assert_eq!(message.to_value(), Value::Map(hash));
///
/// let reply = Message::reply(call.rsvp.clone(), Value::from("SHOUT"), Some(Address::proxy("vm-1", "echo")));
/// let Message::Post(post) = &reply else { panic!("a post") };
/// assert_eq!(post.to, Spec::Hash(rsvp));
/// # Ok::<(), roe_ikc::perl::MessageError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A post: no answer expected.
    Post(Post),
    /// A call: its result goes to `rsvp`.
    Call(Call),
    /// A call to `IKC/ping`.
    Ping(Call),
    /// A post of a state through `IKC:proxy`, with several arguments.
    Proxy(ProxyPost),
    /// A subscription request (`IKC/do_you_have`).
    DoYouHave(DoYouHave),
    /// The answer to a subscription request.
    Receipt(Receipt),
    /// An error report (`is_error`).
    Error(RemoteError),
}

/// A post: `{event, params[, from]}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    /// `event`: where it goes.
    pub to: Spec,
    /// `params`: the state's `ARG0` (several arguments travel as a list).
    pub params: Value,
    /// `from`: who sent it, when the sender can be answered.
    pub from: Option<Address>,
}

/// A call: `{event, params, rsvp[, wantarray][, from]}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// `event`: where it goes.
    pub to: Spec,
    /// `params`: the state's `ARG0`.
    pub params: Value,
    /// `rsvp`: where the result goes.
    pub rsvp: Spec,
    /// `wantarray`: the calling context ClientLite sends (a full kernel
    /// sends none, which is scalar context).
    pub wantarray: Option<CallContext>,
    /// `from`: who sent it.
    pub from: Option<Address>,
}

/// Perl's calling context of a call, as ClientLite's `wantarray` sends it.
///
/// In list context the callee runs in list context and the reply's
/// `params` is the list of what it returned, sent only when that list is
/// not empty. Otherwise (void included) Perl IKC runs it in scalar context
/// and replies only when the result is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallContext {
    /// `undef`: ClientLite's `call` in void context (still run, and
    /// answered, as scalar context).
    Void,
    /// `''` (any false value): one result.
    Scalar,
    /// `'1'` (any true value): a list.
    List,
}

impl CallContext {
    /// Whether the callee runs in list context.
    pub fn is_list(self) -> bool {
        self == CallContext::List
    }
}

/// A post through `IKC:proxy`: `{event => {kernel, session, state =>
/// 'IKC:proxy'}, params => [state, [args...]][, from]}`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyPost {
    /// `event`: the session, with the state `IKC:proxy`.
    pub to: Address,
    /// The state to run (`params[0]`).
    pub state: String,
    /// Its arguments, `ARG0..ARGn` (`params[1]`).
    pub args: Vec<Value>,
    /// `from`: who sent it.
    pub from: Option<Address>,
}

/// A subscription request: `{event => .../IKC/do_you_have, params =>
/// [wanted, kernel], rsvp[, from]}`.
#[derive(Clone, Debug, PartialEq)]
pub struct DoYouHave {
    /// `event`: the peer's `IKC/do_you_have`.
    pub to: Spec,
    /// The session (and maybe state) wanted (`params[0]`).
    pub wanted: Spec,
    /// The asking kernel's unique ID (`params[1]`).
    pub kernel: String,
    /// Where the [`Receipt`] goes; its state is opaque (it holds e.g. a
    /// Perl code address): send it back byte for byte.
    pub rsvp: Spec,
    /// `from`: `{kernel, session => 'IKC'}` from Perl.
    pub from: Option<Address>,
}

/// The answer to a subscription request: `{event => rsvp, params[,
/// from]}`, the rsvp's state starting with [`RECEIPT_PREFIX`].
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    /// `event`: the request's `rsvp`.
    pub to: Address,
    /// `params`: yes or no.
    pub answer: ReceiptAnswer,
    /// `from`: who answers.
    pub from: Option<Address>,
}

/// What a [`Receipt`] says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptAnswer {
    /// `[spec, kernel]`: the session is published; `spec` is what was
    /// asked for (its kernel filled with the answering kernel's ID when it
    /// had none), `kernel` the answering kernel's unique ID.
    Accepted {
        /// The session subscribed to.
        spec: Spec,
        /// The answering kernel's unique ID.
        kernel: String,
    },
    /// A string: `"Refused subscription poe://…"`.
    Refused(String),
}

/// An error report: `{event => {kernel, session => 'IKC', state =>
/// 'remote_error'}, params => [message, kernel, stage], is_error => 1}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteError {
    /// `event`: the offender's `IKC/remote_error`.
    pub to: Spec,
    /// What went wrong, e.g. `Session 'echo' has not published state
    /// 'secret'.  Request poe://…/echo/secret sent by poe://LiteClient/IKCLite`.
    pub message: String,
    /// The kernel part of the failed request's `event` (`undef` when it
    /// had none).
    pub kernel: Option<String>,
    /// How far the request got.
    pub stage: ErrorStage,
}

/// How far a failed request got in the kernel that refused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorStage {
    /// `request`: its `event` is no specifier.
    Request,
    /// `check`: the state is not published.
    Check,
    /// `resolve`: no session by that name.
    Resolve,
    /// `invocation`: running it failed.
    Invocation,
}

impl ErrorStage {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorStage::Request => "request",
            ErrorStage::Check => "check",
            ErrorStage::Resolve => "resolve",
            ErrorStage::Invocation => "invocation",
        }
    }

    /// The stage `word` names.
    pub fn from_word(word: &str) -> Option<ErrorStage> {
        Some(match word {
            "request" => ErrorStage::Request,
            "check" => ErrorStage::Check,
            "resolve" => ErrorStage::Resolve,
            "invocation" => ErrorStage::Invocation,
            _ => return None,
        })
    }
}

impl Message {
    /// The reply to a call: a post of `result` to the call's `rsvp`, as
    /// Perl IKC sends it (a hash rsvp with its missing keys set to `''`).
    /// `from` is `Address::proxy(our_kernel_id, session)` when the session
    /// that answers could be answered in turn, as a full Perl kernel sets
    /// it.
    pub fn reply(rsvp: Spec, result: Value, from: Option<Address>) -> Message {
        let to = match rsvp {
            Spec::Hash(address) => Spec::Hash(address.filled()),
            text => text,
        };
        Message::Post(Post {
            to,
            params: result,
            from,
        })
    }

    /// A post back to a request's sender, Perl IKC's `$_[SENDER]` of a
    /// remote request, in the two shapes Perl sends: when `origin` (the
    /// request's `from`) has a state, as a full kernel's does
    /// (`IKC:proxy`), a [`ProxyPost`] to it; otherwise (ClientLite's) a
    /// [`Post`] to `origin` with `state` as its state and the list of
    /// `args` as `params`.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::Value;
    /// use roe_ikc::perl::{Address, Message, Spec};
    ///
    /// let lite = Address { state: None, ..Address::new("LiteClient", "IKCLite", "") };
    /// let Message::Post(post) = Message::post_back(&lite, "told", vec![Value::from("hi")], None)
    /// else {
    ///     panic!("a post");
    /// };
    /// assert_eq!(post.to, Spec::Hash(Address::new("LiteClient", "IKCLite", "told")));
    /// assert_eq!(post.params, Value::List(vec![Value::from("hi")]));
    ///
    /// let full = Address::proxy("vm-1", "client");
    /// let Message::Proxy(proxy) = Message::post_back(&full, "told", vec![], None) else {
    ///     panic!("a proxy post");
    /// };
    /// assert_eq!((proxy.to, proxy.state.as_str()), (full, "told"));
    /// ```
    pub fn post_back(
        origin: &Address,
        state: impl Into<String>,
        args: Vec<Value>,
        from: Option<Address>,
    ) -> Message {
        if origin.state.as_deref().is_some_and(|s| !s.is_empty()) {
            Message::Proxy(ProxyPost {
                to: origin.clone().filled(),
                state: state.into(),
                args,
                from,
            })
        } else {
            let to = Address {
                state: Some(state.into()),
                ..origin.clone()
            };
            Message::Post(Post {
                to: Spec::Hash(to.filled()),
                params: Value::List(args),
                from,
            })
        }
    }

    /// An error report to `to` (the offender's
    /// [`Address::remote_error`]), as Perl IKC sends it: no `from`.
    pub fn remote_error(
        to: Spec,
        message: impl Into<String>,
        kernel: Option<String>,
        stage: ErrorStage,
    ) -> Message {
        Message::Error(RemoteError {
            to,
            message: message.into(),
            kernel,
            stage,
        })
    }

    /// Reads a thawed frame.
    ///
    /// The variant is the most particular whose shape the hash has: an
    /// error report when `is_error` is true; a [`ProxyPost`] when the
    /// state is `IKC:proxy` (hash form), there is no `rsvp` and `params` is
    /// `[state, [args...]]`; a [`DoYouHave`] for `IKC/do_you_have` with an
    /// `rsvp` and `params` `[spec, kernel]`; a [`Receipt`] when the state
    /// starts with [`RECEIPT_PREFIX`], there is no `rsvp`, and `params` is
    /// `[spec, kernel]` or a string; a [`Ping`](Message::Ping) for
    /// `IKC/ping` with an `rsvp`; any other hash with an `rsvp` a
    /// [`Call`], without one a [`Post`]. A hash that nearly has a
    /// particular shape is read as the general one, which keeps every key
    /// it has; the receiving side then treats it as Perl IKC would (a state
    /// `IKC:proxy` that is not published, say).
    ///
    /// Not kept: keys other than the six (Perl IKC ignores them too), a
    /// `wantarray` on a message without `rsvp`, `from` on an error report,
    /// text from a Perl number or Latin-1 bytes in a name (it comes back as
    /// text with the same characters, which Perl takes as the same
    /// string).
    ///
    /// # Errors
    ///
    /// A [`MessageError`] when the value is not a hash, has no `event`, or
    /// a key has a value of the wrong type (a `from` that is not a hash, an
    /// error report that is not `[message, kernel, stage]`, ...).
    pub fn from_value(value: Value) -> Result<Message, MessageError> {
        decode::message(value)
    }

    /// The hash Perl IKC sends for this message.
    pub fn to_value(&self) -> Value {
        encode::message(self).to_value()
    }

    /// Appends this message as one frame to `out` (see
    /// [`write_frame`](super::write_frame)), refusing an image over
    /// [`DEFAULT_MAX_FRAME`].
    ///
    /// # Errors
    ///
    /// As [`write_frame_with_limit`](super::write_frame_with_limit).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        self.encode_with_limit(DEFAULT_MAX_FRAME, out)
    }

    /// Appends this message as one frame to `out`, refusing an image over
    /// `max_frame` bytes.
    ///
    /// # Errors
    ///
    /// As [`write_frame_with_limit`](super::write_frame_with_limit).
    pub fn encode_with_limit(&self, max_frame: usize, out: &mut Vec<u8>) -> Result<(), FrameError> {
        // Frozen from the message's own parameters, not a copy of them.
        write_tree_with_limit(&encode::message(self), max_frame, out)
    }

    /// Where the message's state is to run, as roe's [`Specifier`]: the
    /// `event`, with a proxy post's real state in place of `IKC:proxy`.
    ///
    /// # Errors
    ///
    /// A [`SpecifierError`] for an `event` string that is no specifier
    /// (Perl IKC answers such a request with an error report at the
    /// `request` stage).
    pub fn target(&self) -> Result<Specifier, SpecifierError> {
        match self {
            Message::Post(Post { to, .. })
            | Message::Call(Call { to, .. })
            | Message::Ping(Call { to, .. })
            | Message::DoYouHave(DoYouHave { to, .. })
            | Message::Error(RemoteError { to, .. }) => to.specifier(),
            Message::Proxy(proxy) => Ok(proxy.to.to_specifier().with_state(proxy.state.as_str())),
            Message::Receipt(receipt) => Ok(receipt.to.to_specifier()),
        }
    }

    /// The message's `from`, if it has one.
    pub fn from(&self) -> Option<&Address> {
        match self {
            Message::Post(Post { from, .. })
            | Message::Call(Call { from, .. })
            | Message::Ping(Call { from, .. })
            | Message::Proxy(ProxyPost { from, .. })
            | Message::DoYouHave(DoYouHave { from, .. })
            | Message::Receipt(Receipt { from, .. }) => from.as_ref(),
            Message::Error(_) => None,
        }
    }

    /// The variant's name, for logs: `post`, `call`, `ping`, `proxy`,
    /// `do_you_have`, `receipt` or `error`.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Post(_) => "post",
            Message::Call(_) => "call",
            Message::Ping(_) => "ping",
            Message::Proxy(_) => "proxy",
            Message::DoYouHave(_) => "do_you_have",
            Message::Receipt(_) => "receipt",
            Message::Error(_) => "error",
        }
    }
}

/// The text of a Perl scalar, as Perl sees its characters: a string, bytes
/// as Latin-1, a number's digits.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Str(text) => Some(text.as_str().to_owned()),
        Value::Bytes(bytes) => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}
