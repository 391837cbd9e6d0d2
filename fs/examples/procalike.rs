//! A runtime of two kernels with its ProcAlike view mounted, until SIGINT,
//! SIGTERM or `echo shutdown > <mountpoint>/kernel/ctl`.
//!
//! ```text
//! cargo run -p roe-fs --example procalike [-- MOUNTPOINT]
//! ```
//!
//! It prints `fs <mountpoint>` once mounted. Each kernel runs a `ticker`
//! session (a timer every second) and kernel 1 a `greeter` that answers
//! `greet`, which registers its own tree under `/modules/greeter`; `/misc`
//! holds the program's tree, with a writable `volume`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use roe_engine::{KernelId, Runtime, Session};
use roe_fs::{Dir, ProcAlike, WriteError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let greeted = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&greeted);
    let runtime = Runtime::builder()
        .kernels(2)
        .pin(false)
        .start(move |kernel| {
            kernel.spawn(
                Session::new(0u64)
                    .on("_start", |cx, _| -> roe_engine::Result<()> {
                        cx.alias_set(format!("ticker/{}", cx.kernel_id()))?;
                        cx.delay("tick", Duration::from_secs(1), ())?;
                        Ok(())
                    })
                    .on("tick", |cx, _| {
                        *cx.heap += 1;
                        cx.delay("tick", Duration::from_secs(1), ())
                    }),
            )?;
            if kernel.id() == KernelId(1) {
                let counted = Arc::clone(&counted);
                let shown = Arc::clone(&counted);
                kernel.spawn(
                    Session::new(())
                        .on("_start", |cx, _| -> roe_engine::Result<()> {
                            cx.alias_set("greeter")?;
                            cx.yield_("show", ());
                            Ok(())
                        })
                        // The view starts after the runtime: until it is
                        // there, look again in a moment.
                        .on("show", move |cx, _| -> roe_engine::Result<()> {
                            if cx.resolve(ProcAlike::ALIAS).is_none() {
                                cx.delay("show", Duration::from_millis(50), ())?;
                                return Ok(());
                            }
                            let shown = Arc::clone(&shown);
                            let tree = Dir::new()
                                .file("greeted", move || shown.load(Ordering::Relaxed).to_string());
                            cx.post(
                                ProcAlike::ALIAS,
                                "register",
                                ProcAlike::registration("greeter", tree),
                            )
                        })
                        .on("greet", move |_, args| {
                            counted.fetch_add(1, Ordering::Relaxed);
                            println!("hello, {}", args.get(0));
                        }),
                )?;
            }
            Ok(())
        })?;
    let volume = Arc::new(AtomicU64::new(5));
    let (shown, set) = (Arc::clone(&volume), Arc::clone(&volume));
    let misc = Dir::new().value("example", "procalike").knob(
        "volume",
        move || shown.load(Ordering::Relaxed).to_string(),
        move |text| {
            let level: u64 = text
                .trim()
                .parse()
                .map_err(|_| WriteError::Invalid(format!("{text:?} is not a number")))?;
            if level > 10 {
                return Err(WriteError::Invalid("the volume goes up to 10".into()));
            }
            set.store(level, Ordering::Relaxed);
            Ok(())
        },
    );
    let mut builder = ProcAlike::builder().misc(misc);
    if let Some(path) = std::env::args_os().nth(1) {
        builder = builder.mountpoint(path);
    }
    let view = builder.start(&runtime.handle())?;
    println!("fs {}", view.mountpoint().display());
    runtime.join()?;
    println!("stopped (greeted {})", greeted.load(Ordering::Relaxed));
    Ok(())
}
