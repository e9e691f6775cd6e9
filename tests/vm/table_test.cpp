#include "netcpu/table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace netcpu {
namespace {

TableDecl decl(TableKind kind, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
               std::string name = "t") {
  TableDecl d;
  d.name = std::move(name);
  d.kind = kind;
  d.key_size = key_size;
  d.value_size = value_size;
  d.max_entries = max_entries;
  return d;
}

std::unique_ptr<Table> make(const TableDecl& d) {
  std::string why;
  auto t = Table::create(d, &why);
  EXPECT_NE(t, nullptr) << why;
  return t;
}

uint64_t get64(const uint8_t* v) {
  uint64_t x;
  std::memcpy(&x, v, 8);
  return x;
}

std::array<uint8_t, 8> val64(uint64_t x) {
  std::array<uint8_t, 8> v;
  std::memcpy(v.data(), &x, 8);
  return v;
}

std::array<uint8_t, 4> be32(uint32_t x) {
  return {uint8_t(x >> 24), uint8_t(x >> 16), uint8_t(x >> 8), uint8_t(x)};
}

std::array<uint8_t, 4> ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }

std::array<uint8_t, 16> ip6(std::initializer_list<uint16_t> groups) {
  std::array<uint8_t, 16> a{};
  size_t i = 0;
  for (uint16_t g : groups) {
    a[i++] = uint8_t(g >> 8);
    a[i++] = uint8_t(g);
  }
  return a;
}

uint32_t be32_of(const uint8_t* k) {
  return uint32_t(k[0]) << 24 | uint32_t(k[1]) << 16 | uint32_t(k[2]) << 8 | k[3];
}

bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 8 == 0; }

// --- creation ---------------------------------------------------------------

void expect_rejected(const TableDecl& d, const std::string& fragment) {
  std::string why;
  EXPECT_EQ(Table::create(d, &why), nullptr);
  EXPECT_NE(why.find(fragment), std::string::npos) << why;
  EXPECT_NE(why.find("table '" + d.name + "'"), std::string::npos) << why;
  EXPECT_EQ(Table::create(d), nullptr);  // why is optional
}

TEST(TableCreate, RejectsBadDeclarations) {
  expect_rejected(decl(TableKind::Hash, 4, 8, 0, "x"), "max_entries");
  expect_rejected(decl(TableKind::Hash, 4, 8, kMaxTableEntries + 1, "x"), "max_entries");
  expect_rejected(decl(TableKind::Hash, 4, 0, 10, "x"), "values");
  expect_rejected(decl(TableKind::Hash, 4, kMaxValueSize + 1, 10, "x"), "values");
  expect_rejected(decl(TableKind::Hash, 0, 8, 10, "x"), "hash keys");
  expect_rejected(decl(TableKind::Hash, kMaxKeySize + 1, 8, 10, "x"), "hash keys");
  expect_rejected(decl(TableKind::Array, 8, 8, 10, "x"),
                  "array tables take 4-byte keys (an index)");
  expect_rejected(decl(TableKind::Lpm4, 16, 8, 10, "x"), "lpm4");
  expect_rejected(decl(TableKind::Lpm6, 4, 8, 10, "x"), "lpm6");
  expect_rejected(decl(TableKind(7), 4, 8, 10, "x"), "kind");
}

TEST(TableCreate, AcceptsLimits) {
  EXPECT_NE(Table::create(decl(TableKind::Hash, 1, 1, 1)), nullptr);
  EXPECT_NE(Table::create(decl(TableKind::Hash, kMaxKeySize, kMaxValueSize, 16)), nullptr);
  EXPECT_NE(Table::create(decl(TableKind::Array, 4, kMaxValueSize, 16)), nullptr);
  EXPECT_NE(Table::create(decl(TableKind::Lpm4, 4, 3, 16)), nullptr);
  EXPECT_NE(Table::create(decl(TableKind::Lpm6, 16, 3, 16)), nullptr);
  auto t = make(decl(TableKind::Hash, 8, 8, 100, "flows"));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->decl().name, "flows");
  EXPECT_EQ(t->size(), 0u);
}

// --- hash -------------------------------------------------------------------

TEST(TableHash, InsertLookupReplaceErase) {
  auto t = make(decl(TableKind::Hash, 4, 8, 16));
  auto k1 = be32(1), k2 = be32(2);
  EXPECT_EQ(t->lookup(k1.data()), nullptr);
  EXPECT_TRUE(t->update(k1.data(), val64(100).data()));
  EXPECT_TRUE(t->update(k2.data(), val64(200).data()));
  EXPECT_EQ(t->size(), 2u);
  ASSERT_NE(t->lookup(k1.data()), nullptr);
  EXPECT_EQ(get64(t->lookup(k1.data())), 100u);
  EXPECT_EQ(get64(t->lookup(k2.data())), 200u);

  EXPECT_TRUE(t->update(k1.data(), val64(111).data()));
  EXPECT_EQ(t->size(), 2u);
  EXPECT_EQ(get64(t->lookup(k1.data())), 111u);

  EXPECT_TRUE(t->erase(k1.data()));
  EXPECT_FALSE(t->erase(k1.data()));
  EXPECT_EQ(t->lookup(k1.data()), nullptr);
  EXPECT_EQ(get64(t->lookup(k2.data())), 200u);
  EXPECT_EQ(t->size(), 1u);

  t->clear();
  EXPECT_EQ(t->size(), 0u);
  EXPECT_EQ(t->lookup(k2.data()), nullptr);
  EXPECT_TRUE(t->update(k2.data(), val64(5).data()));
  EXPECT_EQ(get64(t->lookup(k2.data())), 5u);
}

TEST(TableHash, FullRejectsNewKeysButReplaces) {
  auto t = make(decl(TableKind::Hash, 4, 8, 5));
  for (uint32_t i = 0; i < 5; ++i) EXPECT_TRUE(t->update(be32(i).data(), val64(i).data()));
  EXPECT_EQ(t->size(), 5u);
  EXPECT_FALSE(t->update(be32(99).data(), val64(1).data()));
  EXPECT_EQ(t->find_or_insert(be32(99).data()), nullptr);
  EXPECT_EQ(t->size(), 5u);
  EXPECT_TRUE(t->update(be32(3).data(), val64(33).data()));
  EXPECT_EQ(get64(t->lookup(be32(3).data())), 33u);
  ASSERT_NE(t->find_or_insert(be32(4).data()), nullptr);
  EXPECT_EQ(get64(t->find_or_insert(be32(4).data())), 4u);
  EXPECT_TRUE(t->erase(be32(0).data()));
  EXPECT_TRUE(t->update(be32(99).data(), val64(1).data()));
  EXPECT_EQ(t->size(), 5u);
}

TEST(TableHash, FindOrInsertZeroFills) {
  auto t = make(decl(TableKind::Hash, 4, 12, 4));
  uint8_t* v = t->find_or_insert(be32(7).data());
  ASSERT_NE(v, nullptr);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(v[i], 0);
  EXPECT_EQ(t->size(), 1u);
  std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(v)).fetch_add(3);
  std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(t->find_or_insert(be32(7).data())))
      .fetch_add(4);
  EXPECT_EQ(get64(t->lookup(be32(7).data())), 7u);
  EXPECT_EQ(t->size(), 1u);
  // A re-inserted key starts from zero again, not from a stale slot.
  EXPECT_TRUE(t->erase(be32(7).data()));
  v = t->find_or_insert(be32(7).data());
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(get64(v), 0u);
}

TEST(TableHash, OddKeySizes) {
  for (uint32_t ks : {1u, 3u, 7u, 8u, 9u, 13u, 16u, 37u, 64u}) {
    auto t = make(decl(TableKind::Hash, ks, 8, 64));
    std::vector<uint8_t> k(ks);
    for (uint32_t i = 0; i < 64; ++i) {
      std::fill(k.begin(), k.end(), 0);
      k[ks - 1] = uint8_t(i);
      if (ks > 1) k[0] = uint8_t(i * 7);
      ASSERT_TRUE(t->update(k.data(), val64(i + 1).data())) << ks << " " << i;
    }
    for (uint32_t i = 0; i < 64; ++i) {
      std::fill(k.begin(), k.end(), 0);
      k[ks - 1] = uint8_t(i);
      if (ks > 1) k[0] = uint8_t(i * 7);
      ASSERT_NE(t->lookup(k.data()), nullptr) << ks << " " << i;
      EXPECT_EQ(get64(t->lookup(k.data())), i + 1);
    }
    EXPECT_EQ(t->size(), 64u);
  }
}

