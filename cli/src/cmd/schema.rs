//! `schedfleet schema NAME`: the JSON Schema of one kind of config file or
//! of one command's JSON output, generated from the same types the loader
//! reads and the commands print, so it cannot drift.

use anyhow::Result;
use schedfleet_fleet::config::{FleetFile, InventoryFile, OverrideFile, SchedulerFile};

use crate::args::{ConfigFile, SchemaArgs, SchemaFile};
use crate::exit;

pub fn run(args: SchemaArgs) -> Result<u8> {
    let schema = match args.file {
        SchemaFile::Config(ConfigFile::Fleet) => schemars::schema_for!(FleetFile),
        SchemaFile::Config(ConfigFile::Inventory) => schemars::schema_for!(InventoryFile),
        SchemaFile::Config(ConfigFile::Scheduler) => schemars::schema_for!(SchedulerFile),
        SchemaFile::Config(ConfigFile::Override) => schemars::schema_for!(OverrideFile),
        SchemaFile::Output(output) => output.schema(),
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(exit::OK)
}
