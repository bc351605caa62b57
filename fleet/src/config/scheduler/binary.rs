//! The `binary:` section of a `source: scx:NAME` scheduler file: an
//! upstream sched-ext/scx scheduler binary, where it comes from, how it is
//! started and supervised. Loading turns it into a [`BinarySource`] (files
//! read, digests checked, nothing rendered); rendering per host turns that
//! into the [`BinarySpec`] the agent is sent (see `desired.rs`).
//!
//! ```yaml
//! source: scx:scx_bpfland
//! binary:
//!   controller: ~/.cache/schedfleet/scx/bin/scx_bpfland   # pushed from this machine
//!   # file: bin/scx_bpfland            # or committed in this repository, pushed
//!   # installed: /usr/bin/scx_bpfland  # or already on the hosts, not pushed
//!   version: 1.1.4                     # the ops name must carry it
//!   libs: [ { path: ~/.cache/schedfleet/scx/lib/libelf.so.1 } ]
//!   args: [--slice-us, "{{ params.slice_us }}"]
//!   env: { SCX_TIMEOUT_MS: "5000" }
//!   start_timeout: 30s
//!   restart: { max: 3, window: 5m, backoff: 1s, backoff_max: 30s }
//!   takeover: false
//! ```
//!
//! What this module does not own: the host side (the agent starts,
//! supervises and restarts the process) and the flags of known schedulers
//! (`flags.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use schedfleet_proto::{BinaryOrigin, BinarySpec, RestartPolicy};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::artifact::{Artifact, ArtifactDigest};
use crate::config::units::Span;
use crate::config::yaml::{Origin, Positions, Scalar, Step::Index, Step::Key};
use crate::repo::ConfigRepo;
use crate::BadInput;

/// The largest binary or library read: scx schedulers are some MB (debug
/// builds some tens); more is not a scheduler.
pub const MAX_BINARY_BYTES: u64 = 256 << 20;

/// How long a binary may take to show `enabled` when the file says nothing:
/// upstream schedulers load in 1 to 3 s, scx_lavd needs ~23 s to verify
/// under emulation.
const DEFAULT_START_TIMEOUT_MS: u64 = 30_000;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BinaryDecl {
    /// A binary committed in this repository (path relative to it), pushed
    /// to the hosts' stores. Exactly one of `file`, `controller` and
    /// `installed`.
    pub file: Option<String>,
    /// A binary on the machine that runs schedfleet (absolute, or `~/...`),
    /// pushed to the hosts' stores. Not part of the commit: declare
    /// `sha256` to deploy exactly one build.
    pub controller: Option<String>,
    /// An absolute path where the binary is already installed on every
    /// host; nothing is pushed. Declare `sha256` (checked on the host before
    /// every start) or `version` (checked in the ops name).
    pub installed: Option<String>,
    /// The binary's sha256 (64 hex digits): checked before anything is
    /// pushed (`file`, `controller`) or on the host before every start
    /// (`installed`).
    pub sha256: Option<String>,
    /// The scheduler's version (`1.1.4`); its ops name must carry it
    /// (`bpfland_1.1.4_...`).
    pub version: Option<String>,
    /// Shared libraries the binary needs that hosts may lack, as files on
    /// the controller; pushed to the stores with the binary and found by it
    /// through `LD_LIBRARY_PATH`. Not needed for a static binary.
    #[serde(default)]
    pub libs: Vec<LibDecl>,
    /// The binary's arguments, one list item each (never a shell string),
    /// templated like parameters: a template sees the host's variables,
    /// `facts`, `host`, and the scheduler's parameters as `params.NAME`.
    /// The flags of `scx_bpfland` and `scx_cosmos` are checked.
    #[serde(default)]
    pub args: Vec<Scalar>,
    /// Environment variables the process gets (such as `SCX_TIMEOUT_MS`),
    /// besides `PATH` and `LD_LIBRARY_PATH`, which the agent sets.
    #[serde(default)]
    pub env: BTreeMap<String, Scalar>,
    /// How long the kernel may take to show `enabled` with the scheduler's
    /// ops name after a start (default `30s`).
    pub start_timeout: Option<Span>,
    /// What the agent does when the process ends by itself.
    #[serde(default)]
    pub restart: RestartDecl,
    /// Stop a competing sched_ext manager (`scx.service`, `scx_loader`) on
    /// the host instead of refusing to activate (default `false`).
    #[serde(default)]
    pub takeover: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LibDecl {
    /// The library on the controller (absolute, or `~/...`); its file name
    /// is the name the binary asks for (`libelf.so.1`).
    pub path: String,
    /// Its sha256, checked before it is pushed.
    pub sha256: Option<String>,
}

/// At most `max` restarts within `window`, the first after `backoff`,
/// doubled after each up to `backoff_max`; past that the host falls back
/// to its previous confirmed scheduler, else the kernel's default.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartDecl {
    /// Restarts allowed within `window` (default 3; 0: never restart).
    pub max: Option<u32>,
    /// Default `5m`.
    pub window: Option<Span>,
    /// Wait before the first restart (default `1s`).
    pub backoff: Option<Span>,
    /// The longest wait (default `30s`).
    pub backoff_max: Option<Span>,
}

