//! The `serve` scheduler on the lab, rolled out by `schedfleet apply`: it
//! loads on the newest and on the oldest sched_ext kernel the lab caches and
//! reaches `enabled` with ops `serve`; a process in the serving cgroup wakes
//! up faster (p99) than the same process in the CPU hogs' cgroup, measured
//! by the agent's wake-up latency probe with its cgroup filter; and bad
//! parameters (CPUs the host lacks, a cgroup it does not have, a slice out
//! of range) are refused with a message that names them while the previous
//! scheduler keeps running, checked over plain ssh. The slice is refused
//! twice over: by the controller, which knows the builtin's bounds, and by
//! the scheduler's own `ops.init` when the object is loaded by hand. With
//! serving tasks saturating every CPU for longer than the kernel's stall
//! watchdog, batch tasks still run and nothing ejects the scheduler.

use crate::support::lab::TestLab;
use crate::support::repo::ConfigRepo;
use crate::support::{agent_binary, json, run, sha256_hex, stderr, stdout, SshHost};

/// The scheduler file: list parameters typed, `batch_slice_ns` left without
/// bounds so that an out-of-range value reaches the scheduler's own check.
const SCHEDULER: &str = "source: builtin:serve
params:
  serving_cgroups: { type: cgroup_paths }
  serving_cpus: { type: cpu_list }
  batch_slice_ns: { type: u64 }
";

/// One wave of the one host. The parameters are public (shown in errors):
/// CPU lists and cgroup paths are no secrets, and the refusals are about them.
fn fleet(params: &str) -> String {
    format!(
        "public: [serving_cgroups, serving_cpus, batch_slice_ns]\n\
         assignments:\n  - hosts: all\n    scheduler: serve\n    params: {{ {params} }}\n\
         rollout:\n  waves: [1]\n  bake: 2s\n  confirm_timeout: 60s\n"
    )
}

const GOOD: &str = "serving_cgroups: /serving, serving_cpus: '1'";

fn serve_repo() -> ConfigRepo {
    let repo = ConfigRepo::from_example("quickstart");
    repo.write("inventory.yaml", "hosts:\n  lab-1: { connection: lab }\n");
    repo.write("schedulers/serve.yaml", SCHEDULER);
    repo.write("fleet.yaml", fleet(GOOD));
    repo.commit("serve on the lab host");
    repo
}

/// Creates the serving cgroup and the hogs' cgroup (`lab/init` mounts cgroup2).
fn make_cgroups(h: &SshHost) {
    h.ssh_ok(&["mkdir", "-p", "/sys/fs/cgroup/serving", "/sys/fs/cgroup/hogs"]);
}

/// Starts a shell loop in cgroup `group`, detached; returns its PID. The
/// loop moves itself into the cgroup first, so everything it forks is in it.
fn in_cgroup(h: &SshHost, group: &str, body: &str) -> String {
    let script =
        format!("sh -c 'echo $$ > /sys/fs/cgroup/{group}/cgroup.procs && {body}' </dev/null >/dev/null 2>&1 & echo $!");
    h.ssh_ok(&[&script])
}

fn apply(lab: &TestLab, repo: &ConfigRepo) -> (Option<i32>, String) {
    let out = run(lab.cmd().arg("apply").arg("--repo").arg(repo.path()).arg("--yes"));
    (out.status.code(), format!("{}{}", stdout(&out), stderr(&out)))
}

fn enable_seq(h: &SshHost) -> String {
    h.ssh_ok(&["cat", "/sys/kernel/sched_ext/enable_seq"])
}

/// p99 wake-up latency (us) of the tasks of `cgroup`, over a 2 s window.
fn p99(lab: &TestLab, repo: &ConfigRepo, cgroup: &str) -> u64 {
    let out = run(lab.cmd().arg("status").arg("--repo").arg(repo.path()).args([
        "--json",
        "--latency-window",
        "2s",
        "--cgroup",
        cgroup,
    ]));
    assert_eq!(out.status.code(), Some(0), "status answers");
    let status = &json(&out)[0]["status"];
    assert_eq!(status["kernel"]["ops"], "serve", "{status}");
    let latency = &status["latency"];
    assert_eq!(latency["cgroup"], cgroup, "{latency}");
    assert!(latency["samples"].as_u64().unwrap_or(0) > 0, "wake-ups measured in {cgroup}: {latency}");
    latency["p99_us"].as_u64().unwrap_or_else(|| panic!("a p99 for {cgroup}: {latency}"))
}

