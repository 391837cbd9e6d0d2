//! POE's I/O layer over real sockets on 127.0.0.1: wheels, filters, errors.

use std::{
    cell::RefCell,
    net::{TcpListener, TcpStream},
    rc::Rc,
    time::Duration,
};

use roe_engine::{Context, Error, Kernel, Line, ListenAccept, ReadWrite, Session, Stream, Value};

/// A listener on an ephemeral port of 127.0.0.1.
fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Deterministic bytes for payload tests.
fn payload(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A server session: accepts on `listener` and runs one echo session per
/// connection, with the filter `make` builds, until told to `shutdown`.
fn echo_server<F>(listener: TcpListener, make: fn() -> F) -> Session<Option<ListenAccept>>
where
    F: roe_engine::Filter<Record = Vec<u8>> + 'static,
{
    Session::new(None)
        .on("_start", move |cx, _| {
            cx.alias_set("server")?;
            let listener = listener.try_clone()?;
            *cx.heap = Some(ListenAccept::builder(listener, "accepted").start(cx)?);
            Ok::<_, Error>(())
        })
        .on("accepted", move |cx, mut args| {
            let socket: TcpStream = args.take(0).take_local().ok().unwrap();
            cx.spawn(echo_connection(socket, make))?;
            Ok::<_, Error>(())
        })
        .on("shutdown", |cx, _| {
            *cx.heap = None;
            cx.alias_remove("server")
        })
}

fn echo_connection<F>(socket: TcpStream, make: fn() -> F) -> Session<Option<ReadWrite<F>>>
where
    F: roe_engine::Filter<Record = Vec<u8>> + 'static,
{
    let socket = RefCell::new(Some(socket));
    Session::new(None)
        .on("_start", move |cx, _| {
            let socket = socket.borrow_mut().take().unwrap();
            let wheel = ReadWrite::builder(socket, make())
                .input("input")
                .error("error")
                .start(cx)?;
            *cx.heap = Some(wheel);
            Ok::<_, Error>(())
        })
        .on("input", |cx, args| {
            cx.heap.as_ref().unwrap().put(bytes(&args[0])).unwrap();
        })
        .on("error", |cx: &mut Context<'_, Option<ReadWrite<F>>>, _| {
            // End of file or a failure: dropping the wheel ends the session.
            *cx.heap = None;
        })
}

/// Bytes from a record value (Stream and Line records are bytes or text).
fn bytes(value: &Value) -> Vec<u8> {
    value.as_bytes().map(<[u8]>::to_vec).unwrap_or_default()
}

