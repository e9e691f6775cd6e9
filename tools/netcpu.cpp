// netcpu: assemble, inspect, verify, run and benchmark NetCPU programs.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli_common.h"
#include "commands.h"
#include "netcpu/version.h"

using namespace netcpu::cli;

int main(int argc, char** argv) {
  CLI::App app{
      "netcpu: assemble, inspect, verify, run and benchmark NetCPU packet programs.\n"
      "Exit codes: 0 success, 1 program rejected, 2 usage, 3 unreadable or corrupt input."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("netcpu ") + netcpu::kVersion +
                                        " (bytecode version " +
                                        std::to_string(netcpu::kBytecodeVersion) + ")");

  std::string src, out;
  auto* asm_ = app.add_subcommand("asm", "Assemble a source file into bytecode (verified first)");
  asm_->add_option("SRC", src, "source file (.ncpu)")->required();
  asm_->add_option("-o,--output", out, "bytecode file to write")->required();

  std::string file;
  bool no_loc = false, pcs = false, json = false;
  auto* dis =
      app.add_subcommand("dis",
                         "Disassemble bytecode (or a source file) into assembly that reassembles "
                         "to the same bytes");
  dis->add_option("FILE", file, "bytecode or source file")->required();
  dis->add_flag("--no-loc", no_loc, "omit .loc lines; show source lines as comments");
  dis->add_flag("--pcs", pcs, "show each instruction's pc");

  auto* check = app.add_subcommand("check",
                                   "Verify a program and print its instruction count, stack depth, "
                                   "tables and timers");
  check->add_option("FILE", file, "bytecode or source file")->required();
  check->add_flag("--json", json, "print one JSON object");

  RunOptions ro;
  auto* run = app.add_subcommand("run", "Run a program on every packet of a pcap file");
  run->add_option("PROGRAM", ro.program, "bytecode or source file");
  run->add_option("--filter", ro.filter,
                  "a tcpdump expression instead of a program (pcap-filter(7))");
  run->add_option("--outbound", ro.outbound,
                  "a tcpdump expression: the packets it matches run with dir 1 (DIR_OUT), the "
                  "rest with dir 0. Without it, every packet has dir 0 but, in Linux cooked "
                  "captures (SLL, SLL2), those the capturing host sent (tcpdump's 'outbound')");
  run->add_option("--pcap", ro.pcap,
                  "pcap file to read (Ethernet, raw IP, Linux cooked SLL/SLL2, NULL, LOOP)")
      ->required();
  run->add_option("--out", ro.out, "write the passed (and rewritten) packets to this pcap file");
  run->add_option("--emitted", ro.emitted, "write the packets the program emits to this pcap file");
  run->add_option("--dropped", ro.dropped,
                  "write the packets the program drops (as it left them) to this pcap file");
  run->add_flag("--trace", ro.trace, "show the instructions each packet executed");
  run->add_flag("--json", ro.json, "print one JSON object with counters, verdicts and output");
  run->add_option("--budget", ro.budget, "instructions per packet before the run is stopped")
      ->capture_default_str();
  run->add_option("--on-abort", ro.on_abort, "verdict of a stopped run: pass or drop")
      ->capture_default_str();

  BenchOptions bo;
  auto* bench = app.add_subcommand(
      "bench", "Measure ns and instructions per packet (a benchmark, not a test)");
  bench->add_option("PROGRAM", bo.program, "bytecode or source file");
  bench->add_option("--filter", bo.filter,
                    "a tcpdump expression: time its translation against libpcap's bpf_filter() on "
                    "the same packets");
  auto* bp = bench->add_option("--pcap", bo.pcap, "packets from this pcap file");
  bench->add_option("--synthetic", bo.synthetic, "N generated packets (default 10000)")
      ->excludes(bp);
  bench->add_option("--rounds", bo.rounds, "rounds over the packets (default: about one second)");
  bench->add_flag("--json", bo.json, "print one JSON object");
  bench->add_flag("--interpreter", bo.interpreter,
                  "run the interpreter, not the native code (as with netcpu/profile 1)");

  FilterOptions fo;
  auto* filter = app.add_subcommand(
      "filter", "Translate a tcpdump expression into NetCPU assembly (libpcap compiles it)");
  filter->add_option("EXPR", fo.expr, "the expression, pcap-filter(7): 'tcp port 80'");
  auto* linktype =
      filter
          ->add_option("--linktype", fo.linktype,
                       "ether (switch ports), raw (lwIPv6 hooks), or a link type by libpcap's "
                       "name or number (IPV4, LINUX_SLL2, NULL, 228, ...)")
          ->capture_default_str();
  filter->add_option("--pcap", fo.pcap,
                     "compile for this capture, exactly as `tcpdump -r FILE` does (its link "
                     "type; NULL's address families and inbound/outbound as a file has them)");
  filter->add_option("--cbpf", fo.cbpf,
                     "translate a classic BPF program in `tcpdump -ddd` format instead");

  CtlOptions co;
  auto* ctl = app.add_subcommand(
      "ctl", "Run commands on a vde_switch management console (or a NetCPU console)");
  ctl->add_option("SOCKET", co.socket,
                  "the console: a management socket (vde_switch -M), ssh://HOST/path/socket, "
                  "exec:COMMAND ARGS or telnet://HOST[:PORT] ($NETCPU_CONSOLE_PASSWORD)")
      ->required();
  ctl->add_option("COMMAND", co.commands,
                  "commands, each one argument: 'netcpu/load * in fw.ncpu'");
  ctl->add_option("--follow", co.follow_ms,
                  "then print debug lines (debug/add ...) for this many ms");
  ctl->add_option("--timeout", co.timeout_ms,
                  "ms to wait for the console and for each command's answer")
      ->capture_default_str();
  ctl->add_flag("--keep-going", co.keep_going, "run every command even after one fails");

  TopOptions to;
  auto* top = app.add_subcommand(
      "top", "Per-point packets/s, drops/s, bytes/s and ns/packet of consoles, refreshed");
  top->add_option("SOCKET", to.sockets,
                  "consoles: a vde_switch's -M socket, an lwIPv6 process's, a cable's mgmt=; "
                  "or ssh://HOST/path/socket, exec:COMMAND ARGS, telnet://HOST[:PORT]")
      ->required();
  top->add_option("--interval", to.interval_ms, "ms between refreshes")->capture_default_str();
  top->add_option("--iterations", to.iterations,
                  "refresh this many times and exit (0: until interrupted)")
      ->capture_default_str();

  FleetOptions fl;
  auto* fleet = app.add_subcommand(
      "fleet",
      "Run a command on every node of a list, in parallel: loads are two-phase (every node "
      "verifies the program before any swaps; one refusal and none swap)");
  fleet
      ->add_option("NODES", fl.nodes,
                   "the node list: one node a line, NAME ADDRESS [point=POINT] [timeout=MS] "
                   "[password=...]; ADDRESS a socket path, ssh://HOST/path, exec:COMMAND or "
                   "telnet://HOST[:PORT]")
      ->required();
  fleet->add_option("--point", fl.point,
                    "the attach point on every node, instead of the list's point= ('* in', local)");
  fleet
      ->add_option("--timeout", fl.timeout_ms,
                   "ms a node may take to connect and to answer each command")
      ->capture_default_str();
  fleet->require_subcommand(1);
  fleet->fallthrough();
  auto* fleet_load = fleet->add_subcommand(
      "load", "verify a program here, stage it on every node, then commit it on all");
  fleet_load->add_option("FILE", fl.args, "source or bytecode file")->required()->expected(1);
  auto* fleet_filter = fleet->add_subcommand(
      "filter", "a tcpdump expression, two-phase as load (each node compiles it for its link)");
  fleet_filter->add_option("EXPR", fl.args, "the expression, one argument: 'tcp port 80'")
      ->required()
      ->expected(1);
  fleet->add_subcommand("unload", "remove the point's program on every node, two-phase");
  auto* fleet_table = fleet->add_subcommand(
      "table", "set TABLE KEY VALUE | del TABLE KEY | dump TABLE on every node's point");
  fleet_table->add_option("ARGS", fl.args, "set TABLE KEY VALUE, del TABLE KEY or dump TABLE")
      ->required();
  auto* fleet_list =
      fleet->add_subcommand("list", "every node's programs and counters, one table, node first");
  fleet_list->add_flag("--json", fl.json, "one JSON document: points (each with its node), failed");
  auto* fleet_ctl = fleet->add_subcommand(
      "ctl", "console commands on every node ({point} is the node's point); output per node");
  fleet_ctl->add_option("COMMAND", fl.args, "commands, each one argument")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  try {
    if (*asm_) return cmd_asm(src, out);
    if (*dis) return cmd_dis(file, !no_loc, pcs);
    if (*check) return cmd_check(file, json);
    if (*run) return cmd_run(ro);
    if (*bench) return cmd_bench(bo);
    if (*ctl) return cmd_ctl(co);
    if (*top) return cmd_top(to);
    if (*fleet) {
      fl.action = fleet->get_subcommands().front()->get_name();
      return cmd_fleet(fl);
    }
    if (*filter) {
      fo.linktype_given = linktype->count() > 0;
      return cmd_filter(fo);
    }
  } catch (const Failure& f) {
    std::cerr << "netcpu: " << f.what() << "\n";
    return f.code;
  } catch (const std::exception& e) {
    std::cerr << "netcpu: " << e.what() << "\n";
    return kBadInput;
  }
  return kUsage;
}
