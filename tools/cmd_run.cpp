// netcpu run: a program over every packet of a pcap file. Time is the
// capture's: `now` reads the packet timestamp and timers fire as the
// timestamps pass their deadlines, so runs are reproducible. What a packet
// is follows tcpdump: `wlen` (and a filter's `len`) is the pcap header's len,
// a tcpdump expression is compiled for the capture's own link type and reads
// its link header itself, and programs see Ethernet frames or, on every other
// link type, the IP packet after the link header. Which way a packet goes
// (`dir`) comes from --outbound's expression, or from a Linux cooked
// capture's packet type.
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "netcpu/timer_schedule.h"

namespace netcpu::cli {
namespace {

uint64_t ms_of(const struct timeval& tv) {
  return static_cast<uint64_t>(tv.tv_sec) * 1000 + static_cast<uint64_t>(tv.tv_usec) / 1000;
}

Verdict parse_verdict(const std::string& s) {
  if (s == "pass") return Verdict::Pass;
  if (s == "drop") return Verdict::Drop;
  throw Failure(kUsage, "--on-abort takes pass or drop");
}

// A packet's `dir`: 1 (DIR_OUT) for those --outbound's expression matches,
// compiled for the capture's own link type as tcpdump -r compiles it, the
// whole record (link header included) as libpcap filters it. Without one, a
// Linux cooked capture says itself which packets the capturing host sent
// (sll_pkttype PACKET_OUTGOING, what tcpdump's `outbound` tests); other
// captures do not say: dir 0.
class Directions {
 public:
  Directions(const std::string& outbound, const PcapReader& capture)
      : datalink_(capture.datalink()) {
    if (outbound.empty()) return;
    if (pcap_compile(capture.handle(), &outbound_, outbound.c_str(), 1, 0) != 0)
      throw Failure(kRejected, "--outbound '" + outbound + "': " + pcap_geterr(capture.handle()));
    compiled_ = true;
  }
  ~Directions() {
    if (compiled_) pcap_freecode(&outbound_);
  }
  Directions(const Directions&) = delete;
  Directions& operator=(const Directions&) = delete;

  uint8_t dir(const PcapPacket& p) const {
    if (compiled_) {
      pcap_pkthdr h{};
      h.ts = p.ts;
      h.caplen = p.caplen;
      h.len = p.len;
      return pcap_offline_filter(&outbound_, &h, p.data) != 0 ? 1 : 0;
    }
    // sll_pkttype: SLL's first two bytes (big-endian), SLL2's eleventh byte.
    constexpr unsigned kPacketOutgoing = 4;
    if (datalink_ == DLT_LINUX_SLL && p.caplen >= 2)
      return (p.data[0] << 8 | p.data[1]) == kPacketOutgoing ? 1 : 0;
    if (datalink_ == DLT_LINUX_SLL2 && p.caplen >= 11) return p.data[10] == kPacketOutgoing ? 1 : 0;
    return 0;
  }

