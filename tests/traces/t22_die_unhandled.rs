//! An unhandled DIE stops every session and `run` returns the error; a
//! failing `_stop` makes `run` return its error too.

use std::time::Duration;

use roe::{Error, Kernel, Session};

use crate::harness::check;

#[test]
fn die_unhandled() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.delay("never", Duration::from_secs(5), ())?;
                    t!("bystander _start");
                    Ok(())
                })
                .on("never", |_, _| t!("bystander timer (should not happen)"))
                .on("_stop", |_, _| t!("bystander _stop")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.sig("DIE", "on_die", ())?;
                    cx.yield_("boom", ());
                    Ok(())
                })
                .on("boom", |_, _| -> roe::Result<()> {
                    Err(Error::handler("unhandled failure"))
                })
                .on("on_die", |_, args| {
                    t!("on_die saw", args[0], "but does not handle it")
                })
                .on("_stop", |_, _| t!("dier _stop")),
        )
        .unwrap();
    let error = kernel.run().unwrap_err();
    t!("run died with:", message(error));

    kernel
        .spawn(
            Session::new(())
                .on("_start", |_, _| t!("second-run session _start"))
                .on("_stop", |_, _| -> roe::Result<()> {
                    t!("second-run _stop dies");
                    Err(Error::handler("died in _stop"))
                }),
        )
        .unwrap();
    let error = kernel.run().unwrap_err();
    t!("second run died with:", message(error));
    check(include_str!("expected/22_die_unhandled.out"));
}

/// What Perl's `$@` holds once `run` rethrew: the handler's own message
/// (roe's error also says where it happened).
fn message(error: Error) -> String {
    match error {
        Error::Died(died) => died.message(),
        other => panic!("expected an unhandled DIE, got {other:?}"),
    }
}