TEST(TableHash, ChurnAgreesWithReferenceModel) {
  constexpr uint32_t kMax = 200;
  auto t = make(decl(TableKind::Hash, 12, 8, kMax));
  std::map<std::array<uint8_t, 12>, uint64_t> ref;
  std::mt19937_64 rng(12345);
  // A small key universe forces collisions, full-table rejections and long
  // runs of deletions inside clusters.
  std::vector<std::array<uint8_t, 12>> universe(400);
  for (auto& k : universe)
    for (auto& b : k) b = uint8_t(rng());

  for (int step = 0; step < 40000; ++step) {
    const auto& k = universe[rng() % universe.size()];
    switch (rng() % 4) {
      case 0:
      case 1: {
        uint64_t v = rng();
        bool ok = t->update(k.data(), val64(v).data());
        bool expect = ref.count(k) || ref.size() < kMax;
        ASSERT_EQ(ok, expect) << "step " << step;
        if (ok) ref[k] = v;
        break;
      }
      case 2: {
        bool ok = t->erase(k.data());
        ASSERT_EQ(ok, ref.erase(k) == 1) << "step " << step;
        break;
      }
      case 3: {
        uint8_t* v = t->find_or_insert(k.data());
        auto it = ref.find(k);
        if (it != ref.end()) {
          ASSERT_NE(v, nullptr);
          ASSERT_EQ(get64(v), it->second);
        } else if (ref.size() < kMax) {
          ASSERT_NE(v, nullptr);
          ASSERT_EQ(get64(v), 0u);
          ref[k] = 0;
        } else {
          ASSERT_EQ(v, nullptr);
        }
        break;
      }
    }
    ASSERT_EQ(t->size(), ref.size()) << "step " << step;
    // Lookups of a few keys (present or not) agree at every step; the whole
    // universe is compared periodically.
    for (int probe = 0; probe < 4; ++probe) {
      const auto& q = universe[rng() % universe.size()];
      auto it = ref.find(q);
      uint8_t* v = t->lookup(q.data());
      if (it == ref.end()) {
        ASSERT_EQ(v, nullptr) << "step " << step;
      } else {
        ASSERT_NE(v, nullptr) << "step " << step;
        ASSERT_EQ(get64(v), it->second) << "step " << step;
      }
    }
    if (step % 1000 == 0) {
      for (const auto& q : universe) {
        auto it = ref.find(q);
        uint8_t* v = t->lookup(q.data());
        ASSERT_EQ(v != nullptr, it != ref.end()) << "step " << step;
        if (v) {
          ASSERT_EQ(get64(v), it->second);
        }
      }
    }
  }
  size_t seen = 0;
  t->for_each([&](std::span<const uint8_t> key, uint32_t bits, std::span<const uint8_t> value) {
    ASSERT_EQ(key.size(), 12u);
    EXPECT_EQ(bits, 96u);
    std::array<uint8_t, 12> k;
    std::memcpy(k.data(), key.data(), 12);
    auto it = ref.find(k);
    ASSERT_NE(it, ref.end());
    EXPECT_EQ(get64(value.data()), it->second);
    ++seen;
  });
  EXPECT_EQ(seen, ref.size());
}

TEST(TableHash, ChurnFillAndDrain) {
  // Repeatedly fill to capacity and drain in a different order: without
  // backward-shift deletion (or with tombstones not reused) this would either
  // lose keys or stop accepting inserts.
  constexpr uint32_t kMax = 1000;
  auto t = make(decl(TableKind::Hash, 8, 8, kMax));
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::vector<uint64_t> keys(kMax);
    for (auto& k : keys) k = rng();
    for (uint64_t k : keys) ASSERT_TRUE(t->update(val64(k).data(), val64(~k).data()));
    ASSERT_EQ(t->size(), kMax);
    ASSERT_FALSE(t->update(val64(rng()).data(), val64(0).data()));
    std::shuffle(keys.begin(), keys.end(), rng);
    for (size_t i = 0; i < keys.size(); ++i) {
      ASSERT_TRUE(t->erase(val64(keys[i]).data()));
      if (i % 97 == 0) {
        for (size_t j = i + 1; j < keys.size(); ++j) {
          ASSERT_EQ(get64(t->lookup(val64(keys[j]).data())), ~keys[j]);
        }
      }
    }
    ASSERT_EQ(t->size(), 0u);
  }
}

TEST(TableHash, ForEachIsDeterministic) {
  auto collect = [] {
    auto t = make(decl(TableKind::Hash, 4, 8, 50, "same"));
    for (uint32_t i = 0; i < 50; ++i) t->update(be32(i * 31).data(), val64(i).data());
    std::vector<uint64_t> order;
    t->for_each([&](std::span<const uint8_t>, uint32_t, std::span<const uint8_t> v) {
      order.push_back(get64(v.data()));
    });
    return order;
  };
  auto a = collect();
  EXPECT_EQ(a.size(), 50u);
  EXPECT_EQ(a, collect());
}

// --- array ------------------------------------------------------------------

// What the interpreter and the native code probe without a call: for keys
// of 1 to 8 bytes made of numbers, the slot lookup() finds, through clusters
// (a table filled to its max, half its capacity), after removals that
// shifted keys back, and past the marks a removal leaves during a walk.
TEST(TableHash, TheWordProbeFindsTheSlotsLookupFinds) {
  for (uint32_t key_size : {1u, 2u, 3u, 4u, 6u, 8u}) {
    SCOPED_TRACE(key_size);
    const uint32_t max = key_size == 1 ? 200 : 512;
    auto t = make(decl(TableKind::Hash, key_size, 4, max));
    ASSERT_EQ(t->number_probe().way, Table::NumberProbe::Way::Word);
    const Table::NumberProbe& probe = t->number_probe();
    EXPECT_EQ(probe.value_mask, 0xffffffffu);
    const uint64_t key_mask = key_size == 8 ? ~uint64_t{0} : (uint64_t{1} << 8 * key_size) - 1;
    auto bytes = [&](uint64_t number) {  // the key of a number: its low bytes, big-endian
      std::vector<uint8_t> k(key_size);
      for (uint32_t i = 0; i < key_size; ++i) k[i] = uint8_t(number >> 8 * (key_size - 1 - i));
      return k;
    };
    std::mt19937_64 rng(key_size);
    std::vector<uint64_t> keys;
    std::set<uint64_t> seen;
    while (keys.size() < max) {
      const uint64_t k = rng() & key_mask;
      if (seen.insert(k).second) keys.push_back(k);
    }
    for (uint64_t k : keys) ASSERT_TRUE(t->update(bytes(k).data(), val64(k).data()));
    auto expect_agree = [&](uint64_t k) {
      uint8_t* v = t->lookup(bytes(k).data());
      EXPECT_EQ(probe.lookup(*t, k), v) << k;
      EXPECT_EQ(probe.word.find(k), v) << k;
      EXPECT_EQ(probe.lookup(*t, k | ~key_mask), v) << "bytes above the key's count for nothing";
    };
    for (uint64_t k : keys) expect_agree(k);
    for (int i = 0; i < 2000; ++i) expect_agree(rng() & key_mask);  // mostly absent
    // Removals: half outside a walk (backward shifts), a quarter inside one (marks).
    for (size_t i = 0; i < keys.size() / 2; ++i) ASSERT_TRUE(t->erase(bytes(keys[i]).data()));
    t->walk_begin();
    for (size_t i = keys.size() / 2; i < keys.size() * 3 / 4; ++i)
      ASSERT_TRUE(t->erase(bytes(keys[i]).data()));
    for (uint64_t k : keys) expect_agree(k);
    t->walk_end();
    for (uint64_t k : keys) expect_agree(k);
    // find_or_insert finds with the probe, inserts through the table.
    const uint64_t fresh = keys[0];
    uint8_t* slot = probe.find_or_insert(*t, fresh);
    ASSERT_NE(slot, nullptr);
    EXPECT_EQ(get64(slot), 0u);
    EXPECT_EQ(t->lookup(bytes(fresh).data()), slot);
    EXPECT_EQ(probe.find_or_insert(*t, fresh), slot);
  }
}

