#!/usr/bin/env bash
# Real guests for NetCPU's demos and tests: what demos/guests.sh and
# tests/guests/guests_test.cpp share.
#
#   tools/guest-images.sh install            installs qemu-system-x86, busybox-static and
#                                            user-mode-linux from Debian when missing
#   tools/guest-images.sh prepare            install, then fetch the guest kernel and build the
#                                            guests' images; prints KEY=VALUE lines:
#                                              kernel=  the qemu guest's kernel (Debian's cloud kernel)
#                                              initrd=  its initramfs (static busybox, virtio modules, /init)
#                                              init=    the same init for a UML guest (init=PATH, hostfs root)
#                                              uml=     linux.uml   qemu=  qemu-system-x86_64
#   tools/guest-images.sh uml-preload SHIM   boots a throwaway UML guest to see whether this host
#                                            has the XSAVE pitfall (README.md, "Guests"); prints
#                                            the LD_PRELOAD linux.uml needs (empty: none).
#                                            $NETCPU_UML_PRELOAD, if set, is preloaded too, after
#                                            the shim: tests/guests/xsave_large_host.c simulates
#                                            the pitfall that way
#
# Exit status: 0 done; 77 this machine cannot run the guests for a reason outside
# the project (a package that cannot be installed, no guest kernel to be had, ptrace
# refused), the reason on stderr; anything else is a failure.
#
# Everything downloaded or built goes to $NETCPU_GUEST_CACHE (default
# ~/.cache/netcpu-guests): the cloud kernel's vmlinuz and the eight modules the
# qemu guest needs (about 15 MB, kept across runs; a newer kernel is fetched when
# Debian has one), the initramfs and the init script (rebuilt on every prepare,
# which takes well under a second).
#
# The guests' init speaks a line protocol on its console, so that a script or a
# test can drive them over qemu's serial port or UML's console (see the init
# below): it prints "@@NETCPU NAME ready ADDRESS" once its interface is up, and
# answers the commands
#   ping TAG DEST COUNT   "@@NETCPU NAME ping TAG DEST sent=COUNT received=N"
#   watch DEST            busybox ping every 0.25 s in the background; its own lines
#                         ("64 bytes from DEST: seq=N ...") as replies arrive
#   unwatch               stops it: its statistics lines, then "@@NETCPU NAME unwatched"
#   poweroff              halts the guest (qemu and linux.uml then exit)
# The kernel command line names the guest: netcpu_name=NAME netcpu_ip=ADDRESS/LEN.
set -euo pipefail
cache=${NETCPU_GUEST_CACHE:-${HOME:-/tmp}/.cache/netcpu-guests}
packages=(qemu-system-x86 busybox-static user-mode-linux)
# The order matters: busybox's insmod resolves no dependencies.
modules=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover
  virtio_net)
busybox=/bin/busybox
uml=/usr/bin/linux.uml
qemu=/usr/bin/qemu-system-x86_64

say() { echo "guest-images: $*" >&2; }
cannot() {
  say "$*"
  exit 77
}
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo "$@"
  else
    return 1
  fi
}

install_packages() {
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (about 110 MB with qemu)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    cannot "cannot install ${missing[*]} (needs root or password-less sudo and Debian's archive)"
  fi
  for p in "$busybox" "$uml" "$qemu"; do [ -x "$p" ] || cannot "$p missing after installing ${missing[*]}"; done
}

# The cloud kernel package linux-image-cloud-amd64 depends on, e.g.
# linux-image-6.1.0-56-cloud-amd64.
kernel_package() {
  apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1
}

# The newest kernel fetched earlier, or nothing.
cached_kernel() {
  [ -d "$cache/kernel" ] || return 0
  find "$cache/kernel" -mindepth 1 -maxdepth 1 -name 'linux-image-*' | sort -V | tail -n 1
}

# Scratch directories, removed however the script ends.
scratch=()
trap 'rm -rf "${scratch[@]}"' EXIT

