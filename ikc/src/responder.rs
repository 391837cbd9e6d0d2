//! The IKC responder: the session aliased `IKC` on every kernel IKC runs
//! on, with IKC's API as its states, and the one that carries out peers'
//! requests for sessions of its kernel.
//!
//! | state | arguments | what it does |
//! |---|---|---|
//! | `post` | specifier, argument | posts to a remote (or local, published) state; called, returns how many kernels it went to |
//! | `call` | specifier, argument, RSVP | the same, and the answer is posted to the RSVP (`poe:state`, `poe:/session/state`) |
//! | `publish` | session, states | lets peers reach those states, under every alias of the session |
//! | `retract` | session, states (or none: all) | stops that |
//! | `published` | alias (or none) | called: the states of that alias, or a map of every alias |
//! | `subscribe` | specifiers, callback state | asks each kernel whether it publishes the session; once one does, its short name `session` (if no local session holds it) leads there, as `poe://kernel/session` does; the callback gets the list of specifiers accepted |
//! | `unsubscribe` | specifiers | the short names go |
//! | `monitor` | kernel name or `*`, map of operation → state (and `data`) | reports of connections and errors (see the monitor module) |
//! | `default` | kernel name | the kernel a specifier without one goes to |
//! | `ping` | | called: `PONG` |
//! | `shutdown` | | closes every connection and listener of the process's IKC |

use std::{
    collections::{HashMap, HashSet},
    rc::Rc,
};

use roe_engine::{Args, Context, Error, Map, Result, Session, SessionId, Value};

use crate::{
    Kernel, Specifier,
    directory::Route,
    ikc::Ikc,
    monitor::{About, report},
    native::{Target, check_name},
    request::{
        ALIAS, CLOSED, INVOKE, Invoke, LOCAL_CALL, LocalCall, Outgoing, POST_ALL, PostKind,
        ReplyTo, SEND, SHUTDOWN, SUBSCRIBE_TIMEOUT, SUBSCRIBED, Sender, deliver_answer,
    },
    router::IkcRouter,
    thunk::{self, Thunks},
};

/// A responder's event: a subscription's time is up.
const SUBSCRIBE_EXPIRED: &str = "roe-ikc:subscribe_expired";

pub(crate) struct Responder {
    ikc: Ikc,
    /// Stand-ins for peer sessions, by connection and peer session.
    thunks: Thunks,
    subscriptions: HashMap<u64, Subscription>,
    /// The proxies this responder's subscriptions made: connection and
    /// remote session (their short names are in the directory).
    proxies: HashSet<(SessionId, String)>,
    stopped: bool,
}

/// A `subscribe` waiting for its answers.
struct Subscription {
    caller: SessionId,
    callback: Option<String>,
    waiting: usize,
    accepted: Vec<Value>,
}

impl Ikc {
    /// Starts IKC on `kernel`: spawns its responder (alias `IKC`, POE's
    /// IKC API) and plugs in the router that sends `poe://` destinations,
    /// and names connected kernels published, to it.
    ///
    /// # Errors
    ///
    /// As [`Kernel::spawn`](roe_engine::Kernel::spawn) (the alias `IKC` is taken).
    pub fn start(&self, kernel: &mut roe_engine::Kernel) -> Result<SessionId> {
        kernel.spawn(session(self.clone()))
    }

    /// [`start`](Ikc::start) from inside a handler.
    ///
    /// # Errors
    ///
    /// As [`start`](Ikc::start).
    pub fn start_in<H: 'static>(&self, cx: &mut Context<'_, H>) -> Result<SessionId> {
        cx.spawn(session(self.clone()))
    }
}

