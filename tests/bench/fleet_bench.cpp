// netcpu-fleet-bench: what `netcpu fleet` costs and what its swap loses.
// A benchmark, not a test: tools/bench-fleet.sh builds it in Release and runs it.
//
// 1. Push time: --nodes vde_switches running netcpu.so (10 by default), one
//    node list; each round times `netcpu fleet NODES load P` (two-phase:
//    stage on all, then commit on all), alternating two programs so that
//    every push replaces something, and beside it the same program pushed
//    the plain way, `netcpu ctl SOCKET 'netcpu/load * in P'` node after
//    node (one phase, no all-or-nothing). Medians over the rounds, the
//    rounds interleaved.
// 2. Frames lost across fleet swaps: endpoint A on switch 1, B on switch 2,
//    the switches joined by a netcpu:// cable with a console (vde_plug), all
//    three nodes of one list. A sends --frames sequence-numbered frames
//    (switch_harness's blast: at most 8 in flight, a frame not back in 300 ms
//    counts as lost) while `netcpu fleet load` swaps, back to back, between
//    tests/bench/firewall10.ncpu and a pass-all program on switch 1's
//    "* in", switch 2's "* in" and the cable's `in`: both programs pass the
//    frames, so every frame should arrive (0 lost).
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "switch_harness.h"
#include "vde_plug_cable.h"

namespace netcpu::test {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int nodes = 10;
  int rounds = 10;
  uint32_t frames = 10000;
  bool json = false;
};

const Mac kMacA = packets::mac_addr("02:00:00:00:00:0a");
const Mac kMacB = packets::mac_addr("02:00:00:00:00:0b");

