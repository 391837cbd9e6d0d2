//! The kernel-side client against a real registry: registrations found,
//! updated and closed; refusals told, retried or final; finds; watches in
//! both modes.

use std::time::Duration;

use roe_registry::{ChangeKind, ClientError, Query, Revision, Service, WatchEvent};

use crate::support::*;

fn group(name: &str) -> Query {
    Query::new([("group", name)])
}

#[test]
fn a_registration_is_found_updated_and_gone_once_closed() {
    let server = start(config());
    let addr = server.addr().clone();
    let harness = Harness::start();
    let client = kernel_client(&addr);
    let service = Service::with_attrs("tcp!h!1", [("group", "k"), ("note", "it's up")]).unwrap();
    let registering = service.clone();
    harness.run(move |cx| {
        let me = cx.session();
        let registration = client.register(registering).notify(me, STATUS).spawn(cx)?;
        cx.heap
            .registrations
            .insert(registration.name().to_owned(), registration);
        Ok(())
    });
    let told = harness.registration("registered", "tcp!h!1");
    assert_eq!(told[2], "1", "the first connection");
    assert_eq!(
        find_until(&addr, &group("k"), |found| !found.is_empty()),
        std::slice::from_ref(&service)
    );

    // A find on the kernel, answered as services.
    let client = kernel_client(&addr);
    harness.run(move |cx| {
        let me = cx.session();
        client.find(cx, group("k"), me, FOUND).map(drop)
    });
    let found = harness.found();
    assert_eq!(found.query, group("k"));
    assert_eq!(found.services.unwrap(), [service]);

    // An update goes out on the same connection.
    harness.run(|cx| {
        let registration = cx.heap.registrations["tcp!h!1"].clone();
        registration.update(cx, [("load", "3"), ("note", "busy")])
    });
    let updated = find_until(&addr, &group("k"), |found| {
        found.first().and_then(|s| s.get("load")) == Some("3")
    });
    assert_eq!(updated[0].to_string(), "tcp!h!1 group k note busy load 3");

    // Closed: the service goes.
    harness.run(|cx| {
        let registration = cx.heap.registrations.remove("tcp!h!1").unwrap();
        registration.close(cx)
    });
    harness.registration("closed", "tcp!h!1");
    find_until(&addr, &group("k"), <[Service]>::is_empty);
}

#[test]
fn a_taken_name_is_tried_again_until_free_and_a_bad_service_is_given_up() {
    let server = start(config());
    let addr = server.addr().clone();
    let holder = blocking(&addr)
        .register(&Service::with_attrs("taken", [("group", "t"), ("who", "first")]).unwrap())
        .unwrap();
    let harness = Harness::start();
    let client = kernel_client(&addr);
    harness.run(move |cx| {
        let me = cx.session();
        let service = Service::with_attrs("taken", [("group", "t"), ("who", "second")])?;
        let registration = client.register(service).notify(me, STATUS).spawn(cx)?;
        cx.heap.registrations.insert("taken".into(), registration);
        Ok(())
    });
    let refused = harness.registration("refused", "taken");
    assert_eq!(refused[2..], ["duplicate service name", "1"]);
    // The first holder goes: the second gets the name by itself.
    drop(holder);
    let found = find_until(&addr, &group("t"), |found| {
        found.first().and_then(|s| s.get("who")) == Some("second")
    });
    assert_eq!(found.len(), 1);

    // An update that would make the service too large is not sent.
    let big = "x".repeat(roe_registry::MAX_SERVICE_LEN);
    harness.run(move |cx| {
        let registration = cx.heap.registrations["taken"].clone();
        registration.update(cx, [("big", big)])
    });
    let invalid = harness.registration("invalid", "taken");
    assert!(invalid[2].contains("service too large"), "{invalid:?}");
    assert_eq!(blocking(&addr).find(&group("t")).unwrap(), found);

    // A service the registry can never take: refused for good, and ended.
    let client = kernel_client(&addr);
    harness.run(move |cx| {
        let me = cx.session();
        let service = Service::with_attrs("huge", [("pad", "y".repeat(16_330))])?;
        client
            .register(service)
            .notify(me, STATUS)
            .spawn(cx)
            .map(drop)
    });
    let refused = harness.registration("refused", "huge");
    assert_eq!(refused[2..], ["service too large", "0"]);
    harness.registration("closed", "huge");
}

