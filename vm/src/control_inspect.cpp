// The commands that show what runs where: list, show, profile.
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "console_words.h"
#include "control_json.h"
#include "netcpu/bytecode.h"
#include "netcpu/control.h"
#include "netcpu/disassembler.h"

namespace netcpu {
namespace {

// A time as ISO 8601 in local time, with its offset: 2026-11-22T10:31:05+0100.
std::string iso_time(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char b[40];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S%z", &tm);
  return b;
}

// A point's capture in one word, for list: -, or drop:12 (on), drop:12:done,
// drop:40:failed.
std::string capture_word(const AttachPoint& at) {
  const Capture* c = at.capture();
  if (!c) return "-";
  const std::string w = c->what + ":" + std::to_string(c->frames);
  return c->sink ? w : w + (c->failed ? ":failed" : ":done");
}

nlohmann::json capture_json(const Capture* c) {
  if (!c) return nullptr;
  return {{"what", c->what},
          {"file", c->file},
          {"frames", c->frames},
          {"bytes", c->sink ? c->sink->file_bytes() : c->file_bytes},
          {"max_frames", c->max_frames},
          {"max_bytes", c->max_bytes},
          {"on", c->sink != nullptr},
          {"failed", c->failed},
          {"stopped", c->stopped},
          {"status", c->status()}};
}
}  // namespace

ControlReply Control::cmd_list(const std::vector<std::string>& w, bool json) {
  ControlReply err;
  auto points = selection(w, err);
  if (!points) return err;
  char line[1024];
  // New columns go last: scripts read the others by position. FROM is last
  // of all: a filter's expression has blanks.
  std::snprintf(line, sizeof line,
                "%-10s %-16s %-16s %6s %10s %10s %10s %10s %10s %8s %8s %8s %8s %8s %8s %12s %12s "
                "%-14s %-24s %s",
                "POINT", "PROGRAM", "HASH", "INSNS", "PACKETS", "PASSED", "DROPPED", "MODIFIED",
                "REDIRECTED", "ABORTED", "NS/PKT", "EMITTED", "ERRORS", "TIMERS", "TIMED",
                "PASS_BYTES", "DROP_BYTES", "CAPTURE", "LOADED", "FROM");
  std::string text = line;
  nlohmann::json rows = nlohmann::json::array();
  for (AttachPoint* at : *points) {
    Instance* vm = at->program();
    if (!vm) continue;
    const Stats& s = vm->stats();
    // Too few timed runs make a figure of cold caches: none until there are enough.
    const bool timed = at->timed_runs() >= AttachPoint::kMinTimedRuns;
    if (json) {
      rows.push_back({{"point", at->name()},
                      {"program", vm->program().name},
                      {"hash", hash_hex(vm->hash())},
                      {"instructions", vm->program().code.size()},
                      {"packets", s.packets.load()},
                      {"passed", s.passed.load()},
                      {"dropped", s.dropped.load()},
                      {"modified", s.modified.load()},
                      {"redirected", s.redirected.load()},
                      {"aborted", s.aborted.load()},
                      {"ns_per_packet", timed ? nlohmann::json(at->average_ns()) : nullptr},
                      {"emitted", s.emitted.load()},
                      {"errors", s.errors.load()},
                      {"timer_runs", s.timer_runs.load()},
                      {"timed_runs", at->timed_runs()},
                      {"passed_bytes", at->bytes(Verdict::Pass)},
                      {"dropped_bytes", at->bytes(Verdict::Drop)},
                      {"redirected_bytes", at->bytes(Verdict::Redirect)},
                      {"capture", capture_json(at->capture())},
                      {"loaded", iso_time(at->loaded_at())},
                      {"from", at->origin()}});
      continue;
    }
    char ns[32] = "-";
    if (timed) std::snprintf(ns, sizeof ns, "%.1f", at->average_ns());
    std::snprintf(line, sizeof line,
                  "%-10s %-16s %-16s %6zu %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
                  " %10" PRIu64 " %8" PRIu64 " %8s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
                  " %12" PRIu64 " %12" PRIu64 " %-14s %-24s %s",
                  at->name().c_str(), vm->program().name.c_str(), hash_hex(vm->hash()).c_str(),
                  vm->program().code.size(), s.packets.load(), s.passed.load(), s.dropped.load(),
                  s.modified.load(), s.redirected.load(), s.aborted.load(), ns, s.emitted.load(),
                  s.errors.load(), s.timer_runs.load(), at->timed_runs(), at->bytes(Verdict::Pass),
                  at->bytes(Verdict::Drop), capture_word(*at).c_str(),
                  iso_time(at->loaded_at()).c_str(), at->origin().c_str());
    text += "\n";
    text += line;
  }
  return json ? json_reply(rows) : ControlReply{0, text};
}

ControlReply Control::cmd_show(const std::vector<std::string>& w, bool json) {
  ControlReply err;
  size_t used;
  AttachPoint* at = point(w, used, err);
  if (!at) return err;
  if (w.size() != used) return fail(EINVAL, "expected [-j] " + opt_.point_syntax);
  Instance* vm = at->program();
  if (!vm) return fail(ENOENT, at->name() + " has no program");
  DisasmOptions opt;
  opt.loc = false;
  opt.pcs = true;
  if (vm->profiling()) opt.hits = vm->profile();
  std::string disassembly = disassemble(vm->program(), opt);
  if (json) {
    nlohmann::json lines = nlohmann::json::array();
    for (size_t start = 0; start < disassembly.size();) {
      size_t end = disassembly.find('\n', start);
      if (end == std::string::npos) end = disassembly.size();
      lines.push_back(disassembly.substr(start, end - start));
      start = end + 1;
    }
    return json_reply({{"point", at->name()},
                       {"program", vm->program().name},
                       {"hash", hash_hex(vm->hash())},
                       {"instructions", vm->program().code.size()},
                       {"runs_as", vm->runs_as()},
                       {"loaded", iso_time(at->loaded_at())},
                       {"from", at->origin()},
                       {"capture", capture_json(at->capture())},
                       {"profiling", vm->profiling()},
                       {"disassembly", lines}});
  }
  std::string text = "# runs as " + vm->runs_as() + "\n";
  text += "# loaded " + iso_time(at->loaded_at()) + " from " + at->origin() + "\n";
  if (const Capture* c = at->capture()) text += "# capture " + c->status() + "\n";
  text += disassembly;
  if (text.back() == '\n') text.pop_back();
  return {0, text};
}

ControlReply Control::cmd_profile(const std::vector<std::string>& w) {
  if (w.size() > 1 || (w.size() == 1 && w[0] != "0" && w[0] != "1"))
    return fail(EINVAL, "expected profile [0|1]");
  if (w.empty()) return {0, std::string("profiling ") + (profiling_ ? "on" : "off")};
  profiling_ = w[0] == "1";
  opt_.for_each([&](AttachPoint& at) {
    if (at.program()) at.program()->set_profiling(profiling_);
  });
  return {0, std::string("profiling ") + (profiling_ ? "on" : "off")};
}
}  // namespace netcpu
