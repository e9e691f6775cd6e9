// list, show and profile on a test host: what a user reads in them.
#include <gtest/gtest.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "control_host.h"

namespace netcpu {
namespace {

using testing::ControlHost;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(ControlInspect, ListShowsEveryPointWithAProgramAndItsCounters) {
  ControlHost host;
  EXPECT_EQ(lines(host.run("list").text).size(), 1u);  // the header alone
  ASSERT_EQ(host.load("0 in", ".text:\n    drop\n", "dropper.ncpu").error, 0);
  ASSERT_EQ(host.load("1 in", ".text:\n    pass\n", "passer.ncpu").error, 0);
  host.send("0 in", std::vector<uint8_t>(60));
  host.send("0 in", std::vector<uint8_t>(70));

  const auto all = lines(host.run("list").text);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].rfind("POINT      PROGRAM          HASH", 0), 0u) << all[0];
  EXPECT_EQ(all[1].rfind("0 in       dropper ", 0), 0u) << all[1];
  EXPECT_EQ(all[2].rfind("1 in       passer ", 0), 0u) << all[2];

  const auto one = lines(host.run("list", "1 in").text);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[1].rfind("1 in ", 0), 0u);
  EXPECT_EQ(host.run("list", "9 in").error, EINVAL);

  const auto json = nlohmann::json::parse(host.run("list", "-j 0 in").text);
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(json[0]["program"], "dropper");
  EXPECT_EQ(json[0]["packets"], 2);
  EXPECT_EQ(json[0]["dropped"], 2);
  EXPECT_EQ(json[0]["dropped_bytes"], 130);
  EXPECT_EQ(json[0]["capture"], nullptr);
}

TEST(ControlInspect, ShowDisassemblesWithWhereTheProgramCameFrom) {
  ControlHost host;
  ControlReply r = host.run("show", "0 in");
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_EQ(r.text, "0 in has no program");
  ASSERT_EQ(host.load("0 in", ".text:\n    pass\n", "shown.ncpu").error, 0);
  r = host.run("show", "0 in");
  ASSERT_EQ(r.error, 0) << r.text;
  const auto text = lines(r.text);
  ASSERT_GE(text.size(), 3u);
  EXPECT_EQ(text[0].rfind("# runs as ", 0), 0u) << text[0];
  EXPECT_NE(text[1].find(" from " + (host.dir / "shown.ncpu").string()), std::string::npos)
      << text[1];
  EXPECT_NE(r.text.find("pass"), std::string::npos);
  EXPECT_EQ(host.run("show", "0 in x").text, "expected [-j] PORT in|out");

  const auto json = nlohmann::json::parse(host.run("show", "-j 0 in").text);
  EXPECT_EQ(json["program"], "shown");
  EXPECT_EQ(json["profiling"], false);
}

TEST(ControlInspect, ProfileCountsHitsOnEveryProgramFromNowOn) {
  ControlHost host;
  EXPECT_EQ(host.run("profile").text, "profiling off");
  ASSERT_EQ(host.load("0 in", ".text:\n    pass\n").error, 0);
  EXPECT_EQ(host.run("profile", "1").text, "profiling on");
  EXPECT_TRUE(host.at("0 in").program()->profiling());
  ASSERT_EQ(host.load("0 out", ".text:\n    pass\n").error, 0);
  EXPECT_TRUE(host.at("0 out").program()->profiling());
  EXPECT_TRUE(host.run("show", "-j 0 in").text.find("\"profiling\":true") != std::string::npos);
  EXPECT_EQ(host.run("profile", "0").text, "profiling off");
  EXPECT_FALSE(host.at("0 in").program()->profiling());
  for (const char* bad : {"2", "on", "1 1"}) {
    const ControlReply r = host.run("profile", bad);
    EXPECT_EQ(r.error, EINVAL) << bad;
    EXPECT_EQ(r.text, "expected profile [0|1]");
  }
}

}  // namespace
}  // namespace netcpu
