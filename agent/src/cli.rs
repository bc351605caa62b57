//! The agent's command line. Deliberately tiny (lexopt, no clap): the agent
//! is pushed to every host, so its size matters, and its callers are the
//! controller and people debugging a host, not scripts.

use std::collections::BTreeMap;
use std::ffi::OsString;

use lexopt::prelude::*;
use schedfleet_proto::bounds::{self, Bounds};
use schedfleet_proto::{is_sha256_hex, ErrorKind};

use crate::error::{Failure, Result};
use crate::health::user_probe::{self, Probe};

pub const USAGE: &str = "usage:
  schedfleet-agent facts
  schedfleet-agent status [--latency-window MS] [--cgroup PATH] [--probes JSON]
  schedfleet-agent activate OBJECT --sha256 HEX [--param NAME=VALUE]... [--commit ID] [--replace]
                   [--binary SPEC_JSON [--takeover]]   (OBJECT is then the executable)
                   [--confirm-within SECS [--watch-interval-ms MS] [--probes JSON] [--probe-interval-ms MS]]
  schedfleet-agent confirm --artifact HEX
  schedfleet-agent rollback
  schedfleet-agent deactivate
  schedfleet-agent recover              (undo a change an agent killed mid-way left; for boot)
  schedfleet-agent lease acquire --owner TEXT --ttl SECS
  schedfleet-agent lease release --owner TEXT
  schedfleet-agent store has HEX...
  schedfleet-agent store put HEX        (the artifact's bytes on stdin)
  schedfleet-agent --version
  (schedfleet-agent watch ... is the watchdog `activate --confirm-within` starts, and
   schedfleet-agent supervise ... the supervisor `activate --binary` starts)";

#[derive(Debug, PartialEq)]
pub enum Command {
    Version,
    Facts,
    Status(StatusArgs),
    Activate(ActivateArgs),
    Confirm {
        artifact: String,
    },
    Rollback,
    Deactivate,
    Recover,
    LeaseAcquire {
        owner: String,
        ttl: u64,
    },
    LeaseRelease {
        owner: String,
    },
    Watch(WatchArgs),
    /// The supervisor of an upstream scheduler binary (`scx::supervisor`),
    /// started by the command that activates it.
    Supervise {
        artifact: String,
    },
    StoreHas(Vec<String>),
    StorePut(String),
}

/// How long `status` measures wake-up latency when not told.
pub const DEFAULT_LATENCY_WINDOW_MS: u64 = 1000;

#[derive(Debug, PartialEq)]
pub struct StatusArgs {
    /// How long the wake-up latency probe is attached; 0 leaves it out.
    pub latency_window_ms: u64,
    /// Only measure tasks of this cgroup v2 (and below).
    pub cgroup: Option<String>,
    /// User probes to run alongside the window (`--probes`, checked here).
    pub probes: Vec<Probe>,
    /// `--probes` as given (what the controller's `proto::Request` holds).
    pub probes_json: Option<String>,
}

impl Default for StatusArgs {
    fn default() -> Self {
        StatusArgs { latency_window_ms: DEFAULT_LATENCY_WINDOW_MS, cgroup: None, probes: Vec::new(), probes_json: None }
    }
}

#[derive(Debug, PartialEq)]
pub struct ActivateArgs {
    pub object: String,
    pub sha256: String,
    pub params: BTreeMap<String, String>,
    pub commit: Option<String>,
    /// Replace a scheduler this agent loaded earlier; without it an active
    /// scheduler is an error.
    pub replace: bool,
    /// `--confirm-within` and its watchdog's options; `None`: the
    /// activation is confirmed at once.
    pub confirm: Option<ConfirmArgs>,
    /// `--binary JSON`: an upstream scheduler binary to run and supervise;
    /// `object` is then the executable's path.
    pub binary: Option<schedfleet_proto::BinarySpec>,
    /// `--takeover`: stop a competing sched_ext manager first.
    pub takeover: bool,
}

/// How an unconfirmed activation is watched until `confirm`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmArgs {
    /// Seconds until the watchdog reverts an activation not confirmed.
    pub within: u64,
    /// How often the watchdog reads the kernel's state.
    pub watch_interval_ms: u64,
    /// How often the watchdog runs the probes.
    pub probe_interval_ms: u64,
    pub probes: Vec<Probe>,
    /// `--probes` as given, handed on to the watchdog.
    pub probes_json: Option<String>,
}

