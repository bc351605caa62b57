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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::BadInput;

/// The implicit group that holds every host.
const ALL: &str = "all";
/// The implicit group that holds the hosts no defined group holds.
const UNGROUPED: &str = "ungrouped";
/// How many close names an error message lists; more is noise.
const MAX_SUGGESTIONS: usize = 3;
/// How many label values an error message lists when none is close.
const MAX_VALUES_SHOWN: usize = 5;

/// A group as the inventory defines it, before children are resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupDef {
    pub hosts: Vec<String>,
    pub children: Vec<String>,
}

/// The hosts and groups a pattern is evaluated against.
#[derive(Debug, Clone)]
pub struct Universe {
    /// Host names in inventory order; a host's position is its index everywhere below.
    hosts: Vec<String>,
    labels: Vec<BTreeMap<String, String>>,
    host_index: HashMap<String, usize>,
    /// Every defined group with its members through children, as ascending host indices.
    groups: BTreeMap<String, Vec<usize>>,
    ungrouped: Vec<usize>,
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

    /// Names a typo could have meant: hosts, defined groups and the implicit groups.
    fn candidate_names(&self) -> impl Iterator<Item = &str> {
        self.hosts().chain(self.group_names()).chain([ALL, UNGROUPED])
    }
}

/// The rule for host and group names, as `inventory.rs` states it for hosts.
const NAME_RULE: &str = "letters, digits, `-`, `_`, `.`; starting with a letter or digit";

fn is_valid_name(name: &str) -> bool {
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

/// A parsed host pattern; see the module documentation for its meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    text: String,
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    op: Op,
    /// The term as written, prefix included, for messages.
    written: String,
    selector: Selector,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Intersect,
    Exclude,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    All,
    /// A group name, a host name or `ungrouped`; `Universe::build` keeps them apart.
    Name(String),
    Glob(Glob),
    Label {
        key: String,
        value: Glob,
    },
}

impl HostPattern {
    /// Parses and checks a pattern; whether its names exist is checked by [`HostPattern::select`].
    pub fn parse(text: &str) -> Result<HostPattern, BadInput> {
        check_characters(text)?;
        if text.trim().is_empty() {
            return Err(BadInput::new("host pattern is empty; name a group, a host or `all`"));
        }
        let terms = text.split([':', ',']).map(|raw| Term::parse(raw, text)).collect::<Result<Vec<_>, _>>()?;
        if terms.iter().all(|t| t.op != Op::Union) {
            let what = if terms.iter().all(|t| t.op == Op::Exclude) { "exclude from" } else { "intersect with" };
            return Err(BadInput::new(format!(
                "host pattern `{text}` selects nothing to {what}; start with a group or `all`, as in `all:{}`",
                text.trim()
            )));
        }
        Ok(HostPattern { text: text.to_owned(), terms })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

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

impl Term {
    fn parse(raw: &str, pattern: &str) -> Result<Term, BadInput> {
        let bad = |detail: String| BadInput::new(format!("host pattern `{pattern}`: {detail}"));
        let written = raw.trim();
        if written.is_empty() {
            return Err(bad("empty term; remove the extra `:` or `,`".to_owned()));
        }
        let (op, rest) = match written.as_bytes()[0] {
            b'&' => (Op::Intersect, &written[1..]),
            b'!' => (Op::Exclude, &written[1..]),
            _ => (Op::Union, written),
        };
        // `! web` reads naturally, so a space after the prefix is allowed too.
        let operand = rest.trim_start();
        if operand.is_empty() {
            return Err(bad(format!("`{written}` has nothing after it; follow it with a group, a host or a glob")));
        }
        if operand.starts_with(['&', '!']) {
            return Err(bad(format!("`{written}` combines `&` and `!`; use one of them per term")));
        }
        if operand.contains(' ') {
            return Err(bad(format!("`{written}` has a space inside; separate terms with `:` or `,`")));
        }
        let selector = Selector::parse(operand).map_err(|why| bad(format!("`{written}` {why}")))?;
        Ok(Term { op, written: written.to_owned(), selector })
    }
}

impl Selector {
    /// The reason is worded to follow the term: "`web[1` has an unclosed `[` ...".
    fn parse(operand: &str) -> Result<Selector, String> {
        if operand == ALL || operand == "*" {
            return Ok(Selector::All);
        }
        if let Some((key, value)) = operand.split_once('=') {
            if key.is_empty() {
                return Err("has no label key; write `KEY=VALUE`, as in `rack=r01`".to_owned());
            }
            if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b)) {
                return Err(format!(
                    "has the label key `{key}`, but keys hold only letters, digits, `-`, `_`, `.` and `/`; \
                     put globs in the value, as in `rack=r0*`"
                ));
            }
            if value.is_empty() {
                return Err(format!("has no label value; write `{key}=VALUE`, or `{key}=*` for any value"));
            }
            if value.contains('=') {
                return Err("has more than one `=`; write one `KEY=VALUE` per term".to_owned());
            }
            return Ok(Selector::Label { key: key.to_owned(), value: Glob::compile(value, true)? });
        }
        if operand.contains(['*', '?', '[', ']']) {
            return Ok(Selector::Glob(Glob::compile(operand, false)?));
        }
        if operand.contains('/') {
            return Err(SLASH_ONLY_IN_KEYS.to_owned());
        }
        if operand.contains(['&', '!']) {
            return Err(PREFIX_ONLY.to_owned());
        }
        if !is_valid_name(operand) {
            return Err(format!("is not a host or group name ({NAME_RULE}); fix the name"));
        }
        Ok(Selector::Name(operand.to_owned()))
    }
}

