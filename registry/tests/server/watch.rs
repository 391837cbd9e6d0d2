//! The event port: registry(4)'s counter lines, roe's detailed watch, its
//! resumption, and watchers that fall behind.

use std::io::Write;
use std::time::Duration;

use roe_registry::{Port, StoreConfig};

use crate::common::*;

#[test]
fn counter_lines_follow_changes() {
    let server = start(config());
    let addr = server.addr();
    let mut events = Lines::connect(addr, Port::Event);
    assert_eq!(events.line(), "READY");
    let mut svc = register(addr, "svc a 1");
    assert_eq!(events.line(), "00000001");
    svc.send("a 2\n");
    assert_eq!(events.line(), "00000002");
    // Lines other than a watch line are ignored.
    events.send("hello\n\n");
    drop(svc);
    assert_eq!(events.line(), "00000003");
    // A counter client that closes its side ends the connection.
    events.stream.shutdown(std::net::Shutdown::Write).unwrap();
    events.expect_end();
}

#[test]
fn a_detailed_watch_follows_the_services_that_match() {
    let server = start(config());
    let addr = server.addr();
    let a = register(addr, "a auth none");
    let mut b = register(addr, "b auth sha1");
    find_until(addr, "", |a| a.lines().count() == 2);
    let mut watcher = watch(addr, "watch auth none");
    assert_eq!(
        until_sync(&mut watcher),
        ["00000002 add a auth none", "00000002 sync"]
    );
    b.send("auth none\n");
    assert_eq!(watcher.line(), "00000003 add b auth none");
    b.send("note 'x y'\n");
    assert_eq!(watcher.line(), "00000004 update b auth none note 'x y'");
    b.send("auth sha1\n");
    assert_eq!(watcher.line(), "00000005 remove b auth sha1 note 'x y'");
    // b's removal does not concern the watcher (it no longer matched).
    drop(b);
    find_until(addr, "", |answer| answer == "a auth none\n");
    drop(a);
    assert_eq!(watcher.line(), "00000007 remove a auth none");
    // Once watching, lines are ignored.
    watcher.send("watch\n");
    let _c = register(addr, "c auth none");
    assert_eq!(watcher.line(), "00000008 add c auth none");
}

#[test]
fn a_watcher_resumes_after_the_last_revision_it_saw() {
    let server = start(config());
    let addr = server.addr();
    let mut svc = register(addr, "svc auth none");
    find_until(addr, "", |a| !a.is_empty());
    let mut watcher = watch(addr, "watch");
    assert_eq!(
        until_sync(&mut watcher),
        ["00000001 add svc auth none", "00000001 sync"]
    );
    drop(watcher);
    svc.send("auth sha1\n");
    find_until(addr, "auth sha1", |a| !a.is_empty());
    let _other = register(addr, "other auth none");
    find_until(addr, "", |a| a.lines().count() == 2);
    drop(svc);
    find_until(addr, "", |a| a == "other auth none\n");
    let seen = "00000001";
    let mut resumed = watch(addr, &format!("watch since {seen}"));
    assert_eq!(
        until_sync(&mut resumed),
        [
            "00000002 update svc auth sha1",
            "00000003 add other auth none",
            "00000004 remove svc auth sha1",
            "00000004 sync",
        ]
    );
    // With a query, `since` anywhere among the pairs.
    let mut filtered = watch(addr, "watch since 1 auth none");
    assert_eq!(
        until_sync(&mut filtered),
        [
            "00000002 remove svc auth sha1",
            "00000003 add other auth none",
            "00000004 sync"
        ]
    );
}

#[test]
fn a_watch_that_cannot_resume_is_refused() {
    let server = start(config().store(StoreConfig::default().log_changes(2)));
    let addr = server.addr();
    let mut svc = register(addr, "svc n 0");
    for n in 1..5 {
        svc.send(&format!("n {n}\n"));
    }
    find_until(addr, "n 4", |a| !a.is_empty());
    for (line, reason) in [
        ("watch since 1", "revision too old"),
        ("watch since 99", "revision not reached"),
        ("watch since x", "bad revision"),
        ("watch since 1 since 2", "bad revision"),
        ("watch auth", "odd attribute/value pairs"),
    ] {
        let mut refused = watch(addr, line);
        assert_eq!(refused.line(), format!("error {reason}"), "{line}");
        refused.expect_end();
    }
    let mut fine = watch(addr, "watch since 00000003");
    assert_eq!(
        until_sync(&mut fine),
        [
            "00000004 update svc n 3",
            "00000005 update svc n 4",
            "00000005 sync"
        ]
    );
}

/// A watcher that does not read holds the server's output bound, no
/// more; once the changes it is owed are gone from the log it is told so
/// and cut off, while a watcher that reads gets every change. (The
/// changes must outgrow what the system buffers for a socket: 40 MB.)
#[test]
fn a_watcher_that_falls_behind_is_told_and_cut_off() {
    const CHANGES: usize = 40_000;
    let server = start(
        config()
            .max_output(4096)
            .store(StoreConfig::default().log_changes(2000)),
    );
    let addr = server.addr();
    let mut sleeper = watch(addr, "watch");
    assert_eq!(until_sync(&mut sleeper), ["00000000 sync"]);
    let mut reader = watch(addr, "watch");
    assert_eq!(until_sync(&mut reader), ["00000000 sync"]);
    let (progress, read) = std::sync::mpsc::channel();
    let reading = std::thread::spawn(move || {
        for n in 0..CHANGES {
            let line = reader.line();
            let want = if n == 0 {
                " add svc pad "
            } else {
                " update svc pad "
            };
            assert!(line.contains(want), "{line}");
            if n % 100 == 0 {
                let _ = progress.send(n);
            }
        }
    });
    let mut svc = Lines::connect(addr, Port::New);
    let pad = "p".repeat(1000);
    svc.stream.write_all(b"svc pad 0\n").unwrap();
    let mut seen = 0;
    for n in 1..CHANGES {
        svc.stream
            .write_all(format!("pad {n}{pad}\n").as_bytes())
            .unwrap();
        // Paced, so that the reading watcher never falls a log behind.
        while n > seen + 1000 {
            seen = read.recv().expect("the reader reads");
        }
    }
    reading
        .join()
        .expect("the reading watcher got every change");
    // The sleeper now reads: what it was sent, then the error, then the end.
    let mut last = String::new();
    let mut lines = 0;
    while let Some(line) = sleeper.next_line() {
        lines += 1;
        last = line;
    }
    assert_eq!(last, "error revision too old", "after {lines} lines");
    assert!(lines < CHANGES, "{lines}");
    // The server serves on.
    assert!(find(addr, "").starts_with(&format!("svc pad {}p", CHANGES - 1)));
}

#[test]
fn a_quiet_detailed_watcher_gets_sync_lines() {
    let server = start(config().sync_interval(Duration::from_millis(50)));
    let addr = server.addr();
    let mut watcher = watch(addr, "watch auth none");
    assert_eq!(until_sync(&mut watcher), ["00000000 sync"]);
    let mut svc = register(addr, "svc n 0");
    std::thread::sleep(Duration::from_millis(60));
    svc.send("n 1\n");
    // Changes that do not concern the watcher move its resume point.
    let line = watcher.line();
    assert!(line == "00000001 sync" || line == "00000002 sync", "{line}");
}
