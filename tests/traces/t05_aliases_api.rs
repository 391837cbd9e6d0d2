//! Alias return codes, resolution order, and resolution at post time.

use roe::{Kernel, Session, Str};

use crate::harness::{check, code, ok, who};

fn joined(list: &[Str]) -> String {
    list.iter().map(Str::as_str).collect::<Vec<_>>().join(" ")
}

#[test]
fn aliases_api() {
    let mut kernel = Kernel::new().unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    t!("S1 alias_set owner ->", code(&cx.alias_set("owner")))
                })
                .on("_stop", |_, _| t!("S1 _stop"))
                .on("ping", |_, args| t!("S1 got ping", args[0]))
                .on("unalias", |cx, _| cx.alias_remove("owner")),
        )
        .unwrap();
    kernel
        .spawn(
            Session::new(())
                .on("_start", |cx, _| {
                    let me = cx.session();
                    t!("S2 alias_set b ->", code(&cx.alias_set("b")));
                    t!("S2 alias_set b again ->", code(&cx.alias_set("b")));
                    t!("S2 alias_set a ->", code(&cx.alias_set("a")));
                    t!(
                        "S2 alias_set owner (taken) ->",
                        code(&cx.alias_set("owner"))
                    );
                    t!("S2 alias_remove zzz ->", code(&cx.alias_remove("zzz")));
                    t!(
                        "S2 alias_remove owner (not mine) ->",
                        code(&cx.alias_remove("owner"))
                    );
                    let list = cx.alias_list();
                    t!(
                        "S2 alias_list ->",
                        joined(&list),
                        "; scalar ->",
                        list[0].clone()
                    );
                    t!(
                        "S2 alias_list(S1 by alias) ->",
                        joined(&cx.alias_list_of("owner").unwrap())
                    );
                    t!("resolve 'a' ->", cx.resolve("a"));
                    t!("resolve 1 ->", cx.resolve(1u64));
                    t!("resolve stringified self ->", cx.resolve(me.to_string()));
                    t!("resolve ref self ->", cx.resolve(me));
                    // Rust has no `$!` for alias_resolve to leave alone.
                    t!("resolve nobody ->", cx.resolve("nobody"), "errno", 0u32);
                    t!("ID_id_to_session(2) ->", who(cx.id_to_session(2).unwrap()));
                    let r = cx.id_to_session(77);
                    t!("ID_id_to_session(77) ->", ok(&r), code(&r));
                    t!("ID_session_to_id(self) ->", me.number());
                    let kernel_by_name = cx.resolve(cx.kernel_name().to_owned());
                    let same = kernel_by_name == Some(cx.kernel_session());
                    t!(
                        "ID_session_to_id(kernel) is kernel ID ->",
                        if same { "yes" } else { "no" }
                    );
                    cx.post("owner", "ping", ("posted-before-unalias",))
                        .unwrap();
                    cx.call("owner", "unalias", ()).unwrap();
                    let r = cx.post("owner", "ping", ("posted-after-unalias",));
                    t!("post after alias removed ->", ok(&r), code(&r));
                    t!("S2 alias_remove a ->", code(&cx.alias_remove("a")));
                    t!("S2 alias_remove b ->", code(&cx.alias_remove("b")));
                })
                .on("_stop", |_, _| t!("S2 _stop")),
        )
        .unwrap();
    kernel.run().unwrap();
    let owner = kernel.resolve("owner");
    t!(
        "after run: resolve 'owner' ->",
        if owner.is_some() { "defined" } else { "undef" }
    );
    check(include_str!("expected/05_aliases_api.out"));
}
