//! What the integration tests share: running the real `schedfleet` binary,
//! the static agent, throw-away git config repositories, a loopback sshd on
//! this machine (whose kernel has no sched_ext), and the VM lab.

pub mod lab;
pub mod output;
pub mod repo;
pub mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The static agent built into `schedfleet` (what every command here
/// pushes), written out once with the hidden `schedfleet generate agent`.
pub fn agent_binary() -> &'static Path {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    AGENT.get_or_init(|| {
        let path = state_dir().join("schedfleet-agent");
        let out =
            Command::new(env!("CARGO_BIN_EXE_schedfleet")).args(["generate", "agent"]).arg(&path).output().unwrap();
        assert!(out.status.success(), "schedfleet generate agent failed:\n{}", String::from_utf8_lossy(&out.stderr));
        path
    })
}

/// A private controller state directory for this test process (facts
/// cache, journals, locks), so tests never see each other's or the user's.
pub fn state_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::Builder::new().prefix("sf-state-").tempdir().unwrap()).path()
}

/// A `schedfleet` command with a quiet environment that pushes the agent
/// built into it, as a user's would.
pub fn schedfleet() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schedfleet"));
    cmd.env_remove("SCHEDFLEET_AGENT").env("SCHEDFLEET_STATE_DIR", state_dir()).env_remove("RUST_LOG");
    cmd
}

/// Runs and returns the output, echoing it for the test log.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    eprintln!(
        "$ {cmd:?}\n-> {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(out)))
}

/// The SSH coordinates of a host, as `schedfleet lab status --json` gives them.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SshHost {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub identity_file: PathBuf,
    pub known_hosts_file: PathBuf,
}

impl SshHost {
    /// Plain `ssh`, independent of schedfleet and its agent, strict host keys.
    pub fn ssh(&self, remote: &[&str]) -> Output {
        self.ssh_command().args(remote).output().expect("run ssh")
    }

    /// `ssh` that must succeed; returns trimmed stdout.
    pub fn ssh_ok(&self, remote: &[&str]) -> String {
        let out = self.ssh(remote);
        assert!(out.status.success(), "ssh {remote:?} on {} failed: {}", self.name, stderr(&out));
        stdout(&out).trim().to_owned()
    }

    /// Copies bytes to `path` on the host over plain ssh.
    pub fn put(&self, path: &str, bytes: &[u8]) {
        use std::io::Write;
        let mut child = self
            .ssh_command()
            .args(["dd", &format!("of={path}")])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "copy to {path} failed: {}", stderr(&out));
    }

    /// The `ssh` command line up to and including `--`, to which the caller
    /// adds the remote command: no user config, no prompts, only this host's
    /// key file, and only its known host key.
    fn ssh_command(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            // A host whose sshd gets no CPU fails the test instead of
            // hanging it: the connect timeout also bounds the wait for the
            // server's banner, the keep-alives a session that stops moving.
            "-o",
            "ConnectTimeout=120",
            "-o",
            "ServerAliveInterval=30",
            "-o",
            "ServerAliveCountMax=4",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", self.known_hosts_file.display()))
        .arg("-i")
        .arg(&self.identity_file)
        .args(["-p", &self.port.to_string(), "-l", &self.user, &self.address, "--"]);
        cmd
    }

    /// Runs the pushed agent on the host and parses its one JSON reply.
    pub fn agent(&self, agent_path: &str, args: &[&str]) -> (bool, serde_json::Value) {
        let mut remote = vec![agent_path];
        remote.extend_from_slice(args);
        let out = self.ssh(&remote);
        let reply: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("agent reply is not JSON ({e}): {}\n{}", stdout(&out), stderr(&out)));
        assert_eq!(out.status.success(), reply["outcome"] == "ok", "exit status and reply disagree: {reply}");
        (out.status.success(), reply)
    }

    /// The `ssh` command that runs `remote` on the host, for callers that
    /// need its stdin.
    pub fn agent_command(&self, remote: &[&str]) -> Command {
        let mut cmd = self.ssh_command();
        cmd.args(remote);
        cmd
    }

    /// `(state, ops)` read straight from the kernel's sysfs files.
    pub fn sched_ext(&self) -> (String, String) {
        let state = self.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]);
        let ops = self.ssh_ok(&["cat", "/sys/kernel/sched_ext/root/ops"]);
        (state, ops)
    }
}

/// `${SCHEDFLEET_CACHE:-~/.cache/schedfleet}` (empty counts as unset, as
/// for schedfleet itself): where `lab/setup.sh` caches kernels, tools and
/// the upstream schedulers it builds.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("SCHEDFLEET_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/schedfleet"))
}

/// Prometheus text that `promtool check metrics` (cached by `lab/setup.sh
/// tools`) accepts; the test fails, never skips, without promtool.
pub fn promtool_check(metrics: &str) {
    use std::io::Write;
    let promtool = cache_dir().join("tools/promtool");
    assert!(promtool.exists(), "promtool missing at {}: run `lab/setup.sh tools`", promtool.display());
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    check.stdin.take().unwrap().write_all(metrics.as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(out.status.success(), "promtool check metrics: {}{}", stdout(&out), stderr(&out));
}

/// The entry of `host` in a report's `hosts` list (`apply --json` and the like).
pub fn host_outcome<'a>(report: &'a serde_json::Value, host: &str) -> &'a serde_json::Value {
    report["hosts"]
        .as_array()
        .unwrap_or_else(|| panic!("no hosts list: {report}"))
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("{host} missing: {report}"))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin({
            let f = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(f.path(), bytes).unwrap();
            std::fs::File::open(f.path()).unwrap()
        })
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// Every property name of a JSON Schema, recursively (what the reference
/// documents must name).
pub fn property_names(schema: &serde_json::Value, names: &mut std::collections::BTreeSet<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                names.extend(props.keys().cloned());
            }
            map.values().for_each(|v| property_names(v, names));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| property_names(v, names)),
        _ => {}
    }
}
