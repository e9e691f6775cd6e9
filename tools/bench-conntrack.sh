#!/usr/bin/env bash
# Connection tracking's cost (issue 20): examples/stateful_firewall.ncpu on
# established TCP flows (data both ways on flows it saw open) beside
# examples/tcp_firewall.ncpu (stateless) on the same frames, with 64 flows
# and with a million (the traffic spread over all of them: each packet's
# flow entry is a cache miss), in interleaved rounds of one process
# (netcpu-bench-conntrack). Reported: ns/packet (median and best round) and
# the medians of the rounds' ratios. Shared machines are noisy: compare the
# figures of one run with each other.
# Usage: tools/bench-conntrack.sh [rounds] [flows]   (default 200 rounds, 1048576 flows)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
flows=${2:-1048576}
build=build/bench
tools/bench-build.sh netcpu-bench-conntrack
"$build/tests/bench/netcpu-bench-conntrack" --rounds "$rounds" --flows "$flows"
rev=$(git rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")
git diff --quiet HEAD -- vm examples tests/bench 2>/dev/null || rev+=" + uncommitted changes"
echo "($(nproc) cores, $(date -u +%Y-%m-%d), $rev)"
