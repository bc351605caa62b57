//! One session per host for a whole run.
//!
//! A run (`plan`, `apply` with all its waves, bakes and confirms, `drift`,
//! a rollback) visits the same hosts many times. The pool connects to a host
//! the first time it is visited and keeps that session until the run ends,
//! so every later visit costs one round trip, not an SSH handshake. At most
//! `parallel` visits are under way at once, whoever asks. A session found
//! dead (the network dropped, sshd restarted) is replaced once per visit; a
//! command whose connection dropped is sent again only when sending it twice
//! is harmless ([`Request::is_idempotent`](schedfleet_proto::Request)),
//! otherwise the visit reports the host unreachable and lets the caller
//! decide.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::error::HostError;
use super::session::{Channel, RemoteOutput, Transport};
use super::target::Targets;

pub struct Pool<T: Transport> {
    transport: T,
    targets: Targets,
    slots: Mutex<HashMap<String, Arc<Slot<T::Session>>>>,
    permits: Semaphore,
    parallel: usize,
}

/// One host's place in the pool.
struct Slot<S> {
    /// The live session; connecting holds this lock, so one host is never
    /// connected twice at once.
    session: tokio::sync::Mutex<Option<Arc<S>>>,
    connects: AtomicUsize,
    /// The store path of an agent this run verified on the host (its
    /// content hashed to its name): later visits run it without asking again.
    agent: Mutex<Option<String>>,
}

impl<S> Default for Slot<S> {
    fn default() -> Self {
        Slot { session: tokio::sync::Mutex::new(None), connects: AtomicUsize::new(0), agent: Mutex::new(None) }
    }
}

impl<T: Transport> Pool<T> {
    pub fn new(transport: T, targets: Targets, parallel: usize) -> Pool<T> {
        let parallel = parallel.max(1);
        Pool { transport, targets, slots: Mutex::new(HashMap::new()), permits: Semaphore::new(parallel), parallel }
    }

    /// How many visits may be under way at once.
    pub fn parallel(&self) -> usize {
        self.parallel
    }

    fn slot(&self, host: &str) -> Arc<Slot<T::Session>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(host.to_owned()).or_default().clone()
    }

    /// Starts a visit of `host`: waits for a free place within the bound,
    /// then reuses the host's session or connects.
    pub async fn visit(&self, host: &str) -> Result<Visit<'_, T>, HostError> {
        let permit = self.permits.acquire().await.expect("the pool's semaphore is never closed");
        let slot = self.slot(host);
        let session = self.session(host, &slot, None).await?;
        Ok(Visit {
            pool: self,
            host: host.to_owned(),
            slot,
            session: Mutex::new(session),
            reconnected: Mutex::new(false),
            _permit: permit,
        })
    }

    /// The slot's session, connecting when it has none or when it still
    /// holds `dead` (a session a visit found dropped).
    async fn session(
        &self,
        host: &str,
        slot: &Slot<T::Session>,
        dead: Option<&Arc<T::Session>>,
    ) -> Result<Arc<T::Session>, HostError> {
        let mut current = slot.session.lock().await;
        if let Some(s) = current.as_ref() {
            match dead {
                Some(d) if Arc::ptr_eq(s, d) => {}
                _ => return Ok(s.clone()),
            }
        }
        *current = None;
        let target = self.targets.get(host).map_err(|why| HostError::unreachable(host, why))?;
        let session = Arc::new(self.transport.connect(host, target).await?);
        slot.connects.fetch_add(1, Ordering::Relaxed);
        *current = Some(session.clone());
        Ok(session)
    }

    /// How many times each visited host was connected to in this run.
    pub fn connections(&self) -> BTreeMap<String, usize> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.iter().map(|(h, s)| (h.clone(), s.connects.load(Ordering::Relaxed))).collect()
    }

    /// Closes the host's session as a dropped network would: the next visit
    /// must connect again. Only the test-only fault switch of the rollout
    /// (`SCHEDFLEET_TEST_FAULT`) calls it.
    pub async fn sever(&self, host: &str) {
        let slot = self.slot(host);
        let session = slot.session.lock().await.take();
        if let Some(session) = session.and_then(|s| Arc::try_unwrap(s).ok()) {
            session.close().await;
        }
    }

    /// Closes every session (the end of the run).
    pub async fn close(&self) {
        let slots: Vec<_> = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.drain().map(|(_, s)| s).collect()
        };
        for slot in slots {
            if let Some(session) = slot.session.lock().await.take() {
                if let Ok(session) = Arc::try_unwrap(session) {
                    session.close().await;
                }
            }
        }
    }
}

/// One visit of one host: its place within the pool's bound and its session.
pub struct Visit<'p, T: Transport> {
    pool: &'p Pool<T>,
    host: String,
    slot: Arc<Slot<T::Session>>,
    session: Mutex<Arc<T::Session>>,
    reconnected: Mutex<bool>,
    _permit: SemaphorePermit<'p>,
}

