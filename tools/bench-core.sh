#!/usr/bin/env bash
# Core benchmark: each example program, tests/bench/firewall10.ncpu, a payload
# loop (tests/bench/payload_sum.ncpu) and an empty program (the list is
# kPrograms in tests/bench/bench_core.cpp) against the same logic
# hand-written in C (tests/bench/c_twins.c, compiled with the project's
# Release flags), in one process (netcpu-bench-core):
#  - first a check that each C twin gives the same verdict as its program on
#    every frame (and leaves the same packet bytes, output line counts and
#    heap variables): the synthetic frames, mutants of them and the frames of
#    examples/pcaps; a mismatch is an error (exit 1);
#  - then interleaved rounds on the frames `netcpu bench --synthetic 512`
#    uses (the same generator): each round times every program and then its
#    C twin (the other way round every other round), PASSES passes over the
#    frames each. 512 frames (about 350 KB) stay in cache, as a frame a switch
#    has just received does.
# Reported per program: NetCPU and C ns/packet (medians of the rounds), the
# ratio (the median of the rounds' NetCPU/C: both halves of a round see the
# same machine), the fastest round of each, what the program runs as, the VM
# instructions per packet and the goal of issue 16 (NetCPU/C <= 1.3x, 1.2x
# for drop_string against memmem, 1.5x for the payload loop; native code).
# With --by-class, each program and its twin also on each kind of frame
# alone (IPv4 TCP, UDP and other, IPv6, ARP, tagged), as many packets a
# measurement: where a program's time goes, apart from how the mix's
# branches predict.
# Shared machines are noisy: compare figures of one run with each other.
# Usage: tools/bench-core.sh [rounds] [passes] [--by-class]
#   (default 400 rounds of 20 passes)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-400}
passes=${2:-20}
shift $(($# < 2 ? $# : 2))
build=build/bench
tools/bench-build.sh netcpu-bench-core

"$build/tests/bench/netcpu-bench-core" --frames 512 --rounds "$rounds" --passes "$passes" "$@"
rev=$(git rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")
git diff --quiet HEAD -- vm tools tests/bench 2>/dev/null || rev+=" + uncommitted changes"
echo "($(nproc) cores, $(date -u +%Y-%m-%d), $rev)"
