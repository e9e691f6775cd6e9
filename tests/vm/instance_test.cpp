// Loading a program into an Instance: the host's limits on what one program
// may make it hold (memory and length), checked before anything is allocated,
// and a new table hash function for every load.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "netcpu/vm.h"
#include "vm_test_util.h"

namespace netcpu {
namespace {

std::string table_lines(int tables, uint32_t entries) {
  std::string s = ".data:\n";
  for (int i = 0; i < tables; ++i)
    s += "table t" + std::to_string(i) + " hash key 16 value 8 max " + std::to_string(entries) +
         "\n";
  return s + ".text:\n    pass\n";
}

// The load's diagnostic, or "" when it loaded.
std::string load_error(const std::string& src, const Limits& limits) {
  Diagnostic d;
  auto vm = Instance::create(test::assemble_ok(src, "big.ncpu"), HostCaps{}, limits, nullptr, &d);
  return vm ? std::string() : d.str();
}

TEST(InstanceLimits, TablesOverTheHostsMemoryBoundAreRefusedBeforeTheyAreAllocated) {
  // 64 tables of 2^20 entries verify (3.5 GiB of slots): the default bound,
  // 256 MiB, refuses them at once, naming what they need and the largest.
  const std::string e = load_error(table_lines(64, 1u << 20), Limits{});
  EXPECT_EQ(e,
            "big.ncpu: error: program needs 3584.0 MiB (heap 0.0 MiB, tables 3584.0 MiB, of which "
            "table 't0' 56.0 MiB); this host allows 256.0 MiB per program");
  Limits small;
  small.max_memory = 64u << 20;
  EXPECT_EQ(load_error(table_lines(1, 1u << 20), small), "");  // 56 MiB
  EXPECT_NE(load_error(table_lines(2, 1u << 20), small).find("this host allows 64.0 MiB"),
            std::string::npos);
}

TEST(InstanceLimits, ProgramsLongerThanTheHostAllowsAreRefused) {
  Limits l;
  l.max_instructions = 3;
  EXPECT_EQ(load_error(".text:\n    nop\n    nop\n    pass\n", l), "");
  EXPECT_EQ(load_error(".text:\n    nop\n    nop\n    nop\n    pass\n", l),
            "big.ncpu: error: program has 4 instructions; this host allows 3");
}

// The slot order a program's table gets for the same keys.
std::vector<uint8_t> slot_order_after_load(uint64_t table_seed = 0) {
  Diagnostic d;
  Limits limits;
  limits.table_seed = table_seed;
  auto vm = Instance::create(
      test::assemble_ok(".data:\ntable t hash key 1 value 1 max 64\n.text:\n    pass\n"),
      HostCaps{}, limits, nullptr, &d);
  EXPECT_NE(vm, nullptr) << d.str();
  if (!vm) return {};
  Table& t = vm->table(0);
  for (uint8_t k = 0; k < 48; ++k) t.update(&k, &k);
  std::vector<uint8_t> order;
  t.for_each([&](std::span<const uint8_t> key, uint32_t, std::span<const uint8_t>) {
    order.push_back(key[0]);
  });
  return order;
}

TEST(InstanceLimits, EveryLoadHashesItsTablesAnotherWay) {
  // Keys picked to collide under one load's hash function do not under the
  // next: the same 48 keys land in another slot order (the same order twice
  // running is a 1 in 48! chance).
  const auto first = slot_order_after_load(), second = slot_order_after_load();
  ASSERT_EQ(first.size(), 48u);
  EXPECT_NE(first, second);
  // A host that compares two loads slot by slot chooses the seed.
  EXPECT_EQ(slot_order_after_load(42), slot_order_after_load(42));
}

// ---- timed tables (lru, idle) ----------------------------------------------------

// A packet's port is its key: a hit drops it, a miss passes it and counts
// the key in (tadd, or update for the lru table).
constexpr const char* kIdleProgram = R"(.data:
table flows hash key 4 max 4 idle 100ms
.text:
    mov gpr1, port
    lookup gpr0, flows, gpr1
    jne miss
    drop
miss:
    tadd flows, gpr1, 1
    pass
.timer touch 1000ms:
    tadd flows, 7, 1
    end
)";

constexpr const char* kLruProgram = R"(.data:
table recent lru key 4 max 2
.text:
    mov gpr1, port
    lookup gpr0, recent, gpr1
    jne miss
    drop
miss:
    update recent, gpr1, 1
    pass
)";

std::unique_ptr<Instance> load_timed(const char* src, bool jit) {
  Limits limits;
  limits.jit = jit;
  Diagnostic d;
  auto vm = Instance::create(test::assemble_ok(src), HostCaps{}, limits, nullptr, &d);
  EXPECT_NE(vm, nullptr) << d.str();
  return vm;
}

// "P" for a pass (a miss), "D" for a drop (a hit), one per (port, now).
std::string verdicts(Instance& vm, const std::vector<std::pair<uint32_t, uint64_t>>& packets) {
  std::string out;
  for (const auto& [port, now] : packets) {
    auto frame = test::ipv4_frame(17, 0x0a000001, 0x0a000002, 1, 2);
    uint32_t len = static_cast<uint32_t>(frame.size());
    PacketMeta meta;
    meta.port = port;
    meta.now_ms = now;
    const RunResult r = vm.run(frame.data(), len, len, meta);
    EXPECT_FALSE(r.aborted);
    out += r.verdict == Verdict::Drop ? "D" : "P";
  }
  return out;
}

