// Literal syntax shared by the assembler and the consoles: integers
// (decimal, 0x, 0b, negative), 'c', IPv4 dotted quads, MAC addresses, IPv6.
#include "literals.h"

#include <algorithm>
#include <charconv>
#include <vector>

namespace netcpu {

std::optional<int64_t> parse_int(std::string_view t) {
  bool neg = false;
  if (!t.empty() && (t[0] == '-' || t[0] == '+')) {
    neg = t[0] == '-';
    t.remove_prefix(1);
  }
  if (t.empty()) return std::nullopt;
  int base = 10;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'))
    base = 16, t.remove_prefix(2);
  else if (t.size() > 2 && t[0] == '0' && (t[1] == 'b' || t[1] == 'B'))
    base = 2, t.remove_prefix(2);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v, base);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  return static_cast<int64_t>(neg ? 0 - v : v);  // wraps: -0x8000000000000000 is INT64_MIN
}

std::optional<int64_t> parse_char(std::string_view t) {
  if (t.size() == 3 && t[0] == '\'' && t[2] == '\'') return static_cast<unsigned char>(t[1]);
  return std::nullopt;
}

std::optional<int64_t> parse_ipv4(std::string_view t) {
  uint64_t v = 0;
  int parts = 0;
  size_t i = 0;
  while (i <= t.size()) {
    size_t j = t.find('.', i);
    if (j == std::string_view::npos) j = t.size();
    std::string_view p = t.substr(i, j - i);
    if (p.empty() || p.size() > 3 || !std::all_of(p.begin(), p.end(), ::isdigit))
      return std::nullopt;
    int x = std::stoi(std::string(p));
    if (x > 255) return std::nullopt;
    v = (v << 8) | static_cast<uint64_t>(x);
    ++parts;
    i = j + 1;
    if (j == t.size()) break;
  }
  if (parts != 4) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<int64_t> parse_mac(std::string_view t) {
  if (t.size() != 17) return std::nullopt;
  uint64_t v = 0;
  for (int k = 0; k < 6; ++k) {
    if (k && t[k * 3 - 1] != ':') return std::nullopt;
    auto b = parse_int(std::string("0x") + std::string(t.substr(k * 3, 2)));
    if (!b) return std::nullopt;
    v = (v << 8) | static_cast<uint64_t>(*b);
  }
  return static_cast<int64_t>(v);
}

std::optional<std::string> parse_ipv6(std::string_view t) {
  if (t.find(':') == std::string_view::npos) return std::nullopt;
  // Groups before and after "::".
  std::vector<uint16_t> head, tail;
  bool gap = false;
  size_t i = 0;
  if (t.substr(0, 2) == "::") gap = true, i = 2;
  while (i < t.size()) {
    size_t j = t.find(':', i);
    if (j == std::string_view::npos) j = t.size();
    std::string_view g = t.substr(i, j - i);
    if (g.empty() || g.size() > 4) return std::nullopt;
    auto v = parse_int(std::string("0x") + std::string(g));
    if (!v) return std::nullopt;
    (gap ? tail : head).push_back(static_cast<uint16_t>(*v));
    if (j == t.size()) break;
    if (j + 1 < t.size() && t[j + 1] == ':') {
      if (gap) return std::nullopt;
      gap = true;
      i = j + 2;
    } else {
      i = j + 1;
      if (i == t.size()) return std::nullopt;
    }
  }
  size_t n = head.size() + tail.size();
  if (gap ? n > 7 : n != 8) return std::nullopt;
  std::string out(16, '\0');
  auto put = [&](size_t idx, uint16_t g) {
    out[idx * 2] = static_cast<char>(g >> 8);
    out[idx * 2 + 1] = static_cast<char>(g & 0xff);
  };
  for (size_t k = 0; k < head.size(); ++k) put(k, head[k]);
  for (size_t k = 0; k < tail.size(); ++k) put(8 - tail.size() + k, tail[k]);
  return out;
}

}  // namespace netcpu
