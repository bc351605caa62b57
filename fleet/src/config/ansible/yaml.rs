//! Ansible's YAML inventory format, as `ansible.plugins.inventory.yaml`
//! reads it: every top-level key is a group (usually `all`), and a group
//! holds `hosts` (a mapping of host patterns to their variables), `vars` and
//! `children` (a mapping of groups, defined in place). A group named twice
//! is one group: its definitions add up.
//!
//! schedfleet refuses what Ansible would only warn about and skip (a key
//! other than `hosts`, `vars`, `children` in a group, a group that is not a
//! mapping), because a typo there silently drops hosts.

use serde_json::Value;

use super::loader::{Kind, Node};
use super::model::Inventory;
use super::range;

/// Reads the root mapping `root` into `inv`; errors are `(line, message)`.
pub fn parse(root: &Node, inv: &mut Inventory) -> Result<(), (usize, String)> {
    let Kind::Map(groups) = &root.kind else {
        return Err((root.line, "an Ansible YAML inventory is a mapping of group names (such as `all:`)".into()));
    };
    for (name, data) in groups {
        group(&name.text, name.line, data, inv)?;
    }
    Ok(())
}

fn group(name: &str, line: usize, data: &Node, inv: &mut Inventory) -> Result<(), (usize, String)> {
    if name.is_empty() {
        return Err((line, "a group has an empty name".into()));
    }
    inv.add_group(name);
    let entries = match &data.kind {
        Kind::Scalar(Value::Null) => return Ok(()),
        Kind::Map(entries) => entries,
        _ => {
            return Err((
                data.line,
                format!("group `{name}` is not a mapping; give it `hosts:`, `children:` or `vars:` (or nothing)"),
            ))
        }
    };
    for (key, value) in entries {
        // `hosts: web1` is `hosts: { web1: }`, as in Ansible.
        let single;
        let value = match &value.kind {
            Kind::Scalar(Value::String(s)) => {
                single = Node {
                    line: value.line,
                    kind: Kind::Map(vec![(
                        super::loader::Key { text: s.clone(), line: value.line },
                        Node { line: value.line, kind: Kind::Scalar(Value::Null) },
                    )]),
                };
                &single
            }
            _ => value,
        };
        let items = match &value.kind {
            Kind::Scalar(Value::Null) => continue,
            Kind::Map(items) => items,
            _ => {
                return Err((
                    value.line,
                    format!(
                        "`{}` of group `{name}` must be a mapping (`name: ...` entries), not a list or a value",
                        key.text
                    ),
                ))
            }
        };
        match key.text.as_str() {
            "vars" => {
                for (k, v) in items {
                    inv.set_group_var(name, &k.text, v.to_json()).map_err(|e| (k.line, e))?;
                }
            }
            "children" => {
                for (child, child_data) in items {
                    group(&child.text, child.line, child_data, inv)?;
                    inv.add_child_group(name, &child.text).map_err(|e| (child.line, e))?;
                }
            }
            "hosts" => {
                for (pattern, host_vars) in items {
                    let (hosts, port) = range::expand(&pattern.text).map_err(|e| (pattern.line, e))?;
                    let vars = match &host_vars.kind {
                        Kind::Scalar(Value::Null) => &[][..],
                        Kind::Map(vars) => &vars[..],
                        _ => {
                            return Err((
                                host_vars.line,
                                format!("host `{}` in group `{name}`: its variables must be a mapping", pattern.text),
                            ))
                        }
                    };
                    for h in hosts {
                        inv.add_host(&h, name);
                        if let Some(p) = port {
                            inv.set_host_var(&h, "ansible_port", Value::from(p));
                        }
                        for (k, v) in vars {
                            inv.set_host_var(&h, &k.text, v.to_json());
                        }
                    }
                }
            }
            other => {
                return Err((
                    key.line,
                    format!(
                        "group `{name}` has a key `{other}`; only `hosts`, `children` and `vars` belong in a group \
                         (Ansible would skip it with a warning)"
                    ),
                ))
            }
        }
    }
    Ok(())
}
