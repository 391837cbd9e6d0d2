//! The blocking client against fake registries that answer badly: every
//! answer bounded, every wait timed, every bad line an error.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use roe_registry::{
    BlockingClient, ClientError, Error, MAX_LINE, Query, RegistryAddr, Service, WatchEvent,
};

use crate::support::*;

/// A client of `fake` that waits at most half a second.
fn impatient(fake: &Fake) -> BlockingClient {
    BlockingClient::new(fake.addr()).timeout(Duration::from_millis(500))
}

/// Reads the client's first line.
fn read_line(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut byte = [0];
    while matches!(stream.read(&mut byte), Ok(1)) && byte[0] != b'\n' {}
}

fn answering(answer: &'static [u8]) -> Fake {
    Fake::start(move |mut stream| {
        read_line(&mut stream);
        let _ = stream.write_all(answer);
    })
}

#[test]
fn a_find_answer_that_cannot_be_read_is_an_error() {
    let not_text = answering(b"svc a 1\nsvc \xff\xfe\n");
    let error = impatient(&not_text).find(&Query::all()).unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::BadAnswer {
                error: Error::NotUtf8(_),
                ..
            }
        ),
        "{error}"
    );
    let bad_name = answering(b"a/b x 1\n");
    let error = impatient(&bad_name).find(&Query::all()).unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::BadAnswer {
                error: Error::BadCharacter { .. },
                ..
            }
        ),
        "{error}"
    );
    let odd = answering(b"svc a\n");
    let error = impatient(&odd).find(&Query::all()).unwrap_err();
    assert!(matches!(error, ClientError::BadAnswer { .. }), "{error}");
}

#[test]
fn a_line_without_end_is_refused_at_the_bound() {
    let fake = Fake::start(|mut stream| {
        read_line(&mut stream);
        let chunk = vec![b'x'; 64 * 1024];
        // Far more than a line may hold, and never a newline.
        for _ in 0..64 {
            if stream.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let error = impatient(&fake).find(&Query::all()).unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::BadAnswer {
                error: Error::LineTooLong { max: MAX_LINE, .. },
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn an_answer_past_the_clients_bound_is_refused() {
    let fake = Fake::start(|mut stream| {
        read_line(&mut stream);
        let line = b"svc pad xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n";
        for _ in 0..100_000 {
            if stream.write_all(line).is_err() {
                return;
            }
        }
    });
    let client = impatient(&fake).max_answer(64 * 1024);
    let error = client.find(&Query::all()).unwrap_err();
    assert!(
        matches!(error, ClientError::TooLarge { max: 65_536, .. }),
        "{error}"
    );
}

#[test]
fn a_registry_that_never_answers_is_given_up_in_time() {
    let silent = Fake::start(|mut stream| drain(&mut stream, Duration::from_secs(5)));
    let client = impatient(&silent);
    let started = Instant::now();
    assert!(client.find(&Query::all()).unwrap_err().is_timeout());
    assert!(client.counter().unwrap_err().is_timeout());
    assert!(
        client
            .register(&Service::new("svc").unwrap())
            .unwrap_err()
            .is_timeout()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn an_event_port_that_says_the_wrong_things() {
    let no_ready = Fake::start(|mut stream| {
        let _ = stream.write_all(b"HELLO\n");
        drain(&mut stream, Duration::from_secs(2));
    });
    let error = impatient(&no_ready).counter().unwrap_err();
    assert!(matches!(error, ClientError::BadAnswer { .. }), "{error}");

    let garbage = Fake::start(|mut stream| {
        let _ = stream.write_all(b"READY\n00000001 sync\n00000002 frobnicate svc\n");
        drain(&mut stream, Duration::from_secs(2));
    });
    let mut events = impatient(&garbage).watch(&Query::all(), None).unwrap();
    assert!(matches!(events.next(), Some(Ok(WatchEvent::Synced(_)))));
    assert!(matches!(
        events.next(),
        Some(Err(ClientError::BadAnswer { .. }))
    ));
    assert!(events.next().is_none(), "a bad line ends the stream");

    // A counter line where a detailed watch owes changes (counter lines
    // before the first answer to the watch line are let pass).
    let counters = Fake::start(|mut stream| {
        let _ = stream.write_all(b"READY\n00000001\n00000001 sync\n00000002\n");
        drain(&mut stream, Duration::from_secs(2));
    });
    let mut events = impatient(&counters).watch(&Query::all(), None).unwrap();
    assert!(matches!(events.next(), Some(Ok(WatchEvent::Synced(_)))));
    assert!(matches!(
        events.next(),
        Some(Err(ClientError::BadAnswer { .. }))
    ));
}

/// A client whose new port is `fake`, and whose find port answers with
/// no services.
fn registering_at(fake: &Fake, finds: &Fake) -> BlockingClient {
    let addr = RegistryAddr::new("127.0.0.1", [fake.port(), finds.port(), fake.port()]);
    BlockingClient::new(addr).timeout(Duration::from_millis(500))
}

#[test]
fn a_new_port_that_refuses_or_babbles() {
    let finds = Fake::start(|mut stream| read_line(&mut stream));
    let refusing = answering(b"error go away\n");
    let error = registering_at(&refusing, &finds)
        .register(&Service::new("svc").unwrap())
        .unwrap_err();
    assert_eq!(error.refusal(), Some("go away"), "{error}");
    let babbling = answering(b"welcome, friend\n");
    let error = registering_at(&babbling, &finds)
        .register(&Service::new("svc").unwrap())
        .unwrap_err();
    assert!(matches!(error, ClientError::BadAnswer { .. }), "{error}");
    let closing = Fake::start(|mut stream| read_line(&mut stream));
    let error = registering_at(&closing, &finds)
        .register(&Service::new("svc").unwrap())
        .unwrap_err();
    assert!(matches!(error, ClientError::Closed { .. }), "{error}");
}
