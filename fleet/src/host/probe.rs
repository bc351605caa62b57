//! The first round trip of every visit, and the agent's bootstrap.
//!
//! [`probe`] reads, in one command and writing nothing: the kernel release,
//! whether the kernel has sched_ext and its state, and which agent the host
//! holds, each candidate's sha256 computed on the host. An agent is only
//! ever executed when its content hashes to the digest it is stored under,
//! so a truncated or altered file in the store is never run (and is
//! replaced by [`install_agent`]).
//!
//! Both run a fixed `sh` script whose data comes only as positional
//! arguments (`sh -c SCRIPT sh ARG...`, each argument quoted by the
//! transport): no shell command is ever assembled from strings. They use
//! only POSIX tools every host has (busybox included), since the agent may
//! not be there yet.

use schedfleet_proto::{is_sha256_hex, AGENT_LINK, STORE_DIR};

use super::error::HostError;
use super::pool::Visit;
use super::session::Transport;
use crate::artifact::Artifact;

const PROBE: &str = r#"r=$(cat /proc/sys/kernel/osrelease) || r=unknown
printf 'release %s\n' "$r"
if s=$(cat /sys/kernel/sched_ext/state 2>/dev/null); then printf 'sched_ext %s\n' "$s"; fi
if l=$(readlink -- "$1" 2>/dev/null); then
    printf 'link %s\n' "$l"
    if s=$(sha256sum < "$1" 2>/dev/null); then printf 'linksum %s\n' "${s%% *}"; fi
fi
if [ -n "$2" ] && [ -f "$2" ]; then
    if s=$(sha256sum < "$2" 2>/dev/null); then printf 'wantsum %s\n' "${s%% *}"; fi
fi
"#;

/// $1 the store, $2 the digest, $3 the link; the bytes on stdin. A unique
/// temporary name (two controllers may bootstrap one host at once), synced
/// before its digest is checked and before the rename that makes it
/// visible under its digest, so the store never shows a partial agent.
const INSTALL: &str = r#"set -eu
umask 077
mkdir -p -- "$1"
t=$(mktemp -- "$1/.upload-agent.XXXXXXXX")
trap 'rm -f -- "$t"' EXIT
cat > "$t"
sync -- "$t" 2>/dev/null || sync
got=$(sha256sum < "$t")
got=${got%% *}
if [ "$got" != "$2" ]; then
    echo "the agent arrived as $got, expected $2; nothing was installed" >&2
    exit 3
fi
chmod 0700 -- "$t"
mv -f -- "$t" "$1/$2"
trap - EXIT
ln -sf -- "$1/$2" "$3.new.$$"
mv -f -- "$3.new.$$" "$3"
"#;

/// $1 the agent in the store, $2 the link.
const RELINK: &str = r#"set -eu
ln -sf -- "$1" "$2.new.$$"
mv -f -- "$2.new.$$" "$2"
"#;

/// What a host is, before anything is asked of its agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub kernel_release: String,
    /// `None` when the kernel has no sched_ext.
    pub sched_ext_state: Option<String>,
    /// The agent `plan`, `status` and `drift` use (the newest one pushed).
    pub linked: AgentOnHost,
    /// Whether the store holds the agent this run would push, verified.
    pub has_wanted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentOnHost {
    /// No agent was ever pushed.
    Absent,
    /// At this path; its content hashes to its name.
    Verified(String),
    /// The file does not hash to its name: it is never run.
    Corrupt { path: String, got: Option<String> },
}

fn sh(script: &str, args: &[&str]) -> Vec<String> {
    let mut a = vec!["-c".to_owned(), script.to_owned(), "sh".to_owned()];
    a.extend(args.iter().map(|s| (*s).to_owned()));
    a
}

pub fn agent_path(agent: &Artifact) -> String {
    format!("{STORE_DIR}/{}", agent.digest)
}

/// One round trip, nothing written. `want` is the agent this run pushes.
pub async fn probe<T: Transport>(v: &Visit<'_, T>, want: Option<&Artifact>) -> Result<Probe, HostError> {
    let want_path = want.map(agent_path).unwrap_or_default();
    let out = v.run("sh", &sh(PROBE, &[AGENT_LINK, &want_path]), None, true).await?;
    if !out.success() {
        return Err(HostError::Step {
            host: v.host().to_owned(),
            step: "probe".into(),
            code: out.code,
            stderr: out.stderr,
        });
    }
    let mut probe = parse_probe(&String::from_utf8_lossy(&out.stdout), want);
    if probe.sched_ext_state.is_none() && pretend_sched_ext() {
        probe.sched_ext_state = Some(PRETENDED.to_owned());
    }
    match (&probe.linked, want) {
        (_, Some(w)) if probe.has_wanted => v.remember_agent(&agent_path(w)),
        (AgentOnHost::Verified(path), _) => v.remember_agent(path),
        _ => {}
    }
    Ok(probe)
}

