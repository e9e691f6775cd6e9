// tcpdump filters on NetCPU, checked against libpcap itself: every expression
// of a corpus is compiled by pcap_compile and run two ways over a large,
// seeded corpus of frames (well-formed, tagged, encapsulated, fragmented,
// truncated, corrupted and random): by libpcap's own bpf_filter() and by the
// NetCPU translation (filter_to_assembly -> assemble -> Instance). The
// verdicts must agree on every frame. Then the `tcpdump -ddd` text path, and
// `netcpu run --filter` against Debian's tcpdump on the bundled captures.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "guarded_packet.h"
#include "netcpu/bpf_translate.h"
#include "netcpu/netcpu.h"
#include "packet_builder.h"

namespace netcpu::packets {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// 100 000 frames x ~340 expressions: some 33M runs each side, about 2 s in a
// RelWithDebInfo build and 10 s under ASan+UBSan, so the sanitizer build
// runs the whole corpus too.
constexpr size_t kFrames = 100000;
constexpr uint64_t kSeed = 0x4e6574435055ull;  // "NetCPU"
constexpr uint32_t kSnap = 65535;

// ---------------------------------------------------------------------------
// The expressions. Some are expected to be refused by pcap_compile (they need
// a netmask, or are not valid for the link type); the test counts what
// compiles and requires at least 200.

const std::vector<std::string> kEtherExpressions = {
    // hosts and nets
    "host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.1", "host 128.3.112.15",
    "ip host 192.168.1.1", "src or dst host 10.0.0.2", "src and dst host 10.0.0.2",
    "host 255.255.255.255", "host 0.0.0.0", "host 224.0.0.1", "dst 239.255.255.250",
    "src 10.0.0.5 and dst 192.168.1.10", "host 10.0.0.1 or host 10.0.0.2 or host 10.0.0.3",
    "host 10.0.0.1 and host 10.0.0.2", "ip src host 128.3.112.15 and ip dst host 128.3.112.35",
    "ip src 128.3.112.15 or ip dst 128.3.112.15", "net 10.0.0.0/8", "net 10",
    "net 10.0.0.0 mask 255.0.0.0", "net 192.168.1.0/24", "net 192.168.1", "src net 172.16.0.0/12",
    "dst net 128.3.112.0/24", "dst net 128.3.112.0 mask 255.255.255.0", "net 0.0.0.0/0",
    "net 10.0.0.1/32", "net 10.0.0.0/31", "net 203.0.113.0/25", "not net 10.0.0.0/8",
    "ip net 172.16.5.0/24 and not host 172.16.5.4",
    "ip broadcast",  // with netmask 0, as tcpdump -r: to 255.255.255.255 or 0.0.0.0
    "ip multicast", "ip dst 224.0.0.1",
    // IPv6
    "ip6", "ip6 host 2001:db8:1::1", "host 2001:db8:2::10", "src host 2001:db8:1::5",
    "dst host ff02::1", "host ::1", "ip6 net 2001:db8:1::/64", "net 2001:db8::/32",
    "src net 2001:db8:2::/48", "dst net fe80::/10", "ip6 dst net ff00::/8", "ip6 multicast",
    "ip6 proto 58", "ip6 proto 6", "ip6 proto 17", "ip6 proto 44", "ip6 proto 0", "icmp6",
    "ip6 and tcp", "ip6 and udp", "ip6 and tcp port 80", "ip6 and udp port 53", "ip6 and not icmp6",
    "ip6 protochain 6", "ip protochain 17", "protochain 58", "icmp6[icmp6type] == icmp6-echo",
    "icmp6[0] == 135", "icmp6 and icmp6[0] >= 128", "ip6[6] == 17", "ip6[7] < 64",
    "ip6[0] & 0xf0 == 0x60", "ip6[40] == 0x80", "ip6 and ip6[4:2] > 100",
    // ports
    "port 80", "tcp port 80", "udp port 53", "src port 22", "dst port 443", "tcp dst port 22",
    "udp src port 123", "port 53 or port 123", "not port 22", "tcp port 80 or tcp port 443",
    "port 0", "port 65535", "sctp port 5000", "sctp and dst port 2905", "port 6081",
    "portrange 1000-2000", "tcp portrange 8000-8100", "udp portrange 1-1023",
    "src portrange 40000-65535", "dst portrange 20-25", "portrange 2000-1000",
    "tcp src portrange 1024-1024",
    // protocols
    "tcp", "udp", "icmp", "sctp", "ip proto 47", "ip proto 6", "ip proto \\tcp", "ip proto \\udp",
    "ip proto 132", "ip proto 50", "ip proto \\esp", "ip proto 255", "igmp", "pim", "vrrp", "ah",
    "esp", "not tcp and not udp", "ip and not tcp", "icmp or icmp6", "tcp or udp",
    "tcp or udp or sctp or icmp",
    // ICMP
    "icmp[icmptype] == icmp-echo", "icmp[icmptype] == icmp-echoreply",
    "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
    "icmp[icmptype] == icmp-unreach", "icmp[icmptype] = icmp-timxceed", "icmp[icmpcode] == 3",
    "icmp[0] == 3 and icmp[1] == 3", "icmp and icmp[4:2] == 0",
    // TCP flags
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "tcp[tcpflags] & tcp-syn != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0", "tcp[tcpflags] & tcp-rst != 0",
    "tcp[tcpflags] == tcp-ack", "tcp[tcpflags] & tcp-push != 0", "tcp[tcpflags] & tcp-urg != 0",
    "tcp[tcpflags] & (tcp-ece|tcp-cwr) != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)", "tcp[13] == 18",
    "tcp[13] & 0x3f == 0x02", "tcp[13] & 7 != 0 and port 80",
    "tcp and tcp[tcpflags] & tcp-syn != 0 and not tcp[tcpflags] & tcp-ack != 0",
    "tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0 and dst portrange 1-1024",
    // lengths
    "len > 100", "len < 100", "len >= 60", "len <= 64", "len == 60", "len != 60", "less 64",
    "greater 1000", "less 1500 and greater 100", "len > 1000 and tcp", "len - 14 > 100", "len = 0",
    // IPv4 header fields
    "ip[8] < 64", "ip[8] == 64", "ip[6:2] & 0x1fff != 0", "ip[6:2] & 0x1fff == 0",
    "ip[6] & 0x20 != 0", "ip[6] & 0x40 != 0", "ip[0] & 0xf != 5", "ip[0] & 0xf > 5", "ip[1] != 0",
    "ip[1] & 0xfc == 0xb8", "ip[2:2] > 500", "ip[4:2] == 0", "ip[9] == 17",
    "ip[12:4] == 0x0a000001", "ip[16:4] & 0xffffff00 == 0xc0a80100", "ip[0] >> 4 == 4",
    "ip[0:4] & 0x0fff0000 > 0", "ip[100] == 0", "ip[1500] == 0", "ip[70000] == 1",
    // arithmetic
    "ip[2:2] - ((ip[0]&0xf)<<2) > 100", "tcp[12] >> 4 > 5", "(ip[0] & 0xf) * 4 != 20",
    "ip[2:2] / 4 > 10", "ip[2:2] % 7 == 3", "ip[2:2] ^ 0xff == 0", "ip[2:2] ^ 0x3c == 0",
    "(ip[2:2] ^ ip[4:2]) & 1 == 1", "ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2) != 0",
    "ip[2:2] << 2 > 4000", "ip[2:2] >> 3 < 10", "ip[2:2] << ip[9] != 0", "ip[2:2] >> ip[9] != 0",
    "ip[2:2] << ip[8] != 0", "ip[2:2] >> ip[8] != 0", "ip[2:2] >> (ip[8] & 0x3f) == 0",
    "ip[2:2] / ip[1] > 2", "ip[2:2] % ip[1] == 0", "ip[2:2] % (ip[8] & 7) == 1",
    "ip[2:2] / (ip[8] - 64) > 0", "ip[8] - 64 > 0x7fffffff", "0 - ip[8] < 0xffffff00",
    "-ip[8] > 100", "- ip[2:2] < 0xfffffc00", "ip[8] * 0x1000000 > 0x40000000",
    "ip[8] * ip[8] > 4000", "ip[12:4] * 3 < 0x10000000", "ip[2:2] + 0xffffff00 < 0x100",
    "ip[2:2] - 1000 > 0", "ip[12:4] - ip[16:4] < 0x80000000",
    "(ip[12:4] | ip[16:4]) & 0xff000000 == 0x0a000000", "ip[12:4] & 0x80000000 != 0",
    "ip[0] & 0xf0 | 0x05 == 0x45", "udp[4:2] - 8 > 32", "tcp[4:4] % 1000 == 0",
    "tcp[4:4] / 0x10000 > 0x8000", "len % 2 == 1", "len / 100 == 0", "len & 0xf == 0",
    "(len - 14) * 2 > 200", "ip[2:2] * 3 / 2 > 1000", "ip[2:2] << 31 != 0", "ip[2:2] >> 31 == 0",
    // 32-bit wrap-around, unsigned compares and operands from the packet
    "ip[ether[0:4]] == 0", "ether[ether[0:4] + 20] == 0", "ether[0:4] + ether[6:4] > 0x80000000",
    "ether[0:4] * ether[6:4] > 0x80000000", "ether[0:4] << 4 > 0x80000000", "-ether[0:4] < 0x100",
    "ether[0:4] & 0x80000000 != 0", "ip[12:4] + 0x80000000 > 0x90000000",
    "ip[12:4] ^ 0xffffffff == 0xf5fffffe", "ip[2:2] > ip[4:2]", "ip[2:2] >= len",
    "len > ip[2:2] + 14", "ip[12:4] == ip[16:4]", "ip[2:2] & ip[4:2] != 0",
    "ether[0:4] / ether[11] > 0x1000000", "ether[0:4] % ether[11] == 0", "ip[8] >> ip[9] == 0",
    // payload and computed offsets
    "tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420", "tcp[20:4] == 0x47455420", "udp[8:2] == 0x1234",
    "udp and udp[8] & 0x80 == 0 and port 53", "ether[len - 1] & 1 == 1", "ether[len - 4:4] != 0",
    "ether[len] == 0", "ether[4294967295] == 0", "ether[4294967294:2] == 0", "ether[100000] == 0",
    "ether[ether[12] & 0x3f] == 0", "ip[ip[0] & 0xf] != 0", "tcp[tcp[12] >> 4] != 0",
    "udp[udp[4:2] - 1] != 0",
    // VLAN and MPLS
    "vlan", "vlan 100", "vlan 200", "vlan and ip", "vlan 100 and tcp port 80", "vlan and vlan",
    "vlan 200 and vlan 100", "vlan and host 10.0.0.5", "not vlan", "vlan and ip6",
    "vlan 100 or vlan 200", "vlan and arp", "ip or vlan", "vlan and vlan and vlan", "mpls",
    "mpls 100", "mpls and ip", "mpls 16 and host 10.0.0.1", "mpls and mpls", "mpls and ip6",
    "vlan and mpls",
    // Ethernet
    "ether host 02:00:80:03:70:23", "ether src 02:00:80:03:70:0f", "ether dst ff:ff:ff:ff:ff:ff",
    "ether broadcast", "ether multicast", "broadcast", "multicast", "not ether multicast",
    "ether proto 0x0806", "ether proto \\ip", "ether proto \\arp", "ether proto 0x88cc",
    "ether proto 0x0800 and ip[9] == 6", "ether[0] & 1 != 0", "ether[12:2] == 0x86dd",
    "ether[6:4] == 0x02008003", "ether[0:4] == 0xffffffff",
    "ether src 02:00:80:03:70:0f and ether dst 02:00:80:03:70:23",
    "ether host 02:00:0a:00:00:01 and ip", "link[12:2] == 0x8100",
    // ARP and friends
    "arp", "rarp", "arp and host 10.0.0.1", "arp and src host 128.3.112.15",
    "arp and dst host 128.3.112.35", "arp or rarp", "arp and arp[6:2] == 2", "arp and arp[7] == 1",
    "arp net 10.0.0.0/8", "rarp and host 10.0.0.1", "not arp and not ip6", "not arp", "ip or arp",
    // LLC, 802.3 and other link-layer protocols
    "stp", "ipx", "iso", "netbeui", "llc", "llc s", "llc i", "llc u", "decnet", "atalk", "aarp",
    "lat", "sca", "mopdl", "moprc", "pppoes", "pppoed", "pppoes and ip", "pppoes 0x1234",
    "pppoes and tcp port 80", "geneve", "geneve and ip", "geneve 5", "geneve and tcp port 80",
    // combinations
    "host 10.0.0.1 and (port 22 or port 80)",
    "(host 10.0.0.1 or host 10.0.0.2) and not (port 22 or port 23)",
    "tcp and (src net 10.0.0.0/8 or dst net 192.168.0.0/16) and not port 443",
    "((tcp and port 80) or (udp and port 53)) and not host 8.8.8.8",
    "ip and ip[8] > 1 and not icmp", "ip6 or arp or vlan", "not (ip or ip6 or arp)",
    "not (tcp or udp) and (ip or ip6)",
    "(tcp dst port 22 and src net 10.0.0.0/8) or (tcp dst port 80) or (tcp dst port 443) or "
    "(udp dst port 53) or (udp dst port 123) or (icmp[icmptype] == icmp-echo) or "
    "(tcp dst port 25 and dst host 192.168.1.1) or (ip6 and tcp dst port 80) or (arp) or "
    "(tcp dst portrange 8000-8100)",
    "not ((tcp dst port 22 and src net 10.0.0.0/8) or (tcp dst port 80) or (tcp dst port 443) "
    "or (udp dst port 53) or (udp dst port 123) or (icmp[icmptype] == icmp-echo) or "
    "(tcp dst port 25 and dst host 192.168.1.1) or (ip6 and tcp dst port 80) or (arp) or "
    "(tcp dst portrange 8000-8100))",
    "(src net 10.0.0.0/8 and dst net 192.168.1.0/24 and tcp dst port 80) or "
    "(src net 192.168.1.0/24 and dst net 10.0.0.0/8 and tcp src port 80) or "
    "(host 128.3.112.15 and icmp) or (ip6 src net 2001:db8:1::/64 and udp) or "
    "(vlan 100 and ip) or (len > 1000 and not tcp) or (ip[6:2] & 0x1fff != 0) or "
    "(ether multicast and not ip6) or (udp port 67 or udp port 68) or (sctp and port 5000)",
    "tcp and not (port 22 or port 80 or port 443 or port 8080) and (ip[2:2] > 100 or "
    "tcp[tcpflags] & tcp-syn != 0)",
    "udp and (udp[4:2] > 40 or dst port 123) and not src net 172.16.0.0/12",
    "ip and not ip[6:2] & 0x1fff != 0 and (tcp[12] >> 4 > 5 or ip[0] & 0xf > 5)", "not not tcp",
    "(ip or ip6) and (tcp or udp) and (port 53 or port 80 or port 443)",
    "tcp or\nudp",  // whitespace in the expression
    "tcp\tand port 80",
    "inbound",  // a Linux ancillary load on a dead handle: bpf_filter rejects every packet
};

// For DLT_RAW (lwIPv6 hooks): expressions without a link layer.
const std::vector<std::string> kRawExpressions = {
    "ip",
    "ip6",
    "host 10.0.0.5",
    "src host 10.0.0.1",
    "dst host 2001:db8:2::10",
    "net 10.0.0.0/8",
    "net 2001:db8:1::/64",
    "port 80",
    "tcp port 80",
    "udp port 53",
    "portrange 1000-2000",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "sctp",
    "ip proto 47",
    "ip6 proto 58",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "tcp[tcpflags] & tcp-rst != 0",
    "len > 100",
    "less 64",
    "greater 1000",
    "ip[8] < 64",
    "ip[6:2] & 0x1fff != 0",
    "icmp[icmptype] == icmp-echo",
    "not ip6",
    "ip and not tcp",
    "ip6 and tcp dst port 443",
    "(tcp dst port 22 and src net 10.0.0.0/8) or udp dst port 53",
    "ip[2:2] - ((ip[0]&0xf)<<2) > 100",
    "ip multicast",
    "ip6 protochain 6",
    "ip[2:2] % 7 == 3",
};

// ---------------------------------------------------------------------------
// A deterministic frame generator (splitmix64; no std distributions, whose
// results differ between standard libraries).

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint64_t n) { return static_cast<uint32_t>(next() % n); }
  bool chance(uint32_t percent) { return below(100) < percent; }
  uint8_t u8() { return static_cast<uint8_t>(next()); }
  uint16_t u16() { return static_cast<uint16_t>(next()); }
  uint32_t u32() { return static_cast<uint32_t>(next()); }
  Bytes bytes(size_t n) {
    Bytes b(n);
    for (auto& x : b) x = u8();
    return b;
  }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

 private:
  uint64_t s_;
};

