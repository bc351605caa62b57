//! Applying one host's spec, start to finish, into a [`HostReport`].

use std::time::Instant;

use schedfleet_proto::{ActivateRequest, ConfirmRequest, StatusRequest, STORE_DIR};

use super::report::{HostReport, Outcome};
use super::ApplyOptions;
use crate::artifact::Artifact;
use crate::config::{HostSpec, Templates};
use crate::host::{self, AgentClient, HostError, Pool, Transport, Visit};
use crate::plan::{decide, Action};
use crate::state::FactsCache;

pub async fn apply_one<T: Transport>(
    pool: &Pool<T>,
    spec: &HostSpec,
    commit: &str,
    opts: &ApplyOptions,
    templates: &Templates,
) -> HostReport {
    let started = Instant::now();
    let mut report = HostReport::new(spec);
    let result = match pool.visit(&spec.host.name).await {
        Ok(v) => converge(&v, spec, commit, opts, templates, &mut report).await,
        Err(e) => Err(Stop::from(e)),
    };
    match result {
        Ok(outcome) => report.outcome = outcome,
        Err(stop) => {
            report.outcome = stop.outcome;
            report.message = Some(stop.message);
            report.error_kind = stop.kind;
        }
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    match report.outcome {
        o if o.is_failure() => tracing::warn!(
            host = %report.host,
            outcome = o.as_str(),
            message = report.message.as_deref().unwrap_or(""),
            "host not applied"
        ),
        o => tracing::info!(host = %report.host, outcome = o.as_str(), elapsed_ms = report.elapsed_ms, "host done"),
    }
    report
}

/// Why a host's converge stopped short.
struct Stop {
    outcome: Outcome,
    message: String,
    kind: Option<schedfleet_proto::ErrorKind>,
}

impl From<HostError> for Stop {
    fn from(e: HostError) -> Stop {
        let outcome = if e.is_unreachable() { Outcome::Unreachable } else { Outcome::Failed };
        Stop { outcome, message: e.to_string(), kind: e.agent_kind() }
    }
}

/// The host lease covers one wave of this host: activation, bake and
/// confirmation all happen before its confirmation deadline (checked when
/// `fleet.yaml` is loaded), plus a margin. The rollout releases it when it
/// ends; the TTL only matters when this controller dies, and then the host
/// is free again shortly after it reverted by itself.
fn lease_ttl(opts: &ApplyOptions) -> u64 {
    opts.confirm.as_ref().map_or(300, |c| c.within.as_secs() + schedfleet_proto::bounds::LEASE_MARGIN_SECS)
}

/// The per-host sequence. Each step is one round trip over the run's
/// session; the agent and the object are sent only when the host's store
/// lacks a verified copy.
async fn converge<T: Transport>(
    v: &Visit<'_, T>,
    spec: &HostSpec,
    commit: &str,
    opts: &ApplyOptions,
    templates: &Templates,
    report: &mut HostReport,
) -> Result<Outcome, Stop> {
    let probe = host::probe(v, Some(&opts.agent)).await?;
    if probe.sched_ext_state.is_none() {
        return Err(Stop {
            outcome: Outcome::Refused,
            message: format!(
                "kernel `{}` has no sched_ext (no /sys/kernel/sched_ext); nothing was pushed",
                probe.kernel_release
            ),
            kind: None,
        });
    }
    // Rendered before anything is pushed: a parameter that does not render
    // leaves the host as it was.
    let plan = match opts.rendered.get(&spec.host.name) {
        Some(plan) => plan.clone(),
        None => {
            let facts = host::facts_without_agent(v).await?;
            FactsCache::open().put(&spec.host.name, &facts);
            spec.render(templates, &facts).map_err(|e| Stop {
                outcome: Outcome::Failed,
                message: format!("{e}; nothing was changed on this host"),
                kind: None,
            })?
        }
    };
    report.bytes_sent += host::install_agent(v, &opts.agent, &probe).await?;
    let agent = v.agent(host::agent_path(&opts.agent));
    let status = agent.status(StatusRequest::default()).await?;
    if decide(&plan, Some(&status)).0 == Action::None {
        return Ok(Outcome::Unchanged);
    }
    if let Some(owner) = &opts.lease_owner {
        agent.lease_acquire(owner, lease_ttl(opts)).await?;
    }
    // A binary's parameters are what its arguments were rendered from: the
    // agent gets the arguments, never the parameters.
    let (object, params, binary, takeover, push) = match &plan.binary {
        None => (
            format!("{STORE_DIR}/{}", plan.artifact.digest),
            plan.params.clone().into_iter().collect(),
            None,
            false,
            vec![plan.artifact.clone()],
        ),
        Some(b) => (b.path.clone(), Vec::new(), Some(b.spec.clone()), b.takeover, b.push.clone()),
    };
    report.bytes_sent += ensure_artifacts(&agent, &push).await?;
    let activated = agent
        .activate(ActivateRequest {
            object,
            sha256: plan.artifact.digest.to_string(),
            params,
            commit: Some(commit.to_owned()),
            replace: true,
            confirm: opts.confirm.as_ref().map(|c| ConfirmRequest {
                within_secs: c.within.as_secs().max(1),
                watch_interval_ms: None,
                probe_interval_ms: None,
                probes_json: c.probes_json.clone(),
            }),
            binary,
            takeover,
        })
        .await
        .map_err(|e| {
            // The agent's words may quote a parameter's value.
            let mut stop = Stop::from(e);
            stop.message = plan.redact(&stop.message);
            stop
        })?;
    report.load_ms = Some(activated.load_ms);
    report.activated = Some(activated);
    Ok(Outcome::Changed)
}

/// Makes sure the host's store holds `artifacts` (one question for all of
/// them, then each missing one); returns bytes sent. The agent checks each
/// digest before it keeps the bytes.
async fn ensure_artifacts<T: Transport>(
    agent: &AgentClient<'_, '_, T>,
    artifacts: &[Artifact],
) -> Result<u64, HostError> {
    if artifacts.is_empty() {
        return Ok(0);
    }
    let digests: Vec<&str> = artifacts.iter().map(|a| a.digest.as_str()).collect();
    let has = agent.store_has(&digests).await?;
    let mut sent = 0;
    for a in artifacts {
        if has.missing.iter().any(|m| m == a.digest.as_str()) {
            sent += agent.store_put(a.digest.as_str(), &a.bytes).await?.bytes;
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use schedfleet_proto::{Facts, KernelSchedExt, Reply, Status};
    use serde_json::json;

    use super::*;
    use crate::deploy::ConfirmMode;
    use crate::host::memory::{MemoryHost, MemoryTransport};
    use crate::host::RemoteOutput;

    /// A host in memory whose agent behaves like the real one for the
    /// commands of a converge: what it stores and what it runs.
    #[derive(Default)]
    struct FakeHost {
        sched_ext: bool,
        agent: Option<String>,
        objects: Vec<String>,
        active: Option<(String, std::collections::BTreeMap<String, String>)>,
        cpus: u32,
    }

    fn facts() -> Facts {
        Facts {
            agent_version: "0.1.0".into(),
            kernel_release: "7.3.4".into(),
            arch: "x86_64".into(),
            sched_ext: true,
            btf: true,
            cpus: 2,
            numa_nodes: 1,
            cgroup_version: 2,
            is_root: true,
            numa: Vec::new(),
            smt_siblings: Vec::new(),
            gpus: Vec::new(),
        }
    }

    fn ok<T: serde::Serialize>(v: T) -> RemoteOutput {
        RemoteOutput { code: Some(0), stdout: serde_json::to_vec(&Reply::ok(v)).unwrap(), stderr: String::new() }
    }

    fn respond(state: &Mutex<FakeHost>, program: &str, args: &[String], input: Option<&[u8]>) -> RemoteOutput {
        let mut h = state.lock().unwrap();
        let text = |t: String| RemoteOutput { code: Some(0), stdout: t.into_bytes(), stderr: String::new() };
        if program == "sh" {
            let script = &args[1];
            if script.contains("cpu/online") {
                return text(format!("release 7.3.4\narch x86_64\nsched_ext 1\ncpus 0-{}\nuid 0\n", h.cpus.max(1) - 1));
            }
            if script.contains("printf 'release") {
                let mut out = "release 7.3.4\n".to_owned();
                if h.sched_ext {
                    out.push_str("sched_ext disabled\n");
                }
                if let Some(d) = &h.agent {
                    out.push_str(&format!("link /var/lib/schedfleet/store/{d}\nlinksum {d}\nwantsum {d}\n"));
                }
                return text(out);
            }
            // The install script: $2 is the digest, the bytes come on stdin.
            assert_eq!(crate::artifact::ArtifactDigest::of(input.unwrap()).as_str(), args[4]);
            h.agent = Some(args[4].clone());
            return text(String::new());
        }
        assert!(h.agent.as_deref().is_some_and(|d| program.ends_with(d)), "only the verified agent is run");
        match args[0].as_str() {
            "facts" => ok(facts()),
            "status" => {
                assert_eq!(args[1..3], ["--latency-window", "0"], "apply asks for no latency window");
                ok(Status {
                    kernel: KernelSchedExt { state: "disabled".into(), ..Default::default() },
                    active: h.active.as_ref().map(|(a, p)| {
                        serde_json::from_value(json!({
                            "artifact": a, "ops": "simple", "params": p, "since": 5, "enable_seq": 1
                        }))
                        .unwrap()
                    }),
                    kernel_agrees: true,
                    ..Default::default()
                })
            }
            "lease" => ok(json!({"lease": {"owner": args[3], "expires": 99}, "refreshed": false})),
            "store" if args[1] == "has" => {
                let (present, missing): (Vec<_>, Vec<_>) =
                    args[2..].iter().cloned().partition(|d| h.objects.contains(d));
                ok(json!({"present": present, "missing": missing}))
            }
            "store" => {
                h.objects.push(args[2].clone());
                ok(json!({"digest": args[2], "bytes": input.unwrap().len(), "written": true}))
            }
            "activate" => {
                let params = args
                    .iter()
                    .zip(args.iter().skip(1))
                    .filter(|(k, _)| *k == "--param")
                    .map(|(_, kv)| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap())
                    .collect();
                h.active = Some((args[3].clone(), params));
                ok(json!({
                    "active": {"artifact": args[3], "ops": "simple", "params": {}, "since": 5, "enable_seq": 2, "confirmed": false},
                    "kernel": {"state": "enabled", "ops": "simple", "enable_seq": 2, "nr_rejected": 0, "switch_all": true},
                    "load_ms": 7
                }))
            }
            other => panic!("unexpected agent command `{other}`"),
        }
    }

    fn host(name: &str, state: FakeHost) -> MemoryHost {
        let state = Arc::new(Mutex::new(state));
        MemoryHost { respond: Arc::new(move |p, a, i| respond(&state, p, a, i)), ..MemoryHost::healthy(name) }
    }

    fn opts() -> ApplyOptions {
        ApplyOptions {
            agent: Artifact::new("schedfleet-agent", b"the agent".to_vec()),
            confirm: Some(ConfirmMode { within: Duration::from_secs(60), probes_json: None }),
            lease_owner: Some("ops@ctl".into()),
            rendered: Default::default(),
        }
    }

    /// The command names a host ran (the first word of each script or agent call).
    fn steps(transport: &MemoryTransport, host: &str) -> Vec<String> {
        transport
            .commands(host)
            .iter()
            .map(|c| {
                let words: Vec<&str> = c.split_whitespace().collect();
                match words[0] {
                    "sh" if c.contains("cpu/online") => "facts-script".to_owned(),
                    "sh" if c.contains("printf 'release") => "probe".to_owned(),
                    "sh" => "install-agent".to_owned(),
                    _ => words[1..].iter().take(2).copied().collect::<Vec<_>>().join(" "),
                }
            })
            .collect()
    }

    #[tokio::test]
    async fn a_new_host_gets_agent_and_object_once_then_is_left_alone() {
        let d = crate::testing::desired(1);
        let spec = &d.hosts[0];
        let transport = MemoryTransport::new([host("h01", FakeHost { sched_ext: true, ..Default::default() })]);
        let pool = Pool::new(transport.clone(), transport.targets(), 4);
        let (opts, templates) = (opts(), Templates::default());

        let report = apply_one(&pool, spec, "c1", &opts, &templates).await;
        assert_eq!(report.outcome, Outcome::Changed, "{report:?}");
        assert_eq!(report.bytes_sent as usize, opts.agent.bytes.len() + spec.artifact.bytes.len());
        assert_eq!(report.activated.as_ref().map(|a| a.active.since), Some(5), "the host's own clock");
        let activate = format!("activate /var/lib/schedfleet/store/{}", spec.artifact.digest);
        assert_eq!(
            steps(&transport, "h01"),
            [
                "probe",
                "facts-script",
                "install-agent",
                "status --latency-window",
                "lease acquire",
                "store has",
                "store put",
                &activate
            ]
        );

        let report = apply_one(&pool, spec, "c1", &opts, &templates).await;
        assert_eq!((report.outcome, report.bytes_sent), (Outcome::Unchanged, 0), "{report:?}");
        assert_eq!(steps(&transport, "h01")[8..], ["probe", "facts-script", "status --latency-window"]);
        assert_eq!(pool.connections()["h01"], 1, "one session for both visits");
    }

    /// An upstream binary: the binary and its library are pushed in one
    /// store round trip, and the agent gets `--binary` with the rendered
    /// arguments, never `--param`.
    #[tokio::test]
    async fn a_binary_is_pushed_with_its_libraries_and_activated_with_its_spec() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libelf.so.1");
        std::fs::write(&lib, b"\x7fELF a library").unwrap();
        let yaml = format!(
            "source: scx:scx_bpfland\nparams: {{ slice_us: {{ type: u64, default: 700 }} }}\nbinary:\n  file: bin/scx_bpfland\n  \
             libs: [ {{ path: {} }} ]\n  args: [--slice-us, '{{{{ params.slice_us }}}}']\n",
            lib.display()
        );
        let elf: &[u8] = b"\x7fELF\x02\x01\x01 bpfland";
        let d = crate::testing::try_desired_with(
            1,
            "assignments:\n  - { hosts: all, scheduler: simple }\n",
            &yaml,
            &[("bin/scx_bpfland", elf)],
        )
        .unwrap();
        let spec = &d.hosts[0];
        let transport = MemoryTransport::new([host("h01", FakeHost { sched_ext: true, ..Default::default() })]);
        let pool = Pool::new(transport.clone(), transport.targets(), 4);
        let opts = opts();
        let report = apply_one(&pool, spec, "c1", &opts, &Templates::default()).await;
        assert_eq!(report.outcome, Outcome::Changed, "{report:?}");
        assert_eq!(report.bytes_sent as usize, opts.agent.bytes.len() + elf.len() + b"\x7fELF a library".len());
        let commands = transport.commands("h01");
        let has: Vec<&String> = commands.iter().filter(|c| c.contains(" store has ")).collect();
        assert_eq!(has.len(), 1, "one question for binary and library: {commands:?}");
        assert_eq!(commands.iter().filter(|c| c.contains(" store put ")).count(), 2, "{commands:?}");
        let activate = commands.iter().find(|c| c.contains(" activate ")).unwrap();
        let digest = crate::artifact::ArtifactDigest::of(elf);
        assert!(
            activate.contains(&format!("activate /var/lib/schedfleet/store/{digest} --sha256 {digest}")),
            "{activate}"
        );
        assert!(activate.contains("--binary") && activate.contains(r#""args":["--slice-us","700"]"#), "{activate}");
        assert!(!activate.contains("--param"), "a binary's parameters are not sent: {activate}");
    }

    /// A parameter that only real facts break (here: a division by
    /// `facts.cpus - 2` on a 2-CPU host) fails before the agent is pushed.
    #[tokio::test]
    async fn a_render_error_from_real_facts_pushes_nothing() {
        let d = crate::testing::desired_with_params(1, "{{ 1000000 // (facts.cpus - 2) }}");
        let transport =
            MemoryTransport::new([host("h01", FakeHost { sched_ext: true, cpus: 2, ..Default::default() })]);
        let pool = Pool::new(transport.clone(), transport.targets(), 4);
        let report = apply_one(&pool, &d.hosts[0], "c1", &opts(), &Templates::default()).await;
        assert_eq!((report.outcome, report.bytes_sent), (Outcome::Failed, 0), "{report:?}");
        assert!(report.message.as_deref().unwrap().contains("nothing was changed"), "{report:?}");
        assert_eq!(steps(&transport, "h01"), ["probe", "facts-script"], "read only");
    }

    #[tokio::test]
    async fn a_kernel_without_sched_ext_is_refused_before_anything_is_pushed() {
        let d = crate::testing::desired(1);
        let transport = MemoryTransport::new([host("h01", FakeHost::default())]);
        let pool = Pool::new(transport.clone(), transport.targets(), 4);
        let report = apply_one(&pool, &d.hosts[0], "c1", &opts(), &Templates::default()).await;
        assert_eq!((report.outcome, report.bytes_sent), (Outcome::Refused, 0));
        assert_eq!(steps(&transport, "h01"), ["probe"]);
    }

    #[tokio::test]
    async fn an_unreachable_host_is_unreachable_not_failed() {
        let d = crate::testing::desired(1);
        let transport = MemoryTransport::new([MemoryHost { refuse: true, ..MemoryHost::healthy("h01") }]);
        let pool = Pool::new(transport.clone(), transport.targets(), 4);
        let report = apply_one(&pool, &d.hosts[0], "c1", &opts(), &Templates::default()).await;
        assert_eq!(report.outcome, Outcome::Unreachable);
        assert!(report.message.unwrap().contains("connection refused"));
    }
}
