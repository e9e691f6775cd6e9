// The netcpu command line as scripts use it: exit codes, JSON, and the
// example programs on the bundled pcaps, with verdicts checked against
// independent references (Debian's tcpdump, plain libpcap reads).
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "packet_builder.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kCli = NETCPU_CLI;
const std::string kSrc = NETCPU_SOURCE_DIR;
const std::string kTcpdump = TCPDUMP;

using netcpu::test::Result;
using netcpu::test::scratch;
using netcpu::test::sh;
using netcpu::test::slurp;

Result netcpu(const std::string& args) { return sh(kCli + " " + args); }

std::string example(const std::string& name) { return kSrc + "/examples/" + name; }
std::string pcap(const std::string& name) { return kSrc + "/examples/pcaps/" + name; }

struct Frame {
  std::vector<uint8_t> bytes;
  double ts;
};

std::vector<Frame> read_pcap(const std::string& file) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(file.c_str(), err);
  EXPECT_TRUE(p) << err;
  std::vector<Frame> v;
  if (!p) return v;
  struct pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1)
    v.push_back({{d, d + h->caplen}, h->ts.tv_sec + h->ts.tv_usec / 1e6});
  pcap_close(p);
  return v;
}

// Which packets a pcap-filter(7) expression matches, by libpcap's own
// compiler and filter: tcpdump's semantics, independent of NetCPU.
std::vector<bool> tcpdump_matches(const std::string& file, const std::string& expr, size_t count) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(file.c_str(), err);
  EXPECT_TRUE(p) << err;
  std::vector<bool> m;
  if (!p) return std::vector<bool>(count, false);
  struct bpf_program prog;
  EXPECT_EQ(pcap_compile(p, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN), 0) << pcap_geterr(p);
  struct pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1) m.push_back(pcap_offline_filter(&prog, h, d) != 0);
  pcap_freecode(&prog);
  pcap_close(p);
  EXPECT_EQ(m.size(), count);
  return m;
}

json run_json(const std::string& program, const std::string& capture,
              const std::string& extra = "") {
  Result r = netcpu("run " + program + " --pcap " + capture + " --json " + extra);
  EXPECT_EQ(r.code, 0) << r.err;
  return json::parse(r.out.empty() ? "{}" : r.out);
}

std::vector<bool> passed(const json& j) {
  std::vector<bool> v;
  for (const auto& x : j["verdicts"]) v.push_back(x.get<std::string>() == "pass");
  return v;
}

// ---- exit codes and help ----------------------------------------------------

TEST(Cli, UsageErrorsExitWith2) {
  EXPECT_EQ(netcpu("").code, 2);
  EXPECT_EQ(netcpu("frobnicate").code, 2);
  EXPECT_EQ(netcpu("run " + example("slides.ncpu")).code, 2);  // --pcap missing
  EXPECT_EQ(netcpu("asm " + example("slides.ncpu")).code, 2);  // -o missing
}

// A console line holds 126 characters: a longer command that cannot be
// continued (not netcpu/) is refused before ctl connects or sends anything
// (the switch would act on it cut). Plugin.CtlSendsLongCommandsWhole runs
// ctl against the real switch.
TEST(Cli, CtlRefusesALineNoConsoleTakesWholeBeforeSending) {
  Result r = netcpu("ctl " + (scratch() / "no-such-socket").string() +
                    " 'netcpu/list' 'plugin/add /" + std::string(130, 'x') + "'");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("142 characters, more than the 126 a console line holds"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("no-such-socket"), std::string::npos) << "it tried to connect\n" << r.err;
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* sub : {"asm", "dis", "check", "run", "bench"}) {
    Result r = netcpu(std::string(sub) + " --help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub << ": " << r.out;
  }
  EXPECT_NE(netcpu("run --help").out.find("--json"), std::string::npos);
}

