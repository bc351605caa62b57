//! Ansible's in-memory inventory (`ansible.inventory.data.InventoryData`):
//! groups with child groups and depths, hosts with the groups that hold
//! them, variables set on either, and how a host's variables merge.
//!
//! The merge follows Ansible's default `VARIABLE_PRECEDENCE` for an
//! inventory without plays: the `all` group's variables from the file, then
//! the host's other groups from the file sorted by (depth, priority, name),
//! then `group_vars/all`, then `group_vars/<group>` in the same order, then
//! the host's own variables from the file, then `host_vars/<host>`. A later
//! layer replaces a variable as a whole (`hash_behaviour = replace`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// The variables one inventory layer sets.
pub type Vars = Map<String, Value>;

#[derive(Debug, Default, Clone)]
pub struct Group {
    /// Direct member hosts, in the order they were added.
    pub hosts: Vec<String>,
    /// Direct child groups, in the order they were added.
    pub children: Vec<String>,
    pub parents: Vec<String>,
    pub vars: Vars,
    /// `ansible_group_priority`: among groups of the same depth, higher wins.
    pub priority: i64,
}

#[derive(Debug, Default, Clone)]
pub struct HostEntry {
    pub vars: Vars,
}

/// An inventory as Ansible's parsers leave it.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub groups: BTreeMap<String, Group>,
    /// Groups in the order they were first named.
    pub group_order: Vec<String>,
    pub hosts: BTreeMap<String, HostEntry>,
    /// Hosts in the order they were first named.
    pub host_order: Vec<String>,
}

impl Default for Inventory {
    fn default() -> Self {
        let mut inv = Inventory {
            groups: BTreeMap::new(),
            group_order: Vec::new(),
            hosts: BTreeMap::new(),
            host_order: Vec::new(),
        };
        inv.add_group("all");
        inv.add_group("ungrouped");
        inv.add_child_group("all", "ungrouped").expect("ungrouped is a child of all");
        inv
    }
}

impl Inventory {
    pub fn add_group(&mut self, name: &str) {
        if !self.groups.contains_key(name) {
            // Ansible's default priority is 1.
            self.groups.insert(name.to_owned(), Group { priority: 1, ..Group::default() });
            self.group_order.push(name.to_owned());
        }
    }

    /// Adds `host` (creating it) to `group` (which must exist).
    pub fn add_host(&mut self, host: &str, group: &str) {
        if !self.hosts.contains_key(host) {
            self.hosts.insert(host.to_owned(), HostEntry::default());
            self.host_order.push(host.to_owned());
        }
        let g = self.groups.get_mut(group).expect("groups are added before their hosts");
        if !g.hosts.iter().any(|h| h == host) {
            g.hosts.push(host.to_owned());
        }
    }

    /// Makes `child` a child group of `parent`; both must exist. Refuses a
    /// loop, as Ansible does.
    pub fn add_child_group(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if parent == child {
            return Err(format!("group `{parent}` cannot be a child of itself"));
        }
        if self.descendants(child).contains(parent) {
            return Err(format!(
                "adding group `{child}` as a child of `{parent}` makes a loop: `{parent}` is already below `{child}`"
            ));
        }
        let p = self.groups.get_mut(parent).expect("parent exists");
        if !p.children.iter().any(|c| c == child) {
            p.children.push(child.to_owned());
            self.groups.get_mut(child).expect("child exists").parents.push(parent.to_owned());
        }
        Ok(())
    }

    fn descendants(&self, group: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![group.to_owned()];
        while let Some(g) = todo.pop() {
            for c in &self.groups[&g].children {
                if seen.insert(c.clone()) {
                    todo.push(c.clone());
                }
            }
        }
        seen
    }

    /// `Group.set_variable`: `ansible_group_priority` sets the priority and
    /// is not a variable.
    pub fn set_group_var(&mut self, group: &str, key: &str, value: Value) -> Result<(), String> {
        let g = self.groups.get_mut(group).expect("group exists");
        if key == "ansible_group_priority" {
            g.priority = match &value {
                Value::Number(n) if n.is_i64() => n.as_i64().unwrap_or_default(),
                Value::String(s) => s
                    .trim()
                    .parse()
                    .map_err(|_| format!("group `{group}`: `ansible_group_priority` must be an integer, not `{s}`"))?,
                other => {
                    return Err(format!("group `{group}`: `ansible_group_priority` must be an integer, not {other}"))
                }
            };
        } else {
            g.vars.insert(key.to_owned(), value);
        }
        Ok(())
    }

    pub fn set_host_var(&mut self, host: &str, key: &str, value: Value) {
        self.hosts.get_mut(host).expect("host exists").vars.insert(key.to_owned(), value);
    }

    /// `InventoryData.reconcile_inventory`: every group without ancestors
    /// becomes a child of `all`; a host in no group but `all` goes to
    /// `ungrouped`, and one in another group leaves `ungrouped`.
    pub fn reconcile(&mut self) {
        for name in self.group_order.clone() {
            if name != "all" && self.groups[&name].parents.is_empty() {
                self.add_child_group("all", &name).expect("a root group cannot make a loop with all");
            }
        }
        for host in self.host_order.clone() {
            let groups = self.direct_groups(&host);
            let others = groups.iter().filter(|g| *g != "all" && *g != "ungrouped").count();
            if others > 0 {
                self.groups.get_mut("ungrouped").expect("ungrouped exists").hosts.retain(|h| h != &host);
            } else if !groups.iter().any(|g| g == "ungrouped") {
                self.add_host(&host, "ungrouped");
            }
        }
        self.groups.get_mut("all").expect("all exists").hosts.clear();
    }

