//! The agent's side of upstream scheduler binaries on a real sched_ext
//! kernel, driven directly over plain `ssh` (no controller), with a real
//! `scx_bpfland` built from crates.io by `lab/setup.sh scx`:
//!
//! 1. Refused before any change, each with its message: a binary whose
//!    libraries the host lacks (the lab VM has no libelf), a binary whose
//!    digest does not match, and a competing manager (an `scx_bpfland`
//!    started by hand, as `scx.service` would) that `--takeover` then stops.
//! 2. Supervised: `enabled` with the `bpfland_` ops prefix, `status` shows
//!    the supervised process and its scx_stats; a SIGKILL of the scheduler
//!    is a restart counted with the cause `signaled`.
//! 3. Switches binary -> object (`simple`) -> binary, each old one stopped
//!    and the kernel seen on the new one; an unconfirmed binary whose
//!    restart cap is exhausted falls back to `simple` with the cause, and
//!    its `confirm` says reverted.
//! 4. `rollback` from the binary to `simple` and back; a binary that never
//!    comes up is stopped and the previous binary put back; an agent killed
//!    right after a binary came up is undone by `recover`; `deactivate`.
//!
//! One test function: the steps share one lab VM and run in order.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::rollout::wait_for;
use crate::support::lab::TestLab;
use crate::support::{agent_binary, cache_dir, sha256_hex, stderr, SshHost};

const AGENT: &str = "/root/sf-agent";

/// `${SCHEDFLEET_CACHE:-~/.cache/schedfleet}/scx`, where `lab/setup.sh scx`
/// leaves `bin/scx_bpfland` and the libraries it needs in `lib/`.
fn scx_cache() -> PathBuf {
    cache_dir().join("scx")
}

fn read_cached(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; this test needs the upstream schedulers: run `bash lab/setup.sh scx`", path.display())
    })
}

/// Pipes `bytes` into `agent store put` on the host; returns the digest.
fn store_put(h: &SshHost, bytes: &[u8]) -> String {
    use std::io::Write;
    let digest = sha256_hex(bytes);
    let mut cmd = h.agent_command(&[AGENT, "store", "put", &digest]);
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "store put: {}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    digest
}