const SLASH_ONLY_IN_KEYS: &str =
    "has a `/`, which belongs only in label keys, as in `topology.kubernetes.io/zone=a`; remove it";
const PREFIX_ONLY: &str = "has `&` or `!` inside; they may only start a term, as in `web:&prod:!web-3`";

/// A compiled fnmatch-style glob: `*`, `?`, `[abc]`, `[a-z]` and `[!a-z]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(u8),
    AnyOne,
    AnyRun,
    Class { negated: bool, ranges: Vec<(u8, u8)> },
}

impl Token {
    fn accepts(&self, c: u8, ignore_case: bool) -> bool {
        match self {
            Token::Literal(l) => *l == c || (ignore_case && l.eq_ignore_ascii_case(&c)),
            Token::AnyOne => true,
            Token::AnyRun => false,
            Token::Class { negated, ranges } => {
                let within = |c: u8| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c));
                let hit =
                    within(c) || (ignore_case && (within(c.to_ascii_lowercase()) || within(c.to_ascii_uppercase())));
                hit != *negated
            }
        }
    }
}

impl Glob {
    /// `in_value`: label values may hold `/`, host and group names may not.
    fn compile(source: &str, in_value: bool) -> Result<Glob, String> {
        let member = |b: u8| b.is_ascii_alphanumeric() || b"-_.".contains(&b) || (in_value && b == b'/');
        let bytes = source.as_bytes();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                // Consecutive stars mean the same as one and would only slow matching down.
                b'*' if tokens.last() == Some(&Token::AnyRun) => {}
                b'*' => tokens.push(Token::AnyRun),
                b'?' => tokens.push(Token::AnyOne),
                b']' => return Err("has a `]` without its `[`; remove it or open the class, as in `web-[12]`".into()),
                b'&' | b'!' => return Err(PREFIX_ONLY.to_owned()),
                b'/' if !in_value => return Err(SLASH_ONLY_IN_KEYS.to_owned()),
                b'[' => {
                    let mut j = i + 1;
                    let negated = bytes.get(j) == Some(&b'!');
                    if negated {
                        j += 1;
                    }
                    let mut ranges = Vec::new();
                    loop {
                        let Some(&c) = bytes.get(j) else {
                            return Err("has an unclosed `[`; close the class, as in `web-[0-3]` \
                                        (Ansible's `[0:3]` subscripts are not supported)"
                                .to_owned());
                        };
                        if c == b']' {
                            break;
                        }
                        if !member(c) {
                            return Err(format!(
                                "has `{}` in a `[...]` class, which may hold only letters, digits, `-`, `_` and `.`; \
                                 fix the class",
                                c as char
                            ));
                        }
                        // `-` between two members is a range; first or last it is itself, as in fnmatch.
                        match (bytes.get(j + 1), bytes.get(j + 2)) {
                            (Some(b'-'), Some(&hi)) if hi != b']' => {
                                if !member(hi) || hi < c {
                                    return Err(format!(
                                        "has the range `{}-{}`, which is not a range of letters or digits; \
                                         write it low to high, as in `[0-9]`",
                                        c as char, hi as char
                                    ));
                                }
                                ranges.push((c, hi));
                                j += 3;
                            }
                            _ => {
                                ranges.push((c, c));
                                j += 1;
                            }
                        }
                    }
                    if ranges.is_empty() {
                        return Err("has an empty `[]` class; list characters in it, as in `[abc]`".to_owned());
                    }
                    tokens.push(Token::Class { negated, ranges });
                    i = j;
                }
                c => tokens.push(Token::Literal(c)),
            }
            i += 1;
        }
        Ok(Glob { source: source.to_owned(), tokens })
    }

    /// The classic two-pointer matcher: on a mismatch it retries from the
    /// last star only, one character further on. Since every other token
    /// consumes exactly one character this is correct, and it takes at most
    /// O(pattern × text) steps, never the exponential time of naive backtracking.
    fn matches(&self, text: &str, ignore_case: bool) -> bool {
        let (tokens, text) = (&self.tokens, text.as_bytes());
        let (mut t, mut i) = (0, 0);
        let mut retry: Option<(usize, usize)> = None;
        while i < text.len() {
            match tokens.get(t) {
                Some(Token::AnyRun) => {
                    retry = Some((t + 1, i));
                    t += 1;
                    continue;
                }
                Some(token) if token.accepts(text[i], ignore_case) => {
                    t += 1;
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let Some((after_star, from)) = retry else { return false };
            retry = Some((after_star, from + 1));
            t = after_star;
            i = from + 1;
        }
        tokens[t..].iter().all(|token| *token == Token::AnyRun)
    }

    /// The literal characters before the first wildcard, for suggestions.
    fn literal_prefix(&self) -> String {
        self.tokens
            .iter()
            .map_while(|token| match token {
                Token::Literal(c) => Some(*c as char),
                _ => None,
            })
            .collect()
    }
}

/// Refuses anything a pattern cannot need, before any other check, so that
/// later messages may quote the pattern safely.
fn check_characters(text: &str) -> Result<(), BadInput> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.*?[]=/&!:, ".contains(c);
    for (column, c) in text.chars().enumerate() {
        if allowed(c) || c == '~' {
            continue;
        }
        // The pattern itself is not quoted: it holds a character that must not reach a message.
        let shown = match c {
            '`' => "a backtick".to_owned(),
            c if c.is_ascii_graphic() => format!("`{c}`"),
            c => format!("`{}`", c.escape_default()),
        };
        return Err(BadInput::new(format!(
            "host pattern has {shown} at column {}, which is not allowed; use letters, digits, `-`, `_`, `.`, \
             globs (`*`, `?`, `[a-z]`), labels (`KEY=VALUE`) and the separators `:`, `,`, `&`, `!`",
            column + 1
        )));
    }
    if text.contains('~') {
        return Err(BadInput::new(format!(
            "host pattern `{text}` uses `~`, Ansible's regular expression syntax, which schedfleet does not support; \
             use globs instead, as in `web-*` or `web-[0-9]`"
        )));
    }
    Ok(())
}

