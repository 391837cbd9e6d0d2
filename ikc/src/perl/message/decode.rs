//! A thawed hash to a [`Message`]: the shapes, most particular first.

use roe_engine::{Map, Value};

use super::{
    Address, Call, CallContext, DoYouHave, ErrorStage, IKC_SESSION, Message, MessageError,
    PROXY_STATE, Post, ProxyPost, RECEIPT_PREFIX, Receipt, ReceiptAnswer, RemoteError, Spec, kind,
    text,
};

pub(super) fn message(value: Value) -> Result<Message, MessageError> {
    let Value::Map(mut hash) = value else {
        return Err(MessageError::NotAHash {
            found: kind(&value),
        });
    };
    let to = match hash.get("event") {
        None | Some(Value::Undef) => return Err(MessageError::NoEvent),
        Some(event) => Spec::from_value(event, "event")?,
    };
    let params = hash.remove("params").unwrap_or(Value::Undef);
    if hash.get("is_error").is_some_and(Value::is_true) {
        return remote_error(to, &params).map(Message::Error);
    }
    let from = address(&hash, "from")?;
    let rsvp = match hash.get("rsvp") {
        None | Some(Value::Undef) => None,
        Some(rsvp) => Some(Spec::from_value(rsvp, "rsvp")?),
    };
    let (session, state) = to.session_and_state();
    let session = session.as_deref();
    let state = state.as_deref();

    if let (Spec::Hash(address), Some(PROXY_STATE), None) = (&to, state, &rsvp)
        && let Some((state, args)) = proxied(&params)
    {
        return Ok(Message::Proxy(ProxyPost {
            to: address.clone(),
            state,
            args,
            from,
        }));
    }
    if let (Some(IKC_SESSION), Some("do_you_have"), Some(rsvp)) = (session, state, &rsvp)
        && let Some((wanted, kernel)) = spec_and_kernel(&params)
    {
        return Ok(Message::DoYouHave(DoYouHave {
            to,
            wanted,
            kernel,
            rsvp: rsvp.clone(),
            from,
        }));
    }
    if let (Spec::Hash(address), Some(state), None) = (&to, state, &rsvp)
        && state.starts_with(RECEIPT_PREFIX)
        && let Some(answer) = receipt_answer(&params)
    {
        return Ok(Message::Receipt(Receipt {
            to: address.clone(),
            answer,
            from,
        }));
    }
    let ping = session == Some(IKC_SESSION) && state == Some("ping");
    match rsvp {
        Some(rsvp) => {
            let call = Call {
                to,
                params,
                rsvp,
                wantarray: hash.get("wantarray").map(context),
                from,
            };
            Ok(if ping {
                Message::Ping(call)
            } else {
                Message::Call(call)
            })
        }
        None => Ok(Message::Post(Post { to, params, from })),
    }
}

/// A hash under `key`, when there is one.
fn address(hash: &Map, key: &str) -> Result<Option<Address>, MessageError> {
    match hash.get(key) {
        None | Some(Value::Undef) => Ok(None),
        Some(Value::Map(map)) => Address::from_map(map, key).map(Some),
        Some(other) => Err(MessageError::wrong_type(key.to_owned(), "a hash", other)),
    }
}

fn context(value: &Value) -> CallContext {
    if value.is_undef() {
        CallContext::Void
    } else if value.is_true() {
        CallContext::List
    } else {
        CallContext::Scalar
    }
}

/// `[state, [args...]]`.
fn proxied(params: &Value) -> Option<(String, Vec<Value>)> {
    match params.as_list()? {
        [state, Value::List(args)] => Some((text(state)?, args.clone())),
        _ => None,
    }
}

/// `[spec, kernel]`, a specifier in either form and a kernel's ID.
fn spec_and_kernel(params: &Value) -> Option<(Spec, String)> {
    match params.as_list()? {
        [spec, kernel] => {
            let spec = Spec::from_value(spec, "params[0]").ok()?;
            Some((spec, text(kernel)?))
        }
        _ => None,
    }
}

fn receipt_answer(params: &Value) -> Option<ReceiptAnswer> {
    match params {
        Value::List(_) => {
            let (spec, kernel) = spec_and_kernel(params)?;
            Some(ReceiptAnswer::Accepted { spec, kernel })
        }
        other => text(other).map(ReceiptAnswer::Refused),
    }
}

/// `[message, kernel, stage]`.
fn remote_error(to: Spec, params: &Value) -> Result<RemoteError, MessageError> {
    let shape = || MessageError::wrong_type("params".into(), "[message, kernel, stage]", params);
    let [message, kernel, stage] = params.as_list().ok_or_else(shape)? else {
        return Err(shape());
    };
    let part = |value: &Value, at: &str| {
        text(value).ok_or_else(|| MessageError::wrong_type(format!("params[{at}]"), "text", value))
    };
    let message = part(message, "0")?;
    let kernel = match kernel {
        Value::Undef => None,
        other => Some(part(other, "1")?),
    };
    let stage = part(stage, "2")?;
    let stage = ErrorStage::from_word(&stage).ok_or(MessageError::UnknownStage { stage })?;
    Ok(RemoteError {
        to,
        message,
        kernel,
        stage,
    })
}