std::vector<uint32_t> ip4_pool() {
  std::vector<uint32_t> v;
  for (const char* s :
       {"10.0.0.1",    "10.0.0.2",        "10.0.0.3",        "10.0.0.5",      "10.0.0.6",
        "10.1.2.3",    "10.255.255.255",  "128.3.112.15",    "128.3.112.35",  "128.3.112.36",
        "192.168.1.1", "192.168.1.10",    "192.168.1.20",    "192.168.1.255", "172.16.5.4",
        "172.16.5.9",  "172.31.255.1",    "8.8.8.8",         "203.0.113.10",  "203.0.113.200",
        "224.0.0.1",   "239.255.255.250", "255.255.255.255", "0.0.0.0",       "127.0.0.1"})
    v.push_back(ip4_addr(s));
  return v;
}

std::vector<Ip6Addr> ip6_pool() {
  std::vector<Ip6Addr> v;
  for (const char* s :
       {"2001:db8:1::1", "2001:db8:1::5", "2001:db8:2::10", "2001:db8:2::53", "2001:db8::1",
        "2001:db8:2:ffff::1", "fe80::1", "ff02::1", "ff02::1:ff00:1", "::1", "::"})
    v.push_back(ip6_addr(s));
  return v;
}

std::vector<Mac> mac_pool() {
  std::vector<Mac> v;
  for (const char* s : {"02:00:80:03:70:23", "02:00:80:03:70:0f", "02:00:0a:00:00:01",
                        "02:00:0a:00:00:05", "00:11:22:33:44:55", "ff:ff:ff:ff:ff:ff",
                        "01:00:5e:00:00:01", "33:33:00:00:00:01", "01:80:c2:00:00:00"})
    v.push_back(mac_addr(s));
  return v;
}

