#!/usr/bin/env bash
# Demos.MultihostRunsAndStopLeavesNothingRunning: demos/multihost.sh, run as
# a user runs it (with this build's binaries), shows flows between machines
# passing with no program, machine B's switch dropping telnet and C1's cable
# dropping port 7 while HTTP passes; `--stop` ends every process it started:
# the switches, and every machine's and host's vdens with what runs inside.
# Usage: multihost_test.sh BUILD_DIR [sanitize]. Exit 77: skipped.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=demo_test_lib.sh
. "$root/tests/demos/demo_test_lib.sh"
demo_test_start "$root/demos/multihost.sh" "$@"

out=$(timeout 120 "$root/demos/multihost.sh" 2>&1) || fail "the demo exited with $?: $out"
for line in "tcp 10.0.0.2 port 23: allowed (hello from B1 on port 23)" \
  "tcp 10.0.0.2 port 23: blocked by machine B" \
  "tcp 10.0.0.2 port 80: allowed (hello from B1 on port 80)" \
  "tcp 10.0.0.3 port 80: allowed (hello from C1 on port 80)" \
  "tcp 10.0.0.3 port 7: dropped on the cable of C1"; do
  grep -qF "$line" <<<"$out" || fail "no \`$line\`: $out"
done
# The programs that decided counted it: a DROPPED column above 0.
dropped() { awk -v p="$1" '$1 " " $2 == p || $1 == p { print $(p ~ / / ? 8 : 7) }'; }
[ "$(dropped "1 in" <<<"$out" | head -n 1)" -gt 0 ] 2>/dev/null || fail "machine B's switch counted no drop: $out"
[ "$(dropped "in" <<<"$out" | head -n 1)" -gt 0 ] 2>/dev/null || fail "C1's cable counted no drop: $out"

# Processes still running (zombies excluded: they have ended, and whether
# the machine's init reaps them is not the demo's business): those of the
# process groups the demo recorded, and the switches.
groups=$(paste -sd' ' "$run/groups") || fail "no groups file"
switches=$(cat "$run"/*.switch.pid "$run/backbone.pid" | paste -sd' ') || fail "no switch pid files"
alive() {
  ps -eo pid=,pgid=,stat= | awk -v g=" $groups " -v s=" $switches " \
    '(index(g, " " $2 " ") || index(s, " " $1 " ")) && $3 !~ /^Z/'
}
[ -n "$(alive)" ] || fail "nothing of the demo was running before --stop"
echo "$(alive | wc -l) processes of the demo running before --stop"
"$root/demos/multihost.sh" --stop | grep -q "stopped the multihost network in $run" || fail "--stop said nothing"
for _ in $(seq 50); do
  [ -z "$(alive)" ] && break
  sleep 0.1
done
left=$(alive)
[ -z "$left" ] || fail "left running after --stop: $(ps -o pid,stat,cmd -p "$(echo "$left" | awk '{print $1}' | paste -sd,)")"
echo "PASS: the flows went as the programs say, and --stop ended every machine, host and switch"
rm -rf "$run"
