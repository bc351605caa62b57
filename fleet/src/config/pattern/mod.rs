//! Ansible-style host patterns, evaluated against a [`Universe`] of hosts,
//! groups and labels.
//!
//! A pattern is a list of terms separated by `:` or `,`. A term is `all` (or
//! `*`), a group name, a host name, a glob (`web-*`, `gpu-?`, `rack[0-3]`,
//! `node-[!0]`) matched against host names and group names, or a label
//! selector `KEY=VALUE` whose value may be a glob (`rack=r0*`). A term may
//! start with `&` (intersection) or `!` (exclusion). As in Ansible the order
//! of the terms does not matter: the result is the union of the plain terms,
//! intersected with every `&` term, minus every `!` term, listed in inventory
//! order without duplicates. Two groups are implicit: `all` (every host) and
//! `ungrouped` (the hosts that no defined group holds); only their exact
//! names select them, never a glob, so `a*` does not mean every host.
//!
//! Schedfleet is stricter than Ansible where Ansible would silently do
//! something surprising: a term that matches no host and no group is an
//! error (Ansible only warns), an empty selection is an error, and a pattern
//! made only of `&` and `!` terms is refused rather than selecting nothing.
//! Patterns are checked character by character at parse time, because they
//! are echoed in messages, logs and remote commands and must never carry
//! shell metacharacters.
//!
//! This module does not read inventory files or check connection settings
//! (`inventory.rs` does), and does not decide what happens to the hosts it
//! selects (`desired.rs` and the rollout do). It does not support Ansible's
//! `~regex` terms, `[0:3]` subscripts or IPv6 addresses as terms.

#[cfg(test)]
mod fixtures;
mod glob;
mod parse;
mod select;
mod suggest;
mod universe;

pub use parse::HostPattern;
pub use universe::{GroupDef, Universe};
