#!/usr/bin/env bash
# tcpdump expressions: libpcap's bpf_filter() against their NetCPU
# translations, side by side over the same frames in one run (netcpu bench
# --filter checks that both agree on every packet).
# Usage: tools/bench-filters.sh [--interpreter]   (--interpreter: NetCPU's
# interpreter instead of its native code; issue 16's goal for it: ratio <= 1)
set -euo pipefail
cd "$(dirname "$0")/.."
engine=()
goal=0.7
if [ "${1:-}" = --interpreter ]; then
  engine=(--interpreter)
  goal=1
fi
build=build/bench
tools/bench-build.sh netcpu-cli
netcpu="$build/tools/netcpu"
expressions=(
  "ip src host 128.3.112.15 and ip dst host 128.3.112.35"
  "tcp port 80"
  "not arp and not ip6"
  "(tcp dst port 22 and src net 10.0.0.0/8) or tcp dst port 80 or tcp dst port 443 or udp dst port 53 or udp dst port 123 or icmp or (tcp dst port 25 and dst host 192.168.1.10) or (udp and src net 172.16.0.0/12) or (tcp[tcpflags] & tcp-rst != 0) or ip6"
)
printf '%-60s %10s %10s %7s\n' expression "libpcap ns" "NetCPU ns" ratio
for e in "${expressions[@]}"; do
  out=$("$netcpu" bench --filter "$e" --synthetic 512 --rounds 300 --json "${engine[@]}")
  lib=$(sed -E 's/.*"libpcap_ns":([0-9.e+-]+).*/\1/' <<<"$out")
  ncpu=$(sed -E 's/.*"netcpu_ns":([0-9.e+-]+).*/\1/' <<<"$out")
  ratio=$(sed -E 's/.*"ratio":([0-9.e+-]+).*/\1/' <<<"$out")
  name=$e
  [ ${#name} -gt 58 ] && name="${name:0:55}..."
  printf '%-60s %10.1f %10.1f %7.2f\n' "$name" "$lib" "$ncpu" "$ratio"
done
echo "(512 synthetic frames x 300 passes, best round, ${engine[*]:-native code}, $(nproc) cores, $(date -u +%Y-%m-%d); goal: ratio <= $goal)"
