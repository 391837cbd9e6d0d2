//! The blocking client against a real registry: register, update, find,
//! watch (detailed, resumed, counter), close, remove with a token.

use std::time::Duration;

use roe_registry::{
    ChangeKind, ClientError, Query, Revision, Service, StoreConfig, Token, WatchEvent,
};

use crate::support::*;

fn service(name: &str, attrs: &[(&str, &str)]) -> Service {
    Service::with_attrs(name, attrs.iter().copied()).unwrap()
}

/// The next change a stream tells, skipping syncs.
fn next_change(events: &mut roe_registry::EventStream) -> String {
    loop {
        match events.next() {
            Some(Ok(WatchEvent::Change(notice))) => {
                return format!("{} {}", notice.kind, notice.service);
            }
            Some(Ok(_)) => {}
            other => panic!("expected a change, got {other:?}"),
        }
    }
}

#[test]
fn register_find_update_watch_and_close() {
    let server = start(config());
    let client = blocking(server.addr());
    let all = Query::new([("auth", "none")]);
    let mut watch = client.watch(&all, None).unwrap();
    assert!(matches!(watch.next(), Some(Ok(WatchEvent::Synced(_)))));

    let mut printer = client
        .register(&service(
            "lp!office",
            &[("auth", "none"), ("note", "it's here")],
        ))
        .unwrap();
    // Confirmed: the find shows it at once.
    assert_eq!(client.find(&all).unwrap(), [printer.service().clone()]);
    printer.update([("note", "a b\nc")]).unwrap();
    assert_eq!(printer.service().get("note"), Some("a b\nc"));
    let found = find_until(server.addr(), &all, |found| {
        found[0].get("note") == Some("a b\nc")
    });
    assert_eq!(found[0].to_string(), "lp!office auth none note 'a b\nc'");
    assert_eq!(
        next_change(&mut watch),
        "add lp!office auth none note 'it''s here'"
    );
    assert_eq!(
        next_change(&mut watch),
        "update lp!office auth none note 'a b\nc'"
    );

    // Resumed from the last revision heard: only what came after.
    let since = watch.last_revision().unwrap();
    drop(watch);
    let _other = client
        .register(&service("other", &[("auth", "none")]))
        .unwrap();
    let mut resumed = client.watch(&all, Some(since)).unwrap();
    assert_eq!(next_change(&mut resumed), "add other auth none");

    printer.check().unwrap();
    printer.close().unwrap();
    // Closed and waited for: gone at once.
    assert!(
        client
            .find(&Query::new([("note", "*")]))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        next_change(&mut resumed),
        "remove lp!office auth none note 'a b\nc'"
    );
}

#[test]
fn a_duplicate_is_refused_and_a_dropped_registration_goes() {
    let server = start(config());
    let client = blocking(server.addr());
    let first = client.register(&service("svc", &[("a", "1")])).unwrap();
    let error = client.register(&service("svc", &[("a", "2")])).unwrap_err();
    assert_eq!(error.refusal(), Some("duplicate service name"), "{error}");
    drop(first);
    find_until(server.addr(), &Query::all(), <[Service]>::is_empty);
    let too_big = service(
        "big",
        &[("pad", &"x".repeat(roe_registry::MAX_SERVICE_LEN))],
    );
    assert!(matches!(
        client.register(&too_big),
        Err(ClientError::Invalid(_))
    ));
}

#[test]
fn a_persistent_service_is_removed_with_its_token() {
    let server = start(config());
    let client = blocking(server.addr());
    let token = Token::new("k3y").unwrap();
    let kept = client
        .register_with_token(&service("kept", &[("persist", "1")]), &token)
        .unwrap();
    kept.close().unwrap();
    assert_eq!(names(&client.find(&Query::all()).unwrap()), ["kept"]);
    let wrong = Token::new("guess").unwrap();
    let error = client.remove("kept", Some(&wrong)).unwrap_err();
    assert_eq!(error.refusal(), Some("permission denied"), "{error}");
    let error = client.remove("kept", None).unwrap_err();
    assert_eq!(error.refusal(), Some("permission denied"), "{error}");
    client.remove("kept", Some(&token)).unwrap();
    assert!(client.find(&Query::all()).unwrap().is_empty());
    let error = client.remove("kept", Some(&token)).unwrap_err();
    assert_eq!(error.refusal(), Some("no such service"), "{error}");
    assert!(matches!(
        client.remove("bad name", None),
        Err(ClientError::Invalid(_))
    ));
}

#[test]
fn a_counter_watch_and_a_quiet_stream() {
    let server = start(config());
    let client = blocking(server.addr());
    let mut counter = client.counter().unwrap();
    let error = counter.recv_timeout(Duration::from_millis(20)).unwrap_err();
    assert!(error.is_timeout(), "{error}");
    // A timeout does not end the stream.
    let _svc = client.register(&service("svc", &[])).unwrap();
    match counter.next() {
        Some(Ok(WatchEvent::Changed(revision))) => assert!(revision >= Revision::new(1)),
        other => panic!("expected a counter, got {other:?}"),
    }
}

#[test]
fn a_watch_from_a_revision_no_longer_held_is_refused() {
    let server = start(config().store(StoreConfig::default().log_changes(2)));
    let client = blocking(server.addr());
    let mut held = client.register(&service("svc", &[("n", "0")])).unwrap();
    for n in 1..6 {
        held.update([("n", n.to_string())]).unwrap();
    }
    find_until(server.addr(), &Query::new([("n", "5")]), |found| {
        found.len() == 1
    });
    let error = client
        .watch(&Query::all(), Some(Revision::new(1)))
        .unwrap_err();
    assert_eq!(error.refusal(), Some("revision too old"), "{error}");
    let error = client
        .watch(&Query::all(), Some(Revision::new(1000)))
        .unwrap_err();
    assert_eq!(error.refusal(), Some("revision not reached"), "{error}");
    // Without `since`: the listing.
    let mut fresh = client.watch(&Query::all(), None).unwrap();
    let Some(Ok(WatchEvent::Change(notice))) = fresh.next() else {
        panic!("a listing")
    };
    assert_eq!(
        (notice.kind, notice.service.get("n")),
        (ChangeKind::Add, Some("5"))
    );
}