/// Where the binary's bytes are, once loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum BinaryLocation {
    /// Pushed to the store (from the repository or the controller).
    Pushed,
    /// Installed on the hosts at `path`, with the digest declared for it.
    Installed { path: String, sha256: Option<String> },
}

/// A binary scheduler as loaded: files read and checked, arguments not yet
/// rendered.
#[derive(Debug, Clone)]
pub struct BinarySource {
    /// The ops name's first part (`bpfland` for `scx:scx_bpfland`).
    pub ops_name: String,
    pub version: Option<String>,
    pub location: BinaryLocation,
    /// The identity of the binary (the pushed bytes, or only the digest of
    /// an installed one).
    pub artifact: Artifact,
    /// Pushed with it, by file name.
    pub libs: Vec<(String, Artifact)>,
    /// Each argument with where it is written.
    pub args: Vec<(Scalar, Origin)>,
    pub env: BTreeMap<String, String>,
    pub start_timeout_ms: u64,
    pub restart: RestartPolicy,
    pub takeover: bool,
}

/// The rendered binary of one host: what the agent is asked to run, and
/// what is pushed first.
#[derive(Debug, Clone)]
pub struct BinaryPlan {
    pub spec: BinarySpec,
    /// The executable's path on the host (in the store, or installed).
    pub path: String,
    /// Pushed before activation (the binary, when pushed, then its libs).
    pub push: Vec<Artifact>,
    pub takeover: bool,
}

impl BinarySource {
    /// The agent's spec with `args` rendered.
    pub fn plan(&self, args: Vec<String>) -> BinaryPlan {
        let (origin, path, mut push) = match &self.location {
            BinaryLocation::Pushed => (
                BinaryOrigin::Store,
                format!("{}/{}", schedfleet_proto::STORE_DIR, self.artifact.digest),
                vec![self.artifact.clone()],
            ),
            BinaryLocation::Installed { path, sha256 } => {
                (BinaryOrigin::Installed { path: path.clone(), sha256: sha256.clone() }, path.clone(), vec![])
            }
        };
        push.extend(self.libs.iter().map(|(_, a)| a.clone()));
        BinaryPlan {
            spec: BinarySpec {
                origin,
                args,
                env: self.env.clone(),
                ops_name: self.ops_name.clone(),
                ops_version: self.version.clone(),
                start_timeout_ms: self.start_timeout_ms,
                restart: self.restart.clone(),
                libs: self.libs.iter().map(|(n, a)| (n.clone(), a.digest.to_string())).collect(),
            },
            path,
            push,
            takeover: self.takeover,
        }
    }
}

/// The ops name a `scx:NAME` source expects: `NAME` without its `scx_`.
pub fn ops_name_of(name: &str) -> &str {
    name.strip_prefix("scx_").unwrap_or(name)
}

