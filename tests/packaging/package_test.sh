#!/usr/bin/env bash
# Packaging.DebInstallsAndWorksByNameThenRemovesCleanly: the Debian package
# built from this build directory (cpack, packaging/package.cmake) installs
# with apt-get; a stock vde_switch then loads the plugin by name
# (`plugin/add netcpu`) and filters frames; a netcpu:// cable works with no
# VDEPLUGIN_PATH; a C program builds against the lwIPv6 API through
# pkg-config and runs; `apt-get purge` takes every file away again.
# Usage: package_test.sh BUILD_DIR [sanitize]. Exit 77: skipped.
set -uo pipefail
build=$1
skip() { echo "SKIP: $*"; exit 77; }
[ "${2:-}" = sanitize ] && skip "a sanitizer build cannot be installed for an uninstrumented vde_switch"
[ "$(id -u)" -eq 0 ] || skip "installing a package needs root"
for tool in cpack apt-get dpkg vde_switch vde_plug pkg-config cc; do
  command -v $tool >/dev/null || skip "$tool is not installed"
done
dpkg-query -W -f='${Status}' netcpu 2>/dev/null | grep -q "install ok installed" &&
  skip "a netcpu package is installed already: not replacing it"

work=$(mktemp -d /tmp/netcpu-package-test.XXXXXX)
switch_pid=
cleanup() {
  [ -n "$switch_pid" ] && kill "$switch_pid" 2>/dev/null
  dpkg-query -W -f='${Status}' netcpu 2>/dev/null | grep -q "install ok installed" &&
    apt-get purge -y -qq netcpu >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# ---- build and install the package
(cd "$build" && cpack -G DEB -B "$work/pkg") >"$work/cpack.log" 2>&1 || fail "cpack: $(tail -n 20 "$work/cpack.log")"
deb=$(ls "$work"/pkg/netcpu_*.deb) || fail "cpack made no .deb"
echo "built $(basename "$deb")"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >"$work/apt.log" 2>&1 ||
  fail "apt-get install: $(tail -n 20 "$work/apt.log")"
files=$(dpkg -L netcpu)
for f in /usr/bin/netcpu /usr/lib/vde2/plugins/netcpu.so /usr/include/netcpu_lwip.h \
  /usr/share/man/man1/netcpu.1.gz /usr/share/man/man7/netcpu.7.gz /usr/share/man/man1/libvdeplug_netcpu.1.gz; do
  echo "$files" | grep -qx "$f" || fail "the package has no $f"
done
module=$(echo "$files" | grep '/vdeplug/libvdeplug_netcpu.so$') || fail "the package has no netcpu:// module"
[ "$(dirname "$module")" = "$(dirname "$(dpkg -L libvdeplug2 | grep libvdeplug_ptp.so)")" ] ||
  fail "$module is not beside libvdeplug's own modules"
netcpu=/usr/bin/netcpu
for page in "1 netcpu" "1 libvdeplug_netcpu" "1 netcpu-plugin" "7 netcpu"; do
  man -w $page >/dev/null 2>&1 || fail "man $page does not find the installed page"
done
version=$("$netcpu" --version) || fail "netcpu --version failed"
[[ "$version" == "netcpu $(dpkg-query -W -f='${Version}' netcpu) (bytecode version "* ]] ||
  fail "netcpu --version says '$version', the package is $(dpkg-query -W -f='${Version}' netcpu)"

# ---- the switch plugin, by name. Debian's vde_switch 2.3.2 joins its plugin
# directory and NAME without a slash (it opens /usr/lib/vde2/pluginsnetcpu.so
# for `plugin/add netcpu.so`), then tries NAME.so with one: `plugin/add netcpu`
# finds /usr/lib/vde2/plugins/netcpu.so, as `plugin/add pdump` finds pdump.so.
unset VDEPLUGIN_PATH
vde_switch -d -s "$work/sw" -M "$work/mgmt" -p "$work/switch.pid" || fail "vde_switch did not start"
for _ in $(seq 50); do [ -S "$work/mgmt" ] && break; sleep 0.1; done
switch_pid=$(cat "$work/switch.pid")
out=$("$netcpu" ctl "$work/mgmt" "plugin/add netcpu" "netcpu/filter * in not udp port 9" 2>&1) ||
  fail "plugin/add netcpu by name: $out"
echo "$out" | grep -q "loaded" || fail "the filter did not load: $out"
plugins=$("$netcpu" ctl "$work/mgmt" "plugin/list")
echo "$plugins" | grep -q "NetCPU $(dpkg-query -W -f='${Version}' netcpu) (bytecode version " ||
  fail "plugin/list does not show the package's version: $plugins"

# Frames in vde_plug's stream form: a 2-byte length, then the frame.
frame() {  # ETHERTYPE [IPv4 UDP destination port]: a 60-byte broadcast frame
  local f='\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x01'
  if [ "$1" = arp ]; then
    f+='\x08\x06'
  else
    f+='\x08\x00\x45\x00\x00\x1c\x00\x00\x00\x00\x40\x11\x00\x00\x0a\x00\x00\x01\x0a\xff\xff\xff'
    f+="\\x04\\xd2\\x00\\x$(printf '%02x' "$2")\\x00\\x08\\x00\\x00"
  fi
  local body
  body=$(printf "$f" | xxd -p | tr -d '\n')
  local pad=$((60 - ${#body} / 2))
  printf '\x00\x3c'
  printf "$f"
  head -c "$pad" /dev/zero
}
{ frame arp; frame udp 9; frame udp 7; frame arp; } >"$work/frames"
(sleep 4 | vde_plug "vde://$work/sw" >"$work/received" 2>"$work/receiver.err") &
sleep 0.5
# The sender's own cable drops UDP port 7; the switch drops port 9.
# The sender stays connected a moment after its frames: a port that closes
# at once may lose the frames the switch has not read yet.
{ cat "$work/frames"; sleep 1; } |
  vde_plug "netcpu://[outfilter=not udp port 7]{vde://$work/sw}" 2>"$work/sender.err" ||
  fail "vde_plug through netcpu:// without VDEPLUGIN_PATH: $(cat "$work/sender.err")"
wait
received=$(xxd -p "$work/received" | tr -d '\n')
arp=$(frame arp | xxd -p | tr -d '\n')
[ "$received" = "$arp$arp" ] ||
  fail "the receiver got $(( ${#received} / 124 )) frames, wanted the two ARP frames only: $received"
list=$("$netcpu" ctl "$work/mgmt" "netcpu/list")
# POINT, PROGRAM (a filter's name has blanks), HASH, INSNS, PACKETS, PASSED, DROPPED
echo "$list" | grep -Eq '^\* in .* [0-9a-f]{16} +[0-9]+ +3 +2 +1 ' ||
  fail "the switch's * in program should have seen 3 frames and dropped 1: $list"
echo "plugin by name and netcpu:// cable: the receiver got exactly the two ARP frames"

# ---- the lwIPv6 API through pkg-config
cat >"$work/app.c" <<'C'
#include <lwipv6.h>
#include <netcpu_lwip.h>
#include <stdio.h>

int main(int argc, char** argv) {
  struct stack* s = lwip_add_stack(LWIP_STACK_FLAG_USERFILTER);
  char why[256];
  ncpu_lwip* f = s ? ncpu_lwip_attach(s, why, sizeof why) : NULL;
  if (!f) return fprintf(stderr, "attach: %s\n", s ? why : "no stack"), 1;
  int rc = ncpu_lwip_load(f, NCPU_LWIP_LOCAL_IN, argv[1]);
  printf("%s\n", ncpu_lwip_message(f));
  ncpu_lwip_detach(f);
  lwip_del_stack(s);
  return rc;
}
C
printf '.text:\n    pass\n' >"$work/pass.ncpu"
cc $(pkg-config --cflags netcpu-lwip) "$work/app.c" -o "$work/app" $(pkg-config --libs netcpu-lwip) \
  >"$work/cc.log" 2>&1 || fail "building against pkg-config netcpu-lwip: $(cat "$work/cc.log")"
app=$("$work/app" "$work/pass.ncpu" 2>&1) || fail "the lwIPv6 program: $app"
echo "$app" | grep -q "^loaded pass" || fail "the lwIPv6 program did not load its program: $app"
echo "lwIPv6 API through pkg-config: $app"

# ---- removal
kill "$switch_pid"; switch_pid=
apt-get purge -y -qq netcpu >"$work/remove.log" 2>&1 || fail "apt-get purge: $(cat "$work/remove.log")"
for f in $files; do
  [ -d "$f" ] && continue
  [ -e "$f" ] && fail "$f is left after apt-get purge"
done
echo "PASS: installed, used by name, removed with every file"
