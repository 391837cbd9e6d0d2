use roe_engine::{Map, Value};

use super::*;

fn hash(entries: &[(&str, Value)]) -> Value {
    let mut map = Map::new();
    for (key, value) in entries {
        map.insert((*key).into(), value.clone());
    }
    Value::Map(map)
}

fn lite_from() -> Address {
    Address {
        state: None,
        ..Address::new("LiteClient", "IKCLite", "")
    }
}

fn round_trip(value: Value) -> Message {
    let message = Message::from_value(value.clone()).unwrap();
    assert_eq!(message.to_value(), value, "{message:?}");
    // Frozen from its borrowed parts, the frame is the value's.
    let (mut framed, mut expected) = (Vec::new(), Vec::new());
    message.encode(&mut framed).unwrap();
    crate::perl::write_frame(&value, &mut expected).unwrap();
    assert_eq!(framed, expected, "{message:?}");
    message
}

#[test]
fn a_clientlite_post_is_a_post() {
    let message = round_trip(hash(&[
        ("event", Value::from("poe://srv/echo/notify")),
        ("params", hash(&[("fire", Value::from("and forget"))])),
        ("from", Value::Map(lite_from().to_map())),
    ]));
    assert_eq!(message.kind(), "post");
    assert_eq!(message.from(), Some(&lite_from()));
    assert_eq!(
        message.target().unwrap().to_string(),
        "poe://srv/echo/notify"
    );
}

#[test]
fn wantarray_keeps_its_three_values_and_its_absence() {
    for (value, context) in [
        (Value::Undef, CallContext::Void),
        (Value::from(""), CallContext::Scalar),
        (Value::from("1"), CallContext::List),
    ] {
        let message = round_trip(hash(&[
            ("event", Value::from("poe://srv/echo/list")),
            ("params", Value::Undef),
            (
                "rsvp",
                Value::Map(Address::new("L", "IKCLite", "response4").to_map()),
            ),
            ("wantarray", value),
        ]));
        let Message::Call(call) = message else {
            panic!("a call");
        };
        assert_eq!(call.wantarray, Some(context));
    }
    let Message::Call(call) = round_trip(hash(&[
        ("event", Value::from("poe://srv/echo/echo")),
        ("params", Value::from("hello")),
        (
            "rsvp",
            Value::Map(Address::new("PoeClient", 2, "echo_back").to_map()),
        ),
    ])) else {
        panic!("a call");
    };
    assert_eq!(call.wantarray, None);
    assert_eq!(
        call.rsvp,
        Spec::Hash(Address::new("PoeClient", SessionName::Id(2), "echo_back"))
    );
}

#[test]
fn pings_are_told_apart_in_both_forms() {
    let rsvp = Value::Map(Address::new("L", "IKC", "pong").to_map());
    for event in [
        Value::from("poe://srv/IKC/ping"),
        Value::Map(Address::new("srv", "IKC", "ping").to_map()),
    ] {
        let message = round_trip(hash(&[
            ("event", event),
            ("params", Value::from("PING")),
            ("rsvp", rsvp.clone()),
        ]));
        assert_eq!(message.kind(), "ping");
    }
    // Without an rsvp it is only a post.
    let message = round_trip(hash(&[
        ("event", Value::from("poe://srv/IKC/ping")),
        ("params", Value::from("PING")),
    ]));
    assert_eq!(message.kind(), "post");
}

#[test]
fn a_proxy_post_spreads_its_arguments() {
    let message = round_trip(hash(&[
        (
            "event",
            Value::Map(Address::proxy("EchoServer", "echo").to_map()),
        ),
        (
            "params",
            Value::List(vec![
                Value::from("tell_back"),
                Value::List(vec![Value::from("via-proxy")]),
            ]),
        ),
        (
            "from",
            Value::Map(Address::proxy("vm-c", "client").to_map()),
        ),
    ]));
    let Message::Proxy(proxy) = &message else {
        panic!("a proxy post");
    };
    assert_eq!(proxy.state, "tell_back");
    assert_eq!(proxy.args, [Value::from("via-proxy")]);
    assert_eq!(
        message.target().unwrap(),
        "poe://EchoServer/echo/tell_back".parse().unwrap()
    );
}

