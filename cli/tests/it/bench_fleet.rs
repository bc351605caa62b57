//! The loopback fleet benchmark (`bench/fleet/run.sh`) at N = 3 with one
//! repeat, so the harness never rots: real sshd hosts in their own mount
//! namespaces, the raw SSH floor, ansible-core and schedfleet's plan,
//! status, drift and push. It must run to the end, print its ratio lines and
//! write its JSON; no timing threshold is asserted (a test never times).

use std::process::Command;

use crate::support::{agent_binary, run, stdout, workspace_root};

#[test]
fn the_fleet_benchmark_runs_end_to_end_at_three_hosts() {
    let ansible = std::path::Path::new(&std::env::var("HOME").expect("HOME"))
        .join(".cache/schedfleet/tools/ansible/bin/ansible-playbook");
    assert!(ansible.exists(), "{} is missing: run `lab/setup.sh tools`", ansible.display());
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("fleet.json");
    let out = run(Command::new("bash")
        .arg(workspace_root().join("bench/fleet/run.sh"))
        .args(["--sizes", "3", "--repeats", "1", "--out"])
        .arg(&json)
        .env("SCHEDFLEET", env!("CARGO_BIN_EXE_schedfleet"))
        .env("SCHEDFLEET_AGENT", agent_binary())
        .env_remove("SCHEDFLEET_TEST_FAULT"));
    assert!(out.status.success(), "the benchmark failed (exit {:?})", out.status.code());
    let text = stdout(&out);
    for line in [
        "ratio N=3 ansible-raw: ",
        "ratio N=3 plan: ",
        "ratio N=3 status: ",
        "ratio N=3 drift: ",
        "ratio N=3 ansible-push: ",
        "ratio N=3 push: ",
    ] {
        assert!(text.contains(line), "no `{line}` line in:\n{text}");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = report["summary"].as_array().unwrap();
    let measures: Vec<&str> = rows.iter().map(|r| r["measure"].as_str().unwrap()).collect();
    assert_eq!(measures, ["raw-ssh", "ansible-raw", "plan", "status", "drift", "raw-scp+ssh", "ansible-push", "push"]);
    for r in rows {
        assert!(r["wall_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    // What the benchmark checks of each run is what a user relies on: one
    // SSH connection per host for each schedfleet command, push included.
    for r in rows.iter().filter(|r| ["plan", "status", "drift", "push"].contains(&r["measure"].as_str().unwrap())) {
        assert_eq!(r["logins_per_host"].as_f64(), Some(1.0), "{r}");
    }
}
