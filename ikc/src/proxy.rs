//! A proxy session: the local face of a remote session someone subscribed
//! to, aliased `poe://kernel/session` (and `session`, when no local
//! session holds that name). Every event posted to it is posted to the
//! remote session, from the session that posted it.

use roe_engine::{Args, Context, Result, Session, SessionId, Value};

use crate::{
    native::{SessionRef, Target},
    request::{Outgoing, SEND, SHUTDOWN, Sender, is_kernel_event},
};

pub(crate) struct Proxy {
    channel: SessionId,
    session: String,
    aliases: Vec<String>,
}

/// The proxy of `session` on the kernel `kernel` (as the subscriber named
/// it), reached through `channel`.
pub(crate) fn session(channel: SessionId, kernel: &str, session: &str) -> Session<Proxy> {
    let full = format!("poe://{kernel}/{session}");
    Session::new(Proxy {
        channel,
        session: session.to_owned(),
        aliases: vec![full, session.to_owned()],
    })
    .on("_start", |cx, _| {
        let wanted = std::mem::take(&mut cx.heap.aliases);
        for (i, alias) in wanted.into_iter().enumerate() {
            // The short name only when it is free (IKC's rule).
            if i > 0 && cx.resolve(alias.as_str()).is_some() {
                continue;
            }
            if cx.alias_set(alias.as_str()).is_ok() {
                cx.heap.aliases.push(alias);
            }
        }
    })
    .on(SHUTDOWN, |cx, _| {
        for alias in std::mem::take(&mut cx.heap.aliases) {
            let _ = cx.alias_remove(&alias);
        }
    })
    .on("_default", forward)
}

/// An event posted to the proxy: ARG0 its name, ARG1 its arguments.
fn forward(cx: &mut Context<'_, Proxy>, mut args: Args) -> Result<()> {
    let event = args[0].as_str().unwrap_or_default().to_owned();
    if is_kernel_event(&event) {
        return Ok(());
    }
    let posted: Args = match args.take(1) {
        Value::List(list) => list.into(),
        _ => Args::new(),
    };
    let outgoing = Outgoing::Post {
        to: Target {
            session: SessionRef::Alias(cx.heap.session.clone().into()),
            state: event.into(),
        },
        args: posted,
        from: Sender::Session(cx.sender()),
    };
    let channel = cx.heap.channel;
    if let Err(error) = cx.post(channel, SEND, (Value::local(outgoing),)) {
        tracing::debug!(proxy = %cx.session(), "IKC: a proxied post found no connection: {error}");
    }
    Ok(())
}
