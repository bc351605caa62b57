//! Evaluating a parsed [`HostPattern`] against a [`Universe`]: which hosts
//! each term picks, how the terms combine, and the errors for a term that
//! names nothing or a selection that ends up empty.
//!
//! The close names those errors offer come from `suggest.rs`; the syntax of
//! a pattern was checked by `parse.rs` before anything here runs.

use std::collections::BTreeSet;

use super::parse::{HostPattern, Op, Selector, Term};
use super::suggest::{close_hint, close_names};
use super::universe::{Universe, UNGROUPED};
use crate::BadInput;

/// How many label values an error message lists when none is close.
const MAX_VALUES_SHOWN: usize = 5;

impl Universe {
    /// The hosts one selector picks, as a mask over inventory indices, and
    /// whether it named anything at all: a term naming an empty group is
    /// valid, a term naming nothing is a typo.
    fn evaluate(&self, selector: &Selector) -> (Vec<bool>, bool) {
        let mut mask = vec![false; self.hosts.len()];
        let mut found = false;
        let take = |members: &[usize], mask: &mut [bool]| members.iter().for_each(|&i| mask[i] = true);
        match selector {
            Selector::All => {
                mask.fill(true);
                found = !self.hosts.is_empty();
            }
            Selector::Name(name) => {
                if let Some(members) = self.groups.get(name) {
                    take(members, &mut mask);
                    found = true;
                } else if name == UNGROUPED {
                    take(&self.ungrouped, &mut mask);
                    found = true;
                } else if let Some(&i) = self.host_index.get(name) {
                    mask[i] = true;
                    found = true;
                }
            }
            Selector::Glob(glob) => {
                for (i, host) in self.hosts.iter().enumerate() {
                    if glob.matches(host, false) {
                        mask[i] = true;
                        found = true;
                    }
                }
                for (group, members) in &self.groups {
                    if glob.matches(group, false) {
                        take(members, &mut mask);
                        found = true;
                    }
                }
            }
            Selector::Label { key, value } => {
                for (i, labels) in self.labels.iter().enumerate() {
                    if labels.get(key).is_some_and(|v| value.matches(v, false)) {
                        mask[i] = true;
                        found = true;
                    }
                }
            }
        }
        (mask, found)
    }
}

impl HostPattern {
    /// The selected host names in inventory order, without duplicates.
    ///
    /// Errors when a term matches no host and no group (naming the term and
    /// a few close names), and when the whole selection is empty (naming the
    /// `&` or `!` term that removed the last host).
    pub fn select(&self, universe: &Universe) -> Result<Vec<String>, BadInput> {
        if universe.hosts.is_empty() {
            return Err(BadInput::new(format!(
                "host pattern `{}` selects no host: the inventory has no hosts; add hosts to the inventory",
                self.text
            )));
        }
        let mut masks = Vec::with_capacity(self.terms.len());
        for term in &self.terms {
            let (mask, found) = universe.evaluate(&term.selector);
            if !found {
                return Err(self.no_match(term, universe));
            }
            masks.push(mask);
        }

        let mut selected = vec![false; universe.hosts.len()];
        for (_, mask) in self.terms.iter().zip(&masks).filter(|(t, _)| t.op == Op::Union) {
            selected.iter_mut().zip(mask).for_each(|(s, &m)| *s |= m);
        }
        let covered = selected.iter().filter(|&&s| s).count();
        let positives: Vec<&str> =
            self.terms.iter().filter(|t| t.op == Op::Union).map(|t| t.written.as_str()).collect();
        if covered == 0 {
            return Err(BadInput::new(format!(
                "host pattern `{}` selects no host: `{}` names only groups without hosts; \
                 add hosts to those groups or widen the pattern",
                self.text,
                positives.join(":")
            )));
        }
        // Intersections before exclusions, each in text order: the result is
        // the same in any order, and this order names the term that emptied it.
        for op in [Op::Intersect, Op::Exclude] {
            for (term, mask) in self.terms.iter().zip(&masks).filter(|(t, _)| t.op == op) {
                let keep = op == Op::Intersect;
                selected.iter_mut().zip(mask).for_each(|(s, &m)| *s &= m == keep);
                if !selected.contains(&true) {
                    return Err(BadInput::new(format!(
                        "host pattern `{}` selects no host: `{}` covers {covered} host{}, \
                         and `{}` leaves none of them; drop or loosen `{}`",
                        self.text,
                        positives.join(":"),
                        if covered == 1 { "" } else { "s" },
                        term.written,
                        term.written
                    )));
                }
            }
        }
        Ok(selected.iter().zip(&universe.hosts).filter(|(s, _)| **s).map(|(_, h)| h.clone()).collect())
    }