TEST(Cli, SyntaxErrorsExitWith1AndNameFileLineCol) {
  fs::path bad = scratch() / "bad.ncpu";
  std::ofstream(bad) << ".text:\n    mov gpr0, 1\n    frob gpr0\n    end\n";
  Result r = netcpu("check " + bad.string());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(bad.string() + ":3:5: error: unknown instruction 'frob'"), std::string::npos)
      << r.err;
  std::ofstream(bad) << ".text:\n    mov gpr0, 1\n";
  r = netcpu("run " + bad.string() + " --pcap " + pcap("mixed.pcap"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(bad.string() + ":2:5: error: control falls off the end"), std::string::npos)
      << r.err;
}

TEST(Cli, UnreadableInputExitsWith3) {
  EXPECT_EQ(netcpu("check /nonexistent.ncpu").code, 3);
  EXPECT_EQ(netcpu("run " + example("slides.ncpu") + " --pcap /nonexistent.pcap").code, 3);
  // Corrupt bytecode: a valid file cut short, and one with a wrong version.
  fs::path bc = scratch() / "slides.ncpub";
  ASSERT_EQ(netcpu("asm " + example("slides.ncpu") + " -o " + bc.string()).code, 0);
  std::string bytes = slurp(bc);
  fs::path cut = scratch() / "cut.ncpub";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  Result r = netcpu("dis " + cut.string());
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("corrupt bytecode"), std::string::npos) << r.err;
  std::string v2 = bytes;
  v2[4] = 2;
  std::ofstream(cut, std::ios::binary) << v2;
  r = netcpu("run " + cut.string() + " --pcap " + pcap("mixed.pcap"));
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("version 2 is not supported"), std::string::npos) << r.err;
}

TEST(Cli, MalformedPcapsExitWith3NeverCrash) {
  std::string good = slurp(pcap("mixed.pcap"));
  std::mt19937 rng(7);
  fs::path f = scratch() / "broken.pcap";
  for (int i = 0; i < 40; ++i) {
    std::string b = good;
    if (i < 20) {
      b.resize(rng() % b.size());  // truncated anywhere, header included
    } else {
      for (int k = 0; k < 8; ++k) b[rng() % 64] = static_cast<char>(rng());  // damaged headers
    }
    std::ofstream(f, std::ios::binary | std::ios::trunc) << b;
    Result r = netcpu("run " + example("slides.ncpu") + " --pcap " + f.string() + " --json");
    EXPECT_TRUE(r.code == 0 || r.code == 3) << "case " << i << " exit " << r.code << ": " << r.err;
  }
  std::ofstream(f, std::ios::binary | std::ios::trunc) << "this is not a capture at all";
  EXPECT_EQ(netcpu("run " + example("slides.ncpu") + " --pcap " + f.string()).code, 3);
}

// ---- asm / dis / check ----------------------------------------------------

TEST(Cli, AsmDisAsmIsByteIdenticalForEveryExample) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(kSrc + "/examples")) {
    if (e.path().extension() != ".ncpu") continue;
    ++n;
    fs::path a = scratch() / "a.ncpub", s = scratch() / "dis.ncpu", b = scratch() / "b.ncpub";
    ASSERT_EQ(netcpu("asm " + e.path().string() + " -o " + a.string()).code, 0) << e.path();
    Result d = netcpu("dis " + a.string());
    ASSERT_EQ(d.code, 0) << d.err;
    std::ofstream(s) << d.out;
    Result r = netcpu("asm " + s.string() + " -o " + b.string());
    ASSERT_EQ(r.code, 0) << r.err << "\n" << d.out;
    EXPECT_EQ(slurp(a), slurp(b)) << e.path();
  }
  EXPECT_GE(n, 8u);
}

// Every example has its line in the language reference's table (§14).
TEST(Cli, EveryExampleIsInTheLanguageReference) {
  const std::string doc = slurp(kSrc + "/docs/language.md");
  const std::string table = doc.substr(doc.find("## 14. Examples"));
  for (const auto& e : fs::directory_iterator(kSrc + "/examples")) {
    if (e.path().extension() != ".ncpu") continue;
    EXPECT_NE(table.find("| `" + e.path().filename().string() + "` |"), std::string::npos)
        << e.path().filename() << " is missing from docs/language.md section 14";
  }
}

