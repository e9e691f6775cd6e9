#!/usr/bin/env bash
# Installs the Debian packages NetCPU needs to build, test and run its demos,
# when they are missing. Used by demos/quickstart.sh, tests/run.sh and CI.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format  # toolchain, formatting (tools/check-format.sh)
  clang libclang-rt-14-dev                # libFuzzer and the sanitizers for tests/fuzz (tools/fuzz.sh)
  libpcap-dev tcpdump                     # pcap I/O and the tcpdump reference
  libgtest-dev libgmock-dev libbenchmark-dev  # tests and benchmarks
  libcli11-dev nlohmann-json3-dev libboost-dev  # the netcpu command line
  openssh-client                          # ssh:// consoles (netcpu ctl, top, fleet)
  vde2 libvdeplug-dev vdens               # vde_switch, its plugin ABI's host, and namespaces on it
  vdetelweb                               # a switch's telnet console on the virtual network (tests/telnet)
  liblwipv6-dev                           # per-process TCP/IP stacks (lwip-glue)
  iproute2 iputils-ping netcat-openbsd    # the demo hosts' tools
  qemu-system-x86 busybox-static user-mode-linux  # real guests (tests/guests, demos/guests.sh; tools/guest-images.sh)
  go-md2man man-db dpkg-dev               # man pages from markdown, rendered by the test; the .deb (cpack, dpkg-shlibdeps)
)

# The ssh:// console test runs a private sshd on 127.0.0.1. Installing
# openssh-server also starts the system's SSH service: done on CI machines
# (CI set), which are thrown away; elsewhere that is the owner's choice, and
# without it the test says it skipped and why.
[ -n "${CI:-}" ] && packages+=(openssh-server)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
