#include "packet_builder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "netcpu/checksum.h"
#include "netcpu/isa.h"
#include "netcpu/packet_view.h"

namespace netcpu::packets {
namespace {

// ---------------------------------------------------------------------------
// Independent checks. Written differently from the builder on purpose (byte
// at a time, folding as it goes; table-driven CRC) so that a shared mistake
// is unlikely.

uint16_t rd16(std::span<const uint8_t> p, size_t off) {
  return static_cast<uint16_t>(p[off] << 8 | p[off + 1]);
}
uint32_t rd32(std::span<const uint8_t> p, size_t off) {
  return static_cast<uint32_t>(rd16(p, off)) << 16 | rd16(p, off + 2);
}

uint32_t ones_add(uint32_t acc, std::span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    acc += (i % 2 == 0) ? uint32_t{data[i]} << 8 : data[i];
    if (acc > 0xffff) acc = (acc & 0xffff) + 1;
  }
  return acc;
}
uint32_t ones_add16(uint32_t acc, uint32_t v) {
  acc += v;
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >> 16);
  return acc;
}

bool ip4_header_ok(std::span<const uint8_t> pkt, const Headers& h) {
  return ones_add(0, pkt.subspan(h.l3, h.ip_hlen)) == 0xffff;
}

// The transport checksum over pseudo-header and segment, up to the IP length
// (not the frame: Ethernet padding is not part of the segment). final_dst
// replaces the IPv6 destination when a routing header names another one.
bool l4_checksum_ok(std::span<const uint8_t> pkt, const Headers& h,
                    const uint8_t* final_dst = nullptr) {
  const bool v6 = h.has(has::kIp6);
  const size_t ip_end = h.l3 + (v6 ? 40 + rd16(pkt, h.l3 + 4) : rd16(pkt, h.l3 + 2));
  if (ip_end > pkt.size() || ip_end < h.l4) return false;
  const std::span<const uint8_t> seg = pkt.subspan(h.l4, ip_end - h.l4);
  uint32_t acc = 0;
  const bool icmp4 = !v6 && h.ip_proto == 1;
  if (!icmp4) {
    if (v6) {
      acc = ones_add(acc, pkt.subspan(h.l3 + 8, 16));
      acc = ones_add(acc, final_dst != nullptr ? std::span<const uint8_t>(final_dst, 16)
                                               : pkt.subspan(h.l3 + 24, 16));
    } else {
      acc = ones_add(acc, pkt.subspan(h.l3 + 12, 8));
    }
    acc = ones_add16(acc, h.ip_proto);
    acc = ones_add16(acc, static_cast<uint32_t>(seg.size() >> 16));
    acc = ones_add16(acc, static_cast<uint32_t>(seg.size() & 0xffff));
  }
  return ones_add(acc, seg) == 0xffff;
}

uint32_t crc32c_table(std::span<const uint8_t> data) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0x82f63b78 ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = ~0u;
  for (uint8_t b : data) crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
  return ~crc;
}

