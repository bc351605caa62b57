//! The pinned struct_ops link that keeps a scheduler attached.
//!
//! Why a pin and not a daemon: the kernel keeps a struct_ops scheduler as
//! long as a reference to its link exists. A pin in bpffs is such a
//! reference that belongs to no process, so the scheduler survives the SSH
//! session that loaded it, the agent exiting, and the agent crashing, with
//! no resident process that could itself fail or be OOM-killed. Removing the
//! pin drops the last reference and the kernel returns every task to its
//! default scheduler. The watchdog of an unconfirmed activation (see
//! `deadman`) supervises the pin and may remove it; it is never what keeps
//! the scheduler alive.

use std::path::Path;

use schedfleet_proto::LINK_PIN;

use crate::error::{Failure, Result};

pub fn pin_path() -> &'static Path {
    Path::new(LINK_PIN)
}

pub fn is_pinned() -> bool {
    pin_path().exists()
}

/// Makes sure the pin's directory exists on a mounted bpffs.
pub fn prepare_pin_dir() -> Result<()> {
    let dir = pin_path().parent().expect("pin path has a parent");
    let bpffs = dir.parent().expect("pin dir has a parent");
    if !bpffs.is_dir() {
        return Err(Failure::new(
            schedfleet_proto::ErrorKind::Internal,
            format!(
                "bpffs is not mounted at `{}`; mount it with `mount -t bpf bpf {}`",
                bpffs.display(),
                bpffs.display()
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| Failure::io("create", &dir.display().to_string(), e))
}

/// Removes the pin; the kernel then detaches the scheduler.
pub fn unpin() -> Result<bool> {
    match std::fs::remove_file(pin_path()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Failure::io("remove", LINK_PIN, e)),
    }
}
