// netcpu-bench-conntrack: what connection tracking costs, in one process.
// examples/stateful_firewall.ncpu on established-flow traffic (TCP data both
// ways on flows it has seen open), beside examples/tcp_firewall.ncpu (a
// stateless port filter) on the same frames; and the stateful firewall
// again with a million open flows, its traffic spread over all of them
// (each packet's flow entry is a cache miss), beside the same.
// Interleaved rounds: each round times every case, in an order that turns
// every round; reported are ns/packet (medians of the rounds) and the
// ratios of the rounds' figures, which both sides of a round measure on the
// same machine. A benchmark, not a test: run it with tools/bench-conntrack.sh.
//
// Usage: netcpu-bench-conntrack [--rounds N] [--flows N] [--frames N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "netcpu/file.h"
#include "netcpu/load.h"
#include "packet_builder.h"

namespace {

using netcpu::Instance;
using netcpu::Verdict;
namespace nt = netcpu::packets;
using Clock = std::chrono::steady_clock;

const std::string kSource = NETCPU_SOURCE_DIR;
constexpr uint8_t kOut = 1, kIn = 0;  // dir: sent by the protected side, or to it
constexpr uint64_t kNow = 1000;       // one clock for every run: nothing expires

std::string read_text(const std::string& path) {
  netcpu::FileError error;
  auto bytes = netcpu::read_whole_file(path, &error);
  if (!bytes) throw std::runtime_error(path + ": cannot read");
  return std::string(bytes->begin(), bytes->end());
}

// The program as `netcpu bench` runs it; `max` replaces the flow tables'
// size when not 0.
std::unique_ptr<Instance> load(const std::string& file, uint32_t max = 0) {
  std::string text = read_text(kSource + "/" + file);
  if (max) {
    for (size_t at = 0; (at = text.find("max 65536", at)) != std::string::npos;)
      text.replace(at, 9, "max " + std::to_string(max));
  }
  netcpu::HostCaps caps;
  netcpu::Limits limits;
  limits.output_burst = 0;
  limits.max_memory = uint64_t{4} << 30;
  netcpu::LoadError error;
  auto program = netcpu::program_from_bytes(
      {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, file, &error);
  auto vm = program ? netcpu::instantiate(
                          std::move(*program), caps, limits,
                          [](netcpu::OutputKind, std::string_view) {}, file, &error)
                    : nullptr;
  if (!vm) throw std::runtime_error(error.text);
  return vm;
}

struct Packet {
  std::vector<uint8_t> bytes;
  uint8_t dir;
};

// Flow i: 10.(i >> 16).(i >> 8).(i) port 1024 + (i & 0x3fff) in the
// protected network, talking to 192.0.2.1:443.
Packet tcp_packet(uint32_t flow, uint8_t dir, uint8_t flags, size_t payload) {
  const uint32_t local = 0x0a000000u | (flow & 0xffffff), remote = nt::ip4_addr("192.0.2.1");
  const uint16_t local_port = static_cast<uint16_t>(1024 + (flow >> 24) * 16384 + (flow & 0x3fff));
  nt::Tcp tcp{.sport = local_port, .dport = 443, .seq = flow, .ack = 1, .flags = flags};
  nt::Ipv4 ip{.src = local, .dst = remote};
  if (dir == kIn) {
    std::swap(ip.src, ip.dst);
    std::swap(tcp.sport, tcp.dport);
  }
  tcp.payload.assign(payload, 'x');
  return {nt::PacketBuilder()
              .eth(nt::mac_addr("02:00:00:00:00:01"), nt::mac_addr("02:00:00:00:00:02"))
              .ipv4(ip)
              .tcp(tcp)
              .build(),
          dir};
}

Verdict run(Instance& vm, Packet& p, std::vector<uint8_t>& scratch) {
  std::copy(p.bytes.begin(), p.bytes.end(), scratch.begin());
  uint32_t len = static_cast<uint32_t>(p.bytes.size());
  netcpu::PacketMeta meta;
  meta.dir = p.dir;
  meta.now_ms = kNow;
  return vm.run(scratch.data(), len, static_cast<uint32_t>(scratch.size()), meta).verdict;
}

// Opens flows 0..n-1 as a client would (SYN out, SYN+ACK in, ACK out).
void open_flows(Instance& vm, uint32_t n) {
  std::vector<uint8_t> scratch(2048);
  for (uint32_t f = 0; f < n; ++f) {
    for (auto [dir, flags] : {std::pair{kOut, nt::tcp_flags::kSyn},
                              std::pair{kIn, uint8_t(nt::tcp_flags::kSyn | nt::tcp_flags::kAck)},
                              std::pair{kOut, nt::tcp_flags::kAck}}) {
      Packet p = tcp_packet(f, dir, flags, 0);
      if (run(vm, p, scratch) != Verdict::Pass)
        throw std::runtime_error("flow " + std::to_string(f) + " did not open");
    }
  }
}

// Established traffic: data both ways on flows drawn from 0..flows-1.
std::vector<Packet> traffic(uint32_t flows, size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Packet> v;
  for (size_t i = 0; i < count; ++i) {
    const uint32_t f = static_cast<uint32_t>(rng() % flows);
    v.push_back(tcp_packet(f, i % 2 ? kIn : kOut, nt::tcp_flags::kAck | nt::tcp_flags::kPsh, 100));
  }
  return v;
}

struct Case {
  std::string name;
  Instance* vm;
  std::vector<Packet>* frames;
  std::vector<double> ns;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 200;
  uint32_t many = 1 << 20, few = 64;
  size_t frames = 4096;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--rounds")
      rounds = std::stoi(argv[i + 1]);
    else if (a == "--flows")
      many = static_cast<uint32_t>(std::stoul(argv[i + 1]));
    else if (a == "--frames")
      frames = std::stoul(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--rounds N] [--flows N] [--frames N]\n", argv[0]);
      return 2;
    }
  }
  try {
    auto stateless = load("examples/tcp_firewall.ncpu");
    auto small = load("examples/stateful_firewall.ncpu");
    auto large = load("examples/stateful_firewall.ncpu", many);
    std::fprintf(stderr, "opening %u flows ...\n", many);
    open_flows(*small, few);
    open_flows(*large, many);
    auto few_frames = traffic(few, frames, 1), many_frames = traffic(many, frames, 2);
    // Every established packet passes; a packet of a flow never opened does not.
    std::vector<uint8_t> scratch(2048);
    for (auto* c : {&few_frames, &many_frames})
      for (Packet& p : *c)
        for (Instance* vm : {stateless.get(), c == &few_frames ? small.get() : large.get()})
          if (run(*vm, p, scratch) != Verdict::Pass)
            throw std::runtime_error("a flow's packet was dropped");
    Packet stranger = tcp_packet(many + 5, kIn, nt::tcp_flags::kAck, 10);
    if (run(*large, stranger, scratch) != Verdict::Drop)
      throw std::runtime_error("an unsolicited packet passed");

    std::vector<Case> cases = {
        {"tcp_firewall, 64 flows", stateless.get(), &few_frames, {}},
        {"stateful_firewall, 64 flows", small.get(), &few_frames, {}},
        {"tcp_firewall, " + std::to_string(many) + " flows", stateless.get(), &many_frames, {}},
        {"stateful_firewall, " + std::to_string(many) + " flows", large.get(), &many_frames, {}}};
    for (int r = 0; r < rounds; ++r) {
      for (size_t k = 0; k < cases.size(); ++k) {
        Case& c = cases[(k + r) % cases.size()];
        const auto t0 = Clock::now();
        for (Packet& p : *c.frames) run(*c.vm, p, scratch);
        const auto t1 = Clock::now();
        c.ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() /
                       static_cast<double>(c.frames->size()));
      }
    }
    auto ratio = [&](const Case& a, const Case& b) {
      std::vector<double> r;
      for (size_t i = 0; i < a.ns.size(); ++i) r.push_back(a.ns[i] / b.ns[i]);
      return median(r);
    };
    std::printf("%-36s %10s %10s\n", "program, traffic", "ns/packet", "best");
    for (const Case& c : cases)
      std::printf("%-36s %10.1f %10.1f\n", c.name.c_str(), median(c.ns),
                  *std::min_element(c.ns.begin(), c.ns.end()));
    std::printf("stateful / tcp_firewall, 64 flows: %.2fx\n", ratio(cases[1], cases[0]));
    std::printf("stateful / tcp_firewall, %u flows: %.2fx\n", many, ratio(cases[3], cases[2]));
    std::printf("stateful, %u flows / 64 flows: %.2fx\n", many, ratio(cases[3], cases[1]));
    std::printf("(%d rounds of %zu packets per case; %s)\n", rounds, frames,
                small->runs_as().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "netcpu-bench-conntrack: %s\n", e.what());
    return 1;
  }
  return 0;
}
