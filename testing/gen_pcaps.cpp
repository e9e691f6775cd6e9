// netcpu-genpcaps OUTDIR: writes the bundled captures (mixed.pcap, flood.pcap,
// talkers.pcap, conntrack.pcap with conntrack.expected, nat.pcap, rawip.pcap). Everything is fixed
// (timestamps from 1700000000.000000, sequence numbers, payloads), so a rerun reproduces the
// committed files byte for byte and tests may count on exact packet counts.
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "packet_builder.h"

namespace {

using netcpu::packets::Bytes;
using netcpu::packets::ip4_addr;
using netcpu::packets::ip6_addr;
using netcpu::packets::Ip6Addr;
using netcpu::packets::Mac;
using netcpu::packets::PacketBuilder;
using namespace netcpu::packets::tcp_flags;
namespace nt = netcpu::packets;

constexpr uint64_t kStartSec = 1700000000;
constexpr uint64_t kStepUsec = 1000;  // one packet per millisecond unless a file says otherwise

struct Record {
  uint64_t usec;  // since kStartSec
  Bytes data;
};

// Locally administered MACs that spell the IPv4 address: a frame's MACs and
// IPs agree, and hex dumps are easy to read.
Mac mac_of(uint32_t ip) { return nt::mac_addr(0x0200'0000'0000ull | ip); }
Mac mac_of(const Ip6Addr& a) { return {0x02, 0x00, 0x00, a[5], a[14], a[15]}; }

// Captures whose packets come one millisecond apart, in the order added.
class Capture {
 public:
  void add(Bytes data) { records_.push_back({records_.size() * kStepUsec, std::move(data)}); }
  void add_all(const std::vector<Bytes>& packets) {
    for (const Bytes& p : packets) add(p);
  }
  const std::vector<Record>& records() const { return records_; }

 private:
  std::vector<Record> records_;
};

// One side of a TCP connection. The address decides the IP version.
struct Endpoint {
  std::variant<uint32_t, Ip6Addr> addr;
  uint16_t port;
  uint32_t isn;
};

// A TCP connection whose sequence and acknowledgement numbers follow the
// bytes and SYN/FIN flags actually sent, so that tcpdump and stateful
// programs see a plausible conversation.
class TcpFlow {
 public:
  TcpFlow(Endpoint client, Endpoint server, bool ethernet = true)
      : side_{Side{client, client.isn, 0x1000}, Side{server, server.isn, 0x2000}},
        ethernet_(ethernet) {}

  Bytes client(uint8_t flags, const Bytes& payload = {}) { return send(0, flags, payload); }
  Bytes server(uint8_t flags, const Bytes& payload = {}) { return send(1, flags, payload); }

  // Where a segment from the client would be built, for fragmenting.
  PacketBuilder client_builder(uint8_t flags, const Bytes& payload) {
    return builder(0, flags, payload);
  }

 private:
  struct Side {
    Endpoint ep;
    uint32_t next_seq;
    uint16_t ip_id;
  };
  Side side_[2];
  bool ethernet_;

  PacketBuilder builder(int from, uint8_t flags, const Bytes& payload) {
    Side& me = side_[from];
    const Side& peer = side_[1 - from];
    PacketBuilder pb;
    if (const auto* src = std::get_if<uint32_t>(&me.ep.addr)) {
      const uint32_t dst = std::get<uint32_t>(peer.ep.addr);
      if (ethernet_) pb.eth(mac_of(dst), mac_of(*src));
      pb.ipv4({.src = *src, .dst = dst, .ttl = 64, .id = me.ip_id++, .df = true});
    } else {
      const Ip6Addr& src6 = std::get<Ip6Addr>(me.ep.addr);
      const Ip6Addr& dst6 = std::get<Ip6Addr>(peer.ep.addr);
      if (ethernet_) pb.eth(mac_of(dst6), mac_of(src6));
      pb.ipv6({.src = src6, .dst = dst6, .hop_limit = 64});
    }
    pb.tcp({.sport = me.ep.port,
            .dport = peer.ep.port,
            .seq = me.next_seq,
            .ack = flags & kAck ? peer.next_seq : 0,
            .flags = flags,
            .window = 64240,
            .options = flags & kSyn ? nt::tcp_mss_option(1460) : Bytes{},
            .payload = payload});
    me.next_seq +=
        static_cast<uint32_t>(payload.size()) + (flags & kSyn ? 1 : 0) + (flags & kFin ? 1 : 0);
    return pb;
  }

  Bytes send(int from, uint8_t flags, const Bytes& payload) {
    return builder(from, flags, payload).build();
  }
};

// Payload that looks like ciphertext and contains no text anyone greps for.
Bytes noise(size_t n, uint8_t seed) {
  Bytes b(n);
  uint32_t x = 0x9e3779b9u ^ seed;
  for (uint8_t& c : b) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<uint8_t>(x);
  }
  return b;
}

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