TEST(TableArray, BoundsAndZeroInit) {
  auto t = make(decl(TableKind::Array, 4, 8, 10));
  EXPECT_EQ(t->size(), 10u);
  for (uint32_t i = 0; i < 10; ++i) {
    uint8_t* v = t->lookup(be32(i).data());
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(get64(v), 0u);
  }
  EXPECT_EQ(t->lookup(be32(10).data()), nullptr);
  EXPECT_EQ(t->lookup(be32(0xffffffff).data()), nullptr);
  EXPECT_EQ(t->lookup(be32(0x01000000).data()), nullptr);  // big-endian, not index 1

  EXPECT_TRUE(t->update(be32(9).data(), val64(42).data()));
  EXPECT_FALSE(t->update(be32(10).data(), val64(42).data()));
  EXPECT_EQ(get64(t->lookup(be32(9).data())), 42u);
  EXPECT_EQ(t->size(), 10u);

  EXPECT_TRUE(t->erase(be32(9).data()));
  EXPECT_EQ(get64(t->lookup(be32(9).data())), 0u);
  EXPECT_TRUE(t->erase(be32(9).data()));
  EXPECT_FALSE(t->erase(be32(10).data()));
  EXPECT_EQ(t->size(), 10u);

  EXPECT_EQ(t->find_or_insert(be32(3).data()), t->lookup(be32(3).data()));
  EXPECT_EQ(t->find_or_insert(be32(10).data()), nullptr);

  t->update(be32(2).data(), val64(7).data());
  t->clear();
  EXPECT_EQ(t->size(), 10u);
  EXPECT_EQ(get64(t->lookup(be32(2).data())), 0u);
}

// What the native code indexes itself: the slot lookup() gives for every
// index in range, with 2-byte values in 8-byte slots; the only other
// kinds are refused.
TEST(TableArray, TheIndexProbeAddressesTheSlotsLookupGives) {
  auto t = make(decl(TableKind::Array, 4, 2, 5));
  ASSERT_EQ(t->number_probe().way, Table::NumberProbe::Way::Index);
  const Table::IndexProbe& p = t->number_probe().index;
  EXPECT_EQ(p.entries, 5u);
  EXPECT_EQ(p.stride, 8u);
  for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ(p.values + i * p.stride, t->lookup(be32(i).data()));
  EXPECT_EQ(t->number_lookup()(*t, 0x100000003), t->lookup(be32(3).data()));  // the low 4 bytes
  EXPECT_EQ(p.find(0x100000003), t->lookup(be32(3).data()));
  EXPECT_EQ(p.find(5), nullptr);
  for (TableKind kind : {TableKind::Hash, TableKind::Lru, TableKind::Lpm4})
    EXPECT_NE(make(decl(kind, 4, 8, 4))->number_probe().way, Table::NumberProbe::Way::Index);
}

TEST(TableArray, ForEachVisitsEveryIndex) {
  auto t = make(decl(TableKind::Array, 4, 8, 6));
  t->update(be32(4).data(), val64(44).data());
  std::vector<uint32_t> idx;
  t->for_each([&](std::span<const uint8_t> key, uint32_t bits, std::span<const uint8_t> value) {
    ASSERT_EQ(key.size(), 4u);
    EXPECT_EQ(bits, 32u);
    EXPECT_EQ(value.size(), 8u);
    uint32_t i = uint32_t(key[0]) << 24 | key[1] << 16 | key[2] << 8 | key[3];
    idx.push_back(i);
    EXPECT_EQ(get64(value.data()), i == 4 ? 44u : 0u);
  });
  EXPECT_EQ(idx, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5}));
}

// --- LPM --------------------------------------------------------------------

TEST(TableLpm4, LongestMatchWins) {
  auto t = make(decl(TableKind::Lpm4, 4, 8, 16));
  EXPECT_EQ(t->lookup(ip4(10, 1, 2, 3).data()), nullptr);
  ASSERT_TRUE(t->update(ip4(0, 0, 0, 0).data(), val64(0).data(), 0));
  ASSERT_TRUE(t->update(ip4(10, 0, 0, 0).data(), val64(8).data(), 8));
  ASSERT_TRUE(t->update(ip4(10, 1, 0, 0).data(), val64(16).data(), 16));
  ASSERT_TRUE(t->update(ip4(10, 1, 2, 0).data(), val64(24).data(), 24));
  ASSERT_TRUE(t->update(ip4(10, 1, 2, 3).data(), val64(32).data(), 32));
  EXPECT_EQ(t->size(), 5u);

  auto match = [&](std::array<uint8_t, 4> a) -> int64_t {
    uint8_t* v = t->lookup(a.data());
    return v ? int64_t(get64(v)) : -1;
  };
  EXPECT_EQ(match(ip4(10, 1, 2, 3)), 32);
  EXPECT_EQ(match(ip4(10, 1, 2, 4)), 24);
  EXPECT_EQ(match(ip4(10, 1, 3, 3)), 16);
  EXPECT_EQ(match(ip4(10, 2, 2, 3)), 8);
  EXPECT_EQ(match(ip4(11, 1, 2, 3)), 0);
  EXPECT_EQ(match(ip4(255, 255, 255, 255)), 0);

  // Erasing one prefix exposes the next shorter one.
  EXPECT_TRUE(t->erase(ip4(10, 1, 2, 0).data(), 24));
  EXPECT_FALSE(t->erase(ip4(10, 1, 2, 0).data(), 24));
  EXPECT_EQ(match(ip4(10, 1, 2, 4)), 16);
  EXPECT_EQ(match(ip4(10, 1, 2, 3)), 32);
  EXPECT_TRUE(t->erase(ip4(10, 1, 2, 3).data(), 32));
  EXPECT_EQ(match(ip4(10, 1, 2, 3)), 16);
  EXPECT_TRUE(t->erase(ip4(0, 0, 0, 0).data(), 0));
  EXPECT_EQ(match(ip4(11, 1, 2, 3)), -1);
  EXPECT_EQ(match(ip4(10, 9, 9, 9)), 8);
  EXPECT_EQ(t->size(), 2u);
}

TEST(TableLpm4, MasksHostBitsAndReplaces) {
  auto t = make(decl(TableKind::Lpm4, 4, 8, 4));
  // Host bits beyond the prefix are ignored on update and erase alike.
  ASSERT_TRUE(t->update(ip4(192, 168, 77, 99).data(), val64(1).data(), 20));
  EXPECT_EQ(get64(t->lookup(ip4(192, 168, 64, 1).data())), 1u);
  EXPECT_EQ(get64(t->lookup(ip4(192, 168, 79, 255).data())), 1u);
  EXPECT_EQ(t->lookup(ip4(192, 168, 80, 0).data()), nullptr);
  ASSERT_TRUE(t->update(ip4(192, 168, 64, 0).data(), val64(2).data(), 20));
  EXPECT_EQ(t->size(), 1u);
  EXPECT_EQ(get64(t->lookup(ip4(192, 168, 70, 1).data())), 2u);

  // Same address, different lengths: distinct entries.
  ASSERT_TRUE(t->update(ip4(192, 168, 64, 0).data(), val64(3).data(), 19));
  EXPECT_EQ(t->size(), 2u);
  EXPECT_FALSE(t->erase(ip4(192, 168, 64, 0).data(), 21));
  EXPECT_TRUE(t->erase(ip4(192, 168, 65, 0).data(), 20));
  EXPECT_EQ(get64(t->lookup(ip4(192, 168, 70, 1).data())), 3u);

  EXPECT_FALSE(t->update(ip4(1, 2, 3, 4).data(), val64(0).data(), 33));
  EXPECT_FALSE(t->erase(ip4(1, 2, 3, 4).data(), 33));

  std::vector<std::pair<std::array<uint8_t, 4>, uint32_t>> seen;
  t->for_each([&](std::span<const uint8_t> key, uint32_t len, std::span<const uint8_t> v) {
    ASSERT_EQ(key.size(), 4u);
    EXPECT_EQ(v.size(), 8u);
    seen.push_back({{key[0], key[1], key[2], key[3]}, len});
  });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, ip4(192, 168, 64, 0));
  EXPECT_EQ(seen[0].second, 19u);
}