TEST(Cli, CheckReportsCountsAndTables) {
  Result r = netcpu("check " + example("tcp_firewall.ncpu") + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["tables"][0]["name"], "allowed");
  EXPECT_EQ(j["tables"][0]["key"], 2);
  EXPECT_GT(j["instructions"].get<int>(), 5);
  r = netcpu("check " + example("slides.ncpu"));
  EXPECT_NE(r.out.find("instructions: 7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stack:        0 of 64"), std::string::npos) << r.out;
  r = netcpu("check " + example("rate_limit.ncpu"));
  EXPECT_NE(r.out.find("timer:        window every 1000 ms"), std::string::npos) << r.out;
}

TEST(Cli, CheckJsonGivesTheHashAsTheConsolesPrintIt) {
  Result r = netcpu("check " + example("tcp_firewall.ncpu") + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  // A string of 16 hex digits: jq and JavaScript read a 64-bit number as a
  // double and print other digits.
  ASSERT_TRUE(j["hash"].is_string()) << j["hash"];
  std::string hash = j["hash"];
  EXPECT_EQ(hash.size(), 16u);
  EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos) << hash;
  EXPECT_TRUE(j["warnings"].empty()) << j["warnings"];
}

TEST(Cli, ALoopWithNoWayOutIsWarnedAboutButRuns) {
  fs::path loop = scratch() / "endless.ncpu";
  std::ofstream(loop) << ".text:\n    mov gpr1, 1\nloop:\n    add gpr0, 1\n    jmp loop\n";
  const std::string warning =
      loop.string() +
      ":4:5: warning: this loop has no way out: a run that enters it ends only "
      "when the instruction budget (or a fault) stops it";
  Result r = netcpu("check " + loop.string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find(warning), std::string::npos) << r.err;
  r = netcpu("check " + loop.string() + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["warnings"], json::array({warning}));
  r = netcpu("asm " + loop.string() + " -o " + (scratch() / "endless.ncpub").string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find(warning), std::string::npos) << r.err;
  // It still loads and runs: the budget stops it.
  r = netcpu("run " + loop.string() + " --pcap " + pcap("rawip.pcap") + " --budget 100 --json");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find(warning), std::string::npos) << r.err;
  EXPECT_EQ(json::parse(r.out)["aborted"], json::parse(r.out)["packets"]);
}

// ---- examples on the bundled pcaps ------------------------------------------

TEST(Examples, SlidesPrintsEachLengthThen666) {
  auto frames = read_pcap(pcap("mixed.pcap"));
  ASSERT_GT(frames.size(), 20u);
  json j = run_json(example("slides.ncpu"), pcap("mixed.pcap"));
  std::vector<std::string> want;
  for (const auto& f : frames)
    want.push_back(std::to_string(f.bytes.size())), want.push_back("666");
  EXPECT_EQ(j["output"].get<std::vector<std::string>>(), want);
  EXPECT_EQ(j["packets"], frames.size());
  EXPECT_EQ(j["passed"], frames.size());
  for (const char* key : {"dropped", "modified", "redirected", "emitted", "aborted", "errors"})
    EXPECT_EQ(j[key], 0) << key;
  EXPECT_EQ(j["instructions"], 7 * frames.size());
}

// tcpdump's `ip`, `arp`, ... look at the untagged EtherType; NetCPU's eth.type
// is the one after any VLAN tags. The oracle matches untagged, single- and
// double-tagged frames with separate expressions: libpcap's `vlan` shifts the
// offsets of everything after it, even across `or`.
std::vector<bool> matches_through_vlans(const std::string& file, const std::string& e,
                                        size_t count) {
  auto m = tcpdump_matches(file, e, count);
  auto m1 = tcpdump_matches(file, "vlan and (" + e + ")", count);
  auto m2 = tcpdump_matches(file, "vlan and vlan and (" + e + ")", count);
  for (size_t i = 0; i < count; ++i) m[i] = m[i] || m1[i] || m2[i];
  return m;
}

