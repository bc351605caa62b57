//! Test fixtures shared by the pattern tests: a small fleet whose inventory
//! order differs from name order, and helpers that build universes and run
//! patterns against them.

use std::collections::BTreeMap;

use super::{GroupDef, HostPattern, Universe};
use crate::BadInput;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub(super) fn group(hosts: &[&str], children: &[&str]) -> GroupDef {
    GroupDef {
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        children: children.iter().map(|c| c.to_string()).collect(),
    }
}

pub(super) fn build(hosts: &[&str], groups: &[(&str, GroupDef)]) -> Result<Universe, BadInput> {
    let hosts = hosts.iter().map(|h| (h.to_string(), BTreeMap::new())).collect();
    let groups = groups.iter().map(|(n, g)| (n.to_string(), g.clone())).collect();
    Universe::build(hosts, &groups)
}

/// Inventory order deliberately differs from name order.
pub(super) fn fleet() -> Universe {
    let hosts = vec![
        ("web-3".to_owned(), labels(&[("rack", "r02"), ("zone", "b")])),
        ("web-1".to_owned(), labels(&[("rack", "r01"), ("zone", "a")])),
        ("web-2".to_owned(), labels(&[("rack", "r01"), ("zone", "b")])),
        ("db-1".to_owned(), labels(&[("rack", "r11"), ("topology.kubernetes.io/zone", "eu-west/1a")])),
        ("gpu-7".to_owned(), labels(&[("rack", "r03")])),
        ("lab-x".to_owned(), BTreeMap::new()),
    ];
    let groups = [
        ("web", group(&["web-1", "web-2", "web-3"], &[])),
        ("dbs", group(&["db-1"], &[])),
        ("gpu-a", group(&["gpu-7"], &[])),
        ("canary", group(&["web-2"], &[])),
        ("staging", group(&["web-3"], &[])),
        ("backend", group(&[], &["dbs"])),
        ("prod", group(&["web-1"], &["backend", "canary"])),
        ("empty", group(&[], &[])),
    ];
    let groups = groups.into_iter().map(|(n, g)| (n.to_owned(), g)).collect();
    Universe::build(hosts, &groups).unwrap()
}

pub(super) fn select(pattern: &str) -> Vec<String> {
    HostPattern::parse(pattern).unwrap().select(&fleet()).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

pub(super) fn select_error(pattern: &str) -> String {
    HostPattern::parse(pattern).unwrap().select(&fleet()).expect_err(pattern).message
}
