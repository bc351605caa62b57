//! `schedfleet drift`: where the hosts differ from the repository at
//! `--rev`, for cron and alerting. Exit 0 in sync, 1 drift, 2 bad input,
//! 4 more hosts unreachable than `--max-unreachable`. Quiet on success in
//! text form unless `--verbose-ok`; no terminal assumptions.

use std::fmt::Write as _;

use anyhow::Result;
use schedfleet_fleet::collect::CollectOptions;
use schedfleet_fleet::config::HostCount;
use schedfleet_fleet::drift::{DriftKind, DriftReport};
use schedfleet_fleet::plan;
use schedfleet_fleet::BadInput;

use crate::args::{DriftArgs, DriftFormat};
use crate::exit;

pub fn run(args: DriftArgs) -> Result<u8> {
    let max_unreachable = parse_budget(&args.max_unreachable)?;
    let desired = super::load_desired(&args.repo, args.hosts.limit.as_deref())?;
    if let Some(j) = args.jitter {
        std::thread::sleep(j.mul_f64(pseudo_random_fraction()));
    }
    let opts = CollectOptions { host_timeout: args.host_timeout, ..CollectOptions::default() };
    let connect_timeout = args.host_timeout.min(super::apply::CONNECT_TIMEOUT);
    let planned = super::on_hosts(&desired, args.hosts.parallel, connect_timeout, async |pool| {
        plan::plan(pool, &desired, &opts).await
    })?;
    let report = DriftReport::from_plan(&planned, env!("CARGO_PKG_VERSION"), super::now_secs());
    let drifted = report.drifted(args.strict);
    let code = if report.unreachable() > max_unreachable.of(report.hosts.len()) {
        exit::HOSTS_FAILED
    } else if drifted > 0 {
        exit::CHANGES
    } else {
        exit::OK
    };
    match args.format {
        DriftFormat::Json => crate::output::print_versioned(crate::output::Output::Drift, &report)?,
        DriftFormat::Prometheus => print!("{}", prometheus(&report, args.strict)),
        DriftFormat::Text => {
            if code != exit::OK || args.verbose_ok {
                print!("{}", crate::terminal::clean_text(&text(&report, args.strict)));
            }
        }
    }
    Ok(code)
}

fn parse_budget(text: &str) -> Result<HostCount> {
    if let Ok(n) = text.parse::<u32>() {
        return Ok(HostCount::Count(n));
    }
    HostCount::parse_percent(text).map_err(|e| BadInput::new(format!("--max-unreachable: {e}")).into())
}