/// `watch`: the watchdog of one unconfirmed activation, named by its
/// artifact and the kernel's `enable_seq` right after it.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchArgs {
    pub artifact: String,
    pub enable_seq: u64,
    pub watch_interval_ms: u64,
    pub probe_interval_ms: u64,
    pub probes: Vec<Probe>,
}

pub const DEFAULT_WATCH_INTERVAL_MS: u64 = 100;
pub const DEFAULT_PROBE_INTERVAL_MS: u64 = 2000;
/// `--enable-seq` of `watch`: any counter value.
const ENABLE_SEQ: Bounds = Bounds { min: 0, max: u64::MAX, unit: "" };

/// The arguments after `watch` that start the watchdog of `artifact`,
/// parsed back by [`parse`].
pub fn watch_command_line(artifact: &str, enable_seq: u64, confirm: &ConfirmArgs) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--artifact".into(),
        artifact.into(),
        "--enable-seq".into(),
        enable_seq.to_string().into(),
        "--watch-interval-ms".into(),
        confirm.watch_interval_ms.to_string().into(),
        "--probe-interval-ms".into(),
        confirm.probe_interval_ms.to_string().into(),
    ];
    if let Some(json) = &confirm.probes_json {
        args.extend(["--probes".into(), json.into()]);
    }
    args
}

fn usage(msg: impl std::fmt::Display) -> Failure {
    Failure::new(ErrorKind::Usage, format!("{msg}\n{USAGE}"))
}

fn lex(err: lexopt::Error) -> Failure {
    usage(err)
}

/// A whole number within `bounds` (one of `proto::bounds`, which the
/// controller's `validate` checks too), for `--option`.
fn number(parser: &mut lexopt::Parser, option: &str, bounds: Bounds) -> Result<u64> {
    let text = parser.value().map_err(lex)?.string().map_err(lex)?;
    text.parse()
        .ok()
        .filter(|&n| bounds.contains(n))
        .ok_or_else(|| usage(format_args!("--{option} `{text}`: {}", bounds.expected().trim_end())))
}

fn text(parser: &mut lexopt::Parser) -> Result<String> {
    parser.value().map_err(lex)?.string().map_err(lex)
}

fn probes(json: &str) -> Result<Vec<Probe>> {
    user_probe::parse(json).map_err(|e| usage(format_args!("--probes: {e}")))
}

fn digest(value: OsString) -> Result<String> {
    let s = value.string().map_err(lex)?;
    if is_sha256_hex(&s) {
        Ok(s)
    } else {
        Err(usage(format_args!("`{s}` is not a lower-case hex sha256 digest")))
    }
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    let mut parser = lexopt::Parser::from_iter(args);
    let verb = match parser.next().map_err(lex)? {
        Some(Long("version")) => return Ok(Command::Version),
        Some(Value(v)) => v.string().map_err(lex)?,
        Some(other) => return Err(usage(other.unexpected())),
        None => return Err(usage("missing command")),
    };
    let command = match verb.as_str() {
        "facts" => Command::Facts,
        "status" => return parse_status(parser),
        "deactivate" => Command::Deactivate,
        "rollback" => Command::Rollback,
        "recover" => Command::Recover,
        "activate" => return parse_activate(parser),
        "confirm" => return parse_confirm(parser),
        "lease" => return parse_lease(parser),
        "watch" => return parse_watch(parser),
        "supervise" => return parse_supervise(parser),
        "store" => return parse_store(parser),
        other => return Err(usage(format_args!("unknown command `{other}`"))),
    };
    if let Some(extra) = parser.next().map_err(lex)? {
        return Err(usage(extra.unexpected()));
    }
    Ok(command)
}

