// What tcpdump itself reads in a capture file, for the tests of
// netcpu/capture on the switch, the cable and lwIPv6 stacks.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace netcpu::test {

// tcpdump -nn -t FLAGS -r FILE: its lines (no timestamps), "reading from
// file ..." dropped, its errors (a truncated file) after them.
inline std::vector<std::string> tcpdump_lines(const std::string& file,
                                              const std::string& flags = "-q") {
  std::vector<std::string> lines;
  FILE* p = popen(("tcpdump -nn -t " + flags + " -r '" + file + "' 2>&1").c_str(), "r");
  if (!p) return {"popen failed"};
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) {
    std::string l(buf);
    if (!l.empty() && l.back() == '\n') l.pop_back();
    if (!l.starts_with("reading from file")) lines.push_back(l);
  }
  pclose(p);
  return lines;
}

// The lines joined, for failure messages; how many contain `part`.
inline std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}
inline size_t count_with(const std::vector<std::string>& lines, const std::string& part) {
  size_t n = 0;
  for (const auto& l : lines) n += l.find(part) != std::string::npos;
  return n;
}

}  // namespace netcpu::test
