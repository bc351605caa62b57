//! `apply` against a real sshd on this machine, whose kernel has no
//! sched_ext: the host is refused before anything is pushed, and an unknown
//! or changed host key refuses the connection.

use crate::support::repo::ConfigRepo;
use crate::support::sshd::LoopbackSshd;
use crate::support::{agent_binary, json, run, schedfleet, sha256_hex};

const FLEET: &str = "assignments:\n  - hosts: all\n    scheduler: simple\n";

fn apply(sshd: &LoopbackSshd, known_hosts: &std::path::Path) -> std::process::Output {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("fleet.yaml", FLEET);
    repo.commit("all hosts");
    let inv = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(inv.path(), sshd.inventory(known_hosts)).unwrap();
    run(schedfleet()
        .arg("apply")
        .arg("--repo")
        .arg(repo.path())
        .arg("--inventory")
        .arg(inv.path())
        .args(["--yes", "--json"]))
}

#[test]
fn host_without_sched_ext_is_refused_before_anything_is_pushed() {
    // The agent's own view of this machine.
    let facts = run(std::process::Command::new(agent_binary()).arg("facts"));
    assert!(facts.status.success());
    let facts = json(&facts);
    assert_eq!(facts["result"]["sched_ext"], false, "{facts}");

    let agent_digest = sha256_hex(&std::fs::read(agent_binary()).unwrap());
    let pushed_agent = std::path::Path::new(schedfleet_proto::STORE_DIR).join(&agent_digest);
    let _ = std::fs::remove_file(&pushed_agent);

    let sshd = LoopbackSshd::start();
    let out = apply(&sshd, &sshd.host.known_hosts_file);
    assert_eq!(out.status.code(), Some(4), "a refused host counts against the failure budget");
    let report = json(&out);
    crate::support::output::assert_conforms("apply", &report);
    assert_eq!(report["schema_version"], 1);
    let host = &report["hosts"][0];
    assert_eq!(host["state"], "failed", "{report}");
    assert!(host["message"].as_str().unwrap().contains("has no sched_ext"), "{report}");
    assert_eq!(host["bytes_sent"], 0);
    assert!(!pushed_agent.exists(), "the agent was pushed to a host without sched_ext");
}

#[test]
fn unknown_or_changed_host_key_is_refused() {
    let sshd = LoopbackSshd::start();
    let empty = tempfile::NamedTempFile::new().unwrap();
    for known_hosts in [empty.path(), sshd.wrong_known_hosts.as_path()] {
        let out = apply(&sshd, known_hosts);
        assert_eq!(out.status.code(), Some(4));
        let report = json(&out);
        let host = &report["hosts"][0];
        assert_eq!(host["state"], "failed", "{report}");
        let msg = host["message"].as_str().unwrap();
        assert!(
            msg.contains("Host key verification failed") || msg.contains("HOST IDENTIFICATION HAS CHANGED"),
            "{msg}"
        );
        assert_eq!(host["bytes_sent"], 0);
    }
    // The unknown key was not added behind our back.
    assert_eq!(std::fs::read_to_string(empty.path()).unwrap(), "");
}
