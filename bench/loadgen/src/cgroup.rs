//! Joining a cgroup v2 directory: the serving and the batch processes each
//! move themselves into their own before they start any thread, so every
//! thread they make is born there (cgroup v2 keeps a process's threads in
//! one cgroup unless it is threaded).
//!
//! The directories are created when missing and never removed: a scheduler
//! that resolved the serving cgroup's id when it was loaded (`serve`'s
//! `serving_cgroups`) must find the same cgroup in the next run.

use std::path::Path;

use anyhow::{bail, Context};

/// Creates `dir` if needed and moves this process into it.
pub fn join(dir: &Path) -> anyhow::Result<()> {
    if !dir.starts_with("/sys/fs/cgroup") {
        bail!("cgroup `{}` is not under /sys/fs/cgroup", dir.display());
    }
    if !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        bail!("no cgroup v2 file system at /sys/fs/cgroup (use --cgroup-root none to run without cgroups)");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create cgroup `{}`", dir.display()))?;
    let procs = dir.join("cgroup.procs");
    std::fs::write(&procs, std::process::id().to_string())
        .with_context(|| format!("move process {} into `{}`", std::process::id(), procs.display()))?;
    Ok(())
}

/// The cgroup this process is in, from `/proc/self/cgroup` (`0::/path`).
pub fn current() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| l.strip_prefix("0::")).map(str::to_owned)
}
