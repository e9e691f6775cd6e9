// Packets for native code under test (the JIT tests and the fuzz targets).
// The generated code has no sanitizer checks of its own, so a read past a
// packet's end must hit an unreadable page to be seen: put() places each
// packet right before one.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

namespace netcpu::test {

class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t max_packet) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_ = (max_packet + page_ - 1) / page_ * page_ + page_;
    void* m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    // Without the guard page nothing the tests check would mean anything.
    if (m == MAP_FAILED) die("mmap of the guarded packet buffer failed");
    base_ = static_cast<uint8_t*>(m);
    if (mprotect(guard(), page_, PROT_NONE) != 0) die("mprotect of the guard page failed");
  }
  ~GuardedBuffer() { munmap(base_, size_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // A copy of bytes (at most max_packet of them) ending at the guard page.
  uint8_t* put(std::span<const uint8_t> bytes) { return put(bytes, 0); }
  // `bytes` followed by `slack` zero bytes of room to grow, then the guard page.
  uint8_t* put(std::span<const uint8_t> bytes, size_t slack) {
    uint8_t* at = guard() - slack - bytes.size();
    std::fill(at + bytes.size(), guard(), 0);
    std::copy(bytes.begin(), bytes.end(), at);
    return at;
  }

 private:
  [[noreturn]] static void die(const char* why) {
    std::fprintf(stderr, "GuardedBuffer: %s\n", why);
    std::abort();
  }
  uint8_t* guard() const { return base_ + size_ - page_; }

  uint8_t* base_ = nullptr;
  size_t size_ = 0, page_ = 0;
};

}  // namespace netcpu::test
