#include "netcpu/packet_view.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "packet_bytes.h"

namespace netcpu {
namespace {

// ---------------------------------------------------------------------------
// Hand-built packets.

using namespace test_bytes;

void put48(Bytes& b, uint64_t v) {
  put16(b, static_cast<uint16_t>(v >> 32));
  put32(b, static_cast<uint32_t>(v));
}
void put_zeros(Bytes& b, size_t n) { b.insert(b.end(), n, 0); }

constexpr uint64_t kDstMac = 0x02'11'22'33'44'55;
constexpr uint64_t kSrcMac = 0x02'66'77'88'99'aa;
constexpr uint32_t kSrcIp = 0x0a000001;  // 10.0.0.1
constexpr uint32_t kDstIp = 0xc0a80102;  // 192.168.1.2

struct Tag {
  uint16_t tpid;
  uint16_t tci;
};

Bytes ethernet(uint16_t type, std::initializer_list<Tag> tags = {}) {
  Bytes b;
  put48(b, kDstMac);
  put48(b, kSrcMac);
  for (const Tag& t : tags) {
    put16(b, t.tpid);
    put16(b, t.tci);
  }
  put16(b, type);
  return b;
}

struct Ip4 {
  uint8_t proto = 6;
  uint8_t tos = 0x2e;
  uint8_t ttl = 64;
  uint16_t id = 0x1234;
  uint16_t frag = 0x4000;  // flags and offset as on the wire (DF)
  Bytes options;           // a multiple of 4 bytes
};

// Appends an IPv4 header and returns its offset; finish_ip4 sets the length.
size_t ip4(Bytes& b, const Ip4& ip) {
  const size_t l3 = b.size();
  put8(b, static_cast<uint8_t>(0x40 | (20 + ip.options.size()) / 4));
  put8(b, ip.tos);
  put16(b, 0);
  put16(b, ip.id);
  put16(b, ip.frag);
  put8(b, ip.ttl);
  put8(b, ip.proto);
  put16(b, 0);
  put32(b, kSrcIp);
  put32(b, kDstIp);
  b.insert(b.end(), ip.options.begin(), ip.options.end());
  return l3;
}
void finish_ip4(Bytes& b, size_t l3) { set16(b, l3 + 2, static_cast<uint16_t>(b.size() - l3)); }

const uint8_t kSrcIp6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const uint8_t kDstIp6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

// Appends an IPv6 header (traffic class 0xb8, hop limit 33); finish_ip6 sets the length.
size_t ip6(Bytes& b, uint8_t next) {
  const size_t l3 = b.size();
  put32(b, 0x6b812345);  // version 6, traffic class 0xb8, flow label 0x12345
  put16(b, 0);
  put8(b, next);
  put8(b, 33);
  b.insert(b.end(), kSrcIp6, kSrcIp6 + 16);
  b.insert(b.end(), kDstIp6, kDstIp6 + 16);
  return l3;
}
void finish_ip6(Bytes& b, size_t l3) {
  set16(b, l3 + 4, static_cast<uint16_t>(b.size() - l3 - 40));
}

// Hop-by-hop, routing or destination options: `units` 8-byte units, padded with PadN.
void ext_options(Bytes& b, uint8_t next, uint8_t units = 1) {
  put8(b, next);
  put8(b, static_cast<uint8_t>(units - 1));
  put8(b, 1);  // PadN
  put8(b, static_cast<uint8_t>(units * 8 - 4));
  put_zeros(b, units * 8 - 4);
}
void ext_fragment(Bytes& b, uint8_t next, uint16_t offset_bytes, bool mf, uint32_t id) {
  put8(b, next);
  put8(b, 0);
  put16(b, static_cast<uint16_t>(offset_bytes | (mf ? 1 : 0)));
  put32(b, id);
}

struct Tcp {
  uint16_t sport = 40000;
  uint16_t dport = 80;
  uint32_t seq = 0x11223344;
  uint32_t ack = 0x55667788;
  uint8_t flags = 0x18;  // PSH ACK
  uint16_t win = 0xfedc;
  uint8_t data_off = 5;
};
void tcp(Bytes& b, const Tcp& t) {
  put16(b, t.sport);
  put16(b, t.dport);
  put32(b, t.seq);
  put32(b, t.ack);
  put8(b, static_cast<uint8_t>(t.data_off << 4));
  put8(b, t.flags);
  put16(b, t.win);
  put16(b, 0);  // checksum
  put16(b, 0);  // urgent pointer
  if (t.data_off > 5) {
    b.push_back(2);  // MSS option, then NOPs
    b.push_back(4);
    put16(b, 1460);
    b.insert(b.end(), (t.data_off - 6) * 4, 1);
  }
}
void udp(Bytes& b, uint16_t sport, uint16_t dport, size_t payload) {
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<uint16_t>(8 + payload));
  put16(b, 0);
  for (size_t i = 0; i < payload; ++i) put8(b, static_cast<uint8_t>('a' + i % 26));
}
void payload(Bytes& b, size_t n) {
  for (size_t i = 0; i < n; ++i) put8(b, static_cast<uint8_t>(i * 7));
}

Bytes eth_ip4_tcp(std::initializer_list<Tag> tags = {}, const Ip4& ipo = {}, const Tcp& t = {}) {
  Bytes b = ethernet(0x0800, tags);
  const size_t l3 = ip4(b, ipo);
  tcp(b, t);
  payload(b, 10);
  finish_ip4(b, l3);
  return b;
}

// hop-by-hop, fragment (offset 0, MF, id 0xcafef00d), 16-byte destination options, UDP.
Bytes eth_ip6_chain_udp(uint16_t fragoff = 0) {
  Bytes b = ethernet(0x86dd);
  const size_t l3 = ip6(b, 0);
  ext_options(b, 44);
  ext_fragment(b, 60, fragoff, true, 0xcafef00d);
  ext_options(b, 17, 2);
  udp(b, 5353, 53, 12);
  finish_ip6(b, l3);
  return b;
}

Bytes eth_arp() {
  Bytes b = ethernet(0x0806);
  put16(b, 1);       // Ethernet
  put16(b, 0x0800);  // IPv4
  put8(b, 6);
  put8(b, 4);
  put16(b, 2);  // reply
  put48(b, kSrcMac);
  put32(b, kSrcIp);
  put48(b, kDstMac);
  put32(b, kDstIp);
  return b;
}

Headers parse(const Bytes& b, LinkType link = LinkType::Ethernet) { return parse_headers(b, link); }
uint64_t field(MappedReg r, const Bytes& b, const Headers& h) { return header_field(r, b, h); }

constexpr uint32_t kAllL4 = has::kTcp | has::kUdp | has::kSctp | has::kIcmp;

// What must hold for any packet, well-formed or not: every has:: bit is backed
// by bytes that are really there, and no field read goes outside the packet.
void expect_sane(std::span<const uint8_t> pkt, const Headers& h) {
  const size_t n = pkt.size();
  if (h.has(has::kEth)) {
    EXPECT_GE(n, 14u);
  }
  if (h.has(has::kVlan)) {
    EXPECT_TRUE(h.has(has::kEth));
    EXPECT_GE(n, 18u);
  }
  const bool ip = h.has(has::kIp4) || h.has(has::kIp6);
  EXPECT_FALSE(h.has(has::kIp4) && h.has(has::kIp6));
  EXPECT_FALSE(h.has(has::kArp) && ip);
  if (h.has(has::kArp)) {
    EXPECT_LE(h.l3 + 28u, n);
  }
  if (h.has(has::kIp4)) {
    EXPECT_GE(h.ip_hlen, 20u);
    EXPECT_LE(h.l3 + 20u, n);
    EXPECT_LE(size_t{h.l3} + h.ip_hlen, n);
    EXPECT_EQ(h.eth_type, 0x0800);
  }
  if (h.has(has::kIp6)) {
    EXPECT_GE(h.ip_hlen, 40u);
    EXPECT_LE(size_t{h.l3} + h.ip_hlen, n);
    EXPECT_EQ(h.eth_type, 0x86dd);
  }
  if (h.has(has::kFrag)) {
    EXPECT_TRUE(ip);
  }
  const uint32_t l4 = h.flags & kAllL4;
  if (h.has(has::kL4)) {
    EXPECT_TRUE(ip);
    EXPECT_EQ(h.ip_fragoff, 0u);
    EXPECT_EQ(h.l4, h.l3 + h.ip_hlen);
    EXPECT_TRUE(l4 == has::kTcp || l4 == has::kUdp || l4 == has::kSctp || l4 == has::kIcmp)
        << std::hex << h.flags;
    const size_t min = l4 == has::kTcp ? 20 : l4 == has::kUdp ? 8 : l4 == has::kSctp ? 12 : 4;
    EXPECT_LE(h.l4 + min, n);
    EXPECT_GE(h.payload, h.l4 + (l4 == has::kTcp ? 20u : 0u));
    EXPECT_LE(h.payload, n);
  } else {
    EXPECT_EQ(l4, 0u) << std::hex << h.flags;
  }
  for (size_t r = 0; r < kMappedCount; ++r) (void)header_field(static_cast<MappedReg>(r), pkt, h);
  for (MappedReg r : {MappedReg::Ip6Src, MappedReg::Ip6Dst}) {
    const uint8_t* p = header_field16(r, pkt, h);
    EXPECT_EQ(p != nullptr, h.has(has::kIp6));
    if (p != nullptr) {
      EXPECT_LE(p + 16, pkt.data() + n);
    }
  }
}

// ---------------------------------------------------------------------------
// Well-formed packets.

TEST(PacketViewTest, EthernetIpv4Tcp) {
  const Bytes b = eth_ip4_tcp();
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp4 | has::kL4 | has::kTcp);
  EXPECT_EQ(h.l3, 14);
  EXPECT_EQ(h.l4, 34);
  EXPECT_EQ(h.payload, 54);
  EXPECT_EQ(h.eth_type, 0x0800);
  EXPECT_EQ(h.ip_hlen, 20);
  EXPECT_EQ(h.ip_proto, 6);
  expect_sane(b, h);

