// What an operator sees of the frames a program passed and dropped: `netcpu
// run --dropped` (the dropped packets as they left the program, in a pcap
// tcpdump reads), and the one-line summary the consoles' drop lines carry,
// held to tcpdump -q -nn's own line for the same packet.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_util.h"
#include "netcpu/packet_summary.h"

namespace {

using netcpu::test::Result;
using netcpu::test::scratch;
using netcpu::test::sh;

const std::string kCli = NETCPU_CLI;
const std::string kSrc = NETCPU_SOURCE_DIR;
const std::string kTcpdump = TCPDUMP;

std::string pcap(const std::string& name) { return kSrc + "/examples/pcaps/" + name; }

std::vector<std::vector<uint8_t>> frames_of(const std::string& file, int* dlt = nullptr) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(file.c_str(), err);
  EXPECT_TRUE(p) << err;
  std::vector<std::vector<uint8_t>> v;
  if (!p) return v;
  if (dlt) *dlt = pcap_datalink(p);
  struct pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1) v.emplace_back(d, d + h->caplen);
  pcap_close(p);
  return v;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> v;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    v.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return v;
}

TEST(CliCapture, DroppedWritesTheDroppedPacketsAndOutThePassedOnes) {
  const std::string out = (scratch() / "passed.pcap").string();
  const std::string dropped = (scratch() / "dropped.pcap").string();
  Result r = sh(kCli + " run " + kSrc + "/examples/tcp_firewall.ncpu --pcap " + pcap("mixed.pcap") +
                " --json --out " + out + " --dropped " + dropped);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  auto in = frames_of(pcap("mixed.pcap"));
  std::vector<std::vector<uint8_t>> want_passed, want_dropped;
  for (size_t i = 0; i < in.size(); ++i)
    (j["verdicts"][i] == "pass" ? want_passed : want_dropped).push_back(in[i]);
  ASSERT_GE(want_dropped.size(), 2u);
  int dlt = -1;
  EXPECT_EQ(frames_of(dropped, &dlt), want_dropped);
  EXPECT_EQ(dlt, DLT_EN10MB);
  EXPECT_EQ(frames_of(out), want_passed);
  Result td = sh(kTcpdump + " -nn -r " + dropped);
  EXPECT_EQ(td.code, 0) << td.err;
  EXPECT_EQ(lines_of(td.out).size(), want_dropped.size()) << td.out;

  // Files it cannot write: exit 3 with the reason, before any packet runs.
  for (const auto& [file, why] : std::vector<std::pair<std::string, std::string>>{
           {scratch().string(), "Is a directory"}, {"/dev/full", "No space left on device"}}) {
    r = sh(kCli + " run " + kSrc + "/examples/tcp_firewall.ncpu --pcap " + pcap("mixed.pcap") +
           " --dropped " + file);
    EXPECT_EQ(r.code, 3) << file << ": " << r.out << r.err;
    EXPECT_NE(r.err.find(file + ": " + why), std::string::npos) << r.err;
  }
}

// Every packet of the bundled captures of a kind the summary knows (TCP,
// UDP, ICMP and ICMPv6 echo, ARP, with no IPv6 extension headers) comes out
// as tcpdump -q -nn prints it, VLAN tags or not.
TEST(PacketSummary, IsTcpdumpsOwnLineForTheSamePacket) {
  size_t compared = 0;
  for (const char* file : {"mixed.pcap", "flood.pcap", "nat.pcap", "rawip.pcap"}) {
    int dlt = -1;
    auto frames = frames_of(pcap(file), &dlt);
    Result td = sh(kTcpdump + " -q -nn -t -r " + pcap(file));
    ASSERT_EQ(td.code, 0) << td.err;
    auto lines = lines_of(td.out);
    ASSERT_EQ(lines.size(), frames.size()) << file;
    const auto link = dlt == DLT_EN10MB ? netcpu::LinkType::Ethernet : netcpu::LinkType::RawIp;
    for (size_t i = 0; i < frames.size(); ++i) {
      const std::string& want = lines[i];
      const bool known = want.find(": tcp ") != std::string::npos ||
                         want.find(": UDP, length ") != std::string::npos ||
                         want.find(" echo re") != std::string::npos || want.starts_with("ARP, ");
      // IPv6 extension headers: tcpdump names each; the summary goes on to the ports.
      if (!known || want.find("HBH") != std::string::npos ||
          want.find(" frag (") != std::string::npos)
        continue;
      ++compared;
      EXPECT_EQ(netcpu::packet_summary(frames[i], link), want) << file << " packet " << i + 1;
    }
  }
  EXPECT_GE(compared, 60u);
}

}  // namespace
