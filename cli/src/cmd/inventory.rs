//! `schedfleet inventory --list`: the inventory as schedfleet reads it
//! (its own format or an Ansible one), printed in the JSON shape of
//! `ansible-inventory --list`, so the two tools can be compared and scripts
//! written for one read the other. Contacts no host.

use anyhow::Result;
use schedfleet_fleet::config::{self, ansible_list};
use schedfleet_fleet::repo::ConfigRepo;

use crate::args::InventoryArgs;
use crate::exit;

pub fn run(args: InventoryArgs) -> Result<u8> {
    let loaded = match &args.repo.inventory {
        // A file on disk needs no repository.
        Some(file) => config::load_inventory(None, None, Some(file), args.repo.inventory_format.into())?,
        None => config::load_repo_inventory(&ConfigRepo::open(&args.repo.repo, &args.repo.rev)?)?,
    };
    let (hosts, universe) = loaded.resolve()?;
    debug_assert!(args.list, "clap requires --list");
    println!("{}", serde_json::to_string_pretty(&ansible_list(&loaded.file, &hosts, &universe))?);
    Ok(exit::OK)
}
