//! The JSON outputs as contracts: a real output of a command is checked
//! against the schema `schedfleet schema NAME` prints for it, with a
//! validator independent of the code that generates the schema.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::{run, schedfleet, stderr};

/// Panics, naming every violation, unless `value` conforms to the schema of
/// output `name` (`plan`, `apply`, `apply-dry-run`, `rollback`, `status`,
/// `drift`, `lab-status`).
pub fn assert_conforms(name: &str, value: &serde_json::Value) {
    static SCHEMAS: OnceLock<Mutex<HashMap<String, serde_json::Value>>> = OnceLock::new();
    let schema = SCHEMAS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(name.to_owned())
        .or_insert_with(|| {
            let out = run(schedfleet().args(["schema", name]));
            assert!(out.status.success(), "schedfleet schema {name}: {}", stderr(&out));
            serde_json::from_slice(&out.stdout).expect("the schema is JSON")
        })
        .clone();
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("`schedfleet schema {name}` is no valid schema: {e}"));
    let errors: Vec<String> = validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(
        errors.is_empty(),
        "this output does not conform to `schedfleet schema {name}`:\n  {}\n{}",
        errors.join("\n  "),
        serde_json::to_string_pretty(value).unwrap()
    );
}