/// `~/x` on the controller, for paths in scheduler files.
fn controller_path(text: &str) -> PathBuf {
    match text.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest),
        None => PathBuf::from(text),
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Environment names the agent sets itself, or that would change what runs.
const RESERVED_ENV: [&str; 4] = ["PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "LD_AUDIT"];

impl BinaryDecl {
    /// Reads and checks everything that does not depend on a host. `name`
    /// is the `scx:NAME` of `source:`; `at` places messages in the file.
    pub fn load(&self, name: &str, repo: &ConfigRepo, at: &Positions) -> Result<BinarySource, BadInput> {
        let here = |path: &[crate::config::yaml::Step<'_>]| {
            let mut full = vec![Key("binary")];
            full.extend_from_slice(path);
            at.origin(&full)
        };
        let err = |o: Origin, why: String| BadInput::new(format!("{o}: {why}"));
        let ops_name = ops_name_of(name);
        if ops_name.is_empty() || !ops_name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(err(
                at.origin(&[Key("source")]),
                format!(
                    "`scx:{}`: the name must be the binary's (`scx_bpfland`), lower-case letters, digits and `_`",
                    name.escape_debug()
                ),
            ));
        }
        if let Some(s) = &self.sha256 {
            if !is_sha256(s) {
                return Err(err(
                    here(&[Key("sha256")]),
                    format!(
                        "`{}` is not a sha256 (64 lower-case hex digits; `sha256sum FILE` prints it)",
                        s.escape_debug()
                    ),
                ));
            }
        }
        if let Some(v) = &self.version {
            let ok = !v.is_empty() && v.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                return Err(err(
                    here(&[Key("version")]),
                    format!("version `{}` is not a release number such as `1.1.4`", v.escape_debug()),
                ));
            }
        }
        let sources = [("file", &self.file), ("controller", &self.controller), ("installed", &self.installed)];
        let given: Vec<&str> = sources.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| *k).collect();
        if given.len() != 1 {
            return Err(err(
                here(&[]),
                format!(
                    "give exactly one of `file:` (a binary committed in this repository), `controller:` (a file on \
                     this machine) or `installed:` (a path on the hosts); {}",
                    if given.is_empty() {
                        "none is given".to_owned()
                    } else {
                        format!("{} are given", given.join(" and "))
                    }
                ),
            ));
        }
        let (location, artifact) = if let Some(path) = &self.file {
            let o = here(&[Key("file")]);
            let bytes = repo
                .read(path)
                .map_err(|e| err(o.clone(), format!("binary `{}`: {e:#}", path.escape_debug())))?
                .ok_or_else(|| {
                    err(o.clone(), format!("binary `{path}` is not in the commit; commit it or fix the path"))
                })?;
            (BinaryLocation::Pushed, self.executable(&o, path, bytes)?)
        } else if let Some(path) = &self.controller {
            let o = here(&[Key("controller")]);
            let full = controller_path(path);
            if !full.is_absolute() {
                return Err(err(o, format!("`{}` must be an absolute path or start with `~/`", path.escape_debug())));
            }
            let bytes = crate::files::read_bounded(&full, MAX_BINARY_BYTES, "scheduler binary").map_err(|e| {
                err(o.clone(), format!("{e}; build it (for the example: `lab/setup.sh scx`) or fix the path"))
            })?;
            (BinaryLocation::Pushed, self.executable(&o, path, bytes)?)
        } else {
            let path = self.installed.as_deref().expect("one source is given");
            let o = here(&[Key("installed")]);
            if !path.starts_with('/') || path.split('/').any(|p| p == ".." || p == ".") || path.contains('\0') {
                return Err(err(
                    o,
                    format!("`{}` must be an absolute path on the hosts, without `.` or `..`", path.escape_debug()),
                ));
            }
            if self.sha256.is_none() && self.version.is_none() {
                return Err(err(
                    o,
                    "an installed binary needs `sha256:` (checked on the host before every start) or `version:` \
                     (checked in the ops name), so that a different build is noticed"
                        .to_owned(),
                ));
            }
            if !self.libs.is_empty() {
                return Err(err(
                    here(&[Key("libs")]),
                    "`libs:` are pushed with a pushed binary; an installed one uses the host's libraries: remove them"
                        .to_owned(),
                ));
            }
            let digest = match &self.sha256 {
                Some(d) => ArtifactDigest::from_hex(d),
                None => ArtifactDigest::derived(&schedfleet_proto::binary::installed_identity_input(
                    path,
                    self.version.as_deref(),
                )),
            };
            let location = BinaryLocation::Installed { path: path.to_owned(), sha256: self.sha256.clone() };
            (location, Artifact::declared(format!("installed:{path}"), digest))
        };
        let mut libs: Vec<(String, Artifact)> = Vec::new();
        for (i, lib) in self.libs.iter().enumerate() {
            let o = here(&[Key("libs"), Index(i), Key("path")]);
            let full = controller_path(&lib.path);
            let file_name = full.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned();
            if !full.is_absolute() || !file_name.contains(".so") {
                return Err(err(
                    o,
                    format!(
                        "library `{}` must be an absolute path (or `~/...`) to a shared library named as the binary \
                         asks for it (`libelf.so.1`)",
                        lib.path.escape_debug()
                    ),
                ));
            }
            if libs.iter().any(|(n, _)| *n == file_name) {
                return Err(err(o, format!("library `{file_name}` is listed twice; keep one")));
            }
            let bytes = crate::files::read_bounded(&full, MAX_BINARY_BYTES, "shared library")
                .map_err(|e| err(o.clone(), format!("{e}; fix the path or remove the library")))?;
            if !bytes.starts_with(b"\x7fELF") {
                return Err(err(o, format!("library `{}` is not an ELF shared library", lib.path.escape_debug())));
            }
            let a = Artifact::new(format!("lib:{file_name}"), bytes);
            if let Some(want) = &lib.sha256 {
                if !is_sha256(want) {
                    return Err(err(
                        here(&[Key("libs"), Index(i), Key("sha256")]),
                        format!("`{}` is not a sha256", want.escape_debug()),
                    ));
                }
                if a.digest.as_str() != want {
                    return Err(err(
                        here(&[Key("libs"), Index(i), Key("sha256")]),
                        format!(
                            "library `{}` has sha256 {}, not the {want} declared; nothing was pushed: declare the digest \
                             of the library you mean to ship",
                            lib.path.escape_debug(),
                            a.digest
                        ),
                    ));
                }
            }
            libs.push((file_name, a));
        }
        let mut env = BTreeMap::new();
        for (k, v) in &self.env {
            let o = here(&[Key("env"), Key(k)]);
            let name_ok = k.bytes().next().is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
                && k.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                return Err(err(
                    o,
                    format!("environment name `{}` must be upper-case letters, digits and `_`", k.escape_debug()),
                ));
            }
            if RESERVED_ENV.contains(&k.as_str()) {
                return Err(err(o, format!("`{k}` is set by the agent (or would change what runs); remove it")));
            }
            let text = match v {
                Scalar::Str(s) if crate::config::template::is_template(s) => {
                    return Err(err(
                        o,
                        "environment values are literal, not templates; use `args:` for per-host values".to_owned(),
                    ))
                }
                Scalar::Str(s) => s.clone(),
                other => other.to_string(),
            };
            if text.contains('\0') || text.contains('\n') {
                return Err(err(o, "an environment value must be one line".to_owned()));
            }
            env.insert(k.clone(), text);
        }
        let ms = |s: Option<Span>, default_ms: u64| s.map_or(default_ms, |s| s.0.as_millis() as u64);
        let start_timeout_ms = ms(self.start_timeout, DEFAULT_START_TIMEOUT_MS);
        if !(1_000..=600_000).contains(&start_timeout_ms) {
            return Err(err(here(&[Key("start_timeout")]), "`start_timeout` must be within 1s..=10m".to_owned()));
        }
        let d = RestartPolicy::default();
        let restart = RestartPolicy {
            max: self.restart.max.unwrap_or(d.max),
            window_secs: self.restart.window.map_or(d.window_secs, |s| s.0.as_secs()),
            backoff_initial_ms: ms(self.restart.backoff, d.backoff_initial_ms),
            backoff_max_ms: ms(self.restart.backoff_max, d.backoff_max_ms),
        };
        if restart.max > 100 {
            return Err(err(
                here(&[Key("restart"), Key("max")]),
                "`max` above 100 is a restart loop; at most 100".to_owned(),
            ));
        }
        if restart.window_secs == 0 {
            return Err(err(here(&[Key("restart"), Key("window")]), "`window` must be at least 1s".to_owned()));
        }
        if restart.backoff_initial_ms == 0 || restart.backoff_initial_ms > restart.backoff_max_ms {
            return Err(err(
                here(&[Key("restart")]),
                format!(
                    "`backoff` ({} ms) must be above zero and at most `backoff_max` ({} ms): restarts without a pause are a loop",
                    restart.backoff_initial_ms, restart.backoff_max_ms
                ),
            ));
        }
        let args: Vec<(Scalar, Origin)> =
            self.args.iter().enumerate().map(|(i, a)| (a.clone(), here(&[Key("args"), Index(i)]))).collect();
        // Arguments without templates are checked now; the others once rendered.
        if args.iter().all(|(a, _)| !matches!(a, Scalar::Str(s) if crate::config::template::is_template(s))) {
            let plain: Vec<String> = args.iter().map(|(a, _)| arg_text(a)).collect();
            super::flags::check(ops_name, &plain).map_err(|why| err(here(&[Key("args")]), why))?;
        }
        Ok(BinarySource {
            ops_name: ops_name.to_owned(),
            version: self.version.clone(),
            location,
            artifact,
            libs,
            args,
            env,
            start_timeout_ms,
            restart,
            takeover: self.takeover,
        })
    }

    /// Checks that `bytes` are an ELF executable and match `sha256:`.
    fn executable(&self, at: &Origin, path: &str, bytes: Vec<u8>) -> Result<Artifact, BadInput> {
        if !bytes.starts_with(b"\x7fELF") {
            return Err(BadInput::new(format!(
                "{at}: binary `{}` is not an ELF executable; give the scheduler's binary (`scx_bpfland`), not a script",
                path.escape_debug()
            )));
        }
        let a = Artifact::new(format!("binary:{path}"), bytes);
        if let Some(want) = &self.sha256 {
            if a.digest.as_str() != want {
                return Err(BadInput::new(format!(
                    "{at}: binary `{}` has sha256 {}, not the {want} declared in `sha256:`; nothing was pushed to \
                     any host: rebuild the declared binary or declare the digest of this one",
                    path.escape_debug(),
                    a.digest
                )));
            }
        }
        Ok(a)
    }
}

