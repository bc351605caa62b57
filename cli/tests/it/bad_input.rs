//! The bad-input corpus: one real git repository per case, run through the
//! real binary. Every case must exit 2 (bad input, nothing touched), must not
//! panic, and must say in which file (and, where it has one, on which line)
//! the problem is and what it is.
//!
//! The base repository is `examples/quickstart` with an inventory whose only
//! host is `127.0.0.1` port 1, where nobody listens: a case run through
//! `plan` or `apply` that tried to reach a host would exit 4, not 2.

use std::path::Path;

use crate::support::repo::ConfigRepo;
use crate::support::{run, schedfleet, stderr};

const INVENTORY: &str =
    "hosts:\n  h1: { address: 127.0.0.1, port: 1, labels: { rack: r1 } }\ngroups:\n  gpu: { hosts: [h1] }\n";
const FLEET: &str = "assignments:\n  - hosts: all\n    scheduler: simple\n    params: { slice_ns: 3000000 }\n";

/// What a case puts at a path of the repository.
#[derive(Clone, Copy)]
enum Content {
    Text(&'static str),
    Bytes(&'static [u8]),
    /// A YAML file just over the size limit, valid apart from its size.
    Huge,
    /// A symbolic link to this target, committed as a link.
    Symlink(&'static str),
    /// The path removed.
    Absent,
}

use Content::{Absent, Bytes, Huge, Symlink, Text};

#[derive(Clone, Copy, Debug)]
enum Cmd {
    Validate,
    Plan,
    Apply,
}

/// Where `--repo` points.
#[derive(Clone, Copy)]
enum Dir {
    /// The case's git repository.
    Repo,
    /// A copy of the case's files in a directory that no git repository holds.
    NotGit,
}

struct Case {
    name: &'static str,
    /// Written over the base repository, then committed.
    files: &'static [(&'static str, Content)],
    /// Written after the commit: in the working tree only, never to be read.
    uncommitted: &'static [(&'static str, Content)],
    args: &'static [&'static str],
    cmds: &'static [Cmd],
    dir: Dir,
    /// Substrings stderr must hold: the file, the line, what is wrong.
    expect: &'static [&'static str],
}

const VALIDATE: &[Cmd] = &[Cmd::Validate];
const EVERY: &[Cmd] = &[Cmd::Validate, Cmd::Plan, Cmd::Apply];
const REMOTE: &[Cmd] = &[Cmd::Plan, Cmd::Apply];

const CASE: Case =
    Case { name: "", files: &[], uncommitted: &[], args: &[], cmds: VALIDATE, dir: Dir::Repo, expect: &[] };

fn fleet_with(extra: &str) -> String {
    format!("{FLEET}{extra}")
}