TEST(InstanceTimedTables, IdleEntriesMissAtTheTimeoutNativeAndInterpreted) {
  for (bool jit : {true, false}) {
    SCOPED_TRACE(jit ? "native code" : "interpreter");
    auto vm = load_timed(kIdleProgram, jit);
    ASSERT_TRUE(vm);
    // Used at 1000, 1099 (99 ms idle), 1198; gone at 1298 (100 ms idle).
    EXPECT_EQ(verdicts(*vm, {{1, 1000}, {1, 1099}, {1, 1198}, {1, 1298}, {1, 1300}}), "PDDPD");
    EXPECT_EQ(vm->table(0).expired(), 1u);
    // A full table: nothing stale at 1350, so 5 is refused (and misses
    // again); at 1400, 1's entry from 1300 is stale and makes room.
    EXPECT_EQ(
        verdicts(*vm,
                 {{2, 1301}, {3, 1302}, {4, 1303}, {5, 1350}, {5, 1351}, {5, 1400}, {5, 1401}}),
        "PPPPPPD");
    EXPECT_EQ(vm->table(0).expired(), 2u);
    EXPECT_EQ(vm->find_table("flows")->size(), 4u);
  }
}

TEST(InstanceTimedTables, LruEvictsTheLeastRecentlyUsedNativeAndInterpreted) {
  for (bool jit : {true, false}) {
    SCOPED_TRACE(jit ? "native code" : "interpreter");
    auto vm = load_timed(kLruProgram, jit);
    ASSERT_TRUE(vm);
    if (jit) {
      EXPECT_TRUE(vm->jit_compiled()) << vm->jit_status();
    }
    // 1, 2 in; 1 is used, so 3 evicts 2; 2 evicts 1; 3 is there; 1 is not.
    EXPECT_EQ(verdicts(*vm, {{1, 10}, {2, 11}, {1, 12}, {3, 13}, {2, 14}, {3, 15}, {1, 16}}),
              "PPDPPDP");
    EXPECT_EQ(vm->table(0).evicted(), 3u);
  }
}

TEST(InstanceTimedTables, ExpireTablesRemovesStaleEntriesOnTheHostsTick) {
  auto vm = load_timed(kIdleProgram, true);
  ASSERT_TRUE(vm);
  EXPECT_TRUE(vm->has_idle_tables());
  verdicts(*vm, {{1, 1000}, {2, 1010}, {3, 1020}});
  EXPECT_EQ(vm->expire_tables(1109), 1u);  // 1's entry, idle 109 ms
  EXPECT_EQ(vm->expire_tables(1109), 0u);
  EXPECT_EQ(vm->find_table("flows")->size(), 2u);
  EXPECT_EQ(vm->expire_tables(5000), 2u);
  EXPECT_EQ(vm->table(0).expired(), 3u);
  EXPECT_EQ(vm->table(0).size(), 0u);
  auto plain = load_timed(kLruProgram, true);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->has_idle_tables());
  EXPECT_EQ(plain->expire_tables(5000), 0u);
}

TEST(InstanceTimedTables, ATickRemovesAtMost4096EntriesPerTable) {
  Diagnostic d;
  auto vm = Instance::create(
      test::assemble_ok(".data:\ntable t hash key 4 max 8192 idle 1ms\n.text:\n    pass\n"),
      HostCaps{}, Limits{}, nullptr, &d);
  ASSERT_TRUE(vm) << d.str();
  Table& t = vm->table(0);
  t.clock().now_ms = 1000;
  for (uint32_t k = 0; k < 5000; ++k) {
    const uint8_t key[4] = {uint8_t(k >> 24), uint8_t(k >> 16), uint8_t(k >> 8), uint8_t(k)};
    const uint8_t value[8] = {1};
    ASSERT_TRUE(t.update(key, value));
  }
  EXPECT_EQ(vm->expire_tables(2000), 4096u);
  EXPECT_EQ(vm->expire_tables(2000), 904u);
  EXPECT_EQ(vm->table(0).size(), 0u);
}

TEST(InstanceTimedTables, TablesAgeByTheClockOfEachRunAndTheHostsBetweenRuns) {
  auto vm = load_timed(kIdleProgram, true);
  ASSERT_TRUE(vm);
  const uint8_t seven[4] = {0, 0, 0, 7}, one[4] = {0, 0, 0, 1};
  // A timer run stamps with its own time.
  PacketMeta meta;
  meta.now_ms = 5000;
  vm->run_timer(0, meta);
  EXPECT_EQ(vm->find_table("flows")->age_ms(seven), 0u);
  verdicts(*vm, {{1, 5040}});
  // Between runs a host sees the last run's time (the runs had theirs).
  EXPECT_EQ(vm->find_table("flows")->age_ms(seven), 40u);
  EXPECT_EQ(vm->table(0).age_ms(one), 0u);
  // And the later host tick's.
  vm->expire_tables(5060);
  EXPECT_EQ(vm->table(0).age_ms(seven), 60u);
  // Runs on the steady clock (now_ms 0, as hosts give): the host reads it too.
  verdicts(*vm, {{2, 0}});
  const uint8_t two[4] = {0, 0, 0, 2};
  const auto age = vm->table(0).age_ms(two);
  ASSERT_TRUE(age.has_value());
  EXPECT_LT(*age, 1000u);
}

TEST(InstanceTimedTables, IdleTablesTakeMoreMemory) {
  const std::string e = load_error(
      ".data:\ntable t lru key 16 value 8 max 1048576 idle 1s\n.text:\n    pass\n", Limits{});
  EXPECT_EQ(e, "");  // 2^21 slots of 4 + 16 + 8 + 16 bytes: 88 MiB
  Limits small;
  small.max_memory = 64u << 20;
  EXPECT_NE(load_error(".data:\ntable t lru key 16 value 8 max 1048576\n.text:\n    pass\n", small)
                .find("table 't' 88.0 MiB"),
            std::string::npos);
}

}  // namespace
}  // namespace netcpu
