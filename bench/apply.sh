#!/usr/bin/env bash
# Measures `schedfleet apply` of one wave (no bake) on lab VMs, side by
# side with the raw-SSH floor for the same work, interleaved in the same
# run: plain `ssh HOST dd of=...` of the same agent and object bytes plus
# one `cat` of the sched_ext state, per host, hosts in parallel. Prints
# medians of the repeats and their ratios, and the SSH connections each
# host's sshd accepted per apply (from its console log).
#
#   bench/apply.sh [HOSTS [REPEATS]]     # after `make build`; default 3 hosts, 3 repeats
set -euo pipefail
HOSTS=${1:-3}
REPEATS=${2:-3}
cd "$(dirname "$0")/.."
SF=target/release/schedfleet
[ -x "$SF" ] || { echo "bench: run \`make build\` first" >&2; exit 2; }
export SCHEDFLEET_LAB_DIR; SCHEDFLEET_LAB_DIR=$(mktemp -d /tmp/sf-bench-lab-XXXX)
work=$(mktemp -d)
# The raw-SSH floor sends the same bytes as apply: the agent built into schedfleet.
AGENT="$work/schedfleet-agent"
"$SF" generate agent "$AGENT" 2>/dev/null
trap '"$SF" lab down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }

t=$(now); "$SF" lab up --hosts 1 >/dev/null 2>&1; boot1=$(since "$t")
t=$(now); "$SF" lab up --hosts "$HOSTS" >/dev/null 2>&1; bootn=$(since "$t")   # boots the others
names=(); for i in $(seq 1 "$HOSTS"); do names+=("lab-$i"); done

cp -r examples/quickstart "$work/repo"
# One wave and no bake: this measures the transport and the load, not the
# rollout policy's waiting.
python3 - "$work/repo/fleet.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s[:s.index("rollout:")] + 'rollout:\n  waves: ["100%"]\n  bake: 0s\n'
open(p, "w").write(s)
PY
python3 - "$work/repo/inventory.yaml" "$HOSTS" <<'PY'
import sys
hosts = "".join(f"  lab-{i}: {{ connection: lab }}\n" for i in range(1, int(sys.argv[2]) + 1))
open(sys.argv[1], "w").write("hosts:\n" + hosts)
PY
git -C "$work/repo" init -q && git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=bench -c user.email=bench@example.invalid commit -qm bench
"$SF" lab status --json >"$work/hosts.json"
object="$work/simple.bpf.o"
cp "$(find target/release/build -path '*schedfleet-bpf-*/out/simple.bpf.o' | head -n1)" "$object"

ssh_to() { # name, remote command...
    local name=$1; shift
    python3 - "$work/hosts.json" "$name" <<'PY' >"$work/ssh-$name"
import json, sys
h = next(h for h in json.load(open(sys.argv[1])) if h["name"] == sys.argv[2])
print(" ".join(["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "UserKnownHostsFile=" + h["known_hosts_file"], "-i", h["identity_file"],
                "-p", str(h["port"]), "-l", h["user"], h["address"]]))
PY
    $(cat "$work/ssh-$name") "$@"
}
raw() {
    local t; t=$(now)
    for h in "${names[@]}"; do
        ( ssh_to "$h" dd of=/tmp/raw-agent bs=65536 <"$AGENT" 2>/dev/null
          ssh_to "$h" dd of=/tmp/raw-object bs=65536 <"$object" 2>/dev/null
          ssh_to "$h" cat /sys/kernel/sched_ext/state >/dev/null ) &
    done
    wait; since "$t"
}
logins() { local n=0; for h in "${names[@]}"; do n=$((n + $(grep -c 'Accepted publickey' "$SCHEDFLEET_LAB_DIR/$h/console.log" || true))); done; echo "$n"; }
apply() {
    local t code; t=$(now)
    code=0; "$SF" apply --repo "$work/repo" --yes >/dev/null 2>"$work/apply.err" || code=$?
    [ "$code" = 0 ] || { echo "bench: apply exited $code:" >&2; cat "$work/apply.err" >&2; exit 1; }
    since "$t"
}
reset() { for h in "${names[@]}"; do ssh_to "$h" "/var/lib/schedfleet/store/$(sha256sum "$AGENT" | cut -c1-64)" deactivate >/dev/null 2>&1 || true; ssh_to "$h" rm -rf /var/lib/schedfleet; done; }

raws=(); colds=(); warms=(); conns=()
for r in $(seq 1 "$REPEATS"); do
    reset
    raws+=("$(raw)")
    before=$(logins); colds+=("$(apply)"); conns+=("$(( $(logins) - before ))")
    warms+=("$(apply)")
done
t=$(now); "$SF" rollback --repo "$work/repo" --default --yes >/dev/null 2>&1 || true; undo=$(since "$t")

median() { python3 -c "import statistics, sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}x')" "$1" "$2"; }
raw_m=$(median "${raws[@]}"); cold_m=$(median "${colds[@]}"); warm_m=$(median "${warms[@]}")
printf 'machine: %s cores, %s, host kernel %s; %s lab VMs (TCG), %s interleaved repeats\n' \
    "$(nproc)" "$(free -g | awk '/Mem:/ {print $2 " GiB"}')" "$(uname -r)" "$HOSTS" "$REPEATS"
printf '%-40s %8s %10s %8s\n' "measure (median)" "seconds" "raw floor" "ratio"
printf '%-40s %8s\n' "lab up --hosts 1 (cold)" "$boot1"
printf '%-40s %8s\n' "lab up --hosts $HOSTS (adds the others)" "$bootn"
printf '%-40s %8s %10s %8s\n' "apply, $HOSTS hosts, one wave, cold" "$cold_m" "$raw_m" "$(ratio "$cold_m" "$raw_m")"
printf '%-40s %8s\n' "apply, $HOSTS hosts, unchanged" "$warm_m"
printf '%-40s %8s\n' "rollback --default, $HOSTS hosts" "$undo"
printf 'all runs: raw %s | cold %s | unchanged %s\n' "${raws[*]}" "${colds[*]}" "${warms[*]}"
printf 'SSH connections accepted by the %s hosts per cold apply: %s (1 per host is the target)\n' "$HOSTS" "${conns[*]}"
printf 'agent: %s bytes (static, stripped); simple.bpf.o: %s bytes\n' "$(stat -c %s "$AGENT")" "$(stat -c %s "$object")"
