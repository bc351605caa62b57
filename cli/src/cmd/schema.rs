//! `schedfleet schema FILE`: the JSON Schema of one kind of config file,
//! generated from the same types the loader uses, so it cannot drift.

use anyhow::Result;
use schedfleet_fleet::config::{FleetFile, InventoryFile, OverrideFile, SchedulerFile};

use crate::args::{SchemaArgs, SchemaFile};
use crate::exit;

pub fn run(args: SchemaArgs) -> Result<u8> {
    let schema = match args.file {
        SchemaFile::Fleet => schemars::schema_for!(FleetFile),
        SchemaFile::Inventory => schemars::schema_for!(InventoryFile),
        SchemaFile::Scheduler => schemars::schema_for!(SchedulerFile),
        SchemaFile::Override => schemars::schema_for!(OverrideFile),
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(exit::OK)
}
