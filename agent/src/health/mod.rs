//! The host's health report, the part of `status` that is not about which
//! scheduler runs: CPU pressure (`pressure`), load and runnable tasks
//! (`load`), wake-up latency summarised from the probe's histogram
//! (`latency`, with the cgroup filter's resolution in `cgroup`), NVIDIA GPUs
//! (`gpu`), the memory of the previous report (`last_report`) and the
//! operator's own checks run alongside the latency window (`user_probe`).
//!
//! Everything else here reads plain kernel files and fails soft: a file that is
//! missing or unreadable leaves its field out of the report and never fails
//! `status`. Loading the BPF probe is `sched::wakelat`'s job; kernel log
//! parsing is `sched::kernel`'s. A user probe that fails is a result in the
//! report, never a failure of `status`.

pub mod cgroup;
pub mod gpu;
pub mod last_report;
pub mod latency;
pub mod load;
pub mod pressure;
pub mod user_probe;
