// What the console commands share to read their arguments and word their
// replies.
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "netcpu/attach_point.h"
#include "netcpu/control.h"

namespace netcpu {

inline std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> w;
  std::istringstream in{std::string(s)};
  for (std::string t; in >> t;) w.push_back(t);
  return w;
}

inline ControlReply fail(int err, std::string text) { return {err, std::move(text)}; }

inline bool is_blank(char c) { return c == ' ' || c == '\t'; }

inline std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// What follows the first `n` words of `args`, without the blanks around it.
inline std::string_view after_words(std::string_view args, size_t n) {
  args = trim_blanks(args);
  for (size_t i = 0; i < n && !args.empty(); ++i) {
    while (!args.empty() && !is_blank(args.front())) args.remove_prefix(1);
    args = trim_blanks(args);
  }
  return args;
}

// People paste expressions and file names with the quotes a shell needs:
// one matching pair around the whole argument is removed. `quoted` says
// whether there was one.
inline std::string_view unquote(std::string_view s, bool* quoted = nullptr) {
  bool q = s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front();
  if (quoted) *quoted = q;
  return q ? s.substr(1, s.size() - 2) : s;
}

// What a rejected load leaves on the point, said as it is.
inline std::string kept(const AttachPoint& at) {
  if (!at.program()) return at.name() + " still has no program";
  return at.name() + " keeps its program " + at.program()->program().name;
}

}  // namespace netcpu
