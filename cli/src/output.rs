//! The machine-readable outputs (`--json`, `drift --format json`) as
//! contracts: which type each command prints, its schema version, and its
//! JSON Schema for `schedfleet schema <output>`, generated from the same
//! types that are serialized, so the two cannot drift. `docs/output.md`
//! documents every field and the compatibility policy.
//!
//! Objects carry `schema_version` at the top; it changes only when a field
//! is removed, renamed or changes meaning or type (adding a field does not
//! change it). The array outputs (`status`, `rollback --previous|--default`,
//! `lab status`) keep the shape scripts already read; their version is the
//! one their schema states.

use schedfleet_fleet::collect::Collected;
use schedfleet_fleet::drift::DriftReport;
use schedfleet_fleet::lab::LabHost;
use schedfleet_fleet::plan::PlanReport;
use schedfleet_fleet::rollout::{DryRunReport, RolloutReport, UndoResult};
use serde::Serialize;

/// One JSON output of a command (also a name `schedfleet schema` takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// `schedfleet plan --json`
    Plan,
    /// `schedfleet apply --json` (and `rollback --to --json`)
    Apply,
    /// `schedfleet apply --dry-run --json`
    ApplyDryRun,
    /// `schedfleet rollback --json`
    Rollback,
    /// `schedfleet status --json`
    Status,
    /// `schedfleet drift --format json`
    Drift,
    /// `schedfleet lab status --json`
    LabStatus,
}

impl Output {
    /// The version of this output's shape: raised on every incompatible
    /// change (see the module paragraph).
    pub fn version(self) -> u32 {
        match self {
            Output::Plan
            | Output::Apply
            | Output::ApplyDryRun
            | Output::Rollback
            | Output::Status
            | Output::Drift
            | Output::LabStatus => 1,
        }
    }

    fn command(self) -> &'static str {
        match self {
            Output::Plan => "schedfleet plan --json",
            Output::Apply => "schedfleet apply --json",
            Output::ApplyDryRun => "schedfleet apply --dry-run --json",
            Output::Rollback => "schedfleet rollback --json",
            Output::Status => "schedfleet status --json",
            Output::Drift => "schedfleet drift --format json",
            Output::LabStatus => "schedfleet lab status --json",
        }
    }

    /// Its JSON Schema, with the command in the title and the version both
    /// in the description and, for objects, as the `const` of
    /// `schema_version`.
    pub fn schema(self) -> schemars::Schema {
        let schema = match self {
            Output::Plan => schemars::schema_for!(Versioned<PlanReport>),
            Output::Apply => schemars::schema_for!(Versioned<RolloutReport>),
            Output::ApplyDryRun => schemars::schema_for!(Versioned<DryRunReport>),
            Output::Rollback => schemars::schema_for!(RollbackOutput),
            Output::Status => schemars::schema_for!(Vec<Collected>),
            Output::Drift => schemars::schema_for!(Versioned<DriftReport>),
            Output::LabStatus => schemars::schema_for!(Vec<LabHost>),
        };
        let version = self.version();
        let mut value = schema.to_value();
        pin_version(&mut value, version);
        // Back to a `Schema`, which prints its keywords in the usual order.
        let mut schema = schemars::Schema::try_from(value).expect("still an object");
        schema.insert("title".into(), self.command().into());
        schema.insert(
            "description".into(),
            format!("What `{}` prints on stdout; schema version {version}. See docs/output.md.", self.command()).into(),
        );
        schema
    }
}

/// Sets `"const": version` on every `schema_version` property (the rollback
/// schema holds one inside its `anyOf`).
fn pin_version(schema: &mut serde_json::Value, version: u32) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(props)) = map.get_mut("properties") {
                if let Some(serde_json::Value::Object(v)) = props.get_mut("schema_version") {
                    v.remove("format");
                    v.remove("minimum");
                    v.insert("const".into(), version.into());
                }
            }
            map.values_mut().for_each(|v| pin_version(v, version));
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| pin_version(v, version)),
        _ => {}
    }
}

/// An object output with its `schema_version` first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Versioned<T> {
    /// The version of this output's shape (see docs/output.md).
    pub schema_version: u32,
    #[serde(flatten)]
    pub report: T,
}

/// `rollback --json`: per-host results for `--previous` and `--default`,
/// a rollout report for `--to`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only its schema is used; the commands print the variants' contents.
enum RollbackOutput {
    Undo(Vec<UndoResult>),
    Rollout(Versioned<RolloutReport>),
}

/// Prints `report` as the pretty JSON of `output`, versioned.
pub fn print_versioned<T: Serialize>(output: Output, report: &T) -> anyhow::Result<()> {
    let versioned = Versioned { schema_version: output.version(), report };
    println!("{}", serde_json::to_string_pretty(&versioned)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_outputs_pin_their_version_and_arrays_stay_arrays() {
        for &output in <Output as clap::ValueEnum>::value_variants() {
            let schema = output.schema().to_value();
            let text = schema.to_string();
            assert!(schema["description"].as_str().unwrap().contains("schema version 1"), "{output:?}");
            match output {
                Output::Status | Output::LabStatus => {
                    assert_eq!(schema["type"], "array", "{output:?}");
                    assert!(!text.contains("schema_version"), "{output:?}");
                }
                _ => assert!(
                    text.contains(r#""const":1,"#) && text.contains(r#""schema_version":{"#),
                    "{output:?}: {text}"
                ),
            }
        }
    }

    #[test]
    fn the_version_comes_first_and_the_report_is_flattened() {
        #[derive(Serialize)]
        struct R {
            commit: &'static str,
        }
        let v = Versioned { schema_version: 1, report: &R { commit: "abc" } };
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"schema_version":1,"commit":"abc"}"#);
    }
}
