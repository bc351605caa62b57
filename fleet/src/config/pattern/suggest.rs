//! Close names for error messages: what a mistyped host, group, label key
//! or label value, or a glob that matched nothing, may have meant.
//!
//! Suggestions only make messages kinder; they never change what a pattern
//! selects, and a term with no close name is still an error.

use super::glob::Glob;

/// How many close names an error message lists; more is noise.
const MAX_SUGGESTIONS: usize = 3;

/// Up to [`MAX_SUGGESTIONS`] candidates a mistyped name or glob may have
/// meant. For a glob, the names it matches when case is ignored, if any;
/// otherwise, for names and globs alike, the names within a few typos of the
/// name or of the glob's literal prefix, closest first.
pub(super) fn close_names<'a>(
    wanted: &str,
    glob: Option<&Glob>,
    candidates: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
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

pub(super) fn close_hint(what: &str, close: &[&str]) -> String {
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
    use super::super::fixtures::select_error;

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
}
