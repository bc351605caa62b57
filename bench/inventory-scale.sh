#!/usr/bin/env bash
# Measures `schedfleet validate` on generated inventories: wall time and
# peak RSS (GNU time) for N hosts, side by side with a 1,000-host baseline
# measured in the same run, medians of interleaved repeats, and the ratios.
# Also the shared-variables case: 1 MB of group variables over 1,000 hosts.
# Nothing is contacted (validate never connects); no timing is asserted.
#
#   bench/inventory-scale.sh [HOSTS [REPEATS]]   # after `make build`; default 50000 hosts, 3 repeats
set -euo pipefail
HOSTS=${1:-50000}
REPEATS=${2:-3}
cd "$(dirname "$0")/.."
SF=${SF:-target/release/schedfleet}
[ -x "$SF" ] || { echo "bench: run \`make build\` first (or set SF=path/to/schedfleet)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: needs GNU time (/usr/bin/time)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make_repo() { # DIR HOSTS VAR_BYTES
    mkdir -p "$1/schedulers"
    cp examples/quickstart/schedulers/simple.yaml "$1/schedulers/"
    printf 'assignments:\n  - hosts: all\n    scheduler: simple\n    params: { slice_ns: "{{ 3000000 }}" }\n' >"$1/fleet.yaml"
    python3 - "$1/inventory.yaml" "$2" "$3" <<'PY'
import sys
path, n, var_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as f:
    f.write("hosts:\n")
    for i in range(n):
        f.write(f"  h{i:06}: {{ address: 127.{i >> 16}.{(i >> 8) & 255}.{i & 255}, labels: {{ rack: r{i // 40} }} }}\n")
    f.write("groups:\n  all_hosts:\n    children: []\n    hosts: [" + ", ".join(f"h{i:06}" for i in range(n)) + "]\n")
    if var_bytes:
        f.write(f"    vars: {{ blob: \"{'x' * var_bytes}\" }}\n")
PY
    git -C "$1" init -q && git -C "$1" add -A && git -C "$1" -c user.name=b -c user.email=b@example.invalid commit -qm bench
}

measure() { # DIR -> "seconds kilobytes"
    if ! /usr/bin/time -f "%e %M" -o "$work/time" "$SF" validate --repo "$1" >"$work/out" 2>&1; then
        echo "validate failed on $1:" >&2; tail -5 "$work/out" >&2; exit 1
    fi
    cat "$work/time"
}

make_repo "$work/base" 1000 0
make_repo "$work/big" "$HOSTS" 0
make_repo "$work/vars" 1000 1000000
declare -A secs kb
for r in $(seq 1 "$REPEATS"); do
    for case in base big vars; do
        read -r s k < <(measure "$work/$case")
        secs[$case]+="$s "; kb[$case]+="$k "
    done
done
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" $1; }
echo "command: bench/inventory-scale.sh $HOSTS $REPEATS   ($SF)"
for case in base big vars; do
    printf '%-5s %8.2f s %8.0f MB\n' "$case" "$(median "${secs[$case]}")" "$(python3 -c "print($(median "${kb[$case]}")/1024)")"
done
python3 -c "import sys; print(f'ratio {sys.argv[1]} hosts / 1000 hosts: time x{float(sys.argv[2])/max(float(sys.argv[3]),0.01):.1f}, memory x{float(sys.argv[4])/float(sys.argv[5]):.1f}')" "$HOSTS" "$(median "${secs[big]}")" "$(median "${secs[base]}")" "$(median "${kb[big]}")" "$(median "${kb[base]}")" 2>/dev/null || true
