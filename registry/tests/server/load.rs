//! Many clients at once: 1,000 registrations held open while 100 watchers
//! (half counting, half detailed) follow them.

use std::collections::HashSet;
use std::time::Instant;

use roe_registry::Port;

use crate::common::*;

const SERVICES: usize = 1000;
const WATCHERS: usize = 100;

#[test]
fn a_thousand_registrations_and_a_hundred_watchers() {
    let limit = raise_descriptor_limit(4 * (SERVICES + WATCHERS) as u64 + 256);
    assert!(
        limit >= 2 * (SERVICES + WATCHERS) as u64 + 64,
        "this test needs {} descriptors; the limit is {limit}",
        2 * (SERVICES + WATCHERS) + 64
    );
    let started = Instant::now();
    let server = start(config());
    let addr = server.addr().clone();
    let mut watchers = Vec::new();
    for i in 0..WATCHERS {
        let addr = addr.clone();
        let detailed = i % 2 == 0;
        let mut client = if detailed {
            let mut client = watch(&addr, "watch kind load");
            assert_eq!(until_sync(&mut client).last().unwrap(), "00000000 sync");
            client
        } else {
            let mut client = Lines::connect(&addr, Port::Event);
            assert_eq!(client.line(), "READY");
            client
        };
        watchers.push(std::thread::spawn(move || {
            // Every registration, then every removal.
            let total = 2 * SERVICES as u64;
            let mut added = HashSet::new();
            let mut removed = HashSet::new();
            loop {
                let line = client.line();
                let (revision, rest) = line.split_once(' ').unwrap_or((&line, ""));
                let revision: u64 = revision.parse().expect("a revision");
                if detailed {
                    let (kind, service) = rest.split_once(' ').unwrap();
                    let name = service.split(' ').next().unwrap().to_owned();
                    match kind {
                        "add" => assert!(added.insert(name)),
                        "remove" => assert!(removed.insert(name)),
                        other => panic!("{other} in {line:?}"),
                    }
                    if removed.len() == SERVICES {
                        assert_eq!(added.len(), SERVICES);
                        assert_eq!(revision, total);
                        return;
                    }
                } else if revision == total {
                    return;
                }
            }
        }));
    }
    let mut services = Vec::new();
    for i in 0..SERVICES {
        services.push(register(&addr, &format!("svc{i} kind load n {i}")));
    }
    let all = find_until(&addr, "kind load", |a| a.lines().count() == SERVICES);
    let mut names = HashSet::new();
    for line in all.lines() {
        let name = line.split(' ').next().unwrap();
        assert_eq!(line, format!("{name} kind load n {}", &name[3..]));
        assert!(names.insert(name), "{name} twice");
    }
    drop(services);
    for watcher in watchers {
        watcher.join().expect("every watcher saw every change");
    }
    find_until(&addr, "", str::is_empty);
    assert!(started.elapsed() < 4 * PATIENCE, "{:?}", started.elapsed());
}
