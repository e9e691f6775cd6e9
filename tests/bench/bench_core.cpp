// netcpu-bench-core: each program against the same logic hand-written in C
// (c_twins.c), on the frames `netcpu bench --synthetic N` uses, in one
// process: first a check that the two agree on every frame (verdict, packet
// bytes, output lines, heap variables), then interleaved rounds timing the
// program and its C twin alternately (which goes first alternates too). A
// benchmark, not a test: run it with tools/bench-core.sh on a Release build.
//
// Usage: netcpu-bench-core [--rounds N] [--passes N] [--frames N] [--check N]
//                          [--check-only] [--check-pcap FILE]... [PROGRAM...]
// Each PROGRAM's twin is the one named after its file (tests/bench/empty.ncpu: "empty").
// Without PROGRAMs: kPrograms, checked also on kCaptures. The check also
// runs the frames of each --check-pcap capture (Ethernet): the synthetic
// frames have no fragments, IPv6 extension headers or "freebsd" in a
// payload; examples/pcaps/mixed.pcap has them. --check-only: the check and
// no timing (the ctest Bench.CTwinsAgree).
// For the empty program it also times its native code called directly, as
// the core's own entry (instance_impl.h), beside Instance::run: what a run
// costs on top of the program's code (issue 16: at most 1.5 ns).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "c_twins.h"
#include "instance_impl.h"
#include "netcpu/file.h"
#include "netcpu/load.h"
#include "netcpu/pcap_read.h"
#include "netcpu/protocols.h"
#include "netcpu/verifier.h"
#include "packet_builder.h"

