#!/usr/bin/env bash
# What the NetCPU plugin costs vde_switch: the switch's own CPU time per
# forwarded frame with (a) no plugin, (b) netcpu.so without a program and
# (c) tests/bench/firewall10.ncpu on "* in", for 64- and 1514-byte frames,
# measured in interleaved rounds on one switch (see tests/bench/switch_bench.cpp).
# A benchmark, not a test: run it on an otherwise idle machine and compare the
# figures of one run with each other. Takes about 70 s with the defaults.
# Usage: tools/bench-switch.sh [--rounds N] [--seconds S] [--json] [...]
#        (the arguments go to netcpu-switch-bench; --help lists them all)
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/bench
tools/bench-build.sh netcpu-switch-bench
exec "$build/tests/bench/netcpu-switch-bench" "$@"