  EXPECT_EQ(field(MappedReg::HasEth, b, h), 1u);
  EXPECT_EQ(field(MappedReg::HasVlan, b, h), 0u);
  EXPECT_EQ(field(MappedReg::HasArp, b, h), 0u);
  EXPECT_EQ(field(MappedReg::HasIp, b, h), 1u);
  EXPECT_EQ(field(MappedReg::HasIp4, b, h), 1u);
  EXPECT_EQ(field(MappedReg::HasIp6, b, h), 0u);
  EXPECT_EQ(field(MappedReg::HasL4, b, h), 1u);
  EXPECT_EQ(field(MappedReg::HasTcp, b, h), 1u);
  EXPECT_EQ(field(MappedReg::HasUdp, b, h), 0u);
  EXPECT_EQ(field(MappedReg::HasIcmp, b, h), 0u);
  EXPECT_EQ(field(MappedReg::EthDst, b, h), kDstMac);
  EXPECT_EQ(field(MappedReg::EthSrc, b, h), kSrcMac);
  EXPECT_EQ(field(MappedReg::EthType, b, h), 0x0800u);
  EXPECT_EQ(field(MappedReg::VlanId, b, h), 0u);
  EXPECT_EQ(field(MappedReg::IpVer, b, h), 4u);
  EXPECT_EQ(field(MappedReg::IpHlen, b, h), 20u);
  EXPECT_EQ(field(MappedReg::IpTos, b, h), 0x2eu);
  EXPECT_EQ(field(MappedReg::IpLen, b, h), 50u);
  EXPECT_EQ(field(MappedReg::IpId, b, h), 0x1234u);
  EXPECT_EQ(field(MappedReg::IpFrag, b, h), 0u);  // DF alone is not a fragment
  EXPECT_EQ(field(MappedReg::IpFragoff, b, h), 0u);
  EXPECT_EQ(field(MappedReg::IpMf, b, h), 0u);
  EXPECT_EQ(field(MappedReg::IpTtl, b, h), 64u);
  EXPECT_EQ(field(MappedReg::IpProto, b, h), 6u);
  EXPECT_EQ(field(MappedReg::IpSrc, b, h), kSrcIp);
  EXPECT_EQ(field(MappedReg::IpDst, b, h), kDstIp);
  EXPECT_EQ(field(MappedReg::L4Sport, b, h), 40000u);
  EXPECT_EQ(field(MappedReg::L4Dport, b, h), 80u);
  EXPECT_EQ(field(MappedReg::TcpFlags, b, h), 0x18u);
  EXPECT_EQ(field(MappedReg::TcpSeq, b, h), 0x11223344u);
  EXPECT_EQ(field(MappedReg::TcpAck, b, h), 0x55667788u);
  EXPECT_EQ(field(MappedReg::TcpWin, b, h), 0xfedcu);
  EXPECT_EQ(field(MappedReg::IcmpType, b, h), 0u);
  EXPECT_EQ(field(MappedReg::IcmpCode, b, h), 0u);
  EXPECT_EQ(header_field16(MappedReg::Ip6Src, b, h), nullptr);
}