namespace {

using netcpu::Instance;
using netcpu::Verdict;
using Frames = std::vector<std::vector<uint8_t>>;
using Clock = std::chrono::steady_clock;

// A program or capture that cannot be used, with `netcpu bench`'s exit code
// for it: 1 for a program refused, 3 for input that cannot be read.
constexpr int kRejected = 1, kBadInput = 3;
struct Failure : std::runtime_error {
  Failure(int c, const std::string& m) : std::runtime_error(m), code(c) {}
  int code;
};

// What tools/bench-core.sh times, from the source tree.
constexpr const char* kPrograms[] = {
    "tests/bench/empty.ncpu",      "examples/slides.ncpu",        "examples/ip_pair.ncpu",
    "examples/arp_only.ncpu",      "examples/tcp_firewall.ncpu",  "examples/drop_string.ncpu",
    "examples/rate_limit.ncpu",    "examples/counter.ncpu",       "examples/nat.ncpu",
    "tests/bench/firewall10.ncpu", "tests/bench/payload_sum.ncpu"};
constexpr const char* kCaptures[] = {"examples/pcaps/mixed.pcap", "examples/pcaps/nat.pcap",
                                     "examples/pcaps/flood.pcap"};

// The goals (issue 16): NetCPU / C at most this, and native code.
double goal_for(const std::string& name) {
  if (name == "empty") return 0;  // the fixed cost of a run: no goal of its own
  if (name == "drop_string") return 1.2;
  if (name == "payload_sum") return 1.5;
  return 1.3;
}

struct Bench {
  std::string path, name;
  std::unique_ptr<Instance> vm;
  const twin* c = nullptr;
  bool writes = false;  // the program rewrites frames: each run gets a fresh copy
  std::vector<double> ncpu_ns, c_ns, scalar_ns;
  std::vector<double> direct_ns;  // empty's native code called directly (fixed_cost_of)
};

// The program whose runs measure the fixed cost of a run.
bool fixed_cost_of(const Bench& b) {
  return b.name == "empty" && netcpu::impl(*b.vm).native_ && !b.writes;
}

// How `netcpu bench` runs a program: output counted, not printed.
std::unique_ptr<Instance> load(const std::string& path) {
  netcpu::HostCaps caps;
  caps.max_packet = netcpu::kMaxCapturedPacket;
  netcpu::Limits limits;
  limits.output_burst = 0;
  netcpu::FileError unread;
  auto bytes = netcpu::read_whole_file(path, &unread);
  if (!bytes) throw Failure(kBadInput, path + (unread.at_open ? ": cannot open" : ": read error"));
  netcpu::LoadError error;
  auto program = netcpu::program_from_bytes(*bytes, path, &error);
  auto vm = program ? netcpu::instantiate(
                          std::move(*program), caps, limits,
                          [](netcpu::OutputKind, std::string_view) {}, path, &error)
                    : nullptr;
  if (!vm) throw Failure(error.bad_input ? kBadInput : kRejected, error.text);
  for (const netcpu::Diagnostic& w : vm->warnings()) std::fprintf(stderr, "%s\n", w.str().c_str());
  return vm;
}

const netcpu::PacketMeta kMeta{0, 0, netcpu::Hook::Test, 1};

int twin_verdict(Verdict v) {
  return v == Verdict::Pass ? TWIN_PASS : v == Verdict::Drop ? TWIN_DROP : -1;
}

// Runs the program and its twin from a fresh load over `passes` passes of
// the frames (the synthetic ones, their mutants and the frames of the
// --check-pcap captures) and compares everything both keep. Returns the mismatches.
size_t check(Bench& b, const Frames& frames, int passes) {
  b.vm = load(b.path);
  b.c->reset();
  uint64_t lines = 0, suppressed = 0;
  twin_output_counts(&lines, &suppressed);  // forget earlier programs' lines
  std::vector<uint8_t> a(netcpu::kMaxCapturedPacket), c(a.size());
  size_t bad = 0;
  for (int pass = 0; pass < passes; ++pass) {
    for (size_t i = 0; i < frames.size(); ++i) {
      const auto& f = frames[i];
      std::copy(f.begin(), f.end(), a.begin());
      std::copy(f.begin(), f.end(), c.begin());
      uint32_t len = static_cast<uint32_t>(f.size());
      const auto r = b.vm->run(a.data(), len, static_cast<uint32_t>(a.size()), kMeta);
      const int cv = b.c->run(c.data(), static_cast<uint32_t>(f.size()));
      const bool same_bytes = len == f.size() && std::equal(a.begin(), a.begin() + len, c.begin());
      if (twin_verdict(r.verdict) != cv || !same_bytes) {
        if (bad++ < 5)
          std::fprintf(stderr, "%s: frame %zu (pass %d, %zu bytes): NetCPU %s%s, C %s%s\n",
                       b.name.c_str(), i, pass, f.size(), netcpu::verdict_name(r.verdict),
                       r.aborted ? " (aborted)" : "", cv == TWIN_PASS ? "pass" : "drop",
                       same_bytes ? "" : ", packet bytes differ");
      }
    }
  }
  twin_output_counts(&lines, &suppressed);
  const auto& s = b.vm->stats();
  if (s.output_lines.load() != lines || s.output_suppressed.load() != suppressed) {
    std::fprintf(stderr, "%s: output lines written/suppressed: NetCPU %llu/%llu, C %llu/%llu\n",
                 b.name.c_str(), static_cast<unsigned long long>(s.output_lines.load()),
                 static_cast<unsigned long long>(s.output_suppressed.load()),
                 static_cast<unsigned long long>(lines),
                 static_cast<unsigned long long>(suppressed));
    ++bad;
  }
  for (const twin_var* v = b.c->vars; v->name; ++v) {
    const netcpu::Symbol* sym = b.vm->program().find_symbol(v->name);
    auto heap = b.vm->heap();
    if (!sym || sym->value + v->count * 8 > heap.size() ||
        std::memcmp(heap.data() + sym->value, v->value, v->count * 8) != 0) {
      std::fprintf(stderr, "%s: heap variable %s differs from the C twin's\n", b.name.c_str(),
                   v->name);
      ++bad;
    }
  }
  return bad;
}

// ns per frame of `run` over `passes` passes of the frames.
template <typename Run>
double time_passes(const Frames& frames, int passes, bool copy, std::vector<uint8_t>& buf,
                   Run&& run) {
  uint64_t sum = 0;
  const auto t0 = Clock::now();
  for (int pass = 0; pass < passes; ++pass) {
    for (const auto& f : frames) {
      uint32_t len = static_cast<uint32_t>(f.size());
      if (copy) {  // as netcpu bench: a rewriting program gets a fresh copy, part of the cost
        std::copy(f.begin(), f.end(), buf.begin());
        sum += run(buf.data(), len);
      } else {
        sum += run(const_cast<uint8_t*>(f.data()), len);
      }
    }
  }
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  static volatile uint64_t sink;
  sink = sink + sum;
  return ns / static_cast<double>(static_cast<size_t>(passes) * frames.size());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int usage() {
  std::fprintf(stderr,
               "usage: netcpu-bench-core [--rounds N] [--passes N] [--frames N] [--check N] "
               "[--check-only] [--check-pcap FILE]... [--by-class] [PROGRAM...]\n");
  return 2;
}

// Copies of each frame with a few header bytes changed, some cut short: the
// shapes the synthetic frames lack (fragments, bad header lengths, other
// protocols and ports, tags cut short, loopback and multicast sources). The
// values come mostly from the ones the programs test.
Frames mutants(const Frames& frames, int copies) {
  static constexpr uint8_t kValues[] = {0,    1,    2,    4,    5,    6,    8,    9,    17,
                                        20,   22,   23,   44,   53,   58,   60,   80,   123,
                                        127,  132,  224,  255,  0x45, 0x4f, 0x60, 0x81, 0x86,
                                        0xdd, 0x88, 0xa8, 0x91, 0x06, 0x0a, 0x02, 0x20, 0x3f};
  std::mt19937 rng(1);
  Frames out;
  for (const auto& f : frames) {
    for (int k = 0; k < copies; ++k) {
      auto m = f;
      for (int n = 1 + static_cast<int>(rng() % 3); n > 0; --n) {
        const size_t at = rng() % std::min<size_t>(m.size(), 80);
        m[at] = rng() % 4 ? kValues[rng() % sizeof kValues] : static_cast<uint8_t>(rng());
      }
      if (rng() % 4 == 0) m.resize(rng() % (m.size() + 1));
      out.push_back(std::move(m));
    }
  }
  return out;
}

// The kind of frame, for --by-class: what decides which way a program's
// code goes (its copies for common frames, the parser's short way).
std::string frame_class(const std::vector<uint8_t>& f) {
  if (f.size() < 14) return "short";
  const uint16_t type = static_cast<uint16_t>(f[12] << 8 | f[13]);
  if (type == netcpu::kTypeIp4 && f.size() > 23)
    return f[23] == netcpu::kProtoTcp   ? "IPv4 TCP"
           : f[23] == netcpu::kProtoUdp ? "IPv4 UDP"
                                        : "IPv4 other";
  if (type == netcpu::kTypeIp6) return "IPv6";
  if (type == netcpu::kTypeArp) return "ARP";
  for (uint16_t tpid : netcpu::kVlanTpids)
    if (type == tpid) return "tagged";
  return "other";
}

// Appends the frames of an Ethernet capture.
void read_pcap(const std::string& path, Frames& frames) {
  netcpu::PcapReader r(path);
  if (r.link() != netcpu::LinkType::Ethernet)
    throw Failure(kBadInput, path + ": not an Ethernet capture");
  while (auto p = r.next()) frames.emplace_back(p->data, p->data + p->caplen);
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 200, passes = 20, check_passes = 100;
  size_t nframes = 512;
  bool check_only = false, by_class = false;
  std::vector<std::string> pcaps, paths;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto number = [&]() -> long {
      if (i + 1 >= argc) return -1;
      return std::atol(argv[++i]);
    };
    if (a == "--rounds") {
      rounds = static_cast<int>(number());
    } else if (a == "--passes") {
      passes = static_cast<int>(number());
    } else if (a == "--frames") {
      nframes = static_cast<size_t>(number());
    } else if (a == "--check") {
      check_passes = static_cast<int>(number());
    } else if (a == "--check-pcap" && i + 1 < argc) {
      pcaps.emplace_back(argv[++i]);
    } else if (a == "--check-only") {
      check_only = true;
    } else if (a == "--by-class") {
      by_class = true;
    } else if (a.starts_with("-")) {
      return usage();
    } else {
      paths.push_back(a);
    }
  }
  if (paths.empty()) {
    for (const char* p : kPrograms) paths.push_back(std::string(NETCPU_SOURCE_DIR "/") + p);
    for (const char* p : kCaptures) pcaps.push_back(std::string(NETCPU_SOURCE_DIR "/") + p);
  }
  std::vector<Bench> benches;
  for (const auto& path : paths) {
    Bench b;
    b.path = path;
    b.name = std::filesystem::path(path).stem().string();
    b.c = twin_find(b.name.c_str());
    if (!b.c) {
      std::fprintf(stderr, "%s: no C twin named %s in tests/bench/c_twins.c\n", path.c_str(),
                   b.name.c_str());
      return 2;
    }
    benches.push_back(std::move(b));
  }
  if (benches.empty() || rounds < 1 || passes < 1 || nframes < 1 || check_passes < 0)
    return usage();

  const Frames frames = netcpu::packets::synthetic_packets(nframes, 1);  // netcpu bench --synthetic
  twin_output_limits(0, 100);  // as netcpu bench's Limits: every line counted, none printed

  size_t mismatches = 0;
  try {
    Frames check_frames = frames, more = mutants(frames, 8);
    check_frames.insert(check_frames.end(), more.begin(), more.end());
    for (const auto& p : pcaps) read_pcap(p, check_frames);
    for (auto& b : benches) {
      const size_t bad = check(b, check_frames, check_passes);
      b.vm->stats().reset();  // instructions per packet: of the timed frames only
      netcpu::Diagnostic d;
      b.writes = netcpu::verify(b.vm->program(), nullptr, &d)->writes_packet;
      std::printf("%-14s %s (%zu frames x %d passes)\n", b.name.c_str(),
                  bad ? "the C twin DISAGREES (see above)" : "the C twin agrees on every frame",
                  check_frames.size(), check_passes);
      mismatches += bad;
    }
  } catch (const Failure& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return e.code;
  } catch (const netcpu::PcapError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return kBadInput;
  }

  if (check_only) return mismatches ? 1 : 0;

  std::vector<uint8_t> buf(netcpu::kMaxCapturedPacket);
  auto ncpu_ns = [&](Bench& b, const Frames& f, int n) {
    Instance& vm = *b.vm;
    const uint32_t cap = static_cast<uint32_t>(buf.size());
    return time_passes(f, n, b.writes, buf, [&](uint8_t* p, uint32_t len) {
      return static_cast<uint64_t>(vm.run(p, len, cap, kMeta).verdict);
    });
  };
  auto c_ns = [&](Bench& b, const Frames& f, int n, int (*run)(uint8_t*, uint32_t)) {
    return time_passes(f, n, b.writes, buf, [&](uint8_t* p, uint32_t len) {
      return static_cast<uint64_t>(run(p, len));
    });
  };
  auto time_ncpu = [&](Bench& b) { b.ncpu_ns.push_back(ncpu_ns(b, frames, passes)); };
  auto time_direct = [&](Bench& b) {
    netcpu::InstanceImpl& vm = netcpu::impl(*b.vm);
    void* state = vm.state_.get();
    const uint32_t cap = static_cast<uint32_t>(buf.size());
    b.direct_ns.push_back(time_passes(frames, passes, false, buf, [&](uint8_t* p, uint32_t len) {
      return static_cast<uint64_t>(vm.native_(state, p, len, &len, cap, &kMeta).exit >> 32);
    }));
  };
  auto time_c = [&](Bench& b) {
    for (auto [run, ns] : {std::pair{b.c->run, &b.c_ns}, std::pair{b.c->scalar, &b.scalar_ns}})
      if (run) ns->push_back(c_ns(b, frames, passes, run));
  };
  for (auto& b : benches) {  // warm caches and branch predictors
    time_passes(frames, 1, b.writes, buf, [&](uint8_t* p, uint32_t len) {
      uint32_t l = len;
      return static_cast<uint64_t>(
                 b.vm->run(p, l, static_cast<uint32_t>(buf.size()), kMeta).verdict) +
             static_cast<uint64_t>(b.c->run(p, len));
    });
  }
  for (int r = 0; r < rounds; ++r) {
    for (auto& b : benches) {
      if (r % 2 == 0) {
        time_ncpu(b);
        time_c(b);
      } else {
        time_c(b);
        time_ncpu(b);
      }
      if (fixed_cost_of(b)) time_direct(b);
    }
  }

  std::printf("\n%-14s %-12s %10s %8s %7s %10s %8s %7s %12s  %s\n", "program", "runs as",
              "NetCPU ns", "C ns", "ratio", "best NetCPU", "best C", "ratio", "instr/packet",
              "goal");
  bool all_met = true, all_native = true;
  std::vector<std::string> goals;
  for (auto& b : benches) {
    std::vector<double> ratios;
    for (size_t i = 0; i < b.ncpu_ns.size(); ++i) ratios.push_back(b.ncpu_ns[i] / b.c_ns[i]);
    const double ratio = median(ratios);
    const double nbest = *std::min_element(b.ncpu_ns.begin(), b.ncpu_ns.end());
    const double cbest = *std::min_element(b.c_ns.begin(), b.c_ns.end());
    const auto& s = b.vm->stats();
    const double insns =
        static_cast<double>(s.instructions.load()) / static_cast<double>(s.packets.load());
    const std::string runs_as = b.vm->runs_as();
    const bool native = runs_as.starts_with("native");
    all_native = all_native && native;
    const double goal = goal_for(b.name);
    std::string verdict = "(none: the fixed cost)";
    if (goal > 0) {
      const bool met = native && ratio <= goal;
      all_met = all_met && met;
      char g[64];
      std::snprintf(g, sizeof g, "<= %.1fx: %s", goal, met ? "met" : "not met");
      verdict = g;
    }
    std::printf("%-14s %-12s %10.1f %8.1f %6.2fx %10.1f %8.1f %6.2fx %12.1f  %s\n", b.name.c_str(),
                native ? "native" : "interpreter", median(b.ncpu_ns), median(b.c_ns), ratio, nbest,
                cbest, nbest / cbest, insns, verdict.c_str());
  }
  for (auto& b : benches) {
    if (b.scalar_ns.empty()) continue;
    const double ratio = median(b.ncpu_ns) / median(b.scalar_ns), goal = goal_for(b.name);
    std::printf(
        "%s: GCC vectorized the C loop at -O2; compiled without vectorization it takes %.1f ns: "
        "NetCPU/C %.2fx (<= %.1fx: %s)\n",
        b.name.c_str(), median(b.scalar_ns), ratio, goal, ratio <= goal ? "met" : "not met");
  }
  for (auto& b : benches) {
    if (b.direct_ns.empty()) continue;
    std::vector<double> over;
    for (size_t i = 0; i < b.direct_ns.size(); ++i) over.push_back(b.ncpu_ns[i] - b.direct_ns[i]);
    const double cost = median(over);
    std::printf(
        "the fixed cost: %s through Instance::run %.1f ns, its native code called directly %.1f "
        "ns: %.1f ns more (<= 1.5 ns: %s)\n",
        b.name.c_str(), median(b.ncpu_ns), median(b.direct_ns), cost,
        cost <= 1.5 ? "met" : "not met");
  }
  std::printf(
      "\n(%zu synthetic frames x %d passes per measurement, %d interleaved rounds; ns/packet are "
      "medians of the rounds, ratio the median of the rounds' NetCPU/C, best the fastest round)\n",
      frames.size(), passes, rounds);
  if (by_class) {
    // Each kind of frame alone, as many packets a measurement as above:
    // where a program's time goes apart from how well the mix predicts.
    std::map<std::string, Frames> classes;
    for (const auto& f : frames) classes[frame_class(f)].push_back(f);
    std::printf("\nby class of frame, each alone (medians of %d interleaved rounds):\n", rounds);
    for (auto& b : benches) {
      for (const auto& [name, f] : classes) {
        const int n = static_cast<int>(std::max<size_t>(1, frames.size() * passes / f.size()));
        std::vector<double> ncpu, c, ratios;
        for (int r = 0; r < rounds; ++r) {
          const bool c_first = r % 2;
          const double first = c_first ? c_ns(b, f, n, b.c->run) : ncpu_ns(b, f, n);
          const double second = c_first ? ncpu_ns(b, f, n) : c_ns(b, f, n, b.c->run);
          ncpu.push_back(c_first ? second : first);
          c.push_back(c_first ? first : second);
          ratios.push_back(ncpu.back() / c.back());
        }
        std::printf("%-14s %-12s %4zu frames %8.1f ns %8.1f ns %6.2fx\n", b.name.c_str(),
                    name.c_str(), f.size(), median(ncpu), median(c), median(ratios));
      }
    }
  }
  std::printf("goal: every program runs as native code -> %s\n", all_native ? "met" : "not met");
  std::printf("goal: NetCPU/C within each program's bound -> %s\n",
              all_met ? "met" : "not met (see the goal column)");
  if (mismatches) {
    std::printf("ERROR: %zu mismatches between programs and their C twins (listed above)\n",
                mismatches);
    return 1;
  }
  return 0;
}
