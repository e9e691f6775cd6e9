// Packets for native code under test. The generated code has no sanitizer
// checks of its own, so a read past a packet's end must hit an unreadable
// page to be seen: put() places each packet right before one.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <span>

namespace netcpu::test {

class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t max_packet) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_ = (max_packet + page_ - 1) / page_ * page_ + page_;
    void* m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(m, MAP_FAILED);
    base_ = static_cast<uint8_t*>(m);
    EXPECT_EQ(mprotect(end(), page_, PROT_NONE), 0);
  }
  ~GuardedBuffer() { munmap(base_, size_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;

  // A copy of bytes (at most max_packet of them) ending at the guard page.
  uint8_t* put(std::span<const uint8_t> bytes) {
    uint8_t* at = end() - bytes.size();
    std::copy(bytes.begin(), bytes.end(), at);
    return at;
  }

 private:
  uint8_t* end() const { return base_ + size_ - page_; }

  uint8_t* base_ = nullptr;
  size_t size_ = 0, page_ = 0;
};

}  // namespace netcpu::test
