// Builds correct packets for tools, tests and benchmarks: Ethernet II with
// 802.1Q/802.1ad tags, ARP, IPv4 (options, fragments), IPv6 (extension
// headers, fragments), TCP, UDP, ICMP, ICMPv6 and SCTP, every checksum right.
//
// The checksums are computed here, independently of netcpu::recompute_checksums,
// so that tests of the VM's checksum code do not check it against itself.
//
//   Bytes frame = PacketBuilder()
//                     .eth(mac_addr("02:00:80:03:70:23"), mac_addr("02:00:80:03:70:0f"))
//                     .ipv4({.src = ip4_addr("128.3.112.15"), .dst = ip4_addr("128.3.112.35")})
//                     .tcp({.sport = 40000, .dport = 80, .flags = tcp_flags::kSyn})
//                     .build();
//
// Misuse (TCP without an IP layer, VLAN tags without Ethernet, more than 64 KiB
// of IP payload) throws std::logic_error; malformed address text throws
// std::invalid_argument.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace netcpu::packets {

using Bytes = std::vector<uint8_t>;
using Mac = std::array<uint8_t, 6>;
using Ip6Addr = std::array<uint8_t, 16>;

// Addresses from text. IPv4 addresses are host-order integers, MACs may also
// come from the low 48 bits of an integer: both as netcpu::header_field
// returns them, so tests can compare directly.
Mac mac_addr(std::string_view text);  // "02:00:0a:00:00:01"
Mac mac_addr(uint64_t value);
uint32_t ip4_addr(std::string_view text);  // "10.0.0.1"
Ip6Addr ip6_addr(std::string_view text);   // "2001:db8::1"
Bytes bytes(std::string_view text);        // the characters, no terminator

inline constexpr Mac kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
inline constexpr uint16_t kTpid8021Q = 0x8100;
inline constexpr uint16_t kTpid8021ad = 0x88a8;
inline constexpr size_t kMinFrame = 60;  // Ethernet minimum without FCS

namespace tcp_flags {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
inline constexpr uint8_t kEce = 0x40;
inline constexpr uint8_t kCwr = 0x80;
}  // namespace tcp_flags

inline constexpr uint16_t kArpRequest = 1;
inline constexpr uint16_t kArpReply = 2;

// ARP for IPv4 over Ethernet.
struct Arp {
  uint16_t op = kArpRequest;
  Mac sha{};  // sender hardware address
  uint32_t spa = 0;
  Mac tha{};  // zero in a request
  uint32_t tpa = 0;
};

struct Ipv4 {
  uint32_t src = 0;
  uint32_t dst = 0;
  uint8_t ttl = 64;
  uint16_t id = 0;
  uint8_t tos = 0;
  bool df = false;
  bool mf = false;
  uint16_t frag_offset = 0;  // in bytes, a multiple of 8
  Bytes options{};           // padded with end-of-list to a multiple of 4
};

// One IPv6 extension header: its type (the Next Header value that announces
// it) and its bytes after the Next Header byte. Make them with the ip6_*
// functions below, which get the length fields right.
struct Ipv6Ext {
  uint8_t type = 0;
  Bytes body{};
};

// Options are TLVs (type, length, data); both pad with PadN to a multiple of 8.
Ipv6Ext ip6_hop_by_hop(const Bytes& options = {});
Ipv6Ext ip6_dest_options(const Bytes& options = {});
// Type 0/2 layout (reserved word, then addresses). With segments_left > 0 the
// last address is the final destination, which the TCP/UDP/ICMPv6 checksum uses.
Ipv6Ext ip6_routing(const std::vector<Ip6Addr>& addresses, uint8_t segments_left,
                    uint8_t routing_type = 0);
// offset in bytes, a multiple of 8. offset 0 with more == false is an atomic
// fragment (RFC 6946): the transport header follows whole, checksummed as usual.
Ipv6Ext ip6_fragment(uint16_t offset, bool more, uint32_t id);

struct Ipv6 {
  Ip6Addr src{};
  Ip6Addr dst{};
  uint8_t hop_limit = 64;
  uint8_t traffic_class = 0;
  uint32_t flow_label = 0;
  std::vector<Ipv6Ext> ext{};  // in packet order
};

struct Tcp {
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = tcp_flags::kAck;
  uint16_t window = 65535;
  uint16_t urgent = 0;
  Bytes options{};  // padded with end-of-list to a multiple of 4
  Bytes payload{};
};

struct Udp {
  uint16_t sport = 0;
  uint16_t dport = 0;
  Bytes payload{};
};