bool contains(std::span<const uint8_t> hay, std::string_view needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

const Mac kMacA = {0x02, 0, 0, 0, 0, 0x0a};
const Mac kMacB = {0x02, 0, 0, 0, 0, 0x0b};

PacketBuilder tcp4_builder(Bytes payload = bytes("hello, world")) {
  PacketBuilder pb;
  pb.eth(kMacB, kMacA)
      .ipv4({.src = ip4_addr("128.3.112.15"),
             .dst = ip4_addr("128.3.112.35"),
             .ttl = 17,
             .id = 0x1234,
             .tos = 0x10,
             .df = true})
      .tcp({.sport = 40000,
            .dport = 80,
            .seq = 0x01020304,
            .ack = 0x05060708,
            .flags = tcp_flags::kPsh | tcp_flags::kAck,
            .window = 512,
            .payload = std::move(payload)});
  return pb;
}

// ---------------------------------------------------------------------------

TEST(Addresses, ParseText) {
  EXPECT_EQ(mac_addr("02:00:0a:00:00:FF"), (Mac{2, 0, 10, 0, 0, 255}));
  EXPECT_EQ(mac_addr(0x0200'0a00'00ffull), (Mac{2, 0, 10, 0, 0, 255}));
  EXPECT_EQ(ip4_addr("128.3.112.15"), 0x8003700fu);
  const Ip6Addr a = ip6_addr("2001:db8::1");
  EXPECT_EQ(a[0], 0x20);
  EXPECT_EQ(a[1], 0x01);
  EXPECT_EQ(a[15], 0x01);
  EXPECT_THROW(mac_addr("02:00:0a:00:00"), std::invalid_argument);
  EXPECT_THROW(mac_addr("02:00:0a:00:00:01:02"), std::invalid_argument);
  EXPECT_THROW(ip4_addr("10.0.0"), std::invalid_argument);
  EXPECT_THROW(ip6_addr("2001:db8:::1"), std::invalid_argument);
}

TEST(PacketBuilder, Ipv4TcpFrame) {
  const Bytes f = tcp4_builder().build();
  ASSERT_EQ(f.size(), 14u + 20 + 20 + 12);
  EXPECT_TRUE(std::equal(kMacB.begin(), kMacB.end(), f.begin()));
  EXPECT_TRUE(std::equal(kMacA.begin(), kMacA.end(), f.begin() + 6));
  EXPECT_EQ(rd16(f, 12), 0x0800);

  const Headers h = parse_headers(f, LinkType::Ethernet);
  ASSERT_TRUE(h.has(has::kIp4));
  ASSERT_TRUE(h.has(has::kTcp));
  EXPECT_EQ(h.l3, 14);
  EXPECT_EQ(h.l4, 34);
  EXPECT_EQ(h.payload, 54);
  EXPECT_EQ(header_field(MappedReg::IpSrc, f, h), 0x8003700fu);
  EXPECT_EQ(header_field(MappedReg::IpDst, f, h), 0x80037023u);
  EXPECT_EQ(header_field(MappedReg::IpTtl, f, h), 17u);
  EXPECT_EQ(header_field(MappedReg::IpId, f, h), 0x1234u);
  EXPECT_EQ(header_field(MappedReg::IpTos, f, h), 0x10u);
  EXPECT_EQ(header_field(MappedReg::IpLen, f, h), 52u);
  EXPECT_EQ(rd16(f, 20) & 0x4000, 0x4000);  // DF
  EXPECT_EQ(header_field(MappedReg::L4Sport, f, h), 40000u);
  EXPECT_EQ(header_field(MappedReg::L4Dport, f, h), 80u);
  EXPECT_EQ(header_field(MappedReg::TcpSeq, f, h), 0x01020304u);
  EXPECT_EQ(header_field(MappedReg::TcpAck, f, h), 0x05060708u);
  EXPECT_EQ(header_field(MappedReg::TcpFlags, f, h), 0x18u);
  EXPECT_EQ(header_field(MappedReg::TcpWin, f, h), 512u);
  EXPECT_EQ(std::string(f.begin() + h.payload, f.end()), "hello, world");
  EXPECT_TRUE(ip4_header_ok(f, h));
  EXPECT_TRUE(l4_checksum_ok(f, h));
}

TEST(PacketBuilder, TcpOptionsPadToFourBytes) {
  PacketBuilder pb = tcp4_builder({});
  pb.tcp({.sport = 1, .dport = 2, .flags = tcp_flags::kSyn, .options = {1, 3, 3, 7}});
  Bytes f = pb.build();
  Headers h = parse_headers(f, LinkType::Ethernet);
  EXPECT_EQ(h.payload - h.l4, 24);
  EXPECT_TRUE(l4_checksum_ok(f, h));
  pb.tcp({.sport = 1, .dport = 2, .flags = tcp_flags::kSyn, .options = tcp_mss_option(1460)});
  f = pb.build();
  h = parse_headers(f, LinkType::Ethernet);
  EXPECT_EQ(h.payload - h.l4, 24);
  EXPECT_EQ(rd32(f, h.l4 + 20), 0x020405b4u);
}

TEST(PacketBuilder, ShortFramesArePaddedTo60) {
  const Bytes f = PacketBuilder()
                      .eth(kMacB, kMacA)
                      .ipv4({.src = ip4_addr("10.0.0.1"), .dst = ip4_addr("10.0.0.2")})
                      .udp({.sport = 53, .dport = 5353, .payload = {1, 2}})
                      .build();
  ASSERT_EQ(f.size(), kMinFrame);
  EXPECT_TRUE(std::all_of(f.begin() + 14 + 20 + 8 + 2, f.end(), [](uint8_t b) { return b == 0; }));
  const Headers h = parse_headers(f, LinkType::Ethernet);
  ASSERT_TRUE(h.has(has::kUdp));
  EXPECT_EQ(header_field(MappedReg::IpLen, f, h), 30u);  // padding is not part of the packet
  EXPECT_EQ(rd16(f, h.l4 + 4), 10);
  EXPECT_TRUE(ip4_header_ok(f, h));
  EXPECT_TRUE(l4_checksum_ok(f, h));
}

TEST(PacketBuilder, VlanTags) {
  PacketBuilder pb = tcp4_builder();
  pb.vlan(100, 5);
  Bytes f = pb.build();
  EXPECT_EQ(rd16(f, 12), kTpid8021Q);
  EXPECT_EQ(rd16(f, 14), 5 << 13 | 100);
  EXPECT_EQ(rd16(f, 16), 0x0800);
  Headers h = parse_headers(f, LinkType::Ethernet);
  EXPECT_TRUE(h.has(has::kVlan));
  EXPECT_EQ(header_field(MappedReg::VlanId, f, h), 100u);
  EXPECT_EQ(header_field(MappedReg::VlanPcp, f, h), 5u);
  EXPECT_EQ(h.l3, 18);
  EXPECT_TRUE(h.has(has::kTcp));

  PacketBuilder qinq = tcp4_builder();
  qinq.vlan(200, 0, kTpid8021ad).vlan(100);
  f = qinq.build();
  EXPECT_EQ(rd16(f, 12), kTpid8021ad);
  EXPECT_EQ(rd16(f, 14), 200);
  EXPECT_EQ(rd16(f, 16), kTpid8021Q);
  EXPECT_EQ(rd16(f, 18), 100);
  EXPECT_EQ(rd16(f, 20), 0x0800);
  h = parse_headers(f, LinkType::Ethernet);
  EXPECT_EQ(header_field(MappedReg::VlanId, f, h), 200u);  // the outer tag
  EXPECT_EQ(h.l3, 22);
  EXPECT_TRUE(h.has(has::kTcp));
  EXPECT_TRUE(l4_checksum_ok(f, h));

  EXPECT_THROW(PacketBuilder().vlan(4096), std::logic_error);
}

TEST(PacketBuilder, Arp) {
  const uint32_t spa = ip4_addr("10.0.0.5");
  const uint32_t tpa = ip4_addr("10.0.0.1");
  const Bytes req = arp_request(kMacA, spa, tpa);
  ASSERT_EQ(req.size(), kMinFrame);
  EXPECT_TRUE(std::equal(kBroadcastMac.begin(), kBroadcastMac.end(), req.begin()));
  EXPECT_EQ(rd16(req, 12), 0x0806);
  EXPECT_EQ(rd16(req, 14), 1);       // Ethernet
  EXPECT_EQ(rd16(req, 16), 0x0800);  // IPv4
  EXPECT_EQ(req[18], 6);
  EXPECT_EQ(req[19], 4);
  Headers h = parse_headers(req, LinkType::Ethernet);
  ASSERT_TRUE(h.has(has::kArp));
  EXPECT_EQ(header_field(MappedReg::ArpOp, req, h), 1u);
  EXPECT_EQ(header_field(MappedReg::ArpSpa, req, h), spa);
  EXPECT_EQ(header_field(MappedReg::ArpTpa, req, h), tpa);

  const Bytes rep = arp_reply(kMacB, tpa, kMacA, spa);
  EXPECT_TRUE(std::equal(kMacA.begin(), kMacA.end(), rep.begin()));
  h = parse_headers(rep, LinkType::Ethernet);
  ASSERT_TRUE(h.has(has::kArp));
  EXPECT_EQ(header_field(MappedReg::ArpOp, rep, h), 2u);
  EXPECT_EQ(header_field(MappedReg::ArpSpa, rep, h), tpa);
  EXPECT_TRUE(std::equal(kMacA.begin(), kMacA.end(), rep.begin() + 14 + 18));  // tha

  EXPECT_THROW(PacketBuilder().arp({}).build(), std::logic_error);  // ARP needs Ethernet
}

TEST(PacketBuilder, Ipv4OptionsAndFragmentFields) {
  PacketBuilder pb = tcp4_builder();
  pb.ipv4({.src = 1, .dst = 2, .options = ip4_record_route(9, {ip4_addr("10.0.0.1")})});
  Bytes f = pb.build();
  Headers h = parse_headers(f, LinkType::Ethernet);
  ASSERT_TRUE(h.has(has::kTcp));
  EXPECT_EQ(h.ip_hlen, 60);  // 39 bytes of record route, one byte of padding
  EXPECT_EQ(f[14 + 20], 7);
  EXPECT_EQ(f[14 + 22], 8);  // pointer past the one recorded address
  EXPECT_TRUE(ip4_header_ok(f, h));
  EXPECT_TRUE(l4_checksum_ok(f, h));

  pb.ipv4({.src = 1, .dst = 2, .mf = true, .frag_offset = 1480});
  pb.raw({.protocol = 6, .data = Bytes(16, 0xab)});
  f = pb.build();
  h = parse_headers(f, LinkType::Ethernet);
  EXPECT_TRUE(h.has(has::kFrag));
  EXPECT_FALSE(h.has(has::kTcp));  // a non-first fragment has no TCP header
  EXPECT_EQ(h.ip_fragoff, 1480u);
  EXPECT_EQ(h.ip_mf, 1);
  EXPECT_EQ(h.ip_proto, 6);
  EXPECT_TRUE(ip4_header_ok(f, h));

  pb.ipv4({.src = 1, .dst = 2, .frag_offset = 7});
  EXPECT_THROW(pb.build(), std::logic_error);
}

TEST(PacketBuilder, Ipv4Fragments) {
  Bytes payload(1400);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7);
  PacketBuilder pb = tcp4_builder(payload);
  // Record route is not copied into later fragments; stream id (0x88) is.
  Bytes options = ip4_record_route(2);
  options.insert(options.end(), {0x88, 4, 0x12, 0x34});
  pb.ipv4(
      {.src = ip4_addr("10.0.0.5"), .dst = ip4_addr("192.168.1.10"), .id = 77, .options = options});
  const Bytes whole = pb.build_ip();
  const std::vector<Bytes> frags = pb.build_fragments(1000);
  ASSERT_EQ(frags.size(), 2u);

  const Headers h0 = parse_headers(frags[0], LinkType::Ethernet);
  const Headers h1 = parse_headers(frags[1], LinkType::Ethernet);
  EXPECT_TRUE(h0.has(has::kTcp));
  EXPECT_EQ(h0.ip_mf, 1);
  EXPECT_EQ(h0.ip_fragoff, 0u);
  EXPECT_EQ(h0.ip_hlen, 20 + 16);
  EXPECT_EQ(header_field(MappedReg::IpLen, frags[0], h0), 36u + 1000);
  EXPECT_FALSE(h1.has(has::kTcp));
  EXPECT_EQ(h1.ip_mf, 0);
  EXPECT_EQ(h1.ip_fragoff, 1000u);
  EXPECT_EQ(h1.ip_hlen, 24);
  EXPECT_EQ(frags[1][14 + 20], 0x88);
  EXPECT_EQ(h1.ip_id, 77u);
  EXPECT_TRUE(ip4_header_ok(frags[0], h0));
  EXPECT_TRUE(ip4_header_ok(frags[1], h1));

  // Reassembled, the datagram is the unfragmented one and its TCP checksum holds.
  Bytes data(frags[0].begin() + 14 + 36, frags[0].end());
  data.insert(data.end(), frags[1].begin() + 14 + 24, frags[1].end());
  ASSERT_EQ(data.size(), whole.size() - 36);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), whole.begin() + 36));
  EXPECT_TRUE(l4_checksum_ok(whole, parse_headers(whole, LinkType::RawIp)));

  EXPECT_EQ(pb.build_fragments(2000).size(), 1u);
}