TEST(TableLpm4, FullAndFindOrInsert) {
  auto t = make(decl(TableKind::Lpm4, 4, 8, 3));
  ASSERT_TRUE(t->update(ip4(10, 0, 0, 0).data(), val64(8).data(), 8));
  uint8_t* v = t->find_or_insert(ip4(10, 1, 2, 3).data());
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(get64(v), 0u);  // a new exact /32, not the covering /8
  EXPECT_EQ(t->size(), 2u);
  EXPECT_EQ(t->find_or_insert(ip4(10, 1, 2, 3).data()), v);
  EXPECT_TRUE(t->erase(ip4(10, 1, 2, 3).data(), 32));
  EXPECT_EQ(get64(t->lookup(ip4(10, 1, 2, 3).data())), 8u);

  ASSERT_TRUE(t->update(ip4(20, 0, 0, 0).data(), val64(1).data(), 8));
  ASSERT_TRUE(t->update(ip4(30, 0, 0, 0).data(), val64(1).data(), 8));
  EXPECT_FALSE(t->update(ip4(40, 0, 0, 0).data(), val64(1).data(), 8));
  EXPECT_EQ(t->find_or_insert(ip4(40, 0, 0, 1).data()), nullptr);
  EXPECT_TRUE(t->update(ip4(30, 0, 0, 0).data(), val64(2).data(), 8));  // replace still works
  EXPECT_EQ(t->size(), 3u);

  t->clear();
  EXPECT_EQ(t->size(), 0u);
  EXPECT_EQ(t->lookup(ip4(10, 1, 2, 3).data()), nullptr);
  EXPECT_TRUE(t->update(ip4(40, 0, 0, 0).data(), val64(4).data(), 8));
  EXPECT_EQ(get64(t->lookup(ip4(40, 1, 1, 1).data())), 4u);
}

TEST(TableLpm4, RandomAgainstLinearScan) {
  auto t = make(decl(TableKind::Lpm4, 4, 8, 300));
  struct Route {
    uint32_t prefix;
    uint32_t len;
    uint64_t value;
  };
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> ref;
  std::mt19937 rng(99);
  auto mask = [](uint32_t len) { return len == 0 ? 0u : ~0u << (32 - len); };
  // Addresses concentrated in 10.0.0.0/14 so prefixes overlap heavily.
  auto addr = [&] { return 0x0a000000u | (rng() & 0x3ffff); };
  for (int step = 0; step < 5000; ++step) {
    uint32_t a = addr(), len = rng() % 33;
    if (rng() % 3 == 0) {
      bool ok = t->erase(be32(a).data(), len);
      ASSERT_EQ(ok, ref.erase({a & mask(len), len}) == 1);
    } else {
      uint64_t v = rng();
      bool ok = t->update(be32(a).data(), val64(v).data(), len);
      bool expect = ref.count({a & mask(len), len}) || ref.size() < 300;
      ASSERT_EQ(ok, expect);
      if (ok) ref[{a & mask(len), len}] = v;
    }
    ASSERT_EQ(t->size(), ref.size());
    for (int q = 0; q < 8; ++q) {
      uint32_t x = addr();
      const uint64_t* best = nullptr;
      int best_len = -1;
      for (const auto& [k, v] : ref)
        if ((x & mask(k.second)) == k.first && int(k.second) > best_len) {
          best_len = int(k.second);
          best = &v;
        }
      uint8_t* got = t->lookup(be32(x).data());
      ASSERT_EQ(got != nullptr, best != nullptr) << "step " << step;
      if (got) {
        ASSERT_EQ(get64(got), *best) << "step " << step;
      }
    }
  }
}

TEST(TableLpm6, LongestMatchWins) {
  auto t = make(decl(TableKind::Lpm6, 16, 8, 16));
  ASSERT_TRUE(t->update(ip6({}).data(), val64(0).data(), 0));
  ASSERT_TRUE(t->update(ip6({0x2001, 0xdb8}).data(), val64(32).data(), 32));
  ASSERT_TRUE(t->update(ip6({0x2001, 0xdb8, 0x1}).data(), val64(48).data(), 48));
  ASSERT_TRUE(t->update(ip6({0x2001, 0xdb8, 0x1, 0x2}).data(), val64(64).data(), 64));
  ASSERT_TRUE(
      t->update(ip6({0x2001, 0xdb8, 0x1, 0x2, 0, 0, 0, 0x80}).data(), val64(121).data(), 121));
  ASSERT_TRUE(
      t->update(ip6({0x2001, 0xdb8, 0x1, 0x2, 0, 0, 0, 0x99}).data(), val64(128).data(), 128));
  EXPECT_FALSE(t->update(ip6({}).data(), val64(1).data(), 129));
  EXPECT_EQ(t->size(), 6u);

  auto match = [&](std::array<uint8_t, 16> a) -> int64_t {
    uint8_t* v = t->lookup(a.data());
    return v ? int64_t(get64(v)) : -1;
  };
  EXPECT_EQ(match(ip6({0x2001, 0xdb8, 0x1, 0x2, 0, 0, 0, 0x99})), 128);
  EXPECT_EQ(match(ip6({0x2001, 0xdb8, 0x1, 0x2, 0, 0, 0, 0xff})), 121);
  EXPECT_EQ(match(ip6({0x2001, 0xdb8, 0x1, 0x2, 0, 0, 0, 0x7f})), 64);
  EXPECT_EQ(match(ip6({0x2001, 0xdb8, 0x1, 0x3})), 48);
  EXPECT_EQ(match(ip6({0x2001, 0xdb8, 0x2})), 32);
  EXPECT_EQ(match(ip6({0xfe80, 0, 0, 0, 0, 0, 0, 1})), 0);

  EXPECT_TRUE(t->erase(ip6({0x2001, 0xdb8, 0x1, 0x2, 0, 0, 0, 0x80}).data(), 121));
  EXPECT_EQ(match(ip6({0x2001, 0xdb8, 0x1, 0x2, 0, 0, 0, 0xff})), 64);
  EXPECT_TRUE(t->erase(ip6({0x2001, 0xdb8, 0x1, 0xffff}).data(), 48));  // host bits ignored
  EXPECT_EQ(match(ip6({0x2001, 0xdb8, 0x1, 0x3})), 32);
  EXPECT_FALSE(t->erase(ip6({0x2001, 0xdb8, 0x1}).data(), 48));
  EXPECT_EQ(t->size(), 4u);

  uint8_t* v = t->find_or_insert(ip6({0x2001, 0xdb8, 0x5}).data());
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(get64(v), 0u);
  EXPECT_EQ(t->size(), 5u);

  std::map<uint32_t, int> lens;
  t->for_each([&](std::span<const uint8_t> key, uint32_t len, std::span<const uint8_t>) {
    EXPECT_EQ(key.size(), 16u);
    ++lens[len];
  });
  EXPECT_EQ(lens, (std::map<uint32_t, int>{{0, 1}, {32, 1}, {64, 1}, {128, 2}}));
}

// --- common -----------------------------------------------------------------

