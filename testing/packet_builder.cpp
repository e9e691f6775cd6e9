#include "packet_builder.h"

#include <arpa/inet.h>

#include <algorithm>
#include <span>
#include <stdexcept>
#include <string>

#include "netcpu/protocols.h"

namespace netcpu::packets {
namespace {

constexpr uint8_t kExtHopByHop = 0;
constexpr uint8_t kExtRouting = 43;
constexpr uint8_t kExtFragment = 44;
constexpr uint8_t kExtDestOptions = 60;

constexpr size_t kIp4Header = 20;
constexpr size_t kIp6Header = 40;
constexpr size_t kMaxIpLength = 0xffff;

void put8(Bytes& b, uint8_t v) { b.push_back(v); }
void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
void append(Bytes& b, std::span<const uint8_t> data) {
  b.insert(b.end(), data.begin(), data.end());
}
void set16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}

// RFC 1071 one's complement sum. 64 bits of accumulator cannot overflow for
// anything an IP packet can hold, so carries fold once at the end.
uint64_t sum16(std::span<const uint8_t> data, uint64_t sum = 0) {
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += static_cast<uint64_t>(data[i] << 8 | data[i + 1]);
  if (i < data.size()) sum += static_cast<uint64_t>(data[i]) << 8;
  return sum;
}
uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Castagnoli CRC (SCTP), reflected, bitwise: packets are small and this runs
// in tools only, so a table is not worth its lines.
uint32_t crc32c(std::span<const uint8_t> data) {
  uint32_t crc = 0xffffffff;
  for (uint8_t byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78 & (0u - (crc & 1)));
  }
  return ~crc;
}

Bytes pad_to(Bytes b, size_t multiple) {
  b.resize((b.size() + multiple - 1) / multiple * multiple, 0);
  return b;
}

// The addresses a transport checksum covers.
struct Pseudo {
  bool v6 = false;
  Bytes src;
  Bytes dst;  // the final destination (RFC 8200 8.1)
};

uint64_t pseudo_sum(const Pseudo& p, uint8_t proto, size_t len) {
  uint64_t sum = sum16(p.src) + sum16(p.dst) + proto;
  return sum + (len >> 16) + (len & 0xffff);
}

using L4 = std::variant<std::monostate, Tcp, Udp, IcmpEcho, Icmp, Sctp, RawL4>;

[[noreturn]] void no_transport() {
  throw std::logic_error("PacketBuilder: IP packet without a transport layer (use raw())");
}

uint8_t l4_protocol(const L4& l4, bool v6) {
  if (std::holds_alternative<Tcp>(l4)) return kProtoTcp;
  if (std::holds_alternative<Udp>(l4)) return kProtoUdp;
  if (std::holds_alternative<IcmpEcho>(l4) || std::holds_alternative<Icmp>(l4)) {
    return v6 ? kProtoIcmp6 : kProtoIcmp;
  }
  if (std::holds_alternative<Sctp>(l4)) return kProtoSctp;
  if (const auto* r = std::get_if<RawL4>(&l4)) return r->protocol;
  no_transport();
}

Bytes icmp_message(const Pseudo& ip, uint8_t type, uint8_t code, uint32_t rest,
                   const Bytes& payload) {
  Bytes b;
  put8(b, type);
  put8(b, code);
  put16(b, 0);
  put32(b, rest);
  append(b, payload);
  // ICMPv6 sums a pseudo-header, ICMP over IPv4 only itself.
  const uint64_t start = ip.v6 ? pseudo_sum(ip, kProtoIcmp6, b.size()) : 0;
  set16(b, 2, fold(sum16(b, start)));
  return b;
}

