#!/usr/bin/env bash
# A plain `cargo build --release` of the whole workspace, as a user would run
# it, followed by `apply` of the quickstart on a lab VM with the binary it
# built and nothing else: no agent flag, no environment. The workspace build
# leaves a dynamic `schedfleet-agent` beside the binary in target/release/
# (checked, so the trap is really there); apply must push the static agent
# built into schedfleet, and the host must run the scheduler afterwards.
#
#   packaging/release-apply.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
step() { printf 'release-apply: %s\n' "$*" >&2; }
fail() { printf 'release-apply: FAILED: %s\n' "$*" >&2; exit 1; }

step "cargo build --release --locked"
"$CARGO" build --release --locked
sf=$PWD/target/release/schedfleet
file -L target/release/schedfleet-agent | grep -q "dynamically linked" \
    || fail "expected the workspace build to leave a dynamic agent in target/release/ (the trap this checks)"

export SCHEDFLEET_LAB_DIR SCHEDFLEET_STATE_DIR
SCHEDFLEET_LAB_DIR=$(mktemp -d /tmp/sf-release-lab-XXXX)
SCHEDFLEET_STATE_DIR=$SCHEDFLEET_LAB_DIR/state
unset SCHEDFLEET_AGENT
repo=$(mktemp -d)
trap '"$sf" lab down >/dev/null 2>&1 || true; rm -rf "$SCHEDFLEET_LAB_DIR" "$repo"' EXIT

step "lab up --hosts 1"
"$sf" lab up --hosts 1 >/dev/null || fail "lab up failed; the lab is required (run lab/setup.sh)"
cp -r examples/quickstart/. "$repo/"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=test -c user.email=test@localhost commit -q -m quickstart

step "apply --repo <quickstart> --limit lab-1 --yes --json"
report=$("$sf" apply --repo "$repo" --limit lab-1 --yes --json) || fail "apply exited $?"
state=$(python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["hosts"][0]["state"])' <<<"$report")
[ "$state" = confirmed ] || fail "lab-1 ended $state: $report"

# The host runs `simple`, loaded by the agent whose digest --version names.
host=$("$sf" lab status --json | python3 -c 'import json,sys; h=json.load(sys.stdin)[0]; print(" ".join([h["identity_file"], h["known_hosts_file"], str(h["port"]), h["user"], h["address"]]))')
read -r key known port user address <<<"$host"
ssh_lab() { ssh -i "$key" -o UserKnownHostsFile="$known" -o StrictHostKeyChecking=yes -o BatchMode=yes -p "$port" "$user@$address" "$@"; }
ops=$(ssh_lab cat /sys/kernel/sched_ext/root/ops)
[ "$ops" = simple ] || fail "lab-1 runs \`$ops\`, not simple"
digest=$("$sf" --version | sed -n 's/.*sha256:\([0-9a-f]*\).*/\1/p')
ssh_lab test -x "/var/lib/schedfleet/store/$digest" || fail "the agent of --version ($digest) is not in lab-1's store"
step "ok: the release build's embedded static agent ($digest) was pushed and lab-1 runs simple"
