#include "netcpu/packet_summary.h"

#include <cstdio>

#include "byte_order.h"
#include "netcpu/protocols.h"

namespace netcpu {
namespace {

uint32_t be16(std::span<const uint8_t> p, size_t off) {
  return off + 2 <= p.size() ? be::load16(&p[off]) : 0;
}

std::string ip4(std::span<const uint8_t> p, size_t off) {
  if (off + 4 > p.size()) return "?";
  char b[16];
  std::snprintf(b, sizeof b, "%u.%u.%u.%u", p[off], p[off + 1], p[off + 2], p[off + 3]);
  return b;
}

// RFC 5952, as inet_ntop writes it: the longest run of two or more zero
// groups (the first of equals) is "::".
std::string ip6(std::span<const uint8_t> p, size_t off) {
  if (off + 16 > p.size()) return "?";
  uint32_t g[8];
  for (size_t i = 0; i < 8; ++i) g[i] = be16(p, off + 2 * i);
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) best = i, best_len = j - i;
    i = j == i ? i + 1 : j;
  }
  std::string s;
  char b[8];
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      s += "::";
      i += best_len - 1;
      continue;
    }
    std::snprintf(b, sizeof b, "%x", g[i]);
    if (!s.empty() && s.back() != ':') s += ':';
    s += b;
  }
  return s;
}

std::string mac(std::span<const uint8_t> p, size_t off) {
  if (off + 6 > p.size()) return "?";
  char b[20];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", p[off], p[off + 1], p[off + 2],
                p[off + 3], p[off + 4], p[off + 5]);
  return b;
}

// tcpdump's length for ARP is what follows the link header, padding included.
std::string arp(std::span<const uint8_t> p, const Headers& h) {
  const size_t a = h.l3;
  const uint32_t op = be16(p, a + 6);
  const std::string length = ", length " + std::to_string(p.size() - a);
  if (op == 1) return "ARP, Request who-has " + ip4(p, a + 24) + " tell " + ip4(p, a + 14) + length;
  if (op == 2) return "ARP, Reply " + ip4(p, a + 14) + " is-at " + mac(p, a + 8) + length;
  return "ARP, opcode " + std::to_string(op) + length;
}

}  // namespace

std::string packet_summary(std::span<const uint8_t> p, LinkType link) {
  const Headers h = parse_headers(p, link);
  if (h.has(has::kArp)) return arp(p, h);
  const bool v4 = h.has(has::kIp4), v6 = h.has(has::kIp6);
  if (!v4 && !v6) {
    if (link == LinkType::Ethernet && p.size() >= 14) {
      char type[8];
      std::snprintf(type, sizeof type, "0x%04x", h.eth_type);
      return mac(p, 6) + " > " + mac(p, 0) + ", ethertype " + type + ", length " +
             std::to_string(p.size());
    }
    return "length " + std::to_string(p.size());
  }
  const size_t l3 = h.l3;
  // Lengths from the headers, as tcpdump's: what the IP header says is there.
  const uint32_t total = v4 ? be16(p, l3 + 2) : 40 + be16(p, l3 + 4);
  const uint32_t after_ip = total > h.ip_hlen ? total - h.ip_hlen : 0;
  const std::string src = v4 ? ip4(p, l3 + 12) : ip6(p, l3 + 8);
  const std::string dst = v4 ? ip4(p, l3 + 16) : ip6(p, l3 + 24);
  std::string s = v4 ? "IP " : "IP6 ";
  const bool ports = h.has(has::kTcp) || h.has(has::kUdp);
  if (ports)
    s += src + "." + std::to_string(be16(p, h.l4)) + " > " + dst + "." +
         std::to_string(be16(p, h.l4 + 2)) + ": ";
  else
    s += src + " > " + dst + ": ";
  if (h.has(has::kTcp)) {
    const uint32_t hlen = (size_t{h.l4} + 12 < p.size() ? p[h.l4 + 12] >> 4 : 5) * 4u;
    return s + "tcp " + std::to_string(after_ip > hlen ? after_ip - hlen : 0);
  }
  if (h.has(has::kUdp)) {
    const uint32_t ulen = be16(p, h.l4 + 4);
    return s + "UDP, length " + std::to_string(ulen > 8 ? ulen - 8 : 0);
  }
  if (h.has(has::kIcmp) && size_t{h.l4} + 8 <= p.size()) {
    const uint8_t type = p[h.l4], code = p[h.l4 + 1];
    const bool request = v4 ? type == 8 : type == 128, reply = v4 ? type == 0 : type == 129;
    std::string icmp = v4 ? "ICMP " : "ICMP6, ";
    if (request || reply)
      return s + icmp + (request ? "echo request" : "echo reply") + ", id " +
             std::to_string(be16(p, h.l4 + 4)) + ", seq " + std::to_string(be16(p, h.l4 + 6)) +
             ", length " + std::to_string(after_ip);
    return s + icmp + "type " + std::to_string(type) + " code " + std::to_string(code) +
           ", length " + std::to_string(after_ip);
  }
  if (h.has(has::kFrag) && h.ip_fragoff)
    return s + "frag at " + std::to_string(h.ip_fragoff) + " of ip-proto-" +
           std::to_string(h.ip_proto) + ", length " + std::to_string(after_ip);
  return s + "ip-proto-" + std::to_string(h.ip_proto) + ", length " + std::to_string(after_ip);
}

}  // namespace netcpu
