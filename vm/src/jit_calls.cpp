#include "jit_calls.h"

#include "interpreter_state.h"
#include "netcpu/checksum.h"

namespace netcpu {

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
