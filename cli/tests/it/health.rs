//! Health reports, `status` and `drift` on a real sched_ext kernel: the
//! wake-up latency histogram under the kernel default and under `simple`,
//! with and without CPU hogs; an ejection named with the kernel's reason;
//! a scheduler removed behind schedfleet's back; Prometheus output checked
//! by promtool.

use crate::support::lab::TestLab;
use crate::support::output::assert_conforms;
use crate::support::repo::ConfigRepo;
use crate::support::{agent_binary, json, promtool_check, run, sha256_hex, stdout, SshHost};

fn status(lab: &TestLab, repo: &ConfigRepo) -> serde_json::Value {
    let out = run(lab.cmd().arg("status").arg("--repo").arg(repo.path()).args(["--json", "--latency-window", "2s"]));
    assert_eq!(out.status.code(), Some(0), "status exits 0 when every host answered");
    assert_conforms("status", &json(&out));
    json(&out)[0].clone()
}

fn drift(lab: &TestLab, repo: &ConfigRepo, format: &str) -> (Option<i32>, String) {
    let out = run(lab.cmd().arg("drift").arg("--repo").arg(repo.path()).args(["--format", format]));
    (out.status.code(), stdout(&out))
}

/// Starts `n` busy loops on the host, detached from the SSH session; returns their PIDs.
fn hogs(h: &SshHost, n: usize) -> Vec<String> {
    (0..n)
        // Plain ssh joins its arguments into one remote shell line, so the
        // loop is given as one string.
        .map(|_| h.ssh_ok(&["sh -c '( while :; do :; done ) </dev/null >/dev/null 2>&1 & echo $!'"]))
        .collect()
}

