#include "console_reply.h"

#include <cctype>

namespace netcpu::cli {

ConsoleReply parse_reply(const std::vector<std::string>& lines) {
  ConsoleReply r;
  bool in_data = false;
  auto digits = [](const std::string& l) {
    return l.size() >= 4 && std::isdigit(static_cast<unsigned char>(l[0])) &&
           std::isdigit(static_cast<unsigned char>(l[1])) &&
           std::isdigit(static_cast<unsigned char>(l[2])) &&
           std::isdigit(static_cast<unsigned char>(l[3])) && (l.size() == 4 || l[4] == ' ');
  };
  for (const auto& line : lines) {
    if (in_data) {
      if (line == ".")
        in_data = false;
      else
        r.data.push_back(line);
    } else if (line.starts_with("0000 DATA")) {
      in_data = true;
    } else if (digits(line) && line[0] == '1') {
      r.has_status = true;
      r.status = line;
      r.error = std::stoi(line.substr(0, 4)) - 1000;
    } else if (digits(line) && line[0] == '3') {
      r.debug.push_back(line);
    } else {
      r.other.push_back(line);
    }
  }
  return r;
}

std::string ConsoleReply::text() const {
  std::string out;
  for (const auto& l : data) out += (out.empty() ? "" : "\n") + l;
  if (out.empty() && status.size() > 5) out = status.substr(5);
  return out;
}

std::string ConsoleReply::json_text() const {
  std::string out;
  for (const auto& l : data) out += l;
  return out;
}

}  // namespace netcpu::cli