/// Lines go out and come back through a Line-filtered echo server.
#[test]
fn echo_server_and_client_exchange_lines() {
    let (listener, port) = listener();
    let got = Rc::new(RefCell::new(Vec::new()));
    let mut kernel = Kernel::new().unwrap();
    kernel.spawn(echo_server(listener, Line::new)).unwrap();
    let g = Rc::clone(&got);
    kernel
        .spawn(
            Session::new(None::<ReadWrite<Line>>)
                .on("_start", move |cx, _| {
                    let socket = TcpStream::connect(("127.0.0.1", port))?;
                    let wheel = ReadWrite::builder(socket, Line::new())
                        .input("input")
                        .error("error")
                        .start(cx)?;
                    for n in 0..100 {
                        wheel.put(format!("line {n}").into_bytes()).unwrap();
                    }
                    *cx.heap = Some(wheel);
                    Ok::<_, Error>(())
                })
                .on("input", move |cx, args| {
                    g.borrow_mut().push(args[0].to_string());
                    if g.borrow().len() == 100 {
                        *cx.heap = None;
                        cx.post("server", "shutdown", ())?;
                    }
                    Ok::<_, Error>(())
                })
                .on("error", |_, args| -> () {
                    panic!("client error: {args:?}")
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    let expected: Vec<String> = (0..100).map(|n| format!("line {n}")).collect();
    assert_eq!(*got.borrow(), expected);
}

/// 10 MB each way through a Stream-filtered echo, compared byte for byte:
/// partial writes must neither lose nor reorder data.
#[test]
fn ten_megabytes_each_way_arrive_intact() {
    const SIZE: usize = 10 * 1024 * 1024;
    let sent = payload(SIZE);
    let (listener, port) = listener();
    let received = Rc::new(RefCell::new(Vec::with_capacity(SIZE)));
    let mut kernel = Kernel::new().unwrap();
    kernel.spawn(echo_server(listener, Stream::new)).unwrap();
    let r = Rc::clone(&received);
    let data = sent.clone();
    kernel
        .spawn(
            Session::new(None::<ReadWrite<Stream>>)
                .on("_start", move |cx, _| {
                    let socket = TcpStream::connect(("127.0.0.1", port))?;
                    let wheel = ReadWrite::builder(socket, Stream::new())
                        .input("input")
                        .error("error")
                        .start(cx)?;
                    // Uneven chunks, all put at once: most is buffered.
                    for chunk in data.chunks(65_521) {
                        wheel.put(chunk.to_vec()).unwrap();
                    }
                    *cx.heap = Some(wheel);
                    Ok::<_, Error>(())
                })
                .on("input", move |cx, args| {
                    r.borrow_mut().extend(bytes(&args[0]));
                    if r.borrow().len() >= SIZE {
                        *cx.heap = None;
                        cx.post("server", "shutdown", ())?;
                    }
                    Ok::<_, Error>(())
                })
                .on("error", |_, args| -> () {
                    panic!("client error: {args:?}")
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    let received = received.borrow();
    assert_eq!(received.len(), SIZE);
    assert!(*received == sent, "the echoed bytes differ from those sent");
}

/// A peer that resets the connection while the server is writing: the
/// server hears a `write` error (or a `read` error) with an errno, and
/// nothing panics.
#[test]
fn a_peer_reset_mid_write_is_an_error_event() {
    let (listener, port) = listener();
    let errors = Rc::new(RefCell::new(Vec::new()));
    let mut kernel = Kernel::new().unwrap();
    let e = Rc::clone(&errors);
    kernel
        .spawn(
            Session::new((None::<ListenAccept>, None::<ReadWrite<Stream>>))
                .on("_start", move |cx, _| {
                    let listener = listener.try_clone()?;
                    cx.heap.0 = Some(ListenAccept::builder(listener, "accepted").start(cx)?);
                    let client = TcpStream::connect(("127.0.0.1", port))?;
                    cx.yield_("reset", (Value::local(client),));
                    Ok::<_, Error>(())
                })
                .on("accepted", |cx, mut args| {
                    let socket: TcpStream = args.take(0).take_local().ok().unwrap();
                    let wheel = ReadWrite::builder(socket, Stream::new())
                        .error("error")
                        .start(cx)?;
                    // More than the socket buffers hold, so writing goes on
                    // across slices.
                    for _ in 0..64 {
                        wheel.put(vec![7; 256 * 1024]).unwrap();
                    }
                    cx.heap.1 = Some(wheel);
                    cx.heap.0 = None;
                    Ok::<_, Error>(())
                })
                .on("reset", |cx, mut args| {
                    // Linger 0: closing sends RST instead of FIN.
                    let client: TcpStream = args.take(0).take_local().ok().unwrap();
                    rustix::net::sockopt::set_socket_linger(&client, Some(Duration::ZERO))
                        .map_err(std::io::Error::from)?;
                    drop(client);
                    let _ = cx;
                    Ok::<_, Error>(())
                })
                .on("error", move |cx, args| {
                    e.borrow_mut()
                        .push((args[0].to_string(), args[1].as_int().unwrap()));
                    cx.heap.1 = None;
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (operation, errno) = &errors[0];
    assert_eq!(operation, "write", "{errors:?}");
    assert!(
        [
            rustix::io::Errno::PIPE.raw_os_error(),
            rustix::io::Errno::CONNRESET.raw_os_error()
        ]
        .contains(&(*errno as i32)),
        "errno {errno}"
    );
}

/// A line longer than the limit is an error event, memory stays bounded,
/// and the next line still arrives.
#[test]
fn an_oversized_line_is_an_error_and_reading_goes_on() {
    let (listener, port) = listener();
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut kernel = Kernel::new().unwrap();
    let l = Rc::clone(&log);
    kernel
        .spawn(
            Session::new((
                None::<ListenAccept>,
                None::<ReadWrite<Line>>,
                None::<ReadWrite<Line>>,
            ))
            .on("_start", move |cx, _| {
                let listener = listener.try_clone()?;
                cx.heap.0 = Some(ListenAccept::builder(listener, "accepted").start(cx)?);
                let client = TcpStream::connect(("127.0.0.1", port))?;
                let wheel = ReadWrite::builder(client, Line::new()).start(cx)?;
                wheel.put(vec![b'x'; 100_000]).unwrap();
                wheel.put(b"short".to_vec()).unwrap();
                cx.heap.2 = Some(wheel);
                Ok::<_, Error>(())
            })
            .on("accepted", |cx, mut args| {
                let socket: TcpStream = args.take(0).take_local().ok().unwrap();
                let wheel = ReadWrite::builder(socket, Line::new().max_length(1024))
                    .input("input")
                    .error("error")
                    .start(cx)?;
                cx.heap.1 = Some(wheel);
                cx.heap.0 = None;
                Ok::<_, Error>(())
            })
            .on("input", {
                let l = Rc::clone(&l);
                move |cx, args| {
                    l.borrow_mut().push(format!("input {}", args[0]));
                    cx.heap.1 = None;
                    cx.heap.2 = None;
                }
            })
            .on("error", move |_, args| {
                l.borrow_mut()
                    .push(format!("error {} {}", args[0], args[1]));
            }),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["error filter 0", "input short"]);
}

/// A descriptor that hangs up while its only watcher is paused does not
/// keep waking the kernel (epoll reports a hang-up even with no interest):
/// the kernel sleeps until the watcher resumes, which then sees the end
/// of file.
#[test]
fn a_hang_up_under_a_paused_watcher_does_not_spin_the_kernel() {
    use std::{io::Read, os::unix::net::UnixStream};

    let (near, far) = UnixStream::pair().unwrap();
    let near = Rc::new(near);
    let mut kernel = Kernel::new().unwrap();
    let reader = kernel.snapshots(Duration::from_secs(3600));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&seen);
    let (n1, n2, n3) = (Rc::clone(&near), Rc::clone(&near), near);
    kernel
        .spawn(
            Session::new(Some(far))
                .on("_start", move |cx, _| {
                    cx.select_read(&*n1, "readable", ())?;
                    cx.select_pause_read(&*n1);
                    // The peer goes away while nobody reads.
                    *cx.heap = None;
                    cx.delay("resume", Duration::from_millis(50), ())
                })
                .on("resume", move |cx, _| {
                    cx.select_resume_read(&*n2);
                })
                .on("readable", move |cx, _| {
                    let mut buf = [0u8; 16];
                    let n = (&*n3).read(&mut buf).unwrap();
                    log.borrow_mut().push(n);
                    cx.select_remove(&*n3, roe_engine::Mode::Read);
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(
        *seen.borrow(),
        [0],
        "the resumed watcher reads the end of file"
    );
    kernel.snapshots(Duration::from_secs(3600));
    let slices = reader.load().counters.slices;
    // A handful of slices, not one per wake-up for 50 ms.
    assert!(slices < 100, "{slices} slices while the watcher was paused");
}

/// Flow control: `put` past the high mark posts the high event, and the
/// write at the end of the dispatch that empties the buffer posts the low
/// event (a producer paused on the first waits for the second).
#[test]
fn high_and_low_marks_both_arrive_when_output_drains_at_once() {
    use std::os::unix::net::UnixStream;

    let (near, _far) = UnixStream::pair().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let (high, low) = (Rc::clone(&log), Rc::clone(&log));
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new((Some(near), None))
                .on("_start", |cx, _| {
                    let near = cx.heap.0.take().unwrap();
                    let wheel = ReadWrite::builder(near, Stream::new())
                        .high_mark(10, "high")
                        .low_mark(0, "low")
                        .start(cx)?;
                    wheel.put(vec![7u8; 100]).unwrap();
                    cx.heap.1 = Some(wheel);
                    Ok::<_, Error>(())
                })
                .on("high", move |_, _| high.borrow_mut().push("high"))
                .on("low", move |cx, _| {
                    low.borrow_mut().push("low");
                    cx.heap.1 = None;
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*log.borrow(), ["high", "low"]);
}

/// A source posts to another session with `Io::post_to`, from its own
/// session: the receiver's SENDER is the source's session.
#[test]
fn a_source_posts_to_another_session_as_its_session() {
    use roe_engine::{Io, Readiness, Source, SourceRef, TimerId};

    struct Knocker {
        me: SourceRef,
    }

    impl Source for Knocker {
        fn ready(self: Rc<Self>, _: &mut Io<'_>, _: Readiness) -> roe_engine::Result<()> {
            Ok(())
        }

        fn timer(self: Rc<Self>, io: &mut Io<'_>, _: TimerId) -> roe_engine::Result<()> {
            io.post_to("door", "knock", (self.me.session(),))
        }
    }

    let heard = Rc::new(RefCell::new(Vec::new()));
    let h = Rc::clone(&heard);
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.alias_set("door"))
                .on("knock", move |cx, args| {
                    h.borrow_mut().push((cx.sender(), args[0].as_session()));
                    cx.alias_remove("door")
                }),
        )
        .unwrap();
    let knocker = kernel
        .spawn(
            Session::new(None::<Rc<Knocker>>)
                .on("_start", |cx, _| {
                    let knocker = cx.io().add(|me| Knocker { me });
                    cx.io().delay(&knocker.me, Duration::from_millis(1))?;
                    *cx.heap = Some(knocker);
                    Ok::<_, Error>(())
                })
                .on("_child", |_, _| {}),
        )
        .unwrap();
    kernel.run().unwrap();
    assert_eq!(*heard.borrow(), [(knocker, Some(knocker))]);
}

/// A source that counts its flushes, and how many events had run at each.
struct Counting {
    me: roe_engine::SourceRef,
    handled: Rc<std::cell::Cell<u32>>,
    flushes: Rc<RefCell<Vec<u32>>>,
}

impl roe_engine::Source for Counting {
    fn ready(
        self: Rc<Self>,
        _: &mut roe_engine::Io<'_>,
        _: roe_engine::Readiness,
    ) -> roe_engine::Result<()> {
        Ok(())
    }

    fn flush(self: Rc<Self>, _: &mut roe_engine::Io<'_>) {
        self.flushes.borrow_mut().push(self.handled.get());
    }
}

/// `flush_soon` from many events of one slice: a few flushes, not one per
/// event (the output of a slice shares its writes), yet a long slice
/// flushes before it ends (every 64 dispatches), and the last asks are
/// flushed too.
#[test]
fn flush_soon_batches_a_slice_and_bounds_the_wait() {
    const EVENTS: u32 = 200;
    let handled = Rc::new(std::cell::Cell::new(0));
    let flushes = Rc::new(RefCell::new(Vec::new()));
    let (h, f) = (Rc::clone(&handled), Rc::clone(&flushes));
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(None::<Rc<Counting>>)
                .on("_start", move |cx, _| {
                    let (handled, flushes) = (Rc::clone(&h), Rc::clone(&f));
                    let source = cx.io().add(|me| Counting {
                        me,
                        handled,
                        flushes,
                    });
                    *cx.heap = Some(source);
                    for _ in 0..EVENTS {
                        cx.yield_("out", ());
                    }
                })
                .on("out", |cx, _| {
                    let source = cx.heap.as_ref().expect("started");
                    source.handled.set(source.handled.get() + 1);
                    source.me.flush_soon();
                    if source.handled.get() == EVENTS {
                        *cx.heap = None;
                    }
                }),
        )
        .unwrap();
    kernel.run().unwrap();
    let flushes = flushes.borrow();
    assert!(!flushes.is_empty(), "deferred output was never flushed");
    assert!(
        flushes.len() <= (EVENTS / 64 + 2) as usize,
        "{} flushes for {EVENTS} events: {flushes:?}",
        flushes.len()
    );
    // A long slice does not hold the output to its end.
    assert!(flushes[0] < EVENTS, "{flushes:?}");
}