const std::vector<uint16_t> kPorts = {0,    20,   21,   22,   23,   25,    53,    67,
                                      68,   80,   123,  161,  443,  514,   999,   1000,
                                      1023, 1024, 1500, 1999, 2000, 2001,  2905,  5000,
                                      6081, 8000, 8080, 8100, 8101, 33434, 40000, 65535};

class FrameGenerator {
 public:
  explicit FrameGenerator(uint64_t seed)
      : rng_(seed),
        ip4s_(ip4_pool()),
        ip6s_(ip6_pool()),
        macs_(mac_pool()),
        synthetic_(synthetic_packets(kFrames / 10 + 16, static_cast<uint32_t>(seed))) {}

  // Appends one frame, or a few (the fragments of one datagram).
  void generate(std::vector<Bytes>& out) {
    const uint32_t kind = rng_.below(100);
    std::vector<Bytes> made;
    if (kind < 10) {
      made.push_back(synthetic_[next_synthetic_++ % synthetic_.size()]);
    } else if (kind < 38) {
      made.push_back(ethernet_ip(false));
    } else if (kind < 52) {
      made.push_back(ethernet_ip(true));
    } else if (kind < 59) {
      made.push_back(arp());
    } else if (kind < 63) {
      made.push_back(mpls());
    } else if (kind < 66) {
      made.push_back(pppoe());
    } else if (kind < 70) {
      made.push_back(llc());
    } else if (kind < 74) {
      made.push_back(other_ethertype());
    } else if (kind < 77) {
      made.push_back(geneve());
    } else if (kind < 86) {
      made = fragments();
    } else if (kind < 95) {
      out.push_back(plausible_random());
      return;
    } else {
      out.push_back(rng_.bytes(rng_.chance(30) ? rng_.below(15) : rng_.below(300)));
      return;
    }
    for (Bytes& f : made) {
      mutate(f);
      out.push_back(std::move(f));
    }
  }

 private:
  uint32_t ip4() { return rng_.chance(15) ? rng_.u32() : rng_.pick(ip4s_); }
  Ip6Addr ip6() {
    Ip6Addr a = rng_.pick(ip6s_);
    if (rng_.chance(15))
      for (size_t i = rng_.chance(50) ? 8 : 0; i < 16; ++i) a[i] = rng_.u8();
    return a;
  }
  Mac mac() {
    if (!rng_.chance(15)) return rng_.pick(macs_);
    Mac m;
    for (auto& b : m) b = rng_.u8();
    return m;
  }
  uint16_t port() { return rng_.chance(20) ? rng_.u16() : rng_.pick(kPorts); }
  uint16_t vid() {
    static const std::vector<uint16_t> v = {100, 200, 0, 1, 4095, 16};
    return rng_.chance(25) ? static_cast<uint16_t>(rng_.below(4096)) : rng_.pick(v);
  }
  uint8_t small() { return static_cast<uint8_t>(rng_.below(8)); }

  Bytes payload() {
    const uint32_t r = rng_.below(100);
    const size_t n = r < 70   ? rng_.below(41)
                     : r < 92 ? 40 + rng_.below(260)
                              : 300 + rng_.below(1161);
    return rng_.bytes(n);
  }

  // 802.1Q / QinQ tags, on a quarter of the frames.
  void tags(PacketBuilder& b) {
    const uint32_t r = rng_.below(100);
    if (r < 75) return;
    static const std::vector<uint16_t> outer = {kTpid8021ad, kTpid8021Q, 0x9100};
    if (r >= 88) tag(b, rng_.pick(outer));
    if (r >= 97) tag(b, rng_.pick(outer));
    tag(b, kTpid8021Q);
  }
  void tag(PacketBuilder& b, uint16_t tpid) {
    const uint16_t id = vid();
    b.vlan(id, small(), tpid);
  }
  // (Separate statements wherever two random draws meet: the order in which
  // function arguments are evaluated is unspecified.)
  void eth(PacketBuilder& b) {
    const Mac dst = mac();
    b.eth(dst, mac());
  }

  Tcp tcp() {
    using namespace tcp_flags;
    static const std::vector<uint8_t> flags = {kSyn,
                                               kSyn | kAck,
                                               kAck,
                                               kPsh | kAck,
                                               kFin | kAck,
                                               kRst,
                                               kRst | kAck,
                                               kUrg | kAck,
                                               0,
                                               0xff,
                                               kFin,
                                               kSyn | kEce | kCwr,
                                               kFin | kPsh | kUrg};
    Tcp t;
    t.sport = port();
    t.dport = port();
    t.seq = rng_.chance(10) ? rng_.below(10) * 1000 : rng_.u32();
    t.ack = rng_.u32();
    t.flags = rng_.chance(20) ? rng_.u8() : rng_.pick(flags);
    t.window = rng_.u16();
    const uint32_t o = rng_.below(10);
    if (o < 2) t.options = tcp_mss_option(1460);
    if (o == 2) t.options = rng_.bytes(rng_.below(41));
    if (rng_.chance(8))
      t.payload = bytes("GET / HTTP/1.1\r\nHost: example.org\r\n\r\n");
    else
      t.payload = payload();
    return t;
  }

  Udp udp() {
    Udp u{port(), port(), payload()};
    if (rng_.chance(5) && u.payload.size() >= 2) u.payload[0] = 0x12, u.payload[1] = 0x34;
    return u;
  }

  Icmp icmp(bool v6) {
    static const std::vector<uint8_t> t4 = {0, 3, 5, 8, 11, 13, 14};
    static const std::vector<uint8_t> t6 = {1, 2, 3, 4, 128, 129, 133, 134, 135, 136, 143};
    Icmp m;
    m.type = rng_.chance(15) ? rng_.u8() : rng_.pick(v6 ? t6 : t4);
    m.code = rng_.chance(50) ? 0 : static_cast<uint8_t>(rng_.below(16));
    m.rest = rng_.chance(50) ? 0 : rng_.u32();
    m.payload = payload();
    return m;
  }

  Sctp sctp() {
    Sctp s{port(), port(), rng_.u32(), {}};
    if (rng_.chance(50)) {
      const uint32_t tag = rng_.u32();
      s.chunks = sctp_init_chunk(tag, 65535, 10, 10, rng_.u32());
    } else {
      s.chunks = rng_.bytes(4 * rng_.below(20));
    }
    return s;
  }

  RawL4 raw() {
    static const std::vector<uint8_t> protos = {47, 50, 51, 2, 103, 112, 89, 0, 255, 6, 17, 58, 59};
    return {rng_.chance(20) ? rng_.u8() : rng_.pick(protos), payload()};
  }

  Ipv4 ipv4_header() {
    static const std::vector<uint8_t> ttls = {1, 2, 63, 64, 65, 128, 255};
    Ipv4 ip;
    ip.src = ip4();
    ip.dst = ip4();
    ip.ttl = rng_.chance(15) ? rng_.u8() : rng_.pick(ttls);
    ip.id = rng_.u16();
    ip.tos = rng_.chance(20) ? rng_.u8() : 0;
    ip.df = rng_.chance(40);
    if (rng_.chance(15)) {
      switch (rng_.below(3)) {
        case 0:
          ip.options = ip4_record_route(1 + rng_.below(9));
          break;
        case 1:
          ip.options = {148, 4, 0, 0};  // router alert
          break;
        default:
          ip.options = rng_.bytes(1 + rng_.below(40));
      }
    }
    if (rng_.chance(10)) {
      ip.mf = rng_.chance(50);
      ip.frag_offset = static_cast<uint16_t>(rng_.chance(40) ? 0 : 8 * (1 + rng_.below(400)));
    }
    return ip;
  }

