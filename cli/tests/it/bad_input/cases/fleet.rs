//! Bad `fleet.yaml` assignments and vars: YAML that does not parse, keys and
//! types the schema does not know, templates that do not render, reserved
//! variable names and parameters the scheduler does not declare. Its
//! `rollout:` and `health:` sections are in `rollout.rs`, its host patterns
//! in `patterns.rs`.

use crate::bad_input::runner::Content::{Bytes, Huge, Text};
use crate::bad_input::runner::{Case, CASE, EVERY};

pub(in crate::bad_input) const CASES: &[Case] = &[
    // YAML syntax.
    Case {
        name: "yaml: mapping key inside a list",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\n  oops: 1\n"))],
        expect: &["fleet.yaml", "line 4", "expected '-'"],
        cmds: EVERY,
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
    // Unknown keys.
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
    // Duplicate keys.
    Case {
        name: "duplicate key: assignment",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\n    hosts: h1\n"))],
        expect: &["fleet.yaml", "line 4", "duplicate", "`hosts`"],
        cmds: EVERY,
        ..CASE
    },
    // Empty, huge and non-UTF-8 files.
    Case { name: "empty fleet.yaml", files: &[("fleet.yaml", Text(""))], expect: &["`fleet.yaml` is empty"], ..CASE },
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
        name: "template: syntax error",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: \"{{ 3000000 if facts.cpus > 8 }\"\n"),
        )],
        expect: &["`fleet.yaml` line 5", "slice_ns", "syntax error"],
        ..CASE
    },
    Case {
        name: "template: renders a value out of range (a public parameter: the value is shown)",
        files: &[(
            "fleet.yaml",
            Text("public: [slice_ns]\nvars: { slice_us: 5 }\nassignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: \"{{ slice_us * 1000 }}\"\n"),
        )],
        expect: &["`fleet.yaml` line 7", "slice_ns", "5000 is outside 100000..=100000000"],
        ..CASE
    },
    Case {
        name: "template: renders a secret value out of range (what was expected, never the value)",
        files: &[(
            "fleet.yaml",
            Text("vars: { slice_us: 5 }\nassignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: \"{{ slice_us * 1000 }}\"\n"),
        )],
        expect: &[
            "`fleet.yaml` line 6",
            "its rendered value is not an integer of type `u64` within 100000..=100000000",
            "the value is not shown: list `slice_ns` under `public:`",
        ],
        ..CASE
    },
    Case {
        name: "template: renders a value of the wrong type",
        files: &[(
            "fleet.yaml",
            Text("public: [slice_ns]\nassignments:\n  - hosts: all\n    scheduler: simple\n    params:\n      slice_ns: \"{{ host.name }}\"\n"),
        )],
        expect: &["`fleet.yaml` line 6", "slice_ns", "must be an integer", "h1"],
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
        name: "reserved variable: host in fleet vars",
        files: &[("fleet.yaml", Text("vars:\n  host: gpu\nassignments:\n  - hosts: all\n    scheduler: simple\n"))],
        expect: &["`fleet.yaml` line 2", "variable `host` is reserved", "rename"],
        cmds: EVERY,
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
];
