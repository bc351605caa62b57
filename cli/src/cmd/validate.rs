//! `schedfleet validate`: parse every file at the revision, check every
//! reference, and render every assigned host's parameters with its cached
//! facts (or placeholder facts); contacts no host.

use anyhow::Result;
use schedfleet_fleet::config::{placeholder_facts, Templates};
use schedfleet_fleet::state::FactsCache;
use schedfleet_fleet::BadInput;

use crate::args::ValidateArgs;
use crate::exit;

pub fn run(args: ValidateArgs) -> Result<u8> {
    let desired = super::load_desired(&args.repo, None)?;
    let templates = Templates::default();
    let cache = FactsCache::open();
    let (mut cached, mut errors) = (0, Vec::new());
    for spec in &desired.hosts {
        let facts = match cache.get(&spec.host.name) {
            Some(f) => {
                cached += 1;
                f
            }
            None => placeholder_facts(),
        };
        if let Err(e) = spec.render(&templates, &facts) {
            errors.push(e.to_string());
        }
    }
    match errors.len() {
        0 => {}
        1 => return Err(BadInput::new(errors.remove(0)).into()),
        n => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            return Err(BadInput::new(format!("{n} hosts failed to render; see above")).into());
        }
    }
    let mut schedulers: Vec<String> =
        desired.hosts.iter().map(|s| format!("{} ({})", s.scheduler, s.artifact.digest.short())).collect();
    schedulers.sort();
    schedulers.dedup();
    println!(
        "commit {}: valid; {} of {} host(s) assigned; schedulers: {}",
        &desired.commit[..12],
        desired.hosts.len(),
        desired.inventory.len(),
        if schedulers.is_empty() { "none".to_owned() } else { schedulers.join(", ") }
    );
    eprintln!(
        "rendered with cached facts for {cached} host(s) and placeholder facts for {}",
        desired.hosts.len() - cached
    );
    Ok(exit::OK)
}
