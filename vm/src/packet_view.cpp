#include "netcpu/packet_view.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>

#include "byte_order.h"
#include "netcpu/protocols.h"

namespace netcpu {
namespace {

constexpr size_t kIp6Header = 40;
constexpr size_t kArpBody = 28;  // IPv4 over Ethernet
// A chain longer than this is an attack or garbage, not a real packet.
constexpr int kMaxExtHeaders = 16;

// Bounds-checked big-endian reads: every read of the packet goes through
// these, so a stale or forged Headers can never make us read outside pkt.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> pkt) : pkt_(pkt) {}

  size_t size() const { return pkt_.size(); }
  bool fits(size_t off, size_t n) const { return off <= pkt_.size() && n <= pkt_.size() - off; }
  uint8_t u8(size_t off) const { return fits(off, 1) ? pkt_[off] : 0; }
  uint16_t u16(size_t off) const { return fits(off, 2) ? be::load16(&pkt_[off]) : 0; }
  uint32_t u32(size_t off) const { return fits(off, 4) ? be::load32(&pkt_[off]) : 0; }
  uint64_t u48(size_t off) const { return fits(off, 6) ? be::load_n(&pkt_[off], 6) : 0; }
  // Reads inside a range a fits() check has passed: no second check.
  uint8_t u8_in(size_t off) const { return pkt_[off]; }
  uint16_t u16_in(size_t off) const { return be::load16(&pkt_[off]); }

