// netcpu bench: ns and instructions per packet for one program over a packet
// set held in memory. A benchmark, not a test: compare figures taken side by
// side in one run, since shared machines are noisy.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "packet_builder.h"

namespace netcpu::cli {

int cmd_bench(const BenchOptions& o) {
  std::vector<std::vector<uint8_t>> packets;
  LinkType link = LinkType::Ethernet;
  std::string source;
  if (!o.pcap.empty()) {
    PcapReader r(o.pcap);
    link = r.link();
    while (auto p = r.next()) packets.emplace_back(p->data, p->data + p->caplen);
    source = o.pcap;
  } else {
    packets = netcpu::tools::synthetic_packets(o.synthetic ? o.synthetic : 10000, 1);
    source = "synthetic";
  }
  if (packets.empty()) throw Failure(kBadInput, "no packets to run");

  HostCaps caps;
  caps.link = link;
  caps.max_packet = 65535;
  Limits limits;
  limits.output_burst = 0;  // output would dominate the timing: count it, don't print it
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
                     {"dropped", s.dropped.load()}};
    std::cout << j.dump() << "\n";
  } else {
    std::printf(
        "%s on %zu %s packets, %zu rounds: %.1f ns/packet (median %.1f), %.1f "
        "instructions/packet\n",
        o.program.c_str(), packets.size(), source.c_str(), ns.size(), best, median, insns);
  }
  return kOk;
}

}  // namespace netcpu::cli
