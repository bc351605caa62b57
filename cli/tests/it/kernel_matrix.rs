//! The kernel matrix: the lab scenario that matters most across kernel
//! releases (apply, an ejection, a fallback), on the oldest and on the newest
//! sched_ext kernel `lab/setup.sh kernel` caches (`oldest` and `current`).
//! The same `simple` object and agent run on both, the kfuncs that differ
//! between them picked at load time (bpf/include/schedfleet/compat.bpf.h);
//! and a scheduler whose `kernels:` leaves a host's release out is refused
//! on it, with the reason, and loads nothing there.
//!
//! One VM per kernel, one test each, so the two run side by side. The other
//! lab tests run on the default kernel (`current`) only; `rollout.rs` covers
//! the rest of the rollout on it.

use std::time::Duration;

use crate::rollout::{agent_status, apply, journal_text, pairs, slice, spawn_apply, states, wait_for, OBJECTS};
use crate::support::lab::TestLab;
use crate::support::repo::ConfigRepo;
use crate::support::{cache_dir, json, run, stderr};

#[test]
fn apply_ejection_and_fallback_on_the_oldest_kernel() {
    scenario("oldest");
}

#[test]
fn apply_ejection_and_fallback_on_the_newest_kernel() {
    scenario("current");
}

/// The release the cache's `alias` names (`lab/setup.sh kernel` writes it).
fn cached_release(alias: &str) -> String {
    let file = cache_dir().join("kernel").join(alias).join("release");
    let release = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}; run `lab/setup.sh kernel`, which caches both ends", file.display()));
    release.trim().to_owned()
}

/// One wave of the one host, `bake` long, confirmed within `confirm`.
fn fleet(scheduler: &str, slice: u64, bake: &str, confirm: &str) -> String {
    let params = if scheduler == "simple" { format!("    params: {{ slice_ns: {slice} }}\n") } else { String::new() };
    format!(
        "assignments:\n  - hosts: all\n    scheduler: {scheduler}\n{params}rollout:\n  waves: [1]\n  bake: {bake}\n  confirm_timeout: {confirm}\n"
    )
}

