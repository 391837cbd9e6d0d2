//! A [`Message`] to the hash Perl IKC sends for it.

use roe_engine::{Map, Str, Value};

use super::{Address, CallContext, Message, ReceiptAnswer};

pub(super) fn message(message: &Message) -> Value {
    let mut hash = Map::new();
    let mut put = |key: &str, value: Value| {
        hash.insert(Str::new(key), value);
    };
    let from = match message {
        Message::Post(post) => {
            put("event", post.to.to_value());
            put("params", post.params.clone());
            &post.from
        }
        Message::Call(call) | Message::Ping(call) => {
            put("event", call.to.to_value());
            put("params", call.params.clone());
            put("rsvp", call.rsvp.to_value());
            if let Some(context) = call.wantarray {
                put("wantarray", wantarray(context));
            }
            &call.from
        }
        Message::Proxy(proxy) => {
            put("event", hash_value(&proxy.to));
            let args = Value::List(proxy.args.clone());
            put(
                "params",
                Value::List(vec![Value::from(proxy.state.as_str()), args]),
            );
            &proxy.from
        }
        Message::DoYouHave(ask) => {
            put("event", ask.to.to_value());
            put(
                "params",
                Value::List(vec![
                    ask.wanted.to_value(),
                    Value::from(ask.kernel.as_str()),
                ]),
            );
            put("rsvp", ask.rsvp.to_value());
            &ask.from
        }
        Message::Receipt(receipt) => {
            put("event", hash_value(&receipt.to));
            let params = match &receipt.answer {
                ReceiptAnswer::Accepted { spec, kernel } => {
                    Value::List(vec![spec.to_value(), Value::from(kernel.as_str())])
                }
                ReceiptAnswer::Refused(why) => Value::from(why.as_str()),
            };
            put("params", params);
            &receipt.from
        }
        Message::Error(error) => {
            put("event", error.to.to_value());
            let kernel = error.kernel.as_deref().map_or(Value::Undef, Value::from);
            put(
                "params",
                Value::List(vec![
                    Value::from(error.message.as_str()),
                    kernel,
                    Value::from(error.stage.as_str()),
                ]),
            );
            // Perl's `1`: what nfreeze writes as SX_BYTE 1.
            put("is_error", Value::Int(1));
            &None
        }
    };
    if let Some(from) = from {
        put("from", hash_value(from));
    }
    Value::Map(hash)
}

fn hash_value(address: &Address) -> Value {
    Value::Map(address.to_map())
}

/// What ClientLite sends: Perl's `wantarray` copied, `undef`, `''` or `1`
/// (which `nfreeze` writes as the string `"1"`).
fn wantarray(context: CallContext) -> Value {
    match context {
        CallContext::Void => Value::Undef,
        CallContext::Scalar => Value::from(""),
        CallContext::List => Value::from("1"),
    }
}