  Ipv6 ipv6_header() {
    Ipv6 ip;
    ip.src = ip6();
    ip.dst = ip6();
    ip.hop_limit = rng_.chance(20) ? rng_.u8() : 64;
    ip.traffic_class = rng_.chance(20) ? rng_.u8() : 0;
    ip.flow_label = rng_.below(1 << 20);
    if (rng_.chance(30)) {
      const uint32_t n = 1 + rng_.below(3);
      for (uint32_t i = 0; i < n; ++i) {
        switch (rng_.below(4)) {
          case 0:
            ip.ext.push_back(ip6_hop_by_hop(rng_.chance(30) ? Bytes{5, 2, 0, 0} : Bytes{}));
            break;
          case 1:
            ip.ext.push_back(ip6_dest_options());
            break;
          case 2: {
            const std::vector<Ip6Addr> route = {ip6(), ip6()};
            ip.ext.push_back(ip6_routing(route, static_cast<uint8_t>(rng_.below(3))));
            break;
          }
          default: {
            const auto offset = static_cast<uint16_t>(rng_.chance(50) ? 0 : 8 * rng_.below(100));
            const bool more = rng_.chance(50);
            ip.ext.push_back(ip6_fragment(offset, more, rng_.u32()));
          }
        }
      }
    }
    return ip;
  }

  // IP and a transport layer, without a link layer.
  PacketBuilder ip_packet(bool v6) {
    PacketBuilder b;
    if (v6)
      b.ipv6(ipv6_header());
    else
      b.ipv4(ipv4_header());
    const uint32_t r = rng_.below(100);
    if (r < 38)
      b.tcp(tcp());
    else if (r < 62)
      b.udp(udp());
    else if (r < 72)
      b.icmp_echo({rng_.chance(50), rng_.u16(), rng_.u16(), payload()});
    else if (r < 82)
      b.icmp(icmp(v6));
    else if (r < 88)
      b.sctp(sctp());
    else
      b.raw(raw());
    return b;
  }

  Bytes ethernet_ip(bool v6) {
    PacketBuilder b = ip_packet(v6);
    eth(b);
    tags(b);
    return b.build();
  }

  // Ethernet framing by hand for what the builder does not know.
  Bytes ether(uint16_t type, const Bytes& body) {
    Bytes f;
    const Mac d = mac(), s = mac();
    f.insert(f.end(), d.begin(), d.end());
    f.insert(f.end(), s.begin(), s.end());
    if (rng_.chance(15)) {  // one tag
      const uint16_t pcp = small();
      const uint16_t tci = static_cast<uint16_t>(pcp << 13 | vid());
      f.insert(f.end(), {0x81, 0x00, static_cast<uint8_t>(tci >> 8), static_cast<uint8_t>(tci)});
    }
    f.push_back(static_cast<uint8_t>(type >> 8));
    f.push_back(static_cast<uint8_t>(type));
    f.insert(f.end(), body.begin(), body.end());
    if (f.size() < kMinFrame) f.resize(kMinFrame, 0);
    return f;
  }

  Bytes arp() {
    static const std::vector<uint16_t> ops = {kArpRequest, kArpReply, 3, 4};
    Arp a;
    a.op = rng_.chance(10) ? rng_.u16() : rng_.pick(ops);
    a.sha = mac();
    a.spa = ip4();
    a.tha = rng_.chance(50) ? Mac{} : mac();
    a.tpa = ip4();
    PacketBuilder b;
    const Mac dst = rng_.chance(50) ? kBroadcastMac : mac();
    b.eth(dst, mac()).arp(a);
    tags(b);
    Bytes f = b.build();
    if (rng_.chance(25)) {  // RARP: same body, ethertype 0x8035
      size_t off = 12;
      while (off + 2 <= f.size() && (f[off] == 0x81 || f[off] == 0x88 || f[off] == 0x91)) off += 4;
      f[off] = 0x80;
      f[off + 1] = 0x35;
    }
    return f;
  }

  Bytes mpls() {
    Bytes body;
    const uint32_t n = 1 + rng_.below(3);
    static const std::vector<uint32_t> labels = {16, 100, 1000, 0, 3};
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t label = rng_.chance(25) ? rng_.below(1 << 20) : rng_.pick(labels);
      const bool bottom = i + 1 == n ? !rng_.chance(10) : rng_.chance(5);
      const uint32_t tc = small();
      const uint32_t e = label << 12 | tc << 9 | (bottom ? 1u << 8 : 0) | rng_.u8();
      for (int s = 24; s >= 0; s -= 8) body.push_back(static_cast<uint8_t>(e >> s));
    }
    Bytes inner = rng_.chance(75) ? ip_packet(rng_.chance(30)).build_ip() : payload();
    body.insert(body.end(), inner.begin(), inner.end());
    return ether(rng_.chance(90) ? 0x8847 : 0x8848, body);
  }

  Bytes pppoe() {
    const bool session = rng_.chance(80);
    Bytes inner;
    uint16_t proto = 0x0021;
    if (session) {
      const uint32_t r = rng_.below(10);
      proto = r < 6 ? 0x0021 : r < 9 ? 0x0057 : rng_.u16();
      inner = proto == 0x0021   ? ip_packet(false).build_ip()
              : proto == 0x0057 ? ip_packet(true).build_ip()
                                : payload();
    } else {
      inner = payload();
    }
    const uint16_t sid = rng_.chance(30) ? 0x1234 : rng_.u16();
    const size_t len = inner.size() + (session ? 2 : 0);
    Bytes body = {0x11,
                  static_cast<uint8_t>(session ? 0 : 0x09),
                  static_cast<uint8_t>(sid >> 8),
                  static_cast<uint8_t>(sid),
                  static_cast<uint8_t>(len >> 8),
                  static_cast<uint8_t>(len)};
    if (session)
      body.insert(body.end(), {static_cast<uint8_t>(proto >> 8), static_cast<uint8_t>(proto)});
    body.insert(body.end(), inner.begin(), inner.end());
    return ether(session ? 0x8864 : 0x8863, body);
  }

  Bytes llc() {
    static const std::vector<Bytes> heads = {
        {0x42, 0x42, 0x03},                                // STP
        {0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00},           // SNAP, IPv4
        {0xaa, 0xaa, 0x03, 0x08, 0x00, 0x07, 0x80, 0x9b},  // SNAP, AppleTalk
        {0xaa, 0xaa, 0x03, 0, 0, 0, 0x80, 0xf3},           // SNAP, AARP
        {0xaa, 0xaa, 0x03, 0, 0, 0, 0x81, 0x37},           // SNAP, IPX
        {0xe0, 0xe0, 0x03},                                // IPX
        {0xfe, 0xfe, 0x03},                                // ISO
        {0xf0, 0xf0, 0x03},                                // NetBEUI
        {0xff, 0xff},                                      // raw 802.3 IPX
    };
    static const std::vector<uint8_t> controls = {0x03, 0x00, 0x01, 0x02, 0x0b, 0xaf, 0xf3};
    Bytes body;
    if (rng_.chance(75)) {
      body = rng_.pick(heads);
      if (body.size() > 2 && rng_.chance(20)) body[2] = rng_.pick(controls);
    } else {
      body = {rng_.u8(), rng_.u8(), rng_.chance(50) ? rng_.pick(controls) : rng_.u8()};
    }
    Bytes more = payload();
    body.insert(body.end(), more.begin(), more.end());
    const uint16_t len = rng_.chance(80)
                             ? static_cast<uint16_t>(std::min<size_t>(body.size(), 1500))
                             : static_cast<uint16_t>(rng_.below(1536));
    return ether(len, body);
  }

  Bytes other_ethertype() {
    static const std::vector<uint16_t> types = {
        0x6003, 0x6004, 0x6007, 0x6001, 0x6002, 0x809b, 0x80f3, 0x8137, 0x88cc, 0x9000,
        0x0801, 0x05dc, 0x05dd, 0x0600, 0x8035, 0x0806, 0x86dd, 0x0800, 0x8863, 0x8864};
    return ether(rng_.chance(20) ? rng_.u16() : rng_.pick(types), payload());
  }

  Bytes geneve() {
    Bytes body;
    const uint32_t opt_words = rng_.chance(20) ? 1 + rng_.below(4) : 0;
    uint16_t proto;
    Bytes inner;
    const uint32_t r = rng_.below(10);
    if (r < 6) {
      proto = 0x6558;
      PacketBuilder b = ip_packet(rng_.chance(25));
      eth(b);
      inner = b.build();
    } else if (r < 8) {
      proto = 0x0800;
      inner = ip_packet(false).build_ip();
    } else if (r < 9) {
      proto = 0x86dd;
      inner = ip_packet(true).build_ip();
    } else {
      proto = rng_.u16();
      inner = payload();
    }
    const uint32_t vni = rng_.chance(40) ? 5 : rng_.chance(50) ? 100 : rng_.below(1 << 24);
    body = {static_cast<uint8_t>(rng_.chance(90) ? opt_words : rng_.u8()),
            static_cast<uint8_t>(rng_.chance(80) ? 0 : rng_.u8()),
            static_cast<uint8_t>(proto >> 8),
            static_cast<uint8_t>(proto),
            static_cast<uint8_t>(vni >> 16),
            static_cast<uint8_t>(vni >> 8),
            static_cast<uint8_t>(vni),
            0};
    Bytes opts = rng_.bytes(4 * opt_words);
    body.insert(body.end(), opts.begin(), opts.end());
    body.insert(body.end(), inner.begin(), inner.end());
    const bool v6 = rng_.chance(20);
    PacketBuilder b;
    if (v6) {
      Ipv6 ip;
      ip.src = ip6();
      ip.dst = ip6();
      b.ipv6(ip);
    } else {
      Ipv4 ip;
      ip.src = ip4();
      ip.dst = ip4();
      b.ipv4(ip);
    }
    b.udp({rng_.chance(80) ? rng_.u16() : uint16_t{6081}, rng_.chance(85) ? uint16_t{6081} : port(),
           body});
    eth(b);
    tags(b);
    return b.build();
  }

  // Some fragments of one datagram (IPv4 or IPv6 with a fragment header).
  std::vector<Bytes> fragments() {
    const bool v6 = rng_.chance(40);
    PacketBuilder b;
    if (v6) {
      Ipv6 ip = ipv6_header();
      std::erase_if(ip.ext, [](const Ipv6Ext& e) { return e.type == 44; });
      b.ipv6(ip);
    } else {
      Ipv4 ip = ipv4_header();
      ip.mf = false;
      ip.frag_offset = 0;
      b.ipv4(ip);
    }
    Bytes data = rng_.bytes(100 + rng_.below(1400));
    switch (rng_.below(4)) {
      case 0: {
        Tcp t = tcp();
        t.payload = data;
        b.tcp(t);
        break;
      }
      case 1:
        b.udp({port(), port(), data});
        break;
      case 2:
        b.icmp_echo({false, rng_.u16(), rng_.u16(), data});
        break;
      default:
        b.raw({rng_.chance(50) ? uint8_t{47} : rng_.u8(), data});
    }
    eth(b);
    tags(b);
    const size_t max_payload = 8 * (1 + rng_.below(100));
    std::vector<Bytes> all = b.build_fragments(max_payload, rng_.u32());
    std::vector<Bytes> some;
    const size_t keep = std::min<size_t>(all.size(), 1 + rng_.below(3));
    for (size_t i = 0; i < keep; ++i) some.push_back(std::move(all[rng_.below(all.size())]));
    return some;
  }

  // An Ethernet header announcing a known protocol, then random bytes shaped
  // just enough (version, protocol) for the filters to look deep into them.
  Bytes plausible_random() {
    static const std::vector<uint16_t> types = {0x0800, 0x0800, 0x0800, 0x86dd, 0x86dd, 0x8100,
                                                0x88a8, 0x0806, 0x8035, 0x8847, 0x8864};
    static const std::vector<uint8_t> protos = {6, 17, 1, 132, 58, 44, 0, 47};
    const uint16_t type = rng_.pick(types);
    Bytes body = rng_.bytes(rng_.chance(50) ? rng_.below(64) : rng_.below(300));
    if (type == 0x0800 && !body.empty()) {
      if (rng_.chance(80)) body[0] = static_cast<uint8_t>(0x40 | (body[0] & 0x0f));
      if (body.size() > 7 && rng_.chance(50)) body[6] &= 0xc0, body[7] = 0;
      if (body.size() > 9 && rng_.chance(70)) body[9] = rng_.pick(protos);
    }
    if (type == 0x86dd && !body.empty()) {
      if (rng_.chance(80)) body[0] = static_cast<uint8_t>(0x60 | (body[0] & 0x0f));
      if (body.size() > 6 && rng_.chance(70)) body[6] = rng_.pick(protos);
    }
    if ((type == 0x8100 || type == 0x88a8) && body.size() > 3 && rng_.chance(70)) {
      body[2] = rng_.chance(50) ? 0x08 : 0x86;
      body[3] = body[2] == 0x08 ? 0x00 : 0xdd;
    }
    Bytes f;
    const Mac d = mac(), s = mac();
    f.insert(f.end(), d.begin(), d.end());
    f.insert(f.end(), s.begin(), s.end());
    f.push_back(static_cast<uint8_t>(type >> 8));
    f.push_back(static_cast<uint8_t>(type));
    f.insert(f.end(), body.begin(), body.end());
    return f;
  }

  // Truncation anywhere (mostly inside the headers) and byte corruption.
  void mutate(Bytes& f) {
    if (!f.empty() && rng_.chance(12)) {
      const size_t n = f.size();
      f.resize(rng_.chance(60) ? rng_.below(std::min<size_t>(n, 80)) : rng_.below(n));
    }
    if (!f.empty() && rng_.chance(4)) {
      const uint32_t k = 1 + rng_.below(4);
      for (uint32_t i = 0; i < k; ++i) f[rng_.below(std::min<size_t>(f.size(), 64))] = rng_.u8();
    }
  }

  Rng rng_;
  std::vector<uint32_t> ip4s_;
  std::vector<Ip6Addr> ip6s_;
  std::vector<Mac> macs_;
  std::vector<Bytes> synthetic_;
  size_t next_synthetic_ = 0;
};

