use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::owner::OwnerId;
use crate::store::StoreConfig;

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("roe-registry-{}-{test}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn svc(name: &str, attrs: &[(&str, &str)]) -> Service {
    Service::with_attrs(name, attrs.iter().copied()).unwrap()
}

fn sample() -> Saved {
    Saved {
        revision: Revision::new(42),
        services: vec![
            (
                svc("lp!office", &[("auth", "none"), ("persist", "1")]),
                None,
            ),
            (
                svc(
                    "tcp!db!5432",
                    &[("note", "two\nlines, it's"), ("persist", "1")],
                ),
                Some(Token::new("k3y").unwrap()),
            ),
        ],
    }
}

fn corrupt_line(text: &str) -> (usize, String) {
    match Saved::decode(text.as_bytes()) {
        Err(Error::Corrupt {
            path: None,
            line,
            why,
        }) => (line, why),
        other => panic!("{text:?} gave {other:?}"),
    }
}

#[test]
fn the_format_as_written() {
    assert_eq!(
        sample().encode(),
        "roe-registry-state 1\n\
         # the persistent services of a roe registry\n\
         revision 42\n\
         service '' lp!office auth none persist 1\n\
         service k3y tcp!db!5432 note 'two\nlines, it''s' persist 1\n\
         end 2\n"
    );
    assert_eq!(
        Saved::decode(sample().encode().as_bytes()).unwrap(),
        sample()
    );
    let empty = Saved::default();
    assert_eq!(
        empty.encode(),
        "roe-registry-state 1\n# the persistent services of a roe registry\nrevision 0\nend 0\n"
    );
    assert_eq!(Saved::decode(empty.encode().as_bytes()).unwrap(), empty);
}

#[test]
fn comments_and_blank_lines_are_allowed() {
    let text = "roe-registry-state 1\n\n# hand-edited\nrevision 3\n  \nservice '' a\n# x\nend 1\n";
    let saved = Saved::decode(text.as_bytes()).unwrap();
    assert_eq!(saved.revision, Revision::new(3));
    assert_eq!(saved.services, [(svc("a", &[]), None)]);
}

#[test]
fn a_corrupt_file_names_its_line() {
    let head = "roe-registry-state 1\nrevision 1\n";
    assert_eq!(corrupt_line("").0, 1);
    assert_eq!(corrupt_line("hello\n").0, 1);
    assert!(
        corrupt_line("roe-registry-state 2\nrevision 1\nend 0\n")
            .1
            .contains("version")
    );
    assert_eq!(
        corrupt_line("roe-registry-state 1\nservice '' a\nend 1\n").0,
        2
    );
    assert_eq!(
        corrupt_line("roe-registry-state 1\nrevision x\nend 0\n").0,
        2
    );
    assert_eq!(
        corrupt_line("roe-registry-state 1\nrevision 1 2\nend 0\n").0,
        2
    );
    // A revision a store could not count on from is corrupt, not a panic
    // at the first change.
    for revision in [u64::MAX, u64::MAX / 2 + 1] {
        let (line, why) = corrupt_line(&format!(
            "roe-registry-state 1\nrevision {revision}\nend 0\n"
        ));
        assert_eq!(line, 2);
        assert!(why.contains("past the most"), "{why}");
    }
    let half = format!("roe-registry-state 1\nrevision {}\nend 0\n", u64::MAX / 2);
    let saved = Saved::decode(half.as_bytes()).unwrap();
    let mut store = Store::with_config(StoreConfig::default().start(saved.revision));
    store.restore(svc("a", &[]), None).unwrap();
    assert_eq!(store.revision().get(), u64::MAX / 2 + 1);
    // A service line that is no service: the line, and why.
    let (line, why) = corrupt_line(&format!(
        "{head}service '' a\nservice '' 'b c' x y\nend 2\n"
    ));
    assert_eq!(line, 4);
    assert!(why.contains("bad character in service name"), "{why}");
    assert_eq!(corrupt_line(&format!("{head}service '' a x\nend 1\n")).0, 3);
    assert_eq!(corrupt_line(&format!("{head}service\nend 1\n")).0, 3);
    assert_eq!(
        corrupt_line(&format!("{head}service 'a b' svc\nend 1\n")).0,
        3
    );
    // The same name twice.
    assert_eq!(
        corrupt_line(&format!("{head}service '' a\nservice '' a\nend 2\n")).0,
        4
    );
    // Line numbers count the newlines inside quoted values.
    let (line, _) = corrupt_line(&format!(
        "{head}service '' a v 'x\ny\nz'\nservice '' find\nend 2\n"
    ));
    assert_eq!(line, 6);
    // Cut short: no end line, or a wrong count, or no final newline.
    assert_eq!(
        corrupt_line(&format!("{head}service '' a\n")),
        (4, "cut short: no end line".into())
    );
    assert_eq!(corrupt_line(&format!("{head}service '' a\nend 2\n")).0, 4);
    assert_eq!(corrupt_line(&format!("{head}service '' a\nend 1")).0, 4);
    assert_eq!(
        corrupt_line(&format!("{head}service '' a\nservice '' b")).0,
        4
    );
    // Nothing after the end.
    assert_eq!(corrupt_line(&format!("{head}end 0\nservice '' a\n")).0, 4);
    // Not UTF-8, and an unclosed quote running past the longest record.
    let bytes = b"roe-registry-state 1\nrevision 1\nservice '' caf\xe9\nend 1\n";
    assert!(matches!(
        Saved::decode(bytes),
        Err(Error::Corrupt { line: 3, .. })
    ));
    let open = format!(
        "{head}service '' a v 'never closed\n{}",
        "x\n".repeat(MAX_RECORD)
    );
    let (line, why) = corrupt_line(&open);
    assert_eq!(line, 3);
    assert!(why.contains("line too long"), "{why}");
}

