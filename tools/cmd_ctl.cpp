// netcpu ctl: a console client for vde_switch's management socket (and any
// console that speaks its protocol): runs commands, prints their output and
// the debug lines the console sends, exits non-zero when a command fails.
// Scripts use it where vdeterm and unixterm want a terminal.
#include <chrono>
#include <iostream>

#include "cli_common.h"
#include "commands.h"
#include "console_client.h"

namespace netcpu::cli {
namespace {

// vde_switch takes 128 bytes of a console line and cuts the rest off
// (127 characters of an rc file's line); netcpu.so refuses a line that
// reached that length. Longer netcpu/ commands go in continued lines.
constexpr size_t kMaxConsoleLine = 126;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// The console lines that give `command` whole: itself when it fits; for a
// netcpu/ command, pieces under the limit each ending with a backslash but
// the last ("netcpu/filter 2 in host 10.0.0.1 or \" then "netcpu/filter
// host 10.0.0.2"). A console joins them as they are, after dropping the
// blanks that start a line's arguments: a piece never starts with one.
std::vector<std::string> console_lines(const std::string& command) {
  if (command.size() <= kMaxConsoleLine) return {command};
  size_t begin = 0;
  while (begin < command.size() && is_blank(command[begin])) ++begin;
  size_t path_end = command.find_first_of(" \t", begin);
  std::string path = command.substr(begin, path_end - begin);
  auto too_long = [&](const std::string& why) {
    return Failure(kUsage, "ctl: '" + command.substr(0, 60) +
                               "...': " + std::to_string(command.size()) +
                               " characters, more than the " + std::to_string(kMaxConsoleLine) +
                               " a console line holds (vde_switch cuts longer ones); " + why);
  };
  if (!path.starts_with("netcpu/") || path_end == std::string::npos)
    throw too_long("only netcpu/ commands can be continued on several lines");
  size_t arg = path_end;
  while (arg < command.size() && is_blank(command[arg])) ++arg;
  const std::string args = command.substr(arg);
  const size_t room = kMaxConsoleLine - path.size() - 2;  // "PATH " and the backslash
  std::vector<std::string> lines;
  for (size_t at = 0; at < args.size();) {
    size_t end = std::min(args.size(), at + room);
    if (end < args.size()) {
      // Cut after a blank where the next piece starts with a word, else
      // anywhere the next piece does not start with a blank.
      size_t cut = end;
      while (cut > at + 1 && !(is_blank(args[cut - 1]) && !is_blank(args[cut]))) --cut;
      if (cut == at + 1) {
        cut = end;
        while (cut > at + 1 && is_blank(args[cut])) --cut;
      }
      if (is_blank(args[cut])) throw too_long("it has a run of blanks too long to split");
      end = cut;
    }
    lines.push_back(path + " " + args.substr(at, end - at) + (end < args.size() ? "\\" : ""));
    at = end;
  }
  return lines;
}

}  // namespace

int cmd_ctl(const CtlOptions& o) {
  // Every command is checked before the first is sent: none is sent cut.
  std::vector<std::vector<std::string>> lines;
  for (const auto& cmd : o.commands) lines.push_back(console_lines(cmd));
  ConsoleClient console(o.socket);
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
      bool in_data = false;
      std::vector<std::string> data;
      for (const auto& line :
           console.command(lines[c][piece], std::chrono::milliseconds(o.timeout_ms))) {
        if (line.rfind("0000 DATA", 0) == 0) {
          in_data = true;
        } else if (in_data && line == ".") {
          in_data = false;
        } else if (in_data) {
          data.push_back(line);
        } else if (line.size() > 4 && line[0] == '1' && isdigit(line[1])) {
          if (line.rfind("1000 ", 0) != 0) {
            std::cerr << "netcpu: " << cmd << ": " << line << "\n";
            status = kRejected;
            failed = true;
          }
        } else if (line.size() > 4 && line[0] == '3') {
          print_debug(line);
        }
      }
      if (last || failed)
        for (const auto& l : data) std::cout << l << "\n";
    }
    if (failed && !o.keep_going) return status;
  }
  if (o.follow_ms) console.follow(std::chrono::milliseconds(o.follow_ms), print_debug);
  return status;
}

}  // namespace netcpu::cli
