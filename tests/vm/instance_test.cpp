// Loading a program into an Instance: the host's limits on what one program
// may make it hold (memory and length), checked before anything is allocated,
// and a new table hash function for every load.
#include <gtest/gtest.h>

#include <string>
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

}  // namespace
}  // namespace netcpu