TEST(PacketViewTest, MetadataAndWideFieldsReadZero) {
  const Bytes b = eth_ip6_chain_udp();
  const Headers h = parse(b);
  for (MappedReg r :
       {MappedReg::Mlen, MappedReg::Port, MappedReg::Dir, MappedReg::Hook, MappedReg::Now,
        MappedReg::Rand, MappedReg::Ip6Src, MappedReg::Ip6Dst, MappedReg::Count}) {
    EXPECT_EQ(field(r, b, h), 0u) << mapped_info(r).name;
  }
  EXPECT_EQ(header_field16(MappedReg::IpSrc, b, h), nullptr);
}

TEST(PacketViewTest, HeaderOffsetsAreFieldsToo) {
  const Bytes b = eth_ip6_chain_udp();
  const Headers h = parse(b);
  EXPECT_EQ(field(MappedReg::L3, b, h), 14u);
  EXPECT_EQ(field(MappedReg::L4, b, h), h.l4);
  EXPECT_EQ(field(MappedReg::Payload, b, h), h.l4 + 8u);
  const Bytes eth_only(b.begin(), b.begin() + 14);  // no network header
  const Headers none = parse(eth_only);
  EXPECT_EQ(field(MappedReg::L3, eth_only, none), 0u);
  EXPECT_EQ(field(MappedReg::Payload, eth_only, none), 0u);
}

TEST(PacketViewTest, TcpOptionsMovePayload) {
  Tcp t;
  t.data_off = 8;
  const Bytes b = eth_ip4_tcp({}, {}, t);
  const Headers h = parse(b);
  EXPECT_TRUE(h.has(has::kL4));
  EXPECT_EQ(h.payload, 34 + 32);
}

TEST(PacketViewTest, TcpDataOffsetPastEndIsClamped) {
  Tcp t;
  t.data_off = 15;
  Bytes b = eth_ip4_tcp({}, {}, t);
  b.resize(34 + 30);
  const Headers h = parse(b);
  EXPECT_TRUE(h.has(has::kTcp));
  EXPECT_EQ(h.payload, b.size());
}

TEST(PacketViewTest, TcpDataOffsetBelowFiveIsNotL4) {
  Tcp t;
  t.data_off = 4;
  const Bytes b = eth_ip4_tcp({}, {}, t);
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp4);
  EXPECT_EQ(h.l4, 34);
  EXPECT_EQ(h.payload, 34);
  EXPECT_EQ(field(MappedReg::L4Sport, b, h), 0u);
  EXPECT_EQ(field(MappedReg::TcpSeq, b, h), 0u);
}

TEST(PacketViewTest, OneVlanTag) {
  const Bytes b = eth_ip4_tcp({{0x8100, 0xa064}});  // PCP 5, DEI 0, VID 100
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kVlan | has::kIp4 | has::kL4 | has::kTcp);
  EXPECT_EQ(h.l3, 18);
  EXPECT_EQ(h.l4, 38);
  EXPECT_EQ(h.vlan_tci, 0xa064);
  EXPECT_EQ(field(MappedReg::HasVlan, b, h), 1u);
  EXPECT_EQ(field(MappedReg::VlanId, b, h), 100u);
  EXPECT_EQ(field(MappedReg::VlanPcp, b, h), 5u);
  EXPECT_EQ(field(MappedReg::EthType, b, h), 0x0800u);
  EXPECT_EQ(field(MappedReg::L4Dport, b, h), 80u);
  expect_sane(b, h);
}

