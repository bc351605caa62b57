//! The status history: every report `schedfleet status` collects, appended
//! as one JSON line per host to `<state>/history/status.jsonl`, so an
//! operator can see what a host ran and how it behaved over time.

use std::io::Write;

use serde::Serialize;

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    at: u64,
    host: &'a str,
    report: &'a T,
}

/// Appends one line per `(host, report)`. Best effort: history must never
/// fail a status query; a write error is returned for the caller to mention.
pub fn append<'a, T: Serialize + 'a>(
    at: u64,
    reports: impl IntoIterator<Item = (&'a str, &'a T)>,
) -> std::io::Result<()> {
    let dir = super::dir().join("history");
    std::fs::create_dir_all(&dir)?;
    let mut buf = Vec::new();
    for (host, report) in reports {
        serde_json::to_writer(&mut buf, &Line { at, host, report })?;
        buf.push(b'\n');
    }
    // One write of whole lines: concurrent appenders never interleave within a line.
    std::fs::OpenOptions::new().create(true).append(true).open(dir.join("status.jsonl"))?.write_all(&buf)
}