#[test]
fn a_near_proxy_stays_a_post_and_keeps_everything() {
    for params in [
        Value::from("tell_back"),
        Value::List(vec![Value::from("tell_back"), Value::from("not a list")]),
        Value::List(vec![Value::List(vec![]), Value::List(vec![])]),
    ] {
        let message = round_trip(hash(&[
            (
                "event",
                Value::Map(Address::proxy("EchoServer", "echo").to_map()),
            ),
            ("params", params),
        ]));
        assert_eq!(message.kind(), "post");
    }
}

#[test]
fn subscription_and_its_receipts() {
    let receipt_state = "IKC:receipt 2 CODE(0x560781aba000)poe://EchoServer/echo";
    let wanted = Value::Map(Address::new("EchoServer", "echo", "").to_map());
    let message = round_trip(hash(&[
        (
            "event",
            Value::Map(Address::new("EchoServer", "IKC", "do_you_have").to_map()),
        ),
        (
            "params",
            Value::List(vec![wanted.clone(), Value::from("vm-c")]),
        ),
        (
            "from",
            Value::Map(
                Address {
                    state: None,
                    ..Address::new("vm-c", "IKC", "")
                }
                .to_map(),
            ),
        ),
        (
            "rsvp",
            Value::Map(Address::new("vm-c", "IKC", receipt_state).to_map()),
        ),
    ]));
    let Message::DoYouHave(ask) = message else {
        panic!("a subscription");
    };
    assert_eq!(ask.kernel, "vm-c");
    let Spec::Hash(rsvp) = ask.rsvp else {
        panic!("a hash rsvp");
    };
    let Message::Receipt(receipt) = round_trip(hash(&[
        ("event", Value::Map(rsvp.to_map())),
        ("params", Value::List(vec![wanted, Value::from("vm-s")])),
        ("from", Value::Map(Address::proxy("vm-s", "IKC").to_map())),
    ])) else {
        panic!("a receipt");
    };
    assert!(
        matches!(receipt.answer, ReceiptAnswer::Accepted { ref kernel, .. } if kernel == "vm-s")
    );
    let Message::Receipt(refused) = round_trip(hash(&[
        ("event", Value::Map(rsvp.to_map())),
        (
            "params",
            Value::from("Refused subscription poe://EchoServer/nope"),
        ),
    ])) else {
        panic!("a receipt");
    };
    assert_eq!(
        refused.answer,
        ReceiptAnswer::Refused("Refused subscription poe://EchoServer/nope".into())
    );
}

#[test]
fn an_error_report_is_typed_or_refused() {
    let event = Value::Map(Address::remote_error("LiteClient").to_map());
    let message = round_trip(hash(&[
        ("event", event.clone()),
        (
            "params",
            Value::List(vec![
                Value::from("Session 'echo' has not published state 'secret'"),
                Value::from("vm-s"),
                Value::from("check"),
            ]),
        ),
        ("is_error", Value::Int(1)),
    ]));
    let Message::Error(error) = message else {
        panic!("an error");
    };
    assert_eq!(error.stage, ErrorStage::Check);
    assert_eq!(error.kernel.as_deref(), Some("vm-s"));
    let undef_kernel = round_trip(hash(&[
        ("event", event.clone()),
        (
            "params",
            Value::List(vec![
                Value::from("bad"),
                Value::Undef,
                Value::from("request"),
            ]),
        ),
        ("is_error", Value::Int(1)),
    ]));
    assert!(matches!(
        undef_kernel,
        Message::Error(RemoteError { kernel: None, .. })
    ));
    let bad_stage = hash(&[
        ("event", event.clone()),
        (
            "params",
            Value::List(vec![
                Value::from("m"),
                Value::from("k"),
                Value::from("later"),
            ]),
        ),
        ("is_error", Value::Int(1)),
    ]);
    assert_eq!(
        Message::from_value(bad_stage),
        Err(MessageError::UnknownStage {
            stage: "later".into()
        })
    );
    let not_a_list = hash(&[
        ("event", event),
        ("params", Value::from("ARRAY(0x1)")),
        ("is_error", Value::from("1")),
    ]);
    assert!(matches!(
        Message::from_value(not_a_list),
        Err(MessageError::WrongType { ref key, .. }) if key == "params"
    ));
}

