// netcpu fleet: one command on every node of a list (fleet_nodes.h), in
// parallel, each node within its own timeout. Loads are two-phase: the
// program is verified here first, then every node stages it (netcpu/stage:
// received and verified, nothing swapped), and only when all have does
// each commit; a node that refuses, is down, slow or answers garbage makes
// all discard, so none swaps. A commit that fails after others succeeded
// rolls those back. Tables, lists and raw commands run on every node as
// they are.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_common.h"
#include "commands.h"
#include "console.h"
#include "console_lines.h"
#include "console_reply.h"
#include "fleet_nodes.h"
#include "netcpu/base64.h"

namespace netcpu::cli {
namespace {

using std::chrono::milliseconds;

// One node: its connection, and what the command did there.
struct NodeRun {
  const FleetNode* node = nullptr;
  std::string point;  // the node's point=, or --point
  ConsoleOptions options;
  std::unique_ptr<Console> console;
  std::vector<std::string> out;  // lines for the output, without the name
  std::string failure;           // why it failed: empty while it has not
  bool refused = false;          // the node answered with an error (not: unreachable, garbage)
  bool staged = false, committed = false;
  nlohmann::ordered_json points;  // `list`: what netcpu/list -j gave, in its order
};

void fail(NodeRun& r, const std::string& why, bool refused) {
  r.failure = why;
  r.refused = refused;
}

// One command on the node, connecting first if need be. A transport
// failure (down, slow, garbage) throws; a reply without a status line is
// garbage too.
ConsoleReply ask(NodeRun& r, const std::string& line) {
  if (!r.console) r.console = open_console(r.node->address, r.options);
  ConsoleReply reply = parse_reply(r.console->command(line, r.options.timeout));
  if (!reply.has_status)
    throw Failure(kBadInput, r.node->address + ": answered '" + line.substr(0, 40) +
                                 "' without a status line: not a console");
  return reply;
}

// A command given whole, in continued lines when long; the last piece's reply.
ConsoleReply ask_whole(NodeRun& r, const std::string& command) {
  ConsoleReply reply;
  for (const auto& line : console_lines(command)) {
    reply = ask(r, line);
    if (!reply.ok()) break;
  }
  return reply;
}

// `work` on every run `which` picks, one thread each; what a transport
// throws becomes the run's failure (and its connection, no longer in step
// with its replies, is closed).
void on_each(std::vector<NodeRun>& runs, const std::function<bool(const NodeRun&)>& which,
             const std::function<void(NodeRun&)>& work) {
  std::vector<std::thread> threads;
  for (NodeRun& r : runs) {
    if (!which(r)) continue;
    threads.emplace_back([&r, &work] {
      try {
        work(r);
      } catch (const std::exception& e) {
        fail(r, e.what(), false);
        r.console.reset();
      }
    });
  }
  for (auto& t : threads) t.join();
}

bool everyone(const NodeRun&) { return true; }
bool connected(const NodeRun& r) { return r.console != nullptr; }

// netcpu/discard or netcpu/rollback after a failure elsewhere: false when
// it failed; `said` what it did, for the output, whatever happens (a
// failure here must not hide the one that made it needed).
bool cleanup(NodeRun& r, const std::string& command, std::string& said) {
  try {
    const ConsoleReply reply = ask(r, command);
    said = command + (reply.ok() ? ": " : " FAILED: ") + reply.text();
    return reply.ok();
  } catch (const std::exception& e) {
    r.console.reset();
    said = command + " FAILED: " + e.what();
    return false;
  }
}

// "NAME: line" for each line of `text`.
void print_node(const NodeRun& r, const std::string& text, std::ostream& to = std::cout) {
  size_t at = 0;
  do {
    size_t nl = text.find('\n', at);
    to << r.node->name << ": " << text.substr(at, nl - at) << "\n";
    at = nl == std::string::npos ? nl : nl + 1;
  } while (at != std::string::npos);
}

void print_failure(const NodeRun& r) {
  print_node(r, (r.refused ? "refused: " : "failed: ") + r.failure);
}

std::string names_of_failed(const std::vector<NodeRun>& runs) {
  std::string names;
  for (const NodeRun& r : runs)
    if (!r.failure.empty())
      names +=
          (names.empty() ? "" : ", ") + r.node->name + (r.refused ? " (refused)" : " (failed)");
  return names;
}

size_t count_failed(const std::vector<NodeRun>& runs) {
  return static_cast<size_t>(
      std::count_if(runs.begin(), runs.end(), [](const NodeRun& r) { return !r.failure.empty(); }));
}

// The lines that stage the action on a point: a program's bytecode in
// netcpu/stage put chunks under a console line (whole base64 quads), a
// filter's expression as one command (continued when long), an unload.
std::vector<std::string> stage_lines(const FleetOptions& o, const std::string& point,
                                     const std::string& base64) {
  const std::string prefix = "netcpu/stage " + point + " ";
  if (o.action == "unload") return {prefix + "unload"};
  if (o.action == "filter") return console_lines(prefix + "filter " + o.args[0]);
  const size_t room =
      kMaxConsoleLine > prefix.size() + 4 + 4 ? (kMaxConsoleLine - prefix.size() - 4) / 4 * 4 : 0;
  if (room == 0)
    throw Failure(kUsage, "fleet: point '" + point + "' is too long for a console line");
  std::vector<std::string> lines;
  for (size_t at = 0; at < base64.size(); at += room)
    lines.push_back(prefix + "put " + base64.substr(at, room));
  return lines;
}

// The program, verified here before any node is contacted: a rejected
// source fails as `netcpu check` fails (file:line:col). Its bytecode in base64.
std::string verified_base64(const std::string& file) {
  Program p = load_program(file);
  Diagnostic d;
  auto info = verify(p, nullptr, &d);
  if (!info) throw Failure(kRejected, d.str());
  print_warnings(info->warnings);
  return encode_base64(encode_bytecode(p));
}

// A tcpdump expression every node compiles for its own link type: here it
// must compile for a switch port (Ethernet) or an lwIPv6 hook (raw IP), so
// that a typo fails before any node is contacted.
void check_filter(const std::string& expr) {
  try {
    program_from_filter(expr, DLT_EN10MB);
  } catch (const Failure& ether) {
    try {
      program_from_filter(expr, DLT_RAW);
    } catch (const Failure&) {
      throw ether;
    }
  }
}

int two_phase(const FleetOptions& o, std::vector<NodeRun>& runs) {
  std::string base64;
  if (o.action == "load") base64 = verified_base64(o.args[0]);
  if (o.action == "filter") check_filter(o.args[0]);
  std::vector<std::vector<std::string>> lines;
  for (const NodeRun& r : runs) lines.push_back(stage_lines(o, r.point, base64));

  // Phase 1: every node stages it. A connection id may be reused: what an
  // earlier client of it left staged goes first.
  on_each(runs, everyone, [&](NodeRun& r) {
    const ConsoleReply discard = ask(r, "netcpu/discard");
    if (!discard.ok())
      return fail(r, "netcpu/discard: " + discard.text() + " (no two-phase loads on this node?)",
                  true);
    const auto& mine = lines[static_cast<size_t>(&r - runs.data())];
    ConsoleReply reply;
    for (const auto& line : mine) {
      reply = ask(r, line);
      if (!reply.ok()) return fail(r, reply.text(), true);
    }
    // A put short of the whole program answers "received N base64 characters ...".
    if (reply.text().starts_with("received "))
      return fail(r, "did not stage it whole: " + reply.text(), false);
    r.staged = true;
    r.out.push_back(reply.text());
  });
  for (const NodeRun& r : runs) {
    for (const auto& l : r.out) print_node(r, l);
    if (!r.failure.empty()) print_failure(r);
  }
  if (const size_t failed = count_failed(runs)) {
    const std::string names = names_of_failed(runs);
    on_each(runs, connected, [](NodeRun& r) {
      std::string said;
      r.out = {cleanup(r, "netcpu/discard", said) ? "discarded" : said};
    });
    for (const NodeRun& r : runs)
      if (!r.out.empty()) print_node(r, r.out.back());
    std::cerr << "netcpu: fleet " << o.action << ": nothing swapped: " << failed << " of "
              << runs.size() << " node" << (runs.size() == 1 ? "" : "s")
              << " did not stage it: " << names << "\n";
    return kRejected;
  }

  // Phase 2: every node swaps.
  for (NodeRun& r : runs) r.out.clear();
  on_each(runs, everyone, [](NodeRun& r) {
    try {
      const ConsoleReply reply = ask(r, "netcpu/commit");
      if (!reply.ok()) return fail(r, "netcpu/commit: " + reply.text(), true);
      r.committed = true;
      r.out.push_back(reply.text());
    } catch (const std::exception& e) {
      // The commit went out and no answer came back: it may have swapped.
      r.console.reset();
      fail(r, std::string(e.what()) + "; whether it swapped is unknown: check it with netcpu/list",
           false);
    }
  });
  const size_t failed = count_failed(runs);
  const std::string names = names_of_failed(runs);
  // Those that swapped go back to what they ran: no node keeps the new
  // program while another does not have it.
  std::atomic<bool> all_back{true};
  if (failed)
    on_each(runs, everyone, [&all_back](NodeRun& r) {
      if (!r.committed) return;
      std::string said;
      if (!cleanup(r, "netcpu/rollback", said)) all_back = false;
      r.out.push_back(said);
    });
  for (const NodeRun& r : runs) {
    for (const auto& l : r.out) print_node(r, l);
    if (!r.failure.empty()) print_failure(r);
  }
  if (failed) {
    std::cerr << "netcpu: fleet " << o.action << ": " << failed << " of " << runs.size()
              << " nodes failed to commit (" << names << "); "
              << (all_back ? "the others were rolled back"
                           : "a rollback FAILED: those nodes run the new program (see above)")
              << "\n";
    return kRejected;
  }
  std::cout << "fleet: " << o.action << " committed on " << runs.size() << " node"
            << (runs.size() == 1 ? "" : "s") << "\n";
  return kOk;
}

// A command on each node; its reply's lines, each with the node's name.
int each_node(const FleetOptions& o, std::vector<NodeRun>& runs,
              const std::function<std::vector<std::string>(const NodeRun&)>& commands) {
  on_each(runs, everyone, [&](NodeRun& r) {
    for (const auto& command : commands(r)) {
      const ConsoleReply reply = ask_whole(r, command);
      for (const auto& d : reply.debug) r.out.push_back(d.size() > 5 ? d.substr(5) : d);
      if (!reply.ok()) return fail(r, command + ": " + reply.text(), true);
      for (const auto& l : reply.data) r.out.push_back(l);
    }
  });
  for (const NodeRun& r : runs) {
    for (const auto& l : r.out) print_node(r, l);
    if (!r.failure.empty()) print_failure(r);
  }
  if (const size_t failed = count_failed(runs)) {
    std::cerr << "netcpu: fleet " << o.action << ": " << failed << " of " << runs.size()
              << " nodes failed: " << names_of_failed(runs) << "\n";
    return kRejected;
  }
  return kOk;
}

std::string cell(const nlohmann::ordered_json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v.get<double>());
    return b;
  }
  return v.dump();
}

