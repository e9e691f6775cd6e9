#!/usr/bin/env bash
# NetCPU quickstart: builds netcpu and the vde_switch plugin, runs the 2004
# slides' program on a bundled capture, then starts a live vde_switch with
# the plugin and a program on every port, attaches two hosts (vdens network
# namespaces), shows one flow allowed and one blocked, and leaves the switch
# running for your own guests. `demos/quickstart.sh --stop` stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run=${NETCPU_RUN_DIR:-/tmp/netcpu-quickstart-$(id -u)}

# Host B runs in a session of its own (setsid), so that its vdens, the shell
# inside the namespace and the nc loops all go with one signal to the group.
stop() {
  if [ -f "$run/host-b.pid" ]; then
    kill -TERM -- "-$(cat "$run/host-b.pid")" 2>/dev/null || true
    rm -f "$run/host-b.pid"
  fi
  if [ -f "$run/switch.pid" ]; then
    kill "$(cat "$run/switch.pid")" 2>/dev/null || true
    rm -f "$run/switch.pid"
  fi
}
if [ "${1:-}" = "--stop" ]; then
  stop
  echo "stopped the quickstart switch in $run"
  exit 0
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Debian packages NetCPU needs (installed only when missing)"
tools/install-deps.sh
# NETCPU_BUILD_DIR: an existing build to use as it is (the tests use theirs).
build=${NETCPU_BUILD_DIR:-$root/build/quickstart}
netcpu="$build/tools/netcpu"
plugin="$build/vdeplugin/netcpu.so"
if [ -z "${NETCPU_BUILD_DIR:-}" ]; then
  step "Building the netcpu command and the vde_switch plugin in $build"
  [ -x "$netcpu" ] || echo "The first build takes a few minutes on 2 cores; later runs only rebuild what changed."
  log="$build.build.log"
  mkdir -p "$(dirname "$log")"
  # Progress on one line; the whole output in the log, shown when the build fails.
  { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$build" -j"$(nproc)" --target netcpu-cli netcpu-vdeplugin; } >"$log" 2>&1 &
  builder=$!
  while kill -0 $builder 2>/dev/null; do
    percent=$(grep -o '^\[ *[0-9]*%\]' "$log" | tail -n 1 | tr -dc '0-9' || true)
    printf '\r  building: %3s%%' "${percent:-0}"
    sleep 1
  done
  if ! wait $builder; then
    printf '\n'
    tail -n 40 "$log"
    echo "build failed: the whole log is in $log" >&2
    exit 1
  fi
  printf '\r  building: done (log: %s)\n' "$log"
fi

step "The 2004 NetCPU slides' program, assembled, verified and run on a capture"
mkdir -p "$run"
"$netcpu" asm examples/slides.ncpu -o "$run/slides.ncpub"
"$netcpu" check "$run/slides.ncpub" | head -n 3
"$netcpu" run "$run/slides.ncpub" --pcap examples/pcaps/mixed.pcap | head -n 6

step "A live vde_switch with NetCPU: $run"
stop
mkdir -p "$run"
cat >"$run/switch.rc" <<RC
plugin/add $plugin
netcpu/load * in $root/demos/quickstart.ncpu
RC
vde_switch -d -s "$run/switch" -M "$run/mgmt" -p "$run/switch.pid" -f "$run/switch.rc"
for _ in $(seq 50); do [ -S "$run/mgmt" ] && break; sleep 0.1; done
"$netcpu" ctl "$run/mgmt" "netcpu/list"
echo "program: demos/quickstart.ncpu (blocks telnet, logs it, counts frames per host)"

if ! unshare -rn true 2>/dev/null; then
  step "No user namespaces here: the two vdens hosts cannot start"
  echo "The switch is running; attach your own guests as shown below."
else
  step "Host B (10.0.0.2, a vdens namespace) serves TCP ports 80 and 23"
  setsid vdens "vde://$run/switch" sh -c '
    ip link set lo up; ip link set vde0 up; ip addr add 10.0.0.2/24 dev vde0
    while true; do echo "hello from B on port 80" | nc -l -N 10.0.0.2 80 >/dev/null; done &
    while true; do echo "hello from B on port 23" | nc -l -N 10.0.0.2 23 >/dev/null; done &
    wait' >/dev/null 2>&1 &
  echo $! >"$run/host-b.pid"
  sleep 1
  step "Host A (10.0.0.1, another vdens namespace) tries ping, port 80 and port 23"
  "$netcpu" ctl "$run/mgmt" "debug/add netcpu/log" --follow 9000 >"$run/log.txt" &
  follower=$!
  # Debian's vdens 0.2 sometimes misses its command's exit: bound the wait.
  timeout 30 vdens "vde://$run/switch" sh -c '
    ip link set lo up; ip link set vde0 up; ip addr add 10.0.0.1/24 dev vde0
    ping -c 2 -W 1 10.0.0.2 >/dev/null && echo "ping 10.0.0.2:        allowed" || echo "ping 10.0.0.2:        FAILED"
    reply=$(nc -N -w 3 10.0.0.2 80 </dev/null) && echo "tcp 10.0.0.2 port 80: allowed ($reply)" || echo "tcp 10.0.0.2 port 80: FAILED"
    nc -z -w 3 10.0.0.2 23 && echo "tcp 10.0.0.2 port 23: NOT BLOCKED" || echo "tcp 10.0.0.2 port 23: blocked by the switch"' || true
  wait $follower || true
  step "What the program logged (debug/add netcpu/log on the console)"
  sed -n 's/^netcpu\/log //p' "$run/log.txt" | head -n 5
  step "Its counters and its table"
  "$netcpu" ctl "$run/mgmt" "netcpu/list" "netcpu/table/dump * in seen"
fi

step "The switch keeps running. Attach and program your own hosts:"
cat <<EOF2
  console:      vdeterm $run/mgmt        (or: $netcpu ctl $run/mgmt 'netcpu/list')
  qemu guest:   qemu-system-x86_64 ... -nic vde,sock=$run/switch
  UML guest:    linux ... eth0=vde,$run/switch
  a namespace:  vdens vde://$run/switch
  programs:     netcpu/load PORT|* in|out FILE   (help netcpu on the console lists every command)
  stop it all:  demos/quickstart.sh --stop
EOF2
