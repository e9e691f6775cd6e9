#!/usr/bin/env bash
# Core interpreter benchmark: ns and instructions per packet of the example
# programs over the same synthetic frames, in interleaved rounds of one run
# (shared machines are noisy: compare the figures of one run with each other).
# 512 frames (about 350 KB) stay in cache, as a frame a switch has just
# received does; a set larger than the caches would time memory instead.
# Usage: tools/bench-core.sh [rounds]   (default 5; best round reported)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
build=build/bench
tools/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target netcpu-cli >/dev/null
netcpu="$build/tools/netcpu"

empty="$build/empty.ncpu"
printf '.text:\n    end\n' >"$empty"
programs=("$empty" examples/slides.ncpu examples/ip_pair.ncpu examples/arp_only.ncpu examples/tcp_firewall.ncpu
  examples/drop_string.ncpu examples/rate_limit.ncpu examples/counter.ncpu examples/nat.ncpu tests/bench/firewall10.ncpu)

declare -A best insns
for ((r = 1; r <= rounds; r++)); do
  for p in "${programs[@]}"; do
    out=$("$netcpu" bench "$p" --synthetic 512 --rounds 400 --json)
    ns=$(sed -E 's/.*"ns_per_packet_best":([0-9.e+-]+).*/\1/' <<<"$out")
    insns[$p]=$(sed -E 's/.*"instructions_per_packet":([0-9.e+-]+).*/\1/' <<<"$out")
    if [ -z "${best[$p]:-}" ] || awk "BEGIN{exit !($ns < ${best[$p]})}"; then best[$p]=$ns; fi
  done
done
base=${best[$empty]}
printf '%-28s %10s %14s %12s\n' program ns/packet instr/packet "vs empty"
for p in "${programs[@]}"; do
  name=$(basename "$p")
  printf '%-28s %10.1f %14.1f %11.2fx\n' "$name" "${best[$p]}" "${insns[$p]}" "$(awk "BEGIN{print ${best[$p]}/$base}")"
done
echo "(512 synthetic frames x 400 passes, best of $rounds interleaved rounds, $(nproc) cores, $(date -u +%Y-%m-%d))"