Bytes render_l4(const L4& l4, const Pseudo& ip) {
  Bytes b;
  if (const auto* t = std::get_if<Tcp>(&l4)) {
    const Bytes options = pad_to(t->options, 4);
    if (options.size() > 40) throw std::logic_error("PacketBuilder: TCP options exceed 40 bytes");
    put16(b, t->sport);
    put16(b, t->dport);
    put32(b, t->seq);
    put32(b, t->ack);
    put8(b, static_cast<uint8_t>((20 + options.size()) / 4 << 4));
    put8(b, t->flags);
    put16(b, t->window);
    put16(b, 0);
    put16(b, t->urgent);
    append(b, options);
    append(b, t->payload);
    set16(b, 16, fold(sum16(b, pseudo_sum(ip, kProtoTcp, b.size()))));
  } else if (const auto* u = std::get_if<Udp>(&l4)) {
    put16(b, u->sport);
    put16(b, u->dport);
    put16(b, static_cast<uint16_t>(8 + u->payload.size()));
    put16(b, 0);
    append(b, u->payload);
    const uint16_t sum = fold(sum16(b, pseudo_sum(ip, kProtoUdp, b.size())));
    set16(b, 6, sum == 0 ? 0xffff : sum);  // 0 would mean "no checksum"
  } else if (const auto* e = std::get_if<IcmpEcho>(&l4)) {
    const uint8_t type = ip.v6 ? (e->reply ? 129 : 128) : (e->reply ? 0 : 8);
    b = icmp_message(ip, type, 0, static_cast<uint32_t>(e->id) << 16 | e->seq, e->payload);
  } else if (const auto* m = std::get_if<Icmp>(&l4)) {
    b = icmp_message(ip, m->type, m->code, m->rest, m->payload);
  } else if (const auto* s = std::get_if<Sctp>(&l4)) {
    put16(b, s->sport);
    put16(b, s->dport);
    put32(b, s->vtag);
    put32(b, 0);
    append(b, s->chunks);
    // SCTP stores the CRC least significant byte first (RFC 4960 appendix B).
    const uint32_t crc = crc32c(b);
    for (int k = 0; k < 4; ++k) b[8 + k] = static_cast<uint8_t>(crc >> (8 * k));
  } else if (const auto* r = std::get_if<RawL4>(&l4)) {
    b = r->data;
  } else {
    no_transport();
  }
  return b;
}

Bytes ipv4_header(const Ipv4& ip, uint8_t proto, size_t payload_len) {
  if (ip.frag_offset % 8 != 0 || ip.frag_offset > 0x1fff * 8) {
    throw std::logic_error(
        "PacketBuilder: IPv4 fragment offset must be a multiple of 8 below 64 KiB");
  }
  const Bytes options = pad_to(ip.options, 4);
  const size_t hlen = kIp4Header + options.size();
  if (hlen > 60) throw std::logic_error("PacketBuilder: IPv4 options exceed 40 bytes");
  if (hlen + payload_len > kMaxIpLength)
    throw std::logic_error("PacketBuilder: IPv4 packet over 64 KiB");
  Bytes b;
  put8(b, static_cast<uint8_t>(0x40 | hlen / 4));
  put8(b, ip.tos);
  put16(b, static_cast<uint16_t>(hlen + payload_len));
  put16(b, ip.id);
  put16(b, static_cast<uint16_t>((ip.df ? 0x4000 : 0) | (ip.mf ? 0x2000 : 0) | ip.frag_offset / 8));
  put8(b, ip.ttl);
  put8(b, proto);
  put16(b, 0);
  put32(b, ip.src);
  put32(b, ip.dst);
  append(b, options);
  set16(b, 10, fold(sum16(b)));
  return b;
}

Bytes ipv6_packet(const Ipv6& ip, std::span<const Ipv6Ext> ext, uint8_t last_next,
                  std::span<const uint8_t> payload) {
  size_t len = payload.size();
  for (const Ipv6Ext& e : ext) len += 1 + e.body.size();
  if (len > kMaxIpLength) throw std::logic_error("PacketBuilder: IPv6 payload over 64 KiB");
  Bytes b;
  put32(b, 6u << 28 | static_cast<uint32_t>(ip.traffic_class) << 20 | (ip.flow_label & 0xfffff));
  put16(b, static_cast<uint16_t>(len));
  put8(b, ext.empty() ? last_next : ext[0].type);
  put8(b, ip.hop_limit);
  append(b, ip.src);
  append(b, ip.dst);
  for (size_t i = 0; i < ext.size(); ++i) {
    put8(b, i + 1 < ext.size() ? ext[i + 1].type : last_next);
    append(b, ext[i].body);
  }
  append(b, payload);
  return b;
}

