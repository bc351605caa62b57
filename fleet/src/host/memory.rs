//! A transport in memory, for unit tests of the pool and of the per-host
//! sequences built on it: hosts that answer through a function, refuse
//! connections, drop them on demand, and a log of what ran where.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::session::{Channel, RemoteOutput, Transport, TransportError};
use super::target::Targets;
use crate::config::SshTarget;

/// How a host in memory answers a command: program, arguments, stdin.
pub type Responder = Arc<dyn Fn(&str, &[String], Option<&[u8]>) -> RemoteOutput + Send + Sync>;

#[derive(Clone)]
pub struct MemoryHost {
    pub name: String,
    /// Connections are refused.
    pub refuse: bool,
    pub respond: Responder,
}

impl MemoryHost {
    /// Answers every command with exit 0 and no output.
    pub fn healthy(name: &str) -> MemoryHost {
        MemoryHost {
            name: name.to_owned(),
            refuse: false,
            respond: Arc::new(|_, _, _| RemoteOutput { code: Some(0), stdout: Vec::new(), stderr: String::new() }),
        }
    }
}

#[derive(Default)]
struct Inner {
    hosts: BTreeMap<String, MemoryHost>,
    log: Mutex<BTreeMap<String, Vec<String>>>,
    /// Per host: the newest session's "dead" switch.
    current: Mutex<BTreeMap<String, Arc<AtomicBool>>>,
    open: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    delay: Mutex<Duration>,
}

#[derive(Clone, Default)]
pub struct MemoryTransport(Arc<Inner>);

pub struct MemorySession {
    host: String,
    dead: Arc<AtomicBool>,
    transport: MemoryTransport,
}

impl MemoryTransport {
    pub fn new(hosts: impl IntoIterator<Item = MemoryHost>) -> MemoryTransport {
        MemoryTransport(Arc::new(Inner {
            hosts: hosts.into_iter().map(|h| (h.name.clone(), h)).collect(),
            ..Default::default()
        }))
    }

    pub fn targets(&self) -> Targets {
        Targets::from_map(
            self.0
                .hosts
                .keys()
                .map(|h| {
                    let target = SshTarget {
                        address: "127.0.0.1".into(),
                        port: 1,
                        user: "root".into(),
                        identity_file: None,
                        known_hosts_file: None,
                    };
                    (h.clone(), target)
                })
                .collect(),
        )
    }

    /// Every command run on `host`, as `program arg...`.
    pub fn commands(&self, host: &str) -> Vec<String> {
        self.0.log.lock().unwrap().get(host).cloned().unwrap_or_default()
    }

    /// The host's current session dies (its commands fail, `alive` is false).
    pub fn drop_connection(&self, host: &str) {
        if let Some(d) = self.0.current.lock().unwrap().get(host) {
            d.store(true, Ordering::SeqCst);
        }
    }

    pub fn open_sessions(&self) -> usize {
        self.0.open.load(Ordering::SeqCst)
    }

    /// Every command takes this long (on tokio's clock).
    pub fn set_delay(&self, d: Duration) {
        *self.0.delay.lock().unwrap() = d;
    }

    /// The most commands that ran at once.
    pub fn max_concurrent(&self) -> usize {
        self.0.max_running.load(Ordering::SeqCst)
    }
}

impl Transport for MemoryTransport {
    type Session = MemorySession;

    async fn connect(&self, host: &str, _target: &SshTarget) -> Result<MemorySession, TransportError> {
        let refused = self.0.hosts.get(host).is_none_or(|h| h.refuse);
        if refused {
            return Err(TransportError::Connect {
                host: host.to_owned(),
                user: "root".into(),
                address: "127.0.0.1".into(),
                port: 1,
                reason: "connection refused".into(),
            });
        }
        let dead = Arc::new(AtomicBool::new(false));
        self.0.current.lock().unwrap().insert(host.to_owned(), dead.clone());
        self.0.open.fetch_add(1, Ordering::SeqCst);
        Ok(MemorySession { host: host.to_owned(), dead, transport: self.clone() })
    }
}

impl Channel for MemorySession {
    async fn run(&self, program: &str, args: &[String], input: Option<&[u8]>) -> Result<RemoteOutput, TransportError> {
        let inner = &self.transport.0;
        if self.dead.load(Ordering::SeqCst) {
            return Err(TransportError::Command {
                host: self.host.clone(),
                program: program.to_owned(),
                reason: "master connection closed".into(),
            });
        }
        let now = inner.running.fetch_add(1, Ordering::SeqCst) + 1;
        inner.max_running.fetch_max(now, Ordering::SeqCst);
        let delay = *inner.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        inner.running.fetch_sub(1, Ordering::SeqCst);
        let line = std::iter::once(program.to_owned()).chain(args.iter().cloned()).collect::<Vec<_>>().join(" ");
        inner.log.lock().unwrap().entry(self.host.clone()).or_default().push(line);
        Ok((inner.hosts[&self.host].respond)(program, args, input))
    }

    async fn alive(&self) -> bool {
        !self.dead.load(Ordering::SeqCst)
    }

    async fn close(self) {
        self.transport.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}
