//! A post and its dispatch allocate nothing once the queue has warmed up,
//! when the arguments are up to three small scalars (integers, floats,
//! booleans, `undef`, strings of up to 22 bytes, session references).
//!
//! A counting global allocator records allocations per thread; two sessions
//! play ping-pong with scalar arguments, and the count taken after a warm-up
//! must not move over the next ten thousand events.

#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    rc::Rc,
};

use roe::{Event, Kernel, Session, Value};

/// The system allocator, counting allocations made by each thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees hold; the counter is a thread-local `Cell` with a
// const initialiser, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const WARM_UP: i64 = 1_000;
const MEASURED: i64 = 10_000;

#[test]
fn post_and_dispatch_of_scalars_do_not_allocate() {
    let (ping, pong) = (Event::new("ping"), Event::new("pong"));
    let before = Rc::new(Cell::new(0));
    let after = Rc::new(Cell::new(0));
    let mut kernel = Kernel::new().unwrap();
    let echo = kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.alias_set("echo"))
                .on(ping, move |cx, args| {
                    let sender = cx.sender();
                    cx.post(sender, pong, args)
                }),
        )
        .unwrap();
    let (b, a) = (Rc::clone(&before), Rc::clone(&after));
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    let me = cx.session();
                    cx.post(echo, ping, (0, "short text", me))
                })
                .on(pong, move |cx, args| {
                    let n = args[0].as_int().unwrap();
                    match n {
                        WARM_UP => b.set(allocations()),
                        n if n == WARM_UP + MEASURED => {
                            a.set(allocations());
                            return Ok(());
                        }
                        _ => {}
                    }
                    let me = cx.session();
                    // A self-post and a post to the other session, both with
                    // small scalars; the session reference travels too.
                    cx.yield_("tick", (0.5, true, Value::Undef));
                    cx.post(echo, ping, (n + 1, "twenty-two bytes, ok!!", me))
                })
                .on("tick", |_, _| ()),
        )
        .unwrap();
    kernel.run().unwrap();
    assert!(before.get() > 0, "the warm-up ran");
    assert!(after.get() > 0, "the measured run finished");
    assert_eq!(
        after.get() - before.get(),
        0,
        "{MEASURED} posts and dispatches after warm-up allocated"
    );
}
