//! The table of `roe`'s commands and options that the help, the
//! suggestions and the completions are made from.

use super::{Command, Complete, Opt};

/// An option with a value.
const fn valued(long: &'static str, value: &'static str, help: &'static str) -> Opt {
    Opt {
        long,
        value: Some(value),
        help,
        complete: Complete::Nothing,
    }
}

/// An option whose value is a path of the given kind.
const fn path(long: &'static str, value: &'static str, kind: Complete, help: &'static str) -> Opt {
    Opt {
        long,
        value: Some(value),
        help,
        complete: kind,
    }
}

/// A flag: an option without a value.
const fn flag(long: &'static str, help: &'static str) -> Opt {
    Opt {
        long,
        value: None,
        help,
        complete: Complete::Nothing,
    }
}

/// A command with no subcommands and no generated section.
const fn leaf(
    name: &'static str,
    summary: &'static str,
    usage: &'static [&'static str],
    options: &'static [Opt],
    words: Complete,
    about: &'static str,
    examples: &'static [&'static str],
) -> Command {
    Command {
        name,
        summary,
        usage,
        options,
        words,
        subcommands: &[],
        about,
        more: None,
        examples,
    }
}

/// `roe` and everything under it.
pub static ROOT: Command = Command {
    name: "roe",
    summary: "Perl's POE rebuilt in Rust: a node, its benchmarks, and IKC and registry clients",
    usage: &["roe <command> [options]"],
    options: &[],
    words: Complete::Nothing,
    subcommands: &[NODE, BENCH, IKC, REGISTRY, COMPLETIONS, HELP],
    about: "\
`roe help <command>` or `roe <command> --help` prints a command's usage,
options and examples. A usage error or a failure goes to stderr as
`roe: ...` with exit status 1. The log goes to stderr, filtered by RUST_LOG
(default info).",
    more: None,
    examples: &["roe node", "roe help registry serve"],
};

const NODE: Command = leaf(
    "node",
    "run a node on embedded defaults until it is stopped",
    &["roe node [options]"],
    &[
        valued(
            "kernels",
            "<n>",
            "kernels to run, one pinned thread each (default: one per core)",
        ),
        valued(
            "heartbeat",
            "<ms>",
            "heartbeat period of the node sessions (default 1000, at most a day)",
        ),
        valued(
            "ikc-listen",
            "<ip:port>",
            "serve IKC there (default 127.0.0.1:6030; port 0: any free port)",
        ),
        valued(
            "ikc-name",
            "<name>",
            "the node's IKC name (default roe-node)",
        ),
        valued(
            "registry",
            "<addr>",
            "serve the registry at ADDR (default 127.0.0.1, see below), or `none`",
        ),
        path(
            "registry-state",
            "<file>",
            Complete::File,
            "keep the registry's persistent services in this file",
        ),
        path(
            "mount",
            "<dir>",
            Complete::Dir,
            "mount the fs view (ProcAlike) there (default /tmp/roe_<pid>)",
        ),
        flag("no-mount", "no fs view"),
        valued(
            "join",
            "<query>",
            "connect by IKC to every node this registry query finds, e.g. 'proto ikc'",
        ),
        valued(
            "join-registry",
            "<addr>",
            "the registry to advertise in and join through (default: the node's own)",
        ),
    ],
    Complete::Nothing,
    "\
The node prints `ikc <ip>:<port>`, then `registry <ip>:<new>,<find>,<event>`
(unless --registry none), then `fs <dir>` (with a view), then `ready ...`.
Its IKC, named --ikc-name, publishes the session `node` (state `ping`) and a
session under the node's name (`ping`, `probe`, `note`), and its IKC server is
advertised in its registry (or --join-registry's) as a `proto ikc` service,
which is what --join 'proto ikc' finds. On every heartbeat the node probes each
node it is connected to by that name, and logs when one is first reached and
when one goes. ADDR is HOST or
HOST:NEW,FIND,EVENT (an IPv6 host in brackets; HOST alone means the ports
6701,6702,6703; ports 0: any free ports). Without /dev/fuse and root the
default mount is skipped with a warning; a --mount that fails is an error.

The node stops cleanly on SIGINT, SIGTERM or SIGHUP; SIGUSR1 prints a status
line per kernel and one per peer node (round trips p50/p99). The log goes to stderr, filtered by RUST_LOG (default info).",
    &[
        "roe node --kernels 2 --no-mount",
        "roe node --ikc-listen 127.0.0.1:0 --registry 127.0.0.1:0,0,0 --join 'proto ikc'",
    ],
);

const BENCH: Command = Command {
    name: "bench",
    summary: "run the benchmark workloads on roe, one line per result",
    usage: &["roe bench [--only <a,b,...>] [--scale <f>] [--json]"],
    options: &[
        Opt {
            long: "only",
            value: Some("<a,b,...>"),
            help: "run only the workloads whose names contain one of these",
            complete: Complete::Words(&crate::suite::NAMES),
        },
        valued(
            "scale",
            "<f>",
            "multiply every count by f (above 0, at most 1000; default 1)",
        ),
        flag(
            "json",
            "print each result as one JSON object per line instead of key=value",
        ),
    ],
    words: Complete::Nothing,
    subcommands: &[],
    about: "\
Each result is a line `workload=<name> impl=roe ops=<n> secs=<s> ops_per_sec=<x>`,
plus `p50_us=<x> p99_us=<x>` where round trips (or fan-outs) are timed, and
`cpu_secs=<x> rate_basis=cpu` where the rate is per CPU-second (W4).

With --json each result is one JSON object on a line of its own (JSON
Lines) holding the same results: \"name\", \"impl\", \"unit\", \"value\" (the
ops_per_sec), \"ops\" and \"secs\", then \"p50_us\" and \"p99_us\", \"cpu_secs\"
and \"rate_basis\" exactly where the line has them. The unit is \"ops/s\", or
\"ops/cpu-s\" where the rate is per CPU-second. roe alone is measured: there
are no peers or ratios. A workload that fails is reported on stderr and the
command exits 1 after running the rest.",
    more: Some(crate::suite::workloads_help),
    examples: &[
        "roe bench --only w1,w4 --scale 0.1",
        "roe bench --scale 0.01 --json",
    ],
};