/// Up to [`MAX_SUGGESTIONS`] candidates a mistyped name or glob may have
/// meant. For a glob, the names it matches when case is ignored, if any;
/// otherwise, for names and globs alike, the names within a few typos of the
/// name or of the glob's literal prefix, closest first.
fn close_names<'a>(wanted: &str, glob: Option<&Glob>, candidates: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let candidates: Vec<&str> = candidates.collect();
    if let Some(glob) = glob {
        let mut matched: Vec<&str> = candidates.iter().copied().filter(|c| glob.matches(c, true)).collect();
        if !matched.is_empty() {
            matched.sort_unstable();
            matched.truncate(MAX_SUGGESTIONS);
            return matched;
        }
    }
    let reference = glob.map_or_else(|| wanted.to_owned(), Glob::literal_prefix).to_ascii_lowercase();
    if reference.is_empty() {
        return Vec::new();
    }
    // One typo per three characters: a two-letter name like `db` only
    // suggests itself in another case, not every other two-letter name.
    let limit = (reference.len() / 3).min(3);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|candidate| {
            let lowered = candidate.to_ascii_lowercase();
            let compared = if glob.is_some() { &lowered[..lowered.len().min(reference.len())] } else { &lowered };
            let distance = edit_distance(reference.as_bytes(), compared.as_bytes());
            (distance <= limit).then_some((distance, candidate))
        })
        .collect();
    scored.sort_unstable();
    scored.into_iter().take(MAX_SUGGESTIONS).map(|(_, c)| c).collect()
}