const CASES: &[Case] = &[
    // YAML syntax.
    Case {
        name: "yaml: mapping key inside a list",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\n  oops: 1\n"))],
        expect: &["fleet.yaml", "line 4", "expected '-'"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "yaml: tab indentation",
        files: &[("inventory.yaml", Text("hosts:\n\th1: { address: 127.0.0.1 }\n"))],
        expect: &["inventory.yaml", "line 2", "tabs"],
        ..CASE
    },
    Case {
        name: "yaml: unclosed flow mapping",
        files: &[("schedulers/simple.yaml", Text("source: builtin:simple\nparams: { slice_ns: { type: u64 }\n"))],
        expect: &["schedulers/simple.yaml", "line 2", "unclosed bracket"],
        ..CASE
    },
    Case {
        name: "yaml: two documents in one file",
        files: &[("fleet.yaml", Text("assignments: []\n---\nassignments: []\n"))],
        expect: &["fleet.yaml", "line 3", "multiple"],
        ..CASE
    },
    Case {
        name: "yaml: alias bomb",
        files: &[(
            "fleet.yaml",
            Text("vars:\n  a: &a [x,x,x,x,x,x,x,x,x,x]\n  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\nassignments:\n  - hosts: all\n    scheduler: simple\n"),
        )],
        expect: &["fleet.yaml", "too large or too complex"],
        ..CASE
    },
    // Unknown keys, at every level.
    Case {
        name: "unknown key: fleet",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nrolout: {}\n"))],
        expect: &["fleet.yaml", "line 4", "unknown field `rolout`"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "unknown key: assignment",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    schedulr: simple\n"))],
        expect: &["fleet.yaml", "line 3", "unknown field `schedulr`"],
        ..CASE
    },
    Case {
        name: "unknown key: rollout",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  wave: [1]\n"))],
        expect: &["fleet.yaml", "line 5", "unknown field `wave`", "waves"],
        ..CASE
    },
    Case {
        name: "unknown key: failure_budget",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  failure_budget:\n    per_wave: 0\n    totl: 1\n"),
        )],
        expect: &["fleet.yaml", "line 7", "unknown field `totl`", "total"],
        ..CASE
    },
    Case {
        name: "unknown key: health",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probe: []\n"))],
        expect: &["fleet.yaml", "line 5", "unknown field `probe`", "probes"],
        ..CASE
    },
    Case {
        name: "unknown key: probe",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - name: up\n      http: http://127.0.0.1/\n      timout: 2s\n"),
        )],
        expect: &["fleet.yaml", "line 8", "unknown field `timout`", "timeout"],
        ..CASE
    },
    Case {
        name: "unknown key: inventory defaults",
        files: &[("inventory.yaml", Text("defaults:\n  usr: root\nhosts:\n  h1: { address: 127.0.0.1 }\n"))],
        expect: &["inventory.yaml", "line 2", "unknown field `usr`", "user"],
        ..CASE
    },
    Case {
        name: "unknown key: inventory host",
        files: &[("inventory.yaml", Text("hosts:\n  h1:\n    adress: 127.0.0.1\n"))],
        expect: &["inventory.yaml", "line 3", "unknown field `adress`", "address"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "unknown key: inventory group",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1 }\ngroups:\n  gpu:\n    host: [h1]\n"))],
        expect: &["inventory.yaml", "line 5", "unknown field `host`", "hosts"],
        ..CASE
    },
    Case {
        name: "unknown key: scheduler file",
        files: &[("schedulers/simple.yaml", Text("source: builtin:simple\nparam: {}\n"))],
        expect: &["schedulers/simple.yaml", "line 2", "unknown field `param`", "params"],
        ..CASE
    },
    Case {
        name: "unknown key: parameter declaration",
        files: &[("schedulers/simple.yaml", Text("source: builtin:simple\nparams:\n  slice_ns:\n    type: u64\n    dflt: 5\n"))],
        expect: &["schedulers/simple.yaml", "line 5", "unknown field `dflt`", "default"],
        ..CASE
    },
    Case {
        name: "unknown key: group override file",
        files: &[("groups/gpu.yaml", Text("varz: {}\n"))],
        expect: &["groups/gpu.yaml", "line 1", "unknown field `varz`", "vars"],
        ..CASE
    },
    Case {
        name: "unknown key: host override file",
        files: &[("hosts/h1.yaml", Text("vars: {}\nparms: {}\n"))],
        expect: &["hosts/h1.yaml", "line 2", "unknown field `parms`", "params"],
        ..CASE
    },
    // Wrong types.
    Case {
        name: "wrong type: scheduler is a list",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: [simple]\n"))],
        expect: &["fleet.yaml", "line 3", "string"],
        ..CASE
    },
    Case {
        name: "wrong type: assignments is a number",
        files: &[("fleet.yaml", Text("assignments: 5\n"))],
        expect: &["fleet.yaml", "line 1", "sequence"],
        ..CASE
    },
    Case {
        name: "wrong type: port is a word",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1, port: lots }\n"))],
        expect: &["inventory.yaml", "line 2", "u16"],
        ..CASE
    },
    Case {
        name: "wrong type: parameter is a list",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: [1]\n"))],
        expect: &["fleet.yaml", "line 5", "not a list"],
        ..CASE
    },
    Case {
        name: "wrong type: parameter is a float",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: 1.5\n"))],
        expect: &["fleet.yaml", "line 5", "`1.5` is not an integer"],
        ..CASE
    },
    Case {
        name: "wrong type: parameter is a quoted number",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: \"3000000\"\n"))],
        expect: &["fleet.yaml", "line 5", "must be an integer", "string"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "wrong type: parameter type does not exist",
        files: &[("schedulers/simple.yaml", Text("source: builtin:simple\nparams:\n  slice_ns: { type: float }\n"))],
        expect: &["schedulers/simple.yaml", "line 3", "unknown variant `float`", "u64"],
        ..CASE
    },
    // Duplicate keys.
    Case {
        name: "duplicate key: assignment",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\n    hosts: h1\n"))],
        expect: &["fleet.yaml", "line 4", "duplicate", "`hosts`"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "duplicate key: inventory host",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1 }\n  h1: { address: 127.0.0.2 }\n"))],
        expect: &["inventory.yaml", "line 3", "duplicate", "`h1`"],
        ..CASE
    },
    // Empty, huge and non-UTF-8 files.
    Case { name: "empty fleet.yaml", files: &[("fleet.yaml", Text(""))], expect: &["`fleet.yaml` is empty"], ..CASE },
    Case {
        name: "inventory.yaml of comments only",
        files: &[("inventory.yaml", Text("# hosts: to do\n\n---\n"))],
        expect: &["`inventory.yaml` is empty"],
        ..CASE
    },
    Case {
        name: "empty scheduler file",
        files: &[("schedulers/simple.yaml", Text("   \n"))],
        expect: &["`schedulers/simple.yaml` is empty"],
        ..CASE
    },
    Case {
        name: "huge fleet.yaml",
        files: &[("fleet.yaml", Huge)],
        expect: &["`fleet.yaml` is 41", "bytes; config files are limited to 4194304"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "non-UTF-8 bytes",
        files: &[("fleet.yaml", Bytes(b"assignments:\n  - hosts: all\n    scheduler: simpl\xe9\n"))],
        expect: &["`fleet.yaml` line 3", "not valid UTF-8"],
        ..CASE
    },
    // Templates (rendered by `validate`; `plan` and `apply` render with each host's facts).
    Case {
        name: "template: undefined variable",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: \"{{ slice_base * 1000 }}\"\n"),
        )],
        expect: &["`fleet.yaml` line 5", "host `h1`", "slice_ns", "undefined", "vars"],
        ..CASE
    },
    Case {
        name: "template: undefined fact",
        files: &[(
            "hosts/h1.yaml",
            Text("params:\n  slice_ns: \"{{ 100000 * facts.gpus }}\"\n"),
        )],
        expect: &["`hosts/h1.yaml` line 2", "slice_ns", "undefined"],
        ..CASE
    },
    Case {
        name: "template: syntax error",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: \"{{ 3000000 if facts.cpus > 8 }\"\n"),
        )],
        expect: &["`fleet.yaml` line 5", "slice_ns", "syntax error"],
        ..CASE
    },
    Case {
        name: "template: renders a value out of range",
        files: &[(
            "fleet.yaml",
            Text("vars: { slice_us: 5 }\nassignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: \"{{ slice_us * 1000 }}\"\n"),
        )],
        expect: &["`fleet.yaml` line 6", "slice_ns", "5000 is outside 100000..=100000000"],
        ..CASE
    },
    Case {
        name: "template: renders a value of the wrong type",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: \"{{ host.name }}\"\n"),
        )],
        expect: &["`fleet.yaml` line 5", "slice_ns", "must be an integer", "h1"],
        ..CASE
    },
    Case {
        name: "template: include",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: \"{% include '/etc/passwd' %}\"\n"),
        )],
        expect: &["`fleet.yaml` line 5", "include", "cannot load other templates or files"],
        ..CASE
    },
    Case {
        name: "template: import",
        files: &[("groups/gpu.yaml", Text("params:\n  slice_ns: \"{% import 'm.j2' as m %}{{ m.slice }}\"\n"))],
        expect: &["`groups/gpu.yaml` line 2", "import", "cannot load other templates or files"],
        ..CASE
    },
    Case {
        name: "reserved variable: host in fleet vars",
        files: &[("fleet.yaml", Text("vars:\n  host: gpu\nassignments:\n  - hosts: all\n    scheduler: simple\n"))],
        expect: &["`fleet.yaml` line 2", "variable `host` is reserved", "rename"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "reserved variable: facts in a host file",
        files: &[("hosts/h1.yaml", Text("vars:\n  facts: {}\n"))],
        expect: &["`hosts/h1.yaml` line 2", "variable `facts` is reserved"],
        ..CASE
    },
    Case {
        name: "reserved variable: facts in inventory host vars",
        files: &[("inventory.yaml", Text("hosts:\n  h1:\n    address: 127.0.0.1\n    vars:\n      facts: 1\n"))],
        expect: &["`inventory.yaml` line 5", "host `h1`", "variable `facts` is reserved"],
        ..CASE
    },
    // Host patterns.
    Case {
        name: "pattern: whole pattern matches nothing",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: \"gpu-*\"\n    scheduler: simple\n"))],
        expect: &["`fleet.yaml` line 2", "`gpu-*` matches no host"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "pattern: one term matches nothing",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\n  - hosts: \"h1:h2\"\n    scheduler: simple\n"))],
        expect: &["`fleet.yaml` line 4", "assignment 2", "`h2` matches no host"],
        ..CASE
    },
    Case {
        name: "pattern: selection ends up empty",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: \"gpu:!h1\"\n    scheduler: simple\n"))],
        expect: &["`fleet.yaml` line 2", "selects no host", "`!h1`"],
        ..CASE
    },
    Case {
        name: "pattern: only &",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: \"&gpu\"\n    scheduler: simple\n"))],
        expect: &["`fleet.yaml` line 2", "selects nothing to intersect with", "all:&gpu"],
        ..CASE
    },
    Case {
        name: "pattern: only !",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: \"!h1:!gpu\"\n    scheduler: simple\n"))],
        expect: &["`fleet.yaml` line 2", "selects nothing to exclude from"],
        ..CASE
    },
    Case {
        name: "pattern: shell metacharacters",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: \"h1;reboot\"\n    scheduler: simple\n"))],
        expect: &["`fleet.yaml` line 2", "`;` at column 3", "not allowed"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "pattern: command substitution",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: \"$(reboot)\"\n    scheduler: simple\n"))],
        expect: &["`fleet.yaml` line 2", "`$` at column 1", "not allowed"],
        ..CASE
    },
    Case {
        name: "pattern: --limit matches nothing",
        args: &["--limit", "web-*"],
        cmds: REMOTE,
        expect: &["--limit", "`web-*` matches no host"],
        ..CASE
    },
    Case {
        name: "pattern: --limit with shell metacharacters",
        args: &["--limit", "h1|reboot"],
        cmds: REMOTE,
        expect: &["--limit", "`|` at column 3", "not allowed"],
        ..CASE
    },
    // Schedulers and their objects.
    Case {
        name: "scheduler: file missing",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: fast\n"))],
        expect: &["`fleet.yaml` line 3", "`schedulers/fast.yaml` is not in the commit"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "scheduler: name that is a path",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: ../../etc/x\n"))],
        expect: &["`fleet.yaml` line 3", "scheduler name `../../etc/x` is not valid"],
        ..CASE
    },
    Case {
        name: "scheduler: unknown builtin",
        files: &[("schedulers/simple.yaml", Text("# fast\nsource: builtin:rusty\n"))],
        expect: &["`schedulers/simple.yaml` line 2", "no builtin scheduler `rusty`", "simple"],
        ..CASE
    },
    Case {
        name: "scheduler: unknown source kind",
        files: &[("schedulers/simple.yaml", Text("source: https://example.com/x.bpf.o\n"))],
        expect: &["`schedulers/simple.yaml` line 1", "must be `builtin:NAME`, `object:PATH` or `scx:BINARY`"],
        ..CASE
    },
    Case {
        name: "scheduler: object path with ..",
        files: &[("schedulers/simple.yaml", Text("source: object:../../etc/passwd\n"))],
        expect: &["`schedulers/simple.yaml` line 1", "leaves the config directory"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "scheduler: absolute object path",
        files: &[("schedulers/simple.yaml", Text("\nsource: object:/etc/passwd\n"))],
        expect: &["`schedulers/simple.yaml` line 2", "`/etc/passwd` leaves the config directory"],
        ..CASE
    },
    Case {
        name: "scheduler: object is a committed symlink pointing outside",
        files: &[
            ("bpf/evil.bpf.o", Symlink("/etc/passwd")),
            ("schedulers/simple.yaml", Text("source: object:bpf/evil.bpf.o\n")),
        ],
        expect: &["`schedulers/simple.yaml` line 1", "`bpf/evil.bpf.o` is a symbolic link"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "scheduler: object under a committed symlinked directory",
        files: &[("bpf", Symlink("/etc")), ("schedulers/simple.yaml", Text("source: object:bpf/passwd\n"))],
        expect: &["`schedulers/simple.yaml` line 1", "`bpf/passwd` is not in the commit"],
        ..CASE
    },
    Case {
        name: "scheduler: the scheduler file is a committed symlink",
        files: &[("schedulers/simple.yaml", Symlink("/etc/passwd"))],
        expect: &["`schedulers/simple.yaml` is a symbolic link"],
        ..CASE
    },
    Case {
        name: "scheduler: object file missing",
        files: &[("schedulers/simple.yaml", Text("source: object:bpf/simple.bpf.o\n"))],
        expect: &["`schedulers/simple.yaml` line 1", "`bpf/simple.bpf.o` is not in the commit"],
        ..CASE
    },
    Case {
        name: "scheduler: object that is not a BPF object",
        files: &[
            ("bpf/simple.bpf.o", Text("#!/bin/sh\nreboot\n")),
            ("schedulers/simple.yaml", Text("source: object:bpf/simple.bpf.o\n")),
        ],
        expect: &["`schedulers/simple.yaml` line 1", "`bpf/simple.bpf.o` is not a BPF object"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "scheduler: object path with ./",
        files: &[("schedulers/simple.yaml", Text("source: object:./schedulers/simple.yaml\n"))],
        expect: &["`schedulers/simple.yaml` line 1", "`./schedulers/simple.yaml` is not a BPF object"],
        ..CASE
    },
    Case {
        name: "scheduler: object: with no path",
        files: &[("schedulers/simple.yaml", Text("source: \"object:\"\n"))],
        expect: &["`schedulers/simple.yaml` line 1", "`object:` names nothing", "object:PATH"],
        ..CASE
    },
    Case {
        name: "scheduler: upstream scx binary",
        files: &[("schedulers/simple.yaml", Text("source: scx:scx_bpfland\n"))],
        expect: &["`schedulers/simple.yaml` line 1", "not deployable"],
        ..CASE
    },
    // Hostile names in the inventory.
    Case {
        name: "inventory: host name starting with -",
        files: &[("inventory.yaml", Text("hosts:\n  \"-oProxyCommand=touch /tmp/x\": {}\n"))],
        expect: &["`inventory.yaml` line 2", "`-oProxyCommand=touch /tmp/x` is not a valid host name"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "inventory: host name with a space",
        files: &[("inventory.yaml", Text("hosts:\n  \"h1 h2\": { address: 127.0.0.1 }\n"))],
        expect: &["`inventory.yaml` line 2", "`h1 h2` is not a valid host name"],
        ..CASE
    },
    Case {
        name: "inventory: host name with ;",
        files: &[("inventory.yaml", Text("hosts:\n  \"h1;reboot\": { address: 127.0.0.1 }\n"))],
        expect: &["`inventory.yaml` line 2", "`h1;reboot` is not a valid host name"],
        ..CASE
    },
    Case {
        name: "inventory: address starting with -",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: \"-oProxyCommand=x\" }\n"))],
        expect: &["`inventory.yaml` line 2", "host `h1`", "`-oProxyCommand=x` is neither a host name nor an IP address"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "inventory: address with ;",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: \"127.0.0.1;reboot\" }\n"))],
        expect: &["`inventory.yaml` line 2", "host `h1`", "neither a host name nor an IP address"],
        ..CASE
    },
    Case {
        name: "inventory: user starting with -",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1, user: \"-oProxyCommand=x\" }\n"))],
        expect: &["`inventory.yaml` line 2", "host `h1`", "not a valid user name"],
        ..CASE
    },
    Case {
        name: "inventory: default user with a space",
        files: &[("inventory.yaml", Text("defaults: { user: \"root -p 2\" }\nhosts:\n  h1: { address: 127.0.0.1 }\n"))],
        expect: &["`inventory.yaml` line 1", "host `h1`", "`root -p 2` is not a valid user name"],
        ..CASE
    },
    Case {
        name: "inventory: one address for every host",
        files: &[("inventory.yaml", Text("defaults:\n  user: ops\n  address: 127.0.0.1\nhosts:\n  h1: {}\n"))],
        expect: &["`inventory.yaml` line 3", "`defaults.address` would give every host the same address"],
        ..CASE
    },
    Case {
        name: "inventory: port 0",
        files: &[("inventory.yaml", Text("hosts:\n  h1:\n    address: 127.0.0.1\n    port: 0\n"))],
        expect: &["`inventory.yaml` line 4", "host `h1`", "port 0"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "inventory: port out of range",
        files: &[("inventory.yaml", Text("hosts:\n  h1:\n    address: 127.0.0.1\n    port: 65536\n"))],
        expect: &["inventory.yaml", "line 4", "u16"],
        ..CASE
    },
    Case {
        name: "inventory: label key with bad characters",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1, labels: { \"rack;id\": r1 } }\n"))],
        expect: &["`inventory.yaml` line 2", "host `h1`", "label key `rack;id`"],
        ..CASE
    },
    Case {
        name: "inventory: group cycle",
        files: &[(
            "inventory.yaml",
            Text("hosts:\n  h1: { address: 127.0.0.1 }\ngroups:\n  a: { children: [b] }\n  b: { children: [a], hosts: [h1] }\n"),
        )],
        expect: &["inventory.yaml", "cycle", "a -> b -> a"],
        ..CASE
    },
    Case {
        name: "inventory: group member that does not exist",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1 }\ngroups:\n  gpu: { hosts: [h1, h2] }\n"))],
        expect: &["inventory.yaml", "group `gpu`", "`h2`, which is not in the inventory"],
        ..CASE
    },
    Case {
        name: "inventory: child group that does not exist",
        files: &[("inventory.yaml", Text("hosts:\n  h1: { address: 127.0.0.1 }\ngroups:\n  gpu: { children: [cpu] }\n"))],
        expect: &["inventory.yaml", "group `gpu`", "`cpu`, which is not defined"],
        ..CASE
    },
    Case {
        name: "inventory: no hosts",
        files: &[("inventory.yaml", Text("hosts: {}\n"))],
        expect: &["`inventory.yaml` line 1 lists no hosts"],
        ..CASE
    },
    Case {
        name: "override: group file for an unknown group",
        files: &[("groups/cpu.yaml", Text("vars: {}\n"))],
        expect: &["`groups/cpu.yaml`", "no group `cpu`"],
        ..CASE
    },
    Case {
        name: "override: host file for an unknown host",
        files: &[("hosts/h2.yaml", Text("vars: {}\n"))],
        expect: &["`hosts/h2.yaml`", "no host `h2`"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "override: groups is a file, not a directory",
        files: &[("groups", Text("gpu: {}\n"))],
        expect: &["`groups` is a file in the repository, not a directory"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "override: host file is a committed symlink",
        files: &[("hosts/h1.yaml", Symlink("/etc/hostname"))],
        expect: &["`hosts/h1.yaml` is a symbolic link"],
        ..CASE
    },
    Case {
        name: "override: host file not named .yaml",
        files: &[("hosts/h1.yml", Text("vars: {}\n"))],
        expect: &["`hosts/h1.yml`", "only `<name>.yaml` files"],
        ..CASE
    },
    // Durations, percentages, waves.
    Case {
        name: "duration: bare number",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  bake: 30\n"))],
        expect: &["fleet.yaml", "line 5", "`30` is not a duration", "needs a unit"],
        ..CASE
    },
    Case {
        name: "duration: space before the unit",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  bake: 5 s\n"))],
        expect: &["fleet.yaml", "line 5", "`5 s` is not a duration", "no spaces"],
        ..CASE
    },
    Case {
        name: "duration: fraction",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - { name: up, command: [true], timeout: 1.5s }\n"),
        )],
        expect: &["fleet.yaml", "line 6", "`1.5s` is not a duration", "1500ms"],
        ..CASE
    },
    Case {
        name: "percentage: over 100",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  waves: [1, \"101%\"]\n"))],
        expect: &["fleet.yaml", "line 5", "`101%` is more than 100%"],
        ..CASE
    },
    Case {
        name: "percentage: without %",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  failure_budget: { total: \"10\" }\n"),
        )],
        expect: &["fleet.yaml", "line 5", "quoted number", "\"10%\""],
        ..CASE
    },
    Case {
        name: "host count: negative",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  failure_budget: { per_wave: -1 }\n"),
        )],
        expect: &["fleet.yaml", "line 5", "`-1` is negative"],
        ..CASE
    },
    Case {
        name: "waves: empty",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  waves: []\n"))],
        expect: &["`fleet.yaml` line 5", "`rollout.waves` is empty"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "waves: a zero-size wave",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  waves:\n    - 1\n    - \"0%\"\n    - \"100%\"\n"),
        )],
        expect: &["`fleet.yaml` line 7", "empty wave `0%`"],
        ..CASE
    },
    Case {
        name: "rollout: no bake between waves",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  bake: 0s\n"))],
        expect: &["`fleet.yaml` line 5", "`rollout.bake` is 0s"],
        ..CASE
    },
    Case {
        name: "rollout: unknown on_failure",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  on_failure: ignore\n"))],
        expect: &["fleet.yaml", "line 5", "unknown variant `ignore`", "rollback, freeze"],
        ..CASE
    },
    // Health probes.
    Case {
        name: "probes: duplicate names",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - { name: up, command: [true] }\n    - { name: up, http: \"http://127.0.0.1/\" }\n"),
        )],
        expect: &["`fleet.yaml` line 7", "two probes are named `up`"],
        ..CASE
    },
    Case {
        name: "probes: neither command nor http",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - name: up\n"))],
        expect: &["`fleet.yaml` line 6", "probe `up` needs exactly one of `command`", "`http`"],
        ..CASE
    },
    Case {
        name: "probes: both command and http",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - { name: up, command: [true], http: \"http://127.0.0.1/\" }\n"),
        )],
        expect: &["`fleet.yaml` line 6", "probe `up` needs exactly one of"],
        ..CASE
    },
    Case {
        name: "probes: URL that is not http",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - { name: up, http: \"file:///etc/shadow\" }\n"),
        )],
        expect: &["`fleet.yaml` line 6", "`file:///etc/shadow` is not an http:// URL"],
        ..CASE
    },
    Case {
        name: "health: max_events names no event",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  max_events:\n    DISPATCH: 1\n"))],
        expect: &["`fleet.yaml` line 6", "`DISPATCH` is not a sched_ext event name"],
        ..CASE
    },
    // Parameters.
    Case {
        name: "param: not declared, in fleet.yaml",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice: 3\n"))],
        expect: &["`fleet.yaml` line 5", "declares no parameter `slice`", "slice_ns"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "param: not declared, in a group file",
        files: &[("groups/gpu.yaml", Text("vars: {}\nparams:\n  slice: 3\n"))],
        expect: &["`groups/gpu.yaml` line 3", "declares no parameter `slice`", "schedulers/simple.yaml"],
        ..CASE
    },
    Case {
        name: "param: out of range, in a host file",
        files: &[("hosts/h1.yaml", Text("params:\n  slice_ns: 1\n"))],
        expect: &["`hosts/h1.yaml` line 2", "`slice_ns` = 1 is outside 100000..=100000000"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "param: default outside min and max",
        files: &[(
            "schedulers/simple.yaml",
            Text("source: builtin:simple\nparams:\n  slice_ns:\n    type: u64\n    default: 50\n    min: 100000\n"),
        )],
        expect: &["`schedulers/simple.yaml` line 5", "default", "`slice_ns` = 50 is outside"],
        ..CASE
    },
    Case {
        name: "param: min above max",
        files: &[(
            "schedulers/simple.yaml",
            Text("source: builtin:simple\nparams:\n  slice_ns: { type: u64, min: 1000, max: 10 }\n"),
        )],
        expect: &["`schedulers/simple.yaml` line 3", "`min` and `max` leave no value"],
        ..CASE
    },
    // The repository itself.
    Case {
        name: "repo: --rev that does not exist",
        args: &["--rev", "no-such-branch"],
        cmds: EVERY,
        expect: &["revision `no-such-branch` not found"],
        ..CASE
    },
    Case {
        name: "repo: not a git repository",
        dir: Dir::NotGit,
        cmds: EVERY,
        expect: &["is not inside a git repository", "committed"],
        ..CASE
    },
    Case {
        name: "repo: fleet.yaml only in the working tree",
        files: &[("fleet.yaml", Absent)],
        uncommitted: &[("fleet.yaml", Text(FLEET))],
        cmds: EVERY,
        expect: &["`fleet.yaml` is not in commit", "commit it first"],
        ..CASE
    },
    Case {
        name: "repo: inventory.yaml only in the working tree",
        files: &[("inventory.yaml", Absent)],
        uncommitted: &[("inventory.yaml", Text(INVENTORY))],
        expect: &["`inventory.yaml` is not in commit"],
        ..CASE
    },
];

fn put(repo: &ConfigRepo, path: &str, content: Content) {
    let full = repo.path().join(path);
    match content {
        Text(text) => repo.write(path, text),
        Bytes(bytes) => repo.write(path, bytes),
        Huge => {
            let mut text = fleet_with("# padding\n").into_bytes();
            let line = format!("# {}\n", "x".repeat(1021));
            while text.len() <= 4 << 20 {
                text.extend_from_slice(line.as_bytes());
            }
            repo.write(path, text);
        }
        Symlink(target) => {
            remove(&full);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, &full).unwrap();
        }
        Absent => remove(&full),
    }
}