TEST(TableForEach, CountsMatchSize) {
  auto h = make(decl(TableKind::Hash, 4, 8, 100));
  for (uint32_t i = 0; i < 37; ++i) h->update(be32(i).data(), val64(i).data());
  h->erase(be32(5).data());
  auto a = make(decl(TableKind::Array, 4, 8, 23));
  auto l = make(decl(TableKind::Lpm4, 4, 8, 100));
  for (uint32_t len = 0; len <= 32; ++len)
    l->update(ip4(10, 20, 30, 40).data(), val64(len).data(), len);
  for (Table* t : {h.get(), a.get(), l.get()}) {
    size_t n = 0;
    t->for_each([&](std::span<const uint8_t>, uint32_t, std::span<const uint8_t> v) {
      EXPECT_EQ(v.size(), 8u);
      ++n;
    });
    EXPECT_EQ(n, t->size()) << t->decl().name;
  }
  EXPECT_EQ(h->size(), 36u);
  EXPECT_EQ(a->size(), 23u);
  EXPECT_EQ(l->size(), 33u);
  std::set<uint32_t> lens;
  l->for_each([&](std::span<const uint8_t>, uint32_t len, std::span<const uint8_t> v) {
    lens.insert(len);
    EXPECT_EQ(get64(v.data()), len);
  });
  EXPECT_EQ(lens.size(), 33u);
}

TEST(TableAlignment, ValueSlotsAre8ByteAligned) {
  for (uint32_t vs : {1u, 3u, 5u, 8u, 12u, 13u, 255u}) {
    auto h = make(decl(TableKind::Hash, 5, vs, 50));
    auto a = make(decl(TableKind::Array, 4, vs, 50));
    auto l4 = make(decl(TableKind::Lpm4, 4, vs, 50));
    auto l6 = make(decl(TableKind::Lpm6, 16, vs, 50));
    std::vector<uint8_t> value(vs, 0xab);
    for (uint32_t i = 0; i < 50; ++i) {
      uint8_t k5[5] = {1, 2, 3, 4, uint8_t(i)};
      uint8_t* p = h->find_or_insert(k5);
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(aligned(p));
      EXPECT_TRUE(aligned(a->lookup(be32(i).data())));
      ASSERT_TRUE(l4->update(be32(i << 8).data(), value.data(), 24));
      EXPECT_TRUE(aligned(l4->lookup(be32(i << 8).data())));
      auto a6 = ip6({0x2001, uint16_t(i)});
      p = l6->find_or_insert(a6.data());
      ASSERT_NE(p, nullptr);
      EXPECT_TRUE(aligned(p));
    }
    auto check = [](std::span<const uint8_t>, uint32_t, std::span<const uint8_t> v) {
      EXPECT_TRUE(aligned(v.data()));
    };
    for (Table* t : {h.get(), a.get(), l4.get(), l6.get()}) t->for_each(check);
  }
}

// ---- seeds and the memory a program's tables cost its host -----------------

// The order of for_each is the slot order, which the hash function decides.
std::vector<uint32_t> slot_order(uint64_t seed) {
  std::string why;
  auto t = Table::create(decl(TableKind::Hash, 4, 8, 64), &why, seed);
  EXPECT_NE(t, nullptr) << why;
  if (!t) return {};
  for (uint32_t k = 0; k < 48; ++k) t->update(be32(k).data(), val64(k).data());
  std::vector<uint32_t> order;
  t->for_each([&](std::span<const uint8_t> key, uint32_t, std::span<const uint8_t>) {
    order.push_back(uint32_t(key[0]) << 24 | uint32_t(key[1]) << 16 | uint32_t(key[2]) << 8 |
                    key[3]);
  });
  return order;
}

TEST(TableSeed, EachSeedIsAnotherHashFunctionAndZeroIsRepeatable) {
  EXPECT_EQ(slot_order(0), slot_order(0));
  EXPECT_EQ(slot_order(7), slot_order(7));
  // 48 keys in the same 128 slots in the same order under two hash functions:
  // not by chance.
  EXPECT_NE(slot_order(0), slot_order(7));
  EXPECT_NE(slot_order(7), slot_order(8));
}

TEST(TableMemory, MemoryBytesIsThePreallocation) {
  // A hash table has twice max_entries slots (rounded up to a power of two),
  // each a 4-byte tag, the key and the value, each of those two padded to 8
  // bytes.
  EXPECT_EQ(Table::memory_bytes(decl(TableKind::Hash, 16, 8, 1u << 20)),
            (uint64_t{1} << 21) * (4 + 16 + 8));
  EXPECT_EQ(Table::memory_bytes(decl(TableKind::Hash, 2, 1, 64)), 128u * (4 + 8 + 8));
  EXPECT_EQ(Table::memory_bytes(decl(TableKind::Array, 4, 12, 1000)), 1000u * 16);
  // LPM keys carry the prefix length: 17 bytes, padded to 24.
  EXPECT_EQ(Table::memory_bytes(decl(TableKind::Lpm6, 16, 4, 100)), 256u * (4 + 24 + 8));
  EXPECT_EQ(Table::memory_bytes(decl(TableKind::Hash, 0, 8, 64)), 0u);  // invalid
}

// --- walks (plain hash) -------------------------------------------------------

// Walks with removals and insertions inside them, against a model: every
// key present when a walk starts and not removed during it is visited
// exactly once with its value; after the walk ends (tidy() shifts the marked
// slots away) every live key is found and every removed one is not.
TEST(TableWalk, HashWalksWithRemovalsAndInsertionsAgreeWithModel) {
  constexpr uint32_t kMax = 48;
  constexpr uint32_t kSlots = 128;  // hash_capacity(48)
  for (uint64_t seed : {0ull, 1ull, 77ull}) {
    std::string why;
    auto t = Table::create(decl(TableKind::Hash, 4, 8, kMax), &why, seed);
    ASSERT_NE(t, nullptr) << why;
    std::map<uint32_t, uint64_t> model;
    std::mt19937_64 rng(seed + 5);
    // 96 keys for 48 entries: long clusters, full-table refusals.
    auto random_key = [&] { return uint32_t(rng() % 96); };
    for (int round = 0; round < 300; ++round) {
      // Churn between walks.
      for (int i = 0; i < 40; ++i) {
        const uint32_t k = random_key();
        if (rng() % 3 == 0) {
          EXPECT_EQ(t->erase(be32(k).data()), model.erase(k) == 1);
        } else {
          const bool fits = model.count(k) || model.size() < kMax;
          EXPECT_EQ(t->update(be32(k).data(), val64(round * 1000 + i).data()), fits);
          if (fits) model[k] = round * 1000 + i;
        }
      }
      const std::map<uint32_t, uint64_t> at_start = model;
      std::set<uint32_t> removed;  // during the walk
      std::map<uint32_t, int> visits;
      uint32_t marks = 0;
      t->walk_begin();
      EXPECT_EQ(t->walks_open(), 1u);
      uint64_t cursor = 0;
      Table::Entry e;
      while (t->walk_next(&cursor, &e)) {
        const uint32_t k = be32_of(e.key);
        ++visits[k];
        ASSERT_TRUE(model.count(k)) << "visited a key that is not there: " << k;
        EXPECT_EQ(get64(e.value), model[k]);
        EXPECT_EQ(e.prefix_len, 32u);
        // Remove this entry, another, or insert one; sometimes several.
        for (int n = int(rng() % 3); n > 0; --n) {
          const uint32_t other = rng() % 2 ? k : random_key();
          switch (rng() % 3) {
            case 0:
            case 1:
              if (model.erase(other)) {
                EXPECT_TRUE(t->erase(be32(other).data()));
                removed.insert(other);
                ++marks;
              } else {
                EXPECT_FALSE(t->erase(be32(other).data()));
              }
              break;
            default: {
              // Marked slots are not reused inside a walk, and one empty
              // slot always stays.
              const bool fits =
                  model.count(other) || (model.size() < kMax && model.size() + marks + 1 < kSlots);
              EXPECT_EQ(t->update(be32(other).data(), val64(7).data()), fits) << other;
              if (fits) model[other] = 7;
            }
          }
        }
      }
      t->walk_end();
      EXPECT_EQ(t->walks_open(), 0u);
      for (const auto& [k, v] : at_start)
        if (!removed.count(k)) {
          EXPECT_EQ(visits[k], 1) << "key " << k << " round " << round;
        }
      EXPECT_EQ(t->size(), model.size());
      for (uint32_t k = 0; k < 96; ++k) {
        const uint8_t* v = t->lookup(be32(k).data());
        ASSERT_EQ(v != nullptr, model.count(k) == 1) << "key " << k << " round " << round;
        if (v) {
          EXPECT_EQ(get64(v), model[k]);
        }
      }
    }
  }
}

