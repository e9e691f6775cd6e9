#!/usr/bin/env bash
# NetCPU with real guests: a vde_switch running the NetCPU plugin, and on it
#   - a qemu guest   10.0.0.31  (Debian's cloud kernel under TCG, a busybox initramfs),
#                               attached through its own netcpu:// cable that runs
#                               examples/guests_cable_block_ping.ncpu;
#   - a UML guest    10.0.0.20  (Debian's User-Mode Linux, the host's files as its root);
#   - a vdens host   10.0.0.10  (a network namespace with the host's Linux stack).
# They ping each other with no switch program, then with
# examples/guests_block_icmp.ncpu on every port (the UML guest's pings to the
# qemu guest are dropped and logged), and the program is replaced by one that
# passes everything while the UML guest keeps pinging. The guests report their
# ping results on their consoles, which this script reads.
#
#   demos/guests.sh      run it, print what happened, exit 0 if every flow did what the programs say
#
# Needs root or password-less sudo the first time (Debian packages), then
# nothing: the guest kernel and images are cached in $NETCPU_GUEST_CACHE
# (default ~/.cache/netcpu-guests); everything else lives in $NETCPU_RUN_DIR
# (default /tmp/netcpu-guests-$UID) and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run=${NETCPU_RUN_DIR:-/tmp/netcpu-guests-$(id -u)}
[ $# -eq 0 ] || {
  echo "usage: demos/guests.sh" >&2
  exit 2
}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
started=$(date +%s)

tools/install-deps.sh
status=0
tools/guest-images.sh install || status=$?
[ $status -eq 0 ] || {
  echo "The guests cannot run on this machine (see above)." >&2
  exit 1
}
build=build/quickstart
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" \
  --target netcpu-cli netcpu-vdeplugin netcpu-vdeplug-module netcpu-uml-xsave-shim >/dev/null
netcpu="$root/$build/tools/netcpu"
plugin="$root/$build/vdeplugin/netcpu.so"
shim="$root/$build/guests/uml_xsave_shim.so"
block="$root/examples/guests_block_icmp.ncpu"
cable="$root/examples/guests_cable_block_ping.ncpu"

# Only what this run started, by pid (process groups: every host runs in a
# session of its own, and linux.uml leaves helpers behind if only its main
# process goes).
groups=()
cleanup() {
  local g
  exec 7>&- 8>&- 9>&-
  for g in "${groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  for g in "${groups[@]}"; do wait "$g" 2>/dev/null || true; done
  [ -f "$run/follow.pid" ] && kill "$(cat "$run/follow.pid")" 2>/dev/null || true
  [ -f "$run/switch.pid" ] && kill "$(cat "$run/switch.pid")" 2>/dev/null || true
  rm -f "$run/switch.pid" "$run/follow.pid"
}
trap cleanup EXIT
mkdir -p "$run"
[ -f "$run/switch.pid" ] && kill "$(cat "$run/switch.pid")" 2>/dev/null || true
rm -rf "$run/switch" "$run/mgmt" "$run/uml" "$run"/*.log "$run"/*.in "$run/log.txt" "$run/pass.ncpu"

step "Guest images (tools/guest-images.sh prepare; cached in ${NETCPU_GUEST_CACHE:-~/.cache/netcpu-guests})"
images=$(tools/guest-images.sh prepare) || {
  echo "The guest images could not be made (see above)." >&2
  exit 1
}
kernel=$(sed -n 's/^kernel=//p' <<<"$images")
initrd=$(sed -n 's/^initrd=//p' <<<"$images")
init=$(sed -n 's/^init=//p' <<<"$images")
echo "  kernel $kernel"
echo "  initrd $initrd ($(du -k "$initrd" | cut -f1) KB: static busybox, virtio modules, /init)"
echo "  init   $init (the same init for UML, run from the host's files through hostfs)"

step "Does linux.uml need the XSAVE workaround on this CPU? (a throwaway boot tells)"
preload=$(tools/guest-images.sh uml-preload "$shim") || {
  echo "UML cannot run here (see above)." >&2
  exit 1
}

step "A vde_switch with NetCPU in $run, no program yet"
printf 'plugin/add %s\n' "$plugin" >"$run/switch.rc"
vde_switch -d -s "$run/switch" -M "$run/mgmt" -p "$run/switch.pid" -f "$run/switch.rc"
for _ in $(seq 50); do [ -S "$run/mgmt" ] && break; sleep 0.1; done
"$netcpu" ctl "$run/mgmt" "netcpu/list"
"$netcpu" ctl "$run/mgmt" "debug/add netcpu/log" --follow 600000 >"$run/log.txt" 2>&1 &
echo $! >"$run/follow.pid"

# Each host reads protocol commands from a FIFO (tools/guest-images.sh describes
# them) that this script holds open read-write on fds 7, 8, 9, so that a host
# never sees end of file while the demo runs; the hosts must not inherit them.
for h in qemu uml host; do mkfifo "$run/$h.in"; done
exec 7<>"$run/qemu.in" 8<>"$run/uml.in" 9<>"$run/host.in"
declare -A fd=([qemu]=7 [uml]=8 [host]=9)

# VDEPLUGIN_PATH replaces libvdeplug's search path: the system's modules
# (vde://, which the cable wraps) after ours.
sysmods=""
for d in /usr/lib/*/vdeplug /usr/lib/vdeplug; do
  [ -f "$d/libvdeplug_vde.so" ] && sysmods=$d && break