#[test]
fn what_is_no_message_says_why() {
    assert_eq!(
        Message::from_value(Value::from("x")),
        Err(MessageError::NotAHash { found: "text" })
    );
    assert_eq!(
        Message::from_value(hash(&[("params", Value::from(1))])),
        Err(MessageError::NoEvent)
    );
    assert_eq!(
        Message::from_value(hash(&[("event", Value::Undef)])),
        Err(MessageError::NoEvent)
    );
    assert!(matches!(
        Message::from_value(hash(&[("event", Value::List(vec![]))])),
        Err(MessageError::WrongType { ref key, .. }) if key == "event"
    ));
    assert!(matches!(
        Message::from_value(hash(&[("event", Value::from("a/b")), ("from", Value::from("me"))])),
        Err(MessageError::WrongType { ref key, .. }) if key == "from"
    ));
    let bad_session = hash(&[("session", Value::List(vec![]))]);
    assert!(matches!(
        Message::from_value(hash(&[("event", Value::from("a/b")), ("rsvp", bad_session)])),
        Err(MessageError::WrongType { ref key, .. }) if key == "rsvp.session"
    ));
    // A message without params reads as undef ones, and writes them.
    let Message::Post(post) = Message::from_value(hash(&[("event", Value::from("a/b"))])).unwrap()
    else {
        panic!("a post");
    };
    assert_eq!(post.params, Value::Undef);
}

#[test]
fn latin1_names_read_as_their_characters() {
    let mut from = Map::new();
    from.insert("kernel".into(), Value::Bytes(b"caf\xe9".to_vec()));
    from.insert("session".into(), Value::from("s"));
    let message = Message::from_value(hash(&[
        ("event", Value::from("a/b")),
        ("from", Value::Map(from)),
    ]))
    .unwrap();
    assert_eq!(message.from().unwrap().kernel.as_deref(), Some("café"));
}

#[test]
fn replies_and_post_backs_take_perl_shapes() {
    let rsvp = Address {
        kernel: None,
        ..Address::new("", "IKCLite", "response0")
    };
    let Message::Post(reply) = Message::reply(Spec::Hash(rsvp), Value::from(1), None) else {
        panic!("a post");
    };
    assert_eq!(
        reply.to,
        Spec::Hash(Address::new("", "IKCLite", "response0"))
    );

    let text = Message::reply(Spec::Text("poe://L/IKCLite/r".into()), Value::Undef, None);
    assert!(matches!(
        text,
        Message::Post(Post {
            to: Spec::Text(_),
            ..
        })
    ));

    let Message::Post(back) = Message::post_back(&lite_from(), "told", vec![Value::from(1)], None)
    else {
        panic!("a post");
    };
    assert_eq!(
        back.to,
        Spec::Hash(Address::new("LiteClient", "IKCLite", "told"))
    );
    // An empty state is no state, as Perl's truth has it.
    let empty = Address::new("K", "s", "");
    assert!(matches!(
        Message::post_back(&empty, "told", vec![], None),
        Message::Post(_)
    ));
}

#[test]
fn an_address_displays_as_perl_names_it() {
    assert_eq!(lite_from().to_string(), "poe://LiteClient/IKCLite");
    assert_eq!(Address::new("", "s", "t").to_string(), "poe:/s/t");
    assert_eq!(Address::new("0", "s", "0").to_string(), "poe:/s");
    assert_eq!(Address::default().to_string(), "poe:");
    let spec: crate::Specifier = "poe://k/s/t?a".parse().unwrap();
    let address = Address::from_specifier(&spec);
    assert_eq!(address.args.as_deref(), Some("a"));
    assert_eq!(address.to_specifier(), spec);
}