void put_name(Bytes& b, std::string_view name) {
  while (!name.empty()) {
    const size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    b.push_back(static_cast<uint8_t>(label.size()));
    b.insert(b.end(), label.begin(), label.end());
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  b.push_back(0);
}

constexpr uint16_t kDnsA = 1;
constexpr uint16_t kDnsAaaa = 28;

// A DNS query for one name, or (with rdata) its answer.
Bytes dns(uint16_t id, std::string_view name, uint16_t qtype, const Bytes& rdata = {}) {
  const bool answer = !rdata.empty();
  Bytes b;
  put16(b, id);
  put16(b, answer ? 0x8180 : 0x0100);  // response + RD + RA : query + RD
  put16(b, 1);
  put16(b, answer ? 1 : 0);
  put16(b, 0);
  put16(b, 0);
  put_name(b, name);
  put16(b, qtype);
  put16(b, 1);  // IN
  if (answer) {
    put16(b, 0xc00c);  // pointer to the question's name
    put16(b, qtype);
    put16(b, 1);
    put16(b, 0);
    put16(b, 300);  // TTL
    put16(b, static_cast<uint16_t>(rdata.size()));
    b.insert(b.end(), rdata.begin(), rdata.end());
  }
  return b;
}

// NTPv4 client request (mode 3) or server reply (mode 4), 48 bytes.
Bytes ntp(bool reply) {
  Bytes b(48, 0);
  b[0] = reply ? 0x24 : 0x23;
  if (reply) {
    b[1] = 2;                                      // stratum
    b[2] = 6;                                      // poll
    b[3] = 0xec;                                   // precision 2^-20
    b[12] = 192, b[13] = 0, b[14] = 2, b[15] = 1;  // reference id
  }
  // Transmit timestamp: 1700000000 in the NTP era (seconds since 1900).
  const uint32_t ntp_sec = static_cast<uint32_t>(kStartSec + 2208988800u);
  for (int k = 0; k < 4; ++k) b[40 + k] = static_cast<uint8_t>(ntp_sec >> (24 - 8 * k));
  return b;
}

Bytes ip4_bytes(uint32_t a) {
  return {static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(a >> 16),
          static_cast<uint8_t>(a >> 8), static_cast<uint8_t>(a)};
}

Bytes udp4(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, const Bytes& payload,
           uint16_t id) {
  return PacketBuilder()
      .eth(mac_of(dst), mac_of(src))
      .ipv4({.src = src, .dst = dst, .ttl = 64, .id = id})
      .udp({.sport = sport, .dport = dport, .payload = payload})
      .build();
}

Bytes echo4(uint32_t src, uint32_t dst, bool reply, uint16_t id, uint16_t seq,
            bool ethernet = true) {
  PacketBuilder pb;
  if (ethernet) pb.eth(mac_of(dst), mac_of(src));
  return pb.ipv4({.src = src, .dst = dst, .ttl = 64, .id = static_cast<uint16_t>(0x3000 + seq)})
      .icmp_echo({.reply = reply, .id = id, .seq = seq, .payload = noise(56, 7)})
      .build();
}

Bytes echo6(const Ip6Addr& src, const Ip6Addr& dst, bool reply, uint16_t id, uint16_t seq,
            bool ethernet = true) {
  PacketBuilder pb;
  if (ethernet) pb.eth(mac_of(dst), mac_of(src));
  return pb.ipv6({.src = src, .dst = dst, .hop_limit = 64})
      .icmp_echo({.reply = reply, .id = id, .seq = seq, .payload = noise(56, 9)})
      .build();
}

// ---------------------------------------------------------------------------

std::vector<Record> mixed() {
  Capture cap;
  const uint32_t slides_a = ip4_addr("128.3.112.15");
  const uint32_t slides_b = ip4_addr("128.3.112.35");
  const uint32_t slides_c = ip4_addr("128.3.112.36");
  const uint32_t gw = ip4_addr("10.0.0.1");
  const uint32_t h2 = ip4_addr("10.0.0.2");
  const uint32_t h5 = ip4_addr("10.0.0.5");
  const uint32_t h6 = ip4_addr("10.0.0.6");
  const uint32_t h7 = ip4_addr("10.0.0.7");
  const uint32_t h8 = ip4_addr("10.0.0.8");
  const uint32_t h9 = ip4_addr("10.0.0.9");
  const uint32_t ssh_server = ip4_addr("10.0.0.22");
  const uint32_t mail_server = ip4_addr("10.0.0.25");
  const uint32_t dns_server = ip4_addr("192.168.1.1");
  const uint32_t web = ip4_addr("192.168.1.10");
  const uint32_t https = ip4_addr("192.168.1.20");
  const uint32_t mail_client = ip4_addr("192.168.1.30");
  const uint32_t ssh_client = ip4_addr("192.168.1.40");
  const uint32_t sctp_peer = ip4_addr("192.168.1.50");
  const uint32_t ntp_server = ip4_addr("192.168.1.123");

  // ARP: 4 requests (the last one gratuitous) and 3 replies.
  cap.add(nt::arp_request(mac_of(slides_a), slides_a, slides_b));
  cap.add(nt::arp_reply(mac_of(slides_b), slides_b, mac_of(slides_a), slides_a));
  cap.add(nt::arp_request(mac_of(h5), h5, gw));
  cap.add(nt::arp_reply(mac_of(gw), gw, mac_of(h5), h5));
  cap.add(nt::arp_request(mac_of(web), web, dns_server));
  cap.add(nt::arp_reply(mac_of(dns_server), dns_server, mac_of(web), web));
  cap.add(nt::arp_request(mac_of(h2), h2, h2));

  // The 2004 slides' example: 128.3.112.15 fetches a FreeBSD release over
  // HTTP from 128.3.112.35, then opens SSH to it.
  TcpFlow http({slides_a, 40000, 1000000}, {slides_b, 80, 5000000});
  cap.add(http.client(kSyn));
  cap.add(http.server(kSyn | kAck));
  cap.add(http.client(kAck));
  cap.add(http.client(kPsh | kAck, nt::bytes("GET /freebsd-release HTTP/1.0\r\n"
                                             "Host: 128.3.112.35\r\n"
                                             "User-Agent: fetch/1.0\r\n\r\n")));
  cap.add(http.server(kPsh | kAck, nt::bytes("HTTP/1.0 200 OK\r\n"
                                             "Content-Type: text/plain\r\n"
                                             "Content-Length: 13\r\n\r\n"
                                             "hello, world\n")));
  cap.add(http.client(kFin | kAck));
  cap.add(http.server(kFin | kAck));
  cap.add(http.client(kAck));

  TcpFlow ssh({slides_a, 50022, 2000000}, {slides_b, 22, 6000000});
  cap.add(ssh.client(kSyn));
  cap.add(ssh.server(kSyn | kAck));
  cap.add(ssh.client(kAck));
  cap.add(ssh.server(kPsh | kAck, nt::bytes("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")));
  cap.add(ssh.client(kPsh | kAck, nt::bytes("SSH-2.0-OpenSSH_9.2p1\r\n")));

  TcpFlow closed({slides_a, 40443, 3000000}, {slides_c, 443, 0});
  cap.add(closed.client(kSyn));
  cap.add(closed.server(kRst | kAck));

  // Other hosts, TCP.
  TcpFlow mirror({h5, 41000, 100}, {web, 80, 200});
  cap.add(mirror.client(kPsh | kAck, nt::bytes("GET /pub/freebsd/releases/ HTTP/1.1\r\n"
                                               "Host: mirror.example.org\r\n\r\n")));
  cap.add(mirror.server(kPsh | kAck, nt::bytes("HTTP/1.1 301 Moved Permanently\r\n"
                                               "Location: /pub/\r\n\r\n")));

  TcpFlow tls({h5, 41001, 300}, {https, 443, 400});
  cap.add(tls.client(kSyn));
  cap.add(tls.server(kSyn | kAck));
  cap.add(tls.client(kAck));
  Bytes hello = {0x16, 0x03, 0x01, 0x00, 0xc0};  // TLS handshake record header
  const Bytes body = noise(0xc0, 1);
  hello.insert(hello.end(), body.begin(), body.end());
  cap.add(tls.client(kPsh | kAck, hello));

  TcpFlow proxy({h6, 41002, 500}, {gw, 8080, 600});
  cap.add(proxy.client(kPsh | kAck, nt::bytes("GET http://ftp.freebsd.org/pub/ HTTP/1.1\r\n"
                                              "Host: ftp.freebsd.org\r\n\r\n")));
  cap.add(proxy.server(kPsh | kAck, nt::bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")));

  TcpFlow smtp({mail_client, 41003, 700}, {mail_server, 25, 800});
  cap.add(smtp.client(kPsh | kAck, nt::bytes("EHLO client.example.org\r\n")));
  cap.add(smtp.server(kPsh | kAck, nt::bytes("250 mail.example.org\r\n")));

  TcpFlow ssh2({ssh_client, 41004, 900}, {ssh_server, 22, 1000});
  cap.add(ssh2.client(kPsh | kAck, noise(48, 2)));

  // UDP: DNS, NTP, a probe to a closed port and the ICMP error it draws.
  cap.add(udp4(h5, 53001, dns_server, 53, dns(0x1001, "example.org", kDnsA), 0x10));
  cap.add(udp4(dns_server, 53, h5, 53001,
               dns(0x1001, "example.org", kDnsA, ip4_bytes(ip4_addr("192.0.2.80"))), 0x20));
  cap.add(udp4(h6, 53002, dns_server, 53, dns(0x1002, "example.org", kDnsAaaa), 0x11));
  const Ip6Addr aaaa = ip6_addr("2001:db8::80");
  cap.add(udp4(dns_server, 53, h6, 53002,
               dns(0x1002, "example.org", kDnsAaaa, Bytes(aaaa.begin(), aaaa.end())), 0x21));
  cap.add(udp4(h7, 123, ntp_server, 123, ntp(false), 0x12));
  cap.add(udp4(ntp_server, 123, h7, 123, ntp(true), 0x22));
  const PacketBuilder probe = PacketBuilder()
                                  .eth(mac_of(https), mac_of(h8))
                                  .ipv4({.src = h8, .dst = https, .ttl = 64, .id = 0x13})
                                  .udp({.sport = 45000, .dport = 33434, .payload = noise(32, 3)});
  cap.add(probe.build());
  const Bytes probe_ip = probe.build_ip();
  cap.add(PacketBuilder()
              .eth(mac_of(h8), mac_of(https))
              .ipv4({.src = https, .dst = h8, .ttl = 64, .id = 0x23})
              .icmp({.type = 3,
                     .code = 3,
                     .rest = 0,
                     .payload = Bytes(probe_ip.begin(), probe_ip.begin() + 28)})
              .build());

  // ICMP echo.
  cap.add(echo4(h5, dns_server, false, 0x1234, 1));
  cap.add(echo4(dns_server, h5, true, 0x1234, 1));
  cap.add(echo4(gw, h2, false, 0x4321, 7));
  cap.add(echo4(h2, gw, true, 0x4321, 7));

  // IPv6.
  const Ip6Addr v6_client = ip6_addr("2001:db8:1::5");
  const Ip6Addr v6_web = ip6_addr("2001:db8:2::10");
  const Ip6Addr v6_dns = ip6_addr("2001:db8:2::53");
  TcpFlow http6({v6_client, 42000, 7000}, {v6_web, 80, 8000});
  cap.add(http6.client(kSyn));
  cap.add(http6.server(kSyn | kAck));
  cap.add(http6.client(kPsh | kAck, nt::bytes("GET /index.html HTTP/1.1\r\n"
                                              "Host: www.example.org\r\n\r\n")));
  auto udp6 = [](const Ip6Addr& src, uint16_t sport, const Ip6Addr& dst, uint16_t dport,
                 const Bytes& payload, std::vector<nt::Ipv6Ext> ext = {}) {
    return PacketBuilder()
        .eth(mac_of(dst), mac_of(src))
        .ipv6({.src = src, .dst = dst, .hop_limit = 64, .ext = std::move(ext)})
        .udp({.sport = sport, .dport = dport, .payload = payload})
        .build();
  };
  cap.add(udp6(v6_client, 53003, v6_dns, 53, dns(0x1003, "example.org", kDnsAaaa)));
  cap.add(udp6(v6_dns, 53, v6_client, 53003,
               dns(0x1003, "example.org", kDnsAaaa, Bytes(aaaa.begin(), aaaa.end()))));
  // Router alert (type 5) in hop-by-hop, an experimental option (RFC 4727)
  // in destination options, and an atomic fragment header, all before UDP.
  cap.add(udp6(v6_client, 5001, v6_web, 5001, noise(40, 4),
               {nt::ip6_hop_by_hop({5, 2, 0, 0}), nt::ip6_dest_options({0x1e, 2, 0xab, 0xcd}),
                nt::ip6_fragment(0, false, 0x12345678)}));
  cap.add(echo6(v6_client, v6_web, false, 0x6666, 1));
  cap.add(echo6(v6_web, v6_client, true, 0x6666, 1));

  // VLAN: an 802.1Q tagged SYN and the SYN-ACK seen through QinQ.
  cap.add(PacketBuilder()
              .eth(mac_of(web), mac_of(h5))
              .vlan(100)
              .ipv4({.src = h5, .dst = web, .ttl = 64, .id = 0x40, .df = true})
              .tcp({.sport = 41005, .dport = 80, .seq = 9000, .flags = kSyn, .window = 64240})
              .build());
  cap.add(PacketBuilder()
              .eth(mac_of(h5), mac_of(web))
              .vlan(200, 0, nt::kTpid8021ad)
              .vlan(100)
              .ipv4({.src = web, .dst = h5, .ttl = 64, .id = 0x41, .df = true})
              .tcp({.sport = 80,
                    .dport = 41005,
                    .seq = 19000,
                    .ack = 9001,
                    .flags = kSyn | kAck,
                    .window = 65160})
              .build());

  // IPv4 options: a SYN with record route (one hop already recorded), refused.
  cap.add(PacketBuilder()
              .eth(mac_of(web), mac_of(h9))
              .ipv4({.src = h9,
                     .dst = web,
                     .ttl = 64,
                     .id = 0x50,
                     .options = nt::ip4_record_route(9, {ip4_addr("10.0.0.1")})})
              .tcp({.sport = 41006, .dport = 80, .seq = 11000, .flags = kSyn, .window = 64240})
              .build());
  cap.add(PacketBuilder()
              .eth(mac_of(h9), mac_of(web))
              .ipv4({.src = web, .dst = h9, .ttl = 64, .id = 0x51})
              .tcp({.sport = 80,
                    .dport = 41006,
                    .seq = 0,
                    .ack = 11001,
                    .flags = kRst | kAck,
                    .window = 0})
              .build());

  // A 1420-byte TCP segment in two IPv4 fragments: 1000 bytes (TCP header
  // and 980 bytes of data, MF) and the remaining 420 at offset 1000.
  TcpFlow upload({h5, 41007, 12000}, {web, 80, 13000});
  Bytes post = nt::bytes("POST /upload HTTP/1.1\r\nContent-Length: 1353\r\n\r\n");
  const Bytes post_body = noise(1400 - post.size(), 5);
  post.insert(post.end(), post_body.begin(), post_body.end());
  PacketBuilder big = upload.client_builder(kPsh | kAck, post);
  big.ipv4({.src = h5, .dst = web, .ttl = 64, .id = 0x60});  // fragmentable: no DF
  cap.add_all(big.build_fragments(1000));

  // SCTP: an association's INIT.
  cap.add(PacketBuilder()
              .eth(mac_of(sctp_peer), mac_of(h5))
              .ipv4({.src = h5, .dst = sctp_peer, .ttl = 64, .id = 0x70})
              .sctp({.sport = 5000,
                     .dport = 2905,
                     .vtag = 0,
                     .chunks = nt::sctp_init_chunk(0x01020304, 65536, 10, 10, 1)})
              .build());
  return cap.records();
}

// Eight sources send UDP to 10.0.0.1 for 3.5 s: source 10.0.1.N sends N
// packets per second, of 60 + 10 * N bytes of payload, so that every second
// each source has its own byte total and the top five are 10.0.1.8 down to
// 10.0.1.4; in the third second 10.0.1.1 sends 30 packets more, and leads.
std::vector<Record> talkers() {
  const uint32_t dst = ip4_addr("10.0.0.1");
  std::vector<Record> records;
  uint64_t offset = 0;  // distinct timestamps
  for (uint32_t n = 1; n <= 8; ++n) {
    const uint32_t src = ip4_addr("10.0.1.0") + n;
    for (uint64_t second = 0; second < 4; ++second) {
      const uint32_t count = second == 3 ? 1 : n + (second == 2 && n == 1 ? 30 : 0);
      for (uint32_t i = 0; i < count; ++i) {
        Bytes payload(60 + 10 * n, static_cast<uint8_t>('a' + n));
        const uint64_t usec = second * 1000000 + 1000 + (i * 1000000) / (count + 1) + ++offset;
        records.push_back({usec, udp4(src, static_cast<uint16_t>(40000 + n), dst, 9000, payload,
                                      static_cast<uint16_t>(i))});
      }
    }
  }
  std::stable_sort(records.begin(), records.end(),
                   [](const Record& a, const Record& b) { return a.usec < b.usec; });
  return records;
}

// A host behind a stateful firewall (examples/stateful_firewall.ncpu):
// 10.0.0.2 and fd00::2 are the protected side, everything else is outside.
// Each packet comes with what the firewall should do to it and why; they
// are written beside the capture (conntrack.expected), so that the test
// and the scenario cannot drift apart. Packets are 1 ms apart, except
// where the scenario waits for a flow to go idle.
struct Expected {
  std::vector<Record> records;
  std::string text;  // "pass|drop  why" per packet
  uint64_t usec = 0;

  void add(Bytes packet, bool pass, std::string_view why, uint64_t wait_usec = kStepUsec) {
    usec += records.empty() ? 0 : wait_usec;
    records.push_back({usec, std::move(packet)});
    text += std::string(pass ? "pass " : "drop ") + std::string(why) + "\n";
  }
};

Expected conntrack() {
  Expected e;
  const uint32_t me = ip4_addr("10.0.0.2"), web = ip4_addr("192.0.2.10"),
                 resolver = ip4_addr("192.0.2.53"), router = ip4_addr("192.0.2.1"),
                 stranger = ip4_addr("198.51.100.7");
  const Ip6Addr me6 = nt::ip6_addr("fd00::2"), web6 = nt::ip6_addr("2001:db8::10"),
                stranger6 = nt::ip6_addr("2001:db8::66");
  constexpr bool kPass = true, kDrop = false;

  // TCP, opened from inside, used both ways, closed with FINs.
  TcpFlow http({me, 40001, 1000}, {web, 80, 5000});
  e.add(http.client(kSyn), kPass, "tcp: our SYN opens a flow");
  e.add(http.server(kSyn | kAck), kPass, "tcp: the SYN+ACK answers it");
  e.add(http.client(kAck), kPass, "tcp: our ACK");
  e.add(http.client(kPsh | kAck, nt::bytes("GET / HTTP/1.0\r\n\r\n")), kPass, "tcp: our request");
  e.add(http.server(kPsh | kAck, noise(200, 1)), kPass, "tcp: the reply comes in");
  e.add(http.client(kFin | kAck), kPass, "tcp: our FIN");
  e.add(http.server(kFin | kAck), kPass, "tcp: the peer's FIN");
  e.add(http.client(kAck), kPass, "tcp: our last ACK");
  e.add(http.server(kAck), kPass, "tcp: a repeated bare ACK after the close");
  e.add(http.server(kPsh | kAck, noise(40, 2)), kDrop, "tcp: data after the close is late");
  // TCP reset by the peer: the flow is forgotten.
  TcpFlow tls({me, 40002, 2000}, {web, 443, 6000});
  e.add(tls.client(kSyn), kPass, "tcp: our second connection");
  e.add(tls.server(kSyn | kAck), kPass, "tcp: answered");
  e.add(tls.server(kRst | kAck), kPass, "tcp: the peer resets it");
  e.add(tls.server(kPsh | kAck, noise(40, 3)), kDrop, "tcp: after the reset nothing comes in");
  // Unsolicited TCP.
  TcpFlow scan({stranger, 5555, 77}, {me, 22, 0});
  e.add(scan.client(kSyn), kDrop, "tcp: a SYN from outside opens nothing");
  TcpFlow guess({stranger, 5556, 78}, {me, 40001, 0});
  e.add(guess.client(kPsh | kAck, noise(20, 4)), kDrop, "tcp: a packet of no flow");
  // UDP.
  e.add(udp4(me, 53001, resolver, 53, dns(0x1234, "example.org", kDnsA), 1), kPass,
        "udp: our query opens a flow");
  e.add(udp4(resolver, 53, me, 53001, noise(60, 5), 2), kPass, "udp: the answer comes in");
  e.add(udp4(stranger, 53, me, 53002, noise(60, 6), 3), kDrop, "udp: unsolicited");
  // ICMP: pings and errors.
  e.add(echo4(me, web, false, 7, 1), kPass, "icmp: our ping");
  e.add(echo4(web, me, true, 7, 1), kPass, "icmp: its reply");
  e.add(echo4(stranger, me, false, 9, 1), kDrop, "icmp: a ping from outside");
  e.add(echo4(web, me, true, 99, 1), kDrop, "icmp: a reply to no ping");
  const Bytes quoted = udp4(me, 53001, resolver, 53, dns(0x1234, "example.org", kDnsA), 1);
  const Bytes quoted_ip(quoted.begin() + 14, quoted.begin() + 14 + 28);  // header + 8 bytes
  e.add(PacketBuilder()
            .eth(mac_of(me), mac_of(router))
            .ipv4({.src = router, .dst = me})
            .icmp({.type = 3, .code = 3, .payload = quoted_ip})
            .build(),
        kPass, "icmp: port unreachable about our query");
  const Bytes unknown = udp4(me, 60000, resolver, 53, dns(0x9999, "example.net", kDnsA), 4);
  e.add(PacketBuilder()
            .eth(mac_of(me), mac_of(router))
            .ipv4({.src = router, .dst = me})
            .icmp({.type = 3,
                   .code = 3,
                   .payload = Bytes(unknown.begin() + 14, unknown.begin() + 14 + 28)})
            .build(),
        kDrop, "icmp: an error about a flow we never had");
  // IPv6: a connection, a stranger, neighbour discovery.
  TcpFlow v6({me6, 40003, 3000}, {web6, 443, 7000});
  e.add(v6.client(kSyn), kPass, "tcp6: our SYN");
  e.add(v6.server(kSyn | kAck), kPass, "tcp6: answered");
  e.add(v6.server(kPsh | kAck, noise(30, 7)), kPass, "tcp6: data comes in");
  TcpFlow scan6({stranger6, 5557, 79}, {me6, 22, 0});
  e.add(scan6.client(kSyn), kDrop, "tcp6: a SYN from outside");
  e.add(PacketBuilder()
            .eth(mac_of(me6), mac_of(web6))
            .ipv6({.src = web6, .dst = me6, .hop_limit = 255})
            .icmp({.type = 135, .code = 0, .payload = Bytes(me6.begin(), me6.end())})
            .build(),
        kPass, "icmp6: neighbour solicitation");
  const Bytes router_alert = {5, 2, 0, 0};  // the hop-by-hop router alert option: MLD
  e.add(PacketBuilder()
            .eth(nt::mac_addr("33:33:00:00:00:16"), mac_of(web6))
            .ipv6({.src = web6,
                   .dst = nt::ip6_addr("ff02::16"),
                   .hop_limit = 1,
                   .ext = {nt::ip6_hop_by_hop(router_alert)}})
            .icmp({.type = 143, .code = 0, .rest = 0, .payload = Bytes(20, 0)})
            .build(),
        kPass, "icmp6: a multicast listener report (MLDv2)");
  e.add(echo6(stranger6, me6, false, 5, 1), kDrop, "icmp6: a ping from outside");
  // Other protocols may go out, not come in.
  e.add(PacketBuilder()
            .eth(mac_of(web), mac_of(me))
            .ipv4({.src = me, .dst = web})
            .raw({.protocol = 47, .data = noise(24, 10)})
            .build(),
        kPass, "gre: ours goes out");
  e.add(PacketBuilder()
            .eth(mac_of(me), mac_of(stranger))
            .ipv4({.src = stranger, .dst = me})
            .raw({.protocol = 47, .data = noise(24, 11)})
            .build(),
        kDrop, "gre: a stranger's does not come in");
  // Idle flows are forgotten: UDP after 60 s, pings after 30 s; TCP (600 s) lives on.
  e.add(udp4(resolver, 53, me, 53001, noise(60, 8), 5), kDrop,
        "udp: 61 s later the flow has gone idle", 61'000'000);
  e.add(echo4(web, me, true, 7, 2), kDrop, "icmp: so has the ping");
  e.add(v6.server(kPsh | kAck, noise(30, 9)), kPass, "tcp6: the connection is still open");
  // ARP is not the firewall's business.
  e.add(PacketBuilder()
            .eth(nt::kBroadcastMac, mac_of(stranger))
            .arp({.sha = mac_of(stranger), .spa = stranger, .tpa = me})
            .build(),
        kPass, "arp: passes");
  return e;
}

// 10.0.0.66 floods 10.0.0.1:5000 with 200 packets, one every 15 ms over 3 s;
// 10.0.0.7 and 10.0.0.8 send 10 each, every 300 ms, offset so that no two
// packets share a timestamp.
std::vector<Record> flood() {
  const uint32_t dst = ip4_addr("10.0.0.1");
  struct Source {
    uint32_t ip;
    uint16_t port;
    int count;
    uint64_t first_usec;
    uint64_t interval_usec;
  };
  const Source sources[] = {
      {ip4_addr("10.0.0.66"), 40066, 200, 0, 15000},
      {ip4_addr("10.0.0.7"), 40007, 10, 100000, 300000},
      {ip4_addr("10.0.0.8"), 40008, 10, 250000, 300000},
  };
  std::vector<Record> records;
  for (const Source& s : sources) {
    for (int i = 0; i < s.count; ++i) {
      Bytes payload = nt::bytes("netcpu flood test seq ");
      const std::string seq = std::to_string(1000 + i);
      payload.insert(payload.end(), seq.begin(), seq.end());
      payload.resize(32, '.');
      records.push_back({s.first_usec + static_cast<uint64_t>(i) * s.interval_usec,
                         udp4(s.ip, s.port, dst, 5000, payload, static_cast<uint16_t>(i))});
    }
  }
  std::stable_sort(records.begin(), records.end(),
                   [](const Record& a, const Record& b) { return a.usec < b.usec; });
  return records;
}

// LAN side of a NAT: inside hosts send through the gateway 10.0.0.1, so
// outbound frames go to its MAC and replies come from it.
std::vector<Record> nat() {
  Capture cap;
  const uint32_t gw = ip4_addr("10.0.0.1");
  auto via_gw = [gw](Bytes frame, bool outbound, uint32_t host) {
    const Mac g = mac_of(gw);
    const Mac h = mac_of(host);
    std::copy(outbound ? g.begin() : h.begin(), outbound ? g.end() : h.end(), frame.begin());
    std::copy(outbound ? h.begin() : g.begin(), outbound ? h.end() : g.end(), frame.begin() + 6);
    return frame;
  };
  const uint32_t h5 = ip4_addr("10.0.0.5");
  const uint32_t h6 = ip4_addr("10.0.0.6");
  const uint32_t h7 = ip4_addr("10.0.0.7");
  const uint32_t h8 = ip4_addr("10.0.0.8");
  const uint32_t web = ip4_addr("203.0.113.10");
  const uint32_t tls_server = ip4_addr("203.0.113.20");
  const uint32_t app = ip4_addr("203.0.113.30");
  const uint32_t dns_server = ip4_addr("203.0.113.53");
  const uint32_t ntp_server = ip4_addr("203.0.113.123");

  TcpFlow http({h5, 40001, 1000}, {web, 80, 2000});
  cap.add(via_gw(http.client(kSyn), true, h5));
  cap.add(via_gw(http.server(kSyn | kAck), false, h5));
  cap.add(via_gw(http.client(kAck), true, h5));
  cap.add(via_gw(http.client(kPsh | kAck, nt::bytes("GET / HTTP/1.1\r\n"
                                                    "Host: www.example.com\r\n\r\n")),
                 true, h5));
  cap.add(via_gw(http.server(kPsh | kAck, nt::bytes("HTTP/1.1 200 OK\r\n"
                                                    "Content-Length: 6\r\n\r\nhello\n")),
                 false, h5));

  TcpFlow tls({h6, 40002, 3000}, {tls_server, 443, 4000});
  cap.add(via_gw(tls.client(kSyn), true, h6));
  cap.add(via_gw(tls.server(kSyn | kAck), false, h6));
  cap.add(via_gw(tls.client(kAck), true, h6));
  cap.add(via_gw(tls.client(kPsh | kAck, noise(120, 11)), true, h6));
  cap.add(via_gw(tls.server(kPsh | kAck, noise(300, 12)), false, h6));

  cap.add(via_gw(udp4(h5, 53001, dns_server, 53, dns(0x2001, "www.example.com", kDnsA), 0x100),
                 true, h5));
  cap.add(via_gw(
      udp4(dns_server, 53, h5, 53001, dns(0x2001, "www.example.com", kDnsA, ip4_bytes(web)), 0x200),
      false, h5));
  cap.add(via_gw(udp4(h7, 123, ntp_server, 123, ntp(false), 0x101), true, h7));
  cap.add(via_gw(udp4(ntp_server, 123, h7, 123, ntp(true), 0x201), false, h7));
  cap.add(via_gw(udp4(h8, 50000, app, 5000, nt::bytes("ping from 10.0.0.8"), 0x102), true, h8));
  cap.add(via_gw(udp4(app, 5000, h8, 50000, nt::bytes("pong to 10.0.0.8"), 0x202), false, h8));

  cap.add(via_gw(echo4(h5, web, false, 0x0505, 1), true, h5));
  cap.add(via_gw(echo4(web, h5, true, 0x0505, 1), false, h5));
  cap.add(via_gw(echo4(h6, tls_server, false, 0x0606, 1), true, h6));
  cap.add(via_gw(echo4(tls_server, h6, true, 0x0606, 1), false, h6));
  return cap.records();
}

// Bare IP packets, as an lwIPv6 stack hands them over.
std::vector<Record> rawip() {
  Capture cap;
  const uint32_t h5 = ip4_addr("10.0.0.5");
  const uint32_t web = ip4_addr("192.168.1.10");
  const uint32_t dns_server = ip4_addr("192.168.1.1");
  const Ip6Addr v6_client = ip6_addr("2001:db8:1::5");
  const Ip6Addr v6_web = ip6_addr("2001:db8:2::10");
  const Ip6Addr v6_dns = ip6_addr("2001:db8:2::53");

  TcpFlow http({h5, 42001, 100}, {web, 80, 200}, /*ethernet=*/false);
  cap.add(http.client(kSyn));
  cap.add(http.server(kSyn | kAck));
  cap.add(http.client(kPsh | kAck, nt::bytes("GET / HTTP/1.0\r\n\r\n")));
  cap.add(PacketBuilder()
              .ipv4({.src = h5, .dst = dns_server, .ttl = 64, .id = 0x10})
              .udp({.sport = 53004, .dport = 53, .payload = dns(0x3001, "example.org", kDnsA)})
              .build());
  cap.add(echo4(h5, dns_server, false, 0x0a0a, 1, /*ethernet=*/false));
  cap.add(echo4(dns_server, h5, true, 0x0a0a, 1, /*ethernet=*/false));

  TcpFlow https6({v6_client, 42002, 300}, {v6_web, 443, 400}, /*ethernet=*/false);
  cap.add(https6.client(kSyn));
  cap.add(PacketBuilder()
              .ipv6({.src = v6_client, .dst = v6_dns, .hop_limit = 64})
              .udp({.sport = 53005, .dport = 53, .payload = dns(0x3002, "example.org", kDnsAaaa)})
              .build());
  cap.add(echo6(v6_client, v6_web, false, 0x0b0b, 1, /*ethernet=*/false));
  cap.add(echo6(v6_web, v6_client, true, 0x0b0b, 1, /*ethernet=*/false));
  return cap.records();
}

// Written under a temporary name and renamed, as the captures are.
void write_text(const std::filesystem::path& dir, const std::string& name,
                const std::string& text) {
  const std::filesystem::path tmp = dir / (name + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out.flush()) throw std::runtime_error(tmp.string() + ": write failed");
  }
  std::filesystem::rename(tmp, dir / name);
}

// Written under a temporary name and renamed, so a reader never sees half a file.
void write_pcap(const std::filesystem::path& dir, const std::string& name, int dlt,
                const std::vector<Record>& records) {
  const std::filesystem::path tmp = dir / (name + ".tmp");
  pcap_t* dead = pcap_open_dead(dlt, 65535);
  if (dead == nullptr) throw std::runtime_error("pcap_open_dead failed");
  pcap_dumper_t* dumper = pcap_dump_open(dead, tmp.c_str());
  if (dumper == nullptr) {
    const std::string err = pcap_geterr(dead);
    pcap_close(dead);
    throw std::runtime_error(tmp.string() + ": " + err);
  }
  for (const Record& r : records) {
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(kStartSec + r.usec / 1000000);
    h.ts.tv_usec = static_cast<suseconds_t>(r.usec % 1000000);
    h.caplen = h.len = static_cast<bpf_u_int32>(r.data.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, r.data.data());
  }
  const bool flushed = pcap_dump_flush(dumper) == 0;
  pcap_dump_close(dumper);
  pcap_close(dead);
  if (!flushed) {
    std::filesystem::remove(tmp);
    throw std::runtime_error(tmp.string() + ": write failed");
  }
  std::filesystem::rename(tmp, dir / name);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    write_pcap(dir, "mixed.pcap", DLT_EN10MB, mixed());
    write_pcap(dir, "flood.pcap", DLT_EN10MB, flood());
    write_pcap(dir, "nat.pcap", DLT_EN10MB, nat());
    write_pcap(dir, "rawip.pcap", DLT_RAW, rawip());
    write_pcap(dir, "talkers.pcap", DLT_EN10MB, talkers());
    const Expected tracked = conntrack();
    write_pcap(dir, "conntrack.pcap", DLT_EN10MB, tracked.records);
    write_text(dir, "conntrack.expected", tracked.text);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "netcpu-genpcaps: %s\n", e.what());
    return 1;
  }
  return 0;
}
