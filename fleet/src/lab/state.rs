//! What the rest of schedfleet sees of the lab: [`LabHost`], everything
//! needed to reach one running VM over plain OpenSSH, and [`LabSurvey`],
//! which VMs of a lab directory run and which left a stale PID file.
//!
//! `LabHost` is also the JSON of `schedfleet lab status --json`, so its
//! field names are part of the command contract. Starting and stopping VMs
//! is `lifecycle.rs`'s; this module only describes and reads.

use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::LabError;
use super::layout::{LabLayout, VmPaths};
use super::vm;

/// Where the VMs' sshd listens, through qemu's port forwarding.
pub const LAB_ADDRESS: &str = "127.0.0.1";
/// Who logs in; the lab's client key is in root's `authorized_keys`.
pub const LAB_USER: &str = "root";

/// One running lab VM and how to log in to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LabHost {
    /// `lab-1`, `lab-2` ...
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// The lab's private client key (absolute path).
    pub identity_file: PathBuf,
    /// Pins every VM's host key to its port; use with
    /// `StrictHostKeyChecking=yes` (absolute path).
    pub known_hosts_file: PathBuf,
    /// The VM's qemu process.
    pub pid: u32,
    /// The kernel release the VM booted (`uname -r` inside it); `unknown`
    /// for a VM started before labs recorded it.
    #[serde(default = "unknown_kernel")]
    pub kernel: String,
}

fn unknown_kernel() -> String {
    "unknown".to_owned()
}

impl LabHost {
    pub(crate) fn new(layout: &LabLayout, vm: &VmPaths, port: u16, pid: u32, kernel: String) -> Self {
        LabHost {
            name: vm.name.clone(),
            address: LAB_ADDRESS.to_owned(),
            port,
            user: LAB_USER.to_owned(),
            identity_file: layout.client_key(),
            known_hosts_file: layout.known_hosts(),
            pid,
            kernel,
        }
    }

    /// Arguments for `/usr/bin/ssh` that log in to this VM, strictly
    /// checking its host key; append the remote command.
    pub fn ssh_args(&self) -> Vec<OsString> {
        let mut known_hosts = OsString::from("UserKnownHostsFile=");
        known_hosts.push(quote_option(&self.known_hosts_file));
        let mut args: Vec<OsString> = vec!["-i".into(), self.identity_file.clone().into()];
        args.extend(["-p".into(), self.port.to_string().into(), "-l".into(), self.user.clone().into()]);
        for option in
            ["BatchMode=yes", "StrictHostKeyChecking=yes", "GlobalKnownHostsFile=/dev/null", "IdentitiesOnly=yes"]
        {
            args.extend(["-o".into(), option.into()]);
        }
        args.extend(["-o".into(), known_hosts]);
        args.push(self.address.clone().into());
        args
    }
}

/// ssh splits `UserKnownHostsFile` values at whitespace (it takes a list),
/// so a path with spaces must be quoted.
fn quote_option(path: &std::path::Path) -> OsString {
    let text = path.as_os_str();
    if text.as_encoded_bytes().iter().any(u8::is_ascii_whitespace) {
        let mut quoted = OsString::from("\"");
        quoted.push(text);
        quoted.push("\"");
        quoted
    } else {
        text.to_owned()
    }
}

/// A VM folder whose PID file names no running lab VM (qemu was killed, or
/// the machine rebooted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleVm {
    pub name: String,
    /// What the PID file said, when it said anything readable.
    pub pid: Option<u32>,
}

/// The VMs of a lab directory, by state.
#[derive(Debug, Clone, Default)]
pub struct LabSurvey {
    pub running: Vec<LabHost>,
    pub stale: Vec<StaleVm>,
}

impl LabSurvey {
    /// Reads every VM folder's PID file and checks the process behind it.
    /// Folders without a PID file are VMs that were stopped cleanly.
    pub fn read(layout: &LabLayout) -> Result<Self, LabError> {
        let mut survey = LabSurvey::default();
        for vm in layout.existing_vms()? {
            let pid = match vm::read_pid(&vm) {
                Ok(None) => continue,
                Ok(Some(pid)) => pid,
                Err(LabError::Corrupt { .. }) => {
                    survey.stale.push(StaleVm { name: vm.name.clone(), pid: None });
                    continue;
                }
                Err(e) => return Err(e),
            };
            if vm::is_our_qemu(pid, &vm) {
                let port = read_port(&vm)?;
                survey.running.push(LabHost::new(layout, &vm, port, pid, read_kernel(&vm)));
            } else {
                survey.stale.push(StaleVm { name: vm.name.clone(), pid: Some(pid) });
            }
        }
        Ok(survey)
    }

