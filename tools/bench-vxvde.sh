#!/usr/bin/env bash
# What a netcpu:// cable costs on vxvde://: frames received on a plain
# vxvde:// cable and on netcpu://[in=examples/tcp_firewall.ncpu]{vxvde://...},
# side by side in interleaved rounds (see tests/bench/vxvde_bench.cpp), in a
# fresh user + network namespace (no root) whose loopback carries the
# multicast vxvde needs. A benchmark, not a test: run it on an otherwise idle
# machine and compare the figures of one run with each other. Takes about
# 20 s with the defaults.
# Usage: tools/bench-vxvde.sh [--rounds N] [--frames N] [--size BYTES] [--json] [...]
#        (the arguments go to netcpu-vxvde-bench; --help lists them all)
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/bench
tools/bench-build.sh netcpu-vxvde-bench
unshare -rn true 2>/dev/null || { echo "bench-vxvde: no user namespaces here (unshare -rn failed)" >&2; exit 1; }
ip=$(command -v ip || echo /usr/sbin/ip)
# shellcheck disable=SC2016  # $ip and "$@" are the inner shell's
exec unshare --user --map-root-user --net sh -c '
  "$0" link set lo up && "$0" link set lo multicast on && "$0" route add 224.0.0.0/4 dev lo &&
  exec "$@"' "$ip" "$build/tests/bench/netcpu-vxvde-bench" "$@"
