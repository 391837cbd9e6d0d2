//! What POE expects of its I/O layer where roe used to depart from it:
//! wheels on regular files, the refusals POE makes when a wheel or a
//! component is set up wrong, and a server that knows its clients.

use std::{
    cell::RefCell,
    fs::File,
    io::{BufRead, BufReader, Seek, SeekFrom, Write},
    net::TcpStream,
    process::Command,
    rc::Rc,
};

use roe_engine::{Error, Filter, Kernel, Line, ReadWrite, Run, Session, TcpClient, TcpServer};

/// A file of `lines` numbered lines, 100 bytes each, in a fresh temporary
/// path.
fn numbered_file(name: &str, lines: usize) -> (std::path::PathBuf, File) {
    let path = std::env::temp_dir().join(format!("roe-{name}-{}", std::process::id()));
    let mut file = File::create(&path).unwrap();
    for n in 0..lines {
        writeln!(file, "{n:099}").unwrap();
    }
    drop(file);
    let file = File::open(&path).unwrap();
    (path, file)
}

/// POE's `select` finds a regular file always ready, so ReadWrite reads it
/// a chunk per readiness; pausing, seeking back and resuming reads it again
/// from there. (epoll refuses files: roe's wheels failed with `EPERM`.)
#[test]
fn readwrite_reads_a_regular_file_and_can_seek_back() {
    const LINES: usize = 6_000;
    let (path, file) = numbered_file("readwrite", LINES);
    let other_handle = file.try_clone().unwrap(); // shares the file offset
    let seen = Rc::new(RefCell::new(Vec::<usize>::new()));
    let s = Rc::clone(&seen);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new((None::<ReadWrite<Line>>, Some(other_handle)))
                .on_start(move |cx, _| {
                    let wheel = ReadWrite::builder(file, Line::new())
                        .input("line")
                        .error("eof")
                        .start(cx)?;
                    cx.heap.0 = Some(wheel);
                    Ok::<_, Error>(())
                })
                .on("line", move |cx, mut args| {
                    let line = Line::value_record(args.take(0)).expect("a line");
                    let n: usize = String::from_utf8(line).unwrap().parse().unwrap();
                    s.borrow_mut().push(n);
                    if n == 10
                        && let Some(mut handle) = cx.heap.1.take()
                    {
                        // Once: pause, rewind, and resume in the next slice.
                        cx.heap.0.as_ref().unwrap().pause_input();
                        handle.seek(SeekFrom::Start(0)).unwrap();
                        cx.yield_("resume", ());
                    }
                })
                .on("resume", |cx, _| cx.heap.0.as_ref().unwrap().resume_input())
                .on("eof", |cx, args| {
                    assert_eq!(
                        (args[0].as_str(), args[1].as_int()),
                        (Some("read"), Some(0))
                    );
                    cx.heap.0 = None;
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    let _ = std::fs::remove_file(path);
    let seen = seen.borrow();
    // The first chunk read was handled whole, then reading began again at
    // line 0 and went on to the end.
    let restart = seen
        .iter()
        .skip(1)
        .position(|&n| n == 0)
        .expect("read again")
        + 1;
    assert!(restart > 10, "the rewind came before line 10 was seen");
    assert_eq!(seen[restart..], (0..LINES).collect::<Vec<_>>()[..]);
}

/// POE's ReadWrite refuses a high mark without a low mark, and the reverse.
#[test]
fn readwrite_refuses_one_mark_without_the_other() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(Session::new(()).on("_start", |cx, _| {
            let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
            let (c, _d) = std::os::unix::net::UnixStream::pair().unwrap();
            let high_only = ReadWrite::builder(a, Line::new())
                .high_mark(100, "high")
                .start(cx);
            assert!(matches!(high_only, Err(Error::InvalidArgument(_))));
            let low_only = ReadWrite::builder(c, Line::new())
                .low_mark(10, "low")
                .start(cx);
            assert!(matches!(low_only, Err(Error::InvalidArgument(_))));
        }))
        .unwrap();
    kernel.run().unwrap();
}

/// POE's Client::TCP refuses to start without `ServerInput`.
#[test]
fn a_tcp_client_without_server_input_is_refused() {
    let mut kernel = Kernel::new().unwrap();
    let refused = TcpClient::new("127.0.0.1", 1).spawn(&mut kernel);
    assert!(matches!(refused, Err(Error::InvalidArgument(_))));
}

/// POE's Run refuses one filter for every stream mixed with per-stream
/// filters; nothing is started.
#[test]
fn run_refuses_a_combined_filter_mixed_with_per_stream_ones() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(Session::new(()).on("_start", |cx, _| {
            let mixed = Run::builder(Command::new("true"))
                .filter(Line::new)
                .stdout_filter(Line::new())
                .start(cx);
            assert!(matches!(mixed, Err(Error::InvalidArgument(_))));
        }))
        .unwrap();
    kernel.run().unwrap();
}

/// The listener knows its connections: `broadcast` reaches each open one,
/// and `clients` lists them.
#[test]
fn a_server_broadcasts_to_every_connected_client() {
    let mut kernel = Kernel::new().unwrap();
    let server = TcpServer::new(0)
        .address("127.0.0.1")
        .alias("hub")
        .client_connected(|cx| {
            let hub = cx.heap.listener;
            cx.post("gate", "joined", (hub,))
        })
        .on("news", |cx, args| {
            Ok::<_, Error>(cx.heap.put(args[0].to_string())?)
        })
        .spawn(&mut kernel)
        .unwrap();
    let port = server.port().unwrap();
    let clients: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut line = String::new();
                BufReader::new(stream).read_line(&mut line).unwrap();
                line
            })
        })
        .collect();
    let info = server.clone();
    kernel
        .spawn(
            Session::new(0)
                .on("_start", |cx, _| cx.alias_set("gate"))
                .on("joined", move |cx, args| {
                    *cx.heap += 1;
                    if *cx.heap == 2 {
                        assert_eq!(info.clients().len(), 2);
                        let hub = args[0].as_session().expect("the listener");
                        cx.post(hub, "broadcast", ("news", "today"))?;
                        cx.post(hub, "shutdown", ())?;
                        cx.alias_remove("gate")?;
                    }
                    Ok::<_, Error>(())
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    for client in clients {
        assert_eq!(client.join().unwrap(), "today\r\n");
    }
    assert!(server.clients().is_empty());
}
