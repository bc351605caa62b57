//! The desired state: the config repository's files parsed into typed,
//! checked values, and resolved into one [`HostPlan`] per selected host.
//!
//! Files (names fixed): `fleet.yaml` (assignments of schedulers to host
//! patterns), `inventory.yaml` (hosts), `schedulers/<name>.yaml` (one
//! scheduler each). Unknown keys are errors, every error names its file and
//! line, and nothing here contacts a host.

mod desired;
mod fleet;
mod inventory;
mod pattern;
mod scheduler;
mod yaml;

pub use desired::{load, DesiredState, HostPlan, LoadOptions};
pub use inventory::{Connection, Host, SshTarget};
pub use pattern::HostPattern;
pub use yaml::Scalar;
