#!/usr/bin/env bash
# Sets up and runs every test: installs what is missing, then configures a
# fresh build directory, builds and runs ctest, twice: a normal build and an
# AddressSanitizer + UndefinedBehaviorSanitizer build. Exits non-zero if
# anything fails. Extra arguments go to ctest (e.g. -R Interpreter, -L vm).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

tools/install-deps.sh || exit 1
jobs=$(nproc 2>/dev/null || echo 2)
status=0

run_variant() {
  local name=$1
  shift
  local dir="$root/build/test-$name"
  echo "=== tests: $name build in $dir"
  rm -rf "$dir"
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1 || { tail -n 80 "$dir.build.log"; return 1; }
  (cd "$dir" && ctest --output-on-failure -j"$jobs" "${CTEST_ARGS[@]}")
}

CTEST_ARGS=("$@")
mkdir -p "$root/build"
run_variant release || status=1
# halt_on_error: the first report fails the test instead of scrolling past.
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_variant sanitize -DNETCPU_SANITIZE=ON || status=1

if [ $status -eq 0 ]; then echo "=== tests: all passed (release and sanitize builds)"; else echo "=== tests: FAILED"; fi
exit $status
