//! `alarm_remove_all`: every timer of the session, whatever API set it, in
//! due-time order, each with its name, due time and args; posted events and
//! other sessions' timers stay.
//!
//! Mappings: POE returns each item as a flat array `[name, due, @args]`
//! (list context: a list of them; scalar context: an arrayref of them); roe
//! returns a `Vec<RemovedTimer>` for both contexts, each with the name, the
//! due time and the args kept apart. The port prints what the Perl script
//! shows of the array: `ARRAY` for each item (and for the scalar-context
//! result), its size (2 + the number of args), and what its third element
//! (the first arg) is. `delay(name => 0.01)` is `delay` with 10 ms.

use std::{
    cell::Cell,
    rc::Rc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use roe::{Kernel, RemovedTimer, Session, Value};

use crate::harness::{check, ms};

fn since(t: SystemTime, base: SystemTime) -> f64 {
    match t.duration_since(base) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

fn t_far() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(4_000_000_000)
}

/// The script's `item()`.
fn item(it: &RemovedTimer, before: SystemTime) {
    let name = it.event.as_str();
    let due: Vec<String> = if name.starts_with("alarm") {
        vec!["time-T".to_owned(), since(it.due, t_far()).to_string()]
    } else if name == "delay_set" {
        let ahead = since(it.due, before);
        let within = ahead > 999.9 && ahead < 1000.1;
        vec![
            "due-now within [999.9,1000.1]:".to_owned(),
            if within { "yes" } else { "no" }.to_owned(),
        ]
    } else {
        Vec::new()
    };
    let args: Vec<String> = it.args.iter().map(ToString::to_string).collect();
    let third = match it.args.as_slice().first() {
        None => "absent",
        Some(Value::List(_)) => "ARRAY",
        Some(Value::Map(_)) => "HASH",
        Some(_) => "a plain value",
    };
    let mut line = vec!["  item".to_owned(), name.to_owned()];
    line.extend(due);
    line.extend([
        "size".to_owned(),
        (2 + it.args.len()).to_string(),
        format!("args [{}]", args.join(" ")),
        "item[2] is".to_owned(),
        third.to_owned(),
    ]);
    t!(line.join(" "));
}

fn refs(all: &[RemovedTimer]) -> String {
    vec!["ARRAY"; all.len()].join(",")
}

#[test]
fn alarm_remove_all() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| cx.delay("other_timer", ms(50), ()))
                .on("other_timer", |_, _| {
                    t!("other session's timer still fires")
                }),
        )
        .unwrap();
    let before = Rc::new(Cell::new(UNIX_EPOCH));
    kernel
        .spawn(
            Session::new(())
                .on("_start", move |cx, _| {
                    let t = t_far();
                    cx.yield_("posted", ("yield-1",));
                    cx.alarm_set("alarm_set", t + Duration::from_secs(20), ("a", "b", "c"))?;
                    cx.alarm("alarm", t + Duration::from_secs(10), ("x",))?;
                    cx.alarm_add("alarm_add", t + Duration::from_secs(30), ())?;
                    let me = cx.session();
                    cx.post(me, "posted", ("post-2",))?;
                    before.set(SystemTime::now());
                    cx.delay_set("delay_set", Duration::from_secs(1000), ("d1", "d2"))?;
                    cx.delay("delay", ms(10), ("would fire",))?;

                    let all = cx.alarm_remove_all();
                    t!(
                        "list context: alarm_remove_all returned",
                        all.len(),
                        "items; item refs:",
                        refs(&all)
                    );
                    for it in &all {
                        item(it, before.get());
                    }

                    cx.alarm_add("alarm_add_2", t + Duration::from_secs(1), ("p", "q"))?;
                    cx.delay_add("delay_add", Duration::from_secs(1000), ())?;
                    let r = cx.alarm_remove_all();
                    t!(
                        "scalar context: alarm_remove_all returned",
                        "ARRAY",
                        "of",
                        r.len(),
                        "items; item refs:",
                        refs(&r)
                    );
                    for it in &r {
                        item(it, before.get());
                    }

                    let none = cx.alarm_remove_all();
                    t!("with no timers left: returned", none.len(), "items");
                    Ok(())
                })
                .on("posted", |_, args| {
                    t!("posted event still delivered:", args[0])
                })
                .on("delay", |_, _| {
                    t!("removed timer fired (should not happen)")
                })
                .on("_stop", |_, _| t!("_stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/14_alarm_remove_all.out"));
}
