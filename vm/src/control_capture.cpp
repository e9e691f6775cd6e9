// netcpu/capture, and the captures' lines a host shows when it goes away.
#include <cerrno>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "console_words.h"
#include "netcpu/control.h"

namespace netcpu {

std::vector<std::string> Control::capture_lines() {
  std::vector<std::string> lines;
  opt_.for_each([&](AttachPoint& at) {
    if (at.capture()) lines.push_back(at.name() + ": " + at.capture()->status());
  });
  return lines;
}

std::vector<std::string> Control::stop_captures(const std::string& why) {
  std::vector<std::string> lines;
  opt_.for_each([&](AttachPoint& at) {
    if (!at.capturing()) return;
    auto c = at.stop_capture(why);
    lines.push_back(at.name() + ": " + c->status());
  });
  return lines;
}

// netcpu/capture [POINT [pass|drop|all FILE [COUNT] [SIZE] | off]]: a
// capture belongs to the point, not to its program, and goes on across
// loads. One file per capture; a file that is there and is no capture (a
// program, say, named by mistake) is the sink's to refuse.
ControlReply Control::cmd_capture(std::string_view args) {
  const std::vector<std::string> w = split_words(args);
  const std::string syntax =
      "expected capture [" + opt_.point_syntax + " [pass|drop|all FILE [COUNT] [SIZE]|off]]";
  if (w.empty()) {
    std::string text;
    for (const std::string& line : capture_lines()) text += (text.empty() ? "" : "\n") + line;
    return {0, text.empty() ? "no captures" : text};
  }
  ControlReply err;
  size_t used;
  AttachPoint* at = point(w, used, err);
  if (!at) return err;
  if (w.size() == used) {
    if (!at->capture()) return {0, at->name() + ": no capture"};
    return {0, at->name() + ": " + at->capture()->status()};
  }
  if (w[used] == "off") {
    if (w.size() != used + 1) return fail(EINVAL, syntax);
    auto c = at->stop_capture("stopped by netcpu/capture off");
    if (!c) return fail(ENOENT, at->name() + " has no capture");
    return {c->failed ? EIO : 0, at->name() + ": " + c->status()};
  }
  // FILE, quoted when it has blanks, then the bounds.
  std::string_view rest = after_words(args, used + 1);
  std::string file;
  if (!rest.empty() && (rest.front() == '"' || rest.front() == '\'')) {
    const size_t close = rest.find(rest.front(), 1);
    if (close == std::string_view::npos) return fail(EINVAL, syntax + ": unmatched quote");
    file = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
  } else {
    file = rest.substr(0, rest.find_first_of(" \t"));
    rest = rest.substr(file.size());
  }
  if (file.empty()) return fail(EINVAL, syntax);
  std::string why;
  auto c = make_capture(w[used], split_words(rest), &why);
  if (!c) return fail(EINVAL, syntax + ": " + why);
  std::string relative;
  c->file = host_path(file, &relative);
  std::string busy;
  opt_.for_each([&](AttachPoint& other) {
    if (other.capturing() && other.capture()->file == c->file) busy = other.name();
  });
  if (at->capturing())
    return fail(EBUSY, at->name() + " is capturing already (" + at->capture()->status() +
                           "): netcpu/capture " + at->name() + " off first");
  if (!busy.empty())
    return fail(EBUSY, c->file + " is the capture file of " + busy + ": nothing captured");
  int error = EIO;
  c->sink = opt_.open_capture(c->file, &error, &why);
  if (!c->sink)
    return fail(error, "capture file " + c->file + relative + ": " + why + "; nothing captured");
  std::string text = "capturing " + c->what + " frames of " + at->name() + " to " + c->file;
  if (!at->program()) text += " (no program there yet: its frames are captured once one runs)";
  at->start_capture(std::move(c));
  return {0, text + "\n" + at->name() + ": " + at->capture()->status()};
}
}  // namespace netcpu
