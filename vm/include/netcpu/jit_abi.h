// The calling convention between the core and the code the JIT compiles.
// Internal to the core: hosts call Instance::run and AttachPoint::run, which
// take it. It is in the public tree only because Instance::run's fast path
// is inline (vm.h): a host's packet loop calls the native code itself, and a
// run costs no call into the library on top of the program's own.
#pragma once

#include <cstdint>

namespace netcpu {

// What compiled code returns (in rax:rdx): how it ended (jit.h's JitExit)
// and how many instructions it executed. A pass or drop is already counted
// in the instance's Stats.
struct JitResult {
  uint64_t exit;
  uint64_t count;
  // A plain pass: no rewrite, copy or emit to act on.
  bool passed() const { return (exit >> 32) == 0; }
  // A pass or drop and nothing else: no rewrite, fault or hand-over.
  bool plain() const { return (exit >> 33) == 0; }
  // A pass or drop the code counted, of a packet it may have changed in
  // place (bit 40, jit.h's kModified), and nothing else.
  bool counted() const { return (exit >> 33 & ~uint64_t{0x80}) == 0; }
  bool modified() const { return (exit >> 40 & 1) != 0; }
};

// The entry of compiled code, and of the interpreter standing in for it
// (interpreter_run): the run's scratch state (RunState), the packet, its
// length (also where a resize leaves the new one), its buffer's capacity and
// the PacketMeta.
using NativeEntry = JitResult (*)(void* state, uint8_t* pkt, uint64_t len, uint32_t* len_ptr,
                                  uint64_t capacity, const void* meta);

}  // namespace netcpu
