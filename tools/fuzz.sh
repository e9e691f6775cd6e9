#!/usr/bin/env bash
# Long fuzzing campaigns (docs/fuzzing.md): tools/fuzz.sh TARGET MINUTES, or
# tools/fuzz.sh all MINUTES (every target in turn, MINUTES each).
# Builds the targets with clang in build/fuzz (NETCPU_FUZZ_BUILD), fuzzes
# into a corpus outside the tree, ~/.cache/netcpu-fuzz/TARGET
# (NETCPU_FUZZ_DIR), which the tree's tests/fuzz/corpus/TARGET seeds, and
# prints executions and coverage at the end. A crash or difference is saved
# in ~/.cache/netcpu-fuzz/artifacts/TARGET/; make it a regression case by
# copying it into tests/fuzz/corpus/TARGET/. Every run is appended to
# ~/.cache/netcpu-fuzz/runs.log. Exits 1 when a target failed.
# Environment: NETCPU_FUZZ_JOBS=N runs N fuzzing processes per target
# (default 1: the machines are shared); NETCPU_FUZZ_KEEP_GOING=1 fuzzes on
# past crashes (libFuzzer's fork mode), to look beyond a known open bug.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
targets=(assembler bytecode jit_diff packet_view control bpf pcap table_text)

usage() {
  echo "usage: tools/fuzz.sh TARGET|all MINUTES   (targets: ${targets[*]})" >&2
  exit 2
}
[ $# -eq 2 ] || usage
what=$1 minutes=$2
[[ $minutes =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage
if [ "$what" = all ]; then
  run=("${targets[@]}")
else
  [[ " ${targets[*]} " == *" $what "* ]] || usage
  run=("$what")
fi
command -v clang++ >/dev/null || { echo "fuzz: clang++ is missing (tools/install-deps.sh installs it)" >&2; exit 1; }

build=${NETCPU_FUZZ_BUILD:-$root/build/fuzz}
cache=${NETCPU_FUZZ_DIR:-$HOME/.cache/netcpu-fuzz}
jobs=${NETCPU_FUZZ_JOBS:-1}
mkdir -p "$build"  # its logs go beside it, in a directory a fresh clone lacks
if [ ! -f "$build/CMakeCache.txt" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DNETCPU_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "${launcher[@]}" >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
fi
build_targets=()
for t in "${run[@]}"; do build_targets+=(--target "fuzz_$t"); done
echo "fuzz: building ${run[*]} in $build"
cmake --build "$build" -j"$(nproc)" "${build_targets[@]}" >"$build.build.log" 2>&1 ||
  { tail -n 60 "$build.build.log"; exit 1; }

seconds=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')
status=0
for t in "${run[@]}"; do
  corpus=$cache/$t artifacts=$cache/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  args=(-max_total_time="$seconds" -max_len=4096 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  [ -f "$build/tests/fuzz/$t.dict" ] && args+=(-dict="$build/tests/fuzz/$t.dict")
  if [ -n "${NETCPU_FUZZ_KEEP_GOING:-}" ]; then
    args+=(-fork="$jobs" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
  elif [ "$jobs" -gt 1 ]; then
    args+=(-jobs="$jobs" -workers="$jobs")
  fi
  log=$cache/$t.log
  # The workers' logs of an earlier run with NETCPU_FUZZ_JOBS: not this run's.
  rm -f "$artifacts"/fuzz-*.log
  echo "fuzz: $t for $minutes min into $corpus (log: $log)"
  # The tree's corpus is read as a second directory: new inputs go to the first.
  result=ok
  # A campaign stopped early (SIGINT to the fuzzer: libFuzzer exits 72)
  # counts what it ran and found nothing wrong.
  (cd "$artifacts" && "$build/tests/fuzz/fuzz_$t" "${args[@]}" "$corpus" "$root/tests/fuzz/corpus/$t") >"$log" 2>&1 ||
    { code=$?; if [ $code -eq 72 ]; then result=interrupted; else result=FAILED; status=1; fi; }
  # Every process's final count is in the main log (with NETCPU_FUZZ_JOBS,
  # libFuzzer copies each worker's fuzz-N.log into it when the worker ends).
  execs=$(grep -h 'stat::number_of_executed_units' "$log" |
          awk '{ s += $2 } END { print s + 0 }' || true)
  last=$(grep -hE '^#[0-9]+' "$log" | tail -n 1 || true)
  [ "$execs" -gt 0 ] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last") ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
  units=$(find "$corpus" -type f | wc -l || true)
  line="$(date -u +%FT%TZ) $t ${minutes}min execs=$execs cov=${cov:-?} ft=${ft:-?} corpus=$units $result"
  echo "fuzz: $line"
  echo "$line" >>"$cache/runs.log"
  if [ $result = FAILED ]; then
    grep -E 'NETCPU FUZZ FAILURE|ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error' "$log" | head -n 5
    echo "fuzz: the failing input is in $artifacts (see $log)"
  fi
done
exit $status
