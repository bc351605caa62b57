#!/usr/bin/env bash
# The serving benchmark: in one lab VM with 4 vCPUs, the same
# inference-like load (bench/loadgen: serving requests and timer-woken
# feeders in one cgroup, CPU hogs and bursty batch work in another) under
# the kernel's default scheduler (EEVDF), `simple`, `serve` and scx_bpfland,
# each put in place with `schedfleet apply` (EEVDF: `rollback --default`),
# interleaved in rotating order over the rounds. Prints a table of medians
# (wake-up and request latency p50/p99/p99.9, batch throughput, context
# switches, ejections) with ratios against EEVDF of the same run, writes
# JSON under bench/results/, and ends with exactly
#   serve/eevdf p99 wake-up ratio: X.XX, batch throughput ratio: Y.YY
# A scheduler this checkout cannot roll out is reported as
# "NAME: not available (reason)", never measured by something else.
#
#   bench/serve.sh                  # 3 rounds of 20 s per scheduler (about 10 min)
#   bench/serve.sh --quick          # 1 round of 8 s: the CI smoke test (no threshold)
#   bench/serve.sh --soak 10m       # serve under the load for 10 min; exit 1 on an ejection
#   bench/serve.sh --rounds 5 --duration 30s --schedulers eevdf,serve --out FILE --keep
#
# SCHEDFLEET names the schedfleet binary (default target/release/schedfleet,
# brought up to date with this checkout first: it embeds the BPF schedulers,
# and a stale one would measure an older `serve`); the load generator is
# built static here.
set -euo pipefail
cd "$(dirname "$0")/.."
command="bench/serve.sh${*:+ $*}"
if [ -z "${SCHEDFLEET:-}" ]; then
    cargo build --release --locked -p schedfleet >&2
fi
SF=${SCHEDFLEET:-target/release/schedfleet}
loadgen=$(bench/loadgen/build-static.sh)
exec python3 bench/serve/bench.py --schedfleet "$SF" --loadgen "$loadgen" --command "$command" "$@"
