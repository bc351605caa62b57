//! The desired state: the config repository's files parsed into typed,
//! checked values, and resolved into one [`HostPlan`] per selected host.
//!
//! Files (names fixed): `fleet.yaml` (assignments of schedulers to host
//! patterns), `inventory.yaml` (hosts; or an Ansible inventory, see `ansible/`), `schedulers/<name>.yaml` (one
//! scheduler each). Unknown keys are errors, every error names its file and
//! line, and nothing here contacts a host.

mod ansible;
mod desired;
mod fleet;
mod inventory;
mod kernels;
mod overrides;
mod pattern;
mod scheduler;
mod source;
mod template;
mod units;
mod yaml;

pub use ansible::InventoryFormat;
pub use desired::{load, placeholder_facts, DesiredState, HostPlan, HostSpec, LoadOptions};
pub use fleet::{FleetFile, HealthGates, InventoryRef, LatencyGate, OnFailure, Probe, RolloutPolicy};
pub use inventory::{Connection, Host, InventoryFile, SshTarget};
pub use kernels::KernelReq;
pub use overrides::OverrideFile;
pub use pattern::{HostPattern, Universe};
pub use scheduler::SchedulerFile;
pub use source::{ansible_list, load_inventory, load_repo_inventory, LoadedInventory};
pub use template::Templates;
pub use units::{HostCount, Span};
pub use yaml::Scalar;
