// stage, commit, rollback and discard on a test host: nothing runs until the
// commit, the commit swaps every staged point, rollback puts back what it
// replaced, and one connection never commits another's programs.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "control_host.h"
#include "netcpu/assembler.h"
#include "netcpu/base64.h"
#include "netcpu/bytecode.h"

namespace netcpu {
namespace {

using testing::ControlHost;

constexpr const char* kPass = ".text:\n    pass\n";
constexpr const char* kDrop = ".text:\n    drop\n";
const std::vector<uint8_t> kFrame(60);

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ControlStage, NothingRunsUntilTheCommitWhichSwapsEveryStagedPoint) {
  ControlHost host;
  ASSERT_EQ(host.load("0 in", kPass, "old.ncpu").error, 0);
  const auto old_loaded_at = host.at("0 in").loaded_at();

  ControlReply r = host.run("stage", "0 in load " + host.file("new.ncpu", kDrop));
  ASSERT_EQ(r.error, 0) << r.text;
  EXPECT_TRUE(has(r.text, "staged new (")) << r.text;
  EXPECT_TRUE(has(r.text, "instructions) for 0 in; netcpu/commit swaps it in")) << r.text;
  r = host.run("stage", "1 in filter udp");
  ASSERT_EQ(r.error, 0) << r.text;
  EXPECT_EQ(host.at("0 in").program()->program().name, "old");
  EXPECT_EQ(host.send("0 in", kFrame).verdict, Verdict::Pass);
  EXPECT_EQ(host.at("1 in").program(), nullptr);
  r = host.run("stage");
  EXPECT_TRUE(has(r.text, "2 staged for netcpu/commit:\n0 in: new (")) << r.text;
  EXPECT_TRUE(has(r.text, "\n1 in: <filter 'udp'> (")) << r.text;

  r = host.run("commit");
  ASSERT_EQ(r.error, 0) << r.text;
  EXPECT_EQ(r.text, "committed 2: new on 0 in, <filter 'udp'> on 1 in");
  EXPECT_EQ(host.send("0 in", kFrame).verdict, Verdict::Drop);
  EXPECT_EQ(host.at("0 in").origin(), host.dir / "new.ncpu");
  ASSERT_NE(host.at("1 in").program(), nullptr);
  EXPECT_EQ(host.at("1 in").origin(), "<filter 'udp'>");
  EXPECT_EQ(host.run("commit").error, ENOENT);  // nothing staged any more

  r = host.run("rollback");
  ASSERT_EQ(r.error, 0) << r.text;
  EXPECT_EQ(r.text, "rolled back 2: old on 0 in again, no program on 1 in again");
  EXPECT_EQ(host.send("0 in", kFrame).verdict, Verdict::Pass);
  EXPECT_EQ(host.at("0 in").origin(), host.dir / "old.ncpu");
  EXPECT_EQ(host.at("0 in").loaded_at(), old_loaded_at);
  EXPECT_EQ(host.at("1 in").program(), nullptr);
  EXPECT_EQ(host.run("rollback").error, ENOENT);
}

TEST(ControlStage, ARefusedProgramIsNotStagedAndChangesNothing) {
  ControlHost host;
  ASSERT_EQ(host.load("0 in", kPass, "old.ncpu").error, 0);
  ControlReply r = host.run("stage", "0 in load " + host.file("bad.ncpu", ".text:\n  frob\n"));
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_TRUE(has(r.text, "bad.ncpu:2:3: error: unknown instruction 'frob'")) << r.text;
  EXPECT_TRUE(has(r.text, "0 in keeps its program old")) << r.text;
  EXPECT_EQ(host.run("stage").text, "nothing staged");
  EXPECT_EQ(host.run("stage", "0 in filter tcp port").error, EINVAL);
  EXPECT_EQ(host.run("stage", "7 in unload").text, "no attach point 7 in");
  EXPECT_EQ(host.run("stage", "0 in frob x").text,
            "expected PORT in|out load FILE|put BASE64|filter EXPR|unload");
  r = host.run("commit");
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_EQ(host.at("0 in").program()->program().name, "old");
}

TEST(ControlStage, BytecodeArrivesInChunksAndAStagedUnloadRemovesAtCommit) {
  ControlHost host;
  ASSERT_EQ(host.load("0 out", kPass, "gone.ncpu").error, 0);
  Diagnostic d;
  auto p = assemble(kDrop, "inline.ncpu", &d);
  ASSERT_TRUE(p) << d.str();
  const std::string b64 = encode_base64(encode_bytecode(*p));
  const size_t half = b64.size() / 8 * 4;
  ControlReply r = host.run("stage", "1 in put " + b64.substr(0, half));
  EXPECT_EQ(r.text, "received " + std::to_string(half) +
                        " base64 characters for 1 in; send the rest with netcpu/stage 1 in put");
  // A plain put on the same point meanwhile is another program's.
  EXPECT_EQ(host.run("put", "1 in " + b64.substr(half)).error, EINVAL);
  r = host.run("stage", "1 in put " + b64.substr(half));
  ASSERT_EQ(r.error, 0) << r.text;
  EXPECT_TRUE(has(r.text, "staged inline (")) << r.text;
  r = host.run("stage", "0 out unload");
  EXPECT_EQ(r.text, "staged unload for 0 out; netcpu/commit removes its program");
  EXPECT_EQ(host.at("1 in").program(), nullptr);
  EXPECT_EQ(host.run("commit").text, "committed 2: inline on 1 in, no program on 0 out");
  EXPECT_EQ(host.send("1 in", kFrame).verdict, Verdict::Drop);
  EXPECT_EQ(host.at("0 out").program(), nullptr);
}

TEST(ControlStage, StagingAPointAgainReplacesWhatWasStagedForIt) {
  ControlHost host;
  ASSERT_EQ(host.run("stage", "0 in load " + host.file("a.ncpu", kPass)).error, 0);
  ASSERT_EQ(host.run("stage", "0 in load " + host.file("b.ncpu", kDrop)).error, 0);
  EXPECT_EQ(host.run("commit").text, "committed 1: b on 0 in");
}

TEST(ControlStage, EachConnectionCommitsOnlyWhatItStaged) {
  ControlHost host;
  ASSERT_EQ(host.control.execute("stage", "0 in load " + host.file("a.ncpu", kDrop), 1).error, 0);
  ASSERT_EQ(host.control.execute("stage", "1 in load " + host.file("b.ncpu", kDrop), 2).error, 0);
  EXPECT_EQ(host.control.execute("commit", "", 2).text, "committed 1: b on 1 in");
  EXPECT_EQ(host.at("0 in").program(), nullptr);
  // A client starts with discard: an earlier connection with its id may have left programs.
  EXPECT_EQ(host.control.execute("discard", "", 1).text, "discarded 1 staged");
  EXPECT_EQ(host.control.execute("commit", "", 1).error, ENOENT);
  EXPECT_EQ(host.at("0 in").program(), nullptr);
  EXPECT_EQ(host.control.execute("discard", "", 1).text, "discarded 0 staged");
}

TEST(ControlStage, AConnectionThatEndsLeavesNothingForTheNextWithItsId) {
  ControlHost host;
  ASSERT_EQ(host.control.execute("stage", "0 in load " + host.file("a.ncpu", kDrop), 5).error, 0);
  ASSERT_EQ(host.control.execute("commit", "", 5).error, 0);
  ASSERT_EQ(host.control.execute("stage", "1 in unload", 5).error, 0);
  ASSERT_EQ(host.control.execute("filter", "0 out udp or \\", 5).error, 0);
  host.control.end_session(5);
  EXPECT_EQ(host.control.execute("commit", "", 5).error, ENOENT);
  EXPECT_EQ(host.control.execute("rollback", "", 5).error, ENOENT);
  EXPECT_EQ(host.at("0 in").program()->program().name, "a");
  const ControlReply r = host.control.execute("filter", "0 out tcp", 5);
  ASSERT_EQ(r.error, 0) << r.text;
  EXPECT_EQ(host.at("0 out").origin(), "<filter 'tcp'>");
}

}  // namespace
}  // namespace netcpu
