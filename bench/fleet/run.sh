#!/usr/bin/env bash
# schedfleet against the raw SSH floor and ansible-core on a loopback fleet
# of real sshd hosts on this machine; see bench/fleet/README.md.
#
#   bench/fleet/run.sh                       # N = 10, 50, 100, 200; 3 interleaved repeats
#   bench/fleet/run.sh --quick               # N = 10, 50; 1 repeat
#   bench/fleet/run.sh --sizes 3 --repeats 1 # what the test suite runs
#
# Needs root, `make build` (or SCHEDFLEET=... SCHEDFLEET_AGENT=...) and
# `lab/setup.sh tools` (ansible-core in ~/.cache/schedfleet/tools/ansible).
# The push is measured with the test-only switch
# SCHEDFLEET_TEST_FAULT=pretend-sched-ext (this kernel has no sched_ext).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 bench/fleet/bench.py "$@"
