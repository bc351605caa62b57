//! The agent binary as the controller runs it: one JSON reply on stdout,
//! exit status 0 exactly when the reply is `ok`. Everything here runs on
//! this machine, whose kernel has no sched_ext; loading schedulers is
//! exercised on the VM lab by the CLI's integration tests.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn agent(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schedfleet-agent"));
    cmd.args(args).env_remove("SCHEDFLEET_AGENT_ROOT");
    cmd
}

fn reply(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "exactly one JSON document on stdout: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("stdout is JSON");
    assert_eq!(out.status.success(), v["outcome"] == "ok", "exit status matches the reply: {v}");
    v
}

#[test]
fn facts_describe_this_machine() {
    let v = reply(&agent(&["facts"]).output().unwrap());
    let f = &v["result"];
    assert_eq!(f["sched_ext"], std::path::Path::new("/sys/kernel/sched_ext").exists());
    assert!(f["cpus"].as_u64().unwrap() >= 1);
    assert_eq!(f["agent_version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn usage_errors_are_json_too() {
    for args in [&["explode"][..], &[], &["activate", "/x.o"], &["store", "put", "../../etc/shadow"]] {
        let v = reply(&agent(args).output().unwrap());
        assert_eq!(v["error"]["kind"], "usage", "{args:?}: {v}");
    }
}

#[test]
fn activate_refuses_without_root() {
    // setpriv drops to nobody; the check comes before anything is read.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_schedfleet-agent")])
        .args(["activate", "/nonexistent.bpf.o", "--sha256", &"a".repeat(64)])
        .output()
        .expect("setpriv (util-linux) runs");
    let v = reply(&out);
    assert_eq!(v["error"]["kind"], "not_root", "{v}");
}

#[test]
fn activate_without_sched_ext_is_refused() {
    if std::path::Path::new("/sys/kernel/sched_ext").exists() {
        panic!("this test expects a kernel without sched_ext; this one has it: the lab tests cover loading here");
    }
    let v = reply(&agent(&["activate", "/nonexistent.bpf.o", "--sha256", &"a".repeat(64)]).output().unwrap());
    assert_eq!(v["error"]["kind"], "no_sched_ext", "{v}");
}

#[test]
fn store_put_checks_the_digest_from_stdin() {
    let root = tempfile::tempdir().unwrap();
    let put = |digest: &str, data: &[u8]| {
        let mut child = agent(&["store", "put", digest])
            .env("SCHEDFLEET_AGENT_ROOT", root.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(data).unwrap();
        reply(&child.wait_with_output().unwrap())
    };
    let data = b"bytes of an artifact";
    let digest = "5b0ba6f2bc07b0cd5dfdd7c6ce1e8ba3ad91b1e89ba1fc24b1b8e3e5b0e8b1e2";
    let v = put(digest, data);
    assert_eq!(v["error"]["kind"], "digest_mismatch", "{v}");
    let real = {
        use std::process::Command;
        let out = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().and_then(|mut c| {
            c.stdin.take().unwrap().write_all(data)?;
            c.wait_with_output()
        });
        String::from_utf8(out.unwrap().stdout).unwrap()[..64].to_owned()
    };
    let v = put(&real, data);
    assert_eq!(v["result"]["written"], true, "{v}");
    let has =
        reply(&agent(&["store", "has", &real, digest]).env("SCHEDFLEET_AGENT_ROOT", root.path()).output().unwrap());
    assert_eq!(has["result"]["present"][0], real.as_str());
    assert_eq!(has["result"]["missing"][0], digest);
}

#[test]
fn status_without_sched_ext_is_refused_before_any_latency_window() {
    // Decided with the health report: a host without sched_ext still gets
    // `no_sched_ext` from `status` (callers use it as the sched_ext check),
    // and it gets it at once, not after the probe's window.
    if std::path::Path::new("/sys/kernel/sched_ext").exists() {
        panic!("this test expects a kernel without sched_ext; this one has it: the lab tests cover status here");
    }
    let started = std::time::Instant::now();
    let v = reply(&agent(&["status", "--latency-window", "5000"]).output().unwrap());
    assert_eq!(v["error"]["kind"], "no_sched_ext", "{v}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "status waited for the window first");
}

#[test]
fn status_options_are_checked() {
    for args in [
        &["status", "--latency-window", "soon"][..],
        &["status", "--latency-window", "60001"],
        &["status", "--cgroup"],
        &["status", "--verbose"],
    ] {
        let v = reply(&agent(args).output().unwrap());
        assert_eq!(v["error"]["kind"], "usage", "{args:?}: {v}");
    }
}

#[test]
fn bad_probes_are_usage_errors_before_anything_runs() {
    for (json, says) in [
        ("[{\"name\":", "--probes: not a JSON list of probes"),
        (r#"[{"name":"api","http":"https://127.0.0.1/health","timeout_ms":2000}]"#, "https is not supported"),
        (r#"[{"name":"api","http":"http://api.internal/health","timeout_ms":2000}]"#, "no DNS resolver"),
        (r#"[{"name":"a","command":["true"],"timeout_ms":0}]"#, "`timeout_ms` 0"),
    ] {
        let v = reply(&agent(&["status", "--latency-window", "0", "--probes", json]).output().unwrap());
        assert_eq!(v["error"]["kind"], "usage", "{json}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(says), "{json}: {v}");
    }
}

#[test]
fn status_with_probes_is_still_refused_at_once_without_sched_ext() {
    // The sched_ext check comes before the probes start: a probe that would
    // take 5 s neither runs nor delays the refusal.
    if std::path::Path::new("/sys/kernel/sched_ext").exists() {
        panic!("this test expects a kernel without sched_ext; this one has it: the lab tests cover status here");
    }
    let probes = r#"[{"name":"slow","command":["sleep","5"],"timeout_ms":5000}]"#;
    let started = std::time::Instant::now();
    let v = reply(&agent(&["status", "--latency-window", "0", "--probes", probes]).output().unwrap());
    assert_eq!(v["error"]["kind"], "no_sched_ext", "{v}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "status ran the probes first");
}

#[test]
fn rollout_commands_check_their_arguments() {
    let hex = "a".repeat(64);
    for (args, says) in [
        (&["confirm"][..], "--artifact"),
        (&["confirm", "--artifact", "simple"], "not a lower-case hex sha256"),
        (&["rollback", "--previous"], "--previous"),
        (&["lease", "acquire", "--owner", "me"], "--ttl"),
        (&["lease", "acquire", "--ttl", "60"], "--owner"),
        (&["activate", "/x.o", "--sha256", &hex, "--probes", "[]"], "give --confirm-within too"),
        (&["activate", "/x.o", "--sha256", &hex, "--confirm-within", "0"], "--confirm-within `0`"),
    ] {
        let v = reply(&agent(args).output().unwrap());
        assert_eq!(v["error"]["kind"], "usage", "{args:?}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(says), "{args:?}: {v}");
    }
}

#[test]
fn confirm_and_rollback_need_root_and_sched_ext() {
    if std::path::Path::new("/sys/kernel/sched_ext").exists() {
        panic!("this test expects a kernel without sched_ext; this one has it: the lab tests cover these here");
    }
    let hex = "a".repeat(64);
    for args in [&["confirm", "--artifact", &hex][..], &["rollback"]] {
        let v = reply(&agent(args).output().unwrap());
        assert_eq!(v["error"]["kind"], "no_sched_ext", "{args:?}: {v}");
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_schedfleet-agent")])
            .args(args)
            .output()
            .expect("setpriv (util-linux) runs");
        assert_eq!(reply(&out)["error"]["kind"], "not_root", "{args:?}");
    }
}

#[test]
fn of_concurrent_lease_acquires_from_processes_one_wins() {
    let root = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..8)
        .map(|i| {
            agent(&["lease", "acquire", "--owner", &format!("op{i}@lab pid {i} run r"), "--ttl", "60"])
                .env("SCHEDFLEET_AGENT_ROOT", root.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let replies: Vec<_> = children.into_iter().map(|c| reply(&c.wait_with_output().unwrap())).collect();
    let winners: Vec<_> = replies.iter().filter(|v| v["outcome"] == "ok").collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    let owner = winners[0]["result"]["lease"]["owner"].as_str().unwrap();
    for lost in replies.iter().filter(|v| v["outcome"] != "ok") {
        assert_eq!(lost["error"]["kind"], "lease_held", "{lost}");
        assert_eq!(lost["error"]["lease"]["owner"], owner, "{lost}");
    }
    let lease = |args: &[&str]| reply(&agent(args).env("SCHEDFLEET_AGENT_ROOT", root.path()).output().unwrap());
    assert_eq!(lease(&["lease", "release", "--owner", "someone else"])["error"]["kind"], "lease_held");
    let refreshed = lease(&["lease", "acquire", "--owner", owner, "--ttl", "5"]);
    assert_eq!(refreshed["result"]["refreshed"], true, "{refreshed}");
    assert_eq!(lease(&["lease", "release", "--owner", owner])["result"]["released"]["owner"], owner);
    assert_eq!(lease(&["lease", "release", "--owner", owner])["result"], serde_json::json!({}));
}

#[test]
fn a_watchdog_with_nothing_pending_leaves_at_once() {
    // Started by hand (the agent starts it detached): it finds no pending
    // activation of its artifact, logs why and leaves.
    let root = tempfile::tempdir().unwrap();
    // Root-only, as the agent makes its own (it would narrow it, and say so on stderr).
    std::fs::set_permissions(root.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let started = std::time::Instant::now();
    let out = agent(&["watch", "--artifact", &"a".repeat(64), "--enable-seq", "3"])
        .env("SCHEDFLEET_AGENT_ROOT", root.path())
        .output()
        .unwrap();
    let v = reply(&out);
    assert_eq!(v["result"]["ended"], "replaced", "{v}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let log = std::fs::read_to_string(root.path().join("watchdog.log")).unwrap();
    assert!(log.contains("watchdog ends: replaced"), "{log}");
    assert!(
        out.stderr.is_empty(),
        "the watchdog logs to its file, not stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_watchdog_that_cannot_read_the_state_falls_back_instead_of_leaving() {
    // Fail closed: with the state unreadable, nothing says whether the
    // activation was confirmed, so the watchdog removes the scheduler (on a
    // sched_ext host: the kernel's default runs; here there is nothing to
    // remove) and records why in a fresh state, keeping the unreadable file.
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::write(root.path().join("state.json"), b"{ torn").unwrap();
    let out = agent(&["watch", "--artifact", &"a".repeat(64), "--enable-seq", "3"])
        .env("SCHEDFLEET_AGENT_ROOT", root.path())
        .output()
        .unwrap();
    let v = reply(&out);
    assert_eq!(v["result"]["ended"], "fell_back", "{v}");
    let reason = v["result"]["fallback"]["reason"].as_str().unwrap();
    assert!(reason.contains("could not be read"), "{reason}");
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.path().join("state.json")).unwrap()).unwrap();
    assert_eq!(st["last_fallback"]["from_artifact"], "a".repeat(64), "{st}");
    let kept: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.json.unreadable-"))
        .collect();
    assert_eq!(kept.len(), 1, "the unreadable state is kept for people");
}

#[test]
fn store_put_repairs_a_corrupted_entry_and_keeps_it_root_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let digest = {
        use std::process::Command;
        let mut c = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        c.stdin.take().unwrap().write_all(&data).unwrap();
        String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()[..64].to_owned()
    };
    let put = || {
        let mut child = agent(&["store", "put", &digest])
            .env("SCHEDFLEET_AGENT_ROOT", root.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&data).unwrap();
        reply(&child.wait_with_output().unwrap())
    };
    let has = || reply(&agent(&["store", "has", &digest]).env("SCHEDFLEET_AGENT_ROOT", root.path()).output().unwrap());
    assert_eq!(put()["result"]["written"], true);
    let entry = root.path().join("store").join(&digest);
    assert_eq!(std::fs::metadata(&entry).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(root.path().join("store")).unwrap().permissions().mode() & 0o777, 0o700);
    std::fs::write(&entry, &data[..4096]).unwrap();
    assert_eq!(has()["result"]["missing"][0], digest.as_str(), "a truncated entry is missing");
    assert_eq!(put()["result"]["written"], true, "and put repairs it");
    assert_eq!(std::fs::read(&entry).unwrap(), data);
    assert_eq!(has()["result"]["present"][0], digest.as_str());
}
