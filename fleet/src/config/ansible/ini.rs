//! Ansible's INI inventory format, as `ansible.plugins.inventory.ini` reads
//! it: hosts before any section are ungrouped; `[group]` lists hosts
//! (`name[:port] key=value ...`, split like a POSIX shell line, values read
//! as Python literals), `[group:vars]` sets `key=value` group variables,
//! `[group:children]` names child groups, which must be defined by a
//! section of their own somewhere in the file.

use std::collections::BTreeMap;

use serde_json::Value;

use super::literal;
use super::model::Inventory;
use super::range;

/// What a `[name:children]` or `[name:vars]` section promised before the
/// group itself was defined.
struct Pending {
    line: usize,
    state: State,
    /// For children: the groups waiting to adopt it.
    parents: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Vars,
    Children,
}

/// Parses `text` into `inv`; errors are `(line, message)`.
pub fn parse(text: &str, inv: &mut Inventory) -> Result<(), (usize, String)> {
    let mut pending: BTreeMap<String, Pending> = BTreeMap::new();
    let mut pending_order: Vec<String> = Vec::new();
    let mut group = "ungrouped".to_owned();
    let mut state = State::Hosts;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some((name, kind)) = section(line) {
            state = match kind {
                None | Some("hosts") => State::Hosts,
                Some("vars") => State::Vars,
                Some("children") => State::Children,
                Some(other) => {
                    return Err((
                        line_no,
                        format!("section `{line}` has unknown type `{other}`; use hosts, vars or children"),
                    ))
                }
            };
            group = name.to_owned();
            if !inv.groups.contains_key(&group) {
                if state == State::Vars && !pending.contains_key(&group) {
                    pending.insert(group.clone(), Pending { line: line_no, state, parents: Vec::new() });
                    pending_order.push(group.clone());
                }
                inv.add_group(&group);
            }
            if state != State::Vars {
                if let Some(p) = pending.get(&group) {
                    match p.state {
                        State::Children => adopt(inv, &group, &mut pending).map_err(|e| (line_no, e))?,
                        _ => {
                            pending.remove(&group);
                        }
                    }
                }
            }
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err((
                line_no,
                format!("invalid section `{line}`: no spaces in a section name, and at most one `:type`"),
            ));
        }
        match state {
            State::Hosts => {
                let tokens = shlex(line).map_err(|e| (line_no, format!("host line `{line}`: {e}")))?;
                let Some(pattern) = tokens.first() else { continue };
                if pattern.trim() == "---" {
                    return Err((line_no, "`---` in an INI inventory: is this a YAML file?".into()));
                }
                let (hosts, port) = range::expand(pattern).map_err(|e| (line_no, e))?;
                let mut vars = Vec::new();
                for t in &tokens[1..] {
                    let (k, v) = t
                        .split_once('=')
                        .ok_or_else(|| (line_no, format!("expected `key=value` after the host, got `{t}`")))?;
                    vars.push((k.to_owned(), literal::value(v)));
                }
                for h in hosts {
                    inv.add_host(&h, &group);
                    if let Some(p) = port {
                        inv.set_host_var(&h, "ansible_port", Value::from(p));
                    }
                    for (k, v) in &vars {
                        inv.set_host_var(&h, k, v.clone());
                    }
                }
            }
            State::Vars => {
                let (k, v) = line
                    .split_once('=')
                    .ok_or_else(|| (line_no, format!("expected `key=value` in `[{group}:vars]`, got `{line}`")))?;
                inv.set_group_var(&group, k.trim(), literal::value(v.trim())).map_err(|e| (line_no, e))?;
            }
            State::Children => {
                let child = child_name(line)
                    .ok_or_else(|| (line_no, format!("expected a group name in `[{group}:children]`, got `{line}`")))?;
                if inv.groups.contains_key(child) {
                    inv.add_child_group(&group, child).map_err(|e| (line_no, e))?;
                } else if let Some(p) = pending.get_mut(child) {
                    p.parents.push(group.clone());
                } else {
                    pending.insert(
                        child.to_owned(),
                        Pending { line: line_no, state: State::Children, parents: vec![group.clone()] },
                    );
                    pending_order.push(child.to_owned());
                }
            }
        }
    }
    for name in pending_order {
        if let Some(p) = pending.get(&name) {
            return Err(match p.state {
                State::Vars => (
                    p.line,
                    format!("section `[{name}:vars]` is for group `{name}`, which no section defines; add `[{name}]`"),
                ),
                _ => (
                    p.line,
                    format!(
                        "section `[{}:children]` names group `{name}`, which no section defines; add `[{name}]`",
                        p.parents.last().map_or("", String::as_str)
                    ),
                ),
            });
        }
    }
    Ok(())
}

