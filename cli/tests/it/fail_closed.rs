//! Host safety on a real sched_ext kernel, checked over plain `ssh`
//! (the kernel's sysfs files and the host's file system), never through
//! the agent alone:
//!
//! 1. Render before change: a parameter only the host's real facts break
//!    (valid with `validate`'s placeholder facts) makes `apply` exit 2
//!    having written nothing on the host (nothing in `/var/lib/schedfleet`,
//!    which the lab image creates empty) and switched nothing.
//! 2. Kill windows: the agent is SIGKILLed (`SCHEDFLEET_AGENT_FAULT`) after
//!    each step of an activation; the host ends on the confirmed scheduler
//!    and `schedfleet status --json` says so, with the interruption as its
//!    last fallback.
//! 3. Fail closed: a watchdog whose state file became unreadable falls
//!    back to the kernel's default at the deadline instead of leaving.
//!
//! One test function: booting a VM under TCG costs tens of seconds, so the
//! steps share one lab host and run in order.

use std::time::{Duration, Instant};

use crate::support::lab::TestLab;
use crate::support::repo::ConfigRepo;
use crate::support::{agent_binary, json, run, sha256_hex, stderr, SshHost};

/// `(state, ops, enable_seq)` from the kernel's files; `ops` is empty when
/// no scheduler is loaded (its file is then absent).
fn kernel(h: &SshHost) -> (String, String, u64) {
    let out = h.ssh_ok(&["cat", "/sys/kernel/sched_ext/state", "/sys/kernel/sched_ext/enable_seq"]);
    let lines: Vec<&str> = out.lines().collect();
    let ops = h.ssh(&["cat", "/sys/kernel/sched_ext/root/ops"]);
    let ops = if ops.status.success() { String::from_utf8_lossy(&ops.stdout).trim().to_owned() } else { String::new() };
    (lines[0].to_owned(), ops, lines[1].parse().unwrap())
}

