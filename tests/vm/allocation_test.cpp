// The hot path allocates nothing: count every global operator new while a
// program that uses tables, output, search, copies, rewrites and emit runs.
#include <atomic>
#include <cstdlib>
#include <new>

#include "vm_test_util.h"

namespace {
std::atomic<size_t> g_allocations{0};
}

// Every replaceable form, so that each new is paired with its own delete.
// GCC cannot see that these deletes free what the news above malloc'ed.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
static void* counted(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new(size_t n) {
  if (void* p = counted(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace netcpu::test {
namespace {

TEST(Allocation, RunAllocatesNothingPerPacket) {
  const char* src = R"(.data:
table flows hash key 4 value 8 max 1024
table nets lpm4 value 8 max 16
num seen 0
.text:
    add seen, 1
    tadd flows, ip.src, 1
    update flows, ip.dst, mlen
    lookup gpr0, flows, ip.src
    lookup gpr1, nets, ip.dst
    find gpr2, "needle", payload
    print "pkt %u from %ip", seen, ip.src
    dump 32
    outlen mlen
    copy out[0], pkt[0], mlen
    csum all, out
    emit INPORT
    rewrite ip.ttl, 9
    rewrite l4.dport, 8080
    switch l4.dport
    case 8080:
        mirror 2
        break
    endswitch
    pass
)";
  Diagnostic d;
  auto vm = Instance::create(
      assemble_ok(src), HostCaps{}, Limits{}, [](OutputKind, std::string_view) {}, &d);
  ASSERT_TRUE(vm) << d.str();
  auto frame = ipv4_frame(6, 0x0a000001, 0x0a000002, 1234, 80, "a needle in the payload");
  std::vector<uint8_t> buf(1518);
  // One warm-up run: nothing is allocated lazily on the first packet either,
  // but keep the measurement about the steady state.
  uint32_t len = static_cast<uint32_t>(frame.size());
  std::copy(frame.begin(), frame.end(), buf.begin());
  vm->run(buf.data(), len, 1518, {});
  size_t before = g_allocations.load();
  for (int i = 0; i < 100; ++i) {
    std::copy(frame.begin(), frame.end(), buf.begin());
    len = static_cast<uint32_t>(frame.size());
    RunResult r = vm->run(buf.data(), len, 1518, {});
    ASSERT_FALSE(r.aborted) << abort_reason_name(r.reason);
    ASSERT_EQ(r.emitted, 1);
    ASSERT_EQ(r.mirror_port, 2);
  }
  EXPECT_EQ(g_allocations.load() - before, 0u);
}

}  // namespace
}  // namespace netcpu::test