    pub fn running_vm(&self, name: &str) -> Option<&LabHost> {
        self.running.iter().find(|h| h.name == name)
    }
}

/// The port in the VM's port file.
pub fn read_port(vm: &VmPaths) -> Result<u16, LabError> {
    let path = vm.port_file();
    let text = fs::read_to_string(&path).map_err(super::error::io_err("read", &path))?;
    text.trim().parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| LabError::Corrupt {
        path,
        content: text.trim().to_owned(),
        expected: "a TCP port",
    })
}

/// The release in the VM's kernel file, `unknown` without one.
pub fn read_kernel(vm: &VmPaths) -> String {
    fs::read_to_string(vm.kernel_file())
        .ok()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .unwrap_or_else(unknown_kernel)
}

/// The VM's previous port, if its port file holds one.
pub fn previous_port(vm: &VmPaths) -> Option<u16> {
    read_port(vm).ok()
}

impl LabHost {
    /// Where the controller reaches this VM over SSH.
    pub fn ssh_target(&self) -> crate::config::SshTarget {
        crate::config::SshTarget {
            address: self.address.clone(),
            port: self.port,
            user: self.user.clone(),
            identity_file: Some(self.identity_file.clone()),
            known_hosts_file: Some(self.known_hosts_file.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> LabHost {
        LabHost {
            name: "lab-1".into(),
            address: LAB_ADDRESS.into(),
            port: 40022,
            user: LAB_USER.into(),
            identity_file: "/l/id_ed25519".into(),
            known_hosts_file: "/l/known_hosts".into(),
            pid: 77,
            kernel: "7.3.4+deb13-cloud-amd64".into(),
        }
    }

    #[test]
    fn json_has_the_contract_fields() {
        let json = serde_json::to_value(host()).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = ["name", "address", "port", "user", "identity_file", "known_hosts_file", "pid", "kernel"];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        let back: LabHost = serde_json::from_value(json).unwrap();
        assert_eq!(back, host());
    }

    #[test]
    fn ssh_args_check_host_keys_strictly() {
        let args: Vec<String> = host().ssh_args().into_iter().map(|a| a.into_string().unwrap()).collect();
        let line = args.join(" ");
        assert!(line.starts_with("-i /l/id_ed25519 -p 40022 -l root"), "{line}");
        assert!(line.contains("-o StrictHostKeyChecking=yes"));
        assert!(line.contains("-o UserKnownHostsFile=/l/known_hosts"));
        assert!(line.contains("-o BatchMode=yes"));
        assert!(!line.contains("accept-new"));
        assert_eq!(args.last().unwrap(), "127.0.0.1");
    }

    #[test]
    fn known_hosts_paths_with_spaces_are_quoted() {
        let mut h = host();
        h.known_hosts_file = "/my lab/known_hosts".into();
        let args: Vec<String> = h.ssh_args().into_iter().map(|a| a.into_string().unwrap()).collect();
        assert!(args.contains(&"UserKnownHostsFile=\"/my lab/known_hosts\"".to_owned()));
    }

    #[test]
    fn folders_without_processes_are_stale_or_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LabLayout::resolve(Some(dir.path().to_owned())).unwrap();
        for i in 1..=3 {
            fs::create_dir_all(layout.vm(i).dir).unwrap();
        }
        // lab-1: stopped cleanly; lab-2: a PID that is not our qemu; lab-3: garbage.
        fs::write(layout.vm(2).pid_file(), format!("{}\n", std::process::id())).unwrap();
        fs::write(layout.vm(3).pid_file(), "x").unwrap();
        let survey = LabSurvey::read(&layout).unwrap();
        assert!(survey.running.is_empty());
        assert_eq!(
            survey.stale,
            [
                StaleVm { name: "lab-2".into(), pid: Some(std::process::id()) },
                StaleVm { name: "lab-3".into(), pid: None }
            ]
        );
    }
}