/// The options every `roe ikc` request takes.
const IKC_OPTIONS: &[Opt] = &[
    valued("to", "<host:port>", "the server's TCP address"),
    path(
        "unix",
        "<path>",
        Complete::File,
        "the server's Unix socket instead",
    ),
    valued(
        "timeout",
        "<secs>",
        "how long to wait for the connection and the answer (default 30)",
    ),
    path(
        "key-file",
        "<path>",
        Complete::File,
        "read the server's pre-shared key from a file (less one trailing newline)",
    ),
    valued(
        "key",
        "<key>",
        "the key itself (other local users see it; prefer --key-file or ROE_IKC_KEY)",
    ),
];

/// What `roe ikc --help` says, and the help of each request after its
/// options.
const IKC_ABOUT: &str = "\
SPEC is poe://kernel/session/state (the kernel empty, `*` or the server's
name), or session/state on the server. ARG is one JSON value, sent as the
event's one argument; without it there are none. Without --key-file or
--key, the key is the environment's ROE_IKC_KEY, if set.

call prints the value returned as one line of JSON; post prints nothing, and
fails if the server refuses the post; ping prints {\"server\":NAME,\"micros\":N}.
A failure, the server's refusal included, goes to stderr with exit status 1.";

const IKC: Command = Command {
    name: "ikc",
    summary: "post to, call or ping an IKC server (roe's native wire)",
    usage: &[
        "roe ikc call (--to HOST:PORT | --unix PATH) [options] SPEC [ARG]",
        "roe ikc post (--to HOST:PORT | --unix PATH) [options] SPEC [ARG]",
        "roe ikc ping (--to HOST:PORT | --unix PATH) [options]",
    ],
    options: &[],
    words: Complete::Nothing,
    subcommands: &[
        leaf(
            "call",
            "call a published state and print what it returns, as JSON",
            &["roe ikc call (--to HOST:PORT | --unix PATH) [options] SPEC [ARG]"],
            IKC_OPTIONS,
            Complete::Nothing,
            "",
            &[
                "roe ikc call --to 127.0.0.1:6030 poe://roe-node/node/ping",
                "roe ikc call --unix /run/app.sock --key-file key app/add '[1,2]'",
            ],
        ),
        leaf(
            "post",
            "post an event to a published state, and print nothing",
            &["roe ikc post (--to HOST:PORT | --unix PATH) [options] SPEC [ARG]"],
            IKC_OPTIONS,
            Complete::Nothing,
            "",
            &["roe ikc post --to 127.0.0.1:6030 node/ping '\"hello\"'"],
        ),
        leaf(
            "ping",
            "ping the server, and print its name and the round trip",
            &["roe ikc ping (--to HOST:PORT | --unix PATH) [options]"],
            IKC_OPTIONS,
            Complete::Nothing,
            "",
            &["roe ikc ping --to 127.0.0.1:6030 --timeout 5"],
        ),
    ],
    about: IKC_ABOUT,
    more: None,
    examples: &["roe ikc ping --to 127.0.0.1:6030"],
};

/// What ADDR is, and how a failure shows: for `roe registry --help`, and
/// the help of each registry command after its own text.
const REGISTRY_ABOUT: &str = "\
ADDR is HOST or HOST:NEW,FIND,EVENT (an IPv6 host in brackets); HOST alone
means the ports 6701,6702,6703, and the default is 127.0.0.1. A failure, a
refusal from the registry included, goes to stderr with exit status 1.";

/// `--at`, as every registry client command takes it.
const AT: Opt = valued("at", "<addr>", "the registry to ask (default 127.0.0.1)");

/// `--token`, as `register` and `remove` take it.
const TOKEN: Opt = valued(
    "token",
    "<secret>",
    "the owner token: only `remove --token SECRET` takes the service away",
);

const REGISTRY: Command = Command {
    name: "registry",
    summary: "serve a service registry, or find, watch, register or remove services",
    usage: &[
        "roe registry serve [--listen ADDR] [--ports NEW,FIND,EVENT] [--state FILE]",
        "    [--backend etcd=http://HOST:PORT [--etcd-prefix P] [--etcd-lease SECS]]",
        "roe registry find [--at ADDR] [ATTR VALUE]...",
        "roe registry watch [--at ADDR] [--since REVISION] [ATTR VALUE]...",
        "roe registry register [--at ADDR] [--token SECRET] NAME [ATTR VALUE]...",
        "roe registry remove [--at ADDR] [--token SECRET] NAME",
    ],
    options: &[],
    words: Complete::Nothing,
    subcommands: &[
        leaf(
            "serve",
            "serve a registry until SIGINT or SIGTERM",
            &[
                "roe registry serve [--listen ADDR] [--ports NEW,FIND,EVENT] [--state FILE]",
                "    [--backend etcd=http://HOST:PORT [--etcd-prefix P] [--etcd-lease SECS]]",
            ],
            &[
                valued("listen", "<addr>", "where to serve (default 127.0.0.1)"),
                valued(
                    "ports",
                    "<new,find,event>",
                    "the three ports, in place of ADDR's (0: any free port)",
                ),
                path(
                    "state",
                    "<file>",
                    Complete::File,
                    "keep the persistent services in this file",
                ),
                valued(
                    "backend",
                    "<etcd=URL>",
                    "keep the services in etcd at URL (http://HOST:PORT), shared with other servers",
                ),
                valued(
                    "etcd-prefix",
                    "<p>",
                    "with --backend: the keys' prefix (default roe-registry/); servers sharing one share services",
                ),
                valued(
                    "etcd-lease",
                    "<secs>",
                    "with --backend: how long (whole seconds, default 10) a dead server's services outlive it",
                ),
            ],
            Complete::Nothing,
            "\
serve prints `registry <ip>:<new>,<find>,<event>` and runs until SIGINT or
SIGTERM, keeping its persistent services in FILE if given (with --backend,
in etcd, and --state is refused).",
            &[
                "roe registry serve --listen 0.0.0.0 --state registry.state",
                "roe registry serve --ports 0,0,0 --backend etcd=http://127.0.0.1:2379",
            ],
        ),
        leaf(
            "find",
            "print the services that match, one line each",
            &["roe registry find [--at ADDR] [ATTR VALUE]..."],
            &[AT],
            Complete::Nothing,
            "\
find prints every service without ATTR VALUE; a VALUE * matches any value.",
            &[
                "roe registry find proto ikc",
                "roe registry find --at 10.0.0.5 proto '*'",
            ],
        ),
        leaf(
            "watch",
            "print a line per change to the services that match",
            &["roe registry watch [--at ADDR] [--since REVISION] [ATTR VALUE]..."],
            &[
                AT,
                valued(
                    "since",
                    "<revision>",
                    "print the changes after this revision instead of the services now",
                ),
            ],
            Complete::Nothing,
            "\
watch prints the services that match now (or, with --since, the changes
after that revision) as `<revision> add|update|remove <service>` lines, then
`<revision> sync`, then a line per change, until interrupted.",
            &[
                "roe registry watch proto ikc",
                "roe registry watch --since 42",
            ],
        ),
        leaf(
            "register",
            "register a service and hold it until interrupted",
            &["roe registry register [--at ADDR] [--token SECRET] NAME [ATTR VALUE]..."],
            &[AT, TOKEN],
            Complete::Nothing,
            "\
register prints `registered NAME` once the registry has it and holds it
until interrupted; with `persist 1` among the attributes it stays after
that.",
            &[
                "roe registry register echo proto tcp addr 127.0.0.1:7000",
                "roe registry register --token s3cret db persist 1",
            ],
        ),
        leaf(
            "remove",
            "remove a service whose connection has gone",
            &["roe registry remove [--at ADDR] [--token SECRET] NAME"],
            &[AT, TOKEN],
            Complete::Nothing,
            "\
remove prints `removed NAME` once the registry has taken it away.",
            &["roe registry remove --token s3cret db"],
        ),
    ],
    about: REGISTRY_ABOUT,
    more: None,
    examples: &["roe registry serve", "roe registry find proto ikc"],
};

const COMPLETIONS: Command = leaf(
    "completions",
    "print a completion script for bash, zsh or fish",
    &["roe completions bash|zsh|fish"],
    &[],
    Complete::Words(&["bash", "zsh", "fish"]),
    "\
The script completes every command, option and, where it can, value
(files, directories, workload names). Load it in the shell's way: bash
`source <(roe completions bash)`; zsh a file `_roe` in a directory of
$fpath; fish a file `roe.fish` in ~/.config/fish/completions.",
    &[
        "roe completions bash > ~/.local/share/bash-completion/completions/roe",
        "roe completions fish > ~/.config/fish/completions/roe.fish",
    ],
);

const HELP: Command = leaf(
    "help",
    "print this text, or a command's usage, options and examples",
    &["roe help [<command> [<subcommand>]]"],
    &[],
    Complete::Commands,
    "",
    &["roe help node", "roe help registry serve"],
);
