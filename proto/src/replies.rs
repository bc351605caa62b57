//! What each agent command that changes a host answers on success (inside
//! [`crate::Reply::Ok`]).

use serde::{Deserialize, Serialize};

use crate::{ActiveScheduler, KernelSchedExt, Lease};

/// `schedfleet-agent activate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Activated {
    pub active: ActiveScheduler,
    pub kernel: KernelSchedExt,
    /// Milliseconds from opening the object to the kernel reporting `enabled`.
    pub load_ms: u64,
    /// With `--confirm-within`: the watchdog that reverts the activation
    /// unless `confirm` comes by `deadline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog_pid: Option<u32>,
    /// With `--confirm-within`: seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<u64>,
}

/// `schedfleet-agent confirm`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Confirmed {
    /// The scheduler now confirmed.
    pub active: ActiveScheduler,
    /// It was confirmed before this call (a repeated `confirm`).
    #[serde(default)]
    pub already_confirmed: bool,
}

/// `schedfleet-agent rollback`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RolledBack {
    /// What ran before (`None`: the kernel's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<ActiveScheduler>,
    /// What runs now, confirmed (`None`: the kernel's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<ActiveScheduler>,
    pub kernel: KernelSchedExt,
}

/// `schedfleet-agent lease acquire`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeaseAcquired {
    pub lease: Lease,
    /// The owner already held it (its expiry moved).
    pub refreshed: bool,
}

/// `schedfleet-agent lease release`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LeaseReleased {
    /// The lease given up; `None` when it was already free (or expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<Lease>,
}

/// `schedfleet-agent deactivate`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Deactivated {
    /// What was removed; `None` when nothing of ours was active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<ActiveScheduler>,
    pub kernel: KernelSchedExt,
}

/// `schedfleet-agent store has`: which of the asked digests the host holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StoreHas {
    pub present: Vec<String>,
    pub missing: Vec<String>,
}

/// `schedfleet-agent store put`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StorePut {
    pub digest: String,
    pub bytes: u64,
    /// False when the store already held the digest (nothing written).
    pub written: bool,
}
