//! A failing handler raises DIE for its session: queued, so the session
//! keeps running; handlers run child first, then ancestors; the details
//! map carries POE's fields.
//!
//! Mapping: Perl's `die "kaboom\n"` is a handler returning
//! `Err(Error::handler("kaboom"))` (the script strips the newline).

use roe::{Error, Kernel, Session};

use crate::harness::check;

#[test]
fn die_signal_handled() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.sig("DIE", "parent_die", ())?;
                    cx.spawn(
                        Session::new(())
                            .on("_start", |cx, _| {
                                cx.sig("DIE", "child_die", ())?;
                                cx.yield_("boom", ());
                                Ok(())
                            })
                            .on("boom", |cx, _| -> roe::Result<()> {
                                t!("child boom: about to die");
                                cx.yield_("after_boom", ());
                                Err(Error::handler("kaboom"))
                            })
                            .on("after_boom", |_, _| {
                                t!("child after_boom still runs (session survived)")
                            })
                            .on("child_die", |_, args| {
                                let ex = args[1].as_map().unwrap();
                                let field = |name: &str| ex.get(name).cloned().unwrap_or_default();
                                t!(
                                    "child_die",
                                    args[0],
                                    format!("event={}", field("event")),
                                    format!(
                                        "dest={}",
                                        crate::harness::who(
                                            field("dest_session").as_session().unwrap()
                                        )
                                    ),
                                    format!(
                                        "source={}",
                                        crate::harness::who(
                                            field("source_session").as_session().unwrap()
                                        )
                                    ),
                                    format!("from_state={}", field("from_state")),
                                    format!("error={}", field("error_str"))
                                );
                            })
                            .on("_stop", |_, _| t!("child _stop")),
                    )?;
                    Ok(())
                })
                .on("parent_die", |cx, args| {
                    let event = args[1]
                        .as_map()
                        .unwrap()
                        .get("event")
                        .cloned()
                        .unwrap_or_default();
                    t!("parent_die", args[0], "for event", event, "-> sig_handled");
                    cx.sig_handled();
                })
                .on("_stop", |_, _| t!("parent _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned normally");
    check(include_str!("expected/21_die_signal_handled.out"));
}
