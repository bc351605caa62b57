//! The lab's errors: one enum, each variant naming the file, VM or tool it
//! is about and, where a person has something to do, what to run.
//!
//! Boot failures carry the end of the VM's console log, because that is
//! where the reason is (a kernel panic, a module that did not load, sshd
//! complaining about its key) and the user should not have to go looking.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("no sched_ext kernel cached: `{missing}` does not exist; run `{fetch}`{}", cached_suffix(.cached))]
    KernelMissing {
        missing: PathBuf,
        /// The `lab/setup.sh` command that caches it.
        fetch: String,
        /// What the cache holds (releases and the `current`/`oldest` aliases).
        cached: Vec<String>,
    },

    #[error("`{name}` is not a kernel release (`7.2.6+deb13-cloud-amd64`) nor an alias (`current`, `oldest`)")]
    KernelName { name: String },

    #[error("`{tool}` not found{where_}; run `lab/setup.sh packages`")]
    ToolMissing { tool: String, where_: String },

    #[error("no lab directory: pass `--lab-dir` or set `SCHEDFLEET_LAB_DIR`, `XDG_STATE_HOME` or `HOME`")]
    NoLabDir,

    #[error("no kernel cache directory: set `SCHEDFLEET_CACHE` or `HOME`")]
    NoCacheDir,

    #[error("a lab has 1 to {max} VMs, not {count}")]
    HostCount { count: usize, max: usize },

    #[error("failed to {action} `{path}`")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("`{program}` failed to {action} ({status}){}", stderr_suffix(.stderr))]
    Command { program: PathBuf, action: String, status: String, stderr: String },

    #[error("`{binary}` needs `{library}`, which `ldd` cannot find")]
    MissingLibrary { binary: PathBuf, library: String },

    #[error("`{path}` holds `{content}`, which is not {expected}")]
    Corrupt { path: PathBuf, content: String, expected: &'static str },

    #[error("qemu did not start `{name}`: {detail} (qemu's log: `{log}`)")]
    QemuStart { name: String, detail: String, log: PathBuf },

    #[error("`{name}` stopped while booting; its console log `{console}` ends with:\n{tail}")]
    VmExited { name: String, console: PathBuf, tail: String },

    #[error(
        "`{name}` did not answer ssh on port {port} within {secs} s (last ssh error: {last_error}); \
         its console log `{console}` ends with:\n{tail}"
    )]
    BootTimeout { name: String, port: u16, secs: u64, last_error: String, console: PathBuf, tail: String },

    #[error("`{name}` (pid {pid}) did not exit after SIGTERM and SIGKILL")]
    StopTimeout { name: String, pid: u32 },
}

fn cached_suffix(cached: &[String]) -> String {
    if cached.is_empty() {
        String::new()
    } else {
        format!(" (cached: {})", cached.join(", "))
    }
}

fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// `map_err` adapter for I/O on one path.
pub(crate) fn io_err<'a>(action: &'static str, path: &'a Path) -> impl Fn(io::Error) -> LabError + 'a {
    move |source| LabError::Io { action, path: path.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_the_house_style() {
        let err = LabError::KernelMissing {
            missing: "/c/kernel/current/vmlinuz".into(),
            fetch: "lab/setup.sh kernel".into(),
            cached: Vec::new(),
        };
        assert_eq!(
            err.to_string(),
            "no sched_ext kernel cached: `/c/kernel/current/vmlinuz` does not exist; run `lab/setup.sh kernel`"
        );
        let err = LabError::KernelMissing {
            missing: "/c/kernel/7.1.3/vmlinuz".into(),
            fetch: "lab/setup.sh kernel 7.1.3".into(),
            cached: vec!["7.3.4+deb13-cloud-amd64".into(), "current".into()],
        };
        assert_eq!(
            err.to_string(),
            "no sched_ext kernel cached: `/c/kernel/7.1.3/vmlinuz` does not exist; run `lab/setup.sh kernel 7.1.3` \
             (cached: 7.3.4+deb13-cloud-amd64, current)"
        );
        let err = LabError::Command {
            program: "/usr/bin/ssh-keygen".into(),
            action: "make a key".into(),
            status: "exit status: 1".into(),
            stderr: "denied\n".into(),
        };
        assert_eq!(err.to_string(), "`/usr/bin/ssh-keygen` failed to make a key (exit status: 1): denied");
    }
}