TEST(TableWalk, EndWalksClosesEveryWalkAndTidies) {
  auto t = make(decl(TableKind::Hash, 4, 8, 16));
  for (uint32_t k = 0; k < 16; ++k) ASSERT_TRUE(t->update(be32(k).data(), val64(k).data()));
  t->walk_begin();
  t->walk_begin();
  for (uint32_t k = 0; k < 16; k += 2) ASSERT_TRUE(t->erase(be32(k).data()));
  t->end_walks();
  EXPECT_EQ(t->walks_open(), 0u);
  // The marks are gone: the table takes max entries again.
  for (uint32_t k = 100; k < 108; ++k) EXPECT_TRUE(t->update(be32(k).data(), val64(k).data()));
  EXPECT_EQ(t->size(), 16u);
  for (uint32_t k = 1; k < 16; k += 2) EXPECT_NE(t->lookup(be32(k).data()), nullptr);
}

// --- lru and idle timeouts ----------------------------------------------------

TEST(TableCreate, IdleTimeoutsAreForHashAndLruTables) {
  TableDecl d = decl(TableKind::Array, 4, 8, 4, "x");
  d.idle_ms = 1000;
  expect_rejected(d, "only hash and lru tables take an idle timeout");
  d.kind = TableKind::Lpm4;
  expect_rejected(d, "only hash and lru tables take an idle timeout");
  d = decl(TableKind::Hash, 4, 8, 4, "x");
  d.idle_ms = kMaxPeriodMs + 1;
  expect_rejected(d, "idle timeout must be at most a day");
  expect_rejected(decl(TableKind::Lru, 0, 8, 4, "x"), "lru keys must be 1..64 bytes");
  d.idle_ms = kMaxPeriodMs;
  EXPECT_NE(Table::create(d), nullptr);
  d.kind = TableKind::Lru;
  EXPECT_NE(Table::create(d), nullptr);
}

TEST(TableMemory, TimedTablesCountTheirLinksAndTimes) {
  TableDecl d = decl(TableKind::Lru, 4, 8, 64);
  // Per slot: a tag, the key and the value (padded to 8 bytes each), two
  // 4-byte links and an 8-byte time.
  EXPECT_EQ(Table::memory_bytes(d), 128u * (4 + 8 + 8 + 16));
  d.kind = TableKind::Hash;
  d.idle_ms = 100;
  EXPECT_EQ(Table::memory_bytes(d), 128u * (4 + 8 + 8 + 16));
  d.idle_ms = 0;
  EXPECT_EQ(Table::memory_bytes(d), 128u * (4 + 8 + 8));
}

TEST(TableLru, FullTableEvictsTheLeastRecentlyUsed) {
  auto t = make(decl(TableKind::Lru, 4, 8, 3));
  t->clock().now_ms = 1000;
  for (uint32_t k = 1; k <= 3; ++k) ASSERT_TRUE(t->update(be32(k).data(), val64(k).data()));
  ASSERT_NE(t->lookup(be32(1).data()), nullptr);  // 1 is now the most recent: 2 is the oldest
  ASSERT_TRUE(t->update(be32(4).data(), val64(4).data()));
  EXPECT_EQ(t->lookup(be32(2).data()), nullptr);
  EXPECT_EQ(t->evicted(), 1u);
  EXPECT_EQ(t->size(), 3u);
  // tadd (find_or_insert) uses 3; update uses 1: 4 is the oldest.
  ASSERT_NE(t->find_or_insert(be32(3).data()), nullptr);
  ASSERT_TRUE(t->update(be32(1).data(), val64(11).data()));
  ASSERT_NE(t->find_or_insert(be32(5).data()), nullptr);
  EXPECT_EQ(t->lookup(be32(4).data()), nullptr);
  EXPECT_EQ(get64(t->lookup(be32(1).data())), 11u);
  EXPECT_EQ(get64(t->lookup(be32(5).data())), 0u);  // new: zero-filled
  EXPECT_EQ(t->evicted(), 2u);
  EXPECT_EQ(t->expired(), 0u);
  // A removal frees room: no eviction.
  ASSERT_TRUE(t->erase(be32(3).data()));
  ASSERT_TRUE(t->update(be32(6).data(), val64(6).data()));
  EXPECT_EQ(t->evicted(), 2u);
  EXPECT_EQ(t->size(), 3u);
}

TEST(TableLru, HostReadsAndWalksAreNotUse) {
  auto t = make(decl(TableKind::Lru, 4, 8, 3));
  t->clock().now_ms = 1000;
  for (uint32_t k = 1; k <= 3; ++k) ASSERT_TRUE(t->update(be32(k).data(), val64(k).data()));
  t->for_each([](std::span<const uint8_t>, uint32_t, std::span<const uint8_t>) {});
  EXPECT_TRUE(t->age_ms(be32(1).data()).has_value());
  t->walk_begin();
  uint64_t cursor = 0;
  Table::Entry e;
  while (t->walk_next(&cursor, &e)) {
  }
  t->walk_end();
  ASSERT_TRUE(t->update(be32(4).data(), val64(4).data()));
  EXPECT_EQ(t->lookup(be32(1).data()), nullptr);  // still the oldest
}

TEST(TableLru, NumberFunctionsUseEntriesAndTheInlineProbeIsRefused) {
  for (TableKind kind : {TableKind::Lru, TableKind::Hash}) {
    TableDecl d = decl(kind, 4, 8, 3);
    if (kind == TableKind::Hash) d.idle_ms = 100;
    auto t = make(d);
    t->clock().now_ms = 1000;
    // The native code and the interpreter call the functions.
    EXPECT_EQ(t->number_probe().way, Table::NumberProbe::Way::Call);
    auto lookup = t->number_lookup();
    auto insert = t->number_find_or_insert();
    ASSERT_NE(lookup, nullptr);
    ASSERT_NE(insert, nullptr);
    for (uint64_t k = 1; k <= 3; ++k) ASSERT_NE(insert(*t, k), nullptr);
    ASSERT_NE(lookup(*t, 1), nullptr);
    EXPECT_EQ(lookup(*t, 9), nullptr);
    if (kind == TableKind::Lru) {
      ASSERT_NE(insert(*t, 4), nullptr);  // evicts 2, the oldest since lookup(1)
      EXPECT_EQ(t->lookup(be32(2).data()), nullptr);
      EXPECT_NE(t->lookup(be32(1).data()), nullptr);
    } else {
      t->clock().now_ms = 1100;  // 2 and 3 expired; 1 was used at 1000 too
      EXPECT_EQ(lookup(*t, 1), nullptr);
      EXPECT_EQ(get64(insert(*t, 2)), 0u);  // starts over
      EXPECT_EQ(t->expired(), 2u);
    }
  }
  // Plain hash tables keep the inline probe.
  auto plain = make(decl(TableKind::Hash, 4, 8, 3));
  EXPECT_EQ(plain->number_probe().way, Table::NumberProbe::Way::Word);
}

TEST(TableIdle, AnEntryIsGoneAtExactlyTheTimeout) {
  TableDecl d = decl(TableKind::Hash, 4, 8, 8);
  d.idle_ms = 100;
  auto t = make(d);
  auto k = be32(1);
  t->clock().now_ms = 1000;
  ASSERT_TRUE(t->update(k.data(), val64(5).data()));
  t->clock().now_ms = 1099;
  EXPECT_EQ(t->age_ms(k.data()), 99u);
  ASSERT_NE(t->lookup(k.data()), nullptr);  // a use: idle from 1099 on
  t->clock().now_ms = 1198;
  EXPECT_EQ(t->age_ms(k.data()), 99u);
  size_t listed = 0;
  t->for_each([&](std::span<const uint8_t>, uint32_t, std::span<const uint8_t>) { ++listed; });
  EXPECT_EQ(listed, 1u);
  t->clock().now_ms = 1199;
  EXPECT_EQ(t->age_ms(k.data()), std::nullopt);
  listed = 0;
  t->for_each([&](std::span<const uint8_t>, uint32_t, std::span<const uint8_t>) { ++listed; });
  EXPECT_EQ(listed, 0u);
  EXPECT_EQ(t->lookup(k.data()), nullptr);
  EXPECT_EQ(t->expired(), 1u);
  EXPECT_EQ(t->size(), 0u);  // the lookup removed it
}