fn close_hint(what: &str, close: &[&str]) -> String {
    if close.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = close.iter().map(|c| format!("`{c}`")).collect();
    format!(" ({what}: {})", quoted.join(", "))
}

/// Optimal string alignment distance: Levenshtein plus adjacent
/// transpositions, the commonest typo (`wbe` for `web`).
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            current[j] = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                current[j] = current[j].min(before[j - 2] + 1);
            }
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn group(hosts: &[&str], children: &[&str]) -> GroupDef {
        GroupDef {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            children: children.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn build(hosts: &[&str], groups: &[(&str, GroupDef)]) -> Result<Universe, BadInput> {
        let hosts = hosts.iter().map(|h| (h.to_string(), BTreeMap::new())).collect();
        let groups = groups.iter().map(|(n, g)| (n.to_string(), g.clone())).collect();
        Universe::build(hosts, &groups)
    }

    /// Inventory order deliberately differs from name order.
    fn fleet() -> Universe {
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

    fn select(pattern: &str) -> Vec<String> {
        HostPattern::parse(pattern).unwrap().select(&fleet()).unwrap_or_else(|e| panic!("{pattern}: {e}"))
    }

    fn parse_error(pattern: &str) -> String {
        HostPattern::parse(pattern).expect_err(pattern).message
    }

    fn select_error(pattern: &str) -> String {
        HostPattern::parse(pattern).unwrap().select(&fleet()).expect_err(pattern).message
    }

    fn build_error(hosts: &[&str], groups: &[(&str, GroupDef)]) -> String {
        build(hosts, groups).expect_err("build should fail").message
    }

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
    fn glob_matcher_edge_cases() {
        let glob = |p: &str| Glob::compile(p, false).unwrap();
        assert!(glob("a*b*c").matches("aXbYc", false));
        assert!(!glob("a*b*c").matches("aXbY", false));
        assert!(glob("a*").matches("a", false));
        assert!(glob("*").matches("", false));
        assert!(!glob("?").matches("", false));
        assert!(glob("*a").matches("aaa", false));
        assert!(glob("a**b").matches("ab", false));
        assert!(glob("[a-]x").matches("-x", false));
        assert!(glob("[-a]x").matches("-x", false));
        assert!(!glob("[!a-c]").matches("b", false));
        assert!(glob("WEB-[A-C]").matches("web-b", true));
        assert!(!glob("WEB-[A-C]").matches("web-b", false));
        assert!(glob("web-[!A]").matches("web-b", true));
        assert_eq!(glob("a***b").tokens.len(), 3);
        assert_eq!(glob("web-[12]*").literal_prefix(), "web-");
    }

    #[test]
    fn glob_matching_does_not_backtrack_exponentially() {
        let text = "a".repeat(5_000);
        let glob = Glob::compile("*a*a*a*a*a*a*a*a*a*a*b", false).unwrap();
        let started = std::time::Instant::now();
        assert!(!glob.matches(&text, false));
        assert!(Glob::compile("*a*a*a*a*a*a*a*a*a*a", false).unwrap().matches(&text, false));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn empty_patterns_and_terms_are_refused() {
        assert!(parse_error("").contains("empty; name a group"));
        assert!(parse_error("   ").contains("empty"));
        for pattern in ["a::b", "a:", ":a", "a,,b", "a: :b", "a,:b"] {
            let message = parse_error(pattern);
            assert!(message.contains("empty term") && message.contains("remove the extra"), "{pattern}: {message}");
            assert!(message.contains(&format!("`{pattern}`")), "{message}");
        }
        assert!(parse_error("web:!").contains("`!` has nothing after it; follow it with a group"));
        assert!(parse_error("web:&").contains("`&` has nothing after it"));
    }

    #[test]
    fn foreign_characters_are_refused_without_echoing_them() {
        for (pattern, shown, column) in [
            ("a;rm -rf", "`;`", 2),
            ("web$(id)", "`$`", 4),
            ("web|x", "`|`", 4),
            ("w`id`", "a backtick", 2),
            ("web\t1", "`\\t`", 4),
            ("web\n", "`\\n`", 4),
            ("wéb", "`\\u{e9}`", 2),
            ("web>1", "`>`", 4),
        ] {
            let message = parse_error(pattern);
            assert!(message.contains(&format!("has {shown} at column {column}")), "{pattern}: {message}");
            assert!(message.contains("use letters, digits"), "{message}");
            assert!(!message.contains(pattern), "{message}");
        }
    }

    #[test]
    fn regex_patterns_are_refused() {
        let message = parse_error("~web.*");
        assert!(message.contains("`~`") && message.contains("regular expression"), "{message}");
        assert!(message.contains("use globs instead"), "{message}");
        assert!(parse_error("web:!~db").contains("regular expression"));
    }

    #[test]
    fn patterns_of_only_intersections_or_exclusions_are_refused() {
        let message = parse_error("!x");
        assert!(message.contains("`!x` selects nothing to exclude from; start with a group or `all`"), "{message}");
        assert!(message.contains("`all:!x`"), "{message}");
        assert!(parse_error("&x").contains("selects nothing to intersect with"));
        assert!(parse_error("&x:!y").contains("as in `all:&x:!y`"));
    }

    #[test]
    fn malformed_terms_are_refused() {
        let cases = [
            ("web:&!x", "`&!x` combines `&` and `!`"),
            ("web 1", "`web 1` has a space inside; separate terms with `:` or `,`"),
            ("web[1", "`web[1` has an unclosed `[`"),
            ("web[0:3]", "unclosed `[`"),
            ("web]1", "`web]1` has a `]` without its `[`"),
            ("web[]", "empty `[]` class"),
            ("web[!]", "empty `[]` class"),
            ("web[3-1]", "the range `3-1`"),
            ("web[a*]", "has `*` in a `[...]` class"),
            ("web[a!]", "has `!` in a `[...]` class"),
            ("a/b", "`a/b` has a `/`, which belongs only in label keys"),
            ("a/*", "belongs only in label keys"),
            ("web&prod", "`web&prod` has `&` or `!` inside; they may only start a term"),
            ("web!3", "may only start a term"),
            ("web*!", "may only start a term"),
            ("-web", "`-web` is not a host or group name"),
            (".hidden", "is not a host or group name"),
            ("=r01", "`=r01` has no label key"),
            ("ra*=r01", "label key `ra*`"),
            ("ra[c]k=r01", "label key `ra[c]k`"),
            ("rack=", "has no label value; write `rack=VALUE`, or `rack=*` for any value"),
            ("rack=r=1", "more than one `=`"),
            ("rack=r[0", "unclosed `[`"),
        ];
        for (pattern, expected) in cases {
            let message = parse_error(pattern);
            assert!(message.contains(expected), "{pattern}: {message}");
            assert!(message.starts_with(&format!("host pattern `{pattern}`: ")), "{message}");
        }
    }

    #[test]
    fn unknown_terms_are_named_with_close_names() {
        let message = select_error("web:!wbe-3");
        assert_eq!(
            message,
            "host pattern `web:!wbe-3`: `!wbe-3` matches no host and no group (close names: `web-3`); \
             fix or remove the term"
        );
        let message = select_error("web:&prdo");
        assert!(message.contains("`&prdo` matches no host and no group (close names: `prod`)"), "{message}");
        let message = select_error("databse");
        assert!(message.contains("`databse` matches no host and no group; fix or remove"), "{message}");
        let message = select_error("ungroped");
        assert!(message.contains("(close names: `ungrouped`)"), "{message}");
        let message = select_error("WEB-1");
        assert!(message.contains("(close names: `web-1`, `web-2`, `web-3`)"), "{message}");
        // Two-letter names allow no typo, so `bd` suggests nothing rather than every short name.
        let message = select_error("bd");
        assert!(message.contains("`bd` matches no host and no group; fix"), "{message}");
        let message = select_error("zzzzzz");
        assert!(message.contains("`zzzzzz` matches no host and no group; fix or remove the term"), "{message}");
    }

    #[test]
    fn globs_that_match_nothing_are_named_with_close_names() {
        let message = select_error("wbe-*");
        assert!(message.contains("`wbe-*` matches no host and no group (close names: "), "{message}");
        assert!(message.contains("`web-1`") && !message.contains("`db-1`"), "{message}");
        let message = select_error("all:!WEB-[12]");
        assert!(message.contains("`!WEB-[12]` matches no host and no group (close names: `web-1`, `web-2`)"));
        let message = select_error("dbz*");
        assert!(message.contains("(close names: `db-1`, `dbs`)"), "{message}");
        let message = select_error("*-9");
        assert!(message.contains("`*-9` matches no host and no group; fix or remove the term"), "{message}");
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