TEST(Examples, IpPairMatchesTcpdump) {
  auto frames = read_pcap(pcap("mixed.pcap"));
  json j = run_json(example("ip_pair.ncpu"), pcap("mixed.pcap"));
  auto want = matches_through_vlans(
      pcap("mixed.pcap"), "ip src host 128.3.112.15 and ip dst host 128.3.112.35", frames.size());
  EXPECT_EQ(passed(j), want);
  EXPECT_GE(std::count(want.begin(), want.end(), true), 3);
  EXPECT_GE(std::count(want.begin(), want.end(), false), 10);
}

TEST(Examples, ArpOnlyMatchesTcpdump) {
  auto frames = read_pcap(pcap("mixed.pcap"));
  json j = run_json(example("arp_only.ncpu"), pcap("mixed.pcap"));
  auto want = matches_through_vlans(pcap("mixed.pcap"), "arp", frames.size());
  EXPECT_EQ(passed(j), want);
  EXPECT_GE(std::count(want.begin(), want.end(), true), 2);
}

TEST(Examples, TcpFirewallMatchesTcpdump) {
  auto frames = read_pcap(pcap("mixed.pcap"));
  json j = run_json(example("tcp_firewall.ncpu"), pcap("mixed.pcap"));
  auto want = matches_through_vlans(
      pcap("mixed.pcap"), "not tcp or tcp port 22 or tcp port 80 or tcp port 443", frames.size());
  EXPECT_EQ(passed(j), want);
  EXPECT_GE(std::count(want.begin(), want.end(), false), 2);
}

TEST(Examples, DropStringDropsExactlyTheFreebsdPayloads) {
  auto frames = read_pcap(pcap("mixed.pcap"));
  json j = run_json(example("drop_string.ncpu"), pcap("mixed.pcap"));
  std::vector<bool> want;
  size_t hits = 0;
  for (const auto& f : frames) {
    bool has = memmem(f.bytes.data(), f.bytes.size(), "freebsd", 7) != nullptr;
    hits += has;
    want.push_back(!has);
  }
  EXPECT_GE(hits, 3u);
  EXPECT_EQ(passed(j), want);
  EXPECT_EQ(j["output"].size(), hits);
  EXPECT_NE(j["output"][0].get<std::string>().find("payload has \"freebsd\""), std::string::npos);
}

TEST(Examples, RateLimiterAllowsTwentyPerSourcePerSecond) {
  auto frames = read_pcap(pcap("flood.pcap"));
  ASSERT_GT(frames.size(), 100u);
  json j = run_json(example("rate_limit.ncpu"), pcap("flood.pcap"));
  // Reference: the window timer fires every 1000 ms of capture time from the
  // first packet on, before the packet whose timestamp reaches it.
  std::map<std::pair<uint32_t, long>, int> seen;
  std::vector<bool> want;
  double t0 = frames[0].ts;
  for (const auto& f : frames) {
    uint32_t src =
        (uint32_t{f.bytes[26]} << 24) | (f.bytes[27] << 16) | (f.bytes[28] << 8) | f.bytes[29];
    long window = static_cast<long>(
        (static_cast<int64_t>(f.ts * 1000) - static_cast<int64_t>(t0 * 1000)) / 1000);
    want.push_back(++seen[{src, window}] <= 20);
  }
  EXPECT_EQ(passed(j), want);
  EXPECT_GT(j["dropped"].get<int>(), 50);
  EXPECT_GE(j["timer_runs"].get<int>(), 2);
}

