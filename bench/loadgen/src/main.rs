//! `schedfleet-loadgen`: an inference-server-like load for comparing CPU
//! schedulers on one host, with its measurements as one JSON document on
//! stdout (progress and errors on stderr).
//!
//! `run` (the default) starts two child processes of itself, each in its
//! own cgroup v2 directory under `--cgroup-root`: `serving` (requests woken
//! by a dispatcher, timer-woken feeders; wake-up and request latency) and
//! `batch` (CPU hogs and bursty batch threads; completed work units). Both
//! start their threads, say `ready`, and start the clock together when told
//! `go`, so neither measures the other's start-up. `calibrate` prints the
//! work iterations per microsecond of this CPU, so a benchmark can size the
//! work once and use the same units for every scheduler it compares.
//!
//! It owns the load and its measurement, not which scheduler runs: that is
//! put in place around it (bench/serve.sh, through `schedfleet apply`).

mod batch;
mod cgroup;
mod histogram;
mod serving;
mod sys;
mod work;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;

use batch::BatchConfig;
use serving::ServingConfig;
use sys::{cpu_busy_idle, system_context_switches, SchedExtState};

const USAGE: &str = "usage: schedfleet-loadgen [run] [--duration 20s] [--workers 4] [--rate 200] [--request-us 300]
                          [--feeders 2] [--feed-period-us 10000] [--feed-us 200] [--hogs N (CPUs)]
                          [--burst-threads 2] [--burst-ms 20] [--burst-idle-ms 30] [--unit-us 1000]
                          [--iters-per-us X (calibrated when absent)] [--seed 1]
                          [--cgroup-root /sys/fs/cgroup/schedfleet-loadgen | none]
       schedfleet-loadgen calibrate";

/// Bad arguments: the message, exit 2.
struct Usage(String);

