#include "netcpu/packet_view.h"

#include <algorithm>
#include <cstddef>

#include "netcpu/protocols.h"

namespace netcpu {
namespace {

constexpr size_t kEthHeader = 14;
constexpr size_t kVlanTag = 4;
constexpr size_t kIp4MinHeader = 20;
constexpr size_t kIp6Header = 40;
constexpr size_t kArpBody = 28;  // IPv4 over Ethernet
// Headers stores offsets in 16 bits; nothing past 64 KiB is a header anyway.
constexpr size_t kMaxParsed = 0xffff;
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
  uint16_t u16(size_t off) const {
    return fits(off, 2) ? static_cast<uint16_t>(pkt_[off] << 8 | pkt_[off + 1]) : 0;
  }
  uint32_t u32(size_t off) const {
    return fits(off, 4) ? static_cast<uint32_t>(u16(off)) << 16 | u16(off + 2) : 0;
  }
  uint64_t u48(size_t off) const {
    return fits(off, 6) ? static_cast<uint64_t>(u16(off)) << 32 | u32(off + 2) : 0;
  }

 private:
  std::span<const uint8_t> pkt_;
};

bool is_vlan_tpid(uint16_t type) { return type == 0x8100 || type == 0x88a8 || type == 0x9100; }

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
        const size_t data_off = (r.u8(off + 12) >> 4) * size_t{4};
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
  const uint8_t ver_ihl = r.u8(l3);
  const size_t hlen = (ver_ihl & 0x0f) * size_t{4};
  if (ver_ihl >> 4 != 4 || hlen < kIp4MinHeader || !r.fits(l3, hlen)) return;

  h.flags |= has::kIp4;
  h.ip_hlen = static_cast<uint16_t>(hlen);
  h.ip_proto = r.u8(l3 + 9);
  h.ip_id = r.u16(l3 + 4);
  const uint16_t frag = r.u16(l3 + 6);
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

}  // namespace

