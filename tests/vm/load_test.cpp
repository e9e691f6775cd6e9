// The core's load entry (netcpu/load.h) and file reader (netcpu/file.h):
// source and bytecode told apart, and failures worded as every host shows
// them.
#include "netcpu/load.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "netcpu/bytecode.h"
#include "netcpu/file.h"

namespace netcpu {
namespace {

std::vector<uint8_t> bytes_of(std::string_view text) { return {text.begin(), text.end()}; }

constexpr std::string_view kArpOnly =
    ".text:\n    beq eth.type, ETH_ARP, accept\n    drop\naccept:\n    pass\n";

TEST(Load, SourceAndBytecodeGiveTheSameProgram) {
  LoadError error;
  auto source = program_from_bytes(bytes_of(kArpOnly), "arp.ncpu", &error);
  ASSERT_TRUE(source) << error.text;
  EXPECT_EQ(source->source_file, "arp.ncpu");
  Program stripped = *source;
  stripped.source_file.clear();
  auto bytecode = program_from_bytes(encode_bytecode(stripped), "arp.ncpub", &error);
  ASSERT_TRUE(bytecode) << error.text;
  EXPECT_EQ(bytecode->code.size(), source->code.size());
  EXPECT_EQ(bytecode->source_file, "arp.ncpub");  // bytecode without a source names its file
}

TEST(Load, CorruptBytecodeIsBadInputAndBadSourceIsRefused) {
  LoadError error;
  std::vector<uint8_t> bytecode =
      encode_bytecode(*program_from_bytes(bytes_of(kArpOnly), "a", &error));
  bytecode.resize(bytecode.size() / 2);
  EXPECT_FALSE(program_from_bytes(bytecode, "cut.ncpub", &error));
  EXPECT_TRUE(error.bad_input);
  EXPECT_EQ(error.text.rfind("cut.ncpub: corrupt bytecode: ", 0), 0u) << error.text;

  EXPECT_FALSE(program_from_bytes(bytes_of(".text:\n    frobnicate\n"), "bad.ncpu", &error));
  EXPECT_FALSE(error.bad_input);
  EXPECT_EQ(error.text.rfind("bad.ncpu:2:", 0), 0u) << error.text;
}

TEST(Load, InstantiateVerifiesAndSaysWhy) {
  LoadError error;
  auto p = program_from_bytes(bytes_of(kArpOnly), "arp.ncpu", &error);
  ASSERT_TRUE(p);
  EXPECT_TRUE(instantiate(*p, HostCaps{}, Limits{}, nullptr, "arp.ncpu", &error)) << error.text;
  auto emits = program_from_bytes(bytes_of(".text:\n  end\n.timer t 10ms:\n  emit 1\n  end\n"),
                                  "emits.ncpu", &error);
  ASSERT_TRUE(emits) << error.text;
  HostCaps no_emit;
  no_emit.emit = false;
  EXPECT_FALSE(instantiate(*emits, no_emit, Limits{}, nullptr, "emits.ncpu", &error));
  EXPECT_FALSE(error.bad_input);
  EXPECT_EQ(error.text.rfind("emits.ncpu:4:3: error: ", 0), 0u) << error.text;
}

TEST(FileReader, ReadsWholeFilesAndSaysWhyNot) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("netcpu-load-test-" + std::to_string(getpid())))
          .string();
  std::vector<uint8_t> big(100000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_TRUE(f);
  std::fwrite(big.data(), 1, big.size(), f);
  std::fclose(f);
  FileError why;
  auto read = read_whole_file(path, &why);
  std::remove(path.c_str());
  ASSERT_TRUE(read);
  EXPECT_EQ(*read, big);

  EXPECT_FALSE(read_whole_file(path, &why));
  EXPECT_EQ(why.error, ENOENT);
  EXPECT_TRUE(why.at_open);

  EXPECT_FALSE(read_whole_file(std::filesystem::temp_directory_path().string(), &why));
  EXPECT_EQ(why.error, EISDIR);
  EXPECT_FALSE(why.at_open);
}

}  // namespace
}  // namespace netcpu
