// netcpu/capture in the real vde_switch: frames a program passed or dropped,
// as they left it, in pcap files tcpdump reads; bad files refused with the
// reason; a write error or plugin/del never costs the switch or a frame.
// The per-frame lines on netcpu/drop say what was dropped, as tcpdump does.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "switch_harness.h"
#include "tcpdump_lines.h"

namespace netcpu::test {
namespace {

const Mac kMacA = packets::mac_addr("02:00:00:00:00:0a");
const Mac kMacB = packets::mac_addr("02:00:00:00:00:0b");

// Drops UDP to port 9 (numbered frames); decrements the TTL of the rest.
const char* kDropNineRewriteRest = R"(.text:
    bne l4.dport, 9, rewrite
    drop
rewrite:
    bne has.ip4, 1, done
    rewrite ip.ttl, 7
done:
    pass
)";

// A frame to port 7 (passes) with the numbered frames' addresses.
Bytes port7_frame(uint32_t seq) {
  Bytes f = numbered_frame(kMacB, kMacA, seq);
  f[36] = 0, f[37] = 7;  // UDP destination port
  f[40] = f[41] = 0;     // no UDP checksum
  return f;
}

class Capture : public ::testing::Test {
 protected:
  Capture() : sw(plugin_switch_options()), con(sw.mgmt_path()) {
    Reply r = con.cmd("plugin/add " NETCPU_PLUGIN);
    EXPECT_TRUE(r.ok()) << r.text() << "\n" << sw.log();
    a = std::make_unique<Endpoint>(sw.data_path(), con);
    b = std::make_unique<Endpoint>(sw.data_path(), con);
    // B speaks first: A's frames to B are unicast.
    b->send(numbered_frame(kMacA, kMacB, 999999));
    a->drain(100);
  }
  ~Capture() override { EXPECT_TRUE(sw.alive()) << sw.exit_description() << "\n" << sw.log(); }

  Reply load(const std::string& point, const std::string& text) {
    std::string path = sw.dir() + "/prog.ncpu";
    std::ofstream(path) << text;
    return con.cmd("netcpu/load " + point + " " + path);
  }
  // n frames to port 9 (dropped) and n to port 7 (passed), alternating.
  size_t send_both(uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
      a->send(numbered_frame(kMacB, kMacA, 2 * i));
      a->send(port7_frame(2 * i + 1));
    }
    return b->drain(200);
  }
  std::string file(const std::string& name) { return sw.dir() + "/" + name; }

  VdeSwitch sw;
  Console con;
  std::unique_ptr<Endpoint> a, b;
};

