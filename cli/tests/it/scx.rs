//! Upstream sched-ext/scx schedulers on the lab: `scx_bpfland` built from
//! crates.io by `lab/setup.sh scx` (cached per version and toolchain),
//! rolled out by `schedfleet apply --repo examples/upstream-scx` in waves
//! with a bake, checked over plain `ssh` and the kernel's sysfs files, its
//! scx_stats in `status --json` and in drift's Prometheus text, rolled back,
//! switched in both directions; then its supervision (a SIGKILL during the
//! bake restarted by the policy; past the cap a fallback and a halt, exit
//! 3) and the refusals before any change (a digest that does not match, a
//! library missing on the host, a competing scheduler started by hand);
//! last, a binary installed on the host (not pushed) running under
//! supervision, `rollback --default` from it, and its supervisor killed
//! (the binary dies with it; drift reports the host).
//!
//! One lab for all steps, in order: VMs under TCG are slow to boot.

use std::time::{Duration, Instant};

use crate::rollout::{spawn_apply, wait_for};
use crate::support::lab::TestLab;
use crate::support::output::assert_conforms;
use crate::support::repo::ConfigRepo;
use crate::support::{
    agent_binary, cache_dir, host_outcome, json, promtool_check, run, sha256_hex, stderr, stdout, SshHost,
};

/// The binary the example pushes; the test fails (never skips) without it.
fn bpfland() -> Vec<u8> {
    let path = cache_dir().join("scx/bin/scx_bpfland");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; this test needs the upstream scheduler: run `lab/setup.sh scx`", path.display())
    })
}

fn apply(lab: &TestLab, repo: &ConfigRepo, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = run(lab.cmd().arg("apply").arg("--repo").arg(repo.path()).args(["--yes", "--json"]).args(extra));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    if !report.is_null() {
        assert_conforms("apply", &report);
    }
    (out.status.code(), report, stderr(&out))
}

/// What the hosts' agents logged about their supervised binaries, for a
/// failure's message.
fn supervisor_logs(lab: &TestLab) -> String {
    lab.hosts
        .iter()
        .map(|h| {
            let out = h.ssh(&["tail", "-n", "40", "/var/lib/schedfleet/scx/supervisor.log"]);
            format!("--- {}:\n{}", h.name, stdout(&out))
        })
        .collect()
}

fn status(lab: &TestLab, repo: &ConfigRepo, host: &str) -> serde_json::Value {
    let out = run(lab.cmd().arg("status").arg("--repo").arg(repo.path()).args(["--json", "--limit", host]));
    let all = json(&out);
    assert_conforms("status", &all);
    all.as_array().unwrap()[0]["status"].clone()
}

fn enable_seq(h: &SshHost) -> u64 {
    h.ssh_ok(&["cat", "/sys/kernel/sched_ext/enable_seq"]).parse().unwrap()
}

fn ops(h: &SshHost) -> String {
    h.sched_ext().1
}

/// Waits until `h` runs a supervised scheduler (other than `not`) while
/// `child` (an apply) runs; fails with the apply's output when it ended
/// first or the time ran out.
fn wait_for_scheduler(child: &mut std::process::Child, h: &SshHost, agent: &str, not: Option<u64>) -> u64 {
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(pid) = scheduler_pid(h, agent).filter(|p| Some(*p) != not) {
            return pid;
        }
        let ended = child.try_wait().unwrap().is_some();
        if ended || Instant::now() > end {
            let _ = child.kill();
            let mut out = String::new();
            use std::io::Read;
            let _ = child.stdout.take().unwrap().read_to_string(&mut out);
            let _ = child.stderr.take().unwrap().read_to_string(&mut out);
            let (_, reply) = h.agent(agent, &["status", "--latency-window", "0"]);
            let log = stdout(&h.ssh(&["tail", "-n", "40", "/var/lib/schedfleet/scx/supervisor.log"]));
            panic!(
                "no (new) supervised scheduler on {} (apply ended: {ended}):\n{out}\nagent status: {reply}\n\
                 supervisor log:\n{log}",
                h.name
            );
        }
        std::thread::sleep(Duration::from_millis(700));
    }
}