Pseudo pseudo4(const Ipv4& ip) {
  Pseudo p;
  put32(p.src, ip.src);
  put32(p.dst, ip.dst);
  return p;
}

Pseudo pseudo6(const Ipv6& ip) {
  Pseudo p{.v6 = true, .src = Bytes(ip.src.begin(), ip.src.end()), .dst = {}};
  p.dst.assign(ip.dst.begin(), ip.dst.end());
  for (const Ipv6Ext& e : ip.ext) {
    // A routing header still to be followed ends at the final destination.
    if (e.type == kExtRouting && e.body.size() >= 7 + 16 && e.body[2] > 0) {
      p.dst.assign(e.body.end() - 16, e.body.end());
    }
  }
  return p;
}

Bytes arp_body(const Arp& a) {
  Bytes b;
  put16(b, 1);  // Ethernet
  put16(b, kTypeIp4);
  put8(b, 6);
  put8(b, 4);
  put16(b, a.op);
  append(b, a.sha);
  put32(b, a.spa);
  append(b, a.tha);
  put32(b, a.tpa);
  return b;
}

// IPv4 options that every fragment repeats (RFC 791: the copied flag).
Bytes copied_options(const Bytes& options) {
  Bytes out;
  for (size_t i = 0; i < options.size();) {
    const uint8_t type = options[i];
    if (type == 0) break;  // end of list
    if (type == 1) {       // no-op
      ++i;
      continue;
    }
    if (i + 1 >= options.size()) break;
    const size_t len = options[i + 1];
    if (len < 2 || i + len > options.size()) break;
    if (type & 0x80) out.insert(out.end(), options.begin() + i, options.begin() + i + len);
    i += len;
  }
  return out;
}

Ipv6Ext options_header(uint8_t type, const Bytes& options) {
  Ipv6Ext e{.type = type, .body = {0}};
  append(e.body, options);
  const size_t pad = (8 - (1 + e.body.size()) % 8) % 8;
  if (pad == 1) {
    put8(e.body, 0);  // Pad1
  } else if (pad > 1) {
    put8(e.body, 1);  // PadN
    put8(e.body, static_cast<uint8_t>(pad - 2));
    e.body.insert(e.body.end(), pad - 2, 0);
  }
  e.body[0] = static_cast<uint8_t>((1 + e.body.size()) / 8 - 1);
  return e;
}

}  // namespace

Mac mac_addr(std::string_view text) {
  Mac m{};
  size_t pos = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    if (i > 0) {
      if (pos >= text.size() || text[pos] != ':') break;
      ++pos;
    }
    int value = 0;
    size_t digits = 0;
    for (; digits < 2 && pos < text.size(); ++digits, ++pos) {
      const char c = text[pos];
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0) break;
      value = value * 16 + d;
    }
    if (digits == 0) throw std::invalid_argument("bad MAC address: " + std::string(text));
    m[i] = static_cast<uint8_t>(value);
    if (i + 1 == m.size() && pos == text.size()) return m;
  }
  throw std::invalid_argument("bad MAC address: " + std::string(text));
}

Mac mac_addr(uint64_t value) {
  Mac m{};
  for (size_t i = m.size(); i-- > 0; value >>= 8) m[i] = static_cast<uint8_t>(value);
  return m;
}

uint32_t ip4_addr(std::string_view text) {
  in_addr a{};
  if (inet_pton(AF_INET, std::string(text).c_str(), &a) != 1) {
    throw std::invalid_argument("bad IPv4 address: " + std::string(text));
  }
  return ntohl(a.s_addr);
}

Ip6Addr ip6_addr(std::string_view text) {
  Ip6Addr a{};
  if (inet_pton(AF_INET6, std::string(text).c_str(), a.data()) != 1) {
    throw std::invalid_argument("bad IPv6 address: " + std::string(text));
  }
  return a;
}

Bytes bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

