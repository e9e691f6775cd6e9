// netcpu run: a program over every packet of a pcap file. Time is the
// capture's: `now` reads the packet timestamp and timers fire as the
// timestamps pass their deadlines, so runs are reproducible.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"

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

}  // namespace

int cmd_run(const RunOptions& o) {
  PcapReader reader(o.pcap);
  HostCaps caps;
  caps.link = reader.link();
  caps.max_packet = 65535;
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
  int dlt = reader.link() == LinkType::Ethernet ? DLT_EN10MB : DLT_RAW;
  auto vm =
      instantiate(o.filter.empty() ? load_program(o.program) : program_from_filter(o.filter, dlt),
                  caps, limits, sink);
  if (o.trace) vm->set_profiling(true);

  std::unique_ptr<PcapWriter> out, emitted;
  if (!o.out.empty()) out = std::make_unique<PcapWriter>(o.out, reader.datalink());
  if (!o.emitted.empty()) emitted = std::make_unique<PcapWriter>(o.emitted, reader.datalink());

  const Program& prog = vm->program();
  std::vector<uint64_t> next_due(prog.timers.size(), 0);
  std::vector<uint8_t> buf(caps.max_packet);
  std::vector<uint64_t> before;
  nlohmann::json verdicts = nlohmann::json::array();
  uint64_t n = 0;
  while (auto pkt = reader.next()) {
    ++n;
    uint64_t now = ms_of(pkt->ts);
    for (size_t i = 0; i < prog.timers.size(); ++i) {
      if (!next_due[i]) next_due[i] = now + prog.timers[i].period_ms;
      for (; next_due[i] <= now; next_due[i] += prog.timers[i].period_ms)
        vm->run_timer(i, PacketMeta{0, 0, Hook::Timer, next_due[i]});
    }
    uint32_t len = std::min<uint32_t>(pkt->caplen, static_cast<uint32_t>(buf.size()));
    std::copy(pkt->data, pkt->data + len, buf.begin());
    if (o.trace) before.assign(vm->profile().begin(), vm->profile().end());
    RunResult r = vm->run(buf.data(), len, static_cast<uint32_t>(buf.size()),
                          PacketMeta{0, 0, Hook::Test, now});
    std::string v = verdict_name(r.verdict);
    if (r.verdict == Verdict::Redirect) v += " " + std::to_string(r.redirect_port);
    if (o.json) {
      verdicts.push_back(v);
    } else {
      std::cout << "packet " << n << ": " << v << (r.modified ? " (modified)" : "")
                << (r.mirror_port >= 0 ? " mirror " + std::to_string(r.mirror_port) : "")
                << (r.emitted ? " emitted " + std::to_string(r.emitted) : "")
                << (r.aborted ? std::string(" aborted: ") + abort_reason_name(r.reason) : "")
                << " [" << len << " bytes, " << r.instructions << " instructions]\n";
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
    if (out && r.verdict == Verdict::Pass) out->write(pkt->ts, buf.data(), len);
    if (emitted)
      for (const auto& e : vm->emitted()) emitted->write(pkt->ts, e.data.data(), e.length);
  }
  const Stats& s = vm->stats();
  if (o.json) {
    nlohmann::json j;
    j["packets"] = s.packets.load();
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
