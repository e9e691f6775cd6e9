// What the fuzz targets share: failing loudly with what differed, and
// packets that end right before an unreadable page.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "../vm/guarded_packet.h"

namespace netcpu::fuzz {

// A broken promise (a difference, a failed round trip): say what and stop
// the way libFuzzer records as a crash, with the input saved.
[[noreturn]] inline void fail(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "\n=== NETCPU FUZZ FAILURE: %.*s\n%.*s\n", static_cast<int>(what.size()),
               what.data(), static_cast<int>(detail.size()), detail.data());
  std::fflush(stderr);
  std::abort();
}

// Packets that end right before a PROT_NONE page: native code has no
// sanitizer checks of its own, so a read past a packet's end must crash.
using GuardedPacket = test::GuardedBuffer;

}  // namespace netcpu::fuzz
