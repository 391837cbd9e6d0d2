//! `state()` adds, replaces and removes handlers at once; a removed event
//! goes to `_default`; a handler can be an object's method.
//!
//! Mapping: POE's `state()` returns 0; roe's returns nothing, printed 0.

use std::rc::Rc;

use roe::{Args, Context, Kernel, Object, Session, Value};

use crate::harness::check;

struct Greeter {
    name: &'static str,
}

impl Object<()> for Greeter {
    fn handle(&self, _: &mut Context<'_, ()>, method: &str, args: Args) -> roe::Result<Value> {
        assert_eq!(method, "hello");
        t!(format!("Greeter({})->hello ARG0", self.name), args[0]);
        Ok(Value::Undef)
    }
}

#[test]
fn state_runtime() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    cx.state_set("dyn", |_, args| t!("dyn v1", args[0]));
                    t!("state add dyn ->", 0u32);
                    let me = cx.session();
                    cx.call(me, "dyn", ("called-right-away",))?;
                    cx.yield_("dyn", ("queued-1",));
                    cx.state_set("dyn", |_, args| t!("dyn v2", args[0]));
                    t!("state replace dyn ->", 0u32);
                    cx.yield_("remove_it", (1,));
                    cx.yield_("dyn", ("queued-2",));
                    cx.state_object("obj", &Rc::new(Greeter { name: "g1" }), "hello");
                    cx.yield_("obj", ("via-object-method",));
                    Ok(())
                })
                .on("remove_it", |cx, _| {
                    cx.state_remove("dyn");
                    t!("state remove dyn ->", 0u32);
                })
                .on("_default", |_, args| {
                    let rest: Vec<String> = args[1]
                        .as_list()
                        .unwrap()
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    t!("_default got", args[0], rest.join(" "));
                })
                .on("_stop", |_, _| t!("_stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    t!("run returned");
    check(include_str!("expected/26_state_runtime.out"));
}
