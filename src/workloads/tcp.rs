//! W6: TCP request/response of 64-byte messages over loopback, one in
//! flight or pipelined: a server kernel on a thread of its own echoes each
//! block of one connection, and a client kernel on the calling thread sends
//! and times each round trip, checking that each response is the one it
//! awaits. Both ends are `ReadWrite` wheels with a fixed-size `Block`
//! filter; the server accepts through `ListenAccept`. Every socket has
//! `TCP_NODELAY`.

use std::{
    cell::RefCell,
    collections::VecDeque,
    net::{TcpListener, TcpStream},
    rc::Rc,
    thread,
    time::{Duration, Instant},
};

use crate::{Block, Error, Kernel, ListenAccept, ReadWrite, Session, Value};

use super::{Measured, Outcome};

/// The size of every request and response.
pub const MESSAGE_SIZE: usize = 64;
/// Requests in flight in the pipelined workload.
pub const IN_FLIGHT: usize = 64;

/// W6: `n` requests, `in_flight` of them at a time (1 for round trips one
/// by one, [`IN_FLIGHT`] pipelined), each round trip timed.
///
/// # Errors
///
/// No request or none in flight (the connection would idle forever), either
/// kernel's, a failed connection, or a response missing, out of order or
/// not [`MESSAGE_SIZE`] bytes.
pub fn exchange(n: u64, in_flight: usize) -> Outcome<Measured> {
    if n == 0 || in_flight == 0 {
        return Err(format!("{n} requests, {in_flight} in flight: nothing would be sent").into());
    }
    let total = usize::try_from(n)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server = thread::Builder::new()
        .name("roe-w6-server".to_owned())
        .spawn(move || serve(listener).map_err(|e| e.to_string()))?;
    let client = client(port, total, in_flight);
    if client.is_err() {
        // A server still waiting to accept would wait forever: give it a
        // connection that ends at once. (Once it has accepted, its listener
        // is closed and this is refused, which is as good.)
        let _ = TcpStream::connect(("127.0.0.1", port));
    }
    let served = server
        .join()
        .map_err(|_| "the server thread panicked".to_owned())
        .and_then(|served| served.map_err(|e| format!("server: {e}")));
    let run = client?;
    served?;
    Ok(Measured::new(n, run.elapsed).with_latencies(run.latencies))
}

/// The server session's state: the listener until `_start` takes it, the
/// accepting wheel until the connection comes, then the connection's.
struct Server {
    listener: Option<TcpListener>,
    accept: Option<ListenAccept>,
    wheel: Option<ReadWrite<Block>>,
}

/// A kernel echoing each 64-byte block of the first connection on
/// `listener`, until that connection ends.
fn serve(listener: TcpListener) -> crate::Result<()> {
    let mut kernel = Kernel::new()?;
    kernel.spawn(
        Session::new(Server {
            listener: Some(listener),
            accept: None,
            wheel: None,
        })
        .on("_start", |cx, _| {
            let listener = cx
                .heap
                .listener
                .take()
                .ok_or_else(|| Error::handler("no listener to accept on"))?;
            cx.heap.accept = Some(ListenAccept::builder(listener, "accepted").start(cx)?);
            Ok::<_, Error>(())
        })
        .on("accepted", |cx, mut args| {
            let socket: TcpStream = args
                .take(0)
                .take_local()
                .map_err(|_| Error::handler("an accepted connection that is not a TcpStream"))?;
            socket.set_nodelay(true)?;
            let wheel = ReadWrite::builder(socket, Block::fixed(MESSAGE_SIZE))
                .input("input")
                .error("error")
                .start(cx)?;
            cx.heap.wheel = Some(wheel);
            // One connection is all this workload makes.
            cx.heap.accept = None;
            Ok::<_, Error>(())
        })
        .on("input", |cx, mut args| {
            let Value::Bytes(record) = args.take(0) else {
                return Err(Error::handler("a block that is not bytes"));
            };
            if let Some(wheel) = &cx.heap.wheel {
                wheel.put(record).map_err(Error::handler)?;
            }
            Ok(())
        })
        // End of file (or a failure) ends the connection, and with it the
        // server; the client reports what went wrong, if anything did.
        .on("error", |cx, _| cx.heap.wheel = None),
    )?;
    kernel.run()
}