Ipv6Ext ip6_hop_by_hop(const Bytes& options) { return options_header(kExtHopByHop, options); }
Ipv6Ext ip6_dest_options(const Bytes& options) { return options_header(kExtDestOptions, options); }

Ipv6Ext ip6_routing(const std::vector<Ip6Addr>& addresses, uint8_t segments_left,
                    uint8_t routing_type) {
  if (addresses.size() > 127) throw std::logic_error("PacketBuilder: too many routing addresses");
  Ipv6Ext e{.type = kExtRouting, .body = {}};
  put8(e.body, static_cast<uint8_t>(2 * addresses.size()));
  put8(e.body, routing_type);
  put8(e.body, segments_left);
  put32(e.body, 0);
  for (const Ip6Addr& a : addresses) append(e.body, a);
  return e;
}

Ipv6Ext ip6_fragment(uint16_t offset, bool more, uint32_t id) {
  if (offset % 8 != 0) throw std::logic_error("PacketBuilder: fragment offset not a multiple of 8");
  Ipv6Ext e{.type = kExtFragment, .body = {0}};
  put16(e.body, static_cast<uint16_t>(offset | (more ? 1 : 0)));
  put32(e.body, id);
  return e;
}

Bytes ip4_record_route(size_t slots, const std::vector<uint32_t>& recorded) {
  if (slots == 0 || slots > 9 || recorded.size() > slots) {
    throw std::logic_error("PacketBuilder: record route takes 1..9 slots");
  }
  Bytes b;
  put8(b, 7);
  put8(b, static_cast<uint8_t>(3 + 4 * slots));
  put8(b, static_cast<uint8_t>(4 + 4 * recorded.size()));  // pointer to the next free slot, from 1
  for (uint32_t a : recorded) put32(b, a);
  b.resize(3 + 4 * slots, 0);
  return b;
}

Bytes tcp_mss_option(uint16_t mss) {
  Bytes b = {2, 4};
  put16(b, mss);
  return b;
}

Bytes sctp_init_chunk(uint32_t initiate_tag, uint32_t a_rwnd, uint16_t outbound_streams,
                      uint16_t inbound_streams, uint32_t initial_tsn) {
  Bytes b;
  put8(b, 1);  // INIT
  put8(b, 0);
  put16(b, 20);
  put32(b, initiate_tag);
  put32(b, a_rwnd);
  put16(b, outbound_streams);
  put16(b, inbound_streams);
  put32(b, initial_tsn);
  return b;
}

PacketBuilder& PacketBuilder::eth(Mac dst, Mac src) {
  eth_.emplace(dst, src);
  return *this;
}

PacketBuilder& PacketBuilder::vlan(uint16_t vid, uint8_t pcp, uint16_t tpid) {
  if (vid > 0xfff || pcp > 7)
    throw std::logic_error("PacketBuilder: VLAN id or priority out of range");
  tags_.push_back({tpid, static_cast<uint16_t>(pcp << 13 | vid)});
  return *this;
}

PacketBuilder& PacketBuilder::arp(const Arp& arp) {
  l3_ = arp;
  return *this;
}
PacketBuilder& PacketBuilder::ipv4(const Ipv4& ip) {
  l3_ = ip;
  return *this;
}
PacketBuilder& PacketBuilder::ipv6(const Ipv6& ip) {
  l3_ = ip;
  return *this;
}
PacketBuilder& PacketBuilder::tcp(const Tcp& tcp) {
  l4_ = tcp;
  return *this;
}
PacketBuilder& PacketBuilder::udp(const Udp& udp) {
  l4_ = udp;
  return *this;
}
PacketBuilder& PacketBuilder::icmp_echo(const IcmpEcho& echo) {
  l4_ = echo;
  return *this;
}
PacketBuilder& PacketBuilder::icmp(const Icmp& icmp) {
  l4_ = icmp;
  return *this;
}
PacketBuilder& PacketBuilder::sctp(const Sctp& sctp) {
  l4_ = sctp;
  return *this;
}
PacketBuilder& PacketBuilder::raw(const RawL4& raw) {
  l4_ = raw;
  return *this;
}

