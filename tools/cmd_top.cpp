// netcpu top: per attach point packets/s, drops/s, bytes/s and ns/packet of
// one or more consoles (a vde_switch with netcpu.so, an lwIPv6 process, a
// netcpu:// cable's mgmt=), from `netcpu/list -j` every interval, like top.
// The numbers come first in fixed columns and the program's name last, so a
// long name (a tcpdump expression) never moves them; on a terminal the name
// is cut at its width.
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "cli_common.h"
#include "commands.h"
#include "console.h"
#include "console_client.h"
#include "console_reply.h"

namespace netcpu::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Sample {
  std::string program;
  std::string loaded;  // a new load starts the rates over
  uint64_t packets = 0, dropped = 0, bytes = 0;
  std::optional<double> ns;
  Clock::time_point at;
};

struct Row {
  std::string console, point, program;
  std::optional<double> pps, dps, bps, ns;
};

// One console: connected again on the next round when it goes away.
struct Source {
  std::string path;  // the console's address (console.h)
  std::unique_ptr<Console> client;
  std::map<std::string, Sample> last;  // by point
  std::string error;
};

std::optional<nlohmann::json> list_json(Source& s) {
  try {
    if (!s.client) s.client = open_console(s.path, console_options_from_environment());
    const ConsoleReply reply =
        parse_reply(s.client->command("netcpu/list -j", std::chrono::seconds(5)));
    if (!reply.ok()) {
      s.error = "netcpu/list -j: " + (reply.has_status ? reply.status : std::string("no answer"));
      return std::nullopt;
    }
    s.error.clear();
    return nlohmann::json::parse(reply.json_text());
  } catch (const std::exception& e) {
    s.client.reset();
    s.error = e.what();
    return std::nullopt;
  }
}

std::vector<Row> poll(Source& s) {
  std::vector<Row> rows;
  auto list = list_json(s);
  if (!list) return rows;
  std::map<std::string, Sample> now;
  const Clock::time_point t = Clock::now();
  for (const auto& p : *list) {
    Sample n;
    n.program = p.value("program", "");
    n.loaded = p.value("loaded", "");
    n.packets = p.value("packets", uint64_t{0});
    n.dropped = p.value("dropped", uint64_t{0});
    n.bytes = p.value("passed_bytes", uint64_t{0}) + p.value("dropped_bytes", uint64_t{0}) +
              p.value("redirected_bytes", uint64_t{0});
    if (p.contains("ns_per_packet") && p["ns_per_packet"].is_number())
      n.ns = p["ns_per_packet"].get<double>();
    n.at = t;
    const std::string point = p.value("point", "?");
    Row r{s.path, point, n.program, {}, {}, {}, n.ns};
    auto old = s.last.find(point);
    // Rates need a sample before, of the same load, with counters not reset.
    if (old != s.last.end() && old->second.loaded == n.loaded && old->second.program == n.program &&
        n.packets >= old->second.packets && n.dropped >= old->second.dropped &&
        n.bytes >= old->second.bytes) {
      double dt = std::chrono::duration<double>(t - old->second.at).count();
      if (dt > 0) {
        r.pps = static_cast<double>(n.packets - old->second.packets) / dt;
        r.dps = static_cast<double>(n.dropped - old->second.dropped) / dt;
        r.bps = static_cast<double>(n.bytes - old->second.bytes) / dt;
      }
    }
    now[point] = n;
    rows.push_back(std::move(r));
  }
  s.last = std::move(now);
  return rows;
}

// 1234, 12.3k, 4.56M: at most 7 characters.
std::string human(std::optional<double> v) {
  if (!v) return "-";
  char b[32];
  double x = *v;
  if (x < 10000)
    std::snprintf(b, sizeof b, "%.0f", x);
  else if (x < 10e6)
    std::snprintf(b, sizeof b, "%.1fk", x / 1e3);
  else if (x < 10e9)
    std::snprintf(b, sizeof b, "%.1fM", x / 1e6);
  else
    std::snprintf(b, sizeof b, "%.1fG", x / 1e9);
  return b;
}

// The end of a long string, which tells consoles apart better than its start.
std::string tail(const std::string& s, size_t width) {
  if (s.size() <= width) return s;
  return "..." + s.substr(s.size() - (width - 3));
}

std::string render(std::vector<Source>& sources, const std::vector<Row>& rows, uint32_t interval_ms,
                   size_t width) {
  std::string out;
  char line[512];
  std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&now));
  std::snprintf(line, sizeof line, "netcpu top - %s, every %u ms, %zu console%s\n", when,
                interval_ms, sources.size(), sources.size() == 1 ? "" : "s");
  out += line;
  std::snprintf(line, sizeof line, "%-24s %-8s %9s %9s %9s %8s  %s\n", "CONSOLE", "POINT", "PKTS/S",
                "DROPS/S", "BYTES/S", "NS/PKT", "PROGRAM");
  out += line;
  for (const Row& r : rows) {
    char ns[32] = "-";
    if (r.ns) std::snprintf(ns, sizeof ns, "%.1f", *r.ns);
    int n = std::snprintf(line, sizeof line, "%-24s %-8s %9s %9s %9s %8s  ",
                          tail(r.console, 24).c_str(), tail(r.point, 8).c_str(),
                          human(r.pps).c_str(), human(r.dps).c_str(), human(r.bps).c_str(), ns);
    std::string name = r.program;
    if (width > static_cast<size_t>(n) + 4 && name.size() > width - n)
      name = name.substr(0, width - n - 3) + "...";
    out += line + name + "\n";
  }
  for (const Source& s : sources)
    if (!s.error.empty())
      out += tail(s.path, 24) + ": " +
             (s.error.starts_with(s.path + ": ") ? s.error.substr(s.path.size() + 2) : s.error) +
             "\n";
  return out;
}

}  // namespace

int cmd_top(const TopOptions& o) {
  if (o.sockets.empty()) throw Failure(kUsage, "top: no console socket given");
  if (o.interval_ms == 0) throw Failure(kUsage, "top: --interval must be at least 1 ms");
  std::vector<Source> sources;
  for (const auto& p : o.sockets) sources.push_back({p, nullptr, {}, {}});
  const bool tty = isatty(STDOUT_FILENO);
  // The first round only takes the counters: rates need two.
  for (auto& s : sources) poll(s);
  for (uint32_t round = 0; o.iterations == 0 || round < o.iterations; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
    std::vector<Row> rows;
    for (auto& s : sources)
      for (Row& r : poll(s)) rows.push_back(std::move(r));
    size_t width = 0;
    if (winsize ws{}; tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) width = ws.ws_col;
    std::string screen = render(sources, rows, o.interval_ms, width);
    // A terminal is redrawn in place; anything else gets one block a round.
    std::cout << (tty ? "\033[H\033[2J" : (round ? "\n" : "")) << screen << std::flush;
  }
  for (const auto& s : sources)
    if (!s.error.empty()) return kBadInput;
  return kOk;
}

}  // namespace netcpu::cli
