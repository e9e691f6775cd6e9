// What the netcpu fleet tests share (fleet_test.cpp, fleet_telnet_test.cpp):
// their programs, files in the test's scratch directory, the CLI, and the
// hash of what runs where.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_util.h"
#include "switch_harness.h"

namespace netcpu::test {

inline constexpr const char* kPassAll = ".text:\n    pass\n";
// Another program (its own hash), with a table.
inline constexpr const char* kWithTable =
    ".data:\ntable allowed hash key 2 value 1 max 64\n.text:\n    pass\n";
// What a switch port may run and an lwIPv6 hook refuses.
inline constexpr const char* kRedirects = ".text:\n    redirect 2\n";

inline std::string write(const std::string& name, const std::string& text) {
  const std::string path = (scratch() / name).string();
  std::ofstream(path) << text;
  return path;
}

inline std::string quoted(const std::string& s) { return "'" + s + "'"; }

inline Result netcpu(const std::string& args) { return sh(std::string(NETCPU_CLI) + " " + args); }

// The hash the consoles print for a program (netcpu check --json).
inline std::string hash_of(const std::string& file) {
  Result r = netcpu("check --json " + file);
  EXPECT_EQ(r.code, 0) << r.err;
  return nlohmann::json::parse(r.out).value("hash", "?");
}

// The hash of what runs at `point` on a console ("" when nothing does).
inline std::string hash_at(Console& console, const std::string& point) {
  for (const auto& p : nlohmann::json::parse(console.cmd_ok("netcpu/list -j").data.at(0)))
    if (p.at("point") == point) return p.at("hash");
  return "";
}

}  // namespace netcpu::test
