// Long console commands in continued lines (console_lines.h).
#include "console_lines.h"

#include <algorithm>

#include "cli_common.h"

namespace netcpu::cli {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

// "netcpu/filter 2 in host 10.0.0.1 or \" then "netcpu/filter host
// 10.0.0.2": a console joins the pieces as they are, after dropping the
// blanks that start a line's arguments, so a piece never starts with one.
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

}  // namespace netcpu::cli
