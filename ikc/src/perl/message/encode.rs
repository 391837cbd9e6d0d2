//! A [`Message`] to the hash Perl IKC sends for it.
//!
//! The hash is built as a [`Tree`] around the message's parameters and
//! arguments, which it borrows: freezing a message copies none of them,
//! and [`Message::to_value`] is the same tree made a [`Value`].

use std::collections::BTreeMap;

use roe_engine::Value;

use super::{Address, CallContext, Message, ReceiptAnswer};
use crate::storable::Tree;

pub(super) fn message<'a>(message: &'a Message) -> Tree<'a> {
    let mut hash = BTreeMap::new();
    let mut put = |key: &'static str, tree: Tree<'a>| {
        hash.insert(key, tree);
    };
    let owned = Tree::Owned;
    let from = match message {
        Message::Post(post) => {
            put("event", owned(post.to.to_value()));
            put("params", Tree::Borrowed(&post.params));
            &post.from
        }
        Message::Call(call) | Message::Ping(call) => {
            put("event", owned(call.to.to_value()));
            put("params", Tree::Borrowed(&call.params));
            put("rsvp", owned(call.rsvp.to_value()));
            if let Some(context) = call.wantarray {
                put("wantarray", owned(wantarray(context)));
            }
            &call.from
        }
        Message::Proxy(proxy) => {
            put("event", owned(hash_value(&proxy.to)));
            let args = Tree::List(proxy.args.iter().map(Tree::Borrowed).collect());
            put(
                "params",
                Tree::List(vec![owned(Value::from(proxy.state.as_str())), args]),
            );
            &proxy.from
        }
        Message::DoYouHave(ask) => {
            put("event", owned(ask.to.to_value()));
            put(
                "params",
                owned(Value::List(vec![
                    ask.wanted.to_value(),
                    Value::from(ask.kernel.as_str()),
                ])),
            );
            put("rsvp", owned(ask.rsvp.to_value()));
            &ask.from
        }
        Message::Receipt(receipt) => {
            put("event", owned(hash_value(&receipt.to)));
            let params = match &receipt.answer {
                ReceiptAnswer::Accepted { spec, kernel } => {
                    Value::List(vec![spec.to_value(), Value::from(kernel.as_str())])
                }
                ReceiptAnswer::Refused(why) => Value::from(why.as_str()),
            };
            put("params", owned(params));
            &receipt.from
        }
        Message::Error(error) => {
            put("event", owned(error.to.to_value()));
            let kernel = error.kernel.as_deref().map_or(Value::Undef, Value::from);
            put(
                "params",
                owned(Value::List(vec![
                    Value::from(error.message.as_str()),
                    kernel,
                    Value::from(error.stage.as_str()),
                ])),
            );
            // Perl's `1`: what nfreeze writes as SX_BYTE 1.
            put("is_error", owned(Value::Int(1)));
            &None
        }
    };
    if let Some(from) = from {
        put("from", owned(hash_value(from)));
    }
    Tree::Hash(hash)
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
