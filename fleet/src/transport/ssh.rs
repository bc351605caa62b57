//! One SSH connection per host through the `openssh` crate (the system
//! `ssh` in master mode, commands multiplexed over it).
//!
//! Host keys are never trusted silently: `StrictHostKeyChecking=yes`, so an
//! unknown or changed key refuses the connection. Remote commands are given
//! as a program and separate arguments, each quoted by `openssh`; no shell
//! command is ever assembled from strings.

use openssh::Stdio;
use std::path::Path;
use std::time::Duration;

use openssh::{KnownHosts, Session, SessionBuilder};
use tokio::io::AsyncWriteExt;

use crate::config::SshTarget;

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to `{host}` ({user}@{address}:{port}): {reason}")]
    Connect { host: String, user: String, address: String, port: u16, reason: String },
    #[error("`{program}` on `{host}` failed: {source}")]
    Command {
        host: String,
        program: String,
        #[source]
        source: openssh::Error,
    },
    #[error("sending data to `{program}` on `{host}` failed: {source}")]
    Stdin {
        host: String,
        program: String,
        #[source]
        source: std::io::Error,
    },
}

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

/// What a remote command did.
#[derive(Debug)]
pub struct RemoteOutput {
    /// `None` when the command was killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl RemoteOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

pub struct HostSession {
    host: String,
    session: Session,
}

impl HostSession {
    pub async fn connect(
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

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Runs `program args...` on the host and collects its output.
    pub async fn run(&self, program: &str, args: &[&str]) -> Result<RemoteOutput, TransportError> {
        self.run_with_input(program, args, None).await
    }

    /// Like [`run`](Self::run), with `input` on the command's stdin.
    pub async fn run_with_input(
        &self,
        program: &str,
        args: &[&str],
        input: Option<&[u8]>,
    ) -> Result<RemoteOutput, TransportError> {
        let cmd_err = |source| TransportError::Command { host: self.host.clone(), program: program.to_owned(), source };
        let mut cmd = self.session.command(program);
        cmd.args(args)
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().await.map_err(cmd_err)?;
        if let Some(bytes) = input {
            let mut stdin = child.stdin().take().expect("stdin was piped");
            let sent = async {
                stdin.write_all(bytes).await?;
                stdin.shutdown().await
            }
            .await;
            drop(stdin);
            if let Err(source) = sent {
                return Err(TransportError::Stdin { host: self.host.clone(), program: program.to_owned(), source });
            }
        }
        let out = child.wait_with_output().await.map_err(cmd_err)?;
        Ok(RemoteOutput {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    pub async fn close(self) {
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
