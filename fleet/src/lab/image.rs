//! The initramfs a lab VM boots: one base image shared by all VMs, and a
//! small second archive per VM with its secrets.
//!
//! The base image holds busybox and its applet links, the host's sshd and
//! sftp-server with every library `ldd` names, the accounts and
//! `sshd_config` (`lab/sshd_config`), the kernel's config at
//! `/boot/config-<release>` (libbpf resolves `__kconfig` externs from it;
//! the kernel has no `/proc/config.gz`), the network modules, and `/init`
//! (`lab/init`). It is rebuilt only when the fingerprint of those inputs
//! changes. A VM's own archive (host key, root's `authorized_keys`,
//! hostname) is appended to a copy of the base: the kernel unpacks
//! concatenated archives in order. This module writes images; booting them
//! is `vm.rs`'s.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;

use super::error::{io_err, LabError};
use super::host::{shared_libraries, HostTools, KernelCache};
use super::layout::{LabLayout, VmPaths};
use super::tree::ImageTree;

const INIT: &str = include_str!("../../../lab/init");
const SSHD_CONFIG: &str = include_str!("../../../lab/sshd_config");

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      sshd:x:100:65534:sshd privilege separation:/run/sshd:/usr/sbin/nologin\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
// `*`: no password can match, but the account is not locked (sshd refuses
// accounts whose hash starts with `!` when PAM is off).
const SHADOW: &str = "root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n";
const GROUP: &str = "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n";
const NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files\n";
const HOSTS: &str = "127.0.0.1 localhost\n::1 localhost\n";

/// The base image on disk.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub path: std::path::PathBuf,
    pub bytes: u64,
    /// False when the cached image still matched its inputs.
    pub rebuilt: bool,
}

/// Builds the base image unless the cached one was built from the same inputs.
pub fn ensure_base_image(layout: &LabLayout, tools: &HostTools, kernel: &KernelCache) -> Result<BaseImage, LabError> {
    let tree = base_tree(tools, kernel)?;
    let fingerprint = tree.fingerprint()?;
    let path = layout.base_image(&kernel.release);
    let inputs = layout.base_image_inputs(&kernel.release);
    let cached = fs::read_to_string(&inputs).map(|s| s.trim() == fingerprint).unwrap_or(false);
    if cached {
        if let Ok(meta) = fs::metadata(&path) {
            return Ok(BaseImage { path, bytes: meta.len(), rebuilt: false });
        }
    }
    let dir = path.parent().expect("the image lives in a folder");
    fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    let tmp = path.with_extension("cpio.tmp");
    let file = File::create(&tmp).map_err(io_err("create", &tmp))?;
    let mut out = tree.write(BufWriter::new(file), &tmp)?;
    out.flush().map_err(io_err("write", &tmp))?;
    drop(out);
    fs::rename(&tmp, &path).map_err(io_err("rename into", &path))?;
    fs::write(&inputs, format!("{fingerprint}\n")).map_err(io_err("write", &inputs))?;
    let bytes = fs::metadata(&path).map_err(io_err("read", &path))?.len();
    Ok(BaseImage { path, bytes, rebuilt: true })
}

/// Everything every VM shares.
fn base_tree(tools: &HostTools, kernel: &KernelCache) -> Result<ImageTree, LabError> {
    let mut tree = ImageTree::new();
    // The root of the initramfs is a tmpfs, world-writable (1777) unless
    // the archive says otherwise.
    tree.dir("/", 0o755);
    for dir in ["/proc", "/sys", "/dev", "/tmp", "/run", "/run/sshd", "/var/lib/schedfleet", "/var/empty", "/etc/ssh"] {
        tree.dir(dir, 0o755);
    }
    tree.dir("/tmp", 0o1777);
    tree.dir("/root", 0o700);
    tree.dir("/root/.ssh", 0o700);
    tree.symlink("/var/run", "/run");
    // init's stdio: the kernel opens /dev/console before devtmpfs exists.
    tree.char_device("/dev/console", 0o600, 5, 1);
    tree.char_device("/dev/null", 0o666, 1, 3);

    tree.bytes("/init", 0o755, INIT);
    tree.bytes("/etc/ssh/sshd_config", 0o644, SSHD_CONFIG);
    tree.bytes("/etc/passwd", 0o644, PASSWD);
    tree.bytes("/etc/shadow", 0o600, SHADOW);
    tree.bytes("/etc/group", 0o644, GROUP);
    tree.bytes("/etc/nsswitch.conf", 0o644, NSSWITCH);
    tree.bytes("/etc/hosts", 0o644, HOSTS);
    tree.bytes("/etc/shells", 0o644, "/bin/sh\n");

    tree.host_file_mode(&format!("/boot/config-{}", kernel.release), &kernel.config, 0o644);
    for (name, path) in &kernel.modules {
        tree.host_file_mode(&format!("/lib/modules/{}/{name}.ko", kernel.release), path, 0o644);
    }

    tree.host_file_mode("/bin/busybox", &tools.busybox, 0o755);
    for applet in busybox_applets(&tools.busybox)? {
        let path = format!("/{applet}");
        if !tree.contains(&path) {
            tree.symlink(&path, "/bin/busybox");
        }
    }

    // At the paths the VM runs them from, which sshd_config names too.
    tree.host_file_mode("/usr/sbin/sshd", &tools.sshd, 0o755);
    tree.host_file_mode("/usr/lib/openssh/sftp-server", &tools.sftp_server, 0o755);
    for binary in [&tools.busybox, &tools.sshd, &tools.sftp_server] {
        for lib in shared_libraries(&tools.ldd, binary)? {
            let dest = lib.to_str().ok_or_else(|| LabError::Corrupt {
                path: lib.clone(),
                content: lib.display().to_string(),
                expected: "a UTF-8 library path",
            })?;
            if !tree.contains(dest) {
                tree.host_file(dest, &lib)?;
            }
        }
    }
    Ok(tree)
}

