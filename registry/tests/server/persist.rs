//! The state file: persistent services across a restart, revisions never
//! given out twice, and a corrupt file refused.

use std::path::PathBuf;
use std::time::Duration;

use roe_registry::{Port, RegistryServer, ServerError, StateFile};

use crate::common::*;

/// A fresh directory for one test's state file.
fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("roe-registry-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn persistent_services_survive_a_restart_and_revisions_are_not_reused() {
    let dir = dir("restart");
    let path = dir.join("registry.state");
    let config = || {
        config()
            .state_file(&path)
            .save_delay(Duration::from_millis(5))
    };
    let server = start(config());
    let addr = server.addr().clone();
    let mut keyed = Lines::connect(&addr, Port::New);
    keyed.send("token k3y\nkeyed persist 1 note 'it''s kept'\n");
    let plain = register(&addr, "plain persist 1");
    let gone = register(&addr, "gone a 1");
    find_until(&addr, "", |a| a.lines().count() == 3);
    let mut watcher = watch(&addr, "watch");
    let before = until_sync(&mut watcher).pop().unwrap();
    assert_eq!(before, "00000003 sync");
    close_and_drain(keyed.stream);
    close_and_drain(plain.stream);
    // The file is written soon after a change to a persistent service.
    let saved = StateFile::new(&path);
    let started = std::time::Instant::now();
    while saved.load().unwrap().map_or(0, |s| s.services.len()) < 2 {
        assert!(
            started.elapsed() < PATIENCE,
            "the state file was not written"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(gone);
    server.stop().unwrap();

    let server = start(config());
    let addr = server.addr().clone();
    assert_eq!(
        find(&addr, ""),
        "keyed persist 1 note 'it''s kept'\nplain persist 1\n"
    );
    // The restarted registry's revisions start above any the first one
    // could have given out: an old revision is too old, not a new one.
    let mut old = watch(&addr, "watch since 3");
    assert_eq!(old.line(), "error revision too old");
    let mut fresh = watch(&addr, "watch");
    let lines = until_sync(&mut fresh);
    assert_eq!(
        unrevised(&lines),
        [
            "add keyed persist 1 note 'it''s kept'",
            "add plain persist 1",
            "sync"
        ]
    );
    let revision: u64 = lines[2].split(' ').next().unwrap().parse().unwrap();
    assert!(revision > 1 << 20, "{revision}");
    // The token still works, and the removal is written.
    let mut remove = Lines::connect(&addr, Port::New);
    remove.send("token k3y\nremove keyed\n");
    assert_eq!(remove.line(), "ok");
    drop(remove);
    server.stop().unwrap();
    let saved = StateFile::new(&path).load().unwrap().unwrap();
    let names: Vec<&str> = saved.services.iter().map(|(s, _)| s.name()).collect();
    assert_eq!(names, ["plain"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn switching_persist_off_takes_the_service_out_of_the_file() {
    let dir = dir("switch");
    let path = dir.join("state");
    let server = start(config().state_file(&path).save_delay(Duration::ZERO));
    let addr = server.addr().clone();
    let mut svc = register(&addr, "svc persist 1");
    find_until(&addr, "", |a| !a.is_empty());
    svc.send("persist 0\n");
    find_until(&addr, "persist 0", |a| !a.is_empty());
    close_and_drain(svc.stream);
    find_until(&addr, "", str::is_empty);
    server.stop().unwrap();
    let saved = StateFile::new(&path).load().unwrap().unwrap();
    assert!(saved.services.is_empty(), "{saved:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_state_file_is_an_error_naming_the_file_and_line() {
    let dir = dir("corrupt");
    let path = dir.join("state");
    std::fs::write(
        &path,
        "roe-registry-state 1\nrevision 7\nservice '' ok a 1\nservice '' bad/name\nend 2\n",
    )
    .unwrap();
    let error = RegistryServer::new(config().state_file(&path))
        .start()
        .unwrap_err();
    assert!(matches!(error, ServerError::State(_)), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("line 4"),
        "{text}"
    );
    // Left as it was.
    assert!(std::fs::read_to_string(&path).unwrap().contains("bad/name"));
    // A directory that does not exist is an error too, at start.
    let missing = dir.join("no/such/dir/state");
    let error = RegistryServer::new(config().state_file(&missing))
        .start()
        .unwrap_err();
    assert!(matches!(error, ServerError::State(_)), "{error:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
