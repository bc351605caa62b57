//! Bad override files under `groups/` and `hosts/`: unknown keys, templates
//! and parameters in them, files for a group or host the inventory lacks, and
//! entries that are not plain `<name>.yaml` files.

use crate::bad_input::runner::Content::{Symlink, Text};
use crate::bad_input::runner::{Case, CASE, EVERY};

pub(in crate::bad_input) const CASES: &[Case] = &[
    // Unknown keys.
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
    // Templates (rendered by `validate`; `plan` and `apply` render with each host's facts).
    Case {
        name: "template: undefined fact",
        files: &[("hosts/h1.yaml", Text("params:\n  slice_ns: \"{{ 100000 * facts.tpus }}\"\n"))],
        expect: &["`hosts/h1.yaml` line 2", "slice_ns", "undefined"],
        ..CASE
    },
    Case {
        name: "template: import",
        files: &[("groups/gpu.yaml", Text("params:\n  slice_ns: \"{% import 'm.j2' as m %}{{ m.slice }}\"\n"))],
        expect: &["`groups/gpu.yaml` line 2", "import", "cannot load other templates or files"],
        ..CASE
    },
    Case {
        name: "reserved variable: facts in a host file",
        files: &[("hosts/h1.yaml", Text("vars:\n  facts: {}\n"))],
        expect: &["`hosts/h1.yaml` line 2", "variable `facts` is reserved"],
        ..CASE
    },
    // Files that match no group or host, or are not plain `<name>.yaml` files.
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
    // Parameters.
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
];
