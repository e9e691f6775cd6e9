// netcpu ctl: a console client for vde_switch's management socket (and any
// console that speaks its protocol): runs commands, prints their output and
// the debug lines the console sends, exits non-zero when a command fails.
// Scripts use it where vdeterm and unixterm want a terminal.
#include <chrono>
#include <iostream>

#include "cli_common.h"
#include "commands.h"
#include "console.h"
#include "console_client.h"
#include "console_lines.h"
#include "console_reply.h"

namespace netcpu::cli {

int cmd_ctl(const CtlOptions& o) {
  // Every command is checked before the first is sent: none is sent cut.
  std::vector<std::vector<std::string>> lines;
  for (const auto& cmd : o.commands) lines.push_back(console_lines(cmd));
  ConsoleOptions options = console_options_from_environment();
  options.timeout = std::chrono::milliseconds(o.timeout_ms);
  auto console = open_console(o.socket, options);
  int status = kOk;
  auto print_debug = [](const std::string& l) {
    // "3NNN category text": show "category text".
    std::cout << (l.size() > 5 && l[0] == '3' ? l.substr(5) : l) << std::endl;
  };
  for (size_t c = 0; c < o.commands.size(); ++c) {
    const std::string& cmd = o.commands[c];
    bool failed = false;
    for (size_t piece = 0; piece < lines[c].size() && !failed; ++piece) {
      // The pieces before the last answer how much is pending: not the command's output.
      const bool last = piece + 1 == lines[c].size();
      const ConsoleReply reply =
          parse_reply(console->command(lines[c][piece], std::chrono::milliseconds(o.timeout_ms)));
      for (const auto& line : reply.debug) print_debug(line);
      if (reply.has_status && !reply.ok()) {
        std::cerr << "netcpu: " << cmd << ": " << reply.status << "\n";
        status = kRejected;
        failed = true;
      }
      if (last || failed)
        for (const auto& l : reply.data) std::cout << l << "\n";
    }
    if (failed && !o.keep_going) return status;
  }
  if (o.follow_ms) console->follow(std::chrono::milliseconds(o.follow_ms), print_debug);
  return status;
}

}  // namespace netcpu::cli