fn remove(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).unwrap(),
        Ok(_) => std::fs::remove_file(path).unwrap(),
        Err(_) => {}
    }
}

/// Runs one case; the problems found, empty when it passed.
fn check(case: &Case) -> Vec<String> {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", INVENTORY);
    repo.write("fleet.yaml", FLEET);
    for (path, content) in case.files {
        put(&repo, path, *content);
    }
    repo.commit(case.name);
    for (path, content) in case.uncommitted {
        put(&repo, path, *content);
    }
    let not_git = tempfile::tempdir().unwrap();
    let dir = match case.dir {
        Dir::Repo => repo.path().to_path_buf(),
        Dir::NotGit => {
            for f in ["fleet.yaml", "inventory.yaml", "schedulers/simple.yaml"] {
                let to = not_git.path().join(f);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(repo.path().join(f), to).unwrap();
            }
            not_git.path().to_path_buf()
        }
    };
    let state = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    for cmd in case.cmds {
        let mut command = schedfleet();
        command.env("SCHEDFLEET_STATE_DIR", state.path());
        match cmd {
            Cmd::Validate => command.arg("validate"),
            Cmd::Plan => command.arg("plan"),
            Cmd::Apply => command.args(["apply", "--yes"]),
        };
        let out = run(command.arg("--repo").arg(&dir).args(case.args));
        let err = stderr(&out);
        let mut wrong = Vec::new();
        if out.status.code() != Some(2) {
            wrong.push(format!("exit {:?}, not 2", out.status.code()));
        }
        if err.contains("panicked") {
            wrong.push("panicked".to_owned());
        }
        for e in case.expect {
            if !err.contains(e) {
                wrong.push(format!("stderr lacks `{e}`"));
            }
        }
        if !wrong.is_empty() {
            problems.push(format!("{cmd:?}: {}\n--- stderr:\n{err}---", wrong.join("; ")));
        }
    }
    problems
}

