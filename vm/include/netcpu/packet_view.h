// Lazy header parsing for the mapped registers: where the network and
// transport headers of a packet are, through VLAN tags, IPv4 options and IPv6
// extension headers, on Ethernet frames (switch) and bare IP packets (lwIPv6).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "netcpu/isa.h"

namespace netcpu {

enum class LinkType : uint8_t { Ethernet = 0, RawIp = 1 };

namespace has {
constexpr uint32_t kEth = 1 << 0;
constexpr uint32_t kVlan = 1 << 1;
constexpr uint32_t kArp = 1 << 2;
constexpr uint32_t kIp4 = 1 << 3;
constexpr uint32_t kIp6 = 1 << 4;
constexpr uint32_t kL4 = 1 << 5;  // transport header present and complete enough for ports/type
constexpr uint32_t kTcp = 1 << 6;
constexpr uint32_t kUdp = 1 << 7;
constexpr uint32_t kIcmp = 1 << 8;  // ICMP or ICMPv6
constexpr uint32_t kFrag = 1 << 9;  // IPv4 MF or offset != 0, or an IPv6 fragment header
constexpr uint32_t kSctp = 1 << 10;
}  // namespace has

// Facts about one packet's headers. Offsets are from the start of the packet
// and only meaningful when the matching has:: bit is set.
struct Headers {
  uint32_t flags = 0;
  uint16_t l3 = 0;        // network header (IPv4, IPv6 or ARP)
  uint16_t l4 = 0;        // transport header
  uint16_t payload = 0;   // transport payload
  uint16_t eth_type = 0;  // EtherType after VLAN tags; on raw IP 0x0800 or 0x86dd
  uint16_t vlan_tci = 0;  // TCI of the outer tag
  uint16_t ip_hlen = 0;   // IPv4 header with options, or IPv6 header with extension headers
  uint8_t ip_proto = 0;   // transport protocol after extension headers
  uint8_t ip_mf = 0;
  uint32_t ip_fragoff = 0;  // bytes
  uint32_t ip_id = 0;       // IPv4 id or IPv6 fragment header id

  bool has(uint32_t bit) const { return (flags & bit) != 0; }
  bool operator==(const Headers&) const = default;
};

// Parse what is there; never reads outside pkt. A truncated header leaves its
// has:: bit (and everything after it) clear.
Headers parse_headers(std::span<const uint8_t> pkt, LinkType link);
// The same into h, which it overwrites: a run's own headers, written in
// place (a Headers returned and then copied is read back whole from
// narrower stores, which the CPU cannot forward).
void parse_headers(std::span<const uint8_t> pkt, LinkType link, Headers& h);
// The same by the general walk alone, without parse_headers' shortcut for
// the frames a switch forwards most: what the shortcut must give (the
// PacketView tests and the packet_view fuzz target compare the two).
Headers parse_headers_walk(std::span<const uint8_t> pkt, LinkType link);

// Where a header field is, for the fields that are one fixed-width read once
// the headers are parsed: a has:: test, a member of Headers, or network-order
// bytes at a fixed distance from the network or transport header. The value
// is 0 unless flags has one of the `when` bits (0: always there). A `when`
// bit guarantees the read lies inside the packet: the parser sets it only
// after checking that the header it names fits. header_field reads these
// through this table, and the JIT compiles them inline from it.
struct FieldLocation {
  enum class From : uint8_t { Flags, Headers, L3, L4 };
  From from;
  uint32_t when;      // has:: bits, any of which (From::Flags: the value is whether any is set)
  uint16_t offset;    // of the Headers member, or from l3 / l4
  uint8_t width_log;  // the read is 1 << width_log bytes
};
std::optional<FieldLocation> field_location(MappedReg r);

// The value of a header field (mapped registers from HAS_ETH on), 0 when the
// packet lacks it. Metadata registers (is_metadata(): mlen..rand, wlen) are the interpreter's.
uint64_t header_field(MappedReg r, std::span<const uint8_t> pkt, const Headers& h);

// The 16 bytes of ip6.src / ip6.dst, or nullptr when the packet is not IPv6.
const uint8_t* header_field16(MappedReg r, std::span<const uint8_t> pkt, const Headers& h);

}  // namespace netcpu