fn main() -> ExitCode {
    match cli() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<Usage>() {
            Some(Usage(msg)) => {
                eprintln!("schedfleet-loadgen: {msg}\n{USAGE}");
                ExitCode::from(2)
            }
            None => {
                eprintln!("schedfleet-loadgen: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Usage {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

fn cli() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let verb = if args.first().is_some_and(|a| !a.starts_with('-')) { args.remove(0) } else { "run".into() };
    match verb.as_str() {
        "run" => run(RunOptions::parse(&args)?),
        "calibrate" => {
            if !args.is_empty() {
                return Err(usage("`calibrate` takes no arguments"));
            }
            println!("{}", serde_json::json!({ "iters_per_us": work::calibrate(Duration::from_millis(500)) }));
            Ok(())
        }
        "serving" | "batch" => child(&verb, &args),
        other => Err(usage(format!("unknown command `{other}`"))),
    }
}

/// Everything `run` was asked, with defaults filled in; recorded in the
/// output so a result says what load produced it.
#[derive(Debug, Clone, Serialize)]
struct RunOptions {
    duration_s: f64,
    workers: usize,
    rate_per_s: f64,
    request_us: f64,
    feeders: usize,
    feed_period_us: f64,
    feed_us: f64,
    hogs: usize,
    burst_threads: usize,
    burst_ms: f64,
    burst_idle_ms: f64,
    unit_us: f64,
    iters_per_us: Option<f64>,
    seed: u64,
    cgroup_root: Option<PathBuf>,
}

impl RunOptions {
    fn parse(args: &[String]) -> anyhow::Result<RunOptions> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut o = RunOptions {
            duration_s: 20.0,
            workers: 4,
            rate_per_s: 200.0,
            request_us: 300.0,
            feeders: 2,
            feed_period_us: 10_000.0,
            feed_us: 200.0,
            hogs: cpus,
            burst_threads: 2,
            burst_ms: 20.0,
            burst_idle_ms: 30.0,
            unit_us: 1000.0,
            iters_per_us: None,
            seed: 1,
            cgroup_root: Some(PathBuf::from("/sys/fs/cgroup/schedfleet-loadgen")),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or_else(|| usage(format!("`{flag}` needs a value")));
            match flag.as_str() {
                "--duration" => o.duration_s = parse_duration(value()?)?,
                "--workers" => o.workers = number(flag, value()?, 1.0, 256.0)? as usize,
                "--rate" => o.rate_per_s = number(flag, value()?, 0.1, 1e6)?,
                "--request-us" => o.request_us = number(flag, value()?, 0.0, 1e7)?,
                "--feeders" => o.feeders = number(flag, value()?, 0.0, 256.0)? as usize,
                "--feed-period-us" => o.feed_period_us = number(flag, value()?, 10.0, 1e7)?,
                "--feed-us" => o.feed_us = number(flag, value()?, 0.0, 1e7)?,
                "--hogs" => o.hogs = number(flag, value()?, 0.0, 1024.0)? as usize,
                "--burst-threads" => o.burst_threads = number(flag, value()?, 0.0, 1024.0)? as usize,
                "--burst-ms" => o.burst_ms = number(flag, value()?, 0.0, 1e5)?,
                "--burst-idle-ms" => o.burst_idle_ms = number(flag, value()?, 0.0, 1e5)?,
                "--unit-us" => o.unit_us = number(flag, value()?, 1.0, 1e7)?,
                "--iters-per-us" => o.iters_per_us = Some(number(flag, value()?, 0.001, 1e6)?),
                "--seed" => o.seed = number(flag, value()?, 0.0, 1e15)? as u64,
                "--cgroup-root" => {
                    let v = value()?;
                    o.cgroup_root = (v != "none").then(|| PathBuf::from(v));
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(usage(format!("unknown option `{other}`"))),
            }
        }
        Ok(o)
    }
}

fn number(flag: &str, text: &str, min: f64, max: f64) -> anyhow::Result<f64> {
    match text.parse::<f64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(usage(format!("`{flag} {text}`: expected a number within {min}..={max}"))),
    }
}

/// `20s`, `500ms`, `10m`, `1h`, or plain seconds.
fn parse_duration(text: &str) -> anyhow::Result<f64> {
    let (num, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (text, 1.0)
    };
    match num.parse::<f64>() {
        Ok(v) if v > 0.0 && v * scale <= 86_400.0 => Ok(v * scale),
        _ => Err(usage(format!(
            "`--duration {text}`: expected a duration such as `20s`, `500ms` or `10m`, at most a day"
        ))),
    }
}

fn run(o: RunOptions) -> anyhow::Result<()> {
    let iters_per_us = match o.iters_per_us {
        Some(v) => v,
        None => {
            eprintln!("loadgen: calibrating the work loop (0.5 s)");
            work::calibrate(Duration::from_millis(500))
        }
    };
    let iters = |us: f64| (us * iters_per_us).round() as u64;
    let duration_ns = (o.duration_s * 1e9) as u64;
    let cgroup = |name: &str| o.cgroup_root.as_ref().map_or("none".to_owned(), |r| r.join(name).display().to_string());
    let serving_args: Vec<String> = vec![
        "--cgroup".into(),
        cgroup("serving"),
        "--duration-ns".into(),
        duration_ns.to_string(),
        "--workers".into(),
        o.workers.to_string(),
        "--rate".into(),
        o.rate_per_s.to_string(),
        "--request-iters".into(),
        iters(o.request_us).to_string(),
        "--feeders".into(),
        o.feeders.to_string(),
        "--feed-period-ns".into(),
        ((o.feed_period_us * 1e3) as u64).to_string(),
        "--feed-iters".into(),
        iters(o.feed_us).to_string(),
        "--seed".into(),
        o.seed.to_string(),
    ];
    let unit_iters = iters(o.unit_us).max(1);
    let batch_args: Vec<String> = vec![
        "--cgroup".into(),
        cgroup("batch"),
        "--duration-ns".into(),
        duration_ns.to_string(),
        "--hogs".into(),
        o.hogs.to_string(),
        "--burst-threads".into(),
        o.burst_threads.to_string(),
        "--burst-units".into(),
        ((o.burst_ms * 1e3 / o.unit_us).round() as u64).max(1).to_string(),
        "--burst-idle-ns".into(),
        ((o.burst_idle_ms * 1e6) as u64).to_string(),
        "--unit-iters".into(),
        unit_iters.to_string(),
        "--seed".into(),
        o.seed.to_string(),
    ];
    let exe = std::env::current_exe().context("find this program's path")?;
    let mut serving = Child::start(&exe, "serving", &serving_args)?;
    let mut batch = Child::start(&exe, "batch", &batch_args)?;
    serving.wait_ready()?;
    batch.wait_ready()?;
    let sched_before = SchedExtState::read();
    let ctxt_before = system_context_switches();
    let cpu_before = cpu_busy_idle();
    eprintln!("loadgen: running for {} s (sched_ext {})", o.duration_s, sched_before.state);
    batch.go()?;
    serving.go()?;
    let serving_report = serving.finish()?;
    let batch_report = batch.finish()?;
    let ctxt = match (ctxt_before, system_context_switches()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let idle_fraction = match (cpu_before, cpu_busy_idle()) {
        (Some((b0, i0)), Some((b1, i1))) if b1 + i1 > b0 + i0 => {
            Some(i1.saturating_sub(i0) as f64 / (b1 + i1 - b0 - i0) as f64)
        }
        _ => None,
    };
    let report = serde_json::json!({
        "loadgen": env!("CARGO_PKG_VERSION"),
        "options": o,
        "iters_per_us": iters_per_us,
        "unit_iters": unit_iters,
        "sched_ext": { "before": sched_before, "after": SchedExtState::read() },
        "serving": serving_report,
        "batch": batch_report,
        "system": { "context_switches": ctxt, "cpu_idle_fraction": idle_fraction },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// A child process of this program (`serving` or `batch`) and its pipes.
struct Child {
    role: &'static str,
    process: std::process::Child,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Child {
    fn start(exe: &std::path::Path, role: &'static str, args: &[String]) -> anyhow::Result<Child> {
        let mut process = Command::new(exe)
            .arg(role)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("start the {role} process"))?;
        let stdout = BufReader::new(process.stdout.take().expect("piped stdout"));
        Ok(Child { role, process, stdout })
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.trim() != "ready" {
            let status = self.process.wait()?;
            bail!("the {} process did not start ({status}); see its message above", self.role);
        }
        Ok(())
    }

    fn go(&mut self) -> anyhow::Result<()> {
        let stdin = self.process.stdin.as_mut().expect("piped stdin");
        stdin.write_all(b"go\n").and_then(|()| stdin.flush()).with_context(|| format!("start the {} load", self.role))
    }

    fn finish(mut self) -> anyhow::Result<serde_json::Value> {
        let mut text = String::new();
        self.stdout.read_to_string(&mut text)?;
        let status = self.process.wait()?;
        if !status.success() {
            bail!("the {} process failed ({status})", self.role);
        }
        serde_json::from_str(&text).with_context(|| format!("read the {} process's report", self.role))
    }
}

/// `serving` and `batch`: join the cgroup, start the threads, say `ready`,
/// wait for `go` on stdin, run, print the report.
fn child(role: &str, args: &[String]) -> anyhow::Result<()> {
    let mut kv = std::collections::BTreeMap::new();
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| usage(format!("`{k}` needs a value")))?;
        kv.insert(k.trim_start_matches("--").to_owned(), v.clone());
    }
    let get = |k: &str| -> anyhow::Result<u64> {
        kv.get(k).and_then(|v| v.parse().ok()).ok_or_else(|| usage(format!("{role}: `--{k}` missing or not a number")))
    };
    let cgroup = kv.get("cgroup").cloned().unwrap_or_else(|| "none".into());
    if cgroup != "none" {
        cgroup::join(std::path::Path::new(&cgroup))?;
    }
    let ready = || {
        println!("ready");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    };
    let report = if role == "serving" {
        let cfg = ServingConfig {
            duration_ns: get("duration-ns")?,
            workers: get("workers")?.max(1) as usize,
            rate_per_s: kv
                .get("rate")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| usage("serving: `--rate` missing"))?,
            request_iters: get("request-iters")?,
            feeders: get("feeders")? as usize,
            feed_period_ns: get("feed-period-ns")?.max(10_000),
            feed_iters: get("feed-iters")?,
            seed: get("seed")?,
        };
        serde_json::to_value(serving::run(&cfg, ready))?
    } else {
        let cfg = BatchConfig {
            duration_ns: get("duration-ns")?,
            hogs: get("hogs")? as usize,
            burst_threads: get("burst-threads")? as usize,
            burst_units: get("burst-units")?,
            burst_idle_ns: get("burst-idle-ns")?,
            unit_iters: get("unit-iters")?.max(1),
            seed: get("seed")?,
        };
        serde_json::to_value(batch::run(&cfg, ready))?
    };
    println!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_numbers_are_checked() {
        assert_eq!(parse_duration("20s").ok(), Some(20.0));
        assert_eq!(parse_duration("500ms").ok(), Some(0.5));
        assert_eq!(parse_duration("10m").ok(), Some(600.0));
        assert_eq!(parse_duration("3").ok(), Some(3.0));
        for bad in ["", "0s", "-1s", "10x", "2d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let o = RunOptions::parse(&["--workers".into(), "8".into(), "--cgroup-root".into(), "none".into()]).unwrap();
        assert_eq!((o.workers, o.cgroup_root), (8, None));
        let err = RunOptions::parse(&["--workers".into(), "0".into()]).unwrap_err();
        assert!(err.to_string().contains("`--workers 0`: expected a number within 1..=256"), "{err}");
        assert!(RunOptions::parse(&["--rate".into()]).unwrap_err().to_string().contains("needs a value"));
        assert!(RunOptions::parse(&["--bogus".into()]).unwrap_err().to_string().contains("unknown option `--bogus`"));
    }
}
