#!/usr/bin/env bash
# Demos.QuickstartRunsAndStopLeavesNothingRunning: demos/quickstart.sh, run
# as a user runs it (with this build's binaries), shows the allowed and the
# blocked flow, and `--stop` ends every process it started: the switch, and
# host B's vdens with the shell and the nc loops inside its namespace.
# Usage: quickstart_test.sh BUILD_DIR [sanitize]. Exit 77: skipped.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=demo_test_lib.sh
. "$root/tests/demos/demo_test_lib.sh"
demo_test_start "$root/demos/quickstart.sh" "$@"

out=$(timeout 120 "$root/demos/quickstart.sh" 2>&1) || fail "the quickstart exited with $?: $out"
echo "$out" | grep -q "tcp 10.0.0.2 port 80: allowed (hello from B on port 80)" ||
  fail "port 80 was not allowed: $out"
echo "$out" | grep -q "tcp 10.0.0.2 port 23: blocked by the switch" || fail "port 23 was not blocked: $out"

switch=$(cat "$run/switch.pid") || fail "no switch.pid"
host_b=$(cat "$run/host-b.pid") || fail "no host-b.pid"
# Processes still running (zombies excluded: they have ended, and whether
# the machine's init reaps them is not the demo's business).
alive() { ps -eo pid=,sid=,stat= | awk -v s="$1" -v p="$2" '($2 == s || $1 == p) && $3 !~ /^Z/'; }
[ -n "$(alive "$host_b" "$switch")" ] || fail "nothing of the demo was running before --stop"
echo "$(alive "$host_b" "$switch" | wc -l) processes of the demo running before --stop"
"$root/demos/quickstart.sh" --stop | grep -q "stopped the quickstart switch in $run" || fail "--stop said nothing"
for _ in $(seq 50); do
  [ -z "$(alive "$host_b" "$switch")" ] && break
  sleep 0.1
done
left=$(alive "$host_b" "$switch")
[ -z "$left" ] || fail "left running after --stop: $(ps -o pid,stat,cmd -p "$(echo "$left" | awk '{print $1}' | paste -sd,)")"
echo "PASS: --stop ended the switch and every process of host B"
rm -rf "$run"
