#include "netcpu/file.h"

#include <cerrno>
#include <cstdio>
#include <memory>

namespace netcpu {

std::optional<std::vector<uint8_t>> read_whole_file(const std::string& path, FileError* why) {
  errno = 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    *why = {errno ? errno : ENOENT, true};
    return std::nullopt;
  }
  std::vector<uint8_t> bytes;
  uint8_t buf[16384];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f.get())) > 0;)
    bytes.insert(bytes.end(), buf, buf + n);
  if (std::ferror(f.get())) {
    // fread sets errno on glibc; a stream error without one is still an I/O error.
    *why = {errno ? errno : EIO, false};
    return std::nullopt;
  }
  return bytes;
}

}  // namespace netcpu
