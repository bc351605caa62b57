//! Runs probes side by side, one thread each, and collects their results in
//! the order they were given. [`start`] returns at once; [`Running::finish`]
//! waits for the last probe, which its own timeout bounds, so `status` starts
//! them before its latency window and finishes them after it.

use std::thread::JoinHandle;
use std::time::Instant;

use schedfleet_proto::ProbeResult;

use super::spec::{Check, Probe};
use super::{command, http};
use crate::log;

/// How a probe went, before it is named and timed.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    pub detail: String,
}

impl Outcome {
    pub fn failed(detail: impl Into<String>) -> Outcome {
        Outcome { ok: false, detail: detail.into() }
    }
}

/// Probes under way.
pub struct Running {
    started: Instant,
    probes: Vec<(String, Result<JoinHandle<ProbeResult>, String>)>,
}

/// Starts every probe on its own thread.
pub fn start(probes: Vec<Probe>) -> Running {
    let started = Instant::now();
    let probes = probes
        .into_iter()
        .map(|probe| {
            let name = probe.name.clone();
            let thread = std::thread::Builder::new()
                .name(format!("probe {name}"))
                .spawn(move || run_one(&probe))
                .map_err(|e| format!("failed to start a thread for the probe: {e}"));
            (name, thread)
        })
        .collect();
    Running { started, probes }
}

impl Running {
    /// Waits for every probe and returns the results in the order given.
    pub fn finish(self) -> Vec<ProbeResult> {
        let started = self.started;
        let failed = |name: String, detail: String| ProbeResult {
            name,
            ok: false,
            detail,
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        self.probes
            .into_iter()
            .map(|(name, thread)| match thread {
                Ok(thread) => thread.join().unwrap_or_else(|_| failed(name, "the probe panicked".to_owned())),
                Err(e) => failed(name, e),
            })
            .collect()
    }
}

fn run_one(probe: &Probe) -> ProbeResult {
    let started = Instant::now();
    let Outcome { ok, detail } = match &probe.check {
        Check::Command(argv) => command::run(argv, probe.timeout),
        Check::Http(url) => http::get(url, probe.timeout),
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    log::debug(&format!("probe `{}`: {} in {elapsed_ms} ms: {detail}", probe.name, if ok { "ok" } else { "failed" }));
    ProbeResult { name: probe.name.clone(), ok, detail, elapsed_ms }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sleeper(name: &str, seconds: &str, timeout_ms: u64) -> Probe {
        Probe {
            name: name.to_owned(),
            timeout: Duration::from_millis(timeout_ms),
            check: Check::Command(vec!["sleep".into(), seconds.into()]),
        }
    }

    #[test]
    fn probes_run_side_by_side_and_report_in_order() {
        // One after another these would take 2.4 s.
        let probes = vec![
            sleeper("a", "0.6", 5000),
            sleeper("b", "0.6", 5000),
            sleeper("c", "0.6", 5000),
            sleeper("d", "30", 600),
        ];
        let started = Instant::now();
        let running = start(probes);
        let results = running.finish();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(600) && took < Duration::from_millis(1800), "{took:?}");
        let names: Vec<_> = results.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert!(results[..3].iter().all(|r| r.ok && r.elapsed_ms >= 600), "{results:?}");
        assert_eq!((results[3].ok, results[3].detail.as_str()), (false, "timed out after 600 ms, killed"));
    }

    #[test]
    fn no_probes_is_no_results() {
        assert_eq!(start(vec![]).finish(), vec![]);
    }
}