fn scenario(alias: &str) {
    let release = cached_release(alias);
    let (major, minor) = {
        let mut n = release.split(['.', '+', '-']).map(|p| p.parse::<u32>().expect("a numeric release"));
        (n.next().unwrap(), n.next().unwrap())
    };
    let lab = TestLab::up_with_kernel(1, Some(alias));
    let h = lab.host("lab-1");
    assert_eq!(h.ssh_ok(&["uname", "-r"]), release, "lab-1 boots the `{alias}` kernel");
    eprintln!("kernel matrix: `{alias}` is {release}");
    let seq = |h: &crate::support::SshHost| h.ssh_ok(&["cat", "/sys/kernel/sched_ext/enable_seq"]);

    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", "hosts:\n  lab-1: { connection: lab }\n");
    repo.write("schedulers/ejector.yaml", "source: object:ejector.bpf.o\n");
    repo.write("ejector.bpf.o", schedfleet_bpf::testing::EJECTOR);

    // 1. A scheduler for later kernels only: `plan` marks lab-1 invalid and
    //    says why; `apply` loads nothing on it.
    let later = format!(">{major}.{minor}");
    repo.write("schedulers/simple.yaml", format!("{OBJECTS}kernels: \"{later}\"\n"));
    repo.write("fleet.yaml", fleet("simple", 3_000_000, "3s", "60s"));
    repo.commit("simple, for later kernels only");
    let out = run(lab.cmd().arg("plan").arg("--repo").arg(repo.path()).arg("--json"));
    let plan = json(&out);
    assert_eq!(out.status.code(), Some(4), "a host that cannot be planned: {plan}");
    let host = &plan["hosts"][0];
    assert_eq!((host["reach"].as_str(), host["action"].as_str()), (Some("invalid"), None), "{host}");
    let reason = host["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("kernel `{release}` is outside what it supports")), "{reason}");
    assert!(reason.contains(&format!("`kernels: {later}` (`schedulers/simple.yaml` line 4)")), "{reason}");
    let out = run(lab.cmd().arg("apply").arg("--repo").arg(repo.path()).args(["--yes", "--json"]));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "refused before any change: {err}");
    assert!(err.contains("is outside what it supports"), "apply says why: {err}");
    assert_eq!(
        h.ssh_ok(&["test -e /var/lib/schedfleet/store && echo present || echo absent"]),
        "absent",
        "nothing was pushed to a host the scheduler does not support"
    );
    assert_eq!(h.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]), "disabled", "nothing was loaded");
    assert_eq!(seq(h), "0", "no scheduler was ever attached");

    // 2. Supported: `simple` goes through its wave and is confirmed; the
    //    kernel runs it, and the agent's wake-up latency probe loads too.
    repo.write("schedulers/simple.yaml", format!("{OBJECTS}kernels: \">={major}.{minor}\"\n"));
    repo.commit("simple, from this kernel on");
    let (code, report, err) = apply(&lab, &repo);
    assert_eq!(code, Some(0), "{report}\n{err}");
    assert_eq!(states(&report), pairs(&[("lab-1", "confirmed")]));
    assert_eq!(h.sched_ext(), ("enabled".to_owned(), "simple".to_owned()), "the kernel runs simple");
    let st = agent_status(h);
    assert_eq!((st["kernel_agrees"].as_bool(), st["active"]["confirmed"].as_bool()), (Some(true), Some(true)), "{st}");
    let out = run(lab.cmd().arg("status").arg("--repo").arg(repo.path()).args(["--json", "--latency-window", "2s"]));
    assert_eq!(out.status.code(), Some(0));
    let latency = &json(&out)[0]["status"]["latency"];
    assert!(latency["samples"].as_u64().is_some_and(|n| n > 0), "wake-up latency measured: {latency}");

    // 3. A canary the kernel ejects during its bake: halted (exit 3), and
    //    lab-1 falls back to simple with its 3 ms slices.
    repo.write("fleet.yaml", fleet("ejector", 0, "6s", "60s"));
    repo.commit("the ejector");
    let (code, report, err) = apply(&lab, &repo);
    assert_eq!(code, Some(3), "{report}\n{err}");
    assert_eq!(states(&report), pairs(&[("lab-1", "fell_back")]));
    wait_for("lab-1 back on simple", Duration::from_secs(10), || h.sched_ext().1 == "simple");
    assert_eq!(slice(h), "3000000");
    let dmesg = h.ssh_ok(&["dmesg"]);
    assert!(dmesg.contains("BPF scheduler \"ejector\" disabled"), "the kernel ejected it:\n{dmesg}");
    let journal = journal_text(&lab);
    assert!(
        journal.contains("\"action\":\"gate\",\"outcome\":\"failed\"") && journal.contains("\"action\":\"fallback\""),
        "the journal has the failed gate and the fallback: {journal}"
    );

    // 4. The controller dies after activating and before confirming: the
    //    host's watchdog reverts to the previous scheduler at the deadline.
    repo.write("fleet.yaml", fleet("simple", 2_000_000, "15s", "25s"));
    repo.commit("2 ms slices, short deadline");
    let mut doomed = spawn_apply(&lab, &repo, &[], &[]);
    wait_for("lab-1 pending", Duration::from_secs(60), || !agent_status(h)["pending"].is_null());
    assert_eq!(slice(h), "2000000");
    doomed.kill().unwrap();
    let _ = doomed.wait();
    let took = wait_for("lab-1 to revert by itself", Duration::from_secs(45), || slice(h) == "3000000");
    let st = agent_status(h);
    assert!(st["last_fallback"]["reason"].as_str().unwrap_or("").contains("not confirmed"), "{st}");
    assert_eq!(h.sched_ext(), ("enabled".to_owned(), "simple".to_owned()));
    eprintln!(
        "kernel matrix: {release}: apply, ejection and fallback pass (revert {:.1}s after the kill)",
        took.as_secs_f64()
    );
}
