//! Bad scheduler files under `schedulers/`, and bad references to them from
//! `fleet.yaml`: missing files, unknown sources, object paths that leave the
//! config directory or go through committed symbolic links, objects that are
//! not BPF, parameter declarations that admit no value, parameters or
//! objects the agent would refuse (read from the object's BTF), and
//! `kernels:` requirements that are malformed or allow no release.

use crate::bad_input::runner::Content::{Bytes, Symlink, Text};
use crate::bad_input::runner::{Case, CASE, EVERY};

/// A committed copy of the builtin `simple` object (one `u64 slice_ns`).
const SIMPLE_COPY: &[u8] = include_bytes!("../../../../../examples/two-schedulers/objects/simple-copy.bpf.o");

pub(in crate::bad_input) const CASES: &[Case] = &[
    // YAML syntax.
    Case {
        name: "yaml: unclosed flow mapping",
        files: &[("schedulers/simple.yaml", Text("source: builtin:simple\nparams: { slice_ns: { type: u64 }\n"))],
        expect: &["schedulers/simple.yaml", "line 2", "unclosed bracket"],
        ..CASE
    },
    // Unknown keys.
    Case {
        name: "unknown key: scheduler file",
        files: &[("schedulers/simple.yaml", Text("source: builtin:simple\nparam: {}\n"))],
        expect: &["schedulers/simple.yaml", "line 2", "unknown field `param`", "params"],
        ..CASE
    },
    Case {
        name: "unknown key: parameter declaration",
        files: &[(
            "schedulers/simple.yaml",
            Text("source: builtin:simple\nparams:\n  slice_ns:\n    type: u64\n    dflt: 5\n"),
        )],
        expect: &["schedulers/simple.yaml", "line 5", "unknown field `dflt`", "default"],
        ..CASE
    },
    // Wrong types.
    Case {
        name: "wrong type: parameter type does not exist",
        files: &[("schedulers/simple.yaml", Text("source: builtin:simple\nparams:\n  slice_ns: { type: float }\n"))],
        expect: &["schedulers/simple.yaml", "line 3", "unknown variant `float`", "u64"],
        ..CASE
    },
    // Empty files.
    Case {
        name: "empty scheduler file",
        files: &[("schedulers/simple.yaml", Text("   \n"))],
        expect: &["`schedulers/simple.yaml` is empty"],
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
    // Upstream scx binaries (`source: scx:NAME` with `binary:`).
    Case {
        name: "binary: scx source without a binary section",
        files: &[("schedulers/simple.yaml", Text("source: scx:scx_bpfland\n"))],
        expect: &["`schedulers/simple.yaml` line 1", "needs a `binary:` section", "`installed:`"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "binary: committed binary whose digest does not match",
        files: &[
            ("bin/scx_bpfland", Bytes(b"\x7fELF\x02\x01\x01 not really bpfland")),
            (
                "schedulers/simple.yaml",
                Text(
                    "source: scx:scx_bpfland\nparams: { slice_ns: { type: u64 } }\nbinary:\n  file: bin/scx_bpfland\n  \
                     sha256: 0000000000000000000000000000000000000000000000000000000000000000\n",
                ),
            ),
        ],
        expect: &["`schedulers/simple.yaml` line 4", "has sha256", "nothing was pushed to any host"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "binary: two sources at once",
        files: &[(
            "schedulers/simple.yaml",
            Text("source: scx:scx_bpfland\nbinary:\n  installed: /usr/bin/scx_bpfland\n  file: bin/x\n"),
        )],
        expect: &["`schedulers/simple.yaml` line 2", "exactly one of `file:`", "file and installed are given"],
        ..CASE
    },
    Case {
        name: "binary: installed without digest or version",
        files: &[("schedulers/simple.yaml", Text("source: scx:scx_bpfland\nbinary:\n  installed: /usr/bin/scx_bpfland\n"))],
        expect: &["`schedulers/simple.yaml` line 3", "needs `sha256:`", "or `version:`"],
        ..CASE
    },
    Case {
        name: "binary: controller file missing",
        files: &[(
            "schedulers/simple.yaml",
            Text("source: scx:scx_bpfland\nbinary:\n  controller: /nonexistent/scx_bpfland\n"),
        )],
        expect: &["`schedulers/simple.yaml` line 3", "cannot read scheduler binary `/nonexistent/scx_bpfland`", "lab/setup.sh scx"],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "binary: a known flag with a value of the wrong type",
        files: &[(
            "schedulers/simple.yaml",
            Text(
                "source: scx:scx_bpfland\nbinary:\n  installed: /usr/bin/scx_bpfland\n  version: 1.1.4\n  \
                 args: [--slice-us, fast]\n",
            ),
        )],
        expect: &["`schedulers/simple.yaml` line 5", "argument 1: `--slice-us` takes an unsigned integer, not `fast`"],
        ..CASE
    },
    Case {
        name: "binary: an unknown flag of a known scheduler",
        files: &[(
            "schedulers/simple.yaml",
            Text("source: scx:scx_bpfland\nbinary:\n  installed: /usr/bin/scx_bpfland\n  version: 1.1.4\n  args: [--turbo]\n"),
        )],
        expect: &["`schedulers/simple.yaml` line 5", "scx_bpfland has no flag `--turbo`", "--slice-us"],
        ..CASE
    },
    Case {
        name: "binary: a flag that prints and exits",
        files: &[(
            "schedulers/simple.yaml",
            Text("source: scx:scx_lavd\nbinary:\n  installed: /usr/bin/scx_lavd\n  version: 1.1.4\n  args: [--monitor, '1']\n"),
        )],
        expect: &["`schedulers/simple.yaml` line 5", "without running a scheduler; remove it"],
        ..CASE
    },
    Case {
        name: "binary: a restart policy without a pause",
        files: &[(
            "schedulers/simple.yaml",
            Text(
                "source: scx:scx_bpfland\nbinary:\n  installed: /usr/bin/scx_bpfland\n  version: 1.1.4\n  \
                 restart: { max: 5, backoff: 0ms }\n",
            ),
        )],
        expect: &["`schedulers/simple.yaml` line 5", "restarts without a pause are a loop"],
        ..CASE
    },
    Case {
        name: "binary: environment the agent sets",
        files: &[(
            "schedulers/simple.yaml",
            Text(
                "source: scx:scx_bpfland\nbinary:\n  installed: /usr/bin/scx_bpfland\n  version: 1.1.4\n  \
                 env: { LD_LIBRARY_PATH: /tmp }\n",
            ),
        )],
        expect: &["`schedulers/simple.yaml` line 5", "`LD_LIBRARY_PATH` is set by the agent"],
        ..CASE
    },
    Case {
        name: "binary: a section on a BPF object scheduler",
        files: &[(
            "schedulers/simple.yaml",
            Text("source: builtin:simple\nbinary:\n  installed: /usr/bin/scx_bpfland\n"),
        )],
        expect: &["`schedulers/simple.yaml` line 2", "remove `binary:` or change `source:`"],
        ..CASE
    },
    Case {
        name: "binary: unknown key",
        files: &[(
            "schedulers/simple.yaml",
            Text("source: scx:scx_bpfland\nbinary:\n  installed: /usr/bin/scx_bpfland\n  arguments: [-k]\n"),
        )],
        expect: &["schedulers/simple.yaml", "line 4", "unknown field `arguments`", "args"],
        ..CASE
    },
    // Parameters.
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
    // What the object offers, read from its BTF as the agent reads it.
    Case {
        name: "param: a name the builtin object does not have",
        files: &[(
            "schedulers/simple.yaml",
            Text("source: builtin:simple\nparams:\n  slice_ns: { type: u64 }\n  slice_us: { type: u64 }\n"),
        )],
        expect: &[
            "`schedulers/simple.yaml` line 4",
            "parameter `slice_us` is not a variable of object `builtin:simple`",
            "the agent would refuse it; the object has: slice_ns",
        ],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "param: a name a committed object does not have",
        files: &[
            ("objects/s.bpf.o", Bytes(SIMPLE_COPY)),
            (
                "schedulers/simple.yaml",
                Text(
                    "source: object:objects/s.bpf.o\nparams:\n  slice_ns: { type: u64 }\n  nr_queues: { type: u32 }\n",
                ),
            ),
        ],
        expect: &[
            "`schedulers/simple.yaml` line 4",
            "`nr_queues` is not a variable of object `object:objects/s.bpf.o`",
        ],
        cmds: EVERY,
        ..CASE
    },
    Case {
        name: "param: a type whose values the variable cannot hold",
        files: &[("schedulers/simple.yaml", Text("source: builtin:simple\nparams:\n  slice_ns: { type: i64 }\n"))],
        expect: &[
            "`schedulers/simple.yaml` line 3",
            "`slice_ns` is declared `i64`",
            "it is an unsigned 64-bit integer (0..=18446744073709551615)",
        ],
        ..CASE
    },
    Case {
        name: "scheduler: a BPF object that is no sched_ext scheduler",
        files: &[
            ("objects/wakelat.bpf.o", Bytes(schedfleet_bpf::probes::WAKELAT)),
            ("schedulers/simple.yaml", Text("source: object:objects/wakelat.bpf.o\n")),
        ],
        expect: &["`schedulers/simple.yaml` line 1", "declares no `struct sched_ext_ops`"],
        cmds: EVERY,
        ..CASE
    },
    // The kernels a scheduler supports.
    Case {
        name: "kernels: not a comparison",
        files: &[("schedulers/simple.yaml", Text("source: builtin:simple\nkernels: \"~7.2\"\n"))],
        expect: &["`schedulers/simple.yaml` line 2", "comparison `~7.2`", "such as `7.2`"],
        ..CASE
    },
    Case {
        name: "kernels: bounds that allow no release",
        files: &[("schedulers/simple.yaml", Text("source: builtin:simple\nkernels: \">=7.4, <7.3\"\n"))],
        expect: &["`schedulers/simple.yaml` line 2", "`kernels: >=7.4, <7.3` allows no release"],
        ..CASE
    },
];
