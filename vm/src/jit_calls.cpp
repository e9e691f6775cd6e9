#include "jit_calls.h"

#include "instance_impl.h"
#include "interpreter_state.h"
#include "netcpu/checksum.h"
#include "output.h"

namespace netcpu {

void jit_output(void* state, const Insn* in, uint64_t a, uint64_t b) {
  auto& st = *static_cast<RunState*>(state);
  uint64_t vals[2];
  int n = 0;
  if (in->a.kind != Kind::None) vals[n++] = a;
  if (in->b.kind != Kind::None) vals[n++] = b;
  output_values(*st.vm, st.vm->program_, *in, vals, n);
}

void jit_dump(void* state, uint64_t max) {
  auto& st = *static_cast<RunState*>(state);
  dump_packet(*st.vm, st.pkt, st.pkt ? *st.len : 0, max);
}

// As the interpreter's rewrite handler: a rewritten packet is modified and
// its memoised header fields are read again (same offsets, new values).
uint64_t jit_rewrite(void* state, uint32_t field, uint64_t value) {
  auto& st = *static_cast<RunState*>(state);
  const bool ok = rewrite_field({st.pkt, *st.len}, st.h, static_cast<MappedReg>(field), value);
  if (ok) {
    st.modified = true;
    st.field_known = 0;
  }
  return ok;
}

}  // namespace netcpu
