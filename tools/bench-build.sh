#!/usr/bin/env bash
# The Release build every benchmark script runs from, build/bench: installs
# the dependencies (tools/install-deps.sh), configures it and builds the
# targets named, quietly; a failed build shows the end of its log (kept in
# build/bench/bench.build.log) and exits 1.
# Usage: tools/bench-build.sh TARGET...
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/bench
tools/install-deps.sh
mkdir -p "$build"
log="$build/bench.build.log"
targets=()
for t in "$@"; do targets+=(--target "$t"); done
{ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release &&
  cmake --build "$build" -j"$(nproc)" "${targets[@]}"; } >"$log" 2>&1 ||
  { tail -n 60 "$log" >&2; echo "bench-build: building $* failed, see $log" >&2; exit 1; }