TEST(PacketViewTest, TwoVlanTagsReportTheOuterOne) {
  const Bytes b = eth_ip4_tcp({{0x88a8, 0x300a}, {0x8100, 0xe014}});
  const Headers h = parse(b);
  EXPECT_TRUE(h.has(has::kVlan));
  EXPECT_TRUE(h.has(has::kTcp));
  EXPECT_EQ(h.l3, 22);
  EXPECT_EQ(field(MappedReg::VlanId, b, h), 10u);
  EXPECT_EQ(field(MappedReg::VlanPcp, b, h), 1u);
  EXPECT_EQ(field(MappedReg::EthType, b, h), 0x0800u);
  EXPECT_EQ(field(MappedReg::IpSrc, b, h), kSrcIp);
  expect_sane(b, h);
}

TEST(PacketViewTest, ManyTagsOfEveryKind) {
  const Bytes b = eth_ip4_tcp({{0x9100, 0x0fff}, {0x88a8, 2}, {0x8100, 3}, {0x8100, 4}});
  const Headers h = parse(b);
  EXPECT_EQ(h.l3, 30);
  EXPECT_EQ(field(MappedReg::VlanId, b, h), 0xfffu);
  EXPECT_TRUE(h.has(has::kL4));
}

TEST(PacketViewTest, NonIpEtherType) {
  Bytes b = ethernet(0x88cc);  // LLDP
  payload(b, 40);
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth);
  EXPECT_EQ(h.eth_type, 0x88cc);
  EXPECT_EQ(h.l3, 14);
  EXPECT_EQ(field(MappedReg::IpVer, b, h), 0u);
}

TEST(PacketViewTest, Ipv4WithOptions) {
  Ip4 ipo;
  ipo.options = {0x94, 0x04, 0x00, 0x00,
                 0x01, 0x01, 0x01, 0x00};  // router alert, NOP, NOP, NOP, EOL
  const Bytes b = eth_ip4_tcp({}, ipo);
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp4 | has::kL4 | has::kTcp);
  EXPECT_EQ(h.ip_hlen, 28);
  EXPECT_EQ(h.l4, 14 + 28);
  EXPECT_EQ(field(MappedReg::IpHlen, b, h), 28u);
  EXPECT_EQ(field(MappedReg::L4Sport, b, h), 40000u);
  EXPECT_EQ(field(MappedReg::TcpSeq, b, h), 0x11223344u);
  expect_sane(b, h);
}

TEST(PacketViewTest, Ipv4BadVersionOrHeaderLength) {
  Bytes b = eth_ip4_tcp();
  b[14] = 0x65;  // version 6 behind EtherType 0x0800
  EXPECT_EQ(parse(b).flags, has::kEth);
  b[14] = 0x44;  // IHL 4
  EXPECT_EQ(parse(b).flags, has::kEth);
  b[14] = 0x4f;  // IHL 15: 60 bytes, more than the packet holds after l3 + 20 + 20 + 10
  b.resize(14 + 50);
  EXPECT_EQ(parse(b).flags, has::kEth);
}

TEST(PacketViewTest, Ipv4FirstFragment) {
  Ip4 ipo;
  ipo.frag = 0x2000;  // MF, offset 0
  ipo.id = 0xbeef;
  const Bytes b = eth_ip4_tcp({}, ipo);
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp4 | has::kFrag | has::kL4 | has::kTcp);
  EXPECT_EQ(field(MappedReg::IpFrag, b, h), 1u);
  EXPECT_EQ(field(MappedReg::IpMf, b, h), 1u);
  EXPECT_EQ(field(MappedReg::IpFragoff, b, h), 0u);
  EXPECT_EQ(field(MappedReg::IpId, b, h), 0xbeefu);
  EXPECT_EQ(field(MappedReg::L4Dport, b, h), 80u);
}

TEST(PacketViewTest, Ipv4LaterFragmentHasNoTransportHeader) {
  for (uint16_t frag :
       {uint16_t{0x20b9}, uint16_t{0x00b9}}) {  // offset 185 = 1480 bytes, MF or last
    Ip4 ipo;
    ipo.frag = frag;
    const Bytes b = eth_ip4_tcp({}, ipo);
    const Headers h = parse(b);
    EXPECT_EQ(h.flags, has::kEth | has::kIp4 | has::kFrag);
    EXPECT_EQ(h.ip_fragoff, 1480u);
    EXPECT_EQ(h.ip_mf, frag >> 13);
    EXPECT_EQ(h.l4, 34);  // where the fragment's data starts
    EXPECT_EQ(h.payload, 34);
    EXPECT_EQ(field(MappedReg::IpFrag, b, h), 1u);
    EXPECT_EQ(field(MappedReg::IpFragoff, b, h), 1480u);
    EXPECT_EQ(field(MappedReg::IpProto, b, h), 6u);
    EXPECT_EQ(field(MappedReg::L4Sport, b, h), 0u);
    EXPECT_EQ(field(MappedReg::TcpFlags, b, h), 0u);
    expect_sane(b, h);
  }
}

TEST(PacketViewTest, Ipv4UnknownProtocol) {
  Ip4 ipo;
  ipo.proto = 47;  // GRE
  Bytes b = ethernet(0x0800);
  const size_t l3 = ip4(b, ipo);
  payload(b, 24);
  finish_ip4(b, l3);
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp4);
  EXPECT_EQ(h.ip_proto, 47);
  EXPECT_EQ(h.l4, 34);
  EXPECT_EQ(h.payload, 34);
}

