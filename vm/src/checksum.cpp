#include "netcpu/checksum.h"

#include <algorithm>
#include <cstddef>

#include "byte_order.h"

namespace netcpu {
namespace {

bool fits(std::span<const uint8_t> pkt, size_t off, size_t n) {
  return off <= pkt.size() && n <= pkt.size() - off;
}

constexpr uint8_t kProtoIcmp6 = 58;

// RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): the "~m + m'" part of one 16-bit
// word's change. Deltas of several words add up before they are applied.
uint32_t delta16(uint16_t old_word, uint16_t new_word) {
  return static_cast<uint16_t>(~old_word) + uint32_t{new_word};
}
uint32_t delta32(uint32_t old_value, uint32_t new_value) {
  return delta16(static_cast<uint16_t>(old_value >> 16), static_cast<uint16_t>(new_value >> 16)) +
         delta16(static_cast<uint16_t>(old_value), static_cast<uint16_t>(new_value));
}
uint16_t apply_delta(uint16_t checksum, uint32_t delta) {
  return checksum_fold(static_cast<uint16_t>(~checksum) + delta);
}

// The TCP or UDP checksum that an IP address or port change must update, or
// nullptr when there is none to update.
uint8_t* l4_checksum(std::span<uint8_t> pkt, const Headers& h, bool& is_udp) {
  is_udp = false;
  if (!h.has(has::kL4)) return nullptr;
  if (h.has(has::kTcp) && fits(pkt, h.l4, 18)) return pkt.data() + h.l4 + 16;
  if (h.has(has::kUdp) && fits(pkt, h.l4, 8)) {
    uint8_t* sum = pkt.data() + h.l4 + 6;
    // 0 means "no checksum" (IPv4; IPv6 tunnels per RFC 6935): computing
    // one from it would turn a valid packet into one with a wrong checksum.
    if (be::load16(sum) == 0) return nullptr;
    is_udp = true;
    return sum;
  }
  return nullptr;
}

void update_l4_checksum(std::span<uint8_t> pkt, const Headers& h, uint32_t delta) {
  bool is_udp = false;
  uint8_t* sum = l4_checksum(pkt, h, is_udp);
  if (sum == nullptr) return;
  uint16_t updated = apply_delta(be::load16(sum), delta);
  if (is_udp && updated == 0) updated = 0xffff;  // 0 would mean "no checksum"
  be::store16(sum, updated);
}

bool recompute_l4(std::span<uint8_t> pkt, const Headers& h) {
  const uint8_t* ip = pkt.data() + h.l3;
  const bool v6 = h.has(has::kIp6);
  // The IP length, not the frame length: Ethernet pads short frames to 60
  // bytes and the padding is not part of the segment. A packet cut short
  // (or lying about its length) is summed over what it actually holds.
  const size_t ip_len = v6 ? be::load16(ip + 4) + size_t{40} : be::load16(ip + 2);
  const size_t end = std::min(size_t{h.l3} + ip_len, pkt.size());

  size_t field = 0;
  size_t min_len = 0;
  bool pseudo = true;
  if (h.has(has::kTcp)) {
    field = 16;
    min_len = 20;
  } else if (h.has(has::kUdp)) {
    field = 6;
    min_len = 8;
  } else if (h.has(has::kIcmp)) {
    field = 2;
    min_len = 4;
    pseudo = h.ip_proto == kProtoIcmp6;  // ICMP over IPv4 sums only itself
  } else {
    return false;  // SCTP uses CRC32c, which this does not compute
  }
  if (end < h.l4 + min_len) return false;  // the IP length does not even cover the header
  const size_t len = end - h.l4;

  uint32_t sum = 0;
  if (pseudo) {
    if (v6) {
      // With a routing header RFC 8200 8.1 wants the final destination here;
      // the header's current destination is used, as for a packet in transit.
      sum = checksum_add({ip + 8, 32});
    } else {
      sum = checksum_add({ip + 12, 8});
    }
    // Zero byte + protocol, and the length, summed as 16-bit words: the same
    // for the IPv4 and the IPv6 layout (IPv6's 32-bit length splits in two).
    sum += h.ip_proto + static_cast<uint32_t>(len >> 16) + static_cast<uint32_t>(len & 0xffff);
  }
  uint8_t* l4 = pkt.data() + h.l4;
  be::store16(l4 + field, 0);
  uint16_t result = checksum_fold(checksum_add({l4, len}, sum));
  if (h.has(has::kUdp) && result == 0) result = 0xffff;  // 0 would mean "no checksum"
  be::store16(l4 + field, result);
  return true;
}

}  // namespace

uint32_t checksum_add(std::span<const uint8_t> data, uint32_t sum) {
  // 64 bits cannot overflow for any buffer that fits in memory, so the carries
  // are folded once at the end.
  uint64_t acc = sum;
  const size_t even = data.size() & ~size_t{1};
  for (size_t i = 0; i < even; i += 2) acc += be::load16(data.data() + i);
  if (even != data.size()) acc += uint32_t{data[even]} << 8;  // odd byte padded with zero
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint32_t>(acc);
}

uint16_t checksum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

bool recompute_checksums(std::span<uint8_t> pkt, LinkType link, uint8_t what) {
  const Headers h = parse_headers(pkt, link);
  bool wrote = false;
  if ((what & csum::kIp) != 0 && h.has(has::kIp4)) {
    uint8_t* ip = pkt.data() + h.l3;
    be::store16(ip + 10, 0);
    be::store16(ip + 10, checksum_fold(checksum_add({ip, h.ip_hlen})));
    wrote = true;
  }
  // A first fragment's L4 checksum covers the later fragments too, and a
  // later fragment has no L4 header: either way it is not ours to compute.
  if ((what & csum::kL4) != 0 && h.has(has::kL4) && !h.has(has::kFrag)) {
    wrote = recompute_l4(pkt, h) || wrote;
  }
  return wrote;
}

bool is_rewritable(MappedReg r) {
  switch (r) {
    case MappedReg::EthDst:
    case MappedReg::EthSrc:
    case MappedReg::IpSrc:
    case MappedReg::IpDst:
    case MappedReg::IpTtl:
    case MappedReg::IpTos:
    case MappedReg::L4Sport:
    case MappedReg::L4Dport:
      return true;
    default:
      return false;
  }
}

bool rewrite_field(std::span<uint8_t> pkt, const Headers& h, MappedReg field, uint64_t value) {
  // Checked against pkt too: h may come from before a resize.
  const bool ip4 = h.has(has::kIp4) && fits(pkt, h.l3, 20);
  const bool ip6 = h.has(has::kIp6) && fits(pkt, h.l3, 40);
  uint8_t* ip = ip4 || ip6 ? pkt.data() + h.l3 : nullptr;

  switch (field) {
    case MappedReg::EthDst:
    case MappedReg::EthSrc:
      if (!h.has(has::kEth) || !fits(pkt, 0, 14)) return false;
      be::store_n(pkt.data() + (field == MappedReg::EthDst ? 0 : 6), value, 6);
      return true;

    case MappedReg::IpSrc:
    case MappedReg::IpDst: {
      if (!ip4) return false;
      uint8_t* addr = ip + (field == MappedReg::IpSrc ? 12 : 16);
      const uint32_t old_addr = be::load32(addr);
      const auto new_addr = static_cast<uint32_t>(value);
      be::store32(addr, new_addr);
      const uint32_t delta = delta32(old_addr, new_addr);
      be::store16(ip + 10, apply_delta(be::load16(ip + 10), delta));
      update_l4_checksum(pkt, h, delta);  // the address is in the pseudo-header
      return true;
    }

    case MappedReg::IpTtl:
      if (ip4) {
        const uint16_t old_word = be::load16(ip + 8);  // TTL shares a word with the protocol
        ip[8] = static_cast<uint8_t>(value);
        be::store16(ip + 10,
                    apply_delta(be::load16(ip + 10), delta16(old_word, be::load16(ip + 8))));
        return true;
      }
      if (ip6) {
        ip[7] = static_cast<uint8_t>(value);
        return true;
      }
      return false;

    case MappedReg::IpTos:
      if (ip4) {
        const uint16_t old_word = be::load16(ip);  // TOS shares a word with version and IHL
        ip[1] = static_cast<uint8_t>(value);
        be::store16(ip + 10, apply_delta(be::load16(ip + 10), delta16(old_word, be::load16(ip))));
        return true;
      }
      if (ip6) {
        // The traffic class straddles the first two bytes, after the version.
        const auto tc = static_cast<uint8_t>(value);
        ip[0] = static_cast<uint8_t>((ip[0] & 0xf0) | tc >> 4);
        ip[1] = static_cast<uint8_t>((ip[1] & 0x0f) | (tc & 0x0f) << 4);
        return true;
      }
      return false;

    case MappedReg::L4Sport:
    case MappedReg::L4Dport: {
      // SCTP's CRC32c cannot be updated incrementally, so its ports are refused.
      if (!h.has(has::kL4) || (h.flags & (has::kTcp | has::kUdp)) == 0 || !fits(pkt, h.l4, 8)) {
        return false;
      }
      uint8_t* port = pkt.data() + h.l4 + (field == MappedReg::L4Sport ? 0 : 2);
      const uint16_t old_port = be::load16(port);
      const auto new_port = static_cast<uint16_t>(value);
      be::store16(port, new_port);
      update_l4_checksum(pkt, h, delta16(old_port, new_port));
      return true;
    }

    default:
      return false;
  }
}

}  // namespace netcpu
