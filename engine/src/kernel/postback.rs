//! Postbacks and callbacks: POE's `$session->postback` and `->callback`.

use std::fmt;

use super::Context;
use crate::{
    error::{Error, Result},
    event::Event,
    id::SessionId,
    mailbox::{Mailbox, Message},
    value::{Args, Str, Value},
};

/// The tag postbacks and callbacks hold on their session, as POE's do.
const ANON_EVENT: &str = "anon_event";

/// The tag a cross-kernel `call_reply` holds on its caller until the reply
/// arrives, so the continuation has a session to run in.
pub(crate) const AWAITING_REPLY: &str = "awaiting_reply";

/// Posts an event back to a session when called (POE's `postback`).
///
/// While it exists it keeps its session alive (a public refcount tagged
/// `anon_event`); dropping it lets the session go. It can be called from any
/// thread: the post goes through the kernel's inbox, and the event carries
/// `ARG0` = the list given at creation and `ARG1` = the list given to the
/// call, as POE's do. Made by [`Context::postback`].
///
/// # Examples
///
/// A worker thread reports back to the session that started it:
///
/// ```
/// use roe_engine::{Kernel, Session, Value};
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(())
///         .on("_start", |cx, _| {
///             let done = cx.postback("done", ("job 1",))?;
///             // The postback keeps the session alive until the thread
///             // drops it, after posting.
///             std::thread::spawn(move || done.post((42,)));
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("done", |_, args| {
///             assert_eq!(args[0], Value::List(vec!["job 1".into()]));
///             assert_eq!(args[1], Value::List(vec![42.into()]));
///         }),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct Postback {
    mailbox: Mailbox,
    session: SessionId,
    event: Event,
    context: Vec<Value>,
}

impl Postback {
    pub(crate) fn new(
        mailbox: Mailbox,
        session: SessionId,
        event: Event,
        context: Args,
    ) -> Postback {
        Postback {
            mailbox,
            session,
            event,
            context: context.into_vec(),
        }
    }

    /// Posts the event with `args` as `ARG1`. SENDER is the session whose
    /// handler called it, or the kernel when called outside handlers or
    /// from another thread.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchSession`] when the session's kernel no longer runs.
    pub fn post(&self, args: impl Into<Args>) -> Result<()> {
        let sender = self.mailbox.origin(self.session.kernel());
        let args = Args::from((
            Value::List(self.context.clone()),
            Value::List(args.into().into_vec()),
        ));
        self.mailbox
            .send(Message::Post {
                target: self.session,
                sender,
                event: self.event,
                args,
            })
            .map_err(|_| Error::NoSuchSession(self.session.to_string()))
    }

    /// The session it posts to.
    pub fn session(&self) -> SessionId {
        self.session
    }
}

impl Drop for Postback {
    fn drop(&mut self) {
        // A kernel that is gone holds nothing to release.
        let _ = self.mailbox.send(Message::Release {
            session: self.session,
            tag: Str::new(ANON_EVENT),
        });
    }
}

impl fmt::Debug for Postback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Postback({} -> {})", self.session, self.event)
    }
}

/// Calls a session's handler synchronously when called (POE's `callback`).
///
/// Like a [`Postback`] it keeps its session alive until dropped; calling it
/// needs the `Context` of the handler that calls it, because a call runs the
/// handler at once. Made by [`Context::callback`].
///
/// # Examples
///
/// ```
/// use roe_engine::{Kernel, Session, Value};
///
/// let mut kernel = Kernel::new()?;
/// kernel.spawn(
///     Session::new(())
///         .on("_start", |cx, _| {
///             let double = cx.callback("double", ())?;
///             // A synchronous call: the handler runs now and its value
///             // comes back.
///             assert_eq!(double.call(cx, (21,))?, Value::Int(42));
///             Ok::<_, roe_engine::Error>(())
///         })
///         .on("double", |_, args| {
///             let n = args[1].as_list().and_then(|list| list[0].as_int());
///             Value::Int(n.unwrap_or(0) * 2)
///         }),
/// )?;
/// kernel.run()?;
/// # Ok::<(), roe_engine::Error>(())
/// ```
pub struct Callback {
    mailbox: Mailbox,
    session: SessionId,
    event: Event,
    context: Vec<Value>,
}

impl Callback {
    pub(crate) fn new(
        mailbox: Mailbox,
        session: SessionId,
        event: Event,
        context: Args,
    ) -> Callback {
        Callback {
            mailbox,
            session,
            event,
            context: context.into_vec(),
        }
    }

    /// Calls the handler with `ARG0` = the creation list and `ARG1` =
    /// `args`, and returns its value.
    ///
    /// # Errors
    ///
    /// As [`Context::call`].
    #[track_caller]
    pub fn call<H: 'static>(
        &self,
        cx: &mut Context<'_, H>,
        args: impl Into<Args>,
    ) -> Result<Value> {
        let args = Args::from((
            Value::List(self.context.clone()),
            Value::List(args.into().into_vec()),
        ));
        cx.call(self.session, self.event, args)
    }

    /// The session it calls.
    pub fn session(&self) -> SessionId {
        self.session
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        let _ = self.mailbox.send(Message::Release {
            session: self.session,
            tag: Str::new(ANON_EVENT),
        });
    }
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Callback({} -> {})", self.session, self.event)
    }
}

pub(crate) fn anon_event_tag() -> &'static str {
    ANON_EVENT
}