/// The responder for a kernel.
pub(crate) fn session(ikc: Ikc) -> Session<Responder> {
    Session::new(Responder {
        ikc,
        thunks: Thunks::default(),
        subscriptions: HashMap::new(),
        proxies: HashSet::new(),
        stopped: false,
    })
    .on("_start", |cx, _| {
        cx.alias_set(ALIAS)?;
        let me = cx.session();
        let router = IkcRouter::new(cx.heap.ikc.clone(), me);
        cx.set_router(Some(Rc::new(router)));
        cx.heap.ikc.set_responder(cx.kernel_id(), Some(me));
        Ok::<_, Error>(())
    })
    .on("_stop", |cx, _| {
        cx.heap.ikc.set_responder(cx.kernel_id(), None);
    })
    .on("post", |cx, args| request(cx, args, false))
    .on("call", |cx, args| request(cx, args, true))
    .on("publish", publish)
    .on("retract", retract)
    .on("published", published)
    .on("subscribe", subscribe)
    .on("unsubscribe", unsubscribe)
    .on("monitor", |cx, args| {
        let name = args[0].as_str().unwrap_or("*").to_owned();
        let spec = args[1].as_map().cloned().unwrap_or_default();
        let sender = cx.sender();
        cx.heap.ikc.shared.monitors.set(sender, &name, &spec);
    })
    .on("default", |cx, args| {
        let name = args[0].as_str().unwrap_or_default();
        Value::Bool(cx.heap.ikc.directory().set_default(name))
    })
    .on("ping", |_, _| Value::from("PONG"))
    .on("shutdown", |cx, _| shutdown(cx))
    .on(SHUTDOWN, |cx, _| shutdown(cx))
    .on(INVOKE, |cx, mut args| {
        let invoke: Invoke = args.take(0).take_local()?;
        invoke_in_thunk(cx, invoke)
    })
    .on(CLOSED, |cx, args| {
        let channel = args[0].as_session();
        let for_good = args[1].is_true();
        if let Some(channel) = channel {
            closed(cx, channel, for_good);
        }
    })
    .on(SUBSCRIBED, subscribed)
    .on(SUBSCRIBE_EXPIRED, |cx, args| {
        let request = args[0].as_int().and_then(|n| u64::try_from(n).ok());
        if let Some(subscription) = request.and_then(|r| cx.heap.subscriptions.remove(&r)) {
            answer_subscription(cx, subscription);
        }
    })
    .on(POST_ALL, |cx, mut args| {
        let outgoing: Outgoing = args.take(0).take_local()?;
        let sender = cx.sender();
        Ok::<_, Error>(Value::from(post_all(cx, outgoing, sender)))
    })
    .on(LOCAL_CALL, local_call)
}

/// IKC's `post` and `call`: `(specifier, argument[, rsvp])`.
fn request(cx: &mut Context<'_, Responder>, args: Args, is_call: bool) -> Result<Value> {
    let spec = match read_specifier(&args[0]) {
        Ok(spec) => spec,
        Err(message) => {
            report_error(cx, "local-request", &message);
            return Ok(Value::Int(0));
        }
    };
    let Some(session) = spec.session.clone() else {
        report_error(cx, "local-request", &format!("{spec}: no session"));
        return Ok(Value::Int(0));
    };
    let Some(state) = spec.state.clone() else {
        report_error(cx, "local-request", &format!("{spec}: no state"));
        return Ok(Value::Int(0));
    };
    let mut params = Args::new();
    if args.len() > 1 {
        params.push(args[1].clone());
    }
    if let Some(arg) = &spec.arg {
        params.push(Value::from(arg.as_str()));
    }
    let sender = cx.sender();
    let reply = match (is_call, args.get(2)) {
        (true, rsvp) if !rsvp.is_undef() => match read_rsvp(rsvp) {
            Ok(rsvp) => Some(ReplyTo::Rsvp {
                caller: sender,
                rsvp,
            }),
            Err(message) => {
                report_error(cx, "local-request", &message);
                return Ok(Value::Int(0));
            }
        },
        _ => None,
    };
    let to = Target::new(session.clone(), state.clone());
    let kernel = spec.kernel.as_str();
    if matches!(spec.kernel, Kernel::Named(_)) && cx.heap.ikc.is_me(kernel) {
        return Ok(Value::Int(loop_back(cx, &session, &state, params, reply)));
    }
    let outgoing = |to: Target<'static>, args: Args, reply: Option<ReplyTo>| match reply {
        Some(reply) => Outgoing::Call {
            to,
            args,
            from: Sender::Session(sender),
            reply,
        },
        None => Outgoing::Post {
            to,
            args,
            from: Sender::Session(sender),
            kind: PostKind::Plain,
        },
    };
    match cx.heap.ikc.directory().route(kernel) {
        Ok(Route::One { channel, .. }) => {
            if let Err(error) = cx.heap.ikc.directory().admit(channel) {
                report_error(cx, "resolve", &error.to_string());
                return Ok(Value::Int(0));
            }
            let sent = cx.post(channel, SEND, (Value::local(outgoing(to, params, reply)),));
            Ok(Value::Int(i64::from(sent.is_ok())))
        }
        Ok(Route::All(channels)) => {
            for (_, channel) in &channels {
                let one = outgoing(to.clone(), params.clone(), reply.clone());
                let _ = cx.post(*channel, SEND, (Value::local(one),));
            }
            Ok(Value::from(channels.len()))
        }
        Err(error) => {
            report_error(cx, "resolve", &error.to_string());
            Ok(Value::Int(0))
        }
    }
}

