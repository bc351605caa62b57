//! Bad repositories and revisions: a `--rev` that does not exist, a
//! directory no git repository holds, and config files that exist only in the
//! working tree, which are never read.

use crate::bad_input::runner::Content::{Absent, Text};
use crate::bad_input::runner::{Case, Dir, CASE, EVERY, FLEET, INVENTORY};

pub(in crate::bad_input) const CASES: &[Case] = &[
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
        expect: &["is not inside a git repository", "committed", "--repo DIR", "schedfleet init"],
        ..CASE
    },
    Case {
        name: "repo: fleet.yaml only in the working tree",
        files: &[("fleet.yaml", Absent)],
        uncommitted: &[("fleet.yaml", Text(FLEET))],
        cmds: EVERY,
        expect: &["`fleet.yaml` is in the working tree", "but not in commit", "commit it first"],
        ..CASE
    },
    Case {
        name: "repo: no fleet.yaml at all (a git repository, but no config repository)",
        files: &[("fleet.yaml", Absent)],
        cmds: EVERY,
        expect: &["is no schedfleet config repository", "no `fleet.yaml`", "--repo DIR", "schedfleet init"],
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
