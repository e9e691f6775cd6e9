#!/usr/bin/env bash
# NetCPU across machines: three "machines" (network namespaces, no root) on a
# LAN that carries multicast, one virtual Ethernet across them through
# vdeplug4's vxvde:// (VXLAN-like frames over multicast UDP):
#
#   machine A: vde_switch + netcpu.so, vde_plug to vxvde; host A1 (10.0.0.1)
#   machine B: vde_switch + netcpu.so, vde_plug to vxvde; host B1 (10.0.0.2) serving TCP 80 and 23
#   machine C: no switch; host C1 (10.0.0.3) cabled straight onto vxvde with
#              netcpu://[in=examples/cable_drop_service.ncpu]{vxvde://...}, serving TCP 80 and 7
#
# A1 connects to B1 with no program, then examples/tcp_firewall.ncpu is loaded
# on machine B's switch (on its uplink port, through its console), which drops
# telnet and lets HTTP through; C1's own cable drops port 7. On real hosts,
# each machine is a computer and the vde_switch / vde_plug / vdens lines are
# the same. The network stays up for your own experiments;
# `demos/multihost.sh --stop` stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run=${NETCPU_RUN_DIR:-/tmp/netcpu-multihost-$(id -u)}
# The machines' backbone is private to this demo, so no other multicast
# meets it; on a real LAN, pick a group and port of your own as here.
group=239.255.$(($(id -u) / 256 % 256)).$(($(id -u) % 256))
vxvde="vxvde://$group/port=14789"