TEST_F(Capture, DropsPassesAndAllGoToPcapFilesTcpdumpReads) {
  ASSERT_TRUE(load("* in", kDropNineRewriteRest).ok());
  Reply r = con.cmd("netcpu/capture * in drop " + file("drop.pcap"));
  ASSERT_TRUE(r.ok()) << r.text();
  EXPECT_NE(r.text().find("capturing drop frames of * in to " + file("drop.pcap")),
            std::string::npos)
      << r.text();
  EXPECT_EQ(send_both(10), 10u) << "capturing changes no verdict";
  // Any command puts what is buffered into the file first.
  r = con.cmd_ok("netcpu/capture * in");
  EXPECT_NE(r.text().find("* in: drop to " + file("drop.pcap") + ": 10 frames, " +
                          std::to_string(24 + 10 * (16 + 60)) + " bytes, on"),
            std::string::npos)
      << r.text();
  auto lines = tcpdump_lines(file("drop.pcap"));
  EXPECT_EQ(lines.size(), 10u) << joined(lines);
  EXPECT_EQ(count_with(lines, "IP 10.0.0.1.40000 > 10.0.0.2.9: UDP, length"), 10u) << joined(lines);
  r = con.cmd("netcpu/capture * in off");
  ASSERT_TRUE(r.ok()) << r.text();
  EXPECT_NE(r.text().find("stopped by netcpu/capture off"), std::string::npos) << r.text();
  EXPECT_EQ(con.cmd_ok("netcpu/capture").data, std::vector<std::string>{"no captures"});

  // Passed frames as they left the program: rewritten, TTL 7.
  ASSERT_TRUE(con.cmd("netcpu/capture * in pass " + file("pass.pcap")).ok());
  EXPECT_EQ(send_both(4), 4u);
  ASSERT_TRUE(con.cmd("netcpu/capture * in off").ok());
  lines = tcpdump_lines(file("pass.pcap"), "-v");
  EXPECT_EQ(count_with(lines, "ttl 7,"), 4u) << joined(lines);
  EXPECT_EQ(count_with(lines, ".9:"), 0u) << joined(lines);
  EXPECT_EQ(tcpdump_lines(file("pass.pcap"), "-q").size(), 4u);

  // all, bounded by COUNT: the capture stops itself and says so.
  ASSERT_TRUE(con.cmd("netcpu/capture * in all " + file("all.pcap") + " 5").ok());
  EXPECT_EQ(send_both(10), 10u);
  r = con.cmd_ok("netcpu/capture * in");
  EXPECT_NE(r.text().find("all to " + file("all.pcap") + ": 5 frames"), std::string::npos)
      << r.text();
  EXPECT_NE(r.text().find("done: 5 frames captured"), std::string::npos) << r.text();
  lines = tcpdump_lines(file("all.pcap"));
  ASSERT_EQ(lines.size(), 5u) << joined(lines);
  EXPECT_EQ(count_with(lines, ".9: UDP"), 3u) << joined(lines);
  EXPECT_EQ(count_with(lines, ".7: UDP"), 2u) << joined(lines);

  // Bounded by SIZE: the file never grows past it.
  ASSERT_TRUE(con.cmd("netcpu/capture * in all " + file("size.pcap") + " 1k").ok());
  EXPECT_EQ(send_both(20), 20u);
  r = con.cmd_ok("netcpu/capture * in");
  EXPECT_NE(r.text().find("done: the next frame would take the file past 1024 bytes"),
            std::string::npos)
      << r.text();
  EXPECT_EQ(tcpdump_lines(file("size.pcap")).size(), 13u);  // 24 + 13 * 76 = 1012, + 76 > 1024
  EXPECT_EQ(std::filesystem::file_size(file("size.pcap")), 1012u);
}

// On the switch's shortest path too: a compiled program alone on "* in".
TEST_F(Capture, CompiledProgramsOnTheDirectPathAreCapturedToo) {
  ASSERT_TRUE(load("* in", ".text:\n    bne l4.dport, 9, ok\n    drop\nok:\n    pass\n").ok());
  ASSERT_EQ(con.cmd_ok("netcpu/show * in").data.at(0).find("# runs as native code"), 0u);
  ASSERT_TRUE(con.cmd("netcpu/capture * in all " + file("native.pcap")).ok());
  EXPECT_EQ(send_both(6), 6u);
  ASSERT_TRUE(con.cmd("netcpu/capture * in off").ok());
  auto lines = tcpdump_lines(file("native.pcap"));
  EXPECT_EQ(count_with(lines, ".9: UDP"), 6u) << joined(lines);
  EXPECT_EQ(count_with(lines, ".7: UDP"), 6u) << joined(lines);
}

TEST_F(Capture, BadFilesAreRefusedWithTheReasonAndLoseNothing) {
  ASSERT_TRUE(load("* in", kDropNineRewriteRest).ok());
  std::filesystem::create_directory(file("dir"));
  Reply r = con.cmd("netcpu/capture * in drop " + file("dir"));
  EXPECT_EQ(r.code, EISDIR) << r.text();
  EXPECT_NE(r.text().find("capture file " + file("dir") + ": Is a directory; nothing captured"),
            std::string::npos)
      << r.text();
  r = con.cmd("netcpu/capture * in drop /sys/netcpu-test.pcap");
  EXPECT_EQ(r.code, EACCES) << r.text();
  r = con.cmd("netcpu/capture * in drop " + file("no/such/dir.pcap"));
  EXPECT_EQ(r.code, ENOENT) << r.text();
  // A program named by mistake stays as it was.
  const std::string program = read_file(file("prog.ncpu"));
  r = con.cmd("netcpu/capture * in drop " + file("prog.ncpu"));
  EXPECT_EQ(r.code, EEXIST) << r.text();
  EXPECT_NE(r.text().find("not a capture file"), std::string::npos) << r.text();
  EXPECT_EQ(read_file(file("prog.ncpu")), program);
  // A full disk from the start: the header cannot be written.
  r = con.cmd("netcpu/capture * in drop /dev/full");
  EXPECT_NE(r.code, 0) << r.text();
  EXPECT_NE(r.text().find("No space left on device"), std::string::npos) << r.text();
  for (const char* bad : {"netcpu/capture * in keep x.pcap", "netcpu/capture * in drop",
                          "netcpu/capture * in drop x.pcap 0", "netcpu/capture * in drop x.pcap 5q",
                          "netcpu/capture * in drop x.pcap 3 4", "netcpu/capture * in off now"}) {
    r = con.cmd(bad);
    EXPECT_EQ(r.code, EINVAL) << bad << ": " << r.text();
  }
  EXPECT_EQ(con.cmd_ok("netcpu/capture").data, std::vector<std::string>{"no captures"});
  // One capture per point, and per file.
  ASSERT_TRUE(con.cmd("netcpu/capture * in drop " + file("one.pcap")).ok());
  EXPECT_EQ(con.cmd("netcpu/capture * in pass " + file("two.pcap")).code, EBUSY);
  r = con.cmd("netcpu/capture 2 in pass " + file("one.pcap"));
  EXPECT_EQ(r.code, EBUSY) << r.text();
  EXPECT_EQ(send_both(3), 3u) << "the frames went on through it all";
}

