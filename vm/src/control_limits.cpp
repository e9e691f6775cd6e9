// The commands that tune every program at once: budget, onabort, and reset
// (their counters).
#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "console_words.h"
#include "netcpu/control.h"

namespace netcpu {
namespace {

// The limits later programs get, and every program's there is now.
template <typename Change>
void change_limits(Control::Options& opt, Change change) {
  change(opt.limits);
  opt.for_each([&](AttachPoint& at) {
    if (Instance* vm = at.program()) {
      Limits l = vm->limits();
      change(l);
      vm->set_limits(l);
    }
  });
}

}  // namespace

ControlReply Control::cmd_budget(const std::vector<std::string>& w) {
  if (w.empty())
    return {0, "budget " + std::to_string(opt_.limits.budget) + " instructions per packet"};
  char* end = nullptr;
  unsigned long long n = w.size() == 1 ? std::strtoull(w[0].c_str(), &end, 10) : 0;
  if (w.size() != 1 || !end || *end || n == 0 || n > 100000000ull)
    return fail(EINVAL, "expected budget [N] (1..100000000 instructions per packet)");
  change_limits(opt_, [n](Limits& l) { l.budget = n; });
  return {0, "budget " + std::to_string(n) + " instructions per packet"};
}

ControlReply Control::cmd_onabort(const std::vector<std::string>& w) {
  if (w.empty())
    return {0, std::string("stopped runs ") +
                   (opt_.limits.on_abort == Verdict::Drop ? "drop" : "pass")};
  if (w.size() != 1 || (w[0] != "pass" && w[0] != "drop"))
    return fail(EINVAL, "expected onabort [pass|drop]");
  Verdict v = w[0] == "pass" ? Verdict::Pass : Verdict::Drop;
  change_limits(opt_, [v](Limits& l) { l.on_abort = v; });
  return {0, "stopped runs " + w[0]};
}

ControlReply Control::cmd_reset(const std::vector<std::string>& w) {
  ControlReply err;
  auto points = selection(w, err);
  if (!points) return err;
  std::string names;
  for (AttachPoint* at : *points) {
    Instance* vm = at->program();
    if (!vm) continue;
    vm->stats().reset();
    at->reset_timing();
    at->reset_bytes();
    if (vm->profiling()) vm->set_profiling(false), vm->set_profiling(true);
    names += (names.empty() ? "" : ", ") + at->name();
  }
  if (names.empty() && w.empty()) return {0, "no programs: nothing to reset"};
  if (names.empty()) return fail(ENOENT, "no program there: nothing reset");
  return {0, "counters reset: " + names};
}
}  // namespace netcpu
