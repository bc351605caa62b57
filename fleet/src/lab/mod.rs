//! The VM lab: local qemu VMs that boot a real sched_ext kernel and run
//! sshd, so schedulers can be tried (and schedfleet itself tested) before a
//! fleet sees them. `schedfleet lab up|down|status` drive it, and the rest
//! of the engine reaches the VMs through [`LabHost`] like any other host.
//!
//! The pieces, from the bottom: `cpio` writes the initramfs format, `tree`
//! lays out one archive, `image` decides what a VM boots (one cached base
//! image plus a per-VM archive of secrets), `host` finds qemu, OpenSSH,
//! busybox and the kernel cached by `lab/setup.sh`, `kernel` unpacks that
//! kernel for a faster boot, `keys` keeps the SSH trust, `layout` names the
//! files of a lab directory, `vm` runs one qemu, `state` says what runs, and
//! `lifecycle` ties them into [`Lab`]. Nothing here prints: progress
//! leaves as [`LabEvent`]s.

mod cpio;
mod error;
mod host;
mod image;
mod kernel;
mod keys;
mod layout;
mod lifecycle;
mod state;
mod tree;
mod vm;

pub use error::LabError;
pub use host::KernelCache;
pub use lifecycle::{Lab, LabEvent, StoppedVm, DEFAULT_BOOT_TIMEOUT, DEFAULT_LAB_CPUS, MAX_LAB_CPUS, MAX_LAB_HOSTS};
pub use state::{LabHost, LabSurvey, StaleVm, LAB_ADDRESS, LAB_USER};