fn parse_activate(mut parser: lexopt::Parser) -> Result<Command> {
    let (mut object, mut sha256, mut commit, mut replace) = (None, None, None, false);
    let (mut binary, mut takeover) = (None, false);
    let mut params = BTreeMap::new();
    let (mut within, mut watch_interval_ms, mut probe_interval_ms, mut probes_json) = (None, None, None, None);
    while let Some(arg) = parser.next().map_err(lex)? {
        match arg {
            Long("confirm-within") => {
                within = Some(number(&mut parser, "confirm-within", bounds::CONFIRM_WITHIN_SECS)?)
            }
            Long("watch-interval-ms") => {
                watch_interval_ms = Some(number(&mut parser, "watch-interval-ms", bounds::WATCH_INTERVAL_MS)?)
            }
            Long("probe-interval-ms") => {
                probe_interval_ms = Some(number(&mut parser, "probe-interval-ms", bounds::PROBE_INTERVAL_MS)?)
            }
            Long("probes") => {
                if probes_json.is_some() {
                    return Err(usage("--probes given twice: give every probe in one JSON list"));
                }
                probes_json = Some(text(&mut parser)?);
            }
            Long("sha256") => sha256 = Some(digest(parser.value().map_err(lex)?)?),
            Long("commit") => commit = Some(parser.value().map_err(lex)?.string().map_err(lex)?),
            Long("replace") => replace = true,
            Long("takeover") => takeover = true,
            Long("binary") => {
                let json = text(&mut parser)?;
                binary = Some(
                    serde_json::from_str::<schedfleet_proto::BinarySpec>(&json)
                        .map_err(|e| usage(format_args!("--binary: {e}")))?,
                );
            }
            Long("param") => {
                let kv = parser.value().map_err(lex)?.string().map_err(lex)?;
                let (k, v) =
                    kv.split_once('=').ok_or_else(|| usage(format_args!("`--param {kv}` is not NAME=VALUE")))?;
                if params.insert(k.to_owned(), v.to_owned()).is_some() {
                    return Err(usage(format_args!("parameter `{k}` given twice")));
                }
            }
            Value(v) if object.is_none() => object = Some(v.string().map_err(lex)?),
            other => return Err(usage(other.unexpected())),
        }
    }
    let confirm = match within {
        Some(within) => Some(ConfirmArgs {
            within,
            watch_interval_ms: watch_interval_ms.unwrap_or(DEFAULT_WATCH_INTERVAL_MS),
            probe_interval_ms: probe_interval_ms.unwrap_or(DEFAULT_PROBE_INTERVAL_MS),
            probes: probes_json.as_deref().map(probes).transpose()?.unwrap_or_default(),
            probes_json,
        }),
        None if watch_interval_ms.is_some() || probe_interval_ms.is_some() || probes_json.is_some() => {
            return Err(usage(
                "--watch-interval-ms, --probes and --probe-interval-ms configure the watchdog of --confirm-within; \
                 give --confirm-within too",
            ))
        }
        None => None,
    };
    Ok(Command::Activate(ActivateArgs {
        object: object.ok_or_else(|| usage("activate needs the OBJECT path"))?,
        sha256: sha256.ok_or_else(|| usage("activate needs --sha256: nothing is loaded unverified"))?,
        params,
        commit,
        replace,
        confirm,
        binary,
        takeover,
    }))
}

fn parse_confirm(mut parser: lexopt::Parser) -> Result<Command> {
    let mut artifact = None;
    while let Some(arg) = parser.next().map_err(lex)? {
        match arg {
            Long("artifact") => artifact = Some(digest(parser.value().map_err(lex)?)?),
            other => return Err(usage(other.unexpected())),
        }
    }
    Ok(Command::Confirm { artifact: artifact.ok_or_else(|| usage("confirm needs --artifact HEX"))? })
}

fn parse_lease(mut parser: lexopt::Parser) -> Result<Command> {
    let sub = match parser.next().map_err(lex)? {
        Some(Value(v)) => v.string().map_err(lex)?,
        _ => return Err(usage("lease needs `acquire` or `release`")),
    };
    let (mut owner, mut ttl) = (None, None);
    while let Some(arg) = parser.next().map_err(lex)? {
        match arg {
            Long("owner") => {
                let text = text(&mut parser)?;
                if text.trim().is_empty()
                    || !bounds::LEASE_OWNER_BYTES.contains(text.len() as u64)
                    || text.contains('\0')
                {
                    return Err(usage(format_args!(
                        "--owner: {} of text without NUL",
                        bounds::LEASE_OWNER_BYTES.expected()
                    )));
                }
                owner = Some(text);
            }
            Long("ttl") if sub == "acquire" => ttl = Some(number(&mut parser, "ttl", bounds::LEASE_TTL_SECS)?),
            other => return Err(usage(other.unexpected())),
        }
    }
    let owner = owner.ok_or_else(|| usage(format_args!("lease {sub} needs --owner TEXT")))?;
    match sub.as_str() {
        "acquire" => {
            Ok(Command::LeaseAcquire { owner, ttl: ttl.ok_or_else(|| usage("lease acquire needs --ttl SECS"))? })
        }
        "release" => Ok(Command::LeaseRelease { owner }),
        other => Err(usage(format_args!("unknown lease command `{other}`"))),
    }
}

