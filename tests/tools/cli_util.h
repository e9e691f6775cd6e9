// Running commands from the tools tests: the netcpu binary, tcpdump, the
// packet generator, with their exit status and output.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace netcpu::test {

struct Result {
  int code = -1;  // exit status, or 128 + signal
  std::string out, err;
};

// A directory for this test process's files.
inline std::filesystem::path scratch() {
  static std::filesystem::path dir = [] {
    auto d =
        std::filesystem::temp_directory_path() / ("netcpu-tools-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs a shell command, capturing its stdout and stderr.
inline Result sh(const std::string& cmd) {
  static int n = 0;
  std::filesystem::path out = scratch() / ("out" + std::to_string(n)),
                        err = scratch() / ("err" + std::to_string(n++));
  int st = std::system((cmd + " >" + out.string() + " 2>" + err.string()).c_str());
  Result r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace netcpu::test