/// An argument as the process gets it.
pub fn arg_text(a: &Scalar) -> String {
    match a {
        Scalar::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use schedfleet_proto::BinaryOrigin;

    use crate::config::{placeholder_facts, Templates};
    use crate::testing::try_desired_with;

    const FLEET: &str = "assignments:\n  - { hosts: all, scheduler: simple, params: { slice_us: 4000 } }\n";
    /// Not a real scheduler: an ELF header is all loading looks at.
    const ELF: &[u8] = b"\x7fELF\x02\x01\x01 a scheduler binary";

    fn load(scheduler: &str) -> anyhow::Result<crate::config::DesiredState> {
        let fleet = "assignments:\n  - { hosts: all, scheduler: simple }\n";
        try_desired_with(2, fleet, scheduler, &[("bin/scx_bpfland", ELF)])
    }

    fn err(scheduler: &str) -> String {
        format!("{:#}", load(scheduler).unwrap_err())
    }

    const BPFLAND: &str = "source: scx:scx_bpfland\nparams:\n  slice_us: { type: u64, min: 100 }\nbinary:\n  file: bin/scx_bpfland\n  version: 1.1.4\n  args: [--slice-us, '{{ params.slice_us }}', -k]\n  env: { SCX_TIMEOUT_MS: 5000 }\n  start_timeout: 20s\n  restart: { max: 2, window: 1m, backoff: 500ms, backoff_max: 4s }\n";

    #[test]
    fn a_committed_binary_is_pushed_with_rendered_arguments() {
        let d = try_desired_with(2, FLEET, BPFLAND, &[("bin/scx_bpfland", ELF)]).unwrap();
        let plan = d.hosts[0].render(&Templates::default(), &placeholder_facts()).unwrap();
        let b = plan.binary.as_ref().expect("a binary plan");
        assert_eq!(b.spec.args, ["--slice-us", "4000", "-k"]);
        assert_eq!(b.spec.origin, BinaryOrigin::Store);
        assert_eq!(b.path, format!("/var/lib/schedfleet/store/{}", crate::artifact::ArtifactDigest::of(ELF)));
        assert_eq!(plan.artifact.digest, crate::artifact::ArtifactDigest::of(ELF));
        assert_eq!((b.spec.ops_name.as_str(), b.spec.ops_version.as_deref()), ("bpfland", Some("1.1.4")));
        assert_eq!(b.spec.env["SCX_TIMEOUT_MS"], "5000");
        assert_eq!(b.spec.start_timeout_ms, 20_000);
        assert_eq!(
            (
                b.spec.restart.max,
                b.spec.restart.window_secs,
                b.spec.restart.backoff_initial_ms,
                b.spec.restart.backoff_max_ms
            ),
            (2, 60, 500, 4000)
        );
        assert_eq!(b.push.len(), 1, "the binary, no libs");
    }

    #[test]
    fn an_installed_binary_is_named_by_its_declared_digest_or_path_and_version() {
        let d = load("source: scx:scx_bpfland\nbinary: { installed: /usr/bin/scx_bpfland, version: 1.1.4 }\n").unwrap();
        let plan = d.hosts[0].render(&Templates::default(), &placeholder_facts()).unwrap();
        let b = plan.binary.unwrap();
        assert!(b.push.is_empty(), "nothing is pushed");
        assert_eq!(b.path, "/usr/bin/scx_bpfland");
        let identity = schedfleet_proto::binary::installed_identity_input("/usr/bin/scx_bpfland", Some("1.1.4"));
        assert_eq!(plan.artifact.digest, crate::artifact::ArtifactDigest::of(identity.as_bytes()));
        let sha = "ab".repeat(32);
        let d =
            load(&format!("source: scx:scx_bpfland\nbinary: {{ installed: /usr/bin/scx_bpfland, sha256: {sha} }}\n"))
                .unwrap();
        assert_eq!(d.hosts[0].artifact.digest.as_str(), sha);
    }

    #[test]
    fn a_digest_that_does_not_match_is_refused_with_both_digests() {
        let wrong = "0".repeat(64);
        let e = err(&format!("source: scx:scx_bpfland\nbinary: {{ file: bin/scx_bpfland, sha256: {wrong} }}\n"));
        assert!(e.starts_with("`schedulers/simple.yaml` line 2: binary `bin/scx_bpfland` has sha256 "), "{e}");
        assert!(e.contains(&format!("not the {wrong} declared")) && e.contains("nothing was pushed"), "{e}");
    }

    #[test]
    fn bad_binary_sections_are_refused_with_file_and_line() {
        let cases: &[(&str, &str)] = &[
            ("source: scx:scx_bpfland\n", "needs a `binary:` section"),
            ("source: builtin:simple\nbinary: { installed: /x }\n", "remove `binary:` or change `source:`"),
            ("source: scx:scx_bpfland\nbinary: { installed: /usr/bin/x }\n", "needs `sha256:`"),
            ("source: scx:scx_bpfland\nbinary: { installed: usr/bin/x, version: 1.1.4 }\n", "absolute path"),
            ("source: scx:scx_bpfland\nbinary: { file: bin/scx_bpfland, installed: /x }\n", "file and installed are given"),
            ("source: scx:scx_bpfland\nbinary: { file: bin/nope }\n", "is not in the commit"),
            ("source: scx:scx_bpfland\nbinary: { controller: /nonexistent/scx_bpfland }\n", "lab/setup.sh scx"),
            ("source: scx:scx_bpfland\nbinary: { file: bin/scx_bpfland, args: [--slice-us, fast] }\n", "takes an unsigned integer, not `fast`"),
            ("source: scx:scx_bpfland\nbinary: { file: bin/scx_bpfland, args: [--monitor, 1] }\n", "print and exit"),
            ("source: scx:scx_bpfland\nbinary: { file: bin/scx_bpfland, env: { LD_PRELOAD: x } }\n", "set by the agent"),
            ("source: scx:scx_bpfland\nbinary: { file: bin/scx_bpfland, restart: { backoff: 0ms } }\n", "restarts without a pause are a loop"),
            ("source: scx:scx_bpfland\nbinary: { file: bin/scx_bpfland, restart: { max: 1000 } }\n", "restart loop"),
            ("source: scx:scx_bpfland\nbinary: { file: bin/scx_bpfland, version: v1 }\n", "not a release number"),
            ("source: scx:scx_bpfland\nbinary: { file: bin/scx_bpfland, libs: [ { path: /nonexistent/libelf.so.1 } ] }\n", "cannot read shared library"),
            ("source: scx:scx_bpfland\nbinary: { file: bin/scx_bpfland, start_timeout: 0s }\n", "within 1s..=10m"),
            ("source: scx:scx_bpfland\nbinary: { file: bin/scx_bpfland, bogus: 1 }\n", "bogus"),
        ];
        for (yaml, want) in cases {
            let e = err(yaml);
            assert!(e.contains("`schedulers/simple.yaml`"), "{yaml}: {e}");
            assert!(e.contains(want), "{yaml}: wanted `{want}` in: {e}");
        }
    }

    #[test]
    fn a_templated_argument_is_checked_once_rendered_without_showing_a_secret_value() {
        let yaml = "source: scx:scx_bpfland\nparams:\n  mode: { type: i64 }\nbinary:\n  file: bin/scx_bpfland\n  args: [--slice-us, '{{ params.mode }}']\n";
        let d = try_desired_with(
            1,
            "assignments:\n  - { hosts: all, scheduler: simple, params: { mode: -31337 } }\n",
            yaml,
            &[("bin/scx_bpfland", ELF)],
        )
        .unwrap();
        let e = d.hosts[0].render(&Templates::default(), &placeholder_facts()).unwrap_err().to_string();
        assert!(e.contains("`--slice-us` takes an unsigned integer"), "{e}");
        assert!(!e.contains("31337"), "a parameter not declared public is not shown: {e}");
    }

    #[test]
    fn libraries_are_pushed_with_the_binary_under_their_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libelf.so.1");
        std::fs::write(&lib, b"\x7fELF a library").unwrap();
        let yaml = format!(
            "source: scx:scx_bpfland\nbinary: {{ file: bin/scx_bpfland, libs: [ {{ path: {} }} ] }}\n",
            lib.display()
        );
        let d = load(&yaml).unwrap();
        let b = d.hosts[0].render(&Templates::default(), &placeholder_facts()).unwrap().binary.unwrap();
        assert_eq!(b.push.len(), 2);
        assert_eq!(b.spec.libs.keys().collect::<Vec<_>>(), ["libelf.so.1"]);
        let wrong = format!(
            "source: scx:scx_bpfland\nbinary: {{ file: bin/scx_bpfland, libs: [ {{ path: {}, sha256: {} }} ] }}\n",
            lib.display(),
            "1".repeat(64)
        );
        assert!(err(&wrong).contains("declare the digest of the library you mean to ship"));
    }
}