// Frames stored back to back.
class Corpus {
 public:
  void add(std::span<const uint8_t> f) {
    offsets_.push_back({data_.size(), f.size()});
    data_.insert(data_.end(), f.begin(), f.end());
  }
  size_t size() const { return offsets_.size(); }
  std::span<const uint8_t> operator[](size_t i) const {
    return {data_.data() + offsets_[i].first, offsets_[i].second};
  }

 private:
  std::vector<uint8_t> data_;
  std::vector<std::pair<size_t, size_t>> offsets_;
};

const Corpus& ether_corpus() {
  static const Corpus c = [] {
    FrameGenerator gen(kSeed);
    std::vector<Bytes> frames;
    frames.reserve(kFrames + 8);
    while (frames.size() < kFrames) gen.generate(frames);
    frames.resize(kFrames);
    // Jumbo frames: long chains of IPv6 extension headers (protochain's loop)
    // and the largest frame a pcap can hold. Not 8000 headers: protochain
    // then loops past the default instruction budget (100000), and a stopped
    // run takes the host's abort verdict, not BPF's reject (documented).
    for (size_t n : {100, 1000, 4000}) {
      Ipv6 ip{.src = ip6_addr("2001:db8:1::1"), .dst = ip6_addr("2001:db8:2::10")};
      ip.ext.assign(n, ip6_dest_options());
      frames.push_back(PacketBuilder()
                           .eth(mac_addr("02:00:00:00:00:01"), mac_addr("02:00:00:00:00:02"))
                           .ipv6(ip)
                           .tcp({.sport = 40000, .dport = 80, .flags = tcp_flags::kSyn})
                           .build());
    }
    frames.push_back(PacketBuilder()
                         .eth(mac_addr("02:00:00:00:00:01"), mac_addr("02:00:00:00:00:02"))
                         .ipv4({.src = ip4_addr("10.0.0.1"), .dst = ip4_addr("10.0.0.2")})
                         .udp({.sport = 53, .dport = 53, .payload = Bytes(65535 - 14 - 28, 0x5a)})
                         .build());
    Corpus out;
    for (const Bytes& f : frames) out.add(f);
    return out;
  }();
  return c;
}

// The same frames without their Ethernet header and tags: IP packets (and
// whatever else followed the header), for DLT_RAW.
const Corpus& raw_corpus() {
  static const Corpus c = [] {
    const Corpus& eth = ether_corpus();
    Corpus out;
    for (size_t i = 0; i < eth.size(); ++i) {
      std::span<const uint8_t> f = eth[i];
      size_t off = 12;
      while (off + 2 <= f.size()) {
        const uint16_t type = static_cast<uint16_t>(f[off] << 8 | f[off + 1]);
        if (type != 0x8100 && type != 0x88a8 && type != 0x9100) break;
        off += 4;
      }
      off = std::min(off + 2, f.size());
      out.add(f.subspan(off));
    }
    return out;
  }();
  return c;
}

// ---------------------------------------------------------------------------
// The two filters.

std::optional<std::vector<bpf_insn>> pcap_program(const std::string& expr, int dlt,
                                                  std::string* error) {
  pcap_t* p = pcap_open_dead(dlt, kSnap);
  if (!p) return std::nullopt;
  struct bpf_program prog {};
  // Netmask 0, as tcpdump -r and filter_to_assembly by default.
  if (pcap_compile(p, &prog, expr.c_str(), 1, 0) != 0) {
    *error = pcap_geterr(p);
    pcap_close(p);
    return std::nullopt;
  }
  std::vector<bpf_insn> v(prog.bf_insns, prog.bf_insns + prog.bf_len);
  pcap_freecode(&prog);
  pcap_close(p);
  return v;
}

std::unique_ptr<Instance> load(const std::string& source, LinkType link, std::string* error) {
  Diagnostic d;
  std::optional<Program> program = assemble(source, "filter.ncpu", &d);
  if (!program) {
    *error = "does not assemble: " + d.str();
    return nullptr;
  }
  HostCaps caps;
  caps.link = link;
  caps.max_packet = kSnap;
  auto vm = Instance::create(std::move(*program), caps, Limits{}, nullptr, &d);
  if (!vm) *error = "does not verify: " + d.str();
  return vm;
}

void use_jit(Instance& vm, bool on) {
  Limits l = vm.limits();
  l.jit = on;
  vm.set_limits(l);
}

