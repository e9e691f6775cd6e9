// What the native code calls for the instructions it does not run inline
// but need not hand to the interpreter's handler (interpreter_step):
// output, and rewrites of header fields. The native code has read the
// operands (and faulted where the interpreter faults); these do the rest
// exactly as the interpreter's handlers do, on the run in progress.
// jit_output and jit_dump are in output.cpp, where the rate limit's token
// bucket inlines into them; jit_rewrite in jit_calls.cpp.
#pragma once

#include <cstdint>

#include "netcpu/program.h"

namespace netcpu {

// print and log: the line of `in` with its operands' values a and b (those
// it has), through the instance's rate limit and sink.
void jit_output(void* state, const Insn* in, uint64_t a, uint64_t b);
// dump: at most max bytes of the run's packet (0: all of it).
void jit_dump(void* state, uint64_t max);
// rewrite: value into the header field (a MappedReg) of the run's packet,
// whose headers are parsed, checksums updated incrementally. 1 if it was
// rewritten (the packet then counts as modified), 0 if the packet has no
// such field.
uint64_t jit_rewrite(void* state, uint32_t field, uint64_t value);

}  // namespace netcpu