Headers parse_headers(std::span<const uint8_t> pkt, LinkType link) {
  Headers h;
  const Reader r(pkt.first(std::min(pkt.size(), kMaxParsed)));
  size_t l3 = 0;
  if (link == LinkType::Ethernet) {
    if (!r.fits(0, kEthHeader)) return h;
    h.flags |= has::kEth;
    uint16_t type = r.u16(12);
    l3 = kEthHeader;
    while (is_vlan_tpid(type)) {
      // A tag cut short leaves eth_type 0: there is no EtherType after the tags.
      if (!r.fits(l3, kVlanTag)) return h;
      if (!h.has(has::kVlan)) {
        h.flags |= has::kVlan;
        h.vlan_tci = r.u16(l3);
      }
      type = r.u16(l3 + 2);
      l3 += kVlanTag;
    }
    h.eth_type = type;
  } else {
    if (!r.fits(0, 1)) return h;
    switch (r.u8(0) >> 4) {
      case 4:
        h.eth_type = kTypeIp4;
        break;
      case 6:
        h.eth_type = kTypeIp6;
        break;
      default:
        return h;
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
  return h;
}

uint64_t header_field(MappedReg reg, std::span<const uint8_t> pkt, const Headers& h) {
  const Reader r(pkt);
  const bool ip4 = h.has(has::kIp4);
  const bool ip6 = h.has(has::kIp6);
  const bool ports = h.has(has::kL4) && (h.flags & (has::kTcp | has::kUdp | has::kSctp)) != 0;
  const bool tcp = h.has(has::kL4) && h.has(has::kTcp);
  const bool icmp = h.has(has::kL4) && h.has(has::kIcmp);
  const size_t l3 = h.l3;
  const size_t l4 = h.l4;

  switch (reg) {
    case MappedReg::HasEth:
      return h.has(has::kEth);
    case MappedReg::HasVlan:
      return h.has(has::kVlan);
    case MappedReg::HasArp:
      return h.has(has::kArp);
    case MappedReg::HasIp:
      return ip4 || ip6;
    case MappedReg::HasIp4:
      return ip4;
    case MappedReg::HasIp6:
      return ip6;
    case MappedReg::HasL4:
      return h.has(has::kL4);
    case MappedReg::HasTcp:
      return h.has(has::kTcp);
    case MappedReg::HasUdp:
      return h.has(has::kUdp);
    case MappedReg::HasIcmp:
      return h.has(has::kIcmp);

    case MappedReg::EthDst:
      return h.has(has::kEth) ? r.u48(0) : 0;
    case MappedReg::EthSrc:
      return h.has(has::kEth) ? r.u48(6) : 0;
    case MappedReg::EthType:
      return h.eth_type;
    case MappedReg::VlanId:
      return h.has(has::kVlan) ? h.vlan_tci & 0x0fffu : 0;
    case MappedReg::VlanPcp:
      return h.has(has::kVlan) ? h.vlan_tci >> 13 : 0;

    case MappedReg::ArpOp:
      return h.has(has::kArp) ? r.u16(l3 + 6) : 0;
    case MappedReg::ArpSpa:
      return h.has(has::kArp) ? r.u32(l3 + 14) : 0;
    case MappedReg::ArpTpa:
      return h.has(has::kArp) ? r.u32(l3 + 24) : 0;

    case MappedReg::IpVer:
      return ip4 ? 4 : ip6 ? 6 : 0;
    case MappedReg::IpHlen:
      return ip4 || ip6 ? h.ip_hlen : 0;
    case MappedReg::IpTos:
      if (ip4) return r.u8(l3 + 1);
      return ip6 ? (r.u16(l3) >> 4) & 0xffu : 0;
    case MappedReg::IpLen:
      if (ip4) return r.u16(l3 + 2);
      return ip6 ? r.u16(l3 + 4) + uint64_t{kIp6Header} : 0;
    case MappedReg::IpId:
      return ip4 || ip6 ? h.ip_id : 0;
    case MappedReg::IpFrag:
      return (ip4 || ip6) && h.has(has::kFrag);
    case MappedReg::IpFragoff:
      return ip4 || ip6 ? h.ip_fragoff : 0;
    case MappedReg::IpMf:
      return ip4 || ip6 ? h.ip_mf : 0;
    case MappedReg::IpTtl:
      if (ip4) return r.u8(l3 + 8);
      return ip6 ? r.u8(l3 + 7) : 0;
    case MappedReg::IpProto:
      return ip4 || ip6 ? h.ip_proto : 0;
    case MappedReg::IpSrc:
      return ip4 ? r.u32(l3 + 12) : 0;
    case MappedReg::IpDst:
      return ip4 ? r.u32(l3 + 16) : 0;

    case MappedReg::L4Sport:
      return ports ? r.u16(l4) : 0;
    case MappedReg::L4Dport:
      return ports ? r.u16(l4 + 2) : 0;
    case MappedReg::TcpFlags:
      return tcp ? r.u8(l4 + 13) : 0;
    case MappedReg::TcpSeq:
      return tcp ? r.u32(l4 + 4) : 0;
    case MappedReg::TcpAck:
      return tcp ? r.u32(l4 + 8) : 0;
    case MappedReg::TcpWin:
      return tcp ? r.u16(l4 + 14) : 0;
    case MappedReg::IcmpType:
      return icmp ? r.u8(l4) : 0;
    case MappedReg::IcmpCode:
      return icmp ? r.u8(l4 + 1) : 0;

    // Metadata belongs to the interpreter; 16-byte fields go through header_field16.
    // Listed rather than defaulted so that a new mapped register warns here.
    case MappedReg::Mlen:
    case MappedReg::Port:
    case MappedReg::Dir:
    case MappedReg::Hook:
    case MappedReg::Now:
    case MappedReg::Rand:
    case MappedReg::L3:
    case MappedReg::L4:
    case MappedReg::Payload:
    case MappedReg::Ip6Src:
    case MappedReg::Ip6Dst:
    case MappedReg::Count:
      return 0;
  }
  return 0;
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