TEST(TableIdle, ExpiredKeysStartOverAndAreAbsentToDelete) {
  TableDecl d = decl(TableKind::Hash, 4, 8, 8);
  d.idle_ms = 100;
  auto t = make(d);
  t->clock().now_ms = 1000;
  for (uint32_t k = 1; k <= 3; ++k) ASSERT_TRUE(t->update(be32(k).data(), val64(k * 10).data()));
  t->clock().now_ms = 1100;
  // tadd of an expired key adds to zero, as to a new entry.
  uint8_t* v = t->find_or_insert(be32(1).data());
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(get64(v), 0u);
  EXPECT_FALSE(t->erase(be32(2).data()));  // expired: absent
  ASSERT_TRUE(t->update(be32(3).data(), val64(33).data()));
  EXPECT_EQ(get64(t->lookup(be32(3).data())), 33u);
  EXPECT_EQ(t->expired(), 3u);
  EXPECT_EQ(t->size(), 2u);
}

TEST(TableIdle, ClockGoingBackDoesNotExpire) {
  TableDecl d = decl(TableKind::Lru, 4, 8, 8);
  d.idle_ms = 100;
  auto t = make(d);
  t->clock().now_ms = 5000;
  ASSERT_TRUE(t->update(be32(1).data(), val64(1).data()));
  t->clock().now_ms = 1000;  // a capture's timestamps went back
  EXPECT_EQ(t->age_ms(be32(1).data()), 0u);
  EXPECT_EQ(t->expire(1000, 100), 0u);
  EXPECT_NE(t->lookup(be32(1).data()), nullptr);  // used at 1000 now
  t->clock().now_ms = 1100;
  EXPECT_EQ(t->lookup(be32(1).data()), nullptr);
}