# Sets kernel_dir to the directory holding vmlinuz and modules/*.ko of the
# newest cloud kernel (not printed: a $(...) subshell would not remove scratch).
fetch_kernel() {
  local pkg dir tmp old
  pkg=$(kernel_package)
  if [ -z "$pkg" ]; then
    # apt-cache knows nothing before a first apt-get update.
    as_root apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(kernel_package)
  fi
  dir=$cache/kernel/$pkg
  if [ -n "$pkg" ] && [ -f "$dir/vmlinuz" ] && [ -f "$dir/modules/virtio_net.ko" ]; then
    kernel_dir=$dir
    return
  fi
  tmp=$(mktemp -d "$cache/fetch.XXXXXX")
  scratch+=("$tmp")
  # As root, apt-get download drops to the _apt user, who cannot write here.
  local sandbox=()
  [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
  if [ -n "$pkg" ]; then
    say "fetching the guest kernel $pkg into $cache"
  fi
  if [ -z "$pkg" ] || ! (cd "$tmp" && apt-get "${sandbox[@]}" download -qq "$pkg" >/dev/null 2>&1); then
    # Offline, or not Debian: a kernel fetched earlier still does.
    old=$(cached_kernel)
    local what=${pkg:-the kernel linux-image-cloud-amd64 depends on}
    [ -n "$old" ] || cannot "no guest kernel: cannot download $what from Debian's archive, and none is cached in $cache"
    say "cannot download $what: using $(basename "$old") from the cache"
    kernel_dir=$old
    return
  fi
  dpkg-deb -x "$tmp"/"$pkg"_*.deb "$tmp/x"
  mkdir -p "$tmp/keep/modules"
  cp "$tmp"/x/boot/vmlinuz-* "$tmp/keep/vmlinuz"
  local m f
  for m in "${modules[@]}"; do
    f=$(find "$tmp/x/lib/modules" -name "$m.ko" | head -n 1)
    [ -n "$f" ] || {
      say "$pkg has no $m.ko"
      exit 1
    }
    cp "$f" "$tmp/keep/modules/"
  done
  # Older kernels and their initramfs go: a guest running from them has them open.
  rm -rf "$cache"/kernel/linux-image-* "$cache"/initrd-linux-image-*
  mkdir -p "$cache/kernel"
  mv "$tmp/keep" "$dir"
  kernel_dir=$dir
}

write_init() {
  cat <<'INIT'
#!/bin/busybox sh
# NetCPU guest init, written by tools/guest-images.sh: /init of the qemu guest's
# initramfs and init=PATH of a UML guest (hostfs root). The protocol is
# described in tools/guest-images.sh.
# /proc first: busybox runs its applets through /proc/self/exe, which without
# the guest's own /proc is UML's hostfs view of the host's, i.e. linux.uml.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys 2>/dev/null
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
name=guest
address=
for word in $(cat /proc/cmdline); do
  case $word in
    netcpu_name=*) name=${word#*=} ;;
    netcpu_ip=*) address=${word#*=} ;;
  esac
done
say() { echo "@@NETCPU $name $*"; }

if [ -d /netcpu-modules ]; then
  # The qemu guest: its kernel's virtio NIC drivers are modules.
  mount -t devtmpfs dev /dev
  exec </dev/console >/dev/console 2>&1
  for m in $(cat /netcpu-modules/order); do
    insmod /netcpu-modules/$m.ko || say "error: insmod $m failed"
  done
fi
# Kernel messages would interleave with the protocol's lines.
echo 1 >/proc/sys/kernel/printk
stty -echo 2>/dev/null

for _ in $(seq 100); do
  [ -e /sys/class/net/eth0 ] && break
  sleep 0.05
done
ip link set lo up
if [ -n "$address" ] && ip addr add "$address" dev eth0 && ip link set eth0 up; then
  say ready "$address"
else
  say "error: no eth0 or no netcpu_ip= ($(ls /sys/class/net 2>/dev/null | tr '\n' ' '))"
fi

watch_pid=
while read -r cmd a b c; do
  case $cmd in
    ping)
      out=$(ping -c "$c" -i 0.2 -W 2 "$b" 2>&1)
      received=$(echo "$out" | sed -n 's/.* \([0-9][0-9]*\) packets received.*/\1/p')
      say ping "$a" "$b" "sent=$c" "received=${received:-0}"
      ;;
    watch)
      ping -i 0.25 "$a" 2>&1 &
      watch_pid=$!
      say watching "$a"
      ;;
    unwatch)
      if [ -n "$watch_pid" ]; then
        kill -INT "$watch_pid"
        wait "$watch_pid"
      fi
      watch_pid=
      say unwatched
      ;;
    poweroff) poweroff -f ;;
    "") ;;
    *) say "error: unknown command $cmd" ;;
  esac
done
# The console closed: nothing can reach this guest any more.
poweroff -f
INIT
}

# Writes $2 from stdin atomically: a guest booting meanwhile keeps the old file.
atomic_write() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  chmod "$2" "$tmp"
  mv -f "$tmp" "$1"
}

