// netcpu bench: ns and instructions per packet for one program over a packet
// set held in memory. A benchmark, not a test: compare figures taken side by
// side in one run, since shared machines are noisy.
#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "packet_builder.h"

namespace netcpu::cli {

namespace {

using Clock = std::chrono::steady_clock;

// Best ns per packet of `round` over several interleaved rounds.
double best_ns(const std::function<void()>& round, size_t packets, int rounds) {
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = Clock::now();
    round();
    best = std::min(best,
                    std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / packets);
  }
  return best;
}

// A tcpdump expression two ways over the same packets: libpcap's own
// bpf_filter() on its compiled program, and NetCPU on the translation.
int bench_filter(const BenchOptions& o, const std::vector<std::vector<uint8_t>>& packets,
                 LinkType link, int dlt) {
  pcap_t* dead = pcap_open_dead(dlt, 262144);
  struct bpf_program bpf {};
  if (pcap_compile(dead, &bpf, o.filter.c_str(), 1, 0) != 0) {  // tcpdump -r's netmask
    std::string e = pcap_geterr(dead);
    pcap_close(dead);
    throw Failure(kRejected, "filter '" + o.filter + "': " + e);
  }
  HostCaps caps;
  caps.link = link;
  caps.max_packet = kMaxCapturedPacket;
  Limits limits;
  limits.jit = !o.interpreter;
  auto vm = instantiate(program_from_filter(o.filter, dlt), caps, limits, nullptr);
  size_t agree = 0, accepted = 0;
  for (const auto& p : packets) {
    uint32_t len = static_cast<uint32_t>(p.size());
    bool pcap_yes = bpf_filter(bpf.bf_insns, p.data(), len, len) != 0;
    bool ncpu_yes =
        vm->run(const_cast<uint8_t*>(p.data()), len, len, PacketMeta{}).verdict == Verdict::Pass;
    agree += pcap_yes == ncpu_yes;
    accepted += pcap_yes;
  }
  volatile uint64_t sink = 0;
  auto run_pcap = [&] {
    uint64_t n = 0;
    for (const auto& p : packets) {
      uint32_t len = static_cast<uint32_t>(p.size());
      n += bpf_filter(bpf.bf_insns, p.data(), len, len) != 0;
    }
    sink = sink + n;
  };
  auto run_ncpu = [&] {
    uint64_t n = 0;
    for (const auto& p : packets) {
      uint32_t len = static_cast<uint32_t>(p.size());
      n += vm->run(const_cast<uint8_t*>(p.data()), len, len, PacketMeta{}).verdict == Verdict::Pass;
    }
    sink = sink + n;
  };
  int rounds = o.rounds ? static_cast<int>(o.rounds) : 20;
  double pcap_ns = 1e300, ncpu_ns = 1e300;
  for (int r = 0; r < rounds; ++r) {  // interleaved: both see the same machine
    pcap_ns = std::min(pcap_ns, best_ns(run_pcap, packets.size(), 1));
    ncpu_ns = std::min(ncpu_ns, best_ns(run_ncpu, packets.size(), 1));
  }
  pcap_freecode(&bpf);
  pcap_close(dead);
  if (o.json) {
    nlohmann::json j{{"filter", o.filter},        {"packets", packets.size()},
                     {"accepted", accepted},      {"agree", agree},
                     {"libpcap_ns", pcap_ns},     {"netcpu_ns", ncpu_ns},
                     {"ratio", ncpu_ns / pcap_ns}};
    std::cout << j.dump() << "\n";
  } else {
    std::printf(
        "'%s' on %zu packets (%zu accepted), best of %d rounds: libpcap bpf_filter %.1f ns/packet, "
        "NetCPU "
        "%.1f ns/packet, ratio %.2f; verdicts agree on %zu/%zu\n",
        o.filter.c_str(), packets.size(), accepted, rounds, pcap_ns, ncpu_ns, ncpu_ns / pcap_ns,
        agree, packets.size());
  }
  return agree == packets.size() ? kOk : kRejected;
}

}  // namespace

