//! Build script of the `schedfleet` CLI: builds the static agent and hands
//! its bytes to `src/agent.rs`, which embeds them, so that every build of
//! the CLI (`cargo build`, `cargo build --release`, `cargo install`,
//! `cargo test`, the Debian package) carries the agent it pushes to hosts.
//! A dynamic agent can never be picked by accident: there is no lookup
//! beside the executable any more.
//!
//! The agent is built by a nested `cargo build -p schedfleet-agent --target
//! <triple>` with `-C target-feature=+crt-static` (what
//! `agent/build-static.sh` runs too), always in the release profile, which is
//! what hosts get. It has a target directory of its own, `<target>/agent`:
//! the outer cargo holds the lock of its own profile directory while this
//! script runs, and a nested build in the same target directory would wait
//! for it forever. `agent/build-static.sh` shares `<target>/agent`, so the
//! two never build the agent twice.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().expect("cli/ has a parent").to_path_buf();
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let triple = env("TARGET");

    // The agent's sources and everything its build reads. Cargo scans
    // directories recursively; the nested build is incremental, so a rerun
    // with nothing changed costs one no-op cargo invocation.
    for input in ["agent", "proto", "bpf", "Cargo.toml", "Cargo.lock", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }

    let agent_manifest = workspace.join("agent/Cargo.toml");
    if !agent_manifest.is_file() {
        fail(&format!(
            "`{}` is missing: the schedfleet CLI embeds the static agent and is built from the schedfleet workspace",
            agent_manifest.display()
        ));
    }
    let target_dir = target_root(&out_dir).unwrap_or_else(|| workspace.join("target")).join("agent");

    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(&workspace)
        .args(["build", "--release", "-p", "schedfleet-agent", "--target", &triple])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // Nothing of the outer build may leak into the nested one: its flags,
    // its target, clippy's wrapper, the package being compiled.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let leaks =
            ["CARGO_CFG_", "CARGO_FEATURE_", "CARGO_PKG_", "CARGO_MANIFEST_"].iter().any(|p| key.starts_with(p))
                || [
                    "CARGO_ENCODED_RUSTFLAGS",
                    "CARGO_BUILD_RUSTFLAGS",
                    "CARGO_BUILD_TARGET",
                    "CARGO_BUILD_TARGET_DIR",
                    "CARGO_TARGET_DIR",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_CRATE_NAME",
                    "RUSTC_WORKSPACE_WRAPPER",
                    "RUSTC_WRAPPER",
                    "OUT_DIR",
                    "TARGET",
                    "HOST",
                    "PROFILE",
                    "OPT_LEVEL",
                    "DEBUG",
                    "RUSTC_LINKER",
                ]
                .contains(&key.as_ref());
        if leaks {
            cargo.env_remove(key.as_ref());
        }
    }
    // `--target` keeps crt-static away from build scripts and proc-macros,
    // which cannot be static.
    cargo.env("RUSTFLAGS", "-C target-feature=+crt-static");
    // Cargo reads this script's stdout as instructions: the nested cargo's
    // own output goes to stderr, shown when the build fails.
    cargo.stdout(Stdio::null()).stderr(Stdio::inherit());
    let status = cargo.status().unwrap_or_else(|e| fail(&format!("cannot run cargo for the static agent: {e}")));
    if !status.success() {
        fail(&format!(
            "building the static agent failed ({status}); its errors are above. Run `agent/build-static.sh` to see them alone"
        ));
    }

    let built = target_dir.join(&triple).join("release/schedfleet-agent");
    // A copy of the bytes in OUT_DIR: what `include_bytes!` embeds cannot
    // change under the compiler if another build rewrites the shared one.
    let embedded = out_dir.join("schedfleet-agent");
    let bytes = std::fs::read(&built)
        .unwrap_or_else(|e| fail(&format!("cannot read the static agent `{}`: {e}", built.display())));
    std::fs::write(&embedded, &bytes).unwrap_or_else(|e| fail(&format!("cannot write `{}`: {e}", embedded.display())));
    // Known at build time, so `schedfleet --version` need not hash it.
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    println!("cargo:rustc-env=SCHEDFLEET_AGENT_SHA256={digest}");
    println!("cargo:rustc-env=SCHEDFLEET_AGENT_TARGET={triple}");
}

/// The target directory this build writes to: the outermost of the few
/// ancestors of `OUT_DIR` (`<target>[/<triple>]/<profile>/build/<pkg>/out`)
/// that cargo tagged with `CACHEDIR.TAG`.
fn target_root(out_dir: &Path) -> Option<PathBuf> {
    out_dir.ancestors().skip(1).take(6).filter(|d| d.join("CACHEDIR.TAG").is_file()).last().map(Path::to_path_buf)
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| fail(&format!("cargo did not set `{key}`")))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
