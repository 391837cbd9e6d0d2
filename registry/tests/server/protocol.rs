//! The new and find ports: registration, updates, queries, the end of a
//! registration with its connection, quoting, refusals, roe's `token` and
//! `remove` lines, and the server's limits.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use roe_registry::{Port, ServerConfig};

use crate::common::*;

#[test]
fn register_update_find_and_unregister_by_closing() {
    let server = start(config());
    let addr = server.addr();
    let mut printer = register(addr, "lp!office auth none");
    let found = find_until(addr, "auth none", |a| !a.is_empty());
    assert_eq!(found, "lp!office auth none\n");
    // Later lines set attributes, in place or after the others.
    printer.send("auth sha1 duplex yes\n");
    let found = find_until(addr, "auth sha1", |a| !a.is_empty());
    assert_eq!(found, "lp!office auth sha1 duplex yes\n");
    assert_eq!(find(addr, "auth none"), "");
    assert_eq!(find(addr, "duplex *"), "lp!office auth sha1 duplex yes\n");
    // A blank update changes nothing, and is no error.
    printer.send("\n");
    let _other = register(addr, "lp!hall auth sha1");
    let both = find_until(addr, "auth sha1", |a| a.lines().count() == 2);
    assert_eq!(both, "lp!office auth sha1 duplex yes\nlp!hall auth sha1\n");
    // An empty query, or none at all, asks for everything.
    assert_eq!(find(addr, ""), both);
    let mut eof_only = connect(addr, Port::Find);
    eof_only.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    eof_only.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, both);
    // The connection closes: the service goes.
    drop(printer);
    let left = find_until(addr, "", |a| a.lines().count() == 1);
    assert_eq!(left, "lp!hall auth sha1\n");
}

#[test]
fn the_perl_client_s_lines_are_taken_as_registry4_takes_them() {
    let server = start(config());
    let addr = server.addr();
    // Inferno::RegMgr::TCP sends "name " and a space when there are no
    // attributes, and writes the query without a newline before it waits.
    let mut bare = Lines::connect(addr, Port::New);
    bare.send("tcp!host!1 \n");
    find_until(addr, "", |a| a == "tcp!host!1\n");
    let mut query = connect(addr, Port::Find);
    query.write_all(b"\n").unwrap();
    let mut answer = String::new();
    query.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "tcp!host!1\n");
    // A query sent without a newline, then the write side shut.
    let mut half = connect(addr, Port::Find);
    half.write_all(b"nothing here").unwrap();
    half.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    half.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, "", "an odd query answers nothing");
    // Two lines in one segment are two changes.
    bare.send("a 1\nb 2\n");
    find_until(addr, "b 2", |a| a == "tcp!host!1 a 1 b 2\n");
}

#[test]
fn names_and_values_are_quoted_both_ways() {
    let server = start(config());
    let addr = server.addr();
    let _a = register(
        addr,
        "'it''s!here' note 'fake''n service' empty '' sp 'a b' cr 'x\r' nl 'two\nlines' star * uni été",
    );
    let found = find_until(addr, "", |a| !a.is_empty());
    assert_eq!(
        found,
        "'it''s!here' note 'fake''n service' empty '' sp 'a b' cr 'x\r' nl 'two\nlines' star * uni été\n"
    );
    for query in [
        "note 'fake''n service'",
        "empty ''",
        "sp 'a b'",
        "cr 'x\r'",
        "nl 'two\nlines'",
        "star *",
        "star '*'",
        "uni été",
        "note * empty *",
        "n'o'te 'fake''n service'",
    ] {
        assert_eq!(find(addr, query), found, "{query:?}");
    }
    for query in [
        "note fake",
        "empty *x",
        "sp a",
        "cr x",
        "uni ete",
        "missing *",
    ] {
        assert_eq!(find(addr, query), "", "{query:?}");
    }
    // Unquoted parts run together with quoted ones.
    let _b = register(addr, "b!1 v a'b c'd e ''");
    let both = find_until(addr, "", |a| a.contains("b!1"));
    assert!(both.ends_with("\nb!1 v 'ab cd' e ''\n"), "{both:?}");
}

/// Every refused first line gets `error <reason>`, then the end of the
/// stream; nothing is registered.
#[test]
fn refused_registrations_say_why_and_close() {
    let server = start(config());
    let addr = server.addr();
    let _taken = register(addr, "taken x 1");
    find_until(addr, "x 1", |a| !a.is_empty());
    let long = format!("svc v {}", "x".repeat(20_000));
    for (line, reason) in [
        ("\n", "bad syntax"),
        ("new a 1\n", "bad service name"),
        ("index\n", "bad service name"),
        ("a/b x 1\n", "bad character in service name"),
        ("'a b' x 1\n", "bad character in service name"),
        ("taken x 2\n", "duplicate service name"),
        ("svc a 1 b\n", "odd attribute/value pairs"),
        ("svc x\n", "odd attribute/value pairs"),
        ("token a b c\n", "odd attribute/value pairs"),
        (long.as_str(), "line too long"),
    ] {
        let mut client = Lines::connect(addr, Port::New);
        client.send(line);
        if !line.ends_with('\n') {
            client.send("\n");
        }
        let got = client.line();
        assert_eq!(got, format!("error {reason}"), "{line:?}");
        client.expect_end();
    }
    let mut binary = Lines::connect(addr, Port::New);
    binary.stream.write_all(b"svc a \xff\xfe\n").unwrap();
    assert_eq!(binary.line(), "error not UTF-8");
    binary.expect_end();
    assert_eq!(find(addr, ""), "taken x 1\n");
}

