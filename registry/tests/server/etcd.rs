//! Several registry servers sharing one etcd (the etcd backend): a
//! registration on one is found, watched and refused as a duplicate on the
//! others, and lives exactly as long as its connection; persistent services
//! stay and any server removes them with their token; a server that stops
//! takes only its own connections' registrations with it.
//!
//! Each test starts an etcd of its own on loopback (skipped, with a
//! message, when etcd is not installed; CI installs it and sets
//! `ROE_REQUIRE_ETCD=1`).

use std::time::Duration;

use roe_registry::{EtcdConfig, RegistryServer, ServerError};

use crate::common::{Lines, PATIENCE, config, find, find_until, register, start, watch};
use crate::etcd_process::Etcd;

/// The backend, with leases longer than the tests' patience: what goes
/// within it went because a server let it go, not because its lease ran
/// out.
fn backend(etcd: &Etcd) -> EtcdConfig {
    etcd.url()
        .parse::<EtcdConfig>()
        .unwrap()
        .lease(PATIENCE * 2)
}

/// Asserts that `query` on `addr` answers `want` for `time`, looking
/// every 50 ms.
fn holds_for(addr: &roe_registry::RegistryAddr, query: &str, want: &str, time: Duration) {
    let started = std::time::Instant::now();
    while started.elapsed() < time {
        assert_eq!(find(addr, query), want);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads lines until one is `want` (a refusal comes when etcd answers).
fn expect_line(client: &mut Lines, want: &str) {
    client.stream.set_read_timeout(Some(PATIENCE)).unwrap();
    assert_eq!(client.next_line().as_deref(), Some(want));
    client.expect_end();
}

#[test]
fn servers_sharing_etcd_see_each_others_registrations_for_as_long_as_they_live() {
    let Some(etcd) = Etcd::start() else { return };
    let a = start(config().etcd(backend(&etcd)));
    let b = start(config().etcd(backend(&etcd)));
    let mut watcher = watch(b.addr(), "watch proto ikc");
    assert!(watcher.line().ends_with(" sync"));

    let mut held = register(a.addr(), "tcp!h!1 proto ikc kernel k1");
    let shown = find_until(b.addr(), "proto ikc", |answer| !answer.is_empty());
    assert_eq!(shown, "tcp!h!1 proto ikc kernel k1\n");
    let added = watcher.line();
    assert!(
        added.ends_with(" add tcp!h!1 proto ikc kernel k1"),
        "{added}"
    );

    // An update on A reaches B's finds and watchers.
    held.send("kernel k2\n");
    find_until(b.addr(), "kernel k2", |answer| {
        answer == "tcp!h!1 proto ikc kernel k2\n"
    });
    let updated = watcher.line();
    assert!(updated.contains(" update tcp!h!1 "), "{updated}");

    // B refuses the name A holds.
    let mut twin = register(b.addr(), "tcp!h!1 proto other");
    expect_line(&mut twin, "error duplicate service name");

    // The connection on A closes: the service goes from B too.
    drop(held);
    find_until(b.addr(), "proto ikc", str::is_empty);
    let removed = watcher.line();
    assert!(removed.contains(" remove tcp!h!1"), "{removed}");
    assert_eq!(find(a.addr(), "proto ikc"), "");
}

#[test]
fn of_two_servers_registering_one_name_at_once_exactly_one_is_refused() {
    let Some(etcd) = Etcd::start() else { return };
    let a = start(config().etcd(backend(&etcd)));
    let b = start(config().etcd(backend(&etcd)));
    for round in 0..20 {
        let name = format!("race{round}");
        // Both lines are sent before either server can have seen the
        // other's: the one etcd takes second is refused by etcd itself.
        let mut first = register(a.addr(), &format!("{name} on a"));
        let mut second = register(b.addr(), &format!("{name} on b"));
        let query = "on *";
        let answer = find_until(a.addr(), query, |answer| answer.contains(&name));
        let winner = if answer.contains(&format!("{name} on a")) {
            &mut second
        } else {
            &mut first
        };
        expect_line(winner, "error duplicate service name");
        find_until(b.addr(), query, |answer| {
            answer
                .lines()
                .filter(|line| line.starts_with(&format!("{name} ")))
                .count()
                == 1
        });
        drop((first, second));
        find_until(a.addr(), query, |answer| !answer.contains(&name));
    }
}

#[test]
fn persistent_services_stay_in_etcd_and_any_server_removes_them_with_their_token() {
    let Some(etcd) = Etcd::start() else { return };
    let a = start(config().etcd(backend(&etcd)));
    let b = start(config().etcd(backend(&etcd)));
    let mut keeper = Lines::connect(a.addr(), roe_registry::Port::New);
    keeper.send("token s3cret\nprinter persist 1 where 'room 2'\n");
    find_until(b.addr(), "persist 1", |answer| !answer.is_empty());
    // The connection closes: the service stays, put again without its
    // connection's lease, which is ended at once.
    drop(keeper);
    holds_for(
        b.addr(),
        "persist 1",
        "printer persist 1 where 'room 2'\n",
        Duration::from_secs(2),
    );

    // Without the token B refuses; with it B removes it from both.
    let mut stranger = Lines::connect(b.addr(), roe_registry::Port::New);
    stranger.send("remove printer\n");
    expect_line(&mut stranger, "error permission denied");
    let mut owner = Lines::connect(b.addr(), roe_registry::Port::New);
    owner.send("token s3cret\nremove printer\n");
    assert_eq!(owner.next_line().as_deref(), Some("ok"));
    find_until(a.addr(), "persist 1", str::is_empty);
}

#[test]
fn a_server_that_stops_takes_only_its_own_connections_registrations() {
    let Some(etcd) = Etcd::start() else { return };
    let a = start(config().etcd(backend(&etcd)));
    let b = start(config().etcd(backend(&etcd)));
    let _on_a = register(a.addr(), "via-a group g");
    let _on_b = register(b.addr(), "via-b group g");
    find_until(a.addr(), "group g", |answer| answer.lines().count() == 2);
    find_until(b.addr(), "group g", |answer| answer.lines().count() == 2);
    a.stop().unwrap();
    find_until(b.addr(), "group g", |answer| answer == "via-b group g\n");
    // A server started on the same etcd later finds what is there.
    let c = start(config().etcd(backend(&etcd)));
    assert_eq!(find(c.addr(), "group g"), "via-b group g\n");
}

#[test]
fn an_etcd_that_cannot_be_reached_is_a_clear_error_at_start() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let etcd: EtcdConfig = format!("http://127.0.0.1:{port}").parse().unwrap();
    let error = RegistryServer::new(config().etcd(etcd.timeout(Duration::from_secs(2))))
        .start()
        .unwrap_err();
    assert!(matches!(error, ServerError::Etcd { .. }), "{error:?}");
    let said = error.to_string();
    assert!(said.contains(&format!("127.0.0.1:{port}")), "{said}");
    assert!(said.contains("refused"), "{said}");
}

#[test]
fn a_server_with_etcd_keeps_no_state_file() {
    let Some(etcd) = Etcd::start() else { return };
    let error = RegistryServer::new(config().etcd(backend(&etcd)).state_file("/tmp/never"))
        .start()
        .unwrap_err();
    assert!(error.to_string().contains("keeps no state file"), "{error}");
}

#[test]
fn registrations_outlive_many_lease_periods_while_their_connection_holds() {
    let Some(etcd) = Etcd::start() else { return };
    let short = backend(&etcd).lease(Duration::from_secs(1));
    let a = start(config().etcd(short.clone()));
    let b = start(config().etcd(short));
    let _held = register(a.addr(), "long-lived kind k");
    find_until(b.addr(), "kind k", |answer| !answer.is_empty());
    // Renewed every third of a second: four lease periods later it is
    // still there.
    holds_for(
        b.addr(),
        "kind k",
        "long-lived kind k\n",
        Duration::from_secs(4),
    );
}

#[test]
fn a_value_holding_a_newline_is_kept_whole() {
    let Some(etcd) = Etcd::start() else { return };
    let a = start(config().etcd(backend(&etcd)));
    let b = start(config().etcd(backend(&etcd)));
    let _held = register(a.addr(), "poem lines 'one\ntwo'");
    let shown = find_until(b.addr(), "lines *", |answer| !answer.is_empty());
    assert_eq!(shown, "poem lines 'one\ntwo'\n");
}

#[test]
fn a_refused_registration_never_writes_over_the_holders_service() {
    let Some(etcd) = Etcd::start() else { return };
    let a = start(config().etcd(backend(&etcd)));
    let b = start(config().etcd(backend(&etcd)));
    let _holder = register(a.addr(), "x who a");
    find_until(b.addr(), "who *", |answer| answer == "x who a\n");
    for round in 0..10 {
        // Refused as a duplicate, with updates sent after the line before
        // the refusal could come: none of them may reach the holder's key,
        // and the refused connection's close must not remove it.
        let mut twin = register(b.addr(), &format!("x who b{round}"));
        twin.send("who b\nextra 1\n");
        expect_line(&mut twin, "error duplicate service name");
    }
    holds_for(a.addr(), "who *", "x who a\n", Duration::from_millis(500));
    assert_eq!(find(b.addr(), "who *"), "x who a\n");
}

#[test]
fn the_store_limit_holds_with_a_backend() {
    let Some(etcd) = Etcd::start() else { return };
    let small = roe_registry::StoreConfig::default().max_services(2);
    let a = start(config().etcd(backend(&etcd)).store(small));
    let _one = register(a.addr(), "one n 1");
    let _two = register(a.addr(), "two n 2");
    let mut three = register(a.addr(), "three n 3");
    expect_line(&mut three, "error too many services");
    find_until(a.addr(), "n *", |answer| answer.lines().count() == 2);
}
