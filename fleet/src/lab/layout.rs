//! Where the lab keeps its state on disk. One directory holds everything a
//! lab is: the client key pair, the known-hosts file, the cached base
//! image, a lock, and one folder per VM (`lab-1/`, `lab-2/` ...) with its
//! host key, boot image, PID file, console log and port.
//!
//! This module only names paths; reading and writing them is the business
//! of the modules that own each file.

use std::path::{Path, PathBuf};

use super::error::LabError;
use super::host::env_path;

/// The root of one lab.
#[derive(Debug, Clone)]
pub struct LabLayout {
    root: PathBuf,
}

impl LabLayout {
    /// `dir`, else `SCHEDFLEET_LAB_DIR`, else
    /// `${XDG_STATE_HOME:-$HOME/.local/state}/schedfleet/lab`; made absolute,
    /// because qemu runs with `/` as its working directory, and canonical
    /// as far as it exists, because a VM is recognised by the path of its
    /// PID file: two spellings of one lab must give one path.
    pub fn resolve(dir: Option<PathBuf>) -> Result<Self, LabError> {
        let root = match dir.or_else(|| env_path("SCHEDFLEET_LAB_DIR")) {
            Some(dir) => dir,
            None => match env_path("XDG_STATE_HOME") {
                Some(state) => state.join("schedfleet/lab"),
                None => env_path("HOME").ok_or(LabError::NoLabDir)?.join(".local/state/schedfleet/lab"),
            },
        };
        let absolute =
            std::path::absolute(&root).map_err(|source| LabError::Io { action: "resolve", path: root, source })?;
        Ok(LabLayout { root: canonical_prefix(&absolute) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Held (flock) while a command changes the lab.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }

    pub fn client_key(&self) -> PathBuf {
        self.root.join("id_ed25519")
    }

    pub fn client_public_key(&self) -> PathBuf {
        self.root.join("id_ed25519.pub")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.root.join("known_hosts")
    }

    /// What VMs booting kernel `release` share (the base image, the
    /// unpacked kernel), one folder per release so that a lab switching
    /// kernels rebuilds nothing it built before.
    pub fn image_dir(&self, release: &str) -> PathBuf {
        self.root.join("image").join(release)
    }

    pub fn base_image(&self, release: &str) -> PathBuf {
        self.image_dir(release).join("base.cpio")
    }

    /// The fingerprint of the inputs `base_image` was built from.
    pub fn base_image_inputs(&self, release: &str) -> PathBuf {
        self.image_dir(release).join("base.cpio.inputs")
    }

    pub fn vm(&self, index: usize) -> VmPaths {
        let name = vm_name(index);
        VmPaths { dir: self.root.join(&name), name, index }
    }

    /// The VM folders present, in index order (`lab-2` before `lab-10`).
    pub fn existing_vms(&self) -> Result<Vec<VmPaths>, LabError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(LabError::Io { action: "list", path: self.root.clone(), source }),
        };
        let mut indices: Vec<usize> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| vm_index(e.file_name().to_str()?))
            .collect();
        indices.sort_unstable();
        Ok(indices.into_iter().map(|i| self.vm(i)).collect())
    }
}

/// `path` with its longest existing prefix canonicalized (symlinks and
/// `..` resolved), the rest appended as given.
fn canonical_prefix(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut existing = path;
    loop {
        if let Ok(canonical) = existing.canonicalize() {
            return rest.iter().rev().fold(canonical, |acc: PathBuf, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_owned(),
        }
    }
}

pub fn vm_name(index: usize) -> String {
    format!("lab-{index}")
}

/// `Some(3)` for `lab-3`; `None` for anything that is not a VM folder.
fn vm_index(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("lab-")?;
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&i| i > 0)
}

/// The files of one VM.
#[derive(Debug, Clone)]
pub struct VmPaths {
    pub name: String,
    pub index: usize,
    pub dir: PathBuf,
}

impl VmPaths {
    pub fn host_key(&self) -> PathBuf {
        self.dir.join("ssh_host_ed25519_key")
    }

    pub fn host_public_key(&self) -> PathBuf {
        self.dir.join("ssh_host_ed25519_key.pub")
    }

    /// Base image plus this VM's secrets; holds its private host key.
    pub fn initrd(&self) -> PathBuf {
        self.dir.join("initrd.cpio")
    }

    /// Written by qemu itself; also what identifies our qemu in
    /// `/proc/PID/cmdline`, since the path is unique to this lab and VM.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("qemu.pid")
    }

    /// The VM's serial console: kernel, init and sshd messages.
    pub fn console_log(&self) -> PathBuf {
        self.dir.join("console.log")
    }

    /// qemu's own stderr (start-up errors such as a port already taken).
    pub fn qemu_log(&self) -> PathBuf {
        self.dir.join("qemu.log")
    }

    /// The loopback port forwarded to the VM's sshd.
    pub fn port_file(&self) -> PathBuf {
        self.dir.join("port")
    }

    /// The kernel release the VM was booted with.
    pub fn kernel_file(&self) -> PathBuf {
        self.dir.join("kernel")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_folders_are_recognised_and_ordered() {
        assert_eq!(vm_index("lab-1"), Some(1));
        assert_eq!(vm_index("lab-12"), Some(12));
        for other in ["lab-0", "lab-01", "lab-", "lab-x", "image", "lab-1a"] {
            assert_eq!(vm_index(other), None, "{other}");
        }
        let dir = tempfile::tempdir().unwrap();
        for name in ["lab-10", "lab-2", "image", "lab-1"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("lab-3"), "a file, not a VM").unwrap();
        let layout = LabLayout::resolve(Some(dir.path().to_owned())).unwrap();
        let names: Vec<String> = layout.existing_vms().unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["lab-1", "lab-2", "lab-10"]);
    }

    #[test]
    fn symlinked_spellings_resolve_to_one_path() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
        let via_link = LabLayout::resolve(Some(dir.path().join("link/lab"))).unwrap();
        let direct = LabLayout::resolve(Some(real.join("lab"))).unwrap();
        assert_eq!(via_link.root(), direct.root());
        assert!(via_link.root().ends_with("real/lab"));
    }

    #[test]
    fn a_relative_dir_is_made_absolute() {
        let layout = LabLayout::resolve(Some(PathBuf::from("some/lab"))).unwrap();
        assert!(layout.root().is_absolute());
        assert!(layout.root().ends_with("some/lab"));
    }
}
