//! A real OpenSSH server on a loopback port of this machine, whose kernel
//! has no sched_ext: the "host that cannot run schedulers" of the tests.
//! Started as a child process with its own host key, stopped on drop.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::SshHost;

pub struct LoopbackSshd {
    _dir: tempfile::TempDir,
    child: Child,
    pub host: SshHost,
    /// A known-hosts file that lists another key for this address.
    pub wrong_known_hosts: PathBuf,
}

fn keygen(path: &std::path::Path) -> String {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "schedfleet-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen")
        .success();
    assert!(ok, "ssh-keygen failed");
    std::fs::read_to_string(path.with_extension("pub")).unwrap().trim().to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl LoopbackSshd {
    pub fn start() -> LoopbackSshd {
        let sshd = PathBuf::from("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: run `lab/setup.sh packages` (Debian package openssh-server)"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let host_pub = keygen(&d.join("host_ed25519"));
        let client_pub = keygen(&d.join("client_ed25519"));
        let other_pub = keygen(&d.join("other_ed25519"));
        std::fs::write(d.join("authorized_keys"), format!("{client_pub}\n")).unwrap();
        let port = free_port();
        let key_of = |pubkey: &str| pubkey.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        std::fs::write(d.join("known_hosts"), format!("[127.0.0.1]:{port} {}\n", key_of(&host_pub))).unwrap();
        std::fs::write(d.join("wrong_known_hosts"), format!("[127.0.0.1]:{port} {}\n", key_of(&other_pub))).unwrap();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nStrictModes no\nLogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd (needs root)");
        let child = Command::new(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sshd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "loopback sshd did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let host = SshHost {
            name: "local".into(),
            address: "127.0.0.1".into(),
            port,
            user: "root".into(),
            identity_file: d.join("client_ed25519"),
            known_hosts_file: d.join("known_hosts"),
        };
        let wrong_known_hosts = d.join("wrong_known_hosts");
        LoopbackSshd { _dir: dir, child, host, wrong_known_hosts }
    }

    /// An inventory with this one host, named `local`.
    pub fn inventory(&self, known_hosts: &std::path::Path) -> String {
        format!(
            "hosts:\n  local:\n    address: 127.0.0.1\n    port: {}\n    user: root\n    identity_file: {}\n    known_hosts_file: {}\n",
            self.host.port,
            self.host.identity_file.display(),
            known_hosts.display()
        )
    }
}

impl Drop for LoopbackSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