 private:
  std::span<const uint8_t> pkt_;
};

// Written out: on every parse of every frame, a loop over the table costs
// more than the rest of the Ethernet header.
bool is_vlan_tpid(uint16_t type) {
  static_assert(std::size(kVlanTpids) == 3, "one compare per TPID");
  return type == kVlanTpids[0] || type == kVlanTpids[1] || type == kVlanTpids[2];
}

// The transport header at `off`. l4 and payload point there even when the
// protocol is unknown or the header is absent (non-first fragment), so that
// programs can still find the bytes after the network header.
void parse_transport(const Reader& r, Headers& h, size_t off) {
  h.l4 = static_cast<uint16_t>(off);
  h.payload = h.l4;
  if (h.ip_fragoff != 0) return;
  const bool v6 = h.has(has::kIp6);
  uint32_t found = 0;
  size_t payload = off;
  switch (h.ip_proto) {
    case kProtoTcp:
      if (r.fits(off, 20)) {
        const size_t data_off = (r.u8_in(off + 12) >> 4) * size_t{4};
        if (data_off >= 20) {
          found = has::kTcp;
          payload = std::min(off + data_off, r.size());
        }
      }
      break;
    case kProtoUdp:
      if (r.fits(off, 8)) {
        found = has::kUdp;
        payload = off + 8;
      }
      break;
    case kProtoSctp:
      if (r.fits(off, 12)) {
        found = has::kSctp;
        payload = off + 12;
      }
      break;
    case kProtoIcmp:
    case kProtoIcmp6:
      // Each ICMP flavour only means something over its own IP version.
      if ((h.ip_proto == kProtoIcmp6) == v6 && r.fits(off, 4)) {
        found = has::kIcmp;
        // Type, code and checksum, then 4 type-specific bytes when present.
        payload = r.fits(off, 8) ? off + 8 : off + 4;
      }
      break;
    default:
      break;
  }
  if (found != 0) {
    h.flags |= has::kL4 | found;
    h.payload = static_cast<uint16_t>(payload);
  }
}

void parse_ipv4(const Reader& r, Headers& h) {
  const size_t l3 = h.l3;
  if (!r.fits(l3, kIp4MinHeader)) return;
  const uint8_t ver_ihl = r.u8_in(l3);
  const size_t hlen = (ver_ihl & 0x0f) * size_t{4};
  if (ver_ihl >> 4 != 4 || hlen < kIp4MinHeader || !r.fits(l3, hlen)) return;

  h.flags |= has::kIp4;
  h.ip_hlen = static_cast<uint16_t>(hlen);
  h.ip_proto = r.u8_in(l3 + 9);
  h.ip_id = r.u16_in(l3 + 4);
  const uint16_t frag = r.u16_in(l3 + 6);
  h.ip_mf = (frag >> 13) & 1;
  h.ip_fragoff = (frag & 0x1fffu) * 8;
  if (h.ip_mf != 0 || h.ip_fragoff != 0) h.flags |= has::kFrag;
  parse_transport(r, h, l3 + hlen);
}

void parse_ipv6(const Reader& r, Headers& h) {
  const size_t l3 = h.l3;
  if (!r.fits(l3, kIp6Header) || r.u8(l3) >> 4 != 6) return;
  h.flags |= has::kIp6;

  uint8_t next = r.u8(l3 + 6);
  size_t off = l3 + kIp6Header;
  for (int count = 0;; ++count) {
    size_t len = 0;
    switch (next) {
      case 0:   // hop-by-hop options
      case 43:  // routing
      case 60:  // destination options
        // A length byte beyond the end reads 0, and then even the minimum
        // length does not fit: the check below catches both.
        len = (r.u8(off + 1) + size_t{1}) * 8;
        break;
      case 51:  // AH counts in 4-byte units, minus 2
        len = (r.u8(off + 1) + size_t{2}) * 4;
        break;
      case 44:  // fragment
        len = 8;
        break;
      default:  // ESP (50), no next header (59), transport or unknown
        h.ip_hlen = static_cast<uint16_t>(off - l3);
        h.ip_proto = next;
        parse_transport(r, h, off);
        return;
    }
    if (count == kMaxExtHeaders || !r.fits(off, len)) {
      // The chain does not end within reach: report how far it got, with
      // the header we could not pass as the protocol, and no transport.
      h.ip_hlen = static_cast<uint16_t>(off - l3);
      h.ip_proto = next;
      return;
    }
    if (next == 44) {
      const uint16_t frag = r.u16(off + 2);
      h.ip_fragoff = frag & 0xfff8u;  // 13-bit offset in 8-byte units, already scaled
      h.ip_mf = frag & 1;
      h.ip_id = r.u32(off + 4);
      h.flags |= has::kFrag;
    }
    next = r.u8(off);
    off += len;
  }
}

void parse_arp(const Reader& r, Headers& h) {
  // spa/tpa sit at fixed offsets only for 6-byte hardware, 4-byte protocol addresses.
  if (r.fits(h.l3, kArpBody) && r.u8(h.l3 + 4) == 6 && r.u8(h.l3 + 5) == 4) h.flags |= has::kArp;
}

// The walk's result for the frames a switch forwards most, without the
// walk: untagged IPv4 with a 20-byte header, not a fragment, or untagged
// IPv6 without extension headers, carrying a whole TCP, UDP or ICMP
// header (the frames the JIT's inline parse takes too), into a fresh h.
// False, and h untouched, for any other frame. Every offset here lies far
// inside kMaxParsed, so the whole frame's length stands for the walk's.
bool parse_common(std::span<const uint8_t> p, Headers& h) {
  constexpr size_t kL4Ip4 = kEthHeader + kIp4MinHeader, kL4Ip6 = kEthHeader + kIp6Header;
  const size_t n = p.size();
  if (n < kL4Ip4 + 8) return false;  // 8 transport bytes
  const uint16_t type = be::load16(&p[12]);
  uint32_t flags = has::kEth | has::kL4;
  size_t l4 = 0;
  uint8_t proto = 0, icmp = 0;
  if (type == kTypeIp4) {
    // Version 4, no options; neither MF nor a fragment offset (DF may be set).
    if (p[kEthHeader] != 0x45 || (be::load16(&p[kEthHeader + 6]) & 0x3fff) != 0) return false;
    flags |= has::kIp4, l4 = kL4Ip4, proto = p[kEthHeader + 9], icmp = kProtoIcmp;
  } else if (type == kTypeIp6) {
    if (n < kL4Ip6 + 8 || p[kEthHeader] >> 4 != 6) return false;
    flags |= has::kIp6, l4 = kL4Ip6, proto = p[kEthHeader + 6], icmp = kProtoIcmp6;
  } else {
    return false;
  }
  size_t payload = l4 + 8;  // UDP's and ICMP's (8 bytes are there)
  if (proto == kProtoTcp) {
    if (n < l4 + 20) return false;
    const size_t data_off = (p[l4 + 12] >> 4) * size_t{4};
    if (data_off < 20) return false;
    flags |= has::kTcp, payload = std::min(l4 + data_off, n);
  } else if (proto == kProtoUdp) {
    flags |= has::kUdp;
  } else if (proto == icmp) {
    flags |= has::kIcmp;
  } else {
    return false;
  }
  h.flags = flags;
  h.l3 = kEthHeader;
  h.l4 = static_cast<uint16_t>(l4);
  h.payload = static_cast<uint16_t>(payload);
  h.eth_type = type;
  h.ip_hlen = static_cast<uint16_t>(l4 - kEthHeader);
  h.ip_proto = proto;
  if (type == kTypeIp4) h.ip_id = be::load16(&p[kEthHeader + 4]);
  return true;
}

// The general walk, into a fresh h: through any VLAN tags, IPv4 options and
// IPv6 extension headers, as far as the packet goes.
void walk(std::span<const uint8_t> pkt, LinkType link, Headers& h) {
  const Reader r(pkt.first(std::min<size_t>(pkt.size(), kMaxParsed)));
  size_t l3 = 0;
  if (link == LinkType::Ethernet) {
    if (!r.fits(0, kEthHeader)) return;
    h.flags |= has::kEth;
    uint16_t type = r.u16_in(12);
    l3 = kEthHeader;
    while (is_vlan_tpid(type)) {
      // A tag cut short leaves eth_type 0: there is no EtherType after the tags.
      if (!r.fits(l3, kVlanTag)) return;
      if (!h.has(has::kVlan)) {
        h.flags |= has::kVlan;
        h.vlan_tci = r.u16(l3);
      }
      type = r.u16(l3 + 2);
      l3 += kVlanTag;
    }
    h.eth_type = type;
  } else {
    if (!r.fits(0, 1)) return;
    switch (r.u8(0) >> 4) {
      case 4:
        h.eth_type = kTypeIp4;
        break;
      case 6:
        h.eth_type = kTypeIp6;
        break;
      default:
        return;
    }
  }
  h.l3 = static_cast<uint16_t>(l3);

  switch (h.eth_type) {
    case kTypeIp4:
      parse_ipv4(r, h);
      break;
    case kTypeIp6:
      parse_ipv6(r, h);
      break;
    case kTypeArp:
      parse_arp(r, h);
      break;
    default:
      break;
  }
}

}  // namespace