TEST(Examples, TopTalkersPrintsTheFiveLargestSourcesOfEverySecond) {
  auto frames = read_pcap(pcap("talkers.pcap"));
  ASSERT_GT(frames.size(), 100u);
  json j = run_json(example("top_talkers.ncpu"), pcap("talkers.pcap"));
  // Reference: bytes per source in each 1000 ms window from the first
  // packet on; a window's report comes when a later packet reaches its end.
  std::map<long, std::map<uint32_t, uint64_t>> sent;
  const double t0 = frames[0].ts;
  long last = 0;
  for (const auto& f : frames) {
    const uint32_t src =
        (uint32_t{f.bytes[26]} << 24) | (f.bytes[27] << 16) | (f.bytes[28] << 8) | f.bytes[29];
    last = static_cast<long>((static_cast<int64_t>(f.ts * 1000) - static_cast<int64_t>(t0 * 1000)) /
                             1000);
    sent[last][src] += f.bytes.size();
  }
  std::vector<std::string> want;
  for (const auto& [window, by_src] : sent) {
    if (window == last) break;  // no packet reached its end
    std::vector<std::pair<uint64_t, uint32_t>> ranked;
    for (auto [src, bytes] : by_src) ranked.push_back({bytes, src});
    std::sort(ranked.rbegin(), ranked.rend());
    ranked.resize(std::min<size_t>(ranked.size(), 5));
    for (auto [bytes, src] : ranked)
      want.push_back("top " + std::to_string(src >> 24) + "." + std::to_string(src >> 16 & 255) +
                     "." + std::to_string(src >> 8 & 255) + "." + std::to_string(src & 255) + " " +
                     std::to_string(bytes));
  }
  ASSERT_EQ(want.size(), 15u);               // three full seconds of eight sources
  EXPECT_EQ(want[10], "top 10.0.1.1 3472");  // the third second's leader
  EXPECT_EQ(j["output"].get<std::vector<std::string>>(), want);
  EXPECT_EQ(j["passed"], frames.size());
}

TEST(Examples, StatefulFirewallDoesWhatConntrackExpectedSays) {
  // The capture's generator wrote what a stateful firewall should do to
  // each packet, and why; the protected side is 10.0.0.2 and fd00::2.
  std::ifstream expected(kSrc + "/examples/pcaps/conntrack.expected");
  std::vector<std::string> why;
  std::vector<bool> want;
  for (std::string line; std::getline(expected, line);) {
    want.push_back(line.starts_with("pass "));
    why.push_back(line);
  }
  ASSERT_GT(want.size(), 30u);
  json j = run_json(example("stateful_firewall.ncpu"), pcap("conntrack.pcap"),
                    "--outbound 'src host 10.0.0.2 or src host fd00::2'");
  const std::vector<bool> got = passed(j);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(got[i], want[i]) << "packet " << i + 1 << ": " << why[i];
  EXPECT_EQ(j["aborted"], 0);
  // Without --outbound every packet is one coming in: nothing opens a flow,
  // so only what needs no flow passes (ARP, neighbour and multicast
  // listener discovery).
  json inbound = run_json(example("stateful_firewall.ncpu"), pcap("conntrack.pcap"));
  const std::vector<bool> all_in = passed(inbound);
  EXPECT_EQ(std::count(all_in.begin(), all_in.end(), true), 3);
}

TEST(Examples, NatRewritesAddressesWithChecksumsTcpdumpAccepts) {
  fs::path out = scratch() / "nat-out.pcap";
  json j = run_json(example("nat.ncpu"), pcap("nat.pcap"), "--out " + out.string());
  auto frames = read_pcap(pcap("nat.pcap"));
  auto inside = tcpdump_matches(pcap("nat.pcap"), "src net 10.0.0.0/24", frames.size());
  size_t n_inside = std::count(inside.begin(), inside.end(), true);
  ASSERT_GT(n_inside, 3u);
  EXPECT_EQ(j["modified"], n_inside);
  EXPECT_EQ(j["passed"], frames.size());
  auto after = read_pcap(out.string());
  ASSERT_EQ(after.size(), frames.size());
  auto still_inside = tcpdump_matches(out.string(), "src net 10.0.0.0/24", after.size());
  EXPECT_EQ(std::count(still_inside.begin(), still_inside.end(), true), 0);
  auto outside = tcpdump_matches(out.string(), "src net 198.51.100.0/24", after.size());
  EXPECT_EQ(outside, inside);
  Result v = sh(kTcpdump + " -vvv -n -r " + out.string());
  EXPECT_EQ(v.out.find("incorrect"), std::string::npos) << v.out;
  EXPECT_EQ(v.out.find("wrong"), std::string::npos) << v.out;
  // tcpdump verifies TCP ("(correct)") and UDP ("sum ok") checksums and
  // complains about a bad ICMP one; every rewritten TCP/UDP packet is verified.
  auto l4 =
      tcpdump_matches(pcap("nat.pcap"), "src net 10.0.0.0/24 and (tcp or udp)", frames.size());
  size_t verified = 0;
  for (const char* ok : {"(correct)", "sum ok"})
    for (size_t p = v.out.find(ok); p != std::string::npos; p = v.out.find(ok, p + 1)) ++verified;
  EXPECT_GE(verified, static_cast<size_t>(std::count(l4.begin(), l4.end(), true))) << v.out;
}

