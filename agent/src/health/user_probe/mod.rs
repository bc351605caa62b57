//! User probes: the checks an operator asks `status` to run with `--probes`
//! (a JSON list of `ProbeSpec`s), a command or an HTTP GET each, reported
//! as `probes` in the same report as the host's health.
//!
//! `spec` turns the JSON into checked [`Probe`]s while the command line is
//! parsed, so every mistake in it is a usage error before anything runs.
//! `run` starts every probe on its own thread and collects the results;
//! `command` and `http` are the two kinds. Every probe is bounded by its own
//! timeout and started alongside the latency window, so probes add nothing
//! to `status` beyond their longest timeout. Nothing here resolves names:
//! the agent is a static binary, where glibc's NSS does not work, so an HTTP
//! probe names an IP address or `localhost`, and a command is found through
//! `PATH` only. Not here: the wake-up latency probe (a BPF program, in
//! `health::latency` and `sched::wakelat`).

mod command;
mod http;
mod run;
mod spec;

pub use run::start;
pub use spec::{parse, Probe};
