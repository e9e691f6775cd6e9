// table/list, table/dump, table/get, table/set and table/del on a test host.
#include <gtest/gtest.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <string>

#include "control_host.h"

namespace netcpu {
namespace {

using testing::ControlHost;

constexpr const char* kTables =
    ".data:\ntable open hash key 2 value 1 max 16\ntable nets lpm4 value 1 max 16\n"
    ".text:\n    pass\n";

TEST(ControlTables, SetGetDumpAndDeleteEntries) {
  ControlHost host;
  ASSERT_EQ(host.load("0 in", kTables, "acl.ncpu").error, 0);
  ControlReply r = host.run("table/set", "0 in open 22 1");
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.text, "set 22 1");
  ASSERT_EQ(host.run("table/set", "0 in open 9 2").error, 0);
  EXPECT_EQ(host.run("table/dump", "0 in open").text, "9 2\n22 1\n2 entries");
  EXPECT_EQ(host.run("table/get", "0 in open 22").text, "22 1");
  r = host.run("table/get", "0 in open 23");
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_EQ(r.text, "no entry 23 in open");

  r = host.run("table/del", "0 in open 22");
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.text, "deleted 22");
  EXPECT_EQ(host.run("table/dump", "0 in open").text, "9 2\n1 entry");
  EXPECT_EQ(host.run("table/del", "0 in open 22").error, ENOENT);

  const auto json = nlohmann::json::parse(host.run("table/dump", "-j 0 in open").text);
  EXPECT_EQ(json["table"], "open");
  EXPECT_EQ(json["count"], 1);
}

TEST(ControlTables, GetFindsTheLongestPrefixThatHoldsAnAddress) {
  ControlHost host;
  ASSERT_EQ(host.load("0 in", kTables).error, 0);
  ASSERT_EQ(host.run("table/set", "0 in nets 10.0.0.0/8 1").error, 0);
  ASSERT_EQ(host.run("table/set", "0 in nets 10.1.0.0/16 2").error, 0);
  EXPECT_EQ(host.run("table/get", "0 in nets 10.1.2.3").text, "10.1.0.0/16 2");
  EXPECT_EQ(host.run("table/get", "0 in nets 10.2.0.1").text, "10.0.0.0/8 1");
  EXPECT_EQ(host.run("table/get", "0 in nets 10.0.0.0/8").text, "10.0.0.0/8 1");
  EXPECT_EQ(host.run("table/get", "0 in nets 11.0.0.1").error, ENOENT);
}

TEST(ControlTables, ListShowsTheTablesOfEveryProgram) {
  ControlHost host;
  ASSERT_EQ(host.load("0 in", kTables).error, 0);
  ASSERT_EQ(host.load("1 in", ".data:\ntable other array value 4 max 4\n.text:\n    pass\n").error,
            0);
  ASSERT_EQ(host.run("table/set", "0 in open 1 1").error, 0);
  const std::string text = host.run("table/list").text;
  EXPECT_EQ(text.rfind("POINT      TABLE            KIND  KEY VALUE     MAX ENTRIES", 0), 0u);
  EXPECT_NE(text.find("\n0 in       open             hash    2     1      16       1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\n0 in       nets "), std::string::npos) << text;
  EXPECT_NE(text.find("\n1 in       other "), std::string::npos) << text;
  const auto json = nlohmann::json::parse(host.run("table/list", "-j 1 in").text);
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["table"], "other");
}

TEST(ControlTables, BadArgumentsAreRefusedAndChangeNothing) {
  ControlHost host;
  EXPECT_EQ(host.run("table/dump", "0 in open").text, "0 in has no program");
  ASSERT_EQ(host.load("0 in", kTables).error, 0);
  ControlReply r = host.run("table/set", "0 in open 99999 1");  // does not fit 2 bytes
  EXPECT_EQ(r.error, EINVAL);
  r = host.run("table/set", "0 in shut 1 1");
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_EQ(r.text, "0 in has no table shut");
  EXPECT_EQ(host.run("table/set", "0 in open 1").text, "expected PORT in|out TABLE KEY VALUE");
  EXPECT_EQ(host.run("table/del", "0 in open").text, "expected PORT in|out TABLE KEY");
  EXPECT_EQ(host.run("table/dump", "0 in").text, "expected PORT in|out TABLE");
  EXPECT_EQ(host.run("table/get", "0 in open").text, "expected PORT in|out TABLE KEY");
  EXPECT_EQ(host.run("table/dump", "0 in open").text, "0 entries");
}

}  // namespace
}  // namespace netcpu
