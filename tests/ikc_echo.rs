//! The `ikc_echo` example server, run as its own process and driven by the
//! lite client: every published state answers as documented, `secret` is
//! refused, and the server exits with `BYE` once its one client has gone.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use roe::{Map, Value};
use roe_ikc::lite::{LiteClient, LiteConfig};

/// The example's binary: `cargo test` builds the examples beside the
/// test binaries' directory.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile.join("examples").join("ikc_echo");
    assert!(
        path.exists(),
        "cargo test builds the examples: {}",
        path.display()
    );
    path
}

#[test]
fn ikc_echo_serves_its_states_and_exits_after_its_clients() {
    let mut server = Command::new(example())
        .args([
            "--name",
            "EchoTest",
            "--max-clients",
            "1",
            "--idle-exit",
            "60",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = BufReader::new(server.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let wait = Duration::from_secs(20);
    let ready = lines.recv_timeout(wait).unwrap();
    let port: u16 = ready.strip_prefix("READY ").unwrap().parse().unwrap();
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
        let line = lines
            .recv_timeout(wait)
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
    assert!(server.wait().unwrap().success());
}