Bytes PacketBuilder::frame(const Bytes& l3, uint16_t ethertype) const {
  if (!eth_) throw std::logic_error("PacketBuilder: VLAN tags or ARP without eth()");
  Bytes b;
  append(b, eth_->first);
  append(b, eth_->second);
  for (const Tag& t : tags_) {
    put16(b, t.tpid);
    put16(b, t.tci);
  }
  put16(b, ethertype);
  append(b, l3);
  if (b.size() < kMinFrame) b.resize(kMinFrame, 0);
  return b;
}

Bytes PacketBuilder::build_ip() const {
  if (const auto* ip = std::get_if<Ipv4>(&l3_)) {
    const Bytes l4 = render_l4(l4_, pseudo4(*ip));
    Bytes b = ipv4_header(*ip, l4_protocol(l4_, false), l4.size());
    append(b, l4);
    return b;
  }
  if (const auto* ip = std::get_if<Ipv6>(&l3_)) {
    const Bytes l4 = render_l4(l4_, pseudo6(*ip));
    return ipv6_packet(*ip, ip->ext, l4_protocol(l4_, true), l4);
  }
  throw std::logic_error("PacketBuilder: no IP layer");
}

Bytes PacketBuilder::build() const {
  if (const auto* a = std::get_if<Arp>(&l3_)) return frame(arp_body(*a), kTypeArp);
  Bytes ip = build_ip();
  if (!eth_) {
    if (!tags_.empty()) throw std::logic_error("PacketBuilder: VLAN tags without eth()");
    return ip;
  }
  return frame(ip, std::holds_alternative<Ipv6>(l3_) ? kTypeIp6 : kTypeIp4);
}

std::vector<Bytes> PacketBuilder::build_fragments(size_t max_payload, uint32_t ip6_id) const {
  const size_t chunk = max_payload & ~size_t{7};
  if (chunk == 0) throw std::logic_error("PacketBuilder: fragments need at least 8 bytes of data");
  const Bytes whole = build_ip();
  std::vector<Bytes> packets;

  if (const auto* ip = std::get_if<Ipv4>(&l3_)) {
    const size_t hlen = (whole[0] & 0x0f) * size_t{4};
    const std::span<const uint8_t> data(whole.begin() + static_cast<ptrdiff_t>(hlen), whole.end());
    if (data.size() <= chunk) {
      packets.push_back(whole);
    } else {
      for (size_t off = 0; off < data.size(); off += chunk) {
        const size_t n = std::min(chunk, data.size() - off);
        Ipv4 h = *ip;
        // Refragmenting a fragment keeps its place in the original datagram.
        h.frag_offset = static_cast<uint16_t>(ip->frag_offset + off);
        h.mf = off + n < data.size() || ip->mf;
        if (off > 0) h.options = copied_options(ip->options);
        Bytes b = ipv4_header(h, whole[9], n);
        append(b, data.subspan(off, n));
        packets.push_back(std::move(b));
      }
    }
  } else {
    const auto& ip6 = std::get<Ipv6>(l3_);
    size_t per_fragment = 0;  // hop-by-hop, routing and what precedes them repeat in every fragment
    for (size_t i = 0; i < ip6.ext.size(); ++i) {
      if (ip6.ext[i].type == kExtFragment) {
        throw std::logic_error("PacketBuilder: already has a fragment header");
      }
      if (ip6.ext[i].type == kExtHopByHop || ip6.ext[i].type == kExtRouting) per_fragment = i + 1;
    }
    size_t fixed = kIp6Header;
    for (size_t i = 0; i < per_fragment; ++i) fixed += 1 + ip6.ext[i].body.size();
    const std::span<const uint8_t> data(whole.begin() + static_cast<ptrdiff_t>(fixed), whole.end());
    if (data.size() <= chunk) {
      packets.push_back(whole);
    } else {
      // What used to follow the per-fragment headers now follows the fragment header.
      const uint8_t first_fragmentable =
          per_fragment < ip6.ext.size() ? ip6.ext[per_fragment].type : l4_protocol(l4_, true);
      for (size_t off = 0; off < data.size(); off += chunk) {
        const size_t n = std::min(chunk, data.size() - off);
        std::vector<Ipv6Ext> ext(ip6.ext.begin(),
                                 ip6.ext.begin() + static_cast<ptrdiff_t>(per_fragment));
        ext.push_back(ip6_fragment(static_cast<uint16_t>(off), off + n < data.size(), ip6_id));
        packets.push_back(ipv6_packet(ip6, ext, first_fragmentable, data.subspan(off, n)));
      }
    }
  }

  if (eth_) {
    const uint16_t type = std::holds_alternative<Ipv6>(l3_) ? kTypeIp6 : kTypeIp4;
    for (Bytes& p : packets) p = frame(p, type);
  } else if (!tags_.empty()) {
    throw std::logic_error("PacketBuilder: VLAN tags without eth()");
  }
  return packets;
}