TEST(PacketBuilder, Ipv6ExtensionHeaders) {
  const Ip6Addr src = ip6_addr("2001:db8:1::5");
  const Ip6Addr dst = ip6_addr("2001:db8:2::10");
  const Ip6Addr via = ip6_addr("2001:db8:9::1");
  const Ip6Addr final_dst = ip6_addr("2001:db8:3::1");
  const Bytes f =
      PacketBuilder()
          .eth(kMacB, kMacA)
          .ipv6({.src = src,
                 .dst = dst,
                 .hop_limit = 9,
                 .ext = {ip6_hop_by_hop({5, 2, 0, 0}), ip6_dest_options(),
                         ip6_routing({via, final_dst}, 2), ip6_fragment(0, false, 0xabcdef01)}})
          .udp({.sport = 5001, .dport = 5002, .payload = bytes("payload")})
          .build();
  EXPECT_EQ(rd16(f, 12), 0x86dd);
  const Headers h = parse_headers(f, LinkType::Ethernet);
  ASSERT_TRUE(h.has(has::kIp6));
  ASSERT_TRUE(h.has(has::kUdp));
  EXPECT_TRUE(h.has(has::kFrag));
  EXPECT_EQ(h.ip_hlen, 40 + 8 + 8 + 40 + 8);
  EXPECT_EQ(h.ip_proto, 17);
  EXPECT_EQ(h.ip_id, 0xabcdef01u);
  EXPECT_EQ(header_field(MappedReg::IpTtl, f, h), 9u);
  EXPECT_EQ(header_field(MappedReg::L4Dport, f, h), 5002u);
  EXPECT_EQ(f[14 + 6], 0);  // hop-by-hop first, then the chain
  EXPECT_EQ(f[14 + 40], 60);
  EXPECT_EQ(f[14 + 48], 43);
  EXPECT_EQ(f[14 + 56], 44);
  EXPECT_EQ(f[14 + 96], 17);
  // The routing header still has hops to go: the checksum uses its last address.
  EXPECT_TRUE(l4_checksum_ok(f, h, final_dst.data()));
  EXPECT_FALSE(l4_checksum_ok(f, h));
}

