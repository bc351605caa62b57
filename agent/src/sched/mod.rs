//! Everything that touches sched_ext: reading the kernel's view
//! (`kernel`), opening and preparing an arbitrary scheduler object
//! (`object`), capturing libbpf's and the verifier's words (`libbpf_log`),
//! and the pinned struct_ops link that keeps a scheduler attached
//! (`link`). Policy (when to replace, what to restore) lives in `cmd/`.

pub mod kernel;
pub mod libbpf_log;
pub mod link;
pub mod object;
