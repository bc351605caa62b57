//! Bad rollout policy in `fleet.yaml`: the `rollout:` section (waves, bake,
//! failure budget, `on_failure`) with its durations, percentages and host
//! counts, and the `health:` section whose probes and event limits gate each
//! wave.

use crate::bad_input::runner::Content::Text;
use crate::bad_input::runner::{Case, CASE, EVERY};

pub(in crate::bad_input) const CASES: &[Case] = &[
    // Unknown keys.
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
        expect: &["`fleet.yaml` line 6", "probe `up` has neither `command` nor `http`: give exactly one"],
        ..CASE
    },
    Case {
        name: "probes: both command and http",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - { name: up, command: [true], http: \"http://127.0.0.1/\" }\n"),
        )],
        expect: &["`fleet.yaml` line 6", "probe `up` has both `command` and `http`: give exactly one"],
        ..CASE
    },
    Case {
        name: "probes: URL that is not http",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - { name: up, http: \"file:///etc/shadow\" }\n"),
        )],
        expect: &["`fleet.yaml` line 6", "`file:///etc/shadow`: scheme `file` is not supported"],
        ..CASE
    },
    // What the agent would refuse, refused before any contact (bounds in
    // `proto::bounds`, probe rules in `proto::probe`).
    Case {
        name: "probes: a host name where the agent has no DNS",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - { name: up, http: \"http://db.internal:8000/health\" }\n"),
        )],
        expect: &["`fleet.yaml` line 6", "host `db.internal` is not an IP address or `localhost`", "no DNS resolver"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "probes: https, which the agent cannot fetch",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - { name: up, http: \"https://127.0.0.1/\" }\n"),
        )],
        expect: &["`fleet.yaml` line 6", "https is not supported"],
        ..CASE
    },
    Case {
        name: "probes: a timeout past the agent's bound",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - { name: up, command: [\"true\"], timeout: 60001ms }\n"),
        )],
        expect: &["`fleet.yaml` line 6", "probe `up`: `timeout_ms` 60001: expected 1 to 60000 milliseconds"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "probes: a NUL in a command",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  probes:\n    - { name: up, command: [\"true\", \"a\\0b\"] }\n"),
        )],
        expect: &["`fleet.yaml` line 6", "`command` contains a NUL character"],
        ..CASE
    },
    Case {
        name: "rollout: confirm_timeout past the agent's bound",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nrollout:\n  confirm_timeout: 168h1s\n"),
        )],
        expect: &["`fleet.yaml` line 5", "`rollout.confirm_timeout` 168h1s", "expected 1 to 604800 seconds (168h)"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "health: latency window past the agent's bound",
        files: &[(
            "fleet.yaml",
            Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  latency:\n    window: 60001ms\n"),
        )],
        expect: &["`fleet.yaml` line 6", "`health.latency.window` 60001ms must be between 1ms and 1m"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "health: max_events names no event",
        files: &[("fleet.yaml", Text("assignments:\n  - hosts: all\n    scheduler: simple\nhealth:\n  max_events:\n    DISPATCH: 1\n"))],
        expect: &["`fleet.yaml` line 6", "`DISPATCH` is not a sched_ext event name"],
        ..CASE
    },
];
