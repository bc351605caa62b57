//! The fnmatch-style glob matcher used for host and group names and for
//! label values: `*`, `?`, `[abc]`, `[a-z]` and `[!a-z]`.
//!
//! Compiling refuses anything a pattern term may not hold, with a reason
//! worded to follow the term in a message. Matching runs in
//! O(pattern × text) time, so a hostile pattern cannot stall a run. This
//! file does not know which names a glob is matched against.

// Reasons shared with `parse.rs`, which refuses the same characters in terms that hold no glob.
pub(super) const SLASH_ONLY_IN_KEYS: &str =
    "has a `/`, which belongs only in label keys, as in `topology.kubernetes.io/zone=a`; remove it";
pub(super) const PREFIX_ONLY: &str = "has `&` or `!` inside; they may only start a term, as in `web:&prod:!web-3`";

/// A compiled fnmatch-style glob: `*`, `?`, `[abc]`, `[a-z]` and `[!a-z]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Glob {
    pub(super) source: String,
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
    pub(super) fn compile(source: &str, in_value: bool) -> Result<Glob, String> {
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
    pub(super) fn matches(&self, text: &str, ignore_case: bool) -> bool {
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
    pub(super) fn literal_prefix(&self) -> String {
        self.tokens
            .iter()
            .map_while(|token| match token {
                Token::Literal(c) => Some(*c as char),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