// Echo over IPv4 is ICMP 8/0, over IPv6 ICMPv6 128/129.
struct IcmpEcho {
  bool reply = false;
  uint16_t id = 0;
  uint16_t seq = 0;
  Bytes payload{};
};

// Any ICMP or ICMPv6 message (which one follows from the IP version): type,
// code, the 4 type-specific header bytes, and the body.
struct Icmp {
  uint8_t type = 0;
  uint8_t code = 0;
  uint32_t rest = 0;
  Bytes payload{};
};

// Common header (checksum is CRC32c, RFC 4960) followed by chunks as given.
struct Sctp {
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint32_t vtag = 0;
  Bytes chunks{};
};

// Bytes after the IP header taken as they are, for non-first fragments and
// protocols this file does not know.
struct RawL4 {
  uint8_t protocol = 0;
  Bytes data{};
};

// Option and chunk helpers.
Bytes ip4_record_route(size_t slots, const std::vector<uint32_t>& recorded = {});
Bytes tcp_mss_option(uint16_t mss);
Bytes sctp_init_chunk(uint32_t initiate_tag, uint32_t a_rwnd, uint16_t outbound_streams,
                      uint16_t inbound_streams, uint32_t initial_tsn);

// Layers are set in any order; each setter replaces its layer, except vlan()
// which adds a tag. build() puts them together and computes lengths and
// checksums last, so a builder can be reused with one layer changed.
class PacketBuilder {
 public:
  PacketBuilder& eth(Mac dst, Mac src);
  // Outermost tag first. 802.1ad (QinQ) outer tags take tpid = kTpid8021ad.
  PacketBuilder& vlan(uint16_t vid, uint8_t pcp = 0, uint16_t tpid = kTpid8021Q);

  PacketBuilder& arp(const Arp& arp);
  PacketBuilder& ipv4(const Ipv4& ip);
  PacketBuilder& ipv6(const Ipv6& ip);

  PacketBuilder& tcp(const Tcp& tcp);
  PacketBuilder& udp(const Udp& udp);
  PacketBuilder& icmp_echo(const IcmpEcho& echo);
  PacketBuilder& icmp(const Icmp& icmp);
  PacketBuilder& sctp(const Sctp& sctp);
  PacketBuilder& raw(const RawL4& raw);

  // An Ethernet frame padded to 60 bytes when eth() was given, the bare IP
  // packet otherwise.
  Bytes build() const;
  // The IP packet alone even when eth() was given (for DLT_RAW captures).
  Bytes build_ip() const;
  // The IP packet split into fragments of at most max_payload bytes of
  // fragmentable data each (rounded down to a multiple of 8), framed as
  // build() frames. The transport checksum covers the whole datagram, as on
  // the wire. IPv4 non-first fragments carry only the options with the copy
  // bit; IPv6 fragments get a fragment header (id ip6_id) after hop-by-hop
  // and routing headers. A datagram that fits comes back as one packet.
  std::vector<Bytes> build_fragments(size_t max_payload, uint32_t ip6_id = 1) const;

 private:
  struct Tag {
    uint16_t tpid;
    uint16_t tci;
  };
  std::optional<std::pair<Mac, Mac>> eth_;  // dst, src
  std::vector<Tag> tags_;
  std::variant<std::monostate, Arp, Ipv4, Ipv6> l3_;
  std::variant<std::monostate, Tcp, Udp, IcmpEcho, Icmp, Sctp, RawL4> l4_;

  Bytes frame(const Bytes& l3, uint16_t ethertype) const;
};

// Convenience: broadcast who-has and its is-at answer.
Bytes arp_request(Mac sha, uint32_t spa, uint32_t tpa);
Bytes arp_reply(Mac sha, uint32_t spa, Mac tha, uint32_t tpa);

// A deterministic mix of Ethernet frames of 60..1514 bytes for benchmarks.
// Each frame is, by weight: IPv4 TCP 40%, IPv4 UDP 20%, ICMP echo 5%, IPv6 TCP
// 15%, IPv6 UDP 10%, ICMPv6 echo 5%, ARP 5%. About 1 IP frame in 16 carries
// an 802.1Q tag (a quarter of those are QinQ). Addresses come from 10.0.0.0/24,
// 10.1.2.0/24, 192.168.1.0/24, 172.16.5.0/24 and 2001:db8:1::/64,
// 2001:db8:2::/64; server ports from {22, 25, 53, 80, 123, 443, 8080} or
// random. The same (n, seed) gives the same frames on every platform.
std::vector<Bytes> synthetic_packets(size_t n, uint32_t seed);

}  // namespace netcpu::packets
