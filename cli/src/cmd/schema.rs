//! `schedfleet schema NAME`: the JSON Schema of one kind of config file or
//! of one command's JSON output, generated from the same types the loader
//! reads and the commands print, so it cannot drift.

use anyhow::Result;
use schedfleet_fleet::config::{FleetFile, InventoryFile, OverrideFile, SchedulerFile};

use crate::args::{SchemaArgs, SchemaFile};
use crate::exit;
use crate::output::Output;

pub fn run(args: SchemaArgs) -> Result<u8> {
    let schema = match args.file {
        SchemaFile::Fleet => schemars::schema_for!(FleetFile),
        SchemaFile::Inventory => schemars::schema_for!(InventoryFile),
        SchemaFile::Scheduler => schemars::schema_for!(SchedulerFile),
        SchemaFile::Override => schemars::schema_for!(OverrideFile),
        SchemaFile::Plan => Output::Plan.schema(),
        SchemaFile::Apply => Output::Apply.schema(),
        SchemaFile::ApplyDryRun => Output::ApplyDryRun.schema(),
        SchemaFile::Rollback => Output::Rollback.schema(),
        SchemaFile::Status => Output::Status.schema(),
        SchemaFile::Drift => Output::Drift.schema(),
        SchemaFile::LabStatus => Output::LabStatus.schema(),
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(exit::OK)
}
