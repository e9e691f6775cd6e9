#!/usr/bin/env bash
# NetCPU quickstart: builds the netcpu tool, assembles example programs and
# runs them over the bundled captures, showing each packet's verdict and the
# programs' own output.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh

build=build/quickstart
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target netcpu-cli >/dev/null
netcpu="$build/tools/netcpu"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "The 2004 NetCPU slides' program, unchanged"
cat examples/slides.ncpu
step "Assemble it to bytecode, verify it, read it back"
"$netcpu" asm examples/slides.ncpu -o "$build/slides.ncpub"
"$netcpu" check "$build/slides.ncpub"
"$netcpu" dis --no-loc "$build/slides.ncpub"
step "Run it on the first packets of examples/pcaps/mixed.pcap: it prints each length, then 666"
"$netcpu" run "$build/slides.ncpub" --pcap examples/pcaps/mixed.pcap | head -n 12

step "A TCP port firewall (examples/tcp_firewall.ncpu): only ssh, http and https pass"
"$netcpu" run examples/tcp_firewall.ncpu --pcap examples/pcaps/mixed.pcap | grep -E 'drop|packets:'

step "Drop payloads containing \"freebsd\" and log them (examples/drop_string.ncpu)"
"$netcpu" run examples/drop_string.ncpu --pcap examples/pcaps/mixed.pcap | grep -E '^drop|packets:'

step "Per-source rate limiter with a table and a timer, on a UDP flood (examples/rate_limit.ncpu)"
"$netcpu" run examples/rate_limit.ncpu --pcap examples/pcaps/flood.pcap | tail -n 1

step "Static NAT with incremental checksum updates; tcpdump verifies the rewritten packets"
"$netcpu" run examples/nat.ncpu --pcap examples/pcaps/nat.pcap --out "$build/nat-out.pcap" | tail -n 1
tcpdump -n -vvv -r "$build/nat-out.pcap" 2>/dev/null | grep -E 'cksum|sum ok' | head -n 4

step "Answering pings from the program: emitted ICMP echo replies"
"$netcpu" run examples/icmp_responder.ncpu --pcap examples/pcaps/mixed.pcap --emitted "$build/replies.pcap" | grep -E 'answered|packets:'
tcpdump -n -r "$build/replies.pcap" 2>/dev/null

step "Done. Try: $netcpu run examples/counter.ncpu --pcap examples/pcaps/mixed.pcap --trace"
