#include "table_text.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "byte_order.h"
#include "literals.h"

namespace netcpu {
namespace {

bool parse_hex(const std::string& text, size_t size, std::vector<uint8_t>& out) {
  if (text.size() != 2 + 2 * size || (text.rfind("0x", 0) != 0 && text.rfind("0X", 0) != 0))
    return false;
  out.assign(size, 0);
  for (size_t i = 0; i < size; ++i) {
    auto b = parse_int("0x" + text.substr(2 + 2 * i, 2));
    if (!b) return false;
    out[i] = static_cast<uint8_t>(*b);
  }
  return true;
}

std::string hex(std::span<const uint8_t> b) {
  std::string s = "0x";
  char x[4];
  for (uint8_t c : b) std::snprintf(x, sizeof x, "%02x", c), s += x;
  return s;
}

void put_be(std::vector<uint8_t>& out, uint64_t v, size_t size) {
  out.assign(size, 0);
  const auto n = static_cast<unsigned>(std::min<size_t>(size, 8));
  be::store_n(out.data() + size - n, v, n);
}

}  // namespace

const char* table_kind_name(TableKind k) {
  switch (k) {
    case TableKind::Hash:
      return "hash";
    case TableKind::Array:
      return "array";
    case TableKind::Lpm4:
      return "lpm4";
    case TableKind::Lpm6:
      return "lpm6";
    case TableKind::Lru:
      return "lru";
  }
  return "?";
}

std::string format_period(uint32_t ms) {
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

bool parse_key(const TableDecl& d, const std::string& text, std::vector<uint8_t>& key,
               uint32_t& prefix, std::string* why) {
  auto bad = [&](const std::string& m) {
    if (why) *why = "bad key '" + text + "': " + m;
    return false;
  };
  prefix = 0;
  if (d.kind == TableKind::Lpm4 || d.kind == TableKind::Lpm6) {
    std::string addr = text;
    uint32_t full = d.kind == TableKind::Lpm4 ? 32 : 128;
    prefix = full;
    if (auto slash = text.find('/'); slash != std::string::npos) {
      auto p = parse_int(text.substr(slash + 1));
      if (!p || *p < 0 || static_cast<uint64_t>(*p) > full)
        return bad("prefix length 0.." + std::to_string(full));
      prefix = static_cast<uint32_t>(*p);
      addr = text.substr(0, slash);
    }
    if (d.kind == TableKind::Lpm4) {
      auto v = parse_ipv4(addr);
      if (!v) return bad("expected an IPv4 address or prefix (10.0.0.0/8)");
      put_be(key, static_cast<uint64_t>(*v), 4);
    } else {
      auto v = parse_ipv6(addr);
      if (!v) return bad("expected an IPv6 address or prefix (2001:db8::/32)");
      key.assign(v->begin(), v->end());
    }
    return true;
  }
  if (d.kind == TableKind::Array) {
    auto v = parse_int(text);
    if (!v || *v < 0 || static_cast<uint64_t>(*v) >= d.max_entries)
      return bad("expected an index 0.." + std::to_string(d.max_entries - 1));
    put_be(key, static_cast<uint64_t>(*v), 4);
    return true;
  }
  if (parse_hex(text, d.key_size, key)) return true;
  if (d.key_size == 4)
    if (auto v = parse_ipv4(text)) return put_be(key, static_cast<uint64_t>(*v), 4), true;
  if (d.key_size == 6)
    if (auto v = parse_mac(text)) return put_be(key, static_cast<uint64_t>(*v), 6), true;
  if (d.key_size == 16)
    if (auto v = parse_ipv6(text)) return key.assign(v->begin(), v->end()), true;
  if (d.key_size <= 8)
    if (auto v = parse_int(text)) {
      if (d.key_size < 8 && (static_cast<uint64_t>(*v) >> (8 * d.key_size)) != 0)
        return bad("does not fit in " + std::to_string(d.key_size) + " bytes");
      return put_be(key, static_cast<uint64_t>(*v), d.key_size), true;
    }
  return bad("expected " +
             std::string(d.key_size == 4    ? "an IPv4 address, "
                         : d.key_size == 16 ? "an IPv6 address, "
                         : d.key_size == 6  ? "a MAC address, "
                                            : "") +
             (d.key_size <= 8 ? "a number or " : "") + std::to_string(d.key_size) +
             " bytes of hex (0x...)");
}

bool parse_value(const TableDecl& d, const std::string& text, std::vector<uint8_t>& value,
                 std::string* why) {
  if (parse_hex(text, d.value_size, value)) return true;
  if (d.value_size <= 8) {
    if (auto v = parse_int(text)) {
      value.assign(d.value_size, 0);
      uint64_t x = static_cast<uint64_t>(*v);
      std::memcpy(value.data(), &x, d.value_size);  // host order, as programs read values
      return true;
    }
  }
  if (why)
    *why = "bad value '" + text + "': expected " + (d.value_size <= 8 ? "a number or " : "") +
           std::to_string(d.value_size) + " bytes of hex (0x...)";
  return false;
}

std::string format_key(const TableDecl& d, std::span<const uint8_t> key, uint32_t prefix) {
  char b[64];
  std::string s;
  if (key.size() == 4 && d.kind != TableKind::Array) {
    std::snprintf(b, sizeof b, "%u.%u.%u.%u", key[0], key[1], key[2], key[3]);
    s = b;
  } else if (key.size() == 16) {
    for (size_t i = 0; i < 16; i += 2)
      std::snprintf(b, sizeof b, "%s%x", i ? ":" : "", be::load16(&key[i])), s += b;
  } else if (key.size() == 6) {
    std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", key[0], key[1], key[2], key[3],
                  key[4], key[5]);
    s = b;
  } else if (key.size() <= 8) {
    s = std::to_string(be::load_n(key.data(), key.size()));
  } else {
    s = hex(key);
  }
  if (d.kind == TableKind::Lpm4 || d.kind == TableKind::Lpm6) s += "/" + std::to_string(prefix);
  return s;
}

std::string format_value(const TableDecl& d, std::span<const uint8_t> value) {
  if (d.value_size > 8) return hex(value);
  uint64_t v = 0;
  std::memcpy(&v, value.data(), std::min<size_t>(value.size(), 8));
  return std::to_string(v);
}

}  // namespace netcpu