// Every node's netcpu/list -j in one table, the node first and the
// program's name last (a filter's expression is long); or one JSON document.
int list(const FleetOptions& o, std::vector<NodeRun>& runs) {
  on_each(runs, everyone, [](NodeRun& r) {
    const std::string command = "netcpu/list -j";
    const ConsoleReply reply = ask(r, command);
    if (!reply.ok()) return fail(r, command + ": " + reply.text(), true);
    r.points = nlohmann::ordered_json::parse(reply.json_text(), nullptr, false);
    if (!r.points.is_array()) fail(r, "netcpu/list -j did not answer a JSON list", false);
  });
  if (o.json) {
    // The node first in each point, then the fields in the node's own order.
    nlohmann::ordered_json points = nlohmann::ordered_json::array(),
                           failed = nlohmann::ordered_json::array();
    for (const NodeRun& r : runs) {
      if (!r.failure.empty()) {
        failed.push_back({{"node", r.node->name}, {"error", r.failure}});
        continue;
      }
      for (const auto& p : r.points) {
        nlohmann::ordered_json row = {{"node", r.node->name}};
        for (const auto& [key, value] : p.items()) row[key] = value;
        points.push_back(std::move(row));
      }
    }
    std::cout << nlohmann::ordered_json{{"points", points}, {"failed", failed}}.dump() << "\n";
  } else {
    size_t width = 4;
    for (const NodeRun& r : runs) width = std::max(width, r.node->name.size());
    static const char* const kColumns[] = {"point",  "hash",    "instructions", "packets",
                                           "passed", "dropped", "ns_per_packet"};
    char line[512];
    std::snprintf(line, sizeof line, "%-*s %-10s %-16s %6s %10s %10s %10s %8s  %s\n",
                  static_cast<int>(width), "NODE", "POINT", "HASH", "INSNS", "PACKETS", "PASSED",
                  "DROPPED", "NS/PKT", "PROGRAM");
    std::cout << line;
    for (const NodeRun& r : runs) {
      if (!r.failure.empty()) continue;
      for (const auto& p : r.points) {
        std::string c[7];
        for (int i = 0; i < 7; ++i) c[i] = p.contains(kColumns[i]) ? cell(p[kColumns[i]]) : "-";
        std::snprintf(line, sizeof line, "%-*s %-10s %-16s %6s %10s %10s %10s %8s  ",
                      static_cast<int>(width), r.node->name.c_str(), c[0].c_str(), c[1].c_str(),
                      c[2].c_str(), c[3].c_str(), c[4].c_str(), c[5].c_str(), c[6].c_str());
        std::cout << line << p.value("program", "") << "\n";
      }
    }
    for (const NodeRun& r : runs)
      if (!r.failure.empty()) print_failure(r);
  }
  if (const size_t failed = count_failed(runs)) {
    std::cerr << "netcpu: fleet list: " << failed << " of " << runs.size()
              << " nodes failed: " << names_of_failed(runs) << "\n";
    return kRejected;
  }
  return kOk;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// The table/... command for `table set|del|dump ...`, with the point in place of {point}.
std::string table_command(const std::vector<std::string>& a) {
  const std::string usage =
      "fleet table: expected set TABLE KEY VALUE, del TABLE KEY or dump TABLE";
  if (a.empty()) throw Failure(kUsage, usage);
  const size_t want = a[0] == "set" ? 4 : a[0] == "del" ? 3 : a[0] == "dump" ? 2 : 0;
  if (want == 0 || a.size() != want) throw Failure(kUsage, usage);
  std::string command = "netcpu/table/" + a[0] + " {point}";
  for (size_t i = 1; i < a.size(); ++i) command += " " + a[i];
  return command;
}

}  // namespace

