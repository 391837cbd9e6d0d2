//! [`Answer`]: what a [`call_reply`](super::Context::call_reply) brings
//! back, and how it travels as the reply event's arguments.

use std::fmt;

use super::core::Outcome;
use crate::{
    error::Error,
    id::SessionId,
    value::{Args, Value},
};

/// The outcome of a [`call_reply`](super::Context::call_reply), read from
/// the reply event's arguments with [`Answer::from_args`].
///
/// The reply event gets `ARG0` = the handler's value (`undef` when there
/// was none) and, when the handler did not simply return, `ARG1` = why in
/// words and `ARG2` = a short code (`no_handler`, `no_session`, `died`,
/// `failed`), so a handler that returned `undef` is told apart from one
/// that never ran.
///
/// # Examples
///
/// ```
/// use roe_engine::{Answer, Kernel, Session, Value};
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(Session::new(()).on("_start", |cx, _| cx.alias_set("svc")).on("nothing", |_, _| ()))?;
/// kernel.spawn(
///     Session::new(Vec::new())
///         .on("_start", |cx, _| {
///             cx.call_reply("svc", "nothing", (), "got")?;
///             cx.call_reply("svc", "missing", (), "got")
///         })
///         .on("got", |cx, args| cx.heap.push(Answer::from_args(&args)))
///         .on("_stop", |cx, _| {
///             assert_eq!(*cx.heap, [Answer::Returned(Value::Undef), Answer::NoHandler]);
///         }),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// The handler ran and returned this (perhaps `undef`).
    Returned(Value),
    /// The session exists but has no handler for the event (nor
    /// `_default`).
    NoHandler,
    /// The session was gone by the time the call arrived.
    NoSession(String),
    /// The handler failed; its error's text.
    Died(String),
    /// The call could not be carried to a handler, or its answer could
    /// not come back: a call to another process that the remote kernel
    /// refused (an unpublished state), that no connection leads to, or
    /// whose connection closed first. Why, in words.
    Failed(String),
}

const NO_HANDLER: &str = "no_handler";
const NO_SESSION: &str = "no_session";
const DIED: &str = "died";
const FAILED: &str = "failed";

impl Answer {
    /// Reads a reply event's arguments.
    pub fn from_args(args: &Args) -> Answer {
        let why = || args[1].as_str().unwrap_or_default().to_owned();
        match args[2].as_str() {
            Some(NO_HANDLER) => Answer::NoHandler,
            Some(NO_SESSION) => Answer::NoSession(why()),
            Some(DIED) => Answer::Died(why()),
            Some(FAILED) => Answer::Failed(why()),
            _ => Answer::Returned(args[0].clone()),
        }
    }

    /// The value, if the handler returned one.
    pub fn value(&self) -> Option<&Value> {
        match self {
            Answer::Returned(value) => Some(value),
            _ => None,
        }
    }

    /// As the reply event's arguments (what [`from_args`](Answer::from_args)
    /// reads): for code that carries calls itself, as IKC does across
    /// processes.
    ///
    /// # Examples
    ///
    /// ```
    /// use roe_engine::Answer;
    ///
    /// let lost = Answer::Failed("the connection closed".into());
    /// assert_eq!(Answer::from_args(&lost.clone().into_args()), lost);
    /// ```
    pub fn into_args(self) -> Args {
        match self {
            Answer::Returned(value) => Args::from((value,)),
            Answer::NoHandler => Args::from((
                Value::Undef,
                "the session has no handler for the event",
                NO_HANDLER,
            )),
            Answer::NoSession(why) => Args::from((Value::Undef, why, NO_SESSION)),
            Answer::Died(why) => Args::from((Value::Undef, why, DIED)),
            Answer::Failed(why) => Args::from((Value::Undef, why, FAILED)),
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Returned(value) => write!(f, "returned {value}"),
            Answer::NoHandler => f.write_str("no handler"),
            Answer::NoSession(why) | Answer::Died(why) | Answer::Failed(why) => f.write_str(why),
        }
    }
}

impl Answer {
    /// The answer of a dispatch to `target` that ended as `outcome`.
    pub(crate) fn of(outcome: Outcome, target: SessionId) -> Answer {
        match outcome {
            Outcome::Returned(value) => Answer::Returned(value),
            Outcome::Unhandled => Answer::NoHandler,
            Outcome::Died(error) => Answer::Died(error.to_string()),
            Outcome::Trapped(message) => Answer::Died(message),
            Outcome::Gone | Outcome::Unreachable => Answer::gone(target),
        }
    }

    /// The answer to a call whose target is gone.
    fn gone(target: SessionId) -> Answer {
        Answer::NoSession(Error::NoSuchSession(target.to_string()).to_string())
    }
}

/// The answer to a call whose target is gone, as the reply's arguments.
pub(crate) fn gone(target: SessionId) -> Args {
    Answer::gone(target).into_args()
}