done
export VDEPLUGIN_PATH="$root/$build/vdeplugin${sysmods:+:$sysmods}"
# File names hold '/', vdeplug4's option separator: they go in quotes.
sock="netcpu://[in=\"$cable\"/log=\"$run/cable.log\"/stats]{vde://$run/switch}"

step "Booting the qemu guest (TCG) on its own netcpu:// cable, and the UML guest"
qemu_cmd=(qemu-system-x86_64 -accel tcg -m 256 -smp 1 -nodefaults -display none -monitor none
  -serial stdio -no-reboot -kernel "$kernel" -initrd "$initrd"
  -append "console=ttyS0 quiet panic=-1 netcpu_name=qemu netcpu_ip=10.0.0.31/24"
  -nic "vde,sock=$sock,model=virtio-net-pci,mac=52:54:00:00:00:31")
# shellcheck disable=SC2054 # the commas are linux.uml's own separators
uml_cmd=(linux.uml mem=128M rootfstype=hostfs rootflags=/ ro "init=$init" umid=netcpu-demo
  "uml_dir=$run/uml" "eth0=vde,$run/switch,52:54:00:00:00:20" con=null con0=fd:0,fd:1 quiet
  netcpu_name=uml netcpu_ip=10.0.0.20/24)
# A command line as it would be typed: single quotes only where needed.
words() {
  local w out=""
  for w in "$@"; do
    if [[ $w =~ ^[A-Za-z0-9_./:=,@+-]+$ ]]; then out+=" $w"; else out+=" '${w//\'/\'\\\'\'}'"; fi
  done
  echo "$out"
}
echo " $(words "${qemu_cmd[@]}")"
echo " ${preload:+$(words "LD_PRELOAD=$preload")}$(words "${uml_cmd[@]}")"
boot=$(date +%s.%N)
setsid "${qemu_cmd[@]}" <"$run/qemu.in" >"$run/qemu.log" 2>&1 7>&- 8>&- 9>&- &
groups+=($!)
mkdir -p "$run/uml"
LD_PRELOAD="$preload" setsid "${uml_cmd[@]}" <"$run/uml.in" >"$run/uml.log" 2>&1 7>&- 8>&- 9>&- &
groups+=($!)

have_vdens=1
unshare -rn true 2>/dev/null || have_vdens=0
if [ $have_vdens = 1 ]; then
  # The same protocol as the guests' init, for its pings (the host's iputils ping).
  setsid vdens "vde://$run/switch" sh -c '
    ip link set lo up; ip link set vde0 up; ip addr add 10.0.0.10/24 dev vde0
    echo "@@NETCPU host ready 10.0.0.10/24"
    while read -r cmd tag dest count; do
      [ "$cmd" = ping ] || continue
      n=$(ping -c "$count" -i 0.2 -W 2 "$dest" 2>/dev/null | sed -n "s/.* \([0-9][0-9]*\) received.*/\1/p")
      echo "@@NETCPU host ping $tag $dest sent=$count received=${n:-0}"
    done' <"$run/host.in" >"$run/host.log" 2>&1 7>&- 8>&- 9>&- &
  groups+=($!)
fi

# wait_line LOG TEXT TRIES [FROM]: waits (TRIES times 0.1 s) for a line
# containing TEXT in a host's console log, after its first FROM lines; prints it.
wait_line() {
  local log=$1 text=$2 tries=$3 from=${4:-0} line
  for _ in $(seq "$tries"); do
    if line=$(tail -n +"$((from + 1))" "$log" 2>/dev/null | grep -a -m 1 -F -- "$text"); then
      tr -d '\r' <<<"$line"
      return 0
    fi
    sleep 0.1
  done
  return 1
}
for h in uml qemu; do
  if ! wait_line "$run/$h.log" "@@NETCPU $h ready" 1500 >/dev/null; then
    echo "The $h guest did not come up; its console:" >&2
    tr -d '\r' <"$run/$h.log" | tail -n 20 >&2
    exit 1
  fi
  printf '  %-4s guest ready after %.1f s\n' "$h" "$(echo "$(date +%s.%N) - $boot" | bc)"
done
if [ $have_vdens = 1 ]; then
  wait_line "$run/host.log" "@@NETCPU host ready" 100 >/dev/null || {
    echo "The vdens host did not come up" >&2
    exit 1
  }
  echo "  vdens host ready"
else
  echo "  no user namespaces here: no vdens host (its flows are left out)"
fi

