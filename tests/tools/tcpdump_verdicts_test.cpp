// `netcpu run` against Debian's tcpdump on captures built here with the
// properties real captures have and the bundled ones lack: packets cut short
// by a snaplen (tcpdump -s), packets over 64 KiB (GSO and big TCP, up to
// tcpdump's default snaplen of 262144), every link type tcpdump reads every
// day (Ethernet, raw IP as RAW, IPV4 and IPV6, Linux cooked SLL and SLL2,
// NULL, LOOP) and IP versions their labels do not announce. Each capture
// goes through `netcpu run --filter EXPR --pcap IN --out OUT` and through
// `tcpdump -r IN -w OUT EXPR`, and both OUTs must hold the same records
// (timestamp, captured and wire length, bytes), in order. Then a program,
// not a filter, on the link types whose header it does not see.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <pcap/sll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "packet_builder.h"

namespace netcpu::packets {
namespace {

namespace fs = std::filesystem;
using netcpu::test::Result;
using netcpu::test::scratch;
using netcpu::test::sh;
using nlohmann::json;

constexpr uint32_t kMaxSnaplen = 262144;  // tcpdump's default, libpcap's maximum
constexpr uint32_t kShortSnaplen = 96;    // tcpdump -s 96

std::string quote(const std::string& s) { return "'" + s + "'"; }  // no ' in our expressions

bool have_tcpdump() { return access(TCPDUMP, X_OK) == 0; }

// ---------------------------------------------------------------------------
// The packets: IP packets first, then framed for each link type.

struct IpPacket {
  Bytes ip;
  bool v6;
};

// A TCP packet grown to `size` bytes the way GSO and big TCP captures show
// them: the IPv4 total length (or IPv6 payload length) 0, as it cannot say
// more than 64 KiB, and the last byte 0x5a.
Bytes big_tcp(bool v6, size_t size, uint16_t dport) {
  PacketBuilder b;
  if (v6)
    b.ipv6({.src = ip6_addr("2001:db8::1"), .dst = ip6_addr("2001:db8::2")});
  else
    b.ipv4({.src = ip4_addr("10.0.0.1"), .dst = ip4_addr("10.0.0.2")});
  b.tcp({.sport = 40000, .dport = dport, .payload = Bytes(1000, 0x11)});
  Bytes ip = b.build_ip();
  ip.resize(size, 0x5a);
  if (v6)
    ip[4] = ip[5] = 0;
  else
    ip[2] = ip[3] = 0;
  return ip;
}

std::vector<IpPacket> ip_packets() {
  std::vector<IpPacket> p;
  auto v4 = [&](PacketBuilder b) { p.push_back({b.build_ip(), false}); };
  auto v6 = [&](PacketBuilder b) { p.push_back({b.build_ip(), true}); };
  const Ipv4 a{.src = ip4_addr("10.0.0.1"), .dst = ip4_addr("10.0.0.2")};
  const Ipv4 back{.src = ip4_addr("10.0.0.2"), .dst = ip4_addr("10.0.0.1")};
  v4(PacketBuilder().ipv4(a).tcp({.sport = 40000, .dport = 80, .flags = tcp_flags::kSyn}));
  v4(PacketBuilder().ipv4(back).tcp({.sport = 80, .dport = 40000, .payload = Bytes(1400, 0x5a)}));
  v4(PacketBuilder()
         .ipv4({.src = ip4_addr("192.168.1.5"), .dst = ip4_addr("255.255.255.255")})
         .udp({.sport = 5353, .dport = 53, .payload = bytes("broadcast")}));
  v4(PacketBuilder()
         .ipv4({.src = ip4_addr("172.16.5.9"), .dst = ip4_addr("0.0.0.0")})
         .udp({.sport = 68, .dport = 67}));
  v4(PacketBuilder()
         .ipv4({.src = ip4_addr("10.0.0.1"), .dst = ip4_addr("8.8.8.8")})
         .icmp_echo({.id = 7, .seq = 1, .payload = Bytes(56, 0x5a)}));
  const Ipv6 a6{.src = ip6_addr("2001:db8::1"), .dst = ip6_addr("2001:db8::2")};
  v6(PacketBuilder().ipv6(a6).tcp({.sport = 40001, .dport = 80, .flags = tcp_flags::kSyn}));
  v6(PacketBuilder().ipv6(a6).icmp_echo({.id = 9, .seq = 2, .payload = Bytes(40, 0x5a)}));
  v6(PacketBuilder().ipv6(a6).udp({.sport = 1053, .dport = 53, .payload = Bytes(3000, 0x5a)}));
  // Over 64 KiB, up to what a 20-byte link header leaves of 262144 bytes.
  p.push_back({big_tcp(false, 100000, 80), false});
  p.push_back({big_tcp(true, 200000, 443), true});
  p.push_back({big_tcp(false, kMaxSnaplen - SLL2_HDR_LEN, 80), false});
  // Too short to be what they claim.
  p.push_back({Bytes{0x45}, false});
  p.push_back({Bytes(p[0].ip.begin(), p[0].ip.begin() + 30), false});
  return p;
}

uint16_t ethertype(bool v6) { return v6 ? 0x86dd : 0x0800; }

void put16(Bytes& b, uint16_t v) { b.push_back(v >> 8), b.push_back(v & 0xff); }
void put32(Bytes& b, uint32_t v) { put16(b, v >> 16), put16(b, v & 0xffff); }

Bytes concat(Bytes header, const Bytes& ip) {
  header.insert(header.end(), ip.begin(), ip.end());
  return header;
}

// The link header for an IP packet labelled as IPv6 or not.
Bytes link_header(int dlt, bool label_v6, size_t index) {
  Bytes h;
  switch (dlt) {
    case DLT_EN10MB: {
      const Mac dst = mac_addr("02:00:00:00:00:02"), src = mac_addr("02:00:00:00:00:01");
      h.insert(h.end(), dst.begin(), dst.end());
      h.insert(h.end(), src.begin(), src.end());
      if (index % 3 == 1) put16(h, 0x8100), put16(h, 100);  // some frames tagged VLAN 100
      put16(h, ethertype(label_v6));
      return h;
    }
    case DLT_LINUX_SLL:
      put16(h, index % 2 ? LINUX_SLL_OUTGOING : LINUX_SLL_HOST);
      put16(h, 1);  // ARPHRD_ETHER
      put16(h, 6);
      for (uint8_t b : {2, 0, 0, 0, 0, 1, 0, 0}) h.push_back(b);
      put16(h, ethertype(label_v6));
      return h;
    case DLT_LINUX_SLL2:
      put16(h, ethertype(label_v6));
      put16(h, 0);  // reserved
      put32(h, 2);  // interface index
      put16(h, 1);  // ARPHRD_ETHER
      h.push_back(index % 2 ? LINUX_SLL_OUTGOING : LINUX_SLL_HOST);
      h.push_back(6);
      for (uint8_t b : {2, 0, 0, 0, 0, 1, 0, 0}) h.push_back(b);
      return h;
    case DLT_NULL:
    case DLT_LOOP: {
      // AF_INET 2; AF_INET6 as BSDs number it (24, 28, 30), and Linux's 10,
      // which libpcap does not take for IPv6.
      const uint32_t af = !label_v6 ? 2 : std::vector<uint32_t>{24, 28, 30, 10}[index % 4];
      if (dlt == DLT_LOOP) {
        put32(h, af);  // network byte order
      } else {
        h.resize(4);  // the writer's byte order, here the host's
        std::memcpy(h.data(), &af, 4);
      }
      return h;
    }
    default:  // DLT_RAW, DLT_IPV4, DLT_IPV6: no link header
      return h;
  }
}

struct Record {
  uint32_t caplen = 0, len = 0;
  struct timeval ts {};
  Bytes data;
  bool operator==(const Record& o) const {
    return caplen == o.caplen && len == o.len && ts.tv_sec == o.ts.tv_sec &&
           ts.tv_usec == o.ts.tv_usec && data == o.data;
  }
};

std::string describe(const Record& r) {
  return std::to_string(r.ts.tv_sec) + "." + std::to_string(r.ts.tv_usec) + " caplen " +
         std::to_string(r.caplen) + " len " + std::to_string(r.len);
}

// Every packet framed (and one mislabelled: an IPv6 packet announced as IPv4
// and the other way round), whole and cut to 60 bytes, or with a short
// snaplen everything cut to it, as tcpdump -s writes them.
std::vector<Record> records(int dlt, uint32_t snaplen) {
  std::vector<Record> out;
  const std::vector<IpPacket> ips = ip_packets();
  auto add = [&](const Bytes& frame, uint32_t keep) {
    Record r;
    r.len = static_cast<uint32_t>(frame.size());
    r.caplen = std::min({r.len, keep, snaplen});
    r.data.assign(frame.begin(), frame.begin() + r.caplen);
    r.ts = {1700000000 + static_cast<time_t>(out.size()), static_cast<suseconds_t>(out.size())};
    out.push_back(std::move(r));
  };
  for (size_t i = 0; i < ips.size(); ++i) {
    const Bytes frame = concat(link_header(dlt, ips[i].v6, i), ips[i].ip);
    add(frame, kMaxSnaplen);
    add(frame, 60);
    const Bytes mislabelled = concat(link_header(dlt, !ips[i].v6, i), ips[i].ip);
    if (mislabelled != frame && i % 4 == 0) add(mislabelled, kMaxSnaplen);
  }
  if (dlt == DLT_EN10MB)
    add(arp_request(mac_addr("02:00:00:00:00:01"), ip4_addr("10.0.0.1"), ip4_addr("10.0.0.2")),
        kMaxSnaplen);
  return out;
}

// libpcap's own writer, as tcpdump -w uses it.
void write_capture(const fs::path& path, int dlt, uint32_t snaplen,
                   const std::vector<Record>& recs) {
  pcap_t* dead = pcap_open_dead(dlt, static_cast<int>(snaplen));
  ASSERT_TRUE(dead);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  ASSERT_TRUE(d) << pcap_geterr(dead);
  for (const Record& r : recs) {
    struct pcap_pkthdr h {};
    h.ts = r.ts;
    h.caplen = r.caplen;
    h.len = r.len;
    pcap_dump(reinterpret_cast<u_char*>(d), &h, r.data.data());
  }
  pcap_dump_close(d);
  pcap_close(dead);
}

std::vector<Record> read_capture(const fs::path& path, int* dlt = nullptr) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  EXPECT_TRUE(p) << path << ": " << err;
  std::vector<Record> v;
  if (!p) return v;
  if (dlt) *dlt = pcap_datalink(p);
  struct pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1) v.push_back({h->caplen, h->len, h->ts, {d, d + h->caplen}});
  pcap_close(p);
  return v;
}

