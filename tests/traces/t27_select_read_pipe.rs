//! `select_read` on a pipe: ARG0 the handle, ARG1 the mode, then the extra
//! args; level-triggered (one byte read per event, fired again each slice);
//! I/O dispatched before the queued events of its slice; EOF, unwatch,
//! `_stop`.
//!
//! Mappings: ARG0 is the descriptor number (Rust handles are owned, so the
//! event names the descriptor and the session keeps the handle); "same
//! handle" compares that number with the watched pipe's. The reader lives
//! in an `Rc` so a handler can lend it to `select_read` while `cx` is
//! borrowed. POE's
//! `select_read` returns 0; roe's returns `Ok(())`, printed through
//! `code()`. Closing the writer is dropping it.

use std::{
    io::{PipeReader, PipeWriter, Read, Write, pipe},
    os::fd::AsRawFd,
    rc::Rc,
};

use roe::{Kernel, Mode, Session};

use crate::harness::{check, code, who};

struct Pipe {
    reader: Rc<PipeReader>,
    writer: Option<PipeWriter>,
}

#[test]
fn select_read_pipe() {
    let (reader, writer) = pipe().unwrap();
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(Pipe {
                reader: Rc::new(reader),
                writer: Some(writer),
            })
            .on("_start", |cx, _| {
                let reader = Rc::clone(&cx.heap.reader);
                t!(
                    "select_read ->",
                    code(&cx.select_read(&*reader, "readable", ("extra1", "extra2")))
                );
                cx.yield_("write_some", ());
            })
            .on("write_some", |cx, _| {
                cx.heap.writer.as_mut().unwrap().write_all(b"abc").unwrap();
                cx.yield_("queued_after_write", ());
                t!("wrote 3 bytes; yielded queued_after_write");
            })
            .on("queued_after_write", |_, _| {
                t!("queued_after_write dispatched")
            })
            .on("readable", |cx, args| {
                let fd = args[0].as_int().unwrap();
                let mode = args[1].as_int().unwrap();
                let mut byte = [0u8; 1];
                let n = (&*cx.heap.reader).read(&mut byte).unwrap();
                if n == 1 {
                    let same = fd == i64::from(cx.heap.reader.as_raw_fd());
                    let extra = format!("extra={} {}", args[2], args[3]);
                    let sender = format!("sender={}", who(cx.sender()));
                    let read = format!("read '{}'", byte[0] as char);
                    t!(
                        format!(
                            "readable mode={mode} same_handle={}",
                            if same { "yes" } else { "no" }
                        ),
                        extra,
                        sender,
                        read
                    );
                    if byte[0] == b'c' {
                        cx.heap.writer = None;
                        t!("closed writer");
                    }
                } else {
                    let reader = Rc::clone(&cx.heap.reader);
                    cx.select_remove(&*reader, Mode::Read);
                    t!("readable: EOF; removing watcher ->", 0u32);
                }
            })
            .on("_stop", |_, _| t!("_stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/27_select_read_pipe.out"));
}
