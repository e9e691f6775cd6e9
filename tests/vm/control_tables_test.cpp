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

// Timed tables: the list shows the kind, the idle timeout and what was
// evicted and expired; dumps and gets show each entry's age. The runs and
// ticks here give their time (a host on the steady clock gives none).
TEST(ControlTables, TimedTablesShowTimeoutsCountersAndAges) {
  ControlHost host;
  ASSERT_EQ(host.load("0 in",
                      ".data:\ntable flows lru key 2 value 1 max 2 idle 1s\n"
                      "table seen hash key 2 max 8 idle 500ms\n.text:\n    pass\n")
                .error,
            0);
  AttachPoint& at = host.at("0 in");
  std::vector<uint8_t> frame(60);
  uint32_t len = 60;
  PacketMeta meta;
  meta.now_ms = 1000;
  at.run(frame.data(), len, len, meta);
  for (const char* set : {"0 in flows 1 5", "0 in flows 2 6", "0 in flows 3 7"})
    ASSERT_EQ(host.run("table/set", set).error, 0) << set;  // 3 evicts 1
  at.run_due_timers(1250, PacketMeta{});
  EXPECT_EQ(host.run("table/dump", "0 in flows").text, "2 6 age 250ms\n3 7 age 250ms\n2 entries");
  EXPECT_EQ(host.run("table/get", "0 in flows 3").text, "3 7 age 250ms");
  const auto dump = nlohmann::json::parse(host.run("table/dump", "-j 0 in flows").text);
  EXPECT_EQ(dump["kind"], "lru");
  EXPECT_EQ(dump["entries"][0]["age_ms"], 250);
  ASSERT_EQ(host.run("table/set", "0 in seen 9 1").error, 0);
  at.run_due_timers(1749, PacketMeta{});
  EXPECT_EQ(host.run("table/dump", "0 in seen").text, "9 1 age 499ms\n1 entry");
  at.run_due_timers(1750, PacketMeta{});  // idle 500 ms: the tick removes it
  EXPECT_EQ(host.run("table/dump", "0 in seen").text, "0 entries");
  const std::string text = host.run("table/list").text;
  EXPECT_EQ(
      text.rfind(
          "POINT      TABLE            KIND  KEY VALUE     MAX ENTRIES    IDLE  EVICTED  EXPIRED",
          0),
      0u)
      << text;
  EXPECT_NE(
      text.find("\n0 in       flows            lru     2     1       2       2      1s        1"
                "        0"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("\n0 in       seen             hash    2     8       8       0   500ms"
                      "        -        1"),
            std::string::npos)
      << text;
  const auto list = nlohmann::json::parse(host.run("table/list", "-j 0 in").text);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["kind"], "lru");
  EXPECT_EQ(list[0]["idle_ms"], 1000);
  EXPECT_EQ(list[0]["evicted"], 1);
  EXPECT_EQ(list[1]["expired"], 1);
  // Plain tables show no ages and no timeout.
  ASSERT_EQ(host.load("1 in", kTables).error, 0);
  ASSERT_EQ(host.run("table/set", "1 in open 22 1").error, 0);
  EXPECT_EQ(host.run("table/dump", "1 in open").text, "22 1\n1 entry");
  EXPECT_NE(host.run("table/list", "1 in").text.find("      16       1       -        -        -"),
            std::string::npos);
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