# Every machine and host runs in a process group of its own (setsid): one
# signal ends vdens, the shell inside the namespace and what it started.
# The switches are daemons (-d) with pid files.
stop() {
  if [ -f "$run/groups" ]; then
    while read -r g; do kill -TERM -- "-$g" 2>/dev/null || true; done <"$run/groups"
    rm -f "$run/groups"
  fi
  for f in "$run"/*.switch.pid "$run"/backbone.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}
if [ "${1:-}" = "--stop" ]; then
  stop
  echo "stopped the multihost network in $run"
  exit 0
fi
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Waits (up to 5 s) for a path to appear; the demo stops if it does not.
await() {
  for _ in $(seq 50); do [ -e "$1" ] && return 0; sleep 0.1; done
  echo "$1 did not appear: see the logs in $run" >&2
  exit 1
}

tools/install-deps.sh
# NETCPU_BUILD_DIR: an existing build to use as it is (the tests use theirs).
build=${NETCPU_BUILD_DIR:-$root/build/quickstart}
if [ -z "${NETCPU_BUILD_DIR:-}" ]; then
  step "Building the netcpu command, the switch plugin and the netcpu:// module in $build"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target netcpu-cli netcpu-vdeplugin netcpu-vdeplug-module >/dev/null
fi
netcpu="$build/tools/netcpu"
plugin="$build/vdeplugin/netcpu.so"
if ! unshare -rn true 2>/dev/null; then
  echo "This machine does not allow user namespaces: the demo's machines cannot start." >&2
  echo "On real hosts, run on each: vde_switch -s /tmp/sw -M /tmp/sw.mgmt -d; vde_plug $vxvde vde:///tmp/sw" >&2
  exit 1
fi
# VDEPLUGIN_PATH replaces libvdeplug's search path: the system's modules
# (vxvde://, the one the cable wraps) are listed after ours.
sysmods=""
for d in /usr/lib/*/vdeplug /usr/lib/vdeplug /usr/local/lib/vdeplug /usr/local/lib/*/vdeplug; do
  [ -f "$d/libvdeplug_vxvde.so" ] && sysmods=$d && break
done
[ -n "$sysmods" ] || {
  echo "libvdeplug's module directory (with libvdeplug_vxvde.so) not found" >&2
  exit 1
}
modules="$build/vdeplugin:$sysmods"

stop
mkdir -p "$run"
(cd "$run" && rm -f backbone ./*.mgmt ./*.ns ./*.log ./*.rc ./*.txt ./*.switch)
step "The LAN between the machines: a plain vde_switch ($run/backbone)"
vde_switch -d -s "$run/backbone" -M "$run/backbone.mgmt" -p "$run/backbone.pid"
await "$run/backbone.mgmt"

# machine NAME N [switch]: a namespace on the backbone with 10.99.0.N and a
# route for multicast; with `switch`, a vde_switch with netcpu.so in it and
# vde_plug joining that switch to the vxvde network (vxvde opened first, so
# once the switch has its port, the group is joined: the uplink is port 1).
machine() {
  local name=$1 n=$2 with_switch=${3:-}
  local sw="$run/$name.switch"
  local inside="ip link set lo up; ip link set vde0 up; ip addr add 10.99.0.$n/24 dev vde0
    ip route add 224.0.0.0/4 dev vde0"
  if [ -n "$with_switch" ]; then
    printf 'plugin/add %s\n' "$plugin" >"$sw.rc"
    inside="$inside
    vde_switch -d -s $sw -M $sw.mgmt -p $sw.pid -f $sw.rc
    for _ in \$(seq 50); do [ -S $sw.mgmt ] && break; sleep 0.1; done
    vde_plug -D uplink-$name $vxvde vde://$sw >$run/$name.uplink.log 2>&1 &"
  fi
  setsid vdens -c "vde://$run/backbone" sh -c "$inside
    echo \$\$ >$run/$name.ns
    wait; exec sleep infinity" >"$run/$name.log" 2>&1 </dev/null &
  echo $! >>"$run/groups"
  await "$run/$name.ns"
}
step "Machines A and B (a vde_switch with NetCPU each, joined to $vxvde) and machine C (no switch)"
machine a 1 switch
machine b 2 switch
machine c 3
for m in a b; do
  for _ in $(seq 50); do
    "$netcpu" ctl "$run/$m.switch.mgmt" "port/print 1" 2>/dev/null | grep -q uplink-$m && break
    sleep 0.1
  done
done
"$netcpu" ctl "$run/b.switch.mgmt" "port/print 1" | grep -m1 -i 'uplink' | sed 's/^/  machine B port 1: /'

# serve NAME IP PORT...: nc loops answering "hello from NAME on port P".
serve() {
  local name=$1 ip=$2
  shift 2
  local loops=""
  for p in "$@"; do
    loops="$loops
    while true; do echo 'hello from $name on port $p' | nc -l -N $ip $p >/dev/null; done &"
  done
  echo "ip link set lo up; ip link set vde0 up; ip addr add $ip/24 dev vde0 $loops
    wait"
}
step "Host B1 (10.0.0.2) on machine B's switch, serving TCP ports 80 and 23"
setsid vdens "vde://$run/b.switch" sh -c "$(serve B1 10.0.0.2 80 23)" >"$run/b1.log" 2>&1 </dev/null &
echo $! >>"$run/groups"

program="$root/examples/cable_drop_service.ncpu"
cable="netcpu://[in=\"$program\"/mgmt=\"$run/c1.cable.mgmt\"]{$vxvde}"
step "Host C1 (10.0.0.3) inside machine C, its cable straight onto vxvde through NetCPU"
echo "  vdens '$cable'"
echo "  (the cable's program drops TCP port 7: examples/cable_drop_service.ncpu)"
setsid env VDEPLUGIN_PATH="$modules" nsenter -t "$(cat "$run/c.ns")" -U -n --preserve-credentials \
  vdens "$cable" sh -c "$(serve C1 10.0.0.3 80 7)" >"$run/c1.log" 2>&1 </dev/null &
echo $! >>"$run/groups"
await "$run/c1.cable.mgmt"

# From host A1 on machine A's switch: a fresh namespace per round. Debian's
# vdens 0.2 sometimes misses its command's exit: the wait is bounded.
from_a1() {
  timeout 30 vdens "vde://$run/a.switch" sh -c "ip link set lo up; ip link set vde0 up
    ip addr add 10.0.0.1/24 dev vde0; $1" 2>&1 || true
}
tcp() { # tcp IP PORT WHAT-A-DROP-IS
  echo "reply=\$(nc -N -w 3 $1 $2 </dev/null) && [ -n \"\$reply\" ] &&
    echo \"tcp $1 port $2: allowed (\$reply)\" || echo \"tcp $1 port $2: $3\""
}
step "Host A1 (10.0.0.1, machine A) to host B1 (machine B), no program anywhere"
from_a1 "ping -c 2 -W 1 10.0.0.2 >/dev/null && echo 'ping 10.0.0.2: allowed' || echo 'ping 10.0.0.2: FAILED'
  $(tcp 10.0.0.2 80 FAILED); $(tcp 10.0.0.2 23 FAILED)" | tee "$run/before.txt"

step "examples/tcp_firewall.ncpu on machine B's switch, port 1 (its uplink), in: through B's console"
"$netcpu" ctl "$run/b.switch.mgmt" "netcpu/load 1 in $root/examples/tcp_firewall.ncpu"
step "Host A1 again: to B1 (B's switch decides) and to C1 (C1's cable decides)"
from_a1 "$(tcp 10.0.0.2 80 FAILED); $(tcp 10.0.0.2 23 'blocked by machine B')
  $(tcp 10.0.0.3 80 FAILED); $(tcp 10.0.0.3 7 'dropped on the cable of C1')" | tee "$run/after.txt"

step "The counters of the programs that decided"
echo "machine B's switch:"
"$netcpu" ctl "$run/b.switch.mgmt" "netcpu/list" | sed 's/^/  /'
echo "C1's cable:"
"$netcpu" ctl "$run/c1.cable.mgmt" "netcpu/list" | sed 's/^/  /'

step "The network keeps running. Try:"
cat <<EOF
  consoles:     vdeterm $run/b.switch.mgmt      (machine B's switch; A's: $run/a.switch.mgmt)
                vdeterm $run/c1.cable.mgmt      (C1's cable)
  a new host:   vdens vde://$run/a.switch    (on machine A; then ip addr add 10.0.0.9/24 dev vde0 ...)
  on vxvde:     run inside a machine, e.g. nsenter -t \$(cat $run/c.ns) -U -n --preserve-credentials \\
                  vdens $vxvde
  stop it all:  demos/multihost.sh --stop
EOF