std::string hex(std::span<const uint8_t> b, size_t max = 96) {
  std::string s;
  char h[4];
  for (size_t i = 0; i < b.size() && i < max; ++i) {
    std::snprintf(h, sizeof h, "%02x", b[i]);
    s += h;
    if (i % 2 == 1 && i + 1 < b.size()) s += ' ';
  }
  if (b.size() > max) s += "...";
  return s;
}

struct Mismatch {
  std::string expr;
  size_t frame;
  Bytes bytes;
  bool pcap_accepts;
  RunResult run;
};

std::string describe(const Mismatch& m) {
  std::ostringstream s;
  s << "'" << m.expr << "' frame #" << m.frame << " (" << m.bytes.size() << " bytes): libpcap "
    << (m.pcap_accepts ? "accepts" : "rejects") << ", NetCPU " << verdict_name(m.run.verdict);
  if (m.run.aborted)
    s << " (aborted: " << abort_reason_name(m.run.reason) << " at pc " << m.run.abort_pc << ")";
  s << "\n    " << hex(m.bytes);
  return s.str();
}

// Both verdicts for every frame; returns the number of disagreements and
// keeps the first few.
class Differ {
 public:
  // Each frame ends at an unreadable page: a native read past it crashes.
  Differ() : guard_(kSnap) {}

  struct Outcome {
    size_t accepted = 0;
    size_t mismatches = 0;
  };

  Outcome compare(const std::string& expr, const std::vector<bpf_insn>& bpf, Instance& vm,
                  const Corpus& frames, size_t limit, std::vector<Mismatch>& keep) {
    Outcome o;
    const size_t n = std::min(limit, frames.size());
    for (size_t i = 0; i < n; ++i) {
      std::span<const uint8_t> f = frames[i];
      const auto len = static_cast<uint32_t>(f.size());
      // One frame in eight as a capture cut short would give it: longer on
      // the wire (bpf_filter's wirelen, NetCPU's wlen) than the bytes there.
      PacketMeta meta;
      if (i % 8 == 7) meta.wire_len = len + 1 + static_cast<uint32_t>(i % 300000);
      const uint32_t wire = meta.wire_len ? meta.wire_len : len;
      const bool pcap = bpf_filter(bpf.data(), f.data(), wire, len) != 0;
      uint8_t* buf = guard_.put(f);
      uint32_t l = len;
      const RunResult r = vm.run(buf, l, len, meta);
      const bool ours = r.verdict == Verdict::Pass;
      o.accepted += pcap;
      if (pcap != ours || r.verdict == Verdict::Redirect || r.modified || l != len) {
        ++o.mismatches;
        if (keep.size() < 12) keep.push_back({expr, i, Bytes(f.begin(), f.end()), pcap, r});
      }
      if (vm.jit_compiled()) {
        // The interpreter on the same frame: the JIT must not differ from it in
        // anything (verdict, fault and where, instructions executed).
        use_jit(vm, false);
        uint32_t li = len;
        const RunResult ri = vm.run(buf, li, len, meta);
        use_jit(vm, true);
        if (ri.verdict != r.verdict || ri.aborted != r.aborted || ri.reason != r.reason ||
            ri.abort_pc != r.abort_pc || ri.instructions != r.instructions) {
          ++o.mismatches;
          if (keep.size() < 12)
            keep.push_back({expr + " (interpreter)", i, Bytes(f.begin(), f.end()), pcap, ri});
        }
      }
    }
    return o;
  }

 private:
  netcpu::test::GuardedBuffer guard_;
};

struct Summary {
  size_t compiled = 0, runs = 0, mismatches = 0;
  std::vector<std::string> refused, untranslated, never, always;
  std::vector<std::string> not_jitted;  // with the JIT's reason
  std::map<std::string, size_t> per_expr;
};

void run_corpus(const std::vector<std::string>& exprs, int dlt, LinkType link, const Corpus& frames,
                Summary& s, std::vector<Mismatch>& keep, std::string* first_bad_asm) {
  Differ differ;
  for (const std::string& expr : exprs) {
    std::string error;
    auto bpf = pcap_program(expr, dlt, &error);
    if (!bpf) {
      s.refused.push_back(expr + " -- " + error);
      // The translator must refuse it too, with libpcap's message.
      std::string terr;
      EXPECT_FALSE(filter_to_assembly(expr, dlt, &terr)) << expr;
      EXPECT_EQ(terr, error) << expr;
      continue;
    }
    ++s.compiled;
    std::string asm_text;
    {
      auto text = filter_to_assembly(expr, dlt, &error);
      if (!text) {
        s.untranslated.push_back(expr + " -- " + error);
        continue;
      }
      asm_text = *text;
    }
    auto vm = load(asm_text, link, &error);
    if (!vm) {
      s.untranslated.push_back(expr + " -- " + error);
      continue;
    }
    // Every translation runs natively except protochain's, the one cBPF loop
    // (the JIT leaves loops to the interpreter's budget).
    if (!vm->jit_compiled() && vm->jit_status().find("loop") == std::string::npos)
      s.not_jitted.push_back(expr + " -- " + vm->jit_status());
    const size_t before = keep.size();
    const Differ::Outcome o = differ.compare(expr, *bpf, *vm, frames, frames.size(), keep);
    s.runs += frames.size();
    s.mismatches += o.mismatches;
    if (o.mismatches) s.per_expr[expr] = o.mismatches;
    if (o.accepted == 0) s.never.push_back(expr);
    if (o.accepted == frames.size()) s.always.push_back(expr);
    if (keep.size() > before && first_bad_asm->empty()) *first_bad_asm = asm_text;
  }
}

void report(const char* what, const Summary& s, const std::vector<Mismatch>& keep,
            const std::string& bad_asm, double seconds, size_t frames) {
  std::cout << "[ " << what << " ] " << s.compiled << " expressions compiled by libpcap ("
            << s.refused.size() << " refused), " << frames << " frames, " << s.runs
            << " runs each side (NetCPU: JIT and interpreter) in " << seconds << " s; "
            << s.mismatches << " mismatches\n";
  for (const auto& r : s.refused) std::cout << "    refused by libpcap: " << r << "\n";
  for (const auto& e : s.never) std::cout << "    accepts no frame: " << e << "\n";
  for (const auto& e : s.always) std::cout << "    accepts every frame: " << e << "\n";
  for (const auto& u : s.untranslated) ADD_FAILURE() << "not translated/loaded: " << u;
  for (const auto& u : s.not_jitted) ADD_FAILURE() << "not compiled by the JIT: " << u;
  for (const auto& [e, n] : s.per_expr) ADD_FAILURE() << n << " mismatches for '" << e << "'";
  for (const auto& m : keep) ADD_FAILURE() << describe(m);
  if (!bad_asm.empty())
    std::cout << "translation of the first mismatching expression:\n" << bad_asm;
}

// ---------------------------------------------------------------------------

TEST(FilterDiff, ZeroMismatches) {
  const auto t0 = std::chrono::steady_clock::now();
  const Corpus& frames = ether_corpus();
  ASSERT_GE(frames.size(), kFrames);
  const auto t1 = std::chrono::steady_clock::now();
  std::cout << "[ corpus ] " << frames.size() << " frames generated in "
            << std::chrono::duration<double>(t1 - t0).count() << " s\n";

  {
    Summary s;
    std::vector<Mismatch> keep;
    std::string bad_asm;
    run_corpus(kEtherExpressions, DLT_EN10MB, LinkType::Ethernet, frames, s, keep, &bad_asm);
    const auto t2 = std::chrono::steady_clock::now();
    report("DLT_EN10MB", s, keep, bad_asm, std::chrono::duration<double>(t2 - t1).count(),
           frames.size());
    EXPECT_GE(s.compiled, 200u);
    EXPECT_EQ(s.mismatches, 0u);
    EXPECT_TRUE(s.untranslated.empty());
  }
  {
    const auto t2 = std::chrono::steady_clock::now();
    Summary s;
    std::vector<Mismatch> keep;
    std::string bad_asm;
    const Corpus& raw = raw_corpus();
    run_corpus(kRawExpressions, DLT_RAW, LinkType::RawIp, raw, s, keep, &bad_asm);
    const auto t3 = std::chrono::steady_clock::now();
    report("DLT_RAW", s, keep, bad_asm, std::chrono::duration<double>(t3 - t2).count(), raw.size());
    EXPECT_GE(s.compiled, 30u);
    EXPECT_EQ(s.mismatches, 0u);
    EXPECT_TRUE(s.untranslated.empty());
  }
}