 private:
  int datalink_;
  bpf_program outbound_{};
  bool compiled_ = false;
};

}  // namespace

int cmd_run(const RunOptions& o) {
  PcapReader reader(o.pcap);
  HostCaps caps;
  caps.link = reader.link();
  // Whatever libpcap hands over fits: nothing is cut before the program.
  caps.max_packet = kMaxCapturedPacket;
  caps.host_name = "netcpu run";
  Limits limits;
  limits.budget = o.budget;
  limits.on_abort = parse_verdict(o.on_abort);
  limits.output_burst = 1u << 30;  // a file is no console: keep every line
  limits.output_per_second = 1u << 30;

  std::vector<std::string> lines;
  OutputSink sink = [&](OutputKind, std::string_view line) {
    if (o.json)
      lines.emplace_back(line);
    else
      std::cout << line << "\n";
  };
  if (o.filter.empty() == o.program.empty())
    throw Failure(kUsage, "run takes a PROGRAM or --filter EXPR");
  // A filter is compiled with the capture's own handle, as tcpdump -r
  // compiles it (its link type, what a file's headers can tell), and reads
  // the link header itself; a program sees the packet after it.
  const bool filter = !o.filter.empty();
  const uint32_t hidden = filter ? 0 : reader.link_header();
  auto vm = instantiate(filter ? program_from_filter(o.filter, reader) : load_program(o.program),
                        caps, limits, sink);
  const Directions directions(o.outbound, reader);
  if (o.trace) vm->set_profiling(true);

  // --out: the same link type, the link header kept before the packet.
  // --emitted: what programs build is an IP packet where they see one.
  std::unique_ptr<PcapWriter> out, emitted, dropped;
  const bool may_grow =
      std::any_of(vm->program().code.begin(), vm->program().code.end(),
                  [](const Insn& in) { return op_info(in.op).flags & flag::kResize; });
  const int out_snaplen =
      may_grow ? std::max<int>(reader.snaplen(), static_cast<int>(hidden + caps.max_packet))
               : reader.snaplen();
  if (!o.out.empty()) out = std::make_unique<PcapWriter>(o.out, reader.datalink(), out_snaplen);
  if (!o.dropped.empty())
    dropped = std::make_unique<PcapWriter>(o.dropped, reader.datalink(), out_snaplen);
  if (!o.emitted.empty())
    emitted = std::make_unique<PcapWriter>(o.emitted, hidden ? DLT_RAW : reader.datalink());

  const Program& prog = vm->program();
  // A capture's time jumps from packet to packet: every period it spans runs.
  TimerSchedule timers(TimerSchedule::Missed::RunEach);
  timers.restart(prog.timers.size());
  PacketMeta timer_meta;
  timer_meta.hook = Hook::Timer;
  // The link header, then room for the packet to grow to max_packet.
  std::vector<uint8_t> buf(hidden + caps.max_packet);
  std::vector<uint64_t> before;
  nlohmann::json verdicts = nlohmann::json::array();
  uint64_t n = 0, outbound = 0;
  while (auto pkt = reader.next()) {
    ++n;
    uint64_t now = ms_of(pkt->ts);
    vm->expire_tables(now);  // as a host's tick does, by the capture's clock
    timers.run_due(*vm, now, timer_meta);
    if (pkt->caplen > buf.size())  // libpcap refuses these first
      throw Failure(kBadInput, o.pcap + ": packet " + std::to_string(n) + " has " +
                                   std::to_string(pkt->caplen) + " bytes, more than " +
                                   std::to_string(buf.size()));
    std::copy(pkt->data, pkt->data + pkt->caplen, buf.begin());
    // A record too short for its link header gives the program no bytes.
    const uint32_t header = std::min(hidden, pkt->caplen);
    const uint32_t captured = pkt->caplen - header;
    uint32_t len = captured;
    PacketMeta meta{0, directions.dir(*pkt), Hook::Test, now};
    outbound += meta.dir;
    // The length on the wire, when the capture cut the packet short (as
    // bpf_filter's wirelen: the pcap header's len).
    if (pkt->len != pkt->caplen) meta.wire_len = pkt->len > header ? pkt->len - header : 0;
    if (o.trace) before.assign(vm->profile().begin(), vm->profile().end());
    RunResult r =
        vm->run(buf.data() + header, len, static_cast<uint32_t>(buf.size() - header), meta);
    std::string v = verdict_name(r.verdict);
    if (r.verdict == Verdict::Redirect) v += " " + std::to_string(r.redirect_port);
    if (o.json) {
      verdicts.push_back(v);
    } else {
      std::cout << "packet " << n << ": " << v << (r.modified ? " (modified)" : "")
                << (r.mirror_port >= 0 ? " mirror " + std::to_string(r.mirror_port) : "")
                << (r.emitted ? " emitted " + std::to_string(r.emitted) : "")
                << (r.aborted ? std::string(" aborted: ") + abort_reason_name(r.reason) : "")
                << " [" << len << " bytes, " << r.instructions << " instructions"
                << (meta.dir ? ", dir 1" : "") << "]\n";
    }
    if (o.trace && !o.json) {
      auto prof = vm->profile();
      for (size_t pc = 0; pc < prof.size(); ++pc)
        if (prof[pc] != before[pc])
          std::cout << "    " << pc << "\tline " << prog.pos(static_cast<uint32_t>(pc)).line << "\t"
                    << format_insn(prog, prog.code[pc])
                    << (prof[pc] - before[pc] > 1
                            ? "  (x" + std::to_string(prof[pc] - before[pc]) + ")"
                            : "")
                    << "\n";
    }
    // --out the passed packets, --dropped the dropped ones, as they left
    // the program, with their link header. The header's len as read; after
    // a resize, the new length plus what the capture had cut off.
    PcapWriter* to = r.verdict == Verdict::Pass   ? out.get()
                     : r.verdict == Verdict::Drop ? dropped.get()
                                                  : nullptr;
    if (to) {
      const uint32_t cut = pkt->len > pkt->caplen ? pkt->len - pkt->caplen : 0;
      const uint32_t wire = len == captured ? pkt->len : header + len + cut;
      to->write(pkt->ts, buf.data(), header + len, wire);
    }
    if (emitted)
      for (const auto& e : vm->emitted()) emitted->write(pkt->ts, e.data.data(), e.length);
  }
  for (PcapWriter* w : {out.get(), emitted.get(), dropped.get()})
    if (w) w->close();
  const Stats& s = vm->stats();
  if (o.json) {
    nlohmann::json j;
    j["link"] = reader.describe(filter);
    j["packets"] = s.packets.load();
    j["outbound"] = outbound;  // run with dir 1
    j["passed"] = s.passed.load();
    j["dropped"] = s.dropped.load();
    j["modified"] = s.modified.load();
    j["redirected"] = s.redirected.load();
    j["mirrored"] = s.mirrored.load();
    j["emitted"] = s.emitted.load();
    j["aborted"] = s.aborted.load();
    j["errors"] = s.errors.load();
    j["instructions"] = s.instructions.load();
    j["timer_runs"] = s.timer_runs.load();
    j["output"] = lines;
    j["verdicts"] = verdicts;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << s.packets << " packets: " << s.passed << " passed, " << s.dropped << " dropped, "
              << s.modified << " modified, " << s.redirected << " redirected, " << s.emitted
              << " emitted, " << s.aborted << " aborted, " << s.instructions << " instructions\n";
  }
  return kOk;
}

}  // namespace netcpu::cli
