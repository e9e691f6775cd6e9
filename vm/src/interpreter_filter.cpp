// The interpreter's loop for filters: programs made only of what classic
// BPF has (gpr arithmetic, packet loads, compares and branches of gprs,
// jumps, pass and drop; every translated tcpdump expression). Such a
// program touches no state but its gprs, so its run needs nothing reset
// before it and nothing saved after it, only its verdict counted, which is
// how libpcap's bpf_filter() can be quick. A run that faults or reaches the
// budget is handed to the whole interpreter, which runs the packet again
// from the start: the program has no side effects, so that run is exactly
// the run (the same verdict, fault pc and instruction count).
#include <bit>
#include <span>

#include "instance_impl.h"
#include "interpreter_forms.h"
#include "interpreter_state.h"
#include "jit.h"

namespace netcpu {

namespace {

struct Label {
  uint16_t id;
  const void* label;
};

// Each instruction's label in the loop: out of it, so that what only the
// first run does takes no registers from the loop. A form is_filter_form
// names and the table lacks goes to the whole interpreter: slower, never
// wrong.
__attribute__((noinline, cold)) void fill_filter_handlers(RunState& st,
                                                          std::span<const Label> labels,
                                                          const void* whole_interpreter) {
  for (DecodedInsn& x : st.decoded) {
    x.filter_handler = whole_interpreter;
    for (const Label& l : labels)
      if (l.id == x.id) x.filter_handler = l.label;
  }
  st.filter_handlers_ready = true;
}

}  // namespace

JitResult interpreter_filter_run(void* state, uint8_t* pkt, uint64_t len, uint32_t* len_ptr,
                                 uint64_t capacity, const void* meta) {
  static const Label kLabels[] = {
      {H_PASS, &&L_PASS},
      {H_DROP, &&L_DROP},
      {H_END, &&L_PASS},
      {H_JMP, &&L_JMP},
      {H_NOP, &&L_NOP},
      {H_MOV_RI, &&L_MOV_RI},
      {H_MOV_RR, &&L_MOV_RR},
#define NETCPU_FORM_LABELS(op) {H_##op##_RI, &&L_##op##_RI}, {H_##op##_RR, &&L_##op##_RR},
#define NETCPU_ALU_LABELS(op, expr) NETCPU_FORM_LABELS(op)
#define NETCPU_COND_LABELS(op, jop, cond) NETCPU_FORM_LABELS(op)
#define NETCPU_BIT_LABELS(op, cond) NETCPU_FORM_LABELS(op)
      NETCPU_ALU(NETCPU_ALU_LABELS) NETCPU_CONDITIONS(NETCPU_COND_LABELS)
          NETCPU_BIT_CONDITIONS(NETCPU_BIT_LABELS)
#undef NETCPU_BIT_LABELS
#undef NETCPU_COND_LABELS
#undef NETCPU_ALU_LABELS
#undef NETCPU_FORM_LABELS
#define NETCPU_LOAD_LABELS(bits, w, ...) \
  {H_MOV_RP##bits, &&L_MOV_RP##bits}, {H_MOV_RX##bits, &&L_MOV_RX##bits},
              NETCPU_WIDTHS(NETCPU_LOAD_LABELS, )
#undef NETCPU_LOAD_LABELS
#define NETCPU_FUSED_LABELS(bits, w, op)            \
  {H_MOV_RP##bits##_##op, &&L_MOV_RP##bits##_##op}, \
      {H_MOV_RX##bits##_##op, &&L_MOV_RX##bits##_##op},
#define NETCPU_COND_FUSED_LABELS(op, jop, cond) NETCPU_WIDTHS(NETCPU_FUSED_LABELS, op)
#define NETCPU_BIT_FUSED_LABELS(op, cond) NETCPU_WIDTHS(NETCPU_FUSED_LABELS, op)
                  NETCPU_CONDITIONS(NETCPU_COND_FUSED_LABELS)
                      NETCPU_BIT_CONDITIONS(NETCPU_BIT_FUSED_LABELS)
#undef NETCPU_BIT_FUSED_LABELS
#undef NETCPU_COND_FUSED_LABELS
#undef NETCPU_FUSED_LABELS
  };
  auto& st = *static_cast<RunState*>(state);
  if (!st.filter_handlers_ready) [[unlikely]]
    fill_filter_handlers(st, kLabels, &&whole_interpreter);
  if (!pkt) __builtin_unreachable();  // Instance::run calls this with a packet only
  InstanceImpl& vm = *st.vm;
  const DecodedInsn* const decoded = st.decoded.data();
  const uint64_t budget = st.budget;
  // Only the gprs some path reads before writing them start at 0: every
  // other one is written before it is read.
  uint64_t r[kGprCount];
  for (uint32_t clear = st.filter_gprs_to_clear; clear; clear &= clear - 1)
    r[std::countr_zero(clear)] = 0;
  uint64_t count = 0;
  const DecodedInsn* d = decoded + vm.program_.text_pc;  // the program counter
  JitResult verdict;

#define DISPATCH()                                \
  do {                                            \
    if (++count > budget) goto whole_interpreter; \
    goto * d->filter_handler;                     \
  } while (0)
// Counted, not tested: the dispatch that follows every step tests a count
// at least as large, and any run past the budget starts again in the whole
// interpreter (which stops it where the budget says).
#define STEP_TO_NEXT() \
  do {                 \
    ++d;               \
    ++count;           \
  } while (0)
#define SX(v) static_cast<int64_t>(v)

  DISPATCH();

L_NOP:
  NEXT();
L_JMP:
  d = decoded + d->target;
  DISPATCH();
  NETCPU_FILTER_FORM_HANDLERS

L_PASS:
  verdict = {uint64_t{static_cast<uint8_t>(JitExit::Pass)} << 32, count};
  vm.count_plain(verdict);
  return verdict;
L_DROP:
  verdict = {uint64_t{static_cast<uint8_t>(JitExit::Drop)} << 32, count};
  vm.count_plain(verdict);
  return verdict;
packet_fault:
whole_interpreter:
  return interpreter_run(state, pkt, len, len_ptr, capacity, meta);
#undef DISPATCH
#undef STEP_TO_NEXT
#undef SX
}

}  // namespace netcpu
