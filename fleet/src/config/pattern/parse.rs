//! Parsing a [`HostPattern`] from text: the character check, the split into
//! terms and each term's prefix and selector.
//!
//! Everything here is syntax and needs no inventory, so a pattern that parses
//! may still name hosts or groups that do not exist; `select.rs` finds those.
//! Glob syntax inside a term is compiled by `glob.rs`.

use super::glob::{Glob, PREFIX_ONLY, SLASH_ONLY_IN_KEYS};
use super::universe::{is_valid_name, ALL, NAME_RULE};
use crate::BadInput;

/// A parsed host pattern; see the module documentation for its meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    pub(super) text: String,
    pub(super) terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Term {
    pub(super) op: Op,
    /// The term as written, prefix included, for messages.
    pub(super) written: String,
    pub(super) selector: Selector,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Union,
    Intersect,
    Exclude,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Selector {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(pattern: &str) -> String {
        HostPattern::parse(pattern).expect_err(pattern).message
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
}