TEST(Examples, IcmpResponderEmitsValidReplies) {
  fs::path em = scratch() / "replies.pcap";
  auto frames = read_pcap(pcap("mixed.pcap"));
  json j = run_json(example("icmp_responder.ncpu"), pcap("mixed.pcap"), "--emitted " + em.string());
  auto req = tcpdump_matches(pcap("mixed.pcap"),
                             "icmp[icmptype] == icmp-echo and dst host 192.168.1.1", frames.size());
  size_t n = std::count(req.begin(), req.end(), true);
  ASSERT_GE(n, 1u) << "mixed.pcap has no echo request to 192.168.1.1";
  EXPECT_EQ(j["emitted"], n);
  EXPECT_EQ(j["dropped"], n);
  auto replies = read_pcap(em.string());
  ASSERT_EQ(replies.size(), n);
  auto is_reply =
      tcpdump_matches(em.string(), "icmp[icmptype] == icmp-echoreply and src host 192.168.1.1", n);
  EXPECT_EQ(std::count(is_reply.begin(), is_reply.end(), true), static_cast<long>(n));
  Result v = sh(kTcpdump + " -vvv -n -r " + em.string());
  EXPECT_EQ(v.out.find("wrong"), std::string::npos) << v.out;
  EXPECT_EQ(v.out.find("incorrect"), std::string::npos) << v.out;
}

TEST(Examples, CounterAgreesWithTcpdump) {
  auto frames = read_pcap(pcap("mixed.pcap"));
  json j = run_json(example("counter.ncpu"), pcap("mixed.pcap"));
  auto count = [&](const std::string& e) {
    auto m = matches_through_vlans(pcap("mixed.pcap"), e, frames.size());
    return static_cast<size_t>(std::count(m.begin(), m.begin() + (frames.size() / 10) * 10, true));
  };
  auto out = j["output"].get<std::vector<std::string>>();
  ASSERT_GE(out.size(), 5u);
  size_t reported = (frames.size() / 10) * 10;
  size_t bytes = 0;
  for (size_t i = 0; i < reported; ++i) bytes += frames[i].bytes.size();
  std::vector<std::string> last(out.end() - 5, out.end());
  EXPECT_EQ(last[0], std::to_string(reported) + " packets, " + std::to_string(bytes) + " bytes");
  EXPECT_EQ(last[1], "ipv4 " + std::to_string(count("ip")));
  EXPECT_EQ(last[2], "ipv6 " + std::to_string(count("ip6")));
  EXPECT_EQ(last[3], "arp " + std::to_string(count("arp")));
}

TEST(Cli, BudgetStopsRunawayProgramsAndTraceShowsInstructions) {
  fs::path loop = scratch() / "loop.ncpu";
  std::ofstream(loop) << ".text:\nspin:\n    jmp spin\n";
  json j = run_json(loop.string(), pcap("rawip.pcap"), "--budget 500 --on-abort drop");
  EXPECT_EQ(j["aborted"], j["packets"]);
  EXPECT_EQ(j["dropped"], j["packets"]);
  EXPECT_EQ(j["instructions"], 500 * j["packets"].get<int>());
  Result r =
      netcpu("run " + example("ip_pair.ncpu") + " --pcap " + pcap("mixed.pcap") + " --trace");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("bne eth.type, 2048, reject"), std::string::npos) << r.out.substr(0, 2000);
}

// ---- directions: --outbound and Linux cooked captures ------------------------