#[test]
fn every_bad_input_exits_2_naming_file_line_and_problem() {
    assert!(CASES.len() >= 45, "the corpus shrank to {} cases", CASES.len());
    let mut names = std::collections::BTreeSet::new();
    for case in CASES {
        assert!(names.insert(case.name), "two cases are named `{}`", case.name);
        assert!(!case.expect.is_empty() && !case.cmds.is_empty(), "case `{}` checks nothing", case.name);
    }
    let failed: Vec<String> = CASES
        .iter()
        .filter_map(|case| {
            let problems = check(case);
            (!problems.is_empty()).then(|| format!("case `{}`:\n{}", case.name, problems.join("\n")))
        })
        .collect();
    assert!(failed.is_empty(), "{} of {} cases failed:\n\n{}", failed.len(), CASES.len(), failed.join("\n\n"));
}

/// Only committed content counts: a broken `fleet.yaml` in the working tree
/// is reported as uncommitted and not read.
#[test]
fn an_uncommitted_broken_file_is_not_read() {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", INVENTORY);
    repo.write("fleet.yaml", FLEET);
    repo.commit("good");
    repo.write("fleet.yaml", "assignments: [\n");
    repo.write("hosts/h1.yaml", "params: { slice_ns: 1 }\n");
    let state = tempfile::tempdir().unwrap();
    let out =
        run(schedfleet().env("SCHEDFLEET_STATE_DIR", state.path()).arg("validate").arg("--repo").arg(repo.path()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("not deployed: uncommitted changes in") && err.contains("fleet.yaml"), "{err}");
}

/// The control: the base every case changes is valid, and `plan` does try
/// its host, so a case's exit 2 comes from the case, not from the base.
#[test]
fn the_base_repository_is_valid_and_reaches_for_its_host() {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", INVENTORY);
    repo.write("fleet.yaml", FLEET);
    repo.commit("base");
    let state = tempfile::tempdir().unwrap();
    for (verb, code) in [("validate", 0), ("plan", 4)] {
        let out = run(schedfleet().env("SCHEDFLEET_STATE_DIR", state.path()).arg(verb).arg("--repo").arg(repo.path()));
        assert_eq!(out.status.code(), Some(code), "{verb}: {}", stderr(&out));
    }
}