TEST(PacketViewTest, Ipv4Udp) {
  Ip4 ipo;
  ipo.proto = 17;
  Bytes b = ethernet(0x0800);
  const size_t l3 = ip4(b, ipo);
  udp(b, 68, 67, 20);
  finish_ip4(b, l3);
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp4 | has::kL4 | has::kUdp);
  EXPECT_EQ(h.payload, 34 + 8);
  EXPECT_EQ(field(MappedReg::L4Sport, b, h), 68u);
  EXPECT_EQ(field(MappedReg::L4Dport, b, h), 67u);
  EXPECT_EQ(field(MappedReg::TcpSeq, b, h), 0u);
}

TEST(PacketViewTest, Ipv4Sctp) {
  Ip4 ipo;
  ipo.proto = 132;
  Bytes b = ethernet(0x0800);
  const size_t l3 = ip4(b, ipo);
  put16(b, 2905);
  put16(b, 3868);
  put32(b, 0x01020304);  // verification tag
  put32(b, 0);           // CRC32c
  payload(b, 16);
  finish_ip4(b, l3);
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp4 | has::kL4 | has::kSctp);
  EXPECT_EQ(h.payload, 34 + 12);
  EXPECT_EQ(field(MappedReg::L4Sport, b, h), 2905u);
  EXPECT_EQ(field(MappedReg::L4Dport, b, h), 3868u);
  EXPECT_EQ(field(MappedReg::HasTcp, b, h), 0u);
  EXPECT_EQ(field(MappedReg::HasUdp, b, h), 0u);
}

TEST(PacketViewTest, Ipv4Icmp) {
  Ip4 ipo;
  ipo.proto = 1;
  Bytes b = ethernet(0x0800);
  const size_t l3 = ip4(b, ipo);
  put8(b, 8);  // echo request
  put8(b, 0);
  put16(b, 0);
  put32(b, 0x00010002);
  payload(b, 8);
  finish_ip4(b, l3);
  Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp4 | has::kL4 | has::kIcmp);
  EXPECT_EQ(h.payload, 34 + 8);
  EXPECT_EQ(field(MappedReg::IcmpType, b, h), 8u);
  EXPECT_EQ(field(MappedReg::IcmpCode, b, h), 0u);
  EXPECT_EQ(field(MappedReg::L4Sport, b, h), 0u);  // ICMP has no ports

  // Only the first 4 bytes: still ICMP, payload right after them.
  b.resize(34 + 6);
  h = parse(b);
  EXPECT_TRUE(h.has(has::kIcmp));
  EXPECT_EQ(h.payload, 34 + 4);
}

TEST(PacketViewTest, IcmpVersionsDoNotCross) {
  Ip4 ipo;
  ipo.proto = 58;
  Bytes b4 = ethernet(0x0800);
  const size_t l3 = ip4(b4, ipo);
  payload(b4, 16);
  finish_ip4(b4, l3);
  EXPECT_EQ(parse(b4).flags, has::kEth | has::kIp4);

  Bytes b6 = ethernet(0x86dd);
  const size_t l3v6 = ip6(b6, 1);
  payload(b6, 16);
  finish_ip6(b6, l3v6);
  const Headers h6 = parse(b6);
  EXPECT_EQ(h6.flags, has::kEth | has::kIp6);
  EXPECT_EQ(h6.l4, 54);
  EXPECT_EQ(field(MappedReg::IcmpType, b6, h6), 0u);
}

TEST(PacketViewTest, Ipv6ExtensionChainThenUdp) {
  const Bytes b = eth_ip6_chain_udp();
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp6 | has::kFrag | has::kL4 | has::kUdp);
  EXPECT_EQ(h.l3, 14);
  EXPECT_EQ(h.ip_hlen, 40 + 8 + 8 + 16);
  EXPECT_EQ(h.l4, 14 + 72);
  EXPECT_EQ(h.payload, 14 + 72 + 8);
  EXPECT_EQ(h.ip_proto, 17);
  expect_sane(b, h);

  EXPECT_EQ(field(MappedReg::HasIp, b, h), 1u);
  EXPECT_EQ(field(MappedReg::HasIp6, b, h), 1u);
  EXPECT_EQ(field(MappedReg::IpVer, b, h), 6u);
  EXPECT_EQ(field(MappedReg::EthType, b, h), 0x86ddu);
  EXPECT_EQ(field(MappedReg::IpHlen, b, h), 72u);
  EXPECT_EQ(field(MappedReg::IpTos, b, h), 0xb8u);
  EXPECT_EQ(field(MappedReg::IpLen, b, h), b.size() - 14);
  EXPECT_EQ(field(MappedReg::IpTtl, b, h), 33u);
  EXPECT_EQ(field(MappedReg::IpProto, b, h), 17u);
  EXPECT_EQ(field(MappedReg::IpFrag, b, h), 1u);
  EXPECT_EQ(field(MappedReg::IpMf, b, h), 1u);
  EXPECT_EQ(field(MappedReg::IpFragoff, b, h), 0u);
  EXPECT_EQ(field(MappedReg::IpId, b, h), 0xcafef00du);
  EXPECT_EQ(field(MappedReg::IpSrc, b, h), 0u);
  EXPECT_EQ(field(MappedReg::IpDst, b, h), 0u);
  EXPECT_EQ(field(MappedReg::L4Sport, b, h), 5353u);
  EXPECT_EQ(field(MappedReg::L4Dport, b, h), 53u);

  const uint8_t* src = header_field16(MappedReg::Ip6Src, b, h);
  const uint8_t* dst = header_field16(MappedReg::Ip6Dst, b, h);
  ASSERT_NE(src, nullptr);
  ASSERT_NE(dst, nullptr);
  EXPECT_EQ(std::memcmp(src, kSrcIp6, 16), 0);
  EXPECT_EQ(std::memcmp(dst, kDstIp6, 16), 0);
}

