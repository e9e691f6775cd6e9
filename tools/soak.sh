#!/usr/bin/env bash
# Soak tests (docs/soak.md): a real vde_switch with netcpu.so under four
# endpoints, hot swaps, plugin/del + plugin/add cycles and console garbage,
# then an lwIPv6 process sending TCP transfers under hot swaps and garbage.
# Each prints its summary; exits non-zero if either fails.
#
#   tools/soak.sh [SWITCH_MINUTES [LWIP_MINUTES]] [-- NETCPU-SOAK OPTIONS]
#   tools/soak.sh 10 5                  # the figures in docs/soak.md
#   tools/soak.sh 1 0 -- --seed 42      # the switch alone, one minute, seed 42
#
# Builds a Release tree in build/soak (or $NETCPU_SOAK_BUILD) first.
set -euo pipefail
cd "$(dirname "$0")/.."
switch_minutes=${1:-10}
lwip_minutes=${2:-5}
shift $(($# < 2 ? $# : 2))
[ "${1:-}" = "--" ] && shift
build=${NETCPU_SOAK_BUILD:-build/soak}

tools/install-deps.sh >/dev/null
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" --target netcpu-soak >"$build.build.log" 2>&1 ||
  { tail -n 60 "$build.build.log"; exit 1; }

status=0
if [ "$switch_minutes" != 0 ]; then
  echo "=== netcpu-soak switch --minutes $switch_minutes $*"
  "$build/tests/netcpu-soak" switch --minutes "$switch_minutes" "$@" || status=1
fi
if [ "$lwip_minutes" != 0 ]; then
  echo "=== netcpu-soak lwip --minutes $lwip_minutes $*"
  "$build/tests/netcpu-soak" lwip --minutes "$lwip_minutes" "$@" || status=1
fi
exit $status