#[test]
fn serve_serves_its_cgroup_first_and_refuses_bad_params_on_lab() {
    let mut lab = TestLab::up(1);
    let repo = serve_repo();
    make_cgroups(lab.host("lab-1"));

    let (code, text) = apply(&lab, &repo);
    assert_eq!(code, Some(0), "{text}");
    let h = lab.host("lab-1");
    assert_eq!(h.sched_ext(), ("enabled".to_owned(), "serve".to_owned()));

    // Four CPU hogs (two per vCPU) in their own cgroup, and the same
    // sleeper (wakes every 5 ms) in each of the two cgroups.
    let mut pids: Vec<String> = (0..4).map(|_| in_cgroup(h, "hogs", "while :; do :; done")).collect();
    pids.push(in_cgroup(h, "serving", "while :; do sleep 0.005; done"));
    pids.push(in_cgroup(h, "hogs", "while :; do sleep 0.005; done"));

    // The two cgroups are measured in alternating 2 s windows, five
    // rounds, and the medians compared: the lab VMs run under emulation on
    // shared cores, so one window of each could catch the host's noise. No
    // other test's VMs run meanwhile.
    let alone = lab.alone();
    let h = lab.host("lab-1");
    let (mut serving, mut hogs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        serving.push(p99(&lab, &repo, "/serving"));
        hogs.push(p99(&lab, &repo, "/hogs"));
    }
    drop(alone);
    let mut kill = vec!["kill"];
    kill.extend(pids.iter().map(String::as_str));
    h.ssh_ok(&kill);
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (serving_p99, hogs_p99) = (median(&mut serving), median(&mut hogs));
    eprintln!(
        "serve, 4 hogs: p99 wake-up latency /serving {serving:?} us (median {serving_p99}), /hogs {hogs:?} us (median {hogs_p99})"
    );
    assert!(serving_p99 < hogs_p99, "the serving cgroup wakes up faster: /serving {serving:?} us, /hogs {hogs:?} us");
    // Still the same scheduler: nothing ejected it under the load.
    assert_eq!(h.sched_ext(), ("enabled".to_owned(), "serve".to_owned()));

    // Bad parameters. CPUs and cgroups are checked by the agent on the
    // host before anything is loaded: refused, and the kernel never sees a
    // change (its enable_seq counts every load).
    let seq = enable_seq(h);
    let refusals = [
        ("serving_cgroups: /serving, serving_cpus: '0-7'", "parameter `serving_cpus` = `0-7`: CPU 2-7 are not online on this host (online: 0-1)"),
        (
            "serving_cgroups: '/serving,/no-such-cgroup'",
            "parameter `serving_cgroups` = `/serving,/no-such-cgroup`: cgroup `/no-such-cgroup` does not exist on this host",
        ),
    ];
    for (params, message) in refusals {
        repo.write("fleet.yaml", fleet(params));
        repo.commit(params);
        let (code, text) = apply(&lab, &repo);
        // Refused by the agent before any change, and no host changed: 2.
        assert_eq!(code, Some(2), "the host refused: {text}");
        assert!(text.contains(message), "`{message}` in:\n{text}");
        assert_eq!(h.sched_ext(), ("enabled".to_owned(), "serve".to_owned()), "the previous scheduler runs");
        assert_eq!(enable_seq(h), seq, "nothing was loaded");
    }

    // A slice out of range: the controller knows the builtin's bounds
    // (bpf/schedulers/serve/intf.h), so apply refuses it before any host
    // is touched, even though the scheduler file declares none.
    repo.write("fleet.yaml", fleet("serving_cgroups: /serving, batch_slice_ns: 50"));
    repo.commit("slice out of range");
    let (code, text) = apply(&lab, &repo);
    assert_eq!(code, Some(2), "bad input, nothing touched: {text}");
    assert!(text.contains("parameter `batch_slice_ns` = 50 is outside 100000..=100000000"), "{text}");
    assert_eq!(h.sched_ext(), ("enabled".to_owned(), "serve".to_owned()), "the previous scheduler runs");
    assert_eq!(enable_seq(h), seq, "nothing was loaded");

    // Loaded by other means (here the agent by hand), the object refuses
    // the same value itself in ops.init, and the agent puts the previous
    // scheduler back.
    let store = schedfleet_proto::STORE_DIR;
    let agent = format!("{store}/{}", sha256_hex(&std::fs::read(agent_binary()).unwrap()));
    let serve = schedfleet_bpf::builtin("serve").unwrap().object;
    let object = format!("{store}/{}", sha256_hex(serve));
    let (ok, reply) = h.agent(
        &agent,
        &["activate", &object, "--sha256", &sha256_hex(serve), "--param", "batch_slice_ns=50", "--replace"],
    );
    assert!(!ok, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("batch_slice_ns 50 ns is outside [100000, 100000000]"), "{reply}");
    assert_eq!(h.sched_ext(), ("enabled".to_owned(), "serve".to_owned()), "the previous scheduler runs again");
    repo.write("fleet.yaml", fleet(GOOD));
    repo.commit("the good parameters again");
    let report = run(lab.cmd().arg("status").arg("--repo").arg(repo.path()).args(["--json", "--latency-window", "0s"]));
    let active = &json(&report)[0]["status"]["active"];
    assert_eq!(active["params"]["serving_cpus"], "1", "with its parameters: {active}");
}