TEST(PacketBuilder, Ipv6Fragments) {
  PacketBuilder pb;
  pb.ipv6({.src = ip6_addr("2001:db8::1"),
           .dst = ip6_addr("2001:db8::2"),
           .ext = {ip6_hop_by_hop(), ip6_dest_options()}})
      .udp({.sport = 1, .dport = 2, .payload = Bytes(3000, 0x5a)});
  const Bytes whole = pb.build();
  const std::vector<Bytes> frags = pb.build_fragments(1280, 42);
  ASSERT_EQ(frags.size(), 3u);
  Bytes data;
  for (size_t i = 0; i < frags.size(); ++i) {
    const Headers h = parse_headers(frags[i], LinkType::RawIp);
    ASSERT_TRUE(h.has(has::kIp6));
    EXPECT_TRUE(h.has(has::kFrag));
    EXPECT_EQ(h.ip_id, 42u);
    EXPECT_EQ(h.ip_fragoff, i * 1280);
    EXPECT_EQ(h.ip_mf, i + 1 < frags.size() ? 1 : 0);
    // Hop-by-hop stays in front; destination options travel in the fragments.
    EXPECT_EQ(frags[i][6], 0);
    EXPECT_EQ(frags[i][40], 44);
    EXPECT_EQ(frags[i][48], 60);
    EXPECT_EQ(h.has(has::kUdp), i == 0);
    data.insert(data.end(), frags[i].begin() + 56, frags[i].end());
  }
  ASSERT_EQ(data.size(), whole.size() - 48);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), whole.begin() + 48));
  EXPECT_TRUE(l4_checksum_ok(whole, parse_headers(whole, LinkType::RawIp)));
}

