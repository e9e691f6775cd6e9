// The netcpu subcommands. Each returns an exit code (cli_common.h) or throws Failure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace netcpu::cli {

int cmd_asm(const std::string& src, const std::string& out);
int cmd_dis(const std::string& file, bool loc, bool pcs);
int cmd_check(const std::string& file, bool json);

struct RunOptions {
  std::string program, pcap, out, emitted, dropped;
  std::string filter;  // a tcpdump expression instead of a program
  // A tcpdump expression: the packets it matches run with dir 1 (DIR_OUT).
  std::string outbound;
  bool trace = false, json = false;
  uint64_t budget = 100000;
  std::string on_abort = "pass";
};
int cmd_run(const RunOptions& o);

struct BenchOptions {
  std::string program, pcap;
  std::string filter;  // a tcpdump expression: timed against libpcap's bpf_filter()
  uint64_t synthetic = 0;
  uint32_t rounds = 0;  // 0: as many as fit in about a second
  bool json = false;
  bool interpreter = false;  // native code off (Limits::jit): time the interpreter
};
int cmd_bench(const BenchOptions& o);

struct FilterOptions {
  std::string linktype = "ether";  // ether, raw, or a libpcap link type name or number
  bool linktype_given = false;
  std::string pcap;               // compile for this capture, as `tcpdump -r` does
  std::string cbpf;               // a `tcpdump -ddd` file instead of an expression
  std::vector<std::string> expr;  // words of the expression, joined by spaces
};
int cmd_filter(const FilterOptions& o);

struct CtlOptions {
  std::string socket;
  std::vector<std::string> commands;
  uint32_t timeout_ms = 5000;  // per command
  uint32_t follow_ms = 0;      // then print debug lines for this long
  bool keep_going = false;     // run every command even after one fails
};
int cmd_ctl(const CtlOptions& o);

struct TopOptions {
  std::vector<std::string> sockets;
  uint32_t interval_ms = 1000;
  uint32_t iterations = 0;  // 0: until interrupted
};
int cmd_top(const TopOptions& o);

struct FleetOptions {
  std::string nodes;              // the node list (fleet_nodes.h)
  std::string action;             // load, filter, unload, table, list, ctl
  std::vector<std::string> args;  // the action's: FILE, EXPR, set TABLE KEY VALUE, commands
  std::string point;              // every node's point, instead of the list's point=
  uint32_t timeout_ms = 5000;     // per node and answer, unless its timeout= says otherwise
  bool json = false;              // list: one JSON document
};
int cmd_fleet(const FleetOptions& o);

}  // namespace netcpu::cli
