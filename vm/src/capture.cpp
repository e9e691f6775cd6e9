// A capture's state in words, and the capture a console's words ask for.
#include "netcpu/capture.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <utility>

#include "netcpu/vm.h"

namespace netcpu {

std::string Capture::status() const {
  std::string s = what + " to " + file + ": " + std::to_string(frames) + " frames, " +
                  std::to_string(sink ? sink->file_bytes() : file_bytes) + " bytes, ";
  if (!sink) return s + (failed ? "stopped: " : "") + stopped;
  s += "on (until ";
  if (max_frames) s += std::to_string(max_frames) + " frames or ";
  return s + std::to_string(max_bytes) + " bytes)";
}

namespace {

// COUNT (frames) or SIZE (bytes, with k, M or G: 1024, 1024^2, 1024^3), as
// `capture` takes its bounds: the number and whether it is a size; nullopt
// when the word is neither.
std::optional<std::pair<uint64_t, bool>> capture_bound(const std::string& word) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(word.c_str(), &end, 10);
  if (word.empty() || !std::isdigit(static_cast<unsigned char>(word[0])) || errno || n == 0)
    return std::nullopt;
  const std::string_view unit(end);
  if (unit.empty()) return std::pair<uint64_t, bool>{n, false};
  const std::string_view units = "kmg";
  const size_t power = unit.size() == 1 ? units.find(static_cast<char>(std::tolower(unit[0])))
                                        : std::string_view::npos;
  if (power == std::string_view::npos || n > (uint64_t{1} << 30)) return std::nullopt;
  return std::pair<uint64_t, bool>{n << (10 * (power + 1)), true};
}

}  // namespace

bool is_capture_bound(const std::string& word) { return capture_bound(word).has_value(); }

std::unique_ptr<Capture> make_capture(const std::string& what,
                                      const std::vector<std::string>& bounds, std::string* why) {
  auto c = std::make_unique<Capture>();
  c->what = what;
  if (what == "pass")
    c->verdicts = 1u << static_cast<unsigned>(Verdict::Pass);
  else if (what == "drop")
    c->verdicts = 1u << static_cast<unsigned>(Verdict::Drop);
  else if (what == "all")
    c->verdicts = 0xff;
  else
    return *why = "what to capture is pass, drop or all, not '" + what + "'", nullptr;
  c->max_bytes = kDefaultCaptureBytes;
  bool count_given = false, size_given = false;
  for (const std::string& word : bounds) {
    const auto bound = capture_bound(word);
    bool& given = bound && bound->second ? size_given : count_given;
    if (!bound || given)
      return *why = "'" + word +
                    "' is no bound: COUNT is a number of frames, SIZE a number of bytes ending in "
                    "k, M or G (at most one of each)",
             nullptr;
    given = true;
    (bound->second ? c->max_bytes : c->max_frames) = bound->first;
  }
  return c;
}
}  // namespace netcpu
