//! What the lab takes from the machine it runs on: the programs (qemu,
//! busybox, OpenSSH, ldd) and the sched_ext kernel that `lab/setup.sh`
//! cached.
//!
//! Everything is located up front, so a missing piece is reported before
//! anything is built or started, with the `lab/setup.sh` step that provides
//! it. This module only finds things; it builds and runs nothing except
//! `ldd`, whose answer decides which libraries the image carries.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::{io_err, LabError};

/// The kernel modules the VM needs for its network, in load order.
pub const KERNEL_MODULES: [&str; 3] = ["failover", "net_failover", "virtio_net"];

/// Absolute paths of the host programs the lab uses.
#[derive(Debug, Clone)]
pub struct HostTools {
    pub qemu: PathBuf,
    pub busybox: PathBuf,
    pub sshd: PathBuf,
    pub sftp_server: PathBuf,
    pub ssh: PathBuf,
    pub ssh_keygen: PathBuf,
    pub ldd: PathBuf,
    /// Optional: unpacks the kernel for a faster boot (see `kernel.rs`).
    pub zstd: Option<PathBuf>,
}

impl HostTools {
    /// Finds every program or says which one is missing. sshd and the sftp
    /// server are taken from the fixed paths of Debian's packages because
    /// the VM runs them at those same paths.
    pub fn locate() -> Result<Self, LabError> {
        Ok(HostTools {
            qemu: on_path("qemu-system-x86_64")?,
            busybox: on_path("busybox")?,
            sshd: fixed("/usr/sbin/sshd")?,
            sftp_server: fixed("/usr/lib/openssh/sftp-server")?,
            ssh: fixed("/usr/bin/ssh")?,
            ssh_keygen: fixed("/usr/bin/ssh-keygen")?,
            ldd: on_path("ldd")?,
            zstd: on_path("zstd").ok(),
        })
    }
}

fn fixed(path: &str) -> Result<PathBuf, LabError> {
    let path = PathBuf::from(path);
    if path.is_file() {
        Ok(path)
    } else {
        Err(LabError::ToolMissing { tool: path.display().to_string(), where_: String::new() })
    }
}

fn on_path(name: &str) -> Result<PathBuf, LabError> {
    // Debian puts busybox in /bin and some PATHs (cron's) lack /usr/sbin:
    // look in the usual places after PATH.
    let path = env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = env::split_paths(&path).collect();
    dirs.extend(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| LabError::ToolMissing { tool: name.to_owned(), where_: " on `PATH`".to_owned() })
}

/// The libraries (and the dynamic loader) `binary` needs, as `ldd` names
/// them; empty for a static binary.
pub fn shared_libraries(ldd: &Path, binary: &Path) -> Result<Vec<PathBuf>, LabError> {
    let out = Command::new(ldd).arg(binary).output().map_err(io_err("run", ldd))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // glibc's ldd exits with 1 and says "not a dynamic executable" for
    // static binaries (busybox-static).
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stdout.contains("not a dynamic executable") || stderr.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        return Err(LabError::Command {
            program: ldd.to_owned(),
            action: format!("list the libraries of `{}`", binary.display()),
            status: out.status.to_string(),
            stderr: stderr.into_owned(),
        });
    }
    parse_ldd(&stdout).map_err(|library| LabError::MissingLibrary { binary: binary.to_owned(), library })
}

/// Paths from `ldd` output; `Err(name)` for the first library it could not find.
fn parse_ldd(output: &str) -> Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in output.lines().map(str::trim) {
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(name.trim().to_owned());
                }
                rest.split_whitespace().next().unwrap_or("")
            }
            // The loader, and the vDSO (which has no path and is skipped).
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// The kernel `schedfleet lab up` boots unless told otherwise: the newest
/// sched_ext release `lab/setup.sh kernel` cached.
pub const DEFAULT_KERNEL: &str = "current";

/// One sched_ext kernel that `lab/setup.sh kernel` cached. Releases sit side
/// by side in `<cache>/kernel/<release>/`; `current` (the newest, the
/// default) and `oldest` are symlinks to two of them, the ends of the
/// kernel matrix the lab tests run on.
#[derive(Debug, Clone)]
pub struct KernelCache {
    pub dir: PathBuf,
    pub vmlinuz: PathBuf,
    pub config: PathBuf,
    /// `uname -r` inside the VM, e.g. `7.3.4+deb13-cloud-amd64`.
    pub release: String,
    /// `(name, path)` in [`KERNEL_MODULES`] order.
    pub modules: Vec<(String, PathBuf)>,
}

