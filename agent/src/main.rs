//! `schedfleet-agent`: the small static program schedfleet runs on every
//! host, as root, over SSH.
//!
//! It loads, verifies and removes sched_ext schedulers, keeps a
//! content-addressed store of artifacts and reports what the host runs. A
//! scheduler can be activated unconfirmed, watched by a host-local watchdog
//! that falls back unless `confirm` comes in time (`deadman`), rolled back,
//! and the host leased to one controller at a time (`lease`). It
//! shares only wire types (`schedfleet-proto`) with the controller: no tokio,
//! no SSH, no git here. Every command prints exactly one JSON document
//! ([`Reply`]) on stdout; logs go to stderr. The exit status is 0 exactly when
//! the reply is `ok`.

mod cli;
mod cmd;
mod deadman;
mod error;
mod facts;
mod health;
mod lease;
mod log;
mod sched;
mod scx;
mod state;
mod store;

use std::io::Write;
use std::process::ExitCode;

use schedfleet_proto::Reply;
use serde::Serialize;

fn main() -> ExitCode {
    let outcome = cli::parse(std::env::args_os()).and_then(cmd::run);
    match outcome {
        Ok(doc) => emit(&Reply::ok(doc), ExitCode::SUCCESS),
        Err(failure) => {
            log::error(&failure.message);
            emit(&Reply::<()>::error(failure.into_wire()), ExitCode::FAILURE)
        }
    }
}

fn emit<T: Serialize>(reply: &Reply<T>, code: ExitCode) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut out, reply)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => code,
        Err(_) => ExitCode::FAILURE,
    }
}
