// netcpu-soak: the soak tests of issue 19 (docs/soak.md). tools/soak.sh
// builds it and runs both for minutes; ctest runs short forms.
//
//   netcpu-soak switch --minutes 10
//   netcpu-soak lwip --seconds 20
//   netcpu-soak switch --seconds 6 --sabotage stray --expect-failure
//
// Exit: 0 passed, 1 failed, 2 usage, 77 skipped (what is missing is printed).
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "soak_common.h"

namespace netcpu::soak {
int run_switch_soak(const SoakOptions& o);
int run_lwip_soak(const SoakOptions& o);
}  // namespace netcpu::soak

namespace {

void usage() {
  std::cerr
      << "usage: netcpu-soak switch|lwip [--minutes M | --seconds S] [--seed N] [--swap-ms N]\n"
         "                  [--window N] [--sabotage KIND [--expect-failure]] [--verbose]\n"
         "  switch   vde_switch with netcpu.so: four endpoints, hot swaps, plugin cycles, garbage\n"
         "  lwip     an lwIPv6 process: TCP transfers under hot swaps and console garbage\n"
         "  --window N      switch: frames in flight per flow (default: from the measured "
         "capacity)\n"
         "  --sabotage K    put a broken program in the rotation, to see the soak fail:\n"
         "                  switch: uncounted (drops by its rule, counts nothing in its table),\n"
         "                          stray (drops frames outside its rule);\n"
         "                  lwip:   unmarked (a program that forgets to restore the bytes)\n"
         "  --expect-failure  exit 0 only if the soak failed (with --sabotage)\n";
}

// A soak that could not even run (a switch that does not start...) fails.
int run_caught(const char* what, int (*soak)(const netcpu::soak::SoakOptions&),
               const netcpu::soak::SoakOptions& o) {
  try {
    return soak(o);
  } catch (const std::exception& e) {
    std::cout << "soak " << what << ": FAILED: " << e.what() << "\n";
    return netcpu::soak::kFail;
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace netcpu::soak;
  signal(SIGPIPE, SIG_IGN);
  // Stopped from outside (Ctrl-C, kill): end as at the soak's end, so that
  // no switch or lwIPv6 process it started is left running.
  struct sigaction stop = {};
  stop.sa_handler = [](int sig) { request_stop(sig); };
  sigemptyset(&stop.sa_mask);
  stop.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &stop, nullptr);
  if (argc < 2) {
    usage();
    return kUsage;
  }
  std::string what = argv[1];
  SoakOptions o;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(kUsage);
      }
      return argv[++i];
    };
    try {
      if (a == "--minutes") {
        o.seconds = std::stod(value()) * 60;
      } else if (a == "--seconds") {
        o.seconds = std::stod(value());
      } else if (a == "--seed") {
        o.seed = std::stoull(value());
      } else if (a == "--swap-ms") {
        o.swap_ms = std::stoi(value());
      } else if (a == "--window") {
        o.window = std::stoul(value());
      } else if (a == "--sabotage") {
        o.sabotage = value();
      } else if (a == "--expect-failure") {
        o.expect_failure = true;
      } else if (a == "--verbose") {
        o.verbose = true;
      } else {
        usage();
        return kUsage;
      }
    } catch (const std::exception&) {
      usage();
      return kUsage;
    }
  }
  if (o.seed == 0) o.seed = static_cast<uint64_t>(now_ns()) % 1000000007;
  if (o.seconds <= 0 || o.swap_ms < -1 || (o.expect_failure && o.sabotage.empty())) {
    usage();
    return kUsage;
  }
  if (what == "switch") {
    if (o.swap_ms < 0) o.swap_ms = 3;
    if (!o.sabotage.empty() && o.sabotage != "uncounted" && o.sabotage != "stray") {
      usage();
      return kUsage;
    }
    return run_caught("switch", run_switch_soak, o);
  }
  if (what == "lwip") {
    // Every 20 ms: at 3 ms the sending lwIPv6 stack crashed (docs/soak.md).
    if (o.swap_ms < 0) o.swap_ms = 20;
    if (!o.sabotage.empty() && o.sabotage != "unmarked") {
      usage();
      return kUsage;
    }
    return run_caught("lwip", run_lwip_soak, o);
  }
  usage();
  return kUsage;
}