    /// The groups that list `host` directly.
    fn direct_groups(&self, host: &str) -> Vec<String> {
        self.group_order.iter().filter(|g| self.groups[*g].hosts.iter().any(|h| h == host)).cloned().collect()
    }

    /// Every group of `host`, through parents, `all` included.
    pub fn groups_of(&self, host: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo = self.direct_groups(host);
        while let Some(g) = todo.pop() {
            if out.insert(g.clone()) {
                todo.extend(self.groups[&g].parents.iter().cloned());
            }
        }
        out.insert("all".to_owned());
        out
    }

    /// Longest path from `all`, as Ansible keeps `Group.depth`.
    fn depth(&self, group: &str, memo: &mut BTreeMap<String, usize>) -> usize {
        if let Some(&d) = memo.get(group) {
            return d;
        }
        let d = self.groups[group].parents.iter().map(|p| self.depth(p, memo) + 1).max().unwrap_or(0);
        memo.insert(group.to_owned(), d);
        d
    }

    /// The host's groups other than `all`, in Ansible's merge order.
    pub fn sorted_groups(&self, host: &str) -> Vec<String> {
        let mut memo = BTreeMap::new();
        let mut groups: Vec<(usize, i64, String)> = self
            .groups_of(host)
            .into_iter()
            .filter(|g| g != "all")
            .map(|g| (self.depth(&g, &mut memo), self.groups[&g].priority, g))
            .collect();
        groups.sort();
        groups.into_iter().map(|(_, _, g)| g).collect()
    }

    /// The host's variables as Ansible merges them; `group_files` and
    /// `host_files` are what `group_vars/` and `host_vars/` hold.
    pub fn merged_vars(
        &self,
        host: &str,
        group_files: &BTreeMap<String, Vars>,
        host_files: &BTreeMap<String, Vars>,
    ) -> Vars {
        let order = self.sorted_groups(host);
        let mut vars = self.groups["all"].vars.clone();
        for g in &order {
            vars.extend(self.groups[g].vars.clone());
        }
        if let Some(v) = group_files.get("all") {
            vars.extend(v.clone());
        }
        for g in &order {
            if let Some(v) = group_files.get(g) {
                vars.extend(v.clone());
            }
        }
        vars.extend(self.hosts[host].vars.clone());
        if let Some(v) = host_files.get(host) {
            vars.extend(v.clone());
        }
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn precedence_is_depth_then_priority_then_name_then_host() {
        let mut inv = Inventory::default();
        for g in ["parent", "b_child", "a_child", "prio"] {
            inv.add_group(g);
        }
        inv.add_child_group("parent", "b_child").unwrap();
        inv.add_child_group("parent", "a_child").unwrap();
        inv.add_child_group("parent", "prio").unwrap();
        inv.add_host("h", "b_child");
        inv.add_host("h", "a_child");
        inv.add_host("p", "a_child");
        inv.add_host("p", "prio");
        inv.set_group_var("all", "x", json!("all")).unwrap();
        inv.set_group_var("parent", "x", json!("parent")).unwrap();
        inv.set_group_var("a_child", "x", json!("a")).unwrap();
        inv.set_group_var("b_child", "x", json!("b")).unwrap();
        inv.set_group_var("prio", "ansible_group_priority", json!(-1)).unwrap();
        inv.set_group_var("prio", "x", json!("prio")).unwrap();
        inv.reconcile();
        let none = BTreeMap::new();
        assert_eq!(inv.merged_vars("h", &none, &none)["x"], "b", "same depth: the later name wins");
        assert_eq!(inv.merged_vars("p", &none, &none)["x"], "a", "a lower priority ranks below");
        inv.set_host_var("h", "x", json!("host"));
        assert_eq!(inv.merged_vars("h", &none, &none)["x"], "host");
        assert!(!inv.merged_vars("p", &none, &none).contains_key("ansible_group_priority"));
    }

    #[test]
    fn reconcile_places_roots_and_ungrouped_hosts() {
        let mut inv = Inventory::default();
        inv.add_group("g");
        inv.add_host("lonely", "all");
        inv.add_host("member", "ungrouped");
        inv.add_host("member", "g");
        inv.reconcile();
        assert_eq!(inv.groups["all"].children, ["ungrouped", "g"]);
        assert_eq!(inv.groups["ungrouped"].hosts, ["lonely"]);
        assert!(inv.groups["all"].hosts.is_empty());
    }

    #[test]
    fn loops_are_refused() {
        let mut inv = Inventory::default();
        inv.add_group("a");
        inv.add_group("b");
        inv.add_child_group("a", "b").unwrap();
        assert!(inv.add_child_group("b", "a").is_err());
        assert!(inv.add_child_group("a", "a").is_err());
    }
}