void parse_headers(std::span<const uint8_t> pkt, LinkType link, Headers& h) {
  h = Headers{};
  if (link == LinkType::Ethernet && parse_common(pkt, h)) return;
  walk(pkt, link, h);
}

Headers parse_headers(std::span<const uint8_t> pkt, LinkType link) {
  Headers h;
  parse_headers(pkt, link, h);
  return h;
}

Headers parse_headers_walk(std::span<const uint8_t> pkt, LinkType link) {
  Headers h;
  walk(pkt, link, h);
  return h;
}

namespace {

constexpr uint8_t width_log_of(size_t bytes) { return bytes == 1 ? 0 : bytes == 2 ? 1 : 2; }

#define NETCPU_MEMBER(when, member)                                                       \
  FieldLocation {                                                                         \
    FieldLocation::From::Headers, when, static_cast<uint16_t>(offsetof(Headers, member)), \
        width_log_of(sizeof(Headers::member))                                             \
  }

constexpr uint32_t kIp = has::kIp4 | has::kIp6;
constexpr uint32_t kPorts = has::kTcp | has::kUdp | has::kSctp;

}  // namespace

std::optional<FieldLocation> field_location(MappedReg reg) {
  using From = FieldLocation::From;
  switch (reg) {
    case MappedReg::HasEth:
      return FieldLocation{From::Flags, has::kEth, 0, 0};
    case MappedReg::HasVlan:
      return FieldLocation{From::Flags, has::kVlan, 0, 0};
    case MappedReg::HasArp:
      return FieldLocation{From::Flags, has::kArp, 0, 0};
    case MappedReg::HasIp:
      return FieldLocation{From::Flags, kIp, 0, 0};
    case MappedReg::HasIp4:
      return FieldLocation{From::Flags, has::kIp4, 0, 0};
    case MappedReg::HasIp6:
      return FieldLocation{From::Flags, has::kIp6, 0, 0};
    case MappedReg::HasL4:
      return FieldLocation{From::Flags, has::kL4, 0, 0};
    case MappedReg::HasTcp:
      return FieldLocation{From::Flags, has::kTcp, 0, 0};
    case MappedReg::HasUdp:
      return FieldLocation{From::Flags, has::kUdp, 0, 0};
    case MappedReg::HasIcmp:
      return FieldLocation{From::Flags, has::kIcmp, 0, 0};
    // Only the IP parsers set kFrag, after kIp4 or kIp6.
    case MappedReg::IpFrag:
      return FieldLocation{From::Flags, has::kFrag, 0, 0};

    case MappedReg::L3:
      return NETCPU_MEMBER(kIp | has::kArp, l3);
    case MappedReg::L4:
      return NETCPU_MEMBER(0, l4);
    case MappedReg::Payload:
      return NETCPU_MEMBER(has::kL4, payload);
    case MappedReg::EthType:
      return NETCPU_MEMBER(0, eth_type);
    case MappedReg::IpHlen:
      return NETCPU_MEMBER(kIp, ip_hlen);
    case MappedReg::IpId:
      return NETCPU_MEMBER(kIp, ip_id);
    case MappedReg::IpFragoff:
      return NETCPU_MEMBER(kIp, ip_fragoff);
    case MappedReg::IpMf:
      return NETCPU_MEMBER(kIp, ip_mf);
    case MappedReg::IpProto:
      return NETCPU_MEMBER(kIp, ip_proto);

    // The parser sets each of these bits only when the whole header fits:
    // ARP 28 bytes, IPv4 20, TCP 20, UDP 8, SCTP 12, ICMP 4.
    case MappedReg::ArpOp:
      return FieldLocation{From::L3, has::kArp, 6, 1};
    case MappedReg::ArpSpa:
      return FieldLocation{From::L3, has::kArp, 14, 2};
    case MappedReg::ArpTpa:
      return FieldLocation{From::L3, has::kArp, 24, 2};
    case MappedReg::IpSrc:
      return FieldLocation{From::L3, has::kIp4, 12, 2};
    case MappedReg::IpDst:
      return FieldLocation{From::L3, has::kIp4, 16, 2};
    case MappedReg::L4Sport:
      return FieldLocation{From::L4, kPorts, 0, 1};
    case MappedReg::L4Dport:
      return FieldLocation{From::L4, kPorts, 2, 1};
    case MappedReg::TcpFlags:
      return FieldLocation{From::L4, has::kTcp, 13, 0};
    case MappedReg::TcpSeq:
      return FieldLocation{From::L4, has::kTcp, 4, 2};
    case MappedReg::TcpAck:
      return FieldLocation{From::L4, has::kTcp, 8, 2};
    case MappedReg::TcpWin:
      return FieldLocation{From::L4, has::kTcp, 14, 1};
    case MappedReg::IcmpType:
      return FieldLocation{From::L4, has::kIcmp, 0, 0};
    case MappedReg::IcmpCode:
      return FieldLocation{From::L4, has::kIcmp, 1, 0};

    // Six bytes, masked, or different for IPv4 and IPv6: header_field's own.
    case MappedReg::EthDst:
    case MappedReg::EthSrc:
    case MappedReg::VlanId:
    case MappedReg::VlanPcp:
    case MappedReg::IpVer:
    case MappedReg::IpTos:
    case MappedReg::IpLen:
    case MappedReg::IpTtl:
    // Metadata (the interpreter's) and the 16-byte fields (header_field16).
    case MappedReg::Mlen:
    case MappedReg::Port:
    case MappedReg::Dir:
    case MappedReg::Hook:
    case MappedReg::Now:
    case MappedReg::Rand:
    case MappedReg::Wlen:
    case MappedReg::Ip6Src:
    case MappedReg::Ip6Dst:
    case MappedReg::Count:
      return std::nullopt;
  }
  return std::nullopt;
}

