//! SSH through the `openssh` crate: the system `ssh` in master mode, one
//! TCP connection per host, every command multiplexed over it.
//!
//! Host keys are never trusted silently: `StrictHostKeyChecking=yes`, so an
//! unknown or changed key refuses the connection, and nothing is ever added
//! to a known-hosts file. Remote commands are given as a program and
//! separate arguments, each quoted by `openssh`; no shell command line is
//! ever assembled from strings.

use std::path::Path;
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder, Stdio};
use tokio::io::AsyncWriteExt;

use super::session::{Channel, RemoteOutput, Transport, TransportError};
use crate::config::SshTarget;

/// A private directory for the SSH control sockets of one run, removed
/// when dropped. Short path: socket paths are limited to 108 bytes.
pub struct ControlDir(tempfile::TempDir);

impl ControlDir {
    pub fn new() -> std::io::Result<ControlDir> {
        tempfile::Builder::new().prefix("schedfleet-ssh-").tempdir_in("/tmp").map(ControlDir)
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Connects with the system `ssh`; its control sockets live in one
/// [`ControlDir`] for the run.
pub struct Ssh {
    control: ControlDir,
    connect_timeout: Duration,
}

impl Ssh {
    pub fn new(connect_timeout: Duration) -> std::io::Result<Ssh> {
        Ok(Ssh { control: ControlDir::new()?, connect_timeout })
    }
}

/// One host's multiplexed SSH connection.
pub struct HostSession {
    host: String,
    session: Session,
}

impl Transport for Ssh {
    type Session = HostSession;

    async fn connect(&self, host: &str, target: &SshTarget) -> Result<HostSession, TransportError> {
        HostSession::connect(host, target, &self.control, self.connect_timeout).await
    }
}

impl HostSession {
    /// The one place that opens an SSH connection; only the pool calls it.
    async fn connect(
        host: &str,
        target: &SshTarget,
        control: &ControlDir,
        timeout: Duration,
    ) -> Result<HostSession, TransportError> {
        let mut b = SessionBuilder::default();
        b.user(target.user.clone())
            .port(target.port)
            .known_hosts_check(KnownHosts::Strict)
            .control_directory(control.path())
            .connect_timeout(timeout)
            .server_alive_interval(Duration::from_secs(5));
        if let Some(key) = &target.identity_file {
            b.keyfile(key);
        }
        if let Some(kh) = &target.known_hosts_file {
            b.user_known_hosts_file(kh);
        }
        let session = b.connect_mux(&target.address).await.map_err(|e| TransportError::Connect {
            host: host.to_owned(),
            user: target.user.clone(),
            address: target.address.clone(),
            port: target.port,
            reason: describe(&e),
        })?;
        Ok(HostSession { host: host.to_owned(), session })
    }
}

impl Channel for HostSession {
    async fn run(&self, program: &str, args: &[String], input: Option<&[u8]>) -> Result<RemoteOutput, TransportError> {
        let cmd_err = |e: openssh::Error| TransportError::Command {
            host: self.host.clone(),
            program: program.to_owned(),
            reason: describe(&e),
        };
        let mut cmd = self.session.command(program);
        cmd.args(args)
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().await.map_err(cmd_err)?;
        if let Some(bytes) = input {
            let Some(mut stdin) = child.stdin().take() else {
                return Err(TransportError::Stdin {
                    host: self.host.clone(),
                    program: program.to_owned(),
                    reason: "stdin was not opened".into(),
                });
            };
            let sent = async {
                stdin.write_all(bytes).await?;
                stdin.shutdown().await
            }
            .await;
            drop(stdin);
            if let Err(e) = sent {
                return Err(TransportError::Stdin {
                    host: self.host.clone(),
                    program: program.to_owned(),
                    reason: e.to_string(),
                });
            }
        }
        let out = child.wait_with_output().await.map_err(cmd_err)?;
        Ok(RemoteOutput {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    async fn alive(&self) -> bool {
        self.session.check().await.is_ok()
    }

    async fn close(self) {
        let _ = self.session.close().await;
    }
}

/// The most useful words of an SSH failure: `ssh`'s own last log line
/// (such as `Host key verification failed.`) rather than a generic wrapper.
fn describe(e: &openssh::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.trim().is_empty() {
            parts.push(text.trim().replace('\n', "; "));
        }
        source = s.source();
    }
    parts.join(": ")
}
