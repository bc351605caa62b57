//! Turns `--cgroup PATH` into what the probe's filter compares: the
//! cgroup's id (the inode number of its cgroup2 directory, which is the
//! kernel's cgroup id) and its depth below the cgroup2 root.
//!
//! PATH is either a directory of a mounted cgroup2 file system
//! (`/sys/fs/cgroup/system.slice/vllm.service`) or a path relative to the
//! cgroup2 root (`system.slice/vllm.service`, or `/system.slice/vllm.service`
//! as in `/proc/PID/cgroup`). The
//! depth comes from the path and the mount's root in `/proc/self/mountinfo`,
//! so a cgroup2 mounted from a sub-tree is counted correctly. Inside a
//! cgroup namespace the kernel's depth is not visible; the agent runs on
//! the host, so that case is not handled. cgroup v1 hierarchies are not
//! supported: the probe reads the task's default (v2) hierarchy.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::sched::wakelat::CgroupFilter;

/// A mounted cgroup2 file system.
#[derive(Debug, Clone, PartialEq)]
pub struct Cgroup2Mount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The cgroup of the hierarchy shown at the mount point (`/` usually).
    pub root: PathBuf,
}

pub fn resolve(path: &str) -> Result<CgroupFilter, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let mounts = cgroup2_mounts(&mountinfo);
    let (dir, level) = locate(below_root(path, &mounts), &mounts)?;
    let meta = std::fs::metadata(&dir).map_err(|e| format!("cgroup `{}`: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("cgroup `{}` is not a directory", dir.display()));
    }
    if !is_cgroup2(&dir) {
        return Err(format!("`{}` is not a cgroup v2 directory; the latency filter needs cgroup v2", dir.display()));
    }
    Ok(CgroupFilter { id: meta.ino(), level })
}

/// The directory is on a cgroup2 file system (a path can look like one and
/// be a v1 hierarchy mounted below it).
pub fn is_cgroup2(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    // SAFETY: statfs is plain old data and the path is NUL-terminated.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(c_path.as_ptr(), &mut fs) == 0 && fs.f_type as i64 == CGROUP2_SUPER_MAGIC }
}

/// `path` as [`locate`] takes it: an absolute path that is not under a
/// cgroup2 mount point is read as relative to the cgroup2 root, the way
/// `/proc/PID/cgroup` writes it (`/serving` is `serving`).
pub fn below_root<'a>(path: &'a str, mounts: &[Cgroup2Mount]) -> &'a str {
    if mounts.iter().any(|m| Path::new(path).starts_with(&m.mount_point)) {
        path
    } else {
        path.trim_start_matches('/')
    }
}

/// The directory of `path` and its depth below the cgroup2 root.
pub fn locate(path: &str, mounts: &[Cgroup2Mount]) -> Result<(PathBuf, u32), String> {
    if mounts.is_empty() {
        return Err("no cgroup2 file system is mounted; the latency filter needs cgroup v2".into());
    }
    let path = Path::new(path);
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("cgroup `{}` must not contain `..`", path.display()));
    }
    let (mount, below) = if path.is_absolute() {
        // The mount with the longest mount point that holds the path.
        mounts
            .iter()
            .filter_map(|m| Some((m, path.strip_prefix(&m.mount_point).ok()?)))
            .max_by_key(|(m, _)| m.mount_point.components().count())
            .ok_or_else(|| format!("`{}` is not inside a cgroup2 file system", path.display()))?
    } else {
        let mount = mounts.iter().find(|m| m.root == Path::new("/")).unwrap_or(&mounts[0]);
        (mount, path)
    };
    let depth = |p: &Path| p.components().filter(|c| matches!(c, Component::Normal(_))).count() as u32;
    Ok((mount.mount_point.join(below), depth(&mount.root) + depth(below)))
}

/// The cgroup2 mounts listed in a `/proc/PID/mountinfo`.
pub fn cgroup2_mounts(mountinfo: &str) -> Vec<Cgroup2Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // id parent major:minor root mount-point options [optional...] - fstype source super-options
            let (before, after) = line.split_once(" - ")?;
            if after.split_whitespace().next()? != "cgroup2" {
                return None;
            }
            let mut fields = before.split_whitespace().skip(3);
            let root = unescape(fields.next()?);
            let mount_point = unescape(fields.next()?);
            Some(Cgroup2Mount { mount_point: mount_point.into(), root: root.into() })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
31 22 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 22 0:26 /system.slice /srv/my\\040cgroups rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn only_cgroup2_mounts_are_listed_and_unescaped() {
        let mounts = cgroup2_mounts(MOUNTINFO);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0], Cgroup2Mount { mount_point: "/sys/fs/cgroup".into(), root: "/".into() });
        assert_eq!(mounts[1].mount_point, Path::new("/srv/my cgroups"));
        assert_eq!(mounts[1].root, Path::new("/system.slice"));
    }

    #[test]
    fn absolute_paths_outside_the_mounts_are_below_the_root() {
        let mounts = cgroup2_mounts(MOUNTINFO);
        assert_eq!(below_root("/serving", &mounts), "serving");
        assert_eq!(below_root("/sys/fs/cgroup/serving", &mounts), "/sys/fs/cgroup/serving");
        assert_eq!(below_root("a/b", &mounts), "a/b");
    }

    #[test]
    fn levels_count_from_the_hierarchy_root() {
        let mounts = cgroup2_mounts(MOUNTINFO);
        let at = |p| locate(p, &mounts).unwrap();
        assert_eq!(at("/sys/fs/cgroup"), ("/sys/fs/cgroup".into(), 0));
        assert_eq!(
            at("/sys/fs/cgroup/system.slice/vllm.service"),
            ("/sys/fs/cgroup/system.slice/vllm.service".into(), 2)
        );
        assert_eq!(at("system.slice/vllm.service/"), ("/sys/fs/cgroup/system.slice/vllm.service".into(), 2));
        // A mount of a sub-tree: its root is already one level down.
        assert_eq!(at("/srv/my cgroups/vllm.service"), ("/srv/my cgroups/vllm.service".into(), 2));
    }

    #[test]
    fn paths_outside_cgroup2_are_refused() {
        let mounts = cgroup2_mounts(MOUNTINFO);
        // By path alone a v1 hierarchy mounted below the cgroup2 one looks
        // like a cgroup2 directory; `resolve` checks the file system type.
        assert!(locate("/sys/fs/cgroup/cpu/x", &mounts).is_ok());
        assert!(locate("/etc", &mounts).unwrap_err().contains("not inside a cgroup2"));
        assert!(locate("/sys/fs/cgroup/../../etc", &mounts).unwrap_err().contains(".."));
        assert!(locate("x", &[]).unwrap_err().contains("cgroup v2"));
    }

    #[test]
    fn resolve_refuses_what_is_not_cgroup2() {
        assert!(resolve("/proc/self").is_err());
        assert!(resolve("no/such/cgroup-for-schedfleet-tests").is_err());
    }

    #[test]
    fn octal_escapes() {
        assert_eq!(unescape(r"a\040b\011c\134d"), "a b\tc\\d");
        assert_eq!(unescape(r"trailing\04"), r"trailing\04");
    }
}