Bytes arp_request(Mac sha, uint32_t spa, uint32_t tpa) {
  return PacketBuilder()
      .eth(kBroadcastMac, sha)
      .arp({.op = kArpRequest, .sha = sha, .spa = spa, .tha = {}, .tpa = tpa})
      .build();
}

Bytes arp_reply(Mac sha, uint32_t spa, Mac tha, uint32_t tpa) {
  return PacketBuilder()
      .eth(tha, sha)
      .arp({.op = kArpReply, .sha = sha, .spa = spa, .tha = tha, .tpa = tpa})
      .build();
}

// ---------------------------------------------------------------------------
// Synthetic traffic.

namespace {

// SplitMix64. Not std::mt19937 with std::uniform_int_distribution: the
// distributions are implementation-defined, and benchmark inputs must be the
// same frames with every standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
  uint32_t range(uint32_t lo, uint32_t hi) { return lo + below(hi - lo + 1); }  // inclusive
  template <typename T, size_t N>
  T pick(const std::array<T, N>& items) {
    return items[below(N)];
  }

 private:
  uint64_t state_;
};

constexpr std::array<uint32_t, 4> kNets4 = {0x0a000000, 0x0a010200, 0xc0a80100, 0xac100500};
constexpr std::array<uint16_t, 5> kTcpServices = {22, 25, 80, 443, 8080};
constexpr std::array<uint16_t, 3> kUdpServices = {53, 123, 443};

// Locally administered MACs that spell the address, so a frame's MACs and IPs agree.
Mac mac_of4(uint32_t ip) { return mac_addr(0x0200'0000'0000ull | ip); }

Ip6Addr host6(Rng& rng, uint8_t net) {
  Ip6Addr a = ip6_addr("2001:db8::");
  a[5] = net;
  a[14] = static_cast<uint8_t>(rng.below(256));
  a[15] = static_cast<uint8_t>(rng.range(1, 255));
  return a;
}
Mac mac_of6(const Ip6Addr& a) { return {0x02, 0x00, 0x00, a[5], a[14], a[15]}; }

// Filler payload that is easy to recognise in a hex dump and never spells
// anything a test might grep for.
Bytes filler(Rng& rng, size_t n) {
  Bytes b(n);
  const uint8_t start = static_cast<uint8_t>(rng.below(256));
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(start + i);
  return b;
}

struct Ports {
  uint16_t sport;
  uint16_t dport;
};

// A service port (or a random one) on one side and an ephemeral port on the
// other; half of the frames go server to client.
template <size_t N>
Ports ports(Rng& rng, const std::array<uint16_t, N>& services) {
  const uint16_t service =
      rng.below(5) == 0 ? static_cast<uint16_t>(rng.range(1, 65535)) : rng.pick(services);
  const uint16_t ephemeral = static_cast<uint16_t>(rng.range(32768, 60999));
  if (rng.below(2) == 0) return {ephemeral, service};
  return {service, ephemeral};
}

}  // namespace

