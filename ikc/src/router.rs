//! How a kernel's plain `post` and `call_reply` reach other processes: the
//! [`Router`] IKC plugs into every kernel it runs on.
//!
//! - A destination that starts with `poe:` is a specifier. Its state, if
//!   it names one, is the event (the event given must then be empty or
//!   the same); its `?arg` follows the arguments. Its kernel part picks
//!   the connection: a name of a connected (or expected) kernel, `*` for
//!   all of them (posts only), empty for the default kernel; this
//!   process's own names loop back, to published states only.
//! - Any other name nothing local holds is looked up among the sessions
//!   connected kernels published (transparent naming): one kernel that
//!   published it gets the request; a name published by several is
//!   refused, naming them (name the kernel to choose). Failing that, a
//!   subscription's short name (IKC's proxy) leads to its session.

use roe_engine::{Args, Error, Event, Routed, Router, SessionId, Unrouted, Value};

use crate::{
    Kernel, Specifier,
    directory::{Route, RouteError},
    ikc::Ikc,
    native::Target,
    request::{LOCAL_CALL, LocalCall, Outgoing, POST_ALL, PostKind, ReplyTo, SEND, Sender},
};

/// The router of one kernel: `responder` is IKC's responder there.
pub(crate) struct IkcRouter {
    ikc: Ikc,
    responder: SessionId,
}

/// Where a request goes, before it is wrapped for the session that
/// carries it.
enum Way {
    /// A published session of this process.
    Local { target: SessionId, state: String },
    /// One connection; a post of the kind given.
    One {
        channel: SessionId,
        to: Target<'static>,
        kind: PostKind,
    },
    /// Every connection.
    All { to: Target<'static> },
}

impl IkcRouter {
    pub(crate) fn new(ikc: Ikc, responder: SessionId) -> IkcRouter {
        IkcRouter { ikc, responder }
    }

    /// Where `name` leads for `event`, and the arguments to send.
    fn way(&self, name: &str, event: Event, args: &mut Args) -> Result<Way, Unrouted> {
        if !name.starts_with("poe:") {
            let directory = self.ikc.directory();
            return match directory.route_published(name) {
                Ok(Route::One { channel, .. }) => Ok(Way::One {
                    channel,
                    to: Target::new(name.to_owned(), event.as_str().to_owned()),
                    kind: PostKind::Plain,
                }),
                // A subscription's short name (IKC's proxy), for peers
                // that do not announce what they publish (Perl's).
                Ok(Route::All(_)) | Err(RouteError::NotPublished(_)) => {
                    match directory.proxy(name) {
                        Some((channel, session)) => Ok(Way::One {
                            channel,
                            to: Target::new(session, event.as_str().to_owned()),
                            kind: PostKind::Proxied,
                        }),
                        None => Err(Unrouted::Unknown),
                    }
                }
                Err(error) => Err(refused(error)),
            };
        }
        let spec = Specifier::parse_post(name).map_err(refused)?;
        let state = match (&spec.state, event.as_str()) {
            (Some(state), "") => state.clone(),
            (Some(state), given) if state == given => state.clone(),
            (Some(_), _) => {
                return Err(Unrouted::Refused(Error::InvalidArgument(
                    "a specifier that names a state takes no other event",
                )));
            }
            (None, "") => {
                return Err(Unrouted::Refused(Error::InvalidArgument(
                    "an IKC request needs a state",
                )));
            }
            (None, given) => given.to_owned(),
        };
        let Some(session) = spec.session.clone() else {
            return Err(Unrouted::Refused(Error::InvalidArgument(
                "an IKC specifier needs a session",
            )));
        };
        if let Some(arg) = &spec.arg {
            args.push(Value::from(arg.as_str()));
        }
        let kernel = spec.kernel.as_str();
        if matches!(spec.kernel, Kernel::Named(_)) && self.ikc.is_me(kernel) {
            let directory = self.ikc.directory();
            return match directory.published_session(&session) {
                Some(target) if directory.is_published(&session, &state) => {
                    Ok(Way::Local { target, state })
                }
                _ => Err(Unrouted::Refused(Error::NoSuchSession(format!(
                    "{session}/{state} is not published"
                )))),
            };
        }
        let to = Target::new(session, state);
        match self.ikc.directory().route(kernel).map_err(refused)? {
            Route::One { channel, .. } => {
                self.ikc.directory().admit(channel).map_err(refused)?;
                Ok(Way::One {
                    channel,
                    to,
                    kind: PostKind::Plain,
                })
            }
            Route::All(_) => Ok(Way::All { to }),
        }
    }
}

/// A routing failure, as the error the post fails with.
fn refused(error: impl std::error::Error + Send + Sync + 'static) -> Unrouted {
    Unrouted::Refused(Error::Handler(Box::new(error)))
}

impl Router for IkcRouter {
    fn post(&self, name: &str, event: Event, mut args: Args) -> Result<Routed, Unrouted> {
        match self.way(name, event, &mut args)? {
            Way::Local { target, state } => Ok(Routed {
                session: target,
                event: Event::new(&state),
                args,
            }),
            Way::One { channel, to, kind } => Ok(Routed {
                session: channel,
                event: Event::new(SEND),
                args: Args::from((Value::local(Outgoing::Post {
                    to,
                    args,
                    from: Sender::Poster,
                    kind,
                }),)),
            }),
            Way::All { to } => Ok(Routed {
                session: self.responder,
                event: Event::new(POST_ALL),
                args: Args::from((Value::local(Outgoing::Post {
                    to,
                    args,
                    from: Sender::Poster,
                    kind: PostKind::Plain,
                }),)),
            }),
        }
    }

    fn call_reply(
        &self,
        name: &str,
        event: Event,
        mut args: Args,
        caller: SessionId,
        reply: Event,
    ) -> Result<Routed, Unrouted> {
        let reply_to = ReplyTo::Answer {
            caller,
            event: reply,
        };
        match self.way(name, event, &mut args)? {
            Way::Local { target, state } => {
                // The call runs on the target's kernel, by its responder.
                let responder = self.ikc.responder(target.kernel()).ok_or_else(|| {
                    Unrouted::Refused(Error::NoSuchSession(format!(
                        "IKC does not run on the kernel of {target}"
                    )))
                })?;
                Ok(Routed {
                    session: responder,
                    event: Event::new(LOCAL_CALL),
                    args: Args::from((Value::local(LocalCall {
                        target,
                        state,
                        args,
                        reply: reply_to,
                    }),)),
                })
            }
            Way::One { channel, to, .. } => Ok(Routed {
                session: channel,
                event: Event::new(SEND),
                args: Args::from((Value::local(Outgoing::Call {
                    to,
                    args,
                    from: Sender::Poster,
                    reply: reply_to,
                }),)),
            }),
            Way::All { .. } => Err(Unrouted::Refused(Error::InvalidArgument(
                "a call goes to one kernel, not to every kernel (*)",
            ))),
        }
    }
}