build_images() {
  local kdir=$1 stage initrd m
  write_init | atomic_write "$cache/guest-init.sh" 0755
  stage=$(mktemp -d "$cache/initrd.XXXXXX")
  scratch+=("$stage")
  mkdir -p "$stage"/{bin,dev,proc,sys,netcpu-modules}
  cp "$busybox" "$stage/bin/busybox"
  cp "$cache/guest-init.sh" "$stage/init"
  for m in "${modules[@]}"; do cp "$kdir/modules/$m.ko" "$stage/netcpu-modules/"; done
  printf '%s\n' "${modules[@]}" >"$stage/netcpu-modules/order"
  initrd=$cache/initrd-$(basename "$kdir").gz
  (cd "$stage" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -6) | atomic_write "$initrd" 0644
  echo "kernel=$kdir/vmlinuz"
  echo "initrd=$initrd"
  echo "init=$cache/guest-init.sh"
  echo "uml=$uml"
  echo "qemu=$qemu"
}

# Boots a UML guest whose init checks floating point and halts. 0: it ran;
# 2: UML's XSAVE failure; 3: ptrace refused; 1: another failure (log in $log).
probe_uml() {
  local preload=$1 dir=$2 pid status=1
  log=$dir/probe.log
  rm -rf "$dir/uml"
  mkdir -p "$dir/uml"
  # bash's own "Aborted" notice for the failing boot would only repeat the log.
  {
    LD_PRELOAD="$preload" "$uml" mem=64M rootfstype=hostfs rootflags=/ ro init="$dir/init" umid=probe \
      uml_dir="$dir/uml" con=null con0=null,fd:1 quiet </dev/null >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do
      kill -0 "$pid" || break
      grep -q "NETCPU-PROBE" "$log" && break
      sleep 0.1
    done
    # linux.uml makes itself a process group leader (setsid), with helper
    # processes in its group: the group goes. It may not have got that far.
    kill -KILL -- "-$pid" || kill -KILL "$pid" || true
    wait "$pid" || true
  } 2>/dev/null
  if grep -q "NETCPU-PROBE ok" "$log"; then
    status=0
  elif grep -q "ptrace set fp regs failed" "$log"; then
    status=2
  elif grep -q "check_ptrace\|ptrace: Operation not permitted" "$log"; then
    status=3
  fi
  return $status
}

uml_preload() {
  local shim extra=${NETCPU_UML_PRELOAD:-} dir status=0
  shim=$(realpath -m "$1")
  [ -f "$shim" ] || {
    say "no shim library at $shim"
    exit 1
  }
  dir=$(mktemp -d "${TMPDIR:-/tmp}/netcpu-uml-probe.XXXXXX")
  scratch+=("$dir")
  # The awk sum runs on the FPU across many context switches: with FPU state
  # restored wrongly it comes out wrong or the process dies.
  cat >"$dir/init" <<'PROBE'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
sum=$(awk 'BEGIN { s = 0; for (i = 0; i < 200000; i++) s += i * 0.5; printf "%.1f", s }')
if [ "$sum" = "9999950000.0" ]; then echo "NETCPU-PROBE ok"; else echo "NETCPU-PROBE wrong sum $sum"; fi
poweroff -f
PROBE
  chmod +x "$dir/init"
  probe_uml "$extra" "$dir" || status=$?
  case $status in
    0)
      say "UML boots without help on this host: no XSAVE workaround"
      echo "$extra"
      return
      ;;
    2)
      say "UML failed with 'userspace - ptrace set fp regs failed, errno = 14' (this CPU's XSAVE"
      say "area is larger than UML's buffer): retrying with the shim $(basename "$shim")"
      ;;
    3)
      sed 's/^/    /' "$log" | tail -n 5 >&2
      cannot "UML cannot run here: ptrace is not permitted"
      ;;
    *)
      say "UML failed to boot:"
      grep -v '^ \[<' "$log" | tail -n 15 | sed 's/^/    /' >&2
      exit 1
      ;;
  esac
  status=0
  probe_uml "$shim${extra:+ $extra}" "$dir" || status=$?
  if [ $status -ne 0 ]; then
    say "UML fails with the shim too:"
    grep -v '^ \[<' "$log" | tail -n 15 | sed 's/^/    /' >&2
    exit 1
  fi
  say "with the shim UML boots: linux.uml runs with LD_PRELOAD=$shim"
  echo "$shim${extra:+ $extra}"
}

case "${1:-}" in
  install) install_packages ;;
  prepare)
    install_packages
    mkdir -p "$cache"
    # One fetch and build at a time (a demo and a test may start together).
    exec 9>"$cache/.lock"
    flock 9
    fetch_kernel
    build_images "$kernel_dir"
    ;;
  uml-preload)
    [ $# -eq 2 ] || {
      echo "usage: tools/guest-images.sh uml-preload SHIM.so" >&2
      exit 2
    }
    [ -x "$uml" ] || cannot "$uml missing (tools/guest-images.sh install)"
    uml_preload "$2"
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