std::vector<Bytes> synthetic_packets(size_t n, uint32_t seed) {
  Rng rng(seed);
  std::vector<Bytes> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t kind = rng.below(100);
    if (kind >= 95) {  // ARP within one /24
      const uint32_t net = rng.pick(kNets4);
      const uint32_t a = net | rng.range(1, 254);
      const uint32_t b = net | rng.range(1, 254);
      out.push_back(rng.below(2) == 0 ? arp_request(mac_of4(a), a, b)
                                      : arp_reply(mac_of4(b), b, mac_of4(a), a));
      continue;
    }
    const bool v6 = kind >= 65;
    PacketBuilder pb;
    size_t header = 14;
    if (v6) {
      const Ip6Addr src = host6(rng, static_cast<uint8_t>(rng.range(1, 2)));
      const Ip6Addr dst = host6(rng, static_cast<uint8_t>(rng.range(1, 2)));
      pb.eth(mac_of6(dst), mac_of6(src))
          .ipv6({.src = src,
                 .dst = dst,
                 .hop_limit = static_cast<uint8_t>(rng.pick(std::array<uint32_t, 3>{64, 128, 255})),
                 .traffic_class = 0,
                 .flow_label = rng.below(1 << 20),
                 .ext = {}});
      header += kIp6Header;
    } else {
      const uint32_t src = rng.pick(kNets4) | rng.range(1, 254);
      const uint32_t dst = rng.pick(kNets4) | rng.range(1, 254);
      pb.eth(mac_of4(dst), mac_of4(src))
          .ipv4({.src = src,
                 .dst = dst,
                 .ttl = static_cast<uint8_t>(rng.pick(std::array<uint32_t, 3>{64, 128, 255})),
                 .id = static_cast<uint16_t>(rng.below(65536)),
                 .tos = 0,
                 .df = rng.below(2) == 0,
                 .mf = false,
                 .frag_offset = 0,
                 .options = {}});
      header += kIp4Header;
    }
    if (rng.below(16) == 0) {
      if (rng.below(4) == 0) {
        pb.vlan(static_cast<uint16_t>(rng.range(1, 4094)), 0, kTpid8021ad);
        header += 4;
      }
      pb.vlan(static_cast<uint16_t>(rng.range(1, 4094)), static_cast<uint8_t>(rng.below(8)));
      header += 4;
    }

    const bool tcp = kind < 40 || (kind >= 65 && kind < 80);
    const bool udp = (kind >= 40 && kind < 60) || (kind >= 80 && kind < 90);
    header += tcp ? 20 : 8;  // UDP and ICMP echo headers are both 8 bytes
    // Mostly small frames, a fair share of full-sized ones: the usual bimodal mix.
    const uint32_t bucket = rng.below(100);
    const size_t target = bucket < 45   ? rng.range(60, 128)
                          : bucket < 70 ? rng.range(129, 1000)
                                        : rng.range(1001, 1514);
    size_t payload = target > header ? target - header : 0;

    if (tcp) {
      const Ports p = ports(rng, kTcpServices);
      const uint32_t f = rng.below(20);
      using namespace tcp_flags;
      uint8_t flags = payload > 0 ? kPsh | kAck : kAck;
      if (f == 0) flags = kSyn;
      if (f == 1) flags = kSyn | kAck;
      if (f == 2) flags = kFin | kAck;
      if (f == 3) flags = kRst | kAck;
      if (flags & (kSyn | kRst)) payload = 0;
      pb.tcp({.sport = p.sport,
              .dport = p.dport,
              .seq = static_cast<uint32_t>(rng.next()),
              .ack = flags & kAck ? static_cast<uint32_t>(rng.next()) : 0,
              .flags = flags,
              .window = static_cast<uint16_t>(rng.range(1024, 65535)),
              .urgent = 0,
              .options = {},
              .payload = filler(rng, payload)});
    } else if (udp) {
      const Ports p = ports(rng, kUdpServices);
      pb.udp({.sport = p.sport, .dport = p.dport, .payload = filler(rng, payload)});
    } else {
      pb.icmp_echo({.reply = rng.below(2) == 1,
                    .id = static_cast<uint16_t>(rng.below(65536)),
                    .seq = static_cast<uint16_t>(rng.below(1024)),
                    .payload = filler(rng, payload)});
    }
    out.push_back(pb.build());
  }
  return out;
}

}  // namespace netcpu::packets
