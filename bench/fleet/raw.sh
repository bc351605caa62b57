#!/usr/bin/env bash
# The raw floors of bench/fleet: plain OpenSSH, one process (or two, one
# after the other) per host, every host at once, launched by bash, the
# cheapest launcher there is (its own CPU counts as the floor's controller).
# Data only as arguments; strict host keys against the fleet's known_hosts.
#
#   raw.sh read ADDRESSES PORT IDENTITY KNOWN_HOSTS
#       ssh HOST cat /proc/sys/kernel/osrelease
#   raw.sh push ADDRESSES PORT IDENTITY KNOWN_HOSTS AGENT OBJECT
#       scp -p AGENT OBJECT HOST:/var/lib/schedfleet/, then
#       ssh HOST /var/lib/schedfleet/schedfleet-agent facts
#
# ADDRESSES: a file with one host address per line. Exits 1 when any host failed.
set -u
mode=$1 addresses=$2 port=$3 identity=$4 known=$5
common=(-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$known"
    -o IdentitiesOnly=yes -i "$identity")
mapfile -t hosts <"$addresses"
pids=()
for address in "${hosts[@]}"; do
    case $mode in
    read) ssh -n "${common[@]}" -p "$port" -l root "$address" cat /proc/sys/kernel/osrelease >/dev/null & ;;
    push) { scp "${common[@]}" -q -p -P "$port" "$6" "$7" "root@$address:/var/lib/schedfleet/" &&
        ssh -n "${common[@]}" -p "$port" -l root "$address" /var/lib/schedfleet/schedfleet-agent facts >/dev/null; } </dev/null & ;;
    *) echo "raw.sh: unknown mode $mode" >&2; exit 2 ;;
    esac
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
[ "$failed" = 0 ] || { echo "raw.sh: $failed host(s) failed" >&2; exit 1; }