/// CPU time (user + system, in clock ticks) of process `pid` on the host.
fn cpu_ticks(h: &SshHost, pid: &str) -> u64 {
    let stat = h.ssh_ok(&["cat", &format!("/proc/{pid}/stat")]);
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn serve_loads_and_bounds_batch_starvation_on_the_oldest_kernel() {
    let mut lab = TestLab::up_with_kernel(1, Some("oldest"));
    let repo = serve_repo();
    make_cgroups(lab.host("lab-1"));
    let (code, text) = apply(&lab, &repo);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(lab.host("lab-1").sched_ext(), ("enabled".to_owned(), "serve".to_owned()));
    // The VM runs under TCG on the build machine's cores: another test's
    // VMs running meanwhile can starve a vCPU thread for long enough that
    // the guest's RCU reports a CPU stall, which makes sched_ext disable any
    // BPF scheduler. What is measured here is the scheduler's starvation
    // bound, so no other lab of this test binary runs during the window.
    let _alone = lab.alone();
    let h = lab.host("lab-1");
    // The kernel writes its sched_ext state dump (every CPU's queue, every
    // waiting task) to this tracepoint when it disables a scheduler.
    h.ssh_ok(&["mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; echo 1 > /sys/kernel/tracing/events/sched_ext/sched_ext_dump/enable"]);

    // Serving tasks that never sleep, one per vCPU, saturate the host; two
    // batch hogs would never run if serving always came first. The
    // starvation bound (batch_max_wait_ns) must give them CPU time, and for
    // longer than the kernel's stall watchdog (30 s) nothing may eject the
    // scheduler. A shell loop forking `sleep` every 10 ms is batch work that
    // keeps waking: a bound that picked batch turns by virtual time gave
    // every turn to it (sleepers' credit), so the hogs, sshd and kernel
    // threads preempted inside RCU read-side sections waited until the
    // kernel disabled the scheduler on an RCU stall. sshd is batch work too:
    // the probes below must get through while the load runs.
    let serving: Vec<String> = (0..2).map(|_| in_cgroup(h, "serving", "while :; do :; done")).collect();
    let batch: Vec<String> = (0..2).map(|_| in_cgroup(h, "hogs", "while :; do :; done")).collect();
    let sleeper = in_cgroup(h, "hogs", "while :; do sleep 0.01; done");
    let ticks = |pids: &[String]| -> Vec<u64> { pids.iter().map(|pid| cpu_ticks(h, pid)).collect() };
    let (before, serving_before) = (ticks(&batch), ticks(&serving));
    let window = std::time::Instant::now();
    let mut probes = Vec::new();
    while window.elapsed() < std::time::Duration::from_secs(35) {
        let sent = std::time::Instant::now();
        h.ssh_ok(&["true"]);
        probes.push(sent.elapsed().as_millis());
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
    let (after, serving_after) = (ticks(&batch), ticks(&serving));
    let mut kill = vec!["kill"];
    kill.extend(serving.iter().chain(&batch).chain([&sleeper]).map(String::as_str));
    h.ssh_ok(&kill);
    // The kernel's own words, should it have disabled the scheduler.
    let kernel_log = h.ssh_ok(&["dmesg"]);
    let said: Vec<&str> = kernel_log
        .lines()
        .filter(|l| ["sched_ext", "stall", "rcu", "starved", "Tasks blocked", "CPU: "].iter().any(|w| l.contains(w)))
        .collect();
    let state = h.ssh_ok(&["cat", "/sys/kernel/sched_ext/state"]);
    if state != "enabled" {
        let dump = h.ssh(&["cat", "/sys/kernel/tracing/trace"]);
        panic!(
            "serve was disabled (no ejection, no stall expected); the kernel says: {said:#?}\n\
             its sched_ext state dump at the exit:\n{}",
            stdout(&dump)
        );
    }
    eprintln!(
        "35 s under 2 serving hogs: batch hogs' CPU ticks {before:?} -> {after:?}, serving hogs' {serving_before:?} -> {serving_after:?}; ssh round trips (ms) {probes:?}"
    );
    assert_eq!(h.sched_ext(), ("enabled".to_owned(), "serve".to_owned()), "no ejection, no stall");
    for (b, a) in before.iter().zip(&after) {
        assert!(a > b, "every batch hog ran: {before:?} -> {after:?}");
    }
    // Serving comes first: the serving hogs got more CPU than the batch
    // hogs (the bound gives batch a turn, not an equal share).
    let delta = |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(a, b)| a - b).sum::<u64>();
    let (serving_cpu, batch_cpu) = (delta(&serving_after, &serving_before), delta(&after, &before));
    assert!(serving_cpu > batch_cpu, "serving hogs {serving_cpu} ticks, batch hogs {batch_cpu} ticks");
    assert!(!kernel_log.contains("runnable task stall"), "the stall watchdog never fired: {said:#?}");
}