TEST(PacketViewTest, Ipv6LaterFragmentHasNoTransportHeader) {
  const Bytes b = eth_ip6_chain_udp(2888);
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp6 | has::kFrag);
  EXPECT_EQ(h.ip_fragoff, 2888u);
  EXPECT_EQ(h.ip_hlen, 72);
  EXPECT_EQ(h.l4, 14 + 72);
  EXPECT_EQ(field(MappedReg::IpFragoff, b, h), 2888u);
  EXPECT_EQ(field(MappedReg::L4Sport, b, h), 0u);
}

TEST(PacketViewTest, Ipv6RoutingAndAuthenticationHeaders) {
  Bytes b = ethernet(0x86dd);
  const size_t l3 = ip6(b, 43);
  ext_options(b, 51, 3);  // routing header, 24 bytes
  put8(b, 6);             // AH: next TCP, length 4 -> (4 + 2) * 4 = 24 bytes
  put8(b, 4);
  put_zeros(b, 22);
  tcp(b, {});
  finish_ip6(b, l3);
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp6 | has::kL4 | has::kTcp);
  EXPECT_EQ(h.ip_hlen, 40 + 24 + 24);
  EXPECT_EQ(h.ip_proto, 6);
  EXPECT_EQ(field(MappedReg::L4Sport, b, h), 40000u);
}

TEST(PacketViewTest, Ipv6StopsAtEspAndNoNextHeader) {
  for (uint8_t stop : {uint8_t{50}, uint8_t{59}}) {
    Bytes b = ethernet(0x86dd);
    const size_t l3 = ip6(b, 0);
    ext_options(b, stop);
    payload(b, 32);
    finish_ip6(b, l3);
    const Headers h = parse(b);
    EXPECT_EQ(h.flags, has::kEth | has::kIp6);
    EXPECT_EQ(h.ip_proto, stop);
    EXPECT_EQ(h.ip_hlen, 48);
    EXPECT_EQ(h.l4, 14 + 48);
    EXPECT_EQ(h.payload, h.l4);
  }
}

TEST(PacketViewTest, Ipv6HugeExtensionChainIsCut) {
  Bytes b = ethernet(0x86dd);
  const size_t l3 = ip6(b, 60);
  for (int i = 0; i < 40; ++i) ext_options(b, 60);
  ext_options(b, 17);
  udp(b, 1, 2, 4);
  finish_ip6(b, l3);
  const Headers h = parse(b);
  EXPECT_TRUE(h.has(has::kIp6));
  EXPECT_FALSE(h.has(has::kL4));
  EXPECT_EQ(h.ip_proto, 60);
  EXPECT_LE(h.ip_hlen, 40 + 17 * 8);
  expect_sane(b, h);
}

TEST(PacketViewTest, Ipv6Icmpv6) {
  Bytes b = ethernet(0x86dd);
  const size_t l3 = ip6(b, 58);
  put8(b, 128);  // echo request
  put8(b, 0);
  put16(b, 0);
  put32(b, 0x00070001);
  payload(b, 20);
  finish_ip6(b, l3);
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kIp6 | has::kL4 | has::kIcmp);
  EXPECT_EQ(h.ip_hlen, 40);
  EXPECT_EQ(h.l4, 54);
  EXPECT_EQ(h.payload, 62);
  EXPECT_EQ(field(MappedReg::HasIcmp, b, h), 1u);
  EXPECT_EQ(field(MappedReg::IcmpType, b, h), 128u);
  EXPECT_EQ(field(MappedReg::IcmpCode, b, h), 0u);
  EXPECT_EQ(field(MappedReg::IpLen, b, h), 40u + 28u);
  EXPECT_EQ(field(MappedReg::IpFrag, b, h), 0u);
  EXPECT_EQ(field(MappedReg::IpId, b, h), 0u);
}

TEST(PacketViewTest, Arp) {
  const Bytes b = eth_arp();
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kArp);
  EXPECT_EQ(h.l3, 14);
  EXPECT_EQ(h.eth_type, 0x0806);
  EXPECT_EQ(field(MappedReg::HasArp, b, h), 1u);
  EXPECT_EQ(field(MappedReg::HasIp, b, h), 0u);
  EXPECT_EQ(field(MappedReg::ArpOp, b, h), 2u);
  EXPECT_EQ(field(MappedReg::ArpSpa, b, h), kSrcIp);
  EXPECT_EQ(field(MappedReg::ArpTpa, b, h), kDstIp);
  EXPECT_EQ(field(MappedReg::IpSrc, b, h), 0u);

  const Bytes cut(b.begin(), b.end() - 1);
  const Headers hc = parse(cut);
  EXPECT_EQ(hc.flags, has::kEth);
  EXPECT_EQ(hc.l3, 14);
  EXPECT_EQ(field(MappedReg::ArpOp, cut, hc), 0u);
}

TEST(PacketViewTest, RawIpv4) {
  const Bytes eth = eth_ip4_tcp();
  const Bytes b(eth.begin() + 14, eth.end());
  const Headers h = parse(b, LinkType::RawIp);
  EXPECT_EQ(h.flags, has::kIp4 | has::kL4 | has::kTcp);
  EXPECT_EQ(h.l3, 0);
  EXPECT_EQ(h.l4, 20);
  EXPECT_EQ(h.eth_type, 0x0800);
  EXPECT_EQ(field(MappedReg::HasEth, b, h), 0u);
  EXPECT_EQ(field(MappedReg::EthDst, b, h), 0u);
  EXPECT_EQ(field(MappedReg::EthType, b, h), 0x0800u);
  EXPECT_EQ(field(MappedReg::IpDst, b, h), kDstIp);
  EXPECT_EQ(field(MappedReg::L4Dport, b, h), 80u);
  expect_sane(b, h);
}

