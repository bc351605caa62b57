//! `fleet.yaml`: which scheduler each host pattern runs, with which
//! parameters. The first assignment whose pattern matches a host wins.
//!
//! ```yaml
//! assignments:
//!   - hosts: "gpu-*"
//!     scheduler: simple
//!     params: { slice_ns: 3000000 }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::yaml::Scalar;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    pub assignments: Vec<Assignment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub hosts: String,
    pub scheduler: String,
    #[serde(default)]
    pub params: BTreeMap<String, Scalar>,
}
