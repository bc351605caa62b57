#!/usr/bin/env bash
# Builds the fully static load generator that bench/serve.sh pushes to lab
# hosts and prints its path: the agent's recipe (agent/build-static.sh),
# `+crt-static` with an explicit `--target` so build scripts and
# proc-macros stay dynamic, in its own target directory.
#   bench/loadgen/build-static.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
target_dir="${CARGO_TARGET_DIR:-target}/loadgen"
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --quiet --release -p schedfleet-loadgen --target x86_64-unknown-linux-gnu --target-dir "$target_dir"
bin="$target_dir/x86_64-unknown-linux-gnu/release/schedfleet-loadgen"
[ -x "$bin" ] || { echo "bench/loadgen/build-static.sh: $bin was not built" >&2; exit 1; }
echo "$(cd "$(dirname "$bin")" && pwd)/schedfleet-loadgen"
