//! The typed client of `schedfleet-agent` on a host: sends one
//! [`Request`] over the visit's session and parses the one JSON reply the
//! agent prints into the reply type of that request.

use schedfleet_proto::{
    ActivateRequest, Activated, Confirmed, Deactivated, ErrorKind, Facts, KernelSchedExt, LeaseAcquired, LeaseReleased,
    Reply, Request, RolledBack, Status, StatusRequest, StoreHas, StorePut,
};
use serde::de::DeserializeOwned;

use super::error::HostError;
use super::pool::Visit;
use super::session::Transport;

pub struct AgentClient<'v, 'p, T: Transport> {
    visit: &'v Visit<'p, T>,
    path: String,
}

impl<'p, T: Transport> Visit<'p, T> {
    /// The agent at `path` on this host (a path the caller verified, see
    /// [`super::probe`]).
    pub fn agent(&self, path: impl Into<String>) -> AgentClient<'_, 'p, T> {
        AgentClient { visit: self, path: path.into() }
    }
}

impl<T: Transport> AgentClient<'_, '_, T> {
    async fn call<R: DeserializeOwned>(&self, request: &Request, input: Option<&[u8]>) -> Result<R, HostError> {
        let host = self.visit.host();
        let out = self.visit.run(&self.path, &request.args(), input, request.is_idempotent()).await?;
        let text = String::from_utf8_lossy(&out.stdout);
        let reply: Reply<R> = serde_json::from_str(text.trim()).map_err(|e| HostError::BadReply {
            host: host.to_owned(),
            command: request.name().to_owned(),
            code: out.code,
            detail: if out.stderr.is_empty() { e.to_string() } else { out.stderr.clone() },
        })?;
        reply.into_result().map_err(|error| HostError::Agent { host: host.to_owned(), error })
    }

    pub async fn facts(&self) -> Result<Facts, HostError> {
        self.call(&Request::Facts, None).await
    }

    pub async fn status(&self, request: StatusRequest) -> Result<Status, HostError> {
        match self.call(&Request::Status(request), None).await {
            // Test-only (see `pretend_sched_ext`): the agent was asked and
            // found no sched_ext; read that as a kernel running its default.
            Err(e) if e.agent_kind() == Some(ErrorKind::NoSchedExt) && super::probe::pretend_sched_ext() => {
                Ok(Status {
                    kernel: KernelSchedExt { state: "disabled".into(), ..Default::default() },
                    kernel_agrees: true,
                    ..Default::default()
                })
            }
            other => other,
        }
    }

    pub async fn activate(&self, request: ActivateRequest) -> Result<Activated, HostError> {
        self.call(&Request::Activate(request), None).await
    }

    pub async fn confirm(&self, artifact: &str) -> Result<Confirmed, HostError> {
        self.call(&Request::Confirm { artifact: artifact.to_owned() }, None).await
    }

    pub async fn rollback(&self) -> Result<RolledBack, HostError> {
        self.call(&Request::Rollback, None).await
    }

    pub async fn deactivate(&self) -> Result<Deactivated, HostError> {
        self.call(&Request::Deactivate, None).await
    }

    pub async fn lease_acquire(&self, owner: &str, ttl_secs: u64) -> Result<LeaseAcquired, HostError> {
        self.call(&Request::LeaseAcquire { owner: owner.to_owned(), ttl_secs }, None).await
    }

    pub async fn lease_release(&self, owner: &str) -> Result<LeaseReleased, HostError> {
        self.call(&Request::LeaseRelease { owner: owner.to_owned() }, None).await
    }

    pub async fn store_has(&self, digests: &[&str]) -> Result<StoreHas, HostError> {
        self.call(&Request::StoreHas { digests: digests.iter().map(|d| (*d).to_owned()).collect() }, None).await
    }

    pub async fn store_put(&self, digest: &str, bytes: &[u8]) -> Result<StorePut, HostError> {
        self.call(&Request::StorePut { digest: digest.to_owned() }, Some(bytes)).await
    }
}