/// What a probe reports for a kernel without sched_ext under the test-only
/// switch [`pretend_sched_ext`].
const PRETENDED: &str = "disabled (pretended: SCHEDFLEET_TEST_FAULT=pretend-sched-ext)";

/// Test-only: `SCHEDFLEET_TEST_FAULT=pretend-sched-ext` lets the controller
/// go its whole way on hosts whose kernel has no sched_ext, the loopback
/// fleet of the benchmark (`bench/fleet/`), which runs this machine's
/// kernel. The probe reports sched_ext (disabled) and the agent's
/// `no_sched_ext` answer to `status` reads as "sched_ext disabled, nothing
/// active" ([`super::AgentClient::status`]); every round trip still goes to
/// the host. Nothing else changes: the agent itself refuses to activate on
/// such a kernel, so the push ends in its `no_sched_ext` refusal and nothing
/// is ever loaded.
pub(super) fn pretend_sched_ext() -> bool {
    std::env::var("SCHEDFLEET_TEST_FAULT").is_ok_and(|v| v == "pretend-sched-ext")
}

fn parse_probe(text: &str, want: Option<&Artifact>) -> Probe {
    let mut probe = Probe {
        kernel_release: "unknown".into(),
        sched_ext_state: None,
        linked: AgentOnHost::Absent,
        has_wanted: false,
    };
    let (mut link, mut linksum) = (None, None);
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let value = value.trim().to_owned();
        match key {
            "release" => probe.kernel_release = value,
            "sched_ext" => probe.sched_ext_state = Some(value),
            "link" => link = Some(value),
            "linksum" => linksum = Some(value),
            "wantsum" => probe.has_wanted = want.is_some_and(|w| w.digest.as_str() == value),
            _ => {}
        }
    }
    if let Some(path) = link {
        let named = path.rsplit('/').next().filter(|n| is_sha256_hex(n)).map(str::to_owned);
        let in_store = path.starts_with(&format!("{STORE_DIR}/"));
        probe.linked = match (named, linksum) {
            (Some(name), Some(sum)) if in_store && name == sum => AgentOnHost::Verified(path),
            (_, got) => AgentOnHost::Corrupt { path, got },
        };
    }
    probe
}

/// Puts `agent` in the host's store, verified on the host, and points the
/// link at it. Returns the bytes sent (0 when the store had it).
pub async fn install_agent<T: Transport>(v: &Visit<'_, T>, agent: &Artifact, probe: &Probe) -> Result<u64, HostError> {
    let path = agent_path(agent);
    if probe.has_wanted {
        if probe.linked != AgentOnHost::Verified(path.clone()) {
            let out = v.run("sh", &sh(RELINK, &[&path, AGENT_LINK]), None, true).await?;
            step_ok(v, "link the agent", out)?;
        }
        v.remember_agent(&path);
        return Ok(0);
    }
    let out =
        v.run("sh", &sh(INSTALL, &[STORE_DIR, agent.digest.as_str(), AGENT_LINK]), Some(&agent.bytes), true).await?;
    step_ok(v, "install the agent", out)?;
    v.remember_agent(&path);
    Ok(agent.bytes.len() as u64)
}