impl<T: Transport> Visit<'_, T> {
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Records the store path of an agent verified on this host in this run.
    pub fn remember_agent(&self, path: &str) {
        *self.slot.agent.lock().unwrap_or_else(|p| p.into_inner()) = Some(path.to_owned());
    }

    /// The agent verified on this host earlier in the run, if any.
    pub fn known_agent(&self) -> Option<String> {
        self.slot.agent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn current(&self) -> Arc<T::Session> {
        self.session.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs `program args...` on the host. When the session turns out to
    /// be dead, it is replaced (once per visit) and the command is sent
    /// again if `retry` says that is harmless.
    pub async fn run(
        &self,
        program: &str,
        args: &[String],
        input: Option<&[u8]>,
        retry: bool,
    ) -> Result<RemoteOutput, HostError> {
        let session = self.current();
        let err = match session.run(program, args, input).await {
            Ok(out) => return Ok(out),
            Err(e) => e,
        };
        if session.alive().await {
            return Err(err.into());
        }
        {
            let mut reconnected = self.reconnected.lock().unwrap_or_else(|p| p.into_inner());
            if *reconnected {
                return Err(HostError::unreachable(&self.host, format!("connection dropped again: {err}")));
            }
            *reconnected = true;
        }
        tracing::info!(host = %self.host, error = %err, "the connection dropped; reconnecting once");
        let fresh = self.pool.session(&self.host, &self.slot, Some(&session)).await.map_err(|e| {
            HostError::unreachable(&self.host, format!("connection dropped ({err}) and reconnecting failed: {e}"))
        })?;
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        if !retry {
            return Err(HostError::unreachable(
                &self.host,
                format!("connection dropped during `{program}`; whether it ran is unknown: {err}"),
            ));
        }
        Ok(fresh.run(program, args, input).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::memory::{MemoryHost, MemoryTransport};
    use super::*;

    fn pool(hosts: &[&str], parallel: usize) -> (Pool<MemoryTransport>, MemoryTransport) {
        let transport = MemoryTransport::new(hosts.iter().map(|h| MemoryHost::healthy(h)));
        let targets = transport.targets();
        (Pool::new(transport.clone(), targets, parallel), transport)
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn one_connection_serves_every_visit_of_a_run() {
        let (pool, transport) = pool(&["a", "b"], 4);
        for _ in 0..5 {
            for h in ["a", "b"] {
                let v = pool.visit(h).await.unwrap();
                assert!(v.run("true", &[], None, false).await.unwrap().success());
            }
        }
        assert_eq!(pool.connections(), [("a".to_owned(), 1), ("b".to_owned(), 1)].into());
        assert_eq!(transport.commands("a").len(), 5);
        pool.close().await;
        assert_eq!(transport.open_sessions(), 0, "closing the pool closes every session");
    }

    #[tokio::test]
    async fn a_dropped_master_is_replaced_once_and_idempotent_commands_are_resent() {
        let (pool, transport) = pool(&["a"], 4);
        let v = pool.visit("a").await.unwrap();
        v.run("true", &[], None, false).await.unwrap();
        transport.drop_connection("a");
        let out = v.run("status", &args(&["--x"]), None, true).await.unwrap();
        assert!(out.success());
        assert_eq!(pool.connections()["a"], 2);

        // A second drop within the same visit is not chased.
        transport.drop_connection("a");
        let err = v.run("status", &[], None, true).await.unwrap_err();
        assert!(err.is_unreachable() && err.to_string().contains("dropped again"), "{err}");
        drop(v);

        // A command that must not run twice is not resent: the caller learns it may or may not have run.
        let v = pool.visit("a").await.unwrap();
        transport.drop_connection("a");
        let err = v.run("confirm", &[], None, false).await.unwrap_err();
        assert!(err.is_unreachable() && err.to_string().contains("whether it ran is unknown"), "{err}");
        assert_eq!(pool.connections()["a"], 3, "the dead session was replaced once more");
        assert_eq!(transport.commands("a").iter().filter(|c| c.starts_with("confirm")).count(), 0);
    }

    #[tokio::test]
    async fn an_unreachable_host_says_why_and_costs_no_session() {
        let transport = MemoryTransport::new([MemoryHost { refuse: true, ..MemoryHost::healthy("down") }]);
        let targets = transport.targets();
        let pool = Pool::new(transport, targets, 2);
        let err = pool.visit("down").await.err().unwrap();
        assert!(err.is_unreachable() && err.to_string().contains("connection refused"), "{err}");
        let err = pool.visit("nowhere").await.err().unwrap();
        assert!(err.to_string().contains("not a host of this run"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn visits_are_bounded_by_the_parallelism() {
        let hosts: Vec<String> = (0..12).map(|i| format!("h{i:02}")).collect();
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let (pool, transport) = pool(&names, 3);
        transport.set_delay(Duration::from_millis(100));
        let started = tokio::time::Instant::now();
        futures::future::join_all(names.iter().map(|h| async {
            let v = pool.visit(h).await.unwrap();
            v.run("true", &[], None, false).await.unwrap();
        }))
        .await;
        assert_eq!(transport.max_concurrent(), 3);
        // 12 hosts, 3 at a time, 100 ms each: 4 rounds.
        assert_eq!(started.elapsed(), Duration::from_millis(400));
    }
}
