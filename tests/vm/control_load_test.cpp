// load, put, filter and unload on a test host: what they reply, and what
// runs on the point after them (the new program, or the old one kept).
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "control_host.h"
#include "netcpu/assembler.h"
#include "netcpu/base64.h"
#include "netcpu/bytecode.h"
#include "netcpu/load.h"

namespace netcpu {
namespace {

using testing::ControlHost;

constexpr const char* kPass = ".text:\n    pass\n";
constexpr const char* kDrop = ".text:\n    drop\n";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

TEST(ControlLoad, LoadsASourceFileAndReplacesThePointsProgram) {
  ControlHost host;
  ControlReply r = host.load("0 in", kPass, "first.ncpu");
  ASSERT_EQ(r.error, 0) << r.text;
  EXPECT_TRUE(starts_with(r.text, "loaded first (")) << r.text;
  EXPECT_NE(r.text.find(" instructions) on 0 in"), std::string::npos) << r.text;
  EXPECT_EQ(host.at("0 in").origin(), host.dir / "first.ncpu");
  EXPECT_EQ(host.send("0 in", std::vector<uint8_t>(60)).verdict, Verdict::Pass);

  r = host.load("0 in", kDrop, "second.ncpu");
  ASSERT_EQ(r.error, 0) << r.text;
  EXPECT_NE(r.text.find(", replacing its program"), std::string::npos) << r.text;
  EXPECT_EQ(host.at("0 in").program()->program().name, "second");
  EXPECT_EQ(host.send("0 in", std::vector<uint8_t>(60)).verdict, Verdict::Drop);
  EXPECT_EQ(host.at("0 out").program(), nullptr);
}

TEST(ControlLoad, ARejectedProgramLeavesThePointAsItWas) {
  ControlHost host;
  ControlReply r = host.load("0 in", ".text:\n    frobnicate\n", "bad.ncpu");
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_NE(r.text.find("unknown instruction 'frobnicate'"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("0 in still has no program"), std::string::npos) << r.text;

  ASSERT_EQ(host.load("0 in", kPass, "good.ncpu").error, 0);
  r = host.load("0 in", ".text:\n    frobnicate\n", "bad.ncpu");
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_NE(r.text.find("0 in keeps its program good"), std::string::npos) << r.text;
  EXPECT_EQ(host.at("0 in").program()->program().name, "good");
}

TEST(ControlLoad, LoadRefusesMissingFilesAndBadPoints) {
  ControlHost host;
  ControlReply r = host.run("load", "0 in /nonexistent/x.ncpu");
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_EQ(r.text, "/nonexistent/x.ncpu: No such file or directory\n0 in still has no program");
  r = host.run("load", "7 in " + host.file("p.ncpu", kPass));
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_EQ(r.text, "no attach point 7 in");
  EXPECT_EQ(host.run("load", "0").text, "expected PORT in|out");
  r = host.run("load", "0 in a b");
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_EQ(r.text, "expected PORT in|out FILE (one file name: quote a name that has blanks)");
  // A relative name is the process's working directory's.
  r = host.run("load", "0 in no-such-file.ncpu");
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_NE(r.text.find("(relative to this process's working directory "), std::string::npos)
      << r.text;
}

TEST(ControlLoad, LoadTakesAQuotedNameWithBlanks) {
  ControlHost host;
  const std::string path = host.file("with blank.ncpu", kPass);
  const ControlReply r = host.run("load", "0 out '" + path + "'");
  EXPECT_EQ(r.error, 0) << r.text;
  EXPECT_NE(host.at("0 out").program(), nullptr);
}

TEST(ControlLoad, PutLoadsBytecodeGivenInChunks) {
  ControlHost host;
  Diagnostic d;
  auto p = assemble(kDrop, "inline.ncpu", &d);
  ASSERT_TRUE(p) << d.str();
  const std::string b64 = encode_base64(encode_bytecode(*p));
  ASSERT_GT(b64.size(), 8u);
  const size_t half = b64.size() / 8 * 4;
  ControlReply r = host.run("put", "1 in " + b64.substr(0, half));
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.text, "received " + std::to_string(half) +
                        " base64 characters for 1 in; send the rest with netcpu/put");
  EXPECT_EQ(host.at("1 in").program(), nullptr);
  r = host.run("put", "1 in " + b64.substr(half));
  ASSERT_EQ(r.error, 0) << r.text;
  EXPECT_TRUE(starts_with(r.text, "loaded inline (")) << r.text;
  EXPECT_EQ(host.at("1 in").origin(), "<put>");

  r = host.run("put", "1 in bm90IGJ5dGVjb2Rl");
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_EQ(r.text,
            "not NetCPU bytecode: a program's first chunk starts with TkNQVQ (base64 of NCPU)");
  EXPECT_EQ(host.run("put", "1 in TkNQVQ!!").text, "not base64");
  EXPECT_EQ(host.run("put", "1 in").text, "expected PORT in|out BASE64");
  EXPECT_EQ(host.at("1 in").program()->program().name, "inline");
}

// An Ethernet frame with an IPv4 header of protocol `proto` and 8 bytes of
// its transport header.
std::vector<uint8_t> ipv4_frame(uint8_t proto) {
  std::vector<uint8_t> f(14 + 20 + 8);
  f[12] = 0x08;
  f[14] = 0x45;
  f[17] = 28;
  f[22] = 64;
  f[23] = proto;
  return f;
}

TEST(ControlLoad, FilterCompilesTheRestOfTheLineAsTyped) {
  if (!kCoreCompilesFilters) GTEST_SKIP() << "this core was built without libpcap";
  ControlHost host;
  ControlReply r = host.run("filter", "0 in 'udp'");
  ASSERT_EQ(r.error, 0) << r.text;
  EXPECT_EQ(host.at("0 in").program()->program().name, "<filter 'udp'>");
  EXPECT_EQ(host.at("0 in").origin(), "<filter 'udp'>");
  EXPECT_EQ(host.send("0 in", ipv4_frame(17)).verdict, Verdict::Pass);
  EXPECT_EQ(host.send("0 in", ipv4_frame(6)).verdict, Verdict::Drop);

  r = host.run("filter", "0 in tcp and");
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_TRUE(starts_with(r.text, "filter 'tcp and': ")) << r.text;
  EXPECT_NE(r.text.find("syntax error"), std::string::npos) << r.text;  // libpcap's words
  EXPECT_TRUE(r.text.ends_with("\n0 in keeps its program <filter 'udp'>")) << r.text;
  EXPECT_EQ(host.run("filter", "0 in").text, "expected PORT in|out EXPR");
}

TEST(ControlLoad, UnloadTakesTheProgramOff) {
  ControlHost host;
  ASSERT_EQ(host.load("0 out", kPass, "gone.ncpu").error, 0);
  ControlReply r = host.run("unload", "0 out");
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.text, "unloaded gone from 0 out");
  EXPECT_EQ(host.at("0 out").program(), nullptr);
  r = host.run("unload", "0 out");
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_EQ(r.text, "0 out has no program");
  EXPECT_EQ(host.run("unload", "0 out extra").text, "expected PORT in|out");
}

}  // namespace
}  // namespace netcpu
