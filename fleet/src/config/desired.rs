//! From the repository's files to one [`HostPlan`] per selected host: what
//! scheduler, which exact artifact, which parameters, from which commit.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

use super::fleet::FleetFile;
use super::inventory::{self, Host, InventoryFile};
use super::pattern::HostPattern;
use super::scheduler::{SchedulerFile, Source};
use super::yaml;
use crate::artifact::Artifact;
use crate::repo::ConfigRepo;
use crate::BadInput;

#[derive(Debug, Default)]
pub struct LoadOptions<'a> {
    /// Read the inventory from this file instead of the repository.
    pub inventory_override: Option<&'a Path>,
    /// Only hosts matching this pattern.
    pub limit: Option<&'a str>,
}

#[derive(Debug)]
pub struct DesiredState {
    pub commit: String,
    /// Config files changed in the working tree but not committed: not deployed.
    pub uncommitted: Vec<String>,
    pub hosts: Vec<HostPlan>,
}

/// The desired state of one host.
#[derive(Debug, Clone)]
pub struct HostPlan {
    pub host: Host,
    pub scheduler: String,
    pub artifact: Artifact,
    /// Checked against the scheduler's declarations; defaults filled in.
    pub params: BTreeMap<String, String>,
}

fn required(repo: &ConfigRepo, file: &str) -> Result<Vec<u8>> {
    repo.read(file)?.ok_or_else(|| {
        BadInput::new(format!("`{file}` is not in commit {}; commit it first", &repo.commit_id()[..12])).into()
    })
}

pub fn load(repo: &ConfigRepo, opts: &LoadOptions<'_>) -> Result<DesiredState> {
    let fleet: FleetFile = yaml::parse("fleet.yaml", &required(repo, "fleet.yaml")?)?;
    let inventory = match opts.inventory_override {
        Some(path) => {
            let shown = path.display().to_string();
            let bytes =
                std::fs::read(path).map_err(|e| BadInput::new(format!("cannot read inventory `{shown}`: {e}")))?;
            inventory::resolve(&shown, yaml::parse::<InventoryFile>(&shown, &bytes)?)?
        }
        None => {
            inventory::resolve("inventory.yaml", yaml::parse("inventory.yaml", &required(repo, "inventory.yaml")?)?)?
        }
    };

    let assignments = fleet
        .assignments
        .iter()
        .enumerate()
        .map(|(i, a)| {
            HostPattern::parse(&a.hosts)
                .map_err(|e| BadInput::new(format!("`fleet.yaml`: assignment {}: {e}", i + 1)))
                .map(|p| (p, a))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (pattern, _) in &assignments {
        if !inventory.iter().any(|h| pattern.matches(&h.name)) {
            return Err(BadInput::new(format!(
                "`fleet.yaml`: host pattern `{}` matches no host of the inventory",
                pattern.as_str()
            ))
            .into());
        }
    }

    let limit = opts.limit.map(HostPattern::parse).transpose()?;
    let selected: Vec<&Host> = inventory.iter().filter(|h| limit.as_ref().is_none_or(|l| l.matches(&h.name))).collect();
    if let (Some(l), true) = (&limit, selected.is_empty()) {
        return Err(BadInput::new(format!("--limit `{}` matches no host of the inventory", l.as_str())).into());
    }

    let mut schedulers: BTreeMap<String, (SchedulerFile, Artifact)> = BTreeMap::new();
    let mut plans = Vec::new();
    for host in selected {
        let Some((_, assignment)) = assignments.iter().find(|(p, _)| p.matches(&host.name)) else {
            tracing::info!(host = %host.name, "no assignment in fleet.yaml; host left as it is");
            continue;
        };
        let name = &assignment.scheduler;
        if !schedulers.contains_key(name) {
            let loaded = load_scheduler(repo, name)?;
            schedulers.insert(name.clone(), loaded);
        }
        let (decl, artifact) = &schedulers[name];
        let params = params_for(name, decl, &assignment.params)?;
        plans.push(HostPlan { host: host.clone(), scheduler: name.clone(), artifact: artifact.clone(), params });
    }
    Ok(DesiredState { commit: repo.commit_id(), uncommitted: repo.uncommitted_changes(), hosts: plans })
}

fn load_scheduler(repo: &ConfigRepo, name: &str) -> Result<(SchedulerFile, Artifact)> {
    inventory::check_name(name).map_err(|why| BadInput::new(format!("`fleet.yaml`: scheduler {why}")))?;
    let file = format!("schedulers/{name}.yaml");
    let bytes = repo.read(&file)?.ok_or_else(|| {
        BadInput::new(format!("`fleet.yaml` assigns scheduler `{name}`, but `{file}` is not in the commit"))
    })?;
    let decl: SchedulerFile = yaml::parse(&file, &bytes)?;
    let artifact =
        Source::parse(&file, &decl.source)?.artifact(&file, repo).with_context(|| format!("scheduler `{name}`"))?;
    Ok((decl, artifact))
}

fn params_for(
    scheduler: &str,
    decl: &SchedulerFile,
    given: &BTreeMap<String, super::Scalar>,
) -> Result<BTreeMap<String, String>, BadInput> {
    let file = format!("schedulers/{scheduler}.yaml");
    let mut out = BTreeMap::new();
    for (name, value) in given {
        let d = decl.params.get(name).ok_or_else(|| {
            let known: Vec<_> = decl.params.keys().map(String::as_str).collect();
            BadInput::new(format!(
                "`fleet.yaml`: scheduler `{scheduler}` declares no parameter `{name}` (declared in `{file}`: {})",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ))
        })?;
        out.insert(name.clone(), d.check(name, value).map_err(|why| BadInput::new(format!("`fleet.yaml`: {why}")))?);
    }
    for (name, d) in &decl.params {
        if let (false, Some(default)) = (out.contains_key(name), &d.default) {
            out.insert(
                name.clone(),
                d.check(name, default).map_err(|why| BadInput::new(format!("`{file}`: default: {why}")))?,
            );
        }
    }
    Ok(out)
}
