#!/usr/bin/env bash
# Builds the fully static agent that schedfleet pushes to hosts and prints
# its path. Static, so it runs on any x86_64 Linux host whatever its libc;
# `--target` keeps the crt-static flag away from build scripts and
# proc-macros, which cannot be static. The target directory is
# `<target>/agent`, the one the CLI's build.rs builds the agent it embeds in:
# the two share their work.
#   agent/build-static.sh [--debug]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
[ "${1:-}" = --debug ] && profile=dev
target_dir="${CARGO_TARGET_DIR:-target}/agent"
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --quiet --profile "$profile" -p schedfleet-agent --target x86_64-unknown-linux-gnu --target-dir "$target_dir"
dir=$([ "$profile" = dev ] && echo debug || echo release)
bin="$target_dir/x86_64-unknown-linux-gnu/$dir/schedfleet-agent"
[ -x "$bin" ] || { echo "agent/build-static.sh: $bin was not built" >&2; exit 1; }
echo "$(cd "$(dirname "$bin")" && pwd)/schedfleet-agent"