// The JIT reads header fields inline (field_location) where the interpreter
// calls header_field: on this corpus, the most varied frames we have, every
// 8-byte mapped register must read the same both ways, frame by frame.
void expect_fields_agree(const Corpus& frames, LinkType link) {
  std::string data = ".data:\n", text = ".text:\n";
  for (size_t r = 0; r < kMappedCount; ++r) {
    const MappedInfo& m = kMappedInfo[r];
    if (m.bytes != 8 || m.name == "now" || m.name == "rand") continue;
    data += "num f" + std::to_string(r) + " 0\n";
    text += "    mov f" + std::to_string(r) + ", " + std::string(m.name) + "\n";
  }
  // Then packet bytes at the parsed offsets (a short frame faults here).
  data += "num at_l4 0\n";
  text += "    mov at_l4, pkt.u32[l4 + 4]\n    pass\n";
  std::string error;
  auto vm = load(data + text, link, &error);
  ASSERT_TRUE(vm) << error;
  ASSERT_TRUE(vm->jit_compiled()) << vm->jit_status();
  netcpu::test::GuardedBuffer guard(kSnap);  // as in Differ
  size_t differences = 0;
  for (size_t i = 0; i < frames.size() && differences < 5; ++i) {
    std::span<const uint8_t> f = frames[i];
    uint8_t* buf = guard.put(f);
    const auto len = static_cast<uint32_t>(f.size());
    uint32_t l = len;
    use_jit(*vm, true);
    const RunResult native = vm->run(buf, l, len, PacketMeta{});
    const Bytes native_heap(vm->heap().begin(), vm->heap().end());
    use_jit(*vm, false);
    l = len;
    const RunResult interpreted = vm->run(buf, l, len, PacketMeta{});
    const Bytes interpreted_heap(vm->heap().begin(), vm->heap().end());
    if (native_heap != interpreted_heap || native.aborted != interpreted.aborted ||
        native.instructions != interpreted.instructions) {
      ++differences;
      ADD_FAILURE() << "frame #" << i << ": native heap " << hex(native_heap) << "\n  interpreted "
                    << hex(interpreted_heap) << "\n  frame " << hex(f);
    }
  }
}

TEST(FilterDiff, JitReadsEveryHeaderFieldAsTheInterpreterDoes) {
  expect_fields_agree(ether_corpus(), LinkType::Ethernet);
  expect_fields_agree(raw_corpus(), LinkType::RawIp);
}

// ---------------------------------------------------------------------------
// The `tcpdump -ddd` text path.

std::string ddd_text(const std::vector<bpf_insn>& prog) {
  std::string s = std::to_string(prog.size()) + "\n";
  for (const bpf_insn& i : prog)
    s += std::to_string(i.code) + " " + std::to_string(i.jt) + " " + std::to_string(i.jf) + " " +
         std::to_string(i.k) + "\n";
  return s;
}

using netcpu::test::Result;
using netcpu::test::scratch;
using netcpu::test::sh;
using netcpu::test::slurp;

std::string quote(const std::string& s) { return "'" + s + "'"; }  // no ' in our expressions

const std::string kMixed = std::string(NETCPU_SOURCE_DIR) + "/examples/pcaps/mixed.pcap";
const std::string kNat = std::string(NETCPU_SOURCE_DIR) + "/examples/pcaps/nat.pcap";
const std::string kRawIp = std::string(NETCPU_SOURCE_DIR) + "/examples/pcaps/rawip.pcap";

// expr through `tcpdump -ddd` text: our text is tcpdump's, parses back to
// the same instructions, and translates to a program with libpcap's verdicts.
void round_trip(const std::string& expr, size_t frame_count, std::vector<Mismatch>& keep,
                size_t* mismatches) {
  std::string error;
  auto bpf = pcap_program(expr, DLT_EN10MB, &error);
  ASSERT_TRUE(bpf) << error;
  const std::string text = ddd_text(*bpf);
  const Result td = sh(std::string(TCPDUMP) + " -ddd -r " + kMixed + " " + quote(expr));
  EXPECT_EQ(td.code, 0) << td.err;
  EXPECT_EQ(td.out, text);

  auto parsed = parse_cbpf_text(text, &error);
  ASSERT_TRUE(parsed) << error;
  ASSERT_EQ(parsed->size(), bpf->size());
  for (size_t i = 0; i < bpf->size(); ++i) {
    EXPECT_EQ((*parsed)[i].code, (*bpf)[i].code) << i;
    EXPECT_EQ((*parsed)[i].jt, (*bpf)[i].jt) << i;
    EXPECT_EQ((*parsed)[i].jf, (*bpf)[i].jf) << i;
    EXPECT_EQ((*parsed)[i].k, (*bpf)[i].k) << i;
  }
  auto asm_text = cbpf_to_assembly(*parsed, "round trip of '" + expr + "'", &error);
  ASSERT_TRUE(asm_text) << error;
  auto vm = load(*asm_text, LinkType::Ethernet, &error);
  ASSERT_TRUE(vm) << error << "\n" << *asm_text;
  Differ differ;
  *mismatches += differ.compare(expr, *bpf, *vm, ether_corpus(), frame_count, keep).mismatches;
}

TEST(FilterDiff, CbpfTextRoundTrip) {
  const std::vector<std::string> exprs = {
      "ip src host 128.3.112.15 and ip dst host 128.3.112.35",
      "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
      "vlan 100 and tcp port 80",
      "ip[2:2] % 7 == 3 or ip[2:2] / ip[1] > 2",
      "ip6 protochain 6",
      "icmp6 or (arp and host 10.0.0.1)",
      "tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420",
  };
  const size_t subset = 20000;
  std::vector<Mismatch> keep;
  size_t mismatches = 0;
  for (const std::string& expr : exprs) {
    SCOPED_TRACE(expr);
    round_trip(expr, subset, keep, &mismatches);
  }
  EXPECT_EQ(mismatches, 0u);
  for (const auto& m : keep) ADD_FAILURE() << describe(m);

  // Hand-written programs for what libpcap's code generator rarely emits:
  // every M[] slot, ret A, neg, mod, xor, shifts and divisions by X
  // taken from the packet, jset/jeq/jgt/jge against X, ja.
  using I = bpf_insn;
  std::vector<std::pair<std::string, std::vector<I>>> programs = {
      {"ret A of len", {BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0), BPF_STMT(BPF_RET | BPF_A, 0)}},
      {"scratch and ALU",
       {BPF_STMT(BPF_LDX | BPF_W | BPF_LEN, 0), BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
        BPF_STMT(BPF_ST, 15), BPF_STMT(BPF_STX, 11), BPF_STMT(BPF_LDX | BPF_MEM, 15),
        BPF_STMT(BPF_LD | BPF_MEM, 11), BPF_STMT(BPF_ALU | BPF_SUB | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_NEG, 0), BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 7),
        BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0), BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_MISC | BPF_TXA, 0), BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 1),
        BPF_STMT(BPF_RET | BPF_A, 0)}},
      {"msh, indirect loads, jgt/jge x",
       {BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 14), BPF_STMT(BPF_LD | BPF_H | BPF_IND, 16),
        BPF_STMT(BPF_LDX | BPF_IMM, 1000), BPF_JUMP(BPF_JMP | BPF_JGT | BPF_X, 0, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 1), BPF_STMT(BPF_LDX | BPF_IMM, 80),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_X, 0, 2, 0), BPF_STMT(BPF_MISC | BPF_TXA, 0),
        BPF_STMT(BPF_RET | BPF_A, 0), BPF_STMT(BPF_LDX | BPF_IMM, 0),
        BPF_STMT(BPF_MISC | BPF_TXA, 0), BPF_STMT(BPF_RET | BPF_A, 0)}},
      {"div and rsh by packet bytes",
       {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 23), BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 16), BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_RSH | BPF_X, 0), BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 1), BPF_STMT(BPF_RET | BPF_K, 0)}},
      {"lsh by a packet byte",
       {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 22), BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 26), BPF_STMT(BPF_ALU | BPF_LSH | BPF_X, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0), BPF_STMT(BPF_RET | BPF_A, 0),
        BPF_STMT(BPF_RET | BPF_K, 0)}},
      {"jeq/jset x, ja, wrapping mul",
       {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 6), BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_X, 0, 0, 1), BPF_STMT(BPF_JMP | BPF_JA, 1),
        BPF_STMT(BPF_RET | BPF_K, 0), BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b9),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x80000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0xffffffff), BPF_STMT(BPF_RET | BPF_K, 0)}},
      {"loads far away",
       {BPF_STMT(BPF_LDX | BPF_IMM, 0xfffffff0), BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0x20),
        BPF_STMT(BPF_RET | BPF_K, 1)}},
  };
  {
    std::vector<I> all_slots;  // M[i] = pkt[i], then the sum mod 3
    for (uint32_t i = 0; i < 16; ++i) {
      all_slots.push_back(BPF_STMT(BPF_LD | BPF_B | BPF_ABS, i));
      all_slots.push_back(BPF_STMT(BPF_ST, i));
    }
    all_slots.push_back(BPF_STMT(BPF_LD | BPF_IMM, 0));
    for (uint32_t i = 0; i < 16; ++i) {
      all_slots.push_back(BPF_STMT(BPF_LDX | BPF_MEM, i));
      all_slots.push_back(BPF_STMT(BPF_ALU | BPF_ADD | BPF_X, 0));
    }
    all_slots.push_back(BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3));
    all_slots.push_back(BPF_STMT(BPF_RET | BPF_A, 0));
    programs.emplace_back("all 16 scratch slots", all_slots);
  }
  for (const auto& [name, prog] : programs) {
    SCOPED_TRACE(name);
    std::string error;
    auto parsed = parse_cbpf_text(ddd_text(prog), &error);
    ASSERT_TRUE(parsed) << error;
    ASSERT_EQ(parsed->size(), prog.size());
    auto asm_text = cbpf_to_assembly(*parsed, name, &error);
    ASSERT_TRUE(asm_text) << error;
    auto vm = load(*asm_text, LinkType::Ethernet, &error);
    ASSERT_TRUE(vm) << error << "\n" << *asm_text;
    Differ differ;
    std::vector<Mismatch> kept;
    EXPECT_EQ(differ.compare(name, prog, *vm, ether_corpus(), subset, kept).mismatches, 0u);
    for (const auto& m : kept) ADD_FAILURE() << describe(m) << "\n" << *asm_text;
  }

  // The title is a comment whatever characters it holds.
  {
    std::string error;
    auto bpf = pcap_program("tcp", DLT_EN10MB, &error);
    ASSERT_TRUE(bpf) << error;
    auto asm_text = cbpf_to_assembly(*bpf, "a title\nwith a newline", &error);
    ASSERT_TRUE(asm_text) << error;
    EXPECT_TRUE(load(*asm_text, LinkType::Ethernet, &error)) << error << "\n" << *asm_text;
  }

  // Malformed text: an error message, never a crash, never a program.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty"},
      {"\n", "blank count"},
      {"abc\n6 0 0 65535\n", "count not a number"},
      {"0\n", "zero count"},
      {"-1\n6 0 0 65535\n", "negative count"},
      {"99999999999999999999\n6 0 0 65535\n", "count overflows"},
      {"2\n6 0 0 65535\n", "count larger than the text"},
      {"1\n6 0 0 65535\n6 0 0 0\n", "count smaller than the text"},
      {"1 2\n6 0 0 65535\n", "two numbers on the count line"},
      {"1\n6 0 0 65535 9\n", "too many fields"},
      {"1\n6 0 0\n", "too few fields"},
      {"1\n6 0 x 65535\n", "field not a number"},
      {"1\nsix 0 0 65535\n", "code not a number"},
      {"1\n6 0 0 65535x\n", "trailing garbage"},
      {"1\n0x6 0 0 65535\n", "hex, not decimal"},
      {"1\n-6 0 0 65535\n", "negative code"},
      {"1\n6 0 0 4294967296\n", "k overflows"},
      {"1\n6 256 0 65535\n", "jt overflows"},
      {"1\n6 0 -1 65535\n", "negative jf"},
      {"1\n65536 0 0 65535\n", "code overflows"},
      {"1\n65535 0 0 0\n", "unknown opcode"},
      {"2\n212 0 0 0\n6 0 0 65535\n", "unknown ALU operation (0xd4)"},
      {"2\n245 0 0 0\n6 0 0 65535\n", "unknown jump (0xf5)"},
      {"2\n15 0 0 0\n6 0 0 65535\n", "unknown misc operation (0x0f)"},
      {"2\n56 0 0 0\n6 0 0 65535\n", "unknown load size (0x38)"},
      {"2\n96 0 0 16\n6 0 0 65535\n", "M[16]"},
      {"1\n21 5 0 0\n", "jump past the end"},
      {"2\n5 0 0 7\n6 0 0 65535\n", "ja past the end"},
      {"1\n0 0 0 0\n", "no return at the end (bpf_validate refuses it)"},
  };
  for (const auto& [text, why] : bad) {
    SCOPED_TRACE(why);
    std::string error;
    auto parsed = parse_cbpf_text(text, &error);
    if (!parsed) {
      EXPECT_FALSE(error.empty());
      continue;
    }
    auto asm_text = cbpf_to_assembly(*parsed, why, &error);
    EXPECT_FALSE(asm_text) << "accepted:\n" << text;
    EXPECT_FALSE(error.empty());
  }
}