#[test]
fn status_and_drift_on_lab() {
    let mut lab = TestLab::up(1);
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", "hosts:\n  lab-1: { connection: lab }\n");
    repo.commit("one lab host");
    let agent_path = format!("{}/{}", schedfleet_proto::STORE_DIR, sha256_hex(&std::fs::read(agent_binary()).unwrap()));

    // No agent yet: drift says so.
    let (code, text) = drift(&lab, &repo, "text");
    assert_eq!(code, Some(1));
    assert!(text.contains("lab-1: agent_missing"), "{text}");

    let out = run(lab.cmd().arg("apply").arg("--repo").arg(repo.path()).arg("--yes"));
    assert_eq!(out.status.code(), Some(0));

    // User probes, run by the agent on the host for `status`: one passes,
    // one cannot connect. (Declared after the rollout: a failing probe
    // would rightly have halted it.)
    let mut fleet = std::fs::read_to_string(repo.path().join("fleet.yaml")).unwrap();
    fleet.push_str(
        "health:\n  probes:\n    - { name: alive, command: [cat, /proc/loadavg], timeout: 2s }\n    - { name: serving, http: 'http://127.0.0.1:9/health', timeout: 1s }\n",
    );
    repo.write("fleet.yaml", fleet);
    repo.commit("two probes");

    // In sync: exit 0 and nothing on stdout (cron mails nothing); the new
    // commit changed nothing this host runs.
    let (code, text) = drift(&lab, &repo, "text");
    assert_eq!((code, text.as_str()), (Some(0), ""));

    // Latency under `simple`, idle and with CPU hogs.
    let idle = status(&lab, &repo);
    assert_eq!(idle["status"]["kernel"]["ops"], "simple");
    let probes = &idle["status"]["probes"];
    assert_eq!((probes[0]["name"].as_str(), probes[0]["ok"].as_bool()), (Some("alive"), Some(true)), "{probes}");
    assert_eq!((probes[1]["name"].as_str(), probes[1]["ok"].as_bool()), (Some("serving"), Some(false)), "{probes}");
    assert!(probes[1]["detail"].as_str().unwrap().contains("refused"), "{probes}");
    let lat = &idle["status"]["latency"];
    assert!(lat["samples"].as_u64().unwrap() > 0, "samples under simple: {lat}");
    // A task that sleeps 5 ms in a loop gives every window a few hundred
    // wake-ups to measure; under CPU hogs each of them waits for a CPU.
    // The comparison runs while no other test's VMs share the host cores.
    let alone = lab.alone();
    let h = lab.host("lab-1");
    let sleeper = h.ssh_ok(&["sh -c '( while :; do sleep 0.005; done ) </dev/null >/dev/null 2>&1 & echo $!'"]);
    let idle = status(&lab, &repo);
    // Idle and loaded windows alternate three times, and medians are
    // compared: the lab VMs share two host cores with whatever else runs,
    // so one window of each could catch the host's noise, not the hogs.
    let p99 = |v: &serde_json::Value| v["status"]["latency"]["p99_us"].as_u64().expect("a p99");
    let (mut idle_p99, mut busy_p99) = (vec![p99(&idle)], Vec::new());
    for round in 0..3 {
        let pids = hogs(h, 6);
        busy_p99.push(p99(&status(&lab, &repo)));
        let mut kill = vec!["kill"];
        kill.extend(pids.iter().map(String::as_str));
        h.ssh_ok(&kill);
        if round < 2 {
            idle_p99.push(p99(&status(&lab, &repo)));
        }
    }
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (p99_idle, p99_busy) = (median(&mut idle_p99), median(&mut busy_p99));
    eprintln!("wake-up latency p99 under simple: idle {idle_p99:?} us (median {p99_idle}), 6 CPU hogs {busy_p99:?} us (median {p99_busy})");
    h.ssh_ok(&["kill", &sleeper]);
    assert!(p99_busy > p99_idle, "p99 rises under load: idle {idle_p99:?} us, busy {busy_p99:?} us");
    drop(alone);

    // Prometheus text passes promtool.
    let (code, metrics) = drift(&lab, &repo, "prometheus");
    assert_eq!(code, Some(0));
    assert!(metrics.contains("schedfleet_drift{host=\"lab-1\",kind=\"params\""), "{metrics}");
    promtool_check(&metrics);

    // Removed by hand behind schedfleet's back: drift reports it.
    h.ssh_ok(&["rm", schedfleet_proto::LINK_PIN]);
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(h.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]), "disabled");
    let (code, text) = drift(&lab, &repo, "text");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("lab-1: kernel_disagrees"), "{text}");

    // Latency under the kernel's default scheduler.
    let default = status(&lab, &repo);
    assert_eq!(default["status"]["kernel"]["state"], "disabled");
    let samples = default["status"]["latency"]["samples"].as_u64().unwrap();
    eprintln!("wake-up latency under the default scheduler: {}", default["status"]["latency"]);
    assert!(samples > 0, "samples under the kernel default");

    // An ejection: the kernel's reason is in `status`, and drift exits 1.
    let ejector = schedfleet_bpf::testing::EJECTOR;
    h.put("/tmp/ejector.bpf.o", ejector);
    let (ok, reply) =
        h.agent(&agent_path, &["activate", "/tmp/ejector.bpf.o", "--sha256", &sha256_hex(ejector), "--replace"]);
    assert!(ok, "the ejector loads and enables: {reply}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while h.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]) != "disabled" {
        assert!(std::time::Instant::now() < deadline, "the kernel did not eject the ejector");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let after = status(&lab, &repo);
    let ejection = &after["status"]["last_ejection"];
    assert_eq!(ejection["ops"], "ejector", "{after}");
    assert!(!ejection["reason"].as_str().unwrap_or("").is_empty(), "the kernel's reason is reported: {ejection}");
    eprintln!("ejection reported: {ejection}");
    let (code, text) = drift(&lab, &repo, "json");
    assert_eq!(code, Some(1));
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_conforms("drift", &report);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["hosts"][0]["host"], "lab-1");
    assert!(!report["hosts"][0]["drift"].as_array().unwrap().is_empty(), "{report}");
}