int cmd_fleet(const FleetOptions& o) {
  const std::vector<FleetNode> nodes = read_fleet_nodes(o.nodes);
  const bool two_phase_action = o.action == "load" || o.action == "filter" || o.action == "unload";
  if ((o.action == "load" || o.action == "filter") && o.args.size() != 1)
    throw Failure(kUsage,
                  "fleet " + o.action + ": expected one " + (o.action == "load" ? "FILE" : "EXPR"));
  std::vector<std::string> commands;
  if (o.action == "table") commands = {table_command(o.args)};
  if (o.action == "ctl") {
    if (o.args.empty()) throw Failure(kUsage, "fleet ctl: no command");
    commands = o.args;
    for (const auto& c : commands) console_lines(replace_all(c, "{point}", "* inout"));
  }
  bool needs_point = two_phase_action || o.action == "table";
  for (const auto& c : commands) needs_point |= c.find("{point}") != std::string::npos;

  std::vector<NodeRun> runs(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    NodeRun& r = runs[i];
    r.node = &nodes[i];
    r.point = o.point.empty() ? nodes[i].point : o.point;
    if (needs_point && r.point.empty())
      throw Failure(kUsage, o.nodes + ":" + std::to_string(nodes[i].line) + ": node '" +
                                nodes[i].name +
                                "' has no point: give it point=POINT, or give --point");
    r.options.timeout = milliseconds(nodes[i].timeout_ms.value_or(o.timeout_ms));
    r.options.password = nodes[i].password;
  }
  if (two_phase_action) return two_phase(o, runs);
  if (o.action == "list") return list(o, runs);
  if (o.action == "table" || o.action == "ctl")
    return each_node(o, runs, [&](const NodeRun& r) {
      std::vector<std::string> mine;
      for (const auto& c : commands) mine.push_back(replace_all(c, "{point}", r.point));
      return mine;
    });
  throw Failure(kUsage, "fleet: unknown action '" + o.action + "'");
}

}  // namespace netcpu::cli
