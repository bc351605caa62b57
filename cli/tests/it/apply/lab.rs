//! The walking skeleton on a real sched_ext kernel: `apply` of the builtin
//! `simple` scheduler to lab VMs over real SSH, checked independently of the
//! agent through plain `ssh` and the kernel's sysfs files; then the agent's
//! refusals (corrupted object, verifier rejection, already active) each
//! leave the host running what it ran before.
//!
//! One test function on purpose: booting VMs under TCG costs tens of
//! seconds, so the scenario shares one lab and runs its steps in order.

use crate::support::lab::TestLab;
use crate::support::output::assert_conforms;
use crate::support::repo::ConfigRepo;
use crate::support::{agent_binary, host_outcome, json, run, sha256_hex, SshHost};

fn apply(lab: &TestLab, repo: &ConfigRepo, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = run(lab.cmd().arg("apply").arg("--repo").arg(repo.path()).args(["--yes", "--json"]).args(extra));
    assert_conforms("apply", &json(&out));
    (out.status.code(), json(&out))
}

/// `schedfleet plan --json`: (exit code, host -> action).
fn plan(lab: &TestLab, repo: &ConfigRepo, extra: &[&str]) -> (Option<i32>, std::collections::BTreeMap<String, String>) {
    let out = run(lab.cmd().arg("plan").arg("--repo").arg(repo.path()).arg("--json").args(extra));
    let report = json(&out);
    assert_conforms("plan", &report);
    let actions = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["host"].as_str().unwrap().to_owned(), h["action"].as_str().unwrap_or("none-planned").to_owned()))
        .collect();
    (out.status.code(), actions)
}

fn actions(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs.iter().map(|(h, a)| (h.to_string(), a.to_string())).collect()
}

fn enable_seq(h: &SshHost) -> u64 {
    h.ssh_ok(&["cat", "/sys/kernel/sched_ext/enable_seq"]).parse().unwrap()
}

