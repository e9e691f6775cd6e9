#!/usr/bin/env bash
# The Internet of Threads: two processes, each with its own lwIPv6 stack on
# the same vde_switch, both serving TCP port 7. Process A runs
# examples/lwip_block_hosts.ncpu at its local_in hook (drops and logs
# connections from 10.0.0.9); process B has no program. Each has its own
# management console, driven here with Debian's unixterm and by hand with
# `vdeterm SOCKET`. No root. `--keep` leaves everything running;
# `demos/lwip-processes.sh --stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run=${NETCPU_RUN_DIR:-/tmp/netcpu-lwip-$(id -u)}

stop() {
  for pidfile in "$run"/a.pid "$run"/b.pid "$run"/a.in.pid "$run"/b.in.pid "$run"/switch.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}
if [ "${1:-}" = "--stop" ]; then
  stop
  echo "stopped the demo in $run"
  exit 0
fi
keep=0
[ "${1:-}" = "--keep" ] && keep=1

tools/install-deps.sh
build=build/quickstart
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target netcpu-lwip-node >/dev/null
node="$root/$build/lwip-glue/netcpu-lwip-node"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# One command on a process's console, as a user would type it in vdeterm.
console() {
  local sock=$1
  shift
  { sleep 0.3; for c in "$@"; do echo "$c"; sleep 0.3; done; echo logout; } |
    timeout 10 unixterm "$sock" | tr -d '\r' | grep -v '^vde\$ *$' || true
}

stop
mkdir -p "$run"
vde_switch -d -s "$run/switch" -M "$run/switch.mgmt" -p "$run/switch.pid"
for _ in $(seq 50); do [ -S "$run/switch.mgmt" ] && break; sleep 0.1; done

step "Process A (10.0.0.1) and process B (10.0.0.2), each with its own stack, both serve TCP port 7"
# A process lives as long as its stdin: a fifo held open by a sleeper.
for who in a b; do
  rm -f "$run/$who.in" && mkfifo "$run/$who.in"
  sleep 100000 >"$run/$who.in" &
  echo $! >"$run/$who.in.pid"
done
addr_a=10.0.0.1 addr_b=10.0.0.2
"$node" --vde "vde://$run/switch" --name A --addr $addr_a/24 --console "$run/a.mgmt" --echo 7 \
  <"$run/a.in" >"$run/a.log" 2>&1 &
echo $! >"$run/a.pid"
"$node" --vde "vde://$run/switch" --name B --addr $addr_b/24 --console "$run/b.mgmt" --echo 7 \
  <"$run/b.in" >"$run/b.log" 2>&1 &
echo $! >"$run/b.pid"
for _ in $(seq 100); do grep -q ready "$run/a.log" && grep -q ready "$run/b.log" && break; sleep 0.1; done

step "On A's console: load the firewall at local_in, show the hooks"
console "$run/a.mgmt" "netcpu/load local_in $root/examples/lwip_block_hosts.ncpu" "netcpu/list"

# A client is a third process with its own stack; it exits after one try.
client() { "$node" --vde "vde://$run/switch" --name "client $1" --addr "$1/24" --timeout 3 --connect "$2,7" 2>&1 | grep -v '^ready$' || true; }
step "10.0.0.9 connects to A (blocked there) and to B (no program there)"
client 10.0.0.9 $addr_a
client 10.0.0.9 $addr_b
step "10.0.0.8 connects to A: allowed"
client 10.0.0.8 $addr_a

step "A's console: what the program logged, its table, its counters"
console "$run/a.mgmt" "debug/add netcpu/log" "netcpu/table/dump local_in blocked" "netcpu/list"
grep 'dropped a connection' "$run/a.log" || true
step "B's console: no program, every hook empty"
console "$run/b.mgmt" "netcpu/list"

if [ $keep -eq 1 ]; then
  step "Still running; drive the consoles by hand"
  echo "  vdeterm $run/a.mgmt      # then: help, netcpu/table/set local_in blocked 10.0.0.8 1"
  echo "  vdeterm $run/b.mgmt"
  echo "  demos/lwip-processes.sh --stop"
else
  stop
  echo
  echo "done (run with --keep to drive the consoles yourself with vdeterm)"
fi