/// The client session's state.
struct Client {
    wheel: Option<ReadWrite<Block>>,
    /// When each request in flight was sent, oldest first.
    sent: VecDeque<Instant>,
    /// The next request's sequence number.
    next: usize,
    received: usize,
    started: Instant,
    latencies: Vec<Duration>,
}

/// What the client measured.
struct Exchanged {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// Request number `sequence`: [`MESSAGE_SIZE`] bytes starting with the
/// number, which the echo brings back so a client can check each response
/// is the one it awaits.
pub fn request(sequence: usize) -> Vec<u8> {
    let mut message = vec![0u8; MESSAGE_SIZE];
    message[..8].copy_from_slice(&(sequence as u64).to_le_bytes());
    message
}

/// Sends `total` requests to `port`, `in_flight` at a time, timing each
/// round trip and the whole.
fn client(port: u16, total: usize, in_flight: usize) -> Outcome<Exchanged> {
    let result = Rc::new(RefCell::new(None));
    let out = Rc::clone(&result);
    let mut kernel = Kernel::new()?;
    kernel.spawn(
        Session::new(Client {
            wheel: None,
            sent: VecDeque::with_capacity(in_flight),
            next: 0,
            received: 0,
            started: Instant::now(),
            latencies: Vec::with_capacity(total),
        })
        .on("_start", move |cx, _| {
            let socket = TcpStream::connect(("127.0.0.1", port))?;
            socket.set_nodelay(true)?;
            let wheel = ReadWrite::builder(socket, Block::fixed(MESSAGE_SIZE))
                .input("input")
                .error("error")
                .start(cx)?;
            cx.heap.started = Instant::now();
            while cx.heap.next < in_flight.min(total) {
                cx.heap.sent.push_back(Instant::now());
                wheel.put(request(cx.heap.next)).map_err(Error::handler)?;
                cx.heap.next += 1;
            }
            cx.heap.wheel = Some(wheel);
            Ok::<_, Error>(())
        })
        .on("input", move |cx, mut args| {
            let heap = &mut *cx.heap;
            let sent = heap
                .sent
                .pop_front()
                .ok_or_else(|| Error::handler("a response to no request"))?;
            heap.latencies.push(sent.elapsed());
            let echoed = match args.take(0) {
                Value::Bytes(record) if record.len() == MESSAGE_SIZE => {
                    let mut sequence = [0u8; 8];
                    sequence.copy_from_slice(&record[..8]);
                    u64::from_le_bytes(sequence)
                }
                _ => return Err(Error::handler("a response that is not a 64-byte block")),
            };
            if echoed != heap.received as u64 {
                return Err(Error::handler(format!(
                    "response {echoed} came where {} was due",
                    heap.received
                )));
            }
            heap.received += 1;
            if heap.next < total {
                heap.sent.push_back(Instant::now());
                let wheel = heap
                    .wheel
                    .as_ref()
                    .ok_or_else(|| Error::handler("the connection is gone"))?;
                wheel.put(request(heap.next)).map_err(Error::handler)?;
                heap.next += 1;
            } else if heap.received == total {
                *out.borrow_mut() = Some(Exchanged {
                    elapsed: heap.started.elapsed(),
                    latencies: std::mem::take(&mut heap.latencies),
                });
                // Closing the connection ends the server, and this kernel.
                heap.wheel = None;
            }
            Ok(())
        })
        .on("error", |_, args| -> crate::Result<()> {
            Err(Error::handler(format!(
                "client connection: {} failed: {} {}",
                args[0], args[1], args[2]
            )))
        }),
    )?;
    kernel.run()?;
    let exchanged = result
        .borrow_mut()
        .take()
        .ok_or_else(|| format!("fewer than {total} responses came back"))?;
    Ok(exchanged)
}