#[test]
fn a_refused_update_ends_the_registration() {
    let server = start(config());
    let addr = server.addr();
    let mut client = register(addr, "svc a 1");
    find_until(addr, "", |a| a == "svc a 1\n");
    client.send("b\n");
    assert_eq!(client.line(), "error odd attribute/value pairs");
    client.expect_end();
    find_until(addr, "", str::is_empty);
}

#[test]
fn persistent_services_outlive_their_connection_as_persist_says_at_close() {
    let server = start(config());
    let addr = server.addr();
    let a = register(addr, "a persist 1");
    let b = register(addr, "b persist ' 7x'");
    let mut c = register(addr, "c persist 1");
    let d = register(addr, "d persist 0");
    find_until(addr, "", |a| a.lines().count() == 4);
    // Persistence is read at close: c switches it off.
    c.send("persist no\n");
    find_until(addr, "persist no", |a| !a.is_empty());
    for client in [a, b, c, d] {
        close_and_drain(client.stream);
    }
    let left = find_until(addr, "", |a| a.lines().count() == 2);
    assert_eq!(left, "a persist 1\nb persist ' 7x'\n");
}

#[test]
fn roe_s_token_and_remove_lines() {
    let server = start(config());
    let addr = server.addr();
    let remove = |lines: &str| {
        let mut client = Lines::connect(addr, Port::New);
        client.send(lines);
        let answer = client.line();
        close_and_drain(client.stream);
        answer
    };
    // A persistent service with a token, its connection gone.
    let mut owner = Lines::connect(addr, Port::New);
    owner.send("token s3cret\nkeyed persist 1\n");
    // One without a token, its connection gone.
    let plain = register(addr, "plain persist 1");
    // One without a token, its connection open.
    let _held = register(addr, "held persist 1");
    find_until(addr, "persist 1", |a| a.lines().count() == 3);
    close_and_drain(owner.stream);
    close_and_drain(plain.stream);

    assert_eq!(remove("remove nothing\n"), "error no such service");
    assert_eq!(remove("remove keyed\n"), "error permission denied");
    assert_eq!(
        remove("token wrong\nremove keyed\n"),
        "error permission denied"
    );
    assert_eq!(remove("remove held\n"), "error permission denied");
    assert_eq!(remove("token ''\nremove keyed\n"), "error bad token");
    assert_eq!(remove("token s3cret\nremove keyed\n"), "ok");
    assert_eq!(
        remove("remove plain\n"),
        "ok",
        "no token, no connection: anyone"
    );
    assert_eq!(find(addr, ""), "held persist 1\n");

    // A token with a live connection: the service goes, and the owner's
    // next update is refused.
    let mut live = Lines::connect(addr, Port::New);
    live.send("token t0k\nlive a 1\n");
    find_until(addr, "a 1", |a| !a.is_empty());
    assert_eq!(remove("token t0k\nremove live\n"), "ok");
    live.send("a 2\n");
    assert_eq!(live.line(), "error no such service");
    live.expect_end();

    // Several removes on one connection, then a registration on it.
    let x = register(addr, "x persist 1");
    let y = register(addr, "y persist 1");
    find_until(addr, "", |a| a.lines().count() == 3);
    close_and_drain(x.stream);
    close_and_drain(y.stream);
    let mut several = Lines::connect(addr, Port::New);
    several.send("remove x\nremove y\nz a 1\n");
    assert_eq!(several.line(), "ok");
    assert_eq!(several.line(), "ok");
    find_until(addr, "", |a| a == "held persist 1\nz a 1\n");

    // After a registration, `remove` is an ordinary update.
    let mut svc = register(addr, "svc a 1");
    svc.send("remove held\n");
    find_until(addr, "remove held", |a| a == "svc a 1 remove held\n");
    assert!(find(addr, "").contains("held persist 1\n"));
}

#[test]
fn a_find_answer_larger_than_the_output_bound_comes_whole() {
    let server = start(config().max_output(1024));
    let addr = server.addr();
    let value = "v".repeat(1000);
    let mut owners = Vec::new();
    for i in 0..300 {
        owners.push(register(addr, &format!("svc{i} kind big pad {value}")));
    }
    let answer = find_until(addr, "kind big", |a| a.lines().count() == 300);
    for (i, line) in answer.lines().enumerate() {
        assert_eq!(line, format!("svc{i} kind big pad {value}"));
    }
}

#[test]
fn clients_that_send_no_first_line_are_timed_out() {
    let server = start(config().first_line_timeout(Duration::from_millis(200)));
    let addr = server.addr();
    let started = Instant::now();
    let mut silent = Lines::connect(addr, Port::New);
    assert_eq!(silent.line(), "error timeout");
    silent.expect_end();
    let mut quiet = Lines::connect(addr, Port::Find);
    quiet.expect_end();
    assert!(started.elapsed() >= Duration::from_millis(200));
    // A registration is not timed out, however long it stays.
    let _held = register(addr, "held a 1");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(find(addr, ""), "held a 1\n");
}

#[test]
fn past_the_most_connections_a_port_waits_for_one_to_close() {
    let server = start(config().max_connections(2));
    let addr = server.addr();
    let first = register(addr, "first a 1");
    let second = Lines::connect(addr, Port::New);
    find_until(addr, "", |a| a == "first a 1\n");
    // The third is accepted by the system, not by the server.
    let _third = register(addr, "third a 1");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(find(addr, ""), "first a 1\n");
    drop(second);
    find_until(addr, "", |a| a == "first a 1\nthird a 1\n");
    drop(first);
}

#[test]
fn the_server_reports_a_port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = ServerConfig::default().addr(format!("127.0.0.1:0,0,{port}").parse().unwrap());
    let error = roe_registry::RegistryServer::new(config)
        .start()
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("event port"),
        "{text}"
    );
}