// UDP between 10.0.0.1 (this host) and 10.0.0.2: even packets sent by .1,
// odd ones its replies, as IP packets.
std::vector<netcpu::packets::Bytes> conversation(size_t n) {
  using namespace netcpu::packets;
  std::vector<Bytes> v;
  for (size_t i = 0; i < n; ++i) {
    const bool sent = i % 2 == 0;
    v.push_back(PacketBuilder()
                    .ipv4({.src = ip4_addr(sent ? "10.0.0.1" : "10.0.0.2"),
                           .dst = ip4_addr(sent ? "10.0.0.2" : "10.0.0.1")})
                    .udp({.sport = static_cast<uint16_t>(sent ? 40000 : 53),
                          .dport = static_cast<uint16_t>(sent ? 53 : 40000),
                          .payload = bytes("q")})
                    .build_ip());
  }
  return v;
}

// A capture of the conversation with `dlt`'s link header; in Linux cooked
// ones the packets this host sent are PACKET_OUTGOING (4), the others
// PACKET_HOST (0), as the kernel labels them.
fs::path conversation_capture(int dlt, size_t n) {
  const auto ips = conversation(n);
  const fs::path path = scratch() / ("conversation-" + std::to_string(dlt) + ".pcap");
  pcap_t* dead = pcap_open_dead(dlt, 65535);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  EXPECT_TRUE(d) << pcap_geterr(dead);
  for (size_t i = 0; i < ips.size(); ++i) {
    const uint8_t type = i % 2 == 0 ? 4 : 0;
    std::vector<uint8_t> rec;
    if (dlt == DLT_LINUX_SLL) {
      rec = {0, type, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00};
    } else if (dlt == DLT_LINUX_SLL2) {
      rec = {0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, type, 6, 2, 0, 0, 0, 0, 1, 0, 0};
    } else {  // Ethernet
      rec = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
      if (i % 2) std::swap_ranges(rec.begin(), rec.begin() + 6, rec.begin() + 6);
    }
    rec.insert(rec.end(), ips[i].begin(), ips[i].end());
    struct pcap_pkthdr h {};
    h.ts = {1700000000 + static_cast<time_t>(i), 0};
    h.caplen = h.len = static_cast<uint32_t>(rec.size());
    if (d) pcap_dump(reinterpret_cast<u_char*>(d), &h, rec.data());
  }
  if (d) pcap_dump_close(d);
  pcap_close(dead);
  return path;
}

// Drops what runs with dir 1 (DIR_OUT), passes the rest.
fs::path drop_outbound_program() {
  const fs::path p = scratch() / "drop-outbound.ncpu";
  std::ofstream(p) << ".text:\n    beq dir, DIR_OUT, sent\n    pass\nsent:\n    drop\n";
  return p;
}

std::vector<std::string> verdicts(const json& j) {
  return j["verdicts"].get<std::vector<std::string>>();
}

const std::vector<std::string> kSentDropped = {"drop", "pass", "drop", "pass", "drop", "pass"};
const std::vector<std::string> kAllPass(6, "pass");

// --outbound EXPR: the packets it matches (libpcap, for the capture's link
// type, the link header included) run with dir 1; without it, dir 0.
TEST(Cli, RunGivesThePacketsOutboundMatchesDirOne) {
  const fs::path eth = conversation_capture(DLT_EN10MB, 6);
  const std::string prog = drop_outbound_program().string();
  EXPECT_EQ(verdicts(run_json(prog, eth.string())), kAllPass);
  json j = run_json(prog, eth.string(), "--outbound 'src host 10.0.0.1'");
  EXPECT_EQ(verdicts(j), kSentDropped);
  EXPECT_EQ(j["outbound"], 3);
  // The link header is the expression's too.
  EXPECT_EQ(verdicts(run_json(prog, eth.string(), "--outbound 'ether src 02:00:00:00:00:01'")),
            kSentDropped);
  Result text = netcpu("run " + prog + " --pcap " + eth.string() + " --outbound 'udp port 40000'");
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("packet 1: drop [43 bytes, "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(" instructions, dir 1]"), std::string::npos) << text.out;
  Result bad = netcpu("run " + prog + " --pcap " + eth.string() + " --outbound 'src hots x'");
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.err.find("--outbound 'src hots x': "), std::string::npos) << bad.err;
  Result help = netcpu("run --help");
  EXPECT_NE(help.out.find("--outbound"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("Linux cooked"), std::string::npos) << help.out;
}

