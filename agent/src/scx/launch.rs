//! An upstream scheduler binary made ready to run, started under its
//! supervisor, and stopped.
//!
//! [`Launch::prepare`] checks everything it can without changing the host:
//! the executable's digest (the store entry's, or the declared sha256 of an
//! installed binary, or the identity of an undeclared one), each pushed
//! library's digest, the environment. [`Launch::start`] then puts the
//! executable and the libraries in place under `<root>/scx` (a hard link
//! named like the scheduler, so `ps` and `comm` show `scx_bpfland`, and a
//! private library directory named by the digest of the library set), starts
//! the supervisor (`schedfleet-agent supervise`, detached like the watchdog)
//! and waits until it reports the scheduler `enabled` or its failure.
//! [`Launch::verify`] is what the supervisor runs before every start,
//! restarts included: what runs is always what was checked.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use schedfleet_proto::binary::installed_identity_input;
use schedfleet_proto::{BinaryOrigin, BinarySpec, ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::exit;
use super::record::{self, Phase};
use crate::deadman::process;
use crate::error::{Failure, Result};
use crate::{log, sched, state, store};

/// `argv[1]` of the supervisor process.
pub const VERB: &str = "supervise";

/// How long the supervisor may take to stop its scheduler (it sends SIGINT
/// and waits [`CHILD_STOP_TIMEOUT`], then SIGKILLs) before it is killed.
const SUPERVISOR_STOP_GRACE: Duration = Duration::from_secs(15);

/// How long a scheduler gets to leave after SIGINT before SIGKILL.
pub const CHILD_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Environment names the repository may not set: the agent owns them.
fn reserved_env(name: &str) -> bool {
    name == "PATH" || name.starts_with("LD_") || name.is_empty() || name.contains('=') || name.contains('\0')
}

/// A binary ready to start (see the module).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Launch {
    pub artifact: String,
    pub spec: BinarySpec,
    /// The file whose digest is checked (the store entry or the installed path).
    pub source: PathBuf,
    /// The digest `source` must have; `None` for an installed binary
    /// declared by path and version only.
    pub expected: Option<String>,
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Failure::io("read", &path.display().to_string(), e))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

impl Launch {
    /// Checks the binary `artifact` described by `spec`; nothing on the
    /// host changes.
    pub fn prepare(artifact: &str, spec: &BinarySpec) -> Result<Launch> {
        if let Some(name) = spec.env.keys().find(|k| reserved_env(k)) {
            return Err(Failure::new(
                ErrorKind::Usage,
                format!("the binary's environment may not set `{name}`: the agent sets PATH and LD_LIBRARY_PATH (shared libraries go in `libs`)"),
            ));
        }
        if spec.ops_name.is_empty() || spec.ops_name.contains('/') {
            return Err(Failure::new(ErrorKind::Usage, format!("ops name `{}` is not a plain name", spec.ops_name)));
        }
        for soname in spec.libs.keys() {
            if soname.is_empty() || soname.contains('/') || soname.starts_with('.') {
                return Err(Failure::new(ErrorKind::Usage, format!("library `{soname}` is not a plain file name")));
            }
        }
        let (source, expected) = match &spec.origin {
            BinaryOrigin::Store => (store::path_of(artifact), Some(artifact.to_owned())),
            BinaryOrigin::Installed { path, sha256 } => {
                if !path.starts_with('/') {
                    return Err(Failure::new(
                        ErrorKind::Usage,
                        format!("installed binary `{path}` is not an absolute path"),
                    ));
                }
                match sha256 {
                    Some(d) if d != artifact => {
                        return Err(Failure::new(
                            ErrorKind::DigestMismatch,
                            format!("installed binary `{path}` is declared as `{d}` but activated as `{artifact}`"),
                        ))
                    }
                    Some(d) => (PathBuf::from(path), Some(d.clone())),
                    None => {
                        let identity = hex::encode(Sha256::digest(
                            installed_identity_input(path, spec.ops_version.as_deref()).as_bytes(),
                        ));
                        if identity != artifact {
                            return Err(Failure::new(
                                ErrorKind::DigestMismatch,
                                format!(
                                    "`{artifact}` is not the identity of installed binary `{path}` version `{}` (`{identity}`)",
                                    spec.ops_version.as_deref().unwrap_or("")
                                ),
                            ));
                        }
                        (PathBuf::from(path), None)
                    }
                }
            }
        };
        let launch = Launch { artifact: artifact.to_owned(), spec: spec.clone(), source, expected };
        launch.verify_sources()?;
        Ok(launch)
    }

