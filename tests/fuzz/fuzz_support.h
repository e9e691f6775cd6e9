// What the fuzz targets share: failing loudly with what differed, and
// packets that end right before an unreadable page.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

namespace netcpu::fuzz {

// A broken promise (a difference, a failed round trip): say what and stop
// the way libFuzzer records as a crash, with the input saved.
[[noreturn]] inline void fail(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "\n=== NETCPU FUZZ FAILURE: %.*s\n%.*s\n", static_cast<int>(what.size()),
               what.data(), static_cast<int>(detail.size()), detail.data());
  std::fflush(stderr);
  std::abort();
}

// Native code has no sanitizer checks of its own: a packet placed right
// before a PROT_NONE page turns any read past its end into a crash.
class GuardedPacket {
 public:
  explicit GuardedPacket(size_t max_packet) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_ = (max_packet + page_ - 1) / page_ * page_ + page_;
    void* m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) fail("mmap of the guarded packet buffer failed");
    base_ = static_cast<uint8_t*>(m);
    if (mprotect(guard(), page_, PROT_NONE) != 0) fail("mprotect of the guard page failed");
  }
  ~GuardedPacket() { munmap(base_, size_); }
  GuardedPacket(const GuardedPacket&) = delete;
  GuardedPacket& operator=(const GuardedPacket&) = delete;

  // A copy of bytes (at most max_packet of them) ending at the guard page.
  uint8_t* put(std::span<const uint8_t> bytes) {
    uint8_t* at = guard() - bytes.size();
    std::copy(bytes.begin(), bytes.end(), at);
    return at;
  }
  // `bytes` followed by `slack` bytes of room to grow, then the guard page.
  uint8_t* put(std::span<const uint8_t> bytes, size_t slack) {
    uint8_t* at = guard() - slack - bytes.size();
    std::fill(at + bytes.size(), guard(), 0);
    std::copy(bytes.begin(), bytes.end(), at);
    return at;
  }

 private:
  uint8_t* guard() const { return base_ + size_ - page_; }

  uint8_t* base_ = nullptr;
  size_t size_ = 0, page_ = 0;
};

}  // namespace netcpu::fuzz