TEST(PacketViewTest, RawIpv6) {
  const Bytes eth = eth_ip6_chain_udp();
  const Bytes b(eth.begin() + 14, eth.end());
  const Headers h = parse(b, LinkType::RawIp);
  EXPECT_EQ(h.flags, has::kIp6 | has::kFrag | has::kL4 | has::kUdp);
  EXPECT_EQ(h.l3, 0);
  EXPECT_EQ(h.l4, 72);
  EXPECT_EQ(h.eth_type, 0x86dd);
  EXPECT_EQ(field(MappedReg::L4Sport, b, h), 5353u);
  EXPECT_EQ(header_field16(MappedReg::Ip6Dst, b, h), b.data() + 24);
}

TEST(PacketViewTest, RawIpOtherVersionsAndEmpty) {
  EXPECT_EQ(parse(Bytes{}, LinkType::RawIp).flags, 0u);
  EXPECT_EQ(parse(Bytes{}, LinkType::Ethernet).flags, 0u);
  const Headers h = parse(Bytes{0x45}, LinkType::RawIp);  // only the version nibble
  EXPECT_EQ(h.flags, 0u);
  EXPECT_EQ(h.eth_type, 0x0800);
  Bytes b(60, 0);
  b[0] = 0x55;
  EXPECT_EQ(parse(b, LinkType::RawIp).flags, 0u);
  EXPECT_EQ(parse(b, LinkType::RawIp).eth_type, 0);
}

TEST(PacketViewTest, PacketsBeyond64KiB) {
  Bytes b = eth_ip4_tcp();
  b.resize(70000, 0xab);
  const Headers h = parse(b);
  EXPECT_TRUE(h.has(has::kTcp));
  EXPECT_EQ(h.payload, 54);
  expect_sane(b, h);

  // Stacked tags that push the network header past 64 KiB are not followed.
  Bytes tags = ethernet(0x8100);
  while (tags.size() < 70000) {
    put16(tags, 0x0001);
    put16(tags, 0x8100);
  }
  const Headers ht = parse(tags);
  EXPECT_TRUE(ht.has(has::kVlan));
  EXPECT_EQ(ht.eth_type, 0);
  expect_sane(tags, ht);
}

// ---------------------------------------------------------------------------
// Truncated and malformed packets.

// Every prefix of a good packet: sane, never more than the whole packet has,
// and exactly the whole packet's view once all its headers are there.
void check_prefixes(const Bytes& full, LinkType link) {
  const Headers whole = parse_headers(full, link);
  // Where the last header the whole packet has ends.
  size_t headers_end = std::max<size_t>(whole.payload, whole.l3 + whole.ip_hlen);
  if (whole.has(has::kArp)) headers_end = whole.l3 + 28u;
  for (size_t n = 0; n <= full.size(); ++n) {
    SCOPED_TRACE(n);
    // A copy of exactly n bytes so that AddressSanitizer sees any overread.
    const Bytes prefix(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    const Headers h = parse_headers(prefix, link);
    expect_sane(prefix, h);
    EXPECT_EQ(h.flags & ~whole.flags, 0u) << std::hex << h.flags << " vs " << whole.flags;
    if (n >= headers_end) {
      EXPECT_EQ(h.flags, whole.flags);
      for (size_t r = 0; r < kMappedCount; ++r) {
        const auto reg = static_cast<MappedReg>(r);
        EXPECT_EQ(header_field(reg, prefix, h), header_field(reg, full, whole))
            << mapped_info(reg).name;
      }
    }
  }
}

TEST(PacketViewTest, TruncatedAtEveryLength) {
  Tcp t;
  t.data_off = 7;
  Ip4 frag;
  frag.frag = 0x2000;
  frag.options = {1, 1, 1, 0};
  const Bytes eth_packets[] = {eth_ip4_tcp({}, {}, t),
                               eth_ip4_tcp({{0x88a8, 7}, {0x8100, 9}}, frag), eth_ip6_chain_udp(),
                               eth_ip6_chain_udp(64), eth_arp()};
  for (const Bytes& b : eth_packets) check_prefixes(b, LinkType::Ethernet);
  for (const Bytes& b : {eth_packets[0], eth_packets[2]}) {
    check_prefixes(Bytes(b.begin() + 14, b.end()), LinkType::RawIp);
  }
}

TEST(PacketViewTest, TruncationBoundariesOfTcpOverIpv4) {
  const Bytes full = eth_ip4_tcp();
  for (size_t n = 0; n <= full.size(); ++n) {
    const Bytes b(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    const uint32_t flags = parse(b).flags;
    if (n < 14) {
      EXPECT_EQ(flags, 0u) << n;
    } else if (n < 34) {
      EXPECT_EQ(flags, has::kEth) << n;
    } else if (n < 54) {
      EXPECT_EQ(flags, has::kEth | has::kIp4) << n;
    } else {
      EXPECT_EQ(flags, has::kEth | has::kIp4 | has::kL4 | has::kTcp) << n;
    }
  }
}

TEST(PacketViewTest, TruncatedVlanTagLeavesNoEtherType) {
  Bytes b = eth_ip4_tcp({{0x8100, 5}, {0x8100, 6}});
  b.resize(14 + 4 + 2);
  const Headers h = parse(b);
  EXPECT_EQ(h.flags, has::kEth | has::kVlan);
  EXPECT_EQ(h.eth_type, 0);
  EXPECT_EQ(field(MappedReg::VlanId, b, h), 5u);
}

TEST(PacketViewTest, RandomBytes) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 20000; ++i) {
    Bytes b(rng() % 160);
    for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
    const LinkType link = i % 2 ? LinkType::RawIp : LinkType::Ethernet;
    // Steer half of them into the interesting parsers.
    const size_t l3 = link == LinkType::Ethernet ? 14 : 0;
    if (i % 4 < 2 && b.size() > l3) {
      const uint16_t types[] = {0x0800, 0x86dd, 0x0806, 0x8100};
      if (l3 != 0) set16(b, 12, types[rng() % 4]);
      b[l3] = static_cast<uint8_t>((b[l3] & 0x0f) | (rng() % 2 ? 0x40 : 0x60));
    }
    SCOPED_TRACE(i);
    expect_sane(b, parse_headers(b, link));
  }
}