TEST(PacketBuilder, IcmpEchoBothVersions) {
  PacketBuilder pb;
  pb.eth(kMacB, kMacA)
      .ipv4({.src = ip4_addr("10.0.0.1"), .dst = ip4_addr("10.0.0.2")})
      .icmp_echo({.reply = false, .id = 0x1234, .seq = 7, .payload = bytes("abcdefgh")});
  Bytes f = pb.build();
  Headers h = parse_headers(f, LinkType::Ethernet);
  ASSERT_TRUE(h.has(has::kIcmp));
  EXPECT_EQ(header_field(MappedReg::IcmpType, f, h), 8u);
  EXPECT_EQ(rd16(f, h.l4 + 4), 0x1234);
  EXPECT_EQ(rd16(f, h.l4 + 6), 7);
  EXPECT_TRUE(ip4_header_ok(f, h));
  EXPECT_TRUE(l4_checksum_ok(f, h));

  pb.icmp_echo({.reply = true, .id = 1, .seq = 2, .payload = bytes("odd")});
  f = pb.build();
  h = parse_headers(f, LinkType::Ethernet);
  EXPECT_EQ(header_field(MappedReg::IcmpType, f, h), 0u);
  EXPECT_TRUE(l4_checksum_ok(f, h));

  pb.ipv6({.src = ip6_addr("fe80::1"), .dst = ip6_addr("fe80::2")});
  for (bool reply : {false, true}) {
    pb.icmp_echo({.reply = reply, .id = 9, .seq = 10, .payload = bytes("x")});
    f = pb.build();
    h = parse_headers(f, LinkType::Ethernet);
    ASSERT_TRUE(h.has(has::kIcmp));
    EXPECT_EQ(h.ip_proto, 58);
    EXPECT_EQ(header_field(MappedReg::IcmpType, f, h), reply ? 129u : 128u);
    EXPECT_TRUE(l4_checksum_ok(f, h));  // ICMPv6 includes the pseudo-header
  }

  pb.ipv4({.src = 1, .dst = 2}).icmp({.type = 3, .code = 3, .payload = Bytes(28, 0x45)});
  f = pb.build();
  h = parse_headers(f, LinkType::Ethernet);
  EXPECT_EQ(header_field(MappedReg::IcmpCode, f, h), 3u);
  EXPECT_TRUE(l4_checksum_ok(f, h));
}

TEST(PacketBuilder, SctpCrc32c) {
  // RFC 3720 B.4 vectors validate the test's own CRC first.
  EXPECT_EQ(crc32c_table(Bytes(32, 0)), 0x8a9136aau);
  EXPECT_EQ(crc32c_table(Bytes(32, 0xff)), 0x62a8ab43u);

  const Bytes f = PacketBuilder()
                      .eth(kMacB, kMacA)
                      .ipv4({.src = 1, .dst = 2})
                      .sctp({.sport = 5000,
                             .dport = 2905,
                             .vtag = 0,
                             .chunks = sctp_init_chunk(0x01020304, 65536, 10, 10, 1)})
                      .build();
  const Headers h = parse_headers(f, LinkType::Ethernet);
  ASSERT_TRUE(h.has(has::kSctp));
  EXPECT_EQ(header_field(MappedReg::L4Dport, f, h), 2905u);
  Bytes sctp(f.begin() + h.l4, f.begin() + h.l4 + 12 + 20);
  const uint32_t stored =
      sctp[8] | sctp[9] << 8 | sctp[10] << 16 | static_cast<uint32_t>(sctp[11]) << 24;
  std::fill(sctp.begin() + 8, sctp.begin() + 12, 0);
  EXPECT_EQ(stored, crc32c_table(sctp));
}