// A file size limit (a full disk, as far as the writer can tell) stops the
// capture with the reason, shown by the consoles; the switch and its frames
// go on.
TEST_F(Capture, AWriteErrorStopsTheCaptureAndIsReportedNeverACrash) {
  ASSERT_TRUE(load("* in", kDropNineRewriteRest).ok());
  ASSERT_TRUE(con.cmd("netcpu/capture * in all " + file("big.pcap")).ok());
  // The header is written: from now on the switch may write 1000 bytes a file.
  rlimit limit{1000, 1000};
  ASSERT_EQ(prlimit(sw.pid(), RLIMIT_FSIZE, &limit, nullptr), 0) << strerror(errno);
  EXPECT_EQ(send_both(20), 20u);
  Reply r = con.cmd_ok("netcpu/capture * in");
  EXPECT_NE(r.text().find("stopped: write error: File too large"), std::string::npos) << r.text();
  EXPECT_NE(con.cmd_ok("netcpu/show * in").text().find("stopped: write error: File too large"),
            std::string::npos);
  EXPECT_EQ(send_both(5), 5u);
  ASSERT_TRUE(sw.alive()) << sw.exit_description();
  // What was written before the limit reads back.
  auto lines = tcpdump_lines(file("big.pcap"));
  EXPECT_GE(count_with(lines, "UDP, length"), 10u) << joined(lines);
  r = con.cmd("netcpu/capture * in off");
  EXPECT_EQ(r.code, EIO) << r.text();
}

// plugin/del with a capture on: the file is flushed and closed, every frame
// in it, and the switch's log says where it is.
TEST_F(Capture, PluginDelClosesACaptureLeftOnWithEveryFrame) {
  ASSERT_TRUE(load("* in", kDropNineRewriteRest).ok());
  ASSERT_TRUE(con.cmd("netcpu/capture * in all " + file("left.pcap")).ok());
  EXPECT_EQ(send_both(7), 7u);
  ASSERT_TRUE(con.cmd("plugin/del netcpu").ok());
  auto lines = tcpdump_lines(file("left.pcap"));
  EXPECT_EQ(lines.size(), 14u) << joined(lines);
  EXPECT_NE(sw.log().find("netcpu: capture of * in: all to " + file("left.pcap") + ": 14 frames, " +
                          std::to_string(24 + 14 * 76) + " bytes, closed at plugin/del"),
            std::string::npos)
      << sw.log();
}

TEST_F(Capture, DropLinesSayWhatWasDroppedAsTcpdumpDoes) {
  ASSERT_TRUE(load("* in", kDropNineRewriteRest).ok());
  ASSERT_TRUE(con.cmd_ok("debug/add netcpu/drop").ok());
  ASSERT_TRUE(con.cmd("netcpu/capture * in drop " + file("d.pcap")).ok());
  send_both(1);
  auto line = con.wait_debug(
      [](const std::string& l) { return l.find("netcpu/drop") != std::string::npos; });
  ASSERT_TRUE(line);
  ASSERT_TRUE(con.cmd("netcpu/capture * in off").ok());
  auto dumped = tcpdump_lines(file("d.pcap"));
  ASSERT_EQ(dumped.size(), 1u);
  EXPECT_NE(
      line->find("port " + std::to_string(a->port()) + " in: prog dropped 60 bytes: " + dumped[0]),
      std::string::npos)
      << *line << "\ntcpdump: " << dumped[0];
}

}  // namespace
}  // namespace netcpu::test
