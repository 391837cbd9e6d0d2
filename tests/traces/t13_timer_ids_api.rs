//! Timer IDs and return values: codes, increasing IDs, adjust, remove,
//! and the ESRCH/EPERM/EINVAL failures.
//!
//! Mappings for arguments Perl can leave undefined and Rust cannot: an
//! undefined event name is the empty name; a missing time is one beyond the
//! clock's range; an undefined timer ID is an ID from another kernel; an
//! unknown ID is one that was removed. All give the error POE gives.
//! `alarm_remove` has one form in Rust, which serves both of Perl's
//! contexts.

use std::{
    cell::Cell,
    rc::Rc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use roe::{Kernel, KernelId, Session, Shift, TimerId};

use crate::harness::{check, code, ok};

fn since(t: SystemTime, base: SystemTime) -> f64 {
    match t.duration_since(base) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

fn joined(args: &roe::Args) -> String {
    args.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn timer_ids_api() {
    let t_far = UNIX_EPOCH + Duration::from_secs(4_000_000_000);
    let beyond = UNIX_EPOCH + Duration::from_secs(1 << 40);

    // An ID issued by another kernel stands for Perl's undefined ID.
    let stranger = Rc::new(Cell::new(None::<TimerId>));
    let mut other_kernel = Kernel::with_id(KernelId(1)).unwrap();
    let s = Rc::clone(&stranger);
    other_kernel
        .spawn(Session::new(()).on("_start", move |cx, _| {
            s.set(Some(cx.alarm_set("x", t_far, ()).unwrap()));
        }))
        .unwrap();

    let foreign = Rc::new(Cell::new(None::<TimerId>));
    let mut kernel = Kernel::new().unwrap();
    let f = Rc::clone(&foreign);
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    cx.alias_set("other").unwrap();
                    f.set(Some(cx.alarm_set("other_timer", t_far, ()).unwrap()));
                })
                .on("cleanup", |cx, _| {
                    cx.alarm_remove_all();
                    cx.alias_remove("other")
                }),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    t!("alarm ->", code(&cx.alarm("a", t_far, ())));
                    t!("alarm_add ->", code(&cx.alarm_add("a", t_far, ())));
                    t!(
                        "delay ->",
                        code(&cx.delay("b", Duration::from_secs(1000), ()))
                    );
                    t!(
                        "delay_add ->",
                        code(&cx.delay_add("b", Duration::from_secs(1000), ()))
                    );
                    t!("alarm(undef) ->", code(&cx.alarm("", t_far, ())));
                    t!(
                        "alarm_add(name) no time ->",
                        code(&cx.alarm_add("x", beyond, ()))
                    );
                    t!(
                        "delay_add(name) no time ->",
                        code(&cx.delay_add("x", Duration::MAX, ()))
                    );
                    let r = cx.alarm_set("", t_far, ());
                    t!("alarm_set(undef) ->", ok(&r), code(&r));
                    let r = cx.delay_set("x", Duration::MAX, ());
                    t!("delay_set(no secs) ->", ok(&r), code(&r));
                    let id1 = cx.alarm_set("t1", t_far, ("a", "b")).unwrap();
                    let id2 = cx
                        .alarm_set("t2", t_far + Duration::from_secs(5), ())
                        .unwrap();
                    let id3 = cx
                        .delay_set("t3", Duration::from_secs(1000), ("z",))
                        .unwrap();
                    let increasing = id1.number() > 0
                        && id2.number() > id1.number()
                        && id3.number() > id2.number();
                    t!(
                        "ids are positive integers increasing:",
                        if increasing { "yes" } else { "no" }
                    );
                    let due = cx
                        .alarm_adjust(id1, Shift::Later(Duration::from_secs(10)))
                        .unwrap();
                    t!("alarm_adjust(id1, +10) ->", since(due, t_far));
                    let due = cx
                        .alarm_adjust(id1, Shift::Earlier(Duration::from_secs(4)))
                        .unwrap();
                    t!("alarm_adjust(id1, -4) ->", since(due, t_far));
                    let rm = cx.alarm_remove(id1).unwrap();
                    t!(
                        "alarm_remove list ctx -> name",
                        rm.event,
                        "time-T",
                        since(rm.due, t_far),
                        "args",
                        "ARRAY",
                        format!("[{}]", joined(&rm.args))
                    );
                    let rm = cx.alarm_remove(id2).unwrap();
                    t!(
                        "alarm_remove scalar ctx ->",
                        "ARRAY",
                        rm.event,
                        since(rm.due, t_far),
                        format!("[{}]", joined(&rm.args))
                    );
                    let again = cx.alarm_remove(id1);
                    t!("alarm_remove same id again ->", ok(&again), code(&again));
                    let theirs = foreign.get().unwrap();
                    let r = cx.alarm_remove(theirs);
                    t!("alarm_remove other session's id ->", ok(&r), code(&r));
                    let r = cx.alarm_adjust(theirs, Duration::from_secs(1));
                    t!("alarm_adjust other session's id ->", ok(&r), code(&r));
                    let r = cx.alarm_adjust(id1, Duration::from_secs(1));
                    t!("alarm_adjust unknown id ->", ok(&r), code(&r));
                    let r = cx.alarm_remove(stranger.get().unwrap());
                    t!("alarm_remove(undef) ->", ok(&r), code(&r));
                    let before = SystemTime::now();
                    let due = cx.delay_adjust(id3, Duration::from_secs(500)).unwrap();
                    let ahead = since(due, before);
                    let within = ahead > 499.9 && ahead < 500.1;
                    t!(
                        "delay_adjust(id3, 500) due-now within [499.9,500.1]:",
                        if within { "yes" } else { "no" }
                    );
                    let due2 = cx.alarm_adjust(id3, Duration::from_secs(100)).unwrap();
                    let added = (since(due2, due) - 100.0).abs() < 1e-6;
                    t!(
                        "alarm_adjust(id3, +100) added 100:",
                        if added { "yes" } else { "no" }
                    );
                    let all = cx.alarm_remove_all();
                    let mut names: Vec<&str> = all.iter().map(|r| r.event.as_str()).collect();
                    names.sort_unstable();
                    t!(
                        "alarm_remove_all removed",
                        all.len(),
                        "timers:",
                        names.join(",")
                    );
                    cx.call("other", "cleanup", ()).unwrap();
                })
                .on("_stop", |_, _| t!("_stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/13_timer_ids_api.out"));
    drop(other_kernel);
}
