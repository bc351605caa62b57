//! The [`Universe`] a pattern is evaluated against: the inventory's hosts
//! with their labels, and its groups with their members resolved through
//! children.
//!
//! This file owns the rules for host and group names, the two implicit
//! groups `all` and `ungrouped`, and every check an inventory's groups must
//! pass (members that exist, children that are groups, no cycles). It does
//! not parse patterns (`parse.rs`) or decide which hosts a pattern selects
//! (`select.rs`), and it reads no files (`inventory.rs` does).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::suggest::{close_hint, close_names};
use crate::BadInput;

/// The implicit group that holds every host.
pub(super) const ALL: &str = "all";
/// The implicit group that holds the hosts no defined group holds.
pub(super) const UNGROUPED: &str = "ungrouped";

/// A group as the inventory defines it, before children are resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupDef {
    pub hosts: Vec<String>,
    pub children: Vec<String>,
}

/// The hosts and groups a pattern is evaluated against.
///
/// Only [`Universe::build`] sets the fields; they are open to the sibling
/// files so that `select.rs` can evaluate selectors against them.
#[derive(Debug, Clone)]
pub struct Universe {
    /// Host names in inventory order; a host's position is its index everywhere below.
    pub(super) hosts: Vec<String>,
    pub(super) labels: Vec<BTreeMap<String, String>>,
    pub(super) host_index: HashMap<String, usize>,
    /// Every defined group with its members through children, as ascending host indices.
    pub(super) groups: BTreeMap<String, Vec<usize>>,
    pub(super) ungrouped: Vec<usize>,
}

impl Universe {
    /// `hosts`: (name, labels) in inventory order. `groups`: group name -> definition.
    ///
    /// Resolves children transitively. Refuses a group member that is not a
    /// host, a child that is not a group, a cycle among children, a group
    /// named like a host, a group named `all` or `ungrouped`, invalid group
    /// names, and duplicate or invalid host names.
    pub fn build(
        hosts: Vec<(String, BTreeMap<String, String>)>,
        groups: &BTreeMap<String, GroupDef>,
    ) -> Result<Universe, BadInput> {
        let mut names = Vec::with_capacity(hosts.len());
        let mut labels = Vec::with_capacity(hosts.len());
        let mut host_index = HashMap::with_capacity(hosts.len());
        for (name, host_labels) in hosts {
            if !is_valid_name(&name) {
                return Err(BadInput::new(format!(
                    "host `{}` is not a valid host name ({NAME_RULE}); rename it in the inventory",
                    name.escape_debug()
                )));
            }
            if name == ALL || name == UNGROUPED {
                return Err(BadInput::new(format!(
                    "host `{name}` has the name of an implicit group, so no pattern could select it alone; \
                     rename the host"
                )));
            }
            if host_index.insert(name.clone(), names.len()).is_some() {
                return Err(BadInput::new(format!("host `{name}` appears twice in the inventory; keep one entry")));
            }
            names.push(name);
            labels.push(host_labels);
        }

        for (group, def) in groups {
            check_group(group, def, groups, &host_index, &names)?;
        }
        let mut resolved = BTreeMap::new();
        let mut path = Vec::new();
        for group in groups.keys() {
            resolve_group(group, groups, &host_index, &mut resolved, &mut path)?;
        }

        let mut grouped = vec![false; names.len()];
        for &i in resolved.values().flatten() {
            grouped[i] = true;
        }
        let ungrouped = (0..names.len()).filter(|&i| !grouped[i]).collect();
        let groups = resolved.into_iter().map(|(name, members)| (name.to_owned(), members)).collect();
        Ok(Universe { hosts: names, labels, host_index, groups, ungrouped })
    }

    /// Host names in inventory order.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(String::as_str)
    }

    /// The sorted names of the defined groups that hold `host`, directly or
    /// through children. The implicit `all` and `ungrouped` are not listed.
    pub fn groups_of(&self, host: &str) -> Vec<&str> {
        let Some(&i) = self.host_index.get(host) else { return Vec::new() };
        self.groups.iter().filter(|(_, members)| members.binary_search(&i).is_ok()).map(|(g, _)| g.as_str()).collect()
    }

    /// The sorted names of the defined groups, without `all` and `ungrouped`.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// Names a typo could have meant: hosts, defined groups and the implicit groups.
    pub(super) fn candidate_names(&self) -> impl Iterator<Item = &str> {
        self.hosts().chain(self.group_names()).chain([ALL, UNGROUPED])
    }
}

/// The rule for host and group names, as `inventory.rs` states it for hosts.
pub(super) const NAME_RULE: &str = "letters, digits, `-`, `_`, `.`; starting with a letter or digit";