TEST(PacketBuilder, RawIp) {
  PacketBuilder pb = tcp4_builder();
  const Bytes frame = pb.build();
  const Bytes ip = pb.build_ip();
  EXPECT_TRUE(std::equal(ip.begin(), ip.end(), frame.begin() + 14, frame.end()));

  PacketBuilder raw;
  raw.ipv6({.src = ip6_addr("::1"), .dst = ip6_addr("::2")}).udp({.sport = 7, .dport = 9});
  const Bytes p = raw.build();
  ASSERT_EQ(p.size(), 48u);  // no Ethernet, so no padding either
  EXPECT_EQ(p[0] >> 4, 6);
  const Headers h = parse_headers(p, LinkType::RawIp);
  ASSERT_TRUE(h.has(has::kUdp));
  EXPECT_EQ(h.l3, 0);
  EXPECT_TRUE(l4_checksum_ok(p, h));

  EXPECT_THROW(PacketBuilder().ipv4({}).build(), std::logic_error);  // no transport
  EXPECT_THROW(PacketBuilder().udp({}).build(), std::logic_error);   // no IP
  EXPECT_THROW(PacketBuilder().vlan(1).ipv4({}).udp({}).build(), std::logic_error);
}

// A second opinion from the VM: recomputing every checksum of a built packet
// must change nothing.
TEST(PacketBuilder, AgreesWithRecomputeChecksums) {
  std::vector<Bytes> packets = synthetic_packets(300, 99);
  packets.push_back(tcp4_builder().build());
  for (Bytes p : packets) {
    const Bytes before = p;
    recompute_checksums(p, LinkType::Ethernet, csum::kIp | csum::kL4);
    EXPECT_EQ(p, before);
  }
}

// ---------------------------------------------------------------------------

struct Mix {
  std::map<std::string, size_t> kinds;
  size_t vlan = 0;
  size_t qinq = 0;
  std::set<uint32_t> nets;
  std::set<uint16_t> ports;
};

Mix classify(const std::vector<Bytes>& frames) {
  Mix m;
  for (const Bytes& f : frames) {
    const Headers h = parse_headers(f, LinkType::Ethernet);
    if (h.has(has::kVlan)) ++m.vlan;
    if (rd16(f, 12) == kTpid8021ad) ++m.qinq;
    std::string kind = h.has(has::kArp) ? "arp" : h.has(has::kIp4) ? "ip4" : "ip6";
    if (h.has(has::kTcp)) kind += "-tcp";
    if (h.has(has::kUdp)) kind += "-udp";
    if (h.has(has::kIcmp)) kind += "-icmp";
    ++m.kinds[kind];
    if (h.has(has::kIp4)) {
      m.nets.insert(static_cast<uint32_t>(header_field(MappedReg::IpSrc, f, h)) & 0xffffff00);
    }
    if (h.has(has::kL4) && !h.has(has::kIcmp)) {
      m.ports.insert(static_cast<uint16_t>(header_field(MappedReg::L4Sport, f, h)));
      m.ports.insert(static_cast<uint16_t>(header_field(MappedReg::L4Dport, f, h)));
    }
  }
  return m;
}

TEST(SyntheticPackets, Deterministic) {
  EXPECT_EQ(synthetic_packets(500, 1), synthetic_packets(500, 1));
  EXPECT_NE(synthetic_packets(500, 1), synthetic_packets(500, 2));
  const auto longer = synthetic_packets(600, 1);
  const auto shorter = synthetic_packets(500, 1);
  EXPECT_TRUE(std::equal(shorter.begin(), shorter.end(), longer.begin()));
  EXPECT_TRUE(synthetic_packets(0, 1).empty());
}

