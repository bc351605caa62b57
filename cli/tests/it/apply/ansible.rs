//! `apply --inventory ansible-inventory.yaml` on a lab VM: the VM is
//! written into an Ansible YAML inventory the way a team would write any
//! host (`ansible_host`, `ansible_port`, `ansible_user`,
//! `ansible_ssh_private_key_file`, and the known-hosts file through
//! `ansible_ssh_common_args`, so Ansible itself could use the same file),
//! with a group variable that a parameter template reads. Ansible's own
//! reading of the file is checked first; the kernel's answer over plain
//! `ssh` is the verdict.

use crate::ansible::ansible_inventory;
use crate::support::lab::TestLab;
use crate::support::repo::ConfigRepo;
use crate::support::{agent_binary, json, run, sha256_hex, stderr};

#[test]
fn apply_with_an_ansible_inventory_reaches_a_lab_vm() {
    let lab = TestLab::up(1);
    let vm = lab.host("lab-1");
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("ansible-inventory.yaml");
    std::fs::write(
        &inventory,
        format!(
            "all:\n  vars:\n    ansible_user: {user}\n    ansible_ssh_private_key_file: {key}\n    \
             ansible_ssh_common_args: '-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes'\n  \
             children:\n    gpu:\n      vars: {{ slice_ns: 2500000 }}\n      hosts:\n        \
             lab-1:\n          ansible_host: {address}\n          ansible_port: {port}\n",
            user = vm.user,
            key = vm.identity_file.display(),
            known = vm.known_hosts_file.display(),
            address = vm.address,
            port = vm.port,
        ),
    )
    .unwrap();
    // Ansible reads the same host, address and port from the file.
    let out = std::process::Command::new(ansible_inventory())
        .args(["--host", "lab-1", "-i"])
        .arg(&inventory)
        .env("ANSIBLE_HOME", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ansible: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (ansible["ansible_host"].as_str(), ansible["ansible_port"].as_u64()),
        (Some(vm.address.as_str()), Some(u64::from(vm.port)))
    );

    let repo = ConfigRepo::from_example("quickstart");
    repo.write(
        "fleet.yaml",
        "assignments:\n  - hosts: gpu\n    scheduler: simple\n    params: { slice_ns: '{{ slice_ns }}' }\n\
         rollout:\n  waves: [1]\n  bake: 2s\n  confirm_timeout: 60s\n",
    );
    repo.commit("the gpu group of an Ansible inventory");
    let out = run(lab
        .cmd()
        .arg("apply")
        .arg("--repo")
        .arg(repo.path())
        .arg("--inventory")
        .arg(&inventory)
        .args(["--yes", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = json(&out);
    let hosts = report["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1, "{report}");
    assert_eq!((hosts[0]["host"].as_str(), hosts[0]["state"].as_str()), (Some("lab-1"), Some("confirmed")), "{report}");

    assert_eq!(vm.sched_ext(), ("enabled".to_owned(), "simple".to_owned()), "the kernel runs simple");
    let agent = format!("{}/{}", schedfleet_proto::STORE_DIR, sha256_hex(&std::fs::read(agent_binary()).unwrap()));
    let (ok, status) = vm.agent(&agent, &["status"]);
    assert!(ok, "{status}");
    assert_eq!(status["result"]["active"]["params"]["slice_ns"], "2500000", "the group variable reached the host");

    // plan with the same inventory: nothing left to do.
    let out =
        run(lab.cmd().arg("plan").arg("--repo").arg(repo.path()).arg("--inventory").arg(&inventory).arg("--json"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