impl KernelCache {
    /// `${SCHEDFLEET_CACHE:-$HOME/.cache/schedfleet}/kernel`, the directory
    /// `lab/setup.sh kernel` fills.
    pub fn cache_dir() -> Result<PathBuf, LabError> {
        let cache = match env::var_os("SCHEDFLEET_CACHE").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => env_path("HOME").ok_or(LabError::NoCacheDir)?.join(".cache/schedfleet"),
        };
        Ok(cache.join("kernel"))
    }

    /// The kernel named `name` (a release or an alias; [`DEFAULT_KERNEL`]
    /// when `None`) in the cache.
    pub fn locate(name: Option<&str>) -> Result<Self, LabError> {
        let name = name.unwrap_or(DEFAULT_KERNEL);
        check_kernel_name(name)?;
        Self::in_cache(&Self::cache_dir()?, name)
    }

    /// `name` in the cache directory `cache`.
    fn in_cache(cache: &Path, name: &str) -> Result<Self, LabError> {
        let fetch = if name == DEFAULT_KERNEL {
            "lab/setup.sh kernel".to_owned()
        } else {
            format!("lab/setup.sh kernel {name}")
        };
        Self::read(&cache.join(name), &|missing| LabError::KernelMissing {
            missing,
            fetch: fetch.clone(),
            cached: cached_kernels(cache),
        })
    }

    /// The kernel in `dir`, wherever it is.
    pub fn at(dir: &Path) -> Result<Self, LabError> {
        Self::read(dir, &|missing| LabError::KernelMissing {
            missing,
            fetch: "lab/setup.sh kernel".into(),
            cached: Vec::new(),
        })
    }

    fn read(dir: &Path, missing: &dyn Fn(PathBuf) -> LabError) -> Result<Self, LabError> {
        let need = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(missing(path))
            }
        };
        let vmlinuz = need("vmlinuz")?;
        let config = need("config")?;
        let release_file = need("release")?;
        let release = fs::read_to_string(&release_file).map_err(io_err("read", &release_file))?;
        let release = release.trim().to_owned();
        if release.is_empty() || release.contains(['/', ' ']) {
            return Err(LabError::Corrupt { path: release_file, content: release, expected: "a kernel release" });
        }
        let modules = KERNEL_MODULES
            .iter()
            .map(|m| Ok((m.to_string(), need(&format!("modules/{m}.ko"))?)))
            .collect::<Result<_, LabError>>()?;
        Ok(KernelCache { dir: dir.to_owned(), vmlinuz, config, release, modules })
    }
}

/// A release or alias names one folder of the cache: no path separators,
/// nothing hidden, no `..`.
fn check_kernel_name(name: &str) -> Result<(), LabError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-._~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(LabError::KernelName { name: name.escape_debug().to_string() })
    }
}

/// The kernels the cache holds, complete or not, sorted: releases, then
/// the aliases among them by name.
fn cached_kernels(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(cache)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join("vmlinuz").is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.') && !n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// `var` when set and not empty.
pub(crate) fn env_path(var: &str) -> Option<PathBuf> {
    env::var_os(var).filter(|v: &OsString| !v.is_empty()).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_is_parsed() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibcrypt.so.1 => /lib/x86_64-linux-gnu/libcrypt.so.1 (0x00007f12)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f13)\n";
        assert_eq!(
            parse_ldd(out).unwrap(),
            [PathBuf::from("/lib/x86_64-linux-gnu/libcrypt.so.1"), PathBuf::from("/lib64/ld-linux-x86-64.so.2")]
        );
        assert_eq!(parse_ldd("\tlibwrap.so.0 => not found\n").unwrap_err(), "libwrap.so.0");
    }

    #[test]
    fn a_missing_kernel_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = KernelCache::at(dir.path()).unwrap_err().to_string();
        assert!(err.contains("vmlinuz"), "{err}");
        assert!(err.contains("run `lab/setup.sh kernel`"), "{err}");
    }

    fn cache_release(cache: &Path, release: &str) {
        let dir = cache.join(release);
        for f in ["vmlinuz", "config", "modules/failover.ko", "modules/net_failover.ko", "modules/virtio_net.ko"] {
            let path = dir.join(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, b"x").unwrap();
        }
        fs::write(dir.join("release"), format!("{release}\n")).unwrap();
    }

    #[test]
    fn a_complete_cache_is_read() {
        let dir = tempfile::tempdir().unwrap();
        cache_release(dir.path(), "7.3.4+deb13-cloud-amd64");
        let kernel = KernelCache::at(&dir.path().join("7.3.4+deb13-cloud-amd64")).unwrap();
        assert_eq!(kernel.release, "7.3.4+deb13-cloud-amd64");
        assert_eq!(kernel.modules[2].0, "virtio_net");
    }

    #[test]
    fn releases_sit_side_by_side_and_aliases_name_them() {
        let cache = tempfile::tempdir().unwrap();
        cache_release(cache.path(), "7.2.6+deb13-cloud-amd64");
        cache_release(cache.path(), "7.3.4+deb13-cloud-amd64");
        std::os::unix::fs::symlink("7.3.4+deb13-cloud-amd64", cache.path().join("current")).unwrap();
        std::os::unix::fs::symlink("7.2.6+deb13-cloud-amd64", cache.path().join("oldest")).unwrap();
        let release = |name: &str| KernelCache::in_cache(cache.path(), name).unwrap().release;
        assert_eq!(release(DEFAULT_KERNEL), "7.3.4+deb13-cloud-amd64");
        assert_eq!(release("oldest"), "7.2.6+deb13-cloud-amd64");
        assert_eq!(release("7.2.6+deb13-cloud-amd64"), "7.2.6+deb13-cloud-amd64");

        let err = KernelCache::in_cache(cache.path(), "7.1.3+deb13-cloud-amd64").unwrap_err().to_string();
        assert!(err.contains("run `lab/setup.sh kernel 7.1.3+deb13-cloud-amd64`"), "{err}");
        assert!(err.ends_with("(cached: 7.2.6+deb13-cloud-amd64, 7.3.4+deb13-cloud-amd64, current, oldest)"), "{err}");
    }

    #[test]
    fn kernel_names_cannot_leave_the_cache() {
        for bad in ["", "..", "../etc", "a/b", ".hidden", "7.3 4", "x\n"] {
            assert!(matches!(check_kernel_name(bad), Err(LabError::KernelName { .. })), "{bad:?}");
        }
        for good in ["current", "oldest", "7.2.6+deb13-cloud-amd64", "7.3.4"] {
            assert!(check_kernel_name(good).is_ok(), "{good}");
        }
    }
}