#undef NETCPU_MEMBER

namespace {

// field_location of every register, looked up once: header_field runs on
// the first read of each field in a run.
const auto kLocations = [] {
  std::array<std::optional<FieldLocation>, kMappedCount> table{};
  for (size_t i = 0; i < kMappedCount; ++i) table[i] = field_location(static_cast<MappedReg>(i));
  return table;
}();

}  // namespace

uint64_t header_field(MappedReg reg, std::span<const uint8_t> pkt, const Headers& h) {
  const Reader r(pkt);
  const auto index = static_cast<size_t>(reg);
  if (index >= kLocations.size()) return 0;  // MappedReg::Count names no register
  if (const auto& loc = kLocations[index]) {
    if (loc->from == FieldLocation::From::Flags) return (h.flags & loc->when) != 0;
    if (loc->when && !(h.flags & loc->when)) return 0;
    if (loc->from == FieldLocation::From::Headers) {
      const auto* member = reinterpret_cast<const uint8_t*>(&h) + loc->offset;
      uint32_t v32 = 0;
      uint16_t v16 = 0;
      switch (loc->width_log) {
        case 0:
          return *member;
        case 1:
          std::memcpy(&v16, member, 2);
          return v16;
        default:
          std::memcpy(&v32, member, 4);
          return v32;
      }
    }
    const size_t at = (loc->from == FieldLocation::From::L3 ? h.l3 : h.l4) + size_t{loc->offset};
    switch (loc->width_log) {
      case 0:
        return r.u8(at);
      case 1:
        return r.u16(at);
      default:
        return r.u32(at);
    }
  }
  const bool ip4 = h.has(has::kIp4);
  const bool ip6 = h.has(has::kIp6);
  const size_t l3 = h.l3;
  switch (reg) {
    case MappedReg::EthDst:
      return h.has(has::kEth) ? r.u48(0) : 0;
    case MappedReg::EthSrc:
      return h.has(has::kEth) ? r.u48(6) : 0;
    case MappedReg::VlanId:
      return h.has(has::kVlan) ? h.vlan_tci & 0x0fffu : 0;
    case MappedReg::VlanPcp:
      return h.has(has::kVlan) ? h.vlan_tci >> 13 : 0;
    case MappedReg::IpVer:
      return ip4 ? 4 : ip6 ? 6 : 0;
    case MappedReg::IpTos:
      if (ip4) return r.u8(l3 + 1);
      return ip6 ? (r.u16(l3) >> 4) & 0xffu : 0;
    case MappedReg::IpLen:
      if (ip4) return r.u16(l3 + 2);
      return ip6 ? r.u16(l3 + 4) + uint64_t{kIp6Header} : 0;
    case MappedReg::IpTtl:
      if (ip4) return r.u8(l3 + 8);
      return ip6 ? r.u8(l3 + 7) : 0;
    default:  // field_location's, or not a header field
      return 0;
  }
}

const uint8_t* header_field16(MappedReg reg, std::span<const uint8_t> pkt, const Headers& h) {
  if (!h.has(has::kIp6) || !Reader(pkt).fits(h.l3, kIp6Header)) return nullptr;
  switch (reg) {
    case MappedReg::Ip6Src:
      return pkt.data() + h.l3 + 8;
    case MappedReg::Ip6Dst:
      return pkt.data() + h.l3 + 24;
    default:
      return nullptr;
  }
}

}  // namespace netcpu
