#!/usr/bin/env bash
# What `netcpu fleet` costs and loses: the time to push a program to 10
# vde_switches with `netcpu fleet load` (two-phase) beside `netcpu ctl`
# node after node, and the sequence-numbered frames lost between two
# switches joined by a netcpu:// cable while `netcpu fleet load` swaps the
# programs of all three, back to back (both programs pass the frames: 0
# lost expected). See tests/bench/fleet_bench.cpp. A benchmark, not a test.
# Takes about 20 s with the defaults.
# Usage: tools/bench-fleet.sh [--nodes N] [--rounds R] [--frames F] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/bench
tools/bench-build.sh netcpu-fleet-bench
exec "$build/tests/bench/netcpu-fleet-bench" "$@"
