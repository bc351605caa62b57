//! The command line's documentation, checked against its definition: every
//! command, argument and value of `--help` is described, and the README's
//! command synopsis names exactly the flags clap defines, so neither can
//! drift from the other. Tests only.

#![cfg(test)]

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;

use crate::args::Cli;

/// Flags every command has and the synopsis leaves out.
const IMPLICIT: [&str; 3] = ["help", "version", "verbose"];

/// Every leaf command (`["apply"]`, `["lab", "up"]`) with its long flags.
fn leaf_commands() -> BTreeMap<Vec<String>, BTreeSet<String>> {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut BTreeMap<Vec<String>, BTreeSet<String>>) {
        // Hidden commands (`generate`, for packagers) are not in the synopsis.
        let subs: Vec<_> = cmd.get_subcommands().filter(|s| s.get_name() != "help" && !s.is_hide_set()).collect();
        if subs.is_empty() {
            let flags = cmd
                .get_arguments()
                .filter_map(|a| a.get_long())
                .filter(|l| !IMPLICIT.contains(l))
                .map(str::to_owned)
                .collect();
            out.insert(path, flags);
            return;
        }
        for s in subs {
            let mut p = path.clone();
            p.push(s.get_name().to_owned());
            walk(s, p, out);
        }
    }
    let mut out = BTreeMap::new();
    walk(&Cli::command(), Vec::new(), &mut out);
    out
}

#[test]
fn every_command_argument_and_value_has_help() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        if cmd.get_about().is_none() && !path.is_empty() {
            missing.push(format!("command `{path}`"));
        }
        for a in cmd.get_arguments() {
            let name = a.get_long().map_or_else(|| a.get_id().to_string(), |l| format!("--{l}"));
            if a.get_help().is_none() && a.get_long_help().is_none() {
                missing.push(format!("`{path} {name}`"));
            }
            let values = if a.get_action().takes_values() { a.get_possible_values() } else { Vec::new() };
            for v in values {
                if v.get_help().is_none() && !v.is_hide_set() {
                    missing.push(format!("`{path} {name}` value `{}`", v.get_name()));
                }
            }
        }
        for s in cmd.get_subcommands() {
            walk(s, format!("{path} {}", s.get_name()).trim(), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&Cli::command(), "", &mut missing);
    assert!(missing.is_empty(), "no help text (add a `///` comment in cli/src/args.rs): {missing:#?}");
}

/// The synopsis in the README: the code block under `## What it does today`,
/// one entry per line that starts with `schedfleet` (indented lines continue it).
fn readme_synopsis() -> Vec<(Vec<String>, BTreeSet<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme.split_once("## What it does today").expect("README has `## What it does today`").1;
    let block = section.split_once("```\n").expect("a code block follows").1.split_once("```").unwrap().0;
    let mut entries: Vec<String> = Vec::new();
    for line in block.lines() {
        if line.starts_with("schedfleet ") {
            entries.push(line.to_owned());
        } else if line.starts_with(' ') && !entries.is_empty() {
            entries.last_mut().unwrap().push_str(line);
        } else if !line.trim().is_empty() {
            panic!("README synopsis line neither starts with `schedfleet` nor continues one: {line:?}");
        }
    }
    entries
        .iter()
        .map(|e| {
            let words: Vec<String> = e
                .split_whitespace()
                .skip(1)
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase()))
                .map(str::to_owned)
                .collect();
            let flags = e
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .filter_map(|w| w.strip_prefix("--"))
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect();
            (words, flags)
        })
        .collect()
}

#[test]
fn readme_synopsis_names_exactly_the_flags_of_clap() {
    let clap = leaf_commands();
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for (words, flags) in readme_synopsis() {
        // The longest command path the entry starts with.
        let Some(path) = clap.keys().filter(|p| words.starts_with(p)).max_by_key(|p| p.len()) else {
            problems.push(format!("README names `schedfleet {}`, which is no command", words.join(" ")));
            continue;
        };
        seen.insert(path.clone());
        let defined = &clap[path];
        for f in flags.difference(defined) {
            problems.push(format!("README: `schedfleet {}` has no flag `--{f}`", path.join(" ")));
        }
        for f in defined.difference(&flags) {
            problems.push(format!("README: `schedfleet {}` leaves out `--{f}`", path.join(" ")));
        }
    }
    for path in clap.keys().filter(|p| !seen.contains(*p)) {
        problems.push(format!("README: no synopsis line for `schedfleet {}`", path.join(" ")));
    }
    assert!(problems.is_empty(), "README.md's synopsis and clap disagree:\n{}", problems.join("\n"));
}
