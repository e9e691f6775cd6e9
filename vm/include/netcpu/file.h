// Reading a whole file into memory: programs, bytecode and classic BPF text
// are small, and every loader wants their bytes at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace netcpu {

// Why a whole-file read failed: the errno value, and whether the file could
// not be opened at all (hosts word the two differently).
struct FileError {
  int error = 0;
  bool at_open = false;
};

// The bytes of the file at `path`, or nullopt with *why set.
std::optional<std::vector<uint8_t>> read_whole_file(const std::string& path, FileError* why);

}  // namespace netcpu
