//! The agent's command line. Deliberately tiny (lexopt, no clap): the agent
//! is pushed to every host, so its size matters, and its callers are the
//! controller and people debugging a host, not scripts.

use std::collections::BTreeMap;
use std::ffi::OsString;

use lexopt::prelude::*;
use schedfleet_proto::{is_sha256_hex, ErrorKind};

use crate::error::{Failure, Result};
use crate::health::user_probe::{self, Probe};

pub const USAGE: &str = "usage:
  schedfleet-agent facts
  schedfleet-agent status [--latency-window MS] [--cgroup PATH] [--probes JSON]
  schedfleet-agent activate OBJECT --sha256 HEX [--param NAME=VALUE]... [--commit ID] [--replace]
  schedfleet-agent deactivate
  schedfleet-agent store has HEX...
  schedfleet-agent store put HEX        (the artifact's bytes on stdin)
  schedfleet-agent --version";

#[derive(Debug, PartialEq)]
pub enum Command {
    Version,
    Facts,
    Status(StatusArgs),
    Activate(ActivateArgs),
    Deactivate,
    StoreHas(Vec<String>),
    StorePut(String),
}

/// How long `status` measures wake-up latency when not told.
pub const DEFAULT_LATENCY_WINDOW_MS: u64 = 1000;

/// Reports are meant to be quick; a window longer than a minute is a typo.
const MAX_LATENCY_WINDOW_MS: u64 = 60_000;

#[derive(Debug, PartialEq)]
pub struct StatusArgs {
    /// How long the wake-up latency probe is attached; 0 leaves it out.
    pub latency_window_ms: u64,
    /// Only measure tasks of this cgroup v2 (and below).
    pub cgroup: Option<String>,
    /// User probes to run alongside the window (`--probes`, checked here).
    pub probes: Vec<Probe>,
}

impl Default for StatusArgs {
    fn default() -> Self {
        StatusArgs { latency_window_ms: DEFAULT_LATENCY_WINDOW_MS, cgroup: None, probes: Vec::new() }
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
}

fn usage(msg: impl std::fmt::Display) -> Failure {
    Failure::new(ErrorKind::Usage, format!("{msg}\n{USAGE}"))
}

fn lex(err: lexopt::Error) -> Failure {
    usage(err)
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
        "activate" => return parse_activate(parser),
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
    let mut params = BTreeMap::new();
    while let Some(arg) = parser.next().map_err(lex)? {
        match arg {
            Long("sha256") => sha256 = Some(digest(parser.value().map_err(lex)?)?),
            Long("commit") => commit = Some(parser.value().map_err(lex)?.string().map_err(lex)?),
            Long("replace") => replace = true,
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
    Ok(Command::Activate(ActivateArgs {
        object: object.ok_or_else(|| usage("activate needs the OBJECT path"))?,
        sha256: sha256.ok_or_else(|| usage("activate needs --sha256: nothing is loaded unverified"))?,
        params,
        commit,
        replace,
    }))
}

fn parse_status(mut parser: lexopt::Parser) -> Result<Command> {
    let mut args = StatusArgs::default();
    let mut probes_given = false;
    while let Some(arg) = parser.next().map_err(lex)? {
        match arg {
            Long("latency-window") => {
                let ms = parser.value().map_err(lex)?.string().map_err(lex)?;
                args.latency_window_ms =
                    ms.parse().ok().filter(|&ms| ms <= MAX_LATENCY_WINDOW_MS).ok_or_else(|| {
                        usage(format_args!(
                            "--latency-window `{ms}`: expected 0 to {MAX_LATENCY_WINDOW_MS} milliseconds"
                        ))
                    })?;
            }
            Long("cgroup") => args.cgroup = Some(parser.value().map_err(lex)?.string().map_err(lex)?),
            Long("probes") => {
                if probes_given {
                    return Err(usage("--probes given twice: give every probe in one JSON list"));
                }
                probes_given = true;
                let json = parser.value().map_err(lex)?.string().map_err(lex)?;
                args.probes = user_probe::parse(&json).map_err(|e| usage(format_args!("--probes: {e}")))?;
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
                probes: vec![]
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

    #[test]
    fn unknown_verbs_and_extra_args_are_usage_errors() {
        assert_eq!(p(&["explode"]).unwrap_err().kind, ErrorKind::Usage);
        assert_eq!(p(&["facts", "extra"]).unwrap_err().kind, ErrorKind::Usage);
        assert_eq!(p(&[]).unwrap_err().kind, ErrorKind::Usage);
    }
}
