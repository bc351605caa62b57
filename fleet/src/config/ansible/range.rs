//! Ansible's host patterns in inventory files: an optional `:PORT` suffix
//! and `[BEGIN:END(:STEP)]` ranges (`gpu[01:40].example`, `db-[a:c]`),
//! expanded exactly as `ansible.plugins.inventory.expand_hostname_range`
//! does: zero-padded numbers keep their width, letters run through
//! `a..zA..Z`, several ranges in one name multiply.
//!
//! IPv6 addresses as host names (`[::1]:22`) are not supported: schedfleet
//! host names hold only letters, digits, `-`, `_` and `.`.

/// Letters as Python's `string.ascii_letters` orders them.
const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Upper bound on the names one pattern may expand to: a typo such as
/// `[1:1000000]` should be an error, not a frozen controller.
const MAX_EXPANSION: usize = 100_000;

/// Splits `name:PORT` (the port is digits after the last `:` outside any
/// `[...]`) and expands the ranges of the name.
pub fn expand(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let (name, port) = split_port(pattern)?;
    if name.ends_with(':') {
        return Err(format!(
            "host pattern `{pattern}` ends in `:`, which is reserved for a port; remove it or add the port"
        ));
    }
    let mut out = Vec::new();
    expand_into(name, &mut out)?;
    Ok((out, port))
}

fn split_port(pattern: &str) -> Result<(&str, Option<u16>), String> {
    let mut depth = 0i32;
    let mut last_colon = None;
    for (i, c) in pattern.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                if last_colon.is_some() {
                    // Two colons outside brackets: an IPv6 address, not `host:port`.
                    return Ok((pattern, None));
                }
                last_colon = Some(i);
            }
            _ => {}
        }
    }
    match last_colon {
        Some(i) if !pattern[i + 1..].is_empty() && pattern[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            let port = pattern[i + 1..]
                .parse::<u16>()
                .map_err(|_| format!("host pattern `{pattern}`: port `{}` is over 65535", &pattern[i + 1..]))?;
            Ok((&pattern[..i], Some(port)))
        }
        _ => Ok((pattern, None)),
    }
}

/// Expands the first `[...]` of `line` and recurses on each result, as Ansible does.
fn expand_into(line: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = line.find('[') else {
        out.push(line.to_owned());
        return Ok(());
    };
    let close =
        line[open..].find(']').map(|i| open + i).ok_or_else(|| format!("host range in `{line}` has no closing `]`"))?;
    let (head, range, tail) = (&line[..open], &line[open + 1..close], &line[close + 1..]);
    let bounds: Vec<&str> = range.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(format!("host range `[{range}]` in `{line}` must be begin:end or begin:end:step"));
    }
    let begin = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(format!("host range `[{range}]` in `{line}` must give an end value"));
    }
    let step: usize = match bounds.get(2) {
        None => 1,
        Some(s) => s
            .parse()
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| format!("host range `[{range}]` in `{line}`: step `{s}` is not a positive integer"))?,
    };
    let width = if begin.len() > 1 && begin.starts_with('0') {
        if begin.len() != end.len() {
            return Err(format!(
                "host range `[{range}]` in `{line}` must give begin and end of equal length when zero-padded"
            ));
        }
        begin.len()
    } else {
        0
    };
    let items: Vec<String> = match (letter_index(begin), letter_index(end)) {
        (Some(b), Some(e)) => {
            if b > e {
                return Err(format!("host range `[{range}]` in `{line}` must have begin <= end"));
            }
            LETTERS[b..=e].chars().step_by(step).map(|c| c.to_string()).collect()
        }
        _ => {
            let parse = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| format!("host range `[{range}]` in `{line}`: `{s}` is neither a number nor a letter"))
            };
            let (b, e) = (parse(begin)?, parse(end)?);
            let count = if e >= b { (e - b) / step as u64 + 1 } else { 0 };
            if count > MAX_EXPANSION as u64 {
                return Err(format!("host range `[{range}]` in `{line}` makes {count} names; at most {MAX_EXPANSION}"));
            }
            (b..=e).step_by(step).map(|n| format!("{n:0width$}")).collect()
        }
    };
    for item in items {
        expand_into(&format!("{head}{item}{tail}"), out)?;
        if out.len() > MAX_EXPANSION {
            return Err(format!("host pattern `{line}` makes more than {MAX_EXPANSION} names"));
        }
    }
    Ok(())
}

fn letter_index(s: &str) -> Option<usize> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => LETTERS.find(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn names(p: &str) -> Vec<String> {
        expand(p).unwrap().0
    }

    #[test]
    fn numeric_alpha_step_and_multiple_ranges() {
        assert_eq!(names("gpu[01:03].example"), ["gpu01.example", "gpu02.example", "gpu03.example"]);
        assert_eq!(names("db-[a:c]"), ["db-a", "db-b", "db-c"]);
        assert_eq!(names("n[0:6:3]"), ["n0", "n3", "n6"]);
        assert_eq!(names("n[:2]"), ["n0", "n1", "n2"]);
        assert_eq!(names("r[1:2]-s[a:b]"), ["r1-sa", "r1-sb", "r2-sa", "r2-sb"]);
        assert_eq!(names("x[y:B]"), ["xy", "xz", "xA", "xB"]);
        assert_eq!(names("plain"), ["plain"]);
        assert_eq!(names("n[3:1]"), Vec::<String>::new());
    }

    #[test]
    fn ports() {
        assert_eq!(expand("web1:2222").unwrap(), (vec!["web1".to_owned()], Some(2222)));
        assert_eq!(expand("web[1:2]:22").unwrap().1, Some(22));
        assert_eq!(expand("web").unwrap().1, None);
        assert!(expand("web:").is_err());
        assert!(expand("web:70000").is_err());
    }

    #[test]
    fn bad_ranges() {
        for bad in ["n[1]", "n[1:]", "n[01:100]", "n[c:a]", "n[1:x]", "n[1:3:0]", "n[1:2", "n[0:9999999]"] {
            assert!(expand(bad).is_err(), "{bad}");
        }
    }
}
