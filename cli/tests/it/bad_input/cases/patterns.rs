//! Bad host patterns: the `hosts:` of a `fleet.yaml` assignment and the
//! `--limit` argument, which share one grammar. A pattern that selects no
//! host is an error, and shell metacharacters never reach a command line.

use crate::bad_input::runner::Content::Text;
use crate::bad_input::runner::{Case, CASE, EVERY, REMOTE};

pub(in crate::bad_input) const CASES: &[Case] = &[
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
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\n  - hosts: \"h1:h2\"\n    scheduler: simple\n"),
        )],
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
];
