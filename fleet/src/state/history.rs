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
    super::create_private_dir(&dir)?;
    let mut buf = Vec::new();
    for (host, report) in reports {
        serde_json::to_writer(&mut buf, &Line { at, host, report })?;
        buf.push(b'\n');
    }
    // One write of whole lines: concurrent appenders never interleave within a line.
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(dir.join("status.jsonl"))?;
    // A history an older version made readable by others becomes root-only.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(&buf)
}