/// `busybox --list-full`: applet paths relative to `/` (`bin/sh`, `sbin/ip` ...).
fn busybox_applets(busybox: &Path) -> Result<Vec<String>, LabError> {
    let out = Command::new(busybox).arg("--list-full").output().map_err(io_err("run", busybox))?;
    if !out.status.success() {
        return Err(LabError::Command {
            program: busybox.to_owned(),
            action: "list its applets".into(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        // Never let an applet take /init or a path with odd parts.
        .filter(|l| !l.is_empty() && *l != "init" && !l.split('/').any(|p| p.is_empty() || p == ".."))
        .map(str::to_owned)
        .collect())
}

/// What makes one VM itself; appended to the base image.
fn vm_tree(vm: &VmPaths, client_public_key: &Path) -> Result<ImageTree, LabError> {
    let mut tree = ImageTree::new();
    tree.dir("/root", 0o700);
    tree.dir("/root/.ssh", 0o700);
    tree.dir("/etc", 0o755);
    tree.dir("/etc/ssh", 0o755);
    // sshd refuses a private key that others can read.
    tree.host_file_mode("/etc/ssh/ssh_host_ed25519_key", &vm.host_key(), 0o600);
    tree.host_file_mode("/etc/ssh/ssh_host_ed25519_key.pub", &vm.host_public_key(), 0o644);
    tree.host_file_mode("/root/.ssh/authorized_keys", client_public_key, 0o600);
    tree.bytes("/etc/hostname", 0o644, format!("{}\n", vm.name));
    Ok(tree)
}

/// Writes `vm`'s boot image: the base image followed by its own archive.
/// The file holds the VM's private host key, so only its owner may read it.
pub fn write_vm_initrd(base: &BaseImage, vm: &VmPaths, client_public_key: &Path) -> Result<(), LabError> {
    let dest = vm.initrd();
    let tmp = dest.with_extension("cpio.tmp");
    let _ = fs::remove_file(&tmp);
    let mut out =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io_err("create", &tmp))?;
    let mut base_file = File::open(&base.path).map_err(io_err("read", &base.path))?;
    std::io::copy(&mut base_file, &mut out).map_err(io_err("write", &tmp))?;
    let out = vm_tree(vm, client_public_key)?.write(BufWriter::new(out), &tmp)?;
    out.into_inner().map_err(|e| LabError::Io { action: "write", path: tmp.clone(), source: e.into_error() })?;
    fs::rename(&tmp, &dest).map_err(io_err("rename into", &dest))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_and_sshd_config_say_what_the_contract_needs() {
        for needle in ["/sys/fs/bpf", "/var/lib/schedfleet", "insmod", "10.0.2.15/24", "10.0.2.2", "/usr/sbin/sshd -D"]
        {
            assert!(INIT.contains(needle), "lab/init lacks `{needle}`");
        }
        for needle in [
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "Subsystem sftp /usr/lib/openssh/sftp-server",
            "HostKey /etc/ssh/ssh_host_ed25519_key",
        ] {
            assert!(SSHD_CONFIG.contains(needle), "lab/sshd_config lacks `{needle}`");
        }
    }

    #[test]
    fn vm_archive_carries_the_secrets_with_tight_modes() {
        let dir = tempfile::tempdir().unwrap();
        let layout = LabLayout::resolve(Some(dir.path().to_owned())).unwrap();
        let vm = layout.vm(1);
        fs::create_dir_all(&vm.dir).unwrap();
        fs::write(vm.host_key(), "PRIVATE").unwrap();
        fs::write(vm.host_public_key(), "ssh-ed25519 HOST").unwrap();
        fs::write(layout.client_public_key(), "ssh-ed25519 CLIENT").unwrap();
        let base_path = dir.path().join("base.cpio");
        let base_archive = ImageTree::new().write(Vec::new(), &base_path).unwrap();
        fs::write(&base_path, &base_archive).unwrap();
        let base = BaseImage { path: base_path, bytes: base_archive.len() as u64, rebuilt: true };
        write_vm_initrd(&base, &vm, &layout.client_public_key()).unwrap();

        let initrd = fs::read(vm.initrd()).unwrap();
        assert!(initrd.starts_with(&base_archive));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(vm.initrd()).unwrap().permissions().mode() & 0o777, 0o600);
        let text = String::from_utf8_lossy(&initrd[base_archive.len()..]);
        for needle in ["root/.ssh/authorized_keys", "ssh-ed25519 CLIENT", "PRIVATE", "lab-1\n"] {
            assert!(text.contains(needle), "missing `{needle}`");
        }
        // The host key's header: a regular file with mode 0600.
        let at = text.find("etc/ssh/ssh_host_ed25519_key\0").unwrap();
        let header = &text[at - 110..at];
        assert_eq!(&header[14..22], "00008180");
    }
}