TEST(TableIdle, ExpireRemovesTheOldestFirstWithinItsBound) {
  TableDecl d = decl(TableKind::Hash, 4, 8, 64);
  d.idle_ms = 100;
  auto t = make(d);
  for (uint32_t k = 0; k < 10; ++k) {
    t->clock().now_ms = 1000 + k;
    ASSERT_TRUE(t->update(be32(k).data(), val64(k).data()));
  }
  auto keys = [&] {
    std::set<uint32_t> s;
    t->clock().now_ms = 1000;  // nothing expired to for_each
    t->for_each([&](std::span<const uint8_t> key, uint32_t, std::span<const uint8_t>) {
      s.insert(be32_of(key.data()));
    });
    return s;
  };
  // At 1104, keys 0..4 (used at 1000..1004) have been idle 100 ms.
  EXPECT_EQ(t->expire(1104, 3), 3u);
  EXPECT_EQ(keys(), (std::set<uint32_t>{3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(t->expire(1104, 100), 2u);
  EXPECT_EQ(keys(), (std::set<uint32_t>{5, 6, 7, 8, 9}));
  EXPECT_EQ(t->expire(1104, 100), 0u);
  EXPECT_EQ(t->expired(), 5u);
  EXPECT_EQ(t->size(), 5u);
  // A use moves a key to the back of the queue.
  t->clock().now_ms = 1104;
  ASSERT_NE(t->lookup(be32(5).data()), nullptr);
  EXPECT_EQ(t->expire(1109, 100), 4u);  // 6..9
  EXPECT_EQ(keys(), (std::set<uint32_t>{5}));
  // An lru table without a timeout never expires anything.
  auto lru = make(decl(TableKind::Lru, 4, 8, 4));
  lru->clock().now_ms = 1;
  ASSERT_TRUE(lru->update(be32(1).data(), val64(1).data()));
  EXPECT_EQ(lru->expire(~uint64_t{0} / 2, 100), 0u);
}

TEST(TableIdle, FullTableAdmitsNewKeysWhenTheOldestIsStale) {
  TableDecl d = decl(TableKind::Hash, 4, 8, 4);
  d.idle_ms = 100;
  auto t = make(d);
  for (uint32_t k = 0; k < 4; ++k) {
    t->clock().now_ms = 1000 + k;
    ASSERT_TRUE(t->update(be32(k).data(), val64(k).data()));
  }
  t->clock().now_ms = 1050;
  EXPECT_FALSE(t->update(be32(9).data(), val64(9).data()));  // full, nothing stale
  EXPECT_EQ(t->find_or_insert(be32(9).data()), nullptr);
  t->clock().now_ms = 1100;  // key 0 is stale
  EXPECT_TRUE(t->update(be32(9).data(), val64(9).data()));
  EXPECT_EQ(t->expired(), 1u);
  EXPECT_EQ(t->evicted(), 0u);
  EXPECT_FALSE(t->update(be32(10).data(), val64(9).data()));  // key 1 is not, yet
  t->clock().now_ms = 1101;
  EXPECT_TRUE(t->update(be32(10).data(), val64(10).data()));
  for (uint32_t k : {2u, 3u, 9u, 10u}) EXPECT_NE(t->lookup(be32(k).data()), nullptr) << k;
  // A full lru table with a stale oldest entry counts it as expired, not evicted.
  d.kind = TableKind::Lru;
  auto l = make(d);
  l->clock().now_ms = 1000;
  for (uint32_t k = 0; k < 4; ++k) ASSERT_TRUE(l->update(be32(k).data(), val64(k).data()));
  l->clock().now_ms = 1050;
  ASSERT_TRUE(l->update(be32(9).data(), val64(9).data()));
  EXPECT_EQ(l->evicted(), 1u);
  l->clock().now_ms = 2000;
  ASSERT_TRUE(l->update(be32(10).data(), val64(10).data()));
  EXPECT_EQ(l->evicted(), 1u);
  EXPECT_EQ(l->expired(), 1u);
}

TEST(TableIdle, WalksSkipExpiredEntries) {
  TableDecl d = decl(TableKind::Lru, 4, 8, 16);
  d.idle_ms = 100;
  auto t = make(d);
  for (uint32_t k = 0; k < 10; ++k) {
    t->clock().now_ms = 1000 + 10 * k;
    ASSERT_TRUE(t->update(be32(k).data(), val64(k).data()));
  }
  t->clock().now_ms = 1150;  // keys 0..5 (used at 1000..1050) have expired
  std::set<uint32_t> seen;
  t->walk_begin();
  uint64_t cursor = 0;
  Table::Entry e;
  while (t->walk_next(&cursor, &e)) seen.insert(be32_of(e.key));
  t->walk_end();
  EXPECT_EQ(seen, (std::set<uint32_t>{6, 7, 8, 9}));
}

// The timed tables against a model: a list of keys from the most recently
// used to the least, each with its value and time of last use. Lookups,
// updates, tadds, deletes, the native code's functions, expiry and walks
// with removals and insertions inside them, in a table small enough for its
// keys to form long clusters, so backward shifts move entries all the time.
struct TimedModel {
  struct Item {
    uint64_t value, used;
  };
  bool lru;
  uint32_t idle_ms, max;
  std::list<uint32_t> order;  // front: most recently used
  std::map<uint32_t, std::pair<Item, std::list<uint32_t>::iterator>> items;
  uint64_t evicted = 0, expired = 0;

  bool stale(uint32_t k, uint64_t now) const {
    const auto& it = items.at(k).first;
    return idle_ms && now >= it.used + idle_ms;
  }
  void remove(uint32_t k) {
    order.erase(items.at(k).second);
    items.erase(k);
  }
  void touch(uint32_t k, uint64_t now) {
    auto& [item, pos] = items.at(k);
    item.used = now;
    order.erase(pos);
    order.push_front(k);
    pos = order.begin();
  }
  std::optional<uint64_t> lookup(uint32_t k, uint64_t now) {
    if (!items.count(k)) return std::nullopt;
    if (stale(k, now)) {
      ++expired;
      remove(k);
      return std::nullopt;
    }
    touch(k, now);
    return items.at(k).first.value;
  }
  // find_or_insert: the value slot, or nullptr when full.
  uint64_t* use(uint32_t k, uint64_t now) {
    if (items.count(k)) {
      if (stale(k, now)) ++expired, items.at(k).first.value = 0;
      touch(k, now);
      return &items.at(k).first.value;
    }
    if (items.size() >= max) {
      const uint32_t oldest = order.back();
      if (stale(oldest, now))
        ++expired;
      else if (lru)
        ++evicted;
      else
        return nullptr;
      remove(oldest);
    }
    order.push_front(k);
    items[k] = {{0, now}, order.begin()};
    return &items.at(k).first.value;
  }
  bool erase(uint32_t k, uint64_t now) {
    if (!items.count(k)) return false;
    const bool live = !stale(k, now);
    if (!live) ++expired;
    remove(k);
    return live;
  }
  uint32_t expire(uint64_t now, uint32_t bound) {
    uint32_t n = 0;
    while (n < bound && !order.empty() && stale(order.back(), now)) remove(order.back()), ++n;
    expired += n;
    return n;
  }
  std::map<uint32_t, uint64_t> live(uint64_t now) const {
    std::map<uint32_t, uint64_t> m;
    for (const auto& [k, v] : items)
      if (!stale(k, now)) m[k] = v.first.value;
    return m;
  }
};

void timed_against_model(TableKind kind, uint32_t idle_ms, uint64_t seed) {
  SCOPED_TRACE(std::string(kind == TableKind::Lru ? "lru" : "hash") + " idle " +
               std::to_string(idle_ms) + " seed " + std::to_string(seed));
  constexpr uint32_t kMax = 16, kKeys = 48;
  TableDecl d = decl(kind, 4, 8, kMax);
  d.idle_ms = idle_ms;
  std::string why;
  auto t = Table::create(d, &why, seed);
  ASSERT_NE(t, nullptr) << why;
  TimedModel m{kind == TableKind::Lru, idle_ms, kMax, {}, {}, 0, 0};
  std::mt19937_64 rng(seed);
  uint64_t now = 1000;
  auto lookup_fn = t->number_lookup();
  auto insert_fn = t->number_find_or_insert();
  auto table_contents = [&] {
    std::map<uint32_t, uint64_t> c;
    t->for_each([&](std::span<const uint8_t> key, uint32_t, std::span<const uint8_t> v) {
      EXPECT_TRUE(c.emplace(be32_of(key.data()), get64(v.data())).second);
    });
    return c;
  };
  // One operation on key k, on both.
  auto step = [&](uint32_t k, int op) {
    const auto key = be32(k);
    switch (op) {
      case 0: {
        const auto want = m.lookup(k, now);
        const uint8_t* v = t->lookup(key.data());
        ASSERT_EQ(v != nullptr, want.has_value()) << "lookup " << k;
        if (v) {
          EXPECT_EQ(get64(v), *want);
        }
        break;
      }
      case 1: {
        const auto want = m.lookup(k, now);
        const uint8_t* v = lookup_fn(*t, k);
        ASSERT_EQ(v != nullptr, want.has_value()) << "number lookup " << k;
        if (v) {
          EXPECT_EQ(get64(v), *want);
        }
        break;
      }
      case 2: {
        const uint64_t value = rng() % 1000;
        uint64_t* want = m.use(k, now);
        ASSERT_EQ(t->update(key.data(), val64(value).data()), want != nullptr) << "update " << k;
        if (want) *want = value;
        break;
      }
      case 3: {
        uint64_t* want = m.use(k, now);
        uint8_t* v = rng() % 2 ? t->find_or_insert(key.data()) : insert_fn(*t, k);
        ASSERT_EQ(v != nullptr, want != nullptr) << "tadd " << k;
        if (!v) break;
        EXPECT_EQ(get64(v), *want);
        const uint64_t sum = get64(v) + 3;
        std::memcpy(v, &sum, 8);
        *want = sum;
        break;
      }
      default:
        ASSERT_EQ(t->erase(key.data()), m.erase(k, now)) << "delete " << k;
    }
  };
  for (int round = 0; round < 400; ++round) {
    for (int i = 0; i < 50; ++i) {
      now += rng() % 8;  // idle 100: entries expire now and then
      t->clock().now_ms = now;
      step(uint32_t(rng() % kKeys), int(rng() % 5));
      if (::testing::Test::HasFatalFailure()) return;
    }
    if (idle_ms && rng() % 4 == 0) {
      const uint32_t bound = uint32_t(rng() % 6);
      EXPECT_EQ(t->expire(now, bound), m.expire(now, bound));
    }
    t->clock().now_ms = now;
    ASSERT_EQ(table_contents(), m.live(now)) << "round " << round;
    EXPECT_EQ(t->size(), m.items.size());
    EXPECT_EQ(t->evicted(), m.evicted);
    EXPECT_EQ(t->expired(), m.expired);
    for (const auto& [k, v] : m.live(now))
      EXPECT_EQ(t->age_ms(be32(k).data()), now - m.items.at(k).first.used);
    // A walk, with a few operations inside it (a removal marks its slot,
    // nothing moves until the walk ends).
    // (Time stands still during it, so no entry expires under it.)
    const auto at_start = m.live(now);
    std::set<uint32_t> removed;  // keys of at_start a step removed
    std::map<uint32_t, int> visits;
    t->walk_begin();
    uint64_t cursor = 0;
    Table::Entry e;
    int ops = 0;
    while (t->walk_next(&cursor, &e)) {
      const uint32_t k = be32_of(e.key);
      ++visits[k];
      ASSERT_TRUE(m.items.count(k) && !m.stale(k, now)) << "walk visited " << k;
      EXPECT_EQ(get64(e.value), m.items.at(k).first.value);
      if (ops < 8 && rng() % 2) {
        step(rng() % 2 ? k : uint32_t(rng() % kKeys), int(rng() % 5));
        if (::testing::Test::HasFatalFailure()) return;
        ++ops;
        for (const auto& [key, value] : at_start)
          if (!m.items.count(key)) removed.insert(key);
      }
    }
    t->walk_end();
    for (const auto& [k, v] : at_start)
      if (!removed.count(k)) {
        EXPECT_EQ(visits[k], 1) << "key " << k;
      }
    ASSERT_EQ(table_contents(), m.live(now)) << "after the walk of round " << round;
  }
}

TEST(TableTimed, LruAgreesWithModel) {
  for (uint64_t seed : {1ull, 2ull, 3ull}) timed_against_model(TableKind::Lru, 0, seed);
}

TEST(TableTimed, LruWithIdleTimeoutAgreesWithModel) {
  for (uint64_t seed : {4ull, 5ull, 6ull}) timed_against_model(TableKind::Lru, 100, seed);
}

TEST(TableTimed, HashWithIdleTimeoutAgreesWithModel) {
  for (uint64_t seed : {7ull, 8ull, 9ull}) timed_against_model(TableKind::Hash, 100, seed);
}

TEST(TableTimed, ClearEmptiesTheRecencyList) {
  auto t = make(decl(TableKind::Lru, 4, 8, 2));
  t->clock().now_ms = 1;
  ASSERT_TRUE(t->update(be32(1).data(), val64(1).data()));
  ASSERT_TRUE(t->update(be32(2).data(), val64(2).data()));
  t->clear();
  EXPECT_EQ(t->size(), 0u);
  ASSERT_TRUE(t->update(be32(3).data(), val64(3).data()));
  ASSERT_TRUE(t->update(be32(4).data(), val64(4).data()));
  ASSERT_TRUE(t->update(be32(5).data(), val64(5).data()));  // evicts 3
  EXPECT_EQ(t->lookup(be32(3).data()), nullptr);
  EXPECT_NE(t->lookup(be32(4).data()), nullptr);
  EXPECT_EQ(t->evicted(), 1u);
}

}  // namespace
}  // namespace netcpu