// ---------------------------------------------------------------------------
// `netcpu run --filter` against Debian's tcpdump on the bundled captures.

std::vector<Bytes> read_pcap(const std::string& file) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(file.c_str(), err);
  EXPECT_TRUE(p) << err;
  std::vector<Bytes> v;
  if (!p) return v;
  struct pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1) v.emplace_back(d, d + h->caplen);
  pcap_close(p);
  return v;
}

size_t count_lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// One expression on one capture: `netcpu run --filter` passes exactly the
// packets tcpdump prints and writes, in order.
void check_against_tcpdump(const std::string& file, const std::vector<Bytes>& packets,
                           const std::string& expr) {
  const Result run =
      sh(std::string(NETCPU_CLI) + " run --filter " + quote(expr) + " --pcap " + file + " --json");
  ASSERT_EQ(run.code, 0) << run.err;
  const json j = json::parse(run.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << run.out;
  ASSERT_TRUE(j.contains("verdicts")) << run.out;
  std::vector<bool> pass;
  for (const auto& v : j["verdicts"]) pass.push_back(v.get<std::string>() == "pass");
  ASSERT_EQ(pass.size(), packets.size());
  const auto passed = static_cast<size_t>(std::count(pass.begin(), pass.end(), true));
  EXPECT_GT(passed, 0u) << "the expression should match something in the capture";

  // What tcpdump prints: one line per matching packet.
  const Result printed = sh(std::string(TCPDUMP) + " -n -r " + file + " " + quote(expr));
  ASSERT_EQ(printed.code, 0) << printed.err;
  EXPECT_EQ(count_lines(printed.out), passed) << printed.out;

  // Which packets, by their bytes, in order.
  const fs::path out = scratch() / "tcpdump-out.pcap";
  const Result written =
      sh(std::string(TCPDUMP) + " -r " + file + " -w " + out.string() + " " + quote(expr));
  ASSERT_EQ(written.code, 0) << written.err;
  const std::vector<Bytes> expected = read_pcap(out.string());
  std::vector<Bytes> ours;
  for (size_t i = 0; i < packets.size(); ++i)
    if (pass[i]) ours.push_back(packets[i]);
  EXPECT_EQ(ours.size(), expected.size());
  for (size_t i = 0; i < std::min(ours.size(), expected.size()); ++i)
    EXPECT_EQ(ours[i], expected[i]) << "passed packet " << i;
}

TEST(FilterTcpdump, RunFilterMatchesTcpdump) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {kMixed,
       {"tcp", "arp", "ip src host 128.3.112.15 and ip dst host 128.3.112.35", "tcp port 80",
        "udp port 53 or port 123", "ip6", "icmp or icmp6", "vlan", "vlan 100 and tcp",
        "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "greater 200", "sctp",
        "not arp and not ip6", "ip[6:2] & 0x1fff != 0", "ether broadcast", "net 10.0.0.0/8",
        "ip6 and port 53", "ip proto 6 and ip[2:2] > 400", "ip6 protochain 58"}},
      {kNat,
       {"tcp port 80", "udp", "icmp[icmptype] == icmp-echo", "src net 10.0.0.0/8",
        "host 203.0.113.10", "tcp[tcpflags] & tcp-syn != 0", "less 64",
        "tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420"}},
      {kRawIp,
       {"tcp", "udp port 53", "icmp", "ip6", "host 10.0.0.5", "icmp6",
        "tcp[tcpflags] & tcp-syn != 0", "ip6 and tcp", "len > 80"}},
  };
  for (const auto& [file, exprs] : cases) {
    const std::vector<Bytes> packets = read_pcap(file);
    ASSERT_FALSE(packets.empty()) << file;
    for (const std::string& expr : exprs) {
      SCOPED_TRACE(fs::path(file).filename().string() + ": " + expr);
      check_against_tcpdump(file, packets, expr);
    }
  }

  // Expressions libpcap refuses: exit 1 and libpcap's own message.
  const std::vector<std::pair<std::string, std::string>> refused = {
      {kMixed, "tcp port"},
      {kMixed, "hots 1.2.3.4"},
      {kRawIp, "ether host 02:00:80:03:70:23"},
  };
  for (const auto& [file, expr] : refused) {
    SCOPED_TRACE(expr);
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(file.c_str(), err);
    ASSERT_TRUE(p) << err;
    struct bpf_program prog {};
    ASSERT_NE(pcap_compile(p, &prog, expr.c_str(), 1, 0), 0);
    const std::string message = pcap_geterr(p);
    pcap_close(p);
    const Result run = sh(std::string(NETCPU_CLI) + " run --filter " + quote(expr) + " --pcap " +
                          file + " --json");
    EXPECT_EQ(run.code, 1) << run.out << run.err;
    EXPECT_NE(run.err.find(message), std::string::npos)
        << "stderr: " << run.err << "\nlibpcap: " << message;
    if (expr == "tcp port" || expr == "hots 1.2.3.4") {
      EXPECT_NE(run.err.find("syntax error"), std::string::npos) << run.err;
    }
  }
}

}  // namespace
}  // namespace netcpu::packets