#[test]
fn saved_and_loaded() {
    let dir = TempDir::new("saved");
    let file = StateFile::new(dir.0.join("state"));
    assert_eq!(file.load().unwrap(), None);
    file.save_saved(&sample()).unwrap();
    assert_eq!(file.load().unwrap(), Some(sample()));
    assert!(!file.temp_path().exists(), "the temporary file was renamed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "it holds tokens");
    }
}

#[test]
fn a_store_saves_what_persists() {
    let dir = TempDir::new("store");
    let file = StateFile::new(dir.0.join("state"));
    let mut store = Store::new();
    let one = OwnerId::new(1);
    store
        .register(
            one,
            svc("keep", &[("persist", "1")]),
            Some(Token::new("t").unwrap()),
        )
        .unwrap();
    store
        .register(one, svc("drop", &[("persist", "0")]), None)
        .unwrap();
    store
        .register(OwnerId::new(2), svc("orphan", &[("persist", "1")]), None)
        .unwrap();
    store.remove_owner(OwnerId::new(2));
    store
        .update("orphan", crate::owner::Claim::Registry, [("persist", "0")])
        .unwrap();
    file.save(&store).unwrap();

    let saved = file.load().unwrap().unwrap();
    assert_eq!(saved, Saved::of(&store));
    assert_eq!(saved.revision, store.revision());
    let names: Vec<&str> = saved.services.iter().map(|(s, _)| s.name()).collect();
    assert_eq!(names, ["keep", "orphan"]);

    let mut restarted = Store::new();
    saved.restore(&mut restarted).unwrap();
    assert_eq!(restarted.len(), 2);
    assert_eq!(restarted.owner("keep"), None);
    restarted
        .remove("keep", crate::owner::Claim::Token("t"))
        .unwrap();
    // Restoring into a store that has the name already fails, clearly.
    assert!(matches!(
        saved.restore(&mut restarted),
        Err(Error::Duplicate(_))
    ));
}

#[test]
fn a_crash_mid_write_leaves_the_previous_state() {
    let dir = TempDir::new("crash");
    let file = StateFile::new(dir.0.join("state"));
    file.save_saved(&sample()).unwrap();

    // A save that died while writing: a torn temporary file, never renamed.
    let whole = sample().encode();
    fs::write(file.temp_path(), &whole.as_bytes()[..50]).unwrap();
    assert_eq!(file.load().unwrap(), Some(sample()));

    // One that died after writing but before the rename: the same.
    let next = Saved {
        revision: Revision::new(43),
        services: vec![],
    };
    fs::write(file.temp_path(), next.encode()).unwrap();
    assert_eq!(file.load().unwrap(), Some(sample()));

    // The next save writes over the leftover, and wins.
    file.save_saved(&next).unwrap();
    assert_eq!(file.load().unwrap(), Some(next));
    assert!(!file.temp_path().exists());
}

#[test]
fn a_failed_save_leaves_the_previous_state() {
    let dir = TempDir::new("failed");
    let file = StateFile::new(dir.0.join("state"));
    file.save_saved(&sample()).unwrap();
    // The temporary file's place is taken by a directory: the save fails
    // before anything is renamed.
    fs::create_dir(file.temp_path()).unwrap();
    fs::write(file.temp_path().join("x"), "x").unwrap();
    let error = file.save_saved(&Saved::default()).unwrap_err();
    assert!(matches!(error, Error::Io(_)), "{error:?}");
    assert_eq!(file.load().unwrap(), Some(sample()));
}

#[test]
fn a_torn_state_file_is_reported_with_its_path_and_line() {
    let dir = TempDir::new("torn");
    let file = StateFile::new(dir.0.join("state"));
    let text = sample().encode();
    fs::write(file.path(), &text[..text.len() - 8]).unwrap();
    let error = file.load().unwrap_err();
    let Error::Corrupt {
        path: Some(path),
        line,
        ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(path, file.path());
    assert_eq!(*line, 5);
    assert!(error.to_string().contains("state, line 5"), "{error}");
}

#[test]
fn the_temporary_file_sits_beside_the_state_file() {
    assert_eq!(
        StateFile::new("/var/lib/roe/registry").temp_path(),
        Path::new("/var/lib/roe/registry.tmp")
    );
    assert_eq!(StateFile::new("state").temp_path(), Path::new("state.tmp"));
}