fn parse_watch(mut parser: lexopt::Parser) -> Result<Command> {
    let (mut artifact, mut enable_seq, mut probes_list) = (None, None, Vec::new());
    let mut watch_interval_ms = DEFAULT_WATCH_INTERVAL_MS;
    let mut probe_interval_ms = DEFAULT_PROBE_INTERVAL_MS;
    while let Some(arg) = parser.next().map_err(lex)? {
        match arg {
            Long("artifact") => artifact = Some(digest(parser.value().map_err(lex)?)?),
            Long("enable-seq") => enable_seq = Some(number(&mut parser, "enable-seq", ENABLE_SEQ)?),
            Long("watch-interval-ms") => {
                watch_interval_ms = number(&mut parser, "watch-interval-ms", bounds::WATCH_INTERVAL_MS)?
            }
            Long("probe-interval-ms") => {
                probe_interval_ms = number(&mut parser, "probe-interval-ms", bounds::PROBE_INTERVAL_MS)?
            }
            Long("probes") => probes_list = probes(&text(&mut parser)?)?,
            other => return Err(usage(other.unexpected())),
        }
    }
    Ok(Command::Watch(WatchArgs {
        artifact: artifact.ok_or_else(|| usage("watch needs --artifact HEX"))?,
        enable_seq: enable_seq.ok_or_else(|| usage("watch needs --enable-seq N"))?,
        watch_interval_ms,
        probe_interval_ms,
        probes: probes_list,
    }))
}

fn parse_supervise(mut parser: lexopt::Parser) -> Result<Command> {
    let mut artifact = None;
    while let Some(arg) = parser.next().map_err(lex)? {
        match arg {
            Long("artifact") => artifact = Some(digest(parser.value().map_err(lex)?)?),
            other => return Err(usage(other.unexpected())),
        }
    }
    Ok(Command::Supervise { artifact: artifact.ok_or_else(|| usage("supervise needs --artifact HEX"))? })
}

fn parse_status(mut parser: lexopt::Parser) -> Result<Command> {
    let mut args = StatusArgs::default();
    let mut probes_given = false;
    while let Some(arg) = parser.next().map_err(lex)? {
        match arg {
            Long("latency-window") => {
                args.latency_window_ms = number(&mut parser, "latency-window", bounds::LATENCY_WINDOW_MS)?;
            }
            Long("cgroup") => args.cgroup = Some(parser.value().map_err(lex)?.string().map_err(lex)?),
            Long("probes") => {
                if probes_given {
                    return Err(usage("--probes given twice: give every probe in one JSON list"));
                }
                probes_given = true;
                let json = text(&mut parser)?;
                args.probes = probes(&json)?;
                args.probes_json = Some(json);
            }
            other => return Err(usage(other.unexpected())),
        }
    }
    Ok(Command::Status(args))
}