/// A fraction in [0, 1) that differs between runs and hosts, for jitter;
/// not for anything that needs real randomness.
fn pseudo_random_fraction() -> f64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mixed = (u64::from(nanos) ^ u64::from(std::process::id()).rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

fn text(report: &DriftReport, strict: bool) -> String {
    let mut out = String::new();
    for h in &report.hosts {
        if let Some(e) = &h.error {
            let _ = writeln!(out, "{}: {} ({e})", h.host, h.reach.as_str());
            continue;
        }
        if h.drift.is_empty() {
            let _ = writeln!(out, "{}: in sync", h.host);
        }
        for d in &h.drift {
            let soft = if d.kind.is_hard() || strict { "" } else { " (soft)" };
            let _ = writeln!(out, "{}: {}{soft}: wants `{}`, has `{}`", h.host, d.kind.as_str(), d.desired, d.actual);
        }
    }
    let _ = writeln!(
        out,
        "commit {}: {} of {} host(s) drifted, {} unreachable",
        &report.commit[..12],
        report.drifted(strict),
        report.hosts.len(),
        report.unreachable()
    );
    out
}

/// Escapes a Prometheus label value: backslash, double quote and newline.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Prometheus text exposition for node_exporter's textfile collector: one
/// series per host and kind (0 or 1, so alerts see every series, even in
/// sync), reachability per host, totals, and when the check ran (as a
/// gauge: the textfile collector refuses sample timestamps).
pub fn prometheus(report: &DriftReport, strict: bool) -> String {
    let mut out = String::new();
    let commit = label(&report.commit);
    out.push_str("# HELP schedfleet_drift Whether the host differs from the repository in this kind (1) or not (0).\n");
    out.push_str("# TYPE schedfleet_drift gauge\n");
    for h in &report.hosts {
        for kind in DriftKind::ALL {
            let v = u8::from(h.has(kind));
            let _ = writeln!(
                out,
                "schedfleet_drift{{host=\"{}\",kind=\"{}\",hard=\"{}\",commit=\"{commit}\"}} {v}",
                label(&h.host),
                kind.as_str(),
                kind.is_hard()
            );
        }
    }
    out.push_str("# HELP schedfleet_host_reachable Whether the host answered the drift check.\n");
    out.push_str("# TYPE schedfleet_host_reachable gauge\n");
    for h in &report.hosts {
        let _ = writeln!(
            out,
            "schedfleet_host_reachable{{host=\"{}\",reach=\"{}\"}} {}",
            label(&h.host),
            h.reach.as_str(),
            u8::from(h.error.is_none())
        );
    }
    scx_metrics(report, &mut out);
    out.push_str("# HELP schedfleet_drift_hosts Hosts that drifted.\n# TYPE schedfleet_drift_hosts gauge\n");
    let _ = writeln!(out, "schedfleet_drift_hosts {}", report.drifted(strict));
    out.push_str(
        "# HELP schedfleet_unreachable_hosts Hosts that did not answer.\n# TYPE schedfleet_unreachable_hosts gauge\n",
    );
    let _ = writeln!(out, "schedfleet_unreachable_hosts {}", report.unreachable());
    out.push_str(
        "# HELP schedfleet_drift_last_run_timestamp_seconds When the drift check ran, seconds since the Unix epoch.\n",
    );
    out.push_str("# TYPE schedfleet_drift_last_run_timestamp_seconds gauge\n");
    let _ = writeln!(out, "schedfleet_drift_last_run_timestamp_seconds {}", report.checked_at);
    out
}

/// The supervised upstream binaries: whether each runs, how often its agent
/// restarted it, and the scheduler's own numeric scx_stats fields (one
/// family, a `field` label per flattened field). Hosts without a binary
/// have no series here.
fn scx_metrics(report: &DriftReport, out: &mut String) {
    let supervised: Vec<_> = report.hosts.iter().filter_map(|h| h.supervised.as_ref().map(|s| (h, s))).collect();
    if supervised.is_empty() {
        return;
    }
    out.push_str("# HELP schedfleet_scx_up Whether the supervised scheduler process of the host runs (1) or is down between restarts (0).\n");
    out.push_str("# TYPE schedfleet_scx_up gauge\n");
    for (h, s) in &supervised {
        let _ = writeln!(out, "schedfleet_scx_up{{host=\"{}\"}} {}", label(&h.host), u8::from(s.pid.is_some()));
    }
    out.push_str("# HELP schedfleet_scx_restarts Restarts of the supervised scheduler process since its activation.\n");
    out.push_str("# TYPE schedfleet_scx_restarts gauge\n");
    for (h, s) in &supervised {
        let _ = writeln!(out, "schedfleet_scx_restarts{{host=\"{}\"}} {}", label(&h.host), s.restarts);
    }
    out.push_str("# HELP schedfleet_scx_stat A numeric field of the scheduler's own scx_stats (`top` target), flattened with `.`.\n");
    out.push_str("# TYPE schedfleet_scx_stat gauge\n");
    for (h, _) in &supervised {
        let ops = label(h.ops.as_deref().unwrap_or(""));
        for (field, v) in &h.scx_stats {
            let _ = writeln!(
                out,
                "schedfleet_scx_stat{{host=\"{}\",ops=\"{ops}\",field=\"{}\"}} {v}",
                label(&h.host),
                label(field)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn budgets_parse() {
        assert_eq!(parse_budget("3").unwrap(), HostCount::Count(3));
        assert_eq!(parse_budget("10%").unwrap(), HostCount::Percent(10));
        assert!(parse_budget("ten").is_err());
    }

    #[test]
    fn jitter_fraction_is_in_range() {
        let f = pseudo_random_fraction();
        assert!((0.0..1.0).contains(&f));
    }
}