/// One argument for the remote shell that `ssh` hands its command line
/// to: single-quoted, so a JSON spec arrives as one argument, unchanged.
fn quoted(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

fn agent(h: &SshHost, args: &[&str]) -> (bool, Value) {
    let quoted: Vec<String> = args.iter().map(|a| quoted(a)).collect();
    let (ok, reply) = h.agent(AGENT, &quoted.iter().map(String::as_str).collect::<Vec<_>>());
    eprintln!(
        "agent {:?} -> {reply}",
        args.iter().map(|a| if a.len() > 80 { "<json>" } else { a }).collect::<Vec<_>>()
    );
    (ok, reply)
}

fn status(h: &SshHost) -> Value {
    let (ok, reply) = agent(h, &["status", "--latency-window", "0"]);
    assert!(ok, "{reply}");
    reply["result"].clone()
}

/// `(state, ops, enable_seq)` read from sysfs; `ops` empty when none.
fn kernel(h: &SshHost) -> (String, String, u64) {
    let out = h.ssh_ok(&["cat", "/sys/kernel/sched_ext/state", "/sys/kernel/sched_ext/enable_seq"]);
    let lines: Vec<&str> = out.lines().collect();
    let ops = h.ssh(&["cat", "/sys/kernel/sched_ext/root/ops"]);
    let ops = if ops.status.success() { String::from_utf8_lossy(&ops.stdout).trim().to_owned() } else { String::new() };
    (lines[0].to_owned(), ops, lines[1].parse().unwrap())
}

/// Pids of processes named `comm` on the host.
fn pids_named(h: &SshHost, comm: &str) -> Vec<String> {
    let out = h.ssh(&["pidof", comm]);
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect()
}

struct Bpfland {
    path: String,
    digest: String,
    libs: serde_json::Map<String, Value>,
}

impl Bpfland {
    fn spec(&self, restart_max: u32, with_libs: bool) -> String {
        json!({
            "origin": {"kind": "store"},
            "args": ["--slice-us", "5000"],
            "env": {"SCX_TIMEOUT_MS": "10000"},
            "ops_name": "bpfland",
            "ops_version": "1.1.4",
            "start_timeout_ms": 60000,
            "restart": {"max": restart_max, "window_secs": 300, "backoff_initial_ms": 200, "backoff_max_ms": 1000},
            "libs": if with_libs { Value::Object(self.libs.clone()) } else { json!({}) },
        })
        .to_string()
    }

    fn activate(&self, h: &SshHost, spec: &str, extra: &[&str]) -> (bool, Value) {
        let mut args = vec!["activate", &self.path, "--sha256", &self.digest, "--binary", spec];
        args.extend_from_slice(extra);
        agent(h, &args)
    }
}

#[test]
fn the_agent_supervises_a_real_upstream_scheduler_on_the_lab() {
    let bin = read_cached(scx_cache().join("bin/scx_bpfland"));
    let lib_dir = scx_cache().join("lib");
    let lab = TestLab::up(1);
    let h = lab.host("lab-1");
    h.put(AGENT, &std::fs::read(agent_binary()).unwrap());
    h.ssh_ok(&["chmod", "700", AGENT]);
    assert_eq!(kernel(h).0, "disabled", "lab-1 starts on the kernel's default");

    // The binary and the libraries the VM lacks, pushed into the store.
    let digest = store_put(h, &bin);
    let mut libs = serde_json::Map::new();
    let mut lib_names: Vec<String> = std::fs::read_dir(&lib_dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run `bash lab/setup.sh scx`", lib_dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".so"))
        .collect();
    lib_names.sort();
    assert!(
        lib_names.iter().any(|n| n == "libelf.so.1"),
        "the lab VM lacks libelf: {lib_names:?} in {}",
        lib_dir.display()
    );
    for name in &lib_names {
        let bytes = read_cached(lib_dir.join(name));
        libs.insert(name.clone(), Value::String(store_put(h, &bytes)));
    }
    let path = format!("{}/{digest}", schedfleet_proto::STORE_DIR);
    let bpfland = Bpfland { path, digest: digest.clone(), libs };
    let simple = schedfleet_bpf::builtin("simple").unwrap().object;
    let simple_digest = store_put(h, simple);
    let simple_path = format!("{}/{simple_digest}", schedfleet_proto::STORE_DIR);
    let state_before = h.ssh(&["cat", schedfleet_proto::STATE_FILE]).stdout;

    // 1a. Libraries missing: refused before any change, naming them.
    let (ok, reply) = bpfland.activate(h, &bpfland.spec(3, false), &[]);
    assert!(!ok);
    assert_eq!(reply["error"]["kind"], "preflight", "{reply}");
    let said = reply["error"]["message"].as_str().unwrap();
    assert!(said.contains("libelf.so.1") && said.contains("push them with the binary"), "{said}");
    // 1b. A binary whose digest does not match its declaration.
    h.put("/root/scx_bpfland", b"not the scheduler that was declared");
    let installed = json!({
        "origin": {"kind": "installed", "path": "/root/scx_bpfland", "sha256": digest},
        "ops_name": "bpfland", "start_timeout_ms": 60000,
        "restart": {"max": 1, "window_secs": 60, "backoff_initial_ms": 100, "backoff_max_ms": 100},
    })
    .to_string();
    let (ok, reply) = agent(h, &["activate", "/root/scx_bpfland", "--sha256", &digest, "--binary", &installed]);
    assert!(!ok);
    assert_eq!(reply["error"]["kind"], "digest_mismatch", "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("refusing to load it"), "{reply}");
    assert_eq!(kernel(h).0, "disabled");
    assert!(
        !h.ssh(&["test", "-e", &format!("{}/scx", schedfleet_proto::AGENT_ROOT)]).status.success(),
        "nothing written"
    );
    assert_eq!(h.ssh(&["cat", schedfleet_proto::STATE_FILE]).stdout, state_before, "the state did not change");

    // 1c. A competitor: the same scheduler started by hand, as scx.service
    //     would. Refused with its name and ops, nothing changed; then
    //     `--takeover` stops it and schedfleet's own comes up.
    h.ssh_ok(&["mkdir", "-p", "/root/lib"]);
    for name in &lib_names {
        h.put(&format!("/root/lib/{name}"), &std::fs::read(lib_dir.join(name)).unwrap());
    }
    h.put("/root/scx_bpfland", &bin);
    h.ssh_ok(&["chmod", "755", "/root/scx_bpfland"]);
    h.ssh_ok(&[
        "setsid",
        "env",
        "LD_LIBRARY_PATH=/root/lib",
        "/root/scx_bpfland",
        "</dev/null",
        ">/root/competitor.log",
        "2>&1",
        "&",
    ]);
    wait_for("the competitor to load", Duration::from_secs(60), || kernel(h).1.starts_with("bpfland_"));
    let foreign = kernel(h);
    let (ok, reply) = bpfland.activate(h, &bpfland.spec(3, true), &[]);
    assert!(!ok);
    assert_eq!(reply["error"]["kind"], "other_manager", "{reply}");
    let said = reply["error"]["message"].as_str().unwrap();
    assert!(
        said.contains("process `scx_bpfland`") && said.contains(&foreign.1) && said.contains("--takeover"),
        "{said}"
    );
    assert_eq!(kernel(h), foreign, "the competitor still runs, untouched");
    let started = Instant::now();
    let (ok, reply) = bpfland.activate(h, &bpfland.spec(3, true), &["--takeover"]);
    assert!(ok, "{reply}");
    eprintln!(
        "takeover and start to `enabled`: {} ms (load_ms {})",
        started.elapsed().as_millis(),
        reply["result"]["load_ms"]
    );
    let (state, ops, seq) = kernel(h);
    assert_eq!(state, "enabled");
    assert!(ops.starts_with("bpfland_1.1.4_"), "{ops}");
    assert!(seq > foreign.2, "a new load");
    assert_eq!(reply["result"]["active"]["ops"], ops.as_str());

    // 2. Supervised, with its statistics.
    let mut st = status(h);
    wait_for("scx_stats", Duration::from_secs(30), || {
        st = status(h);
        st["scx_stats"].is_object()
    });
    assert!(st["kernel_agrees"].as_bool().unwrap(), "{st}");
    let sup = st["supervised"].clone();
    assert_eq!(sup["phase"], "running", "{st}");
    assert_eq!(sup["restarts"], 0);
    let pid = sup["pid"].as_u64().expect("the scheduler's pid").to_string();
    assert_eq!(pids_named(h, "scx_bpfland"), vec![pid.clone()], "only ours runs");
    eprintln!("scx_stats: {}", st["scx_stats"]);
    let rss = h.ssh_ok(&["grep", "VmRSS", &format!("/proc/{}/status", sup["supervisor_pid"])]);
    eprintln!("supervisor RSS while supervising: {rss}");

    // SIGKILL over plain ssh: a restart counted, with the cause.
    h.ssh_ok(&["kill", "-KILL", &pid]);
    wait_for("the restart", Duration::from_secs(90), || {
        st = status(h);
        st["supervised"]["restarts"] == 1 && st["supervised"]["phase"] == "running" && st["kernel_agrees"] == true
    });
    let last = &st["supervised"]["last_exit"];
    assert_eq!((last["cause"].as_str(), last["signal"].as_u64()), (Some("signaled"), Some(9)), "{st}");
    assert_eq!(last["pid"].as_u64().unwrap().to_string(), pid);
    assert_ne!(st["supervised"]["pid"].as_u64().unwrap().to_string(), pid, "a new process");
    assert!(kernel(h).1.starts_with("bpfland_"));

    // SysRq-S: the kernel ejects the scheduler; the cause is the kernel's.
    h.ssh_ok(&["sh", "-c", "'echo S > /proc/sysrq-trigger'"]);
    wait_for("the restart after the ejection", Duration::from_secs(90), || {
        st = status(h);
        st["supervised"]["restarts"] == 2 && st["supervised"]["phase"] == "running" && st["kernel_agrees"] == true
    });
    let last = &st["supervised"]["last_exit"];
    assert_eq!(last["cause"], "ejected", "{st}");
    assert!(last["reason"].as_str().unwrap().contains("sysrq"), "{st}");

    // 3. Binary -> object: the supervised scheduler is stopped, simple runs.
    let (ok, reply) = agent(h, &["activate", &simple_path, "--sha256", &simple_digest, "--replace"]);
    assert!(ok, "{reply}");
    assert_eq!(kernel(h).1, "simple");
    assert!(pids_named(h, "scx_bpfland").is_empty(), "the old scheduler's process is gone");

    // Object -> binary, unconfirmed, with a cap of one restart: two kills
    // exhaust it and the host falls back to simple, with the cause.
    let (ok, reply) = bpfland.activate(h, &bpfland.spec(1, true), &["--replace", "--confirm-within", "600"]);
    assert!(ok, "{reply}");
    assert!(kernel(h).1.starts_with("bpfland_"));
    for round in 1..=2 {
        let pid = status(h)["supervised"]["pid"].as_u64().expect("running").to_string();
        h.ssh_ok(&["kill", "-KILL", &pid]);
        if round == 1 {
            wait_for("the one restart", Duration::from_secs(90), || {
                st = status(h);
                st["supervised"]["restarts"] == 1 && st["supervised"]["phase"] == "running"
            });
            assert!(st["pending"].is_object(), "still pending after a restart: {st}");
            assert_eq!(st["watchdog_running"], true, "{st}");
        }
    }
    wait_for("the fallback to simple", Duration::from_secs(60), || {
        kernel(h).1 == "simple" && status(h)["last_fallback"].is_object()
    });
    st = status(h);
    let fb = &st["last_fallback"];
    assert_eq!(fb["to"], "previous `simple`", "{st}");
    assert!(fb["reason"].as_str().unwrap().contains("past its restart policy"), "{fb}");
    assert!(fb["reason"].as_str().unwrap().contains("killed by signal 9"), "{fb}");
    assert!(st["pending"].is_null() && st["kernel_agrees"] == true, "{st}");
    assert!(pids_named(h, "scx_bpfland").is_empty());
    let (ok, reply) = agent(h, &["confirm", "--artifact", &digest]);
    assert!(!ok);
    assert_eq!(reply["error"]["kind"], "reverted", "{reply}");

    // 4. Object -> binary confirmed, then rollback to simple and back.
    let (ok, reply) = bpfland.activate(h, &bpfland.spec(3, true), &["--replace"]);
    assert!(ok, "{reply}");
    assert!(kernel(h).1.starts_with("bpfland_"));
    let (ok, reply) = agent(h, &["rollback"]);
    assert!(ok, "{reply}");
    assert_eq!(kernel(h).1, "simple");
    assert!(pids_named(h, "scx_bpfland").is_empty());
    let (ok, reply) = agent(h, &["rollback"]);
    assert!(ok, "{reply}");
    assert!(kernel(h).1.starts_with("bpfland_"), "rolled back to the binary");
    st = status(h);
    assert!(st["kernel_agrees"].as_bool().unwrap() && st["supervised"]["phase"] == "running", "{st}");
    let log = st["supervised"]["log"].as_str().unwrap().to_owned();
    assert!(h.ssh_ok(&["cat", &log]).contains("schedfleet: starting"), "the scheduler's output is logged");

    // Binary -> binary that does not come up (the version the kernel's ops
    // name must carry is wrong): refused after its start timeout, and the
    // previous binary is put back.
    let mut wrong: Value = serde_json::from_str(&bpfland.spec(3, true)).unwrap();
    wrong["ops_version"] = json!("9.9.9");
    wrong["start_timeout_ms"] = json!(8000);
    let (ok, reply) = bpfland.activate(h, &wrong.to_string(), &["--replace"]);
    assert!(!ok);
    assert_eq!(reply["error"]["kind"], "not_enabled", "{reply}");
    let said = reply["error"]["message"].as_str().unwrap();
    assert!(said.contains("did not reach `enabled` in time") && said.contains("restored the previous"), "{said}");
    st = status(h);
    assert!(st["kernel_agrees"].as_bool().unwrap() && kernel(h).1.starts_with("bpfland_1.1.4_"), "{st}");
    assert_eq!(st["active"]["binary"]["ops_version"], "1.1.4");
    eprintln!(
        "start-to-enabled under TCG, from the supervisor's log:\n{}",
        h.ssh_ok(&["grep", "'enabled after'", &format!("{}/scx/supervisor.log", schedfleet_proto::AGENT_ROOT)])
    );

    // An agent killed right after the new binary came up (before it
    // recorded anything): `recover` stops that binary's supervisor and
    // starts the confirmed one again.
    let spec2 = bpfland.spec(2, true);
    let mut remote = vec!["env".to_owned(), "SCHEDFLEET_AGENT_FAULT=kill-after:attached".to_owned(), AGENT.to_owned()];
    for arg in ["activate", &bpfland.path, "--sha256", &digest, "--binary", &spec2, "--replace"] {
        remote.push(quoted(arg));
    }
    let out = h.ssh(&remote.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success() && out.stdout.is_empty(), "killed after `attached`: no reply");
    let (ok, reply) = agent(h, &["recover"]);
    assert!(ok, "{reply}");
    assert!(
        reply["result"]["recovered"]["reason"].as_str().unwrap().contains("was killed while it activated"),
        "{reply}"
    );
    st = status(h);
    assert!(st["kernel_agrees"].as_bool().unwrap() && st["supervised"]["phase"] == "running", "{st}");
    assert_eq!(st["active"]["binary"]["restart"]["max"], 3, "the confirmed binary runs again: {st}");
    assert_eq!(pids_named(h, "scx_bpfland").len(), 1, "one scheduler process");

    let (ok, reply) = agent(h, &["deactivate"]);
    assert!(ok, "{reply}");
    assert_eq!(kernel(h).0, "disabled");
    assert!(pids_named(h, "scx_bpfland").is_empty());
    wait_for("the supervisor to leave", Duration::from_secs(10), || {
        !h.ssh(&["pgrep", "-f", "schedfleet-agent supervise"]).status.success()
    });
}