/// `schedfleet status --json` of lab-1: its agent's report.
fn status(lab: &TestLab, repo: &ConfigRepo) -> serde_json::Value {
    let out = run(lab.cmd().arg("status").arg("--repo").arg(repo.path()).args(["--limit", "lab-1", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    json(&out)[0]["status"].clone()
}

fn state_file(h: &SshHost) -> String {
    h.ssh_ok(&["cat", schedfleet_proto::STATE_FILE])
}

#[test]
fn render_before_change_and_every_kill_window_on_the_lab() {
    let lab = TestLab::up(1);
    let h = lab.host("lab-1");
    let repo = ConfigRepo::from_example("quickstart");
    let agent = format!("{}/{}", schedfleet_proto::STORE_DIR, sha256_hex(&std::fs::read(agent_binary()).unwrap()));
    let simple = sha256_hex(schedfleet_bpf::builtin("simple").unwrap().object);
    let object = format!("{}/{simple}", schedfleet_proto::STORE_DIR);
    let before = kernel(h);
    assert_eq!(before.0, "disabled", "lab-1 starts on the kernel's default");

    // 1. Valid with placeholder facts (64 CPUs), a division by zero on
    //    lab-1's 2 CPUs: exit 2, and nothing on the host.
    repo.write(
        "fleet.yaml",
        "assignments:\n  - hosts: 'lab-*'\n    scheduler: simple\n    params: { slice_ns: '{{ 100000000 // (facts.cpus - 2) }}' }\n",
    );
    repo.commit("slices by CPU count");
    let out = run(lab.cmd().arg("validate").arg("--repo").arg(repo.path()));
    assert_eq!(out.status.code(), Some(0), "valid with placeholder facts: {}", stderr(&out));
    let out = run(lab.cmd().arg("apply").arg("--repo").arg(repo.path()).args(["--limit", "lab-1", "--yes", "--json"]));
    assert_eq!(out.status.code(), Some(2), "a render error is bad input: {}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("host `lab-1`") && said.contains("nothing was changed on any host"), "{said}");
    // The lab image makes an empty `/var/lib/schedfleet` (lab/init); a
    // fleet host has none. Either way nothing may be in it afterwards.
    if h.ssh(&["test", "-e", schedfleet_proto::AGENT_ROOT]).status.success() {
        assert_eq!(h.ssh_ok(&["ls", "-A", schedfleet_proto::AGENT_ROOT]), "", "the facts visit wrote nothing");
    }
    assert!(!h.ssh(&["test", "-e", schedfleet_proto::STORE_DIR]).status.success(), "nothing was pushed");
    assert_eq!(kernel(h), before, "the scheduler did not change");

    // The quickstart again: simple with 3 ms slices, confirmed.
    repo.write(
        "fleet.yaml",
        std::fs::read(crate::support::workspace_root().join("examples/quickstart/fleet.yaml")).unwrap(),
    );
    repo.commit("quickstart");
    let out = run(lab.cmd().arg("apply").arg("--repo").arg(repo.path()).args(["--limit", "lab-1", "--yes", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let modes = h.ssh_ok(&["stat", "-c", "%a", schedfleet_proto::AGENT_ROOT, schedfleet_proto::STORE_DIR, &object]);
    assert_eq!(modes.split_whitespace().collect::<Vec<_>>(), ["700", "700", "600"], "root-only");

    // 2. Each kill window of an activation of simple with 2 ms slices.
    for step in ["intent", "removed", "attached", "watchdog"] {
        let (state, ops, seq) = kernel(h);
        assert_eq!((state.as_str(), ops.as_str()), ("enabled", "simple"), "before `{step}`");
        let fault = format!("SCHEDFLEET_AGENT_FAULT=kill-after:{step}");
        let out = h.ssh(&[
            "env",
            &fault,
            &agent,
            "activate",
            &object,
            "--sha256",
            &simple,
            "--param",
            "slice_ns=2000000",
            "--replace",
            "--confirm-within",
            "120",
        ]);
        assert!(!out.status.success() && out.stdout.is_empty(), "killed after `{step}`: no reply");
        let left = kernel(h);
        eprintln!("killed after `{step}`: the kernel runs {left:?}; state: {}", state_file(h));
        if step == "watchdog" {
            // No command needed: the orphaned watchdog undoes it by itself.
            let until = Instant::now() + Duration::from_secs(60);
            while state_file(h).contains("\"intent\"") {
                assert!(Instant::now() < until, "the watchdog did not undo the change: {}", state_file(h));
                std::thread::sleep(Duration::from_millis(500));
            }
        } else {
            assert!(state_file(h).contains("\"intent\""), "the intent was written ahead: {}", state_file(h));
        }

        let report = status(&lab, &repo);
        let (state, ops, now) = kernel(h);
        assert_eq!((state.as_str(), ops.as_str()), ("enabled", "simple"), "after `{step}`: back on simple");
        assert_eq!(report["kernel"]["state"], "enabled", "{report}");
        assert_eq!(report["kernel"]["enable_seq"], now, "status reports the kernel as it is: {report}");
        assert_eq!(report["kernel_agrees"], true, "{report}");
        assert_eq!(report["active"]["params"]["slice_ns"], "3000000", "the confirmed parameters: {report}");
        assert_eq!(report["active"]["confirmed"], true, "{report}");
        assert!(report["pending"].is_null(), "{report}");
        let why = report["last_fallback"]["reason"].as_str().unwrap_or_default();
        assert!(why.contains("was killed while it activated"), "after `{step}`: {report}");
        if step == "intent" {
            assert_eq!(now, seq, "killed before any switch: nothing was reloaded");
        } else {
            assert!(now > seq, "after `{step}`: simple was loaded again");
        }
        assert!(!state_file(h).contains("\"intent\""));
    }

    // 3. The state file becomes unreadable under an unconfirmed activation:
    //    at its deadline the watchdog falls back to the kernel's default.
    let (ok, reply) = h.agent(
        &agent,
        &[
            "activate",
            &object,
            "--sha256",
            &simple,
            "--param",
            "slice_ns=2000000",
            "--replace",
            "--confirm-within",
            "5",
        ],
    );
    assert!(ok, "{reply}");
    h.put(schedfleet_proto::STATE_FILE, b"{ torn");
    let until = Instant::now() + Duration::from_secs(60);
    while kernel(h).0 != "disabled" {
        assert!(Instant::now() < until, "the watchdog did not fall back: {:?}", kernel(h));
        std::thread::sleep(Duration::from_millis(500));
    }
    let report = status(&lab, &repo);
    assert_eq!(report["kernel"]["state"], "disabled", "{report}");
    assert!(report["active"].is_null(), "{report}");
    let why = report["last_fallback"]["reason"].as_str().unwrap_or_default();
    assert!(why.contains("state file could not be read"), "{report}");
}