/// A request to this process through IKC: to a published state only, as
/// a peer's would be. 1 when it was delivered.
fn loop_back(
    cx: &mut Context<'_, Responder>,
    session: &str,
    state: &str,
    args: Args,
    reply: Option<ReplyTo>,
) -> i64 {
    let directory = cx.heap.ikc.directory();
    let target = directory
        .published_session(session)
        .filter(|_| directory.is_published(session, state));
    let Some(target) = target else {
        report_error(
            cx,
            "local-check",
            &format!("{session}/{state} is not published"),
        );
        return 0;
    };
    match reply {
        None => i64::from(cx.post(target, state, args).is_ok()),
        Some(reply) => {
            // A call needs the target's kernel: its responder runs it.
            let Some(responder) = cx.heap.ikc.responder(target.kernel()) else {
                return 0;
            };
            let call = LocalCall {
                target,
                state: state.to_owned(),
                args,
                reply,
            };
            i64::from(
                cx.post(responder, LOCAL_CALL, (Value::local(call),))
                    .is_ok(),
            )
        }
    }
}

fn local_call(cx: &mut Context<'_, Responder>, mut args: Args) -> Result<()> {
    let call: LocalCall = args.take(0).take_local()?;
    let answer = cx.call_answer(call.target, call.state.as_str(), call.args)?;
    deliver_answer(cx, &call.reply, answer);
    Ok(())
}

/// A post to every connected kernel; how many it went to.
fn post_all(cx: &mut Context<'_, Responder>, outgoing: Outgoing, sender: SessionId) -> usize {
    let Outgoing::Post {
        to,
        args,
        from,
        kind,
    } = outgoing
    else {
        return 0;
    };
    let from = match from {
        Sender::Poster => Sender::Session(sender),
        from => from,
    };
    let channels = match cx.heap.ikc.directory().route("*") {
        Ok(Route::All(channels)) => channels,
        _ => Vec::new(),
    };
    for (_, channel) in &channels {
        let one = Outgoing::Post {
            to: to.clone(),
            args: args.clone(),
            from: from.clone(),
            kind,
        };
        let _ = cx.post(*channel, SEND, (Value::local(one),));
    }
    channels.len()
}

/// A specifier given to `post`, `call` or `subscribe`: IKC's string forms
/// (with or without `poe:`), or its hash form.
fn read_specifier(value: &Value) -> std::result::Result<Specifier, String> {
    match value {
        Value::Map(map) => Specifier::from_map(map).map_err(|e| e.to_string()),
        other => {
            let text = other.as_str().unwrap_or_default();
            Specifier::parse_post(text).map_err(|e| format!("{text:?}: {e}"))
        }
    }
}

