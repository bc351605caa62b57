//! `groups/<group>.yaml` and `hosts/<host>.yaml`: variables and parameter
//! values for one group or host, kept beside the inventory like Ansible's
//! `group_vars/` and `host_vars/`. Host files win over group files, which
//! win over `fleet.yaml`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::yaml::Scalar;

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideFile {
    /// Template variables.
    #[serde(default)]
    pub vars: BTreeMap<String, serde_json::Value>,
    /// Parameter values for whatever scheduler the host is assigned; each
    /// must be declared by that scheduler.
    #[serde(default)]
    pub params: BTreeMap<String, Scalar>,
}