// Linux cooked captures say which packets the capturing host sent
// (PACKET_OUTGOING): those run with dir 1 with no option, as tcpdump's
// `outbound` sees them; --outbound replaces that rule.
TEST(Cli, RunGivesWhatTheCapturingHostSentDirOneInCookedCaptures) {
  const std::string prog = drop_outbound_program().string();
  for (int dlt : {DLT_LINUX_SLL, DLT_LINUX_SLL2}) {
    SCOPED_TRACE(pcap_datalink_val_to_name(dlt));
    const fs::path cooked = conversation_capture(dlt, 6);
    json j = run_json(prog, cooked.string());
    EXPECT_EQ(verdicts(j), kSentDropped);
    EXPECT_EQ(j["outbound"], 3);
    EXPECT_EQ(tcpdump_matches(cooked.string(), "outbound", 6),
              (std::vector<bool>{true, false, true, false, true, false}));
    EXPECT_EQ(verdicts(run_json(prog, cooked.string(), "--outbound outbound")), kSentDropped);
    EXPECT_EQ(verdicts(run_json(prog, cooked.string(), "--outbound 'dst port 40000'")),
              (std::vector<std::string>{"pass", "drop", "pass", "drop", "pass", "drop"}));
  }
}

TEST(Cli, BenchReportsNsPerPacket) {
  Result r =
      netcpu("bench " + example("tcp_firewall.ncpu") + " --synthetic 2000 --rounds 2 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["packets"], 2000);
  EXPECT_GT(j["ns_per_packet_best"].get<double>(), 0);
  EXPECT_GT(j["instructions_per_packet"].get<double>(), 1);
  EXPECT_EQ(j["runs_as"].get<std::string>().find("native code"), 0u) << j["runs_as"];
  // --interpreter times the interpreter on the same packets, with the same verdicts.
  Result i = netcpu("bench " + example("tcp_firewall.ncpu") +
                    " --synthetic 2000 --rounds 2 --interpreter --json");
  ASSERT_EQ(i.code, 0) << i.err;
  json k = json::parse(i.out);
  EXPECT_EQ(k["runs_as"], "interpreter (native code turned off)");
  EXPECT_EQ(k["dropped"], j["dropped"]);
  EXPECT_EQ(k["instructions_per_packet"], j["instructions_per_packet"]);
}

}  // namespace

namespace {

TEST(BundledPcaps, RegeneratingGivesTheCommittedBytes) {
  fs::path dir = scratch() / "regen";
  fs::create_directories(dir);
  Result r = sh(std::string(NETCPU_GENPCAPS) + " " + dir.string());
  ASSERT_EQ(r.code, 0) << r.err;
  std::set<std::string> committed, generated;
  for (const auto& e : fs::directory_iterator(kSrc + "/examples/pcaps")) {
    committed.insert(e.path().filename());
    EXPECT_EQ(slurp(dir / e.path().filename()), slurp(e.path()))
        << e.path().filename() << " differs from its generator";
  }
  for (const auto& e : fs::directory_iterator(dir)) generated.insert(e.path().filename());
  EXPECT_EQ(committed, generated);
  EXPECT_GE(committed.size(), 7u);
}

TEST(Cli, RandomSourceTextIsRejectedWith1NeverCrashes) {
  std::mt19937 rng(11);
  const std::string alphabet =
      "abcdefgimnoprstuvx0123456789 ,.:[]+-*$#\"'\n\t.data:.text:gpr mov pkt ";
  fs::path f = scratch() / "random.ncpu";
  for (int i = 0; i < 30; ++i) {
    std::string text;
    for (size_t k = rng() % 400; k > 0; --k) text += alphabet[rng() % alphabet.size()];
    std::ofstream(f, std::ios::trunc) << text;
    Result res = netcpu("check " + f.string());
    EXPECT_TRUE(res.code == 1 || res.code == 0) << "exit " << res.code << " for:\n"
                                                << text << "\n"
                                                << res.err;
    if (res.code == 1) {
      EXPECT_NE(res.err.find(": error: "), std::string::npos) << res.err;
    }
  }
}

}  // namespace
