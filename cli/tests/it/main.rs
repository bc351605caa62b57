//! The one integration-test binary of the `schedfleet` CLI: every test runs
//! the real binaries against real components (git repositories, OpenSSH,
//! and qemu VMs booting a sched_ext kernel).

mod ansible;
mod apply;
mod bad_input;
mod bench_fleet;
mod fail_closed;
mod health;
mod hostile;
mod init;
mod kernel_matrix;
mod lab;
mod packaging;
mod rollout;
mod scx;
mod scx_agent;
mod serve;
mod signing;
mod support;
mod validate;
