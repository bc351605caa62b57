//! The rollout journal: what a rollout did, host by host, written as it
//! happens, so that an interrupted run can be resumed and a finished one
//! explained.
//!
//! A run's journal is `<state dir>/journal/<run id>.jsonl`: one [`Event`] per
//! line, appended and never rewritten. The run id is the UTC time the run
//! started, to the millisecond, and a short random suffix
//! (`20250301T142501.042Z-3f9c`), so ids sort by start time and two runs
//! never share a file (it is created with `create_new`).
//!
//! Durability: [`Journal::append`] writes one whole line in one `write` and
//! then `fdatasync`s the file, so an event the caller has seen appended
//! survives a crash, and a crash can leave at most the last line torn (cut
//! short, or zeros where the filesystem had not written it yet). Readers
//! therefore skip whatever follows the last newline, and [`Journal::open`]
//! cuts it off before appending, so the torn line never ends up in the
//! middle. Any other line that does not parse is corruption and an error.
//!
//! This module owns the file format and the resume summary
//! ([`resume_point`]); it does not decide what a resumed run does with it.
//! It takes no lock: a journal is written by the one controller that holds
//! the fleet lock (`super::lock`).

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One thing a rollout did, or decided, and how it went.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Event {
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
    /// The commit being rolled out.
    pub commit: String,
    /// The wave's index, for events about a wave or one of its hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<usize>,
    /// The host, for events about one host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub action: Action,
    pub outcome: EventOutcome,
    /// Words for people: an error message, a reason.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Numbers for machines: gate values, digests, counts.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub values: serde_json::Value,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The first line of every journal; [`Journal::create`] writes it.
    RunStarted,
    Connect,
    Push,
    Activate,
    Gate,
    /// The host was told to keep the new scheduler; an `ok` one is done.
    Confirm,
    /// The host went back to its previous scheduler by itself or was told to.
    Fallback,
    /// A host of an earlier wave was returned to its previous state.
    Rollback,
    WaveDone,
    /// The failure budget or the operator stopped the run for good.
    RunHalted,
    RunDone,
    /// The controller was stopped (a signal) and the run can be resumed.
    Interrupted,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    Ok,
    Failed,
    Skipped,
    /// The host could not be reached (apart from a host that was reached
    /// and failed, such as a failed health gate).
    Unreachable,
}

/// An open journal, appending to one run's file.
#[derive(Debug)]
pub struct Journal {
    run_id: String,
    commit: String,
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Starts the journal of a new run of `commit` in the state directory
    /// and writes its `run_started` line.
    pub fn create(commit: &str) -> io::Result<Journal> {
        Journal::create_in(&super::dir(), commit)
    }