#[test]
fn apply_simple_to_lab_and_back() {
    let lab = TestLab::up(2);
    let repo = ConfigRepo::from_example("quickstart");
    let agent_path = format!("{}/{}", schedfleet_proto::STORE_DIR, sha256_hex(&std::fs::read(agent_binary()).unwrap()));
    let simple = schedfleet_bpf::builtin("simple").unwrap().object;
    let simple_digest = sha256_hex(simple);

    for h in &lab.hosts {
        assert_eq!(
            h.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]),
            "disabled",
            "{} starts on the default scheduler",
            h.name
        );
    }

    // 0. Plan before anything: every host needs an install; nothing changes.
    let first_commit = repo.commit("unchanged");
    assert_eq!(plan(&lab, &repo, &[]), (Some(1), actions(&[("lab-1", "install"), ("lab-2", "install")])));
    for h in &lab.hosts {
        assert_eq!(h.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]), "disabled", "plan changed nothing");
        assert!(!h.ssh(&["test", "-e", schedfleet_proto::STORE_DIR]).status.success(), "plan pushed nothing");
    }

    // `apply --dry-run` is that same decision in the rollout's shape: the
    // waves it would start and each host's state; it changes nothing.
    let out = run(lab.cmd().arg("apply").arg("--repo").arg(repo.path()).args(["--dry-run", "--json"]));
    let dry = json(&out);
    assert_eq!(out.status.code(), Some(0), "{dry}");
    assert_conforms("apply-dry-run", &dry);
    let in_waves: Vec<&str> = dry["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w.as_array().unwrap())
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(in_waves, ["lab-1", "lab-2"], "{dry}");
    for h in &lab.hosts {
        let r = host_outcome(&dry, &h.name);
        assert_eq!((r["state"].as_str(), r["action"].as_str()), (Some("would_change"), Some("install")), "{r}");
        assert!(!h.ssh(&["test", "-e", schedfleet_proto::STORE_DIR]).status.success(), "a dry run pushed nothing");
    }

    // 1. First apply: agent and object pushed, `simple` active everywhere.
    let (code, report) = apply(&lab, &repo, &[]);
    assert_eq!(code, Some(0), "{report}");
    for h in &lab.hosts {
        let r = host_outcome(&report, &h.name);
        assert_eq!(r["state"], "confirmed", "{r}");
        assert!(r["bytes_sent"].as_u64().unwrap() > simple.len() as u64, "agent and object were pushed: {r}");
        assert_eq!(h.sched_ext(), ("enabled".to_owned(), "simple".to_owned()), "kernel of {} runs simple", h.name);
    }
    let lab1 = lab.host("lab-1");
    let seq = enable_seq(lab1);
    let (ok, status) = lab1.agent(&agent_path, &["status"]);
    assert!(ok && status["result"]["kernel_agrees"] == true, "{status}");
    assert_eq!(status["result"]["active"]["params"]["slice_ns"], "3000000", "fleet.yaml's parameter reached the host");
    assert_eq!(status["result"]["active"]["artifact"], simple_digest.as_str());

    // Right after a successful apply, plan sees no changes.
    assert_eq!(plan(&lab, &repo, &[]), (Some(0), actions(&[("lab-1", "none"), ("lab-2", "none")])));

    // 2. Same commit again: nothing to do, not one byte sent, no reload.
    let (code, report) = apply(&lab, &repo, &[]);
    assert_eq!(code, Some(0));
    for h in &lab.hosts {
        let r = host_outcome(&report, &h.name);
        assert_eq!((r["state"].as_str(), r["bytes_sent"].as_u64()), (Some("unchanged"), Some(0)), "{r}");
    }
    assert_eq!(enable_seq(lab1), seq, "an unchanged host was not reloaded");

    // 3. New parameters, same object: reloaded, still no artifact bytes sent.
    //    The value is a template over the facts the host's agent reports
    //    (lab VMs have 2 CPUs): 2000000.
    repo.write(
        "fleet.yaml",
        "assignments:\n  - hosts: 'lab-*'\n    scheduler: simple\n    params: { slice_ns: '{{ facts.cpus * 1000000 }}' }\n",
    );
    let commit = repo.commit("shorter slices");
    assert_eq!(plan(&lab, &repo, &[]), (Some(1), actions(&[("lab-1", "reconfigure"), ("lab-2", "reconfigure")])));
    let (code, report) = apply(&lab, &repo, &["--limit", "lab-1"]);
    assert_eq!(code, Some(0), "{report}");
    let r = host_outcome(&report, "lab-1");
    assert_eq!((r["state"].as_str(), r["bytes_sent"].as_u64()), (Some("confirmed"), Some(0)), "{r}");
    assert_eq!(report["hosts"].as_array().unwrap().len(), 1, "--limit kept lab-2 out");
    let (_, status) = lab1.agent(&agent_path, &["status"]);
    assert_eq!(status["result"]["active"]["params"]["slice_ns"], "2000000");
    assert_eq!(status["result"]["active"]["commit"], commit.as_str());
    assert!(enable_seq(lab1) > seq);
    let seq = enable_seq(lab1);
    assert_eq!(plan(&lab, &repo, &["--limit", "lab-1"]), (Some(0), actions(&[("lab-1", "none")])));
    assert_eq!(plan(&lab, &repo, &[]), (Some(1), actions(&[("lab-1", "none"), ("lab-2", "reconfigure")])));
    // The first commit, whatever HEAD holds: lab-1 would go back to 3 ms.
    assert_eq!(
        plan(&lab, &repo, &["--rev", &first_commit]),
        (Some(1), actions(&[("lab-1", "reconfigure"), ("lab-2", "none")]))
    );

    // 4. A corrupted object: refused before loading; simple keeps running.
    let mut corrupted = simple.to_vec();
    let mid = corrupted.len() / 2;
    corrupted[mid] ^= 0xff;
    lab1.put("/tmp/corrupted.bpf.o", &corrupted);
    let (ok, reply) =
        lab1.agent(&agent_path, &["activate", "/tmp/corrupted.bpf.o", "--sha256", &simple_digest, "--replace"]);
    assert!(!ok);
    assert_eq!(reply["error"]["kind"], "digest_mismatch", "{reply}");
    assert_eq!(lab1.sched_ext(), ("enabled".to_owned(), "simple".to_owned()));
    assert_eq!(enable_seq(lab1), seq, "nothing was loaded");

    // 5. An object the verifier rejects: refused with the verifier's words,
    //    while simple keeps running (verification happens before the switch).
    let broken = schedfleet_bpf::testing::BROKEN_VERIFIER;
    lab1.put("/tmp/broken.bpf.o", broken);
    let broken_digest = sha256_hex(broken);
    let (ok, reply) =
        lab1.agent(&agent_path, &["activate", "/tmp/broken.bpf.o", "--sha256", &broken_digest, "--replace"]);
    assert!(!ok);
    assert_eq!(reply["error"]["kind"], "verifier_rejected", "{reply}");
    let log = reply["error"]["verifier_log"].as_str().expect("the verifier's log tail is reported");
    assert!(!log.trim().is_empty());
    eprintln!("verifier log tail:\n{log}");
    assert_eq!(lab1.sched_ext(), ("enabled".to_owned(), "simple".to_owned()));
    assert_eq!(enable_seq(lab1), seq);

    // 6. Activating without --replace while a scheduler runs is refused.
    let (ok, reply) = lab1.agent(
        &agent_path,
        &["activate", &format!("{}/{simple_digest}", schedfleet_proto::STORE_DIR), "--sha256", &simple_digest],
    );
    assert!(!ok);
    assert_eq!(reply["error"]["kind"], "already_active", "{reply}");
    assert_eq!(enable_seq(lab1), seq);

    // 7. The same broken object through `apply` (an `object:` source in the
    //    repo): the host fails, exit 4, and it still runs simple.
    repo.write("broken.bpf.o", broken);
    repo.write("schedulers/broken.yaml", "source: object:broken.bpf.o\n");
    repo.write("fleet.yaml", "assignments:\n  - hosts: lab-1\n    scheduler: broken\n  - hosts: 'lab-*'\n    scheduler: simple\n    params: { slice_ns: 2000000 }\n");
    repo.commit("a broken scheduler for lab-1");
    let (code, report) = apply(&lab, &repo, &["--limit", "lab-1"]);
    assert_eq!(code, Some(4), "{report}");
    let r = host_outcome(&report, "lab-1");
    assert_eq!(r["state"], "failed");
    assert!(r["message"].as_str().unwrap().contains("refused to load"), "{r}");
    assert_eq!(
        lab1.sched_ext(),
        ("enabled".to_owned(), "simple".to_owned()),
        "a failed apply leaves the previous scheduler"
    );

    // 8. Deactivate: the kernel's default scheduler is back.
    for h in &lab.hosts {
        let (ok, reply) = h.agent(&agent_path, &["deactivate"]);
        assert!(ok, "{reply}");
        assert_eq!(reply["result"]["removed"]["ops"], "simple");
        assert_eq!(h.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]), "disabled");
    }
    // Deactivating again is a no-op, not an error.
    let (ok, _) = lab1.agent(&agent_path, &["deactivate"]);
    assert!(ok);
    // The scheduler was removed behind apply's back: plan wants it back.
    assert_eq!(plan(&lab, &repo, &["--limit", "lab-2"]), (Some(1), actions(&[("lab-2", "install")])));

    // 9. The verifier rejection with nothing loaded leaves the default.
    let (ok, reply) = lab1.agent(&agent_path, &["activate", "/tmp/broken.bpf.o", "--sha256", &broken_digest]);
    assert!(!ok, "{reply}");
    assert_eq!(lab1.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]), "disabled");
}

#[test]
fn agent_is_statically_linked() {
    let bytes = std::fs::read(agent_binary()).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    let file = run(std::process::Command::new("file").arg("-L").arg(agent_binary()));
    let text = String::from_utf8_lossy(&file.stdout);
    assert!(text.contains("statically linked") || text.contains("static-pie linked"), "{text}");
    eprintln!("agent: {} bytes", bytes.len());
}
