//! The `ikc_echo` example server, run as its own process and driven by the
//! lite client: every published state answers as documented, `secret` is
//! refused, and the server exits with `BYE` once its one client has gone.

mod common;

use roe::{Map, Value};
use roe_ikc::lite::{LiteClient, LiteConfig};

use crate::common::{Echo, PATIENCE};

#[test]
fn ikc_echo_serves_its_states_and_exits_after_its_clients() {
    let mut server = Echo::start(&[
        "--name",
        "EchoTest",
        "--max-clients",
        "1",
        "--idle-exit",
        "60",
    ]);
    let port = server.port;
    {
        let mut client = LiteClient::connect(LiteConfig::new(format!("127.0.0.1:{port}"))).unwrap();
        let call = |client: &mut LiteClient, state: &str, arg: Value| {
            client.call(&format!("poe://EchoTest/echo/{state}"), &[arg])
        };
        assert_eq!(
            call(&mut client, "echo", "hi".into()).unwrap(),
            Value::from("hi")
        );
        assert_eq!(
            call(&mut client, "upper", "hi".into()).unwrap(),
            Value::from("HI")
        );
        let numbers = Value::List(vec![1.into(), 2.into(), 39.into()]);
        assert_eq!(
            call(&mut client, "sum", numbers.clone()).unwrap(),
            Value::Int(42)
        );
        assert_eq!(call(&mut client, "list", numbers.clone()).unwrap(), numbers);
        assert_eq!(
            call(&mut client, "undef", Value::Undef).unwrap(),
            Value::Undef
        );
        client.post("echo/notify", &["quiet".into()]).unwrap();
        let answer = client.post_respond("echo/respond", &"data".into()).unwrap();
        let mut expected = Map::new();
        expected.insert("echo".into(), "data".into());
        assert_eq!(answer, Value::Map(expected));
        let refused = call(&mut client, "secret", Value::Undef).unwrap_err();
        assert!(refused.is_remote(), "{refused}");
        assert!(refused.to_string().contains("not published"), "{refused}");
    }
    let mut printed = Vec::new();
    loop {
        let line = server
            .lines
            .recv_timeout(PATIENCE)
            .expect("the server exits after its client");
        let bye = line == "BYE";
        printed.push(line);
        if bye {
            break;
        }
    }
    assert_eq!(
        printed[..6],
        [
            "echo hi",
            "upper hi",
            "sum [1, 2, 39]",
            "list [1, 2, 39]",
            "undef undef",
            "notify quiet",
        ]
    );
    assert!(
        printed[6].starts_with("respond [data, poe://"),
        "{printed:?}"
    );
    assert_eq!(printed[7..], ["BYE"]);
    assert!(server.child.wait().unwrap().success());
}
