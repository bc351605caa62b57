//! Canary rollouts on three lab VMs: a good scheduler through waves, a
//! canary the kernel ejects, a canary whose probe fails, two operators at
//! once, Ctrl-C, a controller killed before it confirms (the host reverts by
//! itself), and `rollback --previous`, `--to REV` and the emergency `--default`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::lab::TestLab;
use crate::support::output::assert_conforms;
use crate::support::repo::ConfigRepo;
use crate::support::{json, run, stderr, SshHost};

const INVENTORY: &str =
    "hosts:\n  lab-1: { connection: lab }\n  lab-2: { connection: lab }\n  lab-3: { connection: lab }\n";
pub(crate) const OBJECTS: &str =
    "source: builtin:simple\nparams:\n  slice_ns: { type: u64, min: 100000, max: 100000000 }\n";

pub(crate) fn fleet(scheduler: &str, slice: u64, bake: &str, confirm: &str, probe: Option<&str>) -> String {
    let params = if scheduler == "simple" { format!("    params: {{ slice_ns: {slice} }}\n") } else { String::new() };
    let health = probe.map_or(String::new(), |p| format!("health:\n  probes:\n    - {p}\n"));
    format!(
        "assignments:\n  - hosts: all\n    scheduler: {scheduler}\n{params}rollout:\n  waves: [1, \"50%\", \"100%\"]\n  bake: {bake}\n  confirm_timeout: {confirm}\n{health}"
    )
}

pub(crate) fn apply(lab: &TestLab, repo: &ConfigRepo) -> (Option<i32>, serde_json::Value, String) {
    let out = run(lab.cmd().arg("apply").arg("--repo").arg(repo.path()).args(["--yes", "--json"]));
    assert_conforms("apply", &json(&out));
    (out.status.code(), json(&out), stderr(&out))
}

/// `apply --yes --json` and `extra` in the background, with `env` set for it.
pub(crate) fn spawn_apply(lab: &TestLab, repo: &ConfigRepo, env: &[(&str, &str)], extra: &[&str]) -> Child {
    lab.cmd()
        .envs(env.iter().copied())
        .arg("apply")
        .arg("--repo")
        .arg(repo.path())
        .args(["--yes", "--json"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub(crate) fn states(report: &serde_json::Value) -> Vec<(String, String)> {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["host"].as_str().unwrap().to_owned(), h["state"].as_str().unwrap().to_owned()))
        .collect()
}

pub(crate) fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// The agent's own status on the host, through plain ssh.
pub(crate) fn agent_status(h: &SshHost) -> serde_json::Value {
    let (ok, reply) = h.agent(schedfleet_proto::AGENT_LINK, &["status", "--latency-window", "0"]);
    assert!(ok, "{reply}");
    reply["result"].clone()
}

pub(crate) fn slice(h: &SshHost) -> String {
    agent_status(h)["active"]["params"]["slice_ns"].as_str().unwrap_or("none").to_owned()
}

pub(crate) fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
    started.elapsed()
}

pub(crate) fn journal_text(lab: &TestLab) -> String {
    let dir = lab.state_dir().join("journal");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    std::fs::read_to_string(files.last().unwrap()).unwrap()
}

