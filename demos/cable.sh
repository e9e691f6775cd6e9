#!/usr/bin/env bash
# NetCPU on a cable: a plain vde_switch (no plugin), host B (a vdens network
# namespace, 10.0.0.2) serving TCP ports 7 and 80, and host A (10.0.0.1),
# whose cable to the switch goes through the netcpu:// vdeplug4 module with
# examples/cable_drop_service.ncpu on both directions. A pings B and connects
# to port 80 (allowed) and to port 7 (dropped on A's cable). No root: the
# module is found through VDEPLUGIN_PATH, the hosts live in user namespaces.
#
#   demos/cable.sh           run it, print what happened, exit 0 if the filter did its job
#   demos/cable.sh --shell   the same cable, but an interactive shell on host A
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run=${NETCPU_RUN_DIR:-/tmp/netcpu-cable-$(id -u)}
interactive=0
case "${1:-}" in
  "") ;;
  --shell) interactive=1 ;;
  *)
    echo "usage: demos/cable.sh [--shell]" >&2
    exit 2
    ;;
esac
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

tools/install-deps.sh
build=build/quickstart
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target netcpu-cli netcpu-vdeplug-module >/dev/null
netcpu="$root/$build/tools/netcpu"
program="$root/examples/cable_drop_service.ncpu"

if ! unshare -rn true 2>/dev/null; then
  step "This machine does not allow user namespaces: vdens cannot start the two hosts"
  echo "The module itself needs none; try it with vde_plug, e.g.:"
  echo "  VDEPLUGIN_PATH=$root/$build/vdeplugin:/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/vdeplug \\"
  echo "    vde_plug 'netcpu://[in=\"$program\"]{vde:///tmp/switch1}' vde:///tmp/switch2"
  exit 1
fi

# VDEPLUGIN_PATH replaces libvdeplug's search path, so the system's own
# modules (vde://, the one the cable wraps) must be listed after ours.
sysmods=""
for d in /usr/lib/*/vdeplug /usr/lib/vdeplug /usr/local/lib/vdeplug /usr/local/lib/*/vdeplug; do
  if [ -f "$d/libvdeplug_vde.so" ]; then
    sysmods=$d
    break
  fi
done
[ -n "$sysmods" ] || {
  echo "libvdeplug's module directory (with libvdeplug_vde.so) not found" >&2
  exit 1
}
export VDEPLUGIN_PATH="$root/$build/vdeplugin:$sysmods"

hostgroups=()
cleanup() {
  # Host B's shell loops outlive vdens (a network namespace is not a PID
  # namespace): its whole process group goes.
  for g in "${hostgroups[@]}"; do kill -- "-$g" 2>/dev/null || true; done
  [ -f "$run/switch.pid" ] && kill "$(cat "$run/switch.pid")" 2>/dev/null || true
  rm -f "$run/switch.pid"
}
trap cleanup EXIT
mkdir -p "$run"
[ -f "$run/switch.pid" ] && kill "$(cat "$run/switch.pid")" 2>/dev/null || true
rm -rf "$run/switch" "$run/mgmt" "$run/cable.log"

step "The cable's program: $program"
"$netcpu" check "$program" | sed -n 1,2p
grep -v '^#' "$program" | sed '/^$/d; s/^/    /'

step "A plain vde_switch (no plugin) in $run"
vde_switch -d -s "$run/switch" -M "$run/mgmt" -p "$run/switch.pid"
for _ in $(seq 50); do [ -S "$run/mgmt" ] && break; sleep 0.1; done

step "Host B (10.0.0.2) on an ordinary cable, serving TCP ports 7 and 80"
setsid vdens "vde://$run/switch" sh -c '
  ip link set lo up; ip link set vde0 up; ip addr add 10.0.0.2/24 dev vde0
  while true; do echo "hello from B on port 80" | nc -l -N 10.0.0.2 80 >/dev/null; done &
  while true; do echo "hello from B on port 7" | nc -l -N 10.0.0.2 7 >/dev/null; done &
  wait' >/dev/null 2>&1 &
hostgroups+=($!)
sleep 1

# File names hold '/', vdeplug4's option separator: they go in quotes.
url="netcpu://[in=\"$program\"/out=\"$program\"/log=\"$run/cable.log\"/stats]{vde://$run/switch}"
step "Host A (10.0.0.1) on the filtered cable"
echo "  vdens '$url'"
setup='ip link set lo up; ip link set vde0 up; ip addr add 10.0.0.1/24 dev vde0'

if [ "$interactive" = 1 ]; then
  cat <<EOF
Try:  ping -c 2 10.0.0.2
      nc -N -w 3 10.0.0.2 80 </dev/null     (answers)
      nc -N -w 3 10.0.0.2 7 </dev/null      (dropped on this cable: times out)
What the program logs goes to $run/cable.log. Leave with 'exit'.
EOF
  vdens "$url" sh -c "$setup; PS1='host-A\$ ' exec bash --norc -i" || true
  step "The cable's log"
  cat "$run/cable.log" 2>/dev/null || true
  exit 0
fi

# Debian's vdens 0.2 sometimes misses its command's exit: bound the wait.
result=$(timeout 30 vdens "$url" sh -c "$setup"'
  ping -c 2 -W 1 10.0.0.2 >/dev/null && echo "ping 10.0.0.2:        allowed" || echo "ping 10.0.0.2:        FAILED"
  reply=$(nc -N -w 3 10.0.0.2 80 </dev/null) && echo "tcp 10.0.0.2 port 80: allowed ($reply)" || echo "tcp 10.0.0.2 port 80: FAILED"
  nc -z -w 3 10.0.0.2 7 && echo "tcp 10.0.0.2 port 7:  NOT BLOCKED" || echo "tcp 10.0.0.2 port 7:  dropped on the cable"' 2>&1) || true
echo "$result"

step "The cable's log ($run/cable.log): the program's lines, then its counters"
sed 's/^/  /' "$run/cable.log" 2>/dev/null || echo "  (empty)"

if grep -q "port 80: allowed" <<<"$result" && grep -q "ping 10.0.0.2:        allowed" <<<"$result" &&
  grep -q "port 7:  dropped on the cable" <<<"$result" && grep -q "dropped tcp" "$run/cable.log"; then
  step "The filter did its job: ping and port 80 through, port 7 dropped"
  exit 0
fi
step "Unexpected result: see above"
exit 1