TEST(PacketViewTest, MutatedPackets) {
  const Bytes seeds[] = {eth_ip4_tcp({{0x8100, 1}}), eth_ip6_chain_udp(), eth_arp()};
  std::mt19937 rng(777);
  for (int i = 0; i < 20000; ++i) {
    Bytes b = seeds[i % 3];
    for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    b.resize(rng() % (b.size() + 1));
    SCOPED_TRACE(i);
    expect_sane(b, parse_headers(b, LinkType::Ethernet));
  }
}

// parse_headers takes the frames a switch forwards most (untagged IPv4
// without options and not a fragment, untagged IPv6 without extension
// headers; TCP, UDP or ICMP) the short way: it must give exactly what the
// general walk gives, on those frames, on each of them cut at every length
// and with each byte the short way reads set to values that lead it
// elsewhere, and on random changes of them.
TEST(PacketViewTest, TheCommonFramesParseAsTheWalkParsesThem) {
  std::vector<Bytes> seeds;
  for (uint8_t data_off : {5, 7, 15}) {
    Tcp t;
    t.data_off = data_off;
    seeds.push_back(eth_ip4_tcp({}, {}, t));
  }
  for (uint8_t proto : {17, 1, 58, 132}) {
    Ip4 ipo;
    ipo.proto = proto;
    Bytes b = ethernet(0x0800);
    const size_t l3 = ip4(b, ipo);
    udp(b, 53, 9, 12);  // 8 header bytes, whatever the protocol
    finish_ip4(b, l3);
    seeds.push_back(b);
  }
  for (uint8_t next : {6, 17, 58, 1}) {
    Bytes b = ethernet(0x86dd);
    const size_t l3 = ip6(b, next);
    if (next == 6) {
      tcp(b, Tcp{});
    } else {
      udp(b, 53, 9, 12);
    }
    payload(b, 4);
    finish_ip6(b, l3);
    seeds.push_back(b);
  }
  size_t frames = 0, transport = 0;
  auto check = [&](const Bytes& b) {
    const Headers walked = parse_headers_walk(b, LinkType::Ethernet);
    EXPECT_EQ(parse_headers(b, LinkType::Ethernet), walked) << testing::PrintToString(b);
    ++frames, transport += walked.has(has::kL4);
  };
  // The bytes the short way reads (byte 20 twice: IPv4's flags, IPv6's next
  // header), and values that each lead it elsewhere.
  const std::pair<size_t, std::vector<uint8_t>> reads[] = {{12, {0x81, 0x86, 0x08}},
                                                           {13, {0x00, 0x06, 0xdd}},
                                                           {14, {0x44, 0x46, 0x55, 0x65}},
                                                           {20, {0x20, 0x40, 0x80, 0x01}},
                                                           {21, {0x01, 0x80}},
                                                           {23, {6, 17, 1, 58, 0}},
                                                           {14 + 6, {6, 17, 58, 0, 44}},
                                                           {34 + 12, {0x40, 0x50, 0xf0}},
                                                           {54 + 12, {0x40, 0x50, 0xf0}}};
  std::mt19937 rng(4242);
  for (const Bytes& seed : seeds) {
    for (size_t n = 0; n <= seed.size(); ++n) check(Bytes(seed.begin(), seed.begin() + n));
    for (const auto& [at, values] : reads) {
      for (uint8_t v : values) {
        if (at >= seed.size()) continue;
        Bytes b = seed;
        b[at] = v;
        check(b);
      }
    }
    for (int i = 0; i < 2000; ++i) {
      Bytes b = seed;
      for (int k = 0; k < 2; ++k)
        b[rng() % std::min<size_t>(b.size(), 70)] = static_cast<uint8_t>(rng());
      if (i % 4 == 0) b.resize(rng() % (b.size() + 1));
      check(b);
    }
  }
  EXPECT_GT(transport, frames / 2);  // most of them are the common frames
}

// A Headers that does not match the packet (stale after a resize, say) must
// not make header_field read outside the packet.
TEST(PacketViewTest, StaleHeadersNeverReadOutside) {
  const Bytes full = eth_ip6_chain_udp();
  const Headers h = parse(full);
  for (size_t n = 0; n < full.size(); ++n) {
    const Bytes b(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    for (size_t r = 0; r < kMappedCount; ++r) (void)header_field(static_cast<MappedReg>(r), b, h);
    EXPECT_EQ(header_field16(MappedReg::Ip6Src, b, h) != nullptr, n >= 14 + 40);
  }
}

}  // namespace
}  // namespace netcpu
