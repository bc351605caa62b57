//! The rendering boundary: every string that came from a host (probe
//! output, lease owners, ejection reasons, agent messages, scx stats) goes
//! through [`clean`] or [`clean_text`] before it reaches a terminal, so a
//! host cannot move the cursor, retitle the window or hide a line with
//! escape sequences. Control characters are shown escaped (`\u{1b}`), not
//! dropped, so nothing disappears without a trace. The log is never
//! coloured (its fields may carry a host's text, escaped here, and escaped
//! colour codes would be noise); the progress bars draw only on a terminal.
//! JSON output needs none of this: serde escapes control characters itself.

use std::borrow::Cow;
use std::io::Write;

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && !keep(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of a table: every control character escaped, newlines too.
pub fn clean(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// Text of several lines (an error with a verifier log, a report): control
/// characters escaped except newlines and tabs.
pub fn clean_text(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// stderr for the log, through [`clean_text`]: log fields may hold what a
/// host said.
pub struct CleanStderr;

impl Write for CleanStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().lock().write_all(clean_text(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_from_hosts_are_shown_not_obeyed() {
        let owner = "ops@ctl\x1b]0;pwned\x07\x1b[2J";
        assert_eq!(clean(owner), "ops@ctl\\u{1b}]0;pwned\\u{7}\\u{1b}[2J");
        assert_eq!(clean("a\nb\rc"), "a\\nb\\rc");
        assert_eq!(clean_text("line 1\n\tline 2\u{9b}31m"), "line 1\n\tline 2\\u{9b}31m");
        assert!(matches!(clean("plain text, é"), Cow::Borrowed(_)));
    }
}
