//! Hostile clients: a line of a gigabyte, binary garbage, connections
//! left half-open. Each gets a clear error or is timed out, memory stays
//! bounded, and the server serves everyone else meanwhile.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use roe_registry::{
    BlockingClient, ClientError, MAX_ATTRS, MAX_LINE, MAX_PAIRS, Port, Query, RegistryAddr,
    Revision, Saved, ServerConfig, ServerThread, Service, StateFile,
};

use crate::common::*;

/// This process's resident memory, in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

/// Streams up to a gigabyte without a newline to `port`, in chunks, from
/// another thread; returns what the server answered, and how much it was
/// sent before it stopped taking more.
fn gigabyte_line(addr: &RegistryAddr, port: Port) -> (String, u64) {
    let stream = connect(addr, port);
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0u64;
        while sent < 1 << 30 {
            match writer.write(&chunk) {
                Ok(n) => sent += n as u64,
                Err(_) => break,
            }
        }
        sent
    });
    let mut answer = Vec::new();
    let mut reader = stream;
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let sent = sending.join().unwrap();
    (String::from_utf8_lossy(&answer).into_owned(), sent)
}

#[test]
fn a_gigabyte_line_is_refused_early_and_others_are_served() {
    let server = start(config());
    let addr = server.addr().clone();
    let held = register(&addr, "held a 1");
    find_until(&addr, "", |a| a == "held a 1\n");
    let before = resident_kib();
    let started = Instant::now();
    for (port, expected) in [
        (Port::New, "error line too long\n"),
        (Port::Find, ""),
        (Port::Event, "READY\nerror line too long\n"),
    ] {
        let (answer, sent) = gigabyte_line(&addr, port);
        assert_eq!(answer, expected, "{port}");
        assert!(sent < 1 << 30, "{port}: the server took the whole gigabyte");
        assert_eq!(find(&addr, ""), "held a 1\n");
    }
    let grown = resident_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "memory grew by {grown} KiB");
    assert!(started.elapsed() < 4 * PATIENCE);
    drop(held);
}

#[test]
fn binary_garbage_gets_an_error_and_the_end() {
    let server = start(config());
    let addr = server.addr().clone();
    // A fixed, reproducible mess: every byte value, newlines among them.
    let mut garbage: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    for at in (100..4096).step_by(300) {
        garbage[at] = b'\n';
    }
    garbage.retain(|&b| b != b'\'');
    for port in Port::ALL {
        let mut stream = connect(&addr, port);
        let _ = stream.write_all(&garbage);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        match port {
            Port::New => assert!(answer.starts_with("error "), "{answer:?}"),
            Port::Find => assert_eq!(answer, ""),
            Port::Event => assert!(answer.starts_with("READY\nerror "), "{answer:?}"),
        }
    }
    // With quotes in it, a line runs on across newlines until it is too
    // long.
    let quoted: Vec<u8> = b"svc a '"
        .iter()
        .copied()
        .chain((0..40_000).map(|i| if i % 50 == 0 { b'\n' } else { b'x' }))
        .collect();
    let mut stream = connect(&addr, Port::New);
    let _ = stream.write_all(&quoted);
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert_eq!(answer, "error line too long\n");
    let _svc = register(&addr, "svc a 1");
    find_until(&addr, "", |a| a == "svc a 1\n");
}

