// Counters an operator can act on, in the real vde_switch: bytes beside
// packets for pass and drop (compiled and interpreted programs alike), when
// and from what each program was loaded, JSON forms of list, show and the
// table commands for scripts, table/get, sorted table dumps with a count.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "switch_harness.h"

namespace netcpu::test {
namespace {

using nlohmann::json;

const Mac kMacA = packets::mac_addr("02:00:00:00:00:0a");
const Mac kMacB = packets::mac_addr("02:00:00:00:00:0b");

// netcpu/list's columns after the point (list_column's numbering).
constexpr int kPacketsCol = 3, kPassedCol = 4, kDroppedCol = 5, kPassBytesCol = 14,
              kDropBytesCol = 15, kCaptureCol = 16, kLoadedCol = 17, kFromCol = 18;

// Drops UDP to port 9; the table makes it an interpreted program.
const char* kWithTable = R"(.data:
table seen hash key 2 value 8 max 16
.text:
    tadd seen, l4.dport, 1
    bne l4.dport, 9, ok
    drop
ok:
    pass
)";
const char* kCompiled = ".text:\n    bne l4.dport, 9, ok\n    drop\nok:\n    pass\n";

class Counters : public ::testing::Test {
 protected:
  Counters() : sw(plugin_switch_options()), con(sw.mgmt_path()) {
    Reply r = con.cmd("plugin/add " NETCPU_PLUGIN);
    EXPECT_TRUE(r.ok()) << r.text() << "\n" << sw.log();
    a = std::make_unique<Endpoint>(sw.data_path(), con);
    b = std::make_unique<Endpoint>(sw.data_path(), con);
    b->send(numbered_frame(kMacA, kMacB, 999999));  // the switch learns B
    a->drain(100);
  }
  ~Counters() override { EXPECT_TRUE(sw.alive()) << sw.exit_description() << "\n" << sw.log(); }