TEST(SyntheticPackets, AdvertisedMix) {
  constexpr size_t kN = 4000;
  const std::vector<Bytes> frames = synthetic_packets(kN, 2024);
  ASSERT_EQ(frames.size(), kN);
  for (const Bytes& f : frames) {
    EXPECT_GE(f.size(), 60u);
    EXPECT_LE(f.size(), 1514u);
  }
  const Mix m = classify(frames);
  const std::map<std::string, double> want = {
      {"ip4-tcp", 0.40}, {"ip4-udp", 0.20},  {"ip4-icmp", 0.05}, {"ip6-tcp", 0.15},
      {"ip6-udp", 0.10}, {"ip6-icmp", 0.05}, {"arp", 0.05}};
  size_t total = 0;
  for (const auto& [kind, share] : want) {
    const double got = static_cast<double>(m.kinds.count(kind) ? m.kinds.at(kind) : 0) / kN;
    EXPECT_NEAR(got, share, 0.03) << kind;
    total += m.kinds.count(kind) ? m.kinds.at(kind) : 0;
  }
  EXPECT_EQ(total, kN) << "a frame of a kind not advertised";
  EXPECT_NEAR(static_cast<double>(m.vlan) / kN, 0.95 / 16, 0.02);
  EXPECT_GT(m.qinq, 0u);
  EXPECT_EQ(m.nets, (std::set<uint32_t>{ip4_addr("10.0.0.0"), ip4_addr("10.1.2.0"),
                                        ip4_addr("192.168.1.0"), ip4_addr("172.16.5.0")}));
  for (uint16_t port : {22, 25, 53, 80, 123, 443, 8080}) EXPECT_TRUE(m.ports.count(port)) << port;
  EXPECT_GT(m.ports.size(), 500u);  // and plenty of random ones

  std::map<size_t, size_t> sizes;
  for (const Bytes& f : frames) ++sizes[f.size() <= 128 ? 0 : f.size() <= 1000 ? 1 : 2];
  EXPECT_GT(sizes[0], kN / 4);
  EXPECT_GT(sizes[2], kN / 5);
}

TEST(SyntheticPackets, ChecksumsHold) {
  for (const Bytes& f : synthetic_packets(1000, 5)) {
    const Headers h = parse_headers(f, LinkType::Ethernet);
    if (h.has(has::kIp4)) {
      EXPECT_TRUE(ip4_header_ok(f, h));
    }
    if (h.has(has::kIp4) || h.has(has::kIp6)) {
      ASSERT_TRUE(h.has(has::kL4));
      EXPECT_TRUE(l4_checksum_ok(f, h));
    }
  }
}

// ---------------------------------------------------------------------------
// The bundled captures: other tests count on what they hold.

#ifdef NETCPU_SOURCE_DIR
struct Capture {
  uint32_t linktype = 0;
  std::vector<Bytes> packets;
  std::vector<uint64_t> usec;
};

Capture read_pcap(const std::string& name) {
  const std::filesystem::path path =
      std::filesystem::path(NETCPU_SOURCE_DIR) / "examples/pcaps" / name;
  std::ifstream in(path, std::ios::binary);
  const Bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Capture c;
  if (file.size() < 24) return c;
  const bool swapped = file[0] == 0xa1;  // big-endian writer
  auto u32 = [&](size_t off) {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= uint32_t{file[off + k]} << (swapped ? 24 - 8 * k : 8 * k);
    return v;
  };
  c.linktype = u32(20);
  for (size_t off = 24; off + 16 <= file.size();) {
    const uint32_t caplen = u32(off + 8);
    c.usec.push_back(uint64_t{u32(off)} * 1000000 + u32(off + 4));
    c.packets.emplace_back(file.begin() + off + 16, file.begin() + off + 16 + caplen);
    off += 16 + caplen;
  }
  return c;
}

void expect_checksums(const Capture& c, LinkType link) {
  for (size_t i = 0; i < c.packets.size(); ++i) {
    const Bytes& p = c.packets[i];
    const Headers h = parse_headers(p, link);
    if (h.has(has::kIp4)) {
      EXPECT_TRUE(ip4_header_ok(p, h)) << "packet " << i;
    }
    const bool whole = h.ip_fragoff == 0 && h.ip_mf == 0;
    if (whole && h.has(has::kL4) && !h.has(has::kSctp)) {
      EXPECT_TRUE(l4_checksum_ok(p, h)) << "packet " << i;
    }
  }
}

