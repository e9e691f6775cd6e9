#!/usr/bin/env bash
# What NetCPU costs an lwIPv6 process: TCP bulk transfers between two
# netcpu-lwip-node processes (one stack each) over vde_switch, with the
# receiver in three configurations interleaved round by round:
#   none  a stack without the userfilter flag and no NetCPU (the baseline)
#   noop  NetCPU attached, a one-instruction program at local_in
#   fw10  tests/bench/lwip_firewall10.ncpu at local_in (every segment runs all ten rules)
# It reports MB/s and the receiver's CPU time (utime+stime, /proc) per MB,
# medians over the rounds, and each configuration's ratio to the baseline.
# A benchmark, not a test: compare figures of one run with each other.
# Usage: tools/bench-lwip.sh [ROUNDS (5)] [MBYTES per transfer (100)]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rounds=${1:-5}
mbytes=${2:-100}
build=build/bench
tools/bench-build.sh netcpu-lwip-node
node="$root/$build/lwip-glue/netcpu-lwip-node"
run=$(mktemp -d /tmp/netcpu-bench-lwip.XXXXXX)
sleeper=
cleanup() {
  [ -f "$run/switch.pid" ] && kill "$(cat "$run/switch.pid")" 2>/dev/null || true
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT
vde_switch -d -s "$run/sw" -M "$run/mgmt" -p "$run/switch.pid"
for _ in $(seq 50); do [ -S "$run/mgmt" ] && break; sleep 0.1; done
printf '.text:\n    pass\n' >"$run/noop.ncpu"
ticks=$(getconf CLK_TCK)
bytes=$((mbytes * 1000000))

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# One transfer to a fresh receiver in configuration $1; prints "MB/s cpu_ms_per_MB".
measure() {
  local args=()
  case $1 in
    none) args=(--no-filter) ;;
    noop) args=(--stats --load "local_in=$run/noop.ncpu") ;;
    fw10) args=(--stats --load "local_in=$root/tests/bench/lwip_firewall10.ncpu") ;;
  esac
  rm -f "$run/in" && mkfifo "$run/in"
  sleep 1000 >"$run/in" &
  sleeper=$!
  "$node" --vde "vde://$run/sw" --name rx --addr 10.0.0.1/24 --sink 9 "${args[@]}" <"$run/in" >"$run/rx.log" 2>&1 &
  local rx=$!
  for _ in $(seq 100); do grep -q ready "$run/rx.log" && break; sleep 0.05; done
  local before after
  before=$(cpu_ticks $rx)
  local out
  out=$("$node" --vde "vde://$run/sw" --name tx --addr 10.0.0.2/24 --timeout 30 --send "10.0.0.1,9,$bytes" 2>&1) ||
    { echo "bench-lwip: transfer failed ($1): $out" >&2; kill $rx $sleeper; sleeper=; return 1; }
  after=$(cpu_ticks $rx)
  kill $sleeper; wait $rx 2>/dev/null || true
  sleeper=
  local mbs
  mbs=$(sed -n 's/.* \([0-9.]*\) MB\/s.*/\1/p' <<<"$out")
  # The program's own time, from the receiver's netcpu/list at exit: packets
  # (column 5) times the sampled NS/PKT (column 11), per MB.
  local vm_ms
  vm_ms=$(awk -v mb="$mbytes" '$1 == "local_in" { v = $5 * $11 / 1e6 / mb } END { printf "%.4f", v }' "$run/rx.log")
  awk -v mbs="$mbs" -v t=$((after - before)) -v hz="$ticks" -v mb="$mbytes" -v vm="$vm_ms" \
    'BEGIN { printf "%s %.3f %s\n", mbs, t * 1000 / hz / mb, vm }'
}

# lwIPv6 1.5a sometimes crashes mid-transfer (see the ABI notes): a failed
# transfer is retried with fresh processes, at most twice.
measure_retrying() {
  local try
  for try in 1 2 3; do
    if measure "$1" 2>"$run/err"; then return 0; fi
    echo "  (retrying: $(head -c 200 "$run/err"))" >&2
  done
  cat "$run/err" >&2
  return 1
}

configs=(none noop fw10)
declare -A results
echo "bench-lwip: $rounds rounds of ${mbytes} MB per configuration (receiver: one lwIPv6 process)"
for r in $(seq "$rounds"); do
  for c in "${configs[@]}"; do
    m=$(measure_retrying "$c")
    results[$c]+="$m"$'\n'
    printf '  round %d %-4s %s MB/s, %s ms CPU/MB (the program: %s ms/MB)\n' "$r" "$c" $m
  done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
base=$(printf '%s' "${results[none]}" | awk 'NF { print $2 }' | median)
echo
printf '%-6s %10s %16s %12s %18s %14s\n' config "MB/s" "rx CPU ms/MB" "vs none" "program ms/MB" "of none's CPU"
for c in "${configs[@]}"; do
  mbs=$(printf '%s' "${results[$c]}" | awk 'NF { print $1 }' | median)
  cpu=$(printf '%s' "${results[$c]}" | awk 'NF { print $2 }' | median)
  vm=$(printf '%s' "${results[$c]}" | awk 'NF { print $3 }' | median)
  printf '%-6s %10.2f %16.3f %11.1f%% %18.4f %13.3f%%\n' "$c" "$mbs" "$cpu" \
    "$(awk -v a="$cpu" -v b="$base" 'BEGIN { print (a / b - 1) * 100 }')" "$vm" \
    "$(awk -v a="$vm" -v b="$base" 'BEGIN { print a / b * 100 }')"
done
echo "(program ms/MB: packets x the sampled ns per packet of the receiver's netcpu/list, per MB;"
echo " the vs-none column moves by several percent from run to run, see the rounds above)"