pub(super) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Checks one group's own name and the names it lists; cycles are found while resolving.
fn check_group(
    group: &str,
    def: &GroupDef,
    groups: &BTreeMap<String, GroupDef>,
    host_index: &HashMap<String, usize>,
    hosts: &[String],
) -> Result<(), BadInput> {
    if group == ALL {
        return Err(BadInput::new("group `all` is reserved: every host is in `all` already; rename the group"));
    }
    if group == UNGROUPED {
        return Err(BadInput::new(
            "group `ungrouped` is reserved: it holds the hosts that no other group holds; rename the group",
        ));
    }
    if !is_valid_name(group) {
        return Err(BadInput::new(format!(
            "group `{}` is not a valid group name ({NAME_RULE}); rename the group",
            group.escape_debug()
        )));
    }
    if host_index.contains_key(group) {
        return Err(BadInput::new(format!(
            "group `{group}` has the same name as a host, so a pattern naming `{group}` would be ambiguous; \
             rename the group or the host"
        )));
    }
    for member in &def.hosts {
        if host_index.contains_key(member) {
            continue;
        }
        let member_shown = member.escape_debug();
        if groups.contains_key(member) {
            return Err(BadInput::new(format!(
                "group `{group}` lists `{member}` under `hosts`, but `{member}` is a group; move it to `children`"
            )));
        }
        let close = close_names(member, None, hosts.iter().map(String::as_str));
        return Err(BadInput::new(format!(
            "group `{group}` lists host `{member_shown}`, which is not in the inventory{}; \
             add the host to the inventory or remove it from the group",
            close_hint("close host names", &close)
        )));
    }
    for child in &def.children {
        if groups.contains_key(child) {
            continue;
        }
        if host_index.contains_key(child) {
            return Err(BadInput::new(format!(
                "group `{group}` lists `{child}` under `children`, but `{child}` is a host; move it to `hosts`"
            )));
        }
        let close = close_names(child, None, groups.keys().map(String::as_str));
        return Err(BadInput::new(format!(
            "group `{group}` lists child group `{}`, which is not defined{}; \
             define the group or remove it from `children`",
            child.escape_debug(),
            close_hint("close group names", &close)
        )));
    }
    Ok(())
}