fn parse_store(mut parser: lexopt::Parser) -> Result<Command> {
    let sub = match parser.next().map_err(lex)? {
        Some(Value(v)) => v.string().map_err(lex)?,
        _ => return Err(usage("store needs `has` or `put`")),
    };
    let mut digests = Vec::new();
    while let Some(arg) = parser.next().map_err(lex)? {
        match arg {
            Value(v) => digests.push(digest(v)?),
            other => return Err(usage(other.unexpected())),
        }
    }
    match (sub.as_str(), digests.len()) {
        ("has", _) => Ok(Command::StoreHas(digests)),
        ("put", 1) => Ok(Command::StorePut(digests.remove(0))),
        ("put", _) => Err(usage("store put takes exactly one digest")),
        (other, _) => Err(usage(format_args!("unknown store command `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command> {
        parse(std::iter::once("schedfleet-agent").chain(args.iter().copied()).map(OsString::from))
    }

    #[test]
    fn activate_parses_params_and_digest() {
        let hex = "ab".repeat(32);
        let cmd = p(&["activate", "/x.o", "--sha256", &hex, "--param", "slice_ns=100", "--replace"]).unwrap();
        let Command::Activate(a) = cmd else { panic!("{cmd:?}") };
        assert_eq!(a.object, "/x.o");
        assert_eq!(a.params["slice_ns"], "100");
        assert!(a.replace);
    }

    #[test]
    fn activate_without_digest_is_refused() {
        let err = p(&["activate", "/x.o"]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert!(err.message.contains("--sha256"), "{}", err.message);
    }

    #[test]
    fn store_rejects_path_like_digests() {
        assert!(p(&["store", "put", "../../etc/passwd"]).is_err());
        assert!(p(&["store", "put"]).is_err());
        assert_eq!(p(&["store", "has"]).unwrap(), Command::StoreHas(vec![]));
    }

    #[test]
    fn status_takes_a_latency_window_and_a_cgroup() {
        assert_eq!(p(&["status"]).unwrap(), Command::Status(StatusArgs::default()));
        let cmd = p(&["status", "--latency-window", "0", "--cgroup", "system.slice/x.service"]).unwrap();
        assert_eq!(
            cmd,
            Command::Status(StatusArgs {
                latency_window_ms: 0,
                cgroup: Some("system.slice/x.service".into()),
                probes: vec![],
                probes_json: None,
            })
        );
        assert_eq!(
            p(&["status", "--latency-window=250"]).unwrap(),
            Command::Status(StatusArgs { latency_window_ms: 250, ..Default::default() })
        );
        for bad in [
            &["status", "--latency-window", "-1"][..],
            &["status", "--latency-window", "1s"],
            &["status", "--latency-window", "600001"],
            &["status", "--latency-window"],
            &["status", "extra"],
        ] {
            assert_eq!(p(bad).unwrap_err().kind, ErrorKind::Usage, "{bad:?}");
        }
    }

    #[test]
    fn status_takes_probes_as_one_json_list() {
        let json = r#"[{"name":"api","http":"http://127.0.0.1:8000/health","timeout_ms":2000},
                       {"name":"db","command":["pg_isready"],"timeout_ms":1000}]"#;
        let Command::Status(args) = p(&["status", "--latency-window", "500", "--probes", json]).unwrap() else {
            panic!("not status")
        };
        let names: Vec<_> = args.probes.iter().map(|probe| probe.name.as_str()).collect();
        assert_eq!((args.latency_window_ms, names), (500, vec!["api", "db"]));
        for (bad, says) in [
            (&["status", "--probes", "{"][..], "--probes: not a JSON list of probes"),
            (&["status", "--probes", r#"[{"name":"a","timeout_ms":5}]"#], "neither `command` nor `http`"),
            (&["status", "--probes", r#"[{"name":"a","http":"https://[::1]/","timeout_ms":5}]"#], "no TLS"),
            (&["status", "--probes", "[]", "--probes", "[]"], "--probes given twice"),
            (&["status", "--probes"], "--probes"),
        ] {
            let err = p(bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Usage, "{bad:?}");
            assert!(err.message.contains(says), "{bad:?}: {}", err.message);
        }
    }

    fn usage_error(args: &[&str], says: &str) {
        let err = p(args).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage, "{args:?}");
        assert!(err.message.contains(says), "{args:?}: {}", err.message);
    }

    #[test]
    fn activate_is_confirmed_at_once_unless_told() {
        let hex = "ab".repeat(32);
        let Command::Activate(a) = p(&["activate", "/x.o", "--sha256", &hex]).unwrap() else { panic!() };
        assert_eq!(a.confirm, None);
        let Command::Activate(a) = p(&["activate", "/x.o", "--sha256", &hex, "--confirm-within", "120"]).unwrap()
        else {
            panic!()
        };
        let c = a.confirm.unwrap();
        assert_eq!((c.within, c.watch_interval_ms, c.probe_interval_ms), (120, 100, 2000));
        assert_eq!((c.probes, c.probes_json), (vec![], None));
    }

    #[test]
    fn activate_takes_the_watchdogs_options_with_confirm_within() {
        let hex = "ab".repeat(32);
        let json = r#"[{"name":"p","command":["false"],"timeout_ms":1000}]"#;
        let cmd = p(&[
            "activate",
            "/x.o",
            "--sha256",
            &hex,
            "--replace",
            "--probes",
            json,
            "--confirm-within=5",
            "--watch-interval-ms",
            "50",
            "--probe-interval-ms",
            "500",
        ])
        .unwrap();
        let Command::Activate(a) = cmd else { panic!() };
        let c = a.confirm.unwrap();
        assert_eq!((c.within, c.watch_interval_ms, c.probe_interval_ms), (5, 50, 500));
        assert_eq!(c.probes[0].name, "p");
        assert_eq!(c.probes_json.as_deref(), Some(json));
        for (bad, says) in [
            (&["--watch-interval-ms", "50"][..], "give --confirm-within too"),
            (&["--probes", "[]"], "give --confirm-within too"),
            (&["--confirm-within", "0"], "--confirm-within `0`: expected 1 to 604800 seconds"),
            (&["--confirm-within", "2m"], "--confirm-within `2m`"),
            (&["--confirm-within", "5", "--watch-interval-ms", "5"], "expected 10 to 60000 milliseconds"),
            (&["--confirm-within", "5", "--probe-interval-ms", "99"], "expected 100 to 3600000"),
            (&["--confirm-within", "5", "--probes", "[{"], "--probes: not a JSON list"),
            (&["--confirm-within", "5", "--probes", "[]", "--probes", "[]"], "--probes given twice"),
        ] {
            let mut args = vec!["activate", "/x.o", "--sha256", &hex];
            args.extend_from_slice(bad);
            usage_error(&args, says);
        }
    }

    #[test]
    fn the_watchdogs_command_line_parses_back() {
        let hex = "cd".repeat(32);
        let json = r#"[{"name":"p","command":["false"],"timeout_ms":1000}]"#;
        let confirm = ConfirmArgs {
            within: 5,
            watch_interval_ms: 100,
            probe_interval_ms: 2000,
            probes: user_probe::parse(json).unwrap(),
            probes_json: Some(json.into()),
        };
        let line = watch_command_line(&hex, 17, &confirm);
        let parsed =
            parse(["schedfleet-agent".into(), "watch".into()].into_iter().chain(line).collect::<Vec<OsString>>())
                .unwrap();
        assert_eq!(
            parsed,
            Command::Watch(WatchArgs {
                artifact: hex,
                enable_seq: 17,
                watch_interval_ms: 100,
                probe_interval_ms: 2000,
                probes: confirm.probes,
            })
        );
        usage_error(&["watch", "--enable-seq", "1"], "--artifact");
        usage_error(&["watch", "--artifact", &"a".repeat(64)], "--enable-seq");
    }

    #[test]
    fn confirm_needs_a_digest() {
        let hex = "ef".repeat(32);
        assert_eq!(p(&["confirm", "--artifact", &hex]).unwrap(), Command::Confirm { artifact: hex });
        usage_error(&["confirm"], "--artifact");
        usage_error(&["confirm", "--artifact", "simple"], "not a lower-case hex sha256");
        assert_eq!(p(&["rollback"]).unwrap(), Command::Rollback);
        assert_eq!(p(&["recover"]).unwrap(), Command::Recover);
        usage_error(&["recover", "--now"], "--now");
        usage_error(&["rollback", "--previous"], "--previous");
    }

    #[test]
    fn lease_takes_an_owner_and_a_ttl() {
        let owner = "alice@laptop pid 42 run 7f3a";
        assert_eq!(
            p(&["lease", "acquire", "--owner", owner, "--ttl", "600"]).unwrap(),
            Command::LeaseAcquire { owner: owner.into(), ttl: 600 }
        );
        assert_eq!(p(&["lease", "release", "--owner", owner]).unwrap(), Command::LeaseRelease { owner: owner.into() });
        usage_error(&["lease"], "`acquire` or `release`");
        usage_error(&["lease", "steal", "--owner", "x"], "unknown lease command `steal`");
        usage_error(&["lease", "acquire", "--owner", "x"], "--ttl");
        usage_error(&["lease", "acquire", "--ttl", "5"], "--owner");
        usage_error(&["lease", "acquire", "--owner", "x", "--ttl", "0"], "expected 1 to 604830 seconds");
        usage_error(&["lease", "acquire", "--owner", " ", "--ttl", "5"], "--owner: expected");
        usage_error(&["lease", "release", "--owner", "x", "--ttl", "5"], "--ttl");
    }

    /// Every bound of `proto::bounds` this parser applies: the bound itself
    /// is taken, one past it is refused. The controller's `validate` tests
    /// the same values against the same constants (fleet's config tests and
    /// the CLI's bad-input corpus).
    #[test]
    fn the_parser_refuses_exactly_past_the_proto_bounds() {
        let hex = "ab".repeat(32);
        let activate = |option: &str, value: u64| {
            let value = value.to_string();
            let mut args = vec!["activate", "/x.o", "--sha256", &hex, "--confirm-within", "5"];
            if option == "confirm-within" {
                args.truncate(4);
            }
            let option = format!("--{option}");
            args.extend([option.as_str(), value.as_str()]);
            p(&args)
        };
        for (option, b) in [
            ("confirm-within", bounds::CONFIRM_WITHIN_SECS),
            ("watch-interval-ms", bounds::WATCH_INTERVAL_MS),
            ("probe-interval-ms", bounds::PROBE_INTERVAL_MS),
        ] {
            assert!(activate(option, b.max).is_ok(), "{option} {}", b.max);
            assert!(activate(option, b.min).is_ok(), "{option} {}", b.min);
            let err = activate(option, b.max + 1).unwrap_err();
            assert!(err.message.contains(&b.expected()), "{option}: {}", err.message);
            if b.min > 0 {
                assert!(activate(option, b.min - 1).is_err(), "{option} {}", b.min - 1);
            }
        }
        let window = |ms: u64| p(&["status", "--latency-window", &ms.to_string()]);
        assert!(window(bounds::LATENCY_WINDOW_MS.max).is_ok());
        assert!(window(bounds::LATENCY_WINDOW_MS.max + 1).is_err());
        let ttl = |secs: u64| p(&["lease", "acquire", "--owner", "o", "--ttl", &secs.to_string()]);
        assert!(ttl(bounds::LEASE_TTL_SECS.max).is_ok());
        assert!(ttl(bounds::CONFIRM_WITHIN_SECS.max + bounds::LEASE_MARGIN_SECS).is_ok());
        assert!(ttl(bounds::LEASE_TTL_SECS.max + 1).is_err());
        let owner = |n: usize| p(&["lease", "release", "--owner", &"o".repeat(n)]);
        assert!(owner(bounds::LEASE_OWNER_BYTES.max as usize).is_ok());
        assert!(owner(bounds::LEASE_OWNER_BYTES.max as usize + 1).is_err());
        let probe =
            |ms: u64| p(&["status", "--probes", &format!(r#"[{{"name":"a","command":["true"],"timeout_ms":{ms}}}]"#)]);
        assert!(probe(bounds::PROBE_TIMEOUT_MS.max).is_ok());
        assert!(probe(bounds::PROBE_TIMEOUT_MS.max + 1).is_err());
    }

    #[test]
    fn unknown_verbs_and_extra_args_are_usage_errors() {
        assert_eq!(p(&["explode"]).unwrap_err().kind, ErrorKind::Usage);
        assert_eq!(p(&["facts", "extra"]).unwrap_err().kind, ErrorKind::Usage);
        assert_eq!(p(&[]).unwrap_err().kind, ErrorKind::Usage);
    }
}

/// The controller's side of the command line, `proto::Request::args`,
/// parsed here by the agent's own parser: every request the controller can
/// send means to the agent what the controller meant.
#[cfg(test)]
mod request_round_trip {
    use schedfleet_proto::{ActivateRequest, ConfirmRequest, Request, StatusRequest};

    use super::*;

    /// What a parsed command says, in the controller's terms.
    fn as_request(command: Command) -> Request {
        match command {
            Command::Version => Request::Version,
            Command::Facts => Request::Facts,
            Command::Status(s) => Request::Status(StatusRequest {
                latency_window_ms: s.latency_window_ms,
                cgroup: s.cgroup,
                probes_json: s.probes_json,
            }),
            Command::Activate(a) => Request::Activate(ActivateRequest {
                object: a.object,
                sha256: a.sha256,
                params: a.params.into_iter().collect(),
                commit: a.commit,
                replace: a.replace,
                confirm: a.confirm.map(|c| ConfirmRequest {
                    within_secs: c.within,
                    watch_interval_ms: Some(c.watch_interval_ms),
                    probe_interval_ms: Some(c.probe_interval_ms),
                    probes_json: c.probes_json,
                }),
                binary: a.binary,
                takeover: a.takeover,
            }),
            Command::Confirm { artifact } => Request::Confirm { artifact },
            Command::Rollback => Request::Rollback,
            Command::Deactivate => Request::Deactivate,
            Command::LeaseAcquire { owner, ttl } => Request::LeaseAcquire { owner, ttl_secs: ttl },
            Command::LeaseRelease { owner } => Request::LeaseRelease { owner },
            Command::StoreHas(digests) => Request::StoreHas { digests },
            Command::StorePut(digest) => Request::StorePut { digest },
            Command::Watch(_) => panic!("the controller never sends `watch`"),
            Command::Supervise { .. } => panic!("the controller never sends `supervise`"),
            Command::Recover => panic!("the controller never sends `recover`: every command recovers first"),
        }
    }

    fn parsed(r: &Request) -> Request {
        let argv = std::iter::once("schedfleet-agent".to_owned()).chain(r.args()).map(OsString::from);
        as_request(parse(argv).unwrap_or_else(|e| panic!("{r:?} does not parse: {}", e.message)))
    }

    #[test]
    fn every_request_parses_back_to_itself() {
        let d = |c: char| c.to_string().repeat(64);
        let probes = r#"[{"name":"api","http":"http://127.0.0.1:8000/health","timeout_ms":2000}]"#.to_owned();
        let activate = ActivateRequest {
            object: format!("/var/lib/schedfleet/store/{}", d('a')),
            sha256: d('a'),
            params: vec![("note".into(), "a=b c".into()), ("slice_ns".into(), "20000000".into())],
            commit: Some("0123abc".into()),
            replace: true,
            confirm: Some(ConfirmRequest {
                within_secs: 120,
                watch_interval_ms: Some(100),
                probe_interval_ms: Some(2000),
                probes_json: Some(probes.clone()),
            }),
            binary: None,
            takeover: false,
        };
        let requests = [
            Request::Version,
            Request::Facts,
            Request::Status(StatusRequest::default()),
            Request::Status(StatusRequest {
                latency_window_ms: 1500,
                cgroup: Some("/system.slice".into()),
                probes_json: Some(probes.clone()),
            }),
            Request::Activate(activate.clone()),
            Request::Activate(ActivateRequest { confirm: None, commit: None, replace: false, ..activate.clone() }),
            Request::Activate(ActivateRequest {
                binary: Some(schedfleet_proto::BinarySpec {
                    origin: schedfleet_proto::BinaryOrigin::Installed {
                        path: "/usr/bin/scx_bpfland".into(),
                        sha256: None,
                    },
                    args: vec!["--slice-us".into(), "5000".into()],
                    env: [("SCX_TIMEOUT_MS".to_owned(), "5000".to_owned())].into(),
                    ops_name: "bpfland".into(),
                    ops_version: Some("1.1.4".into()),
                    start_timeout_ms: 30_000,
                    restart: schedfleet_proto::RestartPolicy::default(),
                    libs: Default::default(),
                }),
                takeover: true,
                params: vec![],
                ..activate
            }),
            Request::Confirm { artifact: d('b') },
            Request::Rollback,
            Request::Deactivate,
            Request::LeaseAcquire { owner: "ops@ctl pid 7 run r1".into(), ttl_secs: 330 },
            Request::LeaseRelease { owner: "ops@ctl pid 7 run r1".into() },
            Request::StoreHas { digests: vec![d('c'), d('d')] },
            Request::StorePut { digest: d('e') },
        ];
        for r in &requests {
            assert_eq!(&parsed(r), r);
        }
    }

    #[test]
    fn a_status_request_never_falls_back_to_the_default_window() {
        let Command::Status(s) = parse(
            std::iter::once("a".to_owned()).chain(Request::Status(StatusRequest::default()).args()).map(OsString::from),
        )
        .unwrap() else {
            panic!("not a status command")
        };
        assert_eq!(s.latency_window_ms, 0);
    }
}