// Runs a shell command quietly; its exit status.
int run(const std::string& command) {
  int st = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

std::unique_ptr<VdeSwitch> plugin_switch() {
  auto sw = std::make_unique<VdeSwitch>(plugin_switch_options());
  Console c(sw->mgmt_path());
  c.cmd_ok("plugin/add " NETCPU_PLUGIN);
  return sw;
}

std::string write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

const std::string kFirewall = std::string(NETCPU_BENCH_DIR) + "/firewall10.ncpu";

int push_time(const Options& o, std::string& json) {
  std::vector<std::unique_ptr<VdeSwitch>> switches;
  std::string list;
  for (int i = 0; i < o.nodes; ++i) {
    switches.push_back(plugin_switch());
    list += "sw" + std::to_string(i + 1) + " " + switches.back()->mgmt_path() + " point='* in'\n";
  }
  const std::string dir = switches[0]->dir();
  const std::string nodes = write(dir + "/nodes.txt", list);
  const std::string pass = write(dir + "/pass.ncpu", ".text:\n    pass\n");
  const std::string fleet = std::string(NETCPU_CLI) + " fleet " + nodes + " load ";
  std::vector<double> fleet_ms, serial_ms;
  for (int round = 0; round < o.rounds; ++round) {
    const std::string& program = round % 2 ? pass : kFirewall;
    auto t = Clock::now();
    if (run(fleet + program) != 0) {
      std::fprintf(stderr, "fleet-bench: netcpu fleet load %s failed\n", program.c_str());
      return 1;
    }
    fleet_ms.push_back(ms_since(t));
    t = Clock::now();
    for (const auto& sw : switches)
      if (run(std::string(NETCPU_CLI) + " ctl " + sw->mgmt_path() + " 'netcpu/load * in " +
              program + "'") != 0) {
        std::fprintf(stderr, "fleet-bench: netcpu ctl load failed\n");
        return 1;
      }
    serial_ms.push_back(ms_since(t));
  }
  const double f = median(fleet_ms), s = median(serial_ms);
  std::printf(
      "push to %d nodes (median of %d rounds, firewall10.ncpu and a pass-all program in turn):\n"
      "  netcpu fleet load (two-phase, in parallel)   %8.1f ms  (min %.1f, max %.1f)\n"
      "  netcpu ctl netcpu/load, node after node      %8.1f ms  (min %.1f, max %.1f)\n"
      "  fleet / one after another                    %8.2f\n",
      o.nodes, o.rounds, f, *std::min_element(fleet_ms.begin(), fleet_ms.end()),
      *std::max_element(fleet_ms.begin(), fleet_ms.end()), s,
      *std::min_element(serial_ms.begin(), serial_ms.end()),
      *std::max_element(serial_ms.begin(), serial_ms.end()), f / s);
  json += "\"nodes\":" + std::to_string(o.nodes) + ",\"fleet_load_ms\":" + std::to_string(f) +
          ",\"serial_ctl_load_ms\":" + std::to_string(s);
  return 0;
}

int swap_loss(const Options& o, std::string& json) {
  auto sw1 = plugin_switch(), sw2 = plugin_switch();
  const std::string dir = sw1->dir(), cable_mgmt = dir + "/cable.mgmt";
  VdePlugCable cable(*sw1, *sw2, cable_mgmt);
  Console con1(sw1->mgmt_path()), con2(sw2->mgmt_path());
  Endpoint a(sw1->data_path(), con1), b(sw2->data_path(), con2);
  const std::string nodes = write(dir + "/nodes.txt", "sw1 " + sw1->mgmt_path() +
                                                          " point='* in'\n"
                                                          "sw2 " +
                                                          sw2->mgmt_path() +
                                                          " point='* in'\n"
                                                          "cable " +
                                                          cable_mgmt + " point=in\n");
  const std::string pass = write(dir + "/pass.ncpu", ".text:\n    pass\n");
  const std::string fleet = std::string(NETCPU_CLI) + " fleet " + nodes + " load ";
  if (run(fleet + kFirewall) != 0) {
    std::fprintf(stderr, "fleet-bench: the first netcpu fleet load failed (is the cable up?)\n");
    return 1;
  }
  // Both switches learn where B is.
  b.send(numbered_frame(kMacA, kMacB, 0xfffffff0));
  a.drain(100);
  std::atomic<bool> sending{true};
  std::atomic<int> swaps{0}, failed{0};
  std::thread swapper([&] {
    for (int i = 0; sending; ++i) {
      if (run(fleet + (i % 2 ? kFirewall : pass)) == 0)
        ++swaps;
      else
        ++failed;
    }
  });
  const auto t = Clock::now();
  SequenceCounter got = blast(a, b, kMacA, kMacB, o.frames);
  const double seconds = ms_since(t) / 1000;
  sending = false;
  swapper.join();
  const size_t lost = o.frames - got.received();
  std::printf(
      "frames across fleet swaps (switch 1 -> netcpu:// cable -> switch 2, all three swapped):\n"
      "  %u frames in %.1f s, %d swaps of all three nodes (%d failed): %zu lost, %zu duplicates\n"
      "  %s\n",
      o.frames, seconds, swaps.load(), failed.load(), lost, got.duplicates(),
      got.summary().c_str());
  json += ",\"frames\":" + std::to_string(o.frames) + ",\"swaps\":" + std::to_string(swaps) +
          ",\"failed_swaps\":" + std::to_string(failed) + ",\"lost\":" + std::to_string(lost);
  return failed ? 1 : 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: netcpu-fleet-bench [--nodes N] [--rounds R] [--frames F] [--json]\n"
               "  --nodes N   switches to push to (10)\n"
               "  --rounds R  pushes timed (10)\n"
               "  --frames F  sequence-numbered frames sent across the swaps (10000)\n");
  return 2;
}

}  // namespace
}  // namespace netcpu::test

int main(int argc, char** argv) {
  using namespace netcpu::test;
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> long { return i + 1 < argc ? std::atol(argv[++i]) : -1; };
    if (a == "--nodes")
      o.nodes = static_cast<int>(next());
    else if (a == "--rounds")
      o.rounds = static_cast<int>(next());
    else if (a == "--frames")
      o.frames = static_cast<uint32_t>(next());
    else if (a == "--json")
      o.json = true;
    else
      return usage();
  }
  if (o.nodes < 1 || o.rounds < 1 || o.frames < 1) return usage();
  if (!kHaveNetcpuModule) {
    std::fprintf(stderr, "fleet-bench: this build has no netcpu:// module\n");
    return 1;
  }
  std::string json;
  try {
    if (int rc = push_time(o, json)) return rc;
    int rc = swap_loss(o, json);
    if (o.json) std::printf("{%s}\n", json.c_str());
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fleet-bench: %s\n", e.what());
    return 1;
  }
}
