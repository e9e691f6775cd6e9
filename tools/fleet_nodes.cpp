#include "fleet_nodes.h"

#include <set>
#include <sstream>

#include "cli_common.h"

namespace netcpu::cli {

std::vector<FleetNode> parse_fleet_nodes(const std::string& text, const std::string& file) {
  std::vector<FleetNode> nodes;
  std::set<std::string> names;
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const std::string where = file + ":" + std::to_string(number) + ": ";
    // A '#' outside quotes starts a comment.
    char quote = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (quote) {
        if (line[i] == quote) quote = 0;
      } else if (line[i] == '\'' || line[i] == '"') {
        quote = line[i];
      } else if (line[i] == '#') {
        line.resize(i);
        break;
      }
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::vector<std::string> words;
    try {
      words = split_quoted(line);
    } catch (const Failure& f) {
      throw Failure(kUsage, where + f.what());
    }
    if (words.empty()) continue;
    if (words.size() < 2) throw Failure(kUsage, where + "expected NAME ADDRESS [point=POINT] ...");
    FleetNode n;
    n.name = words[0];
    n.address = words[1];
    n.line = number;
    if (!names.insert(n.name).second)
      throw Failure(kUsage, where + "a second node named '" + n.name + "'");
    for (size_t i = 2; i < words.size(); ++i) {
      const std::string& w = words[i];
      const size_t eq = w.find('=');
      const std::string key = w.substr(0, eq),
                        value = eq == std::string::npos ? "" : w.substr(eq + 1);
      if (eq == std::string::npos || value.empty())
        throw Failure(kUsage, where + "'" + w + "': expected point=, timeout= or password=");
      if (key == "point") {
        n.point = value;
      } else if (key == "password") {
        n.password = value;
      } else if (key == "timeout") {
        if (value.find_first_not_of("0123456789") != std::string::npos || value.size() > 9 ||
            std::stoul(value) == 0)
          throw Failure(kUsage, where + "timeout=" + value + ": expected milliseconds, at least 1");
        n.timeout_ms = static_cast<uint32_t>(std::stoul(value));
      } else {
        throw Failure(kUsage,
                      where + "'" + key + "': unknown option (point=, timeout=, password=)");
      }
    }
    nodes.push_back(std::move(n));
  }
  if (nodes.empty()) throw Failure(kUsage, file + ": no node (one a line: NAME ADDRESS ...)");
  return nodes;
}

std::vector<FleetNode> read_fleet_nodes(const std::string& file) {
  const std::vector<uint8_t> bytes = read_file(file);
  return parse_fleet_nodes(std::string(bytes.begin(), bytes.end()), file);
}

}  // namespace netcpu::cli
