//! Hostile local inputs, refused with exit 2 before any contact: files that
//! are not files (`--agent /dev/zero`, an `--inventory` FIFO) and values
//! past the agent's bounds given on the command line.

use crate::support::repo::ConfigRepo;
use crate::support::{run, schedfleet, stderr};

const INVENTORY: &str = "hosts:\n  h1: { address: 127.0.0.1, port: 1 }\n";
const FLEET: &str = "assignments:\n  - hosts: all\n    scheduler: simple\n    params: { slice_ns: 3000000 }\n";

fn repo() -> ConfigRepo {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", INVENTORY);
    repo.write("fleet.yaml", FLEET);
    repo.commit("base");
    repo
}

#[test]
fn an_agent_that_is_a_device_is_refused() {
    let repo = repo();
    let out = run(schedfleet().args(["apply", "--yes", "--agent", "/dev/zero", "--repo"]).arg(repo.path()));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("agent binary `/dev/zero` is a character device"), "{}", stderr(&out));
}

#[test]
fn an_inventory_that_is_a_fifo_is_refused_without_blocking() {
    let repo = repo();
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("inventory.yaml");
    let ok = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success();
    assert!(ok, "mkfifo");
    let out = run(schedfleet().args(["validate", "--repo"]).arg(repo.path()).arg("--inventory").arg(&fifo));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is a FIFO (named pipe), not a regular file"), "{}", stderr(&out));
}

#[test]
fn a_latency_window_past_the_agents_bound_is_a_usage_error() {
    let repo = repo();
    let out = run(schedfleet().args(["status", "--latency-window", "61s", "--repo"]).arg(repo.path()));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("expected 0 to 60000 milliseconds"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("127.0.0.1"), "{}", stderr(&out));
}