declare -A ip=([qemu]=10.0.0.31 [uml]=10.0.0.20 [host]=10.0.0.10)
declare -A label=([qemu]="qemu guest" [uml]="UML guest " [host]="vdens host")
failures=0
n=0
# ping FROM TO EXPECTED(pass|blocked) WHY: asks FROM to ping TO three times.
ping_flow() {
  local from=$1 to=$2 expected=$3 why=$4 line received seen
  if [ $have_vdens = 0 ] && { [ "$from" = host ] || [ "$to" = host ]; }; then return; fi
  n=$((n + 1))
  echo "ping p$n ${ip[$to]} 3" >&"${fd[$from]}"
  if ! line=$(wait_line "$run/$from.log" "@@NETCPU $from ping p$n " 300); then
    echo "  ${label[$from]} -> ${label[$to]}: no answer from the $from host" >&2
    failures=$((failures + 1))
    return
  fi
  received=$(sed -n 's/.*received=\([0-9]*\).*/\1/p' <<<"$line")
  received=${received:-0}
  seen=blocked
  [ "$received" -gt 0 ] && seen=pass
  printf '  %s -> %s  %d/3 replies  %-8s expected %-8s %s\n' "${label[$from]}" "${label[$to]}" \
    "$received" "$seen" "$expected" "($why)"
  [ "$seen" = "$expected" ] || failures=$((failures + 1))
}

step "Pings with no switch program (the qemu guest's cable drops the vdens host's pings)"
ping_flow uml qemu pass "no program"
ping_flow qemu uml pass "no program"
ping_flow host qemu blocked "the qemu guest's cable: $(basename "$cable")"
ping_flow host uml pass "no program"
ping_flow qemu host pass "replies are not requests"

step "netcpu/load * in $(basename "$block")"
grep -v '^#' "$block" | sed '/^$/d; s/^/    /'
"$netcpu" ctl "$run/mgmt" "netcpu/load * in $block"
ping_flow uml qemu blocked "the switch program"
ping_flow qemu uml pass "replies are not requests"
ping_flow host uml pass "not matched"
ping_flow uml host pass "not matched"
"$netcpu" ctl "$run/mgmt" "netcpu/list"

step "Replacing the program while the UML guest pings the qemu guest every 0.25 s"
from=$(wc -l <"$run/uml.log")
echo "watch ${ip[qemu]}" >&8
sleep 2
printf '.text:\n    pass\n' >"$run/pass.ncpu"
echo "  after 2 s of dropped requests: netcpu/load * in $run/pass.ncpu"
"$netcpu" ctl "$run/mgmt" "netcpu/load * in $run/pass.ncpu"
swapped=$(date +%s.%N)
if first=$(wait_line "$run/uml.log" "bytes from ${ip[qemu]}" 100 "$from"); then
  printf '  first reply %.2f s after the swap: %s\n' "$(echo "$(date +%s.%N) - $swapped" | bc)" "$first"
  echo "  (sequence numbers before it were dropped: the same ping process, nothing restarted)"
else
  echo "  no reply after the swap"
  failures=$((failures + 1))
fi
sleep 1
echo "unwatch" >&8
if stats=$(wait_line "$run/uml.log" "packets transmitted" 50 "$from"); then
  echo "  the watching ping: $stats"
fi
"$netcpu" ctl "$run/mgmt" "netcpu/list"

step "What the switch program logged (debug/add netcpu/log; $(grep -c '^netcpu/log ' "$run/log.txt") lines, the first 4)"
sed -n 's/^netcpu\/log /  /p' "$run/log.txt" | head -n 4
step "What the qemu guest's cable logged ($run/cable.log)"
sed 's/^/  /' "$run/cable.log" 2>/dev/null | head -n 6 || echo "  (empty)"

step "Stopping the guests (poweroff on their consoles)"
echo poweroff >&7
echo poweroff >&8
for _ in $(seq 100); do
  alive=0
  for g in "${groups[@]:0:2}"; do kill -0 "$g" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break
  sleep 0.1
done
# The cable writes its counters when qemu closes it.
grep "frames" "$run/cable.log" | sed 's/^/  cable: /' || true

step "Attach your own guests to a switch running the plugin (README.md, \"Guests\")"
cat <<EOF
  qemu:  qemu-system-x86_64 ... -nic vde,sock=/tmp/sw,model=virtio-net-pci
         qemu-system-x86_64 ... -nic 'vde,sock=netcpu://[in=fw.ncpu]{vde:///tmp/sw}'   (its own cable)
  UML:   linux.uml ... eth0=vde,/tmp/sw
  console: vdeterm /tmp/sw.mgmt, then netcpu/load * in FILE, netcpu/list, debug/add netcpu/log
EOF
echo "  (this run took $(($(date +%s) - started)) s)"
if [ $failures -eq 0 ]; then
  step "Every flow did what the programs say"
  exit 0
fi
step "$failures flow(s) did not do what the programs say: see above (consoles in $run/*.log)"
exit 1
