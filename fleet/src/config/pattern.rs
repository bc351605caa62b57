//! Host patterns: `all`, globs (`lab-*`, `gpu-?`), and `a:b` unions. The
//! full Ansible set (groups, `&`, `!`) extends this type.

use crate::BadInput;

#[derive(Debug, Clone, PartialEq)]
pub struct HostPattern {
    text: String,
    alternatives: Vec<String>,
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<HostPattern, BadInput> {
        let alternatives: Vec<String> = text.split(':').map(str::trim).map(str::to_owned).collect();
        if alternatives.iter().any(|a| a.is_empty()) {
            return Err(BadInput::new(format!("host pattern `{text}` has an empty part")));
        }
        if let Some(bad) =
            alternatives.iter().find(|a| !a.chars().all(|c| c.is_ascii_alphanumeric() || "-_.*?[]".contains(c)))
        {
            return Err(BadInput::new(format!(
                "host pattern `{text}`: `{bad}` has characters that are not allowed in host names or globs"
            )));
        }
        Ok(HostPattern { text: text.to_owned(), alternatives })
    }

    pub fn matches(&self, host: &str) -> bool {
        self.alternatives.iter().any(|a| a == "all" || glob(a.as_bytes(), host.as_bytes()))
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `*` any run, `?` one character, everything else literal.
fn glob(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i, mut star, mut mark) = (0, 0, None, 0);
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == s[i]) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some(p);
            mark = i;
            p += 1;
        } else if let Some(sp) = star {
            p = sp + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_unions_and_all() {
        let p = HostPattern::parse("lab-*:web-?").unwrap();
        assert!(p.matches("lab-1") && p.matches("lab-") && p.matches("web-7"));
        assert!(!p.matches("web-10") && !p.matches("xlab-1"));
        assert!(HostPattern::parse("all").unwrap().matches("anything"));
        assert!(HostPattern::parse("a*b*c").unwrap().matches("aXbYc"));
        assert!(!HostPattern::parse("a*b*c").unwrap().matches("aXbY"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(HostPattern::parse("a::b").is_err());
        assert!(HostPattern::parse("").is_err());
        assert!(HostPattern::parse("a;rm -rf").is_err());
    }
}