/// A group defined at last: it joins the parents that named it early, and
/// so do pending parents of theirs.
fn adopt(inv: &mut Inventory, group: &str, pending: &mut BTreeMap<String, Pending>) -> Result<(), String> {
    let Some(p) = pending.remove(group) else { return Ok(()) };
    for parent in p.parents {
        inv.add_child_group(&parent, group)?;
        if pending.get(&parent).is_some_and(|pp| pp.state == State::Children) {
            adopt(inv, &parent, pending)?;
        }
    }
    Ok(())
}

/// `[name]` or `[name:type]`, a comment allowed after it.
fn section(line: &str) -> Option<(&str, Option<&str>)> {
    let rest = line.strip_prefix('[')?;
    let close = rest.find(']')?;
    let after = rest[close + 1..].trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let inner = &rest[..close];
    let (name, kind) = match inner.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (inner, None),
    };
    let name_ok = !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == ']');
    let kind_ok = kind.is_none_or(|k| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_'));
    (name_ok && kind_ok).then_some((name, kind))
}

fn child_name(line: &str) -> Option<&str> {
    let end = line.find(|c: char| c.is_whitespace() || c == '#').unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let ok = !name.is_empty() && !name.contains([':', ']']) && (rest.is_empty() || rest.starts_with('#'));
    ok.then_some(name)
}

/// Python's `shlex.split(line, comments=True)` (POSIX mode).
fn shlex(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    let mut token = String::new();
    let mut in_token = false;
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_token {
                    out.push(std::mem::take(&mut token));
                    in_token = false;
                }
            }
            '#' => break,
            '\\' => {
                let e = chars.next().ok_or("no character after the final `\\`")?;
                token.push(e);
                in_token = true;
            }
            '\'' => {
                in_token = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => token.push(ch),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_token = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('\\' | '"' | '$' | '`')) => token.push(e),
                            Some(e) => {
                                token.push('\\');
                                token.push(e);
                            }
                            None => return Err("no closing quotation".into()),
                        },
                        Some(ch) => token.push(ch),
                        None => return Err("no closing quotation".into()),
                    }
                }
            }
            c => {
                token.push(c);
                in_token = true;
            }
        }
    }
    if in_token {
        out.push(token);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inv(text: &str) -> Result<Inventory, (usize, String)> {
        let mut inv = Inventory::default();
        parse(text, &mut inv)?;
        inv.reconcile();
        Ok(inv)
    }

    #[test]
    fn hosts_vars_children_and_pending_groups() {
        let i =
            inv("top a=1\n[p:children]\nweb\n[web]\nweb[1:2]:2222 x='5' y=\"a b\" # c\n[p:vars]\nz=\"q\"\n").unwrap();
        assert_eq!(i.groups["ungrouped"].hosts, ["top"]);
        assert_eq!(i.groups["web"].hosts, ["web1", "web2"]);
        assert_eq!(i.groups["p"].children, ["web"]);
        let h = &i.hosts["web2"].vars;
        assert_eq!((&h["ansible_port"], &h["x"], &h["y"]), (&json!(2222), &json!(5), &json!("a b")));
        assert_eq!(i.groups["p"].vars["z"], "q");
    }

    #[test]
    fn errors_carry_lines() {
        assert_eq!(inv("[a]\nh\n[b:children]\nnope\n").unwrap_err().0, 4);
        assert_eq!(inv("[a:vars]\nx=1\n").unwrap_err().0, 1);
        assert_eq!(inv("[a]\nh x\n").unwrap_err().0, 2);
        assert_eq!(inv("[a b]\n").unwrap_err().0, 1);
        assert_eq!(inv("[a:weird]\n").unwrap_err().0, 1);
        assert_eq!(inv("[a]\nh x='y\n").unwrap_err().0, 2);
        assert_eq!(inv("[a:children]\nb\n[b:children]\na\n").unwrap_err().0, 4);
    }

    #[test]
    fn shell_splitting() {
        assert_eq!(shlex(r#"a b="c d" e='f g' h\ i j#k"#).unwrap(), ["a", "b=c d", "e=f g", "h i", "j"]);
        assert_eq!(shlex(r#"x="" y"#).unwrap(), ["x=", "y"]);
    }
}