/// An RSVP: `poe:state`, `poe:/session/state`, a full specifier, its hash
/// form, or a bare state name.
fn read_rsvp(value: &Value) -> std::result::Result<Specifier, String> {
    match value {
        Value::Map(map) => Specifier::from_map(map).map_err(|e| e.to_string()),
        other => {
            let text = other.as_str().unwrap_or_default();
            let spec: std::result::Result<Specifier, _> = if text.starts_with("poe:") {
                text.parse()
            } else {
                Ok(Specifier::default().with_state(text))
            };
            match spec {
                Ok(spec) if spec.state.is_some() => Ok(spec),
                Ok(_) => Err(format!("the RSVP {text:?} names no state")),
                Err(e) => Err(format!("the RSVP {text:?}: {e}")),
            }
        }
    }
}

/// IKC's `publish`: `(session, [states])`, under every alias of the
/// session (its number when it has none).
fn publish(cx: &mut Context<'_, Responder>, args: Args) -> Result<Value> {
    let Some((session, names)) = published_names(cx, &args[0]) else {
        return Ok(Value::Bool(false));
    };
    // Only names a peer can be told of: a session's other aliases (say
    // `node/0`) stay local.
    let names: Vec<String> = names
        .into_iter()
        .filter(|name| check_name("published session", name).is_ok())
        .collect();
    let mut states = string_list(&args[1]);
    states.retain(|state| match check_name("published state", state) {
        Ok(()) => true,
        Err(error) => {
            report_error(cx, "local-publish", &error.to_string());
            false
        }
    });
    if names.is_empty() {
        report_error(
            cx,
            "local-publish",
            &format!("{} has no alias a peer can use", args[0]),
        );
        return Ok(Value::Bool(false));
    }
    // Within the handshake's limits: a peer closes a connection that
    // announces more, so more is refused here, where it is asked for.
    if let Err(error) = cx
        .heap
        .ikc
        .directory()
        .publish_within(&names, session, &states)
    {
        report_error(cx, "local-publish", &format!("{}: {error}", args[0]));
        return Ok(Value::Bool(false));
    }
    for remote in cx.heap.ikc.directory().remotes() {
        if !remote.connected {
            continue;
        }
        for name in &names {
            let outgoing = Outgoing::Publish {
                session: name.clone(),
                states: states.clone(),
            };
            let _ = cx.post(remote.channel, SEND, (Value::local(outgoing),));
        }
    }
    Ok(Value::Bool(true))
}

/// IKC's `retract`: `(session[, [states]])`, all states without a list.
fn retract(cx: &mut Context<'_, Responder>, args: Args) -> Result<Value> {
    let Some((_, names)) = published_names(cx, &args[0]) else {
        return Ok(Value::Bool(false));
    };
    let states = string_list(&args[1]);
    let mut any = false;
    for name in &names {
        any |= cx.heap.ikc.directory().retract(name, &states);
    }
    for remote in cx.heap.ikc.directory().remotes() {
        if !remote.connected {
            continue;
        }
        for name in &names {
            let outgoing = Outgoing::Retract {
                session: name.clone(),
                states: states.clone(),
            };
            let _ = cx.post(remote.channel, SEND, (Value::local(outgoing),));
        }
    }
    Ok(Value::Bool(any))
}

/// The session a `publish` or `retract` names, and the names it is
/// reached by.
fn published_names(
    cx: &mut Context<'_, Responder>,
    value: &Value,
) -> Option<(SessionId, Vec<String>)> {
    let session = match value {
        Value::Session(id) => Some(*id),
        Value::Int(n) => u64::try_from(*n)
            .ok()
            .and_then(|n| cx.id_to_session(n).ok()),
        other => other.as_str().and_then(|name| cx.resolve(name)),
    };
    let Some(session) = session else {
        report_error(cx, "local-publish", &format!("no session {value}"));
        return None;
    };
    let mut names: Vec<String> = cx
        .alias_list_of(session)
        .unwrap_or_default()
        .iter()
        .map(|a| a.to_string())
        .collect();
    if names.is_empty() {
        names.push(session.number().to_string());
    }
    Some((session, names))
}