/// Depth-first resolution of a group's members through its children.
/// `path` holds the groups being resolved, so meeting one of them again is a
/// cycle, and the path from that group on is the cycle to name.
fn resolve_group<'a>(
    group: &'a str,
    groups: &'a BTreeMap<String, GroupDef>,
    host_index: &HashMap<String, usize>,
    resolved: &mut BTreeMap<&'a str, Vec<usize>>,
    path: &mut Vec<&'a str>,
) -> Result<(), BadInput> {
    if resolved.contains_key(group) {
        return Ok(());
    }
    if let Some(start) = path.iter().position(|&g| g == group) {
        let cycle: Vec<&str> = path[start..].iter().copied().chain([group]).collect();
        return Err(BadInput::new(format!(
            "group children form a cycle: `{}`; remove one of these `children` entries",
            cycle.join(" -> ")
        )));
    }
    path.push(group);
    let def = &groups[group];
    let mut members: BTreeSet<usize> = def.hosts.iter().map(|h| host_index[h.as_str()]).collect();
    for child in &def.children {
        resolve_group(child, groups, host_index, resolved, path)?;
        members.extend(&resolved[child.as_str()]);
    }
    path.pop();
    resolved.insert(group, members.into_iter().collect());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{build, fleet, group, select};
    use super::super::HostPattern;
    use super::*;

    fn build_error(hosts: &[&str], groups: &[(&str, GroupDef)]) -> String {
        build(hosts, groups).expect_err("build should fail").message
    }

    #[test]
    fn children_resolve_transitively() {
        assert_eq!(select("prod"), ["web-1", "web-2", "db-1"]);
        assert_eq!(select("backend"), ["db-1"]);
        let universe = fleet();
        assert_eq!(universe.groups_of("db-1"), ["backend", "dbs", "prod"]);
        assert_eq!(universe.groups_of("web-2"), ["canary", "prod", "web"]);
        assert!(universe.groups_of("lab-x").is_empty());
        assert!(universe.groups_of("no-such-host").is_empty());
        let names: Vec<&str> = universe.group_names().collect();
        assert_eq!(names, ["backend", "canary", "dbs", "empty", "gpu-a", "prod", "staging", "web"]);
        let hosts: Vec<&str> = universe.hosts().collect();
        assert_eq!(hosts, ["web-3", "web-1", "web-2", "db-1", "gpu-7", "lab-x"]);
    }

    #[test]
    fn deep_child_chains_resolve() {
        let groups: Vec<(String, GroupDef)> = (0..200)
            .map(|i| {
                let children: Vec<String> = if i < 199 { vec![format!("g{}", i + 1)] } else { vec![] };
                let hosts = if i == 199 { vec!["leaf".to_owned()] } else { vec![] };
                (format!("g{i}"), GroupDef { hosts, children })
            })
            .collect();
        let refs: Vec<(&str, GroupDef)> = groups.iter().map(|(n, g)| (n.as_str(), g.clone())).collect();
        let universe = build(&["leaf", "other"], &refs).unwrap();
        assert_eq!(HostPattern::parse("g0").unwrap().select(&universe).unwrap(), ["leaf"]);
        assert_eq!(universe.groups_of("leaf").len(), 200);
    }

    #[test]
    fn group_members_must_be_hosts_and_children_groups() {
        let message = build_error(&["web-1", "web-2"], &[("web", group(&["web-1", "wbe-2"], &[]))]);
        assert_eq!(
            message,
            "group `web` lists host `wbe-2`, which is not in the inventory (close host names: `web-2`); \
             add the host to the inventory or remove it from the group"
        );
        let message = build_error(&["db-1"], &[("prod", group(&["dbs"], &[])), ("dbs", group(&["db-1"], &[]))]);
        assert!(message.contains("lists `dbs` under `hosts`, but `dbs` is a group; move it to `children`"));
        let message = build_error(&["db-1"], &[("prod", group(&[], &["db-1"]))]);
        assert!(message.contains("lists `db-1` under `children`, but `db-1` is a host; move it to `hosts`"));
        let message = build_error(&["db-1"], &[("prod", group(&[], &["dsb"])), ("dbs", group(&["db-1"], &[]))]);
        assert!(message.contains("child group `dsb`, which is not defined (close group names: `dbs`)"), "{message}");
        assert!(message.contains("define the group or remove it from `children`"), "{message}");
    }

    #[test]
    fn cycles_among_children_are_named() {
        let message = build_error(&["h"], &[("a", group(&["h"], &["b"])), ("b", group(&[], &["a"]))]);
        assert_eq!(message, "group children form a cycle: `a -> b -> a`; remove one of these `children` entries");
        let message = build_error(&["h"], &[("a", group(&[], &["a"]))]);
        assert!(message.contains("`a -> a`"), "{message}");
        // The cycle is named without the path that led into it.
        let message = build_error(
            &["h"],
            &[
                ("entry", group(&[], &["x"])),
                ("x", group(&[], &["y"])),
                ("y", group(&[], &["z"])),
                ("z", group(&[], &["x"])),
            ],
        );
        assert!(message.contains("cycle: `x -> y -> z -> x`;"), "{message}");
        // Diamonds are not cycles.
        let universe = build(
            &["h"],
            &[
                ("top", group(&[], &["left", "right"])),
                ("left", group(&[], &["bottom"])),
                ("right", group(&[], &["bottom"])),
                ("bottom", group(&["h"], &[])),
            ],
        )
        .unwrap();
        assert_eq!(universe.groups_of("h"), ["bottom", "left", "right", "top"]);
    }

    #[test]
    fn group_names_are_checked() {
        let message = build_error(&["web-1"], &[("web-1", group(&[], &[]))]);
        assert!(message.contains("group `web-1` has the same name as a host"), "{message}");
        assert!(message.contains("rename the group or the host"), "{message}");
        let message = build_error(&["h"], &[("all", group(&["h"], &[]))]);
        assert!(message.contains("group `all` is reserved") && message.contains("rename the group"), "{message}");
        let message = build_error(&["h"], &[("ungrouped", group(&["h"], &[]))]);
        assert!(message.contains("group `ungrouped` is reserved"), "{message}");
        for bad in ["-web", "web servers", "", "web/1", "web*", ".x", "wéb"] {
            let message = build_error(&["h"], &[(bad, group(&[], &[]))]);
            assert!(message.contains("is not a valid group name (letters, digits"), "{bad}: {message}");
            assert!(message.ends_with("rename the group"), "{message}");
        }
        assert!(build(&["h"], &[("Web_2.x", group(&["h"], &[])), ("9", group(&[], &[]))]).is_ok());
    }

    #[test]
    fn host_names_are_checked() {
        let message = build_error(&["web-1", "web-1"], &[]);
        assert_eq!(message, "host `web-1` appears twice in the inventory; keep one entry");
        let message = build_error(&["all"], &[]);
        assert!(message.contains("host `all` has the name of an implicit group"), "{message}");
        let message = build_error(&["bad host"], &[]);
        assert!(message.contains("host `bad host` is not a valid host name"), "{message}");
    }
}