#[test]
fn a_registry_that_is_not_there_yet_is_waited_for() {
    // Ports bound, then let go: nothing listens there yet.
    let ports = [0; 3].map(|_| {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    });
    let addr = roe_registry::RegistryAddr::new("127.0.0.1", ports);
    let harness = Harness::start();
    let client = kernel_client(&addr);
    harness.run(move |cx| {
        let me = cx.session();
        let service = Service::with_attrs("early", [("group", "e")])?;
        client
            .register(service)
            .notify(me, STATUS)
            .spawn(cx)
            .map(drop)
    });
    let lost = harness.registration("lost", "early");
    assert!(lost[2].contains("cannot reach"), "{lost:?}");
    let _server = start(config().addr(addr.clone()));
    harness.registration("registered", "early");
    find_until(&addr, &group("e"), |found| found.len() == 1);
}

#[test]
fn a_detailed_watch_tells_the_listing_then_each_change() {
    let server = start(config());
    let addr = server.addr().clone();
    let client = blocking(&addr);
    let first = client
        .register(&Service::with_attrs("first", [("group", "w")]).unwrap())
        .unwrap();
    let _other = client
        .register(&Service::with_attrs("other", [("group", "x")]).unwrap())
        .unwrap();
    let harness = Harness::start();
    let kernel = kernel_client(&addr);
    harness.run(move |cx| {
        let me = cx.session();
        let subscription = kernel.watch(cx, group("w"), me, WATCHED)?;
        cx.heap.subscriptions.push(subscription);
        Ok(())
    });
    let mut told = Vec::new();
    harness.watched("the listing", |event| {
        let synced = matches!(event, WatchEvent::Synced(_));
        told.push(event);
        synced.then_some(())
    });
    assert_eq!(told[0], WatchEvent::Connected);
    let WatchEvent::Change(added) = &told[1] else {
        panic!("{told:?}")
    };
    assert_eq!(
        (added.kind, added.service.name()),
        (ChangeKind::Add, "first")
    );
    assert_eq!(told.len(), 3, "{told:?}");

    let mut second = client
        .register(&Service::with_attrs("second", [("group", "w")]).unwrap())
        .unwrap();
    second.update([("load", "1")]).unwrap();
    drop(first);
    let mut changes = Vec::new();
    while changes.len() < 3 {
        let notice = harness.watched("a change", |event| match event {
            WatchEvent::Change(notice) => Some(notice),
            _ => None,
        });
        changes.push(format!("{} {}", notice.kind, notice.service));
    }
    assert_eq!(
        changes,
        [
            "add second group w",
            "update second group w load 1",
            "remove first group w"
        ]
    );

    // Stopped: nothing more is told.
    harness.run(|cx| {
        let subscription = cx.heap.subscriptions.pop().unwrap();
        subscription.stop(cx)
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(second);
    assert_eq!(harness.watched_within(Duration::from_millis(200)), None);
}

#[test]
fn a_counter_watch_tells_revisions() {
    let server = start(config());
    let addr = server.addr().clone();
    let harness = Harness::start();
    let kernel = kernel_client(&addr);
    harness.run(move |cx| {
        let me = cx.session();
        kernel.counter(cx, me, WATCHED).map(drop)
    });
    assert_eq!(harness.watched("READY", Some), WatchEvent::Connected);
    let _one = blocking(&addr)
        .register(&Service::new("one").unwrap())
        .unwrap();
    let revision = harness.watched("a counter", |event| match event {
        WatchEvent::Changed(revision) => Some(revision),
        _ => None,
    });
    assert!(revision >= Revision::new(1), "{revision:?}");
}

#[test]
fn a_find_of_a_bad_registry_is_an_error_in_its_answer() {
    use std::io::Write;
    let garbage = Fake::start(|mut stream| {
        drain_line(&mut stream);
        let _ = stream.write_all(b"fine a 1\n\xff\xfe not text\n");
    });
    let silent = Fake::start(|mut stream| drain(&mut stream, Duration::from_secs(5)));
    let harness = Harness::start();
    let (bad, quiet) = (
        kernel_client(&garbage.addr()),
        kernel_client(&silent.addr()),
    );
    let quiet = quiet.timeout(Duration::from_millis(100));
    harness.run(move |cx| {
        let me = cx.session();
        bad.find(cx, Query::all(), me, FOUND)?;
        Ok(())
    });
    let found = harness.found();
    assert!(
        matches!(found.services, Err(ClientError::BadAnswer { .. })),
        "{:?}",
        found.services
    );
    harness.run(move |cx| {
        let me = cx.session();
        quiet.find(cx, Query::all(), me, FOUND).map(drop)
    });
    let found = harness.found();
    assert!(
        matches!(found.services, Err(ClientError::Timeout { .. })),
        "{:?}",
        found.services
    );
}

#[test]
fn a_registration_that_hears_garbage_connects_again() {
    use std::io::Write;
    let fake = Fake::start(|mut stream| {
        drain_line(&mut stream);
        let _ = stream.write_all(b"what is this\n");
        drain(&mut stream, Duration::from_secs(2));
    });
    let harness = Harness::start();
    let client = kernel_client(&fake.addr());
    harness.run(move |cx| {
        let me = cx.session();
        let registration = client
            .register(Service::new("svc").unwrap())
            .notify(me, STATUS)
            .spawn(cx)?;
        cx.heap.registrations.insert("svc".into(), registration);
        Ok(())
    });
    let lost = harness.registration("lost", "svc");
    assert!(lost[2].contains("does not carry"), "{lost:?}");
    let again = harness.registration("registered", "svc");
    assert!(again[2].parse::<u32>().unwrap() >= 2, "{again:?}");
    harness.run(|cx| {
        let registration = cx.heap.registrations.remove("svc").unwrap();
        registration.close(cx)
    });
    harness.registration("closed", "svc");
}

/// Reads up to and including the first newline.
fn drain_line(stream: &mut std::net::TcpStream) {
    use std::io::Read;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut byte = [0];
    while matches!(stream.read(&mut byte), Ok(1)) && byte[0] != b'\n' {}
}

/// A fake event port that writes `READY`, reads the watch line, and
/// answers with `answer`; counts its connections.
fn event_port(
    answer: &'static [u8],
    then_wait: Duration,
) -> (Fake, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&connections);
    let fake = Fake::start(move |mut stream| {
        counted.fetch_add(1, Ordering::SeqCst);
        let _ = stream.write_all(b"READY\n");
        drain_line(&mut stream);
        let _ = stream.write_all(answer);
        drain(&mut stream, then_wait);
    });
    (fake, connections)
}

#[test]
fn a_registry_that_cannot_ever_resume_a_watch_is_not_stormed() {
    use std::sync::atomic::Ordering;
    // Each connection: the listing's sync, then `revision too old` for the
    // resume that never came. The subscription starts afresh each time,
    // through the backoff (at once only the first time).
    let (fake, connections) =
        event_port(b"00000005 sync\nerror revision too old\n", Duration::ZERO);
    let harness = Harness::start();
    let backoff = roe_engine::Backoff::new(Duration::from_millis(20), Duration::from_millis(200));
    let client = kernel_client(&fake.addr()).backoff(backoff);
    harness.run(move |cx| {
        let me = cx.session();
        let subscription = client.watch(cx, Query::all(), me, WATCHED)?;
        cx.heap.subscriptions.push(subscription);
        Ok(())
    });
    harness.watched("a sync", |event| {
        matches!(event, WatchEvent::Synced(_)).then_some(())
    });
    let started = connections.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(2));
    let made = connections.load(Ordering::SeqCst) - started;
    // At the backoff's pace (its waits reach 100 to 200 ms within a few
    // attempts), not at the loop's.
    assert!((2..=40).contains(&made), "{made} connections in 2 s");
    harness.run(|cx| {
        let subscription = cx.heap.subscriptions.pop().unwrap();
        subscription.stop(cx)
    });
}

#[test]
fn a_listing_that_never_ends_is_timed_out() {
    use std::sync::atomic::Ordering;
    // READY, then one line of the listing, and silence: no sync.
    let (fake, connections) = event_port(b"00000005 add svc a 1\n", Duration::from_secs(5));
    let harness = Harness::start();
    let client = kernel_client(&fake.addr()).timeout(Duration::from_millis(200));
    harness.run(move |cx| {
        let me = cx.session();
        let subscription = client.watch(cx, Query::all(), me, WATCHED)?;
        cx.heap.subscriptions.push(subscription);
        Ok(())
    });
    let why = harness.watched("the listing's timeout", |event| match event {
        WatchEvent::Disconnected(why) => Some(why),
        WatchEvent::Change(_) | WatchEvent::Synced(_) => panic!("{event:?}"),
        _ => None,
    });
    assert!(why.contains("did not answer"), "{why}");
    // It connects again.
    harness.watched("a new connection", |event| {
        (event == WatchEvent::Connected).then_some(())
    });
    assert!(connections.load(Ordering::SeqCst) >= 2);
    harness.run(|cx| {
        let subscription = cx.heap.subscriptions.pop().unwrap();
        subscription.stop(cx)
    });
}