    fn no_match(&self, term: &Term, universe: &Universe) -> BadInput {
        let head = format!("host pattern `{}`: `{}` matches", self.text, term.written);
        let fix = "fix or remove the term";
        match &term.selector {
            // `all` and `*` match nothing only in an empty inventory, which `select` reports first.
            Selector::All => BadInput::new(format!("{head} no host; {fix}")),
            Selector::Name(name) => {
                let close = close_names(name, None, universe.candidate_names());
                BadInput::new(format!("{head} no host and no group{}; {fix}", close_hint("close names", &close)))
            }
            Selector::Glob(glob) => {
                let close = close_names(&glob.source, Some(glob), universe.candidate_names());
                BadInput::new(format!("{head} no host and no group{}; {fix}", close_hint("close names", &close)))
            }
            Selector::Label { key, value } => {
                let values: BTreeSet<&str> =
                    universe.labels.iter().filter_map(|l| l.get(key)).map(String::as_str).collect();
                if values.is_empty() {
                    let keys: BTreeSet<&str> =
                        universe.labels.iter().flat_map(|l| l.keys()).map(String::as_str).collect();
                    let close = close_names(key, None, keys.into_iter());
                    return BadInput::new(format!(
                        "{head} no host: no host has the label `{key}`{}; {fix}",
                        close_hint("close label keys", &close)
                    ));
                }
                let close = close_names(&value.source, Some(value), values.iter().copied());
                let hint = if close.is_empty() {
                    let shown: Vec<String> = values.iter().take(MAX_VALUES_SHOWN).map(|v| format!("`{v}`")).collect();
                    let more = if values.len() > MAX_VALUES_SHOWN { ", ..." } else { "" };
                    format!(" (values in use: {}{more})", shown.join(", "))
                } else {
                    close_hint("close values", &close)
                };
                BadInput::new(format!("{head} no host: no host has `{key}` matching `{}`{hint}; {fix}", value.source))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{build, select, select_error};
    use super::*;

    #[test]
    fn unions_keep_inventory_order_and_drop_duplicates() {
        assert_eq!(select("dbs:web-2:web"), ["web-3", "web-1", "web-2", "db-1"]);
        assert_eq!(select("web-1:web-1:web"), ["web-3", "web-1", "web-2"]);
        assert_eq!(select(" dbs , web-1 : gpu-7 "), ["web-1", "db-1", "gpu-7"]);
        assert_eq!(HostPattern::parse(" dbs , web-1 ").unwrap().as_str(), " dbs , web-1 ");
    }

    #[test]
    fn all_and_star_select_every_host() {
        let every = ["web-3", "web-1", "web-2", "db-1", "gpu-7", "lab-x"];
        assert_eq!(select("all"), every);
        assert_eq!(select("*"), every);
        assert_eq!(select("all:web"), every);
    }

    #[test]
    fn intersections_and_exclusions_in_any_order() {
        assert_eq!(select("web:&prod"), ["web-1", "web-2"]);
        let expected = ["web-1"];
        for pattern in ["web:&prod:!web-2", "!web-2:web:&prod", "&prod:!web-2:web", "web,&prod,!web-2"] {
            assert_eq!(select(pattern), expected, "{pattern}");
        }
        assert_eq!(select("!web-3:web"), ["web-1", "web-2"]);
        assert_eq!(select("all:!web:!dbs"), ["gpu-7", "lab-x"]);
        assert_eq!(select("all:&web:&prod"), ["web-1", "web-2"]);
        assert_eq!(select("web:! web-3"), ["web-1", "web-2"]);
        // An exclusion wins over a union that names the same host again.
        assert_eq!(select("web:web-3:!web-3"), ["web-1", "web-2"]);
    }

    #[test]
    fn ungrouped_is_implicit() {
        assert_eq!(select("ungrouped"), ["lab-x"]);
        assert_eq!(select("all:!ungrouped:!web"), ["db-1", "gpu-7"]);
    }

    #[test]
    fn globs_match_host_names() {
        assert_eq!(select("web-*"), ["web-3", "web-1", "web-2"]);
        assert_eq!(select("web-?"), ["web-3", "web-1", "web-2"]);
        assert_eq!(select("*-1"), ["web-1", "db-1"]);
        assert_eq!(select("web-[12]"), ["web-1", "web-2"]);
        assert_eq!(select("web-[2-3]"), ["web-3", "web-2"]);
        assert_eq!(select("web-[!1]"), ["web-3", "web-2"]);
        // `[a-f]*` matches the host `db-1` and the groups `backend`, `canary`, `dbs` and `empty`.
        assert_eq!(select("[a-f]*"), ["web-2", "db-1"]);
        assert_eq!(select("web-*:!web-[3]"), ["web-1", "web-2"]);
        assert_eq!(select("all:&*-[13]"), ["web-3", "web-1", "db-1"]);
    }

    #[test]
    fn globs_match_group_names_and_take_their_hosts() {
        // No host name ends in `-a`; the group `gpu-a` does and brings its host.
        assert_eq!(select("*-a"), ["gpu-7"]);
        // `d?s` matches only the group `dbs`, `pro*` only `prod`, whose children come along.
        assert_eq!(select("d?s"), ["db-1"]);
        assert_eq!(select("pro*"), ["web-1", "web-2", "db-1"]);
        assert_eq!(select("[ac]*"), ["web-2"]);
        assert_eq!(select("web:&*ary"), ["web-2"]);
        // An implicit group is never matched by a glob: `a*` is not `all`.
        let message = select_error("a*");
        assert!(message.contains("`a*` matches no host and no group"), "{message}");
        let message = select_error("ungr*");
        assert!(message.contains("`ungr*` matches no host and no group"), "{message}");
    }

    #[test]
    fn label_selectors_match_values_and_globs() {
        assert_eq!(select("rack=r01"), ["web-1", "web-2"]);
        assert_eq!(select("rack=r0*"), ["web-3", "web-1", "web-2", "gpu-7"]);
        assert_eq!(select("rack=r0[13]"), ["web-1", "web-2", "gpu-7"]);
        assert_eq!(select("rack=*"), ["web-3", "web-1", "web-2", "db-1", "gpu-7"]);
        assert_eq!(select("web:&zone=b"), ["web-3", "web-2"]);
        assert_eq!(select("all:!rack=r0?"), ["db-1", "lab-x"]);
        assert_eq!(select("topology.kubernetes.io/zone=eu-west/*"), ["db-1"]);
    }

    #[test]
    fn label_selectors_that_match_nothing_are_named() {
        let message = select_error("rakc=r01");
        assert_eq!(
            message,
            "host pattern `rakc=r01`: `rakc=r01` matches no host: no host has the label `rakc` \
             (close label keys: `rack`); fix or remove the term"
        );
        let message = select_error("web:&rack=r9*");
        assert!(message.contains("`&rack=r9*` matches no host: no host has `rack` matching `r9*`"), "{message}");
        assert!(message.contains("(values in use: `r01`, `r02`, `r03`, `r11`)"), "{message}");
        let message = select_error("rack=R0[4]");
        assert!(message.contains("(close values: `r01`, `r02`, `r03`)"), "{message}");
    }

    #[test]
    fn empty_selections_name_the_term_that_emptied_them() {
        assert_eq!(
            select_error("web:&dbs"),
            "host pattern `web:&dbs` selects no host: `web` covers 3 hosts, and `&dbs` leaves none of them; \
             drop or loosen `&dbs`"
        );
        let message = select_error("!web-1:web-1");
        assert!(message.contains("`web-1` covers 1 host, and `!web-1` leaves none"), "{message}");
        let message = select_error("web:dbs:!all");
        assert!(message.contains("`web:dbs` covers 4 hosts, and `!all` leaves none"), "{message}");
        let message = select_error("web:&empty");
        assert!(message.contains("`&empty` leaves none"), "{message}");
        let message = select_error("empty");
        assert!(message.contains("`empty` names only groups without hosts; add hosts to those groups"), "{message}");
        let universe = build(&[], &[]).unwrap();
        let message = HostPattern::parse("all").unwrap().select(&universe).unwrap_err().message;
        assert!(message.contains("the inventory has no hosts; add hosts to the inventory"), "{message}");
    }
}