    /// The executable's and the libraries' digests, at their sources.
    fn verify_sources(&self) -> Result<()> {
        let shown = self.source.display().to_string();
        match std::fs::metadata(&self.source) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(Failure::new(ErrorKind::Preflight, format!("`{shown}` is not a file"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let what = match self.spec.origin {
                    BinaryOrigin::Store => "push it first (`store put`)",
                    BinaryOrigin::Installed { .. } => "install it on the host, or push it with the repository",
                };
                return Err(Failure::new(ErrorKind::Preflight, format!("binary `{shown}` is not on the host: {what}")));
            }
            Err(e) => return Err(Failure::io("inspect", &shown, e)),
        }
        if let Some(expected) = &self.expected {
            store::read_verified(&shown, expected)?;
        }
        for (soname, digest) in &self.spec.libs {
            let path = store::path_of(digest);
            if !path.exists() {
                return Err(Failure::new(
                    ErrorKind::Preflight,
                    format!("library `{soname}` (`{digest}`) is not in the agent's store: push it first"),
                ));
            }
            store::read_verified(&path.to_string_lossy(), digest)?;
        }
        Ok(())
    }

    /// The bytes of the executable (verified when a digest is known).
    pub fn executable_bytes(&self) -> Result<Vec<u8>> {
        let shown = self.source.display().to_string();
        match &self.expected {
            Some(d) => store::read_verified(&shown, d),
            None => std::fs::read(&self.source).map_err(|e| Failure::io("read", &shown, e)),
        }
    }

    /// What is exec'd: the store entry under the scheduler's name, or the
    /// installed path.
    pub fn exec_path(&self) -> PathBuf {
        match self.spec.origin {
            BinaryOrigin::Store => {
                record::dir().join("bin").join(&self.artifact).join(format!("scx_{}", self.spec.ops_name))
            }
            BinaryOrigin::Installed { .. } => self.source.clone(),
        }
    }

    /// The private library directory, named by the library set.
    pub fn lib_dir(&self) -> Option<PathBuf> {
        if self.spec.libs.is_empty() {
            return None;
        }
        let set = serde_json::to_vec(&self.spec.libs).expect("a map of strings serializes");
        Some(record::dir().join("lib").join(&hex::encode(Sha256::digest(&set))[..32]))
    }

    /// Puts the executable and the libraries where [`Launch::exec_path`]
    /// and [`Launch::lib_dir`] say, each checked; idempotent.
    pub fn materialize(&self) -> Result<()> {
        if matches!(self.spec.origin, BinaryOrigin::Store) {
            let exe = self.exec_path();
            if sha256_file(&exe).ok().as_deref() != Some(self.artifact.as_str()) {
                let bytes = self.executable_bytes()?;
                state::write_atomic(&exe, &bytes, 0o700)?;
            }
        }
        if let Some(dir) = self.lib_dir() {
            for (soname, digest) in &self.spec.libs {
                let path = dir.join(soname);
                if sha256_file(&path).ok().as_deref() != Some(digest.as_str()) {
                    let bytes = store::read_verified(&store::path_of(digest).to_string_lossy(), digest)?;
                    state::write_atomic(&path, &bytes, 0o600)?;
                }
            }
        }
        Ok(())
    }

    /// Before every start: what will be exec'd and loaded is what was
    /// checked.
    pub fn verify(&self) -> Result<()> {
        let exe = self.exec_path();
        if let Some(expected) = &self.expected {
            store::read_verified(&exe.to_string_lossy(), expected)?;
        } else if !exe.is_file() {
            return Err(Failure::new(ErrorKind::Preflight, format!("binary `{}` is gone", exe.display())));
        }
        if let Some(dir) = self.lib_dir() {
            for (soname, digest) in &self.spec.libs {
                store::read_verified(&dir.join(soname).to_string_lossy(), digest)?;
            }
        }
        Ok(())
    }

    /// The process's whole environment: the declared one, `PATH`, and
    /// `LD_LIBRARY_PATH` with pushed libraries.
    pub fn environment(&self) -> BTreeMap<String, String> {
        let mut env = self.spec.env.clone();
        env.insert("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        if let Some(dir) = self.lib_dir() {
            env.insert("LD_LIBRARY_PATH".into(), dir.to_string_lossy().into_owned());
        }
        env
    }

    /// Starts the supervisor and waits until the scheduler is `enabled`
    /// with the expected ops: `(ops, enable_seq, ms)`. On failure the
    /// supervisor has stopped whatever it started and the kernel runs its
    /// default scheduler.
    pub fn start(self) -> Result<(String, u64, u64)> {
        let started = Instant::now();
        self.materialize()?;
        let bytes = serde_json::to_vec_pretty(&self).expect("a launch serializes");
        state::write_atomic(&record::launch_path(), &bytes, 0o600)?;
        let args: Vec<OsString> = vec!["--artifact".into(), self.artifact.clone().into()];
        let pid = process::spawn_agent(VERB, "the scheduler's supervisor", &args)?;
        let name = format!("scx_{}", self.spec.ops_name);
        log::info(&format!("started the supervisor of `{name}` (pid {pid})"));
        let limit = Duration::from_millis(self.spec.start_timeout_ms) + SUPERVISOR_STOP_GRACE;
        loop {
            let rec = record::load().filter(|r| r.supervised.supervisor_pid == pid);
            match rec.as_ref().map(|r| r.phase) {
                Some(Phase::Running) => {
                    let rec = rec.expect("matched");
                    let ops = rec.ops.unwrap_or_default();
                    log::info(&format!("`{ops}` is enabled under supervisor pid {pid}"));
                    return Ok((ops, rec.enable_seq.unwrap_or_default(), started.elapsed().as_millis() as u64));
                }
                Some(Phase::Failed | Phase::Stopped | Phase::GaveUp) => {
                    let rec = rec.expect("matched");
                    return Err(did_not_come_up(&name, &rec));
                }
                _ => {}
            }
            if !starting_or_alive(pid, &self.artifact) {
                // It may have written its last record just before leaving.
                if let Some(rec) = record::load().filter(|r| r.supervised.supervisor_pid == pid) {
                    if rec.phase == Phase::Running {
                        continue;
                    }
                    return Err(did_not_come_up(&name, &rec));
                }
                return Err(Failure::new(
                    ErrorKind::NotEnabled,
                    format!(
                        "the supervisor (pid {pid}) of `{name}` ended without a report; the end of `{}`:\n{}",
                        record::supervisor_log().display(),
                        super::logfile::tail(&record::supervisor_log(), 5).unwrap_or_default()
                    ),
                ));
            }
            if started.elapsed() > limit {
                // By its pid: it may not have written a record yet.
                process::stop_agent(pid, VERB, &self.artifact, SUPERVISOR_STOP_GRACE);
                return Err(Failure::new(
                    ErrorKind::NotEnabled,
                    format!("the supervisor of `{name}` did not report within {} ms; stopped it", limit.as_millis()),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether the supervisor just started at `pid` lives. Right after its
/// `exec` its command line reads empty for a moment (the kernel closes the
/// close-on-exec descriptors, which is when `spawn` returns, before it
/// sets up the new program's arguments; seen under emulation), so a live
/// process that is not a zombie and has no command line yet counts too.
fn starting_or_alive(pid: u32, artifact: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, Some("Z" | "X") | None) {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) if cmdline.is_empty() => true,
        Ok(cmdline) => process::is_agent_cmdline(&cmdline, VERB, Some(artifact)),
        Err(_) => false,
    }
}

fn did_not_come_up(name: &str, rec: &record::Record) -> Failure {
    let why = match (&rec.error, &rec.supervised.last_exit) {
        (Some(e), _) => e.clone(),
        (None, Some(exit)) => exit::describe(&exit.cause),
        (None, None) => "it was stopped".into(),
    };
    let output = rec
        .supervised
        .last_exit
        .as_ref()
        .and_then(|e| e.log_tail.as_deref())
        .map(|t| format!("; its last output:\n{t}"))
        .unwrap_or_default();
    let _ = sched::kernel::wait_until(sched::switch::DISABLE_TIMEOUT, |k| k.state == "disabled");
    Failure::new(ErrorKind::NotEnabled, format!("`{name}` did not come up: {why}{output}"))
}

/// The supervisor that runs now, if any (not this process): its pid and record.
pub fn running_supervisor() -> Option<(u32, record::Record)> {
    let rec = record::load()?;
    let pid = rec.supervised.supervisor_pid;
    (pid != std::process::id() && process::is_agent(pid, VERB, Some(&rec.artifact))).then_some((pid, rec))
}

/// Stops the running supervisor (it stops its scheduler: SIGINT, then
/// SIGKILL) and waits until it is gone; false when none ran.
pub fn stop_supervisor() -> bool {
    let Some((pid, rec)) = running_supervisor() else { return false };
    let stopped = process::stop_agent(pid, VERB, &rec.artifact, SUPERVISOR_STOP_GRACE);
    if stopped == process::Stopped::Killed {
        // Killed before it could stop its scheduler; the scheduler got
        // SIGINT from the kernel when its parent died (PR_SET_PDEATHSIG).
        log::error(&format!("the supervisor (pid {pid}) had to be killed; its scheduler was sent SIGINT"));
    }
    stopped != process::Stopped::NotRunning
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use schedfleet_proto::RestartPolicy;

    use super::*;

    fn spec(origin: BinaryOrigin) -> BinarySpec {
        BinarySpec {
            origin,
            args: vec!["--slice-us".into(), "5000".into()],
            env: BTreeMap::new(),
            ops_name: "bpfland".into(),
            ops_version: Some("1.1.4".into()),
            start_timeout_ms: 10_000,
            restart: RestartPolicy::default(),
            libs: BTreeMap::new(),
        }
    }

    fn installed(path: &Path, sha256: Option<&str>) -> BinaryOrigin {
        BinaryOrigin::Installed { path: path.to_string_lossy().into_owned(), sha256: sha256.map(Into::into) }
    }

    #[test]
    fn a_live_process_is_starting_or_alive_only_as_our_supervisor() {
        let me = std::process::id();
        assert!(!starting_or_alive(me, &"a".repeat(64)), "this test is not a supervisor");
        assert!(!starting_or_alive(u32::MAX, &"a".repeat(64)), "no such process");
    }

    #[test]
    fn an_installed_binary_is_checked_against_its_declared_digest() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("scx_bpfland");
        std::fs::write(&exe, b"the real scheduler").unwrap();
        let good = hex::encode(Sha256::digest(b"the real scheduler"));
        let launch = Launch::prepare(&good, &spec(installed(&exe, Some(&good)))).unwrap();
        assert_eq!((launch.exec_path(), launch.expected.as_deref()), (exe.clone(), Some(good.as_str())));

        std::fs::write(&exe, b"something else").unwrap();
        let err = Launch::prepare(&good, &spec(installed(&exe, Some(&good)))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::DigestMismatch, "{}", err.message);
        let err = Launch::prepare(&"0".repeat(64), &spec(installed(&exe, Some(&good)))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::DigestMismatch);
        assert!(err.message.contains("declared as"), "{}", err.message);
    }

    #[test]
    fn an_installed_binary_without_a_digest_is_named_by_path_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("scx_bpfland");
        std::fs::write(&exe, b"any bytes").unwrap();
        let path = exe.to_string_lossy().into_owned();
        let identity = hex::encode(Sha256::digest(installed_identity_input(&path, Some("1.1.4")).as_bytes()));
        let launch = Launch::prepare(&identity, &spec(installed(&exe, None))).unwrap();
        assert_eq!(launch.expected, None);
        let other_version = hex::encode(Sha256::digest(installed_identity_input(&path, Some("1.1.5")).as_bytes()));
        let err = Launch::prepare(&other_version, &spec(installed(&exe, None))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::DigestMismatch);
        let missing = dir.path().join("absent");
        let missing_path = missing.to_string_lossy().into_owned();
        let identity = hex::encode(Sha256::digest(installed_identity_input(&missing_path, Some("1.1.4")).as_bytes()));
        let err = Launch::prepare(&identity, &spec(installed(&missing, None))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Preflight);
        assert!(err.message.contains("is not on the host"), "{}", err.message);
    }

    #[test]
    fn the_environment_is_only_what_is_declared_plus_path() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("scx_bpfland");
        std::fs::write(&exe, b"x").unwrap();
        let d = hex::encode(Sha256::digest(b"x"));
        let mut s = spec(installed(&exe, Some(&d)));
        s.env.insert("SCX_TIMEOUT_MS".into(), "5000".into());
        let env = Launch::prepare(&d, &s).unwrap().environment();
        assert_eq!(env.keys().collect::<Vec<_>>(), ["PATH", "SCX_TIMEOUT_MS"]);
        for reserved in ["LD_PRELOAD", "PATH", "LD_LIBRARY_PATH", "A=B"] {
            let mut bad = s.clone();
            bad.env.insert(reserved.into(), "x".into());
            assert_eq!(Launch::prepare(&d, &bad).unwrap_err().kind, ErrorKind::Usage, "{reserved}");
        }
        let err =
            Launch::prepare(&d, &spec(BinaryOrigin::Installed { path: "scx_bpfland".into(), sha256: Some(d.clone()) }))
                .unwrap_err();
        assert!(err.message.contains("not an absolute path"), "{}", err.message);
        let mut bad = s.clone();
        bad.libs.insert("../libc.so.6".into(), d.clone());
        assert_eq!(Launch::prepare(&d, &bad).unwrap_err().kind, ErrorKind::Usage);
    }
}
