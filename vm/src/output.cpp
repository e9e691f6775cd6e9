#include "output.h"

#include <cinttypes>
#include <cstdio>
#include <ctime>

#include "interpreter_state.h"
#include "jit_calls.h"

namespace netcpu {
namespace {

// Appends formatted text, never past cap; tracks the length.
struct Buf {
  char* p;
  size_t cap, len = 0;
  template <typename... A>
  void put(const char* fmt, A... a) {
    if (len + 1 >= cap) return;
    int n = std::snprintf(p + len, cap - len, fmt, a...);
    if (n > 0) len = std::min(cap - 1, len + static_cast<size_t>(n));
  }
  void ch(char c) {
    if (len + 1 < cap) p[len++] = c, p[len] = 0;
  }
};

// steady_clock::now(), read without libstdc++'s out-of-line wrapper: on
// Linux its clock is CLOCK_MONOTONIC (a vDSO call), the same time points.
std::chrono::steady_clock::time_point steady_now() {
#if defined(__linux__)
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
#else
  return std::chrono::steady_clock::now();
#endif
}

}  // namespace

size_t format_output(char* out, size_t cap, std::string_view text, const uint64_t* vals,
                     int nvals) {
  Buf b{out, cap};
  if (cap) out[0] = 0;
  int next = 0;
  bool directives = text.find('%') != std::string_view::npos;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '%' || i + 1 >= text.size()) {
      b.ch(c);
      continue;
    }
    std::string_view rest = text.substr(i + 1);
    auto take = [&]() -> uint64_t { return next < nvals ? vals[next++] : 0; };
    if (rest[0] == '%') {
      b.ch('%'), ++i;
    } else if (rest[0] == 'd') {
      b.put("%" PRId64, static_cast<int64_t>(take())), ++i;
    } else if (rest[0] == 'u') {
      b.put("%" PRIu64, take()), ++i;
    } else if (rest[0] == 'x') {
      b.put("%" PRIx64, take()), ++i;
    } else if (rest.substr(0, 2) == "ip") {
      uint64_t v = take();
      b.put("%u.%u.%u.%u", unsigned(v >> 24 & 255), unsigned(v >> 16 & 255), unsigned(v >> 8 & 255),
            unsigned(v & 255));
      i += 2;
    } else if (rest.substr(0, 3) == "mac") {
      uint64_t v = take();
      b.put("%02x:%02x:%02x:%02x:%02x:%02x", unsigned(v >> 40 & 255), unsigned(v >> 32 & 255),
            unsigned(v >> 24 & 255), unsigned(v >> 16 & 255), unsigned(v >> 8 & 255),
            unsigned(v & 255));
      i += 3;
    } else {
      b.ch(c);
    }
  }
  for (; next < nvals; ++next) {
    if (b.len || directives) b.ch(' ');
    b.put("%" PRId64, static_cast<int64_t>(vals[next]));
  }
  return b.len;
}

size_t format_hex_line(char* out, size_t cap, uint32_t off, const uint8_t* bytes, uint32_t n) {
  Buf b{out, cap};
  b.put("%04x ", off);
  for (uint32_t i = 0; i < n; ++i) b.put(" %02x", bytes[i]);
  return b.len;
}

namespace {

// output_allowed(), inlined where a line is printed: a print costs one call
// from native code (jit_output) before the clock's.
[[gnu::always_inline]] inline bool take_token(InstanceImpl& vm) {
  if (!vm.sink_) return false;
  const Limits& lim = vm.limits_;
  const auto now = steady_now();
  if (vm.last_refill_ == std::chrono::steady_clock::time_point{}) {
    vm.tokens_ = lim.output_burst;
  } else {
    // Seconds as nanoseconds times 1e-9: a multiply, where duration<double>
    // divides (a divsd, some 15 cycles, on every line).
    const double secs =
        static_cast<double>(std::chrono::nanoseconds(now - vm.last_refill_).count()) * 1e-9;
    vm.tokens_ = std::min<double>(lim.output_burst, vm.tokens_ + secs * lim.output_per_second);
  }
  vm.last_refill_ = now;
  if (vm.tokens_ < 1) {
    add_to_counter(vm.stats_.output_suppressed);
    return false;
  }
  vm.tokens_ -= 1;
  return true;
}

}  // namespace

bool output_allowed(InstanceImpl& vm) { return take_token(vm); }

void emit_line(InstanceImpl& vm, OutputKind kind, std::string_view line) {
  add_to_counter(vm.stats_.output_lines);
  vm.sink_(kind, line);
}

namespace {
// output_values' line, once the bucket let it through: out of line, so
// that a line the bucket suppresses (a program printing faster than its
// limit) sets up no frame for the formatting.
[[gnu::noinline]] void format_and_emit(InstanceImpl& vm, const Program& prog, const Insn& in,
                                       const uint64_t* vals, int n) {
  const std::string_view text =
      in.target == kNoTarget ? std::string_view() : std::string_view(prog.strings[in.target]);
  char buf[kMaxOutputLine];
  const size_t l = format_output(buf, sizeof buf, text, vals, n);
  emit_line(vm, in.op == Op::LOG ? OutputKind::Log : OutputKind::Print, {buf, l});
}
}  // namespace

void output_values(InstanceImpl& vm, const Program& prog, const Insn& in, const uint64_t* vals,
                   int n) {
  if (take_token(vm)) format_and_emit(vm, prog, in, vals, n);
}

// The native code's print, log and dump (jit_calls.h): here, where the
// token bucket inlines into them.
void jit_output(void* state, const Insn* in, uint64_t a, uint64_t b) {
  InstanceImpl& vm = *static_cast<RunState*>(state)->vm;
  if (!take_token(vm)) return;
  uint64_t vals[2];
  int n = 0;
  if (in->a.kind != Kind::None) vals[n++] = a;
  if (in->b.kind != Kind::None) vals[n++] = b;
  format_and_emit(vm, vm.program_, *in, vals, n);
}

void jit_dump(void* state, uint64_t max) {
  auto& st = *static_cast<RunState*>(state);
  dump_packet(*st.vm, st.pkt, st.pkt ? *st.len : 0, max);
}

void dump_packet(InstanceImpl& vm, const uint8_t* pkt, uint32_t len, uint64_t max) {
  if (!pkt) {
    if (output_allowed(vm)) emit_line(vm, OutputKind::Dump, "(no packet)");
    return;
  }
  const uint32_t n = max == 0 || max > len ? len : static_cast<uint32_t>(max);
  char buf[kMaxOutputLine];
  for (uint32_t off = 0; off < n && output_allowed(vm); off += 16) {
    const size_t l =
        format_hex_line(buf, sizeof buf, off, pkt + off, std::min<uint32_t>(16, n - off));
    emit_line(vm, OutputKind::Dump, {buf, l});
  }
}

}  // namespace netcpu