#[test]
fn half_open_connections_do_not_stop_the_server() {
    let server = start(config().first_line_timeout(Duration::from_millis(500)));
    let addr = server.addr().clone();
    let mut idle: Vec<TcpStream> = Vec::new();
    for port in Port::ALL {
        for i in 0..50 {
            let mut stream = connect(&addr, port);
            // Half a line, and nothing more; every other one shuts its
            // write side after it.
            stream.write_all(b"half a").unwrap();
            if i % 2 == 1 {
                stream.shutdown(Shutdown::Write).unwrap();
            }
            idle.push(stream);
        }
    }
    // Meanwhile, a registration, a query and a watch are served at once.
    let started = Instant::now();
    let mut svc = register(&addr, "svc a 1");
    find_until(&addr, "", |a| a == "svc a 1\n");
    let mut watcher = watch(&addr, "watch");
    assert_eq!(
        until_sync(&mut watcher),
        ["00000001 add svc a 1", "00000001 sync"]
    );
    svc.send("a 2\n");
    assert_eq!(watcher.line(), "00000002 update svc a 2");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The stalled ones end: the new port's with the timeout (or, shut,
    // with their half line taken as a line: `half a` is odd pairs), the
    // find port's with an answer to their half line (none), the event
    // port's when their client closes.
    for (i, mut stream) in idle.into_iter().enumerate() {
        let port = Port::ALL[i / 50];
        if port == Port::Event {
            continue;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        match port {
            Port::New if i % 2 == 1 => assert_eq!(answer, "error odd attribute/value pairs\n"),
            Port::New => assert_eq!(answer, "error timeout\n"),
            _ => assert_eq!(answer, ""),
        }
    }
    assert_eq!(find(&addr, ""), "svc a 2\n");
}

#[test]
fn a_hostile_query_is_cheap_or_refused_and_services_are_bounded() {
    let server = start(config());
    let addr = server.addr().clone();
    let mut held = Vec::new();
    for n in 0..50 {
        held.push(register(&addr, &format!("svc{n} a {n} b x")));
    }
    find_until(&addr, "b x", |a| a.lines().count() == 50);
    let everything = find(&addr, "");
    // A whole line of one pair is one pair.
    let line = "a * ".repeat(MAX_LINE / 4 - 1);
    let started = Instant::now();
    assert_eq!(find(&addr, line.trim_end()), everything);
    // A whole line of distinct pairs is refused: no answer on the find
    // port, an error on the event port.
    let line: String = (0..2000).map(|n| format!("{n} * ")).collect();
    assert_eq!(find(&addr, line.trim_end()), "");
    let mut watcher = Lines::connect(&addr, Port::Event);
    assert_eq!(watcher.line(), "READY");
    watcher.send(&format!("watch {}\n", line.trim_end()));
    assert_eq!(watcher.line(), "error too many attribute/value pairs");
    watcher.expect_end();
    // At the bound, a query is answered.
    let line: String = (0..MAX_PAIRS).map(|n| format!("a{n} * ")).collect();
    assert_eq!(find(&addr, line.trim_end()), "");
    assert!(started.elapsed() < PATIENCE);
    // A service of too many attributes is refused, at registration and by
    // an update; one at the bound is kept.
    let wide: String = (0..=MAX_ATTRS).map(|n| format!(" a{n} v")).collect();
    let mut refused = register(&addr, &format!("wide{wide}"));
    assert_eq!(refused.line(), "error too many attributes");
    refused.expect_end();
    let at_bound: String = (0..MAX_ATTRS).map(|n| format!(" a{n} v")).collect();
    let mut kept = register(&addr, &format!("wide{at_bound}"));
    find_until(&addr, "a127 v", |a| a.starts_with("wide "));
    kept.send("one more\n");
    assert_eq!(kept.line(), "error too many attributes");
    drop(held);
}

/// A directory for one test's state file, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server whose store starts with `count` services named `svc<n>`, each
/// with `n <n>` and `size` bytes of padding, read from a state file
/// (quicker than registering them one by one).
fn preloaded(
    name: &str,
    count: usize,
    size: usize,
    config: ServerConfig,
) -> (ServerThread, Scratch) {
    let dir = std::env::temp_dir().join(format!("roe-registry-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pad = "p".repeat(size);
    let services = (0..count)
        .map(|n| {
            let attrs = [("n", n.to_string()), ("pad", pad.clone())];
            (Service::with_attrs(format!("svc{n}"), attrs).unwrap(), None)
        })
        .collect();
    let path = dir.join("registry.state");
    let saved = Saved {
        revision: Revision::ZERO,
        services,
    };
    StateFile::new(&path).save_saved(&saved).unwrap();
    (start(config.state_file(&path)), Scratch(dir))
}

/// A connection to `port` whose receive buffer is as small as the system
/// allows, so that what it does not read waits in the server.
fn small_window(addr: &RegistryAddr, port: Port) -> TcpStream {
    use rustix::net::{AddressFamily, SocketType, connect, socket, sockopt};
    let target: SocketAddr = addr.connect_to(port).parse().unwrap();
    let fd = socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    sockopt::set_socket_recv_buffer_size(&fd, 1024).unwrap();
    connect(&fd, &target).unwrap();
    let stream = TcpStream::from(fd);
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

#[test]
fn an_answer_past_the_bound_is_refused_not_held() {
    // 200 services of 10 KB: 2 MB of lines, where the server holds 1 MiB
    // for one answer.
    let (server, _dir) = preloaded("pinned", 200, 10_000, config().max_answer(1 << 20));
    let addr = server.addr().clone();
    // A find gets no answer, and a reset: not the end of an empty answer.
    let mut stream = connect(&addr, Port::Find);
    stream.write_all(b"\n").unwrap();
    let mut answer = Vec::new();
    let error = stream.read_to_end(&mut answer).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
    assert!(answer.is_empty());
    let error = BlockingClient::new(addr.clone())
        .find(&Query::all())
        .unwrap_err();
    assert!(matches!(error, ClientError::Io { .. }), "{error}");
    // A watch's listing: an error line, then the end.
    let mut watcher = watch(&addr, "watch");
    assert_eq!(watcher.line(), "error answer too large");
    watcher.expect_end();
    // Within the bound, both are answered.
    assert_eq!(find(&addr, "n 7").lines().count(), 1);
    let mut watcher = watch(&addr, "watch n 7");
    assert_eq!(unrevised(&until_sync(&mut watcher)).len(), 2);
}

#[test]
fn a_client_that_takes_a_little_now_and_then_is_cut_off() {
    // 400 services of 5 KB: a 2 MB answer.
    let timeout = Duration::from_millis(1000);
    let (server, _dir) = preloaded("slow", 400, 5000, config().write_timeout(timeout));
    let addr = server.addr().clone();
    // A reader that reads takes it all.
    let all = find(&addr, "");
    assert_eq!(all.lines().count(), 400);
    // One that takes 512 bytes every 100 ms (5 KiB a second, less than
    // the 16 KiB each second the server asks for) makes progress in every
    // window of the write timeout, which was enough to be held for ever;
    // now it is cut off, long before the end. Each turn it sends a byte,
    // which the server drops while the connection lives and answers with
    // a reset once it is gone.
    let mut slow = small_window(&addr, Port::Find);
    slow.write_all(b"\n").unwrap();
    let started = Instant::now();
    let mut read = 0;
    let mut buf = [0; 512];
    loop {
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) => panic!("after {read} bytes: {error}"),
        }
        if slow.write_all(b"x").is_err() {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "still served after {read} bytes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(read < all.len() / 2, "{read} of {} bytes", all.len());
}
