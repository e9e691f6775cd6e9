#include "netcpu/checksum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "netcpu/packet_view.h"
#include "packet_bytes.h"

namespace netcpu {
namespace {

// ---------------------------------------------------------------------------
// Hand-built packets.

using namespace test_bytes;

void append(Bytes& b, std::span<const uint8_t> data) {
  b.insert(b.end(), data.begin(), data.end());
}

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kIcmp = 1;
constexpr uint8_t kIcmp6 = 58;

const uint8_t kSrcIp6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0, 0,
                             0,    0,    0,    0,    0xab, 0xcd, 0, 1};
const uint8_t kDstIp6[16] = {0xfe, 0x80, 0,    0,    0,    0,    0,    0,
                             0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55};

void ethernet(Bytes& b, uint16_t type, bool vlan = false) {
  append(b, Bytes{0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x02, 0x66, 0x77, 0x88, 0x99, 0xaa});
  if (vlan) {
    put16(b, 0x8100);
    put16(b, 42);
  }
  put16(b, type);
}

size_t ip4(Bytes& b, uint8_t proto, uint16_t frag = 0x4000) {
  const size_t l3 = b.size();
  append(b, Bytes{0x45, 0x10, 0, 0});
  put16(b, 0x1c46);
  put16(b, frag);
  put8(b, 64);
  put8(b, proto);
  put16(b, 0);
  put32(b, 0xc0a80001);
  put32(b, 0x08080808);
  return l3;
}

size_t ip6(Bytes& b, uint8_t next) {
  const size_t l3 = b.size();
  put32(b, 0x60a00000);
  put16(b, 0);
  put8(b, next);
  put8(b, 64);
  append(b, kSrcIp6);
  append(b, kDstIp6);
  return l3;
}

// Sets the IP length fields from the packet size, or from `end` when the
// frame carries more (Ethernet padding).
void finish(Bytes& b, size_t l3, size_t end = 0) {
  if (end == 0) end = b.size();
  if (b[l3] >> 4 == 4) {
    set16(b, l3 + 2, static_cast<uint16_t>(end - l3));
  } else {
    set16(b, l3 + 4, static_cast<uint16_t>(end - l3 - 40));
  }
}

void tcp(Bytes& b, size_t payload_len) {
  put16(b, 49152);
  put16(b, 443);
  put32(b, 0x9e0a6c21);
  put32(b, 0x0000beef);
  put8(b, 0x60);  // data offset 6: the MSS option below
  put8(b, 0x12);  // SYN ACK
  put16(b, 64240);
  put16(b, 0);
  put16(b, 0);
  append(b, Bytes{2, 4, 0x05, 0xb4});
  for (size_t i = 0; i < payload_len; ++i) put8(b, static_cast<uint8_t>(i * 31 + 7));
}

void udp(Bytes& b, size_t payload_len) {
  put16(b, 5353);
  put16(b, 53);
  put16(b, static_cast<uint16_t>(8 + payload_len));
  put16(b, 0);
  for (size_t i = 0; i < payload_len; ++i) put8(b, static_cast<uint8_t>(i * 13 + 1));
}

void icmp(Bytes& b, uint8_t type, size_t payload_len) {
  put8(b, type);
  put8(b, 0);
  put16(b, 0);
  put32(b, 0x12340001);
  for (size_t i = 0; i < payload_len; ++i) put8(b, static_cast<uint8_t>(i + 0x40));
}

enum class L4 { Tcp, Udp, Icmp };

// Ethernet (optionally tagged), IPv4 or IPv6, then TCP, UDP or ICMP(v6).
// Odd payload lengths on purpose: the last byte is summed padded with zero.
Bytes packet(bool v6, L4 l4, size_t payload_len = 13, bool vlan = false) {
  Bytes b;
  ethernet(b, v6 ? 0x86dd : 0x0800, vlan);
  const uint8_t proto = l4 == L4::Tcp ? kTcp : l4 == L4::Udp ? kUdp : v6 ? kIcmp6 : kIcmp;
  const size_t l3 = v6 ? ip6(b, proto) : ip4(b, proto);
  if (l4 == L4::Tcp) tcp(b, payload_len);
  if (l4 == L4::Udp) udp(b, payload_len);
  if (l4 == L4::Icmp) icmp(b, v6 ? 128 : 8, payload_len);
  finish(b, l3);
  return b;
}

// IPv6 with hop-by-hop and destination options before the transport header.
Bytes ip6_with_extensions(L4 l4) {
  Bytes b;
  ethernet(b, 0x86dd);
  const size_t l3 = ip6(b, 0);
  append(b, Bytes{60, 0, 1, 4, 0, 0, 0, 0});  // hop-by-hop -> dest opts
  const uint8_t proto = l4 == L4::Tcp ? kTcp : l4 == L4::Udp ? kUdp : kIcmp6;
  append(b, Bytes{proto, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});  // 16-byte dest opts
  if (l4 == L4::Tcp) tcp(b, 21);
  if (l4 == L4::Udp) udp(b, 21);
  if (l4 == L4::Icmp) icmp(b, 129, 21);
  finish(b, l3);
  return b;
}

// ---------------------------------------------------------------------------
// A reference implementation: RFC 1071 as plainly as it can be written, and
// pseudo-headers built byte by byte.

uint16_t ref_sum(const Bytes& data) {
  uint32_t sum = 0;
  for (size_t i = 0; i < data.size(); i += 2) {
    uint32_t word = uint32_t{data[i]} << 8;
    if (i + 1 < data.size()) word |= data[i + 1];
    sum += word;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

Bytes slice(const Bytes& b, size_t from, size_t len) {
  return Bytes(b.begin() + static_cast<ptrdiff_t>(from),
               b.begin() + static_cast<ptrdiff_t>(from + len));
}

struct Layout {
  size_t l3, l4, end;  // end of the IP packet (before any padding)
  bool v6;
  uint8_t proto;
  size_t csum;  // offset of the L4 checksum field
};

Layout layout(const Bytes& b) {
  const Headers h = parse_headers(b, LinkType::Ethernet);
  Layout l{};
  l.l3 = h.l3;
  l.l4 = h.l4;
  l.v6 = h.has(has::kIp6);
  l.end = l.v6 ? h.l3 + 40 + get16(b, h.l3 + 4) : h.l3 + get16(b, h.l3 + 2);
  l.proto = h.ip_proto;
  l.csum = h.l4 + (h.ip_proto == kTcp ? 16 : h.ip_proto == kUdp ? 6 : 2);
  return l;
}

Bytes pseudo_header(const Bytes& b, const Layout& l) {
  Bytes p;
  const size_t len = l.end - l.l4;
  if (l.v6) {
    append(p, slice(b, l.l3 + 8, 32));
    put32(p, static_cast<uint32_t>(len));
    append(p, Bytes{0, 0, 0, l.proto});
  } else {
    append(p, slice(b, l.l3 + 12, 8));
    put8(p, 0);
    put8(p, l.proto);
    put16(p, static_cast<uint16_t>(len));
  }
  return p;
}

// The L4 checksum the packet should carry, from scratch.
uint16_t ref_l4_checksum(Bytes b) {
  const Layout l = layout(b);
  set16(b, l.csum, 0);
  Bytes sum = l.proto == kIcmp ? Bytes{} : pseudo_header(b, l);
  append(sum, slice(b, l.l4, l.end - l.l4));
  const auto c = static_cast<uint16_t>(~ref_sum(sum));
  return l.proto == kUdp && c == 0 ? 0xffff : c;
}

uint16_t ref_ip_checksum(Bytes b) {
  const Layout l = layout(b);
  const size_t hlen = (b[l.l3] & 0x0f) * size_t{4};
  set16(b, l.l3 + 10, 0);
  return static_cast<uint16_t>(~ref_sum(slice(b, l.l3, hlen)));
}

// A checksum verifies when the sum over everything it covers, itself included, is 0xffff.
bool ip_verifies(const Bytes& b) {
  const Layout l = layout(b);
  return ref_sum(slice(b, l.l3, (b[l.l3] & 0x0f) * size_t{4})) == 0xffff;
}
bool l4_verifies(const Bytes& b) {
  const Layout l = layout(b);
  Bytes sum = l.proto == kIcmp ? Bytes{} : pseudo_header(b, l);
  append(sum, slice(b, l.l4, l.end - l.l4));
  return ref_sum(sum) == 0xffff;
}

constexpr uint8_t kBoth = csum::kIp | csum::kL4;

bool recompute(Bytes& b, uint8_t what = kBoth, LinkType link = LinkType::Ethernet) {
  return recompute_checksums(b, link, what);
}

// ---------------------------------------------------------------------------
// checksum_add / checksum_fold

TEST(ChecksumTest, AddAndFoldFollowRfc1071) {
  // RFC 1071 section 3 example.
  const Bytes data = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(checksum_add(data), 0xddf2u);
  EXPECT_EQ(checksum_fold(checksum_add(data)), 0x220d);
  // Even-sized pieces sum to the same as the whole.
  EXPECT_EQ(checksum_add(std::span(data).subspan(4), checksum_add(std::span(data).first(4))),
            0xddf2u);
  // An odd trailing byte is the high byte of a zero-padded word.
  EXPECT_EQ(checksum_add(Bytes{0xab}), 0xab00u);
  EXPECT_EQ(checksum_add(Bytes{0x12, 0x34, 0xab}), 0xbd34u);
  EXPECT_EQ(checksum_add(Bytes{}), 0u);
  EXPECT_EQ(checksum_add(Bytes{}, 0x12345), 0x2346u);  // the start value is folded too
  EXPECT_EQ(checksum_fold(0), 0xffff);
  EXPECT_EQ(checksum_fold(0x1fffe), 0x0000);  // 0xfffe + 1 = 0xffff
  EXPECT_EQ(checksum_fold(0xffffffff), 0x0000);
}

TEST(ChecksumTest, AddMatchesReferenceOnRandomData) {
  std::mt19937 rng(1);
  for (int i = 0; i < 2000; ++i) {
    Bytes data(rng() % 3000);
    for (uint8_t& x : data) x = static_cast<uint8_t>(rng());
    ASSERT_EQ(checksum_add(data), ref_sum(data)) << data.size();
  }
  const Bytes ones(100000, 0xff);  // many carries
  EXPECT_EQ(checksum_add(ones), ref_sum(ones));
}

// ---------------------------------------------------------------------------
// recompute_checksums

TEST(ChecksumTest, KnownIpv4HeaderChecksum) {
  // The IPv4 header example from Wikipedia's "Internet checksum" article: checksum 0xb861.
  Bytes b;
  ethernet(b, 0x0800);
  append(b, Bytes{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,  //
                  0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7});
  EXPECT_TRUE(recompute(b, csum::kIp));
  EXPECT_EQ(get16(b, 14 + 10), 0xb861);
  EXPECT_TRUE(ip_verifies(b));
}

TEST(ChecksumTest, MatchesReferenceForEveryProtocol) {
  struct Case {
    const char* name;
    Bytes pkt;
  };
  Case cases[] = {
      {"ip4 tcp", packet(false, L4::Tcp)},
      {"ip4 tcp even", packet(false, L4::Tcp, 40)},
      {"ip4 udp", packet(false, L4::Udp)},
      {"ip4 icmp", packet(false, L4::Icmp)},
      {"ip4 tcp vlan", packet(false, L4::Tcp, 100, true)},
      {"ip6 tcp", packet(true, L4::Tcp)},
      {"ip6 udp", packet(true, L4::Udp)},
      {"ip6 icmpv6", packet(true, L4::Icmp)},
      {"ip6 ext tcp", ip6_with_extensions(L4::Tcp)},
      {"ip6 ext udp", ip6_with_extensions(L4::Udp)},
      {"ip6 ext icmpv6", ip6_with_extensions(L4::Icmp)},
  };
  for (Case& c : cases) {
    SCOPED_TRACE(c.name);
    Bytes& b = c.pkt;
    const Layout l = layout(b);
    EXPECT_TRUE(recompute(b));
    EXPECT_EQ(get16(b, l.csum), ref_l4_checksum(b));
    EXPECT_TRUE(l4_verifies(b));
    if (!l.v6) {
      EXPECT_EQ(get16(b, l.l3 + 10), ref_ip_checksum(b));
      EXPECT_TRUE(ip_verifies(b));
    }
    // Recomputing a correct packet changes nothing.
    const Bytes before = b;
    recompute(b);
    EXPECT_EQ(b, before);
  }
}

TEST(ChecksumTest, RecomputeAfterChangingFields) {
  for (bool v6 : {false, true}) {
    for (L4 l4 : {L4::Tcp, L4::Udp, L4::Icmp}) {
      SCOPED_TRACE(v6 * 10 + static_cast<int>(l4));
      Bytes b = packet(v6, l4);
      recompute(b);
      const Layout l = layout(b);
      b[l.l3 + (v6 ? 7 : 8)] -= 1;       // TTL / hop limit
      b[l.l3 + (v6 ? 23 : 15)] ^= 0x5a;  // source address
      b[l.l4 + 1] += 3;                  // port, or ICMP code
      b[l.end - 1] ^= 0xff;              // last payload byte
      EXPECT_FALSE(l4_verifies(b));
      EXPECT_TRUE(recompute(b));
      EXPECT_TRUE(l4_verifies(b));
      if (!v6) {
        EXPECT_TRUE(ip_verifies(b));
      }
    }
  }
}

TEST(ChecksumTest, EthernetPaddingIsNotSummed) {
  for (bool v6 : {false, true}) {
    Bytes b = packet(v6, L4::Udp, 3);
    const size_t end = b.size();
    b.resize(std::max<size_t>(end + 7, 60), 0xee);
    const Layout l = layout(b);
    ASSERT_EQ(l.end, end);
    EXPECT_TRUE(recompute(b));
    EXPECT_EQ(get16(b, l.csum), ref_l4_checksum(b));
    EXPECT_TRUE(l4_verifies(b));
    for (size_t i = end; i < b.size(); ++i) EXPECT_EQ(b[i], 0xee);
  }
}

TEST(ChecksumTest, OnlyWhatIsAsked) {
  Bytes b = packet(false, L4::Tcp);
  const Layout l = layout(b);
  set16(b, l.l3 + 10, 0xabcd);
  set16(b, l.csum, 0x1234);
  EXPECT_TRUE(recompute(b, csum::kIp));
  EXPECT_TRUE(ip_verifies(b));
  EXPECT_EQ(get16(b, l.csum), 0x1234);

  set16(b, l.l3 + 10, 0xabcd);
  EXPECT_TRUE(recompute(b, csum::kL4));
  EXPECT_EQ(get16(b, l.l3 + 10), 0xabcd);
  EXPECT_TRUE(l4_verifies(b));

  // IPv6 has no header checksum: asking only for it writes nothing.
  Bytes b6 = packet(true, L4::Tcp);
  const Bytes before = b6;
  EXPECT_FALSE(recompute(b6, csum::kIp));
  EXPECT_EQ(b6, before);
  EXPECT_FALSE(recompute(b6, 0));
}

// Find a payload word that makes the sum come out so that the checksum is 0.
TEST(ChecksumTest, UdpChecksumOfZeroIsWrittenAsFfff) {
  for (bool v6 : {false, true}) {
    Bytes b = packet(v6, L4::Udp, 2);
    const Layout l = layout(b);
    set16(b, l.l4 + 8, 0);
    const uint16_t c = ref_l4_checksum(b);  // = ~sum
    // sum + w == 0xffff in one's complement when w == ~sum.
    set16(b, l.l4 + 8, c);
    Bytes check = pseudo_header(b, l);
    append(check, slice(b, l.l4, l.end - l.l4));
    ASSERT_EQ(ref_sum(check), 0xffff);  // so the computed checksum is 0

    EXPECT_TRUE(recompute(b));
    EXPECT_EQ(get16(b, l.csum), 0xffff);
    EXPECT_TRUE(l4_verifies(b));
  }
}

TEST(ChecksumTest, TcpChecksumOfZeroStaysZero) {
  Bytes b = packet(false, L4::Tcp, 2);
  const Layout l = layout(b);
  set16(b, l.end - 2, 0);
  set16(b, l.end - 2, ref_l4_checksum(b));
  EXPECT_TRUE(recompute(b));
  EXPECT_EQ(get16(b, l.csum), 0);
  EXPECT_TRUE(l4_verifies(b));
}

TEST(ChecksumTest, FragmentsGetOnlyTheHeaderChecksum) {
  for (uint16_t frag : {uint16_t{0x2000}, uint16_t{0x20b9}, uint16_t{0x00b9}}) {
    Bytes b;
    ethernet(b, 0x0800);
    const size_t l3 = ip4(b, kUdp, frag);
    udp(b, 20);
    finish(b, l3);
    set16(b, 14 + 20 + 6, 0x5555);
    const Bytes before = b;
    EXPECT_FALSE(recompute(b, csum::kL4));
    EXPECT_EQ(b, before);
    EXPECT_TRUE(recompute(b));
    EXPECT_TRUE(ip_verifies(b));
    EXPECT_EQ(get16(b, 14 + 20 + 6), 0x5555);
  }

  Bytes b6;
  ethernet(b6, 0x86dd);
  const size_t l3 = ip6(b6, 44);
  append(b6, Bytes{kUdp, 0, 0, 1, 0, 0, 0, 9});  // fragment header: offset 0, MF
  udp(b6, 20);
  finish(b6, l3);
  const Bytes before = b6;
  EXPECT_FALSE(recompute(b6));
  EXPECT_EQ(b6, before);
}

TEST(ChecksumTest, NothingToDoOnOtherPackets) {
  Bytes arp;
  ethernet(arp, 0x0806);
  arp.resize(60, 0x11);
  Bytes sctp;
  ethernet(sctp, 0x0800);
  const size_t l3 = ip4(sctp, 132);
  sctp.resize(sctp.size() + 40, 0x22);
  finish(sctp, l3);
  for (Bytes* b : {&arp, &sctp}) {
    const Bytes before = *b;
    EXPECT_FALSE(recompute(*b, csum::kL4));
    EXPECT_EQ(*b, before);
  }
}

TEST(ChecksumTest, RawIpPackets) {
  for (bool v6 : {false, true}) {
    const Bytes eth = packet(v6, L4::Udp);
    Bytes raw(eth.begin() + 14, eth.end());
    Bytes framed = eth;
    EXPECT_TRUE(recompute(framed));
    EXPECT_TRUE(recompute(raw, kBoth, LinkType::RawIp));
    EXPECT_EQ(raw, Bytes(framed.begin() + 14, framed.end()));
  }
}

TEST(ChecksumTest, LengthsBeyondThePacketAreClamped) {
  for (bool v6 : {false, true}) {
    Bytes b = packet(v6, L4::Tcp, 40);
    const Layout l = layout(b);
    set16(b, l.l3 + (v6 ? 4 : 2), 9000);  // claims more than is here
    EXPECT_TRUE(recompute(b));
    // Summed over what is there, with that length in the pseudo-header.
    Bytes ref = b;
    set16(ref, l.l3 + (v6 ? 4 : 2), static_cast<uint16_t>(b.size() - l.l3 - (v6 ? 40 : 0)));
    recompute(ref);
    EXPECT_EQ(get16(b, l.csum), get16(ref, l.csum));
  }
  // An IPv4 total length that does not even cover the TCP header: no L4 checksum.
  Bytes b = packet(false, L4::Tcp, 40);
  const Layout l = layout(b);
  set16(b, l.l3 + 2, 30);
  set16(b, l.csum, 0x7777);
  EXPECT_TRUE(recompute(b));
  EXPECT_TRUE(ip_verifies(b));
  EXPECT_EQ(get16(b, l.csum), 0x7777);
}

TEST(ChecksumTest, TruncatedAndRandomPacketsStayInside) {
  const Bytes seeds[] = {packet(false, L4::Tcp), packet(false, L4::Udp), packet(true, L4::Icmp),
                         ip6_with_extensions(L4::Udp), packet(false, L4::Icmp, 13, true)};
  for (const Bytes& full : seeds) {
    for (size_t n = 0; n <= full.size(); ++n) {
      Bytes b(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
      recompute(b);
      Bytes raw(full.begin() + 14, full.begin() + static_cast<ptrdiff_t>(std::max<size_t>(n, 14)));
      recompute(raw, kBoth, LinkType::RawIp);
    }
  }
  std::mt19937 rng(99);
  for (int i = 0; i < 20000; ++i) {
    Bytes b = seeds[i % 5];
    for (int k = 0; k < 4; ++k) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    b.resize(rng() % (b.size() + 1));
    recompute(b);
    const Headers h = parse_headers(b, LinkType::Ethernet);
    for (MappedReg r :
         {MappedReg::IpSrc, MappedReg::IpTos, MappedReg::L4Dport, MappedReg::EthSrc}) {
      rewrite_field(b, h, r, rng());
    }
  }
}

// ---------------------------------------------------------------------------
// rewrite_field

TEST(ChecksumTest, RewritableFields) {
  const MappedReg yes[] = {MappedReg::EthDst,  MappedReg::EthSrc, MappedReg::IpSrc,
                           MappedReg::IpDst,   MappedReg::IpTtl,  MappedReg::IpTos,
                           MappedReg::L4Sport, MappedReg::L4Dport};
  size_t count = 0;
  for (size_t i = 0; i < kMappedCount; ++i) {
    const auto r = static_cast<MappedReg>(i);
    const bool expected = std::find(std::begin(yes), std::end(yes), r) != std::end(yes);
    EXPECT_EQ(is_rewritable(r), expected) << mapped_info(r).name;
    count += is_rewritable(r);
  }
  EXPECT_EQ(count, 8u);
}

uint64_t width_mask(MappedReg r) {
  switch (r) {
    case MappedReg::EthDst:
    case MappedReg::EthSrc:
      return 0xffffffffffff;
    case MappedReg::IpSrc:
    case MappedReg::IpDst:
      return 0xffffffff;
    case MappedReg::L4Sport:
    case MappedReg::L4Dport:
      return 0xffff;
    default:
      return 0xff;
  }
}

// The heart of it: after any rewrite, the incrementally updated checksums are
// exactly what a full recompute writes.
TEST(ChecksumTest, IncrementalRewriteEqualsFullRecompute) {
  struct Case {
    const char* name;
    Bytes pkt;
  };
  Case cases[] = {
      {"ip4 tcp", packet(false, L4::Tcp)},
      {"ip4 udp", packet(false, L4::Udp)},
      {"ip4 tcp vlan", packet(false, L4::Tcp, 8, true)},
      {"ip4 icmp", packet(false, L4::Icmp)},
      {"ip6 tcp", packet(true, L4::Tcp)},
      {"ip6 udp", packet(true, L4::Udp)},
      {"ip6 ext tcp", ip6_with_extensions(L4::Tcp)},
      {"ip6 ext udp", ip6_with_extensions(L4::Udp)},
  };
  const MappedReg fields[] = {MappedReg::IpSrc,   MappedReg::IpDst, MappedReg::L4Sport,
                              MappedReg::L4Dport, MappedReg::IpTtl, MappedReg::IpTos,
                              MappedReg::EthDst,  MappedReg::EthSrc};
  std::mt19937_64 rng(2024);
  for (Case& c : cases) {
    Bytes& b = c.pkt;
    recompute(b);
    const Headers h = parse_headers(b, LinkType::Ethernet);
    for (MappedReg f : fields) {
      SCOPED_TRACE(std::string(c.name) + " " + std::string(mapped_info(f).name));
      const bool ip_field = f == MappedReg::IpSrc || f == MappedReg::IpDst;
      const bool port = f == MappedReg::L4Sport || f == MappedReg::L4Dport;
      const bool applies = !(ip_field && h.has(has::kIp6)) && !(port && h.has(has::kIcmp));
      for (int i = 0; i < 300; ++i) {
        // Some all-zero and all-one values too: the edges of one's complement.
        const uint64_t value = i == 0 ? 0 : i == 1 ? ~uint64_t{0} : rng();
        const Bytes before = b;
        ASSERT_EQ(rewrite_field(b, h, f, value), applies) << value;
        if (!applies) {
          ASSERT_EQ(b, before);
          break;
        }
        ASSERT_EQ(header_field(f, b, h), value & width_mask(f));
        Bytes full = b;
        recompute(full);
        ASSERT_EQ(b, full) << "value " << std::hex << value;
      }
    }
  }
}

TEST(ChecksumTest, UdpChecksumZeroStaysZero) {
  for (bool v6 : {false, true}) {
    Bytes b = packet(v6, L4::Udp);
    recompute(b, csum::kIp);
    const Headers h = parse_headers(b, LinkType::Ethernet);
    for (MappedReg f :
         {MappedReg::IpSrc, MappedReg::IpDst, MappedReg::L4Sport, MappedReg::L4Dport}) {
      if (v6 && (f == MappedReg::IpSrc || f == MappedReg::IpDst)) continue;
      EXPECT_TRUE(rewrite_field(b, h, f, 0x01020304));
      EXPECT_EQ(get16(b, h.l4 + 6), 0);
    }
    if (!v6) {
      EXPECT_TRUE(ip_verifies(b));
    }
  }
}

TEST(ChecksumTest, UdpIncrementalZeroIsWrittenAsFfff) {
  Bytes b = packet(false, L4::Udp, 6);
  recompute(b);
  const Headers h = parse_headers(b, LinkType::Ethernet);
  const Layout l = layout(b);
  // The covered sum is S = ~checksum; a port raised by -S (= the checksum,
  // in one's complement) brings it to 0xffff, and the checksum to 0.
  uint32_t port = uint32_t{get16(b, l.l4)} + get16(b, l.csum);
  port = (port & 0xffff) + (port >> 16);
  EXPECT_TRUE(rewrite_field(b, h, MappedReg::L4Sport, port));
  EXPECT_EQ(get16(b, l.csum), 0xffff);
  EXPECT_TRUE(l4_verifies(b));
  Bytes full = b;
  recompute(full);
  EXPECT_EQ(b, full);
}

TEST(ChecksumTest, Ipv6HopLimitAndTrafficClassHaveNoChecksum) {
  Bytes b = packet(true, L4::Tcp);
  recompute(b);
  const Headers h = parse_headers(b, LinkType::Ethernet);
  Bytes expected = b;
  expected[h.l3 + 7] = 0xff;
  EXPECT_TRUE(rewrite_field(b, h, MappedReg::IpTtl, 0x1ff));  // truncated to 8 bits
  EXPECT_EQ(b, expected);

  EXPECT_TRUE(rewrite_field(b, h, MappedReg::IpTos, 0x3c));
  EXPECT_EQ(header_field(MappedReg::IpTos, b, h), 0x3cu);
  EXPECT_EQ(b[h.l3] >> 4, 6);                                // version kept
  EXPECT_EQ(get16(b, h.l3 + 2), get16(expected, h.l3 + 2));  // flow label kept
  EXPECT_EQ(b[h.l3 + 1] & 0x0f, expected[h.l3 + 1] & 0x0f);
}

TEST(ChecksumTest, RewriteTruncatesValuesToTheFieldWidth) {
  Bytes b = packet(false, L4::Tcp);
  recompute(b);
  const Headers h = parse_headers(b, LinkType::Ethernet);
  EXPECT_TRUE(rewrite_field(b, h, MappedReg::L4Dport, 0x12345));
  EXPECT_EQ(header_field(MappedReg::L4Dport, b, h), 0x2345u);
  EXPECT_TRUE(rewrite_field(b, h, MappedReg::IpDst, 0xff0a000001));
  EXPECT_EQ(header_field(MappedReg::IpDst, b, h), 0x0a000001u);
  const Bytes before = b;
  EXPECT_TRUE(rewrite_field(b, h, MappedReg::EthSrc, 0xabcd'0000'1111'2222));
  EXPECT_EQ(header_field(MappedReg::EthSrc, b, h), 0x0000'1111'2222u);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i < 6 || i >= 12) {
      EXPECT_EQ(b[i], before[i]) << i;
    }
  }
  Bytes full = b;
  recompute(full);
  EXPECT_EQ(b, full);
}

TEST(ChecksumTest, RewriteRefusesMissingFields) {
  Bytes arp;
  ethernet(arp, 0x0806);
  arp.resize(42, 0x11);
  Bytes raw = packet(false, L4::Udp);
  raw.erase(raw.begin(), raw.begin() + 14);
  Bytes icmp4 = packet(false, L4::Icmp);
  Bytes sctp;
  ethernet(sctp, 0x0800);
  const size_t l3 = ip4(sctp, 132);
  sctp.resize(sctp.size() + 20, 0x22);
  finish(sctp, l3);

  struct Case {
    Bytes* pkt;
    LinkType link;
    MappedReg field;
  };
  const Case refused[] = {
      {&arp, LinkType::Ethernet, MappedReg::IpSrc},
      {&arp, LinkType::Ethernet, MappedReg::IpTtl},
      {&arp, LinkType::Ethernet, MappedReg::IpTos},
      {&arp, LinkType::Ethernet, MappedReg::L4Sport},
      {&raw, LinkType::RawIp, MappedReg::EthDst},
      {&raw, LinkType::RawIp, MappedReg::EthSrc},
      {&icmp4, LinkType::Ethernet, MappedReg::L4Dport},
      {&sctp, LinkType::Ethernet, MappedReg::L4Sport},
      {&icmp4, LinkType::Ethernet, MappedReg::TcpSeq},
      {&icmp4, LinkType::Ethernet, MappedReg::Mlen},
  };
  for (const Case& c : refused) {
    SCOPED_TRACE(mapped_info(c.field).name);
    const Bytes before = *c.pkt;
    EXPECT_FALSE(rewrite_field(*c.pkt, parse_headers(*c.pkt, c.link), c.field, 1234));
    EXPECT_EQ(*c.pkt, before);
  }
}

TEST(ChecksumTest, IcmpAddressRewriteLeavesIcmpChecksumAlone) {
  Bytes b = packet(false, L4::Icmp);
  recompute(b);
  const Headers h = parse_headers(b, LinkType::Ethernet);
  const uint16_t icmp_sum = get16(b, h.l4 + 2);
  EXPECT_TRUE(rewrite_field(b, h, MappedReg::IpSrc, 0x7f000001));
  EXPECT_EQ(get16(b, h.l4 + 2), icmp_sum);
  EXPECT_TRUE(ip_verifies(b));
  EXPECT_TRUE(l4_verifies(b));
}

TEST(ChecksumTest, LaterFragmentsHaveNoPortsToRewrite) {
  Bytes b4;
  ethernet(b4, 0x0800);
  const size_t l3 = ip4(b4, kTcp, 0x20b9);
  tcp(b4, 30);
  finish(b4, l3);
  recompute(b4);
  Bytes b6;
  ethernet(b6, 0x86dd);
  const size_t l3v6 = ip6(b6, 44);
  append(b6, Bytes{kTcp, 0, 0x05, 0xc9, 0, 0, 0, 7});  // offset 1480, MF
  tcp(b6, 30);
  finish(b6, l3v6);
  for (Bytes* b : {&b4, &b6}) {
    const Headers h = parse_headers(*b, LinkType::Ethernet);
    ASSERT_TRUE(h.has(has::kFrag));
    const Bytes before = *b;
    EXPECT_FALSE(rewrite_field(*b, h, MappedReg::L4Sport, 1));
    EXPECT_FALSE(rewrite_field(*b, h, MappedReg::L4Dport, 1));
    EXPECT_EQ(*b, before);
  }
  // The addresses of a later fragment still change, with the header checksum.
  const Headers h4 = parse_headers(b4, LinkType::Ethernet);
  const uint16_t tcp_bytes = get16(b4, h4.l4 + 16);
  EXPECT_TRUE(rewrite_field(b4, h4, MappedReg::IpSrc, 0x01020304));
  EXPECT_TRUE(ip_verifies(b4));
  EXPECT_EQ(get16(b4, h4.l4 + 16), tcp_bytes);  // data, not a TCP header
}

// A first fragment's L4 checksum covers the whole datagram: the incremental
// update must keep it right for the reassembled packet.
TEST(ChecksumTest, FirstFragmentChecksumFollowsAddressRewrite) {
  Bytes whole = packet(false, L4::Udp, 40);
  recompute(whole);
  Bytes first = whole;
  set16(first, 14 + 6, 0x2000);  // MF
  recompute(first, csum::kIp);
  const Headers h = parse_headers(first, LinkType::Ethernet);
  ASSERT_TRUE(h.has(has::kFrag));
  ASSERT_TRUE(h.has(has::kL4));
  EXPECT_TRUE(rewrite_field(first, h, MappedReg::IpDst, 0x0a0b0c0d));
  EXPECT_TRUE(rewrite_field(first, h, MappedReg::L4Sport, 999));
  EXPECT_TRUE(ip_verifies(first));
  // Reassembled (here: MF cleared), the L4 checksum verifies.
  set16(first, 14 + 6, 0);
  EXPECT_TRUE(l4_verifies(first));
}

// Headers from before the packet shrank must not lead to writes outside it.
TEST(ChecksumTest, StaleHeadersNeverWriteOutside) {
  const Bytes full = ip6_with_extensions(L4::Tcp);
  const Bytes full4 = packet(false, L4::Udp, 10, true);
  for (const Bytes* src : {&full, &full4}) {
    const Headers h = parse_headers(*src, LinkType::Ethernet);
    for (size_t n = 0; n < src->size(); ++n) {
      for (size_t r = 0; r < kMappedCount; ++r) {
        Bytes b(src->begin(), src->begin() + static_cast<ptrdiff_t>(n));
        rewrite_field(b, h, static_cast<MappedReg>(r), 0x0102030405060708);
      }
    }
  }
}

}  // namespace
}  // namespace netcpu
