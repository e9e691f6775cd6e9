// The text of a host's netcpu/drop channel.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "netcpu/vm.h"

namespace netcpu {

// The line a host writes on its netcpu/drop channel for a dropped frame:
// "WHERE: PROGRAM dropped 70 bytes (why it stopped, if it did): " and the
// frame as tcpdump -q -nn prints it (packet_summary).
std::string drop_line(std::string_view where, const Instance& vm, const RunResult& r,
                      std::span<const uint8_t> frame);

}  // namespace netcpu