// ---------------------------------------------------------------------------
// Filters: netcpu run against tcpdump, record by record.

const std::vector<std::string> kExpressions = {
    // The wire length, with captures cut short and packets over 64 KiB.
    "len > 1000", "greater 5000", "less 100", "len >= 200000", "len = 60", "len - 14 > 65535",
    "ether[len - 1] = 0x5a", "link[len - 1] = 0x5a",
    // What the link type decides.
    "ip", "ip6", "not ip and not ip6", "vlan", "arp", "ip[2:2] = 0", "ip6[4:2] = 0",
    // Netmask 0, as tcpdump -r compiles with.
    "ip broadcast", "not ip broadcast",
    // Everyday ones.
    "tcp port 80", "host 10.0.0.1", "icmp", "icmp6", "udp port 53", "ip6 and tcp", "net 10.0.0.0/8",
    "tcp[tcpflags] & tcp-syn != 0", "tcp port 443 and ip6", "inbound", "outbound"};

struct LinkCase {
  int dlt;
  const char* name;
};

class TcpdumpVerdicts : public ::testing::TestWithParam<LinkCase> {};

// One capture through both, for every expression. Counts in `splitting`
// the expressions that split the capture (matched some records, not all).
void compare_with_tcpdump(const fs::path& in, size_t record_count, size_t& splitting) {
  for (const std::string& expr : kExpressions) {
    SCOPED_TRACE(in.filename().string() + ": " + expr);
    const fs::path theirs = scratch() / "tcpdump.pcap", ours = scratch() / "netcpu.pcap";
    fs::remove(theirs), fs::remove(ours);
    const Result td = sh(std::string(TCPDUMP) + " -r " + in.string() + " -w " + theirs.string() +
                         " " + quote(expr));
    const Result run = sh(std::string(NETCPU_CLI) + " run --filter " + quote(expr) + " --pcap " +
                          in.string() + " --out " + ours.string() + " --json");
    if (td.code != 0) {  // libpcap refuses it for this link type: so must we
      EXPECT_EQ(run.code, 1) << "tcpdump refused it (" << td.err << ") but netcpu: " << run.out
                             << run.err;
      continue;
    }
    ASSERT_EQ(run.code, 0) << run.err;
    const json j = json::parse(run.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << run.out;
    ASSERT_EQ(j["verdicts"].size(), record_count);
    const std::vector<Record> expected = read_capture(theirs), got = read_capture(ours);
    EXPECT_EQ(j["passed"].get<size_t>(), got.size());
    EXPECT_EQ(got.size(), expected.size()) << "tcpdump wrote " << expected.size();
    for (size_t i = 0; i < std::min(got.size(), expected.size()); ++i)
      EXPECT_TRUE(got[i] == expected[i])
          << "written record " << i << ": netcpu " << describe(got[i]) << ", tcpdump "
          << describe(expected[i]);
    splitting += !expected.empty() && expected.size() < record_count;
  }
}

TEST_P(TcpdumpVerdicts, RunFilterWritesWhatTcpdumpWrites) {
  if (!have_tcpdump()) GTEST_SKIP() << TCPDUMP << " is missing (tools/install-deps.sh installs it)";
  const LinkCase lc = GetParam();
  for (uint32_t snaplen : {kMaxSnaplen, kShortSnaplen}) {
    const std::vector<Record> recs = records(lc.dlt, snaplen);
    const fs::path in =
        scratch() / (std::string(lc.name) + "-" + std::to_string(snaplen) + ".pcap");
    write_capture(in, lc.dlt, snaplen, recs);
    int dlt = -1;
    ASSERT_EQ(read_capture(in, &dlt).size(), recs.size());
    ASSERT_EQ(dlt, lc.dlt);
    // The expressions must tell packets apart, or the comparison says little.
    size_t splitting = 0;
    compare_with_tcpdump(in, recs.size(), splitting);
    EXPECT_GE(splitting, 8u);
  }
}

// netcpu filter --pcap translates the very program `tcpdump -d -r` shows for
// that capture (the translation carries each BPF instruction as a comment).
TEST_P(TcpdumpVerdicts, FilterForACaptureTranslatesWhatTcpdumpCompiles) {
  if (!have_tcpdump()) GTEST_SKIP() << TCPDUMP << " is missing (tools/install-deps.sh installs it)";
  const LinkCase lc = GetParam();
  const fs::path in = scratch() / (std::string("d-") + lc.name + ".pcap");
  write_capture(in, lc.dlt, kMaxSnaplen, records(lc.dlt, kMaxSnaplen));
  for (const std::string& expr : kExpressions) {
    SCOPED_TRACE(expr);
    const Result td = sh(std::string(TCPDUMP) + " -d -r " + in.string() + " " + quote(expr));
    const Result ours =
        sh(std::string(NETCPU_CLI) + " filter --pcap " + in.string() + " " + quote(expr));
    if (td.code != 0) {
      EXPECT_EQ(ours.code, 1) << ours.out << ours.err;
      continue;
    }
    ASSERT_EQ(ours.code, 0) << ours.err;
    std::string bpf;  // the "    # (NNN) ..." comments, as tcpdump -d prints them
    std::istringstream lines(ours.out);
    for (std::string l; std::getline(lines, l);)
      if (l.rfind("    # (", 0) == 0) bpf += l.substr(6) + "\n";
    EXPECT_EQ(bpf, td.out);
  }
}

INSTANTIATE_TEST_SUITE_P(LinkTypes, TcpdumpVerdicts,
                         ::testing::Values(LinkCase{DLT_EN10MB, "EN10MB"}, LinkCase{DLT_RAW, "RAW"},
                                           LinkCase{DLT_IPV4, "IPV4"}, LinkCase{DLT_IPV6, "IPV6"},
                                           LinkCase{DLT_LINUX_SLL, "LINUX_SLL"},
                                           LinkCase{DLT_LINUX_SLL2, "LINUX_SLL2"},
                                           LinkCase{DLT_NULL, "NULL"}, LinkCase{DLT_LOOP, "LOOP"}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------
// Programs see the IP packet after the link header, and --out keeps it.

class ProgramsOnLinkTypes : public ::testing::TestWithParam<LinkCase> {};

TEST_P(ProgramsOnLinkTypes, SeeTheIpPacketAndKeepTheLinkHeader) {
  const LinkCase lc = GetParam();
  const std::vector<IpPacket> ips = ip_packets();
  // Packet 0: IPv4 10.0.0.1 -> 10.0.0.2 TCP to 80; 5: IPv6 TCP to 80; 8: 100000-byte IPv4.
  std::vector<Record> recs;
  for (size_t i : {0, 5, 7, 8}) {
    Record r;
    r.data = concat(link_header(lc.dlt, ips[i].v6, i), ips[i].ip);
    r.caplen = r.len = static_cast<uint32_t>(r.data.size());
    r.ts = {1700000000 + static_cast<time_t>(i), 0};
    recs.push_back(std::move(r));
  }
  // The big one cut short: wlen is what its pcap header says.
  recs.back().caplen = 200;
  recs.back().data.resize(200);
  const fs::path in = scratch() / (std::string("program-") + lc.name + ".pcap"),
                 out = scratch() / (std::string("program-out-") + lc.name + ".pcap"),
                 src = scratch() / "ports.ncpu";
  write_capture(in, lc.dlt, kMaxSnaplen, recs);
  {
    std::ofstream f(src);
    f << ".text:\n"
         "    print \"%ip %u\", ip.src, l4.dport\n"
         "    print ip.ver, l3\n"
         "    print mlen, wlen\n"
         "    bne l4.dport, 80, keep\n"
         "    rewrite l4.dport, 8080\n"
         "keep:\n"
         "    pass\n";
  }
  const Result run = sh(std::string(NETCPU_CLI) + " run " + src.string() + " --pcap " +
                        in.string() + " --out " + out.string() + " --json");
  ASSERT_EQ(run.code, 0) << run.err;
  const json j = json::parse(run.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << run.out;
  const uint32_t header = static_cast<uint32_t>(link_header(lc.dlt, false, 0).size());
  auto n = [](size_t v) { return std::to_string(v); };
  auto whole = [&](size_t i) { return n(ips[i].ip.size()) + " " + n(ips[i].ip.size()); };
  const std::vector<std::string> expected = {
      "10.0.0.1 80", "4 0", whole(0),                                      //
      "0.0.0.0 80",  "6 0", whole(5),                                      //
      "0.0.0.0 53",  "6 0", whole(7),                                      //
      "10.0.0.1 80", "4 0", n(200 - header) + " " + n(ips[8].ip.size())};  // wlen: the wire's
  EXPECT_EQ(j["output"].get<std::vector<std::string>>(), expected);
  EXPECT_EQ(j["modified"].get<int>(), 3);
  const std::string read_as = j["link"].get<std::string>();
  EXPECT_NE(read_as.find(header ? "IP packets after a " + n(header) + "-byte link header"
                                : std::string(": IP packets")),
            std::string::npos)
      << read_as;

  int dlt = -1;
  const std::vector<Record> written = read_capture(out, &dlt);
  EXPECT_EQ(dlt, lc.dlt);
  ASSERT_EQ(written.size(), recs.size());
  for (size_t k = 0; k < recs.size(); ++k) {
    SCOPED_TRACE("record " + n(k));
    EXPECT_EQ(written[k].caplen, recs[k].caplen);
    EXPECT_EQ(written[k].len, recs[k].len);
    // The link header as it was, then the IP packet, its port rewritten.
    EXPECT_TRUE(
        std::equal(recs[k].data.begin(), recs[k].data.begin() + header, written[k].data.begin()));
    const size_t l4 = header + (k == 1 || k == 2 ? 40 : 20);
    const uint16_t dport =
        static_cast<uint16_t>(written[k].data[l4 + 2] << 8 | written[k].data[l4 + 3]);
    EXPECT_EQ(dport, k == 2 ? 53 : 8080);
  }
}

INSTANTIATE_TEST_SUITE_P(LinkTypes, ProgramsOnLinkTypes,
                         ::testing::Values(LinkCase{DLT_LINUX_SLL, "LINUX_SLL"},
                                           LinkCase{DLT_LINUX_SLL2, "LINUX_SLL2"},
                                           LinkCase{DLT_NULL, "NULL"}, LinkCase{DLT_LOOP, "LOOP"},
                                           LinkCase{DLT_IPV4, "IPV4"}),
                         [](const auto& info) { return std::string(info.param.name); });

// netcpu bench reads the same captures as netcpu run: packets up to 262144
// bytes (a rewriting program's copy of each must fit), a filter compiled for
// the capture's link type agreeing with libpcap on every record, a program
// on the packet after a link header it does not see.
TEST(BenchOnCaptures, BigPacketsAndEveryLinkType) {
  const fs::path src = scratch() / "rewrite-ttl.ncpu";
  {
    std::ofstream f(src);
    f << ".text:\n    bne has.ip4, 1, done\n    rewrite ip.ttl, 9\ndone:\n    pass\n";
  }
  for (const LinkCase lc : {LinkCase{DLT_LINUX_SLL2, "LINUX_SLL2"}, LinkCase{DLT_IPV4, "IPV4"},
                            LinkCase{DLT_EN10MB, "EN10MB"}}) {
    SCOPED_TRACE(lc.name);
    const std::vector<Record> recs = records(lc.dlt, kMaxSnaplen);
    const fs::path in = scratch() / (std::string("bench-") + lc.name + ".pcap");
    write_capture(in, lc.dlt, kMaxSnaplen, recs);
    const Result program = sh(std::string(NETCPU_CLI) + " bench " + src.string() + " --pcap " +
                              in.string() + " --rounds 1 --json");
    ASSERT_EQ(program.code, 0) << program.err;
    const json p = json::parse(program.out, nullptr, false);
    ASSERT_FALSE(p.is_discarded()) << program.out;
    EXPECT_EQ(p["packets"].get<size_t>(), recs.size());
    for (const char* expr : {"ip", "tcp port 80", "len > 1000"}) {
      const Result filter = sh(std::string(NETCPU_CLI) + " bench --filter " + quote(expr) +
                               " --pcap " + in.string() + " --rounds 1 --json");
      ASSERT_EQ(filter.code, 0) << expr << ": " << filter.out << filter.err;
      const json f = json::parse(filter.out, nullptr, false);
      ASSERT_FALSE(f.is_discarded()) << filter.out;
      EXPECT_EQ(f["agree"].get<size_t>(), recs.size()) << expr;
    }
  }
}

}  // namespace
}  // namespace netcpu::packets
