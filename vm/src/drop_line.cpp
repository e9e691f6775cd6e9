#include "netcpu/drop_line.h"

#include "netcpu/packet_summary.h"

namespace netcpu {

std::string drop_line(std::string_view where, const Instance& vm, const RunResult& r,
                      std::span<const uint8_t> frame) {
  std::string line = std::string(where) + ": " + vm.program().name + " dropped " +
                     std::to_string(frame.size()) + " bytes";
  if (r.aborted) line += std::string(" (") + abort_reason_name(r.reason) + ")";
  return line + ": " + packet_summary(frame, vm.caps().link);
}
}  // namespace netcpu
