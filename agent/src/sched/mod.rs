//! Everything that touches sched_ext and libbpf: reading the kernel's view
//! (`kernel`: sched_ext's files and the kernel log), opening and preparing
//! an arbitrary scheduler object (`object`) and encoding its list
//! parameters against this host (`param`), capturing libbpf's and the
//! verifier's words (`libbpf_log`), the pinned struct_ops link that keeps a
//! scheduler attached (`link`), taking ours out and putting a loaded one in,
//! checked against the kernel (`switch`), and the wake-up latency probe the
//! health report loads for a window (`wakelat`). Policy (when to replace,
//! what to restore, when to fall back, what goes in a report) lives in
//! `cmd/`, `deadman/` and `health/`.

pub mod kernel;
pub mod libbpf_log;
pub mod link;
pub mod object;
pub mod param;
pub mod switch;
pub mod wakelat;