  std::string write(const std::string& name, const std::string& text) {
    std::string path = sw.dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  // n frames of `size` bytes to port 9 (dropped) and m of `size` to port 7.
  void send(uint32_t dropped, uint32_t passed, size_t size) {
    for (uint32_t i = 0; i < dropped + passed; ++i) {
      Bytes f = numbered_frame(kMacB, kMacA, i, size);
      if (i >= dropped) f[37] = 7, f[40] = f[41] = 0;  // UDP port 7, no checksum
      a->send(f);
    }
    b->drain(200);
  }
  json list_json(const std::string& args = "") {
    Reply r = con.cmd_ok("netcpu/list -j" + args);
    EXPECT_EQ(r.data.size(), 1u) << r.text();
    return json::parse(r.data.at(0));
  }

  VdeSwitch sw;
  Console con;
  std::unique_ptr<Endpoint> a, b;
};

TEST_F(Counters, BytesBesidePacketsForPassAndDropCompiledOrNot) {
  // Profiling runs a program through the interpreter.
  for (const bool interpreted : {false, true}) {
    SCOPED_TRACE(interpreted ? "interpreted" : "compiled");
    const std::string file = write("fw.ncpu", interpreted ? kWithTable : kCompiled);
    ASSERT_TRUE(con.cmd_ok("netcpu/load * in " + file).ok());
    ASSERT_TRUE(con.cmd_ok(interpreted ? "netcpu/profile 1" : "netcpu/profile 0").ok());
    const std::string runs_as = con.cmd_ok("netcpu/show * in").data.at(0);
    EXPECT_EQ(runs_as.find(interpreted ? "# runs as interpreter" : "# runs as native"), 0u)
        << runs_as;
    send(5, 3, 60);
    send(2, 4, 200);
    EXPECT_EQ(list_column(con, "* in", kDroppedCol), 7);
    EXPECT_EQ(list_column(con, "* in", kPassedCol), 7);
    EXPECT_EQ(list_column(con, "* in", kDropBytesCol), 5 * 60 + 2 * 200);
    EXPECT_EQ(list_column(con, "* in", kPassBytesCol), 3 * 60 + 4 * 200);
    json j = list_json();
    ASSERT_EQ(j.size(), 1u) << j.dump();
    EXPECT_EQ(j[0]["point"], "* in");
    EXPECT_EQ(j[0]["packets"], 14);
    EXPECT_EQ(j[0]["dropped_bytes"], 700);
    EXPECT_EQ(j[0]["passed_bytes"], 980);
    EXPECT_EQ(j[0]["ns_per_packet"], nullptr) << "too few timed runs";
    // reset zeroes the bytes with the packets; a new load starts from zero.
    ASSERT_TRUE(con.cmd_ok("netcpu/reset * in").ok());
    EXPECT_EQ(list_column(con, "* in", kPassBytesCol), 0);
    EXPECT_EQ(list_column(con, "* in", kDropBytesCol), 0);
    send(1, 1, 100);
    EXPECT_EQ(list_column(con, "* in", kDropBytesCol), 100);
    ASSERT_TRUE(con.cmd_ok("netcpu/load * in " + file).ok());
    EXPECT_EQ(list_column(con, "* in", kDropBytesCol), 0);
    EXPECT_EQ(list_column(con, "* in", kPacketsCol), 0);
  }
}

TEST_F(Counters, ListAndShowSayWhenAndFromWhatEachProgramWasLoaded) {
  const auto before = std::chrono::system_clock::now();
  const std::string file = write("fw.ncpu", kCompiled);
  ASSERT_TRUE(con.cmd_ok("netcpu/load * in " + file).ok());
  ASSERT_TRUE(con.cmd_ok("netcpu/filter 2 out udp port 53").ok());
  EXPECT_EQ(list_field(con, "* in", kFromCol), file);
  EXPECT_EQ(list_field(con, "* in", kCaptureCol), "-");
  // The time, ISO 8601 in the switch's local time: this minute.
  const std::string loaded = list_field(con, "* in", kLoadedCol);
  std::tm tm{};
  ASSERT_NE(strptime(loaded.c_str(), "%Y-%m-%dT%H:%M:%S%z", &tm), nullptr) << loaded;
  const auto at = std::chrono::system_clock::from_time_t(std::mktime(&tm));
  EXPECT_LT(std::chrono::abs(at - before), std::chrono::minutes(2)) << loaded;

  json j = list_json(" 2 out");
  ASSERT_EQ(j.size(), 1u) << j.dump();
  EXPECT_EQ(j[0]["from"], "<filter 'udp port 53'>");
  EXPECT_EQ(j[0]["loaded"].get<std::string>().size(), loaded.size()) << j.dump();
  EXPECT_EQ(list_json(" 2").size(), 1u) << "one port, both directions";
  EXPECT_EQ(list_json().size(), 2u);

  Reply show = con.cmd_ok("netcpu/show * in");
  EXPECT_EQ(show.data.at(1), "# loaded " + loaded + " from " + file) << show.text();
  ASSERT_TRUE(con.cmd_ok("netcpu/capture * in drop " + sw.dir() + "/d.pcap 5").ok());
  send(3, 0, 60);
  EXPECT_EQ(list_field(con, "* in", kCaptureCol), "drop:3");
  Reply shown = con.cmd_ok("netcpu/show -j * in");
  json s = json::parse(shown.data.at(0));
  EXPECT_EQ(s["from"], file);
  EXPECT_EQ(s["loaded"], loaded);
  EXPECT_EQ(s["runs_as"].get<std::string>().find("native code"), 0u) << s.dump();
  EXPECT_EQ(s["capture"]["frames"], 3);
  EXPECT_EQ(s["capture"]["on"], true);
  ASSERT_GE(s["disassembly"].size(), 3u);
  EXPECT_EQ(s["disassembly"].size() + 3, show.data.size() + 1) << "the text's lines, as a list";
  send(3, 0, 60);
  EXPECT_EQ(list_field(con, "* in", kCaptureCol), "drop:5:done");
  ASSERT_TRUE(con.cmd_ok("netcpu/capture * in off").ok());
  EXPECT_EQ(list_field(con, "* in", kCaptureCol), "-");
  EXPECT_EQ(con.cmd("netcpu/show -j * in extra").code, EINVAL);
  EXPECT_EQ(con.cmd("netcpu/list -j 2 sideways").code, EINVAL);
}

TEST_F(Counters, TableGetAndSortedDumpsWithACountInTextAndJson) {
  const std::string file = write("tables.ncpu", R"(.data:
table ports hash key 2 value 8 max 64
table nets lpm4 value 4 max 16
table slots array value 4 max 8
.text:
    pass
)");
  ASSERT_TRUE(con.cmd_ok("netcpu/load * in " + file).ok());
  for (const char* set : {"ports 8080 3", "ports 22 1", "ports 443 2", "nets 10.0.0.0/8 1",
                          "nets 10.1.0.0/16 2", "nets 0.0.0.0/0 9", "slots 5 7", "slots 2 4"})
    ASSERT_TRUE(con.cmd_ok(std::string("netcpu/table/set * in ") + set).ok()) << set;
  Reply dump = con.cmd_ok("netcpu/table/dump * in ports");
  EXPECT_EQ(dump.data, (std::vector<std::string>{"22 1", "443 2", "8080 3", "3 entries"}));
  dump = con.cmd_ok("netcpu/table/dump * in nets");
  EXPECT_EQ(dump.data, (std::vector<std::string>{"0.0.0.0/0 9", "10.0.0.0/8 1", "10.1.0.0/16 2",
                                                 "3 entries"}));
  dump = con.cmd_ok("netcpu/table/dump * in slots");
  EXPECT_EQ(dump.data, (std::vector<std::string>{"2 4", "5 7", "2 entries"}));
  ASSERT_TRUE(con.cmd_ok("netcpu/table/del * in ports 443").ok());
  ASSERT_TRUE(con.cmd_ok("netcpu/table/del * in ports 22").ok());
  EXPECT_EQ(con.cmd_ok("netcpu/table/dump * in ports").data,
            (std::vector<std::string>{"8080 3", "1 entry"}));

  json j = json::parse(con.cmd_ok("netcpu/table/dump -j * in nets").data.at(0));
  EXPECT_EQ(j["count"], 3);
  EXPECT_EQ(j["kind"], "lpm4");
  EXPECT_EQ(j["entries"][1]["key"], "10.0.0.0/8");
  EXPECT_EQ(j["entries"][1]["value"], "1");

  // get: an exact key; in an LPM table an address finds its longest prefix.
  EXPECT_EQ(con.cmd_ok("netcpu/table/get * in ports 8080").data,
            std::vector<std::string>{"8080 3"});
  EXPECT_EQ(con.cmd_ok("netcpu/table/get * in nets 10.1.2.3").data,
            std::vector<std::string>{"10.1.0.0/16 2"});
  EXPECT_EQ(con.cmd_ok("netcpu/table/get * in nets 10.200.0.1").data,
            std::vector<std::string>{"10.0.0.0/8 1"});
  EXPECT_EQ(con.cmd_ok("netcpu/table/get * in nets 192.0.2.1").data,
            std::vector<std::string>{"0.0.0.0/0 9"});
  EXPECT_EQ(con.cmd_ok("netcpu/table/get * in nets 10.0.0.0/8").data,
            std::vector<std::string>{"10.0.0.0/8 1"});
  EXPECT_EQ(con.cmd_ok("netcpu/table/get * in slots 3").data, std::vector<std::string>{"3 0"});
  j = json::parse(con.cmd_ok("netcpu/table/get -j * in nets 10.1.2.3").data.at(0));
  EXPECT_EQ(j["lookup"], "10.1.2.3");
  EXPECT_EQ(j["key"], "10.1.0.0/16");
  EXPECT_EQ(j["value"], "2");
  Reply r = con.cmd("netcpu/table/get * in ports 22");
  EXPECT_EQ(r.code, ENOENT) << r.text();
  EXPECT_NE(r.text().find("no entry 22 in ports"), std::string::npos) << r.text();
  EXPECT_EQ(con.cmd("netcpu/table/get * in nets 10.0.0.0/12").code, ENOENT);
  EXPECT_EQ(con.cmd("netcpu/table/get * in nope 1").code, ENOENT);
  EXPECT_EQ(con.cmd("netcpu/table/get * in ports 70000").code, EINVAL);
  EXPECT_EQ(con.cmd("netcpu/table/get * in ports").code, EINVAL);
  EXPECT_EQ(con.cmd("netcpu/table/get 2 in ports 1").code, ENOENT) << "no program there";

  j = json::parse(con.cmd_ok("netcpu/table/list -j").data.at(0));
  ASSERT_EQ(j.size(), 3u) << j.dump();
  EXPECT_EQ(j[0]["table"], "ports");
  EXPECT_EQ(j[0]["entries"], 1);
  EXPECT_EQ(j[1]["max_entries"], 16);
}

}  // namespace
}  // namespace netcpu::test