/// The pid of the supervised scheduler, as the agent reports it; `None`
/// also when this one ssh login failed (the poll runs while the apply
/// holds its own session, and the VM's sshd may refuse a login under load).
fn scheduler_pid(h: &SshHost, agent: &str) -> Option<u64> {
    let out = h.ssh(&[agent, "status", "--latency-window", "0"]);
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    reply["result"]["supervised"]["pid"].as_u64()
}

const SIMPLE: &str =
    "source: builtin:simple\nparams:\n  slice_ns: { type: u64, default: 5000000, min: 100000, max: 100000000 }\n";
const ON_SIMPLE: &str = "assignments:\n  - { hosts: 'lab-*', scheduler: simple }\nrollout: { waves: [1, '100%'], bake: 5s, confirm_timeout: 60s }\n";

#[test]
fn upstream_bpfland_rolls_out_is_supervised_and_refused_when_unsafe() {
    let binary = bpfland();
    let lab = TestLab::up(2);
    let repo = ConfigRepo::from_example("upstream-scx");
    let example_fleet = std::fs::read_to_string(repo.path().join("fleet.yaml")).unwrap();
    let example_sched = std::fs::read_to_string(repo.path().join("schedulers/bpfland.yaml")).unwrap();
    let agent = format!("{}/{}", schedfleet_proto::STORE_DIR, sha256_hex(&std::fs::read(agent_binary()).unwrap()));
    let (lab1, lab2) = (lab.host("lab-1"), lab.host("lab-2"));

    // 0. Every host on `simple` first, so that there is a previous scheduler.
    repo.write("schedulers/simple.yaml", SIMPLE);
    repo.write("fleet.yaml", ON_SIMPLE);
    repo.commit("simple everywhere");
    let (code, report, err) = apply(&lab, &repo, &[]);
    assert_eq!(code, Some(0), "{report}\n{err}\n{}", supervisor_logs(&lab));
    for h in &lab.hosts {
        assert_eq!(h.sched_ext(), ("enabled".to_owned(), "simple".to_owned()));
    }

    // 1. The example: bpfland in waves ([1, 100%]) with a bake.
    repo.write("fleet.yaml", &example_fleet);
    repo.commit("bpfland, the example");
    let started = Instant::now();
    let (code, report, err) = apply(&lab, &repo, &[]);
    let took = started.elapsed();
    assert_eq!(code, Some(0), "{report}\n{err}\n{}", supervisor_logs(&lab));
    assert_eq!(report["waves"], serde_json::json!([["lab-1"], ["lab-2"]]), "{report}");
    for h in &lab.hosts {
        let r = host_outcome(&report, &h.name);
        assert_eq!(r["state"], "confirmed", "{r}");
        assert!(r["bytes_sent"].as_u64().unwrap() >= binary.len() as u64, "the binary was pushed: {r}");
        eprintln!("{}: bpfland start to enabled: {} ms", h.name, r["load_ms"]);
        // Plain ssh, no agent: the kernel runs bpfland 1.1.4.
        let (state, ops) = h.sched_ext();
        assert_eq!(state, "enabled");
        assert!(ops.starts_with("bpfland_1.1.4_"), "root/ops is `{ops}`");
    }
    eprintln!("apply of bpfland in 2 waves (bake 10s each): {:.1}s", took.as_secs_f64());

    // Its stats and its process, as `status --json` reports them.
    let st = status(&lab, &repo, "lab-1");
    let stats = st["scx_stats"].as_object().unwrap_or_else(|| panic!("no scx_stats: {st}"));
    assert!(stats.values().any(serde_json::Value::is_number), "numeric scx_stats fields: {stats:?}");
    let pid = st["supervised"]["pid"].as_u64().unwrap_or_else(|| panic!("no supervised pid: {st}"));
    assert_eq!(st["supervised"]["restarts"], 0, "{st}");
    assert_eq!(st["active"]["binary"]["args"], serde_json::json!(["--slice-us", "5000"]), "{st}");
    assert!(lab1.ssh(&["test", "-d", &format!("/proc/{pid}")]).status.success(), "the process runs");
    for (what, p) in [("agent supervisor", st["supervised"]["supervisor_pid"].as_u64().unwrap()), ("scx_bpfland", pid)]
    {
        let proc_status = lab1.ssh_ok(&["cat", &format!("/proc/{p}/status")]);
        let rss = proc_status.lines().find(|l| l.starts_with("VmRSS")).unwrap_or("VmRSS: unknown").to_owned();
        eprintln!("lab-1: {what} (pid {p}) {rss}");
    }

    // Nothing left to do; drift's Prometheus text carries the stats.
    let out = run(lab.cmd().arg("plan").arg("--repo").arg(repo.path()).arg("--json"));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = run(lab.cmd().arg("drift").arg("--repo").arg(repo.path()).args(["--format", "prometheus"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let metrics = stdout(&out);
    assert!(metrics.contains("schedfleet_scx_restarts{host=\"lab-1\"} 0"), "{metrics}");
    assert!(metrics.contains("schedfleet_scx_up{host=\"lab-2\"} 1"), "{metrics}");
    assert!(metrics.contains("schedfleet_scx_stat{host=\"lab-1\",ops=\"bpfland_1.1.4_"), "{metrics}");
    // In sync, its argument carrying a parameter `public:` does not list
    // (shown redacted, compared by value): no kind of drift is 1.
    let drifting: Vec<&str> =
        metrics.lines().filter(|l| l.starts_with("schedfleet_drift{") && !l.ends_with(" 0")).collect();
    assert!(drifting.is_empty(), "no drift: {drifting:?}");
    promtool_check(&metrics);

    // 2. rollback --previous: both hosts back to simple, the process gone.
    let out = run(lab.cmd().arg("rollback").arg("--repo").arg(repo.path()).args(["--previous", "--yes", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for h in &lab.hosts {
        assert_eq!(h.sched_ext(), ("enabled".to_owned(), "simple".to_owned()), "{} back on simple", h.name);
    }
    assert!(!lab1.ssh(&["test", "-d", &format!("/proc/{pid}")]).status.success(), "bpfland was stopped");

    // 3. simple -> binary -> simple, never through a failed state.
    let (code, report, err) = apply(&lab, &repo, &[]);
    assert_eq!(code, Some(0), "{report}\n{err}\n{}", supervisor_logs(&lab));
    for h in &lab.hosts {
        assert_eq!(host_outcome(&report, &h.name)["state"], "confirmed");
        assert!(ops(h).starts_with("bpfland_"));
    }
    repo.write("fleet.yaml", ON_SIMPLE);
    repo.commit("back to simple");
    let (code, report, err) = apply(&lab, &repo, &[]);
    assert_eq!(code, Some(0), "{report}\n{err}\n{}", supervisor_logs(&lab));
    for h in &lab.hosts {
        assert_eq!(host_outcome(&report, &h.name)["state"], "confirmed");
        assert_eq!(ops(h), "simple");
        let st = status(&lab, &repo, &h.name);
        assert!(st["last_fallback"].is_null(), "no fallback on the way: {st}");
    }

    // 4. SIGKILL during the bake: the agent restarts it (the policy allows
    //    2), reports the cause, and the rollout goes on.
    repo.write("fleet.yaml", &example_fleet.replace("bake: 10s", "bake: 40s"));
    repo.commit("bpfland, a longer bake");
    let mut child = spawn_apply(&lab, &repo, &[], &["--limit", "lab-1"]);
    let first = wait_for_scheduler(&mut child, lab1, &agent, None);
    lab1.ssh_ok(&["kill", "-KILL", &first.to_string()]);
    wait_for_scheduler(&mut child, lab1, &agent, Some(first));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stdout(&out), stderr(&out));
    let st = status(&lab, &repo, "lab-1");
    assert_eq!(st["supervised"]["restarts"], 1, "{st}");
    assert_eq!(st["supervised"]["last_exit"]["cause"], "signaled", "{st}");
    assert_eq!(st["supervised"]["last_exit"]["signal"], 9, "{st}");
    assert!(ops(lab1).starts_with("bpfland_"));
    let human = stdout(&run(lab.cmd().arg("status").arg("--repo").arg(repo.path()).args(["--limit", "lab-1"])));
    assert!(human.contains("1 restart(s)") && human.contains("killed by signal 9"), "{human}");

    // 5. Past the cap: back to simple first, then a policy of one restart
    //    and two kills during the bake: the host falls back to simple and
    //    the rollout halts, exit 3.
    repo.write("fleet.yaml", ON_SIMPLE);
    repo.commit("simple again");
    let (code, report, err) = apply(&lab, &repo, &["--limit", "lab-1"]);
    assert_eq!(code, Some(0), "{report}\n{err}\n{}", supervisor_logs(&lab));
    repo.write("fleet.yaml", &example_fleet.replace("bake: 10s", "bake: 60s"));
    repo.write("schedulers/bpfland.yaml", &example_sched.replace("max: 2,", "max: 1,"));
    repo.commit("bpfland, one restart allowed");
    let mut child = spawn_apply(&lab, &repo, &[], &[]);
    let first = wait_for_scheduler(&mut child, lab1, &agent, None);
    lab1.ssh_ok(&["kill", "-KILL", &first.to_string()]);
    let second = wait_for_scheduler(&mut child, lab1, &agent, Some(first));
    lab1.ssh_ok(&["kill", "-KILL", &second.to_string()]);
    let out = child.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{report}\n{}", stderr(&out));
    assert_eq!(report["halted"]["kind"], "gate", "{report}");
    let r = host_outcome(&report, "lab-1");
    assert_eq!(r["state"], "fell_back", "{r}");
    assert_eq!(host_outcome(&report, "lab-2")["state"], "not_started", "{report}");
    assert_eq!(ops(lab1), "simple", "fell back to its previous scheduler; {r}\n{}", supervisor_logs(&lab));
    let st = status(&lab, &repo, "lab-1");
    assert!(!st["last_fallback"].is_null(), "{st}");
    assert!(!lab1.ssh(&["test", "-d", &format!("/proc/{second}")]).status.success(), "no process left behind");

    // 6. Refused before any change, exit 2, the host as it was.
    repo.write("schedulers/bpfland.yaml", &example_sched);
    let seq = enable_seq(lab1);
    //  a. A binary whose digest does not match the declared one.
    repo.write(
        "schedulers/bpfland.yaml",
        &example_sched.replace("  version: 1.1.4\n", &format!("  version: 1.1.4\n  sha256: {}\n", "0".repeat(64))),
    );
    repo.commit("a wrong digest");
    let (code, _, err) = apply(&lab, &repo, &["--limit", "lab-1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("has sha256") && err.contains("nothing was pushed"), "{err}");
    //  b. An installed binary whose digest on the host is not the declared one.
    lab1.put("/tmp/scx_bpfland", &binary);
    lab1.ssh_ok(&["chmod", "755", "/tmp/scx_bpfland"]);
    let installed =
        format!(
            "source: scx:scx_bpfland\nparams: {{ slice_us: {{ type: u64 }} }}\nbinary:\n  installed: /tmp/scx_bpfland\n  sha256: {}\n",
            "1".repeat(64)
        );
    repo.write("schedulers/bpfland.yaml", &installed);
    repo.commit("installed, wrong digest");
    let (code, report, err) = apply(&lab, &repo, &["--limit", "lab-1"]);
    assert_eq!(code, Some(2), "{report}\n{err}");
    assert_eq!(host_outcome(&report, "lab-1")["error_kind"], "digest_mismatch", "{report}");
    //  c. A library the host lacks: the binary pushed without its libs.
    let no_libs: String = example_sched
        .lines()
        .filter(|l| !l.contains("libs") && !l.contains("/lib/"))
        .map(|l| format!("{l}\n"))
        .collect();
    repo.write("schedulers/bpfland.yaml", &no_libs);
    repo.commit("no libraries");
    let (code, report, err) = apply(&lab, &repo, &["--limit", "lab-1"]);
    assert_eq!(code, Some(2), "{report}\n{err}");
    let message = host_outcome(&report, "lab-1")["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("libelf.so.1"), "names the missing library: {report}");
    assert_eq!((ops(lab1), enable_seq(lab1)), ("simple".to_owned(), seq), "nothing changed on lab-1");
    //  d. A competing scheduler: bpfland started by hand over ssh on lab-2
    //     (after schedfleet's scheduler is removed), as scx.service would.
    let (ok, reply) = lab2.agent(&agent, &["deactivate"]);
    assert!(ok, "{reply}");
    // One fixed remote command line (ssh hands its words to the remote
    // shell as one string), no data in it.
    let start =
        "cd /tmp && LD_LIBRARY_PATH=/tmp/scxlib setsid /tmp/scx_bpfland >/tmp/by-hand.log 2>&1 </dev/null & echo $!";
    lab2.ssh_ok(&["mkdir", "-p", "/tmp/scxlib"]);
    for lib in ["libelf.so.1", "libgcc_s.so.1", "libm.so.6"] {
        lab2.put(&format!("/tmp/scxlib/{lib}"), &std::fs::read(cache_dir().join("scx/lib").join(lib)).unwrap());
    }
    lab2.put("/tmp/scx_bpfland", &binary);
    lab2.ssh_ok(&["chmod", "755", "/tmp/scx_bpfland"]);
    let by_hand = lab2.ssh_ok(&[start]);
    wait_for("bpfland started by hand", Duration::from_secs(60), || {
        // `root/ops` exists only while a scheduler is loaded.
        stdout(&lab2.ssh(&["cat", "/sys/kernel/sched_ext/root/ops"])).starts_with("bpfland_")
    });
    let seq2 = enable_seq(lab2);
    repo.write("schedulers/bpfland.yaml", &example_sched);
    repo.commit("bpfland again");
    let (code, report, err) = apply(&lab, &repo, &["--limit", "lab-2"]);
    assert_eq!(code, Some(2), "{report}\n{err}");
    let message = host_outcome(&report, "lab-2")["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("bpfland"), "says which scheduler competes: {report}");
    assert_eq!(enable_seq(lab2), seq2, "nothing was loaded on lab-2");
    assert!(lab2.ssh(&["test", "-d", &format!("/proc/{by_hand}")]).status.success(), "the competitor still runs");

    // 5. An installed binary that runs: the host's own scx_bpfland (the one
    //    put in /tmp above), its libraries where the host's loader finds
    //    them, its digest declared. Nothing but the agent's reply crosses
    //    the wire for it; the process runs the host's file; then `rollback
    //    --default` takes the host from the binary to the kernel's default.
    for lib in ["libelf.so.1", "libgcc_s.so.1", "libm.so.6"] {
        let dest = format!("/lib/x86_64-linux-gnu/{lib}");
        if !lab1.ssh(&["test", "-e", &dest]).status.success() {
            lab1.put(&dest, &std::fs::read(cache_dir().join("scx/lib").join(lib)).unwrap());
        }
    }
    let installed = format!(
        "source: scx:scx_bpfland\nparams: {{ slice_us: {{ type: u64 }} }}\n\
         binary:\n  installed: /tmp/scx_bpfland\n  sha256: {}\n  version: 1.1.4\n  \
         args: [--slice-us, \"{{{{ params.slice_us }}}}\"]\n",
        sha256_hex(&binary)
    );
    repo.write("schedulers/bpfland.yaml", &installed);
    repo.commit("the host's own bpfland");
    let (code, report, err) = apply(&lab, &repo, &["--limit", "lab-1"]);
    assert_eq!(code, Some(0), "{report}\n{err}\n{}", supervisor_logs(&lab));
    let r = host_outcome(&report, "lab-1");
    assert_eq!(r["state"], "confirmed", "{r}");
    assert!(r["bytes_sent"].as_u64().unwrap_or(u64::MAX) < binary.len() as u64, "the binary was not pushed: {r}");
    assert!(ops(lab1).starts_with("bpfland_1.1.4_"), "root/ops is `{}`", ops(lab1));
    let st = status(&lab, &repo, "lab-1");
    let pid = st["supervised"]["pid"].as_u64().unwrap_or_else(|| panic!("no supervised pid: {st}"));
    assert_eq!(lab1.ssh_ok(&["readlink", &format!("/proc/{pid}/exe")]), "/tmp/scx_bpfland", "runs the host's file");
    // The example fleet's value, rendered into the installed binary's flags.
    assert_eq!(st["active"]["binary"]["args"], serde_json::json!(["--slice-us", "5000"]), "{st}");
    let out = run(lab.cmd().arg("rollback").arg("--repo").arg(repo.path()).args([
        "--default",
        "--limit",
        "lab-1",
        "--yes",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let state = lab1.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]);
    assert_eq!(state, "disabled", "the kernel's default scheduler on lab-1");
    assert!(!lab1.ssh(&["test", "-d", &format!("/proc/{pid}")]).status.success(), "the binary was stopped");
    let st = status(&lab, &repo, "lab-1");
    assert!(st["active"].is_null() && st["supervised"].is_null(), "nothing active: {st}");

    // 6. The supervisor killed: no scheduler runs unsupervised. The binary
    //    dies with it (PR_SET_PDEATHSIG), the kernel is back on its default
    //    scheduler, and drift reports the host.
    let (code, report, err) = apply(&lab, &repo, &["--limit", "lab-1"]);
    assert_eq!(code, Some(0), "{report}\n{err}\n{}", supervisor_logs(&lab));
    let st = status(&lab, &repo, "lab-1");
    let pid = st["supervised"]["pid"].as_u64().unwrap_or_else(|| panic!("no supervised pid: {st}"));
    let supervisor = st["supervised"]["supervisor_pid"].as_u64().unwrap_or_else(|| panic!("no supervisor: {st}"));
    lab1.ssh_ok(&["kill", "-9", &supervisor.to_string()]);
    wait_for("the binary to die with its supervisor", Duration::from_secs(60), || {
        !lab1.ssh(&["test", "-d", &format!("/proc/{pid}")]).status.success()
    });
    wait_for("the kernel's default scheduler on lab-1", Duration::from_secs(60), || {
        lab1.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]) == "disabled"
    });
    let out = run(lab.cmd().arg("drift").arg("--repo").arg(repo.path()).args(["--limit", "lab-1", "--format", "json"]));
    assert_eq!(out.status.code(), Some(1), "drift found on lab-1: {}{}", stdout(&out), stderr(&out));
    let drift = json(&out);
    let kinds: Vec<&str> =
        drift["hosts"][0]["drift"].as_array().unwrap().iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!((drift["hosts"][0]["host"].as_str(), kinds), (Some("lab-1"), vec!["kernel_disagrees"]), "{drift}");
    assert!(!stdout(&out).contains("5000"), "the value of a parameter not declared public is not shown: {drift}");
}