/// A list of names, or one name.
fn string_list(value: &Value) -> Vec<String> {
    match value {
        Value::List(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Value::Undef => Vec::new(),
        other => other.as_str().map(str::to_owned).into_iter().collect(),
    }
}

/// IKC's `published`: called with an alias, that alias's states; without,
/// a map of every published alias to its states.
fn published(cx: &mut Context<'_, Responder>, args: Args) -> Value {
    let all = cx.heap.ikc.directory().published();
    let states = |set: &std::collections::BTreeSet<String>| {
        Value::List(set.iter().map(|s| Value::from(s.as_str())).collect())
    };
    match args[0].as_str() {
        Some(alias) => all
            .get(alias)
            .map(states)
            .unwrap_or(Value::List(Vec::new())),
        None => Value::Map(
            all.iter()
                .map(|(name, set)| (name.as_str().into(), states(set)))
                .collect::<Map>(),
        ),
    }
}

/// IKC's `subscribe`: `([specifiers], callback)`.
fn subscribe(cx: &mut Context<'_, Responder>, args: Args) -> Result<()> {
    let specs: Vec<Value> = match &args[0] {
        Value::List(items) => items.clone(),
        one => vec![one.clone()],
    };
    let callback = args[1].as_str().map(str::to_owned);
    let request = cx.heap.ikc.next_id();
    let mut subscription = Subscription {
        caller: cx.sender(),
        callback,
        waiting: 0,
        accepted: Vec::new(),
    };
    let me = cx.session();
    for value in specs {
        let spec = match read_specifier(&value) {
            Ok(spec) => spec,
            Err(message) => {
                report_error(cx, "subscribe", &message);
                continue;
            }
        };
        let Some(session) = spec.session.clone() else {
            report_error(cx, "subscribe", &format!("{spec}: no session"));
            continue;
        };
        let kernel = spec.kernel.as_str();
        let directory = cx.heap.ikc.directory();
        // Beyond IKC: a session of this process can be subscribed to (it
        // is reachable by its own name; no proxy is needed).
        if matches!(spec.kernel, Kernel::Named(_)) && cx.heap.ikc.is_me(kernel)
            || matches!(spec.kernel, Kernel::Default) && directory.remotes().is_empty()
        {
            let state = spec.state.as_deref();
            let found = match state {
                Some(state) => directory.is_published(&session, state),
                None => directory.published_session(&session).is_some(),
            };
            if found {
                subscription.accepted.push(Value::from(spec.to_string()));
            }
            continue;
        }
        let channels = match directory.route(kernel) {
            Ok(Route::One { channel, .. }) => vec![channel],
            Ok(Route::All(channels)) => channels.into_iter().map(|(_, c)| c).collect(),
            Err(error) => {
                report_error(cx, "subscribe", &error.to_string());
                continue;
            }
        };
        for channel in channels {
            let outgoing = Outgoing::Subscribe {
                session: session.clone(),
                state: spec.state.clone(),
                receipt: crate::request::Receipt {
                    responder: me,
                    request,
                    spec: spec.clone(),
                },
            };
            if cx.post(channel, SEND, (Value::local(outgoing),)).is_ok() {
                subscription.waiting += 1;
            }
        }
    }
    if subscription.waiting == 0 {
        answer_subscription(cx, subscription);
        return Ok(());
    }
    cx.heap.subscriptions.insert(request, subscription);
    cx.delay(SUBSCRIBE_EXPIRED, SUBSCRIBE_TIMEOUT, (request,))?;
    Ok(())
}

/// A kernel answered one of a subscription's questions: `(request, spec,
/// accepted, channel, kernel name)`.
fn subscribed(cx: &mut Context<'_, Responder>, args: Args) -> Result<()> {
    let Some(request) = args[0].as_int().and_then(|n| u64::try_from(n).ok()) else {
        return Ok(());
    };
    let spec = read_specifier(&args[1]).ok();
    let accepted = args[2].is_true();
    let channel = args[3].as_session();
    let kernel_name = args[4].as_str().unwrap_or_default().to_owned();
    if let (true, Some(spec), Some(channel)) = (accepted, &spec, channel) {
        make_proxy(cx, spec, channel, &kernel_name)?;
    }
    let Some(subscription) = cx.heap.subscriptions.get_mut(&request) else {
        return Ok(());
    };
    subscription.waiting = subscription.waiting.saturating_sub(1);
    if accepted && let Some(spec) = spec {
        let text = Value::from(spec.to_string());
        // A `*` subscription succeeds once, whichever kernels accept.
        if !subscription.accepted.contains(&text) {
            subscription.accepted.push(text);
        }
    }
    if subscription.waiting == 0
        && let Some(subscription) = cx.heap.subscriptions.remove(&request)
    {
        answer_subscription(cx, subscription);
    }
    Ok(())
}

/// Creates the proxy for `spec`'s session on `channel`, unless one exists.
fn make_proxy(
    cx: &mut Context<'_, Responder>,
    spec: &Specifier,
    channel: SessionId,
    kernel_name: &str,
) -> Result<()> {
    let Some(session) = spec.session.clone() else {
        return Ok(());
    };
    if !cx.heap.proxies.insert((channel, session.clone())) {
        return Ok(());
    }
    // The short name, when no local session holds it (IKC's rule); the
    // full one, poe://kernel/session, leads there through the router
    // anyway.
    let ikc = cx.heap.ikc.clone();
    if cx.resolve(session.as_str()).is_none()
        && !ikc.directory().add_proxy(&session, channel, &session)
    {
        tracing::info!(
            "IKC: the short name {session:?} leads to another kernel's session; use poe://{kernel_name}/{session}"
        );
    }
    report_remote(cx, channel, "subscribe", &[Value::Map(spec.to_map())]);
    Ok(())
}

/// Posts a subscription's callback: the specifiers accepted.
fn answer_subscription(cx: &mut Context<'_, Responder>, subscription: Subscription) {
    if let Some(callback) = subscription.callback {
        let accepted = Value::List(subscription.accepted);
        let _ = cx.post(subscription.caller, callback.as_str(), (accepted,));
    }
}

/// IKC's `unsubscribe`: `[specifiers]`; their proxies stop.
fn unsubscribe(cx: &mut Context<'_, Responder>, args: Args) {
    let specs: Vec<Value> = match &args[0] {
        Value::List(items) => items.clone(),
        one => vec![one.clone()],
    };
    for value in specs {
        let Ok(spec) = read_specifier(&value) else {
            continue;
        };
        let Some(session) = spec.session.clone() else {
            continue;
        };
        let channels: Vec<SessionId> = match cx.heap.ikc.directory().route(spec.kernel.as_str()) {
            Ok(Route::One { channel, .. }) => vec![channel],
            Ok(Route::All(all)) => all.into_iter().map(|(_, c)| c).collect(),
            Err(_) => Vec::new(),
        };
        for channel in channels {
            if cx.heap.proxies.remove(&(channel, session.clone())) {
                let ikc = cx.heap.ikc.clone();
                ikc.directory().remove_proxies(channel, Some(&session));
                report_remote(cx, channel, "unsubscribe", &[Value::Map(spec.to_map())]);
            }
        }
    }
}

/// Hands a peer's request to the thunk that stands for its sender; one
/// that cannot be handed over is answered (a call) or refused (a post) on
/// its connection, so no peer waits for an answer that will not come.
fn invoke_in_thunk(cx: &mut Context<'_, Responder>, invoke: Invoke) -> Result<()> {
    let (channel, call) = (invoke.channel, invoke.call);
    let Err(error) = hand_to_thunk(cx, invoke) else {
        return Ok(());
    };
    let message = format!("IKC could not deliver the request: {error}");
    let outgoing = match call {
        Some(id) => Outgoing::Reply {
            id,
            answer: roe_engine::Answer::Failed(message),
        },
        None => Outgoing::Error {
            op: "local-invocation",
            message,
        },
    };
    // The connection may be gone; then there is no one to tell.
    let _ = cx.post(channel, SEND, (Value::local(outgoing),));
    Ok(())
}

fn hand_to_thunk(cx: &mut Context<'_, Responder>, invoke: Invoke) -> Result<()> {
    let key = (invoke.channel, invoke.origin.clone());
    let thunk = match cx.heap.thunks.get(&key) {
        Some(thunk) => thunk,
        None => {
            let thunk = cx.spawn(thunk::session(invoke.channel, invoke.origin.clone()))?;
            for gone in cx.heap.thunks.insert(key, thunk) {
                let _ = cx.refcount_decrement(gone, thunk::HELD);
            }
            thunk
        }
    };
    cx.post(thunk, thunk::DELIVER, (Value::local(invoke),))
}

/// A connection closed: its thunks go; if for good, its proxies too.
fn closed(cx: &mut Context<'_, Responder>, channel: SessionId, for_good: bool) {
    for thunk in cx.heap.thunks.remove_channel(channel) {
        let _ = cx.refcount_decrement(thunk, thunk::HELD);
    }
    if for_good {
        cx.heap.proxies.retain(|(c, _)| *c != channel);
        cx.heap.ikc.directory().remove_proxies(channel, None);
    }
}

/// IKC's `shutdown`: every connection and listener closes (after their
/// output), monitors hear of it, and this responder lets its kernel end.
fn shutdown(cx: &mut Context<'_, Responder>) {
    if cx.heap.stopped {
        return;
    }
    cx.heap.stopped = true;
    let members = cx.heap.ikc.begin_shutdown();
    if !members.is_empty() || cx.heap.ikc.responders().len() > 1 {
        for member in members {
            let _ = cx.post(member, SHUTDOWN, ());
        }
        let me = cx.session();
        for responder in cx.heap.ikc.responders() {
            if responder != me {
                let _ = cx.post(responder, SHUTDOWN, ());
            }
        }
    }
    let name = cx.heap.ikc.config().name().to_owned();
    let ikc = cx.heap.ikc.clone();
    ikc.shared.monitors.report_local(
        &mut |s, state, args| drop(cx.post(s, state, args)),
        "shutdown",
        &name,
    );
    let channels = cx.heap.thunks.channels();
    for channel in channels {
        closed(cx, channel, true);
    }
    for (channel, _) in std::mem::take(&mut cx.heap.proxies) {
        cx.heap.ikc.directory().remove_proxies(channel, None);
    }
    cx.heap.subscriptions.clear();
    let _ = cx.alarm_remove_all();
    cx.set_router(None);
    let _ = cx.alias_remove(ALIAS);
    let kernel = cx.kernel_id();
    cx.heap.ikc.set_responder(kernel, None);
}

/// Reports an error of this process's own making (`local-…` and
/// `resolve`, as IKC names them) to `error` monitors, and to the log.
fn report_error(cx: &mut Context<'_, Responder>, op: &str, message: &str) {
    tracing::warn!(responder = %cx.session(), "IKC {op}: {message}");
    let ikc = cx.heap.ikc.clone();
    let about = About::named(ikc.config().name(), 0);
    report(
        cx,
        &ikc.shared.monitors,
        "error",
        &about,
        &[Value::from(op), Value::from(message)],
    );
}

/// Reports `op` about the kernel reached through `channel`, if it is
/// still known, to the monitors that asked.
fn report_remote(cx: &mut Context<'_, Responder>, channel: SessionId, op: &str, extra: &[Value]) {
    let ikc = cx.heap.ikc.clone();
    if let Some(about) = ikc
        .directory()
        .look_at(channel, |remote| About::from(remote))
    {
        report(cx, &ikc.shared.monitors, op, &about, extra);
    }
}
