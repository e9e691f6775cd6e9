// Installing compiled code, for any back end: its own anonymous mapping,
// written while only writable, then made read-and-execute (W^X).
#include <sys/mman.h>

#include <cstring>

#include "jit.h"

namespace netcpu {

std::unique_ptr<JitCode> JitCode::install(const std::vector<uint8_t>& code, bool effects,
                                          std::string* why) {
  const size_t size = (code.size() + 4095) & ~size_t{4095};
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    if (why) *why = "mmap failed";
    return nullptr;
  }
  std::memcpy(mem, code.data(), code.size());
  if (mprotect(mem, size, PROT_READ | PROT_EXEC) != 0) {
    munmap(mem, size);
    if (why) *why = "mprotect(PROT_EXEC) refused";
    return nullptr;
  }
  return std::make_unique<JitCode>(mem, size, code.size(), effects);
}

JitCode::JitCode(void* mem, size_t mapped, size_t code_bytes, bool effects)
    : mem_(mem), size_(mapped), code_bytes_(code_bytes), effects_(effects) {}

JitCode::~JitCode() { munmap(mem_, size_); }

}  // namespace netcpu
