// The node list `netcpu fleet` reads: one node a line,
//
//   # NAME    ADDRESS                       OPTIONS
//   sw1       /tmp/sw1.mgmt                 point="* in"
//   gw        ssh://gw.example/run/sw.mgmt  point="3 inout"
//   web       /tmp/web.mgmt                 point=local
//   cable     "exec:unixterm /tmp/c.mgmt"   point=in timeout=2000
//   edge      telnet://10.0.0.9             point="* in" password=secret
//
// NAME is how the output names the node (unique); ADDRESS any address
// open_console() takes (console.h); words split as a shell splits them
// (quotes keep blanks, and go). Options: point= the attach point the
// commands act on, in the node's own syntax (a switch's "PORT|* in|out|inout",
// an lwIPv6 stack's hook, a cable's in|out|inout); timeout= ms for each
// answer, instead of the command line's; password= vdetelweb's. `#` starts
// a comment; blank lines are skipped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace netcpu::cli {

struct FleetNode {
  std::string name, address, point, password;
  std::optional<uint32_t> timeout_ms;
  int line = 0;  // in the list, for errors
};

// The nodes of the list in `text` (read from `file`, which errors name as
// file:line: ...). Throws Failure (kUsage) at the first bad line, and when
// there is no node.
std::vector<FleetNode> parse_fleet_nodes(const std::string& text, const std::string& file);
std::vector<FleetNode> read_fleet_nodes(const std::string& file);

}  // namespace netcpu::cli
