//! Peers that misbehave, against a real IKC server over loopback: garbage,
//! a 2 GB length prefix, a stall in the middle of a frame, and a peer that
//! asks and asks and never reads. Each is cut off, and the server serves
//! the next client as if nothing happened.

mod support;

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use roe_engine::Value;
use roe_ikc::{
    IkcConfig,
    lite::{LiteClient, LiteConfig},
    native::{
        ClientHandshake, Frame, FrameReader, HandshakeConfig, HandshakeStep, MAGIC, SessionRef,
        Target,
    },
};

use support::{Node, PATIENCE, heard, published};

/// A server with tight limits: a 300 ms handshake, 64 KiB of output per
/// peer that may stall for 500 ms, frames up to 1 MiB.
fn server() -> Node {
    let (tell, _lines) = heard();
    let config = IkcConfig::new("Server")
        .handshake_timeout(Duration::from_millis(300))
        .max_output(64 * 1024, Duration::from_millis(500))
        .max_frame(1024 * 1024);
    Node::start(config, 1, true, move |_, kernel| {
        kernel.spawn(published("echo", &["ping"], tell.clone()))?;
        kernel
            .spawn(
                roe_engine::Session::new(())
                    .on("_start", |cx, _| {
                        cx.alias_set("big")?;
                        cx.call("IKC", "publish", ("big", Value::List(vec!["page".into()])))
                            .map(drop)
                    })
                    .on("page", |_, _| Value::from("x".repeat(64 * 1024))),
            )
            .map(drop)
    })
}

/// Reads until the server closes the connection; how long that took.
/// Fails if it stays open past [`PATIENCE`].
fn until_closed(stream: &mut TcpStream) -> Duration {
    let start = Instant::now();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return start.elapsed(),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
}

/// The server still answers a well-behaved client.
fn still_serves(node: &Node) {
    let mut client =
        LiteClient::connect(LiteConfig::new(format!("127.0.0.1:{}", node.port()))).unwrap();
    let answer = client
        .call("poe://Server/echo/ping", &[Value::from("fine")])
        .unwrap();
    assert_eq!(answer, Value::from("FINE"));
}

#[test]
fn garbage_instead_of_the_magic_is_cut_off() {
    let node = server();
    let mut peer = TcpStream::connect(("127.0.0.1", node.port())).unwrap();
    peer.write_all(&[b'G'; 4096]).unwrap();
    until_closed(&mut peer);
    still_serves(&node);
    node.stop();
}

#[test]
fn a_two_gigabyte_length_prefix_is_cut_off_before_any_of_it_is_read() {
    let node = server();
    let mut peer = TcpStream::connect(("127.0.0.1", node.port())).unwrap();
    peer.write_all(&MAGIC).unwrap();
    peer.write_all(&0x7fff_ffffu32.to_le_bytes()).unwrap();
    peer.write_all(&[0; 1024]).unwrap();
    until_closed(&mut peer);
    still_serves(&node);
    node.stop();
}

#[test]
fn a_peer_that_stalls_in_the_middle_of_its_handshake_is_cut_off() {
    let node = server();
    let mut peer = TcpStream::connect(("127.0.0.1", node.port())).unwrap();
    peer.write_all(&MAGIC).unwrap();
    peer.write_all(&100u32.to_le_bytes()).unwrap();
    peer.write_all(&[0; 10]).unwrap();
    let waited = until_closed(&mut peer);
    // Not before the handshake's time is up.
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    still_serves(&node);
    node.stop();
}

/// A peer that finishes its handshake, then calls for 64 KiB answers
/// without ever reading them: the server stops reading it once its
/// output is past the bound, and cuts it off when the output has made no
/// progress for the write timeout.
#[test]
fn a_peer_that_never_reads_is_cut_off() {
    let node = server();
    let mut peer = TcpStream::connect(("127.0.0.1", node.port())).unwrap();
    let config = HandshakeConfig::new("hog-1", "Hog").unwrap();
    let (mut handshake, hello) = ClientHandshake::start(config).unwrap();
    peer.write_all(&hello).unwrap();
    let mut reader = FrameReader::new();
    let mut buf = vec![0; 4096];
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    loop {
        let n = peer.read(&mut buf).unwrap();
        assert!(n > 0, "closed during the handshake");
        reader.feed(&buf[..n]);
        if let Some(frame) = reader.next_frame().unwrap() {
            match handshake.on_frame(frame).unwrap() {
                HandshakeStep::Done { send, .. } => {
                    peer.write_all(&send).unwrap();
                    break;
                }
                HandshakeStep::Continue { send } => peer.write_all(&send).unwrap(),
            }
        }
    }
    // 400 calls for 64 KiB each: 25 MiB of answers, far past what the
    // sockets hold. Writing stops mattering once the server stops
    // reading; the write then fails or blocks, so it runs on a thread.
    let mut writer = peer.try_clone().unwrap();
    let asking = std::thread::spawn(move || {
        let mut out = Vec::new();
        for id in 0..400 {
            out.clear();
            Frame::Call {
                id,
                to: Target {
                    session: SessionRef::Alias("big".into()),
                    state: "page".into(),
                },
                args: Vec::new(),
                from: None,
            }
            .encode(&mut out)
            .unwrap();
            if writer.write_all(&out).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    until_closed(&mut peer);
    asking.join().unwrap();
    still_serves(&node);
    node.stop();
}