    /// [`Journal::create`] in the state directory `dir`.
    pub fn create_in(dir: &Path, commit: &str) -> io::Result<Journal> {
        let journal_dir = dir.join("journal");
        super::create_private_dir(&journal_dir)?;
        let mut attempt = 0;
        let (run_id, path, file) = loop {
            let run_id = new_run_id(now_ms());
            let path = journal_dir.join(format!("{run_id}.jsonl"));
            match OpenOptions::new().append(true).create_new(true).mode(0o600).open(&path) {
                Ok(file) => break (run_id, path, file),
                // Two runs in the same millisecond with the same suffix: draw again.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        // The new name must survive a crash as well as the lines in it.
        File::open(&journal_dir)?.sync_all()?;
        let journal = Journal { run_id, commit: commit.to_string(), path, file };
        journal.append(&journal.event(Action::RunStarted, EventOutcome::Ok))?;
        Ok(journal)
    }

    /// Reopens the journal of an earlier run to append to it, as a resumed
    /// run does. Refuses a journal that [`read`] would refuse; cuts off a
    /// torn last line first.
    pub fn open(run_id: &str) -> io::Result<Journal> {
        Journal::open_in(&super::dir(), run_id)
    }

    /// [`Journal::open`] in the state directory `dir`.
    pub fn open_in(dir: &Path, run_id: &str) -> io::Result<Journal> {
        let path = journal_path(dir, run_id)?;
        let file = OpenOptions::new().read(true).append(true).open(&path)?;
        let bytes = std::fs::read(&path)?;
        let (events, whole) = parse(&path, &bytes)?;
        let Some(first) = events.first() else {
            return Err(invalid(format!(
                "journal `{}` has no complete line; there is nothing to resume",
                path.display()
            )));
        };
        let commit = first.commit.clone();
        if whole < bytes.len() {
            // Never acknowledged (its fsync did not return), so not part of the history.
            file.set_len(whole as u64)?;
            file.sync_data()?;
        }
        Ok(Journal { run_id: run_id.to_string(), commit, path, file })
    }

    /// Appends one event as one line, and returns once it is on disk.
    pub fn append(&self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(event)?;
        line.push(b'\n');
        // One `write` of the whole line (`O_APPEND`): for a regular file the
        // kernel writes it all at the end or fails; `write_all` only loops on
        // the short writes a full disk or a signal could cause.
        (&self.file).write_all(&line)?;
        // `fdatasync` covers the data and the new length; mtime is not worth a flush.
        self.file.sync_data()
    }

    /// An event of this run's commit, now, with no wave, host, detail or
    /// values: fill them in with struct update syntax.
    pub fn event(&self, action: Action, outcome: EventOutcome) -> Event {
        Event {
            at: now_ms(),
            commit: self.commit.clone(),
            wave: None,
            host: None,
            action,
            outcome,
            detail: String::new(),
            values: serde_json::Value::Null,
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The commit the run rolls out, from its first line.
    pub fn commit(&self) -> &str {
        &self.commit
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Every complete event of a run, in order. A torn last line is skipped;
/// any other line that does not parse is an error naming its number.
pub fn read(run_id: &str) -> io::Result<Vec<Event>> {
    read_in(&super::dir(), run_id)
}

/// [`read`] in the state directory `dir`.
pub fn read_in(dir: &Path, run_id: &str) -> io::Result<Vec<Event>> {
    let path = journal_path(dir, run_id)?;
    Ok(parse(&path, &std::fs::read(&path)?)?.0)
}

/// The id of the run that started last, if any run has a journal.
pub fn latest_run() -> io::Result<Option<String>> {
    latest_run_in(&super::dir())
}

/// [`latest_run`] in the state directory `dir`.
pub fn latest_run_in(dir: &Path) -> io::Result<Option<String>> {
    let entries = match std::fs::read_dir(dir.join("journal")) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut latest: Option<String> = None;
    for entry in entries {
        let name = entry?.file_name();
        let Some(run_id) = name.to_str().and_then(|n| n.strip_suffix(".jsonl")) else { continue };
        // Run ids start with a fixed-width UTC time, so the greatest name started last.
        if is_run_id(run_id) && latest.as_deref().is_none_or(|l| run_id > l) {
            latest = Some(run_id.to_string());
        }
    }
    Ok(latest)
}

/// Where a run stands, from its journal: what a resumed run may skip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// The commit of the run's first event; empty for no events.
    pub commit: String,
    /// The run ended with `run_done` or `run_halted`: nothing to resume.
    pub finished: bool,
    /// The run ended with `run_halted`: its failure budget was spent, or
    /// the operator stopped it. A new run is a new decision.
    pub halted: bool,
    /// Hosts whose last word is a successful `confirm`: they run the new
    /// scheduler and need nothing more.
    pub confirmed_hosts: BTreeSet<String>,
    /// Hosts with a failed event that no later `confirm` made good.
    pub failed_hosts: BTreeSet<String>,
    /// The highest wave with a successful `wave_done`: a resumed run starts
    /// at the wave after it (the waves of the same commit and inventory are
    /// the same), skipping the confirmed hosts there.
    pub last_wave: Option<usize>,
}

/// Summarises a run's events, in order, for resuming it. Per host, the last
/// word counts: an `ok` `confirm` makes it confirmed (and no longer failed);
/// any `failed` event makes it failed (and no longer confirmed); an `ok`
/// `rollback` or `fallback` takes its confirmation away, since it no longer
/// runs the new scheduler, without calling it failed.
pub fn resume_point(events: &[Event]) -> Resume {
    let mut resume =
        Resume { commit: events.first().map(|e| e.commit.clone()).unwrap_or_default(), ..Resume::default() };
    for event in events {
        match (event.action, event.outcome) {
            (Action::RunDone, _) => resume.finished = true,
            (Action::RunHalted, _) => {
                resume.finished = true;
                resume.halted = true;
            }
            (Action::WaveDone, EventOutcome::Ok) => resume.last_wave = resume.last_wave.max(event.wave),
            _ => {}
        }
        let Some(host) = &event.host else { continue };
        match (event.action, event.outcome) {
            (Action::Confirm, EventOutcome::Ok) => {
                resume.failed_hosts.remove(host);
                resume.confirmed_hosts.insert(host.clone());
            }
            (_, EventOutcome::Failed | EventOutcome::Unreachable) => {
                resume.confirmed_hosts.remove(host);
                resume.failed_hosts.insert(host.clone());
            }
            (Action::Rollback | Action::Fallback, EventOutcome::Ok) => {
                resume.confirmed_hosts.remove(host);
            }
            _ => {}
        }
    }
    resume
}

/// The events of a journal's bytes, and the length of its complete lines.
fn parse(path: &Path, bytes: &[u8]) -> io::Result<(Vec<Event>, usize)> {
    let Some(last_newline) = bytes.iter().rposition(|&b| b == b'\n') else {
        return Ok((Vec::new(), 0));
    };
    let mut events = Vec::new();
    for (n, line) in bytes[..last_newline].split(|&b| b == b'\n').enumerate() {
        let event = serde_json::from_slice(line)
            .map_err(|e| invalid(format!("journal `{}` is corrupt at line {}: {e}", path.display(), n + 1)))?;
        events.push(event);
    }
    Ok((events, last_newline + 1))
}

fn journal_path(dir: &Path, run_id: &str) -> io::Result<PathBuf> {
    if !is_run_id(run_id) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{run_id}` is not a run id (letters, digits, `.`, `-`, `_`)"),
        ));
    }
    Ok(dir.join("journal").join(format!("{run_id}.jsonl")))
}

/// A run id is used as a file name: no separators, no leading dot.
fn is_run_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && !text.starts_with('.')
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// `20250301T142501.042Z-3f9c`: ISO 8601 basic format, UTC, and 16 random bits.
fn new_run_id(at_ms: u64) -> String {
    let secs = at_ms / 1000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    // `RandomState` is seeded randomly per process and per instance; mixing in the
    // pid and the time keeps two processes apart even if their seeds collided.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos());
    let suffix = hasher.finish() as u16;
    format!("{year:04}{month:02}{day:02}T{h:02}{m:02}{s:02}.{:03}Z-{suffix:04x}", at_ms % 1000)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
pub(super) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_event(journal: &Journal, wave: usize, host: &str, action: Action, outcome: EventOutcome) -> Event {
        Event { wave: Some(wave), host: Some(host.to_string()), ..journal.event(action, outcome) }
    }

    #[test]
    fn events_round_trip_one_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create_in(dir.path(), "abc123").unwrap();
        assert!(is_run_id(journal.run_id()), "{}", journal.run_id());
        assert_eq!(journal.path(), dir.path().join("journal").join(format!("{}.jsonl", journal.run_id())));
        assert_eq!(journal.commit(), "abc123");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(journal.path()), mode(&dir.path().join("journal"))), (0o600, 0o700), "root-only");
        let push = Event {
            detail: "pushed `simple`".into(),
            values: serde_json::json!({ "bytes": 4096 }),
            ..host_event(&journal, 0, "h1", Action::Push, EventOutcome::Ok)
        };
        let gate = Event {
            values: serde_json::json!({ "SCX_EV_SELECT_CPU_FALLBACK": 12 }),
            ..host_event(&journal, 0, "h1", Action::Gate, EventOutcome::Failed)
        };
        journal.append(&push).unwrap();
        journal.append(&gate).unwrap();

        let events = read_in(dir.path(), journal.run_id()).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!((events[0].action, events[0].outcome), (Action::RunStarted, EventOutcome::Ok));
        assert_eq!(events[0].commit, "abc123");
        assert_eq!(events[0].wave, None);
        assert_eq!(events[1..], [push, gate]);
        let text = std::fs::read_to_string(journal.path()).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn the_wire_format_is_snake_case_with_optional_fields() {
        let line = r#"{"at":1,"commit":"c","action":"wave_done","outcome":"skipped","wave":2}"#;
        let event: Event = serde_json::from_str(line).unwrap();
        assert_eq!(event.action, Action::WaveDone);
        assert_eq!(event.outcome, EventOutcome::Skipped);
        assert_eq!(event.host, None);
        assert_eq!(event.detail, "");
        assert_eq!(event.values, serde_json::Value::Null);
        // Empty fields are left out, and reading puts them back.
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"at":1,"commit":"c","wave":2,"action":"wave_done","outcome":"skipped"}"#
        );
        for (action, name) in [
            (Action::RunStarted, "run_started"),
            (Action::RunHalted, "run_halted"),
            (Action::RunDone, "run_done"),
            (Action::Interrupted, "interrupted"),
            (Action::Fallback, "fallback"),
        ] {
            assert_eq!(serde_json::to_value(action).unwrap(), name);
        }
        assert_eq!(serde_json::to_value(EventOutcome::Failed).unwrap(), "failed");
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_cut_off_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create_in(dir.path(), "c1").unwrap();
        journal.append(&host_event(&journal, 0, "h1", Action::Confirm, EventOutcome::Ok)).unwrap();
        let run_id = journal.run_id().to_string();
        let path = journal.path().to_path_buf();
        drop(journal);
        let mut torn = std::fs::read(&path).unwrap();
        let whole_len = torn.len();
        torn.extend_from_slice(br#"{"at":5,"commit":"c1","act"#);
        std::fs::write(&path, &torn).unwrap();
        assert_eq!(read_in(dir.path(), &run_id).unwrap().len(), 2, "torn line skipped");

        // Zeros where the filesystem had not written the line yet are torn too.
        let mut zeros = torn[..whole_len].to_vec();
        zeros.extend_from_slice(&[0; 40]);
        std::fs::write(&path, &zeros).unwrap();
        assert_eq!(read_in(dir.path(), &run_id).unwrap().len(), 2);

        let journal = Journal::open_in(dir.path(), &run_id).unwrap();
        assert_eq!(journal.commit(), "c1");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole_len as u64, "torn tail cut off");
        journal.append(&host_event(&journal, 1, "h2", Action::Confirm, EventOutcome::Ok)).unwrap();
        let events = read_in(dir.path(), &run_id).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].host.as_deref(), Some("h2"));
    }

    #[test]
    fn corruption_before_the_last_line_is_an_error_with_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create_in(dir.path(), "c1").unwrap();
        let good = serde_json::to_string(&journal.event(Action::Connect, EventOutcome::Ok)).unwrap();
        std::fs::write(journal.path(), format!("{good}\n{{\"at\":\n{good}\n")).unwrap();
        let err = read_in(dir.path(), journal.run_id()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(Journal::open_in(dir.path(), journal.run_id()).is_err(), "no appending to a corrupt journal");

        // An empty line in the middle is corruption too: the writer never makes one.
        std::fs::write(journal.path(), format!("{good}\n\n{good}\n")).unwrap();
        assert!(read_in(dir.path(), journal.run_id()).unwrap_err().to_string().contains("line 2"));
    }

    #[test]
    fn runs_get_their_own_files_and_the_latest_is_found() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(latest_run_in(dir.path()).unwrap(), None, "no journal directory yet");
        let first = Journal::create_in(dir.path(), "c1").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = Journal::create_in(dir.path(), "c2").unwrap();
        assert_ne!(first.run_id(), second.run_id());
        assert_eq!(latest_run_in(dir.path()).unwrap().as_deref(), Some(second.run_id()));
        // Stray files are not runs.
        std::fs::write(dir.path().join("journal/zzz.tmp"), "").unwrap();
        std::fs::write(dir.path().join("journal/.zzz.jsonl"), "").unwrap();
        assert_eq!(latest_run_in(dir.path()).unwrap().as_deref(), Some(second.run_id()));
        // Ids made in the same millisecond still differ (by their random suffix), nearly always.
        let ids: BTreeSet<String> = (0..50).map(|_| new_run_id(1_000)).collect();
        assert!(ids.len() > 40, "{ids:?}");
    }

    #[test]
    fn run_ids_are_checked_before_they_become_paths() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "../etc/passwd", "a/b", ".hidden", "x y"] {
            let err = Journal::open_in(dir.path(), bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert_eq!(read_in(dir.path(), bad).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        }
        let err = Journal::open_in(dir.path(), "20250101T000000.000Z-0000").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn run_ids_are_utc_timestamps() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_089), (2025, 1, 1));
        // 2025-03-01 14:25:01.042 UTC.
        let id = new_run_id(1_740_839_101_042);
        assert!(id.starts_with("20250301T142501.042Z-"), "{id}");
        assert_eq!(id.len(), "20250301T142501.042Z-3f9c".len());
        assert!(is_run_id(&id));
    }

    #[test]
    fn resume_point_follows_each_hosts_last_word() {
        let e = |wave: Option<usize>, host: Option<&str>, action, outcome| Event {
            at: 0,
            commit: "c1".into(),
            wave,
            host: host.map(str::to_string),
            action,
            outcome,
            detail: String::new(),
            values: serde_json::Value::Null,
        };
        use Action::*;
        use EventOutcome::*;
        assert_eq!(resume_point(&[]), Resume::default());
        let mut events = vec![
            e(None, None, RunStarted, Ok),
            e(Some(0), Some("a"), Push, Ok),
            e(Some(0), Some("a"), Confirm, Ok),
            e(Some(0), None, WaveDone, Ok),
            e(Some(1), Some("b"), Confirm, Ok),
            e(Some(1), Some("c"), Activate, Failed),
            e(Some(1), Some("c"), Fallback, Ok),
            e(Some(1), Some("d"), Push, Skipped),
            e(Some(1), Some("e"), Confirm, Ok),
            e(Some(1), Some("e"), Rollback, Ok),
            e(None, None, Interrupted, Ok),
        ];
        let resume = resume_point(&events);
        assert_eq!(resume.commit, "c1");
        assert!(!resume.finished && !resume.halted);
        assert_eq!(resume.confirmed_hosts, BTreeSet::from(["a".to_string(), "b".to_string()]));
        assert_eq!(resume.failed_hosts, BTreeSet::from(["c".to_string()]));
        assert_eq!(resume.last_wave, Some(0));

        // Resumed: `c` is retried and confirmed, wave 1 completes, then a gate fails `a`.
        events.extend([
            e(Some(1), Some("c"), Confirm, Ok),
            e(Some(1), None, WaveDone, Ok),
            e(Some(2), None, WaveDone, Failed),
            e(Some(0), Some("a"), Gate, Failed),
            e(None, None, RunHalted, Ok),
        ]);
        let resume = resume_point(&events);
        assert!(resume.finished && resume.halted);
        assert_eq!(resume.confirmed_hosts, BTreeSet::from(["b".to_string(), "c".to_string()]));
        assert_eq!(resume.failed_hosts, BTreeSet::from(["a".to_string()]));
        assert_eq!(resume.last_wave, Some(1), "a failed wave_done does not count");

        let done = resume_point(&[e(None, None, RunStarted, Ok), e(None, None, RunDone, Ok)]);
        assert!(done.finished && !done.halted);
    }
}