fn step_ok<T: Transport>(v: &Visit<'_, T>, step: &str, out: super::session::RemoteOutput) -> Result<(), HostError> {
    if out.success() {
        return Ok(());
    }
    Err(HostError::Step { host: v.host().to_owned(), step: step.to_owned(), code: out.code, stderr: out.stderr })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> Artifact {
        Artifact::new("schedfleet-agent", b"agent bytes".to_vec())
    }

    #[test]
    fn a_probe_reads_kernel_and_verified_agents() {
        let a = agent();
        let path = agent_path(&a);
        let text = format!(
            "release 7.3.4\nsched_ext disabled\nlink {path}\nlinksum {d}\nwantsum {d}\n",
            d = a.digest.as_str()
        );
        let p = parse_probe(&text, Some(&a));
        assert_eq!(p.kernel_release, "7.3.4");
        assert_eq!(p.sched_ext_state.as_deref(), Some("disabled"));
        assert_eq!(p.linked, AgentOnHost::Verified(path));
        assert!(p.has_wanted);
    }

    #[test]
    fn a_truncated_agent_is_corrupt_and_not_wanted() {
        let a = agent();
        let path = agent_path(&a);
        let other = "0".repeat(64);
        let p = parse_probe(&format!("release 6.1\nlink {path}\nlinksum {other}\nwantsum {other}\n"), Some(&a));
        assert_eq!(p.sched_ext_state, None, "no sched_ext line: the kernel has none");
        assert_eq!(p.linked, AgentOnHost::Corrupt { path, got: Some(other) });
        assert!(!p.has_wanted);
        let p = parse_probe("release 6.1\nlink /tmp/evil\nlinksum abc\n", Some(&a));
        assert!(matches!(p.linked, AgentOnHost::Corrupt { .. }), "a link outside the store is never run");
    }

    #[test]
    fn the_scripts_take_their_data_as_arguments_only() {
        // Whatever a digest or path holds, it reaches the script as "$N", never as script text.
        let args = sh(INSTALL, &["/s", "x'; rm -rf /; '", "/l"]);
        assert_eq!(args[1], INSTALL);
        assert_eq!(args[4], "x'; rm -rf /; '");
        for script in [PROBE, INSTALL, RELINK] {
            assert!(!script.contains("eval"), "{script}");
        }
    }

    /// The scripts themselves, run by this machine's `sh` on a store in a
    /// temporary directory (the lab runs them on busybox).
    mod on_a_real_shell {
        use std::os::unix::fs::PermissionsExt;
        use std::process::{Command, Stdio};

        use super::*;

        fn sh_run(script: &str, args: &[&str], input: &[u8]) -> std::process::Output {
            let mut child = Command::new("sh")
                .args(sh(script, args))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            let _ = child.stdin.take().unwrap().write_all(input);
            child.wait_with_output().unwrap()
        }

        fn leftovers(store: &std::path::Path) -> Vec<String> {
            std::fs::read_dir(store)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        }

        #[test]
        fn install_verifies_before_the_agent_becomes_visible() {
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("store");
            let link = dir.path().join("schedfleet-agent");
            let (s, l) = (store.to_str().unwrap(), link.to_str().unwrap());
            let a = agent();
            let out = sh_run(INSTALL, &[s, a.digest.as_str(), l], b"agent byt");
            assert_eq!(out.status.code(), Some(3), "a short upload is refused");
            assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was installed"));
            assert!(!store.join(a.digest.as_str()).exists() && leftovers(&store).is_empty());

            let out = sh_run(INSTALL, &[s, a.digest.as_str(), l], &a.bytes);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let installed = store.join(a.digest.as_str());
            assert_eq!(std::fs::read(&installed).unwrap(), &a.bytes[..]);
            assert_eq!(std::fs::metadata(&installed).unwrap().permissions().mode() & 0o777, 0o700);
            assert_eq!(std::fs::metadata(&store).unwrap().permissions().mode() & 0o777, 0o700);
            assert_eq!(std::fs::read_link(&link).unwrap(), installed);

            let probe = |want: &str| {
                let out = sh_run(PROBE, &[l, want], b"");
                assert!(out.status.success());
                String::from_utf8(out.stdout).unwrap()
            };
            let text = probe(installed.to_str().unwrap());
            assert!(text.contains(&format!("linksum {}", a.digest)), "{text}");
            assert!(text.contains(&format!("wantsum {}", a.digest)), "{text}");

            // A truncated store entry no longer hashes to its name; a new install repairs it.
            std::fs::write(&installed, &a.bytes[..3]).unwrap();
            assert!(!probe(installed.to_str().unwrap()).contains(&format!("wantsum {}", a.digest)));
            assert!(sh_run(INSTALL, &[s, a.digest.as_str(), l], &a.bytes).status.success());
            assert!(probe(installed.to_str().unwrap()).contains(&format!("wantsum {}", a.digest)));
        }

        #[test]
        fn concurrent_installs_never_expose_a_partial_agent() {
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("store");
            let link = dir.path().join("schedfleet-agent");
            let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
            let a = Artifact::new("schedfleet-agent", bytes);
            let (s, l) = (store.to_str().unwrap().to_owned(), link.to_str().unwrap().to_owned());
            let threads: Vec<_> = (0..6)
                .map(|_| {
                    let (s, l, a) = (s.clone(), l.clone(), a.clone());
                    std::thread::spawn(move || sh_run(INSTALL, &[&s, a.digest.as_str(), &l], &a.bytes))
                })
                .collect();
            for t in threads {
                let out = t.join().unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            }
            let installed = std::fs::read(store.join(a.digest.as_str())).unwrap();
            assert_eq!(crate::artifact::ArtifactDigest::of(&installed), a.digest);
            assert!(leftovers(&store).is_empty(), "{:?}", leftovers(&store));
        }
    }
}
