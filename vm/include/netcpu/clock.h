// The host clock programs and timers read: the steady clock in milliseconds
// (`now`, timer deadlines), and in nanoseconds for timing runs. Never set
// back, so a deadline once passed stays passed; its epoch is arbitrary, only
// differences mean something.
#pragma once

#include <chrono>
#include <cstdint>

namespace netcpu {

inline uint64_t steady_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

inline uint64_t steady_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace netcpu