TEST(BundledPcaps, Mixed) {
  const Capture c = read_pcap("mixed.pcap");
  ASSERT_FALSE(c.packets.empty()) << "examples/pcaps/mixed.pcap missing";
  EXPECT_EQ(c.linktype, 1u);
  ASSERT_EQ(c.packets.size(), 60u);
  EXPECT_EQ(c.usec.front(), 1700000000ull * 1000000);
  expect_checksums(c, LinkType::Ethernet);

  const Mix m = classify(c.packets);
  EXPECT_EQ(m.kinds.at("arp"), 7u);
  EXPECT_EQ(m.kinds.at("ip4-tcp"), 31u);
  EXPECT_EQ(m.kinds.at("ip4"), 2u);  // a non-first fragment and the SCTP INIT
  EXPECT_EQ(m.kinds.at("ip4-udp"), 7u);
  EXPECT_EQ(m.kinds.at("ip4-icmp"), 5u);
  EXPECT_EQ(m.kinds.at("ip6-tcp"), 3u);
  EXPECT_EQ(m.kinds.at("ip6-udp"), 3u);
  EXPECT_EQ(m.kinds.at("ip6-icmp"), 2u);
  EXPECT_EQ(m.vlan, 2u);
  EXPECT_EQ(m.qinq, 1u);

  const uint32_t a = ip4_addr("128.3.112.15");
  const uint32_t b = ip4_addr("128.3.112.35");
  std::map<std::pair<uint64_t, uint64_t>, size_t> tcp_flows;
  std::map<uint64_t, size_t> tcp_dports;
  size_t freebsd = 0, freebsd_tcp = 0, frags = 0, sctp = 0, ip_options = 0;
  for (const Bytes& p : c.packets) {
    const Headers h = parse_headers(p, LinkType::Ethernet);
    if (contains(p, "freebsd")) {
      ++freebsd;
      if (h.has(has::kTcp)) ++freebsd_tcp;
    }
    if (h.has(has::kFrag)) ++frags;
    if (h.has(has::kSctp)) ++sctp;
    if (h.has(has::kIp4) && h.ip_hlen > 20) ++ip_options;
    if (!h.has(has::kTcp)) continue;
    ++tcp_dports[header_field(MappedReg::L4Dport, p, h)];
    if (h.has(has::kIp4)) {
      ++tcp_flows[{header_field(MappedReg::IpSrc, p, h), header_field(MappedReg::IpDst, p, h)}];
    }
  }
  EXPECT_EQ(freebsd, 3u);
  EXPECT_EQ(freebsd_tcp, 3u);
  EXPECT_EQ(frags, 3u);  // two IPv4 fragments and the IPv6 atomic fragment
  EXPECT_EQ(sctp, 1u);
  EXPECT_EQ(ip_options, 1u);
  EXPECT_EQ((tcp_flows[{a, b}]), 8u);
  EXPECT_EQ((tcp_flows[{b, a}]), 5u);
  EXPECT_EQ((tcp_flows[{a, ip4_addr("128.3.112.36")}]), 1u);
  EXPECT_EQ(tcp_dports[80], 11u);
  EXPECT_EQ(tcp_dports[22], 4u);
  EXPECT_EQ(tcp_dports[443], 4u);
  EXPECT_EQ(tcp_dports[8080], 1u);
  EXPECT_EQ(tcp_dports[25], 1u);
}

TEST(BundledPcaps, Flood) {
  const Capture c = read_pcap("flood.pcap");
  ASSERT_FALSE(c.packets.empty()) << "examples/pcaps/flood.pcap missing";
  ASSERT_EQ(c.packets.size(), 220u);
  EXPECT_TRUE(std::is_sorted(c.usec.begin(), c.usec.end()));
  EXPECT_LT(c.usec.back() - c.usec.front(), 3000000u);
  std::map<uint64_t, size_t> by_src;
  for (const Bytes& p : c.packets) {
    const Headers h = parse_headers(p, LinkType::Ethernet);
    ASSERT_TRUE(h.has(has::kUdp));
    EXPECT_EQ(header_field(MappedReg::IpDst, p, h), ip4_addr("10.0.0.1"));
    EXPECT_EQ(header_field(MappedReg::L4Dport, p, h), 5000u);
    ++by_src[header_field(MappedReg::IpSrc, p, h)];
  }
  EXPECT_EQ(by_src[ip4_addr("10.0.0.66")], 200u);
  EXPECT_EQ(by_src[ip4_addr("10.0.0.7")], 10u);
  EXPECT_EQ(by_src[ip4_addr("10.0.0.8")], 10u);
  expect_checksums(c, LinkType::Ethernet);
}

TEST(BundledPcaps, NatAndRawIp) {
  const Capture nat = read_pcap("nat.pcap");
  const Capture raw = read_pcap("rawip.pcap");
  ASSERT_FALSE(nat.packets.empty() || raw.packets.empty()) << "bundled pcaps missing";
  EXPECT_EQ(nat.packets.size(), 20u);
  const Mix m = classify(nat.packets);
  EXPECT_EQ(m.kinds.at("ip4-tcp"), 10u);
  EXPECT_EQ(m.kinds.at("ip4-udp"), 6u);
  EXPECT_EQ(m.kinds.at("ip4-icmp"), 4u);
  expect_checksums(nat, LinkType::Ethernet);

  EXPECT_EQ(raw.linktype, 101u);  // LINKTYPE_RAW
  EXPECT_EQ(raw.packets.size(), 10u);
  size_t v4 = 0, v6 = 0;
  for (const Bytes& p : raw.packets) {
    const Headers h = parse_headers(p, LinkType::RawIp);
    EXPECT_TRUE(h.has(has::kL4));
    v4 += h.has(has::kIp4);
    v6 += h.has(has::kIp6);
  }
  EXPECT_EQ(v4, 6u);
  EXPECT_EQ(v6, 4u);
  expect_checksums(raw, LinkType::RawIp);
}
#endif

}  // namespace
}  // namespace netcpu::packets