int cmd_bench(const BenchOptions& o) {
  std::vector<std::vector<uint8_t>> packets;
  LinkType link = LinkType::Ethernet;
  int dlt = DLT_EN10MB;
  std::string source;
  if (!o.pcap.empty()) {
    PcapReader r(o.pcap);
    link = r.link();
    dlt = r.datalink();
    // As netcpu run: a filter reads whole records, a program the packet
    // after a link header it does not see (Linux cooked, NULL, LOOP).
    const uint32_t hidden = o.filter.empty() ? r.link_header() : 0;
    while (auto p = r.next())
      packets.emplace_back(p->data + std::min(hidden, p->caplen), p->data + p->caplen);
    source = o.pcap;
  } else {
    packets = netcpu::packets::synthetic_packets(o.synthetic ? o.synthetic : 10000, 1);
    source = "synthetic";
  }
  if (packets.empty()) throw Failure(kBadInput, "no packets to run");

  if (o.filter.empty() == o.program.empty())
    throw Failure(kUsage, "bench takes a PROGRAM or --filter EXPR");
  if (!o.filter.empty()) return bench_filter(o, packets, link, dlt);

  HostCaps caps;
  caps.link = link;
  caps.max_packet = kMaxCapturedPacket;  // every packet a capture holds fits the copy below
  Limits limits;
  limits.output_burst = 0;  // output would dominate the timing: count it, don't print it
  limits.jit = !o.interpreter;
  auto vm = instantiate(load_program(o.program), caps, limits, [](OutputKind, std::string_view) {});
  Diagnostic d;
  bool writes = verify(vm->program(), nullptr, &d)->writes_packet;

  std::vector<uint8_t> buf(caps.max_packet);
  auto one_round = [&] {
    for (const auto& p : packets) {
      uint32_t len = static_cast<uint32_t>(p.size());
      if (writes) {
        // A rewriting program gets a fresh copy; the copy is part of the cost.
        std::copy(p.begin(), p.end(), buf.begin());
        vm->run(buf.data(), len, static_cast<uint32_t>(buf.size()),
                PacketMeta{0, 0, Hook::Test, 1});
      } else {
        vm->run(const_cast<uint8_t*>(p.data()), len, len, PacketMeta{0, 0, Hook::Test, 1});
      }
    }
  };
  using clock = std::chrono::steady_clock;
  one_round();  // warm caches and the branch predictor
  std::vector<double> ns;
  auto start = clock::now();
  for (uint32_t round = 0;
       o.rounds ? round < o.rounds : (clock::now() - start < std::chrono::seconds(1) || round < 3);
       ++round) {
    auto t0 = clock::now();
    one_round();
    ns.push_back(std::chrono::duration<double, std::nano>(clock::now() - t0).count() /
                 packets.size());
  }
  std::sort(ns.begin(), ns.end());
  const Stats& s = vm->stats();
  double insns = static_cast<double>(s.instructions.load()) / static_cast<double>(s.packets.load());
  double best = ns.front(), median = ns[ns.size() / 2];
  if (o.json) {
    nlohmann::json j{{"program", o.program},
                     {"packets", packets.size()},
                     {"source", source},
                     {"rounds", ns.size()},
                     {"ns_per_packet_best", best},
                     {"ns_per_packet_median", median},
                     {"instructions_per_packet", insns},
                     {"passed", s.passed.load()},
                     {"dropped", s.dropped.load()},
                     {"runs_as", vm->runs_as()}};
    std::cout << j.dump() << "\n";
  } else {
    std::printf(
        "%s on %zu %s packets, %zu rounds: %.1f ns/packet (median %.1f), %.1f "
        "instructions/packet, runs as %s\n",
        o.program.c_str(), packets.size(), source.c_str(), ns.size(), best, median, insns,
        vm->runs_as().c_str());
  }
  return kOk;
}

}  // namespace netcpu::cli
