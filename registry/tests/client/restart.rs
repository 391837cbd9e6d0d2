//! The kernel-side client across a restart of the registry, and across a
//! lost connection: registrations come back by themselves, and a watch
//! resumes from its last revision, or starts afresh when the registry
//! cannot resume it.

use std::collections::BTreeMap;
use std::time::Duration;

use roe_registry::{ChangeKind, Port, Query, RegistryAddr, Revision, Service, Token, WatchEvent};

use crate::support::*;

/// A watcher's copy of the services it was told of.
#[derive(Default)]
struct Seen {
    services: BTreeMap<String, Service>,
}

impl Seen {
    fn apply(&mut self, event: &WatchEvent) {
        if let WatchEvent::Change(notice) = event {
            let name = notice.service.name().to_owned();
            match notice.kind {
                ChangeKind::Add | ChangeKind::Update => {
                    self.services.insert(name, notice.service.clone());
                }
                ChangeKind::Remove => {
                    self.services.remove(&name);
                }
            }
        }
    }

    fn names(&self) -> Vec<&str> {
        self.services.keys().map(String::as_str).collect()
    }
}

#[test]
fn registrations_come_back_and_the_watch_starts_afresh_after_a_restart() {
    let dir = dir("restart");
    let path = dir.join("registry.state");
    let config = || {
        config()
            .state_file(&path)
            .save_delay(Duration::from_millis(5))
    };
    let server = start(config());
    let addr = server.addr().clone();
    let group = Query::new([("group", "r")]);
    let harness = Harness::start();
    let client = kernel_client(&addr);
    harness.run(move |cx| {
        let me = cx.session();
        let plain = Service::with_attrs("plain", [("group", "r")])?;
        let kept = Service::with_attrs("kept", [("group", "r"), ("persist", "1")])?;
        let plain = client.register(plain).notify(me, STATUS).spawn(cx)?;
        let kept = client
            .register(kept)
            .token(Token::new("k3y")?)
            .notify(me, STATUS)
            .spawn(cx)?;
        cx.heap.registrations.insert("plain".into(), plain);
        cx.heap.registrations.insert("kept".into(), kept);
        let subscription = client.watch(cx, Query::new([("group", "r")]), me, WATCHED)?;
        cx.heap.subscriptions.push(subscription);
        Ok(())
    });
    find_until(&addr, &group, |found| found.len() == 2);
    let mut copy = Seen::default();
    harness.watched("both services", |event| {
        copy.apply(&event);
        (copy.services.len() == 2).then_some(())
    });
    // The persistent service is in the state file before the registry goes.
    let saved = roe_registry::StateFile::new(&path);
    let started = std::time::Instant::now();
    while saved.load().unwrap().map_or(0, |s| s.services.len()) < 1 {
        assert!(
            started.elapsed() < PATIENCE,
            "the state file was not written"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server.stop().unwrap();
    harness.watched("the watch's connection lost", |event| {
        matches!(event, WatchEvent::Disconnected(_)).then_some(())
    });

    // The same ports, the same state file.
    let server = start(config().addr(addr.clone()));
    assert_eq!(server.addr(), &addr);
    // The persistent service was restored, without an owner: the
    // registration holding its token removes it and registers it again.
    let refused = harness.registration("refused", "kept");
    assert_eq!(refused[2..], ["duplicate service name", "1"]);
    harness.registration("registered", "kept");
    let found = find_until(&addr, &group, |found| found.len() == 2);
    assert_eq!(names(&found).len(), 2);

    // The watch could not resume (the restarted registry's revisions start
    // above the old ones), so it started afresh; it then hears what
    // follows as it happens.
    let _late = blocking(&addr)
        .register(&Service::with_attrs("late", [("group", "r")]).unwrap())
        .unwrap();
    harness.watched("the late service", |event| {
        copy.apply(&event);
        copy.services.contains_key("late").then_some(())
    });
    assert_eq!(copy.names(), ["kept", "late", "plain"]);

    // The registrations are the new connections': closing them removes
    // the plain one (the kept one persists, as it should).
    harness.run(|cx| {
        let registrations: Vec<_> = cx.heap.registrations.drain().collect();
        for (_, registration) in registrations {
            registration.close(cx)?;
        }
        Ok(())
    });
    let found = find_until(&addr, &group, |found| found.len() == 2);
    let mut left = names(&found);
    left.sort_unstable();
    assert_eq!(left, ["kept", "late"]);
    blocking(&addr)
        .remove("kept", Some(&Token::new("k3y").unwrap()))
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_watch_resumes_from_its_last_revision_after_a_lost_connection() {
    let server = start(config());
    let real = server.addr().clone();
    let proxy = Proxy::start(real.connect_to(Port::Event));
    let [new, find, _] = real.ports();
    let addr = RegistryAddr::new("127.0.0.1", [new, find, proxy.port()]);
    let group = Query::new([("group", "p")]);
    let client = blocking(&real);
    let _first = client
        .register(&Service::with_attrs("first", [("group", "p")]).unwrap())
        .unwrap();
    let harness = Harness::start();
    let kernel = kernel_client(&addr);
    harness.run(move |cx| {
        let me = cx.session();
        let subscription = kernel.watch(cx, Query::new([("group", "p")]), me, WATCHED)?;
        cx.heap.subscriptions.push(subscription);
        Ok(())
    });
    let synced = harness.watched("the listing", |event| match event {
        WatchEvent::Synced(revision) => Some(revision),
        _ => None,
    });

    // The connection is cut, and no new one gets through for a while.
    proxy.set_down(true);
    proxy.cut();
    harness.watched("the lost connection", |event| {
        matches!(event, WatchEvent::Disconnected(_)).then_some(())
    });
    let _second = client
        .register(&Service::with_attrs("second", [("group", "p")]).unwrap())
        .unwrap();
    find_until(&real, &group, |found| found.len() == 2);
    proxy.set_down(false);

    // Back: the one change missed, and nothing told twice.
    let mut after = Vec::new();
    harness.watched("the change missed", |event| {
        if matches!(event, WatchEvent::Disconnected(_)) {
            // Connections the proxy dropped while it was down.
            return None;
        }
        let done = matches!(event, WatchEvent::Synced(_));
        after.push(event);
        done.then_some(())
    });
    assert_eq!(after[0], WatchEvent::Connected, "{after:?}");
    let changes: Vec<String> = after
        .iter()
        .filter_map(|event| match event {
            WatchEvent::Change(notice) => {
                assert!(notice.revision > synced, "{notice} after {synced:?}");
                Some(format!("{} {}", notice.kind, notice.service))
            }
            _ => None,
        })
        .collect();
    assert_eq!(changes, ["add second group p"]);
    let sent = proxy.sent();
    let resumed = sent.last().unwrap();
    assert_eq!(
        resumed.trim_end(),
        format!("watch group p since {}", synced.get()),
        "{sent:?}"
    );
    assert!(synced >= Revision::new(1));
}

#[test]
fn a_watch_tells_what_a_restart_without_a_state_file_lost() {
    let server = start(config());
    let addr = server.addr().clone();
    let client = blocking(&addr);
    let held: Vec<_> = ["a", "b"]
        .iter()
        .map(|name| {
            client
                .register(&Service::with_attrs(*name, [("group", "n")]).unwrap())
                .unwrap()
        })
        .collect();
    let harness = Harness::start();
    let kernel = kernel_client(&addr);
    harness.run(move |cx| {
        let me = cx.session();
        let subscription = kernel.watch(cx, Query::new([("group", "n")]), me, WATCHED)?;
        cx.heap.subscriptions.push(subscription);
        Ok(())
    });
    let mut seen = Seen::default();
    harness.watched("the listing", |event| {
        seen.apply(&event);
        matches!(event, WatchEvent::Synced(_)).then_some(())
    });
    assert_eq!(seen.names(), ["a", "b"]);
    server.stop().unwrap();
    drop(held);

    // A new registry on the same ports, its revisions from 0 again, and
    // more changes than the watcher had seen.
    let server = start(config().addr(addr.clone()));
    let client = blocking(server.addr());
    let mut c = client
        .register(&Service::with_attrs("c", [("group", "n")]).unwrap())
        .unwrap();
    for n in 0..5 {
        c.update([("n", n.to_string())]).unwrap();
    }
    let _d = client
        .register(&Service::with_attrs("d", [("group", "n")]).unwrap())
        .unwrap();
    harness.watched("the new registry's services", |event| {
        seen.apply(&event);
        (seen.names() == ["c", "d"] && seen.services["c"].get("n") == Some("4")).then_some(())
    });
}
