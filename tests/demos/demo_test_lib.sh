# shellcheck shell=bash
# Sourced by the demo tests (quickstart_test.sh, multihost_test.sh), which
# run a demo as a user runs it, with the build's binaries.
#
#   demo_test_start DEMO BUILD_DIR [sanitize]
#     exits 77 (a skip for ctest) where the demo's hosts cannot run: in a
#     sanitizer build (the demo starts vde_switch without the runtimes an
#     instrumented netcpu.so needs), without vdens or without user
#     namespaces; otherwise makes the run directory $run and exports it and
#     the build as NETCPU_RUN_DIR and NETCPU_BUILD_DIR for the demo.
#   fail MESSAGE
#     says FAIL, stops the demo (DEMO --stop) and exits 1.
demo_test_start() {
  demo=$1
  local build=$2 name
  name=$(basename "$demo" .sh)
  if [ "${3:-}" = sanitize ]; then
    echo "SKIP: the demo starts vde_switch without the sanitizer runtimes an instrumented netcpu.so needs"
    exit 77
  fi
  command -v vdens >/dev/null || { echo "SKIP: vdens is not installed"; exit 77; }
  unshare -rn true 2>/dev/null || { echo "SKIP: no user namespaces here: the demo's hosts cannot start"; exit 77; }
  run=$(mktemp -d "/tmp/netcpu-$name-test.XXXXXX")
  export NETCPU_RUN_DIR=$run NETCPU_BUILD_DIR=$build
}

fail() {
  echo "FAIL: $*"
  "$demo" --stop >/dev/null 2>&1
  exit 1
}