#[test]
fn canary_rollouts_on_lab() {
    let lab = TestLab::up(3);
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", INVENTORY);
    repo.write("schedulers/simple.yaml", OBJECTS);
    repo.write("schedulers/ejector.yaml", "source: object:ejector.bpf.o\n");
    repo.write("ejector.bpf.o", schedfleet_bpf::testing::EJECTOR);
    repo.write("fleet.yaml", fleet("simple", 3_000_000, "3s", "60s", None));
    let first_commit = repo.commit("simple everywhere");
    let (l1, l2, l3) = (lab.host("lab-1"), lab.host("lab-2"), lab.host("lab-3"));

    // 1. A good scheduler goes through the waves; every host is confirmed,
    //    each over one SSH connection for the whole rollout (plan, push,
    //    activation, every bake poll, confirm, lease release), as the
    //    hosts' own sshd counts them.
    let logins: Vec<usize> = ["lab-1", "lab-2", "lab-3"].iter().map(|h| lab.ssh_logins(h)).collect();
    let (code, report, _) = apply(&lab, &repo);
    let per_host: Vec<usize> =
        ["lab-1", "lab-2", "lab-3"].iter().zip(&logins).map(|(h, before)| lab.ssh_logins(h) - before).collect();
    assert_eq!(per_host, [1, 1, 1], "SSH connections per host over a rollout with bakes");
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["waves"], serde_json::json!([["lab-1"], ["lab-2", "lab-3"]]));
    assert_eq!(states(&report), pairs(&[("lab-1", "confirmed"), ("lab-2", "confirmed"), ("lab-3", "confirmed")]));
    for h in [l1, l2, l3] {
        assert_eq!(h.sched_ext(), ("enabled".to_owned(), "simple".to_owned()));
        let st = agent_status(h);
        assert_eq!(st["active"]["confirmed"], true, "{st}");
        assert!(st["pending"].is_null(), "{st}");
    }
    let out = run(lab.cmd().arg("plan").arg("--repo").arg(repo.path()));
    assert_eq!(out.status.code(), Some(0), "plan sees no changes after the rollout");
    let seq2 = l2.ssh_ok(&["cat", "/sys/kernel/sched_ext/enable_seq"]);

    // 2. A canary the kernel ejects during its bake: halt, exit 3, the canary
    //    is back on simple, nobody else was touched, the journal says why.
    repo.write("fleet.yaml", fleet("ejector", 0, "6s", "60s", None));
    repo.commit("the ejector");
    let (code, report, err) = apply(&lab, &repo);
    assert_eq!(code, Some(3), "{report}\n{err}");
    assert_eq!(report["halted"]["wave"], 0);
    assert_eq!(states(&report), pairs(&[("lab-1", "fell_back"), ("lab-2", "not_started"), ("lab-3", "not_started")]));
    wait_for("lab-1 back on simple", Duration::from_secs(10), || l1.sched_ext().1 == "simple");
    assert_eq!(slice(l1), "3000000");
    assert_eq!(l2.ssh_ok(&["cat", "/sys/kernel/sched_ext/enable_seq"]), seq2, "lab-2 was not touched");
    let journal = journal_text(&lab);
    assert!(journal.contains("\"action\":\"gate\"") && journal.contains("\"action\":\"run_halted\""), "{journal}");
    assert!(
        journal.contains("ejector") || journal.contains("scx_bpf_error"),
        "the journal names the failure: {journal}"
    );

    // 3. A canary bad only by a failing user probe: the same.
    repo.write(
        "fleet.yaml",
        fleet("simple", 2_000_000, "6s", "60s", Some("{ name: serving, command: [false], timeout: 2s }")),
    );
    repo.commit("a probe that fails");
    let (code, report, _) = apply(&lab, &repo);
    assert_eq!(code, Some(3), "{report}");
    assert_eq!(states(&report), pairs(&[("lab-1", "fell_back"), ("lab-2", "not_started"), ("lab-3", "not_started")]));
    assert!(report["hosts"][0]["message"].as_str().unwrap().contains("serving"), "{report}");
    wait_for("lab-1 back on 3 ms slices", Duration::from_secs(10), || slice(l1) == "3000000");

    // 4. Two operators: the second apply exits 5 and changes nothing; Ctrl-C
    //    stops the first, whose canary goes back to its previous scheduler.
    repo.write("fleet.yaml", fleet("simple", 2_000_000, "30s", "40s", None));
    repo.commit("2 ms slices, long bake");
    let first = spawn_apply(&lab, &repo, &[], &[]);
    wait_for("lab-1 pending", Duration::from_secs(60), || !agent_status(l1)["pending"].is_null());
    let out = run(lab.cmd().arg("apply").arg("--repo").arg(repo.path()).arg("--yes"));
    assert_eq!(out.status.code(), Some(5), "the second rollout is refused");
    assert!(stderr(&out).contains("locked by"), "{}", stderr(&out));
    assert!(Command::new("kill").args(["-INT", &first.id().to_string()]).status().unwrap().success());
    let out = first.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert_eq!(report["halted"]["kind"], "interrupted");
    assert_eq!(slice(l1), "3000000", "the interrupted canary is back on its previous scheduler");
    assert_eq!(slice(l2), "3000000");

    // 5. The controller dies (SIGKILL) after activating the canary and before
    //    confirming it: the host reverts by itself at its deadline.
    repo.write("fleet.yaml", fleet("simple", 2_000_000, "15s", "25s", None));
    repo.commit("2 ms slices, short deadline");
    let mut doomed = spawn_apply(&lab, &repo, &[], &[]);
    wait_for("lab-1 pending", Duration::from_secs(60), || !agent_status(l1)["pending"].is_null());
    assert_eq!(slice(l1), "2000000");
    doomed.kill().unwrap();
    let _ = doomed.wait();
    let took = wait_for("lab-1 to revert by itself", Duration::from_secs(45), || slice(l1) == "3000000");
    let st = agent_status(l1);
    assert!(st["last_fallback"]["reason"].as_str().unwrap_or("").contains("not confirmed"), "{st}");
    eprintln!("lab-1 reverted {:.1}s after the controller was killed", took.as_secs_f64());

    // 6. `rollback --previous`: each host's previous confirmed scheduler, kept
    //    on the host; lab-1..3 had only the kernel default before `simple`.
    let out = run(lab.cmd().arg("rollback").arg("--repo").arg(repo.path()).args(["--previous", "--yes", "--json"]));
    assert_eq!(out.status.code(), Some(0));
    assert_conforms("rollback", &json(&out));
    assert!(json(&out).as_array().unwrap().iter().all(|r| r["outcome"] == "done"), "{}", json(&out));
    for h in [l1, l2, l3] {
        assert_eq!(h.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]), "disabled", "{} back on the default", h.name);
    }

    // 7. `rollback --to REV`: a full rollout of the first commit, in waves.
    //    The killed controller's host lease keeps other rollouts off lab-1
    //    until it expires (its deadline plus 30 s); the emergency paths above
    //    do not take leases.
    wait_for("the dead controller's lease on lab-1 to expire", Duration::from_secs(60), || {
        agent_status(l1)["lease"].is_null()
    });
    let out =
        run(lab.cmd().arg("rollback").arg("--repo").arg(repo.path()).args(["--to", &first_commit, "--yes", "--json"]));
    assert_eq!(out.status.code(), Some(0));
    assert_conforms("rollback", &json(&out));
    assert_conforms("apply", &json(&out));
    assert_eq!(states(&json(&out)), pairs(&[("lab-1", "confirmed"), ("lab-2", "confirmed"), ("lab-3", "confirmed")]));
    for h in [l1, l2, l3] {
        assert_eq!(slice(h), "3000000");
    }

    // 8. The SSH path to lab-3 drops during its wave's bake (its host key
    //    disappears from the controller's known-hosts, so every new connection
    //    is refused): lab-3 counts against the budget (1 here, so the rollout
    //    goes on), and ends in a known state: unconfirmed, it reverts by
    //    itself at its deadline.
    let mut f = fleet("simple", 2_000_000, "10s", "20s", None);
    f.push_str("  failure_budget: { per_wave: 1, total: 1 }\n");
    repo.write("fleet.yaml", &f);
    repo.commit("2 ms slices, one failure tolerated");
    let known_hosts = l3.known_hosts_file.clone();
    let saved = std::fs::read_to_string(&known_hosts).unwrap();
    let mut l3_own = l3.clone();
    l3_own.known_hosts_file = lab.state_dir().join("known_hosts.saved");
    std::fs::create_dir_all(lab.state_dir()).unwrap();
    std::fs::write(&l3_own.known_hosts_file, &saved).unwrap();
    let cut = spawn_apply(&lab, &repo, &[], &[]);
    wait_for("lab-3 pending in wave 2", Duration::from_secs(90), || !agent_status(&l3_own)["pending"].is_null());
    std::fs::write(&known_hosts, known_hosts_without(&saved, l3.port)).unwrap();
    // The controller keeps one session per host: without its key, lab-3 is
    // only lost once that connection drops too.
    kill_ssh_master(l3.port);
    let out = cut.wait_with_output().unwrap();
    std::fs::write(&known_hosts, &saved).unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "one failure is within the budget: {report}");
    assert_eq!(states(&report), pairs(&[("lab-1", "confirmed"), ("lab-2", "confirmed"), ("lab-3", "fell_back")]));
    assert!(report["hosts"][2]["message"].as_str().unwrap().contains("no status"), "{report}");
    wait_for("lab-3 to revert by itself", Duration::from_secs(40), || slice(l3) == "3000000");
    assert!(agent_status(l3)["last_fallback"]["reason"].as_str().unwrap_or("").contains("not confirmed"));
    assert_eq!((slice(l1), slice(l2)), ("2000000".to_owned(), "2000000".to_owned()));

    // 9. The SSH path to lab-1 drops just before its confirm (the
    //    test-only fault switch closes the controller's session then; the
    //    host key is gone, so the one reconnect is refused): lab-1 is
    //    unreachable, a host failure over the budget (exit 4), journaled as
    //    unreachable, not as a failed gate, and it reverts by itself.
    repo.write("fleet.yaml", fleet("simple", 4_000_000, "3s", "20s", None));
    repo.commit("4 ms slices");
    let mut l1_own = l1.clone();
    l1_own.known_hosts_file = l3_own.known_hosts_file.clone();
    let lost = spawn_apply(&lab, &repo, &[("SCHEDFLEET_TEST_FAULT", "drop-before-confirm:lab-1")], &[]);
    wait_for("lab-1 pending", Duration::from_secs(60), || !agent_status(&l1_own)["pending"].is_null());
    std::fs::write(&known_hosts, known_hosts_without(&saved, l1.port)).unwrap();
    let out = lost.wait_with_output().unwrap();
    std::fs::write(&known_hosts, &saved).unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(4), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["halted"]["kind"], "hosts", "{report}");
    assert!(report["hosts"][0]["message"].as_str().unwrap().contains("unreachable at confirm"), "{report}");
    let journal = journal_text(&lab);
    let events: Vec<serde_json::Value> = journal.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let confirm = events
        .iter()
        .find(|e| e["action"] == "confirm" && e["host"] == "lab-1")
        .unwrap_or_else(|| panic!("no confirm of lab-1 in the journal:\n{journal}"));
    assert_eq!(confirm["outcome"], "unreachable", "{confirm}");
    let gates: Vec<&serde_json::Value> = events.iter().filter(|e| e["action"] == "gate").collect();
    assert!(!gates.is_empty() && gates.iter().all(|e| e["outcome"] == "ok"), "{journal}");
    wait_for("lab-1 to revert by itself", Duration::from_secs(40), || slice(l1) == "2000000");

    // 10. Emergency: every host back to the kernel default at once.
    let started = Instant::now();
    let out = run(lab.cmd().arg("rollback").arg("--repo").arg(repo.path()).args(["--default", "--yes", "--json"]));
    let wall = started.elapsed();
    assert_eq!(out.status.code(), Some(0));
    assert_conforms("rollback", &json(&out));
    for h in [l1, l2, l3] {
        assert_eq!(h.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]), "disabled");
    }
    eprintln!("rollback --default of 3 lab hosts: {:.2}s", wall.as_secs_f64());
}

/// Kills the controller's SSH master connection to the lab VM on `port`
/// (`ssh -M ... -p PORT`), as a network drop would end it.
fn kill_ssh_master(port: u16) {
    let port = port.to_string();
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let is_master = args.first().is_some_and(|a| a.ends_with("ssh")) && args.iter().any(|a| a == "-M");
        let to_port = args.windows(2).any(|w| w[0] == "-p" && w[1] == port);
        if is_master && to_port {
            let pid = entry.file_name().to_string_lossy().into_owned();
            assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
            killed += 1;
        }
    }
    // A controller killed earlier in the scenario may have left its own master behind.
    assert!(killed >= 1, "no SSH master to port {port}");
}

/// A known-hosts text without the key of the lab VM on `port`.
fn known_hosts_without(known_hosts: &str, port: u16) -> String {
    let entry = format!("]:{port} ");
    known_hosts.lines().filter(|l| !l.contains(&entry)).map(|l| format!("{l}\n")).collect()
}
